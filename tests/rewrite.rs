//! HTML and plain-text rewriting: what is tracked, what is left alone, what is kept.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::{BASE, NOW, click_urls, destinations, pixels, tracker, verify};
use hashbeacon::rewrite::{
    Charset, CharsetSource, GMAIL_CLIP_BYTES, HONEYPOT_LABEL, Message, Options, PRESCAN_BYTES,
    PixelPlacement, Recipient, SkipReason, TrackLinks, Utm, Warning, rewrite_html, rewrite_text,
};
use hashbeacon::{Pseudonym, PseudonymKey, RewriteError, Rewritten, Tracker};

type Rewrite = fn(&Tracker, &Message<'_>, &Options, &[u8]) -> Result<Rewritten, RewriteError>;

fn run(rewrite: Rewrite, options: &Options, input: &str) -> (String, Rewritten) {
    let message = Message::new("spring", Recipient::new(NOW));
    let out = rewrite(&tracker(), &message, options, input.as_bytes()).unwrap();
    (String::from_utf8(out.body.clone()).unwrap(), out)
}

fn html(options: &Options, input: &str) -> (String, Rewritten) {
    run(rewrite_html, options, input)
}

fn text(options: &Options, input: &str) -> (String, Rewritten) {
    run(rewrite_text, options, input)
}

/// Click URLs in a plain-text body: each ends where the wire form of the destination the
/// report lists for it ends (text gives no closing quote to look for).
fn text_urls(body: &str, out: &Rewritten) -> Vec<common::Found> {
    let starts: Vec<usize> = body
        .match_indices(&format!("{BASE}/c/"))
        .map(|(at, _)| at)
        .collect();
    assert_eq!(starts.len(), out.report.tracked.len());
    starts
        .iter()
        .zip(&out.report.tracked)
        .map(|(&start, link)| {
            let query = start + body[start..].find('?').unwrap() + 1;
            let wire = hashbeacon::link::encode_destination(&link.destination);
            assert!(body[query..].starts_with(&*wire));
            common::Found {
                start,
                end: query + wire.len(),
                url: body[start..query + wire.len()].to_owned(),
            }
        })
        .collect()
}

fn text_destinations(body: &str, out: &Rewritten) -> Vec<String> {
    text_urls(body, out)
        .iter()
        .map(|f| verify(&tracker(), &f.url).0)
        .collect()
}

fn reasons(out: &Rewritten) -> Vec<(String, SkipReason)> {
    out.report
        .skipped
        .iter()
        .map(|s| (s.href.clone(), s.reason.clone()))
        .collect()
}

#[test]
fn tracks_http_links_and_leaves_other_schemes_alone() {
    let input = r##"<html><body>
<a href="https://shop.example/a?b=1">A</a> <area shape=rect href="http://map.example/">
<a href="mailto:x@y.example">m</a><a href="tel:+100">t</a><a href="sms:+100">s</a>
<a href="#top">#</a><a href="/relative">r</a><a href="">e</a><a href="https:shop.example">x</a>
</body></html>"##;
    let (body, out) = html(&Options::default(), input);
    assert_eq!(
        destinations(&tracker(), &body),
        ["https://shop.example/a?b=1", "http://map.example/"]
    );
    assert_eq!(out.report.tracked.len(), 2);
    assert_eq!(out.report.tracked[1].id, "1");
    let skipped = reasons(&out);
    assert_eq!(skipped.len(), 7);
    assert!(skipped.iter().all(|(_, reason)| *reason == SkipReason::NotHttp));
    for kept in [
        r#"href="mailto:x@y.example""#,
        r#"href="tel:+100""#,
        r##"href="#top""##,
        r#"href="/relative""#,
        r#"href="""#,
    ] {
        assert!(body.contains(kept), "{kept}");
    }
}

#[test]
fn decodes_entities_before_signing_and_escapes_on_output() {
    let input = r#"<a href="https://s.example/?a=1&amp;b=2&#038;c=3&#x26;d=&quot;x&quot;">x</a>"#;
    let (body, _) = html(&Options::default(), input);
    assert_eq!(
        destinations(&tracker(), &body),
        [r#"https://s.example/?a=1&b=2&c=3&d="x""#]
    );
    let url = &click_urls(&body)[0];
    let raw = &body[url.start..url.end];
    assert!(
        raw.ends_with("?https://s.example/?a=1&amp;b=2&amp;c=3&amp;d=%22x%22"),
        "{raw}"
    );
    assert!(!raw.replace("&amp;", "").contains('&'));
}

#[test]
fn never_re_encodes_the_destination() {
    let dest = "https://s.example/a%2Fb/ä ö?q=1+2&r=%41%zz&s='x'#frag/ment";
    let (body, _) = html(&Options::default(), &format!("<a href=\"{dest}\">x</a>"));
    assert_eq!(destinations(&tracker(), &body), [dest]);
}

#[test]
fn trims_whitespace_and_drops_newlines_like_a_browser() {
    let (body, _) = html(
        &Options::default(),
        "<a href=\"\n  https://s.example/a\tb\r\n  \">x</a>",
    );
    assert_eq!(destinations(&tracker(), &body), ["https://s.example/ab"]);
}

#[test]
fn unquoted_and_single_quoted_hrefs() {
    let (body, _) = html(
        &Options::default(),
        "<a href=https://s.example/u?a=1&amp;b=2>u</a><a href='https://s.example/q'>q</a>",
    );
    assert_eq!(
        destinations(&tracker(), &body),
        ["https://s.example/u?a=1&b=2", "https://s.example/q"]
    );
    assert!(body.starts_with(&format!("<a href=\"{BASE}/c/")));
    assert!(body.contains(&format!("<a href='{BASE}/c/")));
}

#[test]
fn tracks_outlook_buttons_in_conditional_comments() {
    let input = r#"<body><!--[if mso]><v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="https://s.example/cta?a=1&amp;b=2" style="height:45px" arcsize="7%"><center>Go</center></v:roundrect><![endif]--><!--[if !mso]><!--><a href="https://s.example/cta?a=1&amp;b=2">Go</a><!--<![endif]--><!-- <a href="https://s.example/plain-comment"> --></body>"#;
    let (body, out) = html(&Options::default(), input);
    assert_eq!(
        destinations(&tracker(), &body),
        ["https://s.example/cta?a=1&b=2", "https://s.example/cta?a=1&b=2"]
    );
    assert_eq!(out.report.tracked.len(), 2);
    assert!(body.contains(r#"<!-- <a href="https://s.example/plain-comment"> -->"#));
    assert!(body.contains("<![endif]-->"));
}

#[test]
fn leaves_placeholders_alone() {
    let input = r#"<a href="{{action_url}}">a</a><a href="https://s.example/?u={{ id }}">b</a><a href="*|ARCHIVE|*">c</a><a href="https://s.example/?e=%EMAIL%">d</a><a href="[webversion]">e</a><a href="<%asm_url%>">f</a><a href="https://s.example/{$x}">g</a><a href="https://s.example/{%u%}">h</a>"#;
    let (body, out) = html(&Options::default(), input);
    assert_eq!(body.replace(&body[body.find("<img").unwrap()..], ""), input);
    assert!(reasons(&out).iter().all(|(_, r)| *r == SkipReason::Placeholder));
    assert_eq!(out.report.skipped.len(), 8);
}

#[test]
fn leaves_unsubscribe_links_alone() {
    let input = r#"<a href="https://s.example/unsubscribe?u=1">x</a><a href="https://s.example/p?u=2"><b>Unsubscribe</b></a><a href="https://s.example/keep">Subscribe</a>"#;
    let (body, out) = html(&Options::default(), input);
    assert_eq!(destinations(&tracker(), &body), ["https://s.example/keep"]);
    assert_eq!(
        reasons(&out).iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
        [SkipReason::Unsubscribe, SkipReason::Unsubscribe]
    );
    let mut options = Options::default();
    options.detect_unsubscribe = false;
    let (body, _) = html(&options, input);
    assert_eq!(destinations(&tracker(), &body).len(), 3);
}

#[test]
fn honours_every_opt_out_attribute_in_any_value_form() {
    let cases = [
        r#"<a href="https://s.example/" data-hb-notrack>x</a>"#,
        r#"<a data-hb-notrack="" href="https://s.example/">x</a>"#,
        r#"<a href="https://s.example/" DATA-HB-NOTRACK="true">x</a>"#,
        r#"<a href="https://s.example/" clicktracking="off">x</a>"#,
        r#"<a href="https://s.example/" clicktracking=OFF>x</a>"#,
        r#"<a href="https://s.example/" ClickTracking = 'Off' >x</a>"#,
        r#"<a href="https://s.example/" data-pm-no-track>x</a>"#,
        r#"<a href="https://s.example/" disable-tracking="true">x</a>"#,
        r#"<a href="https://s.example/" disable-tracking=TRUE>x</a>"#,
        r#"<a href="https://s.example/" ses:no-track>x</a>"#,
        r#"<a href="https://s.example/" mc:disable-tracking>x</a>"#,
        r#"<a href="https://s.example/" data-mautic-disable-tracking="1">x</a>"#,
    ];
    for input in cases {
        let (body, out) = html(&Options::default(), input);
        assert!(click_urls(&body).is_empty(), "{input}");
        assert!(
            matches!(reasons(&out)[0].1, SkipReason::OptedOut { .. }),
            "{input}"
        );
        assert!(!body.to_ascii_lowercase().contains("data-hb-"), "{body}");
        if !input.to_ascii_lowercase().contains("data-hb-") {
            assert!(body.starts_with(input), "{input}");
        }
    }
    assert_eq!(
        html(
            &Options::default(),
            r#"<a data-hb-notrack href="https://s.example/">x</a>"#
        )
        .0[..r#"<a href="https://s.example/">"#.len()],
        *r#"<a href="https://s.example/">"#
    );
    for input in [
        r#"<a href="https://s.example/" clicktracking="on">x</a>"#,
        r#"<a href="https://s.example/" disable-tracking="false">x</a>"#,
    ] {
        assert_eq!(
            click_urls(&html(&Options::default(), input).0).len(),
            1,
            "{input}"
        );
    }
}

#[test]
fn opt_outs_in_html_carry_over_to_the_text_part() {
    let (_, out) = html(
        &Options::default(),
        r#"<a href="https://s.example/private" data-hb-notrack>p</a><a href="https://s.example/u">Unsubscribe</a><a href="https://s.example/ok">ok</a>"#,
    );
    let mut options = Options::default();
    options
        .leave_alone
        .extend(out.report.left_alone_by_author().map(str::to_owned));
    let input = "Private: https://s.example/private\nLeave: https://s.example/u\nOK: https://s.example/ok\n";
    let (body, out) = text(&options, input);
    assert_eq!(text_destinations(&body, &out), ["https://s.example/ok"]);
    assert!(body.starts_with("Private: https://s.example/private\nLeave: https://s.example/u\nOK: "));
    assert_eq!(reasons(&out)[0].1, SkipReason::LeftAlone);
}

#[test]
fn skips_links_whose_tracked_url_would_be_too_long() {
    let long = format!("https://s.example/{}", "a".repeat(1900));
    let (body, out) = html(
        &Options::default(),
        &format!("<a href=\"{long}\">x</a><a href=\"https://s.example/\">y</a>"),
    );
    assert_eq!(destinations(&tracker(), &body), ["https://s.example/"]);
    match &reasons(&out)[0].1 {
        SkipReason::TooLong { len, max } => assert!(*len > *max && *max == 1800),
        other => panic!("{other:?}"),
    }
    let mut options = Options::default();
    options.max_url_len = 100;
    assert!(click_urls(&html(&options, "<a href=\"https://s.example/\">y</a>").0).is_empty());
    // Every tracked URL respects the limit for any recipient: the bound is the worst case.
    let pseudonym = PseudonymKey::new(&[3u8; 32]).unwrap().pseudonym("a@b.example");
    let mut options = Options::default();
    options.max_url_len = 140;
    let msg = Message::new(
        "spring",
        Recipient::new(u64::MAX)
            .with_pseudonym(&pseudonym)
            .expiring_at(u64::MAX),
    );
    let out = rewrite_html(
        &tracker(),
        &msg,
        &options,
        b"<a href=\"https://s.example/x\">y</a>",
    )
    .unwrap();
    for found in click_urls(&String::from_utf8(out.body).unwrap()) {
        assert!(found.url.len() <= 140, "{}", found.url.len());
    }
}

#[test]
fn places_the_pixel() {
    let input = "<html><body class=\"x\"><p>Hi</p></body></html>";
    let (body, out) = html(&Options::default(), input);
    assert!(out.report.pixel);
    let pixel_at = body.find("<img").unwrap();
    assert_eq!(&body[..pixel_at], "<html><body class=\"x\"><p>Hi</p>");
    assert!(body.ends_with(".gif\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;width:1px;height:1px;border:0\"></body></html>"));

    let mut options = Options::default();
    options.pixel = PixelPlacement::Top;
    let (body, _) = html(&options, input);
    assert!(body.starts_with("<html><body class=\"x\"><img src="));

    options.pixel = PixelPlacement::Placeholder;
    let (body, out) = html(&options, "<body><p>A</p><!-- hashbeacon:pixel --><p>B</p></body>");
    assert!(body.starts_with("<body><p>A</p><img src="));
    assert!(body.ends_with("><p>B</p></body>"));
    assert!(out.report.warnings().is_empty());
    let (body, out) = html(&options, "<body><p>A</p></body>");
    assert_eq!(pixels(&body), 1);
    assert!(body.ends_with("></body>"));
    assert_eq!(out.report.warnings(), [Warning::PixelPlaceholderMissing]);

    // No </body> (implicitly closed or a fragment): at the end.
    for input in ["<html><body><p>Hi</p>", "<p>Hi</p>", ""] {
        let (body, _) = html(&Options::default(), input);
        assert!(body.starts_with(input) && body.ends_with("border:0\">"), "{body}");
    }

    let mut options = Options::default();
    options.opens = false;
    let (body, out) = html(&options, input);
    assert_eq!((body.as_str(), out.report.pixel), (input, false));
}

#[test]
fn the_open_pixel_verifies() {
    let (body, _) = html(&Options::default(), "<body></body>");
    let start = body.find(&format!("{BASE}/o/")).unwrap();
    let url = &body[start..start + body[start..].find('"').unwrap()];
    let path = url::Url::parse(url).unwrap().path().to_owned();
    let open = tracker().verify_open(&path, NOW).unwrap();
    assert_eq!(open.claims.campaign, "spring");
}

#[test]
fn a_recipient_who_opted_out_gets_the_body_untouched() {
    let input = "<body><a href=\"https://s.example/\" data-hb-notrack>x</a><a href=\"https://s.example/\">y</a></body>";
    let message = Message::new("spring", Recipient::new(NOW).opted_out(true));
    let out = rewrite_html(&tracker(), &message, &Options::default(), input.as_bytes()).unwrap();
    assert_eq!(out.body, input.as_bytes());
    assert!(out.report.recipient_opted_out && !out.report.pixel && out.report.tracked.is_empty());
    let out = rewrite_text(&tracker(), &message, &Options::default(), b"https://s.example/").unwrap();
    assert_eq!(out.body, b"https://s.example/");
}

#[test]
fn per_message_switches() {
    let page = "<body><a href=\"https://s.example/\">x</a></body>";
    let plain = "Go: https://s.example/";
    let run = |links: TrackLinks, opens: bool| {
        let mut options = Options::default();
        options.links = links;
        options.opens = opens;
        let (h, _) = html(&options, page);
        let (t, _) = text(&options, plain);
        (
            click_urls(&h).len(),
            pixels(&h),
            t.matches(&format!("{BASE}/c/")).count(),
        )
    };
    assert_eq!(run(TrackLinks::HtmlAndText, true), (1, 1, 1));
    assert_eq!(run(TrackLinks::HtmlOnly, true), (1, 1, 0));
    assert_eq!(run(TrackLinks::TextOnly, true), (0, 1, 1));
    assert_eq!(run(TrackLinks::None, true), (0, 1, 0));
    assert_eq!(run(TrackLinks::None, false), (0, 0, 0));
}

#[test]
fn link_ids_by_position_or_label() {
    let input = r#"<a href="https://s.example/1">1</a><a data-hb-link="cta" href="https://s.example/2">2</a><a href="mailto:x@y.example">m</a><a href="https://s.example/3" data-hb-link="9bad">3</a>"#;
    let (body, out) = html(&Options::default(), input);
    let ids: Vec<_> = click_urls(&body)
        .iter()
        .map(|f| verify(&tracker(), &f.url).1)
        .collect();
    assert_eq!(ids, ["0", "cta", "2"]);
    assert!(!body.contains("data-hb-link"));
    assert_eq!(out.report.notes, [Warning::InvalidLinkLabel("9bad".to_owned())]);
}

#[test]
fn utm_tags_go_before_the_fragment_and_never_overwrite() {
    let mut options = Options::default();
    options.utm = Some(Utm::new("newsletter"));
    let (body, _) = html(
        &options,
        r#"<a href="https://s.example/p#top">a</a><a href="https://s.example/?utm_source=mine&amp;x=1">b</a>"#,
    );
    assert_eq!(
        destinations(&tracker(), &body),
        [
            "https://s.example/p?utm_source=newsletter&utm_medium=email&utm_campaign=spring#top",
            "https://s.example/?utm_source=mine&x=1&utm_medium=email&utm_campaign=spring",
        ]
    );
}

#[test]
fn honeypot_link_is_hidden_and_labelled() {
    let mut options = Options::default();
    options.honeypot = true;
    let (body, out) = html(&options, "<body><p>x</p></body>");
    assert!(out.report.honeypot);
    let urls = click_urls(&body);
    assert_eq!(urls.len(), 1);
    assert_eq!(
        verify(&tracker(), &urls[0].url),
        (format!("{BASE}/"), HONEYPOT_LABEL.to_owned())
    );
    assert!(body.contains("display:none"));
}

#[test]
fn keeps_a_legacy_charset() {
    // "café" and a link with "é" in Windows-1252.
    let mut input =
        b"<meta charset=\"iso-8859-1\"><p>caf\xE9</p><a href=\"https://s.example/caf\xE9?a=1&amp;b\">x</a>"
            .to_vec();
    input.extend_from_slice(b"</body>");
    let mut options = Options::default();
    options.charset = Some(Charset::from_label("iso-8859-1").unwrap());
    let out = rewrite_html(
        &tracker(),
        &Message::new("spring", Recipient::new(NOW)),
        &options,
        &input,
    )
    .unwrap();
    assert!(
        out.body
            .starts_with(b"<meta charset=\"iso-8859-1\"><p>caf\xE9</p><a href=\"")
    );
    // Tracked URLs are ASCII; the rest stays Windows-1252.
    let body = String::from_utf8_lossy(&out.body);
    assert_eq!(destinations(&tracker(), &body), ["https://s.example/café?a=1&b"]);
    // The same bytes are not valid UTF-8: read as UTF-8, that href is left alone,
    // never mangled.
    options.charset = Some(Charset::utf_8());
    let out = rewrite_html(
        &tracker(),
        &Message::new("spring", Recipient::new(NOW)),
        &options,
        &input,
    )
    .unwrap();
    assert_eq!(reasons(&out)[0].1, SkipReason::Encoding);
    assert_eq!(out.report.charset_source, CharsetSource::Given);
    assert!(out.body.starts_with(&input[..input.len() - 7]));
}

/// A Windows-1252 body whose one link holds "café", behind a charset declaration.
fn latin_body(declaration: &str) -> Vec<u8> {
    let mut input = format!("<html><head>{declaration}</head><body><p>caf").into_bytes();
    input.extend_from_slice(b"\xE9</p><a href=\"https://s.example/caf\xE9\">x</a></body></html>");
    input
}

fn rewrite_bytes(options: &Options, input: &[u8]) -> Rewritten {
    rewrite_html(
        &tracker(),
        &Message::new("spring", Recipient::new(NOW)),
        options,
        input,
    )
    .unwrap()
}

#[test]
fn finds_the_charset_a_meta_declares_when_none_is_given() {
    for declaration in [
        "<meta charset=\"windows-1252\">",
        "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\">",
        "<META CONTENT='text/html;charset=latin1' HTTP-EQUIV='content-type'>",
    ] {
        let out = rewrite_bytes(&Options::default(), &latin_body(declaration));
        assert_eq!(out.report.charset, Charset::windows_1252(), "{declaration}");
        assert_eq!(out.report.charset_source, CharsetSource::Meta);
        let body = String::from_utf8_lossy(&out.body);
        assert_eq!(
            destinations(&tracker(), &body),
            ["https://s.example/café"],
            "{declaration}"
        );
        // Every byte but the tracked URL and the pixel is the input's, in its charset.
        assert!(out.body.windows(5).any(|w| w == b"caf\xE9<"));
    }
}

#[test]
fn a_content_charset_without_the_pragma_is_not_a_declaration() {
    let out = rewrite_bytes(
        &Options::default(),
        &latin_body("<meta name=\"x\" content=\"charset=iso-8859-1\">"),
    );
    assert_eq!(
        (out.report.charset, out.report.charset_source),
        (Charset::utf_8(), CharsetSource::Default)
    );
    assert_eq!(reasons(&out)[0].1, SkipReason::Encoding);
}

#[test]
fn a_meta_past_the_first_1024_bytes_is_not_read() {
    let padding = format!("<!-- {} -->", "x".repeat(PRESCAN_BYTES));
    let out = rewrite_bytes(
        &Options::default(),
        &latin_body(&format!("{padding}<meta charset=\"windows-1252\">")),
    );
    assert_eq!(out.report.charset_source, CharsetSource::Default);
    assert_eq!(reasons(&out)[0].1, SkipReason::Encoding);
}

#[test]
fn a_given_charset_wins_and_a_byte_order_mark_wins_over_a_meta() {
    let mut options = Options::default();
    options.charset = Some(Charset::windows_1252());
    let input = latin_body("<meta charset=\"utf-8\">");
    let out = rewrite_bytes(&options, &input);
    assert_eq!(out.report.charset_source, CharsetSource::Given);
    assert_eq!(
        destinations(&tracker(), &String::from_utf8_lossy(&out.body)),
        ["https://s.example/café"]
    );

    let utf8 = "\u{FEFF}<meta charset=\"windows-1252\"><a href=\"https://s.example/café\">x</a>";
    let out = rewrite_bytes(&Options::default(), utf8.as_bytes());
    assert_eq!(
        (out.report.charset, out.report.charset_source),
        (Charset::utf_8(), CharsetSource::ByteOrderMark)
    );
    assert_eq!(
        destinations(&tracker(), &String::from_utf8(out.body).unwrap()),
        ["https://s.example/café"]
    );
}

#[test]
fn a_utf_16_body_is_an_error_not_a_silent_pass() {
    let utf16: Vec<u8> = "\u{FEFF}<a href=\"https://s.example/\">x</a>"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let message = Message::new("spring", Recipient::new(NOW));
    let err = rewrite_html(&tracker(), &message, &Options::default(), &utf16).unwrap_err();
    assert_eq!(err, RewriteError::Charset("UTF-16LE".to_owned()));
    assert!(
        err.to_string().contains("unsupported charset `UTF-16LE`"),
        "{err}"
    );
}

#[test]
fn plain_text_reads_no_meta() {
    let input = b"<meta charset=\"windows-1252\"> https://s.example/caf\xE9\n";
    let message = Message::new("spring", Recipient::new(NOW));
    let out = rewrite_text(&tracker(), &message, &Options::default(), input).unwrap();
    assert_eq!(out.report.charset_source, CharsetSource::Default);
    assert_eq!(reasons(&out)[0].1, SkipReason::Encoding);
}

#[test]
fn reports_sizes_and_gmail_clipping() {
    let big = format!("<body>{}</body>", "x".repeat(GMAIL_CLIP_BYTES));
    let (_, out) = html(&Options::default(), &big);
    assert_eq!(out.report.bytes_before, big.len());
    assert!(out.report.bytes_after.unwrap() > big.len());
    assert!(matches!(
        out.report.warnings()[..],
        [Warning::GmailClipping { .. }]
    ));
    let (_, out) = html(&Options::default(), "<body></body>");
    assert!(out.report.warnings().is_empty());
    assert!(
        out.report
            .to_string()
            .starts_with("tracked 0 link(s), left 0 alone; 13 -> ")
    );
}

#[test]
fn rejects_an_invalid_campaign_or_expiry() {
    let bad = rewrite_html(
        &tracker(),
        &Message::new("no spaces", Recipient::new(NOW)),
        &Options::default(),
        b"",
    );
    assert!(bad.is_err());
    let bad = Recipient::new(NOW).expiring_at(NOW - 1);
    assert!(rewrite_html(&tracker(), &Message::new("ok", bad), &Options::default(), b"<p>").is_err());
}

#[test]
fn recipient_pseudonym_travels_in_the_token() {
    let pseudonym: Pseudonym = PseudonymKey::new(&[3u8; 32])
        .unwrap()
        .pseudonym("ada@example.com");
    let message = Message::new("spring", Recipient::new(NOW).with_pseudonym(&pseudonym));
    let out = rewrite_html(
        &tracker(),
        &message,
        &Options::default(),
        b"<a href=\"https://s.example/\">x</a>",
    )
    .unwrap();
    let body = String::from_utf8(out.body).unwrap();
    let url = url::Url::parse(&click_urls(&body)[0].url).unwrap();
    let click = tracker().verify_click(url.path(), url.query(), NOW).unwrap();
    assert_eq!(click.verified.claims.recipient, Some(pseudonym.as_str()));
}

#[test]
fn plain_text_urls() {
    let input = "Hi!\nRead <https://s.example/a?b=1&c=2>, then https://s.example/b/.\n(https://s.example/c) and 'https://s.example/d'! Done: https://s.example/e?\nmailto:x@y.example http://";
    let (body, out) = text(&Options::default(), input);
    assert_eq!(
        text_destinations(&body, &out),
        [
            "https://s.example/a?b=1&c=2",
            "https://s.example/b/",
            "https://s.example/c",
            "https://s.example/d",
            "https://s.example/e"
        ]
    );
    // Everything but the URLs is byte-identical.
    let mut rebuilt = String::new();
    let mut at = 0;
    for (found, link) in text_urls(&body, &out).iter().zip(&out.report.tracked) {
        rebuilt.push_str(&body[at..found.start]);
        rebuilt.push_str(&link.destination);
        at = found.end;
    }
    rebuilt.push_str(&body[at..]);
    assert_eq!(rebuilt, input);
    let (body, out) = text(
        &Options::default(),
        "To unsubscribe visit https://s.example/p/123\n",
    );
    assert!(!body.contains(BASE));
    assert_eq!(reasons(&out)[0].1, SkipReason::Unsubscribe);
}

/// A tracking base whose host could end an HTML attribute is refused: the WHATWG URL
/// rules let a domain hold `"`, `'`, `` ` ``, `{`, `}` and more, and the base is written
/// into every tracked body's `href` and `src` attributes.
#[test]
fn tracker_accepts_only_plain_hosts() {
    let key = || hashbeacon::Key::new(hashbeacon::KeyId::new("k1").unwrap(), &[7; 32]).unwrap();
    for hostile in [
        "https://t.example.com\"onload=\"alert(1)/hb",
        "https://t.example.com'x/hb",
        "https://t.example.com`x/hb",
        "https://{{host}}/hb",
        "https://t.example.com}/hb",
        "https://t.exa%22mple.com/hb",
        "https://t.exa%27mple.com/",
        "https://t.example.com!$&()*+,;=/",
        "https://t.example.com<x>/hb",
        "https://t.exa mple.com/hb",
        "https://t..example.com/hb",
    ] {
        assert!(
            hashbeacon::Tracker::new(key().into(), hostile).is_err(),
            "{hostile}"
        );
    }
    for (plain, base) in [
        ("https://T.Example.com/hb/", "https://t.example.com/hb"),
        ("https://bücher.example/", "https://xn--bcher-kva.example"),
        ("http://203.0.113.7:8080/t", "http://203.0.113.7:8080/t"),
        ("https://[2001:db8::1]/", "https://[2001:db8::1]"),
        (
            "https://click_host.example.com./",
            "https://click_host.example.com.",
        ),
    ] {
        let tracker = hashbeacon::Tracker::new(key().into(), plain).unwrap();
        assert_eq!(tracker.base_url(), base);
    }
}

#[test]
fn a_templates_own_report_claims_nothing_it_has_not_rendered() {
    let mut options = Options::default();
    options.honeypot = true;
    let input = br#"<p><a href="https://shop.example/">Shop</a></p>"#;
    let template = hashbeacon::Template::html(&tracker(), "spring", &options, input).unwrap();
    let report = template.report();
    assert_eq!(report.bytes_after, None);
    assert!(report.warnings().is_empty());
    assert_eq!(
        report.to_string(),
        format!(
            "tracked 1 link(s), left 0 alone; {} bytes, not rendered yet; open pixel to insert on \
             render; honeypot link to insert on render",
            input.len()
        )
    );

    let out = template.render(&Recipient::new(NOW)).unwrap();
    assert_eq!(out.report.bytes_after, Some(out.body.len()));
    assert_eq!(
        out.report.to_string(),
        format!(
            "tracked 1 link(s), left 0 alone; {} -> {} bytes; open pixel inserted; honeypot link \
             inserted",
            input.len(),
            out.body.len()
        )
    );
}
