#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod classify;
pub mod conversion;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod key;
pub mod link;
pub mod pixel;
pub mod privacy;
pub mod report;
pub mod rewrite;
pub mod sink;
pub mod token;
pub mod unsubscribe;

pub use classify::{Signal, Verdict};
pub use conversion::{ClickReference, Conversion, ReferenceParameter};
pub use endpoint::{Endpoint, Handled, IpNet, Method, RedirectStatus, Request, Response};
pub use error::{ConfigError, HeaderError, KeyError, LinkError, SignError, VerifyError};
pub use event::{Event, EventSink, SinkError, TokenFacts};
pub use key::{Key, KeyId, Keyring};
pub use link::{Tracker, VerifiedClick};
pub use privacy::{IpPolicy, Pseudonym, PseudonymKey};
pub use report::Report;
pub use rewrite::{
    Message, Options, Recipient, RewriteError, Rewritten, Template, rewrite_html, rewrite_text,
};
pub use token::{Claims, Kind, LinkId, PreparedToken, Verified};
pub use unsubscribe::{Mailto, UnsubscribeHeaders};
