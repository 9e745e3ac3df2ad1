//! Batched lookups of people, organisations and clusters by id.
//!
//! A page of 500 role grants asks for 500 people; the loader gathers the ids
//! every resolver of one request asks for within a millisecond and sends
//! them in one `GetPeople` call. The service answers only with the records
//! found in the caller's tenant; an id it leaves out resolves to `null`.
//!
//! The loader is built per request with the caller's client (see
//! [`Membership::for_caller`](super::Membership::for_caller)), so its cache
//! is never shared between callers or tenants.

use std::collections::HashMap;

use collegium_proto::membership::v1::{self as pb, GetByIdsRequest};
use uuid::Uuid;

use super::Client;
use crate::schema::convert::unary;

/// Ids per batch call, matching the services' largest page.
pub const MAX_BATCH: usize = platform::page::MAX_PAGE_SIZE as usize;

/// One loader, three key types: each key type is its own batch.
pub struct MembershipLoader {
    pub(super) client: Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PersonKey(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrganisationKey(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClusterKey(pub Uuid);

fn ids<K>(keys: &[K], id: impl Fn(&K) -> Uuid) -> GetByIdsRequest {
    GetByIdsRequest {
        ids: keys.iter().map(|k| id(k).to_string()).collect(),
    }
}

/// Indexes the records by the id the service wrote on them; a record whose
/// id does not parse cannot have been asked for and is dropped.
fn by_id<K: std::hash::Hash + Eq, V>(
    records: Vec<V>,
    id: impl Fn(&V) -> &str,
    key: impl Fn(Uuid) -> K,
) -> HashMap<K, V> {
    records
        .into_iter()
        .filter_map(|r| Some((key(Uuid::parse_str(id(&r)).ok()?), r)))
        .collect()
}

impl async_graphql::dataloader::Loader<PersonKey> for MembershipLoader {
    type Value = pb::Person;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[PersonKey],
    ) -> Result<HashMap<PersonKey, pb::Person>, Self::Error> {
        let list = unary(self.client.clone().get_people(ids(keys, |k| k.0))).await?;
        Ok(by_id(list.people, |p| &p.id, PersonKey))
    }
}

impl async_graphql::dataloader::Loader<OrganisationKey> for MembershipLoader {
    type Value = pb::Organisation;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[OrganisationKey],
    ) -> Result<HashMap<OrganisationKey, pb::Organisation>, Self::Error> {
        let list = unary(self.client.clone().get_organisations(ids(keys, |k| k.0))).await?;
        Ok(by_id(list.organisations, |o| &o.id, OrganisationKey))
    }
}

impl async_graphql::dataloader::Loader<ClusterKey> for MembershipLoader {
    type Value = pb::Cluster;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ClusterKey],
    ) -> Result<HashMap<ClusterKey, pb::Cluster>, Self::Error> {
        let list = unary(self.client.clone().get_clusters(ids(keys, |k| k.0))).await?;
        Ok(by_id(list.clusters, |c| &c.id, ClusterKey))
    }
}
