//! Tenant isolation through GraphQL: tenant A's tokens with tenant B's ids
//! get NOT_FOUND (or nothing) and never B's data, and writes never land in B.

use collegium_membership::MembershipStore;
use platform::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

/// B's world: an organisation, a person, a cluster, a consent, an opt-out, a panel.
struct BWorld {
    org: String,
    person: String,
    cluster: String,
    grant: String,
    consent: String,
    opt_out: String,
    panel: String,
}

async fn build_b(p: &TestPlatform, token: &str) -> BWorld {
    let org = create_org(p, token, "B School").await;
    let person = create_person(p, token, "Bea", "bea@b.example", Some(&org)).await;
    let cluster = p
        .ok(
            token,
            CREATE_CLUSTER,
            json!({ "input": { "name": "B Cluster", "centreIds": [org] } }),
        )
        .await["createCluster"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let grant = p
        .ok(
            token,
            "mutation($i: GrantRoleInput!) { grantRole(input: $i) { id } }",
            json!({ "i": { "personId": person, "role": "TEACHER", "clusterId": cluster } }),
        )
        .await["grantRole"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let consent = p
        .ok(
            token,
            "mutation($i: RecordConsentInput!) { recordConsent(input: $i) { id } }",
            json!({ "i": { "subject": { "personId": person }, "purpose": "share-contact-with-cluster",
                           "purposeVersion": 1, "remark": "signed form" } }),
        )
        .await["recordConsent"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let opt_out = p
        .ok(
            token,
            "mutation($i: RecordResearchOptOutInput!) { recordResearchOptOut(input: $i) { id } }",
            json!({ "i": { "studentRef": "S-1", "organisationId": org, "recordedFor": "Parent" } }),
        )
        .await["recordResearchOptOut"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let panel = p
        .ok(
            token,
            "mutation($i: CreatePanelInput!) { createPanel(input: $i) { id } }",
            json!({ "i": { "name": "B Panel", "purpose": "priorities" } }),
        )
        .await["createPanel"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    BWorld {
        org,
        person,
        cluster,
        grant,
        consent,
        opt_out,
        panel,
    }
}

/// Every id-bearing string in a response.
fn ids_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| ids_in(x, out)),
        Value::Object(o) => o.values().for_each(|x| ids_in(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn tenant_a_never_sees_or_changes_tenant_b() {
    let p = TestPlatform::spawn().await;
    let a = p.tenant("tenant-a").await;
    let b = p.tenant("tenant-b").await;
    let bw = build_b(&p, &b.admin_token).await;
    let a_org = create_org(&p, &a.admin_token, "A School").await;
    let a_cluster = p
        .ok(
            &a.admin_token,
            CREATE_CLUSTER,
            json!({ "input": { "name": "A Cluster" } }),
        )
        .await["createCluster"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Reads by id: nothing.
    for (field, id) in [
        ("organisation", &bw.org),
        ("person", &bw.person),
        ("cluster", &bw.cluster),
    ] {
        let q = format!("query($id: ID!) {{ {field}(id: $id) {{ id }} }}");
        let body = p
            .graphql(Some(&a.admin_token), &q, json!({ "id": id }))
            .await;
        assert!(body["data"][field].is_null(), "{field}: {body:#}");
    }

    // Lists and filters by B's ids: only A's rows, never a B id anywhere.
    let lists = p
        .ok(
            &a.admin_token,
            "query($org: ID, $cluster: ID, $person: ID) {
               organisations(first: 100) { edges { node { id } } }
               clusters(first: 100) { edges { node { id centres { id } } } }
               byOrg: people(first: 100, organisationId: $org) { edges { node { id } } }
               byCluster: people(first: 100, clusterId: $cluster) { edges { node { id } } }
               people(first: 100) { edges { node { id } } }
               roleGrants(first: 100, personId: $person) { edges { node { id } } }
               allGrants: roleGrants(first: 100, includeRevoked: true) { edges { node { id personId: person { id } } } }
               consents(first: 100, includeWithdrawn: true) { edges { node { id } } }
               researchOptOuts(first: 100, includeWithdrawn: true) { edges { node { id } } }
               panels(first: 100) { edges { node { id } } }
               auditRecords(first: 500) { edges { node { id targetId } } }
             }",
            json!({ "org": bw.org, "cluster": bw.cluster, "person": bw.person }),
        )
        .await;
    let mut seen = vec![];
    ids_in(&lists, &mut seen);
    for b_id in [
        &bw.org,
        &bw.person,
        &bw.cluster,
        &bw.grant,
        &bw.consent,
        &bw.opt_out,
        &bw.panel,
    ] {
        assert!(!seen.contains(b_id), "B's id {b_id} leaked into A's lists");
    }
    assert!(seen.contains(&a_org), "the lists did return A's data");
    assert!(lists["byOrg"]["edges"].as_array().unwrap().is_empty());
    assert!(lists["byCluster"]["edges"].as_array().unwrap().is_empty());

    // Writes addressed at B's ids: NOT_FOUND or refused input, never a change.
    let writes: Vec<(&str, Value)> = vec![
        (
            "mutation($i: UpdateOrganisationInput!) { updateOrganisation(input: $i) { id } }",
            json!({ "i": { "id": bw.org, "name": "Hijacked" } }),
        ),
        (
            "mutation($i: UpdatePersonInput!) { updatePerson(input: $i) { id } }",
            json!({ "i": { "id": bw.person, "givenName": "Hijacked" } }),
        ),
        (
            "mutation($i: UpdateClusterInput!) { updateCluster(input: $i) { id } }",
            json!({ "i": { "id": bw.cluster, "name": "Hijacked" } }),
        ),
        (
            "mutation($i: ClusterCentreInput!) { addClusterCentre(input: $i) { id } }",
            json!({ "i": { "clusterId": bw.cluster, "organisationId": a_org } }),
        ),
        (
            "mutation($i: ClusterCentreInput!) { addClusterCentre(input: $i) { id } }",
            json!({ "i": { "clusterId": a_cluster, "organisationId": bw.org } }),
        ),
        (
            "mutation($i: RevokeRoleInput!) { revokeRole(input: $i) { id } }",
            json!({ "i": { "grantId": bw.grant } }),
        ),
        (
            "mutation($i: GrantRoleInput!) { grantRole(input: $i) { id } }",
            json!({ "i": { "personId": bw.person, "role": "TENANT_ADMIN" } }),
        ),
        (
            "mutation($i: WithdrawConsentInput!) { withdrawConsent(input: $i) { id } }",
            json!({ "i": { "id": bw.consent, "remark": "x" } }),
        ),
        (
            "mutation($i: WithdrawResearchOptOutInput!) { withdrawResearchOptOut(input: $i) { id } }",
            json!({ "i": { "id": bw.opt_out } }),
        ),
        (
            "mutation($i: AddPanelMemberInput!) { addPanelMember(input: $i) { id } }",
            json!({ "i": { "panelId": bw.panel, "personId": a.admin.to_string(), "constituency": "FAMILY" } }),
        ),
        (
            "mutation($i: RecordConsentInput!) { recordConsent(input: $i) { id } }",
            json!({ "i": { "subject": { "personId": bw.person }, "purpose": "share-contact-with-cluster", "purposeVersion": 1, "remark": "x" } }),
        ),
        (
            "mutation($i: CreateMentorshipInput!) { createMentorship(input: $i) { id } }",
            json!({ "i": { "mentorId": a.admin.to_string(), "newTeacherId": bw.person, "startsOn": "2026-09-01" } }),
        ),
    ];
    let b_audit_before = p
        .store
        .list_audit(b.id, None, platform::page::Page::first(500))
        .await
        .unwrap()
        .0
        .len();
    for (mutation, vars) in writes {
        let body = p.graphql(Some(&a.admin_token), mutation, vars).await;
        let code = error_code(&body);
        assert!(
            code == "NOT_FOUND" || code == "BAD_USER_INPUT",
            "{mutation} answered {code}: {body:#}"
        );
    }
    let b_audit_after = p
        .store
        .list_audit(b.id, None, platform::page::Page::first(500))
        .await
        .unwrap()
        .0
        .len();
    assert_eq!(b_audit_before, b_audit_after, "nothing was written in B");
    let b_person = p
        .ok(
            &b.admin_token,
            "query($id: ID!) { person(id: $id) { givenName } }",
            json!({ "id": bw.person }),
        )
        .await;
    assert_eq!(b_person["person"]["givenName"], "Bea");

    // A cluster lead's grant names a cluster id; B's cluster id in an A
    // token gives nothing in B either.
    let forged_lead = p.token(
        a.id,
        a.admin,
        &[(
            Role::ClusterLead,
            Some(Uuid::parse_str(&bw.cluster).unwrap()),
        )],
    );
    let body = p
        .graphql(
            Some(&forged_lead),
            "mutation($i: ClusterCentreInput!) { removeClusterCentre(input: $i) { id } }",
            json!({ "i": { "clusterId": bw.cluster, "organisationId": bw.org } }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
}
