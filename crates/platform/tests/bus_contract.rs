//! The event bus contract, written once and run against both buses:
//! [`MemoryBus`] (`collegium dev`) and [`RedisBus`] (production, against the
//! test Redis). Each Redis test uses a stream prefix of its own, so tests run
//! in parallel without seeing each other's events; its keys are deleted at
//! the end.
//!
//! Every wait is bounded ([`WAIT`]); the few fixed sleeps give a bus the
//! chance to show a duplicate or late delivery that must not happen, and are
//! kept to a small multiple of the retry interval in play.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use collegium_platform::{
    Error, Result,
    auth::TenantId,
    events::{
        DeadLetter, EventBus, EventEnvelope, EventHandler, SubscribeOptions, memory::MemoryBus,
        redis::RedisBus,
    },
};
use tokio::{
    sync::{Notify, Semaphore},
    time::{Instant, sleep, timeout},
};
use uuid::Uuid;

/// Longest any expected delivery may take.
const WAIT: Duration = Duration::from_secs(10);
/// Retry interval of the tests that exercise retries.
const RETRY: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------
// Harness

/// A bus for one test, plus whatever must be cleaned up after it.
struct Harness {
    bus: Arc<dyn EventBus>,
    _keys: Option<RedisKeys>,
}

fn memory() -> Harness {
    Harness {
        bus: Arc::new(MemoryBus::new()),
        _keys: None,
    }
}

async fn redis() -> Harness {
    testkit::init_tracing();
    let prefix = testkit::unique("bustest");
    let bus = RedisBus::connect(&testkit::redis_url(), &prefix)
        .await
        .expect("test Redis is reachable");
    Harness {
        bus: Arc::new(bus),
        _keys: Some(RedisKeys(prefix)),
    }
}

/// Deletes a test's Redis keys when dropped, also when the test failed.
struct RedisKeys(String);

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(testkit::redis_url()) else {
            return;
        };
        let Ok(mut conn) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

fn events(n: usize) -> Vec<EventEnvelope> {
    let tenant = TenantId::new_v7();
    (0..n)
        .map(|i| EventEnvelope::new(tenant, "test.thing.happened", serde_json::json!({ "n": i })))
        .collect()
}

fn ids(events: &[EventEnvelope]) -> Vec<Uuid> {
    events.iter().map(|e| e.id).collect()
}

fn options(group: &str, consumer: &str, retry_after: Duration, max: u32) -> SubscribeOptions {
    let mut o = SubscribeOptions::new(group, consumer);
    o.retry_after = retry_after;
    o.max_deliveries = max;
    o
}

/// Options that never retry within a test: a duplicate is then a bug.
fn plain(group: &str, consumer: &str) -> SubscribeOptions {
    SubscribeOptions::new(group, consumer)
}

/// A handler that records every call and fails when told to.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Calls>,
    changed: Notify,
    /// Fail the first N attempts of these events.
    fail_first: HashMap<Uuid, u32>,
    /// Time each call takes (to let several consumers interleave).
    delay: Duration,
}

#[derive(Default, Debug, Clone)]
struct Calls {
    attempts: HashMap<Uuid, u32>,
    /// Events acknowledged (handler returned Ok), in order.
    acked: Vec<Uuid>,
    first_attempt: HashMap<Uuid, Instant>,
    acked_at: HashMap<Uuid, Instant>,
}

impl Calls {
    fn acked_set(&self) -> BTreeSet<Uuid> {
        self.acked.iter().copied().collect()
    }

    fn attempts(&self, id: Uuid) -> u32 {
        self.attempts.get(&id).copied().unwrap_or(0)
    }
}

impl Recorder {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn failing_first(plan: &[(Uuid, u32)]) -> Arc<Self> {
        Arc::new(Self {
            fail_first: plan.iter().copied().collect(),
            ..Self::default()
        })
    }

    fn slow(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            delay,
            ..Self::default()
        })
    }

    fn calls(&self) -> Calls {
        self.calls.lock().unwrap().clone()
    }

    /// Waits (at most [`WAIT`]) until `done` holds for the recorded calls.
    async fn wait_until(&self, what: &str, done: impl Fn(&Calls) -> bool) {
        let waited = timeout(WAIT, async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if done(&self.calls.lock().unwrap()) {
                    return;
                }
                changed.await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "timed out waiting for {what}; calls so far: {:?}",
            self.calls()
        );
    }
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        if !self.delay.is_zero() {
            sleep(self.delay).await;
        }
        let ok = {
            let mut calls = self.calls.lock().unwrap();
            let now = Instant::now();
            calls.first_attempt.entry(event.id).or_insert(now);
            let n = calls.attempts.entry(event.id).or_default();
            *n += 1;
            let ok = *n > self.fail_first.get(&event.id).copied().unwrap_or(0);
            if ok {
                calls.acked.push(event.id);
                calls.acked_at.insert(event.id, now);
            }
            ok
        };
        self.changed.notify_waiters();
        if ok {
            Ok(())
        } else {
            Err(Error::Unavailable("failing on purpose".into()))
        }
    }
}

/// A handler that never finishes until released, like a consumer that hung
/// or died holding its message.
struct Stuck {
    started: Notify,
    release: Semaphore,
}

impl Stuck {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Notify::new(),
            release: Semaphore::new(0),
        })
    }
}

#[async_trait]
impl EventHandler for Stuck {
    async fn handle(&self, _event: &EventEnvelope) -> Result<()> {
        self.started.notify_one();
        let _permit = self.release.acquire().await;
        Ok(())
    }
}

/// Polls `done` until it holds (at most [`WAIT`]); for conditions spanning
/// several handlers, whose changes no single notifier reports.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let waited = timeout(WAIT, async {
        while !done() {
            sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

async fn wait_for_dead_letters(bus: &dyn EventBus, group: &str, n: usize) -> Vec<DeadLetter> {
    timeout(WAIT, async {
        loop {
            let dead = bus
                .dead_letters(group)
                .await
                .expect("dead letters readable");
            if dead.len() >= n {
                return dead;
            }
            sleep(Duration::from_millis(25)).await;
        }
    })
    .await
    .expect("event parked as dead letter in time")
}

// ---------------------------------------------------------------------------
// The contract

/// Each group reads the whole log, in publish order, exactly once.
async fn every_group_gets_every_event(bus: Arc<dyn EventBus>) {
    let (a, b) = (Recorder::new(), Recorder::new());
    let sa = bus
        .subscribe(plain("group-a", "c1"), a.clone())
        .await
        .unwrap();
    let sb = bus
        .subscribe(plain("group-b", "c1"), b.clone())
        .await
        .unwrap();
    let evs = events(10);
    bus.publish(&evs).await.unwrap();

    let all: BTreeSet<Uuid> = ids(&evs).into_iter().collect();
    a.wait_until("group a to get every event", |c| c.acked_set() == all)
        .await;
    b.wait_until("group b to get every event", |c| c.acked_set() == all)
        .await;
    sleep(Duration::from_millis(200)).await; // room for a wrong duplicate
    assert_eq!(a.calls().acked, ids(&evs), "group a: once each, in order");
    assert_eq!(b.calls().acked, ids(&evs), "group b: once each, in order");
    sa.stop().await;
    sb.stop().await;
}

/// Two consumers of one group split the events: each goes to one of them.
async fn consumers_of_a_group_share_the_work(bus: Arc<dyn EventBus>) {
    let (a, b) = (
        Recorder::slow(Duration::from_millis(2)),
        Recorder::slow(Duration::from_millis(2)),
    );
    let sa = bus
        .subscribe(plain("workers", "c1"), a.clone())
        .await
        .unwrap();
    let sb = bus
        .subscribe(plain("workers", "c2"), b.clone())
        .await
        .unwrap();
    let evs = events(100);
    bus.publish(&evs).await.unwrap();

    let all: BTreeSet<Uuid> = ids(&evs).into_iter().collect();
    let union = |x: &Calls, y: &Calls| -> BTreeSet<Uuid> {
        x.acked_set().union(&y.acked_set()).copied().collect()
    };
    eventually("all events handled by the group", || {
        union(&a.calls(), &b.calls()) == all
    })
    .await;
    sleep(Duration::from_millis(200)).await;
    let (ca, cb) = (a.calls(), b.calls());
    assert_eq!(
        ca.acked.len() + cb.acked.len(),
        100,
        "no event handled twice"
    );
    assert!(
        ca.acked_set().is_disjoint(&cb.acked_set()),
        "no event handled by both"
    );
    assert_eq!(union(&ca, &cb), all);
    assert!(
        !ca.acked.is_empty() && !cb.acked.is_empty(),
        "both consumers got work: {} / {}",
        ca.acked.len(),
        cb.acked.len()
    );
    sa.stop().await;
    sb.stop().await;
}

/// A failed delivery comes back after `retry_after`; an Ok ends it.
async fn failed_delivery_is_retried_until_acked(bus: Arc<dyn EventBus>) {
    let evs = events(2);
    let (flaky, fine) = (evs[0].id, evs[1].id);
    let rec = Recorder::failing_first(&[(flaky, 2)]);
    let sub = bus
        .subscribe(options("g", "c1", RETRY, 10), rec.clone())
        .await
        .unwrap();
    bus.publish(&evs).await.unwrap();

    rec.wait_until("the flaky event to succeed", |c| c.acked.contains(&flaky))
        .await;
    let calls = rec.calls();
    assert_eq!(calls.attempts(flaky), 3, "two failures, then success");
    let took = calls.acked_at[&flaky] - calls.first_attempt[&flaky];
    assert!(
        took >= 2 * RETRY - Duration::from_millis(50),
        "retries waited retry_after: {took:?}"
    );

    sleep(2 * RETRY + Duration::from_millis(200)).await; // no delivery after the ack
    let calls = rec.calls();
    assert_eq!(
        calls.attempts(flaky),
        3,
        "acked event is not delivered again"
    );
    assert_eq!(calls.attempts(fine), 1);
    assert_eq!(calls.acked_set(), ids(&evs).into_iter().collect());
    assert_eq!(calls.acked.len(), 2);
    assert!(bus.dead_letters("g").await.unwrap().is_empty());
    sub.stop().await;
}

/// A group created after events were published still reads them.
async fn events_published_before_the_first_subscriber_are_delivered(bus: Arc<dyn EventBus>) {
    let evs = events(5);
    bus.publish(&evs).await.unwrap();
    let rec = Recorder::new();
    let sub = bus
        .subscribe(plain("late", "c1"), rec.clone())
        .await
        .unwrap();
    rec.wait_until("the earlier events", |c| c.acked.len() >= 5)
        .await;
    sleep(Duration::from_millis(100)).await;
    assert_eq!(rec.calls().acked, ids(&evs));
    sub.stop().await;
}

/// After `max_deliveries` failures the event is parked; a replay delivers it again.
async fn exhausted_event_is_dead_lettered_and_replayed(bus: Arc<dyn EventBus>) {
    let evs = events(2);
    let (poison, fine) = (evs[0].clone(), evs[1].id);
    // Fails three times: exactly max_deliveries, so the fourth (replayed)
    // delivery succeeds.
    let rec = Recorder::failing_first(&[(poison.id, 3)]);
    let retry = Duration::from_millis(200);
    let sub = bus
        .subscribe(options("g", "c1", retry, 3), rec.clone())
        .await
        .unwrap();
    bus.publish(&evs).await.unwrap();

    let dead = wait_for_dead_letters(bus.as_ref(), "g", 1).await;
    assert_eq!(
        dead,
        vec![DeadLetter {
            group: "g".into(),
            event: poison.clone(),
            deliveries: 3
        }]
    );
    sleep(2 * retry).await; // a parked event is not delivered again
    let calls = rec.calls();
    assert_eq!(calls.attempts(poison.id), 3);
    assert_eq!(calls.acked, vec![fine]);
    assert!(bus.dead_letters("other-group").await.unwrap().is_empty());

    bus.replay_dead_letter("g", poison.id).await.unwrap();
    rec.wait_until("the replayed event", |c| c.acked.contains(&poison.id))
        .await;
    assert_eq!(rec.calls().attempts(poison.id), 4);
    assert!(bus.dead_letters("g").await.unwrap().is_empty());

    let again = bus.replay_dead_letter("g", poison.id).await.unwrap_err();
    assert!(
        matches!(again, Error::NotFound(_)),
        "replayed twice: {again:?}"
    );
    let unknown = bus
        .replay_dead_letter("g", Uuid::now_v7())
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, Error::NotFound(_)),
        "unknown id: {unknown:?}"
    );
    sub.stop().await;
}

/// `stop` returns promptly and the consumer takes nothing more; what it did
/// not take is left for the group.
async fn stop_ends_delivery(bus: Arc<dyn EventBus>) {
    let (first, second) = (events(1), events(1));
    let rec = Recorder::new();
    let sub = bus.subscribe(plain("g", "c1"), rec.clone()).await.unwrap();
    bus.publish(&first).await.unwrap();
    rec.wait_until("the first event", |c| c.acked.len() == 1)
        .await;

    // Let the consumer settle into its (blocking) wait before stopping it.
    sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    timeout(WAIT, sub.stop()).await.expect("stop returns");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "stop is prompt: {took:?}"
    );

    bus.publish(&second).await.unwrap();
    sleep(Duration::from_millis(300)).await;
    assert_eq!(rec.calls().acked, ids(&first), "no delivery after stop");

    // The event was not swallowed by the stopped consumer.
    let next = Recorder::new();
    let sub2 = bus.subscribe(plain("g", "c2"), next.clone()).await.unwrap();
    next.wait_until("the second event", |c| !c.acked.is_empty())
        .await;
    sleep(Duration::from_millis(100)).await;
    assert_eq!(next.calls().acked, ids(&second));
    sub2.stop().await;
}

/// An event held by a consumer that never answers goes to another consumer
/// of the group once `retry_after` has passed (Redis: `XAUTOCLAIM`).
async fn stalled_consumer_event_is_reclaimed(bus: Arc<dyn EventBus>) {
    let stuck = Stuck::new();
    let s1 = bus
        .subscribe(options("g", "hung", RETRY, 10), stuck.clone())
        .await
        .unwrap();
    let evs = events(1);
    bus.publish(&evs).await.unwrap();
    timeout(WAIT, stuck.started.notified())
        .await
        .expect("first consumer got the event");
    let held_since = Instant::now();

    let rescuer = Recorder::new();
    let s2 = bus
        .subscribe(options("g", "rescuer", RETRY, 10), rescuer.clone())
        .await
        .unwrap();
    rescuer
        .wait_until("the reclaimed event", |c| !c.acked.is_empty())
        .await;
    let took = held_since.elapsed();
    assert!(
        took >= RETRY - Duration::from_millis(50),
        "reclaimed only after retry_after: {took:?}"
    );
    assert_eq!(rescuer.calls().acked, ids(&evs));

    stuck.release.add_permits(1);
    timeout(WAIT, s1.stop())
        .await
        .expect("released consumer stops");
    timeout(WAIT, s2.stop()).await.expect("rescuer stops");
}

macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod memory_bus {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let h = super::memory();
                    super::$test(h.bus.clone()).await;
                }
            )*
        }
        mod redis_bus {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let h = super::redis().await;
                    super::$test(h.bus.clone()).await;
                }
            )*
        }
    };
}

contract!(
    every_group_gets_every_event,
    consumers_of_a_group_share_the_work,
    failed_delivery_is_retried_until_acked,
    events_published_before_the_first_subscriber_are_delivered,
    exhausted_event_is_dead_lettered_and_replayed,
    stop_ends_delivery,
    stalled_consumer_event_is_reclaimed,
);

// ---------------------------------------------------------------------------
// Redis only

/// Entries that are not an event envelope are parked at once, the rest flows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_malformed_entries_go_to_dead_letters() {
    let h = redis().await;
    let prefix = h._keys.as_ref().unwrap().0.clone();
    let bus = RedisBus::connect(&testkit::redis_url(), &prefix)
        .await
        .unwrap();
    // One Redis Cluster slot for the stream and its dead letters.
    assert_eq!(bus.stream_key(), format!("{prefix}:{{events}}"));
    assert_eq!(
        bus.dead_letter_key("g"),
        format!("{prefix}:{{events}}:dead:g")
    );

    let client = redis::Client::open(testkit::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = redis::cmd("XADD")
        .arg(bus.stream_key())
        .arg("*")
        .arg("event")
        .arg("{not json")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg(bus.stream_key())
        .arg("*")
        .arg("something")
        .arg("else")
        .query_async(&mut conn)
        .await
        .unwrap();
    let good = events(1);
    bus.publish(&good).await.unwrap();

    let rec = Recorder::new();
    let sub = bus.subscribe(plain("g", "c1"), rec.clone()).await.unwrap();
    rec.wait_until("the good event", |c| !c.acked.is_empty())
        .await;
    sub.stop().await;
    assert_eq!(rec.calls().acked, ids(&good));
    assert_eq!(
        rec.calls().attempts.len(),
        1,
        "malformed entries never reach the handler"
    );

    let dead: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(bus.dead_letter_key("g"))
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    let reasons: Vec<String> = dead.ids.iter().map(|e| e.get("reason").unwrap()).collect();
    assert_eq!(reasons, ["malformed", "malformed"]);
    // Not representable as envelopes, so not listed; still nothing pending.
    assert!(bus.dead_letters("g").await.unwrap().is_empty());
    let pending: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
        .arg(bus.stream_key())
        .arg("g")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending.count(), 0, "malformed entries were acknowledged");
}

#[tokio::test]
async fn redis_prefix_with_braces_is_refused() {
    let err = RedisBus::connect(&testkit::redis_url(), "bad{tag}")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}
