//! The event consumer: every service's domain events in, inbox items and
//! queued e-mails out.
//!
//! It reads the bus in the consumer group `notifications` (one consumer per
//! pod; Redis Streams hand each event to one of them and reclaim what a dead
//! pod held). For each event:
//!
//! 1. **reminder bookkeeping** — on `scheduling.event.{created, published,
//!    changed, cancelled}` the event's *current* state is asked of
//!    scheduling (so a late redelivery of an old change cannot undo a newer
//!    one) and its reminder is set to `starts_at − reminder_lead_hours`, or
//!    dropped when the event is cancelled, unpublished, past or inside the
//!    lead time already;
//! 2. **routing** — [`routing::route`] says what category, for whom, with
//!    which template variables; RSVP routes get the event's details from
//!    scheduling ([`routing::fill_event`]), a flagged scorer's lead gets the
//!    scorer's name from membership ([`routing::fill_scorer_name`]);
//! 3. **audience** — event participants are asked of scheduling (everyone
//!    not declined; for reminders only those who accepted), people of
//!    membership (active people only, with address and zone);
//! 4. **planning** ([`Planner`]) — per person: the template of the tenant's
//!    locale rendered with the variables (times in the person's zone), an
//!    inbox item, and per channel a delivery timed by the person's
//!    preferences ([`preferences::timing`]; critical when the route says so
//!    or the tenant marked the category critical);
//! 5. **one transaction** — [`NotificationsStore::enqueue`] stores it all and
//!    records the event as handled by this group; a redelivered event stores
//!    nothing. That is the whole of "exactly once in effect".
//!
//! An upstream or database failure is an `Err`: the bus delivers the event
//! again later, and after too many attempts parks it as a dead letter that
//! tenant admins list and replay through the API.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use collegium_proto::scheduling::v1 as spb;
use platform::{
    auth::TenantId,
    error::{Error, Result},
    events::{EventBus, EventEnvelope, EventHandler, SubscribeOptions, Subscription},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    domain::{
        Category, Channel, Delivery, DeliveryStatus, EmailParts, Notification, Preferences,
        Recipient, TenantSettings,
        preferences::{self, Timing},
        render,
        routing::{self, Audience},
        validate,
    },
    store::{NotificationsStore, Planned, Reminder},
    upstream::{Credential, EventInfo, TenantProfile, Upstream},
    watch::InboxSignal,
};

/// The consumer group, and the consumer name recorded with handled events.
pub const GROUP: &str = "notifications";

const EVENT_CREATED: &str = "scheduling.event.created";
const EVENT_PUBLISHED: &str = "scheduling.event.published";

/// What a message says: rendered from a template per person, or written by
/// a person (direct triggers and cluster messages: the `custom` template).
#[derive(Debug, Clone)]
pub struct Message {
    pub category: Category,
    pub critical: bool,
    /// Web-client link, e.g. "/events/<id>".
    pub link: String,
    /// Template event type (`custom` for messages people wrote).
    pub event_type: String,
    /// The template's variables.
    pub vars: Value,
    /// The domain event it comes from (one message per person and event).
    pub source_event_id: Option<Uuid>,
}

impl Message {
    /// A message written by a person: `custom` with title, body and link.
    pub fn custom(
        category: Category,
        critical: bool,
        title: &str,
        body: &str,
        link: &str,
        source_event_id: Option<Uuid>,
    ) -> Self {
        Self {
            category,
            critical,
            link: link.to_string(),
            event_type: render::CUSTOM.to_string(),
            vars: json!({ "title": title, "body": body, "link": link }),
            source_event_id,
        }
    }
}

/// Turns messages for people into [`Planned`] rows, and routes domain events.
/// Cheap to clone; shared by the consumer, the reminder worker and the API.
#[derive(Clone)]
pub struct Planner {
    pub store: Arc<dyn NotificationsStore>,
    pub upstream: Upstream,
    pub signal: InboxSignal,
    /// The web client's public base URL without a trailing slash: e-mail
    /// parts are rendered with the message's link made absolute. Empty:
    /// links stay as they are.
    pub public_url: String,
}

/// What planning needs of one tenant, read once per batch of people.
struct TenantContext {
    profile: TenantProfile,
    settings: TenantSettings,
    templates: Vec<crate::domain::Template>,
}

impl Planner {
    pub fn new(
        store: Arc<dyn NotificationsStore>,
        upstream: Upstream,
        signal: InboxSignal,
    ) -> Self {
        Self {
            store,
            upstream,
            signal,
            public_url: String::new(),
        }
    }

    /// The same, rendering e-mail links against `public_url`.
    pub fn with_public_url(mut self, public_url: &str) -> Self {
        self.public_url = public_url.trim_end_matches('/').to_string();
        self
    }

    async fn tenant_context(&self, cred: &Credential) -> Result<TenantContext> {
        let t = cred.tenant();
        let (profile, settings, templates) = tokio::try_join!(
            self.upstream.membership.tenant(cred),
            self.store.tenant_settings(t),
            self.store.list_templates(t),
        )?;
        Ok(TenantContext {
            profile,
            settings,
            templates,
        })
    }

    /// Plans `message` for each of `recipients` (people who turned both
    /// channels off for its category are left out). `cred` must be of the
    /// tenant the recipients belong to.
    pub async fn plan(
        &self,
        cred: &Credential,
        recipients: &[Recipient],
        message: &Message,
        now: DateTime<Utc>,
    ) -> Result<Vec<Planned>> {
        if recipients.is_empty() {
            return Ok(vec![]);
        }
        let t = cred.tenant();
        let ctx = self.tenant_context(cred).await?;
        let ids: Vec<Uuid> = recipients.iter().map(|r| r.person_id).collect();
        let prefs: HashMap<Uuid, Preferences> = self
            .store
            .preferences(t, &ids)
            .await?
            .into_iter()
            .map(|p| (p.person_id, p))
            .collect();
        let critical =
            message.critical || ctx.settings.critical_categories.contains(&message.category);
        let template = render::pick(&ctx.templates, &message.event_type, &ctx.profile.locale);
        // What people are told depends on the message and (through local
        // times) on their zone only: rendered once per zone.
        let per_zone = message.vars.get("starts_at").is_some();
        let mut rendered: HashMap<Option<Tz>, Content> = HashMap::new();
        let mut planned = Vec::with_capacity(recipients.len());
        for r in recipients {
            let p = prefs.get(&r.person_id);
            let zone = preferences::zone(p, r.time_zone.as_deref(), ctx.profile.time_zone);
            let in_app =
                preferences::timing(p, message.category, Channel::InApp, critical, now, zone);
            let email =
                preferences::timing(p, message.category, Channel::Email, critical, now, zone);
            if in_app == Timing::Off && email == Timing::Off {
                continue;
            }
            let Content {
                title,
                body,
                email: email_parts,
            } = rendered
                .entry(per_zone.then_some(zone))
                .or_insert_with(|| content(template, message, zone, &self.public_url))
                .clone();
            let hidden = (in_app == Timing::Off).then_some(now);
            let notification = Notification {
                id: Uuid::now_v7(),
                person_id: r.person_id,
                category: message.category,
                title,
                body,
                link: message.link.clone(),
                critical,
                source_event_id: message.source_event_id,
                created_at: now,
                // In-app off: kept (the e-mail is built from it) but out of
                // the inbox, as if read and archived.
                read_at: hidden,
                archived_at: hidden,
                email: email_parts,
            };
            let mut deliveries = Vec::with_capacity(2);
            let delivery =
                |channel, status, next: DateTime<Utc>, digest, address, error| Delivery {
                    id: Uuid::now_v7(),
                    notification_id: notification.id,
                    person_id: r.person_id,
                    channel,
                    address,
                    status,
                    attempts: 0,
                    last_error: error,
                    next_attempt_at: next,
                    digest,
                    updated_at: now,
                };
            if in_app != Timing::Off {
                // The inbox row is the in-app delivery: stored is delivered.
                let mut d = delivery(Channel::InApp, DeliveryStatus::Sent, now, false, None, None);
                d.attempts = 1;
                deliveries.push(d);
            }
            let address = r.email.clone();
            let skip = |reason: &str| {
                delivery(
                    Channel::Email,
                    DeliveryStatus::Skipped,
                    now,
                    false,
                    address.clone(),
                    Some(reason.to_string()),
                )
            };
            match (email, &address) {
                (Timing::Off, _) => {}
                (_, None) => deliveries.push(skip("no e-mail address on record")),
                (_, Some(a)) if validate::email_address("email", a).is_err() => {
                    deliveries.push(skip("malformed e-mail address"))
                }
                (Timing::Now, Some(_)) => deliveries.push(delivery(
                    Channel::Email,
                    DeliveryStatus::Queued,
                    now,
                    false,
                    address.clone(),
                    None,
                )),
                (Timing::At(at), Some(_)) => deliveries.push(delivery(
                    Channel::Email,
                    DeliveryStatus::Held,
                    at,
                    false,
                    address.clone(),
                    None,
                )),
                (Timing::Digest(at), Some(_)) => deliveries.push(delivery(
                    Channel::Email,
                    DeliveryStatus::Held,
                    at,
                    true,
                    address.clone(),
                    None,
                )),
            }
            planned.push(Planned {
                notification,
                deliveries,
            });
        }
        Ok(planned)
    }

    /// Stores `planned` (with `source` recorded as handled, when given) and
    /// wakes this process' inbox watchers.
    pub async fn enqueue(
        &self,
        t: TenantId,
        source: Option<(&str, &EventEnvelope)>,
        planned: Vec<Planned>,
    ) -> Result<Vec<Notification>> {
        if planned.is_empty() {
            return Ok(vec![]);
        }
        let stored = self.store.enqueue(t, source, planned).await?;
        if !stored.is_empty() {
            self.signal.bump();
        }
        Ok(stored)
    }

    /// Handles one domain event (see the module doc).
    pub async fn handle_event(&self, event: &EventEnvelope) -> Result<()> {
        let now = Utc::now();
        if matches!(
            event.event_type.as_str(),
            EVENT_CREATED | EVENT_PUBLISHED | routing::EVENT_CHANGED | routing::EVENT_CANCELLED
        ) {
            self.keep_reminder(event, now).await?;
        }
        self.deliver_event(event, now).await
    }

    /// Routes an event to people and stores what they are told.
    pub async fn deliver_event(&self, event: &EventEnvelope, now: DateTime<Utc>) -> Result<()> {
        let Some(mut route) = routing::route(event, now) else {
            return Ok(());
        };
        let t = event.tenant;
        let cred = self.upstream.service(t);
        let people = match &route.audience {
            Audience::Nobody => return Ok(()),
            Audience::People(ids) => ids.clone(),
            Audience::EventParticipants(e) => {
                let reminder = route.category == Category::Reminders;
                let wanted = reminder.then_some(spb::RsvpStatus::Accepted);
                self.upstream
                    .scheduling
                    .participants(&cred, *e, wanted)
                    .await?
                    .into_iter()
                    .filter(|p| {
                        if reminder {
                            p.status == spb::RsvpStatus::Accepted
                        } else {
                            !matches!(
                                p.status,
                                spb::RsvpStatus::Declined | spb::RsvpStatus::Unspecified
                            )
                        }
                    })
                    .map(|p| p.person_id)
                    .collect()
            }
        };
        if people.is_empty() {
            return Ok(());
        }
        if needs_event_details(&route.vars)
            && let Some(id) = route.vars.get("event_id").and_then(Value::as_str)
            && let Ok(id) = id.parse::<Uuid>()
            && let Some(e) = self.upstream.scheduling.event(&cred, id).await?
        {
            routing::fill_event(&mut route.vars, &event_json(&e));
        }
        // A flagged scorer's name for their lead: asked in the same call as
        // the recipients (a scorer who is no longer active stays unnamed).
        let named = routing::scorer_to_name(&route.vars);
        let mut wanted = people.clone();
        if let Some(scorer) = named
            && !wanted.contains(&scorer)
        {
            wanted.push(scorer);
        }
        let mut recipients = self.upstream.membership.people(&cred, &wanted).await?;
        if let Some(scorer) = named {
            if let Some(r) = recipients.iter().find(|r| r.person_id == scorer) {
                routing::fill_scorer_name(&mut route.vars, &r.name);
            }
            recipients.retain(|r| people.contains(&r.person_id));
        }
        let message = Message {
            category: route.category,
            critical: route.critical,
            link: route.link,
            event_type: event.event_type.clone(),
            vars: route.vars,
            source_event_id: Some(event.id),
        };
        let planned = self.plan(&cred, &recipients, &message, now).await?;
        let stored = self.enqueue(t, Some((GROUP, event)), planned).await?;
        tracing::debug!(event_id = %event.id, event_type = %event.event_type, tenant = %t,
            stored = stored.len(), "event delivered to inboxes");
        Ok(())
    }

    /// Keeps the reminder of a scheduled event in step with its current state.
    async fn keep_reminder(&self, event: &EventEnvelope, now: DateTime<Utc>) -> Result<()> {
        let t = event.tenant;
        let Some(id) = event
            .payload
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Uuid>().ok())
        else {
            return Ok(());
        };
        if event.event_type == routing::EVENT_CANCELLED {
            return self.store.cancel_reminder(t, id).await;
        }
        let cred = self.upstream.service(t);
        let (current, settings) = tokio::try_join!(
            self.upstream.scheduling.event(&cred, id),
            self.store.tenant_settings(t),
        )?;
        match reminder_for(current.as_ref(), &settings, now) {
            Some(r) => self.store.upsert_reminder(t, r).await,
            None => self.store.cancel_reminder(t, id).await,
        }
    }
}

/// The reminder an event should have now, if any: published, lead time set,
/// and the reminder time still ahead.
pub fn reminder_for(
    event: Option<&EventInfo>,
    settings: &TenantSettings,
    now: DateTime<Utc>,
) -> Option<Reminder> {
    let e = event?;
    if e.status != spb::EventStatus::Published || settings.reminder_lead_hours == 0 {
        return None;
    }
    let remind_at = e.starts_at - chrono::Duration::hours(i64::from(settings.reminder_lead_hours));
    (remind_at > now).then(|| Reminder {
        event_id: e.id,
        remind_at,
        title: e.title.clone(),
        starts_at: e.starts_at,
        time_zone: e.time_zone.clone(),
    })
}

/// Whether a route's event variables are still empty (RSVP payloads carry
/// no event details).
fn needs_event_details(vars: &Value) -> bool {
    vars.get("event_id").is_some() && vars.get("title").is_some_and(Value::is_null)
}

/// Scheduling's event in the JSON shape of `after` in `scheduling.event.*`.
pub fn event_json(e: &EventInfo) -> Value {
    json!({
        "id": e.id,
        "title": e.title,
        "kind": e.kind,
        "agenda": e.agenda,
        "starts_at": e.starts_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "ends_at": e.ends_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "time_zone": e.time_zone,
        "online_url": e.online_url,
        "cluster_id": e.cluster_id,
        "status": match e.status {
            spb::EventStatus::Draft => "draft",
            spb::EventStatus::Cancelled => "cancelled",
            _ => "published",
        },
    })
}

/// One person's copy: inbox title and body, and the e-mail parts.
#[derive(Debug, Clone)]
struct Content {
    title: String,
    body: String,
    email: Option<EmailParts>,
}

/// One person's copy: the template rendered with the variables (times in
/// the person's zone); when there is no template or it fails (a tenant's
/// template was checked when saved, so only a surprise value can break it),
/// the built-in one; at worst the bare variables.
///
/// The inbox gets the subject and text as rendered. The e-mail parts are
/// rendered with the link made absolute against `public_url`; they are left
/// out for the built-in `custom` template (people's own messages: the e-mail
/// lays out title and body) and when rendering fell back to bare variables.
fn content(
    template: Option<&crate::domain::Template>,
    message: &Message,
    zone: Tz,
    public_url: &str,
) -> Content {
    let mut vars = message.vars.clone();
    if vars.get("starts_at").is_some() {
        render::localise(&mut vars, zone);
    }
    let render_with = |t: &crate::domain::Template, vars: &Value| {
        render::render(t, vars)
            .map_err(|e| {
                tracing::warn!(error = %e, event_type = %message.event_type,
                    "template failed; using the built-in one");
            })
            .ok()
    };
    let builtin = render::builtin(&message.event_type);
    let (used, rendered) = match template.and_then(|t| render_with(t, &vars).map(|r| (t, r))) {
        Some((t, r)) => (Some(t.clone()), Some(r)),
        None => match builtin
            .as_ref()
            .and_then(|t| render::render(t, &vars).ok().map(|r| (t, r)))
        {
            Some((t, r)) => (Some(t.clone()), Some(r)),
            None => (None, None),
        },
    };
    match (used, rendered) {
        (Some(t), Some(r)) => {
            let own_words = message.event_type == render::CUSTOM && Some(&t) == builtin.as_ref();
            let email = if own_words {
                None
            } else {
                let absolute = vars
                    .get("link")
                    .and_then(Value::as_str)
                    .map(|l| absolute_link(public_url, l))
                    .filter(|l| Some(l.as_str()) != vars.get("link").and_then(Value::as_str));
                match absolute {
                    Some(link) => {
                        let mut vars = vars.clone();
                        vars["link"] = Value::String(link);
                        render::render(&t, &vars).ok()
                    }
                    None => Some(r.clone()),
                }
                .map(|e| EmailParts {
                    subject: e.subject,
                    text: e.text,
                    html: e.html,
                })
            };
            Content {
                title: r.subject,
                body: r.text,
                email,
            }
        }
        _ => {
            let title = vars
                .get("title")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map_or_else(
                    || message.event_type.replace(['.', '_'], " "),
                    str::to_string,
                );
            let body = vars
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Content {
                title,
                body,
                email: None,
            }
        }
    }
}

/// `link` against the web client's base URL (unchanged when already
/// absolute, or when there is no base URL).
pub fn absolute_link(public_url: &str, link: &str) -> String {
    let base = public_url.trim_end_matches('/');
    if base.is_empty() || link.starts_with("http://") || link.starts_with("https://") {
        link.to_string()
    } else if link.is_empty() {
        format!("{base}/")
    } else if link.starts_with('/') {
        format!("{base}{link}")
    } else {
        format!("{base}/{link}")
    }
}

struct Handler(Planner);

#[async_trait::async_trait]
impl EventHandler for Handler {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        self.0.handle_event(event).await.inspect_err(|e| {
            tracing::warn!(event_id = %event.id, event_type = %event.event_type,
                tenant = %event.tenant, error = %e, "could not handle event; it will be retried");
        })
    }
}

/// Starts this pod's consumer `consumer_name` in the group [`GROUP`]. An
/// event whose handling failed is delivered again after `retry_after`, and
/// parked as a dead letter after `max_deliveries`. Stop it with
/// [`Subscription::stop`].
pub async fn spawn_consumer(
    bus: Arc<dyn EventBus>,
    planner: Planner,
    consumer_name: &str,
    retry_after: Duration,
    max_deliveries: u32,
) -> Result<Subscription> {
    let mut options = SubscribeOptions::new(GROUP, consumer_name);
    options.retry_after = retry_after;
    options.max_deliveries = max_deliveries.max(1);
    bus.subscribe(options, Arc::new(Handler(planner)))
        .await
        .map_err(|e| match e {
            Error::Unavailable(m) => Error::Unavailable(format!("event bus: {m}")),
            other => other,
        })
}
