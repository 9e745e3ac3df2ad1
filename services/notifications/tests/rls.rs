//! The proof of DESIGN §3 for the notifications schema: row-level security
//! is a second wall behind the store's `WHERE tenant_id`. Connected as
//! `notifications_app` (the role the service uses), with tenant A set for the
//! transaction, a `SELECT` with no `WHERE` at all returns only A's rows in
//! every table of the schema; with no tenant set it returns nothing; and an
//! insert of a B row is refused. The catalog checks keep it so for tables
//! added later: every table has RLS enabled and forced, every key leads with
//! `tenant_id` but the three documented cross-tenant work queues, the app role
//! can neither skip policies nor own a table, and the operator role (which
//! the workers switch to for their cross-tenant claims) reaches exactly the
//! queues and nothing else.

mod support;

use std::str::FromStr;

use collegium_notifications::SCHEMA;
use platform::{auth::TenantId, db::quote_ident};
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
use support::*;
use testkit::TestDatabase;
use uuid::Uuid;

/// A connection as `notifications_app`, the way the service connects.
async fn app_connection(db: &TestDatabase) -> PgConnection {
    let options = PgConnectOptions::from_str(&db.app_url(SCHEMA))
        .expect("app URL")
        .options([("search_path", SCHEMA)]);
    PgConnection::connect_with(&options)
        .await
        .expect("the app role connects")
}

/// A connection as the owner (a superuser in tests), for catalog checks and
/// for seeing what RLS hides from the app role.
async fn owner_connection(db: &TestDatabase) -> PgConnection {
    PgConnection::connect(&db.owner_url)
        .await
        .expect("the owner connects")
}

/// Every table of the schema but the migration ledger, from the catalog.
async fn schema_tables(conn: &mut PgConnection) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations' \
         ORDER BY 1",
    )
    .bind(SCHEMA)
    .fetch_all(conn)
    .await
    .expect("the catalog lists the tables");
    assert_eq!(
        tables, TABLES,
        "the tables of the schema (update support::TABLES)"
    );
    tables
}

fn qualified(table: &str) -> String {
    format!("{}.{}", quote_ident(SCHEMA), quote_ident(table))
}

async fn set_tenant(conn: &mut PgConnection, t: TenantId) {
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(t.0.to_string())
        .execute(conn)
        .await
        .expect("set_config");
}

/// `SELECT tenant_id FROM <table>`, no WHERE, in a transaction with `tenant` set.
async fn visible_tenants(
    conn: &mut PgConnection,
    table: &str,
    tenant: Option<TenantId>,
) -> Vec<Uuid> {
    let mut tx = conn.begin().await.expect("begin");
    if let Some(t) = tenant {
        set_tenant(&mut tx, t).await;
    }
    let seen: Vec<Uuid> =
        sqlx::query_scalar(&format!("SELECT tenant_id FROM {}", qualified(table)))
            .fetch_all(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("the app role reads {table}: {e}"));
    tx.rollback().await.expect("rollback");
    seen
}

#[tokio::test]
async fn the_app_role_sees_only_the_tenant_set_for_its_transaction() {
    bounded(async {
        let (db, store) = postgres_store().await;
        let a = seed_tenant(&store, "alpha").await;
        let b = seed_tenant(&store, "beta").await;

        let mut app = app_connection(&db).await;
        let me: String = sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(&mut app)
            .await
            .unwrap();
        assert_eq!(me, "notifications_app");
        let mut owner = owner_connection(&db).await;
        let tables = schema_tables(&mut owner).await;
        assert_eq!(schema_tables(&mut app).await, tables);

        for table in &tables {
            // Both tenants have rows here (the owner, a superuser, skips RLS),
            // so seeing only one of them proves the policy, not the data.
            let mut present: Vec<Uuid> = sqlx::query_scalar(&format!(
                "SELECT DISTINCT tenant_id FROM {}",
                qualified(table)
            ))
            .fetch_all(&mut owner)
            .await
            .unwrap();
            present.sort();
            assert_eq!(
                present,
                sorted([a.tenant.0, b.tenant.0]),
                "{table}: the seed wrote rows of both tenants"
            );

            for t in [a.tenant, b.tenant] {
                let seen = visible_tenants(&mut app, table, Some(t)).await;
                assert!(!seen.is_empty(), "{table}: {t}'s own rows are visible");
                assert!(
                    seen.iter().all(|s| *s == t.0),
                    "{table}: with {t} set, only its rows come back, got {seen:?}"
                );
            }
            assert_eq!(
                visible_tenants(&mut app, table, None).await,
                Vec::<Uuid>::new(),
                "{table}: no tenant set, no rows"
            );
        }

        // A connection that never set a tenant sees nothing either.
        let mut fresh = app_connection(&db).await;
        for table in &tables {
            assert_eq!(
                visible_tenants(&mut fresh, table, None).await,
                Vec::<Uuid>::new(),
                "{table}: never set, no rows"
            );
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
        let mut app = app_connection(&db).await;
        let tables = schema_tables(&mut app).await;

        for table in &tables {
            // One of B's rows, read while B is set, with fresh key columns so
            // that only its tenant stands in the way.
            let mut tx = app.begin().await.unwrap();
            set_tenant(&mut tx, b.tenant).await;
            let mut row: serde_json::Value = sqlx::query_scalar(&format!(
                "SELECT to_jsonb(t) FROM {} t LIMIT 1",
                qualified(table)
            ))
            .fetch_one(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{table}: B reads its own row: {e}"));
            tx.rollback().await.unwrap();
            assert_eq!(row["tenant_id"], serde_json::json!(b.tenant.0.to_string()));
            for key in ["id", "person_id", "event_id"] {
                if row.get(key).is_some() {
                    row[key] = serde_json::json!(Uuid::now_v7().to_string());
                }
            }
            for key in ["key", "event_type"] {
                if row.get(key).is_some() {
                    row[key] = serde_json::json!(testkit::unique(key));
                }
            }
            let insert = format!(
                "INSERT INTO {t} SELECT * FROM jsonb_populate_record(NULL::{t}, $1)",
                t = qualified(table)
            );

            for tenant in [Some(a.tenant), None] {
                let mut tx = app.begin().await.unwrap();
                if let Some(t) = tenant {
                    set_tenant(&mut tx, t).await;
                }
                let err = sqlx::query(&insert)
                    .bind(&row)
                    .execute(&mut *tx)
                    .await
                    .expect_err(&format!(
                        "{table}: inserting B's row with {tenant:?} set must fail"
                    ));
                let db_err = err.as_database_error().expect("a database error");
                assert_eq!(db_err.code().as_deref(), Some("42501"), "{table}: {db_err}");
                assert!(
                    db_err
                        .message()
                        .contains("new row violates row-level security policy"),
                    "{table}: {db_err}"
                );
                tx.rollback().await.unwrap();
            }

            // The same row is accepted with B set: the tenant was the only
            // obstacle (tenant_settings is keyed by the tenant alone, so B's
            // second row would clash with its first).
            if table == "tenant_settings" {
                continue;
            }
            let mut tx = app.begin().await.unwrap();
            set_tenant(&mut tx, b.tenant).await;
            sqlx::query(&insert)
                .bind(&row)
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("{table}: B may insert its own row: {e}"));
            tx.rollback().await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn the_app_role_cannot_skip_policies_and_owns_no_table() {
    bounded(async {
        let (db, _store) = postgres_store().await;
        let mut app = app_connection(&db).await;
        let roles: Vec<(String, bool, bool)> = sqlx::query_as(
            "SELECT rolname::text, rolsuper, rolbypassrls FROM pg_roles \
             WHERE pg_has_role(current_user, oid, 'MEMBER') ORDER BY 1",
        )
        .fetch_all(&mut app)
        .await
        .unwrap();
        assert_eq!(
            roles,
            [
                ("notifications_app".to_string(), false, false),
                ("notifications_operator".to_string(), false, false),
            ]
        );
        // A policy `TO notifications_operator` applies to every role that
        // inherits it; the app role may only switch to it (SET ROLE).
        let (may_switch, inherits): (bool, bool) = sqlx::query_as(
            "SELECT pg_has_role(current_user, 'notifications_operator', 'MEMBER'), \
                    pg_has_role(current_user, 'notifications_operator', 'USAGE')",
        )
        .fetch_one(&mut app)
        .await
        .unwrap();
        assert_eq!((may_switch, inherits), (true, false));
        let owned: Vec<String> = sqlx::query_scalar(
            "SELECT schemaname || '.' || tablename FROM pg_tables \
             WHERE pg_has_role(current_user, tableowner, 'MEMBER') ORDER BY 1",
        )
        .fetch_all(&mut app)
        .await
        .unwrap();
        assert_eq!(owned, Vec::<String>::new(), "tables the app role owns");
        let owners: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname = $1",
        )
        .bind(SCHEMA)
        .fetch_all(&mut app)
        .await
        .unwrap();
        assert!(
            !owners.is_empty() && owners.iter().all(|o| !o.starts_with("notifications_")),
            "the schema's tables belong to the migrating owner: {owners:?}"
        );
        // The audit log is append-only for the application.
        let (update, delete): (bool, bool) = sqlx::query_as(
            "SELECT has_table_privilege(current_user, 'notifications.audit_log', 'UPDATE'), \
                    has_table_privilege(current_user, 'notifications.audit_log', 'DELETE')",
        )
        .fetch_one(&mut app)
        .await
        .unwrap();
        assert_eq!((update, delete), (false, false));
    })
    .await;
}

#[tokio::test]
async fn the_operator_role_reaches_the_work_queues_of_every_tenant_and_nothing_else() {
    bounded(async {
        let (db, store) = postgres_store().await;
        let a = seed_tenant(&store, "alpha").await;
        let b = seed_tenant(&store, "beta").await;
        let mut owner = owner_connection(&db).await;
        let tables = schema_tables(&mut owner).await;

        // What the operator may do, table by table, from the catalog.
        let mut granted = Vec::new();
        for table in &tables {
            let privileges: Vec<String> = sqlx::query_scalar(
                "SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p \
                 WHERE has_table_privilege('notifications_operator', $1, p) ORDER BY 1",
            )
            .bind(qualified(table))
            .fetch_all(&mut owner)
            .await
            .unwrap();
            if !privileges.is_empty() {
                granted.push((table.clone(), privileges.join(" ")));
            }
        }
        let expected: Vec<(String, String)> = [
            ("deliveries", "SELECT UPDATE"),
            ("notifications", "SELECT"),
            ("outbox", "DELETE SELECT UPDATE"),
            ("reminders", "SELECT UPDATE"),
        ]
        .iter()
        .map(|(t, p)| (t.to_string(), p.to_string()))
        .collect();
        assert_eq!(granted, expected, "the operator's privileges");

        // Switched to the operator (as the workers do), the app role sees
        // every tenant's queued work and nothing of the other tables.
        let mut app = app_connection(&db).await;
        let mut tx = app.begin().await.unwrap();
        sqlx::query("SET LOCAL ROLE notifications_operator")
            .execute(&mut *tx)
            .await
            .unwrap();
        for table in ["deliveries", "notifications", "reminders", "outbox"] {
            let mut seen: Vec<Uuid> = sqlx::query_scalar(&format!(
                "SELECT DISTINCT tenant_id FROM {}",
                qualified(table)
            ))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
            seen.sort();
            assert_eq!(seen, sorted([a.tenant.0, b.tenant.0]), "{table}");
        }
        tx.rollback().await.unwrap();
        for table in tables.iter().filter(|t| {
            !matches!(
                t.as_str(),
                "deliveries" | "notifications" | "reminders" | "outbox"
            )
        }) {
            let mut tx = app.begin().await.unwrap();
            sqlx::query("SET LOCAL ROLE notifications_operator")
                .execute(&mut *tx)
                .await
                .unwrap();
            let err = sqlx::query(&format!("SELECT 1 FROM {}", qualified(table)))
                .fetch_all(&mut *tx)
                .await
                .expect_err(&format!("the operator may not read {table}"));
            assert_eq!(
                err.as_database_error().and_then(|e| e.code()).as_deref(),
                Some("42501"),
                "{table}: permission denied"
            );
            tx.rollback().await.unwrap();
        }
        // The operator reads messages but never writes them.
        let mut tx = app.begin().await.unwrap();
        sqlx::query("SET LOCAL ROLE notifications_operator")
            .execute(&mut *tx)
            .await
            .unwrap();
        let err = sqlx::query(&format!(
            "UPDATE {} SET title = 'changed'",
            qualified("notifications")
        ))
        .execute(&mut *tx)
        .await
        .expect_err("the operator may not change notifications");
        assert_eq!(
            err.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42501")
        );
        tx.rollback().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn every_table_forces_rls_and_leads_its_keys_and_indexes_with_tenant_id() {
    bounded(async {
        let (db, _store) = postgres_store().await;
        let mut owner = owner_connection(&db).await;
        let tables = schema_tables(&mut owner).await;

        let rls: Vec<(String, bool, bool, bool, Vec<String>)> = sqlx::query_as(
            "SELECT c.relname::text, \
               EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
                       AND a.attname = 'tenant_id' AND a.attnum > 0 AND NOT a.attisdropped), \
               c.relrowsecurity, c.relforcerowsecurity, \
               ARRAY(SELECT p.polname::text FROM pg_policy p WHERE p.polrelid = c.oid ORDER BY 1) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations' \
             ORDER BY 1",
        )
        .bind(SCHEMA)
        .fetch_all(&mut owner)
        .await
        .unwrap();
        assert_eq!(rls.iter().map(|r| r.0.clone()).collect::<Vec<_>>(), tables);
        for (table, has_tenant, enabled, forced, policies) in &rls {
            assert!(*has_tenant, "{table} carries tenant_id");
            assert!(*enabled && *forced, "{table}: RLS enabled and forced");
            // The cross-tenant work queues (see the migration): the relay's
            // outbox, the delivery and reminder workers' claims, and the
            // messages handed out with claimed deliveries (read only).
            let expected: &[&str] = match table.as_str() {
                "outbox" | "deliveries" | "reminders" => &["operator_all", "tenant_isolation"],
                "notifications" => &["operator_read", "tenant_isolation"],
                _ => &["tenant_isolation"],
            };
            assert_eq!(policies, expected, "{table}: policies");
        }
        // Every operator policy names the operator role alone.
        let operator_policies: Vec<(String, String, Vec<String>)> = sqlx::query_as(
            "SELECT c.relname::text, p.polname::text, \
                    ARRAY(SELECT r.rolname::text FROM pg_roles r WHERE r.oid = ANY (p.polroles)) \
             FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND p.polname LIKE 'operator%' ORDER BY 1",
        )
        .bind(SCHEMA)
        .fetch_all(&mut owner)
        .await
        .unwrap();
        assert_eq!(operator_policies.len(), 4);
        for (table, policy, roles) in &operator_policies {
            assert_eq!(
                roles,
                &["notifications_operator".to_string()],
                "{table}.{policy}"
            );
        }

        // Every index of every table, with its first column.
        let indexes: Vec<(String, String, bool, Option<String>)> = sqlx::query_as(
            "SELECT i.relname::text, t.relname::text, x.indisprimary OR x.indisunique, \
                    a.attname::text \
             FROM pg_index x \
             JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_class t ON t.oid = x.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] \
             WHERE n.nspname = $1 AND t.relname <> '_sqlx_migrations' \
             ORDER BY 1",
        )
        .bind(SCHEMA)
        .fetch_all(&mut owner)
        .await
        .unwrap();
        let names: Vec<&str> = indexes.iter().map(|k| k.0.as_str()).collect();
        for expected in [
            "notifications_pkey",
            "notifications_by_person",
            "notifications_unread",
            "notifications_by_source",
            "deliveries_pkey",
            "deliveries_by_notification",
            "deliveries_by_person",
            "deliveries_by_status",
            "preferences_pkey",
            "unsubscribe_tokens_by_person",
            "templates_pkey",
            "cluster_messages_by_cluster",
            "idempotency_keys_pkey",
            "tenant_settings_pkey",
            "reminders_pkey",
            "processed_events_pkey",
        ] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        let keyed: Vec<&str> = indexes
            .iter()
            .filter(|k| k.2)
            .map(|k| k.1.as_str())
            .collect();
        for table in &tables {
            assert!(keyed.contains(&table.as_str()), "{table} has a primary key");
        }
        let not_led_by_tenant: Vec<(&str, &str)> = indexes
            .iter()
            .filter(|(_, _, _, first)| first.as_deref() != Some("tenant_id"))
            .map(|(index, table, _, _)| (index.as_str(), table.as_str()))
            .collect();
        // The documented exceptions, exactly: the cross-tenant scans of the
        // work queues (the outbox relay, the delivery and reminder claims).
        assert_eq!(
            not_led_by_tenant,
            [
                ("deliveries_due", "deliveries"),
                ("outbox_unpublished", "outbox"),
                ("reminders_due", "reminders"),
            ]
        );
        // They are partial: only the work still to do is indexed.
        let partial: Vec<(String, String)> = sqlx::query_as(
            "SELECT i.relname::text, pg_get_expr(x.indpred, x.indrelid) \
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_namespace n ON n.oid = i.relnamespace \
             WHERE n.nspname = $1 AND i.relname IN ('deliveries_due', 'outbox_unpublished', \
             'reminders_due') ORDER BY 1",
        )
        .bind(SCHEMA)
        .fetch_all(&mut owner)
        .await
        .unwrap();
        assert_eq!(partial.len(), 3);
        assert!(partial[0].1.contains("queued") && partial[0].1.contains("held"));
        assert!(partial[1].1.contains("published_at IS NULL"));
        assert!(partial[2].1.contains("claimed_at IS NULL"));
    })
    .await;
}
