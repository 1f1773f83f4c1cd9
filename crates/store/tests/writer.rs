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

/// Each of a writer's connections keeps the id of the last batch it wrote (to know
/// it was written if its commit went unanswered), and only that one.
fn connections_that_wrote(db: &str) -> i64 {
    common::count(db, "SELECT count(*) FROM written_batches")
}

#[test]
fn a_writer_on_several_connections_loses_and_doubles_nothing() {
    let Some(url) = common::postgres_url() else { return };
    let url = common::fresh_schema(&url);
    // Few recipients and links: the connections share every counter row.
    let health = store_queued(&url, &events(5, 4_000), options().with_connections(3));
    assert_eq!(
        (health.events_stored, health.events_not_stored),
        (4_000, 0),
        "{health:?}"
    );
    // Batches of at most 100 per connection.
    assert!(health.batches_stored >= 40, "{health:?}");
    assert_eq!(connections_that_wrote(&url), 3);
    assert_exact(&url, 4_000);
}

#[test]
fn each_of_several_connections_lingers_for_its_share_of_the_events() {
    let Some(url) = common::postgres_url() else { return };
    let url = common::fresh_schema(&url);
    let linger = Duration::from_millis(500);
    let (sink, receiver) = ChannelSink::new(1_000);
    let options = options().with_linger(linger).with_connections(2);
    let writer = Writer::spawn(Database::parse(&url), receiver, options);
    let health = writer.health();
    send(&sink, &events(7, 20));
    // One connection would have stored its batch by now (a slow machine only delays
    // that); each of two waits twice as long for its half of the events.
    std::thread::sleep(linger * 13 / 10);
    assert_eq!(health.report().events_stored, 0);
    wait_for("the events", || health.report().events_stored == 20);
    drop(sink);
    let health = writer.finish(Duration::from_secs(10));
    assert!(health.batches_stored <= 2, "{health:?}");
    assert_exact(&url, 20);
}

#[test]
fn sqlite_is_written_on_one_connection_whatever_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db").to_str().unwrap().to_owned();
    let health = store_queued(&db, &events(6, 1_000), options().with_connections(4));
    assert_eq!(
        (health.events_stored, health.events_not_stored),
        (1_000, 0),
        "{health:?}"
    );
    assert_eq!(connections_that_wrote(&db), 1);
    assert_exact(&db, 1_000);
}

#[test]
fn keeps_events_while_postgres_is_down_and_writes_them_when_it_is_back() {
    survives_postgres_going_away(options());
}

#[test]
fn keeps_events_on_every_connection_while_postgres_is_down() {
    survives_postgres_going_away(options().with_connections(2));
}

fn survives_postgres_going_away(options: WriterOptions) {
    if common::postgres_url().is_none() {
        return;
    }
    let cluster = common::cluster::Cluster::start();
    let url = cluster.url();
    let (sink, receiver) = ChannelSink::new(10_000);
    let writer = Writer::spawn(Database::parse(&url), receiver, options);
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
    assert_eq!(health.events_waiting, 0, "{health:?}");
    assert_exact(&url, 1_200);
}

#[test]
fn keeps_events_while_postgres_cannot_write_and_stores_them_once_it_can() {
    // A full disk, and a server that became a standby (after a failover, say).
    for (condition, sqlstate) in [("disk_full", "53100"), ("read_only_sql_transaction", "25006")] {
        keeps_events_while_postgres_raises(condition, sqlstate);
    }
}

fn keeps_events_while_postgres_raises(condition: &str, sqlstate: &str) {
    let Some(url) = common::postgres_url() else { return };
    let url = common::fresh_schema(&url);
    drop(Store::open(&url).unwrap());
    // PostgreSQL's own error, raised on every write of raw events while the flag
    // says so.
    common::execute(
        &url,
        &format!(
            "CREATE TABLE outage (now boolean NOT NULL);
             INSERT INTO outage VALUES (true);
             CREATE FUNCTION refuse_during_outage() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF (SELECT now FROM outage) THEN
                     RAISE EXCEPTION 'cannot write now' USING ERRCODE = '{condition}';
                 END IF;
                 RETURN NULL;
             END $$;
             CREATE TRIGGER refuse_during_outage BEFORE INSERT ON events
                 FOR EACH STATEMENT EXECUTE FUNCTION refuse_during_outage();"
        ),
    );
    let (sink, receiver) = ChannelSink::new(10_000);
    let writer = Writer::spawn(Database::parse(&url), receiver, options());
    let health = writer.health();
    send(&sink, &events(1, 700));
    wait_for("the writer to hold events", || health.report().events_waiting > 0);
    let out = health.report();
    assert_eq!(
        (out.status.as_str(), out.events_not_stored),
        ("degraded", 0),
        "{out:?}"
    );
    assert!(out.last_error.unwrap().contains(sqlstate));

    common::execute(&url, "UPDATE outage SET now = false");
    wait_for("the held events", || health.report().events_stored == 700);
    drop(sink);
    let health = writer.finish(Duration::from_secs(10));
    assert_eq!(
        (health.events_not_stored, health.events_waiting),
        (0, 0),
        "{health:?}"
    );
    assert_exact(&url, 700);
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

/// Queues `events`, then has a writer store them and finish.
fn store_queued(db: &str, events: &[Event], options: WriterOptions) -> HealthReport {
    let (sink, receiver) = ChannelSink::new(10_000);
    send(&sink, events);
    drop(sink);
    let writer = Writer::spawn(Database::parse(db), receiver, options);
    writer.finish(Duration::from_secs(30))
}

/// Queues `events`, then has a writer store them in one batch and finish.
fn store_in_one_batch(db: &str, events: &[Event]) -> HealthReport {
    store_queued(db, events, options().with_max_batch(5_000))
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
    let writer = Writer::spawn(Database::parse(&url), receiver, options().with_connections(2));
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

/// Stores `n` events sent 2 ms apart (live traffic, slower than the writer), or
/// each once the one before is stored, and returns how many transactions it took.
fn trickle(linger: Duration, n: usize, one_at_a_time: bool) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db").to_str().unwrap().to_owned();
    let (sink, receiver) = ChannelSink::new(10_000);
    let writer = Writer::spawn(Database::parse(&db), receiver, options().with_linger(linger));
    let health = writer.health();
    for (i, event) in events(3, n).into_iter().enumerate() {
        sink.record(event).unwrap();
        if one_at_a_time {
            wait_for("the event", || health.report().events_stored > i as u64);
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    drop(sink);
    let health = writer.finish(Duration::from_secs(10));
    assert_eq!(health.events_stored, n as u64);
    assert_exact(&db, n as u64);
    // Each batch's id is forgotten once the next batch is written: one is left.
    assert_eq!(connections_that_wrote(&db), 1, "{health:?}");
    health.batches_stored
}

#[test]
fn a_lingering_writer_stores_live_traffic_in_few_transactions() {
    // Without lingering, an event that finds the writer idle is written at once.
    assert_eq!(trickle(Duration::ZERO, 50, true), 50);
    // Lingering half a second, the ~100 ms of traffic fits in one or two.
    let lingering = trickle(Duration::from_millis(500), 50, false);
    assert!(lingering <= 2, "{lingering} transactions");
}
