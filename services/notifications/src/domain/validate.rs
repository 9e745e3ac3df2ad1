//! Input rules; every bad field at once, named as the API spells it.
//!
//! Field names follow `notifications.proto`: `entries[2]`, `digest_time`,
//! `digest_weekday`, `time_zone`, `quiet_hours_start`, `quiet_hours_end`;
//! a template's `event_type`, `category`, `locale`, `subject`, `text`,
//! `html`; a cluster message's `subject` and `body`.

use std::collections::HashMap;

use chrono::NaiveTime;
use platform::error::{Error, Result, Violations};

use super::{Preferences, Template, render, routing};

pub const MAX_SUBJECT: usize = 200;
pub const MAX_TEXT: usize = 20_000;
pub const MAX_HTML: usize = 100_000;
/// RFC 5321: 254 characters in a forward path, 64 in a local part.
const MAX_ADDRESS: usize = 254;
const MAX_LOCAL_PART: usize = 64;

pub fn preferences(p: &Preferences) -> Result<()> {
    let mut v = Violations::new();
    let mut seen = HashMap::new();
    for (i, (category, channel, _)) in p.entries.iter().enumerate() {
        if let Some(first) = seen.insert((*category, *channel), i) {
            v.add(
                format!("entries[{i}]"),
                format!(
                    "a second setting for {} by {} (the first is entries[{first}])",
                    category.as_str(),
                    channel.as_str()
                ),
            );
        }
    }
    if !(1..=7).contains(&p.digest_weekday) {
        v.add(
            "digest_weekday",
            "must be an ISO weekday from 1 (Monday) to 7 (Sunday)",
        );
    }
    if let Some(zone) = &p.time_zone {
        if zone.trim().is_empty() {
            v.add(
                "time_zone",
                "must not be blank; leave it unset to use the person's zone",
            );
        } else if zone.parse::<chrono_tz::Tz>().is_err() {
            v.add("time_zone", format!("unknown IANA time zone {zone:?}"));
        }
    }
    if let Some((start, end)) = p.quiet_hours
        && start == end
    {
        v.add(
            "quiet_hours_end",
            "must differ from quiet_hours_start (leave both empty for no quiet hours)",
        );
    }
    v.finish()
}

/// Reads a local time of day as the API sends it, "HH:MM" (or "HH:MM:SS").
pub fn local_time(field: &str, value: &str) -> Result<NaiveTime> {
    let value = value.trim();
    NaiveTime::parse_from_str(value, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(value, "%H:%M:%S"))
        .map_err(|_| {
            Error::invalid(
                field,
                format!("{value:?} is not a time of day such as \"07:30\""),
            )
        })
}

/// Reads quiet hours as the API sends them: both empty (none), or two
/// different times of day. One without the other is refused.
pub fn quiet_hours(start: &str, end: &str) -> Result<Option<(NaiveTime, NaiveTime)>> {
    let (start, end) = (start.trim(), end.trim());
    let mut v = Violations::new();
    match (start.is_empty(), end.is_empty()) {
        (true, true) => return Ok(None),
        (false, true) => v.add(
            "quiet_hours_end",
            "set both quiet_hours_start and quiet_hours_end, or neither",
        ),
        (true, false) => v.add(
            "quiet_hours_start",
            "set both quiet_hours_start and quiet_hours_end, or neither",
        ),
        (false, false) => {}
    }
    let mut read = |field: &str, value: &str| {
        if value.is_empty() {
            return None;
        }
        local_time(field, value)
            .map_err(|e| {
                for f in e.violations() {
                    v.add(f.field.clone(), f.description.clone());
                }
            })
            .ok()
    };
    let (s, e) = (
        read("quiet_hours_start", start),
        read("quiet_hours_end", end),
    );
    if let (Some(s), Some(e)) = (s, e)
        && s == e
    {
        v.add(
            "quiet_hours_end",
            "must differ from quiet_hours_start (leave both empty for no quiet hours)",
        );
    }
    v.finish()?;
    Ok(s.zip(e))
}

pub fn template(t: &Template) -> Result<()> {
    let mut v = Violations::new();
    let routed = routing::category_of(&t.event_type);
    let known = routed.is_some() || t.event_type == render::CUSTOM;
    if !known {
        let mut types: Vec<&str> = routing::ROUTED.iter().map(|(t, _)| *t).collect();
        types.push(render::CUSTOM);
        v.add(
            "event_type",
            format!(
                "{:?} is not an event type people are told of; one of {}",
                t.event_type,
                types.join(", ")
            ),
        );
    }
    if let Some(category) = routed
        && category != t.category
    {
        v.add(
            "category",
            format!(
                "{} messages are in the category {}",
                t.event_type,
                category.as_str()
            ),
        );
    }
    locale(&mut v, "locale", &t.locale);
    text(&mut v, "subject", &t.subject, MAX_SUBJECT);
    text(&mut v, "text", &t.text, MAX_TEXT);
    text(&mut v, "html", &t.html, MAX_HTML);
    if known && let Err(e) = render::check(t) {
        for f in e.violations() {
            v.add(f.field.clone(), f.description.clone());
        }
    }
    v.finish()
}

/// A cluster message: subject 1..=200, body 1..=20000 characters.
pub fn cluster_message(subject: &str, body: &str) -> Result<()> {
    let mut v = Violations::new();
    text(&mut v, "subject", subject, MAX_SUBJECT);
    if subject.chars().any(|c| c == '\r' || c == '\n') {
        v.add("subject", "must be one line");
    }
    text(&mut v, "body", body, MAX_TEXT);
    v.finish()
}

/// A plain e-mail address check (the address comes from membership, which
/// validated it; this guards the SMTP envelope).
///
/// One `@`; a local part of up to 64 characters without white space,
/// control characters, quotes or the separators `<>()[],;:\`, and without
/// leading, trailing or doubled dots; a domain of dot-separated labels (at
/// least two) of letters, digits and inner hyphens; 254 characters in all.
/// Quoted local parts and address literals (`[192.0.2.1]`) are refused:
/// membership never produces them.
pub fn email_address(field: &str, address: &str) -> Result<()> {
    if is_email_address(address) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{address:?} is not an e-mail address"),
        ))
    }
}

fn is_email_address(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.chars().count() <= MAX_LOCAL_PART
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"\"<>()[],;:\\@".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().count() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    local_ok && domain_ok && address.chars().count() <= MAX_ADDRESS
}

/// A BCP 47 language tag in its common shape: `en`, `en-GB`, `es-419`,
/// `zh-Hant-TW` (the same rule as membership's tenant locale).
pub fn locale(v: &mut Violations, field: &str, tag: &str) {
    let mut parts = tag.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !(lang_ok && rest_ok) {
        v.add(
            field,
            format!("{tag:?} is not a language tag such as \"en-GB\""),
        );
    }
}

fn text(v: &mut Violations, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        v.add(field, "must not be empty");
    } else if value.chars().count() > max {
        v.add(field, format!("at most {max} characters"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, Channel, Frequency, preferences::defaults};
    use uuid::Uuid;

    fn fields<T: std::fmt::Debug>(r: Result<T>) -> Vec<String> {
        r.unwrap_err()
            .violations()
            .iter()
            .map(|v| v.field.clone())
            .collect()
    }

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    // ---- preferences

    #[test]
    fn good_preferences_pass() {
        let mut p = defaults(Uuid::nil());
        assert!(preferences(&p).is_ok());
        p.entries = vec![
            (Category::Invitations, Channel::Email, Frequency::Off),
            (
                Category::Invitations,
                Channel::InApp,
                Frequency::Immediately,
            ),
            (Category::Scoring, Channel::Email, Frequency::Weekly),
        ];
        p.digest_weekday = 7;
        p.time_zone = Some("America/Chicago".into());
        p.quiet_hours = Some((t(22, 0), t(7, 0)));
        assert!(preferences(&p).is_ok());
    }

    #[test]
    fn every_bad_preference_is_named_at_once() {
        let mut p = defaults(Uuid::nil());
        p.entries = vec![
            (Category::Invitations, Channel::Email, Frequency::Off),
            (Category::Changes, Channel::Email, Frequency::Daily),
            (Category::Invitations, Channel::Email, Frequency::Daily),
        ];
        p.digest_weekday = 0;
        p.time_zone = Some("Mars/Olympus_Mons".into());
        p.quiet_hours = Some((t(7, 0), t(7, 0)));
        let e = preferences(&p).unwrap_err();
        let v = e.violations();
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "entries[2]",
                "digest_weekday",
                "time_zone",
                "quiet_hours_end"
            ]
        );
        assert!(
            v[0].description.contains("invitations by email"),
            "{}",
            v[0].description
        );
        assert!(v[0].description.contains("entries[0]"));
        assert!(v[2].description.contains("Mars/Olympus_Mons"));
    }

    #[test]
    fn weekday_bounds_and_blank_zone() {
        let mut p = defaults(Uuid::nil());
        for (day, ok) in [(0, false), (1, true), (7, true), (8, false)] {
            p.digest_weekday = day;
            assert_eq!(preferences(&p).is_ok(), ok, "{day}");
        }
        p.digest_weekday = 1;
        p.time_zone = Some(" ".into());
        assert_eq!(fields(preferences(&p)), ["time_zone"]);
    }

    #[test]
    fn quiet_hours_are_both_or_neither_and_differ() {
        assert_eq!(quiet_hours("", "").unwrap(), None);
        assert_eq!(
            quiet_hours(" 22:00 ", "07:00").unwrap(),
            Some((t(22, 0), t(7, 0)))
        );
        assert_eq!(fields(quiet_hours("22:00", "")), ["quiet_hours_end"]);
        assert_eq!(fields(quiet_hours("", "07:00")), ["quiet_hours_start"]);
        assert_eq!(fields(quiet_hours("07:00", "07:00")), ["quiet_hours_end"]);
        assert_eq!(
            fields(quiet_hours("25:00", "7pm")),
            ["quiet_hours_start", "quiet_hours_end"]
        );
    }

    #[test]
    fn local_times_read_hh_mm() {
        assert_eq!(local_time("digest_time", "07:30").unwrap(), t(7, 30));
        assert_eq!(local_time("digest_time", "18:05:00").unwrap(), t(18, 5));
        for bad in ["", "7", "24:00", "07:60", "noon"] {
            assert_eq!(
                fields(local_time("digest_time", bad).map(|_| ())),
                ["digest_time"],
                "{bad}"
            );
        }
    }

    // ---- templates

    fn cancelled() -> Template {
        render::builtin(routing::EVENT_CANCELLED).unwrap()
    }

    #[test]
    fn builtins_and_custom_templates_pass() {
        for (event_type, _) in routing::ROUTED {
            let mut t = render::builtin(event_type).unwrap();
            t.locale = "en-GB".into();
            assert!(template(&t).is_ok(), "{event_type}");
        }
        let mut custom = render::builtin(render::CUSTOM).unwrap();
        custom.category = Category::Compliance;
        assert!(template(&custom).is_ok());
    }

    #[test]
    fn template_event_type_category_and_locale_are_checked() {
        let t = Template {
            event_type: "scheduling.venue.created".into(),
            ..cancelled()
        };
        let e = template(&t).unwrap_err();
        assert_eq!(e.violations()[0].field, "event_type");
        assert!(
            e.violations()[0]
                .description
                .contains("scheduling.event.cancelled")
        );
        let t = Template {
            category: Category::Newsletters,
            ..cancelled()
        };
        assert_eq!(fields(template(&t)), ["category"]);
        for (locale, ok) in [
            ("en", true),
            ("en-GB", true),
            ("es-419", true),
            ("zh-Hant-TW", true),
            ("", false),
            ("english", false),
            ("en_GB", false),
            ("e", false),
            ("en-", false),
            ("en--GB", false),
        ] {
            let t = Template {
                locale: locale.into(),
                ..cancelled()
            };
            assert_eq!(template(&t).is_ok(), ok, "{locale:?}");
        }
    }

    #[test]
    fn template_lengths() {
        let t = Template {
            subject: "s".repeat(MAX_SUBJECT + 1),
            text: "t".repeat(MAX_TEXT + 1),
            html: "h".repeat(MAX_HTML + 1),
            ..cancelled()
        };
        assert_eq!(fields(template(&t)), ["subject", "text", "html"]);
        // Characters, not bytes.
        let t = Template {
            subject: "é".repeat(MAX_SUBJECT),
            ..cancelled()
        };
        assert!(template(&t).is_ok());
        let t = Template {
            text: "  \n".into(),
            ..cancelled()
        };
        assert_eq!(fields(template(&t)), ["text"]);
    }

    #[test]
    fn template_errors_come_from_the_renderer_too() {
        let t = Template {
            locale: "xx_YY".into(),
            html: "<p>{{ cancellation_reason }}</p>".into(),
            ..cancelled()
        };
        let e = template(&t).unwrap_err();
        let v = e.violations();
        assert_eq!(v[0].field, "locale");
        assert_eq!(v[1].field, "html");
        assert_eq!(
            v[1].description,
            "unknown template variable `cancellation_reason`"
        );
    }

    // ---- cluster messages

    #[test]
    fn cluster_message_bounds() {
        assert!(cluster_message("Study group moved", "From next week on Thursdays.").is_ok());
        assert_eq!(fields(cluster_message(" ", "")), ["subject", "body"]);
        assert_eq!(
            fields(cluster_message(&"s".repeat(201), &"b".repeat(20_001))),
            ["subject", "body"]
        );
        assert!(cluster_message(&"s".repeat(200), &"b".repeat(20_000)).is_ok());
        assert_eq!(
            fields(cluster_message("Hi\r\nBcc: x@y.org", "body")),
            ["subject"]
        );
    }

    // ---- e-mail addresses

    #[test]
    fn plain_addresses_pass() {
        for ok in [
            "ana@school.org",
            "Ana.Lima+cluster@north-district.k12.us",
            "o'brien@example.ie",
            "lehrer@schule.bayern",
            "jürgen@müller.de",
        ] {
            assert!(email_address("email", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_addresses_are_refused_naming_the_field() {
        for bad in [
            "",
            "ana",
            "ana@school",
            "@school.org",
            "ana@",
            "a b@school.org",
            "ana@school.org ",
            "ana@@school.org",
            "ana@school@org.org",
            "a@x.org,b@y.org",
            "ana@school..org",
            "ana@.school.org",
            "ana@-school.org",
            "ana@school.org.",
            ".ana@school.org",
            "ana.@school.org",
            "an..a@school.org",
            "\"ana\"@school.org",
            "ana@[192.0.2.1]",
            "ana\r\nRCPT TO:<x@y.org>@school.org",
            "<ana@school.org>",
        ] {
            let e = email_address("recipient.email", bad).unwrap_err();
            assert_eq!(e.violations()[0].field, "recipient.email", "{bad:?}");
        }
        let long_local = format!("{}@school.org", "a".repeat(65));
        assert!(email_address("e", &long_local).is_err());
        let long = format!("a@{}.org", vec!["b".repeat(59); 5].join("."));
        assert!(email_address("e", &long).is_err(), "{}", long.len());
    }
}
