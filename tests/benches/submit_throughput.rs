//! Benchmark of issue 4 (not a timed test): score submissions per second
//! through the gateway, as scorers' browsers send them during a scoring week.
//!
//! Run by hand (PostgreSQL and Redis as `scripts/test` starts them):
//!
//! ```text
//! cargo bench -p collegium-e2e --bench submit_throughput
//! ```
//!
//! Without the `--bench` argument that `cargo bench` passes (as when
//! `cargo test --all-targets` runs bench targets in test mode) it prints
//! "skipped in test mode" and returns at once.
//!
//! What it does: starts the whole platform as the end-to-end tests do
//! (membership, scheduling, notifications, scoring and the gateway, each on
//! its own loopback port over PostgreSQL as its app role, events over
//! Redis); builds a cluster of two schools with 40 trained, qualified
//! scorers, 3,000 portfolios in one session with 20% blind second reads,
//! and assigns them (3,600 reads); then every scorer submits every read as
//! a `submitScore` GraphQL mutation over HTTP, `BENCH_CONCURRENCY` (default
//! 32) requests in flight at once. Each submission passes the gateway's
//! token check, the scoring service's token check, the eligibility check
//! (qualification from its store; training from scheduling, cached), the
//! rubric check and one transaction that locks the folder's row, writes the
//! score, its audit record and outbox event, and resolves the pair.
//! Prints requests per second and latency percentiles; exits non-zero if
//! any submission failed.

#[path = "../e2e/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::{
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Result, ensure};
use helpers::*;
use platform::auth::Role;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use uuid::Uuid;

const SCORERS: usize = 40;
const PORTFOLIOS: usize = 3_000;

fn main() -> ExitCode {
    if !std::env::args().skip(1).any(|a| a == "--bench") {
        println!("submit_throughput: skipped in test mode (run it with cargo bench)");
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("submit_throughput: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn day(days: i64, hour: u32) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .format(&format!("%Y-%m-%dT{hour:02}:00"))
        .to_string()
}

async fn run() -> Result<()> {
    let concurrency: usize = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let p = Arc::new(TestPlatform::spawn().await);
    let t = p.tenant("bench").await;
    let admin = t.admin_token.clone();
    let schools = [
        create_org(&p, &admin, "North").await,
        create_org(&p, &admin, "South").await,
    ];
    let lead = create_person(&p, &admin, "Lee", "lee@bench.example", Some(&schools[0])).await;
    let cluster = p
        .ok(
            &admin,
            CREATE_CLUSTER,
            json!({ "input": { "name": "Bench", "leadPersonId": lead, "centreIds": schools } }),
        )
        .await["createCluster"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cluster_id = Uuid::parse_str(&cluster)?;
    let lead_token = p.token(
        t.id,
        Uuid::parse_str(&lead)?,
        &[(Role::ClusterLead, Some(cluster_id))],
    );
    let mut scorers = Vec::new();
    for i in 0..SCORERS {
        let id = create_person(
            &p,
            &admin,
            &format!("Scorer{i}"),
            &format!("s{i}@bench.example"),
            Some(&schools[i % 2]),
        )
        .await;
        let id = Uuid::parse_str(&id)?;
        scorers.push((id, p.token(t.id, id, &[(Role::Teacher, Some(cluster_id))])));
    }
    let event = |kind: &str, days: i64, hours: u32| {
        json!({ "i": { "kind": kind, "clusterId": cluster, "title": kind,
            "startsLocal": day(days, 9), "endsLocal": day(days, 9 + hours), "timeZone": "UTC",
            "trainingHours": if kind == "SCORING_TRAINING" { 3 } else { 0 }, "publish": true } })
    };
    let create_event =
        "mutation($i: CreateEventInput!) { createEvent(input: $i) { id academicYear } }";
    let training = p
        .ok(&lead_token, create_event, event("SCORING_TRAINING", -30, 3))
        .await["createEvent"]
        .clone();
    let year = training["academicYear"].as_i64().unwrap();
    p.ok(
        &lead_token,
        "mutation($i: RecordAttendanceInput!) { recordAttendance(input: $i) { status } }",
        json!({ "i": { "eventId": training["id"], "marks": scorers.iter()
            .map(|(id, _)| json!({ "personId": id, "status": "PRESENT" })).collect::<Vec<_>>() } }),
    )
    .await;
    let session_event = p
        .ok(&lead_token, create_event, event("SCORING_SESSION", 30, 6))
        .await["createEvent"]["id"]
        .clone();
    let points: Vec<Value> = (1..=4)
        .map(|v| json!({ "value": v, "label": format!("Point {v}") }))
        .collect();
    let rubric = p
        .ok(&admin, "mutation($i: CreateRubricInput!) { createRubric(input: $i) { id } }",
            json!({ "i": { "programme": "writing", "name": "Bench rubric", "scorePoints": points } }))
        .await["createRubric"]["id"]
        .clone();
    let set = p
        .ok(&admin,
            "mutation($i: CreateQualificationSetInput!) { createQualificationSet(input: $i) { id papers { id trueScore } } }",
            json!({ "i": { "rubricId": rubric, "academicYear": year, "kind": "QUALIFYING", "name": "Set",
                "papers": (0..5).map(|i| json!({ "title": format!("P{i}"), "workRef": "x", "trueScore": i % 4 + 1 }))
                    .collect::<Vec<_>>() } }))
        .await["createQualificationSet"]
        .clone();
    let answers: Vec<Value> = set["papers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|paper| json!({ "paperId": paper["id"], "score": paper["trueScore"] }))
        .collect();
    for (_, token) in &scorers {
        p.ok(token,
            "mutation($i: SubmitQualificationAttemptInput!) { submitQualificationAttempt(input: $i) { passed } }",
            json!({ "i": { "setId": set["id"], "scores": answers } }))
            .await;
    }
    let mut folders = Vec::new();
    for batch in 0..PORTFOLIOS / 1_000 {
        let created = p
            .ok(
                &admin,
                "mutation($i: CreatePortfoliosInput!) { createPortfolios(input: $i) { id } }",
                json!({ "i": { "portfolios": (0..1_000).map(|i| json!({
                    "studentRef": format!("S-{batch}-{i}"), "schoolId": schools[i % 2],
                    "gradeLevel": 4, "academicYear": year })).collect::<Vec<_>>() } }),
            )
            .await;
        folders.extend(
            created["createPortfolios"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].clone()),
        );
    }
    let session = p
        .ok(
            &lead_token,
            "mutation($i: CreateScoringSessionInput!) { createScoringSession(input: $i) { id } }",
            json!({ "i": { "eventId": session_event, "rubricId": rubric, "clusterId": cluster,
                "academicYear": year, "name": "Bench session", "secondReadShare": 0.2 } }),
        )
        .await["createScoringSession"]["id"]
        .clone();
    for chunk in folders.chunks(1_000) {
        p.ok(
            &lead_token,
            "mutation($i: AddSessionPortfoliosInput!) { addSessionPortfolios(input: $i) { id } }",
            json!({ "i": { "sessionId": session, "portfolioIds": chunk } }),
        )
        .await;
    }
    let report = p
        .ok(&lead_token,
            "mutation($i: AssignScoringSessionInput!) { assignScoringSession(input: $i) { assigned } }",
            json!({ "i": { "sessionId": session,
                "scorerIds": scorers.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>() } }))
        .await;
    let assigned = report["assignScoringSession"]["assigned"].as_u64().unwrap();

    // Every scorer's reads, a page at a time.
    let mut work: Vec<(String, Value)> = Vec::new();
    for (_, token) in &scorers {
        let mut after = Value::Null;
        loop {
            let page = p
                .ok(token,
                    "query($a: String) { myAssignments(first: 500, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }",
                    json!({ "a": after }))
                .await;
            let conn = &page["myAssignments"];
            work.extend(
                conn["edges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| (token.clone(), e["node"]["id"].clone())),
            );
            if conn["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = conn["pageInfo"]["endCursor"].clone();
        }
    }
    ensure!(
        work.len() as u64 == assigned,
        "{} reads listed, {assigned} assigned",
        work.len()
    );
    println!(
        "{PORTFOLIOS} portfolios, {SCORERS} scorers, {assigned} reads; {concurrency} requests in flight"
    );

    let permits = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(work.len());
    for (i, (token, assignment)) in work.into_iter().enumerate() {
        let permit = permits.clone().acquire_owned().await?;
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let body = p
                .graphql(
                    Some(&token),
                    "mutation($i: SubmitScoreInput!) { submitScore(input: $i) { version } }",
                    json!({ "i": { "assignmentId": assignment, "score": (i % 4) as i32 + 1 } }),
                )
                .await;
            drop(permit);
            (t0.elapsed(), body.get("errors").cloned())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut failures = 0;
    for task in tasks {
        let (latency, errors) = task.await?;
        if let Some(e) = errors {
            if failures == 0 {
                eprintln!("first failure: {e}");
            }
            failures += 1;
        }
        latencies.push(latency);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |q: f64| -> Duration { latencies[((latencies.len() - 1) as f64 * q) as usize] };
    println!();
    println!("| submissions | seconds | requests/s | p50 | p95 | p99 | failed |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {:.2} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {failures} |",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.95).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
    ensure!(failures == 0, "{failures} submissions failed");
    Ok(())
}
