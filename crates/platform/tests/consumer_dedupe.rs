//! Consumers are idempotent by event id: `first_delivery` in the handler's
//! transaction says whether the event is new, on both backends.

use std::path::Path;

use collegium_platform::{
    auth::TenantId,
    db::{TenantPool, connect_postgres, connect_sqlite_memory, migrate_sqlite},
    events::EventEnvelope,
    tx::TenantTxExt,
};
use sqlx::migrate::Migrator;
use testkit::TestDatabase;

const SCHEMA: &str = "relaytest";

async fn migrator(backend: &str) -> Migrator {
    Migrator::new(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/migrations")
            .join(backend),
    )
    .await
    .unwrap()
}

async fn counts_once<P: TenantPool>(pool: P)
where
    sqlx::Transaction<'static, P::Db>: TenantTxExt,
{
    let tenant = TenantId::new_v7();
    let event = EventEnvelope::new(tenant, "test.happened", serde_json::json!({}));
    let other_tenant_same_id = EventEnvelope {
        tenant: TenantId::new_v7(),
        ..event.clone()
    };

    let mut tx = pool.begin_tenant(tenant).await.unwrap();
    assert!(tx.first_delivery("notifications", &event).await.unwrap());
    tx.commit().await.unwrap();

    // Redelivered: already handled by this consumer.
    let mut tx = pool.begin_tenant(tenant).await.unwrap();
    assert!(!tx.first_delivery("notifications", &event).await.unwrap());
    tx.rollback().await.unwrap();

    // Another consumer handles it independently.
    let mut tx = pool.begin_tenant(tenant).await.unwrap();
    assert!(tx.first_delivery("scoring", &event).await.unwrap());
    // A handler that fails rolls its record back, so the retry counts.
    tx.rollback().await.unwrap();
    let mut tx = pool.begin_tenant(tenant).await.unwrap();
    assert!(tx.first_delivery("scoring", &event).await.unwrap());
    tx.commit().await.unwrap();

    let t2 = other_tenant_same_id.tenant;
    let mut tx = pool.begin_tenant(t2).await.unwrap();
    assert!(
        tx.first_delivery("notifications", &other_tenant_same_id)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn postgres_consumer_counts_each_event_once() {
    let db = TestDatabase::migrated(SCHEMA, &migrator("postgres").await)
        .await
        .unwrap();
    let pool = connect_postgres(&db.app_url(SCHEMA), SCHEMA, 2)
        .await
        .unwrap();
    counts_once(pool).await;
}

#[tokio::test]
async fn sqlite_consumer_counts_each_event_once() {
    let pool = connect_sqlite_memory().await.unwrap();
    migrate_sqlite(&pool, &migrator("sqlite").await)
        .await
        .unwrap();
    counts_once(pool).await;
}
