//! Sending with lettre: lettre builds and formats the multipart/alternative message,
//! `rewrite_message` rewrites the formatted bytes for one recipient (HTML part first,
//! then the text part, every other byte as lettre wrote it) and adds the recipient's
//! one-click `List-Unsubscribe` headers, and lettre's file
//! transport writes them with `send_raw` (no network). Swap in `SmtpTransport` to
//! really send it.
//!
//! ```text
//! cargo run --example lettre [-- OUTPUT_FOLDER]
//! ```
//!
//! The keyring comes from `HASHBEACON_KEY` when set (as the server takes it), else a
//! throwaway key is generated; the tracking base URL from `HASHBEACON_BASE`, else
//! `http://127.0.0.1:8080`, where `hashbeacon-server` listens by default.

use std::error::Error;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use hashbeacon::message::{ListUnsubscribe, MessageOptions, rewrite_message};
use hashbeacon::rewrite::{Message, Recipient};
use hashbeacon::{Key, KeyId, Keyring, PseudonymKey, Tracker};
use lettre::message::{Mailbox, MultiPart};
use lettre::{FileTransport, Transport};

const HTML: &str = include_str!("email/welcome.html");
const TEXT: &str = include_str!("email/welcome.txt");

fn main() -> Result<(), Box<dyn Error>> {
    let keyring = match std::env::var("HASHBEACON_KEY") {
        Ok(text) => Keyring::from_text(&text)?,
        Err(_) => Key::generate(KeyId::new("k1")?)?.into(),
    };
    let base = std::env::var("HASHBEACON_BASE").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned());
    let tracker = Tracker::new(keyring, &base)?;
    // Keep this key as long as you want to map pseudonyms back to your subscribers.
    let pseudonyms = PseudonymKey::generate()?;

    let to: Mailbox = "Ada Lovelace <ada@example.com>".parse()?;
    let pseudonym = pseudonyms.pseudonym(to.email.as_ref());
    let sent_at = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let message = Message::new("welcome", Recipient::new(sent_at).with_pseudonym(&pseudonym));

    // lettre does the MIME work: boundaries, quoted-printable, headers.
    let email = lettre::Message::builder()
        .from("Example Shop <hello@shop.example.com>".parse()?)
        .to(to)
        .subject("Welcome to Example Shop")
        .multipart(MultiPart::alternative_plain_html(
            TEXT.to_owned(),
            HTML.to_owned(),
        ))?;

    // The finished message, rewritten for this recipient: what the author opted out in
    // the HTML part stays untracked in the text part too. A DKIM signature would come
    // after this step, covering the unsubscribe headers.
    let mut options = MessageOptions::default();
    options.list_unsubscribe = Some(ListUnsubscribe::new());
    let tracked = rewrite_message(&tracker, &message, &options, &email.formatted())?;
    eprintln!("{tracked}");

    let folder = std::env::args_os()
        .nth(1)
        .map_or_else(|| std::env::temp_dir().join("hashbeacon-lettre"), PathBuf::from);
    std::fs::create_dir_all(&folder)?;
    let id = FileTransport::new(&folder).send_raw(email.envelope(), &tracked.message)?;
    println!("{}", folder.join(format!("{id}.eml")).display());
    Ok(())
}
