//! A stand-in for the scoring service that keeps tenants apart the way the
//! real one does: it is served behind the platform's `Authenticate`
//! interceptor with the issuer the gateway trusts, so every call carries a
//! verified `Principal`, and it answers from that tenant's records only —
//! another tenant's id is "not found", never "forbidden". Within a tenant it
//! does just enough to round-trip every RPC (creates records, lists them in
//! pages by id, marks qualification attempts, plans first reads, keeps every
//! score version) and refuses in the ways a test needs (bad fields, unknown
//! ids, a closed session, someone else's read, a read submitted twice).
//!
//! Every call is recorded with its request (`{:?}`), its `authorization`
//! and the tenant it was answered for.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use collegium_proto::{
    common::v1::{PageInfo, PageRequest},
    scoring::v1::{self as pb, scoring_service_server::ScoringService},
};
use platform::{
    Error,
    auth::{Principal, TenantId},
    grpc::principal,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

type Answer<T> = Result<Response<T>, Status>;

/// Page size when the request names none.
pub const DEFAULT_PAGE: usize = 50;

/// The instant every record the fake writes carries.
pub const NOW: &str = "2027-03-01T09:00:00Z";

/// One call as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub rpc: &'static str,
    /// The request message, `{:?}`-formatted, to compare with the one a
    /// test expects.
    pub request: String,
    pub authorization: Option<String>,
    pub tenant: TenantId,
}

/// What one tenant holds.
#[derive(Debug, Default, Clone)]
pub struct Records {
    pub rubrics: Vec<pb::Rubric>,
    pub anchors: Vec<pb::AnchorPaper>,
    pub portfolios: Vec<pb::Portfolio>,
    pub sets: Vec<pb::QualificationSet>,
    /// Person ids with a passed qualification attempt.
    pub qualified: Vec<String>,
    pub sessions: Vec<pb::ScoringSession>,
    /// Portfolio ids per session id.
    pub session_portfolios: HashMap<String, Vec<String>>,
    pub assignments: Vec<pb::Assignment>,
    pub scores: Vec<pb::Score>,
    pub results: Vec<pb::Result>,
}

#[derive(Default, Clone)]
pub struct FakeScoring {
    pub calls: Arc<Mutex<Vec<Call>>>,
    tenants: Arc<Mutex<HashMap<TenantId, Records>>>,
}

fn not_found(what: &str) -> Status {
    Error::not_found(what).into_status()
}

fn invalid(field: &str, why: &str) -> Status {
    Error::invalid(field, why).into_status()
}

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// One page of `items` after the item whose id is the page token.
fn page<T: Clone>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    page: Option<PageRequest>,
) -> (Vec<T>, Option<PageInfo>) {
    let page = page.unwrap_or_default();
    let start = if page.page_token.is_empty() {
        0
    } else {
        items
            .iter()
            .position(|x| id(x) == page.page_token)
            .map_or(items.len(), |i| i + 1)
    };
    let size = match page.page_size {
        0 => DEFAULT_PAGE,
        n => n as usize,
    };
    let end = (start + size).min(items.len());
    let slice = items[start.min(end)..end].to_vec();
    let next = if end < items.len() {
        slice.last().map(|x| id(x).to_string()).unwrap_or_default()
    } else {
        String::new()
    };
    (
        slice,
        Some(PageInfo {
            next_page_token: next,
        }),
    )
}

fn person(who: &Principal) -> String {
    who.person().map(|p| p.0.to_string()).unwrap_or_default()
}

impl FakeScoring {
    /// Records the call and hands back its verified caller.
    fn record<T: std::fmt::Debug>(
        &self,
        rpc: &'static str,
        request: &Request<T>,
    ) -> Result<Principal, Status> {
        let who = principal(request)?;
        self.calls.lock().unwrap().push(Call {
            rpc,
            request: format!("{:?}", request.get_ref()),
            authorization: request
                .metadata()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string()),
            tenant: who.tenant,
        });
        Ok(who)
    }

    pub fn calls(&self, rpc: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.rpc == rpc)
            .cloned()
            .collect()
    }

    /// The one call of `rpc` so far, `{:?}`-formatted.
    pub fn request(&self, rpc: &str) -> String {
        let calls = self.calls(rpc);
        assert_eq!(calls.len(), 1, "{rpc}: {calls:?}");
        calls[0].request.clone()
    }

    /// Runs `f` on the tenant's records (seeding them, or reading them back).
    pub fn with<R>(&self, tenant: TenantId, f: impl FnOnce(&mut Records) -> R) -> R {
        f(self.tenants.lock().unwrap().entry(tenant).or_default())
    }

    fn tenant<R>(&self, who: &Principal, f: impl FnOnce(&mut Records) -> R) -> R {
        self.with(who.tenant, f)
    }
}

impl Records {
    fn session(&self, id: &str) -> Result<pb::ScoringSession, Status> {
        self.sessions
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .ok_or_else(|| not_found("scoring session"))
    }

    fn open_session(&mut self, id: &str) -> Result<&mut pb::ScoringSession, Status> {
        let session = self
            .sessions
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| not_found("scoring session"))?;
        if session.status == pb::SessionStatus::Closed as i32 {
            return Err(
                Error::FailedPrecondition("the scoring session is closed".into()).into_status(),
            );
        }
        Ok(session)
    }

    fn eligibility(&self, scorer_id: &str) -> pb::Eligibility {
        let qualified = self.qualified.iter().any(|q| q == scorer_id);
        pb::Eligibility {
            scorer_id: scorer_id.to_string(),
            eligible: qualified,
            reasons: if qualified {
                vec![]
            } else {
                vec!["has not passed a qualifying set of this rubric in 2026/27".into()]
            },
            trained: true,
            qualified,
            calibrated: true,
        }
    }
}

#[tonic::async_trait]
impl ScoringService for FakeScoring {
    async fn export_person_data(
        &self,
        _: Request<collegium_proto::common::v1::PersonDataRequest>,
    ) -> Answer<collegium_proto::common::v1::PersonData> {
        Err(Status::unimplemented("export_person_data"))
    }

    async fn erase_person_data(
        &self,
        _: Request<collegium_proto::common::v1::PersonDataRequest>,
    ) -> Answer<collegium_proto::common::v1::ErasureReport> {
        Err(Status::unimplemented("erase_person_data"))
    }

    async fn apply_retention(
        &self,
        _: Request<collegium_proto::common::v1::ApplyRetentionRequest>,
    ) -> Answer<collegium_proto::common::v1::RetentionReport> {
        Err(Status::unimplemented("apply_retention"))
    }

    /// A rubric named `bad scale` is refused on its second score point.
    async fn create_rubric(&self, request: Request<pb::CreateRubricRequest>) -> Answer<pb::Rubric> {
        let who = self.record("create_rubric", &request)?;
        let r = request.into_inner();
        if r.name == "bad scale" {
            return Err(invalid(
                "score_points[1].value",
                "score points are ascending and consecutive",
            ));
        }
        let rubric = pb::Rubric {
            id: new_id(),
            programme: r.programme,
            name: r.name,
            anchor_counts: r
                .score_points
                .iter()
                .map(|p| pb::AnchorCount {
                    score_point: p.value,
                    count: 0,
                })
                .collect(),
            score_points: r.score_points,
            dimensions: r.dimensions,
            condition_codes: r.condition_codes,
            qualification_threshold: r.qualification_threshold.unwrap_or(0.8),
            created_at: NOW.into(),
        };
        self.tenant(&who, |t| t.rubrics.push(rubric.clone()));
        Ok(Response::new(rubric))
    }

    async fn get_rubrics(&self, request: Request<pb::GetByIdsRequest>) -> Answer<pb::RubricList> {
        let who = self.record("get_rubrics", &request)?;
        let ids = &request.get_ref().ids;
        let rubrics = self.tenant(&who, |t| {
            t.rubrics
                .iter()
                .filter(|r| ids.contains(&r.id))
                .cloned()
                .collect()
        });
        Ok(Response::new(pb::RubricList { rubrics }))
    }

    async fn list_rubrics(
        &self,
        request: Request<pb::ListRubricsRequest>,
    ) -> Answer<pb::RubricPage> {
        let who = self.record("list_rubrics", &request)?;
        let r = request.into_inner();
        let all: Vec<_> = self.tenant(&who, |t| {
            t.rubrics
                .iter()
                .filter(|x| r.programme.is_empty() || x.programme == r.programme)
                .cloned()
                .collect()
        });
        let (rubrics, page) = page(all, |x| &x.id, r.page);
        Ok(Response::new(pb::RubricPage { rubrics, page }))
    }

    async fn add_anchor_paper(
        &self,
        request: Request<pb::AddAnchorPaperRequest>,
    ) -> Answer<pb::AnchorPaper> {
        let who = self.record("add_anchor_paper", &request)?;
        let r = request.into_inner();
        self.tenant(&who, |t| {
            let rubric = t
                .rubrics
                .iter_mut()
                .find(|x| x.id == r.rubric_id)
                .ok_or_else(|| not_found("rubric"))?;
            let count = rubric
                .anchor_counts
                .iter_mut()
                .find(|c| c.score_point == r.score_point)
                .ok_or_else(|| invalid("score_point", "not a score point of the rubric"))?;
            count.count += 1;
            let anchor = pb::AnchorPaper {
                id: new_id(),
                rubric_id: r.rubric_id,
                score_point: r.score_point,
                title: r.title,
                work_ref: r.work_ref,
                annotation: r.annotation,
            };
            t.anchors.push(anchor.clone());
            Ok(Response::new(anchor))
        })
    }

    async fn list_anchor_papers(
        &self,
        request: Request<pb::RubricRef>,
    ) -> Answer<pb::AnchorPaperList> {
        let who = self.record("list_anchor_papers", &request)?;
        let id = &request.get_ref().rubric_id;
        self.tenant(&who, |t| {
            if !t.rubrics.iter().any(|r| &r.id == id) {
                return Err(not_found("rubric"));
            }
            Ok(Response::new(pb::AnchorPaperList {
                anchors: t
                    .anchors
                    .iter()
                    .filter(|a| &a.rubric_id == id)
                    .cloned()
                    .collect(),
            }))
        })
    }

    async fn create_portfolios(
        &self,
        request: Request<pb::CreatePortfoliosRequest>,
    ) -> Answer<pb::PortfolioList> {
        let who = self.record("create_portfolios", &request)?;
        let portfolios: Vec<_> = request
            .into_inner()
            .portfolios
            .into_iter()
            .map(|p| pb::Portfolio {
                id: new_id(),
                student_ref: p.student_ref,
                school_id: p.school_id,
                grade_level: p.grade_level,
                academic_year: p.academic_year,
                pieces: p.pieces,
                previous_id: None,
            })
            .collect();
        self.tenant(&who, |t| t.portfolios.extend(portfolios.iter().cloned()));
        Ok(Response::new(pb::PortfolioList { portfolios }))
    }

    async fn get_portfolios(
        &self,
        request: Request<pb::GetByIdsRequest>,
    ) -> Answer<pb::PortfolioList> {
        let who = self.record("get_portfolios", &request)?;
        let ids = &request.get_ref().ids;
        let portfolios = self.tenant(&who, |t| {
            t.portfolios
                .iter()
                .filter(|p| ids.contains(&p.id))
                .cloned()
                .collect()
        });
        Ok(Response::new(pb::PortfolioList { portfolios }))
    }

    async fn list_portfolios(
        &self,
        request: Request<pb::ListPortfoliosRequest>,
    ) -> Answer<pb::PortfolioPage> {
        let who = self.record("list_portfolios", &request)?;
        let r = request.into_inner();
        let all: Vec<_> = self.tenant(&who, |t| {
            t.portfolios
                .iter()
                .filter(|p| r.academic_year == 0 || p.academic_year == r.academic_year)
                .filter(|p| r.school_id.is_empty() || p.school_id == r.school_id)
                .cloned()
                .collect()
        });
        let (portfolios, page) = page(all, |x| &x.id, r.page);
        Ok(Response::new(pb::PortfolioPage { portfolios, page }))
    }

    async fn promote_portfolios(
        &self,
        request: Request<pb::PromotePortfoliosRequest>,
    ) -> Answer<pb::PromotionReport> {
        let who = self.record("promote_portfolios", &request)?;
        let r = request.into_inner();
        let final_grade = r.final_grade.unwrap_or(12);
        let report = self.tenant(&who, |t| {
            let mut report = pb::PromotionReport::default();
            let of_year: Vec<_> = t
                .portfolios
                .iter()
                .filter(|p| p.academic_year == r.from_year)
                .cloned()
                .collect();
            for p in of_year {
                if t.portfolios
                    .iter()
                    .any(|n| n.previous_id.as_deref() == Some(&p.id))
                {
                    report.already_promoted += 1;
                } else if p.grade_level >= final_grade {
                    report.graduated += 1;
                } else {
                    report.promoted += 1;
                    t.portfolios.push(pb::Portfolio {
                        id: new_id(),
                        grade_level: p.grade_level + 1,
                        academic_year: p.academic_year + 1,
                        pieces: vec![],
                        previous_id: Some(p.id.clone()),
                        ..p
                    });
                }
            }
            report
        });
        Ok(Response::new(report))
    }

    async fn create_qualification_set(
        &self,
        request: Request<pb::CreateQualificationSetRequest>,
    ) -> Answer<pb::QualificationSet> {
        let who = self.record("create_qualification_set", &request)?;
        let r = request.into_inner();
        self.tenant(&who, |t| {
            if !t.rubrics.iter().any(|x| x.id == r.rubric_id) {
                return Err(invalid("rubric_id", "no such rubric"));
            }
            let set = pb::QualificationSet {
                id: new_id(),
                rubric_id: r.rubric_id,
                academic_year: r.academic_year,
                kind: r.kind,
                name: r.name,
                papers: r
                    .papers
                    .into_iter()
                    .map(|p| pb::PrescoredPaper { id: new_id(), ..p })
                    .collect(),
            };
            t.sets.push(set.clone());
            Ok(Response::new(set))
        })
    }

    async fn list_qualification_sets(
        &self,
        request: Request<pb::ListQualificationSetsRequest>,
    ) -> Answer<pb::QualificationSetList> {
        let who = self.record("list_qualification_sets", &request)?;
        let r = request.into_inner();
        self.tenant(&who, |t| {
            if !t.rubrics.iter().any(|x| x.id == r.rubric_id) {
                return Err(not_found("rubric"));
            }
            Ok(Response::new(pb::QualificationSetList {
                sets: t
                    .sets
                    .iter()
                    .filter(|s| s.rubric_id == r.rubric_id)
                    .filter(|s| r.academic_year == 0 || s.academic_year == r.academic_year)
                    .cloned()
                    .collect(),
            }))
        })
    }

    /// Marks the caller's scores against the agreed ones; passing makes the
    /// caller eligible in every session.
    async fn submit_qualification_attempt(
        &self,
        request: Request<pb::SubmitQualificationAttemptRequest>,
    ) -> Answer<pb::QualificationAttempt> {
        let who = self.record("submit_qualification_attempt", &request)?;
        let r = request.into_inner();
        self.tenant(&who, |t| {
            let set = t
                .sets
                .iter()
                .find(|s| s.id == r.set_id)
                .cloned()
                .ok_or_else(|| not_found("qualification set"))?;
            let threshold = t
                .rubrics
                .iter()
                .find(|x| x.id == set.rubric_id)
                .map_or(0.8, |x| x.qualification_threshold);
            let mut results = Vec::new();
            for (i, s) in r.scores.iter().enumerate() {
                let paper = set
                    .papers
                    .iter()
                    .find(|p| p.id == s.paper_id)
                    .ok_or_else(|| invalid(&format!("scores[{i}].paper_id"), "not in the set"))?;
                results.push(pb::PaperResult {
                    paper_id: s.paper_id.clone(),
                    given: s.score,
                    agreed: paper.true_score,
                });
            }
            let exact = results.iter().filter(|p| p.given == p.agreed).count() as u32;
            let papers = results.len() as u32;
            let exact_share = if papers == 0 {
                0.0
            } else {
                f64::from(exact) / f64::from(papers)
            };
            let passed = papers > 0 && exact_share >= threshold;
            let scorer_id = person(&who);
            if passed {
                t.qualified.push(scorer_id.clone());
            }
            Ok(Response::new(pb::QualificationAttempt {
                id: new_id(),
                set_id: r.set_id,
                scorer_id,
                papers,
                exact,
                exact_share,
                threshold,
                passed,
                submitted_at: NOW.into(),
                results,
            }))
        })
    }

    async fn get_eligibility(
        &self,
        request: Request<pb::GetEligibilityRequest>,
    ) -> Answer<pb::Eligibility> {
        let who = self.record("get_eligibility", &request)?;
        let r = request.into_inner();
        let scorer = if r.scorer_id.is_empty() {
            person(&who)
        } else {
            r.scorer_id
        };
        self.tenant(&who, |t| {
            t.session(&r.session_id)?;
            Ok(Response::new(t.eligibility(&scorer)))
        })
    }

    async fn create_session(
        &self,
        request: Request<pb::CreateSessionRequest>,
    ) -> Answer<pb::ScoringSession> {
        let who = self.record("create_session", &request)?;
        let r = request.into_inner();
        self.tenant(&who, |t| {
            if !t.rubrics.iter().any(|x| x.id == r.rubric_id) {
                return Err(invalid("rubric_id", "no such rubric"));
            }
            let session = pb::ScoringSession {
                id: new_id(),
                event_id: r.event_id,
                rubric_id: r.rubric_id,
                cluster_id: r.cluster_id,
                academic_year: r.academic_year,
                name: r.name,
                status: pb::SessionStatus::Open as i32,
                second_read_share: r.second_read_share.unwrap_or(0.2),
                backread_share: r.backread_share.unwrap_or(0.1),
                allow_own_school: r.allow_own_school,
                resolution_rule: if r.resolution_rule.is_empty() {
                    "adjacent_average".into()
                } else {
                    r.resolution_rule
                },
                calibration_since: r.calibration_since,
                lead_id: if r.lead_id.is_empty() {
                    person(&who)
                } else {
                    r.lead_id
                },
                portfolios: 0,
                created_at: NOW.into(),
                closed_at: None,
            };
            t.sessions.push(session.clone());
            Ok(Response::new(session))
        })
    }

    async fn get_sessions(&self, request: Request<pb::GetByIdsRequest>) -> Answer<pb::SessionList> {
        let who = self.record("get_sessions", &request)?;
        let ids = &request.get_ref().ids;
        let sessions = self.tenant(&who, |t| {
            t.sessions
                .iter()
                .filter(|s| ids.contains(&s.id))
                .cloned()
                .collect()
        });
        Ok(Response::new(pb::SessionList { sessions }))
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Answer<pb::SessionPage> {
        let who = self.record("list_sessions", &request)?;
        let r = request.into_inner();
        let all: Vec<_> = self.tenant(&who, |t| {
            t.sessions
                .iter()
                .filter(|s| r.academic_year == 0 || s.academic_year == r.academic_year)
                .filter(|s| r.cluster_id.is_empty() || s.cluster_id == r.cluster_id)
                .cloned()
                .collect()
        });
        let (sessions, page) = page(all, |x| &x.id, r.page);
        Ok(Response::new(pb::SessionPage { sessions, page }))
    }

    async fn add_session_portfolios(
        &self,
        request: Request<pb::AddSessionPortfoliosRequest>,
    ) -> Answer<pb::ScoringSession> {
        let who = self.record("add_session_portfolios", &request)?;
        let r = request.into_inner();
        self.tenant(&who, |t| {
            for (i, id) in r.portfolio_ids.iter().enumerate() {
                if !t.portfolios.iter().any(|p| &p.id == id) {
                    return Err(invalid(&format!("portfolio_ids[{i}]"), "no such portfolio"));
                }
            }
            let session = t.open_session(&r.session_id)?;
            session.portfolios += r.portfolio_ids.len() as u32;
            let session = session.clone();
            t.session_portfolios
                .entry(r.session_id)
                .or_default()
                .extend(r.portfolio_ids);
            Ok(Response::new(session))
        })
    }

    /// Gives each of the session's portfolios a first read by the first
    /// eligible scorer; without one, the portfolio is unassignable.
    async fn assign_session(
        &self,
        request: Request<pb::AssignSessionRequest>,
    ) -> Answer<pb::AssignmentReport> {
        let who = self.record("assign_session", &request)?;
        let r = request.into_inner();
        self.tenant(&who, |t| {
            t.open_session(&r.session_id)?;
            let (eligible, refused): (Vec<_>, Vec<_>) = r
                .scorer_ids
                .iter()
                .map(|s| t.eligibility(s))
                .partition(|e| e.eligible);
            let portfolios = t
                .session_portfolios
                .get(&r.session_id)
                .cloned()
                .unwrap_or_default();
            let mut report = pb::AssignmentReport {
                refused_scorers: refused,
                ..Default::default()
            };
            for portfolio_id in portfolios {
                let Some(scorer) = eligible.first() else {
                    report.unassignable.push(pb::Unassignable {
                        portfolio_id,
                        kind: pb::ReadKind::First as i32,
                        reason: "no eligible scorer".into(),
                    });
                    continue;
                };
                let portfolio = t
                    .portfolios
                    .iter()
                    .find(|p| p.id == portfolio_id)
                    .cloned()
                    .unwrap_or_default();
                t.assignments.push(pb::Assignment {
                    id: new_id(),
                    session_id: r.session_id.clone(),
                    portfolio_id,
                    scorer_id: scorer.scorer_id.clone(),
                    kind: pb::ReadKind::First as i32,
                    submitted: false,
                    pieces: portfolio.pieces,
                    grade_level: portfolio.grade_level,
                    reviews_score_id: None,
                });
                report.assigned += 1;
            }
            Ok(Response::new(report))
        })
    }

    /// Plans one backread of each submitted first read, by its own reader
    /// (a fake: the real service picks another reader).
    async fn plan_backreads(
        &self,
        request: Request<pb::SessionRef>,
    ) -> Answer<pb::AssignmentReport> {
        let who = self.record("plan_backreads", &request)?;
        let session_id = request.into_inner().session_id;
        self.tenant(&who, |t| {
            t.open_session(&session_id)?;
            let firsts: Vec<_> = t
                .scores
                .iter()
                .filter(|s| s.session_id == session_id && s.version == 1)
                .cloned()
                .collect();
            let mut report = pb::AssignmentReport::default();
            for score in firsts {
                t.assignments.push(pb::Assignment {
                    id: new_id(),
                    session_id: session_id.clone(),
                    portfolio_id: score.portfolio_id,
                    scorer_id: score.scorer_id,
                    kind: pb::ReadKind::Backread as i32,
                    reviews_score_id: Some(score.id),
                    ..Default::default()
                });
                report.assigned += 1;
            }
            Ok(Response::new(report))
        })
    }

    async fn close_session(&self, request: Request<pb::SessionRef>) -> Answer<pb::ScoringSession> {
        let who = self.record("close_session", &request)?;
        let id = request.into_inner().session_id;
        self.tenant(&who, |t| {
            let session = t.open_session(&id)?;
            session.status = pb::SessionStatus::Closed as i32;
            session.closed_at = Some(NOW.into());
            Ok(Response::new(session.clone()))
        })
    }

    async fn get_session_progress(
        &self,
        request: Request<pb::SessionRef>,
    ) -> Answer<pb::SessionProgress> {
        let who = self.record("get_session_progress", &request)?;
        let id = request.into_inner().session_id;
        self.tenant(&who, |t| {
            let session = t.session(&id)?;
            let reads: Vec<_> = t
                .assignments
                .iter()
                .filter(|a| a.session_id == id)
                .collect();
            let mut scorers: Vec<pb::ScorerProgress> = Vec::new();
            for a in &reads {
                let at = match scorers.iter().position(|s| s.scorer_id == a.scorer_id) {
                    Some(i) => i,
                    None => {
                        scorers.push(pb::ScorerProgress {
                            scorer_id: a.scorer_id.clone(),
                            ..Default::default()
                        });
                        scorers.len() - 1
                    }
                };
                scorers[at].assigned += 1;
                scorers[at].submitted += u32::from(a.submitted);
            }
            let results: Vec<_> = t.results.iter().filter(|r| r.session_id == id).collect();
            Ok(Response::new(pb::SessionProgress {
                session_id: id.clone(),
                portfolios: session.portfolios,
                reads_assigned: reads.len() as u32,
                reads_submitted: reads.iter().filter(|a| a.submitted).count() as u32,
                resolved: results.iter().filter(|r| r.state == "resolved").count() as u32,
                awaiting_third_read: results
                    .iter()
                    .filter(|r| r.state == "awaiting_third_read")
                    .count() as u32,
                scorers,
            }))
        })
    }

    async fn list_my_assignments(
        &self,
        request: Request<pb::ListMyAssignmentsRequest>,
    ) -> Answer<pb::AssignmentPage> {
        let who = self.record("list_my_assignments", &request)?;
        let me = person(&who);
        let r = request.into_inner();
        let all: Vec<_> = self.tenant(&who, |t| {
            t.assignments
                .iter()
                .filter(|a| a.scorer_id == me)
                .filter(|a| r.session_id.is_empty() || a.session_id == r.session_id)
                .filter(|a| !r.pending_only || !a.submitted)
                .cloned()
                .collect()
        });
        let (assignments, page) = page(all, |x| &x.id, r.page);
        Ok(Response::new(pb::AssignmentPage { assignments, page }))
    }

    async fn list_session_assignments(
        &self,
        request: Request<pb::ListSessionAssignmentsRequest>,
    ) -> Answer<pb::AssignmentPage> {
        let who = self.record("list_session_assignments", &request)?;
        let r = request.into_inner();
        let all = self.tenant(&who, |t| {
            t.session(&r.session_id)?;
            Ok::<Vec<_>, Status>(
                t.assignments
                    .iter()
                    .filter(|a| a.session_id == r.session_id)
                    .filter(|a| r.scorer_id.is_empty() || a.scorer_id == r.scorer_id)
                    .cloned()
                    .collect(),
            )
        })?;
        let (assignments, page) = page(all, |x| &x.id, r.page);
        Ok(Response::new(pb::AssignmentPage { assignments, page }))
    }

    /// The caller's own read, once, in an open session, with a score on
    /// the rubric's scale or one of its condition codes; a single read
    /// resolves the portfolio.
    async fn submit_score(&self, request: Request<pb::SubmitScoreRequest>) -> Answer<pb::Score> {
        let who = self.record("submit_score", &request)?;
        let me = person(&who);
        let r = request.into_inner();
        self.tenant(&who, |t| {
            let a = t
                .assignments
                .iter()
                .find(|a| a.id == r.assignment_id)
                .cloned()
                .ok_or_else(|| not_found("assignment"))?;
            if a.scorer_id != me {
                return Err(Error::forbidden("this read is assigned to someone else").into_status());
            }
            let session = t.open_session(&a.session_id)?.clone();
            if a.submitted {
                return Err(Error::Conflict("this read was submitted before".into()).into_status());
            }
            let rubric = t
                .rubrics
                .iter()
                .find(|x| x.id == session.rubric_id)
                .cloned()
                .unwrap_or_default();
            if let Some(code) = &r.condition_code
                && !rubric.condition_codes.iter().any(|c| &c.code == code)
            {
                return Err(invalid(
                    "condition_code",
                    "not a condition code of the rubric",
                ));
            }
            let score = pb::Score {
                id: new_id(),
                assignment_id: a.id.clone(),
                session_id: a.session_id.clone(),
                portfolio_id: a.portfolio_id.clone(),
                scorer_id: a.scorer_id.clone(),
                kind: a.kind,
                version: 1,
                score: r.score,
                dimensions: r.dimensions,
                condition_code: r.condition_code.clone(),
                reason: String::new(),
                submitted_by: me.clone(),
                submitted_at: NOW.into(),
            };
            t.scores.push(score.clone());
            if let Some(x) = t.assignments.iter_mut().find(|x| x.id == a.id) {
                x.submitted = true;
            }
            let school_id = t
                .portfolios
                .iter()
                .find(|p| p.id == a.portfolio_id)
                .map(|p| p.school_id.clone())
                .unwrap_or_default();
            t.results.push(pb::Result {
                session_id: a.session_id,
                portfolio_id: a.portfolio_id,
                school_id,
                state: "resolved".into(),
                final_score: r.score.map(f64::from),
                final_condition: r.condition_code,
                method: "single_read".into(),
                reason: "one read".into(),
                decided_at: NOW.into(),
            });
            Ok(Response::new(score))
        })
    }

    async fn correct_score(&self, request: Request<pb::CorrectScoreRequest>) -> Answer<pb::Score> {
        let who = self.record("correct_score", &request)?;
        let r = request.into_inner();
        self.tenant(&who, |t| {
            let last = t
                .scores
                .iter()
                .filter(|s| s.assignment_id == r.assignment_id)
                .max_by_key(|s| s.version)
                .cloned()
                .ok_or_else(|| not_found("score"))?;
            if r.reason.trim().is_empty() {
                return Err(invalid("reason", "say why the score is corrected"));
            }
            let score = pb::Score {
                id: new_id(),
                version: last.version + 1,
                score: r.score,
                dimensions: r.dimensions,
                condition_code: r.condition_code,
                reason: r.reason,
                submitted_by: person(&who),
                ..last
            };
            t.scores.push(score.clone());
            Ok(Response::new(score))
        })
    }

    async fn get_score_history(
        &self,
        request: Request<pb::GetScoreHistoryRequest>,
    ) -> Answer<pb::ScoreHistory> {
        let who = self.record("get_score_history", &request)?;
        let r = request.into_inner();
        self.tenant(&who, |t| {
            t.session(&r.session_id)?;
            Ok(Response::new(pb::ScoreHistory {
                scores: t
                    .scores
                    .iter()
                    .filter(|s| s.session_id == r.session_id && s.portfolio_id == r.portfolio_id)
                    .cloned()
                    .collect(),
                result: t
                    .results
                    .iter()
                    .find(|x| x.session_id == r.session_id && x.portfolio_id == r.portfolio_id)
                    .cloned(),
            }))
        })
    }

    async fn list_results(
        &self,
        request: Request<pb::ListResultsRequest>,
    ) -> Answer<pb::ResultPage> {
        let who = self.record("list_results", &request)?;
        let r = request.into_inner();
        let all = self.tenant(&who, |t| {
            t.session(&r.session_id)?;
            Ok::<Vec<_>, Status>(
                t.results
                    .iter()
                    .filter(|x| x.session_id == r.session_id)
                    .filter(|x| !r.awaiting_third_read_only || x.state == "awaiting_third_read")
                    .cloned()
                    .collect(),
            )
        })?;
        let (results, page) = page(all, |x| &x.portfolio_id, r.page);
        Ok(Response::new(pb::ResultPage { results, page }))
    }

    /// One row keyed by what the rows are grouped by.
    async fn get_agreement_stats(
        &self,
        request: Request<pb::GetAgreementStatsRequest>,
    ) -> Answer<pb::AgreementReport> {
        let who = self.record("get_agreement_stats", &request)?;
        let r = request.into_inner();
        let key = match pb::GroupBy::try_from(r.group_by) {
            Ok(pb::GroupBy::Year) => r.academic_year.to_string(),
            Ok(pb::GroupBy::Session) => r.session_id,
            Ok(pb::GroupBy::Cluster) => r.cluster_id,
            Ok(pb::GroupBy::Scorer) | Ok(pb::GroupBy::School) => "k".into(),
            _ => return Err(invalid("group_by", "required")),
        };
        let rubric_id = self.tenant(&who, |t| {
            t.rubrics.first().map(|x| x.id.clone()).unwrap_or_default()
        });
        Ok(Response::new(pb::AgreementReport {
            rows: vec![pb::AgreementRow {
                key,
                rubric_id,
                pairs: 12,
                exact: Some(0.75),
                adjacent: Some(1.0),
                qwk: Some(0.8125),
                smd: None,
                first_distribution: vec![
                    pb::ScoreCount { score: 1, count: 5 },
                    pb::ScoreCount { score: 2, count: 7 },
                ],
                second_distribution: vec![
                    pb::ScoreCount { score: 1, count: 6 },
                    pb::ScoreCount { score: 2, count: 6 },
                ],
                scale_min: 1,
                matrix: vec![
                    pb::MatrixRow { counts: vec![4, 1] },
                    pb::MatrixRow { counts: vec![2, 5] },
                ],
                flags: vec!["too_few_pairs".into()],
                flag_reasons: vec!["12 paired reads; flags need 20".into()],
                drift_windows: vec![0.8, 0.7],
                drift_warning: false,
            }],
        }))
    }

    async fn export_school_scores(
        &self,
        request: Request<pb::ExportSchoolScoresRequest>,
    ) -> Answer<pb::CsvExport> {
        self.record("export_school_scores", &request)?;
        let r = request.into_inner();
        Ok(Response::new(pb::CsvExport {
            file_name: format!("scores-{}-{}.csv", r.school_id, r.academic_year),
            csv: "portfolio_id,final_score\r\np1,3\r\n".into(),
            rows: 1,
            excluded: 0,
        }))
    }

    async fn export_research_extract(
        &self,
        request: Request<pb::ExportResearchExtractRequest>,
    ) -> Answer<pb::CsvExport> {
        self.record("export_research_extract", &request)?;
        let year = request.into_inner().academic_year;
        Ok(Response::new(pb::CsvExport {
            file_name: format!("research-{year}.csv"),
            csv: "student,final_score\r\nx1,3\r\n".into(),
            rows: 1,
            excluded: 2,
        }))
    }
}
