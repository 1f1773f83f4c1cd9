//! Links inside Outlook's conditional comments.
//!
//! `<!--[if mso]><v:roundrect href="…">…</v:roundrect><![endif]-->` is a comment to
//! every HTML parser, lol_html included, but Outlook for Windows renders its content:
//! the VML button is the link its readers click. This module finds the start tags with
//! an `href` inside such a comment, using the HTML tokenizer's rules for attributes.

use std::ops::Range;

use memchr::memmem;

/// An attribute of a start tag, as byte ranges of the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AttrSpan {
    /// The attribute's name.
    pub(crate) name: Range<usize>,
    /// Its value without quotes; `None` for a bare attribute.
    pub(crate) value: Option<Range<usize>>,
}

/// A start tag with its attributes, as byte ranges of the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TagSpans {
    /// The tag name, right after `<`.
    pub(crate) name: Range<usize>,
    /// Where the start tag ends (after `>`).
    pub(crate) end: usize,
    /// The attributes in source order.
    pub(crate) attrs: Vec<AttrSpan>,
}

const CONDITIONAL_START: &[u8] = b"<!--[if";

/// Whether a comment (its whole `<!--…-->` bytes) is a conditional comment.
pub(crate) fn is_conditional(comment: &[u8]) -> bool {
    comment
        .get(..CONDITIONAL_START.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(CONDITIONAL_START))
}

/// A cheap necessary condition for the body holding a link in a conditional comment:
/// some `<!--[if` is followed by `href` before the next `-->`. Only when it holds is the
/// (slower) comment pass of the HTML parser switched on.
///
/// One pass: the next `-->` and the next `href` are found once and reused by every
/// `<!--[` before them, so a body of many unclosed `<!--[if` is not searched to its end
/// once per start.
pub(crate) fn may_hold_links(body: &[u8]) -> bool {
    let mut close = NextMatch::new(|from| memmem::find(body.get(from..)?, b"-->").map(|at| from + at));
    let mut href = NextMatch::new(|from| find_href(body, from));
    memmem::find_iter(body, b"<!--[").any(|start| {
        body.get(start..).is_some_and(is_conditional) && {
            let end = close.at_or_after(start).unwrap_or(body.len());
            href.at_or_after(start).is_some_and(|at| at + 4 <= end)
        }
    })
}

/// The first `href` (any case) at or after `from`.
fn find_href(body: &[u8], from: usize) -> Option<usize> {
    let rest = body.get(from..)?;
    memchr::memchr2_iter(b'h', b'H', rest)
        .find(|&at| {
            rest.get(at..at + 4)
                .is_some_and(|word| word.eq_ignore_ascii_case(b"href"))
        })
        .map(|at| from + at)
}

/// The next match of a search at or after a position that only moves forward: a
/// match still ahead is reused, so the searches together read the body once.
struct NextMatch<F> {
    search: F,
    /// The last search: where it started and what it found.
    last: Option<(usize, Option<usize>)>,
}

impl<F: FnMut(usize) -> Option<usize>> NextMatch<F> {
    fn new(search: F) -> Self {
        Self { search, last: None }
    }

    fn at_or_after(&mut self, from: usize) -> Option<usize> {
        match self.last {
            // Nothing from an earlier start means nothing from a later one.
            Some((searched, None)) if searched <= from => None,
            Some((_, Some(found))) if found >= from => Some(found),
            _ => {
                let found = (self.search)(from);
                self.last = Some((from, found));
                found
            }
        }
    }
}

/// Whether an element inside a conditional comment is a link Outlook follows: `a`,
/// `area` or a namespaced (VML) shape such as `v:roundrect`.
fn is_link_element(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"a") || name.eq_ignore_ascii_case(b"area") || name.contains(&b':')
}

/// The link start tags with an `href` inside the comment at `comment` (a conditional
/// comment's whole bytes).
pub(crate) fn link_tags(body: &[u8], comment: Range<usize>) -> Vec<TagSpans> {
    let end = comment.end.saturating_sub(3).min(body.len());
    let mut tags = Vec::new();
    let mut at = comment.start + CONDITIONAL_START.len();
    while let Some(lt) = body.get(at..end).and_then(|rest| memchr::memchr(b'<', rest)) {
        let name_start = at + lt + 1;
        let name_len = body
            .get(name_start..end)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .take_while(|(i, b)| {
                b.is_ascii_alphabetic()
                    || (*i > 0 && (b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_')))
            })
            .count();
        if name_len == 0 {
            at = name_start;
            continue;
        }
        let name = name_start..name_start + name_len;
        let (attrs, tag_end) = attributes(body, name.end, end);
        let has_href = attrs.iter().any(|attr| {
            body.get(attr.name.clone())
                .is_some_and(|n| n.eq_ignore_ascii_case(b"href"))
        });
        if has_href && body.get(name.clone()).is_some_and(is_link_element) {
            tags.push(TagSpans {
                name,
                end: tag_end,
                attrs,
            });
        }
        at = tag_end.max(name_start);
    }
    tags
}

/// Reads attributes from `at` up to the tag's `>` (or `end`): the attributes and where
/// the tag ends.
fn attributes(body: &[u8], mut at: usize, end: usize) -> (Vec<AttrSpan>, usize) {
    let byte = |i: usize| if i < end { body.get(i).copied() } else { None };
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0C');
    let mut attrs = Vec::new();
    loop {
        while byte(at).is_some_and(|b| is_space(b) || b == b'/') {
            at += 1;
        }
        match byte(at) {
            None => return (attrs, at),
            Some(b'>') => return (attrs, at + 1),
            Some(_) => {}
        }
        let name_start = at;
        at += 1; // a name may start with `=`
        while byte(at).is_some_and(|b| !is_space(b) && !matches!(b, b'/' | b'>' | b'=')) {
            at += 1;
        }
        let name = name_start..at;
        let mut after_name = at;
        while byte(after_name).is_some_and(is_space) {
            after_name += 1;
        }
        let mut value = None;
        if byte(after_name) == Some(b'=') {
            at = after_name + 1;
            while byte(at).is_some_and(is_space) {
                at += 1;
            }
            match byte(at) {
                Some(quote @ (b'"' | b'\'')) => {
                    let start = at + 1;
                    let close = body
                        .get(start..end)
                        .and_then(|rest| memchr::memchr(quote, rest))
                        .map_or(end, |i| start + i);
                    value = Some(start..close);
                    at = (close + 1).min(end);
                }
                _ => {
                    let start = at;
                    while byte(at).is_some_and(|b| !is_space(b) && b != b'>') {
                        at += 1;
                    }
                    value = Some(start..at);
                }
            }
        }
        attrs.push(AttrSpan { name, value });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'b>(body: &'b [u8], tag: &TagSpans) -> Vec<(&'b str, Option<&'b str>)> {
        let text = |r: Range<usize>| std::str::from_utf8(&body[r]).unwrap();
        tag.attrs
            .iter()
            .map(|a| (text(a.name.clone()), a.value.clone().map(text)))
            .collect()
    }

    #[test]
    fn finds_vml_and_anchor_links_in_conditional_comments() {
        let body = br#"<p><!--[if mso]><v:roundrect xmlns:v="urn:x" href="https://a.example/?x=1&amp;y" arcsize=7% fill><a HREF='https://b.example/'>B</a><link href="https://fonts.example/"><![endif]--></p>"#;
        let comment = 3..body.len() - 4;
        assert!(is_conditional(&body[comment.clone()]));
        assert!(may_hold_links(body));
        let tags = link_tags(body, comment);
        assert_eq!(tags.len(), 2);
        assert_eq!(&body[tags[0].name.clone()], b"v:roundrect");
        assert_eq!(
            texts(body, &tags[0]),
            [
                ("xmlns:v", Some("urn:x")),
                ("href", Some("https://a.example/?x=1&amp;y")),
                ("arcsize", Some("7%")),
                ("fill", None)
            ]
        );
        assert_eq!(texts(body, &tags[1]), [("HREF", Some("https://b.example/"))]);
        assert_eq!(body[tags[1].end - 1], b'>');
    }

    #[test]
    fn ignores_comments_without_links() {
        assert!(!may_hold_links(
            b"<!--[if mso]><style>td{}</style><![endif]--><a href=x>"
        ));
        assert!(!may_hold_links(b"<!-- href --><p>"));
    }

    /// The definition, searched afresh from every start (quadratic, as it once was).
    fn may_hold_links_by_definition(body: &[u8]) -> bool {
        memmem::find_iter(body, b"<!--[").any(|start| {
            let rest = &body[start..];
            let end = memmem::find(rest, b"-->").unwrap_or(rest.len());
            let comment = &rest[..end];
            is_conditional(comment) && comment.windows(4).any(|w| w.eq_ignore_ascii_case(b"href"))
        })
    }

    proptest::proptest! {
        #[test]
        fn the_one_pass_scan_agrees_with_the_definition(
            parts in proptest::collection::vec(
                proptest::sample::select(vec!["<!--[if", "<!--[", "-->", "href", "HrEf", "hre", "f", "x", "<!--", "-", ">"]),
                0..40,
            )
        ) {
            let body = parts.concat();
            proptest::prop_assert_eq!(
                may_hold_links(body.as_bytes()),
                may_hold_links_by_definition(body.as_bytes())
            );
        }
    }

    #[test]
    fn survives_truncated_tags() {
        let body = b"<!--[if mso]><a href=\"https://a.example/";
        let tags = link_tags(body, 0..body.len());
        assert!(tags.len() <= 1);
        let body = b"<!--[if mso]><a href=";
        let _ = link_tags(body, 0..body.len());
    }
}
