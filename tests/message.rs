//! `rewrite_message`: which parts are rewritten and how, what is kept byte for byte,
//! the DKIM guard, added headers, and malformed input.
#![cfg(feature = "message")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;
#[path = "common/mime.rs"]
mod mime;

use common::{BASE, NOW, tracker, verify};
use hashbeacon::message::{
    HeaderField, LeftAlone, MessageError, MessageOptions, PartOutcome, RewrittenMessage, TransferEncoding,
    rewrite_message,
};
use hashbeacon::rewrite::{Message, Recipient};

fn message() -> Message<'static> {
    Message::new("news", Recipient::new(NOW))
}

fn rewrite(raw: &[u8]) -> RewrittenMessage {
    rewrite_with(raw, &MessageOptions::default())
}

fn rewrite_with(raw: &[u8], options: &MessageOptions) -> RewrittenMessage {
    rewrite_message(&tracker(), &message(), options, raw).unwrap()
}

/// Rewrites and checks the result with the independent parser.
fn rewrite_checked(raw: &[u8]) -> (RewrittenMessage, mime::Seen) {
    let out = rewrite(raw);
    let seen = mime::check(&tracker(), &message(), &MessageOptions::default(), raw, &out);
    (out, seen)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn outcome<'a>(out: &'a RewrittenMessage, number: &str) -> &'a PartOutcome {
    &out.parts
        .iter()
        .find(|part| part.number == number)
        .unwrap()
        .outcome
}

fn pixel_count(bytes: &[u8]) -> usize {
    text(bytes).matches(&format!("{BASE}/o/")).count()
}

const NESTED: &str = "From: shop@example.com\r\n\
Subject: Spring\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
This is a preamble.\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=\"alt\"\r\n\
\r\n\
--alt\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Sale: https://shop.example/sale?a=3D1 and private https://shop.example/me\r\n\
Caf=C3=A9\r\n\
--alt\r\n\
Content-Type: multipart/related; boundary=\"rel\"\r\n\
\r\n\
--rel\r\n\
Content-Type: text/html; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
<html><body><p>Caf=E9 <a href=3D\"https://shop.example/sale?a=3D1\">Sale</a>\r\n\
<a data-hb-notrack href=3D\"https://shop.example/me\">Me</a></p></body></html>\r\n\
--rel\r\n\
Content-Type: image/png\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-ID: <logo>\r\n\
\r\n\
iVBORw0KGgo=\r\n\
--rel--\r\n\
--alt--\r\n\
--outer\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Disposition: attachment; filename=\"terms.html\"\r\n\
\r\n\
<a href=\"https://shop.example/terms\">Terms</a>\r\n\
--outer\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: old@example.com\r\n\
Content-Type: text/html\r\n\
\r\n\
<a href=\"https://old.example/\">Old</a>\r\n\
--outer--\r\n\
An epilogue.\r\n";

#[test]
fn rewrites_html_and_text_at_any_depth_and_leaves_the_rest() {
    let (out, seen) = rewrite_checked(NESTED.as_bytes());
    let numbers: Vec<(&str, &str)> = out
        .parts
        .iter()
        .map(|part| (part.number.as_str(), part.content_type.as_str()))
        .collect();
    assert_eq!(
        numbers,
        [
            ("1.1", "text/plain"),
            ("1.2.1", "text/html"),
            ("1.2.2", "image/png"),
            ("2", "text/html"),
            ("3", "message/rfc822"),
        ]
    );
    assert_eq!(seen.changed, 2);
    assert_eq!(
        *outcome(&out, "1.2.2"),
        PartOutcome::LeftAlone(LeftAlone::NotText)
    );
    assert_eq!(*outcome(&out, "2"), PartOutcome::LeftAlone(LeftAlone::Attachment));
    assert_eq!(
        *outcome(&out, "3"),
        PartOutcome::LeftAlone(LeftAlone::EncapsulatedMessage)
    );
    let body = text(&out.message);
    assert!(body.contains("<a href=\"https://shop.example/terms\">Terms</a>"));
    assert!(body.contains("<a href=\"https://old.example/\">Old</a>"));
    assert!(body.starts_with(&NESTED[..NESTED.find("--alt\r\nContent-Type: text/plain").unwrap()]));
    assert!(body.ends_with("--outer--\r\nAn epilogue.\r\n"));

    // The HTML is rewritten in its own charset; the link the author opted out there is
    // left alone in the text part too.
    let html = outcome(&out, "1.2.1").report().unwrap();
    assert_eq!((html.tracked.len(), html.pixel), (1, true));
    let plain = outcome(&out, "1.1").report().unwrap();
    assert_eq!(plain.tracked.len(), 1);
    assert_eq!(plain.tracked[0].destination, "https://shop.example/sale?a=1");
    assert_eq!(plain.skipped[0].href, "https://shop.example/me");
    assert!(body.contains("Caf=E9 <a href=3D\"https://t.example.com/hb/c/"));
    assert!(body.contains("Caf=C3=A9\r\n--alt\r\n"));
    assert_eq!(seen.pixels, 1);
}

#[test]
fn the_pixel_goes_only_into_the_last_html_alternative() {
    let raw = "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n\
<p><a href=\"https://a.example/\">A</a></p>\n--b\nContent-Type: text/html\n\n\
<p><a href=\"https://b.example/\">B</a></p>\n--b--\n";
    let (out, seen) = rewrite_checked(raw.as_bytes());
    let first = outcome(&out, "1").report().unwrap();
    let last = outcome(&out, "2").report().unwrap();
    assert_eq!((first.tracked.len(), first.pixel), (1, false));
    assert_eq!((last.tracked.len(), last.pixel), (1, true));
    assert_eq!((seen.pixels, pixel_count(&out.message)), (1, 1));
    // LF line endings stay LF.
    assert!(!out.message.contains(&b'\r'));
}

#[test]
fn a_recipient_who_opted_out_gets_the_message_unchanged() {
    let recipient = Recipient::new(NOW).opted_out(true);
    let out = rewrite_message(
        &tracker(),
        &Message::new("news", recipient),
        &MessageOptions::default(),
        NESTED.as_bytes(),
    )
    .unwrap();
    assert_eq!(out.message, NESTED.as_bytes());
    assert!(out.parts[0].outcome.report().unwrap().recipient_opted_out);
}

#[test]
fn a_dkim_signed_message_is_refused_unless_allowed() {
    let raw = "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; b=abc\r\n\
Content-Type: text/plain\r\n\r\nhttps://a.example/\r\n";
    let err =
        rewrite_message(&tracker(), &message(), &MessageOptions::default(), raw.as_bytes()).unwrap_err();
    assert_eq!(err, MessageError::DkimSigned);
    assert!(err.to_string().contains("DKIM-Signature"));

    let mut options = MessageOptions::default();
    options.allow_dkim_signed = true;
    let out = rewrite_with(raw.as_bytes(), &options);
    assert_eq!(outcome(&out, "1").report().unwrap().tracked.len(), 1);
    assert!(
        text(&out.message).starts_with("DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; b=abc\r\n")
    );
}

#[test]
fn header_fields_are_added_at_the_end_of_the_top_level_headers() {
    let raw = "From: a@example.com\nContent-Type: text/plain\n\nHello\n";
    let mut options = MessageOptions::default();
    options.add_headers = vec![
        HeaderField::new("List-Unsubscribe", "<https://shop.example/u/1>"),
        HeaderField::new("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ];
    let out = rewrite_with(raw.as_bytes(), &options);
    assert_eq!(
        text(&out.message),
        "From: a@example.com\nContent-Type: text/plain\nList-Unsubscribe: <https://shop.example/u/1>\n\
List-Unsubscribe-Post: List-Unsubscribe=One-Click\n\nHello\n"
    );

    for bad in [
        HeaderField::new("Bad Name", "x"),
        HeaderField::new("X-Injected", "a\r\nBcc: victim@example.com"),
        HeaderField::new("X-Long", "x".repeat(1000)),
    ] {
        options.add_headers = vec![bad.clone()];
        let err = rewrite_message(&tracker(), &message(), &options, raw.as_bytes()).unwrap_err();
        assert_eq!(err, MessageError::InvalidHeader(bad.name));
    }
}

#[test]
fn an_unencoded_part_becomes_quoted_printable_only_when_a_line_outgrows_998_bytes() {
    let long_line = format!("<p>{} <a href=\"https://a.example/x\">x</a></p>", "y".repeat(940));
    let short = "<p><a href=\"https://a.example/y\">y</a></p>";
    let raw = format!(
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\
Content-Transfer-Encoding: 7bit\r\n\r\n{long_line}\r\n--b\r\nContent-Type: text/html\r\n\r\n{long_line}\r\n\
--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{short}\r\n--b--\r\n"
    );
    let (out, seen) = rewrite_checked(raw.as_bytes());
    assert_eq!(seen.changed, 3);
    let switched = |number| match outcome(&out, number) {
        PartOutcome::Rewritten {
            encoding, changed_to, ..
        } => (*encoding, *changed_to),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        switched("1"),
        (
            TransferEncoding::SevenBit,
            Some(TransferEncoding::QuotedPrintable)
        )
    );
    assert_eq!(
        switched("2"),
        (
            TransferEncoding::SevenBit,
            Some(TransferEncoding::QuotedPrintable)
        )
    );
    assert_eq!(switched("3"), (TransferEncoding::EightBit, None));
    let body = text(&out.message);
    // The field is replaced in place in the first part and added to the second.
    assert!(body.contains(
        "--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>yyy"
    ));
    assert_eq!(
        body.matches("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
            .count(),
        2
    );
    assert!(body.lines().all(|line| line.len() <= 998));
    assert!(body.contains(&format!("<p><a href=\"{BASE}/c/")));
}

#[test]
fn base64_parts_are_rewrapped_at_76() {
    use base64::Engine as _;
    let html = format!(
        "<p>{}<a href=\"https://a.example/b64\">x</a></p>",
        "é".repeat(100)
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(&html);
    let wrapped: Vec<&str> = encoded
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let raw = format!(
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        wrapped.join("\r\n")
    );
    let (out, seen) = rewrite_checked(raw.as_bytes());
    assert_eq!(seen.changed, 1);
    let body = text(&out.message);
    let lines: Vec<&str> = body.split("\r\n").skip(3).filter(|l| !l.is_empty()).collect();
    assert!(lines.iter().all(|line| line.len() <= 76) && lines[0].len() == 76);
    assert!(body.ends_with("\r\n") && !body.ends_with("\r\n\r\n"));
}

#[test]
fn parts_in_an_unknown_charset_or_encoding_are_left_alone_and_reported() {
    let raw = "Content-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/html; charset=x-klingon\r\n\r\n<a href=\"https://a.example/\">a</a>\r\n\
--b\r\nContent-Type: text/plain; charset=utf-16le\r\n\r\nhttps://a.example/\r\n\
--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nhttps://a.example/\r\n\
--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!not base64!!\r\n\
--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n100% =off https://a.example/\r\n\
--b--\r\n";
    let (out, _) = rewrite_checked(raw.as_bytes());
    assert_eq!(out.message, raw.as_bytes());
    let reasons: Vec<LeftAlone> = out
        .parts
        .iter()
        .map(|part| match &part.outcome {
            PartOutcome::LeftAlone(reason) => reason.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            LeftAlone::UnknownCharset("x-klingon".into()),
            LeftAlone::UnknownCharset("utf-16le".into()),
            LeftAlone::UnknownEncoding("x-uuencode".into()),
            LeftAlone::BrokenEncoding(TransferEncoding::Base64),
            LeftAlone::BrokenEncoding(TransferEncoding::QuotedPrintable),
        ]
    );
    assert!(
        out.to_string()
            .contains("part 1 (text/html): left alone: unsupported charset `x-klingon`")
    );
}

#[test]
fn a_missing_closing_boundary_leaves_the_unterminated_part_alone() {
    let raw = "Content-Type: multipart/alternative; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nhttps://a.example/one\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<a href=\"https://a.example/two\">two</a>\r\n";
    let out = rewrite(raw.as_bytes());
    assert_eq!(out.parts.len(), 2);
    assert_eq!(*outcome(&out, "2"), PartOutcome::LeftAlone(LeftAlone::Malformed));
    assert_eq!(outcome(&out, "1").report().unwrap().tracked.len(), 1);
    let body = text(&out.message);
    assert!(
        body.ends_with("--b\r\nContent-Type: text/html\r\n\r\n<a href=\"https://a.example/two\">two</a>\r\n")
    );
    assert!(body.starts_with("Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhttps://t.example.com/hb/c/"));
}

#[test]
fn bare_lf_and_eight_bit_headers_are_kept_byte_for_byte() {
    // CRLF headers, a body with bare LF line breaks, raw Latin-1 and UTF-8 in headers.
    let mut raw = b"Subject: Caf\xe9 \xc3\xa9t\xc3\xa9\r\nFrom: \xff\xfe <a@example.com>\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(b"line one https://a.example/1\nline two=\nsoft\r\nline three\n");
    let (out, seen) = rewrite_checked(&raw);
    assert_eq!(seen.changed, 1);
    let head = b"Subject: Caf\xe9 \xc3\xa9t\xc3\xa9\r\nFrom: \xff\xfe <a@example.com>\r\n";
    assert!(out.message.starts_with(head));
    let report = outcome(&out, "1").report().unwrap();
    assert_eq!(report.tracked.len(), 1);
    let parsed = mailparse::parse_mail(&out.message).unwrap();
    let decoded = text(&parsed.get_body_raw().unwrap());
    let url = decoded[decoded.find(BASE).unwrap()..]
        .split_whitespace()
        .next()
        .unwrap();
    assert_eq!(verify(&tracker(), url).0, "https://a.example/1");
    // The body's CRLF breaks stay literal; its bare LFs are escaped, and decode back.
    assert!(text(&out.message).ends_with("line twosoft\r\nline three=0A"));
}

/// `depth` nested multiparts around an HTML part.
fn nested(depth: usize) -> String {
    let mut raw = String::from("Subject: deep\r\n");
    for level in 0..depth {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/html\r\n\r\n<a href=\"https://a.example/deep\">deep</a>\r\n");
    for level in (0..depth).rev() {
        raw.push_str(&format!("--b{level}--\r\n"));
    }
    raw
}

#[test]
fn a_hundred_levels_of_nesting_are_rewritten() {
    let raw = nested(100);
    let out = rewrite(raw.as_bytes());
    assert_eq!(out.parts.len(), 1);
    assert_eq!(out.parts[0].number, vec!["1"; 100].join("."));
    let report = out.parts[0].outcome.report().unwrap();
    assert_eq!((report.tracked.len(), report.pixel), (1, true));
    let deep = &raw[raw.find("<a href").unwrap()..];
    let body = text(&out.message);
    assert!(body.starts_with(&raw[..raw.find("<a href").unwrap()]));
    assert!(body.ends_with(&deep[deep.find("\r\n--b99--").unwrap()..]));
}

#[test]
fn nesting_deeper_than_128_levels_is_left_alone_whole() {
    let raw = nested(400);
    let out = rewrite(raw.as_bytes());
    assert_eq!(out.message, raw.as_bytes());
    assert_eq!(out.parts.len(), 1);
    assert_eq!(out.parts[0].outcome, PartOutcome::LeftAlone(LeftAlone::TooDeep));
}

#[test]
fn bad_calls_get_typed_errors() {
    let options = MessageOptions::default();
    let err = rewrite_message(&tracker(), &message(), &options, b"").unwrap_err();
    assert_eq!(err, MessageError::NotAMessage);
    let bad_campaign = Message::new("no spaces", Recipient::new(NOW));
    let err = rewrite_message(&tracker(), &bad_campaign, &options, NESTED.as_bytes()).unwrap_err();
    assert!(matches!(err, MessageError::Sign(_)), "{err:?}");
}

/// A `message/rfc822` part holding only another one's header trips an internal check
/// of the MIME parser (found by fuzzing): a build with debug assertions panics inside
/// it, which must not reach the caller; a release build's parser goes on.
#[test]
fn a_message_the_parser_trips_on_is_refused_not_a_panic() {
    let raw = b"Subject: nested\nContent-Type: multipart/mixed;\n boundary=b1\n\n--b1\n\
Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\ns \n\n--b1--\n";
    let options = MessageOptions::default();
    let result = rewrite_message(&tracker(), &message(), &options, raw);
    if cfg!(debug_assertions) {
        assert_eq!(result.unwrap_err(), MessageError::Unparseable);
    } else {
        // Nothing in it is rewritten: the message comes back as it was.
        assert_eq!(result.unwrap().message, raw);
    }
}

/// An HTML part in Windows-1252 whose header names no charset: its `<meta>` does.
fn latin_part(content_type: &str) -> Vec<u8> {
    let mut raw = format!(
        "From: shop@example.com\r\nSubject: Caf\r\nMIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n<html><head><meta charset=\"windows-1252\"></head><body>"
    )
    .into_bytes();
    raw.extend_from_slice(b"<a href=\"https://caf\xe9.example/\">Caf\xe9</a></body></html>\r\n");
    raw
}

#[test]
fn a_part_that_names_no_charset_is_read_in_the_one_its_body_declares() {
    let (out, seen) = rewrite_checked(&latin_part("text/html"));
    let PartOutcome::Rewritten { report, .. } = outcome(&out, "1") else {
        panic!("the part is rewritten: {out}");
    };
    assert_eq!(report.charset, hashbeacon::rewrite::Charset::windows_1252());
    assert_eq!(report.tracked.len(), 1, "{out}");
    assert_eq!(seen.tracked, 1);
    let url = text(&out.message)
        .split('"')
        .find(|value| value.starts_with(&format!("{BASE}/c/")))
        .unwrap()
        .to_owned();
    assert_eq!(verify(&tracker(), &url).0, "https://café.example/");

    // A charset the header does name wins over the body's.
    let (out, _) = rewrite_checked(&latin_part("text/html; charset=utf-8"));
    let PartOutcome::Rewritten { report, .. } = outcome(&out, "1") else {
        panic!("the part is rewritten: {out}");
    };
    assert_eq!(report.charset, hashbeacon::rewrite::Charset::utf_8());
    assert!(report.tracked.is_empty(), "the href is not UTF-8: left alone");
}
