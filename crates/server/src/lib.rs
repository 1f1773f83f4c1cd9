//! The hashbeacon tracking server: the `hashbeacon-server` binary, and the same server
//! as a library for hosts (and tests) that run it in-process.
//!
//! Two listeners:
//!
//! - the **tracking** listener (`--addr`), open to the internet, answers only the
//!   tracker's `{base}/c/…`, `{base}/o/….gif` and `{base}/u/…` (one-click
//!   unsubscribe) URLs;
//! - the **admin** listener (`--admin-addr`, loopback by default) answers
//!   `GET /stats?campaign=ID`, `GET /dashboard?campaign=ID`,
//!   `GET /unsubscribes?since=ID`, `GET /healthz` and `POST /conversion`, optionally
//!   behind a bearer token.
//!
//! Events go through a [`hashbeacon::sink::ChannelSink`], which never blocks the
//! reader's response, to [`hashbeacon_store`]'s batching writer, which stores them in
//! SQLite or PostgreSQL with the rollups that `/stats` and `/dashboard` read. While
//! the database is unreachable the writer keeps the events and tries again; whatever
//! could not be stored is logged event by event, counted, and shown by `/healthz`.
//!
//! ```no_run
//! # async fn run(keyring: hashbeacon::Keyring) -> Result<(), Box<dyn std::error::Error>> {
//! let config = hashbeacon_server::Config::new(([127, 0, 0, 1], 0).into(), keyring, "events.db");
//! let server = hashbeacon_server::start(config).await?;
//! println!("tracking on {}, admin on {}", server.addr(), server.admin_addr());
//! let health = server.shutdown().await?;
//! assert_eq!(health.status, "ok");
//! # Ok(()) }
//! ```

mod admin;
pub mod cli;
mod config;
mod dashboard;
mod figures;
mod log;
mod overflow;
mod retention;
mod serve;
mod server;
mod tracking;

pub use config::{Config, DEFAULT_QUEUE};
pub use hashbeacon_store::HealthReport;
pub use log::log;
pub use server::{Server, StartError, start};
