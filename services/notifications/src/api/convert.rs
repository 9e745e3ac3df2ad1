//! Proto ↔ domain conversions and the parsing of request fields; every
//! parse error names the field as the caller spelled it.

use chrono::NaiveTime;
use collegium_proto::notifications::v1 as pb;
use platform::{
    error::{Error, Result, Violations},
    events::DeadLetter,
};
use uuid::Uuid;

use crate::domain::{
    self, Category, Channel, ClusterMessage, Delivery, DeliveryStatus, Frequency, Notification,
    Preferences, Template, TenantSettings, validate,
};

pub use platform::fields::{id, page, page_info, ts};

pub fn opt_id(field: &str, value: &Option<String>) -> Result<Option<Uuid>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => id(field, v).map(Some),
    }
}

/// Ids of a list field, every bad one named (`ids[2]`).
pub fn ids(field: &str, values: &[String], max: usize) -> Result<Vec<Uuid>> {
    if values.len() > max {
        return Err(Error::invalid(field, format!("at most {max} ids per call")));
    }
    let mut v = Violations::new();
    let mut out = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        match Uuid::parse_str(value.trim()) {
            Ok(id) => out.push(id),
            Err(_) => v.add(format!("{field}[{i}]"), "not a valid id"),
        }
    }
    v.finish()?;
    Ok(out)
}

// ------------------------------------------------------------------ enums

pub fn category_in(field: &str, value: i32) -> Result<Category> {
    Ok(match pb::Category::try_from(value) {
        Ok(pb::Category::Invitations) => Category::Invitations,
        Ok(pb::Category::Changes) => Category::Changes,
        Ok(pb::Category::Reminders) => Category::Reminders,
        Ok(pb::Category::Scoring) => Category::Scoring,
        Ok(pb::Category::Compliance) => Category::Compliance,
        Ok(pb::Category::Newsletters) => Category::Newsletters,
        Ok(pb::Category::Account) => Category::Account,
        _ => return Err(Error::invalid(field, "unknown or unspecified category")),
    })
}

pub fn category_out(c: Category) -> pb::Category {
    match c {
        Category::Invitations => pb::Category::Invitations,
        Category::Changes => pb::Category::Changes,
        Category::Reminders => pb::Category::Reminders,
        Category::Scoring => pb::Category::Scoring,
        Category::Compliance => pb::Category::Compliance,
        Category::Newsletters => pb::Category::Newsletters,
        Category::Account => pb::Category::Account,
    }
}

pub fn channel_in(field: &str, value: i32) -> Result<Channel> {
    match pb::Channel::try_from(value) {
        Ok(pb::Channel::InApp) => Ok(Channel::InApp),
        Ok(pb::Channel::Email) => Ok(Channel::Email),
        _ => Err(Error::invalid(field, "unknown or unspecified channel")),
    }
}

pub fn channel_out(c: Channel) -> pb::Channel {
    match c {
        Channel::InApp => pb::Channel::InApp,
        Channel::Email => pb::Channel::Email,
    }
}

pub fn frequency_in(field: &str, value: i32) -> Result<Frequency> {
    match pb::Frequency::try_from(value) {
        Ok(pb::Frequency::Immediately) => Ok(Frequency::Immediately),
        Ok(pb::Frequency::Daily) => Ok(Frequency::Daily),
        Ok(pb::Frequency::Weekly) => Ok(Frequency::Weekly),
        Ok(pb::Frequency::Off) => Ok(Frequency::Off),
        _ => Err(Error::invalid(field, "unknown or unspecified frequency")),
    }
}

pub fn frequency_out(f: Frequency) -> pb::Frequency {
    match f {
        Frequency::Immediately => pb::Frequency::Immediately,
        Frequency::Daily => pb::Frequency::Daily,
        Frequency::Weekly => pb::Frequency::Weekly,
        Frequency::Off => pb::Frequency::Off,
    }
}

pub fn status_in(field: &str, value: i32) -> Result<DeliveryStatus> {
    match pb::DeliveryStatus::try_from(value) {
        Ok(pb::DeliveryStatus::Queued) => Ok(DeliveryStatus::Queued),
        Ok(pb::DeliveryStatus::Sent) => Ok(DeliveryStatus::Sent),
        Ok(pb::DeliveryStatus::Failed) => Ok(DeliveryStatus::Failed),
        Ok(pb::DeliveryStatus::Held) => Ok(DeliveryStatus::Held),
        Ok(pb::DeliveryStatus::Skipped) => Ok(DeliveryStatus::Skipped),
        _ => Err(Error::invalid(
            field,
            "unknown or unspecified delivery status",
        )),
    }
}

pub fn status_out(s: DeliveryStatus) -> pb::DeliveryStatus {
    match s {
        DeliveryStatus::Queued => pb::DeliveryStatus::Queued,
        DeliveryStatus::Sent => pb::DeliveryStatus::Sent,
        DeliveryStatus::Failed => pb::DeliveryStatus::Failed,
        DeliveryStatus::Held => pb::DeliveryStatus::Held,
        DeliveryStatus::Skipped => pb::DeliveryStatus::Skipped,
    }
}

// ------------------------------------------------------------------ messages

pub fn inbox_item(n: Notification) -> pb::InboxItem {
    pb::InboxItem {
        id: n.id.to_string(),
        category: category_out(n.category) as i32,
        title: n.title,
        body: n.body,
        link: n.link,
        created_at: ts(n.created_at),
        read_at: n.read_at.map(ts),
        archived_at: n.archived_at.map(ts),
        critical: n.critical,
    }
}

fn hhmm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

pub fn preferences_out(p: Preferences) -> pb::Preferences {
    let (start, end) = p
        .quiet_hours
        .map_or((String::new(), String::new()), |(s, e)| (hhmm(s), hhmm(e)));
    pb::Preferences {
        entries: p
            .entries
            .into_iter()
            .map(|(c, ch, f)| pb::CategoryPreference {
                category: category_out(c) as i32,
                channel: channel_out(ch) as i32,
                frequency: frequency_out(f) as i32,
            })
            .collect(),
        digest_time: hhmm(p.digest_time),
        digest_weekday: p.digest_weekday,
        time_zone: p.time_zone.unwrap_or_default(),
        quiet_hours_start: start,
        quiet_hours_end: end,
    }
}

/// A person's preferences from the request, every bad field named; empty
/// digest time and weekday mean the defaults (08:00, Monday).
pub fn preferences_in(person: Uuid, r: pb::Preferences) -> Result<Preferences> {
    let mut v = Violations::new();
    let mut entries = Vec::with_capacity(r.entries.len());
    for (i, e) in r.entries.iter().enumerate() {
        let c = category_in(&format!("entries[{i}].category"), e.category);
        let ch = channel_in(&format!("entries[{i}].channel"), e.channel);
        let f = frequency_in(&format!("entries[{i}].frequency"), e.frequency);
        for err in [c.as_ref().err(), ch.as_ref().err(), f.as_ref().err()]
            .into_iter()
            .flatten()
        {
            for violation in err.violations() {
                v.add(violation.field.clone(), violation.description.clone());
            }
        }
        if let (Ok(c), Ok(ch), Ok(f)) = (c, ch, f) {
            entries.push((c, ch, f));
        }
    }
    let digest_time = if r.digest_time.trim().is_empty() {
        Some(domain::preferences::DEFAULT_DIGEST_TIME)
    } else {
        collect(&mut v, validate::local_time("digest_time", &r.digest_time))
    };
    let quiet_hours = collect(
        &mut v,
        validate::quiet_hours(&r.quiet_hours_start, &r.quiet_hours_end),
    );
    let time_zone = Some(r.time_zone.trim().to_string()).filter(|z| !z.is_empty());
    let prefs = Preferences {
        person_id: person,
        entries,
        digest_time: digest_time.unwrap_or(domain::preferences::DEFAULT_DIGEST_TIME),
        digest_weekday: if r.digest_weekday == 0 {
            domain::preferences::DEFAULT_DIGEST_WEEKDAY
        } else {
            r.digest_weekday
        },
        time_zone,
        quiet_hours: quiet_hours.flatten(),
    };
    // The rules over the whole, reported together with the fields that did
    // not parse (those were left at their defaults above).
    collect(&mut v, validate::preferences(&prefs));
    v.finish()?;
    Ok(prefs)
}

/// Keeps a value, or adds its error's violations to `v`.
pub fn collect<T>(v: &mut Violations, r: Result<T>) -> Option<T> {
    match r {
        Ok(x) => Some(x),
        Err(e) => {
            match &e {
                Error::InvalidInput(list) => {
                    for f in list {
                        v.add(f.field.clone(), f.description.clone());
                    }
                }
                other => v.add("request", other.to_string()),
            }
            None
        }
    }
}

pub fn cluster_message_out(m: ClusterMessage) -> pb::ClusterMessage {
    pb::ClusterMessage {
        id: m.id.to_string(),
        cluster_id: m.cluster_id.to_string(),
        role: m.role.unwrap_or_default(),
        subject: m.subject,
        body: m.body,
        sent_by: m.sent_by,
        sent_at: ts(m.sent_at),
        recipients: m.recipients,
        unsubscribed: m.unsubscribed,
    }
}

pub fn delivery_out(d: Delivery) -> pb::Delivery {
    pb::Delivery {
        id: d.id.to_string(),
        notification_id: d.notification_id.to_string(),
        person_id: d.person_id.to_string(),
        channel: channel_out(d.channel) as i32,
        status: status_out(d.status) as i32,
        attempts: d.attempts,
        last_error: d.last_error.unwrap_or_default(),
        next_attempt_at: ts(d.next_attempt_at),
        updated_at: ts(d.updated_at),
    }
}

pub fn settings_out(s: TenantSettings) -> pb::TenantSettings {
    pb::TenantSettings {
        reminder_lead_hours: s.reminder_lead_hours,
        critical_categories: s
            .critical_categories
            .into_iter()
            .map(|c| category_out(c) as i32)
            .collect(),
    }
}

/// Most hours a reminder may go out before its event (a month).
pub const MAX_REMINDER_LEAD_HOURS: u32 = 720;

pub fn settings_in(r: pb::TenantSettings) -> Result<TenantSettings> {
    let mut v = Violations::new();
    if r.reminder_lead_hours > MAX_REMINDER_LEAD_HOURS {
        v.add(
            "reminder_lead_hours",
            format!("at most {MAX_REMINDER_LEAD_HOURS} (30 days); 0 turns reminders off"),
        );
    }
    let mut critical = Vec::new();
    for (i, c) in r.critical_categories.iter().enumerate() {
        if let Some(c) = collect(
            &mut v,
            category_in(&format!("critical_categories[{i}]"), *c),
        ) && !critical.contains(&c)
        {
            critical.push(c);
        }
    }
    v.finish()?;
    Ok(TenantSettings {
        reminder_lead_hours: r.reminder_lead_hours,
        critical_categories: critical,
    })
}

pub fn template_out(t: Template) -> pb::Template {
    pb::Template {
        category: category_out(t.category) as i32,
        locale: t.locale,
        subject: t.subject,
        text: t.text,
        html: t.html,
        event_type: t.event_type,
    }
}

pub fn template_in(r: pb::Template) -> Result<Template> {
    let category = category_in("category", r.category)?;
    let t = Template {
        event_type: r.event_type.trim().to_string(),
        category,
        locale: r.locale.trim().to_string(),
        subject: r.subject,
        text: r.text,
        html: r.html,
    };
    validate::template(&t)?;
    Ok(t)
}

pub fn dead_letter_out(d: DeadLetter) -> pb::DeadLetter {
    pb::DeadLetter {
        event_id: d.event.id.to_string(),
        event_type: d.event.event_type,
        deliveries: d.deliveries,
        occurred_at: ts(d.event.occurred_at),
    }
}
