//! Membership's output types: thin wrappers over the protobuf messages that
//! expose them in the schema's spelling (camelCase, `ID`s, enums, typed
//! times) and resolve their relations through the request's DataLoader.
//!
//! Relations are nullable on purpose: the service answers a batch lookup
//! only with what the caller's tenant holds, and a dangling or hidden
//! reference should blank one field, not fail the whole page.

use async_graphql::{Context, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use collegium_proto::membership::v1::{self as pb, consent_subject::Subject};

use super::{
    enums::{Constituency, OrganisationKind, Role, TenantKind},
    membership,
};
use crate::schema::convert::{date, instant, non_empty, optional_instant};

/// Who is calling: their tenant, their person record (absent for service
/// tokens) and their current role grants.
pub struct WhoAmI(pub pb::WhoAmIResponse);

#[Object]
impl WhoAmI {
    async fn tenant(&self) -> Option<Tenant> {
        self.0.tenant.clone().map(Tenant)
    }

    async fn person(&self) -> Option<Person> {
        self.0.person.clone().map(Person)
    }

    async fn grants(&self) -> Vec<RoleGrant> {
        self.0.grants.iter().cloned().map(RoleGrant).collect()
    }
}

/// A district, awarding body or research partnership: everything the caller
/// sees belongs to their one tenant.
pub struct Tenant(pub pb::Tenant);

#[Object]
impl Tenant {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Short name used in URLs.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn kind(&self) -> Result<TenantKind> {
        TenantKind::from_service(self.0.kind)
    }

    async fn settings(&self) -> TenantSettings {
        let s = self.0.settings.clone().unwrap_or_default();
        TenantSettings {
            time_zone: s.time_zone,
            locale: s.locale,
            academic_year_start_month: s.academic_year_start_month as i32,
            academic_year_start_day: s.academic_year_start_day as i32,
        }
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        instant("tenant.created_at", &self.0.created_at)
    }
}

/// Defaults that apply across the tenant.
#[derive(SimpleObject)]
pub struct TenantSettings {
    /// IANA time zone, e.g. `America/Chicago`.
    time_zone: String,
    /// BCP 47 tag, e.g. `en-US`.
    locale: String,
    /// First day of the academic year: month 1–12 …
    academic_year_start_month: i32,
    /// … and day 1–31.
    academic_year_start_day: i32,
}

/// Contact details; any part may be blank.
#[derive(SimpleObject)]
pub struct ContactDetails {
    email: Option<String>,
    phone: Option<String>,
    address: Option<String>,
}

impl From<&pb::ContactDetails> for ContactDetails {
    fn from(c: &pb::ContactDetails) -> Self {
        Self {
            email: non_empty(&c.email),
            phone: non_empty(&c.phone),
            address: non_empty(&c.address),
        }
    }
}

/// A school, centre, district office or university.
pub struct Organisation(pub pb::Organisation);

#[Object]
impl Organisation {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn kind(&self) -> Result<OrganisationKind> {
        OrganisationKind::from_service(self.0.kind)
    }

    /// Identifier in the tenant's own systems (OneRoster sourcedId, centre number).
    async fn external_id(&self) -> Option<String> {
        non_empty(&self.0.external_id)
    }

    /// Null when the caller may not see it (see `contactHidden`).
    async fn contact(&self) -> Option<ContactDetails> {
        self.0.contact.as_ref().map(ContactDetails::from)
    }

    /// True when contact details exist but are withheld until consent is on record.
    async fn contact_hidden(&self) -> bool {
        self.0.contact_hidden
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        instant("organisation.created_at", &self.0.created_at)
    }
}

/// A network of centres or schools with its leader or coordinator.
pub struct Cluster(pub pb::Cluster);

#[Object]
impl Cluster {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn lead_person_id(&self) -> Option<ID> {
        self.0.lead_person_id.clone().map(ID)
    }

    /// The cluster leader (district programmes) or coordinator (awarding bodies).
    async fn lead(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?
            .person(self.0.lead_person_id.as_deref())
            .await
    }

    async fn centre_ids(&self) -> Vec<ID> {
        self.0.centre_ids.iter().cloned().map(ID).collect()
    }

    /// The member centres or schools.
    async fn centres(&self, ctx: &Context<'_>) -> Result<Vec<Organisation>> {
        membership(ctx)?.organisations(&self.0.centre_ids).await
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        instant("cluster.created_at", &self.0.created_at)
    }
}

/// A teacher, leader, coordinator, panel member, researcher, …
pub struct Person(pub pb::Person);

#[Object]
impl Person {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn given_name(&self) -> &str {
        &self.0.given_name
    }

    async fn family_name(&self) -> &str {
        &self.0.family_name
    }

    /// Null when the caller may not see it (see `contactHidden`).
    async fn contact(&self) -> Option<ContactDetails> {
        self.0.contact.as_ref().map(ContactDetails::from)
    }

    /// True when contact details exist but are withheld until consent is on record.
    async fn contact_hidden(&self) -> bool {
        self.0.contact_hidden
    }

    async fn organisation_id(&self) -> Option<ID> {
        self.0.organisation_id.clone().map(ID)
    }

    /// The school or centre the person belongs to.
    async fn organisation(&self, ctx: &Context<'_>) -> Result<Option<Organisation>> {
        membership(ctx)?
            .organisation(self.0.organisation_id.as_deref())
            .await
    }

    async fn external_id(&self) -> Option<String> {
        non_empty(&self.0.external_id)
    }

    /// IANA zone; null means the tenant's zone.
    async fn time_zone(&self) -> Option<String> {
        non_empty(&self.0.time_zone)
    }

    async fn active(&self) -> bool {
        self.0.active
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        instant("person.created_at", &self.0.created_at)
    }
}

/// A role held by a person, tenant-wide or in one cluster.
pub struct RoleGrant(pub pb::RoleGrant);

#[Object]
impl RoleGrant {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn role(&self) -> Result<Role> {
        Role::from_service(self.0.role)
    }

    async fn person_id(&self) -> ID {
        ID(self.0.person_id.clone())
    }

    async fn person(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.person_id)).await
    }

    /// Null for a tenant-wide grant.
    async fn cluster_id(&self) -> Option<ID> {
        self.0.cluster_id.clone().map(ID)
    }

    async fn cluster(&self, ctx: &Context<'_>) -> Result<Option<Cluster>> {
        membership(ctx)?.cluster(self.0.cluster_id.as_deref()).await
    }

    async fn granted_at(&self) -> Result<DateTime<Utc>> {
        instant("role_grant.granted_at", &self.0.granted_at)
    }

    async fn revoked_at(&self) -> Result<Option<DateTime<Utc>>> {
        optional_instant("role_grant.revoked_at", self.0.revoked_at.as_ref())
    }
}

/// A master teacher mentoring a new teacher through induction.
pub struct Mentorship(pub pb::Mentorship);

#[Object]
impl Mentorship {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn mentor_id(&self) -> ID {
        ID(self.0.mentor_id.clone())
    }

    async fn mentor(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.mentor_id)).await
    }

    async fn new_teacher_id(&self) -> ID {
        ID(self.0.new_teacher_id.clone())
    }

    async fn new_teacher(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.new_teacher_id)).await
    }

    async fn starts_on(&self) -> Result<NaiveDate> {
        date("mentorship.starts_on", &self.0.starts_on)
    }

    async fn planned_end_on(&self) -> Result<NaiveDate> {
        date("mentorship.planned_end_on", &self.0.planned_end_on)
    }

    async fn ended_on(&self) -> Result<Option<NaiveDate>> {
        self.0
            .ended_on
            .as_deref()
            .filter(|d| !d.is_empty())
            .map(|d| date("mentorship.ended_on", d))
            .transpose()
    }
}

/// A standing advisory panel.
pub struct Panel(pub pb::Panel);

#[Object]
impl Panel {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn purpose(&self) -> &str {
        &self.0.purpose
    }

    async fn members(&self) -> Vec<PanelMember> {
        self.0.members.iter().cloned().map(PanelMember).collect()
    }

    async fn created_at(&self) -> Result<DateTime<Utc>> {
        instant("panel.created_at", &self.0.created_at)
    }
}

/// A person on a panel and whom they speak for.
pub struct PanelMember(pub pb::PanelMember);

#[Object]
impl PanelMember {
    async fn person_id(&self) -> ID {
        ID(self.0.person_id.clone())
    }

    async fn person(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.person_id)).await
    }

    async fn constituency(&self) -> Result<Constituency> {
        Constituency::from_service(self.0.constituency)
    }
}

/// Consent given by a person or an organisation for one purpose; versioned
/// and withdrawable, possibly recorded by someone else on their behalf.
pub struct ConsentRecord(pub pb::ConsentRecord);

impl ConsentRecord {
    fn subject(&self) -> Option<&Subject> {
        self.0.subject.as_ref().and_then(|s| s.subject.as_ref())
    }
}

#[Object]
impl ConsentRecord {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Set when a person gave the consent.
    async fn person_id(&self) -> Option<ID> {
        match self.subject() {
            Some(Subject::PersonId(id)) => Some(ID(id.clone())),
            _ => None,
        }
    }

    async fn person(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        match self.subject() {
            Some(Subject::PersonId(id)) => membership(ctx)?.person(Some(id)).await,
            _ => Ok(None),
        }
    }

    /// Set when an organisation (a centre) gave the consent.
    async fn organisation_id(&self) -> Option<ID> {
        match self.subject() {
            Some(Subject::OrganisationId(id)) => Some(ID(id.clone())),
            _ => None,
        }
    }

    async fn organisation(&self, ctx: &Context<'_>) -> Result<Option<Organisation>> {
        match self.subject() {
            Some(Subject::OrganisationId(id)) => membership(ctx)?.organisation(Some(id)).await,
            _ => Ok(None),
        }
    }

    /// e.g. `share-contact-with-cluster`.
    async fn purpose(&self) -> &str {
        &self.0.purpose
    }

    async fn purpose_version(&self) -> i32 {
        self.0.purpose_version as i32
    }

    /// Who recorded it; differs from the subject when recorded by proxy.
    async fn recorded_by(&self) -> &str {
        &self.0.recorded_by
    }

    async fn by_proxy(&self) -> bool {
        self.0.by_proxy
    }

    async fn remark(&self) -> Option<String> {
        non_empty(&self.0.remark)
    }

    async fn given_at(&self) -> Result<DateTime<Utc>> {
        instant("consent.given_at", &self.0.given_at)
    }

    async fn withdrawn_at(&self) -> Result<Option<DateTime<Utc>>> {
        optional_instant("consent.withdrawn_at", self.0.withdrawn_at.as_ref())
    }
}

/// A family's decision that a student's work stays out of research.
pub struct ResearchOptOut(pub pb::ResearchOptOut);

#[Object]
impl ResearchOptOut {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Pseudonymous student identifier, as the scoring service uses it.
    async fn student_ref(&self) -> &str {
        &self.0.student_ref
    }

    async fn organisation_id(&self) -> ID {
        ID(self.0.organisation_id.clone())
    }

    async fn organisation(&self, ctx: &Context<'_>) -> Result<Option<Organisation>> {
        membership(ctx)?
            .organisation(Some(&self.0.organisation_id))
            .await
    }

    /// Name of the family member, or the staff member's remark.
    async fn recorded_for(&self) -> &str {
        &self.0.recorded_for
    }

    async fn recorded_by(&self) -> &str {
        &self.0.recorded_by
    }

    async fn recorded_at(&self) -> Result<DateTime<Utc>> {
        instant("research_opt_out.recorded_at", &self.0.recorded_at)
    }

    async fn withdrawn_at(&self) -> Result<Option<DateTime<Utc>>> {
        optional_instant(
            "research_opt_out.withdrawn_at",
            self.0.withdrawn_at.as_ref(),
        )
    }
}

/// One change: who did what to which record, with the state before and after.
pub struct AuditRecord(pub pb::AuditRecord);

/// The JSON snapshot text as a JSON value (a string if it does not parse).
fn snapshot(text: &str) -> Option<Json<serde_json::Value>> {
    if text.is_empty() {
        return None;
    }
    Some(Json(
        serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.into())),
    ))
}

#[Object]
impl AuditRecord {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Person id, or `service:<name>` for background work.
    async fn actor(&self) -> &str {
        &self.0.actor
    }

    async fn action(&self) -> &str {
        &self.0.action
    }

    async fn target_kind(&self) -> &str {
        &self.0.target_kind
    }

    async fn target_id(&self) -> ID {
        ID(self.0.target_id.clone())
    }

    async fn at(&self) -> Result<DateTime<Utc>> {
        instant("audit_record.at", &self.0.at)
    }

    /// State before the change; null for a creation.
    async fn before(&self) -> Option<Json<serde_json::Value>> {
        snapshot(&self.0.before_json)
    }

    /// State after the change; null for a deletion.
    async fn after(&self) -> Option<Json<serde_json::Value>> {
        snapshot(&self.0.after_json)
    }
}
