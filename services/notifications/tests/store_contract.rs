//! The contract of [`NotificationsStore`]: one suite, run against PostgreSQL
//! (as the non-owner app role, under row-level security) and SQLite (the
//! embedded mode). Every check is written once, against `&dyn Inspect` (the
//! store plus a look at its rows); the `contract!` macro turns each into a
//! `postgres::<name>` and a `sqlite::<name>` test, each on a fresh database.
//! The claims' behaviour under real concurrency (several workers claiming at
//! once) is PostgreSQL's alone and checked in `postgres_claims`.

mod support;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, NaiveTime, SubsecRound, Utc};
use collegium_notifications::{
    domain::*,
    store::{DeliveryFilter, NotificationsStore, Outcome, Planned, Reminder},
};
use platform::{
    auth::TenantId,
    error::Result,
    events::{
        EventBus, EventEnvelope, EventHandler, SubscribeOptions, Subscription, memory::MemoryBus,
    },
    retention::{self, Count, Cutoffs},
};
use serde_json::json;
use support::*;
use uuid::Uuid;

macro_rules! contract {
    ($($name:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_db, store) = super::postgres_store().await;
                    super::bounded(super::$name(&store)).await;
                }
            )+
        }

        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_file, store) = super::sqlite_store().await;
                    super::bounded(super::$name(&store)).await;
                }
            )+
        }
    };
}

contract!(
    enqueue_stores_notifications_with_their_deliveries_and_the_inbox_lists_newest_first,
    a_redelivered_event_stores_nothing_and_a_person_hears_of_an_event_once,
    marks_change_only_the_persons_own_notifications,
    preferences_are_kept_per_person_and_normalised,
    unsubscribe_tokens_are_stable_and_one_click_turns_email_off,
    templates_are_kept_per_event_type_and_locale,
    cluster_messages_are_recorded_and_listed_newest_first,
    idempotency_keys_replay_the_same_request_and_refuse_another,
    tenant_settings_have_defaults_and_change,
    claims_lease_due_deliveries_in_due_order_and_outcomes_move_their_status,
    a_lease_that_runs_out_returns_an_unfinished_claim,
    instants_are_kept_in_whole_seconds_and_claims_compare_them_as_instants,
    reminders_are_handed_out_once_and_follow_their_event,
    every_mutation_writes_its_audit_record_and_outbox_event,
    tenants_never_see_or_touch_each_others_rows,
    a_persons_data_exports_whole_and_erases_once_keeping_the_delivery_log,
    retention_deletes_one_tenants_expired_inbox_log_messages_and_keys_and_nothing_newer,
    retention_expires_audit_records_and_published_events_and_keeps_its_own_record,
);

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

fn ids(notifications: &[Notification]) -> Vec<Uuid> {
    notifications.iter().map(|n| n.id).collect()
}

async fn inbox(s: &dyn Inspect, t: TenantId, person: Uuid, archived: bool) -> Vec<Notification> {
    all_pages(2, |page| s.list_inbox(t, person, false, archived, page)).await
}

async fn deliveries(s: &dyn Inspect, t: TenantId, filter: DeliveryFilter) -> Vec<Delivery> {
    all_pages(3, |page| s.list_deliveries(t, &filter, page)).await
}

async fn delivery_of(s: &dyn Inspect, t: TenantId, id: Uuid) -> Delivery {
    deliveries(s, t, DeliveryFilter::default())
        .await
        .into_iter()
        .find(|d| d.id == id)
        .expect("the delivery is listed")
}

fn by_notification(id: Uuid) -> DeliveryFilter {
    DeliveryFilter {
        notification_id: Some(id),
        ..DeliveryFilter::default()
    }
}

/// One notification for `person` with exactly `deliveries`.
fn with_deliveries(person: Uuid, title: &str, deliveries: Vec<Delivery>) -> Planned {
    Planned {
        notification: notification(person, title),
        deliveries,
    }
}

fn claimed_ids(claimed: &[(TenantId, Delivery, Notification)]) -> Vec<(TenantId, Uuid)> {
    claimed.iter().map(|(t, d, _)| (*t, d.id)).collect()
}

// ------------------------------------------------------------------ enqueue and inbox

async fn enqueue_stores_notifications_with_their_deliveries_and_the_inbox_lists_newest_first(
    s: &dyn Inspect,
) {
    let t = TenantId::new_v7();
    let (ann, ben) = (person(), person());
    let due = at(1, 10, 9, 0);
    let mut plan: Vec<Planned> = (0..5)
        .map(|i| planned(ann, &format!("Message {i}"), due))
        .collect();
    plan.push(Planned {
        notification: Notification {
            category: Category::Changes,
            critical: true,
            // The e-mail as its template rendered it, kept as given.
            email: Some(EmailParts {
                subject: "Cancelled: tomorrow's meeting".into(),
                text: "It is cancelled.\n\nSee https://c.example/events/1".into(),
                html: "<p>It is <strong>cancelled</strong> &amp; off.</p>".into(),
            }),
            ..notification(ben, "Tomorrow's meeting is cancelled")
        },
        deliveries: vec![delivery(Channel::Email, DeliveryStatus::Held, due)],
    });
    let stored = s.enqueue(t, None, plan.clone()).await.unwrap();
    assert_eq!(stored.len(), 6);
    for (n, p) in stored.iter().zip(&plan) {
        assert!(!n.id.is_nil());
        assert_eq!(n.created_at.timestamp_subsec_nanos(), 0);
        assert_eq!(
            Notification {
                id: n.id,
                created_at: n.created_at,
                ..p.notification.clone()
            },
            *n,
            "stored as given"
        );
    }
    let ann_ids = ids(&stored[..5]);
    assert!(
        ann_ids.windows(2).all(|w| w[0] < w[1]),
        "ids in the order given"
    );

    // A person's inbox, newest first, page by page; only their own.
    let mut newest_first = stored[..5].to_vec();
    newest_first.reverse();
    assert_eq!(inbox(s, t, ann, false).await, newest_first);
    assert_eq!(inbox(s, t, ben, false).await, vec![stored[5].clone()]);
    assert_eq!(inbox(s, t, person(), true).await, vec![]);
    assert_eq!(s.unread_count(t, ann).await.unwrap(), 5);
    assert_eq!(s.unread_count(t, ben).await.unwrap(), 1);
    assert_eq!(s.unread_count(t, person()).await.unwrap(), 0);

    // The delivery log: every planned delivery, in queueing order, linked to
    // its notification and person.
    let all = deliveries(s, t, DeliveryFilter::default()).await;
    assert_eq!(all.len(), 11);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    for d in &all {
        let n = stored
            .iter()
            .find(|n| n.id == d.notification_id)
            .expect("a stored notification");
        assert_eq!(d.person_id, n.person_id);
        assert_eq!((d.attempts, d.next_attempt_at), (0, due));
        assert_eq!(d.updated_at.timestamp_subsec_nanos(), 0);
    }
    let first = deliveries(s, t, by_notification(stored[0].id)).await;
    assert_eq!(
        first
            .iter()
            .map(|d| (d.channel, d.status, d.address.clone()))
            .collect::<Vec<_>>(),
        vec![
            (Channel::InApp, DeliveryStatus::Queued, None),
            (
                Channel::Email,
                DeliveryStatus::Queued,
                Some("teacher@example.org".to_string())
            ),
        ]
    );
    let held = deliveries(
        s,
        t,
        DeliveryFilter {
            status: Some(DeliveryStatus::Held),
            ..DeliveryFilter::default()
        },
    )
    .await;
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].person_id, held[0].digest), (ben, true));
    let bens = deliveries(
        s,
        t,
        DeliveryFilter {
            person_id: Some(ben),
            ..DeliveryFilter::default()
        },
    )
    .await;
    assert_eq!(bens, held);
    assert_eq!(
        deliveries(
            s,
            t,
            DeliveryFilter {
                person_id: Some(ann),
                status: Some(DeliveryStatus::Held),
                notification_id: None,
            },
        )
        .await,
        vec![]
    );

    // Nothing to store is fine.
    assert_eq!(s.enqueue(t, None, vec![]).await.unwrap(), vec![]);

    // Refusals, with nothing written.
    let before = s.counts(t).await;
    let twice = Notification {
        id: Uuid::now_v7(),
        ..notification(ann, "Twice")
    };
    expect_invalid(
        s.enqueue(
            t,
            None,
            vec![
                with_deliveries(ann, "", vec![]),
                Planned {
                    notification: twice.clone(),
                    deliveries: vec![],
                },
                Planned {
                    notification: twice,
                    deliveries: vec![],
                },
            ],
        )
        .await,
        &["notifications"],
    );
    let reused = Delivery {
        id: Uuid::now_v7(),
        ..delivery(Channel::Email, DeliveryStatus::Queued, due)
    };
    expect_invalid(
        s.enqueue(
            t,
            None,
            vec![
                with_deliveries(ann, "One", vec![reused.clone()]),
                with_deliveries(ben, "Two", vec![reused]),
            ],
        )
        .await,
        &["deliveries"],
    );
    expect_conflict(
        s.enqueue(
            t,
            None,
            vec![
                planned(ben, "New", due),
                Planned {
                    notification: Notification {
                        id: stored[0].id,
                        ..notification(ben, "A stored id")
                    },
                    deliveries: vec![],
                },
            ],
        )
        .await,
        "id",
    );
    expect_conflict(
        s.enqueue(
            t,
            None,
            vec![with_deliveries(
                ben,
                "A stored delivery id",
                vec![Delivery {
                    id: all[0].id,
                    ..delivery(Channel::Email, DeliveryStatus::Queued, due)
                }],
            )],
        )
        .await,
        "id",
    );
    assert_eq!(s.counts(t).await, before, "nothing half-written");
}

async fn a_redelivered_event_stores_nothing_and_a_person_hears_of_an_event_once(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let (ann, ben, cat) = (person(), person(), person());
    let due = at(1, 10, 9, 0);
    let event = domain_event(t, "scheduling.event.changed");

    // Ann appears twice in the plan of one event: she is told once (the first).
    let first = s
        .enqueue(
            t,
            Some((CONSUMER, &event)),
            vec![
                planned(ann, "Changed", due),
                planned(ben, "Changed", due),
                planned(ann, "Changed (again)", due),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        first
            .iter()
            .map(|n| (n.person_id, n.title.as_str()))
            .collect::<Vec<_>>(),
        vec![(ann, "Changed"), (ben, "Changed")]
    );
    assert!(
        first.iter().all(|n| n.source_event_id == Some(event.id)),
        "the source event is recorded on each"
    );
    let counts = s.counts(t).await;
    assert_eq!(
        (
            counts["notifications"],
            counts["deliveries"],
            counts["processed_events"],
            counts["audit_log"],
            counts["outbox"]
        ),
        (2, 4, 1, 0, 0),
        "the second plan for Ann is dropped with its deliveries; no audit, no events"
    );

    // The same event delivered again (at-least-once bus): nothing at all.
    let again = s
        .enqueue(
            t,
            Some((CONSUMER, &event)),
            vec![planned(ann, "Changed", due), planned(cat, "Changed", due)],
        )
        .await
        .unwrap();
    assert_eq!(again, vec![]);
    assert_eq!(s.counts(t).await, counts);

    // Another consumer of the same event handles it on its own, but a
    // person still hears of one event once.
    let digest = s
        .enqueue(
            t,
            Some(("digest", &event)),
            vec![planned(ann, "Changed", due), planned(cat, "Changed", due)],
        )
        .await
        .unwrap();
    assert_eq!(
        digest.iter().map(|n| n.person_id).collect::<Vec<_>>(),
        vec![cat]
    );
    // Without a source, a notification naming the event is deduplicated too.
    let direct = s
        .enqueue(
            t,
            None,
            vec![Planned {
                notification: Notification {
                    source_event_id: Some(event.id),
                    ..notification(ben, "Changed")
                },
                deliveries: vec![delivery(Channel::Email, DeliveryStatus::Queued, due)],
            }],
        )
        .await
        .unwrap();
    assert_eq!(direct, vec![]);
    // Another event reaches Ann again; sourceless messages are never merged.
    let next = domain_event(t, "scheduling.event.cancelled");
    assert_eq!(
        s.enqueue(
            t,
            Some((CONSUMER, &next)),
            vec![planned(ann, "Cancelled", due)]
        )
        .await
        .unwrap()
        .len(),
        1
    );
    assert_eq!(enqueue_for(s, t, &[ann, ann], "Direct", due).await.len(), 2);
    let counts = s.counts(t).await;
    assert_eq!(
        (
            counts["notifications"],
            counts["deliveries"],
            counts["processed_events"]
        ),
        (6, 12, 3)
    );
    assert_eq!(s.unread_count(t, ann).await.unwrap(), 4);

    // An event of another tenant is refused, and nothing is written.
    let foreign = domain_event(TenantId::new_v7(), "scheduling.event.changed");
    expect_invalid(
        s.enqueue(t, Some((CONSUMER, &foreign)), vec![planned(ann, "x", due)])
            .await,
        &["source"],
    );
    assert_eq!(s.counts(t).await, counts);
}

async fn marks_change_only_the_persons_own_notifications(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let (ann, ben) = (person(), person());
    let due = at(1, 10, 9, 0);
    let mine = enqueue_for(s, t, &[ann, ann, ann, ann], "Mine", due).await;
    let theirs = enqueue_for(s, t, &[ben], "Theirs", due).await;

    // Two of mine change; Ben's id, an unknown id and a repeat change nothing.
    let changed = s
        .mark(
            t,
            ann,
            &[
                mine[0].id,
                mine[1].id,
                mine[1].id,
                theirs[0].id,
                Uuid::now_v7(),
            ],
            false,
        )
        .await
        .unwrap();
    assert_eq!(changed, 2);
    assert_eq!(s.unread_count(t, ann).await.unwrap(), 2);
    assert_eq!(s.unread_count(t, ben).await.unwrap(), 1);
    assert_eq!(inbox(s, t, ben, true).await, theirs);
    assert_eq!(s.mark(t, ann, &[mine[0].id], false).await.unwrap(), 0);
    assert_eq!(s.mark(t, ann, &[], false).await.unwrap(), 0);
    let unread = s
        .list_inbox(t, ann, true, false, first_page())
        .await
        .unwrap()
        .0;
    assert_eq!(ids(&unread), vec![mine[3].id, mine[2].id]);
    let read_at = inbox(s, t, ann, false)
        .await
        .into_iter()
        .find(|n| n.id == mine[0].id)
        .unwrap()
        .read_at
        .expect("read");
    assert_eq!(read_at.timestamp_subsec_nanos(), 0);

    // Archiving hides, and marks read what was unread; a read message keeps
    // the time it was read.
    assert_eq!(
        s.mark(t, ann, &[mine[0].id, mine[2].id, theirs[0].id], true)
            .await
            .unwrap(),
        2
    );
    assert_eq!(s.mark(t, ann, &[mine[2].id], true).await.unwrap(), 0);
    assert_eq!(
        ids(&inbox(s, t, ann, false).await),
        vec![mine[3].id, mine[1].id]
    );
    let everything = inbox(s, t, ann, true).await;
    assert_eq!(
        ids(&everything),
        vec![mine[3].id, mine[2].id, mine[1].id, mine[0].id]
    );
    let archived: Vec<&Notification> = everything
        .iter()
        .filter(|n| n.archived_at.is_some())
        .collect();
    assert_eq!(archived.len(), 2);
    assert_eq!(archived[1].read_at, Some(read_at));
    assert!(archived[0].read_at.is_some());
    assert_eq!(s.unread_count(t, ann).await.unwrap(), 1);
    assert_eq!(
        s.list_inbox(t, ann, true, true, first_page())
            .await
            .unwrap()
            .0,
        vec![everything[0].clone()]
    );

    // Ben cannot touch Ann's messages.
    assert_eq!(s.mark(t, ben, &[mine[3].id], true).await.unwrap(), 0);
    assert_eq!(s.mark(t, ben, &[mine[3].id], false).await.unwrap(), 0);
    assert_eq!(s.unread_count(t, ann).await.unwrap(), 1);

    // All read: only the person's own, once.
    assert_eq!(s.mark_all_read(t, ann).await.unwrap(), 1);
    assert_eq!(s.mark_all_read(t, ann).await.unwrap(), 0);
    assert_eq!(s.unread_count(t, ann).await.unwrap(), 0);
    assert_eq!(s.unread_count(t, ben).await.unwrap(), 1);
    assert_eq!(inbox(s, t, ben, true).await, theirs);
    let counts = s.counts(t).await;
    assert_eq!((counts["audit_log"], counts["outbox"]), (0, 0));
}

// ------------------------------------------------------------------ preferences

async fn preferences_are_kept_per_person_and_normalised(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let (ann, ben) = (person(), person());
    assert_eq!(s.preferences(t, &[ann, ben]).await.unwrap(), vec![]);
    assert_eq!(s.preferences(t, &[]).await.unwrap(), vec![]);

    // One entry per (category, channel), the last given winning, in
    // category and channel order; whole seconds; a blank zone is none.
    let mut given = preferences(ann);
    given
        .entries
        .push((Category::Scoring, Channel::Email, Frequency::Off));
    given
        .entries
        .push((Category::Account, Channel::InApp, Frequency::Immediately));
    given
        .entries
        .push((Category::Invitations, Channel::Email, Frequency::Daily));
    given.digest_time = NaiveTime::from_hms_milli_opt(7, 30, 0, 250).unwrap();
    given.time_zone = Some("  Europe/London ".to_string());
    let stored = s.set_preferences(t, ACTOR, given).await.unwrap();
    let expected = Preferences {
        entries: vec![
            (Category::Invitations, Channel::Email, Frequency::Daily),
            (Category::Scoring, Channel::Email, Frequency::Off),
            (Category::Newsletters, Channel::Email, Frequency::Weekly),
            (Category::Account, Channel::InApp, Frequency::Immediately),
        ],
        ..preferences(ann)
    };
    assert_eq!(stored, expected);
    assert_eq!(
        s.preferences(t, &[ben, ann, ann]).await.unwrap(),
        vec![stored.clone()]
    );

    // A change replaces everything.
    let plain = Preferences {
        entries: vec![],
        time_zone: Some("   ".to_string()),
        quiet_hours: None,
        digest_weekday: 7,
        digest_time: hm(18, 0),
        ..stored.clone()
    };
    let replaced = s.set_preferences(t, ACTOR, plain.clone()).await.unwrap();
    assert_eq!(
        replaced,
        Preferences {
            time_zone: None,
            ..plain
        }
    );
    let bens = s.set_preferences(t, ACTOR, preferences(ben)).await.unwrap();
    assert_eq!(bens, preferences(ben));
    assert_eq!(
        s.preferences(t, &[ben, ann]).await.unwrap(),
        vec![replaced.clone(), bens],
        "in person order"
    );

    // A weekday that is not an ISO weekday is refused and changes nothing.
    for weekday in [0, 8] {
        expect_invalid(
            s.set_preferences(
                t,
                ACTOR,
                Preferences {
                    digest_weekday: weekday,
                    ..preferences(ann)
                },
            )
            .await,
            &["digest_weekday"],
        );
    }
    assert_eq!(s.preferences(t, &[ann]).await.unwrap(), vec![replaced]);
}

async fn unsubscribe_tokens_are_stable_and_one_click_turns_email_off(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let (ann, ben) = (person(), person());
    s.set_preferences(t, ACTOR, preferences(ann)).await.unwrap();

    let token = s
        .unsubscribe_token(t, ann, Category::Newsletters, "h1")
        .await
        .unwrap();
    assert_eq!(
        s.unsubscribe_token(t, ann, Category::Newsletters, "h1")
            .await
            .unwrap(),
        token,
        "one token per person and category"
    );
    let scoring = s
        .unsubscribe_token(t, ann, Category::Scoring, "h2")
        .await
        .unwrap();
    let bens = s
        .unsubscribe_token(t, ben, Category::Newsletters, "h3")
        .await
        .unwrap();
    assert_eq!(
        HashSet::from([token, scoring, bens]).len(),
        3,
        "distinct tokens"
    );
    expect_invalid(
        s.unsubscribe_token(t, ann, Category::Newsletters, "").await,
        &["secret_hash"],
    );
    assert_eq!(s.token_hash(t, token).await.as_deref(), Some("h1"));

    // A wrong secret or an unknown token is NotFound, and changes nothing.
    let audited = s.audit(t).await.len();
    expect_not_found(s.unsubscribe(t, token, "h2").await);
    expect_not_found(s.unsubscribe(t, token, "").await);
    expect_not_found(s.unsubscribe(t, Uuid::now_v7(), "h1").await);
    assert_eq!(
        s.preferences(t, &[ann, ben]).await.unwrap(),
        vec![preferences(ann)]
    );
    assert_eq!(s.audit(t).await.len(), audited);

    // One click: e-mail of that category off, everything else kept.
    assert_eq!(
        s.unsubscribe(t, token, "h1").await.unwrap(),
        Category::Newsletters
    );
    assert_eq!(
        s.preferences(t, &[ann]).await.unwrap(),
        vec![Preferences {
            entries: vec![
                (Category::Scoring, Channel::Email, Frequency::Daily),
                (Category::Newsletters, Channel::Email, Frequency::Off),
            ],
            ..preferences(ann)
        }]
    );
    // Clicking again answers the same and records nothing.
    let audited = s.audit(t).await.len();
    assert_eq!(
        s.unsubscribe(t, token, "h1").await.unwrap(),
        Category::Newsletters
    );
    assert_eq!(s.audit(t).await.len(), audited);

    // A person without preferences gets the defaults, with the category off.
    assert_eq!(
        s.unsubscribe(t, bens, "h3").await.unwrap(),
        Category::Newsletters
    );
    assert_eq!(
        s.preferences(t, &[ben]).await.unwrap(),
        vec![Preferences {
            person_id: ben,
            entries: vec![(Category::Newsletters, Channel::Email, Frequency::Off)],
            digest_time: hm(8, 0),
            digest_weekday: 1,
            time_zone: None,
            quiet_hours: None,
        }]
    );

    // A new hash for the same person and category (the link key was
    // rotated) replaces the old one under the same token.
    assert_eq!(
        s.unsubscribe_token(t, ann, Category::Scoring, "h2-rotated")
            .await
            .unwrap(),
        scoring
    );
    assert_eq!(
        s.token_hash(t, scoring).await.as_deref(),
        Some("h2-rotated")
    );
    expect_not_found(s.unsubscribe(t, scoring, "h2").await);
    assert_eq!(
        s.unsubscribe(t, scoring, "h2-rotated").await.unwrap(),
        Category::Scoring
    );
    assert_eq!(
        s.preferences(t, &[ann]).await.unwrap()[0].entries,
        vec![
            (Category::Scoring, Channel::Email, Frequency::Off),
            (Category::Newsletters, Channel::Email, Frequency::Off),
        ]
    );
}

// ------------------------------------------------------------------ templates and messages

async fn templates_are_kept_per_event_type_and_locale(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    assert_eq!(s.list_templates(t).await.unwrap(), vec![]);
    let changed = "scheduling.event.changed";
    let cancelled = "scheduling.event.cancelled";
    let gb = s
        .set_template(t, ACTOR, template(changed, "en-GB", "Changed: {{ title }}"))
        .await
        .unwrap();
    assert_eq!(gb, template(changed, "en-GB", "Changed: {{ title }}"));
    let en = s
        .set_template(t, ACTOR, template(changed, "en", "Change"))
        .await
        .unwrap();
    let fr = s
        .set_template(t, ACTOR, template(changed, "fr", "Modifié"))
        .await
        .unwrap();
    let gone = s
        .set_template(
            t,
            ACTOR,
            Template {
                category: Category::Changes,
                ..template(cancelled, "en", "Cancelled")
            },
        )
        .await
        .unwrap();
    assert_eq!(
        s.list_templates(t).await.unwrap(),
        vec![gone.clone(), en.clone(), gb, fr.clone()],
        "by event type, then locale"
    );

    // Saving the same event type and locale replaces it.
    let gb2 = s
        .set_template(
            t,
            ACTOR,
            Template {
                category: Category::Reminders,
                text: "New text".to_string(),
                html: "<p>New text</p>".to_string(),
                ..template(changed, "en-GB", "Changed again")
            },
        )
        .await
        .unwrap();
    assert_eq!(gb2.subject, "Changed again");
    assert_eq!(s.list_templates(t).await.unwrap(), vec![gone, en, gb2, fr]);
    // Keys are trimmed; empty keys are refused naming each.
    let de = s
        .set_template(
            t,
            ACTOR,
            template(" scheduling.rsvp.invited ", " de ", "Einladung"),
        )
        .await
        .unwrap();
    assert_eq!(
        (de.event_type.as_str(), de.locale.as_str()),
        ("scheduling.rsvp.invited", "de")
    );
    expect_invalid(
        s.set_template(t, ACTOR, template(" ", "", "x")).await,
        &["event_type", "locale"],
    );
    assert_eq!(s.list_templates(t).await.unwrap().len(), 5);
}

async fn cluster_messages_are_recorded_and_listed_newest_first(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let (cluster, other) = (Uuid::now_v7(), Uuid::now_v7());
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(
            s.record_cluster_message(t, ACTOR, cluster_message(cluster, &format!("News {i}")))
                .await
                .unwrap(),
        );
    }
    let first = &sent[0];
    assert!(!first.id.is_nil());
    assert_eq!(first.sent_by, ACTOR, "an empty sender is the actor");
    assert_eq!(first.sent_at.timestamp_subsec_nanos(), 0);
    assert_eq!(
        *first,
        ClusterMessage {
            id: first.id,
            sent_by: ACTOR.to_string(),
            sent_at: first.sent_at,
            ..cluster_message(cluster, "News 0")
        }
    );
    let coordinators = s
        .record_cluster_message(
            t,
            ACTOR,
            ClusterMessage {
                role: Some("building_coordinator".to_string()),
                sent_by: "lead-1".to_string(),
                recipients: 3,
                unsubscribed: 0,
                ..cluster_message(other, "For building coordinators")
            },
        )
        .await
        .unwrap();
    assert_eq!(coordinators.sent_by, "lead-1");
    assert_eq!(coordinators.role.as_deref(), Some("building_coordinator"));

    let mut newest_first = sent.clone();
    newest_first.reverse();
    assert_eq!(
        all_pages(2, |page| s.list_cluster_messages(t, cluster, page)).await,
        newest_first
    );
    assert_eq!(
        all_pages(2, |page| s.list_cluster_messages(t, other, page)).await,
        vec![coordinators]
    );
    assert_eq!(
        s.list_cluster_messages(t, Uuid::now_v7(), first_page())
            .await
            .unwrap()
            .0,
        vec![]
    );
    let before = s.counts(t).await;
    expect_conflict(
        s.record_cluster_message(
            t,
            ACTOR,
            ClusterMessage {
                id: first.id,
                ..cluster_message(cluster, "Again")
            },
        )
        .await,
        "id",
    );
    assert_eq!(s.counts(t).await, before);
}

async fn idempotency_keys_replay_the_same_request_and_refuse_another(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let answer = json!({ "notification_ids": ["0190f000-0000-7000-8000-000000000001"] });
    assert_eq!(s.idempotent_answer(t, "k1", "h1").await.unwrap(), None);
    s.remember_answer(t, "k1", "h1", answer.clone())
        .await
        .unwrap();
    assert_eq!(
        s.idempotent_answer(t, "k1", "h1").await.unwrap(),
        Some(answer.clone())
    );
    expect_conflict(s.idempotent_answer(t, "k1", "h2").await, "idempotency_key");
    // The first answer stays: remembering again for the same request keeps
    // it, for a different request is a conflict.
    s.remember_answer(t, "k1", "h1", json!({ "other": true }))
        .await
        .unwrap();
    assert_eq!(
        s.idempotent_answer(t, "k1", "h1").await.unwrap(),
        Some(answer)
    );
    expect_conflict(
        s.remember_answer(t, "k1", "h2", json!({})).await,
        "idempotency_key",
    );
    assert_eq!(s.idempotent_answer(t, "k2", "h1").await.unwrap(), None);
    expect_invalid(s.idempotent_answer(t, "", "h1").await, &["idempotency_key"]);
    expect_invalid(
        s.remember_answer(t, "", "h1", json!({})).await,
        &["idempotency_key"],
    );
    assert_eq!(s.counts(t).await["idempotency_keys"], 1);
}

async fn tenant_settings_have_defaults_and_change(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    assert_eq!(
        s.tenant_settings(t).await.unwrap(),
        TenantSettings::default()
    );
    let set = s
        .set_tenant_settings(
            t,
            ACTOR,
            TenantSettings {
                reminder_lead_hours: 6,
                critical_categories: vec![Category::Account, Category::Changes, Category::Account],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        set,
        TenantSettings {
            reminder_lead_hours: 6,
            critical_categories: vec![Category::Changes, Category::Account],
        }
    );
    assert_eq!(s.tenant_settings(t).await.unwrap(), set);
    assert_eq!(
        s.set_tenant_settings(t, ACTOR, TenantSettings::default())
            .await
            .unwrap(),
        TenantSettings::default()
    );
    assert_eq!(
        s.tenant_settings(t).await.unwrap(),
        TenantSettings::default()
    );
    assert_eq!(
        s.tenant_settings(TenantId::new_v7()).await.unwrap(),
        TenantSettings::default()
    );
}

// ------------------------------------------------------------------ delivery claims

async fn claims_lease_due_deliveries_in_due_order_and_outcomes_move_their_status(s: &dyn Inspect) {
    let (t, u) = (TenantId::new_v7(), TenantId::new_v7());
    let (ann, ben, cat) = (person(), person(), person());
    let t0 = at(2, 1, 9, 0);
    let queued = |due| delivery(Channel::Email, DeliveryStatus::Queued, due);
    let stored = s
        .enqueue(
            t,
            None,
            vec![
                with_deliveries(
                    ann,
                    "Invitation",
                    vec![
                        delivery(Channel::InApp, DeliveryStatus::Queued, t0),
                        queued(t0 + minutes(10)),
                    ],
                ),
                with_deliveries(
                    ben,
                    "Scoring this week",
                    vec![
                        delivery(Channel::Email, DeliveryStatus::Held, t0 + minutes(60)),
                        // E-mail turned off: logged, never sent.
                        delivery(Channel::Email, DeliveryStatus::Skipped, t0),
                    ],
                ),
            ],
        )
        .await
        .unwrap();
    let carls = s
        .enqueue(
            u,
            None,
            vec![with_deliveries(
                cat,
                "Reminder",
                vec![queued(t0 + minutes(5))],
            )],
        )
        .await
        .unwrap();
    let of = |id: Uuid, tenant: TenantId| async move {
        deliveries(s, tenant, by_notification(id))
            .await
            .into_iter()
            .map(|d| d.id)
            .collect::<Vec<_>>()
    };
    let anns = of(stored[0].id, t).await;
    let (a_app, a_mail) = (anns[0], anns[1]);
    let b_held = of(stored[1].id, t).await[0];
    let c_mail = of(carls[0].id, u).await[0];

    // Nothing is due before its time.
    assert_eq!(
        s.claim_due(t0 - chrono::Duration::seconds(1), t0 + minutes(60), 10)
            .await
            .unwrap(),
        vec![]
    );
    // Due work of every tenant, earliest first, up to the limit, leased.
    let now = t0 + minutes(30);
    let lease = t0 + minutes(40);
    let claimed = s.claim_due(now, lease, 2).await.unwrap();
    assert_eq!(claimed_ids(&claimed), vec![(t, a_app), (u, c_mail)]);
    for (tenant, d, n) in &claimed {
        assert_eq!(d.next_attempt_at, lease, "leased");
        assert_eq!((d.status, d.attempts), (DeliveryStatus::Queued, 0));
        let expected = if *tenant == t { &stored[0] } else { &carls[0] };
        assert_eq!(n, expected, "with its notification");
    }
    let rest = s.claim_due(now, lease, 10).await.unwrap();
    assert_eq!(claimed_ids(&rest), vec![(t, a_mail)]);
    // Leased work is nobody else's until the lease ends.
    assert_eq!(
        s.claim_due(
            lease - chrono::Duration::seconds(1),
            lease + minutes(10),
            10
        )
        .await
        .unwrap(),
        vec![]
    );
    assert_eq!(delivery_of(s, t, a_app).await.next_attempt_at, lease);

    // Outcomes.
    s.record_outcome(t, a_app, Outcome::Sent).await.unwrap();
    let sent = delivery_of(s, t, a_app).await;
    assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 1));
    assert_eq!(sent.updated_at.timestamp_subsec_nanos(), 0);
    let retry_at = t0 + minutes(120);
    s.record_outcome(
        u,
        c_mail,
        Outcome::Retry {
            at: retry_at,
            error: "421 try again later".to_string(),
        },
    )
    .await
    .unwrap();
    let retried = delivery_of(s, u, c_mail).await;
    assert_eq!(
        (
            retried.status,
            retried.attempts,
            retried.next_attempt_at,
            retried.last_error.as_deref()
        ),
        (
            DeliveryStatus::Queued,
            1,
            retry_at,
            Some("421 try again later")
        )
    );
    s.record_outcome(
        t,
        a_mail,
        Outcome::Failed {
            error: "550 no such user".to_string(),
        },
    )
    .await
    .unwrap();
    let failed = delivery_of(s, t, a_mail).await;
    assert_eq!(
        (failed.status, failed.attempts, failed.last_error.as_deref()),
        (DeliveryStatus::Failed, 1, Some("550 no such user"))
    );
    // A final outcome is final; an unknown delivery is not found.
    expect_failed_precondition(
        s.record_outcome(
            t,
            a_app,
            Outcome::Retry {
                at: retry_at,
                error: "late".to_string(),
            },
        )
        .await,
        &["sent"],
    );
    expect_failed_precondition(
        s.record_outcome(t, a_mail, Outcome::Sent).await,
        &["failed"],
    );
    expect_not_found(s.record_outcome(t, Uuid::now_v7(), Outcome::Sent).await);
    expect_not_found(s.record_outcome(u, a_app, Outcome::Sent).await);
    assert_eq!(delivery_of(s, t, a_app).await, sent);

    // Later: the held digest delivery, then the retry, are due.
    let later = s
        .claim_due(t0 + minutes(180), t0 + minutes(240), 10)
        .await
        .unwrap();
    assert_eq!(claimed_ids(&later), vec![(t, b_held), (u, c_mail)]);
    assert_eq!(later[0].1.status, DeliveryStatus::Held);
    assert_eq!(later[0].2, stored[1]);
    s.record_outcome(
        t,
        b_held,
        Outcome::Skipped {
            reason: "nothing left to digest".to_string(),
        },
    )
    .await
    .unwrap();
    let skipped = delivery_of(s, t, b_held).await;
    assert_eq!(
        (
            skipped.status,
            skipped.attempts,
            skipped.last_error.as_deref()
        ),
        (DeliveryStatus::Skipped, 0, Some("nothing left to digest"))
    );
    s.record_outcome(u, c_mail, Outcome::Sent).await.unwrap();
    let sent_later = delivery_of(s, u, c_mail).await;
    assert_eq!(
        (
            sent_later.status,
            sent_later.attempts,
            sent_later.last_error.as_deref()
        ),
        (DeliveryStatus::Sent, 2, Some("421 try again later")),
        "the last error stays in the log"
    );
    // Nothing is left, ever.
    assert_eq!(
        s.claim_due(at(12, 31, 0, 0), at(12, 31, 1, 0), 100)
            .await
            .unwrap(),
        vec![]
    );
    let sent_only = deliveries(
        s,
        t,
        DeliveryFilter {
            status: Some(DeliveryStatus::Sent),
            ..DeliveryFilter::default()
        },
    )
    .await;
    assert_eq!(
        sent_only.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![a_app]
    );

    // Refusals.
    expect_invalid(s.claim_due(t0, t0 + minutes(1), 0).await, &["limit"]);
    expect_invalid(s.claim_due(t0, t0 + minutes(1), 1_001).await, &["limit"]);
    expect_invalid(s.claim_due(t0, t0, 10).await, &["lease_until"]);
    expect_invalid(s.claim_due(t0, t0 - minutes(1), 10).await, &["lease_until"]);
    let counts = s.counts(t).await;
    assert_eq!((counts["audit_log"], counts["outbox"]), (0, 0));
}

async fn a_lease_that_runs_out_returns_an_unfinished_claim(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let due = at(2, 1, 9, 0);
    enqueue_for(s, t, &[person()], "Announcement", due).await;
    let first = s.claim_due(due, due + minutes(5), 10).await.unwrap();
    assert_eq!(first.len(), 2);
    let ids: Vec<Uuid> = first.iter().map(|c| c.1.id).collect();

    // The worker dies without an outcome. Until its lease ends nobody else
    // gets the work; then it comes back as it was, with a new lease.
    assert_eq!(
        s.claim_due(due + minutes(4), due + minutes(10), 10)
            .await
            .unwrap(),
        vec![]
    );
    let again = s
        .claim_due(due + minutes(5), due + minutes(15), 10)
        .await
        .unwrap();
    assert_eq!(
        sorted(again.iter().map(|c| c.1.id)),
        sorted(ids.iter().copied())
    );
    for (tenant, d, n) in &again {
        let before = first.iter().find(|c| c.1.id == d.id).unwrap();
        assert_eq!(*tenant, t);
        assert_eq!(
            *d,
            Delivery {
                next_attempt_at: due + minutes(15),
                ..before.1.clone()
            }
        );
        assert_eq!(*n, before.2);
    }
    // One outcome per delivery, whichever worker reports first.
    s.record_outcome(t, ids[0], Outcome::Sent).await.unwrap();
    expect_failed_precondition(s.record_outcome(t, ids[0], Outcome::Sent).await, &["sent"]);
    // The unfinished one comes back again after the second lease; the sent one never.
    let third = s
        .claim_due(due + minutes(15), due + minutes(20), 10)
        .await
        .unwrap();
    assert_eq!(claimed_ids(&third), vec![(t, ids[1])]);
}

async fn instants_are_kept_in_whole_seconds_and_claims_compare_them_as_instants(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let due = at(5, 1, 10, 0);
    let ms = chrono::Duration::milliseconds;
    let us = chrono::Duration::microseconds;
    let stored = s
        .enqueue(
            t,
            None,
            vec![Planned {
                notification: Notification {
                    created_at: due + ms(999),
                    ..notification(person(), "Fractional")
                },
                deliveries: vec![delivery(
                    Channel::Email,
                    DeliveryStatus::Queued,
                    due + chrono::Duration::nanoseconds(123_456_789),
                )],
            }],
        )
        .await
        .unwrap();
    assert_eq!(stored[0].created_at, due);
    assert_eq!(
        inbox(s, t, stored[0].person_id, false).await,
        stored,
        "read back exactly as returned"
    );
    let id = deliveries(s, t, DeliveryFilter::default()).await[0].id;
    assert_eq!(delivery_of(s, t, id).await.next_attempt_at, due);

    // Bounds with fractions of every width compare as instants on both
    // backends (SQLite compares the stored text).
    let far = due + minutes(60);
    for not_yet in [due - us(1), due - ms(1), due - ms(500), due - ms(999)] {
        assert_eq!(
            s.claim_due(not_yet, far, 10).await.unwrap(),
            vec![],
            "not due at {not_yet}"
        );
    }
    for now in [
        due,
        due + us(1),
        due + ms(1),
        due + ms(500),
        due + ms(999) + us(999),
    ] {
        let claimed = s.claim_due(now, far, 10).await.unwrap();
        assert_eq!(claimed_ids(&claimed), vec![(t, id)], "due at {now}");
        // Back to `due` (a retry time with a fraction is kept in whole seconds).
        s.record_outcome(
            t,
            id,
            Outcome::Retry {
                at: due + ms(700),
                error: "again".to_string(),
            },
        )
        .await
        .unwrap();
        assert_eq!(delivery_of(s, t, id).await.next_attempt_at, due);
    }
    // A lease is kept in whole seconds too, and ends exactly then.
    let claimed = s.claim_due(due, far + ms(600), 10).await.unwrap();
    assert_eq!(claimed[0].1.next_attempt_at, far);
    assert_eq!(
        s.claim_due(far - us(1), far + minutes(1), 10)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        claimed_ids(
            &s.claim_due(far + us(1), far + minutes(1), 10)
                .await
                .unwrap()
        ),
        vec![(t, id)]
    );

    // Reminders.
    let event = Uuid::now_v7();
    s.upsert_reminder(
        t,
        Reminder {
            starts_at: due + chrono::Duration::hours(24) + ms(1),
            ..reminder(event, "Fractional", due + ms(250))
        },
    )
    .await
    .unwrap();
    for not_yet in [due - us(1), due - ms(500)] {
        assert_eq!(
            s.claim_due_reminders(not_yet, 10).await.unwrap(),
            vec![],
            "no reminder at {not_yet}"
        );
    }
    assert_eq!(
        s.claim_due_reminders(due + us(1), 10).await.unwrap(),
        vec![(t, reminder(event, "Fractional", due))]
    );
    assert_eq!(s.reminder_claimed_at(t, event).await, Some(due));
}

// ------------------------------------------------------------------ reminders

async fn reminders_are_handed_out_once_and_follow_their_event(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let (e1, e2, e3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let r1 = at(6, 1, 9, 0);
    s.upsert_reminder(t, reminder(e1, "Network meeting", r1))
        .await
        .unwrap();
    s.upsert_reminder(t, reminder(e2, "Scoring training", r1 + minutes(60)))
        .await
        .unwrap();
    s.upsert_reminder(t, reminder(e3, "Study group", r1 + minutes(30)))
        .await
        .unwrap();
    assert_eq!(
        s.claim_due_reminders(r1 - chrono::Duration::seconds(1), 10)
            .await
            .unwrap(),
        vec![]
    );

    // Due ones, earliest first, each handed out once.
    let now = r1 + minutes(30);
    assert_eq!(
        s.claim_due_reminders(now, 10).await.unwrap(),
        vec![
            (t, reminder(e1, "Network meeting", r1)),
            (t, reminder(e3, "Study group", r1 + minutes(30))),
        ]
    );
    assert_eq!(s.claim_due_reminders(now, 10).await.unwrap(), vec![]);
    assert_eq!(s.reminder_claimed_at(t, e1).await, Some(now));

    // A new title (same time) is not a reason to remind again.
    s.upsert_reminder(t, reminder(e1, "Network meeting (room 4)", r1))
        .await
        .unwrap();
    assert_eq!(s.reminder_claimed_at(t, e1).await, Some(now));
    // A cancelled event's reminder is gone; cancelling twice is fine.
    s.cancel_reminder(t, e3).await.unwrap();
    s.cancel_reminder(t, e3).await.unwrap();
    s.cancel_reminder(t, Uuid::now_v7()).await.unwrap();
    assert_eq!(s.counts(t).await["reminders"], 2);
    // The limit holds.
    s.upsert_reminder(
        t,
        reminder(e3, "Study group (rescheduled)", r1 + minutes(90)),
    )
    .await
    .unwrap();
    let later = r1 + minutes(120);
    assert_eq!(
        s.claim_due_reminders(later, 1).await.unwrap(),
        vec![(t, reminder(e2, "Scoring training", r1 + minutes(60)))]
    );
    assert_eq!(
        s.claim_due_reminders(later, 1).await.unwrap(),
        vec![(
            t,
            reminder(e3, "Study group (rescheduled)", r1 + minutes(90))
        )]
    );
    assert_eq!(s.claim_due_reminders(later, 1).await.unwrap(), vec![]);

    // The event moves to a later day: its reminder goes out again, with the
    // new time and title.
    let moved = reminder(
        e1,
        "Network meeting (moved)",
        r1 + chrono::Duration::days(7),
    );
    s.upsert_reminder(t, moved.clone()).await.unwrap();
    assert_eq!(s.reminder_claimed_at(t, e1).await, None);
    assert_eq!(
        s.claim_due_reminders(later, 10).await.unwrap(),
        vec![],
        "not before its new time"
    );
    let week = r1 + chrono::Duration::days(7);
    assert_eq!(
        s.claim_due_reminders(week, 10).await.unwrap(),
        vec![(t, moved)]
    );
    // A handed-out reminder whose time moves into the past stays handed out;
    // one not yet handed out is simply due at once.
    let past = Utc::now() - chrono::Duration::days(1);
    s.upsert_reminder(t, reminder(e2, "Scoring training", past))
        .await
        .unwrap();
    let e4 = Uuid::now_v7();
    s.upsert_reminder(t, reminder(e4, "Panel meeting", past))
        .await
        .unwrap();
    let found = s.claim_due_reminders(at(12, 31, 0, 0), 10).await.unwrap();
    assert_eq!(
        found.iter().map(|(_, r)| r.event_id).collect::<Vec<_>>(),
        vec![e4]
    );
    assert_eq!(found[0].1.remind_at.timestamp_subsec_nanos(), 0);
    expect_invalid(s.claim_due_reminders(later, 0).await, &["limit"]);
    let counts = s.counts(t).await;
    assert_eq!((counts["audit_log"], counts["outbox"]), (0, 0));
}

// ------------------------------------------------------------------ audit and outbox

/// Collects what a bus delivers.
#[derive(Default)]
struct Collect(Mutex<Vec<EventEnvelope>>);

#[async_trait]
impl EventHandler for Collect {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
}

/// Follows a tenant's audit log and what the relay publishes.
struct Trail<'a> {
    store: &'a dyn Inspect,
    tenant: TenantId,
    bus: MemoryBus,
    collected: Arc<Collect>,
    subscription: Option<Subscription>,
    audited: usize,
    delivered: usize,
}

impl<'a> Trail<'a> {
    async fn new(store: &'a dyn Inspect, tenant: TenantId) -> Self {
        let bus = MemoryBus::new();
        let collected = Arc::new(Collect::default());
        let subscription = bus
            .subscribe(SubscribeOptions::new("contract", "test"), collected.clone())
            .await
            .unwrap();
        Self {
            store,
            tenant,
            bus,
            collected,
            subscription: Some(subscription),
            audited: store.audit(tenant).await.len(),
            delivered: 0,
        }
    }

    /// What the calls since the last check wrote: exactly these audit
    /// records (action, target, actor) and these events (type, payload `id`),
    /// in any order; every event names its actor and carries no secret.
    async fn expect(
        &mut self,
        what: &str,
        audits: &[(&str, String, &str)],
        events: &[(&str, String)],
    ) {
        let log = self.store.audit(self.tenant).await;
        let mut new: Vec<Audited> = log[self.audited..].to_vec();
        new.sort();
        let mut expected: Vec<Audited> = audits
            .iter()
            .map(|(action, target, actor)| Audited {
                action: action.to_string(),
                target_id: target.clone(),
                actor: actor.to_string(),
            })
            .collect();
        expected.sort();
        assert_eq!(new, expected, "{what}: audit records");
        self.audited = log.len();

        let published = drain(self.store, &self.bus).await;
        assert_eq!(published, events.len(), "{what}: outbox events");
        let want = self.delivered + published;
        tokio::time::timeout(Duration::from_secs(10), async {
            while self.collected.0.lock().unwrap().len() < want {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("every relayed event is delivered");
        let got = self.collected.0.lock().unwrap()[self.delivered..want].to_vec();
        self.delivered = want;
        let mut types: Vec<(String, String)> = got
            .iter()
            .map(|e| {
                assert_eq!(e.tenant, self.tenant, "{what}: the tenant's own event");
                assert!(
                    e.payload["actor"].is_string(),
                    "{what}: actor in {}",
                    e.payload
                );
                let text = e.payload.to_string();
                assert!(
                    !text.contains("secret_hash") && !text.contains("request_hash"),
                    "{what}: no secrets on the bus: {text}"
                );
                (
                    e.event_type.clone(),
                    e.payload["id"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        types.sort();
        let mut expected: Vec<(String, String)> = events
            .iter()
            .map(|(ty, id)| (format!("notifications.{ty}"), id.clone()))
            .collect();
        expected.sort();
        assert_eq!(types, expected, "{what}: event types");
    }

    async fn expect_nothing(&mut self, what: &str) {
        self.expect(what, &[], &[]).await;
    }

    async fn stop(mut self) {
        if let Some(s) = self.subscription.take() {
            s.stop().await;
        }
    }
}

async fn every_mutation_writes_its_audit_record_and_outbox_event(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let mut trail = Trail::new(s, t).await;
    let ann = person();
    let due = at(1, 1, 9, 0);

    // The service's bookkeeping: no audit records, no events.
    let event = domain_event(t, "scheduling.event.changed");
    let stored = s
        .enqueue(
            t,
            Some((CONSUMER, &event)),
            vec![planned(ann, "Changed", due)],
        )
        .await
        .unwrap();
    enqueue_for(s, t, &[ann], "Direct", due).await;
    s.mark(t, ann, &[stored[0].id], false).await.unwrap();
    s.mark(t, ann, &[stored[0].id], true).await.unwrap();
    s.mark_all_read(t, ann).await.unwrap();
    for (tenant, d, _) in s.claim_due(due, due + minutes(5), 10).await.unwrap() {
        s.record_outcome(tenant, d.id, Outcome::Sent).await.unwrap();
    }
    let meeting = Uuid::now_v7();
    s.upsert_reminder(t, reminder(meeting, "Meeting", due))
        .await
        .unwrap();
    assert_eq!(s.claim_due_reminders(due, 10).await.unwrap().len(), 1);
    s.cancel_reminder(t, meeting).await.unwrap();
    let token = s
        .unsubscribe_token(t, ann, Category::Newsletters, "secret-hash-1")
        .await
        .unwrap();
    s.remember_answer(t, "key-1", "request-hash-1", json!({ "ids": [] }))
        .await
        .unwrap();
    trail.expect_nothing("bookkeeping").await;

    // What people and administrators change.
    let who = ann.to_string();
    s.set_preferences(t, ACTOR, preferences(ann)).await.unwrap();
    trail
        .expect(
            "preferences",
            &[("preferences.changed", who.clone(), ACTOR)],
            &[("preferences.changed", who.clone())],
        )
        .await;
    s.unsubscribe(t, token, "secret-hash-1").await.unwrap();
    trail
        .expect(
            "unsubscribe",
            &[("preferences.unsubscribed", who.clone(), who.as_str())],
            &[("preferences.unsubscribed", who.clone())],
        )
        .await;
    s.unsubscribe(t, token, "secret-hash-1").await.unwrap();
    trail.expect_nothing("unsubscribing again").await;
    s.set_template(
        t,
        ACTOR,
        template("scheduling.event.changed", "en", "Changed"),
    )
    .await
    .unwrap();
    let key = "scheduling.event.changed/en".to_string();
    trail
        .expect(
            "template",
            &[("template.changed", key.clone(), ACTOR)],
            &[("template.changed", key)],
        )
        .await;
    let m = s
        .record_cluster_message(t, ACTOR, cluster_message(Uuid::now_v7(), "News"))
        .await
        .unwrap();
    trail
        .expect(
            "cluster message",
            &[("cluster_message.sent", m.id.to_string(), ACTOR)],
            &[("cluster_message.sent", m.id.to_string())],
        )
        .await;
    s.set_tenant_settings(t, ACTOR, TenantSettings::default())
        .await
        .unwrap();
    trail
        .expect(
            "tenant settings",
            &[("tenant_settings.changed", t.0.to_string(), ACTOR)],
            &[("tenant_settings.changed", t.0.to_string())],
        )
        .await;

    // Refused calls write nothing.
    let _ = s.unsubscribe(t, token, "wrong").await;
    let _ = s
        .set_preferences(
            t,
            ACTOR,
            Preferences {
                digest_weekday: 0,
                ..preferences(ann)
            },
        )
        .await;
    let _ = s
        .record_cluster_message(
            t,
            ACTOR,
            ClusterMessage {
                id: m.id,
                ..cluster_message(Uuid::now_v7(), "Again")
            },
        )
        .await;
    trail.expect_nothing("refusals").await;
    trail.stop().await;
}

// ------------------------------------------------------------------ tenant isolation

async fn tenants_never_see_or_touch_each_others_rows(s: &dyn Inspect) {
    let a = seed_tenant(s, "alpha").await;
    let b = seed_tenant(s, "beta").await;
    let (ta, tb) = (a.tenant, b.tenant);
    let b_counts = s.counts(tb).await;
    let b_audit = s.audit(tb).await;
    let b_inbox = inbox(s, tb, b.member, true).await;
    let b_deliveries = deliveries(s, tb, DeliveryFilter::default()).await;
    assert_eq!(b_inbox, vec![b.notification.clone()]);

    // Reads: B's rows do not exist in A.
    assert_eq!(inbox(s, ta, b.member, true).await, vec![]);
    assert_eq!(
        s.list_inbox(ta, b.member, true, false, first_page())
            .await
            .unwrap()
            .0,
        vec![]
    );
    assert_eq!(s.unread_count(ta, b.member).await.unwrap(), 0);
    assert_eq!(s.preferences(ta, &[b.member]).await.unwrap(), vec![]);
    assert_eq!(
        s.list_templates(ta).await.unwrap(),
        vec![a.template.clone()]
    );
    assert_eq!(
        s.list_cluster_messages(ta, b.cluster, first_page())
            .await
            .unwrap()
            .0,
        vec![]
    );
    assert_eq!(
        s.idempotent_answer(ta, &b.key, "request-hash")
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.tenant_settings(ta).await.unwrap(), a.settings);
    assert_eq!(
        deliveries(s, ta, by_notification(b.notification.id)).await,
        vec![]
    );
    assert_eq!(
        deliveries(
            s,
            ta,
            DeliveryFilter {
                person_id: Some(b.member),
                ..DeliveryFilter::default()
            }
        )
        .await,
        vec![]
    );
    assert_eq!(
        deliveries(s, ta, DeliveryFilter::default()).await,
        a.deliveries
    );

    // Writes with B's ids change nothing of B's.
    assert_eq!(
        s.mark(ta, b.member, &[b.notification.id], false)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.mark(ta, b.member, &[b.notification.id], true)
            .await
            .unwrap(),
        0
    );
    assert_eq!(s.mark_all_read(ta, b.member).await.unwrap(), 0);
    expect_not_found(s.unsubscribe(ta, b.token, &b.token_hash).await);
    for d in &b.deliveries {
        expect_not_found(s.record_outcome(ta, d.id, Outcome::Sent).await);
        expect_not_found(
            s.record_outcome(
                ta,
                d.id,
                Outcome::Failed {
                    error: "x".to_string(),
                },
            )
            .await,
        );
    }
    s.cancel_reminder(ta, b.reminded_event).await.unwrap();
    expect_invalid(
        s.enqueue(
            ta,
            Some((CONSUMER, &b.event)),
            vec![planned(b.member, "x", b.due)],
        )
        .await,
        &["source"],
    );
    // B's keys used in A make A's own rows.
    let a_token = s
        .unsubscribe_token(ta, b.member, Category::Newsletters, "alpha-hash")
        .await
        .unwrap();
    assert_ne!(a_token, b.token);
    s.remember_answer(ta, &b.key, "another-hash", json!({ "alpha": true }))
        .await
        .unwrap();
    s.set_template(
        ta,
        ACTOR,
        template(&b.template.event_type, &b.template.locale, "Alpha's own"),
    )
    .await
    .unwrap();
    s.upsert_reminder(
        ta,
        reminder(
            b.reminded_event,
            "Alpha's copy",
            b.remind_at + chrono::Duration::days(1),
        ),
    )
    .await
    .unwrap();
    let copy = s
        .enqueue(
            ta,
            None,
            vec![Planned {
                notification: Notification {
                    source_event_id: Some(b.event.id),
                    ..notification(b.member, "Alpha's copy")
                },
                deliveries: vec![],
            }],
        )
        .await
        .unwrap();
    assert_eq!(copy.len(), 1, "not merged with B's notification");
    s.set_preferences(
        ta,
        ACTOR,
        Preferences {
            digest_weekday: 2,
            ..preferences(b.member)
        },
    )
    .await
    .unwrap();
    s.record_cluster_message(
        ta,
        ACTOR,
        ClusterMessage {
            id: b.message.id,
            ..cluster_message(b.cluster, "Alpha reuses the id")
        },
    )
    .await
    .unwrap();
    s.set_tenant_settings(ta, ACTOR, TenantSettings::default())
        .await
        .unwrap();

    // B is exactly as it was.
    assert_eq!(s.counts(tb).await, b_counts);
    assert_eq!(s.audit(tb).await, b_audit);
    assert_eq!(inbox(s, tb, b.member, true).await, b_inbox);
    assert_eq!(s.unread_count(tb, b.member).await.unwrap(), 1);
    assert_eq!(
        deliveries(s, tb, DeliveryFilter::default()).await,
        b_deliveries
    );
    assert_eq!(
        s.preferences(tb, &[b.member]).await.unwrap(),
        vec![b.preferences.clone()]
    );
    assert_eq!(
        s.list_templates(tb).await.unwrap(),
        vec![b.template.clone()]
    );
    assert_eq!(
        s.list_cluster_messages(tb, b.cluster, first_page())
            .await
            .unwrap()
            .0,
        vec![b.message.clone()]
    );
    assert_eq!(
        s.idempotent_answer(tb, &b.key, "request-hash")
            .await
            .unwrap(),
        Some(json!({ "ids": ["beta"] }))
    );
    assert_eq!(s.tenant_settings(tb).await.unwrap(), b.settings);
    assert_eq!(
        s.token_hash(tb, b.token).await.as_deref(),
        Some(b.token_hash.as_str())
    );
    assert_eq!(s.token_hash(ta, b.token).await, None);
    // And B's own calls still work on B's rows.
    assert_eq!(
        s.unsubscribe(tb, b.token, &b.token_hash).await.unwrap(),
        Category::Newsletters
    );

    // The workers claim every tenant's due work, each named with its own
    // tenant and message.
    let claimed = s.claim_due(a.due, a.due + minutes(60), 100).await.unwrap();
    assert_eq!(claimed.len(), 4);
    for (tenant, d, n) in &claimed {
        let seeded = if *tenant == ta { &a } else { &b };
        assert!(*tenant == ta || *tenant == tb);
        assert!(seeded.deliveries.iter().any(|s| s.id == d.id));
        assert_eq!(*n, seeded.notification);
    }
    for (tenant, d, _) in &claimed {
        let other = if *tenant == ta { tb } else { ta };
        expect_not_found(s.record_outcome(other, d.id, Outcome::Sent).await);
        s.record_outcome(*tenant, d.id, Outcome::Sent)
            .await
            .unwrap();
    }
    let reminders = s.claim_due_reminders(b.remind_at, 100).await.unwrap();
    let mut got: Vec<(Uuid, Uuid, String)> = reminders
        .iter()
        .map(|(t, r)| (t.0, r.event_id, r.title.clone()))
        .collect();
    got.sort();
    let mut want = vec![
        (ta.0, a.reminded_event, "alpha meeting".to_string()),
        (tb.0, b.reminded_event, "beta meeting".to_string()),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(s.reminder_claimed_at(ta, b.reminded_event).await, None);
}

// ------------------------------------------------------------------ PostgreSQL: concurrent workers

/// Several workers (pods) claim from one queue at once on PostgreSQL; SQLite
/// has one writer and one connection, so its claims never overlap.
mod postgres_claims {
    use std::collections::HashMap;

    use platform::db::TenantPool;

    use super::*;

    const TENANTS: usize = 3;
    const PER_TENANT: usize = 100;
    const WORKERS: usize = 8;

    /// `PER_TENANT` people in each of `TENANTS` tenants, one e-mail each,
    /// due at `due`; returns every delivery's (tenant, id).
    async fn queue_of(
        store: &dyn NotificationsStore,
        due: DateTime<Utc>,
    ) -> HashSet<(TenantId, Uuid)> {
        let mut all = HashSet::new();
        for _ in 0..TENANTS {
            let t = TenantId::new_v7();
            let plan = people(PER_TENANT)
                .into_iter()
                .map(|p| {
                    with_deliveries(
                        p,
                        "Announcement",
                        vec![delivery(Channel::Email, DeliveryStatus::Queued, due)],
                    )
                })
                .collect();
            assert_eq!(
                store.enqueue(t, None, plan).await.unwrap().len(),
                PER_TENANT
            );
            let filter = DeliveryFilter::default();
            let listed = all_pages(500, |page| store.list_deliveries(t, &filter, page)).await;
            all.extend(listed.into_iter().map(|d| (t, d.id)));
        }
        all
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_claimers_never_get_the_same_delivery() {
        bounded(async {
            let (_db, store) = postgres_store_with(WORKERS as u32 + 2).await;
            let store: Arc<dyn NotificationsStore> = Arc::new(store);
            let due = at(2, 1, 9, 0);
            let queue = queue_of(store.as_ref(), due).await;
            assert_eq!(queue.len(), TENANTS * PER_TENANT);
            let (now, lease) = (due + minutes(1), due + minutes(60));

            let start = Arc::new(tokio::sync::Barrier::new(WORKERS));
            let workers: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let store = store.clone();
                    let start = start.clone();
                    tokio::spawn(async move {
                        start.wait().await;
                        let mut mine = Vec::new();
                        loop {
                            let batch = store.claim_due(now, lease, 7).await.expect("claims");
                            if batch.is_empty() {
                                return mine;
                            }
                            for (t, d, n) in batch {
                                assert_eq!(d.notification_id, n.id);
                                assert_eq!(d.next_attempt_at, lease);
                                mine.push((t, d.id));
                            }
                        }
                    })
                })
                .collect();
            let mut taken: HashMap<(TenantId, Uuid), usize> = HashMap::new();
            let mut busy = 0;
            for w in workers {
                let mine = w.await.expect("the worker finished");
                if !mine.is_empty() {
                    busy += 1;
                }
                for key in mine {
                    *taken.entry(key).or_default() += 1;
                }
            }
            let twice: Vec<_> = taken.iter().filter(|(_, n)| **n > 1).collect();
            assert!(
                twice.is_empty(),
                "{} deliveries were claimed more than once, e.g. {:?}",
                twice.len(),
                twice.first()
            );
            assert_eq!(
                taken.keys().copied().collect::<HashSet<_>>(),
                queue,
                "every delivery was claimed"
            );
            assert!(busy > 1, "the workers shared the queue ({busy} took work)");
            assert_eq!(store.claim_due(now, lease, 100).await.unwrap(), vec![]);
        })
        .await;
    }

    #[tokio::test]
    async fn a_claim_skips_deliveries_another_worker_holds_instead_of_waiting() {
        bounded(async {
            let (_db, store) = postgres_store().await;
            let t = TenantId::new_v7();
            let due = at(2, 1, 9, 0);
            let plan = (0..3)
                .map(|i| {
                    with_deliveries(
                        person(),
                        "Announcement",
                        vec![delivery(
                            Channel::Email,
                            DeliveryStatus::Queued,
                            due + minutes(i),
                        )],
                    )
                })
                .collect();
            store.enqueue(t, None, plan).await.unwrap();
            let ids: Vec<Uuid> = deliveries(&store, t, DeliveryFilter::default())
                .await
                .iter()
                .map(|d| d.id)
                .collect();
            let (now, lease) = (due + minutes(5), due + minutes(60));

            // Another worker's claim is in flight: it holds the earliest row.
            let mut held = store.pool().begin_operator().await.unwrap();
            let first: Uuid = sqlx::query_scalar(
                "SELECT id FROM deliveries WHERE status IN ('queued', 'held') \
                 AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT 1 \
                 FOR NO KEY UPDATE SKIP LOCKED",
            )
            .bind(now)
            .fetch_one(&mut *held)
            .await
            .unwrap();
            assert_eq!(first, ids[0]);
            let others =
                tokio::time::timeout(Duration::from_secs(10), store.claim_due(now, lease, 10))
                    .await
                    .expect("the claim does not wait for the held row")
                    .unwrap();
            assert_eq!(claimed_ids(&others), vec![(t, ids[1]), (t, ids[2])]);
            // That worker gives up before leasing: the row is free again.
            held.rollback().await.unwrap();
            assert_eq!(
                claimed_ids(&store.claim_due(now, lease, 10).await.unwrap()),
                vec![(t, ids[0])]
            );
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_reminder_claims_hand_each_reminder_out_once() {
        bounded(async {
            let (_db, store) = postgres_store_with(WORKERS as u32 + 2).await;
            let store: Arc<dyn NotificationsStore> = Arc::new(store);
            let due = at(3, 1, 9, 0);
            let mut all = HashSet::new();
            for _ in 0..TENANTS {
                let t = TenantId::new_v7();
                for i in 0..PER_TENANT {
                    let event = Uuid::now_v7();
                    store
                        .upsert_reminder(
                            t,
                            reminder(event, "Meeting", due + chrono::Duration::seconds(i as i64)),
                        )
                        .await
                        .unwrap();
                    all.insert((t, event));
                }
            }
            let now = due + minutes(10);
            let start = Arc::new(tokio::sync::Barrier::new(WORKERS));
            let workers: Vec<_> = (0..WORKERS)
                .map(|_| {
                    let store = store.clone();
                    let start = start.clone();
                    tokio::spawn(async move {
                        start.wait().await;
                        let mut mine = Vec::new();
                        loop {
                            let batch = store.claim_due_reminders(now, 5).await.expect("claims");
                            if batch.is_empty() {
                                return mine;
                            }
                            mine.extend(batch.into_iter().map(|(t, r)| (t, r.event_id)));
                        }
                    })
                })
                .collect();
            let mut taken = Vec::new();
            for w in workers {
                taken.extend(w.await.expect("the worker finished"));
            }
            let unique: HashSet<_> = taken.iter().copied().collect();
            assert_eq!(unique.len(), taken.len(), "a reminder was handed out twice");
            assert_eq!(unique, all);
            assert_eq!(store.claim_due_reminders(now, 100).await.unwrap(), vec![]);
        })
        .await;
    }
}

// ---------------------------------------------------------------- data-subject requests

fn erased(counts: &[(String, u64)]) -> u64 {
    counts.iter().map(|(_, n)| n).sum()
}

fn plus_audit(
    mut counts: std::collections::BTreeMap<&'static str, i64>,
) -> std::collections::BTreeMap<&'static str, i64> {
    *counts.get_mut("audit_log").unwrap() += 1;
    *counts.get_mut("outbox").unwrap() += 1;
    counts
}

async fn a_persons_data_exports_whole_and_erases_once_keeping_the_delivery_log(s: &dyn Inspect) {
    let a = seed_tenant(s, "alpha").await;
    let b = seed_tenant(s, "beta").await;
    let (ta, tb) = (a.tenant, b.tenant);
    let member = a.member;
    let other = person();
    enqueue_for(s, ta, &[other], "other's meeting", a.due).await;
    // The member: the seeded notification (in-app queued, e-mail sent), a
    // held digest e-mail and a bounced e-mail whose error names the address.
    let stored = s
        .enqueue(
            ta,
            None,
            vec![
                with_deliveries(
                    member,
                    "digest item",
                    vec![delivery(Channel::Email, DeliveryStatus::Held, a.due)],
                ),
                with_deliveries(
                    member,
                    "bounced",
                    vec![delivery(Channel::Email, DeliveryStatus::Queued, a.due)],
                ),
            ],
        )
        .await
        .unwrap();
    let email = a
        .deliveries
        .iter()
        .find(|d| d.channel == Channel::Email)
        .unwrap();
    s.record_outcome(ta, email.id, Outcome::Sent).await.unwrap();
    let bounced = deliveries(s, ta, by_notification(stored[1].id))
        .await
        .remove(0);
    s.record_outcome(
        ta,
        bounced.id,
        Outcome::Failed {
            error: "550 5.1.1 <teacher@example.org>: no such user".into(),
        },
    )
    .await
    .unwrap();

    // Export: everything of theirs.
    let doc = s.export_person(ta, member).await.unwrap();
    assert_eq!(doc["person_id"], json!(member));
    let inbox_doc = doc["inbox"].as_array().unwrap();
    assert_eq!(inbox_doc.len(), 3, "{doc}");
    assert!(inbox_doc.iter().all(|n| n["person_id"] == json!(member)));
    assert!(
        DateTime::parse_from_rfc3339(inbox_doc[0]["created_at"].as_str().unwrap()).is_ok(),
        "instants are RFC 3339"
    );
    let log = doc["deliveries"].as_array().unwrap();
    assert_eq!(log.len(), 4, "{doc}");
    assert_eq!(
        log.iter()
            .filter(|d| d["address"] == "teacher@example.org")
            .count(),
        3
    );
    assert_eq!(doc["pending_deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(doc["preferences"]["person_id"], json!(member));
    assert_eq!(doc["list_subscriptions"][0]["category"], "newsletters");
    assert!(!doc.to_string().contains("other's meeting"));
    // Another tenant's person is nothing.
    let none = s.export_person(tb, member).await.unwrap();
    for list in [
        "inbox",
        "deliveries",
        "pending_deliveries",
        "list_subscriptions",
    ] {
        assert_eq!(none[list], json!([]), "{list}");
    }
    assert_eq!(none["preferences"], json!(null));

    // Erasing A's person in B changes nothing of B's but records the request.
    let b_counts = s.counts(tb).await;
    let report = s.erase_person(tb, ACTOR, member).await.unwrap();
    assert_eq!(erased(&report), 0, "{report:?}");
    let b_counts = plus_audit(b_counts);
    assert_eq!(s.counts(tb).await, b_counts);
    assert_eq!(inbox(s, tb, b.member, true).await.len(), 1);

    // Erasure in A.
    let a_counts = s.counts(ta).await;
    let other_inbox = inbox(s, ta, other, true).await;
    let other_log = deliveries(
        s,
        ta,
        DeliveryFilter {
            person_id: Some(other),
            ..DeliveryFilter::default()
        },
    )
    .await;
    let report = s.erase_person(ta, ACTOR, member).await.unwrap();
    assert_eq!(
        report,
        vec![
            ("inbox_items".to_string(), 3),
            ("pending_deliveries_cancelled".to_string(), 2),
            ("delivery_addresses".to_string(), 3),
            ("preferences".to_string(), 1),
            ("list_subscriptions".to_string(), 1),
        ]
    );
    let mut expected = plus_audit(a_counts);
    *expected.get_mut("preferences").unwrap() -= 1;
    *expected.get_mut("unsubscribe_tokens").unwrap() -= 1;
    assert_eq!(
        s.counts(ta).await,
        expected,
        "the inbox and log rows are kept"
    );
    // Their inbox is empty of content and archived.
    let items = inbox(s, ta, member, true).await;
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|n| n.title.is_empty()
        && n.body.is_empty()
        && n.link.is_empty()
        && n.email.is_none()
        && n.archived_at.is_some()));
    assert_eq!(inbox(s, ta, member, false).await, vec![]);
    // The log: kept, addresses erased, nothing pending.
    let log = deliveries(
        s,
        ta,
        DeliveryFilter {
            person_id: Some(member),
            ..DeliveryFilter::default()
        },
    )
    .await;
    assert_eq!(log.len(), 4);
    assert!(
        log.iter()
            .all(|d| d.channel == Channel::InApp || d.address.as_deref() == Some("erased"))
    );
    assert!(
        log.iter()
            .all(|d| !matches!(d.status, DeliveryStatus::Queued | DeliveryStatus::Held))
    );
    assert_eq!(
        delivery_of(s, ta, email.id).await.status,
        DeliveryStatus::Sent
    );
    assert!(!format!("{log:?}").contains("teacher@example.org"));
    assert_eq!(s.preferences(ta, &[member]).await.unwrap(), vec![]);
    // The other person of A is untouched.
    assert_eq!(inbox(s, ta, other, true).await, other_inbox);
    assert_eq!(
        deliveries(
            s,
            ta,
            DeliveryFilter {
                person_id: Some(other),
                ..DeliveryFilter::default()
            },
        )
        .await,
        other_log
    );
    // The audit record of the erasure itself.
    let last = s.audit(ta).await.pop().unwrap();
    assert_eq!(
        last,
        Audited {
            action: "person.erased".into(),
            target_id: member.to_string(),
            actor: ACTOR.into(),
        }
    );

    // Idempotent.
    let again = s.erase_person(ta, ACTOR, member).await.unwrap();
    assert_eq!(erased(&again), 0, "{again:?}");
    assert_eq!(s.counts(ta).await, plus_audit(expected));
    assert_eq!(s.counts(tb).await, b_counts);
}

// ---------------------------------------------------------------- retention

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

fn seconds(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A report as `{"category.kind": count}`.
fn report_map(counts: &[Count]) -> std::collections::BTreeMap<String, u64> {
    counts
        .iter()
        .map(|c| (format!("{}.{}", c.category.as_str(), c.kind), c.count))
        .collect()
}

fn expected_report(entries: &[(&str, u64)]) -> std::collections::BTreeMap<String, u64> {
    entries.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

/// What one tenant holds on both sides of a retention cutoff, besides its seed.
struct Aged {
    /// Inbox items created before the cutoff with nothing left to deliver.
    expiring: Vec<Uuid>,
    /// Their delivery log.
    expiring_log: Vec<Uuid>,
    /// Items created before the cutoff with a delivery still queued or held.
    pending: Vec<Uuid>,
    /// An item created a second after the cutoff.
    newer: Uuid,
    old_message: Uuid,
    newer_message: Uuid,
}

const OLD_KEY: &str = "retention-old-key";
const NEWER_KEY: &str = "retention-newer-key";

/// Gives a seeded tenant rows on both sides of `cutoff`: inbox items (with
/// a finished log, none at all, or a delivery still queued or held), cluster
/// messages and idempotency keys.
async fn age(s: &dyn Inspect, seeded: &Seeded, cutoff: DateTime<Utc>) -> Aged {
    let t = seeded.tenant;
    let member = seeded.member;
    let old = cutoff - days(300);
    let item = |title: &str, created_at: DateTime<Utc>, deliveries: Vec<Delivery>| Planned {
        notification: Notification {
            created_at,
            ..notification(member, title)
        },
        deliveries,
    };
    let sent = |channel| delivery(channel, DeliveryStatus::Sent, old);
    let stored = s
        .enqueue(
            t,
            None,
            vec![
                item(
                    "read long ago",
                    old,
                    vec![sent(Channel::InApp), sent(Channel::Email)],
                ),
                item("never delivered", cutoff - seconds(1), vec![]),
                item(
                    "bounced",
                    old,
                    vec![
                        delivery(Channel::Email, DeliveryStatus::Failed, old),
                        delivery(Channel::InApp, DeliveryStatus::Skipped, old),
                    ],
                ),
                item(
                    "e-mail still queued",
                    old,
                    vec![
                        sent(Channel::InApp),
                        delivery(Channel::Email, DeliveryStatus::Queued, old),
                    ],
                ),
                item(
                    "in a digest",
                    old,
                    vec![delivery(Channel::Email, DeliveryStatus::Held, old)],
                ),
                item(
                    "just after",
                    cutoff + seconds(1),
                    vec![sent(Channel::InApp)],
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), 6);
    let mut expiring_log = Vec::new();
    for n in &stored[..3] {
        expiring_log.extend(
            deliveries(s, t, by_notification(n.id))
                .await
                .into_iter()
                .map(|d| d.id),
        );
    }
    assert_eq!(expiring_log.len(), 4);
    let old_message = s
        .record_cluster_message(
            t,
            ACTOR,
            ClusterMessage {
                sent_at: cutoff - seconds(1),
                ..cluster_message(seeded.cluster, "Old news")
            },
        )
        .await
        .unwrap();
    let newer_message = s
        .record_cluster_message(
            t,
            ACTOR,
            ClusterMessage {
                sent_at: cutoff + seconds(1),
                ..cluster_message(seeded.cluster, "Newer news")
            },
        )
        .await
        .unwrap();
    for (key, created_at) in [(OLD_KEY, old), (NEWER_KEY, cutoff + seconds(1))] {
        s.remember_answer(t, key, "request-hash", json!({ "ids": [] }))
            .await
            .unwrap();
        s.backdate_key(t, key, created_at).await;
    }
    Aged {
        expiring: ids(&stored[..3]),
        expiring_log,
        pending: ids(&stored[3..5]),
        newer: stored[5].id,
        old_message: old_message.id,
        newer_message: newer_message.id,
    }
}

/// Everything of a tenant the `notifications` category could touch.
#[derive(Debug, PartialEq)]
struct Holdings {
    counts: std::collections::BTreeMap<&'static str, i64>,
    inbox: Vec<Uuid>,
    log: Vec<Uuid>,
    messages: Vec<Uuid>,
    keys: Vec<bool>,
}

async fn holdings(s: &dyn Inspect, seeded: &Seeded) -> Holdings {
    let t = seeded.tenant;
    let mut keys = Vec::new();
    for key in [seeded.key.as_str(), OLD_KEY, NEWER_KEY] {
        let answer = s.idempotent_answer(t, key, "request-hash").await.unwrap();
        keys.push(answer.is_some());
    }
    Holdings {
        counts: s.counts(t).await,
        inbox: sorted(ids(&inbox(s, t, seeded.member, true).await)),
        log: sorted(
            deliveries(s, t, DeliveryFilter::default())
                .await
                .into_iter()
                .map(|d| d.id),
        ),
        messages: sorted(
            all_pages(5, |page| s.list_cluster_messages(t, seeded.cluster, page))
                .await
                .into_iter()
                .map(|m| m.id),
        ),
        keys,
    }
}

async fn retention_deletes_one_tenants_expired_inbox_log_messages_and_keys_and_nothing_newer(
    s: &dyn Inspect,
) {
    let a = seed_tenant(s, "alpha").await;
    let b = seed_tenant(s, "beta").await;
    let (ta, tb) = (a.tenant, b.tenant);
    let cutoff = (Utc::now() - days(60)).trunc_subsecs(0);
    let aged_a = age(s, &a, cutoff).await;
    age(s, &b, cutoff).await;
    // What is already written goes to the bus, so the trail sees only what
    // retention writes.
    drain(s, &MemoryBus::new()).await;
    let mut trail = Trail::new(s, ta).await;
    let cutoffs = Cutoffs::new([
        (retention::Category::Notifications, cutoff),
        (retention::Category::AuditLog, cutoff),
        (retention::Category::PublishedEvents, cutoff),
        // Not held here: ignored, not reported.
        (retention::Category::StudentWork, cutoff),
    ]);
    let expected = expected_report(&[
        ("notifications.inbox_items", 3),
        ("notifications.deliveries", 4),
        ("notifications.cluster_messages", 1),
        ("notifications.idempotency_keys", 1),
        ("audit_log.audit_records", 0),
        ("published_events.outbox_events", 0),
        ("published_events.processed_events", 0),
    ]);
    let a_before = holdings(s, &a).await;
    let b_before = holdings(s, &b).await;
    let b_audit = s.audit(tb).await;
    assert_eq!(a_before.keys, vec![true, true, true]);

    // A dry run counts what would go and changes nothing, audit included.
    let dry = s.apply_retention(ta, ACTOR, &cutoffs, true).await.unwrap();
    assert_eq!(report_map(&dry), expected, "{dry:?}");
    assert_eq!(dry.len(), expected.len(), "each kind once: {dry:?}");
    assert_eq!(holdings(s, &a).await, a_before, "a dry run changes nothing");
    assert_eq!(s.audit_records(ta, "retention.applied").await, vec![]);
    trail.expect_nothing("a dry run").await;

    // The real run deletes exactly what the dry run counted.
    let applied = s.apply_retention(ta, ACTOR, &cutoffs, false).await.unwrap();
    assert_eq!(report_map(&applied), report_map(&dry));
    let after = holdings(s, &a).await;
    let mut counts = a_before.counts.clone();
    for (table, change) in [
        ("notifications", -3),
        ("deliveries", -4),
        ("cluster_messages", -1),
        ("idempotency_keys", -1),
        ("audit_log", 1),
        ("outbox", 1),
    ] {
        *counts.get_mut(table).unwrap() += change;
    }
    assert_eq!(after.counts, counts);
    // Kept: the seed's item, the older items still being delivered (with
    // their whole log) and the item a second newer than the cutoff.
    let kept_inbox: Vec<Uuid> = a_before
        .inbox
        .iter()
        .copied()
        .filter(|id| !aged_a.expiring.contains(id))
        .collect();
    assert_eq!(kept_inbox.len(), 4);
    assert!(kept_inbox.contains(&a.notification.id) && kept_inbox.contains(&aged_a.newer));
    assert!(aged_a.pending.iter().all(|id| kept_inbox.contains(id)));
    assert_eq!(after.inbox, kept_inbox);
    let kept_log: Vec<Uuid> = a_before
        .log
        .iter()
        .copied()
        .filter(|id| !aged_a.expiring_log.contains(id))
        .collect();
    assert_eq!(after.log, kept_log);
    for id in &aged_a.pending {
        let log = deliveries(s, ta, by_notification(*id)).await;
        assert!(
            log.iter()
                .any(|d| matches!(d.status, DeliveryStatus::Queued | DeliveryStatus::Held)),
            "{log:?}"
        );
    }
    assert_eq!(
        after.messages,
        sorted([a.message.id, aged_a.newer_message]),
        "the old message went, {} among them",
        aged_a.old_message
    );
    assert_eq!(after.keys, vec![true, false, true], "only the old key went");

    // One audit record and its event, naming the tenant, with the counts.
    trail
        .expect(
            "retention",
            &[("retention.applied", ta.0.to_string(), ACTOR)],
            &[("retention.applied", ta.0.to_string())],
        )
        .await;
    let records = s.audit_records(ta, "retention.applied").await;
    assert_eq!(
        records,
        vec![(
            "tenant".to_string(),
            ta.0.to_string(),
            Some(retention::audit_summary(&cutoffs, &applied)),
        )]
    );
    assert_eq!(
        records[0].2.as_ref().unwrap()["counts"]["notifications.deliveries"],
        json!(4)
    );

    // Tenant B: not one row touched, though it holds the same old data.
    assert_eq!(holdings(s, &b).await, b_before);
    assert_eq!(s.audit(tb).await, b_audit);

    // Again: nothing more goes; the run itself is recorded again.
    let again = s.apply_retention(ta, ACTOR, &cutoffs, false).await.unwrap();
    assert_eq!(
        report_map(&again),
        expected_report(&[
            ("notifications.inbox_items", 0),
            ("notifications.deliveries", 0),
            ("notifications.cluster_messages", 0),
            ("notifications.idempotency_keys", 0),
            ("audit_log.audit_records", 0),
            ("published_events.outbox_events", 0),
            ("published_events.processed_events", 0),
        ])
    );
    let mut counts = after.counts.clone();
    *counts.get_mut("audit_log").unwrap() += 1;
    *counts.get_mut("outbox").unwrap() += 1;
    let second = holdings(s, &a).await;
    assert_eq!(second.counts, counts);
    assert_eq!((second.inbox, second.log), (after.inbox, after.log));
    assert_eq!(s.audit_records(ta, "retention.applied").await.len(), 2);

    // B's own turn finds all of B's old rows still there.
    let b_dry = s.apply_retention(tb, ACTOR, &cutoffs, true).await.unwrap();
    assert_eq!(report_map(&b_dry), expected);
    trail.stop().await;
}

async fn retention_expires_audit_records_and_published_events_and_keeps_its_own_record(
    s: &dyn Inspect,
) {
    let a = seed_tenant(s, "alpha").await;
    let b = seed_tenant(s, "beta").await;
    let (ta, tb) = (a.tenant, b.tenant);
    let published = drain(s, &MemoryBus::new()).await;
    assert!(published > 0);
    // A cutoff in the near future (unchecked at the store): every record and
    // published event written so far is older.
    let cutoff = (Utc::now() + seconds(2)).trunc_subsecs(0);
    let cutoffs = Cutoffs::new([
        (retention::Category::AuditLog, cutoff),
        (retention::Category::PublishedEvents, cutoff),
    ]);
    let a_counts = s.counts(ta).await;
    let b_counts = s.counts(tb).await;
    let b_audit = s.audit(tb).await;
    let (audited, events, handled) = (
        a_counts["audit_log"],
        a_counts["outbox"],
        a_counts["processed_events"],
    );
    assert!(audited > 0 && events > 0 && handled > 0, "{a_counts:?}");
    let expected = expected_report(&[
        ("audit_log.audit_records", audited as u64),
        ("published_events.outbox_events", events as u64),
        ("published_events.processed_events", handled as u64),
    ]);

    let dry = s.apply_retention(ta, ACTOR, &cutoffs, true).await.unwrap();
    assert_eq!(
        report_map(&dry),
        expected,
        "no notifications cutoff, no such kinds"
    );
    assert_eq!(s.counts(ta).await, a_counts, "a dry run changes nothing");

    let applied = s.apply_retention(ta, ACTOR, &cutoffs, false).await.unwrap();
    assert_eq!(report_map(&applied), expected);
    // Left: the run's own audit record and its (unpublished) event.
    let mut counts = a_counts.clone();
    counts.insert("audit_log", 1);
    counts.insert("outbox", 1);
    counts.insert("processed_events", 0);
    assert_eq!(s.counts(ta).await, counts);
    assert_eq!(
        s.audit(ta).await,
        vec![Audited {
            action: "retention.applied".into(),
            target_id: ta.0.to_string(),
            actor: ACTOR.into(),
        }]
    );
    assert_eq!(s.counts(tb).await, b_counts);
    assert_eq!(s.audit(tb).await, b_audit);
}
