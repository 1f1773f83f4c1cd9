//! The versioned schema: migrations run when a store opens, recorded in a version
//! table, and a database written by a newer version is refused rather than misread.

use crate::days::hour_list;

/// The schema version this crate writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The migrations in order: version `n` is reached by running the first `n`. Each is
/// written once for both backends, with the types that differ left to a [`Dialect`],
/// and the 24 hour columns of a day row (`{hour_columns}`, `{hour_names}`, and
/// `{hour_sums}`: an hourly row's count summed into its hour's column) spelled out by
/// [`migrations`].
const MIGRATIONS: [&str; 5] = [
    // 1: raw events and conversions, and the rollups behind the figures.
    "
CREATE TABLE events (
    id          {id},
    kind        TEXT    NOT NULL,   -- the request: click, open or unsubscribe
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
CREATE TABLE conversion_references (reference {key} PRIMARY KEY);
-- Rollups. scope is '*' for the whole campaign, else the link ('' for none).
CREATE TABLE rollup_counts (
    campaign {key} NOT NULL, scope {key} NOT NULL, action {key} NOT NULL,
    reason {key} NOT NULL, person BOOLEAN NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (campaign, scope, action, reason, person)
);
CREATE TABLE rollup_hours (
    campaign {key} NOT NULL, scope {key} NOT NULL, action {key} NOT NULL,
    hour BIGINT NOT NULL, person BOOLEAN NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (campaign, scope, action, hour, person)
);
-- One row per recipient and activity: exact uniques, and the first human action.
CREATE TABLE rollup_recipients (
    campaign {key} NOT NULL, scope {key} NOT NULL, activity {key} NOT NULL,
    recipient {key} NOT NULL, first_at BIGINT, first_since BIGINT,
    -- What an update replaced, for the writer to read back in the same statement.
    prev_at BIGINT, prev_since BIGINT,
    -- The recipient first: it tells keys apart at the first column.
    PRIMARY KEY (recipient, campaign, scope, activity)
);
CREATE TABLE rollup_uniques (
    campaign {key} NOT NULL, scope {key} NOT NULL, activity {key} NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (campaign, scope, activity)
);
CREATE TABLE rollup_firsts (
    campaign {key} NOT NULL, scope {key} NOT NULL, activity {key} NOT NULL,
    bucket BIGINT NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (campaign, scope, activity, bucket)
);
CREATE TABLE rollup_rejected (
    kind {key} NOT NULL, reason {key} NOT NULL, n BIGINT NOT NULL,
    PRIMARY KEY (kind, reason)
);
",
    // 2: the batches a writer stored, so that a batch whose commit went unanswered
    // (the connection broke) is not counted twice when it is tried again.
    "
CREATE TABLE written_batches (id {key} PRIMARY KEY, written_at BIGINT NOT NULL);
",
    // 3: reading a campaign's hourly rollups (some 19,000 rows over 30 days with
    // 10 links) from one index.
    "{hours_index}",
    // 4: the hourly trend as a row per day with a column per hour, so that reading a
    // campaign's trend costs a row per day (some 800 over 30 days with 10 links) at
    // any number of events; the hourly rows are carried over, added up per day.
    "
CREATE TABLE rollup_days (
    campaign {key} NOT NULL, scope {key} NOT NULL, action {key} NOT NULL,
    day BIGINT NOT NULL, person BOOLEAN NOT NULL,
    {hour_columns},
    PRIMARY KEY (campaign, scope, action, day, person)
){clustered};
INSERT INTO rollup_days (campaign, scope, action, day, person, {hour_names})
SELECT campaign, scope, action, hour - hour % 86400, person, {hour_sums}
FROM rollup_hours
GROUP BY campaign, scope, action, hour - hour % 86400, person;
DROP TABLE rollup_hours;
",
    // 5: the unsubscribe feed (`crate::unsubscribes::QUERY`) reads an index of its
    // own rows: without it, a page walked every event stored after the cursor, all
    // of them for the first. Clicks and opens never enter it.
    "
CREATE INDEX events_unsubscribes ON events (id) WHERE kind = 'unsubscribe' AND rejected IS NULL;
",
];

/// The version table, created before anything else.
pub(crate) const VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS hashbeacon_schema (version BIGINT NOT NULL)";

/// The column types that differ between the backends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dialect {
    /// `{id}`: the raw tables' generated key.
    pub(crate) id: &'static str,
    /// `{key}`: text in a rollup key, compared byte by byte.
    pub(crate) key: &'static str,
    /// `{hours_index}`: what makes reading a campaign's hourly rollups cheap.
    pub(crate) hours_index: &'static str,
    /// `{clustered}`: what follows `CREATE TABLE (…)` to store a rollup's rows in
    /// its primary key's order.
    pub(crate) clustered: &'static str,
}

/// SQLite's types; its text compares byte by byte already.
pub(crate) const SQLITE: Dialect = Dialect {
    id: "INTEGER PRIMARY KEY",
    key: "TEXT",
    // The primary key's index leaves each row's count in the table: an index that
    // holds the count too spares a table lookup per row, most of the read.
    hours_index: "CREATE INDEX IF NOT EXISTS rollup_hours_read
        ON rollup_hours (campaign, scope, action, hour, person, n)",
    // The rows in the primary key's b-tree: a campaign's rows are one range of it,
    // with no index beside the table to update and look up.
    clustered: " WITHOUT ROWID",
};

/// PostgreSQL's types. The "C" collation compares keys as bytes, much faster than a
/// locale's rules, and the figures never sort by these columns.
pub(crate) const POSTGRES: Dialect = Dialect {
    id: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    key: "TEXT COLLATE \"C\"",
    // None: an index holding the count would make every upsert of a count update
    // it (no more heap-only updates), and an index-only scan still visits the
    // pages that writers keep changing.
    hours_index: "SELECT 1",
    // A table is a heap: its primary key's index finds a campaign's rows.
    clustered: "",
};

/// The SQL that takes a database from `from` to [`SCHEMA_VERSION`] in `dialect`;
/// `None` when `from` is newer than this crate knows.
pub(crate) fn migrations(from: i64, dialect: Dialect) -> Option<Vec<String>> {
    let from = usize::try_from(from).ok()?;
    let pending = MIGRATIONS.get(from..)?;
    let sql = |sql: &&str| {
        (sql.replace("{id}", dialect.id).replace("{key}", dialect.key))
            .replace("{hours_index}", dialect.hours_index)
            .replace("{clustered}", dialect.clustered)
            .replace(
                "{hour_columns}",
                &hour_list(|hour| format!("h{hour} BIGINT NOT NULL")),
            )
            .replace("{hour_names}", &hour_list(|hour| format!("h{hour}")))
            .replace(
                "{hour_sums}",
                &hour_list(|hour| format!("SUM(CASE WHEN hour % 86400 = {} THEN n ELSE 0 END)", hour * 3600)),
            )
    };
    Some(pending.iter().map(sql).collect())
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
pub(crate) fn plan(found: i64, dialect: Dialect) -> Result<Vec<String>, NewerSchema> {
    migrations(found, dialect).ok_or(NewerSchema {
        found,
        known: SCHEMA_VERSION,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_every_missing_migration_and_refuses_newer() {
        for dialect in [SQLITE, POSTGRES] {
            let all = plan(0, dialect).unwrap();
            assert_eq!(all.len(), MIGRATIONS.len());
            assert!(
                all.iter().all(|sql| !sql.contains('{')),
                "every placeholder filled"
            );
            assert!(plan(SCHEMA_VERSION, dialect).unwrap().is_empty());
            let newer = plan(SCHEMA_VERSION + 1, dialect).unwrap_err();
            assert_eq!((newer.found, newer.known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            assert!(plan(-1, dialect).is_err());
        }
    }
}
