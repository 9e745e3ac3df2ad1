use chrono::Duration;
use platform::auth::{DEFAULT_AUDIENCE, INTERNAL_ISSUER, PersonId, TenantId, TokenSigner};
use reqwest::StatusCode;
use testkit::TestIssuer;
use uuid::Uuid;

use crate::helpers::{assert_unauthenticated, codes, spawn_gateway, spawn_gateway_with};

const TENANT: &str = "{ tenant { id name } }";

#[tokio::test]
async fn a_request_without_a_token_is_unauthenticated() {
    let gw = spawn_gateway().await;
    let (status, body) = gw.query(None, TENANT).await;
    assert_unauthenticated(status, &body);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("missing bearer token")
    );
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_unauthenticated() {
    let gw = spawn_gateway().await;
    let forger = TestIssuer::new();
    let forged = forger.token(TenantId::new_v7(), PersonId::new_v7(), &[]);
    let (status, body) = gw.query(Some(&forged), TENANT).await;
    assert_unauthenticated(status, &body);
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated() {
    let gw = spawn_gateway().await;
    let expired = gw.issuer.signer.person_token(
        TenantId::new_v7(),
        PersonId::new_v7(),
        &[],
        Duration::minutes(-5),
    );
    let (status, body) = gw.query(Some(&expired), TENANT).await;
    assert_unauthenticated(status, &body);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_unauthenticated() {
    let pem = TokenSigner::generate_pem();
    let ours = TokenSigner::from_pem(&pem, INTERNAL_ISSUER, DEFAULT_AUDIENCE).unwrap();
    let theirs = TokenSigner::from_pem(&pem, INTERNAL_ISSUER, "another-app").unwrap();
    let verifier = platform::auth::TokenVerifier::builder()
        .trust_signer(&ours)
        .unwrap()
        .build();
    let gw = spawn_gateway_with(|c| c.verifier = verifier).await;
    let token = theirs.person_token(
        TenantId::new_v7(),
        PersonId::new_v7(),
        &[],
        Duration::minutes(5),
    );
    let (status, body) = gw.query(Some(&token), TENANT).await;
    assert_unauthenticated(status, &body);
}

#[tokio::test]
async fn a_non_bearer_authorization_is_unauthenticated() {
    let gw = spawn_gateway().await;
    let resp = gw
        .client
        .post(format!("{}/graphql", gw.base))
        .header("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l")
        .json(&serde_json::json!({ "query": TENANT }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers().get("www-authenticate").unwrap(), "Bearer");
    let status = resp.status();
    assert_unauthenticated(status, &resp.json().await.unwrap());
}

#[tokio::test]
async fn a_valid_token_meeting_a_down_upstream_is_unavailable() {
    let gw = spawn_gateway().await;
    let (status, body) = gw.query(Some(&gw.token()), TENANT).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(codes(&body), ["UNAVAILABLE"], "{body}");
    assert_eq!(body["errors"][0]["path"], serde_json::json!(["tenant"]));
}

#[tokio::test]
async fn batched_lookups_meeting_a_down_upstream_are_unavailable() {
    // `person(id:)` goes through the per-request DataLoader (GetPeople).
    let gw = spawn_gateway().await;
    let query = format!(
        "{{ a: person(id: \"{}\") {{ id }} b: person(id: \"{}\") {{ id }} }}",
        Uuid::now_v7(),
        Uuid::now_v7()
    );
    let (_, body) = gw.query(Some(&gw.token()), &query).await;
    assert_eq!(codes(&body), ["UNAVAILABLE", "UNAVAILABLE"], "{body}");
}

#[tokio::test]
async fn an_id_argument_that_is_not_an_id_is_bad_input_naming_it() {
    let gw = spawn_gateway().await;
    let (_, body) = gw
        .query(Some(&gw.token()), "{ person(id: \"bob\") { id } }")
        .await;
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["fields"][0]["field"], "id");
}
