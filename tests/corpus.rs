//! Every email of the shared corpus (`../shared/corpus/emails/*.html`, beside the
//! checkout) is rewritten: every trackable link is tracked and verifies to its original
//! destination, every other byte is the input's, and there is exactly one pixel.
//!
//! Without the folder the test is skipped locally and fails under `CI=true`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::cell::RefCell;

use common::{BASE, NOW, click_urls, corpus_files, pixels, tracker, verify};
use hashbeacon::rewrite::{Charset, Message, Options, Recipient, SkipReason, rewrite_html};

/// The hrefs of `<a>` and `<area>` elements, as lol_html sees them (raw), with the
/// link's text.
fn hrefs(input: &[u8], charset: &'static encoding_rs::Encoding) -> Vec<(String, String)> {
    let found = RefCell::new(Vec::new());
    let record = |el: &mut lol_html::html_content::Element<'_, '_>| {
        found
            .borrow_mut()
            .push((el.get_attribute("href").unwrap(), String::new()));
        Ok(())
    };
    let text = |chunk: &mut lol_html::html_content::TextChunk<'_>| {
        if let Some((_, text)) = found.borrow_mut().last_mut() {
            text.push_str(chunk.as_str());
        }
        Ok(())
    };
    let settings = lol_html::Settings::new()
        .with_encoding(lol_html::AsciiCompatibleEncoding::new(charset).unwrap())
        .with_strict(false)
        .append_element_content_handler(lol_html::element!("a[href]", record))
        .append_element_content_handler(lol_html::element!("area[href]", record))
        .append_element_content_handler(lol_html::text!("a[href]", text));
    let mut rewriter = lol_html::HtmlRewriter::new(settings, |_: &[u8]| {});
    rewriter.write(input).unwrap();
    rewriter.end().unwrap();
    found.into_inner()
}

/// An independent, deliberately simple idea of which links are trackable.
fn trackable(raw: &str, text: &str) -> bool {
    let href = raw.replace("&amp;", "&").replace("&#038;", "&");
    let href = href.trim();
    let lower = href.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://"))
        && url::Url::parse(href).is_ok_and(|url| url.host_str().is_some_and(|h| !h.is_empty()))
        && !href.contains(['{', '}', '[', ']'])
        && !href.contains("*|")
        && !lower.contains("unsub")
        && !text.to_ascii_lowercase().contains("unsubscribe")
}

#[test]
fn every_corpus_email_rewrites_exactly() {
    let Some(files) = corpus_files("emails", "html") else {
        return;
    };
    let tracker = tracker();
    let mut total = 0;
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(&path).unwrap();
        let (charset, encoding) = match std::str::from_utf8(&input) {
            Ok(_) => (Charset::utf_8(), encoding_rs::UTF_8),
            Err(_) => (Charset::windows_1252(), encoding_rs::WINDOWS_1252),
        };
        // No charset given: the rewriter finds the one each email declares, and it
        // must agree with this test's own guess from the bytes.
        let message = Message::new("corpus", Recipient::new(NOW));
        let out = rewrite_html(&tracker, &message, &Options::default(), &input).unwrap();
        assert_eq!(out.report.charset, charset, "{name}: charset");
        let skipped_for_encoding = out
            .report
            .skipped
            .iter()
            .filter(|link| link.reason == SkipReason::Encoding)
            .count();
        assert_eq!(skipped_for_encoding, 0, "{name}: every href decodes");
        // Tracked URLs and the pixel are ASCII: search an ASCII copy with the same offsets.
        let body: String = out
            .body
            .iter()
            .map(|&b| if b.is_ascii() { char::from(b) } else { '?' })
            .collect();

        assert_eq!(pixels(&body), 1, "{name}: one pixel");
        let expected = hrefs(&input, encoding)
            .iter()
            .filter(|(h, t)| trackable(h, t))
            .count();
        assert_eq!(
            out.report.tracked.len(),
            expected,
            "{name}: every trackable link is tracked"
        );

        // Walk output and input side by side: they differ only at tracked URLs (each
        // standing for the original href value) and at the pixel.
        let pixel_start = body.find(&format!("<img src=\"{BASE}/o/")).unwrap();
        let pixel_end = pixel_start + body[pixel_start..].find('>').unwrap() + 1;
        let mut edits: Vec<(usize, usize, Option<String>)> = click_urls(&body)
            .into_iter()
            .map(|found| (found.start, found.end, Some(found.url)))
            .collect();
        edits.push((pixel_start, pixel_end, None));
        edits.sort_by_key(|edit| edit.0);
        assert_eq!(edits.len(), out.report.tracked.len() + 1, "{name}");
        let (mut i, mut o) = (0, 0);
        for (start, end, url) in edits {
            let same = start - o;
            assert_eq!(
                out.body[o..start],
                input[i..i + same],
                "{name}: bytes before offset {start}"
            );
            i += same;
            o = end;
            if let Some(url) = url {
                let quote = out.body[end];
                let len = input[i..].iter().position(|&b| b == quote).unwrap();
                let original = String::from_utf8_lossy(&input[i..i + len]).replace("&amp;", "&");
                let (destination, _) = verify(&tracker, &url);
                assert_eq!(destination, original.trim(), "{name}: destination");
                i += len;
            }
        }
        assert_eq!(out.body[o..], input[i..], "{name}: tail");
        total += out.report.tracked.len();
    }
    assert!(total >= 30, "the corpus exercises tracking ({total} links)");
}
