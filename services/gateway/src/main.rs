//! `collegium-gateway`: the GraphQL gateway as its own process (one
//! container in production). All the work is in the library; this reads the
//! settings, starts telemetry and serves until SIGTERM.

use anyhow::Context as _;
use clap::Parser;
use collegium_gateway::{GatewayArgs, serve};
use platform::config::{AuthArgs, TelemetryArgs};

/// Collegium's public GraphQL gateway.
#[derive(Debug, Parser)]
#[command(name = "collegium-gateway", version, about)]
struct Cli {
    #[command(flatten)]
    telemetry: TelemetryArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = platform::telemetry::init("collegium-gateway", &cli.telemetry)?;
    let listen = cli.gateway.listen_addr()?;
    let (verifier, _service_signer) = cli.auth.load()?;
    let config = cli.gateway.into_config(verifier)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("COLLEGIUM_HTTP_LISTEN: cannot listen on {listen}"))?;
    let running = serve(config, listener, platform::grpc::shutdown_signal()).await?;
    running.task.await.context("gateway task")?
}
