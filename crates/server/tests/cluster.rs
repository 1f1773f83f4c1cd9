//! End to end on real processes: `hashbeacon-server` nodes sharing one keyring and one
//! database, under a few thousand clicks and opens, with one node stopped (SIGTERM)
//! in the middle of the load. Run against PostgreSQL with two nodes, and against
//! SQLite with one.
//!
//! What must hold: every request that got its 302 or 200 has exactly one raw row;
//! the rollups equal the `Report` folded from the raw rows; `/stats` is the same
//! from every node; and a list manager paging through `/unsubscribes` while the
//! nodes store them meets every answered one-click unsubscribe exactly once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{KEY, Node};
use hashbeacon::{Claims, Keyring, Kind, LinkId, Tracker};
use hashbeacon_store::{CampaignFigures, RejectedFigures, Store};

const CAMPAIGN: &str = "cluster";
const REQUESTS: usize = 3_000;
/// Concurrent clients.
const CLIENTS: usize = 8;
const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15";

/// Request `n`: a click (even) or an open (odd) of its own recipient, so its raw row
/// can be told apart, every tenth a one-click unsubscribe instead; every seventh from
/// a scanner.
struct Planned {
    kind: Kind,
    recipient: String,
    target: String,
    user_agent: &'static str,
}

fn plan() -> Vec<Planned> {
    let tracker = Tracker::new(Keyring::from_text(KEY).unwrap(), "http://t.example/hb").unwrap();
    let sent = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 3_600;
    (0..REQUESTS)
        .map(|n| {
            let recipient = format!("r{n:015}");
            let kind = match n {
                _ if n % 10 == 9 => Kind::Unsubscribe,
                _ if n % 2 == 0 => Kind::Click,
                _ => Kind::Open,
            };
            let link = format!("link{}", n % 5);
            let claims = Claims {
                kind,
                campaign: CAMPAIGN,
                link: (kind == Kind::Click).then_some(LinkId::Label(&link)),
                recipient: Some(&recipient),
                issued_at: sent,
                expires_at: None,
            };
            let url = match kind {
                Kind::Click => tracker.click_url(&claims, "https://shop.example/?a=1"),
                Kind::Open => tracker.open_url(&claims),
                Kind::Unsubscribe => tracker.unsubscribe_url(&claims),
            }
            .unwrap();
            Planned {
                kind,
                target: url["http://t.example".len()..].to_owned(),
                recipient,
                user_agent: if n % 7 == 0 { "curl/8.5.0" } else { BROWSER },
            }
        })
        .collect()
}

/// Sends every planned request, spread over `nodes`, while `stop_first` (when given)
/// stops the first node once a third of the requests are answered. Returns the
/// recipients of the requests that got their 302 or 200.
async fn run_load(nodes: &[SocketAddr], plan: Vec<Planned>, stop_first: Option<&mut Node>) -> Vec<String> {
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicUsize::new(0));
    let answered_count = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (plan, next, answered_count) =
            (Arc::clone(&plan), Arc::clone(&next), Arc::clone(&answered_count));
        let nodes = nodes.to_vec();
        clients.spawn(async move {
            let mut answered = Vec::new();
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(planned) = plan.get(n) else { break };
                let node = nodes[n % nodes.len()];
                let url = format!("http://{node}{}", planned.target);
                let request = match planned.kind {
                    // What a mailbox provider sends when the reader presses the button.
                    Kind::Unsubscribe => (http.post(url))
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body(hashbeacon::unsubscribe::ONE_CLICK),
                    _ => http.get(url),
                };
                let sent = request.header("user-agent", planned.user_agent).send().await;
                // A request the stopping node refused or cut off got no answer: it
                // may or may not be stored, and it is not counted as answered.
                if let Ok(response) = sent {
                    let status = response.status().as_u16();
                    if response.bytes().await.is_ok() {
                        assert!(status == 302 || status == 200, "{status}");
                        answered.push(planned.recipient.clone());
                        answered_count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            answered
        });
    }
    if let Some(node) = stop_first {
        while answered_count.load(Ordering::Relaxed) < REQUESTS / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        node.terminate();
    }
    let mut answered = Vec::new();
    while let Some(done) = clients.join_next().await {
        answered.extend(done.unwrap());
    }
    answered
}

async fn stats(admin: SocketAddr) -> serde_json::Value {
    let url = format!("http://{admin}/stats?campaign={CAMPAIGN}&delivered={REQUESTS}");
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// Pages through `/unsubscribes` of `admin` by its cursor, as a list manager polls
/// it, until `stop` is set and a page comes back empty; returns the recipients met,
/// in the order listed.
async fn poll_unsubscribes(admin: SocketAddr, stop: Arc<AtomicBool>) -> Vec<String> {
    let (mut since, mut met) = (0, Vec::new());
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        let url = format!("http://{admin}/unsubscribes?since={since}&limit=7");
        let page: serde_json::Value =
            serde_json::from_slice(&reqwest::get(url).await.unwrap().bytes().await.unwrap()).unwrap();
        let rows = page["unsubscribes"].as_array().unwrap();
        for row in rows {
            let id = row["id"].as_i64().unwrap();
            assert!(id > since, "listed in id order, after the cursor");
            since = id;
            met.push(row["recipient"].as_str().unwrap().to_owned());
        }
        assert_eq!(page["next"].as_i64(), Some(since));
        if stopping && rows.is_empty() {
            return met;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn health(admin: SocketAddr) -> serde_json::Value {
    let response = reqwest::get(format!("http://{admin}/healthz")).await.unwrap();
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// Waits (bounded) until the node's writer holds nothing and has stored `at_least`.
async fn flushed(admin: SocketAddr, at_least: u64) {
    for _ in 0..400 {
        let health = health(admin).await;
        if health["events_waiting"] == 0 && health["events_stored"].as_u64().unwrap() >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the node never stored its events: {}", health(admin).await);
}

/// The whole check against one database with `nodes` nodes (the first is stopped
/// mid-load when there are two or more), each storing on two connections (SQLite
/// uses one whatever it is asked).
async fn cluster(db: &str, nodes: usize) {
    let args = ["--db", db, "--base-path", "/hb", "--db-connections", "2"];
    let mut running: Vec<Node> = (0..nodes).map(|_| Node::start(&args)).collect();
    let addrs: Vec<SocketAddr> = running.iter().map(|node| node.addr).collect();
    // The list manager polls a node that stays up all along.
    let stop_polling = Arc::new(AtomicBool::new(false));
    let poller = tokio::spawn(poll_unsubscribes(
        running[nodes - 1].admin,
        Arc::clone(&stop_polling),
    ));
    let plan = plan();
    let unsubscribes: Vec<String> = (plan.iter())
        .filter(|planned| planned.kind == Kind::Unsubscribe)
        .map(|planned| planned.recipient.clone())
        .collect();
    let (first, _) = running.split_first_mut().unwrap();
    let stop_first = (nodes > 1).then_some(first);
    let answered = run_load(&addrs, plan, stop_first).await;
    assert!(answered.len() >= REQUESTS / 3, "only {} answered", answered.len());

    if nodes > 1 {
        // The stopped node stored everything it had before it exited, successfully.
        let status = running[0]
            .wait_for_exit(Duration::from_secs(30))
            .expect("the stopped node exits");
        assert!(status.success(), "{:?}", running[0].logged());
        for node in &running[1..] {
            flushed(node.admin, 1).await;
        }
        // Start it again: every node must now show the same figures.
        running[0] = Node::start(&args);
    } else {
        flushed(running[0].admin, answered.len() as u64).await;
    }

    // The PostgreSQL client blocks on a runtime of its own: check off this one.
    let (db_owned, answered_owned) = (db.to_owned(), answered.clone());
    let (rows, machine_clicks) = tokio::task::spawn_blocking(move || check_rows(&db_owned, &answered_owned))
        .await
        .unwrap();

    // Every answered unsubscribe is stored (above), so the poller must have met it,
    // once; it may also meet one whose answer the stopped node never sent.
    stop_polling.store(true, Ordering::SeqCst);
    let met = poller.await.unwrap();
    let mut counted: HashMap<&str, usize> = HashMap::new();
    for recipient in &met {
        *counted.entry(recipient).or_default() += 1;
    }
    assert!(counted.values().all(|&times| times == 1), "listed twice");
    let answered_unsubscribes = (answered.iter()).filter(|recipient| unsubscribes.contains(recipient));
    for recipient in answered_unsubscribes {
        assert!(
            counted.contains_key(recipient.as_str()),
            "{recipient} never listed"
        );
    }

    // /stats is the same from every node, and says what the raw rows say.
    let first = stats(running[0].admin).await;
    for node in &running[1..] {
        assert_eq!(stats(node.admin).await, first);
    }
    let total = first["report"]["clicks"]["total"].as_u64().unwrap()
        + first["report"]["opens"]["total"].as_u64().unwrap()
        + first["report"]["unsubscribes"]["total"].as_u64().unwrap();
    assert_eq!(total, rows);
    assert_eq!(first["report"]["clicks"]["machine"], machine_clicks);

    for node in &mut running {
        node.terminate();
        assert!(node.wait_for_exit(Duration::from_secs(30)).unwrap().success());
    }
}

/// The raw rows of the campaign per recipient.
fn rows_of(report: &hashbeacon::report::Report) -> HashMap<String, u64> {
    let Some(campaign) = report.campaign(CAMPAIGN) else {
        return HashMap::new();
    };
    (campaign.recipients().into_iter())
        .map(|activity| {
            let rows = activity.clicks + activity.opens + activity.unsubscribes;
            (activity.recipient.clone(), rows)
        })
        .collect()
}

/// Checks the raw rows and the rollups of `db`: one row per answered request, none of
/// anything else, rollups equal to the fold of the rows. Returns the number of rows
/// and of machine clicks.
fn check_rows(db: &str, answered: &[String]) -> (u64, u64) {
    let mut store = Store::open(db).unwrap();
    // A running node's writer may still hold its last batch (its health counts only
    // what waits for an unreachable database): give it a moment to store it.
    let mut report = store.raw_report().unwrap();
    for _ in 0..200 {
        if answered
            .iter()
            .all(|recipient| rows_of(&report).contains_key(recipient))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
        report = store.raw_report().unwrap();
    }
    let campaign = report.campaign(CAMPAIGN).expect("events were stored");
    // Exactly one raw row for every answered request, and no row for anything else.
    let rows = rows_of(&report);
    for recipient in answered {
        assert_eq!(
            rows.get(recipient),
            Some(&1),
            "raw rows of answered request {recipient}"
        );
    }
    let attempted: usize = rows.keys().filter(|recipient| recipient.starts_with('r')).count();
    assert_eq!(attempted, rows.len(), "a raw row of no request");
    assert!(rows.len() <= REQUESTS);
    assert_eq!(report.rejected().total(), 0);

    // The rollups equal the fold of the raw rows.
    assert_eq!(
        store.figures(CAMPAIGN).unwrap(),
        CampaignFigures::from_report(campaign)
    );
    assert_eq!(
        store.rejected().unwrap(),
        RejectedFigures::from_report(report.rejected())
    );

    (rows.values().sum(), campaign.clicks().machine())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_lose_and_double_nothing_when_one_stops_mid_load() {
    let schema = tokio::task::spawn_blocking(|| common::postgres_url().map(|url| common::fresh_schema(&url)))
        .await
        .unwrap();
    let Some(db) = schema else { return };
    cluster(&db, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_on_sqlite_stores_every_answered_request_once() {
    let dir = tempfile::tempdir().unwrap();
    cluster(dir.path().join("events.db").to_str().unwrap(), 1).await;
}
