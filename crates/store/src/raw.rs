//! Raw rows: each event and conversion as stored, before any rollup, and the
//! [`Report`] folded back from them.

use hashbeacon::classify::Verdict;
use hashbeacon::event::stored_user_agent;
use hashbeacon::report::{Action, Record, Report, rejection_reason};
use hashbeacon::{Conversion, Event, Kind, LinkId};

use crate::fold::Fold;
use crate::known::KnownRecipients;
use crate::rollup::{Batch, link_text, seconds, unix};
use crate::text::Text;

/// One event as an `events` row, its text borrowed from the event where it can be:
/// the writer builds a row per event, and each allocation showed in its profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EventRow<'a> {
    /// The request's kind: `click`, `open`, …
    pub(crate) kind: &'static str,
    /// What the report counts it as ([`Action::as_str`]); `None` when rejected.
    pub(crate) action: Option<&'static str>,
    pub(crate) campaign: Option<&'a str>,
    pub(crate) link: Option<Text<'a>>,
    pub(crate) recipient: Option<&'a str>,
    pub(crate) issued_at: Option<i64>,
    pub(crate) expired: bool,
    pub(crate) key_id: Option<&'a str>,
    /// Why the token was rejected ([`rejection_reason`]), else `None`.
    pub(crate) rejected: Option<&'static str>,
    pub(crate) received_at: i64,
    pub(crate) method: &'static str,
    pub(crate) user_agent: Option<Text<'a>>,
    pub(crate) client_ip: Option<Text<'a>>,
    /// `human`, `proxied`, `prefetch` or `scanner`.
    pub(crate) verdict: &'static str,
    /// The verdict's `Display` form, e.g. `scanner: HEAD request`: the reason a
    /// report counts it by.
    pub(crate) reason: Text<'a>,
    pub(crate) person: bool,
}

impl<'a> EventRow<'a> {
    /// The rows of `events`, and what they add to the rollups but for the recipients
    /// whose stored rows `known` says they cannot change.
    pub(crate) fn batch(events: &'a [Event], known: &KnownRecipients) -> (Vec<Self>, Batch) {
        let mut fold = Fold::default();
        let rows: Vec<Self> = events.iter().map(Self::new).collect();
        for row in &rows {
            row.add_to(&mut fold);
        }
        (rows, fold.into_batch(Some(known)))
    }

    /// The row of `event`.
    pub(crate) fn new(event: &'a Event) -> Self {
        let token = event.token.as_ref().ok();
        let reason = reason(event.verdict);
        let action = Action::of(event).map(Action::as_str);
        Self {
            kind: event.kind.as_str(),
            action,
            campaign: token.map(|t| t.campaign.as_str()),
            link: token
                .and_then(|t| t.link.as_ref())
                .map(|link| link_text(Some(LinkId::from(link)))),
            recipient: token.and_then(|t| t.recipient.as_deref()),
            issued_at: token.map(|t| seconds(t.issued_at)),
            expired: event.is_expired(),
            key_id: token.map(|t| t.key_id.as_str()),
            rejected: event.token.as_ref().err().map(rejection_reason),
            received_at: seconds(event.received_at),
            method: event.method.as_str(),
            user_agent: event.user_agent.as_deref().map(user_agent),
            client_ip: event.client_ip.map(Text::ip),
            verdict: event.verdict.as_str(),
            reason,
            person: event.verdict.is_person(),
        }
    }

    /// Whether `/unsubscribes` lists the row: an unsubscribe whose token verified
    /// ([`crate::unsubscribes::QUERY`]).
    pub(crate) fn is_listed_unsubscribe(&self) -> bool {
        self.kind == Kind::Unsubscribe.as_str() && self.rejected.is_none()
    }

    /// Adds what the row counts to `fold`: the rollups are computed from the very
    /// rows stored.
    pub(crate) fn add_to(&self, fold: &mut Fold) {
        if let Some(reason) = self.rejected {
            fold.add_rejected(self.kind, reason);
            return;
        }
        let (Some(action), Some(campaign)) = (self.action.and_then(Action::from_name), self.campaign) else {
            return;
        };
        fold.add_record(&Record {
            action,
            campaign,
            link: self.link.as_ref().map(|link| link_id(link.as_str())),
            recipient: self.recipient,
            at: unix(self.received_at),
            since: unix(self.issued_at.unwrap_or_default()),
            person: self.person,
            reason: self.reason.as_str(),
        });
    }
}

/// A user agent as stored: capped in length (the endpoint caps them; an event a host
/// built by hand is capped here), and with any U+0000 (which PostgreSQL's text cannot
/// hold, and no client has reason to send) as U+FFFD, on both backends alike.
fn user_agent(text: &str) -> Text<'_> {
    if text.contains('\0') {
        Text::Owned(stored_user_agent(&text.replace('\0', "\u{FFFD}")).to_owned())
    } else {
        Text::Borrowed(stored_user_agent(text))
    }
}

/// A verdict's `Display` form: a person's, the most common by far, without
/// formatting it.
fn reason(verdict: Verdict) -> Text<'static> {
    match verdict {
        Verdict::Human => Text::Borrowed(Verdict::Human.as_str()),
        other => Text::Owned(other.to_string()),
    }
}

/// One verified conversion as a `conversions` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConversionRow {
    pub(crate) campaign: String,
    pub(crate) link: Option<String>,
    pub(crate) recipient: Option<String>,
    pub(crate) clicked_at: i64,
    pub(crate) converted_at: i64,
    pub(crate) key_id: String,
}

impl ConversionRow {
    /// The row of `conversion`.
    pub(crate) fn new(conversion: &Conversion) -> Self {
        Self {
            campaign: conversion.campaign.clone(),
            link: conversion.link.as_ref().map(ToString::to_string),
            recipient: conversion.recipient.clone(),
            clicked_at: seconds(conversion.clicked_at),
            converted_at: seconds(conversion.converted_at),
            key_id: conversion.key_id.as_str().to_owned(),
        }
    }

    /// What it adds to the rollups.
    pub(crate) fn batch(&self) -> Batch {
        let mut fold = Fold::default();
        fold.add_record(&self.record());
        fold.into_batch(None)
    }

    fn record(&self) -> Record<'_> {
        Record {
            action: Action::Conversion,
            campaign: &self.campaign,
            link: self.link.as_deref().map(link_id),
            recipient: self.recipient.as_deref(),
            at: unix(self.converted_at),
            since: unix(self.clicked_at),
            person: true,
            reason: "conversion",
        }
    }
}

/// A stored link text read back: digits are an index, anything else a label.
pub(crate) fn link_id(text: &str) -> LinkId<'_> {
    text.parse().map_or(LinkId::Label(text), LinkId::Index)
}

/// What a fold reads of an `events` row.
#[derive(Debug)]
pub(crate) struct StoredEvent {
    pub(crate) kind: String,
    pub(crate) action: Option<String>,
    pub(crate) campaign: Option<String>,
    pub(crate) link: Option<String>,
    pub(crate) recipient: Option<String>,
    pub(crate) issued_at: Option<i64>,
    pub(crate) rejected: Option<String>,
    pub(crate) received_at: i64,
    pub(crate) reason: String,
    pub(crate) person: bool,
}

/// Why a stored row cannot be folded: written by a newer version of this crate.
#[derive(Debug, thiserror::Error)]
#[error("stored row names an unknown {what}: {name:?}")]
pub struct UnknownName {
    what: &'static str,
    name: String,
}

impl StoredEvent {
    /// Folds the row into `report`, as [`Report::add`] folded the event.
    pub(crate) fn fold_into(&self, report: &mut Report) -> Result<(), UnknownName> {
        let unknown = |what, name: &str| UnknownName {
            what,
            name: name.to_owned(),
        };
        if let Some(reason) = &self.rejected {
            let kind = Kind::from_name(&self.kind).ok_or_else(|| unknown("kind", &self.kind))?;
            report.add_rejected(kind, reason);
            return Ok(());
        }
        let action = self.action.as_deref().unwrap_or_default();
        let action = Action::from_name(action).ok_or_else(|| unknown("action", action))?;
        report.add_record(&Record {
            action,
            campaign: self.campaign.as_deref().unwrap_or_default(),
            link: self.link.as_deref().map(link_id),
            recipient: self.recipient.as_deref(),
            at: unix(self.received_at),
            since: unix(self.issued_at.unwrap_or_default()),
            person: self.person,
            reason: &self.reason,
        });
        Ok(())
    }
}

impl ConversionRow {
    /// Folds the row into `report`, as [`Report::add_conversion`] folded it.
    pub(crate) fn fold_into(&self, report: &mut Report) {
        report.add_record(&self.record());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persons_reason_reads_as_display_writes_it() {
        assert_eq!(reason(Verdict::Human).as_str(), Verdict::Human.to_string());
    }

    #[test]
    fn link_texts_read_back() {
        assert_eq!(
            link_id(link_text(Some(LinkId::Index(7))).as_str()),
            LinkId::Index(7)
        );
        assert_eq!(
            link_id(link_text(Some(LinkId::Label("cta"))).as_str()),
            LinkId::Label("cta")
        );
    }
}
