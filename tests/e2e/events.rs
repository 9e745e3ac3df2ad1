//! A change made through GraphQL reaches the event bus: outbox → relay →
//! Redis Stream → a consumer group, once, with the tenant of the token.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use platform::events::{EventBus, EventEnvelope, EventHandler, SubscribeOptions};
use serde_json::json;
use tokio::sync::mpsc;

use crate::helpers::*;

struct Forward(mpsc::UnboundedSender<EventEnvelope>);

#[async_trait]
impl EventHandler for Forward {
    async fn handle(&self, event: &EventEnvelope) -> platform::Result<()> {
        let _ = self.0.send(event.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_graphql_mutation_is_published_once_with_its_tenant() {
    let p = TestPlatform::spawn().await;
    let t = p.tenant("north").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sub = p
        .bus
        .subscribe(
            SubscribeOptions::new("e2e-consumer", "c1"),
            Arc::new(Forward(tx)),
        )
        .await
        .unwrap();
    let org = create_org(&p, &t.admin_token, "Maple").await;
    let mut seen = vec![];
    let wanted = |seen: &Vec<EventEnvelope>| {
        seen.iter()
            .any(|e| e.event_type == "membership.organisation.created")
    };
    while !wanted(&seen) {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the event arrives within 10 s")
            .unwrap();
        seen.push(ev);
    }
    let ev = seen
        .iter()
        .find(|e| e.event_type == "membership.organisation.created")
        .unwrap();
    assert_eq!(ev.tenant, t.id);
    assert_eq!(ev.payload["id"], json!(org));
    assert_eq!(ev.payload["actor"], json!(t.admin.to_string()));
    // Nothing arrives twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(e) = rx.try_recv() {
        seen.push(e);
    }
    let mut ids: Vec<_> = seen.iter().map(|e| e.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), seen.len(), "an event was delivered twice");
    sub.stop().await;
}
