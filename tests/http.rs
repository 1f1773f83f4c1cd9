//! The `http` feature: request views from `http` types and responses back to them.
// Test helpers outside #[test] functions unwrap and index fixed fixtures too.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg(feature = "http")]

use std::net::IpAddr;

use hashbeacon::sink::MemorySink;
use hashbeacon::{
    Claims, Endpoint, ForwardedHeader, IpPolicy, Key, KeyId, Kind, LinkId, Request, Response, Tracker,
};

const ISSUED: u64 = 1_767_225_600;

fn tracker() -> Tracker {
    Tracker::new(
        Key::new(KeyId::new("k1").unwrap(), &[7u8; 32]).unwrap().into(),
        "https://t.example/hb",
    )
    .unwrap()
}

fn click_url() -> String {
    let claims = Claims {
        kind: Kind::Click,
        campaign: "launch",
        link: Some(LinkId::Label("cta")),
        recipient: None,
        issued_at: ISSUED,
        expires_at: None,
    };
    tracker()
        .click_url(&claims, "https://shop.example/a b?x=1#frag")
        .unwrap()
}

fn peer() -> IpAddr {
    "10.1.2.3".parse().unwrap()
}

#[test]
fn request_view_borrows_method_path_query_and_headers() {
    let request = http::Request::head("https://t.example/hb/c/tok?https://a.example/?q=%41")
        .header("user-agent", "curl/8.5.0")
        .header("forwarded", "for=192.0.2.1")
        .header("x-forwarded-for", "198.51.100.1")
        .header("x-forwarded-for", "198.51.100.2")
        .body(())
        .unwrap();
    let view = Request::from_http(&request, peer());
    assert_eq!(view.method, "HEAD");
    assert_eq!(view.path, "/hb/c/tok");
    assert_eq!(view.query, Some("https://a.example/?q=%41"));
    assert_eq!(view.user_agent, Some("curl/8.5.0"));
    assert_eq!(view.peer, peer());
    assert_eq!(view.forwarded.as_deref(), Some("for=192.0.2.1"));
    assert_eq!(
        view.x_forwarded_for.as_deref(),
        Some("198.51.100.1, 198.51.100.2")
    );

    let (parts, ()) = request.clone().into_parts();
    assert_eq!(Request::from_http_parts(&parts, peer()), view);
}

#[test]
fn non_ascii_forwarding_lines_stay_in_place_and_odd_user_agents_are_absent() {
    let request = http::Request::get("/hb/o/x.gif")
        .header("x-forwarded-for", "198.51.100.1")
        .header(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        )
        .header(
            "user-agent",
            http::HeaderValue::from_bytes(b"Mozilla \xff").unwrap(),
        )
        .body(())
        .unwrap();
    let view = Request::from_http(&request, peer());
    assert_eq!(view.x_forwarded_for.as_deref(), Some("198.51.100.1, café"));
    assert_eq!(view.user_agent, None);
}

#[test]
fn click_round_trip_through_http_types() {
    let endpoint = Endpoint::new(tracker(), MemorySink::new())
        .with_trusted_proxy("10.0.0.0/8".parse().unwrap())
        .with_ip_policy(IpPolicy::Keep);
    let request = http::Request::get(click_url())
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        )
        .header("x-forwarded-for", "198.51.100.9")
        .body(())
        .unwrap();
    let response = endpoint
        .handle(&Request::from_http(&request, peer()), ISSUED + 60)
        .response
        .into_http();
    assert_eq!(response.status(), http::StatusCode::FOUND);
    let headers = response.headers();
    assert_eq!(
        headers[http::header::LOCATION],
        "https://shop.example/a%20b?x=1#frag"
    );
    assert_eq!(headers[http::header::CACHE_CONTROL], "no-store, private");
    assert_eq!(headers[http::header::REFERRER_POLICY], "no-referrer");
    assert_eq!(headers[http::header::CONTENT_LENGTH], "0");
    assert!(response.body().is_empty());
    let event = &endpoint.sink().take()[0];
    assert_eq!(event.client_ip, Some("198.51.100.9".parse().unwrap()));
}

#[test]
fn pixel_and_not_found_convert_whole() {
    let endpoint = Endpoint::new(tracker(), MemorySink::new());
    let pixel_request = http::Request::get("/hb/o/whatever.gif").body(()).unwrap();
    let pixel: http::Response<&'static [u8]> = endpoint
        .handle(&Request::from_http(&pixel_request, peer()), ISSUED)
        .response
        .into();
    assert_eq!(pixel.status(), http::StatusCode::OK);
    assert_eq!(pixel.headers()[http::header::CONTENT_TYPE], "image/gif");
    assert_eq!(
        pixel.headers()[http::header::CACHE_CONTROL],
        "no-store, private, max-age=0"
    );
    assert_eq!(pixel.headers()[http::header::CONTENT_LENGTH], "43");
    assert_eq!(*pixel.body(), hashbeacon::pixel::GIF);

    let bad_click = http::Request::get("/hb/c/forged?https://evil.example/")
        .body(())
        .unwrap();
    let not_found = endpoint
        .handle(&Request::from_http(&bad_click, peer()), ISSUED)
        .response
        .into_http();
    assert_eq!(not_found.status(), http::StatusCode::NOT_FOUND);
    assert!(not_found.headers().get(http::header::LOCATION).is_none());
}

#[test]
fn host_edited_invalid_headers_are_left_out() {
    let mut response = Endpoint::new(tracker(), MemorySink::new())
        .handle(&Request::new("GET", "/nowhere", peer()), ISSUED)
        .response;
    response.headers.push(("bad name", "x".into()));
    response.headers.push(("x-bad-value", "line\nbreak".into()));
    response
        .headers
        .push(("x-bad-owned", String::from("a\rb").into()));
    response.headers.push(("x-good", "fine".into()));
    response.status = 1000;
    let converted = Response::into_http(response);
    assert_eq!(converted.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(converted.headers()["x-good"], "fine");
    assert_eq!(
        converted.headers().len(),
        4,
        "content-type, cache-control, content-length, x-good"
    );
}

/// A client's own `X-Forwarded-For` line and the proxy's appended one, as two header
/// lines, next to a client-sent `Forwarded`: the proxy's entry is the client address.
#[test]
fn duplicated_and_mixed_forwarding_headers_keep_the_proxys_entry() {
    for (header, expected) in [
        (Some(ForwardedHeader::XForwardedFor), Some("198.51.100.9")),
        (None, None),
    ] {
        let endpoint = Endpoint::new(tracker(), MemorySink::new())
            .with_trusted_proxy("10.0.0.0/8".parse().unwrap())
            .with_ip_policy(IpPolicy::Keep);
        let endpoint = match header {
            Some(header) => endpoint.with_forwarded_header(header),
            None => endpoint,
        };
        let request = http::Request::get(click_url())
            .header("x-forwarded-for", "6.6.6.6, 10.0.0.3")
            .header("forwarded", "for=7.7.7.7")
            .header("x-forwarded-for", "198.51.100.9")
            .body(())
            .unwrap();
        endpoint.handle(
            &Request::from_http(&request, "10.0.0.1".parse().unwrap()),
            ISSUED + 60,
        );
        let expected = expected.map(|ip| ip.parse::<IpAddr>().unwrap());
        assert_eq!(endpoint.sink().take()[0].client_ip, expected, "{header:?}");
    }
}
