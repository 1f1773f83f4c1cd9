//! Rewriting email bodies: links become signed click URLs, an open pixel is added.
//!
//! ```
//! use hashbeacon::{Key, KeyId, Tracker};
//! use hashbeacon::rewrite::{Message, Options, Recipient, rewrite_html, rewrite_text};
//!
//! let tracker = Tracker::new(Key::new(KeyId::new("k1")?, &[7u8; 32])?.into(), "https://t.example.com/hb")?;
//! let message = Message::new("spring-sale", Recipient::new(1_767_225_600));
//! let options = Options::default();
//!
//! let html = br#"<html><body><a href="https://shop.example/?a=1&amp;b=2">Shop</a>
//! <a href="mailto:help@shop.example">Help</a></body></html>"#;
//! let out = rewrite_html(&tracker, &message, &options, html)?;
//! let body = String::from_utf8(out.body)?;
//! assert!(body.contains(r#"<a href="https://t.example.com/hb/c/1c.k1.spring-sale.0..1767225600.."#));
//! assert!(body.contains(r#"?https://shop.example/?a=1&amp;b=2">Shop</a>"#));
//! assert!(body.contains(r#"<a href="mailto:help@shop.example">"#));
//! assert!(body.contains(r#"<img src="https://t.example.com/hb/o/1o.k1.spring-sale"#));
//! assert_eq!((out.report.tracked.len(), out.report.skipped.len(), out.report.pixel), (1, 1, true));
//!
//! let text = b"Shop now: https://shop.example/spring.\n";
//! let out = rewrite_text(&tracker, &message, &options, text)?;
//! assert!(String::from_utf8(out.body)?.starts_with("Shop now: https://t.example.com/hb/c/"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is tracked, what is left alone
//!
//! HTML: every `<a href>` and `<area href>` — and every `href` of an `<a>`, `<area>` or
//! VML shape (`<v:roundrect>`) inside an Outlook conditional comment
//! (`<!--[if mso]>…<![endif]-->`) — whose destination is an absolute `http(s)://` URL.
//! The destination is the attribute value with its character references decoded
//! (`&amp;` → `&`) and trimmed as a browser trims it, never re-encoded. Plain text:
//! every `http(s)://` URL in the text (see [`rewrite_text`]).
//!
//! Left alone, each reported with a [`SkipReason`]:
//! - anything but an absolute `http(s)://` URL (`mailto:`, `tel:`, `sms:`, `#anchor`,
//!   relative and empty hrefs);
//! - template placeholders (`{{…}}`, `{%…%}`, `*|…|*`, `%NAME%`, `[name]`, `{$…}`,
//!   `<%…%>`), which a later templating step fills in;
//! - unsubscribe links (when [`Options::detect_unsubscribe`] is on, the default): an
//!   href containing `unsub`, `optout`, `opt-out`, `opt_out` (or `abmelden`,
//!   `desinscri`, `desabonn`), a link whose text says "unsubscribe" or "opt out", a
//!   plain-text URL on a line saying so, and any URL listed in
//!   [`Options::leave_alone`] (put the `List-Unsubscribe` header's URLs there);
//! - links the author opted out with `data-hb-notrack` or the attributes of other
//!   services ([`opt_out_attributes`]: SendGrid `clicktracking="off"`, Postmark
//!   `data-pm-no-track`, Mailgun `disable-tracking`, SES `ses:no-track`, Mandrill
//!   `mc:disable-tracking`, Mautic `data-mautic-disable-tracking`), in any case and
//!   value form. `data-hb-notrack` and `data-hb-link` are ours and removed from the
//!   output;
//! - links whose tracked URL could exceed [`Options::max_url_len`];
//! - links that already are click or open URLs of this tracker
//!   ([`SkipReason::AlreadyTracked`]): its base URL (scheme and host in any case)
//!   followed by the click or open route.
//!
//! # Rewriting twice
//!
//! Rewriting a body that this tracker already rewrote changes nothing: its tracked
//! links are left alone as [`SkipReason::AlreadyTracked`], no second open pixel is
//! inserted when the body already references this tracker's open-pixel URL, and no
//! second honeypot link when it already holds one. (Links opted out with our own
//! `data-hb-notrack` are the exception: the first rewrite removed the attribute, so a
//! second rewrite would track them. Rewrite the author's original, not the output.)
//!
//! To keep the author's opt-outs in the plain-text part too, rewrite the HTML part
//! first and pass [`Report::left_alone_by_author`] to the text part's
//! [`Options::leave_alone`].
//!
//! # Bulk sends
//!
//! [`rewrite_html`] parses the body for every call. For many recipients compile a
//! [`Template`] once per campaign and render it per recipient: rendering only copies
//! bytes and finishes one MAC per link, and produces exactly the bytes
//! [`rewrite_html`] would.

mod already;
mod charset;
mod destination;
mod entities;
mod html;
mod mso;
mod report;
mod skip;
mod template;
mod text;

use std::collections::HashSet;

pub use charset::{Charset, CharsetSource, PRESCAN_BYTES};
pub use report::{GMAIL_CLIP_BYTES, Report, SkipReason, SkippedLink, TrackedLink, Warning};
pub use skip::{LINK_LABEL_ATTRIBUTE, NO_TRACK_ATTRIBUTE, opt_out_attributes};
pub use template::Template;

use crate::error::SignError;
use crate::link::Tracker;
use crate::privacy::Pseudonym;

/// The link label of the hidden honeypot link ([`Options::honeypot`]); the classifier
/// reads the same constant. No human can see or click that link, so a click carrying
/// this label is a scanner's.
pub use crate::classify::HONEYPOT_LABEL;

/// The HTML comment an author puts where the open pixel should go, with
/// [`PixelPlacement::Placeholder`]. Whitespace inside it is ignored.
pub const PIXEL_PLACEHOLDER: &str = "<!--hashbeacon:pixel-->";

/// Text an author puts where the recipient's signed one-click unsubscribe URL goes,
/// typically the visible unsubscribe link: `<a href="hashbeacon:unsubscribe">`. Every
/// occurrence, in HTML or plain text, becomes the URL the `List-Unsubscribe` header
/// carries ([`Template::unsubscribe_headers`]), never a tracked link; a link that
/// holds it (say as a parameter of another URL), or holds the URL it became, is not
/// tracked either. It is filled in even for a recipient who opted out of tracking.
/// Rendering a body that holds it needs a recipient with a pseudonym. No templating
/// language treats this text as its own.
pub const UNSUBSCRIBE_PLACEHOLDER: &str = "hashbeacon:unsubscribe";

/// Default of [`Options::max_url_len`]: well under the ~2,000 characters beyond which
/// Outlook breaks links.
pub const DEFAULT_MAX_URL_LEN: usize = 1800;

/// Which parts of a message get tracked links (Postmark's switch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TrackLinks {
    /// Links in the HTML and the plain-text part.
    #[default]
    HtmlAndText,
    /// Links in the HTML part only.
    HtmlOnly,
    /// Links in the plain-text part only.
    TextOnly,
    /// No links.
    None,
}

impl TrackLinks {
    /// Whether HTML links are tracked.
    pub fn html(self) -> bool {
        matches!(self, TrackLinks::HtmlAndText | TrackLinks::HtmlOnly)
    }

    /// Whether plain-text links are tracked.
    pub fn text(self) -> bool {
        matches!(self, TrackLinks::HtmlAndText | TrackLinks::TextOnly)
    }
}

/// Where the open pixel goes in an HTML body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PixelPlacement {
    /// Just before `</body>`, or at the end when there is none (the default). A body
    /// that ends inside an unterminated tag, comment or raw-text element (`<style>`,
    /// `<title>`, …), where an appended pixel would not show, gets it at the very start.
    #[default]
    Bottom,
    /// Just after `<body …>` (or at the bottom when there is no `<body>` tag). Survives
    /// Gmail's clipping of long messages.
    Top,
    /// In place of the author's [`PIXEL_PLACEHOLDER`] comment (or at the bottom, with a
    /// warning, when there is none).
    Placeholder,
}

/// Campaign tagging: `utm_source`, `utm_medium` and `utm_campaign` appended to every
/// tracked destination that lacks them (before any `#fragment`; parameters the author
/// set are never changed).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Utm {
    /// `utm_source`, e.g. `newsletter`.
    pub source: String,
    /// `utm_medium`; `email` by default.
    pub medium: String,
    /// `utm_campaign`; the campaign id when `None`.
    pub campaign: Option<String>,
}

impl Utm {
    /// Tagging with a source, medium `email` and the campaign id as campaign.
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            medium: "email".to_owned(),
            campaign: None,
        }
    }
}

/// How a message is rewritten: the per-message switches and settings.
///
/// ```
/// use hashbeacon::rewrite::{Options, PixelPlacement, TrackLinks, Utm};
/// let mut options = Options::default();
/// options.links = TrackLinks::HtmlOnly;
/// options.pixel = PixelPlacement::Top;
/// options.utm = Some(Utm::new("newsletter"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Which parts get tracked links.
    pub links: TrackLinks,
    /// Whether an open pixel is added to HTML.
    pub opens: bool,
    /// Where the open pixel goes.
    pub pixel: PixelPlacement,
    /// Campaign tagging of destinations; off by default.
    pub utm: Option<Utm>,
    /// Whether to add a hidden honeypot link (label [`HONEYPOT_LABEL`]) next to the
    /// pixel, which only scanners click; off by default.
    pub honeypot: bool,
    /// Longest tracked URL, in characters; links whose tracked URL could be longer are
    /// left alone and reported. The bound assumes the longest recipient and times, so
    /// the decision is the same for every recipient.
    pub max_url_len: usize,
    /// The body's charset, kept in the output. `None` (the default): found as a
    /// browser finds it, from a byte order mark or, in HTML, a `<meta charset>` or
    /// `<meta http-equiv="Content-Type">` within the first [`PRESCAN_BYTES`] bytes, else
    /// UTF-8. A given charset is used as given, whatever the body declares (a MIME
    /// part's `Content-Type` charset, or the correction of a wrong declaration).
    /// [`Report::charset`] says which charset was used.
    pub charset: Option<Charset>,
    /// Whether unsubscribe links are recognized and left alone.
    pub detect_unsubscribe: bool,
    /// Destinations (as written, entity-decoded) left untracked wherever they appear:
    /// the `List-Unsubscribe` header's URLs, or [`Report::left_alone_by_author`] of the
    /// HTML part when rewriting the text part.
    pub leave_alone: HashSet<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            links: TrackLinks::default(),
            opens: true,
            pixel: PixelPlacement::default(),
            utm: None,
            honeypot: false,
            max_url_len: DEFAULT_MAX_URL_LEN,
            charset: None,
            detect_unsubscribe: true,
            leave_alone: HashSet::new(),
        }
    }
}

/// The per-recipient part of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recipient<'a> {
    /// The recipient's pseudonym, if events should be attributed to them.
    pub pseudonym: Option<&'a Pseudonym>,
    /// When the message is sent (unix seconds): the tokens' issued-at.
    pub issued_at: u64,
    /// When the tokens stop being fresh, if ever.
    pub expires_at: Option<u64>,
    /// When the unsubscribe URL stops being fresh, if ever (by default never: old
    /// messages must keep letting people leave).
    pub unsubscribe_expires_at: Option<u64>,
    /// The recipient declined tracking: they get the original body, untouched but for
    /// its [`UNSUBSCRIBE_PLACEHOLDER`]s.
    pub opted_out: bool,
}

impl<'a> Recipient<'a> {
    /// An anonymous recipient of a message sent at `issued_at` (unix seconds).
    pub fn new(issued_at: u64) -> Self {
        Self {
            pseudonym: None,
            issued_at,
            expires_at: None,
            unsubscribe_expires_at: None,
            opted_out: false,
        }
    }

    /// Attributes events to the recipient's pseudonym.
    pub fn with_pseudonym(mut self, pseudonym: &'a Pseudonym) -> Self {
        self.pseudonym = Some(pseudonym);
        self
    }

    /// Sets the tokens' expiry (unix seconds).
    pub fn expiring_at(mut self, expires_at: u64) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Sets the unsubscribe URL's expiry (unix seconds); by default it never expires.
    pub fn unsubscribe_expiring_at(mut self, expires_at: u64) -> Self {
        self.unsubscribe_expires_at = Some(expires_at);
        self
    }

    /// Marks the recipient as having declined tracking.
    pub fn opted_out(mut self, opted_out: bool) -> Self {
        self.opted_out = opted_out;
        self
    }
}

/// One message to one recipient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Campaign id: 1 to 64 ASCII letters, digits, `-` or `_`.
    pub campaign: &'a str,
    /// Who receives it, and when.
    pub recipient: Recipient<'a>,
}

impl<'a> Message<'a> {
    /// A message of a campaign to a recipient.
    pub fn new(campaign: &'a str, recipient: Recipient<'a>) -> Self {
        Self { campaign, recipient }
    }
}

/// A rewritten body and what was done to it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rewritten {
    /// The rewritten body, in the input's charset.
    pub body: Vec<u8>,
    /// What was done.
    pub report: Report,
}

impl Rewritten {
    fn new(body: Vec<u8>, report: Report, opted_out: bool) -> Self {
        let report = if opted_out {
            Report {
                recipient_opted_out: true,
                bytes_before: report.bytes_before,
                html: report.html,
                ..Report::default()
            }
        } else {
            report
        };
        Self {
            report: Report {
                bytes_after: Some(body.len()),
                ..report
            },
            body,
        }
    }
}

/// Why a body could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RewriteError {
    /// The campaign id or the recipient's times cannot be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The charset label is unknown or not ASCII-compatible (given, or declared by the
    /// body's byte order mark or `<meta>`).
    #[error("unsupported charset `{0}`: expected UTF-8 or an ASCII-compatible charset such as ISO-8859-1")]
    Charset(String),
    /// The HTML parser gave up (it reports why).
    #[error("the HTML could not be parsed: {0}")]
    Html(String),
}

/// Rewrites an HTML body for one recipient: tracked links, open pixel, report.
///
/// A recipient who opted out gets the body back untouched. For many recipients of one
/// campaign, compile a [`Template`] once instead.
pub fn rewrite_html(
    tracker: &Tracker,
    message: &Message<'_>,
    options: &Options,
    input: &[u8],
) -> Result<Rewritten, RewriteError> {
    rewrite(message, input, true, || {
        Template::html(tracker, message.campaign, options, input)
    })
}

/// Rewrites a plain-text body for one recipient: every `http(s)://` URL in the text
/// becomes a click URL, by the same rules as HTML links.
///
/// A URL starts at `http://` or `https://` (any case) not preceded by a letter or digit
/// and runs to the next whitespace, control character, `<`, `>` or `"` (so
/// `<https://…>` works). Trailing `.`, `,`, `!`, `?`, `'`, `"`, `;`, `:` and an
/// unbalanced `)` or `]` are punctuation, not part of the URL; a trailing `/` is kept.
/// Every other byte is left as it is. A recipient who opted out gets the body back
/// untouched.
pub fn rewrite_text(
    tracker: &Tracker,
    message: &Message<'_>,
    options: &Options,
    input: &[u8],
) -> Result<Rewritten, RewriteError> {
    rewrite(message, input, false, || {
        Template::text(tracker, message.campaign, options, input)
    })
}

/// Compiles and renders once, or hands the body back untouched to a recipient who
/// opted out (without parsing it, unless it has unsubscribe placeholders to fill).
fn rewrite<'a>(
    message: &Message<'_>,
    input: &'a [u8],
    html: bool,
    compile: impl FnOnce() -> Result<Template<'a>, RewriteError>,
) -> Result<Rewritten, RewriteError> {
    let placeholder = || memchr::memmem::find(input, UNSUBSCRIBE_PLACEHOLDER.as_bytes()).is_some();
    if message.recipient.opted_out && !placeholder() {
        let report = Report {
            bytes_before: input.len(),
            html,
            ..Report::default()
        };
        return Ok(Rewritten::new(input.to_vec(), report, true));
    }
    compile()?.render_once(&message.recipient)
}
