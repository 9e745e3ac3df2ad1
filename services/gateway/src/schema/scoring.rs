//! The scoring service's part of the schema: rubrics and their anchor
//! papers, portfolios and their year-end promotion, qualification and
//! calibration sets, scorer eligibility, scoring sessions with their
//! assignments and progress, scores and their history, results, agreement
//! statistics and CSV exports.
//!
//! Every resolver calls scoring with the caller's own bearer token (the
//! [`ForwardCaller`] interceptor); the tenant is never an argument, it is in
//! the token, and the service verifies it again. Lists are Relay
//! connections over the service's page tokens ([`paging`](super::paging)),
//! and relations go through the per-request [`ScoringLoader`] (rubrics and
//! their anchor papers, portfolios, sessions), scheduling's loader (the
//! session's event) and membership's (people, schools, clusters).

mod enums;
mod inputs;
mod loaders;
mod types;

use async_graphql::{
    Context, ID, Object, Result,
    dataloader::{DataLoader, HashMapCache},
};
use collegium_proto::scoring::v1::{self as pb, scoring_service_client::ScoringServiceClient};
use platform::{auth::Principal, grpc::ForwardCaller};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use tracing::Instrument;

pub use enums::{AgreementGroupBy, QualificationSetKind, ReadKind, ScoringSessionStatus};
pub use inputs::*;
use loaders::{AnchorPapersKey, MAX_BATCH, PortfolioKey, RubricKey, ScoringLoader, SessionKey};
pub use types::*;

use super::{
    convert::{id_argument, nodes, reference, unary},
    paging::{Page, connection, page_request},
    unauthenticated,
};
use crate::error::graphql_error;

/// A scoring client that sends the caller's token on every call.
pub(crate) type Client = ScoringServiceClient<InterceptedService<Channel, ForwardCaller>>;

/// Scoring as one caller sees it for one request (or one WebSocket
/// connection): a client carrying their token and a loader of their own.
pub struct Scoring {
    client: Client,
    loader: DataLoader<ScoringLoader, HashMapCache>,
}

impl Scoring {
    /// `channel` is the shared connection; only the token differs per caller.
    pub fn for_caller(
        channel: &Channel,
        principal: &Principal,
        cache: bool,
    ) -> platform::Result<Self> {
        let client = ScoringServiceClient::with_interceptor(
            channel.clone(),
            ForwardCaller::new(&principal.token)?,
        );
        let loader = DataLoader::with_cache(
            ScoringLoader {
                client: client.clone(),
            },
            // The batch runs on its own task; keep it in the request's span
            // so its gRPC call carries the request's trace context.
            |batch| tokio::spawn(batch.in_current_span()),
            HashMapCache::default(),
        )
        .max_batch_size(MAX_BATCH);
        loader.enable_all_cache(cache);
        Ok(Self { client, loader })
    }

    fn client(&self) -> Client {
        self.client.clone()
    }

    /// The rubric with this id, if the caller's tenant has one.
    pub(crate) async fn rubric(&self, id: Option<&str>) -> Result<Option<Rubric>> {
        let Some(id) = id.and_then(reference) else {
            return Ok(None);
        };
        Ok(self.loader.load_one(RubricKey(id)).await?.map(Rubric))
    }

    /// The rubric's anchor papers (none for an id that is not a rubric's).
    pub(crate) async fn anchor_papers(&self, rubric_id: &str) -> Result<Vec<AnchorPaper>> {
        let Some(id) = reference(rubric_id) else {
            return Ok(Vec::new());
        };
        let anchors = self.loader.load_one(AnchorPapersKey(id)).await?;
        Ok(anchors
            .unwrap_or_default()
            .into_iter()
            .map(AnchorPaper)
            .collect())
    }

    pub(crate) async fn portfolio(&self, id: Option<&str>) -> Result<Option<Portfolio>> {
        let Some(id) = id.and_then(reference) else {
            return Ok(None);
        };
        Ok(self.loader.load_one(PortfolioKey(id)).await?.map(Portfolio))
    }

    pub(crate) async fn session(&self, id: Option<&str>) -> Result<Option<ScoringSession>> {
        let Some(id) = id.and_then(reference) else {
            return Ok(None);
        };
        Ok(self
            .loader
            .load_one(SessionKey(id))
            .await?
            .map(ScoringSession))
    }

    /// A mutation's answer is the newest state of the record: later fields
    /// of the same request that refer to it see that state, not an older one.
    async fn remember_rubric(&self, rubric: pb::Rubric) -> Rubric {
        if let Some(id) = reference(&rubric.id) {
            self.loader.feed_one(RubricKey(id), rubric.clone()).await;
        }
        Rubric(rubric)
    }

    async fn remember_portfolios(&self, portfolios: Vec<pb::Portfolio>) -> Vec<Portfolio> {
        let known: Vec<_> = portfolios
            .iter()
            .filter_map(|p| Some((PortfolioKey(reference(&p.id)?), p.clone())))
            .collect();
        self.loader.feed_many(known).await;
        portfolios.into_iter().map(Portfolio).collect()
    }

    async fn remember_session(&self, session: pb::ScoringSession) -> ScoringSession {
        if let Some(id) = reference(&session.id) {
            self.loader.feed_one(SessionKey(id), session.clone()).await;
        }
        ScoringSession(session)
    }
}

/// The scoring handle of this request.
pub(crate) fn scoring<'a>(ctx: &Context<'a>) -> Result<&'a Scoring> {
    ctx.data_opt::<Scoring>().ok_or_else(unauthenticated)
}

fn id_filter(id: Option<ID>) -> String {
    id.map(|id| id.0).unwrap_or_default()
}

#[derive(Default)]
pub struct ScoringQuery;

#[Object]
impl ScoringQuery {
    /// The tenant's rubrics.
    async fn rubrics(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Only rubrics of this programme.")] programme: Option<String>,
    ) -> Result<Page<Rubric>> {
        let s = scoring(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListRubricsRequest {
            page: Some(page_request(first, after)?),
            programme: programme.unwrap_or_default(),
        };
        let page = unary(s.client().list_rubrics(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.rubrics, |r| r.id.clone(), Rubric),
            page.page,
        ))
    }

    async fn rubric(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Rubric>> {
        let id = id_argument("id", &id)?;
        scoring(ctx)?.rubric(Some(&id.to_string())).await
    }

    /// Portfolios the caller may see (tenant admins; cluster leads read).
    async fn portfolios(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        academic_year: Option<i32>,
        school_id: Option<ID>,
    ) -> Result<Page<Portfolio>> {
        let s = scoring(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListPortfoliosRequest {
            page: Some(page_request(first, after)?),
            academic_year: academic_year.unwrap_or_default(),
            school_id: id_filter(school_id),
        };
        let page = unary(s.client().list_portfolios(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.portfolios, |p| p.id.clone(), Portfolio),
            page.page,
        ))
    }

    async fn portfolio(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Portfolio>> {
        let id = id_argument("id", &id)?;
        scoring(ctx)?.portfolio(Some(&id.to_string())).await
    }

    /// The rubric's qualification and calibration sets, of every academic
    /// year or one. Only tenant admins see the agreed scores.
    async fn qualification_sets(
        &self,
        ctx: &Context<'_>,
        rubric_id: ID,
        academic_year: Option<i32>,
    ) -> Result<Vec<QualificationSet>> {
        let s = scoring(ctx)?;
        let req = pb::ListQualificationSetsRequest {
            rubric_id: rubric_id.0,
            academic_year: academic_year.unwrap_or_default(),
        };
        let list = unary(s.client().list_qualification_sets(req)).await?;
        Ok(list.sets.into_iter().map(QualificationSet).collect())
    }

    /// Whether the scorer (by default the caller) may score in the session:
    /// trained this academic year, qualified, and calibrated when required.
    async fn eligibility(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        scorer_id: Option<ID>,
    ) -> Result<Eligibility> {
        let s = scoring(ctx)?;
        let req = pb::GetEligibilityRequest {
            session_id: session_id.0,
            scorer_id: id_filter(scorer_id),
        };
        Ok(Eligibility(unary(s.client().get_eligibility(req)).await?))
    }

    /// Scoring sessions the caller may see.
    async fn scoring_sessions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        academic_year: Option<i32>,
        cluster_id: Option<ID>,
    ) -> Result<Page<ScoringSession>> {
        let s = scoring(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListSessionsRequest {
            page: Some(page_request(first, after)?),
            academic_year: academic_year.unwrap_or_default(),
            cluster_id: id_filter(cluster_id),
        };
        let page = unary(s.client().list_sessions(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.sessions, |x| x.id.clone(), ScoringSession),
            page.page,
        ))
    }

    async fn scoring_session(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ScoringSession>> {
        let id = id_argument("id", &id)?;
        scoring(ctx)?.session(Some(&id.to_string())).await
    }

    /// The caller's reads, in every session or one.
    async fn my_assignments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        session_id: Option<ID>,
        #[graphql(default, desc = "Only reads not submitted yet.")] pending_only: bool,
    ) -> Result<Page<Assignment>> {
        let s = scoring(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListMyAssignmentsRequest {
            page: Some(page_request(first, after)?),
            session_id: id_filter(session_id),
            pending_only,
        };
        let page = unary(s.client().list_my_assignments(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.assignments, |a| a.id.clone(), Assignment),
            page.page,
        ))
    }

    /// Every read of one session, or one scorer's in it (the session's lead
    /// and tenant admins).
    async fn session_assignments(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        first: Option<i32>,
        after: Option<String>,
        scorer_id: Option<ID>,
    ) -> Result<Page<Assignment>> {
        let s = scoring(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListSessionAssignmentsRequest {
            page: Some(page_request(first, after)?),
            session_id: session_id.0,
            scorer_id: id_filter(scorer_id),
        };
        let page = unary(s.client().list_session_assignments(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.assignments, |a| a.id.clone(), Assignment),
            page.page,
        ))
    }

    /// Every version of every read of a portfolio in a session, oldest
    /// first, with the portfolio's result.
    async fn score_history(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        portfolio_id: ID,
    ) -> Result<ScoreHistory> {
        let s = scoring(ctx)?;
        let req = pb::GetScoreHistoryRequest {
            session_id: session_id.0,
            portfolio_id: portfolio_id.0,
        };
        Ok(ScoreHistory(
            unary(s.client().get_score_history(req)).await?,
        ))
    }

    /// The results of a session's portfolios.
    async fn results(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default, desc = "Only portfolios waiting for a third read.")]
        awaiting_third_read_only: bool,
    ) -> Result<Page<PortfolioResult>> {
        let s = scoring(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListResultsRequest {
            page: Some(page_request(first, after)?),
            session_id: session_id.0,
            awaiting_third_read_only,
        };
        let page = unary(s.client().list_results(req)).await?;
        Ok(connection(
            after_given,
            // One result per portfolio, and the list is of one session;
            // results carry no id of their own, so only `endCursor` (the
            // service's token) is sure to resume the list.
            nodes(page.results, |r| r.portfolio_id.clone(), PortfolioResult),
            page.page,
        ))
    }

    /// Inter-rater agreement (exact, adjacent, quadratic weighted kappa,
    /// standardised mean difference, flags, drift), one row per group, of
    /// one academic year, session or cluster.
    async fn agreement_stats(
        &self,
        ctx: &Context<'_>,
        group_by: AgreementGroupBy,
        academic_year: Option<i32>,
        session_id: Option<ID>,
        cluster_id: Option<ID>,
    ) -> Result<Vec<AgreementRow>> {
        let s = scoring(ctx)?;
        let req = pb::GetAgreementStatsRequest {
            group_by: group_by.to_proto() as i32,
            academic_year: academic_year.unwrap_or_default(),
            session_id: id_filter(session_id),
            cluster_id: id_filter(cluster_id),
        };
        let report = unary(s.client().get_agreement_stats(req)).await?;
        Ok(report.rows.into_iter().map(AgreementRow).collect())
    }

    /// Final scores of the academic year as CSV, of one school or (tenant
    /// admins, leaving `schoolId` out) of every school. A principal exports
    /// their own school's.
    async fn school_scores_csv(
        &self,
        ctx: &Context<'_>,
        academic_year: i32,
        school_id: Option<ID>,
    ) -> Result<ScoringExport> {
        let s = scoring(ctx)?;
        let req = pb::ExportSchoolScoresRequest {
            academic_year,
            school_id: id_filter(school_id),
        };
        Ok(unary(s.client().export_school_scores(req)).await?.into())
    }

    /// The academic year's scores for researchers as CSV: pseudonymous,
    /// without students whose families opted out of research.
    async fn research_extract_csv(
        &self,
        ctx: &Context<'_>,
        academic_year: i32,
    ) -> Result<ScoringExport> {
        let s = scoring(ctx)?;
        let req = pb::ExportResearchExtractRequest { academic_year };
        Ok(unary(s.client().export_research_extract(req)).await?.into())
    }
}

#[derive(Default)]
pub struct ScoringMutation;

#[Object]
impl ScoringMutation {
    /// A programme's rubric: its scale, dimensions and condition codes.
    async fn create_rubric(&self, ctx: &Context<'_>, input: CreateRubricInput) -> Result<Rubric> {
        let s = scoring(ctx)?;
        let rubric = unary(
            s.client()
                .create_rubric(pb::CreateRubricRequest::from(input)),
        )
        .await?;
        Ok(s.remember_rubric(rubric).await)
    }

    /// Adds a paper exemplifying one score point of the rubric.
    async fn add_anchor_paper(
        &self,
        ctx: &Context<'_>,
        input: AddAnchorPaperInput,
    ) -> Result<AnchorPaper> {
        let s = scoring(ctx)?;
        let anchor = unary(
            s.client()
                .add_anchor_paper(pb::AddAnchorPaperRequest::from(input)),
        )
        .await?;
        // The rubric's anchor counts and papers changed: later fields of
        // this request read them afresh.
        s.loader.clear::<RubricKey>();
        s.loader.clear::<AnchorPapersKey>();
        Ok(AnchorPaper(anchor))
    }

    /// Creates students' folders for an academic year, all or none.
    async fn create_portfolios(
        &self,
        ctx: &Context<'_>,
        input: CreatePortfoliosInput,
    ) -> Result<Vec<Portfolio>> {
        let s = scoring(ctx)?;
        let list = unary(
            s.client()
                .create_portfolios(pb::CreatePortfoliosRequest::from(input)),
        )
        .await?;
        Ok(s.remember_portfolios(list.portfolios).await)
    }

    /// Year-end: every folder of `fromYear` moves to the next year and
    /// grade, or graduates at the final grade. Running it again promotes
    /// nothing twice.
    async fn promote_portfolios(
        &self,
        ctx: &Context<'_>,
        input: PromotePortfoliosInput,
    ) -> Result<PromotionReport> {
        let s = scoring(ctx)?;
        let report = unary(
            s.client()
                .promote_portfolios(pb::PromotePortfoliosRequest::from(input)),
        )
        .await?;
        s.loader.clear::<PortfolioKey>();
        Ok(report.into())
    }

    /// A qualifying (or calibration) set of papers with agreed scores.
    async fn create_qualification_set(
        &self,
        ctx: &Context<'_>,
        input: CreateQualificationSetInput,
    ) -> Result<QualificationSet> {
        let s = scoring(ctx)?;
        Ok(QualificationSet(
            unary(
                s.client()
                    .create_qualification_set(pb::CreateQualificationSetRequest::from(input)),
            )
            .await?,
        ))
    }

    /// The caller's scores on a qualification set, marked against the
    /// agreed scores.
    async fn submit_qualification_attempt(
        &self,
        ctx: &Context<'_>,
        input: SubmitQualificationAttemptInput,
    ) -> Result<QualificationAttempt> {
        let s = scoring(ctx)?;
        Ok(QualificationAttempt(
            unary(
                s.client().submit_qualification_attempt(
                    pb::SubmitQualificationAttemptRequest::from(input),
                ),
            )
            .await?,
        ))
    }

    /// A session of the cluster on a rubric, held at a scheduled
    /// scoring-session event.
    async fn create_scoring_session(
        &self,
        ctx: &Context<'_>,
        input: CreateScoringSessionInput,
    ) -> Result<ScoringSession> {
        let s = scoring(ctx)?;
        let session = unary(
            s.client()
                .create_session(pb::CreateSessionRequest::from(input)),
        )
        .await?;
        Ok(s.remember_session(session).await)
    }

    /// Adds portfolios to an open session.
    async fn add_session_portfolios(
        &self,
        ctx: &Context<'_>,
        input: AddSessionPortfoliosInput,
    ) -> Result<ScoringSession> {
        let s = scoring(ctx)?;
        let session = unary(
            s.client()
                .add_session_portfolios(pb::AddSessionPortfoliosRequest::from(input)),
        )
        .await?;
        Ok(s.remember_session(session).await)
    }

    /// Plans first reads and blind second reads among the scorers, leaving
    /// out those not eligible (with their reasons).
    async fn assign_scoring_session(
        &self,
        ctx: &Context<'_>,
        input: AssignScoringSessionInput,
    ) -> Result<AssignmentReport> {
        let s = scoring(ctx)?;
        Ok(AssignmentReport(
            unary(
                s.client()
                    .assign_session(pb::AssignSessionRequest::from(input)),
            )
            .await?,
        ))
    }

    /// Plans backreads of each scorer's submitted reads.
    async fn plan_backreads(
        &self,
        ctx: &Context<'_>,
        input: PlanBackreadsInput,
    ) -> Result<AssignmentReport> {
        let s = scoring(ctx)?;
        Ok(AssignmentReport(
            unary(s.client().plan_backreads(pb::SessionRef::from(input))).await?,
        ))
    }

    /// Closes the session: no more reads are submitted.
    async fn close_scoring_session(
        &self,
        ctx: &Context<'_>,
        input: CloseScoringSessionInput,
    ) -> Result<ScoringSession> {
        let s = scoring(ctx)?;
        let session = unary(s.client().close_session(pb::SessionRef::from(input))).await?;
        Ok(s.remember_session(session).await)
    }

    /// The caller's read of an assigned portfolio.
    async fn submit_score(&self, ctx: &Context<'_>, input: SubmitScoreInput) -> Result<Score> {
        let s = scoring(ctx)?;
        let req = pb::SubmitScoreRequest::try_from(input).map_err(graphql_error)?;
        Ok(Score(unary(s.client().submit_score(req)).await?))
    }

    /// A new version of a submitted read, with a reason; the old version
    /// stays in the history.
    async fn correct_score(&self, ctx: &Context<'_>, input: CorrectScoreInput) -> Result<Score> {
        let s = scoring(ctx)?;
        let req = pb::CorrectScoreRequest::try_from(input).map_err(graphql_error)?;
        Ok(Score(unary(s.client().correct_score(req)).await?))
    }
}
