//! Key, keyring and pseudonym-key parsing on arbitrary text: never panics, and whatever
//! parses has exactly one textual form.
#![no_main]

use hashbeacon::{Key, Keyring, Pseudonym, PseudonymKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = Key::from_text(text) {
        assert_eq!(
            key.to_text().as_str(),
            text.trim(),
            "a key parsed from a non-canonical form"
        );
    }
    if let Ok(ring) = Keyring::from_text(text) {
        let keys: Vec<&Key> = std::iter::once(ring.signing_key())
            .chain(ring.verify_only_keys())
            .collect();
        let written: Vec<String> = keys.iter().map(|key| key.to_text().to_string()).collect();
        let again = Keyring::from_text(&written.join("\n")).expect("a written keyring parses");
        assert_eq!(again.signing_key().id(), ring.signing_key().id());
        assert_eq!(again.verify_only_keys().len(), ring.verify_only_keys().len());
    }
    if let Ok(key) = PseudonymKey::from_text(text) {
        assert_eq!(
            key.to_text().as_str(),
            text.trim(),
            "a pseudonym key parsed from a non-canonical form"
        );
        let pseudonym = key.pseudonym(text);
        assert!(
            pseudonym.as_str().parse::<Pseudonym>().is_ok(),
            "not a pseudonym: {pseudonym}"
        );
    }
});
