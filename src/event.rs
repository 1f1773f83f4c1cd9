//! Tracking events and the [`EventSink`] trait they are handed to.
//!
//! An [`Event`] owns all its data (`'static`), so a sink can move it to another thread
//! or task. Sinks must not block: the reader's redirect waits on
//! [`EventSink::record`], so a sink hands the event off (see [`crate::sink`]) and
//! returns; when it cannot, it returns the event inside a [`SinkError`] and the
//! endpoint passes that to the host.
//!
//! # Serialization
//!
//! With the `serde` feature, [`Event`] and everything in it is `Serialize` and
//! `Deserialize`, so a sink writes an event as JSON (or any serde format) in one line.
//! These names are stable: a field or variant is renamed only with a major version.
//!
//! - [`Event`]: `kind`, `implied`, `token`, `received_at`, `method`, `user_agent`,
//!   `client_ip` (text), `verdict`.
//! - `token`: `{"accepted": TokenFacts}` or `{"rejected": VerifyError}`.
//! - [`TokenFacts`]: `campaign`, `link` (a number for a position, text for a label),
//!   `recipient`, `issued_at`, `expires_at`, `expired`, `key_id` (text).
//! - Enums are written in `snake_case`, as serde writes them: [`Kind`] `"click"` or
//!   `"open"`; [`Method`] `"GET"` or `"HEAD"`; [`Verdict`] `"human"` or
//!   `{"scanner": Signal}` (also `proxied`, `prefetch`); [`Signal`](crate::Signal) `"head_request"` or
//!   `{"http_library": "curl"}`; [`VerifyError`] `"bad_mac"`, `{"malformed": "key id"}`,
//!   `{"too_long": {"len": 300, "max": 200}}`, ….
//!
//! A detail that is one of this crate's own strings (a rejection's detail, a scanner's
//! name) is read back only if this build knows it; an unknown one is an error, never a
//! guess.
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use hashbeacon::{Kind, Verdict, VerifyError};
//! assert_eq!(serde_json::to_string(&Kind::Click)?, r#""click""#);
//! assert_eq!(serde_json::to_string(&VerifyError::BadMac)?, r#""bad_mac""#);
//! let verdict: Verdict = serde_json::from_str(r#"{"scanner":"head_request"}"#)?;
//! assert!(!verdict.is_person());
//! # }
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::error::Error;
use std::net::IpAddr;
use std::sync::Arc;

use crate::classify::Verdict;
use crate::error::VerifyError;
use crate::key::KeyId;
use crate::method::Method;
use crate::short_string::ShortString;
use crate::token::{Kind, LinkId, Verified};

/// Most bytes of a `User-Agent` an event keeps. Real browsers send 100 to 300 bytes; a
/// longer header is cut here (at a character boundary), so a client cannot make every
/// stored event or log line as large as the header limit of the server in front.
pub const MAX_USER_AGENT_LEN: usize = 512;

/// One tracked request: a click, an open or an unsubscribe, verified or rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Event {
    /// Click, open or unsubscribe.
    pub kind: Kind,
    /// An open recorded because its message was clicked (the endpoint's
    /// click-implies-open option), not because the pixel was loaded.
    pub implied: bool,
    /// The authenticated token's facts, or why the token was rejected. Rejected
    /// requests produce events only when the endpoint is told to record them.
    #[cfg_attr(feature = "serde", serde(with = "token_outcome"))]
    pub token: Result<TokenFacts, VerifyError>,
    /// When the request arrived, unix seconds.
    pub received_at: u64,
    /// `GET` or `HEAD`; `POST` for a one-click unsubscribe.
    pub method: Method,
    /// The `User-Agent` header, if any, cut to at most [`MAX_USER_AGENT_LEN`] bytes at
    /// a character boundary (see [`stored_user_agent`]).
    pub user_agent: Option<String>,
    /// The client's address after trusted-proxy resolution and the IP policy
    /// (truncated by default; `None` when dropped or unknown).
    pub client_ip: Option<IpAddr>,
    /// Who made the request.
    pub verdict: Verdict,
}

/// An event's token as `{"accepted": {…facts}}` or `{"rejected": …reason}`.
#[cfg(feature = "serde")]
mod token_outcome {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{TokenFacts, VerifyError};

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Written<'a> {
        Accepted(&'a TokenFacts),
        Rejected(&'a VerifyError),
    }

    // Read and taken apart at once: boxing the larger variant would buy nothing.
    #[allow(clippy::large_enum_variant)]
    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Read {
        Accepted(TokenFacts),
        Rejected(VerifyError),
    }

    pub(super) fn serialize<S: Serializer>(
        token: &Result<TokenFacts, VerifyError>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match token {
            Ok(facts) => Written::Accepted(facts),
            Err(error) => Written::Rejected(error),
        }
        .serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Result<TokenFacts, VerifyError>, D::Error> {
        Ok(match Read::deserialize(deserializer)? {
            Read::Accepted(facts) => Ok(facts),
            Read::Rejected(error) => Err(error),
        })
    }
}

/// The part of a `User-Agent` an event stores: at most [`MAX_USER_AGENT_LEN`] bytes,
/// cut at the last character boundary at or before the limit, so it stays valid UTF-8.
///
/// ```
/// use hashbeacon::event::{MAX_USER_AGENT_LEN, stored_user_agent};
/// assert_eq!(stored_user_agent("curl/8.5.0"), "curl/8.5.0");
/// let long = "é".repeat(MAX_USER_AGENT_LEN); // two bytes each
/// assert_eq!(stored_user_agent(&long).len(), MAX_USER_AGENT_LEN);
/// let odd = format!("x{long}");
/// assert_eq!(stored_user_agent(&odd).len(), MAX_USER_AGENT_LEN - 1);
/// ```
pub fn stored_user_agent(user_agent: &str) -> &str {
    let mut end = user_agent.len().min(MAX_USER_AGENT_LEN);
    while !user_agent.is_char_boundary(end) {
        end -= 1;
    }
    user_agent.get(..end).unwrap_or_default()
}

impl Event {
    /// Whether the token was rejected (forged, tampered, unknown key, …).
    pub fn is_rejected(&self) -> bool {
        self.token.is_err()
    }

    /// Whether the token was authentic but past its expiry.
    pub fn is_expired(&self) -> bool {
        self.token.as_ref().is_ok_and(|token| token.expired)
    }
}

/// What an authenticated token said.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct TokenFacts {
    /// Campaign id (stored inline: no allocation).
    pub campaign: ShortString,
    /// The link clicked (clicks only).
    pub link: Option<Link>,
    /// The recipient's pseudonym, if the token carries one (stored inline).
    pub recipient: Option<ShortString>,
    /// When the token was issued, unix seconds.
    pub issued_at: u64,
    /// The token's expiry, if any, unix seconds.
    pub expires_at: Option<u64>,
    /// Whether the request came at or after the expiry. An expired click still
    /// redirects: the destination is authentic.
    pub expired: bool,
    /// The key that signed the token.
    pub key_id: KeyId,
}

impl From<&Verified<'_>> for TokenFacts {
    fn from(verified: &Verified<'_>) -> Self {
        let claims = &verified.claims;
        Self {
            campaign: ShortString::from(claims.campaign),
            link: claims.link.map(Link::from),
            recipient: claims.recipient.map(ShortString::from),
            issued_at: claims.issued_at,
            expires_at: claims.expires_at,
            expired: verified.expired,
            key_id: verified.key_id,
        }
    }
}

/// An owned [`LinkId`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(untagged))]
pub enum Link {
    /// Zero-based position among the message's tracked links.
    Index(u32),
    /// An author label (stored inline).
    Label(ShortString),
}

impl From<LinkId<'_>> for Link {
    fn from(link: LinkId<'_>) -> Self {
        match link {
            LinkId::Index(index) => Link::Index(index),
            LinkId::Label(label) => Link::Label(ShortString::from(label)),
        }
    }
}

/// The link id an owned link stands for, borrowing its label.
///
/// ```
/// use hashbeacon::LinkId;
/// use hashbeacon::event::Link;
/// assert_eq!(LinkId::from(&Link::Index(3)), LinkId::Index(3));
/// ```
impl<'a> From<&'a Link> for LinkId<'a> {
    fn from(link: &'a Link) -> Self {
        match link {
            Link::Index(index) => LinkId::Index(*index),
            Link::Label(label) => LinkId::Label(label),
        }
    }
}

impl std::fmt::Display for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::Index(index) => write!(f, "{index}"),
            Link::Label(label) => f.write_str(label),
        }
    }
}

/// Where events go. Object-safe, `Send + Sync`, takes `&self`: one sink serves every
/// request thread.
///
/// `record` runs on the request path, before the response is written, so it must not
/// block or wait on storage: hand the event off and return. When that fails, return
/// the event in the error; [`crate::Endpoint::handle`] still answers the reader and
/// gives the error to the host.
///
/// ```
/// use hashbeacon::{Event, EventSink, SinkError};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// /// Counts clicks per process; a real sink would hand events to storage.
/// struct ClickCounter(AtomicU64);
///
/// impl EventSink for ClickCounter {
///     fn record(&self, event: Event) -> Result<(), SinkError> {
///         if event.kind == hashbeacon::Kind::Click {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///         Ok(())
///     }
/// }
/// let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(ClickCounter(AtomicU64::new(0)))];
/// # assert_eq!(sinks.len(), 1);
/// ```
pub trait EventSink: Send + Sync {
    /// Takes one event. Must not block.
    fn record(&self, event: Event) -> Result<(), SinkError>;
}

impl<T: EventSink + ?Sized> EventSink for &T {
    fn record(&self, event: Event) -> Result<(), SinkError> {
        (**self).record(event)
    }
}

impl<T: EventSink + ?Sized> EventSink for Box<T> {
    fn record(&self, event: Event) -> Result<(), SinkError> {
        (**self).record(event)
    }
}

impl<T: EventSink + ?Sized> EventSink for Arc<T> {
    fn record(&self, event: Event) -> Result<(), SinkError> {
        (**self).record(event)
    }
}

/// A sink could not take an event. Every variant gives the event back, so the host
/// can retry or log it: nothing is lost silently.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// A bounded channel is full: its consumer is not keeping up.
    #[error("event channel is full: the consumer is not keeping up")]
    Full(Box<Event>),
    /// A channel's receiving end was dropped.
    #[error("event channel is closed: its receiver was dropped")]
    Closed(Box<Event>),
    /// A custom sink failed.
    #[error("event sink failed: {source}")]
    Failed {
        /// The event that was not recorded.
        event: Box<Event>,
        /// What went wrong.
        source: Box<dyn Error + Send + Sync>,
    },
    /// Several sinks failed (a fan-out, or a click and its implied open).
    #[error("{} event sinks failed", .0.len())]
    Several(Vec<SinkError>),
}

impl SinkError {
    /// A custom sink's failure, carrying the event back.
    pub fn failed(event: Event, source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        SinkError::Failed {
            event: Box::new(event),
            source: source.into(),
        }
    }

    /// The events that were not recorded, for a retry.
    pub fn into_events(self) -> Vec<Event> {
        match self {
            SinkError::Full(event) | SinkError::Closed(event) | SinkError::Failed { event, .. } => {
                vec![*event]
            }
            SinkError::Several(errors) => errors.into_iter().flat_map(SinkError::into_events).collect(),
        }
    }

    /// Joins two outcomes: `None` if neither failed, one error, or [`SinkError::Several`].
    pub(crate) fn join(first: Option<SinkError>, second: Option<SinkError>) -> Option<SinkError> {
        match (first, second) {
            (None, error) | (error, None) => error,
            (Some(SinkError::Several(mut errors)), Some(error)) => {
                errors.push(error);
                Some(SinkError::Several(errors))
            }
            (Some(first), Some(second)) => Some(SinkError::Several(vec![first, second])),
        }
    }
}
