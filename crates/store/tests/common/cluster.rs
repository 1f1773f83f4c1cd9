//! A PostgreSQL server of a test's own, to stop and start at will: `initdb` and
//! `pg_ctl` as the `postgres` user, a temporary directory, a free loopback port.

use std::path::PathBuf;
use std::process::Command;

/// A temporary PostgreSQL cluster, stopped and deleted on drop.
pub(crate) struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

fn bin(name: &str) -> PathBuf {
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .expect("pg_config runs");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join(name)
}

fn as_postgres(program: PathBuf, args: &[&str]) {
    let status = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(&program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("runuser runs");
    assert!(status.success(), "{} {args:?} failed", program.display());
}

impl Cluster {
    /// Creates and starts a cluster.
    pub(crate) fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("hb-pg-").tempdir().unwrap();
        Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data = dir.path().join("data");
        as_postgres(
            bin("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        let cluster = Self { dir, port };
        cluster.resume();
        cluster
    }

    /// The URL to connect to.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server, closing every connection.
    pub(crate) fn stop(&self) {
        as_postgres(bin("pg_ctl"), &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// Starts the stopped server again.
    pub(crate) fn resume(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        as_postgres(
            bin("pg_ctl"),
            &[
                "-D",
                &self.data(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
