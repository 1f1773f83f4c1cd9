//! Reading keys: the keyring text of [`Keyring::from_text`], one key per line, and the
//! `hbp1.` text of a [`PseudonymKey`], from a file or an environment variable.

use std::io::Read;
use std::path::{Path, PathBuf};

use hashbeacon::{KeyError, Keyring, PseudonymKey, Tracker};
use zeroize::Zeroizing;

use crate::Fatal;

/// A key file larger than this is not a key file (a keyring of a thousand keys fits).
const MAX_KEY_FILE_LEN: u64 = 128 * 1024;

/// The arguments of the commands that sign: the keyring, the tracking base and the
/// campaign.
#[derive(Debug, clap::Args)]
pub(crate) struct SigningArgs {
    /// Keyring file: one `hbk1.` key per line; the first key signs. By default the
    /// keyring is read from the HASHBEACON_KEY environment variable.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: Option<PathBuf>,

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
        let keyring = read_keyring(self.key.as_deref())?;
        Tracker::new(keyring, &self.base).map_err(|err| Fatal(format!("--base: {err}")))
    }
}

/// The environment variable holding the keyring text when `--key` is not given, as
/// for the reference server.
pub(crate) const KEY_ENV: &str = "HASHBEACON_KEY";

/// The keyring from `--key FILE`, or from [`KEY_ENV`] when no file is given; every
/// failure names where the key came from and what was wrong.
pub(crate) fn read_keyring(path: Option<&Path>) -> Result<Keyring, Fatal> {
    let (text, origin) = match path {
        Some(path) => (read_secret_file(path)?, format!("key file `{}`", path.display())),
        None => {
            let missing = || Fatal(format!("no key: pass --key FILE or set {KEY_ENV}"));
            (secret_from_env(KEY_ENV)?.ok_or_else(missing)?, KEY_ENV.to_owned())
        }
    };
    Keyring::from_text(&text).map_err(|err| {
        let hint = mix_up_hint(&err, "--pseudonym-key or HASHBEACON_PSEUDONYM_KEY");
        Fatal(format!("{origin}: {err}{hint}"))
    })
}

/// Reads and parses a pseudonym key file (the one line `hashbeacon keygen --pseudonym`
/// prints).
pub(crate) fn read_pseudonym_key(path: &Path) -> Result<PseudonymKey, Fatal> {
    let text = read_secret_file(path)?;
    PseudonymKey::from_text(&text).map_err(|err| {
        let hint = mix_up_hint(&err, "--key or HASHBEACON_KEY");
        Fatal(format!("key file `{}`: {err}{hint}", path.display()))
    })
}

/// Where the key belongs when it is the other kind of key, to add to the error.
pub(crate) fn mix_up_hint(err: &KeyError, belongs: &str) -> String {
    match err {
        KeyError::OtherKey { .. } => format!("; it belongs in {belongs}"),
        _ => String::new(),
    }
}

/// A secret from the environment: `None` when unset or empty.
pub(crate) fn secret_from_env(name: &str) -> Result<Option<Zeroizing<String>>, Fatal> {
    let Some(value) = std::env::var_os(name).filter(|value| !value.is_empty()) else {
        return Ok(None);
    };
    let text = value
        .into_string()
        .map_err(|_| Fatal(format!("{name} is not valid UTF-8")))?;
    Ok(Some(Zeroizing::new(text)))
}

/// Reads a small text file holding secrets, wiping the buffers when done. Files saved
/// by Windows editors are met halfway: a UTF-8 byte order mark is skipped, and UTF-16
/// gets an error that says so.
fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, Fatal> {
    let named = |what: String| Fatal(format!("key file `{}` {what}", path.display()));
    let cannot = |err: std::io::Error| Fatal(format!("cannot read key file `{}`: {err}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Zeroizing::new(Vec::new());
    (&file)
        .take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(named(format!(
            "is larger than {MAX_KEY_FILE_LEN} bytes; is it really a key file?"
        )));
    }
    if looks_utf_16(&bytes) {
        return Err(named(
            "is UTF-16 text; save it as UTF-8 (or ASCII), e.g. `iconv -f UTF-16 -t UTF-8`".to_owned(),
        ));
    }
    warn_if_others_can_read(path, &file);
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = std::str::from_utf8(text).map_err(|_| named("is not UTF-8 text".to_owned()))?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// A UTF-16 byte order mark, or ASCII text with every other byte zero.
fn looks_utf_16(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\xFF\xFE")
        || bytes.starts_with(b"\xFE\xFF")
        || matches!(bytes, [b'h', 0, b'b', 0, ..] | [0, b'h', 0, b'b', ..])
}

/// Warns (one line on stderr) when a key file's group or others may read it: the key
/// still works, but anyone who can read it can forge tracking URLs.
#[cfg(unix)]
fn warn_if_others_can_read(path: &Path, file: &std::fs::File) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(metadata) = file.metadata() else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o044 != 0 {
        crate::warn(&format!(
            "key file `{}` is readable by group or others (mode {mode:o}); run `chmod 600` on it",
            path.display()
        ));
    }
}

#[cfg(not(unix))]
fn warn_if_others_can_read(_path: &Path, _file: &std::fs::File) {}
