//! `live`: the writer under live traffic. Events are sent at a steady rate into the
//! queue a server uses, and the writer stores them; the bench counts the transactions
//! it committed and the CPU it used per event, with the default wait for a fuller
//! batch (`WriterOptions::linger`) against the same writer that never waits, in the
//! same run. SQLite always; PostgreSQL too when `HASHBEACON_TEST_POSTGRES` names one.
//!
//! ```text
//! cargo bench -p hashbeacon-store --bench live         # 300,000 events at 50,000/s
//! HASHBEACON_LIVE_EVENTS=100000 HASHBEACON_LIVE_RATE=20000 cargo bench -p hashbeacon-store --bench live
//! HASHBEACON_LIVE_RECIPIENTS=1000000 cargo bench -p hashbeacon-store --bench live
//! HASHBEACON_LIVE_CONNECTIONS=2 cargo bench -p hashbeacon-store --bench live   # PostgreSQL's
//! source .ci/postgres.sh 54403; cargo bench -p hashbeacon-store --bench live
//! ```
//!
//! The events are those of the `ingest` bench (`load::Synthetic`), over 1,000
//! recipients unless `HASHBEACON_LIVE_RECIPIENTS` says otherwise. The writer's CPU is
//! the bench process's (the writer thread, mostly) less the sending thread's, divided
//! by the events stored. A PostgreSQL server on the same machine has its CPU counted
//! apart: its postmaster and every child process, background work (WAL writer,
//! checkpointer, autovacuum) included. Events the full queue could not take are
//! counted, as a server counts them.
//! `HASHBEACON_LIVE_RATE=0` queues every event before the writer starts instead, so
//! that every batch is full and the work repeats exactly: counted in instructions,
//! what storing takes per event is the count below divided by twice the events (the
//! two runs do the same work then):
//!
//! ```text
//! HASHBEACON_LIVE_RATE=0 HASHBEACON_LIVE_EVENTS=40000 HASHBEACON_LIVE_RECIPIENTS=1 \
//!     valgrind --tool=callgrind --toggle-collect='hashbeacon_store::store::Store::write_rows' \
//!     target/release/deps/live-… --bench
//! ```
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
use hashbeacon_store::{Database, Writer, WriterOptions};

/// The queue a server gives its writer (`hashbeacon-server`'s default).
const QUEUE: usize = 10_000;

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let n = setting("HASHBEACON_LIVE_EVENTS", 300_000);
    let rate = setting("HASHBEACON_LIVE_RATE", 50_000);
    let mut shape = Shape::default();
    shape.per_second = Some(rate);
    // Readers active at once: a live campaign repeats recipients (opens, then clicks).
    shape.recipients = u32::try_from(setting("HASHBEACON_LIVE_RECIPIENTS", 1_000)).unwrap();
    let events: Vec<Event> = Synthetic::new(shape).take(usize::try_from(n).unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut targets = vec![("SQLite", Target::Sqlite(dir.path().to_owned()))];
    match std::env::var("HASHBEACON_TEST_POSTGRES") {
        Ok(url) => targets.push(("PostgreSQL", Target::Postgres(url))),
        Err(_) => println!("live: PostgreSQL skipped, set HASHBEACON_TEST_POSTGRES (source .ci/postgres.sh)"),
    }
    for (name, target) in &targets {
        let eager = run(target, "eager", &events, rate, Duration::ZERO);
        let lingering = run(
            target,
            "lingering",
            &events,
            rate,
            WriterOptions::default().linger,
        );
        for (label, figures) in [("never waits", &eager), ("default wait", &lingering)] {
            let server = figures
                .server_per_event_us
                .map(|us| format!(", database server {us:>5.2} µs CPU/event"))
                .unwrap_or_default();
            println!(
                "live {name} {label:>12}: {n} events at {rate}/s, {:>6} transactions, writer {:>5.2} µs CPU/event{server}, {} not queued",
                figures.transactions, figures.cpu_per_event_us, figures.not_queued
            );
        }
        println!(
            "live {name}: default wait ÷ never waits: transactions {:.3}x, CPU per event {:.2}x",
            lingering.transactions as f64 / eager.transactions as f64,
            lingering.cpu_per_event_us / eager.cpu_per_event_us
        );
    }
}

/// Where a run stores its events: a fresh database each time.
enum Target {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Target {
    /// A fresh database (SQLite file, or PostgreSQL schema) for one run.
    fn fresh(&self, run: &str) -> String {
        match self {
            Target::Sqlite(dir) => dir.join(format!("{run}.db")).to_str().unwrap().to_owned(),
            Target::Postgres(url) => common::fresh_schema(url, &schema_name(run)),
        }
    }

    /// CPU time of a PostgreSQL server on this machine: the postmaster, its live
    /// children, and the children it has reaped. `None` for SQLite, or when the
    /// server's processes cannot be read (another machine).
    fn server_cpu(&self) -> Option<Duration> {
        let Target::Postgres(url) = self else {
            return None;
        };
        let mut client = postgres::Client::connect(url, postgres::NoTls).ok()?;
        let backend: i32 = client.query_one("SELECT pg_backend_pid()", &[]).ok()?.get(0);
        let postmaster = stat_fields(&format!("/proc/{backend}/stat"))?.parent;
        let main = stat_fields(&format!("/proc/{postmaster}/stat"))?;
        let children: u64 = std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|entry| stat_fields(&entry.ok()?.path().join("stat").to_string_lossy()))
            .filter(|process| process.parent == postmaster)
            .map(|process| process.ticks)
            .sum();
        Some(Duration::from_millis(
            10 * (main.ticks + main.reaped_ticks + children),
        ))
    }

    fn drop_fresh(&self, db: &str, run: &str) {
        match self {
            Target::Sqlite(_) => {
                std::fs::remove_file(db).unwrap();
            }
            Target::Postgres(url) => common::drop_schema(url, &schema_name(run)),
        }
    }
}

fn schema_name(run: &str) -> String {
    format!("live_{}_{run}", std::process::id())
}

struct Figures {
    transactions: u64,
    cpu_per_event_us: f64,
    /// The database server's CPU per stored event, where it can be read.
    server_per_event_us: Option<f64>,
    not_queued: u64,
}

/// Sends `events` at `rate` a second to a writer that waits up to `linger` for a
/// fuller batch, and measures what it took to store them.
fn run(target: &Target, run: &str, events: &[Event], rate: u64, linger: Duration) -> Figures {
    let db = target.fresh(run);
    // Rate 0: every event queued before the writer starts, so that every batch is
    // full and the work is the same from run to run.
    let (sink, receiver) = ChannelSink::new(if rate == 0 { events.len().max(1) } else { QUEUE });
    if rate == 0 {
        for event in events {
            sink.record(event.clone()).unwrap();
        }
    }
    let before = (process_cpu(), thread_cpu());
    let server_before = target.server_cpu();
    let writer = Writer::spawn(
        Database::parse(&db),
        receiver,
        WriterOptions::default()
            .with_linger(linger)
            .with_connections(usize::try_from(setting("HASHBEACON_LIVE_CONNECTIONS", 1)).unwrap()),
    );
    let health = writer.health();
    let started = Instant::now();
    let mut sent = if rate == 0 { events.len() } else { 0 };
    while sent < events.len() {
        // Every event due by now, then a millisecond's sleep: the pace of traffic
        // that arrives a few dozen events at a time.
        let due = usize::try_from(started.elapsed().as_micros() * u128::from(rate) / 1_000_000)
            .unwrap()
            .min(events.len());
        for event in events.get(sent..due).unwrap_or_default() {
            if sink.record(event.clone()).is_err() {
                health.count_not_queued(1, &"queue full");
            }
        }
        sent = sent.max(due);
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(sink);
    let sender_cpu = thread_cpu() - before.1;
    let report = writer.finish(Duration::from_secs(120));
    let writer_cpu = process_cpu() - before.0 - sender_cpu;
    // The writer's server process has ended; its parent counts its time once it
    // has reaped it.
    std::thread::sleep(Duration::from_millis(200));
    let server_cpu = server_before
        .zip(target.server_cpu())
        .map(|(before, after)| after.saturating_sub(before));
    let stored = report.events_stored + report.events_not_queued;
    assert_eq!(stored, events.len() as u64, "{report:?}");
    let transactions = report.batches_stored;
    target.drop_fresh(&db, run);
    Figures {
        transactions,
        cpu_per_event_us: writer_cpu.as_secs_f64() * 1e6 / report.events_stored as f64,
        server_per_event_us: server_cpu.map(|cpu| cpu.as_secs_f64() * 1e6 / report.events_stored as f64),
        not_queued: report.events_not_queued,
    }
}

/// What a process's `stat` file says of its CPU time, in clock ticks (the kernel's
/// USER_HZ, 100 on Linux).
struct Stat {
    parent: i64,
    /// User and system time of the process, every thread included.
    ticks: u64,
    /// User and system time of the children it has reaped.
    reaped_ticks: u64,
}

fn stat_fields(path: &str) -> Option<Stat> {
    // The command name, field 2, is in parentheses and may hold spaces: the fields
    // are counted after it. Field 4 is the parent, 14 to 17 the times.
    let stat = std::fs::read_to_string(path).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let number = |field: usize| fields.get(field - 3)?.parse::<u64>().ok();
    Some(Stat {
        parent: fields.get(1)?.parse().ok()?,
        ticks: number(14)? + number(15)?,
        reaped_ticks: number(16)? + number(17)?,
    })
}

/// CPU time of the whole process, every thread that ran in it included.
fn process_cpu() -> Duration {
    Duration::from_millis(10 * stat_fields("/proc/self/stat").unwrap().ticks)
}

/// CPU time of the calling thread, in nanoseconds from the scheduler.
fn thread_cpu() -> Duration {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    Duration::from_nanos(schedstat.split_whitespace().next().unwrap().parse().unwrap())
}
