//! `collegium-scoring`: the scoring service alone, against PostgreSQL, Redis
//! and the membership and scheduling services (the production mode;
//! `collegium dev` runs everything in one process).

use std::{path::PathBuf, sync::Arc, time::Duration};

use clap::{Args, Parser};
use collegium_scoring::ScoringRuntime;
use platform::{
    config::{AuthArgs, DatabaseArgs, GrpcServerArgs, RedisArgs, TelemetryArgs},
    error::{Error, Result},
    events::redis::RedisBus,
    grpc::shutdown_signal,
};

/// Where the other services and the student-id key are.
#[derive(Debug, Clone, Args)]
struct UpstreamArgs {
    /// gRPC URL of the membership service.
    #[arg(long, env = "COLLEGIUM_MEMBERSHIP_URL")]
    membership_url: String,
    /// gRPC URL of the scheduling service.
    #[arg(long, env = "COLLEGIUM_SCHEDULING_URL")]
    scheduling_url: String,
    /// File holding the 32-byte master key (base64) that student ids are
    /// encrypted under; each tenant's keys are derived from it.
    #[arg(long, env = "COLLEGIUM_SCORING_KEY_FILE")]
    scoring_key_file: PathBuf,
}

impl UpstreamArgs {
    fn validate(&self) -> Result<()> {
        for (name, url) in [
            ("COLLEGIUM_MEMBERSHIP_URL", &self.membership_url),
            ("COLLEGIUM_SCHEDULING_URL", &self.scheduling_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::invalid(name, "must be an http:// or https:// URL"));
            }
        }
        Ok(())
    }
}

/// Scoring service settings; every flag has a `COLLEGIUM_…` env twin.
#[derive(Debug, Parser)]
#[command(name = "collegium-scoring", version, about)]
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
    let _telemetry = platform::telemetry::init("scoring", &config.telemetry)?;
    config.database.validate()?;
    config.redis.validate()?;
    config.upstream.validate()?;
    let (verifier, _signer) = config.auth.load()?;
    let runtime = ScoringRuntime {
        membership_url: config.upstream.membership_url.clone(),
        scheduling_url: config.upstream.scheduling_url.clone(),
        key: collegium_scoring::load_key(&config.upstream.scoring_key_file)?,
    };

    let store = collegium_scoring::open_postgres(
        &config.database.database_url,
        config.database.database_max_connections,
    )
    .await?;
    let bus = Arc::new(RedisBus::connect(&config.redis.redis_url, "collegium").await?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let relay = collegium_scoring::start_relay_postgres(&store, bus, stop_rx);

    let listener = tokio::net::TcpListener::bind(config.grpc.grpc_listen).await?;
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let server = collegium_scoring::start(listener, Arc::new(store), verifier, runtime, async {
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
