//! Campaign reports: fold tracking events into the figures a sender reads.
//!
//! A [`Report`] is built from any iterator of [`Event`]s (or of [`Record`]s, the few
//! facts a host stores per event) and answers, per campaign and per link: clicks and
//! opens with their human/machine split and its reasons, unique clickers and openers,
//! click-through and click-to-open rates for a delivered count the host supplies, the
//! time-to-first-click distribution and a trend series by hour or day; and, with
//! conversion attribution ([`crate::conversion`]), conversions and the conversion rate.
//!
//! Reports are mergeable: [`Report::merge`] of two partial reports equals the report
//! over both event sets, exactly, so each endpoint node (or each day, or each shard of
//! a table) can be folded on its own and combined. To make unique counts mergeable a
//! report keeps the set of recipient pseudonyms it saw; it shows only aggregated
//! figures unless asked for the per-recipient listing ([`CampaignReport::recipients`]),
//! and its `Debug` form prints no pseudonym.
//!
//! # How events count
//!
//! - **Human or machine.** A request whose verdict [`is_person`](crate::Verdict::is_person)
//!   (no machine signal, or an open through Gmail's or Yahoo's image proxy) is
//!   *human*; a scanner, a link checker, a `HEAD` request or Apple Mail Privacy
//!   Protection's prefetch is *machine*. Both are counted and listed by reason; only
//!   human ones make a recipient a unique clicker or opener, and the rates use those.
//! - **Uniques** are distinct recipient pseudonyms. Tokens signed without a pseudonym
//!   count in the totals but never in uniques, rates or timings.
//! - **Implied opens** (the endpoint's click-implies-open option) are not pixel loads:
//!   they are reported apart ([`Activity::implied`]) and stay out of the open totals,
//!   the split and the trend. They do make the clicker an opener — a reader who
//!   clicked certainly opened, even with images blocked — so they count towards
//!   unique openers (human if the click was) and the time to first open.
//! - **Rejected** requests (forged, tampered, unknown key, …) carry no trustworthy
//!   campaign: they are counted report-wide by purpose and reason
//!   ([`Report::rejected`]), never as clicks or opens.
//! - **Expired** tokens are authentic: their clicks and opens count as usual.
//! - **Conversions** come from verified click references ([`Report::add_conversion`]),
//!   reported by the landing site rather than requested by a browser: they count as
//!   human, on the campaign and the link that was clicked, and their timings run from
//!   the click. The conversion rate is unique converters per unique human clicker.
//! - **Unsubscribes** are one-click `POST`s to a signed unsubscribe URL
//!   ([`crate::unsubscribe`]). Each is counted, whatever its verdict (the `POST`
//!   usually comes from the mailbox provider on the reader's behalf); the same
//!   recipient posting twice is one unique unsubscribe
//!   ([`CampaignReport::unsubscribes`], [`CampaignReport::unsubscribe_rate`]).
//! - Time is unix seconds in UTC; trend buckets start on whole hours or UTC days.
//!
//! With the `serde` feature the figures ([`Split`], [`Rate`], [`TimeBucket`],
//! [`Distribution`], [`TrendPoint`], [`RecipientActivity`], [`Rejected`]) are
//! `Serialize` and `Deserialize` under their field names, which are stable (see
//! [`crate::event`] for the events themselves).
//!
//! ```
//! use hashbeacon::report::{Action, Granularity, Record, Report};
//! use hashbeacon::LinkId;
//!
//! let click = Record {
//!     action: Action::Click,
//!     campaign: "launch",
//!     link: Some(LinkId::Label("cta")),
//!     recipient: Some("3FOq2KtOAntf0XxY"),
//!     at: 1_767_229_200,
//!     since: 1_767_225_600,
//!     person: true,
//!     reason: "human",
//! };
//! let open = Record { action: Action::Open, link: None, at: 1_767_229_000, ..click };
//! let report: Report = [click, open].iter().collect();
//!
//! let campaign = report.campaign("launch").unwrap();
//! assert_eq!(campaign.clicks().human(), 1);
//! assert_eq!(campaign.opens().unique_human(), 1);
//! assert_eq!(campaign.click_through_rate(4).to_string(), "25.0%");
//! assert_eq!(campaign.click_to_open_rate().to_string(), "100.0%");
//! assert_eq!(campaign.clicks().time_to_first().counts()[4], 1); // 1–6 h after sending
//! assert_eq!(campaign.trend(Granularity::Day).len(), 1);
//! ```

mod activity;
mod campaign;
mod rate;
mod record;
mod rejected;
mod timing;
mod trend;

use std::collections::HashMap;

pub use activity::{Activity, Split};
pub use campaign::{CampaignReport, LinkReport, RecipientActivity};
pub use rate::Rate;
pub use record::{Action, Record};
pub use rejected::{Rejected, rejection_reason};
pub use timing::{Distribution, TIME_BUCKETS, TimeBucket};
pub use trend::{DAY, Granularity, HOUR, TrendPoint};

use crate::conversion::Conversion;
use crate::event::Event;
use crate::token::{Kind, LinkId};

/// Campaign reports, and the rejected requests, folded from events.
///
/// Build one with [`Report::add`] or by collecting an iterator of events; combine
/// partial reports with [`Report::merge`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    campaigns: HashMap<String, CampaignReport>,
    rejected: Rejected,
}

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds in one event.
    pub fn add(&mut self, event: &Event) {
        match &event.token {
            Ok(_) => {
                let reason = event.verdict.to_string();
                if let Some(record) = Record::from_event(event, &reason) {
                    self.add_record(&record);
                }
            }
            Err(error) => self.add_rejected(event.kind, rejection_reason(error)),
        }
    }

    /// Folds in one record (an accepted event as the host stored it).
    pub fn add_record(&mut self, record: &Record<'_>) {
        match self.campaigns.get_mut(record.campaign) {
            Some(campaign) => campaign.record(record),
            None => {
                let mut campaign = CampaignReport::default();
                campaign.record(record);
                self.campaigns.insert(record.campaign.to_owned(), campaign);
            }
        }
    }

    /// Folds in one verified conversion.
    pub fn add_conversion(&mut self, conversion: &Conversion) {
        self.add_record(&Record {
            action: Action::Conversion,
            campaign: &conversion.campaign,
            link: conversion.link.as_ref().map(LinkId::from),
            recipient: conversion.recipient.as_deref(),
            at: conversion.converted_at,
            since: conversion.clicked_at,
            person: true,
            reason: "conversion",
        });
    }

    /// Counts one rejected request of the given purpose and reason.
    pub fn add_rejected(&mut self, kind: Kind, reason: &str) {
        self.rejected.count(kind, reason);
    }

    /// Adds another report's figures to this one. The result equals the report folded
    /// from both reports' events: counts add up, and uniques count each recipient once.
    pub fn merge(&mut self, other: Report) {
        for (id, campaign) in other.campaigns {
            self.campaigns.entry(id).or_default().merge(campaign);
        }
        self.rejected.merge(other.rejected);
    }

    /// One campaign's figures.
    pub fn campaign(&self, id: &str) -> Option<&CampaignReport> {
        self.campaigns.get(id)
    }

    /// Every campaign's figures, by campaign id.
    pub fn campaigns(&self) -> Vec<(&str, &CampaignReport)> {
        let mut campaigns: Vec<_> = self
            .campaigns
            .iter()
            .map(|(id, campaign)| (id.as_str(), campaign))
            .collect();
        campaigns.sort_by_key(|(id, _)| *id);
        campaigns
    }

    /// The rejected requests.
    pub fn rejected(&self) -> &Rejected {
        &self.rejected
    }

    /// How many events were folded in: every click, open, implied open, conversion,
    /// unsubscribe and rejected request counted once.
    pub fn events(&self) -> u64 {
        let accepted: u64 = self
            .campaigns
            .values()
            .map(|c| {
                c.clicks.total()
                    + c.opens.total()
                    + c.opens.implied()
                    + c.conversions.total()
                    + c.unsubscribes.total()
            })
            .sum();
        accepted + self.rejected.total()
    }
}

impl<'e> Extend<&'e Event> for Report {
    fn extend<I: IntoIterator<Item = &'e Event>>(&mut self, events: I) {
        for event in events {
            self.add(event);
        }
    }
}

impl Extend<Event> for Report {
    fn extend<I: IntoIterator<Item = Event>>(&mut self, events: I) {
        for event in events {
            self.add(&event);
        }
    }
}

impl<'r, 'a: 'r> Extend<&'r Record<'a>> for Report {
    fn extend<I: IntoIterator<Item = &'r Record<'a>>>(&mut self, records: I) {
        for record in records {
            self.add_record(record);
        }
    }
}

impl<'e> FromIterator<&'e Event> for Report {
    fn from_iter<I: IntoIterator<Item = &'e Event>>(events: I) -> Self {
        let mut report = Report::new();
        report.extend(events);
        report
    }
}

impl FromIterator<Event> for Report {
    fn from_iter<I: IntoIterator<Item = Event>>(events: I) -> Self {
        let mut report = Report::new();
        report.extend(events);
        report
    }
}

impl<'r, 'a: 'r> FromIterator<&'r Record<'a>> for Report {
    fn from_iter<I: IntoIterator<Item = &'r Record<'a>>>(records: I) -> Self {
        let mut report = Report::new();
        report.extend(records);
        report
    }
}

#[cfg(test)]
mod tests;
