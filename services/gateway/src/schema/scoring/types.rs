//! Scoring's output types: thin wrappers over the protobuf messages that
//! expose them in the schema's spelling (camelCase, `ID`s, enums, typed
//! times, null for protobuf's blanks) and resolve their relations through
//! the request's DataLoaders: rubrics, portfolios and sessions through
//! scoring's, scheduled events through scheduling's, people, schools and
//! clusters through membership's.
//!
//! Relations are nullable on purpose: a service answers a batch lookup only
//! with what the caller's tenant holds and the caller may see (scorers read
//! blind and may not see portfolios), and a dangling or hidden reference
//! should blank one field, not fail the page.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use collegium_proto::scoring::v1 as pb;

use super::{
    enums::{QualificationSetKind, ReadKind, ScoringSessionStatus},
    scoring,
};
use crate::schema::{
    convert::{instant, non_empty, optional_instant, unary},
    membership::{Cluster, Organisation, Person, membership},
    scheduling::{Event, scheduling},
};

/// One point of a rubric's scale.
#[derive(SimpleObject)]
pub struct ScorePoint {
    pub value: i32,
    pub label: String,
}

impl From<pb::ScorePoint> for ScorePoint {
    fn from(p: pb::ScorePoint) -> Self {
        Self {
            value: p.value,
            label: p.label,
        }
    }
}

/// An analytic dimension, scored on its own range next to the holistic
/// score.
#[derive(SimpleObject)]
pub struct Dimension {
    pub key: String,
    pub name: String,
    pub min: i32,
    pub max: i32,
}

impl From<pb::Dimension> for Dimension {
    fn from(d: pb::Dimension) -> Self {
        Self {
            key: d.key,
            name: d.name,
            min: d.min,
            max: d.max,
        }
    }
}

/// A code a reader gives instead of a score.
#[derive(SimpleObject)]
pub struct ConditionCode {
    /// e.g. `blank`, `insufficient`, `non_scorable_language`.
    pub code: String,
    pub label: String,
}

impl From<pb::ConditionCode> for ConditionCode {
    fn from(c: pb::ConditionCode) -> Self {
        Self {
            code: c.code,
            label: c.label,
        }
    }
}

/// How many anchor papers exemplify one score point.
#[derive(SimpleObject)]
pub struct AnchorCount {
    pub score_point: i32,
    pub count: u32,
}

/// A programme's scoring guide: its scale, analytic dimensions, condition
/// codes and the agreement a scorer needs to qualify.
pub struct Rubric(pub pb::Rubric);

#[Object]
impl Rubric {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn programme(&self) -> &str {
        &self.0.programme
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Ascending, consecutive values.
    async fn score_points(&self) -> Vec<ScorePoint> {
        self.0
            .score_points
            .iter()
            .cloned()
            .map(Into::into)
            .collect()
    }

    async fn dimensions(&self) -> Vec<Dimension> {
        self.0.dimensions.iter().cloned().map(Into::into).collect()
    }

    async fn condition_codes(&self) -> Vec<ConditionCode> {
        self.0
            .condition_codes
            .iter()
            .cloned()
            .map(Into::into)
            .collect()
    }

    /// Share of exact agreement a scorer needs on a qualifying set (0–1).
    async fn qualification_threshold(&self) -> f64 {
        self.0.qualification_threshold
    }

    /// Anchor papers per score point, in score-point order.
    async fn anchor_counts(&self) -> Vec<AnchorCount> {
        self.0
            .anchor_counts
            .iter()
            .map(|a| AnchorCount {
                score_point: a.score_point,
                count: a.count,
            })
            .collect()
    }

    /// The papers that exemplify each score point.
    async fn anchor_papers(&self, ctx: &Context<'_>) -> Result<Vec<AnchorPaper>> {
        scoring(ctx)?.anchor_papers(&self.0.id).await
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        instant("rubric.created_at", &self.0.created_at)
    }
}

/// A scored paper that shows what one score point looks like.
pub struct AnchorPaper(pub pb::AnchorPaper);

#[Object]
impl AnchorPaper {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn rubric_id(&self) -> ID {
        ID(self.0.rubric_id.clone())
    }

    async fn rubric(&self, ctx: &Context<'_>) -> Result<Option<Rubric>> {
        scoring(ctx)?.rubric(Some(&self.0.rubric_id)).await
    }

    async fn score_point(&self) -> i32 {
        self.0.score_point
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    /// Where the work is kept (a document URL or storage key).
    async fn work_ref(&self) -> &str {
        &self.0.work_ref
    }

    /// Why the paper earns its score.
    async fn annotation(&self) -> &str {
        &self.0.annotation
    }
}

/// One piece of work in a portfolio.
#[derive(SimpleObject)]
pub struct Piece {
    pub genre: String,
    pub title: String,
    /// Where the work is kept (a document URL or storage key).
    pub work_ref: String,
}

impl From<pb::Piece> for Piece {
    fn from(p: pb::Piece) -> Self {
        Self {
            genre: p.genre,
            title: p.title,
            work_ref: p.work_ref,
        }
    }
}

fn pieces(pieces: &[pb::Piece]) -> Vec<Piece> {
    pieces.iter().cloned().map(Into::into).collect()
}

/// A student's working folder for one academic year.
pub struct Portfolio(pub pb::Portfolio);

#[Object]
impl Portfolio {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The pseudonymous student id; null for callers who read blind
    /// (everyone but tenant admins and cluster leads).
    async fn student_ref(&self) -> Option<String> {
        non_empty(&self.0.student_ref)
    }

    async fn school_id(&self) -> ID {
        ID(self.0.school_id.clone())
    }

    async fn school(&self, ctx: &Context<'_>) -> Result<Option<Organisation>> {
        membership(ctx)?.organisation(Some(&self.0.school_id)).await
    }

    async fn grade_level(&self) -> i32 {
        self.0.grade_level
    }

    /// Named by its first calendar year: 2026 for 2026/27.
    async fn academic_year(&self) -> i32 {
        self.0.academic_year
    }

    async fn pieces(&self) -> Vec<Piece> {
        pieces(&self.0.pieces)
    }

    /// The folder of the previous year this one was promoted from.
    async fn previous_id(&self) -> Option<ID> {
        self.0.previous_id.clone().map(ID)
    }

    async fn previous(&self, ctx: &Context<'_>) -> Result<Option<Portfolio>> {
        scoring(ctx)?.portfolio(self.0.previous_id.as_deref()).await
    }
}

/// What a year-end promotion did.
#[derive(SimpleObject)]
pub struct PromotionReport {
    /// Folders moved to the next year and grade.
    pub promoted: u32,
    /// Folders promoted by an earlier run, left as they were.
    pub already_promoted: u32,
    /// Folders at the final grade, which leave instead.
    pub graduated: u32,
}

impl From<pb::PromotionReport> for PromotionReport {
    fn from(r: pb::PromotionReport) -> Self {
        Self {
            promoted: r.promoted,
            already_promoted: r.already_promoted,
            graduated: r.graduated,
        }
    }
}

/// A paper of a qualification set, with its agreed score.
#[derive(SimpleObject)]
pub struct PrescoredPaper {
    pub id: ID,
    pub title: String,
    pub work_ref: String,
    /// The agreed score; only tenant admins see it (everyone else is sent 0).
    pub true_score: i32,
}

/// Papers with agreed scores that scorers qualify (or calibrate) on.
pub struct QualificationSet(pub pb::QualificationSet);

#[Object]
impl QualificationSet {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn rubric_id(&self) -> ID {
        ID(self.0.rubric_id.clone())
    }

    async fn rubric(&self, ctx: &Context<'_>) -> Result<Option<Rubric>> {
        scoring(ctx)?.rubric(Some(&self.0.rubric_id)).await
    }

    async fn academic_year(&self) -> i32 {
        self.0.academic_year
    }

    async fn kind(&self) -> Result<QualificationSetKind> {
        QualificationSetKind::from_service(self.0.kind)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn papers(&self) -> Vec<PrescoredPaper> {
        self.0
            .papers
            .iter()
            .map(|p| PrescoredPaper {
                id: ID(p.id.clone()),
                title: p.title.clone(),
                work_ref: p.work_ref.clone(),
                true_score: p.true_score,
            })
            .collect()
    }
}

/// One paper of an attempt: the agreed score next to the scorer's.
#[derive(SimpleObject)]
pub struct PaperResult {
    pub paper_id: ID,
    pub given: i32,
    pub agreed: i32,
}

/// A scorer's scores on a qualification set, marked.
pub struct QualificationAttempt(pub pb::QualificationAttempt);

#[Object]
impl QualificationAttempt {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn set_id(&self) -> ID {
        ID(self.0.set_id.clone())
    }

    async fn scorer_id(&self) -> ID {
        ID(self.0.scorer_id.clone())
    }

    async fn scorer(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.scorer_id)).await
    }

    /// Papers scored.
    async fn papers(&self) -> u32 {
        self.0.papers
    }

    /// Papers scored exactly as agreed.
    async fn exact(&self) -> u32 {
        self.0.exact
    }

    async fn exact_share(&self) -> f64 {
        self.0.exact_share
    }

    /// The share of exact agreement needed to pass.
    async fn threshold(&self) -> f64 {
        self.0.threshold
    }

    async fn passed(&self) -> bool {
        self.0.passed
    }

    async fn submitted_at(&self) -> Result<DateTime<Utc>> {
        instant("qualification_attempt.submitted_at", &self.0.submitted_at)
    }

    async fn results(&self) -> Vec<PaperResult> {
        self.0
            .results
            .iter()
            .map(|r| PaperResult {
                paper_id: ID(r.paper_id.clone()),
                given: r.given,
                agreed: r.agreed,
            })
            .collect()
    }
}

/// Whether a person may score in a session, and why not.
pub struct Eligibility(pub pb::Eligibility);

#[Object]
impl Eligibility {
    async fn scorer_id(&self) -> ID {
        ID(self.0.scorer_id.clone())
    }

    async fn scorer(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.scorer_id)).await
    }

    async fn eligible(&self) -> bool {
        self.0.eligible
    }

    /// Why not, in words shown to the scorer and their leader.
    async fn reasons(&self) -> &[String] {
        &self.0.reasons
    }

    /// Attended a scoring training this academic year.
    async fn trained(&self) -> bool {
        self.0.trained
    }

    /// Passed a qualifying set of the session's rubric this academic year.
    async fn qualified(&self) -> bool {
        self.0.qualified
    }

    /// Passed a calibration set when the session requires one.
    async fn calibrated(&self) -> bool {
        self.0.calibrated
    }
}

/// A cluster's scoring of a set of portfolios on one rubric, held at a
/// scheduled scoring-session event.
pub struct ScoringSession(pub pb::ScoringSession);

#[Object]
impl ScoringSession {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The scheduled scoring-session event.
    async fn event_id(&self) -> ID {
        ID(self.0.event_id.clone())
    }

    async fn event(&self, ctx: &Context<'_>) -> Result<Option<Event>> {
        scheduling(ctx)?.event(Some(&self.0.event_id)).await
    }

    async fn rubric_id(&self) -> ID {
        ID(self.0.rubric_id.clone())
    }

    async fn rubric(&self, ctx: &Context<'_>) -> Result<Option<Rubric>> {
        scoring(ctx)?.rubric(Some(&self.0.rubric_id)).await
    }

    async fn cluster_id(&self) -> ID {
        ID(self.0.cluster_id.clone())
    }

    async fn cluster(&self, ctx: &Context<'_>) -> Result<Option<Cluster>> {
        membership(ctx)?.cluster(Some(&self.0.cluster_id)).await
    }

    async fn academic_year(&self) -> i32 {
        self.0.academic_year
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn status(&self) -> Result<ScoringSessionStatus> {
        ScoringSessionStatus::from_service(self.0.status)
    }

    /// Share of portfolios read a second time, blind (0–1).
    async fn second_read_share(&self) -> f64 {
        self.0.second_read_share
    }

    /// Share of each scorer's reads checked by a backread (0–1).
    async fn backread_share(&self) -> f64 {
        self.0.backread_share
    }

    /// Scorers may read portfolios of their own school.
    async fn allow_own_school(&self) -> bool {
        self.0.allow_own_school
    }

    /// How two reads that differ resolve: `exact`, `adjacent_average` or
    /// `adjacent_higher`.
    async fn resolution_rule(&self) -> &str {
        &self.0.resolution_rule
    }

    /// Scorers must have passed a calibration set at or after this instant.
    async fn calibration_since(&self) -> Result<Option<DateTime<Utc>>> {
        optional_instant(
            "scoring_session.calibration_since",
            self.0.calibration_since.as_ref(),
        )
    }

    /// The cluster lead who takes third reads.
    async fn lead_id(&self) -> ID {
        ID(self.0.lead_id.clone())
    }

    async fn lead(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.lead_id)).await
    }

    /// Portfolios in the session.
    async fn portfolio_count(&self) -> u32 {
        self.0.portfolios
    }

    /// Reads assigned, submitted and resolved, in total and per scorer
    /// (the session's cluster lead and tenant admins). One call to scoring
    /// per session: select it on a single session or a short page.
    async fn progress(&self, ctx: &Context<'_>) -> Result<SessionProgress> {
        let s = scoring(ctx)?;
        Ok(SessionProgress(
            unary(s.client().get_session_progress(pb::SessionRef {
                session_id: self.0.id.clone(),
            }))
            .await?,
        ))
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        instant("scoring_session.created_at", &self.0.created_at)
    }

    async fn closed_at(&self) -> Result<Option<DateTime<Utc>>> {
        optional_instant("scoring_session.closed_at", self.0.closed_at.as_ref())
    }
}

/// How far a session's reading has come.
pub struct SessionProgress(pub pb::SessionProgress);

#[Object]
impl SessionProgress {
    async fn session_id(&self) -> ID {
        ID(self.0.session_id.clone())
    }

    async fn portfolios(&self) -> u32 {
        self.0.portfolios
    }

    async fn reads_assigned(&self) -> u32 {
        self.0.reads_assigned
    }

    async fn reads_submitted(&self) -> u32 {
        self.0.reads_submitted
    }

    /// Portfolios with a final score or condition.
    async fn resolved(&self) -> u32 {
        self.0.resolved
    }

    /// Portfolios whose reads disagree, waiting for the lead's third read.
    async fn awaiting_third_read(&self) -> u32 {
        self.0.awaiting_third_read
    }

    async fn scorers(&self) -> Vec<ScorerProgress> {
        self.0.scorers.iter().cloned().map(ScorerProgress).collect()
    }
}

/// One scorer's share of a session.
pub struct ScorerProgress(pub pb::ScorerProgress);

#[Object]
impl ScorerProgress {
    async fn scorer_id(&self) -> ID {
        ID(self.0.scorer_id.clone())
    }

    async fn scorer(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.scorer_id)).await
    }

    async fn assigned(&self) -> u32 {
        self.0.assigned
    }

    async fn submitted(&self) -> u32 {
        self.0.submitted
    }

    async fn backreads_required(&self) -> u32 {
        self.0.backreads_required
    }

    async fn backreads_done(&self) -> u32 {
        self.0.backreads_done
    }
}

/// What assigning reads did: reads planned, scorers left out (with their
/// eligibility) and portfolios no eligible scorer could take.
pub struct AssignmentReport(pub pb::AssignmentReport);

#[Object]
impl AssignmentReport {
    /// Reads newly assigned.
    async fn assigned(&self) -> u32 {
        self.0.assigned
    }

    async fn refused_scorers(&self) -> Vec<Eligibility> {
        self.0
            .refused_scorers
            .iter()
            .cloned()
            .map(Eligibility)
            .collect()
    }

    async fn unassignable(&self) -> Vec<Unassignable> {
        self.0
            .unassignable
            .iter()
            .cloned()
            .map(Unassignable)
            .collect()
    }
}

/// A read no eligible scorer could take, and why.
pub struct Unassignable(pub pb::Unassignable);

#[Object]
impl Unassignable {
    async fn portfolio_id(&self) -> ID {
        ID(self.0.portfolio_id.clone())
    }

    async fn portfolio(&self, ctx: &Context<'_>) -> Result<Option<Portfolio>> {
        scoring(ctx)?.portfolio(Some(&self.0.portfolio_id)).await
    }

    async fn kind(&self) -> Result<ReadKind> {
        ReadKind::from_service(self.0.kind)
    }

    async fn reason(&self) -> &str {
        &self.0.reason
    }
}

/// One read of one portfolio by one scorer.
pub struct Assignment(pub pb::Assignment);

#[Object]
impl Assignment {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn session_id(&self) -> ID {
        ID(self.0.session_id.clone())
    }

    async fn session(&self, ctx: &Context<'_>) -> Result<Option<ScoringSession>> {
        scoring(ctx)?.session(Some(&self.0.session_id)).await
    }

    async fn portfolio_id(&self) -> ID {
        ID(self.0.portfolio_id.clone())
    }

    /// The portfolio record, for tenant admins and cluster leads; scorers
    /// read blind (`pieces` and `gradeLevel` are what they read) and are
    /// refused it.
    async fn portfolio(&self, ctx: &Context<'_>) -> Result<Option<Portfolio>> {
        scoring(ctx)?.portfolio(Some(&self.0.portfolio_id)).await
    }

    async fn scorer_id(&self) -> ID {
        ID(self.0.scorer_id.clone())
    }

    async fn scorer(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.scorer_id)).await
    }

    async fn kind(&self) -> Result<ReadKind> {
        ReadKind::from_service(self.0.kind)
    }

    async fn submitted(&self) -> bool {
        self.0.submitted
    }

    /// What the reader reads (never another reader's score).
    async fn pieces(&self) -> Vec<Piece> {
        pieces(&self.0.pieces)
    }

    async fn grade_level(&self) -> i32 {
        self.0.grade_level
    }

    /// For a backread: the read being checked.
    async fn reviews_score_id(&self) -> Option<ID> {
        self.0.reviews_score_id.clone().map(ID)
    }
}

/// The score of one analytic dimension.
#[derive(SimpleObject)]
pub struct DimensionScore {
    pub key: String,
    pub score: i32,
}

/// One version of one read. Scores are never changed: a correction is a new
/// version, and every version stays in the history.
pub struct Score(pub pb::Score);

#[Object]
impl Score {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn assignment_id(&self) -> ID {
        ID(self.0.assignment_id.clone())
    }

    async fn session_id(&self) -> ID {
        ID(self.0.session_id.clone())
    }

    async fn session(&self, ctx: &Context<'_>) -> Result<Option<ScoringSession>> {
        scoring(ctx)?.session(Some(&self.0.session_id)).await
    }

    async fn portfolio_id(&self) -> ID {
        ID(self.0.portfolio_id.clone())
    }

    async fn portfolio(&self, ctx: &Context<'_>) -> Result<Option<Portfolio>> {
        scoring(ctx)?.portfolio(Some(&self.0.portfolio_id)).await
    }

    async fn scorer_id(&self) -> ID {
        ID(self.0.scorer_id.clone())
    }

    async fn scorer(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.scorer_id)).await
    }

    async fn kind(&self) -> Result<ReadKind> {
        ReadKind::from_service(self.0.kind)
    }

    /// 1 for the submitted score, +1 per correction.
    async fn version(&self) -> u32 {
        self.0.version
    }

    /// Null when a condition code was given instead.
    async fn score(&self) -> Option<i32> {
        self.0.score
    }

    async fn dimensions(&self) -> Vec<DimensionScore> {
        self.0
            .dimensions
            .iter()
            .map(|d| DimensionScore {
                key: d.key.clone(),
                score: d.score,
            })
            .collect()
    }

    async fn condition_code(&self) -> Option<String> {
        self.0.condition_code.clone().filter(|c| !c.is_empty())
    }

    /// Why this version replaced the previous one; null for the first.
    async fn reason(&self) -> Option<String> {
        non_empty(&self.0.reason)
    }

    /// Who submitted this version: a person id, or a service.
    async fn submitted_by_id(&self) -> ID {
        ID(self.0.submitted_by.clone())
    }

    async fn submitted_by(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.submitted_by)).await
    }

    async fn submitted_at(&self) -> Result<DateTime<Utc>> {
        instant("score.submitted_at", &self.0.submitted_at)
    }
}

/// Every version of every read of a portfolio in a session, and where it
/// stands.
pub struct ScoreHistory(pub pb::ScoreHistory);

#[Object]
impl ScoreHistory {
    /// Oldest first.
    async fn scores(&self) -> Vec<Score> {
        self.0.scores.iter().cloned().map(Score).collect()
    }

    /// Null until the reads resolve or go to a third read.
    async fn result(&self) -> Option<PortfolioResult> {
        self.0.result.clone().map(PortfolioResult)
    }
}

/// How a portfolio's reads in a session resolved (or that they wait for a
/// third read).
pub struct PortfolioResult(pub pb::Result);

#[Object]
impl PortfolioResult {
    async fn session_id(&self) -> ID {
        ID(self.0.session_id.clone())
    }

    async fn session(&self, ctx: &Context<'_>) -> Result<Option<ScoringSession>> {
        scoring(ctx)?.session(Some(&self.0.session_id)).await
    }

    async fn portfolio_id(&self) -> ID {
        ID(self.0.portfolio_id.clone())
    }

    async fn portfolio(&self, ctx: &Context<'_>) -> Result<Option<Portfolio>> {
        scoring(ctx)?.portfolio(Some(&self.0.portfolio_id)).await
    }

    async fn school_id(&self) -> ID {
        ID(self.0.school_id.clone())
    }

    async fn school(&self, ctx: &Context<'_>) -> Result<Option<Organisation>> {
        membership(ctx)?.organisation(Some(&self.0.school_id)).await
    }

    /// `resolved` or `awaiting_third_read` (`pending` before the reads
    /// are in).
    async fn state(&self) -> &str {
        &self.0.state
    }

    /// The final score; null for a final condition code or while awaiting
    /// a third read. Adjacent reads averaged give halves.
    async fn final_score(&self) -> Option<f64> {
        self.0.final_score
    }

    /// The final condition code, when the reads resolved to one.
    async fn final_condition(&self) -> Option<String> {
        self.0.final_condition.clone().filter(|c| !c.is_empty())
    }

    /// How the reads resolved: `single_read`, `exact`, `adjacent_average`,
    /// `adjacent_higher` or `third_read`; null until they have.
    async fn method(&self) -> Option<String> {
        non_empty(&self.0.method)
    }

    async fn reason(&self) -> &str {
        &self.0.reason
    }

    /// When the portfolio reached this state.
    async fn decided_at(&self) -> Result<DateTime<Utc>> {
        instant("result.decided_at", &self.0.decided_at)
    }
}

/// How often one score point was given.
#[derive(SimpleObject)]
pub struct ScoreCount {
    pub score: i32,
    pub count: u64,
}

fn score_counts(counts: &[pb::ScoreCount]) -> Vec<ScoreCount> {
    counts
        .iter()
        .map(|c| ScoreCount {
            score: c.score,
            count: c.count,
        })
        .collect()
}

/// Inter-rater agreement of paired reads in one group.
pub struct AgreementRow(pub pb::AgreementRow);

#[Object]
impl AgreementRow {
    /// Scorer, session or cluster id, school id, or the year as text.
    async fn key(&self) -> &str {
        &self.0.key
    }

    async fn rubric_id(&self) -> ID {
        ID(self.0.rubric_id.clone())
    }

    async fn rubric(&self, ctx: &Context<'_>) -> Result<Option<Rubric>> {
        scoring(ctx)?.rubric(Some(&self.0.rubric_id)).await
    }

    /// Paired reads (first and second read of one portfolio).
    async fn pairs(&self) -> u64 {
        self.0.pairs
    }

    /// Share of pairs in exact agreement; null without pairs.
    async fn exact(&self) -> Option<f64> {
        self.0.exact
    }

    /// Share of pairs in exact or adjacent agreement.
    async fn adjacent(&self) -> Option<f64> {
        self.0.adjacent
    }

    /// Quadratic weighted kappa.
    async fn qwk(&self) -> Option<f64> {
        self.0.qwk
    }

    /// Standardised mean difference between first and second reads.
    async fn smd(&self) -> Option<f64> {
        self.0.smd
    }

    async fn first_distribution(&self) -> Vec<ScoreCount> {
        score_counts(&self.0.first_distribution)
    }

    async fn second_distribution(&self) -> Vec<ScoreCount> {
        score_counts(&self.0.second_distribution)
    }

    /// The score point of the matrix's first row and column.
    async fn scale_min(&self) -> i32 {
        self.0.scale_min
    }

    /// Counts of pairs: rows are the first read (for a scorer: the
    /// scorer's read), columns the second, both in scale order from
    /// `scaleMin`.
    async fn matrix(&self) -> Vec<Vec<u64>> {
        self.0.matrix.iter().map(|r| r.counts.clone()).collect()
    }

    /// Quality flags raised against the programme's thresholds.
    async fn flags(&self) -> &[String] {
        &self.0.flags
    }

    /// Each flag in words, in the order of `flags`.
    async fn flag_reasons(&self) -> &[String] {
        &self.0.flag_reasons
    }

    /// Scorer rows: exact-agreement rate per window of reads, oldest first.
    async fn drift_windows(&self) -> &[f64] {
        &self.0.drift_windows
    }

    async fn drift_warning(&self) -> bool {
        self.0.drift_warning
    }
}

/// A scoring CSV document to save.
#[derive(SimpleObject)]
pub struct ScoringExport {
    /// Suggested file name.
    pub file_name: String,
    pub csv: String,
    /// Data rows (without the header).
    pub rows: u32,
    /// Students left out for a research opt-out.
    pub excluded: u32,
}

impl From<pb::CsvExport> for ScoringExport {
    fn from(c: pb::CsvExport) -> Self {
        Self {
            file_name: c.file_name,
            csv: c.csv,
            rows: c.rows,
            excluded: c.excluded,
        }
    }
}
