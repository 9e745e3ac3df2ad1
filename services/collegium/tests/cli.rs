//! The command line as a user runs it: `collegium dev` starts on an empty
//! data directory, seeds the demo tenants (with the district's scored year)
//! and prints tokens that work in GraphQL and each service's address;
//! `collegium token` prints more; mistakes get clear messages.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use collegium_proto::scoring::v1::{self as pb, scoring_service_client::ScoringServiceClient};
use platform::grpc::ForwardCaller;
use serde_json::{Value, json};
use tonic::service::interceptor::InterceptedService;

const BIN: &str = env!("CARGO_BIN_EXE_collegium");

struct Dev {
    child: Child,
    url: String,
    /// (tenant slug, e-mail, token) in the order printed.
    logins: Vec<(String, String, String)>,
    /// (service, gRPC URL) in the order printed.
    services: Vec<(String, String)>,
}

impl Dev {
    fn token(&self, email: &str) -> &str {
        &self
            .logins
            .iter()
            .find(|l| l.1 == email)
            .unwrap_or_else(|| panic!("no demo login {email}"))
            .2
    }

    fn service(&self, name: &str) -> &str {
        &self
            .services
            .iter()
            .find(|s| s.0 == name)
            .unwrap_or_else(|| panic!("{name} was not listed: {:?}", self.services))
            .1
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dev(data_dir: &std::path::Path) -> Dev {
    let mut child = Command::new(BIN)
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "warn",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("collegium dev starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut url, mut logins, mut pending) = (String::new(), vec![], None);
    let mut services = vec![];
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let line = line.trim().to_string();
        if let Some(u) = line.strip_prefix("GraphiQL:") {
            url = u.trim().to_string();
        } else if let Some((name, addr)) = line.split_once(" http://") {
            services.push((name.trim().to_string(), format!("http://{addr}")));
        } else if line.starts_with('[') && line.ends_with('>') {
            let slug = line[1..line.find(']').unwrap()].to_string();
            let email = line[line.rfind('<').unwrap() + 1..line.len() - 1].to_string();
            pending = Some((slug, email));
        } else if let Some((slug, email)) = pending.take() {
            logins.push((slug, email, line));
        } else if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    assert!(!url.is_empty(), "the GraphiQL URL was printed");
    Dev {
        child,
        url,
        logins,
        services,
    }
}

/// A scoring client acting as the holder of `token`, straight at the service.
fn scoring(
    dev: &Dev,
    token: &str,
) -> ScoringServiceClient<InterceptedService<tonic::transport::Channel, ForwardCaller>> {
    ScoringServiceClient::with_interceptor(
        platform::grpc::channel(dev.service("scoring")).unwrap(),
        ForwardCaller::new(token).unwrap(),
    )
}

/// The district's scored year: North's closed session with its pairs and the
/// one folder awaiting the lead's third read, South's open one, and the
/// research opt-out honoured. Returns the number of sessions.
async fn check_scored_year(dev: &Dev) -> usize {
    let lead = dev.token("lead.north@lakeside.example");
    let mut as_lead = scoring(dev, lead);
    let sessions = as_lead
        .list_sessions(pb::ListSessionsRequest {
            academic_year: 2026,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sessions;
    let closed: Vec<_> = sessions
        .iter()
        .filter(|s| s.status == pb::SessionStatus::Closed as i32)
        .collect();
    assert_eq!(closed.len(), 1, "{sessions:?}");
    let north = closed[0];
    assert_eq!(north.portfolios, 40);
    assert!(
        sessions
            .iter()
            .any(|s| s.status == pb::SessionStatus::Open as i32 && s.portfolios == 20),
        "{sessions:?}"
    );
    let awaiting = as_lead
        .list_results(pb::ListResultsRequest {
            session_id: north.id.clone(),
            awaiting_third_read_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(awaiting.len(), 1, "{awaiting:?}");
    assert!(awaiting[0].reason.contains("2 points"), "{awaiting:?}");
    let mine = as_lead
        .list_my_assignments(pb::ListMyAssignmentsRequest {
            session_id: north.id.clone(),
            pending_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .assignments;
    assert_eq!(mine.len(), 1, "the lead's third read: {mine:?}");
    assert_eq!(mine[0].kind, pb::ReadKind::Third as i32);
    let stats = as_lead
        .get_agreement_stats(pb::GetAgreementStatsRequest {
            group_by: pb::GroupBy::Session as i32,
            session_id: north.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .rows;
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert!(stats[0].pairs >= 20, "{stats:?}");
    let exact = stats[0].exact.unwrap();
    assert!(
        (0.7..1.0).contains(&exact),
        "agreement, not unanimity: {stats:?}"
    );

    let admin = dev.token("dac@lakeside.example");
    let extract = scoring(dev, admin)
        .export_research_extract(pb::ExportResearchExtractRequest {
            academic_year: 2026,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(extract.excluded, 1, "the opted-out student");
    assert_eq!(extract.rows, 38, "40 folders, one awaiting, one opted out");
    sessions.len()
}

async fn graphql(url: &str, token: &str, query: &str) -> Value {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn dev_seeds_three_programmes_and_prints_working_tokens() {
    let dir = std::env::temp_dir().join(format!("collegium-cli-{}", uuid::Uuid::now_v7()));
    let dev = start_dev(&dir);
    let slugs: std::collections::BTreeSet<_> = dev.logins.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(
        slugs.into_iter().collect::<Vec<_>>(),
        ["lakeside", "northern-awards", "riverside-rpp"]
    );
    for (slug, email, token) in &dev.logins {
        let body = graphql(
            &dev.url,
            token,
            "{ me { tenant { slug } person { contact { email } } } }",
        )
        .await;
        assert_eq!(
            body["data"]["me"]["tenant"]["slug"],
            slug.as_str(),
            "{body}"
        );
        assert_eq!(
            body["data"]["me"]["person"]["contact"]["email"],
            email.as_str()
        );
    }

    // Every service is listed, and the gateway is ready only when they all are.
    let names: Vec<&str> = dev.services.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        ["membership", "scheduling", "notifications", "scoring"]
    );
    let readyz = reqwest::get(dev.url.replace("/graphql", "/readyz"))
        .await
        .unwrap();
    assert!(readyz.status().is_success(), "{readyz:?}");
    assert_eq!(check_scored_year(&dev).await, 2);

    // The awarding body's teacher sees other centres' contacts only with consent.
    let (_, _, teacher) = dev
        .logins
        .iter()
        .find(|l| l.1 == "teacher.bradford@northern-awards.example")
        .expect("demo teacher");
    let body = graphql(
        &dev.url,
        teacher,
        "{ organisations(first: 20) { edges { node { name contactHidden } } } }",
    )
    .await;
    let hidden: Vec<bool> = body["data"]["organisations"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["contactHidden"].as_bool().unwrap())
        .collect();
    assert!(hidden.contains(&true) && hidden.contains(&false), "{body}");

    // `collegium token` gives tokens for anyone else in the data directory.
    let out = Command::new(BIN)
        .args([
            "token",
            "--tenant",
            "lakeside",
            "--email",
            "priya.raman@lakeside.example",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let body = graphql(
        &dev.url,
        token.trim(),
        "{ me { person { givenName } grants { role } } }",
    )
    .await;
    assert_eq!(body["data"]["me"]["person"]["givenName"], "Priya");
    assert_eq!(body["data"]["me"]["grants"][0]["role"], "TEACHER");

    let out = Command::new(BIN)
        .args([
            "token",
            "--tenant",
            "lakeside",
            "--email",
            "nobody@lakeside.example",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no person with e-mail"));
    drop(dev);

    // A restart keeps the data and prints tokens again, without seeding twice.
    let dev = start_dev(&dir);
    assert_eq!(dev.logins.len(), 12);
    assert_eq!(check_scored_year(&dev).await, 2);
    let (_, _, admin) = &dev.logins[0];
    let body = graphql(
        &dev.url,
        admin,
        "{ organisations(first: 50) { edges { node { id } } } }",
    )
    .await;
    assert_eq!(
        body["data"]["organisations"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    drop(dev);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mistakes_get_clear_messages() {
    let out = Command::new(BIN)
        .args([
            "token",
            "--tenant",
            "x",
            "--email",
            "y",
            "--data-dir",
            "/nonexistent/collegium",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("start `collegium dev --data-dir"), "{err}");

    let out = Command::new(BIN).args(["tenant", "list"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data-dir or --database-url"));
}

#[tokio::test]
async fn retention_run_applies_every_tenants_policy_and_records_it_for_their_admins() {
    let dir = std::env::temp_dir().join(format!("collegium-cli-{}", uuid::Uuid::now_v7()));
    let dev = start_dev(&dir);
    let retention = |extra: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["retention", "run", "--data-dir"]).arg(&dir);
        for (flag, name) in [
            ("--membership-url", "membership"),
            ("--scheduling-url", "scheduling"),
            ("--notifications-url", "notifications"),
            ("--scoring-url", "scoring"),
        ] {
            cmd.args([flag, dev.service(name)]);
        }
        cmd.args(extra).env_remove("COLLEGIUM_DATABASE_URL");
        cmd.output().unwrap()
    };

    // A dry run for every tenant: each one named with its recorded run.
    let out = retention(&["--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for slug in ["lakeside", "northern-awards", "riverside-rpp"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("{slug}: run ")) && l.ends_with("(dry run)")),
            "{slug} in {stdout}"
        );
    }

    // Then for real, one tenant only.
    let out = retention(&["--tenant", "lakeside"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().filter(|l| l.contains(": run ")).count(), 1);

    // Lakeside's admin sees both runs, newest first, by the job.
    let query = "{ retentionRuns(first: 10) { edges { node { actor dryRun error \
                 cutoffs { category } counts { service category kind count } } } } }";
    let body = graphql(&dev.url, dev.token("dac@lakeside.example"), query).await;
    let runs = body["data"]["retentionRuns"]["edges"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{body}");
    let latest = &runs[0]["node"];
    assert_eq!(latest["actor"], "service:retention");
    assert_eq!(latest["dryRun"], false);
    assert_eq!(latest["error"], Value::Null, "{body}");
    // The defaults apply: notifications, roster uploads and published events
    // have periods (a run lists its cutoffs by name).
    let categories: Vec<&str> = latest["cutoffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["category"].as_str().unwrap())
        .collect();
    assert_eq!(
        categories,
        ["notifications", "published_events", "roster_uploads"]
    );
    // Every service answered.
    for service in ["membership", "scheduling", "scoring", "notifications"] {
        assert!(
            latest["counts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["service"] == service),
            "{service} in {body}"
        );
    }
    assert_eq!(runs[1]["node"]["dryRun"], true);

    // The awarding body saw only its dry run; a cluster lead sees none.
    let body = graphql(&dev.url, dev.token("admin@northern-awards.example"), query).await;
    assert_eq!(
        body["data"]["retentionRuns"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{body}"
    );
    let body = graphql(&dev.url, dev.token("lead.north@lakeside.example"), query).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );

    // An unknown tenant is named, and nothing runs.
    let out = retention(&["--tenant", "nowhere"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no tenant with slug \"nowhere\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(dev);
    let _ = std::fs::remove_dir_all(&dir);
}
