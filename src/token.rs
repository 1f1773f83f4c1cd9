//! Signed tokens: claims, their wire format, signing and verification.
//!
//! A token is short URL-safe text whose claims are readable and whose last field is a
//! 128-bit HMAC-SHA256 tag:
//!
//! ```text
//! 1c.k1.spring-sale.3.Qm9iJ3MgcHNldWRv.1767225600..Pb2aNa4bsn6Hj8k4DyE3WA
//! │││ │  │           │ │                │          │ └ tag: 16 bytes, base64url
//! │││ │  │           │ │                │          └ expires-at (empty: never)
//! │││ │  │           │ │                └ issued-at, unix seconds
//! │││ │  │           │ └ recipient pseudonym (empty: none)
//! │││ │  │           └ link id: position or label (empty: none)
//! │││ │  └ campaign id
//! │││ └ key id
//! ││└ separator
//! │└ purpose: `c` click, `o` open
//! └ format version
//! ```
//!
//! The MAC covers every claim and, for clicks, the destination in its wire form (see
//! [`crate::link`]); `docs/TOKEN.md` describes the bytes exactly and lists golden vectors.
//! Verification reads the claims in place: it borrows from the token, never decodes
//! more than the 22-character tag and never allocates.

use base64::Engine as _;
use hmac::Mac;
use sha2::Sha256;

use crate::error::{SignError, VerifyError};
use crate::key::{B64, Key, KeyId, Keyring};

pub(crate) type HmacSha256 = hmac::Hmac<Sha256>;

/// Format version carried as the first character of every token.
pub const VERSION: u8 = b'1';
/// Most characters a token may have; longer input is rejected before any other work.
pub const MAX_TOKEN_LEN: usize = 200;
/// Most bytes of a destination in its wire form; longer input is rejected before any
/// other work.
pub const MAX_DESTINATION_LEN: usize = 8192;
/// Most characters in a campaign id.
pub const MAX_CAMPAIGN_LEN: usize = 64;
/// Most characters in a link label.
pub const MAX_LINK_LABEL_LEN: usize = 32;
/// Characters in a recipient pseudonym.
pub const PSEUDONYM_LEN: usize = 16;
/// Bytes of the truncated HMAC-SHA256 tag.
pub const TAG_LEN: usize = 16;
/// Characters of the tag in base64url.
pub const TAG_TEXT_LEN: usize = 22;

/// Number of `.`-separated fields in a token.
const FIELDS: usize = 8;

/// What a token is for. Part of the MAC's domain separation: a click token is never
/// accepted as an open token, nor the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A tracked link: verifying it yields a destination to redirect to.
    Click,
    /// An open pixel.
    Open,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Click => b'c',
            Kind::Open => b'o',
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            b'c' => Some(Kind::Click),
            b'o' => Some(Kind::Open),
            _ => None,
        }
    }

    /// `"click"` or `"open"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Click => "click",
            Kind::Open => "open",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which link of a message a click came from: its position in the body, or a label the
/// author gave it (`data-hb-link="cta"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkId<'a> {
    /// Zero-based position among the message's tracked links.
    Index(u32),
    /// An author label: an ASCII letter, then up to 31 letters, digits, `-` or `_`.
    Label(&'a str),
}

impl std::fmt::Display for LinkId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkId::Index(index) => write!(f, "{index}"),
            LinkId::Label(label) => f.write_str(label),
        }
    }
}

/// The claims a token carries.
///
/// Signing takes them by reference; verifying returns them borrowed from the token.
///
/// ```
/// use hashbeacon::{Claims, Kind, LinkId};
/// let claims = Claims {
///     kind: Kind::Click,
///     campaign: "spring-sale",
///     link: Some(LinkId::Label("cta")),
///     recipient: None,
///     issued_at: 1_767_225_600,
///     expires_at: None,
/// };
/// assert!(claims.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Claims<'a> {
    /// Click or open.
    pub kind: Kind,
    /// Campaign id: 1 to 64 ASCII letters, digits, `-` or `_`.
    pub campaign: &'a str,
    /// The link within the message (clicks only).
    pub link: Option<LinkId<'a>>,
    /// The recipient's pseudonym ([`crate::Pseudonym`]), never an address.
    pub recipient: Option<&'a str>,
    /// When the token was issued, unix seconds.
    pub issued_at: u64,
    /// When the token stops being fresh, unix seconds. An expired click with a valid MAC
    /// still redirects; the event records that it was expired.
    pub expires_at: Option<u64>,
}

impl Claims<'_> {
    /// Checks every claim against the format's rules, as signing does.
    pub fn validate(&self) -> Result<(), SignError> {
        if !is_campaign(self.campaign.as_bytes()) {
            return Err(SignError::InvalidCampaign);
        }
        match self.link {
            Some(_) if self.kind == Kind::Open => return Err(SignError::LinkOnOpen),
            Some(LinkId::Label(label)) if !is_label(label.as_bytes()) => {
                return Err(SignError::InvalidLinkLabel);
            }
            _ => {}
        }
        if self.recipient.is_some_and(|r| !is_pseudonym(r.as_bytes())) {
            return Err(SignError::InvalidRecipient);
        }
        if self.expires_at.is_some_and(|exp| exp < self.issued_at) {
            return Err(SignError::ExpiresBeforeIssued);
        }
        Ok(())
    }
}

/// A token whose MAC checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified<'a> {
    /// The authenticated claims, borrowed from the token.
    pub claims: Claims<'a>,
    /// The key that signed it.
    pub key_id: KeyId,
    /// Whether `now` was at or past the token's expiry. The claims are authentic either way.
    pub expired: bool,
}

impl<'a> Verified<'a> {
    /// The claims if the token has not expired, [`VerifyError::Expired`] otherwise.
    pub fn fresh(self) -> Result<Claims<'a>, VerifyError> {
        match self.claims.expires_at {
            Some(expires_at) if self.expired => Err(VerifyError::Expired { expires_at }),
            _ => Ok(self.claims),
        }
    }
}

impl Key {
    /// Signs claims (and, for a click, the destination in its wire form) into a token.
    ///
    /// Most callers use [`crate::Tracker`], which builds whole URLs; this is the
    /// token-level primitive.
    ///
    /// ```
    /// use hashbeacon::{Claims, Key, KeyId, Keyring, Kind};
    /// let key = Key::new(KeyId::new("k1")?, &[7u8; 32])?;
    /// let claims = Claims { kind: Kind::Open, campaign: "launch", link: None,
    ///                       recipient: None, issued_at: 1_767_225_600, expires_at: None };
    /// let token = key.sign(&claims, "")?;
    /// assert!(token.starts_with("1o.k1.launch..."));
    /// let ring = Keyring::new(key);
    /// let verified = ring.verify(Kind::Open, &token, "", 1_767_225_601)?;
    /// assert_eq!(verified.claims, claims);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign(&self, claims: &Claims<'_>, destination: &str) -> Result<String, SignError> {
        let mut out = String::with_capacity(96);
        self.sign_into(claims, destination, &mut out)?;
        Ok(out)
    }

    /// Like [`Key::sign`], appending the token to `out` instead of allocating.
    pub fn sign_into(
        &self,
        claims: &Claims<'_>,
        destination: &str,
        out: &mut String,
    ) -> Result<(), SignError> {
        let prepared = self.prepare(claims.kind, claims.campaign, claims.link, destination)?;
        prepared.finish(claims.recipient, claims.issued_at, claims.expires_at, out)
    }

    /// Absorbs the per-campaign, per-link part of a token into a MAC state, so that a
    /// bulk sender can finish one token per recipient by hashing only the short
    /// recipient/time tail.
    pub fn prepare(
        &self,
        kind: Kind,
        campaign: &str,
        link: Option<LinkId<'_>>,
        destination: &str,
    ) -> Result<PreparedToken, SignError> {
        Claims {
            kind,
            campaign,
            link,
            recipient: None,
            issued_at: 0,
            expires_at: None,
        }
        .validate()?;
        if kind == Kind::Open && !destination.is_empty() {
            return Err(SignError::DestinationOnOpen);
        }
        if destination.len() > MAX_DESTINATION_LEN {
            return Err(SignError::DestinationTooLong {
                len: destination.len(),
                max: MAX_DESTINATION_LEN,
            });
        }
        let mut head = String::with_capacity(16 + campaign.len());
        head.push(char::from(VERSION));
        head.push(char::from(kind.code()));
        head.push('.');
        head.push_str(self.id().as_str());
        head.push('.');
        head.push_str(campaign);
        head.push('.');
        if let Some(link) = link {
            use std::fmt::Write as _;
            let _ = write!(head, "{link}");
        }
        head.push('.');
        let mut mac = self.mac_state(kind).clone();
        absorb_head(&mut mac, head.as_bytes(), destination.as_bytes());
        Ok(PreparedToken { head, mac })
    }
}

/// The per-link part of a token, MAC state included: see [`Key::prepare`].
#[derive(Clone)]
pub struct PreparedToken {
    head: String,
    mac: HmacSha256,
}

impl std::fmt::Debug for PreparedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedToken")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl PreparedToken {
    /// The most characters a token finished from this state can have: with a recipient
    /// pseudonym and 20-digit times.
    pub fn max_len(&self) -> usize {
        self.head.len() + PSEUDONYM_LEN + 2 * 20 + 3 + TAG_TEXT_LEN
    }

    /// Appends the finished token for one recipient to `out`.
    pub fn finish(
        &self,
        recipient: Option<&str>,
        issued_at: u64,
        expires_at: Option<u64>,
        out: &mut String,
    ) -> Result<(), SignError> {
        if recipient.is_some_and(|r| !is_pseudonym(r.as_bytes())) {
            return Err(SignError::InvalidRecipient);
        }
        if expires_at.is_some_and(|exp| exp < issued_at) {
            return Err(SignError::ExpiresBeforeIssued);
        }
        let start = out.len();
        out.push_str(&self.head);
        let tail_start = out.len();
        out.push_str(recipient.unwrap_or_default());
        out.push('.');
        push_decimal(out, issued_at);
        out.push('.');
        if let Some(exp) = expires_at {
            push_decimal(out, exp);
        }
        let tail = out.get(tail_start..).unwrap_or_default();
        let mut mac = self.mac.clone();
        mac.update(tail.as_bytes());
        let tag = mac.finalize().into_bytes();
        out.push('.');
        B64.encode_string(tag.get(..TAG_LEN).unwrap_or_default(), out);
        debug_assert!(out.len() - start <= MAX_TOKEN_LEN);
        Ok(())
    }
}

impl Keyring {
    /// Signs with the ring's signing key: see [`Key::sign`].
    pub fn sign(&self, claims: &Claims<'_>, destination: &str) -> Result<String, SignError> {
        self.signing_key().sign(claims, destination)
    }

    /// Verifies a token for the given purpose and returns its claims, borrowed from
    /// `token`.
    ///
    /// `destination` is the destination in its wire form (the raw query of a click URL;
    /// empty for opens). Checks run cheapest first — length, syntax, purpose, key id —
    /// and the MAC last, compared in constant time. Never allocates.
    ///
    /// An authentic token past its expiry is *not* an error here: the result says
    /// [`Verified::expired`]; call [`Verified::fresh`] to treat expiry as one.
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
        if kind == Kind::Open && !destination.is_empty() {
            return Err(VerifyError::BadMac);
        }
        let key_id = KeyId::new(parsed.key_id).map_err(|_| VerifyError::Malformed("key id"))?;
        let key = self.get(parsed.key_id).ok_or(VerifyError::UnknownKey(key_id))?;
        let mut mac = key.mac_state(kind).clone();
        absorb_head(&mut mac, parsed.head.as_bytes(), destination.as_bytes());
        mac.update(parsed.tail.as_bytes());
        let mut tag = [0u8; TAG_LEN + 2];
        let decoded = B64
            .decode_slice(parsed.tag, &mut tag)
            .map_err(|_| VerifyError::Malformed("tag is not canonical base64url"))?;
        let tag = tag.get(..decoded).ok_or(VerifyError::Malformed("tag"))?;
        if tag.len() != TAG_LEN {
            return Err(VerifyError::Malformed("tag has the wrong length"));
        }
        mac.verify_truncated_left(tag).map_err(|_| VerifyError::BadMac)?;
        let expired = parsed.claims.expires_at.is_some_and(|exp| now >= exp);
        Ok(Verified {
            claims: parsed.claims,
            key_id: key.id(),
            expired,
        })
    }
}

/// The MAC input before the recipient/time tail: the token's head text, the
/// destination's length as a 4-byte big-endian number, then the destination.
fn absorb_head(mac: &mut HmacSha256, head: &[u8], destination: &[u8]) {
    mac.update(head);
    // Bounded by MAX_DESTINATION_LEN, so it always fits.
    mac.update(&(destination.len() as u32).to_be_bytes());
    mac.update(destination);
}

/// A token split into its fields, unauthenticated.
struct Parsed<'a> {
    claims: Claims<'a>,
    key_id: &'a str,
    /// `1c.kid.campaign.link.` — MAC'd before the destination.
    head: &'a str,
    /// `recipient.iat.exp` — MAC'd after the destination.
    tail: &'a str,
    tag: &'a str,
}

/// Splits and checks the syntax of every field. Cheap: one pass over at most
/// [`MAX_TOKEN_LEN`] bytes, no allocation.
fn parse(token: &str) -> Result<Parsed<'_>, VerifyError> {
    let mut fields = [""; FIELDS];
    let mut parts = token.split('.');
    for field in &mut fields {
        *field = parts.next().ok_or(VerifyError::Malformed("too few fields"))?;
    }
    if parts.next().is_some() {
        return Err(VerifyError::Malformed("too many fields"));
    }
    let [
        version,
        key_id,
        campaign,
        link,
        recipient,
        issued_at,
        expires_at,
        tag,
    ] = fields;
    let kind = match version.as_bytes() {
        [VERSION, code] => Kind::from_code(*code).ok_or(VerifyError::Malformed("unknown purpose"))?,
        [_, _] => return Err(VerifyError::UnsupportedVersion),
        _ => return Err(VerifyError::Malformed("version and purpose")),
    };
    if key_id.is_empty()
        || key_id.len() > crate::key::MAX_KEY_ID_LEN
        || !key_id.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(VerifyError::Malformed("key id"));
    }
    if !is_campaign(campaign.as_bytes()) {
        return Err(VerifyError::Malformed("campaign id"));
    }
    let link = match link.as_bytes().first() {
        None => None,
        Some(b'0'..=b'9') => Some(LinkId::Index(
            parse_decimal(link)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or(VerifyError::Malformed("link index"))?,
        )),
        Some(_) if is_label(link.as_bytes()) => Some(LinkId::Label(link)),
        Some(_) => return Err(VerifyError::Malformed("link label")),
    };
    if kind == Kind::Open && link.is_some() {
        return Err(VerifyError::Malformed("open tokens carry no link"));
    }
    let recipient = match recipient {
        "" => None,
        r if is_pseudonym(r.as_bytes()) => Some(r),
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
    // Field boundaries as byte offsets: head ends after the link field's dot.
    let head_len = version.len() + key_id.len() + campaign.len() + link_len(link) + 4;
    let tail_len =
        recipient.map_or(0, str::len) + decimal_len(issued_at) + expires_at.map_or(0, decimal_len) + 2;
    let head = token.get(..head_len).ok_or(VerifyError::Malformed("head"))?;
    let tail = token
        .get(head_len..head_len + tail_len)
        .ok_or(VerifyError::Malformed("tail"))?;
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
        head,
        tail,
        tag,
    })
}

fn link_len(link: Option<LinkId<'_>>) -> usize {
    match link {
        None => 0,
        Some(LinkId::Index(n)) => decimal_len(u64::from(n)),
        Some(LinkId::Label(label)) => label.len(),
    }
}

/// Number of decimal digits of `n` (at least one).
fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |digits| digits as usize + 1)
}

/// Parses a canonical decimal: digits only, no sign, no leading zero (except `0`), no
/// overflow.
fn parse_decimal(text: &str) -> Option<u64> {
    match text.as_bytes() {
        [] | [b'0', _, ..] => None,
        digits => digits.iter().try_fold(0u64, |acc, &d| {
            let digit = d.checked_sub(b'0').filter(|d| *d <= 9)?;
            acc.checked_mul(10)?.checked_add(u64::from(digit))
        }),
    }
}

fn push_decimal(out: &mut String, n: u64) {
    use std::fmt::Write as _;
    let _ = write!(out, "{n}");
}

fn is_slug_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// A campaign id: 1 to 64 ASCII letters, digits, `-` or `_`.
pub(crate) fn is_campaign(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_CAMPAIGN_LEN && id.iter().all(|&b| is_slug_byte(b))
}

/// A link label: an ASCII letter, then up to 31 letters, digits, `-` or `_`.
pub(crate) fn is_label(label: &[u8]) -> bool {
    matches!(label.first(), Some(b) if b.is_ascii_alphabetic())
        && label.len() <= MAX_LINK_LABEL_LEN
        && label.iter().all(|&b| is_slug_byte(b))
}

/// A recipient pseudonym: exactly 16 base64url characters (96 bits).
pub(crate) fn is_pseudonym(text: &[u8]) -> bool {
    text.len() == PSEUDONYM_LEN && text.iter().all(|&b| is_slug_byte(b))
}
