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
//! - **Human or machine.** A request whose verdict [`is_person`](Verdict::is_person)
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
//! - Time is unix seconds in UTC; trend buckets start on whole hours or UTC days.
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

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::conversion::Conversion;
use crate::error::VerifyError;
use crate::event::{Event, Link};
use crate::token::{Kind, LinkId};

/// Seconds in an hour, the finest trend bucket.
pub const HOUR: u64 = 3_600;
/// Seconds in a day.
pub const DAY: u64 = 86_400;

/// What a [`Record`] counts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// A click on a tracked link.
    Click,
    /// A load of the open pixel.
    Open,
    /// An open recorded because the message was clicked (see the module docs).
    ImpliedOpen,
    /// A conversion attributed to a click ([`crate::conversion`]).
    Conversion,
    /// A one-click unsubscribe.
    Unsubscribe,
}

/// One accepted event, as a report sees it: the few facts a host stores per event.
///
/// [`Report::add`] builds it from an [`Event`]; a host folding rows from its own
/// database builds it from those.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Record<'a> {
    /// What happened.
    pub action: Action,
    /// The campaign id.
    pub campaign: &'a str,
    /// The link, for clicks.
    pub link: Option<LinkId<'a>>,
    /// The recipient's pseudonym, if the token carried one.
    pub recipient: Option<&'a str>,
    /// When it happened, unix seconds (the event's received-at).
    pub at: u64,
    /// What timings are measured from, unix seconds (the token's issued-at; for a
    /// conversion, the click time).
    pub since: u64,
    /// Whether a person did it ([`Verdict::is_person`](crate::Verdict::is_person)).
    pub person: bool,
    /// Why it was judged so: the verdict's `Display` form, e.g. `"human"` or
    /// `"scanner: HEAD request"`.
    pub reason: &'a str,
}

impl<'a> Record<'a> {
    /// The record of an event with an authentic token; `None` for a rejected one.
    fn from_event(event: &'a Event, reason: &'a str) -> Option<Self> {
        let token = event.token.as_ref().ok()?;
        let action = match (event.kind, event.implied) {
            (Kind::Click, _) => Action::Click,
            (Kind::Open, false) => Action::Open,
            (Kind::Open, true) => Action::ImpliedOpen,
            (Kind::Unsubscribe, _) => Action::Unsubscribe,
        };
        Some(Self {
            action,
            campaign: &token.campaign,
            link: token.link.as_ref().map(link_id),
            recipient: token.recipient.as_deref(),
            at: event.received_at,
            since: token.issued_at,
            person: event.verdict.is_person(),
            reason,
        })
    }
}

/// Borrows an owned link as the token's link id.
fn link_id(link: &Link) -> LinkId<'_> {
    match link {
        Link::Index(index) => LinkId::Index(*index),
        Link::Label(label) => LinkId::Label(label),
    }
}

/// How finely a trend is bucketed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Granularity {
    /// Whole hours.
    #[default]
    Hour,
    /// UTC days.
    Day,
}

impl Granularity {
    /// The bucket length in seconds.
    pub fn seconds(self) -> u64 {
        match self {
            Granularity::Hour => HOUR,
            Granularity::Day => DAY,
        }
    }

    /// The start of the bucket holding `at`.
    pub fn bucket(self, at: u64) -> u64 {
        at - at % self.seconds()
    }
}

/// A count split into human and machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
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

    fn count(&mut self, person: bool) {
        if person {
            self.human += 1;
        } else {
            self.machine += 1;
        }
    }

    fn add(&mut self, other: Split) {
        self.human += other.human;
        self.machine += other.machine;
    }
}

/// A ratio, kept as its two counts so it stays exact and mergeable.
///
/// ```
/// use hashbeacon::report::Rate;
/// let rate = Rate { numerator: 1, denominator: 8 };
/// assert_eq!(rate.value(), Some(0.125));
/// assert_eq!(rate.to_string(), "12.5%");
/// assert_eq!(Rate { numerator: 0, denominator: 0 }.to_string(), "n/a");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    /// What is counted.
    pub numerator: u64,
    /// What it is counted against.
    pub denominator: u64,
}

impl Rate {
    /// The ratio; `None` when the denominator is zero.
    pub fn value(self) -> Option<f64> {
        (self.denominator != 0).then(|| self.numerator as f64 / self.denominator as f64)
    }
}

impl fmt::Display for Rate {
    /// A percentage with one decimal, or `n/a` when the denominator is zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value() {
            Some(value) => write!(f, "{:.1}%", value * 100.0),
            None => f.write_str("n/a"),
        }
    }
}

/// One bucket of the time-to-first distribution: up to, not including, `below`
/// seconds after the previous bucket's bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimeBucket {
    /// A short label, e.g. `"1–5 min"`.
    pub label: &'static str,
    /// The exclusive upper bound in seconds; `None` for the last, open-ended bucket.
    pub below: Option<u64>,
}

/// The fixed buckets of [`Distribution`]: under a minute, 1–5 min, 5–15 min,
/// 15–60 min, 1–6 h, 6–24 h, 1–7 days, a week or more.
pub const TIME_BUCKETS: [TimeBucket; 8] = [
    TimeBucket {
        label: "< 1 min",
        below: Some(60),
    },
    TimeBucket {
        label: "1–5 min",
        below: Some(5 * 60),
    },
    TimeBucket {
        label: "5–15 min",
        below: Some(15 * 60),
    },
    TimeBucket {
        label: "15–60 min",
        below: Some(HOUR),
    },
    TimeBucket {
        label: "1–6 h",
        below: Some(6 * HOUR),
    },
    TimeBucket {
        label: "6–24 h",
        below: Some(DAY),
    },
    TimeBucket {
        label: "1–7 days",
        below: Some(7 * DAY),
    },
    TimeBucket {
        label: "≥ 7 days",
        below: None,
    },
];

/// How long recipients took to act for the first time, counted in [`TIME_BUCKETS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Distribution {
    counts: [u64; TIME_BUCKETS.len()],
}

impl Distribution {
    /// The count in each of [`TIME_BUCKETS`], in order.
    pub fn counts(&self) -> &[u64; TIME_BUCKETS.len()] {
        &self.counts
    }

    /// Each bucket with its count.
    pub fn iter(&self) -> impl Iterator<Item = (TimeBucket, u64)> + '_ {
        TIME_BUCKETS.into_iter().zip(self.counts.iter().copied())
    }

    /// The number of recipients counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn count(&mut self, seconds: u64) {
        let bucket = TIME_BUCKETS
            .iter()
            .position(|bucket| bucket.below.is_none_or(|below| seconds < below));
        if let Some(slot) = bucket.and_then(|at| self.counts.get_mut(at)) {
            *slot += 1;
        }
    }
}

/// What one recipient did within one [`Activity`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Seen {
    /// Records, implied ones included.
    records: u64,
    /// Records by the person (implied ones following their click).
    person: u64,
    /// The first person record: `(at, since)`.
    first: Option<(u64, u64)>,
}

impl Seen {
    fn add(&mut self, other: Seen) {
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
    recipients: HashMap<String, Seen>,
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

    fn record(&mut self, record: &Record<'_>) {
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

    fn merge(&mut self, other: Activity) {
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
fn by_count(counts: &HashMap<String, u64>) -> Vec<(&str, u64)> {
    let mut sorted: Vec<_> = counts.iter().map(|(key, &count)| (key.as_str(), count)).collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    sorted
}

/// Adds to a count keyed by text, allocating the key only the first time.
fn add_count(counts: &mut HashMap<String, u64>, key: &str, n: u64) {
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

/// A link's figures: its clicks and the conversions they led to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct LinkTally {
    clicks: Activity,
    conversions: Activity,
}

impl LinkTally {
    fn merge(&mut self, other: LinkTally) {
        self.clicks.merge(other.clicks);
        self.conversions.merge(other.conversions);
    }
}

/// The figures of one campaign.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CampaignReport {
    clicks: Activity,
    opens: Activity,
    conversions: Activity,
    unsubscribes: Activity,
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
        listing.into_values().collect()
    }

    fn record(&mut self, record: &Record<'_>) {
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

    fn merge(&mut self, other: CampaignReport) {
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

fn conversion_rate(clicks: &Activity, conversions: &Activity) -> Rate {
    Rate {
        numerator: conversions.unique(),
        denominator: clicks.unique_human(),
    }
}

/// One bucket of a trend series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TrendPoint {
    /// The bucket's start, unix seconds.
    pub start: u64,
    /// Clicks in the bucket.
    pub clicks: Split,
    /// Opens (pixel loads) in the bucket.
    pub opens: Split,
    /// Conversions reported in the bucket.
    pub conversions: u64,
}

fn trend(
    clicks: &Activity,
    opens: Option<&Activity>,
    conversions: &Activity,
    granularity: Granularity,
) -> Vec<TrendPoint> {
    let mut points: BTreeMap<u64, TrendPoint> = BTreeMap::new();
    fn point(points: &mut BTreeMap<u64, TrendPoint>, start: u64) -> &mut TrendPoint {
        points.entry(start).or_insert_with(|| TrendPoint {
            start,
            ..TrendPoint::default()
        })
    }
    for (start, split) in clicks.trend(granularity) {
        point(&mut points, start).clicks = split;
    }
    for (start, split) in opens.map(|opens| opens.trend(granularity)).unwrap_or_default() {
        point(&mut points, start).opens = split;
    }
    for (start, split) in conversions.trend(granularity) {
        point(&mut points, start).conversions = split.total();
    }
    points.into_values().collect()
}

/// What one recipient did in a campaign: see [`CampaignReport::recipients`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
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
}

/// Requests whose token was rejected: counted apart, never as clicks or opens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    clicks: u64,
    opens: u64,
    unsubscribes: u64,
    reasons: HashMap<String, u64>,
}

impl Rejected {
    /// Rejected click requests.
    pub fn clicks(&self) -> u64 {
        self.clicks
    }

    /// Rejected pixel requests.
    pub fn opens(&self) -> u64 {
        self.opens
    }

    /// Rejected unsubscribe requests.
    pub fn unsubscribes(&self) -> u64 {
        self.unsubscribes
    }

    /// All of them.
    pub fn total(&self) -> u64 {
        self.clicks + self.opens + self.unsubscribes
    }

    /// Counts by reason (see [`rejection_reason`]), most frequent first.
    pub fn reasons(&self) -> Vec<(&str, u64)> {
        by_count(&self.reasons)
    }
}

/// A short, stable name for why a token was rejected, e.g. `"bad MAC"`: the reason a
/// report counts rejected requests by.
pub fn rejection_reason(error: &VerifyError) -> &'static str {
    match error {
        VerifyError::TooLong { .. } => "token too long",
        VerifyError::DestinationTooLong { .. } => "destination too long",
        VerifyError::Malformed(_) => "malformed",
        VerifyError::UnsupportedVersion => "unsupported version",
        VerifyError::WrongPurpose { .. } => "wrong purpose",
        VerifyError::UnknownKey(_) => "unknown key",
        VerifyError::BadMac => "bad MAC",
        VerifyError::Expired { .. } => "expired",
        VerifyError::NotTracking(_) => "not a tracking URL",
    }
}

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
            link: conversion.link.as_ref().map(link_id),
            recipient: conversion.recipient.as_deref(),
            at: conversion.converted_at,
            since: conversion.clicked_at,
            person: true,
            reason: "conversion",
        });
    }

    /// Counts one rejected request of the given purpose and reason.
    pub fn add_rejected(&mut self, kind: Kind, reason: &str) {
        match kind {
            Kind::Click => self.rejected.clicks += 1,
            Kind::Open => self.rejected.opens += 1,
            Kind::Unsubscribe => self.rejected.unsubscribes += 1,
        }
        add_count(&mut self.rejected.reasons, reason, 1);
    }

    /// Adds another report's figures to this one. The result equals the report folded
    /// from both reports' events: counts add up, and uniques count each recipient once.
    pub fn merge(&mut self, other: Report) {
        for (id, campaign) in other.campaigns {
            self.campaigns.entry(id).or_default().merge(campaign);
        }
        self.rejected.clicks += other.rejected.clicks;
        self.rejected.opens += other.rejected.opens;
        self.rejected.unsubscribes += other.rejected.unsubscribes;
        for (reason, count) in other.rejected.reasons {
            add_count(&mut self.rejected.reasons, &reason, count);
        }
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

    /// How many events were folded in: every click, open, implied open, conversion and
    /// rejected request counted once.
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
mod tests {
    use super::*;
    use crate::classify::{Signal, Verdict};
    use crate::endpoint::Method;
    use crate::event::TokenFacts;
    use crate::key::KeyId;
    use proptest::prelude::*;

    const ADA: &str = "AAAAAAAAAAAAAAAA";
    const BOB: &str = "BBBBBBBBBBBBBBBB";
    const SENT: u64 = 1_767_225_600;

    fn event(kind: Kind, link: Option<Link>, recipient: Option<&str>, at: u64, verdict: Verdict) -> Event {
        Event {
            kind,
            implied: false,
            token: Ok(TokenFacts {
                campaign: "launch".to_owned(),
                link,
                recipient: recipient.map(str::to_owned),
                issued_at: SENT,
                expires_at: None,
                expired: false,
                key_id: KeyId::new("k1").unwrap(),
            }),
            received_at: at,
            method: Method::Get,
            user_agent: None,
            client_ip: None,
            verdict,
        }
    }

    fn click(link: u32, recipient: Option<&str>, at: u64, verdict: Verdict) -> Event {
        event(Kind::Click, Some(Link::Index(link)), recipient, at, verdict)
    }

    fn open(recipient: Option<&str>, at: u64, verdict: Verdict) -> Event {
        event(Kind::Open, None, recipient, at, verdict)
    }

    fn implied(click: &Event) -> Event {
        let mut open = click.clone();
        open.kind = Kind::Open;
        open.implied = true;
        if let Ok(token) = &mut open.token {
            token.link = None;
        }
        open
    }

    const SCANNER: Verdict = Verdict::Scanner(Signal::HeadRequest);
    const MPP: Verdict = Verdict::Prefetch(Signal::ApplePrivacyProtection);

    #[test]
    fn counts_split_uniques_and_rates() {
        let events = [
            click(0, Some(ADA), SENT + 600, Verdict::Human),
            click(0, Some(ADA), SENT + 700, Verdict::Human),
            click(1, Some(BOB), SENT + 2, SCANNER),
            click(0, None, SENT + 900, Verdict::Human),
            open(Some(ADA), SENT + 300, Verdict::Proxied(Signal::GmailImageProxy)),
            open(Some(BOB), SENT + 1, MPP),
        ];
        let report: Report = events.iter().collect();
        let campaign = report.campaign("launch").unwrap();
        assert_eq!(campaign.clicks().split(), Split { human: 3, machine: 1 });
        assert_eq!(campaign.clicks().unique(), 2);
        assert_eq!(campaign.clicks().unique_human(), 1);
        assert_eq!(campaign.opens().split(), Split { human: 1, machine: 1 });
        assert_eq!(campaign.opens().unique_human(), 1);
        assert_eq!(
            campaign.click_through_rate(10),
            Rate {
                numerator: 1,
                denominator: 10
            }
        );
        assert_eq!(campaign.open_rate(10).to_string(), "10.0%");
        assert_eq!(campaign.click_to_open_rate().value(), Some(1.0));
        assert_eq!(
            campaign.opens().reasons(),
            [
                ("prefetch: Apple Mail Privacy Protection", 1),
                ("proxied: Gmail image proxy", 1)
            ]
        );

        let links = campaign.links();
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].link(), Some(&Link::Index(0)));
        assert_eq!(links[0].clicks().split(), Split { human: 3, machine: 0 });
        assert_eq!(links[0].clicks().unique_human(), 1);
        assert_eq!(links[1].clicks().reasons(), [("scanner: HEAD request", 1)]);
        assert_eq!(
            links[1].click_to_open_rate(),
            Rate {
                numerator: 0,
                denominator: 1
            }
        );
        assert_eq!(links[1].click_through_rate(4).value(), Some(0.0));
        assert!(campaign.link(Some(&Link::Index(7))).is_none());
        assert_eq!(report.events(), 6);
    }

    #[test]
    fn implied_opens_make_openers_without_inflating_opens() {
        let human = click(0, Some(ADA), SENT + 600, Verdict::Human);
        let scanner = click(0, Some(BOB), SENT + 1, SCANNER);
        let events = [implied(&human), human, implied(&scanner), scanner];
        let report: Report = events.iter().collect();
        let opens = report.campaign("launch").unwrap().opens();
        assert_eq!(opens.total(), 0, "implied opens are not pixel loads");
        assert_eq!(opens.implied(), 2);
        assert_eq!(opens.unique(), 2);
        assert_eq!(opens.unique_human(), 1, "a scanner's click makes no human opener");
        assert!(opens.trend(Granularity::Hour).is_empty());
        assert_eq!(opens.time_to_first().counts()[2], 1);
        assert_eq!(
            report.campaign("launch").unwrap().click_to_open_rate().value(),
            Some(1.0)
        );
        assert_eq!(report.events(), 4);
    }

    #[test]
    fn rejected_requests_are_counted_apart() {
        let mut bad = click(0, Some(ADA), SENT + 600, Verdict::Human);
        bad.token = Err(VerifyError::BadMac);
        let mut unknown = open(None, SENT, Verdict::Human);
        unknown.token = Err(VerifyError::UnknownKey(KeyId::new("k9").unwrap()));
        let report: Report = [bad.clone(), bad, unknown].into_iter().collect();
        assert!(report.campaigns().is_empty());
        assert_eq!(report.rejected().clicks(), 2);
        assert_eq!(report.rejected().opens(), 1);
        assert_eq!(report.rejected().reasons(), [("bad MAC", 2), ("unknown key", 1)]);
        assert_eq!(report.events(), 3);
    }

    #[test]
    fn time_to_first_click_uses_each_recipients_first_human_click() {
        let report: Report = [
            click(0, Some(ADA), SENT + 3 * DAY, Verdict::Human),
            click(1, Some(ADA), SENT + 59, Verdict::Human),
            click(0, Some(BOB), SENT + 2, SCANNER),
            click(0, Some(BOB), SENT + 10 * DAY, Verdict::Human),
            click(0, None, SENT + 5, Verdict::Human),
        ]
        .into_iter()
        .collect();
        let campaign = report.campaign("launch").unwrap();
        assert_eq!(
            campaign.clicks().time_to_first().counts(),
            &[1, 0, 0, 0, 0, 0, 0, 1]
        );
        let first_link = campaign.link(Some(&Link::Index(0))).unwrap();
        assert_eq!(
            first_link.clicks().time_to_first().counts(),
            &[0, 0, 0, 0, 0, 0, 1, 1]
        );
    }

    #[test]
    fn time_buckets_have_documented_bounds() {
        let bucket_of = |seconds| {
            let mut distribution = Distribution::default();
            distribution.count(seconds);
            distribution.counts().iter().position(|&n| n == 1).unwrap()
        };
        let cases = [
            (0, 0),
            (59, 0),
            (60, 1),
            (299, 1),
            (300, 2),
            (3_599, 3),
            (3_600, 4),
            (DAY - 1, 5),
            (DAY, 6),
            (7 * DAY, 7),
            (u64::MAX, 7),
        ];
        for (seconds, bucket) in cases {
            assert_eq!(bucket_of(seconds), bucket, "{seconds} s");
        }
    }

    #[test]
    fn trend_buckets_by_hour_and_day() {
        let day_start = SENT; // 2026-01-01T00:00:00Z
        let report: Report = [
            click(0, Some(ADA), day_start + 10, Verdict::Human),
            click(0, Some(ADA), day_start + HOUR + 10, SCANNER),
            open(Some(ADA), day_start + DAY + 5, Verdict::Human),
        ]
        .into_iter()
        .collect();
        let campaign = report.campaign("launch").unwrap();
        let hourly = campaign.trend(Granularity::Hour);
        assert_eq!(
            hourly.iter().map(|p| p.start - day_start).collect::<Vec<_>>(),
            [0, HOUR, DAY]
        );
        assert_eq!(hourly[1].clicks, Split { human: 0, machine: 1 });
        let daily = campaign.trend(Granularity::Day);
        assert_eq!(daily.len(), 2);
        assert_eq!(daily[0].clicks, Split { human: 1, machine: 1 });
        assert_eq!(daily[1].opens, Split { human: 1, machine: 0 });
        assert_eq!(campaign.links()[0].trend(Granularity::Day).len(), 1);
    }

    #[test]
    fn pseudonyms_only_in_the_listing() {
        let report: Report = [
            click(0, Some(ADA), SENT + 600, Verdict::Human),
            click(0, Some(BOB), SENT + 1, SCANNER),
            open(Some(BOB), SENT + 1, MPP),
        ]
        .into_iter()
        .collect();
        let debug = format!("{report:?}");
        assert!(!debug.contains(ADA) && !debug.contains(BOB), "{debug}");
        let listing = report.campaign("launch").unwrap().recipients();
        assert_eq!(listing.len(), 2);
        assert_eq!(listing[0].recipient, ADA);
        assert_eq!(listing[0].human_clicks, 1);
        assert_eq!(listing[0].first_click_at, Some(SENT + 600));
        assert_eq!(
            (listing[1].clicks, listing[1].human_clicks, listing[1].opens),
            (1, 0, 1)
        );
        assert_eq!(listing[1].first_click_at, None);
    }

    #[test]
    fn conversions_count_per_link_with_a_rate() {
        let conversion = |link: u32, recipient: &str, clicked_at: u64| Conversion {
            campaign: "launch".to_owned(),
            link: Some(Link::Index(link)),
            recipient: Some(recipient.to_owned()),
            clicked_at,
            converted_at: clicked_at + 120,
            key_id: KeyId::new("k1").unwrap(),
        };
        let mut report: Report = [
            click(0, Some(ADA), SENT + 600, Verdict::Human),
            click(0, Some(BOB), SENT + 900, Verdict::Human),
            click(1, Some(BOB), SENT + 950, Verdict::Human),
        ]
        .into_iter()
        .collect();
        report.add_conversion(&conversion(0, ADA, SENT + 600));
        report.add_conversion(&conversion(0, ADA, SENT + 600)); // the site reported twice
        report.add_conversion(&conversion(1, BOB, SENT + 950));
        let campaign = report.campaign("launch").unwrap();
        assert_eq!(campaign.conversions().total(), 3);
        assert_eq!(
            campaign.conversion_rate(),
            Rate {
                numerator: 2,
                denominator: 2
            }
        );
        let links = campaign.links();
        assert_eq!(links[0].conversions().total(), 2);
        assert_eq!(
            links[0].conversion_rate(),
            Rate {
                numerator: 1,
                denominator: 2
            }
        );
        assert_eq!(links[1].conversion_rate().to_string(), "100.0%");
        assert_eq!(
            campaign.conversions().time_to_first().counts()[1],
            2,
            "2 minutes after the click"
        );
        assert_eq!(campaign.trend(Granularity::Day)[0].conversions, 3);
        assert_eq!(campaign.recipients()[0].conversions, 2);
        assert_eq!(report.events(), 6);
    }

    fn verdicts() -> impl Strategy<Value = Verdict> {
        prop_oneof![
            Just(Verdict::Human),
            Just(Verdict::Proxied(Signal::GmailImageProxy)),
            Just(MPP),
            Just(SCANNER),
            Just(Verdict::Scanner(Signal::HttpLibrary("curl"))),
        ]
    }

    /// What a report folds: a request's event or a landing site's conversion.
    #[derive(Clone, Debug)]
    enum Input {
        Event(Event),
        Conversion(Conversion),
    }

    fn fold<'a>(inputs: impl IntoIterator<Item = &'a Input>) -> Report {
        let mut report = Report::new();
        for input in inputs {
            match input {
                Input::Event(event) => report.add(event),
                Input::Conversion(conversion) => report.add_conversion(conversion),
            }
        }
        report
    }

    fn inputs() -> impl Strategy<Value = Input> {
        let links = prop_oneof![
            Just(None),
            Just(Some(Link::Index(0))),
            Just(Some(Link::Index(1))),
            Just(Some(Link::Label("cta".to_owned()))),
        ];
        let recipients = prop_oneof![
            Just(None),
            Just(Some(ADA)),
            Just(Some(BOB)),
            Just(Some("CCCCCCCCCCCCCCCC"))
        ];
        (
            prop_oneof![Just("a"), Just("b")],
            any::<bool>(),
            0u8..5,
            links,
            recipients,
            0..10 * DAY,
            verdicts(),
            prop_oneof![Just(Method::Get), Just(Method::Head)],
        )
            .prop_map(
                |(campaign, is_click, shape, link, recipient, delay, verdict, method)| {
                    let kind = if is_click { Kind::Click } else { Kind::Open };
                    let mut event = event(kind, link, recipient, SENT + delay, verdict);
                    event.method = method;
                    if let Ok(token) = &mut event.token {
                        token.campaign = campaign.to_owned();
                    }
                    match shape {
                        0 => event.token = Err(VerifyError::BadMac),
                        1 if kind == Kind::Click => event = implied(&event),
                        4 => {
                            let token = event.token.clone().unwrap();
                            return Input::Conversion(Conversion {
                                campaign: token.campaign,
                                link: token.link,
                                recipient: token.recipient,
                                clicked_at: event.received_at,
                                converted_at: event.received_at + delay,
                                key_id: token.key_id,
                            });
                        }
                        _ if kind == Kind::Open => {
                            if let Ok(token) = &mut event.token {
                                token.link = None;
                            }
                        }
                        _ => {}
                    }
                    Input::Event(event)
                },
            )
    }

    fn check_activity(activity: &Activity) -> Result<(), TestCaseError> {
        prop_assert!(activity.unique() <= activity.total() + activity.implied());
        prop_assert!(activity.unique_human() <= activity.human() + activity.implied());
        prop_assert!(activity.unique_human() <= activity.unique());
        prop_assert_eq!(
            activity.reasons().iter().map(|(_, n)| n).sum::<u64>(),
            activity.total()
        );
        let trend: u64 = activity
            .trend(Granularity::Hour)
            .iter()
            .map(|(_, s)| s.total())
            .sum();
        prop_assert_eq!(trend, activity.total());
        prop_assert_eq!(activity.time_to_first().total(), activity.unique_human());
        Ok(())
    }

    proptest! {
        #[test]
        fn totals_equal_events_and_uniques_never_exceed_totals(inputs in prop::collection::vec(inputs(), 0..60)) {
            let report = fold(&inputs);
            prop_assert_eq!(report.events(), inputs.len() as u64);
            let events: Vec<&Event> = inputs
                .iter()
                .filter_map(|input| match input {
                    Input::Event(event) => Some(event),
                    Input::Conversion(_) => None,
                })
                .collect();
            let rejected = events.iter().filter(|e| e.is_rejected()).count() as u64;
            prop_assert_eq!(report.rejected().total(), rejected);
            for (id, campaign) in report.campaigns() {
                check_activity(campaign.clicks())?;
                check_activity(campaign.opens())?;
                check_activity(campaign.conversions())?;
                let links = campaign.links();
                prop_assert_eq!(links.iter().map(|l| l.clicks().total()).sum::<u64>(), campaign.clicks().total());
                prop_assert_eq!(
                    links.iter().map(|l| l.conversions().total()).sum::<u64>(),
                    campaign.conversions().total()
                );
                prop_assert!(links.iter().map(|l| l.clicks().unique()).sum::<u64>() >= campaign.clicks().unique());
                for link in links {
                    check_activity(link.clicks())?;
                    check_activity(link.conversions())?;
                }
                let clicks_with_recipient = events
                    .iter()
                    .filter_map(|e| e.token.as_ref().ok().map(|t| (e.kind, t)))
                    .filter(|(kind, t)| *kind == Kind::Click && t.campaign == id && t.recipient.is_some())
                    .count() as u64;
                prop_assert_eq!(campaign.recipients().iter().map(|r| r.clicks).sum::<u64>(), clicks_with_recipient);
            }
        }

        #[test]
        fn merging_equals_folding_the_union(a in prop::collection::vec(inputs(), 0..40),
                                            b in prop::collection::vec(inputs(), 0..40)) {
            let whole = fold(a.iter().chain(&b));
            let mut merged = fold(&a);
            merged.merge(fold(&b));
            prop_assert_eq!(&merged, &whole);
            let mut reversed = fold(&b);
            reversed.merge(fold(&a));
            prop_assert_eq!(&reversed, &whole);
        }
    }
}
