//! The outbox relay on both backends: PostgreSQL (a throwaway database,
//! migrated as the owner from `tests/migrations/postgres` and used as the
//! non-owner `relaytest_app` role, so RLS applies) and in-memory SQLite.
//!
//! The shared cases are written once, generic over the pool, and run on both;
//! the PostgreSQL-only cases cover what SQLite does not have: row-level
//! security and `FOR UPDATE SKIP LOCKED` between concurrent relays.

use std::{
    collections::BTreeSet,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use chrono::{SubsecRound, Utc};
use collegium_platform::{
    Error, Result,
    auth::TenantId,
    db::{TenantPool, connect_postgres, connect_sqlite_memory, migrate_sqlite},
    events::{
        DeadLetter, EventBus, EventEnvelope, EventHandler, SubscribeOptions, Subscription,
        relay::{OutboxPool, RelayOptions, relay_once, spawn_relay},
    },
    tx::TenantTxExt,
};
use sqlx::{PgPool, SqlitePool, migrate::Migrator};
use testkit::TestDatabase;
use tokio::{
    sync::{Notify, watch},
    time::{sleep, timeout},
};
use uuid::Uuid;

const SCHEMA: &str = "relaytest";
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Backends

async fn migrator(backend: &str) -> Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/migrations")
        .join(backend);
    Migrator::new(dir).await.expect("test migrations load")
}

/// A migrated PostgreSQL database and a pool of its app role.
async fn postgres() -> (TestDatabase, PgPool) {
    testkit::init_tracing();
    // The roles are cluster-wide and every test database creates the same
    // ones; migrate one database at a time so their creation cannot race.
    static MIGRATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let db = {
        let _one_at_a_time = MIGRATING.lock().await;
        TestDatabase::migrated(SCHEMA, &migrator("postgres").await)
            .await
            .expect("test database migrates")
    };
    let pool = connect_postgres(&db.app_url(SCHEMA), SCHEMA, 4)
        .await
        .expect("app role connects");
    (db, pool)
}

async fn sqlite() -> ((), SqlitePool) {
    let pool = connect_sqlite_memory().await.unwrap();
    migrate_sqlite(&pool, &migrator("sqlite").await)
        .await
        .unwrap();
    ((), pool)
}

/// What the shared cases need from a backend besides the relay itself.
#[async_trait]
trait TestPool: OutboxPool + Clone + 'static {
    /// Emits `n` events of `tenant` in one tenant transaction, then commits
    /// it or rolls it back.
    async fn emit(&self, tenant: TenantId, n: usize, commit: bool) -> Vec<EventEnvelope>;
    /// (unpublished, published) outbox rows, over all tenants.
    async fn counts(&self) -> (i64, i64);
}

macro_rules! impl_test_pool {
    ($pool:ty) => {
        #[async_trait]
        impl TestPool for $pool {
            async fn emit(&self, tenant: TenantId, n: usize, commit: bool) -> Vec<EventEnvelope> {
                let mut tx = self.begin_tenant(tenant).await.unwrap();
                let mut out = Vec::new();
                for i in 0..n {
                    let mut e = EventEnvelope::new(
                        tenant,
                        "relaytest.thing.happened",
                        serde_json::json!({ "n": i, "tenant": tenant.0 }),
                    );
                    // PostgreSQL keeps microseconds; compare like with like.
                    e.occurred_at = Utc::now().trunc_subsecs(6);
                    tx.emit(&e).await.unwrap();
                    out.push(e);
                }
                if commit {
                    tx.commit().await.unwrap();
                } else {
                    tx.rollback().await.unwrap();
                }
                out
            }

            async fn counts(&self) -> (i64, i64) {
                let mut tx = self.begin_operator().await.unwrap();
                let counts = sqlx::query_as(
                    "SELECT \
                       COALESCE(SUM(CASE WHEN published_at IS NULL THEN 1 ELSE 0 END), 0), \
                       COALESCE(SUM(CASE WHEN published_at IS NULL THEN 0 ELSE 1 END), 0) \
                     FROM outbox",
                )
                .fetch_one(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                counts
            }
        }
    };
}

impl_test_pool!(PgPool);
impl_test_pool!(SqlitePool);

/// A bus that records what is published, can be told to fail, and can take
/// its time (to hold a relay's row locks open).
#[derive(Default)]
struct RecordingBus {
    published: Mutex<Vec<EventEnvelope>>,
    changed: Notify,
    fail: AtomicBool,
    delay: Duration,
}

impl RecordingBus {
    fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn published(&self) -> Vec<EventEnvelope> {
        self.published.lock().unwrap().clone()
    }

    fn published_ids(&self) -> Vec<Uuid> {
        self.published().iter().map(|e| e.id).collect()
    }
}

#[async_trait]
impl EventBus for RecordingBus {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<()> {
        if !self.delay.is_zero() {
            sleep(self.delay).await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::Unavailable("bus down on purpose".into()));
        }
        self.published.lock().unwrap().extend_from_slice(events);
        self.changed.notify_waiters();
        Ok(())
    }

    async fn subscribe(
        &self,
        _: SubscribeOptions,
        _: Arc<dyn EventHandler>,
    ) -> Result<Subscription> {
        Err(Error::internal(anyhow::anyhow!(
            "a recording bus has no consumers"
        )))
    }

    async fn dead_letters(&self, _: &str) -> Result<Vec<DeadLetter>> {
        Ok(Vec::new())
    }

    async fn replay_dead_letter(&self, _: &str, _: Uuid) -> Result<()> {
        Err(Error::not_found("dead letter"))
    }
}

fn sorted_by_id(mut events: Vec<EventEnvelope>) -> Vec<EventEnvelope> {
    events.sort_by_key(|e| e.id);
    events
}

// ---------------------------------------------------------------------------
// Shared cases

/// Committed events of two tenants are published once each, in id order,
/// and marked published.
async fn committed_events_are_published_exactly_once<P: TestPool>(pool: P) {
    let bus = RecordingBus::new();
    let (a, b) = (TenantId::new_v7(), TenantId::new_v7());
    let mut expected = pool.emit(a, 3, true).await;
    expected.extend(pool.emit(b, 2, true).await);

    assert_eq!(relay_once(&pool, bus.as_ref(), 100).await.unwrap(), 5);
    assert_eq!(bus.published(), sorted_by_id(expected));
    assert_eq!(pool.counts().await, (0, 5));

    assert_eq!(relay_once(&pool, bus.as_ref(), 100).await.unwrap(), 0);
    assert_eq!(bus.published().len(), 5, "nothing is published twice");
}

/// An event of a rolled-back transaction never existed.
async fn rolled_back_events_are_never_published<P: TestPool>(pool: P) {
    let bus = RecordingBus::new();
    let tenant = TenantId::new_v7();
    pool.emit(tenant, 2, false).await;
    let kept = pool.emit(tenant, 1, true).await;

    assert_eq!(relay_once(&pool, bus.as_ref(), 100).await.unwrap(), 1);
    assert_eq!(bus.published(), kept);
    assert_eq!(pool.counts().await, (0, 1));
}

/// A failing bus leaves the rows unpublished; the next round publishes them.
async fn failed_publish_leaves_rows_for_the_next_round<P: TestPool>(pool: P) {
    let bus = RecordingBus::new();
    let events = pool.emit(TenantId::new_v7(), 3, true).await;

    bus.fail.store(true, Ordering::SeqCst);
    let err = relay_once(&pool, bus.as_ref(), 100).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert!(bus.published().is_empty());
    assert_eq!(pool.counts().await, (3, 0));

    bus.fail.store(false, Ordering::SeqCst);
    assert_eq!(relay_once(&pool, bus.as_ref(), 100).await.unwrap(), 3);
    assert_eq!(bus.published(), sorted_by_id(events));
    assert_eq!(pool.counts().await, (0, 3));
}

/// Batches are taken oldest id first; a short batch means drained.
async fn relay_works_in_batches<P: TestPool>(pool: P) {
    let bus = RecordingBus::new();
    let events = sorted_by_id(pool.emit(TenantId::new_v7(), 5, true).await);
    assert_eq!(relay_once(&pool, bus.as_ref(), 2).await.unwrap(), 2);
    assert_eq!(bus.published(), events[..2]);
    assert_eq!(relay_once(&pool, bus.as_ref(), 2).await.unwrap(), 2);
    assert_eq!(relay_once(&pool, bus.as_ref(), 2).await.unwrap(), 1);
    assert_eq!(bus.published(), events);
    let err = relay_once(&pool, bus.as_ref(), 0).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}

/// Only published rows past the retention are deleted.
async fn purge_deletes_only_old_published_rows<P: TestPool>(pool: P) {
    let bus = RecordingBus::new();
    let tenant = TenantId::new_v7();
    pool.emit(tenant, 2, true).await;
    relay_once(&pool, bus.as_ref(), 100).await.unwrap();
    pool.emit(tenant, 1, true).await; // unpublished: never purged

    let an_hour_ago = Utc::now() - chrono::Duration::hours(1);
    assert_eq!(pool.purge_published(an_hour_ago).await.unwrap(), 0);
    assert_eq!(pool.counts().await, (1, 2));
    let soon = Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(pool.purge_published(soon).await.unwrap(), 2);
    assert_eq!(pool.counts().await, (1, 0));
}

/// The background relay publishes when woken and exits on shutdown.
async fn spawned_relay_publishes_on_wake_and_stops<P: TestPool>(pool: P) {
    let bus = RecordingBus::new();
    let wake = Arc::new(Notify::new());
    let (shutdown, shutdown_rx) = watch::channel(false);
    let options = RelayOptions {
        batch: 2,
        // Far away: a prompt publish below can only come from `wake`.
        poll_interval: Duration::from_secs(3600),
        ..RelayOptions::default()
    };
    let relay = spawn_relay(
        pool.clone(),
        bus.clone(),
        wake.clone(),
        options,
        shutdown_rx,
    );

    let events = pool.emit(TenantId::new_v7(), 5, true).await;
    wake.notify_one();
    let all: BTreeSet<Uuid> = events.iter().map(|e| e.id).collect();
    timeout(WAIT, async {
        loop {
            let changed = bus.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if bus.published_ids().into_iter().collect::<BTreeSet<_>>() == all {
                return;
            }
            changed.await;
        }
    })
    .await
    .expect("woken relay publishes every event (in batches of 2)");
    assert_eq!(bus.published(), sorted_by_id(events));

    shutdown.send(true).unwrap();
    timeout(WAIT, relay)
        .await
        .expect("relay stops on shutdown")
        .unwrap();
    assert_eq!(pool.counts().await, (0, 5));
}

macro_rules! relay_suite {
    ($backend:ident: $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let (_db, pool) = super::$backend().await;
                    super::$test(pool).await;
                }
            )*
        }
    };
}

relay_suite!(postgres:
    committed_events_are_published_exactly_once,
    rolled_back_events_are_never_published,
    failed_publish_leaves_rows_for_the_next_round,
    relay_works_in_batches,
    purge_deletes_only_old_published_rows,
    spawned_relay_publishes_on_wake_and_stops,
);

relay_suite!(sqlite:
    committed_events_are_published_exactly_once,
    rolled_back_events_are_never_published,
    failed_publish_leaves_rows_for_the_next_round,
    relay_works_in_batches,
    purge_deletes_only_old_published_rows,
    spawned_relay_publishes_on_wake_and_stops,
);

// ---------------------------------------------------------------------------
// PostgreSQL only

/// Two relays draining at once publish every row exactly once between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_relays_never_publish_a_row_twice() {
    let (_db, pool) = postgres().await;
    let mut expected = pool.emit(TenantId::new_v7(), 100, true).await;
    expected.extend(pool.emit(TenantId::new_v7(), 100, true).await);
    // Each publish holds its batch's row locks for a while, so the two
    // relays overlap and the second must skip what the first holds.
    let bus = Arc::new(RecordingBus {
        delay: Duration::from_millis(20),
        ..RecordingBus::default()
    });

    let drain = |pool: PgPool, bus: Arc<RecordingBus>| async move {
        let mut total = 0;
        loop {
            let n = relay_once(&pool, bus.as_ref(), 25).await.unwrap();
            if n == 0 {
                return total;
            }
            total += n;
        }
    };
    let r1 = tokio::spawn(drain(pool.clone(), bus.clone()));
    let r2 = tokio::spawn(drain(pool.clone(), bus.clone()));
    let (n1, n2) = timeout(WAIT, async { (r1.await.unwrap(), r2.await.unwrap()) })
        .await
        .expect("relays drain the outbox");

    let published = bus.published_ids();
    let unique: BTreeSet<Uuid> = published.iter().copied().collect();
    assert_eq!(published.len(), 200, "no row published twice");
    assert_eq!(unique, expected.iter().map(|e| e.id).collect());
    assert_eq!(n1 + n2, 200);
    assert!(n1 > 0 && n2 > 0, "both relays did work: {n1} / {n2}");
    assert_eq!(pool.counts().await, (0, 200));
}

/// A relay does not wait for rows another relay has locked; it takes the next ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_relay_skips_rows_locked_by_another_relay() {
    let (_db, pool) = postgres().await;
    let events = sorted_by_id(pool.emit(TenantId::new_v7(), 4, true).await);
    let bus = RecordingBus::new();

    let mut other = pool.begin_operator().await.unwrap();
    let locked: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 2 FOR UPDATE",
    )
    .fetch_all(&mut *other)
    .await
    .unwrap();
    assert_eq!(locked, [events[0].id, events[1].id]);

    let n = timeout(Duration::from_secs(5), relay_once(&pool, bus.as_ref(), 100))
        .await
        .expect("relay does not block on locked rows")
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(bus.published(), events[2..]);

    other.rollback().await.unwrap();
    assert_eq!(relay_once(&pool, bus.as_ref(), 100).await.unwrap(), 2);
    let order = [&events[2], &events[3], &events[0], &events[1]].map(|e| e.id);
    assert_eq!(bus.published_ids(), order, "the once-locked rows come next");
}

/// RLS on the outbox: the app role with tenant A set sees A's rows only,
/// with no WHERE at all; it cannot write B's; without a tenant it sees none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rls_confines_the_app_role_to_one_tenant() {
    let (_db, pool) = postgres().await;
    // Guard against a vacuous pass: a superuser or BYPASSRLS role skips RLS.
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!superuser && !bypass, "the app role must be subject to RLS");

    let (a, b) = (TenantId::new_v7(), TenantId::new_v7());
    pool.emit(a, 2, true).await;
    pool.emit(b, 3, true).await;

    let mut tx = pool.begin_tenant(a).await.unwrap();
    let seen: Vec<Uuid> = sqlx::query_scalar("SELECT tenant_id FROM outbox")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, [a.0, a.0], "tenant A sees exactly its two rows");
    let foreign = EventEnvelope::new(b, "relaytest.thing.happened", serde_json::json!({}));
    assert!(
        tx.emit(&foreign).await.is_err(),
        "A's transaction cannot write B's row"
    );
    tx.rollback().await.unwrap();

    let mut tx = pool.begin_tenant(b).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 3);
    tx.rollback().await.unwrap();

    let unscoped: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(unscoped, 0, "no tenant set, no rows");
    assert_eq!(
        pool.counts().await,
        (5, 0),
        "the operator role sees every tenant"
    );
}
