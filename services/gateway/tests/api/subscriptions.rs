//! The graphql-ws route, spoken over a bare-bones WebSocket client (enough
//! of RFC 6455 for short text frames), so the test needs no extra crate;
//! and the inbox subscription on it, in front of a fake notifications
//! service that streams each caller only the items pushed for their token.

use collegium_proto::notifications::v1::{
    self as pb, notifications_service_server::NotificationsServiceServer,
};
use platform::auth::{PersonId, TenantId};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    fake_notifications::FakeNotifications,
    helpers::{FakeUpstream, TestGateway, fake_upstream, spawn_gateway, spawn_gateway_with},
};

struct Socket(TcpStream);

#[derive(Debug)]
enum Frame {
    Text(Value),
    Close,
}

impl Socket {
    /// Opens `/graphql/ws` with the graphql-transport-ws subprotocol.
    async fn open(gw: &TestGateway) -> Socket {
        let addr = gw.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /graphql/ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Socket(stream)
    }

    /// Sends one masked text frame (clients must mask; a zero key keeps the
    /// payload as is).
    async fn send(&mut self, message: Value) {
        let payload = message.to_string().into_bytes();
        let mut frame = vec![0x81];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n => {
                frame.push(0x80 | 126);
                frame.extend((n as u16).to_be_bytes());
            }
        }
        frame.extend([0, 0, 0, 0]);
        frame.extend(payload);
        self.0.write_all(&frame).await.unwrap();
    }

    async fn receive(&mut self) -> Frame {
        let read = async {
            let opcode = self.0.read_u8().await.ok()? & 0x0f;
            let len = match self.0.read_u8().await.ok()? & 0x7f {
                126 => self.0.read_u16().await.ok()? as usize,
                127 => self.0.read_u64().await.ok()? as usize,
                n => n as usize,
            };
            let mut payload = vec![0; len];
            self.0.read_exact(&mut payload).await.ok()?;
            Some((opcode, payload))
        };
        match tokio::time::timeout(std::time::Duration::from_secs(5), read)
            .await
            .expect("an answer within 5 s")
        {
            Some((0x1, payload)) => Frame::Text(serde_json::from_slice(&payload).unwrap()),
            _ => Frame::Close,
        }
    }

    /// The next text message; panics on a close.
    async fn message(&mut self) -> Value {
        match self.receive().await {
            Frame::Text(message) => message,
            Frame::Close => panic!("closed instead of answering"),
        }
    }

    /// Opens a connection and authenticates it as the bearer of `token`.
    async fn authenticated(gw: &TestGateway, token: &str) -> Socket {
        let mut ws = Socket::open(gw).await;
        ws.send(json!({
            "type": "connection_init",
            "payload": { "authorization": format!("Bearer {token}") },
        }))
        .await;
        let ack = ws.message().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }

    async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query } }))
            .await;
    }
}

#[tokio::test]
async fn a_connection_with_a_valid_token_is_acknowledged_and_runs_operations() {
    let gw = spawn_gateway().await;
    let mut ws = Socket::open(&gw).await;
    ws.send(json!({
        "type": "connection_init",
        "payload": { "authorization": format!("Bearer {}", gw.token()) },
    }))
    .await;
    let Frame::Text(ack) = ws.receive().await else {
        panic!("closed instead of acknowledged");
    };
    assert_eq!(ack["type"], "connection_ack");
    ws.send(json!({
        "id": "1",
        "type": "subscribe",
        "payload": { "query": "{ __typename }" },
    }))
    .await;
    let Frame::Text(next) = ws.receive().await else {
        panic!("closed instead of answering");
    };
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(next["payload"]["data"]["__typename"], "Query");
}

#[tokio::test]
async fn a_connection_without_a_valid_token_is_closed() {
    let gw = spawn_gateway().await;
    for payload in [json!({}), json!({ "authorization": "Bearer forged" })] {
        let mut ws = Socket::open(&gw).await;
        ws.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        match ws.receive().await {
            Frame::Close => {}
            Frame::Text(message) => {
                assert_ne!(message["type"], "connection_ack", "{message}");
            }
        }
    }
}

const INBOX_ITEMS: &str = "subscription { inboxItems { id category title body link createdAt readAt archivedAt critical } }";

fn inbox_item(id: &str, title: &str) -> pb::InboxItem {
    pb::InboxItem {
        id: id.into(),
        category: pb::Category::Changes as i32,
        title: title.into(),
        body: format!("{title}: details"),
        link: format!("/events/{id}"),
        created_at: "2026-11-24T09:00:00Z".into(),
        read_at: None,
        archived_at: None,
        critical: id.ends_with('!'),
    }
}

/// A gateway in front of `fake` (membership and scheduling stay down).
async fn gateway_with_fake(fake: &FakeNotifications) -> (TestGateway, FakeUpstream) {
    let upstream = fake_upstream(tonic::service::Routes::new(
        NotificationsServiceServer::new(fake.clone()),
    ))
    .await;
    let url = upstream.url.clone();
    let gw = spawn_gateway_with(|c| c.notifications_url = url).await;
    (gw, upstream)
}

/// The id of a `next` message for subscription `id`, after checking it is one.
fn next_item_id(message: &Value, id: &str) -> String {
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["id"], id, "{message}");
    assert!(message["payload"].get("errors").is_none(), "{message}");
    message["payload"]["data"]["inboxItems"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no item in {message}"))
        .to_string()
}

fn assert_complete(message: &Value, id: &str) {
    assert_eq!(message, &json!({ "type": "complete", "id": id }));
}

#[tokio::test]
async fn inbox_items_stream_with_the_callers_token_until_the_service_ends_them() {
    let fake = FakeNotifications::default();
    let (gw, _upstream) = gateway_with_fake(&fake).await;
    let token = gw.token();
    let mut ws = Socket::authenticated(&gw, &token).await;
    ws.subscribe("1", INBOX_ITEMS).await;
    fake.until_open_streams(1).await;
    // The stream was opened with the token of connection_init, forwarded.
    let watches = fake.calls("watch_inbox");
    assert_eq!(watches.len(), 1);
    assert_eq!(
        watches[0].authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );

    assert_eq!(fake.push(&token, inbox_item("n1", "Meeting moved")), 1);
    assert_eq!(fake.push(&token, inbox_item("n2!", "Meeting cancelled")), 1);
    let first = ws.message().await;
    assert_eq!(
        first,
        json!({
            "type": "next",
            "id": "1",
            "payload": { "data": { "inboxItems": {
                "id": "n1",
                "category": "CHANGES",
                "title": "Meeting moved",
                "body": "Meeting moved: details",
                "link": "/events/n1",
                "createdAt": "2026-11-24T09:00:00+00:00",
                "readAt": null,
                "archivedAt": null,
                "critical": false,
            } } },
        })
    );
    let second = ws.message().await;
    assert_eq!(next_item_id(&second, "1"), "n2!");
    assert_eq!(second["payload"]["data"]["inboxItems"]["critical"], true);

    // The service ends the stream: so does the subscription.
    fake.end(&token);
    assert_complete(&ws.message().await, "1");
    // The connection stays usable.
    ws.subscribe("2", "{ __typename }").await;
    assert_eq!(ws.message().await["payload"]["data"]["__typename"], "Query");
}

#[tokio::test]
async fn a_subscriber_never_receives_items_sent_for_another_caller() {
    let fake = FakeNotifications::default();
    let (gw, _upstream) = gateway_with_fake(&fake).await;
    let tenant_a = gw.issuer.token(TenantId::new_v7(), PersonId::new_v7(), &[]);
    let tenant_b = gw.issuer.token(TenantId::new_v7(), PersonId::new_v7(), &[]);
    let mut a = Socket::authenticated(&gw, &tenant_a).await;
    let mut b = Socket::authenticated(&gw, &tenant_b).await;
    a.subscribe("a", INBOX_ITEMS).await;
    b.subscribe("b", INBOX_ITEMS).await;
    fake.until_open_streams(2).await;
    // Each stream was opened with its own caller's token, nobody else's.
    let mut opened_with: Vec<_> = fake
        .calls("watch_inbox")
        .into_iter()
        .map(|c| c.authorization.unwrap())
        .collect();
    opened_with.sort();
    let mut expected = vec![format!("Bearer {tenant_a}"), format!("Bearer {tenant_b}")];
    expected.sort();
    assert_eq!(opened_with, expected);

    // Interleaved: B's items before, between and after A's.
    assert_eq!(fake.push(&tenant_b, inbox_item("b1", "For B")), 1);
    assert_eq!(fake.push(&tenant_a, inbox_item("a1", "For A")), 1);
    assert_eq!(fake.push(&tenant_b, inbox_item("b2", "For B")), 1);
    assert_eq!(fake.push(&tenant_a, inbox_item("a2", "For A")), 1);
    assert_eq!(fake.push(&tenant_b, inbox_item("b3", "For B")), 1);
    fake.end(&tenant_a);
    fake.end(&tenant_b);

    // Everything A's subscription saw, up to its end: A's items alone.
    let mut seen_by_a = vec![];
    loop {
        let message = a.message().await;
        if message["type"] == "complete" {
            break;
        }
        seen_by_a.push(next_item_id(&message, "a"));
    }
    assert_eq!(seen_by_a, ["a1", "a2"]);
    let mut seen_by_b = vec![];
    loop {
        let message = b.message().await;
        if message["type"] == "complete" {
            break;
        }
        seen_by_b.push(next_item_id(&message, "b"));
    }
    assert_eq!(seen_by_b, ["b1", "b2", "b3"]);

    // A second subscriber of tenant A, while only B is sent anything: it
    // gets nothing at all before its stream ends.
    let mut a_again = Socket::authenticated(&gw, &tenant_a).await;
    a_again.subscribe("a2", INBOX_ITEMS).await;
    fake.until_open_streams(1).await;
    let mut b = Socket::authenticated(&gw, &tenant_b).await;
    b.subscribe("b2", INBOX_ITEMS).await;
    fake.until_open_streams(2).await;
    assert_eq!(fake.push(&tenant_b, inbox_item("b4", "For B")), 1);
    assert_eq!(next_item_id(&b.message().await, "b2"), "b4");
    fake.end(&tenant_a);
    assert_complete(&a_again.message().await, "a2");
}

#[tokio::test]
async fn completing_a_subscription_closes_the_upstream_stream() {
    let fake = FakeNotifications::default();
    let (gw, _upstream) = gateway_with_fake(&fake).await;
    let token = gw.token();
    let mut ws = Socket::authenticated(&gw, &token).await;
    ws.subscribe("1", INBOX_ITEMS).await;
    fake.until_open_streams(1).await;
    fake.push(&token, inbox_item("n1", "One"));
    assert_eq!(next_item_id(&ws.message().await, "1"), "n1");
    ws.send(json!({ "id": "1", "type": "complete" })).await;
    // The gateway drops the gRPC stream, which cancels the call upstream.
    fake.until_open_streams(0).await;

    // Closing the socket does the same.
    let mut ws = Socket::authenticated(&gw, &token).await;
    ws.subscribe("1", INBOX_ITEMS).await;
    fake.until_open_streams(1).await;
    drop(ws);
    fake.until_open_streams(0).await;
}

#[tokio::test]
async fn an_upstream_error_is_sent_once_through_the_error_conversion_then_the_stream_ends() {
    let fake = FakeNotifications::default();
    let (gw, _upstream) = gateway_with_fake(&fake).await;
    let token = gw.token();
    let mut ws = Socket::authenticated(&gw, &token).await;
    ws.subscribe("1", INBOX_ITEMS).await;
    fake.until_open_streams(1).await;
    fake.push(&token, inbox_item("n1", "One"));
    fake.fail(&token, tonic::Status::unauthenticated("token expired"));
    fake.push(&token, inbox_item("n2", "Never delivered"));
    assert_eq!(next_item_id(&ws.message().await, "1"), "n1");
    let error = ws.message().await;
    assert_eq!(error["type"], "next", "{error}");
    assert_eq!(
        error["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{error}"
    );
    assert_complete(&ws.message().await, "1");
    fake.until_open_streams(0).await;
}

#[tokio::test]
async fn a_subscription_meeting_a_down_notifications_is_unavailable_then_complete() {
    let gw = spawn_gateway().await;
    let mut ws = Socket::authenticated(&gw, &gw.token()).await;
    ws.subscribe("1", INBOX_ITEMS).await;
    let error = ws.message().await;
    assert_eq!(error["type"], "next", "{error}");
    assert_eq!(
        error["payload"]["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{error}"
    );
    assert_eq!(error["payload"]["errors"][0]["path"], json!(["inboxItems"]));
    assert_complete(&ws.message().await, "1");
}

#[tokio::test]
async fn subscriptions_are_refused_over_plain_http() {
    let fake = FakeNotifications::default();
    let (gw, _upstream) = gateway_with_fake(&fake).await;
    let (_, body) = gw.query(Some(&gw.token()), INBOX_ITEMS).await;
    assert!(
        body["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(fake.calls("watch_inbox").is_empty());
}
