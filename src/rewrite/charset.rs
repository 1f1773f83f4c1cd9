//! Which charset a body is in: given by the caller, or declared by the body itself
//! (a byte order mark, or an HTML `<meta>`), found as browsers find it.
//!
//! The detection follows the WHATWG encoding sniffing algorithm
//! (<https://html.spec.whatwg.org/multipage/parsing.html#determining-the-character-encoding>):
//! a byte order mark wins; otherwise, for HTML, the *prescan* reads the first 1024
//! bytes for a `<meta charset>` or `<meta http-equiv="Content-Type" content="…charset=…">`,
//! skipping comments and the attributes of other tags exactly as the specification
//! says; otherwise UTF-8. (The specification's steps for XML declarations, which only
//! matter for documents served as UTF-16 without a byte order mark, are left out: such
//! a body cannot be rewritten byte-wise anyway.)

use std::borrow::Cow;

use encoding_rs::Encoding;

use super::RewriteError;

/// How many bytes the prescan reads, as the specification says.
pub const PRESCAN_BYTES: usize = 1024;

/// A character set a body may be written in: UTF-8 or an ASCII-compatible legacy
/// charset such as ISO-8859-1 / Windows-1252. The output stays in the same charset.
///
/// ```
/// use hashbeacon::rewrite::Charset;
/// assert_eq!(Charset::from_label("ISO-8859-1")?, Charset::windows_1252());
/// assert!(Charset::from_label("utf-16le").is_err());
/// # Ok::<(), hashbeacon::rewrite::RewriteError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Charset(&'static Encoding);

impl Charset {
    /// UTF-8, the default.
    pub fn utf_8() -> Self {
        Self(encoding_rs::UTF_8)
    }

    /// Windows-1252, which is also what `ISO-8859-1` means in email and on the web.
    pub fn windows_1252() -> Self {
        Self(encoding_rs::WINDOWS_1252)
    }

    /// The charset for a label as found in a `Content-Type` header (`iso-8859-1`,
    /// `windows-1252`, `utf-8`, …). Charsets that are not ASCII-compatible (UTF-16,
    /// ISO-2022-JP) are not supported.
    pub fn from_label(label: &str) -> Result<Self, RewriteError> {
        Encoding::for_label_no_replacement(label.trim().as_bytes())
            .and_then(Self::supported)
            .ok_or_else(|| RewriteError::Charset(label.to_owned()))
    }

    fn supported(encoding: &'static Encoding) -> Option<Self> {
        encoding.is_ascii_compatible().then_some(Self(encoding))
    }

    /// The charset's canonical name, e.g. `windows-1252`.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// Decodes bytes of this charset, `None` if they are not valid in it.
    pub(crate) fn decode(self, bytes: &[u8]) -> Option<Cow<'_, str>> {
        if self.0 == encoding_rs::UTF_8 {
            std::str::from_utf8(bytes).ok().map(Cow::Borrowed)
        } else {
            self.0.decode_without_bom_handling_and_without_replacement(bytes)
        }
    }

    pub(crate) fn lol_html(self) -> lol_html::AsciiCompatibleEncoding {
        lol_html::AsciiCompatibleEncoding::new(self.0)
            .unwrap_or_else(lol_html::AsciiCompatibleEncoding::utf_8)
    }
}

impl Default for Charset {
    fn default() -> Self {
        Self::utf_8()
    }
}

/// Where the charset a body was read in came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CharsetSource {
    /// The caller gave it ([`super::Options::charset`]).
    Given,
    /// The body starts with a byte order mark.
    ByteOrderMark,
    /// A `<meta>` in the first 1024 bytes of the HTML declares it.
    Meta,
    /// Nothing declared one: UTF-8.
    #[default]
    Default,
}

/// The charset to read a body in: the caller's, exactly as given (the way to correct
/// a wrong declaration); else a byte order mark, then (HTML only) a `<meta>`
/// declaration, then UTF-8. A declared charset that is not ASCII-compatible (UTF-16)
/// is an error: its links cannot be found byte-wise.
pub(crate) fn resolve(
    given: Option<Charset>,
    source: &[u8],
    html: bool,
) -> Result<(Charset, CharsetSource), RewriteError> {
    if let Some(charset) = given {
        return Ok((charset, CharsetSource::Given));
    }
    let unsupported = |encoding: &'static Encoding| RewriteError::Charset(encoding.name().to_owned());
    if let Some((encoding, _)) = Encoding::for_bom(source) {
        let charset = Charset::supported(encoding).ok_or_else(|| unsupported(encoding))?;
        return Ok((charset, CharsetSource::ByteOrderMark));
    }
    match html.then(|| prescan(source)).flatten() {
        Some(encoding) => {
            let charset = Charset::supported(encoding).ok_or_else(|| unsupported(encoding))?;
            Ok((charset, CharsetSource::Meta))
        }
        None => Ok((Charset::utf_8(), CharsetSource::Default)),
    }
}

/// The WHATWG prescan of a byte stream: the charset a `<meta>` in the first 1024
/// bytes declares, if any.
pub(crate) fn prescan(source: &[u8]) -> Option<&'static Encoding> {
    let input = source.get(..PRESCAN_BYTES).unwrap_or(source);
    let mut scan = Scan { input, at: 0 };
    while scan.at < input.len() {
        let rest = scan.rest();
        if rest.starts_with(b"<!--") {
            // To the `>` of the first `-->` after the `<`, which may share the `--`.
            let end = memchr::memmem::find(rest.get(2..)?, b"-->")?;
            scan.at += 2 + end + 2;
        } else if starts_with_ignore_case(rest, b"<meta")
            && rest.get(5).is_some_and(|&b| is_space_or_slash(b))
        {
            scan.at += 5;
            if let Some(encoding) = scan.meta() {
                return Some(encoding);
            }
        } else if rest.len() > 1 && tag_start(rest) {
            // Another tag: skip its name and attributes, whose values may hold `<`.
            let name_end = rest.iter().position(|&b| is_space(b) || b == b'>')?;
            scan.at += name_end;
            while scan.attribute()?.is_some() {}
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") || rest.starts_with(b"<?") {
            scan.at += memchr::memchr(b'>', rest.get(2..)?)? + 2;
        }
        scan.at += 1;
    }
    None
}

/// `<` then a letter, or `</` then a letter.
fn tag_start(rest: &[u8]) -> bool {
    match rest {
        [b'<', b'/', letter, ..] | [b'<', letter, ..] => letter.is_ascii_alphabetic(),
        _ => false,
    }
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// The prescan's whitespace: tab, line feed, form feed, carriage return, space.
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

fn is_space_or_slash(b: u8) -> bool {
    is_space(b) || b == b'/'
}

/// The prescan's cursor over the first 1024 bytes. Running past their end aborts the
/// prescan (`None`), as the specification says.
struct Scan<'a> {
    input: &'a [u8],
    at: usize,
}

impl Scan<'_> {
    fn rest(&self) -> &[u8] {
        self.input.get(self.at..).unwrap_or_default()
    }

    fn byte(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    fn skip_spaces(&mut self, also_slash: bool) -> Option<u8> {
        loop {
            let b = self.byte()?;
            if !(is_space(b) || (also_slash && b == b'/')) {
                return Some(b);
            }
            self.at += 1;
        }
    }

    /// The attributes of a `<meta>`, the cursor just past its name: the charset it
    /// declares, if it declares one the way the specification accepts.
    fn meta(&mut self) -> Option<&'static Encoding> {
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut got_pragma = false;
        let mut need_pragma = None;
        // `None` until an attribute names a charset; `Some(None)` for an unknown label,
        // which a later `content` must not replace.
        let mut charset: Option<Option<&'static Encoding>> = None;
        while let Some((name, value)) = self.attribute()? {
            if seen.contains(&name) {
                continue;
            }
            match name.as_slice() {
                b"http-equiv" => got_pragma |= value == b"content-type",
                b"content" if charset.is_none() => {
                    if let Some(encoding) = charset_in_content(&value) {
                        charset = Some(Some(encoding));
                        need_pragma = Some(true);
                    }
                }
                b"charset" => {
                    charset = Some(Encoding::for_label(&value));
                    need_pragma = Some(false);
                }
                _ => {}
            }
            seen.push(name);
        }
        let declared = match need_pragma? {
            true if !got_pragma => return None,
            _ => charset.flatten()?,
        };
        Some(match declared {
            // A page cannot be UTF-16 if its bytes said `<meta` in ASCII.
            d if d == encoding_rs::UTF_16BE || d == encoding_rs::UTF_16LE => encoding_rs::UTF_8,
            d if d == encoding_rs::X_USER_DEFINED => encoding_rs::WINDOWS_1252,
            d => d,
        })
    }

    /// The specification's "get an attribute": the next attribute's lowercased name
    /// and value, `Some(None)` at the tag's `>`, `None` past the end of the input.
    fn attribute(&mut self) -> Option<Option<(Vec<u8>, Vec<u8>)>> {
        if self.skip_spaces(true)? == b'>' {
            return Some(None);
        }
        let mut name = Vec::new();
        loop {
            match self.byte()? {
                b'=' if !name.is_empty() => {
                    self.at += 1;
                    return self.value(name).map(Some);
                }
                b if is_space(b) => break,
                b'/' | b'>' => return Some(Some((name, Vec::new()))),
                b => name.push(b.to_ascii_lowercase()),
            }
            self.at += 1;
        }
        if self.skip_spaces(false)? != b'=' {
            return Some(Some((name, Vec::new())));
        }
        self.at += 1;
        self.value(name).map(Some)
    }

    /// The value after an attribute's `=`.
    fn value(&mut self, name: Vec<u8>) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut value = Vec::new();
        match self.skip_spaces(false)? {
            quote @ (b'"' | b'\'') => loop {
                self.at += 1;
                match self.byte()? {
                    b if b == quote => {
                        self.at += 1;
                        return Some((name, value));
                    }
                    b => value.push(b.to_ascii_lowercase()),
                }
            },
            b'>' => Some((name, value)),
            _ => loop {
                match self.byte()? {
                    b if is_space(b) || b == b'>' => return Some((name, value)),
                    b => value.push(b.to_ascii_lowercase()),
                }
                self.at += 1;
            },
        }
    }
}

/// The specification's "extract a character encoding from a meta element": the
/// charset named by `charset=` in a `content` attribute (already lowercased).
fn charset_in_content(content: &[u8]) -> Option<&'static Encoding> {
    let mut from = 0;
    loop {
        let found = from + memchr::memmem::find(content.get(from..)?, b"charset")?;
        let after = found + b"charset".len();
        let rest = content.get(after..)?;
        let spaces = rest.iter().take_while(|&&b| is_space(b)).count();
        if rest.get(spaces) != Some(&b'=') {
            from = after + spaces;
            continue;
        }
        let rest = rest.get(spaces + 1..)?;
        let rest = rest.get(rest.iter().take_while(|&&b| is_space(b)).count()..)?;
        let label = match rest.first()? {
            &quote @ (b'"' | b'\'') => {
                let inner = rest.get(1..)?;
                inner.get(..memchr::memchr(quote, inner)?)?
            }
            _ => {
                let end = rest
                    .iter()
                    .position(|&b| is_space(b) || b == b';')
                    .unwrap_or(rest.len());
                rest.get(..end)?
            }
        };
        return Encoding::for_label(label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(source: &[u8]) -> Option<&'static str> {
        prescan(source).map(Encoding::name)
    }

    #[test]
    fn reads_both_meta_forms() {
        assert_eq!(name(b"<meta charset=\"iso-8859-1\">"), Some("windows-1252"));
        assert_eq!(name(b"<META CHARSET=Windows-1252>"), Some("windows-1252"));
        assert_eq!(
            name(b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-2\">"),
            Some("ISO-8859-2")
        );
        // The content order does not matter; quotes around the label are allowed.
        assert_eq!(
            name(b"<meta content='text/html; charset=\"koi8-r\"' http-equiv=content-type>"),
            Some("KOI8-R")
        );
        assert_eq!(name(b"<meta/charset=latin1 />"), Some("windows-1252"));
        // An unquoted value runs to a space or `>`: here it is `latin1/`, no label.
        assert_eq!(name(b"<meta/charset=latin1/>"), None);
    }

    #[test]
    fn a_content_charset_needs_the_pragma() {
        assert_eq!(name(b"<meta content=\"text/html; charset=iso-8859-1\">"), None);
        assert_eq!(name(b"<meta name=x content=\"charset=iso-8859-1\">"), None);
    }

    #[test]
    fn an_unknown_charset_attribute_is_not_replaced_by_a_content_charset() {
        let meta = b"<meta charset=bogus http-equiv=content-type content=\"charset=latin1\">";
        assert_eq!(name(meta), None);
        let meta = b"<meta http-equiv=content-type content=\"charset=latin1\" charset=latin2>";
        assert_eq!(name(meta), Some("ISO-8859-2"), "a charset attribute overrides");
    }

    #[test]
    fn the_first_of_a_repeated_attribute_counts() {
        assert_eq!(
            name(b"<meta charset=windows-1250 charset=utf-8>"),
            Some("windows-1250")
        );
    }

    #[test]
    fn unknown_labels_are_passed_over_for_a_later_meta() {
        assert_eq!(
            name(b"<meta charset=bogus><meta charset=latin2>"),
            Some("ISO-8859-2")
        );
    }

    #[test]
    fn utf_16_and_user_defined_are_mapped_as_browsers_do() {
        assert_eq!(name(b"<meta charset=utf-16le>"), Some("UTF-8"));
        assert_eq!(name(b"<meta charset=x-user-defined>"), Some("windows-1252"));
    }

    #[test]
    fn comments_and_other_tags_hide_a_meta() {
        assert_eq!(name(b"<!-- <meta charset=latin1> --><p>"), None);
        assert_eq!(name(b"<!--><meta charset=latin1>"), Some("windows-1252"));
        assert_eq!(name(b"<div title=\"<meta charset=latin1>\"></div>"), None);
        assert_eq!(
            name(b"<!doctype html><meta charset=latin1>"),
            Some("windows-1252")
        );
        assert_eq!(
            name(b"<?xml version=\"1.0\"?><meta charset=latin1>"),
            Some("windows-1252")
        );
        assert_eq!(name(b"</p title='>'><meta charset=latin1>"), Some("windows-1252"));
        assert_eq!(name(b"<metax charset=latin1>"), None);
    }

    #[test]
    fn only_the_first_1024_bytes_are_read() {
        let meta = b"<meta charset=latin1>";
        let mut source = vec![b' '; PRESCAN_BYTES - meta.len()];
        source.extend_from_slice(meta);
        assert_eq!(name(&source), Some("windows-1252"));
        source.insert(0, b' ');
        assert_eq!(name(&source), None, "the `>` is byte 1025");
    }

    #[test]
    fn a_byte_order_mark_wins_over_a_meta() {
        let bom = b"\xEF\xBB\xBF<meta charset=latin1>";
        let (charset, from) = resolve(None, bom, true).unwrap();
        assert_eq!((charset, from), (Charset::utf_8(), CharsetSource::ByteOrderMark));
        let utf16 = resolve(None, b"\xFF\xFE<\0a\0", true);
        assert_eq!(utf16, Err(RewriteError::Charset("UTF-16LE".to_owned())));
        // A given charset is taken as given.
        let given = Charset::windows_1252();
        assert_eq!(resolve(Some(given), bom, true), Ok((given, CharsetSource::Given)));
    }

    #[test]
    fn a_given_charset_wins_over_a_meta_and_plain_text_has_none() {
        let source = b"<meta charset=latin2>";
        let given = Charset::windows_1252();
        assert_eq!(
            resolve(Some(given), source, true),
            Ok((given, CharsetSource::Given))
        );
        let detected = resolve(None, source, true).unwrap();
        assert_eq!(
            (detected.0.name(), detected.1),
            ("ISO-8859-2", CharsetSource::Meta)
        );
        // Plain text has no meta.
        assert_eq!(
            resolve(None, source, false),
            Ok((Charset::utf_8(), CharsetSource::Default))
        );
    }

    #[test]
    fn a_declared_charset_that_is_not_ascii_compatible_is_an_error() {
        let err = resolve(None, b"<meta charset=iso-2022-jp>", true).unwrap_err();
        assert_eq!(err, RewriteError::Charset("ISO-2022-JP".to_owned()));
    }

    proptest! {
        #[test]
        fn never_panics_and_never_reads_past_1024_bytes(
            head in proptest::collection::vec(any::<u8>(), 0..1100),
            tail in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut source = head.clone();
            source.extend_from_slice(&tail);
            let first = prescan(&source);
            let cut = source.get(..PRESCAN_BYTES).unwrap_or(&source);
            prop_assert_eq!(first, prescan(cut));
        }

        #[test]
        fn finds_a_meta_behind_arbitrary_text_without_markup(
            text in "[a-zA-Z0-9 .,;:!?\n]{0,900}",
        ) {
            let source = format!("{text}<meta charset=\"windows-1251\">");
            prop_assert_eq!(name(source.as_bytes()), Some("windows-1251"));
        }
    }
}
