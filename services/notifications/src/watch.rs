//! Live inbox: the `WatchInbox` stream behind the gateway's GraphQL
//! subscription.
//!
//! A watcher polls the store for the caller's notifications newer than what
//! it has sent, every [`POLL`] or as soon as this process stores new ones
//! ([`InboxSignal`], bumped after every enqueue). Because the store is the
//! source of truth, a watcher on one pod sees what another pod's consumer
//! stored, within one poll. The query runs in the caller's tenant
//! transaction for the caller's person only: a watcher can never see another
//! tenant's (or person's) items.
//!
//! Ids are UUIDv7, generated before their transaction commits, so a newer id
//! can become visible before an older one. A watcher therefore re-reads a
//! short window below its newest id ([`LOOKBACK`]) and remembers what it sent
//! within it, instead of trusting a strict high-water mark.

use std::{collections::HashSet, sync::Arc, time::Duration};

use platform::{auth::TenantId, error::Result, page::Page};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::{domain::Notification, store::NotificationsStore};

/// Longest wait between two looks at the store.
pub const POLL: Duration = Duration::from_millis(500);
/// How far below the newest sent id a watcher keeps looking.
pub const LOOKBACK: Duration = Duration::from_secs(30);
/// Items read per query.
const PAGE: u32 = 100;

/// Wakes this process' watchers when notifications were stored. Cheap to clone.
#[derive(Clone, Debug)]
pub struct InboxSignal(Arc<watch::Sender<u64>>);

impl Default for InboxSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl InboxSignal {
    pub fn new() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }

    /// Called after notifications were stored.
    pub fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every later bump.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// The millisecond timestamp of a UUIDv7 (0 for other ids).
fn id_millis(id: Uuid) -> u64 {
    match id.get_timestamp() {
        Some(ts) => {
            let (secs, nanos) = ts.to_unix();
            secs * 1000 + u64::from(nanos) / 1_000_000
        }
        None => 0,
    }
}

/// What one watcher has seen.
pub struct Cursor {
    /// Millisecond timestamp of the newest id sent (or present at the start).
    newest_ms: u64,
    /// Ids sent whose timestamp is within the lookback window.
    sent: HashSet<Uuid>,
}

impl Cursor {
    fn floor_ms(&self) -> u64 {
        self.newest_ms.saturating_sub(LOOKBACK.as_millis() as u64)
    }
}

/// The person's unarchived notifications with ids in the window, oldest first.
async fn recent(
    store: &dyn NotificationsStore,
    t: TenantId,
    person: Uuid,
    floor_ms: u64,
) -> Result<Vec<Notification>> {
    let mut out = Vec::new();
    let mut page = Page::first(PAGE);
    loop {
        let (items, next) = store.list_inbox(t, person, false, false, page).await?;
        let mut below = false;
        for n in items {
            if id_millis(n.id) >= floor_ms {
                out.push(n);
            } else {
                below = true;
            }
        }
        // The inbox is newest first: once below the window, stop.
        if below || next.is_empty() {
            break;
        }
        page = Page::new(PAGE, &next)?;
    }
    out.sort_by_key(|n| n.id);
    out.dedup_by_key(|n| n.id);
    Ok(out)
}

/// Where a watcher starts: after everything `person` has now. Taken before
/// the watch is answered, so an item stored once the caller holds the stream
/// is always streamed (taken later, a quick first item could be mistaken for
/// one that was there before).
pub async fn start(store: &dyn NotificationsStore, t: TenantId, person: Uuid) -> Result<Cursor> {
    let (items, _) = store
        .list_inbox(t, person, false, true, Page::first(1))
        .await?;
    let newest = items.first().map_or(0, |n| id_millis(n.id));
    let mut cursor = Cursor {
        newest_ms: newest.max(id_millis(Uuid::now_v7()).saturating_sub(1)),
        sent: HashSet::new(),
    };
    // What is there now counts as sent.
    let present = recent(store, t, person, cursor.floor_ms()).await?;
    cursor.sent.extend(present.into_iter().map(|n| n.id));
    Ok(cursor)
}

/// Streams `person`'s notifications after `cursor` ([`start`]) into `tx`
/// until the receiver goes away.
pub async fn run(
    store: Arc<dyn NotificationsStore>,
    signal: InboxSignal,
    t: TenantId,
    person: Uuid,
    mut cursor: Cursor,
    tx: mpsc::Sender<Result<Notification>>,
) {
    let mut wake = signal.subscribe();
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            _ = wake.changed() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        let items = match recent(store.as_ref(), t, person, cursor.floor_ms()).await {
            Ok(items) => items,
            Err(e) => {
                // A passing database failure ends nothing: try at the next poll.
                tracing::warn!(error = %e, tenant = %t, "inbox watch: cannot read the inbox");
                continue;
            }
        };
        for n in items {
            if !cursor.sent.insert(n.id) {
                continue;
            }
            cursor.newest_ms = cursor.newest_ms.max(id_millis(n.id));
            if tx.send(Ok(n)).await.is_err() {
                return;
            }
        }
        let floor = cursor.floor_ms();
        cursor.sent.retain(|id| id_millis(*id) >= floor);
    }
}
