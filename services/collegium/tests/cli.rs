//! The command line as a user runs it: `collegium dev` starts on an empty
//! data directory, seeds the demo tenants and prints tokens that work in
//! GraphQL; `collegium token` prints more; mistakes get clear messages.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_collegium");

struct Dev {
    child: Child,
    url: String,
    /// (tenant slug, e-mail, token) in the order printed.
    logins: Vec<(String, String, String)>,
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
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        let line = line.trim().to_string();
        if let Some(u) = line.strip_prefix("GraphiQL:") {
            url = u.trim().to_string();
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
    Dev { child, url, logins }
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
