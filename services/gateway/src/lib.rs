//! The gateway: Collegium's only public entry. One GraphQL schema over every
//! service, served by axum, with authentication, limits, CORS, tracing and
//! metrics in front of it.
//!
//! - [`config`]: settings, flags with env twins, validated at start;
//! - [`auth`]: the bearer-token check at the HTTP layer and on WebSockets;
//! - [`error`]: the one conversion of our errors into GraphQL errors;
//! - [`schema`]: the schema, one module per service, merged;
//! - [`fanout`]: work spanning every service for one tenant (erasing a
//!   person, a retention run), shared with the `collegium retention` job;
//! - [`upstream`]: channels to the services and their readiness;
//! - [`metrics`]: request counts and durations for Prometheus;
//! - `http`: routes, handlers and tower layers ([`router`], [`GatewayState`]).
//!
//! The gateway holds no data of its own and trusts nothing it forwards: it
//! verifies the caller's token and sends that same token to every service,
//! which verifies it again and takes the tenant from it.

pub mod auth;
pub mod config;
pub mod error;
pub mod fanout;
mod http;
pub mod metrics;
pub mod schema;
pub mod upstream;

use std::{future::Future, net::SocketAddr};

use anyhow::Context as _;
use tokio::{net::TcpListener, task::JoinHandle};

pub use config::{GatewayArgs, GatewayConfig};
pub use http::{GatewayState, router};

/// A running gateway: the address it listens on and the task that ends when
/// it has shut down.
#[derive(Debug)]
pub struct RunningGateway {
    pub addr: SocketAddr,
    pub task: JoinHandle<anyhow::Result<()>>,
}

/// Serves the gateway on `listener` until `shutdown` resolves; then fails
/// readiness for [`GatewayConfig::drain`], stops accepting, lets in-flight
/// requests finish and ends the task. Returns once
/// the server is accepting, so callers (tests, `collegium dev`) may send
/// requests to [`RunningGateway::addr`] straight away.
pub async fn serve(
    config: GatewayConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<RunningGateway> {
    let addr = listener
        .local_addr()
        .context("reading the listener's address")?;
    let drain = config.drain;
    let state = GatewayState::new(config)?;
    let app = router(state.clone());
    // Zero-downtime shutdown: on the signal, fail readiness first and keep
    // serving for `drain` so load balancers take this instance out of
    // rotation; then stop accepting and let in-flight requests finish.
    let shutdown = async move {
        shutdown.await;
        state.start_draining();
        tracing::info!(?drain, "draining: readiness now fails");
        tokio::time::sleep(drain).await;
    };
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("HTTP server")?;
        tracing::info!("gateway stopped");
        Ok(())
    });
    tracing::info!(%addr, "gateway listening");
    Ok(RunningGateway { addr, task })
}
