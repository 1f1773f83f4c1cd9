//! `ingest`: events per second the PostgreSQL writer stores (raw rows and rollups,
//! batched per transaction as a server runs it), against a raw binary `COPY` of the
//! same rows into the same table, in the same run. Target: at least 0.5×.
//!
//! ```text
//! source .ci/postgres.sh 54403
//! cargo bench -p hashbeacon-store --bench ingest            # 200,000 events a run
//! HASHBEACON_INGEST_EVENTS=1000000 cargo bench -p hashbeacon-store --bench ingest
//! HASHBEACON_INGEST_BATCH=5000 cargo bench -p hashbeacon-store --bench ingest   # max batch
//! HASHBEACON_INGEST_CONNECTIONS=2 cargo bench -p hashbeacon-store --bench ingest # per writer
//! ```
//!
//! With `HASHBEACON_INGEST_CONNECTIONS=N` the writer stores on N connections
//! ([`WriterOptions::connections`]), and the rows are also copied on N connections at
//! once, each a share of them: the ratio to one `COPY` is what the writer gains, the
//! ratio to N is the like-for-like one.
//!
//! Each round loads the same synthetic events (a million possible recipients, ten
//! links, arriving in order as live traffic does) into a fresh schema, once through a [`Writer`] fed from a full
//! [`ChannelSink`] queue, once as `COPY`, 50,000 rows a statement; the ratio of the
//! rounds' medians is printed. Without `HASHBEACON_TEST_POSTGRES` it says so and
//! measures nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops on failure"
)]

mod common;

use common::setting;

use std::time::{Duration, Instant};

use hashbeacon::sink::ChannelSink;
use hashbeacon::{Event, EventSink};
use hashbeacon_store::load::{Shape, Synthetic};
use hashbeacon_store::{Database, Store, Writer, WriterOptions};

const ROUNDS: usize = 3;
const COPY_ROWS: usize = 50_000;

fn main() {
    let Ok(url) = std::env::var("HASHBEACON_TEST_POSTGRES") else {
        println!("ingest: skipped, set HASHBEACON_TEST_POSTGRES (source .ci/postgres.sh)");
        return;
    };
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let n = usize::try_from(setting("HASHBEACON_INGEST_EVENTS", 200_000)).unwrap();
    // Live traffic: events arrive in order, 5,000 a second.
    let mut shape = Shape::default();
    shape.per_second = Some(5_000);
    let events: Vec<Event> = Synthetic::new(shape).take(n).collect();
    let connections = usize::try_from(setting("HASHBEACON_INGEST_CONNECTIONS", 1)).unwrap();
    let defaults = WriterOptions::default();
    let batch = setting("HASHBEACON_INGEST_BATCH", defaults.max_batch as u64);
    let options = (defaults.with_connections(connections)).with_max_batch(usize::try_from(batch).unwrap());
    let (mut writer_rates, mut copy_rates, mut parallel_rates) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let copy = rate(n, time_copy(&schema(&url, round, "copy"), &events, 1));
        let parallel = (connections > 1).then(|| {
            rate(
                n,
                time_copy(&schema(&url, round, "parallel"), &events, connections),
            )
        });
        let writer = rate(n, time_writer(&schema(&url, round, "writer"), &events, &options));
        drop_schemas(&url, round, parallel.is_some());
        print!(
            "ingest round {round}: writer {writer:>9.0} events/s, COPY {copy:>9.0} rows/s, {:.2}x",
            writer / copy
        );
        if let Some(parallel) = parallel {
            print!(
                ", {connections} COPYs at once {parallel:>9.0} rows/s, {:.2}x",
                writer / parallel
            );
            parallel_rates.push(parallel);
        }
        println!();
        writer_rates.push(writer);
        copy_rates.push(copy);
    }
    let (writer, copy) = (median(writer_rates), median(copy_rates));
    print!(
        "ingest: {n} events, {connections} connection(s), median of {ROUNDS}: writer {writer:.0} events/s, raw COPY {copy:.0} rows/s, ratio {:.2}x (target >= 0.5x)",
        writer / copy
    );
    if connections > 1 {
        let parallel = median(parallel_rates);
        print!(
            "; {connections} raw COPYs at once {parallel:.0} rows/s, ratio {:.2}x",
            writer / parallel
        );
    }
    println!();
}

/// A fresh, empty schema with the store's tables, and the URL that uses it.
fn schema(url: &str, round: usize, what: &str) -> String {
    let url = common::fresh_schema(url, &schema_name(round, what));
    drop(Store::open(&url).unwrap());
    url
}

/// Drops a round's schemas.
fn drop_schemas(url: &str, round: usize, parallel: bool) {
    for what in ["copy", "writer"]
        .into_iter()
        .chain(parallel.then_some("parallel"))
    {
        common::drop_schema(url, &schema_name(round, what));
    }
}

fn schema_name(round: usize, what: &str) -> String {
    format!("ingest_{}_{round}_{what}", std::process::id())
}

/// The writer as a server runs it: default options but for the bench's variables,
/// events already queued.
fn time_writer(url: &str, events: &[Event], options: &WriterOptions) -> Duration {
    let (sink, receiver) = ChannelSink::new(events.len());
    for event in events {
        sink.record(event.clone()).unwrap();
    }
    drop(sink);
    let started = Instant::now();
    let writer = Writer::spawn(Database::parse(url), receiver, options.clone());
    let health = writer.finish(Duration::from_secs(60));
    let elapsed = started.elapsed();
    assert_eq!(health.events_stored, events.len() as u64, "{health:?}");
    elapsed
}

/// The same rows by binary `COPY` alone, no rollups, on `connections` connections at
/// once, each a share of the rows.
fn time_copy(url: &str, events: &[Event], connections: usize) -> Duration {
    let mut stores: Vec<Store> = (0..connections).map(|_| Store::open(url).unwrap()).collect();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for (store, share) in stores
            .iter_mut()
            .zip(events.chunks(events.len().div_ceil(connections)))
        {
            scope.spawn(move || {
                for chunk in share.chunks(COPY_ROWS) {
                    store.write_raw_only(chunk).unwrap();
                }
            });
        }
    });
    started.elapsed()
}

fn rate(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}
