//! Starting a gateway for one test and talking GraphQL to it.

use collegium_gateway::{GatewayConfig, RunningGateway, serve};
use platform::auth::{PersonId, TenantId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::TestIssuer;
use tokio::sync::oneshot;

/// A gateway serving on an ephemeral port until dropped.
pub struct TestGateway {
    pub base: String,
    pub issuer: TestIssuer,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    running: Option<RunningGateway>,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(running) = self.running.take() {
            running.task.abort();
        }
    }
}

/// A URL where nothing listens: the port was free a moment ago.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A production-configured gateway whose upstreams (membership,
/// scheduling, notifications, scoring) are all down.
pub async fn spawn_gateway() -> TestGateway {
    spawn_gateway_with(|_| {}).await
}

/// Same, with the configuration adjusted first.
pub async fn spawn_gateway_with(adjust: impl FnOnce(&mut GatewayConfig)) -> TestGateway {
    spawn_gateway_trusting(TestIssuer::new(), adjust).await
}

/// Same, trusting the tokens of `issuer` (which a real service started by
/// the test may trust too).
pub async fn spawn_gateway_trusting(
    issuer: TestIssuer,
    adjust: impl FnOnce(&mut GatewayConfig),
) -> TestGateway {
    testkit::init_tracing();
    let mut config = GatewayConfig::new(issuer.verifier.clone(), closed_port_url())
        .with_scheduling(closed_port_url())
        .with_notifications(closed_port_url())
        .with_scoring(closed_port_url());
    adjust(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let running = serve(config, listener, async {
        let _ = rx.await;
    })
    .await
    .expect("gateway starts");
    TestGateway {
        base: format!("http://{}", running.addr),
        issuer,
        client: reqwest::Client::new(),
        shutdown: Some(tx),
        running: Some(running),
    }
}

impl TestGateway {
    /// A valid token for a person of a fresh tenant.
    pub fn token(&self) -> String {
        self.issuer
            .token(TenantId::new_v7(), PersonId::new_v7(), &[])
    }

    /// POSTs `{"query": query}` with `Authorization: Bearer <token>` when given.
    pub async fn query(&self, token: Option<&str>, query: &str) -> (StatusCode, Value) {
        self.post(token, json!({ "query": query })).await
    }

    /// POSTs a GraphQL request body.
    pub async fn post(&self, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, body)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent")
    }
}

/// A gRPC server of the platform kit (health answered for `""`) serving
/// `routes` on an ephemeral port until dropped.
pub struct FakeUpstream {
    pub url: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn fake_upstream(routes: tonic::service::Routes) -> FakeUpstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let server = platform::grpc::serve(listener, routes, &[], async {
        let _ = rx.await;
    })
    .await
    .expect("fake upstream starts");
    FakeUpstream {
        url: format!("http://{}", server.addr),
        shutdown: Some(tx),
    }
}

/// `extensions.code` of every error in a GraphQL response.
pub fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts a response refused for want of a valid token: one
/// UNAUTHENTICATED error, no data, HTTP 401.
pub fn assert_unauthenticated(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(codes(body), ["UNAUTHENTICATED"], "{body}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    assert!(body["errors"][0].get("locations").is_none(), "{body}");
}
