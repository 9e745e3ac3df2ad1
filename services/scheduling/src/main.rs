//! `collegium-scheduling`: the scheduling service alone, against PostgreSQL,
//! Redis, the membership service and an object store (the production mode;
//! `collegium dev` runs everything in one process).

use std::{path::PathBuf, sync::Arc, time::Duration};

use clap::{Args, Parser};
use collegium_scheduling::{MaterialStore, SchedulingRuntime};
use platform::{
    config::{AuthArgs, DatabaseArgs, GrpcServerArgs, RedisArgs, TelemetryArgs},
    error::{Error, Result},
    events::redis::RedisBus,
    grpc::shutdown_signal,
};

/// Where the other services and the stored files are.
#[derive(Debug, Clone, Args)]
struct UpstreamArgs {
    /// gRPC URL of the membership service.
    #[arg(long, env = "COLLEGIUM_MEMBERSHIP_URL")]
    membership_url: String,
    /// Directory for uploaded meeting materials (single-node installs).
    #[arg(
        long,
        env = "COLLEGIUM_MATERIALS_DIR",
        conflicts_with = "materials_s3_bucket"
    )]
    materials_dir: Option<PathBuf>,
    /// S3 bucket for uploaded meeting materials; credentials, region and, for
    /// S3-compatible services, the endpoint come from the standard `AWS_*`
    /// variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`).
    #[arg(long, env = "COLLEGIUM_MATERIALS_S3_BUCKET")]
    materials_s3_bucket: Option<String>,
}

impl UpstreamArgs {
    fn validate(&self) -> Result<()> {
        if !(self.membership_url.starts_with("http://")
            || self.membership_url.starts_with("https://"))
        {
            return Err(Error::invalid(
                "COLLEGIUM_MEMBERSHIP_URL",
                "must be an http:// or https:// URL",
            ));
        }
        Ok(())
    }

    fn materials(&self) -> Result<MaterialStore> {
        match (&self.materials_dir, &self.materials_s3_bucket) {
            (Some(dir), None) => MaterialStore::local(dir),
            (None, Some(bucket)) => MaterialStore::s3(bucket),
            _ => Err(Error::invalid(
                "COLLEGIUM_MATERIALS_DIR",
                "set COLLEGIUM_MATERIALS_DIR or COLLEGIUM_MATERIALS_S3_BUCKET",
            )),
        }
    }
}

/// Scheduling service settings; every flag has a `COLLEGIUM_…` env twin.
#[derive(Debug, Parser)]
#[command(name = "collegium-scheduling", version, about)]
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
    #[command(flatten)]
    upstream: UpstreamArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let _telemetry = platform::telemetry::init("scheduling", &config.telemetry)?;
    config.database.validate()?;
    config.redis.validate()?;
    config.upstream.validate()?;
    let (verifier, _signer) = config.auth.load()?;
    let runtime = SchedulingRuntime {
        membership_url: config.upstream.membership_url.clone(),
        materials: config.upstream.materials()?,
    };

    let store = collegium_scheduling::open_postgres(
        &config.database.database_url,
        config.database.database_max_connections,
    )
    .await?;
    let bus = Arc::new(RedisBus::connect(&config.redis.redis_url, "collegium").await?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let relay = collegium_scheduling::start_relay_postgres(&store, bus, stop_rx);

    let listener = tokio::net::TcpListener::bind(config.grpc.grpc_listen).await?;
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let server = collegium_scheduling::start(listener, Arc::new(store), verifier, runtime, async {
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
