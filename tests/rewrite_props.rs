//! Property tests: destinations survive a browser exactly, templates render exactly
//! what a rewrite from scratch produces, and no input makes rewriting fail or panic.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::{NOW, click_urls, pixels, tracker};
use hashbeacon::link::check_destination;
use hashbeacon::rewrite::{
    HONEYPOT_LABEL, Message, Options, Recipient, Template, rewrite_html, rewrite_text,
};
use hashbeacon::{Claims, Kind, LinkId, PseudonymKey};
use proptest::prelude::*;

/// Characters an author may put in a path, query or fragment, raw: RFC 3986's, the ones
/// browsers fix up (space, quotes, `<>`, `\`, `^`, backquote, braces, `|`), `%` with and
/// without hex digits, and non-ASCII.
const URL_CHARS: &str = "[a-zA-Z0-9._~!$&'()*+,;=:@/?%\" <>\\\\^`{|}éß中😀-]";

fn url_part(prefix: &'static str, max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        proptest::collection::vec(
            prop_oneof![
                3 => proptest::string::string_regex(URL_CHARS).unwrap(),
                1 => "%[0-9A-Fa-f]{2}",
                1 => Just("%2F".to_owned()),
                1 => Just("%2e%2E".to_owned()),
                1 => Just("+".to_owned()),
                1 => Just("/../.".to_owned()),
            ],
            0..max
        )
        .prop_map(move |parts| format!("{prefix}{}", parts.concat())),
    ]
}

fn destination() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![Just("https"), Just("http"), Just("HTTPS")];
    let userinfo = prop_oneof![Just(""), Just("user@"), Just("user:pa%20ss@"), Just("a;b=c@")];
    let host = prop_oneof![
        "[a-z0-9]{1,10}(\\.[a-z0-9-]{1,10}){0,2}\\.example",
        Just("bücher.example".to_owned()),
        Just("例え.テスト".to_owned()),
        Just("XN--BCHER-KVA.example".to_owned()),
        Just("192.0.2.1".to_owned()),
        Just("[2001:db8::1]".to_owned()),
    ];
    let port = prop_oneof![Just(String::new()), (0u16..=65535).prop_map(|p| format!(":{p}"))];
    (
        scheme,
        userinfo,
        host,
        port,
        url_part("/", 6),
        url_part("?", 6),
        url_part("#", 4),
    )
        .prop_map(|(scheme, userinfo, host, port, path, query, fragment)| {
            format!("{scheme}://{userinfo}{host}{port}{path}{query}{fragment}")
        })
}

/// A URL as a browser sends it: tabs and newlines anywhere are stripped by the WHATWG
/// parser, which also normalizes the path and percent-encodes what it must.
fn as_sent(click_url: &str, noise: &[(usize, &str)]) -> url::Url {
    let mut mangled = click_url.to_owned();
    for (at, junk) in noise {
        let mut at = at % (mangled.len() + 1);
        while !mangled.is_char_boundary(at) {
            at -= 1;
        }
        mangled.insert_str(at, junk);
    }
    url::Url::parse(&mangled).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn destinations_survive_a_browser_exactly(
        dest in destination(),
        noise in proptest::collection::vec((any::<usize>(), prop_oneof![Just("\t"), Just("\n"), Just("\r\n")]), 0..4),
    ) {
        prop_assume!(check_destination(&dest).is_ok());
        let tracker = tracker();
        let claims = Claims { kind: Kind::Click, campaign: "c", link: Some(LinkId::Index(3)), recipient: None,
                              issued_at: NOW, expires_at: None };
        let click = tracker.click_url(&claims, &dest).unwrap();
        let sent = as_sent(&click, &noise);
        let verified = tracker.verify_click(sent.path(), sent.query(), NOW).unwrap();
        prop_assert_eq!(verified.destination().unwrap(), dest.as_str());
    }

    #[test]
    fn hrefs_survive_html_and_a_browser_exactly(dest in destination()) {
        prop_assume!(check_destination(&dest).is_ok());
        // The author's href, HTML-escaped as an editor writes it.
        let escaped = dest.replace('&', "&amp;").replace('"', "&quot;");
        let input = format!("<p><a href=\"{escaped}\" data-hb-link=\"cta\">x</a></p>");
        let mut options = Options::default();
        options.detect_unsubscribe = false;
        let out = rewrite_html(&tracker(), &Message::new("c", Recipient::new(NOW)), &options, input.as_bytes()).unwrap();
        let body = String::from_utf8(out.body).unwrap();
        let skipped_as_placeholder = out.report.skipped.len() == 1;
        let found = click_urls(&body);
        prop_assert_eq!(found.len() + usize::from(skipped_as_placeholder), 1);
        // A browser trims the href's surrounding whitespace; so does the rewriter.
        let href = dest.trim_matches(|c: char| c <= ' ');
        for found in found {
            let sent = as_sent(&found.url, &[]);
            let verified = tracker().verify_click(sent.path(), sent.query(), NOW).unwrap();
            prop_assert_eq!(verified.destination().unwrap(), href);
        }
    }
}

/// Pieces of an email body: tracked links of several shapes, links left alone, text.
fn body_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        destination().prop_map(|d| format!(
            "<a href=\"{}\">link</a>",
            d.replace('&', "&amp;").replace('"', "&quot;")
        )),
        destination().prop_map(|d| format!(
            "<area href='{}'>",
            d.replace('&', "&#038;").replace('\'', "&apos;")
        )),
        Just("<a href=\"https://s.example/?a=1&amp;b=2\" data-hb-link=\"cta\">cta</a>".to_owned()),
        Just("<a href=\"https://s.example/u\" data-hb-notrack>no</a>".to_owned()),
        Just("<a href=\"mailto:x@y.example\">m</a><a href=\"{{url}}\">p</a>".to_owned()),
        Just(
            "<!--[if mso]><v:roundrect href=\"https://s.example/vml\"></v:roundrect><![endif]-->".to_owned()
        ),
        Just("<a href=\"https://s.example/x\">Unsubscribe</a>".to_owned()),
        "[a-zA-Z &;<>/\"'=é\n]{0,40}",
    ]
}

fn html_body() -> impl Strategy<Value = String> {
    (proptest::collection::vec(body_piece(), 0..12), any::<bool>()).prop_map(|(pieces, wrap)| {
        let inner = pieces.concat();
        if wrap {
            format!("<html><body>{inner}</body></html>")
        } else {
            inner
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn templates_render_what_a_rewrite_from_scratch_produces(
        body in html_body(),
        recipients in proptest::collection::vec((any::<bool>(), 0u64..4_000_000_000, proptest::option::of(0u64..1000), any::<bool>()), 1..4),
        honeypot in any::<bool>(),
    ) {
        let tracker = tracker();
        let mut options = Options::default();
        options.honeypot = honeypot;
        let template = Template::html(&tracker, "c", &options, body.as_bytes()).unwrap();
        let pseudonyms = PseudonymKey::new(&[5u8; 32]).unwrap();
        for (index, (named, issued_at, ttl, opted_out)) in recipients.into_iter().enumerate() {
            let pseudonym = pseudonyms.pseudonym(&format!("r{index}@example.com"));
            let mut recipient = Recipient::new(issued_at).opted_out(opted_out);
            if named {
                recipient = recipient.with_pseudonym(&pseudonym);
            }
            if let Some(ttl) = ttl {
                recipient = recipient.expiring_at(issued_at + ttl);
            }
            let mut rendered = Vec::new();
            template.render_into(&recipient, &mut rendered).unwrap();
            let scratch = rewrite_html(&tracker, &Message::new("c", recipient), &options, body.as_bytes()).unwrap();
            prop_assert_eq!(&rendered, &scratch.body);
            if opted_out {
                prop_assert_eq!(&rendered, body.as_bytes());
                continue;
            }
            // Each tracked URL is exactly the one the tracker builds for that link alone.
            let rendered = String::from_utf8(rendered).unwrap();
            // The honeypot may stand anywhere (before the body when it ends inside a tag).
            let (honeypots, found): (Vec<_>, Vec<_>) = click_urls(&rendered)
                .into_iter()
                .partition(|found| found.url.contains(&format!(".{HONEYPOT_LABEL}.")));
            let links = &template.report().tracked;
            prop_assert_eq!(honeypots.len(), usize::from(honeypot));
            prop_assert_eq!(found.len(), links.len());
            for (found, link) in found.iter().zip(links) {
                let id = match link.id.parse::<u32>() {
                    Ok(index) => LinkId::Index(index),
                    Err(_) => LinkId::Label(&link.id),
                };
                let claims = Claims { kind: Kind::Click, campaign: "c", link: Some(id),
                                      recipient: recipient.pseudonym.map(|p| p.as_str()),
                                      issued_at, expires_at: recipient.expires_at };
                prop_assert_eq!(&found.url, &tracker.click_url(&claims, &link.destination).unwrap());
            }
            prop_assert_eq!(pixels(&rendered), 1);
        }
    }

    #[test]
    fn any_input_rewrites_without_error(bytes in proptest::collection::vec(any::<u8>(), 0..600), html in html_body()) {
        let tracker = tracker();
        let message = Message::new("c", Recipient::new(NOW));
        for input in [bytes.as_slice(), html.as_bytes()] {
            let out = rewrite_html(&tracker, &message, &Options::default(), input).unwrap();
            prop_assert!(out.body.len() >= input.len());
            prop_assert!(out.report.pixel);
            let out = rewrite_text(&tracker, &message, &Options::default(), input).unwrap();
            prop_assert!(out.body.len() >= input.len());
        }
    }
}
