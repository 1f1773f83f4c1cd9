//! Heap allocations per handled click, counted with a counting global allocator.
//!
//! The count is a property of the code, not of timing, so it is asserted exactly: a
//! change that adds an allocation to the redirect path fails here and must say why.
#![allow(clippy::unwrap_used)]

mod counting;

use counting::allocations;
use hashbeacon::{Claims, Endpoint, Key, KeyId, Kind, LinkId, Request, Tracker, sink};

const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                       (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

#[test]
fn allocations_per_handled_click() {
    let tracker = Tracker::new(
        Key::new(KeyId::new("k1").unwrap(), &[7; 32]).unwrap().into(),
        "https://t.example.com/hb",
    )
    .unwrap();
    let claims = Claims {
        kind: Kind::Click,
        campaign: "spring-sale-2026",
        link: Some(LinkId::Index(3)),
        recipient: Some("Qm9iJ3MgcHNldWRv"),
        issued_at: 1_767_225_600,
        expires_at: None,
    };
    let url = tracker
        .click_url(
            &claims,
            "https://shop.example.com/products/widget-42?utm_source=newsletter",
        )
        .unwrap();
    let target = url.strip_prefix("https://t.example.com").unwrap();
    let endpoint = Endpoint::new(tracker.clone(), sink::from_fn(|_event| Ok(())));
    let request = Request::new("GET", target, "203.0.113.77".parse().unwrap()).with_user_agent(BROWSER);
    let now = 1_767_229_200;

    // Verifying alone allocates nothing.
    let (path, query) = target.split_once('?').unwrap();
    let (verify, _) = allocations(|| {
        tracker
            .verify_click(path, Some(query), now)
            .unwrap()
            .verified
            .expired
    });
    assert_eq!(verify, 0);

    // Handling a click: the Location string and the event's user agent. The campaign,
    // recipient and link are stored inline in the event; the response's other headers
    // are static.
    let (handle, handled) = allocations(|| endpoint.handle(&request, now));
    assert_eq!(handled.response.status, 302);
    println!("allocations per handled click: {handle}");
    assert_eq!(handle, 2);

    // A click on a labelled link whose destination has escapes to decode and bytes to
    // re-encode still builds its Location in one allocation.
    let labelled = Claims {
        link: Some(LinkId::Label("cta-button")),
        ..claims
    };
    let url = tracker
        .click_url(&labelled, "https://shop.example.com/caf\u{e9} menu?q=%2F#top")
        .unwrap();
    let target = url.strip_prefix("https://t.example.com").unwrap();
    let request = Request::new("GET", target, "203.0.113.77".parse().unwrap()).with_user_agent(BROWSER);
    let (handle, handled) = allocations(|| endpoint.handle(&request, now));
    assert_eq!(
        handled.response.header("location"),
        Some("https://shop.example.com/caf%C3%A9%20menu?q=%2F#top")
    );
    assert_eq!(handle, 2);

    // An open: only the event's user agent.
    let open = tracker
        .open_url(&Claims {
            kind: Kind::Open,
            link: None,
            ..claims
        })
        .unwrap();
    let target = open.strip_prefix("https://t.example.com").unwrap();
    let request = Request::new("GET", target, "203.0.113.77".parse().unwrap()).with_user_agent(BROWSER);
    let (handle, handled) = allocations(|| endpoint.handle(&request, now));
    assert_eq!(handled.response.status, 200);
    println!("allocations per handled open: {handle}");
    assert_eq!(handle, 1);

    // A bad click, not recorded, allocates nothing.
    let forged = Request::new(
        "GET",
        "/hb/c/forged?https://evil.example/",
        "203.0.113.77".parse().unwrap(),
    );
    let (rejected, handled) = allocations(|| endpoint.handle(&forged, now));
    assert_eq!(handled.response.status, 404);
    assert_eq!(rejected, 0);
}
