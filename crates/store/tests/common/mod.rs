//! Helpers shared by the store's integration tests: events, conversions and
//! databases to write them to.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub(crate) mod cluster;

use std::sync::atomic::{AtomicU64, Ordering};

use hashbeacon::conversion::ClickReference;
use hashbeacon::report::Report;
use hashbeacon::{Conversion, Key, KeyId, Keyring, LinkId};
use hashbeacon_store::{CampaignFigures, RejectedFigures, Store};
use proptest::prelude::*;

/// The variable naming the PostgreSQL server the tests use.
pub(crate) const POSTGRES_VAR: &str = "HASHBEACON_TEST_POSTGRES";

/// The PostgreSQL server to test against, or `None` (with a note) when none is
/// configured outside CI. Under `CI=true` a missing or unreachable server fails the
/// test: CI must never pass by skipping.
pub(crate) fn postgres_url() -> Option<String> {
    let ci = std::env::var("CI").is_ok_and(|ci| ci == "true");
    let Ok(url) = std::env::var(POSTGRES_VAR) else {
        assert!(
            !ci,
            "{POSTGRES_VAR} is not set: .ci/run starts PostgreSQL and sets it"
        );
        eprintln!("skipped: set {POSTGRES_VAR} (source .ci/postgres.sh) to run the PostgreSQL tests");
        return None;
    };
    if let Err(error) = postgres::Client::connect(&url, postgres::NoTls) {
        panic!("{POSTGRES_VAR}={url} is unreachable: {error}");
    }
    Some(url)
}

/// A URL for a new, empty schema of the server at `url`, so tests never share tables.
pub(crate) fn fresh_schema(url: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "t{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client.batch_execute(&format!("CREATE SCHEMA {name}")).unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{name}")
}

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

/// Checks that the rollups' figures equal the report folded from the stored raw rows,
/// for each of `campaigns`, a campaign never written, and the rejected requests;
/// returns that report.
pub(crate) fn rollups_equal_raw_report(
    store: &mut Store,
    campaigns: &[&str],
) -> Result<Report, TestCaseError> {
    let raw = store.raw_report().unwrap();
    for &campaign in campaigns.iter().chain(&["never-sent"]) {
        let expected = raw
            .campaign(campaign)
            .map(CampaignFigures::from_report)
            .unwrap_or_default();
        prop_assert_eq!(
            store.figures(campaign).unwrap(),
            expected,
            "campaign {}",
            campaign
        );
    }
    prop_assert_eq!(
        store.rejected().unwrap(),
        RejectedFigures::from_report(raw.rejected())
    );
    Ok(raw)
}
