//! [`Store`]: one database, SQLite or PostgreSQL, behind one interface.

use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

use hashbeacon::report::Report;
use hashbeacon::{Conversion, Event};

use crate::figures::{CampaignFigures, RejectedFigures};
use crate::known::KnownRecipients;
use crate::postgres::{Postgres, PostgresOpenError};
use crate::raw::{ConversionRow, EventRow, UnknownName};
use crate::rollup::{Batch, seconds};
use crate::sqlite::{Sqlite, SqliteOpenError};
use crate::unsubscribes::StoredUnsubscribe;

/// Where the events are stored, parsed from one `db` string: a `postgres://` or
/// `postgresql://` URL is a PostgreSQL database, anything else a SQLite file path.
///
/// ```
/// use hashbeacon_store::Database;
/// assert!(matches!(Database::parse("events.db"), Database::Sqlite(_)));
/// assert!(matches!(Database::parse("postgres://hb@localhost/hb"), Database::Postgres(_)));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Database {
    /// A SQLite file, created if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl Database {
    /// Reads a `db` string (see the type's docs).
    pub fn parse(db: &str) -> Self {
        let lower = db.get(..13).unwrap_or(db).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Database::Postgres(db.to_owned())
        } else {
            Database::Sqlite(PathBuf::from(db))
        }
    }
}

impl fmt::Debug for Database {
    /// Shows a PostgreSQL URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(_) => f.debug_tuple("Postgres").field(&self.to_string()).finish(),
        }
    }
}

impl fmt::Display for Database {
    /// The path, or the URL with any password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

/// `postgres://user:secret@host/db?password=secret` →
/// `postgres://user:***@host/db?password=***`: a password can stand in the userinfo or,
/// as libpq also reads it, in a `password` query parameter.
fn redact_password(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut redacted = redact_userinfo(base);
    if let Some(query) = query {
        let parameters: Vec<&str> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some(("password", _)) => "password=***",
                _ => parameter,
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&parameters.join("&"));
    }
    redacted
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The SQLite file could not be opened or migrated.
    #[error("SQLite database {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: SqliteOpenError,
    },
    /// The PostgreSQL database could not be reached or migrated.
    #[error("PostgreSQL database {url}: {source}")]
    Postgres {
        /// The URL, password redacted.
        url: String,
        /// What went wrong.
        source: PostgresOpenError,
    },
}

impl OpenError {
    /// Whether the database refused because it was written by a newer version.
    pub fn is_newer_schema(&self) -> bool {
        matches!(
            self,
            OpenError::Sqlite {
                source: SqliteOpenError::NewerSchema(_),
                ..
            } | OpenError::Postgres {
                source: PostgresOpenError::NewerSchema(_),
                ..
            }
        )
    }
}

/// Why a read or a write failed. The write was rolled back whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed, or the connection is gone.
    #[error("PostgreSQL: {}", postgres_message(.0))]
    Postgres(#[from] postgres::Error),
    /// A stored row was written by a newer version of this crate.
    #[error(transparent)]
    UnknownName(#[from] UnknownName),
    /// A rollup row that a concurrent writer had created could not be found again
    /// (something deleted it); nothing was written.
    #[error("a rollup row vanished while it was being updated")]
    Vanished,
    /// A raw row has a field longer than PostgreSQL's `COPY` can carry (2 GiB).
    #[error("a field of a raw row is too long to copy")]
    FieldTooLong,
    /// Sending rows to PostgreSQL's `COPY` failed with an error of no known kind.
    #[error("PostgreSQL copy: {0}")]
    Copy(String),
}

/// What the server said, when it said something: the client's own text for a server
/// error is only "db error".
fn postgres_message(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

impl StoreError {
    /// Whether the database could not be reached (the connection broke, the server
    /// is shutting down or gone): trying again on a new connection may succeed.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            StoreError::Postgres(error) => {
                error.is_closed()
                    || error.code().is_none_or(|code| {
                        let code = code.code();
                        code.starts_with("08") || code.starts_with("57P")
                    })
            }
            _ => false,
        }
    }

    /// Whether the database cannot take any write at the moment, whatever the write
    /// holds: the connection is lost ([`Self::is_connection_lost`]), the disk is full,
    /// a file cannot be read or written, memory ran out, the database is read-only (a
    /// PostgreSQL standby, as the old primary is after a failover; a SQLite file that
    /// cannot be written), or another process held SQLite's write lock past the wait. Trying again later,
    /// on a new connection, may succeed; the [`crate::Writer`] keeps the events
    /// meanwhile. Any other error is the database refusing what was written.
    ///
    /// ```
    /// use hashbeacon_store::StoreError;
    /// use rusqlite::ffi;
    /// let full = rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_FULL), None);
    /// assert!(StoreError::from(full).is_unavailable());
    /// let refused = rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_CONSTRAINT), None);
    /// assert!(!StoreError::from(refused).is_unavailable());
    /// ```
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode;
        match self {
            StoreError::Sqlite(error) => error.sqlite_error_code().is_some_and(|code| {
                matches!(
                    code,
                    ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                        | ErrorCode::OutOfMemory
                        | ErrorCode::ReadOnly
                        | ErrorCode::SystemIoFailure
                        | ErrorCode::DiskFull
                        | ErrorCode::CannotOpen
                        | ErrorCode::FileLockingProtocolFailed
                        | ErrorCode::PermissionDenied
                )
            }),
            // Classes 53 (insufficient resources: disk full, out of memory, too many
            // connections) and 58 (system error: I/O), and a read-only transaction:
            // a standby, as the old primary is after a failover.
            StoreError::Postgres(error) => {
                self.is_connection_lost()
                    || error.code().is_some_and(|code| {
                        *code == postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION
                            || code.code().starts_with("53")
                            || code.code().starts_with("58")
                    })
            }
            _ => false,
        }
    }
}

/// Raw event row ids that [`Store::purge_before`] deletes from in one transaction:
/// a window takes milliseconds, while the writer's queue holds a fraction of a
/// second of traffic at full load.
pub const PURGE_WINDOW: i64 = 10_000;

/// The lowest and the highest raw event row id, each read from the end of the id
/// index (one aggregate per query: SQLite scans the table for both in one).
pub(crate) const EVENT_IDS: &str = "SELECT (SELECT MIN(id) FROM events), (SELECT MAX(id) FROM events)";

/// The lowest raw event row id above the parameter: where a purge's next window
/// starts, past any gap in the ids. (`$1` is the first parameter to SQLite too.)
pub(crate) const NEXT_EVENT_ID: &str = "SELECT MIN(id) FROM events WHERE id > $1";

/// Deletes a purge window's raw events: ids from `$1` to `$2`, received before `$3`.
pub(crate) const PURGE_EVENTS: &str = "DELETE FROM events WHERE id BETWEEN $1 AND $2 AND received_at < $3";

/// How many raw rows a purge deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Purged {
    /// Raw events.
    pub events: u64,
    /// Raw conversions (their references stay, so each still counts once).
    pub conversions: u64,
    /// Another connection was purging the same PostgreSQL schema (another node of a
    /// cluster), so this one deleted nothing and left the work to it.
    pub elsewhere: bool,
}

/// An open event store: raw rows plus the rollups that campaign figures are read from.
///
/// Every method runs on the calling thread. One `Store` is one connection: use one
/// per thread (the [`Writer`](crate::Writer) opens its own).
pub struct Store {
    backend: Backend,
    known: KnownRecipients,
    /// Batch ids [`Store::write_once`] has answered for, to forget with the next
    /// batch: their writer knows their fate and will not try them again.
    answered: Vec<String>,
}

enum Backend {
    Sqlite(Box<Sqlite>),
    Postgres(Box<Postgres>),
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match self.backend {
            Backend::Sqlite(_) => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        };
        f.debug_struct("Store").field("backend", &backend).finish()
    }
}

impl Store {
    /// Opens the database a `db` string names ([`Database::parse`]), creating a
    /// SQLite file if missing and running the schema's migrations.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("events.db");
    /// # let db = path.to_str().unwrap();
    /// let mut store = hashbeacon_store::Store::open(db)?;
    /// assert_eq!(store.figures("launch")?, Default::default());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(db: &str) -> Result<Self, OpenError> {
        Self::open_database(&Database::parse(db))
    }

    /// Opens a parsed [`Database`].
    pub fn open_database(db: &Database) -> Result<Self, OpenError> {
        let backend = match db {
            Database::Sqlite(path) => Backend::Sqlite(Box::new(Sqlite::open(path).map_err(|source| {
                OpenError::Sqlite {
                    path: path.clone(),
                    source,
                }
            })?)),
            Database::Postgres(url) => {
                Backend::Postgres(Box::new(Postgres::open(url).map_err(|source| {
                    OpenError::Postgres {
                        url: redact_password(url),
                        source,
                    }
                })?))
            }
        };
        Ok(Self {
            backend,
            known: KnownRecipients::default(),
            answered: Vec::new(),
        })
    }

    /// Sets how many recipients this connection remembers as stored (250,000 by
    /// default, some 30 MB at most; 0 for none), forgetting those it knew.
    ///
    /// Each recipient's first action in a campaign, per link and activity, has a
    /// row behind the exact unique counts, and storing it is most of what writing
    /// an event costs. A recipient this connection stored before, whose row the new
    /// events cannot move to an earlier first action, is left out of the write: the
    /// row, stored by whichever writer, can only have an earlier one. When the
    /// count is reached, all are forgotten at once.
    pub fn remember_recipients(&mut self, capacity: usize) {
        self.known = KnownRecipients::new(capacity);
    }

    /// Stores events and what they add to the rollups, in one transaction: all of
    /// them, or none.
    pub fn write(&mut self, events: &[Event]) -> Result<(), StoreError> {
        self.write_rows(events, None).map(drop)
    }

    /// Stores events as [`Store::write`] does, unless a batch of the same `id` was
    /// stored before: then nothing changes and the answer is `Ok(false)`. A writer
    /// that lost its connection while committing cannot know whether the commit
    /// happened; trying the batch again under the same id cannot count it twice.
    ///
    /// Give every batch an id of its own and try an id again only until it gets an
    /// answer: an id answered for is forgotten when this store writes its next batch
    /// (a row per batch would otherwise pile up for good). An id whose answer was
    /// lost with the connection is kept until [`Store::purge_before`] passes the
    /// batch's latest event.
    pub fn write_once(&mut self, id: &str, events: &[Event]) -> Result<bool, StoreError> {
        let latest = events
            .iter()
            .map(|event| event.received_at)
            .max()
            .unwrap_or_default();
        let written = self.write_rows(events, Some((id, seconds(latest))))?;
        if !self.answered.iter().any(|answered| answered == id) {
            self.answered.push(id.to_owned());
        }
        Ok(written)
    }

    fn write_rows(&mut self, events: &[Event], once: Option<(&str, i64)>) -> Result<bool, StoreError> {
        let (rows, batch) = EventRow::batch(events, &self.known);
        // Never the batch's own id: a batch tried again must still find it.
        let (own, forget): (Vec<String>, Vec<String>) = (std::mem::take(&mut self.answered).into_iter())
            .partition(|answered| once.is_some_and(|(id, _)| id == answered));
        let ids: Vec<&str> = forget.iter().map(String::as_str).collect();
        let written = match &mut self.backend {
            Backend::Sqlite(db) => db.write(&rows, &batch, once, &ids),
            Backend::Postgres(db) => db.write(&rows, &batch, once, &ids, &self.known),
        };
        self.answered = own;
        if let Ok(true) = written {
            self.known.committed(&batch);
        } else {
            // Not committed with this batch: forgotten with the next one.
            self.answered.extend(forget);
        }
        written
    }

    /// Stores a verified conversion, once per click `reference` (the text it was
    /// verified from): `Ok(false)` when that reference was counted before, and
    /// nothing changes.
    pub fn record_conversion(
        &mut self,
        reference: &str,
        conversion: &Conversion,
    ) -> Result<bool, StoreError> {
        let row = ConversionRow::new(conversion);
        match &mut self.backend {
            Backend::Sqlite(db) => db.record_conversion(reference, &row),
            Backend::Postgres(db) => db.record_conversion(reference, &row),
        }
    }

    /// One campaign's figures, read from the rollups only (all zero if it has none).
    pub fn figures(&mut self, campaign: &str) -> Result<CampaignFigures, StoreError> {
        let rows = match &mut self.backend {
            Backend::Sqlite(db) => db.campaign_rows(campaign)?,
            Backend::Postgres(db) => db.campaign_rows(campaign)?,
        };
        Ok(rows.figures())
    }

    /// The rejected requests of all campaigns, read from the rollups.
    pub fn rejected(&mut self) -> Result<RejectedFigures, StoreError> {
        let rows = match &mut self.backend {
            Backend::Sqlite(db) => db.rejected_rows()?,
            Backend::Postgres(db) => db.rejected_rows()?,
        };
        Ok(RejectedFigures::from_rows(rows))
    }

    /// Deletes raw events received, and raw conversions reported, before `cutoff`
    /// (unix seconds); the rollups, and so every figure, stay as they are. For a
    /// retention of N days: `purge_before(now - N * 86_400)`.
    ///
    /// Events are deleted [`PURGE_WINDOW`] row ids at a time (a window starts at the
    /// next stored id), each window a transaction of its own, so that writers wait
    /// for one window at most rather than for a pass over every stored event (on
    /// SQLite, where a purge holds the one write lock). Events stored while it runs
    /// wait for the next purge. On PostgreSQL one connection at a time purges a
    /// schema: while another one does, this returns at once with
    /// [`Purged::elsewhere`] set.
    pub fn purge_before(&mut self, cutoff: u64) -> Result<Purged, StoreError> {
        self.purge_in_windows(seconds(cutoff), PURGE_WINDOW)
    }

    fn purge_in_windows(&mut self, cutoff: i64, window: i64) -> Result<Purged, StoreError> {
        // Nodes of a cluster each purge every hour: one at a time does the work, and
        // the others would only wait on its row locks to delete nothing.
        let Backend::Postgres(db) = &mut self.backend else {
            return self.purge_windows(cutoff, window);
        };
        if !db.lock_purge()? {
            return Ok(Purged {
                elsewhere: true,
                ..Purged::default()
            });
        }
        let purged = self.purge_windows(cutoff, window);
        if let Backend::Postgres(db) = &mut self.backend {
            // A lost connection has released the lock with it: the purge's own error
            // is the one to report.
            let unlocked = db.unlock_purge();
            if purged.is_ok() {
                unlocked?;
            }
        }
        purged
    }

    fn purge_windows(&mut self, cutoff: i64, window: i64) -> Result<Purged, StoreError> {
        let ids = match &mut self.backend {
            Backend::Sqlite(db) => db.event_ids()?,
            Backend::Postgres(db) => db.event_ids()?,
        };
        let mut purged = Purged::default();
        if let Some((first, last)) = ids {
            let mut from = first;
            loop {
                let to = from.saturating_add(window.max(1) - 1).min(last);
                purged.events += match &mut self.backend {
                    Backend::Sqlite(db) => {
                        let started = Instant::now();
                        let events = db.purge_events(cutoff, from..=to)?;
                        // SQLite's lock is not fair: a writer waiting for it retries
                        // at intervals, and a window taken right after the last would
                        // keep it out for the whole purge. Leave the lock free as
                        // long as the window held it.
                        std::thread::sleep(started.elapsed());
                        events
                    }
                    Backend::Postgres(db) => db.purge_events(cutoff, from..=to)?,
                };
                // The next window starts at the next stored id, so gaps in the ids
                // (rows purged before, ids a rolled-back batch took) cost nothing.
                let next = match &mut self.backend {
                    Backend::Sqlite(db) => db.next_event_id(to)?,
                    Backend::Postgres(db) => db.next_event_id(to)?,
                };
                match next {
                    Some(next) if to < last && next <= last => from = next,
                    _ => break,
                }
            }
        }
        purged.conversions = match &mut self.backend {
            Backend::Sqlite(db) => db.purge_conversions(cutoff)?,
            Backend::Postgres(db) => db.purge_conversions(cutoff)?,
        };
        Ok(purged)
    }

    /// The report folded from every stored raw row, as [`Report`] folds events: what
    /// the rollups must equal (until raw rows are purged). Its cost grows with the
    /// number of events; figures come from [`Store::figures`].
    pub fn raw_report(&mut self) -> Result<Report, StoreError> {
        let (events, conversions) = match &mut self.backend {
            Backend::Sqlite(db) => db.raw()?,
            Backend::Postgres(db) => db.raw()?,
        };
        let mut report = Report::new();
        for event in &events {
            event.fold_into(&mut report)?;
        }
        for conversion in &conversions {
            conversion.fold_into(&mut report);
        }
        Ok(report)
    }

    /// The accepted one-click unsubscribes stored after row id `since`, oldest first,
    /// at most `limit`: what a list manager polls to act on them, passing the last id
    /// it saw as the next `since`. A recipient who posted twice appears twice.
    ///
    /// Paging so meets every unsubscribe stored, however many writers store them:
    /// their rows become visible in id order (on PostgreSQL, batches that hold
    /// unsubscribes take an advisory lock until they commit). Each page reads an
    /// index of the unsubscribe rows alone, at any number of events. Raw rows past a
    /// retention purge ([`Store::purge_before`]) are gone from it too.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("events.db");
    /// let mut store = hashbeacon_store::Store::open(path.to_str().unwrap())?;
    /// assert!(store.unsubscribes(0, 100)?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unsubscribes(&mut self, since: i64, limit: u32) -> Result<Vec<StoredUnsubscribe>, StoreError> {
        match &mut self.backend {
            Backend::Sqlite(db) => db.unsubscribes(since, i64::from(limit)),
            Backend::Postgres(db) => db.unsubscribes(since, i64::from(limit)),
        }
    }

    /// The schema version of the database (see [`SCHEMA_VERSION`](crate::SCHEMA_VERSION)).
    pub fn schema_version(&mut self) -> Result<i64, StoreError> {
        match &mut self.backend {
            Backend::Sqlite(db) => db.schema_version(),
            Backend::Postgres(db) => db.schema_version(),
        }
    }

    /// Whether the connection is known to be gone (PostgreSQL only: a SQLite file
    /// has no connection to lose). A store that is gone must be opened again.
    pub fn is_closed(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(_) => false,
            Backend::Postgres(db) => db.is_closed(),
        }
    }

    /// Stores raw rows only, in one transaction: half of a bulk load ([`crate::load`]).
    pub(crate) fn insert_rows(&mut self, rows: &[EventRow]) -> Result<(), StoreError> {
        match &mut self.backend {
            Backend::Sqlite(db) => db.insert_raw(rows),
            Backend::Postgres(db) => db.copy_raw(rows),
        }
    }

    /// Adds what a batch counts to the rollups, in one transaction, with no raw row:
    /// the other half of a bulk load.
    pub(crate) fn add_to_rollups(&mut self, batch: &Batch) -> Result<(), StoreError> {
        match &mut self.backend {
            Backend::Sqlite(db) => db.write(&[], batch, None, &[]),
            Backend::Postgres(db) => db.write(&[], batch, None, &[], &self.known),
        }
        .map(drop)
    }

    /// Stores raw rows only, with no rollup: PostgreSQL's `COPY`, SQLite's plain
    /// inserts. The figures no longer match the raw rows afterwards; this is the
    /// baseline that benchmarks compare [`Store::write`] with, not for production.
    #[doc(hidden)]
    pub fn write_raw_only(&mut self, events: &[Event]) -> Result<(), StoreError> {
        let rows: Vec<EventRow> = events.iter().map(EventRow::new).collect();
        self.insert_rows(&rows)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::load::{ISSUED_AT, template};

    /// Events received at `ages` (days after [`ISSUED_AT`]), stored `batch` at a time.
    fn stored(db: &str, ages: &[u8], batch: usize) -> Store {
        let mut store = Store::open(db).unwrap();
        let events: Vec<Event> = (ages.iter())
            .map(|&age| {
                let mut event = template(hashbeacon::Kind::Click, false);
                event.received_at = ISSUED_AT + u64::from(age) * 86_400;
                event
            })
            .collect();
        for chunk in events.chunks(batch.max(1)) {
            store.write(chunk).unwrap();
        }
        store
    }

    #[test]
    fn a_purge_reaches_the_highest_row_id() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("events.db");
        let mut store = stored(db.to_str().unwrap(), &[0, 5], 1);
        // A row id at the very end of the range: windows must not step past it.
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute("UPDATE events SET id = ?1 WHERE id = 2", [i64::MAX])
            .unwrap();
        let cutoff = seconds(ISSUED_AT + 10 * 86_400);
        assert_eq!(store.purge_in_windows(cutoff, 3).unwrap().events, 2);
        assert_eq!(store.raw_report().unwrap().events(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// A purge in windows deletes exactly the events older than the cutoff, in
        /// any order of ids and ages, wherever the windows cut (on SQLite; the
        /// PostgreSQL statements are the same).
        #[test]
        fn a_purge_in_windows_deletes_exactly_the_older_events(
            ages in prop::collection::vec(0u8..10, 0..60),
            cutoff in 0u8..11,
            window in 1i64..9,
            batch in 1usize..20,
            purged_before in prop::option::of(0u8..11),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("events.db");
            let mut store = stored(db.to_str().unwrap(), &ages, batch);
            let mut left = ages.clone();
            if let Some(earlier) = purged_before {
                // An earlier purge leaves gaps in the ids.
                store.purge_in_windows(seconds(ISSUED_AT + u64::from(earlier) * 86_400), window).unwrap();
                left.retain(|&age| age >= earlier);
            }
            let cutoff_at = seconds(ISSUED_AT + u64::from(cutoff) * 86_400);
            let purged = store.purge_in_windows(cutoff_at, window).unwrap();
            let older = left.iter().filter(|&&age| age < cutoff).count();
            prop_assert_eq!(purged.events, older as u64);
            let kept = store.raw_report().unwrap().events();
            prop_assert_eq!(kept, (left.len() - older) as u64);
        }
    }

    #[test]
    fn db_strings_pick_the_backend() {
        let cases = [
            ("events.db", false),
            ("/var/lib/hb/events.db", false),
            ("postgres://hb@localhost/hb", true),
            ("PostgreSQL://hb@localhost:5432/hb", true),
            ("postgres:/not-a-url", false),
            ("", false),
        ];
        for (db, postgres) in cases {
            assert_eq!(
                matches!(Database::parse(db), Database::Postgres(_)),
                postgres,
                "{db}"
            );
        }
    }

    #[test]
    fn passwords_never_show() {
        let db = Database::parse("postgres://hb:s3cret@db.example:5432/hb?sslmode=disable");
        assert_eq!(
            db.to_string(),
            "postgres://hb:***@db.example:5432/hb?sslmode=disable"
        );
        assert!(!format!("{db:?}").contains("s3cret"));
        assert_eq!(
            Database::parse("postgres://db/hb").to_string(),
            "postgres://db/hb"
        );
        let in_query = Database::parse("postgresql://hb@db?sslmode=disable&password=s3cret&user=hb");
        assert_eq!(
            in_query.to_string(),
            "postgresql://hb@db?sslmode=disable&password=***&user=hb"
        );
        assert!(!format!("{in_query:?}").contains("s3cret"));
        // A query with no path before it is still not read as part of the host.
        assert_eq!(
            Database::parse("postgres://hb:s3cret@db?password=s3cret").to_string(),
            "postgres://hb:***@db?password=***"
        );
    }
}
