//! Regression tests for defects found by fuzzing and review, one test per finding, each
//! named after what went wrong.

use hashbeacon::{Key, KeyId, Keyring};

fn key(id: &str, byte: u8) -> Result<Key, hashbeacon::KeyError> {
    Key::new(KeyId::new(id)?, &[byte; 32])
}

/// A comment line holding a comma was split at the comma and its second half read as a
/// malformed key, so a key file such as `# retired, kept for old mail` failed to load.
#[test]
fn keyring_comment_with_a_comma_is_ignored_whole() -> Result<(), hashbeacon::KeyError> {
    let (k2, k1) = (key("k2", 2)?, key("k1", 1)?);
    let text = format!(
        "# signing key, since 2026-03\n{}\n  # retired, kept for old mail\n{}\n",
        k2.to_text().as_str(),
        k1.to_text().as_str()
    );
    let ring = Keyring::from_text(&text)?;
    assert_eq!(ring.signing_key().id(), k2.id());
    assert_eq!(ring.verify_only_keys().len(), 1);
    assert_eq!(ring.get("k1").map(Key::id), Some(k1.id()));
    // Commas still separate keys on one line.
    let ring = Keyring::from_text(&format!("{},{}", k2.to_text().as_str(), k1.to_text().as_str()))?;
    assert_eq!(ring.verify_only_keys().len(), 1);
    Ok(())
}
