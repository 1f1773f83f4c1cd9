//! Databases written by earlier versions of the schema: opened, migrated, and their
//! figures kept.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test fails by panicking"
)]

mod common;

use common::{count, databases, execute};

use hashbeacon::Kind;
use hashbeacon::report::Granularity;
use hashbeacon_store::load::{CAMPAIGN, ISSUED_AT, Shape, Synthetic, template};
use hashbeacon_store::{SCHEMA_VERSION, Store};

/// Turns a database of the current version back into one of version 3, as that
/// version wrote it: hourly trend rows in `rollup_hours` (one per hour with a count,
/// read on SQLite from an index that holds the counts) instead of day rows, and no
/// index of unsubscribe rows.
fn back_to_version_3(db: &str) {
    let hours: Vec<String> = (0..24)
        .map(|hour| {
            format!(
                "SELECT campaign, scope, action, day + {}, person, h{hour} FROM rollup_days WHERE h{hour} <> 0",
                hour * 3600
            )
        })
        .collect();
    execute(
        db,
        &format!(
            "CREATE TABLE rollup_hours (
                 campaign TEXT NOT NULL, scope TEXT NOT NULL, action TEXT NOT NULL,
                 hour BIGINT NOT NULL, person BOOLEAN NOT NULL, n BIGINT NOT NULL,
                 PRIMARY KEY (campaign, scope, action, hour, person)
             );
             INSERT INTO rollup_hours (campaign, scope, action, hour, person, n) {};
             DROP TABLE rollup_days;
             DROP INDEX events_unsubscribes;
             UPDATE hashbeacon_schema SET version = 3;",
            hours.join(" UNION ALL ")
        ),
    );
    if !db.starts_with("postgres") {
        execute(
            db,
            "CREATE INDEX rollup_hours_read ON rollup_hours (campaign, scope, action, hour, person, n)",
        );
    }
}

/// Whether the unsubscribe feed's index (schema version 5) is there.
fn has_feed_index(db: &str) -> bool {
    let sql = if db.starts_with("postgres") {
        "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'events_unsubscribes'"
    } else {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'events_unsubscribes'"
    };
    count(db, sql) == 1
}

/// Synthetic events over three days: many hours of many days, on several links.
fn events(seed: u64, count: usize) -> impl Iterator<Item = hashbeacon::Event> {
    let mut shape = Shape::default();
    shape.recipients = 500;
    shape.links = 4;
    shape.spread = 3 * 86_400 + 7_000;
    shape.seed = seed;
    Synthetic::new(shape).take(count)
}

#[test]
fn a_version_3_database_keeps_its_figures() {
    databases(|db| {
        let mut store = Store::open(db).unwrap();
        store.write(&events(1, 3_000).collect::<Vec<_>>()).unwrap();
        let figures = store.figures(CAMPAIGN).unwrap();
        let days = figures.clicks.trend(Granularity::Day);
        assert_eq!(days.len(), 4, "{days:?}");
        drop(store);

        assert!(has_feed_index(db));
        back_to_version_3(db);
        assert!(!has_feed_index(db));
        let hours = count(db, "SELECT COUNT(*) FROM rollup_hours");
        // Every filled hour of the campaign's clicks is a row of its own there.
        assert!(hours > figures.clicks.hours.len() as i64, "{hours} rows");
        let mut store = Store::open(db).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert!(has_feed_index(db));
        assert_eq!(store.figures(CAMPAIGN).unwrap(), figures);
        common::rollups_equal_raw_report(&mut store, &[CAMPAIGN]).unwrap();
        assert!(
            count(db, "SELECT COUNT(*) FROM rollup_days") < hours / 12,
            "a row per day, not per hour"
        );

        // Carried-over rows add up with new events.
        store.write(&events(2, 2_000).collect::<Vec<_>>()).unwrap();
        assert_eq!(store.raw_report().unwrap().events(), 5_000);
        common::rollups_equal_raw_report(&mut store, &[CAMPAIGN]).unwrap();
        let more = store.figures(CAMPAIGN).unwrap();
        assert!(more.clicks.total() > figures.clicks.total());
    });
}

#[test]
fn a_version_1_database_is_migrated_at_open() {
    databases(|db| {
        let mut store = Store::open(db).unwrap();
        store
            .write(&[template(Kind::Click, false), template(Kind::Open, false)])
            .unwrap();
        drop(store);
        // Back to version 1, as a database written before batch ids were kept.
        back_to_version_3(db);
        execute(
            db,
            "DROP INDEX IF EXISTS rollup_hours_read; DROP TABLE written_batches;
             UPDATE hashbeacon_schema SET version = 1",
        );
        let mut store = Store::open(db).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert!(store.write_once("b1", &[template(Kind::Open, false)]).unwrap());
        assert_eq!(store.raw_report().unwrap().events(), 3, "the old rows stay");
        common::rollups_equal_raw_report(&mut store, &[CAMPAIGN]).unwrap();
    });
}

#[test]
fn a_campaigns_day_rows_are_one_range_of_the_primary_key_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let db = db.to_str().unwrap();
    let mut event = template(Kind::Click, false);
    event.received_at = ISSUED_AT + 3_600;
    Store::open(db).unwrap().write(&[event]).unwrap();
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut explain = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT scope, action, day, person, h0, h23 FROM rollup_days
             WHERE campaign = 'c' ORDER BY scope, action",
        )
        .unwrap();
    let plan: Vec<String> = explain
        .query_map([], |row| row.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // One step, the search: no sort after it.
    assert_eq!(plan.len(), 1, "{plan:?}");
    assert!(plan[0].contains("USING PRIMARY KEY (campaign=?)"), "{plan:?}");
    let indexes = count(
        db,
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'rollup_days'",
    );
    assert_eq!(
        indexes, 0,
        "no index beside the table: its rows are the primary key's b-tree"
    );
}
