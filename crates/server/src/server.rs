//! Starting and stopping the server: the store, the writer, the two listeners.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hashbeacon::sink::ChannelSink;
use hashbeacon::{ConfigError, Endpoint, Tracker};
use hashbeacon_store::{Database, Health, HealthReport, OpenError, Store, Writer, WriterOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{self, Admin};
use crate::config::Config;
use crate::dashboard;
use crate::overflow::{LOG_QUEUE, Overflow, OverflowLog};
use crate::retention;
use crate::serve::{Limits, routed, serve};
use crate::tracking::{self, Tracking};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The database cannot be opened or set up.
    #[error(transparent)]
    Database(#[from] OpenError),
    /// An address cannot be listened on.
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

/// A running server. Stop it with [`Server::shutdown`], which stores every queued event.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    tracker: Tracker,
    health: Arc<Health>,
    stop: watch::Sender<()>,
    listeners: [JoinHandle<()>; 2],
    retention: Option<JoinHandle<()>>,
    writer: Writer,
    overflow_log: OverflowLog,
    /// How long shutdown keeps trying an unreachable database for queued events.
    grace: Duration,
}

/// Starts the server: opens the database, binds both addresses, starts the writer
/// thread and serves on the current tokio runtime.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let db = Database::parse(&config.db);
    // Opening the reader first checks the database (and runs its migrations) before
    // anything listens: a bad --db is an error at start, not a stream of lost events.
    // The PostgreSQL client blocks on a runtime of its own: open it off this one.
    let reader = {
        let db = db.clone();
        match tokio::task::spawn_blocking(move || Store::open_database(&db)).await {
            Ok(opened) => opened?,
            Err(failed) => std::panic::resume_unwind(failed.into_panic()),
        }
    };
    let public = bind(config.addr).await?;
    let addr = local_addr(&public, config.addr)?;
    let admin_listener = bind(config.admin_addr).await?;
    let admin_addr = local_addr(&admin_listener, config.admin_addr)?;
    let tracker =
        Tracker::new(config.keyring, &format!("http://{addr}{}", config.base_path)).map_err(|source| {
            StartError::BasePath {
                path: config.base_path.clone(),
                source,
            }
        })?;

    let (sink, events) = ChannelSink::new(config.queue);
    let options = WriterOptions::default().with_connections(config.db_connections);
    let writer = Writer::spawn(db.clone(), events, options);
    let health = writer.health();
    // Rejected tokens are stored too (with the reason), to see forgery attempts.
    let endpoint = (config.trusted_proxies.into_iter())
        .fold(Endpoint::new(tracker.clone(), sink), Endpoint::with_trusted_proxy)
        .with_forwarded_header(config.forwarded_header)
        .with_rejected_events(true);
    let reference_field = config.conversion_reference.clone().unwrap_or_default();
    let endpoint = match config.conversion_reference {
        Some(parameter) => endpoint.with_conversion_reference(parameter),
        None => endpoint,
    };
    let (overflow, overflow_log) = Overflow::start(Arc::clone(&health), LOG_QUEUE);
    let tracking = Arc::new(Tracking { endpoint, overflow });
    let track = move |peer, request| tracking::track(Arc::clone(&tracking), peer, request);
    let admin = admin::router(Arc::new(Admin {
        keyring: tracker.keyring().clone(),
        reference_field,
        db: db.clone(),
        reader: Mutex::new(Some(reader)),
        health: Arc::clone(&health),
        token_digest: config.admin_token.as_deref().map(admin::digest),
        dashboard_policy: dashboard::content_security_policy(),
    }));
    let limits = Limits {
        header_read_timeout: config.header_read_timeout,
        shutdown_deadline: config.shutdown_deadline,
    };
    let (stop, stopped) = watch::channel(());
    let retention =
        (config.retention).map(|keep| tokio::spawn(retention::purge_periodically(db, keep, stopped.clone())));
    let listeners = [
        tokio::spawn(serve(public, track, limits, stopped.clone())),
        tokio::spawn(serve(admin_listener, routed(admin), limits, stopped)),
    ];
    Ok(Server {
        addr,
        admin_addr,
        tracker,
        health,
        stop,
        listeners,
        retention,
        writer,
        overflow_log,
        grace: config.shutdown_deadline,
    })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })
}

fn local_addr(listener: &TcpListener, addr: SocketAddr) -> Result<SocketAddr, StartError> {
    listener
        .local_addr()
        .map_err(|source| StartError::Listen { addr, source })
}

impl Server {
    /// The address of the tracking listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the admin listener.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// A tracker whose URLs point at this server.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// The counters `/healthz` shows.
    pub fn health(&self) -> HealthReport {
        self.health.report()
    }

    /// Stops accepting connections, finishes the requests in flight (closing what is
    /// left at the shutdown deadline), then waits until the writer has stored every
    /// queued event; if the database is unreachable it keeps trying for the shutdown
    /// deadline, then reports (logs and counts) what it could not store.
    pub async fn shutdown(self) -> std::io::Result<HealthReport> {
        self.stop.send_replace(());
        for listener in self.listeners {
            listener.await.map_err(std::io::Error::other)?;
        }
        if let Some(retention) = self.retention {
            retention.await.map_err(std::io::Error::other)?;
        }
        // The routers, and with them the last sender of the event channel, are gone:
        // the writer drains what is queued and ends.
        let (writer, overflow_log, grace) = (self.writer, self.overflow_log, self.grace);
        tokio::task::spawn_blocking(move || {
            overflow_log.finish();
            writer.finish(grace)
        })
        .await
        .map_err(std::io::Error::other)
    }
}
