//! Fixtures shared by the scheduling store test binaries: a store on each
//! backend (a fresh PostgreSQL database used as the non-owner app role, or a
//! fresh SQLite file), a look at what each tenant has in every table, builders
//! of valid inputs, one tenant seeded with a row in every table, assertions
//! on error kinds, and a time limit for every test.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::{collections::BTreeMap, fmt::Debug, future::Future, path::PathBuf, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use collegium_scheduling::{
    POSTGRES_MIGRATIONS, SCHEMA,
    domain::*,
    store::{SchedulingStore, postgres, sqlite},
};
use platform::{
    auth::TenantId,
    db::TenantPool,
    error::{Error, Result},
    events::{EventEnvelope, memory::MemoryBus},
    page::{MAX_PAGE_SIZE, Page},
    tx::TenantTxExt,
};
use serde_json::Value;
use sqlx::types::Json;
use testkit::TestDatabase;
use uuid::Uuid;

/// The actor written into audit records by the store-level tests.
pub const ACTOR: &str = "0190f000-0000-7000-8000-00000000ad01";

/// No test may run longer than this (a hung query or call fails the test).
pub const TEST_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Every table a tenant's rows live in (what the RLS proof and the
/// "nothing half-written" checks look at).
pub const TABLES: [&str; 13] = [
    "attendance",
    "audit_log",
    "calendar_feeds",
    "events",
    "expense_claims",
    "feedback",
    "materials",
    "outbox",
    "processed_events",
    "questions",
    "rsvps",
    "rule_settings",
    "venues",
];

/// Runs a test body under [`TEST_TIME_LIMIT`].
pub async fn bounded<F: Future>(body: F) -> F::Output {
    tokio::time::timeout(TEST_TIME_LIMIT, body)
        .await
        .expect("the test did not finish within its time limit")
}

/// A fresh database migrated as the owner, and the store connected to it as
/// `scheduling_app` (the role production uses, subject to row-level security).
pub async fn postgres_store() -> (TestDatabase, postgres::Store) {
    postgres_store_with(4).await
}

pub async fn postgres_store_with(max_connections: u32) -> (TestDatabase, postgres::Store) {
    testkit::init_tracing();
    let db = TestDatabase::migrated(SCHEMA, &POSTGRES_MIGRATIONS)
        .await
        .expect("a fresh database migrates");
    let store = collegium_scheduling::open_postgres(&db.app_url(SCHEMA), max_connections)
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
    let path = std::env::temp_dir().join(format!("{}.sqlite", testkit::unique("scheduling")));
    let file = SqliteFile(path.clone());
    let store = collegium_scheduling::open_sqlite(&path)
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
pub trait Inspect: SchedulingStore {
    /// Rows of tenant `t` in every table of [`TABLES`].
    async fn counts(&self, t: TenantId) -> BTreeMap<&'static str, i64>;
    /// Tenant `t`'s audit log, oldest first.
    async fn audit(&self, t: TenantId) -> Vec<Audited>;
    /// Records that a consumer handled an event (the one table the store
    /// itself does not write yet).
    async fn mark_processed(&self, t: TenantId, consumer: &str);
    /// Tenant `t`'s audit records of `action`, oldest first: target kind,
    /// target id and `after`.
    async fn audit_of(&self, t: TenantId, action: &str) -> Vec<(String, String, Option<Value>)>;
    /// Tenant `t`'s audit records about `target`, oldest first: action,
    /// `before` and `after`.
    async fn audit_snapshots(
        &self,
        t: TenantId,
        target: &str,
    ) -> Vec<(String, Option<Value>, Option<Value>)>;
    /// Runs one `UPDATE` in a tenant transaction of `t` (on PostgreSQL as the
    /// app role, under RLS), `$1` the tenant, `$2` a row's id, `$3` an
    /// instant: how the retention tests age rows. Returns the rows changed.
    async fn backdate(&self, t: TenantId, sql: &str, id: Uuid, at: DateTime<Utc>) -> u64;
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

            async fn mark_processed(&self, t: TenantId, consumer: &str) {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let event = EventEnvelope::new(t, "test.processed", serde_json::json!({}));
                assert!(tx.first_delivery(consumer, &event).await.expect("recorded"));
                tx.commit().await.expect("commit");
            }

            async fn audit_of(
                &self,
                t: TenantId,
                action: &str,
            ) -> Vec<(String, String, Option<Value>)> {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let rows: Vec<(String, String, Option<Json<Value>>)> = sqlx::query_as(
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
                    .map(|(kind, id, after)| (kind, id, after.map(|Json(v)| v)))
                    .collect()
            }

            async fn audit_snapshots(
                &self,
                t: TenantId,
                target: &str,
            ) -> Vec<(String, Option<Value>, Option<Value>)> {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let rows: Vec<(String, Option<Json<Value>>, Option<Json<Value>>)> =
                    sqlx::query_as(
                        "SELECT action, before, after FROM audit_log \
                         WHERE tenant_id = $1 AND target_id = $2 ORDER BY id",
                    )
                    .bind(t.0)
                    .bind(target)
                    .fetch_all(&mut *tx)
                    .await
                    .expect("the audit log reads");
                tx.rollback().await.expect("rollback");
                rows.into_iter()
                    .map(|(action, before, after)| {
                        (action, before.map(|Json(v)| v), after.map(|Json(v)| v))
                    })
                    .collect()
            }

            async fn backdate(&self, t: TenantId, sql: &str, id: Uuid, at: DateTime<Utc>) -> u64 {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let n = sqlx::query(sql)
                    .bind(t.0)
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .rows_affected();
                tx.commit().await.expect("commit");
                n
            }
        }
    };
}

impl_inspect!(postgres::Store);
impl_inspect!(sqlite::Store);

/// Publishes every pending outbox row onto `bus`; returns how many.
pub async fn drain(store: &dyn SchedulingStore, bus: &MemoryBus) -> usize {
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

/// 2030-`month`-`day` `hour`:`minute` UTC: comfortably in the future, so RSVPs
/// are open; the tests answer "now" as [`answered_at`].
pub fn at(month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, month, day, hour, minute, 0)
        .single()
        .expect("a test instant")
}

/// The "now" the tests give to `respond`: before every [`at`] instant.
pub fn answered_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2029, 12, 1, 12, 0, 0).unwrap()
}

/// An instant `days` ago (events that have started, for attendance).
pub fn days_ago(days: i64) -> DateTime<Utc> {
    use chrono::SubsecRound;
    (Utc::now() - chrono::Duration::days(days)).trunc_subsecs(0)
}

pub fn venue(name: &str, capacity: u32, buffer_minutes: u32) -> Venue {
    Venue {
        id: Uuid::nil(),
        name: name.to_string(),
        address: format!("{name}, 1 High Street"),
        capacity,
        buffer_minutes,
    }
}

/// A published network meeting of `hours` hours from `starts_at`, no limits.
pub fn event(title: &str, starts_at: DateTime<Utc>, hours: i64) -> Event {
    Event {
        id: Uuid::now_v7(),
        kind: EventKind::NetworkMeeting,
        cluster_id: None,
        title: title.to_string(),
        agenda: format!("{title}: welcome, scoring practice, next steps"),
        starts_at,
        ends_at: starts_at + chrono::Duration::hours(hours),
        time_zone: "Europe/London".to_string(),
        venue_id: None,
        online_url: None,
        capacity: 0,
        status: EventStatus::Published,
        academic_year: 2029,
        approval_required: false,
        training_hours: 0,
        prepares_for_event_id: None,
        series_id: None,
        recurrence_id: None,
        rrule: None,
        series_start: None,
        detached: false,
        sequence: 0,
        check_in_code: "K7Q2XW".to_string(),
        created_by: ACTOR.to_string(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

pub async fn create_one(store: &dyn SchedulingStore, t: TenantId, e: Event) -> Event {
    store
        .create_events(t, ACTOR, vec![e])
        .await
        .expect("event created")
        .remove(0)
}

pub async fn create_venue(store: &dyn SchedulingStore, t: TenantId, v: Venue) -> Venue {
    store
        .create_venue(t, ACTOR, v)
        .await
        .expect("venue created")
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

pub async fn accept(
    store: &dyn SchedulingStore,
    t: TenantId,
    event: Uuid,
    person: Uuid,
) -> RsvpStatus {
    store
        .respond(
            t,
            &person.to_string(),
            event,
            person,
            RsvpStatus::Accepted,
            answered_at(),
        )
        .await
        .expect("the answer is taken")
        .rsvp
        .status
}

pub fn claim(event: Uuid, person: Uuid, travel: i64) -> ExpenseClaim {
    ExpenseClaim {
        id: Uuid::nil(),
        event_id: event,
        person_id: person,
        travel_amount: travel,
        subsistence_amount: 1_250,
        currency: "GBP".to_string(),
        description: "Train to the meeting and lunch".to_string(),
        status: ClaimStatus::Submitted,
        decided_by: None,
        decided_at: None,
        decision_reason: None,
        submitted_at: Utc::now(),
    }
}

pub fn questions() -> Vec<Question> {
    vec![
        Question {
            id: Uuid::nil(),
            text: "How useful was the meeting?".to_string(),
            kind: QuestionKind::Rating,
        },
        Question {
            id: Uuid::nil(),
            text: "What should the next meeting cover?".to_string(),
            kind: QuestionKind::Text,
        },
    ]
}

pub fn answers(questions: &[Question], rating: u8, text: &str) -> Vec<Answer> {
    vec![
        Answer {
            question_id: questions[0].id,
            rating: Some(rating),
            text: None,
        },
        Answer {
            question_id: questions[1].id,
            rating: None,
            text: Some(text.to_string()),
        },
    ]
}

pub fn material(event: Uuid, title: &str) -> Material {
    Material {
        id: Uuid::nil(),
        event_id: event,
        title: title.to_string(),
        url: Some("https://example.org/anchor-papers.pdf".to_string()),
        object_key: None,
        file_name: None,
        content_type: None,
        size_bytes: 0,
        added_by: String::new(),
        added_at: Utc::now(),
    }
}

pub fn feed(person: Uuid, secret_hash: &str) -> CalendarFeed {
    CalendarFeed {
        id: Uuid::nil(),
        person_id: person,
        secret_hash: secret_hash.to_string(),
        created_at: Utc::now(),
        revoked_at: None,
    }
}

// ------------------------------------------------------------------ a tenant with a row in every table

/// One tenant with at least one row in every table of the schema.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub tenant: TenantId,
    pub venue: Venue,
    /// Published, in the future, at `venue`; `member` accepted, `guest` invited.
    pub upcoming: Event,
    /// Published, started two days ago; `member` present, with a claim and feedback.
    pub past: Event,
    pub member: Uuid,
    pub guest: Uuid,
    pub material: Material,
    pub claim: ExpenseClaim,
    pub questions: Vec<Question>,
    pub feed: CalendarFeed,
}

/// Creates a tenant's rows through the store, one at least in every table
/// (audit_log and outbox are written by every mutation; processed_events
/// through a tenant transaction, as a consumer would).
pub async fn seed_tenant(store: &dyn Inspect, name: &str) -> Seeded {
    let t = TenantId::new_v7();
    let (member, guest) = (person(), person());
    let venue = create_venue(store, t, venue(&format!("{name} Hall"), 30, 10)).await;
    let upcoming = create_one(
        store,
        t,
        Event {
            venue_id: Some(venue.id),
            ..event(&format!("{name} network meeting"), at(3, 4, 15, 0), 2)
        },
    )
    .await;
    let past = create_one(
        store,
        t,
        Event {
            kind: EventKind::ScoringTraining,
            training_hours: 3,
            ..event(&format!("{name} scoring training"), days_ago(2), 3)
        },
    )
    .await;
    store
        .invite(t, ACTOR, upcoming.id, &[member, guest])
        .await
        .expect("invited");
    assert_eq!(
        accept(store, t, upcoming.id, member).await,
        RsvpStatus::Accepted
    );
    store
        .record_attendance(
            t,
            ACTOR,
            past.id,
            &[(member, AttendanceStatus::Present)],
            "owner",
        )
        .await
        .expect("attendance recorded");
    store
        .set_rule_settings(
            t,
            ACTOR,
            RuleSettings {
                min_network_meetings: 3,
                ..RuleSettings::default()
            },
        )
        .await
        .expect("rules set");
    let material = store
        .add_material(t, ACTOR, material(upcoming.id, "Anchor papers"))
        .await
        .expect("material added");
    let claim = store
        .submit_claim(t, &member.to_string(), claim(past.id, member, 4_200))
        .await
        .expect("claim submitted");
    let questions = store
        .set_questionnaire(t, ACTOR, past.id, questions())
        .await
        .expect("questionnaire set");
    store
        .submit_feedback(
            t,
            &member.to_string(),
            past.id,
            member,
            answers(&questions, 4, "More anchor papers"),
        )
        .await
        .expect("feedback submitted");
    let feed = store
        .create_feed(
            t,
            &member.to_string(),
            feed(member, &format!("hash-of-{name}")),
        )
        .await
        .expect("feed created");
    store.mark_processed(t, "notifications").await;
    let counts = store.counts(t).await;
    for (table, n) in &counts {
        assert!(*n > 0, "the seed wrote a row into {table}: {counts:?}");
    }
    Seeded {
        tenant: t,
        venue,
        upcoming,
        past,
        member,
        guest,
        material,
        claim,
        questions,
        feed,
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

pub fn ids(events: &[Event]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
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
