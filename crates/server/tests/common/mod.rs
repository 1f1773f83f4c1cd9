//! Running the built `hashbeacon-server` binary as a real process.
#![allow(dead_code, unreachable_pub, reason = "each test file uses its own part of it")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead as _, BufReader, Lines};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A keyring text both nodes of a test share.
pub const KEY: &str = "hbk1.k1.-zK3TkaNNZ_JOObOWy4n41GuhFVPxzF-LTuwgLFyDLs";

/// The server binary under test.
const BINARY: &str = env!("CARGO_BIN_EXE_hashbeacon-server");

/// One running server process.
pub struct Node {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    /// What it printed on stderr after its start line (read on a thread).
    pub log: std::sync::mpsc::Receiver<String>,
}

impl Node {
    /// Starts the binary with `args` (plus loopback listeners on free ports and the
    /// test key) and waits for its start line.
    pub fn start(args: &[&str]) -> Node {
        Self::start_with_log_held(args).0
    }

    /// Starts as [`Node::start`] does, but reads nothing of its stderr after the start
    /// line until the returned sender is dropped: a log nobody reads, whose pipe fills.
    pub fn start_with_log_held(args: &[&str]) -> (Node, std::sync::mpsc::Sender<()>) {
        Self::start_held(Self::binary(), args)
    }

    /// Starts `command` as [`Node::start_with_log_held`] starts the binary.
    fn start_held(command: Command, args: &[&str]) -> (Node, std::sync::mpsc::Sender<()>) {
        let (child, lines, addr, admin) = Self::spawn(command, args);
        let (send, log) = std::sync::mpsc::channel();
        let (hold, held) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            while held.recv().is_ok() {}
            for line in lines.map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let node = Node {
            child,
            addr,
            admin,
            log,
        };
        (node, hold)
    }

    /// Starts as [`Node::start`] does, then closes the read end of its stderr: a log
    /// collector that went away, so that every later write to it fails.
    pub fn start_with_log_closed(args: &[&str]) -> Node {
        let (child, lines, addr, admin) = Self::spawn(Self::binary(), args);
        drop(lines);
        let (_, log) = std::sync::mpsc::channel();
        Node {
            child,
            addr,
            admin,
            log,
        }
    }

    /// Starts as [`Node::start`] does, with files it may write no larger than `bytes`
    /// (a soft limit: [`Node::lift_file_size_limit`] lifts it), as on a full disk: a
    /// write past it fails (`SIGXFSZ` is ignored) rather than ending the process.
    pub fn start_with_file_size_limit(args: &[&str], bytes: u64) -> Node {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "trap '' XFSZ; exec prlimit --fsize=$0:unlimited \"$@\"",
            &bytes.to_string(),
            BINARY,
        ]);
        Self::start_held(command, args).0
    }

    /// Lets the process write files of any size again, as when a full disk gets room.
    pub fn lift_file_size_limit(&self) {
        let status = Command::new("prlimit")
            .args([
                "--pid",
                &self.child.id().to_string(),
                "--fsize=unlimited:unlimited",
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn binary() -> Command {
        Command::new(BINARY)
    }

    /// Starts `command` (the binary, or what runs it) with `args` and reads its
    /// stderr up to the start line: the process, the rest of its stderr, and its two
    /// addresses.
    fn spawn(
        mut command: Command,
        args: &[&str],
    ) -> (Child, Lines<BufReader<ChildStderr>>, SocketAddr, SocketAddr) {
        let mut child = command
            .args(["--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
            .args(args)
            .env("HASHBEACON_KEY", KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut first = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if line.contains("tracking on") {
                first = line;
                break;
            }
            eprintln!("server: {line}");
        }
        assert!(!first.is_empty(), "the server stopped before it listened");
        let address = |after: &str| -> SocketAddr {
            let rest = &first[first.find(after).unwrap() + after.len()..];
            rest.split([' ', ',', ')']).next().unwrap().parse().unwrap()
        };
        let (addr, admin) = (address("tracking on http://"), address("admin on http://"));
        (child, lines, addr, admin)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits at most `limit` for the process to exit.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Everything it has logged so far.
    pub fn logged(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[allow(unused_imports, reason = "only the PostgreSQL tests use them")]
pub use hashbeacon_test_postgres::{fresh_schema, postgres_url};
