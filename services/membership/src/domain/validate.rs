//! Input rules. Each function reports every bad field at once, named as the
//! API spells it, so a form can mark them all in one round trip.

use chrono::NaiveDate;
use platform::error::{Result, Violations};

use super::{
    Contact, NewConsent, NewMentorship, NewPerson, NewResearchOptOut, NewTenant, TenantSettings,
};

const MAX_NAME: usize = 200;
const MAX_TEXT: usize = 4000;

fn text(v: &mut Violations, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        v.add(field, "must not be empty");
    } else if value.chars().count() > max {
        v.add(field, format!("at most {max} characters"));
    }
}

fn optional_text(v: &mut Violations, field: &str, value: Option<&str>, max: usize) {
    if let Some(value) = value
        && value.chars().count() > max
    {
        v.add(field, format!("at most {max} characters"));
    }
}

/// A required name-like field.
pub fn name(v: &mut Violations, field: &str, value: &str) {
    text(v, field, value, MAX_NAME);
}

/// Free text that may be empty (descriptions, remarks).
pub fn long_text(v: &mut Violations, field: &str, value: &str) {
    if value.chars().count() > MAX_TEXT {
        v.add(field, format!("at most {MAX_TEXT} characters"));
    }
}

pub fn time_zone(v: &mut Violations, field: &str, tz: &str) {
    if tz.parse::<chrono_tz::Tz>().is_err() {
        v.add(field, format!("unknown IANA time zone {tz:?}"));
    }
}

/// A BCP 47 language tag in its common shape: `en`, `en-GB`, `pt-BR`, `zh-Hant-TW`.
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

pub fn settings(v: &mut Violations, prefix: &str, s: &TenantSettings) {
    time_zone(v, &format!("{prefix}.time_zone"), &s.time_zone);
    locale(v, &format!("{prefix}.locale"), &s.locale);
    let month_field = format!("{prefix}.academic_year_start_month");
    if !(1..=12).contains(&s.academic_year_start_month) {
        v.add(month_field, "must be a month from 1 to 12");
    } else if NaiveDate::from_ymd_opt(2001, s.academic_year_start_month, s.academic_year_start_day)
        .is_none()
    {
        // 2001 is not a leap year: 29 February would skip most years.
        v.add(
            format!("{prefix}.academic_year_start_day"),
            "not a day of that month in every year",
        );
    }
}

pub fn new_tenant(t: &NewTenant) -> Result<()> {
    let mut v = Violations::new();
    let slug_ok = (2..=63).contains(&t.slug.len())
        && t.slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !t.slug.starts_with('-')
        && !t.slug.ends_with('-');
    if !slug_ok {
        v.add("slug", "2-63 characters of a-z, 0-9 and inner hyphens");
    }
    name(&mut v, "name", &t.name);
    settings(&mut v, "settings", &t.settings);
    v.finish()
}

/// Normalises an e-mail address (trimmed, lower-case) or reports it.
pub fn email(v: &mut Violations, field: &str, value: &str) -> String {
    let e = value.trim().to_lowercase();
    let ok = match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(|c| c.is_whitespace() || c == ',' || c == ';')
                && !domain.contains('@')
                && e.len() <= 254
        }
        None => false,
    };
    if !ok {
        v.add(field, format!("{value:?} is not an e-mail address"));
    }
    e
}

pub fn contact(v: &mut Violations, prefix: &str, c: &Contact) -> Contact {
    let email = c
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(|e| email(v, &format!("{prefix}.email"), e));
    let phone = c
        .phone
        .as_deref()
        .and_then(|p| phone(v, &format!("{prefix}.phone"), p));
    optional_text(v, &format!("{prefix}.address"), c.address.as_deref(), 500);
    Contact {
        email,
        phone,
        address: c
            .address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string),
    }
}

/// A phone number (trimmed; `None` when blank), or reports it.
pub fn phone(v: &mut Violations, field: &str, value: &str) -> Option<String> {
    let p = value.trim();
    if p.is_empty() {
        return None;
    }
    let ok = p.len() <= 32
        && p.chars().filter(|c| c.is_ascii_digit()).count() >= 5
        && p.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !ok {
        v.add(field, format!("{p:?} is not a phone number"));
    }
    Some(p.to_string())
}

pub fn external_id(v: &mut Violations, field: &str, value: Option<&str>) {
    optional_text(v, field, value, 255);
}

/// Validates and normalises a new person.
pub fn new_person(p: &NewPerson) -> Result<NewPerson> {
    let mut v = Violations::new();
    name(&mut v, "given_name", &p.given_name);
    name(&mut v, "family_name", &p.family_name);
    let contact = contact(&mut v, "contact", &p.contact);
    external_id(&mut v, "external_id", p.external_id.as_deref());
    if let Some(tz) = &p.time_zone {
        time_zone(&mut v, "time_zone", tz);
    }
    v.finish()?;
    Ok(NewPerson {
        given_name: p.given_name.trim().to_string(),
        family_name: p.family_name.trim().to_string(),
        contact,
        ..p.clone()
    })
}

pub fn new_mentorship(m: &NewMentorship) -> Result<()> {
    let mut v = Violations::new();
    if m.mentor_id == m.new_teacher_id {
        v.add("new_teacher_id", "a person cannot mentor themselves");
    }
    if m.planned_end_on <= m.starts_on {
        v.add("planned_end_on", "must be after starts_on");
    }
    v.finish()
}

/// Parses a `YYYY-MM-DD` date field.
pub fn date(v: &mut Violations, field: &str, value: &str) -> Option<NaiveDate> {
    match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            v.add(field, format!("{value:?} is not a date (YYYY-MM-DD)"));
            None
        }
    }
}

/// The default end of an induction: two years after it starts.
pub fn induction_end(starts_on: NaiveDate) -> NaiveDate {
    starts_on
        .checked_add_months(chrono::Months::new(24))
        .unwrap_or(starts_on)
}

pub fn new_consent(c: &NewConsent) -> Result<()> {
    let mut v = Violations::new();
    let purpose_ok = (3..=100).contains(&c.purpose.len())
        && c.purpose
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
    if !purpose_ok {
        v.add(
            "purpose",
            "3-100 characters of a-z, 0-9 and hyphens, e.g. \"share-contact-with-cluster\"",
        );
    }
    if c.purpose_version == 0 {
        v.add("purpose_version", "must be 1 or more");
    }
    if c.by_proxy && c.remark.trim().is_empty() {
        v.add(
            "remark",
            "required when consent is recorded on someone else's behalf (say how it was given)",
        );
    }
    long_text(&mut v, "remark", &c.remark);
    v.finish()
}

pub fn new_opt_out(o: &NewResearchOptOut) -> Result<()> {
    let mut v = Violations::new();
    text(&mut v, "student_ref", &o.student_ref, 64);
    text(&mut v, "recorded_for", &o.recorded_for, MAX_NAME);
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TenantKind;

    fn tenant(slug: &str, settings: TenantSettings) -> NewTenant {
        NewTenant {
            slug: slug.into(),
            name: "North District".into(),
            kind: TenantKind::District,
            settings,
        }
    }

    #[test]
    fn settings_errors_name_each_field() {
        let bad = TenantSettings {
            time_zone: "Mars/Olympus".into(),
            locale: "english!".into(),
            academic_year_start_month: 2,
            academic_year_start_day: 30,
        };
        let err = new_tenant(&tenant("North", bad)).unwrap_err();
        let fields: Vec<_> = err.violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "slug",
                "settings.time_zone",
                "settings.locale",
                "settings.academic_year_start_day"
            ]
        );
    }

    #[test]
    fn good_settings_pass() {
        let ok = TenantSettings {
            time_zone: "America/Chicago".into(),
            locale: "en-US".into(),
            academic_year_start_month: 8,
            academic_year_start_day: 15,
        };
        assert!(new_tenant(&tenant("north-district", ok)).is_ok());
    }

    #[test]
    fn emails_are_normalised_or_refused() {
        let mut v = Violations::new();
        assert_eq!(email(&mut v, "e", "  Ana@School.ORG "), "ana@school.org");
        assert!(v.finish().is_ok());
        for bad in [
            "ana",
            "ana@school",
            "a b@x.org",
            "@x.org",
            "a@x.org,b@y.org",
        ] {
            let mut v = Violations::new();
            email(&mut v, "contact.email", bad);
            assert_eq!(
                v.finish().unwrap_err().violations()[0].field,
                "contact.email",
                "{bad}"
            );
        }
    }

    #[test]
    fn proxy_consent_needs_a_remark() {
        let c = NewConsent {
            subject: super::super::ConsentSubject::Person(uuid::Uuid::nil()),
            purpose: "share-contact-with-cluster".into(),
            purpose_version: 1,
            recorded_by: "x".into(),
            by_proxy: true,
            remark: " ".into(),
        };
        assert_eq!(new_consent(&c).unwrap_err().violations()[0].field, "remark");
    }

    #[test]
    fn induction_lasts_two_years() {
        let d = NaiveDate::from_ymd_opt(2026, 8, 20).unwrap();
        assert_eq!(
            induction_end(d),
            NaiveDate::from_ymd_opt(2028, 8, 20).unwrap()
        );
    }
}
