//! How long a writer waits while a retention purge runs: one thread stores a click
//! every millisecond, another purges the raw events received before a cutoff, and
//! the longest write that overlaps the purge (or the 300 ms after it) is printed.
//!
//! ```text
//! cargo run --release -p hashbeacon-store --example load -- --db /tmp/2m.db --events 2000000
//! cp /tmp/2m.db /tmp/purge.db   # a purge deletes: work on a copy
//! cargo run --release -p hashbeacon-store --example purge_wait -- --db /tmp/purge.db --cutoff 1768521600
//! ```
//!
//! The loaded events are spread over the 30 days after `load::ISSUED_AT`
//! (1767225600): that cutoff deletes about half of them, and the `ISSUED_AT` itself
//! none.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hashbeacon::Kind;
use hashbeacon_store::Store;
use hashbeacon_store::load::template;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut db, mut cutoff) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--db" => db = args.next(),
            "--cutoff" => cutoff = Some(args.next().ok_or("--cutoff needs unix seconds")?.parse::<u64>()?),
            other => return Err(format!("unknown argument {other:?}; use --db DB --cutoff UNIX").into()),
        }
    }
    let db = db.ok_or("--db is required: a SQLite path or a postgres:// URL")?;
    let cutoff = cutoff.ok_or("--cutoff is required")?;
    let (purging, stop) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|scope| -> Result<(), Box<dyn std::error::Error>> {
        let writer = scope.spawn(|| -> Result<(Duration, u64), String> {
            let mut store = Store::open(&db).map_err(|error| error.to_string())?;
            let (mut longest, mut writes) = (Duration::ZERO, 0);
            while !stop.load(Ordering::SeqCst) {
                let before = purging.load(Ordering::SeqCst);
                let started = Instant::now();
                (store.write(&[template(Kind::Click, false)])).map_err(|error| error.to_string())?;
                // Counted if it overlaps the purge: begun during it, or ended during it
                // after waiting since before it began.
                if before || purging.load(Ordering::SeqCst) {
                    longest = longest.max(started.elapsed());
                    writes += 1;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok((longest, writes))
        });
        // The writer's first writes warm its connection and caches.
        std::thread::sleep(Duration::from_secs(1));
        let mut store = Store::open(&db)?;
        purging.store(true, Ordering::SeqCst);
        let started = Instant::now();
        let purged = store.purge_before(cutoff);
        let took = started.elapsed();
        // A write blocked until the purge ended ends after it: still counted.
        std::thread::sleep(Duration::from_millis(300));
        purging.store(false, Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        let (longest, writes) = writer.join().map_err(|_| "the writer thread panicked")??;
        println!(
            "purged {} raw events in {took:.2?}; a concurrent writer stored {writes} clicks meanwhile, the longest write took {longest:.2?}",
            purged?.events
        );
        Ok(())
    })
}
