//! Notifications' output types: thin wrappers over the protobuf messages
//! that expose them in the schema's spelling (camelCase, `ID`s, enums,
//! typed times, null for protobuf's blanks).
//!
//! Relations go through membership's per-request loader: a delivery's
//! person, a cluster message's cluster and its sender (when the sender is a
//! person rather than a service). They are nullable on purpose: membership
//! answers only with what the caller's tenant holds and the caller may see.
//! An inbox item has no relations: it is pushed live over the subscription,
//! and whatever it points at is in its `link`.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use collegium_proto::notifications::v1 as pb;
use platform::Error;

use super::enums::{
    DeliveryStatus, NotificationCategory, NotificationChannel, NotificationFrequency,
};
use crate::{
    error::graphql_error,
    schema::{
        convert::{instant, non_empty, optional_instant},
        membership::{Cluster, Person, Role, membership},
    },
};

/// One message in a person's in-app inbox.
pub struct InboxItem(pub pb::InboxItem);

#[Object]
impl InboxItem {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn category(&self) -> Result<NotificationCategory> {
        NotificationCategory::from_service(self.0.category)
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    /// Where the web client takes the person, e.g. `/events/<id>`.
    async fn link(&self) -> Option<String> {
        non_empty(&self.0.link)
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        instant("inbox_item.created_at", &self.0.created_at)
    }

    /// Null while unread.
    async fn read_at(&self) -> Result<Option<DateTime<Utc>>> {
        optional_instant("inbox_item.read_at", self.0.read_at.as_ref())
    }

    /// Null unless archived.
    async fn archived_at(&self) -> Result<Option<DateTime<Utc>>> {
        optional_instant("inbox_item.archived_at", self.0.archived_at.as_ref())
    }

    /// Critical messages bypass digests and quiet hours.
    async fn critical(&self) -> bool {
        self.0.critical
    }
}

/// The inbox connection's own fields, next to `edges` and `pageInfo`.
#[derive(SimpleObject)]
pub struct InboxCounts {
    /// Unread items in the caller's whole inbox (not only this page).
    pub unread_count: u32,
}

/// The answer to marking items read or archived.
#[derive(SimpleObject)]
pub struct MarkResult {
    /// Items whose state changed (ids of other people's items, or items
    /// already in that state, change nothing).
    pub changed: u32,
    /// Unread items left in the caller's inbox.
    pub unread_count: u32,
}

impl From<pb::MarkResponse> for MarkResult {
    fn from(r: pb::MarkResponse) -> Self {
        Self {
            changed: r.changed,
            unread_count: r.unread_count,
        }
    }
}

/// How often a person hears of one category on one channel.
pub struct CategoryPreference(pub pb::CategoryPreference);

#[Object]
impl CategoryPreference {
    async fn category(&self) -> Result<NotificationCategory> {
        NotificationCategory::from_service(self.0.category)
    }

    async fn channel(&self) -> Result<NotificationChannel> {
        NotificationChannel::from_service(self.0.channel)
    }

    async fn frequency(&self) -> Result<NotificationFrequency> {
        NotificationFrequency::from_service(self.0.frequency)
    }
}

/// A person's notification preferences.
pub struct NotificationPreferences(pub pb::Preferences);

#[Object]
impl NotificationPreferences {
    async fn entries(&self) -> Vec<CategoryPreference> {
        self.0
            .entries
            .iter()
            .cloned()
            .map(CategoryPreference)
            .collect()
    }

    /// Local time of day for digests, `HH:MM`, in `timeZone`.
    async fn digest_time(&self) -> Option<String> {
        non_empty(&self.0.digest_time)
    }

    /// ISO weekday weekly digests go out on (1 = Monday).
    async fn digest_weekday(&self) -> Option<u32> {
        (self.0.digest_weekday > 0).then_some(self.0.digest_weekday)
    }

    /// IANA zone; null: the person's zone in membership, else the tenant's.
    async fn time_zone(&self) -> Option<String> {
        non_empty(&self.0.time_zone)
    }

    /// No e-mail from this local time …
    async fn quiet_hours_start(&self) -> Option<String> {
        non_empty(&self.0.quiet_hours_start)
    }

    /// … until this one; both null: no quiet hours.
    async fn quiet_hours_end(&self) -> Option<String> {
        non_empty(&self.0.quiet_hours_end)
    }
}

/// A message a cluster lead sent to their cluster (newsletter, group list).
pub struct ClusterMessage(pub pb::ClusterMessage);

#[Object]
impl ClusterMessage {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn cluster_id(&self) -> ID {
        ID(self.0.cluster_id.clone())
    }

    async fn cluster(&self, ctx: &Context<'_>) -> Result<Option<Cluster>> {
        membership(ctx)?.cluster(Some(&self.0.cluster_id)).await
    }

    /// Only the people holding this role in the cluster; null: everyone.
    async fn role(&self) -> Result<Option<Role>> {
        if self.0.role.is_empty() {
            return Ok(None);
        }
        Role::from_token_name(&self.0.role).map(Some).ok_or_else(|| {
            graphql_error(Error::internal(anyhow::anyhow!(
                "notifications sent cluster_message.role = {:?}, which this gateway does not know",
                self.0.role
            )))
        })
    }

    async fn subject(&self) -> &str {
        &self.0.subject
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    /// Who sent it: a person's id, or a service's name.
    async fn sent_by_id(&self) -> ID {
        ID(self.0.sent_by.clone())
    }

    /// The person who sent it; null when a service sent it (or the person
    /// is not visible to the caller).
    async fn sent_by(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.sent_by)).await
    }

    async fn sent_at(&self) -> Result<DateTime<Utc>> {
        instant("cluster_message.sent_at", &self.0.sent_at)
    }

    /// People it went to.
    async fn recipients(&self) -> u32 {
        self.0.recipients
    }

    /// People left out because they unsubscribed from newsletters.
    async fn unsubscribed(&self) -> u32 {
        self.0.unsubscribed
    }
}

/// The answer to a direct notification.
#[derive(SimpleObject)]
pub struct NotifyResult {
    /// One notification per person.
    pub notification_ids: Vec<ID>,
    /// True when this is the replay of an earlier identical request (same
    /// idempotency key): nothing was sent again.
    pub replayed: bool,
}

impl From<pb::NotifyResponse> for NotifyResult {
    fn from(r: pb::NotifyResponse) -> Self {
        Self {
            notification_ids: r.notification_ids.into_iter().map(ID).collect(),
            replayed: r.replayed,
        }
    }
}

/// One notification on its way to one person on one channel.
pub struct Delivery(pub pb::Delivery);

#[Object]
impl Delivery {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn notification_id(&self) -> ID {
        ID(self.0.notification_id.clone())
    }

    async fn person_id(&self) -> ID {
        ID(self.0.person_id.clone())
    }

    async fn person(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.person_id)).await
    }

    async fn channel(&self) -> Result<NotificationChannel> {
        NotificationChannel::from_service(self.0.channel)
    }

    async fn status(&self) -> Result<DeliveryStatus> {
        DeliveryStatus::from_service(self.0.status)
    }

    /// Attempts so far.
    async fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<String> {
        non_empty(&self.0.last_error)
    }

    /// When it is tried again; null when nothing is scheduled.
    async fn next_attempt_at(&self) -> Result<Option<DateTime<Utc>>> {
        optional_instant("delivery.next_attempt_at", Some(&self.0.next_attempt_at))
    }

    async fn updated_at(&self) -> Result<DateTime<Utc>> {
        instant("delivery.updated_at", &self.0.updated_at)
    }
}

/// The tenant's notification settings.
pub struct NotificationSettings(pub pb::TenantSettings);

#[Object]
impl NotificationSettings {
    /// Hours before an event that its reminder goes to those who accepted.
    async fn reminder_lead_hours(&self) -> u32 {
        self.0.reminder_lead_hours
    }

    /// Categories whose messages bypass digests and quiet hours.
    async fn critical_categories(&self) -> Result<Vec<NotificationCategory>> {
        self.0
            .critical_categories
            .iter()
            .map(|c| NotificationCategory::from_service(*c))
            .collect()
    }
}

/// A tenant's template for one category and locale.
pub struct NotificationTemplate(pub pb::Template);

#[Object]
impl NotificationTemplate {
    async fn category(&self) -> Result<NotificationCategory> {
        NotificationCategory::from_service(self.0.category)
    }

    /// BCP 47, e.g. `en-GB`.
    async fn locale(&self) -> &str {
        &self.0.locale
    }

    async fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The plain-text part.
    async fn text(&self) -> &str {
        &self.0.text
    }

    /// The HTML part; null: plain text only.
    async fn html(&self) -> Option<String> {
        non_empty(&self.0.html)
    }

    /// The event type it renders, e.g. `scheduling.event.cancelled`.
    async fn event_type(&self) -> Option<String> {
        non_empty(&self.0.event_type)
    }
}

/// A domain event parked after too many failed deliveries, waiting for an
/// operator to replay it.
pub struct DeadLetter(pub pb::DeadLetter);

#[Object]
impl DeadLetter {
    async fn event_id(&self) -> ID {
        ID(self.0.event_id.clone())
    }

    /// E.g. `scheduling.event.cancelled`.
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }

    /// Times it was delivered to the service before being parked.
    async fn deliveries(&self) -> u32 {
        self.0.deliveries
    }

    async fn occurred_at(&self) -> Result<DateTime<Utc>> {
        instant("dead_letter.occurred_at", &self.0.occurred_at)
    }
}
