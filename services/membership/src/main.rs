//! `collegium-membership`: the membership service alone, against PostgreSQL
//! and Redis (the production mode; `collegium dev` runs everything in one process).

use std::{sync::Arc, time::Duration};

use clap::Parser;
use platform::{
    config::{AuthArgs, DatabaseArgs, GrpcServerArgs, RedisArgs, TelemetryArgs},
    events::redis::RedisBus,
    grpc::shutdown_signal,
};

/// Membership service settings; every flag has a `COLLEGIUM_…` env twin.
#[derive(Debug, Parser)]
#[command(name = "collegium-membership", version, about)]
struct Config {
    #[command(flatten)]
    telemetry: TelemetryArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    redis: RedisArgs,
    #[command(flatten)]
    grpc: GrpcServerArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let _telemetry = platform::telemetry::init("membership", &config.telemetry)?;
    config.database.validate()?;
    config.redis.validate()?;
    let (verifier, _signer) = config.auth.load()?;

    let store = collegium_membership::open_postgres(
        &config.database.database_url,
        config.database.database_max_connections,
    )
    .await?;
    let bus = Arc::new(RedisBus::connect(&config.redis.redis_url, "collegium").await?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let relay = collegium_membership::start_relay_postgres(&store, bus, stop_rx);

    let listener = tokio::net::TcpListener::bind(config.grpc.grpc_listen).await?;
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let server = collegium_membership::start(listener, Arc::new(store), verifier, async {
        let _ = drain_rx.await;
    })
    .await?;

    shutdown_signal().await;
    let _ = drain_tx.send(());
    let grace = Duration::from_secs(config.grpc.shutdown_grace_seconds);
    if tokio::time::timeout(grace, server.task).await.is_err() {
        tracing::warn!(
            ?grace,
            "calls still running after the grace period; exiting"
        );
    }
    let _ = stop_tx.send(true);
    let _ = relay.await;
    Ok(())
}
