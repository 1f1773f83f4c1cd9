//! The request view: the few facts of an HTTP request the endpoint needs, borrowed.

use std::borrow::Cow;
use std::net::IpAddr;

/// Most bytes of a request body the endpoint looks at. A one-click unsubscribe body is
/// 26 bytes, or a few hundred as `multipart/form-data`; a longer body is answered
/// `413` unread. Hosts read at most this much (plus one byte, to tell a longer body
/// apart) before handing the body over.
pub const MAX_BODY_LEN: usize = 4096;

/// An incoming request as plain data, borrowed from whatever the host's framework
/// parsed.
///
/// Only one-click unsubscribes have a body; for them the host also passes the
/// `Content-Type` and the body bytes ([`Request::with_body`]). Cookies and
/// authentication are never read.
///
/// ```
/// use hashbeacon::Request;
/// let request = Request::new("GET", "/hb/c/1c.k1.x.0...1..AAAA?https://ex.example/", "192.0.2.7".parse()?)
///     .with_user_agent("Mozilla/5.0 (X11; Linux x86_64)")
///     .with_x_forwarded_for("198.51.100.4");
/// assert_eq!(request.path, "/hb/c/1c.k1.x.0...1..AAAA");
/// assert_eq!(request.query, Some("https://ex.example/"));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request<'a> {
    /// The method as sent, e.g. `"GET"`.
    pub method: &'a str,
    /// The path as sent, still percent-encoded.
    pub path: &'a str,
    /// The raw query after `?`, not form-decoded.
    pub query: Option<&'a str>,
    /// The `User-Agent` header.
    pub user_agent: Option<&'a str>,
    /// The socket peer's address.
    pub peer: IpAddr,
    /// The `Forwarded` header (RFC 7239), all lines joined with `, `. Read only when
    /// the peer is a trusted proxy.
    pub forwarded: Option<Cow<'a, str>>,
    /// The `X-Forwarded-For` header, all lines joined with `, `. Read only when the
    /// peer is a trusted proxy.
    pub x_forwarded_for: Option<Cow<'a, str>>,
    /// The `Content-Type` header of a `POST`.
    pub content_type: Option<&'a str>,
    /// The body of a `POST` (empty otherwise). One longer than [`MAX_BODY_LEN`] is
    /// refused without being read.
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// A request for a target (`path` or `path?query`, as in the request line) from a
    /// peer.
    pub fn new(method: &'a str, target: &'a str, peer: IpAddr) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        Self {
            method,
            path,
            query,
            user_agent: None,
            peer,
            forwarded: None,
            x_forwarded_for: None,
            content_type: None,
            body: b"",
        }
    }

    /// Sets the `Content-Type` header and the body, for a one-click unsubscribe `POST`.
    ///
    /// ```
    /// use hashbeacon::Request;
    /// let request = Request::new("POST", "/hb/u/1u.k1.x..AAAAAAAAAAAAAAAA.1..AAAA", "192.0.2.7".parse()?)
    ///     .with_body(Some("application/x-www-form-urlencoded"), b"List-Unsubscribe=One-Click");
    /// assert_eq!(request.body, b"List-Unsubscribe=One-Click");
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    pub fn with_body(mut self, content_type: Option<&'a str>, body: &'a [u8]) -> Self {
        self.content_type = content_type;
        self.body = body;
        self
    }

    /// Sets the `User-Agent`.
    pub fn with_user_agent(mut self, user_agent: &'a str) -> Self {
        self.user_agent = Some(user_agent);
        self
    }

    /// Sets the `Forwarded` header.
    pub fn with_forwarded(mut self, value: impl Into<Cow<'a, str>>) -> Self {
        self.forwarded = Some(value.into());
        self
    }

    /// Sets the `X-Forwarded-For` header.
    pub fn with_x_forwarded_for(mut self, value: impl Into<Cow<'a, str>>) -> Self {
        self.x_forwarded_for = Some(value.into());
        self
    }
}
