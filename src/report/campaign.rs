//! One campaign's figures, per link and per recipient.

use std::collections::{BTreeMap, HashMap};

use super::activity::Activity;
use super::rate::{Rate, conversion_rate};
use super::record::{Action, Record};
use super::trend::{Granularity, TrendPoint, trend};
use crate::event::Link;

/// A link's figures: its clicks and the conversions they led to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct LinkTally {
    clicks: Activity,
    conversions: Activity,
}

impl LinkTally {
    pub(super) fn merge(&mut self, other: LinkTally) {
        self.clicks.merge(other.clicks);
        self.conversions.merge(other.conversions);
    }
}

/// The figures of one campaign.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignReport {
    pub(super) clicks: Activity,
    pub(super) opens: Activity,
    pub(super) conversions: Activity,
    pub(super) unsubscribes: Activity,
    links: HashMap<Option<Link>, LinkTally>,
}

impl CampaignReport {
    /// Clicks on all links together.
    pub fn clicks(&self) -> &Activity {
        &self.clicks
    }

    /// Opens (pixel loads, plus implied opens reported apart).
    pub fn opens(&self) -> &Activity {
        &self.opens
    }

    /// Conversions attributed to the campaign's clicks.
    pub fn conversions(&self) -> &Activity {
        &self.conversions
    }

    /// One-click unsubscribes. Every authentic one counts, whatever its verdict: the
    /// `POST` usually comes from the mailbox provider's servers, on the reader's behalf.
    /// [`Activity::unique`] counts each recipient once, however often they posted.
    pub fn unsubscribes(&self) -> &Activity {
        &self.unsubscribes
    }

    /// Unsubscribe rate: unique unsubscribed recipients per delivered message.
    pub fn unsubscribe_rate(&self, delivered: u64) -> Rate {
        Rate {
            numerator: self.unsubscribes.unique(),
            denominator: delivered,
        }
    }

    /// Each link's figures: indexes in order, then labels, then clicks whose token
    /// named no link.
    pub fn links(&self) -> Vec<LinkReport<'_>> {
        let mut links: Vec<_> = self
            .links
            .iter()
            .map(|(link, tally)| LinkReport {
                link: link.as_ref(),
                tally,
                campaign: self,
            })
            .collect();
        links.sort_by(|a, b| link_order(a.link).cmp(&link_order(b.link)));
        links
    }

    /// One link's figures (`None`: clicks whose token named no link).
    pub fn link(&self, link: Option<&Link>) -> Option<LinkReport<'_>> {
        let (key, tally) = self.links.get_key_value(&link.cloned())?;
        Some(LinkReport {
            link: key.as_ref(),
            tally,
            campaign: self,
        })
    }

    /// Unique human openers per delivered message.
    pub fn open_rate(&self, delivered: u64) -> Rate {
        Rate {
            numerator: self.opens.unique_human(),
            denominator: delivered,
        }
    }

    /// Click-through rate: unique human clickers per delivered message.
    pub fn click_through_rate(&self, delivered: u64) -> Rate {
        Rate {
            numerator: self.clicks.unique_human(),
            denominator: delivered,
        }
    }

    /// Click-to-open rate: unique human clickers per unique human opener.
    pub fn click_to_open_rate(&self) -> Rate {
        Rate {
            numerator: self.clicks.unique_human(),
            denominator: self.opens.unique_human(),
        }
    }

    /// Unique converters per unique human clicker.
    pub fn conversion_rate(&self) -> Rate {
        conversion_rate(&self.clicks, &self.conversions)
    }

    /// Clicks, opens and conversions per bucket, oldest first (empty buckets left out).
    pub fn trend(&self, granularity: Granularity) -> Vec<TrendPoint> {
        trend(&self.clicks, Some(&self.opens), &self.conversions, granularity)
    }

    /// The per-recipient listing, by pseudonym. Reports show aggregated figures
    /// only; this is the one place pseudonyms come out, for hosts that need them
    /// (a CRM export, a re-engagement list).
    pub fn recipients(&self) -> Vec<RecipientActivity> {
        let mut listing: BTreeMap<&str, RecipientActivity> = BTreeMap::new();
        fn entry<'a, 'l>(
            listing: &'l mut BTreeMap<&'a str, RecipientActivity>,
            recipient: &'a str,
        ) -> &'l mut RecipientActivity {
            listing.entry(recipient).or_insert_with(|| RecipientActivity {
                recipient: recipient.to_owned(),
                ..RecipientActivity::default()
            })
        }
        for (recipient, seen) in &self.clicks.recipients {
            let activity = entry(&mut listing, recipient);
            activity.clicks = seen.records;
            activity.human_clicks = seen.person;
            activity.first_click_at = seen.first.map(|(at, _)| at);
        }
        for (recipient, seen) in &self.opens.recipients {
            let activity = entry(&mut listing, recipient);
            activity.opens = seen.records;
            activity.human_opens = seen.person;
        }
        for (recipient, seen) in &self.conversions.recipients {
            entry(&mut listing, recipient).conversions = seen.records;
        }
        for (recipient, seen) in &self.unsubscribes.recipients {
            entry(&mut listing, recipient).unsubscribes = seen.records;
        }
        listing.into_values().collect()
    }

    pub(super) fn record(&mut self, record: &Record<'_>) {
        let link = || record.link.map(Link::from);
        match record.action {
            Action::Click => {
                self.clicks.record(record);
                self.links.entry(link()).or_default().clicks.record(record);
            }
            Action::Open | Action::ImpliedOpen => self.opens.record(record),
            Action::Conversion => {
                self.conversions.record(record);
                self.links.entry(link()).or_default().conversions.record(record);
            }
            Action::Unsubscribe => self.unsubscribes.record(record),
        }
    }

    pub(super) fn merge(&mut self, other: CampaignReport) {
        self.clicks.merge(other.clicks);
        self.opens.merge(other.opens);
        self.conversions.merge(other.conversions);
        self.unsubscribes.merge(other.unsubscribes);
        for (link, tally) in other.links {
            self.links.entry(link).or_default().merge(tally);
        }
    }
}

/// Links in reading order: indexes by number, then labels by name, then no link.
fn link_order(link: Option<&Link>) -> (u8, u32, &str) {
    match link {
        Some(Link::Index(index)) => (0, *index, ""),
        Some(Link::Label(label)) => (1, 0, label),
        None => (2, 0, ""),
    }
}

/// One link's figures, with its campaign's for the rates that need them.
#[derive(Clone, Copy, Debug)]
pub struct LinkReport<'a> {
    link: Option<&'a Link>,
    tally: &'a LinkTally,
    campaign: &'a CampaignReport,
}

impl<'a> LinkReport<'a> {
    /// The link (`None`: clicks whose token named no link).
    pub fn link(&self) -> Option<&'a Link> {
        self.link
    }

    /// Clicks on this link.
    pub fn clicks(&self) -> &'a Activity {
        &self.tally.clicks
    }

    /// Unique human clickers of this link per delivered message.
    pub fn click_through_rate(&self, delivered: u64) -> Rate {
        Rate {
            numerator: self.tally.clicks.unique_human(),
            denominator: delivered,
        }
    }

    /// Unique human clickers of this link per unique human opener of the campaign.
    pub fn click_to_open_rate(&self) -> Rate {
        Rate {
            numerator: self.tally.clicks.unique_human(),
            denominator: self.campaign.opens.unique_human(),
        }
    }

    /// Conversions attributed to clicks on this link.
    pub fn conversions(&self) -> &'a Activity {
        &self.tally.conversions
    }

    /// Unique converters per unique human clicker of this link.
    pub fn conversion_rate(&self) -> Rate {
        conversion_rate(&self.tally.clicks, &self.tally.conversions)
    }

    /// Clicks and conversions per bucket, oldest first (empty buckets left out).
    pub fn trend(&self, granularity: Granularity) -> Vec<TrendPoint> {
        trend(&self.tally.clicks, None, &self.tally.conversions, granularity)
    }
}

/// What one recipient did in a campaign: see [`CampaignReport::recipients`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RecipientActivity {
    /// The recipient's pseudonym.
    pub recipient: String,
    /// Clicks, by people or machines.
    pub clicks: u64,
    /// Clicks by a person.
    pub human_clicks: u64,
    /// Opens, implied ones included.
    pub opens: u64,
    /// Opens by a person, implied ones included.
    pub human_opens: u64,
    /// When the first human click came, unix seconds.
    pub first_click_at: Option<u64>,
    /// Conversions attributed to the recipient's clicks.
    pub conversions: u64,
    /// One-click unsubscribes the recipient posted (more than one is still one
    /// unsubscribe).
    pub unsubscribes: u64,
}
