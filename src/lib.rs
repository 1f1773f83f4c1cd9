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
pub mod short_string;
pub mod sink;
pub mod token;
pub mod unsubscribe;

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
