//! The recipients a connection has seen stored, so that a batch can leave out those
//! whose first-seen row it cannot change, and write the others knowing which rows
//! are stored already (PostgreSQL copies the rest in as new).
//!
//! Storing a recipient's first-seen row is most of what a batch costs, and most
//! events come from recipients already stored (a second open, a click after the
//! open). A row, once stored, is never deleted (retention deletes raw rows only) and
//! its first human action only ever moves earlier, whoever writes it. So when this
//! connection has committed a row with first action `f`, the stored first is `f` or
//! earlier, and a later batch with no first action, or one at `f` or later, would
//! leave the row as it is: the batch can skip it. Anything else is written as
//! before; another writer's rows are simply not known here.

use crate::FastMap;
use crate::rollup::{Batch, First, KeyText, RecipientKey, earliest};

/// How many recipients a connection remembers by default: some 30 MB at most.
pub(crate) const DEFAULT_KNOWN_RECIPIENTS: usize = 250_000;

/// A first-seen row's key, borrowed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecipientRow<'a> {
    pub(crate) campaign: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) activity: &'a str,
    pub(crate) recipient: &'a str,
}

impl<'a> From<&'a RecipientKey> for RecipientRow<'a> {
    fn from(key: &'a RecipientKey) -> Self {
        Self {
            campaign: &key.campaign,
            scope: &key.scope,
            activity: key.activity,
            recipient: &key.recipient,
        }
    }
}

/// First actions by recipient, within one campaign, scope and activity. The text is
/// the batch's own, shared: remembering a key copies none.
type Recipients = FastMap<KeyText, First>;

/// A campaign's recipients by scope, then activity (a handful, searched in order).
type Scopes = FastMap<KeyText, Vec<(&'static str, Recipients)>>;

/// Recipients committed by this connection, with the first action each was
/// committed with; forgotten all at once when `capacity` is reached.
#[derive(Debug)]
pub(crate) struct KnownRecipients {
    /// By campaign, then scope, then activity (a handful), then recipient: looked up
    /// by borrowed text, and the recipient is the only text most entries own.
    known: FastMap<KeyText, Scopes>,
    len: usize,
    capacity: usize,
}

impl Default for KnownRecipients {
    fn default() -> Self {
        Self::new(DEFAULT_KNOWN_RECIPIENTS)
    }
}

impl KnownRecipients {
    /// Remembers at most `capacity` recipients (0: none).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            known: FastMap::default(),
            len: 0,
            capacity,
        }
    }

    /// Whether storing `first` for a recipient's row would change nothing stored.
    pub(crate) fn unchanged(&self, row: &RecipientRow<'_>, first: First) -> bool {
        self.committed_first(row)
            .is_some_and(|committed| first.is_none() || earliest(committed, first) == committed)
    }

    /// The first action this connection committed for a recipient's row, if it
    /// committed the row: the row is stored, with that first action or an earlier one.
    pub(crate) fn committed_first(&self, row: &RecipientRow<'_>) -> Option<First> {
        if self.len == 0 {
            return None;
        }
        let activities = self.known.get(row.campaign)?.get(row.scope)?;
        let (_, recipients) = activities
            .iter()
            .find(|(activity, _)| *activity == row.activity)?;
        recipients.get(row.recipient).copied()
    }

    /// Remembers the recipients of a committed batch.
    pub(crate) fn committed(&mut self, batch: &Batch) {
        for (key, &first) in &batch.recipients {
            if self.len >= self.capacity {
                self.known.clear();
                self.len = 0;
                if self.capacity == 0 {
                    return;
                }
            }
            if self.remember(key, first) {
                self.len += 1;
            }
        }
    }

    /// Records `first` for `key`; whether the key is new.
    fn remember(&mut self, key: &RecipientKey, first: First) -> bool {
        if !self.known.contains_key(&*key.campaign) {
            self.known.insert(key.campaign.clone(), Scopes::default());
        }
        let Some(scopes) = self.known.get_mut(&*key.campaign) else {
            return false;
        };
        if !scopes.contains_key(&*key.scope) {
            scopes.insert(key.scope.clone(), Vec::new());
        }
        let Some(activities) = scopes.get_mut(&*key.scope) else {
            return false;
        };
        let index = match activities
            .iter()
            .position(|(activity, _)| *activity == key.activity)
        {
            Some(index) => index,
            None => {
                activities.push((key.activity, Recipients::default()));
                activities.len() - 1
            }
        };
        let Some((_, recipients)) = activities.get_mut(index) else {
            return false;
        };
        match recipients.get_mut(&*key.recipient) {
            Some(committed) => {
                *committed = earliest(*committed, first);
                false
            }
            None => {
                recipients.insert(key.recipient.clone(), first);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(recipient: &str) -> RecipientKey {
        RecipientKey {
            campaign: "c".into(),
            scope: "*".into(),
            activity: "click",
            recipient: recipient.into(),
        }
    }

    fn batch(recipients: &[(&str, First)]) -> Batch {
        let mut batch = Batch::default();
        for &(recipient, first) in recipients {
            batch.recipients.insert(key(recipient), first);
        }
        batch
    }

    fn kept(known: &KnownRecipients, recipients: &[(&str, First)]) -> Vec<String> {
        let mut batch = batch(recipients);
        skip_unchanged(known, &mut batch);
        batch
            .recipients
            .into_keys()
            .map(|key| key.recipient.to_string())
            .collect()
    }

    fn skip_unchanged(known: &KnownRecipients, batch: &mut Batch) {
        batch
            .recipients
            .retain(|key, first| !known.unchanged(&RecipientRow::from(key), *first));
    }

    #[test]
    fn skips_only_what_cannot_change_a_committed_row() {
        let mut known = KnownRecipients::new(10);
        known.committed(&batch(&[("a", Some((100, 0))), ("b", None)]));
        let later = Some((200, 0));
        let earlier = Some((50, 0));
        // No first action, or a later one: nothing to change.
        assert!(kept(&known, &[("a", None), ("a", later)]).is_empty());
        assert!(kept(&known, &[("a", Some((100, 0)))]).is_empty());
        // An earlier first action, a first action where none was, an unknown
        // recipient: written.
        assert_eq!(kept(&known, &[("a", earlier)]), ["a"]);
        assert_eq!(kept(&known, &[("b", later)]), ["b"]);
        assert!(kept(&known, &[("b", None)]).is_empty());
        assert_eq!(kept(&known, &[("c", None)]), ["c"]);
        // Other scopes and activities are other rows.
        let mut other = batch(&[]);
        let mut link = key("a");
        link.scope = "0".into();
        other.recipients.insert(link, None);
        let mut open = key("a");
        open.activity = "open";
        other.recipients.insert(open, None);
        skip_unchanged(&known, &mut other);
        assert_eq!(other.recipients.len(), 2);
        // Committing an earlier first remembers it.
        known.committed(&batch(&[("a", earlier)]));
        assert!(kept(&known, &[("a", earlier)]).is_empty());
    }

    #[test]
    fn forgets_everything_when_full_and_nothing_at_zero() {
        let mut known = KnownRecipients::new(2);
        known.committed(&batch(&[("a", None), ("b", None)]));
        assert!(kept(&known, &[("a", None), ("b", None)]).is_empty());
        known.committed(&batch(&[("c", None)]));
        assert_eq!(kept(&known, &[("a", None), ("b", None)]), ["a", "b"]);
        assert!(kept(&known, &[("c", None)]).is_empty());

        let mut none = KnownRecipients::new(0);
        none.committed(&batch(&[("a", None)]));
        assert_eq!(kept(&none, &[("a", None)]), ["a"]);
    }
}
