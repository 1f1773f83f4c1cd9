//! `stats`: `GET /stats` latency of `hashbeacon-server` at 10 thousand and at 10
//! million stored events, on each backend, in one run. The figures come from rollups,
//! so the two must not differ beyond noise.
//!
//! ```text
//! cargo bench -p hashbeacon-server --bench stats
//! HASHBEACON_TEST_POSTGRES=postgres://… cargo bench -p hashbeacon-server --bench stats
//! ```
//!
//! Each backend gets two databases, one with 10 thousand events and one with
//! `STATS_EVENTS`, and a server on each; the timed requests alternate between the
//! two servers, so that whatever else the machine does weighs on both sizes alike.
//!
//! Settings (environment): `STATS_EVENTS` (10000000) for the large size,
//! `STATS_REQUESTS` (200) timed requests per size, `STATS_KEEP=DIR` to keep the
//! large databases and use them again in later runs (SQLite:
//! `DIR/stats-N.db`; PostgreSQL: schema `stats_N`), e.g. to look at the dashboard
//! at that size. Without it every database is deleted at the end. Events are
//! synthetic ([`hashbeacon_store::load`]: a million recipients, 10 links, 30 days),
//! written by the store's bulk loader with their rollups.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{setting, stored_rows};

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hashbeacon_store::Store;
use hashbeacon_store::load::{self, Shape, Synthetic};

const KEY: &str = "hbk1.k1.-zK3TkaNNZ_JOObOWy4n41GuhFVPxzF-LTuwgLFyDLs";
const SMALL: u64 = 10_000;
const WARM_UP: usize = 20;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it briefly.
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let large = if quick {
        2 * SMALL
    } else {
        setting("STATS_EVENTS", 10_000_000)
    };
    let requests = if quick { 20 } else { setting("STATS_REQUESTS", 200) };
    let dir = tempfile::tempdir().unwrap();
    let keep = std::env::var("STATS_KEEP").ok();
    let mut backends = vec![Backend::Sqlite];
    match std::env::var("HASHBEACON_TEST_POSTGRES") {
        Ok(url) => backends.push(Backend::Postgres(url)),
        Err(_) => eprintln!("stats: HASHBEACON_TEST_POSTGRES unset, PostgreSQL not measured"),
    }
    println!("stats: {requests} timed GET /stats per size, alternating sizes, after {WARM_UP} untimed");
    let mut rows = Vec::new();
    for backend in &backends {
        let name = backend.name();
        let small_db = backend.database(dir.path(), &format!("small_{}", std::process::id()));
        let large_db = match &keep {
            Some(keep) => backend.database(keep.as_ref(), &large.to_string()),
            None => backend.database(dir.path(), &format!("large_{}", std::process::id())),
        };
        fill(name, &small_db, SMALL);
        fill(name, &large_db, large);
        let [small_times, large_times] = measure([&small_db, &large_db], requests);
        for (events, times) in [(SMALL, small_times), (large, large_times)] {
            let (median, p95) = (percentile(&times, 0.5), percentile(&times, 0.95));
            println!("stats/{name} at {events} events: median {median:.2} ms, p95 {p95:.2} ms");
            rows.push((name, events, median, p95));
        }
        backend.drop_database(&small_db);
        if keep.is_none() {
            backend.drop_database(&large_db);
        }
    }
    println!("\n| backend | events | median | p95 |\n|---|---|---|---|");
    for (name, events, median, p95) in rows {
        println!("| `stats/{name}` | {events} | {median:.2} ms | {p95:.2} ms |");
    }
}

/// Where a backend's databases live.
enum Backend {
    Sqlite,
    /// The server's URL; each database is a schema of it.
    Postgres(String),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The `--db` of database `name`: a file in `dir`, or a schema (created if missing).
    fn database(&self, dir: &std::path::Path, name: &str) -> String {
        match self {
            Backend::Sqlite => dir.join(format!("stats-{name}.db")).to_str().unwrap().to_owned(),
            Backend::Postgres(url) => {
                let schema = format!("stats_{name}");
                let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
                client
                    .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                    .unwrap();
                let separator = if url.contains('?') { '&' } else { '?' };
                format!("{url}{separator}options=-csearch_path%3D{schema}")
            }
        }
    }

    fn drop_database(&self, db: &str) {
        match self {
            Backend::Sqlite => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{db}{suffix}"));
                }
            }
            Backend::Postgres(url) => {
                let schema = db.rsplit("search_path%3D").next().unwrap();
                let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
                client
                    .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                    .unwrap();
            }
        }
    }
}

/// Loads `events` synthetic events into `db`, unless it holds exactly that many
/// already (kept from an earlier run); anything else there is an error.
fn fill(name: &str, db: &str, events: u64) {
    let stored = stored_rows(db);
    if stored == events {
        eprintln!("stats/{name}: {events} events already stored, used again");
        return;
    }
    assert_eq!(stored, 0, "{db} holds {stored} events, neither none nor {events}");
    let mut store = Store::open(db).unwrap();
    let started = Instant::now();
    let take = usize::try_from(events).unwrap();
    let loaded = load::load(&mut store, Synthetic::new(Shape::default()).take(take)).unwrap();
    assert_eq!(loaded, events);
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "stats/{name}: {events} events loaded in {seconds:.0} s ({:.0} events/s)",
        events as f64 / seconds
    );
}

/// The times, in ms, of `GET /stats` on a server for each of `dbs`, the requests
/// taking turns between them.
fn measure(dbs: [&str; 2], requests: u64) -> [Vec<f64>; 2] {
    let mut servers = dbs.map(Server::start);
    let path = format!("/stats?campaign={}&delivered=1000000", load::CAMPAIGN);
    let mut connections = servers.each_ref().map(|server| {
        let connection = TcpStream::connect(server.admin).unwrap();
        connection.set_nodelay(true).unwrap();
        connection
    });
    for connection in &mut connections {
        for _ in 0..WARM_UP {
            get(connection, &path);
        }
    }
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..requests {
        for (connection, times) in connections.iter_mut().zip(&mut times) {
            let started = Instant::now();
            get(connection, &path);
            times.push(started.elapsed().as_secs_f64() * 1_000.0);
        }
    }
    for server in &mut servers {
        server.stop();
    }
    times
}

/// The `q` quantile of `times`.
fn percentile(times: &[f64], q: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// One keep-alive GET; checks the status and reads the whole body.
fn get(connection: &mut TcpStream, path: &str) {
    write!(connection, "GET {path} HTTP/1.1\r\nHost: admin\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        connection.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a content-length");
    let mut body = vec![0u8; length];
    connection.read_exact(&mut body).unwrap();
}

struct Server {
    child: Child,
    admin: SocketAddr,
}

impl Server {
    fn start(db: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hashbeacon-server"))
            .args(["--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--db", db])
            .env("HASHBEACON_KEY", KEY)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let marker = "admin on http://";
        let admin = loop {
            let line = lines.next().expect("the server printed its addresses").unwrap();
            if let Some(at) = line.find(marker) {
                break line[at + marker.len()..].trim().parse().unwrap();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, admin }
    }

    fn stop(&mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
