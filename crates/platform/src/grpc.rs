//! The gRPC kit every service uses: authentication of incoming calls, trace
//! context in and out, health and reflection, deadlines on outgoing calls, and
//! a graceful shutdown that drains in-flight calls.

use std::{future::Future, net::SocketAddr, time::Duration};

use tokio::net::TcpListener;
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, Routes},
    transport::{Channel, Endpoint, Server},
};

use crate::{
    auth::{Principal, TokenVerifier},
    error::{Error, Result},
    telemetry,
};

/// Deadline of every outgoing gRPC call unless the caller sets a shorter one.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// Verifies the bearer token of every call and stores the [`Principal`] in
/// the request's extensions. Applied per service, so health and reflection
/// stay open for probes and tooling.
#[derive(Clone, Debug)]
pub struct Authenticate {
    verifier: TokenVerifier,
}

impl Authenticate {
    pub fn new(verifier: TokenVerifier) -> Self {
        Self { verifier }
    }
}

impl Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let principal = self
            .verifier
            .verify_header(header)
            .map_err(Error::into_status)?;
        tracing::Span::current().record("tenant", tracing::field::display(principal.tenant));
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

/// The principal the [`Authenticate`] interceptor stored on this request.
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))
}

/// Forwards the caller's bearer token and the current trace context on an
/// outgoing call (gateway → service, service → service).
#[derive(Clone, Debug)]
pub struct ForwardCaller {
    authorization: MetadataValue<tonic::metadata::Ascii>,
}

impl ForwardCaller {
    pub fn new(token: &str) -> Result<Self> {
        let authorization = format!("Bearer {token}")
            .parse()
            .map_err(|_| Error::Unauthenticated("malformed token".into()))?;
        Ok(Self { authorization })
    }
}

impl Interceptor for ForwardCaller {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        let mut headers = http::HeaderMap::new();
        telemetry::inject_current_context(&mut headers);
        for (k, v) in headers.iter() {
            if let (Ok(k), Ok(v)) = (
                tonic::metadata::MetadataKey::from_bytes(k.as_str().as_bytes()),
                v.to_str().map(|s| s.parse()),
            ) && let Ok(v) = v
            {
                request.metadata_mut().insert(k, v);
            }
        }
        if request.metadata().get("grpc-timeout").is_none() {
            request.set_timeout(DEFAULT_DEADLINE);
        }
        Ok(request)
    }
}

/// A lazily connecting channel to another service, with connect and call
/// timeouts so a dead upstream fails fast instead of hanging a request.
pub fn channel(url: &str) -> Result<Channel> {
    channel_with_deadline(url, DEFAULT_DEADLINE)
}

/// [`channel`] whose calls may take up to `deadline` (the channel's cap; a
/// call still sends its own, shorter or equal, `grpc-timeout`): for
/// background jobs whose calls do a tenant's bulk work, such as retention.
pub fn channel_with_deadline(url: &str, deadline: Duration) -> Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| Error::invalid("upstream_url", format!("{url}: {e}")))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(deadline)
        .tcp_nodelay(true);
    Ok(endpoint.connect_lazy())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received; draining");
}

/// A running gRPC server: its address and the task that ends when it has drained.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<Result<()>>,
}

/// Serves `routes` plus `grpc.health.v1` and reflection on `listener` until
/// `shutdown` resolves, then stops accepting and lets in-flight calls finish.
/// `serving` names the gRPC services reported as SERVING by health checks.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    serving: &[&str],
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer> {
    let addr = listener.local_addr().map_err(Error::internal)?;
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in serving {
        reporter
            .set_service_status(*name, tonic_health::ServingStatus::Serving)
            .await;
    }
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(collegium_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(Error::internal)?;
    let routes = routes.add_service(health).add_service(reflection);
    let task = tokio::spawn(async move {
        let shutdown = async move {
            shutdown.await;
            // Tell load balancers we are going before the listener closes.
            reporter
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
        };
        Server::builder()
            .trace_fn(telemetry::request_span)
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                // Without TCP_NODELAY a response over a few hundred bytes
                // waits ~40 ms for the client's delayed ACK (Nagle), on every
                // gateway → service and service → service call.
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await
            .map_err(|e| Error::internal(anyhow::anyhow!("gRPC server: {e}")))
    });
    tracing::info!(%addr, "gRPC server listening");
    Ok(RunningServer { addr, task })
}
