//! Live rollups: what one batch of records adds to the stored figures.
//!
//! A batch is folded in memory first — counters per key, and per recipient the first
//! human action — and then written as additive upserts, so several writers can add
//! to the same rows at once and a batch of a thousand events costs a handful of
//! statements. Rollups are keyed by the action's name, so a new kind of action needs
//! no new table or column.
//!
//! Every figure is kept per campaign (scope [`CAMPAIGN_SCOPE`]) and, for the actions
//! a report tallies per link, per link as well (scope: the link's text, `""` for a
//! token that named no link).

use std::collections::BTreeMap;
use std::sync::Arc;

use hashbeacon::LinkId;
use hashbeacon::report::{Action, TIME_BUCKETS};

use crate::days::{DayKey, Hours};
use crate::text::Text;

/// The scope of a rollup row that counts a whole campaign. Neither a link index
/// (digits) nor a link label (a letter first) can be spelled so.
pub(crate) const CAMPAIGN_SCOPE: &str = "*";

/// How a report counts an action: which activity's figures it adds to, whether it
/// is an implied one (counted apart), and whether links are tallied too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Role {
    /// The activity whose uniques and timings the action adds to.
    pub(crate) activity: &'static str,
    /// Counted apart from the activity's totals, reasons and trend.
    pub(crate) implied: bool,
    /// Tallied per link as well as per campaign.
    pub(crate) per_link: bool,
}

/// The activity names of the figures.
pub(crate) const CLICKS: &str = "click";
/// Pixel loads and implied opens.
pub(crate) const OPENS: &str = "open";
/// Conversions reported by the landing site.
pub(crate) const CONVERSIONS: &str = "conversion";
/// One-click unsubscribes.
pub(crate) const UNSUBSCRIBES: &str = "unsubscribe";

/// How a report counts `action` (see [`Role`]). An action this crate does not know
/// yet counts as an activity of its own, per campaign.
pub(crate) fn role(action: Action) -> Role {
    let role = |activity, implied, per_link| Role {
        activity,
        implied,
        per_link,
    };
    match action {
        Action::Click => role(CLICKS, false, true),
        Action::Open => role(OPENS, false, false),
        Action::ImpliedOpen => role(OPENS, true, false),
        Action::Conversion => role(CONVERSIONS, false, true),
        Action::Unsubscribe => role(UNSUBSCRIBES, false, false),
        other => role(other.as_str(), false, false),
    }
}

/// The stored text of a link: its index or label, `""` for none.
pub(crate) fn link_text(link: Option<LinkId<'_>>) -> Text<'_> {
    match link {
        Some(LinkId::Index(index)) => Text::decimal(index),
        Some(LinkId::Label(label)) => Text::Borrowed(label),
        None => Text::Borrowed(""),
    }
}

/// The time-to-first bucket (an index into [`TIME_BUCKETS`]) of a first action at
/// `at` for a token issued at `since`.
pub(crate) fn time_bucket((at, since): (u64, u64)) -> i64 {
    let seconds = at.saturating_sub(since);
    let index = TIME_BUCKETS
        .iter()
        .position(|bucket| bucket.below.is_none_or(|below| seconds < below))
        .unwrap_or(TIME_BUCKETS.len() - 1);
    i64::try_from(index).unwrap_or_default()
}

/// The text of a key, shared by every key (and every known recipient) that names it:
/// a batch's keys mostly repeat their campaign and scope, and a recipient's name
/// serves each of its keys and the known-recipients cache. Cloning one counts a
/// reference where a `String` was allocated, copied and freed again, which was most
/// of what spelling out a batch cost.
pub(crate) type KeyText = Arc<str>;

/// A counter's key: records of one action, reason and human/machine side.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct CountKey {
    pub(crate) campaign: KeyText,
    pub(crate) scope: KeyText,
    pub(crate) action: &'static str,
    pub(crate) reason: KeyText,
    pub(crate) person: bool,
}

/// One recipient within one activity and scope: the first-seen row behind exact
/// uniques and the time to first action.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RecipientKey {
    /// First, as in the table's primary key: it tells keys apart at once, where a
    /// batch's keys mostly share their campaign and scope, and comparing those first
    /// was most of what folding a batch cost.
    pub(crate) recipient: KeyText,
    pub(crate) campaign: KeyText,
    pub(crate) scope: KeyText,
    pub(crate) activity: &'static str,
}

/// The key of an activity's unique and time-to-first counters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ActivityKey {
    pub(crate) campaign: KeyText,
    pub(crate) scope: KeyText,
    pub(crate) activity: &'static str,
}

impl RecipientKey {
    fn activity_key(&self) -> ActivityKey {
        ActivityKey {
            campaign: self.campaign.clone(),
            scope: self.scope.clone(),
            activity: self.activity,
        }
    }
}

/// A recipient's first human action: `(at, since)`, the earliest `at` (then
/// `since`) wins, as in a report.
pub(crate) type First = Option<(u64, u64)>;

/// The earlier of two firsts.
pub(crate) fn earliest(a: First, b: First) -> First {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What one batch adds, folded in memory ([`crate::fold::Fold`]); keys are sorted so
/// that every writer touches rows in the same order and concurrent writers never
/// deadlock.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) counts: BTreeMap<CountKey, i64>,
    /// Counts per hour, a row per day ([`crate::days`]).
    pub(crate) days: BTreeMap<DayKey, Hours>,
    pub(crate) recipients: BTreeMap<RecipientKey, First>,
    /// Rejected requests by request kind and reason.
    pub(crate) rejected: BTreeMap<(&'static str, &'static str), i64>,
}

/// What storing a batch's view of recipients changes in the unique and
/// time-to-first counters, given what was stored before.
#[derive(Debug, Default)]
pub(crate) struct RecipientDeltas {
    /// New distinct recipients per activity and scope.
    pub(crate) uniques: BTreeMap<ActivityKey, i64>,
    /// Moves between time-to-first buckets: `(activity, bucket)` → change.
    pub(crate) firsts: BTreeMap<(ActivityKey, i64), i64>,
}

impl RecipientDeltas {
    /// Accounts for one recipient whose stored first was `stored` (`None` for a
    /// recipient not stored before) and becomes `merged`.
    pub(crate) fn add(&mut self, key: &RecipientKey, stored: Option<First>, merged: First) {
        if stored.is_none() {
            *self.uniques.entry(key.activity_key()).or_default() += 1;
        }
        let before = stored.flatten();
        if before != merged {
            if let Some(before) = before {
                *self
                    .firsts
                    .entry((key.activity_key(), time_bucket(before)))
                    .or_default() -= 1;
            }
            if let Some(merged) = merged {
                *self
                    .firsts
                    .entry((key.activity_key(), time_bucket(merged)))
                    .or_default() += 1;
            }
        }
    }
}

/// Unix seconds as the databases' signed 64-bit integer; no real clock reaches the
/// cut-off.
pub(crate) fn seconds(unix: u64) -> i64 {
    i64::try_from(unix).unwrap_or(i64::MAX)
}

/// The inverse of [`seconds`]; a negative number (never written) reads as 0.
pub(crate) fn unix(seconds: i64) -> u64 {
    u64::try_from(seconds).unwrap_or_default()
}
