//! Verifying a typical click token performs zero heap allocations.
//!
//! A global allocator counts the allocations of the verifying thread only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod counting;

use counting::allocations;
use hashbeacon::link::encode_destination;
use hashbeacon::{Claims, Key, KeyId, Kind, LinkId, PseudonymKey, Tracker};

/// Allocations `f` makes on this thread.
fn allocations_during(f: impl FnOnce()) -> usize {
    allocations(f).0
}

#[test]
fn verifying_a_typical_click_token_does_not_allocate() {
    let key = Key::new(KeyId::new("k1").unwrap(), &[7; 32]).unwrap();
    let tracker = Tracker::new(key.into(), "https://t.example.com").unwrap();
    let recipient = PseudonymKey::new(&[9; 32]).unwrap().pseudonym("ada@example.com");
    // Campaign of 32 bytes; destinations from 60 to 120 bytes, with escapes.
    let campaign = "newsletter-2026-11-week-48-promo";
    assert_eq!(campaign.len(), 32);
    let destinations = [
        "https://shop.example.com/products/winter-boots?utm_source=mail",
        "https://www.example.org/blog/2026/11/how-we-built-it?ref=newsletter&utm_campaign=nov%20news#comments",
        "https://example.net/a/very/long/path/with/several/segments/and/a/query?x=1&y=2&z=three+four&w=%C3%A9t%C3%A9",
    ];
    for (index, destination) in destinations.into_iter().enumerate() {
        assert!((60..=120).contains(&destination.len()), "{}", destination.len());
        let claims = Claims {
            kind: Kind::Click,
            campaign,
            link: Some(LinkId::Index(index as u32)),
            recipient: Some(recipient.as_str()),
            issued_at: 1_767_225_600,
            expires_at: Some(1_798_761_600),
        };
        let url = tracker.click_url(&claims, destination).unwrap();
        let (path, query) = url["https://t.example.com".len()..].split_once('?').unwrap();
        let wire = encode_destination(destination).into_owned();
        assert_eq!(query, wire);
        let token = path.strip_prefix("/c/").unwrap();

        let mut ok = false;
        let count = allocations_during(|| {
            ok = tracker
                .keyring()
                .verify(Kind::Click, token, query, 1_767_225_601)
                .is_ok();
        });
        assert!(ok);
        assert_eq!(count, 0, "Keyring::verify allocated for {destination}");

        let count = allocations_during(|| {
            ok = tracker.verify_click(path, Some(query), 1_767_225_601).is_ok();
        });
        assert!(ok);
        assert_eq!(count, 0, "Tracker::verify_click allocated for {destination}");

        // A forged token is rejected without allocating too.
        let forged = token.replace("promo", "promx");
        let count = allocations_during(|| {
            ok = tracker
                .keyring()
                .verify(Kind::Click, &forged, query, 1_767_225_601)
                .is_err();
        });
        assert!(ok);
        assert_eq!(count, 0);
    }
    // The counter itself works: an allocation is seen.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);
}
