//! The SQLite backend: one file, zero configuration, WAL so that readers read while
//! the writer writes.

use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params, params_from_iter};

use crate::StoreError;
use crate::days::{self, Hours};
use crate::figures::CampaignRows;
use crate::raw::{ConversionRow, EventRow, StoredEvent};
use crate::rollup::{Batch, RecipientDeltas, earliest, seconds, unix};
use crate::schema::{self, VERSION_TABLE};
use crate::text::Text;
use crate::unsubscribes::{self, StoredUnsubscribe};

/// An open SQLite database.
pub(crate) struct Sqlite {
    conn: Connection,
}

/// Why a SQLite database could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteOpenError {
    /// SQLite refused: not a database, no such directory, no permission, …
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The database would not switch to WAL, which readers need to read while the
    /// writer writes.
    #[error("the database would not switch to WAL mode (it stays in {0} mode)")]
    NotWal(String),
    /// The database was written by a newer version.
    #[error(transparent)]
    NewerSchema(#[from] schema::NewerSchema),
}

/// Pages written to the log before it is copied back into the database.
const WAL_CHECKPOINT_PAGES: i64 = 4_000;

impl Sqlite {
    /// Opens (creating if missing) the database at `path`, migrating its schema.
    pub(crate) fn open(path: &Path) -> Result<Self, SqliteOpenError> {
        let mut conn = Connection::open(path)?;
        // Writers and readers share the file: wait for a lock, don't fail.
        conn.busy_timeout(Duration::from_secs(5))?;
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SqliteOpenError::NotWal(mode));
        }
        // WAL's durable-on-checkpoint setting: plenty for analytics.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoint every 4,000 pages (16 MB of log) rather than 1,000: the rollup
        // pages every batch rewrites are copied back, and the file synced, a quarter
        // as often. Not more: the writer stalls while it checkpoints, and at 10,000
        // pages the queue overflowed at 60,000 clicks a second, where at 4,000 it
        // did not.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(VERSION_TABLE)?;
        let found: Option<i64> = tx
            .query_row("SELECT version FROM hashbeacon_schema", [], |row| row.get(0))
            .optional()?;
        let migrations = schema::plan(found.unwrap_or(0), schema::SQLITE)?;
        if !migrations.is_empty() {
            for sql in migrations {
                tx.execute_batch(&sql)?;
            }
            tx.execute("DELETE FROM hashbeacon_schema", [])?;
            tx.execute(
                "INSERT INTO hashbeacon_schema (version) VALUES (?1)",
                [schema::SCHEMA_VERSION],
            )?;
        }
        tx.commit()?;
        Ok(Self { conn })
    }

    /// The schema version stored.
    pub(crate) fn schema_version(&mut self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT version FROM hashbeacon_schema", [], |row| row.get(0))?)
    }

    /// Writes raw rows and what they add to the rollups in one transaction.
    /// With `once`, a batch id and its time, nothing is written if a batch of that id
    /// was: `Ok(false)`. The batch ids in `forget` are deleted with the batch.
    pub(crate) fn write(
        &mut self,
        rows: &[EventRow],
        batch: &Batch,
        once: Option<(&str, i64)>,
        forget: &[&str],
    ) -> Result<bool, StoreError> {
        // IMMEDIATE takes the write lock up front, waiting for it under the busy
        // timeout, instead of failing later when a read turns into a write.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some((id, at)) = once {
            let new = tx
                .prepare_cached(
                    "INSERT INTO written_batches (id, written_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                )?
                .execute(params![id, at])?
                == 1;
            if !new {
                return Ok(false);
            }
        }
        for id in forget {
            (tx.prepare_cached("DELETE FROM written_batches WHERE id = ?1")?).execute([id])?;
        }
        insert_events(&tx, rows)?;
        add_rollups(&tx, batch)?;
        tx.commit()?;
        Ok(true)
    }

    /// Inserts raw rows, without rollups: the baseline benchmarks compare with.
    pub(crate) fn insert_raw(&mut self, rows: &[EventRow]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_events(&tx, rows)?;
        tx.commit()?;
        Ok(())
    }

    /// Stores a conversion and its rollups unless its reference was counted before.
    pub(crate) fn record_conversion(
        &mut self,
        reference: &str,
        row: &ConversionRow,
    ) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let new = tx
            .prepare_cached(
                "INSERT INTO conversion_references (reference) VALUES (?1) ON CONFLICT DO NOTHING",
            )?
            .execute([reference])?
            == 1;
        if new {
            tx.prepare_cached(
                "INSERT INTO conversions (campaign, link, recipient, clicked_at, converted_at, key_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                row.campaign,
                row.link,
                row.recipient,
                row.clicked_at,
                row.converted_at,
                row.key_id
            ])?;
            add_rollups(&tx, &row.batch())?;
        }
        tx.commit()?;
        Ok(new)
    }

    /// A campaign's rollup rows.
    pub(crate) fn campaign_rows(&mut self, campaign: &str) -> Result<CampaignRows, StoreError> {
        let conn = &self.conn;
        let mut rows = CampaignRows {
            counts: conn
                .prepare_cached(
                    "SELECT scope, action, reason, person, n FROM rollup_counts WHERE campaign = ?1",
                )?
                .query_map([campaign], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<Result<_, _>>()?,
            days: Vec::new(),
            uniques: conn
                .prepare_cached("SELECT scope, activity, n FROM rollup_uniques WHERE campaign = ?1")?
                .query_map([campaign], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?,
            firsts: conn
                .prepare_cached("SELECT scope, activity, bucket, n FROM rollup_firsts WHERE campaign = ?1")?
                .query_map([campaign], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?,
        };
        let mut days = conn.prepare_cached(&SELECT_DAYS)?;
        let mut days = days.query([campaign])?;
        while let Some(r) = days.next()? {
            let mut hours = Hours::default();
            for (hour, count) in hours.iter_mut().enumerate() {
                *count = r.get(days::FIRST_HOUR + hour)?;
            }
            rows.push_day(text(r, 0)?, text(r, 1)?, r.get(2)?, r.get(3)?, hours);
        }
        Ok(rows)
    }

    /// The rejected requests' rollup rows: `(kind, reason, count)`.
    pub(crate) fn rejected_rows(&mut self) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT kind, reason, n FROM rollup_rejected")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?)
    }

    /// The lowest and highest raw event row ids, `None` when there is none.
    pub(crate) fn event_ids(&mut self) -> Result<Option<(i64, i64)>, StoreError> {
        Ok(self.conn.query_row(crate::store::EVENT_IDS, [], |r| {
            Ok(r.get::<_, Option<i64>>(0)?.zip(r.get(1)?))
        })?)
    }

    /// The lowest raw event row id above `after`.
    pub(crate) fn next_event_id(&mut self, after: i64) -> Result<Option<i64>, StoreError> {
        Ok((self.conn.prepare_cached(crate::store::NEXT_EVENT_ID)?).query_row([after], |r| r.get(0))?)
    }

    /// Deletes the raw events with ids in `ids` received before `cutoff`, in a
    /// transaction of their own.
    pub(crate) fn purge_events(&mut self, cutoff: i64, ids: RangeInclusive<i64>) -> Result<u64, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let events =
            (tx.prepare_cached(crate::store::PURGE_EVENTS)?).execute([*ids.start(), *ids.end(), cutoff])?;
        tx.commit()?;
        Ok(count(events))
    }

    /// Deletes the conversions reported, and the batch ids of batches received,
    /// before `cutoff`.
    pub(crate) fn purge_conversions(&mut self, cutoff: i64) -> Result<u64, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let conversions = tx.execute("DELETE FROM conversions WHERE converted_at < ?1", [cutoff])?;
        tx.execute("DELETE FROM written_batches WHERE written_at < ?1", [cutoff])?;
        tx.commit()?;
        Ok(count(conversions))
    }

    /// Accepted unsubscribes after row `since`, at most `limit`.
    pub(crate) fn unsubscribes(
        &mut self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<StoredUnsubscribe>, StoreError> {
        let sql = unsubscribes::QUERY
            .replace("{since}", "?1")
            .replace("{limit}", "?2");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_map([since, limit], |r| {
                Ok(StoredUnsubscribe::from_columns(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })?
            .collect::<Result<_, _>>()?)
    }

    /// Every raw row, for folding.
    pub(crate) fn raw(&mut self) -> Result<(Vec<StoredEvent>, Vec<ConversionRow>), StoreError> {
        let events = self
            .conn
            .prepare_cached(
                "SELECT kind, action, campaign, link, recipient, issued_at, rejected, received_at,
                        reason, person FROM events ORDER BY id",
            )?
            .query_map([], |r| {
                Ok(StoredEvent {
                    kind: r.get(0)?,
                    action: r.get(1)?,
                    campaign: r.get(2)?,
                    link: r.get(3)?,
                    recipient: r.get(4)?,
                    issued_at: r.get(5)?,
                    rejected: r.get(6)?,
                    received_at: r.get(7)?,
                    reason: r.get(8)?,
                    person: r.get(9)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let conversions = self
            .conn
            .prepare_cached(
                "SELECT campaign, link, recipient, clicked_at, converted_at, key_id
                 FROM conversions ORDER BY id",
            )?
            .query_map([], |r| {
                Ok(ConversionRow {
                    campaign: r.get(0)?,
                    link: r.get(1)?,
                    recipient: r.get(2)?,
                    clicked_at: r.get(3)?,
                    converted_at: r.get(4)?,
                    key_id: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok((events, conversions))
    }
}

/// Inserts an `events` row of the values [`event_value`] reads.
const INSERT_EVENT: &str = "INSERT INTO events (kind, action, campaign, link, recipient, issued_at, expired,
        key_id, rejected, received_at, method, user_agent, client_ip, verdict, reason, person)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

/// Inserts raw event rows.
fn insert_events(tx: &Transaction<'_>, rows: &[EventRow]) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(INSERT_EVENT)?;
    let mut previous: Option<&EventRow> = None;
    for row in rows {
        for column in 0..EVENT_COLUMNS {
            let value = event_value(row, column);
            // A value stays bound until it is replaced, and binding text copies it:
            // rows of a batch mostly share their kind, campaign, verdict and more,
            // so bind only what differs from the row before.
            if previous.is_none_or(|previous| event_value(previous, column) != value) {
                insert.raw_bind_parameter(column + 1, ToSqlOutput::Borrowed(value))?;
            }
        }
        insert.raw_execute()?;
        previous = Some(row);
    }
    Ok(())
}

/// The number of values [`INSERT_EVENT`] binds.
const EVENT_COLUMNS: usize = 16;

/// Value `column` of an `events` row, in the order [`INSERT_EVENT`] binds them
/// (0-based; `Null` past the last).
// Inlined into the loop over the columns, the match on the column folds away.
#[inline(always)]
fn event_value<'r>(row: &'r EventRow<'_>, column: usize) -> ValueRef<'r> {
    let text = |text: Option<&'r str>| text.map_or(ValueRef::Null, ValueRef::from);
    let integer = |n: Option<i64>| n.map_or(ValueRef::Null, ValueRef::Integer);
    match column {
        0 => ValueRef::from(row.kind),
        1 => text(row.action),
        2 => text(row.campaign),
        3 => row.link.as_ref().map_or(ValueRef::Null, Text::as_value),
        4 => text(row.recipient),
        5 => integer(row.issued_at),
        6 => ValueRef::Integer(row.expired.into()),
        7 => text(row.key_id),
        8 => text(row.rejected),
        9 => ValueRef::Integer(row.received_at),
        10 => ValueRef::from(row.method),
        11 => row.user_agent.as_ref().map_or(ValueRef::Null, Text::as_value),
        12 => row.client_ip.as_ref().map_or(ValueRef::Null, Text::as_value),
        13 => ValueRef::from(row.verdict),
        14 => row.reason.as_value(),
        15 => ValueRef::Integer(row.person.into()),
        _ => ValueRef::Null,
    }
}

/// The upsert of `rollup_days` rows, one at a time.
static UPSERT_DAYS: LazyLock<String> = LazyLock::new(|| {
    days::upsert(&format!(
        "VALUES ({})",
        days::placeholders(days::COLUMN_COUNT, |n| format!("?{n}"))
    ))
});

/// A campaign's `rollup_days` rows.
static SELECT_DAYS: LazyLock<String> = LazyLock::new(|| days::select("?1"));

/// Adds a batch to the rollups. SQLite has one writer at a time, so reading a
/// recipient's row and then writing it cannot race.
fn add_rollups(tx: &Transaction<'_>, batch: &Batch) -> Result<(), StoreError> {
    let mut counts = tx.prepare_cached(
        "INSERT INTO rollup_counts (campaign, scope, action, reason, person, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (campaign, scope, action, reason, person) DO UPDATE SET n = n + excluded.n",
    )?;
    for (key, n) in &batch.counts {
        counts.execute(params![
            key.campaign,
            key.scope,
            key.action,
            key.reason,
            key.person,
            n
        ])?;
    }
    let mut days = tx.prepare_cached(&UPSERT_DAYS)?;
    for (key, hours) in &batch.days {
        let key: [&dyn ToSql; 5] = [&key.campaign, &key.scope, &key.action, &key.day, &key.person];
        days.execute(params_from_iter(
            key.into_iter().chain(hours.iter().map(|n| n as &dyn ToSql)),
        ))?;
    }
    let mut rejected = tx.prepare_cached(
        "INSERT INTO rollup_rejected (kind, reason, n) VALUES (?1, ?2, ?3)
         ON CONFLICT (kind, reason) DO UPDATE SET n = n + excluded.n",
    )?;
    for ((kind, reason), n) in &batch.rejected {
        rejected.execute(params![kind, reason, n])?;
    }

    let mut deltas = RecipientDeltas::default();
    let mut read = tx.prepare_cached(
        "SELECT first_at, first_since FROM rollup_recipients
         WHERE campaign = ?1 AND scope = ?2 AND activity = ?3 AND recipient = ?4",
    )?;
    let mut write = tx.prepare_cached(
        "INSERT INTO rollup_recipients (campaign, scope, activity, recipient, first_at, first_since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (recipient, campaign, scope, activity)
         DO UPDATE SET first_at = excluded.first_at, first_since = excluded.first_since",
    )?;
    for (key, first) in &batch.recipients {
        let stored = read
            .query_row(
                params![key.campaign, key.scope, key.activity, key.recipient],
                |r| {
                    let (at, since): (Option<i64>, Option<i64>) = (r.get(0)?, r.get(1)?);
                    Ok(at.zip(since).map(|(at, since)| (unix(at), unix(since))))
                },
            )
            .optional()?;
        let merged = earliest(stored.flatten(), *first);
        if stored.is_none() || stored.flatten() != merged {
            let (at, since) = (merged.map(|m| seconds(m.0)), merged.map(|m| seconds(m.1)));
            write.execute(params![
                key.campaign,
                key.scope,
                key.activity,
                key.recipient,
                at,
                since
            ])?;
        }
        deltas.add(key, stored, merged);
    }
    let mut uniques = tx.prepare_cached(
        "INSERT INTO rollup_uniques (campaign, scope, activity, n) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (campaign, scope, activity) DO UPDATE SET n = n + excluded.n",
    )?;
    for (key, n) in &deltas.uniques {
        uniques.execute(params![key.campaign, key.scope, key.activity, n])?;
    }
    let mut firsts = tx.prepare_cached(
        "INSERT INTO rollup_firsts (campaign, scope, activity, bucket, n) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (campaign, scope, activity, bucket) DO UPDATE SET n = n + excluded.n",
    )?;
    for ((key, bucket), n) in &deltas.firsts {
        firsts.execute(params![key.campaign, key.scope, key.activity, bucket, n])?;
    }
    Ok(())
}

/// Column `index` of `row` as text, borrowed from the row.
fn text<'r>(row: &'r rusqlite::Row<'_>, index: usize) -> Result<&'r str, rusqlite::Error> {
    row.get_ref(index)?.as_str().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(error))
    })
}

fn count(rows: usize) -> u64 {
    u64::try_from(rows).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use hashbeacon::event::Link;
    use hashbeacon::{Event, Kind, Method, Signal, Verdict};
    use proptest::prelude::*;
    use rusqlite::types::Value;

    use super::*;
    use crate::load::template;

    /// An event whose every column may differ from its neighbours', `None` columns
    /// included, drawn from few values so that neighbours often share them.
    fn event() -> impl Strategy<Value = Event> {
        (
            (
                prop::sample::select(vec![Kind::Click, Kind::Open, Kind::Unsubscribe]),
                any::<bool>(),
            ),
            (0u8..3, 0u8..3, any::<bool>()),
            (0u8..3, 0u8..3, 0u8..2, 0u64..3),
        )
            .prop_map(
                |((kind, rejected), (recipient, link, expired), (agent, ip, verdict, at))| {
                    let mut event = template(kind, rejected);
                    if let Ok(token) = &mut event.token {
                        token.recipient = (recipient > 0).then(|| format!("R{recipient}").into());
                        token.link = (link > 0).then_some(Link::Index(u32::from(link)));
                        token.expired = expired;
                    }
                    event.user_agent = (agent > 0).then(|| format!("agent {agent}"));
                    event.client_ip = match ip {
                        0 => None,
                        1 => Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0))),
                        _ => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                    };
                    if verdict == 1 && !rejected {
                        event.verdict = Verdict::Scanner(Signal::HeadRequest);
                        event.method = Method::Head;
                    }
                    event.received_at += at;
                    event
                },
            )
    }

    /// Every column of every stored event, in row order.
    fn stored(tx: &Transaction<'_>) -> Vec<Vec<Value>> {
        let mut select = tx.prepare("SELECT * FROM events ORDER BY id").unwrap();
        let columns = select.column_count();
        (select.query_map([], |row| (1..columns).map(|i| row.get(i)).collect()))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    proptest! {
        /// Binding only what differs from the row before stores what binding every
        /// value of every row stores.
        #[test]
        fn rows_store_what_they_hold_whatever_the_row_before(
            events in prop::collection::vec(event(), 0..40),
        ) {
            let rows: Vec<EventRow<'_>> = events.iter().map(EventRow::new).collect();
            let dir = tempfile::tempdir().unwrap();
            let mut db = Sqlite::open(&dir.path().join("events.db")).unwrap();
            let tx = db.conn.transaction().unwrap();
            insert_events(&tx, &rows).unwrap();
            let skipping = stored(&tx);
            tx.execute("DELETE FROM events", []).unwrap();
            let mut insert = tx.prepare(INSERT_EVENT).unwrap();
            for row in &rows {
                let values = (0..EVENT_COLUMNS).map(|column| ToSqlOutput::Borrowed(event_value(row, column)));
                insert.execute(params_from_iter(values)).unwrap();
            }
            prop_assert_eq!(skipping, stored(&tx));
        }
    }
}
