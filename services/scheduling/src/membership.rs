//! Scheduling's client of the membership service: the tenant's settings,
//! clusters and the people an audience names.
//!
//! Every call forwards the *caller's* bearer token, so membership sees the
//! same tenant and checks it again; scheduling never names a tenant itself
//! (DESIGN.md §3). Upstream failures come back through
//! [`Error::from_status`], keeping membership's field violations.

use std::collections::HashSet;

use chrono_tz::Tz;
use collegium_proto::{common::v1 as common, membership::v1 as pb};
use pb::membership_service_client::MembershipServiceClient;
use platform::{
    auth::{Principal, Role},
    error::{Error, Result},
    grpc::ForwardCaller,
    page::MAX_PAGE_SIZE,
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use uuid::Uuid;

type Client = MembershipServiceClient<InterceptedService<Channel, ForwardCaller>>;

/// The tenant settings scheduling needs: academic years and the default zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantCalendar {
    pub time_zone: Tz,
    pub academic_year_start_month: u32,
    pub academic_year_start_day: u32,
}

/// A cluster as scheduling sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub id: Uuid,
    pub name: String,
    pub lead_person_id: Option<Uuid>,
}

/// Who an invitation goes to, resolved to people at the time of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// People of the cluster's centres plus anyone holding a role in it.
    Cluster(Uuid),
    /// People of one centre or school.
    Organisation(Uuid),
    /// Holders of a role, tenant-wide or (with a cluster) in that cluster.
    Role { role: Role, cluster: Option<Uuid> },
    /// Named people.
    People(Vec<Uuid>),
}

/// A lazily connecting client of membership; cheap to clone.
#[derive(Clone, Debug)]
pub struct MembershipClient {
    channel: Channel,
}

impl MembershipClient {
    /// A client of the membership service at `url` (e.g. `http://membership:50051`).
    pub fn new(url: &str) -> Result<Self> {
        Ok(Self {
            channel: platform::grpc::channel(url)?,
        })
    }

    fn client(&self, caller: &Principal) -> Result<Client> {
        Ok(MembershipServiceClient::with_interceptor(
            self.channel.clone(),
            ForwardCaller::new(&caller.token)?,
        ))
    }

    /// The caller's tenant's zone and academic-year start.
    pub async fn tenant_calendar(&self, caller: &Principal) -> Result<TenantCalendar> {
        let tenant = self
            .client(caller)?
            .get_tenant(pb::GetTenantRequest {})
            .await
            .map_err(Error::from_status)?
            .into_inner();
        let settings = tenant.settings.unwrap_or_default();
        let time_zone = settings.time_zone.parse::<Tz>().map_err(|_| {
            Error::internal(anyhow::anyhow!(
                "tenant {} has an unknown time zone {:?}",
                tenant.id,
                settings.time_zone
            ))
        })?;
        Ok(TenantCalendar {
            time_zone,
            academic_year_start_month: settings.academic_year_start_month,
            academic_year_start_day: settings.academic_year_start_day,
        })
    }

    /// The clusters of the caller's tenant among `ids` (unknown ids are left out).
    pub async fn clusters(&self, caller: &Principal, ids: &[Uuid]) -> Result<Vec<ClusterInfo>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let found = self
            .client(caller)?
            .get_clusters(pb::GetByIdsRequest {
                ids: ids.iter().map(Uuid::to_string).collect(),
            })
            .await
            .map_err(Error::from_status)?
            .into_inner();
        found
            .clusters
            .into_iter()
            .map(|c| {
                Ok(ClusterInfo {
                    id: upstream_id(&c.id)?,
                    name: c.name,
                    lead_person_id: c.lead_person_id.as_deref().map(upstream_id).transpose()?,
                })
            })
            .collect()
    }

    /// One cluster of the caller's tenant, if it exists.
    pub async fn cluster(&self, caller: &Principal, id: Uuid) -> Result<Option<ClusterInfo>> {
        Ok(self.clusters(caller, &[id]).await?.pop())
    }

    /// The cluster named by an input field; unknown is bad input naming `field`.
    pub async fn require_cluster(
        &self,
        caller: &Principal,
        field: &str,
        id: Uuid,
    ) -> Result<ClusterInfo> {
        self.cluster(caller, id)
            .await?
            .ok_or_else(|| Error::invalid(field, "no such cluster"))
    }

    /// Teachers of a cluster (the people who score there).
    pub async fn cluster_teachers(&self, caller: &Principal, cluster: Uuid) -> Result<Vec<Uuid>> {
        self.list_people(
            caller,
            pb::ListPeopleRequest {
                cluster_id: Some(cluster.to_string()),
                role: Some(role_out(Role::Teacher) as i32),
                ..Default::default()
            },
        )
        .await
    }

    /// Every person of the audiences, each once, in first-seen order. Bad
    /// audiences are reported together, each naming `audiences[i]…`.
    pub async fn resolve(&self, caller: &Principal, audiences: &[Audience]) -> Result<Vec<Uuid>> {
        let mut violations = platform::error::Violations::new();
        let mut seen = HashSet::new();
        let mut people = Vec::new();
        for (i, audience) in audiences.iter().enumerate() {
            let found = match audience {
                Audience::Cluster(c) => {
                    if self.cluster(caller, *c).await?.is_none() {
                        violations.add(format!("audiences[{i}].cluster_id"), "no such cluster");
                        continue;
                    }
                    self.list_people(
                        caller,
                        pb::ListPeopleRequest {
                            cluster_id: Some(c.to_string()),
                            ..Default::default()
                        },
                    )
                    .await?
                }
                Audience::Organisation(o) => {
                    let known = self
                        .client(caller)?
                        .get_organisations(pb::GetByIdsRequest {
                            ids: vec![o.to_string()],
                        })
                        .await
                        .map_err(Error::from_status)?
                        .into_inner()
                        .organisations;
                    if known.is_empty() {
                        violations.add(
                            format!("audiences[{i}].organisation_id"),
                            "no such organisation",
                        );
                        continue;
                    }
                    self.list_people(
                        caller,
                        pb::ListPeopleRequest {
                            organisation_id: Some(o.to_string()),
                            ..Default::default()
                        },
                    )
                    .await?
                }
                Audience::Role { role, cluster } => {
                    if let Some(c) = cluster
                        && self.cluster(caller, *c).await?.is_none()
                    {
                        violations
                            .add(format!("audiences[{i}].role.cluster_id"), "no such cluster");
                        continue;
                    }
                    self.list_people(
                        caller,
                        pb::ListPeopleRequest {
                            cluster_id: cluster.map(|c| c.to_string()),
                            role: Some(role_out(*role) as i32),
                            ..Default::default()
                        },
                    )
                    .await?
                }
                Audience::People(ids) => {
                    let known = self.known_people(caller, ids).await?;
                    let mut ok = Vec::with_capacity(ids.len());
                    for (j, id) in ids.iter().enumerate() {
                        if known.contains(id) {
                            ok.push(*id);
                        } else {
                            violations.add(
                                format!("audiences[{i}].people.person_ids[{j}]"),
                                "no such person",
                            );
                        }
                    }
                    ok
                }
            };
            for person in found {
                if seen.insert(person) {
                    people.push(person);
                }
            }
        }
        violations.finish()?;
        Ok(people)
    }

    /// Which of `ids` are people of the caller's tenant.
    async fn known_people(&self, caller: &Principal, ids: &[Uuid]) -> Result<HashSet<Uuid>> {
        let mut known = HashSet::new();
        for chunk in ids.chunks(MAX_PAGE_SIZE as usize) {
            let found = self
                .client(caller)?
                .get_people(pb::GetByIdsRequest {
                    ids: chunk.iter().map(Uuid::to_string).collect(),
                })
                .await
                .map_err(Error::from_status)?
                .into_inner();
            for p in found.people {
                known.insert(upstream_id(&p.id)?);
            }
        }
        Ok(known)
    }

    /// Every page of a ListPeople query, as ids.
    async fn list_people(
        &self,
        caller: &Principal,
        mut request: pb::ListPeopleRequest,
    ) -> Result<Vec<Uuid>> {
        let mut client = self.client(caller)?;
        let mut people = Vec::new();
        let mut token = String::new();
        loop {
            request.page = Some(common::PageRequest {
                page_size: MAX_PAGE_SIZE,
                page_token: token,
            });
            let page = client
                .list_people(request.clone())
                .await
                .map_err(Error::from_status)?
                .into_inner();
            for p in page.people {
                people.push(upstream_id(&p.id)?);
            }
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                return Ok(people);
            }
        }
    }
}

/// An id membership sent us; a malformed one is membership's fault.
fn upstream_id(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s)
        .map_err(|_| Error::internal(anyhow::anyhow!("membership sent a malformed id {s:?}")))
}

/// Platform role → membership's proto role.
pub fn role_out(r: Role) -> pb::Role {
    match r {
        Role::TenantAdmin => pb::Role::TenantAdmin,
        Role::ClusterLead => pb::Role::ClusterLead,
        Role::Teacher => pb::Role::Teacher,
        Role::Mentor => pb::Role::Mentor,
        Role::NewTeacher => pb::Role::NewTeacher,
        Role::PanelMember => pb::Role::PanelMember,
        Role::Researcher => pb::Role::Researcher,
        Role::Observer => pb::Role::Observer,
        Role::BuildingCoordinator => pb::Role::BuildingCoordinator,
        Role::Principal => pb::Role::Principal,
    }
}
