//! E-mail over a real SMTP conversation: a small SMTP server started by the
//! test on 127.0.0.1 (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) collects what
//! the delivery worker sends, and can answer `451` to the first messages or
//! `550` to some recipients. The service runs whole (membership, scheduling,
//! notifications, Redis bus).
//!
//! Checked: text and HTML parts; `List-Unsubscribe` and
//! `List-Unsubscribe-Post` (RFC 8058) with a link whose one-click unsubscribe
//! works through `UnsubscribeService`, after which newsletters leave that
//! person out; a stable `Message-ID` per delivery; retries with back-off
//! after `451`s ending in `Sent`; a permanent `550` ending in `Failed` at
//! once; the in-app copy stored while the e-mail still fails; a digest of
//! several messages as one e-mail; a server that stops answering costs an
//! attempt, not a second copy.

mod runtime_support;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use collegium_notifications::{
    Mailer,
    domain::{Channel, DeliveryStatus},
};
use collegium_proto::notifications::v1 as pb;
use runtime_support::*;
use sqlx::{Connection, Executor, PgConnection};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};
use uuid::Uuid;

// ------------------------------------------------------------------ the SMTP sink

/// One message as the sink received it.
#[derive(Debug, Clone)]
struct Received {
    rcpt: Vec<String>,
    data: String,
}

impl Received {
    /// Header lines unfolded (continuation lines joined), then the value of `name`.
    fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut unfolded: Vec<String> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = unfolded.last_mut() {
                    last.push_str(line.trim_start());
                }
            } else {
                unfolded.push(line.to_string());
            }
        }
        let prefix = format!("{}:", name.to_ascii_lowercase());
        unfolded
            .into_iter()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    }
}

/// What the sink does and has seen.
#[derive(Default)]
struct SinkState {
    received: Mutex<Vec<Received>>,
    /// Answer `451` to this many more messages (after their data).
    fail_next: AtomicUsize,
    /// Messages refused with `451` so far.
    refused: AtomicUsize,
    /// Recipients containing this are refused with `550`.
    reject: Mutex<Vec<String>>,
    /// Never answer a message's data (a hung server); the message is not
    /// taken. Conversations that stalled so far:
    stall: std::sync::atomic::AtomicBool,
    stalled: AtomicUsize,
}

struct Sink {
    port: u16,
    state: Arc<SinkState>,
}

impl Sink {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(SinkState::default());
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(conversation(socket, shared.clone()));
            }
        });
        Self { port, state }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn to(&self, address: &str) -> Vec<Received> {
        self.state
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.rcpt.iter().any(|a| a == address))
            .cloned()
            .collect()
    }
}

/// One SMTP session (RFC 5321, just enough for a client like lettre).
async fn conversation(socket: tokio::net::TcpStream, state: Arc<SinkState>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    if write
        .write_all(b"220 sink.test ESMTP ready\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut rcpt: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" => "250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8".to_string(),
            "HELO" => "250 sink.test".to_string(),
            "MAIL" => {
                rcpt.clear();
                "250 2.1.0 OK".to_string()
            }
            "RCPT" => {
                let address = command
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map(|(a, _)| a.to_string())
                    .unwrap_or_default();
                let rejected = state
                    .reject
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|r| address.contains(r.as_str()));
                if rejected {
                    "550 5.1.1 no such mailbox".to_string()
                } else {
                    rcpt.push(address);
                    "250 2.1.5 OK".to_string()
                }
            }
            "DATA" => {
                if write
                    .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let mut data = String::new();
                loop {
                    line.clear();
                    match lines.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    // Dot-unstuffing.
                    let content = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(content);
                }
                if state.stall.load(Ordering::SeqCst) {
                    state.stalled.fetch_add(1, Ordering::SeqCst);
                    // Silent until the client gives up and hangs up.
                    let _ = lines.read_line(&mut line).await;
                    return;
                }
                let fail = state
                    .fail_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if fail {
                    state.refused.fetch_add(1, Ordering::SeqCst);
                    "451 4.3.0 try again later".to_string()
                } else {
                    state.received.lock().unwrap().push(Received {
                        rcpt: std::mem::take(&mut rcpt),
                        data,
                    });
                    "250 2.0.0 queued".to_string()
                }
            }
            "RSET" => {
                rcpt.clear();
                "250 2.0.0 OK".to_string()
            }
            "NOOP" => "250 2.0.0 OK".to_string(),
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                return;
            }
            _ => "502 5.5.2 command not recognised".to_string(),
        };
        if write
            .write_all(format!("{answer}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

// ------------------------------------------------------------------ helpers

async fn smtp_stack(sink: &Sink) -> Stack {
    spawn_stack(StackOptions {
        mailer: Mailer::smtp(&sink.url()).expect("SMTP mailer"),
        workers: fast_workers(),
        redis_url: testkit::redis_url(),
        cleanup: None,
    })
    .await
}

fn notify(key: &str, people: &[Uuid], category: pb::Category, title: &str) -> pb::NotifyRequest {
    pb::NotifyRequest {
        idempotency_key: key.to_string(),
        person_ids: people.iter().map(Uuid::to_string).collect(),
        category: category as i32,
        title: title.to_string(),
        body: "First paragraph.\n\nSecond paragraph.".into(),
        link: "/events/1".into(),
        critical: false,
    }
}

fn wait() -> Duration {
    Duration::from_secs(30)
}

/// The e-mail delivery of a person's notification, once it has `status`.
async fn email_delivery(
    app: &Stack,
    s: &Seeded,
    person: Uuid,
    status: DeliveryStatus,
) -> collegium_notifications::domain::Delivery {
    eventually(wait(), "the e-mail delivery's outcome", || async {
        app.deliveries(s.id)
            .await
            .into_iter()
            .find(|d| d.person_id == person && d.channel == Channel::Email && d.status == status)
    })
    .await
}

fn immediately(category: pb::Category) -> pb::Preferences {
    pb::Preferences {
        entries: vec![pb::CategoryPreference {
            category: category as i32,
            channel: pb::Channel::Email as i32,
            frequency: pb::Frequency::Immediately as i32,
        }],
        ..Default::default()
    }
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn an_email_has_both_parts_one_click_unsubscribe_and_newsletters_honour_it() {
    bounded(async {
        let sink = Sink::start().await;
        let app = smtp_stack(&sink).await;
        let s = seed(&app.membership, "mail", 2).await;
        // Newsletters go out weekly by default; these two want them at once.
        for i in 0..2 {
            ok(app
                .teacher(&s, i)
                .update_preferences(immediately(pb::Category::Newsletters))
                .await);
        }
        let send = |subject: &str| pb::SendClusterMessageRequest {
            cluster_id: s.cluster.to_string(),
            role: "teacher".into(),
            subject: subject.to_string(),
            body: "Dear colleagues,\n\nthe anchor papers are ready.".into(),
            idempotency_key: String::new(),
        };
        let first = ok(app
            .lead(&s)
            .send_cluster_message(send("Anchor papers"))
            .await);
        assert_eq!((first.recipients, first.unsubscribed), (2, 0));

        let tia = address("Teacher0", "mail");
        let mail = eventually(wait(), "the newsletter at the sink", || async {
            sink.to(&tia).pop()
        })
        .await;
        let delivery = email_delivery(&app, &s, s.teachers[0], DeliveryStatus::Sent).await;
        assert_eq!(delivery.attempts, 1);

        assert_eq!(mail.header("Subject").as_deref(), Some("Anchor papers"));
        assert_eq!(
            mail.header("Message-ID"),
            Some(format!("<{}@collegium.test>", delivery.id)),
            "the Message-ID names the delivery"
        );
        let content_type = mail.header("Content-Type").unwrap_or_default();
        assert!(
            content_type.starts_with("multipart/alternative"),
            "{content_type}"
        );
        assert!(
            mail.data.contains("Content-Type: text/plain"),
            "{}",
            mail.data
        );
        assert!(
            mail.data.contains("Content-Type: text/html"),
            "{}",
            mail.data
        );
        assert_eq!(
            mail.header("List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        let list = mail.header("List-Unsubscribe").expect("List-Unsubscribe");
        let url = list
            .strip_prefix('<')
            .and_then(|l| l.strip_suffix('>'))
            .unwrap_or_else(|| panic!("<url>: {list}"));
        let token = url
            .strip_prefix(&format!("{PUBLIC_URL}/unsubscribe/"))
            .unwrap_or_else(|| panic!("an unsubscribe URL: {url}"));
        assert!(token.starts_with(&s.id.to_string()), "{token}");

        // One click, no login.
        let done = ok(app
            .unsubscribe()
            .unsubscribe(pb::UnsubscribeRequest {
                token: token.to_string(),
            })
            .await);
        assert_eq!(done.category, pb::Category::Newsletters as i32);
        // Twice is harmless.
        ok(app
            .unsubscribe()
            .unsubscribe(pb::UnsubscribeRequest {
                token: token.to_string(),
            })
            .await);
        let prefs = ok(app
            .teacher(&s, 0)
            .get_preferences(pb::GetPreferencesRequest {})
            .await);
        assert!(prefs.entries.contains(&pb::CategoryPreference {
            category: pb::Category::Newsletters as i32,
            channel: pb::Channel::Email as i32,
            frequency: pb::Frequency::Off as i32,
        }));

        // The next newsletter leaves Tia out.
        let second = ok(app
            .lead(&s)
            .send_cluster_message(send("Second issue"))
            .await);
        assert_eq!((second.recipients, second.unsubscribed), (1, 1));
        let tom = address("Teacher1", "mail");
        eventually(wait(), "the second newsletter to teacher 1", || async {
            (sink.to(&tom).len() == 2).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.to(&tia).len(), 1, "nothing more to Tia");
        assert_eq!(app.inbox(s.id, s.teachers[0]).await.len(), 1);
    })
    .await
}

/// The body of the MIME part with this content type, transfer-decoded
/// (7bit, quoted-printable or base64: whatever lettre chose).
/// The wire's CRLF line ends are read back as `\n`.
fn part(mail: &Received, content_type: &str) -> String {
    let start = mail
        .data
        .find(&format!("Content-Type: {content_type}"))
        .unwrap_or_else(|| panic!("a {content_type} part: {}", mail.data));
    let rest = &mail.data[start..];
    let (head, body) = rest.split_once("\r\n\r\n").expect("part headers");
    // The part ends at the next boundary line (not at the text's own `--`).
    let boundary = mail
        .data
        .split_once("boundary=\"")
        .and_then(|(_, b)| b.split_once('"'))
        .map(|(b, _)| format!("\r\n--{b}"))
        .expect("a multipart boundary");
    let body = body.split(boundary.as_str()).next().unwrap_or_default();
    let encoding = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Transfer-Encoding:"))
        .map(|e| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let decoded = match encoding.as_str() {
        "base64" => {
            use base64::Engine;
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("base64"),
            )
            .expect("UTF-8")
        }
        "quoted-printable" => {
            let joined = body.replace("=\r\n", "");
            let bytes = joined.as_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' && i + 2 < bytes.len() {
                    let hex = std::str::from_utf8(&bytes[i + 1..(i + 3).min(bytes.len())])
                        .unwrap_or_default();
                    if let Ok(b) = u8::from_str_radix(hex, 16) {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                }
                out.push(bytes[i]);
                i += 1;
            }
            String::from_utf8(out).expect("UTF-8")
        }
        _ => body.to_string(),
    };
    decoded.replace("\r\n", "\n")
}

#[tokio::test]
async fn a_tenant_templates_html_is_the_emails_html_part_with_variables_escaped() {
    bounded(async {
        let sink = Sink::start().await;
        let app = smtp_stack(&sink).await;
        let s = seed(&app.membership, "tplmail", 1).await;
        // The tenant's own template for messages people write.
        ok(app
            .admin(&s)
            .set_template(pb::Template {
                category: pb::Category::Newsletters as i32,
                locale: "en".into(),
                subject: "[Tenant] {{ title }}".into(),
                text: "TENANT TEXT: {{ body }}\nRead it: {{ link }}".into(),
                html: r#"<h1 class="tenant-template">{{ title }}</h1>
<div class="tenant-body">{{ body }}</div>
<p><a class="tenant-link" href="{{ link }}">Read it</a></p>"#
                    .into(),
                event_type: "custom".into(),
            })
            .await);
        ok(app
            .admin(&s)
            .notify(notify(
                "tpl-1",
                &[s.teachers[0]],
                pb::Category::Invitations,
                "Fish & <Chips>",
            ))
            .await);

        let mail = eventually(wait(), "the e-mail at the sink", || async {
            sink.to(&address("Teacher0", "tplmail")).pop()
        })
        .await;
        let html = part(&mail, "text/html");
        assert!(
            html.contains(r#"<h1 class="tenant-template">Fish &amp; &lt;Chips&gt;</h1>"#),
            "the template's HTML with the title escaped: {html}"
        );
        assert!(
            html.contains("<div class=\"tenant-body\">First paragraph.\n\nSecond paragraph.</div>"),
            "{html}"
        );
        // The link made absolute (minijinja escapes `/` in HTML too).
        assert!(
            html.contains(r#"<a class="tenant-link" href="https://collegium.test/events/1">"#)
                || html.contains(
                    r#"<a class="tenant-link" href="https:&#x2f;&#x2f;collegium.test&#x2f;events&#x2f;1">"#
                ),
            "{html}"
        );
        assert!(!html.contains("<Chips>"), "nothing unescaped: {html}");
        assert!(!html.contains("Open in Collegium"), "no generic layout: {html}");
        // Still the service's frame: greeting and unsubscribe footer.
        assert!(html.contains("Hello Teacher0"), "{html}");
        assert!(
            html.contains("Unsubscribe from invitation e-mails</a>"),
            "{html}"
        );

        let text = part(&mail, "text/plain");
        assert!(
            text.contains("TENANT TEXT: First paragraph.") && text.contains("Read it: https://collegium.test/events/1"),
            "{text}"
        );
        assert!(text.contains(&format!("{PUBLIC_URL}/unsubscribe/")), "{text}");
        let subject = mail.header("Subject").unwrap_or_default();
        assert!(
            subject == "[Tenant] Fish & <Chips>" || subject.starts_with("=?utf-8?"),
            "{subject}"
        );

        // The inbox keeps the relative link of the web client.
        let inbox = app.inbox(s.id, s.teachers[0]).await;
        assert_eq!(inbox[0].title, "[Tenant] Fish & <Chips>");
        let stored = inbox[0].email.as_ref().expect("e-mail parts stored");
        assert!(stored.html.contains("tenant-template"), "{stored:?}");
        assert!(inbox[0].body.contains("Read it: /events/1"), "{}", inbox[0].body);
    })
    .await
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff_until_sent_while_the_inbox_has_the_copy() {
    bounded(async {
        let sink = Sink::start().await;
        sink.state.fail_next.store(2, Ordering::SeqCst);
        let app = smtp_stack(&sink).await;
        let s = seed(&app.membership, "retry", 1).await;

        let started = std::time::Instant::now();
        let sent = ok(app
            .admin(&s)
            .notify(notify(
                "r-1",
                &[s.teachers[0]],
                pb::Category::Invitations,
                "Invitation",
            ))
            .await);
        // The in-app copy is there at once, whatever the e-mail does.
        let inbox = app.inbox(s.id, s.teachers[0]).await;
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox[0].id.to_string(), sent.notification_ids[0]);

        // The first failure is recorded as a retry, not a failure.
        let retrying = eventually(wait(), "a recorded retry", || async {
            app.deliveries(s.id).await.into_iter().find(|d| {
                d.channel == Channel::Email && d.attempts >= 1 && d.status == DeliveryStatus::Queued
            })
        })
        .await;
        assert!(
            retrying
                .last_error
                .as_deref()
                .unwrap_or_default()
                .contains("451"),
            "{retrying:?}"
        );

        let delivered = email_delivery(&app, &s, s.teachers[0], DeliveryStatus::Sent).await;
        assert_eq!(delivered.attempts, 3, "two refusals, then accepted");
        assert!(delivered.last_error.unwrap_or_default().contains("451"));
        assert_eq!(sink.state.refused.load(Ordering::SeqCst), 2);
        let mails = sink.to(&address("Teacher0", "retry"));
        assert_eq!(mails.len(), 1, "accepted once");
        assert_eq!(
            mails[0].header("Message-ID"),
            Some(format!("<{}@collegium.test>", delivered.id))
        );
        // Back-off with jitter: never hot-looping (the base is 300 ms here).
        assert!(started.elapsed() < Duration::from_secs(20));
    })
    .await
}

#[tokio::test]
async fn a_permanent_refusal_fails_at_once_and_the_inbox_keeps_the_copy() {
    bounded(async {
        let sink = Sink::start().await;
        sink.state
            .reject
            .lock()
            .unwrap()
            .push("teacher0.bounce".into());
        let app = smtp_stack(&sink).await;
        let s = seed(&app.membership, "bounce", 2).await;
        ok(app
            .admin(&s)
            .notify(notify(
                "b-1",
                &[s.teachers[0], s.teachers[1]],
                pb::Category::Account,
                "Account notice",
            ))
            .await);
        let failed = email_delivery(&app, &s, s.teachers[0], DeliveryStatus::Failed).await;
        assert_eq!(failed.attempts, 1);
        assert!(failed.last_error.unwrap_or_default().contains("550"));
        email_delivery(&app, &s, s.teachers[1], DeliveryStatus::Sent).await;
        assert_eq!(app.inbox(s.id, s.teachers[0]).await.len(), 1);
    })
    .await
}

#[tokio::test]
async fn digest_messages_due_together_go_out_as_one_email() {
    bounded(async {
        let sink = Sink::start().await;
        let app = smtp_stack(&sink).await;
        let s = seed(&app.membership, "digest", 1).await;
        // Scoring e-mail is a daily digest by default.
        for i in 0..3 {
            ok(app
                .admin(&s)
                .notify(notify(
                    &format!("d-{i}"),
                    &[s.teachers[0]],
                    pb::Category::Scoring,
                    &format!("Scoring item {i}"),
                ))
                .await);
        }
        let held = app.deliveries(s.id).await;
        let emails: Vec<_> = held
            .iter()
            .filter(|d| d.channel == Channel::Email)
            .collect();
        assert_eq!(emails.len(), 3);
        assert!(
            emails
                .iter()
                .all(|d| d.digest && d.status == DeliveryStatus::Held)
        );
        assert!(
            emails
                .iter()
                .all(|d| d.next_attempt_at > chrono::Utc::now())
        );
        // The digest time comes (moved to now, as if the day had passed).
        let mut owner = PgConnection::connect(&app.notifications_owner_url)
            .await
            .unwrap();
        owner
            .execute("UPDATE notifications.deliveries SET next_attempt_at = now() WHERE digest")
            .await
            .unwrap();
        let tia = address("Teacher0", "digest");
        let mail = eventually(wait(), "the digest", || async { sink.to(&tia).pop() }).await;
        assert!(
            mail.header("Subject")
                .unwrap_or_default()
                .contains("3 messages"),
            "{mail:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.to(&tia).len(), 1, "one e-mail for the three");
        let sent = app.deliveries(s.id).await;
        assert!(
            sent.iter()
                .filter(|d| d.channel == Channel::Email)
                .all(|d| d.status == DeliveryStatus::Sent)
        );
    })
    .await
}

#[track_caller]
fn ok<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>) -> T {
    match result {
        Ok(r) => r.into_inner(),
        Err(status) => panic!("expected success, got {status:?}"),
    }
}

#[tokio::test]
async fn a_stalled_smtp_server_costs_an_attempt_within_the_lease_and_the_mail_goes_once() {
    bounded(async {
        let sink = Sink::start().await;
        sink.state.stall.store(true, Ordering::SeqCst);
        let mut workers = fast_workers();
        // Far shorter than lettre's 30 s per-command timeout: without the
        // worker's own bound the stalled send would outlive its lease and
        // another worker could send the same e-mail meanwhile.
        workers.delivery.lease = Duration::from_secs(2);
        let app = spawn_stack(StackOptions {
            mailer: Mailer::smtp(&sink.url()).expect("SMTP mailer"),
            workers,
            redis_url: testkit::redis_url(),
            cleanup: None,
        })
        .await;
        let s = seed(&app.membership, "stall", 1).await;
        ok(app
            .admin(&s)
            .notify(notify(
                "stall-1",
                &[s.teachers[0]],
                pb::Category::Invitations,
                "Stalled",
            ))
            .await);

        // The hung conversation is cut off inside the lease and recorded as
        // a transient failure, to be retried.
        let stalled = eventually(wait(), "the stalled attempt's outcome", || async {
            app.deliveries(s.id).await.into_iter().find(|d| {
                d.channel == Channel::Email
                    && d.last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("outlasted the delivery lease"))
            })
        })
        .await;
        assert_eq!(stalled.status, DeliveryStatus::Queued);
        assert!(stalled.attempts >= 1);
        assert!(sink.state.stalled.load(Ordering::SeqCst) >= 1);

        // The server recovers: the e-mail arrives exactly once.
        sink.state.stall.store(false, Ordering::SeqCst);
        let sent = email_delivery(&app, &s, s.teachers[0], DeliveryStatus::Sent).await;
        assert!(sent.attempts >= 2, "{sent:?}");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(sink.to(&address("Teacher0", "stall")).len(), 1);
    })
    .await
}
