//! The versioned schema: migrations run when a store opens, recorded in a version
//! table, and a database written by a newer version is refused rather than misread.

/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The migrations in order: version `n` is reached by running the first `n`. Each is
/// written once for both backends; `{id}` is the raw tables' key column.
const MIGRATIONS: [&str; 1] = [
    // 1: raw events and conversions, and the rollups behind the figures.
    "
CREATE TABLE events (
    id          {id},
    kind        TEXT    NOT NULL,   -- the request: click or open
    action      TEXT,               -- what a report counts it as; NULL when rejected
    campaign    TEXT,               -- NULL when the token was rejected
    link        TEXT,
    recipient   TEXT,               -- the pseudonym, never an address
    issued_at   BIGINT,
    expired     BOOLEAN NOT NULL,
    key_id      TEXT,
    rejected    TEXT,               -- why the token was rejected, else NULL
    received_at BIGINT  NOT NULL,
    method      TEXT    NOT NULL,
    user_agent  TEXT,               -- capped in length
    client_ip   TEXT,               -- already truncated by the endpoint
    verdict     TEXT    NOT NULL,   -- human, proxied, prefetch, scanner or rejected
    reason      TEXT    NOT NULL,   -- the verdict with what decided it
    person      BOOLEAN NOT NULL    -- a person's action
);
CREATE TABLE conversions (
    id           {id},
    campaign     TEXT    NOT NULL,
    link         TEXT,
    recipient    TEXT,
    clicked_at   BIGINT  NOT NULL,
    converted_at BIGINT  NOT NULL,
    key_id       TEXT    NOT NULL
);
-- Every reference a conversion was counted for: kept when raw rows are purged, so a
-- reference posted again still counts once.
CREATE TABLE conversion_references (reference TEXT PRIMARY KEY);
-- Rollups. scope is '*' for the whole campaign, else the link ('' for none).
CREATE TABLE rollup_counts (
    campaign TEXT NOT NULL, scope TEXT NOT NULL, action TEXT NOT NULL,
    reason TEXT NOT NULL, person BOOLEAN NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (campaign, scope, action, reason, person)
);
CREATE TABLE rollup_hours (
    campaign TEXT NOT NULL, scope TEXT NOT NULL, action TEXT NOT NULL,
    hour BIGINT NOT NULL, person BOOLEAN NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (campaign, scope, action, hour, person)
);
-- One row per recipient and activity: exact uniques, and the first human action.
CREATE TABLE rollup_recipients (
    campaign TEXT NOT NULL, scope TEXT NOT NULL, activity TEXT NOT NULL,
    recipient TEXT NOT NULL, first_at BIGINT, first_since BIGINT,
    PRIMARY KEY (campaign, scope, activity, recipient)
);
CREATE TABLE rollup_uniques (
    campaign TEXT NOT NULL, scope TEXT NOT NULL, activity TEXT NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (campaign, scope, activity)
);
CREATE TABLE rollup_firsts (
    campaign TEXT NOT NULL, scope TEXT NOT NULL, activity TEXT NOT NULL,
    bucket BIGINT NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (campaign, scope, activity, bucket)
);
CREATE TABLE rollup_rejected (
    kind TEXT NOT NULL, reason TEXT NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (kind, reason)
);
",
];

/// The version table, created before anything else.
pub(crate) const VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS hashbeacon_schema (version BIGINT NOT NULL)";

/// The SQL that takes a database from `from` to [`SCHEMA_VERSION`], with `id` as the
/// raw tables' key column type; `None` when `from` is newer than this crate knows.
pub(crate) fn migrations(from: i64, id: &str) -> Option<Vec<String>> {
    let from = usize::try_from(from).ok()?;
    let pending = MIGRATIONS.get(from..)?;
    Some(pending.iter().map(|sql| sql.replace("{id}", id)).collect())
}

/// Why a database cannot be used with this version of the crate.
#[derive(Debug, thiserror::Error)]
#[error(
    "the database has schema version {found}, newer than version {known} that this \
     version of hashbeacon-store knows: upgrade hashbeacon-store"
)]
pub struct NewerSchema {
    /// The version found in the database.
    pub found: i64,
    /// The newest version this crate knows ([`SCHEMA_VERSION`]).
    pub known: i64,
}

/// Checks a stored version and returns the migrations it needs.
pub(crate) fn plan(found: i64, id: &str) -> Result<Vec<String>, NewerSchema> {
    migrations(found, id).ok_or(NewerSchema {
        found,
        known: SCHEMA_VERSION,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_every_missing_migration_and_refuses_newer() {
        assert_eq!(plan(0, "X").unwrap().len(), MIGRATIONS.len());
        assert!(plan(0, "X").unwrap().iter().all(|sql| !sql.contains("{id}")));
        assert!(plan(SCHEMA_VERSION, "X").unwrap().is_empty());
        let newer = plan(SCHEMA_VERSION + 1, "X").unwrap_err();
        assert_eq!((newer.found, newer.known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        assert!(plan(-1, "X").is_err());
    }
}
