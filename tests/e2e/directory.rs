//! A tenant admin builds a cluster network through GraphQL; bad input and
//! missing roles are refused with the documented codes and write nothing.

use platform::auth::Role;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test]
async fn an_admin_builds_a_cluster_and_everyone_reads_it_with_relations() {
    let p = TestPlatform::spawn().await;
    let t = p.tenant("north").await;
    let maple = create_org(&p, &t.admin_token, "Maple Elementary").await;
    let birch = create_org(&p, &t.admin_token, "Birch Middle").await;
    let lead = create_person(&p, &t.admin_token, "Lee", "lee@north.example", Some(&maple)).await;
    let data = p
        .ok(
            &t.admin_token,
            CREATE_CLUSTER,
            json!({ "input": { "name": "North Writing Cluster", "leadPersonId": lead,
                    "centreIds": [maple, birch] } }),
        )
        .await;
    let cluster = data["createCluster"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        data["createCluster"]["centres"].as_array().unwrap().len(),
        2
    );

    let grant = p
        .ok(
            &t.admin_token,
            "mutation($i: GrantRoleInput!) { grantRole(input: $i) { role cluster { name } person { givenName } } }",
            json!({ "i": { "personId": lead, "role": "CLUSTER_LEAD", "clusterId": cluster } }),
        )
        .await;
    assert_eq!(
        grant["grantRole"]["cluster"]["name"],
        "North Writing Cluster"
    );
    assert_eq!(grant["grantRole"]["person"]["givenName"], "Lee");

    // A teacher at Maple reads the directory with relations resolved.
    let teacher = create_person(
        &p,
        &t.admin_token,
        "Tess",
        "tess@north.example",
        Some(&maple),
    )
    .await;
    let token = p.token(
        t.id,
        Uuid::parse_str(&teacher).unwrap(),
        &[(Role::Teacher, None)],
    );
    let data = p
        .ok(
            &token,
            "{ clusters(first: 10) { edges { node { name lead { givenName contact { email } } centres { name } } } }
               people(first: 2) { edges { cursor node { givenName } } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await;
    let node = &data["clusters"]["edges"][0]["node"];
    assert_eq!(node["lead"]["givenName"], "Lee");
    // Same centre: the teacher sees the leader's contact details.
    assert_eq!(node["lead"]["contact"]["email"], "lee@north.example");
    // Three people (admin, Lee, Tess) in pages of two.
    assert_eq!(data["people"]["edges"].as_array().unwrap().len(), 2);
    assert_eq!(data["people"]["pageInfo"]["hasNextPage"], true);
    let after = data["people"]["pageInfo"]["endCursor"].as_str().unwrap();
    let rest = p
        .ok(
            &token,
            "query($after: String) { people(first: 2, after: $after) { edges { node { givenName } } pageInfo { hasNextPage } } }",
            json!({ "after": after }),
        )
        .await;
    assert_eq!(rest["people"]["edges"].as_array().unwrap().len(), 1);
    assert_eq!(rest["people"]["pageInfo"]["hasNextPage"], false);

    // The cluster lead manages their own cluster's centres.
    let lead_token = p.token(
        t.id,
        Uuid::parse_str(&lead).unwrap(),
        &[(Role::ClusterLead, Some(Uuid::parse_str(&cluster).unwrap()))],
    );
    let cedar = create_org(&p, &t.admin_token, "Cedar High").await;
    let data = p
        .ok(
            &lead_token,
            "mutation($i: ClusterCentreInput!) { addClusterCentre(input: $i) { centres { name } } }",
            json!({ "i": { "clusterId": cluster, "organisationId": cedar } }),
        )
        .await;
    assert_eq!(
        data["addClusterCentre"]["centres"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Every mutation above is in the audit log, with its actor.
    let audit = p
        .ok(
            &t.admin_token,
            "query($id: ID) { auditRecords(first: 50, targetId: $id) { edges { node { action actor } } } }",
            json!({ "id": cluster }),
        )
        .await;
    let actions: Vec<&str> = audit["auditRecords"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["cluster.created", "cluster.centre_added"]);
    assert_eq!(
        audit["auditRecords"]["edges"][1]["node"]["actor"],
        lead.as_str()
    );
}

#[tokio::test]
async fn bad_input_names_every_field_and_writes_nothing() {
    let p = TestPlatform::spawn().await;
    let t = p.tenant("north").await;
    let body = p
        .graphql(
            Some(&t.admin_token),
            CREATE_PERSON,
            json!({ "input": { "givenName": " ", "familyName": "X",
                    "contact": { "email": "not-an-address" }, "timeZone": "Mars/Base" } }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let fields: Vec<&str> = body["errors"][0]["extensions"]["fields"]
        .as_array()
        .expect("field list")
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["givenName", "contact.email", "timeZone"]);
    let people = p
        .ok(
            &t.admin_token,
            "{ people(first: 10) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        people["people"]["edges"].as_array().unwrap().len(),
        1,
        "only the admin"
    );

    // A cluster with one good and one unknown centre is refused whole.
    let good = create_org(&p, &t.admin_token, "Maple").await;
    let body = p
        .graphql(
            Some(&t.admin_token),
            CREATE_CLUSTER,
            json!({ "input": { "name": "C", "centreIds": [good, Uuid::now_v7().to_string()] } }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(
        body["errors"][0]["extensions"]["fields"][0]["field"],
        "centreIds[1]"
    );
    let clusters = p
        .ok(
            &t.admin_token,
            "{ clusters(first: 10) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert!(clusters["clusters"]["edges"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn tokens_are_checked_and_roles_enforced() {
    let p = TestPlatform::spawn().await;
    let t = p.tenant("north").await;
    let query = "{ tenant { name } }";
    let body = p.graphql(None, query, json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert!(body["data"].is_null());
    let forged = testkit::TestIssuer::new().token(t.id, platform::auth::PersonId(t.admin), &[]);
    let body = p.graphql(Some(&forged), query, json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let expired = p.issuer.signer.person_token(
        t.id,
        platform::auth::PersonId(t.admin),
        &[],
        chrono::Duration::minutes(-10),
    );
    let body = p.graphql(Some(&expired), query, json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");

    let teacher = p.token(t.id, Uuid::now_v7(), &[(Role::Teacher, None)]);
    let body = p
        .graphql(
            Some(&teacher),
            CREATE_ORG,
            json!({ "input": { "name": "Sneaky", "kind": "SCHOOL" } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let orgs = p
        .ok(
            &t.admin_token,
            "{ organisations(first: 10) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert!(
        orgs["organisations"]["edges"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
