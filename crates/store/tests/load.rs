//! The bulk loader writes raw rows and rollups apart (rollups folded over the whole
//! load, written at the end): its figures must still equal the report folded from
//! the raw rows, on each backend, loaded once or in several loads that share
//! recipients with what is stored, with events out of order.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test fails by panicking"
)]

mod common;

use hashbeacon::Event;
use hashbeacon_store::Store;
use hashbeacon_store::load::{self, CAMPAIGN, Shape, Synthetic};
use proptest::prelude::*;

/// Small shapes: few recipients and links, so loads repeat them, and events at
/// random times, so a later load can move a recipient's first action earlier.
fn shapes() -> impl Strategy<Value = Shape> {
    (1u32..40, 1u32..4, 1u64..7_200, any::<u64>()).prop_map(|(recipients, links, spread, seed)| {
        let mut shape = Shape::default();
        shape.recipients = recipients;
        shape.links = links;
        shape.spread = spread;
        shape.seed = seed;
        shape
    })
}

/// Loads `events` in as many loads as `cuts` makes, then also writes `written` the
/// writer's way, and checks the figures against the raw report.
fn load_and_check(
    db: &str,
    events: &[Event],
    cuts: &[usize],
    written: &[Event],
) -> Result<(), TestCaseError> {
    let mut store = Store::open(db).unwrap();
    let mut bounds: Vec<usize> = cuts.iter().map(|cut| cut % (events.len() + 1)).collect();
    bounds.extend([0, events.len()]);
    bounds.sort_unstable();
    let mut stored = 0;
    for part in bounds.windows(2) {
        let part = &events[part[0]..part[1]];
        stored += load::load(&mut store, part.iter().cloned()).unwrap();
    }
    prop_assert_eq!(stored, events.len() as u64);
    store.write(written).unwrap();
    let raw = common::rollups_equal_raw_report(&mut store, &[CAMPAIGN])?;
    // Every event was stored once: synthetic events are clicks, opens, implied opens
    // or rejected.
    let accepted = raw.campaign(CAMPAIGN).map_or(0, |c| {
        c.clicks().total() + c.opens().total() + c.opens().implied()
    });
    prop_assert_eq!(
        accepted + raw.rejected().total(),
        (events.len() + written.len()) as u64
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn loaded_rollups_equal_the_raw_report(
        shape in shapes(),
        n in 0usize..600,
        cuts in prop::collection::vec(any::<usize>(), 0..3),
        written in 0usize..50,
    ) {
        let events: Vec<Event> = Synthetic::new(shape.clone()).take(n + written).collect();
        let (loaded, written) = events.split_at(n);
        let dir = tempfile::tempdir().unwrap();
        load_and_check(dir.path().join("events.db").to_str().unwrap(), loaded, &cuts, written)?;
        if let Some(url) = common::postgres_url() {
            load_and_check(&common::fresh_schema(&url), loaded, &cuts, written)?;
        }
    }
}
