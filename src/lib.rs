//! Email click and open tracking with signed, stateless tracking URLs, as a sans-I/O
//! library: it never sends mail, serves HTTP or stores anything itself.
//!
//! **Where to start:** [A short tour](#a-short-tour), below, rewrites a message and
//! handles its click in one page of code. Then, by what you are building:
//!
//! - **Sending mail:** [`rewrite_html`] and [`rewrite_text`] for one recipient, a
//!   [`Template`] compiled once per campaign for bulk sends (module [`rewrite`]).
//! - **The tracking endpoint:** an [`Endpoint`] turns a [`Request`] into a [`Response`]
//!   and hands an [`Event`] to your [`EventSink`] (feature `http`: conversions from and
//!   to the `http` crate's types; [Serving with axum](#serving-with-axum)).
//! - **Keys:** [`Key`] and [`Keyring`], with rotation in module [`key`]; recipient
//!   pseudonyms in [`privacy`].
//! - **Figures:** a [`Report`] folds events into campaign figures (module [`report`]).
//!
//! The rest of this page is the project's README. Its first two commands run in a
//! checkout of the [repository](https://github.com/hashbeacon/hashbeacon).
//!
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod classify;
pub mod conversion;
pub mod endpoint;
pub mod error;
pub mod event;
mod id;
pub mod key;
pub mod link;
#[cfg(feature = "message")]
#[cfg_attr(docsrs, doc(cfg(feature = "message")))]
pub mod message;
mod method;
pub mod pixel;
pub mod privacy;
pub mod report;
#[cfg(feature = "rewrite")]
#[cfg_attr(docsrs, doc(cfg(feature = "rewrite")))]
pub mod rewrite;
#[cfg(feature = "serde")]
mod serde_static;
pub mod short_string;
pub mod sink;
pub mod token;
pub mod unsubscribe;

/// `&'static str` under another name, for the public fields that hold one of the
/// crate's own strings: serde's derive would tie a type whose field is spelled
/// `&'static str` to `Deserialize<'static>` only (see `serde_static`).
type StaticStr = &'static str;

pub use classify::{Signal, Verdict};
pub use conversion::{ClickReference, Conversion, ReferenceParameter};
pub use endpoint::{Endpoint, ForwardedHeader, Handled, Headers, IpNet, RedirectStatus, Request, Response};
pub use error::{ConfigError, HeaderError, KeyError, LinkError, SignError, VerifyError};
pub use event::{Event, EventSink, SinkError, TokenFacts};
pub use key::{Key, KeyId, Keyring};
pub use link::{Tracker, VerifiedClick};
#[cfg(feature = "message")]
pub use message::{MessageOptions, rewrite_message};
pub use method::Method;
pub use privacy::{IpPolicy, Pseudonym, PseudonymKey};
pub use report::Report;
#[cfg(feature = "rewrite")]
pub use rewrite::{
    Message, Options, Recipient, RewriteError, Rewritten, Template, rewrite_html, rewrite_text,
};
pub use short_string::ShortString;
pub use token::{Claims, Kind, LinkId, PreparedToken, Verified};
pub use unsubscribe::{Mailto, UnsubscribeHeaders};
