//! Which domain events become which messages, for whom.
//!
//! Membership's events carry `{id, actor, after}` (`after`: the changed
//! record); scheduling's carry the same plus extras (`reason` on a
//! cancellation, `event_id`/`person_id`/`status` on RSVP changes,
//! `person_id`/`status` on a claim decision); scoring's carry
//! `{id, actor, after}` plus the ids their route needs (`session_id`,
//! `scorer_id`, `lead_id`, …; see each route below). Only the events below
//! reach people; every other event type routes to `None`.
//!
//! | event type | category | audience | critical | link |
//! |---|---|---|---|---|
//! | `scheduling.rsvp.invited` | invitations | `People([person_id])` | no | `/events/<event_id>` |
//! | `scheduling.event.changed` | changes | `EventParticipants(id)` | no | `/events/<id>` |
//! | `scheduling.event.cancelled` | changes | `EventParticipants(id)` | when the event starts within 48 h of now and has not ended | `/events/<id>` |
//! | `scheduling.rsvp.promoted` | changes | `People([person_id])` ("a seat is yours") | no | `/events/<event_id>` |
//! | `scheduling.registration.approved` | changes | `People([person_id])` | no | `/events/<event_id>` |
//! | `scheduling.registration.declined` | changes | `People([person_id])` | no | `/events/<event_id>` |
//! | `scheduling.claim.decided` | account | `People([person_id])` (the claimant) | no | `/claims/<id>` |
//! | `scheduling.event.reminder_due` | reminders | `EventParticipants(id)`: the runtime sends reminders to those who **accepted** only | no | `/events/<id>` |
//! | `membership.role.granted` | account | `People([after.person_id])` | no | `/account` |
//! | `membership.consent.withdrawn` | account | `People([after.subject.id])` when the subject is a person; a centre's consent tells nobody here | no | `/account/consents` |
//! | `scoring.assignment.ready` | scoring | `People([scorer_id])` (one event per scorer and batch of assigned reads) | no | `/scoring/sessions/<session_id>/reads` |
//! | `scoring.discrepancy.detected` | scoring | `People([lead_id])` (the session's lead, who gives the third read) | no | `/scoring/sessions/<session_id>/adjudication` |
//! | `scoring.scorer.flagged` | scoring | `People([lead_id])` only: the flagged scorer is not told by this message (their lead talks to them) | no | `/scoring/sessions/<session_id>/statistics` |
//! | `scoring.session.closed` | scoring | `People([lead_id])` | no | `/scoring/sessions/<session_id>` |
//!
//! Deliberately silent:
//! * `scheduling.event.published`: publishing alone tells nobody; people hear
//!   when they are invited (`rsvp.invited`, one event per person).
//! * `scheduling.event.changed` / `reminder_due` of an event that is still a
//!   draft: drafts have no audience yet.
//! * `scoring.assignment.ready` whose `after.reads` counts no read at all:
//!   there is nothing to do.
//! * Everything else (creations, venues, attendance, materials, feeds,
//!   membership bookkeeping, `rsvp.changed` answers, scoring's rubrics,
//!   anchors, portfolios, qualification, session set-up, decided results,
//!   …).
//!
//! `critical` here is the event's own urgency; the runtime also treats a
//! route as critical when its category is among the tenant's
//! `critical_categories`.
//!
//! ## Template variables
//!
//! Every route of an event type has the same variable names (a value may be
//! `null`), and [`super::render::sample_vars`] is built from [`sample`]
//! through this very function, so a template checked against the samples
//! cannot meet an unknown variable in production.
//!
//! * Event routes (`event.*`, `rsvp.*`, `registration.*`): `event_id`,
//!   `title`, `kind`, `starts_at`, `ends_at` (RFC 3339, UTC), `time_zone` (the
//!   event's IANA zone), `starts_local`, `ends_local` (formatted in the
//!   event's zone; the runtime may re-format them in the recipient's zone with
//!   [`super::render::localise`]), `online_url`, `link`; cancellations add
//!   `reason`; RSVP and registration routes add `person_id` and `status`
//!   (`accepted`, `waitlisted`, `declined`, …). RSVP payloads carry no event
//!   details, so there `title` … `online_url` are `null` unless the runtime
//!   fills them from scheduling ([`fill_event`]).
//! * `claim.decided`: `claim_id`, `event_id`, `status` (`approved` /
//!   `rejected`), `reason`, `link`.
//! * `role.granted`: `role` (`cluster_lead`), `role_label` (`cluster lead`),
//!   `cluster_id`, `link`.
//! * `consent.withdrawn`: `purpose`, `purpose_version`, `link`.
//! * `assignment.ready`: `session_id`, `session_name`, `event_id` (the
//!   scheduled scoring-session event), `scorer_id` (the reader),
//!   `total_reads`, and per kind `first_reads`, `second_reads`,
//!   `third_reads`, `backreads` (numbers; 0 for a kind not assigned), `link`.
//! * `discrepancy.detected`: `session_id`, `portfolio_id`, `assignment_id`
//!   (the lead's third read), `reason` ("first and second reads differ by 3
//!   points (4 and 1)"), `link`.
//! * `scorer.flagged`: `session_id`, `scorer_id`, `scorer_name` (`null`
//!   here: the runtime fills it from membership, see [`scorer_to_name`]),
//!   `reasons` (a list of strings, possibly empty), `link`.
//! * `session.closed`: `session_id`, `session_name`, `cluster_id`,
//!   `awaiting_third_read` (portfolios still waiting for the lead's third
//!   read), `link`.
//!
//! Person names are not known here; templates address the reader without
//! one (a flagged scorer's name is filled in by the runtime). `link` is
//! relative to the web client.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use platform::{auth::TenantId, events::EventEnvelope};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Category;
use super::render;

/// Who should hear about an event, as far as the event itself says; the
/// runtime resolves the rest (RSVP lists from scheduling, people of a cluster
/// from membership).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// These people.
    People(Vec<Uuid>),
    /// Everyone invited to or answering this scheduled event (not declined).
    EventParticipants(Uuid),
    /// Nobody: the event is not for people (e.g. internal bookkeeping).
    Nobody,
}

/// What to tell, to whom, from one domain event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub category: Category,
    pub audience: Audience,
    /// Critical messages bypass digests and quiet hours (e.g. a cancellation
    /// of an event that starts within 48 hours).
    pub critical: bool,
    /// Variables for the template (event title, times in the recipient's zone are formatted later).
    pub vars: serde_json::Value,
    /// Web-client link, e.g. "/events/<id>".
    pub link: String,
}

pub const RSVP_INVITED: &str = "scheduling.rsvp.invited";
pub const EVENT_CHANGED: &str = "scheduling.event.changed";
pub const EVENT_CANCELLED: &str = "scheduling.event.cancelled";
pub const RSVP_PROMOTED: &str = "scheduling.rsvp.promoted";
pub const REGISTRATION_APPROVED: &str = "scheduling.registration.approved";
pub const REGISTRATION_DECLINED: &str = "scheduling.registration.declined";
pub const CLAIM_DECIDED: &str = "scheduling.claim.decided";
pub const EVENT_REMINDER_DUE: &str = "scheduling.event.reminder_due";
pub const ROLE_GRANTED: &str = "membership.role.granted";
pub const CONSENT_WITHDRAWN: &str = "membership.consent.withdrawn";
pub const ASSIGNMENT_READY: &str = "scoring.assignment.ready";
pub const DISCREPANCY_DETECTED: &str = "scoring.discrepancy.detected";
pub const SCORER_FLAGGED: &str = "scoring.scorer.flagged";
pub const SESSION_CLOSED: &str = "scoring.session.closed";

/// Every event type that reaches people, with its category (the table above).
pub const ROUTED: &[(&str, Category)] = &[
    (RSVP_INVITED, Category::Invitations),
    (EVENT_CHANGED, Category::Changes),
    (EVENT_CANCELLED, Category::Changes),
    (RSVP_PROMOTED, Category::Changes),
    (REGISTRATION_APPROVED, Category::Changes),
    (REGISTRATION_DECLINED, Category::Changes),
    (CLAIM_DECIDED, Category::Account),
    (EVENT_REMINDER_DUE, Category::Reminders),
    (ROLE_GRANTED, Category::Account),
    (CONSENT_WITHDRAWN, Category::Account),
    (ASSIGNMENT_READY, Category::Scoring),
    (DISCREPANCY_DETECTED, Category::Scoring),
    (SCORER_FLAGGED, Category::Scoring),
    (SESSION_CLOSED, Category::Scoring),
];

/// How close to its start a cancellation becomes critical.
pub const CRITICAL_CANCELLATION_WINDOW: Duration = Duration::hours(48);

/// The category of a routed event type, `None` for an event nobody hears of.
pub fn category_of(event_type: &str) -> Option<Category> {
    ROUTED
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, c)| *c)
}

/// The route of a domain event, or `None` when nobody is told. An event of
/// a routed type whose payload lacks what the route needs is logged and
/// tells nobody (retrying would not mend it).
pub fn route(event: &EventEnvelope, now: chrono::DateTime<chrono::Utc>) -> Option<Route> {
    match decide(event, now) {
        Ok(route) => route,
        Err(missing) => {
            tracing::warn!(
                event_id = %event.id,
                event_type = %event.event_type,
                missing,
                "domain event payload lacks a field its route needs; nobody is told"
            );
            None
        }
    }
}

/// `Err(field)`: the payload lacks `field`.
fn decide(event: &EventEnvelope, now: DateTime<Utc>) -> Result<Option<Route>, &'static str> {
    let p = &event.payload;
    let route = match event.event_type.as_str() {
        RSVP_INVITED | RSVP_PROMOTED | REGISTRATION_APPROVED | REGISTRATION_DECLINED => {
            let category = category_of(&event.event_type).unwrap_or(Category::Changes);
            let event_id = uuid_at(p, "/event_id")
                .or_else(|| uuid_at(p, "/id"))
                .ok_or("event_id")?;
            let person = uuid_at(p, "/person_id")
                .or_else(|| uuid_at(p, "/after/person_id"))
                .ok_or("person_id")?;
            let status = str_at(p, "/status").or_else(|| str_at(p, "/after/status"));
            let link = format!("/events/{event_id}");
            let mut vars = event_vars(event_id, None, &link);
            vars.insert("person_id".into(), json!(person));
            vars.insert("status".into(), json!(status));
            Route {
                category,
                audience: Audience::People(vec![person]),
                critical: false,
                vars: Value::Object(vars),
                link,
            }
        }
        EVENT_CHANGED | EVENT_REMINDER_DUE | EVENT_CANCELLED => {
            let event_id = uuid_at(p, "/id").ok_or("id")?;
            let after = p.get("after").filter(|a| a.is_object()).ok_or("after")?;
            let cancelled = event.event_type == EVENT_CANCELLED;
            if !cancelled && str_at(after, "/status").as_deref() == Some("draft") {
                return Ok(None);
            }
            let link = format!("/events/{event_id}");
            let mut vars = event_vars(event_id, Some(after), &link);
            let critical = cancelled && starts_soon(after, now);
            if cancelled {
                let reason = str_at(p, "/reason").filter(|r| !r.trim().is_empty());
                vars.insert("reason".into(), json!(reason));
            }
            let category = category_of(&event.event_type).unwrap_or(Category::Changes);
            Route {
                category,
                audience: Audience::EventParticipants(event_id),
                critical,
                vars: Value::Object(vars),
                link,
            }
        }
        CLAIM_DECIDED => {
            let claim = uuid_at(p, "/id").ok_or("id")?;
            let person = uuid_at(p, "/person_id")
                .or_else(|| uuid_at(p, "/after/person_id"))
                .ok_or("person_id")?;
            let link = format!("/claims/{claim}");
            let vars = json!({
                "claim_id": claim,
                "event_id": uuid_at(p, "/after/event_id"),
                "status": str_at(p, "/status").or_else(|| str_at(p, "/after/status")),
                "reason": str_at(p, "/after/decision_reason").filter(|r| !r.trim().is_empty()),
                "link": link,
            });
            Route {
                category: Category::Account,
                audience: Audience::People(vec![person]),
                critical: false,
                vars,
                link,
            }
        }
        ROLE_GRANTED => {
            let person = uuid_at(p, "/after/person_id").ok_or("after.person_id")?;
            let role = str_at(p, "/after/role").ok_or("after.role")?;
            let link = "/account".to_string();
            let vars = json!({
                "role_label": role.replace('_', " "),
                "role": role,
                "cluster_id": uuid_at(p, "/after/cluster_id"),
                "link": link,
            });
            Route {
                category: Category::Account,
                audience: Audience::People(vec![person]),
                critical: false,
                vars,
                link,
            }
        }
        CONSENT_WITHDRAWN => {
            let kind = str_at(p, "/after/subject/kind").ok_or("after.subject.kind")?;
            if kind != "person" {
                return Ok(None);
            }
            let person = uuid_at(p, "/after/subject/id").ok_or("after.subject.id")?;
            let link = "/account/consents".to_string();
            let vars = json!({
                "purpose": str_at(p, "/after/purpose"),
                "purpose_version": p.pointer("/after/purpose_version").and_then(Value::as_u64),
                "link": link,
            });
            Route {
                category: Category::Account,
                audience: Audience::People(vec![person]),
                critical: false,
                vars,
                link,
            }
        }
        ASSIGNMENT_READY => {
            let session = uuid_at(p, "/session_id")
                .or_else(|| uuid_at(p, "/id"))
                .ok_or("session_id")?;
            let scorer = uuid_at(p, "/scorer_id")
                .or_else(|| uuid_at(p, "/after/scorer_id"))
                .ok_or("scorer_id")?;
            let reads = p
                .pointer("/after/reads")
                .and_then(Value::as_object)
                .ok_or("after.reads")?;
            let count = |kind: &str| reads.get(kind).and_then(Value::as_u64).unwrap_or(0);
            let total: u64 = reads.values().filter_map(Value::as_u64).sum();
            if total == 0 {
                return Ok(None);
            }
            let link = format!("/scoring/sessions/{session}/reads");
            let vars = json!({
                "session_id": session,
                "session_name": text_at(p, "/session_name"),
                "event_id": uuid_at(p, "/event_id"),
                "scorer_id": scorer,
                "total_reads": total,
                "first_reads": count("first"),
                "second_reads": count("second"),
                "third_reads": count("third"),
                "backreads": count("backread"),
                "link": link,
            });
            Route {
                category: Category::Scoring,
                audience: Audience::People(vec![scorer]),
                critical: false,
                vars,
                link,
            }
        }
        DISCREPANCY_DETECTED => {
            let session = uuid_at(p, "/session_id").ok_or("session_id")?;
            let lead = uuid_at(p, "/lead_id").ok_or("lead_id")?;
            let link = format!("/scoring/sessions/{session}/adjudication");
            let vars = json!({
                "session_id": session,
                "portfolio_id": uuid_at(p, "/portfolio_id").or_else(|| uuid_at(p, "/id")),
                "assignment_id": uuid_at(p, "/assignment_id")
                    .or_else(|| uuid_at(p, "/after/assignment_id")),
                "reason": text_at(p, "/reason").or_else(|| text_at(p, "/after/reason")),
                "link": link,
            });
            Route {
                category: Category::Scoring,
                audience: Audience::People(vec![lead]),
                critical: false,
                vars,
                link,
            }
        }
        SCORER_FLAGGED => {
            let session = uuid_at(p, "/session_id")
                .or_else(|| uuid_at(p, "/after/session_id"))
                .ok_or("session_id")?;
            let lead = uuid_at(p, "/lead_id").ok_or("lead_id")?;
            let scorer = uuid_at(p, "/scorer_id").or_else(|| uuid_at(p, "/id"));
            let reasons: Vec<String> = p
                .get("reasons")
                .or_else(|| p.pointer("/after/reasons"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect();
            let link = format!("/scoring/sessions/{session}/statistics");
            let vars = json!({
                "session_id": session,
                "scorer_id": scorer,
                "scorer_name": null,
                "reasons": reasons,
                "link": link,
            });
            Route {
                category: Category::Scoring,
                audience: Audience::People(vec![lead]),
                critical: false,
                vars,
                link,
            }
        }
        SESSION_CLOSED => {
            let session = uuid_at(p, "/session_id")
                .or_else(|| uuid_at(p, "/id"))
                .ok_or("session_id")?;
            let lead = uuid_at(p, "/lead_id")
                .or_else(|| uuid_at(p, "/after/lead_id"))
                .ok_or("lead_id")?;
            let link = format!("/scoring/sessions/{session}");
            let vars = json!({
                "session_id": session,
                "session_name": text_at(p, "/after/name"),
                "cluster_id": uuid_at(p, "/cluster_id")
                    .or_else(|| uuid_at(p, "/after/cluster_id")),
                "awaiting_third_read": p.get("awaiting_third_read").and_then(Value::as_u64),
                "link": link,
            });
            Route {
                category: Category::Scoring,
                audience: Audience::People(vec![lead]),
                critical: false,
                vars,
                link,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(route))
}

/// The scorer whose name the runtime should fill into `scorer_name` (still
/// `null`), for routes that tell someone else about a scorer
/// (`scoring.scorer.flagged`: the lead hears which of their scorers).
pub fn scorer_to_name(vars: &Value) -> Option<Uuid> {
    vars.get("scorer_name")
        .is_some_and(Value::is_null)
        .then(|| uuid_at(vars, "/scorer_id"))
        .flatten()
}

/// Fills `scorer_name` (see [`scorer_to_name`]); an empty name leaves it
/// `null`.
pub fn fill_scorer_name(vars: &mut Value, name: &str) {
    let name = name.trim();
    if let Some(slot) = vars.get_mut("scorer_name")
        && slot.is_null()
        && !name.is_empty()
    {
        *slot = json!(name);
    }
}

/// Fills the event variables of a route from scheduling's event (its JSON
/// form, as in `after` of `scheduling.event.*`), for routes whose payload
/// had none (RSVP and registration changes). Variables the route already
/// has a value for are kept.
pub fn fill_event(vars: &mut Value, event: &Value) {
    let Some(map) = vars.as_object_mut() else {
        return;
    };
    let Some(event_id) = map
        .get("event_id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
    else {
        return;
    };
    let link = map
        .get("link")
        .and_then(Value::as_str)
        .map_or_else(|| format!("/events/{event_id}"), str::to_string);
    for (key, value) in event_vars(event_id, Some(event), &link) {
        let slot = map.entry(key).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value;
        }
    }
}

/// The variables every event route has, from the event's JSON when known.
fn event_vars(event_id: Uuid, event: Option<&Value>, link: &str) -> Map<String, Value> {
    let text = |field: &str| {
        event
            .and_then(|e| str_at(e, field))
            .filter(|s| !s.trim().is_empty())
    };
    let instant = |field: &str| {
        event
            .and_then(|e| time_at(e, field))
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
    };
    let time_zone = text("/time_zone");
    let mut vars = Map::new();
    vars.insert("event_id".into(), json!(event_id));
    vars.insert("title".into(), json!(text("/title")));
    vars.insert("kind".into(), json!(text("/kind")));
    vars.insert("starts_at".into(), json!(instant("/starts_at")));
    vars.insert("ends_at".into(), json!(instant("/ends_at")));
    vars.insert("time_zone".into(), json!(time_zone));
    vars.insert("online_url".into(), json!(text("/online_url")));
    vars.insert("link".into(), json!(link));
    let zone = time_zone
        .and_then(|z| z.parse::<chrono_tz::Tz>().ok())
        .unwrap_or(chrono_tz::UTC);
    let mut value = Value::Object(vars);
    render::localise(&mut value, zone);
    match value {
        Value::Object(vars) => vars,
        _ => Map::new(),
    }
}

/// A cancellation is critical while the event has not ended and starts
/// within [`CRITICAL_CANCELLATION_WINDOW`] of now.
fn starts_soon(event: &Value, now: DateTime<Utc>) -> bool {
    let Some(starts) = time_at(event, "/starts_at") else {
        return false;
    };
    let ends = time_at(event, "/ends_at").unwrap_or(starts);
    starts - now <= CRITICAL_CANCELLATION_WINDOW && ends > now
}

fn str_at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A string at `pointer` that is not blank.
fn text_at(v: &Value, pointer: &str) -> Option<String> {
    str_at(v, pointer).filter(|s| !s.trim().is_empty())
}

fn uuid_at(v: &Value, pointer: &str) -> Option<Uuid> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

fn time_at(v: &Value, pointer: &str) -> Option<DateTime<Utc>> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// A realistic event of each routed type, with the "now" it is routed at,
/// shaped exactly as membership, scheduling and scoring publish them (for template
/// checks and tests). The scheduled event starts 30 hours after "now", so
/// its cancellation is critical.
pub fn sample(event_type: &str) -> Option<(EventEnvelope, DateTime<Utc>)> {
    let now = sample_time("2026-10-13T09:00:00Z");
    let tenant = TenantId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
    let event_id = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0e01);
    let person = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0a01);
    let actor = "person:0190000000007000800000000000aa02";
    let lead = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0a02);
    let cluster = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0c01);
    let scoring_session = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0500);
    let scheduled = json!({
        "id": event_id,
        "kind": "network_meeting",
        "cluster_id": Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0c01),
        "title": "Autumn network meeting",
        "agenda": "Moderation of the new anchor papers",
        "starts_at": "2026-10-14T15:00:00Z",
        "ends_at": "2026-10-14T17:00:00Z",
        "time_zone": "Europe/London",
        "venue_id": null,
        "online_url": "https://meet.example.org/autumn",
        "capacity": 30,
        "status": "published",
        "academic_year": 2026,
        "approval_required": false,
        "training_hours": 0,
        "sequence": 2,
    });
    let rsvp = |status: &str| {
        json!({
            "id": event_id,
            "actor": actor,
            "after": {
                "event_id": event_id,
                "person_id": person,
                "status": status,
                "waitlisted_at": null,
                "updated_at": "2026-10-13T08:59:00Z",
            },
            "event_id": event_id,
            "person_id": person,
            "status": status,
        })
    };
    let payload = match event_type {
        RSVP_INVITED => json!({
            "id": event_id,
            "actor": actor,
            "event_id": event_id,
            "person_id": person,
            "status": "invited",
        }),
        RSVP_PROMOTED | REGISTRATION_APPROVED => rsvp("accepted"),
        REGISTRATION_DECLINED => rsvp("declined"),
        EVENT_CHANGED | EVENT_REMINDER_DUE => {
            json!({ "id": event_id, "actor": actor, "after": scheduled })
        }
        EVENT_CANCELLED => {
            let mut after = scheduled.clone();
            after["status"] = json!("cancelled");
            json!({
                "id": event_id,
                "actor": actor,
                "after": after,
                "reason": "The venue is closed for repairs",
            })
        }
        CLAIM_DECIDED => {
            let claim = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0f01);
            json!({
                "id": claim,
                "actor": actor,
                "after": {
                    "id": claim,
                    "event_id": event_id,
                    "person_id": person,
                    "travel_amount": 4250,
                    "subsistence_amount": 1200,
                    "currency": "GBP",
                    "description": "Train to the network meeting",
                    "status": "rejected",
                    "decided_by": actor,
                    "decided_at": "2026-10-13T08:59:00Z",
                    "decision_reason": "Receipts are missing",
                    "submitted_at": "2026-10-10T12:00:00Z",
                },
                "person_id": person,
                "status": "rejected",
            })
        }
        ROLE_GRANTED => {
            let grant = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0b01);
            json!({
                "id": grant,
                "actor": actor,
                "after": {
                    "id": grant,
                    "person_id": person,
                    "role": "cluster_lead",
                    "cluster_id": Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0c01),
                    "granted_at": "2026-10-13T08:59:00Z",
                    "revoked_at": null,
                },
            })
        }
        CONSENT_WITHDRAWN => {
            let consent = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0d01);
            json!({
                "id": consent,
                "actor": actor,
                "after": {
                    "id": consent,
                    "subject": { "kind": "person", "id": person },
                    "purpose": "share-contact-with-cluster",
                    "purpose_version": 2,
                    "recorded_by": actor,
                    "by_proxy": false,
                    "remark": "",
                    "given_at": "2026-09-01T10:00:00Z",
                    "withdrawn_at": "2026-10-13T08:59:00Z",
                },
            })
        }
        ASSIGNMENT_READY => json!({
            "id": scoring_session,
            "actor": actor,
            "after": {
                "scorer_id": person,
                "reads": { "backread": 2, "first": 12, "second": 3 },
            },
            "session_id": scoring_session,
            "scorer_id": person,
            "session_name": "Autumn moderation, Year 6 writing",
            "event_id": event_id,
        }),
        DISCREPANCY_DETECTED => {
            let portfolio = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0501);
            let third = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0502);
            let reason = "first and second reads differ by 3 points (4 and 1)";
            json!({
                "id": portfolio,
                "actor": actor,
                "after": { "assignment_id": third, "reason": reason },
                "session_id": scoring_session,
                "portfolio_id": portfolio,
                "lead_id": lead,
                "assignment_id": third,
                "reason": reason,
            })
        }
        SCORER_FLAGGED => {
            let reasons = [
                "exact agreement 55% is below the 70% target",
                "quadratic weighted kappa 0.512 is below the 0.70 minimum",
            ];
            json!({
                "id": person,
                "actor": actor,
                "after": { "session_id": scoring_session, "reasons": reasons },
                "session_id": scoring_session,
                "scorer_id": person,
                "lead_id": lead,
                "reasons": reasons,
            })
        }
        SESSION_CLOSED => json!({
            "id": scoring_session,
            "actor": actor,
            "after": {
                "id": scoring_session,
                "event_id": event_id,
                "rubric_id": Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0503),
                "cluster_id": cluster,
                "academic_year": 2026,
                "name": "Autumn moderation, Year 6 writing",
                "status": "closed",
                "second_read_share": 0.2,
                "backread_share": 0.1,
                "allow_own_school": false,
                "resolution_rule": "adjacent_average",
                "calibration_since": null,
                "lead_id": lead,
                "portfolios": 120,
                "created_at": "2026-10-01T08:00:00Z",
                "closed_at": "2026-10-13T08:59:00Z",
            },
            "session_id": scoring_session,
            "cluster_id": cluster,
            "lead_id": lead,
            "awaiting_third_read": 2,
        }),
        _ => return None,
    };
    let envelope = EventEnvelope {
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_00e1),
        tenant,
        event_type: event_type.to_string(),
        occurred_at: now,
        payload,
    };
    Some((envelope, now))
}

fn sample_time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn envelope(event_type: &str, payload: Value) -> EventEnvelope {
        EventEnvelope::new(TenantId(Uuid::nil()), event_type, payload)
    }

    fn sampled(event_type: &str) -> Route {
        let (e, now) = sample(event_type).unwrap();
        route(&e, now).unwrap_or_else(|| panic!("{event_type} routes"))
    }

    fn event_json(starts: &str, ends: &str, status: &str) -> Value {
        json!({
            "id": Uuid::nil(),
            "title": "Scoring training",
            "kind": "scoring_training",
            "starts_at": starts,
            "ends_at": ends,
            "time_zone": "America/Chicago",
            "online_url": "",
            "status": status,
        })
    }

    #[test]
    fn every_routed_type_has_a_sample_that_routes_to_its_category() {
        for (event_type, category) in ROUTED {
            let r = sampled(event_type);
            assert_eq!(r.category, *category, "{event_type}");
            assert_eq!(category_of(event_type), Some(*category));
            assert!(r.link.starts_with('/'), "{event_type}: {}", r.link);
            assert_eq!(r.vars["link"], json!(r.link), "{event_type}");
            assert_ne!(r.audience, Audience::Nobody, "{event_type}");
        }
        assert!(sample("scheduling.event.created").is_none());
    }

    #[test]
    fn an_invitation_goes_to_the_invited_person() {
        let r = sampled(RSVP_INVITED);
        let (e, _) = sample(RSVP_INVITED).unwrap();
        let person: Uuid = e.payload["person_id"].as_str().unwrap().parse().unwrap();
        let event_id = e.payload["event_id"].as_str().unwrap();
        assert_eq!(r.category, Category::Invitations);
        assert_eq!(r.audience, Audience::People(vec![person]));
        assert!(!r.critical);
        assert_eq!(r.link, format!("/events/{event_id}"));
        assert_eq!(r.vars["status"], "invited");
        // The payload names no event details: they are null until filled.
        assert_eq!(r.vars["title"], Value::Null);
        assert_eq!(r.vars["starts_local"], Value::Null);
    }

    #[test]
    fn publishing_alone_tells_nobody() {
        let e = envelope(
            "scheduling.event.published",
            json!({ "id": Uuid::nil(), "actor": "x", "after": event_json("2026-10-14T15:00:00Z", "2026-10-14T17:00:00Z", "published") }),
        );
        assert_eq!(route(&e, at("2026-10-13T00:00:00Z")), None);
    }

    #[test]
    fn unrouted_and_bookkeeping_events_tell_nobody() {
        for t in [
            "scheduling.event.created",
            "scheduling.venue.created",
            "scheduling.attendance.recorded",
            "scheduling.rsvp.changed",
            "scheduling.claim.submitted",
            "membership.person.created",
            "membership.role.revoked",
            "membership.consent.recorded",
            "scoring.session.opened",
            "scoring.session.created",
            "scoring.session.portfolios_added",
            "scoring.rubric.created",
            "scoring.portfolio.created",
            "scoring.result.decided",
            "scoring.qualification_attempt.recorded",
            "",
        ] {
            let e = envelope(t, json!({ "id": Uuid::nil(), "actor": "x", "after": {} }));
            assert_eq!(route(&e, Utc::now()), None, "{t}");
        }
    }

    #[test]
    fn a_change_goes_to_the_participants_with_the_event_details() {
        let id = Uuid::now_v7();
        let mut after = event_json("2026-03-08T15:00:00Z", "2026-03-08T18:00:00Z", "published");
        after["online_url"] = json!("https://meet.example.org/x");
        let e = envelope(
            EVENT_CHANGED,
            json!({ "id": id, "actor": "x", "after": after }),
        );
        let r = route(&e, at("2026-03-01T00:00:00Z")).unwrap();
        assert_eq!(r.category, Category::Changes);
        assert_eq!(r.audience, Audience::EventParticipants(id));
        assert!(!r.critical);
        assert_eq!(r.link, format!("/events/{id}"));
        assert_eq!(r.vars["title"], "Scoring training");
        assert_eq!(r.vars["kind"], "scoring_training");
        assert_eq!(r.vars["starts_at"], "2026-03-08T15:00:00Z");
        assert_eq!(r.vars["ends_at"], "2026-03-08T18:00:00Z");
        assert_eq!(r.vars["time_zone"], "America/Chicago");
        assert_eq!(r.vars["online_url"], "https://meet.example.org/x");
        // 15:00Z on the day Chicago moves to CDT is 10:00 CDT.
        assert_eq!(r.vars["starts_local"], "Sunday 8 March 2026, 10:00 CDT");
        assert!(r.vars.get("reason").is_none());
    }

    #[test]
    fn changes_and_reminders_of_drafts_tell_nobody() {
        for t in [EVENT_CHANGED, EVENT_REMINDER_DUE] {
            let after = event_json("2026-10-14T15:00:00Z", "2026-10-14T17:00:00Z", "draft");
            let e = envelope(
                t,
                json!({ "id": Uuid::nil(), "actor": "x", "after": after }),
            );
            assert_eq!(route(&e, at("2026-10-01T00:00:00Z")), None, "{t}");
        }
    }

    #[test]
    fn a_cancellation_is_critical_only_when_the_event_is_near() {
        let cancel = |starts: &str, ends: &str| {
            envelope(
                EVENT_CANCELLED,
                json!({
                    "id": Uuid::nil(),
                    "actor": "x",
                    "after": event_json(starts, ends, "cancelled"),
                    "reason": "Snow",
                }),
            )
        };
        let now = at("2026-10-13T09:00:00Z");
        let critical = |starts, ends| route(&cancel(starts, ends), now).unwrap().critical;
        assert!(critical("2026-10-14T09:00:00Z", "2026-10-14T11:00:00Z")); // in 24 h
        assert!(critical("2026-10-15T09:00:00Z", "2026-10-15T11:00:00Z")); // exactly 48 h
        assert!(!critical("2026-10-15T09:00:01Z", "2026-10-15T11:00:00Z"));
        assert!(!critical("2026-10-20T09:00:00Z", "2026-10-20T11:00:00Z"));
        assert!(critical("2026-10-13T08:00:00Z", "2026-10-13T10:00:00Z")); // under way
        assert!(!critical("2026-10-12T08:00:00Z", "2026-10-12T10:00:00Z")); // over
        let r = route(&cancel("2026-10-14T09:00:00Z", "2026-10-14T11:00:00Z"), now).unwrap();
        assert_eq!(r.category, Category::Changes);
        assert_eq!(r.audience, Audience::EventParticipants(Uuid::nil()));
        assert_eq!(r.vars["reason"], "Snow");
    }

    #[test]
    fn a_cancellation_without_a_reason_has_a_null_reason() {
        let e = envelope(
            EVENT_CANCELLED,
            json!({
                "id": Uuid::nil(),
                "actor": "x",
                "after": event_json("2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z", "cancelled"),
            }),
        );
        let r = route(&e, at("2026-10-13T09:00:00Z")).unwrap();
        assert_eq!(r.vars["reason"], Value::Null);
        assert!(!r.critical);
    }

    #[test]
    fn rsvp_outcomes_go_to_the_person() {
        for (t, status) in [
            (RSVP_PROMOTED, "accepted"),
            (REGISTRATION_APPROVED, "accepted"),
            (REGISTRATION_DECLINED, "declined"),
        ] {
            let r = sampled(t);
            let (e, _) = sample(t).unwrap();
            let person: Uuid = e.payload["person_id"].as_str().unwrap().parse().unwrap();
            assert_eq!(r.category, Category::Changes, "{t}");
            assert_eq!(r.audience, Audience::People(vec![person]), "{t}");
            assert_eq!(r.vars["status"], status, "{t}");
            assert_eq!(r.vars["person_id"], json!(person));
        }
        // An approval can end on the waiting list.
        let event = Uuid::now_v7();
        let person = Uuid::now_v7();
        let e = envelope(
            REGISTRATION_APPROVED,
            json!({ "id": event, "actor": "x", "event_id": event, "person_id": person, "status": "waitlisted" }),
        );
        let r = route(&e, Utc::now()).unwrap();
        assert_eq!(r.vars["status"], "waitlisted");
        assert_eq!(r.link, format!("/events/{event}"));
    }

    #[test]
    fn a_claim_decision_goes_to_the_claimant() {
        let r = sampled(CLAIM_DECIDED);
        let (e, _) = sample(CLAIM_DECIDED).unwrap();
        let person: Uuid = e.payload["person_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(r.category, Category::Account);
        assert_eq!(r.audience, Audience::People(vec![person]));
        assert_eq!(r.vars["status"], "rejected");
        assert_eq!(r.vars["reason"], "Receipts are missing");
        assert_eq!(
            r.link,
            format!("/claims/{}", e.payload["id"].as_str().unwrap())
        );
    }

    #[test]
    fn a_reminder_goes_to_the_participants() {
        let r = sampled(EVENT_REMINDER_DUE);
        assert_eq!(r.category, Category::Reminders);
        assert!(matches!(r.audience, Audience::EventParticipants(_)));
        assert!(!r.critical);
        assert_eq!(r.vars["title"], "Autumn network meeting");
        assert_eq!(
            r.vars["starts_local"],
            "Wednesday 14 October 2026, 16:00 BST"
        );
        // The runtime's reminder payload has no actor.
        let id = Uuid::now_v7();
        let after = event_json("2026-10-14T15:00:00Z", "2026-10-14T17:00:00Z", "published");
        let e = envelope(EVENT_REMINDER_DUE, json!({ "id": id, "after": after }));
        assert_eq!(
            route(&e, Utc::now()).unwrap().audience,
            Audience::EventParticipants(id)
        );
    }

    #[test]
    fn a_role_grant_goes_to_the_person() {
        let r = sampled(ROLE_GRANTED);
        let (e, _) = sample(ROLE_GRANTED).unwrap();
        let person: Uuid = e.payload["after"]["person_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(r.category, Category::Account);
        assert_eq!(r.audience, Audience::People(vec![person]));
        assert_eq!(r.vars["role"], "cluster_lead");
        assert_eq!(r.vars["role_label"], "cluster lead");
        assert_eq!(r.link, "/account");
    }

    #[test]
    fn a_withdrawn_consent_goes_to_its_person_only() {
        let r = sampled(CONSENT_WITHDRAWN);
        let (mut e, now) = sample(CONSENT_WITHDRAWN).unwrap();
        let person: Uuid = e.payload["after"]["subject"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(r.category, Category::Account);
        assert_eq!(r.audience, Audience::People(vec![person]));
        assert_eq!(r.vars["purpose"], "share-contact-with-cluster");
        assert_eq!(r.vars["purpose_version"], 2);
        e.payload["after"]["subject"] = json!({ "kind": "organisation", "id": Uuid::now_v7() });
        assert_eq!(route(&e, now), None);
    }

    #[test]
    fn ready_reads_go_to_their_scorer_with_a_count_per_kind() {
        let r = sampled(ASSIGNMENT_READY);
        let (e, now) = sample(ASSIGNMENT_READY).unwrap();
        let scorer: Uuid = e.payload["scorer_id"].as_str().unwrap().parse().unwrap();
        let session = e.payload["session_id"].as_str().unwrap();
        assert_eq!(r.category, Category::Scoring);
        assert_eq!(r.audience, Audience::People(vec![scorer]));
        assert!(!r.critical);
        assert_eq!(r.link, format!("/scoring/sessions/{session}/reads"));
        assert_eq!(
            r.vars,
            json!({
                "session_id": session,
                "session_name": "Autumn moderation, Year 6 writing",
                "event_id": e.payload["event_id"],
                "scorer_id": scorer,
                "total_reads": 17,
                "first_reads": 12,
                "second_reads": 3,
                "third_reads": 0,
                "backreads": 2,
                "link": r.link,
            })
        );
        // Only the ids in `after` and `id`: the same reader and session.
        let e = envelope(
            ASSIGNMENT_READY,
            json!({
                "id": session,
                "actor": "x",
                "after": { "scorer_id": scorer, "reads": { "second": 1, "kappa": "?" } },
                "session_name": "  ",
            }),
        );
        let r = route(&e, now).unwrap();
        assert_eq!(r.audience, Audience::People(vec![scorer]));
        assert_eq!(r.link, format!("/scoring/sessions/{session}/reads"));
        assert_eq!(r.vars["total_reads"], 1);
        assert_eq!(r.vars["second_reads"], 1);
        assert_eq!(r.vars["first_reads"], 0);
        assert_eq!(r.vars["session_name"], Value::Null);
        assert_eq!(r.vars["event_id"], Value::Null);
    }

    #[test]
    fn an_assignment_of_no_reads_tells_nobody() {
        for reads in [json!({}), json!({ "first": 0, "second": 0 })] {
            let e = envelope(
                ASSIGNMENT_READY,
                json!({ "id": Uuid::nil(), "actor": "x", "session_id": Uuid::nil(),
                        "scorer_id": Uuid::nil(), "after": { "scorer_id": Uuid::nil(), "reads": reads } }),
            );
            assert_eq!(route(&e, Utc::now()), None, "{reads}");
        }
    }

    #[test]
    fn a_discrepancy_goes_to_the_lead_for_the_third_read() {
        let r = sampled(DISCREPANCY_DETECTED);
        let (e, _) = sample(DISCREPANCY_DETECTED).unwrap();
        let lead: Uuid = e.payload["lead_id"].as_str().unwrap().parse().unwrap();
        let session = e.payload["session_id"].as_str().unwrap();
        assert_eq!(r.category, Category::Scoring);
        assert_eq!(r.audience, Audience::People(vec![lead]));
        assert!(!r.critical);
        assert_eq!(r.link, format!("/scoring/sessions/{session}/adjudication"));
        assert_eq!(
            r.vars,
            json!({
                "session_id": session,
                "portfolio_id": e.payload["portfolio_id"],
                "assignment_id": e.payload["assignment_id"],
                "reason": "first and second reads differ by 3 points (4 and 1)",
                "link": r.link,
            })
        );
        // The portfolio is the event's `id`; assignment and reason may come
        // from `after` only.
        let portfolio = Uuid::now_v7();
        let third = Uuid::now_v7();
        let e = envelope(
            DISCREPANCY_DETECTED,
            json!({
                "id": portfolio,
                "actor": "x",
                "after": { "assignment_id": third, "reason": "codes differ (A and B)" },
                "session_id": session,
                "lead_id": lead,
            }),
        );
        let r = route(&e, Utc::now()).unwrap();
        assert_eq!(r.vars["portfolio_id"], json!(portfolio));
        assert_eq!(r.vars["assignment_id"], json!(third));
        assert_eq!(r.vars["reason"], "codes differ (A and B)");
    }

    #[test]
    fn a_flagged_scorer_is_told_to_the_lead_only() {
        let r = sampled(SCORER_FLAGGED);
        let (e, _) = sample(SCORER_FLAGGED).unwrap();
        let lead: Uuid = e.payload["lead_id"].as_str().unwrap().parse().unwrap();
        let scorer: Uuid = e.payload["scorer_id"].as_str().unwrap().parse().unwrap();
        let session = e.payload["session_id"].as_str().unwrap();
        assert_eq!(r.category, Category::Scoring);
        assert_eq!(r.audience, Audience::People(vec![lead]));
        assert!(!r.critical);
        assert_eq!(r.link, format!("/scoring/sessions/{session}/statistics"));
        assert_eq!(
            r.vars,
            json!({
                "session_id": session,
                "scorer_id": scorer,
                "scorer_name": null,
                "reasons": [
                    "exact agreement 55% is below the 70% target",
                    "quadratic weighted kappa 0.512 is below the 0.70 minimum",
                ],
                "link": r.link,
            })
        );
        // Reasons: strings only, blank ones dropped; none at all is an empty list.
        let flagged = |reasons: Value| {
            let e = envelope(
                SCORER_FLAGGED,
                json!({ "id": scorer, "actor": "x", "session_id": session,
                        "lead_id": lead, "reasons": reasons }),
            );
            route(&e, Utc::now()).unwrap().vars["reasons"].clone()
        };
        assert_eq!(flagged(json!(["a", " ", 3, null, "b "])), json!(["a", "b"]));
        assert_eq!(flagged(Value::Null), json!([]));
        assert_eq!(flagged(json!("not a list")), json!([]));
    }

    #[test]
    fn the_runtime_fills_in_the_flagged_scorers_name() {
        let mut r = sampled(SCORER_FLAGGED);
        let (e, _) = sample(SCORER_FLAGGED).unwrap();
        let scorer: Uuid = e.payload["scorer_id"].as_str().unwrap().parse().unwrap();
        assert_eq!(scorer_to_name(&r.vars), Some(scorer));
        fill_scorer_name(&mut r.vars, "  ");
        assert_eq!(r.vars["scorer_name"], Value::Null);
        fill_scorer_name(&mut r.vars, " Tia Jones ");
        assert_eq!(r.vars["scorer_name"], "Tia Jones");
        assert_eq!(scorer_to_name(&r.vars), None, "named already");
        // Other routes name nobody, even with a scorer id (the reader's own).
        for t in [
            ASSIGNMENT_READY,
            DISCREPANCY_DETECTED,
            SESSION_CLOSED,
            RSVP_INVITED,
        ] {
            let mut vars = sampled(t).vars;
            assert_eq!(scorer_to_name(&vars), None, "{t}");
            let before = vars.clone();
            fill_scorer_name(&mut vars, "Tia Jones");
            assert_eq!(vars, before, "{t}");
        }
    }

    #[test]
    fn a_closed_session_goes_to_its_lead() {
        let r = sampled(SESSION_CLOSED);
        let (e, _) = sample(SESSION_CLOSED).unwrap();
        let lead: Uuid = e.payload["lead_id"].as_str().unwrap().parse().unwrap();
        let session = e.payload["session_id"].as_str().unwrap();
        assert_eq!(r.category, Category::Scoring);
        assert_eq!(r.audience, Audience::People(vec![lead]));
        assert!(!r.critical);
        assert_eq!(r.link, format!("/scoring/sessions/{session}"));
        assert_eq!(
            r.vars,
            json!({
                "session_id": session,
                "session_name": "Autumn moderation, Year 6 writing",
                "cluster_id": e.payload["cluster_id"],
                "awaiting_third_read": 2,
                "link": r.link,
            })
        );
        // Lead and cluster from `after` alone; no count is a null count.
        let e = envelope(
            SESSION_CLOSED,
            json!({ "id": session, "actor": "x", "after": e.payload["after"] }),
        );
        let r = route(&e, Utc::now()).unwrap();
        assert_eq!(r.audience, Audience::People(vec![lead]));
        assert_eq!(r.vars["cluster_id"], e.payload["after"]["cluster_id"]);
        assert_eq!(r.vars["awaiting_third_read"], Value::Null);
    }

    #[test]
    fn malformed_payloads_tell_nobody() {
        for (t, payload) in [
            (
                RSVP_INVITED,
                json!({ "id": Uuid::nil(), "event_id": Uuid::nil() }),
            ),
            (
                RSVP_INVITED,
                json!({ "id": "not-a-uuid", "person_id": Uuid::nil() }),
            ),
            (EVENT_CANCELLED, json!({ "id": Uuid::nil(), "after": null })),
            (EVENT_CHANGED, json!({ "after": {} })),
            (CLAIM_DECIDED, json!({ "id": Uuid::nil() })),
            (
                ROLE_GRANTED,
                json!({ "id": Uuid::nil(), "after": { "role": "teacher" } }),
            ),
            (CONSENT_WITHDRAWN, json!({ "id": Uuid::nil(), "after": {} })),
            (EVENT_REMINDER_DUE, json!([])),
            // Scoring: no reader, no session for the link, or no counts.
            (
                ASSIGNMENT_READY,
                json!({ "id": Uuid::nil(), "session_id": Uuid::nil(), "after": { "reads": { "first": 1 } } }),
            ),
            (
                ASSIGNMENT_READY,
                json!({ "scorer_id": Uuid::nil(), "after": { "reads": { "first": 1 } } }),
            ),
            (
                ASSIGNMENT_READY,
                json!({ "id": Uuid::nil(), "scorer_id": Uuid::nil(), "after": { "reads": [1] } }),
            ),
            (
                DISCREPANCY_DETECTED,
                json!({ "id": Uuid::nil(), "session_id": Uuid::nil(), "lead_id": "lena" }),
            ),
            (
                DISCREPANCY_DETECTED,
                json!({ "id": Uuid::nil(), "lead_id": Uuid::nil() }),
            ),
            (
                SCORER_FLAGGED,
                json!({ "id": Uuid::nil(), "session_id": Uuid::nil(), "reasons": ["x"] }),
            ),
            (
                SCORER_FLAGGED,
                json!({ "id": Uuid::nil(), "lead_id": Uuid::nil(), "reasons": ["x"] }),
            ),
            (
                SESSION_CLOSED,
                json!({ "id": Uuid::nil(), "session_id": Uuid::nil(), "after": {} }),
            ),
            (
                SESSION_CLOSED,
                json!({ "lead_id": Uuid::nil(), "after": null }),
            ),
        ] {
            assert_eq!(
                route(&envelope(t, payload.clone()), Utc::now()),
                None,
                "{t} {payload}"
            );
        }
    }

    #[test]
    fn fill_event_completes_an_rsvp_route() {
        let mut r = sampled(RSVP_PROMOTED);
        let (scheduled, _) = sample(EVENT_CHANGED).unwrap();
        fill_event(&mut r.vars, &scheduled.payload["after"]);
        assert_eq!(r.vars["title"], "Autumn network meeting");
        assert_eq!(r.vars["starts_at"], "2026-10-14T15:00:00Z");
        assert_eq!(
            r.vars["starts_local"],
            "Wednesday 14 October 2026, 16:00 BST"
        );
        assert_eq!(r.vars["online_url"], "https://meet.example.org/autumn");
        // What the route knew stays.
        assert_eq!(r.vars["status"], "accepted");
        assert_eq!(r.vars["link"], json!(r.link));
    }

    #[test]
    fn every_route_of_a_type_has_the_same_variable_names() {
        // A sparse payload yields the same names as the rich sample, so a
        // template checked against the sample never meets an unknown name.
        let names = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let sparse_event = json!({ "id": Uuid::nil(), "after": { "status": "cancelled" } });
        let cases = [
            (EVENT_CANCELLED, sparse_event.clone()),
            (EVENT_CHANGED, json!({ "id": Uuid::nil(), "after": {} })),
            (
                EVENT_REMINDER_DUE,
                json!({ "id": Uuid::nil(), "after": {} }),
            ),
            (
                RSVP_PROMOTED,
                json!({ "id": Uuid::nil(), "person_id": Uuid::nil() }),
            ),
            (
                CLAIM_DECIDED,
                json!({ "id": Uuid::nil(), "person_id": Uuid::nil() }),
            ),
            (
                ROLE_GRANTED,
                json!({ "id": Uuid::nil(), "after": { "person_id": Uuid::nil(), "role": "teacher" } }),
            ),
            (
                CONSENT_WITHDRAWN,
                json!({ "id": Uuid::nil(), "after": { "subject": { "kind": "person", "id": Uuid::nil() } } }),
            ),
            (
                ASSIGNMENT_READY,
                json!({ "id": Uuid::nil(), "scorer_id": Uuid::nil(), "after": { "reads": { "third": 1 } } }),
            ),
            (
                DISCREPANCY_DETECTED,
                json!({ "session_id": Uuid::nil(), "lead_id": Uuid::nil() }),
            ),
            (
                SCORER_FLAGGED,
                json!({ "session_id": Uuid::nil(), "lead_id": Uuid::nil() }),
            ),
            (
                SESSION_CLOSED,
                json!({ "id": Uuid::nil(), "lead_id": Uuid::nil() }),
            ),
        ];
        for (t, payload) in cases {
            let sparse = route(&envelope(t, payload), Utc::now()).unwrap();
            assert_eq!(names(&sparse.vars), names(&sampled(t).vars), "{t}");
        }
    }
}
