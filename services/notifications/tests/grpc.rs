//! The notifications gRPC API and its workers, black-box: the real
//! membership, scheduling and notifications servers on port 0 over fresh
//! PostgreSQL databases, scheduling's outbox relayed onto a real Redis bus,
//! e-mail into a directory. The inbox (list, unread, mark, archive, live
//! watch), preferences, cluster messages, direct triggers with idempotency
//! keys, templates, the way from a scheduling invitation (or a scoring
//! discrepancy) on the bus to one inbox item, a flagged scorer told to their
//! lead only, reminders, dead letters, data-subject requests, retention, and
//! tenant isolation of every RPC and of the live stream.

mod runtime_support;

use std::{fmt::Debug, time::Duration};

use collegium_notifications::{
    domain::{Category as DCategory, Channel, Delivery, DeliveryStatus, Notification},
    store::{NotificationsStore, Planned, Reminder},
};
use collegium_proto::{
    common::v1::{ApplyRetentionRequest, PageRequest, RetentionCutoff, RetentionReport},
    notifications::v1::{self as pb},
    scheduling::v1 as spb,
};
use platform::{
    auth::{PersonId, Role, TenantId},
    error::Error,
    events::EventEnvelope,
};
use runtime_support::*;
use serde_json::json;
use tonic::{Code, Response, Status};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use uuid::Uuid;

// ------------------------------------------------------------------ helpers

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

fn page() -> Option<PageRequest> {
    Some(PageRequest {
        page_size: 500,
        page_token: String::new(),
    })
}

fn notify_req(key: &str, people: &[Uuid], title: &str) -> pb::NotifyRequest {
    pb::NotifyRequest {
        idempotency_key: key.to_string(),
        person_ids: people.iter().map(Uuid::to_string).collect(),
        category: pb::Category::Account as i32,
        title: title.to_string(),
        body: "Body text.".into(),
        link: "/account".into(),
        critical: false,
    }
}

async fn inbox(client: &mut Client) -> pb::InboxPage {
    ok(client
        .list_inbox(pb::ListInboxRequest {
            page: page(),
            unread_only: false,
            include_archived: false,
        })
        .await)
}

async fn stack() -> Stack {
    spawn_stack(StackOptions::with_mail_dir(&mail_dir())).await
}

fn wait() -> Duration {
    Duration::from_secs(20)
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn calls_without_a_token_are_unauthenticated_and_health_names_both_services() {
    bounded(async {
        let app = stack().await;
        let mut anonymous = pb::notifications_service_client::NotificationsServiceClient::new(
            tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr))
                .unwrap()
                .connect_lazy(),
        );
        expect_code(
            anonymous.list_inbox(pb::ListInboxRequest::default()).await,
            Code::Unauthenticated,
        );
        let mut health = HealthClient::new(
            tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr))
                .unwrap()
                .connect_lazy(),
        );
        for service in [
            collegium_notifications::GRPC_SERVICE,
            collegium_notifications::UNSUBSCRIBE_GRPC_SERVICE,
        ] {
            let status = ok(health
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await);
            assert_eq!(status.status, ServingStatus::Serving as i32, "{service}");
        }
        // A bad unsubscribe token is simply not found, with no bearer token.
        expect_code(
            app.unsubscribe()
                .unsubscribe(pb::UnsubscribeRequest {
                    token: "nonsense".into(),
                })
                .await,
            Code::NotFound,
        );
    })
    .await
}

#[tokio::test]
async fn the_inbox_lists_counts_marks_archives_and_streams_new_items() {
    bounded(async {
        let app = stack().await;
        let s = seed(&app.membership, "inbox", 3).await;
        let mut admin = app.admin(&s);
        let mut tia = app.teacher(&s, 0);

        // A live watcher of teacher 0, started before anything is sent.
        let mut watch = ok(tia.watch_inbox(pb::WatchInboxRequest {}).await);

        for i in 0..3 {
            let sent = ok(admin
                .notify(notify_req(
                    &format!("k{i}"),
                    &[s.teachers[0]],
                    &format!("Note {i}"),
                ))
                .await);
            assert_eq!(sent.notification_ids.len(), 1);
            assert!(!sent.replayed);
        }
        // Someone else's notification does not reach this watcher.
        ok(admin
            .notify(notify_req("other", &[s.teachers[1]], "Not for Tia"))
            .await);

        let mut streamed = Vec::new();
        while streamed.len() < 3 {
            let item = tokio::time::timeout(Duration::from_secs(10), watch.message())
                .await
                .expect("a streamed item within 10 s")
                .expect("the stream stays healthy")
                .expect("the stream stays open");
            streamed.push(item.title);
        }
        assert_eq!(streamed, ["Note 0", "Note 1", "Note 2"]);
        // Nothing more arrives (in particular not teacher 1's message).
        assert!(
            tokio::time::timeout(Duration::from_millis(1500), watch.message())
                .await
                .is_err()
        );

        let listed = inbox(&mut tia).await;
        assert_eq!(listed.unread_count, 3);
        let titles: Vec<&str> = listed.items.iter().map(|i| i.title.as_str()).collect();
        assert_eq!(titles, ["Note 2", "Note 1", "Note 0"], "newest first");
        assert_eq!(listed.items[0].category, pb::Category::Account as i32);
        assert_eq!(listed.items[0].link, "/account");
        let ids: Vec<String> = listed.items.iter().map(|i| i.id.clone()).collect();

        let marked = ok(tia
            .mark_read(pb::MarkRequest {
                ids: vec![ids[0].clone()],
            })
            .await);
        assert_eq!((marked.changed, marked.unread_count), (1, 2));
        let unread = ok(tia
            .list_inbox(pb::ListInboxRequest {
                page: page(),
                unread_only: true,
                include_archived: false,
            })
            .await);
        assert_eq!(unread.items.len(), 2);

        let archived = ok(tia
            .archive(pb::MarkRequest {
                ids: vec![ids[1].clone()],
            })
            .await);
        assert_eq!((archived.changed, archived.unread_count), (1, 1));
        assert_eq!(inbox(&mut tia).await.items.len(), 2);
        let all = ok(tia
            .list_inbox(pb::ListInboxRequest {
                page: page(),
                unread_only: false,
                include_archived: true,
            })
            .await);
        assert_eq!(all.items.len(), 3);
        assert!(all.items[1].archived_at.is_some());

        let all_read = ok(tia.mark_all_read(pb::MarkAllReadRequest {}).await);
        assert_eq!((all_read.changed, all_read.unread_count), (1, 0));

        expect_fields(
            tia.mark_read(pb::MarkRequest {
                ids: vec!["x".into(), ids[0].clone(), "y".into()],
            })
            .await,
            &["ids[0]", "ids[2]"],
        );
        // Services have no inbox.
        expect_code(
            app.service(&s)
                .list_inbox(pb::ListInboxRequest::default())
                .await,
            Code::PermissionDenied,
        );
        // The in-app deliveries are in the log, sent.
        let log = ok(admin
            .list_deliveries(pb::ListDeliveriesRequest {
                page: page(),
                person_id: Some(s.teachers[0].to_string()),
                ..Default::default()
            })
            .await);
        let in_app = log
            .deliveries
            .iter()
            .filter(|d| d.channel == pb::Channel::InApp as i32)
            .count();
        assert_eq!(in_app, 3);
        assert!(
            log.deliveries
                .iter()
                .filter(|d| d.channel == pb::Channel::InApp as i32)
                .all(|d| d.status == pb::DeliveryStatus::Sent as i32)
        );
    })
    .await
}

#[tokio::test]
async fn preferences_round_trip_and_bad_input_names_every_field() {
    bounded(async {
        let app = stack().await;
        let s = seed(&app.membership, "prefs", 1).await;
        let mut tia = app.teacher(&s, 0);

        let defaults = ok(tia.get_preferences(pb::GetPreferencesRequest {}).await);
        assert_eq!(defaults.digest_time, "08:00");
        assert_eq!(defaults.digest_weekday, 1);
        assert!(defaults.entries.is_empty());

        let wanted = pb::Preferences {
            entries: vec![pb::CategoryPreference {
                category: pb::Category::Newsletters as i32,
                channel: pb::Channel::Email as i32,
                frequency: pb::Frequency::Off as i32,
            }],
            digest_time: "18:30".into(),
            digest_weekday: 5,
            time_zone: "America/Chicago".into(),
            quiet_hours_start: "22:00".into(),
            quiet_hours_end: "07:00".into(),
        };
        let saved = ok(tia.update_preferences(wanted.clone()).await);
        assert_eq!(saved, wanted);
        assert_eq!(
            ok(tia.get_preferences(pb::GetPreferencesRequest {}).await),
            wanted
        );

        let bad = pb::Preferences {
            entries: vec![
                pb::CategoryPreference {
                    category: 0,
                    channel: pb::Channel::Email as i32,
                    frequency: pb::Frequency::Daily as i32,
                },
                pb::CategoryPreference {
                    category: pb::Category::Scoring as i32,
                    channel: pb::Channel::Email as i32,
                    frequency: 0,
                },
            ],
            digest_time: "25:00".into(),
            digest_weekday: 0,
            time_zone: String::new(),
            quiet_hours_start: "22:00".into(),
            quiet_hours_end: String::new(),
        };
        expect_fields(
            tia.update_preferences(bad).await,
            &[
                "entries[0].category",
                "entries[1].frequency",
                "digest_time",
                "quiet_hours_end",
            ],
        );
        let bad = pb::Preferences {
            entries: vec![
                pb::CategoryPreference {
                    category: pb::Category::Scoring as i32,
                    channel: pb::Channel::Email as i32,
                    frequency: pb::Frequency::Daily as i32,
                },
                pb::CategoryPreference {
                    category: pb::Category::Scoring as i32,
                    channel: pb::Channel::Email as i32,
                    frequency: pb::Frequency::Off as i32,
                },
            ],
            digest_weekday: 8,
            time_zone: "Mars/Base".into(),
            quiet_hours_start: "07:00".into(),
            quiet_hours_end: "07:00".into(),
            ..Default::default()
        };
        expect_fields(
            tia.update_preferences(bad).await,
            &[
                "quiet_hours_end",
                "entries[1]",
                "digest_weekday",
                "time_zone",
            ],
        );
        // Nothing half-written.
        assert_eq!(
            ok(tia.get_preferences(pb::GetPreferencesRequest {}).await),
            wanted
        );
    })
    .await
}

#[tokio::test]
async fn a_cluster_lead_writes_to_the_cluster_once_per_key_and_a_teacher_may_not() {
    bounded(async {
        let app = stack().await;
        let s = seed(&app.membership, "news", 3).await;
        let mut lead = app.lead(&s);
        // Teacher 2 unsubscribed from newsletters by e-mail.
        ok(app
            .teacher(&s, 2)
            .update_preferences(pb::Preferences {
                entries: vec![pb::CategoryPreference {
                    category: pb::Category::Newsletters as i32,
                    channel: pb::Channel::Email as i32,
                    frequency: pb::Frequency::Off as i32,
                }],
                ..Default::default()
            })
            .await);

        let request = pb::SendClusterMessageRequest {
            cluster_id: s.cluster.to_string(),
            role: String::new(),
            subject: "Moderation dates".into(),
            body: "Dear colleagues,\n\nthe dates are out.".into(),
            idempotency_key: "news-1".into(),
        };
        let sent = ok(lead.send_cluster_message(request.clone()).await);
        // The cluster's centre: the lead, three teachers, the coordinator; one unsubscribed.
        assert_eq!((sent.recipients, sent.unsubscribed), (4, 1));
        assert_eq!(sent.sent_by, s.lead.to_string());
        let again = ok(lead.send_cluster_message(request.clone()).await);
        assert_eq!(again, sent, "the same key replays the first answer");
        let changed = pb::SendClusterMessageRequest {
            subject: "Another subject".into(),
            ..request.clone()
        };
        expect_code(
            lead.send_cluster_message(changed).await,
            Code::AlreadyExists,
        );

        for (i, who) in s.teachers.iter().enumerate() {
            let items = app.inbox(s.id, *who).await;
            let expected = if i == 2 { 0 } else { 1 };
            assert_eq!(items.len(), expected, "teacher {i}");
            if let Some(n) = items.first() {
                assert_eq!(n.category, DCategory::Newsletters);
                assert_eq!(n.title, "Moderation dates");
                assert!(n.body.contains("the dates are out"));
            }
        }

        // One role within the cluster.
        let coordinators = ok(lead
            .send_cluster_message(pb::SendClusterMessageRequest {
                cluster_id: s.cluster.to_string(),
                role: "building_coordinator".into(),
                subject: "For building coordinators".into(),
                body: "Please book the hall.".into(),
                idempotency_key: String::new(),
            })
            .await);
        assert_eq!(
            (coordinators.recipients, coordinators.role.as_str()),
            (1, "building_coordinator")
        );
        assert_eq!(app.inbox(s.id, s.coordinator).await.len(), 2);

        let history = ok(lead
            .list_cluster_messages(pb::ListClusterMessagesRequest {
                page: page(),
                cluster_id: s.cluster.to_string(),
            })
            .await);
        assert_eq!(history.messages.len(), 2);

        // A teacher is neither the lead nor an admin; the other cluster is not Lena's.
        let mut tia = app.teacher(&s, 0);
        expect_code(
            tia.send_cluster_message(request.clone()).await,
            Code::PermissionDenied,
        );
        expect_code(
            tia.list_cluster_messages(pb::ListClusterMessagesRequest {
                page: page(),
                cluster_id: s.cluster.to_string(),
            })
            .await,
            Code::PermissionDenied,
        );
        expect_code(
            lead.send_cluster_message(pb::SendClusterMessageRequest {
                cluster_id: s.other_cluster.to_string(),
                idempotency_key: String::new(),
                ..request.clone()
            })
            .await,
            Code::PermissionDenied,
        );
        expect_code(
            lead.send_cluster_message(pb::SendClusterMessageRequest {
                cluster_id: Uuid::now_v7().to_string(),
                ..request.clone()
            })
            .await,
            Code::NotFound,
        );
        expect_fields(
            lead.send_cluster_message(pb::SendClusterMessageRequest {
                cluster_id: s.cluster.to_string(),
                role: "wizard".into(),
                subject: String::new(),
                body: String::new(),
                idempotency_key: String::new(),
            })
            .await,
            &["subject", "body", "role"],
        );
        // An admin may write to any cluster.
        ok(app
            .admin(&s)
            .send_cluster_message(pb::SendClusterMessageRequest {
                cluster_id: s.other_cluster.to_string(),
                idempotency_key: String::new(),
                ..request
            })
            .await);
    })
    .await
}

#[tokio::test]
async fn notify_replays_the_same_request_and_refuses_a_different_one_under_a_key() {
    bounded(async {
        let app = stack().await;
        let s = seed(&app.membership, "notify", 2).await;
        let mut admin = app.admin(&s);
        let people = [s.teachers[0], s.teachers[1]];

        let first = ok(admin
            .notify(notify_req("announce-1", &people, "Hello"))
            .await);
        assert_eq!(first.notification_ids.len(), 2);
        assert!(!first.replayed);
        let replay = ok(admin
            .notify(notify_req("announce-1", &people, "Hello"))
            .await);
        assert!(replay.replayed);
        assert_eq!(replay.notification_ids, first.notification_ids);
        let status = expect_code(
            admin
                .notify(notify_req("announce-1", &people, "Hello again"))
                .await,
            Code::AlreadyExists,
        );
        assert!(status.message().contains("idempotency"), "{status:?}");
        for p in people {
            assert_eq!(app.inbox(s.id, p).await.len(), 1, "exactly one each");
        }

        // Services may trigger; teachers may not.
        ok(app
            .service(&s)
            .notify(notify_req("svc-1", &[s.teachers[0]], "From scoring"))
            .await);
        expect_code(
            app.teacher(&s, 0)
                .notify(notify_req("t-1", &[s.teachers[1]], "Nope"))
                .await,
            Code::PermissionDenied,
        );

        // Bad input names the fields.
        let bad = pb::NotifyRequest {
            idempotency_key: String::new(),
            person_ids: vec!["nobody".into()],
            category: 0,
            title: String::new(),
            body: String::new(),
            link: "javascript:alert(1)".into(),
            critical: false,
        };
        expect_fields(
            admin.notify(bad).await,
            &[
                "idempotency_key",
                "person_ids[0]",
                "category",
                "title",
                "link",
            ],
        );
        expect_fields(
            admin
                .notify(notify_req(
                    "k-unknown",
                    &[s.teachers[0], Uuid::now_v7()],
                    "Hi",
                ))
                .await,
            &["person_ids[1]"],
        );
    })
    .await
}

#[tokio::test]
async fn templates_are_checked_when_saved_and_used_for_messages() {
    bounded(async {
        let app = stack().await;
        let s = seed(&app.membership, "tmpl", 1).await;
        let mut admin = app.admin(&s);

        let mut template = pb::Template {
            category: pb::Category::Changes as i32,
            locale: "en-GB".into(),
            subject: "Changed: {{ titel }}".into(),
            text: "{{ title }} now starts {{ starts_local }}.".into(),
            html: "<p>{{ title }}</p>".into(),
            event_type: "scheduling.event.changed".into(),
        };
        let status = expect_code(
            admin.set_template(template.clone()).await,
            Code::InvalidArgument,
        );
        let error = Error::from_status(status);
        assert_eq!(error.violations()[0].field, "subject");
        assert!(
            error.violations()[0].description.contains("titel"),
            "{error:?}"
        );

        template.subject = "Changed: {{ title }}".into();
        let saved = ok(admin.set_template(template.clone()).await);
        assert_eq!(saved, template);

        expect_fields(
            admin
                .set_template(pb::Template {
                    category: 0,
                    ..template.clone()
                })
                .await,
            &["category"],
        );
        expect_code(
            app.teacher(&s, 0).set_template(template.clone()).await,
            Code::PermissionDenied,
        );

        // A tenant template for messages people write is used for them.
        let custom = pb::Template {
            category: pb::Category::Account as i32,
            locale: "en".into(),
            subject: "[{{ title }}]".into(),
            text: "{{ body }}\n\n(sent through Collegium)".into(),
            html: "<p>{{ body }}</p>".into(),
            event_type: "custom".into(),
        };
        ok(admin.set_template(custom).await);
        let listed = ok(admin.list_templates(pb::ListTemplatesRequest {}).await);
        assert_eq!(listed.templates.len(), 2);

        ok(admin
            .notify(notify_req("t-1", &[s.teachers[0]], "Welcome"))
            .await);
        let items = app.inbox(s.id, s.teachers[0]).await;
        assert_eq!(items[0].title, "[Welcome]");
        assert!(
            items[0].body.ends_with("(sent through Collegium)"),
            "{:?}",
            items[0].body
        );
    })
    .await
}

#[tokio::test]
async fn a_scheduling_invitation_on_the_bus_reaches_the_invited_person_exactly_once() {
    bounded(async {
        let app = stack().await;
        let s = seed(&app.membership, "invite", 2).await;
        let event = app.meeting(&s, "Autumn network meeting", 72).await;
        assert_eq!(app.invite(&s, event, &[s.teachers[0]]).await, 1);

        // scheduling → outbox → relay → Redis → consumer → inbox.
        let items = eventually(wait(), "the invitation in the inbox", || async {
            let items = app.inbox(s.id, s.teachers[0]).await;
            (!items.is_empty()).then_some(items)
        })
        .await;
        assert_eq!(items.len(), 1);
        let n = &items[0];
        assert_eq!(n.category, DCategory::Invitations);
        assert_eq!(n.link, format!("/events/{event}"));
        assert!(
            n.title.contains("Autumn network meeting") || n.body.contains("Autumn network meeting"),
            "the event's details are filled in from scheduling: {n:?}"
        );
        assert!(
            app.inbox(s.id, s.teachers[1]).await.is_empty(),
            "not invited"
        );

        // The same event delivered again (as after a lost acknowledgement)
        // tells nobody twice.
        let replayed = EventEnvelope {
            id: Uuid::now_v7(),
            tenant: s.id,
            event_type: "scheduling.rsvp.invited".into(),
            occurred_at: chrono::Utc::now(),
            payload: json!({
                "id": event, "actor": "test", "event_id": event,
                "person_id": s.teachers[1], "status": "invited",
            }),
        };
        app.publish(&[replayed.clone(), replayed.clone()]).await;
        app.publish(&[replayed]).await;
        eventually(wait(), "teacher 1's item", || async {
            (!app.inbox(s.id, s.teachers[1]).await.is_empty()).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(app.inbox(s.id, s.teachers[1]).await.len(), 1);
        assert_eq!(app.inbox(s.id, s.teachers[0]).await.len(), 1);

        // The e-mail copies went out (invitations: immediately by default).
        let deliveries = eventually(wait(), "e-mails sent", || async {
            let d = app.deliveries(s.id).await;
            let emails: Vec<_> = d
                .into_iter()
                .filter(|d| d.channel == collegium_notifications::domain::Channel::Email)
                .collect();
            (emails.len() == 2
                && emails
                    .iter()
                    .all(|d| d.status == collegium_notifications::domain::DeliveryStatus::Sent))
            .then_some(emails)
        })
        .await;
        assert_eq!(deliveries.len(), 2);
    })
    .await
}

fn scoring_event(t: TenantId, event_type: &str, payload: serde_json::Value) -> EventEnvelope {
    EventEnvelope {
        id: Uuid::now_v7(),
        tenant: t,
        event_type: event_type.into(),
        occurred_at: chrono::Utc::now(),
        payload,
    }
}

/// `scoring.discrepancy.detected` as scoring's outbox writes it.
fn discrepancy(t: TenantId, session: Uuid, lead: Uuid, reason: &str) -> EventEnvelope {
    let portfolio = Uuid::now_v7();
    let third = Uuid::now_v7();
    scoring_event(
        t,
        "scoring.discrepancy.detected",
        json!({
            "id": portfolio, "actor": ACTOR,
            "after": { "assignment_id": third, "reason": reason },
            "session_id": session, "portfolio_id": portfolio, "lead_id": lead,
            "assignment_id": third, "reason": reason,
        }),
    )
}

#[tokio::test]
async fn a_scoring_discrepancy_on_the_bus_reaches_the_lead_exactly_once() {
    bounded(async {
        let app = stack().await;
        let s = seed(&app.membership, "adjudicate", 1).await;
        let session = Uuid::now_v7();
        let reason = "first and second reads differ by 3 points (4 and 1)";
        let detected = discrepancy(s.id, session, s.lead, reason);
        app.publish(std::slice::from_ref(&detected)).await;

        let items = eventually(wait(), "the discrepancy in the lead's inbox", || async {
            let items = app.inbox(s.id, s.lead).await;
            (!items.is_empty()).then_some(items)
        })
        .await;
        assert_eq!(items.len(), 1);
        let n = &items[0];
        assert_eq!(n.category, DCategory::Scoring);
        assert_eq!(n.link, format!("/scoring/sessions/{session}/adjudication"));
        assert_eq!(n.source_event_id, Some(detected.id));
        assert!(!n.critical);
        assert_eq!(
            n.title,
            "Third read needed: two reads of a portfolio disagree"
        );
        assert!(n.body.contains(reason), "{:?}", n.body);

        // The same event delivered again (as after a lost acknowledgement)
        // stores nothing; a later discrepancy shows the redeliveries were
        // handled (one consumer handles the stream in order).
        app.publish(&[detected.clone(), detected.clone()]).await;
        app.publish(std::slice::from_ref(&detected)).await;
        let later = discrepancy(s.id, session, s.lead, "codes differ (A and B)");
        app.publish(std::slice::from_ref(&later)).await;
        let items = eventually(wait(), "the later discrepancy", || async {
            let items = app.inbox(s.id, s.lead).await;
            items
                .iter()
                .any(|n| n.source_event_id == Some(later.id))
                .then_some(items)
        })
        .await;
        assert_eq!(items.len(), 2, "{items:?}");
        let from_first = items
            .iter()
            .filter(|n| n.source_event_id == Some(detected.id))
            .count();
        assert_eq!(from_first, 1);
        // Nobody else heard of it.
        for other in [s.teachers[0], s.coordinator, s.admin] {
            assert!(app.inbox(s.id, other).await.is_empty());
        }
    })
    .await
}

#[tokio::test]
async fn a_flagged_scorer_is_named_to_the_lead_and_not_told_themselves() {
    bounded(async {
        let app = stack().await;
        let s = seed(&app.membership, "flagged", 1).await;
        let scorer = s.teachers[0];
        let session = Uuid::now_v7();
        let reasons = ["exact agreement 55% is below the 70% target"];
        let flagged = scoring_event(
            s.id,
            "scoring.scorer.flagged",
            json!({
                "id": scorer, "actor": ACTOR,
                "after": { "session_id": session, "reasons": reasons },
                "session_id": session, "scorer_id": scorer, "lead_id": s.lead,
                "reasons": reasons,
            }),
        );
        // After it, something for the scorer: once that is in, the flag was
        // handled too.
        let ready = scoring_event(
            s.id,
            "scoring.assignment.ready",
            json!({
                "id": session, "actor": ACTOR,
                "after": { "scorer_id": scorer, "reads": { "first": 4, "second": 1 } },
                "session_id": session, "scorer_id": scorer,
                "session_name": "Autumn moderation", "event_id": Uuid::now_v7(),
            }),
        );
        app.publish(&[flagged.clone(), ready.clone()]).await;
        let mine = eventually(wait(), "the scorer's reads", || async {
            let items = app.inbox(s.id, scorer).await;
            (!items.is_empty()).then_some(items)
        })
        .await;
        assert_eq!(
            mine.len(),
            1,
            "the scorer hears of their reads only: {mine:?}"
        );
        assert_eq!(mine[0].source_event_id, Some(ready.id));
        assert_eq!(mine[0].category, DCategory::Scoring);
        assert_eq!(mine[0].link, format!("/scoring/sessions/{session}/reads"));
        assert_eq!(mine[0].title, "5 reads to score: Autumn moderation");

        let lead = app.inbox(s.id, s.lead).await;
        assert_eq!(lead.len(), 1, "{lead:?}");
        let n = &lead[0];
        assert_eq!(n.source_event_id, Some(flagged.id));
        assert_eq!(n.category, DCategory::Scoring);
        assert_eq!(n.link, format!("/scoring/sessions/{session}/statistics"));
        assert_eq!(n.title, "Scorer flagged: Teacher0 flagged");
        assert!(n.body.contains(reasons[0]), "{:?}", n.body);
    })
    .await
}

#[tokio::test]
async fn a_due_reminder_goes_to_those_who_accepted_only() {
    bounded(async {
        let app = stack().await;
        let s = seed(&app.membership, "remind", 2).await;
        let event = app.meeting(&s, "Scoring session prep", 30).await;
        app.invite(&s, event, &s.teachers).await;
        // Teacher 0 accepts; teacher 1 stays invited.
        let mut tia = app.scheduling(&app.issuer.token(
            s.id,
            PersonId(s.teachers[0]),
            &[grant(Role::Teacher, Some(s.cluster))],
        ));
        tia.rsvp(spb::RsvpRequest {
            event_id: event.to_string(),
            response: spb::RsvpStatus::Accepted as i32,
        })
        .await
        .expect("accepted");
        // The consumer keeps a reminder 24 h (the default lead) before the start.
        eventually(wait(), "the invitations", || async {
            let a = app.inbox(s.id, s.teachers[0]).await;
            let b = app.inbox(s.id, s.teachers[1]).await;
            (a.len() == 1 && b.len() == 1).then_some(())
        })
        .await;
        // Make it due now (as if the hours had passed).
        app.store
            .upsert_reminder(
                s.id,
                Reminder {
                    event_id: event,
                    remind_at: chrono::Utc::now() + chrono::Duration::seconds(1),
                    title: "Scoring session prep".into(),
                    starts_at: chrono::Utc::now() + chrono::Duration::hours(30),
                    time_zone: ZONE.into(),
                },
            )
            .await
            .unwrap();
        let reminders = eventually(wait(), "the reminder", || async {
            let items = app.inbox(s.id, s.teachers[0]).await;
            let r: Vec<_> = items
                .into_iter()
                .filter(|n| n.category == DCategory::Reminders)
                .collect();
            (!r.is_empty()).then_some(r)
        })
        .await;
        assert_eq!(reminders.len(), 1);
        assert_eq!(reminders[0].link, format!("/events/{event}"));
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert!(
            app.inbox(s.id, s.teachers[1])
                .await
                .iter()
                .all(|n| n.category != DCategory::Reminders),
            "only those who accepted are reminded"
        );
        // Firing the same reminder again tells nobody twice.
        app.store
            .upsert_reminder(
                s.id,
                Reminder {
                    event_id: event,
                    remind_at: chrono::Utc::now() + chrono::Duration::seconds(2),
                    title: "Scoring session prep".into(),
                    starts_at: chrono::Utc::now() + chrono::Duration::hours(30),
                    time_zone: ZONE.into(),
                },
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(3500)).await;
        let count = app
            .inbox(s.id, s.teachers[0])
            .await
            .iter()
            .filter(|n| n.category == DCategory::Reminders)
            .count();
        assert_eq!(count, 1);
    })
    .await
}

/// Parks an event in the notifications group's dead-letter stream, as the
/// bus does after its last failed delivery.
async fn park(app: &Stack, event: &EventEnvelope) {
    let client = redis::Client::open(testkit::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = redis::cmd("XADD")
        .arg(app.bus.dead_letter_key("notifications"))
        .arg("*")
        .arg("event")
        .arg(serde_json::to_string(event).unwrap())
        .arg("deliveries")
        .arg(10)
        .arg("source_id")
        .arg("0-1")
        .arg("reason")
        .arg("handler failed")
        .query_async(&mut conn)
        .await
        .unwrap();
}

fn invited(t: TenantId, event: Uuid, person: Uuid) -> EventEnvelope {
    EventEnvelope {
        id: Uuid::now_v7(),
        tenant: t,
        event_type: "scheduling.rsvp.invited".into(),
        occurred_at: chrono::Utc::now(),
        payload: json!({
            "id": event, "actor": "test", "event_id": event,
            "person_id": person, "status": "invited",
        }),
    }
}

#[tokio::test]
async fn dead_letters_are_listed_and_replayed_by_their_own_tenant_only() {
    bounded(async {
        let app = stack().await;
        let a = seed(&app.membership, "dla", 1).await;
        let b = seed(&app.membership, "dlb", 1).await;
        let dead = invited(a.id, Uuid::now_v7(), a.teachers[0]);
        park(&app, &dead).await;

        let listed = ok(app
            .admin(&a)
            .list_dead_letters(pb::ListDeadLettersRequest {})
            .await);
        assert_eq!(listed.dead_letters.len(), 1);
        assert_eq!(listed.dead_letters[0].event_id, dead.id.to_string());
        assert_eq!(listed.dead_letters[0].deliveries, 10);

        let theirs = ok(app
            .admin(&b)
            .list_dead_letters(pb::ListDeadLettersRequest {})
            .await);
        assert!(theirs.dead_letters.is_empty());
        expect_code(
            app.admin(&b)
                .replay_dead_letter(pb::ReplayDeadLetterRequest {
                    event_id: dead.id.to_string(),
                })
                .await,
            Code::NotFound,
        );
        expect_code(
            app.teacher(&a, 0)
                .list_dead_letters(pb::ListDeadLettersRequest {})
                .await,
            Code::PermissionDenied,
        );

        ok(app
            .admin(&a)
            .replay_dead_letter(pb::ReplayDeadLetterRequest {
                event_id: dead.id.to_string(),
            })
            .await);
        eventually(wait(), "the replayed event handled", || async {
            (app.inbox(a.id, a.teachers[0]).await.len() == 1).then_some(())
        })
        .await;
        assert!(
            ok(app
                .admin(&a)
                .list_dead_letters(pb::ListDeadLettersRequest {})
                .await)
            .dead_letters
            .is_empty()
        );
    })
    .await
}

#[tokio::test]
async fn every_rpc_and_the_live_stream_keep_to_the_callers_tenant() {
    bounded(async {
        let app = stack().await;
        let a = seed(&app.membership, "isoa", 1).await;
        let b = seed(&app.membership, "isob", 1).await;
        let mut admin_a = app.admin(&a);
        let mut admin_b = app.admin(&b);
        let person = a.teachers[0];
        // B's token naming A's person: the tenant comes from the token only.
        let mut forged = app.as_person(b.id, person, &[grant(Role::TenantAdmin, None)]);
        let mut watch_forged = ok(forged.watch_inbox(pb::WatchInboxRequest {}).await);
        let mut watch_b = ok(app
            .teacher(&b, 0)
            .watch_inbox(pb::WatchInboxRequest {})
            .await);
        let mut watch_a = ok(app
            .teacher(&a, 0)
            .watch_inbox(pb::WatchInboxRequest {})
            .await);

        let sent = ok(admin_a
            .notify(notify_req("iso-1", &[person], "For A"))
            .await);
        let a_item = sent.notification_ids[0].clone();
        let got = tokio::time::timeout(Duration::from_secs(10), watch_a.message())
            .await
            .expect("A's watcher gets A's item")
            .unwrap()
            .unwrap();
        assert_eq!(got.id, a_item);
        for w in [&mut watch_forged, &mut watch_b] {
            assert!(
                tokio::time::timeout(Duration::from_millis(1500), w.message())
                    .await
                    .is_err(),
                "a watcher of tenant B never receives A's item"
            );
        }

        // Inbox RPCs.
        let page_b = inbox(&mut forged).await;
        assert!(page_b.items.is_empty());
        assert_eq!(page_b.unread_count, 0);
        let marked = ok(forged
            .mark_read(pb::MarkRequest {
                ids: vec![a_item.clone()],
            })
            .await);
        assert_eq!(marked.changed, 0);
        let archived = ok(forged
            .archive(pb::MarkRequest {
                ids: vec![a_item.clone()],
            })
            .await);
        assert_eq!(archived.changed, 0);
        assert_eq!(
            ok(forged.mark_all_read(pb::MarkAllReadRequest {}).await).changed,
            0
        );
        let a_inbox = inbox(&mut app.teacher(&a, 0)).await;
        assert_eq!(a_inbox.unread_count, 1, "A's item untouched");

        // Preferences.
        ok(forged
            .update_preferences(pb::Preferences {
                digest_time: "06:00".into(),
                ..Default::default()
            })
            .await);
        let a_prefs = ok(app
            .teacher(&a, 0)
            .get_preferences(pb::GetPreferencesRequest {})
            .await);
        assert_eq!(a_prefs.digest_time, "08:00");

        // Cluster messages.
        let to_a = pb::SendClusterMessageRequest {
            cluster_id: a.cluster.to_string(),
            role: String::new(),
            subject: "Hi".into(),
            body: "Hello".into(),
            idempotency_key: String::new(),
        };
        ok(admin_a.send_cluster_message(to_a.clone()).await);
        expect_code(admin_b.send_cluster_message(to_a).await, Code::NotFound);
        expect_code(
            admin_b
                .list_cluster_messages(pb::ListClusterMessagesRequest {
                    page: page(),
                    cluster_id: a.cluster.to_string(),
                })
                .await,
            Code::NotFound,
        );

        // Direct triggers: A's people do not exist in B; keys are per tenant.
        expect_fields(
            admin_b
                .notify(notify_req("iso-1", &[person], "For A"))
                .await,
            &["person_ids[0]"],
        );
        let b_sent = ok(admin_b
            .notify(notify_req("iso-1", &[b.teachers[0]], "For B"))
            .await);
        assert!(
            !b_sent.replayed,
            "the same key in another tenant is another key"
        );

        // Delivery log.
        let log = ok(admin_b
            .list_deliveries(pb::ListDeliveriesRequest {
                page: page(),
                notification_id: Some(a_item.clone()),
                ..Default::default()
            })
            .await);
        assert!(log.deliveries.is_empty());
        let log = ok(admin_b
            .list_deliveries(pb::ListDeliveriesRequest {
                page: page(),
                person_id: Some(person.to_string()),
                ..Default::default()
            })
            .await);
        assert!(log.deliveries.is_empty());

        // Tenant settings and templates.
        ok(admin_b
            .update_tenant_settings(pb::TenantSettings {
                reminder_lead_hours: 2,
                critical_categories: vec![pb::Category::Changes as i32],
            })
            .await);
        let settings_a = ok(admin_a
            .get_tenant_settings(pb::GetTenantSettingsRequest {})
            .await);
        assert_eq!(settings_a.reminder_lead_hours, 24);
        assert!(settings_a.critical_categories.is_empty());
        expect_fields(
            admin_b
                .update_tenant_settings(pb::TenantSettings {
                    reminder_lead_hours: 10_000,
                    critical_categories: vec![0],
                })
                .await,
            &["reminder_lead_hours", "critical_categories[0]"],
        );
        ok(admin_b
            .set_template(pb::Template {
                category: pb::Category::Account as i32,
                locale: "en".into(),
                subject: "B: {{ title }}".into(),
                text: "{{ body }}".into(),
                html: "{{ body }}".into(),
                event_type: "custom".into(),
            })
            .await);
        assert!(
            ok(admin_a.list_templates(pb::ListTemplatesRequest {}).await)
                .templates
                .is_empty()
        );
        ok(admin_a
            .notify(notify_req("iso-2", &[person], "Plain"))
            .await);
        let titles: Vec<String> = app
            .inbox(a.id, person)
            .await
            .into_iter()
            .map(|n| n.title)
            .collect();
        assert!(
            titles.contains(&"Plain".to_string()),
            "B's template is not A's: {titles:?}"
        );

        // Tenant settings and templates are admin business.
        expect_code(
            app.teacher(&a, 0)
                .get_tenant_settings(pb::GetTenantSettingsRequest {})
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            app.teacher(&a, 0)
                .list_deliveries(pb::ListDeliveriesRequest::default())
                .await,
            Code::PermissionDenied,
        );
        expect_code(
            app.teacher(&a, 0)
                .list_templates(pb::ListTemplatesRequest {})
                .await,
            Code::PermissionDenied,
        );

        // An unsubscribe token of A presented as B's is unknown.
        let secret_key = collegium_notifications::UnsubscribeKey::random();
        let secret = secret_key.secret(a.id, person, DCategory::Newsletters);
        let token_id = app
            .store
            .unsubscribe_token(
                a.id,
                person,
                DCategory::Newsletters,
                &collegium_notifications::email::secret_hash(&secret),
            )
            .await
            .unwrap();
        let as_b = collegium_notifications::email::unsubscribe_token(b.id, token_id, &secret);
        expect_code(
            app.unsubscribe()
                .unsubscribe(pb::UnsubscribeRequest { token: as_b })
                .await,
            Code::NotFound,
        );
        let wrong = collegium_notifications::email::unsubscribe_token(a.id, token_id, "wrong");
        expect_code(
            app.unsubscribe()
                .unsubscribe(pb::UnsubscribeRequest { token: wrong })
                .await,
            Code::NotFound,
        );
        let right = collegium_notifications::email::unsubscribe_token(a.id, token_id, &secret);
        let done = ok(app
            .unsubscribe()
            .unsubscribe(pb::UnsubscribeRequest { token: right })
            .await);
        assert_eq!(done.category, pb::Category::Newsletters as i32);
    })
    .await
}

#[tokio::test]
async fn only_an_admin_exports_and_erases_a_person_and_only_in_their_tenant() {
    bounded(async {
        let app = stack().await;
        let a = seed(&app.membership, "dsr-a", 2).await;
        let b = seed(&app.membership, "dsr-b", 1).await;
        let target = a.teachers[0];
        ok(app
            .admin(&a)
            .notify(notify_req(
                "dsr-1",
                &[target, a.teachers[1]],
                "Private hello",
            ))
            .await);
        let person = collegium_proto::common::v1::PersonDataRequest {
            person_id: target.to_string(),
        };
        let doc = |d: &collegium_proto::common::v1::PersonData| -> serde_json::Value {
            assert_eq!(d.service, "notifications");
            serde_json::from_str(&d.json).expect("the export is JSON")
        };
        let zeros =
            |r: &collegium_proto::common::v1::ErasureReport| r.counts.iter().all(|c| c.count == 0);

        // Teachers (even about themselves) and leads are refused.
        expect_code(
            app.teacher(&a, 0).export_person_data(person.clone()).await,
            Code::PermissionDenied,
        );
        expect_code(
            app.teacher(&a, 0).erase_person_data(person.clone()).await,
            Code::PermissionDenied,
        );
        expect_code(
            app.lead(&a).erase_person_data(person.clone()).await,
            Code::PermissionDenied,
        );
        expect_fields(
            app.admin(&a)
                .erase_person_data(collegium_proto::common::v1::PersonDataRequest {
                    person_id: "nobody".into(),
                })
                .await,
            &["person_id"],
        );

        // B's admin with A's person: nothing, and nothing erased.
        let from_b = doc(&ok(app.admin(&b).export_person_data(person.clone()).await));
        assert_eq!(from_b["inbox"], serde_json::json!([]));
        assert_eq!(from_b["deliveries"], serde_json::json!([]));
        let report = ok(app.admin(&b).erase_person_data(person.clone()).await);
        assert!(zeros(&report), "{report:?}");
        assert_eq!(app.inbox(a.id, target).await.len(), 1);

        // A's admin: the item, then its erasure (once).
        let before = doc(&ok(app.admin(&a).export_person_data(person.clone()).await));
        assert_eq!(before["inbox"].as_array().unwrap().len(), 1);
        assert!(before.to_string().contains("Private hello"));
        let report = ok(app.admin(&a).erase_person_data(person.clone()).await);
        assert_eq!(report.service, "notifications");
        let inbox_items = report
            .counts
            .iter()
            .find(|c| c.kind == "inbox_items")
            .unwrap();
        assert_eq!(inbox_items.count, 1, "{report:?}");
        let after = doc(&ok(app.admin(&a).export_person_data(person.clone()).await));
        assert!(!after.to_string().contains("Private hello"));
        let again = ok(app.admin(&a).erase_person_data(person.clone()).await);
        assert!(zeros(&again), "{again:?}");
        // The other teacher keeps theirs.
        assert_eq!(app.inbox(a.id, a.teachers[1]).await.len(), 1);
    })
    .await
}

// ------------------------------------------------------------------ retention

fn retention(
    cutoffs: &[(&str, chrono::DateTime<chrono::Utc>)],
    dry_run: bool,
) -> ApplyRetentionRequest {
    ApplyRetentionRequest {
        cutoffs: cutoffs
            .iter()
            .map(|(category, before)| RetentionCutoff {
                category: category.to_string(),
                before: platform::fields::ts(*before),
            })
            .collect(),
        dry_run,
    }
}

fn days_ago(n: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::days(n)
}

/// `(kind, count)` of a report's `notifications` category, in report order.
fn notification_counts(report: &RetentionReport) -> Vec<(String, u64)> {
    report
        .counts
        .iter()
        .filter(|c| c.category == "notifications")
        .map(|c| (c.kind.clone(), c.count))
        .collect()
}

fn counts(entries: &[(&str, u64)]) -> Vec<(String, u64)> {
    entries.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

/// Stores an inbox item of `person` created `age` days ago, its in-app
/// delivery sent.
async fn old_item(app: &Stack, t: TenantId, person: Uuid, title: &str, age: i64) {
    let created_at = days_ago(age);
    let stored = app
        .store
        .enqueue(
            t,
            None,
            vec![Planned {
                notification: Notification {
                    id: Uuid::nil(),
                    person_id: person,
                    category: DCategory::Account,
                    title: title.to_string(),
                    body: "Long ago.".into(),
                    link: "/account".into(),
                    critical: false,
                    source_event_id: None,
                    created_at,
                    read_at: Some(created_at),
                    archived_at: None,
                    email: None,
                },
                deliveries: vec![Delivery {
                    id: Uuid::nil(),
                    notification_id: Uuid::nil(),
                    person_id: person,
                    channel: Channel::InApp,
                    address: None,
                    status: DeliveryStatus::Sent,
                    attempts: 1,
                    last_error: None,
                    next_attempt_at: created_at,
                    digest: false,
                    updated_at: created_at,
                }],
            }],
        )
        .await
        .expect("enqueued");
    assert_eq!(stored.len(), 1);
}

/// A tenant's inbox titles of `person` and delivery ids, sorted.
async fn holdings(app: &Stack, t: TenantId, person: Uuid) -> (Vec<String>, Vec<Uuid>) {
    let mut titles: Vec<String> = app
        .inbox(t, person)
        .await
        .into_iter()
        .map(|n| n.title)
        .collect();
    titles.sort();
    let mut log: Vec<Uuid> = app.deliveries(t).await.into_iter().map(|d| d.id).collect();
    log.sort();
    (titles, log)
}

#[tokio::test]
async fn only_an_admin_or_a_service_applies_retention_and_bad_cutoffs_name_their_field() {
    bounded(async {
        let app = stack().await;
        let s = seed(&app.membership, "ret-auth", 1).await;
        let valid = retention(&[("notifications", days_ago(400))], true);

        // Teachers and cluster leads may not.
        expect_code(
            app.teacher(&s, 0).apply_retention(valid.clone()).await,
            Code::PermissionDenied,
        );
        expect_code(
            app.lead(&s).apply_retention(valid.clone()).await,
            Code::PermissionDenied,
        );

        // Bad cutoffs name their field, checked before anything is read.
        let mut admin = app.admin(&s);
        expect_fields(
            admin
                .apply_retention(retention(&[("notifications", days_ago(10))], false))
                .await,
            &["cutoffs[0].before"],
        );
        expect_fields(
            admin
                .apply_retention(retention(&[("everything", days_ago(400))], false))
                .await,
            &["cutoffs[0].category"],
        );
        expect_fields(
            admin
                .apply_retention(retention(
                    &[
                        ("notifications", days_ago(400)),
                        ("audit_log", days_ago(100)),
                    ],
                    false,
                ))
                .await,
            &["cutoffs[1].before"],
        );

        // The retention job's service token passes; the report says what
        // each kind would lose, sorted, every kind listed.
        let report = ok(app.service(&s).apply_retention(valid).await);
        assert_eq!(report.service, "notifications");
        assert!(report.dry_run);
        let kinds: Vec<(&str, &str, &str, u64)> = report
            .counts
            .iter()
            .map(|c| {
                (
                    c.category.as_str(),
                    c.kind.as_str(),
                    c.action.as_str(),
                    c.count,
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("notifications", "cluster_messages", "deleted", 0),
                ("notifications", "deliveries", "deleted", 0),
                ("notifications", "idempotency_keys", "deleted", 0),
                ("notifications", "inbox_items", "deleted", 0),
            ]
        );
    })
    .await
}

#[tokio::test]
async fn retention_by_one_tenants_admin_leaves_another_tenant_intact_and_a_dry_run_changes_nothing()
{
    bounded(async {
        let app = stack().await;
        let a = seed(&app.membership, "ret-a", 1).await;
        let b = seed(&app.membership, "ret-b", 1).await;
        for s in [&a, &b] {
            old_item(&app, s.id, s.teachers[0], "Last year's note", 400).await;
            ok(app
                .admin(s)
                .notify(notify_req("ret-recent", &[s.teachers[0]], "Recent note"))
                .await);
        }
        let (a_titles, a_log) = holdings(&app, a.id, a.teachers[0]).await;
        assert_eq!(a_titles, ["Last year's note", "Recent note"]);
        let b_before = holdings(&app, b.id, b.teachers[0]).await;
        let request = |dry_run| retention(&[("notifications", days_ago(90))], dry_run);
        let expected = counts(&[
            ("cluster_messages", 0),
            ("deliveries", 1),
            ("idempotency_keys", 0),
            ("inbox_items", 1),
        ]);

        // A dry run reports and changes nothing.
        let dry = ok(app.admin(&a).apply_retention(request(true)).await);
        assert!(dry.dry_run);
        assert_eq!(notification_counts(&dry), expected, "{dry:?}");
        assert_eq!(
            holdings(&app, a.id, a.teachers[0]).await,
            (a_titles, a_log.clone())
        );

        // A's admin applies it: A's old item and its log go, the recent stays.
        let applied = ok(app.admin(&a).apply_retention(request(false)).await);
        assert!(!applied.dry_run);
        assert_eq!(notification_counts(&applied), expected, "{applied:?}");
        let (titles, log) = holdings(&app, a.id, a.teachers[0]).await;
        assert_eq!(titles, ["Recent note"]);
        assert_eq!(log.len(), a_log.len() - 1);
        assert!(log.iter().all(|d| a_log.contains(d)));
        let tia = inbox(&mut app.teacher(&a, 0)).await;
        assert_eq!(tia.items.len(), 1);

        // B's rows, just as old, are all still there.
        assert_eq!(holdings(&app, b.id, b.teachers[0]).await, b_before);
        // Until B's own admin applies B's retention.
        let b_applied = ok(app.admin(&b).apply_retention(request(false)).await);
        assert_eq!(notification_counts(&b_applied), expected);
        assert_eq!(holdings(&app, b.id, b.teachers[0]).await.0, ["Recent note"]);
        // A second run in A finds nothing more.
        let again = ok(app.admin(&a).apply_retention(request(false)).await);
        assert!(again.counts.iter().all(|c| c.count == 0), "{again:?}");
    })
    .await
}
