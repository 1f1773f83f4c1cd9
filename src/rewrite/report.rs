//! What a rewrite did: links tracked, links left alone and why, sizes, warnings.

use std::fmt;

use super::{Charset, CharsetSource};
use crate::error::LinkError;

/// Gmail clips a message whose HTML is larger than this (102 KB) behind a "View entire
/// message" link; a pixel at the bottom of a clipped message is never loaded.
pub const GMAIL_CLIP_BYTES: usize = 102 * 1024;

/// Why a link was left as the author wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Already a click or open URL of this tracker (the body was rewritten before):
    /// tracking it again would only wrap one redirect in another.
    AlreadyTracked,
    /// Not an absolute `http(s)://` URL with a host: `mailto:`, `tel:`, `#anchor`,
    /// relative or empty.
    NotHttp,
    /// Holds a template placeholder (`{{…}}`, `*|…|*`, …) that a later step fills in.
    Placeholder,
    /// An unsubscribe or opt-out link: scanners pre-click links, and an unsubscribe must
    /// never be a tracked GET.
    Unsubscribe,
    /// The author opted the link out with this attribute.
    OptedOut {
        /// The attribute, e.g. `data-hb-notrack` or `clicktracking`.
        attribute: &'static str,
    },
    /// The URL is in [`super::Options::leave_alone`] (e.g. opted out in the HTML part).
    LeftAlone,
    /// The tracked URL could be longer than [`super::Options::max_url_len`].
    TooLong {
        /// The longest the tracked URL could be.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The href holds an HTML character reference this crate does not decode, so its
    /// exact destination is uncertain.
    CharacterReference,
    /// The href is not valid in the charset the body was read in ([`Report::charset`]).
    Encoding,
    /// The destination cannot be signed (control characters, too long, …).
    Invalid(LinkError),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::AlreadyTracked => f.write_str("already a tracking URL of this tracker"),
            SkipReason::NotHttp => f.write_str("not an absolute http(s) URL"),
            SkipReason::Placeholder => f.write_str("template placeholder"),
            SkipReason::Unsubscribe => f.write_str("unsubscribe link"),
            SkipReason::OptedOut { attribute } => write!(f, "opted out by `{attribute}`"),
            SkipReason::LeftAlone => f.write_str("listed to be left alone"),
            SkipReason::TooLong { len, max } => write!(f, "tracked URL would be {len} > {max} characters"),
            SkipReason::CharacterReference => f.write_str("unsupported character reference"),
            SkipReason::Encoding => f.write_str("not valid in the declared charset"),
            SkipReason::Invalid(error) => write!(f, "{error}"),
        }
    }
}

/// A link that was rewritten into a click URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedLink {
    /// Its link id: position among tracked links, or the author's label.
    pub id: String,
    /// The destination that was signed (entity-decoded, UTM parameters included).
    pub destination: String,
}

/// A link that was left alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedLink {
    /// The href, entity-decoded and trimmed as a browser would.
    pub href: String,
    /// Why it was left alone.
    pub reason: SkipReason,
}

/// Something the sender should know about a rewritten body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The HTML is larger than [`GMAIL_CLIP_BYTES`]: Gmail clips it, hiding what follows
    /// (a bottom pixel included).
    GmailClipping {
        /// Bytes of the rewritten HTML.
        bytes: usize,
    },
    /// Pixel placement at a placeholder was asked for but the body has no
    /// [`super::PIXEL_PLACEHOLDER`]; the pixel went to the bottom.
    PixelPlaceholderMissing,
    /// A `data-hb-link` label is not a valid link label; the link is identified by
    /// position instead.
    InvalidLinkLabel(String),
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::GmailClipping { bytes } => write!(
                f,
                "the HTML is {bytes} bytes: Gmail clips messages over {GMAIL_CLIP_BYTES} bytes, hiding the open pixel"
            ),
            Warning::PixelPlaceholderMissing => {
                write!(
                    f,
                    "no {} placeholder found: pixel placed at the bottom",
                    super::PIXEL_PLACEHOLDER
                )
            }
            Warning::InvalidLinkLabel(label) => {
                write!(
                    f,
                    "invalid link label `{label}`: the link is identified by position"
                )
            }
        }
    }
}

/// What a rewrite did.
///
/// Its `Display` form is a short human-readable summary (what the `hashbeacon` command
/// prints on stderr).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Links rewritten into click URLs, in document order.
    pub tracked: Vec<TrackedLink>,
    /// Links left alone, in document order, each with the reason.
    pub skipped: Vec<SkippedLink>,
    /// Whether an open pixel was inserted (in a [`super::Template`]'s own report:
    /// whether each render inserts one).
    pub pixel: bool,
    /// Whether a honeypot link was inserted (in a [`super::Template`]'s own report:
    /// whether each render inserts one).
    pub honeypot: bool,
    /// How many [`super::UNSUBSCRIBE_PLACEHOLDER`]s get the recipient's unsubscribe URL.
    pub unsubscribe_links: usize,
    /// Whether the recipient opted out of tracking, so the body was returned untouched.
    pub recipient_opted_out: bool,
    /// Size of the body before rewriting, in bytes.
    pub bytes_before: usize,
    /// Size of the body after rewriting, in bytes; `None` in a [`super::Template`]'s
    /// own report, before anything is rendered (each recipient's size differs).
    pub bytes_after: Option<usize>,
    /// Whether the body is HTML (the Gmail clipping check applies only to HTML).
    pub html: bool,
    /// The charset the body was read (and written) in.
    pub charset: Charset,
    /// Where that charset came from: given, a byte order mark, a `<meta>`, or the
    /// UTF-8 default.
    pub charset_source: CharsetSource,
    /// Warnings found while compiling; see [`Report::warnings`] for all of them.
    pub notes: Vec<Warning>,
}

impl Report {
    /// Every warning, including Gmail clipping of the rewritten size (once rendered).
    pub fn warnings(&self) -> Vec<Warning> {
        let mut warnings = self.notes.clone();
        if let Some(bytes) = self
            .bytes_after
            .filter(|&bytes| self.html && bytes > GMAIL_CLIP_BYTES)
        {
            warnings.push(Warning::GmailClipping { bytes });
        }
        warnings
    }

    /// The hrefs the author kept out of tracking (opt-out attributes and unsubscribe
    /// links). Pass them to [`super::Options::leave_alone`] when rewriting the plain-text
    /// part of the same message, so they stay untracked there too.
    pub fn left_alone_by_author(&self) -> impl Iterator<Item = &str> {
        self.skipped
            .iter()
            .filter(|link| matches!(link.reason, SkipReason::OptedOut { .. } | SkipReason::Unsubscribe))
            .map(|link| link.href.as_str())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.recipient_opted_out {
            return write!(
                f,
                "recipient opted out of tracking: body left untouched ({} bytes)",
                self.bytes_before
            );
        }
        write!(
            f,
            "tracked {} link(s), left {} alone; ",
            self.tracked.len(),
            self.skipped.len()
        )?;
        // A template's own report describes what each render will do.
        let done = match self.bytes_after {
            Some(after) => {
                write!(f, "{} -> {after} bytes", self.bytes_before)?;
                "inserted"
            }
            None => {
                write!(f, "{} bytes, not rendered yet", self.bytes_before)?;
                "to insert on render"
            }
        };
        if self.pixel {
            write!(f, "; open pixel {done}")?;
        }
        if self.honeypot {
            write!(f, "; honeypot link {done}")?;
        }
        for link in &self.skipped {
            write!(f, "\n  left alone: {} ({})", link.href, link.reason)?;
        }
        for warning in self.warnings() {
            write!(f, "\n  warning: {warning}")?;
        }
        Ok(())
    }
}
