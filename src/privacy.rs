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
use crate::key::{
    B64, HmacSha256, KEY_TEXT_PREFIX, PSEUDONYM_KEY_NAME, PSEUDONYM_KEY_PREFIX, SIGNING_KEY_NAME,
    decode_secret, keyed_state,
};
use crate::token::{PSEUDONYM_LEN, is_pseudonym};

const PSEUDONYM_LABEL: &[u8] = b"hashbeacon/v1/recipient\0";

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
        let text = text.trim();
        if text.starts_with(KEY_TEXT_PREFIX) {
            return Err(KeyError::OtherKey {
                expected: PSEUDONYM_KEY_NAME,
                found: SIGNING_KEY_NAME,
            });
        }
        let encoded = text
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
    ///
    /// An IPv6 address that carries an IPv4 address keeps that address to its /24 and
    /// nothing else of it: IPv4-mapped (`::ffff:a.b.c.d`, truncated as the IPv4 address
    /// it is), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`), 6to4
    /// (`2002:AABB:CCDD::/48`, subnet and interface dropped) and Teredo
    /// (`2001:0::/32`: the obfuscated client address in the last 32 bits is kept to its
    /// /24, still obfuscated; server, flags and port are dropped).
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
    /// // 6to4 for 203.0.113.7: the embedded address goes to its /24 too.
    /// let six_to_four: IpAddr = "2002:cb00:7107::1234".parse()?;
    /// assert_eq!(IpPolicy::Truncate.apply(six_to_four), Some("2002:cb00:7100::".parse()?));
    /// assert_eq!(IpPolicy::Drop.apply(ip), None);
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn apply(self, ip: IpAddr) -> Option<IpAddr> {
        match self {
            IpPolicy::Keep => Some(ip),
            IpPolicy::Drop => None,
            // An IPv4-mapped IPv6 address is truncated as the IPv4 address it is.
            IpPolicy::Truncate => Some(match ip.to_canonical() {
                IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) & IPV4_NETWORK).into()),
                IpAddr::V6(v6) => IpAddr::V6(truncate_v6(u128::from(v6)).into()),
            }),
        }
    }
}

/// The /24 network of an IPv4 address.
const IPV4_NETWORK: u32 = 0xFFFF_FF00;

/// The NAT64 well-known prefix `64:ff9b::/96` (RFC 6052), shifted down 32 bits.
const NAT64_PREFIX: u128 = 0x0064_ff9b_0000_0000_0000_0000;
/// The 6to4 prefix `2002::/16` (RFC 3056), shifted down 112 bits.
const SIX_TO_FOUR_PREFIX: u128 = 0x2002;
/// The Teredo prefix `2001:0::/32` (RFC 4380), shifted down 96 bits.
const TEREDO_PREFIX: u128 = 0x2001_0000;

/// Truncates an IPv6 address (not IPv4-mapped) to its /48, or to its prefix and the
/// /24 of the IPv4 address it embeds.
fn truncate_v6(bits: u128) -> u128 {
    let low_network = u128::from(IPV4_NETWORK);
    if bits >> 32 == 0 || bits >> 32 == NAT64_PREFIX {
        // IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`: the IPv4 address is
        // the last 32 bits.
        bits & !0xFF
    } else if bits >> 112 == SIX_TO_FOUR_PREFIX {
        // `2002:AABB:CCDD:subnet:interface`: the prefix and the address's first 24 bits.
        bits & !((1u128 << 88) - 1)
    } else if bits >> 96 == TEREDO_PREFIX {
        // `2001:0:server:flags:port:client`, the client address inverted: its /24 is
        // the inverse with the low byte all ones.
        (bits & (u128::from(u32::MAX) << 96)) | (bits & low_network) | 0xFF
    } else {
        bits & !((1u128 << 80) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn truncated(ip: &str) -> String {
        IpPolicy::Truncate.apply(ip.parse().unwrap()).unwrap().to_string()
    }

    #[test]
    fn embedded_ipv4_addresses_keep_only_their_24() {
        for (ip, expected) in [
            ("203.0.113.77", "203.0.113.0"),
            ("::ffff:203.0.113.77", "203.0.113.0"),
            ("::203.0.113.77", "::cb00:7100"),
            ("64:ff9b::203.0.113.77", "64:ff9b::cb00:7100"),
            // 6to4 for 203.0.113.7, from the review.
            ("2002:cb00:7107::1234", "2002:cb00:7100::"),
            ("2002:cb00:7107:abcd:1:2:3:4", "2002:cb00:7100::"),
            // RFC 4380's example: server 65.54.227.120, client 192.0.2.45 port 40000.
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::3fff:fdff"),
            ("2001:db8:abcd:12::1", "2001:db8:abcd::"),
            ("2001:1::1", "2001:1::"),
            ("::1", "::"),
        ] {
            assert_eq!(truncated(ip), expected, "{ip}");
        }
    }

    fn low(bits: u128) -> u32 {
        (bits & 0xFFFF_FFFF) as u32
    }

    fn six_to_four_v4(bits: u128) -> u32 {
        low(bits >> 80)
    }

    fn teredo_client(bits: u128) -> u32 {
        !low(bits)
    }

    /// An address's bits, and how to read its embedded IPv4 address back.
    type Embedding = (u128, fn(u128) -> u32);

    /// Addresses embedding `v4` (IPv4-compatible, NAT64, 6to4, Teredo) with arbitrary
    /// other bits from `rest`.
    fn embeddings(v4: Ipv4Addr, rest: u128) -> [Embedding; 4] {
        let v4 = u128::from(u32::from(v4));
        [
            (v4, low),
            ((NAT64_PREFIX << 32) | v4, low),
            (
                (SIX_TO_FOUR_PREFIX << 112) | (v4 << 80) | (rest & ((1 << 80) - 1)),
                six_to_four_v4,
            ),
            (
                (TEREDO_PREFIX << 96) | (rest & (u128::from(u64::MAX) << 32)) | (!v4 & 0xFFFF_FFFF),
                teredo_client,
            ),
        ]
    }

    proptest::proptest! {
        #[test]
        fn truncation_keeps_the_24_of_any_embedded_ipv4(v4: Ipv4Addr, rest: u128) {
            let network = u32::from(v4) & IPV4_NETWORK;
            for (bits, embedded) in embeddings(v4, rest) {
                let address = IpAddr::V6(Ipv6Addr::from(bits));
                let Some(IpAddr::V6(out)) = IpPolicy::Truncate.apply(address) else {
                    return Err(proptest::test_runner::TestCaseError::fail("not IPv6"));
                };
                let out = u128::from(out);
                proptest::prop_assert_eq!(embedded(out), network, "{}", address);
                // Nothing but the prefix and the embedded /24 is left: the same bits as
                // the embedding of the bare /24 with nothing else set.
                let bare = embeddings(Ipv4Addr::from(network), 0)
                    .into_iter()
                    .map(|(bare, _)| truncate_v6(bare))
                    .find(|bare| bare >> 96 == out >> 96)
                    .unwrap();
                proptest::prop_assert_eq!(out, bare);
                // Idempotent.
                proptest::prop_assert_eq!(truncate_v6(out), out);
            }
        }

        #[test]
        fn any_ipv6_keeps_at_most_its_48_or_an_embedded_24(bits: u128) {
            let out = truncate_v6(bits);
            // Never a bit the input did not have, but for Teredo's inverted low byte.
            let teredo = bits >> 96 == TEREDO_PREFIX;
            if !teredo {
                proptest::prop_assert_eq!(out & !bits, 0);
            }
            proptest::prop_assert_eq!(truncate_v6(out), out);
            let low_byte = out & 0xFF;
            proptest::prop_assert!(low_byte == 0 || (teredo && low_byte == 0xFF));
        }
    }
}
