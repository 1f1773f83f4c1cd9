//! Reading key files: the keyring text of [`Keyring::from_text`], one key per line, and
//! the `hbp1.` text of a [`PseudonymKey`].

use std::io::Read;
use std::path::Path;

use hashbeacon::{Keyring, PseudonymKey};
use zeroize::Zeroizing;

use crate::Fatal;

/// A key file larger than this is not a key file (a keyring of a thousand keys fits).
const MAX_KEY_FILE_LEN: u64 = 128 * 1024;

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
    (&file)
        .take(MAX_KEY_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(cannot)?;
    if text.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(Fatal(format!(
            "key file `{}` is larger than {MAX_KEY_FILE_LEN} bytes; is it really a key file?",
            path.display()
        )));
    }
    warn_if_others_can_read(path, &file);
    Ok(text)
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
