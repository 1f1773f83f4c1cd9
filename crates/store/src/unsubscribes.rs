//! The stored one-click unsubscribes, listed by cursor for the host's list manager.

use serde::Serialize;

/// The query both backends run: accepted unsubscribes after a row id, oldest first.
/// `{since}` and `{limit}` stand for the backend's parameter markers.
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
