//! One-click unsubscribe (RFC 8058): the two message headers that offer it.
//!
//! A bulk message offers one-click unsubscribe with two header fields:
//!
//! ```text
//! List-Unsubscribe: <https://t.example.com/hb/u/1u.k1.weekly..3FOq2KtOAntf0XxY.1767225600..…>,
//!  <mailto:unsubscribe@example.com>
//! List-Unsubscribe-Post: List-Unsubscribe=One-Click
//! ```
//!
//! The HTTPS URL carries a signed unsubscribe token naming the list (or campaign) and
//! the recipient's pseudonym, so the [`Endpoint`](crate::Endpoint) needs no lookup and
//! no one can unsubscribe anybody else by guessing. A mailbox provider that shows an
//! "Unsubscribe" button `POST`s `List-Unsubscribe=One-Click` to that URL; the endpoint
//! answers 200 and hands an unsubscribe event to the sink. A `GET` of the URL never
//! unsubscribes: link scanners and previews fetch every URL they find, so a `GET` only
//! shows a page whose button makes the `POST`.
//!
//! # DKIM
//!
//! Mailbox providers honour the headers only when the message's DKIM signature covers
//! both (RFC 8058 §4): add them to the message *before* signing it, and list
//! `List-Unsubscribe` and `List-Unsubscribe-Post` in the signature's `h=` tag. Headers
//! added after signing (by a relay, say) are ignored or break the signature.
//!
//! # Folding
//!
//! [`UnsubscribeHeaders::to_lines`] writes the fields as they go into the message:
//! CRLF line ends, and when a field would pass 78 characters, the `mailto:` URL on a
//! continuation line (folding happens only between URLs, never inside one). The HTTPS
//! URL alone is longer than 78 characters with a typical base URL; RFC 5322 allows that
//! (its hard limit is 998) and no line here comes near it. For a mail library that folds
//! header values itself, [`UnsubscribeHeaders::list_unsubscribe`] gives the unfolded value.
//!
//! ```
//! use hashbeacon::{Key, KeyId, PseudonymKey, Tracker};
//! use hashbeacon::unsubscribe::Mailto;
//!
//! let tracker = Tracker::new(Key::new(KeyId::new("k1")?, &[7u8; 32])?.into(), "https://t.example.com/hb")?;
//! let pseudonym = PseudonymKey::new(&[0x42; 32])?.pseudonym("ada@example.com");
//! let mailto = Mailto::new("unsubscribe@example.com")?;
//! let headers = tracker.unsubscribe_headers("weekly", &pseudonym, 1_767_225_600, Some(&mailto))?;
//!
//! assert!(headers.list_unsubscribe().starts_with("<https://t.example.com/hb/u/1u.k1.weekly.."));
//! assert!(headers.list_unsubscribe().ends_with(">, <mailto:unsubscribe@example.com>"));
//! assert_eq!(headers.list_unsubscribe_post(), "List-Unsubscribe=One-Click");
//! let lines = headers.to_lines();
//! assert!(lines.starts_with("List-Unsubscribe: <https://t.example.com/hb/u/"));
//! assert!(lines.ends_with(">,\r\n <mailto:unsubscribe@example.com>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use crate::error::HeaderError;
use crate::link::Tracker;
use crate::privacy::Pseudonym;
use crate::token::{Claims, Kind};

/// The body a one-click unsubscribe `POST` carries, and the value of the
/// `List-Unsubscribe-Post` header.
pub const ONE_CLICK: &str = "List-Unsubscribe=One-Click";
/// The name of the header holding the unsubscribe URLs.
pub const LIST_UNSUBSCRIBE: &str = "List-Unsubscribe";
/// The name of the header announcing one-click support.
pub const LIST_UNSUBSCRIBE_POST: &str = "List-Unsubscribe-Post";

/// Longest line RFC 5322 allows, without its CRLF.
const MAX_LINE: usize = 998;
/// Length beyond which RFC 5322 asks a line to be folded, without its CRLF.
const FOLD_AT: usize = 78;
/// Most characters in the local part and the domain of a mailto address (RFC 5321).
const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 253;

/// An address for the optional `mailto:` unsubscribe URL, checked to be safe both in a
/// `mailto:` URL and in a header: `local@domain`, where the local part is letters,
/// digits and `.` `-` `_` `+` `=` `!` `$` `'` `*` `~` (no leading, trailing or double
/// dot) and the domain is dot-separated labels of letters, digits and `-`.
///
/// ```
/// use hashbeacon::unsubscribe::Mailto;
/// assert!(Mailto::new("list-unsubscribe+weekly@example.com").is_ok());
/// assert!(Mailto::new("Ada <ada@example.com>").is_err());
/// assert!(Mailto::new("a@example.com, b@example.com").is_err());
/// assert!(Mailto::new("a@example.com?body=x").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailto(String);

impl Mailto {
    /// Checks an address (surrounding whitespace is trimmed).
    pub fn new(address: &str) -> Result<Self, HeaderError> {
        let address = address.trim();
        let (local, domain) = address
            .rsplit_once('@')
            .ok_or(HeaderError::Mailto("expected local@domain"))?;
        let local_byte = |b: u8| b.is_ascii_alphanumeric() || b"._-+=!$'*~".contains(&b);
        if local.is_empty()
            || local.len() > MAX_LOCAL
            || !local.bytes().all(local_byte)
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(HeaderError::Mailto(
                "the local part must be letters, digits and . - _ + = ! $ ' * ~",
            ));
        }
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if domain.len() > MAX_DOMAIN || !domain.split('.').all(label_ok) {
            return Err(HeaderError::Mailto(
                "the domain must be dot-separated labels of letters, digits and -",
            ));
        }
        Ok(Self(address.to_owned()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Mailto {
    type Err = HeaderError;
    fn from_str(s: &str) -> Result<Self, HeaderError> {
        Self::new(s)
    }
}

/// The `List-Unsubscribe` and `List-Unsubscribe-Post` headers of one message to one
/// recipient. Build them with [`Tracker::unsubscribe_headers`], or per recipient from a
/// compiled [`Template`](crate::Template).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnsubscribeHeaders {
    url: String,
    mailto: Option<Mailto>,
}

impl UnsubscribeHeaders {
    /// The headers for a signed unsubscribe URL (as [`Tracker::unsubscribe_url`]
    /// builds it) and an optional `mailto:` address.
    ///
    /// Fails when the URL could not stand in a header (anything but visible ASCII, or
    /// `<`, `>`, `,`) or would make a line longer than RFC 5322's 998 characters.
    pub fn new(url: String, mailto: Option<Mailto>) -> Result<Self, HeaderError> {
        let safe = |b: u8| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b',');
        if !url.bytes().all(safe) || !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(HeaderError::Url);
        }
        let headers = Self { url, mailto };
        let longest = headers.lines().iter().map(String::len).max().unwrap_or_default();
        if longest > MAX_LINE {
            return Err(HeaderError::LineTooLong {
                len: longest,
                max: MAX_LINE,
            });
        }
        Ok(headers)
    }

    /// The signed one-click URL, the same one a body's visible unsubscribe link can use.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `mailto:` address, if any.
    pub fn mailto(&self) -> Option<&Mailto> {
        self.mailto.as_ref()
    }

    /// The `List-Unsubscribe` value, unfolded: `<https://…>` or
    /// `<https://…>, <mailto:…>` (the HTTPS URL first, as mailbox providers prefer).
    pub fn list_unsubscribe(&self) -> String {
        let mut value = format!("<{}>", self.url);
        if let Some(mailto) = &self.mailto {
            value.push_str(", <mailto:");
            value.push_str(mailto.as_str());
            value.push('>');
        }
        value
    }

    /// The `List-Unsubscribe-Post` value: always `List-Unsubscribe=One-Click`.
    pub fn list_unsubscribe_post(&self) -> &'static str {
        ONE_CLICK
    }

    /// Both header fields as they go into the message: each line ends in CRLF, and the
    /// `mailto:` URL goes on a continuation line when one line would pass 78 characters.
    pub fn to_lines(&self) -> String {
        let mut out = String::with_capacity(self.url.len() + 128);
        for line in self.lines() {
            out.push_str(&line);
            out.push_str("\r\n");
        }
        out
    }

    /// The physical lines, without their line ending: what [`Self::to_lines`] writes,
    /// for a message whose line ending is not CRLF.
    pub(crate) fn lines(&self) -> Vec<String> {
        let first = format!("{LIST_UNSUBSCRIBE}: <{}>", self.url);
        let mut lines = match &self.mailto {
            None => vec![first],
            Some(mailto) => {
                let mailto = format!("<mailto:{}>", mailto.as_str());
                if first.len() + 2 + mailto.len() <= FOLD_AT {
                    vec![format!("{first}, {mailto}")]
                } else {
                    vec![format!("{first},"), format!(" {mailto}")]
                }
            }
        };
        lines.push(format!("{LIST_UNSUBSCRIBE_POST}: {ONE_CLICK}"));
        lines
    }
}

impl fmt::Display for UnsubscribeHeaders {
    /// The folded lines of [`UnsubscribeHeaders::to_lines`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_lines())
    }
}

impl Tracker {
    /// The one-click unsubscribe headers for one recipient of a list or campaign: a
    /// never-expiring signed URL (see [`Tracker::unsubscribe_url`] for one that
    /// expires), and the `mailto:` address if given.
    pub fn unsubscribe_headers(
        &self,
        campaign: &str,
        recipient: &Pseudonym,
        issued_at: u64,
        mailto: Option<&Mailto>,
    ) -> Result<UnsubscribeHeaders, HeaderError> {
        self.unsubscribe_headers_expiring(campaign, recipient, issued_at, None, mailto)
    }

    /// [`Tracker::unsubscribe_headers`] with an unsubscribe URL that stops being fresh
    /// at `expires_at`, if given.
    pub(crate) fn unsubscribe_headers_expiring(
        &self,
        campaign: &str,
        recipient: &Pseudonym,
        issued_at: u64,
        expires_at: Option<u64>,
        mailto: Option<&Mailto>,
    ) -> Result<UnsubscribeHeaders, HeaderError> {
        let claims = Claims {
            kind: Kind::Unsubscribe,
            campaign,
            link: None,
            recipient: Some(recipient.as_str()),
            issued_at,
            expires_at,
        };
        UnsubscribeHeaders::new(self.unsubscribe_url(&claims)?, mailto.cloned())
    }
}
