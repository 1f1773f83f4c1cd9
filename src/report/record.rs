//! What a report folds: one accepted event as a [`Record`].

use crate::event::Event;
use crate::token::{Kind, LinkId};

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

impl Action {
    /// Every action, for hosts that store an action by name and read it back.
    pub const ALL: [Action; 5] = [
        Action::Click,
        Action::Open,
        Action::ImpliedOpen,
        Action::Conversion,
        Action::Unsubscribe,
    ];

    /// A stable name to store: `"click"`, `"open"`, `"implied open"`, `"conversion"` or
    /// `"unsubscribe"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Click => "click",
            Action::Open => "open",
            Action::ImpliedOpen => "implied open",
            Action::Conversion => "conversion",
            Action::Unsubscribe => "unsubscribe",
        }
    }

    /// What a report counts an event as: its request's kind, an open implied by a
    /// click apart; `None` when its token was rejected (a report counts it by reason
    /// instead). [`Record::from_event`] takes its action from here; a host storing
    /// the action beside an event's own columns needs nothing else of the record.
    pub fn of(event: &Event) -> Option<Self> {
        event.token.as_ref().ok()?;
        Some(match (event.kind, event.implied) {
            (Kind::Click, _) => Action::Click,
            (Kind::Open, false) => Action::Open,
            (Kind::Open, true) => Action::ImpliedOpen,
            (Kind::Unsubscribe, _) => Action::Unsubscribe,
        })
    }

    /// The action of a name [`Action::as_str`] gave; `None` for any other text.
    ///
    /// ```
    /// use hashbeacon::report::Action;
    /// for action in Action::ALL {
    ///     assert_eq!(Action::from_name(action.as_str()), Some(action));
    /// }
    /// assert_eq!(Action::from_name("bounce"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == name)
    }
}

/// One accepted event, as a report sees it: the few facts a host stores per event.
///
/// [`Report::add`](super::Report::add) builds it from an [`Event`]; a host folding rows from its own
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
    /// `reason` is the event's verdict in its `Display` form, which the record borrows.
    pub fn from_event(event: &'a Event, reason: &'a str) -> Option<Self> {
        let token = event.token.as_ref().ok()?;
        let action = Action::of(event)?;
        Some(Self {
            action,
            campaign: &token.campaign,
            link: token.link.as_ref().map(LinkId::from),
            recipient: token.recipient.as_deref(),
            at: event.received_at,
            since: token.issued_at,
            person: event.verdict.is_person(),
            reason,
        })
    }
}
