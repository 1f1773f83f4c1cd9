//! The stored one-click unsubscribes, listed by cursor for the host's list manager.

use serde::Serialize;

/// The query both backends run: accepted unsubscribes after a row id, oldest first.
/// `{since}` and `{limit}` stand for the backend's parameter markers. Its filter is
/// the condition of the partial index `events_unsubscribes` (schema version 5), word
/// for word, so that it reads that index rather than every event after the cursor.
pub(crate) const QUERY: &str = "SELECT id, campaign, recipient, received_at, expired FROM events
     WHERE kind = 'unsubscribe' AND rejected IS NULL AND id > {since} ORDER BY id LIMIT {limit}";

/// One stored one-click unsubscribe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StoredUnsubscribe {
    /// The row id: the cursor to ask for the ones after it.
    pub id: i64,
    /// The list or campaign left.
    pub campaign: String,
    /// Who left: the pseudonym (the host maps it back to its subscriber).
    pub recipient: String,
    /// When the POST arrived, unix seconds.
    pub received_at: u64,
    /// The token had passed its (optional) expiry; the wish is authentic either way.
    pub expired: bool,
}

impl StoredUnsubscribe {
    /// A row of [`QUERY`], its nullable columns read as empty.
    pub(crate) fn from_columns(
        id: i64,
        campaign: Option<String>,
        recipient: Option<String>,
        received_at: i64,
        expired: bool,
    ) -> Self {
        Self {
            id,
            campaign: campaign.unwrap_or_default(),
            recipient: recipient.unwrap_or_default(),
            received_at: crate::rollup::unix(received_at),
            expired,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        reason = "a test fails by panicking"
    )]

    use hashbeacon::Kind;

    use super::QUERY;
    use crate::Store;
    use crate::load::{Shape, Synthetic, load, template};

    /// A store of a few thousand clicks and opens and two unsubscribes, its statistics
    /// up to date.
    fn fill(db: &str) {
        let mut store = Store::open(db).unwrap();
        load(&mut store, Synthetic::new(Shape::default()).take(5_000)).unwrap();
        store
            .write(&[
                template(Kind::Unsubscribe, false),
                template(Kind::Unsubscribe, false),
            ])
            .unwrap();
        assert_eq!(store.unsubscribes(0, 10).unwrap().len(), 2);
    }

    #[test]
    fn the_feed_reads_its_own_index_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("events.db");
        fill(db.to_str().unwrap());
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("ANALYZE").unwrap();
        let sql = QUERY.replace("{since}", "?1").replace("{limit}", "?2");
        let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let plan: Vec<String> = (explain.query_map([0, 10], |row| row.get(3)).unwrap())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(plan.len(), 1, "one search, no sort: {plan:?}");
        assert!(
            plan[0].contains("USING INDEX events_unsubscribes (id>?)"),
            "{plan:?}"
        );
    }

    #[test]
    fn the_feed_reads_its_own_index_on_postgres() {
        let Some(url) = hashbeacon_test_postgres::postgres_url() else {
            return;
        };
        let db = hashbeacon_test_postgres::fresh_schema(&url);
        fill(&db);
        let mut client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        client.batch_execute("ANALYZE events").unwrap();
        let sql = QUERY.replace("{since}", "$1").replace("{limit}", "$2");
        // The plan for any cursor, as the prepared statement's generic plan would be.
        client
            .batch_execute("SET plan_cache_mode = force_generic_plan")
            .unwrap();
        let statement = client.prepare(&format!("EXPLAIN {sql}")).unwrap();
        let plan: Vec<String> = (client.query(&statement, &[&0_i64, &10_i64]).unwrap().iter())
            .map(|row| row.get(0))
            .collect();
        assert!(
            plan.iter()
                .any(|line| line.contains("Index Scan using events_unsubscribes")),
            "{plan:#?}"
        );
        assert!(!plan.iter().any(|line| line.contains("Seq Scan")), "{plan:#?}");
    }
}
