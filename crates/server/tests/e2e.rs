//! End to end: the server on loopback, a real
//! HTTP client, events in a real SQLite database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hashbeacon_server as app;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hashbeacon::{Claims, Key, KeyId, Keyring, Kind, LinkId, PseudonymKey};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use rusqlite::Connection;

const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15";
const CAMPAIGN: &str = "spring";
/// A destination with bytes that must arrive exactly: `+`, `%2F`, `&`, a fragment.
const DESTINATION: &str = "https://shop.example/sale/?q=a+b&path=%2Fx&n=1#top";

fn keyring() -> Keyring {
    Key::new(KeyId::new("k1").unwrap(), &[7u8; 32]).unwrap().into()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// An hour before now: long enough that a click is not "too soon after sending".
fn sent_at() -> u64 {
    unix_now() - 3600
}

async fn start(dir: &Path) -> app::Server {
    start_with_queue(dir, app::DEFAULT_QUEUE).await
}

async fn start_with_queue(dir: &Path, queue: usize) -> app::Server {
    let mut config = app::Config::new(
        ([127, 0, 0, 1], 0).into(),
        keyring(),
        dir.join("events.db").to_str().unwrap(),
    );
    config.base_path = "/hb".to_owned();
    config.queue = queue;
    app::start(config).await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(BROWSER)
        .build()
        .unwrap()
}

fn click_url(server: &app::Server, link: &str, recipient: &str) -> String {
    let claims = Claims {
        kind: Kind::Click,
        campaign: CAMPAIGN,
        link: Some(LinkId::Label(link)),
        recipient: Some(recipient),
        issued_at: sent_at(),
        expires_at: None,
    };
    server.tracker().click_url(&claims, DESTINATION).unwrap()
}

fn open_url(server: &app::Server, recipient: &str) -> String {
    let claims = Claims {
        kind: Kind::Open,
        campaign: CAMPAIGN,
        link: None,
        recipient: Some(recipient),
        issued_at: sent_at(),
        expires_at: None,
    };
    server.tracker().open_url(&claims).unwrap()
}

fn pseudonym(address: &str) -> String {
    PseudonymKey::new(&[9u8; 32])
        .unwrap()
        .pseudonym(address)
        .as_str()
        .to_owned()
}

fn db(dir: &Path) -> Connection {
    Connection::open(dir.join("events.db").to_str().unwrap()).unwrap()
}

fn rows(dir: &Path, filter: &str) -> i64 {
    db(dir)
        .query_row(
            &format!("SELECT COUNT(*) FROM events WHERE {filter}"),
            [],
            |row| row.get(0),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_redirects_exactly_and_lands_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let ada = pseudonym("ada@example.com");
    let url = click_url(&server, "cta", &ada);

    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(
        response.headers()[LOCATION],
        "https://shop.example/sale/?q=a+b&path=%2Fx&n=1#top"
    );
    assert_eq!(response.headers()["cache-control"], "no-store, private");

    let health = server.shutdown().await.unwrap();
    assert_eq!((health.status.as_str(), health.events_stored), ("ok", 1));
    let row: (String, String, String, String, String, String, i64) = db(dir.path())
        .query_row(
            "SELECT kind, campaign, link, recipient, method, verdict, person FROM events",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "click".into(),
            CAMPAIGN.into(),
            "cta".into(),
            ada,
            "GET".into(),
            "human".into(),
            1
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_click_is_a_404_without_location() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let url = click_url(&server, "cta", &pseudonym("ada@example.com"));
    let tampered = url.replace("shop.example", "evil.example");
    assert_ne!(url, tampered);

    let response = client().get(&tampered).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.headers().get(LOCATION).is_none());
    assert_eq!(response.text().await.unwrap(), "Not Found\n");

    server.shutdown().await.unwrap();
    // Stored as rejected, with the reason, and never counted as a click.
    assert_eq!(rows(dir.path(), "rejected IS NOT NULL AND campaign IS NULL"), 1);
    // A forged request is nobody's action: never stored as a person's.
    assert_eq!(
        rows(
            dir.path(),
            "rejected IS NOT NULL AND verdict = 'rejected' AND person = 0"
        ),
        1
    );
    assert_eq!(rows(dir.path(), "rejected IS NULL"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_is_answered_but_not_counted_as_human() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let url = click_url(&server, "cta", &pseudonym("ada@example.com"));

    let response = client().head(&url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()[LOCATION], DESTINATION);
    let stats = stats(&server).await;

    server.shutdown().await.unwrap();
    assert_eq!(
        rows(
            dir.path(),
            "method = 'HEAD' AND verdict = 'scanner' AND person = 0"
        ),
        1
    );
    assert_eq!(rows(dir.path(), "verdict = 'human'"), 0);
    // The writer may or may not have stored it when /stats was asked; never as human.
    assert!(stats["links"].as_array().unwrap().iter().all(|l| l["human"] == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pixel_is_a_gif_for_good_and_bad_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let good = open_url(&server, &pseudonym("ada@example.com"));
    let bad = good.replace("/o/1o.", "/o/1o.x");

    for url in [&good, &bad] {
        let response = client().get(url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        assert_eq!(response.headers()[CONTENT_TYPE], "image/gif");
        assert_eq!(response.headers()[CONTENT_LENGTH], "43");
        let body = response.bytes().await.unwrap();
        assert_eq!(&body[..], hashbeacon::pixel::GIF);
        assert_eq!(body.len(), 43);
    }

    server.shutdown().await.unwrap();
    assert_eq!(
        rows(dir.path(), "kind = 'open' AND rejected IS NULL AND person = 1"),
        1
    );
    assert_eq!(rows(dir.path(), "kind = 'open' AND rejected IS NOT NULL"), 1);
}

async fn stats(server: &app::Server) -> serde_json::Value {
    let url = format!("http://{}/stats?campaign={CAMPAIGN}", server.admin_addr());
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

async fn health(server: &app::Server) -> app::HealthReport {
    let url = format!("http://{}/healthz", server.admin_addr());
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_clicks_per_link_and_opens() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let (ada, bob) = (pseudonym("ada@example.com"), pseudonym("bob@example.com"));
    let client = client();
    for url in [
        click_url(&server, "cta", &ada),
        click_url(&server, "cta", &ada),
        click_url(&server, "cta", &bob),
        click_url(&server, "footer", &bob),
        open_url(&server, &ada),
        open_url(&server, &bob),
    ] {
        client.get(&url).send().await.unwrap();
    }
    let curl = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("curl/8.5.0")
        .build()
        .unwrap();
    curl.get(click_url(&server, "footer", &bob)).send().await.unwrap();
    curl.get(open_url(&server, &bob)).send().await.unwrap();
    // A scanner's click and open for a third recipient: counted, but no unique reader.
    let cy = pseudonym("cy@example.com");
    curl.get(click_url(&server, "cta", &cy)).send().await.unwrap();
    curl.get(open_url(&server, &cy)).send().await.unwrap();

    // Shut down so every event is stored, then ask a server on the same database.
    server.shutdown().await.unwrap();
    let server = start(dir.path()).await;
    let mut stats = stats(&server).await;
    server.shutdown().await.unwrap();

    // The report's figures are checked in tests/analytics.rs.
    assert!(stats.as_object_mut().unwrap().remove("report").is_some());
    assert_eq!(
        stats,
        serde_json::json!({
            "campaign": CAMPAIGN,
            "links": [
                {"link": "cta", "clicks": 4, "unique_recipients": 2, "human": 3, "machine": 1},
                {"link": "footer", "clicks": 2, "unique_recipients": 1, "human": 1, "machine": 1},
            ],
            "opens": {"opens": 4, "unique_opens": 2, "human": 2, "machine": 2},
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_lose_no_event_and_shutdown_flushes_them() {
    const TASKS: usize = 16;
    const PER_TASK: usize = 125;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let recipient = pseudonym(&format!("reader{task}@example.com"));
        let urls: Vec<String> = (0..PER_TASK)
            .map(|i| {
                if i % 2 == 0 {
                    click_url(&server, "cta", &recipient)
                } else {
                    open_url(&server, &recipient)
                }
            })
            .collect();
        let client = client.clone();
        tasks.spawn(async move {
            for url in urls {
                let status = client.get(&url).send().await.unwrap().status();
                assert!(status == 302 || status == 200, "{status}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    // Shut down right away: events still queued must be stored before it returns.
    let health = server.shutdown().await.unwrap();

    let requests = i64::try_from(TASKS * PER_TASK).unwrap();
    assert_eq!(requests, 2_000);
    assert_eq!(rows(dir.path(), "1 = 1"), requests);
    assert_eq!(
        rows(dir.path(), "kind = 'click'"),
        i64::try_from(TASKS * PER_TASK.div_ceil(2)).unwrap()
    );
    assert_eq!(health.events_stored, 2_000);
    assert_eq!((health.events_not_stored, health.events_not_queued), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_database_still_redirects_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    db(dir.path()).execute_batch("DROP TABLE events").unwrap();

    let url = click_url(&server, "cta", &pseudonym("ada@example.com"));
    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()[LOCATION], DESTINATION);

    // The writer works on its own thread: wait (bounded) for /healthz to show it.
    let mut report = health(&server).await;
    for _ in 0..400 {
        if report.events_not_stored > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        report = health(&server).await;
    }
    assert_eq!(report.status, "degraded");
    assert_eq!((report.events_stored, report.events_not_stored), (0, 1));
    assert!(report.last_error.unwrap().contains("no such table"));

    let report = server.shutdown().await.unwrap();
    assert_eq!((report.events_stored, report.events_not_stored), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_still_redirects_and_every_event_is_accounted_for() {
    const REQUESTS: u64 = 6;
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_queue(dir.path(), 1).await;
    // Hold the write lock so the writer is stuck and the one-slot queue fills.
    let blocker = db(dir.path());
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let client = client();
    for request in 0..REQUESTS {
        let url = click_url(&server, "cta", &pseudonym("ada@example.com"));
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 302);
        if request == 0 {
            // The writer takes the first event and waits (20 ms) for more to batch
            // with it; past that wait it is stuck on the lock, and the queue fills.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let during = health(&server).await;
    assert!(during.events_not_queued >= 1, "{during:?}");
    assert_eq!(
        during.last_error.as_deref(),
        Some("event channel is full: the consumer is not keeping up")
    );

    blocker.execute_batch("COMMIT").unwrap();
    let after = server.shutdown().await.unwrap();
    assert_eq!(
        after.events_stored + after.events_not_stored + after.events_not_queued,
        REQUESTS
    );
    assert_eq!(
        rows(dir.path(), "1 = 1"),
        i64::try_from(after.events_stored).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    for (trusted, expected) in [(false, "127.0.0.0"), (true, "198.51.100.0")] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = app::Config::new(
            ([127, 0, 0, 1], 0).into(),
            keyring(),
            dir.path().join("events.db").to_str().unwrap(),
        );
        if trusted {
            config.trusted_proxies.push("127.0.0.0/8".parse().unwrap());
        }
        let server = app::start(config).await.unwrap();
        let url = click_url(&server, "cta", &pseudonym("ada@example.com"));
        let response = client()
            .get(&url)
            .header("x-forwarded-for", "198.51.100.77")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        server.shutdown().await.unwrap();
        let ip: String = db(dir.path())
            .query_row("SELECT client_ip FROM events", [], |row| row.get(0))
            .unwrap();
        assert_eq!(ip, expected, "trusted: {trusted}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_live_only_on_the_admin_listener_behind_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = app::Config::new(
        ([127, 0, 0, 1], 0).into(),
        keyring(),
        dir.path().join("events.db").to_str().unwrap(),
    );
    config.admin_token = Some("s3cret-token".to_owned());
    let server = app::start(config).await.unwrap();
    let client = client();
    for path in ["/stats?campaign=spring", "/dashboard?campaign=spring", "/healthz"] {
        let public = client
            .get(format!("http://{}{path}", server.addr()))
            .send()
            .await
            .unwrap();
        assert_eq!(public.status(), 404, "{path} on the tracking port");
        let admin = format!("http://{}{path}", server.admin_addr());
        let anonymous = client.get(&admin).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{path} without the token");
        assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
        let wrong = client
            .get(&admin)
            .bearer_auth("s3cret-tokem")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{path} with a wrong token");
        let right = client
            .get(&admin)
            .bearer_auth("s3cret-token")
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), 200, "{path} with the token");
    }
    let public = client
        .post(format!("http://{}/conversion", server.addr()))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404, "no conversions on the tracking port");
    server.shutdown().await.unwrap();
}
