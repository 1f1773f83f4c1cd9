//! `served`: click throughput of `hashbeacon-server` on loopback against a bare axum
//! handler that answers every request with the same fixed 302 and the same headers,
//! under the same load generator and settings, in one run.
//!
//! ```text
//! cargo bench -p hashbeacon-server --bench served
//! HASHBEACON_TEST_POSTGRES=postgres://… cargo bench -p hashbeacon-server --bench served
//! ```
//!
//! Settings (environment): `SERVED_CONNECTIONS` (64), `SERVED_SECONDS` per run (10),
//! `SERVED_ROUNDS` (3: each target is measured that many times, alternating; each
//! round's ratios are printed, and the table keeps the best run of each),
//! `SERVED_DB_CONNECTIONS` (the server's `--db-connections`, 1). After each
//! server run the server is stopped with SIGTERM, and the raw rows in the database are
//! counted with a client of the bench's own: they must be the ones the server says it
//! stored, and with those it counted as lost (its queue full) make up every 302 the
//! load generator got. Each run reports clicks answered and clicks stored per second,
//! and the clicks lost; the goal is none.
//!
//! Both servers run as their own processes: the baseline is this bench binary run
//! again with `SERVED_ROLE=baseline`. With `SERVED_ROLE=target` it prints one click
//! target (path and query) signed with the bench's key, for an outside load generator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{setting, stored_rows};

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hashbeacon::sink::MemorySink;
use hashbeacon::{Claims, Endpoint, Keyring, Kind, LinkId, Request, Tracker};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const KEY: &str = "hbk1.k1.-zK3TkaNNZ_JOObOWy4n41GuhFVPxzF-LTuwgLFyDLs";
const DESTINATION: &str = "https://shop.example.com/spring?plan=pro&ref=mail";
const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15";
/// Distinct recipients the clicks are spread over.
const RECIPIENTS: usize = 1_000;

fn main() {
    match std::env::var("SERVED_ROLE").as_deref() {
        Ok("baseline") => return baseline(),
        // For an outside load generator (wrk): one click target the key above signs.
        Ok("target") => return println!("{}", click_target(0)),
        _ => {}
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it without: then
    // only check that it builds and runs briefly.
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let connections = setting("SERVED_CONNECTIONS", 64) as usize;
    let seconds = if quick { 1 } else { setting("SERVED_SECONDS", 10) };
    let rounds = if quick { 1 } else { setting("SERVED_ROUNDS", 3) };
    let requests = requests();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("served.db");
    let mut targets: Vec<(&str, Option<String>)> = vec![
        ("baseline", None),
        ("sqlite", Some(sqlite.to_str().unwrap().to_owned())),
    ];
    match std::env::var("HASHBEACON_TEST_POSTGRES") {
        Ok(url) => targets.push(("postgres", Some(url))),
        Err(_) => eprintln!("served: HASHBEACON_TEST_POSTGRES unset, PostgreSQL not measured"),
    }
    println!(
        "served: {connections} connections, {seconds} s per run, {rounds} rounds, {} distinct click URLs",
        requests.len()
    );
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); targets.len()];
    for round in 0..rounds {
        for (at, (name, db)) in targets.iter().enumerate() {
            let run = measure(name, db.as_deref(), &requests, connections, seconds);
            // The baseline runs first in each round.
            let baseline = runs[0]
                .get(round as usize)
                .map_or(run.answered, |base| base.answered);
            println!(
                "served/{name} round {}: {:.0} clicks/s answered ({:.2}× the round's baseline), \
                 {:.0} stored ({:.2}×), {} lost",
                round + 1,
                run.answered,
                run.answered / baseline,
                run.stored,
                run.stored / baseline,
                run.lost
            );
            runs[at].push(run);
        }
    }
    let baselines: Vec<f64> = runs[0].iter().map(|run| run.answered).collect();
    let base = baselines.iter().copied().fold(0.0, f64::max);
    println!(
        "\n| target | answered/s (best) | ratio | per round | stored/s (best) | ratio | per round | lost |\n\
         |---|---|---|---|---|---|---|---|"
    );
    for ((name, _), runs) in targets.iter().zip(&runs) {
        let figures = |of: fn(&Run) -> f64| {
            let ratios: Vec<f64> = runs
                .iter()
                .zip(&baselines)
                .map(|(run, base)| of(run) / base)
                .collect();
            let best = runs.iter().map(of).fold(0.0, f64::max);
            let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let high = ratios.iter().copied().fold(0.0, f64::max);
            format!("{best:.0} | {:.2}× | {low:.2}–{high:.2}×", best / base)
        };
        println!(
            "| `served/{name}` | {} | {} | {} |",
            figures(|run| run.answered),
            figures(|run| run.stored),
            runs.iter().map(|run| run.lost).sum::<u64>()
        );
    }
}

/// What one run measured, per second of load.
#[derive(Clone, Copy)]
struct Run {
    /// 302s the load generator got.
    answered: f64,
    /// Of those, clicks whose raw row is in the database (the baseline stores none:
    /// there it equals `answered`).
    stored: f64,
    /// Answered clicks not stored, every one counted and logged by the server.
    lost: u64,
}

/// One run against a fresh server process.
///
/// Loss is reported, not fatal: a server answering faster than its writer stores
/// counts and logs what its full queue refuses. What must always hold is that
/// nothing is lost untold: the rows the bench counts are the ones the server says
/// it stored, and with those it counted as lost they make up every answered click.
fn measure(name: &str, db: Option<&str>, requests: &[Vec<u8>], connections: usize, seconds: u64) -> Run {
    let rows_before = db.map(stored_rows);
    let server = match db {
        None => Server::baseline(),
        Some(db) => Server::hashbeacon(db),
    };
    let (answered, elapsed) = load(server.addr, requests, connections, Duration::from_secs(seconds));
    let counts = server.stop();
    let per_second = |count: u64| count as f64 / elapsed.as_secs_f64();
    let (Some(db), Some(before), Some((stored, not_stored, not_queued))) = (db, rows_before, counts) else {
        return Run {
            answered: per_second(answered),
            stored: per_second(answered),
            lost: 0,
        };
    };
    let rows = stored_rows(db) - before;
    assert_eq!(
        (rows, rows + not_stored + not_queued),
        (stored, answered),
        "served/{name}: the raw rows are what the server stored, and with what it counted as lost make up every answered click"
    );
    Run {
        answered: per_second(answered),
        stored: per_second(rows),
        lost: not_stored + not_queued,
    }
}

/// Distinct click requests, ready to write: one URL per recipient.
fn requests() -> Vec<Vec<u8>> {
    (0..RECIPIENTS)
        .map(|n| {
            let target = click_target(n);
            format!("GET {target} HTTP/1.1\r\nHost: t.example\r\nUser-Agent: {BROWSER}\r\n\r\n").into_bytes()
        })
        .collect()
}

/// The path and query of recipient `n`'s click URL, issued an hour ago.
fn click_target(n: usize) -> String {
    let keyring = Keyring::from_text(KEY).unwrap();
    let tracker = Tracker::new(keyring, "http://t.example").unwrap();
    let sent = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 3_600;
    let recipient = format!("r{n:015}");
    let claims = Claims {
        kind: Kind::Click,
        campaign: "served",
        link: Some(LinkId::Label("cta")),
        recipient: Some(&recipient),
        issued_at: sent,
        expires_at: None,
    };
    let url = tracker.click_url(&claims, DESTINATION).unwrap();
    url["http://t.example".len()..].to_owned()
}

/// `connections` keep-alive connections, each sending one request after another for
/// `duration`; every connection finishes the request it has started. Returns the
/// number of complete 302 answers and the time taken. A server that stops answering
/// fails the run (after [`STALLED`]) rather than hanging it.
fn load(addr: SocketAddr, requests: &[Vec<u8>], connections: usize, duration: Duration) -> (u64, Duration) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let requests = Arc::new(requests.to_vec());
        let answered = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for connection in 0..connections {
            let (requests, answered, stop) =
                (Arc::clone(&requests), Arc::clone(&answered), Arc::clone(&stop));
            tasks.spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut buffer = vec![0u8; 4096];
                let mut next = connection;
                while !stop.load(Ordering::Relaxed) {
                    stream.write_all(&requests[next % requests.len()]).await.unwrap();
                    next += connections;
                    tokio::time::timeout(STALLED, read_response(&mut stream, &mut buffer))
                        .await
                        .unwrap_or_else(|_| panic!("no answer within {STALLED:?}: the server stalled"));
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::Relaxed);
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        (answered.load(Ordering::Relaxed), start.elapsed())
    })
}

/// How long one answer may take before the run fails.
const STALLED: Duration = Duration::from_secs(10);

/// Reads one response (head, then `Content-Length` bytes of body) and checks it is a 302.
async fn read_response(stream: &mut tokio::net::TcpStream, buffer: &mut [u8]) {
    let mut filled = 0;
    let closed = "the server closed the connection";
    loop {
        assert!(
            filled < buffer.len(),
            "a response head longer than {} bytes",
            buffer.len()
        );
        let read = stream.read(&mut buffer[filled..]).await.unwrap();
        assert!(read > 0, "{closed}");
        filled += read;
        let Some(end) = find(&buffer[..filled], b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&buffer[..end]).unwrap();
        assert!(head.starts_with("HTTP/1.1 302"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .unwrap_or(0);
        let mut have = filled - end - 4;
        while have < length {
            let read = stream.read(&mut buffer[..]).await.unwrap();
            assert!(read > 0, "{closed}");
            have += read;
        }
        return;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// A server process under measurement. Its standard error is read all along, on a
/// thread of its own: a server blocked writing to a full pipe would stall the run.
struct Server {
    child: Child,
    addr: SocketAddr,
    lines: std::thread::JoinHandle<Vec<String>>,
    hashbeacon: bool,
}

impl Server {
    fn hashbeacon(db: &str) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_hashbeacon-server"))
            .args(["--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--db", db])
            .args([
                "--db-connections",
                &setting("SERVED_DB_CONNECTIONS", 1).to_string(),
            ])
            .env("HASHBEACON_KEY", KEY)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self::started(child, "tracking on http://", true)
    }

    fn baseline() -> Self {
        let child = Command::new(std::env::current_exe().unwrap())
            .env("SERVED_ROLE", "baseline")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self::started(child, "baseline on http://", false)
    }

    fn started(mut child: Child, marker: &'static str, hashbeacon: bool) -> Self {
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (address, addr_found) = std::sync::mpsc::channel();
        let lines = std::thread::spawn(move || {
            let mut kept = Vec::new();
            for line in stderr.lines().map_while(Result::ok) {
                if let Some(at) = line.find(marker) {
                    let rest = &line[at + marker.len()..];
                    let _ = address.send(rest.split([' ', ',']).next().unwrap().parse().unwrap());
                }
                kept.push(line);
            }
            kept
        });
        let addr = addr_found.recv().expect("the server printed its address");
        Self {
            child,
            addr,
            lines,
            hashbeacon,
        }
    }

    /// SIGTERM, wait; for hashbeacon-server, its final (stored, not stored, not queued).
    fn stop(mut self) -> Option<(u64, u64, u64)> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap();
        let lines = std::mem::replace(&mut self.lines, std::thread::spawn(Vec::new));
        let counts = lines.join().unwrap().iter().find_map(|line| {
            let rest = line.split_once("stopped; ")?.1;
            let numbers: Vec<u64> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|part| !part.is_empty())
                .map(|part| part.parse().unwrap())
                .collect();
            Some((numbers[0], numbers[1], numbers[2]))
        });
        assert!(
            !self.hashbeacon || counts.is_some(),
            "no final counts from the server"
        );
        counts
    }
}

impl Drop for Server {
    /// A failed run leaves no server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The baseline server: the fixed 302 hashbeacon answers a click with, headers and
/// all, from a handler that does nothing else.
fn baseline() {
    let fixed = fixed_redirect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        eprintln!("baseline on http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new().fallback(move || {
            let fixed = fixed;
            async move {
                let mut response = axum::response::Response::new(axum::body::Body::empty());
                *response.status_mut() = axum::http::StatusCode::FOUND;
                let headers = response.headers_mut();
                for (name, value) in fixed {
                    headers.insert(name.clone(), axum::http::HeaderValue::from_static(value));
                }
                response
            }
        });
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                terminate.recv().await;
            })
            .await
            .unwrap();
    });
}

/// The headers of hashbeacon's answer to a click, as static strings.
fn fixed_redirect() -> &'static [(axum::http::HeaderName, &'static str)] {
    let tracker = Tracker::new(Keyring::from_text(KEY).unwrap(), "http://t.example").unwrap();
    let claims = Claims {
        kind: Kind::Click,
        campaign: "served",
        link: Some(LinkId::Label("cta")),
        recipient: Some("r000000000000000"),
        issued_at: 1,
        expires_at: None,
    };
    let url = tracker.click_url(&claims, DESTINATION).unwrap();
    let endpoint = Endpoint::new(tracker, MemorySink::new());
    let request = Request::new(
        "GET",
        &url["http://t.example".len()..],
        "127.0.0.1".parse().unwrap(),
    )
    .with_user_agent(BROWSER);
    let response = endpoint.handle(&request, 3_600).response.into_http();
    assert_eq!(response.status(), 302);
    let headers: Vec<(axum::http::HeaderName, &'static str)> = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value: &'static str = Box::leak(value.to_str().unwrap().to_owned().into_boxed_str());
            (name.clone(), value)
        })
        .collect();
    Box::leak(headers.into_boxed_slice())
}
