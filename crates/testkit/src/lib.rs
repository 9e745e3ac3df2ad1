//! Shared test helpers: throwaway PostgreSQL databases (migrated as the owner,
//! used as the service's non-owner app role), Redis key namespaces, a token
//! issuer, and telemetry printed only when `TEST_LOG` is set.
//!
//! Tests talk to the real PostgreSQL and Redis that `scripts/test` starts
//! (`COLLEGIUM_TEST_PG`, `COLLEGIUM_TEST_REDIS` override where they are).

pub mod rls;

use std::sync::Once;

use platform::auth::{
    DEFAULT_AUDIENCE, Grant, INTERNAL_ISSUER, PersonId, TenantId, TokenSigner, TokenVerifier,
};
use sqlx::{Connection, Executor, PgConnection, migrate::Migrator};

/// Superuser URL of the test server's maintenance database.
pub fn pg_admin_url() -> String {
    std::env::var("COLLEGIUM_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// URL of the test Redis.
pub fn redis_url() -> String {
    std::env::var("COLLEGIUM_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// A unique name for keys, groups and databases of one test.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Logs to the test output when `TEST_LOG` is set; silent otherwise.
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string()))
                .with_test_writer()
                .try_init();
        }
    });
}

/// A database created for one test and dropped when the value is dropped.
pub struct TestDatabase {
    pub name: String,
    /// Superuser/owner URL of this database (migrations, catalog checks).
    pub owner_url: String,
}

impl TestDatabase {
    /// Creates an empty database named by a UUID.
    pub async fn create() -> anyhow::Result<Self> {
        let name = unique("collegium_test");
        let mut admin = PgConnection::connect(&pg_admin_url()).await?;
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await?;
        let owner_url = with_database(&pg_admin_url(), &name, None);
        Ok(Self { name, owner_url })
    }

    /// Creates a database and migrates one service schema into it.
    pub async fn migrated(schema: &str, migrator: &Migrator) -> anyhow::Result<Self> {
        let db = Self::create().await?;
        platform::db::migrate_postgres(&db.owner_url, schema, migrator).await?;
        Ok(db)
    }

    /// Runs one statement as the owner, past every policy: for a test that
    /// must age rows (`UPDATE … SET created_at = created_at - interval …`).
    /// Returns the rows affected.
    pub async fn execute_as_owner(&self, sql: &str) -> anyhow::Result<u64> {
        let mut owner = PgConnection::connect(&self.owner_url).await?;
        Ok(owner.execute(sql).await?.rows_affected())
    }

    /// URL of the service's application role (`<schema>_app`) for this database.
    pub fn app_url(&self, schema: &str) -> String {
        with_database(
            &pg_admin_url(),
            &self.name,
            Some(&platform::db::app_role(schema)),
        )
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any runtime we can block on; use a thread of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&pg_admin_url()).await {
                        let _ = admin
                            .execute(
                                format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str(),
                            )
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

fn with_database(base: &str, db: &str, user: Option<&str>) -> String {
    let mut url = url_parts(base);
    url.1 = db.to_string();
    if let Some(u) = user {
        url.0 = u.to_string();
    }
    format!("postgres://{}@{}/{}", url.0, url.2, url.1)
}

/// (user, database, host:port) of a simple `postgres://user@host:port/db` URL.
fn url_parts(url: &str) -> (String, String, String) {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .unwrap_or(url);
    let (auth, rest) = rest.split_once('@').unwrap_or(("postgres", rest));
    let user = auth.split(':').next().unwrap_or("postgres").to_string();
    let (host, db) = rest.split_once('/').unwrap_or((rest, "postgres"));
    let db = db.split('?').next().unwrap_or("postgres").to_string();
    (user, db, host.to_string())
}

/// Issues tokens that a matching verifier trusts.
#[derive(Clone, Debug)]
pub struct TestIssuer {
    pub signer: TokenSigner,
    pub verifier: TokenVerifier,
}

impl Default for TestIssuer {
    fn default() -> Self {
        Self::new()
    }
}

impl TestIssuer {
    pub fn new() -> Self {
        let signer = TokenSigner::from_pem(
            &TokenSigner::generate_pem(),
            INTERNAL_ISSUER,
            DEFAULT_AUDIENCE,
        )
        .expect("generated key loads");
        let verifier = TokenVerifier::builder()
            .trust_signer(&signer)
            .expect("own key is trusted")
            .build();
        Self { signer, verifier }
    }

    pub fn token(&self, tenant: TenantId, person: PersonId, grants: &[Grant]) -> String {
        self.signer
            .person_token(tenant, person, grants, chrono::Duration::minutes(10))
    }
}
