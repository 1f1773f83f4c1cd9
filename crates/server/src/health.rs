//! Counters of what became of the events, as `/healthz` shows them.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use hashbeacon::Event;
use serde::{Deserialize, Serialize};

pub(crate) fn count(events: &[Event]) -> u64 {
    u64::try_from(events.len()).unwrap_or(u64::MAX)
}

/// Counters of what became of the events.
#[derive(Debug, Default)]
pub(crate) struct Health {
    pub(crate) stored: AtomicU64,
    /// The database write failed.
    pub(crate) not_stored: AtomicU64,
    /// The queue was full or closed.
    pub(crate) not_queued: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Health {
    /// Reports events that could not be stored: one log line each, so they can be
    /// recovered from the log, and a count.
    pub(crate) fn lost(&self, counter: &AtomicU64, events: &[Event], error: &dyn Display) {
        for event in events {
            eprintln!("hashbeacon: event not stored ({error}): {}", describe(event));
        }
        counter.fetch_add(count(events), Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
    }

    pub(crate) fn report(&self) -> HealthReport {
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
pub struct HealthReport {
    /// `ok`, or `degraded` once any event could not be stored.
    pub status: String,
    /// Events written to the database.
    pub events_stored: u64,
    /// Events whose database write failed (each logged).
    pub events_not_stored: u64,
    /// Events the queue could not take, full or closed (each logged).
    pub events_not_queued: u64,
    /// The latest storage error.
    pub last_error: Option<String>,
}
