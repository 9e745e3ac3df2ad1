//! The production event bus: one Redis stream, read through consumer groups.
//!
//! Layout (every key carries the hash tag `{events}`, so the stream and its
//! dead-letter streams live in one Redis Cluster slot and can be touched by
//! one `MULTI` or script):
//!
//! - `<prefix>:{events}`: the log; each entry has one field, `event`, the
//!   JSON of an [`EventEnvelope`]. `XADD ... MAXLEN ~ n` bounds it.
//! - `<prefix>:{events}:dead:<group>`: entries a group gave up on, with the
//!   fields `event` (as read), `deliveries`, `source_id` and `reason`.
//!
//! A consumer is one task with a connection of its own (a blocking
//! `XREADGROUP` would stall every other command multiplexed on a shared
//! connection). It loops: `XREADGROUP ... BLOCK ~1s >` for new entries,
//! `XACK` after a handler returns `Ok`, and every `retry_after / 2` an
//! `XAUTOCLAIM` of entries idle longer than `retry_after`. That one mechanism
//! retries failed deliveries (they stay in the pending list) and rescues
//! entries held by a consumer that died or hangs. The delivery count Redis
//! keeps per pending entry (read with `XPENDING`) decides when an entry is
//! parked as dead. Redis failures are logged and retried with backoff; a
//! consumer never panics and never spins.

use std::{pin::Pin, sync::Arc, time::Duration};

use async_trait::async_trait;
use redis::{
    Client, RedisError, RedisResult,
    aio::{ConnectionManager, ConnectionManagerConfig},
    streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply},
};
use tokio::{sync::watch, time::Instant};
use uuid::Uuid;

use super::{
    DeadLetter, EventBus, EventEnvelope, EventHandler, SubscribeOptions, Subscription,
    memory::{handle, stop_requested},
};
use crate::error::{Error, Result};

/// Entries kept in the stream by default (approximate trimming).
pub const DEFAULT_MAX_LEN: usize = 1_000_000;
/// Entries fetched per `XREADGROUP` / `XAUTOCLAIM`.
const BATCH: usize = 64;
/// Longest `XREADGROUP ... BLOCK`; a consumer wakes at least this often.
const BLOCK: Duration = Duration::from_millis(1000);
/// `XAUTOCLAIM` pages handled per claim round before new entries get a turn.
const CLAIM_PAGES: usize = 8;
/// Page size when reading dead-letter streams.
const RANGE_PAGE: usize = 500;

// Removes a dead letter and appends its event to the log, atomically, so that
// two concurrent replays of one dead letter cannot both publish it.
// KEYS: dead stream, event stream; ARGV: dead entry id, event JSON, max len.
const REPLAY_SCRIPT: &str = r"
if redis.call('XDEL', KEYS[1], ARGV[1]) == 1 then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'event', ARGV[2])
end
return false
";

/// A Redis Streams [`EventBus`]. Cheap to clone.
#[derive(Clone)]
pub struct RedisBus {
    client: Client,
    /// Shared, multiplexed: publishing, group creation, dead letters, unblocking.
    conn: ConnectionManager,
    stream: String,
    max_len: usize,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("stream", &self.stream)
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: RedisError) -> Error {
    Error::Unavailable(format!("Redis: {e}"))
}

impl RedisBus {
    /// Connects to Redis at `url`; the stream is `<stream_prefix>:{events}`
    /// (e.g. `collegium:{events}`).
    pub async fn connect(url: &str, stream_prefix: &str) -> Result<Self> {
        if stream_prefix.is_empty() || stream_prefix.contains(['{', '}']) {
            // Braces in the prefix would replace our hash tag with another.
            return Err(Error::invalid(
                "stream_prefix",
                "must be non-empty and contain no braces",
            ));
        }
        let client = Client::open(url)
            .map_err(|e| Error::invalid("redis_url", format!("not a Redis URL: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot connect to Redis");
                unavailable(e)
            })?;
        Ok(Self {
            client,
            conn,
            stream: format!("{stream_prefix}:{{events}}"),
            max_len: DEFAULT_MAX_LEN,
        })
    }

    /// Keeps about `max_len` entries in the stream (and in each dead-letter
    /// stream). Trimming is approximate (`MAXLEN ~`), which Redis does cheaply.
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len.max(1);
        self
    }

    /// The key of the event stream.
    pub fn stream_key(&self) -> &str {
        &self.stream
    }

    /// The key of `group`'s dead-letter stream.
    pub fn dead_letter_key(&self, group: &str) -> String {
        format!("{}:dead:{group}", self.stream)
    }

    /// Reads every entry of `group`'s dead-letter stream, oldest first.
    async fn dead_entries(&self, group: &str) -> Result<Vec<StreamId>> {
        let key = self.dead_letter_key(group);
        let mut conn = self.conn.clone();
        let mut out = Vec::new();
        let mut start = "-".to_string();
        loop {
            let page: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                .arg(&key)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(RANGE_PAGE)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let full = page.ids.len() == RANGE_PAGE;
            if let Some(last) = page.ids.last() {
                start = format!("({}", last.id);
            }
            out.extend(page.ids);
            if !full {
                return Ok(out);
            }
        }
    }
}

async fn create_group(conn: &mut ConnectionManager, stream: &str, group: &str) -> RedisResult<()> {
    // `0`: a new group starts at the beginning of the retained stream, so
    // events published before the first subscriber are delivered.
    let created: RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// The raw `event` field of an entry.
fn event_field(entry: &StreamId) -> Option<Vec<u8>> {
    entry.get::<Vec<u8>>("event")
}

#[async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        // MULTI/EXEC: the batch lands whole and in order, or not at all.
        pipe.atomic();
        for event in events {
            let json = serde_json::to_string(event).map_err(Error::internal)?;
            pipe.cmd("XADD")
                .arg(&self.stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.max_len)
                .arg("*")
                .arg("event")
                .arg(json)
                .ignore();
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await.map_err(unavailable)
    }

    async fn subscribe(
        &self,
        options: SubscribeOptions,
        handler: Arc<dyn EventHandler>,
    ) -> Result<Subscription> {
        let mut conn = self.conn.clone();
        create_group(&mut conn, &self.stream, &options.group)
            .await
            .map_err(unavailable)?;
        // The blocking read must not time out on the client side first.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(BLOCK + Duration::from_secs(5)));
        let own = ConnectionManager::new_with_config(self.client.clone(), config)
            .await
            .map_err(unavailable)?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let consumer = Consumer {
            stream: self.stream.clone(),
            dead_key: self.dead_letter_key(&options.group),
            conn: own,
            control: self.conn.clone(),
            client_id: None,
            claim_cursor: "0-0".to_string(),
            max_len: self.max_len,
            options,
            handler,
        };
        let task = tokio::spawn(consumer.run(stop_rx));
        Ok(Subscription::new(stop_tx, task))
    }

    async fn dead_letters(&self, group: &str) -> Result<Vec<DeadLetter>> {
        let entries = self.dead_entries(group).await?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let event = event_field(&entry)
                .and_then(|raw| serde_json::from_slice::<EventEnvelope>(&raw).ok());
            match event {
                Some(event) => out.push(DeadLetter {
                    group: group.to_string(),
                    event,
                    deliveries: entry.get::<u32>("deliveries").unwrap_or(0),
                }),
                // A malformed entry has no envelope to show; it stays in the
                // stream for an operator to inspect with XRANGE.
                None => tracing::debug!(group, entry = %entry.id, "skipping malformed dead letter"),
            }
        }
        Ok(out)
    }

    async fn replay_dead_letter(&self, group: &str, event_id: Uuid) -> Result<()> {
        let entries = self.dead_entries(group).await?;
        let found = entries.into_iter().find_map(|entry| {
            let raw = event_field(&entry)?;
            let event: EventEnvelope = serde_json::from_slice(&raw).ok()?;
            (event.id == event_id).then_some((entry.id, raw))
        });
        let Some((entry_id, raw)) = found else {
            return Err(Error::not_found("dead letter"));
        };
        let mut conn = self.conn.clone();
        let added: Option<String> = redis::cmd("EVAL")
            .arg(REPLAY_SCRIPT)
            .arg(2)
            .arg(self.dead_letter_key(group))
            .arg(&self.stream)
            .arg(&entry_id)
            .arg(raw)
            .arg(self.max_len)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        match added {
            Some(_) => Ok(()),
            // Someone replayed (or deleted) it between our read and the script.
            None => Err(Error::not_found("dead letter")),
        }
    }
}

/// One consumer of a group: the state of its task.
struct Consumer {
    stream: String,
    dead_key: String,
    /// This consumer's own connection, used only by its task.
    conn: ConnectionManager,
    /// The bus' shared connection, to unblock our read on stop.
    control: ConnectionManager,
    /// `CLIENT ID` of `conn`'s current connection; forgotten after an error
    /// because the manager may have reconnected.
    client_id: Option<i64>,
    /// Where the next `XAUTOCLAIM` continues.
    claim_cursor: String,
    max_len: usize,
    options: SubscribeOptions,
    handler: Arc<dyn EventHandler>,
}

/// Where an entry came from: a first delivery or a reclaimed pending one.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    New,
    Claimed,
}

impl Consumer {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let claim_every = (self.options.retry_after / 2).max(Duration::from_millis(10));
        // Claim straight away: a restarted consumer picks up what it (under
        // the same name) or others left behind.
        let mut next_claim = Instant::now();
        let mut backoff = Duration::ZERO;
        while !*stop.borrow() {
            match self.step(&mut stop, &mut next_claim, claim_every).await {
                Ok(true) => backoff = Duration::ZERO,
                Ok(false) => break,
                Err(e) => {
                    backoff =
                        (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
                    tracing::warn!(error = %e, stream = %self.stream, group = %self.options.group,
                        consumer = %self.options.consumer, retry_in = ?backoff,
                        "event consumer: Redis error");
                    self.client_id = None;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop_requested(&mut stop) => break,
                    }
                    // The stream or group may have been deleted (NOGROUP);
                    // recreating is idempotent.
                    if let Err(e) =
                        create_group(&mut self.conn, &self.stream, &self.options.group).await
                    {
                        tracing::debug!(error = %e, "event consumer: cannot recreate group yet");
                    }
                }
            }
        }
    }

    /// One round: a claim if due, then one read. `Ok(false)` when stopped.
    async fn step(
        &mut self,
        stop: &mut watch::Receiver<bool>,
        next_claim: &mut Instant,
        claim_every: Duration,
    ) -> RedisResult<bool> {
        if Instant::now() >= *next_claim {
            self.claim_round().await?;
            *next_claim = Instant::now() + claim_every;
            if *stop.borrow() {
                return Ok(false);
            }
        }
        // Wake up in time for the next claim round.
        let block = next_claim
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(1), BLOCK);
        let (entries, stopped) = self.read_new(block, stop).await?;
        // Entries handed to us are handled even when a stop came in
        // meanwhile: Redis counts them as ours, and left alone they would
        // wait `retry_after` for another consumer to claim them.
        for entry in entries {
            self.process(entry, Source::New).await?;
        }
        Ok(!stopped)
    }

    /// `XREADGROUP ... >`; returns the entries and whether a stop came in.
    async fn read_new(
        &mut self,
        block: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> RedisResult<(Vec<StreamId>, bool)> {
        if *stop.borrow() {
            return Ok((Vec::new(), true));
        }
        if self.client_id.is_none() {
            self.client_id = Some(
                redis::cmd("CLIENT")
                    .arg("ID")
                    .query_async(&mut self.conn)
                    .await?,
            );
        }
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.options.group)
            .arg(&self.options.consumer)
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(">");
        let read = cmd.query_async::<Option<StreamReadReply>>(&mut conn);
        tokio::pin!(read);
        let (reply, stopped) = tokio::select! {
            reply = &mut read => (reply, false),
            _ = stop_requested(stop) => (self.unblock(read.as_mut()).await, true),
        };
        let entries = reply?
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default();
        Ok((entries, stopped))
    }

    /// Ends our blocked read early with `CLIENT UNBLOCK` and waits for it.
    /// The read is not simply dropped: Redis would still serve it and the
    /// entries would sit unhandled in our pending list until reclaimed.
    async fn unblock<F>(&self, mut read: Pin<&mut F>) -> F::Output
    where
        F: Future,
    {
        let Some(id) = self.client_id else {
            return read.await;
        };
        let mut control = self.control.clone();
        loop {
            let unblocked: RedisResult<i64> = redis::cmd("CLIENT")
                .arg("UNBLOCK")
                .arg(id)
                .query_async(&mut control)
                .await;
            if let Err(e) = unblocked {
                // E.g. an ACL without CLIENT: the read ends by itself within BLOCK.
                tracing::debug!(error = %e, "cannot unblock event consumer; waiting for its read");
                return read.await;
            }
            // Our read may not have reached Redis yet when UNBLOCK did; try again shortly.
            tokio::select! {
                out = read.as_mut() => return out,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }

    /// `XAUTOCLAIM`s entries idle longer than `retry_after` and handles them.
    async fn claim_round(&mut self) -> RedisResult<()> {
        for _ in 0..CLAIM_PAGES {
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(&self.stream)
                .arg(&self.options.group)
                .arg(&self.options.consumer)
                .arg(self.options.retry_after.as_millis() as u64)
                .arg(&self.claim_cursor)
                .arg("COUNT")
                .arg(BATCH)
                .query_async(&mut self.conn)
                .await?;
            self.claim_cursor = reply.next_stream_id;
            for entry in reply.claimed {
                self.process(entry, Source::Claimed).await?;
            }
            if self.claim_cursor == "0-0" {
                break;
            }
        }
        Ok(())
    }

    /// How often Redis has delivered a pending entry (extended `XPENDING`).
    async fn deliveries(&mut self, id: &str) -> RedisResult<Option<u32>> {
        let reply: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&self.stream)
            .arg(&self.options.group)
            .arg(id)
            .arg(id)
            .arg(1)
            .query_async(&mut self.conn)
            .await?;
        Ok(reply
            .ids
            .first()
            .map(|p| u32::try_from(p.times_delivered).unwrap_or(u32::MAX)))
    }

    async fn ack(&mut self, id: &str) -> RedisResult<()> {
        redis::cmd("XACK")
            .arg(&self.stream)
            .arg(&self.options.group)
            .arg(id)
            .query_async(&mut self.conn)
            .await
    }

    /// Moves an entry to the dead-letter stream and acknowledges it, atomically.
    async fn park(
        &mut self,
        id: &str,
        raw: &[u8],
        deliveries: u32,
        reason: &str,
    ) -> RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XADD")
            .arg(&self.dead_key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.max_len)
            .arg("*")
            .arg("event")
            .arg(raw)
            .arg("deliveries")
            .arg(deliveries)
            .arg("source_id")
            .arg(id)
            .arg("reason")
            .arg(reason)
            .ignore()
            .cmd("XACK")
            .arg(&self.stream)
            .arg(&self.options.group)
            .arg(id)
            .ignore();
        pipe.query_async(&mut self.conn).await
    }

    /// Handles one entry: ack on success, park once it has had its deliveries.
    async fn process(&mut self, entry: StreamId, source: Source) -> RedisResult<()> {
        let group = self.options.group.clone();
        let max = self.options.max_deliveries;
        let raw = event_field(&entry).unwrap_or_default();
        let Ok(event) = serde_json::from_slice::<EventEnvelope>(&raw) else {
            // Retrying cannot make it parse; park it at once.
            tracing::warn!(group, entry = %entry.id, "malformed event entry; parked as dead letter");
            let deliveries = self.deliveries(&entry.id).await?.unwrap_or(1);
            return self.park(&entry.id, &raw, deliveries, "malformed").await;
        };
        if source == Source::Claimed {
            let deliveries = self.deliveries(&entry.id).await?.unwrap_or(1);
            if deliveries > max {
                // Delivered `max` times without an answer (consumers hung or
                // crashed on it): do not hand it to another one.
                tracing::warn!(group, event_id = %event.id, deliveries,
                    "event was never acknowledged; parked as dead letter");
                return self
                    .park(&entry.id, &raw, deliveries, "unacknowledged")
                    .await;
            }
        }
        match handle(self.handler.as_ref(), &event).await {
            Ok(()) => self.ack(&entry.id).await,
            Err(e) => {
                let deliveries = self.deliveries(&entry.id).await?.unwrap_or(1);
                if deliveries >= max {
                    tracing::warn!(group, event_id = %event.id, event_type = %event.event_type,
                        deliveries, error = %e, "event handler failed for the last time; parked as dead letter");
                    self.park(&entry.id, &raw, deliveries, "handler failed")
                        .await
                } else {
                    // Left pending; a claim round hands it out again after retry_after.
                    tracing::warn!(group, event_id = %event.id, event_type = %event.event_type,
                        deliveries, error = %e, "event handler failed; will retry");
                    Ok(())
                }
            }
        }
    }
}
