//! Starting and stopping the server: the store, the writer, the two listeners.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use hashbeacon::sink::ChannelSink;
use hashbeacon::{ConfigError, Endpoint, Event, Tracker};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{self, Admin};
use crate::config::Config;
use crate::dashboard;
use crate::health::{Health, HealthReport, count};
use crate::serve::{Limits, serve};
use crate::store::{OpenError, Store};
use crate::tracking::{self, Tracking};

/// Most events the writer puts in one transaction.
const MAX_BATCH: usize = 1_000;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The database cannot be opened or set up.
    #[error("database {db}: {source}")]
    Database {
        /// The database as configured.
        db: String,
        /// What the database said.
        source: OpenError,
    },
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
    writer: std::thread::JoinHandle<()>,
}

/// Starts the server: opens the database, binds both addresses, starts the writer
/// thread and serves on the current tokio runtime.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let database = |source| StartError::Database {
        db: config.db.clone(),
        source,
    };
    let path = PathBuf::from(&config.db);
    let writer_store = Store::open(&path).map_err(database)?;
    let reader_store = Store::open(&path).map_err(database)?;
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
    let health = Arc::new(Health::default());
    let writer = {
        let health = Arc::clone(&health);
        std::thread::spawn(move || write_events(writer_store, &events, &health))
    };
    // Rejected tokens are stored too (with the reason), to see forgery attempts.
    let endpoint = (config.trusted_proxies.into_iter())
        .fold(Endpoint::new(tracker.clone(), sink), Endpoint::with_trusted_proxy)
        .with_rejected_events(true);
    let reference_field = config.conversion_reference.clone().unwrap_or_default();
    let endpoint = match config.conversion_reference {
        Some(parameter) => endpoint.with_conversion_reference(parameter),
        None => endpoint,
    };
    let tracking = tracking::router(Arc::new(Tracking {
        endpoint,
        health: Arc::clone(&health),
    }));
    let admin = admin::router(Arc::new(Admin {
        keyring: tracker.keyring().clone(),
        reference_field,
        reader: Mutex::new(reader_store),
        health: Arc::clone(&health),
        token_digest: config.admin_token.as_deref().map(admin::digest),
        dashboard_policy: dashboard::content_security_policy(),
    }));
    let limits = Limits {
        header_read_timeout: config.header_read_timeout,
        shutdown_deadline: config.shutdown_deadline,
    };
    let (stop, stopped) = watch::channel(());
    let listeners = [
        tokio::spawn(serve(public, tracking, limits, stopped.clone())),
        tokio::spawn(serve(admin_listener, admin, limits, stopped)),
    ];
    Ok(Server {
        addr,
        admin_addr,
        tracker,
        health,
        stop,
        listeners,
        writer,
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
    /// left at the shutdown deadline), then waits until the writer has stored (or
    /// reported) every queued event.
    pub async fn shutdown(self) -> std::io::Result<HealthReport> {
        self.stop.send_replace(());
        for listener in self.listeners {
            listener.await.map_err(std::io::Error::other)?;
        }
        // The routers, and with them the last sender of the event channel, are gone:
        // the writer drains what is queued and ends.
        let writer = self.writer;
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .map_err(std::io::Error::other)?
            .map_err(|_| std::io::Error::other("the event writer panicked"))?;
        Ok(self.health.report())
    }
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
