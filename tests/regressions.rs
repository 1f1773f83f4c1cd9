//! Regression tests for defects found by fuzzing and review, one test per finding, each
//! named after what went wrong.

mod common;

use hashbeacon::{Key, KeyId, Keyring};

fn key(id: &str, byte: u8) -> Result<Key, hashbeacon::KeyError> {
    Key::new(KeyId::new(id)?, &[byte; 32])
}

/// A comment line holding a comma was split at the comma and its second half read as a
/// malformed key, so a key file such as `# retired, kept for old mail` failed to load.
#[test]
fn keyring_comment_with_a_comma_is_ignored_whole() -> Result<(), hashbeacon::KeyError> {
    let (k2, k1) = (key("k2", 2)?, key("k1", 1)?);
    let text = format!(
        "# signing key, since 2026-03\n{}\n  # retired, kept for old mail\n{}\n",
        k2.to_text().as_str(),
        k1.to_text().as_str()
    );
    let ring = Keyring::from_text(&text)?;
    assert_eq!(ring.signing_key().id(), k2.id());
    assert_eq!(ring.verify_only_keys().len(), 1);
    assert_eq!(ring.get("k1").map(Key::id), Some(k1.id()));
    // Commas still separate keys on one line.
    let ring = Keyring::from_text(&format!("{},{}", k2.to_text().as_str(), k1.to_text().as_str()))?;
    assert_eq!(ring.verify_only_keys().len(), 1);
    Ok(())
}

/// An `<area>` is a void element, so the search for its link text ran on past it into
/// whatever followed (up to 2 KiB): an image-map link followed by an "Unsubscribe" link
/// was itself left untracked as an unsubscribe link. Its text is now its `alt`.
#[test]
fn an_area_is_judged_by_its_alt_text_not_by_what_follows_it() {
    use hashbeacon::rewrite::{Message, Options, Recipient, SkipReason, rewrite_html};

    let tracker = common::tracker();
    let message = Message::new("promo", Recipient::new(1_767_225_600));
    let html = br#"<map><area href="https://map.example/area" alt="Spring sale"></map>
        <a href="https://list.example/u?id=1">Unsubscribe</a>
        <map><area href="https://list.example/stop" alt="Unsubscribe"></map>"#;
    let out = rewrite_html(&tracker, &message, &Options::default(), html).unwrap();
    assert_eq!(common::tracked(&out), ["https://map.example/area"]);
    let skipped: Vec<_> = out
        .report
        .skipped
        .iter()
        .map(|link| (link.href.as_str(), &link.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            ("https://list.example/u?id=1", &SkipReason::Unsubscribe),
            ("https://list.example/stop", &SkipReason::Unsubscribe)
        ]
    );
}

/// Found by the `rewrite_html` fuzz target while re-rewriting was being made a no-op: a
/// body with two pixel placeholders lost its second one when rewritten again, because
/// the placeholder was removed even when no pixel or honeypot went in its place.
#[test]
fn rewriting_again_keeps_a_second_pixel_placeholder() {
    use hashbeacon::rewrite::{Message, Options, PixelPlacement, Recipient, rewrite_html};

    let tracker = common::tracker();
    let message = Message::new("promo", Recipient::new(1_767_225_600));
    let mut options = Options::default();
    options.pixel = PixelPlacement::Placeholder;
    options.honeypot = true;
    let html =
        b"<body><!--hashbeacon:pixel--><a href=\"https://a.example/\">a</a><!--hashbeacon:pixel--></body>";
    let first = rewrite_html(&tracker, &message, &options, html).unwrap();
    assert!(first.report.pixel && first.report.honeypot);
    assert!(first.body.ends_with(b"<!--hashbeacon:pixel--></body>"));
    let second = rewrite_html(&tracker, &message, &options, &first.body).unwrap();
    assert_eq!(second.body, first.body);
    // With nothing to put there at all, the author's placeholder stays too.
    options.opens = false;
    options.honeypot = false;
    let body = String::from_utf8(rewrite_html(&tracker, &message, &options, html).unwrap().body).unwrap();
    assert_eq!(body.matches("<!--hashbeacon:pixel-->").count(), 2);
}

/// Found by the `rewrite_html` fuzz target: a body without `</body>` that ends inside an
/// unterminated tag (or comment, or raw-text element) got the pixel appended there,
/// where it was no image — and its `>` completed the author's broken tag, which a
/// second rewrite then saw as a link. The pixel now goes at the very start instead.
#[test]
fn a_body_ending_inside_a_tag_gets_the_pixel_where_it_shows() {
    use hashbeacon::rewrite::{Message, Options, Recipient, rewrite_html};

    let tracker = common::tracker();
    let message = Message::new("promo", Recipient::new(1_767_225_600));
    let options = Options::default();
    for html in [
        &b"<p>Hi</p><a href=https://a.example/ data-hb-link=cta"[..],
        b"<p>Hi</p><a title=\"x>y",
        b"<p>Hi</p><!-- unterminated <a href=\"https://a.example/\">",
        b"<p>Hi</p><style>p { color: red }",
    ] {
        let first = rewrite_html(&tracker, &message, &options, html).unwrap();
        assert!(first.report.pixel);
        assert!(first.report.tracked.is_empty() && first.report.skipped.is_empty());
        assert!(first.body.starts_with(b"<img src=\"https://t.example.com/hb/o/"));
        assert!(first.body.ends_with(html), "the author's bytes follow, untouched");
        let second = rewrite_html(&tracker, &message, &options, &first.body).unwrap();
        assert_eq!(second.body, first.body);
    }
    // Ending where markup can start, the pixel goes at the end as before.
    let out = rewrite_html(&tracker, &message, &options, b"<p>a < b</p><").unwrap();
    assert!(out.body.starts_with(b"<p>a < b</p><<img src="));
}

/// Found by the `rewrite_text` fuzz target: a link that held the unsubscribe
/// placeholder inside it (`…?next=hashbeacon:unsubscribe`) was tracked with the
/// placeholder unfilled when unsubscribe wording was not looked for, and a second
/// rewrite then filled it inside the signed URL, so that its MAC no longer matched and
/// a click on it found nothing; with the wording looked for, the first rewrite filled
/// it in and the second tracked the link it made. Such a link is now left untracked as
/// an unsubscribe link, its placeholder filled in, and so is a link holding this
/// tracker's unsubscribe URL: rewriting the result again changes nothing.
#[test]
fn a_link_holding_the_unsubscribe_placeholder_is_filled_in_not_tracked() {
    use hashbeacon::PseudonymKey;
    use hashbeacon::rewrite::{Message, Options, Recipient, SkipReason, rewrite_html, rewrite_text};

    let tracker = common::tracker();
    let ada = PseudonymKey::new(&[0x42; 32])
        .unwrap()
        .pseudonym("ada@example.com");
    let message = Message::new("promo", Recipient::new(1_767_225_600).with_pseudonym(&ada));
    // Also with unsubscribe wording not looked for, which caught the first rewrite's
    // link by its "unsub" but not the second's.
    let mut wording_ignored = Options::default();
    wording_ignored.detect_unsubscribe = false;
    let leave = "https://list.example/leave?next=hashbeacon:unsubscribe";
    let html = format!(r#"<a href="{leave}">Leave</a> <a href="https://shop.example/">Shop</a>"#);
    let text = format!("Leave: {leave}\nShop: https://shop.example/\n");
    let bodies = [(html, true), (text, false)];
    for ((body, is_html), options) in bodies
        .iter()
        .flat_map(|b| [(b, Options::default()), (b, wording_ignored.clone())])
    {
        let rewrite = |body: &[u8]| {
            let rewrite = if *is_html { rewrite_html } else { rewrite_text };
            rewrite(&tracker, &message, &options, body).unwrap()
        };
        let first = rewrite(body.as_bytes());
        assert_eq!(common::tracked(&first), ["https://shop.example/"], "{body}");
        assert_eq!(first.report.skipped.len(), 1);
        assert_eq!(first.report.skipped[0].reason, SkipReason::Unsubscribe);
        assert_eq!(first.report.unsubscribe_links, 1);
        let out = String::from_utf8(first.body.clone()).unwrap();
        assert!(
            out.contains("https://list.example/leave?next=https://t.example.com/hb/u/1u."),
            "{out}"
        );
        assert!(!out.contains("hashbeacon:unsubscribe"), "{out}");
        let second = rewrite(&first.body);
        assert!(second.report.tracked.is_empty(), "{:?}", second.report.tracked);
        assert_eq!(second.body, first.body);
    }
}
