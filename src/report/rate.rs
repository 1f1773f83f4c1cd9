//! Rates: ratios kept as their two counts.

use std::fmt;

use super::activity::Activity;

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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// Unique converters per unique human clicker.
pub(super) fn conversion_rate(clicks: &Activity, conversions: &Activity) -> Rate {
    Rate {
        numerator: conversions.unique(),
        denominator: clicks.unique_human(),
    }
}
