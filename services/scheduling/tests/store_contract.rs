//! The contract of [`SchedulingStore`]: one suite, run against PostgreSQL (as
//! the non-owner app role, under row-level security) and SQLite (the embedded
//! mode). Every check is written once, against `&dyn Inspect` (the store
//! plus a look at its rows); the `contract!` macro turns each into a
//! `postgres::<name>` and a `sqlite::<name>` test, each on a fresh database.

mod support;

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use collegium_scheduling::domain::*;
use platform::{
    auth::TenantId,
    error::Result,
    events::{
        EventBus, EventEnvelope, EventHandler, SubscribeOptions, Subscription, memory::MemoryBus,
    },
    page::Page,
    retention::{self, Category, Count, Cutoffs},
};
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
    venues_are_kept_listed_and_paged,
    events_round_trip_and_list_in_start_order_with_filters,
    instants_are_kept_in_whole_seconds_and_range_filters_agree,
    a_venue_is_never_double_booked_within_its_buffer,
    capacity_cannot_drop_below_the_accepted_and_growth_promotes_in_order,
    the_waiting_list_keeps_its_order_and_a_freed_seat_goes_to_the_longest_waiting,
    answers_to_draft_cancelled_or_started_events_are_refused,
    approval_required_registrations_wait_for_the_owner,
    invitations_are_idempotent_and_calendars_show_what_a_person_answered,
    accepted_events_that_overlap_are_found_for_clash_warnings,
    attendance_is_recorded_from_an_hour_before_the_start_and_answers_who_attended,
    claims_need_attendance_one_open_claim_and_a_reason_to_reject,
    feedback_is_for_attendees_once_and_read_without_names,
    rule_settings_materials_and_calendar_feeds,
    every_mutation_writes_its_audit_record_and_outbox_event,
    tenants_never_see_or_touch_each_others_rows,
    a_persons_data_is_exported_whole_and_only_in_their_tenant,
    erasure_blanks_free_text_keeps_attendance_and_is_idempotent,
    erasure_scrubs_the_persons_claim_text_from_audit_snapshots_only,
    retention_expires_one_tenants_old_feedback_and_decided_claims_only,
    retention_leaves_categories_without_a_cutoff_alone,
);

fn filter() -> EventFilter {
    EventFilter::default()
}

async fn list_all(s: &dyn Inspect, t: TenantId, f: &EventFilter, size: u32) -> Vec<Uuid> {
    ids(&all_pages(size, |page| s.list_events(t, f, page)).await)
}

async fn status_of(s: &dyn Inspect, t: TenantId, event: Uuid, person: Uuid) -> Option<RsvpStatus> {
    s.get_rsvp(t, event, person)
        .await
        .expect("get_rsvp")
        .map(|r| r.status)
}

async fn waiting(s: &dyn Inspect, t: TenantId, event: Uuid) -> Vec<Rsvp> {
    all_pages(1, |page| {
        s.list_rsvps(t, event, Some(RsvpStatus::Waitlisted), page)
    })
    .await
}

fn persons(rsvps: &[Rsvp]) -> Vec<Uuid> {
    rsvps.iter().map(|r| r.person_id).collect()
}

async fn counts_of(s: &dyn Inspect, t: TenantId, event: Uuid) -> SeatCounts {
    let counts = s.seat_counts(t, &[event]).await.expect("seat counts");
    assert_eq!(counts.len(), 1);
    counts[0].1
}

/// The event with a change applied, for `update_events`.
fn changed(e: &Event, change: impl FnOnce(&mut Event)) -> Event {
    let mut e = e.clone();
    change(&mut e);
    e
}

async fn update_one(s: &dyn Inspect, t: TenantId, action: &str, e: Event) -> Result<Event> {
    s.update_events(t, ACTOR, action, None, vec![e])
        .await
        .map(|mut v| v.remove(0))
}

async fn get_one(s: &dyn Inspect, t: TenantId, id: Uuid) -> Event {
    s.get_events(t, &[id]).await.expect("get_events").remove(0)
}

// ------------------------------------------------------------------ venues

async fn venues_are_kept_listed_and_paged(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let hall = create_venue(s, t, venue("  Main Hall ", 40, 15)).await;
    assert!(!hall.id.is_nil());
    assert_eq!(
        (
            hall.name.as_str(),
            hall.address.as_str(),
            hall.capacity,
            hall.buffer_minutes
        ),
        ("Main Hall", "Main Hall , 1 High Street", 40, 15)
    );
    let mut created = vec![hall.clone()];
    for i in 0..4 {
        created.push(create_venue(s, t, venue(&format!("Room {i}"), 10 + i, 0)).await);
    }
    created.sort_by_key(|v| v.id);
    assert_eq!(
        s.get_venues(t, &[hall.id, Uuid::now_v7(), hall.id])
            .await
            .unwrap(),
        vec![hall.clone()]
    );
    assert_eq!(
        all_pages(2, |page| s.list_venues(t, page)).await,
        created,
        "every venue, in id order, two at a time"
    );

    let moved = s
        .update_venue(
            t,
            ACTOR,
            hall.id,
            VenuePatch {
                name: Some("Great Hall".into()),
                capacity: Some(60),
                ..VenuePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        moved,
        Venue {
            name: "Great Hall".into(),
            capacity: 60,
            ..hall.clone()
        }
    );
    assert_eq!(s.get_venues(t, &[hall.id]).await.unwrap(), vec![moved]);
    expect_not_found(
        s.update_venue(t, ACTOR, Uuid::now_v7(), VenuePatch::default())
            .await,
    );
    expect_conflict(s.create_venue(t, ACTOR, hall.clone()).await, "id");
}

// ------------------------------------------------------------------ events

async fn events_round_trip_and_list_in_start_order_with_filters(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let cluster = Uuid::now_v7();
    let hall = create_venue(s, t, venue("Hall", 50, 0)).await;
    let session = Event {
        kind: EventKind::ScoringSession,
        cluster_id: Some(cluster),
        venue_id: Some(hall.id),
        capacity: 25,
        time_zone: "America/Chicago".into(),
        online_url: Some("https://meet.example.org/s".into()),
        ..event("Scoring session", at(6, 10, 14, 0), 6)
    };
    let training = Event {
        kind: EventKind::ScoringTraining,
        cluster_id: Some(cluster),
        training_hours: 6,
        prepares_for_event_id: Some(session.id),
        approval_required: true,
        ..event("Scoring training", at(6, 1, 9, 0), 6)
    };
    // Created in one call, the training before the session it refers to.
    let created = s
        .create_events(t, ACTOR, vec![training.clone(), session.clone()])
        .await
        .unwrap();
    assert_eq!(ids(&created), [training.id, session.id]);
    for (input, stored) in [(&training, &created[0]), (&session, &created[1])] {
        assert_eq!(
            stored,
            &Event {
                created_at: stored.created_at,
                updated_at: stored.updated_at,
                ..input.clone()
            }
        );
        assert_eq!(stored.created_at, stored.updated_at);
        assert!((Utc::now() - stored.created_at).num_seconds() < 60);
    }
    let mut by_id = created.clone();
    by_id.sort_by_key(|e| e.id);
    assert_eq!(
        s.get_events(t, &[session.id, training.id, Uuid::now_v7()])
            .await
            .unwrap(),
        by_id,
        "get_events returns what create_events returned, in id order"
    );

    let meeting = create_one(s, t, event("Network meeting", at(3, 5, 16, 0), 2)).await;
    let draft = create_one(
        s,
        t,
        Event {
            status: EventStatus::Draft,
            ..event("Draft meeting", at(4, 2, 16, 0), 2)
        },
    )
    .await;
    let cancelled = create_one(
        s,
        t,
        Event {
            status: EventStatus::Cancelled,
            cluster_id: Some(cluster),
            ..event("Cancelled meeting", at(5, 7, 16, 0), 2)
        },
    )
    .await;
    let older = create_one(
        s,
        t,
        Event {
            academic_year: 2028,
            kind: EventKind::StudyGroup,
            ..event("Study group", at(1, 15, 17, 0), 1)
        },
    )
    .await;

    // Start order (not creation order), drafts and cancellations left out by default.
    let published = vec![older.id, meeting.id, training.id, session.id];
    assert_eq!(list_all(s, t, &filter(), 50).await, published);
    assert_eq!(list_all(s, t, &filter(), 1).await, published);
    assert_eq!(list_all(s, t, &filter(), 3).await, published);
    let everything = EventFilter {
        include_drafts: true,
        include_cancelled: true,
        ..filter()
    };
    assert_eq!(
        list_all(s, t, &everything, 2).await,
        [
            older.id,
            meeting.id,
            draft.id,
            cancelled.id,
            training.id,
            session.id
        ]
    );
    let f = EventFilter {
        include_drafts: true,
        ..filter()
    };
    assert!(list_all(s, t, &f, 50).await.contains(&draft.id));
    let f = EventFilter {
        cluster_id: Some(cluster),
        include_cancelled: true,
        ..filter()
    };
    assert_eq!(
        list_all(s, t, &f, 50).await,
        [cancelled.id, training.id, session.id]
    );
    let f = EventFilter {
        kind: Some(EventKind::ScoringTraining),
        ..filter()
    };
    assert_eq!(list_all(s, t, &f, 50).await, [training.id]);
    let f = EventFilter {
        academic_year: Some(2028),
        ..filter()
    };
    assert_eq!(list_all(s, t, &f, 50).await, [older.id]);
    let f = EventFilter {
        from: Some(at(3, 5, 16, 0)),
        to: Some(at(6, 10, 14, 0)),
        ..everything.clone()
    };
    assert_eq!(
        list_all(s, t, &f, 2).await,
        [meeting.id, draft.id, cancelled.id, training.id],
        "events starting in [from, to)"
    );

    // Only the events a person is invited to or answered.
    let someone = person();
    s.invite(t, ACTOR, meeting.id, &[someone]).await.unwrap();
    accept(s, t, session.id, someone).await;
    let f = EventFilter {
        person_id: Some(someone),
        ..filter()
    };
    assert_eq!(list_all(s, t, &f, 1).await, [meeting.id, session.id]);

    // A series: every occurrence, in start order.
    let series_id = Uuid::now_v7();
    let occurrences: Vec<Event> = [at(9, 1, 16, 0), at(10, 6, 16, 0), at(11, 3, 16, 0)]
        .into_iter()
        .map(|start| Event {
            kind: EventKind::StudyGroup,
            series_id: Some(series_id),
            recurrence_id: Some(start),
            series_start: Some(at(9, 1, 16, 0)),
            rrule: Some("FREQ=MONTHLY;BYDAY=1TU;COUNT=3".into()),
            ..event("Study group", start, 1)
        })
        .collect();
    let mut reversed = occurrences.clone();
    reversed.reverse();
    s.create_events(t, ACTOR, reversed).await.unwrap();
    let series = s.series(t, series_id).await.unwrap();
    assert_eq!(ids(&series), ids(&occurrences));
    assert_eq!(
        series[2].rrule.as_deref(),
        Some("FREQ=MONTHLY;BYDAY=1TU;COUNT=3")
    );
    assert_eq!(series[1].recurrence_id, Some(at(10, 6, 16, 0)));
    assert_eq!(s.series(t, Uuid::now_v7()).await.unwrap(), vec![]);
    // Several series in one read: each whole, in start order; unknown and
    // repeated ids add nothing.
    let read = s
        .series_occurrences(t, &[Uuid::now_v7(), series_id, series_id])
        .await
        .unwrap();
    assert_eq!(read, series);
    assert_eq!(s.series_occurrences(t, &[]).await.unwrap(), vec![]);

    // Seat counts: zero for events nobody answered, nothing for unknown ids.
    assert_eq!(
        s.seat_counts(t, &[meeting.id, session.id, Uuid::now_v7()])
            .await
            .unwrap(),
        sorted_counts(vec![
            (meeting.id, SeatCounts::default()),
            (
                session.id,
                SeatCounts {
                    accepted: 1,
                    waitlisted: 0
                }
            ),
        ])
    );

    // A duplicate id or a missing reference writes nothing.
    let before = s.counts(t).await;
    expect_conflict(
        s.create_events(
            t,
            ACTOR,
            vec![event("New", at(8, 1, 9, 0), 1), meeting.clone()],
        )
        .await,
        "id",
    );
    let e = event("Twice", at(8, 1, 9, 0), 1);
    expect_invalid(
        s.create_events(t, ACTOR, vec![e.clone(), e]).await,
        &["events"],
    );
    expect_invalid(
        s.create_events(
            t,
            ACTOR,
            vec![Event {
                prepares_for_event_id: Some(Uuid::now_v7()),
                ..event("Training", at(8, 1, 9, 0), 3)
            }],
        )
        .await,
        &["prepares_for_event_id"],
    );
    expect_not_found(update_one(s, t, "event.changed", event("Unknown", at(8, 1, 9, 0), 1)).await);
    assert_eq!(s.counts(t).await, before, "the refusals wrote nothing");
    assert_eq!(s.create_events(t, ACTOR, vec![]).await.unwrap(), vec![]);
}

fn sorted_counts(mut v: Vec<(Uuid, SeatCounts)>) -> Vec<(Uuid, SeatCounts)> {
    v.sort_by_key(|(id, _)| *id);
    v
}

async fn instants_are_kept_in_whole_seconds_and_range_filters_agree(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let start = at(5, 1, 10, 0);
    let ms = chrono::Duration::milliseconds;
    let us = chrono::Duration::microseconds;
    // Stored in whole seconds, whatever fraction came in.
    let e = create_one(
        s,
        t,
        Event {
            ends_at: start + chrono::Duration::hours(2) + ms(999),
            recurrence_id: Some(start + us(250)),
            ..event(
                "Fractional",
                start + chrono::Duration::nanoseconds(123_456_789),
                0,
            )
        },
    )
    .await;
    assert_eq!(
        (e.starts_at, e.ends_at, e.recurrence_id),
        (start, start + chrono::Duration::hours(2), Some(start))
    );
    assert_eq!(e.created_at.timestamp_subsec_nanos(), 0);
    assert_eq!(
        get_one(s, t, e.id).await,
        e,
        "read back exactly as returned"
    );
    let next = create_one(
        s,
        t,
        event("A second later", start + chrono::Duration::seconds(1), 1),
    )
    .await;

    // Bounds with fractions of every width compare as instants on both
    // backends (SQLite compares the stored text).
    let starting = |from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>| EventFilter {
        from,
        to,
        ..filter()
    };
    for (from, to, expected) in [
        (Some(start), None, vec![e.id, next.id]),
        (Some(start - us(1)), None, vec![e.id, next.id]),
        (Some(start + us(1)), None, vec![next.id]),
        (Some(start + ms(1)), None, vec![next.id]),
        (Some(start + ms(500)), None, vec![next.id]),
        (Some(start + ms(999) + us(999)), None, vec![next.id]),
        (
            Some(start + chrono::Duration::seconds(1)),
            None,
            vec![next.id],
        ),
        (
            Some(start + chrono::Duration::seconds(1) + us(1)),
            None,
            vec![],
        ),
        (None, Some(start), vec![]),
        (None, Some(start + us(1)), vec![e.id]),
        (None, Some(start + ms(500)), vec![e.id]),
        (None, Some(start + chrono::Duration::seconds(1)), vec![e.id]),
        (
            None,
            Some(start + chrono::Duration::seconds(1) + ms(10)),
            vec![e.id, next.id],
        ),
        (Some(start + ms(500)), Some(start + ms(1500)), vec![next.id]),
    ] {
        assert_eq!(
            list_all(s, t, &starting(from, to), 10).await,
            expected,
            "from {from:?} to {to:?}"
        );
    }

    // The same for overlap windows and calendars.
    let who = person();
    accept(s, t, e.id, who).await;
    let end = e.ends_at;
    for (from, to, found) in [
        (start - ms(1), start, false),
        (start - ms(1), start + us(1), true),
        (end - us(1), end + ms(1), true),
        (end, end + ms(1), false),
        (end + us(1), end + ms(1), false),
    ] {
        let clashing = s.accepted_overlapping(t, who, from, to).await.unwrap();
        assert_eq!(!clashing.is_empty(), found, "[{from}, {to})");
    }
    for (from, found) in [
        (end - ms(1), true),
        (end - us(1), true),
        (end, false),
        (end + us(1), false),
    ] {
        let calendar = s.calendar_events(t, who, from).await.unwrap();
        assert_eq!(!calendar.is_empty(), found, "calendar from {from}");
    }
}

// ------------------------------------------------------------------ venues booked

async fn a_venue_is_never_double_booked_within_its_buffer(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    // 15 minutes kept free between two bookings (domain::overlap decides).
    let hall = create_venue(s, t, venue("Hall", 40, 15)).await;
    let annex = create_venue(s, t, venue("Annex", 40, 0)).await;
    let at_hall = |title: &str, start: DateTime<Utc>, minutes: i64| Event {
        venue_id: Some(hall.id),
        ends_at: start + chrono::Duration::minutes(minutes),
        ..event(title, start, 0)
    };
    let a = create_one(s, t, at_hall("Training A", at(5, 1, 10, 0), 120)).await;
    let before = s.counts(t).await;

    let message = expect_conflict(
        s.create_events(t, ACTOR, vec![at_hall("Too close", at(5, 1, 12, 10), 50)])
            .await,
        "venue_id",
    );
    // London is on summer time in May: 10:00 UTC is 11:00 there.
    assert_eq!(
        message,
        "venue_id: Hall is booked from 2030-05-01 11:00 to 2030-05-01 13:00 (Europe/London) \
         by \"Training A\""
    );
    expect_conflict(
        s.create_events(t, ACTOR, vec![at_hall("Inside", at(5, 1, 10, 30), 30)])
            .await,
        "venue_id",
    );
    expect_conflict(
        s.create_events(t, ACTOR, vec![at_hall("Early", at(5, 1, 8, 0), 110)])
            .await,
        "venue_id",
    );
    // A series is refused as a whole when one occurrence clashes, and so is
    // a series whose occurrences clash with each other.
    expect_conflict(
        s.create_events(
            t,
            ACTOR,
            vec![
                at_hall("Series 1", at(4, 24, 10, 0), 60),
                at_hall("Series 2", at(5, 1, 11, 0), 60),
            ],
        )
        .await,
        "venue_id",
    );
    let clash = expect_conflict(
        s.create_events(
            t,
            ACTOR,
            vec![
                at_hall("Twin 1", at(7, 1, 10, 0), 60),
                at_hall("Twin 2", at(7, 1, 11, 10), 60),
            ],
        )
        .await,
        "venue_id",
    );
    assert!(clash.contains("Twin"), "{clash}");
    assert_eq!(s.counts(t).await, before, "refused bookings wrote nothing");

    // Exactly the buffer apart fits; so do other venues, no venue, and a
    // venue without a buffer with touching bookings.
    let c = create_one(s, t, at_hall("Meeting C", at(5, 1, 12, 15), 60)).await;
    let d = create_one(s, t, at_hall("Meeting D", at(5, 1, 9, 0), 45)).await;
    let elsewhere = create_one(
        s,
        t,
        Event {
            venue_id: Some(annex.id),
            ..event("Annex meeting", at(5, 1, 10, 0), 2)
        },
    )
    .await;
    create_one(
        s,
        t,
        Event {
            venue_id: Some(annex.id),
            ..event("Annex next", at(5, 1, 12, 0), 1)
        },
    )
    .await;
    create_one(s, t, event("Online", at(5, 1, 10, 0), 2)).await;
    assert_eq!(elsewhere.venue_id, Some(annex.id));

    // Moving onto a booked slot is refused and changes nothing; keeping
    // one's own slot is no clash with oneself.
    expect_conflict(
        update_one(
            s,
            t,
            "event.changed",
            changed(&c, |e| {
                e.starts_at = at(5, 1, 11, 0);
                e.ends_at = at(5, 1, 12, 0);
            }),
        )
        .await,
        "venue_id",
    );
    assert_eq!(get_one(s, t, c.id).await, c);
    let renamed = update_one(
        s,
        t,
        "event.changed",
        changed(&c, |e| e.title = "Meeting C'".into()),
    )
    .await
    .unwrap();
    assert_eq!(
        (renamed.title.as_str(), renamed.sequence),
        ("Meeting C'", 1)
    );

    // A cancelled booking frees the slot, and cannot come back over a new one.
    let cancelled = update_one(
        s,
        t,
        "event.cancelled",
        changed(&a, |e| e.status = EventStatus::Cancelled),
    )
    .await
    .unwrap();
    let replacement = create_one(s, t, at_hall("Training A'", at(5, 1, 10, 0), 90)).await;
    expect_conflict(
        update_one(
            s,
            t,
            "event.published",
            changed(&cancelled, |e| e.status = EventStatus::Published),
        )
        .await,
        "venue_id",
    );
    // Swapping two bookings in one call checks their new slots together.
    let swapped = s
        .update_events(
            t,
            ACTOR,
            "event.changed",
            None,
            vec![
                changed(&d, |e| {
                    e.starts_at = replacement.starts_at;
                    e.ends_at = replacement.ends_at;
                }),
                changed(&replacement, |e| {
                    e.starts_at = d.starts_at;
                    e.ends_at = d.ends_at;
                }),
            ],
        )
        .await
        .unwrap();
    assert_eq!(swapped[0].starts_at, at(5, 1, 10, 0));

    expect_invalid(
        s.create_events(
            t,
            ACTOR,
            vec![Event {
                venue_id: Some(Uuid::now_v7()),
                ..event("Nowhere", at(8, 1, 9, 0), 1)
            }],
        )
        .await,
        &["venue_id"],
    );
}

// ------------------------------------------------------------------ seats

async fn capacity_cannot_drop_below_the_accepted_and_growth_promotes_in_order(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let e = create_one(
        s,
        t,
        Event {
            capacity: 2,
            ..event("Small meeting", at(5, 1, 10, 0), 2)
        },
    )
    .await;
    let p = people(4);
    let answers = [
        accept(s, t, e.id, p[0]).await,
        accept(s, t, e.id, p[1]).await,
        accept(s, t, e.id, p[3]).await,
        accept(s, t, e.id, p[2]).await,
    ];
    use RsvpStatus::*;
    assert_eq!(answers, [Accepted, Accepted, Waitlisted, Waitlisted]);
    assert_eq!(persons(&waiting(s, t, e.id).await), [p[3], p[2]]);

    let before = s.counts(t).await;
    expect_failed_precondition(
        update_one(s, t, "event.changed", changed(&e, |e| e.capacity = 1)).await,
        &["capacity", "1", "2"],
    );
    assert_eq!(get_one(s, t, e.id).await, e, "the event is unchanged");
    assert_eq!(s.counts(t).await, before, "nothing written");

    // One more seat: the longest-waiting takes it.
    let grown = update_one(s, t, "event.changed", changed(&e, |e| e.capacity = 3))
        .await
        .unwrap();
    assert_eq!((grown.capacity, grown.sequence), (3, 1));
    assert_eq!(status_of(s, t, e.id, p[3]).await, Some(Accepted));
    let promoted = s.get_rsvp(t, e.id, p[3]).await.unwrap().unwrap();
    assert_eq!(promoted.waitlisted_at, None);
    assert_eq!(persons(&waiting(s, t, e.id).await), [p[2]]);
    // No limit at all: everyone waiting moves up.
    let open = update_one(s, t, "event.changed", changed(&grown, |e| e.capacity = 0))
        .await
        .unwrap();
    assert_eq!(open.sequence, 2);
    assert_eq!(
        counts_of(s, t, e.id).await,
        SeatCounts {
            accepted: 4,
            waitlisted: 0
        }
    );
    // Cancelling checks no capacity.
    let cancelled = update_one(
        s,
        t,
        "event.cancelled",
        changed(&open, |e| {
            e.capacity = 1;
            e.status = EventStatus::Cancelled;
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        (cancelled.status, cancelled.sequence),
        (EventStatus::Cancelled, 3)
    );

    // The venue's capacity limits too, and growing it promotes.
    let room = create_venue(s, t, venue("Room", 2, 0)).await;
    let e = create_one(
        s,
        t,
        Event {
            venue_id: Some(room.id),
            capacity: 10,
            ..event("In a small room", at(6, 1, 10, 0), 2)
        },
    )
    .await;
    let q = people(3);
    for person in &q {
        accept(s, t, e.id, *person).await;
    }
    assert_eq!(persons(&waiting(s, t, e.id).await), [q[2]]);
    expect_failed_precondition(
        s.update_venue(
            t,
            ACTOR,
            room.id,
            VenuePatch {
                capacity: Some(1),
                ..VenuePatch::default()
            },
        )
        .await,
        &["capacity", "2"],
    );
    assert_eq!(s.get_venues(t, &[room.id]).await.unwrap()[0].capacity, 2);
    s.update_venue(
        t,
        ACTOR,
        room.id,
        VenuePatch {
            capacity: Some(3),
            ..VenuePatch::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(status_of(s, t, e.id, q[2]).await, Some(Accepted));
    // A move into a smaller room is a capacity change too.
    let closet = create_venue(s, t, venue("Closet", 1, 0)).await;
    expect_failed_precondition(
        update_one(
            s,
            t,
            "event.changed",
            changed(&e, |e| e.venue_id = Some(closet.id)),
        )
        .await,
        &["capacity", "3"],
    );
}

async fn the_waiting_list_keeps_its_order_and_a_freed_seat_goes_to_the_longest_waiting(
    s: &dyn Inspect,
) {
    use RsvpStatus::*;
    let t = TenantId::new_v7();
    let e = create_one(
        s,
        t,
        Event {
            capacity: 2,
            ..event("Popular meeting", at(5, 1, 10, 0), 2)
        },
    )
    .await;
    // Ids in reverse of answering order, so id order is not waiting order.
    let mut p = people(5);
    p.reverse();
    for person in &p {
        accept(s, t, e.id, *person).await;
    }
    let queue = waiting(s, t, e.id).await;
    assert_eq!(persons(&queue), p[2..]);
    let times: Vec<DateTime<Utc>> = queue.iter().map(|r| r.waitlisted_at.unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert_eq!(
        counts_of(s, t, e.id).await,
        SeatCounts {
            accepted: 2,
            waitlisted: 3
        }
    );

    // Accepting again keeps a seat or a place, and writes nothing.
    let before = s.counts(t).await;
    let again = s
        .respond(t, ACTOR, e.id, p[0], Accepted, answered_at())
        .await
        .unwrap();
    assert_eq!((again.rsvp.status, again.promoted.len()), (Accepted, 0));
    let again = s
        .respond(t, ACTOR, e.id, p[3], Accepted, answered_at())
        .await
        .unwrap();
    assert_eq!(again.rsvp, queue[1], "the same place in the queue");
    assert_eq!(s.counts(t).await, before);

    // A seat holder declines: the longest-waiting gets the seat.
    let out = s
        .respond(t, ACTOR, e.id, p[0], Declined, answered_at())
        .await
        .unwrap();
    assert_eq!(
        (out.rsvp.status, out.promoted.clone()),
        (Declined, vec![p[2]])
    );
    assert_eq!(out.rsvp.waitlisted_at, None);
    assert_eq!(status_of(s, t, e.id, p[2]).await, Some(Accepted));
    // Someone waiting declines: they leave the queue, nobody moves.
    let out = s
        .respond(t, ACTOR, e.id, p[3], Declined, answered_at())
        .await
        .unwrap();
    assert_eq!(out.promoted, Vec::<Uuid>::new());
    assert_eq!(persons(&waiting(s, t, e.id).await), [p[4]]);
    // A seat holder turns tentative: that frees the seat too.
    let out = s
        .respond(t, ACTOR, e.id, p[1], Tentative, answered_at())
        .await
        .unwrap();
    assert_eq!((out.rsvp.status, out.promoted), (Tentative, vec![p[4]]));
    // Declining twice changes nothing.
    let before = s.counts(t).await;
    s.respond(t, ACTOR, e.id, p[0], Declined, answered_at())
        .await
        .unwrap();
    assert_eq!(s.counts(t).await, before);
    // Coming back to a full event joins the end of the queue.
    assert_eq!(accept(s, t, e.id, p[0]).await, Waitlisted);
    assert_eq!(accept(s, t, e.id, p[3]).await, Waitlisted);
    assert_eq!(persons(&waiting(s, t, e.id).await), [p[0], p[3]]);

    // Lists: everyone by person id; by status; paged.
    let everyone = all_pages(2, |page| s.list_rsvps(t, e.id, None, page)).await;
    assert_eq!(persons(&everyone), sorted(p.clone()));
    let accepted = all_pages(1, |page| s.list_rsvps(t, e.id, Some(Accepted), page)).await;
    assert_eq!(persons(&accepted), sorted([p[2], p[4]]));
    assert!(
        accepted
            .iter()
            .all(|r| r.status == Accepted && r.event_id == e.id)
    );
    assert_eq!(
        counts_of(s, t, e.id).await,
        SeatCounts {
            accepted: 2,
            waitlisted: 2
        }
    );
    expect_not_found(s.list_rsvps(t, Uuid::now_v7(), None, first_page()).await);
    assert_eq!(s.get_rsvp(t, e.id, Uuid::now_v7()).await.unwrap(), None);
}

async fn answers_to_draft_cancelled_or_started_events_are_refused(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let draft = create_one(
        s,
        t,
        Event {
            status: EventStatus::Draft,
            ..event("Draft", at(5, 1, 10, 0), 2)
        },
    )
    .await;
    let cancelled = create_one(
        s,
        t,
        Event {
            status: EventStatus::Cancelled,
            ..event("Cancelled", at(5, 2, 10, 0), 2)
        },
    )
    .await;
    let open = create_one(s, t, event("Open", at(5, 3, 10, 0), 2)).await;
    let who = person();
    let before = s.counts(t).await;
    let answer = |event: Uuid, answer: RsvpStatus, now: DateTime<Utc>| {
        s.respond(t, ACTOR, event, who, answer, now)
    };
    expect_failed_precondition(
        answer(draft.id, RsvpStatus::Accepted, answered_at()).await,
        &["not published"],
    );
    expect_failed_precondition(
        answer(cancelled.id, RsvpStatus::Accepted, answered_at()).await,
        &["cancelled"],
    );
    expect_failed_precondition(
        answer(cancelled.id, RsvpStatus::Declined, answered_at()).await,
        &["cancelled"],
    );
    expect_failed_precondition(
        answer(open.id, RsvpStatus::Accepted, open.starts_at).await,
        &["already started"],
    );
    expect_failed_precondition(
        answer(open.id, RsvpStatus::Declined, open.ends_at).await,
        &["already started"],
    );
    for not_an_answer in [
        RsvpStatus::Invited,
        RsvpStatus::Waitlisted,
        RsvpStatus::PendingApproval,
    ] {
        expect_invalid(
            answer(open.id, not_an_answer, answered_at()).await,
            &["answer"],
        );
    }
    expect_not_found(answer(Uuid::now_v7(), RsvpStatus::Accepted, answered_at()).await);
    assert_eq!(s.counts(t).await, before, "nothing written");
    // A second before the start is still in time.
    let out = answer(
        open.id,
        RsvpStatus::Accepted,
        open.starts_at - chrono::Duration::seconds(1),
    )
    .await
    .unwrap();
    assert_eq!(out.rsvp.status, RsvpStatus::Accepted);
}

async fn approval_required_registrations_wait_for_the_owner(s: &dyn Inspect) {
    use RsvpStatus::*;
    let t = TenantId::new_v7();
    let e = create_one(
        s,
        t,
        Event {
            capacity: 1,
            approval_required: true,
            ..event("Leader training", at(5, 1, 10, 0), 6)
        },
    )
    .await;
    let p = people(3);
    for person in &p {
        assert_eq!(accept(s, t, e.id, *person).await, PendingApproval);
    }
    assert_eq!(counts_of(s, t, e.id).await, SeatCounts::default());
    let decide =
        |person: Uuid, approve: bool| s.decide_registration(t, ACTOR, e.id, person, approve);
    assert_eq!(decide(p[0], true).await.unwrap().rsvp.status, Accepted);
    assert_eq!(decide(p[1], true).await.unwrap().rsvp.status, Waitlisted);
    assert_eq!(decide(p[2], false).await.unwrap().rsvp.status, Declined);
    let before = s.counts(t).await;
    expect_failed_precondition(decide(p[0], true).await, &["not awaiting approval"]);
    expect_failed_precondition(decide(p[2], true).await, &["not awaiting approval"]);
    expect_not_found(decide(person(), true).await);
    expect_not_found(
        s.decide_registration(t, ACTOR, Uuid::now_v7(), p[0], true)
            .await,
    );
    assert_eq!(s.counts(t).await, before);
    // A seat freed by an approved person goes to the approved person waiting.
    let out = s
        .respond(t, ACTOR, e.id, p[0], Declined, answered_at())
        .await
        .unwrap();
    assert_eq!(out.promoted, vec![p[1]]);
}

async fn invitations_are_idempotent_and_calendars_show_what_a_person_answered(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let (a, b, c) = (person(), person(), person());
    let invited = create_one(s, t, event("Invited", at(5, 1, 10, 0), 2)).await;
    let accepted = create_one(s, t, event("Accepted, then cancelled", at(5, 2, 10, 0), 2)).await;
    let declined = create_one(s, t, event("Declined", at(5, 3, 10, 0), 2)).await;
    let tentative = create_one(s, t, event("Tentative", at(5, 4, 10, 0), 2)).await;
    let draft = create_one(
        s,
        t,
        Event {
            status: EventStatus::Draft,
            ..event("Draft", at(5, 5, 10, 0), 2)
        },
    )
    .await;
    let unrelated = create_one(s, t, event("Unrelated", at(5, 6, 10, 0), 2)).await;

    assert_eq!(
        s.invite(t, ACTOR, invited.id, &[a, b]).await.unwrap(),
        (2, 0)
    );
    assert_eq!(
        s.invite(t, ACTOR, invited.id, &[a, b, c, c]).await.unwrap(),
        (1, 2)
    );
    let before = s.counts(t).await;
    assert_eq!(s.invite(t, ACTOR, invited.id, &[a]).await.unwrap(), (0, 1));
    assert_eq!(s.counts(t).await, before, "nothing new, nothing written");
    assert_eq!(
        status_of(s, t, invited.id, c).await,
        Some(RsvpStatus::Invited)
    );
    // Invitations to drafts are kept (sent when published); an answer keeps going.
    assert_eq!(s.invite(t, ACTOR, draft.id, &[a]).await.unwrap(), (1, 0));
    accept(s, t, accepted.id, a).await;
    assert_eq!(s.invite(t, ACTOR, accepted.id, &[a]).await.unwrap(), (0, 1));
    assert_eq!(
        status_of(s, t, accepted.id, a).await,
        Some(RsvpStatus::Accepted)
    );
    s.respond(
        t,
        ACTOR,
        declined.id,
        a,
        RsvpStatus::Declined,
        answered_at(),
    )
    .await
    .unwrap();
    s.respond(
        t,
        ACTOR,
        tentative.id,
        a,
        RsvpStatus::Tentative,
        answered_at(),
    )
    .await
    .unwrap();
    update_one(
        s,
        t,
        "event.cancelled",
        changed(&accepted, |e| e.status = EventStatus::Cancelled),
    )
    .await
    .unwrap();
    expect_failed_precondition(s.invite(t, ACTOR, accepted.id, &[b]).await, &["cancelled"]);
    expect_not_found(s.invite(t, ACTOR, Uuid::now_v7(), &[b]).await);

    // The calendar: invited, accepted (cancellations shown), tentative; no
    // declines, no drafts, nothing unrelated; from the given instant on.
    let calendar = s.calendar_events(t, a, answered_at()).await.unwrap();
    assert_eq!(ids(&calendar), [invited.id, accepted.id, tentative.id]);
    assert_eq!(calendar[1].status, EventStatus::Cancelled);
    let later = s.calendar_events(t, a, invited.ends_at).await.unwrap();
    assert_eq!(ids(&later), [accepted.id, tentative.id]);
    assert_eq!(
        s.calendar_events(t, person(), answered_at()).await.unwrap(),
        vec![]
    );
    assert!(!ids(&calendar).contains(&unrelated.id));
    // Listing a person's events includes what they declined.
    let f = EventFilter {
        person_id: Some(a),
        include_cancelled: true,
        include_drafts: true,
        ..filter()
    };
    assert_eq!(
        list_all(s, t, &f, 2).await,
        [invited.id, accepted.id, declined.id, tentative.id, draft.id]
    );
}

async fn accepted_events_that_overlap_are_found_for_clash_warnings(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let who = person();
    let morning = create_one(s, t, event("Morning", at(5, 1, 9, 0), 3)).await;
    let afternoon = create_one(s, t, event("Afternoon", at(5, 1, 14, 0), 2)).await;
    let declined = create_one(s, t, event("Declined", at(5, 1, 10, 0), 2)).await;
    let cancelled = create_one(s, t, event("Cancelled later", at(5, 1, 11, 0), 2)).await;
    let waitlisted = create_one(
        s,
        t,
        Event {
            capacity: 1,
            ..event("Full", at(5, 1, 11, 30), 2)
        },
    )
    .await;
    accept(s, t, morning.id, who).await;
    accept(s, t, afternoon.id, who).await;
    accept(s, t, cancelled.id, who).await;
    accept(s, t, waitlisted.id, person()).await;
    assert_eq!(
        accept(s, t, waitlisted.id, who).await,
        RsvpStatus::Waitlisted
    );
    s.respond(
        t,
        ACTOR,
        declined.id,
        who,
        RsvpStatus::Declined,
        answered_at(),
    )
    .await
    .unwrap();
    update_one(
        s,
        t,
        "event.cancelled",
        changed(&cancelled, |e| e.status = EventStatus::Cancelled),
    )
    .await
    .unwrap();

    let clashes = |from, to| s.accepted_overlapping(t, who, from, to);
    assert_eq!(
        ids(&clashes(at(5, 1, 11, 0), at(5, 1, 15, 0)).await.unwrap()),
        [morning.id, afternoon.id]
    );
    assert_eq!(
        ids(&clashes(at(5, 1, 12, 0), at(5, 1, 14, 0)).await.unwrap()),
        Vec::<Uuid>::new()
    );
    assert_eq!(
        ids(&clashes(at(5, 1, 8, 0), at(5, 1, 9, 1)).await.unwrap()),
        [morning.id]
    );
    assert_eq!(
        s.accepted_overlapping(t, person(), at(5, 1, 0, 0), at(5, 2, 0, 0))
            .await
            .unwrap(),
        vec![]
    );
}

// ------------------------------------------------------------------ attendance

async fn attendance_is_recorded_from_an_hour_before_the_start_and_answers_who_attended(
    s: &dyn Inspect,
) {
    use AttendanceStatus::*;
    let t = TenantId::new_v7();
    let training = create_one(
        s,
        t,
        Event {
            kind: EventKind::ScoringTraining,
            ..event("Scoring training", days_ago(3), 3)
        },
    )
    .await;
    let meeting = create_one(s, t, event("Network meeting", days_ago(2), 2)).await;
    let last_year = create_one(
        s,
        t,
        Event {
            kind: EventKind::ScoringTraining,
            academic_year: 2028,
            ..event("Last year's training", days_ago(400), 3)
        },
    )
    .await;
    let future = create_one(s, t, event("Future", at(5, 1, 10, 0), 2)).await;
    let draft = create_one(
        s,
        t,
        Event {
            status: EventStatus::Draft,
            ..event("Draft", days_ago(1), 1)
        },
    )
    .await;
    let cancelled = create_one(
        s,
        t,
        Event {
            status: EventStatus::Cancelled,
            ..event("Cancelled", days_ago(1), 1)
        },
    )
    .await;
    let soon = |minutes: i64| days_ago(0) + chrono::Duration::minutes(minutes);
    let in_two_hours = create_one(s, t, event("In two hours", soon(120), 1)).await;
    let in_half_an_hour = create_one(s, t, event("In half an hour", soon(30), 1)).await;
    let p = people(3);

    let before = s.counts(t).await;
    let mark = |event: Uuid, marks: Vec<(Uuid, AttendanceStatus)>, method: &'static str| {
        let marks = marks.clone();
        async move { s.record_attendance(t, ACTOR, event, &marks, method).await }
    };
    // Taken from an hour before the start (people arrive early), not sooner.
    for early in [future.id, in_two_hours.id] {
        expect_failed_precondition(
            mark(early, vec![(p[0], Present)], "owner").await,
            &["from an hour before the start"],
        );
    }
    expect_failed_precondition(
        mark(draft.id, vec![(p[0], Present)], "owner").await,
        &["not published"],
    );
    expect_failed_precondition(
        mark(cancelled.id, vec![(p[0], Present)], "owner").await,
        &["cancelled"],
    );
    expect_invalid(
        mark(training.id, vec![(p[0], Present)], "rumour").await,
        &["method"],
    );
    expect_not_found(mark(Uuid::now_v7(), vec![(p[0], Present)], "owner").await);
    assert_eq!(s.counts(t).await, before, "nothing written");
    assert_eq!(mark(training.id, vec![], "owner").await.unwrap(), vec![]);
    let early = mark(in_half_an_hour.id, vec![(p[0], Present)], "check_in")
        .await
        .unwrap();
    assert_eq!((early.len(), early[0].method.as_str()), (1, "check_in"));

    // The last mark of a person wins; marks can be corrected later.
    let marks = mark(
        training.id,
        vec![
            (p[1], Present),
            (p[0], NoShow),
            (p[1], NoShow),
            (p[2], Present),
        ],
        "owner",
    )
    .await
    .unwrap();
    let got: Vec<(Uuid, AttendanceStatus)> =
        marks.iter().map(|m| (m.person_id, m.status)).collect();
    assert_eq!(got, [(p[1], NoShow), (p[0], NoShow), (p[2], Present)]);
    assert!(
        marks
            .iter()
            .all(|m| m.method == "owner" && m.recorded_by == ACTOR)
    );
    let checked_in = s
        .record_attendance(
            t,
            &p[0].to_string(),
            training.id,
            &[(p[0], Present)],
            "check_in",
        )
        .await
        .unwrap();
    assert_eq!(
        (
            checked_in[0].status,
            checked_in[0].method.as_str(),
            checked_in[0].recorded_by.clone()
        ),
        (Present, "check_in", p[0].to_string())
    );
    mark(meeting.id, vec![(p[0], Present), (p[1], Present)], "owner")
        .await
        .unwrap();
    mark(last_year.id, vec![(p[1], Present)], "owner")
        .await
        .unwrap();

    let of_training = all_pages(1, |page| {
        s.list_attendance(t, Some(training.id), None, page)
    })
    .await;
    let got: Vec<(Uuid, AttendanceStatus)> = of_training
        .iter()
        .map(|m| (m.person_id, m.status))
        .collect();
    assert_eq!(got, [(p[0], Present), (p[1], NoShow), (p[2], Present)]);
    let of_person = all_pages(1, |page| s.list_attendance(t, None, Some(p[1]), page)).await;
    assert_eq!(
        sorted(of_person.iter().map(|m| m.event_id)),
        sorted([training.id, meeting.id, last_year.id])
    );
    assert_eq!(
        of_person.iter().map(|m| m.event_id).collect::<Vec<_>>(),
        sorted(of_person.iter().map(|m| m.event_id)),
        "by person: in event-id order"
    );
    let one = s
        .list_attendance(t, Some(meeting.id), Some(p[1]), first_page())
        .await
        .unwrap()
        .0;
    assert_eq!((one.len(), one[0].person_id), (1, p[1]));
    expect_invalid(
        s.list_attendance(t, None, None, first_page()).await,
        &["event_id"],
    );

    // Who attended (present) what, by kind and academic year.
    let trained = s
        .attended(t, &p, &[EventKind::ScoringTraining], 2029)
        .await
        .unwrap();
    let got: Vec<(Uuid, Uuid)> = trained.iter().map(|(who, e)| (*who, e.id)).collect();
    assert_eq!(
        got,
        sorted_pairs(vec![(p[0], training.id), (p[2], training.id)])
    );
    let any_kind = s.attended(t, &[p[0], p[1]], &[], 2029).await.unwrap();
    let got: Vec<(Uuid, Uuid)> = any_kind.iter().map(|(who, e)| (*who, e.id)).collect();
    assert_eq!(
        got,
        sorted_pairs(vec![
            (p[0], training.id),
            (p[0], meeting.id),
            (p[0], in_half_an_hour.id),
            (p[1], meeting.id)
        ])
    );
    let earlier = s
        .attended(
            t,
            &[p[1]],
            &[EventKind::ScoringTraining, EventKind::LeaderTraining],
            2028,
        )
        .await
        .unwrap();
    assert_eq!(earlier.len(), 1);
    assert_eq!(earlier[0].1, get_one(s, t, last_year.id).await);
    assert_eq!(s.attended(t, &[], &[], 2029).await.unwrap(), vec![]);
}

/// (person, event) pairs in person order, then by the events' start (the
/// events of one person here start in creation order, which is id order).
fn sorted_pairs(mut v: Vec<(Uuid, Uuid)>) -> Vec<(Uuid, Uuid)> {
    v.sort();
    v
}

// ------------------------------------------------------------------ claims

async fn claims_need_attendance_one_open_claim_and_a_reason_to_reject(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let meeting = create_one(s, t, event("Network meeting", days_ago(5), 2)).await;
    let other = create_one(s, t, event("Another meeting", days_ago(4), 2)).await;
    let (present, absent, stranger) = (person(), person(), person());
    s.record_attendance(
        t,
        ACTOR,
        meeting.id,
        &[
            (present, AttendanceStatus::Present),
            (absent, AttendanceStatus::NoShow),
        ],
        "owner",
    )
    .await
    .unwrap();
    s.record_attendance(
        t,
        ACTOR,
        other.id,
        &[(present, AttendanceStatus::Present)],
        "owner",
    )
    .await
    .unwrap();

    let before = s.counts(t).await;
    for who in [absent, stranger] {
        expect_failed_precondition(
            s.submit_claim(t, ACTOR, claim(meeting.id, who, 1_000))
                .await,
            &["a claim needs attendance recorded for this event"],
        );
    }
    expect_not_found(
        s.submit_claim(t, ACTOR, claim(Uuid::now_v7(), present, 1_000))
            .await,
    );
    assert_eq!(s.counts(t).await, before);

    let first = s
        .submit_claim(t, &present.to_string(), claim(meeting.id, present, 3_400))
        .await
        .unwrap();
    assert!(!first.id.is_nil());
    assert_eq!(
        first,
        ExpenseClaim {
            id: first.id,
            submitted_at: first.submitted_at,
            ..claim(meeting.id, present, 3_400)
        }
    );
    assert_eq!(s.get_claim(t, first.id).await.unwrap(), first);
    let before = s.counts(t).await;
    expect_conflict(
        s.submit_claim(t, ACTOR, claim(meeting.id, present, 100))
            .await,
        "event_id",
    );
    // Rejecting needs a reason; blanks are no reason.
    expect_invalid(
        s.decide_claim(t, ACTOR, first.id, false, None).await,
        &["reason"],
    );
    expect_invalid(
        s.decide_claim(t, ACTOR, first.id, false, Some("  ".into()))
            .await,
        &["reason"],
    );
    expect_not_found(s.decide_claim(t, ACTOR, Uuid::now_v7(), true, None).await);
    assert_eq!(s.counts(t).await, before);

    let approved = s
        .decide_claim(t, ACTOR, first.id, true, None)
        .await
        .unwrap();
    assert_eq!(
        (
            approved.status,
            approved.decided_by.as_deref(),
            approved.decision_reason.clone()
        ),
        (ClaimStatus::Approved, Some(ACTOR), None)
    );
    let decided_at = approved.decided_at.expect("decided_at");
    expect_failed_precondition(
        s.decide_claim(t, ACTOR, first.id, false, Some("late".into()))
            .await,
        &["already been decided"],
    );
    // Once decided, a new claim for the same event may follow.
    let second = s
        .submit_claim(t, ACTOR, claim(meeting.id, present, 800))
        .await
        .unwrap();
    let rejected = s
        .decide_claim(
            t,
            ACTOR,
            second.id,
            false,
            Some(" Duplicate of the first ".into()),
        )
        .await
        .unwrap();
    assert_eq!(
        (rejected.status, rejected.decision_reason.as_deref()),
        (ClaimStatus::Rejected, Some("Duplicate of the first"))
    );
    let third = s
        .submit_claim(t, ACTOR, claim(other.id, present, 500))
        .await
        .unwrap();

    let listed = |f: ClaimFilter| async move {
        all_pages(1, |page| s.list_claims(t, &f, page))
            .await
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(ClaimFilter::default()).await,
        [first.id, second.id, third.id]
    );
    let by_status = |status| ClaimFilter {
        status: Some(status),
        ..ClaimFilter::default()
    };
    assert_eq!(listed(by_status(ClaimStatus::Approved)).await, [first.id]);
    assert_eq!(listed(by_status(ClaimStatus::Submitted)).await, [third.id]);
    let by_event = ClaimFilter {
        event_id: Some(meeting.id),
        ..ClaimFilter::default()
    };
    assert_eq!(listed(by_event).await, [first.id, second.id]);
    let by_person = ClaimFilter {
        person_id: Some(absent),
        ..ClaimFilter::default()
    };
    assert_eq!(listed(by_person).await, Vec::<Uuid>::new());
    // Decision windows `[from, to)`, with bounds finer than the stored seconds.
    let ms = chrono::Duration::milliseconds;
    let us = chrono::Duration::microseconds;
    for (from, to, found) in [
        (Some(decided_at), Some(decided_at + us(1)), true),
        (Some(decided_at - ms(1)), Some(decided_at), false),
        (Some(decided_at + us(1)), None, false),
        (None, Some(decided_at + ms(999)), true),
        (Some(decided_at - ms(1)), None, true),
    ] {
        let f = ClaimFilter {
            status: Some(ClaimStatus::Approved),
            decided_from: from,
            decided_to: to,
            ..ClaimFilter::default()
        };
        assert_eq!(
            listed(f).await.contains(&first.id),
            found,
            "[{from:?}, {to:?})"
        );
    }
    expect_not_found(s.get_claim(t, Uuid::now_v7()).await);
}

// ------------------------------------------------------------------ feedback

async fn feedback_is_for_attendees_once_and_read_without_names(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let meeting = create_one(s, t, event("Network meeting", days_ago(1), 2)).await;
    let bare = create_one(s, t, event("No questionnaire", days_ago(1), 2)).await;
    let p = people(3);
    for e in [meeting.id, bare.id] {
        s.record_attendance(
            t,
            ACTOR,
            e,
            &[
                (p[0], AttendanceStatus::Present),
                (p[1], AttendanceStatus::Present),
                (p[2], AttendanceStatus::NoShow),
            ],
            "owner",
        )
        .await
        .unwrap();
    }
    assert_eq!(s.questionnaire(t, meeting.id).await.unwrap(), vec![]);
    let first = s
        .set_questionnaire(t, ACTOR, meeting.id, questions())
        .await
        .unwrap();
    assert!(first.iter().all(|q| !q.id.is_nil()));
    assert_eq!(
        first.iter().map(|q| q.text.as_str()).collect::<Vec<_>>(),
        [
            "How useful was the meeting?",
            "What should the next meeting cover?"
        ]
    );
    // Replaced as a whole, in the order given.
    let mut reordered = first.clone();
    reordered.reverse();
    reordered.push(Question {
        id: Uuid::nil(),
        text: "Anything else?".into(),
        kind: QuestionKind::Text,
    });
    let current = s
        .set_questionnaire(t, ACTOR, meeting.id, reordered.clone())
        .await
        .unwrap();
    assert_eq!(current[..2], reordered[..2]);
    assert_eq!(s.questionnaire(t, meeting.id).await.unwrap(), current);
    expect_invalid(
        s.set_questionnaire(
            t,
            ACTOR,
            meeting.id,
            vec![first[0].clone(), first[0].clone()],
        )
        .await,
        &["questions"],
    );

    let rating_first = vec![current[1].clone(), current[0].clone()];
    let before = s.counts(t).await;
    for (event, who, words) in [
        (meeting.id, p[2], "attended"),
        (meeting.id, person(), "attended"),
        (bare.id, p[0], "no questionnaire"),
    ] {
        expect_failed_precondition(
            s.submit_feedback(t, ACTOR, event, who, answers(&rating_first, 5, "x"))
                .await,
            &[words],
        );
    }
    expect_not_found(
        s.submit_feedback(t, ACTOR, Uuid::now_v7(), p[0], vec![])
            .await,
    );
    assert_eq!(s.counts(t).await, before);

    let one = answers(&rating_first, 4, "More anchor papers");
    let two = answers(&rating_first, 2, "Shorter, please");
    s.submit_feedback(t, &p[0].to_string(), meeting.id, p[0], one.clone())
        .await
        .unwrap();
    s.submit_feedback(t, &p[1].to_string(), meeting.id, p[1], two.clone())
        .await
        .unwrap();
    let before = s.counts(t).await;
    expect_conflict(
        s.submit_feedback(t, ACTOR, meeting.id, p[0], two.clone())
            .await,
        "person_id",
    );
    expect_failed_precondition(
        s.set_questionnaire(t, ACTOR, meeting.id, questions()).await,
        &["cannot change once answers exist"],
    );
    assert_eq!(s.counts(t).await, before);
    assert_eq!(s.questionnaire(t, meeting.id).await.unwrap(), current);

    let mut given = s.feedback_answers(t, meeting.id).await.unwrap();
    given.sort_by_key(|a| a[0].rating);
    assert_eq!(given, vec![two, one]);
    assert_eq!(
        s.feedback_answers(t, bare.id).await.unwrap(),
        Vec::<Vec<Answer>>::new()
    );
    expect_not_found(s.feedback_answers(t, Uuid::now_v7()).await);
    expect_not_found(s.questionnaire(t, Uuid::now_v7()).await);
    expect_not_found(
        s.set_questionnaire(t, ACTOR, Uuid::now_v7(), questions())
            .await,
    );
}

// ------------------------------------------------------------------ rules, materials, feeds

async fn rule_settings_materials_and_calendar_feeds(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    assert_eq!(s.rule_settings(t).await.unwrap(), RuleSettings::default());
    let strict = RuleSettings {
        min_network_meetings: 4,
        require_trained_scorers: false,
        require_leader_sequence: true,
        training_window_days: 14,
    };
    assert_eq!(s.set_rule_settings(t, ACTOR, strict).await.unwrap(), strict);
    assert_eq!(s.rule_settings(t).await.unwrap(), strict);
    let relaxed = RuleSettings {
        min_network_meetings: 1,
        ..strict
    };
    s.set_rule_settings(t, ACTOR, relaxed).await.unwrap();
    assert_eq!(s.rule_settings(t).await.unwrap(), relaxed);
    assert_eq!(
        s.rule_settings(TenantId::new_v7()).await.unwrap(),
        RuleSettings::default()
    );

    // Materials.
    let meeting = create_one(s, t, event("Network meeting", at(5, 1, 10, 0), 2)).await;
    let link = s
        .add_material(t, ACTOR, material(meeting.id, " Anchor papers "))
        .await
        .unwrap();
    assert_eq!(
        link,
        Material {
            id: link.id,
            title: "Anchor papers".into(),
            added_by: ACTOR.into(),
            added_at: link.added_at,
            ..material(meeting.id, "")
        }
    );
    let file_id = Uuid::now_v7();
    let file = s
        .add_material(
            t,
            ACTOR,
            Material {
                id: file_id,
                url: None,
                object_key: Some(format!("{}/{file_id}", t.0)),
                file_name: Some("rubric.pdf".into()),
                content_type: Some("application/pdf".into()),
                size_bytes: 123_456,
                ..material(meeting.id, "Rubric")
            },
        )
        .await
        .unwrap();
    assert_eq!((file.id, file.size_bytes), (file_id, 123_456));
    assert_eq!(s.get_material(t, file_id).await.unwrap(), file);
    assert_eq!(
        s.list_materials(t, meeting.id).await.unwrap(),
        vec![link, file]
    );
    expect_not_found(s.get_material(t, Uuid::now_v7()).await);
    expect_not_found(
        s.add_material(t, ACTOR, material(Uuid::now_v7(), "x"))
            .await,
    );
    expect_not_found(s.list_materials(t, Uuid::now_v7()).await);

    // Calendar feeds: one active per person; a new one replaces it.
    let who = person();
    assert_eq!(s.active_feed(t, who).await.unwrap(), None);
    let first = s.create_feed(t, ACTOR, feed(who, "hash-1")).await.unwrap();
    assert_eq!(
        (
            first.person_id,
            first.secret_hash.as_str(),
            first.revoked_at
        ),
        (who, "hash-1", None)
    );
    assert_eq!(s.active_feed(t, who).await.unwrap(), Some(first.clone()));
    let second = s.create_feed(t, ACTOR, feed(who, "hash-2")).await.unwrap();
    assert_eq!(s.active_feed(t, who).await.unwrap(), Some(second.clone()));
    let old = s.get_feed(t, first.id).await.unwrap().unwrap();
    assert!(old.revoked_at.is_some(), "the replaced feed is revoked");
    s.revoke_feeds(t, ACTOR, who).await.unwrap();
    assert_eq!(s.active_feed(t, who).await.unwrap(), None);
    assert!(
        s.get_feed(t, second.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let before = s.counts(t).await;
    s.revoke_feeds(t, ACTOR, who).await.unwrap();
    assert_eq!(
        s.counts(t).await,
        before,
        "nothing to revoke, nothing written"
    );
    assert_eq!(s.get_feed(t, Uuid::now_v7()).await.unwrap(), None);
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
    /// records (action, target) and these events (type, payload `id`), in
    /// any order; every event names its actor and carries no secret.
    async fn expect(&mut self, what: &str, audits: &[(&str, Uuid)], events: &[(&str, Uuid)]) {
        let log = self.store.audit(self.tenant).await;
        let mut new: Vec<(String, String)> = log[self.audited..]
            .iter()
            .map(|a| (a.action.clone(), a.target_id.clone()))
            .collect();
        new.sort();
        let mut expected: Vec<(String, String)> = audits
            .iter()
            .map(|(a, id)| (a.to_string(), id.to_string()))
            .collect();
        expected.sort();
        assert_eq!(new, expected, "{what}: audit records");
        assert!(
            log[self.audited..].iter().all(|a| !a.actor.is_empty()),
            "{what}: every record names its actor"
        );
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
                    !text.contains("check_in_code") && !text.contains("secret_hash"),
                    "{what}: no secrets on the bus: {text}"
                );
                if e.event_type.starts_with("scheduling.rsvp.")
                    || e.event_type.starts_with("scheduling.registration.")
                {
                    assert!(
                        e.payload["event_id"].is_string() && e.payload["person_id"].is_string(),
                        "{what}: an RSVP event names event and person: {}",
                        e.payload
                    );
                }
                (
                    e.event_type.clone(),
                    e.payload["id"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        types.sort();
        let mut expected: Vec<(String, String)> = events
            .iter()
            .map(|(ty, id)| (format!("scheduling.{ty}"), id.to_string()))
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

    let hall = create_venue(s, t, venue("Hall", 2, 0)).await;
    trail
        .expect(
            "create_venue",
            &[("venue.created", hall.id)],
            &[("venue.created", hall.id)],
        )
        .await;
    s.update_venue(
        t,
        ACTOR,
        hall.id,
        VenuePatch {
            name: Some("Great Hall".into()),
            ..VenuePatch::default()
        },
    )
    .await
    .unwrap();
    trail
        .expect(
            "update_venue",
            &[("venue.updated", hall.id)],
            &[("venue.updated", hall.id)],
        )
        .await;

    // A series: one record and one event per occurrence.
    let series_id = Uuid::now_v7();
    let occurrences: Vec<Event> = [at(5, 1, 10, 0), at(6, 1, 10, 0)]
        .into_iter()
        .map(|start| Event {
            series_id: Some(series_id),
            venue_id: Some(hall.id),
            ..event("Monthly", start, 1)
        })
        .collect();
    let created = s.create_events(t, ACTOR, occurrences).await.unwrap();
    let (e, e2) = (created[0].clone(), created[1].clone());
    trail
        .expect(
            "create_events",
            &[("event.created", e.id), ("event.created", e2.id)],
            &[("event.created", e.id), ("event.created", e2.id)],
        )
        .await;
    expect_conflict(
        s.create_events(
            t,
            ACTOR,
            vec![Event {
                venue_id: Some(hall.id),
                ..event("Clash", at(5, 1, 10, 30), 1)
            }],
        )
        .await,
        "venue_id",
    );
    trail.expect_nothing("a refused booking").await;

    let e = update_one(s, t, "event.changed", changed(&e, |e| e.capacity = 1))
        .await
        .unwrap();
    trail
        .expect(
            "update_events",
            &[("event.changed", e.id)],
            &[("event.changed", e.id)],
        )
        .await;

    let p = people(3);
    s.invite(t, ACTOR, e.id, &p).await.unwrap();
    trail
        .expect(
            "invite",
            &[("event.invited", e.id)],
            &[
                ("rsvp.invited", e.id),
                ("rsvp.invited", e.id),
                ("rsvp.invited", e.id),
            ],
        )
        .await;
    s.invite(t, ACTOR, e.id, &p).await.unwrap();
    trail.expect_nothing("invite again").await;

    for who in &p[..2] {
        accept(s, t, e.id, *who).await;
    }
    trail
        .expect(
            "respond",
            &[("rsvp.changed", e.id), ("rsvp.changed", e.id)],
            &[("rsvp.changed", e.id), ("rsvp.changed", e.id)],
        )
        .await;
    accept(s, t, e.id, p[0]).await;
    trail.expect_nothing("accepting again").await;
    s.respond(t, ACTOR, e.id, p[0], RsvpStatus::Declined, answered_at())
        .await
        .unwrap();
    trail
        .expect(
            "decline with promotion",
            &[("rsvp.changed", e.id), ("rsvp.promoted", e.id)],
            &[("rsvp.changed", e.id), ("rsvp.promoted", e.id)],
        )
        .await;
    accept(s, t, e.id, p[2]).await;
    trail
        .expect(
            "join the queue",
            &[("rsvp.changed", e.id)],
            &[("rsvp.changed", e.id)],
        )
        .await;
    update_one(
        s,
        t,
        "event.changed",
        changed(&e, |x| {
            x.capacity = 2;
            x.sequence = 99;
        }),
    )
    .await
    .unwrap();
    trail
        .expect(
            "capacity growth",
            &[("event.changed", e.id), ("rsvp.promoted", e.id)],
            &[("event.changed", e.id), ("rsvp.promoted", e.id)],
        )
        .await;
    assert_eq!(
        get_one(s, t, e.id).await.sequence,
        2,
        "the store bumps the sequence"
    );

    let approval = create_one(
        s,
        t,
        Event {
            approval_required: true,
            ..event("Approval", at(7, 1, 10, 0), 1)
        },
    )
    .await;
    trail
        .expect(
            "create",
            &[("event.created", approval.id)],
            &[("event.created", approval.id)],
        )
        .await;
    accept(s, t, approval.id, p[0]).await;
    accept(s, t, approval.id, p[1]).await;
    trail
        .expect(
            "registrations",
            &[("rsvp.changed", approval.id), ("rsvp.changed", approval.id)],
            &[("rsvp.changed", approval.id), ("rsvp.changed", approval.id)],
        )
        .await;
    s.decide_registration(t, ACTOR, approval.id, p[0], true)
        .await
        .unwrap();
    s.decide_registration(t, ACTOR, approval.id, p[1], false)
        .await
        .unwrap();
    trail
        .expect(
            "decide_registration",
            &[
                ("registration.approved", approval.id),
                ("registration.declined", approval.id),
            ],
            &[
                ("registration.approved", approval.id),
                ("registration.declined", approval.id),
            ],
        )
        .await;

    let past = create_one(s, t, event("Past", days_ago(1), 2)).await;
    trail
        .expect(
            "create",
            &[("event.created", past.id)],
            &[("event.created", past.id)],
        )
        .await;
    s.record_attendance(
        t,
        ACTOR,
        past.id,
        &[
            (p[0], AttendanceStatus::Present),
            (p[1], AttendanceStatus::NoShow),
        ],
        "owner",
    )
    .await
    .unwrap();
    trail
        .expect(
            "record_attendance",
            &[("attendance.recorded", past.id)],
            &[("attendance.recorded", past.id)],
        )
        .await;
    s.set_rule_settings(t, ACTOR, RuleSettings::default())
        .await
        .unwrap();
    trail
        .expect(
            "set_rule_settings",
            &[("rule_settings.changed", t.0)],
            &[("rule_settings.changed", t.0)],
        )
        .await;
    let m = s
        .add_material(t, ACTOR, material(past.id, "Slides"))
        .await
        .unwrap();
    trail
        .expect(
            "add_material",
            &[("material.added", m.id)],
            &[("material.added", m.id)],
        )
        .await;
    let c = s
        .submit_claim(t, ACTOR, claim(past.id, p[0], 900))
        .await
        .unwrap();
    trail
        .expect(
            "submit_claim",
            &[("claim.submitted", c.id)],
            &[("claim.submitted", c.id)],
        )
        .await;
    s.submit_claim(t, ACTOR, claim(past.id, p[0], 900))
        .await
        .unwrap_err();
    trail.expect_nothing("a second open claim").await;
    s.decide_claim(t, ACTOR, c.id, false, Some("No receipt".into()))
        .await
        .unwrap();
    trail
        .expect(
            "decide_claim",
            &[("claim.decided", c.id)],
            &[("claim.decided", c.id)],
        )
        .await;
    let qs = s
        .set_questionnaire(t, ACTOR, past.id, questions())
        .await
        .unwrap();
    trail
        .expect(
            "set_questionnaire",
            &[("questionnaire.set", past.id)],
            &[("questionnaire.set", past.id)],
        )
        .await;
    s.submit_feedback(t, ACTOR, past.id, p[0], answers(&qs, 5, "Great"))
        .await
        .unwrap();
    trail
        .expect(
            "submit_feedback",
            &[("feedback.submitted", past.id)],
            &[("feedback.submitted", past.id)],
        )
        .await;
    let f1 = s.create_feed(t, ACTOR, feed(p[0], "h1")).await.unwrap();
    trail
        .expect(
            "create_feed",
            &[("calendar_feed.created", f1.id)],
            &[("calendar_feed.created", f1.id)],
        )
        .await;
    let f2 = s.create_feed(t, ACTOR, feed(p[0], "h2")).await.unwrap();
    trail
        .expect(
            "create_feed replacing one",
            &[
                ("calendar_feed.revoked", f1.id),
                ("calendar_feed.created", f2.id),
            ],
            &[
                ("calendar_feed.revoked", f1.id),
                ("calendar_feed.created", f2.id),
            ],
        )
        .await;
    s.revoke_feeds(t, ACTOR, p[0]).await.unwrap();
    trail
        .expect(
            "revoke_feeds",
            &[("calendar_feed.revoked", f2.id)],
            &[("calendar_feed.revoked", f2.id)],
        )
        .await;
    s.update_events(
        t,
        ACTOR,
        "event.cancelled",
        Some("the hall is flooded"),
        vec![changed(&e2, |x| x.status = EventStatus::Cancelled)],
    )
    .await
    .unwrap();
    trail
        .expect(
            "cancel",
            &[("event.cancelled", e2.id)],
            &[("event.cancelled", e2.id)],
        )
        .await;
    // The reason travels with the change, for the people told about it.
    let cancelled = trail.collected.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(cancelled.payload["reason"], "the hall is flooded");

    // Reads write nothing.
    s.list_events(t, &filter(), first_page()).await.unwrap();
    s.calendar_events(t, p[0], answered_at()).await.unwrap();
    s.feedback_answers(t, past.id).await.unwrap();
    s.list_rsvps(t, e.id, None, first_page()).await.unwrap();
    trail.expect_nothing("reads").await;

    // The promoted event names who moved up.
    let events = trail.collected.0.lock().unwrap().clone();
    let promoted: Vec<&EventEnvelope> = events
        .iter()
        .filter(|e| e.event_type == "scheduling.rsvp.promoted")
        .collect();
    let moved_up: Vec<&serde_json::Value> =
        promoted.iter().map(|e| &e.payload["person_id"]).collect();
    assert_eq!(
        moved_up,
        [
            &serde_json::json!(p[1].to_string()),
            &serde_json::json!(p[2].to_string())
        ]
    );
    assert_eq!(
        events.iter().map(|e| e.id).collect::<HashSet<_>>().len(),
        events.len(),
        "event ids are unique"
    );
    trail.stop().await;
}

// ------------------------------------------------------------------ tenant isolation

async fn tenants_never_see_or_touch_each_others_rows(s: &dyn Inspect) {
    let a = seed_tenant(s, "alpha").await;
    let b = seed_tenant(s, "beta").await;
    let (ta, tb) = (a.tenant, b.tenant);
    let b_series = Uuid::now_v7();
    let b_occurrence = create_one(
        s,
        tb,
        Event {
            series_id: Some(b_series),
            ..event("Beta study group", at(9, 1, 16, 0), 1)
        },
    )
    .await;
    s.set_rule_settings(
        tb,
        ACTOR,
        RuleSettings {
            min_network_meetings: 7,
            ..RuleSettings::default()
        },
    )
    .await
    .unwrap();
    let b_counts = s.counts(tb).await;
    let b_audit = s.audit(tb).await;
    let b_events = s
        .get_events(tb, &[b.upcoming.id, b.past.id, b_occurrence.id])
        .await
        .unwrap();
    let b_ids = [b.upcoming.id, b.past.id, b_occurrence.id];

    // Reads: B's rows do not exist in A.
    assert_eq!(s.get_venues(ta, &[b.venue.id]).await.unwrap(), vec![]);
    assert_eq!(
        all_pages(50, |page| s.list_venues(ta, page)).await,
        vec![a.venue.clone()]
    );
    assert_eq!(s.get_events(ta, &b_ids).await.unwrap(), vec![]);
    assert_eq!(s.series(ta, b_series).await.unwrap(), vec![]);
    assert_eq!(s.series_occurrences(ta, &[b_series]).await.unwrap(), vec![]);
    let everything = EventFilter {
        include_drafts: true,
        include_cancelled: true,
        ..filter()
    };
    assert_eq!(
        sorted(list_all(s, ta, &everything, 50).await),
        sorted([a.upcoming.id, a.past.id])
    );
    let b_person = EventFilter {
        person_id: Some(b.member),
        ..everything.clone()
    };
    assert_eq!(list_all(s, ta, &b_person, 50).await, Vec::<Uuid>::new());
    assert_eq!(s.seat_counts(ta, &b_ids).await.unwrap(), vec![]);
    assert_eq!(s.get_rsvp(ta, b.upcoming.id, b.member).await.unwrap(), None);
    expect_not_found(s.list_rsvps(ta, b.upcoming.id, None, first_page()).await);
    assert_eq!(
        s.accepted_overlapping(ta, b.member, at(1, 1, 0, 0), at(12, 1, 0, 0))
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        s.list_attendance(ta, Some(b.past.id), None, first_page())
            .await
            .unwrap()
            .0,
        vec![]
    );
    assert_eq!(
        s.list_attendance(ta, None, Some(b.member), first_page())
            .await
            .unwrap()
            .0,
        vec![]
    );
    assert_eq!(
        s.attended(ta, &[b.member], &[], 2029).await.unwrap(),
        vec![]
    );
    assert_eq!(s.rule_settings(ta).await.unwrap().min_network_meetings, 3);
    expect_not_found(s.list_materials(ta, b.upcoming.id).await);
    expect_not_found(s.get_material(ta, b.material.id).await);
    expect_not_found(s.get_claim(ta, b.claim.id).await);
    let no_filter = ClaimFilter::default();
    assert_eq!(
        all_pages(50, |page| s.list_claims(ta, &no_filter, page))
            .await
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>(),
        vec![a.claim.id]
    );
    let b_claims = ClaimFilter {
        event_id: Some(b.past.id),
        ..ClaimFilter::default()
    };
    assert_eq!(
        s.list_claims(ta, &b_claims, first_page()).await.unwrap().0,
        vec![]
    );
    expect_not_found(s.questionnaire(ta, b.past.id).await);
    expect_not_found(s.feedback_answers(ta, b.past.id).await);
    assert_eq!(s.active_feed(ta, b.member).await.unwrap(), None);
    assert_eq!(s.get_feed(ta, b.feed.id).await.unwrap(), None);
    assert_eq!(
        s.calendar_events(ta, b.member, at(1, 1, 0, 0) - chrono::Duration::days(3650))
            .await
            .unwrap(),
        vec![]
    );

    // Writes with B's ids are refused in A.
    expect_not_found(
        s.update_venue(
            ta,
            ACTOR,
            b.venue.id,
            VenuePatch {
                capacity: Some(1),
                ..VenuePatch::default()
            },
        )
        .await,
    );
    expect_invalid(
        s.create_events(
            ta,
            ACTOR,
            vec![Event {
                venue_id: Some(b.venue.id),
                ..event("Borrowed hall", at(8, 1, 9, 0), 1)
            }],
        )
        .await,
        &["venue_id"],
    );
    expect_invalid(
        s.create_events(
            ta,
            ACTOR,
            vec![Event {
                prepares_for_event_id: Some(b.past.id),
                ..event("Borrowed link", at(8, 1, 9, 0), 1)
            }],
        )
        .await,
        &["prepares_for_event_id"],
    );
    expect_not_found(
        update_one(
            s,
            ta,
            "event.changed",
            changed(&b.upcoming, |e| e.title = "Hijacked".into()),
        )
        .await,
    );
    expect_not_found(
        update_one(
            s,
            ta,
            "event.cancelled",
            changed(&b.upcoming, |e| e.status = EventStatus::Cancelled),
        )
        .await,
    );
    expect_not_found(s.invite(ta, ACTOR, b.upcoming.id, &[b.guest]).await);
    expect_not_found(
        s.respond(
            ta,
            ACTOR,
            b.upcoming.id,
            b.member,
            RsvpStatus::Declined,
            answered_at(),
        )
        .await,
    );
    expect_not_found(
        s.decide_registration(ta, ACTOR, b.upcoming.id, b.guest, true)
            .await,
    );
    expect_not_found(
        s.record_attendance(
            ta,
            ACTOR,
            b.past.id,
            &[(b.member, AttendanceStatus::NoShow)],
            "owner",
        )
        .await,
    );
    expect_not_found(
        s.add_material(ta, ACTOR, material(b.upcoming.id, "Intruder"))
            .await,
    );
    expect_not_found(
        s.submit_claim(ta, ACTOR, claim(b.past.id, b.member, 1))
            .await,
    );
    expect_not_found(s.decide_claim(ta, ACTOR, b.claim.id, true, None).await);
    expect_not_found(s.set_questionnaire(ta, ACTOR, b.past.id, questions()).await);
    expect_not_found(
        s.submit_feedback(ta, ACTOR, b.past.id, b.guest, answers(&b.questions, 1, "x"))
            .await,
    );
    s.revoke_feeds(ta, ACTOR, b.member).await.unwrap();
    s.set_rule_settings(ta, ACTOR, RuleSettings::default())
        .await
        .unwrap();

    // B is exactly as it was.
    assert_eq!(s.counts(tb).await, b_counts);
    assert_eq!(s.audit(tb).await, b_audit);
    assert_eq!(s.get_events(tb, &b_ids).await.unwrap(), b_events);
    assert_eq!(
        status_of(s, tb, b.upcoming.id, b.member).await,
        Some(RsvpStatus::Accepted)
    );
    assert_eq!(s.get_claim(tb, b.claim.id).await.unwrap(), b.claim);
    assert_eq!(
        s.active_feed(tb, b.member).await.unwrap(),
        Some(b.feed.clone())
    );
    assert_eq!(s.rule_settings(tb).await.unwrap().min_network_meetings, 7);
    assert_eq!(
        s.get_venues(tb, &[b.venue.id]).await.unwrap(),
        vec![b.venue.clone()]
    );
    // And A still has its own.
    assert_eq!(
        s.get_venues(ta, &[a.venue.id]).await.unwrap(),
        vec![a.venue.clone()]
    );
    assert_eq!(
        s.list_rsvps(ta, a.upcoming.id, None, Page::first(10))
            .await
            .unwrap()
            .0
            .len(),
        2
    );
}

// ------------------------------------------------------------------ data-subject requests

/// The ids (or `key`) of one array of an export document.
fn export_values(doc: &serde_json::Value, array: &str, key: &str) -> Vec<String> {
    doc[array]
        .as_array()
        .unwrap_or_else(|| panic!("{array} is an array in {doc}"))
        .iter()
        .map(|r| r[key].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn a_persons_data_is_exported_whole_and_only_in_their_tenant(s: &dyn Inspect) {
    let a = seed_tenant(s, "alpha").await;
    let b = seed_tenant(s, "beta").await;
    let t = a.tenant;
    let upload = s
        .add_material(
            t,
            &a.member.to_string(),
            material(a.upcoming.id, "My slides"),
        )
        .await
        .unwrap();

    let doc = s.export_person_data(t, a.member).await.unwrap();
    assert_eq!(doc["service"], serde_json::json!("scheduling"));
    assert_eq!(doc["person_id"], serde_json::json!(a.member.to_string()));
    DateTime::parse_from_rfc3339(doc["exported_at"].as_str().unwrap()).expect("RFC 3339");
    let mut events = export_values(&doc, "events", "id");
    events.sort();
    let mut expected = vec![a.upcoming.id.to_string(), a.past.id.to_string()];
    expected.sort();
    assert_eq!(events, expected);
    assert_eq!(
        export_values(&doc, "rsvps", "event_id"),
        vec![a.upcoming.id.to_string()]
    );
    assert_eq!(doc["rsvps"][0]["status"], serde_json::json!("accepted"));
    assert_eq!(
        export_values(&doc, "attendance", "event_id"),
        vec![a.past.id.to_string()]
    );
    DateTime::parse_from_rfc3339(doc["attendance"][0]["recorded_at"].as_str().unwrap())
        .expect("RFC 3339");
    assert_eq!(
        export_values(&doc, "expense_claims", "id"),
        vec![a.claim.id.to_string()]
    );
    assert_eq!(
        doc["expense_claims"][0]["description"],
        serde_json::json!("Train to the meeting and lunch")
    );
    assert_eq!(
        export_values(&doc, "feedback", "event_id"),
        vec![a.past.id.to_string()]
    );
    assert!(
        doc["feedback"][0]
            .to_string()
            .contains("More anchor papers")
    );
    assert_eq!(
        export_values(&doc, "calendar_feeds", "id"),
        vec![a.feed.id.to_string()]
    );
    assert!(
        !doc.to_string().contains("hash-of-alpha"),
        "no secret hash: {doc}"
    );
    assert!(doc["calendar_feeds"][0].get("secret_hash").is_none());
    assert_eq!(
        export_values(&doc, "materials_uploaded", "id"),
        vec![upload.id.to_string()]
    );
    let audit = doc["audit_records"].as_array().unwrap();
    assert!(
        audit.iter().any(
            |r| r["action"] == serde_json::json!("expense_claim.submitted")
                || r["actor"] == serde_json::json!(a.member.to_string())
        ),
        "what they did is in the audit records: {audit:#?}"
    );

    // The guest only has an invitation.
    let guest = s.export_person_data(t, a.guest).await.unwrap();
    assert_eq!(
        export_values(&guest, "rsvps", "event_id"),
        vec![a.upcoming.id.to_string()]
    );
    assert!(export_values(&guest, "attendance", "event_id").is_empty());
    assert!(export_values(&guest, "expense_claims", "id").is_empty());

    // Another tenant's person: nothing at all.
    let none = s.export_person_data(b.tenant, a.member).await.unwrap();
    for array in [
        "events",
        "rsvps",
        "attendance",
        "expense_claims",
        "feedback",
        "calendar_feeds",
        "materials_uploaded",
        "audit_records",
    ] {
        assert_eq!(
            none[array],
            serde_json::json!([]),
            "{array} of another tenant's person"
        );
    }
    let text = doc.to_string();
    for other in [b.member, b.upcoming.id, b.past.id, b.claim.id, b.feed.id] {
        assert!(
            !text.contains(&other.to_string()),
            "B's {other} in A's export"
        );
    }
}

async fn erasure_blanks_free_text_keeps_attendance_and_is_idempotent(s: &dyn Inspect) {
    let a = seed_tenant(s, "alpha").await;
    let b = seed_tenant(s, "beta").await;
    let t = a.tenant;
    let b_counts = s.counts(b.tenant).await;
    let b_export = s.export_person_data(b.tenant, b.member).await.unwrap();
    let guest_before = s.export_person_data(t, a.guest).await.unwrap();
    let bus = MemoryBus::new();
    drain(s, &bus).await;

    // B erasing A's person: nothing of A's touched.
    let nothing = s
        .erase_person_data(b.tenant, ACTOR, a.member)
        .await
        .unwrap();
    assert!(nothing.values().all(|&n| n == 0), "{nothing:?}");
    assert!(
        !s.audit(b.tenant)
            .await
            .iter()
            .any(|r| r.action == "person.erased")
    );
    assert_eq!(drain(s, &bus).await, 0);

    let counts_before = s.counts(t).await;
    let counts = s.erase_person_data(t, ACTOR, a.member).await.unwrap();
    let count = |k: &str| {
        counts
            .get(k)
            .copied()
            .unwrap_or_else(|| panic!("{k} in {counts:?}"))
    };
    assert_eq!(count("expense_claims_blanked"), 1);
    assert_eq!(count("feedback_blanked"), 1);
    assert_eq!(count("calendar_feeds_deleted"), 1);
    assert_eq!(count("audit_snapshots_scrubbed"), 1, "claim.submitted");
    let audit = s.audit(t).await;
    let erased: Vec<_> = audit
        .iter()
        .filter(|r| r.action == "person.erased")
        .collect();
    assert_eq!(erased.len(), 1, "{audit:#?}");
    assert_eq!(
        (erased[0].target_id.as_str(), erased[0].actor.as_str()),
        (a.member.to_string().as_str(), ACTOR)
    );
    assert_eq!(drain(s, &bus).await, 1, "one outbox event");

    // Kept: attendance, RSVPs, the claim (amounts, status), ratings.
    let claim = s.get_claim(t, a.claim.id).await.unwrap();
    assert_eq!(claim.description, "");
    assert_eq!(
        (claim.travel_amount, claim.status),
        (a.claim.travel_amount, a.claim.status)
    );
    let answers = s.feedback_answers(t, a.past.id).await.unwrap();
    assert_eq!(answers.len(), 1);
    assert!(answers[0].iter().all(|x| x.text.is_none()), "{answers:?}");
    assert_eq!(answers[0][0].rating, Some(4));
    assert_eq!(s.get_feed(t, a.feed.id).await.unwrap(), None);
    let doc = s.export_person_data(t, a.member).await.unwrap();
    assert_eq!(
        export_values(&doc, "rsvps", "event_id"),
        vec![a.upcoming.id.to_string()]
    );
    assert_eq!(
        export_values(&doc, "attendance", "event_id"),
        vec![a.past.id.to_string()]
    );
    assert!(!doc["feedback"].to_string().contains("More anchor papers"));
    let counts_after = s.counts(t).await;
    for table in [
        "rsvps",
        "attendance",
        "expense_claims",
        "feedback",
        "materials",
    ] {
        assert_eq!(
            counts_after[table], counts_before[table],
            "{table} rows kept"
        );
    }
    assert_eq!(
        counts_after["calendar_feeds"],
        counts_before["calendar_feeds"] - 1
    );

    // Again: zeros, no second record or event.
    let again = s.erase_person_data(t, ACTOR, a.member).await.unwrap();
    assert!(again.values().all(|&n| n == 0), "{again:?}");
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        counts.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        s.audit(t)
            .await
            .iter()
            .filter(|r| r.action == "person.erased")
            .count(),
        1
    );
    assert_eq!(drain(s, &bus).await, 0);

    // Nobody else touched: the guest, and tenant B.
    let guest_after = s.export_person_data(t, a.guest).await.unwrap();
    assert_eq!(guest_after["rsvps"], guest_before["rsvps"]);
    assert_eq!(guest_after["audit_records"], guest_before["audit_records"]);
    assert_eq!(s.counts(b.tenant).await, b_counts);
    let b_after = s.export_person_data(b.tenant, b.member).await.unwrap();
    for array in [
        "rsvps",
        "attendance",
        "expense_claims",
        "feedback",
        "calendar_feeds",
    ] {
        assert_eq!(b_after[array], b_export[array], "B's {array}");
    }
}

/// The snapshots (`before`, `after`) of every audit record about `target`.
async fn snapshots(s: &dyn Inspect, t: TenantId, target: Uuid) -> Vec<(String, serde_json::Value)> {
    let records = s.audit_snapshots(t, &target.to_string()).await;
    assert!(!records.is_empty(), "audit records about {target}");
    records
        .into_iter()
        .flat_map(|(action, before, after)| {
            [before, after]
                .into_iter()
                .flatten()
                .map(move |v| (action.clone(), v))
        })
        .collect()
}

/// Whether every snapshot about `target` holds `description` = `text`.
async fn all_hold(s: &dyn Inspect, t: TenantId, target: Uuid, text: &str) -> bool {
    snapshots(s, t, target)
        .await
        .iter()
        .all(|(_, v)| v["description"] == serde_json::json!(text))
}

async fn erasure_scrubs_the_persons_claim_text_from_audit_snapshots_only(s: &dyn Inspect) {
    let a = seed_tenant(s, "alpha").await;
    let b = seed_tenant(s, "beta").await;
    let t = a.tenant;
    const MINE: &str = "Train to the meeting and lunch";

    // The member's first claim, rejected (the decider's reason is theirs, not
    // the member's), then deleted by retention: only its audit records remain.
    s.decide_claim(t, ACTOR, a.claim.id, false, Some("Receipts missing".into()))
        .await
        .unwrap();
    let decided = "UPDATE expense_claims SET decided_at = $3 WHERE tenant_id = $1 AND id = $2";
    assert_eq!(s.backdate(t, decided, a.claim.id, days_ago(400)).await, 1);
    let expired = s
        .apply_retention(
            t,
            ACTOR,
            &Cutoffs::new([(Category::ExpenseClaims, days_ago(365))]),
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        by_kind(&expired),
        kinds(&[("expense_claims.expense_claims", 1)])
    );
    assert!(s.get_claim(t, a.claim.id).await.is_err(), "the row is gone");
    // Their second claim, still a row.
    let second = s
        .submit_claim(
            t,
            &a.member.to_string(),
            ExpenseClaim {
                description: "Parking at the school".into(),
                ..claim(a.past.id, a.member, 900)
            },
        )
        .await
        .unwrap();
    // Another person's claim in the same tenant.
    s.record_attendance(
        t,
        ACTOR,
        a.past.id,
        &[(a.guest, AttendanceStatus::Present)],
        "owner",
    )
    .await
    .unwrap();
    let guests = s
        .submit_claim(
            t,
            &a.guest.to_string(),
            ExpenseClaim {
                description: "Bus from the guest's village".into(),
                ..claim(a.past.id, a.guest, 300)
            },
        )
        .await
        .unwrap();
    // The same claim id and person id in tenant B.
    s.record_attendance(
        b.tenant,
        ACTOR,
        b.past.id,
        &[(a.member, AttendanceStatus::Present)],
        "owner",
    )
    .await
    .unwrap();
    let in_b = s
        .submit_claim(
            b.tenant,
            &a.member.to_string(),
            ExpenseClaim {
                id: a.claim.id,
                ..claim(b.past.id, a.member, 4_200)
            },
        )
        .await
        .unwrap();
    assert_eq!(in_b.id, a.claim.id);

    // Before: the member's text is in every snapshot of their claims.
    let first = snapshots(s, t, a.claim.id).await;
    assert_eq!(
        first
            .iter()
            .map(|(action, _)| action.as_str())
            .collect::<Vec<_>>(),
        ["claim.submitted", "claim.decided", "claim.decided"],
        "after; before and after"
    );
    assert!(all_hold(s, t, a.claim.id, MINE).await, "{first:#?}");
    assert!(all_hold(s, t, second.id, "Parking at the school").await);

    let counts = s.erase_person_data(t, ACTOR, a.member).await.unwrap();
    assert_eq!(counts["audit_snapshots_scrubbed"], 3, "{counts:?}");
    assert_eq!(counts["expense_claims_blanked"], 1, "{counts:?}");

    // After: no snapshot of theirs holds the description; the rest stays.
    for (claim, travel) in [(a.claim.id, 4_200), (second.id, 900)] {
        let after = snapshots(s, t, claim).await;
        for (action, v) in &after {
            assert!(v.get("description").is_none(), "{action}: {v}");
            assert_eq!(v["id"], serde_json::json!(claim), "{action}: {v}");
            assert_eq!(v["person_id"], serde_json::json!(a.member), "{action}");
            assert_eq!(v["travel_amount"], serde_json::json!(travel), "{action}");
            assert_eq!(v["subsistence_amount"], serde_json::json!(1_250));
            assert_eq!(v["currency"], serde_json::json!("GBP"), "{action}");
            assert!(v["status"].is_string(), "{action}: {v}");
            assert!(v["submitted_at"].is_string(), "{action}: {v}");
        }
        let text = format!("{after:?}");
        assert!(!text.contains(MINE) && !text.contains("Parking"), "{text}");
    }
    let decided: Vec<_> = snapshots(s, t, a.claim.id)
        .await
        .into_iter()
        .filter(|(action, _)| action == "claim.decided")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(decided[0]["status"], serde_json::json!("submitted"));
    assert_eq!(decided[1]["status"], serde_json::json!("rejected"));
    assert_eq!(
        decided[1]["decision_reason"],
        serde_json::json!("Receipts missing")
    );
    // The record of the erasure is as written (counts only).
    let erased = s.audit_of(t, "person.erased").await;
    assert_eq!(erased.len(), 1);
    assert_eq!(
        erased[0].2.as_ref().unwrap()["counts"]["audit_snapshots_scrubbed"],
        serde_json::json!(3)
    );

    // Not touched: another person's claim in the tenant, the same ids in B.
    assert!(all_hold(s, t, guests.id, "Bus from the guest's village").await);
    assert_eq!(
        s.get_claim(t, guests.id).await.unwrap().description,
        "Bus from the guest's village"
    );
    assert!(all_hold(s, b.tenant, a.claim.id, MINE).await);
    assert!(all_hold(s, b.tenant, b.claim.id, MINE).await);
    assert_eq!(
        s.get_claim(b.tenant, a.claim.id).await.unwrap().description,
        MINE
    );

    // Again: nothing left to scrub, nothing written.
    let audit_before = s.audit(t).await;
    let again = s.erase_person_data(t, ACTOR, a.member).await.unwrap();
    assert_eq!(again["audit_snapshots_scrubbed"], 0, "{again:?}");
    assert!(again.values().all(|&n| n == 0), "{again:?}");
    assert_eq!(s.audit(t).await, audit_before);

    // B's own erasure of that person scrubs B's record only.
    let in_b = s
        .erase_person_data(b.tenant, ACTOR, a.member)
        .await
        .unwrap();
    assert_eq!(in_b["audit_snapshots_scrubbed"], 1, "{in_b:?}");
    assert!(all_hold(s, t, guests.id, "Bus from the guest's village").await);
    assert!(all_hold(s, b.tenant, b.claim.id, MINE).await);
}

// ------------------------------------------------------------------ retention

/// One tenant's rows on both sides of a retention `cutoff` (rows are aged
/// with direct SQL after they were written through the store).
struct RetentionRows {
    /// Ended ten days before the cutoff: its two feedback submissions expire.
    old: Event,
    /// Started before the cutoff but ended after it: its feedback stays.
    straddling: Event,
    /// Approved long before the cutoff, rejected a second before it.
    expired_claims: Vec<Uuid>,
    /// Approved exactly at the cutoff (not before it), and one never
    /// decided although submitted long before the cutoff.
    kept_claims: Vec<Uuid>,
}

async fn retention_rows(s: &dyn Inspect, t: TenantId, cutoff: DateTime<Utc>) -> RetentionRows {
    let day = chrono::Duration::days(1);
    let hour = chrono::Duration::hours(1);
    let p = people(4);
    let old = create_one(s, t, event("Old network meeting", days_ago(3), 2)).await;
    let straddling = create_one(s, t, event("Long training", days_ago(3), 2)).await;
    let present = |who: &[Uuid]| -> Vec<(Uuid, AttendanceStatus)> {
        who.iter()
            .map(|p| (*p, AttendanceStatus::Present))
            .collect()
    };
    s.record_attendance(t, ACTOR, old.id, &present(&p), "owner")
        .await
        .expect("attendance");
    s.record_attendance(t, ACTOR, straddling.id, &present(&p[..1]), "owner")
        .await
        .expect("attendance");
    for e in [&old, &straddling] {
        let q = s
            .set_questionnaire(t, ACTOR, e.id, questions())
            .await
            .expect("questionnaire");
        let givers = if e.id == old.id { &p[..2] } else { &p[..1] };
        for who in givers {
            s.submit_feedback(
                t,
                &who.to_string(),
                e.id,
                *who,
                answers(&q, 3, "Shorter breaks"),
            )
            .await
            .expect("feedback");
        }
    }
    let mut claims = Vec::new();
    for (i, who) in p.iter().enumerate() {
        let c = s
            .submit_claim(
                t,
                &who.to_string(),
                claim(old.id, *who, 100 * (i as i64 + 1)),
            )
            .await
            .expect("claim");
        claims.push(c.id);
    }
    s.decide_claim(t, ACTOR, claims[0], true, None)
        .await
        .unwrap();
    s.decide_claim(t, ACTOR, claims[1], false, Some("No receipt".into()))
        .await
        .unwrap();
    s.decide_claim(t, ACTOR, claims[3], true, None)
        .await
        .unwrap();

    let starts = "UPDATE events SET starts_at = $3 WHERE tenant_id = $1 AND id = $2";
    let ends = "UPDATE events SET ends_at = $3 WHERE tenant_id = $1 AND id = $2";
    let decided = "UPDATE expense_claims SET decided_at = $3 WHERE tenant_id = $1 AND id = $2";
    let submitted = "UPDATE expense_claims SET submitted_at = $3 WHERE tenant_id = $1 AND id = $2";
    for (sql, id, at) in [
        (starts, old.id, cutoff - day * 10 - hour * 2),
        (ends, old.id, cutoff - day * 10),
        (starts, straddling.id, cutoff - hour),
        (ends, straddling.id, cutoff + hour),
        (decided, claims[0], cutoff - day * 30),
        (decided, claims[1], cutoff - chrono::Duration::seconds(1)),
        (decided, claims[3], cutoff),
        (submitted, claims[2], cutoff - day * 60),
    ] {
        assert_eq!(s.backdate(t, sql, id, at).await, 1, "{sql}");
    }
    RetentionRows {
        old,
        straddling,
        expired_claims: claims[..2].to_vec(),
        kept_claims: claims[2..].to_vec(),
    }
}

/// A report as `category.kind → count`, so a missing or extra kind shows.
fn by_kind(counts: &[Count]) -> BTreeMap<String, u64> {
    counts
        .iter()
        .map(|c| (format!("{}.{}", c.category.as_str(), c.kind), c.count))
        .collect()
}

fn kinds(expected: &[(&str, u64)]) -> BTreeMap<String, u64> {
    expected.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

async fn retention_expires_one_tenants_old_feedback_and_decided_claims_only(s: &dyn Inspect) {
    let cutoff = days_ago(365);
    let (a, b) = (TenantId::new_v7(), TenantId::new_v7());
    let ra = retention_rows(s, a, cutoff).await;
    let rb = retention_rows(s, b, cutoff).await;
    drain(s, &MemoryBus::new()).await;
    let mut trail = Trail::new(s, a).await;
    let cutoffs = Cutoffs::new([
        (Category::EventFeedback, cutoff),
        (Category::ExpenseClaims, cutoff),
        (Category::AuditLog, cutoff),
        (Category::PublishedEvents, cutoff),
    ]);
    let expected = kinds(&[
        ("event_feedback.feedback", 2),
        ("expense_claims.expense_claims", 2),
        // Every audit record and event here was written today.
        ("audit_log.audit_records", 0),
        ("published_events.outbox_events", 0),
    ]);
    let a_before = s.counts(a).await;
    let b_before = s.counts(b).await;

    // A dry run counts what would go and changes nothing, not even the log.
    let dry = s.apply_retention(a, ACTOR, &cutoffs, true).await.unwrap();
    assert_eq!(by_kind(&dry), expected);
    assert_eq!(s.counts(a).await, a_before, "a dry run changes nothing");
    assert!(s.audit_of(a, "retention.applied").await.is_empty());
    trail.expect_nothing("a dry run").await;

    // The real run does what the dry run said, and records it once.
    let applied = s.apply_retention(a, ACTOR, &cutoffs, false).await.unwrap();
    assert_eq!(by_kind(&applied), expected, "as the dry run reported");
    trail
        .expect(
            "apply_retention",
            &[("retention.applied", a.0)],
            &[("retention.applied", a.0)],
        )
        .await;
    let records = s.audit_of(a, "retention.applied").await;
    assert_eq!(
        records,
        vec![(
            "tenant".to_string(),
            a.0.to_string(),
            Some(retention::audit_summary(&cutoffs, &applied))
        )]
    );
    assert_eq!(
        records[0].2.as_ref().unwrap()["counts"]["event_feedback.feedback"],
        2
    );

    // Gone: feedback on the event that ended before the cutoff, claims
    // decided before it. Kept: the rest.
    assert!(s.feedback_answers(a, ra.old.id).await.unwrap().is_empty());
    assert_eq!(
        s.feedback_answers(a, ra.straddling.id).await.unwrap().len(),
        1,
        "feedback on an event that ended after the cutoff is kept"
    );
    for id in &ra.expired_claims {
        expect_not_found(s.get_claim(a, *id).await);
    }
    let kept: Vec<ClaimStatus> = {
        let mut v = Vec::new();
        for id in &ra.kept_claims {
            v.push(s.get_claim(a, *id).await.expect("kept").status);
        }
        v
    };
    assert_eq!(kept, [ClaimStatus::Submitted, ClaimStatus::Approved]);
    let a_after = s.counts(a).await;
    for (table, change) in [
        ("feedback", -2),
        ("expense_claims", -2),
        ("audit_log", 1),
        ("outbox", 1),
    ] {
        assert_eq!(a_after[table], a_before[table] + change, "{table}");
    }
    for table in ["events", "attendance", "questions", "rsvps"] {
        assert_eq!(a_after[table], a_before[table], "{table} untouched");
    }

    // Tenant B, with the very same ages, lost nothing.
    assert_eq!(s.counts(b).await, b_before, "B's rows all stay");
    assert_eq!(s.feedback_answers(b, rb.old.id).await.unwrap().len(), 2);
    for id in rb.expired_claims.iter().chain(&rb.kept_claims) {
        s.get_claim(b, *id).await.expect("B's claim stays");
    }
    assert!(s.audit_of(b, "retention.applied").await.is_empty());

    // Again: nothing more to expire; the run itself is recorded.
    let again = s.apply_retention(a, ACTOR, &cutoffs, false).await.unwrap();
    let zeros: BTreeMap<String, u64> = expected.keys().map(|k| (k.clone(), 0)).collect();
    assert_eq!(by_kind(&again), zeros);
    trail
        .expect(
            "apply_retention again",
            &[("retention.applied", a.0)],
            &[("retention.applied", a.0)],
        )
        .await;
    let a_again = s.counts(a).await;
    for table in ["feedback", "expense_claims", "events", "attendance"] {
        assert_eq!(a_again[table], a_after[table], "{table}");
    }
    assert_eq!(s.counts(b).await, b_before);
    trail.stop().await;
}

async fn retention_leaves_categories_without_a_cutoff_alone(s: &dyn Inspect) {
    let cutoff = days_ago(365);
    let t = TenantId::new_v7();
    retention_rows(s, t, cutoff).await;
    let before = s.counts(t).await;
    // Only the audit log: feedback and claims past the cutoff stay.
    let only_audit = Cutoffs::new([(Category::AuditLog, cutoff)]);
    let report = s
        .apply_retention(t, ACTOR, &only_audit, false)
        .await
        .unwrap();
    assert_eq!(by_kind(&report), kinds(&[("audit_log.audit_records", 0)]));
    let after = s.counts(t).await;
    assert_eq!(
        (after["feedback"], after["expense_claims"]),
        (before["feedback"], before["expense_claims"])
    );
    assert_eq!(after["audit_log"], before["audit_log"] + 1);
    // Only claims: the feedback stays.
    let only_claims = Cutoffs::new([(Category::ExpenseClaims, cutoff)]);
    let report = s
        .apply_retention(t, ACTOR, &only_claims, false)
        .await
        .unwrap();
    assert_eq!(
        by_kind(&report),
        kinds(&[("expense_claims.expense_claims", 2)])
    );
    let after = s.counts(t).await;
    assert_eq!(
        (after["feedback"], after["expense_claims"]),
        (before["feedback"], before["expense_claims"] - 2)
    );
    // No cutoffs at all: nothing reported, nothing expired.
    let report = s
        .apply_retention(t, ACTOR, &Cutoffs::default(), true)
        .await
        .unwrap();
    assert!(report.is_empty(), "{report:?}");
}
