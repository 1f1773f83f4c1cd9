//! The admin routes, served on their own listener: `GET /stats`, `GET /dashboard`,
//! `GET /unsubscribes`, `GET /healthz` and `POST /conversion`, optionally behind a bearer token.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hashbeacon::report::Granularity;
use hashbeacon::{Keyring, ReferenceParameter};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use hashbeacon_store::{Database, Health, HealthReport, Store, StoreError, StoredUnsubscribe};

use crate::dashboard;
use crate::figures::{self, Stats};
use crate::tracking::unix_now;

/// What the admin handlers need.
pub(crate) struct Admin {
    pub(crate) keyring: Keyring,
    /// The form field `POST /conversion` reads the reference from.
    pub(crate) reference_field: ReferenceParameter,
    /// The database, to open the reader connection again when it is lost.
    pub(crate) db: Database,
    /// A connection of its own for `/stats`, `/dashboard` and conversions; `None`
    /// after it was lost, until the next request opens it again.
    pub(crate) reader: Mutex<Option<Store>>,
    pub(crate) health: Arc<Health>,
    /// SHA-256 of the bearer token, when one is required.
    pub(crate) token_digest: Option<[u8; 32]>,
    /// The dashboard's `Content-Security-Policy`, computed once.
    pub(crate) dashboard_policy: String,
}

impl Drop for Admin {
    /// The PostgreSQL client blocks on a runtime of its own when it closes, which
    /// panics on a thread that runs this server's runtime: close it on a thread of
    /// its own.
    fn drop(&mut self) {
        let reader = self
            .reader
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(store) = reader {
            let _ = std::thread::spawn(move || drop(store)).join();
        }
    }
}

/// The admin listener's router.
pub(crate) fn router(admin: Arc<Admin>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/stats", get(stats))
        .route("/dashboard", get(dashboard))
        .route("/unsubscribes", get(unsubscribes))
        .route("/conversion", post(conversion))
        .layer(middleware::from_fn_with_state(Arc::clone(&admin), authorize))
        .with_state(admin)
}

/// The SHA-256 of a token, as [`Admin::token_digest`] keeps it.
pub(crate) fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// With a token configured, lets through only requests that carry it.
async fn authorize(State(admin): State<Arc<Admin>>, request: Request, next: Next) -> Response {
    let Some(expected) = admin.token_digest else {
        return next.run(request).await;
    };
    if bearer(request.headers()).is_some_and(|token| same(&digest(token), &expected)) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a bearer token is required\n",
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares digests in constant time: the time taken says nothing of how much matched.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |differ, (x, y)| differ | (x ^ y)) == 0
}

#[derive(Deserialize)]
struct StatsQuery {
    campaign: String,
    /// Messages delivered, for the rates per delivered message.
    delivered: Option<u64>,
    /// `hour` (the default) or `day`, for the trend.
    granularity: Option<String>,
}

async fn stats(
    State(admin): State<Arc<Admin>>,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Stats>, Response> {
    let granularity = match query.granularity.as_deref() {
        None | Some("hour") => Granularity::Hour,
        Some("day") => Granularity::Day,
        Some(_) => return Err((StatusCode::BAD_REQUEST, "granularity is hour or day\n").into_response()),
    };
    let campaign = query.campaign.clone();
    let (campaign_figures, rejected) = on_db(&admin, move |reader| {
        Ok((reader.figures(&campaign)?, reader.rejected()?))
    })
    .await?;
    Ok(Json(figures::stats(
        &query.campaign,
        &campaign_figures,
        &rejected,
        query.delivered,
        granularity,
    )))
}

/// `/unsubscribes?since=ID&limit=N`: the stored one-click unsubscribes after row `since`
/// (0, the default, for all), oldest first, at most `limit` (default and most 1000).
#[derive(Deserialize)]
struct UnsubscribesQuery {
    since: Option<i64>,
    limit: Option<u32>,
}

/// What `/unsubscribes` returns: the rows, and the cursor to ask for the next ones.
#[derive(Serialize)]
struct Unsubscribes {
    unsubscribes: Vec<StoredUnsubscribe>,
    /// The `since` of the next request: the last id returned, or the one asked for.
    next: i64,
}

/// Lists stored unsubscribes for the host's list manager to act on.
async fn unsubscribes(
    State(admin): State<Arc<Admin>>,
    Query(query): Query<UnsubscribesQuery>,
) -> Result<Json<Unsubscribes>, Response> {
    let since = query.since.unwrap_or(0).max(0);
    let limit = query.limit.unwrap_or(1000).clamp(1, 1000);
    let unsubscribes = on_db(&admin, move |reader| reader.unsubscribes(since, limit)).await?;
    let next = unsubscribes.last().map_or(since, |last| last.id);
    Ok(Json(Unsubscribes { unsubscribes, next }))
}

/// Runs a query on the reader connection off the async threads, opening it first if
/// it is not open (or was lost); a failure is a 500.
async fn on_db<T: Send + 'static>(
    admin: &Arc<Admin>,
    query: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    let admin = Arc::clone(admin);
    tokio::task::spawn_blocking(move || {
        let mut reader = admin.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let store = match &mut *reader {
            Some(store) => store,
            None => reader.insert(Store::open_database(&admin.db).map_err(|error| error.to_string())?),
        };
        let result = query(store);
        if store.is_closed() {
            *reader = None;
        }
        result.map_err(|error| error.to_string())
    })
    .await
    .map_err(|error| error.to_string())
    .and_then(|result| result)
    .map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, format!("database: {error}\n")).into_response())
}

/// The live dashboard page of one campaign.
async fn dashboard(
    State(admin): State<Arc<Admin>>,
    Query(query): Query<StatsQuery>,
) -> Result<Response, Response> {
    let campaign = query.campaign.clone();
    let (figures, rejected) = on_db(&admin, move |reader| {
        Ok((reader.figures(&campaign)?, reader.rejected()?))
    })
    .await?;
    let page = dashboard::render(&dashboard::Dashboard {
        campaign: &query.campaign,
        // All-zero figures: nothing stored for this campaign yet.
        report: (figures != Default::default()).then_some(&figures),
        delivered: query.delivered,
        rejected: rejected.total(),
        now: unix_now(),
    });
    let headers = [
        (header::CONTENT_SECURITY_POLICY, admin.dashboard_policy.clone()),
        (header::CACHE_CONTROL, "no-store".to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ];
    Ok((headers, Html(page)).into_response())
}

/// A landing site reports a conversion with the click reference it was given: the
/// body is the reference itself, or a form whose field of the conversion parameter's
/// name (`hb_ref=<reference>`) holds it. 200 with what the reference says (and
/// whether it was counted now: a reference counts once), or 400 if it is not
/// authentic.
async fn conversion(State(admin): State<Arc<Admin>>, body: String) -> Result<Json<Converted>, Response> {
    let reference = reference_in(&body, admin.reference_field.as_str());
    let conversion = admin
        .keyring
        .verify_reference(&reference, unix_now())
        .map_err(|error| {
            (StatusCode::BAD_REQUEST, format!("invalid reference: {error}\n")).into_response()
        })?;
    let (campaign, link) = (
        conversion.campaign.clone(),
        conversion.link.as_ref().map(ToString::to_string),
    );
    let clicked_at = conversion.clicked_at;
    let counted = on_db(&admin, move |store| {
        store.record_conversion(&reference, &conversion)
    })
    .await?;
    Ok(Json(Converted {
        campaign,
        link,
        clicked_at,
        counted,
    }))
}

/// The reference in a `POST /conversion` body: the form field `field` if the body is a
/// form that has it, else the whole body, trimmed.
fn reference_in(body: &str, field: &str) -> String {
    form_urlencoded::parse(body.trim().as_bytes())
        .find(|(name, _)| name == field)
        .map_or_else(|| body.trim().to_owned(), |(_, value)| value.into_owned())
}

/// What `POST /conversion` answers.
#[derive(Serialize)]
struct Converted {
    /// The campaign the conversion counts for.
    campaign: String,
    /// The link whose click led to it.
    link: Option<String>,
    /// When that click came, unix seconds.
    clicked_at: u64,
    /// `false` when this reference was counted before: it counts once.
    counted: bool,
}

async fn healthz(State(admin): State<Arc<Admin>>) -> Json<HealthReport> {
    Json(admin.health.report())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_reference_comes_plain_or_in_its_form_field() {
        assert_eq!(reference_in("1r.k1.a.b.c.1.tag\n", "hb_ref"), "1r.k1.a.b.c.1.tag");
        assert_eq!(
            reference_in("hb_ref=1r.k1.a.b.c.1.tag", "hb_ref"),
            "1r.k1.a.b.c.1.tag"
        );
        assert_eq!(reference_in("order=7&ref=1r.x%2Ey", "ref"), "1r.x.y");
        assert_eq!(
            reference_in("other=1", "hb_ref"),
            "other=1",
            "no field: the body as is"
        );
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert_eq!(bearer(&headers), Some("s3cret"));
        headers.insert(header::AUTHORIZATION, "Basic s3cret".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        assert!(same(&digest("s3cret"), &digest("s3cret")));
        assert!(!same(&digest("s3cret"), &digest("s3cret ")));
    }

    proptest! {
        #[test]
        fn digests_match_exactly_when_tokens_do(a in ".{0,40}", b in ".{0,40}") {
            prop_assert_eq!(same(&digest(&a), &digest(&b)), a == b);
        }

        #[test]
        fn a_form_field_round_trips(reference in "[ -~]{1,80}") {
            let body: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("hb_ref", &reference)
                .finish();
            prop_assert_eq!(reference_in(&body, "hb_ref"), reference);
        }
    }
}
