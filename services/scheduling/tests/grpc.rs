//! The scheduling gRPC API, black-box: the real membership and scheduling
//! servers on port 0, each over its own fresh PostgreSQL database (as its app
//! role), called with the generated clients and bearer tokens from one test
//! issuer. Membership is seeded through its store; everything in scheduling
//! goes through the API. Recurrence across a DST change, bad input, audiences
//! resolved through membership, the waiting list, attendance as training
//! evidence, compliance, materials, claims, feedback, calendar feeds without a
//! bearer token, authorisation, and tenant isolation of every RPC.

use std::{fmt::Debug, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use collegium_membership::domain as m;
use collegium_proto::{
    common::v1::{self as common, PageRequest},
    scheduling::v1::{
        self as pb, calendar_feed_service_client::CalendarFeedServiceClient,
        scheduling_service_client::SchedulingServiceClient,
    },
};
use collegium_scheduling::{
    FEED_GRPC_SERVICE, GRPC_SERVICE, MaterialStore, SchedulingRuntime,
    store::{SchedulingStore, postgres},
};
use platform::{
    auth::{Grant, PersonId, Role, TenantId},
    db::TenantPool,
    error::Error,
    grpc::ForwardCaller,
};
use testkit::{TestDatabase, TestIssuer};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::{
    Code, Response, Status,
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use uuid::Uuid;

type Client = SchedulingServiceClient<InterceptedService<Channel, ForwardCaller>>;

const ACTOR: &str = "0190f000-0000-7000-8000-00000000ad01";
const ZONE: &str = "Europe/London";
const TEST_TIME_LIMIT: Duration = Duration::from_secs(180);
const BIG: usize = 64 * 1024 * 1024;
/// Minutes in 30 days: far enough ahead for answers to be accepted.
const MONTH: i64 = 30 * 24 * 60;

async fn bounded<F: Future>(body: F) -> F::Output {
    tokio::time::timeout(TEST_TIME_LIMIT, body)
        .await
        .expect("the test did not finish within its time limit")
}

// ------------------------------------------------------------------ the servers

/// Both servers of one test, their databases and the issuer of their tokens.
struct TestApp {
    addr: SocketAddr,
    membership: collegium_membership::store::postgres::Store,
    store: postgres::Store,
    issuer: TestIssuer,
    shutdown: Vec<oneshot::Sender<()>>,
    _dbs: (TestDatabase, TestDatabase),
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (m_stop, m_stopped) = oneshot::channel::<()>();
    let m_running = collegium_membership::start(
        listener,
        Arc::new(membership.clone()),
        issuer.verifier.clone(),
        async move {
            let _ = m_stopped.await;
        },
    )
    .await
    .expect("membership starts");

    let sdb = TestDatabase::migrated(
        collegium_scheduling::SCHEMA,
        &collegium_scheduling::POSTGRES_MIGRATIONS,
    )
    .await
    .expect("scheduling database");
    let store = collegium_scheduling::open_postgres(&sdb.app_url(collegium_scheduling::SCHEMA), 4)
        .await
        .expect("scheduling store");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (s_stop, s_stopped) = oneshot::channel::<()>();
    let running = collegium_scheduling::start(
        listener,
        Arc::new(store.clone()),
        issuer.verifier.clone(),
        SchedulingRuntime {
            membership_url: format!("http://{}", m_running.addr),
            materials: MaterialStore::in_memory(),
        },
        async move {
            let _ = s_stopped.await;
        },
    )
    .await
    .expect("scheduling starts");
    TestApp {
        addr: running.addr,
        membership,
        store,
        issuer,
        shutdown: vec![s_stop, m_stop],
        _dbs: (mdb, sdb),
    }
}

impl TestApp {
    fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .connect_lazy()
    }

    fn client(&self, token: &str) -> Client {
        SchedulingServiceClient::with_interceptor(
            self.channel(),
            ForwardCaller::new(token).expect("a well-formed token"),
        )
        .max_decoding_message_size(BIG)
        .max_encoding_message_size(BIG)
    }

    fn feeds(&self) -> CalendarFeedServiceClient<Channel> {
        CalendarFeedServiceClient::new(self.channel())
    }

    fn as_person(&self, t: TenantId, person: Uuid, grants: &[Grant]) -> Client {
        self.client(&self.issuer.token(t, PersonId(person), grants))
    }

    fn admin(&self, s: &Seeded) -> Client {
        self.as_person(s.id, s.admin, &[grant(Role::TenantAdmin, None)])
    }

    fn lead(&self, s: &Seeded) -> Client {
        self.as_person(s.id, s.lead, &[grant(Role::ClusterLead, Some(s.cluster))])
    }

    fn teacher(&self, s: &Seeded, i: usize) -> Client {
        self.as_person(
            s.id,
            s.teachers[i],
            &[grant(Role::Teacher, Some(s.cluster))],
        )
    }

    fn service(&self, s: &Seeded) -> Client {
        self.client(&self.issuer.signer.service_token("scoring", s.id))
    }
}

fn grant(role: Role, cluster: Option<Uuid>) -> Grant {
    Grant { role, cluster }
}

// ------------------------------------------------------------------ membership seed

/// A tenant in membership: a centre in a cluster with its lead, three
/// teachers and a building coordinator; an admin and an outsider elsewhere.
#[derive(Debug, Clone)]
struct Seeded {
    id: TenantId,
    cluster: Uuid,
    other_cluster: Uuid,
    lead: Uuid,
    teachers: Vec<Uuid>,
    coordinator: Uuid,
    admin: Uuid,
    outsider: Uuid,
}

async fn seed(store: &dyn collegium_membership::MembershipStore, slug: &str) -> Seeded {
    let tenant = store
        .create_tenant(m::NewTenant {
            slug: slug.to_string(),
            name: format!("Tenant {slug}"),
            kind: m::TenantKind::AwardingBody,
            settings: m::TenantSettings {
                time_zone: ZONE.to_string(),
                locale: "en-GB".into(),
                academic_year_start_month: 9,
                academic_year_start_day: 1,
            },
        })
        .await
        .expect("tenant");
    let t = tenant.id;
    let centre = store
        .create_organisation(
            t,
            ACTOR,
            m::NewOrganisation {
                name: format!("{slug} College"),
                kind: m::OrganisationKind::Centre,
                external_id: None,
                contact: m::Contact::default(),
            },
        )
        .await
        .expect("centre")
        .id;
    let person = |given: &str, org: Option<Uuid>| {
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
    let lead = person("Lena", Some(centre)).await;
    let mut teachers = Vec::new();
    for name in ["Tom", "Tia", "Ted"] {
        teachers.push(person(name, Some(centre)).await);
    }
    let coordinator = person("Cora", Some(centre)).await;
    let admin = person("Ada", None).await;
    let outsider = person("Otto", None).await;
    let cluster = store
        .create_cluster(
            t,
            ACTOR,
            m::NewCluster {
                name: format!("{slug} north"),
                description: String::new(),
                lead_person_id: Some(lead),
                centre_ids: vec![centre],
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
                name: format!("{slug} south"),
                description: String::new(),
                lead_person_id: None,
                centre_ids: vec![],
            },
        )
        .await
        .expect("cluster")
        .id;
    let roles = [
        (lead, Role::ClusterLead, Some(cluster)),
        (teachers[0], Role::Teacher, Some(cluster)),
        (teachers[1], Role::Teacher, Some(cluster)),
        (teachers[2], Role::Teacher, Some(cluster)),
        (coordinator, Role::BuildingCoordinator, None),
        (admin, Role::TenantAdmin, None),
    ];
    for (p, role, c) in roles {
        store.grant_role(t, ACTOR, p, role, c).await.expect("grant");
    }
    Seeded {
        id: t,
        cluster,
        other_cluster,
        lead,
        teachers,
        coordinator,
        admin,
        outsider,
    }
}

// ------------------------------------------------------------------ requests and checks

fn zone() -> Tz {
    ZONE.parse().unwrap()
}

/// Local wall-clock time in the test zone, `minutes` from now, to the minute.
fn local_in(minutes: i64) -> String {
    let t = Utc::now() + chrono::Duration::minutes(minutes);
    t.with_timezone(&zone())
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

fn event_req(
    kind: pb::EventKind,
    cluster: Option<Uuid>,
    starts_local: &str,
    ends_local: &str,
) -> pb::CreateEventRequest {
    pb::CreateEventRequest {
        kind: kind as i32,
        cluster_id: cluster.map(|c| c.to_string()),
        title: format!("{kind:?}"),
        agenda: "Welcome; moderation; next steps".into(),
        starts_local: starts_local.into(),
        ends_local: ends_local.into(),
        time_zone: ZONE.into(),
        training_hours: if kind == pb::EventKind::ScoringTraining {
            3
        } else {
            0
        },
        publish: true,
        ..Default::default()
    }
}

/// A published event of the cluster, starting `minutes` from now, lasting 3 hours.
fn soon(kind: pb::EventKind, cluster: Uuid, minutes: i64) -> pb::CreateEventRequest {
    event_req(
        kind,
        Some(cluster),
        &local_in(minutes),
        &local_in(minutes + 180),
    )
}

fn page() -> Option<PageRequest> {
    Some(PageRequest {
        page_size: 500,
        page_token: String::new(),
    })
}

fn r(id: &str) -> pb::EventRef {
    pb::EventRef {
        event_id: id.to_string(),
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

fn id(s: &str) -> Uuid {
    s.parse().expect("an id")
}

#[track_caller]
fn ok<T: Debug>(result: Result<Response<T>, Status>) -> T {
    match result {
        Ok(r) => r.into_inner(),
        Err(status) => panic!("expected success, got {status:?}"),
    }
}

#[track_caller]
fn expect_code<T: Debug>(result: Result<Response<T>, Status>, code: Code) -> Status {
    match result {
        Err(status) => {
            assert_eq!(status.code(), code, "{status:?}");
            status
        }
        Ok(response) => panic!("expected {code:?}, got {:?}", response.into_inner()),
    }
}

/// INVALID_ARGUMENT whose details name exactly `fields`.
#[track_caller]
fn expect_fields<T: Debug>(result: Result<Response<T>, Status>, fields: &[&str]) {
    let status = expect_code(result, Code::InvalidArgument);
    let error = Error::from_status(status);
    let named: Vec<&str> = error
        .violations()
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(named, fields, "{error:?}");
}

async fn event(client: &mut Client, req: pb::CreateEventRequest) -> pb::Event {
    ok(client.create_event(req).await)
}

async fn rsvp(client: &mut Client, event: &str, response: pb::RsvpStatus) -> pb::Rsvp {
    ok(client
        .rsvp(pb::RsvpRequest {
            event_id: event.to_string(),
            response: response as i32,
        })
        .await)
}

async fn invite_people(client: &mut Client, event: &str, people: &[Uuid]) -> pb::InviteResponse {
    ok(client
        .invite(pb::InviteRequest {
            event_id: event.to_string(),
            audiences: vec![pb::Audience {
                audience: Some(pb::audience::Audience::People(pb::PersonList {
                    person_ids: people.iter().map(Uuid::to_string).collect(),
                })),
            }],
        })
        .await)
}

async fn mark(client: &mut Client, event: &str, people: &[Uuid], status: pb::AttendanceStatus) {
    ok(client
        .record_attendance(pb::RecordAttendanceRequest {
            event_id: event.to_string(),
            marks: people
                .iter()
                .map(|p| pb::AttendanceMark {
                    person_id: p.to_string(),
                    status: status as i32,
                })
                .collect(),
        })
        .await);
}

async fn rsvps(client: &mut Client, event: &str) -> Vec<(String, i32, u32)> {
    ok(client
        .list_rsvps(pb::ListRsvpsRequest {
            page: page(),
            event_id: event.to_string(),
            status: None,
        })
        .await)
    .rsvps
    .into_iter()
    .map(|r| (r.person_id, r.status, r.waitlist_position))
    .collect()
}

fn status_of(list: &[(String, i32, u32)], person: Uuid) -> (pb::RsvpStatus, u32) {
    let (_, s, pos) = list
        .iter()
        .find(|(p, _, _)| *p == person.to_string())
        .expect("the person has an RSVP");
    (pb::RsvpStatus::try_from(*s).unwrap(), *pos)
}

fn ics_lines(ics: &str) -> Vec<String> {
    // Unfold continuation lines (RFC 5545 §3.1) before looking at properties.
    ics.replace("\r\n ", "")
        .lines()
        .map(str::to_string)
        .collect()
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn calls_without_a_token_are_unauthenticated_and_health_names_both_services() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed(&app.membership, "alpha").await;
        let mut anonymous = SchedulingServiceClient::new(app.channel());
        let status = expect_code(
            anonymous
                .list_venues(pb::ListVenuesRequest::default())
                .await,
            Code::Unauthenticated,
        );
        assert_eq!(status.message(), "missing bearer token");
        expect_code(
            anonymous
                .create_event(soon(pb::EventKind::NetworkMeeting, a.cluster, 600))
                .await,
            Code::Unauthenticated,
        );
        let forged =
            TestIssuer::new().token(a.id, PersonId(a.admin), &[grant(Role::TenantAdmin, None)]);
        expect_code(
            app.client(&forged)
                .list_venues(pb::ListVenuesRequest::default())
                .await,
            Code::Unauthenticated,
        );
        // Nothing was created by the refused calls.
        let listed = ok(app
            .admin(&a)
            .list_events(pb::ListEventsRequest {
                page: page(),
                include_drafts: true,
                include_cancelled: true,
                ..Default::default()
            })
            .await);
        assert!(listed.events.is_empty());

        // The feed service needs no bearer token: a bad feed token is NOT_FOUND.
        expect_code(
            app.feeds()
                .render_feed(pb::RenderFeedRequest {
                    token: "nonsense".into(),
                })
                .await,
            Code::NotFound,
        );

        let mut health = HealthClient::new(app.channel());
        for service in [GRPC_SERVICE, FEED_GRPC_SERVICE] {
            let answer = ok(health
                .check(HealthCheckRequest {
                    service: service.to_string(),
                })
                .await);
            assert_eq!(answer.status, ServingStatus::Serving as i32, "{service}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_weekly_series_keeps_its_local_time_across_the_dst_change() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed(&app.membership, "alpha").await;
        let mut lead = app.lead(&a);

        // One event: 16:00 in London in summer time is 15:00 UTC.
        let single = event(
            &mut lead,
            event_req(
                pb::EventKind::NetworkMeeting,
                Some(a.cluster),
                "2027-10-13T16:00",
                "2027-10-13T18:00",
            ),
        )
        .await;
        assert_eq!(utc(&single.starts_at), utc("2027-10-13T15:00:00Z"));
        assert_eq!(utc(&single.ends_at), utc("2027-10-13T17:00:00Z"));
        assert_eq!(single.academic_year, 2027);
        assert_eq!(single.status, pb::EventStatus::Published as i32);
        assert_eq!(single.check_in_code.len(), 6, "the owner sees the code");
        assert_eq!(single.series_id, None);

        // Weekly at 16:00 from 20 October 2027; the clocks go back on 31 October.
        let first = event(
            &mut lead,
            pb::CreateEventRequest {
                rrule: "FREQ=WEEKLY;COUNT=4".into(),
                exdates_local: vec!["2027-11-03T16:00".into()],
                publish: false,
                ..event_req(
                    pb::EventKind::StudyGroup,
                    Some(a.cluster),
                    "2027-10-20T16:00",
                    "2027-10-20T17:30",
                )
            },
        )
        .await;
        let series = id(first.series_id.as_deref().expect("a series"));
        let occurrences = app.store.series(a.id, series).await.unwrap();
        let starts: Vec<DateTime<Utc>> = occurrences.iter().map(|o| o.starts_at).collect();
        assert_eq!(
            starts,
            [
                utc("2027-10-20T15:00:00Z"),
                utc("2027-10-27T15:00:00Z"),
                utc("2027-11-10T16:00:00Z"),
            ],
            "16:00 local on both sides of the change; 3 November left out"
        );
        for o in &occurrences {
            assert_eq!(o.ends_at - o.starts_at, chrono::Duration::minutes(90));
            assert_eq!(o.recurrence_id, Some(o.starts_at));
            assert_eq!(o.series_start, Some(utc("2027-10-20T15:00:00Z")));
            assert_eq!(o.status, collegium_scheduling::domain::EventStatus::Draft);
        }

        // Publishing one occurrence publishes the series.
        ok(lead.publish_event(r(&first.id)).await);
        let published = app.store.series(a.id, series).await.unwrap();
        assert!(
            published
                .iter()
                .all(|o| o.status == collegium_scheduling::domain::EventStatus::Published)
        );

        // One occurrence moved alone is detached from its series.
        let second = occurrences[1].id.to_string();
        let moved = ok(lead
            .update_event(pb::UpdateEventRequest {
                id: second.clone(),
                scope: pb::EditScope::This as i32,
                title: Some("Study group (moved)".into()),
                starts_local: Some("2027-10-27T15:00".into()),
                ..Default::default()
            })
            .await);
        assert_eq!(utc(&moved.starts_at), utc("2027-10-27T14:00:00Z"));
        assert_eq!(
            utc(&moved.ends_at),
            utc("2027-10-27T15:30:00Z"),
            "length kept"
        );
        assert_eq!(
            moved.recurrence_id.as_deref().map(utc),
            Some(utc("2027-10-27T15:00:00Z"))
        );
        assert!(moved.sequence > 0);
        let stored = app.store.get_events(a.id, &[id(&second)]).await.unwrap();
        assert!(stored[0].detached);

        // The series from its first occurrence on moves to 17:00 local, in
        // each occurrence's own offset; the detached one keeps its own time.
        ok(lead
            .update_event(pb::UpdateEventRequest {
                id: first.id.clone(),
                scope: pb::EditScope::Series as i32,
                starts_local: Some("2027-10-20T17:00".into()),
                agenda: Some("New agenda".into()),
                ..Default::default()
            })
            .await);
        let after = app.store.series(a.id, series).await.unwrap();
        let by_id = |i: Uuid| after.iter().find(|o| o.id == i).unwrap().clone();
        assert_eq!(
            by_id(occurrences[0].id).starts_at,
            utc("2027-10-20T16:00:00Z")
        );
        assert_eq!(
            by_id(occurrences[2].id).starts_at,
            utc("2027-11-10T17:00:00Z")
        );
        assert_eq!(by_id(occurrences[2].id).agenda, "New agenda");
        assert_eq!(
            by_id(occurrences[1].id).starts_at,
            utc("2027-10-27T14:00:00Z")
        );
        assert_eq!(by_id(occurrences[1].id).agenda, occurrences[1].agenda);
        assert_eq!(
            by_id(occurrences[0].id).series_start,
            Some(utc("2027-10-20T16:00:00Z"))
        );

        // A series edit from a later occurrence splits the series there.
        let third = occurrences[2].id;
        ok(lead
            .update_event(pb::UpdateEventRequest {
                id: third.to_string(),
                scope: pb::EditScope::Series as i32,
                starts_local: Some("2027-11-10T18:00".into()),
                ..Default::default()
            })
            .await);
        let tail = app
            .store
            .get_events(a.id, &[third])
            .await
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(tail.starts_at, utc("2027-11-10T18:00:00Z"));
        assert_ne!(tail.series_id, Some(series));
        assert_eq!(tail.series_start, Some(tail.starts_at));
        let head = app.store.series(a.id, series).await.unwrap();
        assert!(head.iter().all(|o| o.id != third));

        // The .ics of the series is a calendar with its rule and zone.
        let ics = ok(lead.get_event_ics(r(&first.id)).await).ics;
        let lines = ics_lines(&ics);
        assert!(
            lines.iter().any(|l| l.starts_with("RRULE:FREQ=WEEKLY")),
            "{ics}"
        );
        assert!(lines.iter().any(|l| l == "BEGIN:VTIMEZONE"), "{ics}");
        assert!(
            lines
                .iter()
                .any(|l| l == &format!("UID:{series}@collegium")),
            "{ics}"
        );

        // Cancelling the series from its first occurrence cancels what is left.
        let cancelled = ok(lead
            .cancel_event(pb::CancelEventRequest {
                id: first.id.clone(),
                scope: pb::EditScope::Series as i32,
                reason: "Venue closed".into(),
            })
            .await);
        assert_eq!(cancelled.status, pb::EventStatus::Cancelled as i32);
        assert!(
            app.store
                .series(a.id, series)
                .await
                .unwrap()
                .iter()
                .all(|o| o.status == collegium_scheduling::domain::EventStatus::Cancelled)
        );
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_or_the_reason() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed(&app.membership, "alpha").await;
        let mut admin = app.admin(&a);
        let mut lead = app.lead(&a);

        let base = || {
            event_req(
                pb::EventKind::NetworkMeeting,
                Some(a.cluster),
                &local_in(MONTH),
                &local_in(MONTH + 120),
            )
        };
        expect_fields(
            lead.create_event(pb::CreateEventRequest {
                ends_local: local_in(MONTH - 60),
                ..base()
            })
            .await,
            &["ends_local"],
        );
        expect_fields(
            lead.create_event(pb::CreateEventRequest {
                time_zone: "Mars/Olympus".into(),
                ..base()
            })
            .await,
            &["time_zone"],
        );
        expect_fields(
            lead.create_event(pb::CreateEventRequest {
                kind: 0,
                starts_local: "next tuesday".into(),
                ..base()
            })
            .await,
            &["kind", "starts_local"],
        );
        expect_fields(
            lead.create_event(pb::CreateEventRequest {
                venue_id: Some(Uuid::now_v7().to_string()),
                ..base()
            })
            .await,
            &["venue_id"],
        );
        expect_fields(
            admin
                .create_event(pb::CreateEventRequest {
                    cluster_id: Some(Uuid::now_v7().to_string()),
                    ..base()
                })
                .await,
            &["cluster_id"],
        );
        let meeting = event(&mut lead, base()).await;
        expect_fields(
            lead.create_event(pb::CreateEventRequest {
                prepares_for_event_id: Some(meeting.id.clone()),
                ..event_req(
                    pb::EventKind::ScoringTraining,
                    Some(a.cluster),
                    "2027-03-01T09:00",
                    "2027-03-01T12:00",
                )
            })
            .await,
            &["prepares_for_event_id"],
        );
        expect_fields(
            lead.create_event(pb::CreateEventRequest {
                rrule: "FREQ=WEEKLY".into(),
                ..base()
            })
            .await,
            &["rrule"],
        );
        expect_fields(
            app.teacher(&a, 0)
                .rsvp(pb::RsvpRequest {
                    event_id: meeting.id.clone(),
                    response: pb::RsvpStatus::Waitlisted as i32,
                })
                .await,
            &["response"],
        );

        // Capacity below the people who accepted.
        let small = event(
            &mut lead,
            pb::CreateEventRequest {
                capacity: 3,
                ..base()
            },
        )
        .await;
        for i in 0..2 {
            rsvp(&mut app.teacher(&a, i), &small.id, pb::RsvpStatus::Accepted).await;
        }
        let status = expect_code(
            lead.update_event(pb::UpdateEventRequest {
                id: small.id.clone(),
                capacity: Some(1),
                ..Default::default()
            })
            .await,
            Code::FailedPrecondition,
        );
        assert!(status.message().contains("capacity"), "{status:?}");
        let unchanged = app.store.get_events(a.id, &[id(&small.id)]).await.unwrap();
        assert_eq!(unchanged[0].capacity, 3, "nothing half-written");

        // RSVPs to a cancelled or a past event.
        ok(lead
            .cancel_event(pb::CancelEventRequest {
                id: meeting.id.clone(),
                scope: pb::EditScope::This as i32,
                reason: String::new(),
            })
            .await);
        expect_code(
            app.teacher(&a, 0)
                .rsvp(pb::RsvpRequest {
                    event_id: meeting.id.clone(),
                    response: pb::RsvpStatus::Accepted as i32,
                })
                .await,
            Code::FailedPrecondition,
        );
        let past = event(
            &mut lead,
            event_req(
                pb::EventKind::NetworkMeeting,
                Some(a.cluster),
                &local_in(-24 * 60),
                &local_in(-23 * 60),
            ),
        )
        .await;
        expect_code(
            app.teacher(&a, 0)
                .rsvp(pb::RsvpRequest {
                    event_id: past.id.clone(),
                    response: pb::RsvpStatus::Accepted as i32,
                })
                .await,
            Code::FailedPrecondition,
        );

        // A claim for an event not attended.
        expect_code(
            app.teacher(&a, 0)
                .submit_claim(pb::SubmitClaimRequest {
                    event_id: past.id.clone(),
                    travel_amount: 1250,
                    subsistence_amount: 0,
                    currency: "GBP".into(),
                    description: "Train".into(),
                })
                .await,
            Code::FailedPrecondition,
        );
        assert!(
            ok(admin
                .list_claims(pb::ListClaimsRequest {
                    page: page(),
                    ..Default::default()
                })
                .await)
            .claims
            .is_empty()
        );

        // Materials: only http(s) links, files up to 25 MiB.
        expect_fields(
            lead.add_material(pb::AddMaterialRequest {
                event_id: small.id.clone(),
                title: "Resources".into(),
                source: Some(pb::add_material_request::Source::Url(
                    "javascript:alert(1)".into(),
                )),
            })
            .await,
            &["url"],
        );
        expect_fields(
            lead.add_material(pb::AddMaterialRequest {
                event_id: small.id.clone(),
                title: "Huge".into(),
                source: Some(pb::add_material_request::Source::File(pb::FileUpload {
                    file_name: "huge.pdf".into(),
                    content_type: "application/pdf".into(),
                    content: vec![0; 25 * 1024 * 1024 + 1],
                })),
            })
            .await,
            &["file.content"],
        );
    })
    .await;
}

#[tokio::test]
async fn audiences_are_resolved_through_membership() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed(&app.membership, "alpha").await;
        let mut lead = app.lead(&a);
        let meeting = event(
            &mut lead,
            soon(pb::EventKind::NetworkMeeting, a.cluster, 7 * 24 * 60),
        )
        .await;

        let invited = ok(lead
            .invite(pb::InviteRequest {
                event_id: meeting.id.clone(),
                audiences: vec![pb::Audience {
                    audience: Some(pb::audience::Audience::ClusterId(a.cluster.to_string())),
                }],
            })
            .await);
        // The centre's lead, three teachers and coordinator.
        assert_eq!((invited.invited, invited.already_invited), (5, 0));
        let rsvps_now = rsvps(&mut lead, &meeting.id).await;
        for p in [
            a.lead,
            a.coordinator,
            a.teachers[0],
            a.teachers[1],
            a.teachers[2],
        ] {
            assert_eq!(status_of(&rsvps_now, p).0, pb::RsvpStatus::Invited);
        }
        assert!(
            !rsvps_now
                .iter()
                .any(|(p, _, _)| *p == a.outsider.to_string())
        );

        let by_role = ok(lead
            .invite(pb::InviteRequest {
                event_id: meeting.id.clone(),
                audiences: vec![
                    pb::Audience {
                        audience: Some(pb::audience::Audience::Role(pb::RoleAudience {
                            role: "building_coordinator".into(),
                            cluster_id: None,
                        })),
                    },
                    pb::Audience {
                        audience: Some(pb::audience::Audience::People(pb::PersonList {
                            person_ids: vec![a.outsider.to_string()],
                        })),
                    },
                ],
            })
            .await);
        assert_eq!((by_role.invited, by_role.already_invited), (1, 1));

        expect_fields(
            lead.invite(pb::InviteRequest {
                event_id: meeting.id.clone(),
                audiences: vec![pb::Audience {
                    audience: Some(pb::audience::Audience::People(pb::PersonList {
                        person_ids: vec![a.admin.to_string(), Uuid::now_v7().to_string()],
                    })),
                }],
            })
            .await,
            &["audiences[0].people.person_ids[1]"],
        );
        expect_fields(
            lead.invite(pb::InviteRequest {
                event_id: meeting.id.clone(),
                audiences: vec![pb::Audience {
                    audience: Some(pb::audience::Audience::Role(pb::RoleAudience {
                        role: "wizard".into(),
                        cluster_id: None,
                    })),
                }],
            })
            .await,
            &["audiences[0].role.role"],
        );

        // The invited person sees the event in their own list.
        let mine = ok(app
            .as_person(a.id, a.outsider, &[])
            .list_events(pb::ListEventsRequest {
                page: page(),
                person_id: Some(a.outsider.to_string()),
                ..Default::default()
            })
            .await);
        assert_eq!(
            mine.events
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>(),
            [meeting.id.as_str()]
        );
        assert_eq!(
            mine.events[0].check_in_code, "",
            "only the owner sees the code"
        );
        expect_code(
            app.teacher(&a, 0)
                .list_events(pb::ListEventsRequest {
                    person_id: Some(a.outsider.to_string()),
                    ..Default::default()
                })
                .await,
            Code::PermissionDenied,
        );
    })
    .await;
}

#[tokio::test]
async fn the_waiting_list_promotes_in_order() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed(&app.membership, "alpha").await;
        let mut lead = app.lead(&a);
        let meeting = event(
            &mut lead,
            pb::CreateEventRequest {
                capacity: 1,
                ..soon(pb::EventKind::NetworkMeeting, a.cluster, 2 * 24 * 60)
            },
        )
        .await;
        let [t0, t1, t2] = [a.teachers[0], a.teachers[1], a.teachers[2]];

        let first = rsvp(
            &mut app.teacher(&a, 0),
            &meeting.id,
            pb::RsvpStatus::Accepted,
        )
        .await;
        assert_eq!(first.status, pb::RsvpStatus::Accepted as i32);
        let second = rsvp(
            &mut app.teacher(&a, 1),
            &meeting.id,
            pb::RsvpStatus::Accepted,
        )
        .await;
        assert_eq!(
            (second.status, second.waitlist_position),
            (pb::RsvpStatus::Waitlisted as i32, 1)
        );
        let third = rsvp(
            &mut app.teacher(&a, 2),
            &meeting.id,
            pb::RsvpStatus::Accepted,
        )
        .await;
        assert_eq!(
            (third.status, third.waitlist_position),
            (pb::RsvpStatus::Waitlisted as i32, 2)
        );

        // A seat frees: the longest-waiting person gets it.
        rsvp(
            &mut app.teacher(&a, 0),
            &meeting.id,
            pb::RsvpStatus::Declined,
        )
        .await;
        let now = rsvps(&mut lead, &meeting.id).await;
        assert_eq!(status_of(&now, t0).0, pb::RsvpStatus::Declined);
        assert_eq!(status_of(&now, t1).0, pb::RsvpStatus::Accepted);
        assert_eq!(status_of(&now, t2), (pb::RsvpStatus::Waitlisted, 1));

        // Capacity grows: the next one is promoted.
        let grown = ok(lead
            .update_event(pb::UpdateEventRequest {
                id: meeting.id.clone(),
                capacity: Some(2),
                ..Default::default()
            })
            .await);
        assert_eq!((grown.accepted_count, grown.waitlist_count), (2, 0));
        let now = rsvps(&mut lead, &meeting.id).await;
        assert_eq!(status_of(&now, t2).0, pb::RsvpStatus::Accepted);

        // An accepted overlapping event is reported as a clash.
        let overlapping = event(
            &mut lead,
            soon(pb::EventKind::StudyGroup, a.cluster, 2 * 24 * 60 + 60),
        )
        .await;
        let answer = rsvp(
            &mut app.teacher(&a, 2),
            &overlapping.id,
            pb::RsvpStatus::Accepted,
        )
        .await;
        assert_eq!(answer.clashes_with, std::slice::from_ref(&meeting.id));
        let clashes = ok(app
            .teacher(&a, 2)
            .list_clashes(pb::ListClashesRequest {
                person_id: t2.to_string(),
                starts_at: overlapping.starts_at.clone(),
                ends_at: overlapping.ends_at.clone(),
            })
            .await);
        assert_eq!(clashes.events.len(), 2);
        expect_code(
            app.teacher(&a, 0)
                .list_clashes(pb::ListClashesRequest {
                    person_id: t2.to_string(),
                    starts_at: overlapping.starts_at.clone(),
                    ends_at: overlapping.ends_at.clone(),
                })
                .await,
            Code::PermissionDenied,
        );
        // Services answer no invitations.
        expect_code(
            app.service(&a)
                .rsvp(pb::RsvpRequest {
                    event_id: meeting.id.clone(),
                    response: pb::RsvpStatus::Accepted as i32,
                })
                .await,
            Code::PermissionDenied,
        );
    })
    .await;
}

#[tokio::test]
async fn attendance_is_the_evidence_of_training_and_of_claims() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed(&app.membership, "alpha").await;
        let mut lead = app.lead(&a);
        let training = event(&mut lead, soon(pb::EventKind::ScoringTraining, a.cluster, 30)).await;

        // Self check-in with the event's code, in the window.
        expect_fields(
            app.teacher(&a, 0)
                .check_in(pb::CheckInRequest {
                    event_id: training.id.clone(),
                    code: "WRONG1".into(),
                })
                .await,
            &["code"],
        );
        let checked = ok(app
            .teacher(&a, 0)
            .check_in(pb::CheckInRequest {
                event_id: training.id.clone(),
                code: training.check_in_code.to_lowercase(),
            })
            .await);
        assert_eq!(
            (checked.status, checked.method.as_str()),
            (pb::AttendanceStatus::Present as i32, "check_in")
        );
        let later = event(&mut lead, soon(pb::EventKind::ScoringTraining, a.cluster, 5 * 60)).await;
        expect_code(
            app.teacher(&a, 0)
                .check_in(pb::CheckInRequest {
                    event_id: later.id.clone(),
                    code: later.check_in_code.clone(),
                })
                .await,
            Code::FailedPrecondition,
        );

        // The owner records the others.
        mark(&mut lead, &training.id, &[a.teachers[1]], pb::AttendanceStatus::Present).await;
        mark(&mut lead, &training.id, &[a.teachers[2]], pb::AttendanceStatus::NoShow).await;
        let records = ok(lead
            .list_attendance(pb::ListAttendanceRequest {
                page: page(),
                event_id: Some(training.id.clone()),
                person_id: None,
            })
            .await);
        assert_eq!(records.records.len(), 3);
        let own = ok(app
            .teacher(&a, 2)
            .list_attendance(pb::ListAttendanceRequest {
                page: page(),
                event_id: Some(training.id.clone()),
                person_id: None,
            })
            .await);
        assert_eq!(own.records.len(), 1, "others see their own record only");

        let year = training.academic_year;
        let status = |client: &mut Client, person: Uuid| {
            let req = pb::GetTrainingStatusRequest {
                person_id: person.to_string(),
                academic_year: year,
            };
            let mut client = client.clone();
            async move { client.get_training_status(req).await }
        };
        let trained = ok(status(&mut app.teacher(&a, 0), a.teachers[0]).await);
        assert!(trained.trained);
        assert_eq!(trained.event_id.as_deref(), Some(training.id.as_str()));
        assert_eq!(trained.training_hours, 3);
        let by_service = ok(status(&mut app.service(&a), a.teachers[1]).await);
        assert!(by_service.trained);
        let no_show = ok(status(&mut lead, a.teachers[2]).await);
        assert!(!no_show.trained);
        let other_year = ok(app
            .service(&a)
            .get_training_status(pb::GetTrainingStatusRequest {
                person_id: a.teachers[0].to_string(),
                academic_year: year - 1,
            })
            .await);
        assert!(!other_year.trained);
        expect_code(
            status(&mut app.teacher(&a, 1), a.teachers[0]).await,
            Code::PermissionDenied,
        );

        // Attended: a claim may be made, decided by an admin, exported.
        let claim = ok(app
            .teacher(&a, 0)
            .submit_claim(pb::SubmitClaimRequest {
                event_id: training.id.clone(),
                travel_amount: 1250,
                subsistence_amount: 705,
                currency: "gbp".into(),
                description: "Train, lunch".into(),
            })
            .await);
        assert_eq!(claim.status, pb::ClaimStatus::Submitted as i32);
        assert_eq!(claim.currency, "GBP");
        expect_code(
            lead.decide_claim(pb::DecideClaimRequest {
                id: claim.id.clone(),
                approve: true,
                reason: String::new(),
            })
            .await,
            Code::PermissionDenied,
        );
        let mut admin = app.admin(&a);
        expect_fields(
            admin
                .decide_claim(pb::DecideClaimRequest {
                    id: claim.id.clone(),
                    approve: false,
                    reason: " ".into(),
                })
                .await,
            &["reason"],
        );
        let approved = ok(admin
            .decide_claim(pb::DecideClaimRequest {
                id: claim.id.clone(),
                approve: true,
                reason: String::new(),
            })
            .await);
        assert_eq!(approved.status, pb::ClaimStatus::Approved as i32);
        let mine = ok(app
            .teacher(&a, 1)
            .list_claims(pb::ListClaimsRequest {
                page: page(),
                ..Default::default()
            })
            .await);
        assert!(mine.claims.is_empty(), "others' claims stay private");
        let export = ok(admin.export_approved_claims(pb::ExportClaimsRequest::default()).await);
        assert_eq!(export.rows, 1);
        let mut lines = export.csv.lines();
        assert_eq!(
            lines.next(),
            Some(
                "person_id,event_id,event_title,travel_amount,subsistence_amount,currency,decided_at,decided_by"
            )
        );
        let row = lines.next().unwrap();
        assert!(
            row.starts_with(&format!(
                "{},{},ScoringTraining,12.50,7.05,GBP,",
                a.teachers[0], training.id
            )),
            "{row}"
        );
        expect_code(
            lead.export_approved_claims(pb::ExportClaimsRequest::default()).await,
            Code::PermissionDenied,
        );

        // Feedback from attendees; the owner sees it without names.
        let questionnaire = ok(lead
            .set_questionnaire(pb::SetQuestionnaireRequest {
                event_id: training.id.clone(),
                questions: vec![
                    pb::Question {
                        id: String::new(),
                        text: "How useful was it?".into(),
                        kind: pb::QuestionKind::Rating as i32,
                    },
                    pb::Question {
                        id: String::new(),
                        text: "What should change?".into(),
                        kind: pb::QuestionKind::Text as i32,
                    },
                ],
            })
            .await);
        let (rating, text) = (
            questionnaire.questions[0].id.clone(),
            questionnaire.questions[1].id.clone(),
        );
        let seen = ok(app.teacher(&a, 0).get_questionnaire(r(&training.id)).await);
        assert_eq!(seen.questions.len(), 2);
        for (i, stars, words) in [(0, 5, "More anchors"), (1, 4, "")] {
            ok(app
                .teacher(&a, i)
                .submit_feedback(pb::SubmitFeedbackRequest {
                    event_id: training.id.clone(),
                    answers: vec![
                        pb::Answer {
                            question_id: rating.clone(),
                            rating: stars,
                            text: String::new(),
                        },
                        pb::Answer {
                            question_id: text.clone(),
                            rating: 0,
                            text: words.into(),
                        },
                    ],
                })
                .await);
        }
        let summary = ok(lead.get_feedback_summary(r(&training.id)).await);
        assert_eq!(summary.respondents, 2);
        assert_eq!(summary.questions[0].mean_rating, 4.5);
        assert_eq!(summary.questions[0].rating_counts, [0, 0, 0, 1, 1]);
        assert_eq!(summary.questions[1].texts, ["More anchors"]);
        expect_code(
            app.teacher(&a, 0).get_feedback_summary(r(&training.id)).await,
            Code::PermissionDenied,
        );

        // Materials: a file and a link.
        let file = ok(lead
            .add_material(pb::AddMaterialRequest {
                event_id: training.id.clone(),
                title: "Anchor papers".into(),
                source: Some(pb::add_material_request::Source::File(pb::FileUpload {
                    file_name: "anchors.pdf".into(),
                    content_type: "application/pdf".into(),
                    content: b"%PDF-1.7 anchors".to_vec(),
                })),
            })
            .await);
        ok(lead
            .add_material(pb::AddMaterialRequest {
                event_id: training.id.clone(),
                title: "Rubric".into(),
                source: Some(pb::add_material_request::Source::Url(
                    "https://example.org/rubric".into(),
                )),
            })
            .await);
        let listed = ok(app.teacher(&a, 0).list_materials(r(&training.id)).await);
        assert_eq!(listed.materials.len(), 2);
        let content = ok(app
            .teacher(&a, 0)
            .get_material_content(pb::MaterialRef {
                material_id: file.id.clone(),
            })
            .await);
        assert_eq!(content.content, b"%PDF-1.7 anchors");
        assert_eq!(file.size_bytes, 16);
    })
    .await;
}

#[tokio::test]
async fn compliance_says_what_is_at_risk_and_who() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed(&app.membership, "alpha").await;
        let mut lead = app.lead(&a);
        let mut admin = app.admin(&a);
        let training = event(
            &mut lead,
            soon(pb::EventKind::ScoringTraining, a.cluster, 30),
        )
        .await;
        mark(
            &mut lead,
            &training.id,
            &[a.teachers[0]],
            pb::AttendanceStatus::Present,
        )
        .await;
        event(
            &mut lead,
            soon(pb::EventKind::NetworkMeeting, a.cluster, 3 * 24 * 60),
        )
        .await;

        let rules = ok(admin.get_rule_settings(pb::GetRuleSettingsRequest {}).await);
        assert_eq!(rules.min_network_meetings, 2);
        let report = ok(lead
            .get_compliance(pb::GetComplianceRequest {
                cluster_id: a.cluster.to_string(),
                academic_year: training.academic_year,
            })
            .await);
        let item = |rule: &str| {
            report
                .items
                .iter()
                .find(|i| i.rule == rule)
                .unwrap_or_else(|| panic!("{rule} in {report:?}"))
                .clone()
        };
        let scorers = item("trained_scorers");
        assert_eq!(
            scorers.state,
            pb::ComplianceState::AtRisk as i32,
            "{scorers:?}"
        );
        let mut missing = scorers.subjects.clone();
        missing.sort();
        let mut expected = vec![a.teachers[1].to_string(), a.teachers[2].to_string()];
        expected.sort();
        assert_eq!(missing, expected);
        assert!(!scorers.explanation.is_empty());
        let meetings = item("network_meetings");
        assert_ne!(
            meetings.state,
            pb::ComplianceState::Met as i32,
            "{meetings:?}"
        );

        // The admin changes the rule; everyone reads it.
        ok(admin
            .update_rule_settings(pb::RuleSettings {
                min_network_meetings: 1,
                require_trained_scorers: true,
                require_leader_sequence: false,
                training_window_days: 0,
            })
            .await);
        let report = ok(admin
            .get_compliance(pb::GetComplianceRequest {
                cluster_id: a.cluster.to_string(),
                academic_year: 0,
            })
            .await);
        let meetings = report
            .items
            .iter()
            .find(|i| i.rule == "network_meetings")
            .unwrap();
        assert_eq!(
            meetings.state,
            pb::ComplianceState::AtRisk as i32,
            "{meetings:?}"
        );
        assert_eq!(
            ok(app
                .teacher(&a, 0)
                .get_rule_settings(pb::GetRuleSettingsRequest {})
                .await)
            .min_network_meetings,
            1
        );
        expect_code(
            app.teacher(&a, 0)
                .get_compliance(pb::GetComplianceRequest {
                    cluster_id: a.cluster.to_string(),
                    academic_year: 0,
                })
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            lead.get_compliance(pb::GetComplianceRequest {
                cluster_id: a.other_cluster.to_string(),
                academic_year: 0,
            })
            .await,
            Code::PermissionDenied,
        );
    })
    .await;
}

#[tokio::test]
async fn a_calendar_feed_renders_without_a_bearer_token_until_revoked() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed(&app.membership, "alpha").await;
        let b = seed(&app.membership, "beta").await;
        let mut lead = app.lead(&a);
        let meeting = event(
            &mut lead,
            soon(pb::EventKind::NetworkMeeting, a.cluster, 24 * 60),
        )
        .await;
        let draft = event(
            &mut lead,
            pb::CreateEventRequest {
                publish: false,
                ..soon(pb::EventKind::StudyGroup, a.cluster, 48 * 60)
            },
        )
        .await;
        invite_people(&mut lead, &meeting.id, &[a.teachers[0]]).await;
        invite_people(&mut lead, &draft.id, &[a.teachers[0]]).await;

        let mut teacher = app.teacher(&a, 0);
        let feed = ok(teacher
            .get_my_calendar_feed(pb::GetMyCalendarFeedRequest {})
            .await);
        assert!(feed.active);
        assert!(
            feed.token.starts_with(&format!("{}.", a.id)),
            "{}",
            feed.token
        );
        let again = ok(teacher
            .get_my_calendar_feed(pb::GetMyCalendarFeedRequest {})
            .await);
        assert!(again.active);
        assert_eq!(again.token, "", "the secret is shown once");

        let render = |token: String| {
            let mut feeds = app.feeds();
            async move { feeds.render_feed(pb::RenderFeedRequest { token }).await }
        };
        let ics = ok(render(feed.token.clone()).await);
        let lines = ics_lines(&ics.ics);
        assert!(
            lines.contains(&"BEGIN:VCALENDAR".to_string()),
            "{}",
            ics.ics
        );
        assert!(
            lines.contains(&format!("UID:{}@collegium", meeting.id)),
            "{}",
            ics.ics
        );
        assert!(!ics.ics.contains(&draft.id), "drafts are not in feeds");

        // The same secret under another tenant's id, a changed secret, and a
        // token for tenant B naming A's feed are all simply unknown.
        let parts: Vec<&str> = feed.token.splitn(3, '.').collect();
        expect_code(
            render(format!("{}.{}.{}", b.id, parts[1], parts[2])).await,
            Code::NotFound,
        );
        let mut forged = parts[2].to_string();
        forged.replace_range(0..1, if forged.starts_with('A') { "B" } else { "A" });
        expect_code(
            render(format!("{}.{}.{}", parts[0], parts[1], forged)).await,
            Code::NotFound,
        );
        let b_feed = ok(app
            .teacher(&b, 0)
            .get_my_calendar_feed(pb::GetMyCalendarFeedRequest {})
            .await);
        let b_parts: Vec<&str> = b_feed.token.splitn(3, '.').collect();
        expect_code(
            render(format!("{}.{}.{}", b_parts[0], parts[1], b_parts[2])).await,
            Code::NotFound,
        );
        assert!(
            !ok(render(b_feed.token.clone()).await)
                .ics
                .contains(&meeting.id)
        );

        // Revoked: gone, and a new one can be made.
        let revoked = ok(teacher
            .revoke_my_calendar_feed(pb::GetMyCalendarFeedRequest {})
            .await);
        assert!(!revoked.active);
        expect_code(render(feed.token.clone()).await, Code::NotFound);
        let fresh = ok(teacher
            .get_my_calendar_feed(pb::GetMyCalendarFeedRequest {})
            .await);
        assert_ne!(fresh.token, "");
        ok(render(fresh.token).await);
        expect_code(
            app.service(&a)
                .get_my_calendar_feed(pb::GetMyCalendarFeedRequest {})
                .await,
            Code::PermissionDenied,
        );
    })
    .await;
}

#[tokio::test]
async fn a_teacher_may_not_call_owner_only_rpcs() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed(&app.membership, "alpha").await;
        let mut lead = app.lead(&a);
        let meeting = event(
            &mut lead,
            soon(pb::EventKind::NetworkMeeting, a.cluster, 30),
        )
        .await;
        rsvp(
            &mut app.teacher(&a, 1),
            &meeting.id,
            pb::RsvpStatus::Accepted,
        )
        .await;
        let venue = ok(app
            .admin(&a)
            .create_venue(pb::CreateVenueRequest {
                name: "Hall".into(),
                address: "1 Road".into(),
                capacity: 30,
                buffer_minutes: 15,
            })
            .await);
        let mut teacher = app.teacher(&a, 0);
        let denied = Code::PermissionDenied;
        let e = || meeting.id.clone();

        expect_code(
            teacher
                .create_event(soon(pb::EventKind::NetworkMeeting, a.cluster, 600))
                .await,
            denied,
        );
        expect_code(
            teacher
                .create_event(event_req(
                    pb::EventKind::LeaderTraining,
                    None,
                    "2027-01-10T09:00",
                    "2027-01-10T12:00",
                ))
                .await,
            denied,
        );
        expect_code(
            teacher
                .update_event(pb::UpdateEventRequest {
                    id: e(),
                    title: Some("Mine now".into()),
                    ..Default::default()
                })
                .await,
            denied,
        );
        expect_code(teacher.publish_event(r(&e())).await, denied);
        expect_code(
            teacher
                .cancel_event(pb::CancelEventRequest {
                    id: e(),
                    ..Default::default()
                })
                .await,
            denied,
        );
        expect_code(
            teacher
                .invite(pb::InviteRequest {
                    event_id: e(),
                    audiences: vec![pb::Audience {
                        audience: Some(pb::audience::Audience::ClusterId(a.cluster.to_string())),
                    }],
                })
                .await,
            denied,
        );
        expect_code(
            teacher
                .decide_registration(pb::DecideRegistrationRequest {
                    event_id: e(),
                    person_id: a.teachers[1].to_string(),
                    approve: true,
                })
                .await,
            denied,
        );
        expect_code(
            teacher
                .list_rsvps(pb::ListRsvpsRequest {
                    event_id: e(),
                    ..Default::default()
                })
                .await,
            denied,
        );
        expect_code(
            teacher
                .record_attendance(pb::RecordAttendanceRequest {
                    event_id: e(),
                    marks: vec![pb::AttendanceMark {
                        person_id: a.teachers[0].to_string(),
                        status: pb::AttendanceStatus::Present as i32,
                    }],
                })
                .await,
            denied,
        );
        expect_code(
            teacher
                .set_questionnaire(pb::SetQuestionnaireRequest {
                    event_id: e(),
                    questions: vec![],
                })
                .await,
            denied,
        );
        expect_code(teacher.get_feedback_summary(r(&e())).await, denied);
        expect_code(
            teacher
                .add_material(pb::AddMaterialRequest {
                    event_id: e(),
                    title: "Mine".into(),
                    source: Some(pb::add_material_request::Source::Url(
                        "https://example.org".into(),
                    )),
                })
                .await,
            denied,
        );
        expect_code(
            teacher
                .update_rule_settings(pb::RuleSettings::default())
                .await,
            denied,
        );
        expect_code(
            teacher
                .create_venue(pb::CreateVenueRequest {
                    name: "Shed".into(),
                    address: "2 Road".into(),
                    capacity: 5,
                    buffer_minutes: 0,
                })
                .await,
            denied,
        );
        expect_code(
            teacher
                .update_venue(pb::UpdateVenueRequest {
                    id: venue.id.clone(),
                    capacity: Some(1),
                    ..Default::default()
                })
                .await,
            denied,
        );
        expect_code(
            teacher
                .export_approved_claims(pb::ExportClaimsRequest::default())
                .await,
            denied,
        );
        expect_code(
            teacher
                .list_events(pb::ListEventsRequest {
                    include_drafts: true,
                    ..Default::default()
                })
                .await,
            denied,
        );
        // A lead of another cluster is no owner of this one's events either.
        let mut other_lead = app.as_person(
            a.id,
            a.outsider,
            &[grant(Role::ClusterLead, Some(a.other_cluster))],
        );
        expect_code(other_lead.publish_event(r(&e())).await, denied);
        expect_code(
            other_lead
                .create_event(soon(pb::EventKind::NetworkMeeting, a.cluster, 600))
                .await,
            denied,
        );

        // Nothing changed.
        let stored = app.store.get_events(a.id, &[id(&e())]).await.unwrap();
        assert_eq!(stored[0].title, "NetworkMeeting");
        assert_eq!(stored[0].sequence, meeting.sequence);
        assert_eq!(rsvps(&mut lead, &e()).await.len(), 1);
    })
    .await;
}

/// Tenant B with a row of every kind, made through the API.
struct BRows {
    venue: pb::Venue,
    meeting: pb::Event,
    draft: pb::Event,
    session: pb::Event,
    claim: pb::ExpenseClaim,
    material: pb::Material,
    feed_token: String,
}

async fn b_rows(app: &TestApp, b: &Seeded) -> BRows {
    let mut admin = app.admin(b);
    let mut lead = app.lead(b);
    let venue = ok(admin
        .create_venue(pb::CreateVenueRequest {
            name: "B hall".into(),
            address: "B road".into(),
            capacity: 50,
            buffer_minutes: 10,
        })
        .await);
    let meeting = event(
        &mut lead,
        pb::CreateEventRequest {
            venue_id: Some(venue.id.clone()),
            ..soon(pb::EventKind::ScoringTraining, b.cluster, 30)
        },
    )
    .await;
    let draft = event(
        &mut lead,
        pb::CreateEventRequest {
            publish: false,
            rrule: "FREQ=MONTHLY;COUNT=3".into(),
            ..soon(pb::EventKind::StudyGroup, b.cluster, 10 * 24 * 60)
        },
    )
    .await;
    let session = event(
        &mut lead,
        soon(pb::EventKind::ScoringSession, b.cluster, 20 * 24 * 60),
    )
    .await;
    invite_people(&mut lead, &meeting.id, &[b.teachers[0], b.teachers[1]]).await;
    rsvp(
        &mut app.teacher(b, 0),
        &session.id,
        pb::RsvpStatus::Accepted,
    )
    .await;
    mark(
        &mut lead,
        &meeting.id,
        &[b.teachers[0]],
        pb::AttendanceStatus::Present,
    )
    .await;
    let claim = ok(app
        .teacher(b, 0)
        .submit_claim(pb::SubmitClaimRequest {
            event_id: meeting.id.clone(),
            travel_amount: 999,
            subsistence_amount: 1,
            currency: "GBP".into(),
            description: "B claim".into(),
        })
        .await);
    ok(admin
        .decide_claim(pb::DecideClaimRequest {
            id: claim.id.clone(),
            approve: true,
            reason: String::new(),
        })
        .await);
    let material = ok(lead
        .add_material(pb::AddMaterialRequest {
            event_id: meeting.id.clone(),
            title: "B secret".into(),
            source: Some(pb::add_material_request::Source::File(pb::FileUpload {
                file_name: "b.txt".into(),
                content_type: "text/plain".into(),
                content: b"beta only".to_vec(),
            })),
        })
        .await);
    let questionnaire = ok(lead
        .set_questionnaire(pb::SetQuestionnaireRequest {
            event_id: meeting.id.clone(),
            questions: vec![pb::Question {
                id: String::new(),
                text: "Useful?".into(),
                kind: pb::QuestionKind::Rating as i32,
            }],
        })
        .await);
    ok(app
        .teacher(b, 0)
        .submit_feedback(pb::SubmitFeedbackRequest {
            event_id: meeting.id.clone(),
            answers: vec![pb::Answer {
                question_id: questionnaire.questions[0].id.clone(),
                rating: 2,
                text: String::new(),
            }],
        })
        .await);
    ok(admin
        .update_rule_settings(pb::RuleSettings {
            min_network_meetings: 7,
            require_trained_scorers: false,
            require_leader_sequence: false,
            training_window_days: 3,
        })
        .await);
    let feed_token = ok(app
        .teacher(b, 0)
        .get_my_calendar_feed(pb::GetMyCalendarFeedRequest {})
        .await)
    .token;
    BRows {
        venue,
        meeting,
        draft,
        session,
        claim,
        material,
        feed_token,
    }
}

#[tokio::test]
async fn every_rpc_keeps_to_the_callers_tenant() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed(&app.membership, "alpha").await;
        let b = seed(&app.membership, "beta").await;
        let rows = b_rows(&app, &b).await;
        let b_events_before = app
            .store
            .get_events(
                b.id,
                &[
                    id(&rows.meeting.id),
                    id(&rows.draft.id),
                    id(&rows.session.id),
                ],
            )
            .await
            .unwrap();
        let b_ids = [
            rows.venue.id.clone(),
            rows.meeting.id.clone(),
            rows.draft.id.clone(),
            rows.session.id.clone(),
            rows.claim.id.clone(),
            rows.material.id.clone(),
            b.cluster.to_string(),
        ];
        let none_of_b = |found: Vec<String>, what: &str| {
            assert!(
                found.iter().all(|f| !b_ids.contains(f)),
                "{what}: none of B's rows in {found:?}"
            );
        };
        let nf = Code::NotFound;

        // A's own rows, so the lists below are not trivially empty.
        let mut admin = app.admin(&a);
        let mut lead = app.lead(&a);
        let a_event = event(
            &mut lead,
            soon(pb::EventKind::ScoringTraining, a.cluster, 30),
        )
        .await;
        mark(
            &mut lead,
            &a_event.id,
            &[a.teachers[0]],
            pb::AttendanceStatus::Present,
        )
        .await;
        let a_claim = ok(app
            .teacher(&a, 0)
            .submit_claim(pb::SubmitClaimRequest {
                event_id: a_event.id.clone(),
                travel_amount: 100,
                subsistence_amount: 0,
                currency: "GBP".into(),
                description: "A claim".into(),
            })
            .await);
        ok(admin
            .decide_claim(pb::DecideClaimRequest {
                id: a_claim.id.clone(),
                approve: true,
                reason: String::new(),
            })
            .await);
        ok(admin
            .create_venue(pb::CreateVenueRequest {
                name: "A hall".into(),
                address: "A road".into(),
                capacity: 20,
                buffer_minutes: 0,
            })
            .await);

        // venues
        expect_code(
            admin
                .update_venue(pb::UpdateVenueRequest {
                    id: rows.venue.id.clone(),
                    capacity: Some(1),
                    ..Default::default()
                })
                .await,
            nf,
        );
        let venues = ok(admin
            .list_venues(pb::ListVenuesRequest { page: page() })
            .await);
        assert_eq!(venues.venues.len(), 1);
        none_of_b(venues.venues.into_iter().map(|v| v.id).collect(), "venues");

        // events
        let in_a = |f: fn(&mut pb::CreateEventRequest, &BRows, &Seeded)| {
            let mut req = soon(pb::EventKind::ScoringTraining, a.cluster, 600);
            f(&mut req, &rows, &b);
            req
        };
        expect_fields(
            admin
                .create_event(in_a(|r, _, b| r.cluster_id = Some(b.cluster.to_string())))
                .await,
            &["cluster_id"],
        );
        expect_fields(
            admin
                .create_event(in_a(|r, rows, _| r.venue_id = Some(rows.venue.id.clone())))
                .await,
            &["venue_id"],
        );
        expect_fields(
            admin
                .create_event(in_a(|r, rows, _| {
                    r.prepares_for_event_id = Some(rows.session.id.clone())
                }))
                .await,
            &["prepares_for_event_id"],
        );
        for b_event in [&rows.meeting.id, &rows.draft.id] {
            expect_code(
                admin
                    .update_event(pb::UpdateEventRequest {
                        id: b_event.clone(),
                        scope: pb::EditScope::Series as i32,
                        title: Some("Taken".into()),
                        ..Default::default()
                    })
                    .await,
                nf,
            );
            expect_code(admin.publish_event(r(b_event)).await, nf);
            expect_code(
                admin
                    .cancel_event(pb::CancelEventRequest {
                        id: b_event.clone(),
                        scope: pb::EditScope::Series as i32,
                        reason: "taken".into(),
                    })
                    .await,
                nf,
            );
        }
        let got = ok(admin
            .get_events(pb::GetByIdsRequest {
                ids: b_ids[1..4].to_vec(),
            })
            .await);
        assert!(got.events.is_empty());
        let listed = ok(admin
            .list_events(pb::ListEventsRequest {
                page: page(),
                include_drafts: true,
                include_cancelled: true,
                ..Default::default()
            })
            .await);
        assert_eq!(listed.events.len(), 1);
        none_of_b(listed.events.into_iter().map(|e| e.id).collect(), "events");
        assert!(
            ok(admin
                .list_events(pb::ListEventsRequest {
                    page: page(),
                    cluster_id: Some(b.cluster.to_string()),
                    include_drafts: true,
                    include_cancelled: true,
                    ..Default::default()
                })
                .await)
            .events
            .is_empty()
        );
        assert!(
            ok(admin
                .list_events(pb::ListEventsRequest {
                    page: page(),
                    person_id: Some(b.teachers[0].to_string()),
                    ..Default::default()
                })
                .await)
            .events
            .is_empty()
        );

        // invitations and RSVPs
        expect_code(
            admin
                .invite(pb::InviteRequest {
                    event_id: rows.meeting.id.clone(),
                    audiences: vec![pb::Audience {
                        audience: Some(pb::audience::Audience::ClusterId(a.cluster.to_string())),
                    }],
                })
                .await,
            nf,
        );
        expect_fields(
            admin
                .invite(pb::InviteRequest {
                    event_id: a_event.id.clone(),
                    audiences: vec![
                        pb::Audience {
                            audience: Some(pb::audience::Audience::ClusterId(
                                b.cluster.to_string(),
                            )),
                        },
                        pb::Audience {
                            audience: Some(pb::audience::Audience::People(pb::PersonList {
                                person_ids: vec![b.teachers[0].to_string()],
                            })),
                        },
                    ],
                })
                .await,
            &[
                "audiences[0].cluster_id",
                "audiences[1].people.person_ids[0]",
            ],
        );
        let mut a_teacher = app.teacher(&a, 1);
        expect_code(
            a_teacher
                .rsvp(pb::RsvpRequest {
                    event_id: rows.session.id.clone(),
                    response: pb::RsvpStatus::Accepted as i32,
                })
                .await,
            nf,
        );
        expect_code(
            admin
                .decide_registration(pb::DecideRegistrationRequest {
                    event_id: rows.session.id.clone(),
                    person_id: b.teachers[0].to_string(),
                    approve: true,
                })
                .await,
            nf,
        );
        expect_code(
            admin
                .list_rsvps(pb::ListRsvpsRequest {
                    event_id: rows.session.id.clone(),
                    ..Default::default()
                })
                .await,
            nf,
        );
        let clashes = ok(admin
            .list_clashes(pb::ListClashesRequest {
                person_id: b.teachers[0].to_string(),
                starts_at: "2020-01-01T00:00:00Z".into(),
                ends_at: "2030-01-01T00:00:00Z".into(),
            })
            .await);
        assert!(clashes.events.is_empty());

        // attendance
        expect_code(
            admin
                .record_attendance(pb::RecordAttendanceRequest {
                    event_id: rows.meeting.id.clone(),
                    marks: vec![pb::AttendanceMark {
                        person_id: b.teachers[1].to_string(),
                        status: pb::AttendanceStatus::Present as i32,
                    }],
                })
                .await,
            nf,
        );
        expect_code(
            a_teacher
                .check_in(pb::CheckInRequest {
                    event_id: rows.meeting.id.clone(),
                    code: rows.meeting.check_in_code.clone(),
                })
                .await,
            nf,
        );
        let attendance = ok(admin
            .list_attendance(pb::ListAttendanceRequest {
                page: page(),
                event_id: Some(rows.meeting.id.clone()),
                person_id: None,
            })
            .await);
        assert!(attendance.records.is_empty());
        let b_person = ok(admin
            .list_attendance(pb::ListAttendanceRequest {
                page: page(),
                event_id: None,
                person_id: Some(b.teachers[0].to_string()),
            })
            .await);
        assert!(b_person.records.is_empty());
        let all_attendance = ok(admin
            .list_attendance(pb::ListAttendanceRequest {
                page: page(),
                event_id: Some(a_event.id.clone()),
                person_id: None,
            })
            .await);
        assert_eq!(all_attendance.records.len(), 1);
        none_of_b(
            all_attendance
                .records
                .into_iter()
                .map(|r| r.event_id)
                .collect(),
            "attendance",
        );
        let b_trained = ok(admin
            .get_training_status(pb::GetTrainingStatusRequest {
                person_id: b.teachers[0].to_string(),
                academic_year: rows.meeting.academic_year,
            })
            .await);
        assert!(!b_trained.trained);

        // programme rules
        let a_rules = ok(admin.get_rule_settings(pb::GetRuleSettingsRequest {}).await);
        assert_eq!(a_rules.min_network_meetings, 2, "B's settings are B's");
        ok(admin
            .update_rule_settings(pb::RuleSettings {
                min_network_meetings: 4,
                ..a_rules
            })
            .await);
        expect_code(
            admin
                .get_compliance(pb::GetComplianceRequest {
                    cluster_id: b.cluster.to_string(),
                    academic_year: 0,
                })
                .await,
            nf,
        );

        // materials
        expect_code(
            admin
                .add_material(pb::AddMaterialRequest {
                    event_id: rows.meeting.id.clone(),
                    title: "x".into(),
                    source: Some(pb::add_material_request::Source::Url(
                        "https://example.org".into(),
                    )),
                })
                .await,
            nf,
        );
        expect_code(admin.list_materials(r(&rows.meeting.id)).await, nf);
        expect_code(
            admin
                .get_material_content(pb::MaterialRef {
                    material_id: rows.material.id.clone(),
                })
                .await,
            nf,
        );

        // claims
        expect_code(
            app.teacher(&a, 0)
                .submit_claim(pb::SubmitClaimRequest {
                    event_id: rows.meeting.id.clone(),
                    travel_amount: 1,
                    subsistence_amount: 0,
                    currency: "GBP".into(),
                    description: String::new(),
                })
                .await,
            nf,
        );
        expect_code(
            admin
                .decide_claim(pb::DecideClaimRequest {
                    id: rows.claim.id.clone(),
                    approve: false,
                    reason: "no".into(),
                })
                .await,
            nf,
        );
        let claims = ok(admin
            .list_claims(pb::ListClaimsRequest {
                page: page(),
                ..Default::default()
            })
            .await);
        assert_eq!(claims.claims.len(), 1);
        none_of_b(claims.claims.into_iter().map(|c| c.id).collect(), "claims");
        let export = ok(admin
            .export_approved_claims(pb::ExportClaimsRequest::default())
            .await);
        assert_eq!(export.rows, 1);
        assert!(!export.csv.contains(&rows.meeting.id) && !export.csv.contains("B claim"));

        // feedback
        expect_code(
            admin
                .set_questionnaire(pb::SetQuestionnaireRequest {
                    event_id: rows.meeting.id.clone(),
                    questions: vec![],
                })
                .await,
            nf,
        );
        expect_code(admin.get_questionnaire(r(&rows.meeting.id)).await, nf);
        expect_code(
            a_teacher
                .submit_feedback(pb::SubmitFeedbackRequest {
                    event_id: rows.meeting.id.clone(),
                    answers: vec![],
                })
                .await,
            nf,
        );
        expect_code(admin.get_feedback_summary(r(&rows.meeting.id)).await, nf);

        // calendars
        expect_code(admin.get_event_ics(r(&rows.meeting.id)).await, nf);
        let a_feed = ok(a_teacher
            .get_my_calendar_feed(pb::GetMyCalendarFeedRequest {})
            .await);
        let a_ics = ok(app
            .feeds()
            .render_feed(pb::RenderFeedRequest {
                token: a_feed.token.clone(),
            })
            .await)
        .ics;
        for b_id in &b_ids {
            assert!(!a_ics.contains(b_id.as_str()), "A's feed shows none of B");
        }
        ok(a_teacher
            .revoke_my_calendar_feed(pb::GetMyCalendarFeedRequest {})
            .await);

        // B is unchanged.
        let b_events_after = app
            .store
            .get_events(
                b.id,
                &[
                    id(&rows.meeting.id),
                    id(&rows.draft.id),
                    id(&rows.session.id),
                ],
            )
            .await
            .unwrap();
        assert_eq!(b_events_after, b_events_before);
        let mut b_admin = app.admin(&b);
        assert_eq!(
            ok(b_admin
                .get_rule_settings(pb::GetRuleSettingsRequest {})
                .await)
            .min_network_meetings,
            7
        );
        let b_claim = app.store.get_claim(b.id, id(&rows.claim.id)).await.unwrap();
        assert_eq!(
            b_claim.status,
            collegium_scheduling::domain::ClaimStatus::Approved
        );
        assert_eq!(
            ok(b_admin
                .list_venues(pb::ListVenuesRequest { page: page() })
                .await)
            .venues,
            std::slice::from_ref(&rows.venue)
        );
        assert_eq!(rsvps(&mut app.lead(&b), &rows.session.id).await.len(), 1);
        let b_ics = ok(app
            .feeds()
            .render_feed(pb::RenderFeedRequest {
                token: rows.feed_token.clone(),
            })
            .await)
        .ics;
        assert!(b_ics.contains(&rows.meeting.id), "B's feed still works");
        let summary = ok(app.lead(&b).get_feedback_summary(r(&rows.meeting.id)).await);
        assert_eq!(summary.respondents, 1);
    })
    .await;
}

#[tokio::test]
async fn person_data_requests_are_admin_only_and_keep_to_the_callers_tenant() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed(&app.membership, "alpha").await;
        let b = seed(&app.membership, "beta").await;
        let mut lead = app.lead(&a);
        let training = event(
            &mut lead,
            soon(pb::EventKind::ScoringTraining, a.cluster, 30),
        )
        .await;
        ok(app
            .teacher(&a, 0)
            .check_in(pb::CheckInRequest {
                event_id: training.id.clone(),
                code: training.check_in_code.clone(),
            })
            .await);
        let claim = ok(app
            .teacher(&a, 0)
            .submit_claim(pb::SubmitClaimRequest {
                event_id: training.id.clone(),
                travel_amount: 1250,
                subsistence_amount: 705,
                currency: "gbp".into(),
                description: "Train from my home town".into(),
            })
            .await);
        let req = |p: Uuid| collegium_proto::common::v1::PersonDataRequest {
            person_id: p.to_string(),
        };
        let person = a.teachers[0];

        // Teachers (even about themselves) and leads are refused.
        let mut teacher = app.teacher(&a, 0);
        expect_code(
            teacher.export_person_data(req(person)).await,
            Code::PermissionDenied,
        );
        expect_code(
            teacher.erase_person_data(req(person)).await,
            Code::PermissionDenied,
        );
        expect_code(
            lead.erase_person_data(req(person)).await,
            Code::PermissionDenied,
        );
        expect_fields(
            app.admin(&a)
                .export_person_data(collegium_proto::common::v1::PersonDataRequest {
                    person_id: "x".into(),
                })
                .await,
            &["person_id"],
        );

        // B's admin asking for A's person gets nothing and erases nothing.
        let mut admin_b = app.admin(&b);
        let nothing = ok(admin_b.export_person_data(req(person)).await);
        let doc: serde_json::Value = serde_json::from_str(&nothing.json).unwrap();
        assert_eq!(doc["attendance"], serde_json::json!([]));
        assert_eq!(doc["expense_claims"], serde_json::json!([]));
        let report = ok(admin_b.erase_person_data(req(person)).await);
        assert!(report.counts.iter().all(|c| c.count == 0), "{report:?}");
        let kept = app.store.get_claim(a.id, id(&claim.id)).await.unwrap();
        assert_eq!(kept.description, "Train from my home town");

        // A's admin exports and erases.
        let mut admin = app.admin(&a);
        let export = ok(admin.export_person_data(req(person)).await);
        assert_eq!(export.service, "scheduling");
        let doc: serde_json::Value = serde_json::from_str(&export.json).unwrap();
        assert_eq!(
            doc["attendance"][0]["event_id"],
            serde_json::json!(training.id)
        );
        assert_eq!(
            doc["expense_claims"][0]["description"],
            serde_json::json!("Train from my home town")
        );
        let report = ok(admin.erase_person_data(req(person)).await);
        assert_eq!(report.service, "scheduling");
        let blanked = report
            .counts
            .iter()
            .find(|c| c.kind == "expense_claims_blanked")
            .expect("claims counted");
        assert_eq!(blanked.count, 1);
        let scrubbed = report
            .counts
            .iter()
            .find(|c| c.kind == "audit_snapshots_scrubbed")
            .expect("audit snapshots counted");
        assert_eq!(scrubbed.count, 1, "the claim.submitted record");
        assert_eq!(
            app.store
                .get_claim(a.id, id(&claim.id))
                .await
                .unwrap()
                .description,
            ""
        );
        let after = ok(admin.export_person_data(req(person)).await);
        let doc: serde_json::Value = serde_json::from_str(&after.json).unwrap();
        assert_eq!(
            doc["attendance"][0]["event_id"],
            serde_json::json!(training.id),
            "kept"
        );
        let again = ok(admin.erase_person_data(req(person)).await);
        assert!(again.counts.iter().all(|c| c.count == 0), "{again:?}");
        assert!(
            again
                .counts
                .iter()
                .any(|c| c.kind == "audit_snapshots_scrubbed"),
            "{again:?}"
        );
    })
    .await;
}

// ------------------------------------------------------------------ retention

/// A tenant's event whose feedback and decided claim are 400 days old,
/// and a claim still awaiting a decision.
struct AgedRows {
    event: String,
    decided_claim: String,
    open_claim: String,
}

async fn aged_rows(app: &TestApp, s: &Seeded) -> AgedRows {
    let mut lead = app.lead(s);
    let training = event(
        &mut lead,
        soon(pb::EventKind::ScoringTraining, s.cluster, 30),
    )
    .await;
    for i in 0..2 {
        ok(app
            .teacher(s, i)
            .check_in(pb::CheckInRequest {
                event_id: training.id.clone(),
                code: training.check_in_code.clone(),
            })
            .await);
    }
    let questionnaire = ok(lead
        .set_questionnaire(pb::SetQuestionnaireRequest {
            event_id: training.id.clone(),
            questions: vec![pb::Question {
                id: String::new(),
                text: "Useful?".into(),
                kind: pb::QuestionKind::Rating as i32,
            }],
        })
        .await);
    ok(app
        .teacher(s, 0)
        .submit_feedback(pb::SubmitFeedbackRequest {
            event_id: training.id.clone(),
            answers: vec![pb::Answer {
                question_id: questionnaire.questions[0].id.clone(),
                rating: 4,
                text: String::new(),
            }],
        })
        .await);
    let mut claims = Vec::new();
    for i in 0..2 {
        claims.push(
            ok(app
                .teacher(s, i)
                .submit_claim(pb::SubmitClaimRequest {
                    event_id: training.id.clone(),
                    travel_amount: 1000,
                    subsistence_amount: 0,
                    currency: "GBP".into(),
                    description: "Bus".into(),
                })
                .await)
            .id,
        );
    }
    ok(app
        .admin(s)
        .decide_claim(pb::DecideClaimRequest {
            id: claims[0].clone(),
            approve: true,
            reason: String::new(),
        })
        .await);
    // Age the event and the decision by 400 days, as the app role would see them.
    let ago = Utc::now() - chrono::Duration::days(400);
    let mut tx = app.store.pool().begin_tenant(s.id).await.unwrap();
    for (sql, row, at) in [
        (
            "UPDATE events SET starts_at = $3 WHERE tenant_id = $1 AND id = $2",
            &training.id,
            ago - chrono::Duration::hours(3),
        ),
        (
            "UPDATE events SET ends_at = $3 WHERE tenant_id = $1 AND id = $2",
            &training.id,
            ago,
        ),
        (
            "UPDATE expense_claims SET decided_at = $3 WHERE tenant_id = $1 AND id = $2",
            &claims[0],
            ago,
        ),
    ] {
        let done = sqlx::query(sql)
            .bind(s.id.0)
            .bind(id(row))
            .bind(at)
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1, "{sql}");
    }
    tx.commit().await.unwrap();
    AgedRows {
        event: training.id,
        decided_claim: claims[0].clone(),
        open_claim: claims[1].clone(),
    }
}

fn retention_req(
    cutoffs: &[(&str, DateTime<Utc>)],
    dry_run: bool,
) -> common::ApplyRetentionRequest {
    common::ApplyRetentionRequest {
        cutoffs: cutoffs
            .iter()
            .map(|(category, before)| common::RetentionCutoff {
                category: category.to_string(),
                before: before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })
            .collect(),
        dry_run,
    }
}

/// A report's counts as (category, kind, action, count).
fn report_counts(r: &common::RetentionReport) -> Vec<(String, String, String, u64)> {
    r.counts
        .iter()
        .map(|c| {
            (
                c.category.clone(),
                c.kind.clone(),
                c.action.clone(),
                c.count,
            )
        })
        .collect()
}

fn deleted(expected: &[(&str, &str, u64)]) -> Vec<(String, String, String, u64)> {
    expected
        .iter()
        .map(|(c, k, n)| (c.to_string(), k.to_string(), "deleted".to_string(), *n))
        .collect()
}

async fn respondents(app: &TestApp, s: &Seeded, event: &str) -> u32 {
    ok(app.lead(s).get_feedback_summary(r(event)).await).respondents
}

async fn claim_ids(app: &TestApp, s: &Seeded) -> Vec<String> {
    let mut ids: Vec<String> = ok(app
        .admin(s)
        .list_claims(pb::ListClaimsRequest {
            page: page(),
            ..Default::default()
        })
        .await)
    .claims
    .into_iter()
    .map(|c| c.id)
    .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn retention_is_for_admins_checks_its_cutoffs_and_keeps_to_the_callers_tenant() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed(&app.membership, "alpha").await;
        let b = seed(&app.membership, "beta").await;
        let ra = aged_rows(&app, &a).await;
        let rb = aged_rows(&app, &b).await;
        let a_claims = claim_ids(&app, &a).await;
        let b_claims = claim_ids(&app, &b).await;
        assert_eq!(a_claims.len(), 2);
        let year_ago = Utc::now() - chrono::Duration::days(366);
        let cutoffs = [
            ("event_feedback", year_ago),
            ("expense_claims", year_ago),
            ("audit_log", year_ago),
            // Not scheduling's: accepted, ignored, not reported.
            ("student_work", year_ago),
        ];

        // Teachers and cluster leads may not; bad cutoffs name their field.
        for mut caller in [app.teacher(&a, 0), app.lead(&a)] {
            expect_code(
                caller.apply_retention(retention_req(&cutoffs, false)).await,
                Code::PermissionDenied,
            );
        }
        let mut admin = app.admin(&a);
        let ten_days_ago = Utc::now() - chrono::Duration::days(10);
        expect_fields(
            admin
                .apply_retention(retention_req(&[("event_feedback", ten_days_ago)], false))
                .await,
            &["cutoffs[0].before"],
        );
        expect_fields(
            admin
                .apply_retention(retention_req(&[("everything", year_ago)], false))
                .await,
            &["cutoffs[0].category"],
        );
        assert_eq!(respondents(&app, &a, &ra.event).await, 1, "nothing expired");
        assert_eq!(claim_ids(&app, &a).await, a_claims);

        // The retention job (a service token) asks for a dry run first.
        let expected = deleted(&[
            ("event_feedback", "feedback", 1),
            ("expense_claims", "expense_claims", 1),
            ("audit_log", "audit_records", 0),
        ]);
        let dry = ok(app
            .service(&a)
            .apply_retention(retention_req(&cutoffs, true))
            .await);
        assert_eq!((dry.service.as_str(), dry.dry_run), ("scheduling", true));
        assert_eq!(report_counts(&dry), expected);
        assert_eq!(
            respondents(&app, &a, &ra.event).await,
            1,
            "a dry run keeps all"
        );
        assert_eq!(claim_ids(&app, &a).await, a_claims);

        // A's admin applies it: A's old feedback and decided claim go.
        let applied = ok(admin.apply_retention(retention_req(&cutoffs, false)).await);
        assert!(!applied.dry_run);
        assert_eq!(report_counts(&applied), expected, "as the dry run said");
        assert_eq!(respondents(&app, &a, &ra.event).await, 0);
        assert_eq!(claim_ids(&app, &a).await, vec![ra.open_claim.clone()]);
        assert!(
            matches!(
                app.store.get_claim(a.id, id(&ra.decided_claim)).await,
                Err(Error::NotFound(_))
            ),
            "A's claim decided 400 days ago is deleted"
        );

        // B's rows, just as old, are all still there.
        assert_eq!(respondents(&app, &b, &rb.event).await, 1);
        assert_eq!(claim_ids(&app, &b).await, b_claims);
        let b_claim = app
            .store
            .get_claim(b.id, id(&rb.decided_claim))
            .await
            .expect("B's decided claim stays");
        assert_eq!(
            b_claim.status,
            collegium_scheduling::domain::ClaimStatus::Approved
        );

        // Again: nothing left to expire.
        let again = ok(admin.apply_retention(retention_req(&cutoffs, false)).await);
        assert_eq!(
            report_counts(&again),
            deleted(&[
                ("event_feedback", "feedback", 0),
                ("expense_claims", "expense_claims", 0),
                ("audit_log", "audit_records", 0),
            ])
        );
    })
    .await;
}
