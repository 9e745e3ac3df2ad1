use serde_json::json;

use crate::helpers::spawn_gateway;

const QUERY: &str = "{ __typename }";
/// SHA-256 of `QUERY`, as an Apollo client computes it.
const QUERY_SHA256: &str = "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b";

fn persisted(hash: &str) -> serde_json::Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

#[tokio::test]
async fn a_registered_query_runs_by_its_hash() {
    let gw = spawn_gateway().await;
    let token = gw.token();
    let (_, body) = gw
        .post(
            Some(&token),
            json!({ "extensions": persisted(QUERY_SHA256) }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["message"], "PersistedQueryNotFound",
        "{body}"
    );
    let (_, body) = gw
        .post(
            Some(&token),
            json!({ "query": QUERY, "extensions": persisted(QUERY_SHA256) }),
        )
        .await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    let (_, body) = gw
        .post(
            Some(&token),
            json!({ "extensions": persisted(QUERY_SHA256) }),
        )
        .await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}

#[tokio::test]
async fn a_query_under_someone_elses_hash_is_refused() {
    let gw = spawn_gateway().await;
    let (_, body) = gw
        .post(
            Some(&gw.token()),
            json!({ "query": "{ tenant { id } }", "extensions": persisted(QUERY_SHA256) }),
        )
        .await;
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "provided sha does not match query"
    );
}
