//! Fixtures shared by the scoring store test binaries (`store_contract`,
//! `rls`): a store on each backend (a fresh PostgreSQL database used as the
//! non-owner app role, or a fresh SQLite file), a look at what each tenant
//! has in every table (counts, audit log, outbox), builders of valid inputs,
//! one tenant seeded with a row in every table, assertions on error kinds,
//! and a time limit for every test.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::{
    collections::BTreeMap, fmt::Debug, future::Future, path::PathBuf, sync::Mutex, time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use collegium_scoring::{
    SCHEMA,
    domain::*,
    store::{NewPortfolio, ScoringStore, StoredPortfolio, Submission, Submitted, postgres, sqlite},
};
use platform::{
    auth::TenantId,
    db::TenantPool,
    error::{Error, Result},
    events::{EventEnvelope, EventHandler, memory::MemoryBus, relay::relay_once},
    page::{MAX_PAGE_SIZE, Page},
    tx::{AuditEntry, TenantTxExt},
};
use serde_json::Value;
use sqlx::types::Json;
use testkit::TestDatabase;
use uuid::Uuid;

/// The actor written into audit records by the store-level tests.
pub const ACTOR: &str = "0190f000-0000-7000-8000-00000000ad01";

/// No test may run longer than this (a hung query fails the test).
pub const TEST_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Every table a tenant's rows live in, as the catalog lists them (what the
/// RLS proof and the "nothing half-written" checks look at).
pub const TABLES: [&str; 12] = [
    "anchor_papers",
    "assignments",
    "audit_log",
    "outbox",
    "portfolios",
    "processed_events",
    "qualification_attempts",
    "qualification_sets",
    "rubrics",
    "scores",
    "session_portfolios",
    "sessions",
];

/// The academic year most tests work in.
pub const YEAR: i32 = 2030;

/// Runs a test body under [`TEST_TIME_LIMIT`].
pub async fn bounded<F: Future>(body: F) -> F::Output {
    tokio::time::timeout(TEST_TIME_LIMIT, body)
        .await
        .expect("the test did not finish within its time limit")
}

/// A fresh database migrated as the owner (`migrate_postgres`), and the
/// store opened on it as `scoring_app` (`open_postgres`: the role production
/// uses, subject to row-level security).
pub async fn postgres_store() -> (TestDatabase, postgres::Store) {
    testkit::init_tracing();
    let db = TestDatabase::create()
        .await
        .expect("a fresh database is created");
    collegium_scoring::migrate_postgres(&db.owner_url)
        .await
        .expect("the scoring schema migrates");
    let store = collegium_scoring::open_postgres(&db.app_url(SCHEMA), 4)
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
    let path = std::env::temp_dir().join(format!("{}.sqlite", testkit::unique("scoring")));
    let file = SqliteFile(path.clone());
    let store = collegium_scoring::open_sqlite(&path)
        .await
        .expect("a fresh SQLite file opens and migrates");
    (file, store)
}

// ------------------------------------------------------------------ looking inside

/// One audit record, as the tests compare them.
#[derive(Debug, Clone, PartialEq)]
pub struct Audited {
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub actor: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct Outboxed {
    pub event_type: String,
    pub payload: Value,
}

/// A store of either backend, with a look at its rows through the same
/// tenant transaction the store uses (on PostgreSQL: as the app role, under RLS).
#[async_trait]
pub trait Inspect: ScoringStore {
    /// Rows of tenant `t` in every table of [`TABLES`].
    async fn counts(&self, t: TenantId) -> BTreeMap<&'static str, i64>;
    /// Tenant `t`'s audit log, oldest first.
    async fn audit(&self, t: TenantId) -> Vec<Audited>;
    /// Writes an audit record into tenant `t`'s log the way every mutation
    /// does (`TenantTxExt::audit`), outside the store's own methods.
    async fn plant_audit(&self, t: TenantId, entry: AuditEntry);
    /// Tenant `t`'s outbox rows, oldest first.
    async fn outbox(&self, t: TenantId) -> Vec<Outboxed>;
    /// Records that a consumer handled an event (the one table the store
    /// itself does not write).
    async fn mark_processed(&self, t: TenantId, consumer: &str);
    /// Publishes every pending outbox row onto `bus` the way the service's
    /// relay does (as the operator role on PostgreSQL); returns how many.
    async fn relay(&self, bus: &MemoryBus) -> usize;
    /// Makes tenant `t`'s folders `ids` look created at `when` (retention
    /// tests: rows past a cutoff without waiting a year).
    async fn backdate_folders(&self, t: TenantId, ids: &[Uuid], when: DateTime<Utc>);
    /// Makes every published outbox row of tenant `t` look published at
    /// `when`; returns how many.
    async fn backdate_published(&self, t: TenantId, when: DateTime<Utc>) -> u64;
    /// A folder's stored blind index and sealed student id, as the table
    /// holds them.
    async fn folder_secrets(&self, t: TenantId, id: Uuid) -> (Vec<u8>, Vec<u8>);
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
                type Row = (
                    String,
                    String,
                    String,
                    String,
                    Option<Json<Value>>,
                    Option<Json<Value>>,
                );
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT action, target_kind, target_id, actor, before, after FROM audit_log \
                     WHERE tenant_id = $1 ORDER BY id",
                )
                .bind(t.0)
                .fetch_all(&mut *tx)
                .await
                .expect("the audit log reads");
                tx.rollback().await.expect("rollback");
                rows.into_iter()
                    .map(
                        |(action, target_kind, target_id, actor, before, after)| Audited {
                            action,
                            target_kind,
                            target_id,
                            actor,
                            before: before.map(|j| j.0),
                            after: after.map(|j| j.0),
                        },
                    )
                    .collect()
            }

            async fn plant_audit(&self, t: TenantId, entry: AuditEntry) {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                tx.audit(&entry).await.expect("the audit record is written");
                tx.commit().await.expect("commit");
            }

            async fn outbox(&self, t: TenantId) -> Vec<Outboxed> {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let rows: Vec<(String, Json<Value>)> = sqlx::query_as(
                    "SELECT event_type, payload FROM outbox WHERE tenant_id = $1 ORDER BY id",
                )
                .bind(t.0)
                .fetch_all(&mut *tx)
                .await
                .expect("the outbox reads");
                tx.rollback().await.expect("rollback");
                rows.into_iter()
                    .map(|(event_type, payload)| Outboxed {
                        event_type,
                        payload: payload.0,
                    })
                    .collect()
            }

            async fn mark_processed(&self, t: TenantId, consumer: &str) {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let event = EventEnvelope::new(t, "test.processed", serde_json::json!({}));
                assert!(tx.first_delivery(consumer, &event).await.expect("recorded"));
                tx.commit().await.expect("commit");
            }

            async fn backdate_folders(&self, t: TenantId, ids: &[Uuid], when: DateTime<Utc>) {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                for id in ids {
                    let n = sqlx::query(
                        "UPDATE portfolios SET created_at = $3 WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(t.0)
                    .bind(*id)
                    .bind(when)
                    .execute(&mut *tx)
                    .await
                    .expect("the folder is backdated")
                    .rows_affected();
                    assert_eq!(n, 1, "folder {id} of the tenant");
                }
                tx.commit().await.expect("commit");
            }

            async fn backdate_published(&self, t: TenantId, when: DateTime<Utc>) -> u64 {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let n = sqlx::query(
                    "UPDATE outbox SET published_at = $2 WHERE tenant_id = $1 \
                     AND published_at IS NOT NULL",
                )
                .bind(t.0)
                .bind(when)
                .execute(&mut *tx)
                .await
                .expect("the outbox is backdated")
                .rows_affected();
                tx.commit().await.expect("commit");
                n
            }

            async fn folder_secrets(&self, t: TenantId, id: Uuid) -> (Vec<u8>, Vec<u8>) {
                let mut tx = self.pool().begin_tenant(t).await.expect("begin");
                let row: (Vec<u8>, Vec<u8>) = sqlx::query_as(
                    "SELECT student_index, student_enc FROM portfolios \
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(t.0)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .expect("the folder reads");
                tx.rollback().await.expect("rollback");
                row
            }

            async fn relay(&self, bus: &MemoryBus) -> usize {
                let mut total = 0;
                loop {
                    let n = relay_once(self.pool(), bus, 100)
                        .await
                        .expect("the relay runs");
                    total += n;
                    if n < 100 {
                        return total;
                    }
                }
            }
        }
    };
}

impl_inspect!(postgres::Store);
impl_inspect!(sqlite::Store);

/// Collects what a bus delivers.
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<EventEnvelope>>);

#[async_trait]
impl EventHandler for Collect {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
}

// ------------------------------------------------------------------ inputs

/// 2030-03-`day` `hour`:`minute` UTC, for submissions whose order matters.
pub fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(YEAR, 3, day, hour, minute, 0)
        .single()
        .expect("a test instant")
}

/// A four-point holistic rubric (1–4) with one dimension and two condition codes.
pub fn rubric(programme: &str, name: &str) -> Rubric {
    Rubric {
        id: Uuid::nil(),
        programme: programme.to_string(),
        name: name.to_string(),
        score_points: (1..=4)
            .map(|v| ScorePoint {
                value: v,
                label: format!("Point {v}"),
            })
            .collect(),
        dimensions: vec![Dimension {
            key: "organisation".into(),
            name: "Organisation".into(),
            min: 1,
            max: 4,
        }],
        condition_codes: vec![
            ConditionCode {
                code: "blank".into(),
                label: "Blank".into(),
            },
            ConditionCode {
                code: "off_topic".into(),
                label: "Off topic".into(),
            },
        ],
        qualification_threshold: 0.7,
        created_at: Utc::now(),
    }
}

pub async fn create_rubric(s: &dyn ScoringStore, t: TenantId, programme: &str) -> Rubric {
    s.create_rubric(t, ACTOR, rubric(programme, &format!("{programme} rubric")))
        .await
        .expect("rubric created")
}

pub fn anchor(rubric: Uuid, point: i32, title: &str) -> AnchorPaper {
    AnchorPaper {
        id: Uuid::nil(),
        rubric_id: rubric,
        score_point: point,
        title: title.to_string(),
        work_ref: format!("anchors/{point}/{title}.pdf"),
        annotation: format!("Why {title} is a {point}"),
    }
}

/// The blind index the tests use for a student: any bytes will do at store level.
pub fn index_of(student: &str) -> Vec<u8> {
    format!("index:{student}").into_bytes()
}

/// A new folder of `student` (opaque index and "ciphertext" bytes).
pub fn folder(student: &str, school: Uuid, grade: i32, year: i32) -> NewPortfolio {
    NewPortfolio {
        portfolio: Portfolio {
            id: Uuid::now_v7(),
            student_ref: String::new(),
            school_id: school,
            grade_level: grade,
            academic_year: year,
            pieces: vec![
                Piece {
                    genre: "narrative".into(),
                    title: format!("{student}'s story"),
                    work_ref: format!("work/{student}/story.pdf"),
                },
                Piece {
                    genre: "argument".into(),
                    title: format!("{student}'s essay"),
                    work_ref: format!("work/{student}/essay.pdf"),
                },
            ],
            previous_id: None,
        },
        student_index: index_of(student),
        student_enc: [b"sealed:".as_slice(), student.as_bytes(), &[0, 255, 7]].concat(),
    }
}

pub async fn create_folders(
    s: &dyn ScoringStore,
    t: TenantId,
    folders: Vec<NewPortfolio>,
) -> Vec<StoredPortfolio> {
    s.create_portfolios(t, ACTOR, folders)
        .await
        .expect("folders created")
}

/// One folder of `student` in `school`, grade 4 of [`YEAR`].
pub async fn create_folder(
    s: &dyn ScoringStore,
    t: TenantId,
    student: &str,
    school: Uuid,
) -> StoredPortfolio {
    create_folders(s, t, vec![folder(student, school, 4, YEAR)])
        .await
        .remove(0)
}

pub fn session(
    rubric: Uuid,
    cluster: Uuid,
    year: i32,
    lead: Uuid,
    rule: ResolutionRule,
) -> Session {
    Session {
        id: Uuid::nil(),
        event_id: Uuid::now_v7(),
        rubric_id: rubric,
        cluster_id: cluster,
        academic_year: year,
        name: format!("Scoring day {year}"),
        status: SessionStatus::Open,
        second_read_share: DEFAULT_SECOND_READ_SHARE,
        backread_share: DEFAULT_BACKREAD_SHARE,
        allow_own_school: false,
        resolution_rule: rule,
        calibration_since: None,
        lead_id: lead,
        portfolios: 0,
        created_at: Utc::now(),
        closed_at: None,
    }
}

pub async fn create_session(s: &dyn ScoringStore, t: TenantId, session: Session) -> Session {
    s.create_session(t, ACTOR, session)
        .await
        .expect("session created")
}

/// A session of [`YEAR`] holding `folders`.
pub async fn session_with(
    s: &dyn ScoringStore,
    t: TenantId,
    rubric: Uuid,
    lead: Uuid,
    rule: ResolutionRule,
    folders: &[Uuid],
) -> Session {
    let created = create_session(s, t, session(rubric, Uuid::now_v7(), YEAR, lead, rule)).await;
    s.add_session_portfolios(t, ACTOR, created.id, folders)
        .await
        .expect("folders added to the session")
}

/// A planned read.
pub fn read(session: Uuid, portfolio: Uuid, scorer: Uuid, kind: ReadKind) -> Assignment {
    Assignment {
        id: Uuid::now_v7(),
        session_id: session,
        portfolio_id: portfolio,
        scorer_id: scorer,
        kind,
        submitted: false,
        reviews_score_id: None,
    }
}

/// Stores planned reads; returns them.
pub async fn assign(
    s: &dyn ScoringStore,
    t: TenantId,
    session: Uuid,
    reads: Vec<Assignment>,
) -> Vec<Assignment> {
    let n = s
        .add_assignments(t, ACTOR, session, reads.clone())
        .await
        .expect("reads assigned");
    assert_eq!(n as usize, reads.len(), "every read stored");
    reads
}

/// A score with its dimension score.
pub fn points(v: i32) -> ScoreValue {
    ScoreValue {
        score: Some(v),
        dimensions: vec![("organisation".into(), v)],
        condition_code: None,
    }
}

pub fn condition(code: &str) -> ScoreValue {
    ScoreValue {
        score: None,
        dimensions: vec![],
        condition_code: Some(code.to_string()),
    }
}

/// The first submission of `a` by its own scorer at `when`.
pub fn submission(a: &Assignment, value: ScoreValue, when: DateTime<Utc>) -> Submission {
    Submission {
        assignment_id: a.id,
        scorer_id: a.scorer_id,
        value,
        correction: None,
        at: when,
    }
}

/// Submits `a` by its scorer (who is also the actor).
pub async fn give(
    s: &dyn ScoringStore,
    t: TenantId,
    a: &Assignment,
    value: ScoreValue,
    when: DateTime<Utc>,
) -> Submitted {
    s.submit(t, &a.scorer_id.to_string(), submission(a, value, when))
        .await
        .unwrap_or_else(|e| panic!("the {:?} read is taken: {e:?}", a.kind))
}

pub fn attempt(set: &QualificationSet, scorer: Uuid, given: &[i32]) -> QualificationAttempt {
    let results: Vec<(Uuid, i32, i32)> = set
        .papers
        .iter()
        .zip(given)
        .map(|(p, g)| (p.id, *g, p.true_score))
        .collect();
    let exact = results.iter().filter(|(_, g, a)| g == a).count();
    QualificationAttempt {
        id: Uuid::nil(),
        set_id: set.id,
        rubric_id: set.rubric_id,
        academic_year: set.academic_year,
        kind: set.kind,
        scorer_id: scorer,
        passed: exact as f64 / results.len() as f64 >= 0.7,
        results,
        threshold: 0.7,
        submitted_at: Utc::now(),
    }
}

pub fn qualification_set(rubric: Uuid, year: i32, kind: SetKind, name: &str) -> QualificationSet {
    QualificationSet {
        id: Uuid::nil(),
        rubric_id: rubric,
        academic_year: year,
        kind,
        name: name.to_string(),
        papers: (1..=4)
            .map(|i| PrescoredPaper {
                id: Uuid::now_v7(),
                title: format!("{name} paper {i}"),
                work_ref: format!("sets/{name}/{i}.pdf"),
                true_score: i,
            })
            .collect(),
    }
}

// ------------------------------------------------------------------ a tenant with a row in every table

/// One tenant with at least one row in every table of the schema.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub tenant: TenantId,
    pub rubric: Rubric,
    pub anchor: AnchorPaper,
    pub set: QualificationSet,
    pub attempt: QualificationAttempt,
    pub school: Uuid,
    /// Double-read (exact agreement, resolved) and single-read (resolved).
    pub folders: Vec<StoredPortfolio>,
    pub session: Session,
    pub reads: Vec<Assignment>,
    pub first: Uuid,
    pub second: Uuid,
    pub lead: Uuid,
}

/// Creates a tenant's rows through the store, one at least in every table
/// (audit_log and outbox are written by every mutation; processed_events
/// through a tenant transaction, as a consumer would).
pub async fn seed_tenant(s: &dyn Inspect, name: &str) -> Seeded {
    let t = TenantId::new_v7();
    let (first, second, lead, school) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let rubric = create_rubric(s, t, &format!("{name} writing")).await;
    let anchor = s
        .add_anchor(t, ACTOR, anchor(rubric.id, 3, &format!("{name} anchor")))
        .await
        .expect("anchor added");
    let set = s
        .create_set(
            t,
            ACTOR,
            qualification_set(rubric.id, YEAR, SetKind::Qualifying, name),
        )
        .await
        .expect("set created");
    let attempt = s
        .record_attempt(t, ACTOR, attempt(&set, first, &[1, 2, 3, 4]))
        .await
        .expect("attempt recorded");
    let folders = create_folders(
        s,
        t,
        vec![
            folder(&format!("{name}-1"), school, 4, YEAR),
            folder(&format!("{name}-2"), school, 4, YEAR),
        ],
    )
    .await;
    let ids: Vec<Uuid> = folders.iter().map(|f| f.portfolio.id).collect();
    let session = session_with(s, t, rubric.id, lead, ResolutionRule::AdjacentAverage, &ids).await;
    let reads = assign(
        s,
        t,
        session.id,
        vec![
            read(session.id, ids[0], first, ReadKind::First),
            read(session.id, ids[0], second, ReadKind::Second),
            read(session.id, ids[1], first, ReadKind::First),
        ],
    )
    .await;
    give(s, t, &reads[0], points(3), at(2, 9, 0)).await;
    give(s, t, &reads[1], points(3), at(2, 9, 5)).await;
    give(s, t, &reads[2], points(2), at(2, 9, 10)).await;
    s.mark_processed(t, "notifications").await;
    let counts = s.counts(t).await;
    for (table, n) in &counts {
        assert!(*n > 0, "the seed wrote a row into {table}: {counts:?}");
    }
    Seeded {
        tenant: t,
        rubric,
        anchor,
        set,
        attempt,
        school,
        folders,
        session,
        reads,
        first,
        second,
        lead,
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

pub fn folder_ids(folders: &[StoredPortfolio]) -> Vec<Uuid> {
    folders.iter().map(|f| f.portfolio.id).collect()
}

// ------------------------------------------------------------------ error kinds

#[track_caller]
pub fn expect_not_found<T: Debug>(result: Result<T>) {
    match result {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[track_caller]
pub fn expect_forbidden<T: Debug>(result: Result<T>) {
    match result {
        Err(Error::Forbidden(_)) => {}
        other => panic!("expected Forbidden, got {other:?}"),
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

/// A failed precondition whose message names `field`; returns the message.
#[track_caller]
pub fn expect_failed_precondition<T: Debug>(result: Result<T>, field: &str) -> String {
    match result {
        Err(Error::FailedPrecondition(message)) => {
            assert!(
                message.starts_with(&format!("{field}: ")),
                "the failed precondition should name {field}: {message:?}"
            );
            message
        }
        other => panic!("expected FailedPrecondition naming {field}, got {other:?}"),
    }
}
