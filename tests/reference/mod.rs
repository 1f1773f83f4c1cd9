//! The token verifier as it stood before verification was reordered to authenticate
//! first: every field's syntax, then the purpose, the key id, the tag's encoding and
//! last the MAC. Its rules, written plainly, are kept in test code as the reference the library's verifier must
//! agree with on every input (accept, or which error), by `tests/verify_equivalence.rs`
//! and the `verify_equivalence` fuzz target.
//!
//! It depends on nothing of the library but its public types and limits: keys are given
//! as id and secret, and the MAC, decimals, base64url and field rules are spelled out
//! here again, as `docs/TOKEN.md` describes them.
#![allow(dead_code, clippy::indexing_slicing, unreachable_pub)]

use hashbeacon::key::MAX_KEY_ID_LEN;
use hashbeacon::token::{MAX_DESTINATION_LEN, MAX_TOKEN_LEN, PSEUDONYM_LEN, TAG_LEN, TAG_TEXT_LEN};
use hashbeacon::{Claims, KeyId, Kind, LinkId, Verified, VerifyError};
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Keys by id, each as its HMAC state keyed with the secret.
pub struct ReferenceKeyring {
    keys: Vec<(KeyId, HmacSha256)>,
}

impl ReferenceKeyring {
    /// A ring of `(id, secret)` pairs; the first is the signing key.
    pub fn new(keys: &[(&str, &[u8])]) -> Self {
        Self {
            keys: keys
                .iter()
                .map(|(id, secret)| {
                    (
                        KeyId::new(id).unwrap(),
                        HmacSha256::new_from_slice(secret).unwrap(),
                    )
                })
                .collect(),
        }
    }

    fn get(&self, id: &str) -> Option<&(KeyId, HmacSha256)> {
        self.keys.iter().find(|(key_id, _)| key_id.as_str() == id)
    }

    /// The tag of `head || len || destination || tail` under key `id` for a purpose:
    /// lets tests sign token texts a conforming signer would refuse to write.
    pub fn tag(&self, id: &str, kind: Kind, head: &str, destination: &str, tail: &str) -> [u8; TAG_LEN] {
        let (_, keyed) = self.get(id).unwrap();
        let mut mac = keyed.clone();
        mac.update(label(kind));
        absorb(&mut mac, head, destination, tail);
        let digest = mac.finalize().into_bytes();
        digest[..TAG_LEN].try_into().unwrap()
    }

    /// Verifies as the library did: length bounds, syntax of every field, purpose, key
    /// id, tag encoding, then the MAC in constant time.
    pub fn verify<'a>(
        &self,
        kind: Kind,
        token: &'a str,
        destination: &str,
        now: u64,
    ) -> Result<Verified<'a>, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::TooLong {
                len: token.len(),
                max: MAX_TOKEN_LEN,
            });
        }
        if destination.len() > MAX_DESTINATION_LEN {
            return Err(VerifyError::DestinationTooLong {
                len: destination.len(),
                max: MAX_DESTINATION_LEN,
            });
        }
        let parsed = parse(token)?;
        if parsed.claims.kind != kind {
            return Err(VerifyError::WrongPurpose {
                expected: kind,
                found: parsed.claims.kind,
            });
        }
        if kind != Kind::Click && !destination.is_empty() {
            return Err(VerifyError::BadMac);
        }
        let (key_id, keyed) = self
            .get(parsed.key_id)
            .ok_or_else(|| match KeyId::new(parsed.key_id) {
                Ok(id) => VerifyError::UnknownKey(id),
                Err(_) => VerifyError::Malformed("key id"),
            })?;
        let tag = decode_tag(parsed.tag).ok_or(VerifyError::Malformed("tag is not canonical base64url"))?;
        let mut mac = keyed.clone();
        mac.update(label(kind));
        absorb(&mut mac, parsed.head, destination, parsed.tail);
        mac.verify_truncated_left(&tag).map_err(|_| VerifyError::BadMac)?;
        let expired = parsed.claims.expires_at.is_some_and(|exp| now >= exp);
        Ok(Verified {
            claims: parsed.claims,
            key_id: *key_id,
            expired,
        })
    }
}

/// The reference's verdict with the one rule added since: an authentic token whose
/// expiry precedes its issue time is refused (`docs/TOKEN.md`, "After the tag").
pub fn amended<'a>(verdict: Result<Verified<'a>, VerifyError>) -> Result<Verified<'a>, VerifyError> {
    verdict.and_then(|verified| match verified.claims.expires_at {
        Some(exp) if exp < verified.claims.issued_at => {
            Err(VerifyError::Malformed("expires-at before issued-at"))
        }
        _ => Ok(verified),
    })
}

/// `token` with its last field replaced by the tag that is right for the rest of it
/// under key `id` (or `fallback` when the text names no key of the ring), split into
/// head and tail as verification splits it: `None` when there are fewer than five dots.
pub fn with_correct_tag(
    ring: &ReferenceKeyring,
    fallback: &str,
    kind: Kind,
    token: &str,
    destination: &str,
) -> Option<String> {
    let dots: Vec<usize> = token.match_indices('.').map(|(at, _)| at).collect();
    let (&d3, &last) = (dots.get(3)?, dots.last()?);
    if last <= d3 {
        return None;
    }
    let id = token
        .split('.')
        .nth(1)
        .filter(|id| ring.get(id).is_some())
        .unwrap_or(fallback);
    let tag = ring.tag(id, kind, &token[..=d3], destination, &token[d3 + 1..last]);
    Some(format!("{}{}", &token[..=last], encode_tag(&tag)))
}

fn label(kind: Kind) -> &'static [u8] {
    match kind {
        Kind::Click => b"hashbeacon/v1/click\0",
        Kind::Open => b"hashbeacon/v1/open\0",
        Kind::Unsubscribe => b"hashbeacon/v1/unsubscribe\0",
    }
}

fn absorb(mac: &mut HmacSha256, head: &str, destination: &str, tail: &str) {
    mac.update(head.as_bytes());
    mac.update(&(destination.len() as u32).to_be_bytes());
    mac.update(destination.as_bytes());
    mac.update(tail.as_bytes());
}

struct Parsed<'a> {
    claims: Claims<'a>,
    key_id: &'a str,
    head: &'a str,
    tail: &'a str,
    tag: &'a str,
}

fn parse(token: &str) -> Result<Parsed<'_>, VerifyError> {
    let dots: Vec<usize> = token.match_indices('.').map(|(at, _)| at).collect();
    if dots.len() < 7 {
        return Err(VerifyError::Malformed("too few fields"));
    }
    if dots.len() > 7 {
        return Err(VerifyError::Malformed("too many fields"));
    }
    let [d0, d1, d2, d3, d4, d5, d6] = dots[..] else {
        unreachable!()
    };
    let (version, key_id, campaign, link) = (
        &token[..d0],
        &token[d0 + 1..d1],
        &token[d1 + 1..d2],
        &token[d2 + 1..d3],
    );
    let (recipient, issued_at, expires_at) = (&token[d3 + 1..d4], &token[d4 + 1..d5], &token[d5 + 1..d6]);
    let tag = &token[d6 + 1..];
    let kind = match version.as_bytes() {
        [b'1', b'c'] => Kind::Click,
        [b'1', b'o'] => Kind::Open,
        [b'1', b'u'] => Kind::Unsubscribe,
        [b'1', _] => return Err(VerifyError::Malformed("unknown purpose")),
        [_, _] => return Err(VerifyError::UnsupportedVersion),
        _ => return Err(VerifyError::Malformed("version and purpose")),
    };
    if key_id.is_empty()
        || key_id.len() > MAX_KEY_ID_LEN
        || !key_id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(VerifyError::Malformed("key id"));
    }
    if !is_campaign(campaign) {
        return Err(VerifyError::Malformed("campaign id"));
    }
    let link = parse_link(link)?;
    if kind != Kind::Click && link.is_some() {
        return Err(VerifyError::Malformed("only click tokens carry a link"));
    }
    let recipient = match recipient {
        "" if kind == Kind::Unsubscribe => {
            return Err(VerifyError::Malformed("unsubscribe tokens name a recipient"));
        }
        "" => None,
        r if r.len() == PSEUDONYM_LEN && r.bytes().all(is_slug_byte) => Some(r),
        _ => return Err(VerifyError::Malformed("recipient pseudonym")),
    };
    let issued_at = parse_decimal(issued_at).ok_or(VerifyError::Malformed("issued-at"))?;
    let expires_at = match expires_at {
        "" => None,
        exp => Some(parse_decimal(exp).ok_or(VerifyError::Malformed("expires-at"))?),
    };
    if tag.len() != TAG_TEXT_LEN {
        return Err(VerifyError::Malformed("tag has the wrong length"));
    }
    Ok(Parsed {
        claims: Claims {
            kind,
            campaign,
            link,
            recipient,
            issued_at,
            expires_at,
        },
        key_id,
        head: &token[..=d3],
        tail: &token[d3 + 1..d6],
        tag,
    })
}

fn parse_link(link: &str) -> Result<Option<LinkId<'_>>, VerifyError> {
    match link.as_bytes().first() {
        None => Ok(None),
        Some(b'0'..=b'9') => parse_decimal(link)
            .and_then(|n| u32::try_from(n).ok())
            .map(|index| Some(LinkId::Index(index)))
            .ok_or(VerifyError::Malformed("link index")),
        Some(first) if first.is_ascii_alphabetic() && link.len() <= 32 && link.bytes().all(is_slug_byte) => {
            Ok(Some(LinkId::Label(link)))
        }
        Some(_) => Err(VerifyError::Malformed("link label")),
    }
}

fn is_slug_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_campaign(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(is_slug_byte)
}

/// 1 to 20 digits, no sign, no leading zero (except `0`), fits in a `u64`.
fn parse_decimal(text: &str) -> Option<u64> {
    let digits = text.as_bytes();
    if digits.is_empty() || digits.len() > 20 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &c| {
        c.is_ascii_digit().then_some(())?;
        value.checked_mul(10)?.checked_add(u64::from(c - b'0'))
    })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The 16 bytes of a canonical 22-character unpadded base64url tag.
fn decode_tag(text: &str) -> Option<[u8; TAG_LEN]> {
    if text.len() != TAG_TEXT_LEN {
        return None;
    }
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|v| v as u128);
    let (first, last) = text.as_bytes().split_at(TAG_TEXT_LEN - 1);
    // 21 characters carry 126 bits; the last carries the tag's final 2 bits and four
    // bits that must be zero.
    let mut bits: u128 = 0;
    for &c in first {
        bits = (bits << 6) | value(c)?;
    }
    let last = value(last[0])?;
    (last & 0xF == 0).then(|| ((bits << 2) | (last >> 4)).to_be_bytes())
}

/// The unpadded base64url text of a tag.
pub fn encode_tag(tag: &[u8; TAG_LEN]) -> String {
    let bits = u128::from_be_bytes(*tag);
    // 132 bits: the tag's 128, then four zero bits.
    (0..TAG_TEXT_LEN)
        .map(|i| {
            let sextet = match 128usize.checked_sub(6 * (i + 1)) {
                Some(shift) => (bits >> shift) & 63,
                None => (bits & 3) << 4,
            };
            char::from(ALPHABET[sextet as usize])
        })
        .collect()
}
