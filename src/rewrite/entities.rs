//! HTML character references in attribute values.
//!
//! lol_html hands attribute values over raw, so `href="?a=1&amp;b=2"` must be decoded
//! before it is treated as a URL, and a URL written back must have its `&` escaped.
//! Decoding follows the HTML attribute-value rules for the references hrefs actually
//! contain (`&amp;`, `&#038;`, `&#x26;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`) and for
//! text that merely looks like one (`&copy=1` stays as written, as in a browser).
//! Any other reference a browser would decode is reported as unsupported, so a link is
//! left alone rather than signed with a destination the browser would not visit.

use std::borrow::Cow;

/// Named references decoded here, with the text they stand for.
const KNOWN: [(&str, &str); 9] = [
    ("amp", "&"),
    ("AMP", "&"),
    ("lt", "<"),
    ("LT", "<"),
    ("gt", ">"),
    ("GT", ">"),
    ("quot", "\""),
    ("QUOT", "\""),
    ("apos", "'"),
];

/// The references HTML decodes even without a closing `;` (the spec's legacy list).
/// In an attribute value they are decoded unless followed by `=` or an alphanumeric.
const LEGACY: [&str; 106] = [
    "AElig", "AMP", "Aacute", "Acirc", "Agrave", "Aring", "Atilde", "Auml", "COPY", "Ccedil", "ETH",
    "Eacute", "Ecirc", "Egrave", "Euml", "GT", "Iacute", "Icirc", "Igrave", "Iuml", "LT", "Ntilde", "Oacute",
    "Ocirc", "Ograve", "Oslash", "Otilde", "Ouml", "QUOT", "REG", "THORN", "Uacute", "Ucirc", "Ugrave",
    "Uuml", "Yacute", "aacute", "acirc", "acute", "aelig", "agrave", "amp", "aring", "atilde", "auml",
    "brvbar", "ccedil", "cedil", "cent", "copy", "curren", "deg", "divide", "eacute", "ecirc", "egrave",
    "eth", "euml", "frac12", "frac14", "frac34", "gt", "iacute", "icirc", "iexcl", "igrave", "iquest",
    "iuml", "laquo", "lt", "macr", "micro", "middot", "nbsp", "not", "ntilde", "oacute", "ocirc", "ograve",
    "ordf", "ordm", "oslash", "otilde", "ouml", "para", "plusmn", "pound", "quot", "raquo", "reg", "sect",
    "shy", "sup1", "sup2", "sup3", "szlig", "thorn", "times", "uacute", "ucirc", "ugrave", "uml", "uuml",
    "yacute", "yen", "yuml",
];

/// The value holds a character reference this module does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unsupported;

/// Decodes the character references of an attribute value.
pub(crate) fn decode_attribute(raw: &str) -> Result<Cow<'_, str>, Unsupported> {
    let Some(first) = raw.find('&') else {
        return Ok(Cow::Borrowed(raw));
    };
    let mut out = String::with_capacity(raw.len());
    out.push_str(raw.get(..first).unwrap_or_default());
    let mut rest = raw.get(first..).unwrap_or_default();
    while let Some(after_amp) = rest.strip_prefix('&') {
        let (decoded, consumed) = reference(after_amp)?;
        match decoded {
            Some(text) => out.push_str(&text),
            None => out.push('&'),
        }
        let tail = after_amp.get(consumed..).unwrap_or_default();
        let next = tail.find('&').unwrap_or(tail.len());
        out.push_str(tail.get(..next).unwrap_or_default());
        rest = tail.get(next..).unwrap_or_default();
    }
    Ok(Cow::Owned(out))
}

/// Reads one reference after its `&`: the decoded text (`None` when the `&` is literal)
/// and how many bytes after the `&` it used.
fn reference(text: &str) -> Result<(Option<Cow<'static, str>>, usize), Unsupported> {
    if let Some(numeric) = text.strip_prefix('#') {
        return numeric_reference(numeric).map(|(ch, used)| match ch {
            Some(ch) => (Some(Cow::Owned(ch.to_string())), used + 1),
            None => (None, 0),
        });
    }
    let run = text.bytes().take_while(u8::is_ascii_alphanumeric).count();
    let name = text.get(..run).unwrap_or_default();
    let next = text.as_bytes().get(run).copied();
    let known = KNOWN
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, value)| *value);
    match next {
        _ if name.is_empty() => Ok((None, 0)),
        Some(b';') => match known {
            Some(value) => Ok((Some(Cow::Borrowed(value)), run + 1)),
            None => Err(Unsupported),
        },
        // Without `;`, only a legacy name decodes, and not before `=`.
        Some(b'=') => Ok((None, 0)),
        _ if !LEGACY.contains(&name) => Ok((None, 0)),
        _ => match known {
            Some(value) => Ok((Some(Cow::Borrowed(value)), run)),
            None => Err(Unsupported),
        },
    }
}

/// Reads `x1F;` / `38;` after `&#`: the character (`None` when there are no digits, so
/// the text is literal) and the bytes used.
fn numeric_reference(text: &str) -> Result<(Option<char>, usize), Unsupported> {
    let (radix, digits_at) = match text.as_bytes().first() {
        Some(b'x' | b'X') => (16, 1),
        _ => (10, 0),
    };
    let digits = text.get(digits_at..).unwrap_or_default();
    let count = digits
        .bytes()
        .take_while(|b| char::from(*b).is_digit(radix))
        .count();
    if count == 0 {
        return Ok((None, 0));
    }
    let value = digits
        .get(..count)
        .unwrap_or_default()
        .chars()
        .filter_map(|c| c.to_digit(radix))
        .fold(0u32, |acc, d| acc.saturating_mul(radix).saturating_add(d));
    let semicolon = usize::from(digits.as_bytes().get(count) == Some(&b';'));
    // NUL, C1 controls (remapped by browsers), surrogates and out-of-range values are
    // replaced by browsers; such a link is left alone.
    match char::from_u32(value) {
        Some(ch) if value != 0 && !(0x80..=0x9F).contains(&value) => {
            Ok((Some(ch), digits_at + count + semicolon))
        }
        _ => Err(Unsupported),
    }
}

/// Escapes text for an attribute value: `&`, both quotes, `<`, `>` and the backtick
/// (which old Internet Explorer took for a quote) become character references, which
/// every HTML parser decodes back to the same text. What this crate writes into
/// attributes (tracked URLs, the tracking base) should hold none of them but `&`; this
/// keeps the attribute closed even if one slips through.
pub(crate) fn push_attribute_escaped(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(at) = rest.find(['&', '"', '\'', '<', '>', '`']) {
        out.push_str(rest.get(..at).unwrap_or_default());
        out.push_str(match rest.as_bytes().get(at) {
            Some(b'&') => "&amp;",
            Some(b'"') => "&quot;",
            Some(b'\'') => "&#39;",
            Some(b'<') => "&lt;",
            Some(b'>') => "&gt;",
            _ => "&#96;",
        });
        // Each of them is one ASCII byte.
        rest = rest.get(at + 1..).unwrap_or_default();
    }
    out.push_str(rest);
}

/// [`push_attribute_escaped`] into a new string.
pub(crate) fn attribute_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_attribute_escaped(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(raw: &str) -> Result<String, Unsupported> {
        decode_attribute(raw).map(Cow::into_owned)
    }

    #[test]
    fn decodes_the_references_hrefs_carry() {
        assert_eq!(decode("?a=1&amp;b=2").unwrap(), "?a=1&b=2");
        assert_eq!(decode("?a=1&#038;b=2&#x26;c=3&#X26;d").unwrap(), "?a=1&b=2&c=3&d");
        assert_eq!(decode("&lt;&gt;&quot;&apos;&AMP;").unwrap(), "<>\"'&");
        assert_eq!(decode("&#38x").unwrap(), "&x");
        assert_eq!(decode("&amp").unwrap(), "&");
        assert_eq!(decode("&amp/x").unwrap(), "&/x");
    }

    #[test]
    fn keeps_text_that_only_looks_like_a_reference() {
        for raw in [
            "?a=1&b=2",
            "?x&copy=1",
            "?x&ampx=1",
            "?&notin",
            "&",
            "&;",
            "&#",
            "&#x;",
            "&utm_source=a",
        ] {
            assert_eq!(decode(raw).unwrap(), raw, "{raw}");
        }
    }

    #[test]
    fn refuses_references_a_browser_would_decode_differently() {
        for raw in [
            "&copy;",
            "&copy/",
            "&nbsp",
            "&notin;",
            "&#0;",
            "&#x80;",
            "&#xD800;",
            "&#1114112;",
        ] {
            assert_eq!(decode(raw), Err(Unsupported), "{raw}");
        }
    }

    #[test]
    fn escapes_what_could_end_an_attribute() {
        let mut out = String::new();
        push_attribute_escaped(&mut out, "https://t.example/c/x?https://a.example/?q=1&r=2&");
        assert_eq!(out, "https://t.example/c/x?https://a.example/?q=1&amp;r=2&amp;");
        let hostile = r#"a"b'c<d>e`f&g"#;
        let escaped = attribute_escaped(hostile);
        assert_eq!(escaped, "a&quot;b&#39;c&lt;d&gt;e&#96;f&amp;g");
        // The references decode back to the text.
        assert_eq!(decode(&escaped).unwrap(), hostile);
    }

    proptest::proptest! {
        #[test]
        fn escaped_text_decodes_to_itself_and_closes_no_attribute(text in ".{0,64}") {
            let escaped = attribute_escaped(&text);
            proptest::prop_assert!(!escaped.contains(['"', '\'', '<', '>', '`']));
            // Only the references this module writes: `&` starts nothing else.
            proptest::prop_assert_eq!(decode(&escaped).unwrap(), text);
        }
    }
}
