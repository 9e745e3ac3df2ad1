//! What every mutation writes besides its own rows, in the same transaction:
//! an audit record and, where others must hear of it, an outbox event.
//!
//! Every service schema has the two tables with the same shape (see
//! `docs/ARCHITECTURE.md`, "Tables every service has"):
//!
//! ```sql
//! audit_log (tenant_id, id, actor, action, target_kind, target_id, at, before, after)
//! outbox    (tenant_id, id, event_type, occurred_at, payload, published_at)
//! ```
//!
//! A service that consumes events also has
//! `processed_events (tenant_id, consumer, event_id, processed_at)`: handling
//! an event and recording it there happen in one transaction, which makes an
//! at-least-once delivery count once ([`TenantTxExt::first_delivery`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder, Sqlite, Transaction, types::Json};
use uuid::Uuid;

use crate::{
    auth::TenantId,
    error::Result,
    events::EventEnvelope,
    retention::{self, Category, Count, Cutoffs},
};

/// Rows per multi-row INSERT of [`TenantTxExt::audit_all`] and
/// [`TenantTxExt::emit_all`] (nine parameters a row at most: well under
/// both backends' parameter limits).
const ROWS_PER_INSERT: usize = 1_000;

/// One audited mutation.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub tenant: TenantId,
    /// Person id or `service:<name>`.
    pub actor: String,
    /// `<entity>.<verb>`, e.g. `person.updated`.
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub at: DateTime<Utc>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Audit and outbox writes on a tenant transaction of either backend.
#[async_trait]
pub trait TenantTxExt {
    async fn audit(&mut self, entry: &AuditEntry) -> Result<()>;
    async fn emit(&mut self, event: &EventEnvelope) -> Result<()>;
    /// Many audit records in few statements (bulk work such as an import),
    /// in the order given.
    async fn audit_all(&mut self, entries: &[AuditEntry]) -> Result<()>;
    /// Many events in few statements, in the order given.
    async fn emit_all(&mut self, events: &[EventEnvelope]) -> Result<()>;
    /// Records that `consumer` handles `event` in this transaction. `false`
    /// means it was handled before: skip the work (and commit nothing new).
    async fn first_delivery(&mut self, consumer: &str, event: &EventEnvelope) -> Result<bool>;
    /// Removes the top-level `keys` from the `before`/`after` snapshots of
    /// this tenant's audit records about `targets` (data-subject erasure:
    /// the records stay, the erased person's text goes). The record of an
    /// erasure itself (`person.erased`) is left as written. Returns the
    /// records changed. Keys are plain identifiers (`description`).
    async fn scrub_audit(
        &mut self,
        tenant: TenantId,
        targets: &[String],
        keys: &[&str],
    ) -> Result<u64>;
    /// Rows of `from_where` (`FROM … WHERE …` with the tenant as `$1` and a
    /// cutoff as `$2`): counted in a dry run, deleted otherwise. The dry run
    /// counts by the very predicate the real run deletes by.
    async fn expire_rows(
        &mut self,
        tenant: TenantId,
        before: DateTime<Utc>,
        from_where: &str,
        dry_run: bool,
    ) -> Result<u64>;
    /// Writes the record of an applied retention run: audit
    /// `retention.applied` (target the tenant, cutoffs and counts only) and
    /// the event `<service>.retention.applied`. Written after the
    /// deletions, so it is never among what the run expires.
    async fn record_retention(
        &mut self,
        tenant: TenantId,
        service: &str,
        actor: &str,
        cutoffs: &Cutoffs,
        counts: &[Count],
    ) -> Result<()>;
    /// Applies the retention categories every service holds to this
    /// tenant: `audit_log` (audit records written before the cutoff) and
    /// `published_events` (outbox rows published before it). A dry run only
    /// counts. A category without a cutoff is left alone and not reported.
    async fn expire_common(
        &mut self,
        tenant: TenantId,
        cutoffs: &Cutoffs,
        dry_run: bool,
    ) -> Result<Vec<Count>>;
}

macro_rules! impl_tenant_tx_ext {
    ($db:ty, $expire_audit:ident, $scrub:ident) => {
        #[async_trait]
        impl TenantTxExt for Transaction<'static, $db> {
            async fn audit(&mut self, e: &AuditEntry) -> Result<()> {
                self.audit_all(std::slice::from_ref(e)).await
            }

            async fn emit(&mut self, ev: &EventEnvelope) -> Result<()> {
                self.emit_all(std::slice::from_ref(ev)).await
            }

            async fn audit_all(&mut self, entries: &[AuditEntry]) -> Result<()> {
                for chunk in entries.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO audit_log \
                         (tenant_id, id, actor, action, target_kind, target_id, at, before, after) ",
                    );
                    // Ids in order: the log reads back in the order written.
                    q.push_values(chunk, |mut b, e| {
                        b.push_bind(e.tenant.0)
                            .push_bind(Uuid::now_v7())
                            .push_bind(&e.actor)
                            .push_bind(&e.action)
                            .push_bind(&e.target_kind)
                            .push_bind(&e.target_id)
                            .push_bind(e.at)
                            .push_bind(e.before.as_ref().map(Json))
                            .push_bind(e.after.as_ref().map(Json));
                    });
                    q.build().execute(&mut **self).await?;
                }
                Ok(())
            }

            async fn emit_all(&mut self, events: &[EventEnvelope]) -> Result<()> {
                for chunk in events.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO outbox (tenant_id, id, event_type, occurred_at, payload) ",
                    );
                    q.push_values(chunk, |mut b, ev| {
                        b.push_bind(ev.tenant.0)
                            .push_bind(ev.id)
                            .push_bind(&ev.event_type)
                            .push_bind(ev.occurred_at)
                            .push_bind(Json(&ev.payload));
                    });
                    q.build().execute(&mut **self).await?;
                }
                Ok(())
            }

            async fn first_delivery(&mut self, consumer: &str, ev: &EventEnvelope) -> Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO processed_events (tenant_id, consumer, event_id, processed_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(ev.tenant.0)
                .bind(consumer)
                .bind(ev.id)
                .bind(chrono::Utc::now())
                .execute(&mut **self)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn scrub_audit(
                &mut self,
                tenant: TenantId,
                targets: &[String],
                keys: &[&str],
            ) -> Result<u64> {
                assert!(
                    keys.iter().all(|k| !k.is_empty()
                        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')),
                    "audit keys are plain identifiers: {keys:?}"
                );
                if targets.is_empty() || keys.is_empty() {
                    return Ok(0);
                }
                let mut changed = 0;
                for chunk in targets.chunks(ROWS_PER_INSERT) {
                    changed += $scrub(self, tenant, chunk, keys).await?;
                }
                Ok(changed)
            }

            async fn expire_rows(
                &mut self,
                tenant: TenantId,
                before: DateTime<Utc>,
                from_where: &str,
                dry_run: bool,
            ) -> Result<u64> {
                if dry_run {
                    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) {from_where}"))
                        .bind(tenant.0)
                        .bind(before)
                        .fetch_one(&mut **self)
                        .await?;
                    Ok(u64::try_from(n).unwrap_or(0))
                } else {
                    Ok(sqlx::query(&format!("DELETE {from_where}"))
                        .bind(tenant.0)
                        .bind(before)
                        .execute(&mut **self)
                        .await?
                        .rows_affected())
                }
            }

            async fn expire_common(
                &mut self,
                tenant: TenantId,
                cutoffs: &Cutoffs,
                dry_run: bool,
            ) -> Result<Vec<Count>> {
                let mut out = Vec::new();
                if let Some(before) = cutoffs.get(Category::AuditLog) {
                    let n = if dry_run {
                        self.expire_rows(tenant, before, AUDIT_BEFORE, true).await?
                    } else {
                        $expire_audit(self, tenant, before).await?
                    };
                    out.push(Count::new(Category::AuditLog, "audit_records", n));
                }
                if let Some(before) = cutoffs.get(Category::PublishedEvents) {
                    let n = self
                        .expire_rows(tenant, before, PUBLISHED_BEFORE, dry_run)
                        .await?;
                    out.push(Count::new(Category::PublishedEvents, "outbox_events", n));
                }
                Ok(out)
            }

            async fn record_retention(
                &mut self,
                tenant: TenantId,
                service: &str,
                actor: &str,
                cutoffs: &Cutoffs,
                counts: &[Count],
            ) -> Result<()> {
                let after = retention::audit_summary(cutoffs, counts);
                self.audit(&AuditEntry {
                    tenant,
                    actor: actor.to_string(),
                    action: "retention.applied".to_string(),
                    target_kind: "tenant".to_string(),
                    target_id: tenant.0.to_string(),
                    at: chrono::Utc::now(),
                    before: None,
                    after: Some(after.clone()),
                })
                .await?;
                self.emit(&EventEnvelope::new(
                    tenant,
                    format!("{service}.retention.applied"),
                    serde_json::json!({ "id": tenant.0, "actor": actor, "after": after }),
                ))
                .await
            }
        }
    };
}

/// A tenant's audit records before the cutoff `$2`.
const AUDIT_BEFORE: &str = "FROM audit_log WHERE tenant_id = $1 AND at < $2";
/// A tenant's outbox rows handed to the bus before the cutoff `$2`.
const PUBLISHED_BEFORE: &str =
    "FROM outbox WHERE tenant_id = $1 AND published_at IS NOT NULL AND published_at < $2";

impl_tenant_tx_ext!(Postgres, expire_audit_postgres, scrub_audit_postgres);
impl_tenant_tx_ext!(Sqlite, expire_audit_sqlite, scrub_audit_sqlite);

/// On PostgreSQL the application role may not delete from the append-only
/// audit log; `expire_audit_log` (created with every schema by
/// `db::migrate_postgres`, SECURITY DEFINER) deletes one tenant's records
/// before a cutoff and nothing else.
async fn expire_audit_postgres(
    tx: &mut Transaction<'static, Postgres>,
    tenant: TenantId,
    before: DateTime<Utc>,
) -> Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT expire_audit_log($1, $2)")
        .bind(tenant.0)
        .bind(before)
        .fetch_one(&mut **tx)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

async fn expire_audit_sqlite(
    tx: &mut Transaction<'static, Sqlite>,
    tenant: TenantId,
    before: DateTime<Utc>,
) -> Result<u64> {
    tx.expire_rows(tenant, before, AUDIT_BEFORE, false).await
}

/// Through `scrub_audit_keys` (SECURITY DEFINER, created by
/// `db::migrate_postgres`): the app role may not update `audit_log`.
async fn scrub_audit_postgres(
    tx: &mut Transaction<'static, Postgres>,
    tenant: TenantId,
    targets: &[String],
    keys: &[&str],
) -> Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT scrub_audit_keys($1, $2, $3)")
        .bind(tenant.0)
        .bind(targets)
        .bind(keys)
        .fetch_one(&mut **tx)
        .await?;
    Ok(n as u64)
}

async fn scrub_audit_sqlite(
    tx: &mut Transaction<'static, Sqlite>,
    tenant: TenantId,
    targets: &[String],
    keys: &[&str],
) -> Result<u64> {
    let paths: Vec<String> = keys.iter().map(|k| format!("'$.{k}'")).collect();
    let paths = paths.join(", ");
    let holds = |column: &str| {
        keys.iter()
            .map(|k| format!("json_type({column}, '$.{k}') IS NOT NULL"))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let mut q = QueryBuilder::<Sqlite>::new(format!(
        "UPDATE audit_log SET before = json_remove(before, {paths}), \
         after = json_remove(after, {paths}) WHERE tenant_id = "
    ));
    q.push_bind(tenant.0)
        .push(" AND action <> 'person.erased' AND (")
        .push(holds("before"))
        .push(" OR ")
        .push(holds("after"))
        .push(") AND target_id IN (");
    let mut list = q.separated(", ");
    for t in targets {
        list.push_bind(t);
    }
    q.push(")");
    Ok(q.build().execute(&mut **tx).await?.rows_affected())
}
