//! The scoring domain: types and pure rules, no I/O.
//!
//! - [`rubric`]: score points, dimensions, condition codes, the default
//!   qualification threshold by scale length, validation of a score against a
//!   rubric;
//! - [`assignment`]: who reads which portfolio (own-school exclusion, blind
//!   second-read sample, load balance, backread quotas);
//! - [`adjudication`]: how first and second reads resolve, or go to a third
//!   read by the cluster lead;
//! - [`eligibility`]: trained this year + qualified (+ calibrated) → may score;
//! - [`stats`]: agreement statistics from a confusion matrix (exact, adjacent,
//!   quadratic weighted kappa, standardised mean difference, flags, drift);
//! - [`student`]: student identifiers encrypted at rest with a per-tenant key.

pub mod adjudication;
pub mod assignment;
pub mod eligibility;
pub mod rubric;
pub mod stats;
pub mod student;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use adjudication::{FinalScore, Method, Outcome, Read, ResolutionRule};
pub use assignment::ReadKind;
pub use rubric::{AnchorPaper, ConditionCode, Dimension, Rubric, ScorePoint};

/// One piece of work in a portfolio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    pub genre: String,
    pub title: String,
    pub work_ref: String,
}

/// A student's working folder for one academic year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Portfolio {
    pub id: Uuid,
    /// The pseudonymous student id, in clear (encrypted only in the store).
    #[serde(skip_serializing)]
    pub student_ref: String,
    pub school_id: Uuid,
    pub grade_level: i32,
    pub academic_year: i32,
    pub pieces: Vec<Piece>,
    pub previous_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetKind {
    Qualifying,
    Calibration,
}

impl SetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SetKind::Qualifying => "qualifying",
            SetKind::Calibration => "calibration",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "qualifying" => Some(SetKind::Qualifying),
            "calibration" => Some(SetKind::Calibration),
            _ => None,
        }
    }
}

/// A pre-scored paper of a qualifying or calibration set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrescoredPaper {
    pub id: Uuid,
    pub title: String,
    pub work_ref: String,
    pub true_score: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualificationSet {
    pub id: Uuid,
    pub rubric_id: Uuid,
    pub academic_year: i32,
    pub kind: SetKind,
    pub name: String,
    pub papers: Vec<PrescoredPaper>,
}

/// A scorer's answer sheet for a set, marked against the agreed scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualificationAttempt {
    pub id: Uuid,
    pub set_id: Uuid,
    pub rubric_id: Uuid,
    pub academic_year: i32,
    pub kind: SetKind,
    pub scorer_id: Uuid,
    /// (paper, given, agreed) in the set's paper order.
    pub results: Vec<(Uuid, i32, i32)>,
    pub threshold: f64,
    pub passed: bool,
    pub submitted_at: DateTime<Utc>,
}

impl QualificationAttempt {
    pub fn exact(&self) -> u32 {
        self.results.iter().filter(|(_, g, a)| g == a).count() as u32
    }
    pub fn exact_share(&self) -> f64 {
        if self.results.is_empty() {
            0.0
        } else {
            f64::from(self.exact()) / self.results.len() as f64
        }
    }
}

/// Marks a scorer's answers (`given` by paper id) against a set. Every paper
/// must be answered once, within the rubric's scale; the attempt passes when
/// the exact-agreement share reaches `threshold`.
pub fn mark_attempt(
    set: &QualificationSet,
    rubric: &Rubric,
    given: &[(Uuid, i32)],
) -> platform::error::Result<Vec<(Uuid, i32, i32)>> {
    let mut v = platform::error::Violations::new();
    let mut seen = std::collections::HashSet::new();
    for (i, (paper, score)) in given.iter().enumerate() {
        if !set.papers.iter().any(|p| p.id == *paper) {
            v.add(format!("scores[{i}].paper_id"), "not a paper of this set");
        } else if !seen.insert(*paper) {
            v.add(format!("scores[{i}].paper_id"), "scored twice");
        }
        if !rubric.has_point(*score) {
            v.add(format!("scores[{i}].score"), rubric.scale_description());
        }
    }
    for p in &set.papers {
        if !given.iter().any(|(id, _)| *id == p.id) {
            v.add(
                "scores",
                format!("paper {} ({}) is not scored", p.id, p.title),
            );
        }
    }
    v.finish()?;
    Ok(set
        .papers
        .iter()
        .map(|p| {
            let g = given.iter().find(|(id, _)| *id == p.id).map(|(_, s)| *s);
            (p.id, g.unwrap_or_default(), p.true_score)
        })
        .collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Open,
    Closed,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(SessionStatus::Open),
            "closed" => Some(SessionStatus::Closed),
            _ => None,
        }
    }
}

/// A scoring session, linked to a scheduled scoring-session event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: Uuid,
    pub event_id: Uuid,
    pub rubric_id: Uuid,
    pub cluster_id: Uuid,
    pub academic_year: i32,
    pub name: String,
    pub status: SessionStatus,
    pub second_read_share: f64,
    pub backread_share: f64,
    pub allow_own_school: bool,
    pub resolution_rule: ResolutionRule,
    pub calibration_since: Option<DateTime<Utc>>,
    pub lead_id: Uuid,
    pub portfolios: u32,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// Defaults of a new session.
pub const DEFAULT_SECOND_READ_SHARE: f64 = 0.2;
pub const DEFAULT_BACKREAD_SHARE: f64 = 0.1;

/// One read to be done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub id: Uuid,
    pub session_id: Uuid,
    pub portfolio_id: Uuid,
    pub scorer_id: Uuid,
    pub kind: ReadKind,
    pub submitted: bool,
    /// For a backread: the read being checked.
    pub reviews_score_id: Option<Uuid>,
}

/// What a reader gives: a score (with dimension scores) or a condition code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreValue {
    pub score: Option<i32>,
    pub dimensions: Vec<(String, i32)>,
    pub condition_code: Option<String>,
}

impl ScoreValue {
    /// The read as adjudication sees it (validated values have exactly one of
    /// score and condition code).
    pub fn read(&self) -> Read {
        match (&self.condition_code, self.score) {
            (Some(c), _) => Read::Condition(c.clone()),
            (None, Some(s)) => Read::Score(s),
            (None, None) => Read::Condition(String::new()),
        }
    }
}

/// One version of one read. Never updated: a correction is a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    pub id: Uuid,
    pub assignment_id: Uuid,
    pub session_id: Uuid,
    pub portfolio_id: Uuid,
    pub scorer_id: Uuid,
    pub kind: ReadKind,
    pub version: u32,
    pub value: ScoreValue,
    pub reason: String,
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
}

/// Where a portfolio of a session stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub session_id: Uuid,
    pub portfolio_id: Uuid,
    pub school_id: Uuid,
    pub awaiting_third_read: bool,
    pub final_score: Option<FinalScore>,
    pub method: Option<Method>,
    pub reason: String,
    pub decided_at: DateTime<Utc>,
}

/// Which grouping statistics are wanted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Scorer,
    Session,
    Cluster,
    School,
    Year,
}

/// Which paired reads statistics cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsFilter {
    pub academic_year: Option<i32>,
    pub session_id: Option<Uuid>,
    pub cluster_id: Option<Uuid>,
}

/// Cells of confusion matrices, one group at a time: (group key, rubric, a, b, count).
pub type MatrixCell = (String, Uuid, i32, i32, u64);
