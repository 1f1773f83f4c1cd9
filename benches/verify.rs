//! Token verification, URL building and whole-request handling, each beside its
//! physical limit in the same run.
//!
//! `hmac_limit` is HMAC-SHA256 over exactly the bytes the token MAC covers, from a
//! precomputed keyed state (domain label absorbed, as the key does), plus the 16-byte
//! tag check: no parsing, no lookups, one contiguous update. Nothing can verify this
//! token format faster.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use hashbeacon::{Claims, Endpoint, Key, KeyId, Kind, LinkId, PseudonymKey, Request, Tracker, sink};
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const SECRET: [u8; 32] = [7; 32];
const NOW: u64 = 1_767_225_600;
const CAMPAIGN: &str = "newsletter-2026-11-week-48";
const DESTINATION: &str =
    "https://shop.example.com/products/winter-boots?utm_source=newsletter&utm_medium=email";
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

struct Fixture {
    tracker: Tracker,
    recipient: String,
    token: String,
    wire: String,
    /// Exactly the bytes the MAC covers after the domain label.
    mac_input: Vec<u8>,
    tag: Vec<u8>,
    /// HMAC keyed state with the click label absorbed.
    keyed: HmacSha256,
}

fn fixture() -> Fixture {
    let key = Key::new(KeyId::new("k1").unwrap(), &SECRET).unwrap();
    let tracker = Tracker::new(key.into(), "https://t.example.com").unwrap();
    let recipient = PseudonymKey::new(&[9; 32])
        .unwrap()
        .pseudonym("ada@example.com")
        .to_string();
    let url = tracker.click_url(&claims(&recipient), DESTINATION).unwrap();
    let (path, wire) = url["https://t.example.com".len()..].split_once('?').unwrap();
    let token = path.strip_prefix("/c/").unwrap().to_owned();
    // Layout per docs/TOKEN.md: head (through the 4th dot) || u32 length || wire || tail.
    let dots: Vec<usize> = token.match_indices('.').map(|(i, _)| i).collect();
    let (head, tail, tag) = (
        &token[..=dots[3]],
        &token[dots[3] + 1..dots[6]],
        &token[dots[6] + 1..],
    );
    let mut mac_input = head.as_bytes().to_vec();
    mac_input.extend_from_slice(&(wire.len() as u32).to_be_bytes());
    mac_input.extend_from_slice(wire.as_bytes());
    mac_input.extend_from_slice(tail.as_bytes());
    let mut keyed = HmacSha256::new_from_slice(&SECRET).unwrap();
    keyed.update(b"hashbeacon/v1/click\0");
    let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tag)
        .unwrap();
    // The limit really computes this token's tag.
    let mut check = keyed.clone();
    check.update(&mac_input);
    check.verify_truncated_left(&tag).unwrap();
    Fixture {
        tracker,
        recipient,
        token,
        wire: wire.to_owned(),
        mac_input,
        tag,
        keyed,
    }
}

/// The physical limit of verifying: the MAC over exactly the covered bytes, from the
/// precomputed keyed state, plus the constant-time tag check.
fn hmac_limit(f: &Fixture) {
    let mut mac = f.keyed.clone();
    mac.update(black_box(&f.mac_input));
    mac.verify_truncated_left(black_box(&f.tag)).unwrap()
}

fn claims(recipient: &str) -> Claims<'_> {
    Claims {
        kind: Kind::Click,
        campaign: CAMPAIGN,
        link: Some(LinkId::Index(12)),
        recipient: Some(recipient),
        issued_at: NOW,
        expires_at: Some(NOW + 365 * 86_400),
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct JwtClaims {
    kind: String,
    campaign: String,
    link: u32,
    recipient: String,
    iat: u64,
    exp: u64,
    dest: String,
}

/// The fixture's click as a request target, and an endpoint whose sink discards events.
fn click(f: &Fixture) -> (String, Endpoint<impl hashbeacon::EventSink>) {
    let target = format!("/c/{}?{}", f.token, f.wire);
    (
        target,
        Endpoint::new(f.tracker.clone(), sink::from_fn(|_event| Ok(()))),
    )
}

/// `HASHBEACON_CALLS=PATH:N` (PATH: `verify`, `build`, `handle` or `hmac_limit`) makes N
/// calls of one measured path and exits. Under `valgrind --tool=callgrind`, 2,000 calls
/// less 1,000, divided by 1,000, counts one call's instructions without the setup's.
fn counted_calls(f: &Fixture) {
    let Ok(calls) = std::env::var("HASHBEACON_CALLS") else {
        return;
    };
    let (path, n) = calls.split_once(':').expect("HASHBEACON_CALLS=PATH:N");
    let n = n.parse::<usize>().expect("a number of calls");
    let (target, endpoint) = click(f);
    let request = Request::new("GET", &target, "203.0.113.77".parse().unwrap()).with_user_agent(USER_AGENT);
    let mut out = String::with_capacity(256);
    for _ in 0..n {
        match path {
            "verify" => {
                black_box(
                    (f.tracker.keyring())
                        .verify(Kind::Click, black_box(&f.token), black_box(&f.wire), NOW)
                        .unwrap(),
                );
            }
            "build" => {
                out.clear();
                (f.tracker)
                    .push_click_url(&claims(black_box(&f.recipient)), black_box(DESTINATION), &mut out)
                    .unwrap();
                black_box(&out);
            }
            "handle" => {
                black_box(endpoint.handle(black_box(&request), NOW + 3600));
            }
            "hmac_limit" => hmac_limit(f),
            other => panic!("no path {other}"),
        }
    }
    std::process::exit(0);
}

fn verify(c: &mut Criterion) {
    let f = fixture();
    counted_calls(&f);
    let jwt_claims = JwtClaims {
        kind: "click".into(),
        campaign: CAMPAIGN.into(),
        link: 12,
        recipient: f.recipient.clone(),
        iat: NOW,
        exp: NOW + 365 * 86_400,
        dest: DESTINATION.into(),
    };
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &jwt_claims,
        &jsonwebtoken::EncodingKey::from_secret(&SECRET),
    )
    .unwrap();
    let decoding_key = jsonwebtoken::DecodingKey::from_secret(&SECRET);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = true;
    assert!(jsonwebtoken::decode::<JwtClaims>(&jwt, &decoding_key, &validation).is_ok());

    let mut group = c.benchmark_group("verify");
    group.bench_function("hashbeacon", |b| {
        b.iter(|| {
            f.tracker
                .keyring()
                .verify(Kind::Click, black_box(&f.token), black_box(&f.wire), NOW)
                .unwrap()
        })
    });
    group.bench_function("hmac_limit", |b| b.iter(|| hmac_limit(&f)));
    group.bench_function("jsonwebtoken_hs256", |b| {
        b.iter(|| jsonwebtoken::decode::<JwtClaims>(black_box(&jwt), &decoding_key, &validation).unwrap())
    });
    group.finish();
}

fn build(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("build");
    let mut out = String::with_capacity(256);
    // The measured work really builds the fixture's URL.
    f.tracker
        .push_click_url(&claims(&f.recipient), DESTINATION, &mut out)
        .unwrap();
    assert!(out.contains(&f.token) && out.ends_with(&f.wire));
    group.bench_function("hashbeacon", |b| {
        b.iter(|| {
            out.clear();
            f.tracker
                .push_click_url(&claims(black_box(&f.recipient)), black_box(DESTINATION), &mut out)
                .unwrap();
        })
    });
    group.bench_function("hmac_limit", |b| {
        b.iter(|| {
            let mut mac = f.keyed.clone();
            mac.update(black_box(&f.mac_input));
            mac.finalize().into_bytes()
        })
    });
    group.finish();
}

/// One valid click handled end to end — route, verify, decode the destination, build the
/// `Location`, classify, build the event and hand it to a sink that discards it, build
/// the response — against the same MAC limit.
fn handle(c: &mut Criterion) {
    let f = fixture();
    let (target, endpoint) = click(&f);
    let request = Request::new("GET", &target, "203.0.113.77".parse().unwrap()).with_user_agent(USER_AGENT);
    let now = NOW + 3600;
    assert_eq!(endpoint.handle(&request, now).response.status, 302);

    let mut group = c.benchmark_group("handle");
    group.bench_function("hashbeacon", |b| {
        b.iter(|| endpoint.handle(black_box(&request), black_box(now)))
    });
    group.bench_function("hmac_limit", |b| b.iter(|| hmac_limit(&f)));
    group.finish();
}

criterion_group!(benches, verify, build, handle);
criterion_main!(benches);
