//! Academic years: named by their first calendar year (2026 = 2026/27) and
//! starting on the tenant's start day, at local midnight in the tenant's zone.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The academic year an instant falls in.
///
/// An instant before the start day of its own local calendar year `Y`
/// belongs to `Y - 1`.
pub fn academic_year_of(at: DateTime<Utc>, tz: Tz, start_month: u32, start_day: u32) -> i32 {
    let local_year = at.with_timezone(&tz).year();
    let (start, _) = bounds(local_year, tz, start_month, start_day);
    if at < start {
        local_year - 1
    } else {
        local_year
    }
}

/// `[start, end)` of academic year `year` as instants.
///
/// A start day the month does not have (30 February) becomes the month's
/// last day, so 29 February starts the year on 28 February in common years.
pub fn bounds(
    year: i32,
    tz: Tz,
    start_month: u32,
    start_day: u32,
) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        year_start(year, tz, start_month, start_day),
        year_start(year + 1, tz, start_month, start_day),
    )
}

/// "2026/27": how people write academic year 2026.
pub fn label(year: i32) -> String {
    format!("{year}/{:02}", (year + 1).rem_euclid(100))
}

/// Local midnight of the start day, or, in the few zones whose clocks skip
/// midnight on that day, the first local time that exists after it.
fn year_start(year: i32, tz: Tz, start_month: u32, start_day: u32) -> DateTime<Utc> {
    let date = start_date(year, start_month, start_day);
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    (0..=24 * 60)
        .find_map(|minutes| {
            tz.from_local_datetime(&(midnight + Duration::minutes(minutes)))
                .earliest()
        })
        .map(|local| local.with_timezone(&Utc))
        // No zone skips a whole day at midnight; fall back to the UTC reading.
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

fn start_date(year: i32, month: u32, day: u32) -> NaiveDate {
    let month = month.clamp(1, 12);
    let first = NaiveDate::from_ymd_opt(year, month, 1).expect("first of month exists");
    let last_day = first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .map(|d| d.day())
        .unwrap_or(31);
    NaiveDate::from_ymd_opt(year, month, day.clamp(1, last_day)).expect("clamped day exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const CHICAGO: Tz = chrono_tz::America::Chicago;

    #[test]
    fn year_starts_at_local_midnight_of_the_start_day() {
        // 1 August 2026 00:00 in Chicago (CDT, UTC-5) is 05:00Z.
        let (start, end) = bounds(2026, CHICAGO, 8, 1);
        assert_eq!(start, utc("2026-08-01T05:00:00Z"));
        assert_eq!(end, utc("2027-08-01T05:00:00Z"));
    }

    #[test]
    fn instants_around_the_boundary_in_a_non_utc_zone() {
        // One second before local midnight: still 2025/26, although UTC says 1 August.
        assert_eq!(
            academic_year_of(utc("2026-08-01T04:59:59Z"), CHICAGO, 8, 1),
            2025
        );
        assert_eq!(
            academic_year_of(utc("2026-08-01T05:00:00Z"), CHICAGO, 8, 1),
            2026
        );
        // East of UTC the local day starts earlier than the UTC one.
        let tokyo = chrono_tz::Asia::Tokyo;
        assert_eq!(
            academic_year_of(utc("2026-03-31T14:59:59Z"), tokyo, 4, 1),
            2025
        );
        assert_eq!(
            academic_year_of(utc("2026-03-31T15:00:00Z"), tokyo, 4, 1),
            2026
        );
    }

    #[test]
    fn start_of_january_year_is_the_calendar_year() {
        assert_eq!(
            academic_year_of(utc("2026-01-01T00:00:00Z"), Tz::UTC, 1, 1),
            2026
        );
        assert_eq!(
            academic_year_of(utc("2025-12-31T23:59:59Z"), Tz::UTC, 1, 1),
            2025
        );
    }

    #[test]
    fn late_in_the_calendar_year_belongs_to_the_year_named_by_it() {
        assert_eq!(
            academic_year_of(utc("2026-12-15T12:00:00Z"), CHICAGO, 8, 1),
            2026
        );
        assert_eq!(
            academic_year_of(utc("2027-07-31T12:00:00Z"), CHICAGO, 8, 1),
            2026
        );
    }

    #[test]
    fn the_year_covers_exactly_its_bounds() {
        let london = chrono_tz::Europe::London;
        let (start, end) = bounds(2026, london, 9, 1);
        assert_eq!(academic_year_of(start, london, 9, 1), 2026);
        assert_eq!(
            academic_year_of(end - Duration::seconds(1), london, 9, 1),
            2026
        );
        assert_eq!(academic_year_of(end, london, 9, 1), 2027);
        // BST on 1 September: midnight is 23:00Z the day before.
        assert_eq!(start, utc("2026-08-31T23:00:00Z"));
    }

    #[test]
    fn a_skipped_midnight_starts_the_year_when_the_clocks_resume() {
        // Santiago moved its clocks from 00:00 to 01:00 on 6 September 2026.
        let santiago = chrono_tz::America::Santiago;
        let (start, _) = bounds(2026, santiago, 9, 6);
        assert_eq!(
            start.with_timezone(&santiago).format("%H:%M").to_string(),
            "01:00"
        );
        assert_eq!(academic_year_of(start, santiago, 9, 6), 2026);
    }

    #[test]
    fn impossible_start_days_use_the_last_day_of_the_month() {
        let (start, _) = bounds(2027, Tz::UTC, 2, 29);
        assert_eq!(start, utc("2027-02-28T00:00:00Z"));
        let (start, _) = bounds(2028, Tz::UTC, 2, 29);
        assert_eq!(start, utc("2028-02-29T00:00:00Z"));
        let (start, _) = bounds(2026, Tz::UTC, 13, 0);
        assert_eq!(start, utc("2026-12-01T00:00:00Z"));
    }

    #[test]
    fn labels_read_as_people_write_them() {
        assert_eq!(label(2026), "2026/27");
        assert_eq!(label(2099), "2099/00");
    }
}
