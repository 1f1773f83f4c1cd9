//! A body compiled once per campaign and rendered per recipient.
//!
//! Compiling parses the body, finds its links, decides which to track and absorbs each
//! tracked link's per-campaign part into a MAC state ([`crate::Key::prepare`]). The
//! result is a list of pieces: spans of the original bytes, fixed text, and tokens to
//! finish. Rendering copies the spans and finishes one token per link for the
//! recipient — no parsing, no URL work. Rewriting from scratch is compiling and
//! rendering once, so both paths produce the same bytes by construction.
//!
//! Every [`UNSUBSCRIBE_PLACEHOLDER`] in the body becomes the recipient's signed one-click
//! unsubscribe URL, the same URL [`Template::unsubscribe_headers`] puts in the
//! `List-Unsubscribe` header, so the body's link and the header do the same thing.

use std::borrow::Cow;
use std::ops::Range;

use memchr::memmem;

use crate::error::{HeaderError, LinkError, SignError};
use crate::link::{Tracker, check_destination, encode_destination};
use crate::token::{Kind, LinkId, PreparedToken, Tail, is_campaign, is_label};

use super::already::{Earlier, OwnUrls};
use super::charset::{self, Charset};
use super::destination::tag_utm;
use super::entities::{attribute_escaped, push_attribute_escaped};
use super::report::{Report, SkipReason, SkippedLink, TrackedLink, Warning};
use super::skip::{Unsubscribe, has_placeholder};
use super::{HONEYPOT_LABEL, Options, Recipient, RewriteError, Rewritten, UNSUBSCRIBE_PLACEHOLDER};
use crate::unsubscribe::{Mailto, UnsubscribeHeaders};

/// One piece of a compiled body.
#[derive(Clone, Debug)]
enum Piece {
    /// Bytes of the original body, copied as they are.
    Source(Range<usize>),
    /// Fixed text (ASCII, so valid in every supported charset).
    Literal(String),
    /// The click URL's text before the token (shared by every link), as written in
    /// text or, escaped, in an attribute.
    ClickPrefix { attribute: bool },
    /// A token finished per recipient.
    /// Boxed, so that growing the list moves a pointer, not the MAC state: a moved state
    /// would stay behind, unwiped, in the list's old buffer.
    Token(Box<PreparedToken>),
    /// The recipient's unsubscribe URL, in place of an [`UNSUBSCRIBE_PLACEHOLDER`].
    Unsubscribe,
}

/// A campaign's unsubscribe URL up to the recipient's part.
#[derive(Clone, Debug)]
struct UnsubscribeUrl {
    /// `{base}/u/`.
    prefix: Box<str>,
    token: PreparedToken,
}

impl UnsubscribeUrl {
    /// The recipient's part: their pseudonym (required: an unsubscribe must say whose),
    /// the send time and the unsubscribe expiry, none by default.
    fn tail(recipient: &Recipient<'_>) -> Result<Tail, SignError> {
        let pseudonym = recipient.pseudonym.ok_or(SignError::RecipientRequired)?;
        Tail::new(
            Some(pseudonym.as_str()),
            recipient.issued_at,
            recipient.unsubscribe_expires_at,
        )
    }

    fn push(&self, tail: &Tail, out: &mut Vec<u8>) {
        out.extend_from_slice(self.prefix.as_bytes());
        self.token.finish_bytes(tail, out);
    }

    fn max_len(&self) -> usize {
        self.prefix.len() + self.token.max_len()
    }
}

/// A body compiled for one campaign, ready to render per recipient.
///
/// ```
/// use hashbeacon::{Key, KeyId, Tracker};
/// use hashbeacon::rewrite::{Options, Recipient, Template};
/// let tracker = Tracker::new(Key::new(KeyId::new("k1")?, &[7u8; 32])?.into(), "https://t.example.com/hb")?;
/// let html = br#"<p><a href="https://shop.example/?a=1&amp;b=2">Shop</a></p>"#;
/// let template = Template::html(&tracker, "spring", &Options::default(), html)?;
/// let mut body = Vec::new();
/// template.render_into(&Recipient::new(1_767_225_600), &mut body)?;
/// let body = String::from_utf8(body)?;
/// assert!(body.starts_with(r#"<p><a href="https://t.example.com/hb/c/1c.k1.spring.0..1767225600.."#));
/// assert!(body.contains("?https://shop.example/?a=1&amp;b=2\">Shop</a></p><img src="));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Template<'a> {
    source: Cow<'a, [u8]>,
    click_prefix: Box<str>,
    /// `click_prefix` escaped for an attribute value.
    click_prefix_in_attribute: Box<str>,
    pieces: Vec<Piece>,
    report: Report,
    /// Output bytes for any recipient, at most.
    capacity: usize,
    unsubscribe: UnsubscribeUrl,
    /// Where the body's [`UNSUBSCRIBE_PLACEHOLDER`]s start.
    placeholders: Vec<usize>,
}

impl<'a> Template<'a> {
    /// Compiles an HTML body (in [`Options::charset`], or the charset it declares) for a
    /// campaign.
    pub fn html(
        tracker: &Tracker,
        campaign: &str,
        options: &Options,
        input: &'a [u8],
    ) -> Result<Self, RewriteError> {
        super::html::compile(Builder::new(tracker, campaign, options, input, true)?)
    }

    /// Compiles a plain-text body (in [`Options::charset`], or UTF-8 unless it starts
    /// with a byte order mark saying otherwise) for a campaign.
    pub fn text(
        tracker: &Tracker,
        campaign: &str,
        options: &Options,
        input: &'a [u8],
    ) -> Result<Self, RewriteError> {
        super::text::compile(Builder::new(tracker, campaign, options, input, false)?)
    }

    /// What compiling found: tracked and skipped links, pixel, warnings.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The body as given.
    pub fn source(&self) -> &[u8] {
        &self.source
    }

    /// A template that owns its body, so it can outlive the input.
    pub fn into_owned(self) -> Template<'static> {
        Template {
            source: Cow::Owned(self.source.into_owned()),
            click_prefix: self.click_prefix,
            click_prefix_in_attribute: self.click_prefix_in_attribute,
            pieces: self.pieces,
            report: self.report,
            capacity: self.capacity,
            unsubscribe: self.unsubscribe,
            placeholders: self.placeholders,
        }
    }

    /// The recipient's signed one-click unsubscribe URL for this campaign: the value
    /// of the body's [`UNSUBSCRIBE_PLACEHOLDER`]s, for a templating step of the host's
    /// own. The recipient needs a pseudonym.
    pub fn unsubscribe_url(&self, recipient: &Recipient<'_>) -> Result<String, SignError> {
        let tail = UnsubscribeUrl::tail(recipient)?;
        let mut url = Vec::with_capacity(self.unsubscribe.max_len());
        self.unsubscribe.push(&tail, &mut url);
        // Only ASCII is written: the base URL's ASCII form and token characters.
        Ok(String::from_utf8_lossy(&url).into_owned())
    }

    /// The recipient's `List-Unsubscribe` and `List-Unsubscribe-Post` headers, with the
    /// same URL as the body's [`UNSUBSCRIBE_PLACEHOLDER`]s (see [`crate::unsubscribe`]).
    ///
    /// ```
    /// use hashbeacon::{Key, KeyId, PseudonymKey, Tracker};
    /// use hashbeacon::rewrite::{Options, Recipient, Template};
    /// let tracker = Tracker::new(Key::new(KeyId::new("k1")?, &[7u8; 32])?.into(), "https://t.example.com/hb")?;
    /// let html = br#"<p><a href="hashbeacon:unsubscribe">Unsubscribe</a></p>"#;
    /// let template = Template::html(&tracker, "weekly", &Options::default(), html)?;
    /// let ada = PseudonymKey::new(&[0x42; 32])?.pseudonym("ada@example.com");
    /// let recipient = Recipient::new(1_767_225_600).with_pseudonym(&ada);
    ///
    /// let headers = template.unsubscribe_headers(&recipient, None)?;
    /// let body = String::from_utf8(template.render(&recipient)?.body)?;
    /// assert!(body.starts_with(&format!(r#"<p><a href="{}">Unsubscribe</a></p>"#, headers.url())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unsubscribe_headers(
        &self,
        recipient: &Recipient<'_>,
        mailto: Option<&Mailto>,
    ) -> Result<UnsubscribeHeaders, HeaderError> {
        UnsubscribeHeaders::new(self.unsubscribe_url(recipient)?, mailto.cloned())
    }

    /// Renders the body for one recipient, appending it to `out`.
    ///
    /// A recipient who opted out gets the original body, untouched but for its
    /// [`UNSUBSCRIBE_PLACEHOLDER`]s: an unsubscribe link is not tracking. A body with
    /// such placeholders needs a recipient with a pseudonym.
    pub fn render_into(&self, recipient: &Recipient<'_>, out: &mut Vec<u8>) -> Result<(), RewriteError> {
        let unsubscribe = match self.placeholders.is_empty() {
            true => None,
            false => Some(UnsubscribeUrl::tail(recipient)?),
        };
        if recipient.opted_out {
            self.render_untracked(unsubscribe.as_ref(), out);
            return Ok(());
        }
        // The recipient's part of every token, checked and written once.
        let tail = Tail::new(
            recipient.pseudonym.map(|p| p.as_str()),
            recipient.issued_at,
            recipient.expires_at,
        )?;
        out.reserve(self.capacity);
        for piece in &self.pieces {
            match piece {
                Piece::Source(range) => {
                    out.extend_from_slice(self.source.get(range.clone()).unwrap_or_default())
                }
                Piece::Literal(text) => out.extend_from_slice(text.as_bytes()),
                Piece::ClickPrefix { attribute: false } => {
                    out.extend_from_slice(self.click_prefix.as_bytes())
                }
                Piece::ClickPrefix { attribute: true } => {
                    out.extend_from_slice(self.click_prefix_in_attribute.as_bytes())
                }
                Piece::Token(prepared) => prepared.finish_bytes(&tail, out),
                Piece::Unsubscribe => {
                    if let Some(unsubscribe) = &unsubscribe {
                        self.unsubscribe.push(unsubscribe, out);
                    }
                }
            }
        }
        Ok(())
    }

    /// The original body with only its unsubscribe placeholders filled in.
    fn render_untracked(&self, unsubscribe: Option<&Tail>, out: &mut Vec<u8>) {
        let mut copied = 0;
        if let Some(tail) = unsubscribe {
            for &at in &self.placeholders {
                out.extend_from_slice(self.source.get(copied..at).unwrap_or_default());
                self.unsubscribe.push(tail, out);
                copied = at + UNSUBSCRIBE_PLACEHOLDER.len();
            }
        }
        out.extend_from_slice(self.source.get(copied..).unwrap_or_default());
    }

    /// Renders the body for one recipient, with a report.
    pub fn render(&self, recipient: &Recipient<'_>) -> Result<Rewritten, RewriteError> {
        self.render_with_report(recipient, self.report.clone())
    }

    /// Renders once, handing over the report without copying it.
    pub(crate) fn render_once(mut self, recipient: &Recipient<'_>) -> Result<Rewritten, RewriteError> {
        let report = std::mem::take(&mut self.report);
        self.render_with_report(recipient, report)
    }

    fn render_with_report(
        &self,
        recipient: &Recipient<'_>,
        report: Report,
    ) -> Result<Rewritten, RewriteError> {
        let mut body = Vec::new();
        self.render_into(recipient, &mut body)?;
        Ok(Rewritten::new(body, report, recipient.opted_out))
    }
}

/// How a link's new URL is written into the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    /// In an HTML attribute value; `quoted` is false for an unquoted value, which gets
    /// double quotes.
    Attribute { quoted: bool },
    /// In plain text.
    Text,
}

/// Builds a [`Template`]: the HTML and text compilers walk the body in order and call
/// it for every link and insertion.
pub(crate) struct Builder<'t, 'a> {
    tracker: &'t Tracker,
    campaign: &'t str,
    pub(crate) options: &'t Options,
    pub(crate) source: &'a [u8],
    /// The charset the body is read in: given, or found in the body.
    pub(crate) charset: Charset,
    pieces: Vec<Piece>,
    cursor: usize,
    report: Report,
    /// This tracker's URL prefixes: links under them are already tracked.
    own: OwnUrls,
    /// The click prefix escaped for an attribute value.
    click_in_attribute: String,
    /// What an earlier rewrite by this tracker left in the body, not inserted again.
    earlier: Earlier,
    capacity: usize,
    /// Present when unsubscribe links are detected.
    unsubscribe: Option<Unsubscribe>,
    /// Where the body's [`UNSUBSCRIBE_PLACEHOLDER`]s start, in order.
    placeholders: Vec<usize>,
}

impl<'t, 'a> Builder<'t, 'a> {
    fn new(
        tracker: &'t Tracker,
        campaign: &'t str,
        options: &'t Options,
        source: &'a [u8],
        html: bool,
    ) -> Result<Self, RewriteError> {
        if !is_campaign(campaign.as_bytes()) {
            return Err(SignError::InvalidCampaign.into());
        }
        let (charset, charset_source) = charset::resolve(options.charset, source, html)?;
        let own = OwnUrls::new(tracker);
        let earlier = if html {
            own.earlier(source)
        } else {
            Earlier::default()
        };
        let placeholders = memmem::find_iter(source, UNSUBSCRIBE_PLACEHOLDER.as_bytes()).collect();
        Ok(Self {
            tracker,
            campaign,
            options,
            source,
            placeholders,
            charset,
            pieces: Vec::new(),
            cursor: 0,
            report: Report {
                bytes_before: source.len(),
                html,
                charset,
                charset_source,
                ..Report::default()
            },
            click_in_attribute: attribute_escaped(&own.click),
            own,
            earlier,
            capacity: source.len(),
            unsubscribe: options.detect_unsubscribe.then(Unsubscribe::new),
        })
    }

    /// Copies the original bytes up to `at`, each whole unsubscribe placeholder among
    /// them replaced by the recipient's unsubscribe URL.
    fn copy_to(&mut self, at: usize) {
        let len = UNSUBSCRIBE_PLACEHOLDER.len();
        let inside = self.placeholders.partition_point(|&p| p < self.cursor)
            ..self.placeholders.partition_point(|&p| p + len <= at);
        for placeholder in inside.filter_map(|i| self.placeholders.get(i).copied()) {
            if placeholder > self.cursor {
                self.pieces.push(Piece::Source(self.cursor..placeholder));
            }
            self.pieces.push(Piece::Unsubscribe);
            self.report.unsubscribe_links += 1;
            self.cursor = placeholder + len;
        }
        if at > self.cursor {
            self.pieces.push(Piece::Source(self.cursor..at));
            self.cursor = at;
        }
    }

    /// Leaves out the original bytes in `range` (which must not lie before the cursor).
    pub(crate) fn remove(&mut self, range: Range<usize>) {
        self.copy_to(range.start);
        self.cursor = self.cursor.max(range.end);
    }

    fn literal(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.capacity += text.len();
        self.pieces.push(Piece::Literal(text));
    }

    fn click_prefix(&mut self, context: Context) {
        let attribute = context != Context::Text;
        self.capacity += if attribute {
            self.click_in_attribute.len()
        } else {
            self.own.click.len()
        };
        self.pieces.push(Piece::ClickPrefix { attribute });
    }

    fn token(&mut self, prepared: PreparedToken) {
        self.capacity += prepared.max_len();
        self.pieces.push(Piece::Token(Box::new(prepared)));
    }

    /// Records a link left alone.
    pub(crate) fn skip(&mut self, href: impl Into<String>, reason: SkipReason) {
        self.report.skipped.push(SkippedLink {
            href: href.into(),
            reason,
        });
    }

    /// Whether an open pixel goes in: opens are tracked and the body does not already
    /// reference this tracker's pixel (from an earlier rewrite).
    pub(crate) fn inserts_pixel(&self) -> bool {
        self.options.opens && !self.earlier.pixel
    }

    /// Records a compile warning.
    pub(crate) fn warn(&mut self, warning: Warning) {
        self.report.notes.push(warning);
    }

    /// Decides whether the link whose href (normalized, see
    /// [`super::destination::normalize_href`]) sits at `span` is tracked, and if so
    /// replaces the span with its click URL. `author_skip` runs last, before signing:
    /// checks that depend on the surrounding markup (opt-out attributes, link text); it
    /// gets the unsubscribe detector when detection is on.
    pub(crate) fn link(
        &mut self,
        span: Range<usize>,
        href: &str,
        label: Option<&str>,
        context: Context,
        author_skip: impl FnOnce(Option<&Unsubscribe>) -> Option<SkipReason>,
    ) {
        match self.decide(href, label, author_skip) {
            Ok((prepared, wire, destination, id)) => {
                self.copy_to(span.start);
                self.cursor = span.end;
                let unquoted = context == (Context::Attribute { quoted: false });
                if unquoted {
                    self.literal("\"");
                }
                self.click_prefix(context);
                self.token(prepared);
                let mut after = String::with_capacity(wire.len() + 16);
                after.push('?');
                match context {
                    Context::Attribute { .. } => push_attribute_escaped(&mut after, &wire),
                    Context::Text => after.push_str(&wire),
                }
                if unquoted {
                    after.push('"');
                }
                self.literal(after);
                self.report.tracked.push(TrackedLink { id, destination });
            }
            Err(reason) => self.skip(href, reason),
        }
    }

    /// The signing decision for one link: its prepared token, wire destination, signed
    /// destination and link id, or why it is left alone.
    fn decide(
        &mut self,
        href: &str,
        label: Option<&str>,
        author_skip: impl FnOnce(Option<&Unsubscribe>) -> Option<SkipReason>,
    ) -> Result<(PreparedToken, Box<str>, String, String), SkipReason> {
        if self.own.is_tracking_url(href) {
            return Err(SkipReason::AlreadyTracked);
        }
        // A link that holds the placeholder gets it filled in, so it cannot be signed
        // now; signed with it, the next rewrite would fill it inside the signed URL.
        if href.contains(UNSUBSCRIBE_PLACEHOLDER) || self.own.holds_unsubscribe_url(href) {
            return Err(SkipReason::Unsubscribe);
        }
        if has_placeholder(href) {
            return Err(SkipReason::Placeholder);
        }
        check_destination(href).map_err(|error| match error {
            LinkError::NotHttp => SkipReason::NotHttp,
            other => SkipReason::Invalid(other),
        })?;
        if self.options.leave_alone.contains(href) {
            return Err(SkipReason::LeftAlone);
        }
        if self
            .unsubscribe
            .as_ref()
            .is_some_and(|unsubscribe| unsubscribe.in_url(href))
        {
            return Err(SkipReason::Unsubscribe);
        }
        if let Some(reason) = author_skip(self.unsubscribe.as_ref()) {
            return Err(reason);
        }
        let destination = match &self.options.utm {
            Some(utm) => tag_utm(href, utm, self.campaign),
            None => Cow::Borrowed(href),
        };
        let label = label.filter(|label| {
            let valid = is_label(label.as_bytes());
            if !valid {
                self.report
                    .notes
                    .push(Warning::InvalidLinkLabel((*label).to_owned()));
            }
            valid
        });
        let index = u32::try_from(self.report.tracked.len()).unwrap_or(u32::MAX);
        let link = label.map_or(LinkId::Index(index), LinkId::Label);
        let wire = encode_destination(&destination);
        let prepared = self
            .tracker
            .keyring()
            .signing_key()
            .prepare(Kind::Click, self.campaign, Some(link), &wire)
            .map_err(|error| SkipReason::Invalid(error.into()))?;
        let len = self.own.click.len() + prepared.max_len() + 1 + wire.len();
        if len > self.options.max_url_len {
            return Err(SkipReason::TooLong {
                len,
                max: self.options.max_url_len,
            });
        }
        let wire = wire.into();
        Ok((prepared, wire, destination.into_owned(), link.to_string()))
    }

    /// Inserts the open pixel (when opens are tracked) and the honeypot link (when
    /// asked for and links are tracked), replacing the bytes in `range` (empty, or a
    /// pixel placeholder). Neither goes in twice: a body that already has them (from an
    /// earlier rewrite) keeps its bytes, placeholder included.
    pub(crate) fn insert_pixel(&mut self, range: Range<usize>) -> Result<(), RewriteError> {
        let honeypot = self.options.honeypot && self.options.links.html() && !self.earlier.honeypot;
        if !self.inserts_pixel() && !honeypot {
            return Ok(());
        }
        self.remove(range);
        if self.inserts_pixel() {
            let prepared =
                self.tracker
                    .keyring()
                    .signing_key()
                    .prepare(Kind::Open, self.campaign, None, "")?;
            let open_prefix = attribute_escaped(&self.tracker.token_prefix(Kind::Open));
            self.literal(format!("<img src=\"{open_prefix}"));
            self.token(prepared);
            self.literal(format!(
                "{}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;width:1px;height:1px;border:0\">",
                crate::link::PIXEL_SUFFIX
            ));
            self.report.pixel = true;
        }
        if honeypot {
            let destination = format!("{}/", self.tracker.base_url());
            let wire = encode_destination(&destination).into_owned();
            let prepared = self.tracker.keyring().signing_key().prepare(
                Kind::Click,
                self.campaign,
                Some(LinkId::Label(HONEYPOT_LABEL)),
                &wire,
            )?;
            self.literal("<a href=\"");
            self.click_prefix(Context::Attribute { quoted: true });
            self.token(prepared);
            let mut after = String::from("?");
            push_attribute_escaped(&mut after, &wire);
            after.push_str(
                "\" style=\"display:none;font-size:0;line-height:0;max-height:0;overflow:hidden;mso-hide:all\" \
                 aria-hidden=\"true\" tabindex=\"-1\"></a>",
            );
            self.literal(after);
            self.report.honeypot = true;
        }
        Ok(())
    }

    /// Copies the rest of the body and returns the template.
    pub(crate) fn finish(mut self) -> Result<Template<'a>, RewriteError> {
        self.copy_to(self.source.len());
        let token =
            self.tracker
                .keyring()
                .signing_key()
                .prepare(Kind::Unsubscribe, self.campaign, None, "")?;
        let unsubscribe = UnsubscribeUrl {
            prefix: self.own.unsubscribe.into(),
            token,
        };
        self.capacity += self.report.unsubscribe_links * unsubscribe.max_len();
        Ok(Template {
            source: Cow::Borrowed(self.source),
            click_prefix: self.own.click.into(),
            click_prefix_in_attribute: self.click_in_attribute.into(),
            pieces: self.pieces,
            report: self.report,
            capacity: self.capacity,
            unsubscribe,
            placeholders: self.placeholders,
        })
    }
}
