//! Points `docs/TOKEN.md` settles beyond the token syntax, one test each: routing, the
//! base path, the `Location` encoding, expiry before issue at the endpoint, and the key
//! a conversion reference is signed with.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use hashbeacon::conversion::ReferenceParameter;
use hashbeacon::link::location;
use hashbeacon::sink::MemorySink;
use hashbeacon::{Claims, Endpoint, Key, KeyId, Keyring, Kind, LinkId, Request, Tracker};

const NOW: u64 = 1_767_225_600;

fn key(id: &str, byte: u8) -> Key {
    Key::new(KeyId::new(id).unwrap(), &[byte; 32]).unwrap()
}

fn claims(kind: Kind) -> Claims<'static> {
    Claims {
        kind,
        campaign: "spec",
        link: (kind == Kind::Click).then_some(LinkId::Index(0)),
        recipient: None,
        issued_at: NOW,
        expires_at: None,
    }
}

fn endpoint(ring: Keyring, base: &str) -> Endpoint<MemorySink> {
    Endpoint::new(Tracker::new(ring, base).unwrap(), MemorySink::new()).with_rejected_events(true)
}

fn get(endpoint: &Endpoint<MemorySink>, target: &str) -> (u16, Vec<hashbeacon::Event>) {
    let handled = endpoint.handle(
        &Request::new("GET", target, "192.0.2.1".parse().unwrap()),
        NOW + 60,
    );
    (handled.response.status, endpoint.sink().take())
}

/// Bytes 0x00–0x20 and 0x7F–0xFF are escaped in a `Location`, uppercase, one escape
/// per UTF-8 byte; every other byte stands as it is.
#[test]
fn location_escapes_exactly_controls_space_del_and_non_ascii() {
    for byte in 0u8..0x80 {
        let destination = format!("https://a.example/{}", char::from(byte));
        let expected = if byte <= 0x20 || byte == 0x7F {
            format!("https://a.example/%{byte:02X}")
        } else {
            destination.clone()
        };
        assert_eq!(location(&destination), expected, "byte {byte:#04x}");
    }
    // Every non-ASCII scalar's UTF-8 bytes (0x80–0xFF) are escaped one by one.
    for c in ['\u{80}', 'é', '\u{7FF}', '€', '\u{FFFF}', '\u{10FFFF}'] {
        let escaped: String = c.to_string().bytes().map(|b| format!("%{b:02X}")).collect();
        assert_eq!(
            location(&format!("https://a.example/{c}")),
            format!("https://a.example/{escaped}")
        );
    }
}

/// The base path is plain segments; the route is the segment right after it; the token
/// is the rest of the path; a fragment is never sent; a query on an open is ignored.
#[test]
fn routing_follows_the_raw_path() {
    let ring: Keyring = key("k1", 1).into();
    for bad in [
        "https://t.example/a//b",
        "https://t.example/a/%20",
        "https://t.example/a/!",
    ] {
        assert!(Tracker::new(ring.clone(), bad).is_err(), "{bad}");
    }
    // The base is parsed as a URL first, as a browser would: dot segments resolve.
    assert_eq!(
        Tracker::new(ring.clone(), "https://t.example/a/../b/")
            .unwrap()
            .path_prefix(),
        "/b"
    );
    // A prefix segment may itself be called `c`: the route is the one after the prefix.
    let base = "https://t.example/c";
    let tracker = Tracker::new(ring.clone(), base).unwrap();
    let click = tracker
        .click_url(&claims(Kind::Click), "https://shop.example/")
        .unwrap();
    let open = tracker.open_url(&claims(Kind::Open)).unwrap();
    let endpoint = endpoint(ring, base);
    let target = |url: &str| url.strip_prefix("https://t.example").unwrap().to_owned();
    assert!(target(&click).starts_with("/c/c/1c."));
    assert_eq!(get(&endpoint, &target(&click)).0, 302);
    // Not the prefix byte for byte, or not a route right after it: not tracking, no event.
    for other in [
        target(&click).replacen("/c/c/", "/C/c/", 1),
        target(&click).replacen("/c/c/", "/c//c/", 1),
        target(&click).replacen("/c/c/", "/c/x/", 1),
        target(&click).replacen("/c/c/", "/c/%63/", 1),
    ] {
        assert_eq!(get(&endpoint, &other), (404, vec![]), "{other}");
    }
    // A token is never followed by more path.
    let (path, query) = target(&click)
        .split_once('?')
        .map(|(p, q)| (p.to_owned(), q.to_owned()))
        .unwrap();
    let (status, events) = get(&endpoint, &format!("{path}/x?{query}"));
    assert_eq!(status, 404);
    assert!(events[0].is_rejected());
    // A query on an open URL is ignored; the open still verifies.
    let (status, events) = get(&endpoint, &format!("{}?cb=42", target(&open)));
    assert_eq!(status, 200);
    assert!(!events[0].is_rejected());
}

/// A token whose expiry precedes its issue time gets no redirect, even with a valid tag.
#[test]
fn expiry_before_issue_is_not_redirected() {
    let mut forged = claims(Kind::Click);
    forged.expires_at = Some(NOW - 1);
    // The signer refuses to write it…
    assert!(key("k1", 1).sign(&forged, "https://a.example/").is_err());
    // …and a token whose expiry equals its issue time is fine (and already expired).
    let mut same = claims(Kind::Click);
    same.expires_at = Some(NOW);
    let ring: Keyring = key("k1", 1).into();
    let url = Tracker::new(ring.clone(), "https://t.example")
        .unwrap()
        .click_url(&same, "https://a.example/")
        .unwrap();
    let (status, events) = get(
        &endpoint(ring, "https://t.example"),
        url.strip_prefix("https://t.example").unwrap(),
    );
    assert_eq!(status, 302);
    assert!(events[0].is_expired());
}

/// A conversion reference is signed with the endpoint's signing key, not with the key
/// that signed the clicked token.
#[test]
fn references_are_signed_with_the_signing_key() {
    let (current, old) = (key("k2", 2), key("k1", 1));
    let ring = Keyring::new(current).with_verify_only(old.clone()).unwrap();
    // An old message: its link was signed by k1, now verify-only.
    let url = Tracker::new(old.into(), "https://t.example")
        .unwrap()
        .click_url(&claims(Kind::Click), "https://shop.example/")
        .unwrap();
    let endpoint =
        endpoint(ring.clone(), "https://t.example").with_conversion_reference(ReferenceParameter::default());
    let target = url.strip_prefix("https://t.example").unwrap();
    let handled = endpoint.handle(
        &Request::new("GET", target, "192.0.2.1".parse().unwrap()),
        NOW + 60,
    );
    let location = handled.response.header("location").unwrap();
    let reference = location.split_once("hb_ref=").unwrap().1;
    assert!(reference.starts_with("1r.k2."), "{reference}");
    let conversion = ring.verify_reference(reference, NOW + 120).unwrap();
    assert_eq!(conversion.key_id.as_str(), "k2");
    assert_eq!(
        endpoint.sink().take()[0].token.as_ref().unwrap().key_id.as_str(),
        "k1"
    );
}
