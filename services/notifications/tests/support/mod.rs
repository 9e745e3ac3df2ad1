//! Fixtures shared by the notifications store test binaries: a store on each
//! backend (a fresh PostgreSQL database used as the non-owner app role, or a
//! fresh SQLite file), a look at what each tenant has in every table, builders
//! of valid inputs, one tenant seeded with a row in every table, assertions
//! on error kinds, and a time limit for every test.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::{collections::BTreeMap, fmt::Debug, future::Future, path::PathBuf, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use collegium_notifications::{
    POSTGRES_MIGRATIONS, SCHEMA,
    domain::*,
    store::{NotificationsStore, Planned, Reminder, postgres, sqlite},
};
use platform::{
    auth::TenantId,
    db::TenantPool,
    error::{Error, Result},
    events::{EventEnvelope, memory::MemoryBus},
    page::{MAX_PAGE_SIZE, Page},
};
use testkit::TestDatabase;
use uuid::Uuid;

/// The actor written into audit records by the store-level tests.
pub const ACTOR: &str = "0190f000-0000-7000-8000-00000000ad01";

/// The consumer name the tests record handled events under.
pub const CONSUMER: &str = "notifications";

/// No test may run longer than this (a hung query or call fails the test).
pub const TEST_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Every table a tenant's rows live in (what the RLS proof and the
/// "nothing half-written" checks look at), in catalog (name) order.
pub const TABLES: [&str; 12] = [
    "audit_log",
    "cluster_messages",
    "deliveries",
    "idempotency_keys",
    "notifications",
    "outbox",
    "preferences",
    "processed_events",
    "reminders",
    "templates",
    "tenant_settings",
    "unsubscribe_tokens",
];

/// Runs a test body under [`TEST_TIME_LIMIT`].
pub async fn bounded<F: Future>(body: F) -> F::Output {
    tokio::time::timeout(TEST_TIME_LIMIT, body)
        .await
        .expect("the test did not finish within its time limit")
}

/// A fresh database migrated as the owner, and the store connected to it as
/// `notifications_app` (the role production uses, subject to row-level security).
pub async fn postgres_store() -> (TestDatabase, postgres::Store) {
    postgres_store_with(4).await
}

pub async fn postgres_store_with(max_connections: u32) -> (TestDatabase, postgres::Store) {
    testkit::init_tracing();
    let db = TestDatabase::migrated(SCHEMA, &POSTGRES_MIGRATIONS)
        .await
        .expect("a fresh database migrates");
    let store = collegium_notifications::open_postgres(&db.app_url(SCHEMA), max_connections)
        .await
        .expect("the app role connects");
    (db, store)
}

/// A SQLite file of one test, deleted (with its WAL files) when dropped.
pub struct SqliteFile(PathBuf);

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A fresh SQLite store in its own file, opened the way `collegium dev` opens it.
pub async fn sqlite_store() -> (SqliteFile, sqlite::Store) {
    testkit::init_tracing();
    let path = std::env::temp_dir().join(format!("{}.sqlite", testkit::unique("notifications")));
    let file = SqliteFile(path.clone());
    let store = collegium_notifications::open_sqlite(&path)
        .await
        .expect("a fresh SQLite file opens and migrates");
    (file, store)
}

// ------------------------------------------------------------------ looking inside

/// One audit record, as the tests compare them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Audited {
    pub action: String,
    pub target_id: String,
    pub actor: String,
}

/// A store of either backend, with a look at its rows through the same
/// tenant transaction the store uses (on PostgreSQL: as the app role, under RLS).
#[async_trait]
pub trait Inspect: NotificationsStore {
    /// Rows of tenant `t` in every table of [`TABLES`].
    async fn counts(&self, t: TenantId) -> BTreeMap<&'static str, i64>;
    /// Tenant `t`'s audit log, oldest first.
    async fn audit(&self, t: TenantId) -> Vec<Audited>;
    /// The stored secret hash of a token (to see that it was replaced).
    async fn token_hash(&self, t: TenantId, token: Uuid) -> Option<String>;
    /// When a reminder was handed out (None: not yet).
    async fn reminder_claimed_at(&self, t: TenantId, event: Uuid) -> Option<DateTime<Utc>>;
    /// Tenant `t`'s audit records of `action`, oldest first: (target kind,
    /// target id, after).
    async fn audit_records(
        &self,
        t: TenantId,
        action: &str,
    ) -> Vec<(String, String, Option<serde_json::Value>)>;
    /// Moves an idempotency key's `created_at` (whole seconds, as the store
    /// writes instants) to make it older than a retention cutoff.
    async fn backdate_key(&self, t: TenantId, key: &str, created_at: DateTime<Utc>);
}

macro_rules! impl_inspect {
    ($store:ty) => {
        #[async_trait]
        impl Inspect for $store {
            async fn counts(&self, t: TenantId) -> BTreeMap<&'static str, i64> {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let mut counts = BTreeMap::new();
                for table in TABLES {
                    let n: i64 = sqlx::query_scalar(&format!(
                        "SELECT COUNT(*) FROM {table} WHERE tenant_id = $1"
                    ))
                    .bind(t.0)
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap_or_else(|e| panic!("count {table}: {e}"));
                    counts.insert(table, n);
                }
                tx.rollback().await.expect("rollback");
                counts
            }

            async fn audit(&self, t: TenantId) -> Vec<Audited> {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let rows: Vec<(String, String, String)> = sqlx::query_as(
                    "SELECT action, target_id, actor FROM audit_log WHERE tenant_id = $1 ORDER BY id",
                )
                .bind(t.0)
                .fetch_all(&mut *tx)
                .await
                .expect("the audit log reads");
                tx.rollback().await.expect("rollback");
                rows.into_iter()
                    .map(|(action, target_id, actor)| Audited {
                        action,
                        target_id,
                        actor,
                    })
                    .collect()
            }

            async fn token_hash(&self, t: TenantId, token: Uuid) -> Option<String> {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let hash: Option<String> = sqlx::query_scalar(
                    "SELECT secret_hash FROM unsubscribe_tokens WHERE tenant_id = $1 AND id = $2",
                )
                .bind(t.0)
                .bind(token)
                .fetch_optional(&mut *tx)
                .await
                .expect("the token reads");
                tx.rollback().await.expect("rollback");
                hash
            }

            async fn reminder_claimed_at(
                &self,
                t: TenantId,
                event: Uuid,
            ) -> Option<DateTime<Utc>> {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let at: Option<Option<DateTime<Utc>>> = sqlx::query_scalar(
                    "SELECT claimed_at FROM reminders WHERE tenant_id = $1 AND event_id = $2",
                )
                .bind(t.0)
                .bind(event)
                .fetch_optional(&mut *tx)
                .await
                .expect("the reminder reads");
                tx.rollback().await.expect("rollback");
                at.flatten()
            }

            async fn audit_records(
                &self,
                t: TenantId,
                action: &str,
            ) -> Vec<(String, String, Option<serde_json::Value>)> {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let rows: Vec<(String, String, Option<sqlx::types::Json<serde_json::Value>>)> =
                    sqlx::query_as(
                        "SELECT target_kind, target_id, after FROM audit_log \
                         WHERE tenant_id = $1 AND action = $2 ORDER BY id",
                    )
                    .bind(t.0)
                    .bind(action)
                    .fetch_all(&mut *tx)
                    .await
                    .expect("the audit log reads");
                tx.rollback().await.expect("rollback");
                rows.into_iter()
                    .map(|(kind, id, after)| (kind, id, after.map(|a| a.0)))
                    .collect()
            }

            async fn backdate_key(&self, t: TenantId, key: &str, created_at: DateTime<Utc>) {
                assert_eq!(created_at.timestamp_subsec_nanos(), 0, "whole seconds");
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let moved = sqlx::query(
                    "UPDATE idempotency_keys SET created_at = $3 WHERE tenant_id = $1 AND key = $2",
                )
                .bind(t.0)
                .bind(key)
                .bind(created_at)
                .execute(&mut *tx)
                .await
                .expect("the key moves")
                .rows_affected();
                assert_eq!(moved, 1, "the key {key:?} exists");
                tx.commit().await.expect("commit");
            }
        }
    };
}

impl_inspect!(postgres::Store);
impl_inspect!(sqlite::Store);

/// Publishes every pending outbox row onto `bus`; returns how many.
pub async fn drain(store: &dyn NotificationsStore, bus: &MemoryBus) -> usize {
    let mut total = 0;
    loop {
        let n = store.relay_outbox(bus, 100).await.expect("the relay runs");
        total += n;
        if n < 100 {
            return total;
        }
    }
}

// ------------------------------------------------------------------ inputs

/// 2030-`month`-`day` `hour`:`minute` UTC: the tests' clock for claims.
pub fn at(month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, month, day, hour, minute, 0)
        .single()
        .expect("a test instant")
}

pub fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).expect("a time of day")
}

pub fn person() -> Uuid {
    Uuid::now_v7()
}

/// `n` person ids in ascending order.
pub fn people(n: usize) -> Vec<Uuid> {
    let mut p: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    p.sort();
    p
}

/// A domain event of tenant `t`, as a consumer receives it.
pub fn domain_event(t: TenantId, event_type: &str) -> EventEnvelope {
    EventEnvelope::new(
        t,
        event_type,
        serde_json::json!({ "id": Uuid::now_v7(), "actor": ACTOR }),
    )
}

pub fn notification(person: Uuid, title: &str) -> Notification {
    Notification {
        id: Uuid::nil(),
        person_id: person,
        category: Category::Invitations,
        title: title.to_string(),
        body: format!("{title}: details inside"),
        link: "/events/1".to_string(),
        critical: false,
        source_event_id: None,
        created_at: Utc::now(),
        read_at: None,
        archived_at: None,
        email: None,
    }
}

/// A delivery due at `due` on `channel` (ids are filled in by the store).
pub fn delivery(channel: Channel, status: DeliveryStatus, due: DateTime<Utc>) -> Delivery {
    Delivery {
        id: Uuid::nil(),
        notification_id: Uuid::nil(),
        person_id: Uuid::nil(),
        channel,
        address: (channel == Channel::Email).then(|| "teacher@example.org".to_string()),
        status,
        attempts: 0,
        last_error: None,
        next_attempt_at: due,
        digest: status == DeliveryStatus::Held,
        updated_at: Utc::now(),
    }
}

/// A notification for `person` with an in-app and an e-mail delivery, both
/// queued and due at `due`.
pub fn planned(person: Uuid, title: &str, due: DateTime<Utc>) -> Planned {
    Planned {
        notification: notification(person, title),
        deliveries: vec![
            delivery(Channel::InApp, DeliveryStatus::Queued, due),
            delivery(Channel::Email, DeliveryStatus::Queued, due),
        ],
    }
}

/// Enqueues a direct (sourceless) notification for each person.
pub async fn enqueue_for(
    store: &dyn NotificationsStore,
    t: TenantId,
    people: &[Uuid],
    title: &str,
    due: DateTime<Utc>,
) -> Vec<Notification> {
    store
        .enqueue(
            t,
            None,
            people.iter().map(|p| planned(*p, title, due)).collect(),
        )
        .await
        .expect("enqueued")
}

pub fn preferences(person: Uuid) -> Preferences {
    Preferences {
        person_id: person,
        // As the store keeps them: in category, then channel order.
        entries: vec![
            (Category::Scoring, Channel::Email, Frequency::Daily),
            (Category::Newsletters, Channel::Email, Frequency::Weekly),
        ],
        digest_time: hm(7, 30),
        digest_weekday: 5,
        time_zone: Some("Europe/London".to_string()),
        quiet_hours: Some((hm(22, 0), hm(7, 0))),
    }
}

pub fn template(event_type: &str, locale: &str, subject: &str) -> Template {
    Template {
        event_type: event_type.to_string(),
        category: Category::Changes,
        locale: locale.to_string(),
        subject: subject.to_string(),
        text: "{{ title }} has changed.".to_string(),
        html: "<p>{{ title }} has changed.</p>".to_string(),
    }
}

pub fn cluster_message(cluster: Uuid, subject: &str) -> ClusterMessage {
    ClusterMessage {
        id: Uuid::nil(),
        cluster_id: cluster,
        role: None,
        subject: subject.to_string(),
        body: "Dear colleagues,\n\nthe next meeting is on Thursday.".to_string(),
        sent_by: String::new(),
        sent_at: Utc::now(),
        recipients: 12,
        unsubscribed: 1,
    }
}

pub fn reminder(event: Uuid, title: &str, remind_at: DateTime<Utc>) -> Reminder {
    Reminder {
        event_id: event,
        remind_at,
        title: title.to_string(),
        starts_at: remind_at + chrono::Duration::hours(24),
        time_zone: "America/Chicago".to_string(),
    }
}

// ------------------------------------------------------------------ a tenant with a row in every table

/// One tenant with at least one row in every table of the schema.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub tenant: TenantId,
    pub member: Uuid,
    /// The member's notification of `event`, with an in-app and an e-mail
    /// delivery queued at [`Seeded::due`].
    pub notification: Notification,
    pub deliveries: Vec<Delivery>,
    pub due: DateTime<Utc>,
    /// The domain event the notification came from.
    pub event: EventEnvelope,
    pub preferences: Preferences,
    pub token: Uuid,
    pub token_hash: String,
    pub template: Template,
    pub message: ClusterMessage,
    pub cluster: Uuid,
    pub key: String,
    pub settings: TenantSettings,
    /// A scheduled event with a reminder at [`Seeded::remind_at`].
    pub reminded_event: Uuid,
    pub remind_at: DateTime<Utc>,
}

/// Creates a tenant's rows through the store, one at least in every table
/// (audit_log and outbox are written by the audited mutations,
/// processed_events by the enqueue of a domain event).
pub async fn seed_tenant(store: &dyn Inspect, name: &str) -> Seeded {
    let t = TenantId::new_v7();
    let member = person();
    let due = at(3, 1, 9, 0);
    let event = domain_event(t, "scheduling.rsvp.invited");
    let stored = store
        .enqueue(
            t,
            Some((CONSUMER, &event)),
            vec![planned(member, &format!("{name} network meeting"), due)],
        )
        .await
        .expect("enqueued");
    assert_eq!(stored.len(), 1);
    let notification = stored[0].clone();
    let deliveries = store
        .list_deliveries(
            t,
            &collegium_notifications::store::DeliveryFilter {
                notification_id: Some(notification.id),
                ..Default::default()
            },
            first_page(),
        )
        .await
        .expect("deliveries listed")
        .0;
    assert_eq!(deliveries.len(), 2);
    let preferences = store
        .set_preferences(t, ACTOR, preferences(member))
        .await
        .expect("preferences set");
    let token_hash = format!("hash-of-{name}");
    let token = store
        .unsubscribe_token(t, member, Category::Newsletters, &token_hash)
        .await
        .expect("token made");
    let template = store
        .set_template(
            t,
            ACTOR,
            template(
                "scheduling.event.changed",
                "en-GB",
                &format!("{name}: changed"),
            ),
        )
        .await
        .expect("template set");
    let cluster = Uuid::now_v7();
    let message = store
        .record_cluster_message(t, ACTOR, cluster_message(cluster, &format!("{name} news")))
        .await
        .expect("message recorded");
    let key = format!("key-{name}");
    store
        .remember_answer(
            t,
            &key,
            "request-hash",
            serde_json::json!({ "ids": [name] }),
        )
        .await
        .expect("answer remembered");
    let settings = store
        .set_tenant_settings(
            t,
            ACTOR,
            TenantSettings {
                reminder_lead_hours: 48,
                critical_categories: vec![Category::Changes],
            },
        )
        .await
        .expect("settings set");
    let reminded_event = Uuid::now_v7();
    let remind_at = at(4, 1, 9, 0);
    store
        .upsert_reminder(
            t,
            reminder(reminded_event, &format!("{name} meeting"), remind_at),
        )
        .await
        .expect("reminder kept");
    let counts = store.counts(t).await;
    for table in TABLES {
        assert!(counts[table] > 0, "the seed wrote a row into {table}");
    }
    Seeded {
        tenant: t,
        member,
        notification,
        deliveries,
        due,
        event,
        preferences,
        token,
        token_hash,
        template,
        message,
        cluster,
        key,
        settings,
        reminded_event,
        remind_at,
    }
}

// ------------------------------------------------------------------ reading whole lists

/// Every page of a list, in order, `size` at a time.
pub async fn all_pages<T, F, Fut>(size: u32, mut list: F) -> Vec<T>
where
    F: FnMut(Page) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String)>>,
{
    let mut all = Vec::new();
    let mut page = Page::first(size);
    loop {
        let (items, next) = list(page).await.expect("list call succeeds");
        assert!(items.len() <= size as usize, "a page holds at most {size}");
        all.extend(items);
        if next.is_empty() {
            return all;
        }
        page = Page::new(size, &next).expect("the token of the previous page");
    }
}

pub fn first_page() -> Page {
    Page::first(MAX_PAGE_SIZE)
}

/// Sorted ids, for comparing lists without caring about order.
pub fn sorted(ids: impl IntoIterator<Item = Uuid>) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = ids.into_iter().collect();
    ids.sort();
    ids
}

// ------------------------------------------------------------------ error kinds

#[track_caller]
pub fn expect_not_found<T: Debug>(result: Result<T>) {
    match result {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Bad input naming exactly `fields`, in order.
#[track_caller]
pub fn expect_invalid<T: Debug>(result: Result<T>, fields: &[&str]) {
    match result {
        Err(Error::InvalidInput(violations)) => {
            let named: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
            assert_eq!(named, fields, "fields named by {violations:?}");
        }
        other => panic!("expected InvalidInput naming {fields:?}, got {other:?}"),
    }
}

/// A conflict whose message names `field`; returns the message.
#[track_caller]
pub fn expect_conflict<T: Debug>(result: Result<T>, field: &str) -> String {
    match result {
        Err(Error::Conflict(message)) => {
            assert!(
                message.starts_with(&format!("{field}: ")),
                "the conflict should name {field}: {message:?}"
            );
            message
        }
        other => panic!("expected a Conflict naming {field}, got {other:?}"),
    }
}

/// A failed precondition whose message contains every one of `words`.
#[track_caller]
pub fn expect_failed_precondition<T: Debug>(result: Result<T>, words: &[&str]) {
    match result {
        Err(Error::FailedPrecondition(message)) => {
            for w in words {
                assert!(message.contains(w), "{message:?} should say {w:?}");
            }
        }
        other => panic!("expected FailedPrecondition saying {words:?}, got {other:?}"),
    }
}
