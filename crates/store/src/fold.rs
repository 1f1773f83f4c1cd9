//! Folding records in memory into what they add to the rollups. Each string of a
//! fold's keys is stored once and keys hold its number: building a key of owned
//! strings for every record, comparing keys string by string and dropping the copies
//! of keys already there was most of what storing an event cost the writer.
//! [`Fold::into_batch`] turns the keys back into text.

use std::collections::BTreeMap;

use hashbeacon::report::Record;

use crate::FastMap;
use crate::days::{DayKey, Hours, day_and_hour};
use crate::known::{KnownRecipients, RecipientRow};
use crate::rollup::{
    Batch, CAMPAIGN_SCOPE, CountKey, First, KeyText, RecipientKey, earliest, link_text, role, seconds,
};

/// A string's number in a fold, in the order first seen.
type Name = usize;
/// An action's or activity's number: an index into [`Fold::statics`].
type Static = usize;

/// Records folded so far.
#[derive(Debug)]
pub(crate) struct Fold {
    /// The number of each string seen.
    names: FastMap<String, Name>,
    /// Action and activity names: a handful, looked up by a short scan.
    statics: Vec<&'static str>,
    /// The last campaign, reason and link seen: a batch's records mostly share them,
    /// and comparing with the last costs less than hashing.
    recent: [Option<(String, Name)>; 3],
    // Keys of numbers, in no useful order: hashed, and sorted by their text once the
    // batch spells them out.
    /// `(campaign, scope, reason, person, action)`.
    counts: FastMap<(Name, Name, Name, bool, Static), i64>,
    /// `(campaign, scope, day, person, action)`: counts per hour of the day.
    days: FastMap<(Name, Name, i64, bool, Static), Hours>,
    /// `(recipient, campaign, scope, activity)`.
    recipients: FastMap<(Name, Name, Name, Static), First>,
    rejected: BTreeMap<(&'static str, &'static str), i64>,
}

/// Slots of [`Fold::recent`].
const CAMPAIGN: usize = 0;
const REASON: usize = 1;
const LINK: usize = 2;

/// The number of [`CAMPAIGN_SCOPE`], named first.
const WHOLE_CAMPAIGN: Name = 0;

impl Default for Fold {
    fn default() -> Self {
        let mut fold = Self {
            names: FastMap::default(),
            statics: Vec::new(),
            recent: [None, None, None],
            counts: FastMap::default(),
            days: FastMap::default(),
            recipients: FastMap::default(),
            rejected: BTreeMap::new(),
        };
        fold.name(CAMPAIGN_SCOPE);
        fold
    }
}

impl Fold {
    /// Folds in one accepted record.
    pub(crate) fn add_record(&mut self, record: &Record<'_>) {
        let role = role(record.action);
        let action = self.static_name(record.action.as_str());
        let activity = self.static_name(role.activity);
        let (day, hour) = day_and_hour(record.at);
        let campaign = self.recent_name(CAMPAIGN, record.campaign);
        let reason = self.recent_name(REASON, record.reason);
        let recipient = record.recipient.map(|recipient| self.name(recipient));
        let link = role
            .per_link
            .then(|| self.recent_name(LINK, link_text(record.link).as_str()));
        for scope in std::iter::once(WHOLE_CAMPAIGN).chain(link) {
            *self
                .counts
                .entry((campaign, scope, reason, record.person, action))
                .or_default() += 1;
            let hours = self
                .days
                .entry((campaign, scope, seconds(day), record.person, action))
                .or_default();
            if let Some(count) = hours.get_mut(hour) {
                *count += 1;
            }
            if let Some(recipient) = recipient {
                let first = self
                    .recipients
                    .entry((recipient, campaign, scope, activity))
                    .or_default();
                *first = earliest(*first, record.person.then_some((record.at, record.since)));
            }
        }
    }

    /// Counts one rejected request.
    pub(crate) fn add_rejected(&mut self, kind: &'static str, reason: &'static str) {
        *self.rejected.entry((kind, reason)).or_default() += 1;
    }

    /// What the records add, keyed by text, leaving out the recipients whose stored
    /// rows `known` says they cannot change before their keys are spelled out.
    pub(crate) fn into_batch(self, known: Option<&KnownRecipients>) -> Batch {
        let Fold {
            names,
            statics,
            counts,
            days,
            recipients,
            rejected,
            ..
        } = self;
        let texts = texts(&names);
        let text = |number: Name| texts.get(number).copied().unwrap_or_default();
        let mut shared = Shared::new(&texts);
        let statics = |number: Static| statics.get(number).copied().unwrap_or_default();
        Batch {
            counts: counts
                .into_iter()
                .map(|((campaign, scope, reason, person, action), n)| {
                    let key = CountKey {
                        campaign: shared.get(campaign),
                        scope: shared.get(scope),
                        action: statics(action),
                        reason: shared.get(reason),
                        person,
                    };
                    (key, n)
                })
                .collect(),
            days: days
                .into_iter()
                .map(|((campaign, scope, day, person, action), hours)| {
                    let key = DayKey {
                        campaign: shared.get(campaign),
                        scope: shared.get(scope),
                        action: statics(action),
                        day,
                        person,
                    };
                    (key, hours)
                })
                .collect(),
            recipients: recipients
                .into_iter()
                .filter(|&((recipient, campaign, scope, activity), first)| {
                    let row = RecipientRow {
                        campaign: text(campaign),
                        scope: text(scope),
                        activity: statics(activity),
                        recipient: text(recipient),
                    };
                    !known.is_some_and(|known| known.unchanged(&row, first))
                })
                .map(|((recipient, campaign, scope, activity), first)| {
                    let key = RecipientKey {
                        recipient: shared.get(recipient),
                        campaign: shared.get(campaign),
                        scope: shared.get(scope),
                        activity: statics(activity),
                    };
                    (key, first)
                })
                .collect(),
            rejected,
        }
    }

    /// The number of `name`, as the last one asked for in `slot` when it is the same.
    fn recent_name(&mut self, slot: usize, name: &str) -> Name {
        if let Some(Some((text, number))) = self.recent.get(slot)
            && text == name
        {
            return *number;
        }
        let number = self.name(name);
        if let Some(recent) = self.recent.get_mut(slot) {
            // The slot's string is reused: a batch changes campaigns rarely.
            match recent {
                Some((text, last)) => {
                    text.clear();
                    text.push_str(name);
                    *last = number;
                }
                None => *recent = Some((name.to_owned(), number)),
            }
        }
        number
    }

    /// The number of `name`, handed out on its first use.
    fn name(&mut self, name: &str) -> Name {
        if let Some(&number) = self.names.get(name) {
            return number;
        }
        let number = self.names.len();
        self.names.insert(name.to_owned(), number);
        number
    }

    /// The number of an action's or activity's name.
    fn static_name(&mut self, name: &'static str) -> Static {
        if let Some(number) = self.statics.iter().position(|known| *known == name) {
            return number;
        }
        self.statics.push(name);
        self.statics.len() - 1
    }
}

/// A fold's names by number.
fn texts(names: &FastMap<String, Name>) -> Vec<&str> {
    // Every number was handed out by `Fold::name`, so it indexes the table; the
    // fallbacks are never taken.
    let mut texts = vec![""; names.len()];
    for (text, &name) in names {
        if let Some(slot) = texts.get_mut(name) {
            *slot = text;
        }
    }
    texts
}

/// A fold's names made [`KeyText`]s, each once, when a key first needs it: a
/// recipient left out as known never is.
struct Shared<'t> {
    texts: &'t [&'t str],
    shared: Vec<Option<KeyText>>,
}

impl<'t> Shared<'t> {
    fn new(texts: &'t [&'t str]) -> Self {
        Self {
            texts,
            shared: vec![None; texts.len()],
        }
    }

    /// The text of name `number`, shared.
    fn get(&mut self, number: Name) -> KeyText {
        let text = self.texts.get(number).copied().unwrap_or_default();
        match self.shared.get_mut(number) {
            Some(slot) => slot.get_or_insert_with(|| KeyText::from(text)).clone(),
            None => KeyText::from(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use hashbeacon::LinkId;
    use hashbeacon::report::Action;
    use proptest::prelude::*;

    use super::*;

    /// What folding means, the slow way: every record builds its keys of text of
    /// their own.
    fn fold_by_text(records: &[Record<'_>]) -> Batch {
        let mut batch = Batch::default();
        for record in records {
            let role = role(record.action);
            let (day, hour) = day_and_hour(record.at);
            let link = role
                .per_link
                .then(|| KeyText::from(link_text(record.link).as_str()));
            for scope in std::iter::once(KeyText::from(CAMPAIGN_SCOPE)).chain(link) {
                let count = CountKey {
                    campaign: record.campaign.into(),
                    scope: scope.clone(),
                    action: record.action.as_str(),
                    reason: record.reason.into(),
                    person: record.person,
                };
                *batch.counts.entry(count).or_default() += 1;
                let day = DayKey {
                    campaign: record.campaign.into(),
                    scope: scope.clone(),
                    action: record.action.as_str(),
                    day: seconds(day),
                    person: record.person,
                };
                batch.days.entry(day).or_default()[hour] += 1;
                if let Some(recipient) = record.recipient {
                    let key = RecipientKey {
                        recipient: recipient.into(),
                        campaign: record.campaign.into(),
                        scope,
                        activity: role.activity,
                    };
                    let first = batch.recipients.entry(key).or_default();
                    *first = earliest(*first, record.person.then_some((record.at, record.since)));
                }
            }
        }
        batch
    }

    fn record() -> impl Strategy<Value = (usize, usize, Option<u32>, Option<usize>, u64, u64, bool, usize)> {
        (
            0..Action::ALL.len(),
            0..3usize,
            proptest::option::of(0..3u32),
            proptest::option::of(0..4usize),
            1_767_225_600..1_767_225_600 + 3 * 86_400u64,
            0..86_400u64,
            any::<bool>(),
            0..3usize,
        )
    }

    proptest! {
        /// Records that switch campaigns, reasons and links back and forth fold to
        /// exactly what keys of owned text give.
        #[test]
        fn folding_by_number_equals_folding_by_text(records in proptest::collection::vec(record(), 0..60)) {
            const CAMPAIGNS: [&str; 3] = ["spring", "summer", "*"];
            const RECIPIENTS: [&str; 4] = ["r1", "r2", "spring", "human"];
            const REASONS: [&str; 3] = ["human", "scanner: HEAD request", "1"];
            const LABELS: [&str; 3] = ["cta", "1", ""];
            let records: Vec<Record<'_>> = records
                .iter()
                .map(|&(action, campaign, link, recipient, at, delay, person, reason)| Record {
                    action: Action::ALL[action],
                    campaign: CAMPAIGNS[campaign],
                    link: link.map(|link| if link == 0 { LinkId::Index(1) } else { LinkId::Label(LABELS[link as usize]) }),
                    recipient: recipient.map(|recipient| RECIPIENTS[recipient]),
                    at,
                    since: at.saturating_sub(delay),
                    person,
                    reason: REASONS[reason],
                })
                .collect();
            let mut fold = Fold::default();
            for record in &records {
                fold.add_record(record);
            }
            let (folded, expected) = (fold.into_batch(None), fold_by_text(&records));
            prop_assert_eq!(folded.counts, expected.counts);
            prop_assert_eq!(folded.days, expected.days);
            prop_assert_eq!(folded.recipients, expected.recipients);
        }
    }
}
