//! Database pools, migrations and the tenant transaction.
//!
//! Each service owns one schema in PostgreSQL (or one SQLite file in the
//! embedded mode). Services connect as `<schema>_app`, a role that owns no
//! table and has no `BYPASSRLS`, so the row-level-security policies of every
//! table apply to them. Migrations run as the owner (`collegium migrate`).
//! Cross-tenant operator work (the outbox relay, the tenant directory) runs as
//! `<schema>_operator`, a role `*_app` is a member of and switches to with
//! `SET LOCAL ROLE` only inside that work.
//!
//! Every tenant-scoped statement runs inside [`TenantPool::begin_tenant`],
//! which on PostgreSQL sets `app.tenant_id` for the transaction; the policies
//! compare every row's `tenant_id` with it.

use std::{path::Path, str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    Executor, PgPool, Postgres, Sqlite, SqlitePool, Transaction,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::{
    auth::TenantId,
    error::{Error, Result},
};

/// A pool that can open a transaction bound to one tenant.
#[async_trait]
pub trait TenantPool: Send + Sync {
    type Db: sqlx::Database;

    /// Begins a transaction in which only `tenant`'s rows are visible
    /// (enforced by RLS on PostgreSQL, by the store's `WHERE tenant_id` everywhere).
    async fn begin_tenant(&self, tenant: TenantId) -> Result<Transaction<'static, Self::Db>>;

    /// Begins a transaction for cross-tenant operator work (relay, directory).
    async fn begin_operator(&self) -> Result<Transaction<'static, Self::Db>>;

    /// Leaves operator work inside `tx` and continues as `tenant` (e.g. the
    /// audit record of a tenant that was just created, in the same transaction).
    async fn enter_tenant(tx: &mut Transaction<'static, Self::Db>, tenant: TenantId) -> Result<()>;
}

#[async_trait]
impl TenantPool for PgPool {
    type Db = Postgres;

    async fn begin_tenant(&self, tenant: TenantId) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
            .bind(tenant.0.to_string())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    async fn begin_operator(&self) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.begin().await?;
        // The operator role is `<current schema>_operator`.
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&mut *tx)
            .await?;
        tx.execute(
            format!(
                "SET LOCAL ROLE {}",
                quote_ident(&format!("{schema}_operator"))
            )
            .as_str(),
        )
        .await?;
        Ok(tx)
    }

    async fn enter_tenant(tx: &mut Transaction<'static, Postgres>, tenant: TenantId) -> Result<()> {
        tx.execute("RESET ROLE").await?;
        sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
            .bind(tenant.0.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl TenantPool for SqlitePool {
    type Db = Sqlite;

    async fn begin_tenant(&self, _tenant: TenantId) -> Result<Transaction<'static, Sqlite>> {
        // SQLite has no RLS; the store's `WHERE tenant_id = ?` is the wall, and
        // the contract suite proves it on both backends.
        Ok(self.begin().await?)
    }

    async fn begin_operator(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.begin().await?)
    }

    async fn enter_tenant(_tx: &mut Transaction<'static, Sqlite>, _tenant: TenantId) -> Result<()> {
        Ok(())
    }
}

/// Quotes a PostgreSQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The application role of a service schema.
pub fn app_role(schema: &str) -> String {
    format!("{schema}_app")
}

/// The operator role of a service schema.
pub fn operator_role(schema: &str) -> String {
    format!("{schema}_operator")
}

/// Connects to PostgreSQL with `search_path` set to the service's schema.
pub async fn connect_postgres(url: &str, schema: &str, max_connections: u32) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| Error::invalid("database_url", format!("not a PostgreSQL URL: {e}")))?
        .options([("search_path", schema)])
        .application_name(&format!("collegium-{schema}"));
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, schema, "cannot connect to PostgreSQL");
            Error::Unavailable(format!("PostgreSQL: {e}"))
        })
}

/// Opens (creating when missing) a SQLite file for the embedded mode. One
/// connection: SQLite allows one writer, and a single connection makes every
/// transaction wait its turn instead of failing with SQLITE_BUSY.
pub async fn connect_sqlite(path: &Path) -> Result<SqlitePool> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::internal)?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// An in-memory SQLite database (tests and throwaway runs).
pub async fn connect_sqlite_memory() -> Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str("sqlite::memory:")
        .map_err(Error::internal)?
        .foreign_keys(true);
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await?)
}

/// Runs a service's SQLite migrations.
pub async fn migrate_sqlite(pool: &SqlitePool, migrator: &Migrator) -> Result<()> {
    migrator
        .run(pool)
        .await
        .map_err(|e| Error::internal(anyhow::anyhow!("SQLite migration failed: {e}")))
}

/// Prepares a service schema on PostgreSQL, connected as the **owner**:
/// creates the schema and the `<schema>_app` / `<schema>_operator` roles when
/// missing, runs the migrations and grants the app role what it needs.
/// Idempotent; safe to run before every rollout.
pub async fn migrate_postgres(owner_url: &str, schema: &str, migrator: &Migrator) -> Result<()> {
    let owner = connect_postgres(owner_url, schema, 2).await?;
    let (app, operator) = (app_role(schema), operator_role(schema));
    let mut conn = owner.acquire().await?;
    // Roles are cluster-wide: migrations of other databases on the same
    // server (the tests run many at once) can collide on them with "tuple
    // concurrently updated", a duplicate role (42710) or, when two CREATE
    // ROLEs race past the existence check, a unique violation on
    // pg_authid (23505). Advisory locks are per database and cannot
    // serialise that, so retry a few times instead.
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        let result = provision_roles(&mut conn, schema, &app, &operator).await;
        match result {
            Err(sqlx::Error::Database(e))
                if attempt < 10
                    && (e.message().contains("concurrently")
                        || matches!(e.code().as_deref(), Some("42710" | "23505"))) =>
            {
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            other => break other,
        }
    };
    result?;
    drop(conn);
    migrator.run(&owner).await.map_err(|e| {
        Error::internal(anyhow::anyhow!(
            "PostgreSQL migration of {schema} failed: {e}"
        ))
    })?;
    let (s, a, o) = (
        quote_ident(schema),
        quote_ident(&app),
        quote_ident(&operator),
    );
    for stmt in [
        format!("GRANT USAGE ON SCHEMA {s} TO {a}, {o}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {a}"),
        format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {a}"),
        format!("REVOKE ALL ON {s}._sqlx_migrations FROM {a}"),
        // The audit log is append-only for the application.
        format!(
            "DO $$ BEGIN IF to_regclass('{schema}.audit_log') IS NOT NULL THEN \
             REVOKE UPDATE, DELETE ON {s}.audit_log FROM {a}; END IF; END $$"
        ),
        // ... except through retention: one tenant's records before a cutoff
        // (`TenantTxExt::expire_common`), in the tenant of the transaction.
        format!(
            "DO $do$ BEGIN IF to_regclass('{schema}.audit_log') IS NOT NULL THEN \
             CREATE OR REPLACE FUNCTION {s}.expire_audit_log(tenant UUID, cutoff TIMESTAMPTZ) \
             RETURNS BIGINT LANGUAGE sql SECURITY DEFINER SET search_path = {s} AS $f$ \
             WITH gone AS (DELETE FROM audit_log WHERE tenant_id = tenant \
             AND tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid \
             AND at < cutoff RETURNING 1) SELECT count(*) FROM gone $f$; \
             REVOKE ALL ON FUNCTION {s}.expire_audit_log(UUID, TIMESTAMPTZ) FROM PUBLIC; \
             GRANT EXECUTE ON FUNCTION {s}.expire_audit_log(UUID, TIMESTAMPTZ) TO {a}; \
             END IF; END $do$"
        ),
        // ... and through data-subject erasure: named keys removed from the
        // snapshots of one tenant's records about named targets
        // (`TenantTxExt::scrub_audit`).
        format!(
            "DO $do$ BEGIN IF to_regclass('{schema}.audit_log') IS NOT NULL THEN \
             CREATE OR REPLACE FUNCTION {s}.scrub_audit_keys(tenant UUID, targets TEXT[], keys TEXT[]) \
             RETURNS BIGINT LANGUAGE sql SECURITY DEFINER SET search_path = {s} AS $f$ \
             WITH done AS (UPDATE audit_log SET before = before - keys, after = after - keys \
             WHERE tenant_id = tenant \
             AND tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid \
             AND target_id = ANY(targets) AND action <> 'person.erased' \
             AND (before ?| keys OR after ?| keys) RETURNING 1) SELECT count(*) FROM done $f$; \
             REVOKE ALL ON FUNCTION {s}.scrub_audit_keys(UUID, TEXT[], TEXT[]) FROM PUBLIC; \
             GRANT EXECUTE ON FUNCTION {s}.scrub_audit_keys(UUID, TEXT[], TEXT[]) TO {a}; \
             END IF; END $do$"
        ),
    ] {
        owner.execute(stmt.as_str()).await?;
    }
    owner.close().await;
    Ok(())
}

/// Creates the app and operator roles when missing and links them.
async fn provision_roles(
    conn: &mut sqlx::PgConnection,
    schema: &str,
    app: &str,
    operator: &str,
) -> Result<(), sqlx::Error> {
    for (role, login) in [(app, true), (operator, false)] {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(role)
                .fetch_one(&mut *conn)
                .await?;
        if !exists {
            let login = if login { "LOGIN" } else { "NOLOGIN" };
            conn.execute(
                format!(
                    "CREATE ROLE {} {login} NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE",
                    quote_ident(role)
                )
                .as_str(),
            )
            .await?;
        }
    }
    let (s, a, o) = (quote_ident(schema), quote_ident(app), quote_ident(operator));
    conn.execute(format!("CREATE SCHEMA IF NOT EXISTS {s}").as_str())
        .await?;
    // The app role may switch to the operator role (SET LOCAL ROLE) but
    // must not *inherit* it: a policy written `TO <schema>_operator`
    // applies to every role that inherits its privileges, and would open
    // every tenant's rows to the app role. NOINHERIT keeps it closed.
    conn.execute(format!("ALTER ROLE {a} NOINHERIT").as_str())
        .await?;
    conn.execute(format!("GRANT {o} TO {a}").as_str()).await?;
    // From PostgreSQL 16 inheritance is a property of each grant; an older
    // grant made with inheritance is corrected here.
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut *conn)
        .await?;
    if version >= 160000 {
        conn.execute(format!("GRANT {o} TO {a} WITH INHERIT FALSE").as_str())
            .await?;
    }
    Ok(())
}

/// What every service store holds: its pool, and a signal the outbox relay
/// waits on. `tx` opens a tenant transaction; `commit` commits it and wakes
/// the relay, so events leave as soon as the change is durable.
#[derive(Clone)]
pub struct TenantStore<P> {
    pub pool: P,
    outbox_written: std::sync::Arc<tokio::sync::Notify>,
}

impl<P: TenantPool> TenantStore<P> {
    pub fn new(pool: P) -> Self {
        Self {
            pool,
            outbox_written: Default::default(),
        }
    }

    pub fn pool(&self) -> &P {
        &self.pool
    }

    /// Notified after every commit through [`TenantStore::commit`].
    pub fn outbox_notify(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.outbox_written.clone()
    }

    /// A transaction bound to tenant `t` (see [`TenantPool::begin_tenant`]).
    pub async fn tx(&self, t: TenantId) -> Result<Transaction<'static, P::Db>> {
        self.pool.begin_tenant(t).await
    }

    /// Commits and wakes the outbox relay.
    pub async fn commit(&self, tx: Transaction<'static, P::Db>) -> Result<()> {
        tx.commit().await?;
        self.outbox_written.notify_one();
        Ok(())
    }
}

// ---------------------------------------------------------------- store helpers
// Shared by every service's `store/sql.rs`.

/// An instant as the stores keep it: whole seconds, so both backends return
/// exactly what was stored (SQLite keeps instants as RFC 3339 text).
pub fn whole_secs(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::SubsecRound::trunc_subsecs(t, 0)
}

/// A value read back from a text column that must parse (an enum's
/// spelling); anything else is a store bug, reported as internal.
pub fn stored_enum<T>(what: &str, value: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T> {
    parse(value).ok_or_else(|| Error::internal(anyhow::anyhow!("stored {what}: {value:?}")))
}

/// A unique violation reported as a conflict with `message` ("<field>: why");
/// any other database error as [`Error::from_db`] maps it.
pub fn conflict_on(e: sqlx::Error, message: &str) -> Error {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return Error::Conflict(message.to_string());
    }
    Error::from_db(e)
}
