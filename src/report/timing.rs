//! Time to first action, counted in fixed buckets.

use super::trend::{DAY, HOUR};
use crate::StaticStr;

/// One bucket of the time-to-first distribution: up to, not including, `below`
/// seconds after the previous bucket's bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TimeBucket {
    /// A short label, e.g. `"1–5 min"`.
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::serde_static::time_bucket_label")
    )]
    pub label: StaticStr,
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

    pub(super) fn count(&mut self, seconds: u64) {
        let bucket = TIME_BUCKETS
            .iter()
            .position(|bucket| bucket.below.is_none_or(|below| seconds < below));
        if let Some(slot) = bucket.and_then(|at| self.counts.get_mut(at)) {
            *slot += 1;
        }
    }
}
