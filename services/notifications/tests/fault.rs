//! The fault test of the issue: an announcement fans out over the Redis bus
//! (scheduling invites 50 people in several batches; each invitation is one
//! `scheduling.rsvp.invited` event, relayed from scheduling's outbox onto
//! Redis and consumed by notifications) while every Redis connection of the
//! service is killed, several times, in the middle (`CLIENT KILL` of the
//! connections on this test's Redis database, from a separate connection).
//!
//! The consumer loses its blocking read and its acknowledgements, the relay
//! its publishing connection; they reconnect, unacknowledged events are
//! reclaimed and delivered again. Afterwards every recipient has exactly one
//! inbox item and exactly one e-mail delivery (no loss, no duplicate), one
//! `.eml` file each, nothing is left pending and nothing was parked.

mod runtime_support;

use std::{collections::HashMap, time::Duration};

use collegium_notifications::{Mailer, domain::Channel};
use runtime_support::*;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

/// The Redis database this test's bus uses, so that its connections (and
/// only those) can be found and killed.
const REDIS_DB: u8 = 7;
const PEOPLE: usize = 50;
const BATCHES: usize = 5;

/// The test Redis URL with [`REDIS_DB`] selected.
fn redis_url_with_db() -> String {
    let base = testkit::redis_url();
    let rest = base.trim_start_matches("redis://");
    let host = rest.split('/').next().unwrap_or(rest);
    format!("redis://{host}/{REDIS_DB}")
}

/// Kills every client connected to [`REDIS_DB`] but ourselves; returns how many.
async fn kill_bus_connections(admin: &mut redis::aio::MultiplexedConnection) -> usize {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("normal")
        .query_async(admin)
        .await
        .expect("CLIENT LIST");
    let me: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(admin)
        .await
        .expect("CLIENT ID");
    let mut killed = 0;
    for line in list.lines() {
        let fields: HashMap<&str, &str> = line
            .split(' ')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let (Some(id), Some(db)) = (fields.get("id"), fields.get("db")) else {
            continue;
        };
        if *db != REDIS_DB.to_string() || id.parse::<i64>().ok() == Some(me) {
            continue;
        }
        let n: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(*id)
            .query_async(admin)
            .await
            .unwrap_or(0);
        killed += n as usize;
    }
    killed
}

async fn stored_count(owner: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notifications.notifications")
        .fetch_one(owner)
        .await
        .expect("count")
}

#[tokio::test]
async fn killing_redis_connections_mid_fan_out_loses_and_duplicates_nothing() {
    bounded(async {
        let dir = mail_dir();
        let app = spawn_stack(StackOptions {
            mailer: Mailer::file(&dir).unwrap(),
            workers: fast_workers(),
            redis_url: redis_url_with_db(),
            cleanup: Some(dir.clone()),
        })
        .await;
        let s = seed(&app.membership, "fault", PEOPLE).await;
        let event = app.meeting(&s, "Regional announcement", 48).await;

        let control = redis::Client::open(testkit::redis_url()).unwrap();
        let mut admin = control.get_multiplexed_async_connection().await.unwrap();
        let mut owner = PgConnection::connect(&app.notifications_owner_url)
            .await
            .unwrap();

        // The fan-out, in batches, so publishing and consuming overlap the kills.
        let inviter = {
            let people = s.teachers.clone();
            let scheduling = app.scheduling(&app.issuer.token(
                s.id,
                platform::auth::PersonId(s.admin),
                &[grant(platform::auth::Role::TenantAdmin, None)],
            ));
            tokio::spawn(async move {
                let mut scheduling = scheduling;
                for chunk in people.chunks(PEOPLE / BATCHES) {
                    scheduling
                        .invite(collegium_proto::scheduling::v1::InviteRequest {
                            event_id: event.to_string(),
                            audiences: vec![collegium_proto::scheduling::v1::Audience {
                                audience: Some(
                                    collegium_proto::scheduling::v1::audience::Audience::People(
                                        collegium_proto::scheduling::v1::PersonList {
                                            person_ids: chunk.iter().map(Uuid::to_string).collect(),
                                        },
                                    ),
                                ),
                            }],
                        })
                        .await
                        .expect("invited");
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            })
        };

        // Kill the bus connections whenever the fan-out passes a mark.
        let marks = [1i64, 12, 25, 38];
        let mut kills_mid_way = 0;
        let mut next = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let n = stored_count(&mut owner).await;
            if n >= PEOPLE as i64 {
                break;
            }
            if next < marks.len() && n >= marks[next] {
                let killed = kill_bus_connections(&mut admin).await;
                assert!(killed > 0, "the bus has connections to kill");
                kills_mid_way += 1;
                next += 1;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the fan-out did not recover: {n} of {PEOPLE} stored"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        inviter.await.unwrap();
        assert!(
            kills_mid_way >= 2,
            "the connections were killed while the fan-out ran"
        );

        // Give redeliveries (reclaimed after 1 s) every chance to duplicate.
        tokio::time::sleep(Duration::from_secs(4)).await;

        let per_person: Vec<(Uuid, i64)> = sqlx::query_as(
            "SELECT person_id, count(*) FROM notifications.notifications GROUP BY person_id",
        )
        .fetch_all(&mut owner)
        .await
        .unwrap();
        assert_eq!(per_person.len(), PEOPLE, "every recipient has an item");
        assert!(
            per_person.iter().all(|(_, n)| *n == 1),
            "exactly one each: {per_person:?}"
        );
        for person in &s.teachers {
            assert!(per_person.iter().any(|(p, _)| p == person));
        }

        // One e-mail delivery per recipient, each sent once.
        let emails = eventually(Duration::from_secs(30), "every e-mail sent", || async {
            let emails: Vec<_> = app
                .deliveries(s.id)
                .await
                .into_iter()
                .filter(|d| d.channel == Channel::Email)
                .collect();
            emails
                .iter()
                .all(|d| d.status == collegium_notifications::domain::DeliveryStatus::Sent)
                .then_some(emails)
        })
        .await;
        assert_eq!(emails.len(), PEOPLE);
        let mut people: Vec<Uuid> = emails.iter().map(|d| d.person_id).collect();
        people.sort();
        people.dedup();
        assert_eq!(people.len(), PEOPLE);
        let files = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))
            })
            .count();
        assert_eq!(files, PEOPLE, "one e-mail file per recipient");

        // Nothing left pending in the group, nothing parked.
        let mut bus_conn = redis::Client::open(redis_url_with_db())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let pending: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(app.bus.stream_key())
            .arg("notifications")
            .query_async(&mut bus_conn)
            .await
            .unwrap();
        assert_eq!(pending.count(), 0, "every event acknowledged");
        // The bus' shared connection was killed too: its first command after
        // the kill may fail while it reconnects.
        let dead = eventually(Duration::from_secs(10), "the dead-letter list", || async {
            platform::events::EventBus::dead_letters(app.bus.as_ref(), "notifications")
                .await
                .ok()
        })
        .await;
        assert!(dead.is_empty(), "nothing parked: {dead:?}");
    })
    .await
}
