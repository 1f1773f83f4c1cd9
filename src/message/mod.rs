//! Rewriting a whole RFC 5322 / MIME message, byte for byte exact outside the bodies it
//! rewrites.
//!
//! [`rewrite_message`] takes a finished message (what lettre's `Message::formatted()`
//! returns, an `.eml` file, what an SMTP relay receives) and rewrites every `text/html`
//! part with [`rewrite_html`] and every `text/plain` part with [`rewrite_text`], at any
//! depth of `multipart/*` nesting:
//!
//! - the HTML parts first, so that links the author kept out of tracking there
//!   ([`Report::left_alone_by_author`]) stay untracked in the plain-text parts too;
//! - the open pixel (and honeypot) goes only into the last `text/html` part, the
//!   alternative a mail client shows;
//! - attachments (`Content-Disposition: attachment`), encapsulated messages
//!   (`message/rfc822`) and every other type are left alone.
//!
//! Every byte outside a rewritten body is the input's: headers, boundaries, preambles,
//! epilogues and untouched parts are copied, never re-serialized. A rewritten body keeps
//! its charset (the rewriters work in it and insert only ASCII), its line ending and its
//! `Content-Transfer-Encoding`: in quoted-printable, what the rewriter changed is
//! encoded afresh in lines of at most 76 characters (from the soft line break before a
//! change to the one after it, or the whole line) and everything else keeps its
//! encoded bytes; base64 is re-wrapped at 76, and a `7bit`/`8bit` body becomes
//! quoted-printable (with its header updated) only when a rewritten line outgrows the
//! 998 bytes such a body may have. A body the rewriter leaves unchanged (a recipient who
//! opted out, no links) keeps its exact encoded bytes.
//!
//! A part that cannot be rewritten safely (unknown charset or transfer encoding, a body
//! not valid in its encoding, a missing end boundary) is left as it is and reported
//! with the reason ([`LeftAlone`]). Beyond the input, memory holds the output and the
//! parts being rewritten: attachments are never decoded, and `multipart`
//! nesting is followed 128 levels deep.
//!
//! ```
//! use hashbeacon::{Key, KeyId, Tracker};
//! use hashbeacon::message::{MessageOptions, PartOutcome, rewrite_message};
//! use hashbeacon::rewrite::{Message, Recipient};
//!
//! let tracker = Tracker::new(Key::new(KeyId::new("k1")?, &[7u8; 32])?.into(), "https://t.example.com/hb")?;
//! let raw = b"From: shop@example.com\r\n\
//! Content-Type: multipart/alternative; boundary=b\r\n\
//! \r\n\
//! --b\r\n\
//! Content-Type: text/plain; charset=utf-8\r\n\
//! \r\n\
//! Shop: https://shop.example/sale\r\n\
//! --b\r\n\
//! Content-Type: text/html; charset=utf-8\r\n\
//! Content-Transfer-Encoding: quoted-printable\r\n\
//! \r\n\
//! <p><a href=3D\"https://shop.example/sale\">Shop</a></p>\r\n\
//! --b--\r\n";
//! let message = Message::new("spring-sale", Recipient::new(1_767_225_600));
//! let out = rewrite_message(&tracker, &message, &MessageOptions::default(), raw)?;
//!
//! let text = String::from_utf8(out.message)?;
//! assert!(text.starts_with("From: shop@example.com\r\nContent-Type: multipart/alternative; boundary=b\r\n"));
//! assert!(text.contains("Shop: https://t.example.com/hb/c/"));
//! assert!(text.contains("<p><a href=3D\"https://t.example.com/hb/c/"));
//! assert!(text.ends_with("\r\n--b--\r\n"));
//! let html = out.parts[1].outcome.report().unwrap();
//! assert_eq!((html.tracked.len(), html.pixel), (1, true));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod assemble;
mod charset;
mod list_unsubscribe;
mod quoted_printable;
mod report;
mod scan;
mod structure;
mod transfer;

use std::fmt;

pub use list_unsubscribe::ListUnsubscribe;
pub use report::{LeftAlone, PartOutcome, PartReport};
pub use transfer::TransferEncoding;

use self::assemble::Edit;
use self::structure::{Kind, Leaf};
use self::transfer::LineEnding;
use crate::error::{HeaderError, SignError};
use crate::link::Tracker;
use crate::rewrite::{
    Charset, Message, Options, Report, RewriteError, Rewritten, rewrite_html, rewrite_text,
};
use crate::token::{Claims, Kind as TokenKind};
use crate::unsubscribe::{LIST_UNSUBSCRIBE, LIST_UNSUBSCRIBE_POST};

/// Longest header field [`MessageOptions::add_headers`] may add, line ending excluded
/// (RFC 5322's line limit).
const MAX_FIELD_LEN: usize = 998;

/// How a message is rewritten.
///
/// ```
/// use hashbeacon::message::{HeaderField, MessageOptions};
/// let mut options = MessageOptions::default();
/// options.body.honeypot = true;
/// options.allow_dkim_signed = true;
/// options.add_headers.push(HeaderField::new("X-Campaign", "spring-sale"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageOptions {
    /// How bodies are rewritten. [`Options::charset`] is ignored: each part is read in
    /// its own declared charset, or the one its body declares when its header names none.
    pub body: Options,
    /// Rewrite a message that carries a `DKIM-Signature` anyway (the signature will no
    /// longer verify; sign after rewriting). Off by default: such a message is refused
    /// with [`MessageError::DkimSigned`].
    pub allow_dkim_signed: bool,
    /// Header fields added at the end of the top-level header block, in order, with the
    /// message's line ending.
    pub add_headers: Vec<HeaderField>,
    /// Add the recipient's one-click unsubscribe headers (`List-Unsubscribe` and
    /// `List-Unsubscribe-Post`, after [`Self::add_headers`]), signed for the
    /// [`Message`]'s campaign and recipient, whose pseudonym is then required
    /// ([`MessageError::UnsubscribeNeedsRecipient`]). It is the URL the bodies'
    /// [`UNSUBSCRIBE_PLACEHOLDER`](crate::rewrite::UNSUBSCRIBE_PLACEHOLDER)s get, and
    /// the body rewriters never track it (nor any unsubscribe URL of the tracker). A
    /// recipient who opted out of tracking gets the headers too: an unsubscribe is not
    /// tracking.
    ///
    /// A message that already carries either field is refused
    /// ([`MessageError::ListUnsubscribeExists`]) rather than given a second one or
    /// stripped of its own: that one is an unsubscribe route its sender set up (a list
    /// manager's address, say), which dropping silently would break, and two
    /// `List-Unsubscribe` fields leave a mailbox provider to guess which to honour.
    ///
    /// Add the headers before DKIM signing: a provider honours them only when the
    /// signature covers them (see [`crate::unsubscribe`]).
    pub list_unsubscribe: Option<ListUnsubscribe>,
}

/// A header field to add to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderField {
    /// The field name, e.g. `List-Unsubscribe`.
    pub name: String,
    /// The unfolded value, e.g. `<https://example.com/u/abc>`.
    pub value: String,
}

impl HeaderField {
    /// A field with this name and value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Whether the field can be written as one header line: a name of printable ASCII
    /// without `:`, a value without control characters other than tab, at most 998
    /// bytes in all.
    fn is_valid(&self) -> bool {
        let name_ok = !self.name.is_empty() && self.name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        let value_ok = !self.value.chars().any(|c| c.is_control() && c != '\t');
        name_ok && value_ok && self.name.len() + 2 + self.value.len() <= MAX_FIELD_LEN
    }

    /// Whether the field is one of the two [`MessageOptions::list_unsubscribe`] adds.
    fn is_list_unsubscribe(&self) -> bool {
        [LIST_UNSUBSCRIBE, LIST_UNSUBSCRIBE_POST]
            .iter()
            .any(|name| self.name.eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.value)
    }
}

/// A rewritten message and what was done to each of its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewrittenMessage {
    /// The whole rewritten message.
    pub message: Vec<u8>,
    /// Every leaf part, in document order.
    pub parts: Vec<PartReport>,
}

impl fmt::Display for RewrittenMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rewritten = self
            .parts
            .iter()
            .filter(|part| part.outcome.report().is_some())
            .count();
        write!(
            f,
            "{} part(s), {rewritten} rewritten; {} bytes",
            self.parts.len(),
            self.message.len()
        )?;
        for part in &self.parts {
            write!(f, "\n{part}")?;
        }
        Ok(())
    }
}

/// Why a message was not rewritten at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The message carries a `DKIM-Signature`, which rewriting would break. Rewrite
    /// before signing, or set [`MessageOptions::allow_dkim_signed`].
    #[error(
        "the message carries a DKIM-Signature that rewriting would break: rewrite before signing, or allow it explicitly"
    )]
    DkimSigned,
    /// The input has no header block: it is not an RFC 5322 message.
    #[error("not an RFC 5322 message: no header fields found")]
    NotAMessage,
    /// Larger than the 4 GiB the MIME parser's offsets can address.
    #[error("the message is {len} bytes; at most 4 GiB can be rewritten")]
    TooLarge {
        /// Bytes given.
        len: usize,
    },
    /// The campaign id or the recipient's times cannot be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// A field of [`MessageOptions::add_headers`] cannot be written as one header line.
    #[error("header field `{0}` cannot be added: bad name, a control character, or longer than 998 bytes")]
    InvalidHeader(String),
    /// Headers must be added but the message has no header block to add them to.
    #[error("the message's header block has no end, so no header field can be added")]
    NoHeaderBlock,
    /// [`MessageOptions::list_unsubscribe`] is set but the recipient has no pseudonym:
    /// an unsubscribe must say who leaves.
    #[error("List-Unsubscribe needs the recipient's pseudonym: an unsubscribe must say who leaves")]
    UnsubscribeNeedsRecipient,
    /// [`MessageOptions::list_unsubscribe`] is set but the message already carries a
    /// `List-Unsubscribe` or `List-Unsubscribe-Post` field (or
    /// [`MessageOptions::add_headers`] adds one): remove it from the message, or leave
    /// the option off to keep it.
    #[error(
        "the message already has a List-Unsubscribe or List-Unsubscribe-Post field: remove it before adding the recipient's"
    )]
    ListUnsubscribeExists,
    /// The one-click unsubscribe headers could not be built (a base URL so long that a
    /// line would pass 998 characters).
    #[error("cannot add List-Unsubscribe: {0}")]
    Unsubscribe(HeaderError),
    /// The parser reported overlapping parts, so the edits could not be applied.
    #[error("the message's parts overlap; nothing was rewritten")]
    Overlapping,
    /// The MIME parser failed on the message's structure (it panicked, which builds
    /// with debug assertions or overflow checks do on some malformed mail, such as a
    /// `message/rfc822` part nested in another); nothing was rewritten.
    #[error("the MIME parser failed on the message's structure; nothing was rewritten")]
    Unparseable,
}

/// Rewrites a whole message for one recipient: the links of its HTML and plain-text
/// parts become tracked links, the HTML part a client shows gets the open pixel, and
/// everything else stays byte for byte as it was (see the [module docs](self)).
///
/// A recipient who opted out ([`crate::rewrite::Recipient::opted_out`]) gets the
/// message back unchanged, apart from [`MessageOptions::add_headers`] and
/// [`MessageOptions::list_unsubscribe`].
pub fn rewrite_message(
    tracker: &Tracker,
    message: &Message<'_>,
    options: &MessageOptions,
    raw: &[u8],
) -> Result<RewrittenMessage, MessageError> {
    if u32::try_from(raw.len()).is_err() {
        return Err(MessageError::TooLarge { len: raw.len() });
    }
    check_claims(message)?;
    if let Some(field) = options.add_headers.iter().find(|field| !field.is_valid()) {
        return Err(MessageError::InvalidHeader(field.name.clone()));
    }
    let unsubscribe = match &options.list_unsubscribe {
        Some(list_unsubscribe) => {
            if options.add_headers.iter().any(HeaderField::is_list_unsubscribe) {
                return Err(MessageError::ListUnsubscribeExists);
            }
            Some(list_unsubscribe.headers(tracker, message)?)
        }
        None => None,
    };
    let structure = structure::parse(raw)?;
    if structure.dkim_signed && !options.allow_dkim_signed {
        return Err(MessageError::DkimSigned);
    }
    if unsubscribe.is_some() && structure.list_unsubscribe {
        return Err(MessageError::ListUnsubscribeExists);
    }

    let mut edits = Vec::new();
    if !options.add_headers.is_empty() || unsubscribe.is_some() {
        let (at, eol) = structure.header_end.ok_or(MessageError::NoHeaderBlock)?;
        let mut bytes = Vec::new();
        for field in &options.add_headers {
            bytes.extend_from_slice(field.to_string().as_bytes());
            bytes.extend_from_slice(eol.as_bytes());
        }
        if let Some(headers) = &unsubscribe {
            bytes.extend(list_unsubscribe::field_lines(headers, eol));
        }
        edits.push(Edit { range: at..at, bytes });
    }

    let leaves = &structure.leaves;
    let shown_html = leaves
        .iter()
        .rposition(|leaf| leaf.kind == Kind::Html && !leaf.attachment);
    let mut outcomes: Vec<Option<PartOutcome>> = vec![None; leaves.len()];
    let mut text_options = options.body.clone();
    // HTML first: what the author kept out of tracking there stays untracked in text.
    for (i, leaf) in leaves.iter().enumerate() {
        if leaf.kind != Kind::Html || leaf.attachment {
            continue;
        }
        let mut html_options = options.body.clone();
        if Some(i) != shown_html {
            html_options.opens = false;
            html_options.honeypot = false;
        }
        let outcome = rewrite_part(raw, leaf, &mut edits, |body, charset| {
            html_options.charset = charset;
            rewrite_html(tracker, message, &html_options, body)
        });
        if let Some(report) = outcome.report() {
            let kept = report.left_alone_by_author().map(str::to_owned);
            text_options.leave_alone.extend(kept);
        }
        if let Some(slot) = outcomes.get_mut(i) {
            *slot = Some(outcome);
        }
    }
    let mut parts = Vec::with_capacity(leaves.len());
    for (leaf, outcome) in leaves.iter().zip(outcomes) {
        let outcome = outcome.unwrap_or_else(|| match leaf.kind {
            _ if leaf.attachment => PartOutcome::LeftAlone(LeftAlone::Attachment),
            Kind::Text => rewrite_part(raw, leaf, &mut edits, |body, charset| {
                let mut options = text_options.clone();
                options.charset = charset;
                rewrite_text(tracker, message, &options, body)
            }),
            Kind::Html | Kind::Other => PartOutcome::LeftAlone(LeftAlone::NotText),
            Kind::Message => PartOutcome::LeftAlone(LeftAlone::EncapsulatedMessage),
            Kind::TooDeep => PartOutcome::LeftAlone(LeftAlone::TooDeep),
        });
        parts.push(PartReport {
            number: leaf.number.clone(),
            content_type: leaf.content_type.clone(),
            body: leaf.body.clone(),
            outcome,
        });
    }
    let message = assemble::apply(raw, edits).ok_or(MessageError::Overlapping)?;
    Ok(RewrittenMessage { message, parts })
}

/// Rejects a campaign id or recipient that cannot be signed before any part is looked
/// at: that is the caller's error, not a part's.
fn check_claims(message: &Message<'_>) -> Result<(), SignError> {
    let recipient = &message.recipient;
    Claims {
        kind: TokenKind::Open,
        campaign: message.campaign,
        link: None,
        recipient: recipient.pseudonym.map(|pseudonym| pseudonym.as_str()),
        issued_at: recipient.issued_at,
        expires_at: recipient.expires_at,
    }
    .validate()
}

/// Rewrites one text part's body with `rewrite`, queueing the edits that put it back;
/// or says why it is left alone (and queues nothing).
fn rewrite_part(
    raw: &[u8],
    leaf: &Leaf,
    edits: &mut Vec<Edit>,
    rewrite: impl FnOnce(&[u8], Option<Charset>) -> Result<Rewritten, RewriteError>,
) -> PartOutcome {
    match part_edits(raw, leaf, rewrite) {
        Ok((report, encoding, changed_to, part_edits)) => {
            edits.extend(part_edits);
            PartOutcome::Rewritten {
                report,
                encoding,
                changed_to,
            }
        }
        Err(reason) => PartOutcome::LeftAlone(reason),
    }
}

type PartEdits = (Report, TransferEncoding, Option<TransferEncoding>, Vec<Edit>);

fn part_edits(
    raw: &[u8],
    leaf: &Leaf,
    rewrite: impl FnOnce(&[u8], Option<Charset>) -> Result<Rewritten, RewriteError>,
) -> Result<PartEdits, LeftAlone> {
    if leaf.ambiguous {
        return Err(LeftAlone::AmbiguousHeaders);
    }
    let declared = leaf.transfer_encoding.as_ref().map(|(value, _)| value.as_str());
    let encoding = TransferEncoding::from_header(declared).map_err(LeftAlone::UnknownEncoding)?;
    let charset = charset::for_part(leaf.charset.as_deref()).map_err(LeftAlone::UnknownCharset)?;
    let body = raw.get(leaf.body.clone()).ok_or(LeftAlone::Malformed)?;
    // The parser flags a body it could not decode as it flags one whose end it had to
    // guess: a body that does not decode here either is reported as such.
    let decoded = transfer::decode(encoding, body).ok_or(LeftAlone::BrokenEncoding(encoding))?;
    if leaf.malformed {
        return Err(LeftAlone::Malformed);
    }
    let rewritten = rewrite(decoded.text(), charset).map_err(LeftAlone::Unrewritable)?;
    if rewritten.body == decoded.text() {
        return Ok((rewritten.report, encoding, None, Vec::new()));
    }
    let eol = leaf.line_ending(raw);
    let (mut edits, now) = transfer::encode(encoding, &rewritten.body, &decoded, body, eol);
    // The body's edits are offsets in the body: make them offsets in the message.
    for edit in &mut edits {
        edit.range = edit.range.start + leaf.body.start..edit.range.end + leaf.body.start;
    }
    let changed_to = (now != encoding).then_some(now);
    if let Some(now) = changed_to {
        edits.push(transfer_encoding_field(raw, leaf, now, eol)?);
    }
    Ok((rewritten.report, encoding, changed_to, edits))
}

/// The edit that declares the part's new transfer encoding: its existing field
/// replaced (keeping that field's line ending), or a new field at the end of its
/// headers.
fn transfer_encoding_field(
    raw: &[u8],
    leaf: &Leaf,
    encoding: TransferEncoding,
    eol: LineEnding,
) -> Result<Edit, LeftAlone> {
    let field = |eol: LineEnding| {
        let mut bytes = format!("Content-Transfer-Encoding: {encoding}").into_bytes();
        bytes.extend_from_slice(eol.as_bytes());
        bytes
    };
    match &leaf.transfer_encoding {
        Some((_, range)) => {
            let old = raw.get(range.clone()).ok_or(LeftAlone::NoHeaderBlock)?;
            let old_eol = LineEnding::first_in(old).ok_or(LeftAlone::NoHeaderBlock)?;
            Ok(Edit {
                range: range.clone(),
                bytes: field(old_eol),
            })
        }
        None => {
            let at = leaf.header_end.ok_or(LeftAlone::NoHeaderBlock)?;
            Ok(Edit {
                range: at..at,
                bytes: field(eol),
            })
        }
    }
}
