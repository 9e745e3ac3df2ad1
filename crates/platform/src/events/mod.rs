//! Domain events: the transactional outbox and the event bus.
//!
//! A service writes its events into its own `outbox` table in the same
//! transaction as the change ([`TenantTxExt::emit`]), so an event exists if and
//! only if the change committed. The [`relay`] publishes outbox rows to the
//! [`EventBus`] (at-least-once) and marks them published. Consumers get every
//! event at least once and must be idempotent by [`EventEnvelope::id`].
//!
//! Two bus implementations share one contract (see `tests/bus_contract.rs`):
//! [`redis::RedisBus`] (Redis Streams with consumer groups, acks and
//! `XAUTOCLAIM` of stalled messages; production) and [`memory::MemoryBus`]
//! (in-process; `collegium dev`).

pub mod memory;
pub mod redis;
pub mod relay;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{auth::TenantId, error::Result};

/// One domain event, as stored in the outbox and carried on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// UUIDv7; consumers deduplicate on it.
    pub id: Uuid,
    pub tenant: TenantId,
    /// `<service>.<entity>.<verb>`, e.g. `membership.person.created`.
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

impl EventEnvelope {
    pub fn new(
        tenant: TenantId,
        event_type: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            tenant,
            event_type: event_type.into(),
            occurred_at: Utc::now(),
            payload,
        }
    }
}

/// Handles one delivered event. An `Err` leaves the event unacknowledged so it
/// is delivered again (after [`SubscribeOptions::retry_after`]); after
/// [`SubscribeOptions::max_deliveries`] attempts it is parked as dead.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, event: &EventEnvelope) -> Result<()>;
}

/// How a consumer group reads.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    /// Consumer group; every group gets every event once (in effect).
    pub group: String,
    /// This consumer's name inside the group (e.g. the pod name).
    pub consumer: String,
    /// An unacknowledged delivery older than this is given to another consumer.
    pub retry_after: Duration,
    /// Deliveries before an event is parked in the dead-letter list.
    pub max_deliveries: u32,
}

impl SubscribeOptions {
    pub fn new(group: impl Into<String>, consumer: impl Into<String>) -> Self {
        Self {
            group: group.into(),
            consumer: consumer.into(),
            retry_after: Duration::from_secs(30),
            max_deliveries: 10,
        }
    }
}

/// An event parked after too many failed deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub group: String,
    pub event: EventEnvelope,
    pub deliveries: u32,
}

/// A running subscription; dropping it does not stop it, [`Subscription::stop`] does.
pub struct Subscription {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscription {
    pub fn new(stop: tokio::sync::watch::Sender<bool>, task: tokio::task::JoinHandle<()>) -> Self {
        Self { stop, task }
    }

    /// Stops reading and waits for the event in hand to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Publishes events and runs consumer groups.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Appends events to the bus, in order.
    async fn publish(&self, events: &[EventEnvelope]) -> Result<()>;

    /// Starts a consumer in `options.group`. A group created now reads from
    /// the start of the retained log, so events published before the first
    /// subscription are not lost.
    async fn subscribe(
        &self,
        options: SubscribeOptions,
        handler: Arc<dyn EventHandler>,
    ) -> Result<Subscription>;

    /// Events of `group` parked after too many failed deliveries.
    async fn dead_letters(&self, group: &str) -> Result<Vec<DeadLetter>>;

    /// Publishes a parked event again (every group sees it; the others
    /// deduplicate by id) and removes it from `group`'s list.
    async fn replay_dead_letter(&self, group: &str, event_id: Uuid) -> Result<()>;
}
