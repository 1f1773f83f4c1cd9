//! The report figures `/stats` returns as JSON, built from a campaign's
//! [`CampaignReport`]: aggregated figures only, never a pseudonym.

use hashbeacon::event::Link;
use hashbeacon::report::{Activity, CampaignReport, Granularity, Rate, Report};
use serde::Serialize;

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

/// The figures of one campaign of `report` (all zero if it has none).
pub(crate) fn figures(
    report: &Report,
    campaign: &str,
    delivered: Option<u64>,
    granularity: Granularity,
) -> Figures {
    let rejected = report.rejected().total();
    let Some(campaign) = report.campaign(campaign) else {
        return Figures {
            rejected,
            ..Figures::default()
        };
    };
    let per_delivered = |rate: fn(&CampaignReport, u64) -> Rate| {
        delivered.and_then(|delivered| rate(campaign, delivered).value())
    };
    Figures {
        clicks: counts(campaign.clicks()),
        opens: counts(campaign.opens()),
        conversions: counts(campaign.conversions()),
        unsubscribes: Unsubscribes {
            total: campaign.unsubscribes().total(),
            unique: campaign.unsubscribes().unique(),
        },
        unsubscribe_rate: per_delivered(CampaignReport::unsubscribe_rate),
        open_rate: per_delivered(CampaignReport::open_rate),
        click_through_rate: per_delivered(CampaignReport::click_through_rate),
        click_to_open_rate: campaign.click_to_open_rate().value(),
        conversion_rate: campaign.conversion_rate().value(),
        time_to_first_click: campaign
            .clicks()
            .time_to_first()
            .iter()
            .map(|(bucket, count)| Bucket {
                bucket: bucket.label,
                count,
            })
            .collect(),
        trend: campaign
            .trend(granularity)
            .into_iter()
            .map(|point| Point {
                start: point.start,
                human_clicks: point.clicks.human,
                machine_clicks: point.clicks.machine,
                human_opens: point.opens.human,
                machine_opens: point.opens.machine,
                conversions: point.conversions,
            })
            .collect(),
        links: campaign
            .links()
            .into_iter()
            .map(|link| LinkFigures {
                link: link.link().map(Link::to_string),
                clicks: counts(link.clicks()),
                conversions: link.conversions().total(),
                click_through_rate: delivered
                    .and_then(|delivered| link.click_through_rate(delivered).value()),
                click_to_open_rate: link.click_to_open_rate().value(),
                conversion_rate: link.conversion_rate().value(),
            })
            .collect(),
        rejected,
    }
}

fn counts(activity: &Activity) -> Counts {
    Counts {
        total: activity.total(),
        human: activity.human(),
        machine: activity.machine(),
        implied: activity.implied(),
        unique_human: activity.unique_human(),
        reasons: activity
            .reasons()
            .into_iter()
            .map(|(reason, count)| Reason {
                reason: reason.to_owned(),
                count,
            })
            .collect(),
    }
}
