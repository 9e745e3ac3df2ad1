//! `RosterService` black-box: the real server on port 0 over a fresh
//! PostgreSQL database, files from `tests/roster_corpus/` streamed in
//! chunks. The dry run's diff, apply, idempotent re-upload, the threshold,
//! rejected rows, bad and oversized input, admin-only access and two-tenant
//! isolation.

mod support;

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use collegium_membership::{
    MembershipStore,
    roster_api::{RosterApi, UploadLimits},
    store::postgres,
};
use collegium_proto::{
    common::v1::PageRequest,
    membership::v1::{
        self as pb, roster_service_client::RosterServiceClient,
        roster_service_server::RosterServiceServer, roster_upload_chunk::Part,
    },
};
use platform::{
    auth::{Grant, PersonId, Role, TenantId},
    grpc::{Authenticate, ForwardCaller},
};
use support::*;
use testkit::{TestDatabase, TestIssuer};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::{
    Code, Status,
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};
use uuid::Uuid;

type Client = RosterServiceClient<InterceptedService<Channel, ForwardCaller>>;

struct TestApp {
    addr: SocketAddr,
    store: postgres::Store,
    issuer: TestIssuer,
    shutdown: Option<oneshot::Sender<()>>,
    _db: TestDatabase,
}

/// The membership server as production starts it.
async fn spawn_app() -> TestApp {
    let (db, store) = postgres_store().await;
    let issuer = TestIssuer::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let running = collegium_membership::start(
        listener,
        Arc::new(store.clone()),
        issuer.verifier.clone(),
        async move {
            let _ = stopped.await;
        },
    )
    .await
    .expect("the server starts");
    TestApp {
        addr: running.addr,
        store,
        issuer,
        shutdown: Some(shutdown),
        _db: db,
    }
}

/// Only the roster service, with small upload limits.
async fn spawn_limited(limits: UploadLimits) -> TestApp {
    let (db, store) = postgres_store().await;
    let issuer = TestIssuer::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let service = RosterServiceServer::with_interceptor(
        RosterApi::new(Arc::new(store.clone())).with_limits(limits),
        Authenticate::new(issuer.verifier.clone()),
    );
    let running = platform::grpc::serve(
        listener,
        tonic::service::Routes::new(service),
        &[],
        async move {
            let _ = stopped.await;
        },
    )
    .await
    .expect("the server starts");
    TestApp {
        addr: running.addr,
        store,
        issuer,
        shutdown: Some(shutdown),
        _db: db,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

/// The default time after which an unsaved upload reads as stopped.
const STALE_DEFAULT: Duration = collegium_membership::roster_api::STALE_AFTER;

impl TestApp {
    /// A tenant admin's client of the pod at `addr`.
    fn client_at(issuer: &TestIssuer, addr: SocketAddr, t: TenantId) -> Client {
        Self::client_for(issuer, addr, t, Role::TenantAdmin)
    }

    fn client_with(&self, t: TenantId, role: Role) -> Client {
        Self::client_for(&self.issuer, self.addr, t, role)
    }

    fn client_for(issuer: &TestIssuer, addr: SocketAddr, t: TenantId, role: Role) -> Client {
        let token = issuer.token(
            t,
            PersonId(Uuid::now_v7()),
            &[Grant {
                role,
                cluster: None,
            }],
        );
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        RosterServiceClient::with_interceptor(channel, ForwardCaller::new(&token).unwrap())
    }

    fn admin(&self, t: TenantId) -> Client {
        self.client_with(t, Role::TenantAdmin)
    }
}

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/roster_corpus")
            .join(name),
    )
    .unwrap()
}

/// The good OneRoster set of the corpus, with some files replaced.
fn good_set(replace: &[(&str, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    [
        "manifest.csv",
        "orgs.csv",
        "users.csv",
        "enrollments.csv",
        "academicSessions.csv",
    ]
    .into_iter()
    .map(|name| {
        let bytes = replace
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| corpus(&format!("good/{name}")));
        (name.to_string(), bytes)
    })
    .collect()
}

fn options(format: pb::RosterFormat, apply: bool, confirm: bool) -> pb::RosterUploadOptions {
    pb::RosterUploadOptions {
        format: format as i32,
        apply,
        confirm_threshold: confirm,
        delta: false,
    }
}

/// The messages of an upload: options, then each file in 7-byte chunks (so
/// that every file spans several).
fn messages(
    options: pb::RosterUploadOptions,
    files: &[(String, Vec<u8>)],
) -> Vec<pb::RosterUploadChunk> {
    let mut out = vec![pb::RosterUploadChunk {
        part: Some(Part::Options(options)),
    }];
    for (name, bytes) in files {
        for chunk in bytes.chunks(7) {
            out.push(pb::RosterUploadChunk {
                part: Some(Part::Chunk(pb::RosterFileChunk {
                    file_name: name.clone(),
                    data: chunk.to_vec(),
                })),
            });
        }
    }
    out
}

async fn upload(
    client: &mut Client,
    options: pb::RosterUploadOptions,
    files: &[(String, Vec<u8>)],
) -> Result<pb::RosterImportJob, Status> {
    client
        .upload_roster(futures::stream::iter(messages(options, files)))
        .await
        .map(|r| r.into_inner())
}

/// Waits until the job has finished and returns it.
async fn finished(client: &mut Client, id: &str) -> pb::RosterImportJob {
    for _ in 0..600 {
        let job = client
            .get_roster_import_job(pb::GetRosterImportJobRequest { id: id.into() })
            .await
            .expect("the job is found")
            .into_inner();
        if job.state() == pb::RosterImportState::Finished {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

/// Uploads and waits for the job to end.
async fn import(
    client: &mut Client,
    options: pb::RosterUploadOptions,
    files: &[(String, Vec<u8>)],
) -> pb::RosterImportJob {
    let started = upload(client, options, files)
        .await
        .expect("upload accepted");
    finished(client, &started.id).await
}

fn report(job: &pb::RosterImportJob) -> &pb::RosterImportReport {
    job.report.as_ref().expect("a finished job has a report")
}

fn counts(c: &Option<pb::RosterCounts>) -> (u64, u64, u64, u64) {
    let c = c.unwrap_or_default();
    (c.created, c.updated, c.deactivated, c.unchanged)
}

fn expect_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Err(status) if status.code() == code => status,
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_oneroster_set_dry_runs_applies_and_re_applies_as_unchanged() {
    bounded(async {
        let app = spawn_app().await;
        let t = tenant(&app.store, "lakeside").await;
        let mut admin = app.admin(t);
        let files = good_set(&[]);

        // The dry run: the diff, nothing written.
        let started = upload(
            &mut admin,
            options(pb::RosterFormat::Oneroster, false, false),
            &files,
        )
        .await
        .unwrap();
        assert!(!started.id.is_empty());
        assert_eq!(started.file_names.len(), 5);
        let dry = finished(&mut admin, &started.id).await;
        assert_eq!(dry.outcome(), pb::RosterImportOutcome::DryRun, "{dry:?}");
        let r = report(&dry);
        assert_eq!(counts(&r.people), (4, 0, 0, 0));
        assert_eq!(counts(&r.organisations), (3, 0, 0, 0));
        assert_eq!(r.skipped.get("student"), Some(&1));
        assert!(r.file_errors.is_empty() && r.rejected.is_empty());
        let t1 = r
            .changes
            .iter()
            .find(|c| c.external_id == "t1")
            .expect("t1 is listed");
        assert_eq!(
            (
                t1.change.as_str(),
                t1.entity.as_str(),
                t1.file.as_str(),
                t1.row
            ),
            ("created", "person", "users.csv", 2)
        );
        assert_eq!(dry.import_job_id, "", "a dry run starts no import job");
        assert!(dry.message.contains("apply"), "{}", dry.message);
        assert!(all_people(&app.store, t).await.is_empty());

        // Apply: written, with progress.
        let applied = import(
            &mut admin,
            options(pb::RosterFormat::Oneroster, true, false),
            &files,
        )
        .await;
        assert_eq!(
            applied.outcome(),
            pb::RosterImportOutcome::Applied,
            "{applied:?}"
        );
        assert_eq!(counts(&report(&applied).people), (4, 0, 0, 0));
        let progress = applied.progress.unwrap();
        assert_eq!(progress.rows_total, 7);
        assert_eq!(progress.rows_written, 7);
        assert!(progress.batches_done >= 1);
        assert_eq!(progress.batches_done, progress.batches_total);
        assert_eq!(all_people(&app.store, t).await.len(), 4);

        // The durable job, by its import job id.
        let stored = admin
            .get_roster_import_job(pb::GetRosterImportJobRequest {
                id: applied.import_job_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stored.outcome(), pb::RosterImportOutcome::Applied);
        assert_eq!(counts(&stored.totals), (7, 0, 0, 0));

        // Idempotent: the same files again change nothing.
        let again = import(
            &mut admin,
            options(pb::RosterFormat::Oneroster, true, false),
            &files,
        )
        .await;
        assert_eq!(again.outcome(), pb::RosterImportOutcome::Applied);
        assert_eq!(counts(&report(&again).people), (0, 0, 0, 4));
        assert_eq!(counts(&again.totals), (0, 0, 0, 7));

        // The list: newest first, paged.
        let page = admin
            .list_roster_import_jobs(pb::ListRosterImportJobsRequest {
                page: Some(PageRequest {
                    page_size: 2,
                    page_token: String::new(),
                }),
            })
            .await
            .unwrap()
            .into_inner();
        let ids: Vec<&str> = page.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, [again.id.as_str(), applied.id.as_str()]);
        let token = page.page.unwrap().next_page_token;
        assert!(!token.is_empty());
        let rest = admin
            .list_roster_import_jobs(pb::ListRosterImportJobsRequest {
                page: Some(PageRequest {
                    page_size: 2,
                    page_token: token,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(rest.jobs.len(), 1);
        assert_eq!(rest.jobs[0].id, dry.id);
        assert_eq!(rest.page.unwrap().next_page_token, "");
    })
    .await;
}

#[tokio::test]
async fn the_threshold_stops_a_mass_deactivation_until_confirmed() {
    bounded(async {
        let app = spawn_app().await;
        let t = tenant(&app.store, "lakeside").await;
        let mut admin = app.admin(t);
        import(
            &mut admin,
            options(pb::RosterFormat::Oneroster, true, false),
            &good_set(&[]),
        )
        .await;
        // A bulk users file with one teacher left: three of four would go.
        let users = corpus("good/users.csv");
        let text = String::from_utf8(users).unwrap();
        let only_t1: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
        let files = good_set(&[("users.csv", only_t1.into_bytes())]);

        let stopped = import(
            &mut admin,
            options(pb::RosterFormat::Oneroster, true, false),
            &files,
        )
        .await;
        assert_eq!(stopped.outcome(), pb::RosterImportOutcome::Stopped);
        let check = report(&stopped).deactivation_check.unwrap();
        assert!(check.exceeded);
        assert_eq!(check.deactivating, 3);
        assert!(
            stopped.message.contains("confirm_threshold"),
            "{}",
            stopped.message
        );
        assert!(all_people(&app.store, t).await.iter().all(|p| p.active));

        let confirmed = import(
            &mut admin,
            options(pb::RosterFormat::Oneroster, true, true),
            &files,
        )
        .await;
        assert_eq!(confirmed.outcome(), pb::RosterImportOutcome::Applied);
        assert_eq!(counts(&report(&confirmed).people).2, 3);
        let active = all_people(&app.store, t)
            .await
            .into_iter()
            .filter(|p| p.active)
            .count();
        assert_eq!(active, 1);
    })
    .await;
}

#[tokio::test]
async fn a_people_csv_reports_rejected_rows_with_row_numbers() {
    bounded(async {
        let app = spawn_app().await;
        let t = tenant(&app.store, "lakeside").await;
        let mut admin = app.admin(t);
        let job = import(
            &mut admin,
            options(pb::RosterFormat::PeopleCsv, true, false),
            &[("staff.csv".into(), corpus("people_bad_rows.csv"))],
        )
        .await;
        assert_eq!(job.outcome(), pb::RosterImportOutcome::Applied, "{job:?}");
        let r = report(&job);
        assert!(!r.rejected.is_empty());
        assert_eq!(r.rejected_count, r.rejected.len() as u64);
        assert_eq!(r.more_rejected, 0);
        for row in &r.rejected {
            assert_eq!(row.file, "staff.csv");
            assert!(row.row >= 2, "{row:?}");
            assert!(!row.reason.is_empty(), "{row:?}");
        }
        let created = counts(&r.people).0 as usize;
        assert!(created >= 1);
        assert_eq!(all_people(&app.store, t).await.len(), created);
    })
    .await;
}

#[tokio::test]
async fn bad_files_get_a_report_and_write_nothing() {
    bounded(async {
        let app = spawn_app().await;
        let t = tenant(&app.store, "lakeside").await;
        let mut admin = app.admin(t);

        let missing_header = import(
            &mut admin,
            options(pb::RosterFormat::Oneroster, true, false),
            &good_set(&[("users.csv", corpus("users_missing_header.csv"))]),
        )
        .await;
        assert_eq!(
            missing_header.outcome(),
            pb::RosterImportOutcome::Invalid,
            "{missing_header:?}"
        );
        let errors = &report(&missing_header).file_errors;
        assert!(errors.iter().any(|e| e.file == "users.csv"), "{errors:?}");

        // Not a CSV at all: binary noise, no manifest.
        let noise: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        let garbage = import(
            &mut admin,
            options(pb::RosterFormat::Oneroster, true, false),
            &[("users.csv".into(), noise.clone())],
        )
        .await;
        assert_eq!(garbage.outcome(), pb::RosterImportOutcome::Invalid);
        let garbage = import(
            &mut admin,
            options(pb::RosterFormat::PeopleCsv, true, false),
            &[("people.csv".into(), noise)],
        )
        .await;
        assert_eq!(
            garbage.outcome(),
            pb::RosterImportOutcome::Invalid,
            "{garbage:?}"
        );
        assert!(all_people(&app.store, t).await.is_empty());
        assert!(
            app.store
                .roster_snapshot(t)
                .await
                .unwrap()
                .organisations
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn malformed_uploads_are_refused() {
    bounded(async {
        let app = spawn_app().await;
        let t = tenant(&app.store, "lakeside").await;
        let mut admin = app.admin(t);
        let csv = || vec![("people.csv".to_string(), corpus("people_bad_rows.csv"))];

        // No options first.
        let chunk_only = vec![pb::RosterUploadChunk {
            part: Some(Part::Chunk(pb::RosterFileChunk {
                file_name: "people.csv".into(),
                data: b"x".to_vec(),
            })),
        }];
        let status = expect_code(
            admin.upload_roster(futures::stream::iter(chunk_only)).await,
            Code::InvalidArgument,
        );
        assert!(status.message().contains("options"), "{status:?}");
        // No format.
        expect_code(
            upload(
                &mut admin,
                options(pb::RosterFormat::Unspecified, false, false),
                &csv(),
            )
            .await,
            Code::InvalidArgument,
        );
        // A path, not a file name.
        let status = expect_code(
            upload(
                &mut admin,
                options(pb::RosterFormat::PeopleCsv, false, false),
                &[("../people.csv".into(), b"x".to_vec())],
            )
            .await,
            Code::InvalidArgument,
        );
        assert!(status.message().contains("../people.csv"), "{status:?}");
        // No files; two files for people_csv.
        expect_code(
            upload(
                &mut admin,
                options(pb::RosterFormat::PeopleCsv, false, false),
                &[],
            )
            .await,
            Code::InvalidArgument,
        );
        let mut two = csv();
        two.push(("more.csv".into(), corpus("people_bad_rows.csv")));
        expect_code(
            upload(
                &mut admin,
                options(pb::RosterFormat::PeopleCsv, false, false),
                &two,
            )
            .await,
            Code::InvalidArgument,
        );
        // A file sent in two separate parts.
        let mut split = messages(
            options(pb::RosterFormat::Oneroster, false, false),
            &good_set(&[]),
        );
        split.push(pb::RosterUploadChunk {
            part: Some(Part::Chunk(pb::RosterFileChunk {
                file_name: "manifest.csv".into(),
                data: b"more".to_vec(),
            })),
        });
        expect_code(
            admin.upload_roster(futures::stream::iter(split)).await,
            Code::InvalidArgument,
        );
        assert!(all_people(&app.store, t).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_upload_over_the_size_limit_is_refused_naming_the_file() {
    bounded(async {
        let app = spawn_limited(UploadLimits {
            max_bytes: 2000,
            max_files: 3,
        })
        .await;
        let t = tenant(&app.store, "lakeside").await;
        let mut admin = app.admin(t);
        let big = vec![b'a'; 1500];
        let status = expect_code(
            upload(
                &mut admin,
                options(pb::RosterFormat::Oneroster, false, false),
                &[
                    ("manifest.csv".into(), big.clone()),
                    ("users.csv".into(), big),
                ],
            )
            .await,
            Code::InvalidArgument,
        );
        assert!(
            status.message().contains("users.csv") && status.message().contains("limit"),
            "{status:?}"
        );
        // Too many files.
        let status = expect_code(
            upload(
                &mut admin,
                options(pb::RosterFormat::Oneroster, false, false),
                &good_set(&[]),
            )
            .await,
            Code::InvalidArgument,
        );
        assert!(status.message().contains("at most 3 files"), "{status:?}");
        // Nothing is left running: a small upload goes through.
        let job = import(
            &mut admin,
            options(pb::RosterFormat::PeopleCsv, false, false),
            &[("people.csv".into(), corpus("people_bad_rows.csv"))],
        )
        .await;
        assert_eq!(job.outcome(), pb::RosterImportOutcome::DryRun);
    })
    .await;
}

#[tokio::test]
async fn only_tenant_admins_may_import() {
    bounded(async {
        let app = spawn_app().await;
        let t = tenant(&app.store, "lakeside").await;
        let mut admin = app.admin(t);
        let job = import(
            &mut admin,
            options(pb::RosterFormat::Oneroster, false, false),
            &good_set(&[]),
        )
        .await;
        for role in [Role::Teacher, Role::Principal, Role::Observer] {
            let mut other = app.client_with(t, role);
            expect_code(
                upload(
                    &mut other,
                    options(pb::RosterFormat::Oneroster, true, true),
                    &good_set(&[]),
                )
                .await,
                Code::PermissionDenied,
            );
            expect_code(
                other
                    .get_roster_import_job(pb::GetRosterImportJobRequest { id: job.id.clone() })
                    .await,
                Code::PermissionDenied,
            );
            expect_code(
                other
                    .list_roster_import_jobs(pb::ListRosterImportJobsRequest { page: None })
                    .await,
                Code::PermissionDenied,
            );
        }
        assert!(all_people(&app.store, t).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn one_tenant_never_sees_or_touches_another_tenants_import() {
    bounded(async {
        let app = spawn_app().await;
        let a = tenant(&app.store, "tenant-a").await;
        let b = tenant(&app.store, "tenant-b").await;
        let mut admin_a = app.admin(a);
        let mut admin_b = app.admin(b);
        let applied = import(
            &mut admin_a,
            options(pb::RosterFormat::Oneroster, true, false),
            &good_set(&[]),
        )
        .await;
        assert_eq!(applied.outcome(), pb::RosterImportOutcome::Applied);
        let people_a = all_people(&app.store, a).await;
        assert_eq!(people_a.len(), 4);

        // B cannot read A's jobs, by either id, nor list them.
        for id in [&applied.id, &applied.import_job_id] {
            expect_code(
                admin_b
                    .get_roster_import_job(pb::GetRosterImportJobRequest { id: id.clone() })
                    .await,
                Code::NotFound,
            );
        }
        let listed = admin_b
            .list_roster_import_jobs(pb::ListRosterImportJobsRequest { page: None })
            .await
            .unwrap()
            .into_inner();
        assert!(listed.jobs.is_empty());

        // B imports the same ids, and a bulk set that would deactivate anyone
        // missing: A's people stay exactly as they were.
        let b_job = import(
            &mut admin_b,
            options(pb::RosterFormat::Oneroster, true, true),
            &good_set(&[]),
        )
        .await;
        assert_eq!(counts(&report(&b_job).people), (4, 0, 0, 0), "{b_job:?}");
        let only_t1 = "external_id,given_name,family_name,email\nt1,Ana,Lima,ana@b.example\n";
        let b_people = import(
            &mut admin_b,
            options(pb::RosterFormat::PeopleCsv, true, true),
            &[("people.csv".into(), only_t1.as_bytes().to_vec())],
        )
        .await;
        assert_eq!(b_people.outcome(), pb::RosterImportOutcome::Applied);
        assert_eq!(all_people(&app.store, a).await, people_a);
        let b_ids: Vec<Uuid> = all_people(&app.store, b)
            .await
            .iter()
            .map(|p| p.id)
            .collect();
        assert!(people_a.iter().all(|p| !b_ids.contains(&p.id)));
        // And A still sees only its own jobs.
        let a_jobs = admin_a
            .list_roster_import_jobs(pb::ListRosterImportJobsRequest { page: None })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(a_jobs.jobs.len(), 1);
    })
    .await;
}

/// One more membership pod: the roster service over `store` (a database
/// another pod also uses), reading unfinished uploads as stopped after
/// `stale_after`.
async fn spawn_pod(
    store: &postgres::Store,
    issuer: &TestIssuer,
    stale_after: Duration,
) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let service = RosterServiceServer::with_interceptor(
        RosterApi::new(Arc::new(store.clone())).with_stale_after(stale_after),
        Authenticate::new(issuer.verifier.clone()),
    );
    let running = platform::grpc::serve(
        listener,
        tonic::service::Routes::new(service),
        &[],
        async move {
            let _ = stopped.await;
        },
    )
    .await
    .expect("the pod starts");
    (running.addr, shutdown)
}

#[tokio::test]
async fn an_upload_is_followed_from_any_pod_and_one_whose_pod_stopped_reads_as_failed() {
    bounded(async {
        let app = spawn_app().await;
        let (pod_b, _stop_b) = spawn_pod(&app.store, &app.issuer, STALE_DEFAULT).await;
        let (pod_c, _stop_c) = spawn_pod(&app.store, &app.issuer, Duration::from_secs(1)).await;
        let a = tenant(&app.store, "tenant-a").await;
        let other = tenant(&app.store, "tenant-b").await;
        let on = |addr: SocketAddr, t: TenantId| TestApp::client_at(&app.issuer, addr, t);

        // Uploaded on the first pod, followed on the second to the end.
        let mut on_a = app.admin(a);
        let started = upload(
            &mut on_a,
            options(pb::RosterFormat::Oneroster, false, false),
            &good_set(&[]),
        )
        .await
        .unwrap();
        let mut on_b = on(pod_b, a);
        let seen_on_b = finished(&mut on_b, &started.id).await;
        let seen_on_a = finished(&mut on_a, &started.id).await;
        assert_eq!(seen_on_b.outcome(), pb::RosterImportOutcome::DryRun);
        assert_eq!(
            seen_on_b.report, seen_on_a.report,
            "the same report on every pod"
        );
        assert_eq!(counts(&report(&seen_on_b).people), (4, 0, 0, 0));
        let listed = on_b
            .list_roster_import_jobs(pb::ListRosterImportJobsRequest { page: None })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            listed
                .jobs
                .iter()
                .map(|j| j.id.as_str())
                .collect::<Vec<_>>(),
            [started.id.as_str()]
        );
        // The upload is audited once, with what was sent.
        let audit = all_audit(&app.store, a).await;
        let record = audit
            .iter()
            .find(|r| r.action == "roster_upload.started")
            .expect("the upload is audited");
        assert_eq!(record.target_id, started.id);
        assert_eq!(record.after.as_ref().unwrap()["apply"], false);

        // Another tenant sees none of it, on any pod.
        for addr in [app.addr, pod_b] {
            let mut theirs = on(addr, other);
            expect_code(
                theirs
                    .get_roster_import_job(pb::GetRosterImportJobRequest {
                        id: started.id.clone(),
                    })
                    .await,
                Code::NotFound,
            );
            let listed = theirs
                .list_roster_import_jobs(pb::ListRosterImportJobsRequest { page: None })
                .await
                .unwrap()
                .into_inner();
            assert!(listed.jobs.is_empty());
        }

        // An upload some pod started and then stopped saving (the pod died).
        let orphan = Uuid::now_v7();
        let running = pb::RosterImportJob {
            id: orphan.to_string(),
            state: pb::RosterImportState::Writing as i32,
            ..Default::default()
        };
        app.store
            .start_roster_upload(
                a,
                ACTOR,
                orphan,
                prost::Message::encode_to_vec(&running),
                serde_json::json!({ "id": orphan }),
            )
            .await
            .unwrap();
        // While it is recent, nobody starts another import of the tenant.
        let busy = expect_code(
            upload(
                &mut on(pod_c, a),
                options(pb::RosterFormat::Oneroster, false, false),
                &good_set(&[]),
            )
            .await,
            Code::FailedPrecondition,
        );
        assert!(busy.message().contains(&orphan.to_string()), "{busy:?}");
        // Unheard of for longer than the pod's limit: failed, and a new upload runs.
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        let mut on_c = on(pod_c, a);
        let stopped = on_c
            .get_roster_import_job(pb::GetRosterImportJobRequest {
                id: orphan.to_string(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stopped.state(), pb::RosterImportState::Finished);
        assert_eq!(stopped.outcome(), pb::RosterImportOutcome::Failed);
        assert!(stopped.message.contains("stopped"), "{stopped:?}");
        let again = upload(
            &mut on_c,
            options(pb::RosterFormat::Oneroster, false, false),
            &good_set(&[]),
        )
        .await
        .expect("a new upload is accepted");
        assert_eq!(
            finished(&mut on_c, &again.id).await.outcome(),
            pb::RosterImportOutcome::DryRun
        );
    })
    .await;
}
