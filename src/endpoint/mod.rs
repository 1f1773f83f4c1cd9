//! The tracking endpoint: request → verify → classify → event → sink → response.
//!
//! [`Endpoint::handle`] takes a [`Request`] (plain data the host's framework already
//! parsed) and the time, and returns a [`Response`] (plain data the host writes). It
//! does no I/O and never reads the clock; the only call out is [`EventSink::record`],
//! which must not block.
//!
//! What it answers:
//!
//! | Request | Response | Event |
//! | --- | --- | --- |
//! | `GET` click, valid token | 302 (configurable 301/303/307) to the destination, `Cache-Control: no-store, private`, `Referrer-Policy: no-referrer` | click, classified |
//! | `GET` click, authentic but expired | the same redirect: the destination is authentic | click, marked expired |
//! | `GET` click, invalid, tampered, truncated, wrong-purpose or unknown-key token | 404, short body, never a `Location` | rejected, with the reason and [`Verdict::Rejected`] (if enabled) |
//! | `GET` open, any token | 200 `image/gif`, the 43-byte transparent pixel, `Cache-Control: no-store, private, max-age=0` | open, or rejected (if enabled) |
//! | `HEAD` on either | the same status and headers, no body | as for `GET`, always classified as a scanner |
//! | `POST` unsubscribe, valid token, body `List-Unsubscribe=One-Click` (URL-encoded or multipart form) | 200, a short HTML page, never a redirect | unsubscribe |
//! | `POST` unsubscribe, valid token, any other body | 400 (413 beyond [`MAX_BODY_LEN`]) | none |
//! | `GET` unsubscribe, valid token | 200, a page whose form makes the `POST` | none: scanners and previews fetch every URL |
//! | `HEAD` unsubscribe, valid token | the same status and headers, no body | none |
//! | unsubscribe with an invalid, tampered, wrong-purpose or unknown-key token | 404, short body | rejected, with the reason (if enabled) |
//! | other method | 405 with `Allow: GET, HEAD` (`GET, HEAD, POST` for unsubscribes) | none |
//! | path outside the tracker's routes | 404 | none |
//!
//! The pixel answers even a bad token: a broken image makes a message look suspicious,
//! and only the event needs to differ.
//!
//! An unsubscribe needs no cookie, login or session: the signed token is the
//! authorization (RFC 8058 §3.2). Posting the same token twice gives two events; the
//! [`Report`](crate::report::Report) counts them as one unsubscribe, so acting on each
//! is idempotent for the host. An authentic unsubscribe past its optional expiry is
//! still taken, marked expired.
//!
//! With [`Endpoint::with_conversion_reference`] (off by default) the redirect's
//! destination also carries a signed click reference for conversion attribution; see
//! [`crate::conversion`].

mod client_ip;
#[cfg(feature = "http")]
mod http;
mod one_click;
mod request;
mod response;

pub use crate::method::Method;
pub use client_ip::{ForwardedHeader, IpNet};
pub use request::{MAX_BODY_LEN, Request};
pub use response::{Handled, Headers, RedirectStatus, Response};

use response::{TRACKING_NOT_ALLOWED, UNSUBSCRIBE_NOT_ALLOWED};

use crate::classify::{Classifier, Facts, Verdict};
use crate::conversion::{ClickReference, ReferenceParameter};
use crate::error::VerifyError;
use crate::event::{Event, EventSink, SinkError, TokenFacts, stored_user_agent};
use crate::link::Tracker;
use crate::privacy::IpPolicy;
use crate::token::{Kind, Verified};

/// Verifies tracking requests, records their events and builds the responses.
///
/// ```
/// use hashbeacon::{Claims, Endpoint, Key, KeyId, Kind, LinkId, Request, Tracker};
/// use hashbeacon::sink::MemorySink;
///
/// let tracker = Tracker::new(Key::new(KeyId::new("k1")?, &[7u8; 32])?.into(), "https://t.example/hb")?;
/// let claims = Claims { kind: Kind::Click, campaign: "launch", link: Some(LinkId::Index(0)),
///                       recipient: None, issued_at: 1_767_225_600, expires_at: None };
/// let url = tracker.click_url(&claims, "https://shop.example/?q=1")?;
///
/// let endpoint = Endpoint::new(tracker, MemorySink::new());
/// let target = url.strip_prefix("https://t.example").unwrap();
/// let request = Request::new("GET", target, "203.0.113.7".parse()?)
///     .with_user_agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1.15");
/// let handled = endpoint.handle(&request, 1_767_229_200);
///
/// assert_eq!(handled.response.status, 302);
/// assert_eq!(handled.response.header("location"), Some("https://shop.example/?q=1"));
/// assert!(handled.sink_error.is_none());
/// let events = endpoint.sink().take();
/// assert_eq!(events[0].verdict, hashbeacon::Verdict::Human);
/// assert_eq!(events[0].client_ip, Some("203.0.113.0".parse()?)); // truncated to /24
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Endpoint<S> {
    tracker: Tracker,
    sink: S,
    redirect: RedirectStatus,
    ip_policy: IpPolicy,
    trusted_proxies: Vec<IpNet>,
    forwarded_header: ForwardedHeader,
    classifier: Classifier,
    record_rejected: bool,
    click_implies_open: bool,
    reference: Option<ReferenceParameter>,
}

impl<S: EventSink> Endpoint<S> {
    /// An endpoint for a tracker's URLs, recording into `sink`, with the defaults:
    /// 302 redirects, IPs truncated, no trusted proxies, rejected requests not
    /// recorded, clicks not counted as opens.
    pub fn new(tracker: Tracker, sink: S) -> Self {
        Self {
            tracker,
            sink,
            redirect: RedirectStatus::default(),
            ip_policy: IpPolicy::default(),
            trusted_proxies: Vec::new(),
            forwarded_header: ForwardedHeader::default(),
            classifier: Classifier::default(),
            record_rejected: false,
            click_implies_open: false,
            reference: None,
        }
    }

    /// Sets the redirect status for clicks.
    pub fn with_redirect_status(mut self, status: RedirectStatus) -> Self {
        self.redirect = status;
        self
    }

    /// Sets how much of the client's IP events keep.
    pub fn with_ip_policy(mut self, policy: IpPolicy) -> Self {
        self.ip_policy = policy;
        self
    }

    /// Trusts a proxy network: requests whose peer is in it have their client address
    /// taken from the forwarding header those proxies write (see
    /// [`Endpoint::with_forwarded_header`]), walked from the right past trusted hops.
    pub fn with_trusted_proxy(mut self, network: IpNet) -> Self {
        self.trusted_proxies.push(network);
        self
    }

    /// Declares which header the trusted proxies write the client's address into;
    /// the other one is ignored, since clients can send it as they like. By default
    /// ([`ForwardedHeader::BothMustAgree`]) both are read and an address is recorded
    /// only when they name the same client.
    ///
    /// ```
    /// use hashbeacon::{Endpoint, ForwardedHeader, Key, KeyId, Request, Tracker};
    /// use hashbeacon::sink::MemorySink;
    /// # let tracker = Tracker::new(Key::new(KeyId::new("k1")?, &[7u8; 32])?.into(), "https://t.example/hb")?;
    /// // nginx with `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`
    /// let endpoint = Endpoint::new(tracker, MemorySink::new())
    ///     .with_trusted_proxy("10.0.0.0/8".parse()?)
    ///     .with_forwarded_header(ForwardedHeader::XForwardedFor);
    /// # let _ = endpoint;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_forwarded_header(mut self, header: ForwardedHeader) -> Self {
        self.forwarded_header = header;
        self
    }

    /// Sets the classification settings.
    pub fn with_classifier(mut self, classifier: Classifier) -> Self {
        self.classifier = classifier;
        self
    }

    /// Also records requests with a rejected token (reason included), to watch for
    /// forgery attempts. Off by default.
    pub fn with_rejected_events(mut self, record: bool) -> Self {
        self.record_rejected = record;
        self
    }

    /// Also records an open (marked implied) for every click, for readers whose mail
    /// client blocks images. Off by default.
    pub fn with_click_implies_open(mut self, implies: bool) -> Self {
        self.click_implies_open = implies;
        self
    }

    /// Appends a signed click reference to every click's redirect under `parameter`,
    /// for conversion attribution (see [`crate::conversion`]). Off by default.
    pub fn with_conversion_reference(mut self, parameter: ReferenceParameter) -> Self {
        self.reference = Some(parameter);
        self
    }

    /// The tracker whose URLs this endpoint answers.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// The sink events go to.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Handles one request at time `now` (unix seconds).
    pub fn handle(&self, request: &Request<'_>, now: u64) -> Handled {
        let method = Method::parse(request.method);
        let Ok((kind, token)) = self.tracker.route(request.path) else {
            return answer(Response::not_found(method));
        };
        let seen = |method| Seen {
            request,
            token,
            method,
            now,
        };
        match (kind, method) {
            (Kind::Unsubscribe, Some(method)) => self.unsubscribe(&seen(method)),
            (Kind::Unsubscribe, None) => answer(Response::method_not_allowed(&UNSUBSCRIBE_NOT_ALLOWED)),
            (Kind::Click, Some(method @ (Method::Get | Method::Head))) => self.click(&seen(method)),
            (Kind::Open, Some(method @ (Method::Get | Method::Head))) => self.open(&seen(method)),
            (Kind::Click | Kind::Open, _) => answer(Response::method_not_allowed(&TRACKING_NOT_ALLOWED)),
        }
    }

    /// A one-click unsubscribe: only an authentic token `POST`ed with the one-click
    /// body makes an event; `GET` and `HEAD` get the confirmation page.
    fn unsubscribe(&self, seen: &Seen<'_>) -> Handled {
        let verified = match self.tracker.verify_unsubscribe(seen.request.path, seen.now) {
            Ok(verified) => verified,
            Err(reason) => {
                let response = Response::not_found(Some(seen.method));
                return self.rejected(seen, Kind::Unsubscribe, reason, response);
            }
        };
        if seen.method != Method::Post {
            return answer(Response::unsubscribe_page(seen.method));
        }
        let body = seen.request.body;
        if body.len() > MAX_BODY_LEN {
            return answer(Response::payload_too_large());
        }
        if !one_click::is_one_click(seen.request.content_type, body) {
            return answer(Response::bad_request());
        }
        let event = self.event(seen, Kind::Unsubscribe, Ok(&verified));
        Handled {
            response: Response::unsubscribed(),
            sink_error: self.sink.record(event).err(),
        }
    }

    fn click(&self, seen: &Seen<'_>) -> Handled {
        let verified = self
            .tracker
            .verify_click_token(seen.token, seen.request.query, seen.now)
            .and_then(|click| Ok((click.verified, click.location()?)));
        match verified {
            Ok((verified, location)) => {
                let location = self.with_reference(location, &verified, seen.now);
                let response = Response::redirect(self.redirect, location);
                let click = self.event(seen, Kind::Click, Ok(&verified));
                let implied_open = self.click_implies_open.then(|| Event {
                    kind: Kind::Open,
                    implied: true,
                    token: click
                        .token
                        .clone()
                        .map(|token| TokenFacts { link: None, ..token }),
                    ..click.clone()
                });
                let mut sink_error = self.sink.record(click).err();
                if let Some(open) = implied_open {
                    sink_error = SinkError::join(sink_error, self.sink.record(open).err());
                }
                Handled { response, sink_error }
            }
            Err(reason) => self.rejected(seen, Kind::Click, reason, Response::not_found(Some(seen.method))),
        }
    }

    /// The redirect location with the click's conversion reference, when enabled and
    /// the author has no parameter of that name.
    fn with_reference(&self, location: String, verified: &Verified<'_>, now: u64) -> String {
        let Some(parameter) = &self.reference else {
            return location;
        };
        let click = ClickReference::from_click(&verified.claims, now);
        // Claims that verified always sign; should they not, the reader still lands.
        match self.tracker.keyring().sign_reference(&click) {
            Ok(reference) => parameter.append_to(&location, &reference).unwrap_or(location),
            Err(_) => location,
        }
    }

    fn open(&self, seen: &Seen<'_>) -> Handled {
        let response = Response::pixel(seen.method);
        match self.tracker.verify_open(seen.request.path, seen.now) {
            Ok(verified) => Handled {
                sink_error: self
                    .sink
                    .record(self.event(seen, Kind::Open, Ok(&verified)))
                    .err(),
                response,
            },
            Err(reason) => self.rejected(seen, Kind::Open, reason, response),
        }
    }

    fn rejected(&self, seen: &Seen<'_>, kind: Kind, reason: VerifyError, response: Response) -> Handled {
        let sink_error = if self.record_rejected {
            self.sink.record(self.event(seen, kind, Err(reason))).err()
        } else {
            None
        };
        Handled { response, sink_error }
    }

    fn event(&self, seen: &Seen<'_>, kind: Kind, token: Result<&Verified<'_>, VerifyError>) -> Event {
        // A rejected token is nobody's action on a message, whoever sent it.
        let verdict = match &token {
            Ok(verified) => self.classifier.classify(&Facts {
                kind,
                method: seen.method,
                user_agent: seen.request.user_agent,
                link: verified.claims.link,
                issued_at: Some(verified.claims.issued_at),
                received_at: seen.now,
            }),
            Err(_) => Verdict::Rejected,
        };
        let client_ip = client_ip::client_ip(seen.request, &self.trusted_proxies, self.forwarded_header)
            .and_then(|ip| self.ip_policy.apply(ip));
        Event {
            kind,
            implied: false,
            token: token.map(TokenFacts::from),
            received_at: seen.now,
            method: seen.method,
            user_agent: seen
                .request
                .user_agent
                .map(|agent| stored_user_agent(agent).to_owned()),
            client_ip,
            verdict,
        }
    }
}

/// A request the endpoint answers, with its routed token, parsed method and arrival
/// time.
struct Seen<'r> {
    request: &'r Request<'r>,
    /// The token in the request's path, as routed.
    token: &'r str,
    method: Method,
    now: u64,
}

fn answer(response: Response) -> Handled {
    Handled {
        response,
        sink_error: None,
    }
}
