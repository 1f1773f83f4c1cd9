//! Heap allocations per handled click, counted with a counting global allocator.
//!
//! The count is a property of the code, not of timing, so it is asserted exactly: a
//! change that adds an allocation to the redirect path fails here and must say why.
// A global allocator is `unsafe impl` by definition; this test crate is the one place
// the crate allows it (the library itself is `#![forbid(unsafe_code)]`).
#![allow(unsafe_code, clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hashbeacon::{Claims, Endpoint, Key, KeyId, Kind, LinkId, Request, Tracker, sink};

/// Counts allocations made by the current thread while counting is on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// thread-local `Cell` with a const initializer, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|count| count.set(count.get() + 1));
        }
    });
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    COUNT.with(|count| count.set(0));
    COUNTING.with(|on| on.set(true));
    let out = f();
    COUNTING.with(|on| on.set(false));
    (COUNT.with(Cell::get), out)
}

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
