//! A scored session through GraphQL, as the web client drives it: the
//! cluster's teachers attend a scoring training (scheduling), qualify on a
//! pre-scored set, are assigned blind reads, score them; the pair that
//! disagrees goes to the lead, the scorer hears of their reads in the inbox
//! (notifications, over the bus), statistics and the school export show the
//! result. Then tenant B tries everything on tenant A's ids.

use std::time::Duration;

use platform::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const CREATE_EVENT: &str =
    "mutation($i: CreateEventInput!) { createEvent(input: $i) { id academicYear } }";

struct Cluster {
    id: String,
    schools: [String; 2],
    lead: (Uuid, String),
    /// Two teachers at each school: 0 and 1 at the first, 2 and 3 at the second.
    teachers: Vec<(Uuid, String)>,
}

async fn cluster(p: &TestPlatform, t: &TestTenant, tag: &str) -> Cluster {
    let schools = [
        create_org(p, &t.admin_token, &format!("{tag} North")).await,
        create_org(p, &t.admin_token, &format!("{tag} South")).await,
    ];
    let lead = create_person(
        p,
        &t.admin_token,
        "Lee",
        &format!("lee@{tag}.example"),
        Some(&schools[0]),
    )
    .await;
    let id = p
        .ok(
            &t.admin_token,
            CREATE_CLUSTER,
            json!({ "input": { "name": format!("{tag} cluster"),
                "leadPersonId": lead, "centreIds": schools } }),
        )
        .await["createCluster"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cluster_id = Uuid::parse_str(&id).unwrap();
    let mut teachers = vec![];
    for (i, name) in ["Tess", "Omar", "Priya", "Sam"].iter().enumerate() {
        let person = create_person(
            p,
            &t.admin_token,
            name,
            &format!("{}@{tag}.example", name.to_lowercase()),
            Some(&schools[i / 2]),
        )
        .await;
        p.ok(
            &t.admin_token,
            "mutation($i: GrantRoleInput!) { grantRole(input: $i) { id } }",
            json!({ "i": { "personId": person, "role": "TEACHER", "clusterId": id } }),
        )
        .await;
        let person = Uuid::parse_str(&person).unwrap();
        teachers.push((
            person,
            p.token(t.id, person, &[(Role::Teacher, Some(cluster_id))]),
        ));
    }
    let lead = Uuid::parse_str(&lead).unwrap();
    Cluster {
        id,
        schools,
        lead: (
            lead,
            p.token(t.id, lead, &[(Role::ClusterLead, Some(cluster_id))]),
        ),
        teachers,
    }
}

/// Polls `query` until `done` holds of its data (work over the bus is asynchronous).
async fn eventually(
    p: &TestPlatform,
    token: &str,
    query: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..100 {
        let data = p.ok(token, query, json!({})).await;
        if done(&data) {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{query} never reached the expected state");
}

#[tokio::test]
async fn a_cluster_scores_a_session_and_another_tenant_sees_none_of_it() {
    let p = TestPlatform::spawn().await;
    let t = p.tenant("scoring-a").await;
    let c = cluster(&p, &t, "a").await;

    // Scheduling: a scoring training last month (teachers 0–3 attend) and
    // the scoring session next month.
    let day = |days: i64, hour: u32| {
        (chrono::Utc::now() + chrono::Duration::days(days))
            .format(&format!("%Y-%m-%dT{hour:02}:00"))
            .to_string()
    };
    let training = p
        .ok(
            &c.lead.1,
            CREATE_EVENT,
            json!({ "i": {
            "kind": "SCORING_TRAINING", "clusterId": c.id, "title": "Scoring training",
            "startsLocal": day(-30, 9), "endsLocal": day(-30, 12), "timeZone": "UTC",
            "trainingHours": 3, "publish": true } }),
        )
        .await["createEvent"]
        .clone();
    let year = training["academicYear"].as_i64().unwrap();
    p.ok(
        &c.lead.1,
        "mutation($i: RecordAttendanceInput!) { recordAttendance(input: $i) { status } }",
        json!({ "i": { "eventId": training["id"], "marks": c.teachers.iter()
            .map(|(id, _)| json!({ "personId": id, "status": "PRESENT" })).collect::<Vec<_>>() } }),
    )
    .await;
    let event = p
        .ok(
            &c.lead.1,
            CREATE_EVENT,
            json!({ "i": {
            "kind": "SCORING_SESSION", "clusterId": c.id, "title": "Scoring day",
            "startsLocal": day(30, 9), "endsLocal": day(30, 15), "timeZone": "UTC",
            "publish": true } }),
        )
        .await["createEvent"]["id"]
        .clone();

    // The admin builds the rubric, a qualifying set and the folders.
    let points: Vec<Value> = ["Novice", "Apprentice", "Proficient", "Distinguished"]
        .iter()
        .enumerate()
        .map(|(i, l)| json!({ "value": i + 1, "label": l }))
        .collect();
    let rubric = p
        .ok(&t.admin_token,
            "mutation($i: CreateRubricInput!) { createRubric(input: $i) { id qualificationThreshold } }",
            json!({ "i": { "programme": "writing", "name": "Writing 4-point",
                "scorePoints": points,
                "conditionCodes": [{ "code": "blank", "label": "Blank" }] } }))
        .await["createRubric"]
        .clone();
    assert_eq!(rubric["qualificationThreshold"], 0.7);
    let set = p
        .ok(&t.admin_token,
            "mutation($i: CreateQualificationSetInput!) { createQualificationSet(input: $i) { id papers { id trueScore } } }",
            json!({ "i": { "rubricId": rubric["id"], "academicYear": year, "kind": "QUALIFYING",
                "name": "Set A", "papers": (0..5).map(|i| json!({ "title": format!("Paper {i}"),
                    "workRef": format!("s3://q/{i}.pdf"), "trueScore": i % 4 + 1 })).collect::<Vec<_>>() } }))
        .await["createQualificationSet"]
        .clone();
    for (_, token) in &c.teachers {
        let attempt = p
            .ok(token,
                "mutation($i: SubmitQualificationAttemptInput!) { submitQualificationAttempt(input: $i) { passed exact } }",
                json!({ "i": { "setId": set["id"], "scores": set["papers"].as_array().unwrap().iter()
                    .map(|paper| json!({ "paperId": paper["id"], "score": paper["trueScore"] }))
                    .collect::<Vec<_>>() } }))
            .await;
        assert_eq!(attempt["submitQualificationAttempt"]["passed"], true);
    }
    let folders: Vec<String> = p
        .ok(&t.admin_token,
            "mutation($i: CreatePortfoliosInput!) { createPortfolios(input: $i) { id studentRef } }",
            json!({ "i": { "portfolios": (0..4).map(|i| json!({ "studentRef": format!("A-{i}"),
                "schoolId": c.schools[i % 2], "gradeLevel": 4, "academicYear": year,
                "pieces": [{ "genre": "narrative", "title": format!("Story {i}"), "workRef": format!("s3://w/{i}") }] }))
                .collect::<Vec<_>>() } }))
        .await["createPortfolios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();

    // The lead runs the session: every folder read twice.
    let session = p
        .ok(&c.lead.1,
            "mutation($i: CreateScoringSessionInput!) { createScoringSession(input: $i) { id status } }",
            json!({ "i": { "eventId": event, "rubricId": rubric["id"], "clusterId": c.id,
                "academicYear": year, "name": "Autumn", "secondReadShare": 1.0 } }))
        .await["createScoringSession"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    p.ok(
        &c.lead.1,
        "mutation($i: AddSessionPortfoliosInput!) { addSessionPortfolios(input: $i) { id } }",
        json!({ "i": { "sessionId": session, "portfolioIds": folders } }),
    )
    .await;
    let report = p
        .ok(&c.lead.1,
            "mutation($i: AssignScoringSessionInput!) { assignScoringSession(input: $i) { assigned refusedScorers { scorerId } } }",
            json!({ "i": { "sessionId": session,
                "scorerIds": c.teachers.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>() } }))
        .await;
    assert_eq!(report["assignScoringSession"]["assigned"], 8);
    assert_eq!(report["assignScoringSession"]["refusedScorers"], json!([]));

    // Each teacher scores their reads; the first folder's readers disagree by 3.
    let reads = "{ myAssignments(pendingOnly: true) { edges { node { id portfolioId kind pieces { title } } } } }";
    for (i, (_, token)) in c.teachers.iter().enumerate() {
        let mine = p.ok(token, reads, json!({})).await;
        for edge in mine["myAssignments"]["edges"].as_array().unwrap() {
            let a = &edge["node"];
            let folder = folders.iter().position(|f| a["portfolioId"] == *f).unwrap();
            assert_ne!(folder % 2, i / 2, "nobody reads their own school's folder");
            let score = match (folder, a["kind"].as_str().unwrap()) {
                (0, "FIRST") => 4,
                (0, _) => 1,
                _ => 3,
            };
            let s = p
                .ok(
                    token,
                    "mutation($i: SubmitScoreInput!) { submitScore(input: $i) { version score } }",
                    json!({ "i": { "assignmentId": a["id"], "score": score } }),
                )
                .await;
            assert_eq!(s["submitScore"]["version"], 1);
        }
    }
    // The scorer heard of their reads; the lead of the discrepancy (both
    // through the bus and notifications).
    let inbox = "{ inbox(first: 20) { edges { node { title category } } } }";
    let titles = |data: &Value| -> Vec<String> {
        data["inbox"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["title"].as_str().unwrap().to_string())
            .collect()
    };
    eventually(&p, &c.teachers[0].1, inbox, |d| {
        titles(d).iter().any(|t| t.contains("to score"))
    })
    .await;
    eventually(&p, &c.lead.1, inbox, |d| {
        titles(d).iter().any(|t| t.contains("Third read needed"))
    })
    .await;

    // Results and statistics through the lead's eyes.
    let results = p
        .ok(&c.lead.1,
            "query($s: ID!) { results(sessionId: $s) { edges { node { portfolioId state finalScore method } } } }",
            json!({ "s": session }))
        .await;
    let states: Vec<(String, Value)> = results["results"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["state"].as_str().unwrap().to_string(),
                e["node"]["finalScore"].clone(),
            )
        })
        .collect();
    assert_eq!(states.len(), 4);
    assert_eq!(
        states
            .iter()
            .filter(|(s, _)| s == "awaiting_third_read")
            .count(),
        1
    );
    assert_eq!(
        states
            .iter()
            .filter(|(s, v)| s == "resolved" && *v == json!(3.0))
            .count(),
        3
    );
    let stats = p
        .ok(&c.lead.1,
            "query($s: ID!) { agreementStats(groupBy: SESSION, sessionId: $s) { key pairs exact adjacent flags } }",
            json!({ "s": session }))
        .await;
    assert_eq!(stats["agreementStats"][0]["pairs"], 4);
    assert_eq!(stats["agreementStats"][0]["exact"], 0.75);

    // Tenant B: A's ids are not there, and B's lists are empty.
    let b = p.tenant("scoring-b").await;
    let bc = cluster(&p, &b, "b").await;
    let nothing = p
        .ok(&b.admin_token,
            "query($r: ID!, $s: ID!, $f: ID!) { rubric(id: $r) { id } scoringSession(id: $s) { id } portfolio(id: $f) { id }
              rubrics(first: 10) { edges { node { id } } } scoringSessions(first: 10) { edges { node { id } } }
              portfolios(first: 10) { edges { node { id } } } }",
            json!({ "r": rubric["id"], "s": session, "f": folders[0] }))
        .await;
    assert_eq!(nothing["rubric"], Value::Null);
    assert_eq!(nothing["scoringSession"], Value::Null);
    assert_eq!(nothing["portfolio"], Value::Null);
    for list in ["rubrics", "scoringSessions", "portfolios"] {
        assert_eq!(nothing[list]["edges"], json!([]), "{list}");
    }
    let stats = p
        .ok(
            &b.admin_token,
            "query($y: Int!) { agreementStats(groupBy: SCORER, academicYear: $y) { key } }",
            json!({ "y": year }),
        )
        .await;
    assert_eq!(stats["agreementStats"], json!([]));
    let mine = p.ok(&bc.teachers[0].1, reads, json!({})).await;
    assert_eq!(mine["myAssignments"]["edges"], json!([]));
    for (query, vars) in [
        (
            "query($s: ID!) { results(sessionId: $s) { edges { node { state } } } }",
            json!({ "s": session }),
        ),
        (
            "mutation($i: CloseScoringSessionInput!) { closeScoringSession(input: $i) { id } }",
            json!({ "i": { "sessionId": session } }),
        ),
        (
            "mutation($i: AddSessionPortfoliosInput!) { addSessionPortfolios(input: $i) { id } }",
            json!({ "i": { "sessionId": session, "portfolioIds": folders } }),
        ),
    ] {
        let body = p.graphql(Some(&b.admin_token), query, vars).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{query}: {body:#}");
    }
    let first_read = p
        .ok(
            &c.teachers[0].1,
            "{ myAssignments { edges { node { id } } } }",
            json!({}),
        )
        .await["myAssignments"]["edges"][0]["node"]["id"]
        .clone();
    let body = p
        .graphql(
            Some(&bc.teachers[0].1),
            "mutation($i: SubmitScoreInput!) { submitScore(input: $i) { version } }",
            json!({ "i": { "assignmentId": first_read, "score": 2 } }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let export = p
        .ok(
            &b.admin_token,
            "query($y: Int!) { schoolScoresCsv(academicYear: $y) { rows csv } }",
            json!({ "y": year }),
        )
        .await;
    assert_eq!(export["schoolScoresCsv"]["rows"], 0);

    // A's export: three resolved folders, with their pseudonymous ids.
    let export = p
        .ok(
            &t.admin_token,
            "query($y: Int!) { schoolScoresCsv(academicYear: $y) { rows csv } }",
            json!({ "y": year }),
        )
        .await;
    assert_eq!(export["schoolScoresCsv"]["rows"], 3);
    let csv = export["schoolScoresCsv"]["csv"].as_str().unwrap();
    assert!(csv.contains(",A-1,") && !csv.contains(",A-0,"), "{csv}");
}
