//! Token invariants: round trip, tamper rejection, canonicality, purpose separation,
//! key rotation, and no panics on arbitrary input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hashbeacon::link::encode_destination;
use hashbeacon::{Claims, Key, KeyId, Keyring, Kind, LinkId, VerifyError};
use proptest::prelude::*;

const NOW: u64 = 1_767_225_600;

fn key(id: &str, byte: u8) -> Key {
    Key::new(KeyId::new(id).unwrap(), &[byte; 32]).unwrap()
}

fn ring() -> Keyring {
    Keyring::new(key("k2", 2)).with_verify_only(key("k1", 1)).unwrap()
}

/// Owned claims, so proptest can generate them.
#[derive(Debug, Clone)]
struct OwnedClaims {
    kind: Kind,
    campaign: String,
    link: Option<Result<u32, String>>,
    recipient: Option<String>,
    issued_at: u64,
    expires_in: Option<u64>,
    destination: String,
}

impl OwnedClaims {
    fn claims(&self) -> Claims<'_> {
        Claims {
            kind: self.kind,
            campaign: &self.campaign,
            link: self.link.as_ref().map(|link| match link {
                Ok(index) => LinkId::Index(*index),
                Err(label) => LinkId::Label(label),
            }),
            recipient: self.recipient.as_deref(),
            issued_at: self.issued_at,
            expires_at: self.expires_in.map(|ttl| self.issued_at.saturating_add(ttl)),
        }
    }

    fn wire(&self) -> String {
        encode_destination(&self.destination).into_owned()
    }
}

fn claims_strategy() -> impl Strategy<Value = OwnedClaims> {
    let link = prop_oneof![
        any::<u32>().prop_map(Ok),
        "[a-zA-Z][a-zA-Z0-9_-]{0,31}".prop_map(Err),
    ];
    (
        proptest::sample::select(Kind::ALL.to_vec()),
        "[a-zA-Z0-9_-]{1,64}",
        proptest::option::of(link),
        proptest::option::of("[a-zA-Z0-9_-]{16}"),
        "[a-zA-Z0-9_-]{16}",
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        "https://[a-z]{1,12}\\.example/[ -~é€😀]{0,80}",
    )
        .prop_map(
            |(kind, campaign, link, recipient, unsubscriber, issued_at, expires_in, destination)| {
                let click = kind == Kind::Click;
                OwnedClaims {
                    kind,
                    campaign,
                    link: if click { link } else { None },
                    // An unsubscribe always names its recipient.
                    recipient: if kind == Kind::Unsubscribe {
                        Some(unsubscriber)
                    } else {
                        recipient
                    },
                    issued_at,
                    expires_in,
                    destination: if click { destination } else { String::new() },
                }
            },
        )
}

proptest! {
    #[test]
    fn round_trip(owned in claims_strategy(), signer in 0..2usize) {
        let ring = ring();
        let key = if signer == 0 { ring.signing_key() } else { &ring.verify_only_keys()[0] };
        let wire = owned.wire();
        let token = key.sign(&owned.claims(), &wire).unwrap();
        prop_assert!(token.len() <= hashbeacon::token::MAX_TOKEN_LEN);
        let verified = ring.verify(owned.kind, &token, &wire, NOW).unwrap();
        prop_assert_eq!(verified.claims, owned.claims());
        prop_assert_eq!(verified.key_id, key.id());
        let expired = owned.claims().expires_at.is_some_and(|exp| NOW >= exp);
        prop_assert_eq!(verified.expired, expired);
        prop_assert_eq!(verified.fresh().is_err(), expired);
    }

    #[test]
    fn every_bit_flip_is_rejected(owned in claims_strategy()) {
        let ring = ring();
        let wire = owned.wire();
        let token = ring.sign(&owned.claims(), &wire).unwrap();
        for (field, text) in [(0, &token), (1, &wire)] {
            for index in 0..text.len() {
                for bit in 0..8 {
                    let mut bytes = text.clone().into_bytes();
                    bytes[index] ^= 1 << bit;
                    let Ok(tampered) = String::from_utf8(bytes) else { continue };
                    let result = if field == 0 {
                        ring.verify(owned.kind, &tampered, &wire, NOW)
                    } else {
                        ring.verify(owned.kind, &token, &tampered, NOW)
                    };
                    prop_assert!(result.is_err(), "accepted {:?}", tampered);
                }
            }
        }
    }

    #[test]
    fn every_truncation_and_extension_is_rejected(owned in claims_strategy(), extra in "[ -~]{1,4}") {
        let ring = ring();
        let wire = owned.wire();
        let token = ring.sign(&owned.claims(), &wire).unwrap();
        for end in 0..token.len() {
            prop_assert!(ring.verify(owned.kind, &token[..end], &wire, NOW).is_err());
            prop_assert!(ring.verify(owned.kind, &token[end..], &wire, NOW).is_err() || end == 0);
        }
        let (appended, prepended) = (format!("{token}{extra}"), format!("{extra}{token}"));
        prop_assert!(ring.verify(owned.kind, &appended, &wire, NOW).is_err());
        prop_assert!(ring.verify(owned.kind, &prepended, &wire, NOW).is_err());
        if owned.kind == Kind::Click {
            for end in 0..wire.len() {
                prop_assert!(ring.verify(owned.kind, &token, &wire[..end], NOW).is_err());
            }
            let longer = format!("{wire}{extra}");
            prop_assert!(ring.verify(owned.kind, &token, &longer, NOW).is_err());
        }
    }

    #[test]
    fn purpose_confusion_is_rejected(owned in claims_strategy()) {
        let ring = ring();
        let wire = owned.wire();
        let token = ring.sign(&owned.claims(), &wire).unwrap();
        for other in Kind::ALL.into_iter().filter(|&kind| kind != owned.kind) {
            prop_assert!(
                matches!(ring.verify(other, &token, &wire, NOW), Err(VerifyError::WrongPurpose { .. })),
                "purpose check"
            );
            // Relabelling the purpose character changes the MAC's domain: still rejected.
            let code = match other { Kind::Click => 'c', Kind::Open => 'o', _ => 'u' };
            let swapped = format!("1{code}{}", &token[2..]);
            prop_assert!(ring.verify(other, &swapped, &wire, NOW).is_err());
        }
    }

    #[test]
    fn arbitrary_input_never_panics(token in "\\PC{0,300}", dest in "\\PC{0,100}", kind in proptest::sample::select(Kind::ALL.to_vec()), now: u64) {
        prop_assert!(ring().verify(kind, &token, &dest, now).is_err());
    }

    #[test]
    fn token_shaped_garbage_is_rejected(fields in proptest::collection::vec("[a-zA-Z0-9_-]{0,24}", 8)) {
        let token = format!("1c.{}", fields[1..].join("."));
        prop_assert!(ring().verify(Kind::Click, &token, "https://a.example/", NOW).is_err());
    }
}

fn sample() -> (Keyring, String, String) {
    let ring = ring();
    let wire = encode_destination("https://shop.example/p?id=42").into_owned();
    let claims = Claims {
        kind: Kind::Click,
        campaign: "launch",
        link: Some(LinkId::Index(7)),
        recipient: Some("AAAAAAAAAAAAAAAA"),
        issued_at: NOW,
        expires_at: Some(NOW + 60),
    };
    let token = ring.sign(&claims, &wire).unwrap();
    (ring, token, wire)
}

#[test]
fn unknown_key_is_rejected() {
    let (_, token, wire) = sample();
    let other = Keyring::new(key("k3", 3));
    assert_eq!(
        other.verify(Kind::Click, &token, &wire, NOW),
        Err(VerifyError::UnknownKey(KeyId::new("k2").unwrap()))
    );
}

#[test]
fn same_id_different_secret_is_bad_mac() {
    let (_, token, wire) = sample();
    let impostor = Keyring::new(key("k2", 9));
    assert_eq!(
        impostor.verify(Kind::Click, &token, &wire, NOW),
        Err(VerifyError::BadMac)
    );
}

#[test]
fn retired_key_still_verifies_after_rotation() {
    let (old_ring, token, wire) = sample();
    // Rotate: k4 signs now, k2 (the old signer) stays verify-only.
    let rotated = Keyring::new(key("k4", 4)).with_verify_only(key("k2", 2)).unwrap();
    assert!(rotated.verify(Kind::Click, &token, &wire, NOW).is_ok());
    assert!(old_ring.verify(Kind::Click, &token, &wire, NOW).is_ok());
}

#[test]
fn expiry_is_reported_not_hidden() {
    let (ring, token, wire) = sample();
    let fresh = ring.verify(Kind::Click, &token, &wire, NOW + 59).unwrap();
    assert!(!fresh.expired);
    let late = ring.verify(Kind::Click, &token, &wire, NOW + 60).unwrap();
    assert!(late.expired);
    assert_eq!(late.fresh(), Err(VerifyError::Expired { expires_at: NOW + 60 }));
}

#[test]
fn oversized_input_is_rejected_before_parsing() {
    let (ring, token, wire) = sample();
    let long = "1".repeat(hashbeacon::token::MAX_TOKEN_LEN + 1);
    assert!(matches!(
        ring.verify(Kind::Click, &long, &wire, NOW),
        Err(VerifyError::TooLong { .. })
    ));
    let huge = "a".repeat(hashbeacon::token::MAX_DESTINATION_LEN + 1);
    assert!(matches!(
        ring.verify(Kind::Click, &token, &huge, NOW),
        Err(VerifyError::DestinationTooLong { .. })
    ));
}

#[test]
fn non_canonical_forms_are_rejected() {
    let (ring, token, wire) = sample();
    let fields: Vec<&str> = token.split('.').collect();
    let variants = [
        // leading zero in the link index and in issued-at
        token.replacen(".7.", ".07.", 1),
        token.replacen(&format!(".{NOW}."), &format!(".0{NOW}."), 1),
        // padded tag, standard-alphabet tag
        format!("{token}=="),
        format!(
            "{}.{}",
            fields[..7].join("."),
            fields[7].replace('-', "+").replace('_', "/")
        ),
        // unknown version
        format!("2{}", &token[1..]),
    ];
    for variant in variants.iter().filter(|v| **v != token) {
        assert!(
            ring.verify(Kind::Click, variant, &wire, NOW).is_err(),
            "{variant}"
        );
    }
    assert_eq!(
        ring.verify(Kind::Click, &format!("2{}", &token[1..]), &wire, NOW),
        Err(VerifyError::UnsupportedVersion)
    );
}

#[test]
fn tag_with_trailing_bits_is_rejected() {
    let (ring, token, wire) = sample();
    // The 22nd base64 character carries 2 bits of tag and 4 zero bits; setting one of
    // the zero bits gives another decoding of the same tag bytes, which must fail.
    let last = token.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let value = alphabet.find(last).unwrap();
    let sibling = alphabet.chars().nth(value ^ 1).unwrap();
    let variant = format!("{}{sibling}", &token[..token.len() - 1]);
    assert!(matches!(
        ring.verify(Kind::Click, &variant, &wire, NOW),
        Err(VerifyError::Malformed(_))
    ));
}

#[test]
fn signing_rejects_invalid_claims() {
    let ring = ring();
    let base = Claims {
        kind: Kind::Click,
        campaign: "ok",
        link: None,
        recipient: None,
        issued_at: NOW,
        expires_at: None,
    };
    let bad = [
        Claims { campaign: "", ..base },
        Claims {
            campaign: "has space",
            ..base
        },
        Claims {
            campaign: "has.dot",
            ..base
        },
        Claims {
            link: Some(LinkId::Label("1starts-with-digit")),
            ..base
        },
        Claims {
            recipient: Some("ada@example.com"),
            ..base
        },
        Claims {
            expires_at: Some(NOW - 1),
            ..base
        },
        Claims {
            kind: Kind::Open,
            link: Some(LinkId::Index(0)),
            ..base
        },
    ];
    for claims in bad {
        assert!(ring.sign(&claims, "x").is_err(), "{claims:?}");
    }
    let open = Claims {
        kind: Kind::Open,
        ..base
    };
    assert!(ring.sign(&open, "https://destination.example/").is_err());
}
