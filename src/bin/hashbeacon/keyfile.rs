//! Reading key files: the keyring text of [`Keyring::from_text`], one key per line, and
//! the `hbp1.` text of a [`PseudonymKey`].

use std::io::Read;
use std::path::{Path, PathBuf};

use hashbeacon::{Keyring, PseudonymKey, Tracker};
use zeroize::Zeroizing;

use crate::Fatal;

/// A key file larger than this is not a key file (a keyring of a thousand keys fits).
const MAX_KEY_FILE_LEN: u64 = 128 * 1024;

/// The arguments of the commands that sign: the keyring, the tracking base and the
/// campaign.
#[derive(Debug, clap::Args)]
pub(crate) struct SigningArgs {
    /// Keyring file: one `hbk1.` key per line; the first key signs.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,

    /// Tracking base URL, e.g. https://t.example.com or https://example.com/hb.
    #[arg(long, value_name = "URL")]
    pub(crate) base: String,

    /// Campaign (or list) id: 1 to 64 ASCII letters, digits, `-` or `_`.
    #[arg(long, value_name = "ID")]
    pub(crate) campaign: String,
}

impl SigningArgs {
    /// The tracker of `--key` and `--base`.
    pub(crate) fn tracker(&self) -> Result<Tracker, Fatal> {
        let keyring = read_keyring(&self.key)?;
        Tracker::new(keyring, &self.base).map_err(|err| Fatal(format!("--base: {err}")))
    }
}

/// Reads and parses a keyring file; every failure names the file and what was wrong.
pub(crate) fn read_keyring(path: &Path) -> Result<Keyring, Fatal> {
    let text = read_secret_file(path)?;
    Keyring::from_text(&text).map_err(|err| Fatal(format!("key file `{}`: {err}", path.display())))
}

/// Reads and parses a pseudonym key file (the one line `hashbeacon keygen --pseudonym`
/// prints).
pub(crate) fn read_pseudonym_key(path: &Path) -> Result<PseudonymKey, Fatal> {
    let text = read_secret_file(path)?;
    PseudonymKey::from_text(&text).map_err(|err| Fatal(format!("key file `{}`: {err}", path.display())))
}

/// Reads a small UTF-8 file holding secrets, wiping the buffer when done.
fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, Fatal> {
    let cannot = |err: std::io::Error| Fatal(format!("cannot read key file `{}`: {err}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(cannot)?;
    if text.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(Fatal(format!(
            "key file `{}` is larger than {MAX_KEY_FILE_LEN} bytes; is it really a key file?",
            path.display()
        )));
    }
    Ok(text)
}
