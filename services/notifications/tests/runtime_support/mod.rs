//! The running notifications service for black-box tests: membership,
//! scheduling and notifications servers on port 0, each over its own fresh
//! PostgreSQL database (as its app role), scheduling's outbox relayed onto a
//! real Redis bus under a unique stream prefix, and notifications consuming
//! that bus. Membership is seeded through its store; tests call the gRPC
//! APIs with tokens from one test issuer.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use collegium_membership::domain as m;
use collegium_notifications::{
    DeliveryOptions, Mailer, NotificationsRuntime, ReminderOptions, UnsubscribeKey, WorkerOptions,
    store::{NotificationsStore, postgres},
};
use collegium_proto::{
    notifications::v1::{
        notifications_service_client::NotificationsServiceClient,
        unsubscribe_service_client::UnsubscribeServiceClient,
    },
    scheduling::v1::{self as spb, scheduling_service_client::SchedulingServiceClient},
};
use platform::{
    auth::{Grant, PersonId, Role, TenantId},
    events::{EventBus, redis::RedisBus},
    grpc::ForwardCaller,
};
use testkit::{TestDatabase, TestIssuer};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::{
    service::interceptor::InterceptedService,
    transport::{Channel, Endpoint},
};
use uuid::Uuid;

pub type Client = NotificationsServiceClient<InterceptedService<Channel, ForwardCaller>>;
pub type Scheduling = SchedulingServiceClient<InterceptedService<Channel, ForwardCaller>>;

pub const ACTOR: &str = "0190f000-0000-7000-8000-00000000ad01";
pub const ZONE: &str = "Europe/London";
pub const PUBLIC_URL: &str = "https://collegium.test";
pub const MAIL_FROM: &str = "Collegium <no-reply@collegium.test>";
pub const TEST_TIME_LIMIT: Duration = Duration::from_secs(180);

/// Runs a test body under [`TEST_TIME_LIMIT`].
pub async fn bounded<F: Future>(body: F) -> F::Output {
    tokio::time::timeout(TEST_TIME_LIMIT, body)
        .await
        .expect("the test did not finish within its time limit")
}

/// Polls `check` every 25 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Worker settings that make a test fast: short polls and back-offs.
pub fn fast_workers() -> WorkerOptions {
    WorkerOptions {
        consumer_name: testkit::unique("consumer"),
        event_retry_after: Duration::from_secs(1),
        event_max_deliveries: 3,
        delivery: DeliveryOptions {
            poll_interval: Duration::from_millis(100),
            lease: Duration::from_secs(10),
            backoff_base: Duration::from_millis(300),
            backoff_cap: Duration::from_secs(1),
            ..DeliveryOptions::default()
        },
        reminders: ReminderOptions {
            poll_interval: Duration::from_millis(200),
            retry_after: Duration::from_secs(1),
        },
    }
}

/// A fresh directory for `.eml` files, under the system's temp directory.
pub fn mail_dir() -> PathBuf {
    std::env::temp_dir().join(testkit::unique("collegium_mail"))
}

/// How a stack is started.
pub struct StackOptions {
    pub mailer: Mailer,
    pub workers: WorkerOptions,
    /// Redis URL of the bus (a database index of its own lets a fault test
    /// find exactly this stack's connections).
    pub redis_url: String,
    /// A directory the stack removes when dropped.
    pub cleanup: Option<PathBuf>,
}

impl StackOptions {
    /// E-mail into `dir` as `.eml` files; the directory goes with the stack.
    pub fn with_mail_dir(dir: &std::path::Path) -> Self {
        Self {
            mailer: Mailer::file(dir).expect("mail directory"),
            workers: fast_workers(),
            redis_url: testkit::redis_url(),
            cleanup: Some(dir.to_path_buf()),
        }
    }
}

/// The three servers of one test, their stores and the bus between them.
pub struct Stack {
    pub addr: SocketAddr,
    pub scheduling_addr: SocketAddr,
    pub membership: collegium_membership::store::postgres::Store,
    pub store: postgres::Store,
    pub bus: Arc<RedisBus>,
    pub issuer: TestIssuer,
    /// Owner (superuser) URL of the notifications database, for tests that
    /// move time (e.g. make a held digest due now).
    pub notifications_owner_url: String,
    stop_notifications: Option<oneshot::Sender<()>>,
    notifications_task: Option<tokio::task::JoinHandle<platform::error::Result<()>>>,
    shutdown: Vec<oneshot::Sender<()>>,
    relay_stop: tokio::sync::watch::Sender<bool>,
    cleanup: Option<PathBuf>,
    _dbs: (TestDatabase, TestDatabase, TestDatabase),
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(s) = self.stop_notifications.take() {
            let _ = s.send(());
        }
        for s in self.shutdown.drain(..) {
            let _ = s.send(());
        }
        let _ = self.relay_stop.send(true);
        if let Some(dir) = self.cleanup.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub async fn spawn_stack(options: StackOptions) -> Stack {
    testkit::init_tracing();
    let issuer = TestIssuer::new();
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
    shutdown.push(stop);
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
    let membership_url = format!("http://{}", m_running.addr);

    let prefix = testkit::unique("notif");
    let bus = Arc::new(
        RedisBus::connect(&options.redis_url, &prefix)
            .await
            .expect("Redis is reachable"),
    );

    let sdb = TestDatabase::migrated(
        collegium_scheduling::SCHEMA,
        &collegium_scheduling::POSTGRES_MIGRATIONS,
    )
    .await
    .expect("scheduling database");
    let scheduling_store =
        collegium_scheduling::open_postgres(&sdb.app_url(collegium_scheduling::SCHEMA), 4)
            .await
            .expect("scheduling store");
    let (relay_stop, relay_rx) = tokio::sync::watch::channel(false);
    collegium_scheduling::start_relay_postgres(&scheduling_store, bus.clone(), relay_rx);
    let (stop, stopped) = oneshot::channel::<()>();
    shutdown.push(stop);
    let s_running = collegium_scheduling::start(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Arc::new(scheduling_store),
        issuer.verifier.clone(),
        collegium_scheduling::SchedulingRuntime {
            membership_url: membership_url.clone(),
            materials: collegium_scheduling::MaterialStore::in_memory(),
        },
        async move {
            let _ = stopped.await;
        },
    )
    .await
    .expect("scheduling starts");

    let ndb = TestDatabase::migrated(
        collegium_notifications::SCHEMA,
        &collegium_notifications::POSTGRES_MIGRATIONS,
    )
    .await
    .expect("notifications database");
    let store =
        collegium_notifications::open_postgres(&ndb.app_url(collegium_notifications::SCHEMA), 8)
            .await
            .expect("notifications store");
    let (stop, stopped) = oneshot::channel::<()>();
    let running = collegium_notifications::start(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Arc::new(store.clone()),
        issuer.verifier.clone(),
        NotificationsRuntime {
            membership_url,
            scheduling_url: format!("http://{}", s_running.addr),
            mailer: options.mailer,
            mail_from: MAIL_FROM.parse().unwrap(),
            public_url: format!("{PUBLIC_URL}/"),
            signer: issuer.signer.clone(),
            unsubscribe_key: UnsubscribeKey::random(),
            workers: options.workers,
        },
        bus.clone(),
        async move {
            let _ = stopped.await;
        },
    )
    .await
    .expect("notifications starts");
    Stack {
        addr: running.addr,
        scheduling_addr: s_running.addr,
        membership,
        store,
        bus,
        issuer,
        notifications_owner_url: ndb.owner_url.clone(),
        stop_notifications: Some(stop),
        notifications_task: Some(running.task),
        shutdown,
        relay_stop,
        cleanup: options.cleanup,
        _dbs: (mdb, sdb, ndb),
    }
}

fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .connect_lazy()
}

pub fn grant(role: Role, cluster: Option<Uuid>) -> Grant {
    Grant { role, cluster }
}

impl Stack {
    /// Stops the notifications server and waits until its workers stopped.
    pub async fn stop_notifications(&mut self) {
        if let Some(s) = self.stop_notifications.take() {
            let _ = s.send(());
        }
        if let Some(task) = self.notifications_task.take() {
            task.await
                .expect("the server task does not panic")
                .expect("the server drains cleanly");
        }
    }

    pub fn client(&self, token: &str) -> Client {
        NotificationsServiceClient::with_interceptor(
            channel(self.addr),
            ForwardCaller::new(token).expect("a well-formed token"),
        )
    }

    pub fn unsubscribe(&self) -> UnsubscribeServiceClient<Channel> {
        UnsubscribeServiceClient::new(channel(self.addr))
    }

    pub fn scheduling(&self, token: &str) -> Scheduling {
        SchedulingServiceClient::with_interceptor(
            channel(self.scheduling_addr),
            ForwardCaller::new(token).expect("a well-formed token"),
        )
    }

    pub fn as_person(&self, t: TenantId, person: Uuid, grants: &[Grant]) -> Client {
        self.client(&self.issuer.token(t, PersonId(person), grants))
    }

    pub fn admin(&self, s: &Seeded) -> Client {
        self.as_person(s.id, s.admin, &[grant(Role::TenantAdmin, None)])
    }

    pub fn lead(&self, s: &Seeded) -> Client {
        self.as_person(s.id, s.lead, &[grant(Role::ClusterLead, Some(s.cluster))])
    }

    pub fn teacher(&self, s: &Seeded, i: usize) -> Client {
        self.as_person(
            s.id,
            s.teachers[i],
            &[grant(Role::Teacher, Some(s.cluster))],
        )
    }

    pub fn service(&self, s: &Seeded) -> Client {
        self.client(&self.issuer.signer.service_token("scoring", s.id))
    }

    pub fn scheduling_admin(&self, s: &Seeded) -> Scheduling {
        self.scheduling(&self.issuer.token(
            s.id,
            PersonId(s.admin),
            &[grant(Role::TenantAdmin, None)],
        ))
    }

    /// A person's whole inbox (archived included), read from the store.
    pub async fn inbox(
        &self,
        t: TenantId,
        person: Uuid,
    ) -> Vec<collegium_notifications::domain::Notification> {
        let mut all = Vec::new();
        let mut page = platform::page::Page::first(500);
        loop {
            let (items, next) = self
                .store
                .list_inbox(t, person, false, true, page)
                .await
                .expect("inbox");
            all.extend(items);
            if next.is_empty() {
                return all;
            }
            page = platform::page::Page::new(500, &next).unwrap();
        }
    }

    /// Every delivery of a tenant, read from the store.
    pub async fn deliveries(&self, t: TenantId) -> Vec<collegium_notifications::domain::Delivery> {
        let mut all = Vec::new();
        let mut page = platform::page::Page::first(500);
        loop {
            let (items, next) = self
                .store
                .list_deliveries(t, &Default::default(), page)
                .await
                .expect("deliveries");
            all.extend(items);
            if next.is_empty() {
                return all;
            }
            page = platform::page::Page::new(500, &next).unwrap();
        }
    }

    /// A published network meeting of the cluster starting in `hours`, made
    /// through scheduling's API.
    pub async fn meeting(&self, s: &Seeded, title: &str, hours: i64) -> Uuid {
        let zone: chrono_tz::Tz = ZONE.parse().unwrap();
        let local = |h: i64| {
            (chrono::Utc::now() + chrono::Duration::hours(h))
                .with_timezone(&zone)
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        };
        let e = self
            .scheduling_admin(s)
            .create_event(spb::CreateEventRequest {
                kind: spb::EventKind::NetworkMeeting as i32,
                cluster_id: Some(s.cluster.to_string()),
                title: title.to_string(),
                agenda: "Moderation".into(),
                starts_local: local(hours),
                ends_local: local(hours + 2),
                time_zone: ZONE.into(),
                publish: true,
                ..Default::default()
            })
            .await
            .expect("event created")
            .into_inner();
        e.id.parse().unwrap()
    }

    /// Invites people to an event through scheduling's API (one
    /// `scheduling.rsvp.invited` event each reaches the bus).
    pub async fn invite(&self, s: &Seeded, event: Uuid, people: &[Uuid]) -> u32 {
        self.scheduling_admin(s)
            .invite(spb::InviteRequest {
                event_id: event.to_string(),
                audiences: vec![spb::Audience {
                    audience: Some(spb::audience::Audience::People(spb::PersonList {
                        person_ids: people.iter().map(Uuid::to_string).collect(),
                    })),
                }],
            })
            .await
            .expect("invited")
            .into_inner()
            .invited
    }

    /// Publishes events straight onto the bus (as another service would).
    pub async fn publish(&self, events: &[platform::events::EventEnvelope]) {
        self.bus.publish(events).await.expect("published");
    }
}

/// A tenant in membership: a centre in a cluster with its lead, teachers
/// and a building coordinator; an admin and an outsider elsewhere. Everyone
/// has an e-mail address `<given>.<slug>@example.org`.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub id: TenantId,
    pub slug: String,
    pub cluster: Uuid,
    pub other_cluster: Uuid,
    pub lead: Uuid,
    pub teachers: Vec<Uuid>,
    pub coordinator: Uuid,
    pub admin: Uuid,
    pub outsider: Uuid,
}

pub fn address(given: &str, slug: &str) -> String {
    format!("{}.{slug}@example.org", given.to_lowercase())
}

pub async fn seed(
    store: &dyn collegium_membership::MembershipStore,
    slug: &str,
    teachers: usize,
) -> Seeded {
    let tenant = store
        .create_tenant(m::NewTenant {
            slug: slug.to_string(),
            name: format!("Tenant {slug}"),
            kind: m::TenantKind::District,
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
                name: format!("{slug} School"),
                kind: m::OrganisationKind::School,
                external_id: None,
                contact: m::Contact::default(),
            },
        )
        .await
        .expect("centre")
        .id;
    let person = |given: String, org: Option<Uuid>| {
        let new = m::NewPerson {
            contact: m::Contact {
                email: Some(address(&given, slug)),
                ..Default::default()
            },
            given_name: given,
            family_name: slug.to_string(),
            organisation_id: org,
            external_id: None,
            time_zone: None,
        };
        async move { store.create_person(t, ACTOR, new).await.expect("person").id }
    };
    let lead = person("Lena".into(), Some(centre)).await;
    let mut ids = Vec::new();
    for i in 0..teachers {
        ids.push(person(format!("Teacher{i}"), Some(centre)).await);
    }
    let coordinator = person("Cora".into(), Some(centre)).await;
    let admin = person("Ada".into(), None).await;
    let outsider = person("Otto".into(), None).await;
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
    store
        .grant_role(t, ACTOR, lead, Role::ClusterLead, Some(cluster))
        .await
        .expect("grant");
    for p in &ids {
        store
            .grant_role(t, ACTOR, *p, Role::Teacher, Some(cluster))
            .await
            .expect("grant");
    }
    store
        .grant_role(
            t,
            ACTOR,
            coordinator,
            Role::BuildingCoordinator,
            Some(cluster),
        )
        .await
        .expect("grant");
    store
        .grant_role(t, ACTOR, admin, Role::TenantAdmin, None)
        .await
        .expect("grant");
    Seeded {
        id: t,
        slug: slug.to_string(),
        cluster,
        other_cluster,
        lead,
        teachers: ids,
        coordinator,
        admin,
        outsider,
    }
}
