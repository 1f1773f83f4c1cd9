//! `hashbeacon keygen`: a new key from the operating system's random number generator.

use std::process::ExitCode;

use hashbeacon::{Key, KeyId, PseudonymKey};

use crate::{Fatal, print_line};

/// Print a new signing key (`hbk1.<id>.<secret>`) on one line. It is a secret: redirect it
/// into a key file or a secret store.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Key id carried in every token: 1 to 8 ASCII letters or digits. Give each key you
    /// rotate in a new id (k1, k2, … or a date such as 2026a).
    #[arg(long, default_value = "k1")]
    id: String,

    /// Print a recipient pseudonym key (`hbp1.<secret>`) instead of a signing key.
    #[arg(long, conflicts_with = "id")]
    pseudonym: bool,
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
    print_line(&text)?;
    Ok(ExitCode::SUCCESS)
}
