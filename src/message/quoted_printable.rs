//! Quoted-printable (RFC 2045 §6.7): strict decoding that remembers where each hard
//! line and each soft line break came from, and re-encoding that copies the encoded
//! bytes of everything the rewriter left as it was.
//!
//! A rewriter changes a few lines of a body (those holding links) and keeps the rest.
//! Quoted-printable decodes line by line, so a hard line whose decoded text is in the
//! rewritten body unchanged can be written with its original encoded bytes, and only
//! the changed lines are encoded afresh. Within a hard line, soft line breaks cut the
//! encoding into pieces that decode on their own: a changed line keeps the pieces
//! before its first change and after its last, and only the pieces between are encoded
//! afresh. That keeps the input's bytes wherever nothing changed, and spares encoding
//! most of the body (an HTML line holding a link is often hundreds of bytes long).

use super::assemble::Edit;
use super::transfer::LineEnding;

/// Longest encoded line (RFC 2045), not counting the line ending.
const ENCODED_LINE: usize = 76;

/// One hard line of an encoded body: where its encoded bytes (soft breaks and line
/// ending included) and its decoded text end; each starts where the previous line's
/// end. Offsets are `u32` (a message is at most 4 GiB) to keep the list small.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HardLine {
    encoded_end: u32,
    decoded_end: u32,
    /// It ends in a line break (the last line of a body may not).
    broken: bool,
    /// Where the soft breaks of the lines up to this one end in [`Decoded::soft_breaks`].
    breaks_end: u32,
}

/// A decoded body and where each of its hard lines is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) text: Vec<u8>,
    lines: Vec<HardLine>,
    /// Where each soft line break ends, encoded and decoded, in order.
    soft_breaks: Vec<(u32, u32)>,
}

/// Strict decoding: `=` must start a soft line break or two hex digits; `None`
/// otherwise. Line endings are kept as written; trailing white space on a line is
/// transport padding and dropped.
pub(crate) fn decode(body: &[u8]) -> Option<Decoded> {
    let mut decoded = Decoded {
        text: Vec::with_capacity(body.len()),
        lines: Vec::new(),
        // Soft breaks come every 76 characters or so.
        soft_breaks: Vec::with_capacity(body.len() / 64),
    };
    let stops = Stops::new();
    let text = &mut decoded.text;
    // `body[..at]` is decoded; the literal text copied last starts at `literal` in
    // `text` (trailing white space is trimmed back to it, never into an escape).
    let mut at = 0;
    let mut literal;
    loop {
        literal = text.len();
        at = copy_literal(&stops, body, at, text);
        match body.get(at) {
            None => break,
            Some(b'\n') => {
                let cr = text.len() > literal && text.last() == Some(&b'\r');
                trim_end(text, literal);
                text.extend_from_slice(if cr { b"\r\n" } else { b"\n" });
                at += 1;
                decoded.lines.push(HardLine {
                    encoded_end: u32::try_from(at).ok()?,
                    decoded_end: u32::try_from(text.len()).ok()?,
                    broken: true,
                    breaks_end: u32::try_from(decoded.soft_breaks.len()).ok()?,
                });
            }
            Some(_) => {
                let next = body.get(at + 1..at + 3);
                // An `=` that ends a CRLF line: the usual soft break.
                if next == Some(b"\r\n") {
                    at += 3;
                    decoded.soft_breaks.push(ends(at, text.len())?);
                } else if let Some(byte) = next.and_then(escaped) {
                    text.push(byte);
                    at += 3;
                } else {
                    // Any other soft line break: `=`, maybe transport padding, then a
                    // line feed or the end.
                    let padding = body
                        .get(at + 1..)
                        .unwrap_or_default()
                        .iter()
                        .take_while(|&&b| b != b'\n' && b.is_ascii_whitespace())
                        .count();
                    at += 1 + padding;
                    match body.get(at) {
                        Some(b'\n') => at += 1,
                        None => {}
                        Some(_) => return None,
                    }
                    decoded.soft_breaks.push(ends(at, text.len())?);
                }
            }
        }
    }
    trim_end(text, literal);
    decoded.lines.push(HardLine {
        encoded_end: u32::try_from(body.len()).ok()?,
        decoded_end: u32::try_from(text.len()).ok()?,
        broken: false,
        breaks_end: u32::try_from(decoded.soft_breaks.len()).ok()?,
    });
    Some(decoded)
}

/// Encoded and decoded offsets as stored.
fn ends(encoded: usize, decoded: usize) -> Option<(u32, u32)> {
    Some((u32::try_from(encoded).ok()?, u32::try_from(decoded).ok()?))
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of every zero byte of `x` set; bytes after the first zero one may be
/// flagged wrongly, which does not matter where only the first counts.
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & (ONES * 0x80)
}

/// Copies `body[from..]` up to its next `=` or line feed into `text` and returns where
/// that byte is (`body.len()` if there is none).
fn copy_literal(stops: &Stops, body: &[u8], from: usize, text: &mut Vec<u8>) -> usize {
    let rest = body.get(from..).unwrap_or_default();
    let before = stops.find(rest).unwrap_or(rest.len());
    text.extend_from_slice(rest.get(..before).unwrap_or_default());
    from + before
}

/// Finds the `=` and line feeds of a body, span after span. Set up once per body:
/// `memchr2` picks its implementation and sets up its needles again at every call,
/// which costs more than searching a span of quoted-printable HTML does (there is an
/// `=3D` in every attribute and a soft break every 76 characters).
struct Stops {
    #[cfg(target_arch = "x86_64")]
    avx2: Option<memchr::arch::x86_64::avx2::memchr::Two>,
}

impl Stops {
    fn new() -> Self {
        Self {
            #[cfg(target_arch = "x86_64")]
            avx2: memchr::arch::x86_64::avx2::memchr::Two::new(b'=', b'\n'),
        }
    }

    /// Where the first `=` or line feed of `haystack` is.
    fn find(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(two) = &self.avx2 {
            return two.find(haystack);
        }
        memchr::memchr2(b'=', b'\n', haystack)
    }
}

/// Drops the white space that ends `text`, back to `from` at most.
fn trim_end(text: &mut Vec<u8>, from: usize) {
    let kept = text.get(from..).map_or(0, |tail| tail.trim_ascii_end().len());
    text.truncate(from + kept);
}

/// The byte that an escape's two hex digits stand for.
fn escaped(digits: &[u8]) -> Option<u8> {
    match *digits {
        [high, low] => Some(hex(high)? << 4 | hex(low)?),
        _ => None,
    }
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// `text` encoded afresh, in lines of at most 76 characters: its own line breaks (in
/// `eol`) stay literal line breaks, every other CR or LF is escaped, and so are `=`,
/// bytes outside printable ASCII and white space before a line break.
pub(crate) fn encode(text: &[u8], eol: LineEnding) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16 + 8);
    let mut rest = text;
    while let Some(after) = encode_hard_line(rest, eol, &mut out) {
        rest = after;
    }
    out
}

/// The edits that make `original` encode `rewritten` as [`encode`] would, except that
/// each hard line of `decoded` found unchanged at its place keeps its encoded bytes,
/// and a changed one the pieces (between soft breaks) before and after the change:
/// only what changed is encoded afresh, and the edits replace just that. The edits'
/// ranges are offsets in `original`, in order and never overlapping.
///
/// The lines are paired in order: a line equal to the next original one is kept, one
/// that keeps a piece after its change stands for the next original line (a changed
/// line), and any other is encoded afresh and stands for that original line too,
/// unless the original line follows it unchanged (an inserted line). Every piece
/// encoded afresh starts a line or follows a soft break, and one that ends before a
/// kept piece ends in a soft break, so the result decodes to `rewritten` however the
/// lines pair up.
pub(crate) fn reencode(rewritten: &[u8], decoded: &Decoded, original: &[u8], eol: LineEnding) -> Vec<Edit> {
    // Where original line `i` starts, encoded and decoded.
    let start_of = |i: usize| -> (usize, usize) {
        match i.checked_sub(1).map(|prev| decoded.lines.get(prev)) {
            None => (0, 0),
            Some(Some(prev)) => (prev.encoded_end as usize, prev.decoded_end as usize),
            Some(None) => (original.len(), decoded.text.len()),
        }
    };
    // The length of original line `i`'s text, if that text is what follows `at`.
    let unchanged_at = |i: usize, at: usize| -> Option<usize> {
        let line = decoded.lines.get(i)?;
        let text = decoded.text.get(start_of(i).1..line.decoded_end as usize)?;
        let rest = rewritten.get(at..)?;
        // A line without a break is the body's last: it matches only at the end.
        let matches = if line.broken {
            rest.starts_with(text)
        } else {
            rest == text
        };
        matches.then_some(text.len())
    };
    let mut edits = Vec::new();
    // The edit being written: it replaces the original from its start to the next
    // line kept.
    let mut open: Option<Edit> = None;
    let mut at = 0;
    let mut next_line = 0;
    while at < rewritten.len() {
        if let Some(len) = unchanged_at(next_line, at) {
            if let Some(mut edit) = open.take() {
                edit.range.end = start_of(next_line).0;
                edits.push(edit);
            }
            at += len;
            next_line += 1;
            continue;
        }
        // A changed line keeps the encoded pieces (between soft breaks) that come
        // before its first change and after its last, and then stands for the original
        // line whatever follows.
        if let Some((edit, after)) = in_place(decoded, start_of(next_line), next_line, rewritten, at, eol) {
            if let Some(mut open) = open.take() {
                open.range.end = start_of(next_line).0;
                edits.push(open);
            }
            edits.push(edit);
            at = after;
            next_line += 1;
            continue;
        }
        let edit = open.get_or_insert_with(|| insertion(start_of(next_line).0));
        let rest = rewritten.get(at..).unwrap_or_default();
        at = match encode_hard_line(rest, eol, &mut edit.bytes) {
            Some(after) => rewritten.len() - after.len(),
            None => rewritten.len(),
        };
        if unchanged_at(next_line, at).is_none() {
            next_line += 1;
        }
    }
    // The rest of the original goes: lines left over were dropped.
    if open.is_some() || next_line < decoded.lines.len() {
        let mut edit = open.unwrap_or_else(|| insertion(start_of(next_line).0));
        edit.range.end = original.len();
        if !(edit.range.is_empty() && edit.bytes.is_empty()) {
            edits.push(edit);
        }
    }
    edits
}

/// The edit that rewrites original line `i` (which starts at `start`, encoded and
/// decoded) as the hard line of `rewritten` at `at`, keeping the encoded pieces before
/// the last soft break of the line that comes before its first change and those after
/// the first soft break that comes after its last change; and where that hard line
/// ends in `rewritten`. `None` unless some piece after the change can be kept.
///
/// A rewritten line of HTML is long and changes only where its links are: keeping
/// what comes before and after them spares encoding most of it again.
fn in_place(
    decoded: &Decoded,
    start: (usize, usize),
    i: usize,
    rewritten: &[u8],
    at: usize,
    eol: LineEnding,
) -> Option<(Edit, usize)> {
    let line = decoded.lines.get(i)?;
    let decoded_end = line.decoded_end as usize;
    let old = decoded.text.get(start.1..decoded_end)?;
    let rest = rewritten.get(at..)?;
    let new_len = match split_hard_line(rest, eol).1 {
        Some(after) => rest.len() - after.len(),
        None => rest.len(),
    };
    let new = rest.get(..new_len)?;
    let same_start = common_prefix(old, new);
    let same_end = common_suffix(old.get(same_start..)?, new.get(same_start..)?);
    // The line's soft breaks, but one that ends the body.
    let first_break = match i.checked_sub(1) {
        Some(prev) => decoded.lines.get(prev)?.breaks_end as usize,
        None => 0,
    };
    let breaks = decoded.soft_breaks.get(first_break..line.breaks_end as usize)?;
    let breaks = breaks
        .strip_suffix(&[(line.encoded_end, line.decoded_end)])
        .unwrap_or(breaks);
    // The last break at or before the first change, and the first at or after the
    // last change, but not before that one (breaks with no text between them end at
    // the same decoded offset).
    let head = breaks
        .partition_point(|&(_, end)| end as usize <= start.1 + same_start)
        .checked_sub(1);
    let tail = breaks.partition_point(|&(_, end)| (end as usize) < decoded_end - same_end);
    let &(tail_encoded, tail_decoded) = breaks.get(tail.max(head.unwrap_or(0)))?;
    let head = head.and_then(|k| breaks.get(k));
    let (head_encoded, head_decoded) = head.map_or(start, |&(e, d)| (e as usize, d as usize));
    let middle = new.get(head_decoded - start.1..new_len - (decoded_end - tail_decoded as usize))?;
    let mut bytes = Vec::new();
    if !middle.is_empty() {
        bytes.reserve(middle.len() + middle.len() / 16 + 8);
        encode_line(middle, eol, &mut bytes);
        bytes.push(b'=');
        bytes.extend_from_slice(eol.as_bytes());
    }
    let edit = Edit {
        range: head_encoded..tail_encoded as usize,
        bytes,
    };
    Some((edit, at + new_len))
}

/// How many bytes `a` and `b` start with alike: sixteen at a time (a comparison of
/// two fixed-size arrays compiles to a few vector instructions), then byte by byte.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let (chunks_a, chunks_b) = (a.as_chunks::<16>().0, b.as_chunks::<16>().0);
    let equal = chunks_a.iter().zip(chunks_b).take_while(|(x, y)| x == y).count() * 16;
    let (a, b) = (
        a.get(equal..).unwrap_or_default(),
        b.get(equal..).unwrap_or_default(),
    );
    equal + a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// How many bytes `a` and `b` end with alike, as [`common_prefix`] counts.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let (chunks_a, chunks_b) = (a.as_rchunks::<16>().1, b.as_rchunks::<16>().1);
    let equal = chunks_a
        .iter()
        .rev()
        .zip(chunks_b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
        * 16;
    let a = a.get(..a.len() - equal).unwrap_or_default();
    let b = b.get(..b.len() - equal).unwrap_or_default();
    equal
        + a.iter()
            .rev()
            .zip(b.iter().rev())
            .take_while(|(x, y)| x == y)
            .count()
}

/// An edit that, so far, inserts nothing at `at`.
fn insertion(at: usize) -> Edit {
    Edit {
        range: at..at,
        bytes: Vec::new(),
    }
}

/// Encodes the first hard line of `text` (with its `eol` break, if it has one) and
/// returns what follows that break, `None` when no break follows.
fn encode_hard_line<'a>(text: &'a [u8], eol: LineEnding, out: &mut Vec<u8>) -> Option<&'a [u8]> {
    let (line, next) = split_hard_line(text, eol);
    // Room for the line with a soft break per 76 characters: one allocation per line
    // in most bodies, rather than a string of doublings.
    out.reserve(line.len() + line.len() / 16 + 8);
    encode_line(line, eol, out);
    if next.is_some() {
        out.extend_from_slice(eol.as_bytes());
    }
    next
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

/// Bytes written as they are within a line: printable ASCII but `=`, space and tab.
#[allow(clippy::indexing_slicing, reason = "b runs over the table's 256 indexes")]
const LITERAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b as u8, b'!'..=b'<' | b'>'..=b'~' | b' ' | b'\t');
        b += 1;
    }
    table
};

fn is_literal(b: u8) -> bool {
    LITERAL.get(usize::from(b)).copied().unwrap_or(false)
}

/// How many bytes at the start of `bytes` are [literal](is_literal), looked at eight at a
/// time: re-encoding spends most of its time finding where a run of them ends.
fn literal_run(bytes: &[u8]) -> usize {
    let mut run = 0;
    while let Some(Ok(chunk)) = bytes.get(run..run + 8).map(<[u8; 8]>::try_from) {
        let x = u64::from_le_bytes(chunk);
        // The high bit of a byte is set where it is below a space, DEL or above, or `=`
        // (as in `zero_bytes`, only the first flagged byte is sure to be one).
        let control = x.wrapping_sub(ONES * 0x20) & !x;
        let high = x.wrapping_add(ONES) | x;
        let flagged = ((control | high) & (ONES * 0x80)) | zero_bytes(x ^ (ONES * u64::from(b'=')));
        if flagged == 0 {
            run += 8;
            continue;
        }
        let first = run + (flagged.trailing_zeros() / 8) as usize;
        // A tab is the one literal byte below a space.
        match bytes.get(first) {
            Some(&b'\t') => run = first + 1,
            _ => return first,
        }
    }
    let rest = bytes.get(run..).unwrap_or_default();
    run + rest.iter().position(|&b| !is_literal(b)).unwrap_or(rest.len())
}

/// One line without its line break, with soft breaks keeping every encoded line within
/// 76 characters (the 76th being the soft break's `=`).
fn encode_line(line: &[u8], eol: LineEnding, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    const ROOM: usize = ENCODED_LINE - 1;
    let mut width = 0;
    let mut rest = line;
    while let Some(&first) = rest.first() {
        let mut run = literal_run(rest);
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
            out.extend_from_slice(&[b'=', digit(first >> 4), digit(first & 0xF)]);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use proptest::prelude::*;

    use super::*;
    use crate::message::assemble::apply;

    /// The original with the re-encoding's edits applied.
    fn reencoded(rewritten: &[u8], decoded: &Decoded, original: &[u8], eol: LineEnding) -> Vec<u8> {
        apply(original, reencode(rewritten, decoded, original, eol)).unwrap()
    }

    fn text(body: &[u8]) -> Vec<u8> {
        decode(body).unwrap().text
    }

    #[test]
    fn decodes_strictly() {
        assert_eq!(
            text(b"caf=C3=A9 =3d ok=\r\nnext  \r\nend"),
            "café = oknext\r\nend".as_bytes()
        );
        assert_eq!(text(b"a=\nb\n"), b"ab\n");
        assert_eq!(decode(b"50% =off"), None);
        assert_eq!(decode(b"=4"), None);
        assert_eq!(decode(b"x=="), None);
    }

    #[test]
    fn encodes_within_76_characters() {
        let long = "é".repeat(60) + " " + &"a".repeat(100) + " \r\n=.\t";
        let encoded = encode(long.as_bytes(), LineEnding::CrLf);
        let written = String::from_utf8(encoded.clone()).unwrap();
        assert!(written.split("\r\n").all(|line| line.len() <= 76), "{written}");
        assert!(written.contains("=20\r\n=3D.=09"), "{written}");
        assert_eq!(text(&encoded), long.as_bytes());
    }

    #[test]
    fn reencoding_keeps_the_bytes_of_unchanged_lines() {
        // Odd but valid encodings that a fresh encoding would not reproduce.
        let original = b"keep=20me  \r\nlink=3Dold\r\nsoft=\r\nbreak\r\nlast";
        let decoded = decode(original).unwrap();
        assert_eq!(decoded.text, b"keep me\r\nlink=old\r\nsoftbreak\r\nlast");

        let changed = b"keep me\r\nlink=new\r\nsoftbreak\r\nlast";
        let out = reencoded(changed, &decoded, original, LineEnding::CrLf);
        assert_eq!(out, b"keep=20me  \r\nlink=3Dnew\r\nsoft=\r\nbreak\r\nlast");

        // An inserted line, and a changed last line.
        let inserted = b"keep me\r\nnew line\r\nlink=old\r\nsoftbreak\r\nlast!";
        let out = reencoded(inserted, &decoded, original, LineEnding::CrLf);
        assert_eq!(
            out,
            b"keep=20me  \r\nnew line\r\nlink=3Dold\r\nsoft=\r\nbreak\r\nlast!"
        );

        // The unbroken last line is not copied where a break follows it.
        let grown = b"keep me\r\nlink=old\r\nsoftbreak\r\nlast\r\nmore";
        let out = reencoded(grown, &decoded, original, LineEnding::CrLf);
        assert_eq!(text(&out), grown);
        assert!(out.ends_with(b"\r\nlast\r\nmore"));
    }

    /// `lines` encoded as another encoder might write them: padding, a soft break
    /// every 49 characters, escapes where none are needed.
    fn encoded_oddly(lines: &[Vec<u8>], eol: LineEnding, trailing_break: bool) -> Vec<u8> {
        let mut original = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            for (j, &b) in line.iter().enumerate() {
                if j % 50 == 49 {
                    original.push(b'=');
                    original.extend_from_slice(eol.as_bytes());
                }
                if is_literal(b) && b != b' ' && b != b'\t' && j % 7 != 3 {
                    original.push(b);
                } else {
                    original.extend_from_slice(format!("={b:02X}").as_bytes());
                }
            }
            if i + 1 < lines.len() || trailing_break {
                if i % 3 == 0 {
                    original.extend_from_slice(b"  ");
                }
                original.extend_from_slice(eol.as_bytes());
            }
        }
        original
    }

    /// Random edits as a rewriter makes them: some lines changed (some within), some
    /// inserted, some dropped.
    fn edited(lines: &[Vec<u8>], edits: &[(u8, Vec<u8>)]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            match edits.get(i) {
                Some((0, new)) => out.push(new.clone()),
                Some((1, new)) => {
                    out.push(new.clone());
                    out.push(line.clone());
                }
                Some((2, _)) => {}
                Some((3, new)) => {
                    // A change within the line, as a rewritten link is.
                    let cut = line.len() / 3;
                    let mut spliced = line[..cut].to_vec();
                    spliced.extend_from_slice(new);
                    spliced.extend_from_slice(&line[line.len() - cut..]);
                    out.push(spliced);
                }
                _ => out.push(line.clone()),
            }
        }
        out
    }

    fn line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..120),
            "[a-z =.\t]{0,100}".prop_map(String::into_bytes),
            "[a-z =.\t]{100,300}".prop_map(String::into_bytes),
        ]
    }

    /// Decoding line by line, as RFC 2045 describes it: the reference for [`decode`].
    fn decode_by_lines(body: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut lines = body.split(|&b| b == b'\n').peekable();
        while let Some(line) = lines.next() {
            let last = lines.peek().is_none();
            let (line, ending) = match line.strip_suffix(b"\r") {
                Some(line) if !last => (line, b"\r\n".as_slice()),
                _ => (line, if last { b"".as_slice() } else { b"\n".as_slice() }),
            };
            let line = line.trim_ascii_end();
            let (mut content, soft) = match line.strip_suffix(b"=") {
                Some(content) => (content, true),
                None => (line, false),
            };
            while let Some(eq) = content.iter().position(|&b| b == b'=') {
                out.extend_from_slice(&content[..eq]);
                let escape = content.get(eq + 1..eq + 3)?;
                out.push(hex(escape[0])? << 4 | hex(escape[1])?);
                content = &content[eq + 3..];
            }
            out.extend_from_slice(content);
            if !soft {
                out.extend_from_slice(ending);
            }
        }
        Some(out)
    }

    proptest! {
        #[test]
        fn decoding_equals_decoding_line_by_line(
            body in proptest::collection::vec(
                prop_oneof![
                    Just(b'='), Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'\t'), Just(0x0C),
                    Just(b'3'), Just(b'D'), Just(b'a'), any::<u8>()
                ],
                0..200,
            )
        ) {
            prop_assert_eq!(decode(&body).map(|decoded| decoded.text), decode_by_lines(&body));
        }

        #[test]
        fn literal_runs_end_at_the_first_byte_to_escape(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b'='), Just(b'\t'), Just(b' '), Just(0x7F), Just(0x1F), Just(0xFF), any::<u8>(), 0x21u8..0x7F],
                0..40,
            )
        ) {
            let expected = bytes.iter().position(|&b| !is_literal(b)).unwrap_or(bytes.len());
            prop_assert_eq!(literal_run(&bytes), expected);
        }

        #[test]
        fn encoding_round_trips_within_76(body in proptest::collection::vec(any::<u8>(), 0..400), crlf: bool) {
            let eol = if crlf { LineEnding::CrLf } else { LineEnding::Lf };
            let encoded = encode(&body, eol);
            prop_assert_eq!(text(&encoded), body);
            for line in encoded.split(|&b| b == b'\n') {
                let line = if crlf { line.strip_suffix(b"\r").unwrap_or(line) } else { line };
                prop_assert!(line.len() <= 76);
                prop_assert!(line.iter().all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\t'));
                prop_assert!(!line.ends_with(b" ") && !line.ends_with(b"\t"));
            }
        }

        /// Re-encoding decodes to exactly what encoding afresh does (the rewritten
        /// text), keeps every line it copies as the input wrote it, and writes every
        /// other line within 76 characters.
        #[test]
        fn reencoding_decodes_as_encoding_afresh(
            lines in proptest::collection::vec(line(), 0..12),
            edits in proptest::collection::vec((0u8..5, line()), 0..12),
            crlf: bool,
            trailing_break: bool,
        ) {
            let eol = if crlf { LineEnding::CrLf } else { LineEnding::Lf };
            let join = |lines: &[Vec<u8>]| {
                let mut body = lines.join(eol.as_bytes());
                if trailing_break && !lines.is_empty() {
                    body.extend_from_slice(eol.as_bytes());
                }
                body
            };
            let original = encoded_oddly(&lines, eol, trailing_break);
            let decoded = decode(&original).unwrap();
            prop_assert_eq!(&decoded.text, &join(&lines));

            let rewritten = join(&edited(&lines, &edits));
            let fresh = encode(&rewritten, eol);
            let reused = reencoded(&rewritten, &decoded, &original, eol);
            prop_assert_eq!(text(&reused), text(&fresh));
            prop_assert_eq!(&text(&reused), &rewritten);
            if rewritten == decoded.text {
                prop_assert_eq!(&reused, &original);
                prop_assert!(reencode(&rewritten, &decoded, &original, eol).is_empty());
            }
        }

        /// A line changed within keeps, as the input wrote them, its encoded pieces
        /// before the soft break that precedes the change and after the one that
        /// follows it.
        #[test]
        fn a_line_changed_within_keeps_its_pieces_around_the_change(
            line in "[a-z =.\t]{250,400}",
            // No line break: that would make two lines of one.
            new in proptest::collection::vec(any::<u8>().prop_filter("a line break", |&b| b != b'\n'), 0..60),
            next in "[a-z]{0,20}",
            crlf: bool,
        ) {
            let eol = if crlf { LineEnding::CrLf } else { LineEnding::Lf };
            let lines = [line.into_bytes(), next.into_bytes()];
            let original = encoded_oddly(&lines, eol, true);
            let decoded = decode(&original).unwrap();
            // Change bytes 110 to 140: soft breaks follow bytes 49 and 98 and come
            // every 49 bytes after that, so at least one follows the change.
            let mut changed = lines.clone();
            changed[0].splice(110..140, new);
            let rewritten = [changed[0].as_slice(), eol.as_bytes(), &changed[1], eol.as_bytes()].concat();
            let reused = reencoded(&rewritten, &decoded, &original, eol);
            prop_assert_eq!(&text(&reused), &rewritten);

            let soft_break = [b"=".as_slice(), eol.as_bytes()].concat();
            let breaks: Vec<usize> = original
                .windows(soft_break.len())
                .enumerate()
                .filter(|(_, window)| *window == soft_break)
                .map(|(at, _)| at + soft_break.len())
                .collect();
            prop_assert!(reused.starts_with(&original[..breaks[1]]));
            prop_assert!(reused.ends_with(&original[breaks[breaks.len() - 1]..]));
        }
    }
}
