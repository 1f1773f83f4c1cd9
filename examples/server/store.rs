//! SQLite storage for tracking events: one `events` table, written in batches by the
//! server's writer thread and read by `/stats`.
//!
//! WAL mode lets `/stats` read while the writer writes; `synchronous = NORMAL` is WAL's
//! durable-on-checkpoint setting, plenty for analytics.

use std::path::Path;
use std::time::Duration;

use hashbeacon::report::{Action, Record, Report};
use hashbeacon::{Conversion, Event, Kind, LinkId};
use rusqlite::{Connection, TransactionBehavior, params};
use serde::Serialize;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,           -- 'click', 'open' or 'unsubscribe'
    implied     INTEGER NOT NULL,           -- an open implied by a click
    campaign    TEXT,                       -- NULL when the token was rejected
    link        TEXT,
    recipient   TEXT,                       -- the pseudonym, never an address
    issued_at   INTEGER,
    expired     INTEGER NOT NULL,
    key_id      TEXT,
    rejected    TEXT,                       -- why the token was rejected, else NULL
    received_at INTEGER NOT NULL,
    method      TEXT    NOT NULL,
    user_agent  TEXT,
    client_ip   TEXT,                       -- already truncated by the endpoint
    verdict     TEXT    NOT NULL,           -- human, proxied, prefetch, scanner or rejected
    signal      TEXT,                       -- what decided the verdict
    person      INTEGER NOT NULL            -- human or proxied: a person's action
);
CREATE INDEX IF NOT EXISTS events_by_campaign ON events (campaign, kind, link);
CREATE TABLE IF NOT EXISTS conversions (
    id           INTEGER PRIMARY KEY,
    campaign     TEXT    NOT NULL,
    link         TEXT,
    recipient    TEXT,                      -- the pseudonym, never an address
    clicked_at   INTEGER NOT NULL,
    converted_at INTEGER NOT NULL,
    key_id       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS conversions_by_campaign ON conversions (campaign);
";

const INSERT: &str = "
INSERT INTO events (kind, implied, campaign, link, recipient, issued_at, expired, key_id,
                    rejected, received_at, method, user_agent, client_ip, verdict, signal, person)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

/// An open SQLite database of events.
pub(crate) struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if missing) the database at `path` in WAL mode, with the schema.
    pub(crate) fn open(path: &Path) -> Result<Self, OpenError> {
        let conn = Connection::open(path)?;
        // The writer and `/stats` readers share the file: wait for a lock, don't fail.
        conn.busy_timeout(Duration::from_secs(5))?;
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenError::NotWal(mode));
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Writes events in one transaction: all of them, or none.
    pub(crate) fn insert(&mut self, events: &[Event]) -> rusqlite::Result<()> {
        // IMMEDIATE takes the write lock up front, waiting for it under the busy
        // timeout, instead of failing later when a read would turn into a write.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(INSERT)?;
            for event in events {
                let token = event.token.as_ref().ok();
                insert.execute(params![
                    event.kind.as_str(),
                    event.implied,
                    token.map(|t| t.campaign.as_str()),
                    token.and_then(|t| t.link.as_ref()).map(ToString::to_string),
                    token.and_then(|t| t.recipient.as_deref()),
                    token.map(|t| seconds(t.issued_at)),
                    event.is_expired(),
                    token.map(|t| t.key_id.to_string()),
                    event.token.as_ref().err().map(ToString::to_string),
                    seconds(event.received_at),
                    event.method.as_str(),
                    event.user_agent,
                    event.client_ip.map(|ip| ip.to_string()),
                    event.verdict.as_str(),
                    event.verdict.signal().map(|signal| signal.to_string()),
                    event.verdict.is_person(),
                ])?;
            }
        }
        tx.commit()
    }

    /// Per-link click counts and the opens of one campaign. Rejected tokens never count.
    pub(crate) fn stats(&self, campaign: &str) -> rusqlite::Result<CampaignStats> {
        let mut links = self.conn.prepare_cached(
            "SELECT link, COUNT(*), COUNT(DISTINCT recipient), SUM(person), SUM(NOT person)
             FROM events WHERE campaign = ?1 AND kind = 'click' AND rejected IS NULL
             GROUP BY link ORDER BY link",
        )?;
        let links = links
            .query_map([campaign], |row| {
                Ok(LinkStats {
                    link: row.get(0)?,
                    clicks: row.get(1)?,
                    unique_recipients: row.get(2)?,
                    human: row.get(3)?,
                    machine: row.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let opens = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*), COUNT(DISTINCT recipient), COALESCE(SUM(person), 0),
                        COALESCE(SUM(NOT person), 0)
                 FROM events WHERE campaign = ?1 AND kind = 'open' AND rejected IS NULL",
            )?
            .query_row([campaign], |row| {
                Ok(OpenStats {
                    opens: row.get(0)?,
                    unique_opens: row.get(1)?,
                    human: row.get(2)?,
                    machine: row.get(3)?,
                })
            })?;
        Ok(CampaignStats {
            campaign: campaign.to_owned(),
            links,
            opens,
        })
    }

    /// Stores a verified conversion.
    pub(crate) fn insert_conversion(&self, conversion: &Conversion) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO conversions (campaign, link, recipient, clicked_at, converted_at, key_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                conversion.campaign,
                conversion.link.as_ref().map(ToString::to_string),
                conversion.recipient,
                seconds(conversion.clicked_at),
                seconds(conversion.converted_at),
                conversion.key_id.to_string(),
            ])?;
        Ok(())
    }

    /// A campaign's report, folded from its stored events and conversions, with the
    /// rejected requests of all campaigns (a rejected token names no trusted campaign).
    pub(crate) fn report(&self, campaign: &str) -> rusqlite::Result<Report> {
        let mut report = Report::new();
        let mut events = self.conn.prepare_cached(
            "SELECT kind, implied, link, recipient, issued_at, received_at, person, verdict, signal
             FROM events WHERE campaign = ?1 AND rejected IS NULL",
        )?;
        let mut rows = events.query([campaign])?;
        while let Some(row) = rows.next()? {
            let (kind, implied): (String, bool) = (row.get(0)?, row.get(1)?);
            let (link, recipient): (Option<String>, Option<String>) = (row.get(2)?, row.get(3)?);
            let (verdict, signal): (String, Option<String>) = (row.get(7)?, row.get(8)?);
            // The verdict's `Display` form, as `Report::add` counts reasons.
            let reason = match signal {
                Some(signal) => format!("{verdict}: {signal}"),
                None => verdict,
            };
            report.add_record(&Record {
                action: match (Kind::from_name(&kind), implied) {
                    (Some(Kind::Click), _) => Action::Click,
                    (Some(Kind::Unsubscribe), _) => Action::Unsubscribe,
                    (_, false) => Action::Open,
                    (_, true) => Action::ImpliedOpen,
                },
                campaign,
                link: link.as_deref().map(link_id),
                recipient: recipient.as_deref(),
                at: unix(row.get(5)?),
                since: unix(row.get::<_, Option<i64>>(4)?.unwrap_or_default()),
                person: row.get(6)?,
                reason: &reason,
            });
        }
        let mut conversions = self.conn.prepare_cached(
            "SELECT link, recipient, clicked_at, converted_at FROM conversions WHERE campaign = ?1",
        )?;
        let mut rows = conversions.query([campaign])?;
        while let Some(row) = rows.next()? {
            let (link, recipient): (Option<String>, Option<String>) = (row.get(0)?, row.get(1)?);
            report.add_record(&Record {
                action: Action::Conversion,
                campaign,
                link: link.as_deref().map(link_id),
                recipient: recipient.as_deref(),
                at: unix(row.get(3)?),
                since: unix(row.get(2)?),
                person: true,
                reason: "conversion",
            });
        }
        let mut rejected = self.conn.prepare_cached(
            "SELECT kind, rejected, COUNT(*) FROM events WHERE rejected IS NOT NULL GROUP BY kind, rejected",
        )?;
        let mut rows = rejected.query([])?;
        while let Some(row) = rows.next()? {
            let (kind, reason, count): (String, String, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
            // This server writes no other kind.
            let Some(kind) = Kind::from_name(&kind) else {
                continue;
            };
            for _ in 0..count {
                report.add_rejected(kind, &reason);
            }
        }
        Ok(report)
    }

    /// The accepted unsubscribes stored after the one with id `since`, oldest first, at
    /// most `limit`: what a list manager polls to act on them. Its cursor is the last
    /// id it saw; the same recipient may appear twice (two POSTs), and removing them
    /// from a list twice is harmless.
    pub(crate) fn unsubscribes(&self, since: i64, limit: i64) -> rusqlite::Result<Vec<Unsubscribe>> {
        self.conn
            .prepare_cached(
                "SELECT id, campaign, recipient, received_at, expired FROM events
                 WHERE kind = 'unsubscribe' AND rejected IS NULL AND id > ?1 ORDER BY id LIMIT ?2",
            )?
            .query_map([since, limit], |row| {
                Ok(Unsubscribe {
                    id: row.get(0)?,
                    campaign: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    recipient: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    received_at: unix(row.get(3)?),
                    expired: row.get(4)?,
                })
            })?
            .collect()
    }

    /// Every stored event, oldest first, in a few columns for display.
    #[allow(
        dead_code,
        reason = "the quickstart prints the events; the server binary does not"
    )]
    pub(crate) fn events(&self) -> rusqlite::Result<Vec<StoredEvent>> {
        self.conn
            .prepare_cached(
                "SELECT kind, campaign, link, recipient, method, verdict, signal, client_ip, rejected
                 FROM events ORDER BY id",
            )?
            .query_map([], |row| {
                Ok(StoredEvent {
                    kind: row.get(0)?,
                    campaign: row.get(1)?,
                    link: row.get(2)?,
                    recipient: row.get(3)?,
                    method: row.get(4)?,
                    verdict: row.get(5)?,
                    signal: row.get(6)?,
                    client_ip: row.get(7)?,
                    rejected: row.get(8)?,
                })
            })?
            .collect()
    }
}

/// One stored one-click unsubscribe, for the host's list manager.
#[derive(Debug, Serialize)]
pub(crate) struct Unsubscribe {
    /// The row id: the cursor to ask for the ones after it.
    pub(crate) id: i64,
    /// The list or campaign left.
    pub(crate) campaign: String,
    /// Who left: the pseudonym (the host maps it back to its subscriber).
    pub(crate) recipient: String,
    /// When the POST arrived, unix seconds.
    pub(crate) received_at: u64,
    /// The token had passed its (optional) expiry; the wish is authentic either way.
    pub(crate) expired: bool,
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    /// SQLite refused: not a database, no such directory, no permission, …
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// The file system or database would not switch to WAL, which `/stats` needs to
    /// read while the writer writes.
    #[error("the database would not switch to WAL mode (it stays in {0} mode)")]
    NotWal(String),
}

/// Unix seconds as SQLite's signed integer; no real clock reaches the cut-off.
fn seconds(unix: u64) -> i64 {
    i64::try_from(unix).unwrap_or(i64::MAX)
}

/// The inverse of [`seconds`].
fn unix(seconds: i64) -> u64 {
    u64::try_from(seconds).unwrap_or_default()
}

/// A stored link id: digits are a position, anything else a label.
fn link_id(text: &str) -> LinkId<'_> {
    text.parse().map_or(LinkId::Label(text), LinkId::Index)
}

/// What `GET /stats?campaign=ID` returns.
#[derive(Debug, Serialize)]
pub(crate) struct CampaignStats {
    /// The campaign id.
    pub(crate) campaign: String,
    /// Clicks per link, by link id.
    pub(crate) links: Vec<LinkStats>,
    /// The campaign's opens.
    pub(crate) opens: OpenStats,
}

/// Clicks on one link. Counts are SQLite's integers.
#[derive(Debug, Serialize)]
pub(crate) struct LinkStats {
    /// The link id: its position or the author's label.
    pub(crate) link: Option<String>,
    /// All clicks.
    pub(crate) clicks: i64,
    /// Distinct recipient pseudonyms that clicked.
    pub(crate) unique_recipients: i64,
    /// Clicks with no machine signal.
    pub(crate) human: i64,
    /// Clicks by scanners, gateways and scripts.
    pub(crate) machine: i64,
}

/// Opens of one campaign.
#[derive(Debug, Serialize)]
pub(crate) struct OpenStats {
    /// All pixel loads (and implied opens).
    pub(crate) opens: i64,
    /// Distinct recipient pseudonyms that opened.
    pub(crate) unique_opens: i64,
    /// Opens by people, directly or through a mail provider's image proxy.
    pub(crate) human: i64,
    /// Machine opens: prefetching, scanners.
    pub(crate) machine: i64,
}

/// One stored event, as the quickstart prints it.
#[allow(
    dead_code,
    reason = "the quickstart prints the events; the server binary does not"
)]
#[derive(Debug)]
pub(crate) struct StoredEvent {
    /// `click`, `open` or `unsubscribe`.
    pub(crate) kind: String,
    /// The campaign, unless the token was rejected.
    pub(crate) campaign: Option<String>,
    /// The link id of a click.
    pub(crate) link: Option<String>,
    /// The recipient pseudonym.
    pub(crate) recipient: Option<String>,
    /// `GET`, `HEAD` or (an unsubscribe) `POST`.
    pub(crate) method: String,
    /// human, proxied, prefetch or scanner.
    pub(crate) verdict: String,
    /// What decided the verdict.
    pub(crate) signal: Option<String>,
    /// The truncated client address.
    pub(crate) client_ip: Option<String>,
    /// Why the token was rejected.
    pub(crate) rejected: Option<String>,
}
