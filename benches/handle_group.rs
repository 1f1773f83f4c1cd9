//! Bench group `handle`: one valid click handled end to end, against the MAC it cannot avoid.
//!
//! Included from `benches/verify.rs` as a module. `hashbeacon` runs
//! `Endpoint::handle` on a typical click (route, parse, verify, decode the destination,
//! build the `Location`, classify, build and hand off the event to a sink that discards
//! it, build the response). `hmac_limit` is the physical limit of the same work: HMAC-SHA256
//! from the key's precomputed state over exactly the bytes the click token's MAC covers,
//! and the 16-byte tag comparison.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::Criterion;
use hashbeacon::{Claims, Endpoint, Key, KeyId, Kind, LinkId, Request, Tracker, sink};
use hmac::{KeyInit, Mac};

const SECRET: [u8; 32] = [7; 32];
/// The domain label `Key` absorbs into its precomputed click state (src/key.rs).
const CLICK_LABEL: &[u8] = b"hashbeacon/v1/click\0";
const ORIGIN: &str = "https://t.example.com";
const DESTINATION: &str =
    "https://shop.example.com/products/widget-42?utm_source=newsletter&utm_campaign=spring";
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const ISSUED: u64 = 1_767_225_600;

/// The `handle` group: `hashbeacon` and its baseline `hmac_limit`.
pub(crate) fn handle(c: &mut Criterion) {
    let tracker = Tracker::new(
        Key::new(KeyId::new("k1").unwrap(), &SECRET).unwrap().into(),
        "https://t.example.com/hb",
    )
    .unwrap();
    let claims = Claims {
        kind: Kind::Click,
        campaign: "spring-sale-2026",
        link: Some(LinkId::Index(3)),
        recipient: Some("Qm9iJ3MgcHNldWRv"),
        issued_at: ISSUED,
        expires_at: None,
    };
    let url = tracker.click_url(&claims, DESTINATION).unwrap();
    let target = url.strip_prefix(ORIGIN).unwrap();
    let (path, wire) = target.split_once('?').unwrap();
    let token = path.rsplit('/').next().unwrap();

    // The MAC input as the token format defines it: head (fields up to and including the
    // link's dot), the destination's length as 4 bytes big-endian, the destination's wire
    // form, the tail (recipient, issued-at, expiry), then the tag.
    let (signed, tag_text) = token.rsplit_once('.').unwrap();
    let head_len = signed.match_indices('.').nth(3).unwrap().0 + 1;
    let (head, tail) = signed.split_at(head_len);
    let tag = base64_url_decode(tag_text);
    let keyed = {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&SECRET).unwrap();
        mac.update(CLICK_LABEL);
        mac
    };
    let length = u32::try_from(wire.len()).unwrap().to_be_bytes();
    let limit = |mac: &hmac::Hmac<sha2::Sha256>| {
        let mut mac = mac.clone();
        mac.update(head.as_bytes());
        mac.update(&length);
        mac.update(wire.as_bytes());
        mac.update(tail.as_bytes());
        mac.verify_truncated_left(&tag).is_ok()
    };
    assert!(limit(&keyed), "the baseline must check the real tag");

    let endpoint = Endpoint::new(tracker.clone(), sink::from_fn(|_event| Ok(())));
    let request = Request::new("GET", target, "203.0.113.77".parse().unwrap()).with_user_agent(USER_AGENT);
    let now = ISSUED + 3600;
    assert_eq!(endpoint.handle(&request, now).response.status, 302);

    let mut group = c.benchmark_group("handle");
    group.bench_function("hashbeacon", |b| {
        b.iter(|| endpoint.handle(black_box(&request), black_box(now)))
    });
    group.bench_function("hmac_limit", |b| b.iter(|| limit(black_box(&keyed))));
    group.finish();
}

/// Decodes the 22-character unpadded base64url tag (setup only, not measured).
fn base64_url_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}
