//! Helpers shared by the store's integration tests: events, conversions and
//! databases to write them to.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub(crate) mod cluster;

use hashbeacon::conversion::ClickReference;
use hashbeacon::{Conversion, Key, KeyId, Keyring, LinkId};

#[allow(unused_imports, reason = "only the PostgreSQL tests use them")]
pub(crate) use hashbeacon_test_postgres::{fresh_schema, postgres_url};

/// The keyring conversions are signed with.
pub(crate) fn keyring() -> Keyring {
    Keyring::new(Key::new(KeyId::new("k1").unwrap(), &[7u8; 32]).unwrap())
}

/// A verified conversion of a click, and the reference it was verified from.
pub(crate) fn conversion(
    campaign: &str,
    link: Option<LinkId<'_>>,
    recipient: Option<&str>,
    clicked_at: u64,
    converted_at: u64,
) -> (String, Conversion) {
    let ring = keyring();
    let reference = ring
        .sign_reference(&ClickReference {
            campaign,
            link,
            recipient,
            clicked_at,
        })
        .unwrap();
    let conversion = ring.verify_reference(&reference, converted_at).unwrap();
    (reference, conversion)
}
