//! The public tracking routes: every request the tracking listener gets goes through
//! [`hashbeacon::Endpoint`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hashbeacon::endpoint::MAX_BODY_LEN;
use hashbeacon::sink::ChannelSink;
use hashbeacon::{Endpoint, Request};
use hyper::body::Incoming;

use crate::overflow::Overflow;

/// What the tracking handler needs.
pub(crate) struct Tracking {
    pub(crate) endpoint: Endpoint<ChannelSink>,
    /// Where events the queue could not take are counted and logged.
    pub(crate) overflow: Overflow,
}

/// Every request of the tracking listener, straight from the connection (no router:
/// the endpoint routes, and anything but the tracker's URLs is its plain 404). The
/// library stays clock-free; the host supplies `now`.
///
/// Only a one-click unsubscribe `POST` has a body the endpoint reads: at most one byte
/// past [`MAX_BODY_LEN`] is read, so a longer one is answered 413 unread.
pub(crate) async fn track(
    state: Arc<Tracking>,
    peer: SocketAddr,
    request: hyper::Request<Incoming>,
) -> Result<Response, Infallible> {
    let (parts, body) = request.into_parts();
    let body = match parts.method {
        Method::POST => match axum::body::to_bytes(Body::new(body), MAX_BODY_LEN + 1).await {
            Ok(body) => body,
            Err(_) => return Ok(StatusCode::PAYLOAD_TOO_LARGE.into_response()),
        },
        _ => axum::body::Bytes::new(),
    };
    let request = axum::http::Request::from_parts(parts, body);
    let handled = state
        .endpoint
        .handle(&Request::from_http_with_body(&request, peer.ip()), unix_now());
    if let Some(error) = handled.sink_error {
        // The reader gets their redirect or pixel regardless; the events are reported.
        let reason = error.to_string();
        state.overflow.report(error.into_events(), &reason);
    }
    Ok(handled.response.into_http().map(Body::from))
}

/// The time now, unix seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
