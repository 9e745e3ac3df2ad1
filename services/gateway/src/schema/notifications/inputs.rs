//! Notifications' mutation inputs: one input object per protobuf request,
//! field for field and named as the request's fields in camelCase, so a
//! field violation the service reports (`quiet_hours_start`) reaches the
//! client as the input field it typed (`quietHoursStart`).
//!
//! The gateway checks shapes only (GraphQL types, required fields); what
//! the values mean (a time zone exists, quiet hours make sense, a template
//! renders, the caller leads the cluster, an idempotency key was used for
//! a different request) is the service's to decide, once, for every client.

use async_graphql::{ID, InputObject};
use collegium_proto::notifications::v1 as pb;

use super::enums::{NotificationCategory, NotificationChannel, NotificationFrequency};
use crate::schema::membership::Role;

fn ids(ids: Vec<ID>) -> Vec<String> {
    ids.into_iter().map(|id| id.0).collect()
}

/// How often the person hears of one category on one channel.
#[derive(InputObject)]
pub struct CategoryPreferenceInput {
    pub category: NotificationCategory,
    pub channel: NotificationChannel,
    pub frequency: NotificationFrequency,
}

impl From<CategoryPreferenceInput> for pb::CategoryPreference {
    fn from(i: CategoryPreferenceInput) -> Self {
        Self {
            category: i.category.to_proto() as i32,
            channel: i.channel.to_proto() as i32,
            frequency: i.frequency.to_proto() as i32,
        }
    }
}

/// The caller's notification preferences, sent whole (as the service
/// stores them). A field left out is blank: the service's default digest
/// time and weekday, the person's own time zone, no quiet hours.
#[derive(InputObject)]
pub struct NotificationPreferencesInput {
    /// One entry per category and channel.
    pub entries: Vec<CategoryPreferenceInput>,
    /// Local time of day for digests, `HH:MM`, in `timeZone`.
    pub digest_time: Option<String>,
    /// ISO weekday weekly digests go out on (1 = Monday … 7 = Sunday).
    pub digest_weekday: Option<u32>,
    /// IANA zone, e.g. `Europe/London`; left out: the person's zone in
    /// membership, else the tenant's.
    pub time_zone: Option<String>,
    /// No e-mail between these local times, e.g. `22:00` to `07:00`.
    pub quiet_hours_start: Option<String>,
    pub quiet_hours_end: Option<String>,
}

impl From<NotificationPreferencesInput> for pb::Preferences {
    fn from(i: NotificationPreferencesInput) -> Self {
        Self {
            entries: i.entries.into_iter().map(Into::into).collect(),
            digest_time: i.digest_time.unwrap_or_default(),
            digest_weekday: i.digest_weekday.unwrap_or_default(),
            time_zone: i.time_zone.unwrap_or_default(),
            quiet_hours_start: i.quiet_hours_start.unwrap_or_default(),
            quiet_hours_end: i.quiet_hours_end.unwrap_or_default(),
        }
    }
}

/// A cluster lead's message to their cluster: the newsletter or group list.
#[derive(InputObject)]
pub struct SendClusterMessageInput {
    pub cluster_id: ID,
    /// Only the people holding this role in the cluster (e.g. every
    /// building coordinator); left out: the whole cluster.
    pub role: Option<Role>,
    pub subject: String,
    /// Plain text; paragraphs separated by blank lines.
    pub body: String,
    /// Chosen by the client, new for each message; a retry with the same
    /// key sends nothing twice.
    pub idempotency_key: String,
}

impl From<SendClusterMessageInput> for pb::SendClusterMessageRequest {
    fn from(i: SendClusterMessageInput) -> Self {
        Self {
            cluster_id: i.cluster_id.0,
            role: i.role.map(Role::token_name).unwrap_or_default(),
            subject: i.subject,
            body: i.body,
            idempotency_key: i.idempotency_key,
        }
    }
}

/// A notification sent directly to named people (admins and services).
#[derive(InputObject)]
pub struct NotifyInput {
    /// Chosen by the client, new for each notification: the same key with
    /// the same input replays the first answer; with a different input it
    /// is a CONFLICT.
    pub idempotency_key: String,
    pub person_ids: Vec<ID>,
    pub category: NotificationCategory,
    pub title: String,
    pub body: String,
    /// Where the web client takes the person, e.g. `/events/<id>`.
    pub link: Option<String>,
    /// Bypasses digests and quiet hours.
    #[graphql(default)]
    pub critical: bool,
}

impl From<NotifyInput> for pb::NotifyRequest {
    fn from(i: NotifyInput) -> Self {
        Self {
            idempotency_key: i.idempotency_key,
            person_ids: ids(i.person_ids),
            category: i.category.to_proto() as i32,
            title: i.title,
            body: i.body,
            link: i.link.unwrap_or_default(),
            critical: i.critical,
        }
    }
}

/// A tenant's template for one category and locale (minijinja).
#[derive(InputObject)]
pub struct NotificationTemplateInput {
    pub category: NotificationCategory,
    /// BCP 47, e.g. `en-GB`; the tenant's locale, then `en`, are the
    /// fallbacks.
    pub locale: String,
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part; left out: plain text only.
    pub html: Option<String>,
    /// The event type the template renders, e.g. `scheduling.event.cancelled`.
    pub event_type: Option<String>,
}

impl From<NotificationTemplateInput> for pb::Template {
    fn from(i: NotificationTemplateInput) -> Self {
        Self {
            category: i.category.to_proto() as i32,
            locale: i.locale,
            subject: i.subject,
            text: i.text,
            html: i.html.unwrap_or_default(),
            event_type: i.event_type.unwrap_or_default(),
        }
    }
}

/// The tenant's notification settings, all at once.
#[derive(InputObject)]
pub struct NotificationSettingsInput {
    /// Hours before an event that its reminder goes to those who accepted.
    pub reminder_lead_hours: u32,
    /// Categories whose messages bypass digests and quiet hours.
    pub critical_categories: Vec<NotificationCategory>,
}

impl From<NotificationSettingsInput> for pb::TenantSettings {
    fn from(i: NotificationSettingsInput) -> Self {
        Self {
            reminder_lead_hours: i.reminder_lead_hours,
            critical_categories: i
                .critical_categories
                .into_iter()
                .map(|c| c.to_proto() as i32)
                .collect(),
        }
    }
}

/// The ids of `markRead` and `archive`, as the service's request.
pub(super) fn mark_request(ids_given: Vec<ID>) -> pb::MarkRequest {
    pb::MarkRequest {
        ids: ids(ids_given),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ID {
        ID(s.into())
    }

    #[test]
    fn preferences_become_their_request_field_for_field() {
        let req: pb::Preferences = NotificationPreferencesInput {
            entries: vec![
                CategoryPreferenceInput {
                    category: NotificationCategory::Newsletters,
                    channel: NotificationChannel::Email,
                    frequency: NotificationFrequency::Weekly,
                },
                CategoryPreferenceInput {
                    category: NotificationCategory::Changes,
                    channel: NotificationChannel::InApp,
                    frequency: NotificationFrequency::Immediately,
                },
            ],
            digest_time: Some("07:30".into()),
            digest_weekday: Some(1),
            time_zone: Some("Europe/London".into()),
            quiet_hours_start: Some("22:00".into()),
            quiet_hours_end: Some("07:00".into()),
        }
        .into();
        assert_eq!(
            req,
            pb::Preferences {
                entries: vec![
                    pb::CategoryPreference {
                        category: pb::Category::Newsletters as i32,
                        channel: pb::Channel::Email as i32,
                        frequency: pb::Frequency::Weekly as i32,
                    },
                    pb::CategoryPreference {
                        category: pb::Category::Changes as i32,
                        channel: pb::Channel::InApp as i32,
                        frequency: pb::Frequency::Immediately as i32,
                    },
                ],
                digest_time: "07:30".into(),
                digest_weekday: 1,
                time_zone: "Europe/London".into(),
                quiet_hours_start: "22:00".into(),
                quiet_hours_end: "07:00".into(),
            }
        );
        let req: pb::Preferences = NotificationPreferencesInput {
            entries: vec![],
            digest_time: None,
            digest_weekday: None,
            time_zone: None,
            quiet_hours_start: None,
            quiet_hours_end: None,
        }
        .into();
        assert_eq!(req, pb::Preferences::default());
    }

    #[test]
    fn cluster_messages_name_the_role_as_membership_does() {
        let req: pb::SendClusterMessageRequest = SendClusterMessageInput {
            cluster_id: id("c"),
            role: Some(Role::BuildingCoordinator),
            subject: "Scoring week".into(),
            body: "Dear coordinators,\n\nsee you on Monday.".into(),
            idempotency_key: "k-1".into(),
        }
        .into();
        assert_eq!(
            req,
            pb::SendClusterMessageRequest {
                cluster_id: "c".into(),
                role: "building_coordinator".into(),
                subject: "Scoring week".into(),
                body: "Dear coordinators,\n\nsee you on Monday.".into(),
                idempotency_key: "k-1".into(),
            }
        );
        let req: pb::SendClusterMessageRequest = SendClusterMessageInput {
            cluster_id: id("c"),
            role: None,
            subject: "s".into(),
            body: "b".into(),
            idempotency_key: "k-2".into(),
        }
        .into();
        assert_eq!(req.role, "");
    }

    #[test]
    fn notify_becomes_its_request_with_the_idempotency_key() {
        let req: pb::NotifyRequest = NotifyInput {
            idempotency_key: "k-3".into(),
            person_ids: vec![id("p1"), id("p2")],
            category: NotificationCategory::Account,
            title: "Consent recorded".into(),
            body: "Thank you.".into(),
            link: Some("/consent".into()),
            critical: true,
        }
        .into();
        assert_eq!(
            req,
            pb::NotifyRequest {
                idempotency_key: "k-3".into(),
                person_ids: vec!["p1".into(), "p2".into()],
                category: pb::Category::Account as i32,
                title: "Consent recorded".into(),
                body: "Thank you.".into(),
                link: "/consent".into(),
                critical: true,
            }
        );
        let req: pb::NotifyRequest = NotifyInput {
            idempotency_key: "k-4".into(),
            person_ids: vec![],
            category: NotificationCategory::Reminders,
            title: "t".into(),
            body: "b".into(),
            link: None,
            critical: false,
        }
        .into();
        assert_eq!((req.link.as_str(), req.critical), ("", false));
    }

    #[test]
    fn templates_and_settings_become_their_requests() {
        let req: pb::Template = NotificationTemplateInput {
            category: NotificationCategory::Changes,
            locale: "en-GB".into(),
            subject: "{{ event.title }} is cancelled".into(),
            text: "Sorry.".into(),
            html: Some("<p>Sorry.</p>".into()),
            event_type: Some("scheduling.event.cancelled".into()),
        }
        .into();
        assert_eq!(
            req,
            pb::Template {
                category: pb::Category::Changes as i32,
                locale: "en-GB".into(),
                subject: "{{ event.title }} is cancelled".into(),
                text: "Sorry.".into(),
                html: "<p>Sorry.</p>".into(),
                event_type: "scheduling.event.cancelled".into(),
            }
        );
        let req: pb::Template = NotificationTemplateInput {
            category: NotificationCategory::Scoring,
            locale: "en".into(),
            subject: "s".into(),
            text: "t".into(),
            html: None,
            event_type: None,
        }
        .into();
        assert_eq!((req.html.as_str(), req.event_type.as_str()), ("", ""));

        let req: pb::TenantSettings = NotificationSettingsInput {
            reminder_lead_hours: 48,
            critical_categories: vec![NotificationCategory::Changes, NotificationCategory::Account],
        }
        .into();
        assert_eq!(
            req,
            pb::TenantSettings {
                reminder_lead_hours: 48,
                critical_categories: vec![
                    pb::Category::Changes as i32,
                    pb::Category::Account as i32
                ],
            }
        );
        assert_eq!(
            mark_request(vec![id("n1"), id("n2")]),
            pb::MarkRequest {
                ids: vec!["n1".into(), "n2".into()],
            }
        );
    }
}
