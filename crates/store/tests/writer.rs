//! The batching writer: it stores what a `ChannelSink` queues, several at once on one
//! PostgreSQL database, and keeps events through a database restart.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test fails by panicking"
)]

mod common;

use std::time::{Duration, Instant};

use hashbeacon::event::Link;
use hashbeacon::sink::ChannelSink;
use hashbeacon::{Event, EventSink, Kind, Verdict};
use hashbeacon_store::load::{CAMPAIGN, Shape, Synthetic, template};
use hashbeacon_store::{
    CampaignFigures, Database, HealthReport, RejectedFigures, Store, Writer, WriterOptions,
};

fn options() -> WriterOptions {
    WriterOptions::default()
        .with_max_batch(100)
        .with_retry(Duration::from_millis(20), Duration::from_millis(200))
}

/// Synthetic events over few recipients and links, so writers contend for rows.
fn events(seed: u64, n: usize) -> Vec<Event> {
    let mut shape = Shape::default();
    (shape.recipients, shape.links, shape.seed) = (50, 3, seed);
    Synthetic::new(shape).take(n).collect()
}

fn send(sink: &ChannelSink, events: &[Event]) {
    for event in events {
        sink.record(event.clone()).unwrap();
    }
}

/// The rollups equal the raw rows' report, which holds exactly `expected` events.
fn assert_exact(db: &str, expected: u64) {
    let mut store = Store::open(db).unwrap();
    let raw = store.raw_report().unwrap();
    assert_eq!(raw.events(), expected, "one raw row per event");
    let figures = raw
        .campaign(CAMPAIGN)
        .map(CampaignFigures::from_report)
        .unwrap_or_default();
    assert_eq!(store.figures(CAMPAIGN).unwrap(), figures);
    assert_eq!(
        store.rejected().unwrap(),
        RejectedFigures::from_report(raw.rejected())
    );
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stores_everything_queued_before_it_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db").to_str().unwrap().to_owned();
    let (sink, receiver) = ChannelSink::new(10_000);
    let writer = Writer::spawn(Database::parse(&db), receiver, options());
    send(&sink, &events(1, 2_500));
    drop(sink);
    let health = writer.finish(Duration::from_secs(10));
    assert_eq!((health.events_stored, health.events_not_stored), (2_500, 0));
    assert_eq!(health.status, "ok");
    assert_exact(&db, 2_500);
}

#[test]
fn concurrent_writers_on_one_postgres_lose_and_double_nothing() {
    let Some(url) = common::postgres_url() else { return };
    let url = common::fresh_schema(&url);
    let per_writer = 3_000;
    std::thread::scope(|scope| {
        for seed in 0..4 {
            let url = &url;
            scope.spawn(move || {
                let (sink, receiver) = ChannelSink::new(per_writer);
                let writer = Writer::spawn(Database::parse(url), receiver, options());
                send(&sink, &events(seed, per_writer));
                drop(sink);
                let health = writer.finish(Duration::from_secs(30));
                assert_eq!(health.events_stored, per_writer as u64, "{health:?}");
            });
        }
    });
    assert_exact(&url, 4 * per_writer as u64);
}

#[test]
fn keeps_events_while_postgres_is_down_and_writes_them_when_it_is_back() {
    if common::postgres_url().is_none() {
        return;
    }
    let cluster = common::cluster::Cluster::start();
    let url = cluster.url();
    let (sink, receiver) = ChannelSink::new(10_000);
    let writer = Writer::spawn(Database::parse(&url), receiver, options());
    let health = writer.health();
    send(&sink, &events(1, 500));
    wait_for("the first events", || health.report().events_stored == 500);

    cluster.stop();
    send(&sink, &events(2, 700));
    wait_for("the writer to notice", || !health.report().database_reachable);
    let down: HealthReport = health.report();
    assert_eq!(down.status, "degraded");
    assert!(down.events_waiting > 0 && down.last_error.is_some(), "{down:?}");
    assert_eq!(down.events_not_stored, 0);

    cluster.resume();
    wait_for("the queued events", || health.report().events_stored == 1_200);
    drop(sink);
    let health = writer.finish(Duration::from_secs(10));
    assert_eq!(
        (health.events_not_stored, health.events_not_queued),
        (0, 0),
        "{health:?}"
    );
    assert!(health.database_reachable);
    assert_exact(&url, 1_200);
}

/// Gives `event` a campaign id PostgreSQL refuses (its text cannot hold U+0000; a
/// host may build its own events); `false` for a rejected request, which names none.
fn refused_by_postgres(event: &mut Event) -> bool {
    let Ok(token) = &mut event.token else {
        return false;
    };
    token.campaign = "spring\0sale".into();
    true
}

/// Queues `events`, then has a writer store them in one batch and finish.
fn store_in_one_batch(db: &str, events: &[Event]) -> HealthReport {
    let (sink, receiver) = ChannelSink::new(10_000);
    send(&sink, events);
    drop(sink);
    let writer = Writer::spawn(Database::parse(db), receiver, options().with_max_batch(5_000));
    writer.finish(Duration::from_secs(30))
}

#[test]
fn events_the_database_refuses_cost_no_other_event() {
    let Some(url) = common::postgres_url() else { return };
    let db = common::fresh_schema(&url);
    let mut queued = events(3, 1_000);
    // One in each half of the batch: both halves are refused, and both split again.
    assert!(refused_by_postgres(&mut queued[211]) && refused_by_postgres(&mut queued[617]));
    let health = store_in_one_batch(&db, &queued);
    assert_eq!(
        (health.events_stored, health.events_not_stored),
        (998, 2),
        "{health:?}"
    );
    // The server's own words, not the client library's "db error".
    let error = health.last_error.unwrap();
    assert!(
        error.contains("invalid byte sequence") && error.contains("22021"),
        "{error}"
    );
    assert_exact(&db, 998);
}

#[test]
fn a_database_that_refuses_nearly_every_event_has_them_all_counted() {
    let Some(url) = common::postgres_url() else { return };
    let db = common::fresh_schema(&url);
    let mut queued = events(4, 300);
    let refused = queued
        .iter_mut()
        .map(refused_by_postgres)
        .filter(|&refused| refused)
        .count() as u64;
    assert!(
        refused > 250 && refused < 300,
        "a few rejected requests name no campaign"
    );
    let health = store_in_one_batch(&db, &queued);
    // Some of the storable ones among them are found within the tries a refused
    // batch gets, the rest are counted with the refused ones: none is lost untold,
    // none stored twice.
    assert_eq!(health.events_stored + health.events_not_stored, 300, "{health:?}");
    assert!(health.events_not_stored >= refused, "{health:?}");
    assert_eq!(health.status, "degraded");
    assert_exact(&db, health.events_stored);
}

#[test]
fn an_unreachable_database_at_shutdown_is_reported_not_hidden() {
    // Nothing listens on this port; the writer keeps trying until the grace ends.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?connect_timeout=1");
    let (sink, receiver) = ChannelSink::new(1_000);
    let writer = Writer::spawn(Database::parse(&url), receiver, options());
    let mut click = template(Kind::Click, false);
    click.verdict = Verdict::Human;
    if let Ok(token) = &mut click.token {
        token.link = Some(Link::Index(3));
    }
    send(&sink, &vec![click; 250]);
    drop(sink);
    let health = writer.finish(Duration::from_millis(300));
    assert_eq!(
        (health.events_stored, health.events_not_stored),
        (0, 250),
        "{health:?}"
    );
    assert_eq!(health.status, "degraded");
    assert!(!health.database_reachable);
    assert!(health.last_error.is_some());
}

/// Batch ids kept in the SQLite database at `db`.
fn batch_ids_kept(db: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM written_batches", [], |row| row.get(0))
        .unwrap()
}

/// Stores `n` events sent one every 2 ms (live traffic, slower than the writer) and
/// returns how many transactions it took.
fn trickle(linger: Duration, n: usize) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db").to_str().unwrap().to_owned();
    let (sink, receiver) = ChannelSink::new(10_000);
    let writer = Writer::spawn(Database::parse(&db), receiver, options().with_linger(linger));
    for event in events(3, n) {
        sink.record(event).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(sink);
    let health = writer.finish(Duration::from_secs(10));
    assert_eq!(health.events_stored, n as u64);
    assert_exact(&db, n as u64);
    // Each batch's id is forgotten once the next batch is written: one is left.
    assert_eq!(batch_ids_kept(&db), 1, "{health:?}");
    health.batches_stored
}

#[test]
fn a_lingering_writer_stores_live_traffic_in_few_transactions() {
    // Without lingering, every event or two is a transaction of its own.
    let eager = trickle(Duration::ZERO, 50);
    assert!(eager >= 10, "{eager} transactions for 50 events sent 2 ms apart");
    // Lingering half a second, the ~100 ms of traffic fits in one or two.
    let lingering = trickle(Duration::from_millis(500), 50);
    assert!(lingering <= 2, "{lingering} transactions");
}
