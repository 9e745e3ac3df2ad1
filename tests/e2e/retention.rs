//! Retention through GraphQL against every real service: a tenant admin
//! sets periods, a dry run counts, a real run erases a teacher inactive
//! past the period (her attendance kept without identity) and deletes the
//! audit records past theirs, and the runs are listed. Another tenant with
//! the same aged data keeps all of it, sees none of the first tenant's runs,
//! and a teacher may do none of it.

use collegium_membership::MembershipStore;
use serde_json::{Value, json};

use crate::helpers::*;

const POLICY: &str = "{ retentionPolicy { category days isDefault minDays action services } }";
const SET: &str = "mutation($i: SetRetentionPeriodInput!) { setRetentionPeriod(input: $i) { category days isDefault } }";
const RUN: &str = "mutation($dry: Boolean!) { runRetention(dryRun: $dry) { id actor dryRun error \
                   cutoffs { category before } counts { service category kind action count } } }";
const RUNS: &str = "{ retentionRuns(first: 10) { edges { node { id dryRun } } } }";
const EXPORT: &str = "query($p: ID!) { personDataExport(personId: $p) { json } }";

/// The count of `service`'s `category`/`kind` in a run (0 when absent).
fn count(run: &Value, service: &str, category: &str, kind: &str) -> u64 {
    run["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["service"] == service && c["category"] == category && c["kind"] == kind)
        .and_then(|c| c["count"].as_u64())
        .unwrap_or(0)
}

/// A tenant with a teacher who attended a meeting 40 days ago and was
/// deactivated; returns her id.
async fn tenant_with_a_departed_teacher(p: &TestPlatform, t: &TestTenant, slug: &str) -> String {
    let school = create_org(p, &t.admin_token, "Maple School").await;
    let tess = create_person(
        p,
        &t.admin_token,
        "Tessaly",
        &format!("tessaly@{slug}.example"),
        Some(&school),
    )
    .await;
    let when = |h: u32| {
        (chrono::Utc::now() - chrono::Duration::days(40))
            .format(&format!("%Y-%m-%dT{h:02}:00"))
            .to_string()
    };
    let event = p
        .ok(
            &t.admin_token,
            "mutation($i: CreateEventInput!) { createEvent(input: $i) { id } }",
            json!({ "i": { "kind": "NETWORK_MEETING", "title": "Spring meeting",
                "startsLocal": when(16), "endsLocal": when(18), "timeZone": "UTC", "publish": true } }),
        )
        .await["createEvent"]["id"]
        .clone();
    p.ok(
        &t.admin_token,
        "mutation($i: RecordAttendanceInput!) { recordAttendance(input: $i) { status } }",
        json!({ "i": { "eventId": event, "marks": [{ "personId": tess, "status": "PRESENT" }] } }),
    )
    .await;
    p.ok(
        &t.admin_token,
        "mutation($i: UpdatePersonInput!) { updatePerson(input: $i) { active } }",
        json!({ "i": { "id": tess, "active": false } }),
    )
    .await;
    tess
}

#[tokio::test]
async fn a_tenants_periods_expire_its_own_data_only_and_every_run_is_recorded() {
    let p = TestPlatform::spawn().await;
    let a = p.tenant("retention-a").await;
    let b = p.tenant("retention-b").await;
    let tess_a = tenant_with_a_departed_teacher(&p, &a, "retention-a").await;
    let tess_b = tenant_with_a_departed_teacher(&p, &b, "retention-b").await;
    // Both left 100 days ago, and both tenants' scheduling audit records
    // are two years old.
    for t in [a.id, b.id] {
        p.db.execute_as_owner(&format!(
            "UPDATE membership.people SET inactive_since = now() - interval '100 days' \
             WHERE tenant_id = '{t}' AND NOT active"
        ))
        .await
        .unwrap();
        p.db.execute_as_owner(&format!(
            "UPDATE scheduling.audit_log SET at = at - interval '730 days' WHERE tenant_id = '{t}'"
        ))
        .await
        .unwrap();
    }
    let old_audit = |t: platform::auth::TenantId| {
        let db = &p.db;
        async move {
            // Counting through an UPDATE that changes nothing: the rows affected.
            db.execute_as_owner(&format!(
                "UPDATE scheduling.audit_log SET at = at WHERE tenant_id = '{t}' \
                 AND at < now() - interval '400 days'"
            ))
            .await
            .unwrap()
        }
    };
    let b_old_audit = old_audit(b.id).await;
    assert!(b_old_audit >= 2, "event created and attendance recorded");

    // The defaults: nothing personal expires until the tenant decides.
    let policy = p.ok(&a.admin_token, POLICY, json!({})).await["retentionPolicy"].clone();
    let inactive = policy
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "inactive_people")
        .unwrap();
    assert_eq!(inactive["days"], Value::Null);
    assert_eq!(inactive["isDefault"], true);
    assert_eq!(inactive["action"], "anonymised");

    // A keeps inactive people 90 days and audit records a year; too short is refused.
    let body = p
        .graphql(
            Some(&a.admin_token),
            SET,
            json!({ "i": { "category": "inactive_people", "days": 7 } }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(body.to_string().contains("at least 30 days"), "{body}");
    for (category, days) in [("inactive_people", 90), ("audit_log", 365)] {
        p.ok(
            &a.admin_token,
            SET,
            json!({ "i": { "category": category, "days": days } }),
        )
        .await;
    }

    // A teacher may do none of it.
    let teacher = p.token(
        a.id,
        uuid::Uuid::parse_str(&tess_a).unwrap(),
        &[(platform::auth::Role::Teacher, None)],
    );
    for (query, vars) in [
        (POLICY, json!({})),
        (RUN, json!({ "dry": true })),
        (RUNS, json!({})),
        (
            SET,
            json!({ "i": { "category": "audit_log", "days": 400 } }),
        ),
    ] {
        let body = p.graphql(Some(&teacher), query, vars).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{query}: {body}");
    }

    // A dry run counts and changes nothing.
    let dry = p.ok(&a.admin_token, RUN, json!({ "dry": true })).await["runRetention"].clone();
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["error"], Value::Null, "{dry:#}");
    assert_eq!(count(&dry, "membership", "inactive_people", "people"), 1);
    assert!(count(&dry, "scheduling", "audit_log", "audit_records") >= 2);
    let export = |who: &str| {
        let token = a.admin_token.clone();
        let who = who.to_string();
        let p = &p;
        async move {
            p.ok(&token, EXPORT, json!({ "p": who })).await["personDataExport"]["json"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    assert!(export(&tess_a).await.contains("Tessaly"));

    // The real run: she is erased everywhere, her attendance kept.
    let run = p.ok(&a.admin_token, RUN, json!({ "dry": false })).await["runRetention"].clone();
    assert_eq!(run["error"], Value::Null, "{run:#}");
    assert_eq!(run["actor"], a.admin.to_string());
    assert_eq!(count(&run, "membership", "inactive_people", "people"), 1);
    assert_eq!(count(&run, "membership", "inactive_people", "person"), 1);
    assert_eq!(
        count(&run, "scheduling", "audit_log", "audit_records"),
        count(&dry, "scheduling", "audit_log", "audit_records")
    );
    let archive: Value = serde_json::from_str(&export(&tess_a).await).unwrap();
    assert!(!archive.to_string().contains("Tessaly"), "{archive:#}");
    assert_eq!(
        archive["services"]["scheduling"]["attendance"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(old_audit(a.id).await, 0);
    let runs = p.ok(&a.admin_token, RUNS, json!({})).await;
    let listed: Vec<&Value> = runs["retentionRuns"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], run["id"]);
    assert_eq!(listed[1]["id"], dry["id"]);

    // Again: nothing left.
    let again = p.ok(&a.admin_token, RUN, json!({ "dry": false })).await["runRetention"].clone();
    assert_eq!(count(&again, "membership", "inactive_people", "people"), 0);
    assert_eq!(count(&again, "scheduling", "audit_log", "audit_records"), 0);

    // B kept everything: its teacher, its old audit records, and sees none of A's runs.
    assert_eq!(old_audit(b.id).await, b_old_audit);
    let b_runs = p.ok(&b.admin_token, RUNS, json!({})).await;
    assert_eq!(b_runs["retentionRuns"]["edges"], json!([]));
    let b_run = p.ok(&b.admin_token, RUN, json!({ "dry": false })).await["runRetention"].clone();
    assert_eq!(b_run["error"], Value::Null, "{b_run:#}");
    assert_eq!(count(&b_run, "membership", "inactive_people", "people"), 0);
    let b_export = p
        .ok(&b.admin_token, EXPORT, json!({ "p": tess_b }))
        .await
        .to_string();
    assert!(b_export.contains("Tessaly"), "B's teacher is kept");
    assert_eq!(old_audit(b.id).await, b_old_audit);
}

#[tokio::test]
async fn the_job_erases_at_most_its_share_per_run_and_the_rest_next_time() {
    let p = TestPlatform::spawn().await;
    let a = p.tenant("retention-job").await;
    let other = p.tenant("retention-job-other").await;
    for (t, slug) in [(&a, "one"), (&a, "two"), (&a, "three"), (&other, "four")] {
        let id = create_person(
            &p,
            &t.admin_token,
            "Leaver",
            &format!("{slug}@job.example"),
            None,
        )
        .await;
        p.ok(
            &t.admin_token,
            "mutation($i: UpdatePersonInput!) { updatePerson(input: $i) { active } }",
            json!({ "i": { "id": id, "active": false } }),
        )
        .await;
    }
    for t in [a.id, other.id] {
        p.db.execute_as_owner(&format!(
            "UPDATE membership.people SET inactive_since = now() - interval '60 days' \
             WHERE tenant_id = '{t}' AND NOT active"
        ))
        .await
        .unwrap();
        // Both keep inactive people 30 days.
        p.store
            .set_retention_period(
                t,
                "operator",
                platform::retention::Category::InactivePeople,
                Some(Some(30)),
            )
            .await
            .unwrap();
    }

    // The nightly job's token: bound to A, no roles, `service:retention`.
    let token = p.issuer.signer.service_token("retention", a.id);
    let job = collegium_gateway::fanout::Services::new(&p.upstreams, &token).unwrap();
    let people = |run: &collegium_proto::membership::v1::RetentionRun, kind: &str| {
        run.reports
            .iter()
            .filter(|r| r.service == "membership")
            .flat_map(|r| r.counts.iter())
            .find(|c| c.category == "inactive_people" && c.kind == kind)
            .map(|c| c.count)
    };
    let dry = job.run_retention(true, 2).await.unwrap();
    assert_eq!(
        (people(&dry, "people"), people(&dry, "people_deferred")),
        (Some(2), Some(1))
    );
    let first = job.run_retention(false, 2).await.unwrap();
    assert_eq!(first.error, "", "{first:?}");
    assert_eq!(first.actor, "service:retention");
    assert_eq!(
        (people(&first, "people"), people(&first, "people_deferred")),
        (Some(2), Some(1))
    );
    let second = job.run_retention(false, 2).await.unwrap();
    assert_eq!(
        (
            people(&second, "people"),
            people(&second, "people_deferred")
        ),
        (Some(1), Some(0))
    );
    let third = job.run_retention(false, 2).await.unwrap();
    assert_eq!(people(&third, "people"), Some(0));

    // The other tenant's leaver was never A's job's to erase.
    let remaining = p
        .store
        .expired_people(
            other.id,
            chrono::Utc::now() - chrono::Duration::days(30),
            platform::page::Page::first(10),
        )
        .await
        .unwrap()
        .0;
    assert_eq!(remaining.len(), 1);
    let in_a = p
        .store
        .expired_people(
            a.id,
            chrono::Utc::now() - chrono::Duration::days(30),
            platform::page::Page::first(10),
        )
        .await
        .unwrap()
        .0;
    assert_eq!(in_a, Vec::<uuid::Uuid>::new());
}
