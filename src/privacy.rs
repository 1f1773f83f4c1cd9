//! Privacy: recipient pseudonyms and client-IP truncation.
//!
//! A tracking URL never carries an email address. It carries a [`Pseudonym`]: the
//! first 96 bits of HMAC-SHA256 of the normalized address under a [`PseudonymKey`]
//! that is separate from the token keys, in 16 base64url characters. The host can
//! recompute a pseudonym from an address it already has; nobody without the key can
//! go the other way or test guesses.
//!
//! Address normalization: surrounding whitespace is removed and the address is
//! lowercased (Unicode lowercase), so `" Ada@Example.COM "` and `"ada@example.com"` map
//! to one pseudonym. Nothing else is changed: no dot or `+tag` stripping, which is
//! provider-specific and would merge distinct mailboxes.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine as _;
use hmac::Mac;
use zeroize::Zeroizing;

use crate::error::{KeyError, SignError};
#[cfg(feature = "keygen")]
use crate::key::random_secret;
use crate::key::{B64, HmacSha256, decode_secret, keyed_state};
use crate::token::{PSEUDONYM_LEN, is_pseudonym};

const PSEUDONYM_LABEL: &[u8] = b"hashbeacon/v1/recipient\0";
const PSEUDONYM_KEY_PREFIX: &str = "hbp1.";

/// The key recipient pseudonyms are computed with. Keep it stable: a new key gives every
/// recipient a new pseudonym.
///
/// ```
/// use hashbeacon::PseudonymKey;
/// let key = PseudonymKey::new(&[9u8; 32])?;
/// let a = key.pseudonym(" Ada@Example.com ");
/// assert_eq!(a, key.pseudonym("ada@example.com"));
/// assert_eq!(a.as_str().len(), 16);
/// assert!(!a.as_str().contains("ada"));
/// # Ok::<(), hashbeacon::KeyError>(())
/// ```
#[derive(Clone)]
pub struct PseudonymKey {
    secret: Zeroizing<Vec<u8>>,
    mac: HmacSha256,
}

impl PseudonymKey {
    /// Builds a pseudonym key from 32 to 64 secret bytes.
    pub fn new(secret: &[u8]) -> Result<Self, KeyError> {
        let mut mac = keyed_state(secret)?;
        mac.update(PSEUDONYM_LABEL);
        Ok(Self {
            secret: Zeroizing::new(secret.to_vec()),
            mac,
        })
    }

    /// Generates a new 32-byte pseudonym key from the operating system's RNG.
    #[cfg(feature = "keygen")]
    #[cfg_attr(docsrs, doc(cfg(feature = "keygen")))]
    pub fn generate() -> Result<Self, KeyError> {
        Self::new(random_secret()?.as_ref())
    }

    /// The textual form `hbp1.<secret as unpadded base64url>`. Store it like a password.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut out = String::from(PSEUDONYM_KEY_PREFIX);
        B64.encode_string(self.secret.as_slice(), &mut out);
        Zeroizing::new(out)
    }

    /// Parses the form written by [`PseudonymKey::to_text`], ignoring surrounding whitespace.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let encoded = text
            .trim()
            .strip_prefix(PSEUDONYM_KEY_PREFIX)
            .ok_or(KeyError::Malformed(
                "expected a pseudonym key starting with `hbp1.`",
            ))?;
        Self::new(&decode_secret(encoded)?)
    }

    /// The pseudonym of an email address (normalized as the module docs describe).
    pub fn pseudonym(&self, address: &str) -> Pseudonym {
        let normalized = address.trim().to_lowercase();
        let mut mac = self.mac.clone();
        mac.update(normalized.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut text = String::with_capacity(PSEUDONYM_LEN);
        B64.encode_string(digest.get(..PSEUDONYM_LEN / 4 * 3).unwrap_or_default(), &mut text);
        Pseudonym(text)
    }
}

impl FromStr for PseudonymKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::from_text(s)
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PseudonymKey")
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A recipient pseudonym: 16 base64url characters that stand for one address.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Pseudonym(String);

impl Pseudonym {
    /// The pseudonym as text, as it appears in tokens.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Pseudonym {
    type Err = SignError;
    /// Accepts a pseudonym computed earlier (16 base64url characters).
    fn from_str(s: &str) -> Result<Self, SignError> {
        if is_pseudonym(s.as_bytes()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(SignError::InvalidRecipient)
        }
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How much of a client's IP address an event keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IpPolicy {
    /// The whole address.
    Keep,
    /// IPv4 to its /24 network, IPv6 to its /48 network (the default): enough to tell
    /// networks and rough location apart, not enough to single out a household.
    #[default]
    Truncate,
    /// No address at all.
    Drop,
}

impl IpPolicy {
    /// Applies the policy to an address.
    ///
    /// ```
    /// use hashbeacon::IpPolicy;
    /// use std::net::IpAddr;
    /// let ip: IpAddr = "203.0.113.77".parse()?;
    /// assert_eq!(IpPolicy::Truncate.apply(ip), Some("203.0.113.0".parse()?));
    /// let ip6: IpAddr = "2001:db8:abcd:12::1".parse()?;
    /// assert_eq!(IpPolicy::Truncate.apply(ip6), Some("2001:db8:abcd::".parse()?));
    /// assert_eq!(IpPolicy::Drop.apply(ip), None);
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn apply(self, ip: IpAddr) -> Option<IpAddr> {
        match self {
            IpPolicy::Keep => Some(ip),
            IpPolicy::Drop => None,
            // An IPv4-mapped IPv6 address is truncated as the IPv4 address it is.
            IpPolicy::Truncate => Some(match ip.to_canonical() {
                IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & 0xFFFF_FF00).into()),
                IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 80) - 1)).into()),
            }),
        }
    }
}
