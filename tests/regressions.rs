//! Regression tests for defects found by fuzzing and review, one test per finding, each
//! named after what went wrong.

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
    use hashbeacon::Tracker;
    use hashbeacon::rewrite::{Message, Options, Recipient, SkipReason, rewrite_html};

    let tracker = Tracker::new(key("k1", 7).unwrap().into(), "https://t.example.com/hb").unwrap();
    let message = Message::new("promo", Recipient::new(1_767_225_600));
    let html = br#"<map><area href="https://map.example/area" alt="Spring sale"></map>
        <a href="https://list.example/u?id=1">Unsubscribe</a>
        <map><area href="https://list.example/stop" alt="Unsubscribe"></map>"#;
    let out = rewrite_html(&tracker, &message, &Options::default(), html).unwrap();
    let tracked: Vec<_> = out
        .report
        .tracked
        .iter()
        .map(|link| link.destination.as_str())
        .collect();
    assert_eq!(tracked, ["https://map.example/area"]);
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
    use hashbeacon::Tracker;
    use hashbeacon::rewrite::{Message, Options, PixelPlacement, Recipient, rewrite_html};

    let tracker = Tracker::new(key("k1", 7).unwrap().into(), "https://t.example.com/hb").unwrap();
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
    use hashbeacon::Tracker;
    use hashbeacon::rewrite::{Message, Options, Recipient, rewrite_html};

    let tracker = Tracker::new(key("k1", 7).unwrap().into(), "https://t.example.com/hb").unwrap();
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
