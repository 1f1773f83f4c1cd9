//! Content-Transfer-Encodings: a part's body decoded for the rewriter, and the rewritten
//! body encoded back in the part's own encoding and line ending.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

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

/// The body with its transfer encoding undone, or `None` when it is not validly encoded.
pub(crate) fn decode(encoding: TransferEncoding, body: &[u8]) -> Option<Cow<'_, [u8]>> {
    match encoding {
        TransferEncoding::SevenBit | TransferEncoding::EightBit | TransferEncoding::Binary => {
            Some(Cow::Borrowed(body))
        }
        TransferEncoding::QuotedPrintable => decode_quoted_printable(body).map(Cow::Owned),
        TransferEncoding::Base64 => {
            let text: Vec<u8> = body.iter().copied().filter(|b| !is_space(*b)).collect();
            BASE64_DECODER.decode(text).ok().map(Cow::Owned)
        }
    }
}

/// The rewritten body encoded for the part, and the encoding it is in: the part's own,
/// except that an unencoded body whose lines no longer fit (or that a `7bit` label no
/// longer describes) becomes quoted-printable. `original` is the encoded body before
/// rewriting: a base64 body keeps its trailing line break.
pub(crate) fn encode(
    encoding: TransferEncoding,
    body: &[u8],
    original: &[u8],
    eol: LineEnding,
) -> (Vec<u8>, TransferEncoding) {
    match encoding {
        TransferEncoding::QuotedPrintable => (encode_quoted_printable(body, eol), encoding),
        TransferEncoding::Base64 => {
            let kept = original.len() - original.iter().rev().take_while(|b| is_space(**b)).count();
            let tail = original.get(kept..).unwrap_or_default();
            (encode_base64(body, eol, tail), encoding)
        }
        TransferEncoding::SevenBit | TransferEncoding::EightBit if !fits_unencoded(encoding, body) => (
            encode_quoted_printable(body, eol),
            TransferEncoding::QuotedPrintable,
        ),
        TransferEncoding::SevenBit | TransferEncoding::EightBit | TransferEncoding::Binary => {
            (body.to_vec(), encoding)
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

/// Strict quoted-printable decoding: `=` must start a soft line break or two hex digits.
/// Line endings are kept as written; trailing white space on a line is transport
/// padding and dropped (RFC 2045 §6.7).
fn decode_quoted_printable(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        let (line, ending, next) = match memchr::memchr(b'\n', rest) {
            Some(at) => {
                let (line, next) = rest.split_at(at);
                let next = next.get(1..).unwrap_or_default();
                match line.strip_suffix(b"\r") {
                    Some(line) => (line, b"\r\n".as_slice(), Some(next)),
                    None => (line, b"\n".as_slice(), Some(next)),
                }
            }
            None => (rest, b"".as_slice(), None),
        };
        let line = line.trim_ascii_end();
        let (mut content, soft) = match line.strip_suffix(b"=") {
            Some(content) => (content, true),
            None => (line, false),
        };
        while let Some(at) = memchr::memchr(b'=', content) {
            let (literal, escape) = content.split_at(at);
            out.extend_from_slice(literal);
            let (high, low) = match escape {
                [_, high, low, ..] => (hex(*high)?, hex(*low)?),
                _ => return None,
            };
            out.push(high << 4 | low);
            content = escape.get(3..).unwrap_or_default();
        }
        out.extend_from_slice(content);
        if !soft {
            out.extend_from_slice(ending);
        }
        match next {
            Some(next) => rest = next,
            None => return Some(out),
        }
    }
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// Quoted-printable with lines of at most 76 characters: the body's own line breaks (in
/// `eol`) stay literal line breaks, every other CR or LF is escaped, and so are `=`,
/// bytes outside printable ASCII and white space before a line break.
fn encode_quoted_printable(body: &[u8], eol: LineEnding) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 16 + 8);
    let mut rest = body;
    loop {
        let (line, next) = split_hard_line(rest, eol);
        encode_quoted_printable_line(line, eol, &mut out);
        match next {
            Some(next) => {
                out.extend_from_slice(eol.as_bytes());
                rest = next;
            }
            None => return out,
        }
    }
}

/// The text before the first line break written as `eol`, and what follows that break
/// (`None` when there is none).
fn split_hard_line(text: &[u8], eol: LineEnding) -> (&[u8], Option<&[u8]>) {
    let mut from = 0;
    while let Some(at) = text.get(from..).and_then(|rest| memchr::memchr(b'\n', rest)) {
        let at = from + at;
        let line_end = match eol {
            LineEnding::Lf => Some(at),
            LineEnding::CrLf => at.checked_sub(1).filter(|&cr| text.get(cr) == Some(&b'\r')),
        };
        if let Some(line_end) = line_end {
            return (text.get(..line_end).unwrap_or_default(), text.get(at + 1..));
        }
        from = at + 1;
    }
    (text, None)
}

/// Whether quoted-printable writes the byte as it is (within a line): printable ASCII
/// but `=`, space and tab.
fn is_literal(b: u8) -> bool {
    matches!(b, b'!'..=b'<' | b'>'..=b'~' | b' ' | b'\t')
}

/// One line without its line break, with soft breaks keeping every encoded line within
/// 76 characters (the 76th being the soft break's `=`).
fn encode_quoted_printable_line(line: &[u8], eol: LineEnding, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    const ROOM: usize = ENCODED_LINE - 1;
    let mut width = 0;
    let mut rest = line;
    while let Some(&first) = rest.first() {
        let mut run = rest.iter().position(|&b| !is_literal(b)).unwrap_or(rest.len());
        // White space that ends the line would be taken for transport padding.
        if run == rest.len() && matches!(rest.last(), Some(b' ' | b'\t')) {
            run -= 1;
        }
        if run == 0 {
            if width + 3 > ROOM {
                out.push(b'=');
                out.extend_from_slice(eol.as_bytes());
                width = 0;
            }
            let digit = |nibble: u8| HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
            let escape = [b'=', digit(first >> 4), digit(first & 0xF)];
            out.extend_from_slice(&escape);
            width += 3;
            rest = rest.get(1..).unwrap_or_default();
            continue;
        }
        let (mut chunk, after) = rest.split_at(run);
        while !chunk.is_empty() {
            if width == ROOM {
                out.push(b'=');
                out.extend_from_slice(eol.as_bytes());
                width = 0;
            }
            let (now, later) = chunk.split_at((ROOM - width).min(chunk.len()));
            out.extend_from_slice(now);
            width += now.len();
            chunk = later;
        }
        rest = after;
    }
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

    #[test]
    fn decodes_quoted_printable_strictly() {
        let decoded = decode_quoted_printable(b"caf=C3=A9 =3d ok=\r\nnext  \r\nend").unwrap();
        assert_eq!(decoded, "café = oknext\r\nend".as_bytes());
        assert_eq!(decode_quoted_printable(b"a=\nb\n").unwrap(), b"ab\n");
        assert_eq!(decode_quoted_printable(b"50% =off"), None);
        assert_eq!(decode_quoted_printable(b"=4"), None);
        assert_eq!(decode_quoted_printable(b"x=="), None);
    }

    #[test]
    fn encodes_quoted_printable_within_76_characters() {
        let long = "é".repeat(60) + " " + &"a".repeat(100) + " \r\n=.\t";
        let encoded = encode_quoted_printable(long.as_bytes(), LineEnding::CrLf);
        let text = String::from_utf8(encoded.clone()).unwrap();
        assert!(text.split("\r\n").all(|line| line.len() <= 76), "{text}");
        assert!(text.contains("=20\r\n=3D.=09"), "{text}");
        assert_eq!(decode_quoted_printable(&encoded).unwrap(), long.as_bytes());
    }

    #[test]
    fn base64_keeps_the_trailing_break_and_wraps_at_76() {
        let body = vec![0xA5; 200];
        let original = encode_base64(&body, LineEnding::Lf, b"\n");
        let (encoded, encoding) = encode(TransferEncoding::Base64, &body, &original, LineEnding::Lf);
        assert_eq!(encoding, TransferEncoding::Base64);
        assert!(encoded.ends_with(b"\n") && !encoded.ends_with(b"\n\n"));
        assert!(encoded.split(|&b| b == b'\n').all(|line| line.len() <= 76));
        assert_eq!(decode(TransferEncoding::Base64, &encoded).unwrap(), body);
        assert_eq!(
            decode(TransferEncoding::Base64, b"QUJD\r\nRA"),
            Some(b"ABCD".as_slice().into())
        );
        assert_eq!(decode(TransferEncoding::Base64, b"QUJD*"), None);
    }

    #[test]
    fn unencoded_bodies_switch_only_when_they_must() {
        let short = b"line\r\nline\r\n";
        assert_eq!(
            encode(TransferEncoding::SevenBit, short, short, LineEnding::CrLf).1,
            TransferEncoding::SevenBit
        );
        let long = "x".repeat(999);
        assert_eq!(
            encode(TransferEncoding::EightBit, long.as_bytes(), b"", LineEnding::CrLf).1,
            TransferEncoding::QuotedPrintable
        );
        assert_eq!(
            encode(TransferEncoding::SevenBit, "é".as_bytes(), b"", LineEnding::Lf).1,
            TransferEncoding::QuotedPrintable
        );
        assert_eq!(
            encode(TransferEncoding::EightBit, "é".as_bytes(), b"", LineEnding::Lf).1,
            TransferEncoding::EightBit
        );
        assert_eq!(
            encode(TransferEncoding::Binary, long.as_bytes(), b"", LineEnding::Lf).1,
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
        fn quoted_printable_round_trips_within_76(body in proptest::collection::vec(any::<u8>(), 0..400), crlf: bool) {
            let eol = if crlf { LineEnding::CrLf } else { LineEnding::Lf };
            let encoded = encode_quoted_printable(&body, eol);
            prop_assert_eq!(decode_quoted_printable(&encoded).unwrap(), body);
            for line in encoded.split(|&b| b == b'\n') {
                let line = if crlf { line.strip_suffix(b"\r").unwrap_or(line) } else { line };
                prop_assert!(line.len() <= 76);
                prop_assert!(line.iter().all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\t'));
                prop_assert!(!line.ends_with(b" ") && !line.ends_with(b"\t"));
            }
        }

        #[test]
        fn base64_round_trips(body in proptest::collection::vec(any::<u8>(), 0..400), crlf: bool) {
            let eol = if crlf { LineEnding::CrLf } else { LineEnding::Lf };
            let encoded = encode_base64(&body, eol, eol.as_bytes());
            prop_assert_eq!(decode(TransferEncoding::Base64, &encoded).unwrap().into_owned(), body);
        }
    }
}
