//! The store on both backends: schema versions, conversions once per reference,
//! retention, and figures that equal the report of the raw rows.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test fails by panicking"
)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{count, databases};

use hashbeacon::event::Link;
use hashbeacon::report::Report;
use hashbeacon::{Kind, LinkId, Signal, Verdict, VerifyError};
use hashbeacon_store::load::{CAMPAIGN, ISSUED_AT, template};
use hashbeacon_store::{CampaignFigures, RejectedFigures, SCHEMA_VERSION, Store};

fn figures_of(report: &Report, campaign: &str) -> CampaignFigures {
    report
        .campaign(campaign)
        .map(CampaignFigures::from_report)
        .unwrap_or_default()
}

fn click(recipient: &str, link: u32, at: u64, verdict: Verdict) -> hashbeacon::Event {
    let mut event = template(Kind::Click, false);
    event.received_at = at;
    event.verdict = verdict;
    if let Ok(token) = &mut event.token {
        token.recipient = Some(recipient.into());
        token.link = Some(Link::Index(link));
    }
    event
}

#[test]
fn figures_equal_the_report_of_the_raw_rows() {
    databases(|db| {
        let mut store = Store::open(db).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let events = [
            click("AAAAAAAAAAAAAAAA", 0, ISSUED_AT + 3_600, Verdict::Human),
            click("AAAAAAAAAAAAAAAA", 1, ISSUED_AT + 30, Verdict::Human),
            click(
                "BBBBBBBBBBBBBBBB",
                0,
                ISSUED_AT + 2,
                Verdict::Scanner(Signal::HeadRequest),
            ),
            template(Kind::Open, false),
            template(Kind::Click, true),
        ];
        store.write(&events[..2]).unwrap();
        store.write(&events[2..]).unwrap();
        let direct: Report = events.iter().collect();
        let raw = store.raw_report().unwrap();
        assert_eq!(raw, direct);
        let figures = store.figures(CAMPAIGN).unwrap();
        assert_eq!(figures, figures_of(&raw, CAMPAIGN));
        assert_eq!((figures.clicks.human, figures.clicks.machine), (2, 1));
        assert_eq!(figures.clicks.unique_human, 1);
        assert_eq!(
            figures.clicks.time_to_first[0], 1,
            "the out-of-order earlier click counts"
        );
        assert_eq!(
            store.rejected().unwrap(),
            RejectedFigures::from_report(raw.rejected())
        );
        assert_eq!(store.rejected().unwrap().of(Kind::Click), 1);
        assert_eq!(store.figures("other").unwrap(), CampaignFigures::default());
    });
}

#[test]
fn a_conversion_counts_once_per_reference() {
    databases(|db| {
        let mut store = Store::open(db).unwrap();
        let (reference, conversion) = common::conversion(
            CAMPAIGN,
            Some(LinkId::Index(0)),
            Some("AAAAAAAAAAAAAAAA"),
            ISSUED_AT,
            ISSUED_AT + 60,
        );
        assert!(store.record_conversion(&reference, &conversion).unwrap());
        for _ in 0..3 {
            assert!(!store.record_conversion(&reference, &conversion).unwrap());
        }
        let (other, second) = common::conversion(CAMPAIGN, None, None, ISSUED_AT + 5, ISSUED_AT + 90);
        assert!(store.record_conversion(&other, &second).unwrap());
        let figures = store.figures(CAMPAIGN).unwrap();
        assert_eq!(figures.conversions.total(), 2);
        assert_eq!(
            figures.link(Some(&Link::Index(0))).unwrap().conversions.total(),
            1
        );
        assert_eq!(figures, figures_of(&store.raw_report().unwrap(), CAMPAIGN));
    });
}

#[test]
fn purging_raw_rows_keeps_the_figures() {
    databases(|db| {
        let mut store = Store::open(db).unwrap();
        let old = click("AAAAAAAAAAAAAAAA", 0, ISSUED_AT + 10, Verdict::Human);
        let new = click("BBBBBBBBBBBBBBBB", 1, ISSUED_AT + 10 * 86_400, Verdict::Human);
        store.write(&[old, new]).unwrap();
        let (reference, conversion) = common::conversion(CAMPAIGN, None, None, ISSUED_AT, ISSUED_AT + 20);
        store.record_conversion(&reference, &conversion).unwrap();
        let before = store.figures(CAMPAIGN).unwrap();
        let rejected = store.rejected().unwrap();

        let purged = store.purge_before(ISSUED_AT + 86_400).unwrap();
        assert_eq!((purged.events, purged.conversions), (1, 1));
        let raw = store.raw_report().unwrap();
        assert_eq!(
            raw.campaign(CAMPAIGN).unwrap().clicks().total(),
            1,
            "one raw click is left"
        );
        assert_eq!(store.figures(CAMPAIGN).unwrap(), before);
        assert_eq!(store.rejected().unwrap(), rejected);
        // The purged conversion's reference still counts once.
        assert!(!store.record_conversion(&reference, &conversion).unwrap());
        assert_eq!(store.figures(CAMPAIGN).unwrap(), before);
    });
}

#[test]
fn a_rejected_token_counts_by_reason_never_as_a_click() {
    databases(|db| {
        let mut store = Store::open(db).unwrap();
        let mut unknown = template(Kind::Open, true);
        unknown.token = Err(VerifyError::UnknownKey(hashbeacon::KeyId::new("k9").unwrap()));
        store.write(&[template(Kind::Click, true), unknown]).unwrap();
        let rejected = store.rejected().unwrap();
        assert_eq!(rejected.total(), 2);
        assert_eq!(
            rejected.reasons,
            [("bad MAC".to_owned(), 1), ("unknown key".to_owned(), 1)]
        );
        assert_eq!(store.figures(CAMPAIGN).unwrap(), CampaignFigures::default());
    });
}

#[test]
fn user_agents_are_stored_capped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let mut store = Store::open(path.to_str().unwrap()).unwrap();
    let mut event = template(Kind::Click, false);
    event.user_agent = Some("x".repeat(100_000));
    store.write(&[event]).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let len: i64 = conn
        .query_row("SELECT length(user_agent) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(len, hashbeacon::event::MAX_USER_AGENT_LEN as i64);
}

#[test]
fn a_user_agent_with_a_nul_byte_does_not_cost_its_batch() {
    // PostgreSQL's text cannot hold U+0000, and `Request` takes any string: the
    // event is stored, the same on both backends, and so is its batch.
    databases(|db| {
        let mut store = Store::open(db).unwrap();
        let mut odd = click("AAAAAAAAAAAAAAAA", 0, ISSUED_AT + 60, Verdict::Human);
        odd.user_agent = Some("Mozilla/5.0\0(X11)".to_owned());
        let events = [click("BBBBBBBBBBBBBBBB", 1, ISSUED_AT + 30, Verdict::Human), odd];
        store.write(&events).unwrap();
        assert_eq!(count(db, "SELECT count(*) FROM events"), 2);
        let stored = count(
            db,
            "SELECT count(*) FROM events WHERE user_agent = 'Mozilla/5.0\u{FFFD}(X11)'",
        );
        assert_eq!(stored, 1, "the user agent is kept, U+0000 as U+FFFD");
        assert_eq!(store.figures(CAMPAIGN).unwrap().clicks.human, 2);
    });
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    drop(Store::open(path.to_str().unwrap()).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE hashbeacon_schema SET version = version + 1", [])
        .unwrap();
    let error = Store::open(path.to_str().unwrap()).unwrap_err();
    assert!(error.is_newer_schema(), "{error}");
    assert!(
        error
            .to_string()
            .contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{error}"
    );

    if let Some(url) = common::postgres_url() {
        let url = common::fresh_schema(&url);
        drop(Store::open(&url).unwrap());
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .execute("UPDATE hashbeacon_schema SET version = version + 1", &[])
            .unwrap();
        let error = Store::open(&url).unwrap_err();
        assert!(error.is_newer_schema(), "{error}");
        // Opening an up-to-date database again migrates nothing.
        client
            .execute("UPDATE hashbeacon_schema SET version = version - 1", &[])
            .unwrap();
        assert_eq!(
            Store::open(&url).unwrap().schema_version().unwrap(),
            SCHEMA_VERSION
        );
    }
}

#[test]
fn a_batch_written_once_is_not_counted_twice() {
    databases(|db| {
        let mut store = Store::open(db).unwrap();
        let events = [
            click("AAAAAAAAAAAAAAAA", 0, ISSUED_AT + 60, Verdict::Human),
            template(Kind::Open, false),
        ];
        assert!(store.write_once("node-1-1", &events).unwrap());
        let figures = store.figures(CAMPAIGN).unwrap();
        assert!(
            !store.write_once("node-1-1", &events).unwrap(),
            "the same batch again"
        );
        assert_eq!(store.figures(CAMPAIGN).unwrap(), figures);
        assert!(store.write_once("node-1-2", &events).unwrap(), "another batch");
        assert_eq!(store.figures(CAMPAIGN).unwrap().clicks.total(), 2);
        assert_eq!(store.raw_report().unwrap().events(), 4);
        // An id answered for is forgotten with the next batch, not kept for good.
        let ids = |db| {
            count(
                db,
                "SELECT COUNT(*) FROM written_batches WHERE id LIKE 'node-1-%'",
            )
        };
        assert_eq!(ids(db), 1);
        assert!(
            !store.write_once("node-1-2", &events).unwrap(),
            "the last one is kept"
        );
        assert!(store.write_once("node-1-3", &events).unwrap());
        assert_eq!(ids(db), 1);
        // A store that lost its answers (a new connection) leaves the ids to the purge.
        let mut other = Store::open(db).unwrap();
        assert!(!other.write_once("node-1-3", &events).unwrap());
        assert_eq!(store.raw_report().unwrap().events(), 6);
        assert_eq!(store.purge_before(ISSUED_AT + 86_400).unwrap().events, 6);
        assert_eq!(ids(db), 0, "the purge takes the ids of the batches it passes");
    });
}

fn unsubscribe(recipient: &str, at: u64) -> hashbeacon::Event {
    let mut event = template(Kind::Unsubscribe, false);
    event.received_at = at;
    if let Ok(token) = &mut event.token {
        token.recipient = Some(recipient.into());
    }
    event
}

#[test]
fn accepted_unsubscribes_are_listed_after_a_cursor() {
    databases(|db| {
        let mut store = Store::open(db).unwrap();
        let mut expired = unsubscribe("BBBBBBBBBBBBBBBB", ISSUED_AT + 120);
        if let Ok(token) = &mut expired.token {
            token.expired = true;
        }
        store
            .write(&[
                click("AAAAAAAAAAAAAAAA", 0, ISSUED_AT + 30, Verdict::Human),
                unsubscribe("AAAAAAAAAAAAAAAA", ISSUED_AT + 60),
                template(Kind::Unsubscribe, true),
                expired,
                // The same recipient's second press: listed again.
                unsubscribe("AAAAAAAAAAAAAAAA", ISSUED_AT + 180),
            ])
            .unwrap();
        let all = store.unsubscribes(0, 100).unwrap();
        let listed: Vec<_> = (all.iter())
            .map(|row| {
                (
                    row.campaign.as_str(),
                    row.recipient.as_str(),
                    row.received_at,
                    row.expired,
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                (CAMPAIGN, "AAAAAAAAAAAAAAAA", ISSUED_AT + 60, false),
                (CAMPAIGN, "BBBBBBBBBBBBBBBB", ISSUED_AT + 120, true),
                (CAMPAIGN, "AAAAAAAAAAAAAAAA", ISSUED_AT + 180, false),
            ],
            "the click and the forged POST are not listed"
        );
        assert!(all.windows(2).all(|pair| pair[0].id < pair[1].id));
        // Paging by cursor yields the same rows, none twice.
        let first = store.unsubscribes(0, 2).unwrap();
        assert_eq!(first, all[..2]);
        assert_eq!(store.unsubscribes(first[1].id, 2).unwrap(), all[2..]);
        assert!(store.unsubscribes(all[2].id, 2).unwrap().is_empty());
        // The figures count the recipient once, and the forged POST as rejected.
        let figures = store.figures(CAMPAIGN).unwrap();
        assert_eq!(
            (figures.unsubscribes.total(), figures.unsubscribes.unique),
            (3, 2)
        );
        assert_eq!(store.rejected().unwrap().of(Kind::Unsubscribe), 1);
    });
}

/// Several writers store unsubscribes at once while a list manager pages through
/// them by cursor, as `/unsubscribes?since=ID` does: it must meet every one of them.
/// A row id is taken when the row is written, not when its transaction commits, so
/// unless the backend orders those writes, a reader can see a later writer's higher
/// id first, move its cursor past it, and never list the lower one.
#[test]
fn a_cursor_meets_every_unsubscribe_of_concurrent_writers() {
    const WRITERS: usize = 4;
    const BATCHES: usize = 60;
    databases(|db| {
        drop(Store::open(db).unwrap());
        let written = AtomicUsize::new(0);
        let listed = std::thread::scope(|scope| {
            for writer in 0..WRITERS {
                let written = &written;
                scope.spawn(move || {
                    let mut store = Store::open(db).unwrap();
                    for batch in 0..BATCHES {
                        // Clicks around the unsubscribe give the batch rollups to
                        // write between taking its ids and committing.
                        let at = ISSUED_AT + 60 + batch as u64;
                        let mut events: Vec<_> = (0..50)
                            .map(|i| click(&format!("R{writer}x{batch}x{i:0>12}"), i % 7, at, Verdict::Human))
                            .collect();
                        events.insert(25, unsubscribe(&format!("U{writer}x{batch:0>14}"), at));
                        store.write(&events).unwrap();
                        written.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
            let mut reader = Store::open(db).unwrap();
            let (mut cursor, mut listed) = (0, Vec::new());
            loop {
                let done = written.load(Ordering::SeqCst) == WRITERS * BATCHES;
                let page = reader.unsubscribes(cursor, 3).unwrap();
                if let Some(last) = page.last() {
                    cursor = last.id;
                }
                let empty = page.is_empty();
                listed.extend(page.into_iter().map(|row| row.recipient));
                if done && empty {
                    break listed;
                }
            }
        });
        let mut all: Vec<String> = (Store::open(db).unwrap().unsubscribes(0, 1000).unwrap())
            .into_iter()
            .map(|row| row.recipient)
            .collect();
        assert_eq!(all.len(), WRITERS * BATCHES);
        assert_eq!(listed.len(), all.len(), "the cursor stepped past some");
        let mut seen = listed;
        seen.sort();
        all.sort();
        assert_eq!(seen, all);
    });
}
