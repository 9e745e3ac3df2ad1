//! Batched lookups of rubrics, portfolios and scoring sessions by id, and
//! of a rubric's anchor papers.
//!
//! Rubrics, portfolios, sessions: the ids every resolver of one request asks
//! for within a tick go to the service in one `GetRubrics` /
//! `GetPortfolios` / `GetSessions` call (a page of 500 assignments asks for
//! their sessions once, and the sessions of a page share a handful of
//! rubrics). The service answers only with records of the caller's tenant
//! that the caller may see; an id it leaves out resolves to `null`.
//!
//! Anchor papers: the contract lists them one rubric at a time
//! (`ListAnchorPapers`), so a batch asks for each rubric once, at most
//! [`ANCHOR_CALLS_AT_ONCE`] calls in flight; the loader's cache still means
//! a rubric shared by many sessions of a page is asked for once.
//!
//! The loader is built per request with the caller's client (see
//! [`Scoring::for_caller`](super::Scoring::for_caller)), so its cache is
//! never shared between callers or tenants.

use std::collections::HashMap;

use collegium_proto::scoring::v1::{self as pb, GetByIdsRequest};
use futures::{StreamExt as _, TryStreamExt as _};
use uuid::Uuid;

use super::Client;
use crate::schema::convert::unary;

/// Ids per batch call, matching the services' largest page.
pub const MAX_BATCH: usize = platform::page::MAX_PAGE_SIZE as usize;

/// `ListAnchorPapers` calls one batch keeps in flight at once.
pub const ANCHOR_CALLS_AT_ONCE: usize = 8;

/// One loader, four key types: each key type is its own batch.
pub struct ScoringLoader {
    pub(super) client: Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RubricKey(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortfolioKey(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKey(pub Uuid);

/// The anchor papers of the rubric with this id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AnchorPapersKey(pub Uuid);

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

impl async_graphql::dataloader::Loader<RubricKey> for ScoringLoader {
    type Value = pb::Rubric;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[RubricKey],
    ) -> Result<HashMap<RubricKey, pb::Rubric>, Self::Error> {
        let list = unary(self.client.clone().get_rubrics(ids(keys, |k| k.0))).await?;
        Ok(by_id(list.rubrics, |r| &r.id, RubricKey))
    }
}

impl async_graphql::dataloader::Loader<PortfolioKey> for ScoringLoader {
    type Value = pb::Portfolio;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[PortfolioKey],
    ) -> Result<HashMap<PortfolioKey, pb::Portfolio>, Self::Error> {
        let list = unary(self.client.clone().get_portfolios(ids(keys, |k| k.0))).await?;
        Ok(by_id(list.portfolios, |p| &p.id, PortfolioKey))
    }
}

impl async_graphql::dataloader::Loader<SessionKey> for ScoringLoader {
    type Value = pb::ScoringSession;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[SessionKey],
    ) -> Result<HashMap<SessionKey, pb::ScoringSession>, Self::Error> {
        let list = unary(self.client.clone().get_sessions(ids(keys, |k| k.0))).await?;
        Ok(by_id(list.sessions, |s| &s.id, SessionKey))
    }
}

impl async_graphql::dataloader::Loader<AnchorPapersKey> for ScoringLoader {
    type Value = Vec<pb::AnchorPaper>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[AnchorPapersKey],
    ) -> Result<HashMap<AnchorPapersKey, Vec<pb::AnchorPaper>>, Self::Error> {
        futures::stream::iter(keys.iter().copied())
            .map(|key| {
                let mut client = self.client.clone();
                async move {
                    let list = unary(client.list_anchor_papers(pb::RubricRef {
                        rubric_id: key.0.to_string(),
                    }))
                    .await?;
                    Ok::<_, async_graphql::Error>((key, list.anchors))
                }
            })
            .buffer_unordered(ANCHOR_CALLS_AT_ONCE)
            .try_collect()
            .await
    }
}
