//! The membership service: tenants, organisations, clusters, people, role
//! grants, mentorships, advisory panels, consent, research opt-outs and the
//! audit log. See `docs/ARCHITECTURE.md` for how it fits.
//!
//! - `domain/`: the types and pure rules;
//! - `store/`: [`store::MembershipStore`] with PostgreSQL and SQLite implementations;
//! - `roster/`: roster import (OneRoster 1.1 CSV, `collegium-people.csv`):
//!   parsing and diffing (pure), and the import job that applies them;
//! - `api.rs`: gRPC ↔ domain, and authorisation;
//! - this file: opening stores and serving.

pub mod api;
pub mod domain;
pub mod roster;
pub mod roster_api;
pub mod store;

use std::{future::Future, path::Path, sync::Arc};

use collegium_proto::membership::v1::{
    membership_service_server::MembershipServiceServer, roster_service_server::RosterServiceServer,
};
use platform::{
    auth::TokenVerifier,
    error::Result,
    events::{
        EventBus,
        relay::{RelayOptions, spawn_relay},
    },
    grpc::{Authenticate, RunningServer},
};
use sqlx::migrate::Migrator;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

pub use store::MembershipStore;

/// The PostgreSQL schema (and role prefix) of this service.
pub const SCHEMA: &str = "membership";
/// The gRPC service name reported by health checks.
pub const GRPC_SERVICE: &str = "collegium.membership.v1.MembershipService";

pub static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
pub static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// Migrates the PostgreSQL schema; `owner_url` connects as the schema owner.
pub async fn migrate_postgres(owner_url: &str) -> Result<()> {
    platform::db::migrate_postgres(owner_url, SCHEMA, &POSTGRES_MIGRATIONS).await
}

/// Opens the production store as the `membership_app` role.
pub async fn open_postgres(app_url: &str, max_connections: u32) -> Result<store::postgres::Store> {
    let pool = platform::db::connect_postgres(app_url, SCHEMA, max_connections).await?;
    Ok(store::postgres::Store::new(pool))
}

/// Opens (creating and migrating) the embedded store in one SQLite file.
pub async fn open_sqlite(path: &Path) -> Result<store::sqlite::Store> {
    let pool = platform::db::connect_sqlite(path).await?;
    platform::db::migrate_sqlite(&pool, &SQLITE_MIGRATIONS).await?;
    Ok(store::sqlite::Store::new(pool))
}

/// Starts the outbox relay of a store (either backend) onto `bus`.
pub fn start_relay_postgres(
    store: &store::postgres::Store,
    bus: Arc<dyn EventBus>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    spawn_relay(
        store.pool().clone(),
        bus,
        store.outbox_notify(),
        RelayOptions::default(),
        shutdown,
    )
}

/// The SQLite twin of [`start_relay_postgres`].
pub fn start_relay_sqlite(
    store: &store::sqlite::Store,
    bus: Arc<dyn EventBus>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    spawn_relay(
        store.pool().clone(),
        bus,
        store.outbox_notify(),
        RelayOptions::default(),
        shutdown,
    )
}

/// Serves the membership gRPC API (plus health and reflection) on `listener`
/// until `shutdown` resolves; in-flight calls are drained.
pub async fn start(
    listener: TcpListener,
    store: Arc<dyn MembershipStore>,
    verifier: TokenVerifier,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer> {
    let service = MembershipServiceServer::with_interceptor(
        api::MembershipApi::new(store.clone()),
        Authenticate::new(verifier.clone()),
    );
    // Roster uploads (`roster_api`), authenticated the same way.
    let roster = RosterServiceServer::with_interceptor(
        roster_api::RosterApi::new(store),
        Authenticate::new(verifier),
    );
    let routes = tonic::service::Routes::new(service).add_service(roster);
    platform::grpc::serve(listener, routes, &[GRPC_SERVICE], shutdown).await
}
