//! Research data agreements and the disclosure log in the schema: output
//! types over membership's messages and the inputs of their mutations.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use collegium_proto::membership::v1 as pb;

use super::{Person, membership};
use crate::schema::convert::{date, instant, optional_instant};

/// An agreement: the researchers it covers, for which data (`dataScope`:
/// scores, attendance, membership), from `startsOn` to `endsOn` inclusive;
/// the data must be destroyed by `destroyBy`.
pub struct ResearchAgreement(pub pb::ResearchAgreement);

#[Object]
impl ResearchAgreement {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn purpose(&self) -> &str {
        &self.0.purpose
    }
    async fn data_scope(&self) -> &[String] {
        &self.0.data_scope
    }
    async fn researcher_ids(&self) -> Vec<ID> {
        self.0.researcher_ids.iter().cloned().map(ID).collect()
    }
    async fn researchers(&self, ctx: &Context<'_>) -> Result<Vec<Person>> {
        let m = membership(ctx)?;
        let mut out = Vec::new();
        for id in &self.0.researcher_ids {
            if let Some(p) = m.person(Some(id)).await? {
                out.push(p);
            }
        }
        Ok(out)
    }
    async fn starts_on(&self) -> Result<NaiveDate> {
        date("research_agreement.starts_on", &self.0.starts_on)
    }
    async fn ends_on(&self) -> Result<NaiveDate> {
        date("research_agreement.ends_on", &self.0.ends_on)
    }
    async fn destroy_by(&self) -> Result<NaiveDate> {
        date("research_agreement.destroy_by", &self.0.destroy_by)
    }
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_at(&self) -> Result<DateTime<Utc>> {
        instant("research_agreement.created_at", &self.0.created_at)
    }
    async fn revoked_at(&self) -> Result<Option<DateTime<Utc>>> {
        optional_instant("research_agreement.revoked_at", self.0.revoked_at.as_ref())
    }
}

/// One extract given to one person: who, what, when, under which agreement.
pub struct Disclosure(pub pb::Disclosure);

#[Object]
impl Disclosure {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Null for a tenant admin's own extract.
    async fn agreement_id(&self) -> Option<ID> {
        self.0.agreement_id.clone().map(ID)
    }
    /// The person the extract was given to.
    async fn recipient_id(&self) -> ID {
        ID(self.0.recipient_id.clone())
    }
    async fn recipient(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.recipient_id)).await
    }
    async fn scope(&self) -> &str {
        &self.0.scope
    }
    async fn dataset(&self) -> &str {
        &self.0.dataset
    }
    async fn rows(&self) -> u64 {
        self.0.rows
    }
    /// Records left out for research opt-outs.
    async fn excluded(&self) -> u64 {
        self.0.excluded
    }
    async fn disclosed_at(&self) -> Result<DateTime<Utc>> {
        instant("disclosure.disclosed_at", &self.0.disclosed_at)
    }
}

/// The disclosure log as CSV.
#[derive(SimpleObject)]
pub struct DisclosureCsv {
    pub file_name: String,
    pub csv: String,
    pub rows: u32,
}

impl From<pb::DisclosureExport> for DisclosureCsv {
    fn from(e: pb::DisclosureExport) -> Self {
        Self {
            file_name: e.file_name,
            csv: e.csv,
            rows: e.rows,
        }
    }
}

#[derive(InputObject)]
pub struct CreateResearchAgreementInput {
    pub title: String,
    pub purpose: String,
    /// Any of "scores", "attendance", "membership".
    pub data_scope: Vec<String>,
    pub researcher_ids: Vec<ID>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub destroy_by: NaiveDate,
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

impl From<CreateResearchAgreementInput> for pb::CreateResearchAgreementRequest {
    fn from(i: CreateResearchAgreementInput) -> Self {
        Self {
            title: i.title,
            purpose: i.purpose,
            data_scope: i.data_scope,
            researcher_ids: i.researcher_ids.into_iter().map(|id| id.0).collect(),
            starts_on: day(i.starts_on),
            ends_on: day(i.ends_on),
            destroy_by: day(i.destroy_by),
        }
    }
}

#[derive(InputObject)]
pub struct RevokeResearchAgreementInput {
    pub id: ID,
}

/// Filters of the disclosure log (dates in the tenant's zone, inclusive).
#[derive(InputObject, Default)]
pub struct DisclosureFilterInput {
    pub agreement_id: Option<ID>,
    pub researcher_id: Option<ID>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl DisclosureFilterInput {
    pub fn list(self, page: pb::ListDisclosuresRequest) -> pb::ListDisclosuresRequest {
        pb::ListDisclosuresRequest {
            agreement_id: self.agreement_id.map(|i| i.0),
            researcher_id: self.researcher_id.map(|i| i.0),
            from: self.from.map(day),
            to: self.to.map(day),
            ..page
        }
    }

    pub fn export(self) -> pb::ExportDisclosuresRequest {
        pb::ExportDisclosuresRequest {
            agreement_id: self.agreement_id.map(|i| i.0),
            researcher_id: self.researcher_id.map(|i| i.0),
            from: self.from.map(day),
            to: self.to.map(day),
        }
    }
}
