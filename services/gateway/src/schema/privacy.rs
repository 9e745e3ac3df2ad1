//! Data-subject requests across every service: `personDataExport` gathers
//! what membership, scheduling, scoring and notifications hold about one
//! person into one JSON archive; `erasePerson` asks each to erase it.
//!
//! Each service decides what it holds and what erasure means for it (and
//! refuses anyone but a tenant admin); the gateway only fans out with the
//! caller's token and assembles. Erasure runs service by service,
//! membership last, so the person stays identifiable until every other
//! service has erased: if one fails, the error names it and running the
//! mutation again finishes the job (each erasure is idempotent).

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use collegium_proto::common::v1 as common;
use platform::Error;
use serde_json::{Map, Value};

use super::{convert::id_argument, unauthenticated};
use crate::{
    error::{graphql_error, status_error},
    fanout::Services,
};

/// The four services' clients with the caller's token.
pub(crate) fn services<'a>(ctx: &Context<'a>) -> Result<&'a Services> {
    ctx.data_opt::<Services>().ok_or_else(unauthenticated)
}

/// One service's JSON document, parsed so the archive is one document.
fn section(service: &str, json: &str) -> Result<Value> {
    serde_json::from_str(json).map_err(|e| {
        graphql_error(Error::internal(anyhow::anyhow!(
            "{service} sent a person export that is not JSON: {e}"
        )))
    })
}

/// Everything Collegium holds about one person, as one JSON document.
#[derive(SimpleObject)]
pub struct PersonDataArchive {
    pub person_id: ID,
    pub generated_at: DateTime<Utc>,
    /// A file name for saving `json`.
    pub file_name: String,
    /// `{"person_id", "generated_at", "services": {"membership": {…},
    /// "scheduling": {…}, "scoring": {…}, "notifications": {…}}}`.
    pub json: String,
}

/// What erasing a person changed in one service, per kind of record.
#[derive(SimpleObject)]
pub struct ErasedRecords {
    pub service: String,
    pub kind: String,
    pub count: u64,
}

#[derive(InputObject)]
pub struct ErasePersonInput {
    pub person_id: ID,
    /// Must be true: erasure cannot be undone.
    pub confirm: bool,
}

#[derive(Default)]
pub struct PrivacyQuery;

#[Object]
impl PrivacyQuery {
    /// Everything every service holds about a person, as one archive
    /// (tenant admins).
    async fn person_data_export(
        &self,
        ctx: &Context<'_>,
        person_id: ID,
    ) -> Result<PersonDataArchive> {
        let person = id_argument("personId", &person_id)?.to_string();
        let p = services(ctx)?;
        let (mut m, mut s, mut c, mut n) = (
            p.membership.clone(),
            p.scheduling.clone(),
            p.scoring.clone(),
            p.notifications.clone(),
        );
        let request = common::PersonDataRequest {
            person_id: person.clone(),
        };
        let (m, s, c, n) = tokio::join!(
            m.export_person_data(request.clone()),
            s.export_person_data(request.clone()),
            c.export_person_data(request.clone()),
            n.export_person_data(request.clone()),
        );
        let mut services = Map::new();
        for (name, json) in [
            ("membership", m.map_err(status_error)?.into_inner().json),
            ("scheduling", s.map_err(status_error)?.into_inner().json),
            ("scoring", c.map_err(status_error)?.into_inner().json),
            ("notifications", n.map_err(status_error)?.into_inner().json),
        ] {
            services.insert(name.to_string(), section(name, &json)?);
        }
        let generated_at = Utc::now();
        let archive = serde_json::json!({
            "person_id": person,
            "generated_at": generated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "services": services,
        });
        Ok(PersonDataArchive {
            file_name: format!("person-{person}-{}.json", generated_at.format("%Y%m%d")),
            person_id: ID(person),
            generated_at,
            json: serde_json::to_string_pretty(&archive)
                .map_err(|e| graphql_error(Error::internal(anyhow::anyhow!("archive: {e}"))))?,
        })
    }
}

#[derive(Default)]
pub struct PrivacyMutation;

#[Object]
impl PrivacyMutation {
    /// Erases a person everywhere (tenant admins): personal fields
    /// anonymised, records others rely on kept without identity, the
    /// erasure itself audited in every service. Idempotent.
    async fn erase_person(
        &self,
        ctx: &Context<'_>,
        input: ErasePersonInput,
    ) -> Result<Vec<ErasedRecords>> {
        let person = id_argument("personId", &input.person_id)?.to_string();
        if !input.confirm {
            return Err(graphql_error(Error::invalid(
                "confirm",
                "erasure cannot be undone: set confirm to true",
            )));
        }
        let erased = services(ctx)?
            .erase_person(&person)
            .await
            .map_err(graphql_error)?;
        Ok(erased
            .into_iter()
            .map(|e| ErasedRecords {
                service: e.service.to_string(),
                kind: e.kind,
                count: e.count,
            })
            .collect())
    }
}
