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
use sqlx::{Postgres, Sqlite, Transaction, types::Json};
use uuid::Uuid;

use crate::{auth::TenantId, error::Result, events::EventEnvelope};

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
    /// Records that `consumer` handles `event` in this transaction. `false`
    /// means it was handled before: skip the work (and commit nothing new).
    async fn first_delivery(&mut self, consumer: &str, event: &EventEnvelope) -> Result<bool>;
}

macro_rules! impl_tenant_tx_ext {
    ($db:ty) => {
        #[async_trait]
        impl TenantTxExt for Transaction<'static, $db> {
            async fn audit(&mut self, e: &AuditEntry) -> Result<()> {
                sqlx::query(
                    "INSERT INTO audit_log \
                     (tenant_id, id, actor, action, target_kind, target_id, at, before, after) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(e.tenant.0)
                .bind(Uuid::now_v7())
                .bind(&e.actor)
                .bind(&e.action)
                .bind(&e.target_kind)
                .bind(&e.target_id)
                .bind(e.at)
                .bind(e.before.as_ref().map(Json))
                .bind(e.after.as_ref().map(Json))
                .execute(&mut **self)
                .await?;
                Ok(())
            }

            async fn emit(&mut self, ev: &EventEnvelope) -> Result<()> {
                sqlx::query(
                    "INSERT INTO outbox (tenant_id, id, event_type, occurred_at, payload) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(ev.tenant.0)
                .bind(ev.id)
                .bind(&ev.event_type)
                .bind(ev.occurred_at)
                .bind(Json(&ev.payload))
                .execute(&mut **self)
                .await?;
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
        }
    };
}

impl_tenant_tx_ext!(Postgres);
impl_tenant_tx_ext!(Sqlite);
