//! The response as plain data, and the few responses the endpoint gives.

use std::borrow::Cow;

use crate::event::SinkError;
use crate::method::Method;
use crate::pixel;

/// `Cache-Control` of redirects and errors: never reuse, never share. A cached
/// redirect would hide every later click from the endpoint.
const NO_STORE: &str = "no-store, private";
/// `Cache-Control` of the pixel: as [`NO_STORE`], plus `max-age=0` for the image caches
/// of mail clients and proxies that only look at `max-age`.
const NO_STORE_PIXEL: &str = "no-store, private, max-age=0";
/// `Referrer-Policy` of redirects. A browser applies a redirect's policy to the
/// request that follows it, so this decides what the destination learns of where
/// the reader came from: with `no-referrer`, nothing. The referrer of a click in
/// webmail is the mailbox URL, which can carry message and account ids; the
/// destination learns the campaign from the link itself (its own query or UTM tags),
/// so nothing it needs is lost.
const REFERRER_POLICY: &str = "no-referrer";

const NOT_FOUND_BODY: &[u8] = b"Not Found\n";
const NOT_FOUND_LEN: &str = "10";
const NOT_ALLOWED_BODY: &[u8] = b"Method Not Allowed\n";
const NOT_ALLOWED_LEN: &str = "19";
const BAD_REQUEST_BODY: &[u8] = b"Bad Request\n";
const BAD_REQUEST_LEN: &str = "12";
const TOO_LARGE_BODY: &[u8] = b"Payload Too Large\n";
const TOO_LARGE_LEN: &str = "18";
const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const TEXT_HTML: &str = "text/html; charset=utf-8";
/// What the unsubscribe pages may do: nothing but post their own form back.
const PAGE_POLICY: &str = "default-src 'none'; form-action 'self'; frame-ancestors 'none'";

/// The answer to a `GET` of an unsubscribe URL: a form that posts the one-click body
/// back to the same URL (a form without `action` posts to its page's URL). Fetching
/// it unsubscribes no one: link scanners and previews fetch every URL they see.
const CONFIRM_PAGE: &[u8] = b"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\"><title>Unsubscribe</title></head>\n\
<body><form method=\"post\"><p>Stop receiving these emails?</p>\
<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
<button type=\"submit\">Unsubscribe</button></form></body></html>\n";
const CONFIRM_PAGE_LEN: &str = "388";
/// The answer to an accepted one-click `POST`.
const DONE_PAGE: &[u8] = b"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\"><title>Unsubscribed</title></head>\n\
<body><p>You are unsubscribed.</p></body></html>\n";
const DONE_PAGE_LEN: &str = "250";

/// The redirect status for clicks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RedirectStatus {
    /// 302 Found (the default): understood by every client, never cached when marked
    /// `no-store`.
    #[default]
    Found,
    /// 301 Moved Permanently. Browsers may cache it despite `no-store`, hiding repeat
    /// clicks; use only when that is wanted.
    MovedPermanently,
    /// 303 See Other.
    SeeOther,
    /// 307 Temporary Redirect.
    TemporaryRedirect,
}

impl RedirectStatus {
    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            RedirectStatus::Found => 302,
            RedirectStatus::MovedPermanently => 301,
            RedirectStatus::SeeOther => 303,
            RedirectStatus::TemporaryRedirect => 307,
        }
    }
}

/// A header every response of one shape has.
#[derive(PartialEq, Eq)]
pub(crate) struct FixedHeader {
    name: &'static str,
    value: &'static str,
    /// The same header as the `http` crate's types, built and checked at compile
    /// time: converting a response then parses and checks nothing of it.
    #[cfg(feature = "http")]
    http: (http::HeaderName, http::HeaderValue),
}

impl FixedHeader {
    /// Every use is evaluated at compile time, in a `static`: a name or value that is
    /// not valid HTTP fails the build.
    const fn new(name: &'static str, value: &'static str) -> Self {
        Self {
            name,
            value,
            #[cfg(feature = "http")]
            http: (
                http::HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            ),
        }
    }

    /// The `http` crate's form of the header.
    #[cfg(feature = "http")]
    pub(crate) fn http(&self) -> (http::HeaderName, http::HeaderValue) {
        self.http.clone()
    }
}

impl std::fmt::Debug for FixedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (self.name, self.value).fmt(f)
    }
}

/// The headers every response of one shape shares, written once as static data.
type Fixed = &'static [FixedHeader];

static REDIRECT_HEADERS: [FixedHeader; 3] = [
    CACHE_NO_STORE,
    FixedHeader::new("referrer-policy", REFERRER_POLICY),
    FixedHeader::new("content-length", "0"),
];
static PIXEL_HEADERS: [FixedHeader; 3] = [
    FixedHeader::new("content-type", "image/gif"),
    FixedHeader::new("cache-control", NO_STORE_PIXEL),
    FixedHeader::new("content-length", pixel::GIF_LEN_TEXT),
];
static NOT_FOUND_HEADERS: [FixedHeader; 3] = plain_text(NOT_FOUND_LEN);
/// 405 on a click or open URL, which answer `GET` and `HEAD`.
pub(crate) static TRACKING_NOT_ALLOWED: [FixedHeader; 4] = not_allowed("GET, HEAD");
/// 405 on an unsubscribe URL, which also answers `POST`.
pub(crate) static UNSUBSCRIBE_NOT_ALLOWED: [FixedHeader; 4] = not_allowed("GET, HEAD, POST");
static BAD_REQUEST_HEADERS: [FixedHeader; 3] = plain_text(BAD_REQUEST_LEN);
static TOO_LARGE_HEADERS: [FixedHeader; 3] = plain_text(TOO_LARGE_LEN);
static CONFIRM_PAGE_HEADERS: [FixedHeader; 5] = page(CONFIRM_PAGE_LEN);
static DONE_PAGE_HEADERS: [FixedHeader; 5] = page(DONE_PAGE_LEN);

/// `content-type` of the plain-text answers.
const TEXT_PLAIN_TYPE: FixedHeader = FixedHeader::new("content-type", TEXT_PLAIN);
/// `cache-control` of every answer but the pixel's.
const CACHE_NO_STORE: FixedHeader = FixedHeader::new("cache-control", NO_STORE);

/// The headers of a one-line plain-text answer of `content_length` bytes.
const fn plain_text(content_length: &'static str) -> [FixedHeader; 3] {
    [
        TEXT_PLAIN_TYPE,
        CACHE_NO_STORE,
        FixedHeader::new("content-length", content_length),
    ]
}

/// The headers of a 405: the methods it answers, then those of [`plain_text`].
const fn not_allowed(allow: &'static str) -> [FixedHeader; 4] {
    [
        FixedHeader::new("allow", allow),
        TEXT_PLAIN_TYPE,
        CACHE_NO_STORE,
        FixedHeader::new("content-length", NOT_ALLOWED_LEN),
    ]
}

/// The unsubscribe pages' headers; the URL carries the token, so never hand it on.
const fn page(content_length: &'static str) -> [FixedHeader; 5] {
    [
        FixedHeader::new("content-type", TEXT_HTML),
        CACHE_NO_STORE,
        FixedHeader::new("referrer-policy", REFERRER_POLICY),
        FixedHeader::new("content-security-policy", PAGE_POLICY),
        FixedHeader::new("content-length", content_length),
    ]
}

/// A response's headers: the `Location` of a redirect, the headers its shape always
/// has (static data, so building a response allocates nothing but the `Location`), and
/// any the host adds with [`Headers::push`].
///
/// Names are lowercase. Iterating yields `(name, value)` pairs in order: `location`
/// first, then the fixed headers, then the added ones.
///
/// ```
/// # use hashbeacon::{Endpoint, Key, KeyId, Request, Tracker, sink::MemorySink};
/// # let tracker = Tracker::new(Key::new(KeyId::new("k1")?, &[7u8; 32])?.into(), "https://t.example")?;
/// # let endpoint = Endpoint::new(tracker, MemorySink::new());
/// let mut response = endpoint.handle(&Request::new("GET", "/o/bad.gif", "192.0.2.1".parse()?), 0).response;
/// response.headers.push(("x-served-by", "node-3".into()));
/// let names: Vec<&str> = response.headers.iter().map(|(name, _)| name).collect();
/// assert_eq!(names, ["content-type", "cache-control", "content-length", "x-served-by"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    location: Option<String>,
    fixed: Fixed,
    added: Vec<(&'static str, Cow<'static, str>)>,
}

impl Headers {
    fn new(location: Option<String>, fixed: Fixed) -> Self {
        Self {
            location,
            fixed,
            added: Vec::new(),
        }
    }

    /// Adds a `(name, value)` header (name in lowercase), after the ones the endpoint
    /// set.
    pub fn push(&mut self, header: (&'static str, Cow<'static, str>)) {
        self.added.push(header);
    }

    /// The `(name, value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let location = self.location.as_deref().map(|value| ("location", value));
        location
            .into_iter()
            .chain(self.fixed.iter().map(|header| (header.name, header.value)))
            .chain(self.added.iter().map(|(name, value)| (*name, value.as_ref())))
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        usize::from(self.location.is_some()) + self.fixed.len() + self.added.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first value of a header, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }
}

/// A response's headers taken apart: the `Location`, the fixed ones, the added ones.
#[cfg(feature = "http")]
pub(crate) type HeaderParts = (Option<String>, Fixed, Vec<(&'static str, Cow<'static, str>)>);

#[cfg(feature = "http")]
impl Headers {
    /// The headers taken apart, for [`Response::into_http`].
    pub(crate) fn into_parts(self) -> HeaderParts {
        (self.location, self.fixed, self.added)
    }
}

impl IntoIterator for Headers {
    type Item = (&'static str, Cow<'static, str>);
    type IntoIter = IntoIter;

    /// Moves the headers out: the `Location` owned, the fixed ones borrowed from static
    /// data.
    fn into_iter(self) -> IntoIter {
        IntoIter {
            location: self.location,
            fixed: self.fixed.iter(),
            added: self.added.into_iter(),
        }
    }
}

/// The owning iterator over [`Headers`].
#[derive(Debug)]
pub struct IntoIter {
    location: Option<String>,
    fixed: std::slice::Iter<'static, FixedHeader>,
    added: std::vec::IntoIter<(&'static str, Cow<'static, str>)>,
}

impl Iterator for IntoIter {
    type Item = (&'static str, Cow<'static, str>);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(location) = self.location.take() {
            return Some(("location", Cow::Owned(location)));
        }
        match self.fixed.next() {
            Some(header) => Some((header.name, Cow::Borrowed(header.value))),
            None => self.added.next(),
        }
    }
}

/// An HTTP response as plain data, for the host to write.
///
/// The body is always a static byte string: the pixel, a one-line error, an
/// unsubscribe page, or nothing. No response sets a cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names in lowercase.
    pub headers: Headers,
    /// The body; empty for `HEAD` and redirects.
    pub body: &'static [u8],
}

impl Response {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// A redirect to `location`.
    pub(crate) fn redirect(status: RedirectStatus, location: String) -> Self {
        Self {
            status: status.code(),
            headers: Headers::new(Some(location), &REDIRECT_HEADERS),
            body: b"",
        }
    }

    /// The pixel; headers only for `HEAD`.
    pub(crate) fn pixel(method: Method) -> Self {
        Self::with_body(200, method, &PIXEL_HEADERS, pixel::GIF)
    }

    /// 404 with a short body and no detail.
    pub(crate) fn not_found(method: Option<Method>) -> Self {
        Self::with_body(
            404,
            method.unwrap_or(Method::Get),
            &NOT_FOUND_HEADERS,
            NOT_FOUND_BODY,
        )
    }

    /// 405 for a method the route does not answer: [`TRACKING_NOT_ALLOWED`] or
    /// [`UNSUBSCRIBE_NOT_ALLOWED`], whose `Allow` lists the methods it does.
    pub(crate) fn method_not_allowed(allow: Fixed) -> Self {
        Self {
            status: 405,
            headers: Headers::new(None, allow),
            body: NOT_ALLOWED_BODY,
        }
    }

    /// 400: a `POST` whose body is not the one-click form field.
    pub(crate) fn bad_request() -> Self {
        Self::with_body(400, Method::Post, &BAD_REQUEST_HEADERS, BAD_REQUEST_BODY)
    }

    /// 413: a `POST` body longer than [`crate::endpoint::MAX_BODY_LEN`].
    pub(crate) fn payload_too_large() -> Self {
        Self::with_body(413, Method::Post, &TOO_LARGE_HEADERS, TOO_LARGE_BODY)
    }

    /// 200 with the page that asks to confirm an unsubscribe; headers only for `HEAD`.
    pub(crate) fn unsubscribe_page(method: Method) -> Self {
        Self::with_body(200, method, &CONFIRM_PAGE_HEADERS, CONFIRM_PAGE)
    }

    /// 200 with the page saying the unsubscribe was taken (never a redirect: RFC 8058
    /// clients do not follow one).
    pub(crate) fn unsubscribed() -> Self {
        Self::with_body(200, Method::Post, &DONE_PAGE_HEADERS, DONE_PAGE)
    }

    fn with_body(status: u16, method: Method, fixed: Fixed, body: &'static [u8]) -> Self {
        Self {
            status,
            headers: Headers::new(None, fixed),
            // HEAD: the same headers, Content-Length included, and no body (RFC 9110 §9.3.2).
            body: if method == Method::Head { b"" } else { body },
        }
    }
}

/// What [`crate::Endpoint::handle`] returns: the response to write, and the sink's
/// error if the event could not be handed off.
#[derive(Debug)]
#[non_exhaustive]
pub struct Handled {
    /// The response. Always complete, whatever the sink did.
    pub response: Response,
    /// The sink's failure, carrying the events it could not take. Log or retry them;
    /// the response does not depend on it.
    pub sink_error: Option<SinkError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table of fixed headers.
    fn fixed_tables() -> [Fixed; 9] {
        [
            &REDIRECT_HEADERS,
            &PIXEL_HEADERS,
            &NOT_FOUND_HEADERS,
            &TRACKING_NOT_ALLOWED,
            &UNSUBSCRIBE_NOT_ALLOWED,
            &BAD_REQUEST_HEADERS,
            &TOO_LARGE_HEADERS,
            &CONFIRM_PAGE_HEADERS,
            &DONE_PAGE_HEADERS,
        ]
    }

    #[cfg(feature = "http")]
    #[test]
    fn fixed_headers_convert_to_what_they_read() {
        for header in fixed_tables().into_iter().flatten() {
            let (name, value) = header.http();
            assert_eq!(name.as_str(), header.name);
            assert_eq!(value.to_str().ok(), Some(header.value));
        }
    }

    #[test]
    fn fixed_header_names_are_lowercase() {
        for header in fixed_tables().into_iter().flatten() {
            assert_eq!(header.name, header.name.to_ascii_lowercase());
        }
    }

    #[test]
    fn content_lengths_match_bodies() {
        assert_eq!(NOT_FOUND_LEN, NOT_FOUND_BODY.len().to_string());
        assert_eq!(NOT_ALLOWED_LEN, NOT_ALLOWED_BODY.len().to_string());
        assert_eq!(BAD_REQUEST_LEN, BAD_REQUEST_BODY.len().to_string());
        assert_eq!(TOO_LARGE_LEN, TOO_LARGE_BODY.len().to_string());
        assert_eq!(CONFIRM_PAGE_LEN, CONFIRM_PAGE.len().to_string());
        assert_eq!(DONE_PAGE_LEN, DONE_PAGE.len().to_string());
    }

    #[test]
    fn the_confirmation_page_posts_the_one_click_field_to_itself() {
        let page = std::str::from_utf8(CONFIRM_PAGE).unwrap();
        assert!(
            page.contains(r#"<form method="post">"#),
            "no action: posts to its own URL"
        );
        assert!(page.contains(r#"name="List-Unsubscribe" value="One-Click""#));
        assert!(!page.contains("action="));
    }
}
