//! The server process under clients that misbehave: half-sent requests, and shutdown
//! while they hang.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Node;

/// A request head cut off before its blank line.
const HALF_SENT: &[u8] = b"GET /c/1c.k1.spring HTTP/1.1\r\nHost: t.example\r\nUser-Agent: slow";

fn half_sent(node: &Node) -> TcpStream {
    let mut socket = TcpStream::connect(node.addr).unwrap();
    socket.write_all(HALF_SENT).unwrap();
    socket
}

#[test]
fn half_sent_requests_do_not_keep_a_terminated_server_alive() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    // Timeouts far beyond the test's patience: shutdown itself must close them.
    let mut node = Node::start(&[
        "--db",
        db.to_str().unwrap(),
        "--header-read-timeout",
        "300",
        "--shutdown-deadline",
        "300",
    ]);
    let sockets: Vec<TcpStream> = (0..3).map(|_| half_sent(&node)).collect();
    // Let the server accept them and start reading.
    std::thread::sleep(Duration::from_millis(300));

    let start = Instant::now();
    node.terminate();
    let status = node.wait_for_exit(Duration::from_secs(5));
    assert!(
        status.is_some(),
        "still running 5 s after SIGTERM with 3 half-sent requests"
    );
    assert!(status.unwrap().success(), "{:?}", node.logged());
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    drop(sockets);
}

#[test]
fn a_half_sent_request_is_closed_after_the_header_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let node = Node::start(&["--db", db.to_str().unwrap(), "--header-read-timeout", "1"]);
    let mut socket = half_sent(&node);
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    let mut answer = Vec::new();
    // The server answers 408 or just closes; either way the read ends, not times out.
    let read = socket.read_to_end(&mut answer);
    let waited = start.elapsed();
    assert!(read.is_ok(), "{read:?} after {waited:?}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
        "{answer:?}"
    );

    // A whole request on a fresh connection is still served.
    let answer = get(node.addr, "/nothing");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}

#[test]
fn the_shutdown_deadline_bounds_how_long_a_stuck_connection_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let mut node = Node::start(&[
        "--db",
        db.to_str().unwrap(),
        "--header-read-timeout",
        "300",
        "--shutdown-deadline",
        "1",
    ]);
    // A request whose body never finishes: the admin handler waits for it.
    let mut socket = std::net::TcpStream::connect(node.admin).unwrap();
    socket
        .write_all(b"POST /conversion HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n1r.")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    node.terminate();
    let status = node.wait_for_exit(Duration::from_secs(10));
    assert!(status.is_some(), "still running 10 s after SIGTERM");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "exited after {waited:?}"
    );
    assert!(
        node.logged()
            .iter()
            .any(|line| line.contains("shutdown deadline")),
        "the forced close is logged"
    );
    drop(socket);
}

/// The whole answer to one `GET` of `target` on a fresh connection (at most 10 s).
fn get(addr: std::net::SocketAddr, target: &str) -> String {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    answer
}

/// Sends `count` requests for `target` on one keep-alive connection; fails if an
/// answer takes longer than `patience`.
fn send_requests(addr: std::net::SocketAddr, target: &str, count: usize, patience: Duration) {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(patience)).unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: t.example\r\nUser-Agent: Mozilla/5.0\r\n\r\n");
    let mut buffer = [0u8; 4096];
    for sent in 0..count {
        socket.write_all(request.as_bytes()).unwrap();
        // The endpoint's 404 is short: one read holds it whole.
        let read = socket.read(&mut buffer);
        assert!(
            matches!(read, Ok(n) if n > 0),
            "no answer to request {sent} within {patience:?}: {read:?}"
        );
    }
}

#[test]
fn a_log_nobody_reads_does_not_stop_the_server_answering() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let (node, log_held) = Node::start_with_log_held(&["--db", db.to_str().unwrap()]);
    // Hold SQLite's write lock: the writer waits, the event queue fills, and every
    // further event is one log line for a pipe nobody reads.
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Forged tokens: each answered 404 and queued as a rejected event. More than the
    // queue, a batch in the writer's hands and a pipe's worth of lines together.
    let forged = "/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA?u=https://x.example/";
    let requests = hashbeacon_server::DEFAULT_QUEUE + 4_000;
    let senders: Vec<_> = (0..4)
        .map(|_| {
            let addr = node.addr;
            std::thread::spawn(move || send_requests(addr, forged, requests / 4, Duration::from_secs(10)))
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    let answer = get(node.admin, "/healthz");
    assert!(answer.contains("\"status\":\"degraded\""), "{answer}");
    assert!(health(&node, "events_not_queued") > 0, "{answer}");
    drop(lock);
    drop(log_held);
}

#[test]
fn a_log_collector_that_went_away_loses_no_event_and_stops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let mut node = Node::start_with_log_closed(&["--db", db.to_str().unwrap()]);
    // Forged tokens: each answered 404 and stored as a rejected event.
    let forged = "/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA?u=https://x.example/";
    send_requests(node.addr, forged, 500, Duration::from_secs(10));
    // Every line the server writes from here on meets a closed pipe: writing one
    // must not panic the thread that writes it.
    node.terminate();
    let status = node
        .wait_for_exit(Duration::from_secs(30))
        .expect("the server exits");
    assert!(status.success(), "{status:?}");
    let store = rusqlite::Connection::open(&db).unwrap();
    let stored: i64 = store
        .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, 500);
}

/// A number `/healthz` answers.
fn health(node: &Node, field: &str) -> u64 {
    let answer = get(node.admin, "/healthz");
    let number = (answer.split(&format!("\"{field}\":")))
        .nth(1)
        .and_then(|rest| rest.split([',', '}']).next())
        .and_then(|number| number.parse().ok());
    assert!(number.is_some(), "no {field} in {answer}");
    number.unwrap()
}

#[test]
fn a_full_disk_keeps_the_events_until_there_is_room_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    // Room for the schema and a few batches of the log.
    let mut node = Node::start_with_file_size_limit(&["--db", db.to_str().unwrap()], 400_000);
    let forged = "/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA?u=https://x.example/";
    let mut sent = 0;
    while health(&node, "events_waiting") == 0 {
        assert!(sent < 12_000, "the writer never held events for a full disk");
        send_requests(node.addr, forged, 500, Duration::from_secs(10));
        sent += 500;
        std::thread::sleep(Duration::from_millis(200));
    }
    // Full: nothing counted lost, the events held or queued.
    assert_eq!(health(&node, "events_not_stored"), 0);
    assert_eq!(health(&node, "events_not_queued"), 0);
    node.lift_file_size_limit();
    let deadline = Instant::now() + Duration::from_secs(60);
    while health(&node, "events_stored") < sent {
        assert!(
            Instant::now() < deadline,
            "the events were not stored once there was room"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    node.terminate();
    let status = node
        .wait_for_exit(Duration::from_secs(30))
        .expect("the server exits");
    let store = rusqlite::Connection::open(&db).unwrap();
    let stored: i64 = store
        .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
        .unwrap();
    assert_eq!(u64::try_from(stored).unwrap(), sent);
    // Nothing was lost: the server ends `ok`.
    assert!(status.success(), "{status:?}");
}
