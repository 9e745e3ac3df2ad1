//! Data-subject requests (GDPR/FERPA access and erasure): what every
//! service's `ExportPersonData` and `ErasePersonData` take and answer.
//!
//! Only tenant admins (and Collegium's own services, such as the retention
//! job) may ask, about a person of the token's tenant. What a service
//! exports and what erasing means for it is the service's own store method;
//! these functions are the rest of the handler: the check, the field, the
//! answer.

use std::future::Future;

use collegium_proto::common::v1 as common;
use uuid::Uuid;

use crate::{
    auth::Principal,
    error::{Error, Result},
    fields::id,
};

/// `ExportPersonData`: `export` gives everything the service holds about
/// the person as one JSON document.
pub async fn export<F, Fut>(
    p: &Principal,
    r: &common::PersonDataRequest,
    service: &str,
    export: F,
) -> Result<common::PersonData>
where
    F: FnOnce(Uuid) -> Fut,
    Fut: Future<Output = Result<serde_json::Value>>,
{
    p.require_tenant_admin()?;
    let doc = export(id("person_id", &r.person_id)?).await?;
    Ok(common::PersonData {
        service: service.to_string(),
        json: serde_json::to_string(&doc)
            .map_err(|e| Error::internal(anyhow::anyhow!("person data export: {e}")))?,
    })
}

/// `ErasePersonData`: `erase` erases the person and says, per kind of
/// record, how many it changed.
pub async fn erase<F, Fut, C>(
    p: &Principal,
    r: &common::PersonDataRequest,
    service: &str,
    erase: F,
) -> Result<common::ErasureReport>
where
    F: FnOnce(Uuid) -> Fut,
    Fut: Future<Output = Result<C>>,
    C: IntoIterator<Item = (String, u64)>,
{
    p.require_tenant_admin()?;
    let counts = erase(id("person_id", &r.person_id)?).await?;
    Ok(common::ErasureReport {
        service: service.to_string(),
        counts: counts
            .into_iter()
            .map(|(kind, count)| common::ErasureCount { kind, count })
            .collect(),
    })
}
