use reqwest::{Method, StatusCode};

use crate::helpers::{TestGateway, spawn_gateway, spawn_gateway_with};

const ALLOWED: &str = "https://app.example.org";

async fn preflight(gw: &TestGateway, origin: &str) -> reqwest::Response {
    gw.client
        .request(Method::OPTIONS, format!("{}/graphql", gw.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_allowed() {
    let gw = spawn_gateway_with(|c| c.cors_origins = vec![ALLOWED.into()]).await;
    let resp = preflight(&gw, ALLOWED).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let headers = resp.headers();
    assert_eq!(headers["access-control-allow-origin"], ALLOWED);
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("authorization"), "{allowed}");
    assert!(headers.get("access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn a_preflight_from_another_origin_gets_no_allow_origin() {
    let gw = spawn_gateway_with(|c| c.cors_origins = vec![ALLOWED.into()]).await;
    let resp = preflight(&gw, "https://evil.example.com").await;
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn without_origins_no_cross_origin_call_is_allowed() {
    let gw = spawn_gateway().await;
    let resp = preflight(&gw, ALLOWED).await;
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}
