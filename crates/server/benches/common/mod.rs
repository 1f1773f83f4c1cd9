//! What the server's benchmarks share: settings from the environment, and counting the
//! raw rows a database holds with a client of the bench's own.

/// The setting `name` from the environment, or `default` when unset or not a number.
pub(crate) fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Raw event rows in the database (a file path or a `postgres://` URL), counted with a
/// client of its own: 0 before the server has created the table.
pub(crate) fn stored_rows(db: &str) -> u64 {
    const COUNT: &str = "SELECT COUNT(*) FROM events";
    if db.starts_with("postgres://") {
        let mut client = postgres::Client::connect(db, postgres::NoTls).unwrap();
        let rows: i64 = match client.query_one(COUNT, &[]) {
            Ok(row) => row.get(0),
            Err(error) if error.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => 0,
            Err(error) => panic!("{error}"),
        };
        return u64::try_from(rows).unwrap();
    }
    let conn = rusqlite::Connection::open(db).unwrap();
    match conn.query_row(COUNT, [], |row| row.get::<_, i64>(0)) {
        Ok(rows) => u64::try_from(rows).unwrap(),
        Err(error) if error.to_string().contains("no such table") => 0,
        Err(error) => panic!("{error}"),
    }
}
