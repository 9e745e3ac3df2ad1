//! Proto ↔ domain conversions.

use collegium_proto::scoring::v1 as pb;
use platform::fields::ts;
use uuid::Uuid;

use crate::domain::{
    self, Assignment, FinalScore, GroupBy, QualificationAttempt, QualificationSet, ReadKind,
    ResultRow, Rubric, Score, Session, SessionStatus, SetKind, eligibility, stats,
};

pub fn rubric_in(r: pb::CreateRubricRequest) -> Rubric {
    let points = r.score_points.len();
    Rubric {
        id: Uuid::nil(),
        programme: r.programme,
        name: r.name,
        score_points: r
            .score_points
            .into_iter()
            .map(|p| domain::ScorePoint {
                value: p.value,
                label: p.label.trim().to_string(),
            })
            .collect(),
        dimensions: r
            .dimensions
            .into_iter()
            .map(|d| domain::Dimension {
                key: d.key.trim().to_string(),
                name: d.name.trim().to_string(),
                min: d.min,
                max: d.max,
            })
            .collect(),
        condition_codes: r
            .condition_codes
            .into_iter()
            .map(|c| domain::ConditionCode {
                code: c.code.trim().to_string(),
                label: c.label.trim().to_string(),
            })
            .collect(),
        qualification_threshold: r
            .qualification_threshold
            .unwrap_or_else(|| domain::rubric::default_qualification_threshold(points)),
        created_at: chrono::Utc::now(),
    }
}

pub fn rubric_out(r: Rubric, counts: &[(i32, u32)]) -> pb::Rubric {
    pb::Rubric {
        id: r.id.to_string(),
        programme: r.programme,
        name: r.name,
        anchor_counts: r
            .score_points
            .iter()
            .map(|p| pb::AnchorCount {
                score_point: p.value,
                count: counts
                    .iter()
                    .find(|(v, _)| *v == p.value)
                    .map_or(0, |(_, n)| *n),
            })
            .collect(),
        score_points: r
            .score_points
            .into_iter()
            .map(|p| pb::ScorePoint {
                value: p.value,
                label: p.label,
            })
            .collect(),
        dimensions: r
            .dimensions
            .into_iter()
            .map(|d| pb::Dimension {
                key: d.key,
                name: d.name,
                min: d.min,
                max: d.max,
            })
            .collect(),
        condition_codes: r
            .condition_codes
            .into_iter()
            .map(|c| pb::ConditionCode {
                code: c.code,
                label: c.label,
            })
            .collect(),
        qualification_threshold: r.qualification_threshold,
        created_at: ts(r.created_at),
    }
}

pub fn anchor_out(a: domain::AnchorPaper) -> pb::AnchorPaper {
    pb::AnchorPaper {
        id: a.id.to_string(),
        rubric_id: a.rubric_id.to_string(),
        score_point: a.score_point,
        title: a.title,
        work_ref: a.work_ref,
        annotation: a.annotation,
    }
}

pub fn piece_in(p: pb::Piece) -> domain::Piece {
    domain::Piece {
        genre: p.genre.trim().to_string(),
        title: p.title.trim().to_string(),
        work_ref: p.work_ref.trim().to_string(),
    }
}

fn piece_out(p: &domain::Piece) -> pb::Piece {
    pb::Piece {
        genre: p.genre.clone(),
        title: p.title.clone(),
        work_ref: p.work_ref.clone(),
    }
}

/// `student_ref` is "" for callers who may not see it.
pub fn portfolio_out(p: domain::Portfolio, student_ref: String) -> pb::Portfolio {
    pb::Portfolio {
        id: p.id.to_string(),
        student_ref,
        school_id: p.school_id.to_string(),
        grade_level: p.grade_level,
        academic_year: p.academic_year,
        pieces: p.pieces.iter().map(piece_out).collect(),
        previous_id: p.previous_id.map(|id| id.to_string()),
    }
}

pub fn set_kind_in(v: i32) -> Option<SetKind> {
    match pb::SetKind::try_from(v).ok()? {
        pb::SetKind::Qualifying => Some(SetKind::Qualifying),
        pb::SetKind::Calibration => Some(SetKind::Calibration),
        pb::SetKind::Unspecified => None,
    }
}

fn set_kind_out(k: SetKind) -> pb::SetKind {
    match k {
        SetKind::Qualifying => pb::SetKind::Qualifying,
        SetKind::Calibration => pb::SetKind::Calibration,
    }
}

/// The agreed scores are shown only to those who build sets.
pub fn set_out(s: QualificationSet, show_scores: bool) -> pb::QualificationSet {
    pb::QualificationSet {
        id: s.id.to_string(),
        rubric_id: s.rubric_id.to_string(),
        academic_year: s.academic_year,
        kind: set_kind_out(s.kind) as i32,
        name: s.name,
        papers: s
            .papers
            .into_iter()
            .map(|p| pb::PrescoredPaper {
                id: p.id.to_string(),
                title: p.title,
                work_ref: p.work_ref,
                true_score: if show_scores { p.true_score } else { 0 },
            })
            .collect(),
    }
}

pub fn attempt_out(a: QualificationAttempt) -> pb::QualificationAttempt {
    pb::QualificationAttempt {
        id: a.id.to_string(),
        set_id: a.set_id.to_string(),
        scorer_id: a.scorer_id.to_string(),
        papers: a.results.len() as u32,
        exact: a.exact(),
        exact_share: a.exact_share(),
        threshold: a.threshold,
        passed: a.passed,
        submitted_at: ts(a.submitted_at),
        results: a
            .results
            .iter()
            .map(|(paper, given, agreed)| pb::PaperResult {
                paper_id: paper.to_string(),
                given: *given,
                agreed: *agreed,
            })
            .collect(),
    }
}

pub fn eligibility_out(scorer: Uuid, d: eligibility::Decision) -> pb::Eligibility {
    pb::Eligibility {
        scorer_id: scorer.to_string(),
        eligible: d.eligible,
        reasons: d.reasons,
        trained: d.trained,
        qualified: d.qualified,
        calibrated: d.calibrated,
    }
}

pub fn session_out(s: Session) -> pb::ScoringSession {
    pb::ScoringSession {
        id: s.id.to_string(),
        event_id: s.event_id.to_string(),
        rubric_id: s.rubric_id.to_string(),
        cluster_id: s.cluster_id.to_string(),
        academic_year: s.academic_year,
        name: s.name,
        status: match s.status {
            SessionStatus::Open => pb::SessionStatus::Open,
            SessionStatus::Closed => pb::SessionStatus::Closed,
        } as i32,
        second_read_share: s.second_read_share,
        backread_share: s.backread_share,
        allow_own_school: s.allow_own_school,
        resolution_rule: s.resolution_rule.as_str().to_string(),
        calibration_since: s.calibration_since.map(ts),
        lead_id: s.lead_id.to_string(),
        portfolios: s.portfolios,
        created_at: ts(s.created_at),
        closed_at: s.closed_at.map(ts),
    }
}

pub fn read_kind_out(k: ReadKind) -> pb::ReadKind {
    match k {
        ReadKind::First => pb::ReadKind::First,
        ReadKind::Second => pb::ReadKind::Second,
        ReadKind::Third => pb::ReadKind::Third,
        ReadKind::Backread => pb::ReadKind::Backread,
    }
}

/// What a reader sees of a read: the folder's pieces and grade, never
/// another reader's score or the student.
pub fn assignment_out(a: Assignment, folder: Option<&domain::Portfolio>) -> pb::Assignment {
    pb::Assignment {
        id: a.id.to_string(),
        session_id: a.session_id.to_string(),
        portfolio_id: a.portfolio_id.to_string(),
        scorer_id: a.scorer_id.to_string(),
        kind: read_kind_out(a.kind) as i32,
        submitted: a.submitted,
        pieces: folder
            .map(|f| f.pieces.iter().map(piece_out).collect())
            .unwrap_or_default(),
        grade_level: folder.map_or(0, |f| f.grade_level),
        reviews_score_id: a.reviews_score_id.map(|id| id.to_string()),
    }
}

pub fn score_out(s: Score) -> pb::Score {
    pb::Score {
        id: s.id.to_string(),
        assignment_id: s.assignment_id.to_string(),
        session_id: s.session_id.to_string(),
        portfolio_id: s.portfolio_id.to_string(),
        scorer_id: s.scorer_id.to_string(),
        kind: read_kind_out(s.kind) as i32,
        version: s.version,
        score: s.value.score,
        dimensions: s
            .value
            .dimensions
            .into_iter()
            .map(|(key, score)| pb::DimensionScore { key, score })
            .collect(),
        condition_code: s.value.condition_code,
        reason: s.reason,
        submitted_by: s.submitted_by,
        submitted_at: ts(s.submitted_at),
    }
}

pub fn result_out(r: ResultRow) -> pb::Result {
    let (final_score, final_condition) = match r.final_score {
        Some(FinalScore::Score(v)) => (Some(v), None),
        Some(FinalScore::Condition(c)) => (None, Some(c)),
        None => (None, None),
    };
    pb::Result {
        session_id: r.session_id.to_string(),
        portfolio_id: r.portfolio_id.to_string(),
        school_id: r.school_id.to_string(),
        state: if r.awaiting_third_read {
            "awaiting_third_read"
        } else if r.method.is_some() {
            "resolved"
        } else {
            "pending"
        }
        .to_string(),
        final_score,
        final_condition,
        method: r.method.map(|m| m.as_str().to_string()).unwrap_or_default(),
        reason: r.reason,
        decided_at: ts(r.decided_at),
    }
}

pub fn group_by_in(v: i32) -> Option<GroupBy> {
    match pb::GroupBy::try_from(v).ok()? {
        pb::GroupBy::Scorer => Some(GroupBy::Scorer),
        pb::GroupBy::Session => Some(GroupBy::Session),
        pb::GroupBy::Cluster => Some(GroupBy::Cluster),
        pb::GroupBy::School => Some(GroupBy::School),
        pb::GroupBy::Year => Some(GroupBy::Year),
        pb::GroupBy::Unspecified => None,
    }
}

pub fn agreement_out(
    key: String,
    rubric: Uuid,
    a: &stats::Agreement,
    t: &stats::Thresholds,
    drift: Option<&stats::Drift>,
) -> pb::AgreementRow {
    let dist = |d: &[(i32, u64)]| {
        d.iter()
            .map(|(score, count)| pb::ScoreCount {
                score: *score,
                count: *count,
            })
            .collect()
    };
    pb::AgreementRow {
        key,
        rubric_id: rubric.to_string(),
        pairs: a.pairs,
        exact: a.exact,
        adjacent: a.adjacent,
        qwk: a.qwk,
        smd: a.smd,
        first_distribution: dist(&a.distribution_a),
        second_distribution: dist(&a.distribution_b),
        scale_min: a.matrix.min(),
        matrix: a
            .matrix
            .rows()
            .into_iter()
            .map(|counts| pb::MatrixRow { counts })
            .collect(),
        flags: a.flags.iter().map(|f| f.as_str().to_string()).collect(),
        flag_reasons: a.flags.iter().map(|f| f.describe(a, t)).collect(),
        drift_windows: drift.map(|d| d.windows.clone()).unwrap_or_default(),
        drift_warning: drift.is_some_and(|d| d.warning),
    }
}
