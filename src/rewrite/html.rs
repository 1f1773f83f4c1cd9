//! Compiling an HTML body: lol_html finds the links, this module decides about them.
//!
//! lol_html parses the body once and reports, for every `<a href>` and `<area href>`,
//! the byte ranges of its attributes in the input, plus where `<body>` and `</body>`
//! are. Nothing is rewritten inside the parser: the template splices the input around
//! those ranges, so every byte outside a rewritten attribute value (and the inserted
//! pixel) is the input's byte, whatever its charset.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::ops::Range;
use std::rc::Rc;

use lol_html::html_content::{Comment, Element, EndTag};
use lol_html::{DocumentContentHandlers, ElementContentHandlers, HtmlRewriter, Selector, Settings};

use super::destination::normalize_href;
use super::entities::decode_attribute;
use super::mso::{self, AttrSpan, TagSpans};
use super::report::{SkipReason, Warning};
use super::skip::{LINK_LABEL_ATTRIBUTE, NO_TRACK_ATTRIBUTE, opted_out};
use super::template::{Builder, Context, Template};
use super::{PIXEL_PLACEHOLDER, PixelPlacement, RewriteError};

/// Something the parser found, in document order.
enum Found {
    /// A link start tag.
    Tag(TagSpans),
    /// A comment (its whole `<!--…-->` bytes).
    Comment(Range<usize>),
}

impl Found {
    fn start(&self) -> usize {
        match self {
            // The name follows `<`.
            Found::Tag(tag) => tag.name.start.saturating_sub(1),
            Found::Comment(range) => range.start,
        }
    }
}

/// Where `<body>` ends and `</body>` starts, when the parser saw them, and whether
/// markup appended at the end would be parsed as markup.
#[derive(Default)]
struct BodyBounds {
    open_end: Cell<Option<usize>>,
    close_start: Rc<Cell<Option<usize>>>,
    /// The document does not end inside a tag, comment or raw-text element (where an
    /// appended pixel would not show, and could even complete a broken tag).
    open_at_end: Cell<bool>,
}

/// An element written to the parser after the body: it is parsed as an element right
/// at the end exactly when the body ends where markup can start.
const END_PROBE: &str = "hb-end-probe";

/// Most bytes of a link's content searched for unsubscribe wording.
const LINK_TEXT_WINDOW: usize = 2048;

pub(crate) fn compile<'a>(mut b: Builder<'_, 'a>) -> Result<Template<'a>, RewriteError> {
    let source = b.source;
    let options = b.options;
    let links = options.links.html();
    let comments = (links && mso::may_hold_links(source)) || options.pixel == PixelPlacement::Placeholder;
    let found = RefCell::new(Vec::new());
    let body = BodyBounds::default();
    parse(source, b.charset.lol_html(), links, comments, &found, &body)?;

    // At the end, unless the body ends inside a tag, comment or raw text: then at the
    // very start, the one place always open to markup.
    let end = if body.open_at_end.get() { source.len() } else { 0 };
    let bottom = body.close_start.get().unwrap_or(end);
    let pixel_at = match options.pixel {
        PixelPlacement::Bottom => bottom..bottom,
        PixelPlacement::Top => {
            let top = body.open_end.get().unwrap_or(bottom);
            top..top
        }
        PixelPlacement::Placeholder => match found.borrow().iter().find_map(|item| match item {
            Found::Comment(range) if is_pixel_placeholder(source, range) => Some(range.clone()),
            _ => None,
        }) {
            Some(range) => range,
            None => {
                // Without a pixel to place (opens off, or one from an earlier rewrite
                // that replaced the placeholder) its absence is no news.
                if b.inserts_pixel() {
                    b.warn(Warning::PixelPlaceholderMissing);
                }
                bottom..bottom
            }
        },
    };
    let found = found.into_inner();
    let text_ends = link_text_ends(&found, source.len());
    let mut pixel_pending = true;
    for (item, text_end) in found.into_iter().zip(text_ends) {
        if pixel_pending && item.start() >= pixel_at.start {
            b.insert_pixel(pixel_at.clone())?;
            pixel_pending = false;
        }
        match item {
            Found::Tag(tag) => link(&mut b, &tag, text_end),
            Found::Comment(range) if links && source.get(range.clone()).is_some_and(mso::is_conditional) => {
                let tags = mso::link_tags(source, range.clone());
                let ends = tags
                    .iter()
                    .skip(1)
                    .map(|next| next.name.start.saturating_sub(1))
                    .chain([range.end]);
                for (tag, text_end) in tags.iter().zip(ends) {
                    link(&mut b, tag, text_end);
                }
            }
            Found::Comment(_) => {}
        }
    }
    if pixel_pending {
        b.insert_pixel(pixel_at)?;
    }
    b.finish()
}

/// Where each found link's text can end at the latest: where the next link starts (a
/// start tag of `<a>` closes an open one), or the end of the body. Bounding each link's
/// text by the next one keeps the texts apart, so reading them all reads the body once.
fn link_text_ends(found: &[Found], body_len: usize) -> Vec<usize> {
    let mut next_link = body_len;
    let mut ends: Vec<usize> = found
        .iter()
        .rev()
        .map(|item| {
            let end = next_link;
            if let Found::Tag(_) = item {
                next_link = item.start();
            }
            end
        })
        .collect();
    ends.reverse();
    ends
}

/// Runs lol_html over the body, collecting link tags (when `links`), comments (when
/// `comments`) and the body's bounds.
fn parse(
    source: &[u8],
    encoding: lol_html::AsciiCompatibleEncoding,
    links: bool,
    comments: bool,
    found: &RefCell<Vec<Found>>,
    body: &BodyBounds,
) -> Result<(), RewriteError> {
    let selector = |css: &str| {
        css.parse::<Selector>()
            .map(Cow::Owned)
            .map_err(|error| RewriteError::Html(error.to_string()))
    };
    let on_link = |el: &mut Element<'_, '_>| {
        let tag = el.source_location().bytes();
        // A tag left open at the end, closed only by the probe, is no tag.
        if tag.end <= source.len() {
            // `<a` or `<area`: a letter after `<a` means `area`.
            let name_len = if source.get(tag.start + 2).is_some_and(u8::is_ascii_alphabetic) {
                4
            } else {
                1
            };
            found.borrow_mut().push(Found::Tag(tag_spans(el, name_len)));
        }
        Ok(())
    };
    let on_probe = |el: &mut Element<'_, '_>| {
        body.open_at_end
            .set(el.source_location().bytes().start == source.len());
        Ok(())
    };
    let on_body = |el: &mut Element<'_, '_>| {
        // A `<body` left open at the end is closed only by the probe: no body tag.
        if body.open_end.get().is_none() && el.source_location().bytes().end <= source.len() {
            body.open_end.set(Some(el.source_location().bytes().end));
            let close = Rc::clone(&body.close_start);
            if let Some(handlers) = el.end_tag_handlers() {
                handlers.push(Box::new(move |end: &mut EndTag<'_>| {
                    close.set(Some(end.source_location().bytes().start));
                    Ok(())
                }));
            }
        }
        Ok(())
    };
    let mut settings = Settings::new()
        .with_encoding(encoding)
        .with_strict(false)
        .append_element_content_handler((
            selector("body")?,
            ElementContentHandlers::default().element(on_body),
        ))
        .append_element_content_handler((
            selector(END_PROBE)?,
            ElementContentHandlers::default().element(on_probe),
        ));
    if links {
        // One selector list: a single pass of the selector machine per element.
        settings = settings.append_element_content_handler((
            selector("a[href], area[href]")?,
            ElementContentHandlers::default().element(on_link),
        ));
    }
    if comments {
        settings = settings.append_document_content_handler(DocumentContentHandlers::default().comments(
            |comment: &mut Comment<'_>| {
                // A comment left open runs to the end of the body, not into the probe.
                let range = comment.source_location().bytes();
                let range = range.start.min(source.len())..range.end.min(source.len());
                found.borrow_mut().push(Found::Comment(range));
                Ok(())
            },
        ));
    }
    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    let html_error = |error: lol_html::errors::RewritingError| RewriteError::Html(error.to_string());
    rewriter.write(source).map_err(html_error)?;
    rewriter
        .write(format!("<{END_PROBE}>").as_bytes())
        .map_err(html_error)?;
    rewriter.end().map_err(html_error)
}

/// The byte ranges of an element's start tag, from lol_html's source locations.
fn tag_spans(el: &Element<'_, '_>, name_len: usize) -> TagSpans {
    let tag = el.source_location().bytes();
    let name_start = tag.start + 1;
    TagSpans {
        name: name_start..name_start + name_len,
        end: tag.end,
        attrs: el
            .attributes()
            .iter()
            .filter_map(|attr| {
                Some(AttrSpan {
                    name: attr.name_source_location()?.bytes(),
                    value: attr.value_source_location().map(|location| location.bytes()),
                })
            })
            .collect(),
    }
}

/// Whether a comment is the pixel placeholder (ignoring whitespace inside it).
fn is_pixel_placeholder(source: &[u8], comment: &Range<usize>) -> bool {
    let inner = |text: &[u8]| -> Vec<u8> {
        text.iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect()
    };
    source
        .get(comment.clone())
        .is_some_and(|text| inner(text) == inner(PIXEL_PLACEHOLDER.as_bytes()))
}

/// Handles one link tag: strips our attributes, and tracks or skips its href. Its text
/// (searched for unsubscribe wording) ends by `text_end`.
fn link(b: &mut Builder<'_, '_>, tag: &TagSpans, text_end: usize) {
    let source = b.source;
    let charset = b.charset;
    let name_is = |attr: &AttrSpan, name: &str| {
        source
            .get(attr.name.clone())
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
    };
    let attr = |name: &str| tag.attrs.iter().find(|attr| name_is(attr, name));
    let raw = |attr: &AttrSpan| {
        attr.value
            .clone()
            .and_then(|value| source.get(value))
            .unwrap_or_default()
    };
    let Some(href) = attr("href") else {
        return;
    };
    // Entity-decoded text of an attribute, or why it cannot be decoded exactly.
    let text = |attr: &AttrSpan| -> Result<Cow<'_, str>, (String, SkipReason)> {
        let bytes = raw(attr);
        let text = charset
            .decode(bytes)
            .ok_or_else(|| (String::from_utf8_lossy(bytes).into_owned(), SkipReason::Encoding))?;
        match decode_attribute(&text) {
            Ok(Cow::Borrowed(_)) => Ok(text),
            Ok(Cow::Owned(decoded)) => Ok(Cow::Owned(decoded)),
            Err(_) => Err((text.into_owned(), SkipReason::CharacterReference)),
        }
    };
    let destination = text(href).map(|decoded| match decoded {
        Cow::Borrowed(decoded) => normalize_href(decoded),
        Cow::Owned(decoded) => Cow::Owned(normalize_href(&decoded).into_owned()),
    });
    let label = attr(LINK_LABEL_ATTRIBUTE).and_then(|attr| text(attr).ok());
    let author_opt_out =
        opted_out(|name| attr(name).map(|attr| std::str::from_utf8(raw(attr)).unwrap_or("")));
    let link_text = || {
        let name = source.get(tag.name.clone()).unwrap_or_default();
        // `<area>` is void: what it says is its `alt`, not the markup that follows it.
        if name.eq_ignore_ascii_case(b"area") {
            return attr("alt").map(raw).unwrap_or_default();
        }
        let content = source.get(tag.end..text_end).unwrap_or_default();
        let content = content.get(..LINK_TEXT_WINDOW).unwrap_or(content);
        let close = memchr::memchr_iter(b'<', content)
            .find(|&at| {
                content.get(at + 1) == Some(&b'/')
                    && content
                        .get(at + 2..at + 2 + name.len())
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .unwrap_or(content.len());
        content.get(..close).unwrap_or_default()
    };
    let mut author_skip = Some(move |unsubscribe: Option<&super::skip::Unsubscribe>| {
        author_opt_out
            .map(|attribute| SkipReason::OptedOut { attribute })
            .or_else(|| {
                unsubscribe
                    .is_some_and(|unsubscribe| unsubscribe.in_text(link_text()))
                    .then_some(SkipReason::Unsubscribe)
            })
    });
    for attr in &tag.attrs {
        if name_is(attr, NO_TRACK_ATTRIBUTE) || name_is(attr, LINK_LABEL_ATTRIBUTE) {
            b.remove(attribute_extent(source, attr));
        } else if std::ptr::eq(attr, href) {
            let Some(check) = author_skip.take() else { continue };
            match (&destination, attr.value.clone()) {
                (Ok(destination), Some(span)) => {
                    let quoted = span
                        .start
                        .checked_sub(1)
                        .and_then(|before| source.get(before))
                        .is_some_and(|q| matches!(q, b'"' | b'\''));
                    b.link(
                        span,
                        destination,
                        label.as_deref(),
                        Context::Attribute { quoted },
                        check,
                    );
                }
                (Ok(destination), None) => b.skip(destination.as_ref(), SkipReason::NotHttp),
                (Err((href, reason)), _) => b.skip(href.clone(), reason.clone()),
            }
        }
    }
}

/// An attribute's bytes including the whitespace before it and its closing quote, for
/// removing it.
fn attribute_extent(source: &[u8], attr: &AttrSpan) -> Range<usize> {
    let before = source.get(..attr.name.start).unwrap_or_default();
    let start = before.len()
        - before
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    let end = match &attr.value {
        None => attr.name.end,
        Some(value) => {
            let quoted = value
                .start
                .checked_sub(1)
                .and_then(|at| source.get(at))
                .is_some_and(|q| matches!(q, b'"' | b'\''));
            let closes = quoted && source.get(value.end).is_some_and(|q| matches!(q, b'"' | b'\''));
            value.end + usize::from(closes)
        }
    };
    start..end
}
