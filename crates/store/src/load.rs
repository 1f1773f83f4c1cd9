//! Synthetic events, and a fast way to load millions of them ([`load`]): for
//! benchmarks that measure figures at a given number of stored events.
//!
//! ```
//! use hashbeacon_store::{Store, load};
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("events.db");
//! # let db = path.to_str().unwrap();
//! let mut store = Store::open(db)?;
//! let stored = load::load(&mut store, load::Synthetic::new(load::Shape::default()).take(5_000))?;
//! assert_eq!(stored, 5_000);
//! let figures = store.figures(load::CAMPAIGN)?;
//! assert!(figures.clicks.total() > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! To load 10 million events into a database from the command line, run the
//! `load` example of this crate:
//!
//! ```text
//! cargo run --release -p hashbeacon-store --example load -- --db events.db --events 10000000
//! cargo run --release -p hashbeacon-store --example load -- --db postgres://… --events 10000000
//! ```

use std::net::{IpAddr, Ipv4Addr};

use hashbeacon::endpoint::Request;
use hashbeacon::event::Link;
use hashbeacon::sink::MemorySink;
use hashbeacon::{Claims, Endpoint, Event, Key, KeyId, Kind, LinkId, Signal, Tracker, Verdict};

use crate::fold::Fold;
use crate::raw::EventRow;
use crate::rollup::Batch;
use crate::{Store, StoreError};

/// The campaign synthetic events belong to.
pub const CAMPAIGN: &str = "bench";

/// When synthetic tokens were issued: 2026-01-01T00:00:00Z.
pub const ISSUED_AT: u64 = 1_767_225_600;

/// Events per transaction when loading: large, as a bulk load wants.
pub const LOAD_BATCH: usize = 20_000;

/// A real event, as an [`Endpoint`] records it, to copy and change: an accepted one
/// of `kind` for campaign [`CAMPAIGN`], link 0, recipient `AAAAAAAAAAAAAAAA`,
/// issued at [`ISSUED_AT`] and received a minute later by a person, or with
/// `rejected`, one whose token failed its MAC.
pub fn template(kind: Kind, rejected: bool) -> Event {
    // A forged token: signed under the same key id with another secret.
    let signer = tracker(if rejected { 8 } else { 7 });
    let endpoint = Endpoint::new(tracker(7), MemorySink::new()).with_rejected_events(true);
    let claims = Claims {
        kind,
        campaign: CAMPAIGN,
        link: (kind == Kind::Click).then_some(LinkId::Index(0)),
        recipient: Some("AAAAAAAAAAAAAAAA"),
        issued_at: ISSUED_AT,
        expires_at: None,
    };
    let url = match kind {
        Kind::Click => signer.click_url(&claims, "https://shop.example/"),
        Kind::Open => signer.open_url(&claims),
        Kind::Unsubscribe => signer.unsubscribe_url(&claims),
    };
    let url = url.unwrap_or_default();
    let target = url.strip_prefix(BASE_URL).unwrap_or_default();
    // An unsubscribe is recorded only from the one-click POST (RFC 8058).
    let (method, body) = match kind {
        Kind::Unsubscribe => ("POST", hashbeacon::unsubscribe::ONE_CLICK.as_bytes()),
        _ => ("GET", &b""[..]),
    };
    let request = Request::new(method, target, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .with_user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
        .with_body(Some("application/x-www-form-urlencoded"), body);
    endpoint.handle(&request, ISSUED_AT + 60);
    match endpoint.sink().take().pop() {
        Some(event) => event,
        None => unreachable!("the endpoint records every request to a tracking path"),
    }
}

/// Where the synthetic tracking URLs point.
const BASE_URL: &str = "https://t.example";

/// A tracker whose key `k1` has a secret of 32 `secret` bytes.
fn tracker(secret: u8) -> Tracker {
    let tracker = KeyId::new("k1")
        .and_then(|id| Key::new(id, &[secret; 32]))
        .ok()
        .and_then(|key| Tracker::new(key.into(), BASE_URL).ok());
    match tracker {
        Some(tracker) => tracker,
        None => unreachable!("the fixed key and base URL are valid"),
    }
}

/// The mix of synthetic events.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shape {
    /// Distinct recipients.
    pub recipients: u32,
    /// Distinct links clicked.
    pub links: u32,
    /// Events arrive at random times over this many seconds after [`ISSUED_AT`]…
    pub spread: u64,
    /// … or, when set, in order at this many events a second, as live traffic does.
    pub per_second: Option<u64>,
    /// A seed: the same seed gives the same events.
    pub seed: u64,
}

impl Default for Shape {
    /// A million recipients, 10 links, events at random times over 30 days.
    fn default() -> Self {
        Self {
            recipients: 1_000_000,
            links: 10,
            spread: 30 * 86_400,
            per_second: None,
            seed: 1,
        }
    }
}

/// An endless, deterministic stream of plausible events: about 55% opens, 30%
/// clicks, 10% implied opens, 5% rejected; one in five by a machine.
#[derive(Debug)]
pub struct Synthetic {
    shape: Shape,
    state: u64,
    /// Events made so far.
    made: u64,
    click: Event,
    open: Event,
    rejected: Event,
}

impl Synthetic {
    /// A stream of the given shape.
    pub fn new(shape: Shape) -> Self {
        Self {
            state: shape.seed,
            made: 0,
            shape,
            click: template(Kind::Click, false),
            open: template(Kind::Open, false),
            rejected: template(Kind::Click, true),
        }
    }

    /// splitmix64: fast, and good enough to spread events.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

impl Iterator for Synthetic {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        let roll = self.below(100);
        let mut event = match roll {
            0..55 => self.open.clone(),
            55..95 => self.click.clone(),
            _ => self.rejected.clone(),
        };
        if (85..95).contains(&roll) {
            event.kind = Kind::Open;
            event.implied = true;
        }
        event.received_at = match self.shape.per_second {
            Some(rate) => ISSUED_AT + self.made / rate.max(1),
            None => ISSUED_AT + self.below(self.shape.spread),
        };
        self.made += 1;
        event.verdict = match self.below(5) {
            0 => Verdict::Scanner(Signal::HeadRequest),
            _ => Verdict::Human,
        };
        let recipient = pseudonym(self.below(u64::from(self.shape.recipients)));
        let link = u32::try_from(self.below(u64::from(self.shape.links))).unwrap_or_default();
        if let Ok(token) = &mut event.token {
            token.recipient = Some(recipient.into());
            token.link = (event.kind == Kind::Click).then_some(Link::Index(link));
        }
        Some(event)
    }
}

/// A 16-character pseudonym for a number.
fn pseudonym(n: u64) -> String {
    format!("R{n:015}")
}

/// Writes `events` into `store`, raw rows and rollups, as fast as the database takes
/// them; returns how many were stored.
///
/// Raw rows go in transactions of [`LOAD_BATCH`] rows (PostgreSQL's `COPY`,
/// SQLite's prepared inserts) while their rollups are folded in memory, with the
/// same code the writer folds a batch with; the rollups are then written at the end,
/// by the writer's own statements, in transactions of at most [`LOAD_BATCH`]
/// recipients. Folding the whole load first writes each recipient once instead of
/// once per batch it appears in, and in key order. The figures equal the
/// [`Report`](hashbeacon::Report) of the raw rows once it returns `Ok`; until then
/// they lag, and a load that fails part-way leaves raw rows that no rollup counts.
/// For filling databases for benchmarks: a server stores events with the
/// [`Writer`](crate::Writer).
pub fn load(store: &mut Store, events: impl IntoIterator<Item = Event>) -> Result<u64, StoreError> {
    let mut stored = 0;
    let mut fold = Fold::default();
    let mut events = events.into_iter().peekable();
    let mut chunk = Vec::with_capacity(LOAD_BATCH);
    while events.peek().is_some() {
        chunk.clear();
        chunk.extend(events.by_ref().take(LOAD_BATCH));
        let rows: Vec<EventRow<'_>> = chunk.iter().map(EventRow::new).collect();
        for row in &rows {
            row.add_to(&mut fold);
        }
        store.insert_rows(&rows)?;
        stored += rows.len() as u64;
    }
    let mut rollups = fold.into_batch(None);
    let mut recipients = std::mem::take(&mut rollups.recipients).into_iter();
    store.add_to_rollups(&rollups)?;
    loop {
        let part = Batch {
            recipients: recipients.by_ref().take(LOAD_BATCH).collect(),
            ..Batch::default()
        };
        if part.recipients.is_empty() {
            return Ok(stored);
        }
        store.add_to_rollups(&part)?;
    }
}
