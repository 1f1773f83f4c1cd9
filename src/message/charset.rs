//! The charset a text part's body is rewritten in: its declared one, kept in the output.
//!
//! The body rewriters read a body in its own charset (with `encoding_rs`, through
//! [`Charset`]) and insert only ASCII, so a part in any ASCII-compatible charset is
//! rewritten without converting its other bytes at all.

use crate::rewrite::Charset;

/// The charset to rewrite a part in, from its `charset` parameter (`None`: not
/// declared, so the body rewriter finds it as for a lone body: a byte order mark, an
/// HTML `<meta>`, else UTF-8); the label itself when it names no ASCII-compatible
/// charset.
///
/// US-ASCII (the default of RFC 2045) counts as undeclared: ASCII is a subset of
/// UTF-8, and a stray non-ASCII URL is then read in the charset the body declares, or
/// as UTF-8 (the likeliest), and left alone if it is not valid there, rather than
/// signed as a guess.
pub(crate) fn for_part(label: Option<&str>) -> Result<Option<Charset>, String> {
    match label.map(str::trim) {
        None | Some("") => Ok(None),
        Some(label) if is_us_ascii(label) => Ok(None),
        Some(label) => Charset::from_label(label).map(Some).map_err(|_| label.to_owned()),
    }
}

fn is_us_ascii(label: &str) -> bool {
    ["us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us"]
        .iter()
        .any(|name| name.eq_ignore_ascii_case(label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_labels() {
        assert_eq!(for_part(None), Ok(None));
        assert_eq!(for_part(Some("US-ASCII")), Ok(None));
        assert_eq!(for_part(Some(" iso-8859-1")), Ok(Some(Charset::windows_1252())));
        assert_eq!(for_part(Some("UTF-16LE")), Err("UTF-16LE".to_owned()));
        assert_eq!(for_part(Some("x-unknown")), Err("x-unknown".to_owned()));
    }
}
