//! Persistence of scoring. [`ScoringStore`] is the one interface, with a
//! PostgreSQL and a SQLite implementation generated from one SQL body
//! (`sql.rs`, as in membership and scheduling). The contract suite in
//! `tests/store_contract.rs` runs against both.
//!
//! Every method takes the tenant first and runs in one tenant transaction;
//! every mutation writes its audit record and outbox event in it. A score
//! submission locks the portfolio's row of the session, so two readers of
//! one portfolio submitting at the same moment are serialised and the
//! second sees the first's read when the pair is resolved; score versions
//! are unique per assignment, so concurrent corrections cannot both win.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::{
    auth::TenantId,
    error::Result,
    page::Page,
    retention::{Count, Cutoffs},
};
use uuid::Uuid;

use crate::domain::*;

/// A page of results and the token of the next page ("" when done).
pub type Paged<T> = (Vec<T>, String);

/// A portfolio as stored: the student id encrypted, with its blind index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPortfolio {
    /// `student_ref` is empty: the clear id is never in the store.
    pub portfolio: Portfolio,
    /// Empty once the folder is anonymised.
    pub student_enc: Vec<u8>,
    /// When retention anonymised the folder (`student_work`): it has no
    /// student any more (no sealed id, no blind index) and no pieces.
    pub anonymised_at: Option<DateTime<Utc>>,
}

impl StoredPortfolio {
    pub fn is_anonymised(&self) -> bool {
        self.anonymised_at.is_some()
    }
}

/// A portfolio to store: the folder and its sealed student id.
#[derive(Debug, Clone)]
pub struct NewPortfolio {
    pub portfolio: Portfolio,
    pub student_index: Vec<u8>,
    pub student_enc: Vec<u8>,
}

/// What a year-end promotion did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PromotionReport {
    pub promoted: u32,
    pub already_promoted: u32,
    pub graduated: u32,
}

/// Which assignments a list covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentFilter {
    pub session_id: Option<Uuid>,
    pub scorer_id: Option<Uuid>,
    pub pending_only: bool,
}

/// A read given or corrected.
#[derive(Debug, Clone)]
pub struct Submission {
    pub assignment_id: Uuid,
    /// The person submitting; must be the assignment's scorer.
    pub scorer_id: Uuid,
    pub value: ScoreValue,
    /// `None`: the first submission; `Some(reason)`: a correction.
    pub correction: Option<String>,
    pub at: DateTime<Utc>,
}

/// What a submission did.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    pub score: Score,
    pub result: ResultRow,
    /// A third read was assigned to the session's lead by this submission.
    pub third_read_assigned: bool,
}

/// A portfolio of a session still without a first read, for planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub portfolio_id: Uuid,
    pub school_id: Uuid,
}

/// One scorer's reads in a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScorerProgress {
    pub scorer_id: Uuid,
    pub assigned: u32,
    pub submitted: u32,
    /// Submitted first and second reads not yet backread (assignment ids).
    pub not_backread: Vec<Uuid>,
    pub backreads: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub portfolios: u32,
    pub reads_assigned: u32,
    pub reads_submitted: u32,
    pub resolved: u32,
    pub awaiting_third_read: u32,
    pub scorers: Vec<ScorerProgress>,
}

/// A resolved portfolio with what an export needs of its folder.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    pub result: ResultRow,
    /// Empty when the folder is anonymised.
    pub student_enc: Vec<u8>,
    pub grade_level: i32,
    pub academic_year: i32,
    /// The folder was anonymised by retention: its student is unknown.
    pub anonymised: bool,
}

/// What an erasure changed: (kind of row, rows changed), in a fixed order.
pub type ErasedCounts = Vec<(String, u64)>;

#[async_trait]
pub trait ScoringStore: Send + Sync + 'static {
    // ---- rubrics
    async fn create_rubric(&self, t: TenantId, actor: &str, rubric: Rubric) -> Result<Rubric>;
    async fn get_rubrics(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Rubric>>;
    async fn list_rubrics(
        &self,
        t: TenantId,
        programme: Option<&str>,
        page: Page,
    ) -> Result<Paged<Rubric>>;
    /// Refuses a fifth anchor for a score point (FAILED_PRECONDITION naming
    /// `score_point`); the rubric must exist (NOT_FOUND).
    async fn add_anchor(
        &self,
        t: TenantId,
        actor: &str,
        anchor: AnchorPaper,
    ) -> Result<AnchorPaper>;
    async fn anchors(&self, t: TenantId, rubric: Uuid) -> Result<Vec<AnchorPaper>>;
    /// (rubric, score point, anchors) for each rubric.
    async fn anchor_counts(&self, t: TenantId, rubrics: &[Uuid]) -> Result<Vec<(Uuid, i32, u32)>>;

    // ---- portfolios
    /// Inserts folders atomically; a student with a folder in the year
    /// already is a CONFLICT naming `portfolios[i].student_ref`.
    async fn create_portfolios(
        &self,
        t: TenantId,
        actor: &str,
        portfolios: Vec<NewPortfolio>,
    ) -> Result<Vec<StoredPortfolio>>;
    async fn get_portfolios(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<StoredPortfolio>>;
    async fn list_portfolios(
        &self,
        t: TenantId,
        academic_year: Option<i32>,
        school: Option<Uuid>,
        page: Page,
    ) -> Result<Paged<StoredPortfolio>>;
    /// Moves every folder of `from_year` below `final_grade` to the next
    /// year and grade (same student, school and pieces, linked by
    /// `previous_id`); idempotent. Anonymised folders have no student to
    /// move on: they are skipped (and counted nowhere).
    async fn promote_portfolios(
        &self,
        t: TenantId,
        actor: &str,
        from_year: i32,
        final_grade: i32,
    ) -> Result<PromotionReport>;

    // ---- qualification
    async fn create_set(
        &self,
        t: TenantId,
        actor: &str,
        set: QualificationSet,
    ) -> Result<QualificationSet>;
    async fn get_set(&self, t: TenantId, id: Uuid) -> Result<Option<QualificationSet>>;
    async fn list_sets(
        &self,
        t: TenantId,
        rubric: Uuid,
        academic_year: Option<i32>,
    ) -> Result<Vec<QualificationSet>>;
    async fn record_attempt(
        &self,
        t: TenantId,
        actor: &str,
        attempt: QualificationAttempt,
    ) -> Result<QualificationAttempt>;
    /// A scorer's attempts on sets of a rubric in a year, oldest first.
    async fn attempts(
        &self,
        t: TenantId,
        scorer: Uuid,
        rubric: Uuid,
        academic_year: i32,
    ) -> Result<Vec<QualificationAttempt>>;

    // ---- sessions
    async fn create_session(&self, t: TenantId, actor: &str, session: Session) -> Result<Session>;
    async fn get_sessions(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Session>>;
    async fn list_sessions(
        &self,
        t: TenantId,
        academic_year: Option<i32>,
        cluster: Option<Uuid>,
        page: Page,
    ) -> Result<Paged<Session>>;
    /// Adds folders of the session's year (idempotent). Refuses a closed
    /// session, unknown folders, folders of another year and anonymised
    /// folders (nothing left to read), naming `portfolio_ids[i]`. The
    /// folders are share-locked, so a concurrent retention run either sees
    /// them in the open session or has anonymised them first.
    async fn add_session_portfolios(
        &self,
        t: TenantId,
        actor: &str,
        session: Uuid,
        portfolios: &[Uuid],
    ) -> Result<Session>;
    /// Portfolios of the session without a first read, and every scorer's
    /// current number of reads in the session.
    async fn planning_state(
        &self,
        t: TenantId,
        session: Uuid,
    ) -> Result<(Vec<Unread>, Vec<(Uuid, u32)>)>;
    /// Stores planned reads atomically (refusing a closed session, and
    /// CONFLICT when another planner assigned one of the reads meanwhile);
    /// publishes `scoring.assignment.ready` once per scorer.
    async fn add_assignments(
        &self,
        t: TenantId,
        actor: &str,
        session: Uuid,
        assignments: Vec<Assignment>,
    ) -> Result<u32>;
    async fn get_assignments(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Assignment>>;
    async fn list_assignments(
        &self,
        t: TenantId,
        filter: &AssignmentFilter,
        page: Page,
    ) -> Result<Paged<Assignment>>;
    /// Records a read (or a corrected version of it) and resolves the
    /// portfolio: see the module doc for the locking. Refuses a closed
    /// session (third reads excepted), an assignment of someone else, a
    /// second submission (CONFLICT: correct it instead) and a correction of
    /// nothing submitted.
    async fn submit(&self, t: TenantId, actor: &str, s: Submission) -> Result<Submitted>;
    /// Every version of every read of a portfolio in a session, oldest
    /// first, and its result.
    async fn history(
        &self,
        t: TenantId,
        session: Uuid,
        portfolio: Uuid,
    ) -> Result<(Vec<Score>, Option<ResultRow>)>;
    async fn list_results(
        &self,
        t: TenantId,
        session: Uuid,
        awaiting_only: bool,
        page: Page,
    ) -> Result<Paged<ResultRow>>;
    async fn progress(&self, t: TenantId, session: Uuid) -> Result<Progress>;
    /// Closes an open session (FAILED_PRECONDITION when closed already) and
    /// publishes `scoring.session.closed` with what is still awaiting a
    /// third read; `flagged` scorers (id, reasons) get
    /// `scoring.scorer.flagged` events in the same transaction.
    async fn close_session(
        &self,
        t: TenantId,
        actor: &str,
        session: Uuid,
        flagged: &[(Uuid, Vec<String>)],
    ) -> Result<Session>;

    // ---- statistics and exports
    /// Confusion-matrix cells of current first/second score pairs, grouped.
    /// By scorer, each pair counts for both readers, the reader's own score
    /// first.
    async fn agreement_cells(
        &self,
        t: TenantId,
        group_by: GroupBy,
        filter: &StatsFilter,
    ) -> Result<Vec<MatrixCell>>;
    /// For each scorer, the exact-agreement rate of each full window of
    /// `window` paired reads, in the order the pairs formed (a trailing
    /// partial window is left out; scorers without a full window too).
    async fn exact_windows(
        &self,
        t: TenantId,
        filter: &StatsFilter,
        window: u32,
    ) -> Result<Vec<(Uuid, Vec<f64>)>>;
    /// Resolved portfolios of a year (optionally one school), by school.
    async fn export_rows(
        &self,
        t: TenantId,
        academic_year: i32,
        school: Option<Uuid>,
    ) -> Result<Vec<ExportRow>>;

    // ---- data-subject requests
    /// Every row the store holds about a person (as scorer or session
    /// lead): `{person_id, assignments, scores, qualification_attempts,
    /// sessions_led}`, instants in RFC 3339. Another tenant's person is
    /// empty lists.
    async fn export_person(&self, t: TenantId, person: Uuid) -> Result<serde_json::Value>;
    /// Erases a person in one transaction: scores and assignments are kept
    /// (others rely on them; the scorer id is pseudonymous), the free-text
    /// `reason` of their score versions is blanked and `submitted_by` is
    /// kept as their id only. The audit snapshots of those score versions
    /// (`score.submitted`/`score.corrected`, target the score id) lose the
    /// same two keys, `reason` and `submitted_by` (`TenantTxExt::scrub_audit`;
    /// ids, value, version and instants stay, other people's records and
    /// other tenants' are untouched). Counts, by kind in name order:
    /// `audit_snapshots_scrubbed`, `score_reasons_blanked`,
    /// `score_submitters_pseudonymised`. Audited as `person.erased` (target
    /// the person, no personal data) with event `scoring.person.erased`.
    /// Idempotent: a second erasure counts zeros.
    async fn erase_person(&self, t: TenantId, actor: &str, person: Uuid) -> Result<ErasedCounts>;

    // ---- retention
    /// Applies the tenant's retention cutoffs in one transaction and reports
    /// every kind of every category given a cutoff (zeros included):
    ///
    /// - `student_work` (kind `portfolios`, anonymised): folders created
    ///   before the cutoff, in no open session and not anonymised yet lose
    ///   the sealed student id (emptied), the blind index (replaced by the
    ///   folder id's bytes: unique, linking to no student) and their pieces,
    ///   and get `anonymised_at`; scores, reads, results and statistics stay;
    /// - `audit_log` and `published_events`: `TenantTxExt::expire_common`.
    ///
    /// Other categories are not scoring's and are ignored. A dry run counts
    /// exactly what a real run would change and rolls back. A real run is
    /// audited as `retention.applied` (target the tenant, `after` the
    /// cutoffs and counts) with event `scoring.retention.applied`.
    /// Idempotent: a second run counts zero folders.
    async fn apply_retention(
        &self,
        t: TenantId,
        actor: &str,
        cutoffs: &Cutoffs,
        dry_run: bool,
    ) -> Result<Vec<Count>>;
}
