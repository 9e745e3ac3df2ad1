//! Membership's domain: the types a tenant's network is made of, and the pure
//! rules about them (validation, who may see whose contact details). No I/O
//! here; `store` persists these types and `api` maps them to gRPC.

pub mod contact;
pub mod research;
pub mod retention;
pub mod validate;

pub use research::{
    AgreementFilter, DataScope, Disclosure, DisclosureFilter, NewDisclosure, NewResearchAgreement,
    ResearchAgreement,
};
pub use retention::{NewRetentionRun, RetentionPeriod, RetentionRun};

use chrono::{DateTime, NaiveDate, Utc};
use platform::auth::{Role, TenantId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The consent purpose that lets other centres see contact details.
pub const SHARE_CONTACT_PURPOSE: &str = "share-contact-with-cluster";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantKind {
    District,
    AwardingBody,
    ResearchPartnership,
}

impl TenantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantKind::District => "district",
            TenantKind::AwardingBody => "awarding_body",
            TenantKind::ResearchPartnership => "research_partnership",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            TenantKind::District,
            TenantKind::AwardingBody,
            TenantKind::ResearchPartnership,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Per-tenant settings other services rely on (time zone for local times,
/// academic-year start for "trained this year").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    pub time_zone: String,
    pub locale: String,
    pub academic_year_start_month: u32,
    pub academic_year_start_day: u32,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            time_zone: "UTC".into(),
            locale: "en".into(),
            academic_year_start_month: 8,
            academic_year_start_day: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub kind: TenantKind,
    pub settings: TenantSettings,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub kind: TenantKind,
    pub settings: TenantSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganisationKind {
    School,
    Centre,
    DistrictOffice,
    University,
}

impl OrganisationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrganisationKind::School => "school",
            OrganisationKind::Centre => "centre",
            OrganisationKind::DistrictOffice => "district_office",
            OrganisationKind::University => "university",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            OrganisationKind::School,
            OrganisationKind::Centre,
            OrganisationKind::DistrictOffice,
            OrganisationKind::University,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Contact details; hidden from other centres until consent is on record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    pub id: Uuid,
    pub name: String,
    pub kind: OrganisationKind,
    pub external_id: Option<String>,
    pub contact: Contact,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewOrganisation {
    pub name: String,
    pub kind: OrganisationKind,
    pub external_id: Option<String>,
    pub contact: Contact,
}

#[derive(Debug, Clone, Default)]
pub struct OrganisationPatch {
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub contact: Option<Contact>,
}

#[derive(Debug, Clone, Default)]
pub struct OrganisationFilter {
    pub name_contains: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub lead_person_id: Option<Uuid>,
    pub centre_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewCluster {
    pub name: String,
    pub description: String,
    pub lead_person_id: Option<Uuid>,
    pub centre_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the lead.
    pub lead_person_id: Option<Option<Uuid>>,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterFilter {
    pub organisation_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: Uuid,
    pub given_name: String,
    pub family_name: String,
    pub contact: Contact,
    pub organisation_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub time_zone: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewPerson {
    pub given_name: String,
    pub family_name: String,
    pub contact: Contact,
    pub organisation_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PersonPatch {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub contact: Option<Contact>,
    pub organisation_id: Option<Option<Uuid>>,
    pub time_zone: Option<Option<String>>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct PersonFilter {
    pub organisation_id: Option<Uuid>,
    pub cluster_id: Option<Uuid>,
    pub role: Option<Role>,
    pub name_contains: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleGrant {
    pub id: Uuid,
    pub person_id: Uuid,
    pub role: Role,
    pub cluster_id: Option<Uuid>,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct RoleGrantFilter {
    pub person_id: Option<Uuid>,
    pub cluster_id: Option<Uuid>,
    pub include_revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mentorship {
    pub id: Uuid,
    pub mentor_id: Uuid,
    pub new_teacher_id: Uuid,
    pub starts_on: NaiveDate,
    pub planned_end_on: NaiveDate,
    pub ended_on: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct NewMentorship {
    pub mentor_id: Uuid,
    pub new_teacher_id: Uuid,
    pub starts_on: NaiveDate,
    pub planned_end_on: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Constituency {
    Researcher,
    DistrictLeader,
    BoardMember,
    Family,
    Student,
    Union,
    Community,
}

impl Constituency {
    pub const ALL: [Constituency; 7] = [
        Constituency::Researcher,
        Constituency::DistrictLeader,
        Constituency::BoardMember,
        Constituency::Family,
        Constituency::Student,
        Constituency::Union,
        Constituency::Community,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Constituency::Researcher => "researcher",
            Constituency::DistrictLeader => "district_leader",
            Constituency::BoardMember => "board_member",
            Constituency::Family => "family",
            Constituency::Student => "student",
            Constituency::Union => "union",
            Constituency::Community => "community",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelMember {
    pub person_id: Uuid,
    pub constituency: Constituency,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Panel {
    pub id: Uuid,
    pub name: String,
    pub purpose: String,
    pub members: Vec<PanelMember>,
    pub created_at: DateTime<Utc>,
}

/// Whose consent: a person's, or a centre's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum ConsentSubject {
    Person(Uuid),
    Organisation(Uuid),
}

impl ConsentSubject {
    pub fn id(&self) -> Uuid {
        match self {
            ConsentSubject::Person(id) | ConsentSubject::Organisation(id) => *id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub id: Uuid,
    pub subject: ConsentSubject,
    pub purpose: String,
    pub purpose_version: u32,
    /// Who recorded it: the subject, or someone acting by proxy.
    pub recorded_by: String,
    pub by_proxy: bool,
    pub remark: String,
    pub given_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewConsent {
    pub subject: ConsentSubject,
    pub purpose: String,
    pub purpose_version: u32,
    pub recorded_by: String,
    pub by_proxy: bool,
    pub remark: String,
}

#[derive(Debug, Clone, Default)]
pub struct ConsentFilter {
    pub subject: Option<ConsentSubject>,
    pub include_withdrawn: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResearchOptOut {
    pub id: Uuid,
    pub student_ref: String,
    pub organisation_id: Uuid,
    pub recorded_for: String,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewResearchOptOut {
    pub student_ref: String,
    pub organisation_id: Uuid,
    pub recorded_for: String,
}

#[derive(Debug, Clone, Default)]
pub struct OptOutFilter {
    pub organisation_id: Option<Uuid>,
    pub include_withdrawn: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: Uuid,
    pub actor: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub at: DateTime<Utc>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}
