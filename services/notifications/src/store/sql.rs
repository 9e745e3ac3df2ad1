// The one SQL body of the notifications store, included by `postgres.rs` and
// `sqlite.rs` with `Db`/`Pool` naming the backend, `FOR_UPDATE` its row lock
// for read-modify-write (" FOR NO KEY UPDATE" on PostgreSQL, "" on SQLite,
// whose single writer already serialises transactions) and `SKIP_LOCKED` the
// lock of the workers' claims (" FOR NO KEY UPDATE SKIP LOCKED" / ""). The
// statements are the common dialect of both (numbered `$n` parameters,
// `RETURNING`, `ON CONFLICT` with partial-index targets, row values); every
// tenant statement filters on `tenant_id`.
//
// Instants. sqlx writes a `DateTime<Utc>` to SQLite as RFC 3339 text with
// "+00:00" and as many fraction digits as needed, so SQL compares instants
// there as text. The store writes every instant it keeps in whole seconds
// ([`secs`]), which makes that text fixed-width (and makes both backends
// return exactly what was stored); a bound value with a fraction (the
// workers' `now`) still compares correctly against it, because '+' sorts
// before '.' and '.' before every digit. The claims compare
// `deliveries.next_attempt_at` and `reminders.remind_at` this way; the
// contract suite checks it on both backends.
//
// What is audited. Every mutation a person or an administrator asks for
// (preferences, unsubscribing, templates, cluster messages, tenant settings,
// erasing a person, applying retention) writes an audit record and an outbox
// event `notifications.<thing>.<verb>` in its transaction. The service's own
// bookkeeping does not: `enqueue` is the consequence of a domain event that
// was audited by the service that emitted it (or of a direct trigger the API
// audits), and writes the inbox and delivery log, which are themselves the
// record; the workers' claims and outcomes are the delivery log; reminders
// mirror scheduling's events; an unsubscribe token is created when an e-mail
// needs its link; marking one's own inbox read or archived is reading, not
// administration.
//
// Claims. The delivery and reminder workers claim due rows of every tenant
// in one operator transaction (`TenantPool::begin_operator`, the
// `notifications_operator` role whose policies see every tenant's
// deliveries, notifications and reminders; see the migration), locking the
// batch with SKIP LOCKED so several workers share the queue and never take
// the same row. A delivery is leased, not taken: the claim moves its
// `next_attempt_at` to the end of the lease, so a delivery whose worker died
// comes back when the lease ends; the outcome is recorded afterwards in the
// tenant's own transaction. A reminder is taken once (`claimed_at`).

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, NaiveTime, SubsecRound, Utc};
use platform::{
    auth::TenantId,
    db::TenantPool,
    error::{Error, Result},
    events::{EventBus, EventEnvelope},
    page::Page,
    retention::{self, Count, Cutoffs},
    tx::{AuditEntry, TenantTxExt},
};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{FromRow, QueryBuilder, Transaction, types::Json};
use uuid::Uuid;

use crate::{
    domain::*,
    store::{
        DeliveryFilter, ErasedCounts, NotificationsStore, Outcome, Paged, Planned, Reminder,
    },
};

/// Most ids bound in one `IN (…)` list (both backends cap parameters).
const IN_CHUNK: usize = 1_000;

/// Rows per multi-row `INSERT` (at most fifteen parameters each, well under
/// the parameter limits of both backends: 65,535 and 32,766).
const INSERT_CHUNK: usize = 1_000;

/// Most rows one claim hands out.
pub const MAX_CLAIM: i64 = 1_000;

/// The digest time of a person who has no preferences yet when a change is
/// made for them (an unsubscribe): 08:00 in their zone.
const DEFAULT_DIGEST_TIME: (u32, u32) = (8, 0);
/// The weekly digest's day for the same: Monday.
const DEFAULT_DIGEST_WEEKDAY: u32 = 1;

/// The store over one pool of this backend.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    /// Woken after each commit that wrote outbox rows, so the relay publishes at once.
    outbox_written: std::sync::Arc<tokio::sync::Notify>,
}

impl Store {
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            outbox_written: Default::default(),
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Notified after every commit that wrote outbox rows.
    pub fn outbox_notify(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.outbox_written.clone()
    }

    async fn tx(&self, t: TenantId) -> Result<Transaction<'static, Db>> {
        self.pool.begin_tenant(t).await
    }

    /// Commits a transaction that wrote outbox rows and wakes the relay.
    async fn commit(&self, tx: Transaction<'static, Db>) -> Result<()> {
        tx.commit().await?;
        self.outbox_written.notify_one();
        Ok(())
    }
}

type Tx = Transaction<'static, Db>;

// An instant as the store keeps it: whole seconds (see the top of this file).
use platform::db::whole_secs as secs;

fn now() -> DateTime<Utc> {
    secs(Utc::now())
}

/// A time of day as the store keeps it: whole seconds.
fn time_secs(t: NaiveTime) -> NaiveTime {
    t.trunc_subsecs(0)
}

/// Clamps a count to the INTEGER columns.
fn int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn uint(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

use platform::db::{conflict_on, stored_enum};

/// Compares two secret hashes in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn check_limit(limit: i64) -> Result<()> {
    if (1..=MAX_CLAIM).contains(&limit) {
        Ok(())
    } else {
        Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_CLAIM}"),
        ))
    }
}

fn sorted_unique(ids: &[Uuid]) -> Vec<Uuid> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    ids
}

fn push_ids(q: &mut QueryBuilder<'_, Db>, ids: &[Uuid]) {
    q.push(" (");
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    q.push(")");
}

/// ` (tenant_id, <key>) IN ((…, …), …)`: row values keep lookups on the key.
fn push_keys(q: &mut QueryBuilder<'_, Db>, key: &str, keys: &[(Uuid, Uuid)]) {
    q.push(format!(" (tenant_id, {key}) IN ("));
    for (i, (tenant, id)) in keys.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push("(");
        q.push_bind(*tenant);
        q.push(", ");
        q.push_bind(*id);
        q.push(")");
    }
    q.push(")");
}

// ---------------------------------------------------------------- audit and outbox

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// Writes the audit record of one mutation and its outbox event
/// `notifications.<action>` with payload `{id, actor, after, ..extra}`.
#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &mut Tx,
    t: TenantId,
    actor: &str,
    action: &str,
    target_id: &str,
    before: Option<Value>,
    after: Option<Value>,
    extra: Value,
) -> Result<()> {
    let target_kind = action.split('.').next().unwrap_or(action).to_string();
    tx.audit(&AuditEntry {
        tenant: t,
        actor: actor.to_string(),
        action: action.to_string(),
        target_kind,
        target_id: target_id.to_string(),
        at: Utc::now(),
        before,
        after: after.clone(),
    })
    .await?;
    let mut payload = json!({ "id": target_id, "actor": actor, "after": after });
    if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), extra) {
        p.extend(extra);
    }
    tx.emit(&EventEnvelope::new(
        t,
        format!("notifications.{action}"),
        payload,
    ))
    .await
}

// ---------------------------------------------------------------- rows

const NOTIFICATION_COLUMNS: &str = "id, person_id, category, title, body, link, critical, \
     source_event_id, created_at, read_at, archived_at, email_subject, email_text, email_html";

#[derive(FromRow)]
struct NotificationRow {
    id: Uuid,
    person_id: Uuid,
    category: String,
    title: String,
    body: String,
    link: String,
    critical: bool,
    source_event_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    read_at: Option<DateTime<Utc>>,
    archived_at: Option<DateTime<Utc>>,
    email_subject: Option<String>,
    email_text: Option<String>,
    email_html: Option<String>,
}

impl TryFrom<NotificationRow> for Notification {
    type Error = Error;
    fn try_from(r: NotificationRow) -> Result<Self> {
        Ok(Notification {
            id: r.id,
            person_id: r.person_id,
            category: stored_enum("category", &r.category, Category::parse)?,
            title: r.title,
            body: r.body,
            link: r.link,
            critical: r.critical,
            source_event_id: r.source_event_id,
            created_at: r.created_at,
            read_at: r.read_at,
            archived_at: r.archived_at,
            email: match (r.email_subject, r.email_text, r.email_html) {
                (Some(subject), Some(text), Some(html)) => Some(EmailParts {
                    subject,
                    text,
                    html,
                }),
                _ => None,
            },
        })
    }
}

fn notifications_from(rows: Vec<NotificationRow>) -> Result<Vec<Notification>> {
    rows.into_iter().map(Notification::try_from).collect()
}

#[derive(FromRow)]
struct TenantNotificationRow {
    tenant_id: Uuid,
    #[sqlx(flatten)]
    notification: NotificationRow,
}

const DELIVERY_COLUMNS: &str = "id, notification_id, person_id, channel, address, status, \
     attempts, last_error, next_attempt_at, digest, updated_at";

#[derive(FromRow)]
struct DeliveryRow {
    id: Uuid,
    notification_id: Uuid,
    person_id: Uuid,
    channel: String,
    address: Option<String>,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    next_attempt_at: DateTime<Utc>,
    digest: bool,
    updated_at: DateTime<Utc>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = Error;
    fn try_from(r: DeliveryRow) -> Result<Self> {
        Ok(Delivery {
            id: r.id,
            notification_id: r.notification_id,
            person_id: r.person_id,
            channel: stored_enum("channel", &r.channel, Channel::parse)?,
            address: r.address,
            status: stored_enum("delivery status", &r.status, DeliveryStatus::parse)?,
            attempts: uint(r.attempts),
            last_error: r.last_error,
            next_attempt_at: r.next_attempt_at,
            digest: r.digest,
            updated_at: r.updated_at,
        })
    }
}

#[derive(FromRow)]
struct TenantDeliveryRow {
    tenant_id: Uuid,
    #[sqlx(flatten)]
    delivery: DeliveryRow,
}

type Entries = Vec<(Category, Channel, Frequency)>;

const PREFERENCE_COLUMNS: &str = "person_id, entries, digest_time, digest_weekday, time_zone, \
     quiet_hours_start, quiet_hours_end";

#[derive(FromRow)]
struct PreferencesRow {
    person_id: Uuid,
    entries: Json<Entries>,
    digest_time: NaiveTime,
    digest_weekday: i32,
    time_zone: Option<String>,
    quiet_hours_start: Option<NaiveTime>,
    quiet_hours_end: Option<NaiveTime>,
}

impl From<PreferencesRow> for Preferences {
    fn from(r: PreferencesRow) -> Self {
        Preferences {
            person_id: r.person_id,
            entries: r.entries.0,
            digest_time: r.digest_time,
            digest_weekday: uint(r.digest_weekday),
            time_zone: r.time_zone,
            quiet_hours: r.quiet_hours_start.zip(r.quiet_hours_end),
        }
    }
}

const TEMPLATE_COLUMNS: &str = "event_type, locale, category, subject, text, html";

#[derive(FromRow)]
struct TemplateRow {
    event_type: String,
    locale: String,
    category: String,
    subject: String,
    text: String,
    html: String,
}

impl TryFrom<TemplateRow> for Template {
    type Error = Error;
    fn try_from(r: TemplateRow) -> Result<Self> {
        Ok(Template {
            event_type: r.event_type,
            category: stored_enum("category", &r.category, Category::parse)?,
            locale: r.locale,
            subject: r.subject,
            text: r.text,
            html: r.html,
        })
    }
}

const MESSAGE_COLUMNS: &str =
    "id, cluster_id, role, subject, body, sent_by, sent_at, recipients, unsubscribed";

#[derive(FromRow)]
struct MessageRow {
    id: Uuid,
    cluster_id: Uuid,
    role: Option<String>,
    subject: String,
    body: String,
    sent_by: String,
    sent_at: DateTime<Utc>,
    recipients: i32,
    unsubscribed: i32,
}

impl From<MessageRow> for ClusterMessage {
    fn from(r: MessageRow) -> Self {
        ClusterMessage {
            id: r.id,
            cluster_id: r.cluster_id,
            role: r.role,
            subject: r.subject,
            body: r.body,
            sent_by: r.sent_by,
            sent_at: r.sent_at,
            recipients: uint(r.recipients),
            unsubscribed: uint(r.unsubscribed),
        }
    }
}

const REMINDER_COLUMNS: &str = "event_id, remind_at, title, starts_at, time_zone";

#[derive(FromRow)]
struct ReminderRow {
    event_id: Uuid,
    remind_at: DateTime<Utc>,
    title: String,
    starts_at: DateTime<Utc>,
    time_zone: String,
}

impl From<ReminderRow> for Reminder {
    fn from(r: ReminderRow) -> Self {
        Reminder {
            event_id: r.event_id,
            remind_at: r.remind_at,
            title: r.title,
            starts_at: r.starts_at,
            time_zone: r.time_zone,
        }
    }
}

#[derive(FromRow)]
struct TenantReminderRow {
    tenant_id: Uuid,
    #[sqlx(flatten)]
    reminder: ReminderRow,
}

// ---------------------------------------------------------------- normalising inputs

/// One entry per (category, channel), the last given winning, in
/// (category, channel) order: what the store keeps and returns.
fn normalised_entries(entries: &[(Category, Channel, Frequency)]) -> Entries {
    let mut by_key = BTreeMap::new();
    for (category, channel, frequency) in entries {
        by_key.insert((*category, *channel), *frequency);
    }
    by_key
        .into_iter()
        .map(|((category, channel), frequency)| (category, channel, frequency))
        .collect()
}

fn normalised_preferences(mut p: Preferences) -> Result<Preferences> {
    if !(1..=7).contains(&p.digest_weekday) {
        return Err(Error::invalid(
            "digest_weekday",
            "must be an ISO weekday, 1 (Monday) to 7 (Sunday)",
        ));
    }
    p.entries = normalised_entries(&p.entries);
    p.digest_time = time_secs(p.digest_time);
    p.quiet_hours = p.quiet_hours.map(|(a, b)| (time_secs(a), time_secs(b)));
    p.time_zone = p
        .time_zone
        .map(|z| z.trim().to_string())
        .filter(|z| !z.is_empty());
    Ok(p)
}

fn default_preferences(person: Uuid) -> Preferences {
    let (h, m) = DEFAULT_DIGEST_TIME;
    Preferences {
        person_id: person,
        entries: vec![],
        digest_time: NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN),
        digest_weekday: DEFAULT_DIGEST_WEEKDAY,
        time_zone: None,
        quiet_hours: None,
    }
}

/// The notification as the store keeps it; `source` fills a missing
/// `source_event_id`.
fn normalised_notification(mut n: Notification, source: Option<Uuid>) -> Notification {
    if n.id.is_nil() {
        n.id = Uuid::now_v7();
    }
    if n.source_event_id.is_none() {
        n.source_event_id = source;
    }
    n.created_at = secs(n.created_at);
    n.archived_at = n.archived_at.map(secs);
    // Archiving marks read (unread means read_at IS NULL).
    n.read_at = n.read_at.map(secs).or(n.archived_at);
    n
}

// ---------------------------------------------------------------- reads used by writes

async fn fetch_preferences(
    tx: &mut Tx,
    t: TenantId,
    person: Uuid,
    lock: bool,
) -> Result<Option<Preferences>> {
    let row: Option<PreferencesRow> = sqlx::query_as(&format!(
        "SELECT {PREFERENCE_COLUMNS} FROM preferences WHERE tenant_id = $1 AND person_id = $2{}",
        if lock { FOR_UPDATE } else { "" }
    ))
    .bind(t.0)
    .bind(person)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(Preferences::from))
}

/// Inserts or replaces a person's preferences.
async fn put_preferences(tx: &mut Tx, t: TenantId, actor: &str, p: &Preferences) -> Result<()> {
    sqlx::query(
        "INSERT INTO preferences (tenant_id, person_id, entries, digest_time, digest_weekday, \
         time_zone, quiet_hours_start, quiet_hours_end, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (tenant_id, person_id) DO UPDATE SET entries = excluded.entries, \
         digest_time = excluded.digest_time, digest_weekday = excluded.digest_weekday, \
         time_zone = excluded.time_zone, quiet_hours_start = excluded.quiet_hours_start, \
         quiet_hours_end = excluded.quiet_hours_end, updated_by = excluded.updated_by, \
         updated_at = excluded.updated_at",
    )
    .bind(t.0)
    .bind(p.person_id)
    .bind(Json(&p.entries))
    .bind(p.digest_time)
    .bind(int(p.digest_weekday))
    .bind(&p.time_zone)
    .bind(p.quiet_hours.map(|q| q.0))
    .bind(p.quiet_hours.map(|q| q.1))
    .bind(actor)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn fetch_template(
    tx: &mut Tx,
    t: TenantId,
    event_type: &str,
    locale: &str,
) -> Result<Option<Template>> {
    let row: Option<TemplateRow> = sqlx::query_as(&format!(
        "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE tenant_id = $1 AND event_type = $2 \
         AND locale = $3{FOR_UPDATE}"
    ))
    .bind(t.0)
    .bind(event_type)
    .bind(locale)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(Template::try_from).transpose()
}

async fn fetch_tenant_settings(tx: &mut Tx, t: TenantId) -> Result<TenantSettings> {
    let row: Option<(i32, Json<Vec<Category>>)> = sqlx::query_as(
        "SELECT reminder_lead_hours, critical_categories FROM tenant_settings WHERE tenant_id = $1",
    )
    .bind(t.0)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(
        row.map_or_else(TenantSettings::default, |(hours, Json(critical))| {
            TenantSettings {
                reminder_lead_hours: uint(hours),
                critical_categories: critical,
            }
        }),
    )
}

/// The notifications with these keys, by key.
async fn notifications_by_key(
    tx: &mut Tx,
    keys: &[(Uuid, Uuid)],
) -> Result<HashMap<(Uuid, Uuid), Notification>> {
    let mut found = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(IN_CHUNK / 2) {
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT tenant_id, {NOTIFICATION_COLUMNS} FROM notifications WHERE"
        ));
        push_keys(&mut q, "id", chunk);
        let rows: Vec<TenantNotificationRow> = q.build_query_as().fetch_all(&mut **tx).await?;
        for r in rows {
            let tenant = r.tenant_id;
            let n = Notification::try_from(r.notification)?;
            found.insert((tenant, n.id), n);
        }
    }
    Ok(found)
}

// ---------------------------------------------------------------- retention

/// The inbox items the `notifications` category expires: created before the
/// cutoff (`$2`) and with no delivery still to make (queued or held).
const EXPIRED_INBOX: &str = "FROM notifications n WHERE n.tenant_id = $1 AND n.created_at < $2 \
     AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.tenant_id = n.tenant_id \
     AND d.notification_id = n.id AND d.status IN ('queued', 'held'))";

/// The delivery log of those items.
fn expired_deliveries() -> String {
    format!(
        "FROM deliveries WHERE tenant_id = $1 AND notification_id IN (SELECT n.id {EXPIRED_INBOX})"
    )
}

/// Cluster messages sent before the cutoff.
const EXPIRED_MESSAGES: &str = "FROM cluster_messages WHERE tenant_id = $1 AND sent_at < $2";

/// Idempotency keys of direct triggers created before the cutoff.
const EXPIRED_KEYS: &str = "FROM idempotency_keys WHERE tenant_id = $1 AND created_at < $2";


/// The `notifications` category of one tenant. The log of an expiring item
/// goes first (it refers to the item), then every item older than the cutoff
/// that has no delivery left: exactly those whose log just went, since a
/// delivery never returns to queued or held once done, and an item whose
/// delivery finished meanwhile keeps its log and waits for the next run.
/// Nothing else refers to these rows: cluster messages and idempotency keys
/// are referenced by no table (the keys' answers and the items' source ids
/// name them only as values), and reminders and unsubscribe tokens belong
/// to events and people, not to items.
async fn expire_notifications(
    tx: &mut Tx,
    t: TenantId,
    before: DateTime<Utc>,
    dry_run: bool,
) -> Result<Vec<Count>> {
    let (deliveries, inbox) = if dry_run {
        (
            tx.expire_rows(t, before, &expired_deliveries(), true).await?,
            tx.expire_rows(t, before, EXPIRED_INBOX, true).await?,
        )
    } else {
        let deliveries = tx.expire_rows(t, before, &expired_deliveries(), false).await?;
        let inbox = sqlx::query(
            "DELETE FROM notifications WHERE tenant_id = $1 AND created_at < $2 \
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.tenant_id = $1 \
             AND d.notification_id = notifications.id)",
        )
        .bind(t.0)
        .bind(before)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        (deliveries, inbox)
    };
    let messages = tx.expire_rows(t, before, EXPIRED_MESSAGES, dry_run).await?;
    let keys = tx.expire_rows(t, before, EXPIRED_KEYS, dry_run).await?;
    let category = retention::Category::Notifications;
    Ok(vec![
        Count::new(category, "inbox_items", inbox),
        Count::new(category, "deliveries", deliveries),
        Count::new(category, "cluster_messages", messages),
        Count::new(category, "idempotency_keys", keys),
    ])
}

const ANOTHER_REQUEST: &str = "idempotency_key: this key was already used for a different request";

#[async_trait]
impl NotificationsStore for Store {
    // ---------------------------------------------------------------- enqueue

    /// Multi-row inserts in one transaction (an announcement to a large
    /// tenant is a few statements, not one per person). A notification whose
    /// (person, source event) is already stored, or appears twice in the
    /// call, is skipped with its deliveries. No audit and no outbox event:
    /// see the top of this file.
    async fn enqueue(
        &self,
        t: TenantId,
        source: Option<(&str, &EventEnvelope)>,
        planned: Vec<Planned>,
    ) -> Result<Vec<Notification>> {
        if let Some((_, event)) = source
            && event.tenant != t
        {
            return Err(Error::invalid(
                "source",
                "the event belongs to another tenant",
            ));
        }
        let stamp = now();
        let mut notifications = Vec::with_capacity(planned.len());
        let mut deliveries = Vec::new();
        for p in planned {
            let n = normalised_notification(p.notification, source.map(|(_, e)| e.id));
            for mut d in p.deliveries {
                if d.id.is_nil() {
                    d.id = Uuid::now_v7();
                }
                d.notification_id = n.id;
                d.person_id = n.person_id;
                d.next_attempt_at = secs(d.next_attempt_at);
                d.updated_at = stamp;
                deliveries.push(d);
            }
            notifications.push(n);
        }
        let mut seen = HashSet::new();
        if !notifications.iter().all(|n| seen.insert(n.id)) {
            return Err(Error::invalid(
                "notifications",
                "a notification id appears more than once",
            ));
        }
        let mut seen = HashSet::new();
        if !deliveries.iter().all(|d| seen.insert(d.id)) {
            return Err(Error::invalid(
                "deliveries",
                "a delivery id appears more than once",
            ));
        }

        let mut tx = self.tx(t).await?;
        if let Some((consumer, event)) = source
            && !tx.first_delivery(consumer, event).await?
        {
            // Handled before: nothing new is written.
            tx.rollback().await?;
            return Ok(vec![]);
        }
        let mut stored: HashSet<Uuid> = HashSet::with_capacity(notifications.len());
        for chunk in notifications.chunks(INSERT_CHUNK) {
            let mut q = QueryBuilder::<Db>::new(format!(
                "INSERT INTO notifications (tenant_id, {NOTIFICATION_COLUMNS}) "
            ));
            q.push_values(chunk, |mut b, n| {
                b.push_bind(t.0)
                    .push_bind(n.id)
                    .push_bind(n.person_id)
                    .push_bind(n.category.as_str())
                    .push_bind(&n.title)
                    .push_bind(&n.body)
                    .push_bind(&n.link)
                    .push_bind(n.critical)
                    .push_bind(n.source_event_id)
                    .push_bind(n.created_at)
                    .push_bind(n.read_at)
                    .push_bind(n.archived_at)
                    .push_bind(n.email.as_ref().map(|e| e.subject.as_str()))
                    .push_bind(n.email.as_ref().map(|e| e.text.as_str()))
                    .push_bind(n.email.as_ref().map(|e| e.html.as_str()));
            });
            q.push(
                " ON CONFLICT (tenant_id, person_id, source_event_id) \
                 WHERE source_event_id IS NOT NULL DO NOTHING RETURNING id",
            );
            let ids: Vec<Uuid> = q
                .build_query_scalar()
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| conflict_on(e, "id: a notification with this id exists"))?;
            stored.extend(ids);
        }
        let deliveries: Vec<Delivery> = deliveries
            .into_iter()
            .filter(|d| stored.contains(&d.notification_id))
            .collect();
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            let mut q = QueryBuilder::<Db>::new(format!(
                "INSERT INTO deliveries (tenant_id, {DELIVERY_COLUMNS}) "
            ));
            q.push_values(chunk, |mut b, d| {
                b.push_bind(t.0)
                    .push_bind(d.id)
                    .push_bind(d.notification_id)
                    .push_bind(d.person_id)
                    .push_bind(d.channel.as_str())
                    .push_bind(&d.address)
                    .push_bind(d.status.as_str())
                    .push_bind(int(d.attempts))
                    .push_bind(&d.last_error)
                    .push_bind(d.next_attempt_at)
                    .push_bind(d.digest)
                    .push_bind(d.updated_at);
            });
            q.build()
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_on(e, "id: a delivery with this id exists"))?;
        }
        tx.commit().await?;
        Ok(notifications
            .into_iter()
            .filter(|n| stored.contains(&n.id))
            .collect())
    }

    // ---------------------------------------------------------------- inbox

    /// Newest first; the page token is the last id of the previous page.
    async fn list_inbox(
        &self,
        t: TenantId,
        person: Uuid,
        unread_only: bool,
        include_archived: bool,
        page: Page,
    ) -> Result<Paged<Notification>> {
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE tenant_id = "
        ));
        q.push_bind(t.0).push(" AND person_id = ").push_bind(person);
        if unread_only {
            q.push(" AND read_at IS NULL");
        }
        if !include_archived {
            q.push(" AND archived_at IS NULL");
        }
        if let Some(after) = page.after {
            q.push(" AND id < ").push_bind(after);
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(page.fetch_limit());
        let mut tx = self.tx(t).await?;
        let rows: Vec<NotificationRow> = q.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(page.finish(notifications_from(rows)?, |n| n.id))
    }

    async fn unread_count(&self, t: TenantId, person: Uuid) -> Result<u32> {
        let mut tx = self.tx(t).await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM notifications WHERE tenant_id = $1 AND person_id = $2 \
             AND read_at IS NULL",
        )
        .bind(t.0)
        .bind(person)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Read: sets `read_at` where unset. Archive: sets `archived_at` where
    /// unset, and `read_at` with it. Returns how many rows changed; ids that
    /// are not the person's (another person's, another tenant's, unknown)
    /// change nothing.
    async fn mark(&self, t: TenantId, person: Uuid, ids: &[Uuid], archive: bool) -> Result<u32> {
        let ids = sorted_unique(ids);
        if ids.is_empty() {
            return Ok(0);
        }
        let stamp = now();
        let mut tx = self.tx(t).await?;
        let mut changed = 0;
        for chunk in ids.chunks(IN_CHUNK) {
            let mut q = QueryBuilder::<Db>::new("UPDATE notifications SET ");
            if archive {
                q.push("archived_at = ")
                    .push_bind(stamp)
                    .push(", read_at = COALESCE(read_at, ")
                    .push_bind(stamp)
                    .push(")");
            } else {
                q.push("read_at = ").push_bind(stamp);
            }
            q.push(" WHERE tenant_id = ")
                .push_bind(t.0)
                .push(" AND person_id = ")
                .push_bind(person)
                .push(if archive {
                    " AND archived_at IS NULL"
                } else {
                    " AND read_at IS NULL"
                })
                .push(" AND id IN");
            push_ids(&mut q, chunk);
            changed += q.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(u32::try_from(changed).unwrap_or(u32::MAX))
    }

    async fn mark_all_read(&self, t: TenantId, person: Uuid) -> Result<u32> {
        let mut tx = self.tx(t).await?;
        let changed = sqlx::query(
            "UPDATE notifications SET read_at = $3 WHERE tenant_id = $1 AND person_id = $2 \
             AND read_at IS NULL",
        )
        .bind(t.0)
        .bind(person)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(u32::try_from(changed).unwrap_or(u32::MAX))
    }

    // ---------------------------------------------------------------- preferences

    /// The stored preferences of those of `people` who have any, in person-id
    /// order (the others have the defaults).
    async fn preferences(&self, t: TenantId, people: &[Uuid]) -> Result<Vec<Preferences>> {
        let people = sorted_unique(people);
        let mut tx = self.tx(t).await?;
        let mut found = Vec::with_capacity(people.len());
        for chunk in people.chunks(IN_CHUNK) {
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT {PREFERENCE_COLUMNS} FROM preferences WHERE tenant_id = "
            ));
            q.push_bind(t.0).push(" AND person_id IN");
            push_ids(&mut q, chunk);
            q.push(" ORDER BY person_id");
            let rows: Vec<PreferencesRow> = q.build_query_as().fetch_all(&mut *tx).await?;
            found.extend(rows.into_iter().map(Preferences::from));
        }
        tx.commit().await?;
        Ok(found)
    }

    /// Replaces a person's preferences. Kept normalised: one entry per
    /// (category, channel) (the last given wins) in (category, channel)
    /// order, times of day in whole seconds, a blank zone as none.
    async fn set_preferences(
        &self,
        t: TenantId,
        actor: &str,
        prefs: Preferences,
    ) -> Result<Preferences> {
        let prefs = normalised_preferences(prefs)?;
        let person = prefs.person_id;
        let mut tx = self.tx(t).await?;
        let before = fetch_preferences(&mut tx, t, person, true).await?;
        put_preferences(&mut tx, t, actor, &prefs).await?;
        let after = fetch_preferences(&mut tx, t, person, false)
            .await?
            .ok_or_else(|| Error::internal(anyhow::anyhow!("preferences of {person} vanished")))?;
        record(
            &mut tx,
            t,
            actor,
            "preferences.changed",
            &person.to_string(),
            before.as_ref().map(to_json),
            Some(to_json(&after)),
            json!({ "person_id": person }),
        )
        .await?;
        self.commit(tx).await?;
        Ok(after)
    }

    /// One token per person and category: the same id every time. A
    /// different hash replaces the stored one (the link secret's key was
    /// rotated; links made with the old key stop working).
    async fn unsubscribe_token(
        &self,
        t: TenantId,
        person: Uuid,
        category: Category,
        secret_hash: &str,
    ) -> Result<Uuid> {
        if secret_hash.is_empty() {
            return Err(Error::invalid("secret_hash", "must not be empty"));
        }
        let mut tx = self.tx(t).await?;
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO unsubscribe_tokens (tenant_id, id, person_id, category, secret_hash, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, person_id, category) DO UPDATE \
             SET secret_hash = excluded.secret_hash RETURNING id",
        )
        .bind(t.0)
        .bind(Uuid::now_v7())
        .bind(person)
        .bind(category.as_str())
        .bind(secret_hash)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Sets e-mail for the token's category to Off in the person's
    /// preferences (creating them with the defaults when they have none),
    /// audited with the person as actor. Unsubscribing again changes and
    /// records nothing.
    async fn unsubscribe(&self, t: TenantId, token: Uuid, secret_hash: &str) -> Result<Category> {
        let mut tx = self.tx(t).await?;
        let row: Option<(Uuid, String, String)> = sqlx::query_as(
            "SELECT person_id, category, secret_hash FROM unsubscribe_tokens \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.0)
        .bind(token)
        .fetch_optional(&mut *tx)
        .await?;
        let (person, category, _) = row
            .filter(|(_, _, stored)| same_secret(stored, secret_hash))
            .ok_or_else(|| Error::not_found("unsubscribe token"))?;
        let category = stored_enum("category", &category, Category::parse)?;
        let actor = person.to_string();
        // The row exists before it is locked, so that concurrent changes of
        // a person without preferences queue instead of overwriting.
        let created = sqlx::query(
            "INSERT INTO preferences (tenant_id, person_id, entries, digest_time, digest_weekday, \
             time_zone, quiet_hours_start, quiet_hours_end, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, NULL, NULL, NULL, $6, $7) \
             ON CONFLICT (tenant_id, person_id) DO NOTHING",
        )
        .bind(t.0)
        .bind(person)
        .bind(Json(Entries::new()))
        .bind(default_preferences(person).digest_time)
        .bind(int(DEFAULT_DIGEST_WEEKDAY))
        .bind(&actor)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let current = fetch_preferences(&mut tx, t, person, true)
            .await?
            .ok_or_else(|| Error::internal(anyhow::anyhow!("preferences of {person} vanished")))?;
        let off = (category, Channel::Email, Frequency::Off);
        if !created && current.entries.contains(&off) {
            tx.commit().await?;
            return Ok(category);
        }
        let mut after = current.clone();
        after.entries.push(off);
        after.entries = normalised_entries(&after.entries);
        put_preferences(&mut tx, t, &actor, &after).await?;
        record(
            &mut tx,
            t,
            &actor,
            "preferences.unsubscribed",
            &actor,
            (!created).then(|| to_json(&current)),
            Some(to_json(&after)),
            json!({ "person_id": person, "category": category.as_str() }),
        )
        .await?;
        self.commit(tx).await?;
        Ok(category)
    }

    // ---------------------------------------------------------------- templates

    /// Inserts or replaces the template of (event type, locale).
    async fn set_template(&self, t: TenantId, actor: &str, template: Template) -> Result<Template> {
        let mut template = template;
        template.event_type = template.event_type.trim().to_string();
        template.locale = template.locale.trim().to_string();
        let mut v = platform::error::Violations::new();
        if template.event_type.is_empty() {
            v.add("event_type", "must not be empty");
        }
        if template.locale.is_empty() {
            v.add("locale", "must not be empty");
        }
        v.finish()?;
        let mut tx = self.tx(t).await?;
        let before = fetch_template(&mut tx, t, &template.event_type, &template.locale).await?;
        let row: TemplateRow = sqlx::query_as(&format!(
            "INSERT INTO templates (tenant_id, {TEMPLATE_COLUMNS}, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (tenant_id, event_type, locale) DO UPDATE SET \
             category = excluded.category, subject = excluded.subject, text = excluded.text, \
             html = excluded.html, updated_by = excluded.updated_by, \
             updated_at = excluded.updated_at RETURNING {TEMPLATE_COLUMNS}"
        ))
        .bind(t.0)
        .bind(&template.event_type)
        .bind(&template.locale)
        .bind(template.category.as_str())
        .bind(&template.subject)
        .bind(&template.text)
        .bind(&template.html)
        .bind(actor)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        let after = Template::try_from(row)?;
        record(
            &mut tx,
            t,
            actor,
            "template.changed",
            &format!("{}/{}", after.event_type, after.locale),
            before.as_ref().map(to_json),
            Some(to_json(&after)),
            json!({ "event_type": after.event_type, "locale": after.locale }),
        )
        .await?;
        self.commit(tx).await?;
        Ok(after)
    }

    /// Every template of the tenant, by event type, then locale.
    async fn list_templates(&self, t: TenantId) -> Result<Vec<Template>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<TemplateRow> = sqlx::query_as(&format!(
            "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE tenant_id = $1 \
             ORDER BY event_type, locale"
        ))
        .bind(t.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(Template::try_from).collect()
    }

    // ---------------------------------------------------------------- cluster messages

    /// Records a message sent to a cluster (a nil id gets a new one, an
    /// empty `sent_by` the actor); CONFLICT naming `id` for a known id.
    async fn record_cluster_message(
        &self,
        t: TenantId,
        actor: &str,
        message: ClusterMessage,
    ) -> Result<ClusterMessage> {
        let mut m = message;
        if m.id.is_nil() {
            m.id = Uuid::now_v7();
        }
        if m.sent_by.is_empty() {
            m.sent_by = actor.to_string();
        }
        let mut tx = self.tx(t).await?;
        let row: MessageRow = sqlx::query_as(&format!(
            "INSERT INTO cluster_messages (tenant_id, {MESSAGE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {MESSAGE_COLUMNS}"
        ))
        .bind(t.0)
        .bind(m.id)
        .bind(m.cluster_id)
        .bind(&m.role)
        .bind(&m.subject)
        .bind(&m.body)
        .bind(&m.sent_by)
        .bind(secs(m.sent_at))
        .bind(int(m.recipients))
        .bind(int(m.unsubscribed))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on(e, "id: a cluster message with this id exists"))?;
        let m = ClusterMessage::from(row);
        record(
            &mut tx,
            t,
            actor,
            "cluster_message.sent",
            &m.id.to_string(),
            None,
            Some(to_json(&m)),
            json!({ "cluster_id": m.cluster_id }),
        )
        .await?;
        self.commit(tx).await?;
        Ok(m)
    }

    /// A cluster's messages, newest first.
    async fn list_cluster_messages(
        &self,
        t: TenantId,
        cluster: Uuid,
        page: Page,
    ) -> Result<Paged<ClusterMessage>> {
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {MESSAGE_COLUMNS} FROM cluster_messages WHERE tenant_id = "
        ));
        q.push_bind(t.0)
            .push(" AND cluster_id = ")
            .push_bind(cluster);
        if let Some(after) = page.after {
            q.push(" AND id < ").push_bind(after);
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(page.fetch_limit());
        let mut tx = self.tx(t).await?;
        let rows: Vec<MessageRow> = q.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(
            page.finish(rows.into_iter().map(ClusterMessage::from).collect(), |m| {
                m.id
            }),
        )
    }

    // ---------------------------------------------------------------- idempotency keys

    async fn idempotent_answer(
        &self,
        t: TenantId,
        key: &str,
        request_hash: &str,
    ) -> Result<Option<Value>> {
        if key.is_empty() {
            return Err(Error::invalid("idempotency_key", "must not be empty"));
        }
        let mut tx = self.tx(t).await?;
        let row: Option<(String, Json<Value>)> = sqlx::query_as(
            "SELECT request_hash, answer FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
        )
        .bind(t.0)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        match row {
            None => Ok(None),
            Some((hash, Json(answer))) if hash == request_hash => Ok(Some(answer)),
            Some(_) => Err(Error::Conflict(ANOTHER_REQUEST.into())),
        }
    }

    /// Keeps the first answer under a key: remembering again for the same
    /// request changes nothing; for a different request it is CONFLICT.
    async fn remember_answer(
        &self,
        t: TenantId,
        key: &str,
        request_hash: &str,
        answer: Value,
    ) -> Result<()> {
        if key.is_empty() {
            return Err(Error::invalid("idempotency_key", "must not be empty"));
        }
        let mut tx = self.tx(t).await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, answer, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, key) DO NOTHING",
        )
        .bind(t.0)
        .bind(key)
        .bind(request_hash)
        .bind(Json(&answer))
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            let hash: String = sqlx::query_scalar(
                "SELECT request_hash FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
            )
            .bind(t.0)
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
            if hash != request_hash {
                return Err(Error::Conflict(ANOTHER_REQUEST.into()));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    // ---------------------------------------------------------------- deliveries (workers)

    /// Queued or held deliveries with `next_attempt_at <= now`, of every
    /// tenant, earliest first; each is leased until `lease_until` (its
    /// `next_attempt_at` moves there) and comes back after it unless an
    /// outcome is recorded first. Returned with their notifications.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(TenantId, Delivery, Notification)>> {
        check_limit(limit)?;
        let lease_until = secs(lease_until);
        if lease_until <= now {
            return Err(Error::invalid("lease_until", "must be after now"));
        }
        let mut tx = self.pool.begin_operator().await?;
        let keys: Vec<(Uuid, Uuid)> = sqlx::query_as(&format!(
            "SELECT tenant_id, id FROM deliveries WHERE status IN ('queued', 'held') \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2{SKIP_LOCKED}"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if keys.is_empty() {
            tx.rollback().await?;
            return Ok(vec![]);
        }
        let mut q = QueryBuilder::<Db>::new("UPDATE deliveries SET next_attempt_at = ");
        q.push_bind(lease_until).push(" WHERE");
        push_keys(&mut q, "id", &keys);
        q.push(format!(" RETURNING tenant_id, {DELIVERY_COLUMNS}"));
        let rows: Vec<TenantDeliveryRow> = q.build_query_as().fetch_all(&mut *tx).await?;
        let mut leased = HashMap::with_capacity(rows.len());
        for r in rows {
            let tenant = r.tenant_id;
            let d = Delivery::try_from(r.delivery)?;
            leased.insert((tenant, d.id), d);
        }
        let wanted: Vec<(Uuid, Uuid)> = leased
            .iter()
            .map(|((tenant, _), d)| (*tenant, d.notification_id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let messages = notifications_by_key(&mut tx, &wanted).await?;
        tx.commit().await?;
        let mut claimed = Vec::with_capacity(keys.len());
        for key in keys {
            let d = leased.remove(&key).ok_or_else(|| {
                Error::internal(anyhow::anyhow!("claimed delivery {} vanished", key.1))
            })?;
            let n = messages
                .get(&(key.0, d.notification_id))
                .cloned()
                .ok_or_else(|| {
                    Error::internal(anyhow::anyhow!(
                        "notification {} of delivery {} vanished",
                        d.notification_id,
                        d.id
                    ))
                })?;
            claimed.push((TenantId(key.0), d, n));
        }
        Ok(claimed)
    }

    /// Sent: `sent`. Retry: `queued` again from `at`, with the error.
    /// Failed: `failed`, with the error. Skipped: `skipped`, the reason kept
    /// as `last_error`. Every outcome but Skipped counts an attempt.
    /// NotFound for an unknown delivery; FAILED_PRECONDITION for one that
    /// already has its final outcome (e.g. from a worker whose lease ran out).
    async fn record_outcome(&self, t: TenantId, delivery: Uuid, outcome: Outcome) -> Result<()> {
        let mut tx = self.tx(t).await?;
        let status: Option<String> = sqlx::query_scalar(&format!(
            "SELECT status FROM deliveries WHERE tenant_id = $1 AND id = $2{FOR_UPDATE}"
        ))
        .bind(t.0)
        .bind(delivery)
        .fetch_optional(&mut *tx)
        .await?;
        let status = status.ok_or_else(|| Error::not_found("delivery"))?;
        let status = stored_enum("delivery status", &status, DeliveryStatus::parse)?;
        if !matches!(status, DeliveryStatus::Queued | DeliveryStatus::Held) {
            return Err(Error::FailedPrecondition(format!(
                "the delivery is already {}",
                status.as_str()
            )));
        }
        let (status, attempt, next, error) = match outcome {
            Outcome::Sent => (DeliveryStatus::Sent, 1, None, None),
            Outcome::Retry { at, error } => {
                (DeliveryStatus::Queued, 1, Some(secs(at)), Some(error))
            }
            Outcome::Failed { error } => (DeliveryStatus::Failed, 1, None, Some(error)),
            Outcome::Skipped { reason } => (DeliveryStatus::Skipped, 0, None, Some(reason)),
        };
        sqlx::query(
            "UPDATE deliveries SET status = $3, attempts = attempts + $4, \
             next_attempt_at = COALESCE($5, next_attempt_at), \
             last_error = COALESCE($6, last_error), updated_at = $7 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.0)
        .bind(delivery)
        .bind(status.as_str())
        .bind(attempt)
        .bind(next)
        .bind(error)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// In id (queueing) order.
    async fn list_deliveries(
        &self,
        t: TenantId,
        filter: &DeliveryFilter,
        page: Page,
    ) -> Result<Paged<Delivery>> {
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE tenant_id = "
        ));
        q.push_bind(t.0);
        if let Some(n) = filter.notification_id {
            q.push(" AND notification_id = ").push_bind(n);
        }
        if let Some(s) = filter.status {
            q.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(p) = filter.person_id {
            q.push(" AND person_id = ").push_bind(p);
        }
        q.push(" AND id > ")
            .push_bind(page.after_or_nil())
            .push(" ORDER BY id LIMIT ")
            .push_bind(page.fetch_limit());
        let mut tx = self.tx(t).await?;
        let rows: Vec<DeliveryRow> = q.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let deliveries = rows
            .into_iter()
            .map(Delivery::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(page.finish(deliveries, |d| d.id))
    }

    // ---------------------------------------------------------------- tenant settings

    async fn tenant_settings(&self, t: TenantId) -> Result<TenantSettings> {
        let mut tx = self.tx(t).await?;
        let settings = fetch_tenant_settings(&mut tx, t).await?;
        tx.commit().await?;
        Ok(settings)
    }

    /// Critical categories are kept once each, in category order.
    async fn set_tenant_settings(
        &self,
        t: TenantId,
        actor: &str,
        settings: TenantSettings,
    ) -> Result<TenantSettings> {
        let mut settings = settings;
        settings.critical_categories.sort();
        settings.critical_categories.dedup();
        let mut tx = self.tx(t).await?;
        let before = fetch_tenant_settings(&mut tx, t).await?;
        sqlx::query(
            "INSERT INTO tenant_settings (tenant_id, reminder_lead_hours, critical_categories, \
             updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id) DO UPDATE SET \
             reminder_lead_hours = excluded.reminder_lead_hours, \
             critical_categories = excluded.critical_categories, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(t.0)
        .bind(int(settings.reminder_lead_hours))
        .bind(Json(&settings.critical_categories))
        .bind(actor)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let after = fetch_tenant_settings(&mut tx, t).await?;
        record(
            &mut tx,
            t,
            actor,
            "tenant_settings.changed",
            &t.0.to_string(),
            Some(to_json(&before)),
            Some(to_json(&after)),
            json!({}),
        )
        .await?;
        self.commit(tx).await?;
        Ok(after)
    }

    // ---------------------------------------------------------------- reminders

    /// Inserts or replaces an event's reminder. A reminder already handed
    /// out is handed out again only when its time moved, to the future
    /// (the event moved and its people must hear of the new time); a title
    /// change or a move into the past leaves it as it was.
    async fn upsert_reminder(&self, t: TenantId, reminder: Reminder) -> Result<()> {
        let mut tx = self.tx(t).await?;
        sqlx::query(
            "INSERT INTO reminders (tenant_id, event_id, remind_at, title, starts_at, time_zone, \
             claimed_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7) \
             ON CONFLICT (tenant_id, event_id) DO UPDATE SET \
             claimed_at = CASE WHEN excluded.remind_at <> reminders.remind_at \
                 AND excluded.remind_at > $8 THEN NULL ELSE reminders.claimed_at END, \
             remind_at = excluded.remind_at, title = excluded.title, \
             starts_at = excluded.starts_at, time_zone = excluded.time_zone, \
             updated_at = excluded.updated_at",
        )
        .bind(t.0)
        .bind(reminder.event_id)
        .bind(secs(reminder.remind_at))
        .bind(&reminder.title)
        .bind(secs(reminder.starts_at))
        .bind(&reminder.time_zone)
        .bind(now())
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the event's reminder (nothing when it has none).
    async fn cancel_reminder(&self, t: TenantId, event: Uuid) -> Result<()> {
        let mut tx = self.tx(t).await?;
        sqlx::query("DELETE FROM reminders WHERE tenant_id = $1 AND event_id = $2")
            .bind(t.0)
            .bind(event)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Unclaimed reminders with `remind_at <= now`, of every tenant, earliest
    /// first; each is marked claimed (at `now`) and never handed out again
    /// unless its event moves (see `upsert_reminder`).
    async fn claim_due_reminders(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<(TenantId, Reminder)>> {
        check_limit(limit)?;
        let mut tx = self.pool.begin_operator().await?;
        let keys: Vec<(Uuid, Uuid)> = sqlx::query_as(&format!(
            "SELECT tenant_id, event_id FROM reminders WHERE claimed_at IS NULL \
             AND remind_at <= $1 ORDER BY remind_at LIMIT $2{SKIP_LOCKED}"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if keys.is_empty() {
            tx.rollback().await?;
            return Ok(vec![]);
        }
        let mut q = QueryBuilder::<Db>::new("UPDATE reminders SET claimed_at = ");
        q.push_bind(secs(now)).push(" WHERE");
        push_keys(&mut q, "event_id", &keys);
        q.push(format!(" RETURNING tenant_id, {REMINDER_COLUMNS}"));
        let rows: Vec<TenantReminderRow> = q.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut by_key: HashMap<(Uuid, Uuid), Reminder> = rows
            .into_iter()
            .map(|r| {
                (
                    (r.tenant_id, r.reminder.event_id),
                    Reminder::from(r.reminder),
                )
            })
            .collect();
        keys.into_iter()
            .map(|key| {
                by_key
                    .remove(&key)
                    .map(|r| (TenantId(key.0), r))
                    .ok_or_else(|| {
                        Error::internal(anyhow::anyhow!("claimed reminder {} vanished", key.1))
                    })
            })
            .collect()
    }

    async fn relay_outbox(&self, bus: &dyn EventBus, batch: i64) -> Result<usize> {
        platform::events::relay::relay_once(&self.pool, bus, batch).await
    }

    // ---------------------------------------------------------------- data-subject requests

    async fn export_person(&self, t: TenantId, person: Uuid) -> Result<Value> {
        let mut tx = self.tx(t).await?;
        let inbox: Vec<NotificationRow> = sqlx::query_as(&format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE tenant_id = $1 \
             AND person_id = $2 ORDER BY id"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let deliveries: Vec<DeliveryRow> = sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE tenant_id = $1 \
             AND person_id = $2 ORDER BY id"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let preferences = fetch_preferences(&mut tx, t, person, false).await?;
        let subscriptions: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT category, created_at FROM unsubscribe_tokens WHERE tenant_id = $1 \
             AND person_id = $2 ORDER BY category",
        )
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let inbox = notifications_from(inbox)?;
        let deliveries = deliveries
            .into_iter()
            .map(Delivery::try_from)
            .collect::<Result<Vec<_>>>()?;
        let pending: Vec<&Delivery> = deliveries
            .iter()
            .filter(|d| matches!(d.status, DeliveryStatus::Queued | DeliveryStatus::Held))
            .collect();
        let subscriptions: Vec<Value> = subscriptions
            .into_iter()
            .map(|(category, created_at)| json!({ "category": category, "created_at": created_at }))
            .collect();
        Ok(json!({
            "person_id": person,
            "inbox": to_json(&inbox),
            "deliveries": to_json(&deliveries),
            "pending_deliveries": to_json(&pending),
            "preferences": to_json(&preferences),
            "list_subscriptions": subscriptions,
        }))
    }

    async fn erase_person(&self, t: TenantId, actor: &str, person: Uuid) -> Result<ErasedCounts> {
        let at = now();
        let mut tx = self.tx(t).await?;
        // Inbox items stay as empty rows: the delivery log refers to them.
        let inbox = sqlx::query(
            "UPDATE notifications SET title = '', body = '', link = '', email_subject = NULL, \
             email_text = NULL, email_html = NULL, archived_at = COALESCE(archived_at, $3) \
             WHERE tenant_id = $1 AND person_id = $2 AND (title <> '' OR body <> '' \
             OR link <> '' OR email_subject IS NOT NULL OR archived_at IS NULL)",
        )
        .bind(t.0)
        .bind(person)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let cancelled = sqlx::query(
            "UPDATE deliveries SET status = 'skipped', last_error = 'person erased', \
             updated_at = $3 WHERE tenant_id = $1 AND person_id = $2 \
             AND status IN ('queued', 'held')",
        )
        .bind(t.0)
        .bind(person)
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let addresses = sqlx::query(
            "UPDATE deliveries SET address = 'erased', \
             last_error = REPLACE(last_error, address, 'erased') \
             WHERE tenant_id = $1 AND person_id = $2 AND address IS NOT NULL \
             AND address <> 'erased'",
        )
        .bind(t.0)
        .bind(person)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let preferences =
            sqlx::query("DELETE FROM preferences WHERE tenant_id = $1 AND person_id = $2")
                .bind(t.0)
                .bind(person)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let subscriptions =
            sqlx::query("DELETE FROM unsubscribe_tokens WHERE tenant_id = $1 AND person_id = $2")
                .bind(t.0)
                .bind(person)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let counts: ErasedCounts = vec![
            ("inbox_items".to_string(), inbox),
            ("pending_deliveries_cancelled".to_string(), cancelled),
            ("delivery_addresses".to_string(), addresses),
            ("preferences".to_string(), preferences),
            ("list_subscriptions".to_string(), subscriptions),
        ];
        let summary: BTreeMap<&str, u64> = counts.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        record(
            &mut tx,
            t,
            actor,
            "person.erased",
            &person.to_string(),
            None,
            Some(json!({ "counts": summary })),
            json!({ "person_id": person }),
        )
        .await?;
        self.commit(tx).await?;
        Ok(counts)
    }

    // ---------------------------------------------------------------- retention

    async fn apply_retention(
        &self,
        t: TenantId,
        actor: &str,
        cutoffs: &Cutoffs,
        dry_run: bool,
    ) -> Result<Vec<Count>> {
        let mut tx = self.tx(t).await?;
        let mut counts = Vec::new();
        if let Some(before) = cutoffs.get(retention::Category::Notifications) {
            counts.extend(expire_notifications(&mut tx, t, before, dry_run).await?);
        }
        counts.extend(tx.expire_common(t, cutoffs, dry_run).await?);
        if let Some(before) = cutoffs.get(retention::Category::PublishedEvents) {
            // The consumer's record of events it has handled: redelivery of
            // an event older than the published-events period is not expected.
            let n = tx
                .expire_rows(
                    t,
                    before,
                    "FROM processed_events WHERE tenant_id = $1 AND processed_at < $2",
                    dry_run,
                )
                .await?;
            counts.push(Count::new(
                retention::Category::PublishedEvents,
                "processed_events",
                n,
            ));
        }
        if dry_run {
            tx.rollback().await?;
            return Ok(counts);
        }
        tx.record_retention(t, "notifications", actor, cutoffs, &counts)
            .await?;
        self.commit(tx).await?;
        Ok(counts)
    }
}
