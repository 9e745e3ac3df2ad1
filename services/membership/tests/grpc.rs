//! The membership gRPC API, black-box: the real server on port 0 over a fresh
//! PostgreSQL database (as the app role), called with the generated client
//! and bearer tokens from a test issuer. Authentication, authorisation by
//! role and relationship, field violations, tenant isolation of every RPC,
//! the consent rule on contact details, and health checks.

mod support;

use std::{fmt::Debug, net::SocketAddr, sync::Arc, time::Duration};

use collegium_membership::{
    GRPC_SERVICE, MembershipStore,
    domain::{SHARE_CONTACT_PURPOSE, TenantSettings},
    store::postgres,
};
use collegium_proto::{
    common::v1::PageRequest,
    membership::v1::{self as pb, membership_service_client::MembershipServiceClient},
};
use platform::{
    auth::{Grant, PersonId, Role, TenantId},
    error::Error,
    grpc::ForwardCaller,
};
use support::*;
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

type Client = MembershipServiceClient<InterceptedService<Channel, ForwardCaller>>;

/// The server of one test, its database and the issuer its tokens come from.
struct TestApp {
    addr: SocketAddr,
    store: postgres::Store,
    issuer: TestIssuer,
    shutdown: Option<oneshot::Sender<()>>,
    _db: TestDatabase,
}

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

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

impl TestApp {
    fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .connect_lazy()
    }

    /// A client sending `token` as its bearer token.
    fn client(&self, token: &str) -> Client {
        MembershipServiceClient::with_interceptor(
            self.channel(),
            ForwardCaller::new(token).expect("a well-formed token"),
        )
    }

    fn token(&self, t: TenantId, person: Uuid, grants: &[Grant]) -> String {
        self.issuer.token(t, PersonId(person), grants)
    }

    /// A tenant admin of `t` (a person the directory need not know).
    fn admin(&self, t: TenantId) -> (Client, Uuid) {
        let me = Uuid::now_v7();
        let token = self.token(t, me, &[grant(Role::TenantAdmin, None)]);
        (self.client(&token), me)
    }

    /// `person` with the teacher role.
    fn teacher(&self, t: TenantId, person: Uuid) -> Client {
        self.client(&self.token(t, person, &[grant(Role::Teacher, None)]))
    }
}

fn grant(role: Role, cluster: Option<Uuid>) -> Grant {
    Grant { role, cluster }
}

fn page() -> Option<PageRequest> {
    Some(PageRequest {
        page_size: 100,
        page_token: String::new(),
    })
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

/// INVALID_ARGUMENT whose BadRequest details name exactly `fields`.
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

fn contact(email: &str) -> pb::ContactDetails {
    pb::ContactDetails {
        email: email.to_string(),
        phone: "+1 555 0100 300".to_string(),
        address: "2 Main Street".to_string(),
    }
}

async fn create_org(client: &mut Client, name: &str, email: &str) -> pb::Organisation {
    client
        .create_organisation(pb::CreateOrganisationRequest {
            name: name.to_string(),
            kind: pb::OrganisationKind::Centre as i32,
            external_id: String::new(),
            contact: Some(contact(email)),
        })
        .await
        .expect("organisation created")
        .into_inner()
}

async fn create_person(
    client: &mut Client,
    given: &str,
    email: &str,
    organisation: &str,
) -> pb::Person {
    client
        .create_person(pb::CreatePersonRequest {
            given_name: given.to_string(),
            family_name: "Tester".to_string(),
            contact: Some(contact(email)),
            organisation_id: Some(organisation.to_string()),
            external_id: String::new(),
            time_zone: String::new(),
        })
        .await
        .expect("person created")
        .into_inner()
}

fn id(s: &str) -> Uuid {
    s.parse().expect("an id")
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    bounded(async {
        let app = spawn_app().await;
        let t = tenant(&app.store, "alpha").await;
        let me = Uuid::now_v7();
        let admin = [grant(Role::TenantAdmin, None)];
        let create = || pb::CreateOrganisationRequest {
            name: "Hill".into(),
            kind: pb::OrganisationKind::School as i32,
            ..Default::default()
        };

        let mut anonymous = MembershipServiceClient::new(app.channel());
        let status = expect_code(
            anonymous.who_am_i(pb::WhoAmIRequest {}).await,
            Code::Unauthenticated,
        );
        assert_eq!(status.message(), "missing bearer token");
        expect_code(
            anonymous.create_organisation(create()).await,
            Code::Unauthenticated,
        );

        let forged = TestIssuer::new().token(t, PersonId(me), &admin);
        expect_code(
            app.client(&forged).create_organisation(create()).await,
            Code::Unauthenticated,
        );
        let expired =
            app.issuer
                .signer
                .person_token(t, PersonId(me), &admin, chrono::Duration::minutes(-5));
        let status = expect_code(
            app.client(&expired).create_organisation(create()).await,
            Code::Unauthenticated,
        );
        assert_eq!(status.message(), "token expired");
        expect_code(
            app.client("not.a.token")
                .who_am_i(pb::WhoAmIRequest {})
                .await,
            Code::Unauthenticated,
        );
        // Nothing was created by the refused calls.
        let organisations = app
            .store
            .list_organisations(t, &Default::default(), platform::page::Page::first(10))
            .await
            .unwrap()
            .0;
        assert_eq!(organisations, vec![]);

        // The same call with a valid token goes through.
        let valid = app.token(t, me, &admin);
        let who = app
            .client(&valid)
            .who_am_i(pb::WhoAmIRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(who.tenant.unwrap().id, t.to_string());
        app.client(&valid)
            .create_organisation(create())
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn health_answers_serving_without_a_token() {
    bounded(async {
        let app = spawn_app().await;
        let mut health = HealthClient::new(app.channel());
        let answer = health
            .check(HealthCheckRequest {
                service: GRPC_SERVICE.to_string(),
            })
            .await
            .expect("health needs no token")
            .into_inner();
        assert_eq!(answer.status, ServingStatus::Serving as i32);
        assert_eq!(GRPC_SERVICE, "collegium.membership.v1.MembershipService");
        expect_code(
            health
                .check(HealthCheckRequest {
                    service: "collegium.unknown.v1.Nothing".to_string(),
                })
                .await,
            Code::NotFound,
        );
    })
    .await;
}

#[tokio::test]
async fn a_teacher_may_not_call_admin_only_rpcs() {
    bounded(async {
        let app = spawn_app().await;
        let t = tenant(&app.store, "alpha").await;
        let mut teacher = app.teacher(t, Uuid::now_v7());

        expect_code(
            teacher
                .create_organisation(pb::CreateOrganisationRequest {
                    name: "Hill".into(),
                    kind: pb::OrganisationKind::School as i32,
                    ..Default::default()
                })
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            teacher
                .create_person(pb::CreatePersonRequest {
                    given_name: "Ana".into(),
                    family_name: "Silva".into(),
                    ..Default::default()
                })
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            teacher
                .create_cluster(pb::CreateClusterRequest {
                    name: "North".into(),
                    ..Default::default()
                })
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            teacher
                .create_panel(pb::CreatePanelRequest {
                    name: "Families".into(),
                    purpose: "Homework".into(),
                })
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            teacher
                .update_tenant_settings(pb::UpdateTenantSettingsRequest {
                    settings: Some(pb::TenantSettings {
                        time_zone: "Europe/Paris".into(),
                        locale: "fr".into(),
                        academic_year_start_month: 9,
                        academic_year_start_day: 1,
                    }),
                })
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            teacher
                .list_audit_records(pb::ListAuditRecordsRequest::default())
                .await,
            Code::PermissionDenied,
        );
        let (mut admin, _) = app.admin(t);
        let listed = admin
            .list_organisations(pb::ListOrganisationsRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.organisations, vec![]);
        assert_eq!(
            app.store.get_tenant(t).await.unwrap().settings,
            TenantSettings::default()
        );
    })
    .await;
}

#[tokio::test]
async fn an_admin_creates_organisations_people_and_clusters() {
    bounded(async {
        let app = spawn_app().await;
        let t = tenant(&app.store, "alpha").await;
        let (mut admin, admin_id) = app.admin(t);

        let org = create_org(&mut admin, "Hill Centre", "office@hill.example.org").await;
        assert_eq!(org.name, "Hill Centre");
        assert_eq!(org.kind, pb::OrganisationKind::Centre as i32);
        assert_eq!(
            org.contact.as_ref().map(|c| c.email.as_str()),
            Some("office@hill.example.org")
        );
        let person = create_person(&mut admin, "Ana", "Ana@Hill.Example.org", &org.id).await;
        assert_eq!(
            person.contact.as_ref().map(|c| c.email.as_str()),
            Some("ana@hill.example.org")
        );
        assert_eq!(person.organisation_id.as_deref(), Some(org.id.as_str()));
        let cluster = admin
            .create_cluster(pb::CreateClusterRequest {
                name: "North".into(),
                description: "Maths".into(),
                lead_person_id: Some(person.id.clone()),
                centre_ids: vec![org.id.clone()],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(cluster.centre_ids, vec![org.id.clone()]);
        assert_eq!(cluster.lead_person_id.as_deref(), Some(person.id.as_str()));
        let lead = admin
            .grant_role(pb::GrantRoleRequest {
                person_id: person.id.clone(),
                role: pb::Role::ClusterLead as i32,
                cluster_id: Some(cluster.id.clone()),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(lead.role, pb::Role::ClusterLead as i32);

        let by_ids = |ids: &[&String]| pb::GetByIdsRequest {
            ids: ids.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(
            admin
                .get_organisations(by_ids(&[&org.id]))
                .await
                .unwrap()
                .into_inner()
                .organisations,
            vec![org.clone()]
        );
        assert_eq!(
            admin
                .get_people(by_ids(&[&person.id]))
                .await
                .unwrap()
                .into_inner()
                .people,
            vec![person.clone()]
        );
        assert_eq!(
            admin
                .get_clusters(by_ids(&[&cluster.id]))
                .await
                .unwrap()
                .into_inner()
                .clusters,
            vec![cluster.clone()]
        );
        let in_cluster = admin
            .list_people(pb::ListPeopleRequest {
                cluster_id: Some(cluster.id.clone()),
                page: page(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(in_cluster.people, vec![person.clone()]);

        // The person sees themselves and their grants.
        let own = app.client(&app.token(
            t,
            id(&person.id),
            &[grant(Role::ClusterLead, Some(id(&cluster.id)))],
        ));
        let who = own
            .clone()
            .who_am_i(pb::WhoAmIRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(who.person, Some(person.clone()));
        assert_eq!(who.grants, vec![lead]);

        // Every change is audited under the admin's id.
        let audit = admin
            .list_audit_records(pb::ListAuditRecordsRequest {
                page: page(),
                target_id: None,
            })
            .await
            .unwrap()
            .into_inner()
            .records;
        let actions: Vec<(&str, &str)> = audit
            .iter()
            .filter(|r| r.actor == admin_id.to_string())
            .map(|r| (r.action.as_str(), r.target_id.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                ("organisation.created", org.id.as_str()),
                ("person.created", person.id.as_str()),
                ("cluster.created", cluster.id.as_str()),
                ("role.granted", who.grants[0].id.as_str()),
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field() {
    bounded(async {
        let app = spawn_app().await;
        let t = tenant(&app.store, "alpha").await;
        let (mut admin, _) = app.admin(t);

        expect_fields(
            admin
                .create_person(pb::CreatePersonRequest {
                    given_name: "Ana".into(),
                    family_name: "Silva".into(),
                    contact: Some(contact("not-an-email")),
                    ..Default::default()
                })
                .await,
            &["contact.email"],
        );
        expect_fields(
            admin
                .create_person(pb::CreatePersonRequest {
                    given_name: " ".into(),
                    family_name: "Silva".into(),
                    time_zone: "Mars/Base".into(),
                    ..Default::default()
                })
                .await,
            &["given_name", "time_zone"],
        );
        expect_fields(
            admin
                .create_organisation(pb::CreateOrganisationRequest {
                    name: "Hill".into(),
                    ..Default::default()
                })
                .await,
            &["kind"],
        );
        expect_fields(
            admin
                .create_organisation(pb::CreateOrganisationRequest {
                    name: "".into(),
                    kind: pb::OrganisationKind::School as i32,
                    ..Default::default()
                })
                .await,
            &["name"],
        );
        expect_fields(
            admin
                .create_cluster(pb::CreateClusterRequest {
                    name: "North".into(),
                    centre_ids: vec!["nope".into()],
                    ..Default::default()
                })
                .await,
            &["centre_ids[0]"],
        );
        expect_fields(
            admin
                .update_tenant_settings(pb::UpdateTenantSettingsRequest {
                    settings: Some(pb::TenantSettings {
                        time_zone: "Mars/Base".into(),
                        locale: "en".into(),
                        academic_year_start_month: 8,
                        academic_year_start_day: 1,
                    }),
                })
                .await,
            &["settings.time_zone"],
        );
        let person = create_person(&mut admin, "Ana", "ana@example.org", "").await;
        expect_fields(
            admin
                .grant_role(pb::GrantRoleRequest {
                    person_id: person.id.clone(),
                    role: pb::Role::ClusterLead as i32,
                    cluster_id: None,
                })
                .await,
            &["cluster_id"],
        );
        expect_fields(
            admin
                .create_mentorship(pb::CreateMentorshipRequest {
                    mentor_id: person.id.clone(),
                    new_teacher_id: "someone".into(),
                    starts_on: "2026-13-01".into(),
                    planned_end_on: None,
                })
                .await,
            &["starts_on", "new_teacher_id"],
        );
        expect_fields(
            admin
                .list_people(pb::ListPeopleRequest {
                    page: Some(PageRequest {
                        page_size: 501,
                        page_token: String::new(),
                    }),
                    ..Default::default()
                })
                .await,
            &["page.page_size"],
        );
        // A duplicate is a conflict, not bad input.
        expect_code(
            admin
                .create_person(pb::CreatePersonRequest {
                    given_name: "Ana".into(),
                    family_name: "Again".into(),
                    contact: Some(contact("ANA@example.org")),
                    ..Default::default()
                })
                .await,
            Code::AlreadyExists,
        );
    })
    .await;
}

#[tokio::test]
async fn every_rpc_keeps_to_the_callers_tenant() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed_tenant(&app.store, "alpha").await;
        let b = seed_tenant(&app.store, "beta").await;
        let audit_b = all_audit(&app.store, b.id()).await;
        let (mut admin, _) = app.admin(a.id());
        let s = |u: Uuid| u.to_string();
        let b_ids = b.target_ids();
        let none_of_b = |found: Vec<String>, what: &str| {
            assert!(!found.is_empty(), "{what}: A's rows are listed");
            assert!(
                found.iter().all(|f| !b_ids.contains(f)),
                "{what}: none of B's rows in {found:?}"
            );
        };

        // The caller's tenant, whatever they name.
        let who = admin
            .who_am_i(pb::WhoAmIRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(who.tenant.unwrap().id, s(a.id().0));
        let tenant = admin
            .get_tenant(pb::GetTenantRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(tenant.slug, "alpha");
        let paris = pb::TenantSettings {
            time_zone: "Europe/Paris".into(),
            locale: "fr-FR".into(),
            academic_year_start_month: 9,
            academic_year_start_day: 1,
        };
        admin
            .update_tenant_settings(pb::UpdateTenantSettingsRequest {
                settings: Some(paris),
            })
            .await
            .unwrap();
        assert_eq!(
            app.store
                .get_tenant(a.id())
                .await
                .unwrap()
                .settings
                .time_zone,
            "Europe/Paris"
        );

        // Organisations.
        expect_code(
            admin
                .update_organisation(pb::UpdateOrganisationRequest {
                    id: s(b.organisation.id),
                    name: Some("Taken".into()),
                    ..Default::default()
                })
                .await,
            Code::NotFound,
        );
        let got = admin
            .get_organisations(pb::GetByIdsRequest {
                ids: vec![s(b.organisation.id)],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.organisations, vec![]);
        let listed = admin
            .list_organisations(pb::ListOrganisationsRequest {
                page: page(),
                name_contains: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        none_of_b(
            listed.organisations.into_iter().map(|o| o.id).collect(),
            "ListOrganisations",
        );
        let created = admin
            .create_organisation(pb::CreateOrganisationRequest {
                name: "Second".into(),
                kind: pb::OrganisationKind::School as i32,
                external_id: "C-2".into(),
                contact: None,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            app.store
                .get_organisations(a.id(), &[id(&created.id)])
                .await
                .unwrap()
                .len(),
            1,
            "created in the caller's tenant"
        );

        // Clusters.
        expect_code(
            admin
                .update_cluster(pb::UpdateClusterRequest {
                    id: s(b.cluster.id),
                    name: Some("Taken".into()),
                    ..Default::default()
                })
                .await,
            Code::NotFound,
        );
        let got = admin
            .get_clusters(pb::GetByIdsRequest {
                ids: vec![s(b.cluster.id)],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.clusters, vec![]);
        let listed = admin
            .list_clusters(pb::ListClustersRequest {
                page: page(),
                organisation_id: None,
            })
            .await
            .unwrap()
            .into_inner();
        none_of_b(
            listed.clusters.into_iter().map(|c| c.id).collect(),
            "ListClusters",
        );
        let listed = admin
            .list_clusters(pb::ListClustersRequest {
                page: page(),
                organisation_id: Some(s(b.organisation.id)),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.clusters, vec![]);
        for add in [true, false] {
            let request = pb::ClusterCentreRequest {
                cluster_id: s(b.cluster.id),
                organisation_id: s(b.organisation.id),
            };
            let result = if add {
                admin.add_cluster_centre(request).await
            } else {
                admin.remove_cluster_centre(request).await
            };
            expect_code(result, Code::NotFound);
        }
        expect_fields(
            admin
                .add_cluster_centre(pb::ClusterCentreRequest {
                    cluster_id: s(a.cluster.id),
                    organisation_id: s(b.organisation.id),
                })
                .await,
            &["organisation_id"],
        );
        expect_fields(
            admin
                .create_cluster(pb::CreateClusterRequest {
                    name: "Stolen".into(),
                    description: String::new(),
                    lead_person_id: None,
                    centre_ids: vec![s(b.organisation.id)],
                })
                .await,
            &["centre_ids[0]"],
        );

        // People.
        expect_code(
            admin
                .update_person(pb::UpdatePersonRequest {
                    id: s(b.lead.id),
                    given_name: Some("Taken".into()),
                    ..Default::default()
                })
                .await,
            Code::NotFound,
        );
        let got = admin
            .get_people(pb::GetByIdsRequest {
                ids: vec![s(b.lead.id), s(b.new_teacher.id)],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.people, vec![]);
        let listed = admin
            .list_people(pb::ListPeopleRequest {
                page: page(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        none_of_b(
            listed.people.into_iter().map(|p| p.id).collect(),
            "ListPeople",
        );
        for request in [
            pb::ListPeopleRequest {
                organisation_id: Some(s(b.organisation.id)),
                ..Default::default()
            },
            pb::ListPeopleRequest {
                cluster_id: Some(s(b.cluster.id)),
                ..Default::default()
            },
        ] {
            let listed = admin.list_people(request).await.unwrap().into_inner();
            assert_eq!(listed.people, vec![]);
        }
        expect_fields(
            admin
                .create_person(pb::CreatePersonRequest {
                    given_name: "Spy".into(),
                    family_name: "Ware".into(),
                    organisation_id: Some(s(b.organisation.id)),
                    ..Default::default()
                })
                .await,
            &["organisation_id"],
        );

        // Role grants.
        expect_fields(
            admin
                .grant_role(pb::GrantRoleRequest {
                    person_id: s(b.lead.id),
                    role: pb::Role::Teacher as i32,
                    cluster_id: None,
                })
                .await,
            &["person_id"],
        );
        expect_fields(
            admin
                .grant_role(pb::GrantRoleRequest {
                    person_id: s(a.lead.id),
                    role: pb::Role::Teacher as i32,
                    cluster_id: Some(s(b.cluster.id)),
                })
                .await,
            &["cluster_id"],
        );
        expect_code(
            admin
                .revoke_role(pb::RevokeRoleRequest {
                    grant_id: s(b.grant.id),
                })
                .await,
            Code::NotFound,
        );
        let listed = admin
            .list_role_grants(pb::ListRoleGrantsRequest {
                page: page(),
                include_revoked: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        none_of_b(
            listed.grants.into_iter().map(|g| g.id).collect(),
            "ListRoleGrants",
        );
        let listed = admin
            .list_role_grants(pb::ListRoleGrantsRequest {
                page: page(),
                person_id: Some(s(b.lead.id)),
                include_revoked: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.grants, vec![]);

        // Mentorships.
        expect_fields(
            admin
                .create_mentorship(pb::CreateMentorshipRequest {
                    mentor_id: s(a.lead.id),
                    new_teacher_id: s(b.new_teacher.id),
                    starts_on: "2026-09-01".into(),
                    planned_end_on: None,
                })
                .await,
            &["new_teacher_id"],
        );
        expect_code(
            admin
                .end_mentorship(pb::EndMentorshipRequest {
                    id: s(b.mentorship.id),
                    ended_on: "2027-01-01".into(),
                })
                .await,
            Code::NotFound,
        );
        let listed = admin
            .list_mentorships(pb::ListMentorshipsRequest {
                page: page(),
                person_id: None,
            })
            .await
            .unwrap()
            .into_inner();
        none_of_b(
            listed.mentorships.into_iter().map(|m| m.id).collect(),
            "ListMentorships",
        );
        let listed = admin
            .list_mentorships(pb::ListMentorshipsRequest {
                page: page(),
                person_id: Some(s(b.lead.id)),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.mentorships, vec![]);

        // Panels.
        expect_code(
            admin
                .add_panel_member(pb::AddPanelMemberRequest {
                    panel_id: s(b.panel.id),
                    person_id: s(a.lead.id),
                    constituency: pb::Constituency::Family as i32,
                })
                .await,
            Code::NotFound,
        );
        expect_code(
            admin
                .remove_panel_member(pb::RemovePanelMemberRequest {
                    panel_id: s(b.panel.id),
                    person_id: s(b.new_teacher.id),
                })
                .await,
            Code::NotFound,
        );
        expect_fields(
            admin
                .add_panel_member(pb::AddPanelMemberRequest {
                    panel_id: s(a.panel.id),
                    person_id: s(b.lead.id),
                    constituency: pb::Constituency::Family as i32,
                })
                .await,
            &["person_id"],
        );
        admin
            .create_panel(pb::CreatePanelRequest {
                name: "Second panel".into(),
                purpose: String::new(),
            })
            .await
            .unwrap();
        let listed = admin
            .list_panels(pb::ListPanelsRequest { page: page() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.panels.len(), 2);
        none_of_b(
            listed.panels.into_iter().map(|p| p.id).collect(),
            "ListPanels",
        );

        // Consent.
        let subject_b = pb::ConsentSubject {
            subject: Some(pb::consent_subject::Subject::PersonId(s(b.lead.id))),
        };
        expect_fields(
            admin
                .record_consent(pb::RecordConsentRequest {
                    subject: Some(subject_b.clone()),
                    purpose: SHARE_CONTACT_PURPOSE.into(),
                    purpose_version: 1,
                    remark: "signed form".into(),
                })
                .await,
            &["subject.person_id"],
        );
        expect_code(
            admin
                .withdraw_consent(pb::WithdrawConsentRequest {
                    id: s(b.consent.id),
                    remark: "taken".into(),
                })
                .await,
            Code::NotFound,
        );
        let listed = admin
            .list_consents(pb::ListConsentsRequest {
                page: page(),
                subject: None,
                include_withdrawn: true,
            })
            .await
            .unwrap()
            .into_inner();
        none_of_b(
            listed.records.into_iter().map(|c| c.id).collect(),
            "ListConsents",
        );
        let listed = admin
            .list_consents(pb::ListConsentsRequest {
                page: page(),
                subject: Some(subject_b),
                include_withdrawn: true,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.records, vec![]);

        // Research opt-outs.
        expect_fields(
            admin
                .record_research_opt_out(pb::RecordResearchOptOutRequest {
                    student_ref: "S-X".into(),
                    organisation_id: s(b.organisation.id),
                    recorded_for: "Parent".into(),
                })
                .await,
            &["organisation_id"],
        );
        expect_code(
            admin
                .withdraw_research_opt_out(pb::WithdrawResearchOptOutRequest {
                    id: s(b.opt_out.id),
                })
                .await,
            Code::NotFound,
        );
        let listed = admin
            .list_research_opt_outs(pb::ListResearchOptOutsRequest {
                page: page(),
                organisation_id: None,
                include_withdrawn: true,
            })
            .await
            .unwrap()
            .into_inner();
        none_of_b(
            listed.opt_outs.into_iter().map(|o| o.id).collect(),
            "ListResearchOptOuts",
        );
        let listed = admin
            .list_research_opt_outs(pb::ListResearchOptOutsRequest {
                page: page(),
                organisation_id: Some(s(b.organisation.id)),
                include_withdrawn: true,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.opt_outs, vec![]);

        // Audit.
        let listed = admin
            .list_audit_records(pb::ListAuditRecordsRequest {
                page: Some(PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
                target_id: None,
            })
            .await
            .unwrap()
            .into_inner();
        none_of_b(
            listed.records.into_iter().map(|r| r.target_id).collect(),
            "ListAuditRecords",
        );
        for target in &b_ids {
            let listed = admin
                .list_audit_records(pb::ListAuditRecordsRequest {
                    page: page(),
                    target_id: Some(target.clone()),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(listed.records, vec![], "audit of {target}");
        }

        // B is as it was seeded.
        assert_eq!(all_audit(&app.store, b.id()).await, audit_b);
        assert_eq!(app.store.get_tenant(b.id()).await.unwrap(), b.tenant);
        assert_eq!(
            app.store
                .get_organisations(b.id(), &[b.organisation.id])
                .await
                .unwrap(),
            vec![b.organisation.clone()]
        );
        assert_eq!(
            app.store
                .get_clusters(b.id(), &[b.cluster.id])
                .await
                .unwrap(),
            vec![b.cluster.clone()]
        );
        assert_eq!(
            app.store.get_people(b.id(), &[b.lead.id]).await.unwrap(),
            vec![b.lead.clone()]
        );
    })
    .await;
}

#[tokio::test]
async fn a_cluster_lead_manages_only_their_own_cluster() {
    bounded(async {
        let app = spawn_app().await;
        let t = tenant(&app.store, "alpha").await;
        let (mut admin, _) = app.admin(t);
        let one = create_org(&mut admin, "One", "one@example.org").await;
        let two = create_org(&mut admin, "Two", "two@example.org").await;
        let lead = create_person(&mut admin, "Lena", "lena@example.org", &one.id).await;
        let teacher = create_person(&mut admin, "Tom", "tom@example.org", &two.id).await;
        let cluster = |name: &str| pb::CreateClusterRequest {
            name: name.to_string(),
            description: String::new(),
            lead_person_id: None,
            centre_ids: vec![one.id.clone()],
        };
        let x = admin
            .create_cluster(cluster("X"))
            .await
            .unwrap()
            .into_inner();
        let y = admin
            .create_cluster(cluster("Y"))
            .await
            .unwrap()
            .into_inner();
        admin
            .grant_role(pb::GrantRoleRequest {
                person_id: lead.id.clone(),
                role: pb::Role::ClusterLead as i32,
                cluster_id: Some(x.id.clone()),
            })
            .await
            .unwrap();
        let mut leader = app.client(&app.token(
            t,
            id(&lead.id),
            &[grant(Role::ClusterLead, Some(id(&x.id)))],
        ));
        let centre = |cluster: &str, organisation: &str| pb::ClusterCentreRequest {
            cluster_id: cluster.to_string(),
            organisation_id: organisation.to_string(),
        };

        let grown = leader
            .add_cluster_centre(centre(&x.id, &two.id))
            .await
            .expect("the lead adds a centre to their cluster")
            .into_inner();
        let mut expected = vec![one.id.clone(), two.id.clone()];
        expected.sort();
        assert_eq!(grown.centre_ids, expected);
        expect_code(
            leader.add_cluster_centre(centre(&y.id, &two.id)).await,
            Code::PermissionDenied,
        );
        expect_code(
            leader.remove_cluster_centre(centre(&y.id, &one.id)).await,
            Code::PermissionDenied,
        );
        expect_code(
            leader
                .add_cluster_centre(centre(&Uuid::now_v7().to_string(), &two.id))
                .await,
            Code::NotFound,
        );
        let renamed = leader
            .update_cluster(pb::UpdateClusterRequest {
                id: x.id.clone(),
                description: Some("Science".into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(renamed.description, "Science");
        expect_code(
            leader
                .update_cluster(pb::UpdateClusterRequest {
                    id: y.id.clone(),
                    description: Some("Science".into()),
                    ..Default::default()
                })
                .await,
            Code::PermissionDenied,
        );
        // Naming the leader is the admin's decision.
        expect_code(
            leader
                .update_cluster(pb::UpdateClusterRequest {
                    id: x.id.clone(),
                    lead_person_id: Some(teacher.id.clone()),
                    ..Default::default()
                })
                .await,
            Code::PermissionDenied,
        );
        let teach = |cluster: &str| pb::GrantRoleRequest {
            person_id: teacher.id.clone(),
            role: pb::Role::Teacher as i32,
            cluster_id: Some(cluster.to_string()),
        };
        leader
            .grant_role(teach(&x.id))
            .await
            .expect("the lead makes a teacher of their cluster");
        expect_code(
            leader.grant_role(teach(&y.id)).await,
            Code::PermissionDenied,
        );
        expect_code(
            leader
                .grant_role(pb::GrantRoleRequest {
                    person_id: teacher.id.clone(),
                    role: pb::Role::TenantAdmin as i32,
                    cluster_id: None,
                })
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            leader.create_cluster(cluster("Z")).await,
            Code::PermissionDenied,
        );
        // Y is as the admin made it.
        let got = admin
            .get_clusters(pb::GetByIdsRequest {
                ids: vec![y.id.clone()],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.clusters, vec![y]);
    })
    .await;
}

#[tokio::test]
async fn contact_details_follow_consent() {
    bounded(async {
        let app = spawn_app().await;
        let t = tenant(&app.store, "alpha").await;
        let (mut admin, _) = app.admin(t);
        let centre1 = create_org(&mut admin, "Centre One", "one@example.org").await;
        let centre2 = create_org(&mut admin, "Centre Two", "two@example.org").await;
        let me = create_person(&mut admin, "Tia", "tia@example.org", &centre1.id).await;
        let colleague = create_person(&mut admin, "Cole", "cole@example.org", &centre1.id).await;
        let other = create_person(&mut admin, "Pia", "pia@example.org", &centre2.id).await;
        let mut teacher = app.teacher(t, id(&me.id));
        let mut pia = app.teacher(t, id(&other.id));

        // (person id, email shown or None, contact_hidden) as the teacher sees them.
        let seen = |people: Vec<pb::Person>| {
            people
                .into_iter()
                .map(|p| (p.id, p.contact.map(|c| c.email), p.contact_hidden))
                .collect::<Vec<_>>()
        };
        let get = |client: &mut Client, ids: Vec<String>| {
            let mut client = client.clone();
            async move {
                client
                    .get_people(pb::GetByIdsRequest { ids })
                    .await
                    .unwrap()
                    .into_inner()
                    .people
            }
        };
        let hidden = || (other.id.clone(), None, true);
        let shown = || (other.id.clone(), Some("pia@example.org".to_string()), false);

        let mut pair = vec![
            (
                colleague.id.clone(),
                Some("cole@example.org".to_string()),
                false,
            ),
            hidden(),
        ];
        pair.sort();
        assert_eq!(
            seen(get(&mut teacher, vec![colleague.id.clone(), other.id.clone()]).await),
            pair
        );
        let listed = teacher
            .list_people(pb::ListPeopleRequest {
                organisation_id: Some(centre2.id.clone()),
                page: page(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(seen(listed.people), vec![hidden()]);
        let orgs = teacher
            .get_organisations(pb::GetByIdsRequest {
                ids: vec![centre1.id.clone(), centre2.id.clone()],
            })
            .await
            .unwrap()
            .into_inner()
            .organisations;
        assert_eq!(
            orgs.iter()
                .map(|o| (o.contact.is_some(), o.contact_hidden))
                .collect::<Vec<_>>(),
            [(true, false), (false, true)]
        );

        let consent = |person: &str, remark: &str| pb::RecordConsentRequest {
            subject: Some(pb::ConsentSubject {
                subject: Some(pb::consent_subject::Subject::PersonId(person.to_string())),
            }),
            purpose: SHARE_CONTACT_PURPOSE.into(),
            purpose_version: 1,
            remark: remark.to_string(),
        };
        // Only the person themselves, or an admin by proxy, records consent.
        expect_code(
            teacher.record_consent(consent(&other.id, "")).await,
            Code::PermissionDenied,
        );
        assert_eq!(
            seen(get(&mut teacher, vec![other.id.clone()]).await),
            [hidden()]
        );

        let own = pia
            .record_consent(consent(&other.id, ""))
            .await
            .expect("Pia records her own consent")
            .into_inner();
        assert_eq!(
            (own.by_proxy, own.recorded_by.as_str()),
            (false, other.id.as_str())
        );
        assert_eq!(
            seen(get(&mut teacher, vec![other.id.clone()]).await),
            [shown()]
        );
        let listed = teacher
            .list_people(pb::ListPeopleRequest {
                organisation_id: Some(centre2.id.clone()),
                page: page(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(seen(listed.people), vec![shown()]);

        expect_code(
            teacher
                .withdraw_consent(pb::WithdrawConsentRequest {
                    id: own.id.clone(),
                    remark: String::new(),
                })
                .await,
            Code::PermissionDenied,
        );
        let withdrawn = pia
            .withdraw_consent(pb::WithdrawConsentRequest {
                id: own.id.clone(),
                remark: "no longer".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(withdrawn.withdrawn_at.is_some());
        assert_eq!(
            seen(get(&mut teacher, vec![other.id.clone()]).await),
            [hidden()]
        );

        // By proxy, an admin must say how consent was given.
        expect_fields(
            admin.record_consent(consent(&other.id, "  ")).await,
            &["remark"],
        );
        assert_eq!(
            seen(get(&mut teacher, vec![other.id.clone()]).await),
            [hidden()]
        );
        let by_proxy = admin
            .record_consent(consent(&other.id, "signed paper form"))
            .await
            .unwrap()
            .into_inner();
        assert!(by_proxy.by_proxy);
        assert_eq!(
            seen(get(&mut teacher, vec![other.id.clone()]).await),
            [shown()]
        );

        // A centre's contact details follow the same rule.
        admin
            .record_consent(pb::RecordConsentRequest {
                subject: Some(pb::ConsentSubject {
                    subject: Some(pb::consent_subject::Subject::OrganisationId(
                        centre2.id.clone(),
                    )),
                }),
                purpose: SHARE_CONTACT_PURPOSE.into(),
                purpose_version: 1,
                remark: "board decision".into(),
            })
            .await
            .unwrap();
        let orgs = teacher
            .get_organisations(pb::GetByIdsRequest {
                ids: vec![centre2.id.clone()],
            })
            .await
            .unwrap()
            .into_inner()
            .organisations;
        assert_eq!(
            orgs[0].contact.as_ref().map(|c| c.email.as_str()),
            Some("two@example.org")
        );
        assert!(!orgs[0].contact_hidden);
    })
    .await;
}

// ------------------------------------------------------------------ research agreements

fn agreement_req(researchers: &[Uuid], from: &str, to: &str) -> pb::CreateResearchAgreementRequest {
    pb::CreateResearchAgreementRequest {
        title: "Scoring reliability".into(),
        purpose: "How often do two readers agree?".into(),
        data_scope: vec!["scores".into()],
        researcher_ids: researchers.iter().map(Uuid::to_string).collect(),
        starts_on: from.into(),
        ends_on: to.into(),
        destroy_by: to.into(),
    }
}

fn disclosure_req(agreement: Option<&str>) -> pb::RecordDisclosureRequest {
    pb::RecordDisclosureRequest {
        agreement_id: agreement.map(str::to_string),
        scope: "scores".into(),
        dataset: "scores, academic year 2026".into(),
        rows: 7,
        excluded: 1,
    }
}

#[tokio::test]
async fn research_data_goes_only_to_researchers_an_agreement_covers_and_is_logged() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed_tenant(&app.store, "alpha").await;
        let b = seed_tenant(&app.store, "beta").await;
        let t = a.id();
        let today = chrono::Utc::now().date_naive();
        let day = |d: i64| (today + chrono::Duration::days(d)).to_string();
        let (mut admin, _) = app.admin(t);
        let rae = a.lead.id;
        let ravi = person(&app.store, t, "Ravi", None).await.id;
        let as_researcher = |p: Uuid, tenant: TenantId| {
            app.client(&app.token(tenant, p, &[grant(Role::Researcher, None)]))
        };
        let mut researcher = as_researcher(rae, t);
        let mut other = as_researcher(ravi, t);

        // Only admins create and revoke; bad input names the fields.
        expect_code(
            researcher
                .create_research_agreement(agreement_req(&[rae], &day(-30), &day(30)))
                .await,
            Code::PermissionDenied,
        );
        expect_fields(
            admin
                .create_research_agreement(pb::CreateResearchAgreementRequest {
                    data_scope: vec!["grades".into()],
                    researcher_ids: vec!["nobody".into()],
                    ends_on: "soon".into(),
                    ..agreement_req(&[], &day(-30), &day(30))
                })
                .await,
            &["data_scope[0]", "researcher_ids[0]", "ends_on"],
        );
        expect_fields(
            admin
                .create_research_agreement(agreement_req(&[rae], &day(30), &day(-30)))
                .await,
            &["ends_on"],
        );
        expect_fields(
            admin
                .create_research_agreement(agreement_req(&[b.lead.id], &day(-30), &day(30)))
                .await,
            &["researcher_ids[0]"],
        );

        // Not covered yet: refused with the reason.
        let refused = expect_code(
            researcher
                .check_research_access(pb::CheckResearchAccessRequest {
                    scope: "scores".into(),
                })
                .await,
            Code::FailedPrecondition,
        );
        assert_eq!(
            refused.message(),
            format!("no research agreement covers you for scores on {today}")
        );
        expect_fields(
            researcher
                .check_research_access(pb::CheckResearchAccessRequest {
                    scope: "grades".into(),
                })
                .await,
            &["scope"],
        );
        let expired = admin
            .create_research_agreement(agreement_req(&[rae], &day(-60), &day(-1)))
            .await
            .unwrap()
            .into_inner();
        expect_code(
            researcher
                .check_research_access(pb::CheckResearchAccessRequest {
                    scope: "scores".into(),
                })
                .await,
            Code::FailedPrecondition,
        );
        expect_code(
            researcher
                .record_disclosure(disclosure_req(Some(&expired.id)))
                .await,
            Code::FailedPrecondition,
        );

        let agreement = admin
            .create_research_agreement(agreement_req(&[rae], &day(-30), &day(30)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(agreement.researcher_ids, vec![rae.to_string()]);
        let covering = researcher
            .check_research_access(pb::CheckResearchAccessRequest {
                scope: "scores".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(covering.id, agreement.id);
        expect_code(
            researcher
                .check_research_access(pb::CheckResearchAccessRequest {
                    scope: "attendance".into(),
                })
                .await,
            Code::FailedPrecondition,
        );
        expect_code(
            other
                .check_research_access(pb::CheckResearchAccessRequest {
                    scope: "scores".into(),
                })
                .await,
            Code::FailedPrecondition,
        );

        // Recording: under an agreement that covers the caller; only admins without one.
        expect_fields(
            researcher.record_disclosure(disclosure_req(None)).await,
            &["agreement_id"],
        );
        expect_code(
            other
                .record_disclosure(disclosure_req(Some(&agreement.id)))
                .await,
            Code::FailedPrecondition,
        );
        let logged = researcher
            .record_disclosure(disclosure_req(Some(&agreement.id)))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (
                logged.agreement_id.as_deref(),
                logged.recipient_id.as_str(),
                logged.rows,
                logged.excluded
            ),
            (Some(agreement.id.as_str()), rae.to_string().as_str(), 7, 1)
        );
        let admin_person = a.new_teacher.id;
        let mut admin_in_directory =
            app.client(&app.token(t, admin_person, &[grant(Role::TenantAdmin, None)]));
        let own = admin_in_directory
            .record_disclosure(disclosure_req(None))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(own.agreement_id, None);

        // Listing: researchers see their own; admins everything, filtered.
        let list = |client: &mut Client, researcher_id: Option<Uuid>| {
            let mut client = client.clone();
            async move {
                client
                    .list_disclosures(pb::ListDisclosuresRequest {
                        page: page(),
                        researcher_id: researcher_id.map(|r| r.to_string()),
                        ..Default::default()
                    })
                    .await
                    .map(|r| {
                        r.into_inner()
                            .disclosures
                            .into_iter()
                            .map(|d| d.id)
                            .collect::<Vec<_>>()
                    })
            }
        };
        assert_eq!(
            list(&mut researcher, None).await.unwrap(),
            vec![logged.id.clone()]
        );
        expect_code(
            list(&mut researcher, Some(ravi)).await.map(Response::new),
            Code::PermissionDenied,
        );
        let everything = list(&mut admin, None).await.unwrap();
        assert!(everything.contains(&logged.id) && everything.contains(&own.id));
        assert!(everything.contains(&a.disclosure.id.to_string()));
        let filtered = admin
            .list_disclosures(pb::ListDisclosuresRequest {
                page: page(),
                agreement_id: Some(agreement.id.clone()),
                from: Some(day(0)),
                to: Some(day(0)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            filtered
                .disclosures
                .iter()
                .map(|d| d.id.clone())
                .collect::<Vec<_>>(),
            vec![logged.id.clone()]
        );
        let tomorrow = admin
            .list_disclosures(pb::ListDisclosuresRequest {
                page: page(),
                from: Some(day(1)),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(tomorrow.disclosures.is_empty());
        expect_fields(
            admin
                .list_disclosures(pb::ListDisclosuresRequest {
                    from: Some(day(1)),
                    to: Some(day(0)),
                    ..Default::default()
                })
                .await,
            &["to"],
        );
        let export = admin
            .export_disclosures(pb::ExportDisclosuresRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(export.rows, 3, "{}", export.csv);
        assert!(
            export
                .csv
                .contains(&format!(",{rae},Lena Lead,{},scores,", agreement.id))
        );
        let mine = researcher
            .export_disclosures(pb::ExportDisclosuresRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(mine.rows, 1);

        // Agreements: researchers list those naming them; admins all.
        let agreements = |client: &mut Client| {
            let mut client = client.clone();
            async move {
                client
                    .list_research_agreements(pb::ListResearchAgreementsRequest {
                        page: page(),
                        include_revoked: true,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .agreements
                    .into_iter()
                    .map(|a| a.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            agreements(&mut researcher).await,
            vec![expired.id.clone(), agreement.id.clone()]
        );
        assert_eq!(agreements(&mut other).await, Vec::<String>::new());
        assert_eq!(agreements(&mut admin).await.len(), 3);
        expect_code(
            other
                .list_research_agreements(pb::ListResearchAgreementsRequest {
                    researcher_id: Some(rae.to_string()),
                    ..Default::default()
                })
                .await,
            Code::PermissionDenied,
        );

        // Revoked, the agreement covers nobody; revoking is the admin's.
        expect_code(
            researcher
                .revoke_research_agreement(pb::RevokeResearchAgreementRequest {
                    id: agreement.id.clone(),
                })
                .await,
            Code::PermissionDenied,
        );
        let revoked = admin
            .revoke_research_agreement(pb::RevokeResearchAgreementRequest {
                id: agreement.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(revoked.revoked_at.is_some());
        expect_code(
            researcher
                .check_research_access(pb::CheckResearchAccessRequest {
                    scope: "scores".into(),
                })
                .await,
            Code::FailedPrecondition,
        );
        expect_code(
            researcher
                .record_disclosure(disclosure_req(Some(&agreement.id)))
                .await,
            Code::FailedPrecondition,
        );
        let audit = all_audit(&app.store, t).await;
        assert!(
            audit
                .iter()
                .any(|r| r.action == "research_agreement.revoked" && r.target_id == agreement.id)
        );

        // Tenant B sees and touches none of it.
        let audit_b = all_audit(&app.store, b.id()).await;
        let (mut admin_b, _) = app.admin(b.id());
        expect_code(
            admin_b
                .revoke_research_agreement(pb::RevokeResearchAgreementRequest {
                    id: a.agreement.id.to_string(),
                })
                .await,
            Code::NotFound,
        );
        let b_agreements = agreements(&mut admin_b).await;
        assert_eq!(b_agreements, vec![b.agreement.id.to_string()]);
        let b_disclosures = list(&mut admin_b, None).await.unwrap();
        assert_eq!(b_disclosures, vec![b.disclosure.id.to_string()]);
        assert!(
            list(&mut admin_b, Some(rae)).await.unwrap().is_empty(),
            "A's researcher has no disclosures in B"
        );
        let b_export = admin_b
            .export_disclosures(pb::ExportDisclosuresRequest {
                agreement_id: Some(a.agreement.id.to_string()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(b_export.rows, 0);
        // A's researcher with a token for B: not covered there, and A's
        // agreement is no agreement of B's.
        let mut rae_in_b = as_researcher(b.new_teacher.id, b.id());
        expect_fields(
            rae_in_b
                .record_disclosure(disclosure_req(Some(&a.agreement.id.to_string())))
                .await,
            &["agreement_id"],
        );
        let mut a_person_in_b = as_researcher(rae, b.id());
        expect_code(
            a_person_in_b
                .check_research_access(pb::CheckResearchAccessRequest {
                    scope: "scores".into(),
                })
                .await,
            Code::FailedPrecondition,
        );
        assert_eq!(all_audit(&app.store, b.id()).await, audit_b);
    })
    .await;
}

#[tokio::test]
async fn person_data_requests_are_admin_only_and_keep_to_the_callers_tenant() {
    bounded(async {
        let app = spawn_app().await;
        let a = seed_tenant(&app.store, "alpha").await;
        let b = seed_tenant(&app.store, "beta").await;
        let req = |p: Uuid| collegium_proto::common::v1::PersonDataRequest {
            person_id: p.to_string(),
        };

        // A teacher (even about themselves) is refused, and nothing is erased.
        let mut teacher = app.teacher(a.id(), a.lead.id);
        expect_code(
            teacher.export_person_data(req(a.lead.id)).await,
            Code::PermissionDenied,
        );
        expect_code(
            teacher.erase_person_data(req(a.lead.id)).await,
            Code::PermissionDenied,
        );

        // B's admin asking for A's person: not found, nothing of A's erased.
        let (mut admin_b, _) = app.admin(b.id());
        expect_code(
            admin_b.export_person_data(req(a.lead.id)).await,
            Code::NotFound,
        );
        expect_code(
            admin_b.erase_person_data(req(a.lead.id)).await,
            Code::NotFound,
        );
        assert_eq!(
            app.store.get_people(a.id(), &[a.lead.id]).await.unwrap()[0],
            a.lead
        );
        expect_fields(
            admin_b
                .export_person_data(collegium_proto::common::v1::PersonDataRequest {
                    person_id: "nope".into(),
                })
                .await,
            &["person_id"],
        );

        // A's admin exports and erases.
        let (mut admin_a, me) = app.admin(a.id());
        let export = admin_a
            .export_person_data(req(a.lead.id))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(export.service, "membership");
        let doc: serde_json::Value = serde_json::from_str(&export.json).unwrap();
        assert_eq!(doc["person"]["given_name"], "Lena");
        assert_eq!(doc["role_grants"][0]["id"], a.grant.id.to_string());

        let report = admin_a
            .erase_person_data(req(a.lead.id))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(report.service, "membership");
        let count = |r: &collegium_proto::common::v1::ErasureReport, kind: &str| {
            r.counts
                .iter()
                .find(|c| c.kind == kind)
                .unwrap_or_else(|| panic!("{kind} in {r:?}"))
                .count
        };
        assert_eq!(count(&report, "person"), 1);
        assert_eq!(count(&report, "role_grants_revoked"), 1);
        let erased = app.store.get_people(a.id(), &[a.lead.id]).await.unwrap();
        assert_eq!(erased[0].given_name, "Erased");
        let audit = all_audit(&app.store, a.id()).await;
        let record = audit
            .iter()
            .find(|r| r.action == "person.erased")
            .expect("the erasure is audited");
        assert_eq!(
            (record.actor.as_str(), record.target_id.as_str()),
            (me.to_string().as_str(), a.lead.id.to_string().as_str())
        );

        let again = admin_a
            .erase_person_data(req(a.lead.id))
            .await
            .unwrap()
            .into_inner();
        assert!(again.counts.iter().all(|c| c.count == 0), "{again:?}");

        // B untouched.
        assert_eq!(
            app.store.get_people(b.id(), &[b.lead.id]).await.unwrap()[0],
            b.lead
        );
    })
    .await;
}

#[tokio::test]
async fn retention_is_for_admins_and_the_job_checked_and_kept_to_the_callers_tenant() {
    use collegium_proto::common::v1 as common;
    bounded(async {
        let app = spawn_app().await;
        let a = seed_tenant(&app.store, "alpha").await;
        let b = seed_tenant(&app.store, "beta").await;
        let long_ago = "2020-01-01T00:00:00Z".to_string();

        // A teacher may do none of it.
        let mut teacher = app.teacher(a.id(), a.lead.id);
        expect_code(
            teacher
                .get_retention_policy(pb::GetRetentionPolicyRequest {})
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            teacher
                .set_retention_period(pb::SetRetentionPeriodRequest {
                    category: "audit_log".into(),
                    days: None,
                    reset: false,
                })
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            teacher
                .list_expired_people(pb::ListExpiredPeopleRequest {
                    before: long_ago.clone(),
                    page: page(),
                })
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            teacher
                .apply_retention(common::ApplyRetentionRequest {
                    cutoffs: vec![],
                    dry_run: true,
                })
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            teacher
                .list_retention_runs(pb::ListRetentionRunsRequest { page: page() })
                .await,
            Code::PermissionDenied,
        );

        // Bad input names the field.
        let (mut admin_a, _) = app.admin(a.id());
        expect_fields(
            admin_a
                .set_retention_period(pb::SetRetentionPeriodRequest {
                    category: "everything".into(),
                    days: Some(400),
                    reset: false,
                })
                .await,
            &["category"],
        );
        expect_fields(
            admin_a
                .set_retention_period(pb::SetRetentionPeriodRequest {
                    category: "audit_log".into(),
                    days: Some(10),
                    reset: false,
                })
                .await,
            &["days"],
        );
        expect_fields(
            admin_a
                .set_retention_period(pb::SetRetentionPeriodRequest {
                    category: "audit_log".into(),
                    days: Some(400),
                    reset: true,
                })
                .await,
            &["days"],
        );
        // No listing of people inactive for less than the minimum period.
        expect_fields(
            admin_a
                .list_expired_people(pb::ListExpiredPeopleRequest {
                    before: chrono::Utc::now().to_rfc3339(),
                    page: page(),
                })
                .await,
            &["before"],
        );
        expect_fields(
            admin_a
                .apply_retention(common::ApplyRetentionRequest {
                    cutoffs: vec![common::RetentionCutoff {
                        category: "audit_log".into(),
                        before: chrono::Utc::now().to_rfc3339(),
                    }],
                    dry_run: false,
                })
                .await,
            &["cutoffs[0].before"],
        );

        // A's admin keeps notifications for 90 days; B's policy is untouched.
        let policy = admin_a
            .set_retention_period(pb::SetRetentionPeriodRequest {
                category: "notifications".into(),
                days: Some(90),
                reset: false,
            })
            .await
            .unwrap()
            .into_inner();
        let period = |p: &pb::RetentionPolicy, c: &str| {
            p.periods
                .iter()
                .find(|x| x.category == c)
                .unwrap_or_else(|| panic!("{c} in {p:?}"))
                .clone()
        };
        let n = period(&policy, "notifications");
        assert_eq!((n.days, n.is_default, n.min_days), (Some(90), false, 30));
        assert_eq!(n.services, vec!["notifications".to_string()]);
        let (mut admin_b, _) = app.admin(b.id());
        let b_policy = admin_b
            .get_retention_policy(pb::GetRetentionPolicyRequest {})
            .await
            .unwrap()
            .into_inner();
        assert_eq!(period(&b_policy, "notifications").days, Some(365));
        assert!(period(&b_policy, "notifications").is_default);

        // The job's service token lists A's expired people only, and records a run.
        let service = app.issuer.signer.service_token("retention", a.id());
        let mut job = app.client(&service);
        let cutoff = platform::fields::ts(chrono::Utc::now() - chrono::Duration::days(30));
        let listed = job
            .list_expired_people(pb::ListExpiredPeopleRequest {
                before: cutoff,
                page: page(),
            })
            .await
            .unwrap()
            .into_inner();
        // Everybody seeded is active or was deactivated just now.
        assert_eq!(listed.person_ids, Vec::<String>::new());
        let report = job
            .apply_retention(common::ApplyRetentionRequest {
                cutoffs: vec![common::RetentionCutoff {
                    category: "audit_log".into(),
                    before: long_ago.clone(),
                }],
                dry_run: true,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(report.service, "membership");
        assert_eq!(report.counts.len(), 1);
        assert_eq!(
            (report.counts[0].kind.as_str(), report.counts[0].count),
            ("audit_records", 0)
        );
        let run = job
            .record_retention_run(pb::RecordRetentionRunRequest {
                dry_run: true,
                started_at: long_ago.clone(),
                cutoffs: vec![common::RetentionCutoff {
                    category: "audit_log".into(),
                    before: long_ago.clone(),
                }],
                reports: vec![report],
                error: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(run.actor, "service:retention");
        let runs_a = admin_a
            .list_retention_runs(pb::ListRetentionRunsRequest { page: page() })
            .await
            .unwrap()
            .into_inner()
            .runs;
        assert_eq!(runs_a[0], run);
        // B sees its own (seeded) run only.
        let runs_b = admin_b
            .list_retention_runs(pb::ListRetentionRunsRequest { page: page() })
            .await
            .unwrap()
            .into_inner()
            .runs;
        assert_eq!(runs_b.len(), 1);
        assert_eq!(runs_b[0].id, b.retention_run.id.to_string());
    })
    .await;
}
