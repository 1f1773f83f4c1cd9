//! The proof that rollups are exact: random event streams — every kind, verdict and
//! rejection, recipients and links, times out of order, implied opens, conversions
//! posted more than once — written in several batches (and, on PostgreSQL, by two
//! writers at once), each writer remembering the recipients it stored or not, give
//! figures equal to the report folded from the stored raw rows.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test fails by panicking"
)]

mod common;

use hashbeacon::event::Link;
use hashbeacon::report::Report;
use hashbeacon::{Conversion, Event, KeyId, Kind, LinkId, Method, Signal, Verdict, VerifyError};
use hashbeacon_store::Store;
use hashbeacon_store::load::{ISSUED_AT, template};
use proptest::prelude::*;

const CAMPAIGNS: [&str; 2] = ["a", "b"];
const RECIPIENTS: [&str; 3] = ["AAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBB", "CCCCCCCCCCCCCCCC"];
const DAY: u64 = 86_400;

/// What a host hands the store: an event, or a conversion with its reference.
#[derive(Clone, Debug)]
enum Input {
    Event(Event),
    Conversion(String, Conversion),
}

fn verdicts() -> impl Strategy<Value = Verdict> {
    prop_oneof![
        Just(Verdict::Human),
        Just(Verdict::Proxied(Signal::GmailImageProxy)),
        Just(Verdict::Prefetch(Signal::ApplePrivacyProtection)),
        Just(Verdict::Scanner(Signal::HeadRequest)),
        Just(Verdict::Scanner(Signal::HttpLibrary("curl"))),
    ]
}

fn rejections() -> impl Strategy<Value = VerifyError> {
    prop_oneof![
        Just(VerifyError::BadMac),
        Just(VerifyError::UnknownKey(KeyId::new("k9").unwrap())),
        Just(VerifyError::Malformed("campaign id")),
        Just(VerifyError::Expired {
            expires_at: ISSUED_AT
        }),
    ]
}

fn links() -> impl Strategy<Value = Option<Link>> {
    prop_oneof![
        Just(None),
        Just(Some(Link::Index(0))),
        Just(Some(Link::Index(1))),
        Just(Some(Link::Label("cta".into()))),
    ]
}

fn inputs() -> impl Strategy<Value = Input> {
    (
        (
            0..CAMPAIGNS.len(),
            any::<bool>(),
            0u8..10,
            links(),
            prop::option::of(0..RECIPIENTS.len()),
        ),
        (
            0..10 * DAY,
            0..2 * DAY,
            verdicts(),
            any::<bool>(),
            rejections(),
            0u64..3,
        ),
    )
        .prop_map(
            |(
                (campaign, is_click, shape, link, recipient),
                (delay, issued, verdict, head, rejection, click),
            )| {
                let campaign = CAMPAIGNS[campaign];
                let recipient = recipient.map(|r| RECIPIENTS[r]);
                if shape == 7 {
                    // A landing site reports a conversion; a few clicks only, so the
                    // same reference comes back.
                    let link_id = link.as_ref().map(|link| match link {
                        Link::Index(i) => LinkId::Index(*i),
                        Link::Label(l) => LinkId::Label(l),
                    });
                    let clicked_at = ISSUED_AT + click * 600;
                    let (reference, conversion) =
                        common::conversion(campaign, link_id, recipient, clicked_at, clicked_at + delay);
                    return Input::Conversion(reference, conversion);
                }
                if shape >= 8 {
                    // A one-click unsubscribe: the header's token is issued at sending
                    // and names no link, so a recipient who posts again posts the same
                    // token; shape 9 is a forged one.
                    let mut event = template(Kind::Unsubscribe, false);
                    event.received_at = ISSUED_AT + delay;
                    event.verdict = verdict;
                    if let Ok(token) = &mut event.token {
                        token.campaign = campaign.into();
                        token.recipient = recipient.map(Into::into);
                    }
                    if shape == 9 {
                        event.token = Err(rejection);
                    }
                    return Input::Event(event);
                }
                let kind = if is_click { Kind::Click } else { Kind::Open };
                let mut event = template(kind, false);
                event.received_at = ISSUED_AT + delay;
                event.verdict = verdict;
                if head {
                    event.method = Method::Head;
                }
                if let Ok(token) = &mut event.token {
                    token.campaign = campaign.into();
                    token.recipient = recipient.map(Into::into);
                    token.link = link;
                    token.issued_at = ISSUED_AT + issued;
                }
                match shape {
                    0 => event.token = Err(rejection),
                    1 => {
                        event.kind = Kind::Open;
                        event.implied = true;
                    }
                    _ => {}
                }
                Input::Event(event)
            },
        )
}

/// Writes inputs in order: events a batch at a time, conversions as they come.
fn write(store: &mut Store, inputs: &[Input]) {
    let mut events = Vec::new();
    for input in inputs {
        match input {
            Input::Event(event) => events.push(event.clone()),
            Input::Conversion(reference, conversion) => {
                store.write(&events).unwrap();
                events.clear();
                store.record_conversion(reference, conversion).unwrap();
            }
        }
    }
    store.write(&events).unwrap();
}

/// The report of the inputs, folded directly, each reference counted once.
fn direct_report(inputs: &[Input]) -> Report {
    let mut report = Report::new();
    let mut seen = std::collections::HashSet::new();
    for input in inputs {
        match input {
            Input::Event(event) => report.add(event),
            Input::Conversion(reference, conversion) => {
                if seen.insert(reference.clone()) {
                    report.add_conversion(conversion);
                }
            }
        }
    }
    report
}

/// The rollups' figures equal the report of the stored raw rows.
fn check(store: &mut Store) -> Result<Report, TestCaseError> {
    common::rollups_equal_raw_report(store, &CAMPAIGNS)
}

/// How many recipients each store remembers as stored: none, so few that it
/// forgets them between batches, or all of them (repeats across batches, and
/// across writers, skip their first-seen rows).
fn known_recipients() -> impl Strategy<Value = usize> {
    prop_oneof![Just(0), Just(3), Just(1_000)]
}

fn batches(inputs: &[Input], cuts: &[usize]) -> Vec<Vec<Input>> {
    let mut bounds: Vec<usize> = cuts.iter().map(|cut| cut % (inputs.len() + 1)).collect();
    bounds.push(0);
    bounds.push(inputs.len());
    bounds.sort_unstable();
    bounds.windows(2).map(|w| inputs[w[0]..w[1]].to_vec()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sqlite_rollups_equal_the_raw_report(
        inputs in prop::collection::vec(inputs(), 0..80),
        cuts in prop::collection::vec(any::<usize>(), 0..4),
        known in known_recipients(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("events.db").to_str().unwrap()).unwrap();
        store.remember_recipients(known);
        for batch in batches(&inputs, &cuts) {
            write(&mut store, &batch);
        }
        let raw = check(&mut store)?;
        prop_assert_eq!(raw, direct_report(&inputs));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn postgres_rollups_equal_the_raw_report_with_two_writers(
        inputs in prop::collection::vec(inputs(), 0..80),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        known in known_recipients(),
    ) {
        let Some(url) = common::postgres_url() else { return Ok(()) };
        let url = common::fresh_schema(&url);
        // Which post of a reference counts first depends on the race between the
        // writers: make every post of one reference the same conversion.
        let mut first = std::collections::HashMap::new();
        let inputs: Vec<Input> = inputs
            .into_iter()
            .map(|input| match input {
                Input::Conversion(reference, conversion) => {
                    let conversion = first.entry(reference.clone()).or_insert(conversion).clone();
                    Input::Conversion(reference, conversion)
                }
                event => event,
            })
            .collect();
        let batches = batches(&inputs, &cuts);
        // Batch i goes to writer i % 2; both write at once.
        std::thread::scope(|scope| {
            for writer in 0..2 {
                let (url, batches) = (&url, &batches);
                scope.spawn(move || {
                    let mut store = Store::open(url).unwrap();
                    store.remember_recipients(known);
                    for batch in batches.iter().skip(writer).step_by(2) {
                        write(&mut store, batch);
                    }
                });
            }
        });
        let mut store = Store::open(&url).unwrap();
        let raw = check(&mut store)?;
        prop_assert_eq!(raw, direct_report(&inputs));
    }
}
