//! Trends: figures bucketed by hour or UTC day.

use std::collections::BTreeMap;

use super::activity::{Activity, Split};

/// Seconds in an hour, the finest trend bucket.
pub const HOUR: u64 = 3_600;
/// Seconds in a day.
pub const DAY: u64 = 86_400;

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

/// One bucket of a trend series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

pub(super) fn trend(
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
