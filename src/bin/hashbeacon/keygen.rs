//! `hashbeacon keygen`: a new key from the operating system's random number generator.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hashbeacon::{Key, KeyId, PseudonymKey};

use crate::{Fatal, print_line};

/// Print a new signing key (`hbk1.<id>.<secret>`) on one line, or write it to a new
/// file readable only by you (`--out`). It is a secret: keep it in a key file or a
/// secret store.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Key id carried in every token: 1 to 8 ASCII letters or digits. Give each key you
    /// rotate in a new id (k1, k2, … or a date such as 2026a).
    #[arg(long, default_value = "k1")]
    id: String,

    /// Print a recipient pseudonym key (`hbp1.<secret>`) instead of a signing key.
    #[arg(long, conflicts_with = "id")]
    pseudonym: bool,

    /// Write the key to this new file, created readable and writable by its owner only
    /// (mode 0600), instead of printing it. An existing file is refused.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// With --out: replace an existing file (it is left with mode 0600 too).
    #[arg(long, requires = "out")]
    force: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, Fatal> {
    let text = if args.pseudonym {
        PseudonymKey::generate()
            .map_err(|err| Fatal(err.to_string()))?
            .to_text()
    } else {
        let id = KeyId::new(&args.id).map_err(|err| Fatal(format!("--id `{}`: {err}", args.id)))?;
        Key::generate(id).map_err(|err| Fatal(err.to_string()))?.to_text()
    };
    match &args.out {
        Some(path) => write_key_file(path, &text, args.force)?,
        None => print_line(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a key file readable by its owner only: created new with mode 0600 (on Unix),
/// or, when `replace`, an existing file truncated and set to 0600 before the key goes in.
fn write_key_file(path: &Path, text: &str, replace: bool) -> Result<(), Fatal> {
    let cannot = |err: std::io::Error| {
        let hint = if err.kind() == std::io::ErrorKind::AlreadyExists {
            " (use --force to replace it)"
        } else {
            ""
        };
        Fatal(format!("cannot write key file `{}`: {err}{hint}", path.display()))
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(cannot)?;
    // A replaced file keeps its old mode through `open`: narrow it before writing.
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(cannot)?;
    writeln!(file, "{text}")
        .and_then(|()| file.sync_all())
        .map_err(cannot)
}
