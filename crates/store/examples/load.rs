//! Loads synthetic events into a database, for benchmarks of figures at scale.
//!
//! ```text
//! cargo run --release -p hashbeacon-store --example load -- --db events.db --events 10000000
//! ```

use std::time::Instant;

use hashbeacon_store::Store;
use hashbeacon_store::load::{self, Shape, Synthetic};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut db = None;
    let mut events: u64 = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--db" => db = args.next(),
            "--events" => events = args.next().ok_or("--events needs a number")?.parse()?,
            other => return Err(format!("unknown argument {other:?}; use --db DB --events N").into()),
        }
    }
    let db = db.ok_or("--db is required: a SQLite path or a postgres:// URL")?;
    let mut store = Store::open(&db)?;
    let started = Instant::now();
    let take = usize::try_from(events)?;
    let stored = load::load(&mut store, Synthetic::new(Shape::default()).take(take))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "stored {stored} events in campaign {:?} in {seconds:.1} s ({:.0} events/s)",
        load::CAMPAIGN,
        stored as f64 / seconds
    );
    Ok(())
}
