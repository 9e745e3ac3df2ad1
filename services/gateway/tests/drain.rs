//! Zero-downtime shutdown, proved with real processes: two `collegium-gateway`
//! instances behind a small readiness-checking load balancer take a steady
//! stream of GraphQL requests; one gets SIGTERM mid-stream. It fails its
//! readiness at once, keeps serving what reaches it during the drain, then
//! exits cleanly — and not one request fails.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use collegium_membership::{
    MembershipStore,
    domain::{Contact, NewPerson, NewTenant, TenantKind, TenantSettings},
};
use platform::auth::{
    DEFAULT_AUDIENCE, Grant, INTERNAL_ISSUER, PersonId, Role, TokenSigner, TokenVerifier,
};
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_collegium-gateway");

struct Gateway {
    child: Child,
    base: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_gateway(key_file: &std::path::Path, upstream: &str) -> Gateway {
    let port = free_port();
    let child = Command::new(BIN)
        .env("COLLEGIUM_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .env("COLLEGIUM_MEMBERSHIP_URL", upstream)
        // Readiness checks every upstream's gRPC health; membership's server
        // stands in for scheduling, notifications and scoring here (only
        // their health is asked).
        .env("COLLEGIUM_SCHEDULING_URL", upstream)
        .env("COLLEGIUM_NOTIFICATIONS_URL", upstream)
        .env("COLLEGIUM_SCORING_URL", upstream)
        .env("COLLEGIUM_SERVICE_KEY_FILE", key_file)
        .env("COLLEGIUM_SHUTDOWN_DRAIN_SECONDS", "1")
        .env("COLLEGIUM_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gateway starts");
    Gateway {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn ready(http: &reqwest::Client, base: &str) -> bool {
    matches!(
        http.get(format!("{base}/readyz")).timeout(Duration::from_millis(500)).send().await,
        Ok(r) if r.status().is_success()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_without_a_failed_request() {
    // Membership on SQLite, trusting the same service key as the gateways.
    let dir = std::env::temp_dir().join(format!("collegium-drain-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("service-key.pem");
    std::fs::write(&key_file, TokenSigner::generate_pem()).unwrap();
    let signer = TokenSigner::from_pem(
        &std::fs::read_to_string(&key_file).unwrap(),
        INTERNAL_ISSUER,
        DEFAULT_AUDIENCE,
    )
    .unwrap();
    let verifier = TokenVerifier::builder()
        .trust_signer(&signer)
        .unwrap()
        .build();
    let store = collegium_membership::open_sqlite(&dir.join("membership.db"))
        .await
        .unwrap();
    let tenant = store
        .create_tenant(NewTenant {
            slug: "drain".into(),
            name: "Drain District".into(),
            kind: TenantKind::District,
            settings: TenantSettings::default(),
        })
        .await
        .unwrap();
    let admin = store
        .create_person(
            tenant.id,
            "test",
            NewPerson {
                given_name: "Ada".into(),
                family_name: "Admin".into(),
                contact: Contact::default(),
                organisation_id: None,
                external_id: None,
                time_zone: None,
            },
        )
        .await
        .unwrap();
    let token = signer.person_token(
        tenant.id,
        PersonId(admin.id),
        &[Grant {
            role: Role::TenantAdmin,
            cluster: None,
        }],
        chrono::Duration::minutes(10),
    );
    let (_stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let membership = collegium_membership::start(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Arc::new(store),
        verifier,
        async {
            let _ = stop_rx.await;
        },
    )
    .await
    .unwrap();
    let upstream = format!("http://{}", membership.addr);

    let mut a = spawn_gateway(&key_file, &upstream);
    let b = spawn_gateway(&key_file, &upstream);
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(ready(&http, &a.base).await && ready(&http, &b.base).await) {
        assert!(Instant::now() < deadline, "both gateways become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The load balancer: routes only to instances whose last probe passed.
    let bases = Arc::new([a.base.clone(), b.base.clone()]);
    let in_rotation = Arc::new([AtomicBool::new(true), AtomicBool::new(true)]);
    let saw_draining = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let prober = {
        let (bases, in_rotation, done, http) = (
            bases.clone(),
            in_rotation.clone(),
            done.clone(),
            http.clone(),
        );
        let saw_draining = saw_draining.clone();
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                for i in 0..2 {
                    let resp = http
                        .get(format!("{}/readyz", bases[i]))
                        .timeout(Duration::from_millis(300))
                        .send()
                        .await;
                    let ok = match resp {
                        Ok(r) if r.status().is_success() => true,
                        Ok(r) => {
                            if r.text().await.unwrap_or_default().contains("draining") {
                                saw_draining.store(true, Ordering::SeqCst);
                            }
                            false
                        }
                        Err(_) => false,
                    };
                    in_rotation[i].store(ok, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(vec![])));
    let mut workers = vec![];
    for w in 0..8usize {
        let (bases, in_rotation, done, http, token) = (
            bases.clone(),
            in_rotation.clone(),
            done.clone(),
            http.clone(),
            token.clone(),
        );
        let (sent, failed) = (sent.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            let mut n = w;
            while !done.load(Ordering::SeqCst) {
                n += 1;
                let Some(i) = [n % 2, (n + 1) % 2]
                    .into_iter()
                    .find(|i| in_rotation[*i].load(Ordering::SeqCst))
                else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                sent.fetch_add(1, Ordering::SeqCst);
                let resp = http
                    .post(format!("{}/graphql", bases[i]))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "query": "{ tenant { name } }" }))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                let ok = match resp {
                    Ok(r) if r.status().is_success() => r
                        .json::<serde_json::Value>()
                        .await
                        .is_ok_and(|b| b["data"]["tenant"]["name"] == "Drain District"),
                    _ => false,
                };
                if !ok {
                    failed.lock().unwrap().push(i);
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(800)).await;
    let before_term = sent.load(Ordering::SeqCst);
    let status = Command::new("kill")
        .args(["-TERM", &a.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Drain (1 s) plus in-flight requests; the process must end by itself.
    let exited = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        loop {
            if let Some(status) = a.child.try_wait().unwrap() {
                return Some((status, started.elapsed()));
            }
            if started.elapsed() > Duration::from_secs(15) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    let (status, took) = exited.expect("the signalled gateway exits within 15 s");
    assert!(status.success(), "clean exit, got {status:?}");
    assert!(
        took >= Duration::from_millis(900),
        "it drained before closing ({took:?})"
    );
    let at_exit = sent.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(700)).await;
    done.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    prober.await.unwrap();

    let total = sent.load(Ordering::SeqCst);
    assert!(
        before_term > 20,
        "a steady stream before SIGTERM ({before_term})"
    );
    assert!(
        total > at_exit + 10,
        "the other instance kept serving ({total} vs {at_exit})"
    );
    assert!(
        saw_draining.load(Ordering::SeqCst),
        "readiness reported draining"
    );
    let failed = failed.lock().unwrap();
    assert!(
        failed.is_empty(),
        "{} of {total} requests failed",
        failed.len()
    );
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
