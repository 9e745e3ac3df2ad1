//! Scoring's mutation inputs: one input object per protobuf request, field
//! for field and named as the request's fields in camelCase, so a field
//! violation the service reports (`score_points[1].value`) reaches the
//! client as the input field it typed (`scorePoints[1].value`).
//!
//! The gateway checks shapes (GraphQL types, required fields, a score or a
//! condition code but not both); what the values mean (the scale is
//! consecutive, the code is one of the rubric's, the caller may score this
//! read) is the service's to decide, once, for every client.

use async_graphql::{ID, InputObject};
use chrono::{DateTime, Utc};
use collegium_proto::scoring::v1 as pb;
use platform::Error;

use super::enums::QualificationSetKind;
use crate::schema::convert::rfc3339;

fn ids(ids: Vec<ID>) -> Vec<String> {
    ids.into_iter().map(|id| id.0).collect()
}

/// One point of a rubric's scale.
#[derive(InputObject)]
pub struct ScorePointInput {
    pub value: i32,
    pub label: String,
}

/// An analytic dimension scored on its own range.
#[derive(InputObject)]
pub struct DimensionInput {
    /// Lower-case letters, digits and `_`, starting with a letter.
    pub key: String,
    pub name: String,
    pub min: i32,
    pub max: i32,
}

/// A code given instead of a score, e.g. `blank` or `insufficient`.
#[derive(InputObject)]
pub struct ConditionCodeInput {
    pub code: String,
    pub label: String,
}

#[derive(InputObject)]
pub struct CreateRubricInput {
    pub programme: String,
    pub name: String,
    /// Ascending, consecutive values.
    pub score_points: Vec<ScorePointInput>,
    #[graphql(default)]
    pub dimensions: Vec<DimensionInput>,
    #[graphql(default)]
    pub condition_codes: Vec<ConditionCodeInput>,
    /// Share of exact agreement a scorer needs on a qualifying set (0–1).
    /// Left out: the default for the scale's length (0.9 for 2 points, 0.8
    /// for 3, 0.7 for 4–6).
    pub qualification_threshold: Option<f64>,
}

impl From<CreateRubricInput> for pb::CreateRubricRequest {
    fn from(i: CreateRubricInput) -> Self {
        Self {
            programme: i.programme,
            name: i.name,
            score_points: i
                .score_points
                .into_iter()
                .map(|p| pb::ScorePoint {
                    value: p.value,
                    label: p.label,
                })
                .collect(),
            dimensions: i
                .dimensions
                .into_iter()
                .map(|d| pb::Dimension {
                    key: d.key,
                    name: d.name,
                    min: d.min,
                    max: d.max,
                })
                .collect(),
            condition_codes: i
                .condition_codes
                .into_iter()
                .map(|c| pb::ConditionCode {
                    code: c.code,
                    label: c.label,
                })
                .collect(),
            qualification_threshold: i.qualification_threshold,
        }
    }
}

#[derive(InputObject)]
pub struct AddAnchorPaperInput {
    pub rubric_id: ID,
    /// The score point the paper exemplifies.
    pub score_point: i32,
    pub title: String,
    /// Where the work is kept (a document URL or storage key).
    pub work_ref: String,
    /// Why the paper earns its score.
    pub annotation: Option<String>,
}

impl From<AddAnchorPaperInput> for pb::AddAnchorPaperRequest {
    fn from(i: AddAnchorPaperInput) -> Self {
        Self {
            rubric_id: i.rubric_id.0,
            score_point: i.score_point,
            title: i.title,
            work_ref: i.work_ref,
            annotation: i.annotation.unwrap_or_default(),
        }
    }
}

/// One piece of work in a portfolio.
#[derive(InputObject)]
pub struct PieceInput {
    pub genre: String,
    pub title: String,
    /// Where the work is kept (a document URL or storage key).
    pub work_ref: String,
}

impl From<PieceInput> for pb::Piece {
    fn from(p: PieceInput) -> Self {
        Self {
            genre: p.genre,
            title: p.title,
            work_ref: p.work_ref,
        }
    }
}

#[derive(InputObject)]
pub struct NewPortfolioInput {
    /// The pseudonymous student id (never a name); stored encrypted.
    pub student_ref: String,
    pub school_id: ID,
    pub grade_level: i32,
    /// Named by its first calendar year: 2026 for 2026/27.
    pub academic_year: i32,
    #[graphql(default)]
    pub pieces: Vec<PieceInput>,
}

#[derive(InputObject)]
pub struct CreatePortfoliosInput {
    pub portfolios: Vec<NewPortfolioInput>,
}

impl From<CreatePortfoliosInput> for pb::CreatePortfoliosRequest {
    fn from(i: CreatePortfoliosInput) -> Self {
        Self {
            portfolios: i
                .portfolios
                .into_iter()
                .map(|p| pb::NewPortfolio {
                    student_ref: p.student_ref,
                    school_id: p.school_id.0,
                    grade_level: p.grade_level,
                    academic_year: p.academic_year,
                    pieces: p.pieces.into_iter().map(Into::into).collect(),
                })
                .collect(),
        }
    }
}

#[derive(InputObject)]
pub struct PromotePortfoliosInput {
    /// Every folder of this academic year moves to the next year and grade.
    pub from_year: i32,
    /// Folders at this grade leave (graduate) instead; left out: 12.
    pub final_grade: Option<i32>,
}

impl From<PromotePortfoliosInput> for pb::PromotePortfoliosRequest {
    fn from(i: PromotePortfoliosInput) -> Self {
        Self {
            from_year: i.from_year,
            final_grade: i.final_grade,
        }
    }
}

/// A paper with its agreed score. The service gives it its id.
#[derive(InputObject)]
pub struct PrescoredPaperInput {
    pub title: String,
    pub work_ref: String,
    /// The agreed score; shown to tenant admins only.
    pub true_score: i32,
}

#[derive(InputObject)]
pub struct CreateQualificationSetInput {
    pub rubric_id: ID,
    pub academic_year: i32,
    pub kind: QualificationSetKind,
    pub name: String,
    pub papers: Vec<PrescoredPaperInput>,
}

impl From<CreateQualificationSetInput> for pb::CreateQualificationSetRequest {
    fn from(i: CreateQualificationSetInput) -> Self {
        Self {
            rubric_id: i.rubric_id.0,
            academic_year: i.academic_year,
            kind: i.kind.to_proto() as i32,
            name: i.name,
            papers: i
                .papers
                .into_iter()
                .map(|p| pb::PrescoredPaper {
                    id: String::new(),
                    title: p.title,
                    work_ref: p.work_ref,
                    true_score: p.true_score,
                })
                .collect(),
        }
    }
}

/// The caller's score for one paper of a qualification set.
#[derive(InputObject)]
pub struct PaperScoreInput {
    pub paper_id: ID,
    pub score: i32,
}

#[derive(InputObject)]
pub struct SubmitQualificationAttemptInput {
    pub set_id: ID,
    pub scores: Vec<PaperScoreInput>,
}

impl From<SubmitQualificationAttemptInput> for pb::SubmitQualificationAttemptRequest {
    fn from(i: SubmitQualificationAttemptInput) -> Self {
        Self {
            set_id: i.set_id.0,
            scores: i
                .scores
                .into_iter()
                .map(|s| pb::PaperScore {
                    paper_id: s.paper_id.0,
                    score: s.score,
                })
                .collect(),
        }
    }
}

#[derive(InputObject)]
pub struct CreateScoringSessionInput {
    /// The scheduled scoring-session event.
    pub event_id: ID,
    pub rubric_id: ID,
    pub cluster_id: ID,
    pub academic_year: i32,
    pub name: String,
    /// Share of portfolios read a second time, blind (0–1); left out: 0.2.
    pub second_read_share: Option<f64>,
    /// Share of each scorer's reads checked by a backread (0–1); left out: 0.1.
    pub backread_share: Option<f64>,
    /// Scorers may read portfolios of their own school.
    #[graphql(default)]
    pub allow_own_school: bool,
    /// `exact`, `adjacent_average` or `adjacent_higher`; left out:
    /// `adjacent_average`.
    pub resolution_rule: Option<String>,
    /// Scorers must have passed a calibration set at or after this instant.
    pub calibration_since: Option<DateTime<Utc>>,
    /// The cluster lead who takes third reads; left out: the caller.
    pub lead_id: Option<ID>,
}

impl From<CreateScoringSessionInput> for pb::CreateSessionRequest {
    fn from(i: CreateScoringSessionInput) -> Self {
        Self {
            event_id: i.event_id.0,
            rubric_id: i.rubric_id.0,
            cluster_id: i.cluster_id.0,
            academic_year: i.academic_year,
            name: i.name,
            second_read_share: i.second_read_share,
            backread_share: i.backread_share,
            allow_own_school: i.allow_own_school,
            resolution_rule: i.resolution_rule.unwrap_or_default(),
            calibration_since: i.calibration_since.map(rfc3339),
            lead_id: i.lead_id.map(|id| id.0).unwrap_or_default(),
        }
    }
}

#[derive(InputObject)]
pub struct AddSessionPortfoliosInput {
    pub session_id: ID,
    pub portfolio_ids: Vec<ID>,
}

impl From<AddSessionPortfoliosInput> for pb::AddSessionPortfoliosRequest {
    fn from(i: AddSessionPortfoliosInput) -> Self {
        Self {
            session_id: i.session_id.0,
            portfolio_ids: ids(i.portfolio_ids),
        }
    }
}

#[derive(InputObject)]
pub struct AssignScoringSessionInput {
    pub session_id: ID,
    /// The people who read; ineligible ones are left out, with reasons.
    pub scorer_ids: Vec<ID>,
}

impl From<AssignScoringSessionInput> for pb::AssignSessionRequest {
    fn from(i: AssignScoringSessionInput) -> Self {
        Self {
            session_id: i.session_id.0,
            scorer_ids: ids(i.scorer_ids),
        }
    }
}

#[derive(InputObject)]
pub struct PlanBackreadsInput {
    pub session_id: ID,
}

impl From<PlanBackreadsInput> for pb::SessionRef {
    fn from(i: PlanBackreadsInput) -> Self {
        Self {
            session_id: i.session_id.0,
        }
    }
}

#[derive(InputObject)]
pub struct CloseScoringSessionInput {
    pub session_id: ID,
}

impl From<CloseScoringSessionInput> for pb::SessionRef {
    fn from(i: CloseScoringSessionInput) -> Self {
        Self {
            session_id: i.session_id.0,
        }
    }
}

/// The score of one analytic dimension.
#[derive(InputObject)]
pub struct DimensionScoreInput {
    pub key: String,
    pub score: i32,
}

fn dimension_scores(dimensions: Vec<DimensionScoreInput>) -> Vec<pb::DimensionScore> {
    dimensions
        .into_iter()
        .map(|d| pb::DimensionScore {
            key: d.key,
            score: d.score,
        })
        .collect()
}

/// A read gives a score (with its dimensions) or a condition code: exactly
/// one of the two. Named as the service names them.
fn score_or_condition(score: Option<i32>, condition_code: Option<&String>) -> Result<(), Error> {
    match (score, condition_code) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "condition_code",
            "give either a score or a condition code, not both",
        )),
        (None, None) => Err(Error::invalid("score", "give a score or a condition code")),
        _ => Ok(()),
    }
}

/// The caller's read of an assigned portfolio: a score (with a score per
/// dimension when the rubric has dimensions) or a condition code.
#[derive(InputObject)]
pub struct SubmitScoreInput {
    pub assignment_id: ID,
    pub score: Option<i32>,
    #[graphql(default)]
    pub dimensions: Vec<DimensionScoreInput>,
    /// One of the rubric's condition codes, instead of a score.
    pub condition_code: Option<String>,
}

impl TryFrom<SubmitScoreInput> for pb::SubmitScoreRequest {
    type Error = Error;

    fn try_from(i: SubmitScoreInput) -> Result<Self, Error> {
        score_or_condition(i.score, i.condition_code.as_ref())?;
        Ok(Self {
            assignment_id: i.assignment_id.0,
            score: i.score,
            dimensions: dimension_scores(i.dimensions),
            condition_code: i.condition_code,
        })
    }
}

/// A new version of a submitted read; the old one stays in the history.
#[derive(InputObject)]
pub struct CorrectScoreInput {
    pub assignment_id: ID,
    pub score: Option<i32>,
    #[graphql(default)]
    pub dimensions: Vec<DimensionScoreInput>,
    pub condition_code: Option<String>,
    /// Why the read is corrected; kept with the new version.
    pub reason: String,
}

impl TryFrom<CorrectScoreInput> for pb::CorrectScoreRequest {
    type Error = Error;

    fn try_from(i: CorrectScoreInput) -> Result<Self, Error> {
        score_or_condition(i.score, i.condition_code.as_ref())?;
        Ok(Self {
            assignment_id: i.assignment_id.0,
            score: i.score,
            dimensions: dimension_scores(i.dimensions),
            condition_code: i.condition_code,
            reason: i.reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ID {
        ID(s.into())
    }

    fn field(e: Error) -> String {
        e.violations()[0].field.clone()
    }

    #[test]
    fn rubrics_and_anchors_become_their_requests_field_for_field() {
        let req: pb::CreateRubricRequest = CreateRubricInput {
            programme: "writing".into(),
            name: "Portfolio rubric".into(),
            score_points: vec![
                ScorePointInput {
                    value: 1,
                    label: "Beginning".into(),
                },
                ScorePointInput {
                    value: 2,
                    label: "Developing".into(),
                },
            ],
            dimensions: vec![DimensionInput {
                key: "voice".into(),
                name: "Voice".into(),
                min: 1,
                max: 4,
            }],
            condition_codes: vec![ConditionCodeInput {
                code: "blank".into(),
                label: "Blank".into(),
            }],
            qualification_threshold: None,
        }
        .into();
        assert_eq!(
            req,
            pb::CreateRubricRequest {
                programme: "writing".into(),
                name: "Portfolio rubric".into(),
                score_points: vec![
                    pb::ScorePoint {
                        value: 1,
                        label: "Beginning".into(),
                    },
                    pb::ScorePoint {
                        value: 2,
                        label: "Developing".into(),
                    },
                ],
                dimensions: vec![pb::Dimension {
                    key: "voice".into(),
                    name: "Voice".into(),
                    min: 1,
                    max: 4,
                }],
                condition_codes: vec![pb::ConditionCode {
                    code: "blank".into(),
                    label: "Blank".into(),
                }],
                qualification_threshold: None,
            }
        );
        let req: pb::AddAnchorPaperRequest = AddAnchorPaperInput {
            rubric_id: id("r"),
            score_point: 2,
            title: "Anchor".into(),
            work_ref: "s3://a".into(),
            annotation: None,
        }
        .into();
        assert_eq!(
            req,
            pb::AddAnchorPaperRequest {
                rubric_id: "r".into(),
                score_point: 2,
                title: "Anchor".into(),
                work_ref: "s3://a".into(),
                annotation: String::new(),
            }
        );
    }

    #[test]
    fn sessions_leave_defaults_to_the_service() {
        let req: pb::CreateSessionRequest = CreateScoringSessionInput {
            event_id: id("e"),
            rubric_id: id("r"),
            cluster_id: id("c"),
            academic_year: 2026,
            name: "Spring scoring".into(),
            second_read_share: None,
            backread_share: Some(0.0),
            allow_own_school: false,
            resolution_rule: None,
            calibration_since: None,
            lead_id: None,
        }
        .into();
        assert_eq!(
            req,
            pb::CreateSessionRequest {
                event_id: "e".into(),
                rubric_id: "r".into(),
                cluster_id: "c".into(),
                academic_year: 2026,
                name: "Spring scoring".into(),
                second_read_share: None,
                backread_share: Some(0.0),
                allow_own_school: false,
                resolution_rule: String::new(),
                calibration_since: None,
                lead_id: String::new(),
            }
        );
        let since = chrono::DateTime::parse_from_rfc3339("2027-01-10T08:00:00+01:00")
            .unwrap()
            .with_timezone(&Utc);
        let req: pb::CreateSessionRequest = CreateScoringSessionInput {
            event_id: id("e"),
            rubric_id: id("r"),
            cluster_id: id("c"),
            academic_year: 2026,
            name: "n".into(),
            second_read_share: Some(0.25),
            backread_share: None,
            allow_own_school: true,
            resolution_rule: Some("exact".into()),
            calibration_since: Some(since),
            lead_id: Some(id("l")),
        }
        .into();
        assert_eq!(
            req.calibration_since.as_deref(),
            Some("2027-01-10T07:00:00Z")
        );
        assert_eq!(req.lead_id, "l");
        assert_eq!(req.resolution_rule, "exact");
        assert_eq!(req.second_read_share, Some(0.25));
    }

    #[test]
    fn a_read_is_a_score_or_a_condition_code_never_both() {
        let submit = |score: Option<i32>, code: Option<&str>| SubmitScoreInput {
            assignment_id: id("a"),
            score,
            dimensions: vec![DimensionScoreInput {
                key: "voice".into(),
                score: 3,
            }],
            condition_code: code.map(Into::into),
        };
        let req = pb::SubmitScoreRequest::try_from(submit(Some(3), None)).unwrap();
        assert_eq!(
            req,
            pb::SubmitScoreRequest {
                assignment_id: "a".into(),
                score: Some(3),
                dimensions: vec![pb::DimensionScore {
                    key: "voice".into(),
                    score: 3,
                }],
                condition_code: None,
            }
        );
        let req = pb::SubmitScoreRequest::try_from(submit(None, Some("blank"))).unwrap();
        assert_eq!(req.condition_code.as_deref(), Some("blank"));
        assert_eq!(
            field(pb::SubmitScoreRequest::try_from(submit(Some(3), Some("blank"))).unwrap_err()),
            "condition_code"
        );
        assert_eq!(
            field(pb::SubmitScoreRequest::try_from(submit(None, None)).unwrap_err()),
            "score"
        );
        let correct = |score: Option<i32>, code: Option<&str>| CorrectScoreInput {
            assignment_id: id("a"),
            score,
            dimensions: vec![],
            condition_code: code.map(Into::into),
            reason: "misread the scale".into(),
        };
        let req = pb::CorrectScoreRequest::try_from(correct(Some(0), None)).unwrap();
        assert_eq!(
            (req.score, req.reason.as_str()),
            (Some(0), "misread the scale")
        );
        assert_eq!(
            field(pb::CorrectScoreRequest::try_from(correct(None, None)).unwrap_err()),
            "score"
        );
    }

    #[test]
    fn portfolios_sets_and_attempts_become_their_requests() {
        let req: pb::CreatePortfoliosRequest = CreatePortfoliosInput {
            portfolios: vec![NewPortfolioInput {
                student_ref: "S-001".into(),
                school_id: id("s"),
                grade_level: 4,
                academic_year: 2026,
                pieces: vec![PieceInput {
                    genre: "narrative".into(),
                    title: "My summer".into(),
                    work_ref: "doc://1".into(),
                }],
            }],
        }
        .into();
        assert_eq!(
            req.portfolios,
            [pb::NewPortfolio {
                student_ref: "S-001".into(),
                school_id: "s".into(),
                grade_level: 4,
                academic_year: 2026,
                pieces: vec![pb::Piece {
                    genre: "narrative".into(),
                    title: "My summer".into(),
                    work_ref: "doc://1".into(),
                }],
            }]
        );
        let req: pb::PromotePortfoliosRequest = PromotePortfoliosInput {
            from_year: 2026,
            final_grade: None,
        }
        .into();
        assert_eq!(req.final_grade, None);
        let req: pb::CreateQualificationSetRequest = CreateQualificationSetInput {
            rubric_id: id("r"),
            academic_year: 2026,
            kind: QualificationSetKind::Calibration,
            name: "January calibration".into(),
            papers: vec![PrescoredPaperInput {
                title: "P1".into(),
                work_ref: "doc://p1".into(),
                true_score: 0,
            }],
        }
        .into();
        assert_eq!(req.kind, pb::SetKind::Calibration as i32);
        assert_eq!(
            req.papers,
            [pb::PrescoredPaper {
                id: String::new(),
                title: "P1".into(),
                work_ref: "doc://p1".into(),
                true_score: 0,
            }]
        );
        let req: pb::SubmitQualificationAttemptRequest = SubmitQualificationAttemptInput {
            set_id: id("q"),
            scores: vec![PaperScoreInput {
                paper_id: id("p1"),
                score: 2,
            }],
        }
        .into();
        assert_eq!(
            req,
            pb::SubmitQualificationAttemptRequest {
                set_id: "q".into(),
                scores: vec![pb::PaperScore {
                    paper_id: "p1".into(),
                    score: 2,
                }],
            }
        );
        let req: pb::AssignSessionRequest = AssignScoringSessionInput {
            session_id: id("s"),
            scorer_ids: vec![id("a"), id("b")],
        }
        .into();
        assert_eq!(req.scorer_ids, ["a", "b"]);
        let req: pb::AddSessionPortfoliosRequest = AddSessionPortfoliosInput {
            session_id: id("s"),
            portfolio_ids: vec![id("p")],
        }
        .into();
        assert_eq!(req.portfolio_ids, ["p"]);
        let req: pb::SessionRef = PlanBackreadsInput {
            session_id: id("s"),
        }
        .into();
        assert_eq!(req.session_id, "s");
        let req: pb::SessionRef = CloseScoringSessionInput {
            session_id: id("s"),
        }
        .into();
        assert_eq!(req.session_id, "s");
    }
}
