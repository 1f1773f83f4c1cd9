//! The PostgreSQL backend: any number of writers on one database at once.
//!
//! Raw rows go in with a binary `COPY`; rollups are additive upserts of the batch's
//! counters, so concurrent writers add up instead of overwriting each other. Each
//! writer touches rollup rows in the same (sorted) order, so two writers wait for each
//! other rather than deadlock; a deadlock or serialization failure reported anyway,
//! or a recipient that another writer stored first, rolls the whole batch back and
//! it is written again.

use std::collections::HashMap;
use std::io::Write as _;
use std::ops::RangeInclusive;
use std::sync::LazyLock;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement, Transaction};

use crate::StoreError;
use crate::binary_copy;
use crate::days::{self, Hours};
use crate::figures::CampaignRows;
use crate::known::{KnownRecipients, RecipientRow};
use crate::raw::{ConversionRow, EventRow, StoredEvent};
use crate::rollup::{Batch, First, RecipientDeltas, RecipientKey, earliest, seconds, unix};
use crate::schema::{self, VERSION_TABLE};
use crate::text::Text;
use crate::unsubscribes::{self, StoredUnsubscribe};

/// How often a batch is tried again after a deadlock or serialization failure.
const TRANSIENT_RETRIES: usize = 5;

/// Serializes migrations of concurrent nodes: a `pg_advisory_xact_lock` key.
const MIGRATION_LOCK: i64 = 0x0068_6273_746f_7265; // "hbstore"

/// Orders the writes of unsubscribe rows: a `pg_advisory_xact_lock` key.
///
/// `/unsubscribes` pages by row id, and a row takes its id when it is written, not
/// when its transaction commits. Two nodes' batches could commit their ids out of
/// order, and a reader that saw the higher one first would move its cursor past the
/// lower one for good: an unsubscribe stored but never listed. A batch holding
/// unsubscribes takes this lock before its rows take their ids and keeps it until it
/// commits, so those rows become visible in id order. Other batches never wait on it.
const FEED_LOCK: i64 = 0x0068_6266_6565_6473; // "hbfeeds"

/// Lets one connection at a time purge a schema: the first key of a session advisory
/// lock, the second being a hash of the schema's name, so that schemas of one
/// database (tenants, tests) purge side by side.
const PURGE_LOCK: i32 = 0x6862_7067; // "hbpg"

/// Takes the purge lock of the connection's schema unless another session holds it.
const LOCK_PURGE: &str = "SELECT pg_try_advisory_lock($1, hashtext(coalesce(current_schema(), '')))";

/// Releases what [`LOCK_PURGE`] took.
const UNLOCK_PURGE: &str = "SELECT pg_advisory_unlock($1, hashtext(coalesce(current_schema(), '')))";

/// An open PostgreSQL connection.
pub(crate) struct Postgres {
    client: Client,
    /// The writes' statements, prepared once per connection: a statement costs one
    /// round trip instead of two.
    prepared: Prepared,
    /// When the next batch tries to copy its first-seen rows in.
    copies: CopyBackoff,
}

/// Statements prepared on a connection, by their SQL.
#[derive(Default)]
struct Prepared(HashMap<&'static str, Statement>);

impl Prepared {
    /// The statement of `sql`, prepared with `prepare` the first time.
    fn get(
        &mut self,
        sql: &'static str,
        prepare: impl FnOnce(&str) -> Result<Statement, postgres::Error>,
    ) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        let statement = prepare(sql)?;
        self.0.insert(sql, statement.clone());
        Ok(statement)
    }
}

/// A transaction that prepares each statement once per connection.
struct Tx<'a> {
    inner: Transaction<'a>,
    prepared: &'a mut Prepared,
    copies: &'a mut CopyBackoff,
}

impl Tx<'_> {
    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        let inner = &mut self.inner;
        self.prepared.get(sql, |sql| inner.prepare(sql))
    }

    fn execute(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        self.inner.execute(&statement, params)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.inner.query(&statement, params)
    }
}

/// Why a PostgreSQL database could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresOpenError {
    /// Connecting or migrating failed.
    #[error(transparent)]
    Postgres(#[from] postgres::Error),
    /// The database was written by a newer version.
    #[error(transparent)]
    NewerSchema(#[from] schema::NewerSchema),
}

impl Postgres {
    /// Connects to `url` and migrates the schema.
    pub(crate) fn open(url: &str) -> Result<Self, PostgresOpenError> {
        let mut client = Client::connect(url, NoTls)?;
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(VERSION_TABLE)?;
        let found: Option<i64> = tx
            .query_opt("SELECT version FROM hashbeacon_schema", &[])?
            .map(|row| row.get(0));
        let migrations = schema::plan(found.unwrap_or(0), schema::POSTGRES)?;
        if !migrations.is_empty() {
            for sql in migrations {
                tx.batch_execute(&sql)?;
            }
            tx.execute("DELETE FROM hashbeacon_schema", &[])?;
            tx.execute(
                "INSERT INTO hashbeacon_schema (version) VALUES ($1)",
                &[&schema::SCHEMA_VERSION],
            )?;
        }
        tx.commit()?;
        Ok(Self {
            client,
            prepared: Prepared::default(),
            copies: CopyBackoff::default(),
        })
    }

    /// Whether the connection is gone (the server stopped, the network broke).
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The schema version stored.
    pub(crate) fn schema_version(&mut self) -> Result<i64, StoreError> {
        Ok(self
            .client
            .query_one("SELECT version FROM hashbeacon_schema", &[])?
            .get(0))
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
        known: &KnownRecipients,
    ) -> Result<bool, StoreError> {
        self.retrying(|tx| {
            if let Some((id, at)) = once {
                let new = tx.execute(
                    "INSERT INTO written_batches (id, written_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&id, &at],
                )? == 1;
                if !new {
                    return Ok(false);
                }
            }
            if !forget.is_empty() {
                tx.execute("DELETE FROM written_batches WHERE id = ANY($1)", &[&forget])?;
            }
            if rows.iter().any(EventRow::is_listed_unsubscribe) {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FEED_LOCK])?;
            }
            copy_events(&mut tx.inner, rows)?;
            add_rollups(tx, batch, known)?;
            Ok(true)
        })
    }

    /// Stores a conversion and its rollups unless its reference was counted before.
    pub(crate) fn record_conversion(
        &mut self,
        reference: &str,
        row: &ConversionRow,
    ) -> Result<bool, StoreError> {
        self.retrying(|tx| {
            let new = tx.execute(
                "INSERT INTO conversion_references (reference) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&reference],
            )? == 1;
            if new {
                tx.execute(
                    "INSERT INTO conversions (campaign, link, recipient, clicked_at, converted_at, key_id)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &row.campaign,
                        &row.link,
                        &row.recipient,
                        &row.clicked_at,
                        &row.converted_at,
                        &row.key_id,
                    ],
                )?;
                // A conversion is rare: nothing is known of its recipient here.
                add_rollups(tx, &row.batch(), &KnownRecipients::new(0))?;
            }
            Ok(new)
        })
    }

    /// Runs `work` in a transaction, again from the start after a deadlock or a
    /// serialization failure (the database rolled the first try back whole).
    fn retrying<T>(
        &mut self,
        mut work: impl FnMut(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let attempt = self
                .client
                .transaction()
                .map_err(StoreError::from)
                .and_then(|inner| {
                    let mut tx = Tx {
                        inner,
                        prepared: &mut self.prepared,
                        copies: &mut self.copies,
                    };
                    let value = work(&mut tx)?;
                    tx.inner.commit()?;
                    Ok(value)
                });
            match attempt {
                Err(StoreError::Postgres(error)) if tries <= TRANSIENT_RETRIES && is_transient(&error) => {}
                other => return other,
            }
        }
    }

    /// The statement of `sql`, prepared once per connection: figures are read every
    /// few seconds and a purge runs a statement per window, and preparing anew costs a
    /// round trip each time.
    fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        let client = &mut self.client;
        Ok(self.prepared.get(sql, |sql| client.prepare(sql))?)
    }

    /// Runs a query prepared once per connection ([`Postgres::statement`]).
    fn query(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(sql)?;
        Ok(self.client.query(&statement, params)?)
    }

    /// A campaign's rollup rows.
    pub(crate) fn campaign_rows(&mut self, campaign: &str) -> Result<CampaignRows, StoreError> {
        let mut rows = CampaignRows {
            counts: self
                .query(
                    "SELECT scope, action, reason, person, n FROM rollup_counts WHERE campaign = $1",
                    &[&campaign],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                .collect(),
            days: Vec::new(),
            uniques: self
                .query(
                    "SELECT scope, activity, n FROM rollup_uniques WHERE campaign = $1",
                    &[&campaign],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect(),
            firsts: self
                .query(
                    "SELECT scope, activity, bucket, n FROM rollup_firsts WHERE campaign = $1",
                    &[&campaign],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect(),
        };
        for r in &self.query(&SELECT_DAYS, &[&campaign])? {
            let mut hours = Hours::default();
            for (hour, count) in hours.iter_mut().enumerate() {
                *count = r.try_get(days::FIRST_HOUR + hour)?;
            }
            rows.push_day(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, hours);
        }
        Ok(rows)
    }

    /// The rejected requests' rollup rows: `(kind, reason, count)`.
    pub(crate) fn rejected_rows(&mut self) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok((self
            .query("SELECT kind, reason, n FROM rollup_rejected", &[])?
            .iter())
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
    }

    /// The lowest and highest raw event row ids, `None` when there is none.
    pub(crate) fn event_ids(&mut self) -> Result<Option<(i64, i64)>, StoreError> {
        let row = self.client.query_one(crate::store::EVENT_IDS, &[])?;
        Ok(row.get::<_, Option<i64>>(0).zip(row.get(1)))
    }

    /// The lowest raw event row id above `after`.
    pub(crate) fn next_event_id(&mut self, after: i64) -> Result<Option<i64>, StoreError> {
        let statement = self.statement(crate::store::NEXT_EVENT_ID)?;
        Ok(self.client.query_one(&statement, &[&after])?.get(0))
    }

    /// Takes the schema's purge lock ([`PURGE_LOCK`]) if no other connection holds
    /// it: `false` when one does.
    pub(crate) fn lock_purge(&mut self) -> Result<bool, StoreError> {
        Ok(self.client.query_one(LOCK_PURGE, &[&PURGE_LOCK])?.get(0))
    }

    /// Releases the lock [`Postgres::lock_purge`] took.
    pub(crate) fn unlock_purge(&mut self) -> Result<(), StoreError> {
        self.client.query_one(UNLOCK_PURGE, &[&PURGE_LOCK])?;
        Ok(())
    }

    /// Deletes the raw events with ids in `ids` received before `cutoff`, in a
    /// transaction of their own.
    pub(crate) fn purge_events(&mut self, cutoff: i64, ids: RangeInclusive<i64>) -> Result<u64, StoreError> {
        let statement = self.statement(crate::store::PURGE_EVENTS)?;
        Ok(self
            .client
            .execute(&statement, &[ids.start(), ids.end(), &cutoff])?)
    }

    /// Deletes the conversions reported, and the batch ids of batches received,
    /// before `cutoff`.
    pub(crate) fn purge_conversions(&mut self, cutoff: i64) -> Result<u64, StoreError> {
        let mut tx = self.client.transaction()?;
        let conversions = tx.execute("DELETE FROM conversions WHERE converted_at < $1", &[&cutoff])?;
        tx.execute("DELETE FROM written_batches WHERE written_at < $1", &[&cutoff])?;
        tx.commit()?;
        Ok(conversions)
    }

    /// Accepted unsubscribes after row `since`, at most `limit`.
    pub(crate) fn unsubscribes(
        &mut self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<StoredUnsubscribe>, StoreError> {
        let sql = unsubscribes::QUERY
            .replace("{since}", "$1")
            .replace("{limit}", "$2");
        Ok((self.client.query(&sql, &[&since, &limit])?.iter())
            .map(|r| StoredUnsubscribe::from_columns(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect())
    }

    /// Every raw row, for folding.
    pub(crate) fn raw(&mut self) -> Result<(Vec<StoredEvent>, Vec<ConversionRow>), StoreError> {
        let events = (self.client.query(
            "SELECT kind, action, campaign, link, recipient, issued_at, rejected, received_at, reason, person
             FROM events ORDER BY id",
            &[],
        )?
        .iter())
        .map(|r| StoredEvent {
            kind: r.get(0),
            action: r.get(1),
            campaign: r.get(2),
            link: r.get(3),
            recipient: r.get(4),
            issued_at: r.get(5),
            rejected: r.get(6),
            received_at: r.get(7),
            reason: r.get(8),
            person: r.get(9),
        })
        .collect();
        let conversions = (self.client.query(
            "SELECT campaign, link, recipient, clicked_at, converted_at, key_id FROM conversions ORDER BY id",
            &[],
        )?
        .iter())
        .map(|r| ConversionRow {
            campaign: r.get(0),
            link: r.get(1),
            recipient: r.get(2),
            clicked_at: r.get(3),
            converted_at: r.get(4),
            key_id: r.get(5),
        })
        .collect();
        Ok((events, conversions))
    }

    /// Copies raw rows in, without rollups: the baseline benchmarks compare with.
    pub(crate) fn copy_raw(&mut self, rows: &[EventRow]) -> Result<(), StoreError> {
        let mut tx = self.client.transaction()?;
        copy_events(&mut tx, rows)?;
        tx.commit()?;
        Ok(())
    }
}

/// Whether the database rolled a transaction back that may well succeed if tried
/// again: a deadlock, a serialization failure, or a unique violation (only the
/// plain insert of new recipients can raise one: another writer stored one of them
/// first, and the next try finds it stored).
fn is_transient(error: &postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::UNIQUE_VIOLATION
    })
}

/// The `COPY` statement of raw events, in the order [`copy_events`] writes them.
const COPY_EVENTS: &str = "COPY events (kind, action, campaign, link, recipient, issued_at, expired,
    key_id, rejected, received_at, method, user_agent, client_ip, verdict, reason, person) FROM STDIN BINARY";

/// The columns of [`COPY_EVENTS`].
const EVENT_COLUMNS: i16 = 16;

/// Copies raw event rows in. The rows are encoded in `COPY`'s binary format into one
/// buffer and sent in one piece: the client's row writer took a round through its
/// runtime and a dynamic conversion per field, most of what copying cost this side.
fn copy_events(tx: &mut Transaction<'_>, rows: &[EventRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    // Sixteen fields, a user agent among them.
    let mut data = binary_copy::Rows::new(rows.len(), 256);
    for row in rows {
        data.row(EVENT_COLUMNS);
        data.text(Some(row.kind));
        data.text(row.action);
        data.text(row.campaign);
        data.text(row.link.as_ref().map(Text::as_str));
        data.text(row.recipient);
        data.int8(row.issued_at);
        data.bool(row.expired);
        data.text(row.key_id);
        data.text(row.rejected);
        data.int8(Some(row.received_at));
        data.text(Some(row.method));
        data.text(row.user_agent.as_ref().map(Text::as_str));
        data.text(row.client_ip.as_ref().map(Text::as_str));
        data.text(Some(row.verdict));
        data.text(Some(row.reason.as_str()));
        data.bool(row.person);
    }
    let mut writer = tx.copy_in(COPY_EVENTS)?;
    writer.write_all(&data.finish()?).map_err(binary_copy::error)?;
    writer.finish()?;
    Ok(())
}

/// The upsert of a batch's `rollup_days` rows, a column array per parameter.
static UPSERT_DAYS: LazyLock<String> = LazyLock::new(|| {
    let types = ["text", "text", "text", "int8", "bool"];
    let column = |n: usize| format!("${n}::{}[]", types.get(n - 1).unwrap_or(&"int8"));
    days::upsert(&format!(
        "SELECT * FROM unnest({})",
        days::placeholders(days::COLUMN_COUNT, column)
    ))
});

/// A campaign's `rollup_days` rows.
static SELECT_DAYS: LazyLock<String> = LazyLock::new(|| days::select("$1"));

/// Adds a batch to the rollups with one statement per table.
fn add_rollups(tx: &mut Tx<'_>, batch: &Batch, known: &KnownRecipients) -> Result<(), StoreError> {
    if !batch.counts.is_empty() {
        let (mut campaign, mut scope, mut action, mut reason, mut person, mut n) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for (key, count) in &batch.counts {
            campaign.push(&*key.campaign);
            scope.push(&*key.scope);
            action.push(key.action);
            reason.push(&*key.reason);
            person.push(key.person);
            n.push(*count);
        }
        tx.execute(
            "INSERT INTO rollup_counts (campaign, scope, action, reason, person, n)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::int8[])
             ON CONFLICT (campaign, scope, action, reason, person)
             DO UPDATE SET n = rollup_counts.n + EXCLUDED.n",
            &[&campaign, &scope, &action, &reason, &person, &n],
        )?;
    }
    if !batch.days.is_empty() {
        let (mut campaign, mut scope, mut action, mut day, mut person) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut hours: [Vec<i64>; days::HOURS] = Default::default();
        for (key, counts) in &batch.days {
            campaign.push(&*key.campaign);
            scope.push(&*key.scope);
            action.push(key.action);
            day.push(key.day);
            person.push(key.person);
            for (column, count) in hours.iter_mut().zip(counts) {
                column.push(*count);
            }
        }
        let key: [&(dyn ToSql + Sync); 5] = [&campaign, &scope, &action, &day, &person];
        let columns: Vec<&(dyn ToSql + Sync)> = (key.into_iter())
            .chain(hours.iter().map(|column| column as &(dyn ToSql + Sync)))
            .collect();
        tx.execute(&UPSERT_DAYS, &columns)?;
    }
    if !batch.rejected.is_empty() {
        let (mut kind, mut reason, mut n) = (vec![], vec![], vec![]);
        for (&(k, r), count) in &batch.rejected {
            kind.push(k);
            reason.push(r);
            n.push(*count);
        }
        tx.execute(
            "INSERT INTO rollup_rejected (kind, reason, n)
             SELECT * FROM unnest($1::text[], $2::text[], $3::int8[])
             ON CONFLICT (kind, reason) DO UPDATE SET n = rollup_rejected.n + EXCLUDED.n",
            &[&kind, &reason, &n],
        )?;
    }
    let deltas = add_recipients(tx, batch, known)?;
    if !deltas.uniques.is_empty() {
        let (mut campaign, mut scope, mut activity, mut n) = (vec![], vec![], vec![], vec![]);
        for (key, count) in &deltas.uniques {
            campaign.push(&*key.campaign);
            scope.push(&*key.scope);
            activity.push(key.activity);
            n.push(*count);
        }
        tx.execute(
            "INSERT INTO rollup_uniques (campaign, scope, activity, n)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[])
             ON CONFLICT (campaign, scope, activity) DO UPDATE SET n = rollup_uniques.n + EXCLUDED.n",
            &[&campaign, &scope, &activity, &n],
        )?;
    }
    if !deltas.firsts.is_empty() {
        let (mut campaign, mut scope, mut activity, mut bucket, mut n) =
            (vec![], vec![], vec![], vec![], vec![]);
        for ((key, b), count) in &deltas.firsts {
            campaign.push(&*key.campaign);
            scope.push(&*key.scope);
            activity.push(key.activity);
            bucket.push(*b);
            n.push(*count);
        }
        tx.execute(
            "INSERT INTO rollup_firsts (campaign, scope, activity, bucket, n)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[])
             ON CONFLICT (campaign, scope, activity, bucket) DO UPDATE SET n = rollup_firsts.n + EXCLUDED.n",
            &[&campaign, &scope, &activity, &bucket, &n],
        )?;
    }
    Ok(())
}

/// Stores the batch's recipients and returns what changes in the unique and
/// time-to-first counters.
///
/// A row this connection committed is stored: at most its first action moves
/// earlier ([`move_firsts`]). The others are most likely new, and are copied in
/// ([`copy_new`]) when there are enough of them and copies have been going through
/// ([`CopyBackoff`]); when one was stored after all (by another writer, or one this
/// connection no longer remembers), the copy is undone and one statement instead
/// inserts the new ones with a plain insert (an upsert costs several times as much
/// per row) and returns the stored ones with their first action, of which those the
/// batch moves earlier are upserted too. A recipient that another writer stores
/// meanwhile makes the insert fail with a unique violation, and the whole batch is
/// tried again ([`is_transient`]), seeing it stored.
fn add_recipients(
    tx: &mut Tx<'_>,
    batch: &Batch,
    known: &KnownRecipients,
) -> Result<RecipientDeltas, StoreError> {
    let mut deltas = RecipientDeltas::default();
    let (mut stored, unknown): (Vec<(&RecipientKey, &First)>, Vec<_>) = (batch.recipients.iter())
        .partition(|(key, _)| known.committed_first(&RecipientRow::from(*key)).is_some());
    if unknown.len() >= MIN_COPY_ROWS && tx.copies.try_now() && copy_new(tx, &unknown)? {
        for &(key, first) in &unknown {
            deltas.add(key, None, *first);
        }
    } else if !unknown.is_empty() {
        stored.extend(insert_new(tx, &unknown, &mut deltas)?);
        // In key order, as every writer locks rows.
        stored.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    move_firsts(tx, &stored, &mut deltas)?;
    Ok(deltas)
}

/// The `COPY` statement of first-seen rows, in the order [`copy_new`] writes them.
const COPY_RECIPIENTS: &str =
    "COPY rollup_recipients (campaign, scope, activity, recipient, first_at, first_since) FROM STDIN BINARY";

/// Copies first-seen rows in, in a savepoint: `false`, with nothing written, when one
/// of them is stored already. PostgreSQL spends a third to a half less on a copy than
/// on looking each key up and inserting it.
fn copy_new(tx: &mut Tx<'_>, keys: &[(&RecipientKey, &First)]) -> Result<bool, StoreError> {
    // Six fields: four short texts, two numbers.
    let mut data = binary_copy::Rows::new(keys.len(), 128);
    for (key, first) in keys {
        data.row(6);
        data.text(Some(&*key.campaign));
        data.text(Some(&*key.scope));
        data.text(Some(key.activity));
        data.text(Some(&*key.recipient));
        data.int8(first.map(|f| seconds(f.0)));
        data.int8(first.map(|f| seconds(f.1)));
    }
    let data = data.finish()?;
    let mut savepoint = tx.inner.savepoint("first_seen")?;
    let mut writer = savepoint.copy_in(COPY_RECIPIENTS)?;
    writer.write_all(&data).map_err(binary_copy::error)?;
    match writer.finish() {
        Ok(_) => {
            savepoint.commit()?;
            tx.copies.went_through();
            Ok(true)
        }
        Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            savepoint.rollback()?;
            tx.copies.failed();
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// The fewest first-seen rows worth a copy: it takes three statements (a savepoint,
/// the copy and its release) where the lookup and insert take one.
const MIN_COPY_ROWS: usize = 8;

/// The most batches that wait to try [`copy_new`] again after it failed.
const MAX_COPY_WAIT: u32 = 64;

/// When to try copying a batch's first-seen rows in ([`copy_new`]).
///
/// A copy that fails (a row was stored already) is undone, and its batch costs more
/// than if it had not tried. With several writers on one database, or more
/// recipients than a connection remembers, most batches hold such a row: after each
/// failure, the batches wait twice as long as after the one before (up to
/// [`MAX_COPY_WAIT`]) before trying again, and a copy that goes through ends the wait.
#[derive(Debug, Default)]
struct CopyBackoff {
    /// Batches left before the next try.
    waiting: u32,
    /// How many waited after the last failure.
    last_wait: u32,
}

impl CopyBackoff {
    /// Whether this batch tries the copy.
    fn try_now(&mut self) -> bool {
        let now = self.waiting == 0;
        self.waiting = self.waiting.saturating_sub(1);
        now
    }

    fn failed(&mut self) {
        self.last_wait = (self.last_wait * 2).clamp(1, MAX_COPY_WAIT);
        self.waiting = self.last_wait;
    }

    fn went_through(&mut self) {
        self.last_wait = 0;
    }
}

/// Inserts the keys not stored yet, counting them as new, and returns those stored
/// already that the batch moves to an earlier first action.
fn insert_new<'a>(
    tx: &mut Tx<'_>,
    keys: &[(&'a RecipientKey, &'a First)],
    deltas: &mut RecipientDeltas,
) -> Result<Vec<(&'a RecipientKey, &'a First)>, StoreError> {
    let columns = KeyColumns::new(keys);
    let found = tx.query(
        "WITH k AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[])
                  WITH ORDINALITY AS k(c, s, a, p, fa, fs, ord)
         ), stored AS (
             -- One index lookup per key (OFFSET 0 keeps the planner from hashing
             -- the whole table instead).
             SELECT k.ord, r.first_at, r.first_since
             FROM k CROSS JOIN LATERAL (
                 SELECT first_at, first_since FROM rollup_recipients r
                 WHERE (r.recipient, r.campaign, r.scope, r.activity) = (k.p, k.c, k.s, k.a)
                 OFFSET 0
             ) r
         ), inserted AS (
             INSERT INTO rollup_recipients (campaign, scope, activity, recipient, first_at, first_since)
             SELECT c, s, a, p, fa, fs FROM k
             WHERE NOT EXISTS (SELECT 1 FROM stored WHERE stored.ord = k.ord)
             ORDER BY ord
         )
         SELECT ord, first_at, first_since FROM stored",
        &columns.params(),
    )?;
    let mut stored: Vec<Option<First>> = vec![None; keys.len()];
    for row in &found {
        let ord: i64 = row.get(0);
        let (at, since): (Option<i64>, Option<i64>) = (row.get(1), row.get(2));
        let slot = (usize::try_from(ord - 1).ok()).and_then(|i| stored.get_mut(i));
        let Some(slot) = slot else {
            return Err(StoreError::Vanished);
        };
        *slot = Some(at.zip(since).map(|(at, since)| (unix(at), unix(since))));
    }
    let mut earlier = Vec::new();
    for (&(key, first), stored) in keys.iter().zip(stored) {
        match stored {
            None => deltas.add(key, None, *first),
            Some(stored) if earliest(stored, *first) != stored => earlier.push((key, first)),
            Some(_) => {}
        }
    }
    Ok(earlier)
}

/// Recipient keys as the columns of `unnest` arrays.
struct KeyColumns<'a> {
    campaign: Vec<&'a str>,
    scope: Vec<&'a str>,
    activity: Vec<&'a str>,
    recipient: Vec<&'a str>,
    at: Vec<Option<i64>>,
    since: Vec<Option<i64>>,
}

impl<'a> KeyColumns<'a> {
    fn new(keys: &[(&'a RecipientKey, &'a First)]) -> Self {
        let mut columns = Self {
            campaign: Vec::with_capacity(keys.len()),
            scope: Vec::with_capacity(keys.len()),
            activity: Vec::with_capacity(keys.len()),
            recipient: Vec::with_capacity(keys.len()),
            at: Vec::with_capacity(keys.len()),
            since: Vec::with_capacity(keys.len()),
        };
        for (key, first) in keys {
            columns.campaign.push(&*key.campaign);
            columns.scope.push(&*key.scope);
            columns.activity.push(key.activity);
            columns.recipient.push(&*key.recipient);
            columns.at.push(first.map(|f| seconds(f.0)));
            columns.since.push(first.map(|f| seconds(f.1)));
        }
        columns
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 6] {
        [
            &self.campaign,
            &self.scope,
            &self.activity,
            &self.recipient,
            &self.at,
            &self.since,
        ]
    }
}

/// Moves stored recipients to the earlier first action the batch has for them.
///
/// One upsert, in the batch's (sorted) order: each row is locked and, when the
/// batch's first human action is still earlier than the stored one (another writer
/// may have moved it meanwhile), updated, with the values it replaces copied to
/// `prev_at`/`prev_since` (a `SET` reads the row as it was). Rows left as they were
/// are not returned: they change nothing. A row that is missing after all is
/// inserted and counted as new.
fn move_firsts(
    tx: &mut Tx<'_>,
    keys: &[(&RecipientKey, &First)],
    deltas: &mut RecipientDeltas,
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let columns = KeyColumns::new(keys);
    let changed = tx.query(
        "INSERT INTO rollup_recipients AS r (campaign, scope, activity, recipient, first_at, first_since)
         SELECT c, s, a, p, fa, fs
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[])
              WITH ORDINALITY AS k(c, s, a, p, fa, fs, ord)
         ORDER BY ord
         ON CONFLICT (recipient, campaign, scope, activity) DO UPDATE
         SET prev_at = r.first_at, prev_since = r.first_since,
             first_at = EXCLUDED.first_at, first_since = EXCLUDED.first_since
         WHERE EXCLUDED.first_at IS NOT NULL
           AND (r.first_at IS NULL
                OR (EXCLUDED.first_at, EXCLUDED.first_since) < (r.first_at, r.first_since))
         RETURNING r.xmax = 0, r.campaign, r.scope, r.activity, r.recipient, r.prev_at, r.prev_since",
        &columns.params(),
    )?;
    let index: HashMap<(&str, &str, &str, &str), usize> = (keys.iter().enumerate())
        .map(|(i, (key, _))| {
            let key = (&*key.campaign, &*key.scope, key.activity, &*key.recipient);
            (key, i)
        })
        .collect();
    for row in &changed {
        let inserted: bool = row.get(0);
        let returned: (&str, &str, &str, &str) = (row.get(1), row.get(2), row.get(3), row.get(4));
        let Some(&(key, first)) = index.get(&returned).and_then(|&i| keys.get(i)) else {
            return Err(StoreError::Vanished);
        };
        let stored = if inserted {
            None
        } else {
            let (at, since): (Option<i64>, Option<i64>) = (row.get(5), row.get(6));
            Some(at.zip(since).map(|(at, since)| (unix(at), unix(since))))
        };
        deltas.add(key, stored, *first);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{CopyBackoff, LOCK_PURGE, MAX_COPY_WAIT, PURGE_LOCK, UNLOCK_PURGE};
    use crate::load::{ISSUED_AT, template};
    use crate::store::Store;
    use hashbeacon::Kind;

    /// A store of two old events in a schema of its own.
    fn old_events(url: &str) -> (String, Store) {
        let db = hashbeacon_test_postgres::fresh_schema(url);
        let mut store = Store::open(&db).unwrap();
        store
            .write(&[template(Kind::Click, false), template(Kind::Open, false)])
            .unwrap();
        (db, store)
    }

    /// Which of `batches` try the copy, failing as `fails` says.
    fn tries(batches: usize, fails: impl Fn(usize) -> bool) -> Vec<usize> {
        let mut copies = CopyBackoff::default();
        (0..batches)
            .filter(|&batch| {
                let tried = copies.try_now();
                if tried && fails(batch) {
                    copies.failed();
                } else if tried {
                    copies.went_through();
                }
                tried
            })
            .collect()
    }

    #[test]
    fn failed_copies_wait_longer_each_time_and_one_that_goes_through_ends_the_wait() {
        // Every copy goes through: every batch tries.
        assert_eq!(tries(5, |_| false), [0, 1, 2, 3, 4]);
        // Every copy fails: 1, 2, 4, … batches wait between tries, at most 64.
        let always = tries(400, |_| true);
        assert_eq!(always[..6], [0, 2, 5, 10, 19, 36]);
        let gaps: Vec<usize> = always.windows(2).map(|w| w[1] - w[0] - 1).collect();
        assert!(gaps.iter().all(|&gap| gap <= MAX_COPY_WAIT as usize));
        assert_eq!(gaps.last(), Some(&(MAX_COPY_WAIT as usize)));
        // A copy that goes through after failures: the next batch tries again.
        assert_eq!(tries(8, |batch| batch < 3), [0, 2, 5, 6, 7]);
    }

    #[test]
    fn one_connection_at_a_time_purges_a_schema() {
        let Some(url) = hashbeacon_test_postgres::postgres_url() else {
            return;
        };
        let cutoff = ISSUED_AT + 86_400;
        let (db, mut store) = old_events(&url);
        let (_, mut neighbour) = old_events(&url);
        let mut node = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        let locked: bool = node.query_one(LOCK_PURGE, &[&PURGE_LOCK]).unwrap().get(0);
        assert!(locked);

        let skipped = store.purge_before(cutoff).unwrap();
        assert!(skipped.elsewhere);
        assert_eq!(skipped.events, 0);
        // Another schema of the same database is another lock.
        let beside = neighbour.purge_before(cutoff).unwrap();
        assert_eq!((beside.events, beside.elsewhere), (2, false));

        let unlocked: bool = node.query_one(UNLOCK_PURGE, &[&PURGE_LOCK]).unwrap().get(0);
        assert!(unlocked);
        let purged = store.purge_before(cutoff).unwrap();
        assert_eq!((purged.events, purged.elsewhere), (2, false));
        // The purge let go of the lock.
        let locked: bool = node.query_one(LOCK_PURGE, &[&PURGE_LOCK]).unwrap().get(0);
        assert!(locked);
    }
}
