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
//! `SERVED_ROUNDS` (2: each target is measured that many times, alternating, and the
//! best run of each is kept). After each server run the server is stopped with SIGTERM
//! and its final counts are checked: every answered click must be stored, none lost.
//!
//! Both servers run as their own processes: the baseline is this bench binary run
//! again with `SERVED_ROLE=baseline`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

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

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::var("SERVED_ROLE").as_deref() == Ok("baseline") {
        return baseline();
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it without: then
    // only check that it builds and runs briefly.
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let connections = setting("SERVED_CONNECTIONS", 64) as usize;
    let seconds = if quick { 1 } else { setting("SERVED_SECONDS", 10) };
    let rounds = if quick { 1 } else { setting("SERVED_ROUNDS", 2) };
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
        "served: {connections} connections, {seconds} s per run, best of {rounds}, {} distinct click URLs",
        requests.len()
    );
    let mut best: Vec<f64> = vec![0.0; targets.len()];
    for round in 0..rounds {
        for (at, (name, db)) in targets.iter().enumerate() {
            let rate = measure(name, db.as_deref(), &requests, connections, seconds);
            println!("served/{name} round {}: {rate:.0} clicks/s", round + 1);
            best[at] = best[at].max(rate);
        }
    }
    println!("\n| target | clicks/s | ratio to baseline |\n|---|---|---|");
    for ((name, _), rate) in targets.iter().zip(&best) {
        println!("| `served/{name}` | {rate:.0} | {:.2}× |", rate / best[0]);
    }
}

/// One run against a fresh server process; the clicks per second it answered.
fn measure(name: &str, db: Option<&str>, requests: &[Vec<u8>], connections: usize, seconds: u64) -> f64 {
    let mut server = match db {
        None => Server::baseline(),
        Some(db) => Server::hashbeacon(db),
    };
    let (answered, elapsed) = load(server.addr, requests, connections, Duration::from_secs(seconds));
    let counts = server.stop();
    if let Some((stored, not_stored, not_queued)) = counts {
        assert_eq!(
            (stored, not_stored, not_queued),
            (answered, 0, 0),
            "served/{name}: every answered click stored, none lost"
        );
    }
    answered as f64 / elapsed.as_secs_f64()
}

/// Distinct click requests, ready to write: one URL per recipient.
fn requests() -> Vec<Vec<u8>> {
    let keyring = Keyring::from_text(KEY).unwrap();
    let tracker = Tracker::new(keyring, "http://t.example").unwrap();
    let sent = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 3_600;
    (0..RECIPIENTS)
        .map(|n| {
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
            let target = &url["http://t.example".len()..];
            format!("GET {target} HTTP/1.1\r\nHost: t.example\r\nUser-Agent: {BROWSER}\r\n\r\n").into_bytes()
        })
        .collect()
}

/// `connections` keep-alive connections, each sending one request after another for
/// `duration`; every connection finishes the request it has started. Returns the
/// number of complete 302 answers and the time taken.
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
                    read_response(&mut stream, &mut buffer).await;
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

/// Reads one response (head, then `Content-Length` bytes of body) and checks it is a 302.
async fn read_response(stream: &mut tokio::net::TcpStream, buffer: &mut [u8]) {
    let mut filled = 0;
    loop {
        let read = stream.read(&mut buffer[filled..]).await.unwrap();
        assert!(read > 0, "the server closed the connection");
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
            have += stream.read(&mut buffer[..]).await.unwrap();
        }
        return;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// A server process under measurement.
struct Server {
    child: Child,
    addr: SocketAddr,
    lines: std::io::Lines<BufReader<std::process::ChildStderr>>,
    hashbeacon: bool,
}

impl Server {
    fn hashbeacon(db: &str) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_hashbeacon-server"))
            .args(["--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--db", db])
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

    fn started(mut child: Child, marker: &str, hashbeacon: bool) -> Self {
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("the server printed its address").unwrap();
            if let Some(at) = line.find(marker) {
                let rest = &line[at + marker.len()..];
                break rest.split([' ', ',']).next().unwrap().parse().unwrap();
            }
        };
        Self {
            child,
            addr,
            lines,
            hashbeacon,
        }
    }

    /// SIGTERM, wait; for hashbeacon-server, its final (stored, not stored, not queued).
    fn stop(&mut self) -> Option<(u64, u64, u64)> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let mut counts = None;
        for line in self.lines.by_ref().map_while(Result::ok) {
            if let Some(rest) = line.split_once("stopped; ").map(|(_, rest)| rest.to_owned()) {
                let numbers: Vec<u64> = rest
                    .split(|c: char| !c.is_ascii_digit())
                    .filter(|part| !part.is_empty())
                    .map(|part| part.parse().unwrap())
                    .collect();
                counts = Some((numbers[0], numbers[1], numbers[2]));
            }
        }
        self.child.wait().unwrap();
        assert!(
            !self.hashbeacon || counts.is_some(),
            "no final counts from the server"
        );
        counts
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
