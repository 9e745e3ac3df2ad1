//! The reminder worker: sends each scheduled event's reminder, at
//! `starts_at − reminder_lead_hours`, to the people who accepted.
//!
//! Reminders live in the store (kept by the consumer from scheduling's
//! events), so they survive restarts; any pod's worker may claim a due one,
//! and each is handed out once. At the reminder time the event is asked of
//! scheduling again: a reminder of an event since cancelled, unpublished or
//! started is dropped, and the message shows the event as it is now.
//!
//! The reminder becomes a synthetic domain event,
//! `scheduling.event.reminder_due`, routed like any other (accepted
//! participants only) and stored with that event as its source. Its id is
//! derived from the event id and start time, so a reminder fired twice (a
//! crash after storing, a re-armed retry) tells nobody twice, while a
//! rescheduled event earns a new reminder. When delivery fails (an upstream
//! is down), the reminder is re-armed a little later instead of being lost.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use collegium_proto::scheduling::v1 as spb;
use platform::{auth::TenantId, error::Result, events::EventEnvelope};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::{sync::watch, task::JoinHandle};
use uuid::Uuid;

use crate::{
    consumer::{Planner, event_json},
    domain::routing,
    store::Reminder,
};

/// Reminders claimed per round.
const BATCH: i64 = 100;

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct ReminderOptions {
    /// How often the store is asked for due reminders.
    pub poll_interval: Duration,
    /// How much later a reminder whose delivery failed is tried again.
    pub retry_after: Duration,
}

impl Default for ReminderOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(15),
            retry_after: Duration::from_secs(60),
        }
    }
}

/// The id of the reminder of `event` starting at `starts_at`: the same on
/// every pod and every attempt (a name-based UUID, version 8, from SHA-256).
pub fn reminder_event_id(event: Uuid, starts_at: DateTime<Utc>) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"collegium.notifications.reminder\0");
    h.update(event.as_bytes());
    h.update(starts_at.timestamp().to_be_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The synthetic event of a due reminder, from scheduling's current event.
pub fn reminder_event(
    t: TenantId,
    event: &crate::upstream::EventInfo,
    now: DateTime<Utc>,
) -> EventEnvelope {
    EventEnvelope {
        id: reminder_event_id(event.id, event.starts_at),
        tenant: t,
        event_type: routing::EVENT_REMINDER_DUE.to_string(),
        occurred_at: now,
        payload: json!({ "id": event.id, "after": event_json(event) }),
    }
}

/// Sends one due reminder; `Ok(false)` when it was dropped (event gone).
pub async fn fire(
    planner: &Planner,
    t: TenantId,
    r: &Reminder,
    now: DateTime<Utc>,
) -> Result<bool> {
    let cred = planner.upstream.service(t);
    let current = planner.upstream.scheduling.event(&cred, r.event_id).await?;
    let Some(event) =
        current.filter(|e| e.status == spb::EventStatus::Published && e.starts_at > now)
    else {
        tracing::debug!(tenant = %t, event_id = %r.event_id, "reminder dropped: event gone, cancelled or started");
        return Ok(false);
    };
    planner
        .deliver_event(&reminder_event(t, &event, now), now)
        .await?;
    Ok(true)
}

/// One round: claims and sends every due reminder. Returns how many were claimed.
pub async fn run_once(planner: &Planner, options: &ReminderOptions) -> Result<usize> {
    let mut claimed = 0;
    loop {
        let now = Utc::now();
        let due = planner.store.claim_due_reminders(now, BATCH).await?;
        let n = due.len();
        claimed += n;
        for (t, r) in due {
            if let Err(e) = fire(planner, t, &r, now).await {
                let again = now
                    + chrono::Duration::from_std(options.retry_after)
                        .unwrap_or_else(|_| chrono::Duration::minutes(1));
                tracing::warn!(tenant = %t, event_id = %r.event_id, error = %e, retry_at = %again,
                    "reminder not delivered; re-armed");
                let rearmed = Reminder {
                    remind_at: again,
                    ..r.clone()
                };
                if let Err(e) = planner.store.upsert_reminder(t, rearmed).await {
                    tracing::error!(tenant = %t, event_id = %r.event_id, error = %e,
                        "reminder lost: cannot re-arm it");
                }
            }
        }
        if (n as i64) < BATCH {
            return Ok(claimed);
        }
    }
}

/// Runs the worker until `shutdown` turns true.
pub fn spawn(
    planner: Planner,
    options: ReminderOptions,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let planner = Arc::new(planner);
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = run_once(&planner, &options).await {
                tracing::warn!(error = %e, "reminder worker: cannot claim due reminders");
            }
            tokio::select! {
                _ = tokio::time::sleep(options.poll_interval) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    })
}
