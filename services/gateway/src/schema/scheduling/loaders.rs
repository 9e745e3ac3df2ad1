//! Batched lookups of events and venues by id.
//!
//! Events: the ids every resolver of one request asks for within a tick go
//! to the service in one `GetEvents` call (a page of 500 RSVPs asks for
//! their events once). The service answers only with events of the caller's
//! tenant that the caller may see; an id it leaves out resolves to `null`.
//!
//! Venues: the contract has no batch lookup of venues, and it needs none.
//! A tenant has few venues (a district's schools and halls, an awarding
//! body's centres), so the [`VenueDirectory`] pages through `ListVenues`
//! just far enough to find the venues asked for, and remembers what it has
//! seen for the rest of the request: a page of 500 events at a dozen venues
//! costs one `ListVenues` call. Paging stops at [`MAX_VENUE_PAGES`]; a venue
//! beyond it resolves to `null` (and `Event.venueId` still names it).
//!
//! The loader is built per request with the caller's client (see
//! [`Scheduling::for_caller`](super::Scheduling::for_caller)), so nothing it
//! holds is ever shared between callers or tenants. On a WebSocket
//! connection, which lives far longer than a request, it only batches: the
//! directory starts afresh with each batch.

use std::collections::HashMap;

use collegium_proto::{
    common::v1::PageRequest,
    scheduling::v1::{self as pb, GetByIdsRequest},
};
use platform::page::MAX_PAGE_SIZE;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::Client;
use crate::schema::convert::unary;

/// Ids per batch call, matching the services' largest page.
pub const MAX_BATCH: usize = MAX_PAGE_SIZE as usize;

/// `ListVenues` pages one request reads at most (500 venues each).
pub const MAX_VENUE_PAGES: usize = 20;

/// One loader, two key types: each key type is its own batch.
pub struct SchedulingLoader {
    client: Client,
    venues: Mutex<VenueDirectory>,
    /// Keep the venue directory between batches (one HTTP request) or not
    /// (a WebSocket connection).
    remember: bool,
}

impl SchedulingLoader {
    pub fn new(client: Client, remember: bool) -> Self {
        Self {
            client,
            venues: Mutex::new(VenueDirectory::default()),
            remember,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventKey(pub Uuid);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VenueKey(pub Uuid);

impl async_graphql::dataloader::Loader<EventKey> for SchedulingLoader {
    type Value = pb::Event;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[EventKey]) -> Result<HashMap<EventKey, pb::Event>, Self::Error> {
        let request = GetByIdsRequest {
            ids: keys.iter().map(|k| k.0.to_string()).collect(),
        };
        let list = unary(self.client.clone().get_events(request)).await?;
        // An event whose id does not parse cannot have been asked for.
        Ok(list
            .events
            .into_iter()
            .filter_map(|e| Some((EventKey(Uuid::parse_str(&e.id).ok()?), e)))
            .collect())
    }
}

impl async_graphql::dataloader::Loader<VenueKey> for SchedulingLoader {
    type Value = pb::Venue;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[VenueKey]) -> Result<HashMap<VenueKey, pb::Venue>, Self::Error> {
        let mut directory = self.venues.lock().await;
        if !self.remember {
            *directory = VenueDirectory::default();
        }
        let wanted: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        directory
            .find(&wanted, |page_token| {
                let mut client = self.client.clone();
                async move {
                    unary(client.list_venues(pb::ListVenuesRequest {
                        page: Some(PageRequest {
                            page_size: MAX_PAGE_SIZE,
                            page_token,
                        }),
                    }))
                    .await
                }
            })
            .await?;
        Ok(keys
            .iter()
            .filter_map(|k| Some((*k, directory.known.get(&k.0)?.clone())))
            .collect())
    }
}

/// The caller's venues read so far, and where reading stopped.
#[derive(Debug, Default)]
pub struct VenueDirectory {
    known: HashMap<Uuid, pb::Venue>,
    /// The token of the next page; empty before the first.
    next_page: String,
    pages_read: usize,
    /// The last page has been read (or the page limit reached).
    complete: bool,
}

impl VenueDirectory {
    /// Reads further pages, from where the last call stopped, until every
    /// venue in `wanted` is known or there is nothing more to read.
    async fn find<F, Fut>(&mut self, wanted: &[Uuid], mut list: F) -> async_graphql::Result<()>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = async_graphql::Result<pb::VenuePage>>,
    {
        while !self.complete && wanted.iter().any(|id| !self.known.contains_key(id)) {
            if self.pages_read == MAX_VENUE_PAGES {
                tracing::warn!(
                    pages = self.pages_read,
                    "venue directory too long; venues beyond it resolve to null"
                );
                self.complete = true;
                break;
            }
            let page = list(self.next_page.clone()).await?;
            self.pages_read += 1;
            self.known.extend(
                page.venues
                    .into_iter()
                    .filter_map(|v| Some((Uuid::parse_str(&v.id).ok()?, v))),
            );
            self.next_page = page.page.map(|p| p.next_page_token).unwrap_or_default();
            self.complete = self.next_page.is_empty();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use collegium_proto::common::v1::PageInfo;

    use super::*;

    fn venue(id: Uuid) -> pb::Venue {
        pb::Venue {
            id: id.to_string(),
            name: format!("venue {id}"),
            ..Default::default()
        }
    }

    /// A tenant with `pages` pages of two venues each, listed by the fake.
    fn tenant(pages: usize) -> Vec<Vec<Uuid>> {
        (0..pages)
            .map(|_| vec![Uuid::now_v7(), Uuid::now_v7()])
            .collect()
    }

    fn page(tenant: &[Vec<Uuid>], token: &str) -> pb::VenuePage {
        let n: usize = if token.is_empty() {
            0
        } else {
            token.parse().unwrap()
        };
        let next = if n + 1 < tenant.len() {
            (n + 1).to_string()
        } else {
            String::new()
        };
        pb::VenuePage {
            venues: tenant[n].iter().copied().map(venue).collect(),
            page: Some(PageInfo {
                next_page_token: next,
            }),
        }
    }

    #[tokio::test]
    async fn the_directory_reads_only_as_far_as_it_must_and_remembers() {
        let tenant = tenant(3);
        let calls = AtomicUsize::new(0);
        let list = |token: String| {
            calls.fetch_add(1, Ordering::SeqCst);
            let p = page(&tenant, &token);
            async move { Ok(p) }
        };
        let mut directory = VenueDirectory::default();
        directory.find(&[tenant[1][0]], list).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(!directory.complete);
        // Known already: no call.
        directory
            .find(&[tenant[0][1], tenant[1][1]], list)
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Resumes at page 3, then knows everything.
        directory.find(&[tenant[2][0]], list).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(directory.complete);
        // A venue that does not exist costs nothing once complete.
        directory.find(&[Uuid::now_v7()], list).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(directory.known.len(), 6);
    }

    #[tokio::test]
    async fn the_directory_stops_at_the_page_limit() {
        let tenant = tenant(MAX_VENUE_PAGES + 5);
        let calls = AtomicUsize::new(0);
        let list = |token: String| {
            calls.fetch_add(1, Ordering::SeqCst);
            let p = page(&tenant, &token);
            async move { Ok(p) }
        };
        let mut directory = VenueDirectory::default();
        directory.find(&[Uuid::now_v7()], list).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), MAX_VENUE_PAGES);
        assert!(directory.complete);
    }

    #[tokio::test]
    async fn a_failed_page_is_retried_by_the_next_batch() {
        let tenant = tenant(2);
        let mut directory = VenueDirectory::default();
        let err = directory
            .find(&[tenant[1][0]], |_| async {
                Err(async_graphql::Error::new("down"))
            })
            .await;
        assert!(err.is_err());
        directory
            .find(&[tenant[1][0]], |token: String| {
                let p = page(&tenant, &token);
                async move { Ok(p) }
            })
            .await
            .unwrap();
        assert!(directory.known.contains_key(&tenant[1][0]));
    }
}
