#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod key;
pub mod link;
pub mod privacy;
pub mod token;

pub use error::{ConfigError, KeyError, LinkError, SignError, VerifyError};
pub use key::{Key, KeyId, Keyring};
pub use link::{Tracker, VerifiedClick};
pub use privacy::{IpPolicy, Pseudonym, PseudonymKey};
pub use token::{Claims, Kind, LinkId, PreparedToken, Verified};
