//! Preferences: defaults, quiet hours, digests. Decides *when* a message
//! goes out on a channel; critical categories bypass digests and quiet hours.
//!
//! All wall-clock rules (digest time, quiet hours) are read in the person's
//! IANA zone and turned into UTC instants here, so the delivery worker only
//! compares instants. Local times that a DST change skips or repeats are
//! resolved the same way everywhere (see [`local_instants`]).

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;
use uuid::Uuid;

use super::{Category, Channel, Frequency, Preferences};

/// What to do with one message on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Deliver now.
    Now,
    /// Hold until this instant (end of quiet hours, or a single deferred send).
    At(DateTime<Utc>),
    /// Collect into the digest that goes out at this instant.
    Digest(DateTime<Utc>),
    /// The person turned this category off for this channel.
    Off,
}

/// Local time of day of digests for a person who never chose one.
pub const DEFAULT_DIGEST_TIME: NaiveTime = match NaiveTime::from_hms_opt(8, 0, 0) {
    Some(t) => t,
    None => panic!("08:00 is a time"),
};

/// ISO weekday (Monday) of weekly digests for a person who never chose one.
pub const DEFAULT_DIGEST_WEEKDAY: u32 = 1;

/// The settings of a person who has not saved any: no entries (so every
/// category and channel has its default [`frequency`]), digests at 08:00 on
/// Mondays, their zone from membership (or the tenant's), no quiet hours.
pub fn defaults(person_id: Uuid) -> Preferences {
    Preferences {
        person_id,
        entries: vec![],
        digest_time: DEFAULT_DIGEST_TIME,
        digest_weekday: DEFAULT_DIGEST_WEEKDAY,
        time_zone: None,
        quiet_hours: None,
    }
}

/// The default frequency of a category on a channel (see [`frequency`]).
pub fn default_frequency(category: Category, channel: Channel) -> Frequency {
    match (channel, category) {
        (Channel::InApp, _) => Frequency::Immediately,
        (
            Channel::Email,
            Category::Invitations | Category::Changes | Category::Reminders | Category::Account,
        ) => Frequency::Immediately,
        (Channel::Email, Category::Scoring | Category::Compliance) => Frequency::Daily,
        (Channel::Email, Category::Newsletters) => Frequency::Weekly,
    }
}

/// The frequency in force: the person's entry, else the default
/// (in-app: immediately for every category; e-mail: immediately for
/// invitations, changes, reminders and account; daily for scoring and
/// compliance; weekly for newsletters).
pub fn frequency(prefs: Option<&Preferences>, category: Category, channel: Channel) -> Frequency {
    prefs
        .and_then(|p| {
            p.entries
                .iter()
                .find(|(c, ch, _)| *c == category && *ch == channel)
                .map(|(_, _, f)| *f)
        })
        .unwrap_or_else(|| default_frequency(category, channel))
}

/// The zone a person's wall-clock rules are read in: their own choice in
/// preferences, else their zone in membership, else the tenant's. A zone
/// that does not parse (stored before validation, or renamed in a tz
/// update) is skipped rather than failing a delivery.
pub fn zone(prefs: Option<&Preferences>, recipient_zone: Option<&str>, tenant_zone: Tz) -> Tz {
    prefs
        .and_then(|p| p.time_zone.as_deref())
        .into_iter()
        .chain(recipient_zone)
        .find_map(|z| z.parse::<Tz>().ok())
        .unwrap_or(tenant_zone)
}

/// When a message of `category` reaches the person on `channel`, given now,
/// their zone, quiet hours (e-mail only; in-app is never held) and digest
/// time/weekday. `critical` (e.g. tomorrow's meeting cancelled) means Now
/// on every channel that is not Off — and even an Off e-mail for critical
/// changes stays off: the person chose so.
///
/// A digest goes out at its time whether or not that falls inside quiet
/// hours: the person chose both.
pub fn timing(
    prefs: Option<&Preferences>,
    category: Category,
    channel: Channel,
    critical: bool,
    now: DateTime<Utc>,
    zone: Tz,
) -> Timing {
    let freq = frequency(prefs, category, channel);
    if freq == Frequency::Off {
        return Timing::Off;
    }
    if channel == Channel::InApp || critical {
        return Timing::Now;
    }
    let digest_time = prefs.map_or(DEFAULT_DIGEST_TIME, |p| p.digest_time);
    match freq {
        Frequency::Off => Timing::Off,
        Frequency::Immediately => match prefs.and_then(|p| p.quiet_hours) {
            Some((start, end)) if in_quiet_hours(local_time(now, zone), start, end) => {
                Timing::At(next_local(now, zone, end, |_| true, Occurrence::Any))
            }
            _ => Timing::Now,
        },
        Frequency::Daily => Timing::Digest(next_local(
            now,
            zone,
            digest_time,
            |_| true,
            Occurrence::FirstOfDay,
        )),
        Frequency::Weekly => {
            let weekday = iso_weekday(prefs.map_or(DEFAULT_DIGEST_WEEKDAY, |p| p.digest_weekday));
            Timing::Digest(next_local(
                now,
                zone,
                digest_time,
                |d| d.weekday() == weekday,
                Occurrence::FirstOfDay,
            ))
        }
    }
}

/// Whether a local time falls inside quiet hours `[start, end)` (which may
/// wrap past midnight, e.g. 22:00–07:00). Equal start and end mean no quiet
/// hours at all (validation refuses them; a stored pair is harmless).
pub fn in_quiet_hours(local: NaiveTime, start: NaiveTime, end: NaiveTime) -> bool {
    if start < end {
        start <= local && local < end
    } else if start > end {
        local >= start || local < end
    } else {
        false
    }
}

/// The instants at which the local wall clock of `zone` shows `time` on
/// `date`, earliest first:
///
/// * one, on an ordinary day;
/// * two, when the time is repeated as clocks go back (01:30 on the night
///   summer time ends);
/// * one, the first valid instant after it, when clocks going forward skip
///   the time (01:30 in London on the night summer time starts becomes
///   02:00 BST, the moment the gap ends).
pub fn local_instants(zone: Tz, date: NaiveDate, time: NaiveTime) -> Vec<DateTime<Utc>> {
    let wanted = date.and_time(time);
    match zone.from_local_datetime(&wanted) {
        LocalResult::Single(t) => vec![t.with_timezone(&Utc)],
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            vec![a.min(b), a.max(b)]
        }
        LocalResult::None => {
            // Gaps are whole minutes and never longer than a day (Samoa,
            // 2011), so the first local minute that exists again is the end
            // of the gap. Start from the whole minute after `wanted`.
            let mut probe = wanted
                .with_second(0)
                .and_then(|p| p.with_nanosecond(0))
                .unwrap_or(wanted);
            for _ in 0..=(26 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = zone.from_local_datetime(&probe).earliest() {
                    return vec![t.with_timezone(&Utc)];
                }
            }
            // Unreachable with real tz data; the naive time read as UTC is a
            // safe, deterministic answer.
            vec![wanted.and_utc()]
        }
    }
}

/// Which instant of a repeated local time counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occurrence {
    /// Any: the end of quiet hours is the next moment the clock shows it.
    Any,
    /// The first only: a daily or weekly digest goes out once that day.
    FirstOfDay,
}

/// The first instant at or after `now` at which the local clock shows
/// `time` on a day that `day_ok` accepts.
fn next_local(
    now: DateTime<Utc>,
    zone: Tz,
    time: NaiveTime,
    day_ok: impl Fn(NaiveDate) -> bool,
    occurrence: Occurrence,
) -> DateTime<Utc> {
    let today = now.with_timezone(&zone).date_naive();
    // Eight days cover any weekday at any time, and the occasional day a
    // zone skips altogether.
    for date in today.iter_days().take(9).filter(|d| day_ok(*d)) {
        let instants = local_instants(zone, date, time);
        let candidates = match occurrence {
            Occurrence::Any => &instants[..],
            Occurrence::FirstOfDay => &instants[..1],
        };
        if let Some(t) = candidates.iter().find(|t| **t >= now) {
            return *t;
        }
    }
    // Unreachable: some day of the next eight is accepted and lies ahead.
    now
}

fn local_time(now: DateTime<Utc>, zone: Tz) -> NaiveTime {
    now.with_timezone(&zone).time()
}

/// ISO weekday 1..=7 (1 = Monday); anything else (refused by validation)
/// reads as Monday.
fn iso_weekday(n: u32) -> Weekday {
    match n {
        2 => Weekday::Tue,
        3 => Weekday::Wed,
        4 => Weekday::Thu,
        5 => Weekday::Fri,
        6 => Weekday::Sat,
        7 => Weekday::Sun,
        _ => Weekday::Mon,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::Chicago, Europe::London};

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn prefs() -> Preferences {
        defaults(Uuid::nil())
    }

    fn with_quiet(start: NaiveTime, end: NaiveTime) -> Preferences {
        Preferences {
            quiet_hours: Some((start, end)),
            ..prefs()
        }
    }

    fn with_entry(category: Category, channel: Channel, f: Frequency) -> Preferences {
        Preferences {
            entries: vec![(category, channel, f)],
            ..prefs()
        }
    }

    fn email(p: &Preferences, category: Category, now: &str, zone: Tz) -> Timing {
        timing(Some(p), category, Channel::Email, false, utc(now), zone)
    }

    // ---- defaults and frequency

    #[test]
    fn defaults_are_as_documented() {
        for c in Category::ALL {
            assert_eq!(
                frequency(None, *c, Channel::InApp),
                Frequency::Immediately,
                "{c:?}"
            );
        }
        let email = |c| frequency(None, c, Channel::Email);
        assert_eq!(email(Category::Invitations), Frequency::Immediately);
        assert_eq!(email(Category::Changes), Frequency::Immediately);
        assert_eq!(email(Category::Reminders), Frequency::Immediately);
        assert_eq!(email(Category::Account), Frequency::Immediately);
        assert_eq!(email(Category::Scoring), Frequency::Daily);
        assert_eq!(email(Category::Compliance), Frequency::Daily);
        assert_eq!(email(Category::Newsletters), Frequency::Weekly);
        // Saved preferences without entries behave like none at all.
        let p = prefs();
        for c in Category::ALL {
            for ch in Channel::ALL {
                assert_eq!(frequency(Some(&p), *c, *ch), frequency(None, *c, *ch));
            }
        }
    }

    #[test]
    fn an_entry_overrides_only_its_category_and_channel() {
        let p = with_entry(Category::Newsletters, Channel::Email, Frequency::Off);
        assert_eq!(
            frequency(Some(&p), Category::Newsletters, Channel::Email),
            Frequency::Off
        );
        assert_eq!(
            frequency(Some(&p), Category::Newsletters, Channel::InApp),
            Frequency::Immediately
        );
        assert_eq!(
            frequency(Some(&p), Category::Scoring, Channel::Email),
            Frequency::Daily
        );
    }

    #[test]
    fn zone_prefers_the_person_then_membership_then_the_tenant() {
        let mut p = prefs();
        assert_eq!(zone(Some(&p), Some("America/Chicago"), London), Chicago);
        assert_eq!(zone(None, None, London), London);
        p.time_zone = Some("America/Chicago".into());
        assert_eq!(zone(Some(&p), Some("Europe/Paris"), London), Chicago);
        p.time_zone = Some("Mars/Base".into());
        assert_eq!(zone(Some(&p), Some("Nowhere/Else"), London), London);
    }

    // ---- timing: channels, off and critical

    #[test]
    fn in_app_is_never_held() {
        let p = Preferences {
            entries: vec![(Category::Scoring, Channel::InApp, Frequency::Daily)],
            ..with_quiet(t(0, 0), t(23, 59))
        };
        let now = utc("2026-10-14T12:00:00Z");
        for c in Category::ALL {
            assert_eq!(
                timing(Some(&p), *c, Channel::InApp, false, now, London),
                Timing::Now
            );
        }
    }

    #[test]
    fn off_stays_off_even_when_critical() {
        let now = utc("2026-10-14T12:00:00Z");
        for ch in Channel::ALL {
            let p = with_entry(Category::Changes, *ch, Frequency::Off);
            for critical in [false, true] {
                assert_eq!(
                    timing(Some(&p), Category::Changes, *ch, critical, now, London),
                    Timing::Off
                );
            }
        }
    }

    #[test]
    fn critical_bypasses_quiet_hours_and_digests() {
        let now = utc("2026-10-14T23:30:00Z"); // 00:30 BST, inside 22:00-07:00
        let quiet = with_quiet(t(22, 0), t(7, 0));
        assert!(matches!(
            email(&quiet, Category::Changes, "2026-10-14T23:30:00Z", London),
            Timing::At(_)
        ));
        assert_eq!(
            timing(
                Some(&quiet),
                Category::Changes,
                Channel::Email,
                true,
                now,
                London
            ),
            Timing::Now
        );
        for f in [Frequency::Daily, Frequency::Weekly] {
            let p = with_entry(Category::Changes, Channel::Email, f);
            assert!(matches!(
                email(&p, Category::Changes, "2026-10-14T12:00:00Z", London),
                Timing::Digest(_)
            ));
            assert_eq!(
                timing(
                    Some(&p),
                    Category::Changes,
                    Channel::Email,
                    true,
                    now,
                    London
                ),
                Timing::Now
            );
        }
    }

    #[test]
    fn immediately_outside_quiet_hours_is_now() {
        assert_eq!(
            email(&prefs(), Category::Changes, "2026-10-14T03:00:00Z", London),
            Timing::Now
        );
        let p = with_quiet(t(22, 0), t(7, 0));
        // 07:00 BST is the end of quiet hours: no longer quiet.
        assert_eq!(
            email(&p, Category::Changes, "2026-10-14T06:00:00Z", London),
            Timing::Now
        );
        assert_eq!(
            email(&p, Category::Changes, "2026-10-14T20:59:59Z", London),
            Timing::Now
        );
    }

    #[test]
    fn equal_start_and_end_mean_no_quiet_hours() {
        let p = with_quiet(t(7, 0), t(7, 0));
        for now in [
            "2026-10-14T06:00:00Z",
            "2026-10-14T23:00:00Z",
            "2026-10-14T12:00:00Z",
        ] {
            assert_eq!(
                email(&p, Category::Invitations, now, London),
                Timing::Now,
                "{now}"
            );
        }
    }

    // ---- quiet hours

    #[test]
    fn quiet_hours_wrap_past_midnight() {
        let (s, e) = (t(22, 0), t(7, 0));
        assert!(in_quiet_hours(t(22, 0), s, e));
        assert!(in_quiet_hours(t(23, 59), s, e));
        assert!(in_quiet_hours(t(0, 0), s, e));
        assert!(in_quiet_hours(t(6, 59), s, e));
        assert!(!in_quiet_hours(t(7, 0), s, e));
        assert!(!in_quiet_hours(t(12, 0), s, e));
        assert!(!in_quiet_hours(t(21, 59), s, e));
    }

    #[test]
    fn quiet_hours_within_one_day() {
        let (s, e) = (t(12, 0), t(14, 0));
        assert!(!in_quiet_hours(t(11, 59), s, e));
        assert!(in_quiet_hours(t(12, 0), s, e));
        assert!(in_quiet_hours(t(13, 59), s, e));
        assert!(!in_quiet_hours(t(14, 0), s, e));
        assert!(!in_quiet_hours(t(0, 0), s, e));
        // Quiet from midnight.
        assert!(in_quiet_hours(t(0, 0), t(0, 0), t(6, 0)));
        assert!(!in_quiet_hours(t(23, 59), t(0, 0), t(6, 0)));
    }

    #[test]
    fn held_until_the_end_of_quiet_hours_before_and_after_midnight() {
        let p = with_quiet(t(22, 0), t(7, 0));
        // 23:30 BST: held until 07:00 BST tomorrow.
        assert_eq!(
            email(&p, Category::Invitations, "2026-10-13T22:30:00Z", London),
            Timing::At(utc("2026-10-14T06:00:00Z"))
        );
        // 02:00 BST: held until 07:00 BST the same day.
        assert_eq!(
            email(&p, Category::Invitations, "2026-10-14T01:00:00Z", London),
            Timing::At(utc("2026-10-14T06:00:00Z"))
        );
        // Same-day quiet hours.
        let p = with_quiet(t(12, 0), t(14, 0));
        assert_eq!(
            email(&p, Category::Invitations, "2026-10-14T11:15:00Z", London),
            Timing::At(utc("2026-10-14T13:00:00Z"))
        );
    }

    #[test]
    fn quiet_hours_end_across_the_spring_change_in_london() {
        // Saturday 28 March 2026 23:00 GMT; clocks go forward at 01:00 GMT.
        let p = with_quiet(t(22, 0), t(7, 0));
        assert_eq!(
            email(&p, Category::Changes, "2026-03-28T23:00:00Z", London),
            Timing::At(utc("2026-03-29T06:00:00Z")) // 07:00 BST
        );
    }

    #[test]
    fn quiet_hours_end_across_the_autumn_change_in_london() {
        // Saturday 24 October 2026 23:00 BST; clocks go back at 02:00 BST.
        let p = with_quiet(t(22, 0), t(7, 0));
        assert_eq!(
            email(&p, Category::Changes, "2026-10-24T22:00:00Z", London),
            Timing::At(utc("2026-10-25T07:00:00Z")) // 07:00 GMT
        );
    }

    #[test]
    fn quiet_hours_ending_in_the_spring_gap_end_when_the_gap_ends() {
        // Chicago, Sunday 8 March 2026: 02:00 CST jumps to 03:00 CDT, so
        // 02:30 does not exist; the first valid instant after it is 03:00 CDT.
        let p = with_quiet(t(22, 0), t(2, 30));
        assert_eq!(
            email(&p, Category::Changes, "2026-03-08T05:00:00Z", Chicago), // 23:00 CST
            Timing::At(utc("2026-03-08T08:00:00Z"))
        );
        // London, Sunday 29 March 2026: 01:00 GMT jumps to 02:00 BST.
        let p = with_quiet(t(23, 0), t(1, 30));
        assert_eq!(
            email(&p, Category::Changes, "2026-03-28T23:30:00Z", London),
            Timing::At(utc("2026-03-29T01:00:00Z"))
        );
    }

    #[test]
    fn quiet_hours_ending_in_the_repeated_hour_end_at_the_next_occurrence() {
        // Chicago, Sunday 1 November 2026: 02:00 CDT goes back to 01:00 CST,
        // so 01:30 happens twice (06:30Z and 07:30Z).
        let p = with_quiet(t(0, 0), t(1, 30));
        // 00:30 CDT: the first 01:30.
        assert_eq!(
            email(&p, Category::Changes, "2026-11-01T05:30:00Z", Chicago),
            Timing::At(utc("2026-11-01T06:30:00Z"))
        );
        // 01:10 CST (the second pass): still quiet, until the second 01:30.
        assert_eq!(
            email(&p, Category::Changes, "2026-11-01T07:10:00Z", Chicago),
            Timing::At(utc("2026-11-01T07:30:00Z"))
        );
        // 01:40 CDT (between the two): not quiet.
        assert_eq!(
            email(&p, Category::Changes, "2026-11-01T06:40:00Z", Chicago),
            Timing::Now
        );
    }

    // ---- digests

    #[test]
    fn daily_digest_is_the_next_digest_time_at_or_after_now() {
        let p = with_entry(Category::Changes, Channel::Email, Frequency::Daily);
        // Default digest time 08:00, London in BST (UTC+1).
        assert_eq!(
            email(&p, Category::Changes, "2026-10-14T05:00:00Z", London),
            Timing::Digest(utc("2026-10-14T07:00:00Z"))
        );
        assert_eq!(
            email(&p, Category::Changes, "2026-10-14T07:00:00Z", London),
            Timing::Digest(utc("2026-10-14T07:00:00Z"))
        );
        assert_eq!(
            email(&p, Category::Changes, "2026-10-14T07:00:01Z", London),
            Timing::Digest(utc("2026-10-15T07:00:00Z"))
        );
        // Late evening in Chicago is already tomorrow in UTC: the digest
        // day is the person's.
        let p = Preferences {
            digest_time: t(21, 0),
            ..prefs()
        };
        assert_eq!(
            email(&p, Category::Scoring, "2026-10-15T01:00:00Z", Chicago), // 20:00 CDT on the 14th
            Timing::Digest(utc("2026-10-15T02:00:00Z"))
        );
    }

    #[test]
    fn daily_digest_keeps_its_local_time_across_dst() {
        let p = prefs(); // scoring: daily at 08:00
        // London: 08:00 GMT on Saturday 28 March, 08:00 BST on Sunday 29.
        assert_eq!(
            email(&p, Category::Scoring, "2026-03-28T09:00:00Z", London),
            Timing::Digest(utc("2026-03-29T07:00:00Z"))
        );
        // Chicago: 08:00 CDT on Saturday 31 October, 08:00 CST on Sunday 1 November.
        assert_eq!(
            email(&p, Category::Scoring, "2026-10-31T14:00:00Z", Chicago),
            Timing::Digest(utc("2026-11-01T14:00:00Z"))
        );
    }

    #[test]
    fn daily_digest_in_the_spring_gap_goes_when_the_gap_ends() {
        let p = Preferences {
            digest_time: t(2, 30),
            ..prefs()
        };
        assert_eq!(
            email(&p, Category::Scoring, "2026-03-07T12:00:00Z", Chicago),
            Timing::Digest(utc("2026-03-08T08:00:00Z")) // 03:00 CDT
        );
    }

    #[test]
    fn daily_digest_in_the_repeated_hour_goes_once() {
        let p = Preferences {
            digest_time: t(1, 30),
            ..prefs()
        };
        // Before: the first 01:30 (CDT).
        assert_eq!(
            email(&p, Category::Scoring, "2026-11-01T05:00:00Z", Chicago),
            Timing::Digest(utc("2026-11-01T06:30:00Z"))
        );
        // Between the two 01:30s: that day's digest has gone; next is tomorrow.
        assert_eq!(
            email(&p, Category::Scoring, "2026-11-01T07:00:00Z", Chicago),
            Timing::Digest(utc("2026-11-02T07:30:00Z"))
        );
    }

    #[test]
    fn weekly_digest_is_the_next_chosen_weekday() {
        // Newsletters: weekly; Wednesday 18:00.
        let p = Preferences {
            digest_time: t(18, 0),
            digest_weekday: 3,
            ..prefs()
        };
        // Monday 12 October 2026 → Wednesday 14th 18:00 BST.
        assert_eq!(
            email(&p, Category::Newsletters, "2026-10-12T10:00:00Z", London),
            Timing::Digest(utc("2026-10-14T17:00:00Z"))
        );
        // Wednesday before 18:00 → the same day.
        assert_eq!(
            email(&p, Category::Newsletters, "2026-10-14T16:59:00Z", London),
            Timing::Digest(utc("2026-10-14T17:00:00Z"))
        );
        // Wednesday after 18:00 → a week later; the one after that is in GMT.
        assert_eq!(
            email(&p, Category::Newsletters, "2026-10-14T17:01:00Z", London),
            Timing::Digest(utc("2026-10-21T17:00:00Z"))
        );
        assert_eq!(
            email(&p, Category::Newsletters, "2026-10-21T17:30:00Z", London),
            Timing::Digest(utc("2026-10-28T18:00:00Z"))
        );
    }

    #[test]
    fn weekly_digest_rolls_over_month_and_year() {
        // Sunday digests at 07:00 in Chicago; Thursday 31 December 2026.
        let p = Preferences {
            digest_weekday: 7,
            digest_time: t(7, 0),
            ..prefs()
        };
        assert_eq!(
            email(&p, Category::Newsletters, "2026-12-31T18:00:00Z", Chicago),
            Timing::Digest(utc("2027-01-03T13:00:00Z"))
        );
        // Default: Monday 08:00. Saturday 31 October → Monday 2 November,
        // after Chicago's clocks went back.
        assert_eq!(
            timing(
                None,
                Category::Newsletters,
                Channel::Email,
                false,
                utc("2026-10-31T15:00:00Z"),
                Chicago
            ),
            Timing::Digest(utc("2026-11-02T14:00:00Z"))
        );
    }

    #[test]
    fn weekly_digest_on_a_spring_forward_sunday() {
        // Sunday 02:30 digests in Chicago: on 8 March 2026 that time does not
        // exist; the digest goes at 03:00 CDT.
        let p = Preferences {
            digest_weekday: 7,
            digest_time: t(2, 30),
            ..prefs()
        };
        assert_eq!(
            email(&p, Category::Newsletters, "2026-03-04T12:00:00Z", Chicago),
            Timing::Digest(utc("2026-03-08T08:00:00Z"))
        );
    }

    // ---- local instants

    #[test]
    fn local_instants_on_ordinary_gap_and_fold_days() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            local_instants(London, d(2026, 7, 1), t(9, 0)),
            vec![utc("2026-07-01T08:00:00Z")]
        );
        assert_eq!(
            local_instants(London, d(2026, 3, 29), t(1, 0)),
            vec![utc("2026-03-29T01:00:00Z")]
        );
        assert_eq!(
            local_instants(London, d(2026, 10, 25), t(1, 15)),
            vec![utc("2026-10-25T00:15:00Z"), utc("2026-10-25T01:15:00Z")]
        );
        assert_eq!(
            local_instants(Chicago, d(2026, 3, 8), t(2, 0)),
            vec![utc("2026-03-08T08:00:00Z")]
        );
        // Seconds inside the gap still land on its end.
        let odd = NaiveTime::from_hms_opt(2, 59, 30).unwrap();
        assert_eq!(
            local_instants(Chicago, d(2026, 3, 8), odd),
            vec![utc("2026-03-08T08:00:00Z")]
        );
    }
}
