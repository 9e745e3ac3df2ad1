//! The outbox relay: moves committed outbox rows onto the [`EventBus`].
//!
//! Services write events into their `outbox` table in the transaction of the
//! change ([`crate::tx::TenantTxExt::emit`]). The relay reads unpublished
//! rows of *every* tenant, publishes them in id (UUIDv7, so roughly time)
//! order and marks them published, all in one transaction:
//!
//! - on PostgreSQL it runs as `<schema>_operator` ([`TenantPool::begin_operator`]),
//!   the one role whose RLS policy shows all tenants' outbox rows, and locks
//!   the batch `FOR UPDATE SKIP LOCKED` so that relays in several pods share
//!   the work instead of publishing the same rows;
//! - if publishing fails the transaction rolls back and the rows stay
//!   unpublished for the next round; if the commit fails after publishing,
//!   they are published again later. Delivery is therefore at-least-once and
//!   consumers deduplicate by event id.
//!
//! What a service's PostgreSQL migration must provide for it: the policy
//! `operator_all ON outbox TO <schema>_operator USING (true)`, `GRANT SELECT,
//! UPDATE, DELETE ON outbox TO <schema>_operator`, and the partial index
//! `outbox (id) WHERE published_at IS NULL` that serves the batch query. The
//! app role must be able to `SET ROLE` to the operator without *inheriting*
//! it, or the operator policy applies to the app role too and voids RLS
//! (see `tests/migrations/postgres`).
//!
//! [`spawn_relay`] runs it in the background: it drains the outbox, then
//! sleeps until a store signals a commit (a [`Notify`]) or a poll interval
//! passes, and now and then deletes published rows past their retention.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder, Sqlite, SqlitePool, types::Json};
use tokio::{
    sync::{Notify, watch},
    task::JoinHandle,
    time::Instant,
};
use uuid::Uuid;

use super::EventBus;
use crate::{
    auth::TenantId,
    db::TenantPool,
    error::{Error, Result},
    events::EventEnvelope,
};

/// Largest batch [`relay_once`] accepts (it binds two parameters per row).
pub const MAX_BATCH: i64 = 1_000;
/// Published rows deleted per purge statement, to keep each transaction short.
const PURGE_CHUNK: i64 = 5_000;

/// How [`spawn_relay`] runs.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Rows per transaction (1..=[`MAX_BATCH`]).
    pub batch: i64,
    /// Longest wait between rounds when no store signals a commit.
    pub poll_interval: Duration,
    /// How long published rows are kept (for inspection and replays).
    pub retention: Duration,
    /// How often published rows older than `retention` are deleted.
    pub purge_interval: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            batch: 100,
            poll_interval: Duration::from_millis(250),
            retention: Duration::from_secs(7 * 24 * 3600),
            purge_interval: Duration::from_secs(600),
        }
    }
}

/// A pool whose `outbox` the relay can drain: PostgreSQL and SQLite.
#[async_trait]
pub trait OutboxPool: TenantPool {
    /// See [`relay_once`].
    async fn relay_batch(&self, bus: &dyn EventBus, batch: i64) -> Result<usize>;

    /// Deletes published rows published before `before`; returns how many.
    async fn purge_published(&self, before: DateTime<Utc>) -> Result<u64>;
}

/// Publishes up to `batch` unpublished outbox rows, oldest id first, and
/// marks them published. Returns how many were published; fewer than `batch`
/// means the outbox was drained (as far as this relay could see).
pub async fn relay_once<P: OutboxPool>(pool: &P, bus: &dyn EventBus, batch: i64) -> Result<usize> {
    pool.relay_batch(bus, batch).await
}

type OutboxRow = (Uuid, Uuid, String, DateTime<Utc>, Json<serde_json::Value>);

fn check_batch(batch: i64) -> Result<()> {
    if (1..=MAX_BATCH).contains(&batch) {
        Ok(())
    } else {
        Err(Error::invalid(
            "batch",
            format!("must be between 1 and {MAX_BATCH}"),
        ))
    }
}

// One body for both backends (as in `tx.rs`); only the row-locking clause of
// the SELECT differs: SQLite has no `FOR UPDATE` and needs none, because its
// single writer already serialises relays.
macro_rules! impl_outbox_pool {
    ($pool:ty, $db:ty, $lock:literal) => {
        #[async_trait]
        impl OutboxPool for $pool {
            async fn relay_batch(&self, bus: &dyn EventBus, batch: i64) -> Result<usize> {
                check_batch(batch)?;
                let mut tx = self.begin_operator().await?;
                let rows: Vec<OutboxRow> = sqlx::query_as(concat!(
                    "SELECT tenant_id, id, event_type, occurred_at, payload FROM outbox \
                     WHERE published_at IS NULL ORDER BY id LIMIT $1",
                    $lock
                ))
                .bind(batch)
                .fetch_all(&mut *tx)
                .await?;
                if rows.is_empty() {
                    tx.rollback().await?;
                    return Ok(0);
                }
                let events: Vec<EventEnvelope> = rows
                    .into_iter()
                    .map(|(tenant, id, event_type, occurred_at, Json(payload))| EventEnvelope {
                        id,
                        tenant: TenantId(tenant),
                        event_type,
                        occurred_at,
                        payload,
                    })
                    .collect();
                if let Err(e) = bus.publish(&events).await {
                    // The rows stay unpublished (and unlocked) for the next round.
                    if let Err(rb) = tx.rollback().await {
                        tracing::warn!(error = %rb, "outbox relay: rollback failed");
                    }
                    return Err(e);
                }
                let mut update = QueryBuilder::<$db>::new("UPDATE outbox SET published_at = ");
                update.push_bind(Utc::now());
                // Row values keep the lookup on the (tenant_id, id) key.
                update.push(" WHERE (tenant_id, id) IN (");
                for (i, e) in events.iter().enumerate() {
                    if i > 0 {
                        update.push(", ");
                    }
                    update.push("(");
                    update.push_bind(e.tenant.0);
                    update.push(", ");
                    update.push_bind(e.id);
                    update.push(")");
                }
                update.push(")");
                update.build().execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(events.len())
            }

            async fn purge_published(&self, before: DateTime<Utc>) -> Result<u64> {
                let mut total = 0;
                loop {
                    let mut tx = self.begin_operator().await?;
                    let deleted = sqlx::query(
                        "DELETE FROM outbox WHERE (tenant_id, id) IN \
                         (SELECT tenant_id, id FROM outbox \
                          WHERE published_at IS NOT NULL AND published_at < $1 LIMIT $2)",
                    )
                    .bind(before)
                    .bind(PURGE_CHUNK)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    tx.commit().await?;
                    total += deleted;
                    if deleted < PURGE_CHUNK as u64 {
                        return Ok(total);
                    }
                }
            }
        }
    };
}

impl_outbox_pool!(PgPool, Postgres, " FOR UPDATE SKIP LOCKED");
impl_outbox_pool!(SqlitePool, Sqlite, "");

/// Runs the relay until `shutdown` turns true (or its sender is dropped).
///
/// Each round drains the outbox (calls [`relay_once`] until it returns fewer
/// than `options.batch`), purges expired published rows when due, then waits
/// for `wake` (stores call `notify_one` after committing an event, which
/// leaves a permit if the relay is busy, so no wake-up is lost) or for
/// `options.poll_interval` (a safety net for writers that do not signal, such
/// as other pods). After an error it backs off instead of retrying hot.
pub fn spawn_relay<P>(
    pool: P,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    options: RelayOptions,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()>
where
    P: OutboxPool + Clone + 'static,
{
    tokio::spawn(async move {
        let retention = chrono::Duration::from_std(options.retention)
            .unwrap_or_else(|_| chrono::Duration::days(7));
        let mut next_purge = Instant::now();
        let mut backoff = Duration::ZERO;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let mut failed = false;
            loop {
                match relay_once(&pool, bus.as_ref(), options.batch).await {
                    Ok(n) if (n as i64) < options.batch => break,
                    Ok(_) if *shutdown.borrow() => return,
                    Ok(_) => {}
                    Err(e) => {
                        backoff = (backoff * 2)
                            .clamp(Duration::from_millis(250), Duration::from_secs(30));
                        tracing::warn!(error = %e, retry_in = ?backoff, "outbox relay failed");
                        failed = true;
                        break;
                    }
                }
            }
            if !failed {
                backoff = Duration::ZERO;
            }
            if Instant::now() >= next_purge {
                next_purge = Instant::now() + options.purge_interval;
                match pool.purge_published(Utc::now() - retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "outbox relay: purged published rows"),
                    Err(e) => tracing::warn!(error = %e, "outbox relay: purge failed"),
                }
            }
            if failed {
                // While the bus or database is down, commits must not turn
                // the back-off into a hot retry loop: ignore `wake` here.
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            } else {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(options.poll_interval) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
        }
    })
}
