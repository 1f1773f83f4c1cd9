#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod key;
pub mod link;
pub mod privacy;
pub mod rewrite;
pub mod token;

pub use error::{ConfigError, KeyError, LinkError, SignError, VerifyError};
pub use key::{Key, KeyId, Keyring};
pub use link::{Tracker, VerifiedClick};
pub use privacy::{IpPolicy, Pseudonym, PseudonymKey};
pub use rewrite::{
    Message, Options, Recipient, RewriteError, Rewritten, Template, rewrite_html, rewrite_text,
};
pub use token::{Claims, Kind, LinkId, PreparedToken, Verified};
