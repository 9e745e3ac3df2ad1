//! A cluster lead writes to their cluster through GraphQL; every member finds
//! it in their inbox, once, and tenant B's people never see it. An event
//! change in scheduling reaches the invited people's inboxes through the bus.

use std::time::Duration;

use platform::auth::Role;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

async fn teacher(
    p: &TestPlatform,
    t: &TestTenant,
    school: &str,
    cluster: &str,
    name: &str,
    tag: &str,
) -> String {
    let id = create_person(
        p,
        &t.admin_token,
        name,
        &format!("{}@{tag}.example", name.to_lowercase()),
        Some(school),
    )
    .await;
    p.ok(
        &t.admin_token,
        "mutation($i: GrantRoleInput!) { grantRole(input: $i) { id } }",
        json!({ "i": { "personId": id, "role": "TEACHER", "clusterId": cluster } }),
    )
    .await;
    p.token(
        t.id,
        Uuid::parse_str(&id).unwrap(),
        &[(Role::Teacher, Some(Uuid::parse_str(cluster).unwrap()))],
    )
}

/// Polls an inbox until it has `n` items (delivery is asynchronous).
async fn inbox(p: &TestPlatform, token: &str, n: usize) -> serde_json::Value {
    let query = "{ inbox(first: 20) { unreadCount edges { node { id title category } } } }";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let data = p.ok(token, query, json!({})).await;
        if data["inbox"]["edges"].as_array().unwrap().len() >= n
            || tokio::time::Instant::now() > deadline
        {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_cluster_message_reaches_every_member_once_and_no_other_tenant() {
    let p = TestPlatform::spawn().await;
    let a = p.tenant("tenant-a").await;
    let b = p.tenant("tenant-b").await;
    let school = create_org(&p, &a.admin_token, "Maple").await;
    let lead = create_person(&p, &a.admin_token, "Lee", "lee@a.example", Some(&school)).await;
    let cluster = p
        .ok(
            &a.admin_token,
            CREATE_CLUSTER,
            json!({ "input": { "name": "North", "leadPersonId": lead, "centreIds": [school] } }),
        )
        .await["createCluster"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let lead_token = p.token(
        a.id,
        Uuid::parse_str(&lead).unwrap(),
        &[(Role::ClusterLead, Some(Uuid::parse_str(&cluster).unwrap()))],
    );
    let tess = teacher(&p, &a, &school, &cluster, "Tess", "a").await;
    let omar = teacher(&p, &a, &school, &cluster, "Omar", "a").await;
    let b_school = create_org(&p, &b.admin_token, "B School").await;
    let b_cluster = p
        .ok(
            &b.admin_token,
            CREATE_CLUSTER,
            json!({ "input": { "name": "B", "centreIds": [b_school] } }),
        )
        .await["createCluster"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bea = teacher(&p, &b, &b_school, &b_cluster, "Bea", "b").await;

    let send = "mutation($i: SendClusterMessageInput!) { sendClusterMessage(input: $i) { id recipients } }";
    let input = json!({ "i": { "clusterId": cluster, "subject": "Study group moves to Thursday",
        "body": "See you in room 4.", "idempotencyKey": "newsletter-2026-11" } });
    let sent = p.ok(&lead_token, send, input.clone()).await;
    assert_eq!(
        sent["sendClusterMessage"]["recipients"], 3,
        "the school's lead and two teachers"
    );
    // A retry with the same key sends nothing twice.
    let again = p.ok(&lead_token, send, input).await;
    assert_eq!(
        again["sendClusterMessage"]["id"],
        sent["sendClusterMessage"]["id"]
    );

    for token in [&tess, &omar] {
        // Their role grant ("New role: teacher") and the message.
        let data = inbox(&p, token, 2).await;
        let titles: Vec<&str> = data["inbox"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles
                .iter()
                .filter(|t| t.contains("Study group moves"))
                .count(),
            1,
            "{titles:?}"
        );
        assert_eq!(data["inbox"]["unreadCount"], titles.len(), "all unread");
    }
    // Tenant B's teacher hears nothing, and cannot write to A's cluster.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let theirs = p
        .ok(
            &bea,
            "{ inbox(first: 20) { edges { node { title } } } }",
            json!({}),
        )
        .await;
    assert!(
        theirs["inbox"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["node"]["title"].as_str().unwrap().contains("Study group")),
        "{theirs}"
    );
    let body = p
        .graphql(Some(&b.admin_token), send, json!({ "i": { "clusterId": cluster, "subject": "x", "body": "y", "idempotencyKey": "k" } }))
        .await;
    let code = error_code(&body);
    assert!(code == "NOT_FOUND" || code == "BAD_USER_INPUT", "{body}");

    // Marking read changes only the reader's own items.
    let before = inbox(&p, &tess, 2).await;
    let unread = before["inbox"]["unreadCount"].as_u64().unwrap();
    let item = before["inbox"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let marked = p
        .ok(
            &omar,
            "mutation($ids: [ID!]!) { markRead(ids: $ids) { changed } }",
            json!({ "ids": [item] }),
        )
        .await;
    assert_eq!(marked["markRead"]["changed"], 0);
    let marked = p
        .ok(
            &tess,
            "mutation($ids: [ID!]!) { markRead(ids: $ids) { changed unreadCount } }",
            json!({ "ids": [item] }),
        )
        .await;
    assert_eq!(marked["markRead"]["changed"], 1);
    assert_eq!(marked["markRead"]["unreadCount"], unread - 1);
}
