//! Keys, key ids, the textual key form and the keyring.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hashbeacon::{Key, KeyError, KeyId, Keyring, PseudonymKey};
use proptest::prelude::*;

#[test]
fn short_and_long_secrets_are_typed_errors() {
    let id = KeyId::new("k1").unwrap();
    assert_eq!(
        Key::new(id, &[0; 31]).unwrap_err(),
        KeyError::SecretTooShort { len: 31 }
    );
    assert_eq!(
        Key::new(id, &[0; 65]).unwrap_err(),
        KeyError::SecretTooLong { len: 65 }
    );
    assert!(Key::new(id, &[0; 32]).is_ok());
    assert!(Key::new(id, &[0; 64]).is_ok());
    assert!(matches!(
        PseudonymKey::new(&[0; 16]),
        Err(KeyError::SecretTooShort { len: 16 })
    ));
}

#[test]
fn key_ids_are_checked() {
    for bad in ["", "123456789", "a.b", "a-b", "ü", " k1"] {
        assert_eq!(KeyId::new(bad), Err(KeyError::InvalidId), "{bad:?}");
    }
    assert_eq!(KeyId::new("Zz09").unwrap().to_string(), "Zz09");
}

#[test]
fn debug_never_shows_the_secret() {
    let key = Key::new(KeyId::new("k1").unwrap(), &[0xAB; 32]).unwrap();
    let text = key.to_text();
    let secret_part = text.rsplit('.').next().unwrap();
    let debug = format!("{key:?} {:?}", Keyring::new(key.clone()));
    assert!(!debug.contains(secret_part), "{debug}");
    assert!(!debug.contains("171"), "{debug}");
    assert!(debug.contains("redacted"));
    let pk = PseudonymKey::new(&[0xCD; 32]).unwrap();
    let pk_text = pk.to_text();
    assert!(!format!("{pk:?}").contains(pk_text.trim_start_matches("hbp1.")));
}

#[test]
fn malformed_key_text_is_a_clear_error() {
    let cases = [
        ("", "hbk1"),
        ("hbk2.k1.AAAA", "hbk1"),
        ("hbk1.k1", "<id>"),
        ("hbk1.k1.not base64!", "base64"),
        ("hbk1.k1.AAAA", "too short"),
        (
            "hbk1.bad-id.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            "key id",
        ),
        ("hbk1.k1.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "base64"),
    ];
    for (text, expected) in cases {
        let err = Key::from_text(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text:?} gave {err:?}");
    }
}

#[test]
fn a_key_of_the_other_kind_is_named_as_a_mix_up() {
    let signing = Key::new(KeyId::new("k1").unwrap(), &[1; 32]).unwrap();
    let pseudonym = PseudonymKey::new(&[2; 32]).unwrap();
    let as_signing = Key::from_text(&pseudonym.to_text()).unwrap_err();
    assert!(matches!(as_signing, KeyError::OtherKey { .. }), "{as_signing:?}");
    assert_eq!(
        as_signing.to_string(),
        "this is a pseudonym key (`hbp1.…`), not a signing key (`hbk1.…`)"
    );
    // In a keyring, whatever line it is on.
    let ring = format!(
        "{}\n{}\n",
        signing.to_text().as_str(),
        pseudonym.to_text().as_str()
    );
    assert_eq!(Keyring::from_text(&ring).unwrap_err(), as_signing);

    let as_pseudonym = PseudonymKey::from_text(&format!("  {}\n", signing.to_text().as_str())).unwrap_err();
    assert_eq!(
        as_pseudonym.to_string(),
        "this is a signing key (`hbk1.…`), not a pseudonym key (`hbp1.…`)"
    );
}

#[test]
fn keyring_rejects_duplicate_ids_and_parses_text() {
    let k1 = Key::new(KeyId::new("k1").unwrap(), &[1; 32]).unwrap();
    let k1b = Key::new(KeyId::new("k1").unwrap(), &[2; 32]).unwrap();
    assert_eq!(
        Keyring::new(k1.clone())
            .with_verify_only(k1b.clone())
            .unwrap_err(),
        KeyError::DuplicateId(KeyId::new("k1").unwrap())
    );
    let text = format!("{}\n\n# old\n{}\n", k1.to_text().as_str(), k1b.to_text().as_str());
    assert!(matches!(Keyring::from_text(&text), Err(KeyError::DuplicateId(_))));
    assert!(matches!(
        Keyring::from_text("# nothing\n"),
        Err(KeyError::Malformed(_))
    ));
    let k2 = Key::new(KeyId::new("k2").unwrap(), &[2; 32]).unwrap();
    let env = format!("{},{}", k2.to_text().as_str(), k1.to_text().as_str());
    let ring: Keyring = env.parse().unwrap();
    assert_eq!(ring.signing_key().id(), k2.id());
    assert_eq!(ring.get("k1").map(Key::id), Some(k1.id()));
}

/// A secret has one textual form: unpadded base64url (RFC 4648 §5) whose unused
/// trailing bits are zero. Padding, the standard alphabet's `+` and `/`, whitespace
/// inside, and a second spelling through the trailing bits are all refused.
#[test]
fn secrets_must_be_canonical_base64url() {
    let canonical = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    assert!(Key::from_text(&format!("hbk1.k1.{canonical}")).is_ok());
    // The last character carries two unused bits: `8` (…111100) is `_` in disguise.
    let non_zero_bits = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9";
    let standard_alphabet = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+/";
    for secret in [
        non_zero_bits,
        standard_alphabet,
        "AAECAwQFBgcICQoLDA0O DxAREhMUFRYXGBkaGxwdHh8",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    ] {
        let err = Key::from_text(&format!("hbk1.k1.{secret}")).unwrap_err();
        assert_eq!(
            err,
            KeyError::Malformed("the secret is not canonical unpadded base64url"),
            "{secret}"
        );
        assert!(
            PseudonymKey::from_text(&format!("hbp1.{secret}")).is_err(),
            "{secret}"
        );
    }
}

/// Pseudonym keys take 32 to 64 secret bytes, as signing keys do.
#[test]
fn pseudonym_key_sizes() {
    assert!(matches!(
        PseudonymKey::new(&[1; 31]),
        Err(KeyError::SecretTooShort { len: 31 })
    ));
    assert!(PseudonymKey::new(&[1; 32]).is_ok());
    assert!(PseudonymKey::new(&[1; 64]).is_ok());
    assert!(matches!(
        PseudonymKey::new(&[1; 65]),
        Err(KeyError::SecretTooLong { len: 65 })
    ));
}

/// The keyring file: one key per line or comma-separated, comments only on lines of
/// their own, blank lines ignored, duplicate ids refused, the signing key first.
#[test]
fn keyring_file_format() {
    let k1 = Key::new(KeyId::new("k1").unwrap(), &[1; 32]).unwrap();
    let k2 = Key::new(KeyId::new("k2").unwrap(), &[2; 32]).unwrap();
    let (t1, t2) = (k1.to_text(), k2.to_text());
    let ring = Keyring::from_text(&format!(
        "  # signing key, rotated 2026-11\n\n {}\r\n\t# old, keep\n{}\n",
        t2.as_str(),
        t1.as_str()
    ))
    .unwrap();
    assert_eq!(ring.signing_key().id(), k2.id());
    assert_eq!(ring.verify_only_keys()[0].id(), k1.id());
    // A comment after a key on the same line is not a comment: the line is refused.
    assert!(matches!(
        Keyring::from_text(&format!("{} # current", t2.as_str())),
        Err(KeyError::Malformed(_))
    ));
    // Commas separate keys, also with spaces and empty entries around them.
    let ring = Keyring::from_text(&format!("{} , ,{}", t2.as_str(), t1.as_str())).unwrap();
    assert_eq!(ring.verify_only_keys().len(), 1);
    // The same id twice is refused, even with the same secret.
    assert_eq!(
        Keyring::from_text(&format!("{}\n{}", t1.as_str(), t1.as_str())).unwrap_err(),
        KeyError::DuplicateId(k1.id())
    );
}

/// Addresses are normalized by trimming Unicode `White_Space` at both ends and
/// applying Unicode's full lowercase mapping; nothing else.
#[test]
fn pseudonym_normalization_is_exactly_trim_and_lowercase() {
    let key = PseudonymKey::new(&[0x42; 32]).unwrap();
    let ada = key.pseudonym("ada@example.com");
    assert_eq!(
        ada.as_str(),
        "3FOq2KtOAntf0XxY",
        "the golden vector of docs/TOKEN.md"
    );
    // Every White_Space character is trimmed: ASCII, NEL, no-break and ideographic space.
    for space in [
        "\t", "\n", "\u{b}", "\u{c}", "\r", " ", "\u{85}", "\u{a0}", "\u{1680}", "\u{2000}", "\u{200a}",
        "\u{2028}", "\u{2029}", "\u{202f}", "\u{205f}", "\u{3000}",
    ] {
        assert_eq!(
            key.pseudonym(&format!("{space}Ada@Example.COM{space}")),
            ada,
            "{space:?}"
        );
    }
    // Not White_Space, so kept: zero-width space, byte-order mark, the separators
    // U+001C–U+001F.
    for kept in ["\u{200b}", "\u{feff}", "\u{1c}", "\u{1f}"] {
        assert_ne!(key.pseudonym(&format!("{kept}ada@example.com")), ada, "{kept:?}");
    }
    // Inner whitespace, dots and +tags are kept.
    assert_ne!(key.pseudonym("a da@example.com"), ada);
    assert_ne!(key.pseudonym("a.da@example.com"), ada);
    // Full Unicode lowercasing, locale-free: `İ` becomes `i̇` (two characters), a final
    // `Σ` becomes `ς`, `ẞ` becomes `ß`.
    assert_eq!(
        key.pseudonym("İNFO@example.com"),
        key.pseudonym("i\u{307}nfo@example.com")
    );
    assert_ne!(
        key.pseudonym("İNFO@example.com"),
        key.pseudonym("info@example.com")
    );
    assert_eq!(
        key.pseudonym("ΟΔΟΣ@example.com"),
        key.pseudonym("οδος@example.com")
    );
    assert_eq!(
        key.pseudonym("STRAẞE@example.com"),
        key.pseudonym("straße@example.com")
    );
}

proptest! {
    #[test]
    fn key_text_round_trips(id in "[a-zA-Z0-9]{1,8}", secret in proptest::collection::vec(any::<u8>(), 32..=64)) {
        let key = Key::new(KeyId::new(&id).unwrap(), &secret).unwrap();
        let text = key.to_text();
        let parsed = Key::from_text(&format!("  {}\n", text.as_str())).unwrap();
        prop_assert_eq!(parsed.id(), key.id());
        prop_assert_eq!(parsed.to_text(), text);
    }

    #[test]
    fn pseudonym_key_text_round_trips(secret in proptest::collection::vec(any::<u8>(), 32..=64)) {
        let key = PseudonymKey::new(&secret).unwrap();
        let parsed = PseudonymKey::from_text(&key.to_text()).unwrap();
        prop_assert_eq!(parsed.pseudonym("a@b.example"), key.pseudonym("a@b.example"));
    }

    #[test]
    fn key_parsing_never_panics(text in "\\PC{0,200}") {
        let _ = Key::from_text(&text);
        let _ = Keyring::from_text(&text);
        let _ = PseudonymKey::from_text(&text);
    }

    #[test]
    fn pseudonyms_are_url_safe_and_hide_the_address(address in "[a-z0-9.+]{1,20}@[a-z]{1,10}\\.example") {
        let key = PseudonymKey::new(&[7; 32]).unwrap();
        let pseudonym = key.pseudonym(&address);
        prop_assert_eq!(pseudonym.as_str().len(), 16);
        prop_assert!(pseudonym.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        prop_assert!(!pseudonym.as_str().contains('@'));
        prop_assert_eq!(key.pseudonym(&address.to_uppercase()), pseudonym.clone());
        prop_assert_ne!(PseudonymKey::new(&[8; 32]).unwrap().pseudonym(&address), pseudonym);
    }
}
