//! Benchmark of issue 3 (not a timed test): a person's calendar feed with
//! 2,000 events including recurring series, and the compliance view of 500
//! clusters, each timed per call through the real gRPC path and compared with
//! the time of the SQL underneath it alone, in the same run.
//!
//! Run by hand (PostgreSQL as `scripts/test` starts it, or `COLLEGIUM_TEST_PG`):
//!
//! ```text
//! cargo bench -p collegium-scheduling --bench feed_and_compliance
//! ```
//!
//! Without the `--bench` argument that `cargo bench` passes (as when
//! `cargo test --all-targets` runs bench targets in test mode) it prints
//! "skipped in test mode" and returns at once.
//!
//! What it does:
//! - starts membership and scheduling on port 0, each over a fresh database
//!   migrated as the owner and used as its app role (as `tests/grpc.rs`);
//! - seeds one tenant through the stores: 500 clusters, each with a centre,
//!   a lead and 10 teachers (membership); a year (2025/26, all past) of
//!   network meetings, scoring sessions, scoring trainings, regional leader
//!   trainings and recording viewings with attendance (scheduling); and one
//!   person invited to 2,000 events in three zones with DST changes: 20
//!   weekly series of 40 occurrences (some with EXDATEs, a moved and a
//!   cancelled occurrence each) and 1,200 single events, most accepted;
//! - (a) times `CalendarFeedService.RenderFeed` with the person's feed token
//!   against the SELECTs the store issues for it (the feed, the person's
//!   events, the occurrences of their series, the venues), run with sqlx as
//!   `scheduling_app` in one tenant transaction, fetching the same rows
//!   (not decoding them); the same work in process without gRPC (store
//!   reads, `api::feed::calendar`, the render alone) is shown below the
//!   table, and the feed must equal the in-process render byte for byte;
//! - (b) times `GetCompliance` for each of the 500 clusters in sequence (as
//!   each cluster's lead), after 20 warm-up calls, against the SQL of the
//!   same data: scheduling's SELECTs (three event lists, attendance of the
//!   scorers and of the leader, the rule settings) and membership's SELECTs
//!   behind the three membership calls compliance makes (cluster, tenant,
//!   the cluster's teachers), each service's in one tenant transaction as
//!   its app role. The membership calls are also timed on their own,
//!   through the client scheduling uses, to show their share.
//!
//! Service and SQL are run alternately, call by call, so noise from other
//! work on the machine falls on both. Prints a table (median and p95 per
//! call; ratio = service median / SQL median) and exits non-zero when the
//! ratio of RenderFeed or GetCompliance exceeds 3.0.
//! Environment: `BENCH_FEED_ITERS` (default 30) feed iterations;
//! `BENCH_NODELAY=1` starts membership with TCP_NODELAY on its listener (see
//! [`listener`]).

use std::{
    collections::HashMap,
    future::Future,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, Duration as Span, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use collegium_membership::{MembershipStore, domain as m};
use collegium_proto::scheduling::v1::{
    self as pb, calendar_feed_service_client::CalendarFeedServiceClient,
    scheduling_service_client::SchedulingServiceClient,
};
use collegium_scheduling::{
    MaterialStore, SchedulingRuntime,
    domain::{
        AttendanceStatus, Event, EventKind, EventStatus, RsvpStatus, Venue, academic_year,
        recurrence,
    },
    membership::MembershipClient,
    store::SchedulingStore,
};
use platform::{
    auth::{Grant, PersonId, Principal, Role, TenantId},
    db::TenantPool,
    grpc::ForwardCaller,
    page::MAX_PAGE_SIZE,
};
use sqlx::{PgPool, Postgres, QueryBuilder};
use testkit::{TestDatabase, TestIssuer};
use tokio::{net::TcpListener, sync::Semaphore, task::JoinSet};
use tonic::transport::{Channel, Endpoint};
use uuid::Uuid;

const ACTOR: &str = "0190f000-0000-7000-8000-00000000be01";
/// The tenant's zone (academic years start on 1 September there).
const ZONE: &str = "Europe/London";
/// Zones of the feed's events: DST in both hemispheres.
const FEED_ZONES: [&str; 3] = ["Europe/London", "America/New_York", "Australia/Sydney"];
const CLUSTERS: usize = 500;
const TEACHERS: usize = 10;
const SERIES: usize = 20;
const OCCURRENCES: usize = 40;
const SINGLES: usize = 1_200;
const FEED_EVENTS: usize = SERIES * OCCURRENCES + SINGLES;
/// Regional leader trainings and recording viewings of the year (each).
const TENANT_TRAININGS: usize = 10;
/// The academic year of the compliance data (2025/26: wholly past).
const YEAR: i32 = 2025;
const LIMIT: f64 = 3.0;
const SEED_CONCURRENCY: usize = 8;
const POOL: u32 = 16;
const BIG: usize = 64 * 1024 * 1024;

fn main() -> ExitCode {
    if !std::env::args().skip(1).any(|a| a == "--bench") {
        println!("feed_and_compliance: skipped in test mode (run it with cargo bench)");
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("feed_and_compliance: {e:#}");
            ExitCode::from(2)
        }
    }
}

// ------------------------------------------------------------------ helpers

/// Runs `f` over `items` with at most `n` at a time; results in input order.
async fn par<T, R, F, Fut>(items: Vec<T>, n: usize, f: F) -> Result<Vec<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R>> + Send + 'static,
{
    let f = Arc::new(f);
    let permits = Arc::new(Semaphore::new(n));
    let mut set = JoinSet::new();
    let count = items.len();
    for (i, item) in items.into_iter().enumerate() {
        let permit = permits.clone().acquire_owned().await?;
        let f = f.clone();
        set.spawn(async move {
            let r = f(item).await;
            drop(permit);
            (i, r)
        });
    }
    let mut out: Vec<Option<R>> = (0..count).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (i, r) = joined?;
        out[i] = Some(r?);
    }
    Ok(out
        .into_iter()
        .map(|r| r.expect("every task reported"))
        .collect())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `q`-quantile (nearest rank) of `samples`, in milliseconds.
fn quantile(samples: &[Duration], q: f64) -> f64 {
    let mut v: Vec<f64> = samples.iter().copied().map(ms).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn median(samples: &[Duration]) -> f64 {
    quantile(samples, 0.5)
}

fn tz(name: &str) -> Tz {
    name.parse().expect("a known zone")
}

fn local(zone: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    zone.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("an unambiguous local time")
        .with_timezone(&Utc)
}

fn year_of(at: DateTime<Utc>) -> i32 {
    academic_year::academic_year_of(at, tz(ZONE), 9, 1)
}

fn code(i: usize) -> String {
    format!("{:06}", (i * 7919) % 1_000_000)
}

/// A published event as the API would build it (no venue or link yet).
#[allow(clippy::too_many_arguments)]
fn event(
    i: usize,
    kind: EventKind,
    cluster: Option<Uuid>,
    title: String,
    starts_at: DateTime<Utc>,
    minutes: i64,
    zone: &str,
) -> Event {
    let now = Utc::now();
    Event {
        id: Uuid::now_v7(),
        kind,
        cluster_id: cluster,
        title,
        agenda: "Welcome; moderation of samples; next steps, questions".into(),
        starts_at,
        ends_at: starts_at + Span::minutes(minutes),
        time_zone: zone.to_string(),
        venue_id: None,
        online_url: None,
        capacity: 0,
        status: EventStatus::Published,
        academic_year: year_of(starts_at),
        approval_required: false,
        training_hours: match kind {
            EventKind::ScoringTraining => (minutes / 60) as u32,
            _ => 0,
        },
        prepares_for_event_id: None,
        series_id: None,
        recurrence_id: None,
        rrule: None,
        series_start: None,
        detached: false,
        sequence: 0,
        check_in_code: code(i),
        created_by: ACTOR.to_string(),
        created_at: now,
        updated_at: now,
    }
}

fn online(mut e: Event, i: usize) -> Event {
    e.online_url = Some(format!("https://meet.example.org/room-{i}"));
    e
}

// ------------------------------------------------------------------ the servers

struct App {
    addr: std::net::SocketAddr,
    membership_addr: std::net::SocketAddr,
    mstore: collegium_membership::store::postgres::Store,
    store: collegium_scheduling::store::postgres::Store,
    /// The SQL-alone pools: the app roles, apart from the services' pools.
    sql: PgPool,
    msql: PgPool,
    issuer: TestIssuer,
    _stop: Vec<tokio::sync::oneshot::Sender<()>>,
    dbs: (TestDatabase, TestDatabase),
}

/// A listener on a free port, bound as the services' `main` binds theirs.
/// `collegium_scheduling::start` sets TCP_NODELAY on it itself; membership's
/// `start` does not (nor does `platform::grpc::serve`), so membership's
/// responses can wait ~40 ms for a delayed ACK. With `BENCH_NODELAY` set the
/// listener gets TCP_NODELAY here (accepted sockets inherit it), which shows
/// what membership gives once its server sets it.
fn listener() -> Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    if std::env::var_os("BENCH_NODELAY").is_some() {
        socket.set_nodelay(true)?;
    }
    socket.bind("127.0.0.1:0".parse()?)?;
    Ok(socket.listen(1024)?)
}

async fn start() -> Result<App> {
    let issuer = TestIssuer::new();
    let mdb = TestDatabase::migrated(
        collegium_membership::SCHEMA,
        &collegium_membership::POSTGRES_MIGRATIONS,
    )
    .await
    .context("membership database (is PostgreSQL up? scripts/services-up)")?;
    let murl = mdb.app_url(collegium_membership::SCHEMA);
    let mstore = collegium_membership::open_postgres(&murl, POOL).await?;
    let (m_stop, m_stopped) = tokio::sync::oneshot::channel::<()>();
    let m_running = collegium_membership::start(
        listener()?,
        Arc::new(mstore.clone()),
        issuer.verifier.clone(),
        async move {
            let _ = m_stopped.await;
        },
    )
    .await?;

    let sdb = TestDatabase::migrated(
        collegium_scheduling::SCHEMA,
        &collegium_scheduling::POSTGRES_MIGRATIONS,
    )
    .await
    .context("scheduling database")?;
    let surl = sdb.app_url(collegium_scheduling::SCHEMA);
    let store = collegium_scheduling::open_postgres(&surl, POOL).await?;
    let (s_stop, s_stopped) = tokio::sync::oneshot::channel::<()>();
    let running = collegium_scheduling::start(
        listener()?,
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
    .await?;
    let sql = platform::db::connect_postgres(&surl, collegium_scheduling::SCHEMA, 4).await?;
    let msql = platform::db::connect_postgres(&murl, collegium_membership::SCHEMA, 4).await?;
    Ok(App {
        addr: running.addr,
        membership_addr: m_running.addr,
        mstore,
        store,
        sql,
        msql,
        issuer,
        _stop: vec![s_stop, m_stop],
        dbs: (mdb, sdb),
    })
}

impl App {
    fn channel(&self) -> Result<Channel> {
        Ok(Endpoint::from_shared(format!("http://{}", self.addr))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .connect_lazy())
    }
}

// ------------------------------------------------------------------ seeding

struct Seeded {
    t: TenantId,
    /// (cluster, lead, teachers)
    clusters: Vec<(Uuid, Uuid, Vec<Uuid>)>,
    person: Uuid,
}

async fn seed_membership(app: &App) -> Result<Seeded> {
    let ms = app.mstore.clone();
    let tenant = ms
        .create_tenant(m::NewTenant {
            slug: testkit::unique("bench").replace('_', "-"),
            name: "Benchmark Awarding Body".into(),
            kind: m::TenantKind::AwardingBody,
            settings: m::TenantSettings {
                time_zone: ZONE.into(),
                locale: "en-GB".into(),
                academic_year_start_month: 9,
                academic_year_start_day: 1,
            },
        })
        .await?;
    let t = tenant.id;

    let s = ms.clone();
    let centres = par((0..CLUSTERS).collect(), SEED_CONCURRENCY, move |i| {
        let s = s.clone();
        async move {
            Ok(s.create_organisation(
                t,
                ACTOR,
                m::NewOrganisation {
                    name: format!("Centre {i:03}"),
                    kind: m::OrganisationKind::Centre,
                    external_id: None,
                    contact: m::Contact::default(),
                },
            )
            .await?
            .id)
        }
    })
    .await?;

    // Lead first, then the teachers, of each cluster.
    let wanted: Vec<(usize, usize, Uuid)> = (0..CLUSTERS)
        .flat_map(|c| (0..=TEACHERS).map(move |k| (c, k)))
        .map(|(c, k)| (c, k, centres[c]))
        .collect();
    let s = ms.clone();
    let people = par(wanted, SEED_CONCURRENCY, move |(c, k, centre)| {
        let s = s.clone();
        async move {
            Ok(s.create_person(
                t,
                ACTOR,
                m::NewPerson {
                    given_name: if k == 0 {
                        format!("Lead{c:03}")
                    } else {
                        format!("Teacher{k:02}")
                    },
                    family_name: format!("Cluster{c:03}"),
                    contact: m::Contact::default(),
                    organisation_id: Some(centre),
                    external_id: None,
                    time_zone: None,
                },
            )
            .await?
            .id)
        }
    })
    .await?;

    let s = ms.clone();
    let people_of = people.clone();
    let clusters = par((0..CLUSTERS).collect(), SEED_CONCURRENCY, move |c| {
        let s = s.clone();
        let lead = people_of[c * (TEACHERS + 1)];
        let centre = centres[c];
        async move {
            Ok(s.create_cluster(
                t,
                ACTOR,
                m::NewCluster {
                    name: format!("Cluster {c:03}"),
                    description: String::new(),
                    lead_person_id: Some(lead),
                    centre_ids: vec![centre],
                },
            )
            .await?
            .id)
        }
    })
    .await?;

    let grants: Vec<(Uuid, Role, Uuid)> = (0..CLUSTERS)
        .flat_map(|c| {
            let people = &people;
            let cluster = clusters[c];
            (0..=TEACHERS).map(move |k| {
                let role = if k == 0 {
                    Role::ClusterLead
                } else {
                    Role::Teacher
                };
                (people[c * (TEACHERS + 1) + k], role, cluster)
            })
        })
        .collect();
    let s = ms.clone();
    par(grants, SEED_CONCURRENCY, move |(p, role, c)| {
        let s = s.clone();
        async move {
            s.grant_role(t, ACTOR, p, role, Some(c)).await?;
            Ok(())
        }
    })
    .await?;

    let person = ms
        .create_person(
            t,
            ACTOR,
            m::NewPerson {
                given_name: "Fiona".into(),
                family_name: "Feed".into(),
                contact: m::Contact::default(),
                organisation_id: None,
                external_id: None,
                time_zone: None,
            },
        )
        .await?
        .id;

    Ok(Seeded {
        t,
        clusters: (0..CLUSTERS)
            .map(|c| {
                let base = c * (TEACHERS + 1);
                (
                    clusters[c],
                    people[base],
                    people[base + 1..base + 1 + TEACHERS].to_vec(),
                )
            })
            .collect(),
        person,
    })
}

/// The feed person's 2,000 events, invitations, answers and a few edits.
async fn seed_feed(app: &App, s: &Seeded) -> Result<usize> {
    let t = s.t;
    let store = app.store.clone();
    let venues = par((0..2 * SERIES).collect(), SEED_CONCURRENCY, {
        let store = store.clone();
        move |i| {
            let store = store.clone();
            async move {
                Ok(store
                    .create_venue(
                        t,
                        ACTOR,
                        Venue {
                            id: Uuid::nil(),
                            name: format!("Room {i}"),
                            address: format!("{i} High Street, Exampleton"),
                            capacity: 200,
                            buffer_minutes: 15,
                        },
                    )
                    .await?
                    .id)
            }
        }
    })
    .await?;

    let now = Utc::now();
    let today = now.date_naive();
    let kinds = [
        EventKind::StudyGroup,
        EventKind::PanelMeeting,
        EventKind::NetworkMeeting,
        EventKind::RecordingViewing,
        EventKind::LeaderTraining,
    ];

    // 20 weekly series of 40 occurrences (every other one written as 42
    // with two exceptions), starting two months ago: each crosses the
    // spring and autumn changes of its zone.
    let mut batches: Vec<Vec<Event>> = Vec::new();
    for k in 0..SERIES {
        let zone_name = FEED_ZONES[k % FEED_ZONES.len()];
        let zone = tz(zone_name);
        let day = today - Span::days(60) + Span::days((k * 3) as i64);
        let dtstart: NaiveDateTime = day.and_hms_opt(17, 0, 0).expect("a time");
        let (rule, exdates) = if k % 2 == 0 {
            ("FREQ=WEEKLY;COUNT=40".to_string(), vec![])
        } else {
            (
                "FREQ=WEEKLY;COUNT=42".to_string(),
                vec![dtstart + Span::weeks(10), dtstart + Span::weeks(20)],
            )
        };
        let starts = recurrence::expand(&rule, dtstart, zone, &exdates)?;
        ensure!(starts.len() == OCCURRENCES, "series {k}: {}", starts.len());
        let series = Uuid::now_v7();
        let first = starts[0];
        let events = starts
            .into_iter()
            .enumerate()
            .map(|(j, at)| {
                let mut e = event(
                    k * 100 + j,
                    EventKind::StudyGroup,
                    None,
                    format!("Study group {k}"),
                    at,
                    90,
                    zone_name,
                );
                e.venue_id = Some(venues[k]);
                e.series_id = Some(series);
                e.recurrence_id = Some(at);
                e.rrule = Some(rule.clone());
                e.series_start = Some(first);
                e
            })
            .collect();
        batches.push(events);
    }
    // 1,200 single events, one every six hours from 85 days ago.
    let base = now - Span::days(85);
    let singles: Vec<Event> = (0..SINGLES)
        .map(|i| {
            let zone_name = FEED_ZONES[i % FEED_ZONES.len()];
            let kind = kinds[i % kinds.len()];
            let e = event(
                10_000 + i,
                kind,
                None,
                format!("{} #{i}", kind.as_str().replace('_', " ")),
                base + Span::hours(6 * i as i64),
                90,
                zone_name,
            );
            if i % 3 == 0 {
                online(e, i)
            } else {
                Event {
                    venue_id: Some(venues[SERIES + i % SERIES]),
                    ..e
                }
            }
        })
        .collect();
    for chunk in singles.chunks(100) {
        batches.push(chunk.to_vec());
    }
    let store2 = store.clone();
    let created = par(batches, SEED_CONCURRENCY, move |batch| {
        let store = store2.clone();
        async move { Ok(store.create_events(t, ACTOR, batch).await?) }
    })
    .await?;
    let all: Vec<Event> = created.into_iter().flatten().collect();
    ensure!(all.len() == FEED_EVENTS);

    // Invited to each; accepted (every tenth: tentative) where not yet begun.
    let person = s.person;
    let store2 = store.clone();
    par(all.clone(), SEED_CONCURRENCY, move |e| {
        let store = store2.clone();
        async move {
            store.invite(t, ACTOR, e.id, &[person]).await?;
            if e.starts_at > Utc::now() + Span::minutes(5) {
                let answer = if e.check_in_code.ends_with('0') {
                    RsvpStatus::Tentative
                } else {
                    RsvpStatus::Accepted
                };
                store
                    .respond(t, &person.to_string(), e.id, person, answer, Utc::now())
                    .await?;
            }
            Ok(())
        }
    })
    .await?;

    // Edits after the invitations: one occurrence of each series moved an
    // hour later (detached), another cancelled; every 25th single cancelled.
    let mut moved = Vec::new();
    let mut cancelled = Vec::new();
    let mut by_series: HashMap<Uuid, Vec<&Event>> = HashMap::new();
    for e in &all {
        if let Some(sid) = e.series_id {
            by_series.entry(sid).or_default().push(e);
        }
    }
    for occurrences in by_series.values_mut() {
        occurrences.sort_by_key(|e| e.starts_at);
        let mut m = occurrences[5].clone();
        m.starts_at += Span::hours(1);
        m.ends_at += Span::hours(1);
        m.detached = true;
        m.title = format!("{} (moved)", m.title);
        moved.push(m);
        let mut c = occurrences[8].clone();
        c.status = EventStatus::Cancelled;
        cancelled.push(c);
    }
    for (i, e) in all.iter().filter(|e| e.series_id.is_none()).enumerate() {
        if i % 25 == 0 {
            let mut c = e.clone();
            c.status = EventStatus::Cancelled;
            cancelled.push(c);
        }
    }
    for e in moved {
        store
            .update_events(t, ACTOR, "event.changed", None, vec![e])
            .await?;
    }
    for chunk in cancelled.chunks(50) {
        store
            .update_events(
                t,
                ACTOR,
                "event.cancelled",
                Some("the room is needed"),
                chunk.to_vec(),
            )
            .await?;
    }
    Ok(all.len())
}

/// A year (2025/26) of cluster events and attendance.
async fn seed_compliance(app: &App, s: &Seeded) -> Result<()> {
    let t = s.t;
    let store = app.store.clone();
    let london = tz(ZONE);

    // Regional leader trainings and recording viewings: tenant events.
    let mut tenant_events = Vec::new();
    for j in 0..TENANT_TRAININGS {
        let d = 15 + j as u32;
        tenant_events.push(online(
            event(
                j,
                EventKind::LeaderTraining,
                None,
                format!("Regional leader training {j}"),
                local(london, 2025, 9, d, 10, 0),
                180,
                ZONE,
            ),
            j,
        ));
        tenant_events.push(online(
            event(
                j,
                EventKind::RecordingViewing,
                None,
                format!("Recording viewing {j}"),
                local(london, 2025, 10, d, 14, 0),
                120,
                ZONE,
            ),
            j,
        ));
    }
    let tenant_events = store.create_events(t, ACTOR, tenant_events).await?;

    // Per cluster: three network meetings (one cancelled in every seventh
    // cluster), a scoring session and two scoring trainings preparing for it.
    let clusters = s.clusters.clone();
    let store2 = store.clone();
    par(
        clusters.into_iter().enumerate().collect(),
        SEED_CONCURRENCY,
        move |(i, (c, lead, teachers))| {
            let store = store2.clone();
            async move {
                let d = 1 + (i % 27) as u32;
                let mut meetings = vec![
                    local(london, 2025, 10, d, 16, 0),
                    local(london, 2026, 2, d, 16, 0),
                    local(london, 2026, 6, d, 16, 0),
                ]
                .into_iter()
                .map(|at| {
                    online(
                        event(
                            i,
                            EventKind::NetworkMeeting,
                            Some(c),
                            format!("Network meeting, cluster {i}"),
                            at,
                            120,
                            ZONE,
                        ),
                        i,
                    )
                })
                .collect::<Vec<_>>();
                if i % 7 == 0 {
                    meetings[2].status = EventStatus::Cancelled;
                }
                let session = online(
                    event(
                        i,
                        EventKind::ScoringSession,
                        Some(c),
                        format!("Scoring session, cluster {i}"),
                        local(london, 2026, 5, d, 9, 0),
                        360,
                        ZONE,
                    ),
                    i,
                );
                let mut first = online(
                    event(
                        i,
                        EventKind::ScoringTraining,
                        Some(c),
                        format!("Scoring training, cluster {i}"),
                        local(london, 2026, 4, d, 9, 0),
                        180,
                        ZONE,
                    ),
                    i,
                );
                first.prepares_for_event_id = Some(session.id);
                // Every fifth cluster's second training is two months early:
                // outside the window before the session.
                let month = if i % 5 == 0 { 3 } else { 4 };
                let mut second = online(
                    event(
                        i,
                        EventKind::ScoringTraining,
                        Some(c),
                        format!("Scoring training (6h), cluster {i}"),
                        local(london, 2026, month, d, 13, 0),
                        360,
                        ZONE,
                    ),
                    i,
                );
                second.prepares_for_event_id = Some(session.id);
                let (first_id, second_id) = (first.id, second.id);
                let mut batch = meetings;
                batch.extend([session, first, second]);
                store.create_events(t, ACTOR, batch).await?;

                // The lead and nine teachers at the first training; the tenth
                // teacher at the second, except in every eleventh cluster.
                let mut marks: Vec<(Uuid, AttendanceStatus)> =
                    vec![(lead, AttendanceStatus::Present)];
                marks.extend(
                    teachers[..TEACHERS - 1]
                        .iter()
                        .map(|p| (*p, AttendanceStatus::Present)),
                );
                marks.push((teachers[TEACHERS - 1], AttendanceStatus::NoShow));
                store
                    .record_attendance(t, ACTOR, first_id, &marks, "owner")
                    .await?;
                if i % 11 != 0 {
                    store
                        .record_attendance(
                            t,
                            ACTOR,
                            second_id,
                            &[(teachers[TEACHERS - 1], AttendanceStatus::Present)],
                            "owner",
                        )
                        .await?;
                }
                Ok(())
            }
        },
    )
    .await?;

    // Leads at a regional training and (but every thirteenth) a viewing.
    for (k, e) in tenant_events.iter().enumerate() {
        let j = k / 2;
        let viewing = e.kind == EventKind::RecordingViewing;
        let marks: Vec<(Uuid, AttendanceStatus)> = s
            .clusters
            .iter()
            .enumerate()
            .filter(|(i, _)| i % TENANT_TRAININGS == j && !(viewing && i % 13 == 0))
            .map(|(_, (_, lead, _))| (*lead, AttendanceStatus::Present))
            .collect();
        store
            .record_attendance(t, ACTOR, e.id, &marks, "owner")
            .await?;
    }
    Ok(())
}

// ------------------------------------------------------------------ SQL alone

/// `e.id, e.kind, …`: the store's event columns.
const EVENT_COLUMNS: &str = "e.id, e.kind, e.cluster_id, e.title, e.agenda, e.starts_at, \
     e.ends_at, e.time_zone, e.venue_id, e.online_url, e.capacity, e.status, e.academic_year, \
     e.approval_required, e.training_hours, e.prepares_for_event_id, e.series_id, \
     e.recurrence_id, e.rrule, e.series_start, e.detached, e.sequence, e.check_in_code, \
     e.created_by, e.created_at, e.updated_at";

type Tx = sqlx::Transaction<'static, Postgres>;

fn push_ids(q: &mut QueryBuilder<'_, Postgres>, ids: &[Uuid]) {
    q.push(" (");
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    q.push(")");
}

async fn begin(pool: &PgPool, t: TenantId) -> Result<Tx> {
    Ok(pool.begin_tenant(t).await?)
}

/// Rows the feed reads, with the SELECTs the store issues for it (the feed;
/// the person's events; every occurrence of their series; the venues), in
/// one tenant transaction. Returns (events of the person, series,
/// occurrences, venues).
async fn feed_sql(
    pool: &PgPool,
    t: TenantId,
    feed: Uuid,
    person: Uuid,
    from: DateTime<Utc>,
) -> Result<(usize, usize, usize, usize)> {
    use sqlx::Row;
    let mut tx = begin(pool, t).await?;
    let found = sqlx::query(
        "SELECT id, person_id, secret_hash, created_at, revoked_at FROM calendar_feeds \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(t.0)
    .bind(feed)
    .fetch_optional(&mut *tx)
    .await?;
    ensure!(found.is_some(), "the feed row");

    let rows: Vec<(Option<Uuid>, Option<Uuid>)> = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM rsvps r JOIN events e ON e.tenant_id = r.tenant_id \
         AND e.id = r.event_id WHERE r.tenant_id = $1 AND r.person_id = $2 \
         AND r.status <> 'declined' AND e.status <> 'draft' AND e.ends_at > $3 \
         ORDER BY e.starts_at, e.id"
    ))
    .bind(t.0)
    .bind(person)
    .bind(from)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.get("series_id"), r.get("venue_id")))
    .collect();

    let mut series: Vec<Uuid> = rows.iter().filter_map(|(s, _)| *s).collect();
    series.sort();
    series.dedup();
    let mut venues: std::collections::HashSet<Uuid> = rows
        .iter()
        .filter(|(s, _)| s.is_none())
        .filter_map(|(_, v)| *v)
        .collect();
    let mut occurrences = 0;
    if !series.is_empty() {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {EVENT_COLUMNS} FROM events e WHERE e.tenant_id = "
        ));
        q.push_bind(t.0).push(" AND e.series_id IN");
        push_ids(&mut q, &series);
        q.push(" ORDER BY e.series_id, e.starts_at, e.id");
        let found = q.build().fetch_all(&mut *tx).await?;
        occurrences = found.len();
        venues.extend(
            found
                .iter()
                .filter_map(|r| r.get::<Option<Uuid>, _>("venue_id")),
        );
    }

    let mut ids: Vec<Uuid> = venues.into_iter().collect();
    ids.sort();
    let mut q = QueryBuilder::<Postgres>::new(
        "SELECT id, name, address, capacity, buffer_minutes FROM venues WHERE tenant_id = ",
    );
    q.push_bind(t.0).push(" AND id IN");
    push_ids(&mut q, &ids);
    q.push(" ORDER BY id");
    let venue_rows = q.build().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok((rows.len(), series.len(), occurrences, venue_rows.len()))
}

/// Scheduling's SELECTs for one cluster's compliance view (three event
/// lists, attendance of the scorers and of the leader, the rule settings),
/// in one tenant transaction. Returns rows read.
async fn compliance_sql(
    pool: &PgPool,
    t: TenantId,
    cluster: Uuid,
    lead: Uuid,
    teachers: &[Uuid],
) -> Result<usize> {
    let mut tx = begin(pool, t).await?;
    let mut rows = 0;
    for (kind, include_cancelled) in [
        (EventKind::NetworkMeeting, true),
        (EventKind::ScoringTraining, false),
        (EventKind::ScoringSession, false),
    ] {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {EVENT_COLUMNS} FROM events e WHERE e.tenant_id = "
        ));
        q.push_bind(t.0)
            .push(" AND e.cluster_id = ")
            .push_bind(cluster)
            .push(" AND e.kind = ")
            .push_bind(kind.as_str())
            .push(" AND e.academic_year = ")
            .push_bind(YEAR);
        if !include_cancelled {
            q.push(" AND e.status <> 'cancelled'");
        }
        q.push(" ORDER BY e.starts_at, e.id LIMIT ")
            .push_bind(i64::from(MAX_PAGE_SIZE) + 1);
        rows += q.build().fetch_all(&mut *tx).await?.len();
    }
    let mut sorted = teachers.to_vec();
    sorted.sort();
    for (people, kinds) in [
        (sorted, vec![EventKind::ScoringTraining]),
        (
            vec![lead],
            vec![
                EventKind::LeaderTraining,
                EventKind::RecordingViewing,
                EventKind::ScoringTraining,
            ],
        ),
    ] {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT a.person_id, {EVENT_COLUMNS} FROM attendance a JOIN events e \
             ON e.tenant_id = a.tenant_id AND e.id = a.event_id WHERE a.tenant_id = "
        ));
        q.push_bind(t.0)
            .push(" AND a.status = 'present' AND e.status <> 'cancelled' AND e.academic_year = ")
            .push_bind(YEAR)
            .push(" AND a.person_id IN");
        push_ids(&mut q, &people);
        q.push(" AND e.kind IN (");
        let mut sep = q.separated(", ");
        for k in kinds {
            sep.push_bind(k.as_str());
        }
        q.push(")");
        q.push(" ORDER BY a.person_id, e.starts_at, e.id");
        rows += q.build().fetch_all(&mut *tx).await?.len();
    }
    rows += sqlx::query(
        "SELECT min_network_meetings, require_trained_scorers, require_leader_sequence, \
         training_window_days FROM rule_settings WHERE tenant_id = $1",
    )
    .bind(t.0)
    .fetch_optional(&mut *tx)
    .await?
    .map_or(0, |_| 1);
    tx.commit().await?;
    Ok(rows)
}

const PERSON_COLUMNS: &str = "id, given_name, family_name, email, phone, address, \
     organisation_id, external_id, time_zone, active, created_at";

/// Membership's SELECTs behind the three calls compliance makes (the
/// cluster with its centres; the tenant; the cluster's teachers, listed for
/// the lead, who is not an admin: the lead's own row and the contact
/// consents), in one tenant transaction. Returns rows read.
async fn membership_sql(pool: &PgPool, t: TenantId, cluster: Uuid, lead: Uuid) -> Result<usize> {
    let mut tx = begin(pool, t).await?;
    let mut rows = 0;
    // GetClusters
    rows += sqlx::query(
        "SELECT id, name, description, lead_person_id, created_at FROM clusters \
         WHERE tenant_id = $1 AND id IN ($2) ORDER BY id",
    )
    .bind(t.0)
    .bind(cluster)
    .fetch_all(&mut *tx)
    .await?
    .len();
    rows += sqlx::query(
        "SELECT cluster_id, organisation_id FROM cluster_centres WHERE tenant_id = $1 \
         AND cluster_id IN ($2) ORDER BY cluster_id, organisation_id",
    )
    .bind(t.0)
    .bind(cluster)
    .fetch_all(&mut *tx)
    .await?
    .len();
    // GetTenant
    rows += sqlx::query(
        "SELECT tenant_id, slug, name, kind, time_zone, locale, academic_year_start_month, \
         academic_year_start_day, created_at FROM tenants WHERE tenant_id = $1",
    )
    .bind(t.0)
    .fetch_optional(&mut *tx)
    .await?
    .map_or(0, |_| 1);
    // ListPeople (cluster, teacher) ...
    let people = sqlx::query_scalar::<_, Uuid>(&format!(
        "SELECT {PERSON_COLUMNS} FROM people p WHERE p.tenant_id = $1 AND p.id > $2 \
         AND ($3 IS NULL OR p.organisation_id = $3) \
         AND ($4 IS NULL \
              OR p.organisation_id IN (SELECT organisation_id FROM cluster_centres \
                                       WHERE tenant_id = $1 AND cluster_id = $4) \
              OR p.id IN (SELECT person_id FROM role_grants WHERE tenant_id = $1 \
                          AND cluster_id = $4 AND revoked_at IS NULL)) \
         AND ($5 IS NULL OR p.id IN (SELECT person_id FROM role_grants WHERE tenant_id = $1 \
              AND role = $5 AND revoked_at IS NULL \
              AND ($4 IS NULL OR cluster_id IS NULL OR cluster_id = $4))) \
         AND ($6 IS NULL OR lower(p.given_name || ' ' || p.family_name) LIKE $6 ESCAPE '\\') \
         ORDER BY p.id LIMIT $7"
    ))
    .bind(t.0)
    .bind(Uuid::nil())
    .bind(None::<Uuid>)
    .bind(Some(cluster))
    .bind(Some(Role::Teacher.as_str()))
    .bind(None::<String>)
    .bind(i64::from(MAX_PAGE_SIZE) + 1)
    .fetch_all(&mut *tx)
    .await?;
    rows += people.len();
    // ... the viewer (the lead's own row) ...
    rows += sqlx::query(&format!(
        "SELECT {PERSON_COLUMNS} FROM people WHERE tenant_id = $1 AND id IN ($2) ORDER BY id"
    ))
    .bind(t.0)
    .bind(lead)
    .fetch_all(&mut *tx)
    .await?
    .len();
    // ... and the consents to show their contact details.
    for column in ["subject_person_id", "subject_organisation_id"] {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {column} FROM consents WHERE tenant_id = "
        ));
        q.push_bind(t.0)
            .push(" AND purpose = ")
            .push_bind(m::SHARE_CONTACT_PURPOSE)
            .push(" AND withdrawn_at IS NULL AND ")
            .push(column)
            .push(" IN");
        push_ids(&mut q, &people);
        rows += q.build().fetch_all(&mut *tx).await?.len();
    }
    tx.commit().await?;
    Ok(rows)
}

// ------------------------------------------------------------------ measuring

/// The feed's events and venues, read once, to time the render alone.
struct RenderInput {
    events: Vec<Event>,
    venues: HashMap<Uuid, Venue>,
}

impl RenderInput {
    async fn load(
        store: &collegium_scheduling::store::postgres::Store,
        t: TenantId,
        person: Uuid,
        from: DateTime<Utc>,
    ) -> Result<Self> {
        let mine = store.calendar_events(t, person, from).await?;
        let series: Vec<Uuid> = mine.iter().filter_map(|e| e.series_id).collect();
        let mut events: Vec<Event> = mine.into_iter().filter(|e| e.series_id.is_none()).collect();
        events.extend(store.series_occurrences(t, &series).await?);
        events.retain(|e| e.status != EventStatus::Draft);
        let ids: Vec<Uuid> = events.iter().filter_map(|e| e.venue_id).collect();
        let venues = store
            .get_venues(t, &ids)
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        Ok(Self { events, venues })
    }

    fn render(&self) -> String {
        collegium_scheduling::domain::ical::calendar("Collegium", &self.events, &self.venues)
    }
}

struct Line {
    name: String,
    calls: usize,
    service: Vec<Duration>,
    sql: Vec<Duration>,
    gated: bool,
}

impl Line {
    fn ratio(&self) -> f64 {
        median(&self.service) / median(&self.sql)
    }
}

async fn run() -> Result<bool> {
    let started = Instant::now();
    testkit::init_tracing();
    let app = start().await?;
    println!(
        "feed_and_compliance: servers up in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let phase = Instant::now();
    let s = seed_membership(&app).await?;
    println!(
        "  membership: {} clusters, {} people, seeded in {:.1}s",
        CLUSTERS,
        CLUSTERS * (TEACHERS + 1) + 1,
        phase.elapsed().as_secs_f64()
    );
    let phase = Instant::now();
    let n = seed_feed(&app, &s).await?;
    println!(
        "  feed: {n} events ({SERIES} series of {OCCURRENCES} + {SINGLES} single) invited/answered in {:.1}s",
        phase.elapsed().as_secs_f64()
    );
    let phase = Instant::now();
    seed_compliance(&app, &s).await?;
    println!(
        "  compliance: a year of events and attendance for {CLUSTERS} clusters in {:.1}s",
        phase.elapsed().as_secs_f64()
    );
    // Fresh statistics, as autovacuum would have them on a live database.
    for db in [&app.dbs.0, &app.dbs.1] {
        use sqlx::{Connection, Executor};
        let mut c = sqlx::PgConnection::connect(&db.owner_url).await?;
        c.execute("ANALYZE").await?;
    }

    let t = s.t;
    let channel = app.channel()?;
    // The feed token, through the API as the person.
    let person_token = app.issuer.token(t, PersonId(s.person), &[]);
    let mut api = SchedulingServiceClient::with_interceptor(
        channel.clone(),
        ForwardCaller::new(&person_token)?,
    );
    let token = api
        .get_my_calendar_feed(pb::GetMyCalendarFeedRequest {})
        .await?
        .into_inner()
        .token;
    let feed_id: Uuid = token.split('.').nth(1).context("a feed token")?.parse()?;
    let mut feeds = CalendarFeedServiceClient::new(channel.clone()).max_decoding_message_size(BIG);

    // ---- (a) the feed
    let iters: usize = std::env::var("BENCH_FEED_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let from = || Utc::now() - Span::days(collegium_scheduling::api::feed::FEED_HISTORY_DAYS);
    let mut feed_service = Vec::new();
    let mut feed_sql_times = Vec::new();
    let mut shape = (0, 0, 0, 0);
    let mut ics_bytes = 0;
    let mut vevents = 0;
    let mut feed_parts: [Vec<Duration>; 3] = Default::default();
    let render_input = RenderInput::load(&app.store, t, s.person, from()).await?;
    for i in 0..iters + 3 {
        let at = Instant::now();
        let doc = feeds
            .render_feed(pb::RenderFeedRequest {
                token: token.clone(),
            })
            .await?
            .into_inner();
        let service = at.elapsed();
        let at = Instant::now();
        shape = feed_sql(&app.sql, t, feed_id, s.person, from()).await?;
        let sql = at.elapsed();
        // The same work in process, without gRPC: the store's reads, then
        // `api::feed::calendar` (series, venues, render), then the render alone.
        let at = Instant::now();
        app.store.get_feed(t, feed_id).await?.context("the feed")?;
        let events = app.store.calendar_events(t, s.person, from()).await?;
        let reads = at.elapsed();
        let at = Instant::now();
        let direct =
            collegium_scheduling::api::feed::calendar(&app.store, t, "Collegium", events).await?;
        let calendar = at.elapsed();
        let at = Instant::now();
        let rendered = render_input.render();
        let render = at.elapsed();
        ensure!(
            direct == doc.ics && rendered == doc.ics,
            "the feed differs from the same events rendered in process"
        );
        if i >= 3 {
            feed_service.push(service);
            feed_sql_times.push(sql);
            feed_parts[0].push(reads);
            feed_parts[1].push(calendar);
            feed_parts[2].push(render);
        }
        ics_bytes = doc.ics.len();
        vevents = doc.ics.matches("BEGIN:VEVENT").count();
    }
    ensure!(
        shape.0 == FEED_EVENTS,
        "the feed's SQL found {} of the person's events, expected {FEED_EVENTS}",
        shape.0
    );
    println!(
        "  feed: {} events of the person, {} series ({} occurrences), {} venues; \
         .ics of {} KiB with {vevents} VEVENTs",
        shape.0,
        shape.1,
        shape.2,
        shape.3,
        ics_bytes / 1024
    );

    // ---- (b) compliance, each cluster in turn
    let membership = MembershipClient::new(&format!("http://{}", app.membership_addr))?;
    let mut comp_service = Vec::new();
    let mut comp_membership = Vec::new();
    let mut comp_sql = Vec::new();
    let mut comp_sql_sched = Vec::new();
    let mut comp_sql_memb = Vec::new();
    let mut comp_rest = Vec::new();
    let mut memb_calls: [Vec<Duration>; 3] = Default::default();
    let mut states: HashMap<String, usize> = HashMap::new();
    const WARM_UP: usize = 20;
    let order: Vec<usize> = (0..WARM_UP).chain(0..CLUSTERS).collect();
    for (n, &i) in order.iter().enumerate() {
        let (cluster, lead, teachers) = &s.clusters[i];
        let lead_token = app.issuer.token(
            t,
            PersonId(*lead),
            &[Grant {
                role: Role::ClusterLead,
                cluster: Some(*cluster),
            }],
        );
        let mut client = SchedulingServiceClient::with_interceptor(
            channel.clone(),
            ForwardCaller::new(&lead_token)?,
        );
        let principal: Principal = app.issuer.verifier.verify(&lead_token)?;

        let at = Instant::now();
        let report = client
            .get_compliance(pb::GetComplianceRequest {
                cluster_id: cluster.to_string(),
                academic_year: YEAR,
            })
            .await?
            .into_inner();
        let service = at.elapsed();

        let at = Instant::now();
        let info = membership.cluster(&principal, *cluster).await?;
        let split1 = at.elapsed();
        membership.tenant_calendar(&principal).await?;
        let split2 = at.elapsed();
        let scorers = membership.cluster_teachers(&principal, *cluster).await?;
        let memb = at.elapsed();
        ensure!(info.and_then(|c| c.lead_person_id) == Some(*lead));
        ensure!(
            scorers.len() == TEACHERS,
            "cluster {i}: {} teachers",
            scorers.len()
        );

        let at = Instant::now();
        let sched_rows = compliance_sql(&app.sql, t, *cluster, *lead, teachers).await?;
        let sched = at.elapsed();
        let at = Instant::now();
        let memb_rows = membership_sql(&app.msql, t, *cluster, *lead).await?;
        let memb_sql = at.elapsed();
        ensure!(sched_rows >= 5 && memb_rows >= 3 + TEACHERS);

        if n >= WARM_UP {
            comp_service.push(service);
            comp_membership.push(memb);
            memb_calls[0].push(split1);
            memb_calls[1].push(split2 - split1);
            memb_calls[2].push(memb - split2);
            comp_sql.push(sched + memb_sql);
            comp_sql_sched.push(sched);
            comp_sql_memb.push(memb_sql);
            comp_rest.push(service.saturating_sub(memb));
            for item in &report.items {
                let state = pb::ComplianceState::try_from(item.state)
                    .map(|s| s.as_str_name().to_string())
                    .unwrap_or_default();
                *states
                    .entry(format!("{}={}", item.rule, state))
                    .or_default() += 1;
            }
        }
    }
    let mut states: Vec<_> = states.into_iter().collect();
    states.sort();
    println!(
        "  compliance outcomes over {CLUSTERS} clusters: {}",
        states
            .iter()
            .map(|(k, v)| format!("{k} ×{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if states.is_empty() {
        bail!("no compliance items");
    }

    let lines = [
        Line {
            name: format!("RenderFeed ({FEED_EVENTS} events)"),
            calls: feed_service.len(),
            service: feed_service,
            sql: feed_sql_times,
            gated: true,
        },
        Line {
            name: "GetCompliance (per cluster)".into(),
            calls: comp_service.len(),
            service: comp_service.clone(),
            sql: comp_sql,
            gated: true,
        },
        Line {
            name: "  of which membership RPCs".into(),
            calls: comp_membership.len(),
            service: comp_membership.clone(),
            sql: comp_sql_memb,
            gated: false,
        },
        Line {
            name: "  the rest (scheduling)".into(),
            calls: comp_rest.len(),
            service: comp_rest,
            sql: comp_sql_sched,
            gated: false,
        },
    ];

    println!();
    println!(
        "{:<32} {:>6} {:>12} {:>10} {:>14} {:>7}",
        "operation", "calls", "median ms", "p95 ms", "SQL median ms", "ratio"
    );
    let mut ok = true;
    for l in &lines {
        let ratio = l.ratio();
        let over = l.gated && ratio > LIMIT;
        ok &= !over;
        println!(
            "{:<32} {:>6} {:>12.2} {:>10.2} {:>14.2} {:>6.2}x{}",
            l.name,
            l.calls,
            median(&l.service),
            quantile(&l.service, 0.95),
            median(&l.sql),
            ratio,
            if over { "  > 3x" } else { "" }
        );
    }
    for (name, times) in ["GetClusters", "GetTenant", "ListPeople"]
        .iter()
        .zip(&memb_calls)
    {
        println!(
            "  GetCompliance's membership {name:<25} median {:>7.2} ms  p95 {:>7.2} ms",
            median(times),
            quantile(times, 0.95)
        );
    }
    for (name, times) in [
        "RenderFeed in process: store reads (feed, events)",
        "  then api::feed::calendar (series, venues, render)",
        "  of which the render alone (domain::ical)",
    ]
    .iter()
    .zip(&feed_parts)
    {
        println!(
            "  {name:<52} median {:>7.2} ms  p95 {:>7.2} ms",
            median(times),
            quantile(times, 0.95)
        );
    }
    let share = median(&comp_membership) / median(&comp_service);
    println!(
        "membership's share of GetCompliance (median of its calls / median of the view): {:.0}%",
        share * 100.0
    );
    println!(
        "ratios: service median / SQL-alone median; gated (limit {LIMIT:.1}x): RenderFeed, \
         GetCompliance (against scheduling's and membership's SQL together)"
    );
    if median(&memb_calls[2]) > 30.0 {
        println!(
            "note: membership's ListPeople takes ~40 ms more than its SQL: its response waits \
             for a delayed ACK (membership's server sockets have Nagle on; platform::grpc::serve \
             does not set TCP_NODELAY). BENCH_NODELAY=1 runs membership with it set."
        );
    }
    println!(
        "total {:.1}s; {}",
        started.elapsed().as_secs_f64(),
        if ok { "within 3x" } else { "OVER 3x" }
    );
    Ok(ok)
}
