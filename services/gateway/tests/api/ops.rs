use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{closed_port_url, fake_upstream, spawn_gateway, spawn_gateway_with};

#[tokio::test]
async fn healthz_answers_while_upstreams_are_down() {
    let gw = spawn_gateway().await;
    let resp = gw.get("/healthz").await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// The upstreams `/readyz` names as failing.
async fn failing(gw: &crate::helpers::TestGateway) -> (StatusCode, Vec<String>) {
    let resp = gw.get("/readyz").await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    let names = body["failing"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|u| u["upstream"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    (status, names)
}

#[tokio::test]
async fn readyz_names_every_upstream_that_is_down() {
    let gw = spawn_gateway().await;
    let started = std::time::Instant::now();
    let resp = gw.get("/readyz").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["failing"][0]["upstream"], "membership", "{body}");
    assert_eq!(body["failing"][1]["upstream"], "scheduling", "{body}");
    assert_eq!(body["failing"][2]["upstream"], "notifications", "{body}");
    assert_eq!(body["failing"][3]["upstream"], "scoring", "{body}");
    assert_eq!(body["failing"].as_array().unwrap().len(), 4, "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn readyz_names_scheduling_alone_when_only_it_is_down() {
    // A gRPC server of the platform kit answers grpc.health.v1 for "".
    let membership = fake_upstream(tonic::service::Routes::default()).await;
    let notifications = fake_upstream(tonic::service::Routes::default()).await;
    let scoring = fake_upstream(tonic::service::Routes::default()).await;
    let (m, n, s) = (
        membership.url.clone(),
        notifications.url.clone(),
        scoring.url.clone(),
    );
    let gw = spawn_gateway_with(|c| {
        c.membership_url = m;
        c.scheduling_url = closed_port_url();
        c.notifications_url = n;
        c.scoring_url = s;
    })
    .await;
    assert_eq!(
        failing(&gw).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            vec!["scheduling".to_string()]
        )
    );
}

#[tokio::test]
async fn readyz_names_notifications_alone_when_only_it_is_down() {
    let membership = fake_upstream(tonic::service::Routes::default()).await;
    let scheduling = fake_upstream(tonic::service::Routes::default()).await;
    let scoring = fake_upstream(tonic::service::Routes::default()).await;
    let (m, s, sc) = (
        membership.url.clone(),
        scheduling.url.clone(),
        scoring.url.clone(),
    );
    let gw = spawn_gateway_with(|c| {
        c.membership_url = m;
        c.scheduling_url = s;
        c.notifications_url = closed_port_url();
        c.scoring_url = sc;
    })
    .await;
    assert_eq!(
        failing(&gw).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            vec!["notifications".to_string()]
        )
    );
}

#[tokio::test]
async fn readyz_names_scoring_alone_when_only_it_is_down() {
    let membership = fake_upstream(tonic::service::Routes::default()).await;
    let scheduling = fake_upstream(tonic::service::Routes::default()).await;
    let notifications = fake_upstream(tonic::service::Routes::default()).await;
    let (m, s, n) = (
        membership.url.clone(),
        scheduling.url.clone(),
        notifications.url.clone(),
    );
    let gw = spawn_gateway_with(|c| {
        c.membership_url = m;
        c.scheduling_url = s;
        c.notifications_url = n;
        c.scoring_url = closed_port_url();
    })
    .await;
    assert_eq!(
        failing(&gw).await,
        (StatusCode::SERVICE_UNAVAILABLE, vec!["scoring".to_string()])
    );
}

#[tokio::test]
async fn readyz_is_ready_when_every_upstream_serves() {
    let membership = fake_upstream(tonic::service::Routes::default()).await;
    let scheduling = fake_upstream(tonic::service::Routes::default()).await;
    let notifications = fake_upstream(tonic::service::Routes::default()).await;
    let scoring = fake_upstream(tonic::service::Routes::default()).await;
    let (m, s, n, sc) = (
        membership.url.clone(),
        scheduling.url.clone(),
        notifications.url.clone(),
        scoring.url.clone(),
    );
    let gw = spawn_gateway_with(|c| {
        c.membership_url = m;
        c.scheduling_url = s;
        c.notifications_url = n;
        c.scoring_url = sc;
    })
    .await;
    assert_eq!(failing(&gw).await, (StatusCode::OK, vec![]));
}

#[tokio::test]
async fn metrics_count_graphql_requests() {
    let gw = spawn_gateway().await;
    gw.query(None, "{ tenant { id } }").await;
    gw.query(Some(&gw.token()), "{ __typename }").await;
    let resp = gw.get("/metrics").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(text.contains("collegium_graphql_requests_total"), "{text}");
    assert!(text.contains(r#"outcome="unauthenticated""#), "{text}");
    assert!(
        text.contains(r#"collegium_graphql_requests_total{operation_type="query",outcome="ok"}"#),
        "{text}"
    );
    assert!(
        text.contains("collegium_graphql_request_duration_seconds"),
        "{text}"
    );
}
