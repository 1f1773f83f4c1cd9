//! The reference tracking server, shared by the `server` example, the quickstart and the
//! end-to-end test (each includes this file with `#[path = "…"] mod app;`).
//!
//! axum serves the tracking URLs through [`hashbeacon::Endpoint`]; events go through a
//! [`ChannelSink`], which never blocks the reader's response, to a writer thread that
//! stores them in SQLite in batched transactions. Whatever could not be stored (queue
//! full, database failing) is logged event by event, counted, and shown by `/healthz`.
//!
//! Routes: the tracker's `{base}/c/…` and `{base}/o/….gif`, `GET /stats?campaign=ID`
//! (counts and the campaign report's figures), `GET /dashboard?campaign=ID` (a live
//! HTML page of them), `POST /conversion` (a landing site reports a conversion with the
//! click reference it was given) and `GET /healthz`.

#[path = "dashboard.rs"]
pub(crate) mod dashboard;
#[path = "figures.rs"]
pub(crate) mod figures;
#[path = "store.rs"]
pub(crate) mod store;

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use hashbeacon::endpoint::MAX_BODY_LEN;
use hashbeacon::report::{Granularity, Report};
use hashbeacon::sink::ChannelSink;
use hashbeacon::{ConfigError, Endpoint, Event, IpNet, Keyring, ReferenceParameter, Request, Tracker};
use serde::{Deserialize, Serialize};
use store::{CampaignStats, OpenError, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Most events waiting for the writer; beyond that an event is reported, not queued.
pub(crate) const DEFAULT_QUEUE: usize = 10_000;
/// Most events the writer puts in one transaction.
const MAX_BATCH: usize = 1_000;

/// What the server needs to start.
pub(crate) struct Config {
    /// Where to listen; port 0 picks a free port.
    pub(crate) addr: SocketAddr,
    /// The keys to verify tokens with (the first one also signs, for [`Server::tracker`]).
    pub(crate) keyring: Keyring,
    /// The SQLite database, created if missing.
    pub(crate) db: PathBuf,
    /// The path prefix of the tracking URLs: `""` or e.g. `"/hb"`.
    pub(crate) base_path: String,
    /// Most events waiting for the writer.
    pub(crate) queue: usize,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` say who the client is.
    pub(crate) trusted_proxies: Vec<IpNet>,
    /// Append a signed click reference to redirects under this parameter, for
    /// conversion attribution; `None` (the default) leaves destinations as written.
    pub(crate) conversion_reference: Option<ReferenceParameter>,
}

impl Config {
    /// A configuration with no path prefix and the default queue.
    pub(crate) fn new(addr: SocketAddr, keyring: Keyring, db: PathBuf) -> Self {
        Self {
            addr,
            keyring,
            db,
            base_path: String::new(),
            queue: DEFAULT_QUEUE,
            trusted_proxies: Vec::new(),
            conversion_reference: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    /// The database cannot be opened or set up.
    #[error("database {path}: {source}")]
    Database {
        /// The database path.
        path: PathBuf,
        /// What SQLite said.
        source: OpenError,
    },
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// The base path is not a plain path prefix.
    #[error("base path {path:?}: {source}")]
    BasePath {
        /// The base path given.
        path: String,
        /// What was wrong with it.
        source: ConfigError,
    },
}

/// A running server. Stop it with [`Server::shutdown`], which flushes every event.
pub(crate) struct Server {
    addr: SocketAddr,
    tracker: Tracker,
    health: Arc<Health>,
    stop: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    writer: std::thread::JoinHandle<()>,
}

/// Starts the server: opens the database, binds the address, starts the writer thread
/// and serves on the current tokio runtime.
pub(crate) async fn start(config: Config) -> Result<Server, StartError> {
    let database = |source| StartError::Database {
        path: config.db.clone(),
        source,
    };
    let writer_store = Store::open(&config.db).map_err(database)?;
    let reader_store = Store::open(&config.db).map_err(database)?;
    let listen = |source| StartError::Listen {
        addr: config.addr,
        source,
    };
    let listener = TcpListener::bind(config.addr).await.map_err(listen)?;
    let addr = listener.local_addr().map_err(listen)?;
    let tracker =
        Tracker::new(config.keyring, &format!("http://{addr}{}", config.base_path)).map_err(|source| {
            StartError::BasePath {
                path: config.base_path.clone(),
                source,
            }
        })?;

    let (sink, events) = ChannelSink::new(config.queue);
    let health = Arc::new(Health::default());
    let writer = {
        let health = Arc::clone(&health);
        std::thread::spawn(move || write_events(writer_store, &events, &health))
    };
    // Rejected tokens are stored too (with the reason), to see forgery attempts.
    let endpoint = (config.trusted_proxies.into_iter())
        .fold(Endpoint::new(tracker.clone(), sink), Endpoint::with_trusted_proxy)
        .with_rejected_events(true);
    let endpoint = match config.conversion_reference {
        Some(parameter) => endpoint.with_conversion_reference(parameter),
        None => endpoint,
    };
    let state = Arc::new(AppState {
        endpoint,
        reader: Mutex::new(reader_store),
        health: Arc::clone(&health),
        dashboard_policy: dashboard::content_security_policy(),
    });
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/stats", get(stats))
        .route("/dashboard", get(dashboard))
        .route("/conversion", post(conversion))
        .route("/unsubscribes", get(unsubscribes))
        .fallback(track)
        .with_state(state);
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        // A dropped sender stops the server as well.
        let _ = stopped.await;
    });
    let serving = tokio::spawn(async move { serve.await });
    Ok(Server {
        addr,
        tracker,
        health,
        stop,
        serving,
        writer,
    })
}

impl Server {
    /// The address the server listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A tracker whose URLs point at this server.
    pub(crate) fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// The counters `/healthz` shows.
    #[allow(
        dead_code,
        reason = "the quickstart reads it; the server binary only serves it"
    )]
    pub(crate) fn health(&self) -> HealthReport {
        self.health.report()
    }

    /// Stops accepting connections, finishes the requests in flight, then waits until
    /// the writer has stored (or reported) every queued event.
    pub(crate) async fn shutdown(self) -> std::io::Result<HealthReport> {
        let _ = self.stop.send(());
        self.serving.await.map_err(std::io::Error::other)??;
        // The server, and with it the last sender of the event channel, is gone: the
        // writer drains what is queued and ends.
        let writer = self.writer;
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .map_err(std::io::Error::other)?
            .map_err(|_| std::io::Error::other("the event writer panicked"))?;
        Ok(self.health.report())
    }
}

struct AppState {
    endpoint: Endpoint<ChannelSink>,
    /// A connection of its own for `/stats`, `/dashboard` and the rare conversion:
    /// WAL lets it read while the writer writes.
    reader: Mutex<Store>,
    health: Arc<Health>,
    /// The dashboard's `Content-Security-Policy`, computed once.
    dashboard_policy: String,
}

/// Every tracking request. The library stays clock-free; the host supplies `now`.
///
/// Only a one-click unsubscribe `POST` has a body the endpoint reads: at most one byte
/// past [`MAX_BODY_LEN`] is read, so a longer one is answered 413 unread.
async fn track(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match parts.method {
        axum::http::Method::POST => match axum::body::to_bytes(body, MAX_BODY_LEN + 1).await {
            Ok(body) => body,
            Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        },
        _ => axum::body::Bytes::new(),
    };
    let request = axum::http::Request::from_parts(parts, body);
    let handled = state
        .endpoint
        .handle(&Request::from_http_with_body(&request, peer.ip()), unix_now());
    if let Some(error) = handled.sink_error {
        // The reader gets their redirect or pixel regardless; the events are reported.
        let reason = error.to_string();
        state
            .health
            .lost(&state.health.not_queued, &error.into_events(), &reason);
    }
    handled.response.into_http().map(Body::from)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[derive(Deserialize)]
struct StatsQuery {
    campaign: String,
    /// Messages delivered, for the rates per delivered message.
    delivered: Option<u64>,
    /// `hour` (the default) or `day`, for the trend.
    granularity: Option<String>,
}

/// What `/stats` returns: the per-link counts, and the report's figures.
#[derive(Serialize)]
struct Stats {
    #[serde(flatten)]
    counts: CampaignStats,
    report: figures::Figures,
}

async fn stats(
    State(state): State<Arc<AppState>>,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Stats>, Response> {
    let granularity = match query.granularity.as_deref() {
        None | Some("hour") => Granularity::Hour,
        Some("day") => Granularity::Day,
        Some(_) => return Err((StatusCode::BAD_REQUEST, "granularity is hour or day\n").into_response()),
    };
    let (delivered, campaign) = (query.delivered, query.campaign.clone());
    let (counts, report) = on_db(&state, move |reader| {
        Ok((reader.stats(&campaign)?, reader.report(&campaign)?))
    })
    .await?;
    let report = figures::figures(&report, &query.campaign, delivered, granularity);
    Ok(Json(Stats { counts, report }))
}

/// `/unsubscribes?since=ID&limit=N`: the stored one-click unsubscribes after row `since`
/// (0, the default, for all), oldest first, at most `limit` (default and most 1000).
#[derive(Deserialize)]
struct UnsubscribesQuery {
    since: Option<i64>,
    limit: Option<i64>,
}

/// What `/unsubscribes` returns: the rows, and the cursor to ask for the next ones.
#[derive(Serialize)]
struct Unsubscribes {
    unsubscribes: Vec<store::Unsubscribe>,
    /// The `since` of the next request: the last id returned, or the one asked for.
    next: i64,
}

/// Lists stored unsubscribes for the host's list manager to act on.
async fn unsubscribes(
    State(state): State<Arc<AppState>>,
    Query(query): Query<UnsubscribesQuery>,
) -> Result<Json<Unsubscribes>, Response> {
    let since = query.since.unwrap_or(0).max(0);
    let limit = query.limit.unwrap_or(1000).clamp(1, 1000);
    let unsubscribes = on_db(&state, move |reader| reader.unsubscribes(since, limit)).await?;
    let next = unsubscribes.last().map_or(since, |last| last.id);
    Ok(Json(Unsubscribes { unsubscribes, next }))
}

/// Runs a query on the reader connection off the async threads; a failure is a 500.
async fn on_db<T: Send + 'static>(
    state: &Arc<AppState>,
    query: impl FnOnce(&Store) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || {
        let reader = state.reader.lock().unwrap_or_else(PoisonError::into_inner);
        query(&reader).map_err(|error| error.to_string())
    })
    .await
    .map_err(|error| error.to_string())
    .and_then(|result| result)
    .map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, format!("database: {error}\n")).into_response())
}

/// The live dashboard page of one campaign.
async fn dashboard(
    State(state): State<Arc<AppState>>,
    Query(query): Query<StatsQuery>,
) -> Result<Response, Response> {
    let campaign = query.campaign.clone();
    let report: Report = on_db(&state, move |reader| reader.report(&campaign)).await?;
    let page = dashboard::render(&dashboard::Dashboard {
        campaign: &query.campaign,
        report: report.campaign(&query.campaign),
        delivered: query.delivered,
        rejected: report.rejected().total(),
        now: unix_now(),
    });
    let headers = [
        (header::CONTENT_SECURITY_POLICY, state.dashboard_policy.clone()),
        (header::CACHE_CONTROL, "no-store".to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ];
    Ok((headers, Html(page)).into_response())
}

/// A landing site reports a conversion: the body is the click reference it was given.
/// 200 with what the reference says, or 400 if it is not authentic.
async fn conversion(State(state): State<Arc<AppState>>, body: String) -> Result<Json<Converted>, Response> {
    let keyring = state.endpoint.tracker().keyring();
    let conversion = keyring
        .verify_reference(body.trim(), unix_now())
        .map_err(|error| {
            (StatusCode::BAD_REQUEST, format!("invalid reference: {error}\n")).into_response()
        })?;
    let answer = Converted {
        campaign: conversion.campaign.clone(),
        link: conversion.link.as_ref().map(ToString::to_string),
        clicked_at: conversion.clicked_at,
    };
    on_db(&state, move |store| store.insert_conversion(&conversion)).await?;
    Ok(Json(answer))
}

/// What `POST /conversion` answers.
#[derive(Serialize)]
struct Converted {
    /// The campaign the conversion counts for.
    campaign: String,
    /// The link whose click led to it.
    link: Option<String>,
    /// When that click came, unix seconds.
    clicked_at: u64,
}

async fn healthz(State(state): State<Arc<AppState>>) -> Json<HealthReport> {
    Json(state.health.report())
}

/// The writer thread: takes what is queued, up to a batch, and stores it in one
/// transaction. Ends when every sender is gone and the queue is empty.
fn write_events(mut store: Store, events: &Receiver<Event>, health: &Health) {
    while let Ok(first) = events.recv() {
        let mut batch = vec![first];
        batch.extend(events.try_iter().take(MAX_BATCH - 1));
        match store.insert(&batch) {
            Ok(()) => {
                health.stored.fetch_add(count(&batch), Ordering::Relaxed);
            }
            Err(error) => health.lost(&health.not_stored, &batch, &error),
        }
    }
}

fn count(events: &[Event]) -> u64 {
    u64::try_from(events.len()).unwrap_or(u64::MAX)
}

/// Counters of what became of the events.
#[derive(Default)]
struct Health {
    stored: AtomicU64,
    /// The database write failed.
    not_stored: AtomicU64,
    /// The queue was full or closed.
    not_queued: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Health {
    /// Reports events that could not be stored: one log line each, so they can be
    /// recovered from the log, and a count.
    fn lost(&self, counter: &AtomicU64, events: &[Event], error: &dyn Display) {
        for event in events {
            eprintln!("hashbeacon: event not stored ({error}): {}", describe(event));
        }
        counter.fetch_add(count(events), Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
    }

    fn report(&self) -> HealthReport {
        let not_stored = self.not_stored.load(Ordering::Relaxed);
        let not_queued = self.not_queued.load(Ordering::Relaxed);
        HealthReport {
            status: if not_stored + not_queued == 0 {
                "ok"
            } else {
                "degraded"
            }
            .to_owned(),
            events_stored: self.stored.load(Ordering::Relaxed),
            events_not_stored: not_stored,
            events_not_queued: not_queued,
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

/// One event on one line, with everything the `events` table would hold.
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

/// What `/healthz` returns.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct HealthReport {
    /// `ok`, or `degraded` once any event could not be stored.
    pub(crate) status: String,
    /// Events written to the database.
    pub(crate) events_stored: u64,
    /// Events whose database write failed (each logged).
    pub(crate) events_not_stored: u64,
    /// Events the queue could not take, full or closed (each logged).
    pub(crate) events_not_queued: u64,
    /// The latest storage error.
    pub(crate) last_error: Option<String>,
}
