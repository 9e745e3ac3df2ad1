//! A cluster lead runs a year of the network through GraphQL: plans a
//! meeting, invites the cluster, teachers answer (the waiting list moves up
//! when a seat frees), attendance is recorded and becomes training evidence,
//! the compliance view and the calendar feed reflect it, and the changes
//! reach the event bus. Then tenant A tries everything on tenant B's data.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use platform::{
    auth::Role,
    events::{EventBus, EventEnvelope, EventHandler, SubscribeOptions},
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::helpers::*;

const CREATE_EVENT: &str = "mutation($i: CreateEventInput!) { createEvent(input: $i) { id title startsAt academicYear status seriesId } }";

struct Network {
    cluster: String,
    lead_token: String,
    teachers: Vec<(Uuid, String)>,
}

/// A cluster with a lead and three teachers at one school.
async fn network(p: &TestPlatform, t: &TestTenant, tag: &str) -> Network {
    let school = create_org(p, &t.admin_token, &format!("{tag} School")).await;
    let lead = create_person(
        p,
        &t.admin_token,
        "Lee",
        &format!("lee@{tag}.example"),
        Some(&school),
    )
    .await;
    let cluster = p
        .ok(
            &t.admin_token,
            CREATE_CLUSTER,
            json!({ "input": { "name": format!("{tag} cluster"),
            "leadPersonId": lead, "centreIds": [school] } }),
        )
        .await["createCluster"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cluster_id = Uuid::parse_str(&cluster).unwrap();
    let lead = Uuid::parse_str(&lead).unwrap();
    let mut teachers = vec![];
    for name in ["Tess", "Omar", "Priya"] {
        let id = create_person(
            p,
            &t.admin_token,
            name,
            &format!("{}@{tag}.example", name.to_lowercase()),
            Some(&school),
        )
        .await;
        p.ok(
            &t.admin_token,
            "mutation($i: GrantRoleInput!) { grantRole(input: $i) { id } }",
            json!({ "i": { "personId": id, "role": "TEACHER", "clusterId": cluster } }),
        )
        .await;
        let id = Uuid::parse_str(&id).unwrap();
        teachers.push((id, p.token(t.id, id, &[(Role::Teacher, Some(cluster_id))])));
    }
    Network {
        lead_token: p.token(t.id, lead, &[(Role::ClusterLead, Some(cluster_id))]),
        cluster,
        teachers,
    }
}

struct Forward(mpsc::UnboundedSender<EventEnvelope>);

#[async_trait]
impl EventHandler for Forward {
    async fn handle(&self, event: &EventEnvelope) -> platform::Result<()> {
        let _ = self.0.send(event.clone());
        Ok(())
    }
}

fn ids(v: &Value) -> Vec<String> {
    v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["node"]["person"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_cluster_lead_runs_a_meeting_from_invitation_to_evidence() {
    let p = TestPlatform::spawn().await;
    let t = p.tenant("north").await;
    let n = network(&p, &t, "north").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sub = p
        .bus
        .subscribe(
            SubscribeOptions::new("e2e-scheduling", "c1"),
            Arc::new(Forward(tx)),
        )
        .await
        .unwrap();

    // A meeting with one seat, next year (always in the future).
    let next_year = chrono::Utc::now()
        .format("%Y")
        .to_string()
        .parse::<i32>()
        .unwrap()
        + 1;
    let event = p
        .ok(&n.lead_token, CREATE_EVENT, json!({ "i": {
            "kind": "NETWORK_MEETING", "clusterId": n.cluster, "title": "Spring network meeting",
            "startsLocal": format!("{next_year}-03-24T16:00"), "endsLocal": format!("{next_year}-03-24T17:30"),
            "timeZone": "America/Chicago", "capacity": 1, "publish": true } }))
        .await["createEvent"]
        .clone();
    let event_id = event["id"].as_str().unwrap().to_string();
    // 16:00 in Chicago in late March (daylight time, UTC-5) is 21:00 UTC.
    assert!(
        event["startsAt"].as_str().unwrap().contains("T21:00:00"),
        "{event}"
    );
    assert_eq!(event["status"], "PUBLISHED");

    let invited = p
        .ok(
            &n.lead_token,
            "mutation($i: InviteInput!) { invite(input: $i) { invited } }",
            json!({ "i": { "eventId": event_id, "audiences": [{ "clusterId": n.cluster }] } }),
        )
        .await;
    assert_eq!(
        invited["invite"]["invited"], 4,
        "the people of the cluster's school: its lead and three teachers"
    );

    let rsvp = "mutation($i: RsvpInput!) { rsvp(input: $i) { status waitlistPosition } }";
    let first = p
        .ok(
            &n.teachers[0].1,
            rsvp,
            json!({ "i": { "eventId": event_id, "response": "ACCEPTED" } }),
        )
        .await;
    assert_eq!(first["rsvp"]["status"], "ACCEPTED");
    let second = p
        .ok(
            &n.teachers[1].1,
            rsvp,
            json!({ "i": { "eventId": event_id, "response": "ACCEPTED" } }),
        )
        .await;
    assert_eq!(second["rsvp"]["status"], "WAITLISTED");
    assert_eq!(second["rsvp"]["waitlistPosition"], 1);
    // The seat holder declines: the longest-waiting teacher moves up.
    p.ok(
        &n.teachers[0].1,
        rsvp,
        json!({ "i": { "eventId": event_id, "response": "DECLINED" } }),
    )
    .await;
    let accepted = p
        .ok(&n.lead_token, "query($e: ID!) { rsvps(eventId: $e, status: ACCEPTED, first: 10) { edges { node { person { id } } } } }",
            json!({ "e": event_id }))
        .await;
    assert_eq!(ids(&accepted["rsvps"]), [n.teachers[1].0.to_string()]);

    // Attendance is the evidence of training: a scoring training held last month.
    let training = p
        .ok(&n.lead_token, CREATE_EVENT, json!({ "i": {
            "kind": "SCORING_TRAINING", "clusterId": n.cluster, "title": "Scoring training",
            "startsLocal": (chrono::Utc::now() - chrono::Duration::days(30)).format("%Y-%m-%dT09:00").to_string(),
            "endsLocal": (chrono::Utc::now() - chrono::Duration::days(30)).format("%Y-%m-%dT12:00").to_string(),
            "timeZone": "UTC", "trainingHours": 3, "publish": true } }))
        .await["createEvent"]
        .clone();
    let year = training["academicYear"].as_i64().unwrap();
    p.ok(
        &n.lead_token,
        "mutation($i: RecordAttendanceInput!) { recordAttendance(input: $i) { status } }",
        json!({ "i": { "eventId": training["id"], "marks": [
            { "personId": n.teachers[0].0, "status": "PRESENT" },
            { "personId": n.teachers[1].0, "status": "NO_SHOW" } ] } }),
    )
    .await;
    let status = "query($p: ID!, $y: Int!) { trainingStatus(personId: $p, academicYear: $y) { trained trainingHours } }";
    let trained = p
        .ok(
            &n.lead_token,
            status,
            json!({ "p": n.teachers[0].0, "y": year }),
        )
        .await;
    assert_eq!(trained["trainingStatus"]["trained"], true);
    assert_eq!(trained["trainingStatus"]["trainingHours"], 3);
    let untrained = p
        .ok(
            &n.lead_token,
            status,
            json!({ "p": n.teachers[1].0, "y": year }),
        )
        .await;
    assert_eq!(untrained["trainingStatus"]["trained"], false);

    // The compliance view names the untrained scorers.
    let view = p
        .ok(&n.lead_token, "query($c: ID!, $y: Int!) { compliance(clusterId: $c, academicYear: $y) { items { rule state subjects } } }",
            json!({ "c": n.cluster, "y": year }))
        .await;
    let scorers = view["compliance"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["rule"] == "trained_scorers")
        .expect("the trained-scorers rule")
        .clone();
    assert_ne!(scorers["state"], "MET");
    let subjects: Vec<&str> = scorers["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(subjects.contains(&n.teachers[1].0.to_string().as_str()));
    assert!(!subjects.contains(&n.teachers[0].0.to_string().as_str()));

    // The promoted teacher's calendar feed, fetched as a calendar app would: no bearer token.
    let feed = p
        .ok(
            &n.teachers[1].1,
            "{ myCalendarFeed { url active } }",
            json!({}),
        )
        .await;
    let url = feed["myCalendarFeed"]["url"]
        .as_str()
        .expect("a feed link on creation")
        .to_string();
    assert!(url.starts_with(&p.base));
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = resp.text().await.unwrap();
    assert!(ics.contains(&format!("UID:{event_id}@collegium")), "{ics}");
    assert!(ics.contains("DTSTART;TZID=America/Chicago:"), "{ics}");
    // Revoked: the old link stops working.
    p.ok(
        &n.teachers[1].1,
        "mutation { revokeMyCalendarFeed { active } }",
        json!({}),
    )
    .await;
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 404);

    // The changes reached the bus, with the tenant of the token.
    let mut kinds = vec![];
    while !kinds
        .iter()
        .any(|k: &String| k == "scheduling.rsvp.promoted")
    {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("scheduling events arrive")
            .unwrap();
        assert_eq!(ev.tenant, t.id);
        kinds.push(ev.event_type);
    }
    assert!(
        kinds.iter().any(|k| k == "scheduling.event.created"),
        "{kinds:?}"
    );
    sub.stop().await;
}

#[tokio::test]
async fn bad_scheduling_input_names_the_field() {
    let p = TestPlatform::spawn().await;
    let t = p.tenant("north").await;
    let n = network(&p, &t, "north").await;
    let body = p
        .graphql(
            Some(&n.lead_token),
            CREATE_EVENT,
            json!({ "i": {
            "kind": "NETWORK_MEETING", "clusterId": n.cluster, "title": "Backwards",
            "startsLocal": "2030-03-10T17:00", "endsLocal": "2030-03-10T16:00",
            "timeZone": "Mars/Olympus", "publish": true } }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let fields: Vec<&str> = body["errors"][0]["extensions"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"timeZone"), "{fields:?}");
    let events = p
        .ok(&n.lead_token, "query($c: ID) { events(first: 10, clusterId: $c, includeDrafts: true) { edges { node { id } } } }",
            json!({ "c": n.cluster }))
        .await;
    assert!(
        events["events"]["edges"].as_array().unwrap().is_empty(),
        "nothing written"
    );

    // A teacher may not plan the cluster's meetings.
    let body = p
        .graphql(Some(&n.teachers[0].1), CREATE_EVENT, json!({ "i": {
            "kind": "NETWORK_MEETING", "clusterId": n.cluster, "title": "Mine",
            "startsLocal": "2030-03-10T16:00", "endsLocal": "2030-03-10T17:00", "timeZone": "UTC" } }))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

#[tokio::test]
async fn tenant_a_never_sees_or_changes_tenant_bs_schedule() {
    let p = TestPlatform::spawn().await;
    let a = p.tenant("tenant-a").await;
    let b = p.tenant("tenant-b").await;
    let nb = network(&p, &b, "b").await;
    let b_event = p
        .ok(&nb.lead_token, CREATE_EVENT, json!({ "i": {
            "kind": "NETWORK_MEETING", "clusterId": nb.cluster, "title": "B meeting",
            "startsLocal": "2030-03-10T16:00", "endsLocal": "2030-03-10T17:00", "timeZone": "UTC", "publish": true } }))
        .await["createEvent"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let na = network(&p, &a, "a").await;
    let a_event = p
        .ok(&na.lead_token, CREATE_EVENT, json!({ "i": {
            "kind": "NETWORK_MEETING", "clusterId": na.cluster, "title": "A meeting",
            "startsLocal": "2030-03-11T16:00", "endsLocal": "2030-03-11T17:00", "timeZone": "UTC", "publish": true } }))
        .await["createEvent"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let reads = p
        .ok(&a.admin_token, "query($e: ID!) {
               event(id: $e) { id }
               events(first: 100, includeDrafts: true, includeCancelled: true) { edges { node { id title } } }
             }", json!({ "e": b_event }))
        .await;
    assert!(reads["event"].is_null());
    let titles: Vec<&str> = reads["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["A meeting"]);

    let (b_teacher, _) = nb.teachers[0];
    let writes: Vec<(&str, Value)> = vec![
        (
            "mutation($i: UpdateEventInput!) { updateEvent(input: $i) { id } }",
            json!({ "i": { "id": b_event, "scope": "THIS", "title": "Hijacked" } }),
        ),
        (
            "mutation($i: CancelEventInput!) { cancelEvent(input: $i) { id } }",
            json!({ "i": { "id": b_event, "scope": "THIS", "reason": "x" } }),
        ),
        (
            "mutation($i: InviteInput!) { invite(input: $i) { invited } }",
            json!({ "i": { "eventId": b_event, "audiences": [{ "clusterId": na.cluster }] } }),
        ),
        (
            "mutation($i: InviteInput!) { invite(input: $i) { invited } }",
            json!({ "i": { "eventId": a_event, "audiences": [{ "personIds": [b_teacher] }] } }),
        ),
        (
            "mutation($i: InviteInput!) { invite(input: $i) { invited } }",
            json!({ "i": { "eventId": a_event, "audiences": [{ "clusterId": nb.cluster }] } }),
        ),
        (
            "mutation($i: RecordAttendanceInput!) { recordAttendance(input: $i) { status } }",
            json!({ "i": { "eventId": b_event, "marks": [{ "personId": b_teacher, "status": "PRESENT" }] } }),
        ),
        (
            "mutation($i: SubmitClaimInput!) { submitClaim(input: $i) { id } }",
            json!({ "i": { "eventId": b_event, "travelAmount": 100, "subsistenceAmount": 0, "currency": "GBP", "description": "x" } }),
        ),
    ];
    for (mutation, vars) in writes {
        let body = p.graphql(Some(&a.admin_token), mutation, vars).await;
        let code = error_code(&body);
        assert!(
            code == "NOT_FOUND" || code == "BAD_USER_INPUT",
            "{mutation}: {body:#}"
        );
    }
    let body = p
        .graphql(
            Some(&na.teachers[0].1),
            "mutation($i: RsvpInput!) { rsvp(input: $i) { status } }",
            json!({ "i": { "eventId": b_event, "response": "ACCEPTED" } }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");

    // B's event is as it was, with nobody from A on it.
    let b_view = p
        .ok(
            &nb.lead_token,
            "query($e: ID!) { event(id: $e) { title status acceptedCount }
               rsvps(eventId: $e, first: 50) { edges { node { person { id } } } } }",
            json!({ "e": b_event }),
        )
        .await;
    assert_eq!(b_view["event"]["title"], "B meeting");
    assert_eq!(b_view["event"]["status"], "PUBLISHED");
    assert_eq!(b_view["event"]["acceptedCount"], 0);
    assert!(b_view["rsvps"]["edges"].as_array().unwrap().is_empty());
}
