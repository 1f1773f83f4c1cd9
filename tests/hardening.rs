//! Hostile and oversized input at the endpoint and the rewriter: megabyte paths and
//! queries, CR/LF/NUL, bytes that are not UTF-8, open-redirect attempts through
//! `Endpoint::handle`, a 10 MB body with 100,000 links, deep nesting, unterminated
//! comments — and rewriting a body twice, which must track nothing twice.
//!
//! Memory is measured, not guessed: a counting global allocator records the peak heap
//! growth of the calling thread while a rewrite runs.
// A global allocator is `unsafe impl` by definition; as in tests/alloc_*.rs, this test
// crate allows it (the library itself is `#![forbid(unsafe_code)]`).
#![allow(unsafe_code, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;

use common::{BASE, NOW, click_claims as claims, click_urls, pixels, tracker, verify};
use hashbeacon::rewrite::{
    Charset, HONEYPOT_LABEL, Message, Options, PixelPlacement, Recipient, SkipReason, Template, Utm,
    rewrite_html, rewrite_text,
};
use hashbeacon::sink::MemorySink;
use hashbeacon::{Claims, Endpoint, Kind, Request, Response, Rewritten};
use proptest::prelude::*;

const ORIGIN: &str = "https://t.example.com";
const MB: usize = 1 << 20;
const DEST: &str = "https://shop.example/sale?q=1";

// ---------------------------------------------------------------------------------
// Peak heap growth of the current thread.

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grow(by: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + by;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn size(layout: Layout) -> isize {
    isize::try_from(layout.size()).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are
// thread-local `Cell`s with const initializers, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(size(layout));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        grow(-size(layout));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grow(isize::try_from(new_size).unwrap_or(isize::MAX) - size(layout));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns the most its thread's heap grew meanwhile, in bytes.
fn peak_growth<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get) - start;
    (usize::try_from(peak).unwrap_or(0), out)
}

// ---------------------------------------------------------------------------------
// Fixtures.

fn endpoint() -> Endpoint<MemorySink> {
    Endpoint::new(tracker(), MemorySink::new()).with_rejected_events(true)
}

fn peer() -> IpAddr {
    "203.0.113.9".parse().unwrap()
}

/// The request target of a genuine click URL for `destination`.
fn click_target(destination: &str) -> String {
    let url = tracker().click_url(&claims(), destination).unwrap();
    url.strip_prefix(ORIGIN).unwrap().to_owned()
}

fn open_target() -> String {
    let claims = Claims {
        kind: Kind::Open,
        link: None,
        ..claims()
    };
    let url = tracker().open_url(&claims).unwrap();
    url.strip_prefix(ORIGIN).unwrap().to_owned()
}

fn handle(endpoint: &Endpoint<MemorySink>, method: &str, target: &str) -> Response {
    endpoint
        .handle(&Request::new(method, target, peer()), NOW + 60)
        .response
}

/// A 404 that says nothing and redirects nowhere.
fn assert_not_found(response: &Response) {
    assert_eq!(response.status, 404);
    assert_eq!(response.header("location"), None);
    assert_eq!(response.body, b"Not Found\n");
    assert_eq!(response.header("content-length"), Some("10"));
}

fn assert_pixel(response: &Response) {
    assert_eq!(response.status, 200);
    assert_eq!(response.body, hashbeacon::pixel::GIF);
    assert_eq!(response.header("content-type"), Some("image/gif"));
}

fn message() -> Message<'static> {
    Message::new("promo", Recipient::new(NOW))
}

fn html(options: &Options, body: &[u8]) -> Rewritten {
    rewrite_html(&tracker(), &message(), options, body).unwrap()
}

fn text(options: &Options, body: &[u8]) -> Rewritten {
    rewrite_text(&tracker(), &message(), options, body).unwrap()
}

/// How many links a rewrite left alone as already tracked.
fn already_tracked(out: &Rewritten) -> usize {
    out.report
        .skipped
        .iter()
        .filter(|link| link.reason == SkipReason::AlreadyTracked)
        .count()
}

// ---------------------------------------------------------------------------------
// The endpoint.

#[test]
fn a_megabyte_path_is_refused_cheaply() {
    let endpoint = endpoint();
    let huge = "A".repeat(MB);
    assert_not_found(&handle(&endpoint, "GET", &format!("/hb/c/{huge}?{DEST}")));
    assert_not_found(&handle(&endpoint, "GET", &format!("/{huge}")));
    let head = handle(&endpoint, "HEAD", &format!("/hb/c/1c.k1.{huge}"));
    assert_eq!(
        (head.status, head.body, head.header("content-length")),
        (404, &b""[..], Some("10"))
    );
    // The pixel answers whatever the token.
    assert_pixel(&handle(&endpoint, "GET", &format!("/hb/o/{huge}.gif")));
    // Rejected events carry the reason, never the megabyte.
    let events = endpoint.sink().take();
    assert!(!events.is_empty());
    assert!(format!("{events:?}").len() < 64 * 1024);
}

#[test]
fn a_megabyte_query_is_refused_cheaply() {
    let endpoint = endpoint();
    let target = click_target(DEST);
    let (path, _) = target.split_once('?').unwrap();
    let huge = format!("https://shop.example/?q={}", "a".repeat(MB));
    assert_not_found(&handle(&endpoint, "GET", &format!("{path}?{huge}")));
    // The genuine query followed by a megabyte of more query is not the signed one.
    assert_not_found(&handle(&endpoint, "GET", &format!("{target}&{}", "b".repeat(MB))));
    assert_pixel(&handle(&endpoint, "GET", &format!("{}?{huge}", open_target())));
}

#[test]
fn cr_lf_and_nul_in_path_or_query_never_reach_a_header() {
    let endpoint = endpoint();
    let target = click_target(DEST);
    let (path, query) = target.split_once('?').unwrap();
    for evil in [
        "\r\nSet-Cookie: a=b",
        "\n",
        "\r",
        "\0",
        "%0D%0ALocation:%20https://evil.example/",
    ] {
        assert_not_found(&handle(&endpoint, "GET", &format!("{path}?{query}{evil}")));
        assert_not_found(&handle(&endpoint, "GET", &format!("{path}{evil}?{query}")));
        assert_not_found(&handle(&endpoint, "GET", &format!("{path}?{evil}{query}")));
        // On the pixel's query the pixel still answers; on its path, it is no pixel URL.
        assert_pixel(&handle(&endpoint, "GET", &format!("{}?{evil}", open_target())));
        assert_not_found(&handle(&endpoint, "GET", &format!("{}{evil}", open_target())));
    }
    // The tracker refuses to sign a destination with control characters at all …
    assert!(
        tracker()
            .click_url(&claims(), "https://shop.example/\r\nSet-Cookie: a=b")
            .is_err()
    );
    // … and even a wire form signed with the raw key primitive, which signs anything,
    // redirects with the controls percent-encoded, never raw in the header.
    let key = tracker().keyring().signing_key().clone();
    for wire in [
        "https://shop.example/\r\nSet-Cookie:a=b",
        "https://shop.example/\0x",
    ] {
        let token = key.sign(&claims(), wire).unwrap();
        let response = handle(&endpoint, "GET", &format!("/hb/c/{token}?{wire}"));
        if let Some(location) = response.header("location") {
            assert!(location.bytes().all(|b| b.is_ascii_graphic()), "{location:?}");
        }
    }
}

#[test]
fn open_redirect_attempts_through_the_endpoint_get_a_404() {
    let endpoint = endpoint();
    let target = click_target(DEST);
    let (path, query) = target.split_once('?').unwrap();
    let other = click_target("https://other.example/");
    let (other_path, _) = other.split_once('?').unwrap();
    let attempts = [
        format!("{path}?https://evil.example/"),
        format!("{path}?{query}@evil.example"),
        format!("{path}?{query}/../../evil.example"),
        format!("{path}?https://shop.example%2F@evil.example/sale?q=1"),
        format!("{path}?https://shop.example.evil.example/sale?q=1"),
        format!("{path}?https://shop.ex%61mple/sale?q=1"),
        format!("{path}?https://shоp.example/sale?q=1"), // Cyrillic о
        format!("{path}?//evil.example/"),
        format!("{path}?javascript:alert(1)"),
        format!("{path}?{}", query.replace("https", "HTTPS")),
        format!("{path}//evil.example?{query}"),
        format!("{path}/..?{query}"),
        format!("/hb/c/../c/{}?{query}", path.trim_start_matches("/hb/c/")),
        format!("/HB/c/{}?{query}", path.trim_start_matches("/hb/c/")),
        format!("{other_path}?{query}"),
        path.to_owned(),
        format!("{path}?"),
        format!("{}?{query}", path.replacen("/c/", "/o/", 1)),
    ];
    for attempt in &attempts {
        for method in ["GET", "HEAD"] {
            let response = handle(&endpoint, method, attempt);
            assert_eq!(response.status, 404, "{method} {attempt}");
            assert_eq!(response.header("location"), None, "{method} {attempt}");
        }
    }
    // The genuine URL still redirects, to exactly its destination.
    let response = handle(&endpoint, "GET", &target);
    assert_eq!(response.header("location"), Some(DEST));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the query, a click redirects only to the destination that was signed.
    #[test]
    fn the_endpoint_never_redirects_to_an_unsigned_destination(
        query in "[ -~\\r\\n\\t\\u{80}-\\u{10FFFF}]{0,80}",
        method in prop::sample::select(vec!["GET", "HEAD"]),
    ) {
        let endpoint = endpoint();
        let target = click_target(DEST);
        let (path, signed) = target.split_once('?').unwrap();
        let response = handle(&endpoint, method, &format!("{path}?{query}"));
        if query == signed {
            prop_assert_eq!(response.header("location"), Some(DEST));
        } else {
            prop_assert_eq!(response.status, 404);
            prop_assert_eq!(response.header("location"), None);
        }
    }
}

#[test]
fn bytes_that_are_not_utf8_arrive_only_through_headers_and_change_nothing() {
    let endpoint = endpoint().with_trusted_proxy("10.0.0.0/8".parse().unwrap());
    // The http crate refuses a URI that is not UTF-8: it never reaches the endpoint.
    assert!(http::Uri::try_from(&b"/hb/c/\xff\xfe?https://x.example/"[..]).is_err());
    assert!(http::Uri::try_from(&b"/hb/c/x?https://x.example/\xc3"[..]).is_err());
    // Header values may hold any byte but controls; the response never depends on them.
    let odd = http::HeaderValue::from_bytes(b"Mozilla/5.0 \xff\xfe\x80 caf\xc3").unwrap();
    let target = click_target(DEST);
    let open = open_target();
    let mut responses = Vec::new();
    for uri in [target.as_str(), open.as_str(), "/hb/c/nope?https://evil.example/"] {
        let request = http::Request::get(uri)
            .header("user-agent", odd.clone())
            .header("forwarded", odd.clone())
            .header("x-forwarded-for", odd.clone())
            .body(())
            .unwrap();
        let view = Request::from_http(&request, "10.0.0.1".parse().unwrap());
        assert_eq!(view.user_agent, None, "a user agent that is not text is absent");
        let response = endpoint.handle(&view, NOW + 60).response;
        let converted = response.clone().into_http();
        assert_eq!(converted.headers().len(), response.headers.len());
        responses.push((uri, response));
    }
    // A forwarding hop written in bytes that are not text ends the trusted-proxy walk:
    // the event has no client address rather than a guess.
    let events = endpoint.sink().take();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|event| event.client_ip.is_none()), "{events:?}");
    // The responses are those of the same requests without the odd headers.
    for (uri, response) in responses {
        assert_eq!(response, handle(&endpoint, "GET", uri), "{uri}");
    }
    // Raw UTF-8 in a URI is allowed by the http crate; it is not the signed wire form.
    let raw = http::Request::get(format!("{target}ü")).body(()).unwrap();
    assert_not_found(&endpoint.handle(&Request::from_http(&raw, peer()), NOW).response);
}

// ---------------------------------------------------------------------------------
// The rewriter.

/// A body of `links` paragraphs with one link each, padded to about `bytes`.
fn big_body(links: usize, bytes: usize) -> Vec<u8> {
    let mut body = b"<html><body>\n".to_vec();
    for i in 0..links {
        let link = format!("<p><a href=\"https://shop.example/p/{i}?a=1&amp;b=2\">");
        body.extend_from_slice(link.as_bytes());
        let pad = (bytes / links.max(1)).saturating_sub(link.len() + 9);
        body.extend(std::iter::repeat_n(b'x', pad));
        body.extend_from_slice(b"</a></p>\n");
    }
    body.extend_from_slice(b"</body></html>\n");
    body
}

/// Output and peak heap growth stay linear: each link adds one click URL (at most the
/// URL limit plus its escaping), the body is copied once into the output.
fn assert_linear(input: &[u8], out: &Rewritten, peak: usize) {
    let links = out.report.tracked.len();
    assert!(
        out.body.len() <= input.len() + links * 200 + 1024,
        "{}",
        out.body.len()
    );
    // The input is borrowed; the output, its reserve and the per-link pieces (prepared
    // MAC state, spans, report entry: about 1.3 KiB measured) are the heap: at most
    // three bodies' worth plus a bounded amount per link.
    let bound = 3 * input.len() + links * 2048 + 4 * MB;
    assert!(peak <= bound, "peak heap growth {peak} > {bound}");
}

/// 100,000 links in a 10 MB body: every link tracked, output and memory linear.
/// (About 2.5 s in a debug build here, peak RSS about 120 MB.)
#[test]
fn a_hundred_thousand_links_in_ten_megabytes() {
    rewrite_many_links(100_000, 10 * MB);
}

fn rewrite_many_links(links: usize, bytes: usize) {
    let input = big_body(links, bytes);
    assert!(input.len() >= bytes * 9 / 10);
    let (peak, out) = peak_growth(|| html(&Options::default(), &input));
    assert_eq!(out.report.tracked.len(), links);
    assert_eq!(
        out.report.tracked[links - 1].destination,
        format!("https://shop.example/p/{}?a=1&b=2", links - 1)
    );
    assert_linear(&input, &out, peak);
    assert_eq!(pixels(std::str::from_utf8(&out.body).unwrap()), 1);
}

#[test]
fn ten_megabytes_without_links_are_copied_through() {
    let mut input = b"<html><body>".to_vec();
    input.extend(std::iter::repeat_n(b"<p>plain text &amp; more</p>\n".as_slice(), 10 * MB / 30).flatten());
    input.extend_from_slice(b"</body></html>");
    let (peak, out) = peak_growth(|| html(&Options::default(), &input));
    assert_eq!(out.report.tracked.len(), 0);
    assert!(out.report.pixel);
    assert_linear(&input, &out, peak);
    // The input up to `</body></html>`, then the pixel, then those 14 bytes.
    assert_eq!(&out.body[..input.len() - 14], &input[..input.len() - 14]);
    assert!(out.body.ends_with(b"\"></body></html>"));
    assert!(out.body.len() - input.len() < 400);
}

#[test]
fn deeply_nested_elements_and_links() {
    const DEPTH: usize = 100_000;
    let mut divs = "<body>".to_owned();
    divs.push_str(&"<div>".repeat(DEPTH));
    divs.push_str("<a href=\"https://deep.example/\">deep</a>");
    divs.push_str(&"</div>".repeat(DEPTH));
    let out = html(&Options::default(), divs.as_bytes());
    assert_eq!(out.report.tracked.len(), 1);
    assert!(out.report.pixel);

    // Nested (unclosed) links: each start tag is a link of its own.
    let mut anchors = String::new();
    for i in 0..1000 {
        anchors.push_str(&format!("<a href=\"https://n.example/{i}\">"));
    }
    anchors.push_str(&"<span><b>".repeat(DEPTH / 10));
    let (peak, out) = peak_growth(|| html(&Options::default(), anchors.as_bytes()));
    assert_eq!(out.report.tracked.len(), 1000);
    assert_linear(anchors.as_bytes(), &out, peak);
    let body = String::from_utf8(out.body).unwrap();
    assert_eq!(click_urls(&body).len(), 1000);
}

#[test]
fn malformed_html_never_panics_and_keeps_its_bytes() {
    let cases: [&[u8]; 10] = [
        b"<a href=\"https://a.example/",
        b"<a href='https://a.example/'",
        b"<a href=https://a.example/",
        b"<a href",
        b"<a href=",
        b"</a></a></body></body></html><a href=\"https://late.example/\">",
        b"<<a href=\"https://a.example/\">>>",
        b"<a href=\"https://a.example/\" href=\"https://b.example/\">twice</a>",
        b"<!DOCTYPE<a href=\"https://a.example/\"><![CDATA[<a href=\"https://c.example/\">]]>",
        b"<svg><a href=\"https://svg.example/\"/></svg><math><a href=\"https://m.example/\"></math>",
    ];
    for case in cases {
        let out = html(&Options::default(), case);
        // Every tracked link verifies, and nothing but links and the pixel changed.
        let body = String::from_utf8(out.body.clone()).unwrap();
        let found = click_urls(&body);
        assert_eq!(
            found.len(),
            out.report.tracked.len(),
            "{}",
            String::from_utf8_lossy(case)
        );
        for (link, tracked) in found.iter().zip(&out.report.tracked) {
            assert_eq!(verify(&tracker(), &link.url).0, tracked.destination);
        }
    }
}

#[test]
fn unterminated_comments_hide_their_links() {
    // An unterminated comment runs to the end: its links are not links.
    let out = html(
        &Options::default(),
        b"<a href=\"https://seen.example/\">x</a><!-- <a href=\"https://hidden.example/\">",
    );
    let tracked = common::tracked(&out);
    assert_eq!(tracked, ["https://seen.example/"]);
    // An unterminated conditional comment is still Outlook's markup.
    let out = html(
        &Options::default(),
        b"<!--[if mso]><v:roundrect href=\"https://button.example/\">Go</v:roundrect>",
    );
    for link in &out.report.tracked {
        assert_eq!(link.destination, "https://button.example/");
    }
    let body = String::from_utf8(out.body).unwrap();
    assert_eq!(click_urls(&body).len(), out.report.tracked.len());
    // Neither a stray `-->` nor `<![endif]-->` outside a comment confuses anything.
    let out = html(
        &Options::default(),
        b"--><![endif]--><a href=\"https://after.example/\">a</a><!--[if !mso]><!-->x<!--<![endif]-->",
    );
    assert_eq!(out.report.tracked.len(), 1);
}

#[test]
fn invalid_utf8_and_nul_bytes_in_a_utf8_body() {
    let input = b"\xff\xfe<p>caf\xe9 \x00</p><a href=\"https://bad.example/\xff\">bad</a>\
                  <a href=\"https://nul.example/\x00x\">nul</a><a href=\"https://ok.example/\">ok</a>\xc3";
    // Said to be UTF-8: without that, the leading FF FE would be read as the byte
    // order mark of UTF-16, which cannot be rewritten.
    let mut utf8 = Options::default();
    utf8.charset = Some(Charset::utf_8());
    let out = html(&utf8, input);
    let tracked = common::tracked(&out);
    assert_eq!(tracked, ["https://ok.example/"]);
    let reasons: Vec<_> = out.report.skipped.iter().map(|l| l.reason.clone()).collect();
    assert_eq!(reasons[0], SkipReason::Encoding);
    assert!(matches!(reasons[1], SkipReason::Invalid(_)), "{reasons:?}");
    // The invalid bytes around the links are the input's, byte for byte.
    assert!(
        out.body
            .starts_with(b"\xff\xfe<p>caf\xe9 \x00</p><a href=\"https://bad.example/\xff\">")
    );
    assert!(out.body.windows(10).any(|w| w == b"</a>\xc3<img "));

    // Plain text: a URL ends at a NUL or an invalid byte; the bytes stay.
    let input = b"see https://a.example/x\x00y and https://b.example/\xff\xfe and \xc3 https://c.example/";
    let out = text(&Options::default(), input);
    let tracked = common::tracked(&out);
    assert_eq!(tracked, ["https://a.example/x", "https://c.example/"]);
    assert_eq!(out.report.skipped[0].reason, SkipReason::Encoding);
    let body = out.body;
    assert!(body.windows(3).any(|w| w == b"\x00y "));
    assert!(body.windows(4).any(|w| w == b"\xff\xfe a"));
}

#[test]
fn a_large_text_part_with_many_urls() {
    let mut input = Vec::new();
    for i in 0..10_000 {
        input.extend_from_slice(format!("Item {i}: https://shop.example/p/{i}?a=1&b=2.\r\n").as_bytes());
    }
    let (peak, out) = peak_growth(|| text(&Options::default(), &input));
    assert_eq!(out.report.tracked.len(), 10_000);
    assert_linear(&input, &out, peak);
}

// ---------------------------------------------------------------------------------
// Scans that must stay linear: a megabyte of one pattern each. Quadratic scans took
// minutes on these (18.7 s for 200 KiB of `)`, 2.5 s for 199 KiB of `<!--[if`); linear
// ones take milliseconds, so 30 s is two orders of magnitude from both.

const LINEAR_BOUND: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs `f` and asserts it returned within [`LINEAR_BOUND`].
fn within_bound<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < LINEAR_BOUND, "{what} took {took:?}");
    out
}

/// `prefix`, then `pattern` repeated to a megabyte, then `suffix`.
fn megabyte_of(prefix: &str, pattern: &str, suffix: &str) -> Vec<u8> {
    let mut body = prefix.as_bytes().to_vec();
    body.extend(std::iter::repeat_n(pattern.as_bytes(), MB / pattern.len()).flatten());
    body.extend_from_slice(suffix.as_bytes());
    body
}

#[test]
fn a_megabyte_of_closing_brackets_after_a_url_is_trimmed_in_linear_time() {
    for closer in [")", "]", ").", "]?"] {
        let input = megabyte_of("See https://x.example/a", closer, "\n");
        let out = within_bound(closer, || text(&Options::default(), &input));
        assert!(
            common::tracked(&out) == ["https://x.example/a"],
            "{closer}: the URL without them"
        );
        // Everything after the URL is the input's, byte for byte.
        assert!(out.body.ends_with(&input[23..]), "{closer}");
    }
    // Brackets opened in the URL keep as many closers, however many trail it.
    let url = format!("https://x.example/{}{}", "(".repeat(400), ")".repeat(400));
    let input = megabyte_of(&url, ")", "");
    let out = within_bound("balanced", || text(&Options::default(), &input));
    assert!(
        common::tracked(&out) == [url.as_str()],
        "the balanced URL is tracked whole"
    );
}

#[test]
fn a_megabyte_of_unclosed_conditional_comments_is_scanned_in_linear_time() {
    for (pattern, suffix, tracked) in [
        ("<!--[if", "", 0),
        ("<!--[if mso]>", "", 0),
        // The one link at the end is inside the first (unclosed) conditional comment,
        // which Outlook renders: tracked.
        ("<!--[if mso]><v:rect ", "<a href=\"https://a.example/\">", 1),
        // Closed comments, each holding an `href`, then a real link.
        (
            "<!--[if mso]><b href>x<![endif]-->",
            "<a href=\"https://a.example/\">",
            1,
        ),
    ] {
        let input = megabyte_of("<html><body>", pattern, suffix);
        let out = within_bound(pattern, || html(&Options::default(), &input));
        assert_eq!(out.report.tracked.len(), tracked, "{pattern}");
    }
}

/// A link's text, searched for unsubscribe wording, ends where the next link starts
/// (a start tag of `<a>` closes an open one): unclosed links one after another are not
/// each read on to the first `</a>`, and one link's wording is not another's.
#[test]
fn a_links_text_ends_where_the_next_link_starts() {
    let body = b"<body><a href=https://a.example/1>Shop<a href=https://a.example/2>Unsubscribe</a>";
    let out = html(&Options::default(), body);
    assert_eq!(common::tracked(&out), ["https://a.example/1"]);
    assert_eq!(out.report.skipped[0].reason, SkipReason::Unsubscribe);
    // Inside a conditional comment too.
    let body = b"<body><!--[if mso]><a href=https://a.example/1>Shop<a href=https://a.example/2>Unsubscribe</a><![endif]-->";
    let out = html(&Options::default(), body);
    assert_eq!(common::tracked(&out), ["https://a.example/1"]);
}

// ---------------------------------------------------------------------------------
// Rewriting twice.

/// An email with something of everything the rewriter touches.
const EMAIL: &str = r##"<html><head><title>Sale</title></head>
<body><!-- hashbeacon:pixel -->
<p><a href="https://shop.example/?a=1&amp;b=2" data-hb-link="cta">Shop</a>
<a href=https://unquoted.example/x>unquoted</a>
<a href='https://single.example/?q="x"'>single</a></p>
<map><area href="https://map.example/area" alt="area"></map>
<!--[if mso]><v:roundrect href="https://button.example/go">Go</v:roundrect><![endif]-->
<a href="mailto:help@shop.example">Help</a> <a href="#top">Top</a>
<a href="https://shop.example/unsubscribe?u=1">Unsubscribe</a>
<a href="https://optout.example/" clicktracking="off">not tracked</a>
<a href="{{view_online}}">online</a>
</body></html>
"##;

fn all_option_sets() -> Vec<Options> {
    let mut sets = Vec::new();
    for pixel in [
        PixelPlacement::Bottom,
        PixelPlacement::Top,
        PixelPlacement::Placeholder,
    ] {
        for (honeypot, utm, opens) in [(false, false, true), (true, true, true), (true, false, false)] {
            let mut options = Options::default();
            options.pixel = pixel;
            options.honeypot = honeypot;
            options.opens = opens;
            options.utm = utm.then(|| Utm::new("news"));
            sets.push(options);
        }
    }
    sets
}

#[test]
fn rewriting_html_twice_changes_nothing() {
    for options in all_option_sets() {
        let first = html(&options, EMAIL.as_bytes());
        assert_eq!(first.report.tracked.len(), 5, "{options:?}");
        assert_eq!(first.report.pixel, options.opens);
        let second = html(&options, &first.body);
        assert_eq!(
            String::from_utf8_lossy(&second.body),
            String::from_utf8_lossy(&first.body),
            "{options:?}"
        );
        assert!(second.report.tracked.is_empty());
        assert!(!second.report.pixel && !second.report.honeypot);
        assert!(
            second.report.warnings().is_empty(),
            "{:?}",
            second.report.warnings()
        );
        let already = already_tracked(&second);
        assert_eq!(already, 5 + usize::from(first.report.honeypot), "{options:?}");
        // The compiled path agrees.
        let template = Template::html(&tracker(), "promo", &options, &first.body).unwrap();
        assert_eq!(template.render(&Recipient::new(NOW)).unwrap().body, first.body);
        // And a third time, in another charset, still nothing.
        let mut latin = options.clone();
        latin.charset = Some(Charset::windows_1252());
        assert_eq!(html(&latin, &first.body).body, first.body);
    }
}

#[test]
fn rewriting_text_twice_changes_nothing() {
    let input = "Shop: https://shop.example/?a=1&b=2.\n(https://paren.example/x) <https://angle.example/>\n\
                 To unsubscribe: https://shop.example/u?id=1\nhttps://en.wikipedia.org/wiki/Rust_(language),\n";
    for utm in [false, true] {
        let mut options = Options::default();
        options.utm = utm.then(|| Utm::new("news"));
        let first = text(&options, input.as_bytes());
        assert_eq!(first.report.tracked.len(), 4);
        let second = text(&options, &first.body);
        assert_eq!(
            String::from_utf8_lossy(&second.body),
            String::from_utf8_lossy(&first.body)
        );
        assert!(second.report.tracked.is_empty());
        assert_eq!(already_tracked(&second), 4);
    }
}

#[test]
fn links_to_the_tracking_base_are_left_alone_in_any_case_of_scheme_and_host() {
    let click = format!(
        "{}?https://a.example/",
        click_target("https://a.example/").split_once('?').unwrap().0
    );
    let pixel = open_target();
    let input = format!(
        "<a href=\"HTTPS://T.EXAMPLE.COM{click}\">upper</a>\
         <a href=\"{ORIGIN}{pixel}\">pixel as a link</a>\
         <a href=\"{BASE}/privacy\">privacy page</a>\
         <a href=\"https://t.example.com/HB/c/x?https://a.example/\">other path</a>\
         <a href=\"https://a.example/?next={BASE}/c/x\">mentions it</a>"
    );
    let mut options = Options::default();
    options.opens = false;
    let out = html(&options, input.as_bytes());
    let reasons: Vec<_> = out
        .report
        .skipped
        .iter()
        .map(|l| (l.href.as_str(), l.reason.clone()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .all(|(_, reason)| *reason == SkipReason::AlreadyTracked)
    );
    let tracked: Vec<_> = out.report.tracked.iter().map(|l| l.destination.clone()).collect();
    assert_eq!(
        tracked,
        [
            format!("{BASE}/privacy"),
            "https://t.example.com/HB/c/x?https://a.example/".to_owned(),
            format!("https://a.example/?next={BASE}/c/x"),
        ]
    );
    // In text too.
    let out = text(
        &Options::default(),
        format!("{ORIGIN}{click} and {BASE}/privacy").as_bytes(),
    );
    assert_eq!(out.report.skipped[0].reason, SkipReason::AlreadyTracked);
    assert_eq!(out.report.tracked.len(), 1);
}

#[test]
fn an_existing_pixel_or_honeypot_is_not_inserted_again() {
    let mut options = Options::default();
    options.honeypot = true;
    let first = html(&options, b"<body><a href=\"https://a.example/\">a</a></body>");
    assert!(first.report.pixel && first.report.honeypot);
    let body = String::from_utf8(first.body.clone()).unwrap();
    assert_eq!(pixels(&body), 1);
    assert_eq!(body.matches(&format!(".{HONEYPOT_LABEL}.")).count(), 1);
    // Pasted into another message of the same campaign: still one of each.
    let pasted = format!("<body><p>Intro</p>{}</body>", &body[6..body.len() - 7]);
    let again = html(&options, pasted.as_bytes());
    assert!(!again.report.pixel && !again.report.honeypot);
    let again = String::from_utf8(again.body).unwrap();
    assert_eq!(pixels(&again), 1);
    assert_eq!(again.matches(&format!(".{HONEYPOT_LABEL}.")).count(), 1);
    // Another tracker's pixel is no reason to leave ours out.
    let foreign = b"<body><img src=\"https://other.example/hb/o/1o.k1.x...1..t.gif\"></body>";
    assert!(html(&options, foreign).report.pixel);
}
