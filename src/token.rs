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
//! │└ purpose: `c` click, `o` open, `u` unsubscribe
//! └ format version
//! ```
//!
//! An unsubscribe token (`1u`) always names a recipient and carries no link and no
//! destination: it says "this recipient leaves this list or campaign".
//!
//! The MAC covers every claim and, for clicks, the destination in its wire form (see
//! [`crate::link`]); `docs/TOKEN.md` describes the bytes exactly and lists golden vectors.
//! Verification reads the claims in place: it borrows from the token, never decodes
//! more than the 22-character tag and never allocates.

use hmac::Mac;

use crate::error::{SignError, VerifyError};
pub use crate::id::Kind;
use crate::key::{HmacSha256, Key, KeyId, Keyring};

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
    /// Click, open or unsubscribe.
    pub kind: Kind,
    /// Campaign id (for an unsubscribe, the list or campaign left): 1 to 64 ASCII
    /// letters, digits, `-` or `_`.
    pub campaign: &'a str,
    /// The link within the message (clicks only).
    pub link: Option<LinkId<'a>>,
    /// The recipient's pseudonym ([`crate::Pseudonym`]), never an address. Required on
    /// unsubscribe tokens.
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
        check_head(self.kind, self.campaign, self.link)?;
        check_recipient(self.kind, self.recipient)?;
        check_tail(self.recipient, self.issued_at, self.expires_at)
    }
}

/// Checks the per-link claims: campaign, and a link only on clicks, well formed.
fn check_head(kind: Kind, campaign: &str, link: Option<LinkId<'_>>) -> Result<(), SignError> {
    if !is_campaign(campaign.as_bytes()) {
        return Err(SignError::InvalidCampaign);
    }
    match (kind, link) {
        (Kind::Open, Some(_)) => Err(SignError::LinkOnOpen),
        (Kind::Unsubscribe, Some(_)) => Err(SignError::NotOnUnsubscribe("link id")),
        (_, Some(LinkId::Label(label))) if !is_label(label.as_bytes()) => Err(SignError::InvalidLinkLabel),
        _ => Ok(()),
    }
}

/// An unsubscribe names whom it unsubscribes: without a recipient it could act on no one.
fn check_recipient(kind: Kind, recipient: Option<&str>) -> Result<(), SignError> {
    if kind == Kind::Unsubscribe && recipient.is_none() {
        return Err(SignError::RecipientRequired);
    }
    Ok(())
}

/// Most bytes of a token's tail: a pseudonym and two 20-digit times, two dots.
#[cfg(feature = "rewrite")]
const TAIL_MAX: usize = PSEUDONYM_LEN + 1 + 20 + 1 + 20;

/// The per-recipient end of a token, `recipient.issued-at.expires-at`, checked and
/// written once: a bulk render reuses it for every link of a message.
#[cfg(feature = "rewrite")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tail {
    text: [u8; TAIL_MAX],
    len: usize,
}

#[cfg(feature = "rewrite")]
impl Tail {
    pub(crate) fn new(
        recipient: Option<&str>,
        issued_at: u64,
        expires_at: Option<u64>,
    ) -> Result<Self, SignError> {
        check_tail(recipient, issued_at, expires_at)?;
        let mut tail = Self {
            text: [0; TAIL_MAX],
            len: 0,
        };
        write_tail(recipient, issued_at, expires_at, |piece| {
            tail.push(piece.as_bytes())
        });
        Ok(tail)
    }

    fn push(&mut self, bytes: &[u8]) {
        if let Some(slot) = self.text.get_mut(self.len..self.len + bytes.len()) {
            slot.copy_from_slice(bytes);
            self.len += bytes.len();
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.text.get(..self.len).unwrap_or_default()
    }

    /// The tag of a token whose head (and destination) `mac` has absorbed, as text.
    fn tag(&self, mut mac: HmacSha256) -> TagText {
        mac.update(self.as_bytes());
        finish_tag(mac)
    }
}

/// The rules of a tail's claims: a well-formed pseudonym, no expiry before issue.
fn check_tail(recipient: Option<&str>, issued_at: u64, expires_at: Option<u64>) -> Result<(), SignError> {
    if recipient.is_some_and(|r| !is_pseudonym(r.as_bytes())) {
        return Err(SignError::InvalidRecipient);
    }
    if expires_at.is_some_and(|exp| exp < issued_at) {
        return Err(SignError::ExpiresBeforeIssued);
    }
    Ok(())
}

/// Writes the text of a tail, `recipient.issued-at.expires-at`, piece by piece.
fn write_tail(recipient: Option<&str>, issued_at: u64, expires_at: Option<u64>, mut push: impl FnMut(&str)) {
    push(recipient.unwrap_or_default());
    push(".");
    let mut digits = itoa::Buffer::new();
    push(digits.format(issued_at));
    push(".");
    if let Some(exp) = expires_at {
        push(digits.format(exp));
    }
}

/// The tag of a token whose every byte `mac` has absorbed, as text.
fn finish_tag(mac: HmacSha256) -> TagText {
    let digest = mac.finalize().into_bytes();
    encode_tag(digest.get(..TAG_LEN).unwrap_or_default())
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
        check_head(claims.kind, claims.campaign, claims.link)?;
        check_recipient(claims.kind, claims.recipient)?;
        check_tail(claims.recipient, claims.issued_at, claims.expires_at)?;
        check_destination_len(claims.kind, destination)?;
        let start = out.len();
        push_head(out, claims.kind, self.id(), claims.campaign, claims.link);
        let mut mac = self.mac_state(claims.kind).clone();
        absorb_head(
            &mut mac,
            out.get(start..).unwrap_or_default().as_bytes(),
            destination.as_bytes(),
        );
        push_tail_and_tag(out, claims.recipient, claims.issued_at, claims.expires_at, mac);
        Ok(())
    }

    /// Absorbs the per-campaign, per-link part of a token into a MAC state, so that a
    /// bulk sender can finish one token per recipient by hashing only the short
    /// recipient/time tail.
    ///
    /// ```
    /// # use hashbeacon::{Claims, Key, KeyId, Kind, LinkId};
    /// let key = Key::new(KeyId::new("k1")?, &[7u8; 32])?;
    /// let prepared = key.prepare(Kind::Click, "launch", Some(LinkId::Index(0)), "https://a.example/")?;
    /// let mut token = String::new();
    /// prepared.finish(None, 1_767_225_600, None, &mut token)?;
    /// let claims = Claims { kind: Kind::Click, campaign: "launch", link: Some(LinkId::Index(0)),
    ///                       recipient: None, issued_at: 1_767_225_600, expires_at: None };
    /// assert_eq!(token, key.sign(&claims, "https://a.example/")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prepare(
        &self,
        kind: Kind,
        campaign: &str,
        link: Option<LinkId<'_>>,
        destination: &str,
    ) -> Result<PreparedToken, SignError> {
        check_head(kind, campaign, link)?;
        check_destination_len(kind, destination)?;
        let mut head = String::with_capacity(16 + campaign.len());
        push_head(&mut head, kind, self.id(), campaign, link);
        let mut mac = self.mac_state(kind).clone();
        absorb_head(&mut mac, head.as_bytes(), destination.as_bytes());
        Ok(PreparedToken { kind, head, mac })
    }
}

fn check_destination_len(kind: Kind, destination: &str) -> Result<(), SignError> {
    match kind {
        Kind::Open if !destination.is_empty() => return Err(SignError::DestinationOnOpen),
        Kind::Unsubscribe if !destination.is_empty() => {
            return Err(SignError::NotOnUnsubscribe("destination"));
        }
        _ => {}
    }
    if destination.len() > MAX_DESTINATION_LEN {
        return Err(SignError::DestinationTooLong {
            len: destination.len(),
            max: MAX_DESTINATION_LEN,
        });
    }
    Ok(())
}

/// Writes `1c.kid.campaign.link.`, the part of a token MAC'd before the destination.
fn push_head(out: &mut String, kind: Kind, key_id: KeyId, campaign: &str, link: Option<LinkId<'_>>) {
    out.push(char::from(VERSION));
    out.push(char::from(kind.code()));
    out.push('.');
    out.push_str(key_id.as_str());
    out.push('.');
    out.push_str(campaign);
    out.push('.');
    push_link(out, link);
    out.push('.');
}

/// Writes a link id field: its index in decimal, its label, or nothing.
pub(crate) fn push_link(out: &mut String, link: Option<LinkId<'_>>) {
    match link {
        Some(LinkId::Index(index)) => push_decimal(out, u64::from(index)),
        Some(LinkId::Label(label)) => out.push_str(label),
        None => {}
    }
}

/// Writes the tail of checked claims straight into `out` (no copy to turn into text),
/// then `.` and the tag of the token whose head `mac` has absorbed.
fn push_tail_and_tag(
    out: &mut String,
    recipient: Option<&str>,
    issued_at: u64,
    expires_at: Option<u64>,
    mut mac: HmacSha256,
) {
    let start = out.len();
    write_tail(recipient, issued_at, expires_at, |piece| out.push_str(piece));
    mac.update(out.get(start..).unwrap_or_default().as_bytes());
    out.push('.');
    out.push_str(finish_tag(mac).as_str());
}

/// A tag in its 22-character base64url text.
pub(crate) struct TagText([u8; TAG_TEXT_LEN]);

impl TagText {
    pub(crate) fn as_str(&self) -> &str {
        // Only base64url characters are written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Encodes a 16-byte tag as 22 base64url characters (the inverse of [`decode_tag`]).
pub(crate) fn encode_tag(tag: &[u8]) -> TagText {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let char_of = |sextet: u32| ALPHABET.get((sextet & 63) as usize).copied().unwrap_or(b'A');
    let mut text = [0u8; TAG_TEXT_LEN];
    let mut chars = text.iter_mut();
    let mut groups = tag.chunks_exact(3);
    for group in &mut groups {
        let n = group.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b));
        // Shifts first: `zip` pulls its left side first, so no slot is skipped.
        for (shift, slot) in [18, 12, 6, 0].into_iter().zip(chars.by_ref()) {
            *slot = char_of(n >> shift);
        }
    }
    // 16 = 5 × 3 + 1: the last byte becomes two characters, its low four bits zero.
    for &last in groups.remainder() {
        let n = u32::from(last) << 4;
        for (shift, slot) in [6, 0].into_iter().zip(chars.by_ref()) {
            *slot = char_of(n >> shift);
        }
    }
    TagText(text)
}

/// Appends a 16-byte tag as 22 base64url characters.
pub(crate) fn push_tag(out: &mut String, tag: &[u8]) {
    out.push_str(encode_tag(tag).as_str());
}

/// The per-link part of a token, MAC state included: see [`Key::prepare`].
#[derive(Clone)]
pub struct PreparedToken {
    kind: Kind,
    head: String,
    mac: HmacSha256,
}

impl std::fmt::Debug for PreparedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedToken")
            .field("kind", &self.kind)
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

    /// Appends the finished token for one recipient to `out`. Costs one MAC state copy
    /// and the hashing of the ~30-byte tail.
    pub fn finish(
        &self,
        recipient: Option<&str>,
        issued_at: u64,
        expires_at: Option<u64>,
        out: &mut String,
    ) -> Result<(), SignError> {
        check_recipient(self.kind, recipient)?;
        check_tail(recipient, issued_at, expires_at)?;
        out.push_str(&self.head);
        push_tail_and_tag(out, recipient, issued_at, expires_at, self.mac.clone());
        Ok(())
    }

    /// What the token is for.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Appends the finished token for a tail checked and written once per recipient.
    /// The caller has checked that an unsubscribe tail names a recipient.
    #[cfg(feature = "rewrite")]
    pub(crate) fn finish_bytes(&self, tail: &Tail, out: &mut Vec<u8>) {
        out.extend_from_slice(self.head.as_bytes());
        out.extend_from_slice(tail.as_bytes());
        out.push(b'.');
        out.extend_from_slice(&tail.tag(self.mac.clone()).0);
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
    /// empty for opens). Authenticates first: after the length bounds it finds only what
    /// the MAC needs (purpose, key id, the head/tail split and the tag), compares the tag
    /// in constant time, and then reads the claims from the authenticated bytes, still
    /// checking their canonical form. When that fails, the full syntax checks run to say
    /// why: a malformed token is reported as [`VerifyError::Malformed`], a well-formed
    /// one with a wrong tag as [`VerifyError::BadMac`]. Never allocates.
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
        let (claims, key_id) = match self.authenticate(kind, token, destination) {
            Some(authentic) => authentic,
            None => self.diagnose(kind, token, destination)?,
        };
        // Signers refuse such claims (`SignError::ExpiresBeforeIssued`); the MAC cannot.
        if claims.expires_at.is_some_and(|exp| exp < claims.issued_at) {
            return Err(VerifyError::Malformed("expires-at before issued-at"));
        }
        Ok(Verified {
            claims,
            key_id,
            expired: claims.expires_at.is_some_and(|exp| now >= exp),
        })
    }

    /// The success path: the claims of a token whose tag is right and whose text is
    /// canonical, or `None` for [`Keyring::diagnose`] to say what is wrong.
    fn authenticate<'a>(&self, kind: Kind, token: &'a str, destination: &str) -> Option<(Claims<'a>, KeyId)> {
        if kind != Kind::Click && !destination.is_empty() {
            return None;
        }
        let bytes = token.as_bytes();
        // `1c.`, `1o.` or `1u.`: the purpose's MAC state is chosen by the route, not the text,
        // so the text must say the same.
        if bytes.get(..3)? != [VERSION, kind.code(), b'.'] {
            return None;
        }
        let tag_dot = bytes.len().checked_sub(TAG_TEXT_LEN + 1)?;
        let (fields, tag) = bytes.get(3..)?.split_at_checked(tag_dot.checked_sub(3)?)?;
        let [b'.', tag @ ..] = tag else {
            return None;
        };
        // The five dots between `1c.` and the tag's dot, and no sixth.
        let [d1, d2, d3, d4, d5] = five_dots(fields)?.map(|at| at + 3);
        let key = self.get_bytes(bytes.get(3..d1)?)?;
        let mut mac = key.mac_state(kind).clone();
        absorb_head(&mut mac, bytes.get(..=d3)?, destination.as_bytes());
        mac.update(bytes.get(d3 + 1..tag_dot)?);
        // Decoded while the hashing above is still in flight: the two do not depend on
        // each other.
        mac.verify_truncated_left(&decode_tag(tag)?).ok()?;
        // Authentic: now read the claims, holding them to their canonical form.
        let claims = read_claims(kind, token, [d1, d2, d3, d4, d5, tag_dot]).ok()?;
        Some((claims, key.id()))
    }

    /// The failure path: every check in a fixed order (length was done), so the error
    /// names the first thing wrong — syntax of each field, purpose, key id, tag
    /// encoding — and [`VerifyError::BadMac`] only for a well-formed token.
    fn diagnose<'a>(
        &self,
        kind: Kind,
        token: &'a str,
        destination: &str,
    ) -> Result<(Claims<'a>, KeyId), VerifyError> {
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
        let key = self
            .get(parsed.key_id)
            .ok_or_else(|| match KeyId::new(parsed.key_id) {
                Ok(id) => VerifyError::UnknownKey(id),
                Err(_) => VerifyError::Malformed("key id"),
            })?;
        let tag = decode_tag(parsed.tag.as_bytes())
            .ok_or(VerifyError::Malformed("tag is not canonical base64url"))?;
        let mut mac = key.mac_state(kind).clone();
        absorb_head(&mut mac, parsed.head.as_bytes(), destination.as_bytes());
        mac.update(parsed.tail.as_bytes());
        mac.verify_truncated_left(&tag).map_err(|_| VerifyError::BadMac)?;
        Ok((parsed.claims, key.id()))
    }
}

/// The positions of the `.` bytes in `text` if there are exactly five.
///
/// Eight bytes at a time: a token's middle is 60 to 90 bytes, too short for a
/// vectorized search to pay for its setup once per dot.
fn five_dots(text: &[u8]) -> Option<[usize; 5]> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut dots = [0usize; 5];
    let mut found = 0;
    let mut record = |mut mask: u64, base: usize| -> Option<()> {
        while mask != 0 {
            *dots.get_mut(found)? = base + (mask.trailing_zeros() / 8) as usize;
            found += 1;
            mask &= mask - 1;
        }
        Some(())
    };
    let mut words = text.chunks_exact(8);
    for (i, word) in (&mut words).enumerate() {
        let word = u64::from_le_bytes(word.try_into().ok()?);
        // Bytes equal to `.` become zero; then the high bit of each zero byte is set,
        // exactly (no borrow crosses a byte: the low seven bits are added to 0x7F).
        let x = word ^ (ONES * u64::from(b'.'));
        record(!(((x & !HIGH).wrapping_add(!HIGH)) | x) & HIGH, i * 8)?;
    }
    let base = text.len() - words.remainder().len();
    for (i, &byte) in words.remainder().iter().enumerate() {
        if byte == b'.' {
            record(0x80, base + i)?;
        }
    }
    (found == 5).then_some(dots)
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

/// Splits and checks the syntax of every field. Cheap: one vectorized scan for the
/// seven separators, then one pass over each field; no allocation.
fn parse(token: &str) -> Result<Parsed<'_>, VerifyError> {
    let mut dots = [0usize; FIELDS - 1];
    let mut found = memchr::memchr_iter(b'.', token.as_bytes());
    for dot in &mut dots {
        *dot = found.next().ok_or(VerifyError::Malformed("too few fields"))?;
    }
    if found.next().is_some() {
        return Err(VerifyError::Malformed("too many fields"));
    }
    let [d0, d1, d2, d3, d4, d5, d6] = dots;
    // Separators are ASCII, so every offset below is a char boundary.
    let field = |from: usize, to: usize| token.get(from..to).ok_or(VerifyError::Malformed("field"));
    let (version, key_id) = (field(0, d0)?, field(d0 + 1, d1)?);
    let tag = field(d6 + 1, token.len())?;
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
    let claims = read_claims(kind, token, [d1, d2, d3, d4, d5, d6])?;
    if tag.len() != TAG_TEXT_LEN {
        return Err(VerifyError::Malformed("tag has the wrong length"));
    }
    Ok(Parsed {
        claims,
        key_id,
        head: field(0, d3 + 1)?,
        tail: field(d3 + 1, d6)?,
        tag,
    })
}

/// Reads the claim fields (campaign, link, recipient, issued-at, expires-at) of a
/// token of purpose `kind`, checking each in that order. `dots` are the positions of the
/// separators before each field and of the tag's.
fn read_claims(
    kind: Kind,
    token: &str,
    [d1, d2, d3, d4, d5, d6]: [usize; 6],
) -> Result<Claims<'_>, VerifyError> {
    let bytes = token.as_bytes();
    let field = |dot: usize, next: usize| bytes.get(dot + 1..next).unwrap_or_default();
    // Fields end at ASCII dots, so their bounds are char boundaries.
    let text = |dot: usize, next: usize| token.get(dot + 1..next).ok_or(VerifyError::Malformed("field"));
    if !is_campaign(field(d1, d2)) {
        return Err(VerifyError::Malformed("campaign id"));
    }
    let link = match field(d2, d3) {
        [] => None,
        _ => parse_link(text(d2, d3)?)?,
    };
    if kind != Kind::Click && link.is_some() {
        return Err(VerifyError::Malformed("only click tokens carry a link"));
    }
    let recipient = match field(d3, d4) {
        [] if kind == Kind::Unsubscribe => {
            return Err(VerifyError::Malformed("unsubscribe tokens name a recipient"));
        }
        [] => None,
        r if is_pseudonym(r) => Some(text(d3, d4)?),
        _ => return Err(VerifyError::Malformed("recipient pseudonym")),
    };
    let issued_at = decimal(field(d4, d5)).ok_or(VerifyError::Malformed("issued-at"))?;
    let expires_at = match field(d5, d6) {
        [] => None,
        exp => Some(decimal(exp).ok_or(VerifyError::Malformed("expires-at"))?),
    };
    Ok(Claims {
        kind,
        campaign: text(d1, d2)?,
        link,
        recipient,
        issued_at,
        expires_at,
    })
}

/// Parses a link id field (the inverse of [`push_link`]).
pub(crate) fn parse_link(link: &str) -> Result<Option<LinkId<'_>>, VerifyError> {
    match link.as_bytes().first() {
        None => Ok(None),
        Some(b'0'..=b'9') => decimal(link.as_bytes())
            .and_then(|n| u32::try_from(n).ok())
            .map(|index| Some(LinkId::Index(index)))
            .ok_or(VerifyError::Malformed("link index")),
        Some(_) if is_label(link.as_bytes()) => Ok(Some(LinkId::Label(link))),
        Some(_) => Err(VerifyError::Malformed("link label")),
    }
}

const INVALID: u8 = 0xFF;

/// Value of each base64url character, [`INVALID`] for every other byte.
// Evaluated at compile time: an out-of-range index would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const BASE64URL_VALUE: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Decodes the 22-character base64url tag into its 16 bytes. Canonical only: the last
/// character's four unused bits must be zero, so each tag has exactly one spelling.
pub(crate) fn decode_tag(text: &[u8]) -> Option<[u8; TAG_LEN]> {
    let text: &[u8; TAG_TEXT_LEN] = text.try_into().ok()?;
    let mut tag = [0u8; TAG_LEN];
    // Valid values are below 64; OR-ing them all shows any invalid character at once.
    let mut seen = 0u8;
    let mut value = |c: &u8| {
        let v = BASE64URL_VALUE.get(usize::from(*c)).copied().unwrap_or(INVALID);
        seen |= v;
        u32::from(v)
    };
    let (groups, last) = text.split_at(20);
    for (chars, bytes) in groups.chunks_exact(4).zip(tag.chunks_exact_mut(3)) {
        let n = chars.iter().fold(0u32, |n, c| (n << 6) | value(c));
        bytes.copy_from_slice(n.to_be_bytes().get(1..)?);
    }
    // The last two characters carry 12 bits: the final byte and four zero bits.
    let n = last.iter().fold(0u32, |n, c| (n << 6) | value(c));
    *tag.last_mut()? = (n >> 4) as u8;
    (seen < 64 && n & 0xF == 0).then_some(tag)
}

/// Parses a canonical decimal: 1 to 20 digits, no sign, no leading zero (except `0`),
/// no overflow.
pub(crate) fn parse_decimal(text: &str) -> Option<u64> {
    decimal(text.as_bytes())
}

/// [`parse_decimal`] on bytes. Up to sixteen digits (every time until the year 318857,
/// every link index) take two eight-digit words and no overflow checks.
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.len() > 1 && digits.first() == Some(&b'0') {
        return None;
    }
    match digits.len() {
        0 => None,
        1..=8 => eight_digits(zero_padded(digits)),
        9..=16 => {
            let (high, low) = digits.split_at(digits.len() - 8);
            let low = u64::from_le_bytes(low.try_into().ok()?);
            Some(eight_digits(zero_padded(high))? * 100_000_000 + eight_digits(low)?)
        }
        17..=20 => digits.iter().try_fold(0u64, |value, &c| {
            let digit = c.wrapping_sub(b'0');
            (digit <= 9).then_some(())?;
            value.checked_mul(10)?.checked_add(u64::from(digit))
        }),
        _ => None,
    }
}

/// Up to eight digits as the last lanes of an eight-digit word, `0` in the lanes before
/// them: leading zeros leave the value as it is.
fn zero_padded(digits: &[u8]) -> u64 {
    digits
        .iter()
        .fold(ASCII_ZEROS, |word, &digit| (word >> 8) | (u64::from(digit) << 56))
}

/// Eight `0` characters as one little-endian word.
const ASCII_ZEROS: u64 = 0x3030_3030_3030_3030;

/// The value of eight ASCII digits read little-endian (the most significant first in
/// memory), or `None` if any byte is not a digit. All eight at once: every step keeps
/// each lane's value below the lane's capacity, so no carry crosses lanes.
fn eight_digits(x: u64) -> Option<u64> {
    const NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    // `0x30..=0x39` exactly: high nibble 3, and adding 6 keeps it 3.
    if x & NIBBLES != ASCII_ZEROS || x.wrapping_add(0x0606_0606_0606_0606) & NIBBLES != ASCII_ZEROS {
        return None;
    }
    let v = x & 0x0F0F_0F0F_0F0F_0F0F;
    // Pairs of digits (≤ 99 per byte), then fours (≤ 9999 per 16 bits), then eight.
    let v = (v * 10 + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v * 100 + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((v * 10_000 + (v >> 32)) & 0xFFFF_FFFF)
}

/// Appends `n` in canonical decimal without going through `fmt`.
pub(crate) fn push_decimal(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// ASCII letters, digits, `-` and `_`: the base64url alphabet, which every free-form
/// field (campaign, label, pseudonym) is drawn from.
fn is_slug_byte(b: u8) -> bool {
    BASE64URL_VALUE.get(usize::from(b)).is_some_and(|&v| v != INVALID)
}

/// A campaign id: 1 to 64 ASCII letters, digits, `-` or `_`.
pub(crate) fn is_campaign(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_CAMPAIGN_LEN && all_slug_bytes(id)
}

/// Whether every byte is a slug byte: folds without an early exit, as the bytes are
/// almost always valid. From sixteen bytes on, sixteen at a time, the last window
/// overlapping the one before: a fixed-size window compiles to a few vector
/// instructions.
fn all_slug_bytes(text: &[u8]) -> bool {
    let Some(last) = text.last_chunk::<16>() else {
        return text.iter().fold(true, |slug, &b| slug & is_slug_byte(b));
    };
    let (windows, _) = text.as_chunks::<16>();
    windows
        .iter()
        .fold(true, |slug, window| slug & all_slug_16(window))
        & all_slug_16(last)
}

/// [`all_slug_bytes`] of sixteen bytes, by comparisons rather than a table lookup so
/// that it vectorizes.
fn all_slug_16(window: &[u8; 16]) -> bool {
    window.iter().fold(true, |slug, &b| {
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        let digit = b.wrapping_sub(b'0') < 10;
        slug & (letter | digit | (b == b'-') | (b == b'_'))
    })
}

/// A link label: an ASCII letter, then up to 31 letters, digits, `-` or `_`.
pub(crate) fn is_label(label: &[u8]) -> bool {
    matches!(label.first(), Some(b) if b.is_ascii_alphabetic())
        && label.len() <= MAX_LINK_LABEL_LEN
        && label.iter().all(|&b| is_slug_byte(b))
}

/// A recipient pseudonym: exactly 16 base64url characters (96 bits).
pub(crate) fn is_pseudonym(text: &[u8]) -> bool {
    text.len() == PSEUDONYM_LEN && all_slug_bytes(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::KeyInit;

    /// RFC 4231 test cases 1, 2 and 6 (the latter with a key longer than one block):
    /// the MAC type the tokens use is HMAC-SHA256 exactly.
    #[test]
    fn hmac_sha256_known_answers() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, data, expected) in cases {
            let mut mac = HmacSha256::new_from_slice(key).unwrap();
            mac.update(data);
            let hex: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(hex, expected);
        }
    }

    #[test]
    fn tag_text_round_trips() {
        for seed in 0u8..=255 {
            let tag: Vec<u8> = (0..TAG_LEN as u8)
                .map(|i| i.wrapping_mul(37).wrapping_add(seed))
                .collect();
            let mut text = String::new();
            push_tag(&mut text, &tag);
            assert_eq!(text.len(), TAG_TEXT_LEN);
            assert_eq!(decode_tag(text.as_bytes()).unwrap().as_slice(), tag.as_slice());
        }
    }

    #[test]
    fn five_dots_are_found_wherever_they_stand() {
        for len in 0..40 {
            for first in 0..len {
                let mut text = vec![b'a'; len];
                let dots: Vec<usize> = (first..len).step_by(3).take(6).collect();
                for &at in &dots {
                    text[at] = b'.';
                }
                // Bytes that differ from `.` by one bit are not dots.
                if let Some(other) = text.iter_mut().find(|b| **b == b'a') {
                    *other = b'.' ^ 0x80;
                }
                let expected = (dots.len() == 5).then(|| <[usize; 5]>::try_from(dots.clone()).unwrap());
                assert_eq!(five_dots(&text), expected, "{len} {first}");
            }
        }
    }

    #[test]
    fn slug_bytes_by_comparison_match_the_alphabet() {
        for b in 0..=u8::MAX {
            assert_eq!(all_slug_16(&[b; 16]), is_slug_byte(b), "{b:#04x}");
        }
    }

    proptest::proptest! {
        /// The windowed slug check agrees with a byte-by-byte one at every length and
        /// wherever a foreign byte stands.
        #[test]
        fn all_slug_bytes_match_each_byte(bytes in proptest::collection::vec(
            proptest::prop_oneof![4 => proptest::strategy::Just(b'a'), 1 => proptest::arbitrary::any::<u8>()], 0..70)) {
            proptest::prop_assert_eq!(all_slug_bytes(&bytes), bytes.iter().all(|&b| is_slug_byte(b)));
        }

        /// Every u64, of every number of digits, reads back from its decimal; any one
        /// byte changed to a non-digit, or a leading zero added, is refused.
        #[test]
        fn decimals_round_trip(n: u64, digits in 1u32..=20, at: proptest::sample::Index, byte: u8) {
            let n = 10u64.checked_pow(digits).map_or(n, |bound| n % bound);
            let text = n.to_string();
            proptest::prop_assert_eq!(parse_decimal(&text), Some(n));
            let mut bytes = text.clone().into_bytes();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            if let Ok(changed) = String::from_utf8(bytes) {
                let expected = changed.parse::<u64>().ok().filter(|_| {
                    changed.bytes().all(|b| b.is_ascii_digit()) && (changed.len() == 1 || !changed.starts_with('0'))
                });
                proptest::prop_assert_eq!(parse_decimal(&changed), expected, "{:?}", changed);
            }
            proptest::prop_assert_eq!(parse_decimal(&format!("0{text}")), None);
        }
    }

    #[test]
    fn decimals_are_canonical() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "18446744073709551616",
            "99999999999999999999",
            "1a",
            "1234567a",
            "12345678a",
            "1234567/",
            "1234567:",
            "123456789012345678a",
            "-1",
            "+1",
            " 1",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
        let mut out = String::new();
        push_decimal(&mut out, u64::MAX);
        push_decimal(&mut out, 0);
        assert_eq!(out, "184467440737095516150");
    }
}
