//! `Endpoint::handle` on arbitrary requests — method, target, user agent, forwarding
//! `Endpoint::handle` on arbitrary requests — method, target, user agent, forwarding
//! headers, the declared forwarding header, content type and body — both as given and
//! built around genuinely signed click, open and unsubscribe URLs, through the plain
//! request view and through `Request::from_http_with_body`: never panics, redirects only
//! to a signed destination with a header-safe `Location`, always serves the pixel on the
//! open route, records an unsubscribe only for a `POST` answered 200 on a genuine
//! unsubscribe URL (and always for the one-click body there), never sets a cookie, and
//! always sends a `Content-Length` that matches the body.
#![no_main]

use std::net::IpAddr;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use hashbeacon::endpoint::MAX_BODY_LEN;
use hashbeacon::link::{decode_destination, location};
use hashbeacon::sink::{FnSink, from_fn};
use hashbeacon::unsubscribe::ONE_CLICK;
use hashbeacon::{
    Claims, Endpoint, Event, ForwardedHeader, Kind, LinkId, RedirectStatus, Request, SinkError, Tracker,
};
use hashbeacon_fuzz::{
    CLICK_IMPLIES_OPEN, EXPIRED, ISSUED_AT, MODE_MASK, NOW, RAW_MODE, RECORD_REJECTED, REDIRECT_SHIFT,
    SIGNED_CLICK_MODE, SIGNED_CLICK_PATH_MODE, SIGNED_OPEN_MODE, TRUSTED_PEER, UNSUBSCRIBE_TARGET,
    forwarded_header, split_endpoint_input, tracker,
};
use libfuzzer_sys::fuzz_target;

type Discard = FnSink<fn(Event) -> Result<(), SinkError>>;

static TRACKER: LazyLock<Tracker> = LazyLock::new(tracker);

/// Accepted unsubscribe events recorded so far (the target runs one input at a time).
static UNSUBSCRIBES: AtomicUsize = AtomicUsize::new(0);

fn discard(event: Event) -> Result<(), SinkError> {
    if event.kind == Kind::Unsubscribe && !event.is_rejected() {
        UNSUBSCRIBES.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn endpoint(flags: u8, header: ForwardedHeader) -> Endpoint<Discard> {
    let redirect = match (flags >> REDIRECT_SHIFT) & 0b11 {
        0 => RedirectStatus::Found,
        1 => RedirectStatus::MovedPermanently,
        2 => RedirectStatus::SeeOther,
        _ => RedirectStatus::TemporaryRedirect,
    };
    let sink: Discard = from_fn(discard as fn(Event) -> Result<(), SinkError>);
    Endpoint::new(TRACKER.clone(), sink)
        .with_redirect_status(redirect)
        .with_trusted_proxy("10.0.0.0/8".parse().expect("a network"))
        .with_forwarded_header(header)
        .with_rejected_events(flags & RECORD_REJECTED != 0)
        .with_click_implies_open(flags & CLICK_IMPLIES_OPEN != 0)
}

/// What the request is known to be: the signed destination it must redirect to, if any.
enum Expect {
    /// Arbitrary: a redirect is allowed only to a destination that re-signs to the token.
    Unknown,
    /// A genuine click URL, untouched: it must redirect to this destination.
    Redirect(String),
    /// A genuine URL that was altered: it must not redirect.
    NoRedirect,
    /// Built on the genuine unsubscribe URL whose path this is.
    Unsubscribe(String),
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = split_endpoint_input(data) else {
        return;
    };
    let [
        method,
        target,
        user_agent,
        forwarded,
        x_forwarded_for,
        tail,
        header,
        content_type,
        body,
    ] = input.fields;
    let flags = input.flags;
    let (target, expect): (Vec<u8>, Expect) = match flags & MODE_MASK {
        RAW_MODE => (target.to_vec(), Expect::Unknown),
        SIGNED_OPEN_MODE if target == UNSUBSCRIBE_TARGET => {
            let claims = Claims {
                kind: Kind::Unsubscribe,
                campaign: "fuzz",
                link: None,
                recipient: Some("AAAAAAAAAAAAAAAA"),
                issued_at: ISSUED_AT,
                expires_at: (flags & EXPIRED != 0).then_some(NOW),
            };
            let url = TRACKER.unsubscribe_url(&claims).expect("signable");
            let path = url.strip_prefix("https://t.example.com").expect("under the base");
            let mut spliced = path.as_bytes().to_vec();
            spliced.extend_from_slice(tail);
            (spliced, Expect::Unsubscribe(path.to_owned()))
        }
        mode => {
            let Ok(destination) = std::str::from_utf8(target) else {
                return;
            };
            let claims = Claims {
                kind: if mode == SIGNED_OPEN_MODE {
                    Kind::Open
                } else {
                    Kind::Click
                },
                campaign: "fuzz",
                link: (mode != SIGNED_OPEN_MODE).then_some(LinkId::Index(u32::from(flags))),
                recipient: None,
                issued_at: ISSUED_AT,
                expires_at: (flags & EXPIRED != 0).then_some(NOW),
            };
            let url = if mode == SIGNED_OPEN_MODE {
                TRACKER.open_url(&claims)
            } else {
                TRACKER.click_url(&claims, destination)
            };
            let Ok(url) = url else {
                return;
            };
            let url = url.strip_prefix("https://t.example.com").expect("under the base");
            let mut spliced = url.as_bytes().to_vec();
            match mode {
                SIGNED_CLICK_MODE => spliced.extend_from_slice(tail),
                SIGNED_OPEN_MODE => {
                    spliced.extend_from_slice(tail);
                }
                SIGNED_CLICK_PATH_MODE => {
                    let question = url.find('?').expect("a click URL has a query");
                    spliced.splice(question..question, tail.iter().copied());
                }
                _ => unreachable!(),
            }
            let expect = match (mode, tail.is_empty()) {
                (SIGNED_OPEN_MODE, _) => Expect::NoRedirect,
                (_, true) => Expect::Redirect(destination.to_owned()),
                (_, false) => Expect::NoRedirect,
            };
            (spliced, expect)
        }
    };
    let peer: IpAddr = if flags & TRUSTED_PEER != 0 {
        [10, 0, 0, 1].into()
    } else {
        [203, 0, 113, 9].into()
    };
    let endpoint = endpoint(flags, forwarded_header(header));

    // The plain request view, when the fields are text.
    if let (Ok(method), Ok(target)) = (std::str::from_utf8(method), std::str::from_utf8(&target)) {
        let mut request = Request::new(method, target, peer);
        request.user_agent = std::str::from_utf8(user_agent).ok().filter(|ua| !ua.is_empty());
        if let Ok(value) = std::str::from_utf8(forwarded) {
            request = request.with_forwarded(value);
        }
        if let Ok(value) = std::str::from_utf8(x_forwarded_for) {
            request = request.with_x_forwarded_for(value);
        }
        let content_type = std::str::from_utf8(content_type).ok().filter(|ct| !ct.is_empty());
        request = request.with_body(content_type, body);
        check(&endpoint, &request, &expect);
    }

    // The same request through the `http` crate, with header bytes as they are.
    let mut builder = http::Request::builder().method(method).uri(target.as_slice());
    for (name, value) in [
        ("user-agent", user_agent),
        ("forwarded", forwarded),
        ("x-forwarded-for", x_forwarded_for),
        ("content-type", content_type),
    ] {
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            builder = builder.header(name, value);
        }
    }
    if let Ok(request) = builder.body(body.to_vec()) {
        let view = Request::from_http_with_body(&request, peer);
        // The http crate may normalize the target (e.g. an empty path becomes `/`);
        // expectations hold only for the target as built.
        let rebuilt = match view.query {
            Some(query) => format!("{}?{query}", view.path),
            None => view.path.to_owned(),
        };
        let same = rebuilt.as_bytes() == target.as_slice();
        check(&endpoint, &view, if same { &expect } else { &Expect::Unknown });
    }
});

fn check(endpoint: &Endpoint<Discard>, request: &Request<'_>, expect: &Expect) {
    let before = UNSUBSCRIBES.load(Ordering::Relaxed);
    let handled = endpoint.handle(request, NOW);
    let unsubscribed = UNSUBSCRIBES.load(Ordering::Relaxed) - before;
    let response = &handled.response;
    assert!(handled.sink_error.is_none());
    assert!(response.header("set-cookie").is_none(), "a cookie");
    let redirect = matches!(response.status, 301 | 302 | 303 | 307);
    let route = TRACKER.route(request.path).ok().map(|(kind, _)| kind);
    let is_get = request.method == "GET";
    let is_head = request.method == "HEAD";

    if redirect {
        let location = response.header("location").expect("a redirect has a Location");
        let lower = location.get(..8).unwrap_or(location).to_ascii_lowercase();
        assert!(
            lower.starts_with("https://") || lower.starts_with("http://"),
            "redirect to a non-http(s) URL: {location:?}"
        );
        assert!(
            location.bytes().all(|b| b.is_ascii_graphic()),
            "unsafe Location value: {location:?}"
        );
        assert_eq!(route, Some(Kind::Click), "redirect outside the click route");
        assert!(is_get || is_head, "redirect for {}", request.method);
        assert_signed(request, location);
        match expect {
            Expect::NoRedirect => panic!("redirect for an altered URL: {location:?}"),
            Expect::Redirect(destination) => assert_eq!(location, &*hashbeacon::link::location(destination)),
            Expect::Unknown | Expect::Unsubscribe(_) => {}
        }
    } else {
        assert!(
            response.header("location").is_none(),
            "Location without a redirect"
        );
        if let (Expect::Redirect(destination), true) = (expect, is_get || is_head) {
            panic!(
                "no redirect for a genuine click to {destination:?}: {}",
                response.status
            );
        }
    }
    if route == Some(Kind::Open) && is_get {
        assert_eq!(
            response.status, 200,
            "the pixel route answered {}",
            response.status
        );
        assert_eq!(response.body, hashbeacon::pixel::GIF);
        assert_eq!(response.header("content-type"), Some("image/gif"));
    }
    if route == Some(Kind::Open) && is_head {
        assert_eq!(response.status, 200);
    }
    check_unsubscribe(request, response, route, unsubscribed, expect);
    let page = route == Some(Kind::Unsubscribe)
        && response.status == 200
        && response.header("content-type") == Some("text/html; charset=utf-8");
    assert!(
        page || [
            &b""[..],
            b"Not Found\n",
            b"Method Not Allowed\n",
            b"Bad Request\n",
            b"Payload Too Large\n",
            hashbeacon::pixel::GIF
        ]
        .contains(&response.body),
        "unexpected body {:?}",
        response.body
    );

    // Content-Length: the body's length; for HEAD, the length GET's body would have.
    let length: usize = response
        .header("content-length")
        .expect("a Content-Length")
        .parse()
        .expect("a decimal Content-Length");
    if is_head {
        assert!(response.body.is_empty(), "a body for HEAD");
        let mut get = request.clone();
        get.method = "GET";
        let as_get = endpoint.handle(&get, NOW).response;
        assert_eq!(
            length,
            as_get.body.len(),
            "HEAD's Content-Length differs from GET's body"
        );
        assert_eq!(as_get.status, response.status);
    } else {
        assert_eq!(
            length,
            response.body.len(),
            "Content-Length differs from the body"
        );
    }

    // Every response converts to the http crate's types whole.
    let converted = response.clone().into_http();
    assert_eq!(
        converted.headers().len(),
        response.headers.len(),
        "a header was lost"
    );
    assert_eq!(converted.status().as_u16(), response.status);
}

/// Unsubscribes: only a `POST` answered 200 records one, only on the unsubscribe route;
/// a genuine URL answers `GET`/`HEAD` with the page and the one-click body with an
/// unsubscribe; an altered one never unsubscribes.
fn check_unsubscribe(
    request: &Request<'_>,
    response: &hashbeacon::Response,
    route: Option<Kind>,
    unsubscribed: usize,
    expect: &Expect,
) {
    let is_post = request.method == "POST";
    assert!(unsubscribed <= 1, "{unsubscribed} unsubscribes for one request");
    assert_eq!(
        unsubscribed == 1,
        route == Some(Kind::Unsubscribe) && is_post && response.status == 200,
        "unsubscribe event and answer disagree: {} {}",
        request.method,
        response.status
    );
    if route == Some(Kind::Unsubscribe) {
        assert!(
            [200, 400, 404, 405, 413].contains(&response.status),
            "unsubscribe answered {}",
            response.status
        );
    }
    let Expect::Unsubscribe(genuine) = expect else {
        return;
    };
    if request.path != genuine.as_str() {
        assert_eq!(unsubscribed, 0, "an altered unsubscribe URL unsubscribed");
        return;
    }
    match request.method {
        "GET" | "HEAD" => assert_eq!(response.status, 200, "no confirmation page"),
        "POST" if request.body.len() > MAX_BODY_LEN => assert_eq!(response.status, 413),
        "POST"
            if request.body == ONE_CLICK.as_bytes()
                && request.content_type == Some("application/x-www-form-urlencoded") =>
        {
            assert_eq!(unsubscribed, 1, "the one-click POST did not unsubscribe");
        }
        _ => {}
    }
}

/// A redirect's target re-signs to the very token in the path: it was signed, by a key
/// in the ring, for this destination.
fn assert_signed(request: &Request<'_>, location_value: &str) {
    let query = request.query.expect("a redirected click has a query");
    let click = TRACKER
        .verify_click(request.path, Some(query), NOW)
        .expect("a redirected click verifies");
    let key = TRACKER
        .keyring()
        .get(click.verified.key_id.as_str())
        .expect("the key is in the ring");
    let token = key.sign(&click.verified.claims, query).expect("signable");
    assert_eq!(request.path, format!("{}/c/{token}", TRACKER.path_prefix()));
    let destination = decode_destination(query).expect("a signed destination decodes");
    assert_eq!(location_value, &*location(&destination));
}
