//! Conversions to and from the `http` crate's types (feature `http`), so a hyper or
//! axum handler is a few lines.
//!
//! A handler in the shape axum calls, using the `http` crate alone:
//!
//! ```
//! use std::net::SocketAddr;
//! use hashbeacon::{Endpoint, EventSink, Request};
//!
//! fn track<S: EventSink>(
//!     endpoint: &Endpoint<S>,
//!     request: &http::Request<()>,
//!     peer: SocketAddr,
//!     now: u64,
//! ) -> http::Response<&'static [u8]> {
//!     let handled = endpoint.handle(&Request::from_http(request, peer.ip()), now);
//!     if let Some(error) = handled.sink_error {
//!         // The reader still gets the redirect; keep the events for a retry.
//!         eprintln!("event sink: {error}");
//!     }
//!     handled.response.into_http()
//! }
//!
//! # use hashbeacon::{Claims, Key, KeyId, Kind, LinkId, Tracker, sink::MemorySink};
//! # let tracker = Tracker::new(Key::new(KeyId::new("k1")?, &[7u8; 32])?.into(), "https://t.example/hb")?;
//! # let claims = Claims { kind: Kind::Click, campaign: "launch", link: Some(LinkId::Index(0)),
//! #                       recipient: None, issued_at: 1_767_225_600, expires_at: None };
//! # let url = tracker.click_url(&claims, "https://shop.example/")?;
//! let endpoint = Endpoint::new(tracker, MemorySink::new());
//! let request = http::Request::get(url).header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)").body(())?;
//! let response = track(&endpoint, &request, "192.0.2.1:50000".parse()?, 1_767_229_200);
//! assert_eq!(response.status(), 302);
//! assert_eq!(response.headers()["location"], "https://shop.example/");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With axum, the same handler takes the peer from `ConnectInfo` and maps the body
//! (an `http::Response<&'static [u8]>` is not itself an axum response):
//!
//! ```ignore
//! async fn track(
//!     State(endpoint): State<Arc<Endpoint<ChannelSink>>>,
//!     ConnectInfo(peer): ConnectInfo<SocketAddr>,
//!     request: axum::extract::Request,
//! ) -> axum::response::Response {
//!     let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
//!     let (parts, _body) = request.into_parts();
//!     let handled = endpoint.handle(&Request::from_http_parts(&parts, peer.ip()), now);
//!     if let Some(error) = handled.sink_error {
//!         tracing::warn!(%error, "tracking event not stored");
//!     }
//!     handled.response.into_http().map(axum::body::Body::from)
//! }
//! // Router::new().route("/hb/{*rest}", get(track).head(track)).with_state(endpoint)
//! //     .into_make_service_with_connect_info::<SocketAddr>()
//! ```

use std::borrow::Cow;
use std::net::IpAddr;

use http::header::{CONTENT_TYPE, FORWARDED, LOCATION, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

use crate::endpoint::{MAX_BODY_LEN, Request, Response};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

impl<'a> Request<'a> {
    /// The request view of an `http::Request` from a socket peer. The body is not
    /// read: use [`Request::from_http_with_body`] where one-click unsubscribes arrive.
    ///
    /// A `User-Agent` or `Content-Type` that is not visible ASCII is treated as absent.
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn from_http<B>(request: &'a http::Request<B>, peer: IpAddr) -> Self {
        Self::from_pieces(request.method(), request.uri(), request.headers(), peer)
    }

    /// The request view of an `http::Request` whose body the host has read, bounded:
    /// read at most [`MAX_BODY_LEN`]` + 1` bytes (e.g. axum's
    /// `to_bytes(body, MAX_BODY_LEN + 1)`), so that a longer body is told apart and
    /// answered `413`. Only a `POST`'s body is kept, and only its first
    /// [`MAX_BODY_LEN`]` + 1` bytes are looked at.
    ///
    /// ```
    /// # use hashbeacon::{Claims, Endpoint, Key, KeyId, Kind, Request, Tracker, sink::MemorySink};
    /// # let tracker = Tracker::new(Key::new(KeyId::new("k1")?, &[7u8; 32])?.into(), "https://t.example/hb")?;
    /// # let claims = Claims { kind: Kind::Unsubscribe, campaign: "weekly", link: None,
    /// #     recipient: Some("3FOq2KtOAntf0XxY"), issued_at: 1_767_225_600, expires_at: None };
    /// let endpoint = Endpoint::new(tracker, MemorySink::new());
    /// # let url = endpoint.tracker().unsubscribe_url(&claims)?;
    /// let request = http::Request::post(url)
    ///     .header("content-type", "application/x-www-form-urlencoded")
    ///     .body(b"List-Unsubscribe=One-Click".to_vec())?;
    /// let handled = endpoint.handle(&Request::from_http_with_body(&request, "192.0.2.1".parse()?), 1_767_229_200);
    /// assert_eq!(handled.response.status, 200);
    /// assert_eq!(endpoint.sink().take()[0].kind, Kind::Unsubscribe);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn from_http_with_body<B: AsRef<[u8]>>(request: &'a http::Request<B>, peer: IpAddr) -> Self {
        let view = Self::from_http(request, peer);
        if request.method() != Method::POST {
            return view;
        }
        let body = request.body().as_ref();
        let body = body.get(..MAX_BODY_LEN + 1).unwrap_or(body);
        Self { body, ..view }
    }

    /// The request view of `http::request::Parts` (what axum's and hyper's
    /// `into_parts` give) from a socket peer.
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn from_http_parts(parts: &'a http::request::Parts, peer: IpAddr) -> Self {
        Self::from_pieces(&parts.method, &parts.uri, &parts.headers, peer)
    }

    fn from_pieces(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap, peer: IpAddr) -> Self {
        Self {
            method: method.as_str(),
            path: uri.path(),
            query: uri.query(),
            user_agent: headers.get(USER_AGENT).and_then(|value| value.to_str().ok()),
            peer,
            forwarded: joined(headers, &FORWARDED),
            x_forwarded_for: joined(headers, &X_FORWARDED_FOR),
            content_type: headers.get(CONTENT_TYPE).and_then(|value| value.to_str().ok()),
            body: b"",
        }
    }
}

/// All lines of a list-valued header joined with `, ` (RFC 9110 §5.3), borrowed when
/// there is one line. A line that is not visible ASCII is kept, lossily decoded, in
/// its place, so that it ends the trusted-proxy walk instead of vanishing from it.
fn joined<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<Cow<'a, str>> {
    let text = |value: &'a HeaderValue| match value.to_str() {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(value.as_bytes()),
    };
    let mut lines = headers.get_all(name).iter();
    let first = text(lines.next()?);
    let mut rest = lines.peekable();
    if rest.peek().is_none() {
        return Some(first);
    }
    let mut all = first.into_owned();
    for line in rest {
        all.push_str(", ");
        all.push_str(&text(line));
    }
    Some(Cow::Owned(all))
}

impl Response {
    /// Converts to an `http::Response`. Responses from [`crate::Endpoint::handle`]
    /// always convert whole; a header a host added that is not valid HTTP is left out,
    /// and an invalid status becomes 500.
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn into_http(self) -> http::Response<&'static [u8]> {
        let mut response = http::Response::new(self.body);
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (location, fixed, added) = self.headers.into_parts();
        let headers = response.headers_mut();
        headers.reserve(usize::from(location.is_some()) + fixed.len() + added.len());
        if let Some(value) = location.and_then(|location| HeaderValue::try_from(location).ok()) {
            headers.append(LOCATION, value);
        }
        for header in fixed {
            let (name, value) = header.http();
            headers.append(name, value);
        }
        for (name, value) in added {
            let value = match value {
                // Checked first, so the zero-copy constructor cannot panic.
                Cow::Borrowed(text) if is_header_text(text) => Some(HeaderValue::from_static(text)),
                Cow::Borrowed(_) => None,
                Cow::Owned(text) => HeaderValue::try_from(text).ok(),
            };
            if let (Ok(name), Some(value)) = (HeaderName::from_bytes(name.as_bytes()), value) {
                headers.append(name, value);
            }
        }
        response
    }
}

/// Whether `HeaderValue::from_static` accepts the text: visible ASCII, space and tab.
fn is_header_text(text: &str) -> bool {
    text.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

impl From<Response> for http::Response<&'static [u8]> {
    fn from(response: Response) -> Self {
        response.into_http()
    }
}
