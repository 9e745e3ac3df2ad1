//! gRPC ↔ domain, and who may do what.
//!
//! The tenant of every call is the verified token's; ids in requests are
//! looked up inside that tenant only, so another tenant's id is simply "not
//! found". Authorisation is by role and relationship: tenant admins manage
//! the tenant; a cluster lead manages *their* cluster; people manage their own
//! consent; everyone in the tenant may read the directory, with contact details
//! hidden by the consent rule in `domain::contact`.

mod research;
mod retention;

use std::{collections::HashSet, str::FromStr, sync::Arc};

use collegium_proto::membership::v1 as pb;
use platform::{
    auth::{Principal, Role},
    error::{Error, Result},
    grpc::principal,
    page::Page,
    privacy,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::{self, contact::Viewer, validate},
    store::MembershipStore,
};

/// The name this service gives in its data-subject answers.
const SERVICE: &str = "membership";

/// The gRPC service over a store.
#[derive(Clone)]
pub struct MembershipApi {
    store: Arc<dyn MembershipStore>,
}

impl MembershipApi {
    pub fn new(store: Arc<dyn MembershipStore>) -> Self {
        Self { store }
    }

    /// What the caller may see of contact details.
    async fn viewer(&self, p: &Principal) -> Result<Viewer> {
        if p.is_tenant_admin() {
            return Ok(Viewer {
                person: None,
                organisation: None,
                sees_all: true,
            });
        }
        let me = p.person();
        let organisation = match me {
            Some(id) => self
                .store
                .get_people(p.tenant, &[id.0])
                .await?
                .first()
                .and_then(|p| p.organisation_id),
            None => None,
        };
        Ok(Viewer {
            person: me.map(|m| m.0),
            organisation,
            sees_all: false,
        })
    }

    async fn people_out(
        &self,
        p: &Principal,
        people: Vec<domain::Person>,
    ) -> Result<Vec<pb::Person>> {
        let viewer = self.viewer(p).await?;
        let consented = if viewer.sees_all {
            HashSet::new()
        } else {
            let ids: Vec<Uuid> = people.iter().map(|p| p.id).collect();
            self.store
                .consented(p.tenant, domain::SHARE_CONTACT_PURPOSE, &ids)
                .await?
        };
        Ok(people
            .into_iter()
            .map(|person| {
                let visible = domain::contact::may_see_person(
                    &viewer,
                    person.id,
                    person.organisation_id,
                    consented.contains(&person.id),
                );
                person_out(person, visible)
            })
            .collect())
    }

    async fn organisations_out(
        &self,
        p: &Principal,
        orgs: Vec<domain::Organisation>,
    ) -> Result<Vec<pb::Organisation>> {
        let viewer = self.viewer(p).await?;
        let consented = if viewer.sees_all {
            HashSet::new()
        } else {
            let ids: Vec<Uuid> = orgs.iter().map(|o| o.id).collect();
            self.store
                .consented(p.tenant, domain::SHARE_CONTACT_PURPOSE, &ids)
                .await?
        };
        Ok(orgs
            .into_iter()
            .map(|o| {
                let visible =
                    domain::contact::may_see_organisation(&viewer, o.id, consented.contains(&o.id));
                organisation_out(o, visible)
            })
            .collect())
    }
}

// ------------------------------------------------------------ conversions

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

use platform::fields::{id, ids, page, page_info};

fn opt_id(field: &str, value: &Option<String>) -> Result<Option<Uuid>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => id(field, v).map(Some),
    }
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn tenant_out(t: domain::Tenant) -> pb::Tenant {
    pb::Tenant {
        id: t.id.to_string(),
        slug: t.slug,
        name: t.name,
        kind: match t.kind {
            domain::TenantKind::District => pb::TenantKind::District,
            domain::TenantKind::AwardingBody => pb::TenantKind::AwardingBody,
            domain::TenantKind::ResearchPartnership => pb::TenantKind::ResearchPartnership,
        } as i32,
        settings: Some(pb::TenantSettings {
            time_zone: t.settings.time_zone,
            locale: t.settings.locale,
            academic_year_start_month: t.settings.academic_year_start_month,
            academic_year_start_day: t.settings.academic_year_start_day,
        }),
        created_at: ts(t.created_at),
    }
}

fn contact_out(c: domain::Contact) -> pb::ContactDetails {
    pb::ContactDetails {
        email: c.email.unwrap_or_default(),
        phone: c.phone.unwrap_or_default(),
        address: c.address.unwrap_or_default(),
    }
}

fn contact_in(c: pb::ContactDetails) -> domain::Contact {
    domain::Contact {
        email: non_empty(c.email),
        phone: non_empty(c.phone),
        address: non_empty(c.address),
    }
}

fn organisation_kind_in(k: i32) -> Result<domain::OrganisationKind> {
    match pb::OrganisationKind::try_from(k) {
        Ok(pb::OrganisationKind::School) => Ok(domain::OrganisationKind::School),
        Ok(pb::OrganisationKind::Centre) => Ok(domain::OrganisationKind::Centre),
        Ok(pb::OrganisationKind::DistrictOffice) => Ok(domain::OrganisationKind::DistrictOffice),
        Ok(pb::OrganisationKind::University) => Ok(domain::OrganisationKind::University),
        _ => Err(Error::invalid("kind", "choose an organisation kind")),
    }
}

fn organisation_out(o: domain::Organisation, contact_visible: bool) -> pb::Organisation {
    pb::Organisation {
        id: o.id.to_string(),
        name: o.name,
        kind: match o.kind {
            domain::OrganisationKind::School => pb::OrganisationKind::School,
            domain::OrganisationKind::Centre => pb::OrganisationKind::Centre,
            domain::OrganisationKind::DistrictOffice => pb::OrganisationKind::DistrictOffice,
            domain::OrganisationKind::University => pb::OrganisationKind::University,
        } as i32,
        external_id: o.external_id.unwrap_or_default(),
        contact: contact_visible.then(|| contact_out(o.contact)),
        contact_hidden: !contact_visible,
        created_at: ts(o.created_at),
    }
}

fn cluster_out(c: domain::Cluster) -> pb::Cluster {
    pb::Cluster {
        id: c.id.to_string(),
        name: c.name,
        description: c.description,
        lead_person_id: c.lead_person_id.map(|l| l.to_string()),
        centre_ids: c.centre_ids.iter().map(Uuid::to_string).collect(),
        created_at: ts(c.created_at),
    }
}

fn person_out(p: domain::Person, contact_visible: bool) -> pb::Person {
    pb::Person {
        id: p.id.to_string(),
        given_name: p.given_name,
        family_name: p.family_name,
        contact: contact_visible.then(|| contact_out(p.contact)),
        contact_hidden: !contact_visible,
        organisation_id: p.organisation_id.map(|o| o.to_string()),
        external_id: p.external_id.unwrap_or_default(),
        time_zone: p.time_zone.unwrap_or_default(),
        active: p.active,
        created_at: ts(p.created_at),
    }
}

/// Proto role ↔ platform role.
pub fn role_in(field: &str, r: i32) -> Result<Role> {
    let role = match pb::Role::try_from(r) {
        Ok(pb::Role::TenantAdmin) => Role::TenantAdmin,
        Ok(pb::Role::ClusterLead) => Role::ClusterLead,
        Ok(pb::Role::Teacher) => Role::Teacher,
        Ok(pb::Role::Mentor) => Role::Mentor,
        Ok(pb::Role::NewTeacher) => Role::NewTeacher,
        Ok(pb::Role::PanelMember) => Role::PanelMember,
        Ok(pb::Role::Researcher) => Role::Researcher,
        Ok(pb::Role::Observer) => Role::Observer,
        Ok(pb::Role::BuildingCoordinator) => Role::BuildingCoordinator,
        Ok(pb::Role::Principal) => Role::Principal,
        _ => return Err(Error::invalid(field, "choose a role")),
    };
    Ok(role)
}

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

fn grant_out(g: domain::RoleGrant) -> pb::RoleGrant {
    pb::RoleGrant {
        id: g.id.to_string(),
        person_id: g.person_id.to_string(),
        role: role_out(g.role) as i32,
        cluster_id: g.cluster_id.map(|c| c.to_string()),
        granted_at: ts(g.granted_at),
        revoked_at: g.revoked_at.map(ts),
    }
}

fn mentorship_out(m: domain::Mentorship) -> pb::Mentorship {
    pb::Mentorship {
        id: m.id.to_string(),
        mentor_id: m.mentor_id.to_string(),
        new_teacher_id: m.new_teacher_id.to_string(),
        starts_on: m.starts_on.to_string(),
        planned_end_on: m.planned_end_on.to_string(),
        ended_on: m.ended_on.map(|d| d.to_string()),
    }
}

fn constituency_in(c: i32) -> Result<domain::Constituency> {
    use domain::Constituency as C;
    match pb::Constituency::try_from(c) {
        Ok(pb::Constituency::Researcher) => Ok(C::Researcher),
        Ok(pb::Constituency::DistrictLeader) => Ok(C::DistrictLeader),
        Ok(pb::Constituency::BoardMember) => Ok(C::BoardMember),
        Ok(pb::Constituency::Family) => Ok(C::Family),
        Ok(pb::Constituency::Student) => Ok(C::Student),
        Ok(pb::Constituency::Union) => Ok(C::Union),
        Ok(pb::Constituency::Community) => Ok(C::Community),
        _ => Err(Error::invalid("constituency", "choose a constituency")),
    }
}

fn constituency_out(c: domain::Constituency) -> pb::Constituency {
    use domain::Constituency as C;
    match c {
        C::Researcher => pb::Constituency::Researcher,
        C::DistrictLeader => pb::Constituency::DistrictLeader,
        C::BoardMember => pb::Constituency::BoardMember,
        C::Family => pb::Constituency::Family,
        C::Student => pb::Constituency::Student,
        C::Union => pb::Constituency::Union,
        C::Community => pb::Constituency::Community,
    }
}

fn panel_out(p: domain::Panel) -> pb::Panel {
    pb::Panel {
        id: p.id.to_string(),
        name: p.name,
        purpose: p.purpose,
        members: p
            .members
            .into_iter()
            .map(|m| pb::PanelMember {
                person_id: m.person_id.to_string(),
                constituency: constituency_out(m.constituency) as i32,
            })
            .collect(),
        created_at: ts(p.created_at),
    }
}

fn subject_in(field: &str, s: Option<pb::ConsentSubject>) -> Result<domain::ConsentSubject> {
    match s.and_then(|s| s.subject) {
        Some(pb::consent_subject::Subject::PersonId(p)) => Ok(domain::ConsentSubject::Person(id(
            &format!("{field}.person_id"),
            &p,
        )?)),
        Some(pb::consent_subject::Subject::OrganisationId(o)) => Ok(
            domain::ConsentSubject::Organisation(id(&format!("{field}.organisation_id"), &o)?),
        ),
        None => Err(Error::invalid(field, "name a person or an organisation")),
    }
}

fn subject_out(s: domain::ConsentSubject) -> pb::ConsentSubject {
    pb::ConsentSubject {
        subject: Some(match s {
            domain::ConsentSubject::Person(p) => {
                pb::consent_subject::Subject::PersonId(p.to_string())
            }
            domain::ConsentSubject::Organisation(o) => {
                pb::consent_subject::Subject::OrganisationId(o.to_string())
            }
        }),
    }
}

fn consent_out(c: domain::ConsentRecord) -> pb::ConsentRecord {
    pb::ConsentRecord {
        id: c.id.to_string(),
        subject: Some(subject_out(c.subject)),
        purpose: c.purpose,
        purpose_version: c.purpose_version,
        recorded_by: c.recorded_by,
        by_proxy: c.by_proxy,
        remark: c.remark,
        given_at: ts(c.given_at),
        withdrawn_at: c.withdrawn_at.map(ts),
    }
}

fn opt_out_out(o: domain::ResearchOptOut) -> pb::ResearchOptOut {
    pb::ResearchOptOut {
        id: o.id.to_string(),
        student_ref: o.student_ref,
        organisation_id: o.organisation_id.to_string(),
        recorded_for: o.recorded_for,
        recorded_by: o.recorded_by,
        recorded_at: ts(o.recorded_at),
        withdrawn_at: o.withdrawn_at.map(ts),
    }
}

fn audit_out(a: domain::AuditRecord) -> pb::AuditRecord {
    let json = |v: Option<serde_json::Value>| v.map(|v| v.to_string()).unwrap_or_default();
    pb::AuditRecord {
        id: a.id.to_string(),
        actor: a.actor,
        action: a.action,
        target_kind: a.target_kind,
        target_id: a.target_id,
        at: ts(a.at),
        before_json: json(a.before),
        after_json: json(a.after),
    }
}

/// Runs a handler body and maps its error in the one place that does so.
async fn respond<T>(f: impl Future<Output = Result<T>>) -> Result<Response<T>, Status> {
    f.await.map(Response::new).map_err(Error::into_status)
}

/// Roles a cluster lead may grant inside their own cluster.
const LEAD_GRANTABLE: [Role; 4] = [
    Role::Teacher,
    Role::Observer,
    Role::BuildingCoordinator,
    Role::Principal,
];

#[tonic::async_trait]
impl pb::membership_service_server::MembershipService for MembershipApi {
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn who_am_i(
        &self,
        req: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let p = principal(&req)?;
        respond(async {
            let tenant = tenant_out(self.store.get_tenant(p.tenant).await?);
            let (person, grants) = match p.person() {
                Some(me) => {
                    let people = self.store.get_people(p.tenant, &[me.0]).await?;
                    let person = self.people_out(&p, people).await?.pop();
                    let (grants, _) = self
                        .store
                        .list_role_grants(
                            p.tenant,
                            &domain::RoleGrantFilter {
                                person_id: Some(me.0),
                                ..Default::default()
                            },
                            Page::first(platform::page::MAX_PAGE_SIZE),
                        )
                        .await?;
                    (person, grants.into_iter().map(grant_out).collect())
                }
                None => (None, vec![]),
            };
            Ok(pb::WhoAmIResponse {
                tenant: Some(tenant),
                person,
                grants,
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_tenant(
        &self,
        req: Request<pb::GetTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let p = principal(&req)?;
        respond(async { Ok(tenant_out(self.store.get_tenant(p.tenant).await?)) }).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_tenant_settings(
        &self,
        req: Request<pb::UpdateTenantSettingsRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let s = r
                .settings
                .ok_or_else(|| Error::invalid("settings", "required"))?;
            let settings = domain::TenantSettings {
                time_zone: s.time_zone,
                locale: s.locale,
                academic_year_start_month: s.academic_year_start_month,
                academic_year_start_day: s.academic_year_start_day,
            };
            Ok(tenant_out(
                self.store
                    .update_tenant_settings(p.tenant, &p.actor(), settings)
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_organisation(
        &self,
        req: Request<pb::CreateOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let new = domain::NewOrganisation {
                name: r.name,
                kind: organisation_kind_in(r.kind)?,
                external_id: non_empty(r.external_id),
                contact: r.contact.map(contact_in).unwrap_or_default(),
            };
            let o = self
                .store
                .create_organisation(p.tenant, &p.actor(), new)
                .await?;
            Ok(organisation_out(o, true))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_organisation(
        &self,
        req: Request<pb::UpdateOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let patch = domain::OrganisationPatch {
                name: r.name,
                external_id: r.external_id.and_then(non_empty),
                contact: r.contact.map(contact_in),
            };
            let o = self
                .store
                .update_organisation(p.tenant, &p.actor(), id("id", &r.id)?, patch)
                .await?;
            Ok(organisation_out(o, true))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_organisations(
        &self,
        req: Request<pb::GetByIdsRequest>,
    ) -> Result<Response<pb::OrganisationList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let orgs = self
                .store
                .get_organisations(p.tenant, &ids("ids", &r.ids)?)
                .await?;
            Ok(pb::OrganisationList {
                organisations: self.organisations_out(&p, orgs).await?,
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_organisations(
        &self,
        req: Request<pb::ListOrganisationsRequest>,
    ) -> Result<Response<pb::OrganisationPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let filter = domain::OrganisationFilter {
                name_contains: non_empty(r.name_contains),
            };
            let (orgs, next) = self
                .store
                .list_organisations(p.tenant, &filter, page(&r.page)?)
                .await?;
            Ok(pb::OrganisationPage {
                organisations: self.organisations_out(&p, orgs).await?,
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_cluster(
        &self,
        req: Request<pb::CreateClusterRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let new = domain::NewCluster {
                name: r.name,
                description: r.description,
                lead_person_id: opt_id("lead_person_id", &r.lead_person_id)?,
                centre_ids: ids("centre_ids", &r.centre_ids)?,
            };
            Ok(cluster_out(
                self.store.create_cluster(p.tenant, &p.actor(), new).await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_cluster(
        &self,
        req: Request<pb::UpdateClusterRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let cluster = id("id", &r.id)?;
            self.require_cluster_exists(&p, cluster).await?;
            p.require_cluster_lead(cluster)?;
            let lead = match &r.lead_person_id {
                None => None,
                Some(v) if v.trim().is_empty() => Some(None),
                Some(v) => Some(Some(id("lead_person_id", v)?)),
            };
            if lead.is_some() {
                // Naming the leader is the admin's decision, not the leader's own.
                p.require_tenant_admin()?;
            }
            let patch = domain::ClusterPatch {
                name: r.name,
                description: r.description,
                lead_person_id: lead,
            };
            Ok(cluster_out(
                self.store
                    .update_cluster(p.tenant, &p.actor(), cluster, patch)
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_clusters(
        &self,
        req: Request<pb::GetByIdsRequest>,
    ) -> Result<Response<pb::ClusterList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let clusters = self
                .store
                .get_clusters(p.tenant, &ids("ids", &r.ids)?)
                .await?;
            Ok(pb::ClusterList {
                clusters: clusters.into_iter().map(cluster_out).collect(),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_clusters(
        &self,
        req: Request<pb::ListClustersRequest>,
    ) -> Result<Response<pb::ClusterPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let filter = domain::ClusterFilter {
                organisation_id: opt_id("organisation_id", &r.organisation_id)?,
            };
            let (clusters, next) = self
                .store
                .list_clusters(p.tenant, &filter, page(&r.page)?)
                .await?;
            Ok(pb::ClusterPage {
                clusters: clusters.into_iter().map(cluster_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn add_cluster_centre(
        &self,
        req: Request<pb::ClusterCentreRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        self.cluster_centre(req, true).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn remove_cluster_centre(
        &self,
        req: Request<pb::ClusterCentreRequest>,
    ) -> Result<Response<pb::Cluster>, Status> {
        self.cluster_centre(req, false).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_person(
        &self,
        req: Request<pb::CreatePersonRequest>,
    ) -> Result<Response<pb::Person>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let new = domain::NewPerson {
                given_name: r.given_name,
                family_name: r.family_name,
                contact: r.contact.map(contact_in).unwrap_or_default(),
                organisation_id: opt_id("organisation_id", &r.organisation_id)?,
                external_id: non_empty(r.external_id),
                time_zone: non_empty(r.time_zone),
            };
            let person = self.store.create_person(p.tenant, &p.actor(), new).await?;
            Ok(person_out(person, true))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_person(
        &self,
        req: Request<pb::UpdatePersonRequest>,
    ) -> Result<Response<pb::Person>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let target = id("id", &r.id)?;
            let own = p.person().map(|me| me.0) == Some(target);
            // People keep their own name, contact and zone up to date; moving
            // someone between centres or deactivating them is the admin's.
            let admin_only = r.organisation_id.is_some() || r.active.is_some();
            if !(p.is_tenant_admin() || (own && !admin_only)) {
                if self.store.get_people(p.tenant, &[target]).await?.is_empty() {
                    return Err(Error::not_found("person"));
                }
                return Err(Error::forbidden(
                    "only tenant admins may change other people or their centre and status",
                ));
            }
            let patch = domain::PersonPatch {
                given_name: r.given_name,
                family_name: r.family_name,
                contact: r.contact.map(contact_in),
                organisation_id: match &r.organisation_id {
                    None => None,
                    Some(v) if v.trim().is_empty() => Some(None),
                    Some(v) => Some(Some(id("organisation_id", v)?)),
                },
                time_zone: r.time_zone.map(non_empty),
                active: r.active,
            };
            let person = self
                .store
                .update_person(p.tenant, &p.actor(), target, patch)
                .await?;
            Ok(person_out(person, true))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_people(
        &self,
        req: Request<pb::GetByIdsRequest>,
    ) -> Result<Response<pb::PersonList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let people = self
                .store
                .get_people(p.tenant, &ids("ids", &r.ids)?)
                .await?;
            Ok(pb::PersonList {
                people: self.people_out(&p, people).await?,
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_people(
        &self,
        req: Request<pb::ListPeopleRequest>,
    ) -> Result<Response<pb::PersonPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let filter = domain::PersonFilter {
                organisation_id: opt_id("organisation_id", &r.organisation_id)?,
                cluster_id: opt_id("cluster_id", &r.cluster_id)?,
                role: r.role.map(|role| role_in("role", role)).transpose()?,
                name_contains: non_empty(r.name_contains),
            };
            let (people, next) = self
                .store
                .list_people(p.tenant, &filter, page(&r.page)?)
                .await?;
            Ok(pb::PersonPage {
                people: self.people_out(&p, people).await?,
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn grant_role(
        &self,
        req: Request<pb::GrantRoleRequest>,
    ) -> Result<Response<pb::RoleGrant>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let role = role_in("role", r.role)?;
            let person = id("person_id", &r.person_id)?;
            let cluster = opt_id("cluster_id", &r.cluster_id)?;
            self.require_may_grant(&p, role, cluster).await?;
            Ok(grant_out(
                self.store
                    .grant_role(p.tenant, &p.actor(), person, role, cluster)
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn revoke_role(
        &self,
        req: Request<pb::RevokeRoleRequest>,
    ) -> Result<Response<pb::RoleGrant>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let grant_id = id("grant_id", &r.grant_id)?;
            let grant = self.store.get_role_grant(p.tenant, grant_id).await?;
            self.require_may_grant(&p, grant.role, grant.cluster_id)
                .await?;
            Ok(grant_out(
                self.store
                    .revoke_role(p.tenant, &p.actor(), grant_id)
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_role_grants(
        &self,
        req: Request<pb::ListRoleGrantsRequest>,
    ) -> Result<Response<pb::RoleGrantPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let filter = domain::RoleGrantFilter {
                person_id: opt_id("person_id", &r.person_id)?,
                cluster_id: opt_id("cluster_id", &r.cluster_id)?,
                include_revoked: r.include_revoked,
            };
            if filter.include_revoked && !p.is_tenant_admin() {
                return Err(Error::forbidden(
                    "the history of grants is for tenant admins",
                ));
            }
            let (grants, next) = self
                .store
                .list_role_grants(p.tenant, &filter, page(&r.page)?)
                .await?;
            Ok(pb::RoleGrantPage {
                grants: grants.into_iter().map(grant_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_mentorship(
        &self,
        req: Request<pb::CreateMentorshipRequest>,
    ) -> Result<Response<pb::Mentorship>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let mut v = platform::error::Violations::new();
            let mentor = id("mentor_id", &r.mentor_id);
            let new_teacher = id("new_teacher_id", &r.new_teacher_id);
            let starts = validate::date(&mut v, "starts_on", &r.starts_on);
            let planned = match &r.planned_end_on {
                Some(d) if !d.trim().is_empty() => validate::date(&mut v, "planned_end_on", d),
                _ => starts.map(validate::induction_end),
            };
            for e in [&mentor, &new_teacher] {
                if let Err(e) = e {
                    for f in e.violations() {
                        v.add(f.field.clone(), f.description.clone());
                    }
                }
            }
            v.finish()?;
            let (Ok(mentor_id), Ok(new_teacher_id), Some(starts_on), Some(planned_end_on)) =
                (mentor, new_teacher, starts, planned)
            else {
                return Err(Error::invalid("request", "incomplete"));
            };
            let new = domain::NewMentorship {
                mentor_id,
                new_teacher_id,
                starts_on,
                planned_end_on,
            };
            Ok(mentorship_out(
                self.store
                    .create_mentorship(p.tenant, &p.actor(), new)
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn end_mentorship(
        &self,
        req: Request<pb::EndMentorshipRequest>,
    ) -> Result<Response<pb::Mentorship>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let mut v = platform::error::Violations::new();
            let ended = validate::date(&mut v, "ended_on", &r.ended_on);
            v.finish()?;
            let ended = ended.ok_or_else(|| Error::invalid("ended_on", "required"))?;
            Ok(mentorship_out(
                self.store
                    .end_mentorship(p.tenant, &p.actor(), id("id", &r.id)?, ended)
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_mentorships(
        &self,
        req: Request<pb::ListMentorshipsRequest>,
    ) -> Result<Response<pb::MentorshipPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let mut person = opt_id("person_id", &r.person_id)?;
            if !p.is_tenant_admin() {
                // Mentorships are personal: others see only their own.
                let me = p.person().map(|m| m.0);
                if person.is_some() && person != me {
                    return Err(Error::forbidden("you may list only your own mentorships"));
                }
                person = me;
            }
            let (items, next) = self
                .store
                .list_mentorships(p.tenant, person, page(&r.page)?)
                .await?;
            Ok(pb::MentorshipPage {
                mentorships: items.into_iter().map(mentorship_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_panel(
        &self,
        req: Request<pb::CreatePanelRequest>,
    ) -> Result<Response<pb::Panel>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            Ok(panel_out(
                self.store
                    .create_panel(p.tenant, &p.actor(), &r.name, &r.purpose)
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn add_panel_member(
        &self,
        req: Request<pb::AddPanelMemberRequest>,
    ) -> Result<Response<pb::Panel>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let constituency = constituency_in(r.constituency)?;
            Ok(panel_out(
                self.store
                    .set_panel_member(
                        p.tenant,
                        &p.actor(),
                        id("panel_id", &r.panel_id)?,
                        id("person_id", &r.person_id)?,
                        Some(constituency),
                    )
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn remove_panel_member(
        &self,
        req: Request<pb::RemovePanelMemberRequest>,
    ) -> Result<Response<pb::Panel>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            Ok(panel_out(
                self.store
                    .set_panel_member(
                        p.tenant,
                        &p.actor(),
                        id("panel_id", &r.panel_id)?,
                        id("person_id", &r.person_id)?,
                        None,
                    )
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_panels(
        &self,
        req: Request<pb::ListPanelsRequest>,
    ) -> Result<Response<pb::PanelPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let (panels, next) = self.store.list_panels(p.tenant, page(&r.page)?).await?;
            Ok(pb::PanelPage {
                panels: panels.into_iter().map(panel_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn record_consent(
        &self,
        req: Request<pb::RecordConsentRequest>,
    ) -> Result<Response<pb::ConsentRecord>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let subject = subject_in("subject", r.subject)?;
            let own = matches!(subject, domain::ConsentSubject::Person(s) if Some(s) == p.person().map(|m| m.0));
            if !own {
                // Consent for someone else (or a centre) is recorded by an
                // admin by proxy, with a remark saying how it was given.
                p.require_tenant_admin()?;
            }
            let new = domain::NewConsent {
                subject,
                purpose: r.purpose.trim().to_string(),
                purpose_version: r.purpose_version,
                recorded_by: p.actor(),
                by_proxy: !own,
                remark: r.remark,
            };
            Ok(consent_out(self.store.record_consent(p.tenant, new).await?))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn withdraw_consent(
        &self,
        req: Request<pb::WithdrawConsentRequest>,
    ) -> Result<Response<pb::ConsentRecord>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let consent_id = id("id", &r.id)?;
            let c = self.store.get_consent(p.tenant, consent_id).await?;
            let own = matches!(c.subject, domain::ConsentSubject::Person(s) if Some(s) == p.person().map(|m| m.0));
            if !own {
                p.require_tenant_admin()?;
            }
            Ok(consent_out(
                self.store
                    .withdraw_consent(p.tenant, &p.actor(), consent_id, r.remark.trim())
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_consents(
        &self,
        req: Request<pb::ListConsentsRequest>,
    ) -> Result<Response<pb::ConsentPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let mut subject = match r.subject {
                Some(s) => Some(subject_in("subject", Some(s))?),
                None => None,
            };
            if !p.is_tenant_admin() {
                let me = p
                    .person()
                    .map(|m| domain::ConsentSubject::Person(m.0))
                    .ok_or_else(|| Error::forbidden("no person"))?;
                if subject.is_some() && subject != Some(me) {
                    return Err(Error::forbidden(
                        "you may list only your own consent records",
                    ));
                }
                subject = Some(me);
            }
            let filter = domain::ConsentFilter {
                subject,
                include_withdrawn: r.include_withdrawn,
            };
            let (records, next) = self
                .store
                .list_consents(p.tenant, &filter, page(&r.page)?)
                .await?;
            Ok(pb::ConsentPage {
                records: records.into_iter().map(consent_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn record_research_opt_out(
        &self,
        req: Request<pb::RecordResearchOptOutRequest>,
    ) -> Result<Response<pb::ResearchOptOut>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            self.require_opt_out_recorder(&p)?;
            let new = domain::NewResearchOptOut {
                student_ref: r.student_ref,
                organisation_id: id("organisation_id", &r.organisation_id)?,
                recorded_for: r.recorded_for,
            };
            Ok(opt_out_out(
                self.store.record_opt_out(p.tenant, &p.actor(), new).await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn withdraw_research_opt_out(
        &self,
        req: Request<pb::WithdrawResearchOptOutRequest>,
    ) -> Result<Response<pb::ResearchOptOut>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            self.require_opt_out_recorder(&p)?;
            Ok(opt_out_out(
                self.store
                    .withdraw_opt_out(p.tenant, &p.actor(), id("id", &r.id)?)
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_research_opt_outs(
        &self,
        req: Request<pb::ListResearchOptOutsRequest>,
    ) -> Result<Response<pb::ResearchOptOutPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            // Researchers need the list to leave these students out.
            if !(p.is_tenant_admin() || p.has_role(Role::Researcher) || p.has_role(Role::Principal))
            {
                return Err(Error::forbidden(
                    "requires tenant_admin, researcher or principal",
                ));
            }
            let filter = domain::OptOutFilter {
                organisation_id: opt_id("organisation_id", &r.organisation_id)?,
                include_withdrawn: r.include_withdrawn,
            };
            let (items, next) = self
                .store
                .list_opt_outs(p.tenant, &filter, page(&r.page)?)
                .await?;
            Ok(pb::ResearchOptOutPage {
                opt_outs: items.into_iter().map(opt_out_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_research_agreement(
        &self,
        req: Request<pb::CreateResearchAgreementRequest>,
    ) -> Result<Response<pb::ResearchAgreement>, Status> {
        let p = principal(&req)?;
        respond(self.create_research_agreement_in(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn revoke_research_agreement(
        &self,
        req: Request<pb::RevokeResearchAgreementRequest>,
    ) -> Result<Response<pb::ResearchAgreement>, Status> {
        let p = principal(&req)?;
        respond(self.revoke_research_agreement_in(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_research_agreements(
        &self,
        req: Request<pb::ListResearchAgreementsRequest>,
    ) -> Result<Response<pb::ResearchAgreementPage>, Status> {
        let p = principal(&req)?;
        respond(self.list_research_agreements_in(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn check_research_access(
        &self,
        req: Request<pb::CheckResearchAccessRequest>,
    ) -> Result<Response<pb::ResearchAgreement>, Status> {
        let p = principal(&req)?;
        respond(self.check_research_access_in(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn record_disclosure(
        &self,
        req: Request<pb::RecordDisclosureRequest>,
    ) -> Result<Response<pb::Disclosure>, Status> {
        let p = principal(&req)?;
        respond(self.record_disclosure_in(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_disclosures(
        &self,
        req: Request<pb::ListDisclosuresRequest>,
    ) -> Result<Response<pb::DisclosurePage>, Status> {
        let p = principal(&req)?;
        respond(self.list_disclosures_in(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_disclosures(
        &self,
        req: Request<pb::ExportDisclosuresRequest>,
    ) -> Result<Response<pb::DisclosureExport>, Status> {
        let p = principal(&req)?;
        respond(self.export_disclosures_in(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_audit_records(
        &self,
        req: Request<pb::ListAuditRecordsRequest>,
    ) -> Result<Response<pb::AuditRecordPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let target = r
                .target_id
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty());
            let (records, next) = self
                .store
                .list_audit(p.tenant, target, page(&r.page)?)
                .await?;
            Ok(pb::AuditRecordPage {
                records: records.into_iter().map(audit_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_person_data(
        &self,
        req: Request<collegium_proto::common::v1::PersonDataRequest>,
    ) -> Result<Response<collegium_proto::common::v1::PersonData>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let t = p.tenant;
        respond(privacy::export(&p, &r, SERVICE, |person| async move {
            self.store.export_person_data(t, person).await
        }))
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn erase_person_data(
        &self,
        req: Request<collegium_proto::common::v1::PersonDataRequest>,
    ) -> Result<Response<collegium_proto::common::v1::ErasureReport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let (t, actor) = (p.tenant, p.actor());
        respond(privacy::erase(&p, &r, SERVICE, |person| async move {
            self.store.erase_person_data(t, &actor, person).await
        }))
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_retention_policy(
        &self,
        req: Request<pb::GetRetentionPolicyRequest>,
    ) -> Result<Response<pb::RetentionPolicy>, Status> {
        let p = principal(&req)?;
        respond(self.get_retention_policy_in(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn set_retention_period(
        &self,
        req: Request<pb::SetRetentionPeriodRequest>,
    ) -> Result<Response<pb::RetentionPolicy>, Status> {
        let p = principal(&req)?;
        respond(self.set_retention_period_in(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_expired_people(
        &self,
        req: Request<pb::ListExpiredPeopleRequest>,
    ) -> Result<Response<pb::ExpiredPeoplePage>, Status> {
        let p = principal(&req)?;
        respond(self.list_expired_people_in(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn apply_retention(
        &self,
        req: Request<collegium_proto::common::v1::ApplyRetentionRequest>,
    ) -> Result<Response<collegium_proto::common::v1::RetentionReport>, Status> {
        let p = principal(&req)?;
        respond(self.apply_retention_in(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn record_retention_run(
        &self,
        req: Request<pb::RecordRetentionRunRequest>,
    ) -> Result<Response<pb::RetentionRun>, Status> {
        let p = principal(&req)?;
        respond(self.record_retention_run_in(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_retention_runs(
        &self,
        req: Request<pb::ListRetentionRunsRequest>,
    ) -> Result<Response<pb::RetentionRunPage>, Status> {
        let p = principal(&req)?;
        respond(self.list_retention_runs_in(&p, req.into_inner())).await
    }
}

impl MembershipApi {
    /// NOT_FOUND before FORBIDDEN: a lead of another tenant's cluster id must
    /// learn nothing, and a missing cluster is missing whoever asks.
    async fn require_cluster_exists(&self, p: &Principal, cluster: Uuid) -> Result<()> {
        if self
            .store
            .get_clusters(p.tenant, &[cluster])
            .await?
            .is_empty()
        {
            return Err(Error::not_found("cluster"));
        }
        Ok(())
    }

    async fn cluster_centre(
        &self,
        req: Request<pb::ClusterCentreRequest>,
        member: bool,
    ) -> Result<Response<pb::Cluster>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let cluster = id("cluster_id", &r.cluster_id)?;
            self.require_cluster_exists(&p, cluster).await?;
            p.require_cluster_lead(cluster)?;
            Ok(cluster_out(
                self.store
                    .set_cluster_centre(
                        p.tenant,
                        &p.actor(),
                        cluster,
                        id("organisation_id", &r.organisation_id)?,
                        member,
                    )
                    .await?,
            ))
        })
        .await
    }

    async fn require_may_grant(
        &self,
        p: &Principal,
        role: Role,
        cluster: Option<Uuid>,
    ) -> Result<()> {
        if p.is_tenant_admin() {
            return Ok(());
        }
        match cluster {
            Some(c) if LEAD_GRANTABLE.contains(&role) => {
                self.require_cluster_exists(p, c).await?;
                p.require_cluster_lead(c)
            }
            _ => Err(Error::forbidden(
                "tenant admins grant this role; cluster leads grant teacher, observer, \
                 building_coordinator and principal in their own cluster",
            )),
        }
    }

    fn require_opt_out_recorder(&self, p: &Principal) -> Result<()> {
        if p.is_tenant_admin() || p.has_role(Role::Principal) || p.has_role(Role::Teacher) {
            Ok(())
        } else {
            Err(Error::forbidden(
                "research opt-outs are recorded by school staff (tenant_admin, principal, teacher)",
            ))
        }
    }
}

impl FromStr for domain::TenantKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        domain::TenantKind::parse(s).ok_or_else(|| {
            Error::invalid(
                "kind",
                "one of district, awarding_body, research_partnership",
            )
        })
    }
}
