//! The hourly trend as stored: one `rollup_days` row per campaign, scope, action,
//! UTC day and human/machine side, with a count column per hour of that day (`h0` …
//! `h23`).
//!
//! Reading a campaign's trend then costs a row per day (some 800 for 30 days and
//! 10 links), as many at ten thousand events as at ten million; a row per hour grew
//! with the events until every hour had some (18,720). The writer adds to every
//! hour column of a row in one upsert, so writers on several nodes still add up.

use std::sync::LazyLock;

use hashbeacon::report::Granularity;

use crate::rollup::KeyText;

/// Hours in a UTC day: the count columns of a day row.
pub(crate) const HOURS: usize = 24;

/// Counts per hour of one day, hour 0 first.
pub(crate) type Hours = [i64; HOURS];

/// The key of a day row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct DayKey {
    pub(crate) campaign: KeyText,
    pub(crate) scope: KeyText,
    pub(crate) action: &'static str,
    /// The day's start, unix seconds.
    pub(crate) day: i64,
    pub(crate) person: bool,
}

/// The start of the UTC day holding `at`, and the hour of that day.
pub(crate) fn day_and_hour(at: u64) -> (u64, usize) {
    let day = Granularity::Day.bucket(at);
    let hour = (at - day) / Granularity::Hour.seconds();
    (day, usize::try_from(hour).unwrap_or_default())
}

/// The start of hour `hour` of the day starting at `day`.
pub(crate) fn hour_start(day: u64, hour: usize) -> u64 {
    day.saturating_add(Granularity::Hour.seconds() * hour as u64)
}

/// `h0, h1, …, h23`.
static COLUMNS: LazyLock<String> = LazyLock::new(|| hour_list(|hour| format!("h{hour}")));

/// The hour columns joined by commas, each written by `column`.
pub(crate) fn hour_list(column: impl Fn(usize) -> String) -> String {
    (0..HOURS).map(column).collect::<Vec<_>>().join(", ")
}

/// The upsert of day rows whose values `rows` yields (a `VALUES` list or a
/// `SELECT`) in the order key columns, then hours: every hour adds to the stored
/// one.
pub(crate) fn upsert(rows: &str) -> String {
    format!(
        "INSERT INTO rollup_days (campaign, scope, action, day, person, {columns}) {rows}
         ON CONFLICT (campaign, scope, action, day, person) DO UPDATE SET {add}",
        columns = *COLUMNS,
        add = hour_list(|hour| format!("h{hour} = rollup_days.h{hour} + excluded.h{hour}")),
    )
}

/// The query of a campaign's day rows, the campaign bound to `parameter`: key
/// columns `scope, action, day, person`, then the hours from column
/// [`FIRST_HOUR`] on.
///
/// In scope and action order, so that the rows of one scope and action come
/// together and are folded as one run: a PostgreSQL table returns its rows in the
/// order they were last written, and a run per row cost a quarter more
/// instructions. SQLite reads them in that order from the primary key anyway.
pub(crate) fn select(parameter: &str) -> String {
    format!(
        "SELECT scope, action, day, person, {columns} FROM rollup_days WHERE campaign = {parameter}
         ORDER BY scope, action",
        columns = *COLUMNS,
    )
}

/// The column of hour 0 in [`select`]'s rows (the campaign is not selected).
pub(crate) const FIRST_HOUR: usize = KEY_COLUMNS - 1;

/// `n` placeholders of a statement's parameters, numbered from 1, each written by
/// `placeholder`: SQLite's `?1`, PostgreSQL's `$1::text[]`, …
pub(crate) fn placeholders(n: usize, placeholder: impl Fn(usize) -> String) -> String {
    (1..=n).map(placeholder).collect::<Vec<_>>().join(", ")
}

/// The key columns of a day row: campaign, scope, action, day, person.
const KEY_COLUMNS: usize = 5;

/// Key and hour columns of a day row: the parameters of one row of [`upsert`].
pub(crate) const COLUMN_COUNT: usize = KEY_COLUMNS + HOURS;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_day_and_its_hour_give_back_the_hour(at in any::<u64>()) {
            let (day, hour) = day_and_hour(at);
            prop_assert!(hour < HOURS);
            prop_assert_eq!(day % 86_400, 0);
            prop_assert_eq!(hour_start(day, hour), Granularity::Hour.bucket(at));
        }
    }

    #[test]
    fn every_hour_is_added_to_the_stored_one() {
        let sql = upsert("VALUES (1)");
        for hour in 0..HOURS {
            assert!(sql.contains(&format!("h{hour} = rollup_days.h{hour} + excluded.h{hour}")));
        }
        assert!(!sql.contains("h24"));
        assert_eq!(select("?1").matches(", h").count(), HOURS);
    }
}
