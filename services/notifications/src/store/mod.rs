//! Persistence of notifications. [`NotificationsStore`] is the one interface,
//! with a PostgreSQL and a SQLite implementation generated from one SQL body
//! (`sql.rs`, as in membership and scheduling); `tests/store_contract.rs` runs
//! against both.
//!
//! Tenant calls run in one tenant transaction and audit their mutations.
//! The delivery and reminder workers claim work across tenants with the
//! operator role (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several pods
//! share the queue), then record each outcome in that tenant's transaction.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::{
    auth::TenantId,
    error::Result,
    events::{EventBus, EventEnvelope},
    page::Page,
    retention::{Count, Cutoffs},
};
use uuid::Uuid;

use crate::domain::*;

/// A page of results and the token of the next page ("" when done).
pub type Paged<T> = (Vec<T>, String);

/// One notification to store with the deliveries planned for it.
#[derive(Debug, Clone)]
pub struct Planned {
    pub notification: Notification,
    pub deliveries: Vec<Delivery>,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// Try again at this time (backoff with jitter), with the error.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// Give up (attempts exhausted or permanent error).
    Failed {
        error: String,
    },
    Skipped {
        reason: String,
    },
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub notification_id: Option<Uuid>,
    pub status: Option<DeliveryStatus>,
    pub person_id: Option<Uuid>,
}

/// A reminder to send before an event (kept from scheduling's events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    pub event_id: Uuid,
    pub remind_at: DateTime<Utc>,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub time_zone: String,
}

/// What an erasure changed: (kind of row, rows changed), in a fixed order.
pub type ErasedCounts = Vec<(String, u64)>;

#[async_trait]
pub trait NotificationsStore: Send + Sync + 'static {
    /// Stores notifications with their deliveries in one transaction. When
    /// `source` is given the consumer's `first_delivery` is recorded in the
    /// same transaction, and a redelivered event stores nothing (returns
    /// empty). A (person, source event) pair is stored at most once.
    async fn enqueue(
        &self,
        t: TenantId,
        source: Option<(&str, &EventEnvelope)>,
        planned: Vec<Planned>,
    ) -> Result<Vec<Notification>>;

    // ---- inbox
    async fn list_inbox(
        &self,
        t: TenantId,
        person: Uuid,
        unread_only: bool,
        include_archived: bool,
        page: Page,
    ) -> Result<Paged<Notification>>;
    async fn unread_count(&self, t: TenantId, person: Uuid) -> Result<u32>;
    /// Marks the person's own notifications read (or archived); other ids are ignored.
    async fn mark(&self, t: TenantId, person: Uuid, ids: &[Uuid], archive: bool) -> Result<u32>;
    async fn mark_all_read(&self, t: TenantId, person: Uuid) -> Result<u32>;

    // ---- preferences
    async fn preferences(&self, t: TenantId, people: &[Uuid]) -> Result<Vec<Preferences>>;
    async fn set_preferences(
        &self,
        t: TenantId,
        actor: &str,
        prefs: Preferences,
    ) -> Result<Preferences>;
    /// The secret id of a person's one-click unsubscribe link for a category
    /// (created on first use; only a hash is stored).
    async fn unsubscribe_token(
        &self,
        t: TenantId,
        person: Uuid,
        category: Category,
        secret_hash: &str,
    ) -> Result<Uuid>;
    /// Turns e-mail off for the token's person and category; NotFound for an
    /// unknown token or a wrong secret.
    async fn unsubscribe(&self, t: TenantId, token: Uuid, secret_hash: &str) -> Result<Category>;

    // ---- templates
    async fn set_template(&self, t: TenantId, actor: &str, template: Template) -> Result<Template>;
    async fn list_templates(&self, t: TenantId) -> Result<Vec<Template>>;

    // ---- cluster messages (newsletters)
    async fn record_cluster_message(
        &self,
        t: TenantId,
        actor: &str,
        message: ClusterMessage,
    ) -> Result<ClusterMessage>;
    async fn list_cluster_messages(
        &self,
        t: TenantId,
        cluster: Uuid,
        page: Page,
    ) -> Result<Paged<ClusterMessage>>;

    // ---- idempotency keys of direct triggers
    /// The stored answer for `key`: `Ok(None)` if unseen, `Ok(Some(answer))`
    /// for the same request, CONFLICT for a different request under the key.
    async fn idempotent_answer(
        &self,
        t: TenantId,
        key: &str,
        request_hash: &str,
    ) -> Result<Option<serde_json::Value>>;
    async fn remember_answer(
        &self,
        t: TenantId,
        key: &str,
        request_hash: &str,
        answer: serde_json::Value,
    ) -> Result<()>;

    // ---- deliveries (workers)
    /// Claims up to `limit` queued or held deliveries due by `now`, across
    /// tenants, leasing them until `lease_until` so no other worker takes them.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(TenantId, Delivery, Notification)>>;
    async fn record_outcome(&self, t: TenantId, delivery: Uuid, outcome: Outcome) -> Result<()>;
    async fn list_deliveries(
        &self,
        t: TenantId,
        filter: &DeliveryFilter,
        page: Page,
    ) -> Result<Paged<Delivery>>;

    // ---- tenant settings
    async fn tenant_settings(&self, t: TenantId) -> Result<TenantSettings>;
    async fn set_tenant_settings(
        &self,
        t: TenantId,
        actor: &str,
        settings: TenantSettings,
    ) -> Result<TenantSettings>;

    // ---- reminders
    async fn upsert_reminder(&self, t: TenantId, reminder: Reminder) -> Result<()>;
    async fn cancel_reminder(&self, t: TenantId, event: Uuid) -> Result<()>;
    /// Claims reminders due by `now` across tenants (each is handed out once).
    async fn claim_due_reminders(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(TenantId, Reminder)>>;

    /// Publishes pending outbox events (one batch); see platform::events::relay.
    async fn relay_outbox(&self, bus: &dyn EventBus, batch: i64) -> Result<usize>;

    // ---- data-subject requests
    /// Every row the store holds about a person: `{person_id, inbox,
    /// deliveries (with addresses), pending_deliveries, preferences,
    /// list_subscriptions}`, instants in RFC 3339. Another tenant's person
    /// is empty lists.
    async fn export_person(&self, t: TenantId, person: Uuid) -> Result<serde_json::Value>;
    /// Erases a person in one transaction: their inbox items are emptied
    /// (title, body, link and rendered e-mail blanked, archived; the rows
    /// stay because the delivery log refers to them), pending deliveries to
    /// them are skipped, e-mail addresses in their delivery log become
    /// "erased" (rows kept as the record of what was sent), and their
    /// preferences and list subscriptions (unsubscribe tokens) are deleted.
    /// Audited as `person.erased` (target the person, no personal data) with
    /// event `notifications.person.erased`. A second erasure counts zeros.
    async fn erase_person(&self, t: TenantId, actor: &str, person: Uuid) -> Result<ErasedCounts>;

    // ---- retention
    /// Applies a tenant's retention cutoffs in one tenant transaction. The
    /// `notifications` category deletes inbox items created before its
    /// cutoff together with their delivery log, except items that still have
    /// a delivery queued or held (kept whole, with every delivery, until it
    /// is done); cluster messages sent and idempotency keys created before
    /// the cutoff are deleted too. Then `audit_log` and `published_events`
    /// (`TenantTxExt::expire_common`). Every kind of every category given a
    /// cutoff is counted, 0 included (`inbox_items`, `deliveries`,
    /// `cluster_messages`, `idempotency_keys`; `audit_records`,
    /// `outbox_events`); other categories are ignored. A dry run counts what
    /// a real run would change and changes and records nothing; a real run
    /// is audited as `retention.applied` (target the tenant, `after` the
    /// cutoffs and counts) with event `notifications.retention.applied`.
    /// Running it again with the same cutoffs deletes nothing more.
    async fn apply_retention(
        &self,
        t: TenantId,
        actor: &str,
        cutoffs: &Cutoffs,
        dry_run: bool,
    ) -> Result<Vec<Count>>;
}
