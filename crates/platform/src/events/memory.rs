//! The in-process event bus of the embedded single-node mode (`collegium dev`).
//!
//! It mirrors what [`super::redis::RedisBus`] does with Redis Streams, so that
//! a service behaves the same in `collegium dev` as in production and one
//! contract suite (`tests/bus_contract.rs`) holds for both:
//!
//! - an append-only log (trimmed to a maximum length, like `XADD MAXLEN`);
//! - a consumer group is created at the start of the retained log when its
//!   first consumer subscribes, and has its own cursor (`last-delivered-id`);
//! - each entry goes to one consumer of the group and stays *pending* (the
//!   Redis PEL) until its handler returns `Ok`;
//! - a pending entry not acknowledged `retry_after` after its last delivery is
//!   handed to whichever consumer of the group asks next (`XAUTOCLAIM`), so a
//!   failed or stalled delivery is retried, possibly elsewhere;
//! - after `max_deliveries` failed deliveries the entry moves to the group's
//!   dead-letter list, from which it can be replayed.
//!
//! Waiting is event-driven: consumers sleep on a [`Notify`] (new entries) or
//! until the earliest pending deadline (retries), never poll.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use async_trait::async_trait;
use futures::FutureExt;
use tokio::{
    sync::{Notify, watch},
    time::Instant,
};
use uuid::Uuid;

use super::{DeadLetter, EventBus, EventEnvelope, EventHandler, SubscribeOptions, Subscription};
use crate::error::{Error, Result};

/// Entries kept in the log by default. Smaller than Redis' default because
/// it lives in the process' heap; a dev instance never comes near it.
pub const DEFAULT_MAX_LEN: usize = 100_000;

/// An in-process [`EventBus`]. Cheap to clone; clones share one log.
#[derive(Clone)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

struct Inner {
    // A std mutex, not tokio's: it is only held for short bookkeeping and
    // never across an `.await`, which is what tokio recommends for that case.
    state: Mutex<State>,
    /// Woken whenever entries are appended (publish, replay).
    appended: Notify,
    max_len: usize,
}

#[derive(Default)]
struct State {
    /// The retained log; `log[i]` has sequence number `first_seq + i`.
    log: VecDeque<Arc<EventEnvelope>>,
    first_seq: u64,
    groups: HashMap<String, Group>,
}

#[derive(Default)]
struct Group {
    /// Sequence number of the next never-delivered entry.
    next_seq: u64,
    /// Delivered, not yet acknowledged entries, by sequence number.
    pending: BTreeMap<u64, Pending>,
    dead: Vec<DeadLetter>,
}

struct Pending {
    // Held here (not only in the log) so trimming the log cannot lose an
    // entry that a consumer is still responsible for.
    event: Arc<EventEnvelope>,
    deliveries: u32,
    /// When the entry may be handed to a consumer again.
    redeliver_at: Instant,
}

/// What a consumer should do next.
enum Next {
    Handle {
        seq: u64,
        event: Arc<EventEnvelope>,
        deliveries: u32,
    },
    /// Nothing to do; wake up on an append or at the given instant.
    Wait(Option<Instant>),
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_LEN)
    }

    /// A bus whose log keeps at most `max_len` entries (oldest dropped first).
    pub fn with_max_len(max_len: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                appended: Notify::new(),
                max_len: max_len.max(1),
            }),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the bookkeeping half
        // done in a way that matters more than stopping every consumer would.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn append(&self, events: impl IntoIterator<Item = EventEnvelope>) {
        {
            let mut state = self.lock();
            for event in events {
                state.log.push_back(Arc::new(event));
            }
            while state.log.len() > self.max_len {
                state.log.pop_front();
                state.first_seq += 1;
            }
        }
        self.appended.notify_waiters();
    }

    /// Picks the next entry for a consumer of `group`: first a pending entry
    /// whose retry time has come (lowest sequence first), else the next new one.
    fn next(&self, group: &str, retry_after: Duration) -> Next {
        let now = Instant::now();
        let mut state = self.lock();
        let State {
            log,
            first_seq,
            groups,
        } = &mut *state;
        let Some(g) = groups.get_mut(group) else {
            return Next::Wait(None);
        };
        if let Some((&seq, p)) = g.pending.iter_mut().find(|(_, p)| p.redeliver_at <= now) {
            p.deliveries += 1;
            p.redeliver_at = now + retry_after;
            return Next::Handle {
                seq,
                event: p.event.clone(),
                deliveries: p.deliveries,
            };
        }
        // Entries trimmed away before this group read them are lost to it,
        // as with a Redis stream trimmed past a group's cursor.
        g.next_seq = g.next_seq.max(*first_seq);
        let end = *first_seq + log.len() as u64;
        if g.next_seq < end {
            let seq = g.next_seq;
            let event = log[(seq - *first_seq) as usize].clone();
            g.next_seq += 1;
            g.pending.insert(
                seq,
                Pending {
                    event: event.clone(),
                    deliveries: 1,
                    redeliver_at: now + retry_after,
                },
            );
            return Next::Handle {
                seq,
                event,
                deliveries: 1,
            };
        }
        Next::Wait(g.pending.values().map(|p| p.redeliver_at).min())
    }

    /// Acknowledges an entry (idempotent: another consumer may have done it).
    fn ack(&self, group: &str, seq: u64) {
        if let Some(g) = self.lock().groups.get_mut(group) {
            g.pending.remove(&seq);
        }
    }

    /// Moves a pending entry to the group's dead letters.
    fn park(&self, group: &str, seq: u64, deliveries: u32) {
        let mut state = self.lock();
        if let Some(g) = state.groups.get_mut(group)
            && let Some(p) = g.pending.remove(&seq)
        {
            g.dead.push(DeadLetter {
                group: group.to_string(),
                event: (*p.event).clone(),
                deliveries,
            });
        }
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<()> {
        self.inner.append(events.iter().cloned());
        Ok(())
    }

    async fn subscribe(
        &self,
        options: SubscribeOptions,
        handler: Arc<dyn EventHandler>,
    ) -> Result<Subscription> {
        {
            let mut state = self.inner.lock();
            let first_seq = state.first_seq;
            // A new group starts at the beginning of the retained log
            // (`XGROUP CREATE ... 0`), so nothing published earlier is lost.
            state
                .groups
                .entry(options.group.clone())
                .or_insert_with(|| Group {
                    next_seq: first_seq,
                    ..Group::default()
                });
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(consume(self.inner.clone(), options, handler, stop_rx));
        Ok(Subscription::new(stop_tx, task))
    }

    async fn dead_letters(&self, group: &str) -> Result<Vec<DeadLetter>> {
        Ok(self
            .inner
            .lock()
            .groups
            .get(group)
            .map(|g| g.dead.clone())
            .unwrap_or_default())
    }

    async fn replay_dead_letter(&self, group: &str, event_id: Uuid) -> Result<()> {
        let event = {
            let mut state = self.inner.lock();
            let dead = state.groups.get_mut(group).map(|g| &mut g.dead);
            let Some(dead) = dead else {
                return Err(Error::not_found("dead letter"));
            };
            let Some(i) = dead.iter().position(|d| d.event.id == event_id) else {
                return Err(Error::not_found("dead letter"));
            };
            dead.remove(i).event
        };
        self.inner.append([event]);
        Ok(())
    }
}

/// One consumer's loop.
async fn consume(
    inner: Arc<Inner>,
    options: SubscribeOptions,
    handler: Arc<dyn EventHandler>,
    mut stop: watch::Receiver<bool>,
) {
    let group = options.group.as_str();
    loop {
        if *stop.borrow() {
            return;
        }
        // Register interest before looking at the state, so an append that
        // happens between the look and the wait still wakes us.
        let appended = inner.appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();

        match inner.next(group, options.retry_after) {
            Next::Handle {
                seq,
                event,
                deliveries,
            } => {
                if deliveries > options.max_deliveries {
                    // Only reachable when earlier deliveries never finished
                    // (a stalled or crashed handler): stop offering it.
                    tracing::warn!(group, event_id = %event.id, deliveries,
                        "event was never acknowledged; parked as dead letter");
                    inner.park(group, seq, deliveries);
                    continue;
                }
                match handle(handler.as_ref(), &event).await {
                    Ok(()) => inner.ack(group, seq),
                    Err(e) if deliveries >= options.max_deliveries => {
                        tracing::warn!(group, event_id = %event.id, event_type = %event.event_type,
                            deliveries, error = %e, "event handler failed for the last time; parked as dead letter");
                        inner.park(group, seq, deliveries);
                    }
                    Err(e) => {
                        // Left pending: `next` hands it out again after retry_after.
                        tracing::warn!(group, event_id = %event.id, event_type = %event.event_type,
                            deliveries, error = %e, "event handler failed; will retry");
                    }
                }
            }
            Next::Wait(until) => {
                let retry = async {
                    match until {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = &mut appended => {}
                    _ = retry => {}
                    _ = stop_requested(&mut stop) => return,
                }
            }
        }
    }
}

/// Resolves once a stop was requested. A dropped [`Subscription`] (sender
/// gone) never resolves it: dropping a subscription does not stop it.
pub(super) async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs a handler, turning a panic into an error so one bad event cannot
/// kill the consumer (the event is retried and eventually parked instead).
pub(super) async fn handle(handler: &dyn EventHandler, event: &EventEnvelope) -> Result<()> {
    match AssertUnwindSafe(handler.handle(event)).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(Error::internal(anyhow::anyhow!(
            "event handler panicked on {}",
            event.id
        ))),
    }
}
