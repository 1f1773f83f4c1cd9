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
    let mut socket = TcpStream::connect(node.addr).unwrap();
    socket
        .write_all(b"GET /nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
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
