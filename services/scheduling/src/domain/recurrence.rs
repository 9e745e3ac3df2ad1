//! Local times and recurrence. People type local wall-clock times in the
//! event's zone; series follow RFC 5545 RRULEs expanded in that zone, so a
//! 16:00 monthly meeting stays at 16:00 across daylight-saving changes.
//!
//! Expansion is done by the `rrule` crate on a `DTSTART` that carries the
//! event's zone, which is what keeps the wall-clock time fixed while the UTC
//! offset changes. A series here is deliberately narrower than RFC 5545
//! allows: it repeats at most daily, must end, never moves the start time
//! (no BYHOUR/BYMINUTE/BYSECOND) and its first occurrence is its start, so
//! that every calendar client expands the published rule the same way.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use platform::error::{Error, Result, Violations};
use rrule::{Frequency, RRule, Unvalidated};

/// Most occurrences a series may have.
pub const MAX_OCCURRENCES: usize = 200;

/// Longest rule text accepted (also checked by `validate::event`).
pub const MAX_RRULE_LEN: usize = 500;

/// Parses a local date-time ("2026-10-14T16:00", seconds optional) in `tz`.
/// A time that does not exist (skipped by a DST change) is refused naming
/// `field`; an ambiguous one (repeated hour) takes the earlier instant.
pub fn parse_local(field: &str, value: &str, tz: Tz) -> Result<DateTime<Utc>> {
    let local = parse_naive(field, value)?;
    resolve_local(field, local, tz)
}

/// Parses `value` as local wall-clock time without a zone.
pub fn parse_naive(field: &str, value: &str) -> Result<NaiveDateTime> {
    let value = value.trim();
    let bad = || {
        Error::invalid(
            field,
            format!("expected a local date and time such as 2026-10-14T16:00, got \"{value}\""),
        )
    };
    // chrono alone would also take one-digit months, signs and leap seconds.
    let shape_ok = matches!(value.len(), 16 | 19)
        && value.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(bad());
    }
    let format = if value.len() == 16 {
        "%Y-%m-%dT%H:%M"
    } else {
        "%Y-%m-%dT%H:%M:%S"
    };
    NaiveDateTime::parse_from_str(value, format)
        .ok()
        .filter(|t| t.and_utc().timestamp_subsec_nanos() < 1_000_000_000)
        .ok_or_else(bad)
}

/// The instant a local wall-clock time in `tz` stands for: the earlier one
/// when the hour repeats, an error naming `field` when the clocks skip it.
pub fn resolve_local(field: &str, local: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, _) => Ok(earlier.with_timezone(&Utc)),
        LocalResult::None => Err(Error::invalid(
            field,
            format!(
                "{} does not exist in {}: the clocks skip that time on {} (daylight-saving change)",
                format_local(local),
                tz.name(),
                local.date().format("%Y-%m-%d"),
            ),
        )),
    }
}

/// Local wall-clock time as people type it ("2026-10-14T16:00"; seconds only
/// when there are any), the inverse of [`parse_naive`].
pub fn format_local(local: NaiveDateTime) -> String {
    if local.format("%S").to_string() == "00" {
        local.format("%Y-%m-%dT%H:%M").to_string()
    } else {
        local.format("%Y-%m-%dT%H:%M:%S").to_string()
    }
}

/// The local wall-clock time of `at` in `tz`.
pub fn to_local(at: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    at.with_timezone(&tz).naive_local()
}

/// The rule as it is stored and published: no `RRULE:` prefix, upper case,
/// and a local `UNTIL` (what people type: `UNTIL=20270630`) turned into the
/// UTC form RFC 5545 requires next to a zoned DTSTART. A date-only `UNTIL`
/// includes that whole local day. Errors name the field `rrule`.
pub fn normalize_rrule(rrule: &str, tz: Tz) -> Result<String> {
    let text = rrule.trim();
    let text = match text.get(..6) {
        Some(prefix) if prefix.eq_ignore_ascii_case("RRULE:") => &text[6..],
        _ => text,
    };
    if text.is_empty() {
        return Err(Error::invalid("rrule", "must not be empty"));
    }
    if text.len() > MAX_RRULE_LEN {
        return Err(Error::invalid(
            "rrule",
            format!("must be at most {MAX_RRULE_LEN} characters"),
        ));
    }
    if text.contains(|c: char| c.is_control() || c == ':' || c.is_whitespace()) {
        return Err(Error::invalid(
            "rrule",
            "expected one rule such as FREQ=MONTHLY;BYDAY=2WE;COUNT=8",
        ));
    }
    let mut parts = Vec::new();
    for part in text.split(';').filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(Error::invalid(
                "rrule",
                format!("\"{part}\" is not a NAME=VALUE part"),
            ));
        };
        let key = key.to_ascii_uppercase();
        let value = value.to_ascii_uppercase();
        if key == "UNTIL" && !value.ends_with('Z') {
            let until = local_until(&value, tz)?;
            parts.push(format!("UNTIL={}", until.format("%Y%m%dT%H%M%SZ")));
        } else {
            parts.push(format!("{key}={value}"));
        }
    }
    Ok(parts.join(";"))
}

fn local_until(value: &str, tz: Tz) -> Result<DateTime<Utc>> {
    let bad = || {
        Error::invalid(
            "rrule",
            format!("UNTIL must be a date (20270630) or date-time (20270630T160000), got {value}"),
        )
    };
    let local = if value.len() == 8 {
        let date = NaiveDate::parse_from_str(value, "%Y%m%d").map_err(|_| bad())?;
        date.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("valid time"))
    } else {
        NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S").map_err(|_| bad())?
    };
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        // The later reading keeps an occurrence in the repeated hour inside.
        LocalResult::Ambiguous(_, later) => Ok(later.with_timezone(&Utc)),
        LocalResult::None => Err(Error::invalid(
            "rrule",
            format!(
                "UNTIL {value} does not exist in {}: the clocks skip that time",
                tz.name()
            ),
        )),
    }
}

/// The starts of every occurrence of `rrule` from `dtstart` (local, in `tz`),
/// leaving out `exdates` (local). The rule must end (COUNT or UNTIL) and yield
/// at most [`MAX_OCCURRENCES`]; errors name the field `rrule`.
///
/// Further rules, each refused naming `rrule`: the rule repeats at most
/// daily, keeps the start time (no BYHOUR/BYMINUTE/BYSECOND) and its first
/// occurrence is `dtstart` itself (RFC 5545 counts DTSTART as an occurrence
/// even when the rule does not match it; many libraries do not, so a start
/// the rule does not produce is refused rather than rendered two ways).
/// An exdate that matches no occurrence is refused naming
/// `exdates_local[i]`; leaving out every occurrence names `exdates_local`.
pub fn expand(
    rrule: &str,
    dtstart: NaiveDateTime,
    tz: Tz,
    exdates: &[NaiveDateTime],
) -> Result<Vec<DateTime<Utc>>> {
    let occurrences = occurrences(rrule, dtstart, tz)?;

    let mut violations = Violations::new();
    let mut excluded = vec![false; occurrences.len()];
    for (i, exdate) in exdates.iter().enumerate() {
        let instant = resolve_local("exdates_local", *exdate, tz).ok();
        let hit = occurrences
            .iter()
            .position(|o| to_local(*o, tz) == *exdate || Some(*o) == instant);
        match hit {
            Some(index) => excluded[index] = true,
            None => violations.add(
                format!("exdates_local[{i}]"),
                format!(
                    "{} is not an occurrence of the series",
                    format_local(*exdate)
                ),
            ),
        }
    }
    violations.finish()?;

    let kept: Vec<DateTime<Utc>> = occurrences
        .into_iter()
        .zip(excluded)
        .filter_map(|(o, out)| (!out).then_some(o))
        .collect();
    if kept.is_empty() {
        return Err(Error::invalid(
            "exdates_local",
            "leaves out every occurrence of the series",
        ));
    }
    Ok(kept)
}

/// Every start the rule yields from `dtstart`, before exdates are applied.
fn occurrences(rrule: &str, dtstart: NaiveDateTime, tz: Tz) -> Result<Vec<DateTime<Utc>>> {
    let text = normalize_rrule(rrule, tz)?;
    let rule: RRule<Unvalidated> = text
        .parse()
        .map_err(|e| Error::invalid("rrule", format!("not a valid recurrence rule: {e}")))?;

    if matches!(
        rule.get_freq(),
        Frequency::Hourly | Frequency::Minutely | Frequency::Secondly
    ) {
        return Err(Error::invalid(
            "rrule",
            "an event series repeats at most daily: FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY",
        ));
    }
    if !rule.get_by_hour().is_empty()
        || !rule.get_by_minute().is_empty()
        || !rule.get_by_second().is_empty()
    {
        return Err(Error::invalid(
            "rrule",
            "every occurrence starts at the series' start time: BYHOUR, BYMINUTE and BYSECOND are not supported",
        ));
    }
    match (rule.get_count(), rule.get_until()) {
        (None, None) => return Err(Error::invalid("rrule", "a series needs COUNT or UNTIL")),
        (Some(count), _) if count as usize > MAX_OCCURRENCES => return Err(too_many()),
        (Some(0), _) => return Err(Error::invalid("rrule", "COUNT must be at least 1")),
        _ => {}
    }

    let start = resolve_local("starts_local", dtstart, tz)?;
    let set = rule
        .build(start.with_timezone(&rrule::Tz::Tz(tz)))
        .map_err(|e| Error::invalid("rrule", format!("not a valid recurrence rule: {e}")))?;
    let result = set.all(MAX_OCCURRENCES as u16 + 1);
    if result.dates.len() > MAX_OCCURRENCES {
        return Err(too_many());
    }
    let dates: Vec<DateTime<Utc>> = result.dates.iter().map(|d| d.with_timezone(&Utc)).collect();
    match dates.first() {
        None if result.limited => Err(Error::invalid(
            "rrule",
            "the rule finds no dates within a reasonable search; check BYMONTH/BYMONTHDAY",
        )),
        None => Err(Error::invalid("rrule", "the rule yields no occurrences")),
        Some(first) if *first != start => Err(Error::invalid(
            "rrule",
            format!(
                "the series must start on a date the rule produces: {} is not one of them (the first is {})",
                format_local(dtstart),
                format_local(to_local(*first, tz)),
            ),
        )),
        Some(_) => Ok(dates),
    }
}

fn too_many() -> Error {
    Error::invalid(
        "rrule",
        format!("a series may have at most {MAX_OCCURRENCES} occurrences"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::Chicago;
    use chrono_tz::Europe::London;

    fn naive(s: &str) -> NaiveDateTime {
        parse_naive("t", s).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn violation(r: Result<impl std::fmt::Debug>) -> (String, String) {
        let err = r.unwrap_err();
        let v = err.violations();
        assert_eq!(v.len(), 1, "{v:?}");
        (v[0].field.clone(), v[0].description.clone())
    }

    #[test]
    fn parses_minutes_and_seconds() {
        assert_eq!(
            parse_local("starts_local", "2026-10-14T16:00", Chicago).unwrap(),
            utc("2026-10-14T21:00:00Z")
        );
        assert_eq!(
            parse_local("starts_local", "2026-12-14T16:00:30", Chicago).unwrap(),
            utc("2026-12-14T22:00:30Z")
        );
        assert_eq!(
            parse_naive("x", " 2026-10-14T16:00 ").unwrap(),
            naive("2026-10-14T16:00:00")
        );
    }

    #[test]
    fn refuses_other_shapes_naming_the_field() {
        for bad in [
            "",
            "2026-10-14",
            "2026-10-14 16:00",
            "2026-1-14T16:00",
            "2026-10-14T16:00Z",
            "2026-10-14T16:00+02:00",
            "2026-13-14T16:00",
            "2026-02-30T16:00",
            "2026-10-14T24:00",
            "2026-10-14T16:00:60",
            "+2026-10-14T16:00",
        ] {
            let (field, message) = violation(parse_naive("ends_local", bad));
            assert_eq!(field, "ends_local", "{bad}");
            assert!(message.contains("2026-10-14T16:00"), "{message}");
        }
    }

    #[test]
    fn a_skipped_local_time_is_refused_with_the_zone_and_date() {
        let (field, message) = violation(parse_local("starts_local", "2027-03-14T02:30", Chicago));
        assert_eq!(field, "starts_local");
        assert!(message.contains("does not exist"), "{message}");
        assert!(message.contains("America/Chicago"), "{message}");
        assert!(message.contains("2027-03-14"), "{message}");
    }

    #[test]
    fn a_repeated_local_time_takes_the_earlier_instant() {
        // 01:30 happens twice on 1 November 2026 in Chicago: CDT first.
        assert_eq!(
            parse_local("starts_local", "2026-11-01T01:30", Chicago).unwrap(),
            utc("2026-11-01T06:30:00Z")
        );
    }

    #[test]
    fn format_local_round_trips() {
        assert_eq!(
            format_local(naive("2026-10-14T16:00:00")),
            "2026-10-14T16:00"
        );
        assert_eq!(
            format_local(naive("2026-10-14T16:00:05")),
            "2026-10-14T16:00:05"
        );
    }

    #[test]
    fn weekly_in_chicago_keeps_16_00_across_the_november_change() {
        let got = expand(
            "FREQ=WEEKLY;COUNT=4",
            naive("2026-10-21T16:00"),
            Chicago,
            &[],
        )
        .unwrap();
        assert_eq!(
            got,
            [
                utc("2026-10-21T21:00:00Z"),
                utc("2026-10-28T21:00:00Z"),
                utc("2026-11-04T22:00:00Z"),
                utc("2026-11-11T22:00:00Z"),
            ]
        );
        for o in got {
            assert_eq!(to_local(o, Chicago).format("%H:%M").to_string(), "16:00");
        }
    }

    #[test]
    fn monthly_in_chicago_keeps_16_00_across_both_changes() {
        // Second Wednesday, October 2026 to April 2027: CDT, CST, then CDT again.
        let got = expand(
            "RRULE:FREQ=MONTHLY;BYDAY=2WE;COUNT=7",
            naive("2026-10-14T16:00"),
            Chicago,
            &[],
        )
        .unwrap();
        let local: Vec<String> = got
            .iter()
            .map(|o| to_local(*o, Chicago).format("%Y-%m-%d %H:%M").to_string())
            .collect();
        assert_eq!(
            local,
            [
                "2026-10-14 16:00",
                "2026-11-11 16:00",
                "2026-12-09 16:00",
                "2027-01-13 16:00",
                "2027-02-10 16:00",
                "2027-03-10 16:00",
                "2027-04-14 16:00",
            ]
        );
        assert_eq!(got[0], utc("2026-10-14T21:00:00Z"));
        assert_eq!(got[1], utc("2026-11-11T22:00:00Z"));
        assert_eq!(got[4], utc("2027-02-10T22:00:00Z"));
        // 14 March 2027 is the spring change: the 10 March meeting is still CST.
        assert_eq!(got[5], utc("2027-03-10T22:00:00Z"));
        assert_eq!(got[6], utc("2027-04-14T21:00:00Z"));
    }

    #[test]
    fn weekly_in_chicago_across_the_march_change() {
        let got = expand(
            "FREQ=WEEKLY;COUNT=3",
            naive("2027-03-07T16:00"),
            Chicago,
            &[],
        )
        .unwrap();
        assert_eq!(
            got,
            [
                utc("2027-03-07T22:00:00Z"),
                utc("2027-03-14T21:00:00Z"),
                utc("2027-03-21T21:00:00Z"),
            ]
        );
    }

    #[test]
    fn london_keeps_local_time_across_late_october() {
        // BST ends on 25 October 2026.
        let got = expand(
            "FREQ=WEEKLY;UNTIL=20261101T235959Z",
            naive("2026-10-18T16:00"),
            London,
            &[],
        )
        .unwrap();
        assert_eq!(
            got,
            [
                utc("2026-10-18T15:00:00Z"),
                utc("2026-10-25T16:00:00Z"),
                utc("2026-11-01T16:00:00Z"),
            ]
        );
    }

    #[test]
    fn a_local_until_date_includes_that_day() {
        let got = expand(
            "FREQ=DAILY;UNTIL=20261103",
            naive("2026-11-01T16:00"),
            Chicago,
            &[],
        )
        .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(
            normalize_rrule("rrule:freq=daily;until=20261103", Chicago).unwrap(),
            // 23:59:59 CST is 05:59:59 UTC the next day.
            "FREQ=DAILY;UNTIL=20261104T055959Z"
        );
        assert_eq!(
            normalize_rrule("FREQ=DAILY;UNTIL=20261103T160000;", Chicago).unwrap(),
            "FREQ=DAILY;UNTIL=20261103T220000Z"
        );
        assert_eq!(
            normalize_rrule("FREQ=DAILY;UNTIL=20261103T220000Z", Chicago).unwrap(),
            "FREQ=DAILY;UNTIL=20261103T220000Z"
        );
    }

    #[test]
    fn exdates_leave_out_matching_occurrences() {
        let got = expand(
            "FREQ=WEEKLY;COUNT=4",
            naive("2026-10-21T16:00"),
            Chicago,
            &[naive("2026-10-28T16:00"), naive("2026-11-11T16:00")],
        )
        .unwrap();
        assert_eq!(
            got,
            [utc("2026-10-21T21:00:00Z"), utc("2026-11-04T22:00:00Z")]
        );
    }

    #[test]
    fn an_exdate_matching_nothing_is_refused_by_index() {
        let err = expand(
            "FREQ=WEEKLY;COUNT=4",
            naive("2026-10-21T16:00"),
            Chicago,
            &[
                naive("2026-10-28T16:00"),
                naive("2026-10-29T16:00"),
                naive("2026-11-04T17:00"),
            ],
        )
        .unwrap_err();
        let fields: Vec<&str> = err.violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["exdates_local[1]", "exdates_local[2]"]);
        assert!(err.violations()[0].description.contains("2026-10-29T16:00"));
    }

    #[test]
    fn leaving_out_everything_is_refused() {
        let (field, _) = violation(expand(
            "FREQ=DAILY;COUNT=1",
            naive("2026-10-21T16:00"),
            Chicago,
            &[naive("2026-10-21T16:00")],
        ));
        assert_eq!(field, "exdates_local");
    }

    #[test]
    fn a_series_must_end() {
        let (field, message) = violation(expand(
            "FREQ=WEEKLY",
            naive("2026-10-21T16:00"),
            Chicago,
            &[],
        ));
        assert_eq!(field, "rrule");
        assert_eq!(message, "a series needs COUNT or UNTIL");
    }

    #[test]
    fn too_many_occurrences_are_refused() {
        let (field, message) = violation(expand(
            "FREQ=DAILY;COUNT=201",
            naive("2026-10-21T16:00"),
            Chicago,
            &[],
        ));
        assert_eq!(field, "rrule");
        assert!(message.contains("200"), "{message}");
        // The same through UNTIL.
        let (field, _) = violation(expand(
            "FREQ=DAILY;UNTIL=20280101T000000Z",
            naive("2026-10-21T16:00"),
            Chicago,
            &[],
        ));
        assert_eq!(field, "rrule");
        // Exactly the maximum is fine.
        let got = expand(
            "FREQ=DAILY;COUNT=200",
            naive("2026-10-21T16:00"),
            Chicago,
            &[],
        )
        .unwrap();
        assert_eq!(got.len(), MAX_OCCURRENCES);
    }

    #[test]
    fn sub_daily_frequencies_are_refused() {
        for rule in [
            "FREQ=HOURLY;COUNT=3",
            "FREQ=MINUTELY;COUNT=3",
            "FREQ=SECONDLY;COUNT=3",
        ] {
            let (field, message) = violation(expand(rule, naive("2026-10-21T16:00"), Chicago, &[]));
            assert_eq!(field, "rrule");
            assert!(message.contains("at most daily"), "{message}");
        }
    }

    #[test]
    fn time_moving_parts_are_refused() {
        let (field, message) = violation(expand(
            "FREQ=DAILY;BYHOUR=9,14;COUNT=4",
            naive("2026-10-21T16:00"),
            Chicago,
            &[],
        ));
        assert_eq!(field, "rrule");
        assert!(message.contains("BYHOUR"), "{message}");
    }

    #[test]
    fn the_start_must_be_an_occurrence_of_the_rule() {
        // 21 October 2026 is a Wednesday; the rule wants Mondays.
        let (field, message) = violation(expand(
            "FREQ=WEEKLY;BYDAY=MO;COUNT=3",
            naive("2026-10-21T16:00"),
            Chicago,
            &[],
        ));
        assert_eq!(field, "rrule");
        assert!(message.contains("2026-10-26T16:00"), "{message}");
    }

    #[test]
    fn garbage_rules_are_refused_naming_rrule() {
        for rule in [
            "",
            "RRULE:",
            "FREQ=FORTNIGHTLY;COUNT=2",
            "COUNT=2",
            "FREQ=WEEKLY;COUNT=two",
            "FREQ=WEEKLY;COUNT=2\nRRULE:FREQ=DAILY;COUNT=2",
            "DTSTART:20261021T160000\nFREQ=DAILY",
            "FREQ=WEEKLY;COUNT",
            "FREQ=WEEKLY;COUNT=0",
            "FREQ=WEEKLY;UNTIL=20260101T000000Z",
            "FREQ=WEEKLY;UNTIL=2026",
        ] {
            let (field, _) = violation(expand(rule, naive("2026-10-21T16:00"), Chicago, &[]));
            assert_eq!(field, "rrule", "{rule:?}");
        }
        let long = format!("FREQ=WEEKLY;COUNT=2;{}", "BYMONTH=1;".repeat(60));
        let (field, _) = violation(expand(&long, naive("2026-10-21T16:00"), Chicago, &[]));
        assert_eq!(field, "rrule");
    }

    #[test]
    fn a_start_in_the_spring_gap_names_starts_local() {
        let (field, _) = violation(expand(
            "FREQ=DAILY;COUNT=2",
            naive("2027-03-14T02:30"),
            Chicago,
            &[],
        ));
        assert_eq!(field, "starts_local");
    }
}
