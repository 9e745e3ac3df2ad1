//! RFC 5545 calendars: a person's feed and one event's .ics.
//!
//! The text is written here, by hand, rather than with the `icalendar`
//! crate: that crate (0.17) cannot build a VTIMEZONE with STANDARD/DAYLIGHT
//! children without its parser, stamps a random UID and the current time
//! into every component it writes (VTIMEZONE included), and folds lines
//! next to spaces, which parsers that trim physical lines (the `ical` crate
//! does) then lose. So: TEXT is escaped per RFC 5545 3.3.11, and lines are
//! folded at 75 octets on character boundaries, away from whitespace.
//!
//! The output depends only on the input (DTSTAMP is the event's
//! `updated_at`), so two renders of the same events are byte-identical and
//! clients see a change only when something changed.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName, Tz};
use uuid::Uuid;

use super::recurrence::{self, to_local};
use super::{Event, EventStatus, Venue};

/// The PRODID of every calendar Collegium writes.
pub const PRODID: &str = "-//Collegium//Scheduling//EN";

/// The UID of a single event or of a whole series.
pub fn uid(id: Uuid) -> String {
    format!("{id}@collegium")
}

/// A VCALENDAR of `events`: one VTIMEZONE per zone used, a series as one
/// VEVENT with DTSTART/RRULE/EXDATE in its zone plus one VEVENT with
/// RECURRENCE-ID per edited or cancelled occurrence, stable UIDs
/// (`<event or series id>@collegium`), SEQUENCE, STATUS:CANCELLED.
///
/// Drafts are left out. Occurrences of a series are rendered as given: every
/// instant of the rule without a given occurrence becomes an EXDATE, so
/// callers pass the whole series (a feed does), or exactly the occurrences
/// they want shown (one occurrence's .ics). An occurrence whose
/// RECURRENCE-ID the rule does not produce, or a series whose rule cannot
/// be expanded, is written as stand-alone events under their own UIDs so
/// that nothing silently disappears.
pub fn calendar(name: &str, events: &[Event], venues: &HashMap<Uuid, Venue>) -> String {
    let mut seen = HashSet::new();
    let visible: Vec<&Event> = events
        .iter()
        .filter(|e| e.status != EventStatus::Draft && seen.insert(e.id))
        .collect();

    let mut entries = Vec::new();
    let mut series: BTreeMap<Uuid, Vec<&Event>> = BTreeMap::new();
    for e in visible {
        match e.series_id {
            Some(id) => series.entry(id).or_default().push(e),
            None => entries.push(Entry::single(e)),
        }
    }
    for (id, occurrences) in series {
        entries.extend(series_entries(id, occurrences));
    }
    entries.sort_by(|a, b| {
        let key = |e: &Entry<'_>| (e.start, e.uid.clone(), e.recurrence_id.map(|(at, _)| at));
        key(a).cmp(&key(b))
    });

    let mut out = String::new();
    out.push_str("BEGIN:VCALENDAR\r\n");
    for (key, value) in [
        ("PRODID", PRODID),
        ("VERSION", "2.0"),
        ("CALSCALE", "GREGORIAN"),
        ("METHOD", "PUBLISH"),
        ("X-WR-CALNAME", &text(name)),
    ] {
        push_line(&mut out, key, &[], value);
    }
    for (tz, first, last) in zones_used(&entries).into_values() {
        push_vtimezone(&mut out, tz, first, last);
    }
    for entry in &entries {
        out.push_str(&entry.render(venues));
    }
    out.push_str("END:VCALENDAR\r\n");
    out
}

/// One VEVENT to write.
struct Entry<'a> {
    uid: String,
    /// Where the text, place, status and audit times come from.
    source: &'a Event,
    /// `None` when the event's zone is unknown: times are then written in UTC.
    tz: Option<Tz>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// With the series' zone, which may differ from this occurrence's.
    recurrence_id: Option<(DateTime<Utc>, Option<Tz>)>,
    rrule: Option<String>,
    exdates: Vec<DateTime<Utc>>,
    /// The last instant the VEVENT stands for (a series' last occurrence).
    last: DateTime<Utc>,
    sequence: u32,
    stamp: DateTime<Utc>,
    cancelled: bool,
}

impl<'a> Entry<'a> {
    fn single(e: &'a Event) -> Self {
        Entry {
            uid: uid(e.id),
            source: e,
            tz: e.time_zone.parse().ok(),
            start: e.starts_at,
            end: e.ends_at,
            recurrence_id: None,
            rrule: None,
            exdates: Vec::new(),
            last: e.ends_at,
            sequence: e.sequence,
            stamp: e.updated_at,
            cancelled: e.status == EventStatus::Cancelled,
        }
    }

    fn render(&self, venues: &HashMap<Uuid, Venue>) -> String {
        let e = self.source;
        let mut out = String::from("BEGIN:VEVENT\r\n");
        push_line(&mut out, "UID", &[], &text(&self.uid));
        push_line(&mut out, "DTSTAMP", &[], &utc_stamp(self.stamp));
        push_date_times(&mut out, "DTSTART", &[self.start], self.tz);
        push_date_times(&mut out, "DTEND", &[self.end], self.tz);
        if let Some((rid, tz)) = self.recurrence_id {
            push_date_times(&mut out, "RECURRENCE-ID", &[rid], tz);
        }
        if let Some(rule) = &self.rrule {
            push_line(&mut out, "RRULE", &[], rule);
        }
        if !self.exdates.is_empty() {
            push_date_times(&mut out, "EXDATE", &self.exdates, self.tz);
        }
        push_line(&mut out, "SEQUENCE", &[], &self.sequence.to_string());
        let status = if self.cancelled {
            "CANCELLED"
        } else {
            "CONFIRMED"
        };
        push_line(&mut out, "STATUS", &[], status);
        push_line(&mut out, "SUMMARY", &[], &text(&e.title));
        if !e.agenda.trim().is_empty() {
            push_line(&mut out, "DESCRIPTION", &[], &text(&e.agenda));
        }
        let online = e.online_url.as_deref().filter(|u| !u.is_empty());
        let venue = e.venue_id.and_then(|id| venues.get(&id));
        let location = match (venue, online) {
            (Some(v), _) if !v.address.trim().is_empty() => {
                Some(format!("{}, {}", v.name, v.address))
            }
            (Some(v), _) => Some(v.name.clone()),
            (None, Some(url)) => Some(url.to_string()),
            (None, None) => None,
        };
        if let Some(location) = location {
            push_line(&mut out, "LOCATION", &[], &text(&location));
        }
        if let Some(url) = online {
            // A URI value: not escaped, but never with line breaks.
            push_line(&mut out, "URL", &[], &clean(url));
        }
        push_line(&mut out, "CREATED", &[], &utc_stamp(e.created_at));
        push_line(&mut out, "LAST-MODIFIED", &[], &utc_stamp(self.stamp));
        out.push_str("END:VEVENT\r\n");
        out
    }
}

/// A series' VEVENTs: the master with RRULE and EXDATEs, one override per
/// occurrence that differs from it, and stand-alone events for anything the
/// rule cannot place.
fn singles(occurrences: Vec<&Event>) -> Vec<Entry<'_>> {
    occurrences.into_iter().map(Entry::single).collect()
}

fn series_entries(series_id: Uuid, mut occurrences: Vec<&Event>) -> Vec<Entry<'_>> {
    occurrences.sort_by_key(|o| (o.recurrence_id.unwrap_or(o.starts_at), o.starts_at, o.id));

    let representative = occurrences
        .iter()
        .find(|o| !o.detached && o.status != EventStatus::Cancelled)
        .or_else(|| {
            occurrences
                .iter()
                .find(|o| o.status != EventStatus::Cancelled)
        })
        .or(occurrences.first())
        .copied()
        .expect("a series group is never empty");
    let Ok(tz) = representative.time_zone.parse::<Tz>() else {
        return singles(occurrences);
    };
    let Some(rule) = occurrences.iter().find_map(|o| o.rrule.as_deref()) else {
        return singles(occurrences);
    };
    let series_start = occurrences
        .iter()
        .find_map(|o| o.series_start)
        .unwrap_or_else(|| {
            occurrences
                .iter()
                .map(|o| o.recurrence_id.unwrap_or(o.starts_at))
                .min()
                .expect("not empty")
        });
    let planned = match (
        recurrence::normalize_rrule(rule, tz),
        recurrence::expand(rule, to_local(series_start, tz), tz, &[]),
    ) {
        (Ok(rule), Ok(planned)) => (rule, planned),
        _ => return singles(occurrences),
    };
    let (rule, planned) = planned;
    let planned_set: HashSet<DateTime<Utc>> = planned.iter().copied().collect();
    let duration = representative.ends_at - representative.starts_at;
    let all_cancelled = occurrences
        .iter()
        .all(|o| o.status == EventStatus::Cancelled);

    let mut entries = Vec::new();
    let mut matched = HashSet::new();
    let mut plain = Vec::new();
    for o in occurrences {
        let rid = o.recurrence_id.unwrap_or(o.starts_at);
        if !planned_set.contains(&rid) || !matched.insert(rid) {
            entries.push(Entry::single(o));
            continue;
        }
        let differs = o.detached
            || (o.status == EventStatus::Cancelled && !all_cancelled)
            || o.starts_at != rid
            || o.ends_at - o.starts_at != duration
            || o.title != representative.title
            || o.agenda != representative.agenda
            || o.venue_id != representative.venue_id
            || o.online_url != representative.online_url
            || o.time_zone != representative.time_zone;
        if differs {
            entries.push(Entry {
                uid: uid(series_id),
                source: o,
                tz: o.time_zone.parse().ok(),
                start: o.starts_at,
                end: o.ends_at,
                recurrence_id: Some((rid, Some(tz))),
                rrule: None,
                exdates: Vec::new(),
                last: o.ends_at,
                sequence: o.sequence,
                stamp: o.updated_at,
                cancelled: o.status == EventStatus::Cancelled,
            });
        } else {
            plain.push(o);
        }
    }

    let exdates: Vec<DateTime<Utc>> = planned
        .iter()
        .copied()
        .filter(|p| !matched.contains(p))
        .collect();
    let stamp_from = if plain.is_empty() {
        vec![representative]
    } else {
        plain
    };
    entries.push(Entry {
        uid: uid(series_id),
        source: representative,
        tz: Some(tz),
        start: series_start,
        end: series_start + duration,
        recurrence_id: None,
        rrule: Some(rule),
        exdates,
        last: planned.last().copied().unwrap_or(series_start) + duration,
        sequence: stamp_from.iter().map(|o| o.sequence).max().unwrap_or(0),
        stamp: stamp_from
            .iter()
            .map(|o| o.updated_at)
            .max()
            .unwrap_or(representative.updated_at),
        cancelled: all_cancelled,
    });
    entries
}

/// Each zone in use, with the earliest and latest instant written in it.
fn zones_used(entries: &[Entry<'_>]) -> BTreeMap<&'static str, (Tz, DateTime<Utc>, DateTime<Utc>)> {
    let mut zones: BTreeMap<&'static str, (Tz, DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    let mut note = |tz: Option<Tz>, from: DateTime<Utc>, to: DateTime<Utc>| {
        if let Some(tz) = tz {
            let span = zones.entry(tz.name()).or_insert((tz, from, to));
            span.1 = span.1.min(from);
            span.2 = span.2.max(to);
        }
    };
    for e in entries {
        note(e.tz, e.start.min(e.end), e.last.max(e.end));
        if let Some((rid, tz)) = e.recurrence_id {
            note(tz, rid, rid);
        }
    }
    zones
}

/// One change of a zone's UTC offset.
struct Transition {
    at: DateTime<Utc>,
    from: i32,
    to: i32,
    daylight: bool,
    name: Option<String>,
}

/// What the zone's clocks read at `at`: total offset in seconds and whether
/// it is daylight-saving time.
fn observance(tz: Tz, at: DateTime<Utc>) -> (i32, bool) {
    let offset = tz.offset_from_utc_datetime(&at.naive_utc());
    (
        offset.fix().local_minus_utc(),
        !offset.dst_offset().is_zero(),
    )
}

/// The zone's abbreviation at `at` ("CST"), if it has a real one.
fn abbreviation(tz: Tz, at: DateTime<Utc>) -> Option<String> {
    tz.offset_from_utc_datetime(&at.naive_utc())
        .abbreviation()
        .filter(|n| n.chars().any(|c| c.is_ascii_alphabetic()))
        .map(str::to_string)
}

/// Every offset change in `[from, to)`, found by stepping six hours at a time
/// and narrowing each change down to the second (chrono-tz does not expose
/// its transition table).
fn transitions(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Transition> {
    let step = Duration::hours(6);
    let mut found = Vec::new();
    let mut at = from;
    let mut current = observance(tz, at);
    while at < to {
        let next = at + step;
        let then = observance(tz, next);
        if then == current {
            at = next;
            continue;
        }
        // The change lies in (at, next]: find its first whole second.
        let (mut lo, mut hi) = (at.timestamp(), next.timestamp());
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if observance(tz, seconds(mid)) == current {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let hi = seconds(hi);
        let after = observance(tz, hi);
        found.push(Transition {
            at: hi,
            from: current.0,
            to: after.0,
            daylight: after.1,
            name: abbreviation(tz, hi),
        });
        current = after;
        // A second change inside the same step is found from here on.
        at = hi;
    }
    found
}

fn seconds(timestamp: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(timestamp, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A VTIMEZONE whose observances cover `[first, last]`: every transition
/// from the start of the year before `first` to the end of `last`'s year,
/// one STANDARD or DAYLIGHT per transition (DTSTART in the local time before
/// it), plus the observance in force at the start when that is needed.
fn push_vtimezone(out: &mut String, tz: Tz, first: DateTime<Utc>, last: DateTime<Utc>) {
    let year_start = |year: i32| {
        let date = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(NaiveDate::MIN);
        Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight"))
    };
    let from = year_start(first.year() - 1);
    let to = year_start(last.year() + 1);
    let changes = transitions(tz, from, to);

    out.push_str("BEGIN:VTIMEZONE\r\n");
    push_line(out, "TZID", &[], &text(tz.name()));
    if changes.first().is_none_or(|c| c.at > first) {
        let (offset, daylight) = observance(tz, from);
        let onset = from + Duration::seconds(i64::from(offset));
        let name = abbreviation(tz, from);
        push_observance(
            out,
            daylight,
            onset.naive_utc(),
            offset,
            offset,
            name.as_deref(),
        );
    }
    for c in &changes {
        let onset = c.at + Duration::seconds(i64::from(c.from));
        push_observance(
            out,
            c.daylight,
            onset.naive_utc(),
            c.from,
            c.to,
            c.name.as_deref(),
        );
    }
    out.push_str("END:VTIMEZONE\r\n");
}

fn push_observance(
    out: &mut String,
    daylight: bool,
    onset: chrono::NaiveDateTime,
    from: i32,
    to: i32,
    name: Option<&str>,
) {
    let kind = if daylight { "DAYLIGHT" } else { "STANDARD" };
    out.push_str(&format!("BEGIN:{kind}\r\n"));
    push_line(
        out,
        "DTSTART",
        &[],
        &onset.format("%Y%m%dT%H%M%S").to_string(),
    );
    push_line(out, "TZOFFSETFROM", &[], &utc_offset(from));
    push_line(out, "TZOFFSETTO", &[], &utc_offset(to));
    // Numeric "abbreviations" (+03) are left out by `abbreviation`.
    if let Some(name) = name {
        push_line(out, "TZNAME", &[], &text(name));
    }
    out.push_str(&format!("END:{kind}\r\n"));
}

/// RFC 5545 utc-offset: "+0100", "-0500", "+0530", seconds when there are any.
fn utc_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if sec == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{sec:02}")
    }
}

fn utc_stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// `NAME;TZID=Zone:local[,local…]` or, without a known zone, `NAME:utcZ`.
fn push_date_times(out: &mut String, name: &str, list: &[DateTime<Utc>], tz: Option<Tz>) {
    let values: Vec<String> = list
        .iter()
        .map(|at| match tz {
            Some(tz) => to_local(*at, tz).format("%Y%m%dT%H%M%S").to_string(),
            None => utc_stamp(*at),
        })
        .collect();
    match tz {
        Some(tz) => push_line(out, name, &[("TZID", tz.name())], &values.join(",")),
        None => push_line(out, name, &[], &values.join(",")),
    }
}

/// Line breaks as LF, other control characters (which TEXT may not hold)
/// dropped, trailing whitespace (meaningless, and lost by some parsers) cut.
fn clean(value: &str) -> String {
    value
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// A TEXT value, escaped (RFC 5545 3.3.11).
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in clean(value).chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A parameter value, quoted when it holds a character that would end it.
fn param_value(value: &str) -> String {
    let value: String = clean(value).chars().filter(|c| *c != '"').collect();
    if value.contains([':', ';', ',']) {
        format!("\"{value}\"")
    } else {
        value
    }
}

/// One content line, `value` already in its final (escaped) form.
fn push_line(out: &mut String, name: &str, params: &[(&str, &str)], value: &str) {
    let mut line = String::from(name);
    for (key, v) in params {
        line.push(';');
        line.push_str(key);
        line.push('=');
        line.push_str(&param_value(v));
    }
    line.push(':');
    line.push_str(value);
    fold(out, &line);
}

/// Most octets on one physical line, CRLF not counted.
const LINE_OCTETS: usize = 75;

/// Writes `line` folded (RFC 5545 3.1): at most 75 octets per physical line,
/// continuation lines starting with one space, never inside a UTF-8
/// character, and where possible not next to whitespace.
fn fold(out: &mut String, line: &str) {
    let mut rest = line;
    // The first line holds 75 octets; later ones 74 after their leading space.
    let mut room = LINE_OCTETS;
    while rest.len() > room {
        let boundaries: Vec<usize> = (1..=room)
            .rev()
            .filter(|i| rest.is_char_boundary(*i))
            .collect();
        let clean_cut = boundaries.iter().copied().take(24).find(|&i| {
            let before = rest[..i].chars().next_back();
            let after = rest[i..].chars().next();
            !before.is_some_and(char::is_whitespace) && !after.is_some_and(char::is_whitespace)
        });
        let cut = clean_cut.unwrap_or(boundaries[0]);
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        room = LINE_OCTETS - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventKind;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn event(n: u128, start: &str, hours: i64) -> Event {
        let starts_at = utc(start);
        Event {
            id: Uuid::from_u128(n),
            kind: EventKind::NetworkMeeting,
            cluster_id: None,
            title: "Network meeting".into(),
            agenda: String::new(),
            starts_at,
            ends_at: starts_at + Duration::hours(hours),
            time_zone: "America/Chicago".into(),
            venue_id: None,
            online_url: None,
            capacity: 0,
            status: EventStatus::Published,
            academic_year: 2026,
            approval_required: false,
            training_hours: 0,
            prepares_for_event_id: None,
            series_id: None,
            recurrence_id: None,
            rrule: None,
            series_start: None,
            detached: false,
            sequence: 0,
            check_in_code: String::new(),
            created_by: "p".into(),
            created_at: utc("2026-09-01T12:00:00Z"),
            updated_at: utc("2026-09-02T12:00:00Z"),
        }
    }

    /// Unfolded content lines.
    fn lines(ics: &str) -> Vec<String> {
        ics.replace("\r\n ", "")
            .split("\r\n")
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn utc_offsets_are_written_as_rfc_5545_wants() {
        assert_eq!(utc_offset(0), "+0000");
        assert_eq!(utc_offset(-5 * 3600), "-0500");
        assert_eq!(utc_offset(5 * 3600 + 1800), "+0530");
        assert_eq!(utc_offset(-(3600 + 15 * 60 + 8)), "-011508");
    }

    #[test]
    fn chicago_transitions_are_found_to_the_second() {
        let found = transitions(
            tz("America/Chicago"),
            utc("2026-01-01T00:00:00Z"),
            utc("2027-01-01T00:00:00Z"),
        );
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].at, utc("2026-03-08T08:00:00Z"));
        assert_eq!(
            (found[0].from, found[0].to, found[0].daylight),
            (-6 * 3600, -5 * 3600, true)
        );
        assert_eq!(found[0].name.as_deref(), Some("CDT"));
        assert_eq!(found[1].at, utc("2026-11-01T07:00:00Z"));
        assert_eq!(
            (found[1].from, found[1].to, found[1].daylight),
            (-5 * 3600, -6 * 3600, false)
        );
    }

    fn tz(name: &str) -> Tz {
        name.parse().unwrap()
    }

    #[test]
    fn a_single_event_is_written_in_its_zone() {
        let mut e = event(1, "2026-10-14T21:00:00Z", 2);
        e.title = "Moderation; part 1, with \\ and\r\nnew line".into();
        e.agenda = "Bring 3 portfolios".into();
        e.venue_id = Some(Uuid::from_u128(7));
        e.sequence = 3;
        let venues = HashMap::from([(
            Uuid::from_u128(7),
            Venue {
                id: Uuid::from_u128(7),
                name: "Lincoln High".into(),
                address: "1 Main St, Springfield".into(),
                capacity: 40,
                buffer_minutes: 0,
            },
        )]);
        let ics = calendar("Cluster 4", &[e], &venues);
        let l = lines(&ics);
        assert_eq!(l[0], "BEGIN:VCALENDAR");
        assert!(l.contains(&"PRODID:-//Collegium//Scheduling//EN".to_string()));
        assert!(l.contains(&"METHOD:PUBLISH".to_string()));
        assert!(l.contains(&"X-WR-CALNAME:Cluster 4".to_string()));
        assert!(l.contains(&"UID:00000000-0000-0000-0000-000000000001@collegium".to_string()));
        assert!(l.contains(&"DTSTART;TZID=America/Chicago:20261014T160000".to_string()));
        assert!(l.contains(&"DTEND;TZID=America/Chicago:20261014T180000".to_string()));
        assert!(l.contains(&"DTSTAMP:20260902T120000Z".to_string()));
        assert!(l.contains(&"SEQUENCE:3".to_string()));
        assert!(
            l.contains(&"SUMMARY:Moderation\\; part 1\\, with \\\\ and\\nnew line".to_string())
        );
        assert!(l.contains(&"LOCATION:Lincoln High\\, 1 Main St\\, Springfield".to_string()));
        assert!(l.contains(&"STATUS:CONFIRMED".to_string()));
        assert!(l.contains(&"BEGIN:VTIMEZONE".to_string()));
        assert!(l.contains(&"TZID:America/Chicago".to_string()));
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        // Every physical line is at most 75 octets and ends in CRLF.
        for line in ics.split_terminator("\r\n") {
            assert!(line.len() <= 75, "{line}");
            assert!(!line.contains('\n') && !line.contains('\r'));
        }
    }

    #[test]
    fn drafts_are_left_out_and_cancelled_events_say_so() {
        let mut draft = event(1, "2026-10-14T21:00:00Z", 2);
        draft.status = EventStatus::Draft;
        let mut cancelled = event(2, "2026-10-15T21:00:00Z", 2);
        cancelled.status = EventStatus::Cancelled;
        let ics = calendar("x", &[draft, cancelled], &HashMap::new());
        assert!(!ics.contains("00000000-0000-0000-0000-000000000001@collegium"));
        assert!(ics.contains("STATUS:CANCELLED"));
    }

    #[test]
    fn online_events_carry_the_link() {
        let mut e = event(1, "2026-10-14T21:00:00Z", 2);
        e.online_url = Some("https://meet.example.org/room;1".into());
        let l = lines(&calendar("x", &[e], &HashMap::new()));
        assert!(l.contains(&"URL:https://meet.example.org/room;1".to_string()));
        assert!(l.contains(&"LOCATION:https://meet.example.org/room\\;1".to_string()));
    }

    #[test]
    fn long_text_is_folded_without_splitting_characters() {
        let mut e = event(1, "2026-10-14T21:00:00Z", 2);
        e.agenda = "Écoute et évaluation — ".repeat(20);
        let ics = calendar("x", &[e], &HashMap::new());
        for line in ics.split_terminator("\r\n") {
            assert!(line.len() <= 75, "{line}");
        }
        let l = lines(&ics);
        let description = l.iter().find(|l| l.starts_with("DESCRIPTION:")).unwrap();
        assert_eq!(
            description,
            &format!(
                "DESCRIPTION:{}",
                "Écoute et évaluation — ".repeat(20).trim_end()
            )
        );
    }

    #[test]
    fn folds_avoid_whitespace_and_keep_every_octet() {
        let value = format!(
            "{}{}{}",
            "word ".repeat(40),
            " ".repeat(200),
            "ü".repeat(100)
        );
        let mut out = String::new();
        push_line(&mut out, "DESCRIPTION", &[], &value);
        let physical: Vec<&str> = out.split_terminator("\r\n").collect();
        assert!(physical.len() > 5);
        for (i, line) in physical.iter().enumerate() {
            assert!(line.len() <= 75, "{line}");
            if i > 0 {
                assert!(line.starts_with(' '));
            }
        }
        // Among the words, folds fall between two non-blank characters.
        for pair in physical[..2].windows(2) {
            assert!(!pair[0].ends_with(' '), "{:?}", pair[0]);
            assert!(!pair[1][1..].starts_with(' '), "{:?}", pair[1]);
        }
        assert_eq!(out.replace("\r\n ", ""), format!("DESCRIPTION:{value}\r\n"));
    }

    #[test]
    fn text_is_escaped_and_cleaned() {
        assert_eq!(text("a,b;c\\d\r\ne\rf\u{7}g  "), "a\\,b\\;c\\\\d\\ne\\nfg");
        assert_eq!(param_value("Area/Zone"), "Area/Zone");
        assert_eq!(param_value("a:b"), "\"a:b\"");
    }

    #[test]
    fn a_zone_without_daylight_saving_gets_one_standard() {
        let mut e = event(1, "2026-10-14T09:00:00Z", 2);
        e.time_zone = "Asia/Tokyo".into();
        let ics = calendar("x", &[e], &HashMap::new());
        let l = lines(&ics);
        assert_eq!(l.iter().filter(|l| *l == "BEGIN:STANDARD").count(), 1);
        assert!(!ics.contains("BEGIN:DAYLIGHT"));
        assert!(l.contains(&"TZOFFSETTO:+0900".to_string()));
        assert!(l.contains(&"TZNAME:JST".to_string()));
        assert!(l.contains(&"DTSTART;TZID=Asia/Tokyo:20261014T180000".to_string()));
    }

    #[test]
    fn an_unknown_zone_falls_back_to_utc_times() {
        let mut e = event(1, "2026-10-14T21:00:00Z", 2);
        e.time_zone = "Mars/Base".into();
        let ics = calendar("x", &[e], &HashMap::new());
        assert!(lines(&ics).contains(&"DTSTART:20261014T210000Z".to_string()));
        assert!(!ics.contains("VTIMEZONE"));
    }

    fn series(rule: &str, starts: &[&str]) -> Vec<Event> {
        let series_id = Uuid::from_u128(100);
        starts
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut e = event(200 + i as u128, s, 2);
                e.series_id = Some(series_id);
                e.recurrence_id = Some(e.starts_at);
                e.rrule = Some(rule.into());
                e.series_start = Some(utc(starts[0]));
                e
            })
            .collect()
    }

    const WEEKLY: [&str; 4] = [
        "2026-10-21T21:00:00Z",
        "2026-10-28T21:00:00Z",
        "2026-11-04T22:00:00Z",
        "2026-11-11T22:00:00Z",
    ];

    #[test]
    fn an_unchanged_series_is_one_master() {
        let ics = calendar(
            "x",
            &series("FREQ=WEEKLY;COUNT=4", &WEEKLY),
            &HashMap::new(),
        );
        let l = lines(&ics);
        assert_eq!(l.iter().filter(|l| *l == "BEGIN:VEVENT").count(), 1);
        assert!(l.contains(&"UID:00000000-0000-0000-0000-000000000064@collegium".to_string()));
        assert!(l.contains(&"RRULE:FREQ=WEEKLY;COUNT=4".to_string()));
        assert!(l.contains(&"DTSTART;TZID=America/Chicago:20261021T160000".to_string()));
        assert!(l.contains(&"DTEND;TZID=America/Chicago:20261021T180000".to_string()));
        assert!(!ics.contains("EXDATE"));
        assert!(!ics.contains("RECURRENCE-ID"));
    }

    #[test]
    fn missing_occurrences_become_exdates_and_edits_become_overrides() {
        let mut occurrences = series("FREQ=WEEKLY;COUNT=4", &WEEKLY);
        occurrences.remove(1); // 28 October left out
        occurrences[1].status = EventStatus::Cancelled; // 4 November
        occurrences[1].sequence = 2;
        occurrences[2].title = "Network meeting (moved room)".into(); // 11 November
        occurrences[2].detached = true;
        let ics = calendar("x", &occurrences, &HashMap::new());
        let l = lines(&ics);
        assert_eq!(l.iter().filter(|l| *l == "BEGIN:VEVENT").count(), 3);
        assert!(l.contains(&"EXDATE;TZID=America/Chicago:20261028T160000".to_string()));
        assert!(l.contains(&"RECURRENCE-ID;TZID=America/Chicago:20261104T160000".to_string()));
        assert!(l.contains(&"RECURRENCE-ID;TZID=America/Chicago:20261111T160000".to_string()));
        assert!(l.contains(&"STATUS:CANCELLED".to_string()));
        assert!(l.contains(&"SEQUENCE:2".to_string()));
        assert!(l.contains(&"SUMMARY:Network meeting (moved room)".to_string()));
    }

    #[test]
    fn a_moved_occurrence_keeps_its_original_recurrence_id() {
        let mut occurrences = series("FREQ=WEEKLY;COUNT=4", &WEEKLY);
        occurrences[2].starts_at = utc("2026-11-05T22:00:00Z");
        occurrences[2].ends_at = utc("2026-11-06T00:00:00Z");
        let l = lines(&calendar("x", &occurrences, &HashMap::new()));
        assert!(l.contains(&"RECURRENCE-ID;TZID=America/Chicago:20261104T160000".to_string()));
        assert!(l.contains(&"DTSTART;TZID=America/Chicago:20261105T160000".to_string()));
    }

    #[test]
    fn a_wholly_cancelled_series_is_one_cancelled_master() {
        let mut occurrences = series("FREQ=WEEKLY;COUNT=4", &WEEKLY);
        for o in &mut occurrences {
            o.status = EventStatus::Cancelled;
        }
        let ics = calendar("x", &occurrences, &HashMap::new());
        let l = lines(&ics);
        assert_eq!(l.iter().filter(|l| *l == "BEGIN:VEVENT").count(), 1);
        assert!(l.contains(&"STATUS:CANCELLED".to_string()));
    }

    #[test]
    fn an_occurrence_the_rule_does_not_produce_stands_alone() {
        let mut occurrences = series("FREQ=WEEKLY;COUNT=4", &WEEKLY);
        occurrences[3].recurrence_id = Some(utc("2026-12-24T22:00:00Z"));
        let l = lines(&calendar("x", &occurrences, &HashMap::new()));
        assert!(l.contains(&"UID:00000000-0000-0000-0000-0000000000cb@collegium".to_string()));
        assert!(l.contains(&"EXDATE;TZID=America/Chicago:20261111T160000".to_string()));
    }

    #[test]
    fn a_broken_rule_renders_the_occurrences_on_their_own() {
        let occurrences = series("FREQ=WEEKLY", &WEEKLY);
        let ics = calendar("x", &occurrences, &HashMap::new());
        assert_eq!(
            lines(&ics).iter().filter(|l| *l == "BEGIN:VEVENT").count(),
            4
        );
        assert!(!ics.contains("RRULE"));
    }

    #[test]
    fn rendering_is_deterministic() {
        let occurrences = series("FREQ=WEEKLY;COUNT=4", &WEEKLY);
        let mut reversed = occurrences.clone();
        reversed.reverse();
        assert_eq!(
            calendar("x", &occurrences, &HashMap::new()),
            calendar("x", &reversed, &HashMap::new())
        );
    }

    #[test]
    fn vtimezone_covers_the_events_with_both_observances() {
        let ics = calendar(
            "x",
            &series("FREQ=WEEKLY;COUNT=4", &WEEKLY),
            &HashMap::new(),
        );
        let l = lines(&ics);
        // 2025 and 2026: two changes a year.
        assert_eq!(l.iter().filter(|l| *l == "BEGIN:DAYLIGHT").count(), 2);
        assert_eq!(l.iter().filter(|l| *l == "BEGIN:STANDARD").count(), 2);
        let i = l
            .iter()
            .position(|l| l == "DTSTART:20261101T020000")
            .unwrap();
        assert_eq!(l[i - 1], "BEGIN:STANDARD");
        assert_eq!(l[i + 1], "TZOFFSETFROM:-0500");
        assert_eq!(l[i + 2], "TZOFFSETTO:-0600");
        assert_eq!(l[i + 3], "TZNAME:CST");
        let i = l
            .iter()
            .position(|l| l == "DTSTART:20260308T020000")
            .unwrap();
        assert_eq!(l[i - 1], "BEGIN:DAYLIGHT");
        assert_eq!(l[i + 1], "TZOFFSETFROM:-0600");
        assert_eq!(l[i + 2], "TZOFFSETTO:-0500");
    }

    #[test]
    fn the_observance_in_force_is_added_when_no_change_precedes_the_events() {
        let from = utc("2026-01-01T00:00:00Z");
        let to = utc("2027-01-01T00:00:00Z");
        let mut out = String::new();
        let chicago = tz("America/Chicago");
        push_vtimezone(&mut out, chicago, from, to);
        let l = lines(&out);
        // 2025 has its own two changes, so the first one precedes the events.
        assert!(!l.contains(&"DTSTART:20250101T000000".to_string()));
        let mut out = String::new();
        let tokyo = tz("Asia/Tokyo");
        push_vtimezone(&mut out, tokyo, from, to);
        let l = lines(&out);
        assert!(l.contains(&"DTSTART:20250101T090000".to_string()));
        assert!(l.contains(&"TZOFFSETFROM:+0900".to_string()));
    }
}
