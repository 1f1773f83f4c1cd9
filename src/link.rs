//! Tracked URLs: their layout, the destination's wire form, and the [`Tracker`] that
//! builds and verifies them.
//!
//! ```text
//! https://t.example.com/hb/c/<token>?<destination>     click
//! https://t.example.com/hb/o/<token>.gif                open pixel
//! https://t.example.com/hb/u/<token>                    one-click unsubscribe
//! ```
//!
//! The destination travels visibly in the query, covered by the token's MAC, so the
//! endpoint redirects without any lookup and never to anything unsigned. It is written
//! in a wire form that no browser or standards-following intermediary rewrites: every
//! byte outside the characters RFC 3986 allows raw in a query, and `%` and `'`
//! themselves, is percent-encoded (uppercase hex, UTF-8). So
//! `https://shop.example/a b?q=1+2#top` travels as
//! `https://shop.example/a%20b?q=1+2%23top`: `+` stays `+`, an author's `%2F` becomes
//! `%252F`, and the `#fragment`, which browsers never send, travels encoded. Decoding is
//! plain percent-decoding, never form decoding.

mod wire;

use std::borrow::Cow;

use percent_encoding::{AsciiSet, percent_decode_str, utf8_percent_encode};

use crate::error::{ConfigError, LinkError, VerifyError};
use crate::key::Keyring;
use crate::token::{Claims, Kind, Verified};

/// Whether a byte stays raw in a destination's wire form: RFC 3986's unreserved
/// characters and the sub-delimiters, `:`, `@`, `/` and `?` that a query may hold raw —
/// except `'`, which browsers encode in queries. Everything else is percent-encoded.
///
/// That is visible ASCII except `"`, `#`, `%`, `'`, `<`, `>`, `[`, `\`, `]`, `^`, `` ` ``,
/// `{`, `|` and `}`, written as comparisons so that a fixed-size window of them
/// vectorizes.
const fn is_raw_by_comparison(b: u8) -> bool {
    let visible = b.wrapping_sub(b'!') < 94;
    let brackets = b.wrapping_sub(b'[') < 4;
    let braces = b.wrapping_sub(b'{') < 3;
    let quotes = (b == b'"') | (b == b'\'') | (b == b'`');
    let others = (b == b'#') | (b == b'%') | (b == b'<') | (b == b'>');
    visible & !(brackets | braces | quotes | others)
}

/// [`is_raw_by_comparison`] of every byte, for one lookup per byte in scalar loops.
// Evaluated at compile time: an out-of-range index would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const RAW: [bool; 256] = {
    let mut raw = [false; 256];
    let mut b = 0;
    while b < 256 {
        raw[b] = is_raw_by_comparison(b as u8);
        b += 1;
    }
    raw
};

/// Whether every byte stays raw: sixteen at a time from sixteen bytes on, the last
/// window overlapping the one before, since a fixed-size window vectorizes.
fn all_raw(bytes: &[u8]) -> bool {
    let Some(last) = bytes.last_chunk::<16>() else {
        return bytes.iter().fold(true, |raw, &b| raw & is_raw(b));
    };
    let all_raw_16 = |window: &[u8; 16]| window.iter().fold(true, |raw, &b| raw & is_raw_by_comparison(b));
    let (windows, _) = bytes.as_chunks::<16>();
    windows.iter().fold(true, |raw, window| raw & all_raw_16(window)) & all_raw_16(last)
}

fn hex_digit(nibble: u8) -> char {
    char::from(
        b"0123456789ABCDEF"
            .get(usize::from(nibble))
            .copied()
            .unwrap_or(b'0'),
    )
}

fn is_raw(byte: u8) -> bool {
    RAW.get(usize::from(byte)).copied().unwrap_or(false)
}

/// Route segment of click URLs.
const CLICK_ROUTE: &str = "/c/";
/// Route segment of open-pixel URLs.
const OPEN_ROUTE: &str = "/o/";
/// Route segment of unsubscribe URLs.
const UNSUBSCRIBE_ROUTE: &str = "/u/";
/// Suffix of open-pixel URLs, so mail clients see an image.
pub(crate) const PIXEL_SUFFIX: &str = ".gif";

/// Encodes a destination into its wire form (see the module docs).
///
/// ```
/// use hashbeacon::link::{decode_destination, encode_destination};
/// let dest = "https://shop.example/a b?q=1+2&r=%2F#top";
/// let wire = encode_destination(dest);
/// assert_eq!(wire, "https://shop.example/a%20b?q=1+2&r=%252F%23top");
/// assert_eq!(decode_destination(&wire)?, dest);
/// # Ok::<(), hashbeacon::VerifyError>(())
/// ```
pub fn encode_destination(destination: &str) -> Cow<'_, str> {
    let bytes = destination.as_bytes();
    if all_raw(bytes) {
        return Cow::Borrowed(destination);
    }
    let first = bytes.iter().position(|&b| !is_raw(b)).unwrap_or(bytes.len());
    let mut out = String::with_capacity(bytes.len() + 16);
    out.push_str(destination.get(..first).unwrap_or_default());
    for &byte in bytes.get(first..).unwrap_or_default() {
        if is_raw(byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0xF));
        }
    }
    Cow::Owned(out)
}

/// Decodes a destination's wire form back to the destination.
pub fn decode_destination(wire: &str) -> Result<Cow<'_, str>, VerifyError> {
    // Most destinations have no escapes: one memchr instead of a byte-by-byte decode.
    if !wire.as_bytes().contains(&b'%') {
        return Ok(Cow::Borrowed(wire));
    }
    percent_decode_str(wire)
        .decode_utf8()
        .map_err(|_| VerifyError::Malformed("destination is not UTF-8"))
}

/// Checks that a destination may be tracked: it starts with `http://` or `https://`
/// (any case), has a non-empty authority, and holds no ASCII control characters.
///
/// The `//` is required: `https:example.com` resolves differently inside a message and
/// in a redirect from the tracking host, so it is left untracked. Nothing else about the
/// URL is judged: the redirect hands the browser exactly the text the author wrote, and
/// the browser parses it as it would have parsed the href.
///
/// ```
/// use hashbeacon::link::check_destination;
/// assert!(check_destination("HTTPS://Example.com/a?b#c").is_ok());
/// assert!(check_destination("mailto:ada@example.com").is_err());
/// assert!(check_destination("https:example.com").is_err());
/// assert!(check_destination("https:///path").is_err());
/// assert!(check_destination("https://example.com/\nline").is_err());
/// ```
pub fn check_destination(destination: &str) -> Result<(), LinkError> {
    check_scheme_and_authority(destination)?;
    if destination.bytes().any(|b| b.is_ascii_control()) {
        return Err(LinkError::ControlCharacters);
    }
    Ok(())
}

pub(crate) fn check_scheme_and_authority(destination: &str) -> Result<(), LinkError> {
    check_scheme_and_authority_bytes(destination.as_bytes())
}

/// [`check_scheme_and_authority`] on the first bytes of a destination: the scheme and
/// the one byte after `//` are all it reads.
fn check_scheme_and_authority_bytes(bytes: &[u8]) -> Result<(), LinkError> {
    // `http` in any case: setting bit 5 lowercases a letter and maps no other byte
    // onto one.
    let http = bytes
        .first_chunk::<4>()
        .is_some_and(|head| u32::from_le_bytes(*head) | 0x2020_2020 == u32::from_le_bytes(*b"http"));
    let rest = bytes.get(4..).filter(|_| http).ok_or(LinkError::NotHttp)?;
    let rest = match rest {
        [b's' | b'S', rest @ ..] => rest,
        _ => rest,
    };
    match rest.strip_prefix(b"://") {
        None | Some([] | [b'/' | b'?' | b'#' | b'\\', ..]) => Err(LinkError::NotHttp),
        Some(_) => Ok(()),
    }
}

/// The value of a redirect's `Location` header for a destination: the destination
/// itself, with only the bytes a header cannot carry (space, controls, non-ASCII)
/// percent-encoded as UTF-8, which is what a browser does to the same href.
///
/// ```
/// assert_eq!(hashbeacon::link::location("https://ex.example/ä b?x=%41"),
///            "https://ex.example/%C3%A4%20b?x=%41");
/// ```
pub fn location(destination: &str) -> Cow<'_, str> {
    const HEADER_UNSAFE: &AsciiSet = &percent_encoding::CONTROLS.add(b' ');
    // Fast path: visible ASCII only is its own `Location`. A fold rather than `all`:
    // without the early exit the check vectorizes.
    if destination
        .bytes()
        .fold(true, |graphic, b| graphic & b.is_ascii_graphic())
    {
        return Cow::Borrowed(destination);
    }
    utf8_percent_encode(destination, HEADER_UNSAFE).into()
}

/// Builds tracked URLs under one tracking base URL and verifies them.
///
/// ```
/// use hashbeacon::{Claims, Key, KeyId, Kind, LinkId, Tracker};
/// let key = Key::new(KeyId::new("k1")?, &[7u8; 32])?;
/// let tracker = Tracker::new(key.into(), "https://t.example.com/hb")?;
/// let claims = Claims { kind: Kind::Click, campaign: "launch", link: Some(LinkId::Index(0)),
///                       recipient: None, issued_at: 1_767_225_600, expires_at: None };
/// let url = tracker.click_url(&claims, "https://shop.example/?q=1#top")?;
/// assert!(url.starts_with("https://t.example.com/hb/c/1c.k1.launch.0.."));
/// assert!(url.ends_with("?https://shop.example/?q=1%23top"));
///
/// // The endpoint side: path and raw query as the request carries them.
/// let (path, query) = url["https://t.example.com".len()..].split_once('?').unwrap();
/// let click = tracker.verify_click(path, Some(query), 1_767_225_700)?;
/// assert_eq!(click.destination()?, "https://shop.example/?q=1#top");
/// assert_eq!(click.verified.claims.campaign, "launch");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Tracker {
    keyring: Keyring,
    /// Scheme, authority and path prefix, without a trailing slash.
    base: String,
    /// Byte offset in `base` where the path prefix starts.
    prefix_at: usize,
}

/// Whether a parsed host is an IP address or a domain name of letters, digits, `-` and
/// `_` between dots (a trailing dot allowed): nothing that needs escaping anywhere.
fn is_plain_host(host: url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(domain) => {
            let domain = domain.strip_suffix('.').unwrap_or(domain);
            domain.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
            })
        }
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => true,
    }
}

impl Tracker {
    /// A tracker for a base URL: absolute `https` (or `http`), a host (a domain name of
    /// letters, digits, `-` and `_` between dots, after IDNA; or an IP address), an
    /// optional path prefix of plain segments, and no user info, query or fragment.
    ///
    /// A plain segment is one or more ASCII letters, digits, `-`, `_`, `.` or `~`, and
    /// not `.` or `..`; segments are not empty. One trailing `/` is dropped.
    ///
    /// The WHATWG URL rules let a domain hold `"`, `'`, `` ` ``, `{`, `}` and more; such a
    /// base is refused, since it would be written into every tracked body.
    ///
    /// ```
    /// # use hashbeacon::{Key, KeyId, Tracker};
    /// # let ring = || Key::new(KeyId::new("k1").unwrap(), &[7u8; 32]).unwrap().into();
    /// assert_eq!(Tracker::new(ring(), "https://t.example/hb/v1.2/")?.path_prefix(), "/hb/v1.2");
    /// assert!(Tracker::new(ring(), "https://t.example/hb//").is_err());
    /// assert!(Tracker::new(ring(), "https://t.example/h%20b").is_err());
    /// assert!(Tracker::new(ring(), "https://t.example.com\"onload=\"x/hb").is_err());
    /// # Ok::<(), hashbeacon::ConfigError>(())
    /// ```
    pub fn new(keyring: Keyring, base_url: &str) -> Result<Self, ConfigError> {
        let url = url::Url::parse(base_url).map_err(|_| ConfigError::BaseUrl("not an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::BaseUrl("the scheme must be https or http"));
        }
        if !url.host().is_some_and(is_plain_host) {
            return Err(ConfigError::BaseUrl(
                "the host must be a domain name (letters, digits, `-`, `_`, dots) or an IP address",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::BaseUrl("user info is not allowed"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::BaseUrl("a query or fragment is not allowed"));
        }
        let path = url.path();
        let prefix = path.strip_suffix('/').unwrap_or(path);
        let plain = |segment: &str| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        };
        if !prefix.is_empty() && !prefix.split('/').skip(1).all(plain) {
            return Err(ConfigError::BaseUrl("the path prefix must be plain segments"));
        }
        let origin = url.origin().ascii_serialization();
        let base = format!("{origin}{prefix}");
        Ok(Self {
            keyring,
            prefix_at: origin.len(),
            base,
        })
    }

    /// The keyring tokens are signed and verified with.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// The normalized base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// What precedes the token in a URL of a kind: `{base}/c/`, `{base}/o/` or
    /// `{base}/u/`.
    #[cfg(feature = "rewrite")]
    pub(crate) fn token_prefix(&self, kind: Kind) -> String {
        format!("{}{}", self.base, route_of(kind))
    }

    /// The path prefix requests must start with: `""` or e.g. `"/hb"`.
    pub fn path_prefix(&self) -> &str {
        self.base.get(self.prefix_at..).unwrap_or_default()
    }

    /// The click URL for a destination.
    ///
    /// The destination is taken as opaque text (never re-encoded beyond its wire form)
    /// and must pass [`check_destination`].
    pub fn click_url(&self, claims: &Claims<'_>, destination: &str) -> Result<String, LinkError> {
        let mut out = String::new();
        self.push_click_url(claims, destination, &mut out)?;
        Ok(out)
    }

    /// Like [`Tracker::click_url`], appending to `out`.
    pub fn push_click_url(
        &self,
        claims: &Claims<'_>,
        destination: &str,
        out: &mut String,
    ) -> Result<(), LinkError> {
        if claims.kind != Kind::Click {
            return Err(LinkError::Sign(crate::SignError::DestinationOnOpen));
        }
        check_scheme_and_authority(destination)?;
        let wire = encode_destination(destination);
        // Control characters are never raw, so a borrowed wire form has none.
        if let Cow::Owned(_) = wire {
            check_destination(destination)?;
        }
        out.reserve(self.base.len() + 100 + wire.len());
        out.push_str(&self.base);
        out.push_str(CLICK_ROUTE);
        self.keyring.signing_key().sign_into(claims, &wire, out)?;
        out.push('?');
        out.push_str(&wire);
        Ok(())
    }

    /// The open-pixel URL for a message.
    pub fn open_url(&self, claims: &Claims<'_>) -> Result<String, LinkError> {
        if claims.kind != Kind::Open {
            return Err(LinkError::Sign(crate::SignError::LinkOnOpen));
        }
        let mut out = String::with_capacity(self.base.len() + 100);
        out.push_str(&self.base);
        out.push_str(OPEN_ROUTE);
        self.keyring.signing_key().sign_into(claims, "", &mut out)?;
        out.push_str(PIXEL_SUFFIX);
        Ok(out)
    }

    /// The one-click unsubscribe URL for a recipient of a list or campaign
    /// (`claims.kind` is [`Kind::Unsubscribe`]; the claims name a recipient and no link).
    ///
    /// Put it in the message's `List-Unsubscribe` header ([`crate::unsubscribe`] writes
    /// both headers) and, if wanted, in the body's visible unsubscribe link.
    ///
    /// ```
    /// use hashbeacon::{Claims, Key, KeyId, Kind, Tracker};
    /// let tracker = Tracker::new(Key::new(KeyId::new("k1")?, &[7u8; 32])?.into(), "https://t.example.com/hb")?;
    /// let claims = Claims { kind: Kind::Unsubscribe, campaign: "weekly", link: None,
    ///                       recipient: Some("3FOq2KtOAntf0XxY"), issued_at: 1_767_225_600, expires_at: None };
    /// let url = tracker.unsubscribe_url(&claims)?;
    /// assert!(url.starts_with("https://t.example.com/hb/u/1u.k1.weekly..3FOq2KtOAntf0XxY.1767225600.."));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unsubscribe_url(&self, claims: &Claims<'_>) -> Result<String, LinkError> {
        if claims.kind != Kind::Unsubscribe {
            return Err(LinkError::WrongKind {
                expected: Kind::Unsubscribe,
                found: claims.kind,
            });
        }
        let mut out = String::with_capacity(self.base.len() + 100);
        out.push_str(&self.base);
        out.push_str(UNSUBSCRIBE_ROUTE);
        self.keyring.signing_key().sign_into(claims, "", &mut out)?;
        Ok(out)
    }

    /// Finds which route a request path takes: `(Kind::Click, token)` for
    /// `{prefix}/c/{token}`, `(Kind::Open, token)` for `{prefix}/o/{token}.gif`,
    /// `(Kind::Unsubscribe, token)` for `{prefix}/u/{token}`.
    pub fn route<'a>(&self, path: &'a str) -> Result<(Kind, &'a str), VerifyError> {
        let rest = path
            .strip_prefix(self.path_prefix())
            .ok_or(VerifyError::NotTracking("path prefix"))?;
        let (kind, token) = Kind::ALL
            .into_iter()
            .find_map(|kind| Some((kind, rest.strip_prefix(route_of(kind))?)))
            .ok_or(VerifyError::NotTracking("route"))?;
        match kind {
            Kind::Open => token
                .strip_suffix(PIXEL_SUFFIX)
                .map(|token| (kind, token))
                .ok_or(VerifyError::NotTracking("open URLs end in .gif")),
            _ => Ok((kind, token)),
        }
    }

    /// Verifies a click request: its path and raw query (not form-decoded), as sent.
    ///
    /// After the token's MAC, the destination must be one a tracker signs: its wire
    /// form canonical, decoding to UTF-8 that passes [`check_destination`]. Never
    /// allocates.
    pub fn verify_click<'a>(
        &self,
        path: &'a str,
        query: Option<&'a str>,
        now: u64,
    ) -> Result<VerifiedClick<'a>, VerifyError> {
        self.verify_click_token(self.routed_token(path, Kind::Click)?, query, now)
    }

    /// [`Tracker::verify_click`] of a token already routed.
    pub(crate) fn verify_click_token<'a>(
        &self,
        token: &'a str,
        query: Option<&'a str>,
        now: u64,
    ) -> Result<VerifiedClick<'a>, VerifyError> {
        let wire = query.ok_or(VerifyError::Malformed("click URL without destination"))?;
        let verified = self.keyring.verify(Kind::Click, token, wire, now)?;
        wire::check_wire(wire)?;
        Ok(VerifiedClick {
            verified,
            wire_destination: wire,
        })
    }

    /// Verifies an open-pixel request path.
    pub fn verify_open<'a>(&self, path: &'a str, now: u64) -> Result<Verified<'a>, VerifyError> {
        let token = self.routed_token(path, Kind::Open)?;
        self.keyring.verify(Kind::Open, token, "", now)
    }

    /// Verifies an unsubscribe request path. An authentic token past its optional
    /// expiry verifies, marked [`Verified::expired`]: the recipient's wish is authentic.
    pub fn verify_unsubscribe<'a>(&self, path: &'a str, now: u64) -> Result<Verified<'a>, VerifyError> {
        let token = self.routed_token(path, Kind::Unsubscribe)?;
        self.keyring.verify(Kind::Unsubscribe, token, "", now)
    }

    /// The token of a path on the route of the `expected` kind.
    fn routed_token<'a>(&self, path: &'a str, expected: Kind) -> Result<&'a str, VerifyError> {
        match self.route(path)? {
            (kind, token) if kind == expected => Ok(token),
            (found, _) => Err(VerifyError::WrongPurpose { expected, found }),
        }
    }
}

/// The route segment of a kind's URLs.
fn route_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Click => CLICK_ROUTE,
        Kind::Open => OPEN_ROUTE,
        Kind::Unsubscribe => UNSUBSCRIBE_ROUTE,
    }
}

/// A click whose token and destination verified. Only [`Tracker::verify_click`] makes
/// one, so its destination has passed every check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedClick<'a> {
    /// The authenticated token.
    pub verified: Verified<'a>,
    /// The destination in its wire form, authenticated by the token's MAC.
    pub wire_destination: &'a str,
}

impl<'a> VerifiedClick<'a> {
    /// The destination exactly as the author wrote it.
    pub fn destination(&self) -> Result<Cow<'a, str>, VerifyError> {
        decode_destination(self.wire_destination)
    }

    /// The `Location` header value to redirect to (see [`location`]), built in one
    /// allocation. The destination was checked when the click verified.
    pub fn location(&self) -> Result<String, VerifyError> {
        Ok(wire::location_from_wire(self.wire_destination))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The raw set is exactly RFC 3986's unreserved characters and the sub-delimiters,
    /// `:`, `@`, `/` and `?`, without `'`.
    #[test]
    fn raw_bytes_are_the_documented_set() {
        for b in 0..=u8::MAX {
            let listed = b.is_ascii_alphanumeric() || b"-._~!$&()*+,;=:@/?".contains(&b);
            assert_eq!(is_raw(b), listed, "{b:#04x}");
            assert_eq!(is_raw_by_comparison(b), listed, "{b:#04x}");
        }
    }

    proptest! {
        /// The scheme check takes `http://` and `https://` in any case, followed by
        /// anything but nothing, `/`, `?`, `#` or `\`.
        #[test]
        fn schemes_are_http_in_any_case(text in "([hHgG][tT][tT][pP][sSxX]?:?/?/?|[hHtTpPsS:/]{0,6})[/?#\\\\xAs]{0,3}") {
            let bytes = text.as_bytes();
            let lower = text.to_ascii_lowercase();
            let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
            let expected = rest.is_some_and(|rest| !rest.is_empty() && !rest.starts_with(['/', '?', '#', '\\']));
            prop_assert_eq!(check_scheme_and_authority_bytes(bytes).is_ok(), expected, "{:?}", text);
        }

        /// The windowed check agrees with a byte-by-byte one at every length and
        /// wherever a non-raw byte stands.
        #[test]
        fn all_raw_matches_each_byte(bytes in proptest::collection::vec(
            prop_oneof![4 => Just(b'a'), 1 => any::<u8>()], 0..70)) {
            prop_assert_eq!(all_raw(&bytes), bytes.iter().all(|&b| is_raw(b)));
        }
    }
}
