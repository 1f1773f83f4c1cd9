//! What the server needs to start.

use std::net::SocketAddr;
use std::time::Duration;

use hashbeacon::{ForwardedHeader, IpNet, Keyring, ReferenceParameter};

/// Most events waiting for the writer; beyond that an event is reported, not queued.
pub const DEFAULT_QUEUE: usize = 10_000;

/// The server's configuration. [`Config::new`] fills in the defaults.
#[derive(Debug)]
#[non_exhaustive]
pub struct Config {
    /// The public tracking listener; port 0 picks a free port.
    pub addr: SocketAddr,
    /// The admin listener (`/stats`, `/dashboard`, `/unsubscribes`, `/healthz`, `POST
    /// /conversion`): loopback by default, so figures, unsubscribes and conversions are
    /// never open to the internet.
    pub admin_addr: SocketAddr,
    /// When set, every admin request needs `Authorization: Bearer <token>`.
    pub admin_token: Option<String>,
    /// The keys to verify tokens with (the first one also signs, for [`crate::Server::tracker`]).
    pub keyring: Keyring,
    /// Where events go: a SQLite file path (created if missing) or a `postgres://` URL.
    pub db: String,
    /// The path prefix of the tracking URLs: `""` or e.g. `"/hb"`.
    pub base_path: String,
    /// Most events waiting for the writer.
    pub queue: usize,
    /// Proxies whose `Forwarded` / `X-Forwarded-For` say who the client is.
    pub trusted_proxies: Vec<IpNet>,
    /// Which forwarding header the trusted proxies write; the default reads both and
    /// records an address only when they agree.
    pub forwarded_header: ForwardedHeader,
    /// Append a signed click reference to redirects under this parameter, for
    /// conversion attribution; `None` (the default) leaves destinations as written.
    pub conversion_reference: Option<ReferenceParameter>,
    /// A connection that has not sent a whole request head within this time is closed,
    /// so half-sent requests hold no connection for long and never block shutdown.
    pub header_read_timeout: Duration,
    /// How long shutdown waits for requests in flight before it closes their
    /// connections, and then for an unreachable database to take the queued events.
    pub shutdown_deadline: Duration,
    /// Delete raw events (and raw conversions) older than this, hourly; the rollups,
    /// and so the figures, stay. `None` (the default) keeps raw rows forever.
    pub retention: Option<Duration>,
    /// How many PostgreSQL connections store events at once (SQLite: always one):
    /// see [`hashbeacon_store::WriterOptions::connections`].
    pub db_connections: usize,
}

impl Config {
    /// A configuration with the admin listener on loopback (a free port when `addr`'s
    /// port is 0, else 8081), no token, no path prefix, and the default limits.
    pub fn new(addr: SocketAddr, keyring: Keyring, db: impl Into<String>) -> Self {
        let admin_port = if addr.port() == 0 { 0 } else { 8081 };
        Self {
            addr,
            admin_addr: ([127, 0, 0, 1], admin_port).into(),
            admin_token: None,
            keyring,
            db: db.into(),
            base_path: String::new(),
            queue: DEFAULT_QUEUE,
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
            conversion_reference: None,
            header_read_timeout: Duration::from_secs(10),
            shutdown_deadline: Duration::from_secs(30),
            retention: None,
            db_connections: 1,
        }
    }
}
