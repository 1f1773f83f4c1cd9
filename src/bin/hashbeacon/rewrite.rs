//! `hashbeacon rewrite`: turn a body's links into tracked links, for one recipient.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hashbeacon::message::{ListUnsubscribe, MessageOptions, rewrite_message};
use hashbeacon::rewrite::{
    Charset, CharsetSource, Message, Options, Recipient, Report, Rewritten, SkipReason, rewrite_html,
    rewrite_text,
};
use hashbeacon::unsubscribe::Mailto;
use hashbeacon::{Claims, Kind, Pseudonym, PseudonymKey};

use crate::{Fatal, keyfile, unix_now};

/// The environment variable holding the pseudonym key (`hbp1.…`) when
/// `--pseudonym-key` is not given.
const PSEUDONYM_KEY_ENV: &str = "HASHBEACON_PSEUDONYM_KEY";

/// Rewrite an HTML (or, with --text, plain-text) body, or with --message a whole email:
/// its links become signed click URLs and an open pixel is added. The tracked body or
/// message goes to stdout in the input's charset, a report of what was done to stderr.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    signing: keyfile::SigningArgs,

    /// Attribute clicks and opens to this recipient's pseudonym. The address itself is
    /// never written anywhere; needs a pseudonym key.
    #[arg(long, value_name = "ADDRESS")]
    recipient: Option<String>,

    /// Pseudonym key file (`hashbeacon keygen --pseudonym`); by default the key is read
    /// from the HASHBEACON_PSEUDONYM_KEY environment variable.
    #[arg(long, value_name = "FILE", requires = "recipient")]
    pseudonym_key: Option<PathBuf>,

    /// The body is plain text, not HTML: URLs in the text are tracked, no pixel.
    #[arg(long, conflicts_with = "message")]
    text: bool,

    /// The input is a whole RFC 5322 / MIME message (an .eml file): its HTML and text
    /// parts are rewritten in their own charsets and transfer encodings, everything else
    /// is written back byte for byte, and the report lists every part.
    #[arg(long, conflicts_with = "charset")]
    message: bool,

    /// With --message: rewrite a message that carries a DKIM-Signature anyway (the
    /// signature breaks; sign after rewriting).
    #[arg(long, requires = "message")]
    allow_dkim_signed: bool,

    /// With --message: add the recipient's one-click unsubscribe headers
    /// (List-Unsubscribe and List-Unsubscribe-Post) at the end of the message's
    /// headers. A message that already has either header is refused.
    #[arg(long, requires_all = ["message", "recipient"])]
    list_unsubscribe: bool,

    /// With --list-unsubscribe: also offer unsubscribing by mail to this address
    /// (`<mailto:ADDRESS>` after the HTTPS URL).
    #[arg(long, value_name = "ADDRESS", value_parser = Mailto::new, requires = "list_unsubscribe")]
    mailto: Option<Mailto>,

    /// The body's charset, kept in the output: utf-8, windows-1252, iso-8859-1, or any
    /// other ASCII-compatible charset label. By default it is found as a browser finds
    /// it: a byte order mark, or a <meta> charset in the first 1024 bytes of HTML, else
    /// utf-8.
    #[arg(long, value_name = "LABEL", value_parser = Charset::from_label)]
    charset: Option<Charset>,

    /// Tokens stop being fresh this many seconds after now (clicks still redirect).
    #[arg(long, value_name = "SECONDS")]
    expires_in: Option<u64>,

    /// The body to rewrite; standard input when absent.
    file: Option<PathBuf>,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, Fatal> {
    let now = unix_now()?;
    let expires_at = args
        .expires_in
        .map(|seconds| {
            now.checked_add(seconds)
                .ok_or_else(|| Fatal(format!("--expires-in {seconds}: too far in the future")))
        })
        .transpose()?;
    check_campaign(&args.signing.campaign, now, expires_at)?;
    let pseudonym = args
        .recipient
        .as_deref()
        .map(|address| pseudonym(address, args.pseudonym_key.as_deref()))
        .transpose()?;
    let tracker = args.signing.tracker()?;
    let input = read_input(args.file.as_deref())?;

    let mut recipient = Recipient::new(now);
    if let Some(pseudonym) = &pseudonym {
        recipient = recipient.with_pseudonym(pseudonym);
    }
    if let Some(expires_at) = expires_at {
        recipient = recipient.expiring_at(expires_at);
    }
    let message = Message::new(&args.signing.campaign, recipient);
    let (body, report, hints): (_, _, Vec<String>) = if args.message {
        let mut options = MessageOptions::default();
        options.allow_dkim_signed = args.allow_dkim_signed;
        options.list_unsubscribe = args.list_unsubscribe.then(|| {
            let headers = ListUnsubscribe::new();
            match &args.mailto {
                Some(mailto) => headers.with_mailto(mailto.clone()),
                None => headers,
            }
        });
        let out = rewrite_message(&tracker, &message, &options, &input)
            .map_err(|err| Fatal(format!("cannot rewrite the message: {err}")))?;
        let hints = out
            .parts
            .iter()
            .filter_map(|part| {
                let hint = charset_hint(part.outcome.report()?, "the part's Content-Type charset")?;
                Some(format!("part {}: {hint}", part.number))
            })
            .collect();
        let report = out.to_string();
        (out.message, report, hints)
    } else {
        let mut options = Options::default();
        options.charset = args.charset;
        let rewrite = if args.text { rewrite_text } else { rewrite_html };
        let Rewritten { body, report, .. } = rewrite(&tracker, &message, &options, &input)
            .map_err(|err| Fatal(format!("cannot rewrite the body: {err}")))?;
        let hints = charset_hint(&report, "--charset").into_iter().collect();
        (body, report.to_string(), hints)
    };

    let mut out = std::io::stdout().lock();
    out.write_all(&body)
        .and_then(|()| out.flush())
        .map_err(|err| Fatal(format!("cannot write to stdout: {err}")))?;
    // The body is out; if stderr is gone the report has nowhere to go.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "hashbeacon: {report}");
    for hint in hints {
        let _ = writeln!(err, "hashbeacon: {hint}");
    }
    Ok(ExitCode::SUCCESS)
}

/// When links were left alone because their bytes are not valid in the charset the
/// body was read in, says which charset that was and where to name the right one.
fn charset_hint(report: &Report, named_by: &str) -> Option<String> {
    let invalid = report
        .skipped
        .iter()
        .filter(|link| link.reason == SkipReason::Encoding)
        .count();
    let how = match report.charset_source {
        CharsetSource::Given => format!("given by {named_by}"),
        CharsetSource::ByteOrderMark => "from its byte order mark".to_owned(),
        CharsetSource::Meta => "declared by its <meta>".to_owned(),
        _ => "the default: no byte order mark or <meta> charset found".to_owned(),
    };
    (invalid > 0).then(|| {
        format!(
            "{invalid} link(s) left alone as not valid in {}, the charset the body was read in \
             ({how}); name its real charset with {named_by}",
            report.charset.name()
        )
    })
}

/// Rejects a bad campaign id (and an impossible expiry) before any file is read, with the
/// rules signing applies.
fn check_campaign(campaign: &str, now: u64, expires_at: Option<u64>) -> Result<(), Fatal> {
    let claims = Claims {
        kind: Kind::Open,
        campaign,
        link: None,
        recipient: None,
        issued_at: now,
        expires_at,
    };
    claims
        .validate()
        .map_err(|err| Fatal(format!("--campaign `{campaign}`: {err}")))
}

/// The recipient's pseudonym, keyed by `--pseudonym-key` or the environment. Errors
/// never repeat the address or the key.
pub(crate) fn pseudonym(address: &str, key_file: Option<&Path>) -> Result<Pseudonym, Fatal> {
    if address.trim().is_empty() {
        return Err(Fatal("--recipient is empty".to_owned()));
    }
    let key = match key_file {
        Some(path) => keyfile::read_pseudonym_key(path)?,
        None => pseudonym_key_from_env()?,
    };
    Ok(key.pseudonym(address))
}

fn pseudonym_key_from_env() -> Result<PseudonymKey, Fatal> {
    let text = keyfile::secret_from_env(PSEUDONYM_KEY_ENV)?.ok_or_else(|| {
        Fatal(format!(
            "--recipient needs a pseudonym key: pass --pseudonym-key FILE or set {PSEUDONYM_KEY_ENV}"
        ))
    })?;
    PseudonymKey::from_text(&text).map_err(|err| {
        let hint = keyfile::mix_up_hint(&err, "--key or HASHBEACON_KEY");
        Fatal(format!("{PSEUDONYM_KEY_ENV}: {err}{hint}"))
    })
}

fn read_input(file: Option<&Path>) -> Result<Vec<u8>, Fatal> {
    let mut input = Vec::new();
    match file {
        Some(path) => std::fs::File::open(path)
            .and_then(|mut file| file.read_to_end(&mut input))
            .map_err(|err| Fatal(format!("cannot read input file `{}`: {err}", path.display())))?,
        None => std::io::stdin()
            .lock()
            .read_to_end(&mut input)
            .map_err(|err| Fatal(format!("cannot read standard input: {err}")))?,
    };
    if input.is_empty() {
        let source = match file {
            Some(path) => format!("input file `{}`", path.display()),
            None => "standard input".to_owned(),
        };
        // `rewrite … < f.html > f.html` empties f.html before it is read: a body holding
        // only the pixel would be a silent loss.
        return Err(Fatal(format!(
            "{source} is empty: nothing to rewrite (redirecting the output onto the input file \
             empties it before it is read; write to another file)"
        )));
    }
    Ok(input)
}
