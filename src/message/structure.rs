//! A message's MIME structure as byte ranges of the raw message.
//!
//! `mail-parser` finds the parts (it copes with the malformed mail found in the wild):
//! for ordinary mail by parsing the header blocks alone while [`super::scan`] finds the
//! delimiters, for anything else by parsing the whole message. This module keeps only
//! where each leaf's headers and body are and what its headers say, so that rewriting
//! touches nothing but the bodies it replaces.

use std::ops::Range;

use mail_parser::{Header, HeaderName, MessageParser, MessagePart, MimeHeaders as _, PartType};

use super::transfer::LineEnding;
use super::{MessageError, scan};

/// Deepest `multipart` nesting whose parts are looked at; a deeper subtree is left
/// alone as a whole (and reported once), which bounds the report's size.
pub(crate) const MAX_DEPTH: usize = 128;

/// What a leaf part holds, as far as rewriting is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Html,
    Text,
    /// Any other type (images, `text/calendar`, …).
    Other,
    /// `message/rfc822` and `message/global`.
    Message,
    /// A multipart nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// One leaf of the MIME tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Leaf {
    /// IMAP-style part number: `1`, `2.1`, …
    pub(crate) number: String,
    pub(crate) content_type: String,
    pub(crate) kind: Kind,
    /// `Content-Disposition: attachment`.
    pub(crate) attachment: bool,
    /// The parser had to guess where the part ends (no boundary after it).
    pub(crate) malformed: bool,
    pub(crate) charset: Option<String>,
    /// The `Content-Transfer-Encoding` value, and its whole field (name to line end).
    pub(crate) transfer_encoding: Option<(String, Range<usize>)>,
    /// More than one `Content-Transfer-Encoding` or `Content-Type` field.
    pub(crate) ambiguous: bool,
    /// Where a new header field goes: the start of the blank line ending the headers.
    pub(crate) header_end: Option<usize>,
    pub(crate) body: Range<usize>,
}

impl Leaf {
    /// The line ending of the part's header block (the message's convention), or of its
    /// body when it has no header block.
    pub(crate) fn line_ending(&self, raw: &[u8]) -> LineEnding {
        let body = raw.get(self.body.clone()).unwrap_or_default();
        let headers = self
            .header_end
            .and_then(|end| raw.get(end..self.body.start))
            .unwrap_or_default();
        LineEnding::first_in(headers)
            .or_else(|| LineEnding::first_in(body))
            .unwrap_or(LineEnding::CrLf)
    }
}

/// The parts of a message that matter for rewriting it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Structure {
    pub(crate) leaves: Vec<Leaf>,
    /// The top-level header block carries a `DKIM-Signature`.
    pub(crate) dkim_signed: bool,
    /// The top-level header block carries `List-Unsubscribe` or `List-Unsubscribe-Post`.
    pub(crate) list_unsubscribe: bool,
    /// Where top-level header fields can be added, with the headers' line ending.
    pub(crate) header_end: Option<(usize, LineEnding)>,
}

/// The structure of `raw`: [`MessageError::NotAMessage`] when it holds no header block
/// at all, [`MessageError::Unparseable`] when the MIME parser panicked on it.
pub(crate) fn parse(raw: &[u8]) -> Result<Structure, MessageError> {
    let parser = parser();
    let structure = contained(|| match scan::parse(&parser, raw) {
        Some((leaves, root)) => Some(structure(raw, &root, leaves)),
        None => parse_whole(&parser, raw),
    });
    structure
        .ok_or(MessageError::Unparseable)?
        .ok_or(MessageError::NotAMessage)
}

/// Runs `parse` (a parse with `mail-parser`), `None` if it panics.
///
/// `mail-parser` checks its own state with `debug_assert!` and computes offsets with
/// unchecked arithmetic; some malformed messages (a `message/rfc822` part nested in
/// another, found by fuzzing) trip those checks in a build with debug assertions or
/// overflow checks, where a release build goes on and recovers. No input may panic
/// through this crate's API, so the panic is caught here and the message refused.
/// (Under `panic = "abort"` there is nothing to catch: such a build aborts.)
fn contained<T>(parse: impl FnOnce() -> T) -> Option<T> {
    // Nothing `parse` touches outlives a panic: the parser and the message are
    // dropped, and the input is only read.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).ok()
}

/// The parser, set to read the headers that matter here.
pub(crate) fn parser() -> MessageParser {
    // The parser would decode every quoted-printable and base64 body (a copy of each
    // attachment) while it looks for boundaries. With the transfer encoding hidden from
    // it, it only finds where parts end; the bodies that are rewritten are decoded here,
    // and only those.
    MessageParser::new()
        .with_mime_headers()
        .ignore_header(HeaderName::ContentTransferEncoding)
}

/// The structure of `raw` as `mail-parser` finds it parsing the whole message, which
/// copes with the malformed mail found in the wild.
pub(crate) fn parse_whole(parser: &MessageParser, raw: &[u8]) -> Option<Structure> {
    let message = parser.parse(raw)?;
    let parts = &message.parts;
    let root = parts.first()?;
    let mut leaves = Vec::new();
    // Depth-first, in document order, without recursion (nesting depth is input-chosen);
    // each part is visited at most once whatever the parser's child lists say.
    let mut visited = vec![false; parts.len()];
    let mut stack: Vec<(u32, String, usize)> = vec![(0, String::new(), 0)];
    while let Some((id, number, depth)) = stack.pop() {
        let Some(part) = usize::try_from(id).ok().and_then(|i| parts.get(i)) else {
            continue;
        };
        if std::mem::replace(visited.get_mut(id as usize).unwrap_or(&mut true), true) {
            continue;
        }
        match &part.body {
            PartType::Multipart(children) if depth < MAX_DEPTH => {
                for (i, child) in children.iter().enumerate().rev() {
                    let child_number = if number.is_empty() {
                        (i + 1).to_string()
                    } else {
                        format!("{number}.{}", i + 1)
                    };
                    stack.push((*child, child_number, depth + 1));
                }
            }
            body => {
                let number = if number.is_empty() { "1".to_owned() } else { number };
                leaves.push(leaf(raw, part, body, number));
            }
        }
    }
    Some(structure(raw, root, leaves))
}

/// The structure of a message with these leaves and this root part.
pub(crate) fn structure(raw: &[u8], root: &MessagePart<'_>, leaves: Vec<Leaf>) -> Structure {
    let has = |wanted: fn(&HeaderName<'_>) -> bool| root.headers.iter().any(|header| wanted(&header.name));
    let dkim_signed = has(|name| matches!(name, HeaderName::DkimSignature));
    let list_unsubscribe = has(|name| {
        matches!(
            name,
            HeaderName::ListUnsubscribe | HeaderName::ListUnsubscribePost
        )
    });
    let header_end = blank_line(raw, root).map(|at| {
        let eol = LineEnding::first_in(raw.get(at..).unwrap_or_default()).unwrap_or(LineEnding::CrLf);
        (at, eol)
    });
    Structure {
        leaves,
        dkim_signed,
        list_unsubscribe,
        header_end,
    }
}

/// The leaf for one part of the parsed tree.
pub(crate) fn leaf(raw: &[u8], part: &MessagePart<'_>, body: &PartType<'_>, number: String) -> Leaf {
    let content_type = part.content_type();
    let type_name = content_type.map_or_else(
        || "text/plain".to_owned(),
        |ct| match ct.subtype() {
            Some(subtype) => format!("{}/{}", ct.ctype(), subtype).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
    );
    let kind = match body {
        PartType::Multipart(_) => Kind::TooDeep,
        PartType::Message(_) => Kind::Message,
        _ if type_name.starts_with("message/") => Kind::Message,
        _ if type_name == "text/html" => Kind::Html,
        _ if type_name == "text/plain" => Kind::Text,
        _ => Kind::Other,
    };
    let attachment = part
        .content_disposition()
        .is_some_and(|disposition| disposition.is_attachment());
    let charset = content_type
        .and_then(|ct| ct.attribute("charset"))
        .map(str::to_owned);
    let fields = |name: HeaderName<'static>| part.headers.iter().filter(move |header| header.name == name);
    let transfer_encoding = fields(HeaderName::ContentTransferEncoding)
        .next()
        .and_then(|header| Some((value(raw, header)?, field_range(header)?)));
    let ambiguous = fields(HeaderName::ContentTransferEncoding).count() > 1
        || fields(HeaderName::ContentType).count() > 1;

    let (header_start, body_start, body_end) = (
        part.offset_header as usize,
        part.offset_body as usize,
        part.offset_end as usize,
    );
    let ordered = header_start <= body_start && body_start <= body_end && body_end <= raw.len();
    Leaf {
        number,
        content_type: type_name,
        kind,
        attachment,
        malformed: part.is_encoding_problem || !ordered,
        charset,
        transfer_encoding,
        ambiguous,
        header_end: blank_line(raw, part),
        body: if ordered { body_start..body_end } else { 0..0 },
    }
}

/// A header field's value as written, unfolded and trimmed.
fn value(raw: &[u8], header: &Header<'_>) -> Option<String> {
    let bytes = raw.get(header.offset_start as usize..header.offset_end as usize)?;
    let unfolded: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    Some(String::from_utf8_lossy(unfolded.trim_ascii()).into_owned())
}

/// A header field's bytes, from its name through its line ending.
fn field_range(header: &Header<'_>) -> Option<Range<usize>> {
    let range = header.offset_field as usize..header.offset_end as usize;
    (range.start <= range.end).then_some(range)
}

/// The start of the blank line that ends a part's header block, if it has one.
fn blank_line(raw: &[u8], part: &MessagePart<'_>) -> Option<usize> {
    let block = raw.get(part.offset_header as usize..part.offset_body as usize)?;
    let without_blank = block
        .strip_suffix(b"\r\n")
        .or_else(|| block.strip_suffix(b"\n"))?;
    // The blank line follows the last field's line ending, or is the whole block.
    let after_field = without_blank.is_empty() || without_blank.ends_with(b"\n");
    after_field.then(|| part.offset_header as usize + without_blank.len())
}
