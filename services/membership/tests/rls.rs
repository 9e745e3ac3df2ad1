//! The proof of DESIGN §3 for the membership schema (the checks themselves
//! are `testkit::rls`, shared by every service): as `membership_app`, with
//! tenant A set, a `SELECT` with no `WHERE` returns only A's rows in every
//! table; no tenant, no rows; B's rows cannot be inserted; the catalog keeps
//! it so for tables added later.

mod support;

use collegium_membership::SCHEMA;
use support::*;
use testkit::rls::RlsProof;

/// Tables the operator role reads across tenants (the relay, the tenant directory).
const OPERATOR_TABLES: [&str; 2] = ["outbox", "tenants"];

/// Indexes not led by `tenant_id`, each for a reason: slugs are unique
/// across the instance (the tenant directory is a reference table when
/// distributed), and the relay scans unpublished rows of every tenant.
const EXCEPTIONS: [(&str, &str); 2] = [
    ("outbox_unpublished", "outbox"),
    ("tenants_slug_key", "tenants"),
];

#[tokio::test]
async fn the_app_role_sees_only_the_tenant_set_for_its_transaction() {
    bounded(async {
        let (db, store) = postgres_store().await;
        let a = seed_tenant(&store, "alpha").await;
        let b = seed_tenant(&store, "beta").await;
        let proof = RlsProof {
            db: &db,
            schema: SCHEMA,
        };
        let tables = proof.assert_reads_confined(a.tenant.id, b.tenant.id).await;
        for known in [
            "people",
            "consents",
            "research_opt_outs",
            "audit_log",
            "import_jobs",
            "research_agreements",
            "research_agreement_researchers",
            "disclosures",
            "retention_periods",
            "retention_runs",
            "roster_uploads",
        ] {
            assert!(tables.iter().any(|t| t == known), "{known} in {tables:?}");
        }
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
        .assert_foreign_inserts_refused(a.tenant.id, b.tenant.id)
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
async fn every_tenant_table_forces_rls_and_leads_its_keys_with_tenant_id() {
    bounded(async {
        let (db, _store) = postgres_store().await;
        RlsProof {
            db: &db,
            schema: SCHEMA,
        }
        .assert_catalog(&OPERATOR_TABLES, &EXCEPTIONS)
        .await;
    })
    .await;
}
