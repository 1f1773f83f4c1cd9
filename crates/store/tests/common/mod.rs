//! Helpers shared by the store's integration tests: events, conversions and
//! databases to write them to.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub(crate) mod cluster;

use hashbeacon::conversion::ClickReference;
use hashbeacon::report::Report;
use hashbeacon::{Conversion, Key, KeyId, Keyring, LinkId};
use hashbeacon_store::{CampaignFigures, RejectedFigures, Store};
use proptest::prelude::*;

#[allow(unused_imports, reason = "only the PostgreSQL tests use them")]
pub(crate) use hashbeacon_test_postgres::{fresh_schema, postgres_url};

/// Runs `test` on a SQLite database and, when configured, on a PostgreSQL one.
pub(crate) fn databases(test: impl Fn(&str)) {
    let dir = tempfile::tempdir().unwrap();
    test(dir.path().join("events.db").to_str().unwrap());
    if let Some(url) = postgres_url() {
        test(&fresh_schema(&url));
    }
}

/// Runs `sql` on `db` directly, past the store.
pub(crate) fn execute(db: &str, sql: &str) {
    if db.starts_with("postgres") {
        let mut client = postgres::Client::connect(db, postgres::NoTls).unwrap();
        client.batch_execute(sql).unwrap();
    } else {
        rusqlite::Connection::open(db)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }
}

/// A count `sql` answers on `db`.
pub(crate) fn count(db: &str, sql: &str) -> i64 {
    if db.starts_with("postgres") {
        let mut client = postgres::Client::connect(db, postgres::NoTls).unwrap();
        client.query_one(sql, &[]).unwrap().get(0)
    } else {
        (rusqlite::Connection::open(db).unwrap())
            .query_row(sql, [], |row| row.get(0))
            .unwrap()
    }
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
