//! The proof of DESIGN §3 for the scoring schema (the checks themselves
//! are `testkit::rls`, shared by every service): as `scoring_app`, with
//! tenant A set, a `SELECT` with no `WHERE` returns only A's rows in every
//! table; no tenant, no rows; B's rows cannot be inserted; the catalog keeps
//! it so for tables added later.

mod store_support;

use collegium_scoring::SCHEMA;
use store_support::*;
use testkit::rls::RlsProof;

#[tokio::test]
async fn the_app_role_sees_only_the_tenant_set_for_its_transaction() {
    bounded(async {
        let (db, store) = postgres_store().await;
        let a = seed_tenant(&store, "alpha").await;
        let b = seed_tenant(&store, "beta").await;
        let tables = RlsProof {
            db: &db,
            schema: SCHEMA,
        }
        .assert_reads_confined(a.tenant, b.tenant)
        .await;
        assert_eq!(
            tables, TABLES,
            "the tables of the schema (update store_support::TABLES)"
        );
    })
    .await;
}

#[tokio::test]
async fn an_insert_of_another_tenants_row_is_refused_in_every_table() {
    bounded(async {
        let (db, store) = postgres_store().await;
        let a = seed_tenant(&store, "alpha").await;
        let b = seed_tenant(&store, "beta").await;
        RlsProof {
            db: &db,
            schema: SCHEMA,
        }
        .assert_foreign_inserts_refused(a.tenant, b.tenant)
        .await;
    })
    .await;
}

#[tokio::test]
async fn the_app_role_cannot_skip_policies_and_owns_no_table() {
    bounded(async {
        let (db, _store) = postgres_store().await;
        RlsProof {
            db: &db,
            schema: SCHEMA,
        }
        .assert_app_role_unprivileged()
        .await;
    })
    .await;
}

#[tokio::test]
async fn every_table_forces_rls_and_leads_its_keys_and_indexes_with_tenant_id() {
    bounded(async {
        let (db, _store) = postgres_store().await;
        // Only the relay reads across tenants; its scan of unpublished rows
        // is the one index not led by tenant_id.
        RlsProof {
            db: &db,
            schema: SCHEMA,
        }
        .assert_catalog(&["outbox"], &[("outbox_unpublished", "outbox")])
        .await;
    })
    .await;
}
