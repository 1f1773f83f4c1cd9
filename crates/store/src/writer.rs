//! The batching writer: a thread that drains a [`ChannelSink`]'s receiver into
//! batches, and one thread per database connection that stores them in a [`Store`],
//! a batch per transaction, surviving the database going away.
//!
//! [`ChannelSink`]: hashbeacon::sink::ChannelSink

use std::fmt::Display;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hashbeacon::Event;
use serde::{Deserialize, Serialize};

use crate::store::{Database, Store};

/// How a [`Writer`] batches and retries.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriterOptions {
    /// Most events in one transaction. Under live traffic the [`Self::linger`] wait
    /// decides a batch's size; this bound matters when events queue faster than they
    /// are stored (a burst, a backlog after an outage), where larger batches drain
    /// the queue faster. Part of a batch's cost does not grow with its events: the
    /// rollup upserts run once per transaction, and PostgreSQL 15 spends about two
    /// milliseconds on each `COPY` of a thousand rows or more keeping track of the
    /// tuple slots it buffers rows in (one per row, up to 1,000, all pinning the same
    /// descriptor, which its resource owner adds and removes in time quadratic in
    /// their number).
    pub max_batch: usize,
    /// How long a batch that is not full waits for more events before it is
    /// written. A transaction costs about as much for a few events as for hundreds
    /// (the log pages of every rollup it touches are written out each time), and
    /// under live traffic a writer that never waits commits a few events at a time:
    /// waiting up to 20 ms cut its time per event by more than half. The
    /// figures lag by as much; a full batch never waits. With several
    /// [`Self::connections`], each connection's batch waits this long times their
    /// number: each takes its share of the events, and so the writer commits about
    /// as often, and as full batches, as with one.
    pub linger: Duration,
    /// The first wait before trying a failed database again; it doubles each time.
    pub retry_min: Duration,
    /// The longest wait between tries.
    pub retry_max: Duration,
    /// How many times a batch is tried while the database is reachable but refuses
    /// it, before its events are counted as not stored.
    pub attempts: u32,
    /// How many recipients the writer remembers as stored, to leave out of later
    /// batches ([`Store::remember_recipients`]), shared out among its connections.
    pub known_recipients: usize,
    /// How many connections a PostgreSQL writer stores batches on at once (SQLite:
    /// always one, since a second would wait for the first's lock on the file).
    ///
    /// One connection is served by one PostgreSQL process, so a writer with one
    /// connection stores at most what one core of the database server can, however
    /// many it has. With several, every event goes to the connection of its
    /// recipient, so the connections never store the same first-seen row and do
    /// not wait for each other's (see the store's README); the rollup counters they
    /// share are upserted in one order by every writer, after the raw rows.
    /// Each connection's batches hold up to [`Self::max_batch`] events and linger
    /// on their own, [`Self::linger`] times the number of connections, so under
    /// light traffic the figures lag that much longer.
    pub connections: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            // 1,000 before: the store's README has what 5,000 gains, and that 10,000
            // or 20,000 gain nothing more.
            max_batch: 5_000,
            linger: Duration::from_millis(20),
            retry_min: Duration::from_millis(50),
            retry_max: Duration::from_secs(5),
            attempts: 3,
            known_recipients: crate::known::DEFAULT_KNOWN_RECIPIENTS,
            connections: 1,
        }
    }
}

impl WriterOptions {
    /// Sets the most events in one transaction (at least 1).
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Sets how long a batch that is not full waits for more events (zero: not at
    /// all).
    pub fn with_linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Sets how many recipients the writer remembers as stored (0: none).
    pub fn with_known_recipients(mut self, known_recipients: usize) -> Self {
        self.known_recipients = known_recipients;
        self
    }

    /// Sets how many connections a PostgreSQL writer stores batches on at once (at
    /// least 1; SQLite always uses one).
    ///
    /// ```
    /// use hashbeacon_store::WriterOptions;
    ///
    /// let options = WriterOptions::default().with_connections(4);
    /// assert_eq!(options.connections, 4);
    /// assert_eq!(WriterOptions::default().with_connections(0).connections, 1);
    /// ```
    pub fn with_connections(mut self, connections: usize) -> Self {
        self.connections = connections.max(1);
        self
    }

    /// Sets the shortest and the longest wait between tries.
    pub fn with_retry(mut self, min: Duration, max: Duration) -> Self {
        self.retry_min = min;
        self.retry_max = max.max(min);
        self
    }
}

/// Counters of what became of the events, shared by the writer and the host (which
/// counts what its queue could not take with [`Health::not_queued`]).
#[derive(Debug, Default)]
pub struct Health {
    stored: AtomicU64,
    /// Transactions that stored a batch.
    batches: AtomicU64,
    not_stored: AtomicU64,
    not_queued: AtomicU64,
    /// Events the writer holds while the database is unreachable.
    waiting: AtomicU64,
    database_down: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl Health {
    /// Counts events the host could not queue (the channel was full or closed): one
    /// log line each on standard error, so they can be recovered from the log.
    pub fn not_queued(&self, events: &[Event], reason: &dyn Display) {
        self.lost(&self.not_queued, events, reason);
    }

    /// Counts events the host could not queue, as [`Health::not_queued`] does, but
    /// leaves their log lines ([`Health::log_line`]) to the host: one whose requests
    /// must never wait on a slow standard error writes them on a thread of its own.
    pub fn count_not_queued(&self, events: u64, reason: &dyn Display) {
        self.not_queued.fetch_add(events, Ordering::Relaxed);
        self.error(reason);
    }

    /// The line logged for an event that was not stored, with everything its raw row
    /// would hold, so it can be recovered from the log.
    pub fn log_line(event: &Event, reason: &dyn Display) -> String {
        format!("hashbeacon: event not stored ({reason}): {}", describe(event))
    }

    /// What the counters say now.
    pub fn report(&self) -> HealthReport {
        let not_stored = self.not_stored.load(Ordering::Relaxed);
        let not_queued = self.not_queued.load(Ordering::Relaxed);
        let down = self.database_down.load(Ordering::Relaxed);
        HealthReport {
            status: if not_stored + not_queued == 0 && !down {
                "ok"
            } else {
                "degraded"
            }
            .to_owned(),
            events_stored: self.stored.load(Ordering::Relaxed),
            batches_stored: self.batches.load(Ordering::Relaxed),
            events_not_stored: not_stored,
            events_not_queued: not_queued,
            events_waiting: self.waiting.load(Ordering::Relaxed),
            database_reachable: !down,
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Counts events the writer gave up on, logged as [`Health::not_queued`] logs.
    fn not_stored(&self, events: &[Event], error: &dyn Display) {
        self.lost(&self.not_stored, events, error);
    }

    fn lost(&self, counter: &AtomicU64, events: &[Event], error: &dyn Display) {
        // Not `eprintln!`, which panics when standard error is gone (a log collector
        // that exited): the lines are lost then, the count below is not.
        let mut log = std::io::stderr().lock();
        for event in events {
            let _ = writeln!(log, "{}", Self::log_line(event, error));
        }
        drop(log);
        counter.fetch_add(count(events), Ordering::Relaxed);
        self.error(error);
    }

    fn error(&self, error: &dyn Display) {
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
    }
}

/// What [`Health::report`] says, as a server's `/healthz` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthReport {
    /// `ok`, or `degraded` once any event could not be stored or while the database
    /// is unreachable.
    pub status: String,
    /// Events written to the database.
    pub events_stored: u64,
    /// Transactions that wrote them: `events_stored` ÷ this is the mean batch.
    #[serde(default)]
    pub batches_stored: u64,
    /// Events whose database write failed for good (each logged).
    pub events_not_stored: u64,
    /// Events the queue could not take, full or closed (each logged).
    pub events_not_queued: u64,
    /// Events the writer holds while the database is unreachable or cannot write at
    /// all (a full disk, say: see [`crate::StoreError::is_unavailable`]), to write
    /// once it can (more wait in the queue).
    pub events_waiting: u64,
    /// Whether the writer's last contact with the database succeeded.
    pub database_reachable: bool,
    /// The latest storage error.
    pub last_error: Option<String>,
}

/// One event on one line, with everything its raw row would hold.
fn describe(event: &Event) -> String {
    let token = match &event.token {
        Ok(token) => format!(
            "campaign={} link={} recipient={} issued_at={} key={}{}",
            token.campaign,
            token.link.as_ref().map(ToString::to_string).unwrap_or_default(),
            token.recipient.as_deref().unwrap_or_default(),
            token.issued_at,
            token.key_id,
            if token.expired { " expired" } else { "" },
        ),
        Err(reason) => format!("rejected=\"{reason}\""),
    };
    format!(
        "{} {} {token} received_at={} ip={} verdict=\"{}\" ua={:?}",
        event.kind,
        event.method,
        event.received_at,
        event.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        event.verdict,
        event.user_agent.as_deref().unwrap_or_default(),
    )
}

fn count(events: &[Event]) -> u64 {
    u64::try_from(events.len()).unwrap_or(u64::MAX)
}

/// A running writer: a thread that takes events off the queue in batches, and one
/// per database connection that stores them. It ends when every sender of its
/// channel is gone and what was queued is stored; [`Writer::finish`] waits for that.
#[derive(Debug)]
pub struct Writer {
    health: Arc<Health>,
    deadline: Arc<Mutex<Option<Instant>>>,
    thread: JoinHandle<()>,
}

impl Writer {
    /// Starts the threads that store what `events` receives into `db`.
    ///
    /// The database is opened by each connection's thread: if it is unreachable
    /// now, events wait and the writer keeps trying, with backoff, as it does
    /// whenever the database goes away later.
    pub fn spawn(db: Database, events: Receiver<Event>, options: WriterOptions) -> Self {
        let health = Arc::new(Health::default());
        let deadline = Arc::new(Mutex::new(None));
        let thread = {
            let batcher = Batcher::new(&db, options, &health, &deadline);
            std::thread::spawn(move || batcher.run(&events))
        };
        Self {
            health,
            deadline,
            thread,
        }
    }

    /// The counters, to share with the request handlers.
    pub fn health(&self) -> Arc<Health> {
        Arc::clone(&self.health)
    }

    /// Waits until the writer has stored every queued event, once every sender of
    /// its channel is dropped. If the database is unreachable, it keeps trying until
    /// `grace` has passed, then counts what it still holds, and what is still queued,
    /// as not stored (each logged).
    pub fn finish(self, grace: Duration) -> HealthReport {
        *self.deadline.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + grace);
        if self.thread.join().is_err() {
            self.health.error(&PANICKED);
        }
        self.health.report()
    }
}

/// Why events are counted as not stored when the writer stops waiting for the database.
const SHUT_DOWN_UNREACHABLE: &str = "shut down while the database was unreachable";

/// The most parts of one refused batch [`Worker::store_parts`] tries: enough to find
/// three events the database refuses among 5,000 (a split makes two parts, and an
/// event is found 13 splits down), few enough that a database that refuses
/// everything costs a moment.
const SPLIT_TRIES: u32 = 96;

/// How often a lingering batch looks for more events.
const LINGER_STEP: Duration = Duration::from_millis(1);

/// Why events are counted as not stored when storing them panicked.
const PANICKED: &str = "the event writer panicked";

/// Takes events off the queue, gathers each connection's batch of them and hands it
/// over when the connection is free.
struct Batcher {
    connections: Vec<Connection>,
    max_batch: usize,
    linger: Duration,
    health: Arc<Health>,
    /// Set by a connection that gave up on the database at shutdown.
    gave_up: Arc<AtomicBool>,
}

/// A connection's thread and the batch gathered for it.
struct Connection {
    batches: SyncSender<Vec<Event>>,
    /// From a batch's hand-over until the thread has stored it.
    busy: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    next: Vec<Event>,
    /// When `next` started lingering: at its first event, or when the connection
    /// became free, whichever came later.
    since: Instant,
}

impl Batcher {
    fn new(
        db: &Database,
        options: WriterOptions,
        health: &Arc<Health>,
        deadline: &Arc<Mutex<Option<Instant>>>,
    ) -> Self {
        let count = match db {
            Database::Sqlite(_) => 1,
            Database::Postgres(_) => options.connections.max(1),
        };
        let id = writer_id();
        let gave_up = Arc::new(AtomicBool::new(false));
        let connections = (0..count)
            .map(|connection| {
                let mut worker = Worker {
                    db: db.clone(),
                    id: format!("{id}-{connection}"),
                    batches: 0,
                    waiting: 0,
                    store: None,
                    // Each connection sees its share of the recipients.
                    options: (options.clone())
                        .with_known_recipients(options.known_recipients.div_ceil(count)),
                    health: Arc::clone(health),
                    deadline: Arc::clone(deadline),
                };
                let (batches, receiver) = std::sync::mpsc::sync_channel::<Vec<Event>>(0);
                let busy = Arc::new(AtomicBool::new(false));
                let thread = {
                    let (busy, gave_up) = (Arc::clone(&busy), Arc::clone(&gave_up));
                    std::thread::spawn(move || {
                        for batch in receiver {
                            if !worker.store_batch(&batch) {
                                gave_up.store(true, Ordering::Relaxed);
                            }
                            busy.store(false, Ordering::Release);
                        }
                    })
                };
                Connection {
                    batches,
                    busy,
                    thread,
                    next: Vec::new(),
                    since: Instant::now(),
                }
            })
            .collect();
        Self {
            connections,
            max_batch: options.max_batch,
            // Each connection's share of the events fills its batch as fast as
            // all of them fill one connection's.
            linger: options
                .linger
                .saturating_mul(u32::try_from(count).unwrap_or(u32::MAX)),
            health: Arc::clone(health),
            gave_up,
        }
    }

    fn run(mut self, events: &Receiver<Event>) {
        let mut open = true;
        loop {
            if self.connections.iter().all(|c| c.next.is_empty()) {
                if !open {
                    break;
                }
                match events.recv() {
                    Ok(event) => self.add(event),
                    Err(_) => break,
                }
            }
            // Takes what is queued while a connection is free and every batch has
            // room; the rest waits in the queue, whose bound the host sees. With one
            // connection, the events that come during a write wait there, as they
            // did for a writer that took a batch only after storing the one before.
            while open && self.can_take() {
                match events.try_recv() {
                    Ok(event) => self.add(event),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
            if self.gave_up.swap(false, Ordering::Relaxed) {
                // Past the shutdown deadline with the database down: report the rest.
                // Later events (senders still alive) are reported a batch at a time.
                let rest: Vec<Event> = (self.connections.iter_mut())
                    .flat_map(|c| std::mem::take(&mut c.next))
                    .chain(events.try_iter())
                    .collect();
                self.health.not_stored(&rest, &SHUT_DOWN_UNREACHABLE);
            }
            if !self.hand_over(open) {
                // Sleeps, not waits on the channel: a receiver blocked on it is woken
                // by every event sent, at a cost to the request handlers. Short ones,
                // so that a burst fills the batch rather than the queue.
                std::thread::sleep(LINGER_STEP);
            }
        }
        for connection in self.connections {
            drop(connection.batches);
            if connection.thread.join().is_err() {
                self.health.error(&PANICKED);
            }
        }
    }

    /// Whether to take more events off the queue: a connection is free and no batch
    /// is full.
    fn can_take(&self) -> bool {
        let free = |c: &Connection| !c.busy.load(Ordering::Acquire);
        (self.connections.iter()).all(|c| c.next.len() < self.max_batch) && self.connections.iter().any(free)
    }

    /// Adds an event to its connection's next batch.
    fn add(&mut self, event: Event) {
        let count = self.connections.len();
        let Some(connection) = self.connections.get_mut(connection_of(&event, count)) else {
            // Never: `connection_of` answers below `count`.
            self.health.not_stored(&[event], &PANICKED);
            return;
        };
        if connection.next.is_empty() {
            connection.since = Instant::now();
        }
        connection.next.push(event);
    }

    /// Hands every batch that is due to its connection if it is free. A batch is due
    /// once it has lingered long enough, when the queue closed, and when any batch is
    /// full: then the queue holds events no batch can take, and lingering would only
    /// keep them waiting. Whether any batch was handed over.
    fn hand_over(&mut self, open: bool) -> bool {
        let backed_up = (self.connections.iter()).any(|c| c.next.len() >= self.max_batch);
        let mut handed = false;
        for connection in &mut self.connections {
            if connection.next.is_empty() {
                continue;
            }
            if connection.thread.is_finished() {
                // Its thread ends only when its channel closes, so it panicked.
                self.health
                    .not_stored(&std::mem::take(&mut connection.next), &PANICKED);
                continue;
            }
            if connection.busy.load(Ordering::Acquire) {
                // The batch lingers from when the connection is free, as it would
                // with one thread taking a batch after storing the one before:
                // events keep coming during a write, and lingering after it is what
                // makes the next batch fuller.
                connection.since = Instant::now();
                continue;
            }
            if !(backed_up || !open || connection.since.elapsed() >= self.linger) {
                continue;
            }
            connection.busy.store(true, Ordering::Release);
            // The thread is free, so this waits no longer than its return to `recv`.
            if let Err(lost) = connection.batches.send(std::mem::take(&mut connection.next)) {
                self.health.not_stored(&lost.0, &PANICKED);
            }
            handed = true;
        }
        handed
    }
}

/// The connection, of `count`, that stores an event: its recipient's, so that one
/// connection stores all first-seen rows of a recipient and two connections never
/// wait for each other's (events without one share a connection too).
fn connection_of(event: &Event, count: usize) -> usize {
    if count <= 1 {
        // The common case: no hashing for every event of a one-connection writer.
        return 0;
    }
    let recipient = event
        .token
        .as_ref()
        .ok()
        .and_then(|token| token.recipient.as_deref());
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(recipient);
    // Below `count`, which is a `usize`.
    usize::try_from(hash % count as u64).unwrap_or_default()
}

/// One connection's writer: stores batches, retries them, splits refused ones.
struct Worker {
    db: Database,
    /// Unique to this connection among all writers of the database, past and present.
    id: String,
    /// Batches taken so far: with `id`, each batch's id.
    batches: u64,
    /// What this connection counts in [`Health`]'s events waiting.
    waiting: u64,
    store: Option<Store>,
    options: WriterOptions,
    health: Arc<Health>,
    deadline: Arc<Mutex<Option<Instant>>>,
}

impl Worker {
    /// Stores one batch, retrying with backoff while the database is unreachable.
    /// `false` when it gave up because the shutdown deadline passed.
    fn store_batch(&mut self, batch: &[Event]) -> bool {
        let id = self.next_id();
        match self.store_as(&id, batch, self.options.attempts) {
            Stored::Yes => true,
            Stored::Refused(error) => self.store_parts(batch, error),
            Stored::PastDeadline => false,
        }
    }

    /// Stores a batch the database refused whole, part by part: it is split in
    /// halves, each tried under an id of its own, and a refused half is split
    /// in turn, so that the events the database cannot take (text it cannot hold,
    /// say) are counted as not stored on their own and the rest of the batch is
    /// stored. At most [`SPLIT_TRIES`] parts: when the database refuses more than a
    /// few of the events (or all of them), the parts still refused then are counted
    /// as not stored. `false` as for [`Worker::store_batch`].
    fn store_parts(&mut self, batch: &[Event], error: String) -> bool {
        let mut tries_left = SPLIT_TRIES;
        let mut refused = vec![(batch, error)];
        while let Some((part, error)) = refused.pop() {
            if part.len() < 2 || tries_left < 2 {
                self.health.not_stored(part, &error);
                continue;
            }
            tries_left -= 2;
            let halves = part.split_at(part.len() / 2);
            for (i, half) in [halves.0, halves.1].into_iter().enumerate() {
                // A part is tried once; an event, as often as a batch, before it
                // counts as not stored.
                let attempts = if half.len() == 1 { self.options.attempts } else { 1 };
                let id = self.next_id();
                match self.store_as(&id, half, attempts) {
                    Stored::Yes => {}
                    Stored::Refused(error) => refused.push((half, error)),
                    Stored::PastDeadline => {
                        if i == 0 {
                            self.health.not_stored(halves.1, &SHUT_DOWN_UNREACHABLE);
                        }
                        for (part, error) in refused {
                            self.health.not_stored(part, &error);
                        }
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Tries `batch` under `id` until it is stored, the database refused it
    /// `attempts` times, or, with the database unreachable, the shutdown deadline
    /// passed (then its events are counted as not stored). The id stays the same
    /// across tries: a commit that went through unanswered is not written twice.
    fn store_as(&mut self, id: &str, batch: &[Event], attempts: u32) -> Stored {
        let mut wait = self.options.retry_min;
        let mut refused = 0;
        loop {
            match self.try_store_catching(id, batch) {
                Ok(()) => {
                    self.health.stored.fetch_add(count(batch), Ordering::Relaxed);
                    self.health.batches.fetch_add(1, Ordering::Relaxed);
                    self.set_waiting(0);
                    return Stored::Yes;
                }
                Err(Failure::Refused(error)) => {
                    refused += 1;
                    self.health.error(&error);
                    if refused >= attempts {
                        self.set_waiting(0);
                        return Stored::Refused(error);
                    }
                }
                Err(Failure::Unreachable(error)) => {
                    self.health.database_down.store(true, Ordering::Relaxed);
                    self.health.error(&error);
                    self.set_waiting(count(batch));
                }
            }
            if self.past_deadline(wait) {
                self.set_waiting(0);
                self.health.not_stored(batch, &SHUT_DOWN_UNREACHABLE);
                return Stored::PastDeadline;
            }
            std::thread::sleep(wait);
            wait = (wait * 2).min(self.options.retry_max);
        }
    }

    /// The id of the next batch: unique to this writer.
    fn next_id(&mut self) -> String {
        self.batches += 1;
        format!("{}-{}", self.id, self.batches)
    }

    /// [`Worker::try_store`], with a panic in it (a defect of a database driver, say)
    /// taken as the database refusing the batch: the batch is split like any refused
    /// one, so that only the events whose storing panics are counted as not stored,
    /// and the rest are stored. A commit that went through before the panic is
    /// found by its batch id when the part is tried again. The connection, in a
    /// state the panic left unknown, is opened afresh.
    fn try_store_catching(&mut self, id: &str, batch: &[Event]) -> Result<(), Failure> {
        std::panic::catch_unwind(AssertUnwindSafe(|| self.try_store(id, batch))).unwrap_or_else(|_| {
            self.store = None;
            Err(Failure::Refused(PANICKED.to_owned()))
        })
    }

    fn try_store(&mut self, id: &str, batch: &[Event]) -> Result<(), Failure> {
        #[cfg(test)]
        tests::panic_if_asked(batch);
        let store = match &mut self.store {
            Some(store) => store,
            None => {
                let mut store = Store::open_database(&self.db)
                    .map_err(|error| Failure::Unreachable(error.to_string()))?;
                store.remember_recipients(self.options.known_recipients);
                self.store.insert(store)
            }
        };
        self.health.database_down.store(false, Ordering::Relaxed);
        match store.write_once(id, batch) {
            // Not new: the commit of an earlier try went through unanswered.
            Ok(_) => Ok(()),
            Err(error) if store.is_closed() || error.is_unavailable() => {
                // Open a new connection next time.
                self.store = None;
                Err(Failure::Unreachable(error.to_string()))
            }
            Err(error) => Err(Failure::Refused(error.to_string())),
        }
    }

    /// Sets this connection's share of the events waiting.
    fn set_waiting(&mut self, events: u64) {
        let before = std::mem::replace(&mut self.waiting, events);
        if events >= before {
            self.health.waiting.fetch_add(events - before, Ordering::Relaxed);
        } else {
            self.health.waiting.fetch_sub(before - events, Ordering::Relaxed);
        }
    }

    /// Whether a shutdown deadline is set and waiting `wait` more would pass it.
    fn past_deadline(&self, wait: Duration) -> bool {
        let deadline = *self.deadline.lock().unwrap_or_else(PoisonError::into_inner);
        deadline.is_some_and(|deadline| Instant::now() + wait > deadline)
    }
}

/// An id no other writer, on this host or another, takes: the process id, the start
/// time and the standard library's per-process random hashing keys.
fn writer_id() -> String {
    use std::hash::Hasher;
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!("{:x}-{started:x}-{random:016x}", std::process::id())
}

/// How [`Worker::store_as`] ended.
enum Stored {
    Yes,
    /// Refused as many times as it was to be tried; the last error.
    Refused(String),
    /// Counted as not stored: the shutdown deadline passed with the database down.
    PastDeadline,
}

/// Why a batch was not stored.
enum Failure {
    /// The database cannot be reached, or cannot take any write now
    /// ([`crate::StoreError::is_unavailable`]): keep the events and try again.
    Unreachable(String),
    /// The database answered but refused the batch.
    Refused(String),
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hashbeacon::sink::ChannelSink;
    use hashbeacon::{Event, EventSink as _};
    use proptest::prelude::*;

    use super::{PANICKED, Writer, WriterOptions, connection_of};
    use crate::load::{Shape, Synthetic};
    use crate::store::{Database, Store};

    /// The user agent of an event whose storing panics.
    const PANICS: &str = "panics while it is stored";

    /// Panics, as a defect of a database driver would, on a batch that holds an
    /// event marked [`PANICS`].
    pub(super) fn panic_if_asked(batch: &[Event]) {
        let asked = |event: &Event| event.user_agent.as_deref() == Some(PANICS);
        assert!(!batch.iter().any(asked), "storing an event panicked");
    }

    #[test]
    fn an_event_whose_storing_panics_is_counted_and_the_rest_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut databases = vec![(Database::Sqlite(dir.path().join("events.db")), 1)];
        if let Some(url) = hashbeacon_test_postgres::postgres_url() {
            let url = hashbeacon_test_postgres::fresh_schema(&url);
            databases.push((Database::Postgres(url), 2));
        }
        for (db, connections) in databases {
            let mut events: Vec<Event> = Synthetic::new(Shape::default()).take(1_000).collect();
            for i in [10, 500, 501] {
                events[i].user_agent = Some(PANICS.to_owned());
            }
            let (sink, receiver) = ChannelSink::new(events.len());
            let options = WriterOptions::default()
                .with_max_batch(200)
                .with_connections(connections);
            let writer = Writer::spawn(db.clone(), receiver, options);
            for event in events {
                sink.record(event).unwrap();
            }
            drop(sink);
            // A panic that ended the connection's thread would lose its batch
            // untold, and count every later event of the connection as not stored.
            let health = writer.finish(Duration::from_secs(30));
            assert_eq!(
                (health.events_stored, health.events_not_stored),
                (997, 3),
                "{db:?}: {health:?}"
            );
            assert_eq!(health.last_error.as_deref(), Some(PANICKED), "{db:?}");
            let mut store = Store::open_database(&db).unwrap();
            assert_eq!(store.raw_report().unwrap().events(), 997, "{db:?}");
        }
    }
    proptest! {
        #[test]
        fn every_event_of_a_recipient_goes_to_the_same_connection(
            seed: u64,
            recipients in 1u32..40,
            count in 1usize..5,
        ) {
            let mut shape = Shape::default();
            (shape.recipients, shape.seed) = (recipients, seed);
            let mut seen = std::collections::HashMap::new();
            for event in Synthetic::new(shape).take(300) {
                let connection = connection_of(&event, count);
                prop_assert!(connection < count);
                let recipient = event.token.ok().and_then(|token| token.recipient);
                prop_assert_eq!(*seen.entry(recipient).or_insert(connection), connection);
            }
        }
    }

    #[test]
    fn many_recipients_spread_over_every_connection() {
        let shape = Shape {
            recipients: 100_000,
            ..Shape::default()
        };
        let mut counts = [0; 4];
        for event in Synthetic::new(shape).take(4_000) {
            counts[connection_of(&event, 4)] += 1;
        }
        assert!(counts.iter().all(|n| (700..1_300).contains(n)), "{counts:?}");
    }
}
