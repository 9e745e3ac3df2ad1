//! Data-subject requests through GraphQL: a tenant admin exports everything
//! the platform holds about a teacher as one archive (membership and
//! scheduling sections with her name and attendance), then erases her: her
//! name and contact are gone from every section, her attendance is kept
//! without identity. Another tenant's admin can neither read nor erase her.

use serde_json::{Value, json};

use crate::helpers::*;

const EXPORT: &str = "query($p: ID!) { personDataExport(personId: $p) { personId fileName json } }";
const ERASE: &str =
    "mutation($i: ErasePersonInput!) { erasePerson(input: $i) { service kind count } }";

fn archive(data: &Value) -> Value {
    serde_json::from_str(data["personDataExport"]["json"].as_str().unwrap()).unwrap()
}

/// The archive's sections without the instants each was taken at.
fn sections(doc: &Value) -> Value {
    let mut services = doc["services"].clone();
    for section in services.as_object_mut().unwrap().values_mut() {
        section.as_object_mut().unwrap().remove("exported_at");
    }
    services
}

#[tokio::test]
async fn an_admin_exports_and_erases_a_person_and_no_other_tenant_can() {
    let p = TestPlatform::spawn().await;
    let a = p.tenant("privacy-a").await;
    let school = create_org(&p, &a.admin_token, "Maple School").await;
    let tess = create_person(
        &p,
        &a.admin_token,
        "Tessaly",
        "tessaly@privacy-a.example",
        Some(&school),
    )
    .await;
    // She attended a network meeting last month.
    let when = |h: u32| {
        (chrono::Utc::now() - chrono::Duration::days(30))
            .format(&format!("%Y-%m-%dT{h:02}:00"))
            .to_string()
    };
    let event = p
        .ok(
            &a.admin_token,
            "mutation($i: CreateEventInput!) { createEvent(input: $i) { id } }",
            json!({ "i": { "kind": "NETWORK_MEETING", "title": "Autumn meeting",
                "startsLocal": when(16), "endsLocal": when(18), "timeZone": "UTC", "publish": true } }),
        )
        .await["createEvent"]["id"]
        .clone();
    p.ok(
        &a.admin_token,
        "mutation($i: RecordAttendanceInput!) { recordAttendance(input: $i) { status } }",
        json!({ "i": { "eventId": event, "marks": [{ "personId": tess, "status": "PRESENT" }] } }),
    )
    .await;

    // The archive: one JSON document with a section per service.
    let before = p.ok(&a.admin_token, EXPORT, json!({ "p": tess })).await;
    assert_eq!(before["personDataExport"]["personId"], tess.as_str());
    let doc = archive(&before);
    assert_eq!(doc["person_id"], tess.as_str());
    for service in ["membership", "scheduling", "scoring", "notifications"] {
        assert!(
            doc["services"][service].is_object(),
            "{service} section: {doc:#}"
        );
    }
    let text = doc.to_string();
    assert!(text.contains("Tessaly") && text.contains("tessaly@privacy-a.example"));
    assert_eq!(
        doc["services"]["scheduling"]["attendance"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{doc:#}"
    );

    // Nobody but the tenant's admin: not a teacher, not another tenant.
    let tess_id = uuid::Uuid::parse_str(&tess).unwrap();
    let own = p.token(a.id, tess_id, &[(platform::auth::Role::Teacher, None)]);
    let body = p.graphql(Some(&own), EXPORT, json!({ "p": tess })).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let b = p.tenant("privacy-b").await;
    let body = p
        .graphql(Some(&b.admin_token), EXPORT, json!({ "p": tess }))
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = p
        .graphql(
            Some(&b.admin_token),
            ERASE,
            json!({ "i": { "personId": tess, "confirm": true } }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = p
        .graphql(
            Some(&a.admin_token),
            ERASE,
            json!({ "i": { "personId": tess, "confirm": false } }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let unchanged = archive(&p.ok(&a.admin_token, EXPORT, json!({ "p": tess })).await);
    assert_eq!(
        sections(&unchanged),
        sections(&doc),
        "nothing erased by B or unconfirmed"
    );

    // Erasure: her identity goes everywhere, her attendance stays.
    let erased = p
        .ok(
            &a.admin_token,
            ERASE,
            json!({ "i": { "personId": tess, "confirm": true } }),
        )
        .await;
    let counts = erased["erasePerson"].as_array().unwrap();
    assert!(
        counts
            .iter()
            .any(|c| c["service"] == "membership" && c["kind"] == "person" && c["count"] == 1),
        "{counts:#?}"
    );
    let after = archive(&p.ok(&a.admin_token, EXPORT, json!({ "p": tess })).await);
    let text = after.to_string();
    assert!(
        !text.contains("Tessaly") && !text.contains("tessaly@privacy-a.example"),
        "{after:#}"
    );
    assert_eq!(
        after["services"]["scheduling"]["attendance"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // Again: idempotent, nothing more to change.
    let again = p
        .ok(
            &a.admin_token,
            ERASE,
            json!({ "i": { "personId": tess, "confirm": true } }),
        )
        .await;
    assert!(
        again["erasePerson"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["count"] == 0),
        "{again:#}"
    );
}
