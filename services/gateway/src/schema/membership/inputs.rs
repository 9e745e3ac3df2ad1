//! Membership's mutation inputs: one input object per protobuf request,
//! field for field, and its conversion into that request.
//!
//! The gateway checks shapes (GraphQL types, required fields); what the
//! values mean (a time zone exists, a person is in this tenant, the caller
//! may do this) is the service's to decide, once, for every client.

use async_graphql::{ID, InputObject, OneofObject};
use chrono::NaiveDate;
use collegium_proto::membership::v1::{self as pb, consent_subject::Subject};

use super::enums::{Constituency, OrganisationKind, Role};

fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

#[derive(InputObject)]
pub struct TenantSettingsInput {
    /// IANA time zone, e.g. `America/Chicago`.
    pub time_zone: String,
    /// BCP 47 tag, e.g. `en-US`.
    pub locale: String,
    pub academic_year_start_month: u32,
    pub academic_year_start_day: u32,
}

impl From<TenantSettingsInput> for pb::UpdateTenantSettingsRequest {
    fn from(i: TenantSettingsInput) -> Self {
        Self {
            settings: Some(pb::TenantSettings {
                time_zone: i.time_zone,
                locale: i.locale,
                academic_year_start_month: i.academic_year_start_month,
                academic_year_start_day: i.academic_year_start_day,
            }),
        }
    }
}

#[derive(InputObject, Default)]
pub struct ContactDetailsInput {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

impl From<ContactDetailsInput> for pb::ContactDetails {
    fn from(i: ContactDetailsInput) -> Self {
        Self {
            email: i.email.unwrap_or_default(),
            phone: i.phone.unwrap_or_default(),
            address: i.address.unwrap_or_default(),
        }
    }
}

#[derive(InputObject)]
pub struct CreateOrganisationInput {
    pub name: String,
    pub kind: OrganisationKind,
    pub external_id: Option<String>,
    pub contact: Option<ContactDetailsInput>,
}

impl From<CreateOrganisationInput> for pb::CreateOrganisationRequest {
    fn from(i: CreateOrganisationInput) -> Self {
        Self {
            name: i.name,
            kind: i.kind.to_proto() as i32,
            external_id: i.external_id.unwrap_or_default(),
            contact: i.contact.map(Into::into),
        }
    }
}

/// Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateOrganisationInput {
    pub id: ID,
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub contact: Option<ContactDetailsInput>,
}

impl From<UpdateOrganisationInput> for pb::UpdateOrganisationRequest {
    fn from(i: UpdateOrganisationInput) -> Self {
        Self {
            id: i.id.0,
            name: i.name,
            external_id: i.external_id,
            contact: i.contact.map(Into::into),
        }
    }
}

#[derive(InputObject)]
pub struct CreateClusterInput {
    pub name: String,
    pub description: Option<String>,
    pub lead_person_id: Option<ID>,
    #[graphql(default)]
    pub centre_ids: Vec<ID>,
}

impl From<CreateClusterInput> for pb::CreateClusterRequest {
    fn from(i: CreateClusterInput) -> Self {
        Self {
            name: i.name,
            description: i.description.unwrap_or_default(),
            lead_person_id: i.lead_person_id.map(|id| id.0),
            centre_ids: i.centre_ids.into_iter().map(|id| id.0).collect(),
        }
    }
}

/// Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateClusterInput {
    pub id: ID,
    pub name: Option<String>,
    pub description: Option<String>,
    pub lead_person_id: Option<ID>,
}

impl From<UpdateClusterInput> for pb::UpdateClusterRequest {
    fn from(i: UpdateClusterInput) -> Self {
        Self {
            id: i.id.0,
            name: i.name,
            description: i.description,
            lead_person_id: i.lead_person_id.map(|id| id.0),
        }
    }
}

#[derive(InputObject)]
pub struct ClusterCentreInput {
    pub cluster_id: ID,
    pub organisation_id: ID,
}

impl From<ClusterCentreInput> for pb::ClusterCentreRequest {
    fn from(i: ClusterCentreInput) -> Self {
        Self {
            cluster_id: i.cluster_id.0,
            organisation_id: i.organisation_id.0,
        }
    }
}

#[derive(InputObject)]
pub struct CreatePersonInput {
    pub given_name: String,
    pub family_name: String,
    pub contact: Option<ContactDetailsInput>,
    pub organisation_id: Option<ID>,
    pub external_id: Option<String>,
    /// IANA zone; leave out for the tenant's zone.
    pub time_zone: Option<String>,
}

impl From<CreatePersonInput> for pb::CreatePersonRequest {
    fn from(i: CreatePersonInput) -> Self {
        Self {
            given_name: i.given_name,
            family_name: i.family_name,
            contact: i.contact.map(Into::into),
            organisation_id: i.organisation_id.map(|id| id.0),
            external_id: i.external_id.unwrap_or_default(),
            time_zone: i.time_zone.unwrap_or_default(),
        }
    }
}

/// Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdatePersonInput {
    pub id: ID,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub contact: Option<ContactDetailsInput>,
    pub organisation_id: Option<ID>,
    pub time_zone: Option<String>,
    pub active: Option<bool>,
}

impl From<UpdatePersonInput> for pb::UpdatePersonRequest {
    fn from(i: UpdatePersonInput) -> Self {
        Self {
            id: i.id.0,
            given_name: i.given_name,
            family_name: i.family_name,
            contact: i.contact.map(Into::into),
            organisation_id: i.organisation_id.map(|id| id.0),
            time_zone: i.time_zone,
            active: i.active,
        }
    }
}

#[derive(InputObject)]
pub struct GrantRoleInput {
    pub person_id: ID,
    pub role: Role,
    /// Leave out for a tenant-wide grant.
    pub cluster_id: Option<ID>,
}

impl From<GrantRoleInput> for pb::GrantRoleRequest {
    fn from(i: GrantRoleInput) -> Self {
        Self {
            person_id: i.person_id.0,
            role: i.role.to_proto() as i32,
            cluster_id: i.cluster_id.map(|id| id.0),
        }
    }
}

#[derive(InputObject)]
pub struct RevokeRoleInput {
    pub grant_id: ID,
}

impl From<RevokeRoleInput> for pb::RevokeRoleRequest {
    fn from(i: RevokeRoleInput) -> Self {
        Self {
            grant_id: i.grant_id.0,
        }
    }
}

#[derive(InputObject)]
pub struct CreateMentorshipInput {
    pub mentor_id: ID,
    pub new_teacher_id: ID,
    pub starts_on: NaiveDate,
    /// Defaults to two years after `startsOn` (the induction period).
    pub planned_end_on: Option<NaiveDate>,
}

impl From<CreateMentorshipInput> for pb::CreateMentorshipRequest {
    fn from(i: CreateMentorshipInput) -> Self {
        Self {
            mentor_id: i.mentor_id.0,
            new_teacher_id: i.new_teacher_id.0,
            starts_on: date(i.starts_on),
            planned_end_on: i.planned_end_on.map(date),
        }
    }
}

#[derive(InputObject)]
pub struct EndMentorshipInput {
    pub id: ID,
    pub ended_on: NaiveDate,
}

impl From<EndMentorshipInput> for pb::EndMentorshipRequest {
    fn from(i: EndMentorshipInput) -> Self {
        Self {
            id: i.id.0,
            ended_on: date(i.ended_on),
        }
    }
}

#[derive(InputObject)]
pub struct CreatePanelInput {
    pub name: String,
    pub purpose: Option<String>,
}

impl From<CreatePanelInput> for pb::CreatePanelRequest {
    fn from(i: CreatePanelInput) -> Self {
        Self {
            name: i.name,
            purpose: i.purpose.unwrap_or_default(),
        }
    }
}

#[derive(InputObject)]
pub struct AddPanelMemberInput {
    pub panel_id: ID,
    pub person_id: ID,
    pub constituency: Constituency,
}

impl From<AddPanelMemberInput> for pb::AddPanelMemberRequest {
    fn from(i: AddPanelMemberInput) -> Self {
        Self {
            panel_id: i.panel_id.0,
            person_id: i.person_id.0,
            constituency: i.constituency.to_proto() as i32,
        }
    }
}

#[derive(InputObject)]
pub struct RemovePanelMemberInput {
    pub panel_id: ID,
    pub person_id: ID,
}

impl From<RemovePanelMemberInput> for pb::RemovePanelMemberRequest {
    fn from(i: RemovePanelMemberInput) -> Self {
        Self {
            panel_id: i.panel_id.0,
            person_id: i.person_id.0,
        }
    }
}

/// Whose consent: exactly one of a person or an organisation.
#[derive(OneofObject)]
pub enum ConsentSubjectInput {
    PersonId(ID),
    OrganisationId(ID),
}

impl From<ConsentSubjectInput> for pb::ConsentSubject {
    fn from(i: ConsentSubjectInput) -> Self {
        Self {
            subject: Some(match i {
                ConsentSubjectInput::PersonId(id) => Subject::PersonId(id.0),
                ConsentSubjectInput::OrganisationId(id) => Subject::OrganisationId(id.0),
            }),
        }
    }
}

#[derive(InputObject)]
pub struct RecordConsentInput {
    pub subject: ConsentSubjectInput,
    /// e.g. `share-contact-with-cluster`.
    pub purpose: String,
    pub purpose_version: u32,
    /// Required when recording consent for someone else.
    pub remark: Option<String>,
}

impl From<RecordConsentInput> for pb::RecordConsentRequest {
    fn from(i: RecordConsentInput) -> Self {
        Self {
            subject: Some(i.subject.into()),
            purpose: i.purpose,
            purpose_version: i.purpose_version,
            remark: i.remark.unwrap_or_default(),
        }
    }
}

#[derive(InputObject)]
pub struct WithdrawConsentInput {
    pub id: ID,
    pub remark: Option<String>,
}

impl From<WithdrawConsentInput> for pb::WithdrawConsentRequest {
    fn from(i: WithdrawConsentInput) -> Self {
        Self {
            id: i.id.0,
            remark: i.remark.unwrap_or_default(),
        }
    }
}

#[derive(InputObject)]
pub struct RecordResearchOptOutInput {
    /// Pseudonymous student identifier, as the scoring service uses it.
    pub student_ref: String,
    pub organisation_id: ID,
    /// Name of the family member, or the staff member's remark.
    pub recorded_for: String,
}

impl From<RecordResearchOptOutInput> for pb::RecordResearchOptOutRequest {
    fn from(i: RecordResearchOptOutInput) -> Self {
        Self {
            student_ref: i.student_ref,
            organisation_id: i.organisation_id.0,
            recorded_for: i.recorded_for,
        }
    }
}

#[derive(InputObject)]
pub struct WithdrawResearchOptOutInput {
    pub id: ID,
}

impl From<WithdrawResearchOptOutInput> for pb::WithdrawResearchOptOutRequest {
    fn from(i: WithdrawResearchOptOutInput) -> Self {
        Self { id: i.id.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_become_their_requests_field_for_field() {
        let req: pb::CreateMentorshipRequest = CreateMentorshipInput {
            mentor_id: ID("m".into()),
            new_teacher_id: ID("n".into()),
            starts_on: NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
            planned_end_on: None,
        }
        .into();
        assert_eq!(req.starts_on, "2026-09-01");
        assert_eq!(req.planned_end_on, None);

        let req: pb::GrantRoleRequest = GrantRoleInput {
            person_id: ID("p".into()),
            role: Role::ClusterLead,
            cluster_id: Some(ID("c".into())),
        }
        .into();
        assert_eq!(req.role, pb::Role::ClusterLead as i32);
        assert_eq!(req.cluster_id.as_deref(), Some("c"));

        let req: pb::RecordConsentRequest = RecordConsentInput {
            subject: ConsentSubjectInput::OrganisationId(ID("o".into())),
            purpose: "share-contact-with-cluster".into(),
            purpose_version: 2,
            remark: None,
        }
        .into();
        assert_eq!(
            req.subject.unwrap().subject,
            Some(Subject::OrganisationId("o".into()))
        );

        let req: pb::UpdatePersonRequest = UpdatePersonInput {
            id: ID("p".into()),
            given_name: None,
            family_name: Some("Okafor".into()),
            contact: Some(ContactDetailsInput {
                email: Some("a@b.org".into()),
                ..Default::default()
            }),
            organisation_id: None,
            time_zone: None,
            active: Some(false),
        }
        .into();
        assert_eq!(req.given_name, None);
        assert_eq!(req.family_name.as_deref(), Some("Okafor"));
        assert_eq!(req.contact.unwrap().phone, "");
        assert_eq!(req.active, Some(false));
    }
}
