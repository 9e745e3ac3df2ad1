//! Benchmark (not a timed test), run by hand against real PostgreSQL and Redis:
//!
//! ```text
//! cargo bench -p collegium-notifications --bench announcement
//! ```
//!
//! (a) An announcement to a 10,000-member cluster: `SendClusterMessage` as
//!     the cluster lead, timed from the call until all 10,000 in-app
//!     notifications are stored (COUNT(*) as the owner) and a sample of
//!     recipients' `WatchInbox` streams has received it, against a bare
//!     multi-row INSERT of the same 10,000 notification rows in the same run,
//!     and against that INSERT plus the delivery-log rows the announcement
//!     wrote (an in-app row per person and the e-mail's), copied as they are.
//! (b) E-mail throughput: 2,000 immediate e-mails (one `Notify`) through the
//!     delivery worker to a local SMTP sink, in messages per second.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it prints
//! "skipped" and returns at once.

#[path = "../tests/runtime_support/mod.rs"]
mod runtime_support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use collegium_membership::{MembershipStore, domain as m};
use collegium_notifications::Mailer;
use collegium_proto::notifications::v1 as pb;
use futures::StreamExt;
use platform::auth::Role;
use runtime_support::*;
use sqlx::{Connection, Executor, PgConnection, QueryBuilder};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};
use uuid::Uuid;

const MEMBERS: usize = 10_000;
const EMAILS: usize = 2_000;
const WATCHERS: usize = 5;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "skipped (run with `cargo bench -p collegium-notifications --bench announcement`)"
        );
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

/// A minimal SMTP server that accepts everything and counts messages.
async fn smtp_sink(count: Arc<AtomicUsize>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read);
                if write.write_all(b"220 sink ESMTP\r\n").await.is_err() {
                    return;
                }
                let mut line = String::new();
                let mut in_data = false;
                loop {
                    line.clear();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    let reply: &[u8] = if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            count.fetch_add(1, Ordering::SeqCst);
                            b"250 OK queued\r\n"
                        } else {
                            continue;
                        }
                    } else {
                        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                        match verb.as_str() {
                            "EHLO" => b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
                            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                            "DATA" => {
                                in_data = true;
                                b"354 go ahead\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"502 not implemented\r\n",
                        }
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("smtp://127.0.0.1:{port}")
}

fn ok<T>(r: Result<tonic::Response<T>, tonic::Status>) -> T {
    r.expect("the call succeeds").into_inner()
}

async fn run() {
    let sent = Arc::new(AtomicUsize::new(0));
    let sink = smtp_sink(sent.clone()).await;
    let mut workers = fast_workers();
    workers.delivery = collegium_notifications::DeliveryOptions {
        poll_interval: Duration::from_millis(100),
        ..Default::default()
    };
    let app = spawn_stack(StackOptions {
        mailer: Mailer::smtp(&sink).expect("SMTP mailer"),
        workers,
        redis_url: testkit::redis_url(),
        cleanup: None,
    })
    .await;

    // ---- seeding: one tenant, 10,000 teachers in one cluster
    let started = Instant::now();
    let mut s = seed(&app.membership, "bench", 0).await;
    let store = &app.membership;
    let (t, cluster) = (s.id, s.cluster);
    let people: Vec<Uuid> = futures::stream::iter(0..MEMBERS)
        .map(|i| async move {
            let given = format!("Member{i}");
            let id = store
                .create_person(
                    t,
                    ACTOR,
                    m::NewPerson {
                        contact: m::Contact {
                            email: Some(address(&given, "bench")),
                            ..Default::default()
                        },
                        given_name: given,
                        family_name: "Bench".into(),
                        organisation_id: None,
                        external_id: None,
                        time_zone: None,
                    },
                )
                .await
                .expect("person")
                .id;
            store
                .grant_role(t, ACTOR, id, Role::Teacher, Some(cluster))
                .await
                .expect("grant");
            id
        })
        .buffered(8)
        .collect()
        .await;
    s.teachers = people.clone();
    let seeding = started.elapsed();
    println!("seeded {MEMBERS} members in {:.1} s", seeding.as_secs_f64());

    let mut owner = PgConnection::connect(&app.notifications_owner_url)
        .await
        .expect("owner connection");
    let count =
        |c: &'static str| format!("SELECT COUNT(*) FROM notifications.notifications WHERE {c}");

    // ---- (a) the announcement, stored and pushed
    let mut watchers = Vec::new();
    for i in 0..WATCHERS {
        let idx = i * (MEMBERS / WATCHERS);
        watchers.push(ok(app
            .teacher(&s, idx)
            .watch_inbox(pb::WatchInboxRequest {})
            .await));
    }
    let t0 = Instant::now();
    let answer = ok(app
        .lead(&s)
        .send_cluster_message(pb::SendClusterMessageRequest {
            cluster_id: cluster.to_string(),
            role: "teacher".into(),
            subject: "Autumn conference".into(),
            body: "Dear colleagues,\n\nthe programme of the autumn conference is out.".into(),
            idempotency_key: String::new(),
        })
        .await);
    let call = t0.elapsed();
    assert_eq!(answer.recipients as usize, MEMBERS, "{answer:?}");
    let pushes = futures::future::join_all(watchers.iter_mut().map(|w| async {
        tokio::time::timeout(Duration::from_secs(120), w.message())
            .await
            .expect("pushed in time")
            .expect("stream")
            .expect("an item");
        t0.elapsed()
    }));
    let stored = async {
        let q = count("category = 'newsletters'");
        loop {
            let n: i64 = sqlx::query_scalar(&q).fetch_one(&mut owner).await.unwrap();
            if n as usize >= MEMBERS {
                return t0.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let (pushed, stored) = tokio::join!(pushes, stored);
    let pushed = pushed.into_iter().max().unwrap();
    let announcement = pushed.max(stored);

    // What the announcement wrote besides the inbox rows: its delivery log
    // (an in-app row per person, and the e-mail's), read back to be
    // inserted bare below as well.
    type LogRow = (
        Uuid,
        String,
        Option<String>,
        String,
        i32,
        chrono::DateTime<chrono::Utc>,
        bool,
    );
    let log: Vec<LogRow> = sqlx::query_as(
        "SELECT d.person_id, d.channel, d.address, d.status, d.attempts, d.next_attempt_at, \
         d.digest FROM notifications.deliveries d JOIN notifications.notifications n \
         ON n.tenant_id = d.tenant_id AND n.id = d.notification_id \
         WHERE n.category = 'newsletters'",
    )
    .fetch_all(&mut owner)
    .await
    .unwrap();

    // The bare INSERT of the same rows (new ids, another source), as the owner.
    let rows: Vec<(Uuid, Uuid)> = people.iter().map(|p| (Uuid::now_v7(), *p)).collect();
    let bare_id: std::collections::HashMap<Uuid, Uuid> =
        rows.iter().map(|(id, person)| (*person, *id)).collect();
    let now = chrono::Utc::now();
    let b0 = Instant::now();
    let mut tx = owner.begin().await.unwrap();
    for chunk in rows.chunks(1_000) {
        let mut q = QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO notifications.notifications (tenant_id, id, person_id, category, title, \
             body, link, critical, source_event_id, created_at, read_at, archived_at) ",
        );
        q.push_values(chunk, |mut b, (id, person)| {
            b.push_bind(t.0)
                .push_bind(*id)
                .push_bind(*person)
                .push_bind("newsletters")
                .push_bind("Autumn conference")
                .push_bind("Dear colleagues,\n\nthe programme of the autumn conference is out.")
                .push_bind("")
                .push_bind(false)
                .push_bind(Option::<Uuid>::None)
                .push_bind(now)
                .push_bind(Option::<chrono::DateTime<chrono::Utc>>::None)
                .push_bind(Option::<chrono::DateTime<chrono::Utc>>::None);
        });
        q.build().execute(&mut *tx).await.unwrap();
    }
    let bare_inbox = b0.elapsed();
    for chunk in log.chunks(1_000) {
        let mut q = QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO notifications.deliveries (tenant_id, id, notification_id, person_id, \
             channel, address, status, attempts, last_error, next_attempt_at, digest, updated_at) ",
        );
        q.push_values(
            chunk,
            |mut b, (person, channel, address, status, attempts, next, digest)| {
                b.push_bind(t.0)
                    .push_bind(Uuid::now_v7())
                    .push_bind(bare_id[person])
                    .push_bind(*person)
                    .push_bind(channel)
                    .push_bind(address)
                    .push_bind(status)
                    .push_bind(*attempts)
                    .push_bind(Option::<String>::None)
                    .push_bind(*next)
                    .push_bind(*digest)
                    .push_bind(now);
            },
        );
        q.build().execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let bare = b0.elapsed();

    // ---- (b) e-mail throughput
    let before = sent.load(Ordering::SeqCst);
    let e0 = Instant::now();
    ok(app
        .admin(&s)
        .notify(pb::NotifyRequest {
            idempotency_key: "bench-mail".into(),
            person_ids: people[..EMAILS].iter().map(Uuid::to_string).collect(),
            category: pb::Category::Invitations as i32,
            title: "Invitation to the autumn conference".into(),
            body: "You are invited.\n\nPlease answer by Friday.".into(),
            link: "/events/1".into(),
            critical: false,
        })
        .await);
    let deadline = Instant::now() + Duration::from_secs(600);
    while sent.load(Ordering::SeqCst) - before < EMAILS {
        assert!(Instant::now() < deadline, "e-mails did not all arrive");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mail = e0.elapsed();
    let _ = owner.execute("SELECT 1").await;

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!();
    println!("| measure                                        | value        |");
    println!("|------------------------------------------------|--------------|");
    println!(
        "| seeding {MEMBERS} members                          | {:>9.0} ms |",
        ms(seeding)
    );
    println!(
        "| announcement: SendClusterMessage call          | {:>9.0} ms |",
        ms(call)
    );
    println!(
        "| announcement: all {MEMBERS} stored                 | {:>9.0} ms |",
        ms(stored)
    );
    println!(
        "| announcement: pushed to {WATCHERS} watchers            | {:>9.0} ms |",
        ms(pushed)
    );
    println!(
        "| announcement: stored and pushed                | {:>9.0} ms |",
        ms(announcement)
    );
    println!(
        "| bare INSERT of the {MEMBERS} inbox rows            | {:>9.0} ms |",
        ms(bare_inbox)
    );
    println!(
        "| ratio to the inbox rows (aim <= 3x)            | {:>10.2}x |",
        ms(announcement) / ms(bare_inbox)
    );
    println!(
        "| bare INSERT of inbox + {:>5} delivery-log rows | {:>9.0} ms |",
        log.len(),
        ms(bare)
    );
    println!(
        "| ratio to every row it writes                   | {:>10.2}x |",
        ms(announcement) / ms(bare)
    );
    println!(
        "| {EMAILS} e-mails to the SMTP sink                 | {:>9.0} ms |",
        ms(mail)
    );
    println!(
        "| e-mail throughput                              | {:>7.0} msg/s |",
        EMAILS as f64 / mail.as_secs_f64()
    );
}
