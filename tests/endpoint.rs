//! The tracking endpoint end to end: routing, responses, events, sinks, client IPs.
// Test helpers outside #[test] functions unwrap and index fixed fixtures too.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::IpAddr;
use std::sync::Arc;

use hashbeacon::classify::{Classifier, HONEYPOT_LABEL};
use hashbeacon::event::Link;
use hashbeacon::sink::{self, ChannelSink, FanOut, MemorySink};
use hashbeacon::{
    Claims, Endpoint, Event, EventSink, ForwardedHeader, IpPolicy, Key, KeyId, Keyring, Kind, LinkId, Method,
    RedirectStatus, Request, Response, Signal, SinkError, Tracker, Verdict, VerifyError,
};
use proptest::prelude::*;

const ORIGIN: &str = "https://t.example.com";
const BASE: &str = "https://t.example.com/hb";
const ISSUED: u64 = 1_767_225_600;
const LATER: u64 = ISSUED + 3600;
const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 \
                       (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
const DEST: &str = "https://shop.example/sale?q=1+2&r=%2F#top";
const RECIPIENT: &str = "Qm9iJ3MgcHNldWRv";
const PEER: &str = "203.0.113.77";

fn key(id: &str, byte: u8) -> Key {
    Key::new(KeyId::new(id).unwrap(), &[byte; 32]).unwrap()
}

fn tracker() -> Tracker {
    Tracker::new(Keyring::new(key("k1", 7)), BASE).unwrap()
}

fn click_claims() -> Claims<'static> {
    Claims {
        kind: Kind::Click,
        campaign: "spring-sale",
        link: Some(LinkId::Index(3)),
        recipient: Some(RECIPIENT),
        issued_at: ISSUED,
        expires_at: None,
    }
}

fn open_claims() -> Claims<'static> {
    Claims {
        kind: Kind::Open,
        link: None,
        ..click_claims()
    }
}

/// The request target (path and query) of a URL under [`ORIGIN`].
fn target(url: &str) -> String {
    url.strip_prefix(ORIGIN).unwrap().to_owned()
}

fn click_target(claims: &Claims<'_>) -> String {
    target(&tracker().click_url(claims, DEST).unwrap())
}

fn open_target(claims: &Claims<'_>) -> String {
    target(&tracker().open_url(claims).unwrap())
}

fn endpoint() -> Endpoint<MemorySink> {
    Endpoint::new(tracker(), MemorySink::new())
}

fn request<'a>(method: &'a str, target: &'a str) -> Request<'a> {
    Request::new(method, target, PEER.parse().unwrap()).with_user_agent(BROWSER)
}

fn assert_redirect_headers(response: &Response, status: u16) {
    assert_eq!(response.status, status);
    assert_eq!(
        response.header("location"),
        Some("https://shop.example/sale?q=1+2&r=%2F#top")
    );
    assert_eq!(response.header("cache-control"), Some("no-store, private"));
    assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(response.header("content-length"), Some("0"));
    assert!(response.body.is_empty());
}

fn assert_pixel_headers(response: &Response) {
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("image/gif"));
    assert_eq!(
        response.header("cache-control"),
        Some("no-store, private, max-age=0")
    );
    assert_eq!(response.header("content-length"), Some("43"));
    assert!(response.header("location").is_none());
}

fn assert_not_found(response: &Response) {
    assert_eq!(response.status, 404);
    assert!(response.header("location").is_none());
    assert_eq!(response.body, b"Not Found\n");
    assert_eq!(response.header("content-length"), Some("10"));
}

#[test]
fn valid_click_redirects_with_no_store_and_records_a_human_click() {
    let endpoint = endpoint();
    let target = click_target(&click_claims());
    let handled = endpoint.handle(&request("GET", &target), LATER);
    assert_redirect_headers(&handled.response, 302);
    assert!(handled.sink_error.is_none());

    let events = endpoint.sink().take();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.kind, Kind::Click);
    assert!(!event.implied && !event.is_rejected() && !event.is_expired());
    let token = event.token.as_ref().unwrap();
    assert_eq!(token.campaign, "spring-sale");
    assert_eq!(token.link, Some(Link::Index(3)));
    assert_eq!(token.recipient.as_deref(), Some(RECIPIENT));
    assert_eq!(token.issued_at, ISSUED);
    assert_eq!(token.key_id.as_str(), "k1");
    assert_eq!(event.received_at, LATER);
    assert_eq!(event.method, Method::Get);
    assert_eq!(event.user_agent.as_deref(), Some(BROWSER));
    assert_eq!(
        event.client_ip,
        Some("203.0.113.0".parse().unwrap()),
        "truncated to /24 by default"
    );
    assert_eq!(event.verdict, Verdict::Human);
}

#[test]
fn redirect_status_is_configurable() {
    let target = click_target(&click_claims());
    for (status, code) in [
        (RedirectStatus::Found, 302),
        (RedirectStatus::MovedPermanently, 301),
        (RedirectStatus::SeeOther, 303),
        (RedirectStatus::TemporaryRedirect, 307),
    ] {
        let endpoint = endpoint().with_redirect_status(status);
        assert_redirect_headers(&endpoint.handle(&request("GET", &target), LATER).response, code);
    }
}

#[test]
fn head_click_has_the_same_headers_no_body_and_is_never_human() {
    let endpoint = endpoint();
    let target = click_target(&click_claims());
    let get = endpoint.handle(&request("GET", &target), LATER).response;
    let head = endpoint.handle(&request("HEAD", &target), LATER).response;
    assert_eq!(head.status, get.status);
    assert_eq!(head.headers, get.headers);
    assert!(head.body.is_empty());
    let events = endpoint.sink().take();
    assert_eq!(events[1].method, Method::Head);
    assert_eq!(events[1].verdict, Verdict::Scanner(Signal::HeadRequest));
}

/// Ways a click request can be invalid, with the reason the event records.
fn invalid_clicks() -> Vec<(&'static str, String, VerifyError)> {
    let valid = click_target(&click_claims());
    let (path, query) = valid.split_once('?').unwrap();
    let tag_at = path.rfind('.').unwrap() + 1;
    let mut flipped_tag = path.to_owned();
    let replacement = if &path[tag_at..=tag_at] == "A" { "B" } else { "A" };
    flipped_tag.replace_range(tag_at..=tag_at, replacement);
    let campaign = path.replace("spring-sale", "spring-salf");
    let other_key = Tracker::new(Keyring::new(key("k9", 7)), BASE).unwrap();
    let forged_key = Tracker::new(Keyring::new(key("k1", 8)), BASE).unwrap();
    let open_as_click = open_target(&open_claims())
        .replace("/o/", "/c/")
        .replace(".gif", "?https://x.example/");
    vec![
        (
            "tampered tag",
            format!("{flipped_tag}?{query}"),
            VerifyError::BadMac,
        ),
        (
            "tampered claim",
            format!("{campaign}?{query}"),
            VerifyError::BadMac,
        ),
        (
            "tampered destination",
            format!("{path}?https://evil.example/sale?q=1+2&r=%252F%23top"),
            VerifyError::BadMac,
        ),
        (
            "truncated token",
            format!("{}?{query}", &path[..path.len() - 3]),
            VerifyError::Malformed("tag has the wrong length"),
        ),
        (
            "missing destination",
            path.to_owned(),
            VerifyError::Malformed("click URL without destination"),
        ),
        (
            "wrong purpose",
            open_as_click,
            VerifyError::WrongPurpose {
                expected: Kind::Click,
                found: Kind::Open,
            },
        ),
        (
            "unknown key",
            target(&other_key.click_url(&click_claims(), DEST).unwrap()),
            VerifyError::UnknownKey(KeyId::new("k9").unwrap()),
        ),
        (
            "forged with another secret",
            target(&forged_key.click_url(&click_claims(), DEST).unwrap()),
            VerifyError::BadMac,
        ),
    ]
}

#[test]
fn invalid_clicks_get_a_bare_404_and_no_event_by_default() {
    let endpoint = endpoint();
    for (what, target, _) in invalid_clicks() {
        for method in ["GET", "HEAD"] {
            let handled = endpoint.handle(&request(method, &target), LATER);
            assert_eq!(handled.response.status, 404, "{what}");
            assert!(handled.response.header("location").is_none(), "{what}");
            assert!(handled.sink_error.is_none());
        }
        assert_not_found(&endpoint.handle(&request("GET", &target), LATER).response);
    }
    assert!(endpoint.sink().is_empty());
}

#[test]
fn rejected_events_carry_the_reason_when_enabled() {
    let endpoint = endpoint().with_rejected_events(true);
    for (what, target, reason) in invalid_clicks() {
        let handled = endpoint.handle(&request("GET", &target), LATER);
        assert_not_found(&handled.response);
        let events = endpoint.sink().take();
        assert_eq!(events.len(), 1, "{what}");
        assert_eq!(events[0].kind, Kind::Click);
        assert_eq!(events[0].token, Err(reason), "{what}");
        // A forged or tampered request is no reader's action: never a person.
        assert_eq!(events[0].verdict, Verdict::Rejected, "{what}");
        assert!(!events[0].verdict.is_person(), "{what}");
    }
    // Opens with a rejected token too, whatever the user agent says.
    let open = request("GET", "/hb/o/1o.k1.x...1..AAAAAAAAAAAAAAAAAAAAAA.gif")
        .with_user_agent("Mozilla/5.0 (via ggpht.com GoogleImageProxy)");
    endpoint.handle(&open, LATER);
    let events = endpoint.sink().take();
    assert!(events[0].is_rejected());
    assert_eq!(events[0].verdict, Verdict::Rejected);
}

#[test]
fn expired_but_authentic_click_still_redirects_and_says_expired() {
    let endpoint = endpoint();
    let claims = Claims {
        expires_at: Some(ISSUED + 60),
        ..click_claims()
    };
    let target = click_target(&claims);
    assert_redirect_headers(&endpoint.handle(&request("GET", &target), LATER).response, 302);
    let events = endpoint.sink().take();
    assert!(events[0].is_expired());
    assert_eq!(events[0].token.as_ref().unwrap().expires_at, Some(ISSUED + 60));
    // Before expiry the same link is not marked.
    endpoint.handle(&request("GET", &target), ISSUED + 30);
    assert!(!endpoint.sink().take()[0].is_expired());
}

#[test]
fn open_answers_the_pixel_and_records_the_open() {
    let endpoint = endpoint();
    let target = open_target(&open_claims());
    let handled = endpoint.handle(&request("GET", &target), LATER);
    assert_pixel_headers(&handled.response);
    assert_eq!(handled.response.body, hashbeacon::pixel::GIF);
    let events = endpoint.sink().take();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, Kind::Open);
    assert_eq!(events[0].token.as_ref().unwrap().link, None);
    assert_eq!(events[0].verdict, Verdict::Human);
}

#[test]
fn open_with_a_bad_token_still_answers_the_pixel() {
    let endpoint = endpoint().with_rejected_events(true);
    let valid = open_target(&open_claims());
    let tampered = valid.replace("spring-sale", "spring-salf");
    let garbage = "/hb/o/nonsense.gif".to_owned();
    let click_as_open =
        format!("{}.gif", click_target(&click_claims()).split_once('?').unwrap().0).replace("/c/", "/o/");
    for target in [tampered, garbage, click_as_open] {
        let handled = endpoint.handle(&request("GET", &target), LATER);
        assert_pixel_headers(&handled.response);
        assert_eq!(handled.response.body, hashbeacon::pixel::GIF);
        let events = endpoint.sink().take();
        assert!(events[0].is_rejected(), "{target}");
        assert_eq!(events[0].kind, Kind::Open);
    }
    // Without rejected events, the pixel is the only trace.
    let quiet = self::endpoint();
    assert_pixel_headers(&quiet.handle(&request("GET", "/hb/o/x.gif"), LATER).response);
    assert!(quiet.sink().is_empty());
}

#[test]
fn head_open_has_the_same_headers_no_body_and_is_never_human() {
    let endpoint = endpoint();
    let target = open_target(&open_claims());
    let get = endpoint.handle(&request("GET", &target), LATER).response;
    let head = endpoint.handle(&request("HEAD", &target), LATER).response;
    assert_eq!(head.headers, get.headers);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        endpoint.sink().take()[1].verdict,
        Verdict::Scanner(Signal::HeadRequest)
    );
}

#[test]
fn other_methods_and_other_paths() {
    let endpoint = endpoint().with_rejected_events(true);
    let click = click_target(&click_claims());
    for method in ["POST", "PUT", "DELETE", "get", "OPTIONS"] {
        let response = endpoint.handle(&request(method, &click), LATER).response;
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("allow"), Some("GET, HEAD"));
        assert!(response.header("location").is_none());
    }
    for path in [
        "/",
        "/hb",
        "/hb/",
        "/other/c/x?https://a.example/",
        "/hb/x/y",
        "/hb/o/token.png",
    ] {
        assert_not_found(&endpoint.handle(&request("GET", path), LATER).response);
    }
    assert!(endpoint.sink().is_empty());
}

#[test]
fn honeypot_click_redirects_but_is_recorded_as_a_scanner() {
    let endpoint = endpoint();
    let claims = Claims {
        link: Some(LinkId::Label(HONEYPOT_LABEL)),
        ..click_claims()
    };
    let target = click_target(&claims);
    assert_redirect_headers(&endpoint.handle(&request("GET", &target), LATER).response, 302);
    assert_eq!(
        endpoint.sink().take()[0].verdict,
        Verdict::Scanner(Signal::Honeypot)
    );
}

#[test]
fn classification_uses_the_token_issue_time_and_the_configured_delay() {
    let target = click_target(&click_claims());
    let endpoint = endpoint().with_classifier(Classifier { min_click_delay: 30 });
    endpoint.handle(&request("GET", &target), ISSUED + 10);
    endpoint.handle(&request("GET", &target), ISSUED + 30);
    let verdicts: Vec<_> = endpoint.sink().take().iter().map(|e| e.verdict).collect();
    assert_eq!(verdicts, [Verdict::Scanner(Signal::ClickTooSoon), Verdict::Human]);
}

#[test]
fn click_can_imply_an_open_of_its_message() {
    let endpoint = endpoint().with_click_implies_open(true);
    let target = click_target(&click_claims());
    endpoint.handle(&request("GET", &target), LATER);
    let events = endpoint.sink().take();
    assert_eq!(events.len(), 2);
    assert_eq!((events[0].kind, events[0].implied), (Kind::Click, false));
    assert_eq!((events[1].kind, events[1].implied), (Kind::Open, true));
    let open = events[1].token.as_ref().unwrap();
    assert_eq!(open.link, None);
    assert_eq!(open.campaign, "spring-sale");
    assert_eq!(open.recipient.as_deref(), Some(RECIPIENT));
    // Off by default; and an open never implies anything.
    let plain = self::endpoint().with_click_implies_open(false);
    plain.handle(&request("GET", &target), LATER);
    assert_eq!(plain.sink().len(), 1);
    endpoint.handle(&request("GET", &open_target(&open_claims())), LATER);
    assert_eq!(endpoint.sink().len(), 1);
}

#[test]
fn a_full_channel_never_blocks_the_redirect_and_returns_the_event() {
    let (sink, receiver) = ChannelSink::new(1);
    let endpoint = Endpoint::new(tracker(), sink);
    let target = click_target(&click_claims());
    let first = endpoint.handle(&request("GET", &target), LATER);
    assert!(first.sink_error.is_none());
    let second = endpoint.handle(&request("GET", &target), LATER + 1);
    assert_redirect_headers(&second.response, 302);
    let Some(SinkError::Full(event)) = second.sink_error else {
        panic!("expected a full channel");
    };
    assert_eq!(event.received_at, LATER + 1);
    assert_eq!(receiver.try_recv().unwrap().received_at, LATER);

    drop(receiver);
    let third = endpoint.handle(&request("GET", &target), LATER + 2);
    assert_redirect_headers(&third.response, 302);
    let error = third.sink_error.unwrap();
    assert!(matches!(error, SinkError::Closed(_)));
    assert_eq!(error.into_events()[0].received_at, LATER + 2);
}

#[test]
fn a_failing_sink_with_an_implied_open_returns_both_events() {
    let failing = sink::from_fn(|event| Err(SinkError::failed(event, "database down")));
    let endpoint = Endpoint::new(tracker(), failing).with_click_implies_open(true);
    let handled = endpoint.handle(&request("GET", &click_target(&click_claims())), LATER);
    assert_redirect_headers(&handled.response, 302);
    let error = handled.sink_error.unwrap();
    assert_eq!(error.to_string(), "2 event sinks failed");
    let kinds: Vec<_> = error.into_events().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [Kind::Click, Kind::Open]);
}

#[test]
fn fan_out_gives_every_sink_the_event_and_collects_failures() {
    let memory = Arc::new(MemorySink::new());
    let (channel, receiver) = ChannelSink::new(4);
    drop(receiver);
    let fan_out = FanOut::new()
        .with(channel)
        .with(memory.clone())
        .with(sink::from_fn(|event| Err(SinkError::failed(event, "nope"))));
    let endpoint = Endpoint::new(tracker(), fan_out);
    let handled = endpoint.handle(&request("GET", &click_target(&click_claims())), LATER);
    assert_redirect_headers(&handled.response, 302);
    assert_eq!(
        memory.len(),
        1,
        "the memory sink got it despite the others failing"
    );
    let Some(SinkError::Several(errors)) = handled.sink_error else {
        panic!("expected both failures");
    };
    assert!(matches!(errors[0], SinkError::Closed(_)));
    assert!(matches!(errors[1], SinkError::Failed { .. }));
    assert!(FanOut::new().record(memory.events()[0].clone()).is_ok());
}

#[test]
fn events_are_owned_and_sinks_are_object_safe() {
    fn owned<T: Send + Sync + 'static>() {}
    owned::<Event>();
    owned::<SinkError>();
    let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(MemorySink::new()), Box::new(FanOut::new())];
    let endpoint = Endpoint::new(tracker(), Arc::new(sinks.into_iter().next().unwrap()));
    endpoint.handle(&request("GET", &click_target(&click_claims())), LATER);
    // An event moves to another thread.
    let (sink, receiver) = ChannelSink::new(1);
    Endpoint::new(tracker(), sink).handle(&request("GET", &click_target(&click_claims())), LATER);
    let event = std::thread::spawn(move || receiver.recv().unwrap())
        .join()
        .unwrap();
    assert_eq!(event.kind, Kind::Click);
}

#[test]
fn client_ip_honours_forwarding_headers_only_from_trusted_proxies() {
    let target = click_target(&click_claims());
    let behind_proxy = |endpoint: &Endpoint<MemorySink>| {
        let request = Request::new("GET", &target, "10.0.0.5".parse().unwrap())
            .with_user_agent(BROWSER)
            .with_x_forwarded_for("6.6.6.6, 198.51.100.77");
        endpoint.handle(&request, LATER);
        endpoint.sink().take()[0].client_ip
    };
    let untrusting = endpoint().with_ip_policy(IpPolicy::Keep);
    assert_eq!(behind_proxy(&untrusting), Some("10.0.0.5".parse().unwrap()));
    let trusting = endpoint()
        .with_ip_policy(IpPolicy::Keep)
        .with_trusted_proxy("10.0.0.0/8".parse().unwrap());
    assert_eq!(behind_proxy(&trusting), Some("198.51.100.77".parse().unwrap()));
    // A spoofed header from a direct client is ignored.
    let spoofed = request("GET", &target).with_forwarded("for=6.6.6.6");
    trusting.handle(&spoofed, LATER);
    assert_eq!(trusting.sink().take()[0].client_ip, Some(PEER.parse().unwrap()));
}

/// The review's case: nginx appends to `X-Forwarded-For` only, and the client sends its
/// own `Forwarded`. The client must not choose the recorded address.
#[test]
fn a_client_sent_forwarded_never_chooses_the_address_behind_an_x_forwarded_for_proxy() {
    let target = click_target(&click_claims());
    let request = Request::new("GET", &target, "10.0.0.1".parse().unwrap())
        .with_user_agent(BROWSER)
        .with_x_forwarded_for("198.51.100.7")
        .with_forwarded("for=6.6.6.6");
    let recorded = |header: Option<ForwardedHeader>| {
        let endpoint = endpoint()
            .with_ip_policy(IpPolicy::Keep)
            .with_trusted_proxy("10.0.0.0/8".parse().unwrap());
        let endpoint = match header {
            Some(header) => endpoint.with_forwarded_header(header),
            None => endpoint,
        };
        endpoint.handle(&request, LATER);
        endpoint.sink().take()[0].client_ip
    };
    assert_eq!(
        recorded(Some(ForwardedHeader::XForwardedFor)),
        Some("198.51.100.7".parse().unwrap())
    );
    // Undeclared, the headers disagree: nothing is recorded rather than the client's pick.
    assert_eq!(recorded(None), None);
    // Declared `Forwarded`, a proxy that writes it would have appended its own entry;
    // here the only entry is the client's, so this is what a misdeclaration records.
    assert_eq!(
        recorded(Some(ForwardedHeader::Forwarded)),
        Some("6.6.6.6".parse().unwrap())
    );
}

#[test]
fn ip_policy_keeps_truncates_or_drops() {
    let target = click_target(&click_claims());
    let v6: IpAddr = "2001:db8:abcd:12::1".parse().unwrap();
    let cases = [
        (IpPolicy::Keep, Some(v6)),
        (IpPolicy::Truncate, Some("2001:db8:abcd::".parse().unwrap())),
        (IpPolicy::Drop, None),
    ];
    for (policy, expected) in cases {
        let endpoint = endpoint().with_ip_policy(policy);
        endpoint.handle(&Request::new("GET", &target, v6).with_user_agent(BROWSER), LATER);
        assert_eq!(endpoint.sink().take()[0].client_ip, expected, "{policy:?}");
    }
}

#[test]
fn non_http_destination_is_never_redirected_even_when_signed() {
    // A key shared with some other tool signs a `javascript:` destination directly.
    let key = key("k1", 7);
    let mut token = String::new();
    key.sign_into(&click_claims(), "javascript:alert(1)", &mut token)
        .unwrap();
    let target = format!("/hb/c/{token}?javascript:alert(1)");
    let endpoint = endpoint().with_rejected_events(true);
    assert_not_found(&endpoint.handle(&request("GET", &target), LATER).response);
    assert!(endpoint.sink().take()[0].is_rejected());
}

/// A click request's path or query with one byte replaced, removed or the request
/// truncated.
fn tampered(valid: &str, at: usize, byte: u8, how: u8) -> String {
    let mut bytes = valid.as_bytes().to_vec();
    let at = at % bytes.len();
    match how % 3 {
        0 => bytes[at] = byte,
        1 => {
            bytes.remove(at);
        }
        _ => bytes.truncate(at),
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #[test]
    fn tampered_click_requests_never_redirect(
        at: usize,
        byte in 0x20u8..0x7f,
        how: u8,
        head: bool,
        expires in proptest::option::of(ISSUED..ISSUED + 7200),
    ) {
        let claims = Claims { expires_at: expires, ..click_claims() };
        let valid = click_target(&claims);
        let target = tampered(&valid, at, byte, how);
        prop_assume!(target != valid);
        let endpoint = endpoint();
        let method = if head { "HEAD" } else { "GET" };
        let request = request(method, &target);
        let response = endpoint.handle(&request, LATER).response;
        prop_assert!(response.header("location").is_none(), "{target}");
        if matches!(tracker().route(request.path), Ok((Kind::Click, _))) {
            prop_assert_eq!(response.status, 404);
        }
    }

    #[test]
    fn arbitrary_click_paths_are_404(token in "[ -~]{0,250}", query in proptest::option::of("[ -~]{0,300}")) {
        let target = match &query {
            Some(query) => format!("/hb/c/{token}?{query}"),
            None => format!("/hb/c/{token}"),
        };
        let response = endpoint().handle(&request("GET", &target), LATER).response;
        prop_assert_eq!(response.status, 404);
        prop_assert!(response.header("location").is_none());
    }

    #[test]
    fn arbitrary_requests_never_panic_and_never_redirect(
        method in "GET|HEAD|POST|[A-Za-z]{0,8}|.{0,8}",
        path in "(/hb/[co]/)?.{0,300}",
        query in proptest::option::of(".{0,300}"),
        user_agent in proptest::option::of(".{0,300}"),
        forwarded in proptest::option::of(".{0,100}"),
        x_forwarded_for in proptest::option::of(".{0,100}"),
        peer: IpAddr,
        now: u64,
    ) {
        let endpoint = endpoint()
            .with_rejected_events(true)
            .with_click_implies_open(true)
            .with_trusted_proxy("0.0.0.0/0".parse().unwrap())
            .with_trusted_proxy("::/0".parse().unwrap());
        let mut request = Request::new(&method, &path, peer);
        request.query = query.as_deref();
        request.user_agent = user_agent.as_deref();
        request.forwarded = forwarded.as_deref().map(Into::into);
        request.x_forwarded_for = x_forwarded_for.as_deref().map(Into::into);
        let handled = endpoint.handle(&request, now);
        let response = handled.response;
        prop_assert!(response.header("location").is_none());
        prop_assert!(matches!(response.status, 200 | 404 | 405));
        let length: usize = response.header("content-length").unwrap().parse().unwrap();
        if method != "HEAD" {
            prop_assert_eq!(length, response.body.len());
        } else {
            prop_assert!(response.body.is_empty());
        }
        for event in endpoint.sink().take() {
            prop_assert!(event.is_rejected());
            prop_assert_eq!(event.verdict, Verdict::Rejected);
        }
    }
}

/// A client cannot make every stored event as large as its `User-Agent` header: the
/// event keeps at most `MAX_USER_AGENT_LEN` bytes, cut at a character boundary, while
/// classification still reads the whole header.
#[test]
fn events_keep_a_bounded_prefix_of_a_huge_user_agent() {
    use hashbeacon::event::MAX_USER_AGENT_LEN;
    assert!((256..=1024).contains(&MAX_USER_AGENT_LEN));
    // 300 KB of two-byte characters after one ASCII byte: the limit falls mid-character.
    let huge = format!("Mozilla/5.0 x{}", "é".repeat(150_000));
    let endpoint = endpoint();
    for target in [click_target(&click_claims()), open_target(&open_claims())] {
        let handled = endpoint.handle(&request("GET", &target).with_user_agent(&huge), LATER);
        assert!(handled.sink_error.is_none());
        let events = endpoint.sink().take();
        let stored = events[0].user_agent.as_deref().unwrap();
        assert!(stored.len() <= MAX_USER_AGENT_LEN, "{}", stored.len());
        assert!(stored.len() > MAX_USER_AGENT_LEN - 4);
        assert!(huge.starts_with(stored));
    }
    // A scanner's agent past the cut is still seen by the classifier.
    let scanner = format!("Mozilla/5.0 ({}; Mimecast)", "x".repeat(MAX_USER_AGENT_LEN * 2));
    let target = click_target(&click_claims());
    endpoint.handle(&request("GET", &target).with_user_agent(&scanner), LATER);
    let events = endpoint.sink().take();
    assert!(!events[0].verdict.is_person());
    assert_eq!(events[0].user_agent.as_deref().unwrap().len(), MAX_USER_AGENT_LEN);
}

/// Agents up to the limit are kept whole.
#[test]
fn ordinary_user_agents_are_kept_whole() {
    let agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
    let endpoint = endpoint();
    let target = click_target(&click_claims());
    endpoint.handle(&request("GET", &target).with_user_agent(agent), LATER);
    assert_eq!(endpoint.sink().take()[0].user_agent.as_deref(), Some(agent));
}
