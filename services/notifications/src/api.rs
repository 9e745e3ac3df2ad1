//! gRPC ↔ domain, and who may do what.
//!
//! The tenant of every call is the verified token's; every store call is
//! made for that tenant only, so another tenant's ids are simply not found.
//! Authorisation:
//!
//! - the inbox, `WatchInbox` and preferences belong to the calling person
//!   (services have no inbox);
//! - `SendClusterMessage` / `ListClusterMessages`: the lead of that cluster
//!   or a tenant admin (existence is checked before permission);
//! - `Notify`: tenant admins and Collegium services;
//! - delivery log, templates, tenant settings and dead letters: tenant admins;
//! - `ExportPersonData`, `ErasePersonData` and `ApplyRetention`: tenant
//!   admins (and Collegium services, whose tokens pass as admins);
//! - `UnsubscribeService` takes no bearer token: the token in the request
//!   (from an e-mail's `List-Unsubscribe` link) is the credential, and a
//!   wrong one is NOT_FOUND.
//!
//! Direct triggers are idempotent: `Notify` requires an idempotency key,
//! `SendClusterMessage` accepts one. The key's first answer is kept with a
//! SHA-256 of the request; the same key with the same request replays it,
//! with another request is CONFLICT. The notifications themselves are
//! stored with a source id derived from the key, so even two concurrent
//! calls with one key reach each person once.

mod convert;

use std::{pin::Pin, sync::Arc, time::Duration};

use chrono::Utc;
use collegium_proto::{common::v1 as common, notifications::v1 as pb};
use platform::{
    auth::{Principal, Role, TenantId},
    error::{Error, Result, Violations},
    events::{EventBus, EventEnvelope},
    grpc::principal,
    privacy, retention,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use self::convert::*;
use crate::{
    consumer::{self, Message, Planner},
    domain::{Category, Channel, ClusterMessage, Frequency, Recipient, preferences, validate},
    email,
    store::{DeliveryFilter, NotificationsStore},
    upstream::Credential,
    watch,
};

/// The name this service gives in its data-subject and retention answers.
const SERVICE: &str = "notifications";
/// Most people one `Notify` call may name.
pub const MAX_NOTIFY_PEOPLE: usize = 10_000;
/// Longest idempotency key.
const MAX_KEY: usize = 200;
/// Longest link of a direct trigger.
const MAX_LINK: usize = 2_000;
/// Consumer names under which direct triggers record their source ids.
const NOTIFY_SOURCE: &str = "notifications.notify";
const CLUSTER_MESSAGE_SOURCE: &str = "notifications.cluster_message";

/// Runs a handler body and maps its error in the one place that does so.
async fn respond<T>(f: impl Future<Output = Result<T>>) -> Result<Response<T>, Status> {
    f.await.map(Response::new).map_err(Error::into_status)
}

/// The calling person; services have no inbox.
fn me(p: &Principal, what: &str) -> Result<Uuid> {
    p.person()
        .map(|m| m.0)
        .ok_or_else(|| Error::forbidden(format!("only a person may {what}")))
}

/// SHA-256 (hex) of a request's canonical JSON (object keys sorted).
fn request_hash(request: &Value) -> String {
    let digest = Sha256::digest(request.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A name-based id (UUID version 8 from SHA-256) for an idempotency key, so
/// every attempt with the key stores its notifications under one source.
fn keyed_id(t: TenantId, scope: &str, key: &str) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"collegium.notifications.idempotency\0");
    h.update(t.0.as_bytes());
    h.update(scope.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&h.finalize()[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

fn idempotency_key(field: &str, key: &str, required: bool) -> Result<Option<String>> {
    let key = key.trim();
    if key.is_empty() {
        return if required {
            Err(Error::invalid(
                field,
                "required: a client-chosen key, the same for retries",
            ))
        } else {
            Ok(None)
        };
    }
    if key.chars().count() > MAX_KEY {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_KEY} characters"),
        ));
    }
    Ok(Some(key.to_string()))
}

/// The stored answer of a key whose source was already handled by another
/// call: it is being written right now, so wait for it a little.
async fn await_answer(
    store: &dyn NotificationsStore,
    t: TenantId,
    key: &str,
    hash: &str,
) -> Result<Option<Value>> {
    for _ in 0..20 {
        if let Some(answer) = store.idempotent_answer(t, key, hash).await? {
            return Ok(Some(answer));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(None)
}

/// The gRPC `NotificationsService`.
#[derive(Clone)]
pub struct NotificationsApi {
    planner: Planner,
    bus: Arc<dyn EventBus>,
}

impl NotificationsApi {
    pub fn new(planner: Planner, bus: Arc<dyn EventBus>) -> Self {
        Self { planner, bus }
    }

    fn store(&self) -> &dyn NotificationsStore {
        self.planner.store.as_ref()
    }

    async fn mark(
        &self,
        p: &Principal,
        r: pb::MarkRequest,
        archive: bool,
    ) -> Result<pb::MarkResponse> {
        let person = me(p, "mark notifications")?;
        let ids = ids("ids", &r.ids, platform::page::MAX_PAGE_SIZE as usize)?;
        let changed = self.store().mark(p.tenant, person, &ids, archive).await?;
        let unread_count = self.store().unread_count(p.tenant, person).await?;
        Ok(pb::MarkResponse {
            changed,
            unread_count,
        })
    }

    /// A cluster of the caller's tenant that the caller leads (or the caller
    /// is an admin): NOT_FOUND before FORBIDDEN.
    async fn led_cluster(&self, p: &Principal, field: &str, value: &str) -> Result<Uuid> {
        let cluster = id(field, value)?;
        if !self
            .planner
            .upstream
            .membership
            .cluster_exists(&Credential::caller(p), cluster)
            .await?
        {
            return Err(Error::not_found("cluster"));
        }
        p.require_cluster_lead(cluster)?;
        Ok(cluster)
    }

    async fn send_cluster_message(
        &self,
        p: &Principal,
        r: pb::SendClusterMessageRequest,
    ) -> Result<pb::ClusterMessage> {
        let cluster = self.led_cluster(p, "cluster_id", &r.cluster_id).await?;
        let mut v = Violations::new();
        collect(&mut v, validate::cluster_message(&r.subject, &r.body));
        let role = match r.role.trim() {
            "" => None,
            role => collect(
                &mut v,
                role.parse::<Role>()
                    .map_err(|_| Error::invalid("role", format!("unknown role {role:?}"))),
            ),
        };
        let key = collect(
            &mut v,
            idempotency_key("idempotency_key", &r.idempotency_key, false),
        )
        .flatten();
        v.finish()?;
        let t = p.tenant;
        let hash = request_hash(&json!({
            "cluster_id": cluster,
            "role": role.map(Role::as_str),
            "subject": r.subject,
            "body": r.body,
        }));
        let scoped = key.as_ref().map(|k| format!("cluster_message:{k}"));
        if let Some(scoped) = &scoped
            && let Some(answer) = self.store().idempotent_answer(t, scoped, &hash).await?
        {
            return stored_message(answer);
        }

        // Who: the cluster (or one role in it), less those who unsubscribed
        // from newsletters by e-mail.
        let service = self.planner.upstream.service(t);
        let people = self
            .planner
            .upstream
            .membership
            .cluster_people(&service, cluster, role)
            .await?;
        let ids: Vec<Uuid> = people.iter().map(|r| r.person_id).collect();
        let prefs = self.store().preferences(t, &ids).await?;
        let unsubscribed: std::collections::HashSet<Uuid> = prefs
            .iter()
            .filter(|p| {
                preferences::frequency(Some(p), Category::Newsletters, Channel::Email)
                    == Frequency::Off
            })
            .map(|p| p.person_id)
            .collect();
        let recipients: Vec<Recipient> = people
            .into_iter()
            .filter(|r| !unsubscribed.contains(&r.person_id))
            .collect();

        let now = Utc::now();
        let id = Uuid::now_v7();
        let source = EventEnvelope {
            id: match &key {
                Some(k) => keyed_id(t, CLUSTER_MESSAGE_SOURCE, k),
                None => id,
            },
            tenant: t,
            event_type: "notifications.cluster_message.sent".to_string(),
            occurred_at: now,
            payload: json!({ "cluster_id": cluster }),
        };
        let link = format!("/clusters/{cluster}/messages");
        let message = Message::custom(
            Category::Newsletters,
            false,
            r.subject.trim(),
            &r.body,
            &link,
            Some(source.id),
        );
        let planned = self
            .planner
            .plan(&service, &recipients, &message, now)
            .await?;
        let reached = planned.len() as u32;
        let stored = self
            .planner
            .enqueue(t, Some((CLUSTER_MESSAGE_SOURCE, &source)), planned)
            .await?;
        if stored.is_empty()
            && reached > 0
            && let Some(scoped) = &scoped
            && let Some(answer) = await_answer(self.store(), t, scoped, &hash).await?
        {
            // A concurrent call with this key sent it.
            return stored_message(answer);
        }
        let record = ClusterMessage {
            id,
            cluster_id: cluster,
            role: role.map(|r| r.as_str().to_string()),
            subject: r.subject.trim().to_string(),
            body: r.body,
            sent_by: p.actor(),
            sent_at: now,
            recipients: reached,
            unsubscribed: unsubscribed.len() as u32,
        };
        let record = self
            .store()
            .record_cluster_message(t, &p.actor(), record)
            .await?;
        if let Some(scoped) = &scoped {
            let answer = serde_json::to_value(&record).map_err(Error::internal)?;
            if let Err(e) = self.store().remember_answer(t, scoped, &hash, answer).await {
                // Lost a race with an identical call: its answer stands.
                return match self.store().idempotent_answer(t, scoped, &hash).await? {
                    Some(answer) => stored_message(answer),
                    None => Err(e),
                };
            }
        }
        Ok(cluster_message_out(record))
    }

    async fn notify(&self, p: &Principal, r: pb::NotifyRequest) -> Result<pb::NotifyResponse> {
        p.require_tenant_admin()?;
        let mut v = Violations::new();
        let key = collect(
            &mut v,
            idempotency_key("idempotency_key", &r.idempotency_key, true),
        )
        .flatten();
        let people = collect(&mut v, ids("person_ids", &r.person_ids, MAX_NOTIFY_PEOPLE));
        if r.person_ids.is_empty() {
            v.add("person_ids", "name at least one person");
        }
        let category = collect(&mut v, category_in("category", r.category));
        let title = r.title.trim();
        if title.is_empty() {
            v.add("title", "required");
        } else if title.chars().count() > validate::MAX_SUBJECT {
            v.add(
                "title",
                format!("at most {} characters", validate::MAX_SUBJECT),
            );
        } else if title.contains(['\r', '\n']) {
            v.add("title", "must be one line");
        }
        if r.body.chars().count() > validate::MAX_TEXT {
            v.add("body", format!("at most {} characters", validate::MAX_TEXT));
        }
        let link = r.link.trim();
        if link.len() > MAX_LINK {
            v.add("link", format!("at most {MAX_LINK} characters"));
        } else if !(link.is_empty()
            || link.starts_with('/')
            || link.starts_with("https://")
            || link.starts_with("http://"))
        {
            v.add(
                "link",
                "a path in the web client (\"/events/…\") or an http(s) URL",
            );
        }
        v.finish()?;
        let (Some(key), Some(mut people), Some(category)) = (key, people, category) else {
            return Err(Error::invalid("request", "incomplete"));
        };
        let t = p.tenant;
        let hash = request_hash(&json!({
            "person_ids": people,
            "category": category.as_str(),
            "title": title,
            "body": r.body,
            "link": link,
            "critical": r.critical,
        }));
        let scoped = format!("notify:{key}");
        if let Some(answer) = self.store().idempotent_answer(t, &scoped, &hash).await? {
            return notify_answer(answer, true);
        }
        // Authorised above; addresses are looked up as the service, so what
        // reaches people does not depend on which contacts the caller may see.
        let cred = self.planner.upstream.service(t);
        people.sort();
        people.dedup();
        let recipients = self
            .planner
            .upstream
            .membership
            .people(&cred, &people)
            .await?;
        let known: std::collections::HashSet<Uuid> =
            recipients.iter().map(|r| r.person_id).collect();
        let mut unknown = Violations::new();
        for (i, raw) in r.person_ids.iter().enumerate() {
            if let Ok(id) = Uuid::parse_str(raw.trim())
                && !known.contains(&id)
            {
                unknown.add(format!("person_ids[{i}]"), "no such person (or not active)");
            }
        }
        unknown.finish()?;

        let now = Utc::now();
        let source = EventEnvelope {
            id: keyed_id(t, NOTIFY_SOURCE, &key),
            tenant: t,
            event_type: "notifications.notify".to_string(),
            occurred_at: now,
            payload: json!({}),
        };
        let message = Message::custom(category, r.critical, title, &r.body, link, Some(source.id));
        let planned = self.planner.plan(&cred, &recipients, &message, now).await?;
        let planned_any = !planned.is_empty();
        let stored = self
            .planner
            .enqueue(t, Some((NOTIFY_SOURCE, &source)), planned)
            .await?;
        if stored.is_empty() && planned_any {
            // Another call with this key stored them; its answer follows.
            if let Some(answer) = await_answer(self.store(), t, &scoped, &hash).await? {
                return notify_answer(answer, true);
            }
            // No answer came: an earlier call stored the notifications but
            // died before recording its answer. Nothing is sent again; the
            // answer recorded now names no ids.
        }
        let answer = json!({
            "notification_ids": stored.iter().map(|n| n.id.to_string()).collect::<Vec<_>>(),
        });
        if let Err(e) = self
            .store()
            .remember_answer(t, &scoped, &hash, answer.clone())
            .await
        {
            return match self.store().idempotent_answer(t, &scoped, &hash).await? {
                Some(answer) => notify_answer(answer, true),
                None => Err(e),
            };
        }
        notify_answer(answer, false)
    }
}

fn stored_message(answer: Value) -> Result<pb::ClusterMessage> {
    let m: ClusterMessage = serde_json::from_value(answer)
        .map_err(|e| Error::internal(anyhow::anyhow!("stored cluster message answer: {e}")))?;
    Ok(cluster_message_out(m))
}

fn notify_answer(answer: Value, replayed: bool) -> Result<pb::NotifyResponse> {
    let ids = answer
        .get("notification_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(pb::NotifyResponse {
        notification_ids: ids,
        replayed,
    })
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::InboxItem, Status>> + Send>>;

#[tonic::async_trait]
impl pb::notifications_service_server::NotificationsService for NotificationsApi {
    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_inbox(
        &self,
        req: Request<pb::ListInboxRequest>,
    ) -> Result<Response<pb::InboxPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let person = me(&p, "have an inbox")?;
            let (items, next) = self
                .store()
                .list_inbox(
                    p.tenant,
                    person,
                    r.unread_only,
                    r.include_archived,
                    page(&r.page)?,
                )
                .await?;
            let unread_count = self.store().unread_count(p.tenant, person).await?;
            Ok(pb::InboxPage {
                items: items.into_iter().map(inbox_item).collect(),
                page: page_info(next),
                unread_count,
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn mark_read(
        &self,
        req: Request<pb::MarkRequest>,
    ) -> Result<Response<pb::MarkResponse>, Status> {
        let p = principal(&req)?;
        respond(self.mark(&p, req.into_inner(), false)).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn mark_all_read(
        &self,
        req: Request<pb::MarkAllReadRequest>,
    ) -> Result<Response<pb::MarkResponse>, Status> {
        let p = principal(&req)?;
        respond(async {
            let person = me(&p, "mark notifications")?;
            let changed = self.store().mark_all_read(p.tenant, person).await?;
            let unread_count = self.store().unread_count(p.tenant, person).await?;
            Ok(pb::MarkResponse {
                changed,
                unread_count,
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn archive(
        &self,
        req: Request<pb::MarkRequest>,
    ) -> Result<Response<pb::MarkResponse>, Status> {
        let p = principal(&req)?;
        respond(self.mark(&p, req.into_inner(), true)).await
    }

    type WatchInboxStream = WatchStream;

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn watch_inbox(
        &self,
        req: Request<pb::WatchInboxRequest>,
    ) -> Result<Response<Self::WatchInboxStream>, Status> {
        let p = principal(&req)?;
        let person = me(&p, "watch an inbox").map_err(Error::into_status)?;
        let cursor = watch::start(self.planner.store.as_ref(), p.tenant, person)
            .await
            .map_err(Error::into_status)?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(watch::run(
            self.planner.store.clone(),
            self.planner.signal.clone(),
            p.tenant,
            person,
            cursor,
            tx,
        ));
        let stream =
            ReceiverStream::new(rx).map(|item| item.map(inbox_item).map_err(Error::into_status));
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_preferences(
        &self,
        req: Request<pb::GetPreferencesRequest>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let p = principal(&req)?;
        respond(async {
            let person = me(&p, "have preferences")?;
            let prefs = self
                .store()
                .preferences(p.tenant, &[person])
                .await?
                .pop()
                .unwrap_or_else(|| preferences::defaults(person));
            Ok(preferences_out(prefs))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_preferences(
        &self,
        req: Request<pb::Preferences>,
    ) -> Result<Response<pb::Preferences>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let person = me(&p, "have preferences")?;
            let prefs = preferences_in(person, r)?;
            let saved = self
                .store()
                .set_preferences(p.tenant, &p.actor(), prefs)
                .await?;
            Ok(preferences_out(saved))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn send_cluster_message(
        &self,
        req: Request<pb::SendClusterMessageRequest>,
    ) -> Result<Response<pb::ClusterMessage>, Status> {
        let p = principal(&req)?;
        respond(self.send_cluster_message(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_cluster_messages(
        &self,
        req: Request<pb::ListClusterMessagesRequest>,
    ) -> Result<Response<pb::ClusterMessagePage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let page = page(&r.page)?;
            let cluster = self.led_cluster(&p, "cluster_id", &r.cluster_id).await?;
            let (messages, next) = self
                .store()
                .list_cluster_messages(p.tenant, cluster, page)
                .await?;
            Ok(pb::ClusterMessagePage {
                messages: messages.into_iter().map(cluster_message_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn notify(
        &self,
        req: Request<pb::NotifyRequest>,
    ) -> Result<Response<pb::NotifyResponse>, Status> {
        let p = principal(&req)?;
        respond(self.notify(&p, req.into_inner())).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_deliveries(
        &self,
        req: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::DeliveryPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let mut v = Violations::new();
            let page = collect(&mut v, page(&r.page));
            let filter = DeliveryFilter {
                notification_id: collect(&mut v, opt_id("notification_id", &r.notification_id))
                    .flatten(),
                status: collect(&mut v, r.status.map(|s| status_in("status", s)).transpose())
                    .flatten(),
                person_id: collect(&mut v, opt_id("person_id", &r.person_id)).flatten(),
            };
            v.finish()?;
            let page = page.ok_or_else(|| Error::invalid("page", "invalid"))?;
            let (deliveries, next) = self
                .store()
                .list_deliveries(p.tenant, &filter, page)
                .await?;
            Ok(pb::DeliveryPage {
                deliveries: deliveries.into_iter().map(delivery_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_tenant_settings(
        &self,
        req: Request<pb::GetTenantSettingsRequest>,
    ) -> Result<Response<pb::TenantSettings>, Status> {
        let p = principal(&req)?;
        respond(async {
            p.require_tenant_admin()?;
            Ok(settings_out(self.store().tenant_settings(p.tenant).await?))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_tenant_settings(
        &self,
        req: Request<pb::TenantSettings>,
    ) -> Result<Response<pb::TenantSettings>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let settings = settings_in(r)?;
            let saved = self
                .store()
                .set_tenant_settings(p.tenant, &p.actor(), settings)
                .await?;
            Ok(settings_out(saved))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn set_template(
        &self,
        req: Request<pb::Template>,
    ) -> Result<Response<pb::Template>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let template = template_in(r)?;
            let saved = self
                .store()
                .set_template(p.tenant, &p.actor(), template)
                .await?;
            Ok(template_out(saved))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_templates(
        &self,
        req: Request<pb::ListTemplatesRequest>,
    ) -> Result<Response<pb::TemplateList>, Status> {
        let p = principal(&req)?;
        respond(async {
            p.require_tenant_admin()?;
            let templates = self.store().list_templates(p.tenant).await?;
            Ok(pb::TemplateList {
                templates: templates.into_iter().map(template_out).collect(),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_dead_letters(
        &self,
        req: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::DeadLetterList>, Status> {
        let p = principal(&req)?;
        respond(async {
            p.require_tenant_admin()?;
            let dead = self.bus.dead_letters(consumer::GROUP).await?;
            Ok(pb::DeadLetterList {
                dead_letters: dead
                    .into_iter()
                    .filter(|d| d.event.tenant == p.tenant)
                    .map(dead_letter_out)
                    .collect(),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn replay_dead_letter(
        &self,
        req: Request<pb::ReplayDeadLetterRequest>,
    ) -> Result<Response<pb::ReplayDeadLetterResponse>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let event = id("event_id", &r.event_id)?;
            let ours = self
                .bus
                .dead_letters(consumer::GROUP)
                .await?
                .into_iter()
                .any(|d| d.event.tenant == p.tenant && d.event.id == event);
            if !ours {
                return Err(Error::not_found("dead letter"));
            }
            self.bus.replay_dead_letter(consumer::GROUP, event).await?;
            tracing::info!(tenant = %p.tenant, event_id = %event, actor = %p.actor(),
                "dead letter replayed");
            Ok(pb::ReplayDeadLetterResponse {})
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_person_data(
        &self,
        req: Request<common::PersonDataRequest>,
    ) -> Result<Response<common::PersonData>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let t = p.tenant;
        respond(privacy::export(&p, &r, SERVICE, |person| async move {
            self.store().export_person(t, person).await
        }))
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn erase_person_data(
        &self,
        req: Request<common::PersonDataRequest>,
    ) -> Result<Response<common::ErasureReport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let (t, actor) = (p.tenant, p.actor());
        respond(privacy::erase(&p, &r, SERVICE, |person| async move {
            self.store().erase_person(t, &actor, person).await
        }))
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn apply_retention(
        &self,
        req: Request<common::ApplyRetentionRequest>,
    ) -> Result<Response<common::RetentionReport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let (tenant, actor, dry_run) = (p.tenant, p.actor(), r.dry_run);
        respond(retention::answer(
            &p,
            &r,
            "notifications",
            |cutoffs| async move {
                self.store()
                    .apply_retention(tenant, &actor, &cutoffs, dry_run)
                    .await
            },
        ))
        .await
    }
}

/// The gRPC `UnsubscribeService` (no bearer token).
#[derive(Clone)]
pub struct UnsubscribeApi {
    store: Arc<dyn NotificationsStore>,
}

impl UnsubscribeApi {
    pub fn new(store: Arc<dyn NotificationsStore>) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl pb::unsubscribe_service_server::UnsubscribeService for UnsubscribeApi {
    #[tracing::instrument(skip_all)]
    async fn unsubscribe(
        &self,
        req: Request<pb::UnsubscribeRequest>,
    ) -> Result<Response<pb::UnsubscribeResponse>, Status> {
        let r = req.into_inner();
        respond(async {
            let (t, token, secret) = email::parse_unsubscribe_token(&r.token)
                .ok_or_else(|| Error::not_found("unsubscribe link"))?;
            let category = self
                .store
                .unsubscribe(t, token, &email::secret_hash(&secret))
                .await
                .map_err(|e| match e {
                    Error::NotFound(_) => Error::not_found("unsubscribe link"),
                    other => other,
                })?;
            tracing::info!(tenant = %t, category = category.as_str(), "unsubscribed by link");
            Ok(pb::UnsubscribeResponse {
                category: category_out(category) as i32,
            })
        })
        .await
    }
}
