//! The notifications service. See `docs/ARCHITECTURE.md`.

pub mod domain;
pub mod store;

/// The PostgreSQL schema (and role prefix) of this service.
pub const SCHEMA: &str = "notifications";

pub static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
pub static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// Migrates the PostgreSQL schema; `owner_url` connects as the schema owner.
pub async fn migrate_postgres(owner_url: &str) -> platform::error::Result<()> {
    platform::db::migrate_postgres(owner_url, SCHEMA, &POSTGRES_MIGRATIONS).await
}

/// Opens the production store as the `notifications_app` role.
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

// ---- serving (gRPC API, event consumer, delivery and reminder workers)

pub mod api;
pub mod consumer;
pub mod delivery;
pub mod email;
pub mod reminders;
pub mod upstream;
pub mod watch;

pub use delivery::DeliveryOptions;
pub use email::{Mailer, UnsubscribeKey};
pub use reminders::ReminderOptions;

/// The gRPC service names reported by health checks.
pub const GRPC_SERVICE: &str = "collegium.notifications.v1.NotificationsService";
pub const UNSUBSCRIBE_GRPC_SERVICE: &str = "collegium.notifications.v1.UnsubscribeService";

/// How the background workers run; the defaults are production's.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// This pod's consumer name in the `notifications` group (e.g. the pod name).
    pub consumer_name: String,
    /// An event whose handling failed (or whose consumer died) is handed
    /// out again after this long.
    pub event_retry_after: std::time::Duration,
    /// Deliveries of one event before it is parked as a dead letter.
    pub event_max_deliveries: u32,
    pub delivery: DeliveryOptions,
    pub reminders: ReminderOptions,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            consumer_name: std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.trim().is_empty())
                .unwrap_or_else(|| format!("notifications-{}", uuid::Uuid::now_v7().simple())),
            event_retry_after: std::time::Duration::from_secs(30),
            event_max_deliveries: 10,
            delivery: DeliveryOptions::default(),
            reminders: ReminderOptions::default(),
        }
    }
}

/// What the running service needs besides its store, token verifier and bus.
#[derive(Debug)]
pub struct NotificationsRuntime {
    /// gRPC URL of the membership service, e.g. `http://membership:50051`.
    pub membership_url: String,
    /// gRPC URL of the scheduling service.
    pub scheduling_url: String,
    /// Where e-mail goes (SMTP, or a directory in development).
    pub mailer: Mailer,
    /// The `From:` of every e-mail, e.g. `Collegium <no-reply@example.org>`.
    pub mail_from: lettre::message::Mailbox,
    /// The web client's public base URL (links and unsubscribe URLs).
    pub public_url: String,
    /// Mints the service tokens of background work (one tenant each).
    pub signer: platform::auth::TokenSigner,
    /// Key of the unsubscribe links' secrets.
    pub unsubscribe_key: UnsubscribeKey,
    pub workers: WorkerOptions,
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

/// Serves the notifications gRPC API (plus health and reflection) on
/// `listener` and runs the workers of this pod: the event consumer on `bus`,
/// the delivery worker and the reminder worker. When `shutdown` resolves the
/// server drains in-flight calls, then the workers finish what they hold and
/// stop; the returned task ends after all of that.
/// `NotificationsService` requires a bearer token; `UnsubscribeService` does
/// not (the unsubscribe token in the request is the credential).
pub async fn start(
    listener: tokio::net::TcpListener,
    store: std::sync::Arc<dyn store::NotificationsStore>,
    verifier: platform::auth::TokenVerifier,
    runtime: NotificationsRuntime,
    bus: std::sync::Arc<dyn platform::events::EventBus>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> platform::error::Result<platform::grpc::RunningServer> {
    use collegium_proto::notifications::v1::{
        notifications_service_server::NotificationsServiceServer,
        unsubscribe_service_server::UnsubscribeServiceServer,
    };
    let upstream = upstream::Upstream::new(
        &runtime.membership_url,
        &runtime.scheduling_url,
        runtime.signer.clone(),
    )?;
    let signal = watch::InboxSignal::new();
    let public_url = runtime.public_url.trim_end_matches('/').to_string();
    let planner = consumer::Planner::new(store.clone(), upstream.clone(), signal.clone())
        .with_public_url(&public_url);

    let subscription = consumer::spawn_consumer(
        bus.clone(),
        planner.clone(),
        &runtime.workers.consumer_name,
        runtime.workers.event_retry_after,
        runtime.workers.event_max_deliveries,
    )
    .await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let courier = delivery::Courier {
        store: store.clone(),
        upstream,
        mailer: std::sync::Arc::new(runtime.mailer),
        from: runtime.mail_from,
        public_url,
        unsubscribe_key: runtime.unsubscribe_key,
        options: runtime.workers.delivery,
    };
    let deliveries = delivery::spawn(courier, signal, stop_rx.clone());
    let reminders = reminders::spawn(planner.clone(), runtime.workers.reminders, stop_rx);

    let service = tonic::service::interceptor::InterceptedService::new(
        NotificationsServiceServer::new(api::NotificationsApi::new(planner, bus)),
        platform::grpc::Authenticate::new(verifier),
    );
    let unsubscribe = UnsubscribeServiceServer::new(api::UnsubscribeApi::new(store));
    let routes = tonic::service::Routes::new(service).add_service(unsubscribe);
    let server = match platform::grpc::serve(
        listener,
        routes,
        &[GRPC_SERVICE, UNSUBSCRIBE_GRPC_SERVICE],
        shutdown,
    )
    .await
    {
        Ok(server) => server,
        Err(e) => {
            let _ = stop_tx.send(true);
            subscription.stop().await;
            let _ = deliveries.await;
            let _ = reminders.await;
            return Err(e);
        }
    };
    let addr = server.addr;
    let task = tokio::spawn(async move {
        let served = server.task.await.map_err(|e| {
            platform::error::Error::internal(anyhow::anyhow!("gRPC server task: {e}"))
        });
        let _ = stop_tx.send(true);
        subscription.stop().await;
        let _ = deliveries.await;
        let _ = reminders.await;
        served?
    });
    Ok(platform::grpc::RunningServer { addr, task })
}
