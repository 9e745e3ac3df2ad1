//! The proof of DESIGN §3, written once for every service schema: row-level
//! security is a second wall behind each store's `WHERE tenant_id`.
//!
//! Connected as `<schema>_app` (the role the service uses) with tenant A set
//! for the transaction, a `SELECT` with no `WHERE` returns only A's rows in
//! every table; with no tenant set, none; an insert of B's row is refused by
//! the policy. The catalog checks keep it so for tables added later: every
//! table carries `tenant_id` with RLS enabled and forced, every index leads
//! with `tenant_id` (but for documented exceptions), and the app role can
//! neither skip policies, inherit the operator role, own a table nor rewrite
//! the audit log.

use std::str::FromStr;

use platform::{
    auth::TenantId,
    db::{app_role, operator_role, quote_ident},
};
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
use uuid::Uuid;

use crate::TestDatabase;

/// One service schema under test.
pub struct RlsProof<'a> {
    pub db: &'a TestDatabase,
    pub schema: &'a str,
}

impl RlsProof<'_> {
    /// A connection as the app role, with the service's `search_path`.
    pub async fn app(&self) -> PgConnection {
        let options = PgConnectOptions::from_str(&self.db.app_url(self.schema))
            .expect("app URL")
            .options([("search_path", self.schema)]);
        PgConnection::connect_with(&options)
            .await
            .expect("the app role connects")
    }

    /// A connection as the owner (a superuser in tests, which skips RLS).
    pub async fn owner(&self) -> PgConnection {
        PgConnection::connect(&self.db.owner_url)
            .await
            .expect("the owner connects")
    }

    /// Every table of the schema but the migration ledger, from the catalog.
    pub async fn tables(&self, conn: &mut PgConnection) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') \
             AND c.relname <> '_sqlx_migrations' ORDER BY 1",
        )
        .bind(self.schema)
        .fetch_all(conn)
        .await
        .expect("the catalog lists the tables")
    }

    fn qualified(&self, table: &str) -> String {
        format!("{}.{}", quote_ident(self.schema), quote_ident(table))
    }

    async fn visible(
        &self,
        conn: &mut PgConnection,
        table: &str,
        t: Option<TenantId>,
    ) -> Vec<Uuid> {
        let mut tx = conn.begin().await.expect("begin");
        if let Some(t) = t {
            set_tenant(&mut tx, t).await;
        }
        let seen: Vec<Uuid> =
            sqlx::query_scalar(&format!("SELECT tenant_id FROM {}", self.qualified(table)))
                .fetch_all(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("the app role reads {table}: {e}"));
        tx.rollback().await.expect("rollback");
        seen
    }

    /// With rows of `a` and `b` in every table (checked as the owner), the
    /// app role sees exactly one tenant's rows per transaction, and none
    /// without a tenant. Returns the tables checked.
    pub async fn assert_reads_confined(&self, a: TenantId, b: TenantId) -> Vec<String> {
        let mut owner = self.owner().await;
        let mut app = self.app().await;
        let me: String = sqlx::query_scalar("SELECT current_user::text")
            .fetch_one(&mut app)
            .await
            .unwrap();
        assert_eq!(me, app_role(self.schema));
        let tables = self.tables(&mut owner).await;
        assert!(!tables.is_empty(), "the schema has tables");
        assert_eq!(
            self.tables(&mut app).await,
            tables,
            "the app role sees the same tables"
        );
        for table in &tables {
            let mut present: Vec<Uuid> = sqlx::query_scalar(&format!(
                "SELECT DISTINCT tenant_id FROM {}",
                self.qualified(table)
            ))
            .fetch_all(&mut owner)
            .await
            .unwrap();
            present.sort();
            let mut both = vec![a.0, b.0];
            both.sort();
            assert_eq!(
                present, both,
                "{table}: the seed wrote rows of both tenants"
            );
            for t in [a, b] {
                let seen = self.visible(&mut app, table, Some(t)).await;
                assert!(!seen.is_empty(), "{table}: {t}'s own rows are visible");
                assert!(
                    seen.iter().all(|s| *s == t.0),
                    "{table}: with {t} set only its rows come back, got {seen:?}"
                );
            }
            assert!(
                self.visible(&mut app, table, None).await.is_empty(),
                "{table}: no tenant set, no rows"
            );
        }
        tables
    }

    /// In every table, one of `b`'s rows (with fresh values in its
    /// non-foreign-key primary key columns) is refused by the policy when
    /// inserted with `a` set, or with no tenant set.
    pub async fn assert_foreign_inserts_refused(&self, a: TenantId, b: TenantId) {
        let mut app = self.app().await;
        let mut owner = self.owner().await;
        for table in self.tables(&mut owner).await {
            let fresh: Vec<String> = sqlx::query_scalar(
                "SELECT a.attname::text FROM pg_index x \
                 JOIN pg_class t ON t.oid = x.indrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey) \
                 WHERE x.indisprimary AND n.nspname = $1 AND t.relname = $2 \
                 AND a.attname <> 'tenant_id' \
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.conrelid = t.oid \
                     AND f.contype = 'f' AND a.attnum = ANY(f.conkey))",
            )
            .bind(self.schema)
            .bind(&table)
            .fetch_all(&mut owner)
            .await
            .unwrap();
            let mut tx = app.begin().await.unwrap();
            set_tenant(&mut tx, b).await;
            let mut row: serde_json::Value = sqlx::query_scalar(&format!(
                "SELECT to_jsonb(t) FROM {} t LIMIT 1",
                self.qualified(&table)
            ))
            .fetch_one(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{table}: B reads its own row: {e}"));
            tx.rollback().await.unwrap();
            for column in &fresh {
                if row[column]
                    .as_str()
                    .is_some_and(|v| Uuid::parse_str(v).is_ok())
                {
                    row[column] = serde_json::json!(Uuid::now_v7().to_string());
                }
            }
            let insert = format!(
                "INSERT INTO {t} SELECT * FROM jsonb_populate_record(NULL::{t}, $1)",
                t = self.qualified(&table)
            );
            for tenant in [Some(a), None] {
                let mut tx = app.begin().await.unwrap();
                if let Some(t) = tenant {
                    set_tenant(&mut tx, t).await;
                }
                let err = sqlx::query(&insert)
                    .bind(&row)
                    .execute(&mut *tx)
                    .await
                    .expect_err(&format!(
                        "{table}: B's row with {tenant:?} set must be refused"
                    ));
                let db_err = err.as_database_error().expect("a database error");
                assert_eq!(db_err.code().as_deref(), Some("42501"), "{table}: {db_err}");
                assert!(
                    db_err.message().contains("row-level security"),
                    "{table}: {db_err}"
                );
                tx.rollback().await.unwrap();
            }
        }
    }

    /// The app role is no superuser, cannot bypass RLS, may switch to the
    /// operator role but does not inherit it, owns no table, and cannot
    /// update or delete audit records.
    pub async fn assert_app_role_unprivileged(&self) {
        let mut app = self.app().await;
        let (app_name, operator) = (app_role(self.schema), operator_role(self.schema));
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
                (app_name.clone(), false, false),
                (operator.clone(), false, false)
            ]
        );
        let (may_switch, inherits): (bool, bool) = sqlx::query_as(
            "SELECT pg_has_role(current_user, $1, 'MEMBER'), pg_has_role(current_user, $1, 'USAGE')",
        )
        .bind(&operator)
        .fetch_one(&mut app)
        .await
        .unwrap();
        assert_eq!(
            (may_switch, inherits),
            (true, false),
            "switch to {operator}, never inherit it"
        );
        let owned: Vec<String> = sqlx::query_scalar(
            "SELECT schemaname || '.' || tablename FROM pg_tables \
             WHERE pg_has_role(current_user, tableowner, 'MEMBER') ORDER BY 1",
        )
        .fetch_all(&mut app)
        .await
        .unwrap();
        assert!(owned.is_empty(), "tables the app role owns: {owned:?}");
        let audit = format!("{}.audit_log", quote_ident(self.schema));
        let (update, delete): (bool, bool) = sqlx::query_as(
            "SELECT has_table_privilege(current_user, $1, 'UPDATE'), \
                    has_table_privilege(current_user, $1, 'DELETE')",
        )
        .bind(&audit)
        .fetch_one(&mut app)
        .await
        .unwrap();
        assert_eq!(
            (update, delete),
            (false, false),
            "the audit log is append-only"
        );
    }

    /// Every table carries `tenant_id`, has RLS enabled and forced with the
    /// `tenant_isolation` policy (plus `operator_all` exactly on
    /// `operator_tables`), has a primary key, and every index leads with
    /// `tenant_id` except `exceptions` (index, table), which must match exactly.
    pub async fn assert_catalog(&self, operator_tables: &[&str], exceptions: &[(&str, &str)]) {
        let mut owner = self.owner().await;
        let rows: Vec<(String, bool, bool, bool, Vec<String>, bool)> = sqlx::query_as(
            "SELECT c.relname::text, \
               EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
                       AND a.attname = 'tenant_id' AND a.attnum > 0 AND NOT a.attisdropped), \
               c.relrowsecurity, c.relforcerowsecurity, \
               ARRAY(SELECT p.polname::text FROM pg_policy p WHERE p.polrelid = c.oid ORDER BY 1), \
               EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = c.oid AND x.indisprimary) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations' \
             ORDER BY 1",
        )
        .bind(self.schema)
        .fetch_all(&mut owner)
        .await
        .unwrap();
        assert!(!rows.is_empty());
        for (table, tenant, enabled, forced, policies, pk) in &rows {
            assert!(*tenant, "{table} carries tenant_id");
            assert!(*enabled && *forced, "{table}: RLS enabled and forced");
            assert!(*pk, "{table} has a primary key");
            let expected: &[&str] = if operator_tables.contains(&table.as_str()) {
                &["operator_all", "tenant_isolation"]
            } else {
                &["tenant_isolation"]
            };
            assert_eq!(policies, expected, "{table}: policies");
        }
        let not_led: Vec<(String, String)> = sqlx::query_as(
            "SELECT i.relname::text, t.relname::text FROM pg_index x \
             JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_class t ON t.oid = x.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] \
             WHERE n.nspname = $1 AND t.relname <> '_sqlx_migrations' \
             AND a.attname IS DISTINCT FROM 'tenant_id' ORDER BY 1",
        )
        .bind(self.schema)
        .fetch_all(&mut owner)
        .await
        .unwrap();
        let expected: Vec<(String, String)> = exceptions
            .iter()
            .map(|(i, t)| (i.to_string(), t.to_string()))
            .collect();
        assert_eq!(not_led, expected, "indexes not led by tenant_id");
    }
}

async fn set_tenant(conn: &mut PgConnection, t: TenantId) {
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(t.0.to_string())
        .execute(conn)
        .await
        .expect("set_config");
}
