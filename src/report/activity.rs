//! The figures of one kind of action: counts, the human/machine split, its reasons
//! and the recipients behind them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::record::{Action, Record};
use super::timing::Distribution;
use super::trend::Granularity;

/// A count split into human and machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Split {
    /// Done by people.
    pub human: u64,
    /// Done by machines.
    pub machine: u64,
}

impl Split {
    /// Human plus machine.
    pub fn total(self) -> u64 {
        self.human + self.machine
    }

    pub(super) fn count(&mut self, person: bool) {
        if person {
            self.human += 1;
        } else {
            self.machine += 1;
        }
    }

    pub(super) fn add(&mut self, other: Split) {
        self.human += other.human;
        self.machine += other.machine;
    }
}

/// What one recipient did within one [`Activity`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(super) struct Seen {
    /// Records, implied ones included.
    pub(super) records: u64,
    /// Records by the person (implied ones following their click).
    pub(super) person: u64,
    /// The first person record: `(at, since)`.
    pub(super) first: Option<(u64, u64)>,
}

impl Seen {
    pub(super) fn add(&mut self, other: Seen) {
        self.records += other.records;
        self.person += other.person;
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The figures of one kind of action (clicks, opens, …) in one campaign or on one link.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Activity {
    split: Split,
    implied: u64,
    reasons: HashMap<String, u64>,
    hours: BTreeMap<u64, Split>,
    pub(super) recipients: HashMap<String, Seen>,
}

impl Activity {
    /// All counted records, implied opens excluded.
    pub fn total(&self) -> u64 {
        self.split.total()
    }

    /// Records by people.
    pub fn human(&self) -> u64 {
        self.split.human
    }

    /// Records by machines.
    pub fn machine(&self) -> u64 {
        self.split.machine
    }

    /// The human/machine split.
    pub fn split(&self) -> Split {
        self.split
    }

    /// Implied opens (opens only; see the module docs).
    pub fn implied(&self) -> u64 {
        self.implied
    }

    /// Distinct recipients with any record, implied ones included.
    pub fn unique(&self) -> u64 {
        self.recipients.len() as u64
    }

    /// Distinct recipients with a record by a person: unique clickers, unique openers.
    pub fn unique_human(&self) -> u64 {
        self.recipients.values().filter(|seen| seen.person > 0).count() as u64
    }

    /// Counts by reason (the verdict's `Display` form), most frequent first; machine
    /// reasons tell which scanners and prefetchers were seen.
    pub fn reasons(&self) -> Vec<(&str, u64)> {
        by_count(&self.reasons)
    }

    /// Counts per bucket start (unix seconds), oldest first; buckets with nothing
    /// in them are left out.
    pub fn trend(&self, granularity: Granularity) -> Vec<(u64, Split)> {
        let mut buckets: BTreeMap<u64, Split> = BTreeMap::new();
        for (&hour, &split) in &self.hours {
            buckets.entry(granularity.bucket(hour)).or_default().add(split);
        }
        buckets.into_iter().collect()
    }

    /// How long after the token was issued each recipient first acted as a person
    /// (time to first click, to first open, …).
    pub fn time_to_first(&self) -> Distribution {
        let mut distribution = Distribution::default();
        for (at, since) in self.recipients.values().filter_map(|seen| seen.first) {
            distribution.count(at.saturating_sub(since));
        }
        distribution
    }

    pub(super) fn record(&mut self, record: &Record<'_>) {
        if record.action == Action::ImpliedOpen {
            self.implied += 1;
        } else {
            self.split.count(record.person);
            self.hours
                .entry(Granularity::Hour.bucket(record.at))
                .or_default()
                .count(record.person);
            add_count(&mut self.reasons, record.reason, 1);
        }
        if let Some(recipient) = record.recipient {
            let seen = Seen {
                records: 1,
                person: u64::from(record.person),
                first: record.person.then_some((record.at, record.since)),
            };
            add_seen(&mut self.recipients, recipient, seen);
        }
    }

    pub(super) fn merge(&mut self, other: Activity) {
        self.split.add(other.split);
        self.implied += other.implied;
        for (reason, count) in other.reasons {
            *self.reasons.entry(reason).or_default() += count;
        }
        for (hour, split) in other.hours {
            self.hours.entry(hour).or_default().add(split);
        }
        for (recipient, seen) in other.recipients {
            self.recipients.entry(recipient).or_default().add(seen);
        }
    }
}

impl fmt::Debug for Activity {
    /// Aggregated figures only: no pseudonym.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Activity")
            .field("human", &self.split.human)
            .field("machine", &self.split.machine)
            .field("implied", &self.implied)
            .field("unique", &self.unique())
            .field("unique_human", &self.unique_human())
            .field("reasons", &self.reasons())
            .finish_non_exhaustive()
    }
}

/// Counts keyed by text, most frequent first, ties by text.
pub(super) fn by_count(counts: &HashMap<String, u64>) -> Vec<(&str, u64)> {
    let mut sorted: Vec<_> = counts.iter().map(|(key, &count)| (key.as_str(), count)).collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    sorted
}

/// Adds to a count keyed by text, allocating the key only the first time.
pub(super) fn add_count(counts: &mut HashMap<String, u64>, key: &str, n: u64) {
    match counts.get_mut(key) {
        Some(count) => *count += n,
        None => {
            counts.insert(key.to_owned(), n);
        }
    }
}

fn add_seen(recipients: &mut HashMap<String, Seen>, recipient: &str, seen: Seen) {
    match recipients.get_mut(recipient) {
        Some(known) => known.add(seen),
        None => {
            recipients.insert(recipient.to_owned(), seen);
        }
    }
}
