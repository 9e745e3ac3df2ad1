//! Concurrent RSVPs never overbook (PostgreSQL, where answers really run in
//! parallel): sixty people accept a five-seat event at once over sixteen
//! connections; exactly five get seats and the other fifty-five queue in one
//! strict order; two seat holders then decline at once and exactly the first
//! two in the queue move up. A watcher checks the accepted count throughout.

mod support;

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use collegium_scheduling::{domain::*, store::SchedulingStore};
use platform::auth::TenantId;
use support::*;
use uuid::Uuid;

const SEATS: u32 = 5;
const PEOPLE: usize = 60;

/// Polls the seat counts until told to stop; returns the most accepted seen.
fn watch_seats(
    store: Arc<dyn SchedulingStore>,
    t: TenantId,
    event: Uuid,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u32> {
    let most = Arc::new(AtomicU32::new(0));
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let counts = store.seat_counts(t, &[event]).await.expect("seat counts");
            most.fetch_max(counts[0].1.accepted, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        most.load(Ordering::Relaxed)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rsvps_never_overbook_and_the_queue_moves_up_in_order() {
    bounded(async {
        let (_db, store) = postgres_store_with(16).await;
        let store: Arc<dyn SchedulingStore> = Arc::new(store);
        let t = TenantId::new_v7();
        let e = store
            .create_events(
                t,
                ACTOR,
                vec![Event {
                    capacity: SEATS,
                    ..event("Scoring training", at(5, 1, 9, 0), 6)
                }],
            )
            .await
            .expect("event created")
            .remove(0);
        let people = people(PEOPLE);

        let stop = Arc::new(AtomicBool::new(false));
        let watcher = watch_seats(store.clone(), t, e.id, stop.clone());
        let answers: Vec<_> = people
            .iter()
            .map(|&who| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .respond(
                            t,
                            &who.to_string(),
                            e.id,
                            who,
                            RsvpStatus::Accepted,
                            answered_at(),
                        )
                        .await
                        .expect("every answer is taken")
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for a in answers {
            outcomes.push(a.await.expect("the task finished"));
        }

        let seated: Vec<Uuid> = outcomes
            .iter()
            .filter(|o| o.rsvp.status == RsvpStatus::Accepted)
            .map(|o| o.rsvp.person_id)
            .collect();
        let queued = outcomes
            .iter()
            .filter(|o| o.rsvp.status == RsvpStatus::Waitlisted)
            .count();
        assert_eq!(
            (seated.len(), queued),
            (SEATS as usize, PEOPLE - SEATS as usize)
        );
        assert!(outcomes.iter().all(|o| o.promoted.is_empty()));
        let counts = store.seat_counts(t, &[e.id]).await.unwrap()[0].1;
        assert_eq!(
            counts,
            SeatCounts {
                accepted: SEATS,
                waitlisted: (PEOPLE - SEATS as usize) as u32
            }
        );

        // One strict order: distinct people, strictly increasing times, the
        // same order whichever way the list is read.
        let queue = all_pages(7, |page| {
            store.list_rsvps(t, e.id, Some(RsvpStatus::Waitlisted), page)
        })
        .await;
        assert_eq!(queue.len(), PEOPLE - SEATS as usize);
        let distinct: HashSet<Uuid> = queue.iter().map(|r| r.person_id).collect();
        assert_eq!(distinct.len(), queue.len());
        let times: Vec<DateTime<Utc>> = queue.iter().map(|r| r.waitlisted_at.unwrap()).collect();
        assert!(
            times.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing: {times:?}"
        );
        assert!(queue.iter().all(|r| !seated.contains(&r.person_id)));

        // Two seat holders decline at once: exactly the first two move up.
        let declines: Vec<_> = seated[..2]
            .iter()
            .map(|&who| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .respond(
                            t,
                            &who.to_string(),
                            e.id,
                            who,
                            RsvpStatus::Declined,
                            answered_at(),
                        )
                        .await
                        .expect("the decline is taken")
                })
            })
            .collect();
        let mut promoted = Vec::new();
        for d in declines {
            let outcome = d.await.expect("the task finished");
            assert_eq!(outcome.rsvp.status, RsvpStatus::Declined);
            assert_eq!(
                outcome.promoted.len(),
                1,
                "each freed seat goes to one person"
            );
            promoted.extend(outcome.promoted);
        }
        assert_eq!(
            sorted(promoted),
            sorted([queue[0].person_id, queue[1].person_id])
        );
        for r in &queue[..2] {
            assert_eq!(
                store
                    .get_rsvp(t, e.id, r.person_id)
                    .await
                    .unwrap()
                    .unwrap()
                    .status,
                RsvpStatus::Accepted
            );
        }
        let rest = all_pages(50, |page| {
            store.list_rsvps(t, e.id, Some(RsvpStatus::Waitlisted), page)
        })
        .await;
        assert_eq!(rest, queue[2..].to_vec(), "the rest keep their places");
        let counts = store.seat_counts(t, &[e.id]).await.unwrap()[0].1;
        assert_eq!(
            counts,
            SeatCounts {
                accepted: SEATS,
                waitlisted: (PEOPLE - SEATS as usize - 2) as u32
            }
        );

        stop.store(true, Ordering::Relaxed);
        let most = watcher.await.expect("the watcher finished");
        assert!(
            most <= SEATS,
            "never more than {SEATS} accepted, saw {most}"
        );
        assert!(most > 0, "the watcher saw the seats fill");
    })
    .await;
}
