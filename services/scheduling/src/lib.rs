//! The scheduling service. See `docs/ARCHITECTURE.md`.

pub mod domain;
pub mod store;

/// The PostgreSQL schema (and role prefix) of this service.
pub const SCHEMA: &str = "scheduling";

pub static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
pub static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// Migrates the PostgreSQL schema; `owner_url` connects as the schema owner.
pub async fn migrate_postgres(owner_url: &str) -> platform::error::Result<()> {
    platform::db::migrate_postgres(owner_url, SCHEMA, &POSTGRES_MIGRATIONS).await
}

/// Opens the production store as the `scheduling_app` role.
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

// ---- serving (gRPC API, membership client, material storage)

pub mod api;
pub mod materials;
pub mod membership;

pub use materials::MaterialStore;

/// The gRPC service names reported by health checks.
pub const GRPC_SERVICE: &str = "collegium.scheduling.v1.SchedulingService";
pub const FEED_GRPC_SERVICE: &str = "collegium.scheduling.v1.CalendarFeedService";

/// Largest request the API accepts: a material upload of
/// [`materials::MAX_FILE_BYTES`] plus its envelope.
pub const MAX_REQUEST_BYTES: usize = materials::MAX_FILE_BYTES + 1024 * 1024;

/// What the served API needs besides its store and token verifier.
#[derive(Debug, Clone)]
pub struct SchedulingRuntime {
    /// gRPC URL of the membership service, e.g. `http://membership:50051`.
    pub membership_url: String,
    /// Where uploaded meeting materials are kept.
    pub materials: MaterialStore,
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

/// Serves the scheduling gRPC API (plus health and reflection) on `listener`
/// until `shutdown` resolves; in-flight calls are drained.
/// `SchedulingService` requires a bearer token; `CalendarFeedService` does
/// not (the feed token in the request is the credential).
pub async fn start(
    listener: tokio::net::TcpListener,
    store: std::sync::Arc<dyn store::SchedulingStore>,
    verifier: platform::auth::TokenVerifier,
    config: SchedulingRuntime,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> platform::error::Result<platform::grpc::RunningServer> {
    use collegium_proto::scheduling::v1::{
        calendar_feed_service_server::CalendarFeedServiceServer,
        scheduling_service_server::SchedulingServiceServer,
    };
    let membership = membership::MembershipClient::new(&config.membership_url)?;
    let api = api::SchedulingApi::new(store.clone(), membership, config.materials);
    let service = tonic::service::interceptor::InterceptedService::new(
        SchedulingServiceServer::new(api).max_decoding_message_size(MAX_REQUEST_BYTES),
        platform::grpc::Authenticate::new(verifier),
    );
    let feeds = CalendarFeedServiceServer::new(api::CalendarFeedApi::new(store));
    let routes = tonic::service::Routes::new(service).add_service(feeds);
    platform::grpc::serve(
        listener,
        routes,
        &[GRPC_SERVICE, FEED_GRPC_SERVICE],
        shutdown,
    )
    .await
}
