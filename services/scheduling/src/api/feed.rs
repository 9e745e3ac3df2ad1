//! Calendar feeds: the secret feed token, and the service that renders a
//! person's feed for whoever holds the token (no bearer token: calendar
//! applications cannot send one).
//!
//! A token reads `<tenant uuid>.<feed uuid>.<secret>`, the secret being 32
//! random bytes in base64url. Only the SHA-256 of the secret is stored, so
//! the token is shown once, when it is created; a leaked database does not
//! leak feeds. Every failure to render — malformed, unknown, revoked, wrong
//! secret — is the same NOT_FOUND, so a guesser learns nothing.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{Duration, Utc};
use collegium_proto::scheduling::v1 as pb;
use platform::{
    auth::TenantId,
    error::{Error, Result},
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::{self, EventStatus},
    store::SchedulingStore,
};

/// How far back a feed reaches.
pub const FEED_HISTORY_DAYS: i64 = 90;

/// A new token for `feed` and the hash to store.
pub fn new_token(tenant: TenantId, feed: Uuid) -> (String, String) {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let hash = secret_hash(&secret);
    (format!("{tenant}.{feed}.{secret}"), hash)
}

/// SHA-256 (hex) of the secret part of a token.
pub fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares in time independent of where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The tenant, feed and secret of a well-formed token.
fn parse_token(token: &str) -> Option<(TenantId, Uuid, &str)> {
    let mut parts = token.trim().splitn(3, '.');
    let tenant = Uuid::parse_str(parts.next()?).ok()?;
    let feed = Uuid::parse_str(parts.next()?).ok()?;
    let secret = parts.next()?;
    (secret.len() == 43).then_some((TenantId(tenant), feed, secret))
}

/// Events for a calendar document: each series whole (so RRULE, EXDATE and
/// the edited occurrences agree), drafts left out, with their venues.
pub async fn calendar(
    store: &dyn SchedulingStore,
    t: TenantId,
    name: &str,
    events: Vec<domain::Event>,
) -> Result<String> {
    // Every series in one read (a feed may hold many), grouped by series
    // with each in start order.
    let series_ids: Vec<Uuid> = events
        .iter()
        .filter_map(|e| e.series_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut occurrences: HashMap<Uuid, Vec<domain::Event>> = HashMap::new();
    if !series_ids.is_empty() {
        for o in store.series_occurrences(t, &series_ids).await? {
            if let Some(s) = o.series_id {
                occurrences.entry(s).or_default().push(o);
            }
        }
    }
    let mut out = Vec::with_capacity(events.len());
    let mut seen_series = HashSet::new();
    let mut seen_events = HashSet::new();
    for e in events {
        match e.series_id {
            Some(s) => {
                if seen_series.insert(s) {
                    for o in occurrences.remove(&s).unwrap_or_default() {
                        if o.status != EventStatus::Draft && seen_events.insert(o.id) {
                            out.push(o);
                        }
                    }
                }
            }
            None => {
                if e.status != EventStatus::Draft && seen_events.insert(e.id) {
                    out.push(e);
                }
            }
        }
    }
    let venue_ids: Vec<Uuid> = out
        .iter()
        .filter_map(|e| e.venue_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let venues: HashMap<Uuid, domain::Venue> = if venue_ids.is_empty() {
        HashMap::new()
    } else {
        store
            .get_venues(t, &venue_ids)
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect()
    };
    Ok(domain::ical::calendar(name, &out, &venues))
}

/// `CalendarFeedService`: served without the Authenticate interceptor.
#[derive(Clone)]
pub struct CalendarFeedApi {
    store: Arc<dyn SchedulingStore>,
}

impl CalendarFeedApi {
    pub fn new(store: Arc<dyn SchedulingStore>) -> Self {
        Self { store }
    }

    async fn render(&self, token: &str) -> Result<pb::IcsDocument> {
        let not_found = || Error::not_found("calendar feed");
        let (t, feed_id, secret) = parse_token(token).ok_or_else(not_found)?;
        let feed = self
            .store
            .get_feed(t, feed_id)
            .await
            .map_err(|e| match e {
                // Another tenant's id or a tenant that does not exist.
                Error::NotFound(_) => not_found(),
                e => e,
            })?
            .ok_or_else(not_found)?;
        if feed.revoked_at.is_some()
            || !constant_time_eq(secret_hash(secret).as_bytes(), feed.secret_hash.as_bytes())
        {
            return Err(not_found());
        }
        let from = Utc::now() - Duration::days(FEED_HISTORY_DAYS);
        let events = self.store.calendar_events(t, feed.person_id, from).await?;
        let ics = calendar(self.store.as_ref(), t, "Collegium", events).await?;
        Ok(pb::IcsDocument {
            file_name: "collegium.ics".to_string(),
            ics,
        })
    }
}

#[tonic::async_trait]
impl pb::calendar_feed_service_server::CalendarFeedService for CalendarFeedApi {
    #[tracing::instrument(skip_all)]
    async fn render_feed(
        &self,
        req: Request<pb::RenderFeedRequest>,
    ) -> Result<Response<pb::IcsDocument>, Status> {
        let token = req.into_inner().token;
        self.render(&token)
            .await
            .map(Response::new)
            .map_err(Error::into_status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_back_and_only_their_secret_matches_the_hash() {
        let (t, f) = (TenantId::new_v7(), Uuid::now_v7());
        let (token, hash) = new_token(t, f);
        let (t2, f2, secret) = parse_token(&token).unwrap();
        assert_eq!((t2, f2), (t, f));
        assert!(constant_time_eq(
            secret_hash(secret).as_bytes(),
            hash.as_bytes()
        ));
        let (other, _) = new_token(t, f);
        let (_, _, other_secret) = parse_token(&other).unwrap();
        assert!(!constant_time_eq(
            secret_hash(other_secret).as_bytes(),
            hash.as_bytes()
        ));
        assert!(parse_token("x.y.z").is_none());
        assert!(parse_token(&format!("{t}.{f}")).is_none());
    }
}
