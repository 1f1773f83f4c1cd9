//! Quickstart: the whole flow on one machine, no services needed.
//!
//! Rewrites the sample email in `examples/email/` for one recipient, starts the
//! tracking server (`crates/server/`) on a free loopback port with SQLite in a
//! temporary folder, follows the tracked call-to-action link and loads the open pixel
//! with a real HTTP client (and tries a forged copy of the link), unsubscribes with the
//! one-click POST a mailbox provider makes from the message's `List-Unsubscribe`
//! header, and prints what the server stored.
//!
//! Run with `cargo run --example quickstart`.

use std::error::Error;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hashbeacon::rewrite::{Message, Options, Recipient, rewrite_html, rewrite_text};
use hashbeacon::{Key, KeyId, PseudonymKey};

const CAMPAIGN: &str = "welcome";
const HTML: &str = include_str!("email/welcome.html");
const TEXT: &str = include_str!("email/welcome.txt");
/// What Safari on a Mac sends: the reader's browser, as the server sees it.
const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 \
                       (KHTML, like Gecko) Version/17.4 Safari/605.1.15";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Keys: in production both come from a secret store (see `Keyring::from_text`).
    let key = Key::generate(KeyId::new("k1")?)?;
    let pseudonyms = PseudonymKey::generate()?;

    // The host's side: the reference server, SQLite in a folder removed at exit.
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("events.db");
    let db_path = db.to_str().ok_or("the temporary folder's path is not UTF-8")?;
    let config = hashbeacon_server::Config::new(([127, 0, 0, 1], 0).into(), key.into(), db_path);
    let server = hashbeacon_server::start(config).await?;
    println!(
        "server     http://{}  (events in {})",
        server.addr(),
        db.display()
    );

    // The sender's side: rewrite the email for one recipient. The tokens say it was
    // sent a minute ago: a click within seconds of sending is what security scanners
    // do, and would be classified as one.
    let ada = pseudonyms.pseudonym("ada@example.com");
    let sent = unix_now() - 60;
    let message = Message::new(CAMPAIGN, Recipient::new(sent).with_pseudonym(&ada));
    let options = Options::default();
    let html = rewrite_html(server.tracker(), &message, &options, HTML.as_bytes())?;
    // Links the author opted out in the HTML stay untracked in the text part too.
    let mut text_options = options.clone();
    text_options
        .leave_alone
        .extend(html.report.left_alone_by_author().map(str::to_owned));
    let text = rewrite_text(server.tracker(), &message, &text_options, TEXT.as_bytes())?;
    println!("\nrewritten HTML: {}", html.report);
    println!("rewritten text: {}", text.report);
    // The one-click unsubscribe headers of Ada's message, added before DKIM signing.
    let unsubscribe = server.tracker().unsubscribe_headers(CAMPAIGN, &ada, sent, None)?;
    println!("headers:");
    for line in unsubscribe.to_lines().lines() {
        println!("  {line}");
    }

    let html = String::from_utf8(html.body)?;
    let base = server.tracker().base_url();
    let click = attribute_url(&html, "href", &format!("{base}/c/")).ok_or("no tracked link")?;
    let pixel = attribute_url(&html, "src", &format!("{base}/o/")).ok_or("no open pixel")?;

    // The reader's side: a real HTTP client that shows redirects instead of following them.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(BROWSER)
        .build()?;
    println!("\nclick      GET {click}");
    let response = client.get(&click).send().await?;
    println!(
        "           -> {} Location: {}",
        response.status(),
        show(response.headers().get("location"))
    );
    let forged = click.replace("shop.example.com", "evil.example");
    println!("forged     GET {forged}");
    let response = client.get(&forged).send().await?;
    println!(
        "           -> {} Location: {}",
        response.status(),
        show(response.headers().get("location"))
    );
    println!("open       GET {pixel}");
    let response = client.get(&pixel).send().await?;
    let status = response.status();
    let content_type = show(response.headers().get("content-type")).to_owned();
    let bytes = response.bytes().await?.len();
    println!("           -> {status} {content_type}, {bytes} bytes");
    // What a mailbox provider does when Ada presses "Unsubscribe" (RFC 8058): a POST of
    // the one-click form to the header's URL. A GET of it would only show a page.
    println!(
        "unsubscribe POST {}  (List-Unsubscribe=One-Click)",
        unsubscribe.url()
    );
    let response = client
        .post(unsubscribe.url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(hashbeacon::unsubscribe::ONE_CLICK)
        .send()
        .await?;
    println!("           -> {}", response.status());

    // The writer thread stores events a moment after the responses went out.
    for _ in 0..200 {
        if server.health().events_stored >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats_url = format!("http://{}/stats?campaign={CAMPAIGN}", server.admin_addr());
    let stats: serde_json::Value = serde_json::from_str(&client.get(&stats_url).send().await?.text().await?)?;
    // The per-link counts; `/stats` also carries the full campaign report under "report".
    println!("\nGET /stats?campaign={CAMPAIGN}  (per-link counts; the full report is under \"report\")");
    for part in ["links", "opens"] {
        println!("{part}: {}", stats.get(part).unwrap_or(&serde_json::Value::Null));
    }
    let unsubscribes = stats.get("report").and_then(|report| report.get("unsubscribes"));
    println!(
        "report.unsubscribes: {}",
        unsubscribes.unwrap_or(&serde_json::Value::Null)
    );
    // What the host's list manager polls to act on them, by cursor.
    let list_url = format!("http://{}/unsubscribes?since=0", server.admin_addr());
    let listed: serde_json::Value = serde_json::from_str(&client.get(&list_url).send().await?.text().await?)?;
    println!("\nGET /unsubscribes?since=0\n{listed}");
    let stored = listed.get("unsubscribes").and_then(serde_json::Value::as_array);
    if stored.map(Vec::len) != Some(1) {
        return Err(format!("expected 1 listed unsubscribe, got {listed}").into());
    }

    // Graceful shutdown stores every pending event before it returns.
    let health = server.shutdown().await?;
    println!(
        "\nstored events ({} stored, {} failed):",
        health.events_stored, health.events_not_stored
    );
    // The raw rows, straight from SQLite; `/stats` reads the rollups beside them.
    let db = rusqlite::Connection::open(&db)?;
    let mut rows = db.prepare(
        "SELECT kind, method, campaign, link, recipient, rejected, client_ip, verdict, reason
         FROM events ORDER BY id",
    )?;
    let mut rows = rows.query([])?;
    while let Some(row) = rows.next()? {
        let (kind, method): (String, String) = (row.get(0)?, row.get(1)?);
        let what = match row.get::<_, Option<String>>(5)? {
            Some(reason) => format!("rejected ({reason})"),
            None => format!(
                "campaign={} link={} recipient={}",
                row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                row.get::<_, Option<String>>(3)?.unwrap_or_else(|| "-".into()),
                row.get::<_, Option<String>>(4)?.unwrap_or_default(),
            ),
        };
        let (ip, verdict, reason): (Option<String>, String, String) = (row.get(6)?, row.get(7)?, row.get(8)?);
        // A forged request is nobody's action: its verdict says so.
        if row.get::<_, Option<String>>(5)?.is_some() && verdict != "rejected" {
            return Err(format!("a rejected request stored as {verdict}").into());
        }
        // The reason is the verdict with what decided it, e.g. "scanner: HEAD request".
        let signal = reason
            .strip_prefix(verdict.as_str())
            .and_then(|rest| rest.strip_prefix(": "))
            .map(|signal| format!(" ({signal})"))
            .unwrap_or_default();
        println!(
            "  {kind:<11} {method:<4} {what} ip={} verdict={verdict}{signal}",
            ip.unwrap_or_default()
        );
    }
    if health.status != "ok" || health.events_stored != 4 {
        return Err(format!("expected 4 stored events, got {health:?}").into());
    }
    Ok(())
}

/// The first URL in an HTML attribute (`href="…"`, `src="…"`) that starts with
/// `prefix`, with the `&amp;` of the attribute syntax decoded.
fn attribute_url(html: &str, attribute: &str, prefix: &str) -> Option<String> {
    let start = html.find(&format!("{attribute}=\"{prefix}"))? + attribute.len() + 2;
    let value = html.get(start..)?.split('"').next()?;
    Some(value.replace("&amp;", "&"))
}

/// A header's value for display.
fn show(value: Option<&reqwest::header::HeaderValue>) -> &str {
    value.map_or("(none)", |value| value.to_str().unwrap_or("(not text)"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
