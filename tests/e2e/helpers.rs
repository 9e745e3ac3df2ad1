//! `TestPlatform::spawn()` starts membership, scheduling, notifications and
//! scoring (gRPC) and the gateway (HTTP) on port 0 against a fresh database
//! (one schema per service), with each service's outbox relay publishing to
//! a Redis stream of the test's own, and gives a GraphQL client.

use std::sync::Arc;

use collegium_membership::{
    MembershipStore, SCHEMA,
    domain::{Contact, NewPerson, NewTenant, TenantKind, TenantSettings},
};
use platform::{
    auth::{Grant, PersonId, Role, TenantId},
    events::redis::RedisBus,
};
use serde_json::{Value, json};
use testkit::{TestDatabase, TestIssuer};
use tokio::{net::TcpListener, sync::watch};
use uuid::Uuid;

pub struct TestPlatform {
    pub gateway: String,
    /// The gateway's base URL (calendar feeds, probes).
    pub base: String,
    pub issuer: TestIssuer,
    pub store: Arc<collegium_membership::store::postgres::Store>,
    pub bus: Arc<RedisBus>,
    /// Channels to the four services (for calls as a Collegium job would make them).
    pub upstreams: collegium_gateway::upstream::Upstreams,
    http: reqwest::Client,
    stop: watch::Sender<bool>,
    /// The database (owner access for tests that must age rows).
    pub db: TestDatabase,
}

/// A tenant with an admin, ready for GraphQL calls.
pub struct TestTenant {
    pub id: TenantId,
    pub admin: Uuid,
    pub admin_token: String,
}

impl TestPlatform {
    pub async fn spawn() -> Self {
        testkit::init_tracing();
        // One database with a schema per service, as in production.
        let db = TestDatabase::migrated(SCHEMA, &collegium_membership::POSTGRES_MIGRATIONS)
            .await
            .expect("test database");
        collegium_scheduling::migrate_postgres(&db.owner_url)
            .await
            .expect("scheduling schema");
        let store = Arc::new(
            collegium_membership::open_postgres(&db.app_url(SCHEMA), 8)
                .await
                .expect("membership store"),
        );
        let issuer = TestIssuer::new();
        let (stop, stop_rx) = watch::channel(false);
        let shutdown = |rx: &watch::Receiver<bool>| {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let bus = Arc::new(
            RedisBus::connect(&testkit::redis_url(), &testkit::unique("e2e"))
                .await
                .expect("redis"),
        );
        collegium_membership::start_relay_postgres(&store, bus.clone(), stop_rx.clone());
        let membership = collegium_membership::start(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            store.clone(),
            issuer.verifier.clone(),
            shutdown(&stop_rx),
        )
        .await
        .expect("membership");
        let scheduling_store =
            collegium_scheduling::open_postgres(&db.app_url(collegium_scheduling::SCHEMA), 8)
                .await
                .expect("scheduling store");
        collegium_scheduling::start_relay_postgres(&scheduling_store, bus.clone(), stop_rx.clone());
        let scheduling = collegium_scheduling::start(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            Arc::new(scheduling_store),
            issuer.verifier.clone(),
            collegium_scheduling::SchedulingRuntime {
                membership_url: format!("http://{}", membership.addr),
                materials: collegium_scheduling::MaterialStore::in_memory(),
            },
            shutdown(&stop_rx),
        )
        .await
        .expect("scheduling");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let public = format!("http://{}", listener.local_addr().unwrap());
        collegium_notifications::migrate_postgres(&db.owner_url)
            .await
            .expect("notifications schema");
        let notifications_store =
            collegium_notifications::open_postgres(&db.app_url(collegium_notifications::SCHEMA), 8)
                .await
                .expect("notifications store");
        collegium_notifications::start_relay_postgres(
            &notifications_store,
            bus.clone(),
            stop_rx.clone(),
        );
        let mail_dir = std::env::temp_dir().join(testkit::unique("e2e-mail"));
        let notifications = collegium_notifications::start(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            Arc::new(notifications_store),
            issuer.verifier.clone(),
            collegium_notifications::NotificationsRuntime {
                membership_url: format!("http://{}", membership.addr),
                scheduling_url: format!("http://{}", scheduling.addr),
                mailer: collegium_notifications::Mailer::file(&mail_dir).expect("mail dir"),
                mail_from: "Collegium <no-reply@collegium.invalid>".parse().unwrap(),
                public_url: public.clone(),
                signer: issuer.signer.clone(),
                unsubscribe_key: collegium_notifications::UnsubscribeKey::random(),
                workers: Default::default(),
            },
            bus.clone(),
            shutdown(&stop_rx),
        )
        .await
        .expect("notifications");
        collegium_scoring::migrate_postgres(&db.owner_url)
            .await
            .expect("scoring schema");
        let scoring_store =
            collegium_scoring::open_postgres(&db.app_url(collegium_scoring::SCHEMA), 8)
                .await
                .expect("scoring store");
        collegium_scoring::start_relay_postgres(&scoring_store, bus.clone(), stop_rx.clone());
        let scoring = collegium_scoring::start(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            Arc::new(scoring_store),
            issuer.verifier.clone(),
            collegium_scoring::ScoringRuntime {
                membership_url: format!("http://{}", membership.addr),
                scheduling_url: format!("http://{}", scheduling.addr),
                key: collegium_scoring::MasterKey::generate(),
            },
            shutdown(&stop_rx),
        )
        .await
        .expect("scoring");
        let config = collegium_gateway::GatewayConfig::new(
            issuer.verifier.clone(),
            format!("http://{}", membership.addr),
        )
        .with_scheduling(format!("http://{}", scheduling.addr))
        .with_notifications(format!("http://{}", notifications.addr))
        .with_scoring(format!("http://{}", scoring.addr))
        .with_public_url(public.clone());
        let gateway = collegium_gateway::serve(config, listener, shutdown(&stop_rx))
            .await
            .expect("gateway");
        let upstreams = collegium_gateway::upstream::Upstreams::to(
            &format!("http://{}", membership.addr),
            &format!("http://{}", scheduling.addr),
            &format!("http://{}", notifications.addr),
            &format!("http://{}", scoring.addr),
        )
        .expect("service channels");
        Self {
            gateway: format!("http://{}/graphql", gateway.addr),
            base: public,
            issuer,
            store,
            bus,
            upstreams,
            http: reqwest::Client::new(),
            stop,
            db,
        }
    }

    /// Creates a tenant (operator work, as `collegium tenant create` does) with one admin.
    pub async fn tenant(&self, slug: &str) -> TestTenant {
        let t = self
            .store
            .create_tenant(NewTenant {
                slug: slug.into(),
                name: format!("Tenant {slug}"),
                kind: TenantKind::District,
                settings: TenantSettings::default(),
            })
            .await
            .unwrap();
        let admin = self
            .store
            .create_person(
                t.id,
                "operator",
                NewPerson {
                    given_name: "Ada".into(),
                    family_name: "Admin".into(),
                    contact: Contact {
                        email: Some(format!("admin@{slug}.example")),
                        ..Default::default()
                    },
                    organisation_id: None,
                    external_id: None,
                    time_zone: None,
                },
            )
            .await
            .unwrap();
        self.store
            .grant_role(t.id, "operator", admin.id, Role::TenantAdmin, None)
            .await
            .unwrap();
        TestTenant {
            id: t.id,
            admin: admin.id,
            admin_token: self.token(t.id, admin.id, &[(Role::TenantAdmin, None)]),
        }
    }

    pub fn token(&self, tenant: TenantId, person: Uuid, grants: &[(Role, Option<Uuid>)]) -> String {
        let grants: Vec<Grant> = grants
            .iter()
            .map(|(role, cluster)| Grant {
                role: *role,
                cluster: *cluster,
            })
            .collect();
        self.issuer.token(tenant, PersonId(person), &grants)
    }

    /// Posts a GraphQL request; returns the whole response body.
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .http
            .post(&self.gateway)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("gateway answers");
        resp.json().await.expect("a JSON body")
    }

    /// Like [`Self::graphql`] but fails the test on any error; returns `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.graphql(Some(token), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }
}

impl Drop for TestPlatform {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The `extensions.code` of the first error of a response.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {body:#}"))
}

pub const CREATE_ORG: &str =
    "mutation($input: CreateOrganisationInput!) { createOrganisation(input: $input) { id name } }";
pub const CREATE_PERSON: &str =
    "mutation($input: CreatePersonInput!) { createPerson(input: $input) { id givenName } }";
pub const CREATE_CLUSTER: &str = "mutation($input: CreateClusterInput!) { createCluster(input: $input) { id name centres { id name } lead { id } } }";

/// Creates an organisation through GraphQL and returns its id.
pub async fn create_org(p: &TestPlatform, token: &str, name: &str) -> String {
    let data = p
        .ok(
            token,
            CREATE_ORG,
            json!({ "input": { "name": name, "kind": "SCHOOL" } }),
        )
        .await;
    data["createOrganisation"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Creates a person through GraphQL and returns their id.
pub async fn create_person(
    p: &TestPlatform,
    token: &str,
    given: &str,
    email: &str,
    org: Option<&str>,
) -> String {
    let data = p
        .ok(
            token,
            CREATE_PERSON,
            json!({ "input": { "givenName": given, "familyName": "Tester",
                    "contact": { "email": email }, "organisationId": org } }),
        )
        .await;
    data["createPerson"]["id"].as_str().unwrap().to_string()
}
