//! `MessageOptions::list_unsubscribe`: the recipient's one-click unsubscribe headers go
//! at the end of the top-level headers, in the message's line ending, and nothing else
//! moves; mailbox providers' parsers (`mailparse`, the `list-unsubscribe` crate) find
//! the one-click URL, and the endpoint unsubscribes the recipient on its `POST`.
#![cfg(feature = "message")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
#[path = "common/mime.rs"]
mod mime;

use common::{BASE, NOW, tracker};
use hashbeacon::message::{
    HeaderField, ListUnsubscribe, MessageError, MessageOptions, RewrittenMessage, rewrite_message,
};
use hashbeacon::rewrite::{Message, Recipient, SkipReason};
use hashbeacon::sink::MemorySink;
use hashbeacon::unsubscribe::Mailto;
use hashbeacon::{Endpoint, Kind, Pseudonym, PseudonymKey, Request};
use list_unsubscribe::UnsubscribeMethod;
use mailparse::MailHeaderMap as _;

fn ada() -> Pseudonym {
    PseudonymKey::new(&[0x42; 32])
        .unwrap()
        .pseudonym("ada@example.com")
}

fn options(mailto: Option<&str>) -> MessageOptions {
    let mut list_unsubscribe = ListUnsubscribe::new();
    if let Some(address) = mailto {
        list_unsubscribe = list_unsubscribe.with_mailto(Mailto::new(address).unwrap());
    }
    let mut options = MessageOptions::default();
    options.list_unsubscribe = Some(list_unsubscribe);
    options
}

const ALTERNATIVE: &str = "From: news@shop.example\r\n\
To: ada@example.com\r\n\
Subject: Weekly\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Sale: https://shop.example/sale?a=3D1\r\n\
--b\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p><a href=\"https://shop.example/sale?a=1\">Sale</a>\r\n\
<a href=\"hashbeacon:unsubscribe\">Unsubscribe</a></p>\r\n\
--b--\r\n";

/// Where the top-level headers end: after the line ending that precedes the first
/// blank line.
fn header_end(raw: &[u8]) -> usize {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 2);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|at| at + 1);
    crlf.into_iter().chain(lf).min().unwrap()
}

/// The lines inserted into `out` at the end of `raw`'s top-level headers: `out` must
/// be `raw` with exactly those bytes inserted there, once the rewritten bodies are
/// taken into account by the caller (`rest` is what follows them in `out`).
fn inserted<'a>(raw: &[u8], out: &'a [u8]) -> (&'a [u8], &'a [u8]) {
    let at = header_end(raw);
    assert_eq!(&out[..at], &raw[..at], "everything before the new lines is kept");
    // The new lines are the List-Unsubscribe fields (with a continuation line, maybe).
    let mut end = at;
    while out[end..].starts_with(b"List-Unsubscribe") || out[end..].starts_with(b" ") {
        end += out[end..].iter().position(|&b| b == b'\n').unwrap() + 1;
    }
    (&out[at..end], &out[end..])
}

/// The message without the inserted lines.
fn without_inserted(raw: &[u8], out: &RewrittenMessage) -> RewrittenMessage {
    let (lines, rest) = inserted(raw, &out.message);
    assert!(!lines.is_empty());
    let mut stripped = out.clone();
    stripped.message = [&raw[..header_end(raw)], rest].concat();
    stripped
}

/// What a mailbox provider reads from the headers: the one-click URL.
fn one_click_url(message: &[u8]) -> String {
    let parsed = mailparse::parse_mail(message).unwrap();
    let list_unsubscribe = parsed.headers.get_all_values("List-Unsubscribe");
    assert_eq!(list_unsubscribe.len(), 1, "one List-Unsubscribe field");
    let post = parsed.headers.get_all_values("List-Unsubscribe-Post");
    assert_eq!(post, ["List-Unsubscribe=One-Click"]);
    match list_unsubscribe::parse_with_post(&list_unsubscribe[0], Some(&post[0])) {
        UnsubscribeMethod::OneClick { url } => url.to_string(),
        other => panic!("not a one-click unsubscribe: {other:?}"),
    }
}

#[test]
fn the_headers_unsubscribe_the_recipient_with_one_click() {
    let ada = ada();
    let message = Message::new("weekly", Recipient::new(NOW).with_pseudonym(&ada));
    let options = options(Some("leave@shop.example"));
    let raw = ALTERNATIVE.as_bytes();
    let out = rewrite_message(&tracker(), &message, &options, raw).unwrap();

    // Exactly the two fields, CRLF like the message, folded before the mailto URL.
    let (lines, _) = inserted(raw, &out.message);
    let lines = std::str::from_utf8(lines).unwrap();
    assert!(lines.starts_with(&format!(
        "List-Unsubscribe: <{BASE}/u/1u.k1.weekly..{}.",
        ada.as_str()
    )));
    assert!(lines.ends_with(
        ">,\r\n <mailto:leave@shop.example>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    ));
    assert_eq!(lines.matches('\n').count(), lines.matches("\r\n").count());

    // The rest is what rewriting the bodies makes of the message.
    let stripped = without_inserted(raw, &out);
    let seen = mime::check(&tracker(), &message, &options, raw, &stripped);
    assert_eq!(seen.tracked, 2);

    // The body's unsubscribe placeholder carries the same URL, untracked.
    let url = one_click_url(&out.message);
    assert!(String::from_utf8_lossy(&out.message).contains(&format!("<a href=\"{url}\">Unsubscribe</a>")));

    // A mailbox provider POSTs the one-click body: 200, and the recipient leaves.
    let endpoint = Endpoint::new(tracker(), MemorySink::new());
    let path = url.strip_prefix("https://t.example.com").unwrap();
    let post = Request::new("POST", path, "192.0.2.7".parse().unwrap()).with_body(
        Some("application/x-www-form-urlencoded"),
        b"List-Unsubscribe=One-Click",
    );
    let handled = endpoint.handle(&post, NOW + 3600);
    assert_eq!(handled.response.status, 200);
    let events = endpoint.sink().take();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, Kind::Unsubscribe);
    let token = events[0].token.as_ref().unwrap();
    assert_eq!(token.campaign.as_str(), "weekly");
    assert_eq!(token.recipient.as_deref(), Some(ada.as_str()));
    assert_eq!(token.expires_at, None);
}

#[test]
fn the_headers_take_the_line_ending_of_an_lf_message() {
    let ada = ada();
    let message = Message::new("weekly", Recipient::new(NOW).with_pseudonym(&ada));
    let raw = b"From: news@shop.example\nSubject: Weekly\nContent-Type: text/plain\n\nNo links.\n";
    let out = rewrite_message(&tracker(), &message, &options(None), raw).unwrap();
    let (lines, rest) = inserted(raw, &out.message);
    assert!(!lines.contains(&b'\r'), "{}", String::from_utf8_lossy(lines));
    assert_eq!(lines.iter().filter(|&&b| b == b'\n').count(), 2);
    assert_eq!(rest, &raw[header_end(raw)..], "the body is kept byte for byte");
    let url = one_click_url(&out.message);
    let path = url.strip_prefix("https://t.example.com").unwrap();
    tracker().verify_unsubscribe(path, NOW).unwrap();
}

#[test]
fn the_url_is_left_alone_in_the_bodies_and_expires_as_the_recipient_says() {
    let ada = ada();
    let recipient = Recipient::new(NOW)
        .with_pseudonym(&ada)
        .unsubscribe_expiring_at(NOW + 86_400);
    let message = Message::new("weekly", recipient);
    let options = options(None);
    let headers = tracker().unsubscribe_headers("weekly", &ada, NOW, None).unwrap();
    // Not the URL the message gets: that one expires.
    let other_url = headers.url();
    let first = rewrite_message(&tracker(), &message, &options, ALTERNATIVE.as_bytes()).unwrap();
    let url = one_click_url(&first.message);
    assert_ne!(url, other_url);
    let path = url.strip_prefix("https://t.example.com").unwrap();
    let verified = tracker().verify_unsubscribe(path, NOW).unwrap();
    assert_eq!(verified.claims.expires_at, Some(NOW + 86_400));

    // A text part that quotes the message's own URL keeps it as written: the rewriters
    // never track the tracker's unsubscribe URLs.
    let raw = format!(
        "From: news@shop.example\r\nContent-Type: text/plain\r\n\r\nLeave: {url}\r\nShop: https://shop.example/\r\n"
    );
    let out = rewrite_message(&tracker(), &message, &options, raw.as_bytes()).unwrap();
    let report = out.parts[0].outcome.report().unwrap();
    assert_eq!(report.tracked.len(), 1);
    assert!(
        report
            .skipped
            .iter()
            .any(|link| link.href == url && link.reason == SkipReason::Unsubscribe),
        "{:?}",
        report.skipped
    );
    assert!(String::from_utf8_lossy(&out.message).contains(&format!("\r\nLeave: {url}\r\n")));
}

#[test]
fn a_recipient_who_opted_out_gets_the_headers_and_nothing_else() {
    let ada = ada();
    let message = Message::new("weekly", Recipient::new(NOW).with_pseudonym(&ada).opted_out(true));
    let raw = NO_PLACEHOLDER.as_bytes();
    let out = rewrite_message(&tracker(), &message, &options(None), raw).unwrap();
    let stripped = without_inserted(raw, &out);
    assert!(stripped.message == raw);
    one_click_url(&out.message);
}

const NO_PLACEHOLDER: &str = "From: news@shop.example\r\n\
Content-Type: multipart/alternative; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain\r\n\
\r\n\
https://shop.example/\r\n\
--b\r\n\
Content-Type: text/html\r\n\
\r\n\
<a href=\"https://shop.example/\">Shop</a>\r\n\
--b--\r\n";

#[test]
fn a_message_with_its_own_list_unsubscribe_is_refused() {
    let ada = ada();
    let message = Message::new("weekly", Recipient::new(NOW).with_pseudonym(&ada));
    let refused = |raw: &str, options: &MessageOptions| {
        rewrite_message(&tracker(), &message, options, raw.as_bytes()).unwrap_err()
    };
    for field in [
        "List-Unsubscribe: <mailto:leave@lists.example>\r\n",
        "list-unsubscribe: <https://lists.example/leave>\r\n",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
    ] {
        let raw = format!("{field}{NO_PLACEHOLDER}");
        assert_eq!(
            refused(&raw, &options(None)),
            MessageError::ListUnsubscribeExists,
            "{field}"
        );
        // Without the option the field is the sender's business.
        let kept = rewrite_message(&tracker(), &message, &MessageOptions::default(), raw.as_bytes()).unwrap();
        assert!(kept.message.starts_with(field.as_bytes()));
    }
    let mut twice = options(None);
    twice.add_headers = vec![HeaderField::new("LIST-UNSUBSCRIBE", "<mailto:x@lists.example>")];
    assert_eq!(
        refused(NO_PLACEHOLDER, &twice),
        MessageError::ListUnsubscribeExists
    );

    // A field of a nested part or an encapsulated message is not the message's own.
    let nested = NO_PLACEHOLDER.replace(
        "Content-Type: text/plain\r\n",
        "Content-Type: text/plain\r\nList-Unsubscribe: <mailto:x@lists.example>\r\n",
    );
    let out = rewrite_message(&tracker(), &message, &options(None), nested.as_bytes()).unwrap();
    one_click_url(&out.message);
}

#[test]
fn no_recipient_and_dkim_signatures_are_refused() {
    let anonymous = Message::new("weekly", Recipient::new(NOW));
    let err = rewrite_message(&tracker(), &anonymous, &options(None), NO_PLACEHOLDER.as_bytes()).unwrap_err();
    assert_eq!(err, MessageError::UnsubscribeNeedsRecipient);
    assert!(err.to_string().contains("pseudonym"));

    let ada = ada();
    let message = Message::new("weekly", Recipient::new(NOW).with_pseudonym(&ada));
    let signed =
        format!("DKIM-Signature: v=1; a=rsa-sha256; d=shop.example; s=s1; b=abc\r\n{NO_PLACEHOLDER}");
    let err = rewrite_message(&tracker(), &message, &options(None), signed.as_bytes()).unwrap_err();
    assert_eq!(err, MessageError::DkimSigned);
    // Allowed explicitly, the headers are added (after the signature, which they break).
    let mut allowed = options(None);
    allowed.allow_dkim_signed = true;
    let out = rewrite_message(&tracker(), &message, &allowed, signed.as_bytes()).unwrap();
    one_click_url(&out.message);
    assert!(out.message.starts_with(b"DKIM-Signature: "));

    // A message without a header block to add them to.
    let err = rewrite_message(&tracker(), &message, &options(None), b"From: a@example.com\r\n").unwrap_err();
    assert_eq!(err, MessageError::NoHeaderBlock);
}
