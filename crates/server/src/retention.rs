//! Retention: raw rows older than the configured age are deleted every hour; the
//! rollups, and so every figure, stay.

use std::time::Duration;

use hashbeacon_store::{Database, Purged, Store};
use tokio::sync::watch;

use crate::tracking::unix_now;

/// How often raw rows past the retention are deleted.
const EVERY: Duration = Duration::from_secs(3_600);

/// Purges now, then every [`EVERY`], until `stop` changes. Each node of a cluster runs
/// it: while one purges, the others' purges return at once.
pub(crate) async fn purge_periodically(db: Database, keep: Duration, mut stop: watch::Receiver<()>) {
    loop {
        let cutoff = unix_now().saturating_sub(keep.as_secs());
        let db = db.clone();
        let purged = match tokio::task::spawn_blocking(move || purge(&db, cutoff)).await {
            Ok(result) => result,
            Err(error) => Err(error.into()),
        };
        match purged {
            Ok(purged) if purged.events + purged.conversions > 0 => crate::log(format_args!(
                "retention: deleted {} raw events and {} raw conversions older than {cutoff}",
                purged.events, purged.conversions
            )),
            Ok(purged) if purged.elsewhere => {
                crate::log(format_args!(
                    "retention: another node is purging, skipped until the next hour"
                ));
            }
            Ok(_) => {}
            Err(error) => crate::log(format_args!("retention: purge failed: {error}")),
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

fn purge(db: &Database, cutoff: u64) -> Result<Purged, Box<dyn std::error::Error + Send + Sync>> {
    Ok(Store::open_database(db)?.purge_before(cutoff)?)
}
