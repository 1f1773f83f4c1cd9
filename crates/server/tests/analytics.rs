//! Analytics end to end on the reference server: `/stats` report figures, conversion
//! attribution through `POST /conversion`, and the live dashboard page.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use hashbeacon_server as app;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hashbeacon::{Claims, Key, KeyId, Keyring, Kind, LinkId, PseudonymKey, ReferenceParameter};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde_json::Value;

const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15";
const CAMPAIGN: &str = "spring";
const DESTINATION: &str = "https://shop.example/sale/?q=a+b&path=%2Fx#top";

async fn start(dir: &Path, reference: Option<ReferenceParameter>) -> app::Server {
    let keyring: Keyring = Key::new(KeyId::new("k1").unwrap(), &[7u8; 32]).unwrap().into();
    let mut config = app::Config::new(
        ([127, 0, 0, 1], 0).into(),
        keyring,
        dir.join("events.db").to_str().unwrap(),
    );
    config.conversion_reference = reference;
    app::start(config).await.unwrap()
}

fn client(user_agent: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .build()
        .unwrap()
}

/// An hour ago: clicks now are neither "too soon" nor in another time bucket.
fn sent_at() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 3600
}

fn url(server: &app::Server, kind: Kind, link: Option<&str>, recipient: &str) -> String {
    let claims = Claims {
        kind,
        campaign: CAMPAIGN,
        link: link.map(LinkId::Label),
        recipient: Some(recipient),
        issued_at: sent_at(),
        expires_at: None,
    };
    match kind {
        Kind::Click => server.tracker().click_url(&claims, DESTINATION).unwrap(),
        Kind::Open => server.tracker().open_url(&claims).unwrap(),
        Kind::Unsubscribe => server.tracker().unsubscribe_url(&claims).unwrap(),
    }
}

fn pseudonym(address: &str) -> String {
    PseudonymKey::new(&[9u8; 32])
        .unwrap()
        .pseudonym(address)
        .to_string()
}

async fn get_json(server: &app::Server, path: &str) -> Value {
    let response = client(BROWSER)
        .get(format!("http://{}{path}", server.admin_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

async fn post_conversion(server: &app::Server, reference: &str) -> reqwest::Response {
    client(BROWSER)
        .post(format!("http://{}/conversion", server.admin_addr()))
        .body(reference.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_carry_the_report_figures() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), None).await;
    let (ada, bob) = (pseudonym("ada@example.com"), pseudonym("bob@example.com"));
    let (browser, curl) = (client(BROWSER), client("curl/8.5.0"));
    for url in [
        url(&server, Kind::Click, Some("cta"), &ada),
        url(&server, Kind::Click, Some("cta"), &ada),
        url(&server, Kind::Click, Some("cta"), &bob),
        url(&server, Kind::Click, Some("footer"), &bob),
        url(&server, Kind::Open, None, &ada),
        url(&server, Kind::Open, None, &bob),
    ] {
        browser.get(&url).send().await.unwrap();
    }
    curl.get(url(&server, Kind::Click, Some("footer"), &bob))
        .send()
        .await
        .unwrap();
    curl.get(url(&server, Kind::Open, None, &bob))
        .send()
        .await
        .unwrap();
    let tampered = url(&server, Kind::Click, Some("cta"), &ada).replace("/c/1c.k1.spring", "/c/1c.k1.sprang");
    assert_eq!(browser.get(tampered).send().await.unwrap().status(), 404);

    // Shut down so every event is stored, then ask a server on the same database.
    server.shutdown().await.unwrap();
    let server = start(dir.path(), None).await;
    let stats = get_json(&server, &format!("/stats?campaign={CAMPAIGN}&delivered=10")).await;
    let day = get_json(&server, &format!("/stats?campaign={CAMPAIGN}&granularity=day")).await;
    let bad = client(BROWSER)
        .get(format!(
            "http://{}/stats?campaign={CAMPAIGN}&granularity=week",
            server.admin_addr()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    server.shutdown().await.unwrap();

    let report = &stats["report"];
    let clicks = &report["clicks"];
    assert_eq!(
        (
            &clicks["total"],
            &clicks["human"],
            &clicks["machine"],
            &clicks["unique_human"]
        ),
        (&Value::from(5), &Value::from(4), &Value::from(1), &Value::from(2))
    );
    assert_eq!(
        clicks["reasons"],
        serde_json::json!([
            {"reason": "human", "count": 4},
            {"reason": "scanner: HTTP library user agent (curl)", "count": 1},
        ])
    );
    let opens = &report["opens"];
    assert_eq!(
        (&opens["total"], &opens["human"]),
        (&Value::from(3), &Value::from(2))
    );
    assert_eq!(opens["unique_human"], 2);
    assert_eq!(report["click_through_rate"], 0.2);
    assert_eq!(report["open_rate"], 0.2);
    assert_eq!(report["click_to_open_rate"], 1.0);
    assert_eq!(report["conversion_rate"], 0.0);
    assert_eq!(report["rejected"], 1, "the tampered click, counted apart");
    // Both clickers first clicked about an hour after sending.
    let first_clicks: Vec<(&str, u64)> = report["time_to_first_click"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["bucket"].as_str().unwrap(), b["count"].as_u64().unwrap()))
        .filter(|(_, count)| *count > 0)
        .collect();
    assert_eq!(first_clicks, [("1–6 h", 2)]);
    let links = report["links"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(links[0]["link"], "cta");
    assert_eq!(links[0]["clicks"]["unique_human"], 2);
    assert_eq!(links[1]["clicks"]["machine"], 1);
    assert_eq!(links[1]["click_to_open_rate"], 0.5);
    let hourly_clicks: u64 = report["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["human_clicks"].as_u64().unwrap())
        .sum();
    assert_eq!(hourly_clicks, 4);
    let daily = day["report"]["trend"].as_array().unwrap();
    assert!(daily.len() <= 2 && daily.iter().all(|p| p["start"].as_u64().unwrap() % 86_400 == 0));
    assert_eq!(
        day["report"]["click_through_rate"],
        Value::Null,
        "no delivered count given"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversion_is_attributed_to_the_clicked_link() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), Some(ReferenceParameter::default())).await;
    let ada = pseudonym("ada@example.com");
    let response = client(BROWSER)
        .get(url(&server, Kind::Click, Some("cta"), &ada))
        .send()
        .await
        .unwrap();
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let (landing, reference) = location.split_once("&hb_ref=").unwrap();
    assert_eq!(landing, "https://shop.example/sale/?q=a+b&path=%2Fx");
    let reference = reference.strip_suffix("#top").unwrap();

    let converted = post_conversion(&server, reference).await;
    assert_eq!(converted.status(), 200);
    let converted: Value = serde_json::from_slice(&converted.bytes().await.unwrap()).unwrap();
    assert_eq!(
        (&converted["campaign"], &converted["link"]),
        (&Value::from(CAMPAIGN), &Value::from("cta"))
    );
    assert_eq!(converted["counted"], true);
    // The same reference again, as the form a landing page posts: 200, counted once.
    let again = client(BROWSER)
        .post(format!("http://{}/conversion", server.admin_addr()))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("hb_ref={reference}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = serde_json::from_slice(&again.bytes().await.unwrap()).unwrap();
    assert_eq!(
        (&again["campaign"], &again["counted"]),
        (&Value::from(CAMPAIGN), &Value::from(false))
    );
    for forged in ["", "nonsense", &reference.replace(".cta.", ".footer.")] {
        assert_eq!(post_conversion(&server, forged).await.status(), 400, "{forged}");
    }

    server.shutdown().await.unwrap();
    let server = start(dir.path(), None).await;
    let stats = get_json(&server, &format!("/stats?campaign={CAMPAIGN}")).await;
    server.shutdown().await.unwrap();
    let report = &stats["report"];
    assert_eq!(report["conversions"]["total"], 1);
    assert_eq!(report["conversion_rate"], 1.0);
    assert_eq!(report["links"][0]["link"], "cta");
    assert_eq!(report["links"][0]["conversions"], 1);
    assert_eq!(report["links"][0]["conversion_rate"], 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_option_redirects_carry_no_reference() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), None).await;
    let response = client(BROWSER)
        .get(url(
            &server,
            Kind::Click,
            Some("cta"),
            &pseudonym("ada@example.com"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[LOCATION], DESTINATION);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_self_contained_and_escapes_every_label() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), None).await;
    let ada = pseudonym("ada@example.com");
    client(BROWSER)
        .get(url(&server, Kind::Click, Some("cta"), &ada))
        .send()
        .await
        .unwrap();
    server.shutdown().await.unwrap();
    // A label no token could carry, written straight into the rollups the page reads.
    rusqlite::Connection::open(dir.path().join("events.db"))
        .unwrap()
        .execute(
            "INSERT INTO rollup_counts (campaign, scope, action, reason, person, n)
             VALUES (?1, '<script>alert(1)</script>', 'click', 'human', 1, 1)",
            [CAMPAIGN],
        )
        .unwrap();

    let server = start(dir.path(), None).await;
    let page = |campaign: &str| {
        let campaign = percent_encoding::utf8_percent_encode(campaign, percent_encoding::NON_ALPHANUMERIC);
        let url = format!(
            "http://{}/dashboard?campaign={campaign}&delivered=4",
            server.admin_addr()
        );
        let request = client(BROWSER).get(url);
        async move { request.send().await.unwrap() }
    };
    let response = page(CAMPAIGN).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.starts_with("default-src 'none'") && policy.contains("script-src 'sha256-"));
    let html = response.text().await.unwrap();
    assert!(html.contains(">cta<") && html.contains("<svg"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(html.matches("<script").count(), 1, "only the page's own script");
    assert!(
        html.contains("<b>25.0%</b>"),
        "click-through: one clicker of 4 delivered"
    );

    let hostile = page("<script>alert(2)</script>").await.text().await.unwrap();
    assert!(hostile.contains("No events for this campaign yet."));
    assert!(hostile.contains("&lt;script&gt;alert(2)&lt;/script&gt;"));
    assert_eq!(hostile.matches("<script").count(), 1);
    server.shutdown().await.unwrap();
}
