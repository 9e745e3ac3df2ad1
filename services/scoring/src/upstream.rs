//! Scoring's clients of scheduling (was a scorer trained this year? is the
//! session's event a scoring session?) and membership (scorers' schools,
//! research opt-outs, research agreements and the disclosure log).
//!
//! Every call forwards the *caller's* bearer token, so the other service
//! sees the same tenant and checks it again; scoring never names a tenant
//! itself (DESIGN.md §3). Upstream failures come back through
//! [`Error::from_status`], keeping the other service's field violations.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use collegium_proto::{common::v1 as common, membership::v1 as mpb, scheduling::v1 as spb};
use mpb::membership_service_client::MembershipServiceClient;
use platform::{
    auth::Principal,
    error::{Error, Result},
    grpc::ForwardCaller,
    page::MAX_PAGE_SIZE,
};
use spb::scheduling_service_client::SchedulingServiceClient;
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use uuid::Uuid;

/// How long a "trained" answer is reused. Attendance is only ever added in
/// practice, and a scoring week asks for the same scorers on every
/// submission; a "not trained" answer is never cached, so a scorer whose
/// attendance was just recorded can start at once.
pub const TRAINED_CACHE_TTL: Duration = Duration::from_secs(300);

fn upstream_id(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| Error::internal(anyhow::anyhow!("upstream sent id {s:?}")))
}

/// When each (tenant, person, academic year) was last answered "trained".
type TrainedCache = HashMap<(Uuid, Uuid, i32), Instant>;

/// A scheduled event as scoring needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInfo {
    pub id: Uuid,
    pub is_scoring_session: bool,
    pub cluster_id: Option<Uuid>,
    pub academic_year: i32,
}

/// Lazily connecting clients of scheduling and membership; cheap to clone.
#[derive(Clone, Debug)]
pub struct Upstreams {
    scheduling: Channel,
    membership: Channel,
    trained: Arc<Mutex<TrainedCache>>,
}

impl Upstreams {
    pub fn new(scheduling_url: &str, membership_url: &str) -> Result<Self> {
        Ok(Self {
            scheduling: platform::grpc::channel(scheduling_url)?,
            membership: platform::grpc::channel(membership_url)?,
            trained: Default::default(),
        })
    }

    fn scheduling(
        &self,
        caller: &Principal,
    ) -> Result<SchedulingServiceClient<InterceptedService<Channel, ForwardCaller>>> {
        Ok(SchedulingServiceClient::with_interceptor(
            self.scheduling.clone(),
            ForwardCaller::new(&caller.token)?,
        ))
    }

    fn membership(
        &self,
        caller: &Principal,
    ) -> Result<MembershipServiceClient<InterceptedService<Channel, ForwardCaller>>> {
        Ok(MembershipServiceClient::with_interceptor(
            self.membership.clone(),
            ForwardCaller::new(&caller.token)?,
        ))
    }

    /// Whether `person` attended a scoring training in `academic_year`.
    pub async fn trained(&self, caller: &Principal, person: Uuid, year: i32) -> Result<bool> {
        let key = (caller.tenant.0, person, year);
        if let Some(at) = self.trained.lock().expect("cache lock").get(&key)
            && at.elapsed() < TRAINED_CACHE_TTL
        {
            return Ok(true);
        }
        let status = self
            .scheduling(caller)?
            .get_training_status(spb::GetTrainingStatusRequest {
                person_id: person.to_string(),
                academic_year: year,
            })
            .await
            .map_err(Error::from_status)?
            .into_inner();
        let mut cache = self.trained.lock().expect("cache lock");
        if status.trained {
            cache.insert(key, Instant::now());
        } else {
            cache.remove(&key);
        }
        Ok(status.trained)
    }

    /// The scheduled event, if the caller's tenant has it (and may see it).
    pub async fn event(&self, caller: &Principal, id: Uuid) -> Result<Option<EventInfo>> {
        let found = self
            .scheduling(caller)?
            .get_events(spb::GetByIdsRequest {
                ids: vec![id.to_string()],
            })
            .await
            .map_err(Error::from_status)?
            .into_inner();
        found
            .events
            .into_iter()
            .next()
            .map(|e| {
                Ok(EventInfo {
                    id: upstream_id(&e.id)?,
                    is_scoring_session: e.kind == spb::EventKind::ScoringSession as i32,
                    cluster_id: e.cluster_id.as_deref().map(upstream_id).transpose()?,
                    academic_year: e.academic_year,
                })
            })
            .transpose()
    }

    /// The school (organisation) of each of `people` found in the tenant.
    pub async fn schools(
        &self,
        caller: &Principal,
        people: &[Uuid],
    ) -> Result<HashMap<Uuid, Option<Uuid>>> {
        let mut out = HashMap::new();
        for chunk in people.chunks(MAX_PAGE_SIZE as usize) {
            let found = self
                .membership(caller)?
                .get_people(mpb::GetByIdsRequest {
                    ids: chunk.iter().map(Uuid::to_string).collect(),
                })
                .await
                .map_err(Error::from_status)?
                .into_inner();
            for p in found.people {
                out.insert(
                    upstream_id(&p.id)?,
                    p.organisation_id.as_deref().map(upstream_id).transpose()?,
                );
            }
        }
        Ok(out)
    }

    /// Which of `ids` are organisations (schools, centres) of the tenant.
    pub async fn organisations(&self, caller: &Principal, ids: &[Uuid]) -> Result<HashSet<Uuid>> {
        let mut out = HashSet::new();
        for chunk in ids.chunks(MAX_PAGE_SIZE as usize) {
            let found = self
                .membership(caller)?
                .get_organisations(mpb::GetByIdsRequest {
                    ids: chunk.iter().map(Uuid::to_string).collect(),
                })
                .await
                .map_err(Error::from_status)?
                .into_inner();
            for o in found.organisations {
                out.insert(upstream_id(&o.id)?);
            }
        }
        Ok(out)
    }

    /// Whether `cluster` is a cluster of the tenant.
    pub async fn cluster_exists(&self, caller: &Principal, cluster: Uuid) -> Result<bool> {
        let found = self
            .membership(caller)?
            .get_clusters(mpb::GetByIdsRequest {
                ids: vec![cluster.to_string()],
            })
            .await
            .map_err(Error::from_status)?
            .into_inner();
        Ok(!found.clusters.is_empty())
    }

    /// The id of the research agreement covering the caller for `scope`
    /// today; FAILED_PRECONDITION (membership's reason) when none does.
    pub async fn research_agreement(&self, caller: &Principal, scope: &str) -> Result<String> {
        let agreement = self
            .membership(caller)?
            .check_research_access(mpb::CheckResearchAccessRequest {
                scope: scope.to_string(),
            })
            .await
            .map_err(Error::from_status)?
            .into_inner();
        Ok(agreement.id)
    }

    /// Logs an extract given to the caller in membership's disclosure log
    /// (under `agreement`; none for a tenant admin's own extract).
    pub async fn record_disclosure(
        &self,
        caller: &Principal,
        agreement: Option<String>,
        scope: &str,
        dataset: String,
        rows: u64,
        excluded: u64,
    ) -> Result<()> {
        self.membership(caller)?
            .record_disclosure(mpb::RecordDisclosureRequest {
                agreement_id: agreement,
                scope: scope.to_string(),
                dataset,
                rows,
                excluded,
            })
            .await
            .map_err(Error::from_status)?;
        Ok(())
    }

    /// Student refs with an active research opt-out in the tenant.
    pub async fn research_opt_outs(&self, caller: &Principal) -> Result<HashSet<String>> {
        let mut out = HashSet::new();
        let mut token = String::new();
        loop {
            let page = self
                .membership(caller)?
                .list_research_opt_outs(mpb::ListResearchOptOutsRequest {
                    page: Some(common::PageRequest {
                        page_size: MAX_PAGE_SIZE,
                        page_token: token,
                    }),
                    organisation_id: None,
                    include_withdrawn: false,
                })
                .await
                .map_err(Error::from_status)?
                .into_inner();
            out.extend(
                page.opt_outs
                    .into_iter()
                    .filter(|o| o.withdrawn_at.is_none())
                    .map(|o| o.student_ref.trim().to_string()),
            );
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                return Ok(out);
            }
        }
    }
}
