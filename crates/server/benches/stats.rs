//! `stats`: `GET /stats` latency of `hashbeacon-server` at 10 thousand and at 10
//! million stored events, on each backend, in one run. The figures come from rollups,
//! so the two must not differ beyond noise.
//!
//! ```text
//! cargo bench -p hashbeacon-server --bench stats
//! HASHBEACON_TEST_POSTGRES=postgres://… cargo bench -p hashbeacon-server --bench stats
//! ```
//!
//! Settings (environment): `STATS_EVENTS` (10000000) for the large size,
//! `STATS_REQUESTS` (200) timed requests per size, `STATS_KEEP=DIR` to keep the SQLite
//! database (e.g. to look at the dashboard at that size). Events are synthetic
//! ([`hashbeacon_store::load`]: a million recipients, 10 links, 30 days), written
//! through the store's bulk loader with their rollups.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hashbeacon_store::Store;
use hashbeacon_store::load::{self, Shape, Synthetic};

const KEY: &str = "hbk1.k1.-zK3TkaNNZ_JOObOWy4n41GuhFVPxzF-LTuwgLFyDLs";
const SMALL: u64 = 10_000;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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
    let sqlite_dir = keep
        .clone()
        .unwrap_or_else(|| dir.path().to_str().unwrap().to_owned());
    let mut backends = vec![("sqlite", format!("{sqlite_dir}/stats.db"))];
    match std::env::var("HASHBEACON_TEST_POSTGRES") {
        Ok(url) => backends.push(("postgres", fresh_schema(&url))),
        Err(_) => eprintln!("stats: HASHBEACON_TEST_POSTGRES unset, PostgreSQL not measured"),
    }
    println!("stats: {requests} timed GET /stats per size, after 20 untimed");
    let mut rows = Vec::new();
    for (name, db) in &backends {
        let mut store = Store::open(db).unwrap();
        let mut events = Synthetic::new(Shape::default());
        let mut stored = 0;
        for size in [SMALL, large] {
            let started = Instant::now();
            let take = usize::try_from(size - stored).unwrap();
            stored += load::load(&mut store, events.by_ref().take(take)).unwrap();
            eprintln!(
                "stats/{name}: {stored} events stored ({:.0} s to load)",
                started.elapsed().as_secs_f64()
            );
            let (median, p95) = measure(db, requests);
            println!("stats/{name} at {stored} events: median {median:.2} ms, p95 {p95:.2} ms");
            rows.push((*name, stored, median, p95));
        }
    }
    println!("\n| backend | events | median | p95 |\n|---|---|---|---|");
    for (name, events, median, p95) in rows {
        println!("| `stats/{name}` | {events} | {median:.2} ms | {p95:.2} ms |");
    }
}

/// Median and 95th percentile of `GET /stats` on a fresh server on `db`, in ms.
fn measure(db: &str, requests: u64) -> (f64, f64) {
    let mut server = Server::start(db);
    let path = format!("/stats?campaign={}&delivered=1000000", load::CAMPAIGN);
    let mut connection = TcpStream::connect(server.admin).unwrap();
    connection.set_nodelay(true).unwrap();
    for _ in 0..20 {
        get(&mut connection, &path);
    }
    let mut times: Vec<f64> = (0..requests)
        .map(|_| {
            let started = Instant::now();
            get(&mut connection, &path);
            started.elapsed().as_secs_f64() * 1_000.0
        })
        .collect();
    server.stop();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
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

/// A new, empty schema of the PostgreSQL server at `url`.
fn fresh_schema(url: &str) -> String {
    let name = format!("stats_bench_{}", std::process::id());
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client.batch_execute(&format!("CREATE SCHEMA {name}")).unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{name}")
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
