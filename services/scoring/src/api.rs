//! gRPC ↔ domain, and who may do what.
//!
//! The tenant of every call is the verified token's; ids in requests are
//! looked up inside that tenant only, so another tenant's id is simply "not
//! found" (existence is checked before permission). Authorisation:
//!
//! - tenant admins (and Collegium services) act on everything;
//! - rubrics, anchor papers, qualification sets (without their agreed
//!   scores) and sessions are read by everyone in the tenant;
//! - rubrics, anchors, qualification sets and portfolios are managed by
//!   tenant admins; portfolios (with the student id) are read by admins and
//!   cluster leads;
//! - a cluster lead runs the sessions of *their* cluster: creates them, adds
//!   portfolios, assigns scorers, plans backreads, closes them, and reads
//!   their progress, assignments, results, score histories and statistics;
//! - a scorer takes qualification sets, reads their own eligibility and
//!   assignments, and submits and corrects their own reads — never seeing
//!   another reader's score;
//! - school score exports are for admins and a school's principal; research
//!   extracts for admins and researchers a research agreement covers (asked
//!   of membership), and every extract is logged there as a disclosure
//!   before it is returned;
//! - retention (`ApplyRetention`) is applied by tenant admins and
//!   Collegium's retention job (a service token). A folder it anonymised
//!   reads back with an empty `student_ref` and no pieces, is left out of
//!   research extracts and is not promoted.
//!
//! Live first and second reads are accepted only from an eligible scorer
//! ([`crate::domain::eligibility`]), checked again at every submission.

mod convert;
mod export;

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    sync::Arc,
};

use chrono::Utc;
use collegium_proto::{common::v1 as common, scoring::v1 as pb};
use platform::{
    auth::{Principal, Role},
    error::{Error, Result, Violations},
    fields::{id, ids, opt_id, opt_instant, opt_year, page, page_info, year},
    grpc::principal,
    privacy, retention,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use self::convert::*;
use crate::{
    domain::{
        self, Assignment, GroupBy, QualificationAttempt, ReadKind, Rubric, Session, SessionStatus,
        StatsFilter, assignment, eligibility, rubric, stats, student::MasterKey,
    },
    store::{AssignmentFilter, NewPortfolio, ScoringStore, Submission},
    upstream::Upstreams,
};

/// Most portfolios created in one call.
pub const MAX_PORTFOLIOS_PER_CALL: usize = 1_000;
/// Most scorers assigned in one call.
pub const MAX_SCORERS_PER_CALL: usize = 500;

/// The gRPC service over a store, the upstream services and the key that
/// seals student ids.
#[derive(Clone)]
pub struct ScoringApi {
    store: Arc<dyn ScoringStore>,
    upstream: Upstreams,
    key: MasterKey,
}

/// Runs a handler body and maps its error in the one place that does so.
async fn respond<T>(f: impl Future<Output = Result<T>>) -> Result<Response<T>, Status> {
    f.await.map(Response::new).map_err(Error::into_status)
}

/// The calling person; services act for no one.
fn me(p: &Principal, what: &str) -> Result<Uuid> {
    p.person()
        .map(|m| m.0)
        .ok_or_else(|| Error::forbidden(format!("only a person may {what}")))
}

/// The service name in data-subject answers.
const SERVICE: &str = "scoring";

fn may_run(p: &Principal, s: &Session) -> bool {
    p.leads_cluster(s.cluster_id)
}

fn require_run(p: &Principal, s: &Session) -> Result<()> {
    if may_run(p, s) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "requires the cluster_lead role for the session's cluster or tenant_admin",
        ))
    }
}

fn sees_students(p: &Principal) -> bool {
    p.is_tenant_admin() || p.has_role(Role::ClusterLead)
}

fn share(field: &str, v: Option<f64>, default: f64, v_: &mut Violations) -> f64 {
    match v {
        None => default,
        Some(x) if (0.0..=1.0).contains(&x) => x,
        Some(_) => {
            v_.add(field, "a share between 0 and 1, e.g. 0.2");
            default
        }
    }
}

/// The flag thresholds of a rubric: the exact-agreement target is the
/// qualification default for its scale length (90% / 80% / 70%).
fn thresholds(r: &Rubric) -> stats::Thresholds {
    stats::Thresholds::with_exact_target(rubric::default_qualification_threshold(
        r.score_points.len(),
    ))
}

impl ScoringApi {
    pub fn new(store: Arc<dyn ScoringStore>, upstream: Upstreams, key: MasterKey) -> Self {
        Self {
            store,
            upstream,
            key,
        }
    }

    async fn rubric(&self, p: &Principal, id: Uuid) -> Result<Rubric> {
        self.store
            .get_rubrics(p.tenant, &[id])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("rubric"))
    }

    async fn session(&self, p: &Principal, id: Uuid) -> Result<Session> {
        self.store
            .get_sessions(p.tenant, &[id])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("session"))
    }

    /// A session the caller runs: NOT_FOUND before FORBIDDEN.
    async fn run_session(&self, p: &Principal, id: Uuid) -> Result<Session> {
        let s = self.session(p, id).await?;
        require_run(p, &s)?;
        Ok(s)
    }

    async fn rubrics_out(&self, p: &Principal, rubrics: Vec<Rubric>) -> Result<Vec<pb::Rubric>> {
        let ids: Vec<Uuid> = rubrics.iter().map(|r| r.id).collect();
        let mut counts: HashMap<Uuid, Vec<(i32, u32)>> = HashMap::new();
        if !ids.is_empty() {
            for (r, point, n) in self.store.anchor_counts(p.tenant, &ids).await? {
                counts.entry(r).or_default().push((point, n));
            }
        }
        Ok(rubrics
            .into_iter()
            .map(|r| {
                let c = counts.remove(&r.id).unwrap_or_default();
                rubric_out(r, &c)
            })
            .collect())
    }

    fn portfolios_out(
        &self,
        p: &Principal,
        list: Vec<crate::store::StoredPortfolio>,
    ) -> Result<Vec<pb::Portfolio>> {
        let keys = self.key.tenant(p.tenant.0);
        let show = sees_students(p);
        list.into_iter()
            .map(|sp| {
                // An anonymised folder has no student id left: shown as "".
                let student = if show && !sp.is_anonymised() {
                    keys.decrypt(&sp.student_enc).map_err(Error::internal)?
                } else {
                    String::new()
                };
                Ok(portfolio_out(sp.portfolio, student))
            })
            .collect()
    }

    /// Eligibility of `scorer` for live reads in `session`.
    async fn eligibility(
        &self,
        p: &Principal,
        s: &Session,
        scorer: Uuid,
    ) -> Result<eligibility::Decision> {
        let trained = self.upstream.trained(p, scorer, s.academic_year).await?;
        let attempts = self
            .store
            .attempts(p.tenant, scorer, s.rubric_id, s.academic_year)
            .await?;
        Ok(eligibility::decide(
            s.academic_year,
            &eligibility::Evidence {
                trained,
                attempts: &attempts,
                calibration_since: s.calibration_since,
            },
        ))
    }

    async fn agreement(
        &self,
        p: &Principal,
        group_by: GroupBy,
        filter: &StatsFilter,
    ) -> Result<Vec<pb::AgreementRow>> {
        agreement_rows(self.store.as_ref(), p.tenant, group_by, filter).await
    }
}

/// Agreement statistics of a tenant's current paired reads, one row per
/// group and rubric: the store aggregates confusion-matrix cells in SQL,
/// [`stats`] computes everything else from them; by scorer, each scorer's
/// drift too. (Public for the benchmark, which times exactly this.)
pub async fn agreement_rows(
    store: &dyn ScoringStore,
    t: platform::auth::TenantId,
    group_by: GroupBy,
    filter: &StatsFilter,
) -> Result<Vec<pb::AgreementRow>> {
    let cells = store.agreement_cells(t, group_by, filter).await?;
    let mut rubric_ids: Vec<Uuid> = cells.iter().map(|c| c.1).collect();
    rubric_ids.sort();
    rubric_ids.dedup();
    let rubrics: HashMap<Uuid, Rubric> = store
        .get_rubrics(t, &rubric_ids)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let mut matrices: BTreeMap<(String, Uuid), stats::Matrix> = BTreeMap::new();
    for (key, rubric, a, b, n) in cells {
        let r = rubrics
            .get(&rubric)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("scores of unknown rubric {rubric}")))?;
        let m = matrices
            .entry((key, rubric))
            .or_insert_with(|| stats::Matrix::new(r.min(), r.max()));
        m.add(a, b, n).map_err(Error::internal)?;
    }
    let drifts: HashMap<String, stats::Drift> = if group_by == GroupBy::Scorer {
        store
            .exact_windows(t, filter, stats::DRIFT_WINDOW as u32)
            .await?
            .into_iter()
            .filter_map(|(scorer, windows)| {
                stats::drift_of_windows(
                    windows,
                    stats::DRIFT_MIN_WINDOWS,
                    stats::DRIFT_SLOPE_WARNING,
                )
                .map(|d| (scorer.to_string(), d))
            })
            .collect()
    } else {
        HashMap::new()
    };
    Ok(matrices
        .into_iter()
        .map(|((key, rubric), m)| {
            let t = thresholds(&rubrics[&rubric]);
            let a = stats::agreement(&m, &t, stats::MIN_PAIRS_FOR_FLAGS);
            let drift = drifts.get(&key);
            agreement_out(key.clone(), rubric, &a, &t, drift)
        })
        .collect())
}

#[tonic::async_trait]
impl pb::scoring_service_server::ScoringService for ScoringApi {
    // ---------------------------------------------------------------- rubrics

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_rubric(
        &self,
        req: Request<pb::CreateRubricRequest>,
    ) -> Result<Response<pb::Rubric>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let rubric = rubric_in(r);
            rubric.validate()?;
            let created = self
                .store
                .create_rubric(p.tenant, &p.actor(), rubric)
                .await?;
            Ok(rubric_out(created, &[]))
        })
        .await
    }

    async fn get_rubrics(
        &self,
        req: Request<pb::GetByIdsRequest>,
    ) -> Result<Response<pb::RubricList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let found = self
                .store
                .get_rubrics(p.tenant, &ids("ids", &r.ids)?)
                .await?;
            Ok(pb::RubricList {
                rubrics: self.rubrics_out(&p, found).await?,
            })
        })
        .await
    }

    async fn list_rubrics(
        &self,
        req: Request<pb::ListRubricsRequest>,
    ) -> Result<Response<pb::RubricPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let programme = Some(r.programme.trim()).filter(|s| !s.is_empty());
            let (list, next) = self
                .store
                .list_rubrics(p.tenant, programme, page(&r.page)?)
                .await?;
            Ok(pb::RubricPage {
                rubrics: self.rubrics_out(&p, list).await?,
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn add_anchor_paper(
        &self,
        req: Request<pb::AddAnchorPaperRequest>,
    ) -> Result<Response<pb::AnchorPaper>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let rubric_id = id("rubric_id", &r.rubric_id)?;
            let rubric = self.rubric(&p, rubric_id).await?;
            p.require_tenant_admin()?;
            let mut v = Violations::new();
            if !rubric.has_point(r.score_point) {
                v.add(
                    "score_point",
                    format!("{} is not {}", r.score_point, rubric.scale_description()),
                );
            }
            required(&mut v, "title", &r.title);
            required(&mut v, "work_ref", &r.work_ref);
            required(&mut v, "annotation", &r.annotation);
            v.finish()?;
            let a = self
                .store
                .add_anchor(
                    p.tenant,
                    &p.actor(),
                    domain::AnchorPaper {
                        id: Uuid::nil(),
                        rubric_id,
                        score_point: r.score_point,
                        title: r.title.trim().to_string(),
                        work_ref: r.work_ref.trim().to_string(),
                        annotation: r.annotation.trim().to_string(),
                    },
                )
                .await?;
            Ok(anchor_out(a))
        })
        .await
    }

    async fn list_anchor_papers(
        &self,
        req: Request<pb::RubricRef>,
    ) -> Result<Response<pb::AnchorPaperList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let rubric = self.rubric(&p, id("rubric_id", &r.rubric_id)?).await?;
            Ok(pb::AnchorPaperList {
                anchors: self
                    .store
                    .anchors(p.tenant, rubric.id)
                    .await?
                    .into_iter()
                    .map(anchor_out)
                    .collect(),
            })
        })
        .await
    }

    // ---------------------------------------------------------------- portfolios

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_portfolios(
        &self,
        req: Request<pb::CreatePortfoliosRequest>,
    ) -> Result<Response<pb::PortfolioList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            if r.portfolios.is_empty() || r.portfolios.len() > MAX_PORTFOLIOS_PER_CALL {
                return Err(Error::invalid(
                    "portfolios",
                    format!("between 1 and {MAX_PORTFOLIOS_PER_CALL} folders per call"),
                ));
            }
            let keys = self.key.tenant(p.tenant.0);
            let mut v = Violations::new();
            let mut new = Vec::with_capacity(r.portfolios.len());
            for (i, n) in r.portfolios.into_iter().enumerate() {
                let f = |name: &str| format!("portfolios[{i}].{name}");
                let student = n.student_ref.trim().to_string();
                if student.is_empty() || student.len() > 128 {
                    v.add(
                        f("student_ref"),
                        "a pseudonymous student id of 1 to 128 characters",
                    );
                }
                let school = id(&f("school_id"), &n.school_id);
                if school.is_err() {
                    v.add(f("school_id"), "not a valid id");
                }
                if !(0..=13).contains(&n.grade_level) {
                    v.add(f("grade_level"), "a grade from 0 (kindergarten) to 13");
                }
                if year("academic_year", n.academic_year).is_err() {
                    v.add(f("academic_year"), "a year such as 2026");
                }
                for (j, piece) in n.pieces.iter().enumerate() {
                    for (name, value) in [
                        ("genre", &piece.genre),
                        ("title", &piece.title),
                        ("work_ref", &piece.work_ref),
                    ] {
                        if value.trim().is_empty() {
                            v.add(
                                format!("portfolios[{i}].pieces[{j}].{name}"),
                                "must not be empty",
                            );
                        }
                    }
                }
                if let Ok(school) = school {
                    new.push(NewPortfolio {
                        student_index: keys.index(&student),
                        student_enc: keys.encrypt(&student),
                        portfolio: domain::Portfolio {
                            id: Uuid::now_v7(),
                            student_ref: String::new(),
                            school_id: school,
                            grade_level: n.grade_level,
                            academic_year: n.academic_year,
                            pieces: n.pieces.into_iter().map(piece_in).collect(),
                            previous_id: None,
                        },
                    });
                }
            }
            v.finish()?;
            // Schools must be the tenant's (another tenant's id is unknown here).
            let mut schools: Vec<Uuid> = new.iter().map(|n| n.portfolio.school_id).collect();
            schools.sort();
            schools.dedup();
            let known = self.upstream.organisations(&p, &schools).await?;
            let mut v = Violations::new();
            for (i, n) in new.iter().enumerate() {
                if !known.contains(&n.portfolio.school_id) {
                    v.add(format!("portfolios[{i}].school_id"), "no such school");
                }
            }
            v.finish()?;
            let created = self
                .store
                .create_portfolios(p.tenant, &p.actor(), new)
                .await?;
            Ok(pb::PortfolioList {
                portfolios: self.portfolios_out(&p, created)?,
            })
        })
        .await
    }

    async fn get_portfolios(
        &self,
        req: Request<pb::GetByIdsRequest>,
    ) -> Result<Response<pb::PortfolioList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let mut wanted = ids("ids", &r.ids)?;
            if !sees_students(&p) {
                // A reader gets the folders they have a read of (without the
                // student id); other folders are left out, as not found.
                let mine = self.assigned_portfolios(&p).await?;
                wanted.retain(|id| mine.contains(id));
            }
            let found = self.store.get_portfolios(p.tenant, &wanted).await?;
            Ok(pb::PortfolioList {
                portfolios: self.portfolios_out(&p, found)?,
            })
        })
        .await
    }

    async fn list_portfolios(
        &self,
        req: Request<pb::ListPortfoliosRequest>,
    ) -> Result<Response<pb::PortfolioPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let year = opt_year("academic_year", r.academic_year)?;
            let school = opt_id("school_id", &r.school_id)?;
            if !sees_students(&p) {
                return Err(Error::forbidden(
                    "portfolios are read by tenant admins and cluster leads; scorers read their assignments",
                ));
            }
            let (list, next) = self
                .store
                .list_portfolios(p.tenant, year, school, page(&r.page)?)
                .await?;
            Ok(pb::PortfolioPage {
                portfolios: self.portfolios_out(&p, list)?,
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn promote_portfolios(
        &self,
        req: Request<pb::PromotePortfoliosRequest>,
    ) -> Result<Response<pb::PromotionReport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let from = year("from_year", r.from_year)?;
            let final_grade = r.final_grade.unwrap_or(12);
            if !(0..=13).contains(&final_grade) {
                return Err(Error::invalid("final_grade", "a grade from 0 to 13"));
            }
            let rep = self
                .store
                .promote_portfolios(p.tenant, &p.actor(), from, final_grade)
                .await?;
            Ok(pb::PromotionReport {
                promoted: rep.promoted,
                already_promoted: rep.already_promoted,
                graduated: rep.graduated,
            })
        })
        .await
    }

    // ---------------------------------------------------------------- qualification

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_qualification_set(
        &self,
        req: Request<pb::CreateQualificationSetRequest>,
    ) -> Result<Response<pb::QualificationSet>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let rubric = self.rubric(&p, id("rubric_id", &r.rubric_id)?).await?;
            p.require_tenant_admin()?;
            let mut v = Violations::new();
            if year("academic_year", r.academic_year).is_err() {
                v.add("academic_year", "a year such as 2026");
            }
            let kind = set_kind_in(r.kind);
            if kind.is_none() {
                v.add("kind", "QUALIFYING or CALIBRATION");
            }
            required(&mut v, "name", &r.name);
            if r.papers.len() < 5 || r.papers.len() > 50 {
                v.add("papers", "a set has 5 to 50 pre-scored papers");
            }
            for (i, paper) in r.papers.iter().enumerate() {
                required(&mut v, &format!("papers[{i}].title"), &paper.title);
                required(&mut v, &format!("papers[{i}].work_ref"), &paper.work_ref);
                if !rubric.has_point(paper.true_score) {
                    v.add(
                        format!("papers[{i}].true_score"),
                        rubric.scale_description(),
                    );
                }
            }
            v.finish()?;
            let set = self
                .store
                .create_set(
                    p.tenant,
                    &p.actor(),
                    domain::QualificationSet {
                        id: Uuid::nil(),
                        rubric_id: rubric.id,
                        academic_year: r.academic_year,
                        kind: kind.expect("checked above"),
                        name: r.name.trim().to_string(),
                        papers: r
                            .papers
                            .into_iter()
                            .map(|paper| domain::PrescoredPaper {
                                id: Uuid::now_v7(),
                                title: paper.title.trim().to_string(),
                                work_ref: paper.work_ref.trim().to_string(),
                                true_score: paper.true_score,
                            })
                            .collect(),
                    },
                )
                .await?;
            Ok(set_out(set, true))
        })
        .await
    }

    async fn list_qualification_sets(
        &self,
        req: Request<pb::ListQualificationSetsRequest>,
    ) -> Result<Response<pb::QualificationSetList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let rubric = self.rubric(&p, id("rubric_id", &r.rubric_id)?).await?;
            let year = opt_year("academic_year", r.academic_year)?;
            let show = p.is_tenant_admin();
            Ok(pb::QualificationSetList {
                sets: self
                    .store
                    .list_sets(p.tenant, rubric.id, year)
                    .await?
                    .into_iter()
                    .map(|s| set_out(s, show))
                    .collect(),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn submit_qualification_attempt(
        &self,
        req: Request<pb::SubmitQualificationAttemptRequest>,
    ) -> Result<Response<pb::QualificationAttempt>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let set_id = id("set_id", &r.set_id)?;
            let set = self
                .store
                .get_set(p.tenant, set_id)
                .await?
                .ok_or_else(|| Error::not_found("qualification set"))?;
            let scorer = me(&p, "take a qualification set")?;
            let rubric = self.rubric(&p, set.rubric_id).await?;
            let mut given = Vec::with_capacity(r.scores.len());
            for (i, s) in r.scores.iter().enumerate() {
                given.push((id(&format!("scores[{i}].paper_id"), &s.paper_id)?, s.score));
            }
            let results = domain::mark_attempt(&set, &rubric, &given)?;
            let mut attempt = QualificationAttempt {
                id: Uuid::nil(),
                set_id: set.id,
                rubric_id: set.rubric_id,
                academic_year: set.academic_year,
                kind: set.kind,
                scorer_id: scorer,
                results,
                threshold: rubric.qualification_threshold,
                passed: false,
                submitted_at: Utc::now(),
            };
            attempt.passed = attempt.exact_share() + 1e-9 >= attempt.threshold;
            let stored = self
                .store
                .record_attempt(p.tenant, &p.actor(), attempt)
                .await?;
            Ok(attempt_out(stored))
        })
        .await
    }

    async fn get_eligibility(
        &self,
        req: Request<pb::GetEligibilityRequest>,
    ) -> Result<Response<pb::Eligibility>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let s = self.session(&p, id("session_id", &r.session_id)?).await?;
            let scorer = match opt_id("scorer_id", &r.scorer_id)? {
                Some(x) => x,
                None => me(&p, "ask for their own eligibility")?,
            };
            if Some(scorer) != p.person().map(|m| m.0) && !may_run(&p, &s) {
                return Err(Error::forbidden(
                    "a scorer's eligibility is seen by the scorer, the session's cluster lead and tenant admins",
                ));
            }
            let d = self.eligibility(&p, &s, scorer).await?;
            Ok(eligibility_out(scorer, d))
        })
        .await
    }

    // ---------------------------------------------------------------- sessions

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_session(
        &self,
        req: Request<pb::CreateSessionRequest>,
    ) -> Result<Response<pb::ScoringSession>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let mut v = Violations::new();
            let cluster = id("cluster_id", &r.cluster_id);
            let event = id("event_id", &r.event_id);
            let rubric = id("rubric_id", &r.rubric_id);
            for (field, res) in [
                ("cluster_id", &cluster),
                ("event_id", &event),
                ("rubric_id", &rubric),
            ] {
                if res.is_err() {
                    v.add(field, "not a valid id");
                }
            }
            if year("academic_year", r.academic_year).is_err() {
                v.add("academic_year", "a year such as 2026");
            }
            required(&mut v, "name", &r.name);
            let second = share(
                "second_read_share",
                r.second_read_share,
                domain::DEFAULT_SECOND_READ_SHARE,
                &mut v,
            );
            let backread = share(
                "backread_share",
                r.backread_share,
                domain::DEFAULT_BACKREAD_SHARE,
                &mut v,
            );
            let rule = match r.resolution_rule.trim() {
                "" => Some(domain::ResolutionRule::AdjacentAverage),
                s => domain::ResolutionRule::parse(s),
            };
            if rule.is_none() {
                v.add(
                    "resolution_rule",
                    "exact, adjacent_average or adjacent_higher",
                );
            }
            let since = opt_instant(
                "calibration_since",
                r.calibration_since.as_deref().unwrap_or(""),
            );
            if since.is_err() {
                v.add(
                    "calibration_since",
                    "not an RFC 3339 instant, e.g. 2026-10-14T15:00:00Z",
                );
            }
            let lead = opt_id("lead_id", &r.lead_id);
            if lead.is_err() {
                v.add("lead_id", "not a valid id");
            }
            v.finish()?;
            let (cluster, event, rubric) = (cluster?, event?, rubric?);
            p.require_cluster_lead(cluster)?;
            let rubric = self.rubric(&p, rubric).await?;
            let info = self
                .upstream
                .event(&p, event)
                .await?
                .ok_or_else(|| Error::invalid("event_id", "no such scheduled event"))?;
            let mut v = Violations::new();
            if !info.is_scoring_session {
                v.add("event_id", "the event is not a scoring session");
            }
            if info.cluster_id.is_some_and(|c| c != cluster) {
                v.add("event_id", "the event belongs to another cluster");
            }
            if info.academic_year != r.academic_year {
                v.add(
                    "academic_year",
                    format!("the event falls in academic year {}", info.academic_year),
                );
            }
            v.finish()?;
            if !self.upstream.cluster_exists(&p, cluster).await? {
                return Err(Error::invalid("cluster_id", "no such cluster"));
            }
            let lead = match lead? {
                Some(l) => {
                    if !self.upstream.schools(&p, &[l]).await?.contains_key(&l) {
                        return Err(Error::invalid("lead_id", "no such person"));
                    }
                    l
                }
                None => me(&p, "lead a session without naming its lead_id")?,
            };
            let created = self
                .store
                .create_session(
                    p.tenant,
                    &p.actor(),
                    Session {
                        id: Uuid::nil(),
                        event_id: event,
                        rubric_id: rubric.id,
                        cluster_id: cluster,
                        academic_year: r.academic_year,
                        name: r.name.trim().to_string(),
                        status: SessionStatus::Open,
                        second_read_share: second,
                        backread_share: backread,
                        allow_own_school: r.allow_own_school,
                        resolution_rule: rule.expect("checked above"),
                        calibration_since: since?,
                        lead_id: lead,
                        portfolios: 0,
                        created_at: Utc::now(),
                        closed_at: None,
                    },
                )
                .await?;
            Ok(session_out(created))
        })
        .await
    }

    async fn get_sessions(
        &self,
        req: Request<pb::GetByIdsRequest>,
    ) -> Result<Response<pb::SessionList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let found = self
                .store
                .get_sessions(p.tenant, &ids("ids", &r.ids)?)
                .await?;
            Ok(pb::SessionList {
                sessions: found.into_iter().map(session_out).collect(),
            })
        })
        .await
    }

    async fn list_sessions(
        &self,
        req: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::SessionPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let year = opt_year("academic_year", r.academic_year)?;
            let cluster = opt_id("cluster_id", &r.cluster_id)?;
            let (list, next) = self
                .store
                .list_sessions(p.tenant, year, cluster, page(&r.page)?)
                .await?;
            Ok(pb::SessionPage {
                sessions: list.into_iter().map(session_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn add_session_portfolios(
        &self,
        req: Request<pb::AddSessionPortfoliosRequest>,
    ) -> Result<Response<pb::ScoringSession>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let s = self
                .run_session(&p, id("session_id", &r.session_id)?)
                .await?;
            if r.portfolio_ids.is_empty() || r.portfolio_ids.len() > MAX_PORTFOLIOS_PER_CALL {
                return Err(Error::invalid(
                    "portfolio_ids",
                    format!("between 1 and {MAX_PORTFOLIOS_PER_CALL} ids per call"),
                ));
            }
            let wanted = r
                .portfolio_ids
                .iter()
                .enumerate()
                .map(|(i, v)| id(&format!("portfolio_ids[{i}]"), v))
                .collect::<Result<Vec<_>>>()?;
            let s = self
                .store
                .add_session_portfolios(p.tenant, &p.actor(), s.id, &wanted)
                .await?;
            Ok(session_out(s))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn assign_session(
        &self,
        req: Request<pb::AssignSessionRequest>,
    ) -> Result<Response<pb::AssignmentReport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let s = self
                .run_session(&p, id("session_id", &r.session_id)?)
                .await?;
            if s.status == SessionStatus::Closed {
                return Err(Error::FailedPrecondition(
                    "session_id: the scoring session is closed; it takes no more changes".into(),
                ));
            }
            if r.scorer_ids.is_empty() || r.scorer_ids.len() > MAX_SCORERS_PER_CALL {
                return Err(Error::invalid(
                    "scorer_ids",
                    format!("between 1 and {MAX_SCORERS_PER_CALL} scorers per call"),
                ));
            }
            let mut scorers = r
                .scorer_ids
                .iter()
                .enumerate()
                .map(|(i, v)| id(&format!("scorer_ids[{i}]"), v))
                .collect::<Result<Vec<_>>>()?;
            scorers.sort();
            scorers.dedup();
            let schools = self.upstream.schools(&p, &scorers).await?;
            if let Some((i, _)) =
                r.scorer_ids.iter().enumerate().find(|(_, v)| {
                    Uuid::parse_str(v.trim()).is_ok_and(|u| !schools.contains_key(&u))
                })
            {
                return Err(Error::invalid(format!("scorer_ids[{i}]"), "no such person"));
            }
            let mut refused = Vec::new();
            let mut eligible = Vec::new();
            for scorer in &scorers {
                let d = self.eligibility(&p, &s, *scorer).await?;
                if d.eligible {
                    eligible.push(*scorer);
                } else {
                    refused.push(eligibility_out(*scorer, d));
                }
            }
            let (unread, loads) = self.store.planning_state(p.tenant, s.id).await?;
            let loads: HashMap<Uuid, u32> = loads.into_iter().collect();
            let slots: Vec<assignment::ScorerSlot> = eligible
                .iter()
                .map(|sc| assignment::ScorerSlot {
                    scorer: *sc,
                    school: schools.get(sc).copied().flatten(),
                    load: loads.get(sc).copied().unwrap_or(0),
                })
                .collect();
            let portfolios: Vec<assignment::PortfolioSlot> = unread
                .iter()
                .map(|u| assignment::PortfolioSlot {
                    portfolio: u.portfolio_id,
                    school: u.school_id,
                })
                .collect();
            let plan = assignment::plan(
                &portfolios,
                &slots,
                &assignment::Options {
                    second_read_share: s.second_read_share,
                    allow_own_school: s.allow_own_school,
                    seed: s.id,
                },
            );
            let reads: Vec<Assignment> = plan
                .reads
                .iter()
                .map(|r| Assignment {
                    id: Uuid::now_v7(),
                    session_id: s.id,
                    portfolio_id: r.portfolio,
                    scorer_id: r.scorer,
                    kind: r.kind,
                    submitted: false,
                    reviews_score_id: None,
                })
                .collect();
            let assigned = if reads.is_empty() {
                0
            } else {
                self.store
                    .add_assignments(p.tenant, &p.actor(), s.id, reads)
                    .await?
            };
            Ok(pb::AssignmentReport {
                assigned,
                refused_scorers: refused,
                unassignable: plan
                    .unassignable
                    .into_iter()
                    .map(|u| pb::Unassignable {
                        portfolio_id: u.portfolio.to_string(),
                        kind: read_kind_out(u.kind) as i32,
                        reason: u.reason,
                    })
                    .collect(),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn plan_backreads(
        &self,
        req: Request<pb::SessionRef>,
    ) -> Result<Response<pb::AssignmentReport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let s = self
                .run_session(&p, id("session_id", &r.session_id)?)
                .await?;
            let progress = self.store.progress(p.tenant, s.id).await?;
            // Every submitted read of a scorer counts toward their quota; the
            // reads still to check come from those not backread yet.
            let mut chosen = Vec::new();
            for sc in &progress.scorers {
                let required = assignment::quota(s.backread_share, sc.submitted as usize);
                let need = required.saturating_sub(sc.backreads as usize);
                if need == 0 {
                    continue;
                }
                let mine: Vec<(Uuid, Uuid)> =
                    sc.not_backread.iter().map(|a| (sc.scorer_id, *a)).collect();
                let picked = assignment::backread_sample(&mine, 1.0, &HashMap::new(), s.id);
                chosen.extend(picked.into_iter().take(need));
            }
            let reads = self.store.get_assignments(p.tenant, &chosen).await?;
            let backreads: Vec<Assignment> = reads
                .into_iter()
                .map(|a| Assignment {
                    id: Uuid::now_v7(),
                    session_id: s.id,
                    portfolio_id: a.portfolio_id,
                    scorer_id: s.lead_id,
                    kind: ReadKind::Backread,
                    submitted: false,
                    reviews_score_id: Some(a.id),
                })
                .collect();
            let assigned = if backreads.is_empty() {
                0
            } else {
                self.store
                    .add_assignments(p.tenant, &p.actor(), s.id, backreads)
                    .await?
            };
            Ok(pb::AssignmentReport {
                assigned,
                refused_scorers: vec![],
                unassignable: vec![],
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn close_session(
        &self,
        req: Request<pb::SessionRef>,
    ) -> Result<Response<pb::ScoringSession>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let s = self
                .run_session(&p, id("session_id", &r.session_id)?)
                .await?;
            let rows = self
                .agreement(
                    &p,
                    GroupBy::Scorer,
                    &StatsFilter {
                        session_id: Some(s.id),
                        ..Default::default()
                    },
                )
                .await?;
            let flagged: Vec<(Uuid, Vec<String>)> = rows
                .into_iter()
                .filter(|r| {
                    r.drift_warning
                        || r.flags
                            .iter()
                            .any(|f| f != stats::Flag::TooFewPairs.as_str())
                })
                .filter_map(|r| {
                    let scorer = Uuid::parse_str(&r.key).ok()?;
                    let mut reasons: Vec<String> = r
                        .flags
                        .iter()
                        .zip(&r.flag_reasons)
                        .filter(|(f, _)| f.as_str() != stats::Flag::TooFewPairs.as_str())
                        .map(|(_, why)| why.clone())
                        .collect();
                    if r.drift_warning {
                        reasons.push("agreement is trending down over the scorer's reads".into());
                    }
                    Some((scorer, reasons))
                })
                .collect();
            let closed = self
                .store
                .close_session(p.tenant, &p.actor(), s.id, &flagged)
                .await?;
            Ok(session_out(closed))
        })
        .await
    }

    async fn get_session_progress(
        &self,
        req: Request<pb::SessionRef>,
    ) -> Result<Response<pb::SessionProgress>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let s = self
                .run_session(&p, id("session_id", &r.session_id)?)
                .await?;
            let pr = self.store.progress(p.tenant, s.id).await?;
            Ok(pb::SessionProgress {
                session_id: s.id.to_string(),
                portfolios: pr.portfolios,
                reads_assigned: pr.reads_assigned,
                reads_submitted: pr.reads_submitted,
                resolved: pr.resolved,
                awaiting_third_read: pr.awaiting_third_read,
                scorers: pr
                    .scorers
                    .into_iter()
                    .map(|sc| pb::ScorerProgress {
                        scorer_id: sc.scorer_id.to_string(),
                        assigned: sc.assigned,
                        submitted: sc.submitted,
                        backreads_required: assignment::quota(
                            s.backread_share,
                            sc.submitted as usize,
                        ) as u32,
                        backreads_done: sc.backreads,
                    })
                    .collect(),
            })
        })
        .await
    }

    // ---------------------------------------------------------------- reads

    async fn list_my_assignments(
        &self,
        req: Request<pb::ListMyAssignmentsRequest>,
    ) -> Result<Response<pb::AssignmentPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let scorer = me(&p, "have assignments")?;
            let filter = AssignmentFilter {
                session_id: opt_id("session_id", &r.session_id)?,
                scorer_id: Some(scorer),
                pending_only: r.pending_only,
            };
            let (list, next) = self
                .store
                .list_assignments(p.tenant, &filter, page(&r.page)?)
                .await?;
            Ok(pb::AssignmentPage {
                assignments: self.assignments_out(&p, list).await?,
                page: page_info(next),
            })
        })
        .await
    }

    async fn list_session_assignments(
        &self,
        req: Request<pb::ListSessionAssignmentsRequest>,
    ) -> Result<Response<pb::AssignmentPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let s = self
                .run_session(&p, id("session_id", &r.session_id)?)
                .await?;
            let filter = AssignmentFilter {
                session_id: Some(s.id),
                scorer_id: opt_id("scorer_id", &r.scorer_id)?,
                pending_only: false,
            };
            let (list, next) = self
                .store
                .list_assignments(p.tenant, &filter, page(&r.page)?)
                .await?;
            Ok(pb::AssignmentPage {
                assignments: self.assignments_out(&p, list).await?,
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn submit_score(
        &self,
        req: Request<pb::SubmitScoreRequest>,
    ) -> Result<Response<pb::Score>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let value = domain::ScoreValue {
                score: r.score,
                dimensions: r.dimensions.into_iter().map(|d| (d.key, d.score)).collect(),
                condition_code: r.condition_code.map(|c| c.trim().to_string()),
            };
            self.submit(&p, &r.assignment_id, value, None).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn correct_score(
        &self,
        req: Request<pb::CorrectScoreRequest>,
    ) -> Result<Response<pb::Score>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let reason = r.reason.trim().to_string();
            if reason.is_empty() {
                return Err(Error::invalid("reason", "say why the score is corrected"));
            }
            let value = domain::ScoreValue {
                score: r.score,
                dimensions: r.dimensions.into_iter().map(|d| (d.key, d.score)).collect(),
                condition_code: r.condition_code.map(|c| c.trim().to_string()),
            };
            self.submit(&p, &r.assignment_id, value, Some(reason)).await
        })
        .await
    }

    async fn get_score_history(
        &self,
        req: Request<pb::GetScoreHistoryRequest>,
    ) -> Result<Response<pb::ScoreHistory>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let s = self
                .run_session(&p, id("session_id", &r.session_id)?)
                .await?;
            let portfolio = id("portfolio_id", &r.portfolio_id)?;
            let (scores, result) = self.store.history(p.tenant, s.id, portfolio).await?;
            if result.is_none() {
                return Err(Error::not_found("portfolio in this session"));
            }
            Ok(pb::ScoreHistory {
                scores: scores.into_iter().map(score_out).collect(),
                result: result.map(result_out),
            })
        })
        .await
    }

    async fn list_results(
        &self,
        req: Request<pb::ListResultsRequest>,
    ) -> Result<Response<pb::ResultPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let s = self
                .run_session(&p, id("session_id", &r.session_id)?)
                .await?;
            let (list, next) = self
                .store
                .list_results(p.tenant, s.id, r.awaiting_third_read_only, page(&r.page)?)
                .await?;
            Ok(pb::ResultPage {
                results: list.into_iter().map(result_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    // ---------------------------------------------------------------- statistics

    async fn get_agreement_stats(
        &self,
        req: Request<pb::GetAgreementStatsRequest>,
    ) -> Result<Response<pb::AgreementReport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let group_by = group_by_in(r.group_by)
                .ok_or_else(|| Error::invalid("group_by", "SCORER, SESSION, CLUSTER, SCHOOL or YEAR"))?;
            let filter = StatsFilter {
                academic_year: opt_year("academic_year", r.academic_year)?,
                session_id: opt_id("session_id", &r.session_id)?,
                cluster_id: opt_id("cluster_id", &r.cluster_id)?,
            };
            if let Some(sid) = filter.session_id {
                let s = self.session(&p, sid).await?;
                require_run(&p, &s)?;
            } else if !p.is_tenant_admin() {
                // A cluster lead sees the statistics of the clusters they lead.
                match filter.cluster_id {
                    Some(c) if p.leads_cluster(c) => {}
                    _ => {
                        return Err(Error::forbidden(
                            "statistics across clusters are for tenant admins; cluster leads name their cluster_id or session_id",
                        ));
                    }
                }
            }
            Ok(pb::AgreementReport {
                rows: self.agreement(&p, group_by, &filter).await?,
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_school_scores(
        &self,
        req: Request<pb::ExportSchoolScoresRequest>,
    ) -> Result<Response<pb::CsvExport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let year = year("academic_year", r.academic_year)?;
            let mut school = opt_id("school_id", &r.school_id)?;
            if !p.is_tenant_admin() {
                if !p.has_role(Role::Principal) {
                    return Err(Error::forbidden(
                        "school score exports are for tenant admins and the school's principal",
                    ));
                }
                let me = me(&p, "export scores")?;
                let own = self
                    .upstream
                    .schools(&p, &[me])
                    .await?
                    .get(&me)
                    .copied()
                    .flatten();
                match (own, school) {
                    (Some(o), None) => school = Some(o),
                    (Some(o), Some(s)) if o == s => {}
                    _ => {
                        return Err(Error::forbidden(
                            "a principal exports the scores of their own school",
                        ));
                    }
                }
            }
            let rows = self.store.export_rows(p.tenant, year, school).await?;
            export::school_scores(&self.key.tenant(p.tenant.0), year, school, rows)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_research_extract(
        &self,
        req: Request<pb::ExportResearchExtractRequest>,
    ) -> Result<Response<pb::CsvExport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let year = year("academic_year", r.academic_year)?;
            if !(p.is_tenant_admin() || p.has_role(Role::Researcher)) {
                return Err(Error::forbidden(
                    "research extracts are for tenant admins and researchers",
                ));
            }
            // A researcher needs an agreement covering them for scores today;
            // a tenant admin's own extract is logged without one.
            let agreement = if p.is_tenant_admin() {
                None
            } else {
                Some(self.upstream.research_agreement(&p, "scores").await?)
            };
            let opted_out = self.upstream.research_opt_outs(&p).await?;
            let rows = self.store.export_rows(p.tenant, year, None).await?;
            let extract =
                export::research_extract(&self.key.tenant(p.tenant.0), year, rows, &opted_out)?;
            // Fails closed: an extract whose disclosure is not logged is not given.
            self.upstream
                .record_disclosure(
                    &p,
                    agreement,
                    "scores",
                    format!("scores, academic year {year}"),
                    extract.rows.into(),
                    extract.excluded.into(),
                )
                .await?;
            Ok(extract)
        })
        .await
    }

    async fn export_person_data(
        &self,
        req: Request<common::PersonDataRequest>,
    ) -> Result<Response<common::PersonData>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let t = p.tenant;
        respond(privacy::export(&p, &r, SERVICE, |person| async move {
            self.store.export_person(t, person).await
        }))
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn erase_person_data(
        &self,
        req: Request<common::PersonDataRequest>,
    ) -> Result<Response<common::ErasureReport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let (t, actor) = (p.tenant, p.actor());
        respond(privacy::erase(&p, &r, SERVICE, |person| async move {
            self.store.erase_person(t, &actor, person).await
        }))
        .await
    }

    // ---------------------------------------------------------------- retention

    /// Tenant admins and Collegium's retention job (a service token): the
    /// cutoffs are re-checked against each category's minimum period here,
    /// whoever sends them. What each category does is
    /// `ScoringStore::apply_retention`'s.
    #[tracing::instrument(skip_all, fields(tenant, dry_run))]
    async fn apply_retention(
        &self,
        req: Request<common::ApplyRetentionRequest>,
    ) -> Result<Response<common::RetentionReport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        tracing::Span::current().record("dry_run", r.dry_run);
        let (tenant, actor, dry_run) = (p.tenant, p.actor(), r.dry_run);
        respond(retention::answer(&p, &r, SERVICE, |cutoffs| async move {
            self.store
                .apply_retention(tenant, &actor, &cutoffs, dry_run)
                .await
        }))
        .await
    }
}

impl ScoringApi {
    /// The folders the calling person has (or had) a read of.
    async fn assigned_portfolios(&self, p: &Principal) -> Result<std::collections::HashSet<Uuid>> {
        let Some(me) = p.person().map(|m| m.0) else {
            return Ok(Default::default());
        };
        let filter = AssignmentFilter {
            session_id: None,
            scorer_id: Some(me),
            pending_only: false,
        };
        let mut out = std::collections::HashSet::new();
        let mut page = platform::page::Page::first(platform::page::MAX_PAGE_SIZE);
        loop {
            let (list, next) = self.store.list_assignments(p.tenant, &filter, page).await?;
            out.extend(list.into_iter().map(|a| a.portfolio_id));
            if next.is_empty() {
                return Ok(out);
            }
            page = platform::page::Page::new(platform::page::MAX_PAGE_SIZE, &next)?;
        }
    }

    async fn assignments_out(
        &self,
        p: &Principal,
        list: Vec<Assignment>,
    ) -> Result<Vec<pb::Assignment>> {
        let mut ids: Vec<Uuid> = list.iter().map(|a| a.portfolio_id).collect();
        ids.sort();
        ids.dedup();
        let folders: HashMap<Uuid, domain::Portfolio> = self
            .store
            .get_portfolios(p.tenant, &ids)
            .await?
            .into_iter()
            .map(|sp| (sp.portfolio.id, sp.portfolio))
            .collect();
        Ok(list
            .into_iter()
            .map(|a| {
                let folder = folders.get(&a.portfolio_id);
                assignment_out(a, folder)
            })
            .collect())
    }

    /// A submission or correction: the assignee only; live reads only from
    /// an eligible scorer; the value checked against the rubric first.
    async fn submit(
        &self,
        p: &Principal,
        assignment_id: &str,
        value: domain::ScoreValue,
        correction: Option<String>,
    ) -> Result<pb::Score> {
        let aid = id("assignment_id", assignment_id)?;
        let a = self
            .store
            .get_assignments(p.tenant, &[aid])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("assignment"))?;
        let scorer = me(p, "score")?;
        if a.scorer_id != scorer {
            return Err(Error::forbidden("the assignment is another reader's"));
        }
        let s = self.session(p, a.session_id).await?;
        let rubric = self.rubric(p, s.rubric_id).await?;
        rubric.check(&value)?;
        if matches!(a.kind, ReadKind::First | ReadKind::Second) {
            let d = self.eligibility(p, &s, scorer).await?;
            if !d.eligible {
                return Err(Error::FailedPrecondition(format!(
                    "assignment_id: you may not score live yet: {}",
                    d.reasons.join("; ")
                )));
            }
        }
        let done = self
            .store
            .submit(
                p.tenant,
                &p.actor(),
                Submission {
                    assignment_id: a.id,
                    scorer_id: scorer,
                    value,
                    correction,
                    at: Utc::now(),
                },
            )
            .await?;
        Ok(score_out(done.score))
    }
}

fn required(v: &mut Violations, field: &str, value: &str) {
    if value.trim().is_empty() {
        v.add(field, "must not be empty");
    }
}
