//! Conversion attribution: a signed click reference on the landing page's URL, and its
//! verification when the landing site reports a conversion.
//!
//! When an [`Endpoint`](crate::Endpoint) is given a [`ReferenceParameter`], every click's
//! redirect carries one more query parameter, `hb_ref=<reference>` by default, inserted
//! before any `#fragment`. The reference says which click led to the page — campaign,
//! link, recipient pseudonym and click time — and is MAC'd with the keyring under its own
//! domain label, so it can be neither forged nor passed off as a tracking token. The
//! landing site keeps it (a cookie, a hidden form field) and, when the visitor converts,
//! sends it back; [`Keyring::verify_reference`] turns it into a [`Conversion`] that a
//! [`Report`](crate::report::Report) counts per campaign and link.
//!
//! It is off by default: the landing site learns the campaign, the link and the
//! recipient's pseudonym (never an address). An author's own parameter of the same name
//! is never overwritten: such a destination is left exactly as written.
//!
//! ```text
//! 1r.k1.spring-sale.3.3FOq2KtOAntf0XxY.1767229200.<22-character tag>
//! ```
//!
//! `docs/TOKEN.md` describes the bytes exactly, with a golden vector.
//!
//! ```
//! use hashbeacon::conversion::ClickReference;
//! use hashbeacon::{Key, KeyId, Keyring, LinkId};
//!
//! let ring = Keyring::new(Key::new(KeyId::new("k1")?, &[7u8; 32])?);
//! let click = ClickReference { campaign: "launch", link: Some(LinkId::Label("cta")),
//!                              recipient: None, clicked_at: 1_767_229_200 };
//! let reference = ring.sign_reference(&click)?;
//! assert!(reference.starts_with("1r.k1.launch.cta..1767229200."));
//!
//! // Later, the landing site reports a conversion with that reference.
//! let conversion = ring.verify_reference(&reference, 1_767_232_800)?;
//! assert_eq!(conversion.campaign, "launch");
//! assert_eq!(conversion.converted_at - conversion.clicked_at, 3_600);
//! assert!(ring.verify_reference(&reference.replace("launch", "lunch"), 1_767_232_800).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use hmac::Mac;
use percent_encoding::percent_decode_str;

use crate::error::{ConfigError, SignError, VerifyError};
use crate::event::Link;
use crate::key::{Key, KeyId, Keyring};
use crate::token::{
    Claims, Kind, LinkId, TAG_LEN, TAG_TEXT_LEN, decode_tag, is_campaign, is_pseudonym, parse_decimal,
    parse_link, push_decimal, push_link, push_tag,
};

/// The version and purpose field every reference starts with.
pub const REFERENCE_PREFIX: &str = "1r";
/// The default query parameter name.
pub const DEFAULT_PARAMETER: &str = "hb_ref";
/// Most characters a reference may have; longer input is rejected before any other work.
pub const MAX_REFERENCE_LEN: usize = 200;
/// Most characters in a parameter name.
pub const MAX_PARAMETER_LEN: usize = 32;

/// The domain-separation label of reference MACs.
const REFERENCE_LABEL: &[u8] = b"hashbeacon/v1/conversion\0";

/// Which click led to a landing page: what a reference says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClickReference<'a> {
    /// The campaign id.
    pub campaign: &'a str,
    /// The link clicked.
    pub link: Option<LinkId<'a>>,
    /// The recipient's pseudonym, if the click's token carried one.
    pub recipient: Option<&'a str>,
    /// When the click came, unix seconds.
    pub clicked_at: u64,
}

impl<'a> ClickReference<'a> {
    /// The reference for a verified click's claims, clicked at `now`.
    pub fn from_click(claims: &Claims<'a>, now: u64) -> Self {
        Self {
            campaign: claims.campaign,
            link: claims.link,
            recipient: claims.recipient,
            clicked_at: now,
        }
    }
}

/// A conversion the landing site reported with an authentic reference: the event a
/// report counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Conversion {
    /// The campaign id.
    pub campaign: String,
    /// The link whose click led to the conversion.
    pub link: Option<Link>,
    /// The recipient's pseudonym, if the click carried one.
    pub recipient: Option<String>,
    /// When the click came, unix seconds.
    pub clicked_at: u64,
    /// When the conversion was reported (the `now` given to verification), unix seconds.
    pub converted_at: u64,
    /// The key that signed the reference.
    pub key_id: KeyId,
}

impl Key {
    /// Appends a signed reference for a click to `out`.
    pub fn sign_reference_into(&self, click: &ClickReference<'_>, out: &mut String) -> Result<(), SignError> {
        // The same rules as a click token's claims.
        Claims {
            kind: Kind::Click,
            campaign: click.campaign,
            link: click.link,
            recipient: click.recipient,
            issued_at: click.clicked_at,
            expires_at: None,
        }
        .validate()?;
        let start = out.len();
        out.push_str(REFERENCE_PREFIX);
        out.push('.');
        out.push_str(self.id().as_str());
        out.push('.');
        out.push_str(click.campaign);
        out.push('.');
        push_link(out, click.link);
        out.push('.');
        out.push_str(click.recipient.unwrap_or_default());
        out.push('.');
        push_decimal(out, click.clicked_at);
        let mut mac = self.labelled_mac(REFERENCE_LABEL);
        mac.update(out.get(start..).unwrap_or_default().as_bytes());
        out.push('.');
        push_tag(
            out,
            mac.finalize().into_bytes().get(..TAG_LEN).unwrap_or_default(),
        );
        Ok(())
    }
}

impl Keyring {
    /// Signs a reference for a click with the ring's signing key.
    pub fn sign_reference(&self, click: &ClickReference<'_>) -> Result<String, SignError> {
        let mut out = String::with_capacity(96);
        self.signing_key().sign_reference_into(click, &mut out)?;
        Ok(out)
    }

    /// Verifies a reference a landing site sent back, and returns the conversion it
    /// stands for, converted at `now` (unix seconds).
    ///
    /// Checks run cheapest first — length, syntax, key id — and the MAC last, compared
    /// in constant time. References do not expire: how long after a click a conversion
    /// still counts is the host's attribution window, judged from
    /// [`Conversion::clicked_at`]. A site that reports the same reference twice gets two
    /// conversions; deduplicate by the site's own order id if that matters.
    pub fn verify_reference(&self, text: &str, now: u64) -> Result<Conversion, VerifyError> {
        if text.len() > MAX_REFERENCE_LEN {
            return Err(VerifyError::TooLong {
                len: text.len(),
                max: MAX_REFERENCE_LEN,
            });
        }
        let (signed, tag) = text
            .rsplit_once('.')
            .ok_or(VerifyError::Malformed("not a reference"))?;
        let mut fields = signed.split('.');
        let mut field = |name| fields.next().ok_or(VerifyError::Malformed(name));
        let prefix = field("version")?;
        if prefix != REFERENCE_PREFIX {
            return Err(match prefix.as_bytes() {
                [_, b'r'] => VerifyError::UnsupportedVersion,
                _ => VerifyError::Malformed("not a reference"),
            });
        }
        let (key_id, campaign) = (field("key id")?, field("campaign id")?);
        let (link, recipient, clicked_at) = (field("link")?, field("recipient")?, field("clicked-at")?);
        if fields.next().is_some() {
            return Err(VerifyError::Malformed("too many fields"));
        }
        let key_id = KeyId::new(key_id).map_err(|_| VerifyError::Malformed("key id"))?;
        if !is_campaign(campaign.as_bytes()) {
            return Err(VerifyError::Malformed("campaign id"));
        }
        let link = parse_link(link)?;
        let recipient = match recipient {
            "" => None,
            r if is_pseudonym(r.as_bytes()) => Some(r),
            _ => return Err(VerifyError::Malformed("recipient pseudonym")),
        };
        let clicked_at = parse_decimal(clicked_at).ok_or(VerifyError::Malformed("clicked-at"))?;
        if tag.len() != TAG_TEXT_LEN {
            return Err(VerifyError::Malformed("tag has the wrong length"));
        }
        let tag =
            decode_tag(tag.as_bytes()).ok_or(VerifyError::Malformed("tag is not canonical base64url"))?;
        let key = self.get(key_id.as_str()).ok_or(VerifyError::UnknownKey(key_id))?;
        let mut mac = key.labelled_mac(REFERENCE_LABEL);
        mac.update(signed.as_bytes());
        mac.verify_truncated_left(&tag).map_err(|_| VerifyError::BadMac)?;
        Ok(Conversion {
            campaign: campaign.to_owned(),
            link: link.map(Link::from),
            recipient: recipient.map(str::to_owned),
            clicked_at,
            converted_at: now,
            key_id,
        })
    }
}

/// The query parameter a click's redirect carries its reference in.
///
/// ```
/// use hashbeacon::conversion::ReferenceParameter;
/// let hb_ref = ReferenceParameter::default();
/// assert_eq!(hb_ref.append_to("https://shop.example/p?a=1#top", "REF").as_deref(),
///            Some("https://shop.example/p?a=1&hb_ref=REF#top"));
/// // An author's own parameter of that name is left alone.
/// assert_eq!(hb_ref.append_to("https://shop.example/?hb_ref=mine", "REF"), None);
/// assert!(ReferenceParameter::new("not ok").is_err());
/// # Ok::<(), hashbeacon::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReferenceParameter(String);

impl Default for ReferenceParameter {
    /// [`DEFAULT_PARAMETER`].
    fn default() -> Self {
        Self(DEFAULT_PARAMETER.to_owned())
    }
}

impl ReferenceParameter {
    /// A parameter name: 1 to 32 ASCII letters, digits, `-`, `.`, `_` or `~` (characters
    /// that need no encoding anywhere in a URL).
    pub fn new(name: &str) -> Result<Self, ConfigError> {
        let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if name.is_empty() || name.len() > MAX_PARAMETER_LEN || !name.bytes().all(unreserved) {
            return Err(ConfigError::ReferenceParameter);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `url` with `name=reference` added to its query, before any `#fragment`; `None`
    /// when the query already has a parameter of this name (compared after
    /// percent-decoding), which is then left as the author wrote it.
    pub fn append_to(&self, url: &str, reference: &str) -> Option<String> {
        let end = url.find('#').unwrap_or(url.len());
        let (before, fragment) = url.split_at_checked(end)?;
        let separator = match before.split_once('?') {
            None => "?",
            Some((_, query)) => {
                let taken = query.split('&').any(|pair| {
                    let name = pair.split_once('=').map_or(pair, |(name, _)| name);
                    percent_decode_str(name).eq(self.0.bytes())
                });
                if taken {
                    return None;
                }
                if query.is_empty() || query.ends_with('&') {
                    ""
                } else {
                    "&"
                }
            }
        };
        let mut out = String::with_capacity(url.len() + self.0.len() + reference.len() + 2);
        out.push_str(before);
        out.push_str(separator);
        out.push_str(&self.0);
        out.push('=');
        out.push_str(reference);
        out.push_str(fragment);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring() -> Keyring {
        Keyring::new(Key::new(KeyId::new("k1").unwrap(), &[7; 32]).unwrap())
    }

    const CLICK: ClickReference<'static> = ClickReference {
        campaign: "launch",
        link: Some(LinkId::Index(2)),
        recipient: Some("3FOq2KtOAntf0XxY"),
        clicked_at: 1_767_229_200,
    };

    #[test]
    fn round_trips_and_attributes() {
        let reference = ring().sign_reference(&CLICK).unwrap();
        let conversion = ring().verify_reference(&reference, 1_767_240_000).unwrap();
        assert_eq!(conversion.campaign, "launch");
        assert_eq!(conversion.link, Some(Link::Index(2)));
        assert_eq!(conversion.recipient.as_deref(), Some("3FOq2KtOAntf0XxY"));
        assert_eq!(
            (conversion.clicked_at, conversion.converted_at),
            (1_767_229_200, 1_767_240_000)
        );
        assert_eq!(conversion.key_id.as_str(), "k1");
    }

    #[test]
    fn rejects_what_is_not_an_authentic_reference() {
        let ring = ring();
        let reference = ring.sign_reference(&CLICK).unwrap();
        let other = Keyring::new(Key::new(KeyId::new("k2").unwrap(), &[7; 32]).unwrap());
        let cases = [
            (
                reference.replacen("1r.", "2r.", 1),
                VerifyError::UnsupportedVersion,
            ),
            (
                reference.replacen("1r.", "1c.", 1),
                VerifyError::Malformed("not a reference"),
            ),
            (reference.replace(".2.", ".3."), VerifyError::BadMac),
            (
                reference.replace(".2.", ".02."),
                VerifyError::Malformed("link index"),
            ),
            (
                format!("{reference}.x"),
                VerifyError::Malformed("too many fields"),
            ),
            (
                format!("{reference}x"),
                VerifyError::Malformed("tag has the wrong length"),
            ),
            (
                "x".repeat(MAX_REFERENCE_LEN + 1),
                VerifyError::TooLong { len: 201, max: 200 },
            ),
            (String::new(), VerifyError::Malformed("not a reference")),
        ];
        for (text, error) in cases {
            assert_eq!(ring.verify_reference(&text, 0), Err(error), "{text}");
        }
        // Same secret, other key id: unknown to this ring.
        let foreign = other.sign_reference(&CLICK).unwrap();
        assert_eq!(
            ring.verify_reference(&foreign, 0),
            Err(VerifyError::UnknownKey(KeyId::new("k2").unwrap()))
        );
    }

    #[test]
    fn a_click_tag_is_never_a_reference_tag() {
        // A reference and a click token over the same fields must not share a tag.
        let ring = ring();
        let reference = ring.sign_reference(&CLICK).unwrap();
        let claims = Claims {
            kind: Kind::Click,
            campaign: CLICK.campaign,
            link: CLICK.link,
            recipient: CLICK.recipient,
            issued_at: CLICK.clicked_at,
            expires_at: None,
        };
        let token = ring.sign(&claims, "").unwrap();
        let tag_of = |text: &str| text.rsplit_once('.').unwrap().1.to_owned();
        assert_ne!(tag_of(&reference), tag_of(&token));
    }

    #[test]
    fn signing_checks_the_fields() {
        let bad = ClickReference {
            recipient: Some("ada@example.com"),
            ..CLICK
        };
        assert_eq!(ring().sign_reference(&bad), Err(SignError::InvalidRecipient));
    }

    #[test]
    fn parameter_goes_before_the_fragment_and_never_overwrites() {
        let p = ReferenceParameter::default();
        let cases = [
            ("https://a.example", Some("https://a.example?hb_ref=R")),
            ("https://a.example/?", Some("https://a.example/?hb_ref=R")),
            ("https://a.example/?x=1&", Some("https://a.example/?x=1&hb_ref=R")),
            ("https://a.example/#a?b", Some("https://a.example/?hb_ref=R#a?b")),
            (
                "https://a.example/?q=a#x#y",
                Some("https://a.example/?q=a&hb_ref=R#x#y"),
            ),
            (
                "https://a.example/?hb_refx=1",
                Some("https://a.example/?hb_refx=1&hb_ref=R"),
            ),
            (
                "https://a.example/?x=1#hb_ref=2",
                Some("https://a.example/?x=1&hb_ref=R#hb_ref=2"),
            ),
            ("https://a.example/?a=1&hb_ref", None),
            ("https://a.example/?hb%5Fref=1", None),
            ("https://a.example/?hb_ref=&b=2#f", None),
        ];
        for (url, expected) in cases {
            assert_eq!(p.append_to(url, "R").as_deref(), expected, "{url}");
        }
    }

    #[test]
    fn parameter_names_are_checked() {
        assert!(ReferenceParameter::new("ref").is_ok());
        assert!(ReferenceParameter::new(&"a".repeat(32)).is_ok());
        for bad in ["", "a b", "a=b", "a&b", "ä", &"a".repeat(33)] {
            assert_eq!(
                ReferenceParameter::new(bad),
                Err(ConfigError::ReferenceParameter),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn tampering_any_byte_is_rejected(at in 0usize..120, byte in 0x21u8..0x7f) {
            let ring = ring();
            let reference = ring.sign_reference(&CLICK).unwrap();
            let mut bytes = reference.clone().into_bytes();
            let at = at % bytes.len();
            prop_assume!(bytes[at] != byte);
            bytes[at] = byte;
            let tampered = String::from_utf8(bytes).unwrap();
            prop_assert!(ring.verify_reference(&tampered, 0).is_err(), "{}", tampered);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,220}") {
            let _ = ring().verify_reference(&text, 0);
        }

        #[test]
        fn appending_keeps_the_url_and_adds_one_parameter(
            url in "https://[a-z]{1,8}\\.example(/[a-z]{0,4})?(\\?((hb_ref|[a-z]{1,3})(=[a-z%]{0,3})?&?){0,3})?(#[a-z?&=#_]{0,8})?",
        ) {
            let p = ReferenceParameter::default();
            let fragment_at = url.find('#').unwrap_or(url.len());
            let (before, fragment) = url.split_at(fragment_at);
            let authored = before
                .split_once('?')
                .is_some_and(|(_, query)| query.split('&').any(|pair| pair.split('=').next() == Some("hb_ref")));
            match p.append_to(&url, "R") {
                Some(out) => {
                    prop_assert!(!authored, "{}", url);
                    prop_assert!(out.starts_with(before));
                    prop_assert!(out.ends_with(fragment));
                    let added = &out[before.len()..out.len() - fragment.len()];
                    prop_assert!(matches!(added, "?hb_ref=R" | "&hb_ref=R" | "hb_ref=R"), "{}", added);
                }
                None => prop_assert!(authored, "{}", url),
            }
        }
    }
}
