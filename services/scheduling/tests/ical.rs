//! Calendars as a client sees them: the output of `domain::ical::calendar`
//! is read back with an independent parser (the `ical` crate), and the
//! series it describes is expanded again with the `rrule` crate from the
//! parsed DTSTART/RRULE/EXDATE alone, to prove the feed means what we stored,
//! across daylight-saving changes too.

use std::collections::HashMap;
use std::io::BufReader;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use collegium_scheduling::domain::ical::calendar;
use collegium_scheduling::domain::recurrence::{expand, parse_naive};
use collegium_scheduling::domain::{Event, EventKind, EventStatus, Venue};
use ical::parser::ical::component::{IcalCalendar, IcalEvent, IcalTimeZone};
use ical::property::Property;
use rrule::RRuleSet;
use uuid::Uuid;

const CHICAGO: Tz = chrono_tz::America::Chicago;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn event(id: u128, starts_at: DateTime<Utc>, zone: &str) -> Event {
    Event {
        id: Uuid::from_u128(id),
        kind: EventKind::StudyGroup,
        cluster_id: Some(Uuid::from_u128(77)),
        title: "Study group: hard score decisions".into(),
        agenda: "Anchor papers, then open questions".into(),
        starts_at,
        ends_at: starts_at + Duration::minutes(90),
        time_zone: zone.into(),
        venue_id: Some(Uuid::from_u128(5)),
        online_url: None,
        capacity: 20,
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
        sequence: 1,
        check_in_code: "K3Y".into(),
        created_by: "leader".into(),
        created_at: utc("2026-09-01T10:00:00Z"),
        updated_at: utc("2026-09-03T10:00:00Z"),
    }
}

fn venues() -> HashMap<Uuid, Venue> {
    HashMap::from([(
        Uuid::from_u128(5),
        Venue {
            id: Uuid::from_u128(5),
            name: "Roosevelt Middle School, library".into(),
            address: "1200 W Harrison St; Chicago".into(),
            capacity: 30,
            buffer_minutes: 15,
        },
    )])
}

/// A stored series as the service keeps it: one row per occurrence.
fn series(rule: &str, first_local: &str, zone: Tz) -> Vec<Event> {
    let start = parse_naive("starts_local", first_local).unwrap();
    let planned = expand(rule, start, zone, &[]).unwrap();
    planned
        .iter()
        .enumerate()
        .map(|(i, at)| {
            let mut e = event(1000 + i as u128, *at, zone.name());
            e.series_id = Some(Uuid::from_u128(900));
            e.recurrence_id = Some(*at);
            e.rrule = Some(rule.into());
            e.series_start = Some(planned[0]);
            e
        })
        .collect()
}

fn parse(ics: &str) -> IcalCalendar {
    let mut parser = ical::IcalParser::new(BufReader::new(ics.as_bytes()));
    let cal = parser
        .next()
        .expect("one calendar")
        .expect("the independent parser accepts the output");
    assert!(parser.next().is_none(), "exactly one VCALENDAR");
    cal
}

fn prop<'a>(props: &'a [Property], name: &str) -> Option<&'a Property> {
    props.iter().find(|p| p.name == name)
}

fn value<'a>(props: &'a [Property], name: &str) -> &'a str {
    prop(props, name)
        .and_then(|p| p.value.as_deref())
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn param<'a>(p: &'a Property, name: &str) -> Option<&'a str> {
    p.params
        .as_ref()?
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

fn master(cal: &IcalCalendar) -> &IcalEvent {
    let masters: Vec<&IcalEvent> = cal
        .events
        .iter()
        .filter(|e| prop(&e.properties, "RRULE").is_some())
        .collect();
    assert_eq!(masters.len(), 1, "one master VEVENT for the series");
    masters[0]
}

fn local(v: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").unwrap()
}

/// The content line a client would hand to a recurrence engine.
fn line(p: &Property) -> String {
    match param(p, "TZID") {
        Some(tz) => format!("{};TZID={tz}:{}", p.name, p.value.as_deref().unwrap()),
        None => format!("{}:{}", p.name, p.value.as_deref().unwrap()),
    }
}

/// The master's instances as an independent engine expands them from the
/// parsed DTSTART, RRULE and EXDATE lines.
fn reexpand(master: &IcalEvent) -> Vec<DateTime<rrule::Tz>> {
    let mut text = vec![
        line(prop(&master.properties, "DTSTART").unwrap()),
        format!("RRULE:{}", value(&master.properties, "RRULE")),
    ];
    for p in master.properties.iter().filter(|p| p.name == "EXDATE") {
        text.push(line(p));
    }
    let set: RRuleSet = text
        .join("\n")
        .parse()
        .expect("rrule crate reads DTSTART/RRULE/EXDATE");
    set.all(500).dates
}

/// The UTC instant the calendar's own VTIMEZONE gives to local time
/// `at`, read only from its STANDARD/DAYLIGHT observances: the observance in
/// force is the last one whose onset (DTSTART read in its TZOFFSETFROM)
/// precedes the instant.
fn resolve_with_vtimezone(tz: &IcalTimeZone, at: NaiveDateTime) -> DateTime<Utc> {
    let offset = |s: &str| {
        let sign = if s.starts_with('-') { -1 } else { 1 };
        let digits = &s[1..];
        let h: i64 = digits[0..2].parse().unwrap();
        let m: i64 = digits[2..4].parse().unwrap();
        sign * (h * 3600 + m * 60)
    };
    let mut observances: Vec<(DateTime<Utc>, i64)> = tz
        .transitions
        .iter()
        .map(|t| {
            let start = local(value(&t.properties, "DTSTART"));
            let from = offset(value(&t.properties, "TZOFFSETFROM"));
            let to = offset(value(&t.properties, "TZOFFSETTO"));
            (Utc.from_utc_datetime(&start) - Duration::seconds(from), to)
        })
        .collect();
    observances.sort();
    let candidates: Vec<DateTime<Utc>> = observances
        .iter()
        .enumerate()
        .filter_map(|(i, (onset, to))| {
            let instant = Utc.from_utc_datetime(&at) - Duration::seconds(*to);
            let next = observances.get(i + 1).map(|(o, _)| *o);
            (instant >= *onset && next.is_none_or(|n| instant < n)).then_some(instant)
        })
        .collect();
    assert_eq!(candidates.len(), 1, "{at} resolves to exactly one instant");
    candidates[0]
}

fn timezone<'a>(cal: &'a IcalCalendar, name: &str) -> &'a IcalTimeZone {
    cal.timezones
        .iter()
        .find(|t| value(&t.properties, "TZID") == name)
        .unwrap_or_else(|| panic!("VTIMEZONE {name} missing"))
}

#[test]
fn the_calendar_envelope_is_what_clients_expect() {
    let ics = calendar(
        "Cluster 7, Spring; \"Writing\"",
        &[event(1, utc("2026-10-14T21:00:00Z"), "America/Chicago")],
        &venues(),
    );
    let cal = parse(&ics);
    assert_eq!(
        value(&cal.properties, "PRODID"),
        "-//Collegium//Scheduling//EN"
    );
    assert_eq!(value(&cal.properties, "VERSION"), "2.0");
    assert_eq!(value(&cal.properties, "CALSCALE"), "GREGORIAN");
    assert_eq!(value(&cal.properties, "METHOD"), "PUBLISH");
    assert_eq!(
        value(&cal.properties, "X-WR-CALNAME"),
        "Cluster 7\\, Spring\\; \"Writing\""
    );
    // CRLF line ends and lines folded at 75 octets.
    assert!(ics.ends_with("END:VCALENDAR\r\n"));
    assert!(!ics.replace("\r\n", "").contains('\n'));
    for l in ics.split_terminator("\r\n") {
        assert!(l.len() <= 75, "{l}");
    }
}

#[test]
fn a_single_event_reads_back_with_its_zone_text_and_place() {
    let mut e = event(1, utc("2026-10-14T21:00:00Z"), "America/Chicago");
    e.agenda = "1. Anchors, sets A–C\n2. Discussion; questions\\answers ".repeat(5);
    let ics = calendar("Me", &[e.clone()], &venues());
    let cal = parse(&ics);
    assert_eq!(cal.events.len(), 1);
    let ev = &cal.events[0];
    assert_eq!(
        value(&ev.properties, "UID"),
        "00000000-0000-0000-0000-000000000001@collegium"
    );
    let start = prop(&ev.properties, "DTSTART").unwrap();
    assert_eq!(param(start, "TZID"), Some("America/Chicago"));
    assert_eq!(start.value.as_deref(), Some("20261014T160000"));
    assert_eq!(value(&ev.properties, "DTEND"), "20261014T173000");
    assert_eq!(value(&ev.properties, "DTSTAMP"), "20260903T100000Z");
    assert_eq!(value(&ev.properties, "SEQUENCE"), "1");
    assert_eq!(value(&ev.properties, "STATUS"), "CONFIRMED");
    assert_eq!(
        value(&ev.properties, "LOCATION"),
        "Roosevelt Middle School\\, library\\, 1200 W Harrison St\\; Chicago"
    );
    // The parser unfolds; the value is the escaped agenda, whole.
    let escaped = e
        .agenda
        .replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n");
    assert_eq!(value(&ev.properties, "DESCRIPTION"), escaped.trim_end());
    // The VTIMEZONE maps the local start back to the stored instant.
    let local_start = local(start.value.as_deref().unwrap());
    assert_eq!(
        resolve_with_vtimezone(timezone(&cal, "America/Chicago"), local_start),
        e.starts_at
    );
}

#[test]
fn uids_are_stable_between_renders_and_carry_sequence() {
    let mut events = series("FREQ=WEEKLY;COUNT=4", "2026-10-21T16:00", CHICAGO);
    events.push(event(1, utc("2026-10-14T21:00:00Z"), "America/Chicago"));
    let first = calendar("Me", &events, &venues());
    events.reverse();
    let second = calendar("Me", &events, &venues());
    assert_eq!(
        first, second,
        "the same events render byte for byte the same"
    );

    let uids = |ics: &str| -> Vec<String> {
        parse(ics)
            .events
            .iter()
            .map(|e| value(&e.properties, "UID").to_string())
            .collect()
    };
    assert_eq!(
        uids(&first),
        [
            "00000000-0000-0000-0000-000000000001@collegium",
            "00000000-0000-0000-0000-000000000384@collegium",
        ]
    );
    // A change people must hear about bumps SEQUENCE, the UID stays.
    for e in &mut events {
        e.sequence = 2;
        e.title = "Study group (new room)".into();
        e.updated_at = utc("2026-10-01T08:00:00Z");
    }
    let changed = calendar("Me", &events, &venues());
    assert_eq!(uids(&changed), uids(&first));
    for ev in parse(&changed).events {
        assert_eq!(value(&ev.properties, "SEQUENCE"), "2");
        assert_eq!(value(&ev.properties, "DTSTAMP"), "20261001T080000Z");
    }
}

#[test]
fn chicago_gets_a_vtimezone_with_standard_and_daylight() {
    let events = series("FREQ=WEEKLY;COUNT=4", "2026-10-21T16:00", CHICAGO);
    let cal = parse(&calendar("Me", &events, &venues()));
    assert_eq!(cal.timezones.len(), 1);
    let tz = timezone(&cal, "America/Chicago");
    let kinds: Vec<String> = tz
        .transitions
        .iter()
        .map(|t| format!("{:?}", t.transition))
        .collect();
    assert!(kinds.iter().any(|k| k == "STANDARD"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "DAYLIGHT"), "{kinds:?}");
    // The change on 1 November 2026: 02:00 CDT becomes 01:00 CST.
    let change = tz
        .transitions
        .iter()
        .find(|t| value(&t.properties, "DTSTART") == "20261101T020000")
        .expect("the November 2026 change is described");
    assert_eq!(value(&change.properties, "TZOFFSETFROM"), "-0500");
    assert_eq!(value(&change.properties, "TZOFFSETTO"), "-0600");
    assert_eq!(value(&change.properties, "TZNAME"), "CST");
}

/// The requirement: a weekly 16:00 Chicago series from 21 October
/// 2026 crosses the change on 1 November; expanded by an independent engine
/// from the published DTSTART and RRULE it stays at 16:00 local while the
/// UTC instants move from 21:00Z to 22:00Z, exactly as stored.
#[test]
fn a_weekly_series_keeps_its_local_time_across_the_dst_change() {
    let stored = series("FREQ=WEEKLY;COUNT=4", "2026-10-21T16:00", CHICAGO);
    let stored_starts: Vec<DateTime<Utc>> = stored.iter().map(|e| e.starts_at).collect();
    assert_eq!(
        stored_starts,
        [
            utc("2026-10-21T21:00:00Z"),
            utc("2026-10-28T21:00:00Z"),
            utc("2026-11-04T22:00:00Z"),
            utc("2026-11-11T22:00:00Z"),
        ]
    );

    let cal = parse(&calendar("Me", &stored, &venues()));
    assert_eq!(cal.events.len(), 1, "an unedited series is one VEVENT");
    let m = master(&cal);
    assert_eq!(
        value(&m.properties, "UID"),
        "00000000-0000-0000-0000-000000000384@collegium"
    );
    let dtstart = prop(&m.properties, "DTSTART").unwrap();
    assert_eq!(param(dtstart, "TZID"), Some("America/Chicago"));
    assert_eq!(dtstart.value.as_deref(), Some("20261021T160000"));
    assert_eq!(value(&m.properties, "DTEND"), "20261021T173000");
    assert_eq!(value(&m.properties, "RRULE"), "FREQ=WEEKLY;COUNT=4");

    let again = reexpand(m);
    assert_eq!(again.len(), 4);
    for (occurrence, stored) in again.iter().zip(&stored_starts) {
        assert_eq!(occurrence.format("%H:%M").to_string(), "16:00");
        assert_eq!(occurrence.with_timezone(&Utc), *stored);
    }
    // The calendar's own VTIMEZONE agrees with chrono-tz on every instant.
    let tz = timezone(&cal, "America/Chicago");
    for occurrence in &again {
        assert_eq!(
            resolve_with_vtimezone(tz, occurrence.naive_local()),
            occurrence.with_timezone(&Utc)
        );
    }
}

#[test]
fn a_monthly_series_keeps_its_local_time_across_both_changes() {
    let stored = series(
        "FREQ=MONTHLY;BYDAY=2WE;COUNT=8",
        "2026-10-14T16:00",
        CHICAGO,
    );
    let cal = parse(&calendar("Me", &stored, &venues()));
    let again = reexpand(master(&cal));
    let tz = timezone(&cal, "America/Chicago");
    assert_eq!(again.len(), 8);
    for (occurrence, stored) in again.iter().zip(&stored) {
        assert_eq!(occurrence.format("%H:%M").to_string(), "16:00");
        assert_eq!(occurrence.with_timezone(&Utc), stored.starts_at);
        assert_eq!(
            resolve_with_vtimezone(tz, occurrence.naive_local()),
            stored.starts_at
        );
    }
    // CDT in October and April, CST in between.
    assert_eq!(stored[0].starts_at, utc("2026-10-14T21:00:00Z"));
    assert_eq!(stored[3].starts_at, utc("2027-01-13T22:00:00Z"));
    assert_eq!(stored[6].starts_at, utc("2027-04-14T21:00:00Z"));
}

#[test]
fn a_london_series_keeps_its_local_time_across_late_october() {
    let london: Tz = chrono_tz::Europe::London;
    let stored = series("FREQ=WEEKLY;COUNT=3", "2026-10-18T16:00", london);
    let cal = parse(&calendar("Me", &stored, &venues()));
    let again = reexpand(master(&cal));
    let utcs: Vec<DateTime<Utc>> = again.iter().map(|o| o.with_timezone(&Utc)).collect();
    assert_eq!(
        utcs,
        [
            utc("2026-10-18T15:00:00Z"),
            utc("2026-10-25T16:00:00Z"),
            utc("2026-11-01T16:00:00Z"),
        ]
    );
    let tz = timezone(&cal, "Europe/London");
    for o in &again {
        assert_eq!(o.format("%H:%M").to_string(), "16:00");
        assert_eq!(
            resolve_with_vtimezone(tz, o.naive_local()),
            o.with_timezone(&Utc)
        );
    }
}

#[test]
fn a_cancelled_occurrence_and_a_left_out_one() {
    let mut stored = series("FREQ=WEEKLY;COUNT=4", "2026-10-21T16:00", CHICAGO);
    // 28 October was left out when the series was created (no row)…
    stored.remove(1);
    // …and 4 November, after the change, is cancelled.
    stored[1].status = EventStatus::Cancelled;
    stored[1].sequence = 2;
    stored[1].updated_at = utc("2026-10-30T12:00:00Z");

    let cal = parse(&calendar("Me", &stored, &venues()));
    assert_eq!(cal.events.len(), 2);
    let m = master(&cal);
    let exdates: Vec<&Property> = m.properties.iter().filter(|p| p.name == "EXDATE").collect();
    assert_eq!(exdates.len(), 1);
    assert_eq!(param(exdates[0], "TZID"), Some("America/Chicago"));
    assert_eq!(exdates[0].value.as_deref(), Some("20261028T160000"));

    let cancelled = cal
        .events
        .iter()
        .find(|e| prop(&e.properties, "RECURRENCE-ID").is_some())
        .expect("an override for the cancelled occurrence");
    assert_eq!(
        value(&cancelled.properties, "UID"),
        value(&m.properties, "UID")
    );
    let rid = prop(&cancelled.properties, "RECURRENCE-ID").unwrap();
    assert_eq!(param(rid, "TZID"), Some("America/Chicago"));
    assert_eq!(rid.value.as_deref(), Some("20261104T160000"));
    assert_eq!(value(&cancelled.properties, "STATUS"), "CANCELLED");
    assert_eq!(value(&cancelled.properties, "SEQUENCE"), "2");

    // What a client shows: the rule's instances without the EXDATE, with the
    // RECURRENCE-ID instance replaced by its cancelled override.
    let shown: Vec<DateTime<Utc>> = reexpand(m).iter().map(|o| o.with_timezone(&Utc)).collect();
    assert_eq!(
        shown,
        [
            utc("2026-10-21T21:00:00Z"),
            utc("2026-11-04T22:00:00Z"),
            utc("2026-11-11T22:00:00Z"),
        ]
    );
    let tz = timezone(&cal, "America/Chicago");
    assert_eq!(
        resolve_with_vtimezone(tz, local(rid.value.as_deref().unwrap())),
        utc("2026-11-04T22:00:00Z")
    );
}

#[test]
fn an_edited_occurrence_is_an_override_with_its_new_times() {
    let mut stored = series("FREQ=WEEKLY;COUNT=4", "2026-10-21T16:00", CHICAGO);
    stored[2].starts_at = utc("2026-11-05T23:00:00Z"); // Thursday 17:00 CST
    stored[2].ends_at = utc("2026-11-06T00:30:00Z");
    stored[2].detached = true;
    stored[2].sequence = 3;
    let cal = parse(&calendar("Me", &stored, &venues()));
    let edited = cal
        .events
        .iter()
        .find(|e| prop(&e.properties, "RECURRENCE-ID").is_some())
        .unwrap();
    assert_eq!(
        value(&edited.properties, "RECURRENCE-ID"),
        "20261104T160000"
    );
    assert_eq!(value(&edited.properties, "DTSTART"), "20261105T170000");
    assert_eq!(value(&edited.properties, "DTEND"), "20261105T183000");
    assert_eq!(value(&edited.properties, "STATUS"), "CONFIRMED");
    assert!(prop(&master(&cal).properties, "EXDATE").is_none());
}

#[test]
fn drafts_are_not_published_and_cancelled_events_are() {
    let mut draft = event(1, utc("2026-10-14T21:00:00Z"), "America/Chicago");
    draft.status = EventStatus::Draft;
    let mut cancelled = event(2, utc("2026-10-15T21:00:00Z"), "America/Chicago");
    cancelled.status = EventStatus::Cancelled;
    let mut online = event(3, utc("2026-10-16T21:00:00Z"), "America/New_York");
    online.venue_id = None;
    online.online_url = Some("https://meet.example.org/cluster-7?pw=a,b".into());
    let cal = parse(&calendar("Me", &[draft, cancelled, online], &venues()));
    assert_eq!(cal.events.len(), 2);
    assert_eq!(value(&cal.events[0].properties, "STATUS"), "CANCELLED");
    assert_eq!(
        value(&cal.events[1].properties, "URL"),
        "https://meet.example.org/cluster-7?pw=a,b"
    );
    assert_eq!(
        value(&cal.events[1].properties, "LOCATION"),
        "https://meet.example.org/cluster-7?pw=a\\,b"
    );
    // One VTIMEZONE per zone used.
    let mut zones: Vec<&str> = cal
        .timezones
        .iter()
        .map(|t| value(&t.properties, "TZID"))
        .collect();
    zones.sort();
    assert_eq!(zones, ["America/Chicago", "America/New_York"]);
}
