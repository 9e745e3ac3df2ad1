//! The scoring gRPC API, black-box: the real membership, scheduling and
//! scoring servers on port 0, each over its own fresh PostgreSQL database (as
//! its app role), called with the generated clients and bearer tokens from
//! one test issuer. Membership and scheduling are seeded through their
//! stores (people, schools, a scoring training with attendance, a scoring
//! session event); everything in scoring goes through the API: a scored
//! session from rubric to exports, eligibility with its reasons, bad input,
//! concurrent submissions, authorisation, and tenant isolation of every RPC.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use chrono::{TimeZone, Utc};
use collegium_membership::domain as m;
use collegium_proto::common::v1 as common;
use collegium_proto::scoring::v1::{self as pb, scoring_service_client::ScoringServiceClient};
use collegium_scheduling::domain as s;
use platform::{
    auth::{Grant, PersonId, Role, TenantId},
    db::TenantPool,
    grpc::ForwardCaller,
};
use testkit::{TestDatabase, TestIssuer};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::{
    Code, Status,
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};
use uuid::Uuid;

type Client = ScoringServiceClient<InterceptedService<Channel, ForwardCaller>>;

const ACTOR: &str = "0190f000-0000-7000-8000-00000000ad01";
const YEAR: i32 = 2026;
const TEST_TIME_LIMIT: Duration = Duration::from_secs(180);

async fn bounded<F: Future>(body: F) -> F::Output {
    tokio::time::timeout(TEST_TIME_LIMIT, body)
        .await
        .expect("the test did not finish within its time limit")
}

// ------------------------------------------------------------------ the servers

struct TestApp {
    addr: std::net::SocketAddr,
    /// Scoring's own store, for what no API does: making rows old.
    scoring: collegium_scoring::store::postgres::Store,
    membership: collegium_membership::store::postgres::Store,
    scheduling: collegium_scheduling::store::postgres::Store,
    issuer: TestIssuer,
    shutdown: Vec<oneshot::Sender<()>>,
    _dbs: Vec<TestDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for s in self.shutdown.drain(..) {
            let _ = s.send(());
        }
    }
}

async fn spawn_app() -> TestApp {
    testkit::init_tracing();
    let issuer = TestIssuer::new();
    let mut dbs = Vec::new();
    let mut shutdown = Vec::new();

    let mdb = TestDatabase::migrated(
        collegium_membership::SCHEMA,
        &collegium_membership::POSTGRES_MIGRATIONS,
    )
    .await
    .expect("membership database");
    let membership =
        collegium_membership::open_postgres(&mdb.app_url(collegium_membership::SCHEMA), 4)
            .await
            .expect("membership store");
    let (stop, stopped) = oneshot::channel::<()>();
    let m_running = collegium_membership::start(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Arc::new(membership.clone()),
        issuer.verifier.clone(),
        async move {
            let _ = stopped.await;
        },
    )
    .await
    .expect("membership starts");
    shutdown.push(stop);
    dbs.push(mdb);

    let sdb = TestDatabase::migrated(
        collegium_scheduling::SCHEMA,
        &collegium_scheduling::POSTGRES_MIGRATIONS,
    )
    .await
    .expect("scheduling database");
    let scheduling =
        collegium_scheduling::open_postgres(&sdb.app_url(collegium_scheduling::SCHEMA), 4)
            .await
            .expect("scheduling store");
    let (stop, stopped) = oneshot::channel::<()>();
    let s_running = collegium_scheduling::start(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Arc::new(scheduling.clone()),
        issuer.verifier.clone(),
        collegium_scheduling::SchedulingRuntime {
            membership_url: format!("http://{}", m_running.addr),
            materials: collegium_scheduling::MaterialStore::in_memory(),
        },
        async move {
            let _ = stopped.await;
        },
    )
    .await
    .expect("scheduling starts");
    shutdown.push(stop);
    dbs.push(sdb);

    let db = TestDatabase::migrated(
        collegium_scoring::SCHEMA,
        &collegium_scoring::POSTGRES_MIGRATIONS,
    )
    .await
    .expect("scoring database");
    let store = collegium_scoring::open_postgres(&db.app_url(collegium_scoring::SCHEMA), 8)
        .await
        .expect("scoring store");
    let (stop, stopped) = oneshot::channel::<()>();
    let running = collegium_scoring::start(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Arc::new(store.clone()),
        issuer.verifier.clone(),
        collegium_scoring::ScoringRuntime {
            membership_url: format!("http://{}", m_running.addr),
            scheduling_url: format!("http://{}", s_running.addr),
            key: collegium_scoring::MasterKey::generate(),
        },
        async move {
            let _ = stopped.await;
        },
    )
    .await
    .expect("scoring starts");
    shutdown.insert(0, stop);
    dbs.push(db);
    TestApp {
        addr: running.addr,
        scoring: store,
        membership,
        scheduling,
        issuer,
        shutdown,
        _dbs: dbs,
    }
}

fn grant(role: Role, cluster: Option<Uuid>) -> Grant {
    Grant { role, cluster }
}

impl TestApp {
    fn client(&self, token: &str) -> Client {
        let channel = Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        ScoringServiceClient::with_interceptor(
            channel,
            ForwardCaller::new(token).expect("a well-formed token"),
        )
    }

    fn as_person(&self, t: TenantId, person: Uuid, grants: &[Grant]) -> Client {
        self.client(&self.issuer.token(t, PersonId(person), grants))
    }

    fn admin(&self, w: &World) -> Client {
        self.as_person(w.t, w.admin, &[grant(Role::TenantAdmin, None)])
    }

    fn lead(&self, w: &World) -> Client {
        self.as_person(w.t, w.lead, &[grant(Role::ClusterLead, Some(w.cluster))])
    }

    fn scorer(&self, w: &World, i: usize) -> Client {
        self.as_person(w.t, w.scorers[i], &[grant(Role::Teacher, Some(w.cluster))])
    }

    fn researcher(&self, w: &World) -> Client {
        self.as_person(w.t, w.researcher, &[grant(Role::Researcher, None)])
    }
}

// ------------------------------------------------------------------ the world

/// A tenant: two schools in a cluster, its lead, five scorers (0 and 1 at
/// school A, 2–4 at school B; 0–3 attended this year's scoring training,
/// 4 did not), an admin, a researcher, and a scoring-session event.
#[derive(Debug, Clone)]
struct World {
    t: TenantId,
    cluster: Uuid,
    other_cluster: Uuid,
    schools: [Uuid; 2],
    lead: Uuid,
    scorers: Vec<Uuid>,
    admin: Uuid,
    researcher: Uuid,
    event: Uuid,
}

async fn world(app: &TestApp, slug: &str) -> World {
    let store: &dyn collegium_membership::MembershipStore = &app.membership;
    let t = store
        .create_tenant(m::NewTenant {
            slug: slug.to_string(),
            name: format!("Tenant {slug}"),
            kind: m::TenantKind::District,
            settings: m::TenantSettings {
                time_zone: "Europe/London".into(),
                locale: "en-GB".into(),
                academic_year_start_month: 9,
                academic_year_start_day: 1,
            },
        })
        .await
        .expect("tenant")
        .id;
    let mut schools = [Uuid::nil(); 2];
    for (i, name) in ["North", "South"].iter().enumerate() {
        schools[i] = store
            .create_organisation(
                t,
                ACTOR,
                m::NewOrganisation {
                    name: format!("{slug} {name} School"),
                    kind: m::OrganisationKind::School,
                    external_id: None,
                    contact: m::Contact::default(),
                },
            )
            .await
            .expect("school")
            .id;
    }
    let person = |given: &'static str, org: Option<Uuid>| {
        let new = m::NewPerson {
            given_name: given.to_string(),
            family_name: slug.to_string(),
            contact: m::Contact::default(),
            organisation_id: org,
            external_id: None,
            time_zone: None,
        };
        async move { store.create_person(t, ACTOR, new).await.expect("person").id }
    };
    let lead = person("Lena", Some(schools[0])).await;
    let mut scorers = Vec::new();
    for (name, school) in [("Sam", 0), ("Sia", 0), ("Sol", 1), ("Sky", 1), ("Sue", 1)] {
        scorers.push(person(name, Some(schools[school])).await);
    }
    let admin = person("Ada", None).await;
    let researcher = person("Rae", None).await;
    let cluster = store
        .create_cluster(
            t,
            ACTOR,
            m::NewCluster {
                name: format!("{slug} cluster"),
                description: String::new(),
                lead_person_id: Some(lead),
                centre_ids: schools.to_vec(),
            },
        )
        .await
        .expect("cluster")
        .id;
    let other_cluster = store
        .create_cluster(
            t,
            ACTOR,
            m::NewCluster {
                name: format!("{slug} other"),
                description: String::new(),
                lead_person_id: None,
                centre_ids: vec![],
            },
        )
        .await
        .expect("cluster")
        .id;
    store
        .grant_role(t, ACTOR, lead, Role::ClusterLead, Some(cluster))
        .await
        .unwrap();
    store
        .grant_role(t, ACTOR, admin, Role::TenantAdmin, None)
        .await
        .unwrap();
    store
        .grant_role(t, ACTOR, researcher, Role::Researcher, None)
        .await
        .unwrap();
    for s in &scorers {
        store
            .grant_role(t, ACTOR, *s, Role::Teacher, Some(cluster))
            .await
            .unwrap();
    }

    // Scheduling: this year's scoring training (attended by scorers 0–2) and
    // the scoring session it prepares for.
    let sched: &dyn collegium_scheduling::store::SchedulingStore = &app.scheduling;
    let starts = Utc.with_ymd_and_hms(2026, 10, 1, 9, 0, 0).unwrap();
    let training = event(s::EventKind::ScoringTraining, cluster, starts, 3);
    let session = event(
        s::EventKind::ScoringSession,
        cluster,
        starts + chrono::Duration::days(7),
        0,
    );
    let created = sched
        .create_events(t, ACTOR, vec![training, session])
        .await
        .expect("events");
    sched
        .record_attendance(
            t,
            ACTOR,
            created[0].id,
            &scorers[..4]
                .iter()
                .map(|p| (*p, s::AttendanceStatus::Present))
                .collect::<Vec<_>>(),
            "owner",
        )
        .await
        .expect("attendance");
    World {
        t,
        cluster,
        other_cluster,
        schools,
        lead,
        scorers,
        admin,
        researcher,
        event: created[1].id,
    }
}

/// A research agreement for scores naming `researcher`, from `from` to
/// `to` days from today (UTC; the tests stay clear of the edges).
async fn agreement(
    ms: &dyn collegium_membership::MembershipStore,
    t: TenantId,
    researcher: Uuid,
    from: i64,
    to: i64,
) -> Uuid {
    let today = Utc::now().date_naive();
    ms.create_agreement(
        t,
        ACTOR,
        m::NewResearchAgreement {
            title: "Scoring reliability".into(),
            purpose: "How often do two readers agree?".into(),
            data_scope: [m::DataScope::Scores].into(),
            researcher_ids: vec![researcher],
            starts_on: today + chrono::Duration::days(from),
            ends_on: today + chrono::Duration::days(to),
            destroy_by: today + chrono::Duration::days(to + 365),
        },
    )
    .await
    .expect("research agreement")
    .id
}

/// The tenant's disclosure log, oldest first.
async fn disclosures(
    ms: &dyn collegium_membership::MembershipStore,
    t: TenantId,
) -> Vec<m::Disclosure> {
    ms.list_disclosures(
        t,
        &m::DisclosureFilter::default(),
        platform::page::Page::first(100),
    )
    .await
    .expect("disclosures")
    .0
}

fn event(
    kind: s::EventKind,
    cluster: Uuid,
    starts_at: chrono::DateTime<Utc>,
    training_hours: u32,
) -> s::Event {
    s::Event {
        id: Uuid::now_v7(),
        kind,
        cluster_id: Some(cluster),
        title: format!("{kind:?}"),
        agenda: "scoring".into(),
        starts_at,
        ends_at: starts_at + chrono::Duration::hours(3),
        time_zone: "Europe/London".into(),
        venue_id: None,
        online_url: None,
        capacity: 0,
        status: s::EventStatus::Published,
        academic_year: YEAR,
        approval_required: false,
        training_hours,
        prepares_for_event_id: None,
        series_id: None,
        recurrence_id: None,
        rrule: None,
        series_start: None,
        detached: false,
        sequence: 0,
        check_in_code: "K7Q2XW".into(),
        created_by: ACTOR.into(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

// ------------------------------------------------------------------ requests

fn rubric_req() -> pb::CreateRubricRequest {
    pb::CreateRubricRequest {
        programme: "writing".into(),
        name: "Writing portfolio 2026".into(),
        score_points: ["Novice", "Apprentice", "Proficient", "Distinguished"]
            .iter()
            .enumerate()
            .map(|(i, l)| pb::ScorePoint {
                value: i as i32 + 1,
                label: l.to_string(),
            })
            .collect(),
        dimensions: vec![pb::Dimension {
            key: "conventions".into(),
            name: "Conventions".into(),
            min: 1,
            max: 3,
        }],
        condition_codes: vec![pb::ConditionCode {
            code: "blank".into(),
            label: "Blank".into(),
        }],
        qualification_threshold: None,
    }
}

fn score(v: i32) -> pb::SubmitScoreRequest {
    pb::SubmitScoreRequest {
        assignment_id: String::new(),
        score: Some(v),
        dimensions: vec![pb::DimensionScore {
            key: "conventions".into(),
            score: 2,
        }],
        condition_code: None,
    }
}

fn ok<T>(r: Result<tonic::Response<T>, Status>) -> T {
    match r {
        Ok(r) => r.into_inner(),
        Err(s) => panic!("expected success, got {:?}: {}", s.code(), s.message()),
    }
}

fn code<T: std::fmt::Debug>(r: Result<tonic::Response<T>, Status>, want: Code) -> Status {
    match r {
        Ok(v) => panic!("expected {want:?}, got {:?}", v.into_inner()),
        Err(s) => {
            assert_eq!(s.code(), want, "{}", s.message());
            s
        }
    }
}

/// The fields a bad request's status names.
fn fields(s: &Status) -> Vec<String> {
    platform::error::Error::from_status(s.clone())
        .violations()
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

/// A rubric, 10-paper qualifying set passed by scorers 0–4 (4 is untrained),
/// and `n` portfolios half from each school, in a session with the given
/// second-read share. Returns (rubric id, session id, portfolio ids).
async fn scored_setup(
    app: &TestApp,
    w: &World,
    n: usize,
    second: f64,
) -> (String, String, Vec<String>) {
    let rubric = ok(app.admin(w).create_rubric(rubric_req()).await);
    let set = ok(app
        .admin(w)
        .create_qualification_set(pb::CreateQualificationSetRequest {
            rubric_id: rubric.id.clone(),
            academic_year: YEAR,
            kind: pb::SetKind::Qualifying as i32,
            name: "Qualifying set A".into(),
            papers: (0..10)
                .map(|i| pb::PrescoredPaper {
                    id: String::new(),
                    title: format!("Paper {i}"),
                    work_ref: format!("s3://papers/q{i}.pdf"),
                    true_score: (i % 4) + 1,
                })
                .collect(),
        })
        .await);
    for i in 0..5 {
        let papers = ok(app
            .scorer(w, i)
            .list_qualification_sets(pb::ListQualificationSetsRequest {
                rubric_id: rubric.id.clone(),
                academic_year: YEAR,
            })
            .await)
        .sets
        .remove(0)
        .papers;
        // Scorers never see the agreed scores…
        assert!(papers.iter().all(|p| p.true_score == 0));
        // …so they answer from the set as the admin built it.
        let attempt = ok(app
            .scorer(w, i)
            .submit_qualification_attempt(pb::SubmitQualificationAttemptRequest {
                set_id: set.id.clone(),
                scores: set
                    .papers
                    .iter()
                    .map(|p| pb::PaperScore {
                        paper_id: p.id.clone(),
                        score: p.true_score,
                    })
                    .collect(),
            })
            .await);
        assert!(attempt.passed && attempt.exact == 10);
    }
    let portfolios = ok(app
        .admin(w)
        .create_portfolios(pb::CreatePortfoliosRequest {
            portfolios: (0..n)
                .map(|i| pb::NewPortfolio {
                    student_ref: format!("S-{i:04}"),
                    school_id: w.schools[i % 2].to_string(),
                    grade_level: 4,
                    academic_year: YEAR,
                    pieces: vec![pb::Piece {
                        genre: "narrative".into(),
                        title: format!("Story {i}"),
                        work_ref: format!("s3://work/{i}.pdf"),
                    }],
                })
                .collect(),
        })
        .await)
    .portfolios;
    let session = ok(app
        .lead(w)
        .create_session(pb::CreateSessionRequest {
            event_id: w.event.to_string(),
            rubric_id: rubric.id.clone(),
            cluster_id: w.cluster.to_string(),
            academic_year: YEAR,
            name: "Autumn scoring".into(),
            second_read_share: Some(second),
            backread_share: Some(0.5),
            allow_own_school: false,
            resolution_rule: "adjacent_average".into(),
            calibration_since: None,
            lead_id: String::new(),
        })
        .await);
    let ids: Vec<String> = portfolios.iter().map(|p| p.id.clone()).collect();
    ok(app
        .lead(w)
        .add_session_portfolios(pb::AddSessionPortfoliosRequest {
            session_id: session.id.clone(),
            portfolio_ids: ids.clone(),
        })
        .await);
    (rubric.id, session.id, ids)
}

async fn my_pending(app: &TestApp, w: &World, i: usize, session: &str) -> Vec<pb::Assignment> {
    ok(app
        .scorer(w, i)
        .list_my_assignments(pb::ListMyAssignmentsRequest {
            page: None,
            session_id: session.to_string(),
            pending_only: true,
        })
        .await)
    .assignments
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_is_scored_double_read_adjudicated_and_reported() {
    bounded(async {
        let app = spawn_app().await;
        let w = world(&app, "alpha").await;
        let (_rubric, session, portfolios) = scored_setup(&app, &w, 8, 0.5).await;

        // Scorer 4 passed the set but never trained: refused, with the reason.
        let report = ok(app
            .lead(&w)
            .assign_session(pb::AssignSessionRequest {
                session_id: session.clone(),
                scorer_ids: w.scorers.iter().map(Uuid::to_string).collect(),
            })
            .await);
        assert_eq!(report.refused_scorers.len(), 1);
        let refused = &report.refused_scorers[0];
        assert_eq!(refused.scorer_id, w.scorers[4].to_string());
        assert!(!refused.trained && refused.qualified);
        assert!(refused.reasons[0].contains("no scoring training attended in academic year 2026"));
        assert!(report.unassignable.is_empty(), "{:?}", report.unassignable);
        // 8 first reads and ceil(50% of 8) = 4 second reads.
        assert_eq!(report.assigned, 12);

        // Nobody reads their own school's folders.
        let mut mine: HashMap<usize, Vec<pb::Assignment>> = HashMap::new();
        for i in 0..4 {
            let list = my_pending(&app, &w, i, &session).await;
            for a in &list {
                let p = portfolios
                    .iter()
                    .position(|id| *id == a.portfolio_id)
                    .unwrap();
                let school_of_scorer = if i < 2 { 0 } else { 1 };
                assert_ne!(
                    p % 2,
                    school_of_scorer,
                    "scorer {i} got own school's folder"
                );
                assert_eq!(a.pieces.len(), 1, "the reader sees the work");
            }
            mine.insert(i, list);
        }
        // Scorer 4 (untrained) got no reads.
        assert!(my_pending(&app, &w, 4, &session).await.is_empty());

        // Every read gets a score; second readers disagree on purpose for
        // one portfolio (4 vs 1) and adjacently (3 vs 2) for another.
        let mut second_reads = Vec::new();
        for (i, list) in &mine {
            for a in list {
                if a.kind == pb::ReadKind::Second as i32 {
                    second_reads.push((*i, a.clone()));
                }
            }
        }
        second_reads.sort_by(|x, y| x.1.portfolio_id.cmp(&y.1.portfolio_id));
        assert_eq!(second_reads.len(), 4);
        let discrepant = second_reads[0].1.portfolio_id.clone();
        let adjacent = second_reads[1].1.portfolio_id.clone();
        for (i, list) in &mine {
            for a in list {
                let first = a.kind == pb::ReadKind::First as i32;
                let v = match (
                    a.portfolio_id == discrepant,
                    a.portfolio_id == adjacent,
                    first,
                ) {
                    (true, _, true) => 4,
                    (true, _, false) => 1,
                    (_, true, true) => 3,
                    (_, true, false) => 2,
                    _ => 3,
                };
                let mut req = score(v);
                req.assignment_id = a.id.clone();
                let s = ok(app.scorer(&w, *i).submit_score(req).await);
                assert_eq!(s.version, 1);
                assert_eq!(s.score, Some(v));
            }
        }

        // The lead sees the discrepancy waiting for their third read.
        let waiting = ok(app
            .lead(&w)
            .list_results(pb::ListResultsRequest {
                page: None,
                session_id: session.clone(),
                awaiting_third_read_only: true,
            })
            .await)
        .results;
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].portfolio_id, discrepant);
        assert!(
            waiting[0].reason.contains("differ by 3 points"),
            "{}",
            waiting[0].reason
        );
        let lead_reads = ok(app
            .as_person(w.t, w.lead, &[grant(Role::ClusterLead, Some(w.cluster))])
            .list_my_assignments(pb::ListMyAssignmentsRequest {
                page: None,
                session_id: session.clone(),
                pending_only: true,
            })
            .await)
        .assignments;
        assert_eq!(lead_reads.len(), 1);
        assert_eq!(lead_reads[0].kind, pb::ReadKind::Third as i32);
        // Third reads are the lead's, not subject to scorer eligibility.
        let mut req = score(2);
        req.assignment_id = lead_reads[0].id.clone();
        ok(app.lead(&w).submit_score(req).await);

        // Results: the adjacent pair averaged, the discrepancy by third read.
        let results: HashMap<String, pb::Result> = ok(app
            .lead(&w)
            .list_results(pb::ListResultsRequest {
                page: None,
                session_id: session.clone(),
                awaiting_third_read_only: false,
            })
            .await)
        .results
        .into_iter()
        .map(|r| (r.portfolio_id.clone(), r))
        .collect();
        assert_eq!(results.len(), 8);
        assert!(results.values().all(|r| r.state == "resolved"));
        assert_eq!(results[&adjacent].final_score, Some(2.5));
        assert_eq!(results[&adjacent].method, "adjacent_average");
        assert_eq!(results[&discrepant].final_score, Some(2.0));
        assert_eq!(results[&discrepant].method, "third_read");

        // A correction is a new version with its reason; history keeps both.
        let first_reader = mine
            .iter()
            .find_map(|(i, l)| {
                l.iter()
                    .find(|a| a.portfolio_id == adjacent && a.kind == pb::ReadKind::First as i32)
                    .map(|a| (*i, a.id.clone()))
            })
            .unwrap();
        let corrected = ok(app
            .scorer(&w, first_reader.0)
            .correct_score(pb::CorrectScoreRequest {
                assignment_id: first_reader.1.clone(),
                score: Some(2),
                dimensions: vec![pb::DimensionScore {
                    key: "conventions".into(),
                    score: 2,
                }],
                condition_code: None,
                reason: "misread the second piece".into(),
            })
            .await);
        assert_eq!(corrected.version, 2);
        let history = ok(app
            .lead(&w)
            .get_score_history(pb::GetScoreHistoryRequest {
                session_id: session.clone(),
                portfolio_id: adjacent.clone(),
            })
            .await);
        let versions: Vec<(u32, Option<i32>, &str)> = history
            .scores
            .iter()
            .filter(|s| s.assignment_id == first_reader.1)
            .map(|s| (s.version, s.score, s.reason.as_str()))
            .collect();
        assert_eq!(
            versions,
            [(1, Some(3), ""), (2, Some(2), "misread the second piece")]
        );
        let result = history.result.unwrap();
        assert_eq!(
            (result.final_score, result.method.as_str()),
            (Some(2.0), "exact")
        );

        // Progress and backreads (50% of each scorer's reads).
        let progress = ok(app
            .lead(&w)
            .get_session_progress(pb::SessionRef {
                session_id: session.clone(),
            })
            .await);
        assert_eq!((progress.portfolios, progress.resolved), (8, 8));
        let planned = ok(app
            .lead(&w)
            .plan_backreads(pb::SessionRef {
                session_id: session.clone(),
            })
            .await);
        let required: u32 = progress.scorers.iter().map(|s| s.backreads_required).sum();
        assert_eq!(planned.assigned, required);
        assert!(required >= 6, "{required}");
        // Planning again adds nothing: every quota is met.
        let again = ok(app
            .lead(&w)
            .plan_backreads(pb::SessionRef {
                session_id: session.clone(),
            })
            .await);
        assert_eq!(again.assigned, 0);

        // Statistics by scorer and session (exact: 6 of 8 pairs... counted per group).
        let by_session = ok(app
            .lead(&w)
            .get_agreement_stats(pb::GetAgreementStatsRequest {
                group_by: pb::GroupBy::Session as i32,
                academic_year: YEAR,
                session_id: session.clone(),
                cluster_id: String::new(),
            })
            .await)
        .rows;
        assert_eq!(by_session.len(), 1);
        let row = &by_session[0];
        assert_eq!(row.key, session);
        assert_eq!(row.pairs, 4);
        // Pairs now: (4,1), (2,2) after the correction, (3,3), (3,3).
        assert_eq!(row.exact, Some(0.75));
        assert_eq!(row.adjacent, Some(0.75));
        assert_eq!(row.matrix.len(), 4);
        assert_eq!(row.matrix[3].counts, [1, 0, 0, 0]);
        assert!(row.flags.contains(&"too_few_pairs".to_string()));

        // Close: no more scores; the event says what is left.
        let closed = ok(app
            .lead(&w)
            .close_session(pb::SessionRef {
                session_id: session.clone(),
            })
            .await);
        assert_eq!(closed.status, pb::SessionStatus::Closed as i32);
        let mut req = score(3);
        req.assignment_id = first_reader.1.clone();
        let refused = code(
            app.scorer(&w, first_reader.0)
                .correct_score(pb::CorrectScoreRequest {
                    assignment_id: first_reader.1.clone(),
                    score: Some(3),
                    dimensions: req.dimensions.clone(),
                    condition_code: None,
                    reason: "late".into(),
                })
                .await,
            Code::FailedPrecondition,
        );
        assert!(
            refused.message().contains("closed"),
            "{}",
            refused.message()
        );

        // Exports: the school's CSV names its students; the research
        // extract names none and leaves out an opted-out student.
        let csv = ok(app
            .admin(&w)
            .export_school_scores(pb::ExportSchoolScoresRequest {
                academic_year: YEAR,
                school_id: w.schools[0].to_string(),
            })
            .await);
        assert_eq!(csv.rows, 4);
        assert!(csv.csv.starts_with("school_id,student_ref,portfolio_id"));
        assert!(csv.csv.contains("S-0000") && !csv.csv.contains("S-0001"));
        let ms: &dyn collegium_membership::MembershipStore = &app.membership;
        ms.record_opt_out(
            w.t,
            ACTOR,
            m::NewResearchOptOut {
                student_ref: "S-0002".into(),
                organisation_id: w.schools[0],
                recorded_for: "parent".into(),
            },
        )
        .await
        .expect("opt-out");
        // A researcher no agreement covers gets no extract, and nothing is logged.
        let extract_req = || pb::ExportResearchExtractRequest {
            academic_year: YEAR,
        };
        let refused = code(
            app.researcher(&w)
                .export_research_extract(extract_req())
                .await,
            Code::FailedPrecondition,
        );
        assert!(
            refused
                .message()
                .starts_with("no research agreement covers you for scores on "),
            "{}",
            refused.message()
        );
        assert!(disclosures(ms, w.t).await.is_empty());
        // Nor does an expired or a revoked agreement cover them.
        agreement(ms, w.t, w.researcher, -60, -1).await;
        let revoked = agreement(ms, w.t, w.researcher, -30, 30).await;
        ms.revoke_agreement(w.t, ACTOR, revoked)
            .await
            .expect("revoked");
        code(
            app.researcher(&w)
                .export_research_extract(extract_req())
                .await,
            Code::FailedPrecondition,
        );
        assert!(disclosures(ms, w.t).await.is_empty());
        // Covered, the researcher gets it and the disclosure is logged.
        let covering = agreement(ms, w.t, w.researcher, -30, 30).await;
        let extract = ok(app
            .researcher(&w)
            .export_research_extract(extract_req())
            .await);
        assert_eq!((extract.rows, extract.excluded), (7, 1));
        assert!(!extract.csv.contains("S-0"), "no student ids in an extract");
        assert!(extract.csv.starts_with("research_id,school_id,grade_level"));
        let logged = disclosures(ms, w.t).await;
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert_eq!(
            (
                logged[0].agreement_id,
                logged[0].recipient_id,
                logged[0].scope,
                logged[0].dataset.as_str(),
                logged[0].rows,
                logged[0].excluded
            ),
            (
                Some(covering),
                w.researcher,
                m::DataScope::Scores,
                "scores, academic year 2026",
                7,
                1
            )
        );
        // A tenant admin's extract is logged too, under no agreement.
        let own = ok(app.admin(&w).export_research_extract(extract_req()).await);
        assert_eq!(own.rows, 7);
        let logged = disclosures(ms, w.t).await;
        assert_eq!(
            logged
                .iter()
                .map(|d| (d.recipient_id, d.agreement_id))
                .collect::<Vec<_>>(),
            vec![(w.researcher, Some(covering)), (w.admin, None)]
        );
        // Fails closed: when the disclosure cannot be logged (an admin the
        // directory does not know), no extract is given.
        code(
            app.as_person(w.t, Uuid::now_v7(), &[grant(Role::TenantAdmin, None)])
                .export_research_extract(extract_req())
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(disclosures(ms, w.t).await.len(), 2);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_and_ineligible_scorers_get_reasons_and_nothing_is_written() {
    bounded(async {
        let app = spawn_app().await;
        let w = world(&app, "beta").await;

        let mut bad = rubric_req();
        bad.score_points[2].value = 7;
        bad.condition_codes[0].code = "Blank!".into();
        let s = code(
            app.admin(&w).create_rubric(bad).await,
            Code::InvalidArgument,
        );
        assert_eq!(
            fields(&s),
            [
                "score_points[2].value",
                "score_points[3].value",
                "condition_codes[0].code"
            ]
        );
        assert!(
            ok(app
                .admin(&w)
                .list_rubrics(pb::ListRubricsRequest::default())
                .await)
            .rubrics
            .is_empty()
        );

        let (_rubric, session, all_folders) = scored_setup(&app, &w, 4, 0.0).await;
        // Scorer 4 is untrained: their eligibility says so, to them and the lead.
        for client in [app.scorer(&w, 4), app.lead(&w)] {
            let e = ok(client
                .clone()
                .get_eligibility(pb::GetEligibilityRequest {
                    session_id: session.clone(),
                    scorer_id: w.scorers[4].to_string(),
                })
                .await);
            assert!(!e.eligible && !e.trained);
            assert_eq!(e.reasons.len(), 1);
        }
        // …but not to another scorer.
        code(
            app.scorer(&w, 0)
                .get_eligibility(pb::GetEligibilityRequest {
                    session_id: session.clone(),
                    scorer_id: w.scorers[4].to_string(),
                })
                .await,
            Code::PermissionDenied,
        );

        ok(app
            .lead(&w)
            .assign_session(pb::AssignSessionRequest {
                session_id: session.clone(),
                scorer_ids: vec![w.scorers[0].to_string(), w.scorers[2].to_string()],
            })
            .await);
        let a = my_pending(&app, &w, 0, &session).await.remove(0);
        // Out of range, unknown dimension, both a score and a code.
        let mut req = score(5);
        req.assignment_id = a.id.clone();
        req.dimensions.push(pb::DimensionScore {
            key: "voice".into(),
            score: 1,
        });
        let s = code(
            app.scorer(&w, 0).submit_score(req).await,
            Code::InvalidArgument,
        );
        assert_eq!(fields(&s), ["score", "dimensions[1].key"]);
        let mut req = score(2);
        req.assignment_id = a.id.clone();
        req.condition_code = Some("blank".into());
        let s = code(
            app.scorer(&w, 0).submit_score(req).await,
            Code::InvalidArgument,
        );
        assert_eq!(fields(&s), ["condition_code"]);
        // Someone else's read.
        let mut req = score(2);
        req.assignment_id = a.id.clone();
        code(
            app.scorer(&w, 2).submit_score(req).await,
            Code::PermissionDenied,
        );
        // A correction before any score, and a correction without a reason.
        let correction = |reason: &str| pb::CorrectScoreRequest {
            assignment_id: a.id.clone(),
            score: Some(2),
            dimensions: score(2).dimensions,
            condition_code: None,
            reason: reason.into(),
        };
        let s = code(
            app.scorer(&w, 0).correct_score(correction("")).await,
            Code::InvalidArgument,
        );
        assert_eq!(fields(&s), ["reason"]);
        code(
            app.scorer(&w, 0).correct_score(correction("oops")).await,
            Code::FailedPrecondition,
        );
        // Nothing was written by any of that.
        let history = ok(app
            .lead(&w)
            .get_score_history(pb::GetScoreHistoryRequest {
                session_id: session.clone(),
                portfolio_id: a.portfolio_id.clone(),
            })
            .await);
        assert!(history.scores.is_empty());
        // A condition code is a valid read; submitting twice is a conflict.
        let mut req = score(2);
        req.assignment_id = a.id.clone();
        req.score = None;
        req.dimensions.clear();
        req.condition_code = Some("blank".into());
        ok(app.scorer(&w, 0).submit_score(req.clone()).await);
        code(
            app.scorer(&w, 0).submit_score(req).await,
            Code::AlreadyExists,
        );

        // Session input: bad shares, rule and ids, named.
        let s = code(
            app.lead(&w)
                .create_session(pb::CreateSessionRequest {
                    event_id: "nope".into(),
                    rubric_id: Uuid::now_v7().to_string(),
                    cluster_id: w.cluster.to_string(),
                    academic_year: YEAR,
                    name: " ".into(),
                    second_read_share: Some(1.5),
                    backread_share: None,
                    allow_own_school: false,
                    resolution_rule: "majority".into(),
                    calibration_since: None,
                    lead_id: String::new(),
                })
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(
            fields(&s),
            ["event_id", "name", "second_read_share", "resolution_rule"]
        );
        // A lead of another cluster runs nothing here.
        let other = app.as_person(
            w.t,
            w.scorers[1],
            &[grant(Role::ClusterLead, Some(w.other_cluster))],
        );
        code(
            other
                .clone()
                .close_session(pb::SessionRef {
                    session_id: session.clone(),
                })
                .await,
            Code::PermissionDenied,
        );
        // Teachers see no student ids, and no folders outside their reads.
        let folders = ok(app
            .scorer(&w, 0)
            .get_portfolios(pb::GetByIdsRequest {
                ids: all_folders.clone(),
            })
            .await)
        .portfolios;
        // 4 folders, 2 per school, no second reads: scorer 0 (school A)
        // reads school B's two.
        assert_eq!(folders.len(), 2, "only the folders scorer 0 reads");
        assert!(folders.iter().any(|f| f.id == a.portfolio_id));
        assert!(
            folders
                .iter()
                .all(|f| f.student_ref.is_empty() && f.school_id == w.schools[1].to_string())
        );
        code(
            app.scorer(&w, 0)
                .list_portfolios(pb::ListPortfoliosRequest::default())
                .await,
            Code::PermissionDenied,
        );
        code(
            app.scorer(&w, 0).create_rubric(rubric_req()).await,
            Code::PermissionDenied,
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_and_second_readers_submitting_at_once_never_lose_a_read() {
    bounded(async {
        let app = spawn_app().await;
        let w = world(&app, "gamma").await;
        let (_, session, _) = scored_setup(&app, &w, 12, 1.0).await;
        ok(app
            .lead(&w)
            .assign_session(pb::AssignSessionRequest {
                session_id: session.clone(),
                scorer_ids: w.scorers[..4].iter().map(Uuid::to_string).collect(),
            })
            .await);
        // Every read of every portfolio submitted concurrently.
        let mut tasks = Vec::new();
        for i in 0..4 {
            for a in my_pending(&app, &w, i, &session).await {
                let client = app.scorer(&w, i);
                let mut req = score(if a.kind == pb::ReadKind::First as i32 {
                    3
                } else {
                    2
                });
                req.assignment_id = a.id.clone();
                tasks.push(tokio::spawn(async move {
                    let mut c = client;
                    c.submit_score(req).await.map(|_| ())
                }));
            }
        }
        assert_eq!(tasks.len(), 24);
        for t in tasks {
            t.await.unwrap().expect("every submission is accepted");
        }
        let results = ok(app
            .lead(&w)
            .list_results(pb::ListResultsRequest {
                page: None,
                session_id: session.clone(),
                awaiting_third_read_only: false,
            })
            .await)
        .results;
        assert_eq!(results.len(), 12);
        for r in &results {
            assert_eq!(
                (r.state.as_str(), r.final_score),
                ("resolved", Some(2.5)),
                "{r:?}"
            );
        }
        // The same read corrected twice at once: one version 2, one conflict.
        let a = ok(app
            .scorer(&w, 0)
            .list_my_assignments(pb::ListMyAssignmentsRequest {
                page: None,
                session_id: session.clone(),
                pending_only: false,
            })
            .await)
        .assignments
        .remove(0);
        let fix = |v: i32| pb::CorrectScoreRequest {
            assignment_id: a.id.clone(),
            score: Some(v),
            dimensions: score(v).dimensions,
            condition_code: None,
            reason: format!("to {v}"),
        };
        let (mut c1, mut c2) = (app.scorer(&w, 0), app.scorer(&w, 0));
        let (x, y) = tokio::join!(c1.correct_score(fix(1)), c2.correct_score(fix(4)));
        let outcomes = [
            x.map(|r| r.into_inner().version),
            y.map(|r| r.into_inner().version),
        ];
        let versions: Vec<u32> = outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok().copied())
            .collect();
        let conflicts = outcomes
            .iter()
            .filter(|o| o.as_ref().is_err_and(|s| s.code() == Code::AlreadyExists))
            .count();
        // Serialised by the row lock, both can succeed (v2 then v3); never two v2s.
        assert!(
            versions == [2, 3] || versions == [3, 2] || (versions.len() == 1 && conflicts == 1),
            "{versions:?}"
        );
        let history = ok(app
            .lead(&w)
            .get_score_history(pb::GetScoreHistoryRequest {
                session_id: session.clone(),
                portfolio_id: a.portfolio_id.clone(),
            })
            .await);
        let mut seen: Vec<u32> = history
            .scores
            .iter()
            .filter(|s| s.assignment_id == a.id)
            .map(|s| s.version)
            .collect();
        seen.sort();
        let expected: Vec<u32> = (1..=(1 + versions.len() as u32)).collect();
        assert_eq!(seen, expected);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_tenant_sees_and_changes_nothing() {
    bounded(async {
        let app = spawn_app().await;
        let a = world(&app, "delta").await;
        let b = world(&app, "epsilon").await;
        let (rubric, session, portfolios) = scored_setup(&app, &a, 4, 1.0).await;
        ok(app
            .lead(&a)
            .assign_session(pb::AssignSessionRequest {
                session_id: session.clone(),
                scorer_ids: a.scorers[..4].iter().map(Uuid::to_string).collect(),
            })
            .await);
        let read = my_pending(&app, &a, 0, &session).await.remove(0);
        let mut req = score(3);
        req.assignment_id = read.id.clone();
        ok(app.scorer(&a, 0).submit_score(req).await);

        // B's admin (who may do everything in B) asks with A's ids.
        let mut admin = app.admin(&b);
        let ids = |v: &[String]| pb::GetByIdsRequest { ids: v.to_vec() };
        assert!(
            ok(admin.get_rubrics(ids(std::slice::from_ref(&rubric))).await)
                .rubrics
                .is_empty()
        );
        assert!(
            ok(admin.get_portfolios(ids(&portfolios)).await)
                .portfolios
                .is_empty()
        );
        assert!(
            ok(admin
                .get_sessions(ids(std::slice::from_ref(&session)))
                .await)
            .sessions
            .is_empty()
        );
        assert!(
            ok(admin.list_rubrics(pb::ListRubricsRequest::default()).await)
                .rubrics
                .is_empty()
        );
        assert!(
            ok(admin
                .list_portfolios(pb::ListPortfoliosRequest::default())
                .await)
            .portfolios
            .is_empty()
        );
        assert!(
            ok(admin
                .list_sessions(pb::ListSessionsRequest::default())
                .await)
            .sessions
            .is_empty()
        );
        let sref = || pb::SessionRef {
            session_id: session.clone(),
        };
        code(
            admin
                .list_anchor_papers(pb::RubricRef {
                    rubric_id: rubric.clone(),
                })
                .await,
            Code::NotFound,
        );
        code(
            admin
                .add_anchor_paper(pb::AddAnchorPaperRequest {
                    rubric_id: rubric.clone(),
                    score_point: 1,
                    title: "x".into(),
                    work_ref: "x".into(),
                    annotation: "x".into(),
                })
                .await,
            Code::NotFound,
        );
        code(
            admin
                .list_qualification_sets(pb::ListQualificationSetsRequest {
                    rubric_id: rubric.clone(),
                    academic_year: 0,
                })
                .await,
            Code::NotFound,
        );
        code(admin.get_session_progress(sref()).await, Code::NotFound);
        code(admin.plan_backreads(sref()).await, Code::NotFound);
        code(admin.close_session(sref()).await, Code::NotFound);
        code(
            admin
                .add_session_portfolios(pb::AddSessionPortfoliosRequest {
                    session_id: session.clone(),
                    portfolio_ids: portfolios.clone(),
                })
                .await,
            Code::NotFound,
        );
        code(
            admin
                .assign_session(pb::AssignSessionRequest {
                    session_id: session.clone(),
                    scorer_ids: vec![b.scorers[0].to_string()],
                })
                .await,
            Code::NotFound,
        );
        code(
            admin
                .get_eligibility(pb::GetEligibilityRequest {
                    session_id: session.clone(),
                    scorer_id: a.scorers[0].to_string(),
                })
                .await,
            Code::NotFound,
        );
        code(
            admin
                .list_session_assignments(pb::ListSessionAssignmentsRequest {
                    page: None,
                    session_id: session.clone(),
                    scorer_id: String::new(),
                })
                .await,
            Code::NotFound,
        );
        code(
            admin
                .get_score_history(pb::GetScoreHistoryRequest {
                    session_id: session.clone(),
                    portfolio_id: read.portfolio_id.clone(),
                })
                .await,
            Code::NotFound,
        );
        code(
            admin
                .list_results(pb::ListResultsRequest {
                    page: None,
                    session_id: session.clone(),
                    awaiting_third_read_only: false,
                })
                .await,
            Code::NotFound,
        );
        // B's own person with A's assignment id: not found, nothing written.
        let mut req = score(2);
        req.assignment_id = read.id.clone();
        code(app.scorer(&b, 0).submit_score(req).await, Code::NotFound);
        code(
            app.scorer(&b, 0)
                .correct_score(pb::CorrectScoreRequest {
                    assignment_id: read.id.clone(),
                    score: Some(2),
                    dimensions: score(2).dimensions,
                    condition_code: None,
                    reason: "x".into(),
                })
                .await,
            Code::NotFound,
        );
        assert!(my_pending(&app, &b, 1, "").await.is_empty());
        code(
            app.scorer(&b, 0)
                .submit_qualification_attempt(pb::SubmitQualificationAttemptRequest {
                    set_id: Uuid::now_v7().to_string(),
                    scores: vec![],
                })
                .await,
            Code::NotFound,
        );
        // A session in B cannot use A's rubric.
        code(
            app.lead(&b)
                .create_session(pb::CreateSessionRequest {
                    event_id: b.event.to_string(),
                    rubric_id: rubric.clone(),
                    cluster_id: b.cluster.to_string(),
                    academic_year: YEAR,
                    name: "x".into(),
                    second_read_share: None,
                    backread_share: None,
                    allow_own_school: false,
                    resolution_rule: String::new(),
                    calibration_since: None,
                    lead_id: String::new(),
                })
                .await,
            Code::NotFound,
        );
        code(
            admin
                .create_qualification_set(pb::CreateQualificationSetRequest {
                    rubric_id: rubric.clone(),
                    academic_year: YEAR,
                    kind: pb::SetKind::Qualifying as i32,
                    name: "x".into(),
                    papers: vec![],
                })
                .await,
            Code::NotFound,
        );
        // B cannot file folders under A's school, nor run a session of A's cluster.
        let s = code(
            admin
                .create_portfolios(pb::CreatePortfoliosRequest {
                    portfolios: vec![pb::NewPortfolio {
                        student_ref: "B-1".into(),
                        school_id: a.schools[0].to_string(),
                        grade_level: 4,
                        academic_year: YEAR,
                        pieces: vec![],
                    }],
                })
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(fields(&s), ["portfolios[0].school_id"]);
        let b_rubric = ok(admin.create_rubric(rubric_req()).await);
        let session_in = |cluster: Uuid, lead: Option<Uuid>| pb::CreateSessionRequest {
            event_id: b.event.to_string(),
            rubric_id: b_rubric.id.clone(),
            cluster_id: cluster.to_string(),
            academic_year: YEAR,
            name: "x".into(),
            second_read_share: None,
            backread_share: None,
            allow_own_school: false,
            resolution_rule: String::new(),
            calibration_since: None,
            lead_id: lead.map(|l| l.to_string()).unwrap_or_default(),
        };
        let s = code(
            admin.create_session(session_in(a.cluster, None)).await,
            Code::InvalidArgument,
        );
        assert_eq!(fields(&s), ["event_id"], "B's event is not of A's cluster");
        // A tenant-wide scoring session event of B, with A's cluster named.
        let mut wide = event(
            s::EventKind::ScoringSession,
            b.cluster,
            Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap(),
            0,
        );
        wide.cluster_id = None;
        let sched: &dyn collegium_scheduling::store::SchedulingStore = &app.scheduling;
        let wide = sched
            .create_events(b.t, ACTOR, vec![wide])
            .await
            .unwrap()
            .remove(0);
        let mut req = session_in(a.cluster, None);
        req.event_id = wide.id.to_string();
        let s = code(admin.create_session(req).await, Code::InvalidArgument);
        assert_eq!(fields(&s), ["cluster_id"]);
        let s = code(
            admin
                .create_session(session_in(b.cluster, Some(a.lead)))
                .await,
            Code::InvalidArgument,
        );
        assert_eq!(fields(&s), ["lead_id"]);

        // Statistics, promotion and exports of B hold none of A's scores.
        for group_by in [pb::GroupBy::Scorer, pb::GroupBy::Session, pb::GroupBy::Year] {
            let rows = ok(admin
                .get_agreement_stats(pb::GetAgreementStatsRequest {
                    group_by: group_by as i32,
                    academic_year: YEAR,
                    session_id: String::new(),
                    cluster_id: String::new(),
                })
                .await)
            .rows;
            assert!(rows.is_empty(), "{group_by:?}: {rows:?}");
        }
        code(
            admin
                .get_agreement_stats(pb::GetAgreementStatsRequest {
                    group_by: pb::GroupBy::Scorer as i32,
                    academic_year: 0,
                    session_id: session.clone(),
                    cluster_id: String::new(),
                })
                .await,
            Code::NotFound,
        );
        let promoted = ok(admin
            .promote_portfolios(pb::PromotePortfoliosRequest {
                from_year: YEAR,
                final_grade: None,
            })
            .await);
        assert_eq!(promoted.promoted, 0);
        let export = ok(admin
            .export_school_scores(pb::ExportSchoolScoresRequest {
                academic_year: YEAR,
                school_id: String::new(),
            })
            .await);
        assert_eq!(export.rows, 0);
        // B's researcher: A's agreement does not cover them; B's own does,
        // and their extract holds none of A's scores.
        let ms: &dyn collegium_membership::MembershipStore = &app.membership;
        agreement(ms, a.t, a.researcher, -30, 30).await;
        code(
            app.researcher(&b)
                .export_research_extract(pb::ExportResearchExtractRequest {
                    academic_year: YEAR,
                })
                .await,
            Code::FailedPrecondition,
        );
        agreement(ms, b.t, b.researcher, -30, 30).await;
        let extract = ok(app
            .researcher(&b)
            .export_research_extract(pb::ExportResearchExtractRequest {
                academic_year: YEAR,
            })
            .await);
        assert_eq!(extract.rows, 0);
        assert!(disclosures(ms, a.t).await.is_empty(), "B's extract is B's");
        assert_eq!(disclosures(ms, b.t).await.len(), 1);
        // A token for tenant A does not make B's rows A's, and A still has its own.
        assert_eq!(
            ok(app.admin(&a).get_portfolios(ids(&portfolios)).await)
                .portfolios
                .len(),
            4
        );
        // A forged token gets nothing.
        let forged = app.client("eyJhbGciOiJFZERTQSJ9.eyJ0aWQiOiJ4In0.c2ln");
        code(
            forged
                .clone()
                .list_rubrics(pb::ListRubricsRequest::default())
                .await,
            Code::Unauthenticated,
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_an_admin_exports_and_erases_a_person_and_only_in_their_tenant() {
    bounded(async {
        let app = spawn_app().await;
        let a = world(&app, "zeta").await;
        let b = world(&app, "eta").await;
        let (_rubric, session, _portfolios) = scored_setup(&app, &a, 2, 1.0).await;
        ok(app
            .lead(&a)
            .assign_session(pb::AssignSessionRequest {
                session_id: session.clone(),
                scorer_ids: a.scorers[..2].iter().map(Uuid::to_string).collect(),
            })
            .await);
        let read = my_pending(&app, &a, 0, &session).await.remove(0);
        let mut req = score(3);
        req.assignment_id = read.id.clone();
        ok(app.scorer(&a, 0).submit_score(req).await);
        ok(app
            .scorer(&a, 0)
            .correct_score(pb::CorrectScoreRequest {
                assignment_id: read.id.clone(),
                score: Some(2),
                dimensions: vec![pb::DimensionScore {
                    key: "conventions".into(),
                    score: 2,
                }],
                condition_code: None,
                reason: "Sam's private second thoughts".into(),
            })
            .await);
        let person = collegium_proto::common::v1::PersonDataRequest {
            person_id: a.scorers[0].to_string(),
        };
        let doc = |d: &collegium_proto::common::v1::PersonData| -> serde_json::Value {
            assert_eq!(d.service, "scoring");
            serde_json::from_str(&d.json).expect("the export is JSON")
        };
        let zeros =
            |r: &collegium_proto::common::v1::ErasureReport| r.counts.iter().all(|c| c.count == 0);

        // A teacher (even about themselves) is refused; so is a lead.
        code(
            app.scorer(&a, 0).export_person_data(person.clone()).await,
            Code::PermissionDenied,
        );
        code(
            app.scorer(&a, 0).erase_person_data(person.clone()).await,
            Code::PermissionDenied,
        );
        code(
            app.lead(&a).erase_person_data(person.clone()).await,
            Code::PermissionDenied,
        );
        code(
            app.admin(&a)
                .export_person_data(collegium_proto::common::v1::PersonDataRequest {
                    person_id: "nope".into(),
                })
                .await,
            Code::InvalidArgument,
        );

        // B's admin with A's person: nothing, and nothing erased.
        let from_b = doc(&ok(app.admin(&b).export_person_data(person.clone()).await));
        assert_eq!(from_b["scores"], serde_json::json!([]));
        assert_eq!(from_b["assignments"], serde_json::json!([]));
        let report = ok(app.admin(&b).erase_person_data(person.clone()).await);
        assert!(zeros(&report), "{report:?}");

        // A's admin: everything of theirs, with the reason…
        let before = doc(&ok(app.admin(&a).export_person_data(person.clone()).await));
        assert_eq!(before["scores"].as_array().unwrap().len(), 2);
        assert_eq!(
            before["qualification_attempts"].as_array().unwrap().len(),
            1
        );
        assert!(before.to_string().contains("private second thoughts"));
        // …erased once: the reason blanked, the scores kept.
        let report = ok(app.admin(&a).erase_person_data(person.clone()).await);
        assert_eq!(report.service, "scoring");
        let blanked = report
            .counts
            .iter()
            .find(|c| c.kind == "score_reasons_blanked")
            .unwrap();
        assert_eq!(blanked.count, 1, "{report:?}");
        // The audit snapshots of both their score versions lose the text.
        let scrubbed = report
            .counts
            .iter()
            .find(|c| c.kind == "audit_snapshots_scrubbed")
            .unwrap();
        assert_eq!(scrubbed.count, 2, "{report:?}");
        let after = doc(&ok(app.admin(&a).export_person_data(person.clone()).await));
        assert_eq!(after["scores"].as_array().unwrap().len(), 2);
        assert!(!after.to_string().contains("private second thoughts"));
        let again = ok(app.admin(&a).erase_person_data(person.clone()).await);
        assert!(zeros(&again), "{again:?}");
    })
    .await;
}

// ------------------------------------------------------------------ retention

/// An ApplyRetention request with cutoffs `days` days ago per category.
fn retention(cutoffs: &[(&str, i64)], dry_run: bool) -> common::ApplyRetentionRequest {
    common::ApplyRetentionRequest {
        cutoffs: cutoffs
            .iter()
            .map(|(category, days)| common::RetentionCutoff {
                category: category.to_string(),
                before: (Utc::now() - chrono::Duration::days(*days)).to_rfc3339(),
            })
            .collect(),
        dry_run,
    }
}

/// A report's counts as (category, kind, action, count).
fn counted(r: &common::RetentionReport) -> Vec<(&str, &str, &str, u64)> {
    r.counts
        .iter()
        .map(|c| {
            (
                c.category.as_str(),
                c.kind.as_str(),
                c.action.as_str(),
                c.count,
            )
        })
        .collect()
}

/// Makes folders of tenant `t` look created 800 days ago (no API does;
/// through scoring's own pool, as its app role).
async fn backdate(app: &TestApp, t: TenantId, folders: &[String]) {
    let mut tx = app.scoring.pool().begin_tenant(t).await.expect("begin");
    for id in folders {
        let n =
            sqlx::query("UPDATE portfolios SET created_at = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(t.0)
                .bind(Uuid::parse_str(id).unwrap())
                .bind(Utc::now() - chrono::Duration::days(800))
                .execute(&mut *tx)
                .await
                .expect("backdated")
                .rows_affected();
        assert_eq!(n, 1, "folder {id} of the tenant");
    }
    tx.commit().await.expect("commit");
}

/// `n` folders scored once each (no second reads) in a session that is
/// then closed: (session id, folder ids).
async fn scored_and_closed(app: &TestApp, w: &World, n: usize) -> (String, Vec<String>) {
    let (_rubric, session, portfolios) = scored_setup(app, w, n, 0.0).await;
    let report = ok(app
        .lead(w)
        .assign_session(pb::AssignSessionRequest {
            session_id: session.clone(),
            scorer_ids: w.scorers[..4].iter().map(Uuid::to_string).collect(),
        })
        .await);
    assert_eq!(report.assigned as usize, n);
    for i in 0..4 {
        for a in my_pending(app, w, i, &session).await {
            let mut req = score(3);
            req.assignment_id = a.id.clone();
            ok(app.scorer(w, i).submit_score(req).await);
        }
    }
    ok(app
        .lead(w)
        .close_session(pb::SessionRef {
            session_id: session.clone(),
        })
        .await);
    (session, portfolios)
}

async fn portfolios_of(client: &mut Client, ids: &[String]) -> Vec<pb::Portfolio> {
    let mut list = ok(client
        .get_portfolios(pb::GetByIdsRequest { ids: ids.to_vec() })
        .await)
    .portfolios;
    list.sort_by(|x, y| x.id.cmp(&y.id));
    list
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_an_admin_or_a_service_applies_retention_and_bad_cutoffs_name_their_field() {
    bounded(async {
        let app = spawn_app().await;
        let w = world(&app, "theta").await;
        let fine = || retention(&[("student_work", 400), ("audit_log", 400)], true);

        // A teacher, a cluster lead and a researcher are refused.
        code(
            app.scorer(&w, 0).apply_retention(fine()).await,
            Code::PermissionDenied,
        );
        code(
            app.lead(&w).apply_retention(fine()).await,
            Code::PermissionDenied,
        );
        code(
            app.researcher(&w).apply_retention(fine()).await,
            Code::PermissionDenied,
        );

        // Bad cutoffs name their field, however the caller may act.
        let mut admin = app.admin(&w);
        for (req, field) in [
            // Student work is kept at least 365 days.
            (
                retention(&[("student_work", 100)], false),
                "cutoffs[0].before",
            ),
            (
                retention(&[("everything", 400)], false),
                "cutoffs[0].category",
            ),
            (
                retention(&[("audit_log", 400), ("audit_log", 500)], false),
                "cutoffs[1].category",
            ),
            (
                common::ApplyRetentionRequest {
                    cutoffs: vec![common::RetentionCutoff {
                        category: "student_work".into(),
                        before: "last year".into(),
                    }],
                    dry_run: false,
                },
                "cutoffs[0].before",
            ),
        ] {
            let refused = code(admin.apply_retention(req).await, Code::InvalidArgument);
            assert_eq!(fields(&refused), [field], "{}", refused.message());
        }
        let young = code(
            admin
                .apply_retention(retention(&[("student_work", 100)], false))
                .await,
            Code::InvalidArgument,
        );
        assert!(
            young.message().contains("at least 365 days"),
            "{}",
            young.message()
        );

        // The retention job's service token may; so may the admin. Every
        // kind of the categories scoring holds is reported, zeros too;
        // other services' categories are ignored.
        let mut job = app.client(&app.issuer.signer.service_token("retention", w.t));
        let report = ok(job
            .apply_retention(retention(
                &[
                    ("published_events", 30),
                    ("event_feedback", 400),
                    ("student_work", 400),
                ],
                false,
            ))
            .await);
        assert_eq!(report.service, "scoring");
        assert!(!report.dry_run);
        assert_eq!(
            counted(&report),
            [
                ("student_work", "portfolios", "anonymised", 0),
                ("published_events", "outbox_events", "deleted", 0),
            ]
        );
        let report = ok(admin.apply_retention(fine()).await);
        assert!(report.dry_run);
        assert_eq!(
            counted(&report),
            [
                ("student_work", "portfolios", "anonymised", 0),
                ("audit_log", "audit_records", "deleted", 0),
            ]
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_anonymises_the_callers_old_folders_only_and_a_dry_run_changes_nothing() {
    bounded(async {
        let app = spawn_app().await;
        let a = world(&app, "iota").await;
        let b = world(&app, "kappa").await;
        let (_session, folders) = scored_and_closed(&app, &a, 4).await;
        let (_b_session, b_folders) = scored_and_closed(&app, &b, 4).await;
        // A's first two folders (one of each school) are old; all of B's are.
        backdate(&app, a.t, &folders[..2]).await;
        backdate(&app, b.t, &b_folders).await;
        let a_before = portfolios_of(&mut app.admin(&a), &folders).await;
        let b_before = portfolios_of(&mut app.admin(&b), &b_folders).await;
        assert!(a_before.iter().all(|p| p.student_ref.starts_with("S-")));
        let cutoffs = [("student_work", 400), ("audit_log", 400)];

        // A dry run reports and changes nothing.
        let dry = ok(app
            .admin(&a)
            .apply_retention(retention(&cutoffs, true))
            .await);
        assert!(dry.dry_run);
        let expected = [
            ("student_work", "portfolios", "anonymised", 2),
            ("audit_log", "audit_records", "deleted", 0),
        ];
        assert_eq!(counted(&dry), expected);
        assert_eq!(portfolios_of(&mut app.admin(&a), &folders).await, a_before);

        // The real run does what the dry run said, in A only.
        let applied = ok(app
            .admin(&a)
            .apply_retention(retention(&cutoffs, false))
            .await);
        assert!(!applied.dry_run);
        assert_eq!(counted(&applied), expected);
        for client in [app.admin(&a), app.lead(&a)] {
            let mut client = client;
            let now = portfolios_of(&mut client, &folders).await;
            for (p, before) in now.iter().zip(&a_before) {
                if folders[..2].contains(&p.id) {
                    assert_eq!(p.student_ref, "", "no student id is left to show");
                    assert!(p.pieces.is_empty(), "no work is left");
                    assert_eq!(
                        (p.school_id.as_str(), p.grade_level, p.academic_year),
                        (
                            before.school_id.as_str(),
                            before.grade_level,
                            before.academic_year
                        )
                    );
                } else {
                    assert_eq!(p, before, "a recent folder keeps everything");
                }
            }
            let listed = ok(client
                .list_portfolios(pb::ListPortfoliosRequest::default())
                .await)
            .portfolios;
            assert_eq!(listed.len(), 4);
            assert_eq!(
                listed.iter().filter(|p| p.student_ref.is_empty()).count(),
                2
            );
        }
        // B's equally old folders are untouched, and still due in B.
        assert_eq!(
            portfolios_of(&mut app.admin(&b), &b_folders).await,
            b_before
        );
        let b_dry = ok(app
            .admin(&b)
            .apply_retention(retention(&cutoffs, true))
            .await);
        assert_eq!(b_dry.counts[0].count, 4);

        // The scores stay: the school's export still lists the anonymised
        // folder (with no student id), the research extract leaves it out.
        let csv = ok(app
            .admin(&a)
            .export_school_scores(pb::ExportSchoolScoresRequest {
                academic_year: YEAR,
                school_id: a.schools[0].to_string(),
            })
            .await);
        assert_eq!(csv.rows, 2);
        assert!(csv.csv.contains(&folders[0]) && csv.csv.contains(&folders[2]));
        assert!(!csv.csv.contains("S-0000") && csv.csv.contains("S-0002"));
        let line = csv.csv.lines().find(|l| l.contains(&folders[0])).unwrap();
        assert!(
            line.starts_with(&format!("{},,{}", a.schools[0], folders[0])),
            "{line}"
        );
        let extract = ok(app
            .admin(&a)
            .export_research_extract(pb::ExportResearchExtractRequest {
                academic_year: YEAR,
            })
            .await);
        assert_eq!(
            (extract.rows, extract.excluded),
            (2, 2),
            "anonymised folders are left out: their opt-outs cannot be checked"
        );
        assert_eq!(extract.csv.lines().count(), 3, "a header and two rows");
        let logged = disclosures(&app.membership, a.t).await;
        assert_eq!((logged[0].rows, logged[0].excluded), (2, 2));

        // Promotion moves the recent folders on, not the anonymised ones.
        let promoted = ok(app
            .admin(&a)
            .promote_portfolios(pb::PromotePortfoliosRequest {
                from_year: YEAR,
                final_grade: None,
            })
            .await);
        assert_eq!(
            (
                promoted.promoted,
                promoted.already_promoted,
                promoted.graduated
            ),
            (2, 0, 0)
        );

        // A second run has nothing left to do.
        let again = ok(app
            .admin(&a)
            .apply_retention(retention(&cutoffs, false))
            .await);
        assert_eq!(
            counted(&again),
            [
                ("student_work", "portfolios", "anonymised", 0),
                ("audit_log", "audit_records", "deleted", 0),
            ]
        );
    })
    .await
}
