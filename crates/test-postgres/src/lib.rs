//! The PostgreSQL server the workspace's tests and benchmarks run against, named by
//! [`POSTGRES_VAR`] (`.ci/postgres.sh` starts one and sets it), and a fresh schema on it
//! per test so that tests never share tables.
//!
//! Blocking: call these off any tokio worker thread (the `postgres` client drives a
//! runtime of its own).

use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the PostgreSQL server the tests use (`.ci/postgres.sh` sets it).
pub const POSTGRES_VAR: &str = "HASHBEACON_TEST_POSTGRES";

/// The PostgreSQL server to test against, or `None` (with a note on stderr) when none is
/// configured outside CI.
///
/// # Panics
///
/// Under `CI=true` when the variable is not set, and whenever the server it names
/// cannot be reached: CI must never pass by skipping.
pub fn postgres_url() -> Option<String> {
    let ci = std::env::var("CI").is_ok_and(|ci| ci == "true");
    let Ok(url) = std::env::var(POSTGRES_VAR) else {
        assert!(
            !ci,
            "{POSTGRES_VAR} is not set: .ci/run starts PostgreSQL and sets it"
        );
        eprintln!("skipped: set {POSTGRES_VAR} (source .ci/postgres.sh) to run the PostgreSQL tests");
        return None;
    };
    if let Err(error) = postgres::Client::connect(&url, postgres::NoTls) {
        panic!("{POSTGRES_VAR}={url} is unreachable: {error}");
    }
    Some(url)
}

/// A URL for a new, empty schema of the server at `url`: the same server and
/// credentials, with `search_path` set to the new schema.
///
/// # Panics
///
/// When the server cannot be reached or refuses to create the schema.
pub fn fresh_schema(url: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    let name = format!(
        "t{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|error| panic!("{POSTGRES_VAR}={url} is unreachable: {error}"));
    client
        .batch_execute(&format!("CREATE SCHEMA {name}"))
        .unwrap_or_else(|error| panic!("cannot create schema {name}: {error}"));
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{name}")
}
