//! Notifications' clients of membership (people, e-mail addresses, zones,
//! the tenant's locale) and scheduling (who answered an event's invitation,
//! the event itself).
//!
//! An API call forwards the *caller's* bearer token, so the upstream checks
//! the same tenant and the same rights again. Background work (the event
//! consumer, the delivery and reminder workers) has no caller: it presents a
//! short-lived service token minted for the one tenant the work belongs to
//! ([`TokenSigner::service_token`]), never a token that spans tenants
//! (DESIGN.md §3). Upstream failures come back through
//! [`Error::from_status`]; the consumer turns them into a redelivery.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use collegium_proto::{common::v1 as common, membership::v1 as mpb, scheduling::v1 as spb};
use mpb::membership_service_client::MembershipServiceClient;
use platform::{
    auth::{Principal, Role, TenantId, TokenSigner},
    error::{Error, Result},
    grpc::ForwardCaller,
    page::MAX_PAGE_SIZE,
};
use spb::scheduling_service_client::SchedulingServiceClient;
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use uuid::Uuid;

use crate::domain::Recipient;

/// The name service tokens carry (`sub = "service:notifications"`).
pub const SERVICE_NAME: &str = "notifications";

/// The bearer token a call is made with: the caller's, or a service token
/// bound to one tenant. Cheap to clone.
#[derive(Clone)]
pub struct Credential {
    tenant: TenantId,
    token: Arc<str>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// The caller's own token, forwarded unchanged.
    pub fn caller(p: &Principal) -> Self {
        Self {
            tenant: p.tenant,
            token: p.token.clone(),
        }
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
}

/// What notifications needs of a tenant: its default zone and locale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantProfile {
    pub time_zone: Tz,
    /// BCP 47, e.g. "en-GB".
    pub locale: String,
}

/// A scheduled event as far as messages about it go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInfo {
    pub id: Uuid,
    /// Scheduling's kind in snake case, e.g. "network_meeting".
    pub kind: String,
    pub title: String,
    pub agenda: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: String,
    pub online_url: String,
    pub cluster_id: Option<Uuid>,
    pub status: spb::EventStatus,
}

/// A person's answer to an event's invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Participant {
    pub person_id: Uuid,
    pub status: spb::RsvpStatus,
}

/// Both upstreams and the service key. Cheap to clone.
#[derive(Clone)]
pub struct Upstream {
    pub membership: MembershipClient,
    pub scheduling: SchedulingClient,
    signer: TokenSigner,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").finish_non_exhaustive()
    }
}

impl Upstream {
    /// Lazily connecting clients of membership and scheduling at their gRPC
    /// URLs; `signer` mints the service tokens of background work.
    pub fn new(membership_url: &str, scheduling_url: &str, signer: TokenSigner) -> Result<Self> {
        Ok(Self {
            membership: MembershipClient::new(membership_url)?,
            scheduling: SchedulingClient::new(scheduling_url)?,
            signer,
        })
    }

    /// A fresh service token for work of tenant `t` (valid five minutes;
    /// minted per unit of work, so it never outlives what it is for).
    pub fn service(&self, t: TenantId) -> Credential {
        Credential {
            tenant: t,
            token: self.signer.service_token(SERVICE_NAME, t).into(),
        }
    }
}

fn forward(cred: &Credential) -> Result<ForwardCaller> {
    ForwardCaller::new(&cred.token)
}

/// An id an upstream sent us; a malformed one is the upstream's fault.
fn upstream_id(service: &str, s: &str) -> Result<Uuid> {
    Uuid::parse_str(s)
        .map_err(|_| Error::internal(anyhow::anyhow!("{service} sent a malformed id {s:?}")))
}

fn page_request(token: String) -> Option<common::PageRequest> {
    Some(common::PageRequest {
        page_size: MAX_PAGE_SIZE,
        page_token: token,
    })
}

// ------------------------------------------------------------------ membership

type MClient = MembershipServiceClient<InterceptedService<Channel, ForwardCaller>>;

/// A lazily connecting client of membership; cheap to clone.
#[derive(Clone, Debug)]
pub struct MembershipClient {
    channel: Channel,
}

impl MembershipClient {
    pub fn new(url: &str) -> Result<Self> {
        Ok(Self {
            channel: platform::grpc::channel(url)?,
        })
    }

    fn client(&self, cred: &Credential) -> Result<MClient> {
        Ok(MembershipServiceClient::with_interceptor(
            self.channel.clone(),
            forward(cred)?,
        ))
    }

    /// The tenant's zone and locale.
    pub async fn tenant(&self, cred: &Credential) -> Result<TenantProfile> {
        let tenant = self
            .client(cred)?
            .get_tenant(mpb::GetTenantRequest {})
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
        let locale = if settings.locale.trim().is_empty() {
            "en".to_string()
        } else {
            settings.locale
        };
        Ok(TenantProfile { time_zone, locale })
    }

    /// The active people among `ids` (unknown and inactive ones are left
    /// out), with their e-mail address where the credential may see it.
    pub async fn people(&self, cred: &Credential, ids: &[Uuid]) -> Result<Vec<Recipient>> {
        let mut out = Vec::with_capacity(ids.len());
        let mut client = self.client(cred)?;
        for chunk in ids.chunks(MAX_PAGE_SIZE as usize) {
            let found = client
                .get_people(mpb::GetByIdsRequest {
                    ids: chunk.iter().map(Uuid::to_string).collect(),
                })
                .await
                .map_err(Error::from_status)?
                .into_inner();
            for p in found.people.into_iter().filter(|p| p.active) {
                out.push(recipient(p)?);
            }
        }
        Ok(out)
    }

    /// Every active person of a cluster (its centres' people and anyone
    /// holding a role in it), optionally only holders of `role` there.
    pub async fn cluster_people(
        &self,
        cred: &Credential,
        cluster: Uuid,
        role: Option<Role>,
    ) -> Result<Vec<Recipient>> {
        let mut client = self.client(cred)?;
        let mut request = mpb::ListPeopleRequest {
            cluster_id: Some(cluster.to_string()),
            role: role.map(|r| role_out(r) as i32),
            ..Default::default()
        };
        let mut people = Vec::new();
        let mut token = String::new();
        loop {
            request.page = page_request(token);
            let page = client
                .list_people(request.clone())
                .await
                .map_err(Error::from_status)?
                .into_inner();
            for p in page.people.into_iter().filter(|p| p.active) {
                people.push(recipient(p)?);
            }
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                return Ok(people);
            }
        }
    }

    /// Whether the cluster exists in the credential's tenant.
    pub async fn cluster_exists(&self, cred: &Credential, cluster: Uuid) -> Result<bool> {
        let found = self
            .client(cred)?
            .get_clusters(mpb::GetByIdsRequest {
                ids: vec![cluster.to_string()],
            })
            .await
            .map_err(Error::from_status)?
            .into_inner();
        Ok(!found.clusters.is_empty())
    }
}

fn recipient(p: mpb::Person) -> Result<Recipient> {
    let name = format!("{} {}", p.given_name.trim(), p.family_name.trim())
        .trim()
        .to_string();
    Ok(Recipient {
        person_id: upstream_id("membership", &p.id)?,
        name,
        email: p
            .contact
            .map(|c| c.email.trim().to_string())
            .filter(|e| !e.is_empty()),
        time_zone: Some(p.time_zone).filter(|z| !z.trim().is_empty()),
    })
}

/// Platform role → membership's proto role.
pub fn role_out(r: Role) -> mpb::Role {
    match r {
        Role::TenantAdmin => mpb::Role::TenantAdmin,
        Role::ClusterLead => mpb::Role::ClusterLead,
        Role::Teacher => mpb::Role::Teacher,
        Role::Mentor => mpb::Role::Mentor,
        Role::NewTeacher => mpb::Role::NewTeacher,
        Role::PanelMember => mpb::Role::PanelMember,
        Role::Researcher => mpb::Role::Researcher,
        Role::Observer => mpb::Role::Observer,
        Role::BuildingCoordinator => mpb::Role::BuildingCoordinator,
        Role::Principal => mpb::Role::Principal,
    }
}

// ------------------------------------------------------------------ scheduling

type SClient = SchedulingServiceClient<InterceptedService<Channel, ForwardCaller>>;

/// A lazily connecting client of scheduling; cheap to clone.
#[derive(Clone, Debug)]
pub struct SchedulingClient {
    channel: Channel,
}

impl SchedulingClient {
    pub fn new(url: &str) -> Result<Self> {
        Ok(Self {
            channel: platform::grpc::channel(url)?,
        })
    }

    fn client(&self, cred: &Credential) -> Result<SClient> {
        Ok(SchedulingServiceClient::with_interceptor(
            self.channel.clone(),
            forward(cred)?,
        ))
    }

    /// The events among `ids` the credential may see (unknown ones left out).
    pub async fn events(&self, cred: &Credential, ids: &[Uuid]) -> Result<Vec<EventInfo>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let found = self
            .client(cred)?
            .get_events(spb::GetByIdsRequest {
                ids: ids.iter().map(Uuid::to_string).collect(),
            })
            .await
            .map_err(Error::from_status)?
            .into_inner();
        found.events.into_iter().map(event_info).collect()
    }

    /// One event, if it exists (and the credential may see it).
    pub async fn event(&self, cred: &Credential, id: Uuid) -> Result<Option<EventInfo>> {
        Ok(self.events(cred, &[id]).await?.pop())
    }

    /// Everyone who has an answer to the event (every page), optionally
    /// only those with `status`. An unknown event has no participants.
    pub async fn participants(
        &self,
        cred: &Credential,
        event: Uuid,
        status: Option<spb::RsvpStatus>,
    ) -> Result<Vec<Participant>> {
        let mut client = self.client(cred)?;
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let reply = client
                .list_rsvps(spb::ListRsvpsRequest {
                    page: page_request(token),
                    event_id: event.to_string(),
                    status: status.map(|s| s as i32),
                })
                .await;
            let page = match reply {
                Ok(r) => r.into_inner(),
                // Deleted or never visible: nobody to tell.
                Err(s) if s.code() == tonic::Code::NotFound => return Ok(vec![]),
                Err(s) => return Err(Error::from_status(s)),
            };
            for r in page.rsvps {
                out.push(Participant {
                    person_id: upstream_id("scheduling", &r.person_id)?,
                    status: spb::RsvpStatus::try_from(r.status)
                        .unwrap_or(spb::RsvpStatus::Unspecified),
                });
            }
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                return Ok(out);
            }
        }
    }
}

fn instant(field: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| Error::internal(anyhow::anyhow!("scheduling sent a malformed {field} {s:?}")))
}

fn event_info(e: spb::Event) -> Result<EventInfo> {
    Ok(EventInfo {
        id: upstream_id("scheduling", &e.id)?,
        starts_at: instant("starts_at", &e.starts_at)?,
        ends_at: instant("ends_at", &e.ends_at)?,
        cluster_id: e
            .cluster_id
            .as_deref()
            .map(|c| upstream_id("scheduling", c))
            .transpose()?,
        status: spb::EventStatus::try_from(e.status).unwrap_or(spb::EventStatus::Unspecified),
        kind: spb::EventKind::try_from(e.kind)
            .map(|k| {
                k.as_str_name()
                    .trim_start_matches("EVENT_KIND_")
                    .to_ascii_lowercase()
            })
            .unwrap_or_default(),
        title: e.title,
        agenda: e.agenda,
        time_zone: e.time_zone,
        online_url: e.online_url,
    })
}
