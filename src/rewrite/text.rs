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
        let Some(url) = b.charset.decode(bytes) else {
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
            let url = trim_punctuation(rest.get(..run).unwrap_or_default(), scheme);
            if url.len() == scheme {
                continue;
            }
            at = start + url.len();
            return Some(start..at);
        }
    })
}

/// A URL run without its trailing sentence punctuation, never shorter than the scheme.
///
/// The bracket balances are counted once and updated per trimmed byte, so trimming is
/// linear in the run however many brackets trail it.
fn trim_punctuation(mut url: &[u8], scheme: usize) -> &[u8] {
    let opened_minus_closed = |open: u8, close: u8| {
        url.iter().fold(0isize, |balance, &b| {
            balance + isize::from(b == open) - isize::from(b == close)
        })
    };
    let (mut parens, mut brackets) = (opened_minus_closed(b'(', b')'), opened_minus_closed(b'[', b']'));
    while url.len() > scheme {
        let balance = match url.last() {
            Some(b'.' | b',' | b'!' | b'?' | b'\'' | b'"' | b';' | b':') => None,
            Some(b')') if parens < 0 => Some(&mut parens),
            Some(b']') if brackets < 0 => Some(&mut brackets),
            _ => break,
        };
        // Without its trailing closer, that bracket kind is one closer less unbalanced.
        if let Some(balance) = balance {
            *balance += 1;
        }
        url = url.get(..url.len() - 1).unwrap_or_default();
    }
    url
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

    /// The definition, recounting the brackets per trimmed byte (quadratic, as it once
    /// was).
    fn trim_by_definition(mut url: &[u8], scheme: usize) -> &[u8] {
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
            url = &url[..url.len() - 1];
        }
        url
    }

    proptest::proptest! {
        #[test]
        fn trimming_agrees_with_the_definition(tail in "[()\\[\\]a.,!?;:'\"/]{0,40}") {
            let url = format!("https://{tail}");
            proptest::prop_assert_eq!(
                trim_punctuation(url.as_bytes(), 8),
                trim_by_definition(url.as_bytes(), 8)
            );
        }
    }

    #[test]
    fn ignores_non_urls() {
        assert!(found("xhttps://a.example http:// https://. mailto:a@b.example").is_empty());
    }
}
