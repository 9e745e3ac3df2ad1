//! A stand-in for the notifications service, enough to watch the gateway
//! at work: every `NotificationsService` call is recorded with the request
//! it carried and its `authorization`, and answered from canned data (or
//! refused where a test needs a refusal). `WatchInbox` streams are kept per
//! caller: [`FakeNotifications::push`] sends an item only to the open
//! streams whose bearer token is the one named, as the real service sends
//! each person only their own items. [`FakeUnsubscribe`] answers one-click
//! unsubscribes by the token's first part.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use collegium_proto::{
    common::v1::PageInfo,
    notifications::v1::{
        self as pb, notifications_service_server::NotificationsService,
        unsubscribe_service_server::UnsubscribeService,
    },
};
use futures::Stream;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

type Answer<T> = Result<Response<T>, Status>;

/// One call as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub rpc: &'static str,
    /// The request message, `{:?}`-formatted, to compare with the one a
    /// test expects.
    pub request: String,
    pub authorization: Option<String>,
}

/// One open `WatchInbox` stream.
pub struct Watcher {
    authorization: Option<String>,
    items: mpsc::UnboundedSender<Result<pb::InboxItem, Status>>,
}

#[derive(Default, Clone)]
pub struct FakeNotifications {
    /// Listed by `ListInbox` (one page; the service's next-page token is
    /// `inbox-next`), with `unread` as the unread count.
    pub inbox: Vec<pb::InboxItem>,
    pub unread: u32,
    pub deliveries: Vec<pb::Delivery>,
    pub messages: Vec<pb::ClusterMessage>,
    /// `sent_by` of the message `SendClusterMessage` answers with.
    pub sender: String,
    pub calls: Arc<Mutex<Vec<Call>>>,
    /// Open inbox streams (see [`push`](Self::push)).
    pub watchers: Arc<Mutex<Vec<Watcher>>>,
}

fn authorization<T>(request: &Request<T>) -> Option<String> {
    request
        .metadata()
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string())
}

impl FakeNotifications {
    fn record<T: std::fmt::Debug>(&self, rpc: &'static str, request: &Request<T>) {
        self.calls.lock().unwrap().push(Call {
            rpc,
            request: format!("{:?}", request.get_ref()),
            authorization: authorization(request),
        });
    }

    pub fn calls(&self, rpc: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.rpc == rpc)
            .cloned()
            .collect()
    }

    /// Sends `item` to every open inbox stream of the caller with this
    /// bearer token; returns how many streams it went to.
    pub fn push(&self, token: &str, item: pb::InboxItem) -> usize {
        self.to_watchers(token, |tx| tx.send(Ok(item.clone())).is_ok())
    }

    /// Fails the caller's open inbox streams with `status`.
    pub fn fail(&self, token: &str, status: Status) -> usize {
        self.to_watchers(token, |tx| tx.send(Err(status.clone())).is_ok())
    }

    /// Ends the caller's open inbox streams, as the service does on shutdown.
    pub fn end(&self, token: &str) {
        let bearer = format!("Bearer {token}");
        self.watchers
            .lock()
            .unwrap()
            .retain(|w| w.authorization.as_deref() != Some(bearer.as_str()));
    }

    fn to_watchers(
        &self,
        token: &str,
        send: impl Fn(&mpsc::UnboundedSender<Result<pb::InboxItem, Status>>) -> bool,
    ) -> usize {
        let bearer = format!("Bearer {token}");
        self.watchers
            .lock()
            .unwrap()
            .iter()
            .filter(|w| w.authorization.as_deref() == Some(bearer.as_str()))
            .filter(|w| send(&w.items))
            .count()
    }

    /// Inbox streams whose other end (the gateway) is still there.
    pub fn open_streams(&self) -> usize {
        self.watchers
            .lock()
            .unwrap()
            .iter()
            .filter(|w| !w.items.is_closed())
            .count()
    }

    /// Waits (up to 5 s) until `n` inbox streams are open.
    pub async fn until_open_streams(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.open_streams() != n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} inbox streams open, expected {n}",
                self.open_streams()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

type ItemStream = Pin<Box<dyn Stream<Item = Result<pb::InboxItem, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl NotificationsService for FakeNotifications {
    async fn export_person_data(
        &self,
        _: Request<collegium_proto::common::v1::PersonDataRequest>,
    ) -> Answer<collegium_proto::common::v1::PersonData> {
        Err(Status::unimplemented("export_person_data"))
    }

    async fn erase_person_data(
        &self,
        _: Request<collegium_proto::common::v1::PersonDataRequest>,
    ) -> Answer<collegium_proto::common::v1::ErasureReport> {
        Err(Status::unimplemented("erase_person_data"))
    }

    async fn apply_retention(
        &self,
        _: Request<collegium_proto::common::v1::ApplyRetentionRequest>,
    ) -> Answer<collegium_proto::common::v1::RetentionReport> {
        Err(Status::unimplemented("apply_retention"))
    }

    type WatchInboxStream = ItemStream;

    async fn watch_inbox(
        &self,
        request: Request<pb::WatchInboxRequest>,
    ) -> Answer<Self::WatchInboxStream> {
        self.record("watch_inbox", &request);
        let (tx, rx) = mpsc::unbounded_channel();
        self.watchers.lock().unwrap().push(Watcher {
            authorization: authorization(&request),
            items: tx,
        });
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn list_inbox(&self, request: Request<pb::ListInboxRequest>) -> Answer<pb::InboxPage> {
        self.record("list_inbox", &request);
        Ok(Response::new(pb::InboxPage {
            items: self.inbox.clone(),
            page: Some(PageInfo {
                next_page_token: if self.inbox.is_empty() {
                    String::new()
                } else {
                    "inbox-next".into()
                },
            }),
            unread_count: self.unread,
        }))
    }

    async fn mark_read(&self, request: Request<pb::MarkRequest>) -> Answer<pb::MarkResponse> {
        self.record("mark_read", &request);
        Ok(Response::new(pb::MarkResponse {
            changed: request.get_ref().ids.len() as u32,
            unread_count: 1,
        }))
    }

    async fn mark_all_read(
        &self,
        request: Request<pb::MarkAllReadRequest>,
    ) -> Answer<pb::MarkResponse> {
        self.record("mark_all_read", &request);
        Ok(Response::new(pb::MarkResponse {
            changed: 3,
            unread_count: 0,
        }))
    }

    async fn archive(&self, request: Request<pb::MarkRequest>) -> Answer<pb::MarkResponse> {
        self.record("archive", &request);
        Ok(Response::new(pb::MarkResponse {
            changed: request.get_ref().ids.len() as u32,
            unread_count: 2,
        }))
    }

    async fn get_preferences(
        &self,
        request: Request<pb::GetPreferencesRequest>,
    ) -> Answer<pb::Preferences> {
        self.record("get_preferences", &request);
        Ok(Response::new(pb::Preferences {
            entries: vec![pb::CategoryPreference {
                category: pb::Category::Newsletters as i32,
                channel: pb::Channel::Email as i32,
                frequency: pb::Frequency::Weekly as i32,
            }],
            digest_time: "07:30".into(),
            digest_weekday: 1,
            ..Default::default()
        }))
    }

    /// Refuses quiet hours starting at `25:00`; echoes anything else.
    async fn update_preferences(
        &self,
        request: Request<pb::Preferences>,
    ) -> Answer<pb::Preferences> {
        self.record("update_preferences", &request);
        let prefs = request.into_inner();
        if prefs.quiet_hours_start == "25:00" {
            return Err(
                platform::Error::invalid("quiet_hours_start", "not a time of day (HH:MM)")
                    .into_status(),
            );
        }
        Ok(Response::new(prefs))
    }

    async fn send_cluster_message(
        &self,
        request: Request<pb::SendClusterMessageRequest>,
    ) -> Answer<pb::ClusterMessage> {
        self.record("send_cluster_message", &request);
        let r = request.into_inner();
        Ok(Response::new(pb::ClusterMessage {
            id: uuid::Uuid::now_v7().to_string(),
            cluster_id: r.cluster_id,
            role: r.role,
            subject: r.subject,
            body: r.body,
            sent_by: self.sender.clone(),
            sent_at: "2026-11-24T09:00:00Z".into(),
            recipients: 12,
            unsubscribed: 1,
        }))
    }

    async fn list_cluster_messages(
        &self,
        request: Request<pb::ListClusterMessagesRequest>,
    ) -> Answer<pb::ClusterMessagePage> {
        self.record("list_cluster_messages", &request);
        Ok(Response::new(pb::ClusterMessagePage {
            messages: self.messages.clone(),
            page: None,
        }))
    }

    /// The key `used-for-another-request` is a CONFLICT, `sent-before` a
    /// replay; any other key notifies each person once.
    async fn notify(&self, request: Request<pb::NotifyRequest>) -> Answer<pb::NotifyResponse> {
        self.record("notify", &request);
        let r = request.into_inner();
        match r.idempotency_key.as_str() {
            "used-for-another-request" => Err(platform::Error::Conflict(
                "idempotency key used for a different request".into(),
            )
            .into_status()),
            key => Ok(Response::new(pb::NotifyResponse {
                notification_ids: r.person_ids.iter().map(|p| format!("n-{p}")).collect(),
                replayed: key == "sent-before",
            })),
        }
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Answer<pb::DeliveryPage> {
        self.record("list_deliveries", &request);
        Ok(Response::new(pb::DeliveryPage {
            deliveries: self.deliveries.clone(),
            page: None,
        }))
    }

    async fn get_tenant_settings(
        &self,
        request: Request<pb::GetTenantSettingsRequest>,
    ) -> Answer<pb::TenantSettings> {
        self.record("get_tenant_settings", &request);
        Ok(Response::new(pb::TenantSettings {
            reminder_lead_hours: 24,
            critical_categories: vec![pb::Category::Changes as i32],
        }))
    }

    async fn update_tenant_settings(
        &self,
        request: Request<pb::TenantSettings>,
    ) -> Answer<pb::TenantSettings> {
        self.record("update_tenant_settings", &request);
        Ok(Response::new(request.into_inner()))
    }

    async fn set_template(&self, request: Request<pb::Template>) -> Answer<pb::Template> {
        self.record("set_template", &request);
        Ok(Response::new(request.into_inner()))
    }

    async fn list_templates(
        &self,
        request: Request<pb::ListTemplatesRequest>,
    ) -> Answer<pb::TemplateList> {
        self.record("list_templates", &request);
        Ok(Response::new(pb::TemplateList {
            templates: vec![pb::Template {
                category: pb::Category::Reminders as i32,
                locale: "en".into(),
                subject: "Reminder: {{ event.title }}".into(),
                text: "See you soon.".into(),
                html: String::new(),
                event_type: "scheduling.event.reminder".into(),
            }],
        }))
    }

    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Answer<pb::DeadLetterList> {
        self.record("list_dead_letters", &request);
        Ok(Response::new(pb::DeadLetterList {
            dead_letters: vec![pb::DeadLetter {
                event_id: "e-1".into(),
                event_type: "scheduling.event.cancelled".into(),
                deliveries: 5,
                occurred_at: "2026-11-24T08:00:00Z".into(),
            }],
        }))
    }

    /// Only `e-1` is parked.
    async fn replay_dead_letter(
        &self,
        request: Request<pb::ReplayDeadLetterRequest>,
    ) -> Answer<pb::ReplayDeadLetterResponse> {
        self.record("replay_dead_letter", &request);
        if request.get_ref().event_id != "e-1" {
            return Err(platform::Error::not_found("dead letter").into_status());
        }
        Ok(Response::new(pb::ReplayDeadLetterResponse {}))
    }
}

/// The token an `Unsubscribe` call carried, and its `authorization` metadata.
pub type UnsubscribeCall = (String, Option<String>);

/// Answers `Unsubscribe` by the token's first part: `live` unsubscribes
/// from newsletters; `revoked`, `mistyped` and `foreign` are refused as the
/// service might refuse them; anything else fails.
#[derive(Default, Clone)]
pub struct FakeUnsubscribe {
    calls: Arc<Mutex<Vec<UnsubscribeCall>>>,
}

impl FakeUnsubscribe {
    pub fn calls(&self) -> Vec<UnsubscribeCall> {
        self.calls.lock().unwrap().clone()
    }
}

#[tonic::async_trait]
impl UnsubscribeService for FakeUnsubscribe {
    async fn unsubscribe(
        &self,
        request: Request<pb::UnsubscribeRequest>,
    ) -> Answer<pb::UnsubscribeResponse> {
        let authorization = authorization(&request);
        let token = request.into_inner().token;
        self.calls
            .lock()
            .unwrap()
            .push((token.clone(), authorization));
        match token.split('.').next().unwrap() {
            "live" => Ok(Response::new(pb::UnsubscribeResponse {
                category: pb::Category::Newsletters as i32,
            })),
            "revoked" => Err(Status::not_found("unsubscribe token revoked")),
            "mistyped" => Err(Status::invalid_argument("secret does not match")),
            "foreign" => Err(Status::permission_denied("tenant mismatch")),
            _ => Err(Status::internal("disk on fire")),
        }
    }
}
