//! Research agreements and the disclosure log through GraphQL, against the
//! real membership service on SQLite with two tenants: an admin creates and
//! revokes an agreement, lists it and the log (filtered, and as CSV), a
//! researcher sees only their own, and the other tenant sees nothing.

use std::sync::Arc;

use collegium_membership::{
    MembershipStore,
    domain::{Contact, DataScope, NewDisclosure, NewPerson, NewTenant, TenantKind, TenantSettings},
};
use platform::auth::{Grant, PersonId, Role, TenantId};
use serde_json::Value;
use testkit::TestIssuer;
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::helpers::{codes, spawn_gateway_trusting};

async fn tenant_with_people(store: &dyn MembershipStore, slug: &str) -> (TenantId, Uuid, Uuid) {
    let t = store
        .create_tenant(NewTenant {
            slug: slug.into(),
            name: format!("{slug} district"),
            kind: TenantKind::ResearchPartnership,
            settings: TenantSettings::default(),
        })
        .await
        .unwrap()
        .id;
    let person = |given: &str| NewPerson {
        given_name: given.into(),
        family_name: slug.into(),
        contact: Contact::default(),
        organisation_id: None,
        external_id: None,
        time_zone: None,
    };
    let admin = store
        .create_person(t, "test", person("Ada"))
        .await
        .unwrap()
        .id;
    let rae = store
        .create_person(t, "test", person("Rae"))
        .await
        .unwrap()
        .id;
    (t, admin, rae)
}

fn ids(body: &Value, path: &[&str]) -> Vec<String> {
    let mut v = &body["data"];
    for p in path {
        v = &v[*p];
    }
    v["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn agreements_and_disclosures_are_read_and_written_per_tenant() {
    let dir = std::env::temp_dir().join(testkit::unique("gw-research"));
    std::fs::create_dir_all(&dir).unwrap();
    let store = collegium_membership::open_sqlite(&dir.join("membership.db"))
        .await
        .unwrap();
    let (ta, admin_a, rae) = tenant_with_people(&store, "alpha").await;
    let (tb, admin_b, _) = tenant_with_people(&store, "beta").await;
    let issuer = TestIssuer::new();
    let token = |t: TenantId, p: Uuid, role: Role| {
        issuer.token(
            t,
            PersonId(p),
            &[Grant {
                role,
                cluster: None,
            }],
        )
    };
    let (admin, researcher, other_admin) = (
        token(ta, admin_a, Role::TenantAdmin),
        token(ta, rae, Role::Researcher),
        token(tb, admin_b, Role::TenantAdmin),
    );
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let membership = collegium_membership::start(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Arc::new(store.clone()),
        issuer.verifier.clone(),
        async {
            let _ = stop_rx.await;
        },
    )
    .await
    .unwrap();
    let membership_url = format!("http://{}", membership.addr);
    let gw = spawn_gateway_trusting(issuer, |c| c.membership_url = membership_url).await;

    let today = chrono::Utc::now().date_naive();
    let create = format!(
        r#"mutation {{ createResearchAgreement(input: {{
            title: "Reliability", purpose: "Agreement of readers", dataScope: ["scores"],
            researcherIds: ["{rae}"], startsOn: "{}", endsOn: "{}", destroyBy: "{}" }})
           {{ id dataScope researchers {{ givenName }} startsOn revokedAt }} }}"#,
        today - chrono::Duration::days(30),
        today + chrono::Duration::days(30),
        today + chrono::Duration::days(400),
    );
    // A researcher may not create one; bad input names the field.
    let (_, body) = gw.query(Some(&researcher), &create).await;
    assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");
    let (_, body) = gw
        .query(
            Some(&admin),
            &create.replace(r#"["scores"]"#, r#"["grades"]"#),
        )
        .await;
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
    let (_, body) = gw.query(Some(&admin), &create).await;
    let agreement = body["data"]["createResearchAgreement"].clone();
    assert_eq!(agreement["researchers"][0]["givenName"], "Rae", "{body}");
    assert_eq!(agreement["dataScope"][0], "scores");
    let agreement_id: Uuid = agreement["id"].as_str().unwrap().parse().unwrap();

    // Extracts are logged by the service producing them; here, the store.
    let disclosure = store
        .record_disclosure(
            ta,
            &rae.to_string(),
            NewDisclosure {
                agreement_id: Some(agreement_id),
                recipient_id: rae,
                scope: DataScope::Scores,
                dataset: "scores, academic year 2026".into(),
                rows: 7,
                excluded: 1,
                on: today,
            },
        )
        .await
        .unwrap();

    let list = format!(
        r#"{{ researchAgreements(first: 10) {{ edges {{ node {{ id }} }} }}
             disclosures(first: 10, filter: {{ agreementId: "{agreement_id}", from: "{today}", to: "{today}" }})
               {{ edges {{ node {{ id rows excluded dataset recipient {{ givenName }} }} }} }}
             disclosuresCsv {{ rows csv }} }}"#
    );
    let (_, body) = gw.query(Some(&admin), &list).await;
    assert_eq!(
        ids(&body, &["researchAgreements"]),
        [agreement_id.to_string()]
    );
    assert_eq!(ids(&body, &["disclosures"]), [disclosure.id.to_string()]);
    assert_eq!(
        body["data"]["disclosures"]["edges"][0]["node"]["recipient"]["givenName"],
        "Rae"
    );
    assert_eq!(body["data"]["disclosuresCsv"]["rows"], 1, "{body}");
    assert!(
        body["data"]["disclosuresCsv"]["csv"]
            .as_str()
            .unwrap()
            .contains("Rae alpha"),
        "{body}"
    );
    // The researcher sees their own.
    let (_, body) = gw.query(Some(&researcher), &list).await;
    assert_eq!(
        ids(&body, &["disclosures"]),
        [disclosure.id.to_string()],
        "{body}"
    );

    // The other tenant sees nothing and cannot revoke it.
    let (_, body) = gw.query(Some(&other_admin), &list).await;
    assert!(ids(&body, &["researchAgreements"]).is_empty(), "{body}");
    assert!(ids(&body, &["disclosures"]).is_empty(), "{body}");
    assert_eq!(body["data"]["disclosuresCsv"]["rows"], 0, "{body}");
    let revoke = format!(
        r#"mutation {{ revokeResearchAgreement(input: {{ id: "{agreement_id}" }}) {{ revokedAt }} }}"#
    );
    let (_, body) = gw.query(Some(&other_admin), &revoke).await;
    assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
    let (_, body) = gw.query(Some(&admin), &revoke).await;
    assert!(
        body["data"]["revokeResearchAgreement"]["revokedAt"].is_string(),
        "{body}"
    );
    drop(stop);
    let _ = std::fs::remove_dir_all(&dir);
}
