//! What the store's benchmarks share: a PostgreSQL schema of their own per run.

/// Creates the schema `name` afresh (dropping one left by an earlier run) and returns
/// a URL whose connections use it.
pub(crate) fn fresh_schema(url: &str, name: &str) -> String {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        ))
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{name}")
}

/// Drops the schema `name` and everything in it: a million events take about a
/// gigabyte.
pub(crate) fn drop_schema(url: &str, name: &str) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
        .unwrap();
}

/// A number from the environment, or `default`.
pub(crate) fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
