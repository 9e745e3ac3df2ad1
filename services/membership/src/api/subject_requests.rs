//! Data-subject requests (GDPR/FERPA access and erasure) over gRPC. Only a
//! tenant admin may ask; the person is looked up in the token's tenant, so
//! another tenant's person id is simply not found. What is exported and
//! what erasure does is in `MembershipStore::export_person_data` and
//! `erase_person_data`.

use collegium_proto::membership::v1 as pb;
use platform::{
    auth::Principal,
    error::{Error, Result},
};

use super::{MembershipApi, id};

/// The name this service gives in `PersonData` and `ErasureReport`.
pub const SERVICE: &str = "membership";

impl MembershipApi {
    pub(super) async fn export_person_data_in(
        &self,
        p: &Principal,
        r: pb::PersonDataRequest,
    ) -> Result<pb::PersonData> {
        p.require_tenant_admin()?;
        let person = id("person_id", &r.person_id)?;
        let doc = self.store.export_person_data(p.tenant, person).await?;
        let json = serde_json::to_string(&doc)
            .map_err(|e| Error::internal(anyhow::anyhow!("person data export: {e}")))?;
        Ok(pb::PersonData {
            service: SERVICE.into(),
            json,
        })
    }

    pub(super) async fn erase_person_data_in(
        &self,
        p: &Principal,
        r: pb::PersonDataRequest,
    ) -> Result<pb::ErasureReport> {
        p.require_tenant_admin()?;
        let person = id("person_id", &r.person_id)?;
        let counts = self
            .store
            .erase_person_data(p.tenant, &p.actor(), person)
            .await?;
        Ok(pb::ErasureReport {
            service: SERVICE.into(),
            counts: counts
                .into_iter()
                .map(|(kind, count)| pb::ErasureCount { kind, count })
                .collect(),
        })
    }
}
