//! The response as plain data, and the few responses the endpoint gives.

use std::borrow::Cow;

use crate::endpoint::Method;
use crate::event::SinkError;
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

/// The methods tracking URLs answer.
pub(crate) const TRACKING_METHODS: &str = "GET, HEAD";
/// The methods unsubscribe URLs answer.
pub(crate) const UNSUBSCRIBE_METHODS: &str = "GET, HEAD, POST";

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

/// An HTTP response as plain data, for the host to write.
///
/// Header names are lowercase. The body is always a static byte string: the pixel, a
/// one-line error, an unsubscribe page, or nothing. No response sets a cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    /// The body; empty for `HEAD` and redirects.
    pub body: &'static [u8],
}

impl Response {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_ref())
    }

    /// A redirect to `location`.
    pub(crate) fn redirect(status: RedirectStatus, location: String) -> Self {
        Self {
            status: status.code(),
            headers: vec![
                ("location", Cow::Owned(location)),
                ("cache-control", Cow::Borrowed(NO_STORE)),
                ("referrer-policy", Cow::Borrowed(REFERRER_POLICY)),
                ("content-length", Cow::Borrowed("0")),
            ],
            body: b"",
        }
    }

    /// The pixel; headers only for `HEAD`.
    pub(crate) fn pixel(method: Method) -> Self {
        Self::with_body(
            200,
            method,
            vec![
                ("content-type", Cow::Borrowed("image/gif")),
                ("cache-control", Cow::Borrowed(NO_STORE_PIXEL)),
                ("content-length", Cow::Borrowed(pixel::GIF_LEN_TEXT)),
            ],
            pixel::GIF,
        )
    }

    /// 404 with a short body and no detail.
    pub(crate) fn not_found(method: Option<Method>) -> Self {
        Self::with_body(
            404,
            method.unwrap_or(Method::Get),
            vec![
                ("content-type", Cow::Borrowed(TEXT_PLAIN)),
                ("cache-control", Cow::Borrowed(NO_STORE)),
                ("content-length", Cow::Borrowed(NOT_FOUND_LEN)),
            ],
            NOT_FOUND_BODY,
        )
    }

    /// 405 for a method the route does not answer; `allow` lists those it does.
    pub(crate) fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            status: 405,
            headers: vec![
                ("allow", Cow::Borrowed(allow)),
                ("content-type", Cow::Borrowed(TEXT_PLAIN)),
                ("cache-control", Cow::Borrowed(NO_STORE)),
                ("content-length", Cow::Borrowed(NOT_ALLOWED_LEN)),
            ],
            body: NOT_ALLOWED_BODY,
        }
    }

    /// 400: a `POST` whose body is not the one-click form field.
    pub(crate) fn bad_request() -> Self {
        Self::plain_error(400, BAD_REQUEST_BODY, BAD_REQUEST_LEN)
    }

    /// 413: a `POST` body longer than [`crate::endpoint::MAX_BODY_LEN`].
    pub(crate) fn payload_too_large() -> Self {
        Self::plain_error(413, TOO_LARGE_BODY, TOO_LARGE_LEN)
    }

    fn plain_error(status: u16, body: &'static [u8], len: &'static str) -> Self {
        Self {
            status,
            headers: vec![
                ("content-type", Cow::Borrowed(TEXT_PLAIN)),
                ("cache-control", Cow::Borrowed(NO_STORE)),
                ("content-length", Cow::Borrowed(len)),
            ],
            body,
        }
    }

    /// 200 with the page that asks to confirm an unsubscribe; headers only for `HEAD`.
    pub(crate) fn unsubscribe_page(method: Method) -> Self {
        Self::page(method, CONFIRM_PAGE, CONFIRM_PAGE_LEN)
    }

    /// 200 with the page saying the unsubscribe was taken (never a redirect: RFC 8058
    /// clients do not follow one).
    pub(crate) fn unsubscribed() -> Self {
        Self::page(Method::Post, DONE_PAGE, DONE_PAGE_LEN)
    }

    fn page(method: Method, body: &'static [u8], len: &'static str) -> Self {
        Self::with_body(
            200,
            method,
            vec![
                ("content-type", Cow::Borrowed(TEXT_HTML)),
                ("cache-control", Cow::Borrowed(NO_STORE)),
                // The URL carries the token: never hand it on.
                ("referrer-policy", Cow::Borrowed(REFERRER_POLICY)),
                ("content-security-policy", Cow::Borrowed(PAGE_POLICY)),
                ("content-length", Cow::Borrowed(len)),
            ],
            body,
        )
    }

    fn with_body(
        status: u16,
        method: Method,
        headers: Vec<(&'static str, Cow<'static, str>)>,
        body: &'static [u8],
    ) -> Self {
        Self {
            status,
            headers,
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
