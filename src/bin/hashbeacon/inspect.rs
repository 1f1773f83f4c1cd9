//! `hashbeacon inspect`: verify a tracked URL and print what it carries as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use hashbeacon::{Keyring, Kind, LinkId, Tracker, Verified, VerifyError};
use serde_json::{Value, json};

use crate::{Fatal, keyfile, print_line, unix_now};

/// Verify a click, open or unsubscribe URL and print one JSON object on stdout: `"valid": true` and
/// its claims (exit 0), or `"valid": false` and the reason (exit 1).
///
/// The tracking base (scheme, host and path prefix) is taken from the URL itself, so any
/// tracking host's URLs can be checked with its key file.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Keyring file: one `hbk1.` key per line, the signing key first. By default the
    /// keyring is read from the HASHBEACON_KEY environment variable.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,

    /// Judge expiry as of this unix time instead of the system clock.
    #[arg(long, value_name = "UNIX_SECONDS")]
    now: Option<u64>,

    /// The tracked URL, as in the message or as a browser sent it.
    url: String,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, Fatal> {
    let keyring = keyfile::read_keyring(args.key.as_deref())?;
    let now = match args.now {
        Some(now) => now,
        None => unix_now()?,
    };
    let (report, code) = match inspect(keyring.clone(), &args.url, now) {
        Ok(report) => (report, ExitCode::SUCCESS),
        Err(reason) => {
            let reason = match html_escaped(&args.url) {
                Some(unescaped) => escaped_reason(&reason, inspect(keyring, &unescaped, now).is_ok()),
                None => reason,
            };
            (json!({ "valid": false, "error": reason }), ExitCode::FAILURE)
        }
    };
    print_line(&report.to_string())?;
    Ok(code)
}

/// Verifies `url` and describes it, or says why it is not a valid tracking URL.
///
/// What is verified is what the endpoint receives when a browser follows the URL: its
/// path and query bytes exactly as written, through the same library calls the
/// endpoint makes. Only what every browser does before sending is applied first
/// (surrounding spaces and controls stripped, tabs and newlines removed: a URL wrapped
/// across lines still checks), and the fragment, which is never sent, is dropped.
fn inspect(keyring: Keyring, url: &str, now: u64) -> Result<Value, String> {
    let url: String = url
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let parsed = url::Url::parse(&url).map_err(|err| format!("not an absolute URL: {err}"))?;
    let (path, query) = path_and_query(&url);
    let prefix = route_prefix(path).ok_or("not a tracking URL: no /c/, /o/ or /u/ route segment")?;
    let base = format!("{}{prefix}", parsed.origin().ascii_serialization());
    let tracker = Tracker::new(keyring, &base).map_err(|err| err.to_string())?;
    let (kind, _) = tracker.route(path).map_err(|err| err.to_string())?;
    let text = |err: VerifyError| err.to_string();
    match kind {
        Kind::Click => {
            let click = tracker.verify_click(path, query, now).map_err(text)?;
            let destination = click.destination().map_err(text)?;
            Ok(describe(&click.verified, Some(&destination)))
        }
        Kind::Open => Ok(describe(&tracker.verify_open(path, now).map_err(text)?, None)),
        Kind::Unsubscribe => Ok(describe(
            &tracker.verify_unsubscribe(path, now).map_err(text)?,
            None,
        )),
    }
}

/// The raw path and query of an absolute URL, as a browser puts them in the request
/// line: after the authority, up to the fragment.
fn path_and_query(url: &str) -> (&str, Option<&str>) {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let target = after_scheme
        .find(['/', '?', '#'])
        .and_then(|at| after_scheme.get(at..))
        .unwrap_or_default();
    let target = target.split_once('#').map_or(target, |(before, _)| before);
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    (if path.is_empty() { "/" } else { path }, query)
}

/// The URL as a browser reads it from an HTML attribute, when it still holds the
/// `&amp;` of HTML source (copied from a message's markup rather than a browser).
fn html_escaped(url: &str) -> Option<String> {
    url.contains("&amp;").then(|| url.replace("&amp;", "&"))
}

/// Why an HTML-escaped URL did not verify: the escaping, not forgery, and whether the
/// unescaped URL does.
fn escaped_reason(reason: &str, valid_unescaped: bool) -> String {
    let outcome = if valid_unescaped {
        "with each `&amp;` read as `&` it is valid"
    } else {
        "it does not verify with `&amp;` read as `&` either"
    };
    format!(
        "the URL looks HTML-escaped: it contains `&amp;`, which a browser sends as `&`; {outcome} \
         (as given: {reason})"
    )
}

/// The path prefix in front of a `/c/<token>`, `/o/<token>` or `/u/<token>` route.
/// Tokens never hold a `/`, so the route is the second-to-last segment.
fn route_prefix(path: &str) -> Option<&str> {
    let (head, _token) = path.rsplit_once('/')?;
    ["/c", "/o", "/u"]
        .into_iter()
        .find_map(|route| head.strip_suffix(route))
}

fn describe(verified: &Verified<'_>, destination: Option<&str>) -> Value {
    let claims = &verified.claims;
    let link = match claims.link {
        Some(LinkId::Index(index)) => json!(index),
        Some(LinkId::Label(label)) => json!(label),
        None => Value::Null,
    };
    json!({
        "valid": true,
        "kind": claims.kind.as_str(),
        "campaign": claims.campaign,
        "link": link,
        "recipient": claims.recipient,
        "issued_at": claims.issued_at,
        "expires_at": claims.expires_at,
        "expired": verified.expired,
        "key_id": verified.key_id.as_str(),
        "destination": destination,
    })
}
