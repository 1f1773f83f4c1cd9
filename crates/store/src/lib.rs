//! Event storage for [`hashbeacon`]: raw events in SQLite or PostgreSQL, a
//! batching writer, and campaign figures read from live rollups.
//!
//! The API in brief:
//!
//! - [`Store::open`]`(db)` opens a database from one string: a file path is SQLite
//!   (the embedded default, created if missing), a `postgres://` or `postgresql://`
//!   URL is PostgreSQL. The schema is versioned: migrations run at open, and a
//!   database written by a newer version of this crate is refused
//!   ([`OpenError::is_newer_schema`]).
//! - [`Writer::spawn`] starts a thread that drains the receiver of a
//!   [`ChannelSink`](hashbeacon::sink::ChannelSink) and stores events in batches,
//!   one transaction each. While the database is unreachable it keeps the events
//!   and tries again with backoff. Its [`Health`] counts what was stored, not
//!   stored and not queued. Any number of writers, in any number of processes, may
//!   write to one PostgreSQL database at once, and one writer may store on several
//!   connections ([`WriterOptions::with_connections`]).
//! - [`Store::write`] is what the writer calls: raw rows plus **rollups**, in the
//!   same transaction. Rollups are counters keyed by campaign, link, action (by
//!   name: a new kind of action needs no new schema), reason and hour, with a
//!   first-seen row per recipient for exact uniques and the time to first action.
//! - [`Store::figures`] reads a campaign's [`CampaignFigures`] from the rollups only,
//!   in time that does not grow with the number of events; they equal what
//!   [`Report`](hashbeacon::Report) folds from the raw rows
//!   ([`CampaignFigures::from_report`], [`Store::raw_report`]). [`Store::rejected`]
//!   reads the rejected requests.
//! - [`Store::record_conversion`] stores a verified conversion once per click
//!   reference.
//! - [`Store::purge_before`] deletes raw rows older than a cutoff (retention); the
//!   rollups, and so the figures, stay.
//! - [`load`] fills a database with synthetic events fast, for benchmarks.
//!
//! Every call blocks: a [`Store`] is synchronous (SQLite through `rusqlite`,
//! PostgreSQL through the blocking `postgres` client). From async code, call it on a
//! blocking thread (`tokio::task::spawn_blocking`) or keep it on its own thread as the
//! [`Writer`] does. The blocking `postgres` client drives a runtime of its own, so a
//! PostgreSQL `Store` panics if it is opened, queried or dropped on a tokio worker
//! thread.
//!
//! ```
//! use hashbeacon::sink::ChannelSink;
//! use hashbeacon_store::{Database, Store, Writer, WriterOptions};
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("events.db");
//! # let db = path.to_str().unwrap();
//!
//! let (sink, events) = ChannelSink::new(10_000);
//! let writer = Writer::spawn(Database::parse(db), events, WriterOptions::default());
//! // … an `Endpoint` records events into `sink` …
//! drop(sink);
//! let health = writer.finish(std::time::Duration::from_secs(10));
//! assert_eq!(health.events_not_stored, 0);
//!
//! let figures = Store::open(db)?.figures("launch")?;
//! assert_eq!(figures.clicks.unique_human, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod binary_copy;
mod days;
mod figures;
mod fold;
mod known;
pub mod load;
mod postgres;
mod raw;
mod rollup;
mod schema;
mod sqlite;
mod store;
mod text;
mod unsubscribes;
mod writer;

/// A hash map with a fast hasher: the writer looks up a few short strings per event
/// (campaign, link, recipient), and SipHash was a fair part of what folding cost.
/// The keys come from tokens the sender signed, not from whoever sends a request.
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub use figures::{ActivityFigures, CampaignFigures, LinkFigures, RejectedFigures, TrendBucket};
pub use postgres::PostgresOpenError;
pub use raw::UnknownName;
pub use schema::{NewerSchema, SCHEMA_VERSION};
pub use sqlite::SqliteOpenError;
pub use store::{Database, OpenError, PURGE_WINDOW, Purged, Store, StoreError};
pub use unsubscribes::StoredUnsubscribe;
pub use writer::{Health, HealthReport, Writer, WriterOptions};
