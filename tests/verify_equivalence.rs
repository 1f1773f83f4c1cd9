//! The library's verifier reaches the same verdict as the reference verifier
//! (`tests/reference`, the verifier as it was before it authenticated first) on every
//! input: accepted with the same claims, or rejected with the same error.
//!
//! Three kinds of input: arbitrary text; genuine tokens mutated (a byte changed,
//! inserted or removed, the purpose or destination swapped); and token texts of every
//! shape carrying a *correct* tag, which only a signer that ignores the format's rules
//! could write, so the checks that remain after the MAC are exercised as well.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod reference;

use hashbeacon::{Claims, Key, KeyId, Keyring, Kind, LinkId, VerifyError};
use proptest::prelude::*;
use reference::ReferenceKeyring;

const NOW: u64 = 1_767_225_600;
const SIGNING: [u8; 32] = [7; 32];
const OLD: [u8; 32] = [3; 32];

fn ring() -> Keyring {
    Keyring::new(Key::new(KeyId::new("k1").unwrap(), &SIGNING).unwrap())
        .with_verify_only(Key::new(KeyId::new("k0").unwrap(), &OLD).unwrap())
        .unwrap()
}

fn reference() -> ReferenceKeyring {
    ReferenceKeyring::new(&[("k1", &SIGNING), ("k0", &OLD)])
}

fn expected<'a>(
    kind: Kind,
    token: &'a str,
    destination: &str,
) -> Result<hashbeacon::Verified<'a>, VerifyError> {
    reference::amended(reference().verify(kind, token, destination, NOW))
}

fn assert_same(ring: &Keyring, kind: Kind, token: &str, destination: &str) -> Result<(), TestCaseError> {
    let ours = ring.verify(kind, token, destination, NOW);
    prop_assert_eq!(
        ours,
        expected(kind, token, destination),
        "{:?} {:?} {:?}",
        kind,
        token,
        destination
    );
    Ok(())
}

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(Kind::ALL.to_vec())
}

/// The version and purpose field of a kind's tokens.
fn code(kind: Kind) -> &'static str {
    match kind {
        Kind::Click => "1c",
        Kind::Open => "1o",
        Kind::Unsubscribe => "1u",
    }
}

fn claims_strategy() -> impl Strategy<
    Value = (
        Kind,
        String,
        Option<LinkId<'static>>,
        Option<String>,
        u64,
        Option<u64>,
    ),
> {
    (
        kind(),
        "[a-zA-Z0-9_-]{1,64}",
        prop_oneof![
            Just(None),
            any::<u32>().prop_map(|i| Some(LinkId::Index(i))),
            Just(Some(LinkId::Label("cta"))),
        ],
        proptest::option::of("[a-zA-Z0-9_-]{16}"),
        any::<u64>(),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(kind, campaign, link, recipient, issued_at, expires_at)| {
            let link = if kind == Kind::Click { link } else { None };
            // An unsubscribe always names its recipient.
            let recipient = match kind {
                Kind::Unsubscribe => recipient.or_else(|| Some("3FOq2KtOAntf0XxY".to_owned())),
                _ => recipient,
            };
            let expires_at = expires_at.map(|exp| exp.max(issued_at));
            (kind, campaign, link, recipient, issued_at, expires_at)
        })
}

/// One field of a token text: usually near the format, sometimes far from it.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-zA-Z0-9_-]{1,20}",
        "[0-9]{1,21}",
        "0[0-9]{0,3}",
        "[a-zA-Z0-9_-]{16}",
        "[a-zA-Z0-9_-]{60,70}",
        "[ -~]{0,6}",
        "\\PC{0,4}",
        "[a-z]{1,3}\\.[a-z]{1,3}",
        Just("1c".to_owned()),
        Just("1o".to_owned()),
        Just("1u".to_owned()),
        Just("2c".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Arbitrary text, shaped like a token or not.
    #[test]
    fn arbitrary_input(
        kind in kind(),
        token in prop_oneof!["\\PC{0,220}", "1[cou]\\.k[01]\\.[a-z.]{0,12}\\.[0-9a-z.]{0,40}\\.[A-Za-z0-9_-]{20,24}"],
        destination in prop_oneof![Just(String::new()), "[ -~]{0,40}"],
    ) {
        assert_same(&ring(), kind, &token, &destination)?;
    }

    /// Genuine tokens, one change away.
    #[test]
    fn mutated_valid_tokens(
        (kind, campaign, link, recipient, issued_at, expires_at) in claims_strategy(),
        old_key in any::<bool>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        mutation in 0u8..6,
    ) {
        let ring = ring();
        let key = if old_key { &ring.verify_only_keys()[0] } else { ring.signing_key() };
        let claims = Claims { kind, campaign: &campaign, link, recipient: recipient.as_deref(), issued_at, expires_at };
        let destination = if kind == Kind::Click { "https://shop.example/a?b=1" } else { "" };
        let token = key.sign(&claims, destination).unwrap();
        assert_same(&ring, kind, &token, destination)?;
        let mut bytes = token.clone().into_bytes();
        let i = at.index(bytes.len());
        let (token, destination, kind) = match mutation {
            0 => { bytes[i] = byte; (String::from_utf8_lossy(&bytes).into_owned(), destination, kind) }
            1 => { bytes.insert(i, byte); (String::from_utf8_lossy(&bytes).into_owned(), destination, kind) }
            2 => { bytes.remove(i); (String::from_utf8_lossy(&bytes).into_owned(), destination, kind) }
            3 => (token, destination, Kind::ALL[(Kind::ALL.iter().position(|&k| k == kind).unwrap() + 1) % 3]),
            4 => (token, "https://shop.example/a?b=2", kind),
            _ => (token, "", kind),
        };
        assert_same(&ring, kind, &token, destination)?;
    }

    /// Token texts whose tag is correct for their bytes: a well-formed token with one
    /// part replaced by something of any shape.
    #[test]
    fn correctly_tagged_texts_of_any_shape(
        kind in kind(),
        key_id in prop_oneof![Just("k1"), Just("k0")],
        replaced in 0usize..8,
        replacement in field(),
        use_destination in any::<bool>(),
    ) {
        let mut parts: Vec<String> =
            [code(kind), key_id, "spring-sale", "", "3FOq2KtOAntf0XxY", "1767225600", "1798761600"]
                .map(str::to_owned)
                .to_vec();
        match replaced {
            7 => parts.push(replacement),
            i => parts[i] = replacement,
        }
        let destination = if use_destination { "https://shop.example/" } else { "" };
        let head = format!("{}.", parts[..4].join("."));
        let tail = parts[4..].join(".");
        // The key id field may no longer name a key: sign with the one it was.
        let tag = reference().tag(key_id, kind, &head, destination, &tail);
        let token = format!("{head}{tail}.{}", reference::encode_tag(&tag));
        assert_same(&ring(), kind, &token, destination)?;
    }

    /// Well-formed claims of every kind, signed correctly, including expiry before
    /// issue, which only a non-conforming signer writes.
    #[test]
    fn correctly_tagged_well_formed_claims(
        (kind, campaign, link, recipient, issued_at, _) in claims_strategy(),
        expires_at in proptest::option::of(any::<u64>()),
    ) {
        let link = match link {
            Some(LinkId::Index(i)) => i.to_string(),
            Some(LinkId::Label(label)) => label.to_owned(),
            None => String::new(),
        };
        let head = format!("{}.k1.{campaign}.{link}.", code(kind));
        let exp = expires_at.map(|e| e.to_string()).unwrap_or_default();
        let tail = format!("{}.{issued_at}.{exp}", recipient.unwrap_or_default());
        let destination = if kind == Kind::Click { "https://shop.example/" } else { "" };
        let tag = reference().tag("k1", kind, &head, destination, &tail);
        let token = format!("{head}{tail}.{}", reference::encode_tag(&tag));
        assert_same(&ring(), kind, &token, destination)?;
    }
}

/// The reference's tag encoding and MAC agree with the library's signer, so the
/// tests above really exercise valid tags.
#[test]
fn reference_signs_as_the_library_does() {
    let ring = ring();
    let claims = Claims {
        kind: Kind::Click,
        campaign: "spring-sale",
        link: Some(LinkId::Index(3)),
        recipient: Some("3FOq2KtOAntf0XxY"),
        issued_at: NOW,
        expires_at: None,
    };
    let token = ring.sign(&claims, "https://shop.example/").unwrap();
    let tag = reference().tag(
        "k1",
        Kind::Click,
        "1c.k1.spring-sale.3.",
        "https://shop.example/",
        "3FOq2KtOAntf0XxY.1767225600.",
    );
    assert_eq!(token.rsplit_once('.').unwrap().1, reference::encode_tag(&tag));
    assert!(
        reference()
            .verify(Kind::Click, &token, "https://shop.example/", NOW)
            .is_ok()
    );
}

/// An authentic token whose expiry precedes its issue time is refused: a conforming
/// signer never writes one (`SignError::ExpiresBeforeIssued`).
#[test]
fn expiry_before_issue_is_refused_even_with_a_valid_tag() {
    let head = "1c.k1.launch.0.";
    let tail = ".1767225600.1767225599";
    let tag = reference().tag("k1", Kind::Click, head, "https://a.example/", tail);
    let token = format!("{head}{tail}.{}", reference::encode_tag(&tag));
    assert!(
        reference()
            .verify(Kind::Click, &token, "https://a.example/", NOW)
            .is_ok()
    );
    assert_eq!(
        ring().verify(Kind::Click, &token, "https://a.example/", NOW),
        Err(VerifyError::Malformed("expires-at before issued-at"))
    );
    // With the same times equal, the token is fine (and expired at once).
    let tail = ".1767225600.1767225600";
    let tag = reference().tag("k1", Kind::Click, head, "https://a.example/", tail);
    let token = format!("{head}{tail}.{}", reference::encode_tag(&tag));
    assert!(
        ring()
            .verify(Kind::Click, &token, "https://a.example/", NOW)
            .unwrap()
            .expired
    );
}
