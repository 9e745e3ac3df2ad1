use reqwest::StatusCode;

use crate::helpers::{assert_unauthenticated, codes, spawn_gateway, spawn_gateway_with};

/// The introspection query GraphiQL sends (graphql-js `getIntrospectionQuery`,
/// trimmed of descriptions): `ofType` nests eight levels deep, deeper than
/// the production depth limit.
const GRAPHIQL_INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name
  fields(includeDeprecated: true) { name args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
"#;

#[tokio::test]
async fn introspection_is_refused_outside_dev_mode() {
    let gw = spawn_gateway().await;
    for query in [
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"Person\") { fields { name } } }",
        GRAPHIQL_INTROSPECTION,
    ] {
        let (status, body) = gw.query(Some(&gw.token()), query).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.get("data").is_none_or(|d| d.is_null()), "{body}");
        assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
        assert_eq!(
            body["errors"][0]["message"],
            "forbidden: introspection is disabled on this server"
        );
    }
    // `__typename` is not introspection of the schema; clients rely on it.
    let (_, body) = gw.query(Some(&gw.token()), "{ __typename }").await;
    assert_eq!(body["data"]["__typename"], "Query");
    // Without a token it is refused like anything else.
    let (status, body) = gw.query(None, GRAPHIQL_INTROSPECTION).await;
    assert_unauthenticated(status, &body);
}

#[tokio::test]
async fn introspection_is_answered_in_dev_mode_even_without_a_token() {
    let gw = spawn_gateway_with(|c| c.dev_mode = true).await;
    for token in [None, Some(gw.token())] {
        let (status, body) = gw.query(token.as_deref(), GRAPHIQL_INTROSPECTION).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
        let types = body["data"]["__schema"]["types"].as_array().unwrap();
        let names: Vec<&str> = types.iter().filter_map(|t| t["name"].as_str()).collect();
        for expected in [
            "OrganisationConnection",
            "Role",
            "ConsentRecord",
            "CreatePersonInput",
        ] {
            assert!(names.contains(&expected), "{expected} missing");
        }
        let role = types.iter().find(|t| t["name"] == "Role").unwrap();
        assert!(
            !role["enumValues"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["name"] == "UNSPECIFIED")
        );
    }
}

#[tokio::test]
async fn dev_mode_still_wants_a_token_for_data() {
    let gw = spawn_gateway_with(|c| c.dev_mode = true).await;
    let (status, body) = gw
        .query(None, "{ __schema { queryType { name } } tenant { id } }")
        .await;
    assert_unauthenticated(status, &body);
    let (status, body) = gw
        .query(Some("not-a-token"), "{ __schema { queryType { name } } }")
        .await;
    assert_unauthenticated(status, &body);
}

#[tokio::test]
async fn graphiql_is_served_only_in_dev_mode() {
    let gw = spawn_gateway_with(|c| c.dev_mode = true).await;
    let resp = gw.get("/graphql").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("graphiql"));
    let gw = spawn_gateway().await;
    assert_eq!(
        gw.get("/graphql").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}
