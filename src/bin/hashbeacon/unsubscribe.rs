//! `hashbeacon unsubscribe`: print one recipient's one-click unsubscribe headers.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use hashbeacon::unsubscribe::Mailto;

use crate::{Fatal, keyfile, rewrite, unix_now};

/// Print the `List-Unsubscribe` and `List-Unsubscribe-Post` header lines for one
/// recipient, exactly as they go into the message: CRLF line ends, the `mailto:` URL
/// folded onto a continuation line when the line would pass 78 characters. Add them
/// before DKIM-signing the message, and sign both.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    signing: keyfile::SigningArgs,

    /// The recipient's address. Only its pseudonym goes into the URL.
    #[arg(long, value_name = "ADDRESS")]
    recipient: String,

    /// Pseudonym key file (`hashbeacon keygen --pseudonym`).
    #[arg(long, value_name = "FILE")]
    pseudonym_key: PathBuf,

    /// Also offer unsubscribing by mail to this address (`<mailto:ADDRESS>`).
    #[arg(long, value_name = "ADDRESS", value_parser = Mailto::new)]
    mailto: Option<Mailto>,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, Fatal> {
    let now = unix_now()?;
    let pseudonym = rewrite::pseudonym(&args.recipient, Some(&args.pseudonym_key))?;
    let tracker = args.signing.tracker()?;
    let headers = tracker
        .unsubscribe_headers(&args.signing.campaign, &pseudonym, now, args.mailto.as_ref())
        .map_err(|err| Fatal(format!("--campaign `{}`: {err}", args.signing.campaign)))?;
    let mut out = std::io::stdout().lock();
    out.write_all(headers.to_lines().as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| Fatal(format!("cannot write to stdout: {err}")))?;
    Ok(ExitCode::SUCCESS)
}
