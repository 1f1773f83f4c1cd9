//! Campaign figures read from the rollups, and the same figures taken from a
//! [`CampaignReport`] so the two can be compared.

use std::collections::{BTreeMap, HashMap};

use hashbeacon::event::Link;
use hashbeacon::report::{Activity, CampaignReport, Granularity, Rate, Rejected, Split, TIME_BUCKETS};

use crate::days::{HOURS, Hours, hour_start};
use crate::raw::link_id;
use crate::rollup::{CAMPAIGN_SCOPE, CLICKS, CONVERSIONS, OPENS, UNSUBSCRIBES, role};

/// The figures of one kind of action (clicks, opens, conversions) in a campaign or
/// on a link: what [`Activity`] answers, without the per-recipient listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActivityFigures {
    /// Records by people.
    pub human: u64,
    /// Records by machines.
    pub machine: u64,
    /// Implied opens (opens only), counted apart from the totals.
    pub implied: u64,
    /// Distinct recipients with any record, implied ones included.
    pub unique: u64,
    /// Distinct recipients with a record by a person: unique clickers, openers, …
    pub unique_human: u64,
    /// Counts by reason (the verdict's `Display` form), most frequent first, ties
    /// by reason.
    pub reasons: Vec<(String, u64)>,
    /// Counts per hour (bucket start, unix seconds), oldest first; empty hours are
    /// left out.
    pub hours: Vec<(u64, Split)>,
    /// Recipients by time from the token's issue to their first human record, in
    /// the buckets of [`TIME_BUCKETS`].
    pub time_to_first: [u64; TIME_BUCKETS.len()],
}

impl ActivityFigures {
    /// The figures of a report's activity.
    pub fn from_activity(activity: &Activity) -> Self {
        Self {
            human: activity.human(),
            machine: activity.machine(),
            implied: activity.implied(),
            unique: activity.unique(),
            unique_human: activity.unique_human(),
            reasons: (activity.reasons().into_iter())
                .map(|(reason, count)| (reason.to_owned(), count))
                .collect(),
            hours: activity.trend(Granularity::Hour),
            time_to_first: *activity.time_to_first().counts(),
        }
    }

    /// Human plus machine records (implied ones excluded).
    pub fn total(&self) -> u64 {
        self.human + self.machine
    }

    /// The human/machine split.
    pub fn split(&self) -> Split {
        Split {
            human: self.human,
            machine: self.machine,
        }
    }

    /// Counts per bucket of `granularity`, oldest first.
    pub fn trend(&self, granularity: Granularity) -> Vec<(u64, Split)> {
        let mut buckets: BTreeMap<u64, Split> = BTreeMap::new();
        for &(hour, split) in &self.hours {
            let bucket = buckets.entry(granularity.bucket(hour)).or_default();
            bucket.human += split.human;
            bucket.machine += split.machine;
        }
        buckets.into_iter().collect()
    }
}

/// One link's figures: its clicks and the conversions they led to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkFigures {
    /// The link (`None`: clicks whose token named no link).
    pub link: Option<Link>,
    /// Clicks on the link.
    pub clicks: ActivityFigures,
    /// Conversions attributed to its clicks.
    pub conversions: ActivityFigures,
}

impl LinkFigures {
    /// Unique human clickers of this link per delivered message.
    pub fn click_through_rate(&self, delivered: u64) -> Rate {
        Rate {
            numerator: self.clicks.unique_human,
            denominator: delivered,
        }
    }

    /// Unique human clickers of this link per unique human opener of `campaign`.
    pub fn click_to_open_rate(&self, campaign: &CampaignFigures) -> Rate {
        Rate {
            numerator: self.clicks.unique_human,
            denominator: campaign.opens.unique_human,
        }
    }

    /// Unique converters per unique human clicker of this link.
    pub fn conversion_rate(&self) -> Rate {
        conversion_rate(&self.clicks, &self.conversions)
    }
}

/// Everything a [`CampaignReport`] answers about a campaign and its links, except
/// the per-recipient listing: read from rollups in time that does not grow with the
/// number of events.
///
/// A campaign with nothing stored has the default (all-zero) figures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CampaignFigures {
    /// Clicks on every link.
    pub clicks: ActivityFigures,
    /// Opens: pixel loads, with implied opens apart.
    pub opens: ActivityFigures,
    /// Conversions reported by the landing site.
    pub conversions: ActivityFigures,
    /// One-click unsubscribes, whatever their verdict: the `POST` usually comes from
    /// the mailbox provider on the reader's behalf.
    pub unsubscribes: ActivityFigures,
    /// Each link's figures: indexes in order, then labels, then clicks whose token
    /// named no link.
    pub links: Vec<LinkFigures>,
}

impl CampaignFigures {
    /// The figures of a report's campaign.
    pub fn from_report(campaign: &CampaignReport) -> Self {
        Self {
            clicks: ActivityFigures::from_activity(campaign.clicks()),
            opens: ActivityFigures::from_activity(campaign.opens()),
            conversions: ActivityFigures::from_activity(campaign.conversions()),
            unsubscribes: ActivityFigures::from_activity(campaign.unsubscribes()),
            links: (campaign.links().into_iter())
                .map(|link| LinkFigures {
                    link: link.link().cloned(),
                    clicks: ActivityFigures::from_activity(link.clicks()),
                    conversions: ActivityFigures::from_activity(link.conversions()),
                })
                .collect(),
        }
    }

    /// One link's figures (`None`: clicks whose token named no link).
    pub fn link(&self, link: Option<&Link>) -> Option<&LinkFigures> {
        self.links.iter().find(|figures| figures.link.as_ref() == link)
    }

    /// Unique human openers per delivered message.
    pub fn open_rate(&self, delivered: u64) -> Rate {
        Rate {
            numerator: self.opens.unique_human,
            denominator: delivered,
        }
    }

    /// Click-through rate: unique human clickers per delivered message.
    pub fn click_through_rate(&self, delivered: u64) -> Rate {
        Rate {
            numerator: self.clicks.unique_human,
            denominator: delivered,
        }
    }

    /// Click-to-open rate: unique human clickers per unique human opener.
    pub fn click_to_open_rate(&self) -> Rate {
        Rate {
            numerator: self.clicks.unique_human,
            denominator: self.opens.unique_human,
        }
    }

    /// Unique converters per unique human clicker.
    pub fn conversion_rate(&self) -> Rate {
        conversion_rate(&self.clicks, &self.conversions)
    }

    /// Unsubscribe rate: unique unsubscribed recipients per delivered message.
    pub fn unsubscribe_rate(&self, delivered: u64) -> Rate {
        Rate {
            numerator: self.unsubscribes.unique,
            denominator: delivered,
        }
    }

    /// Clicks, opens and conversions per bucket, oldest first (empty buckets left out).
    pub fn trend(&self, granularity: Granularity) -> Vec<TrendBucket> {
        let mut points: BTreeMap<u64, TrendBucket> = BTreeMap::new();
        fn point(points: &mut BTreeMap<u64, TrendBucket>, start: u64) -> &mut TrendBucket {
            points.entry(start).or_insert_with(|| TrendBucket {
                start,
                ..TrendBucket::default()
            })
        }
        for (start, split) in self.clicks.trend(granularity) {
            point(&mut points, start).clicks = split;
        }
        for (start, split) in self.opens.trend(granularity) {
            point(&mut points, start).opens = split;
        }
        for (start, split) in self.conversions.trend(granularity) {
            point(&mut points, start).conversions = split.total();
        }
        points.into_values().collect()
    }
}

fn conversion_rate(clicks: &ActivityFigures, conversions: &ActivityFigures) -> Rate {
    Rate {
        numerator: conversions.unique,
        denominator: clicks.unique_human,
    }
}

/// One bucket of a campaign's trend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrendBucket {
    /// The bucket's start, unix seconds.
    pub start: u64,
    /// Clicks in the bucket.
    pub clicks: Split,
    /// Opens (pixel loads) in the bucket.
    pub opens: Split,
    /// Conversions reported in the bucket.
    pub conversions: u64,
}

/// Requests whose token was rejected, all campaigns together (a rejected token names
/// no campaign that could be trusted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RejectedFigures {
    /// Counts by request kind (`click`, `open`, …), by kind.
    pub kinds: Vec<(String, u64)>,
    /// Counts by reason ([`rejection_reason`](hashbeacon::report::rejection_reason)),
    /// most frequent first, ties by reason.
    pub reasons: Vec<(String, u64)>,
}

impl RejectedFigures {
    /// The figures of a report's rejected requests.
    pub fn from_report(rejected: &Rejected) -> Self {
        let kinds = [
            (hashbeacon::Kind::Click, rejected.clicks()),
            (hashbeacon::Kind::Open, rejected.opens()),
            (hashbeacon::Kind::Unsubscribe, rejected.unsubscribes()),
        ];
        Self {
            kinds: (kinds.into_iter())
                .filter(|&(_, count)| count > 0)
                .map(|(kind, count)| (kind.as_str().to_owned(), count))
                .collect(),
            reasons: (rejected.reasons().into_iter())
                .map(|(reason, count)| (reason.to_owned(), count))
                .collect(),
        }
    }

    /// All rejected requests.
    pub fn total(&self) -> u64 {
        self.kinds.iter().map(|(_, count)| count).sum()
    }

    /// Rejected requests of one kind.
    pub fn of(&self, kind: hashbeacon::Kind) -> u64 {
        (self.kinds.iter())
            .find(|(name, _)| name == kind.as_str())
            .map_or(0, |(_, count)| *count)
    }

    /// Built from `(kind, reason, count)` rollup rows.
    pub(crate) fn from_rows(rows: Vec<(String, String, i64)>) -> Self {
        let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
        let mut reasons: HashMap<String, u64> = HashMap::new();
        for (kind, reason, count) in rows {
            let count = count_of(count);
            *kinds.entry(kind).or_default() += count;
            *reasons.entry(reason).or_default() += count;
        }
        Self {
            kinds: kinds.into_iter().filter(|&(_, count)| count > 0).collect(),
            reasons: by_count(reasons),
        }
    }
}

/// A campaign's rollup rows, as a backend reads them.
#[derive(Debug, Default)]
pub(crate) struct CampaignRows {
    /// `(scope, action, reason, person, count)`.
    pub(crate) counts: Vec<(String, String, String, bool, i64)>,
    /// The hourly counts, a run per scope and action ([`CampaignRows::push_day`]).
    pub(crate) days: Vec<DayRun>,
    /// `(scope, activity, distinct recipients)`.
    pub(crate) uniques: Vec<(String, String, i64)>,
    /// `(scope, activity, time bucket, recipients)`.
    pub(crate) firsts: Vec<(String, String, i64, i64)>,
}

/// The day rows of one scope and action: `(day, person, counts per hour)`.
///
/// Runs spare a copy of the scope and action per row.
#[derive(Debug)]
pub(crate) struct DayRun {
    scope: String,
    action: String,
    days: Vec<(i64, bool, Hours)>,
}

impl CampaignRows {
    /// Adds a `rollup_days` row. Rows read in key order share the run of the row
    /// before; the figures are the same in any order.
    pub(crate) fn push_day(&mut self, scope: &str, action: &str, day: i64, person: bool, hours: Hours) {
        match self.days.last_mut() {
            Some(run) if run.scope == scope && run.action == action => {
                run.days.push((day, person, hours));
            }
            _ => self.days.push(DayRun {
                scope: scope.to_owned(),
                action: action.to_owned(),
                days: vec![(day, person, hours)],
            }),
        }
    }
}

/// An activity's figures while they are read.
#[derive(Default)]
struct Tally {
    figures: ActivityFigures,
    reasons: HashMap<String, u64>,
    /// Per day: its hours.
    days: BTreeMap<u64, [Split; HOURS]>,
}

impl CampaignRows {
    /// The figures the rows add up to.
    pub(crate) fn figures(self) -> CampaignFigures {
        let mut tallies: BTreeMap<(String, String), Tally> = BTreeMap::new();
        // Rows of an action this version does not know are left out.
        let known = |action: &str| hashbeacon::report::Action::from_name(action).map(role);
        for (scope, action, reason, person, count) in self.counts {
            let Some(role) = known(&action) else { continue };
            let tally = tallies.entry((scope, role.activity.to_owned())).or_default();
            let count = count_of(count);
            if role.implied {
                tally.figures.implied += count;
            } else {
                *if person {
                    &mut tally.figures.human
                } else {
                    &mut tally.figures.machine
                } += count;
                *tally.reasons.entry(reason).or_default() += count;
            }
        }
        for run in self.days {
            let Some(role) = known(&run.action).filter(|role| !role.implied) else {
                continue;
            };
            let tally = tallies.entry((run.scope, role.activity.to_owned())).or_default();
            for (day, person, counts) in run.days {
                let splits = tally.days.entry(crate::rollup::unix(day)).or_default();
                for (split, count) in splits.iter_mut().zip(counts) {
                    *if person {
                        &mut split.human
                    } else {
                        &mut split.machine
                    } += count_of(count);
                }
            }
        }
        for (scope, activity, count) in self.uniques {
            tallies.entry((scope, activity)).or_default().figures.unique += count_of(count);
        }
        for (scope, activity, bucket, count) in self.firsts {
            let tally = tallies.entry((scope, activity)).or_default();
            let slot = usize::try_from(bucket)
                .ok()
                .and_then(|bucket| tally.figures.time_to_first.get_mut(bucket));
            if let Some(slot) = slot {
                *slot += count_of(count);
                tally.figures.unique_human += count_of(count);
            }
        }
        let mut campaign = CampaignFigures::default();
        let mut links: BTreeMap<(u8, u32, String), LinkFigures> = BTreeMap::new();
        for ((scope, activity), tally) in tallies {
            let figures = ActivityFigures {
                reasons: by_count(tally.reasons),
                hours: hours(tally.days),
                ..tally.figures
            };
            if scope == CAMPAIGN_SCOPE {
                match activity.as_str() {
                    CLICKS => campaign.clicks = figures,
                    OPENS => campaign.opens = figures,
                    CONVERSIONS => campaign.conversions = figures,
                    UNSUBSCRIBES => campaign.unsubscribes = figures,
                    _ => {}
                }
                continue;
            }
            let link = (!scope.is_empty()).then(|| Link::from(link_id(&scope)));
            let entry = links
                .entry(link_order(link.as_ref()))
                .or_insert_with(|| LinkFigures {
                    link,
                    ..LinkFigures::default()
                });
            match activity.as_str() {
                CLICKS => entry.clicks = figures,
                CONVERSIONS => entry.conversions = figures,
                _ => {}
            }
        }
        campaign.links = links.into_values().collect();
        campaign
    }
}

/// Hour by hour, oldest first, empty hours left out.
fn hours(days: BTreeMap<u64, [Split; HOURS]>) -> Vec<(u64, Split)> {
    let mut hours = Vec::new();
    for (day, splits) in days {
        let filled = (splits.into_iter().enumerate()).filter(|(_, split)| split.total() > 0);
        hours.extend(filled.map(|(hour, split)| (hour_start(day, hour), split)));
    }
    hours
}

/// Links in reading order: indexes by number, then labels by name, then no link.
fn link_order(link: Option<&Link>) -> (u8, u32, String) {
    match link {
        Some(Link::Index(index)) => (0, *index, String::new()),
        Some(Link::Label(label)) => (1, 0, label.to_string()),
        None => (2, 0, String::new()),
    }
}

/// Counts keyed by text, most frequent first, ties by text, zeros left out.
fn by_count(counts: HashMap<String, u64>) -> Vec<(String, u64)> {
    let mut sorted: Vec<_> = counts.into_iter().filter(|&(_, count)| count > 0).collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted
}

/// A stored count; rollups only add, so a negative one is never written.
fn count_of(count: i64) -> u64 {
    u64::try_from(count).unwrap_or_default()
}
