//! One-click unsubscribe (RFC 8058): tokens, headers and the endpoint's answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{BASE, NOW, click_claims, tracker};
use hashbeacon::report::Report;
use hashbeacon::sink::MemorySink;
use hashbeacon::unsubscribe::{Mailto, ONE_CLICK};
use hashbeacon::{
    Claims, Endpoint, HeaderError, Key, KeyId, Keyring, Kind, Pseudonym, PseudonymKey, Request, SignError,
    Tracker, VerifyError,
};
use proptest::prelude::*;

const ADA: &str = "3FOq2KtOAntf0XxY";
const FORM: &str = "application/x-www-form-urlencoded";
const LATER: u64 = NOW + 86_400;

fn claims(recipient: &str) -> Claims<'_> {
    Claims {
        kind: Kind::Unsubscribe,
        campaign: "weekly",
        link: None,
        recipient: Some(recipient),
        issued_at: NOW,
        expires_at: None,
    }
}

/// The request target (path) of an unsubscribe URL.
fn target(url: &str) -> &str {
    url.strip_prefix("https://t.example.com").unwrap()
}

fn endpoint() -> Endpoint<MemorySink> {
    Endpoint::new(tracker(), MemorySink::new()).with_rejected_events(true)
}

/// A `POST` of the one-click body, as Gmail documents it.
fn one_click(target: &str) -> Request<'_> {
    post(target, Some(FORM), ONE_CLICK.as_bytes())
}

fn post<'a>(target: &'a str, content_type: Option<&'a str>, body: &'a [u8]) -> Request<'a> {
    Request::new("POST", target, "192.0.2.7".parse().unwrap()).with_body(content_type, body)
}

#[test]
fn a_one_click_post_unsubscribes_with_200_and_one_event() {
    let endpoint = endpoint();
    let url = tracker().unsubscribe_url(&claims(ADA)).unwrap();
    let handled = endpoint.handle(&one_click(target(&url)), LATER);
    assert_eq!(handled.response.status, 200);
    assert_eq!(handled.response.header("location"), None);
    assert_eq!(handled.response.header("set-cookie"), None);
    assert_eq!(
        handled.response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        handled.response.header("cache-control"),
        Some("no-store, private")
    );
    assert!(
        std::str::from_utf8(handled.response.body)
            .unwrap()
            .contains("unsubscribed")
    );
    assert!(handled.sink_error.is_none());
    let events = endpoint.sink().take();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.kind, Kind::Unsubscribe);
    assert_eq!(event.method, hashbeacon::Method::Post);
    let token = event.token.as_ref().unwrap();
    assert_eq!(
        (token.campaign.as_str(), token.recipient.as_deref()),
        ("weekly", Some(ADA))
    );
    assert_eq!(token.link, None);
    assert!(!token.expired);
}

#[test]
fn a_multipart_post_unsubscribes_too() {
    let endpoint = endpoint();
    let url = tracker().unsubscribe_url(&claims(ADA)).unwrap();
    let body =
        "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
    let handled = endpoint.handle(
        &post(
            target(&url),
            Some("multipart/form-data; boundary=XyZ"),
            body.as_bytes(),
        ),
        LATER,
    );
    assert_eq!(handled.response.status, 200);
    assert_eq!(endpoint.sink().take().len(), 1);
}

#[test]
fn get_shows_a_confirmation_form_and_never_unsubscribes() {
    let endpoint = endpoint();
    let url = tracker().unsubscribe_url(&claims(ADA)).unwrap();
    let get = endpoint.handle(
        &Request::new("GET", target(&url), "192.0.2.7".parse().unwrap()),
        LATER,
    );
    assert_eq!(get.response.status, 200);
    let page = std::str::from_utf8(get.response.body).unwrap();
    assert!(page.contains(r#"<form method="post">"#));
    assert!(page.contains(r#"<input type="hidden" name="List-Unsubscribe" value="One-Click">"#));
    assert_eq!(get.response.header("location"), None);
    assert_eq!(get.response.header("set-cookie"), None);
    assert_eq!(get.response.header("referrer-policy"), Some("no-referrer"));

    let head = endpoint.handle(
        &Request::new("HEAD", target(&url), "192.0.2.7".parse().unwrap()),
        LATER,
    );
    assert_eq!(head.response.status, 200);
    assert_eq!(head.response.headers, get.response.headers);
    assert!(head.response.body.is_empty());
    assert_eq!(
        head.response.header("content-length"),
        Some(get.response.body.len().to_string().as_str())
    );
    assert!(endpoint.sink().is_empty(), "GET and HEAD record nothing");
}

#[test]
fn bad_tokens_are_404_with_no_unsubscribe() {
    let endpoint = endpoint();
    let tracker = tracker();
    let url = tracker.unsubscribe_url(&claims(ADA)).unwrap();
    let tampered = url.replace("weekly", "weeklx");
    let other_key = Tracker::new(
        Key::new(KeyId::new("k2").unwrap(), &[9; 32]).unwrap().into(),
        BASE,
    )
    .unwrap()
    .unsubscribe_url(&claims(ADA))
    .unwrap();
    let open = tracker
        .open_url(&Claims {
            kind: Kind::Open,
            link: None,
            recipient: Some(ADA),
            ..click_claims()
        })
        .unwrap();
    // An open token moved onto the unsubscribe route.
    let open_as_unsubscribe = open.replace("/o/", "/u/").replace(".gif", "");
    let truncated = &url[..url.len() - 1];
    for bad in [&tampered, &other_key, &open_as_unsubscribe, truncated] {
        for method in ["POST", "GET", "HEAD"] {
            let request = Request::new(method, target(bad), "192.0.2.7".parse().unwrap())
                .with_body(Some(FORM), ONE_CLICK.as_bytes());
            let handled = endpoint.handle(&request, LATER);
            assert_eq!(handled.response.status, 404, "{method} {bad}");
            assert_eq!(handled.response.header("location"), None);
        }
    }
    let events = endpoint.sink().take();
    assert_eq!(events.len(), 12);
    assert!(
        events
            .iter()
            .all(|event| event.kind == Kind::Unsubscribe && event.is_rejected())
    );
    let report: Report = events.iter().collect();
    assert_eq!(report.rejected().unsubscribes(), 12);
    assert!(
        report.campaigns().is_empty(),
        "a rejected request unsubscribes no one"
    );

    // Without rejected events enabled, nothing at all is recorded.
    let quiet = Endpoint::new(tracker, MemorySink::new());
    let handled = quiet.handle(&one_click(target(&tampered)), LATER);
    assert_eq!(handled.response.status, 404);
    assert!(quiet.sink().is_empty());
}

#[test]
fn an_unsubscribe_token_is_no_click_or_open_token() {
    let endpoint = endpoint();
    let url = tracker().unsubscribe_url(&claims(ADA)).unwrap();
    let as_open = format!("{}.gif", url.replace("/u/", "/o/"));
    let as_click = format!("{}?https://a.example/", url.replace("/u/", "/c/"));
    let open = endpoint.handle(
        &Request::new("GET", target(&as_open), "192.0.2.7".parse().unwrap()),
        LATER,
    );
    assert_eq!(
        open.response.header("content-type"),
        Some("image/gif"),
        "the pixel always answers"
    );
    let click = endpoint.handle(
        &Request::new("GET", target(&as_click), "192.0.2.7".parse().unwrap()),
        LATER,
    );
    assert_eq!(click.response.status, 404);
    let events = endpoint.sink().take();
    assert_eq!(events.len(), 2);
    for event in &events {
        assert!(matches!(
            event.token,
            Err(VerifyError::WrongPurpose {
                found: Kind::Unsubscribe,
                ..
            })
        ));
    }
}

#[test]
fn other_bodies_are_400_and_long_ones_413() {
    let endpoint = endpoint();
    let url = tracker().unsubscribe_url(&claims(ADA)).unwrap();
    let long = format!(
        "{ONE_CLICK}&pad={}",
        "x".repeat(hashbeacon::endpoint::MAX_BODY_LEN)
    );
    for (content_type, body, status) in [
        (Some(FORM), &b""[..], 400),
        (Some(FORM), b"List-Unsubscribe=Yes", 400),
        (Some("text/plain"), ONE_CLICK.as_bytes(), 400),
        (
            Some("application/json"),
            br#"{"List-Unsubscribe":"One-Click"}"#,
            400,
        ),
        (Some("multipart/form-data; boundary=b"), ONE_CLICK.as_bytes(), 400),
        (Some(FORM), long.as_bytes(), 413),
    ] {
        let handled = endpoint.handle(&post(target(&url), content_type, body), LATER);
        assert_eq!(
            handled.response.status,
            status,
            "{content_type:?} {}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(endpoint.sink().is_empty());
}

#[test]
fn methods_each_route_answers() {
    let endpoint = endpoint();
    let tracker = tracker();
    let url = tracker.unsubscribe_url(&claims(ADA)).unwrap();
    let mut put = one_click(target(&url));
    put.method = "PUT";
    let put = endpoint.handle(&put, LATER);
    assert_eq!(put.response.status, 405);
    assert_eq!(put.response.header("allow"), Some("GET, HEAD, POST"));
    let click = tracker.click_url(&click_claims(), "https://a.example/").unwrap();
    let handled = endpoint.handle(&one_click(target(&click)), LATER);
    assert_eq!(handled.response.status, 405, "a click URL never takes a POST");
    assert_eq!(handled.response.header("allow"), Some("GET, HEAD"));
    assert!(endpoint.sink().is_empty());
}

#[test]
fn posting_twice_counts_once() {
    let endpoint = endpoint();
    let tracker = tracker();
    let ada = tracker.unsubscribe_url(&claims(ADA)).unwrap();
    let bob = tracker.unsubscribe_url(&claims("BBBBBBBBBBBBBBBB")).unwrap();
    for (url, at) in [(&ada, LATER), (&ada, LATER + 60), (&bob, LATER + 120)] {
        let handled = endpoint.handle(&one_click(target(url)), at);
        assert_eq!(handled.response.status, 200);
    }
    let events = endpoint.sink().take();
    assert_eq!(events.len(), 3, "each POST is an event");
    let report: Report = events.iter().collect();
    let weekly = report.campaign("weekly").unwrap();
    assert_eq!(weekly.unsubscribes().total(), 3);
    assert_eq!(
        weekly.unsubscribes().unique(),
        2,
        "the same token twice is one unsubscribe"
    );
    assert_eq!(weekly.unsubscribe_rate(8).to_string(), "25.0%");
    assert_eq!(weekly.clicks().total() + weekly.opens().total(), 0);
    assert_eq!(report.events(), 3);
}

#[test]
fn verify_only_keys_still_unsubscribe_and_expiry_is_only_recorded() {
    let old = Key::new(KeyId::new("old").unwrap(), &[3; 32]).unwrap();
    let old_url = Tracker::new(old.clone().into(), BASE)
        .unwrap()
        .unsubscribe_url(&Claims {
            expires_at: Some(NOW + 10),
            ..claims(ADA)
        })
        .unwrap();
    let ring = Keyring::new(Key::new(KeyId::new("new").unwrap(), &[4; 32]).unwrap())
        .with_verify_only(old)
        .unwrap();
    let endpoint = Endpoint::new(Tracker::new(ring, BASE).unwrap(), MemorySink::new());
    let handled = endpoint.handle(&one_click(target(&old_url)), LATER);
    assert_eq!(handled.response.status, 200);
    let events = endpoint.sink().take();
    let token = events[0].token.as_ref().unwrap();
    assert_eq!(token.key_id.as_str(), "old");
    assert!(
        token.expired,
        "an authentic unsubscribe past its expiry is taken, marked expired"
    );
}

#[test]
fn unsubscribe_claims_name_a_recipient_and_nothing_else() {
    let tracker = tracker();
    let no_recipient = Claims {
        recipient: None,
        ..claims(ADA)
    };
    assert_eq!(
        tracker.unsubscribe_url(&no_recipient),
        Err(SignError::RecipientRequired.into())
    );
    let with_link = Claims {
        link: Some(hashbeacon::LinkId::Index(0)),
        ..claims(ADA)
    };
    assert!(matches!(
        tracker.unsubscribe_url(&with_link),
        Err(hashbeacon::LinkError::Sign(SignError::NotOnUnsubscribe(_)))
    ));
    assert!(matches!(
        tracker.unsubscribe_url(&click_claims()),
        Err(hashbeacon::LinkError::WrongKind { .. })
    ));
    let key = tracker.keyring().signing_key();
    assert!(matches!(
        key.sign(&claims(ADA), "https://a.example/"),
        Err(SignError::NotOnUnsubscribe("destination"))
    ));
    // A hand-made token without a recipient, signed by no path of this crate, is
    // malformed before its MAC is even looked at.
    let url = tracker.unsubscribe_url(&claims(ADA)).unwrap();
    let anonymous = url.replace(ADA, "");
    assert_eq!(
        tracker.verify_unsubscribe(target(&anonymous), LATER),
        Err(VerifyError::Malformed("unsubscribe tokens name a recipient"))
    );
}

fn pseudonym(address: &str) -> Pseudonym {
    PseudonymKey::new(&[0x42; 32]).unwrap().pseudonym(address)
}

#[test]
fn headers_are_folded_between_urls_and_end_in_crlf() {
    let tracker = tracker();
    let ada = pseudonym("ada@example.com");
    let mailto = Mailto::new("unsubscribe@example.com").unwrap();
    let headers = tracker
        .unsubscribe_headers("weekly", &ada, NOW, Some(&mailto))
        .unwrap();
    let url = tracker.unsubscribe_url(&claims(ada.as_str())).unwrap();
    assert_eq!(headers.url(), url);
    assert_eq!(
        headers.to_lines(),
        format!(
            "List-Unsubscribe: <{url}>,\r\n <mailto:unsubscribe@example.com>\r\n\
             List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        )
    );
    assert_eq!(
        headers.list_unsubscribe(),
        format!("<{url}>, <mailto:unsubscribe@example.com>")
    );
    assert_eq!(headers.to_string(), headers.to_lines());

    let https_only = tracker.unsubscribe_headers("weekly", &ada, NOW, None).unwrap();
    assert_eq!(
        https_only.to_lines(),
        format!("List-Unsubscribe: <{url}>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
    );
    // Short enough to fit: one line.
    let short = hashbeacon::UnsubscribeHeaders::new("https://u.example/x".to_owned(), Some(mailto)).unwrap();
    assert!(
        short
            .to_lines()
            .starts_with("List-Unsubscribe: <https://u.example/x>, <mailto:unsubscribe@example.com>\r\n")
    );
}

#[test]
fn header_input_that_could_inject_is_refused() {
    for bad in [
        "a@example.com>\r\nBcc: victim@example.com",
        "a@example.com, b@example.com",
        "a b@example.com",
        "<a@example.com>",
        "a@exa_mple.com",
        "a@example.com?subject=x",
        ".a@example.com",
        "a..b@example.com",
        "a@-example.com",
        "a@",
        "@example.com",
        "example.com",
        "ä@example.com",
    ] {
        assert!(matches!(Mailto::new(bad), Err(HeaderError::Mailto(_))), "{bad:?}");
    }
    for bad in [
        "https://u.example/\r\nBcc: x",
        "https://u.example/>,<https://evil.example/",
        "javascript:alert(1)",
        "https://u.example/ä",
    ] {
        assert_eq!(
            hashbeacon::UnsubscribeHeaders::new(bad.to_owned(), None),
            Err(HeaderError::Url),
            "{bad:?}"
        );
    }
    let long = format!("https://u.example/{}", "a".repeat(990));
    assert!(matches!(
        hashbeacon::UnsubscribeHeaders::new(long, None),
        Err(HeaderError::LineTooLong { max: 998, .. })
    ));
}

fn any_kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(Kind::ALL.to_vec())
}

proptest! {
    /// A token of one purpose never verifies as another: not as another kind of token,
    /// not as a conversion reference, and no conversion reference as a token.
    #[test]
    fn purposes_never_cross(signed in any_kind(), asked in any_kind(), issued_at in 0u64..4_000_000_000, recipient in "[A-Za-z0-9_-]{16}") {
        let tracker = tracker();
        let ring = tracker.keyring();
        let claims = Claims {
            kind: signed,
            campaign: "weekly",
            link: (signed == Kind::Click).then_some(hashbeacon::LinkId::Index(1)),
            recipient: Some(&recipient),
            issued_at,
            expires_at: None,
        };
        let destination = if signed == Kind::Click { "https://a.example/" } else { "" };
        let token = ring.sign(&claims, destination).unwrap();
        let as_asked = ring.verify(asked, &token, destination, issued_at);
        prop_assert_eq!(as_asked.is_ok(), signed == asked);
        // Relabelled as the asked kind, the MAC no longer matches.
        let code = |kind: Kind| match kind { Kind::Click => "1c.", Kind::Open => "1o.", _ => "1u." };
        let relabelled = token.replacen(code(signed), code(asked), 1);
        if signed != asked {
            prop_assert!(ring.verify(asked, &relabelled, destination, issued_at).is_err());
            prop_assert!(ring.verify(asked, &relabelled, "", issued_at).is_err());
        }
        prop_assert!(ring.verify_reference(&token, issued_at).is_err());
        prop_assert!(ring.verify_reference(&relabelled.replacen(code(asked), "1r.", 1), issued_at).is_err());
    }

    /// Any change to an unsubscribe URL's token is refused, and refused as a 404 with
    /// no unsubscribe.
    #[test]
    fn tampered_unsubscribe_tokens_never_unsubscribe(at in 0usize..200, byte in any::<u8>(), recipient in "[A-Za-z0-9_-]{16}") {
        let tracker = tracker();
        let url = tracker.unsubscribe_url(&claims(&recipient)).unwrap();
        let path = target(&url).to_owned();
        let token_start = path.find("/u/").unwrap() + 3;
        let mut bytes = path.clone().into_bytes();
        let at = token_start + at % (bytes.len() - token_start);
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        let tampered = String::from_utf8_lossy(&bytes).into_owned();
        let endpoint = Endpoint::new(tracker, MemorySink::new());
        let handled = endpoint.handle(&one_click(&tampered), LATER);
        prop_assert_eq!(handled.response.status, 404);
        prop_assert!(endpoint.sink().is_empty());
    }

    /// Whatever the method, content type and body, the endpoint answers without
    /// panicking, and only a POST of the one-click body records an unsubscribe.
    #[test]
    fn arbitrary_requests_never_panic(method in prop::sample::select(vec!["GET", "HEAD", "POST", "PUT", "post"]),
                                      content_type in prop::option::of("[ -~]{0,60}"),
                                      body in prop::collection::vec(any::<u8>(), 0..300)) {
        let tracker = tracker();
        let url = tracker.unsubscribe_url(&claims(ADA)).unwrap();
        let endpoint = Endpoint::new(tracker, MemorySink::new());
        let request = Request::new(method, target(&url), "192.0.2.7".parse().unwrap())
            .with_body(content_type.as_deref(), &body);
        let handled = endpoint.handle(&request, LATER);
        let recorded = endpoint.sink().len();
        prop_assert!(recorded <= 1);
        prop_assert_eq!(recorded == 1, handled.response.status == 200 && method == "POST");
        prop_assert!([200, 400, 405, 413].contains(&handled.response.status));
    }
}

#[cfg(feature = "rewrite")]
mod rewriting {
    use super::*;
    use hashbeacon::rewrite::{
        Message, Options, Recipient, SkipReason, Template, UNSUBSCRIBE_PLACEHOLDER, rewrite_html,
        rewrite_text,
    };

    const HTML: &str = r#"<html><body><p><a href="https://shop.example/sale">Sale</a></p>
<p><a href="https://lists.example.com/unsubscribe?id=7">Leave (their own link)</a>
<a href="hashbeacon:unsubscribe">Unsubscribe</a> or paste hashbeacon:unsubscribe</p></body></html>"#;

    fn href_of(body: &str, text: &str) -> String {
        let end = body.find(&format!("\">{text}</a>")).unwrap();
        let start = body[..end].rfind("href=\"").unwrap() + 6;
        body[start..end].to_owned()
    }

    #[test]
    fn the_placeholder_becomes_the_header_url_and_stays_untracked() {
        let tracker = tracker();
        let ada = pseudonym("ada@example.com");
        let recipient = Recipient::new(NOW).with_pseudonym(&ada).expiring_at(NOW + 3600);
        let template = Template::html(&tracker, "weekly", &Options::default(), HTML.as_bytes()).unwrap();
        assert_eq!(template.report().unsubscribe_links, 2);
        let rendered = template.render(&recipient).unwrap();
        let body = String::from_utf8(rendered.body.clone()).unwrap();
        let headers = template.unsubscribe_headers(&recipient, None).unwrap();

        let href = href_of(&body, "Unsubscribe");
        assert_eq!(href, headers.url());
        assert_eq!(body.matches(headers.url()).count(), 2, "the text occurrence too");
        assert!(!body.contains(UNSUBSCRIBE_PLACEHOLDER));
        // The sale link is tracked; both unsubscribe links are not.
        assert!(href_of(&body, "Sale").starts_with(&format!("{BASE}/c/")));
        assert_eq!(
            href_of(&body, "Leave (their own link)"),
            "https://lists.example.com/unsubscribe?id=7"
        );
        let reasons: Vec<_> = rendered
            .report
            .skipped
            .iter()
            .map(|s| (s.href.as_str(), &s.reason))
            .collect();
        assert!(reasons.contains(&(UNSUBSCRIBE_PLACEHOLDER, &SkipReason::Unsubscribe)));
        assert!(reasons.contains(&(
            "https://lists.example.com/unsubscribe?id=7",
            &SkipReason::Unsubscribe
        )));

        // The URL in the body is the recipient's never-expiring unsubscribe, and POSTing
        // the one-click body to it unsubscribes them.
        let verified = tracker.verify_unsubscribe(target(&href), LATER).unwrap();
        assert_eq!(verified.claims.recipient, Some(ada.as_str()));
        assert_eq!(verified.claims.campaign, "weekly");
        assert_eq!(verified.claims.expires_at, None, "click expiry does not apply");
        let endpoint = endpoint();
        assert_eq!(
            endpoint.handle(&one_click(target(&href)), LATER).response.status,
            200
        );
        assert_eq!(endpoint.sink().take()[0].kind, Kind::Unsubscribe);

        // One-shot rewriting gives the same bytes as the template.
        let message = Message::new("weekly", recipient);
        let once = rewrite_html(&tracker, &message, &Options::default(), HTML.as_bytes()).unwrap();
        assert_eq!(once.body, rendered.body);
    }

    #[test]
    fn text_parts_opt_outs_and_expiry() {
        let tracker = tracker();
        let ada = pseudonym("ada@example.com");
        let text = "Sale: https://shop.example/sale\nUnsubscribe: hashbeacon:unsubscribe\n";
        let recipient = Recipient::new(NOW)
            .with_pseudonym(&ada)
            .unsubscribe_expiring_at(NOW + 7 * 86_400);
        let message = Message::new("weekly", recipient);
        let out = rewrite_text(&tracker, &message, &Options::default(), text.as_bytes()).unwrap();
        let body = String::from_utf8(out.body).unwrap();
        let url = body
            .lines()
            .nth(1)
            .unwrap()
            .strip_prefix("Unsubscribe: ")
            .unwrap();
        let verified = tracker.verify_unsubscribe(target(url), NOW).unwrap();
        assert_eq!(verified.claims.expires_at, Some(NOW + 7 * 86_400));

        // A recipient who opted out of tracking still gets a working unsubscribe link,
        // and nothing else changes.
        let opted_out = Message::new("weekly", recipient.opted_out(true));
        let out = rewrite_html(&tracker, &opted_out, &Options::default(), HTML.as_bytes()).unwrap();
        let body = String::from_utf8(out.body).unwrap();
        let headers = Template::html(&tracker, "weekly", &Options::default(), HTML.as_bytes())
            .unwrap()
            .unsubscribe_headers(&recipient, None)
            .unwrap();
        assert_eq!(body, HTML.replace(UNSUBSCRIBE_PLACEHOLDER, headers.url()));
        assert!(out.report.recipient_opted_out);

        // Without a pseudonym there is no one to unsubscribe: an error, not a dead link.
        let anonymous = Message::new("weekly", Recipient::new(NOW));
        assert_eq!(
            rewrite_html(&tracker, &anonymous, &Options::default(), HTML.as_bytes()),
            Err(SignError::RecipientRequired.into())
        );
        // A body without the placeholder needs none.
        assert!(
            rewrite_html(
                &tracker,
                &anonymous,
                &Options::default(),
                b"<a href=\"https://a.example/\">a</a>"
            )
            .is_ok()
        );
    }

    #[test]
    fn a_signed_unsubscribe_url_already_in_the_body_is_never_tracked() {
        let tracker = tracker();
        let url = tracker.unsubscribe_url(&claims(ADA)).unwrap();
        let mut options = Options::default();
        // Even with unsubscribe wording detection off, our own route is recognized.
        options.detect_unsubscribe = false;
        let message = Message::new("weekly", Recipient::new(NOW));
        let html = format!(r#"<a href="{url}">Leave</a>"#);
        let out = rewrite_html(&tracker, &message, &options, html.as_bytes()).unwrap();
        assert!(String::from_utf8(out.body).unwrap().starts_with(&html));
        assert_eq!(out.report.skipped[0].reason, SkipReason::Unsubscribe);
        let text = format!("Leave: {url}\n");
        let out = rewrite_text(&tracker, &message, &options, text.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(out.body).unwrap(), text);
    }
}

#[test]
fn the_http_conversion_reads_the_content_type_and_a_bounded_body() {
    let url = tracker().unsubscribe_url(&claims(ADA)).unwrap();
    let peer = "192.0.2.7".parse().unwrap();
    let post = |body: Vec<u8>| {
        http::Request::post(url.as_str())
            .header("content-type", FORM)
            .body(body)
            .unwrap()
    };
    let small = post(ONE_CLICK.as_bytes().to_vec());
    let view = Request::from_http_with_body(&small, peer);
    assert_eq!(view.content_type, Some(FORM));
    assert_eq!(view.body, ONE_CLICK.as_bytes());
    assert_eq!(endpoint().handle(&view, LATER).response.status, 200);

    let max = hashbeacon::endpoint::MAX_BODY_LEN;
    let huge = post(vec![b'a'; 10 * max]);
    let view = Request::from_http_with_body(&huge, peer);
    assert_eq!(
        view.body.len(),
        max + 1,
        "one byte past the bound is enough to refuse"
    );
    assert_eq!(endpoint().handle(&view, LATER).response.status, 413);

    // Only a POST carries a body into the endpoint.
    let get = http::Request::get(url.as_str())
        .body(ONE_CLICK.as_bytes().to_vec())
        .unwrap();
    assert!(Request::from_http_with_body(&get, peer).body.is_empty());
}
