//! Notifications through the gateway, with notifications down or faked:
//! GraphQL fields need a token and report an unreachable service as
//! UNAVAILABLE; arguments and inputs reach the service field for field
//! with the caller's token; the service's refusals come back through the
//! one error conversion; relations resolve through the real membership
//! service. The unsubscribe route needs no bearer token, never acts on a
//! GET, refuses malformed tokens without a call and maps the service's
//! answers to 200 / 404 / 503.
//!
//! The inbox subscription is tested over a real WebSocket in
//! `subscriptions.rs`.

use std::sync::Arc;

use collegium_membership::{
    MembershipStore,
    domain::{Contact, NewCluster, NewPerson, NewTenant, TenantKind, TenantSettings},
};
use collegium_proto::{
    common::v1::PageRequest,
    notifications::v1::{
        self as pb, notifications_service_server::NotificationsServiceServer,
        unsubscribe_service_server::UnsubscribeServiceServer,
    },
};
use platform::auth::{Grant, PersonId, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::TestIssuer;
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::{
    fake_notifications::{FakeNotifications, FakeUnsubscribe},
    helpers::{
        FakeUpstream, TestGateway, assert_unauthenticated, codes, fake_upstream, spawn_gateway,
        spawn_gateway_trusting, spawn_gateway_with,
    },
};

/// A gateway in front of `fake` and `unsubscribe` (membership and
/// scheduling stay down).
async fn gateway_with_fakes(
    fake: &FakeNotifications,
    unsubscribe: &FakeUnsubscribe,
) -> (TestGateway, FakeUpstream) {
    let upstream = fake_upstream(
        tonic::service::Routes::new(NotificationsServiceServer::new(fake.clone()))
            .add_service(UnsubscribeServiceServer::new(unsubscribe.clone())),
    )
    .await;
    let url = upstream.url.clone();
    let gw = spawn_gateway_with(|c| c.notifications_url = url).await;
    (gw, upstream)
}

async fn gateway_with_fake(fake: &FakeNotifications) -> (TestGateway, FakeUpstream) {
    gateway_with_fakes(fake, &FakeUnsubscribe::default()).await
}

fn debug<T: std::fmt::Debug>(request: T) -> String {
    format!("{request:?}")
}

#[tokio::test]
async fn notifications_fields_need_a_token() {
    let gw = spawn_gateway().await;
    for query in [
        "{ inbox { unreadCount } }",
        "{ notificationPreferences { digestTime } }",
        "{ deadLetters { eventId } }",
        "mutation { markAllRead { changed } }",
        "mutation { replayDeadLetter(eventId: \"e\") }",
    ] {
        let (status, body) = gw.query(None, query).await;
        assert_unauthenticated(status, &body);
    }
}

#[tokio::test]
async fn notifications_fields_meeting_a_down_notifications_are_unavailable() {
    let gw = spawn_gateway().await;
    let token = gw.token();
    for (query, path) in [
        ("{ inbox { unreadCount } }", "inbox"),
        (
            "{ notificationPreferences { digestTime } }",
            "notificationPreferences",
        ),
        (
            "{ clusterMessages(clusterId: \"c\") { edges { node { id } } } }",
            "clusterMessages",
        ),
        ("{ deliveries { edges { node { id } } } }", "deliveries"),
        (
            "{ notificationTemplates { locale } }",
            "notificationTemplates",
        ),
        (
            "{ notificationSettings { reminderLeadHours } }",
            "notificationSettings",
        ),
        ("{ deadLetters { eventId } }", "deadLetters"),
        (
            "mutation { markRead(ids: [\"n\"]) { changed } }",
            "markRead",
        ),
        ("mutation { markAllRead { changed } }", "markAllRead"),
        ("mutation { archive(ids: [\"n\"]) { changed } }", "archive"),
        (
            "mutation { replayDeadLetter(eventId: \"e\") }",
            "replayDeadLetter",
        ),
    ] {
        let (status, body) = gw.query(Some(&token), query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(codes(&body), ["UNAVAILABLE"], "{query}: {body}");
        assert_eq!(body["errors"][0]["path"], json!([path]), "{body}");
    }
}

#[tokio::test]
async fn a_bad_page_size_is_refused_naming_first_before_any_call() {
    let fake = FakeNotifications::default();
    let (gw, _upstream) = gateway_with_fake(&fake).await;
    for query in [
        "{ inbox(first: 0) { unreadCount } }",
        "{ deliveries(first: 501) { edges { node { id } } } }",
        "{ clusterMessages(clusterId: \"c\", first: -1) { edges { node { id } } } }",
    ] {
        let (_, body) = gw.query(Some(&gw.token()), query).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["fields"][0]["field"],
            "first"
        );
    }
    assert!(fake.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_inbox_is_a_connection_with_the_unread_count_and_the_callers_token() {
    let fake = FakeNotifications {
        inbox: vec![
            pb::InboxItem {
                id: "n1".into(),
                category: pb::Category::Invitations as i32,
                title: "You are invited".into(),
                body: "Scoring training, 14 October".into(),
                link: "/events/e1".into(),
                created_at: "2026-11-24T09:00:00Z".into(),
                read_at: Some("2026-11-24T10:00:00Z".into()),
                archived_at: None,
                critical: false,
            },
            pb::InboxItem {
                id: "n2".into(),
                category: pb::Category::Changes as i32,
                title: "Meeting cancelled".into(),
                created_at: "2026-11-24T11:00:00Z".into(),
                critical: true,
                ..Default::default()
            },
        ],
        unread: 7,
        ..Default::default()
    };
    let (gw, _upstream) = gateway_with_fake(&fake).await;
    let token = gw.token();
    let (_, body) = gw
        .query(
            Some(&token),
            r#"{ inbox(first: 2, after: "n0", unreadOnly: true, includeArchived: true) {
                unreadCount
                edges { cursor node { id category title link readAt archivedAt critical } }
                pageInfo { hasNextPage hasPreviousPage endCursor } } }"#,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let inbox = &body["data"]["inbox"];
    assert_eq!(inbox["unreadCount"], 7);
    assert_eq!(
        inbox["pageInfo"],
        json!({ "hasNextPage": true, "hasPreviousPage": true, "endCursor": "inbox-next" })
    );
    assert_eq!(
        inbox["edges"][0],
        json!({ "cursor": "n1", "node": {
            "id": "n1", "category": "INVITATIONS", "title": "You are invited",
            "link": "/events/e1", "readAt": "2026-11-24T10:00:00+00:00",
            "archivedAt": null, "critical": false,
        } })
    );
    assert_eq!(inbox["edges"][1]["node"]["link"], Value::Null);
    assert_eq!(inbox["edges"][1]["node"]["category"], "CHANGES");
    assert_eq!(inbox["edges"][1]["node"]["critical"], true);
    let calls = fake.calls("list_inbox");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].request,
        debug(pb::ListInboxRequest {
            page: Some(PageRequest {
                page_size: 2,
                page_token: "n0".into(),
            }),
            unread_only: true,
            include_archived: true,
        })
    );
    assert_eq!(
        calls[0].authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );
    // Left out, the flags are false.
    gw.query(Some(&token), "{ inbox { unreadCount } }").await;
    assert_eq!(
        fake.calls("list_inbox")[1].request,
        debug(pb::ListInboxRequest {
            page: Some(PageRequest::default()),
            unread_only: false,
            include_archived: false,
        })
    );
}

#[tokio::test]
async fn marking_and_archiving_send_the_ids_and_answer_with_counts() {
    let fake = FakeNotifications::default();
    let (gw, _upstream) = gateway_with_fake(&fake).await;
    let (_, body) = gw
        .query(
            Some(&gw.token()),
            r#"mutation {
                read: markRead(ids: ["n1", "n2"]) { changed unreadCount }
                all: markAllRead { changed unreadCount }
                archived: archive(ids: ["n3"]) { changed unreadCount } }"#,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"],
        json!({
            "read": { "changed": 2, "unreadCount": 1 },
            "all": { "changed": 3, "unreadCount": 0 },
            "archived": { "changed": 1, "unreadCount": 2 },
        })
    );
    assert_eq!(
        fake.calls("mark_read")[0].request,
        debug(pb::MarkRequest {
            ids: vec!["n1".into(), "n2".into()],
        })
    );
    assert_eq!(
        fake.calls("archive")[0].request,
        debug(pb::MarkRequest {
            ids: vec!["n3".into()],
        })
    );
}

#[tokio::test]
async fn preferences_round_trip_and_refusals_name_the_input_field() {
    let fake = FakeNotifications::default();
    let (gw, _upstream) = gateway_with_fake(&fake).await;
    let token = gw.token();
    let (_, body) = gw
        .query(
            Some(&token),
            "{ notificationPreferences { entries { category channel frequency } \
               digestTime digestWeekday timeZone quietHoursStart quietHoursEnd } }",
        )
        .await;
    assert_eq!(
        body["data"]["notificationPreferences"],
        json!({
            "entries": [{ "category": "NEWSLETTERS", "channel": "EMAIL", "frequency": "WEEKLY" }],
            "digestTime": "07:30", "digestWeekday": 1, "timeZone": null,
            "quietHoursStart": null, "quietHoursEnd": null,
        }),
        "{body}"
    );
    let (_, body) = gw
        .query(
            Some(&token),
            r#"mutation { updateNotificationPreferences(input: {
                entries: [{ category: REMINDERS, channel: IN_APP, frequency: OFF }],
                digestTime: "18:00", timeZone: "Europe/London",
                quietHoursStart: "22:00", quietHoursEnd: "07:00" }) {
                entries { frequency } quietHoursStart digestWeekday } }"#,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        fake.calls("update_preferences")[0].request,
        debug(pb::Preferences {
            entries: vec![pb::CategoryPreference {
                category: pb::Category::Reminders as i32,
                channel: pb::Channel::InApp as i32,
                frequency: pb::Frequency::Off as i32,
            }],
            digest_time: "18:00".into(),
            digest_weekday: 0,
            time_zone: "Europe/London".into(),
            quiet_hours_start: "22:00".into(),
            quiet_hours_end: "07:00".into(),
        })
    );
    let prefs = &body["data"]["updateNotificationPreferences"];
    assert_eq!(prefs["entries"][0]["frequency"], "OFF");
    assert_eq!(prefs["quietHoursStart"], "22:00");
    assert_eq!(prefs["digestWeekday"], Value::Null);

    let (_, body) = gw
        .query(
            Some(&token),
            r#"mutation { updateNotificationPreferences(input: { entries: [],
                quietHoursStart: "25:00", quietHoursEnd: "07:00" }) { digestTime } }"#,
        )
        .await;
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
    let field = &body["errors"][0]["extensions"]["fields"][0];
    assert_eq!(field["field"], "quietHoursStart");
    assert_eq!(field["description"], "not a time of day (HH:MM)");
}

#[tokio::test]
async fn notify_forwards_the_idempotency_key_and_a_reused_key_is_a_conflict() {
    let fake = FakeNotifications::default();
    let (gw, _upstream) = gateway_with_fake(&fake).await;
    let token = gw.token();
    let notify = |key: &str| {
        format!(
            r#"mutation {{ notify(input: {{ idempotencyKey: "{key}", personIds: ["p1", "p2"],
                category: ACCOUNT, title: "Consent recorded", body: "Thank you.",
                link: "/consent", critical: true }}) {{ notificationIds replayed }} }}"#
        )
    };
    let (_, body) = gw.query(Some(&token), &notify("k-1")).await;
    assert_eq!(
        body["data"]["notify"],
        json!({ "notificationIds": ["n-p1", "n-p2"], "replayed": false }),
        "{body}"
    );
    assert_eq!(
        fake.calls("notify")[0].request,
        debug(pb::NotifyRequest {
            idempotency_key: "k-1".into(),
            person_ids: vec!["p1".into(), "p2".into()],
            category: pb::Category::Account as i32,
            title: "Consent recorded".into(),
            body: "Thank you.".into(),
            link: "/consent".into(),
            critical: true,
        })
    );
    let (_, body) = gw.query(Some(&token), &notify("sent-before")).await;
    assert_eq!(body["data"]["notify"]["replayed"], true, "{body}");
    let (_, body) = gw
        .query(Some(&token), &notify("used-for-another-request"))
        .await;
    assert_eq!(codes(&body), ["CONFLICT"], "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["notify"]));
    // Without a key the request never leaves the gateway.
    let (_, body) = gw
        .query(
            Some(&token),
            r#"mutation { notify(input: { personIds: [], category: ACCOUNT, title: "t", body: "b" }) { replayed } }"#,
        )
        .await;
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    assert_eq!(fake.calls("notify").len(), 3);
}

#[tokio::test]
async fn templates_settings_and_dead_letters_go_field_for_field() {
    let fake = FakeNotifications::default();
    let (gw, _upstream) = gateway_with_fake(&fake).await;
    let token = gw.token();
    let (_, body) = gw
        .query(
            Some(&token),
            "{ notificationTemplates { category locale subject text html eventType } \
               notificationSettings { reminderLeadHours criticalCategories } \
               deadLetters { eventId eventType deliveries occurredAt } }",
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"],
        json!({
            "notificationTemplates": [{
                "category": "REMINDERS", "locale": "en",
                "subject": "Reminder: {{ event.title }}", "text": "See you soon.",
                "html": null, "eventType": "scheduling.event.reminder",
            }],
            "notificationSettings": { "reminderLeadHours": 24, "criticalCategories": ["CHANGES"] },
            "deadLetters": [{
                "eventId": "e-1", "eventType": "scheduling.event.cancelled",
                "deliveries": 5, "occurredAt": "2026-11-24T08:00:00+00:00",
            }],
        })
    );
    let (_, body) = gw
        .query(
            Some(&token),
            r#"mutation {
                setNotificationTemplate(input: { category: CHANGES, locale: "en-GB",
                    subject: "{{ event.title }} is cancelled", text: "Sorry.",
                    eventType: "scheduling.event.cancelled" }) { locale html }
                updateNotificationSettings(input: { reminderLeadHours: 48,
                    criticalCategories: [CHANGES, ACCOUNT] }) { reminderLeadHours criticalCategories }
                replayDeadLetter(eventId: "e-1") }"#,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["updateNotificationSettings"]["criticalCategories"],
        json!(["CHANGES", "ACCOUNT"])
    );
    assert_eq!(body["data"]["replayDeadLetter"], true);
    assert_eq!(
        fake.calls("set_template")[0].request,
        debug(pb::Template {
            category: pb::Category::Changes as i32,
            locale: "en-GB".into(),
            subject: "{{ event.title }} is cancelled".into(),
            text: "Sorry.".into(),
            html: String::new(),
            event_type: "scheduling.event.cancelled".into(),
        })
    );
    assert_eq!(
        fake.calls("update_tenant_settings")[0].request,
        debug(pb::TenantSettings {
            reminder_lead_hours: 48,
            critical_categories: vec![pb::Category::Changes as i32, pb::Category::Account as i32],
        })
    );
    assert_eq!(
        fake.calls("replay_dead_letter")[0].request,
        debug(pb::ReplayDeadLetterRequest {
            event_id: "e-1".into(),
        })
    );
    let (_, body) = gw
        .query(
            Some(&token),
            r#"mutation { replayDeadLetter(eventId: "e-2") }"#,
        )
        .await;
    assert_eq!(codes(&body), ["NOT_FOUND"], "{body}");
}

/// Membership on SQLite with one tenant, one admin and one cluster led by
/// the admin, trusting the same issuer as the gateway; and a fake
/// notifications whose data `fake` builds from the admin's and the
/// cluster's ids.
struct WithMembership {
    gw: TestGateway,
    token: String,
    fake: FakeNotifications,
    _notifications: FakeUpstream,
    /// Stops membership when dropped.
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn with_membership(fake: impl FnOnce(&str, &str) -> FakeNotifications) -> WithMembership {
    let dir = std::env::temp_dir().join(testkit::unique("gw-notifications"));
    std::fs::create_dir_all(&dir).unwrap();
    let store = collegium_membership::open_sqlite(&dir.join("membership.db"))
        .await
        .unwrap();
    let tenant = store
        .create_tenant(NewTenant {
            slug: "notifications".into(),
            name: "Notifications District".into(),
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
    let cluster = store
        .create_cluster(
            tenant.id,
            "test",
            NewCluster {
                name: "North Cluster".into(),
                description: String::new(),
                lead_person_id: Some(admin.id),
                centre_ids: vec![],
            },
        )
        .await
        .unwrap();
    let issuer = TestIssuer::new();
    let token = issuer.token(
        tenant.id,
        PersonId(admin.id),
        &[Grant {
            role: Role::TenantAdmin,
            cluster: None,
        }],
    );
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let membership = collegium_membership::start(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        Arc::new(store),
        issuer.verifier.clone(),
        async {
            let _ = stop_rx.await;
        },
    )
    .await
    .unwrap();
    let membership_url = format!("http://{}", membership.addr);
    let fake = fake(&admin.id.to_string(), &cluster.id.to_string());
    let notifications = fake_upstream(tonic::service::Routes::new(
        NotificationsServiceServer::new(fake.clone()),
    ))
    .await;
    let url = notifications.url.clone();
    let gw = spawn_gateway_trusting(issuer, |c| {
        c.membership_url = membership_url;
        c.notifications_url = url;
    })
    .await;
    WithMembership {
        gw,
        token,
        fake,
        _notifications: notifications,
        _stop: stop,
    }
}

#[tokio::test]
async fn deliveries_and_cluster_messages_resolve_people_and_clusters_through_membership() {
    let nobody = Uuid::now_v7().to_string();
    let setup = with_membership(|admin, cluster| FakeNotifications {
        deliveries: vec![
            pb::Delivery {
                id: "d1".into(),
                notification_id: "n1".into(),
                person_id: admin.into(),
                channel: pb::Channel::Email as i32,
                status: pb::DeliveryStatus::Failed as i32,
                attempts: 5,
                last_error: "550 mailbox unavailable".into(),
                next_attempt_at: String::new(),
                updated_at: "2026-11-24T09:00:00Z".into(),
            },
            pb::Delivery {
                id: "d2".into(),
                notification_id: "n1".into(),
                // Not a person of this tenant (or any): resolves to null.
                person_id: nobody.clone(),
                channel: pb::Channel::InApp as i32,
                status: pb::DeliveryStatus::Held as i32,
                next_attempt_at: "2026-11-25T07:30:00Z".into(),
                updated_at: "2026-11-24T09:00:00Z".into(),
                ..Default::default()
            },
        ],
        messages: vec![
            pb::ClusterMessage {
                id: "m1".into(),
                cluster_id: cluster.into(),
                role: "building_coordinator".into(),
                subject: "Scoring week".into(),
                body: "See you on Monday.".into(),
                sent_by: admin.into(),
                sent_at: "2026-11-20T09:00:00Z".into(),
                recipients: 9,
                unsubscribed: 2,
            },
            pb::ClusterMessage {
                id: "m2".into(),
                cluster_id: cluster.into(),
                role: String::new(),
                subject: "Reminder".into(),
                // A service, not a person: no person to resolve.
                sent_by: "service:scheduling".into(),
                sent_at: "2026-11-21T09:00:00Z".into(),
                ..Default::default()
            },
        ],
        sender: admin.into(),
        ..Default::default()
    })
    .await;
    let (gw, token, fake) = (&setup.gw, &setup.token, &setup.fake);
    let (_, body) = gw
        .query(
            Some(token),
            &format!(
                r#"{{ deliveries(first: 10, notificationId: "n1", status: FAILED, personId: "{nobody}") {{
                    edges {{ node {{ id personId person {{ givenName familyName }} channel status
                        attempts lastError nextAttemptAt updatedAt }} }} }} }}"#
            ),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let edges = &body["data"]["deliveries"]["edges"];
    assert_eq!(
        edges[0]["node"],
        json!({
            "id": "d1", "personId": fake.deliveries[0].person_id,
            "person": { "givenName": "Ada", "familyName": "Admin" },
            "channel": "EMAIL", "status": "FAILED", "attempts": 5,
            "lastError": "550 mailbox unavailable", "nextAttemptAt": null,
            "updatedAt": "2026-11-24T09:00:00+00:00",
        })
    );
    assert_eq!(edges[1]["node"]["person"], Value::Null);
    assert_eq!(edges[1]["node"]["status"], "HELD");
    assert_eq!(edges[1]["node"]["lastError"], Value::Null);
    assert_eq!(
        edges[1]["node"]["nextAttemptAt"],
        "2026-11-25T07:30:00+00:00"
    );
    assert_eq!(
        fake.calls("list_deliveries")[0].request,
        debug(pb::ListDeliveriesRequest {
            page: Some(PageRequest {
                page_size: 10,
                page_token: String::new(),
            }),
            notification_id: Some("n1".into()),
            status: Some(pb::DeliveryStatus::Failed as i32),
            person_id: Some(nobody.clone()),
        })
    );

    let cluster = &fake.messages[0].cluster_id;
    let (_, body) = gw
        .query(
            Some(token),
            &format!(
                r#"{{ clusterMessages(clusterId: "{cluster}") {{ edges {{ node {{
                    id cluster {{ name }} role subject sentById sentBy {{ givenName }}
                    sentAt recipients unsubscribed }} }} }} }}"#
            ),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let edges = &body["data"]["clusterMessages"]["edges"];
    assert_eq!(
        edges[0]["node"],
        json!({
            "id": "m1", "cluster": { "name": "North Cluster" },
            "role": "BUILDING_COORDINATOR", "subject": "Scoring week",
            "sentById": fake.messages[0].sent_by, "sentBy": { "givenName": "Ada" },
            "sentAt": "2026-11-20T09:00:00+00:00", "recipients": 9, "unsubscribed": 2,
        })
    );
    assert_eq!(edges[1]["node"]["role"], Value::Null);
    assert_eq!(edges[1]["node"]["sentById"], "service:scheduling");
    assert_eq!(edges[1]["node"]["sentBy"], Value::Null);
    assert_eq!(edges[1]["node"]["cluster"]["name"], "North Cluster");
    assert_eq!(
        fake.calls("list_cluster_messages")[0].request,
        debug(pb::ListClusterMessagesRequest {
            page: Some(PageRequest::default()),
            cluster_id: cluster.clone(),
        })
    );

    // Sending: the role travels as membership names it, with the key.
    let (_, body) = gw
        .query(
            Some(token),
            &format!(
                r#"mutation {{ sendClusterMessage(input: {{ clusterId: "{cluster}",
                    role: BUILDING_COORDINATOR, subject: "Scoring week",
                    body: "Dear coordinators,\n\nsee you on Monday.", idempotencyKey: "k-9" }}) {{
                    role recipients unsubscribed sentBy {{ givenName }} cluster {{ name }} }} }}"#
            ),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["sendClusterMessage"],
        json!({
            "role": "BUILDING_COORDINATOR", "recipients": 12, "unsubscribed": 1,
            "sentBy": { "givenName": "Ada" }, "cluster": { "name": "North Cluster" },
        })
    );
    assert_eq!(
        fake.calls("send_cluster_message")[0].request,
        debug(pb::SendClusterMessageRequest {
            cluster_id: cluster.clone(),
            role: "building_coordinator".into(),
            subject: "Scoring week".into(),
            body: "Dear coordinators,\n\nsee you on Monday.".into(),
            idempotency_key: "k-9".into(),
        })
    );
}

// ---- one-click unsubscribe

/// The RFC 8058 one-click POST, as a mail provider sends it.
async fn one_click(gw: &TestGateway, token: &str) -> reqwest::Response {
    gw.client
        .post(format!("{}/unsubscribe/{token}", gw.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_unsubscribe_page_shows_a_form_and_calls_nothing() {
    let unsubscribe = FakeUnsubscribe::default();
    let (gw, _upstream) = gateway_with_fakes(&FakeNotifications::default(), &unsubscribe).await;
    for token in ["live.t.s3cr3t", "revoked.t.s"] {
        let resp = gw.get(&format!("/unsubscribe/{token}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let headers = resp.headers().clone();
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(headers.get("content-security-policy").is_some());
        let page = resp.text().await.unwrap();
        assert!(page.contains(r#"<form method="post">"#), "{page}");
        assert!(
            page.contains(r#"<input type="hidden" name="List-Unsubscribe" value="One-Click">"#),
            "{page}"
        );
        assert!(page.contains("<button"), "{page}");
        // The page posts back to its own URL; the token is not repeated.
        assert!(!page.contains(token), "{page}");
    }
    // HEAD, as link checkers send it, is as harmless.
    let resp = gw
        .client
        .head(format!("{}/unsubscribe/live.t.s", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(unsubscribe.calls(), []);
    // With notifications down the page is still there: nothing is asked.
    let gw = spawn_gateway().await;
    assert_eq!(
        gw.get("/unsubscribe/live.t.s").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_one_click_post_unsubscribes_without_a_bearer_token() {
    let unsubscribe = FakeUnsubscribe::default();
    let (gw, _upstream) = gateway_with_fakes(&FakeNotifications::default(), &unsubscribe).await;
    let resp = one_click(&gw, "live.t1.s3cr3t").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let page = resp.text().await.unwrap();
    assert!(page.contains("Unsubscribed"), "{page}");
    assert!(page.contains("cluster newsletters"), "{page}");
    // The confirmation page's button, from a browser holding a session
    // token: the bearer token is neither needed nor forwarded.
    let resp = gw
        .client
        .post(format!("{}/unsubscribe/live.t2.s", gw.base))
        .bearer_auth(gw.token())
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // multipart/form-data is the other encoding RFC 8058 allows.
    let resp = gw
        .client
        .post(format!("{}/unsubscribe/live.t3.s", gw.base))
        .header("content-type", "multipart/form-data; boundary=b0undary")
        .body(
            "--b0undary\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n\
             One-Click\r\n--b0undary--\r\n",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        unsubscribe.calls(),
        [
            ("live.t1.s3cr3t".to_string(), None),
            ("live.t2.s".to_string(), None),
            ("live.t3.s".to_string(), None),
        ]
    );
}

#[tokio::test]
async fn a_post_without_the_one_click_body_is_refused_without_a_call() {
    let unsubscribe = FakeUnsubscribe::default();
    let (gw, _upstream) = gateway_with_fakes(&FakeNotifications::default(), &unsubscribe).await;
    for (content_type, body) in [
        ("application/x-www-form-urlencoded", ""),
        ("application/x-www-form-urlencoded", "List-Unsubscribe=Yes"),
        ("text/plain", "List-Unsubscribe=One-Click"),
    ] {
        let resp = gw
            .client
            .post(format!("{}/unsubscribe/live.t.s", gw.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::BAD_REQUEST,
            "{content_type} {body}"
        );
    }
    // A body far larger than any form is not read.
    let resp = gw
        .client
        .post(format!("{}/unsubscribe/live.t.s", gw.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "List-Unsubscribe=One-Click&x={}",
            "a".repeat(10_000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(unsubscribe.calls(), []);
}

#[tokio::test]
async fn a_malformed_unsubscribe_token_is_not_found_without_a_call() {
    let unsubscribe = FakeUnsubscribe::default();
    let (gw, _upstream) = gateway_with_fakes(&FakeNotifications::default(), &unsubscribe).await;
    let long = "a".repeat(600);
    for token in [
        "live..s",
        ".live",
        "live.",
        "live.t.sec%2Fret",
        "live.t.sec%20ret",
        "live.t.s%3D",
        "live.t.s%FF",
        "%C3%A4",
        long.as_str(),
    ] {
        let resp = gw.get(&format!("/unsubscribe/{token}")).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "GET {token}");
        assert_eq!(resp.text().await.unwrap(), "not found\n");
        let resp = one_click(&gw, token).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "POST {token}");
        assert_eq!(resp.text().await.unwrap(), "not found\n");
    }
    assert_eq!(unsubscribe.calls(), []);
    // Down notifications too: still 404, not 503, since nothing is asked.
    let gw = spawn_gateway().await;
    assert_eq!(one_click(&gw, "a..b").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_refused_unsubscribe_token_is_a_bare_not_found() {
    let unsubscribe = FakeUnsubscribe::default();
    let (gw, _upstream) = gateway_with_fakes(&FakeNotifications::default(), &unsubscribe).await;
    for token in ["revoked.t.s", "mistyped.t.s", "foreign.t.s"] {
        let resp = one_click(&gw, token).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{token}");
        // Nothing of the service's reason reaches the caller.
        assert_eq!(resp.text().await.unwrap(), "not found\n");
    }
    let resp = one_click(&gw, "broken.t.s").await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!resp.text().await.unwrap().contains("disk"));
    assert_eq!(unsubscribe.calls().len(), 4);
}

#[tokio::test]
async fn unsubscribing_is_unavailable_when_notifications_is_down() {
    let gw = spawn_gateway().await;
    let resp = one_click(&gw, "live.t.s").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "60");
}

#[tokio::test]
async fn dev_mode_introspection_shows_the_notifications_types() {
    let gw = spawn_gateway_with(|c| c.dev_mode = true).await;
    let (_, body) = gw
        .query(
            None,
            "{ __schema { subscriptionType { name fields { name } } types { name } } }",
        )
        .await;
    let schema = &body["data"]["__schema"];
    assert_eq!(
        schema["subscriptionType"],
        json!({ "name": "Subscription", "fields": [{ "name": "inboxItems" }] }),
        "{body}"
    );
    let names: Vec<&str> = schema["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for expected in [
        "InboxItem",
        "InboxItemConnection",
        "NotificationCategory",
        "DeliveryStatus",
        "ClusterMessage",
        "NotifyInput",
        "NotificationPreferencesInput",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
    }
}
