//! The public tracking routes: every request the tracking listener gets goes through
//! [`hashbeacon::Endpoint`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hashbeacon::endpoint::MAX_BODY_LEN;
use hashbeacon::sink::ChannelSink;
use hashbeacon::{Endpoint, Request};

use crate::overflow::Overflow;

/// What the tracking handler needs.
pub(crate) struct Tracking {
    pub(crate) endpoint: Endpoint<ChannelSink>,
    /// Where events the queue could not take are counted and logged.
    pub(crate) overflow: Overflow,
}

/// The tracking listener's router: nothing but the tracker's URLs (anything else is
/// the endpoint's plain 404).
pub(crate) fn router(tracking: Arc<Tracking>) -> Router {
    Router::new().fallback(track).with_state(tracking)
}

/// Every tracking request. The library stays clock-free; the host supplies `now`.
///
/// Only a one-click unsubscribe `POST` has a body the endpoint reads: at most one byte
/// past [`MAX_BODY_LEN`] is read, so a longer one is answered 413 unread.
async fn track(
    State(state): State<Arc<Tracking>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match parts.method {
        Method::POST => match axum::body::to_bytes(body, MAX_BODY_LEN + 1).await {
            Ok(body) => body,
            Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
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
    handled.response.into_http().map(Body::from)
}

/// The time now, unix seconds.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
