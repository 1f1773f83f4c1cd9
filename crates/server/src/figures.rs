//! What `/stats` returns as JSON, built from a campaign's rollup figures
//! ([`CampaignFigures`]): aggregated figures only, never a pseudonym.

use hashbeacon::event::Link;
use hashbeacon::report::{Granularity, Rate, TIME_BUCKETS};
use hashbeacon_store::{ActivityFigures, CampaignFigures, RejectedFigures};
use serde::Serialize;

/// What `GET /stats?campaign=ID` returns: the per-link counts, and the report's figures.
#[derive(Debug, Serialize)]
pub(crate) struct Stats {
    /// The campaign id.
    pub(crate) campaign: String,
    /// Clicks per link, by link id.
    pub(crate) links: Vec<LinkStats>,
    /// The campaign's opens.
    pub(crate) opens: OpenStats,
    /// The campaign report's figures.
    pub(crate) report: Figures,
}

/// Clicks on one link.
#[derive(Debug, Serialize)]
pub(crate) struct LinkStats {
    /// The link id: its position or the author's label; `null` for clicks that named none.
    pub(crate) link: Option<String>,
    /// All clicks, human and machine.
    pub(crate) clicks: u64,
    /// Distinct recipients with a human click on this link (as the report counts
    /// unique clickers: scanners never make a recipient count).
    pub(crate) unique_recipients: u64,
    /// Clicks with no machine signal.
    pub(crate) human: u64,
    /// Clicks by scanners, gateways and scripts.
    pub(crate) machine: u64,
}

/// Opens of one campaign.
#[derive(Debug, Default, Serialize)]
pub(crate) struct OpenStats {
    /// All pixel loads, human and machine (opens implied by clicks are under
    /// `report.opens.implied`).
    pub(crate) opens: u64,
    /// Distinct recipients with a human open.
    pub(crate) unique_opens: u64,
    /// Opens by people, directly or through a mail provider's image proxy.
    pub(crate) human: u64,
    /// Machine opens: prefetching, scanners.
    pub(crate) machine: u64,
}

/// Everything `/stats` returns for `campaign`, from its rollup figures.
pub(crate) fn stats(
    campaign: &str,
    figures: &CampaignFigures,
    rejected: &RejectedFigures,
    delivered: Option<u64>,
    granularity: Granularity,
) -> Stats {
    Stats {
        campaign: campaign.to_owned(),
        links: (figures.links.iter())
            .filter(|link| link.clicks.total() > 0)
            .map(|link| LinkStats {
                link: link.link.as_ref().map(Link::to_string),
                clicks: link.clicks.total(),
                unique_recipients: link.clicks.unique_human,
                human: link.clicks.human,
                machine: link.clicks.machine,
            })
            .collect(),
        opens: OpenStats {
            opens: figures.opens.total(),
            unique_opens: figures.opens.unique_human,
            human: figures.opens.human,
            machine: figures.opens.machine,
        },
        report: report(figures, rejected, delivered, granularity),
    }
}

/// Everything `/stats` adds under `"report"`.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Figures {
    /// Clicks on every link.
    pub(crate) clicks: Counts,
    /// Opens: pixel loads, with implied opens apart.
    pub(crate) opens: Counts,
    /// Conversions reported by the landing site.
    pub(crate) conversions: Counts,
    /// One-click unsubscribes: every authentic one, whoever made the POST.
    pub(crate) unsubscribes: Unsubscribes,
    /// Unique unsubscribed recipients per delivered message (with `delivered`).
    pub(crate) unsubscribe_rate: Option<f64>,
    /// Unique human openers per delivered message (with `delivered`).
    pub(crate) open_rate: Option<f64>,
    /// Unique human clickers per delivered message (with `delivered`).
    pub(crate) click_through_rate: Option<f64>,
    /// Unique human clickers per unique human opener.
    pub(crate) click_to_open_rate: Option<f64>,
    /// Unique converters per unique human clicker.
    pub(crate) conversion_rate: Option<f64>,
    /// Recipients by time from sending to their first human click.
    pub(crate) time_to_first_click: Vec<Bucket>,
    /// Per bucket of the requested granularity, oldest first; empty buckets left out.
    pub(crate) trend: Vec<Point>,
    /// Each link's figures.
    pub(crate) links: Vec<LinkFigures>,
    /// Requests with a rejected token, all campaigns together (a rejected token names
    /// no campaign that could be trusted).
    pub(crate) rejected: u64,
}

/// The counts of one kind of action.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Counts {
    /// All of them (implied opens excluded).
    pub(crate) total: u64,
    /// By people.
    pub(crate) human: u64,
    /// By machines.
    pub(crate) machine: u64,
    /// Opens implied by clicks.
    pub(crate) implied: u64,
    /// Distinct recipients with a human one.
    pub(crate) unique_human: u64,
    /// Counts by verdict and signal, most frequent first.
    pub(crate) reasons: Vec<Reason>,
}

/// The one-click unsubscribes of a campaign.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Unsubscribes {
    /// Every accepted one-click POST.
    pub(crate) total: u64,
    /// Distinct recipients: the same token posted twice counts once.
    pub(crate) unique: u64,
}

/// One reason and its count.
#[derive(Debug, Serialize)]
pub(crate) struct Reason {
    /// The verdict and the signal that decided it, e.g. `scanner: HEAD request`.
    pub(crate) reason: String,
    /// How many.
    pub(crate) count: u64,
}

/// One bucket of the time-to-first-click distribution.
#[derive(Debug, Serialize)]
pub(crate) struct Bucket {
    /// E.g. `1–5 min`.
    pub(crate) bucket: &'static str,
    /// Recipients.
    pub(crate) count: u64,
}

/// One bucket of the trend.
#[derive(Debug, Serialize)]
pub(crate) struct Point {
    /// The bucket's start, unix seconds.
    pub(crate) start: u64,
    /// Human clicks.
    pub(crate) human_clicks: u64,
    /// Machine clicks.
    pub(crate) machine_clicks: u64,
    /// Human opens.
    pub(crate) human_opens: u64,
    /// Machine opens.
    pub(crate) machine_opens: u64,
    /// Conversions.
    pub(crate) conversions: u64,
}

/// One link's figures.
#[derive(Debug, Serialize)]
pub(crate) struct LinkFigures {
    /// The link id: its position or label; `null` for clicks that named none.
    pub(crate) link: Option<String>,
    /// Its clicks.
    pub(crate) clicks: Counts,
    /// Conversions after its clicks.
    pub(crate) conversions: u64,
    /// Its unique human clickers per delivered message (with `delivered`).
    pub(crate) click_through_rate: Option<f64>,
    /// Its unique human clickers per unique human opener of the campaign.
    pub(crate) click_to_open_rate: Option<f64>,
    /// Its unique converters per unique human clicker.
    pub(crate) conversion_rate: Option<f64>,
}

/// The report figures of a campaign.
fn report(
    campaign: &CampaignFigures,
    rejected: &RejectedFigures,
    delivered: Option<u64>,
    granularity: Granularity,
) -> Figures {
    let per_delivered = |rate: fn(&CampaignFigures, u64) -> Rate| {
        delivered.and_then(|delivered| rate(campaign, delivered).value())
    };
    Figures {
        clicks: counts(&campaign.clicks),
        opens: counts(&campaign.opens),
        conversions: counts(&campaign.conversions),
        unsubscribes: Unsubscribes {
            total: campaign.unsubscribes.total(),
            unique: campaign.unsubscribes.unique,
        },
        unsubscribe_rate: per_delivered(CampaignFigures::unsubscribe_rate),
        open_rate: per_delivered(CampaignFigures::open_rate),
        click_through_rate: per_delivered(CampaignFigures::click_through_rate),
        click_to_open_rate: campaign.click_to_open_rate().value(),
        conversion_rate: campaign.conversion_rate().value(),
        time_to_first_click: (TIME_BUCKETS.iter().zip(campaign.clicks.time_to_first))
            .map(|(bucket, count)| Bucket {
                bucket: bucket.label,
                count,
            })
            .collect(),
        trend: (campaign.trend(granularity).into_iter())
            .map(|point| Point {
                start: point.start,
                human_clicks: point.clicks.human,
                machine_clicks: point.clicks.machine,
                human_opens: point.opens.human,
                machine_opens: point.opens.machine,
                conversions: point.conversions,
            })
            .collect(),
        links: (campaign.links.iter())
            .map(|link| LinkFigures {
                link: link.link.as_ref().map(Link::to_string),
                clicks: counts(&link.clicks),
                conversions: link.conversions.total(),
                click_through_rate: delivered
                    .and_then(|delivered| link.click_through_rate(delivered).value()),
                click_to_open_rate: link.click_to_open_rate(campaign).value(),
                conversion_rate: link.conversion_rate().value(),
            })
            .collect(),
        rejected: rejected.total(),
    }
}

fn counts(activity: &ActivityFigures) -> Counts {
    Counts {
        total: activity.total(),
        human: activity.human,
        machine: activity.machine,
        implied: activity.implied,
        unique_human: activity.unique_human,
        reasons: (activity.reasons.iter())
            .map(|(reason, count)| Reason {
                reason: reason.clone(),
                count: *count,
            })
            .collect(),
    }
}
