//! The scoring service. See `docs/ARCHITECTURE.md`.

pub mod domain;
pub mod store;

/// The PostgreSQL schema (and role prefix) of this service.
pub const SCHEMA: &str = "scoring";

pub static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
pub static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// Migrates the PostgreSQL schema; `owner_url` connects as the schema owner.
pub async fn migrate_postgres(owner_url: &str) -> platform::error::Result<()> {
    platform::db::migrate_postgres(owner_url, SCHEMA, &POSTGRES_MIGRATIONS).await
}

/// Opens the production store as the `scoring_app` role.
pub async fn open_postgres(
    app_url: &str,
    max_connections: u32,
) -> platform::error::Result<store::postgres::Store> {
    let pool = platform::db::connect_postgres(app_url, SCHEMA, max_connections).await?;
    Ok(store::postgres::Store::new(pool))
}

/// Opens (creating and migrating) the embedded store in one SQLite file.
pub async fn open_sqlite(path: &std::path::Path) -> platform::error::Result<store::sqlite::Store> {
    let pool = platform::db::connect_sqlite(path).await?;
    platform::db::migrate_sqlite(&pool, &SQLITE_MIGRATIONS).await?;
    Ok(store::sqlite::Store::new(pool))
}

// ---- serving (gRPC API, upstream clients)

pub mod api;
pub mod upstream;

pub use domain::student::MasterKey;

/// The gRPC service name reported by health checks.
pub const GRPC_SERVICE: &str = "collegium.scoring.v1.ScoringService";

/// What the served API needs besides its store and token verifier.
#[derive(Debug, Clone)]
pub struct ScoringRuntime {
    /// gRPC URL of the membership service, e.g. `http://membership:50051`.
    pub membership_url: String,
    /// gRPC URL of the scheduling service, e.g. `http://scheduling:50052`.
    pub scheduling_url: String,
    /// The key student ids are sealed under (per-tenant keys derive from it).
    pub key: MasterKey,
}

/// Reads the master key: 32 bytes, base64 (standard alphabet), in a file
/// (a Kubernetes Secret mounted as a file in production).
pub fn load_key(path: &std::path::Path) -> platform::error::Result<MasterKey> {
    use base64::Engine;
    let text = std::fs::read_to_string(path).map_err(|e| {
        platform::error::Error::invalid(
            "COLLEGIUM_SCORING_KEY_FILE",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| MasterKey::from_bytes(&b))
        .ok_or_else(|| {
            platform::error::Error::invalid(
                "COLLEGIUM_SCORING_KEY_FILE",
                "must hold 32 random bytes in base64 (e.g. `openssl rand -base64 32`)",
            )
        })
}

/// Reads the key file, creating it with a fresh key when missing (dev mode).
pub fn load_or_create_key(path: &std::path::Path) -> platform::error::Result<MasterKey> {
    use base64::Engine;
    if !path.exists() {
        let key = MasterKey::generate();
        std::fs::write(
            path,
            base64::engine::general_purpose::STANDARD.encode(key.to_bytes()),
        )
        .map_err(|e| {
            platform::error::Error::internal(anyhow::anyhow!("writing {}: {e}", path.display()))
        })?;
    }
    load_key(path)
}

/// Starts the outbox relay of the PostgreSQL store onto `bus`.
pub fn start_relay_postgres(
    store: &store::postgres::Store,
    bus: std::sync::Arc<dyn platform::events::EventBus>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    platform::events::relay::spawn_relay(
        store.pool().clone(),
        bus,
        store.outbox_notify(),
        platform::events::relay::RelayOptions::default(),
        shutdown,
    )
}

/// The SQLite twin of [`start_relay_postgres`].
pub fn start_relay_sqlite(
    store: &store::sqlite::Store,
    bus: std::sync::Arc<dyn platform::events::EventBus>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    platform::events::relay::spawn_relay(
        store.pool().clone(),
        bus,
        store.outbox_notify(),
        platform::events::relay::RelayOptions::default(),
        shutdown,
    )
}

/// Serves the scoring gRPC API (plus health and reflection) on `listener`
/// until `shutdown` resolves; in-flight calls are drained.
pub async fn start(
    listener: tokio::net::TcpListener,
    store: std::sync::Arc<dyn store::ScoringStore>,
    verifier: platform::auth::TokenVerifier,
    config: ScoringRuntime,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> platform::error::Result<platform::grpc::RunningServer> {
    use collegium_proto::scoring::v1::scoring_service_server::ScoringServiceServer;
    let upstream = upstream::Upstreams::new(&config.scheduling_url, &config.membership_url)?;
    let api = api::ScoringApi::new(store, upstream, config.key);
    let service = tonic::service::interceptor::InterceptedService::new(
        ScoringServiceServer::new(api),
        platform::grpc::Authenticate::new(verifier),
    );
    let routes = tonic::service::Routes::new(service);
    platform::grpc::serve(listener, routes, &[GRPC_SERVICE], shutdown).await
}
