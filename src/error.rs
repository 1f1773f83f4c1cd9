//! Typed errors, one enum per operation, each saying what was wrong.

use crate::StaticStr;
use crate::id::{KeyId, Kind};

/// A key, key id or keyring could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The secret is shorter than [`crate::key::MIN_SECRET_LEN`] bytes.
    #[error("secret key too short: {len} bytes, at least 32 required")]
    SecretTooShort {
        /// Bytes given.
        len: usize,
    },
    /// The secret is longer than [`crate::key::MAX_SECRET_LEN`] bytes.
    #[error("secret key too long: {len} bytes, at most 64 allowed")]
    SecretTooLong {
        /// Bytes given (approximate for textual input).
        len: usize,
    },
    /// A key id must be 1 to 8 ASCII letters or digits.
    #[error("invalid key id: expected 1 to 8 ASCII letters or digits")]
    InvalidId,
    /// Two keys in one keyring share an id.
    #[error("duplicate key id `{0}` in keyring")]
    DuplicateId(KeyId),
    /// The textual form of a key or keyring is not well formed.
    #[error("malformed key: {0}")]
    Malformed(&'static str),
    /// The text is a key of the other kind: a recipient pseudonym key (`hbp1.…`) where
    /// a signing key (`hbk1.…`) was expected, or the reverse.
    #[error("this is a {found}, not a {expected}")]
    OtherKey {
        /// The key that was expected, e.g. ``"signing key (`hbk1.…`)"``.
        expected: &'static str,
        /// The key that was found.
        found: &'static str,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator is unavailable")]
    Randomness,
}

/// Claims that cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// A campaign id must be 1 to 64 ASCII letters, digits, `-` or `_`.
    #[error("invalid campaign id: expected 1 to 64 ASCII letters, digits, `-` or `_`")]
    InvalidCampaign,
    /// A link label must be an ASCII letter followed by up to 31 letters, digits, `-` or `_`.
    #[error("invalid link label: expected an ASCII letter then up to 31 letters, digits, `-` or `_`")]
    InvalidLinkLabel,
    /// The recipient is not a pseudonym (16 base64url characters).
    #[error("invalid recipient: expected a 16-character pseudonym, never an address")]
    InvalidRecipient,
    /// Open tokens identify a message, not a link.
    #[error("an open token carries no link id")]
    LinkOnOpen,
    /// Open tokens carry no destination.
    #[error("an open token carries no destination")]
    DestinationOnOpen,
    /// An unsubscribe token names the recipient it unsubscribes.
    #[error("an unsubscribe token needs a recipient pseudonym")]
    RecipientRequired,
    /// Unsubscribe tokens carry neither a link id nor a destination; names which was given.
    #[error("an unsubscribe token carries no {0}")]
    NotOnUnsubscribe(&'static str),
    /// The expiry lies before the issue time.
    #[error("expiry lies before the issue time")]
    ExpiresBeforeIssued,
    /// The destination is longer than the format allows.
    #[error("destination too long: {len} bytes, at most {max}")]
    DestinationTooLong {
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Why a token (or tracked URL) did not verify.
///
/// Each variant names the check that failed. Never show these to the client: the
/// endpoint answers a bare 404 and hands the reason to the host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is longer than any valid token; rejected before any other work.
    #[error("token too long: {len} characters, at most {max}")]
    TooLong {
        /// Characters given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The destination is longer than any signed destination.
    #[error("destination too long: {len} bytes, at most {max}")]
    DestinationTooLong {
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The token is not in the token syntax; names the field.
    #[error("malformed token: {0}")]
    Malformed(
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::serde_static::verify_detail")
        )]
        StaticStr,
    ),
    /// The token uses a format version this build does not know.
    #[error("unsupported token version")]
    UnsupportedVersion,
    /// A token of one kind was presented as another (a click token as an open or
    /// unsubscribe token, …).
    #[error("wrong purpose: expected a {expected} token, found a {found} token")]
    WrongPurpose {
        /// The purpose the verifier asked for.
        expected: Kind,
        /// The purpose the token claims.
        found: Kind,
    },
    /// No key in the ring has the token's key id.
    #[error("unknown key id `{0}`")]
    UnknownKey(KeyId),
    /// The MAC does not match: the token or its destination was altered or forged.
    #[error("bad MAC: token or destination altered or forged")]
    BadMac,
    /// The token is authentic but past its expiry (only from [`crate::Verified::fresh`]).
    #[error("token expired at {expires_at}")]
    Expired {
        /// The token's expiry, unix seconds.
        expires_at: u64,
    },
    /// The URL is not a tracking URL of this tracker (wrong prefix or route).
    #[error("not a tracking URL: {0}")]
    NotTracking(
        #[cfg_attr(
            feature = "serde",
            serde(deserialize_with = "crate::serde_static::verify_detail")
        )]
        StaticStr,
    ),
}

/// A tracker could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The tracking base URL is unusable; says why.
    #[error("invalid tracking base URL: {0}")]
    BaseUrl(&'static str),
    /// A trusted-proxy network is not `address` or `address/prefix-length`; says why.
    #[error("invalid network: {0}")]
    Network(&'static str),
    /// A conversion reference's query parameter name must be 1 to 32 ASCII letters,
    /// digits, `-`, `.`, `_` or `~`.
    #[error("invalid reference parameter name: expected 1 to 32 ASCII letters, digits, `-`, `.`, `_` or `~`")]
    ReferenceParameter,
    /// A forwarding header setting is not one of the names the setting knows.
    #[error("invalid forwarded header: expected `x-forwarded-for`, `forwarded` or `both-must-agree`")]
    ForwardedHeader,
}

/// One-click unsubscribe headers could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The `mailto:` address is not one that stands safely in a URL and a header; says why.
    #[error("invalid unsubscribe mailto address: {0}")]
    Mailto(&'static str),
    /// The unsubscribe URL is not an http(s) URL of visible ASCII without `<`, `>` or `,`.
    #[error("the unsubscribe URL cannot stand in a List-Unsubscribe header")]
    Url,
    /// A header line would pass RFC 5322's limit (a very long base URL).
    #[error("header line too long: {len} characters, at most {max}")]
    LineTooLong {
        /// The line's length, without its CRLF.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The unsubscribe URL could not be signed.
    #[error(transparent)]
    Link(#[from] LinkError),
}

impl From<SignError> for HeaderError {
    fn from(error: SignError) -> Self {
        HeaderError::Link(LinkError::Sign(error))
    }
}

/// A tracked URL could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// Only absolute `http` and `https` URLs are tracked.
    #[error("not an absolute http(s) URL")]
    NotHttp,
    /// The destination contains ASCII control characters or whitespace a browser would strip.
    #[error("destination contains control characters")]
    ControlCharacters,
    /// The claims are of another kind than the URL being built.
    #[error("expected {expected} claims, found {found} claims")]
    WrongKind {
        /// The kind the URL needs.
        expected: Kind,
        /// The kind the claims have.
        found: Kind,
    },
    /// The claims cannot be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
}
