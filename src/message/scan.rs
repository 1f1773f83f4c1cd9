//! Finding the parts of a well-formed message without reading its bodies byte by byte.
//!
//! `mail-parser` finds a part's end by looking at every byte of its body, and turns
//! every text body into a string on the way: for a message of a few text parts that is
//! most of what finding the structure costs, and none of it is needed here. This scan
//! has `mail-parser` parse the header blocks alone, and finds the delimiters with a
//! substring search, by `mail-parser`'s own rules (a delimiter is `--` and the
//! boundary anywhere, not only at a line start; the line break before it belongs to
//! it). It covers the shape of ordinary mail only: a multipart tree whose every part
//! has a header block of whole fields ending in a blank line, whose every delimiter is
//! found, and that holds no encapsulated message and is not nested too deep. On
//! anything else it gives up (`None`) and [`super::structure`] parses the message with
//! `mail-parser` whole, so both always agree (a test holds them to it).

use mail_parser::{MessageParser, MessagePart, MimeHeaders as _, PartType};
use memchr::memmem;

use super::structure::{Leaf, MAX_DEPTH, leaf};

/// An open multipart: its delimiter, its part number and how many children it has.
struct Frame {
    delimiter: Vec<u8>,
    number: String,
    children: usize,
    /// `multipart/digest`: a child without a `Content-Type` is a message.
    digest: bool,
}

/// The leaves of a well-formed message, in document order, and its root part (headers
/// and offsets); `None` when the message is not of the shape this scan covers.
pub(crate) fn parse<'x>(parser: &MessageParser, raw: &'x [u8]) -> Option<(Vec<Leaf>, MessagePart<'x>)> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut leaves = Vec::new();
    let mut root = None;
    let mut at = 0;
    loop {
        let mut part = header_block(parser, raw, at)?;
        let number = match frames.last_mut() {
            None => String::new(),
            Some(parent) => {
                parent.children += 1;
                match parent.number.as_str() {
                    "" => parent.children.to_string(),
                    number => format!("{number}.{}", parent.children),
                }
            }
        };
        let body_start = part.offset_body as usize;
        let content_type = part.content_type();
        let ctype = content_type.map(|ct| ct.ctype());
        if ctype == Some("multipart") {
            let boundary = content_type.and_then(|ct| ct.attribute("boundary"))?;
            if frames.len() >= MAX_DEPTH {
                return None;
            }
            let delimiter = [b"--".as_slice(), boundary.as_bytes()].concat();
            let found = find(raw, body_start, &delimiter)?;
            let digest = content_type.and_then(|ct| ct.subtype()) == Some("digest");
            frames.push(Frame {
                delimiter,
                number,
                children: 0,
                digest,
            });
            root.get_or_insert(part);
            at = skip_line_break(raw, found);
            continue;
        }
        let parent_digest = frames.last().is_some_and(|frame| frame.digest);
        if ctype.is_some_and(|ctype| ctype.eq_ignore_ascii_case("message"))
            || ctype.is_none() && parent_digest
        {
            return None;
        }
        let Some(frame) = frames.last() else {
            // A message of one part: its body runs to the end.
            part.offset_end = u32::try_from(raw.len()).ok()?;
            leaves.push(leaf(
                raw,
                &part,
                &PartType::Binary(Default::default()),
                "1".to_owned(),
            ));
            return Some((leaves, part));
        };
        let start = body_start + memmem::find(raw.get(body_start..)?, &frame.delimiter)?;
        part.offset_end = u32::try_from(body_end(raw, body_start, start)).ok()?;
        leaves.push(leaf(raw, &part, &PartType::Binary(Default::default()), number));
        at = start + frame.delimiter.len();
        // After a delimiter: the next part's headers, or the end of the multipart (and
        // then the parent's next delimiter, or the end of the message).
        loop {
            let (closed, next) = multipart_end(raw, at);
            at = next;
            if !closed {
                break;
            }
            frames.pop();
            let Some(parent) = frames.last() else {
                return Some((leaves, root?));
            };
            at = find(raw, at, &parent.delimiter)?;
        }
    }
}

/// The header block at `at`, parsed by `mail-parser`, with offsets into `raw`; `None`
/// unless it is one or more whole fields, one after the other, then a blank line.
fn header_block<'x>(parser: &MessageParser, raw: &'x [u8], at: usize) -> Option<MessagePart<'x>> {
    let message = parser.parse_headers(raw.get(at..)?)?;
    let mut part = message.parts.into_iter().next()?;
    let shift = u32::try_from(at).ok()?;
    let mut end = 0;
    for header in &mut part.headers {
        if header.offset_field != end
            || header.offset_start < header.offset_field
            || header.offset_end < header.offset_start
        {
            return None;
        }
        end = header.offset_end;
        header.offset_field += shift;
        header.offset_start += shift;
        header.offset_end += shift;
    }
    if end == 0 {
        return None;
    }
    let end = at + end as usize;
    let blank = if raw.get(end..)?.starts_with(b"\r\n") {
        2
    } else if raw.get(end..)?.starts_with(b"\n") {
        1
    } else {
        return None;
    };
    // `mail-parser` marks a header block parsed alone as a message without a body.
    part.is_encoding_problem = false;
    part.offset_header = shift;
    part.offset_body = u32::try_from(end + blank).ok()?;
    Some(part)
}

/// Where the first `delimiter` at or after `from` ends.
fn find(raw: &[u8], from: usize, delimiter: &[u8]) -> Option<usize> {
    let found = memmem::find(raw.get(from..)?, delimiter)?;
    Some(from + found + delimiter.len())
}

/// Where a body that starts at `body_start` ends when its delimiter starts at
/// `delimiter`: before the line break preceding a delimiter at a line start, else right
/// before the delimiter.
fn body_end(raw: &[u8], body_start: usize, delimiter: usize) -> usize {
    let before = |i: usize| {
        i.checked_sub(1)
            .filter(|&i| i >= body_start)
            .and_then(|i| raw.get(i))
    };
    match before(delimiter) {
        None => delimiter,
        Some(b'\n') => match before(delimiter - 1) {
            Some(b'\r') => delimiter - 2,
            _ => delimiter - 1,
        },
        Some(_) => delimiter,
    }
}

/// After a delimiter: whether it closes its multipart (`--` follows), and where the
/// scan goes on (past `--`, or past the rest of the delimiter's line).
fn multipart_end(raw: &[u8], at: usize) -> (bool, usize) {
    match (raw.get(at), raw.get(at + 1)) {
        (Some(b'-'), Some(b'-')) => (true, at + 2),
        (Some(b'\r'), Some(b'\n')) => (false, at + 2),
        (Some(b'\n'), _) => (false, at + 1),
        (Some(b), _) if b.is_ascii_whitespace() => (false, skip_line_break(raw, at + 1)),
        _ => (false, at),
    }
}

/// Past spaces, tabs and carriage returns, and the line feed that ends them.
fn skip_line_break(raw: &[u8], mut at: usize) -> usize {
    while let Some(&b) = raw.get(at) {
        match b {
            b'\r' | b' ' | b'\t' => at += 1,
            b'\n' => return at + 1,
            _ => break,
        }
    }
    at
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use proptest::prelude::*;

    use super::super::structure::{Structure, parse_whole, parser, structure};
    use super::*;

    /// The scan's structure, when it covers the message.
    fn scanned(raw: &[u8]) -> Option<Structure> {
        let (leaves, root) = parse(&parser(), raw)?;
        Some(structure(raw, &root, leaves))
    }

    /// Whenever the scan covers a message, it finds what parsing it whole finds.
    fn agrees(raw: &[u8]) -> bool {
        let Some(fast) = scanned(raw) else {
            return false;
        };
        let whole = parse_whole(&parser(), raw);
        assert_eq!(Some(&fast), whole.as_ref(), "{}", String::from_utf8_lossy(raw));
        true
    }

    #[test]
    fn finds_parts_as_mail_parser_does() {
        let eol_variants = [
            // Delimiters at line starts, a preamble and an epilogue.
            "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\nepilogue\r\n",
            // LF, a delimiter mid-line, white space after a delimiter, a body that is
            // empty.
            "From: a@example.com\nContent-Type: multipart/alternative; boundary=\"b\"\n\n--b \t\nContent-Type: text/plain\n\nhi --b\nContent-Type: text/html\n\n\n--b--",
            // A boundary that is a prefix of a nested one, and `---` before a delimiter.
            "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/related; boundary=bb\r\n\r\n--bb\r\nContent-Type: text/plain\r\n\r\nx\r\n---bb--\r\n--b\r\nContent-Type: image/png\r\n\r\nAAAA\r\n--b--\r\n",
            // One part.
            "From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n",
        ];
        for raw in eol_variants {
            assert!(agrees(raw.as_bytes()), "the scan covers {raw:?}");
        }
        // Shapes left to the whole parse.
        for raw in [
            "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@example.com\r\n\r\nx\r\n--b--\r\n",
            "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nno end\r\n",
            "From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\n--b\r\n",
            "From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nno headers\r\n--b--\r\n",
            "From: a@example.com\r\nContent-Type: multipart/digest; boundary=b\r\n\r\n--b\r\nX: y\r\n\r\nz\r\n--b--\r\n",
            "\r\nFrom: a@example.com\r\n\r\nx",
            "From: a@example.com",
        ] {
            assert_eq!(scanned(raw.as_bytes()), None, "{raw:?}");
        }
    }

    #[test]
    fn agrees_on_the_corpus_and_the_fuzz_seeds() {
        let manifest = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let folders = [
            manifest.join("../shared/corpus/messages"),
            manifest.join("../../shared/corpus/messages"),
            manifest.join("fuzz/seeds/rewrite_message"),
        ];
        let mut covered = 0;
        for folder in folders.iter().filter(|folder| folder.is_dir()) {
            for entry in std::fs::read_dir(folder).unwrap() {
                let raw = std::fs::read(entry.unwrap().path()).unwrap();
                let body = raw.get(1..).unwrap_or_default();
                covered += usize::from(agrees(&raw)) + usize::from(agrees(body));
            }
        }
        assert!(covered > 0 || !folders[2].is_dir());
    }

    /// A random MIME tree written out, then mangled a little.
    fn part(depth: u32) -> BoxedStrategy<String> {
        let leaf = (
            prop_oneof![
                6 => Just("text/plain"),
                6 => Just("text/html"),
                4 => Just("image/png"),
                1 => Just("message/rfc822"),
                2 => Just("TEXT/Plain; charset=utf-8")
            ],
            proptest::option::of(Just("Content-Transfer-Encoding: quoted-printable")),
            "[a-z =\\-\r\n]{0,40}",
        )
            .prop_map(|(ctype, cte, body)| {
                let cte = cte.map(|cte| format!("{cte}\r\n")).unwrap_or_default();
                format!("Content-Type: {ctype}\r\n{cte}\r\n{body}")
            })
            .boxed();
        if depth == 0 {
            return leaf;
        }
        // Mostly one boundary per level; sometimes one that is a prefix of another's.
        let boundary = prop_oneof![
            8 => Just(format!("=_{depth}")),
            2 => Just("b".to_owned()),
            2 => Just("bb".to_owned()),
            1 => Just("b\"x".to_owned())
        ];
        // Mostly well formed, so that the scan covers many messages.
        let close = prop_oneof![
            20 => Just("--\r\n"),
            1 => Just("--"),
            1 => Just(""),
            1 => Just("  --\r\n")
        ];
        let after = prop_oneof![
            20 => Just("\r\n"),
            1 => Just(" \t\r\n"),
            1 => Just("\n"),
            1 => Just("x\r\n")
        ];
        (
            boundary,
            proptest::collection::vec(part(depth - 1), 1..4),
            after,
            close,
            "[a-z\r\n-]{0,12}",
        )
            .prop_map(|(boundary, children, after, close, epilogue)| {
                let mut out =
                    format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n{epilogue}");
                for child in children {
                    out.push_str(&format!("\r\n--{boundary}{after}{child}"));
                }
                out.push_str(&format!("\r\n--{boundary}{close}{epilogue}"));
                out
            })
            .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn the_scan_agrees_with_the_whole_parse(
            tree in (0u32..4).prop_flat_map(part),
            lf: bool,
            cut in any::<prop::sample::Index>(),
            noise in any::<prop::sample::Index>(),
            byte in prop_oneof![Just(b'-'), Just(b'\n'), Just(b'\r'), Just(b' '), any::<u8>()],
            mangle in 0u8..4,
        ) {
            let mut raw = format!("From: a@example.com\r\n{tree}").into_bytes();
            if lf {
                raw = String::from_utf8(raw).unwrap().replace("\r\n", "\n").into_bytes();
            }
            agrees(&raw);
            match mangle {
                0 => raw.truncate(cut.index(raw.len() + 1)),
                1 => raw.insert(noise.index(raw.len() + 1), byte),
                2 => {
                    raw.remove(noise.index(raw.len()));
                }
                _ => {}
            }
            agrees(&raw);
        }
    }
}
