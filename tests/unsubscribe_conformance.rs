//! One-click unsubscribe as a mailbox provider sees it: the headers of a message are
//! parsed by independent parsers (`mailparse` for the message, the `list-unsubscribe`
//! crate for RFC 2369 / RFC 8058), and the URL they yield is POSTed exactly as Gmail
//! documents it, over real HTTP: to a minimal axum host that reads the body bounded,
//! and to the tracking server (`hashbeacon-server`), which stores it in SQLite and
//! lists it on its admin listener.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::response::IntoResponse;
use hashbeacon::endpoint::MAX_BODY_LEN;
use hashbeacon::sink::MemorySink;
use hashbeacon::unsubscribe::Mailto;
use hashbeacon::{Endpoint, Key, KeyId, Kind, PseudonymKey, Request, Tracker};
use list_unsubscribe::UnsubscribeMethod;

const SENT: u64 = 1_767_225_600;

/// A stored event's `method`, `campaign`, `recipient` and `rejected` columns.
type StoredRow = (String, Option<String>, Option<String>, Option<String>);

/// The host: every request goes to the endpoint, the body read at most one byte past
/// the bound so a longer one is told apart.
async fn host(
    State(endpoint): State<Arc<Endpoint<MemorySink>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_LEN + 1).await else {
        return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let request = axum::http::Request::from_parts(parts, body);
    let handled = endpoint.handle(&Request::from_http_with_body(&request, peer.ip()), SENT + 600);
    assert!(handled.sink_error.is_none());
    handled.response.into_http().map(axum::body::Body::from)
}

/// What a mailbox provider does with a message's headers: parse them independently
/// and find the one-click URL (checking the mailto fallback on the way).
fn one_click_url(message: &str, expected: &str) -> String {
    let parsed = mailparse::parse_mail(message.as_bytes()).unwrap();
    use mailparse::MailHeaderMap;
    let list_unsubscribe = parsed.headers.get_first_value("List-Unsubscribe").unwrap();
    let post = parsed.headers.get_first_value("List-Unsubscribe-Post");
    assert_eq!(post.as_deref(), Some("List-Unsubscribe=One-Click"));
    let url = match list_unsubscribe::parse_with_post(&list_unsubscribe, post.as_deref()) {
        UnsubscribeMethod::OneClick { url } => url,
        other => panic!("not a one-click unsubscribe: {other:?}"),
    };
    assert_eq!(url.as_str(), expected);
    // Without the Post header a client would fall back to the mailto URL.
    match list_unsubscribe::parse(&list_unsubscribe) {
        UnsubscribeMethod::Mailto { address, .. } => assert_eq!(address, "unsubscribe@example.com"),
        other => panic!("the mailto URL is lost: {other:?}"),
    }
    url.to_string()
}

/// A message as it would be DKIM-signed and sent: the two header lines among the rest.
fn message(headers: &hashbeacon::UnsubscribeHeaders) -> String {
    format!(
        "From: news@example.com\r\nTo: ada@example.com\r\nSubject: Weekly\r\n{}\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n",
        headers.to_lines()
    )
}

/// Gmail's one-click request: `POST`, `Content-Type: application/x-www-form-urlencoded`,
/// body `List-Unsubscribe=One-Click`, no cookies.
async fn post_as_gmail(client: &reqwest::Client, url: &str) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap()
}

async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let body = client.get(url).send().await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_tracking_server_stores_a_one_click_unsubscribe() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let key = Key::new(KeyId::new("k1").unwrap(), &[7; 32]).unwrap();
    let mut config =
        hashbeacon_server::Config::new(([127, 0, 0, 1], 0).into(), key.into(), db.to_str().unwrap());
    config.admin_addr = ([127, 0, 0, 1], 0).into();
    config.base_path = "/hb".to_owned();
    let server = hashbeacon_server::start(config).await.unwrap();
    let pseudonym = PseudonymKey::new(&[0x42; 32])
        .unwrap()
        .pseudonym("ada@example.com");
    let mailto = Mailto::new("unsubscribe@example.com").unwrap();
    let headers = server
        .tracker()
        .unsubscribe_headers("weekly", &pseudonym, SENT, Some(&mailto))
        .unwrap();
    let url = one_click_url(&message(&headers), headers.url());
    let client = client();

    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        200,
        "a scanner's GET"
    );
    assert_eq!(post_as_gmail(&client, &url).await.status(), 200);
    assert_eq!(post_as_gmail(&client, &url).await.status(), 200, "a second press");
    let bad_body = client
        .post(&url)
        .header("content-type", "text/plain")
        .body("yes")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_body.status(), 400);
    // A body past the bound is refused unread, and stores nothing.
    let huge = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "List-Unsubscribe=One-Click&pad={}",
            "x".repeat(MAX_BODY_LEN)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);

    // /stats counts the one recipient once; reading it waits for nothing but the
    // writer, so poll briefly.
    let stats_url = format!("http://{}/stats?campaign=weekly&delivered=4", server.admin_addr());
    let mut stats = serde_json::Value::Null;
    for _ in 0..100 {
        stats = get_json(&client, &stats_url).await;
        if stats["report"]["unsubscribes"]["total"] == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(stats["report"]["unsubscribes"]["total"], 2);
    assert_eq!(stats["report"]["unsubscribes"]["unique"], 1);
    assert_eq!(stats["report"]["unsubscribe_rate"], 0.25);
    assert_eq!(stats["report"]["opens"]["total"], 0, "an unsubscribe is no open");

    // The list manager polls what it has not seen yet, by cursor.
    let list_url =
        |since: &serde_json::Value| format!("http://{}/unsubscribes?since={since}", server.admin_addr());
    let listed = get_json(&client, &list_url(&0.into())).await;
    let rows = listed["unsubscribes"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["recipient"], pseudonym.as_str());
    assert_eq!(rows[0]["campaign"], "weekly");
    assert_eq!(listed["next"], rows[1]["id"]);
    let first_page = format!("http://{}/unsubscribes?since=0&limit=1", server.admin_addr());
    let first_page = get_json(&client, &first_page).await;
    assert_eq!(first_page["unsubscribes"].as_array().unwrap().len(), 1);
    assert_eq!(first_page["next"], rows[0]["id"]);
    let after = get_json(&client, &list_url(&listed["next"])).await;
    assert_eq!(after["unsubscribes"], serde_json::json!([]));
    assert_eq!(after["next"], listed["next"]);

    // The public listener serves no admin route.
    let public_list = format!("http://{}/unsubscribes?since=0", server.addr());
    assert_eq!(client.get(&public_list).send().await.unwrap().status(), 404);

    server.shutdown().await.unwrap();
    let db = rusqlite::Connection::open(&db).unwrap();
    let stored: Vec<StoredRow> = db
        .prepare(
            "SELECT method, campaign, recipient, rejected FROM events WHERE kind = 'unsubscribe' ORDER BY id",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        stored.len(),
        2,
        "the GET and the bad and oversized bodies stored nothing"
    );
    for (method, campaign, recipient, rejected) in &stored {
        assert_eq!(method, "POST");
        assert_eq!(campaign.as_deref(), Some("weekly"));
        assert_eq!(recipient.as_deref(), Some(pseudonym.as_str()));
        assert_eq!(rejected, &None);
    }
}

#[tokio::test]
async fn a_provider_parses_the_headers_and_posts_as_gmail_does() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}/hb");
    let key = Key::new(KeyId::new("k1").unwrap(), &[7; 32]).unwrap();
    let tracker = Tracker::new(key.into(), &base).unwrap();
    let pseudonym = PseudonymKey::new(&[0x42; 32])
        .unwrap()
        .pseudonym("ada@example.com");
    let mailto = Mailto::new("unsubscribe@example.com").unwrap();
    let headers = tracker
        .unsubscribe_headers("weekly", &pseudonym, SENT, Some(&mailto))
        .unwrap();

    let url = one_click_url(&message(&headers), headers.url());

    let endpoint = Arc::new(Endpoint::new(tracker, MemorySink::new()));
    let app = axum::Router::new()
        .fallback(host)
        .with_state(Arc::clone(&endpoint));
    let server = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    });
    let client = client();

    // A link scanner's GET: a page, no unsubscribe.
    let scanned = client.get(&url).send().await.unwrap();
    assert_eq!(scanned.status(), 200);
    assert!(endpoint.sink().is_empty());

    let response = post_as_gmail(&client, &url).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    let events = endpoint.sink().take();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, Kind::Unsubscribe);
    let token = events[0].token.as_ref().unwrap();
    assert_eq!(token.recipient.as_deref(), Some(pseudonym.as_str()));
    assert_eq!(&*token.campaign, "weekly");

    // A body past the bound is refused unread.
    let huge = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "List-Unsubscribe=One-Click&pad={}",
            "x".repeat(MAX_BODY_LEN)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    assert!(endpoint.sink().is_empty());
    server.abort();
}
