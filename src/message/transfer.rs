//! Content-Transfer-Encodings: a part's body decoded for the rewriter, and the rewritten
//! body encoded back in the part's own encoding and line ending.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

use super::assemble::Edit;
use super::quoted_printable;

/// Longest encoded line of quoted-printable and base64 (RFC 2045), not counting the line
/// ending.
const ENCODED_LINE: usize = 76;

/// Longest line of an unencoded (7bit, 8bit) body (RFC 5322), not counting the line
/// ending.
const RAW_LINE: usize = 998;

/// Mail encoders differ on padding; the bits themselves must be canonical.
const BASE64_DECODER: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A part's `Content-Transfer-Encoding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransferEncoding {
    /// `7bit`, or no header: ASCII lines of at most 998 bytes.
    SevenBit,
    /// `8bit`: any bytes but NUL, lines of at most 998 bytes.
    EightBit,
    /// `binary`: any bytes.
    Binary,
    /// `quoted-printable`.
    QuotedPrintable,
    /// `base64`.
    Base64,
}

impl TransferEncoding {
    /// The encoding a header value names (`None`: no header, which means `7bit`), or the
    /// value itself when it names no standard encoding.
    pub(crate) fn from_header(value: Option<&str>) -> Result<Self, String> {
        let Some(value) = value else {
            return Ok(Self::SevenBit);
        };
        let name = value.trim();
        [
            Self::SevenBit,
            Self::EightBit,
            Self::Binary,
            Self::QuotedPrintable,
            Self::Base64,
        ]
        .into_iter()
        .find(|encoding| encoding.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| value.to_owned())
    }

    /// The encoding's name as written in the header.
    pub fn name(self) -> &'static str {
        match self {
            Self::SevenBit => "7bit",
            Self::EightBit => "8bit",
            Self::Binary => "binary",
            Self::QuotedPrintable => "quoted-printable",
            Self::Base64 => "base64",
        }
    }
}

impl fmt::Display for TransferEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The line ending a part is written with; rewritten bodies keep it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineEnding {
    CrLf,
    Lf,
}

impl LineEnding {
    /// The ending of the first line in `bytes`, if any line ends in them.
    pub(crate) fn first_in(bytes: &[u8]) -> Option<Self> {
        let at = memchr::memchr(b'\n', bytes)?;
        let cr = at.checked_sub(1).and_then(|before| bytes.get(before)) == Some(&b'\r');
        Some(if cr { Self::CrLf } else { Self::Lf })
    }

    pub(crate) fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::CrLf => b"\r\n",
            Self::Lf => b"\n",
        }
    }
}

/// A part's body with its transfer encoding undone.
#[derive(Debug)]
pub(crate) enum Decoded<'a> {
    /// Not encoded: the body itself.
    Unencoded(&'a [u8]),
    /// Quoted-printable, with where each line came from.
    QuotedPrintable(quoted_printable::Decoded),
    Base64(Vec<u8>),
}

impl Decoded<'_> {
    /// The decoded bytes.
    pub(crate) fn text(&self) -> &[u8] {
        match self {
            Decoded::Unencoded(body) => body,
            Decoded::QuotedPrintable(decoded) => &decoded.text,
            Decoded::Base64(text) => text,
        }
    }
}

/// The body with its transfer encoding undone, or `None` when it is not validly encoded.
pub(crate) fn decode(encoding: TransferEncoding, body: &[u8]) -> Option<Decoded<'_>> {
    match encoding {
        TransferEncoding::SevenBit | TransferEncoding::EightBit | TransferEncoding::Binary => {
            Some(Decoded::Unencoded(body))
        }
        TransferEncoding::QuotedPrintable => quoted_printable::decode(body).map(Decoded::QuotedPrintable),
        TransferEncoding::Base64 => {
            let text: Vec<u8> = body.iter().copied().filter(|b| !is_space(*b)).collect();
            BASE64_DECODER.decode(text).ok().map(Decoded::Base64)
        }
    }
}

/// The edits that turn the part's encoded body into the rewritten body encoded for the
/// part, and the encoding it is then in: the part's own, except that an unencoded body
/// whose lines no longer fit (or that a `7bit` label no longer describes) becomes
/// quoted-printable. `original` is the encoded body before rewriting and `decoded` what
/// it decoded to: a base64 body keeps its trailing line break, and a quoted-printable
/// one the encoded bytes of every line left unchanged (only changed lines are edited).
/// The edits' ranges are offsets in `original`.
pub(crate) fn encode(
    encoding: TransferEncoding,
    body: &[u8],
    decoded: &Decoded<'_>,
    original: &[u8],
    eol: LineEnding,
) -> (Vec<Edit>, TransferEncoding) {
    let whole = |bytes: Vec<u8>| {
        vec![Edit {
            range: 0..original.len(),
            bytes,
        }]
    };
    match encoding {
        TransferEncoding::QuotedPrintable => {
            let edits = match decoded {
                Decoded::QuotedPrintable(lines) => quoted_printable::reencode(body, lines, original, eol),
                _ => whole(quoted_printable::encode(body, eol)),
            };
            (edits, encoding)
        }
        TransferEncoding::Base64 => {
            let kept = original.len() - original.iter().rev().take_while(|b| is_space(**b)).count();
            let tail = original.get(kept..).unwrap_or_default();
            (whole(encode_base64(body, eol, tail)), encoding)
        }
        TransferEncoding::SevenBit | TransferEncoding::EightBit if !fits_unencoded(encoding, body) => (
            whole(quoted_printable::encode(body, eol)),
            TransferEncoding::QuotedPrintable,
        ),
        TransferEncoding::SevenBit | TransferEncoding::EightBit | TransferEncoding::Binary => {
            (whole(body.to_vec()), encoding)
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Whether `body` may travel as `7bit` / `8bit`: short lines, and ASCII for `7bit`.
fn fits_unencoded(encoding: TransferEncoding, body: &[u8]) -> bool {
    let ascii = encoding != TransferEncoding::SevenBit || body.is_ascii();
    ascii
        && body
            .split(|&b| b == b'\n')
            .all(|line| line.strip_suffix(b"\r").unwrap_or(line).len() <= RAW_LINE)
}

/// Base64 in lines of 76 characters, then `tail` (the original body's trailing line
/// break, if it had one).
fn encode_base64(body: &[u8], eol: LineEnding, tail: &[u8]) -> Vec<u8> {
    let text = general_purpose::STANDARD.encode(body);
    let mut out = Vec::with_capacity(text.len() + text.len() / ENCODED_LINE * 2 + tail.len());
    for (i, line) in text.as_bytes().chunks(ENCODED_LINE).enumerate() {
        if i > 0 {
            out.extend_from_slice(eol.as_bytes());
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(tail);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use proptest::prelude::*;

    use super::*;

    /// The encoded body [`encode`] makes, and its encoding.
    fn encoded(
        encoding: TransferEncoding,
        body: &[u8],
        decoded: &Decoded<'_>,
        original: &[u8],
        eol: LineEnding,
    ) -> (Vec<u8>, TransferEncoding) {
        let (edits, now) = encode(encoding, body, decoded, original, eol);
        (crate::message::assemble::apply(original, edits).unwrap(), now)
    }

    #[test]
    fn base64_keeps_the_trailing_break_and_wraps_at_76() {
        let body = vec![0xA5; 200];
        let original = encode_base64(&body, LineEnding::Lf, b"\n");
        let decoded = decode(TransferEncoding::Base64, &original).unwrap();
        let (encoded, encoding) = encoded(
            TransferEncoding::Base64,
            &body,
            &decoded,
            &original,
            LineEnding::Lf,
        );
        assert_eq!(encoding, TransferEncoding::Base64);
        assert!(encoded.ends_with(b"\n") && !encoded.ends_with(b"\n\n"));
        assert!(encoded.split(|&b| b == b'\n').all(|line| line.len() <= 76));
        assert_eq!(decode(TransferEncoding::Base64, &encoded).unwrap().text(), body);
        assert_eq!(
            decode(TransferEncoding::Base64, b"QUJD\r\nRA").unwrap().text(),
            b"ABCD"
        );
        assert!(decode(TransferEncoding::Base64, b"QUJD*").is_none());
    }

    #[test]
    fn unencoded_bodies_switch_only_when_they_must() {
        let short = b"line\r\nline\r\n";
        assert_eq!(
            encoded(
                TransferEncoding::SevenBit,
                short,
                &Decoded::Unencoded(short),
                short,
                LineEnding::CrLf
            )
            .1,
            TransferEncoding::SevenBit
        );
        let long = "x".repeat(999);
        assert_eq!(
            encoded(
                TransferEncoding::EightBit,
                long.as_bytes(),
                &Decoded::Unencoded(b""),
                b"",
                LineEnding::CrLf
            )
            .1,
            TransferEncoding::QuotedPrintable
        );
        assert_eq!(
            encoded(
                TransferEncoding::SevenBit,
                "é".as_bytes(),
                &Decoded::Unencoded(b""),
                b"",
                LineEnding::Lf
            )
            .1,
            TransferEncoding::QuotedPrintable
        );
        assert_eq!(
            encoded(
                TransferEncoding::EightBit,
                "é".as_bytes(),
                &Decoded::Unencoded(b""),
                b"",
                LineEnding::Lf
            )
            .1,
            TransferEncoding::EightBit
        );
        assert_eq!(
            encoded(
                TransferEncoding::Binary,
                long.as_bytes(),
                &Decoded::Unencoded(b""),
                b"",
                LineEnding::Lf
            )
            .1,
            TransferEncoding::Binary
        );
    }

    #[test]
    fn names_the_standard_encodings() {
        assert_eq!(
            TransferEncoding::from_header(None),
            Ok(TransferEncoding::SevenBit)
        );
        assert_eq!(
            TransferEncoding::from_header(Some(" Quoted-Printable ")),
            Ok(TransferEncoding::QuotedPrintable)
        );
        assert_eq!(
            TransferEncoding::from_header(Some("x-uuencode")),
            Err("x-uuencode".to_owned())
        );
    }

    proptest! {
        #[test]
        fn base64_round_trips(body in proptest::collection::vec(any::<u8>(), 0..400), crlf: bool) {
            let eol = if crlf { LineEnding::CrLf } else { LineEnding::Lf };
            let encoded = encode_base64(&body, eol, eol.as_bytes());
            let decoded = decode(TransferEncoding::Base64, &encoded).unwrap();
            prop_assert_eq!(decoded.text(), body);
        }
    }
}
