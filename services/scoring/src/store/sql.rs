// The one SQL body of the scoring store, included by `postgres.rs` and
// `sqlite.rs` with `Db`/`Pool` naming the backend, `FOR_UPDATE` its row lock
// and `FOR_SHARE` its shared lock ("" on SQLite, whose single writer already
// serialises transactions), and `ID_BYTES` the bytes of a row's UUID id.
// The statements are the common dialect of both (numbered `$n` parameters,
// `RETURNING`, `ON CONFLICT`, partial indexes); every statement filters on
// `tenant_id`. Instants are kept in whole seconds, as in the other stores, so
// both backends return exactly what was stored.
//
// Submissions. A read is accepted with the session row share-locked (closing
// takes it exclusively), the assignment row locked, and the portfolio's
// `session_portfolios` row locked: the two readers of one portfolio are
// serialised there, so whichever commits second sees the other's read and
// resolves the pair. Score rows are only ever inserted; `scores_version`
// (unique per assignment and version) turns a racing correction into a
// CONFLICT instead of a lost update.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::{
    auth::TenantId,
    error::{Error, Result},
    events::EventEnvelope,
    page::Page,
    retention::{Category, Count, Cutoffs},
    tx::{AuditEntry, TenantTxExt},
};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{FromRow, QueryBuilder, Transaction, types::Json};
use uuid::Uuid;

use crate::{
    domain::{adjudication, *},
    store::*,
};

/// The keys of a score's audit snapshot that erasure removes: the fields
/// `erase_person` blanks (`reason`) and pseudonymises (`submitted_by`) in
/// the row itself.
const SCORE_PERSONAL_KEYS: &[&str] = &["reason", "submitted_by"];

/// Most ids bound in one `IN (…)` list (both backends cap parameters).
const IN_CHUNK: usize = 1_000;
/// Rows per multi-row INSERT.
const ROWS_PER_INSERT: usize = 500;

/// The store over one pool of this backend (pool, relay signal, tenant
/// transactions: `platform::db::TenantStore`).
pub type Store = platform::db::TenantStore<Pool>;

type Tx = Transaction<'static, Db>;

use platform::db::{conflict_on, stored_enum as stored, whole_secs as secs};

fn now() -> DateTime<Utc> {
    secs(Utc::now())
}

fn uint(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// The audit record of one mutation and its outbox event
/// `scoring.<action>` with payload `{id, actor, after, ..extra}`.
fn entry(
    t: TenantId,
    actor: &str,
    action: &str,
    target_id: Uuid,
    after: Option<Value>,
    extra: Value,
) -> (AuditEntry, EventEnvelope) {
    let target_kind = action.split('.').next().unwrap_or(action).to_string();
    let audit = AuditEntry {
        tenant: t,
        actor: actor.to_string(),
        action: action.to_string(),
        target_kind,
        target_id: target_id.to_string(),
        at: Utc::now(),
        before: None,
        after: after.clone(),
    };
    let mut payload = json!({ "id": target_id, "actor": actor, "after": after });
    if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), extra) {
        p.extend(extra);
    }
    (audit, EventEnvelope::new(t, format!("scoring.{action}"), payload))
}

/// Writes the audit records and events of mutations in two statements.
async fn record_all(tx: &mut Tx, entries: Vec<(AuditEntry, EventEnvelope)>) -> Result<()> {
    let (audits, events): (Vec<_>, Vec<_>) = entries.into_iter().unzip();
    tx.audit_all(&audits).await?;
    tx.emit_all(&events).await
}

async fn record<T: Serialize + Sync>(
    tx: &mut Tx,
    t: TenantId,
    actor: &str,
    action: &str,
    target_id: Uuid,
    after: &T,
) -> Result<()> {
    record_all(tx, vec![entry(t, actor, action, target_id, Some(to_json(after)), json!({}))]).await
}

// ---------------------------------------------------------------- rows

const RUBRIC_COLUMNS: &str = "id, programme, name, score_points, dimensions, condition_codes, \
                              qualification_threshold, created_at";

#[derive(FromRow)]
struct RubricRow {
    id: Uuid,
    programme: String,
    name: String,
    score_points: Json<Vec<ScorePoint>>,
    dimensions: Json<Vec<Dimension>>,
    condition_codes: Json<Vec<ConditionCode>>,
    qualification_threshold: f64,
    created_at: DateTime<Utc>,
}

impl From<RubricRow> for Rubric {
    fn from(r: RubricRow) -> Self {
        Rubric {
            id: r.id,
            programme: r.programme,
            name: r.name,
            score_points: r.score_points.0,
            dimensions: r.dimensions.0,
            condition_codes: r.condition_codes.0,
            qualification_threshold: r.qualification_threshold,
            created_at: r.created_at,
        }
    }
}

const ANCHOR_COLUMNS: &str = "id, rubric_id, score_point, title, work_ref, annotation";

#[derive(FromRow)]
struct AnchorRow {
    id: Uuid,
    rubric_id: Uuid,
    score_point: i32,
    title: String,
    work_ref: String,
    annotation: String,
}

impl From<AnchorRow> for AnchorPaper {
    fn from(r: AnchorRow) -> Self {
        AnchorPaper {
            id: r.id,
            rubric_id: r.rubric_id,
            score_point: r.score_point,
            title: r.title,
            work_ref: r.work_ref,
            annotation: r.annotation,
        }
    }
}

const PORTFOLIO_COLUMNS: &str =
    "id, student_enc, school_id, grade_level, academic_year, pieces, previous_id, anonymised_at";

#[derive(FromRow)]
struct PortfolioRow {
    id: Uuid,
    student_enc: Vec<u8>,
    school_id: Uuid,
    grade_level: i32,
    academic_year: i32,
    pieces: Json<Vec<Piece>>,
    previous_id: Option<Uuid>,
    anonymised_at: Option<DateTime<Utc>>,
}

impl From<PortfolioRow> for StoredPortfolio {
    fn from(r: PortfolioRow) -> Self {
        StoredPortfolio {
            portfolio: Portfolio {
                id: r.id,
                student_ref: String::new(),
                school_id: r.school_id,
                grade_level: r.grade_level,
                academic_year: r.academic_year,
                pieces: r.pieces.0,
                previous_id: r.previous_id,
            },
            student_enc: r.student_enc,
            anonymised_at: r.anonymised_at,
        }
    }
}

/// The folders of tenant `$1` that retention anonymises at cutoff `$2`:
/// created before it, not anonymised yet, and in no open session (a folder
/// being scored keeps its student until the session closes). Written
/// against the bare table name, so the same condition serves the count, the
/// row locks and the UPDATE.
const ANONYMISABLE: &str = "tenant_id = $1 AND created_at < $2 AND anonymised_at IS NULL \
     AND NOT EXISTS (SELECT 1 FROM session_portfolios sp JOIN sessions s \
       ON s.tenant_id = sp.tenant_id AND s.id = sp.session_id \
       WHERE sp.tenant_id = $1 AND sp.portfolio_id = portfolios.id AND s.status = 'open')";

const SET_COLUMNS: &str = "id, rubric_id, academic_year, kind, name, papers";

#[derive(FromRow)]
struct SetRow {
    id: Uuid,
    rubric_id: Uuid,
    academic_year: i32,
    kind: String,
    name: String,
    papers: Json<Vec<PrescoredPaper>>,
}

impl TryFrom<SetRow> for QualificationSet {
    type Error = Error;
    fn try_from(r: SetRow) -> Result<Self> {
        Ok(QualificationSet {
            id: r.id,
            rubric_id: r.rubric_id,
            academic_year: r.academic_year,
            kind: stored("set kind", &r.kind, SetKind::parse)?,
            name: r.name,
            papers: r.papers.0,
        })
    }
}

const ATTEMPT_COLUMNS: &str =
    "id, set_id, rubric_id, academic_year, kind, scorer_id, results, threshold, passed, submitted_at";

#[derive(FromRow)]
struct AttemptRow {
    id: Uuid,
    set_id: Uuid,
    rubric_id: Uuid,
    academic_year: i32,
    kind: String,
    scorer_id: Uuid,
    results: Json<Vec<(Uuid, i32, i32)>>,
    threshold: f64,
    passed: bool,
    submitted_at: DateTime<Utc>,
}

impl TryFrom<AttemptRow> for QualificationAttempt {
    type Error = Error;
    fn try_from(r: AttemptRow) -> Result<Self> {
        Ok(QualificationAttempt {
            id: r.id,
            set_id: r.set_id,
            rubric_id: r.rubric_id,
            academic_year: r.academic_year,
            kind: stored("set kind", &r.kind, SetKind::parse)?,
            scorer_id: r.scorer_id,
            results: r.results.0,
            threshold: r.threshold,
            passed: r.passed,
            submitted_at: r.submitted_at,
        })
    }
}

const SESSION_COLUMNS: &str = "s.id, s.event_id, s.rubric_id, s.cluster_id, s.academic_year, \
     s.name, s.status, s.second_read_share, s.backread_share, s.allow_own_school, \
     s.resolution_rule, s.calibration_since, s.lead_id, s.created_at, s.closed_at, \
     (SELECT COUNT(*) FROM session_portfolios sp \
      WHERE sp.tenant_id = s.tenant_id AND sp.session_id = s.id) AS portfolios";

#[derive(FromRow)]
struct SessionRow {
    id: Uuid,
    event_id: Uuid,
    rubric_id: Uuid,
    cluster_id: Uuid,
    academic_year: i32,
    name: String,
    status: String,
    second_read_share: f64,
    backread_share: f64,
    allow_own_school: bool,
    resolution_rule: String,
    calibration_since: Option<DateTime<Utc>>,
    lead_id: Uuid,
    created_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    portfolios: i64,
}

impl TryFrom<SessionRow> for Session {
    type Error = Error;
    fn try_from(r: SessionRow) -> Result<Self> {
        Ok(Session {
            id: r.id,
            event_id: r.event_id,
            rubric_id: r.rubric_id,
            cluster_id: r.cluster_id,
            academic_year: r.academic_year,
            name: r.name,
            status: stored("session status", &r.status, SessionStatus::parse)?,
            second_read_share: r.second_read_share,
            backread_share: r.backread_share,
            allow_own_school: r.allow_own_school,
            resolution_rule: stored("resolution rule", &r.resolution_rule, ResolutionRule::parse)?,
            calibration_since: r.calibration_since,
            lead_id: r.lead_id,
            portfolios: uint(r.portfolios),
            created_at: r.created_at,
            closed_at: r.closed_at,
        })
    }
}

const ASSIGNMENT_COLUMNS: &str =
    "id, session_id, portfolio_id, scorer_id, kind, status, reviews_assignment_id";

#[derive(FromRow)]
struct AssignmentRow {
    id: Uuid,
    session_id: Uuid,
    portfolio_id: Uuid,
    scorer_id: Uuid,
    kind: String,
    status: String,
    reviews_assignment_id: Option<Uuid>,
}

impl TryFrom<AssignmentRow> for Assignment {
    type Error = Error;
    fn try_from(r: AssignmentRow) -> Result<Self> {
        Ok(Assignment {
            id: r.id,
            session_id: r.session_id,
            portfolio_id: r.portfolio_id,
            scorer_id: r.scorer_id,
            kind: stored("read kind", &r.kind, ReadKind::parse)?,
            submitted: r.status == "submitted",
            reviews_score_id: r.reviews_assignment_id,
        })
    }
}

const SCORE_COLUMNS: &str = "id, assignment_id, session_id, portfolio_id, scorer_id, kind, \
     version, score, dimensions, condition_code, reason, submitted_by, submitted_at";

#[derive(FromRow)]
struct ScoreRow {
    id: Uuid,
    assignment_id: Uuid,
    session_id: Uuid,
    portfolio_id: Uuid,
    scorer_id: Uuid,
    kind: String,
    version: i32,
    score: Option<i32>,
    dimensions: Json<Vec<(String, i32)>>,
    condition_code: Option<String>,
    reason: String,
    submitted_by: String,
    submitted_at: DateTime<Utc>,
}

impl TryFrom<ScoreRow> for Score {
    type Error = Error;
    fn try_from(r: ScoreRow) -> Result<Self> {
        Ok(Score {
            id: r.id,
            assignment_id: r.assignment_id,
            session_id: r.session_id,
            portfolio_id: r.portfolio_id,
            scorer_id: r.scorer_id,
            kind: stored("read kind", &r.kind, ReadKind::parse)?,
            version: u32::try_from(r.version).unwrap_or(0),
            value: ScoreValue {
                score: r.score,
                dimensions: r.dimensions.0,
                condition_code: r.condition_code,
            },
            reason: r.reason,
            submitted_by: r.submitted_by,
            submitted_at: r.submitted_at,
        })
    }
}

const RESULT_COLUMNS: &str = "session_id, portfolio_id, school_id, state, final_score, \
     final_condition, method, reason, decided_at, first_scorer, first_score, first_condition, \
     second_scorer, second_score, second_condition, paired_at";

#[derive(FromRow, Clone)]
struct ResultDbRow {
    session_id: Uuid,
    portfolio_id: Uuid,
    school_id: Uuid,
    state: String,
    final_score: Option<f64>,
    final_condition: Option<String>,
    method: Option<String>,
    reason: String,
    decided_at: DateTime<Utc>,
    first_scorer: Option<Uuid>,
    first_score: Option<i32>,
    first_condition: Option<String>,
    second_scorer: Option<Uuid>,
    second_score: Option<i32>,
    second_condition: Option<String>,
    paired_at: Option<DateTime<Utc>>,
}

impl ResultDbRow {
    fn result(&self) -> Result<ResultRow> {
        let final_score = match (&self.final_condition, self.final_score) {
            (Some(c), _) => Some(FinalScore::Condition(c.clone())),
            (None, Some(s)) => Some(FinalScore::Score(s)),
            (None, None) => None,
        };
        Ok(ResultRow {
            session_id: self.session_id,
            portfolio_id: self.portfolio_id,
            school_id: self.school_id,
            awaiting_third_read: self.state == "awaiting_third_read",
            final_score,
            method: self
                .method
                .as_deref()
                .map(|m| stored("method", m, Method::parse))
                .transpose()?,
            reason: self.reason.clone(),
            decided_at: self.decided_at,
        })
    }

    fn read(score: Option<i32>, condition: &Option<String>) -> Option<Read> {
        match (condition, score) {
            (Some(c), _) => Some(Read::Condition(c.clone())),
            (None, Some(s)) => Some(Read::Score(s)),
            (None, None) => None,
        }
    }
}

fn in_list(q: &mut QueryBuilder<'_, Db>, ids: &[Uuid]) {
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    q.push(")");
}

/// Rows of `select` (a `SELECT … FROM <table> <alias>` without a WHERE)
/// of the tenant whose `<alias>.id`-like `column` is among `ids`, a chunk of
/// ids at a time; `tenant` names the tenant column the same way.
async fn rows_in<R>(
    tx: &mut Tx,
    t: TenantId,
    select: &str,
    tenant: &str,
    column: &str,
    ids: &[Uuid],
) -> Result<Vec<R>>
where
    R: for<'r> FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
{
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut q = QueryBuilder::<Db>::new(format!("{select} WHERE {tenant} = "));
        q.push_bind(t.0).push(format!(" AND {column} IN ("));
        in_list(&mut q, chunk);
        let rows: Vec<R> = q.build_query_as().fetch_all(&mut **tx).await?;
        out.extend(rows);
    }
    Ok(out)
}

/// The session row, share-locked.
async fn session_in(tx: &mut Tx, t: TenantId, id: Uuid, lock: &str) -> Result<Session> {
    let row: Option<SessionRow> = sqlx::query_as(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.tenant_id = $1 AND s.id = $2{lock}"
    ))
    .bind(t.0)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.ok_or_else(|| Error::not_found("session"))?.try_into()
}

fn require_open(s: &Session) -> Result<()> {
    if s.status == SessionStatus::Closed {
        return Err(Error::FailedPrecondition(
            "session_id: the scoring session is closed; it takes no more changes".into(),
        ));
    }
    Ok(())
}

/// Resolves a portfolio's current reads into its result columns.
fn resolution(
    rule: ResolutionRule,
    has_second: bool,
    third: Option<&Read>,
    first: Option<&Read>,
    second: Option<&Read>,
) -> (&'static str, Option<Outcome>) {
    if let Some(third) = third {
        return ("resolved", Some(adjudication::resolve_third(third)));
    }
    match (first, second, has_second) {
        (None, _, _) => ("unread", None),
        (Some(f), _, false) => ("resolved", Some(adjudication::resolve_single(f))),
        (Some(_), None, true) => ("pending", None),
        (Some(f), Some(s), true) => {
            let o = adjudication::resolve(rule, f, s);
            match o {
                Outcome::NeedsThirdRead { .. } => ("awaiting_third_read", Some(o)),
                Outcome::Resolved { .. } => ("resolved", Some(o)),
            }
        }
    }
}

#[async_trait]
impl ScoringStore for Store {
    // ---------------------------------------------------------------- rubrics

    async fn create_rubric(&self, t: TenantId, actor: &str, rubric: Rubric) -> Result<Rubric> {
        let mut r = rubric;
        if r.id.is_nil() {
            r.id = Uuid::now_v7();
        }
        r.created_at = now();
        r.programme = r.programme.trim().to_string();
        r.name = r.name.trim().to_string();
        let mut tx = self.tx(t).await?;
        sqlx::query(&format!(
            "INSERT INTO rubrics (tenant_id, {RUBRIC_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(t.0)
        .bind(r.id)
        .bind(&r.programme)
        .bind(&r.name)
        .bind(Json(&r.score_points))
        .bind(Json(&r.dimensions))
        .bind(Json(&r.condition_codes))
        .bind(r.qualification_threshold)
        .bind(r.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on(e, "id: a rubric with this id exists"))?;
        record(&mut tx, t, actor, "rubric.created", r.id, &r).await?;
        self.commit(tx).await?;
        Ok(r)
    }

    async fn get_rubrics(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Rubric>> {
        let mut tx = self.tx(t).await?;
        let select = format!("SELECT {RUBRIC_COLUMNS} FROM rubrics");
        let rows: Vec<RubricRow> = rows_in(&mut tx, t, &select, "tenant_id", "id", ids).await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(Rubric::from).collect())
    }

    async fn list_rubrics(
        &self,
        t: TenantId,
        programme: Option<&str>,
        page: Page,
    ) -> Result<Paged<Rubric>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<RubricRow> = sqlx::query_as(&format!(
            "SELECT {RUBRIC_COLUMNS} FROM rubrics WHERE tenant_id = $1 AND id > $2 \
             AND ($3 IS NULL OR programme = $3) ORDER BY id LIMIT $4"
        ))
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(programme)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(page.finish(rows.into_iter().map(Rubric::from).collect(), |r| r.id))
    }

    async fn add_anchor(
        &self,
        t: TenantId,
        actor: &str,
        anchor: AnchorPaper,
    ) -> Result<AnchorPaper> {
        let mut a = anchor;
        a.id = Uuid::now_v7();
        let mut tx = self.tx(t).await?;
        // The rubric row locked: two anchors added at once cannot both be the fifth.
        let found: Option<Uuid> = sqlx::query_scalar(&format!(
            "SELECT id FROM rubrics WHERE tenant_id = $1 AND id = $2{FOR_UPDATE}"
        ))
        .bind(t.0)
        .bind(a.rubric_id)
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Err(Error::not_found("rubric"));
        }
        let have: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM anchor_papers WHERE tenant_id = $1 AND rubric_id = $2 \
             AND score_point = $3",
        )
        .bind(t.0)
        .bind(a.rubric_id)
        .bind(a.score_point)
        .fetch_one(&mut *tx)
        .await?;
        if have >= i64::from(rubric::MAX_ANCHORS_PER_POINT) {
            return Err(Error::FailedPrecondition(format!(
                "score_point: score point {} has {} anchor papers already, the most a point may have",
                a.score_point,
                rubric::MAX_ANCHORS_PER_POINT
            )));
        }
        sqlx::query(&format!(
            "INSERT INTO anchor_papers (tenant_id, {ANCHOR_COLUMNS}, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(t.0)
        .bind(a.id)
        .bind(a.rubric_id)
        .bind(a.score_point)
        .bind(&a.title)
        .bind(&a.work_ref)
        .bind(&a.annotation)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        record(&mut tx, t, actor, "anchor.added", a.id, &a).await?;
        self.commit(tx).await?;
        Ok(a)
    }

    async fn anchors(&self, t: TenantId, rubric: Uuid) -> Result<Vec<AnchorPaper>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<AnchorRow> = sqlx::query_as(&format!(
            "SELECT {ANCHOR_COLUMNS} FROM anchor_papers WHERE tenant_id = $1 AND rubric_id = $2 \
             ORDER BY score_point, id"
        ))
        .bind(t.0)
        .bind(rubric)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(AnchorPaper::from).collect())
    }

    async fn anchor_counts(&self, t: TenantId, rubrics: &[Uuid]) -> Result<Vec<(Uuid, i32, u32)>> {
        let mut tx = self.tx(t).await?;
        let mut out = Vec::new();
        for chunk in rubrics.chunks(IN_CHUNK) {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT rubric_id, score_point, COUNT(*) FROM anchor_papers WHERE tenant_id = ",
            );
            q.push_bind(t.0).push(" AND rubric_id IN (");
            in_list(&mut q, chunk);
            q.push(" GROUP BY rubric_id, score_point ORDER BY rubric_id, score_point");
            let rows: Vec<(Uuid, i32, i64)> = q.build_query_as().fetch_all(&mut *tx).await?;
            out.extend(rows.into_iter().map(|(r, p, n)| (r, p, uint(n))));
        }
        tx.commit().await?;
        Ok(out)
    }

    // ---------------------------------------------------------------- portfolios

    async fn create_portfolios(
        &self,
        t: TenantId,
        actor: &str,
        portfolios: Vec<NewPortfolio>,
    ) -> Result<Vec<StoredPortfolio>> {
        let created = now();
        // The same student twice in the batch, named at the second folder.
        let mut seen = std::collections::HashSet::new();
        if let Some(i) = portfolios
            .iter()
            .position(|p| !seen.insert((&p.student_index, p.portfolio.academic_year)))
        {
            return Err(Error::Conflict(format!(
                "portfolios[{i}].student_ref: the student appears twice for academic year {}",
                portfolios[i].portfolio.academic_year
            )));
        }
        let mut tx = self.tx(t).await?;
        // A student already holding a folder of the year, named by position.
        for chunk in portfolios.chunks(IN_CHUNK / 2) {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT student_index, academic_year FROM portfolios WHERE tenant_id = ",
            );
            q.push_bind(t.0).push(" AND student_index IN (");
            let mut sep = q.separated(", ");
            for p in chunk {
                sep.push_bind(p.student_index.clone());
            }
            q.push(")");
            let taken: Vec<(Vec<u8>, i32)> = q.build_query_as().fetch_all(&mut *tx).await?;
            if let Some(i) = portfolios.iter().position(|p| {
                taken.contains(&(p.student_index.clone(), p.portfolio.academic_year))
            }) {
                return Err(Error::Conflict(format!(
                    "portfolios[{i}].student_ref: the student has a folder for academic year {} already",
                    portfolios[i].portfolio.academic_year
                )));
            }
        }
        let mut out = Vec::with_capacity(portfolios.len());
        let mut records = Vec::with_capacity(portfolios.len());
        for chunk in portfolios.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Db>::new(
                "INSERT INTO portfolios (tenant_id, id, student_index, student_enc, school_id, \
                 grade_level, academic_year, pieces, previous_id, created_at) ",
            );
            q.push_values(chunk, |mut b, p| {
                b.push_bind(t.0)
                    .push_bind(p.portfolio.id)
                    .push_bind(p.student_index.clone())
                    .push_bind(p.student_enc.clone())
                    .push_bind(p.portfolio.school_id)
                    .push_bind(p.portfolio.grade_level)
                    .push_bind(p.portfolio.academic_year)
                    .push_bind(Json(p.portfolio.pieces.clone()))
                    .push_bind(p.portfolio.previous_id)
                    .push_bind(created);
            });
            q.build().execute(&mut *tx).await.map_err(|e| {
                conflict_on(e, "portfolios: a student appears twice for one academic year")
            })?;
        }
        for p in portfolios {
            let mut portfolio = p.portfolio;
            portfolio.student_ref = String::new();
            records.push(entry(
                t,
                actor,
                "portfolio.created",
                portfolio.id,
                Some(to_json(&portfolio)),
                json!({}),
            ));
            out.push(StoredPortfolio {
                portfolio,
                student_enc: p.student_enc,
                anonymised_at: None,
            });
        }
        record_all(&mut tx, records).await?;
        self.commit(tx).await?;
        Ok(out)
    }

    async fn get_portfolios(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<StoredPortfolio>> {
        let mut tx = self.tx(t).await?;
        let select = format!("SELECT {PORTFOLIO_COLUMNS} FROM portfolios");
        let rows: Vec<PortfolioRow> = rows_in(&mut tx, t, &select, "tenant_id", "id", ids).await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(StoredPortfolio::from).collect())
    }

    async fn list_portfolios(
        &self,
        t: TenantId,
        academic_year: Option<i32>,
        school: Option<Uuid>,
        page: Page,
    ) -> Result<Paged<StoredPortfolio>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<PortfolioRow> = sqlx::query_as(&format!(
            "SELECT {PORTFOLIO_COLUMNS} FROM portfolios WHERE tenant_id = $1 AND id > $2 \
             AND ($3 IS NULL OR academic_year = $3) AND ($4 IS NULL OR school_id = $4) \
             ORDER BY id LIMIT $5"
        ))
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(academic_year)
        .bind(school)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(page.finish(
            rows.into_iter().map(StoredPortfolio::from).collect(),
            |p| p.portfolio.id,
        ))
    }

    async fn promote_portfolios(
        &self,
        t: TenantId,
        actor: &str,
        from_year: i32,
        final_grade: i32,
    ) -> Result<PromotionReport> {
        let created = now();
        let mut tx = self.tx(t).await?;
        // An anonymised folder has no student to move on.
        let rows: Vec<(Uuid, Vec<u8>, Vec<u8>, Uuid, i32, Json<Vec<Piece>>)> = sqlx::query_as(
            "SELECT id, student_index, student_enc, school_id, grade_level, pieces \
             FROM portfolios WHERE tenant_id = $1 AND academic_year = $2 \
             AND anonymised_at IS NULL ORDER BY id",
        )
        .bind(t.0)
        .bind(from_year)
        .fetch_all(&mut *tx)
        .await?;
        let next: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT student_index FROM portfolios WHERE tenant_id = $1 AND academic_year = $2",
        )
        .bind(t.0)
        .bind(from_year + 1)
        .fetch_all(&mut *tx)
        .await?;
        let next: std::collections::HashSet<Vec<u8>> = next.into_iter().collect();
        let mut report = PromotionReport::default();
        let mut new = Vec::new();
        for (id, index, enc, school, grade, pieces) in rows {
            if grade >= final_grade {
                report.graduated += 1;
            } else if next.contains(&index) {
                report.already_promoted += 1;
            } else {
                new.push((Uuid::now_v7(), id, index, enc, school, grade + 1, pieces));
            }
        }
        let mut records = Vec::with_capacity(new.len());
        for chunk in new.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Db>::new(
                "INSERT INTO portfolios (tenant_id, id, student_index, student_enc, school_id, \
                 grade_level, academic_year, pieces, previous_id, created_at) ",
            );
            q.push_values(chunk, |mut b, (id, prev, index, enc, school, grade, pieces)| {
                b.push_bind(t.0)
                    .push_bind(*id)
                    .push_bind(index.clone())
                    .push_bind(enc.clone())
                    .push_bind(*school)
                    .push_bind(*grade)
                    .push_bind(from_year + 1)
                    .push_bind(pieces.clone())
                    .push_bind(*prev)
                    .push_bind(created);
            });
            q.build().execute(&mut *tx).await.map_err(|e| {
                conflict_on(e, "from_year: another promotion of this year ran at the same time; run it again")
            })?;
        }
        for (id, prev, _, _, school, grade, _) in &new {
            records.push(entry(
                t,
                actor,
                "portfolio.promoted",
                *id,
                Some(json!({
                    "id": id, "previous_id": prev, "school_id": school,
                    "grade_level": grade, "academic_year": from_year + 1,
                })),
                json!({}),
            ));
        }
        report.promoted = new.len() as u32;
        record_all(&mut tx, records).await?;
        self.commit(tx).await?;
        Ok(report)
    }

    // ---------------------------------------------------------------- qualification

    async fn create_set(
        &self,
        t: TenantId,
        actor: &str,
        set: QualificationSet,
    ) -> Result<QualificationSet> {
        let mut s = set;
        s.id = Uuid::now_v7();
        let mut tx = self.tx(t).await?;
        let found: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM rubrics WHERE tenant_id = $1 AND id = $2")
                .bind(t.0)
                .bind(s.rubric_id)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Err(Error::not_found("rubric"));
        }
        sqlx::query(&format!(
            "INSERT INTO qualification_sets (tenant_id, {SET_COLUMNS}, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(t.0)
        .bind(s.id)
        .bind(s.rubric_id)
        .bind(s.academic_year)
        .bind(s.kind.as_str())
        .bind(&s.name)
        .bind(Json(&s.papers))
        .bind(now())
        .execute(&mut *tx)
        .await?;
        record(&mut tx, t, actor, "qualification_set.created", s.id, &s).await?;
        self.commit(tx).await?;
        Ok(s)
    }

    async fn get_set(&self, t: TenantId, id: Uuid) -> Result<Option<QualificationSet>> {
        let mut tx = self.tx(t).await?;
        let row: Option<SetRow> = sqlx::query_as(&format!(
            "SELECT {SET_COLUMNS} FROM qualification_sets WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(t.0)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(QualificationSet::try_from).transpose()
    }

    async fn list_sets(
        &self,
        t: TenantId,
        rubric: Uuid,
        academic_year: Option<i32>,
    ) -> Result<Vec<QualificationSet>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<SetRow> = sqlx::query_as(&format!(
            "SELECT {SET_COLUMNS} FROM qualification_sets WHERE tenant_id = $1 AND rubric_id = $2 \
             AND ($3 IS NULL OR academic_year = $3) ORDER BY id"
        ))
        .bind(t.0)
        .bind(rubric)
        .bind(academic_year)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(QualificationSet::try_from).collect()
    }

    async fn record_attempt(
        &self,
        t: TenantId,
        actor: &str,
        attempt: QualificationAttempt,
    ) -> Result<QualificationAttempt> {
        let mut a = attempt;
        a.id = Uuid::now_v7();
        a.submitted_at = secs(a.submitted_at);
        let mut tx = self.tx(t).await?;
        sqlx::query(&format!(
            "INSERT INTO qualification_attempts (tenant_id, {ATTEMPT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(t.0)
        .bind(a.id)
        .bind(a.set_id)
        .bind(a.rubric_id)
        .bind(a.academic_year)
        .bind(a.kind.as_str())
        .bind(a.scorer_id)
        .bind(Json(&a.results))
        .bind(a.threshold)
        .bind(a.passed)
        .bind(a.submitted_at)
        .execute(&mut *tx)
        .await?;
        record(&mut tx, t, actor, "qualification_attempt.recorded", a.id, &a).await?;
        self.commit(tx).await?;
        Ok(a)
    }

    async fn attempts(
        &self,
        t: TenantId,
        scorer: Uuid,
        rubric: Uuid,
        academic_year: i32,
    ) -> Result<Vec<QualificationAttempt>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<AttemptRow> = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM qualification_attempts WHERE tenant_id = $1 \
             AND scorer_id = $2 AND rubric_id = $3 AND academic_year = $4 ORDER BY id"
        ))
        .bind(t.0)
        .bind(scorer)
        .bind(rubric)
        .bind(academic_year)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(QualificationAttempt::try_from).collect()
    }

    // ---------------------------------------------------------------- sessions

    async fn create_session(&self, t: TenantId, actor: &str, session: Session) -> Result<Session> {
        let mut s = session;
        s.id = Uuid::now_v7();
        s.status = SessionStatus::Open;
        s.created_at = now();
        s.closed_at = None;
        s.portfolios = 0;
        s.calibration_since = s.calibration_since.map(secs);
        let mut tx = self.tx(t).await?;
        let found: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM rubrics WHERE tenant_id = $1 AND id = $2")
                .bind(t.0)
                .bind(s.rubric_id)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Err(Error::not_found("rubric"));
        }
        sqlx::query(
            "INSERT INTO sessions (tenant_id, id, event_id, rubric_id, cluster_id, academic_year, \
             name, status, second_read_share, backread_share, allow_own_school, resolution_rule, \
             calibration_since, lead_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(t.0)
        .bind(s.id)
        .bind(s.event_id)
        .bind(s.rubric_id)
        .bind(s.cluster_id)
        .bind(s.academic_year)
        .bind(&s.name)
        .bind(s.status.as_str())
        .bind(s.second_read_share)
        .bind(s.backread_share)
        .bind(s.allow_own_school)
        .bind(s.resolution_rule.as_str())
        .bind(s.calibration_since)
        .bind(s.lead_id)
        .bind(s.created_at)
        .execute(&mut *tx)
        .await?;
        record(&mut tx, t, actor, "session.created", s.id, &s).await?;
        self.commit(tx).await?;
        Ok(s)
    }

    async fn get_sessions(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Session>> {
        let mut tx = self.tx(t).await?;
        let select = format!("SELECT {SESSION_COLUMNS} FROM sessions s");
        let rows: Vec<SessionRow> = rows_in(&mut tx, t, &select, "s.tenant_id", "s.id", ids).await?;
        tx.commit().await?;
        rows.into_iter().map(Session::try_from).collect()
    }

    async fn list_sessions(
        &self,
        t: TenantId,
        academic_year: Option<i32>,
        cluster: Option<Uuid>,
        page: Page,
    ) -> Result<Paged<Session>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<SessionRow> = sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.tenant_id = $1 AND s.id > $2 \
             AND ($3 IS NULL OR s.academic_year = $3) AND ($4 IS NULL OR s.cluster_id = $4) \
             ORDER BY s.id LIMIT $5"
        ))
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(academic_year)
        .bind(cluster)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let sessions = rows
            .into_iter()
            .map(Session::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(page.finish(sessions, |s| s.id))
    }

    async fn add_session_portfolios(
        &self,
        t: TenantId,
        actor: &str,
        session: Uuid,
        portfolios: &[Uuid],
    ) -> Result<Session> {
        let mut tx = self.tx(t).await?;
        let s = session_in(&mut tx, t, session, FOR_UPDATE).await?;
        require_open(&s)?;
        // The folders share-locked: a retention run anonymising them waits
        // for this session to hold them (and then leaves them alone), or
        // anonymised them first (and they are refused below).
        type Folder = (Uuid, Uuid, i32, Option<DateTime<Utc>>);
        let mut rows: Vec<Folder> = Vec::new();
        let mut wanted: Vec<Uuid> = portfolios.to_vec();
        wanted.sort();
        wanted.dedup();
        for chunk in wanted.chunks(IN_CHUNK) {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT id, school_id, academic_year, anonymised_at FROM portfolios \
                 WHERE tenant_id = ",
            );
            q.push_bind(t.0).push(" AND id IN (");
            in_list(&mut q, chunk);
            q.push(format!(" ORDER BY id{FOR_SHARE}"));
            rows.extend(q.build_query_as::<Folder>().fetch_all(&mut *tx).await?);
        }
        let found: HashMap<Uuid, (Uuid, i32, bool)> = rows
            .into_iter()
            .map(|(id, school, y, anonymised)| (id, (school, y, anonymised.is_some())))
            .collect();
        for (i, id) in portfolios.iter().enumerate() {
            match found.get(id) {
                None => return Err(Error::invalid(format!("portfolio_ids[{i}]"), "no such portfolio")),
                Some((_, _, true)) => {
                    return Err(Error::invalid(
                        format!("portfolio_ids[{i}]"),
                        "the folder was anonymised under the retention policy; it has nothing left to read",
                    ));
                }
                Some((_, y, _)) if *y != s.academic_year => {
                    return Err(Error::invalid(
                        format!("portfolio_ids[{i}]"),
                        format!(
                            "the folder is of academic year {y}, the session of {}",
                            s.academic_year
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let decided = now();
        let mut unique: Vec<Uuid> = portfolios.to_vec();
        unique.sort();
        unique.dedup();
        // Folders already in the session stay as they are, unaudited: adding
        // them again changes nothing.
        let mut present = std::collections::HashSet::new();
        for chunk in unique.chunks(IN_CHUNK) {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT portfolio_id FROM session_portfolios WHERE tenant_id = ",
            );
            q.push_bind(t.0)
                .push(" AND session_id = ")
                .push_bind(s.id)
                .push(" AND portfolio_id IN (");
            in_list(&mut q, chunk);
            let rows: Vec<(Uuid,)> = q.build_query_as().fetch_all(&mut *tx).await?;
            present.extend(rows.into_iter().map(|(id,)| id));
        }
        unique.retain(|id| !present.contains(id));
        for chunk in unique.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Db>::new(
                "INSERT INTO session_portfolios (tenant_id, session_id, portfolio_id, school_id, \
                 cluster_id, academic_year, rubric_id, state, reason, decided_at) ",
            );
            q.push_values(chunk, |mut b, id| {
                b.push_bind(t.0)
                    .push_bind(s.id)
                    .push_bind(*id)
                    .push_bind(found[id].0)
                    .push_bind(s.cluster_id)
                    .push_bind(s.academic_year)
                    .push_bind(s.rubric_id)
                    .push_bind("unread")
                    .push_bind("")
                    .push_bind(decided);
            });
            q.build().execute(&mut *tx).await?;
        }
        if !unique.is_empty() {
            record_all(
                &mut tx,
                vec![entry(
                    t,
                    actor,
                    "session.portfolios_added",
                    s.id,
                    Some(json!({ "portfolio_ids": unique })),
                    json!({}),
                )],
            )
            .await?;
        }
        let s = session_in(&mut tx, t, session, "").await?;
        self.commit(tx).await?;
        Ok(s)
    }

    async fn planning_state(
        &self,
        t: TenantId,
        session: Uuid,
    ) -> Result<(Vec<Unread>, Vec<(Uuid, u32)>)> {
        let mut tx = self.tx(t).await?;
        session_in(&mut tx, t, session, "").await?;
        let unread: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT sp.portfolio_id, sp.school_id FROM session_portfolios sp \
             WHERE sp.tenant_id = $1 AND sp.session_id = $2 AND NOT EXISTS ( \
               SELECT 1 FROM assignments a WHERE a.tenant_id = sp.tenant_id \
               AND a.session_id = sp.session_id AND a.portfolio_id = sp.portfolio_id \
               AND a.kind = 'first' AND a.status <> 'withdrawn') \
             ORDER BY sp.portfolio_id",
        )
        .bind(t.0)
        .bind(session)
        .fetch_all(&mut *tx)
        .await?;
        let loads: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT scorer_id, COUNT(*) FROM assignments WHERE tenant_id = $1 AND session_id = $2 \
             AND kind IN ('first', 'second') AND status <> 'withdrawn' GROUP BY scorer_id",
        )
        .bind(t.0)
        .bind(session)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((
            unread
                .into_iter()
                .map(|(portfolio_id, school_id)| Unread {
                    portfolio_id,
                    school_id,
                })
                .collect(),
            loads.into_iter().map(|(s, n)| (s, uint(n))).collect(),
        ))
    }

    async fn add_assignments(
        &self,
        t: TenantId,
        actor: &str,
        session: Uuid,
        assignments: Vec<Assignment>,
    ) -> Result<u32> {
        let mut tx = self.tx(t).await?;
        let s = session_in(&mut tx, t, session, FOR_UPDATE).await?;
        require_open(&s)?;
        let created = now();
        for chunk in assignments.chunks(ROWS_PER_INSERT) {
            let mut q = QueryBuilder::<Db>::new(
                "INSERT INTO assignments (tenant_id, id, session_id, portfolio_id, scorer_id, kind, \
                 reviews_assignment_id, status, created_at) ",
            );
            q.push_values(chunk, |mut b, a| {
                b.push_bind(t.0)
                    .push_bind(a.id)
                    .push_bind(s.id)
                    .push_bind(a.portfolio_id)
                    .push_bind(a.scorer_id)
                    .push_bind(a.kind.as_str())
                    .push_bind(a.reviews_score_id)
                    .push_bind("pending")
                    .push_bind(created);
            });
            q.build().execute(&mut *tx).await.map_err(|e| {
                conflict_on(
                    e,
                    "session_id: some of these reads were assigned by someone else meanwhile; plan again",
                )
            })?;
        }
        // Second reads exist from now: a portfolio resolved on its first read
        // alone goes back to waiting for the second.
        let seconds: Vec<Uuid> = assignments
            .iter()
            .filter(|a| a.kind == ReadKind::Second)
            .map(|a| a.portfolio_id)
            .collect();
        for chunk in seconds.chunks(IN_CHUNK) {
            let mut q = QueryBuilder::<Db>::new(
                "UPDATE session_portfolios SET state = 'pending', final_score = NULL, \
                 final_condition = NULL, method = NULL, reason = '' WHERE tenant_id = ",
            );
            q.push_bind(t.0)
                .push(" AND session_id = ")
                .push_bind(s.id)
                .push(" AND state = 'resolved' AND portfolio_id IN (");
            in_list(&mut q, chunk);
            q.build().execute(&mut *tx).await?;
        }
        let mut per_scorer: BTreeMap<Uuid, BTreeMap<&'static str, u32>> = BTreeMap::new();
        for a in &assignments {
            *per_scorer
                .entry(a.scorer_id)
                .or_default()
                .entry(a.kind.as_str())
                .or_default() += 1;
        }
        let records = per_scorer
            .into_iter()
            .map(|(scorer, reads)| {
                entry(
                    t,
                    actor,
                    "assignment.ready",
                    s.id,
                    Some(json!({ "scorer_id": scorer, "reads": reads })),
                    json!({
                        "session_id": s.id,
                        "scorer_id": scorer,
                        "session_name": s.name,
                        "event_id": s.event_id,
                    }),
                )
            })
            .collect();
        record_all(&mut tx, records).await?;
        self.commit(tx).await?;
        Ok(assignments.len() as u32)
    }

    async fn get_assignments(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Assignment>> {
        let mut tx = self.tx(t).await?;
        let select = format!("SELECT {ASSIGNMENT_COLUMNS} FROM assignments");
        let rows: Vec<AssignmentRow> = rows_in(&mut tx, t, &select, "tenant_id", "id", ids).await?;
        tx.commit().await?;
        rows.into_iter().map(Assignment::try_from).collect()
    }

    async fn list_assignments(
        &self,
        t: TenantId,
        filter: &AssignmentFilter,
        page: Page,
    ) -> Result<Paged<Assignment>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<AssignmentRow> = sqlx::query_as(&format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE tenant_id = $1 AND id > $2 \
             AND ($3 IS NULL OR session_id = $3) AND ($4 IS NULL OR scorer_id = $4) \
             AND status <> 'withdrawn' AND ($5 = FALSE OR status = 'pending') \
             ORDER BY id LIMIT $6"
        ))
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(filter.session_id)
        .bind(filter.scorer_id)
        .bind(filter.pending_only)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let list = rows
            .into_iter()
            .map(Assignment::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(page.finish(list, |a| a.id))
    }

    async fn submit(&self, t: TenantId, actor: &str, s: Submission) -> Result<Submitted> {
        let at = secs(s.at);
        let mut tx = self.tx(t).await?;
        let assignment: Option<AssignmentRow> = sqlx::query_as(&format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(t.0)
        .bind(s.assignment_id)
        .fetch_optional(&mut *tx)
        .await?;
        let assignment = assignment.ok_or_else(|| Error::not_found("assignment"))?;
        if assignment.scorer_id != s.scorer_id {
            return Err(Error::forbidden("the assignment is another reader's"));
        }
        let a = Assignment::try_from(assignment)?;
        // Lock order of every writer: session (shared), then the portfolio's row.
        let session = session_in(&mut tx, t, a.session_id, FOR_SHARE).await?;
        if a.kind != ReadKind::Third {
            require_open(&session)?;
        }
        let sp: ResultDbRow = sqlx::query_as(&format!(
            "SELECT {RESULT_COLUMNS} FROM session_portfolios WHERE tenant_id = $1 \
             AND session_id = $2 AND portfolio_id = $3{FOR_UPDATE}"
        ))
        .bind(t.0)
        .bind(a.session_id)
        .bind(a.portfolio_id)
        .fetch_one(&mut *tx)
        .await?;
        // Re-read the assignment under the lock: its status is what counts.
        let status: String = sqlx::query_scalar(
            "SELECT status FROM assignments WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.0)
        .bind(a.id)
        .fetch_one(&mut *tx)
        .await?;
        match (&s.correction, status.as_str()) {
            (_, "withdrawn") => {
                return Err(Error::FailedPrecondition(
                    "assignment_id: this read is no longer needed (the portfolio was resolved)".into(),
                ));
            }
            (None, "submitted") => {
                return Err(Error::Conflict(
                    "assignment_id: a score was submitted for this read already; correct it with a reason"
                        .into(),
                ));
            }
            (Some(_), "pending") => {
                return Err(Error::FailedPrecondition(
                    "assignment_id: nothing was submitted for this read yet; submit a score first".into(),
                ));
            }
            _ => {}
        }
        if a.kind == ReadKind::Second && sp.first_scorer == Some(s.scorer_id) {
            return Err(Error::FailedPrecondition(
                "assignment_id: the first reader of a portfolio cannot give its second read".into(),
            ));
        }
        if a.kind == ReadKind::First && sp.second_scorer == Some(s.scorer_id) {
            return Err(Error::FailedPrecondition(
                "assignment_id: the second reader of a portfolio cannot give its first read".into(),
            ));
        }
        let version: i32 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM scores WHERE tenant_id = $1 AND assignment_id = $2",
        )
        .bind(t.0)
        .bind(a.id)
        .fetch_one(&mut *tx)
        .await?;
        let score = Score {
            id: Uuid::now_v7(),
            assignment_id: a.id,
            session_id: a.session_id,
            portfolio_id: a.portfolio_id,
            scorer_id: s.scorer_id,
            kind: a.kind,
            version: u32::try_from(version).unwrap_or(1),
            value: s.value,
            reason: s.correction.clone().unwrap_or_default(),
            submitted_by: actor.to_string(),
            submitted_at: at,
        };
        sqlx::query(&format!(
            "INSERT INTO scores (tenant_id, {SCORE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(t.0)
        .bind(score.id)
        .bind(score.assignment_id)
        .bind(score.session_id)
        .bind(score.portfolio_id)
        .bind(score.scorer_id)
        .bind(score.kind.as_str())
        .bind(version)
        .bind(score.value.score)
        .bind(Json(&score.value.dimensions))
        .bind(&score.value.condition_code)
        .bind(&score.reason)
        .bind(&score.submitted_by)
        .bind(score.submitted_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            conflict_on(e, "assignment_id: the read was changed meanwhile; reload and try again")
        })?;
        sqlx::query(
            "UPDATE assignments SET status = 'submitted', current_score_id = $3 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.0)
        .bind(a.id)
        .bind(score.id)
        .execute(&mut *tx)
        .await?;

        let mut records = vec![entry(
            t,
            actor,
            if s.correction.is_some() {
                "score.corrected"
            } else {
                "score.submitted"
            },
            score.id,
            Some(to_json(&score)),
            json!({ "session_id": score.session_id, "portfolio_id": score.portfolio_id }),
        )];
        let mut third_read_assigned = false;
        let result = if a.kind == ReadKind::Backread {
            sp.result()?
        } else {
            // The portfolio's current reads, this one included.
            let mut row = sp.clone();
            let read = score.value.read();
            let (value, condition) = match &read {
                Read::Score(v) => (Some(*v), None),
                Read::Condition(c) => (None, Some(c.clone())),
            };
            match a.kind {
                ReadKind::First => {
                    row.first_scorer = Some(s.scorer_id);
                    row.first_score = value;
                    row.first_condition = condition;
                }
                ReadKind::Second => {
                    row.second_scorer = Some(s.scorer_id);
                    row.second_score = value;
                    row.second_condition = condition;
                }
                _ => {}
            }
            let reads: Vec<(String, Option<Uuid>)> = sqlx::query_as(
                "SELECT kind, current_score_id FROM assignments WHERE tenant_id = $1 \
                 AND session_id = $2 AND portfolio_id = $3 AND kind IN ('second', 'third') \
                 AND status <> 'withdrawn'",
            )
            .bind(t.0)
            .bind(a.session_id)
            .bind(a.portfolio_id)
            .fetch_all(&mut *tx)
            .await?;
            let has_second = reads.iter().any(|(k, _)| k == "second");
            let third_score: Option<Uuid> = reads
                .iter()
                .find(|(k, _)| k == "third")
                .and_then(|(_, id)| *id);
            let third_pending = reads.iter().any(|(k, id)| k == "third" && id.is_none());
            let third_read: Option<Read> = if let Some(id) = third_score {
                let (v, c): (Option<i32>, Option<String>) = sqlx::query_as(
                    "SELECT score, condition_code FROM scores WHERE tenant_id = $1 AND id = $2",
                )
                .bind(t.0)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                ResultDbRow::read(v, &c)
            } else {
                None
            };
            let first = ResultDbRow::read(row.first_score, &row.first_condition);
            let second = ResultDbRow::read(row.second_score, &row.second_condition);
            let (state, outcome) = resolution(
                session.resolution_rule,
                has_second,
                third_read.as_ref(),
                first.as_ref(),
                second.as_ref(),
            );
            row.state = state.to_string();
            row.decided_at = at;
            (row.final_score, row.final_condition, row.method, row.reason) = match &outcome {
                Some(Outcome::Resolved { final_score, method }) => {
                    let (fs, fc) = match final_score {
                        FinalScore::Score(v) => (Some(*v), None),
                        FinalScore::Condition(c) => (None, Some(c.clone())),
                    };
                    (fs, fc, Some(method.as_str().to_string()), String::new())
                }
                Some(Outcome::NeedsThirdRead { reason }) => (None, None, None, reason.clone()),
                None => (None, None, None, String::new()),
            };
            let newly_paired = sp.paired_at.is_none() && first.is_some() && second.is_some();
            sqlx::query(
                "UPDATE session_portfolios SET first_scorer = $4, first_score = $5, \
                 first_condition = $6, second_scorer = $7, second_score = $8, \
                 second_condition = $9, state = $10, final_score = $11, final_condition = $12, \
                 method = $13, reason = $14, decided_at = $15, \
                 paired_at = CASE WHEN $16 THEN $15 ELSE paired_at END \
                 WHERE tenant_id = $1 AND session_id = $2 AND portfolio_id = $3",
            )
            .bind(t.0)
            .bind(a.session_id)
            .bind(a.portfolio_id)
            .bind(row.first_scorer)
            .bind(row.first_score)
            .bind(&row.first_condition)
            .bind(row.second_scorer)
            .bind(row.second_score)
            .bind(&row.second_condition)
            .bind(&row.state)
            .bind(row.final_score)
            .bind(&row.final_condition)
            .bind(&row.method)
            .bind(&row.reason)
            .bind(at)
            .bind(newly_paired)
            .execute(&mut *tx)
            .await?;
            if state == "awaiting_third_read" && third_score.is_none() && !third_pending {
                let third = Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO assignments (tenant_id, id, session_id, portfolio_id, scorer_id, \
                     kind, status, created_at) VALUES ($1, $2, $3, $4, $5, 'third', 'pending', $6)",
                )
                .bind(t.0)
                .bind(third)
                .bind(a.session_id)
                .bind(a.portfolio_id)
                .bind(session.lead_id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                third_read_assigned = true;
                records.push(entry(
                    t,
                    actor,
                    "discrepancy.detected",
                    a.portfolio_id,
                    Some(json!({ "assignment_id": third, "reason": row.reason })),
                    json!({
                        "session_id": a.session_id,
                        "portfolio_id": a.portfolio_id,
                        "lead_id": session.lead_id,
                        "assignment_id": third,
                        "reason": row.reason,
                    }),
                ));
            } else if state == "resolved" && third_pending && third_score.is_none() {
                // A correction settled the disagreement: the lead's read is not needed.
                sqlx::query(
                    "UPDATE assignments SET status = 'withdrawn' WHERE tenant_id = $1 \
                     AND session_id = $2 AND portfolio_id = $3 AND kind = 'third' \
                     AND status = 'pending'",
                )
                .bind(t.0)
                .bind(a.session_id)
                .bind(a.portfolio_id)
                .execute(&mut *tx)
                .await?;
            }
            let result = row.result()?;
            if result.final_score.is_some() || result.awaiting_third_read {
                records.push(entry(
                    t,
                    actor,
                    "result.decided",
                    a.portfolio_id,
                    Some(to_json(&result)),
                    json!({ "session_id": a.session_id }),
                ));
            }
            result
        };
        record_all(&mut tx, records).await?;
        self.commit(tx).await?;
        Ok(Submitted {
            score,
            result,
            third_read_assigned,
        })
    }

    async fn history(
        &self,
        t: TenantId,
        session: Uuid,
        portfolio: Uuid,
    ) -> Result<(Vec<Score>, Option<ResultRow>)> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<ScoreRow> = sqlx::query_as(&format!(
            "SELECT {SCORE_COLUMNS} FROM scores WHERE tenant_id = $1 AND session_id = $2 \
             AND portfolio_id = $3 ORDER BY id"
        ))
        .bind(t.0)
        .bind(session)
        .bind(portfolio)
        .fetch_all(&mut *tx)
        .await?;
        let result: Option<ResultDbRow> = sqlx::query_as(&format!(
            "SELECT {RESULT_COLUMNS} FROM session_portfolios WHERE tenant_id = $1 \
             AND session_id = $2 AND portfolio_id = $3"
        ))
        .bind(t.0)
        .bind(session)
        .bind(portfolio)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((
            rows.into_iter()
                .map(Score::try_from)
                .collect::<Result<Vec<_>>>()?,
            result.map(|r| r.result()).transpose()?,
        ))
    }

    async fn list_results(
        &self,
        t: TenantId,
        session: Uuid,
        awaiting_only: bool,
        page: Page,
    ) -> Result<Paged<ResultRow>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<ResultDbRow> = sqlx::query_as(&format!(
            "SELECT {RESULT_COLUMNS} FROM session_portfolios WHERE tenant_id = $1 \
             AND session_id = $2 AND portfolio_id > $3 \
             AND ($4 = FALSE OR state = 'awaiting_third_read') ORDER BY portfolio_id LIMIT $5"
        ))
        .bind(t.0)
        .bind(session)
        .bind(page.after_or_nil())
        .bind(awaiting_only)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let list = rows
            .iter()
            .map(ResultDbRow::result)
            .collect::<Result<Vec<_>>>()?;
        Ok(page.finish(list, |r| r.portfolio_id))
    }

    async fn progress(&self, t: TenantId, session: Uuid) -> Result<Progress> {
        let mut tx = self.tx(t).await?;
        session_in(&mut tx, t, session, "").await?;
        let states: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM session_portfolios WHERE tenant_id = $1 \
             AND session_id = $2 GROUP BY state",
        )
        .bind(t.0)
        .bind(session)
        .fetch_all(&mut *tx)
        .await?;
        let reads: Vec<(Uuid, Uuid, String, String, Option<Uuid>)> = sqlx::query_as(
            "SELECT id, scorer_id, kind, status, reviews_assignment_id FROM assignments \
             WHERE tenant_id = $1 AND session_id = $2 AND status <> 'withdrawn' ORDER BY id",
        )
        .bind(t.0)
        .bind(session)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut p = Progress::default();
        for (state, n) in states {
            let n = uint(n);
            p.portfolios += n;
            match state.as_str() {
                "resolved" => p.resolved += n,
                "awaiting_third_read" => p.awaiting_third_read += n,
                _ => {}
            }
        }
        let backread: std::collections::HashSet<Uuid> =
            reads.iter().filter_map(|r| r.4).collect();
        let mut by: BTreeMap<Uuid, ScorerProgress> = BTreeMap::new();
        for (id, scorer, kind, status, _) in &reads {
            p.reads_assigned += 1;
            let submitted = status == "submitted";
            if submitted {
                p.reads_submitted += 1;
            }
            if kind != "first" && kind != "second" {
                continue;
            }
            let sp = by.entry(*scorer).or_insert_with(|| ScorerProgress {
                scorer_id: *scorer,
                ..Default::default()
            });
            sp.assigned += 1;
            if submitted {
                sp.submitted += 1;
                if backread.contains(id) {
                    sp.backreads += 1;
                } else {
                    sp.not_backread.push(*id);
                }
            }
        }
        p.scorers = by.into_values().collect();
        Ok(p)
    }

    async fn close_session(
        &self,
        t: TenantId,
        actor: &str,
        session: Uuid,
        flagged: &[(Uuid, Vec<String>)],
    ) -> Result<Session> {
        let mut tx = self.tx(t).await?;
        let s = session_in(&mut tx, t, session, FOR_UPDATE).await?;
        if s.status == SessionStatus::Closed {
            return Err(Error::FailedPrecondition(
                "session_id: the scoring session is closed already".into(),
            ));
        }
        let closed = now();
        sqlx::query(
            "UPDATE sessions SET status = 'closed', closed_at = $3 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.0)
        .bind(s.id)
        .bind(closed)
        .execute(&mut *tx)
        .await?;
        // Reads nobody gave are no longer wanted; third reads still are.
        sqlx::query(
            "UPDATE assignments SET status = 'withdrawn' WHERE tenant_id = $1 AND session_id = $2 \
             AND status = 'pending' AND kind <> 'third'",
        )
        .bind(t.0)
        .bind(s.id)
        .execute(&mut *tx)
        .await?;
        let awaiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM session_portfolios WHERE tenant_id = $1 AND session_id = $2 \
             AND state = 'awaiting_third_read'",
        )
        .bind(t.0)
        .bind(s.id)
        .fetch_one(&mut *tx)
        .await?;
        let s = session_in(&mut tx, t, session, "").await?;
        let mut records = vec![entry(
            t,
            actor,
            "session.closed",
            s.id,
            Some(to_json(&s)),
            json!({
                "session_id": s.id,
                "cluster_id": s.cluster_id,
                "lead_id": s.lead_id,
                "awaiting_third_read": awaiting,
            }),
        )];
        for (scorer, reasons) in flagged {
            records.push(entry(
                t,
                actor,
                "scorer.flagged",
                *scorer,
                Some(json!({ "session_id": s.id, "reasons": reasons })),
                json!({
                    "session_id": s.id,
                    "scorer_id": scorer,
                    "lead_id": s.lead_id,
                    "reasons": reasons,
                }),
            ));
        }
        record_all(&mut tx, records).await?;
        self.commit(tx).await?;
        Ok(s)
    }

    // ---------------------------------------------------------------- statistics

    async fn agreement_cells(
        &self,
        t: TenantId,
        group_by: GroupBy,
        filter: &StatsFilter,
    ) -> Result<Vec<MatrixCell>> {
        let filters = "tenant_id = $1 AND paired_at IS NOT NULL AND first_score IS NOT NULL \
                       AND second_score IS NOT NULL AND ($2 IS NULL OR academic_year = $2) \
                       AND ($3 IS NULL OR session_id = $3) AND ($4 IS NULL OR cluster_id = $4)";
        let sql = match group_by {
            GroupBy::Scorer => format!(
                "SELECT k, rubric_id, a, b, COUNT(*) FROM ( \
                   SELECT first_scorer AS k, rubric_id, first_score AS a, second_score AS b \
                   FROM session_portfolios WHERE {filters} \
                   UNION ALL \
                   SELECT second_scorer AS k, rubric_id, second_score AS a, first_score AS b \
                   FROM session_portfolios WHERE {filters}) p \
                 GROUP BY k, rubric_id, a, b"
            ),
            other => {
                let key = match other {
                    GroupBy::Session => "session_id",
                    GroupBy::Cluster => "cluster_id",
                    GroupBy::School => "school_id",
                    _ => "academic_year",
                };
                format!(
                    "SELECT {key}, rubric_id, first_score, second_score, COUNT(*) \
                     FROM session_portfolios WHERE {filters} \
                     GROUP BY {key}, rubric_id, first_score, second_score"
                )
            }
        };
        let mut tx = self.tx(t).await?;
        let out = if group_by == GroupBy::Year {
            let rows: Vec<(i32, Uuid, i32, i32, i64)> = sqlx::query_as(&sql)
                .bind(t.0)
                .bind(filter.academic_year)
                .bind(filter.session_id)
                .bind(filter.cluster_id)
                .fetch_all(&mut *tx)
                .await?;
            rows.into_iter()
                .map(|(k, r, a, b, n)| (k.to_string(), r, a, b, n as u64))
                .collect()
        } else {
            let rows: Vec<(Uuid, Uuid, i32, i32, i64)> = sqlx::query_as(&sql)
                .bind(t.0)
                .bind(filter.academic_year)
                .bind(filter.session_id)
                .bind(filter.cluster_id)
                .fetch_all(&mut *tx)
                .await?;
            rows.into_iter()
                .map(|(k, r, a, b, n)| (k.to_string(), r, a, b, n as u64))
                .collect()
        };
        tx.commit().await?;
        Ok(out)
    }

    async fn exact_windows(
        &self,
        t: TenantId,
        filter: &StatsFilter,
        window: u32,
    ) -> Result<Vec<(Uuid, Vec<f64>)>> {
        if window == 0 {
            return Ok(vec![]);
        }
        let filters = "tenant_id = $1 AND paired_at IS NOT NULL AND first_score IS NOT NULL \
                       AND second_score IS NOT NULL AND ($2 IS NULL OR academic_year = $2) \
                       AND ($3 IS NULL OR session_id = $3) AND ($4 IS NULL OR cluster_id = $4)";
        let agreed = "CASE WHEN first_score = second_score THEN 1 ELSE 0 END";
        let mut tx = self.tx(t).await?;
        // Numbered per scorer in the order the pairs formed, then summed per
        // window in SQL: a scorer's reads never leave the database one by one.
        let rows: Vec<(Uuid, i64, i64)> = sqlx::query_as(&format!(
            "SELECT k, w, SUM(agreed) FROM ( \
               SELECT k, agreed, (ROW_NUMBER() OVER (PARTITION BY k ORDER BY paired_at, portfolio_id) - 1) / $5 AS w \
               FROM ( \
                 SELECT first_scorer AS k, {agreed} AS agreed, paired_at, portfolio_id \
                 FROM session_portfolios WHERE {filters} \
                 UNION ALL \
                 SELECT second_scorer AS k, {agreed} AS agreed, paired_at, portfolio_id \
                 FROM session_portfolios WHERE {filters}) p) q \
             GROUP BY k, w HAVING COUNT(*) = $5 ORDER BY k, w"
        ))
        .bind(t.0)
        .bind(filter.academic_year)
        .bind(filter.session_id)
        .bind(filter.cluster_id)
        .bind(i64::from(window))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut out: Vec<(Uuid, Vec<f64>)> = Vec::new();
        for (k, _, agreed) in rows {
            let rate = agreed as f64 / f64::from(window);
            match out.last_mut() {
                Some((last, rates)) if *last == k => rates.push(rate),
                _ => out.push((k, vec![rate])),
            }
        }
        Ok(out)
    }

    async fn export_rows(
        &self,
        t: TenantId,
        academic_year: i32,
        school: Option<Uuid>,
    ) -> Result<Vec<ExportRow>> {
        let mut tx = self.tx(t).await?;
        #[derive(FromRow)]
        struct Row {
            #[sqlx(flatten)]
            result: ResultDbRow,
            student_enc: Vec<u8>,
            grade_level: i32,
            anonymised_at: Option<DateTime<Utc>>,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT sp.session_id, sp.portfolio_id, sp.school_id, sp.state, sp.final_score, \
             sp.final_condition, sp.method, sp.reason, sp.decided_at, sp.first_scorer, \
             sp.first_score, sp.first_condition, sp.second_scorer, sp.second_score, \
             sp.second_condition, sp.paired_at, p.student_enc, p.grade_level, p.anonymised_at \
             FROM session_portfolios sp JOIN portfolios p \
               ON p.tenant_id = sp.tenant_id AND p.id = sp.portfolio_id \
             WHERE sp.tenant_id = $1 AND sp.academic_year = $2 AND sp.state = 'resolved' \
             AND ($3 IS NULL OR sp.school_id = $3) \
             ORDER BY sp.school_id, sp.portfolio_id, sp.session_id",
        )
        .bind(t.0)
        .bind(academic_year)
        .bind(school)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|r| {
                Ok(ExportRow {
                    result: r.result.result()?,
                    student_enc: r.student_enc,
                    grade_level: r.grade_level,
                    academic_year,
                    anonymised: r.anonymised_at.is_some(),
                })
            })
            .collect()
    }

    // ---------------------------------------------------------------- data-subject requests

    async fn export_person(&self, t: TenantId, person: Uuid) -> Result<Value> {
        let mut tx = self.tx(t).await?;
        let assignments: Vec<AssignmentRow> = sqlx::query_as(&format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE tenant_id = $1 AND scorer_id = $2 \
             ORDER BY id"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let scores: Vec<ScoreRow> = sqlx::query_as(&format!(
            "SELECT {SCORE_COLUMNS} FROM scores WHERE tenant_id = $1 AND scorer_id = $2 \
             ORDER BY assignment_id, version"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let attempts: Vec<AttemptRow> = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM qualification_attempts WHERE tenant_id = $1 \
             AND scorer_id = $2 ORDER BY id"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let sessions: Vec<SessionRow> = sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s WHERE s.tenant_id = $1 AND s.lead_id = $2 \
             ORDER BY s.id"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let assignments = assignments
            .into_iter()
            .map(Assignment::try_from)
            .collect::<Result<Vec<_>>>()?;
        let scores = scores
            .into_iter()
            .map(Score::try_from)
            .collect::<Result<Vec<_>>>()?;
        let attempts = attempts
            .into_iter()
            .map(QualificationAttempt::try_from)
            .collect::<Result<Vec<_>>>()?;
        let sessions = sessions
            .into_iter()
            .map(Session::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(json!({
            "person_id": person,
            "assignments": to_json(&assignments),
            "scores": to_json(&scores),
            "qualification_attempts": to_json(&attempts),
            "sessions_led": to_json(&sessions),
        }))
    }

    async fn erase_person(&self, t: TenantId, actor: &str, person: Uuid) -> Result<ErasedCounts> {
        let mut tx = self.tx(t).await?;
        let reasons = sqlx::query(
            "UPDATE scores SET reason = '' WHERE tenant_id = $1 AND scorer_id = $2 \
             AND reason <> ''",
        )
        .bind(t.0)
        .bind(person)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let id = person.to_string();
        let submitters = sqlx::query(
            "UPDATE scores SET submitted_by = $3 WHERE tenant_id = $1 AND scorer_id = $2 \
             AND submitted_by <> $3",
        )
        .bind(t.0)
        .bind(person)
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // The audit snapshots of their score versions (`score.submitted` /
        // `score.corrected`, target the score id, `after` the whole score)
        // still hold the reason and the submitting actor as given: the same
        // two fields go from them. Ids, value, version and instants stay.
        let scores: Vec<String> = sqlx::query_scalar::<_, Uuid>(
            "SELECT id FROM scores WHERE tenant_id = $1 AND scorer_id = $2 ORDER BY id",
        )
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(Uuid::to_string)
        .collect();
        let scrubbed = tx.scrub_audit(t, &scores, SCORE_PERSONAL_KEYS).await?;
        let mut counts: ErasedCounts = vec![
            ("audit_snapshots_scrubbed".to_string(), scrubbed),
            ("score_reasons_blanked".to_string(), reasons),
            ("score_submitters_pseudonymised".to_string(), submitters),
        ];
        counts.sort();
        let summary: BTreeMap<&str, u64> = counts.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        record_all(
            &mut tx,
            vec![entry(
                t,
                actor,
                "person.erased",
                person,
                Some(json!({ "counts": summary })),
                json!({ "person_id": person }),
            )],
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
        if let Some(before) = cutoffs.get(Category::StudentWork) {
            let n = if dry_run {
                let n: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM portfolios WHERE {ANONYMISABLE}"
                ))
                .bind(t.0)
                .bind(before)
                .fetch_one(&mut *tx)
                .await?;
                u64::try_from(n).unwrap_or(0)
            } else {
                // Lock the folders first, then anonymise them in a statement
                // of its own. Adding folders to a session share-locks them:
                // a session that took one meanwhile has committed before the
                // lock is granted, so the UPDATE (a fresh snapshot) sees the
                // folder in the open session and skips it; one that comes
                // later waits for this transaction and finds it anonymised.
                sqlx::query(&format!(
                    "SELECT id FROM portfolios WHERE {ANONYMISABLE} ORDER BY id{FOR_UPDATE}"
                ))
                .bind(t.0)
                .bind(before)
                .fetch_all(&mut *tx)
                .await?;
                sqlx::query(&format!(
                    "UPDATE portfolios SET student_enc = $3, student_index = {ID_BYTES}, \
                     pieces = '[]', anonymised_at = $4 WHERE {ANONYMISABLE}"
                ))
                .bind(t.0)
                .bind(before)
                .bind(Vec::<u8>::new())
                .bind(now())
                .execute(&mut *tx)
                .await?
                .rows_affected()
            };
            counts.push(Count::new(Category::StudentWork, "portfolios", n));
        }
        counts.extend(tx.expire_common(t, cutoffs, dry_run).await?);
        if dry_run {
            tx.rollback().await?;
            return Ok(counts);
        }
        tx.record_retention(t, "scoring", actor, cutoffs, &counts)
            .await?;
        self.commit(tx).await?;
        Ok(counts)
    }
}
