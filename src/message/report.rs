//! What rewriting a message did, part by part.

use std::fmt;
use std::ops::Range;

use super::transfer::TransferEncoding;
use crate::rewrite::{Report, RewriteError};

/// What happened to one leaf part of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartReport {
    /// The part's number, as IMAP numbers parts: `1` for a message that is not
    /// multipart, else `1`, `2`, … for the top-level parts, `2.1` for the first part
    /// inside the second, and so on.
    pub number: String,
    /// Its media type, lowercase (`text/html`; `text/plain` when it declares none).
    pub content_type: String,
    /// Where its body is in the input message (without the line break that belongs to
    /// the next boundary).
    pub body: Range<usize>,
    /// What was done to it.
    pub outcome: PartOutcome,
}

/// What was done to one part.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartOutcome {
    /// The body was rewritten (or found to need no change, which leaves its bytes as
    /// they were: see [`Report::tracked`] and [`Report::pixel`]).
    Rewritten {
        /// What the body rewriter did.
        report: Report,
        /// The part's transfer encoding.
        encoding: TransferEncoding,
        /// The encoding the part had to change to (`7bit`/`8bit` to quoted-printable
        /// when a rewritten line grew past 998 bytes), with its header updated.
        changed_to: Option<TransferEncoding>,
    },
    /// The part was left exactly as it was.
    LeftAlone(LeftAlone),
}

impl PartOutcome {
    /// The body rewriter's report, for a rewritten part.
    pub fn report(&self) -> Option<&Report> {
        match self {
            PartOutcome::Rewritten { report, .. } => Some(report),
            PartOutcome::LeftAlone(_) => None,
        }
    }
}

/// Why a part was left exactly as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeftAlone {
    /// `Content-Disposition: attachment`.
    Attachment,
    /// Neither `text/html` nor `text/plain`.
    NotText,
    /// An encapsulated message (`message/rfc822`): it is delivered as it was sent.
    EncapsulatedMessage,
    /// `multipart` nested deeper than the levels looked at (128); the whole subtree is
    /// left as it was.
    TooDeep,
    /// The part's end could not be found (a missing boundary), so where its body ends
    /// is a guess.
    Malformed,
    /// The part has more than one `Content-Type` or `Content-Transfer-Encoding` field.
    AmbiguousHeaders,
    /// The `Content-Transfer-Encoding` is not a standard one.
    UnknownEncoding(String),
    /// The body is not valid in its declared transfer encoding.
    BrokenEncoding(TransferEncoding),
    /// The charset is unknown or not ASCII-compatible (UTF-16, ISO-2022-JP, …).
    UnknownCharset(String),
    /// The body rewriter refused the body.
    Unrewritable(RewriteError),
    /// The body needs a transfer encoding change, but the part's header block has no
    /// place to say so.
    NoHeaderBlock,
}

impl fmt::Display for LeftAlone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeftAlone::Attachment => f.write_str("attachment"),
            LeftAlone::NotText => f.write_str("not HTML or plain text"),
            LeftAlone::EncapsulatedMessage => f.write_str("encapsulated message"),
            LeftAlone::TooDeep => f.write_str("multipart nested too deep"),
            LeftAlone::Malformed => f.write_str("malformed: its end boundary is missing"),
            LeftAlone::AmbiguousHeaders => {
                f.write_str("more than one Content-Type or Content-Transfer-Encoding")
            }
            LeftAlone::UnknownEncoding(name) => write!(f, "unknown transfer encoding `{name}`"),
            LeftAlone::BrokenEncoding(encoding) => write!(f, "body is not valid {encoding}"),
            LeftAlone::UnknownCharset(label) => write!(f, "unsupported charset `{label}`"),
            LeftAlone::Unrewritable(error) => write!(f, "{error}"),
            LeftAlone::NoHeaderBlock => f.write_str("no header block to update"),
        }
    }
}

impl fmt::Display for PartReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "part {} ({}): ", self.number, self.content_type)?;
        match &self.outcome {
            PartOutcome::Rewritten {
                report,
                encoding,
                changed_to,
            } => {
                write!(f, "{report}")?;
                if let Some(changed_to) = changed_to {
                    write!(f, "\n  transfer encoding changed from {encoding} to {changed_to}")?;
                }
                Ok(())
            }
            PartOutcome::LeftAlone(reason) => write!(f, "left alone: {reason}"),
        }
    }
}
