//! Compiling a plain-text body: URLs in running text become click URLs.
//!
//! A URL starts at `http://` or `https://` (any case) not preceded by a letter or
//! digit, and runs to the next whitespace, control character, `<`, `>` or `"`. Trailing
//! `.`, `,`, `!`, `?`, `'`, `"`, `;` and `:` are sentence punctuation, not part of it,
//! and so is a trailing `)` or `]` without its opening partner (so
//! `(see https://a.example/x)` and `https://en.wikipedia.org/wiki/Rust_(language)` both
//! come out right). A trailing `/` is kept. Every other byte is left as it is.

use std::ops::Range;

use super::RewriteError;
use super::report::SkipReason;
use super::template::{Builder, Context, Template};

/// Bytes of the line before a URL searched for unsubscribe wording ("To unsubscribe,
/// visit https://…").
const LINE_WINDOW: usize = 200;

pub(crate) fn compile<'a>(mut b: Builder<'_, 'a>) -> Result<Template<'a>, RewriteError> {
    if !b.options.links.text() {
        return b.finish();
    }
    let source = b.source;
    for span in urls(source) {
        let bytes = source.get(span.clone()).unwrap_or_default();
        let Some(url) = b.options.charset.decode(bytes) else {
            b.skip(String::from_utf8_lossy(bytes), SkipReason::Encoding);
            continue;
        };
        let line_before = || {
            let before = source.get(..span.start).unwrap_or_default();
            let window = before
                .get(before.len().saturating_sub(LINE_WINDOW)..)
                .unwrap_or(before);
            let line_start = window.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
            window.get(line_start..).unwrap_or_default()
        };
        let author_skip = |unsubscribe: Option<&super::skip::Unsubscribe>| {
            unsubscribe
                .is_some_and(|unsubscribe| unsubscribe.in_text(line_before()))
                .then_some(SkipReason::Unsubscribe)
        };
        b.link(span.clone(), &url, None, Context::Text, author_skip);
    }
    b.finish()
}

/// The byte ranges of the URLs in a text, in order.
pub(crate) fn urls(text: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        loop {
            let start = at + memchr::memchr2(b'h', b'H', text.get(at..)?)?;
            at = start + 1;
            let rest = text.get(start..).unwrap_or_default();
            let scheme = [b"https://".as_slice(), b"http://"]
                .into_iter()
                .find(|scheme| {
                    rest.get(..scheme.len())
                        .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
                })
                .map_or(0, <[u8]>::len);
            let boundary = start
                .checked_sub(1)
                .and_then(|before| text.get(before))
                .is_none_or(|b| !b.is_ascii_alphanumeric());
            if scheme == 0 || !boundary {
                continue;
            }
            let run = rest
                .iter()
                .take_while(|&&b| {
                    !(b.is_ascii_whitespace() || b.is_ascii_control() || matches!(b, b'<' | b'>' | b'"'))
                })
                .count();
            let mut url = rest.get(..run).unwrap_or_default();
            while url.len() > scheme {
                let count = |c: u8| url.iter().filter(|&&b| b == c).count();
                let trim = match url.last() {
                    Some(b'.' | b',' | b'!' | b'?' | b'\'' | b'"' | b';' | b':') => true,
                    Some(b')') => count(b'(') < count(b')'),
                    Some(b']') => count(b'[') < count(b']'),
                    _ => false,
                };
                if !trim {
                    break;
                }
                url = url.get(..url.len() - 1).unwrap_or_default();
            }
            if url.len() == scheme {
                continue;
            }
            at = start + url.len();
            return Some(start..at);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        urls(text.as_bytes()).map(|r| &text[r]).collect()
    }

    #[test]
    fn finds_urls_in_running_text() {
        assert_eq!(
            found("See https://a.example/x. Or <HTTP://b.example/?q=1&r=2>, (https://c.example/y)!"),
            [
                "https://a.example/x",
                "HTTP://b.example/?q=1&r=2",
                "https://c.example/y"
            ]
        );
        assert_eq!(
            found("https://en.wikipedia.org/wiki/Rust_(language), 'https://d.example/'?"),
            [
                "https://en.wikipedia.org/wiki/Rust_(language)",
                "https://d.example/"
            ]
        );
        assert_eq!(
            found("\"https://e.example/a/\"\nhttps://f.example"),
            ["https://e.example/a/", "https://f.example"]
        );
    }

    #[test]
    fn ignores_non_urls() {
        assert!(found("xhttps://a.example http:// https://. mailto:a@b.example").is_empty());
    }
}
