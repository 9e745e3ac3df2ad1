use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{codes, spawn_gateway, spawn_gateway_with};

#[tokio::test]
async fn first_over_the_page_cap_is_bad_input_naming_first() {
    let gw = spawn_gateway().await;
    let (status, body) = gw
        .query(
            Some(&gw.token()),
            "{ organisations(first: 1000) { edges { node { id } } } }",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
    let fields = &body["errors"][0]["extensions"]["fields"];
    assert_eq!(fields[0]["field"], "first", "{body}");
    assert!(fields[0]["description"].as_str().unwrap().contains("500"));
}

#[tokio::test]
async fn a_query_deeper_than_the_limit_is_refused_before_any_call() {
    let gw = spawn_gateway_with(|c| c.query_depth_limit = 3).await;
    let (_, body) = gw
        .query(
            Some(&gw.token()),
            "{ organisations { edges { node { id } } } }",
        )
        .await;
    assert!(body["data"].is_null(), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("nested too deep"), "{body}");
    // Refused at validation: membership (down) was never asked.
    assert!(!codes(&body).contains(&"UNAVAILABLE".to_string()));
}

#[tokio::test]
async fn a_query_more_complex_than_the_limit_is_refused() {
    let gw = spawn_gateway_with(|c| c.query_complexity_limit = 5).await;
    let (_, body) = gw
        .query(
            Some(&gw.token()),
            "{ tenant { id slug name kind createdAt settings { locale timeZone } } }",
        )
        .await;
    assert!(body["data"].is_null(), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("complex"), "{body}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let gw = spawn_gateway_with(|c| c.max_body_bytes = 1024).await;
    let padding = " ".repeat(4096);
    let resp = gw
        .client
        .post(format!("{}/graphql", gw.base))
        .bearer_auth(gw.token())
        .json(&json!({ "query": format!("{{ tenant {{ id }} {padding}}}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_body_under_the_limit_is_served() {
    let gw = spawn_gateway_with(|c| c.max_body_bytes = 1024).await;
    let (status, body) = gw.query(Some(&gw.token()), "{ __typename }").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}
