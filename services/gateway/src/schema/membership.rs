//! The membership service's part of the schema: tenants, organisations,
//! clusters, people, role grants, mentorships, panels, consent, research
//! opt-outs, research agreements, the disclosure log and the audit log.
//!
//! Every resolver calls membership with the caller's own bearer token (the
//! [`ForwardCaller`] interceptor); the tenant is never an argument, it is in
//! the token, and the service verifies it again. Lists are Relay
//! connections over the service's page tokens ([`paging`](super::paging)),
//! and relations go through the per-request [`MembershipLoader`].

mod enums;
mod inputs;
mod loaders;
mod research;
mod types;

use async_graphql::{
    Context, ID, Object, Result,
    dataloader::{DataLoader, HashMapCache},
};
use collegium_proto::membership::v1::{
    self as pb, membership_service_client::MembershipServiceClient,
};
use platform::{Error, auth::Principal, grpc::ForwardCaller};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use tracing::Instrument;

pub use enums::{Constituency, OrganisationKind, Role, TenantKind};
pub use inputs::*;
use loaders::{ClusterKey, MAX_BATCH, MembershipLoader, OrganisationKey, PersonKey};
pub use research::*;
pub use types::*;

use super::{
    convert::{id_argument, nodes, reference, unary},
    paging::{Page, connection, page_request},
    unauthenticated,
};
use crate::error::graphql_error;

/// A membership client that sends the caller's token on every call.
pub(crate) type Client = MembershipServiceClient<InterceptedService<Channel, ForwardCaller>>;

/// Membership as one caller sees it for one request (or one WebSocket
/// connection): a client carrying their token and a loader of their own.
pub struct Membership {
    client: Client,
    loader: DataLoader<MembershipLoader, HashMapCache>,
}

impl Membership {
    /// `channel` is the shared connection; only the token differs per caller.
    pub fn for_caller(
        channel: &Channel,
        principal: &Principal,
        cache: bool,
    ) -> platform::Result<Self> {
        let client = MembershipServiceClient::with_interceptor(
            channel.clone(),
            ForwardCaller::new(&principal.token)?,
        );
        let loader = DataLoader::with_cache(
            MembershipLoader {
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

    /// The person with this id, if the caller's tenant has one.
    pub(crate) async fn person(&self, id: Option<&str>) -> Result<Option<Person>> {
        let Some(id) = id.and_then(reference) else {
            return Ok(None);
        };
        Ok(self.loader.load_one(PersonKey(id)).await?.map(Person))
    }

    pub(crate) async fn organisation(&self, id: Option<&str>) -> Result<Option<Organisation>> {
        let Some(id) = id.and_then(reference) else {
            return Ok(None);
        };
        Ok(self
            .loader
            .load_one(OrganisationKey(id))
            .await?
            .map(Organisation))
    }

    /// The organisations found, in the order of `ids`.
    pub(crate) async fn organisations(&self, ids: &[String]) -> Result<Vec<Organisation>> {
        let keys: Vec<_> = ids
            .iter()
            .filter_map(|id| reference(id))
            .map(OrganisationKey)
            .collect();
        let mut found = self.loader.load_many(keys.iter().copied()).await?;
        Ok(keys
            .iter()
            .filter_map(|k| found.remove(k))
            .map(Organisation)
            .collect())
    }

    pub(crate) async fn cluster(&self, id: Option<&str>) -> Result<Option<Cluster>> {
        let Some(id) = id.and_then(reference) else {
            return Ok(None);
        };
        Ok(self.loader.load_one(ClusterKey(id)).await?.map(Cluster))
    }
}

/// The membership handle of this request.
pub(crate) fn membership<'a>(ctx: &Context<'a>) -> Result<&'a Membership> {
    ctx.data_opt::<Membership>().ok_or_else(unauthenticated)
}

#[derive(Default)]
pub struct MembershipQuery;

#[Object]
impl MembershipQuery {
    /// The caller: tenant, person and role grants, as the service sees them.
    async fn me(&self, ctx: &Context<'_>) -> Result<WhoAmI> {
        let m = membership(ctx)?;
        let who = unary(m.client().who_am_i(pb::WhoAmIRequest {})).await?;
        Ok(WhoAmI(who))
    }

    /// The caller's tenant.
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        let m = membership(ctx)?;
        Ok(Tenant(
            unary(m.client().get_tenant(pb::GetTenantRequest {})).await?,
        ))
    }

    async fn organisations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Case-insensitive part of the name.")] name_contains: Option<String>,
    ) -> Result<Page<Organisation>> {
        let m = membership(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListOrganisationsRequest {
            page: Some(page_request(first, after)?),
            name_contains: name_contains.unwrap_or_default(),
        };
        let page = unary(m.client().list_organisations(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.organisations, |o| o.id.clone(), Organisation),
            page.page,
        ))
    }

    async fn organisation(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Organisation>> {
        let id = id_argument("id", &id)?;
        membership(ctx)?.organisation(Some(&id.to_string())).await
    }

    async fn clusters(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Only clusters this organisation belongs to.")] organisation_id: Option<
            ID,
        >,
    ) -> Result<Page<Cluster>> {
        let m = membership(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListClustersRequest {
            page: Some(page_request(first, after)?),
            organisation_id: organisation_id.map(|id| id.0),
        };
        let page = unary(m.client().list_clusters(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.clusters, |c| c.id.clone(), Cluster),
            page.page,
        ))
    }

    async fn cluster(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Cluster>> {
        let id = id_argument("id", &id)?;
        membership(ctx)?.cluster(Some(&id.to_string())).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn people(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        organisation_id: Option<ID>,
        #[graphql(
            desc = "People of the cluster's centres plus anyone holding a role in the cluster."
        )]
        cluster_id: Option<ID>,
        role: Option<Role>,
        #[graphql(desc = "Case-insensitive part of the given or family name.")]
        name_contains: Option<String>,
    ) -> Result<Page<Person>> {
        let m = membership(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListPeopleRequest {
            page: Some(page_request(first, after)?),
            organisation_id: organisation_id.map(|id| id.0),
            cluster_id: cluster_id.map(|id| id.0),
            role: role.map(|r| r.to_proto() as i32),
            name_contains: name_contains.unwrap_or_default(),
        };
        let page = unary(m.client().list_people(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.people, |p| p.id.clone(), Person),
            page.page,
        ))
    }

    async fn person(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Person>> {
        let id = id_argument("id", &id)?;
        membership(ctx)?.person(Some(&id.to_string())).await
    }

    async fn role_grants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        person_id: Option<ID>,
        cluster_id: Option<ID>,
        #[graphql(default)] include_revoked: bool,
    ) -> Result<Page<RoleGrant>> {
        let m = membership(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListRoleGrantsRequest {
            page: Some(page_request(first, after)?),
            person_id: person_id.map(|id| id.0),
            cluster_id: cluster_id.map(|id| id.0),
            include_revoked,
        };
        let page = unary(m.client().list_role_grants(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.grants, |g| g.id.clone(), RoleGrant),
            page.page,
        ))
    }

    async fn mentorships(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Mentorships where this person is mentor or new teacher.")]
        person_id: Option<ID>,
    ) -> Result<Page<Mentorship>> {
        let m = membership(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListMentorshipsRequest {
            page: Some(page_request(first, after)?),
            person_id: person_id.map(|id| id.0),
        };
        let page = unary(m.client().list_mentorships(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.mentorships, |x| x.id.clone(), Mentorship),
            page.page,
        ))
    }

    async fn panels(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Panel>> {
        let m = membership(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListPanelsRequest {
            page: Some(page_request(first, after)?),
        };
        let page = unary(m.client().list_panels(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.panels, |p| p.id.clone(), Panel),
            page.page,
        ))
    }

    /// Consent records of one person or one organisation (give at most one
    /// of the two), or all the caller may see.
    async fn consents(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        person_id: Option<ID>,
        organisation_id: Option<ID>,
        #[graphql(default)] include_withdrawn: bool,
    ) -> Result<Page<ConsentRecord>> {
        use pb::consent_subject::Subject;
        let subject = match (person_id, organisation_id) {
            (Some(_), Some(_)) => {
                return Err(graphql_error(Error::invalid(
                    "organisationId",
                    "give personId or organisationId, not both",
                )));
            }
            (Some(p), None) => Some(Subject::PersonId(p.0)),
            (None, Some(o)) => Some(Subject::OrganisationId(o.0)),
            (None, None) => None,
        };
        let m = membership(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListConsentsRequest {
            page: Some(page_request(first, after)?),
            subject: subject.map(|s| pb::ConsentSubject { subject: Some(s) }),
            include_withdrawn,
        };
        let page = unary(m.client().list_consents(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.records, |r| r.id.clone(), ConsentRecord),
            page.page,
        ))
    }

    async fn research_opt_outs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        organisation_id: Option<ID>,
        #[graphql(default)] include_withdrawn: bool,
    ) -> Result<Page<ResearchOptOut>> {
        let m = membership(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListResearchOptOutsRequest {
            page: Some(page_request(first, after)?),
            organisation_id: organisation_id.map(|id| id.0),
            include_withdrawn,
        };
        let page = unary(m.client().list_research_opt_outs(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.opt_outs, |o| o.id.clone(), ResearchOptOut),
            page.page,
        ))
    }

    /// Research agreements: all for tenant admins, those naming the caller otherwise.
    async fn research_agreements(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        researcher_id: Option<ID>,
        #[graphql(default)] include_revoked: bool,
    ) -> Result<Page<ResearchAgreement>> {
        let m = membership(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListResearchAgreementsRequest {
            page: Some(page_request(first, after)?),
            researcher_id: researcher_id.map(|id| id.0),
            include_revoked,
        };
        let page = unary(m.client().list_research_agreements(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.agreements, |a| a.id.clone(), ResearchAgreement),
            page.page,
        ))
    }

    /// The disclosure log: all for tenant admins, the caller's own otherwise.
    async fn disclosures(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<DisclosureFilterInput>,
    ) -> Result<Page<Disclosure>> {
        let m = membership(ctx)?;
        let after_given = after.is_some();
        let req = filter.unwrap_or_default().list(pb::ListDisclosuresRequest {
            page: Some(page_request(first, after)?),
            ..Default::default()
        });
        let page = unary(m.client().list_disclosures(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.disclosures, |d| d.id.clone(), Disclosure),
            page.page,
        ))
    }

    /// The disclosure log as CSV, for reporting.
    async fn disclosures_csv(
        &self,
        ctx: &Context<'_>,
        filter: Option<DisclosureFilterInput>,
    ) -> Result<DisclosureCsv> {
        let m = membership(ctx)?;
        let req = filter.unwrap_or_default().export();
        Ok(unary(m.client().export_disclosures(req)).await?.into())
    }

    async fn audit_records(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Only changes to this record.")] target_id: Option<ID>,
    ) -> Result<Page<AuditRecord>> {
        let m = membership(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListAuditRecordsRequest {
            page: Some(page_request(first, after)?),
            target_id: target_id.map(|id| id.0),
        };
        let page = unary(m.client().list_audit_records(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.records, |r| r.id.clone(), AuditRecord),
            page.page,
        ))
    }
}

#[derive(Default)]
pub struct MembershipMutation;

#[Object]
impl MembershipMutation {
    async fn update_tenant_settings(
        &self,
        ctx: &Context<'_>,
        input: TenantSettingsInput,
    ) -> Result<Tenant> {
        let m = membership(ctx)?;
        Ok(Tenant(
            unary(
                m.client()
                    .update_tenant_settings(pb::UpdateTenantSettingsRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn create_organisation(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganisationInput,
    ) -> Result<Organisation> {
        let m = membership(ctx)?;
        Ok(Organisation(
            unary(
                m.client()
                    .create_organisation(pb::CreateOrganisationRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn update_organisation(
        &self,
        ctx: &Context<'_>,
        input: UpdateOrganisationInput,
    ) -> Result<Organisation> {
        let m = membership(ctx)?;
        Ok(Organisation(
            unary(
                m.client()
                    .update_organisation(pb::UpdateOrganisationRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn create_cluster(
        &self,
        ctx: &Context<'_>,
        input: CreateClusterInput,
    ) -> Result<Cluster> {
        let m = membership(ctx)?;
        Ok(Cluster(
            unary(
                m.client()
                    .create_cluster(pb::CreateClusterRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn update_cluster(
        &self,
        ctx: &Context<'_>,
        input: UpdateClusterInput,
    ) -> Result<Cluster> {
        let m = membership(ctx)?;
        Ok(Cluster(
            unary(
                m.client()
                    .update_cluster(pb::UpdateClusterRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn add_cluster_centre(
        &self,
        ctx: &Context<'_>,
        input: ClusterCentreInput,
    ) -> Result<Cluster> {
        let m = membership(ctx)?;
        Ok(Cluster(
            unary(
                m.client()
                    .add_cluster_centre(pb::ClusterCentreRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn remove_cluster_centre(
        &self,
        ctx: &Context<'_>,
        input: ClusterCentreInput,
    ) -> Result<Cluster> {
        let m = membership(ctx)?;
        Ok(Cluster(
            unary(
                m.client()
                    .remove_cluster_centre(pb::ClusterCentreRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn create_person(&self, ctx: &Context<'_>, input: CreatePersonInput) -> Result<Person> {
        let m = membership(ctx)?;
        Ok(Person(
            unary(
                m.client()
                    .create_person(pb::CreatePersonRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn update_person(&self, ctx: &Context<'_>, input: UpdatePersonInput) -> Result<Person> {
        let m = membership(ctx)?;
        Ok(Person(
            unary(
                m.client()
                    .update_person(pb::UpdatePersonRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn grant_role(&self, ctx: &Context<'_>, input: GrantRoleInput) -> Result<RoleGrant> {
        let m = membership(ctx)?;
        Ok(RoleGrant(
            unary(m.client().grant_role(pb::GrantRoleRequest::from(input))).await?,
        ))
    }

    async fn revoke_role(&self, ctx: &Context<'_>, input: RevokeRoleInput) -> Result<RoleGrant> {
        let m = membership(ctx)?;
        Ok(RoleGrant(
            unary(m.client().revoke_role(pb::RevokeRoleRequest::from(input))).await?,
        ))
    }

    async fn create_mentorship(
        &self,
        ctx: &Context<'_>,
        input: CreateMentorshipInput,
    ) -> Result<Mentorship> {
        let m = membership(ctx)?;
        Ok(Mentorship(
            unary(
                m.client()
                    .create_mentorship(pb::CreateMentorshipRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn end_mentorship(
        &self,
        ctx: &Context<'_>,
        input: EndMentorshipInput,
    ) -> Result<Mentorship> {
        let m = membership(ctx)?;
        Ok(Mentorship(
            unary(
                m.client()
                    .end_mentorship(pb::EndMentorshipRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn create_panel(&self, ctx: &Context<'_>, input: CreatePanelInput) -> Result<Panel> {
        let m = membership(ctx)?;
        Ok(Panel(
            unary(m.client().create_panel(pb::CreatePanelRequest::from(input))).await?,
        ))
    }

    async fn add_panel_member(
        &self,
        ctx: &Context<'_>,
        input: AddPanelMemberInput,
    ) -> Result<Panel> {
        let m = membership(ctx)?;
        Ok(Panel(
            unary(
                m.client()
                    .add_panel_member(pb::AddPanelMemberRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn remove_panel_member(
        &self,
        ctx: &Context<'_>,
        input: RemovePanelMemberInput,
    ) -> Result<Panel> {
        let m = membership(ctx)?;
        Ok(Panel(
            unary(
                m.client()
                    .remove_panel_member(pb::RemovePanelMemberRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn record_consent(
        &self,
        ctx: &Context<'_>,
        input: RecordConsentInput,
    ) -> Result<ConsentRecord> {
        let m = membership(ctx)?;
        Ok(ConsentRecord(
            unary(
                m.client()
                    .record_consent(pb::RecordConsentRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn withdraw_consent(
        &self,
        ctx: &Context<'_>,
        input: WithdrawConsentInput,
    ) -> Result<ConsentRecord> {
        let m = membership(ctx)?;
        Ok(ConsentRecord(
            unary(
                m.client()
                    .withdraw_consent(pb::WithdrawConsentRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn record_research_opt_out(
        &self,
        ctx: &Context<'_>,
        input: RecordResearchOptOutInput,
    ) -> Result<ResearchOptOut> {
        let m = membership(ctx)?;
        Ok(ResearchOptOut(
            unary(
                m.client()
                    .record_research_opt_out(pb::RecordResearchOptOutRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn withdraw_research_opt_out(
        &self,
        ctx: &Context<'_>,
        input: WithdrawResearchOptOutInput,
    ) -> Result<ResearchOptOut> {
        let m = membership(ctx)?;
        Ok(ResearchOptOut(
            unary(
                m.client()
                    .withdraw_research_opt_out(pb::WithdrawResearchOptOutRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn create_research_agreement(
        &self,
        ctx: &Context<'_>,
        input: CreateResearchAgreementInput,
    ) -> Result<ResearchAgreement> {
        let m = membership(ctx)?;
        Ok(ResearchAgreement(
            unary(
                m.client()
                    .create_research_agreement(pb::CreateResearchAgreementRequest::from(input)),
            )
            .await?,
        ))
    }

    async fn revoke_research_agreement(
        &self,
        ctx: &Context<'_>,
        input: RevokeResearchAgreementInput,
    ) -> Result<ResearchAgreement> {
        let m = membership(ctx)?;
        Ok(ResearchAgreement(
            unary(
                m.client()
                    .revoke_research_agreement(pb::RevokeResearchAgreementRequest {
                        id: input.id.0,
                    }),
            )
            .await?,
        ))
    }
}
