//! Rejected requests: counted apart, by purpose and reason.

use std::collections::HashMap;

use super::activity::{add_count, by_count};
use crate::error::VerifyError;
use crate::token::Kind;

/// Requests whose token was rejected: counted apart, never as clicks, opens or
/// unsubscribes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

    pub(super) fn count(&mut self, kind: Kind, reason: &str) {
        match kind {
            Kind::Click => self.clicks += 1,
            Kind::Open => self.opens += 1,
            Kind::Unsubscribe => self.unsubscribes += 1,
        }
        add_count(&mut self.reasons, reason, 1);
    }

    pub(super) fn merge(&mut self, other: Rejected) {
        self.clicks += other.clicks;
        self.opens += other.opens;
        self.unsubscribes += other.unsubscribes;
        for (reason, count) in other.reasons {
            add_count(&mut self.reasons, &reason, count);
        }
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
