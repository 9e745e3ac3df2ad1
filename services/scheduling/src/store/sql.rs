// The one SQL body of the scheduling store, included by `postgres.rs` and
// `sqlite.rs` with `Db`/`Pool` naming the backend and `FOR_UPDATE` its row
// lock (" FOR UPDATE" on PostgreSQL, "" on SQLite, whose single writer
// already serialises transactions). The statements are the common dialect of
// both (numbered `$n` parameters, `RETURNING`, `ON CONFLICT`, partial
// indexes, row values); every statement filters on `tenant_id`.
//
// Instants. sqlx writes a `DateTime<Utc>` to SQLite as RFC 3339 text with
// "+00:00" and as many fraction digits as needed (none, 3, 6 or 9), so SQL
// compares instants there as text. The store writes every instant it keeps in
// whole seconds ([`secs`]), which makes that text fixed-width (and makes both
// backends return exactly what was stored); a bound filter value with a
// fraction still compares correctly against it, because '+' sorts before '.'
// and '.' before every digit (the contract suite checks this on both
// backends). The one instant kept finer, `rsvps.waitlisted_at`, is never
// compared in SQL: the waiting list is ordered by the integer
// `waitlist_position`, taken with the event row locked.
//
// Seats. Every decision that depends on counts (a seat or the waiting list,
// promotions, a capacity change) locks the event row first; every venue
// booking check locks the venue row first. Locks are taken in a fixed order
// (events by id, then venues by id), so concurrent writers queue instead of
// deadlocking, and PostgreSQL's READ COMMITTED gives each statement after the
// lock a snapshot that includes the previous holder's commit.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use platform::{
    auth::TenantId,
    error::{Error, Result},
    events::{EventBus, EventEnvelope},
    page::Page,
    retention::{Category, Count, Cutoffs},
    tx::{AuditEntry, TenantTxExt},
};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{FromRow, QueryBuilder, Transaction, types::Json};
use uuid::Uuid;

use crate::{
    domain::{overlap, waitlist, *},
    store::{ErasureCounts, Paged, RsvpOutcome, SchedulingStore},
};

/// Attendance (by the owner or by self check-in) is taken from this long
/// before an event starts: people arrive early. The same margin as the API's
/// check-in window (`api::CHECK_IN_MARGIN_MINUTES`).
const ATTENDANCE_OPENS_MINUTES_BEFORE: i64 = 60;

/// Most ids bound in one `IN (…)` list (both backends cap parameters).
const IN_CHUNK: usize = 1_000;

/// The store over one pool of this backend (pool, relay signal, tenant
/// transactions: `platform::db::TenantStore`).
pub type Store = platform::db::TenantStore<Pool>;

type Tx = Transaction<'static, Db>;

// An instant as the store keeps it: whole seconds (see the top of this file).
use platform::db::whole_secs as secs;

fn now() -> DateTime<Utc> {
    secs(Utc::now())
}

/// Clamps a count to the INTEGER columns.
fn int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn uint(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

use platform::db::{conflict_on, stored_enum};

/// Secrets never travel on the bus: the check-in code and a feed's secret
/// hash stay in the audit log only.
fn public(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("check_in_code");
        o.remove("secret_hash");
    }
    v
}

// ---------------------------------------------------------------- audit and outbox

/// Writes the audit record of one mutation and its outbox event
/// `scheduling.<action>` with payload `{id, actor, after, ..extra}`.
#[allow(clippy::too_many_arguments)]
async fn record_with(
    tx: &mut Tx,
    t: TenantId,
    actor: &str,
    action: &str,
    target_id: Uuid,
    before: Option<Value>,
    after: Option<Value>,
    extra: Value,
) -> Result<()> {
    let target_kind = action.split('.').next().unwrap_or(action).to_string();
    tx.audit(&AuditEntry {
        tenant: t,
        actor: actor.to_string(),
        action: action.to_string(),
        target_kind,
        target_id: target_id.to_string(),
        at: Utc::now(),
        before,
        after: after.clone(),
    })
    .await?;
    let mut payload = json!({ "id": target_id, "actor": actor, "after": after.map(public) });
    if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), extra) {
        p.extend(extra);
    }
    tx.emit(&EventEnvelope::new(
        t,
        format!("scheduling.{action}"),
        payload,
    ))
    .await
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// [`record_with`] for an entity with an id.
async fn record<T: Serialize + Sync>(
    tx: &mut Tx,
    t: TenantId,
    actor: &str,
    action: &str,
    target_id: Uuid,
    before: Option<&T>,
    after: Option<&T>,
) -> Result<()> {
    record_with(
        tx,
        t,
        actor,
        action,
        target_id,
        before.map(to_json),
        after.map(to_json),
        json!({}),
    )
    .await
}

/// An RSVP change: audited under the event, and published with the event
/// and the person named so consumers need not look inside `after`.
async fn record_rsvp(
    tx: &mut Tx,
    t: TenantId,
    actor: &str,
    action: &str,
    before: Option<&Rsvp>,
    after: &Rsvp,
) -> Result<()> {
    record_with(
        tx,
        t,
        actor,
        action,
        after.event_id,
        before.map(to_json),
        Some(to_json(after)),
        json!({
            "event_id": after.event_id,
            "person_id": after.person_id,
            "status": after.status.as_str(),
        }),
    )
    .await
}

// ---------------------------------------------------------------- rows

const VENUE_COLUMNS: &str = "id, name, address, capacity, buffer_minutes";

#[derive(FromRow)]
struct VenueRow {
    id: Uuid,
    name: String,
    address: String,
    capacity: i32,
    buffer_minutes: i32,
}

impl From<VenueRow> for Venue {
    fn from(r: VenueRow) -> Self {
        Venue {
            id: r.id,
            name: r.name,
            address: r.address,
            capacity: uint(r.capacity),
            buffer_minutes: uint(r.buffer_minutes),
        }
    }
}

/// The columns of `events` in the order [`bind_event`] binds them.
const EVENT_COLUMNS: [&str; 26] = [
    "id",
    "kind",
    "cluster_id",
    "title",
    "agenda",
    "starts_at",
    "ends_at",
    "time_zone",
    "venue_id",
    "online_url",
    "capacity",
    "status",
    "academic_year",
    "approval_required",
    "training_hours",
    "prepares_for_event_id",
    "series_id",
    "recurrence_id",
    "rrule",
    "series_start",
    "detached",
    "sequence",
    "check_in_code",
    "created_by",
    "created_at",
    "updated_at",
];

/// `e.id, e.kind, …` for a query where `events` is aliased `e`.
fn event_columns() -> String {
    EVENT_COLUMNS
        .iter()
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn insert_event_sql() -> String {
    let params: Vec<String> = (2..=EVENT_COLUMNS.len() + 1)
        .map(|i| format!("${i}"))
        .collect();
    format!(
        "INSERT INTO events (tenant_id, {}) VALUES ($1, {})",
        EVENT_COLUMNS.join(", "),
        params.join(", ")
    )
}

/// Binds `$1` tenant and `$2` id as the insert does, so one binder serves both.
fn update_event_sql() -> String {
    let sets: Vec<String> = EVENT_COLUMNS
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, c)| format!("{c} = ${}", i + 2))
        .collect();
    format!(
        "UPDATE events SET {} WHERE tenant_id = $1 AND id = $2",
        sets.join(", ")
    )
}

type Args<'q> = <Db as sqlx::Database>::Arguments<'q>;
type Query<'q> = sqlx::query::Query<'q, Db, Args<'q>>;

fn bind_event<'q>(q: Query<'q>, e: &'q Event) -> Query<'q> {
    q.bind(e.id)
        .bind(e.kind.as_str())
        .bind(e.cluster_id)
        .bind(&e.title)
        .bind(&e.agenda)
        .bind(e.starts_at)
        .bind(e.ends_at)
        .bind(&e.time_zone)
        .bind(e.venue_id)
        .bind(&e.online_url)
        .bind(int(e.capacity))
        .bind(e.status.as_str())
        .bind(e.academic_year)
        .bind(e.approval_required)
        .bind(int(e.training_hours))
        .bind(e.prepares_for_event_id)
        .bind(e.series_id)
        .bind(e.recurrence_id)
        .bind(&e.rrule)
        .bind(e.series_start)
        .bind(e.detached)
        .bind(int(e.sequence))
        .bind(&e.check_in_code)
        .bind(&e.created_by)
        .bind(e.created_at)
        .bind(e.updated_at)
}

#[derive(FromRow)]
struct EventRow {
    id: Uuid,
    kind: String,
    cluster_id: Option<Uuid>,
    title: String,
    agenda: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    time_zone: String,
    venue_id: Option<Uuid>,
    online_url: Option<String>,
    capacity: i32,
    status: String,
    academic_year: i32,
    approval_required: bool,
    training_hours: i32,
    prepares_for_event_id: Option<Uuid>,
    series_id: Option<Uuid>,
    recurrence_id: Option<DateTime<Utc>>,
    rrule: Option<String>,
    series_start: Option<DateTime<Utc>>,
    detached: bool,
    sequence: i32,
    check_in_code: String,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<EventRow> for Event {
    type Error = Error;
    fn try_from(r: EventRow) -> Result<Self> {
        Ok(Event {
            id: r.id,
            kind: stored_enum("event kind", &r.kind, EventKind::parse)?,
            cluster_id: r.cluster_id,
            title: r.title,
            agenda: r.agenda,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            time_zone: r.time_zone,
            venue_id: r.venue_id,
            online_url: r.online_url,
            capacity: uint(r.capacity),
            status: stored_enum("event status", &r.status, EventStatus::parse)?,
            academic_year: r.academic_year,
            approval_required: r.approval_required,
            training_hours: uint(r.training_hours),
            prepares_for_event_id: r.prepares_for_event_id,
            series_id: r.series_id,
            recurrence_id: r.recurrence_id,
            rrule: r.rrule,
            series_start: r.series_start,
            detached: r.detached,
            sequence: uint(r.sequence),
            check_in_code: r.check_in_code,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn events_from(rows: Vec<EventRow>) -> Result<Vec<Event>> {
    rows.into_iter().map(Event::try_from).collect()
}

#[derive(FromRow)]
struct PersonEventRow {
    person_id: Uuid,
    #[sqlx(flatten)]
    event: EventRow,
}

const RSVP_COLUMNS: &str = "event_id, person_id, status, waitlisted_at, updated_at";

#[derive(FromRow)]
struct RsvpRow {
    event_id: Uuid,
    person_id: Uuid,
    status: String,
    waitlisted_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<RsvpRow> for Rsvp {
    type Error = Error;
    fn try_from(r: RsvpRow) -> Result<Self> {
        Ok(Rsvp {
            event_id: r.event_id,
            person_id: r.person_id,
            status: stored_enum("RSVP status", &r.status, RsvpStatus::parse)?,
            waitlisted_at: r.waitlisted_at,
            updated_at: r.updated_at,
        })
    }
}

fn rsvps_from(rows: Vec<RsvpRow>) -> Result<Vec<Rsvp>> {
    rows.into_iter().map(Rsvp::try_from).collect()
}

const ATTENDANCE_COLUMNS: &str = "event_id, person_id, status, method, recorded_by, recorded_at";

#[derive(FromRow)]
struct AttendanceRow {
    event_id: Uuid,
    person_id: Uuid,
    status: String,
    method: String,
    recorded_by: String,
    recorded_at: DateTime<Utc>,
}

impl TryFrom<AttendanceRow> for Attendance {
    type Error = Error;
    fn try_from(r: AttendanceRow) -> Result<Self> {
        Ok(Attendance {
            event_id: r.event_id,
            person_id: r.person_id,
            status: stored_enum("attendance status", &r.status, AttendanceStatus::parse)?,
            method: r.method,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at,
        })
    }
}

fn attendance_from(rows: Vec<AttendanceRow>) -> Result<Vec<Attendance>> {
    rows.into_iter().map(Attendance::try_from).collect()
}

const MATERIAL_COLUMNS: &str = "id, event_id, title, url, object_key, file_name, content_type, \
     size_bytes, added_by, added_at";

#[derive(FromRow)]
struct MaterialRow {
    id: Uuid,
    event_id: Uuid,
    title: String,
    url: Option<String>,
    object_key: Option<String>,
    file_name: Option<String>,
    content_type: Option<String>,
    size_bytes: i64,
    added_by: String,
    added_at: DateTime<Utc>,
}

impl From<MaterialRow> for Material {
    fn from(r: MaterialRow) -> Self {
        Material {
            id: r.id,
            event_id: r.event_id,
            title: r.title,
            url: r.url,
            object_key: r.object_key,
            file_name: r.file_name,
            content_type: r.content_type,
            size_bytes: u64::try_from(r.size_bytes).unwrap_or(0),
            added_by: r.added_by,
            added_at: r.added_at,
        }
    }
}

const CLAIM_COLUMNS: &str = "id, event_id, person_id, travel_amount, subsistence_amount, currency, \
     description, status, decided_by, decided_at, decision_reason, submitted_at";

#[derive(FromRow)]
struct ClaimRow {
    id: Uuid,
    event_id: Uuid,
    person_id: Uuid,
    travel_amount: i64,
    subsistence_amount: i64,
    currency: String,
    description: String,
    status: String,
    decided_by: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    decision_reason: Option<String>,
    submitted_at: DateTime<Utc>,
}

impl TryFrom<ClaimRow> for ExpenseClaim {
    type Error = Error;
    fn try_from(r: ClaimRow) -> Result<Self> {
        Ok(ExpenseClaim {
            id: r.id,
            event_id: r.event_id,
            person_id: r.person_id,
            travel_amount: r.travel_amount,
            subsistence_amount: r.subsistence_amount,
            currency: r.currency,
            description: r.description,
            status: stored_enum("claim status", &r.status, ClaimStatus::parse)?,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
            decision_reason: r.decision_reason,
            submitted_at: r.submitted_at,
        })
    }
}

const FEED_COLUMNS: &str = "id, person_id, secret_hash, created_at, revoked_at";

#[derive(FromRow)]
struct FeedRow {
    id: Uuid,
    person_id: Uuid,
    secret_hash: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<FeedRow> for CalendarFeed {
    fn from(r: FeedRow) -> Self {
        CalendarFeed {
            id: r.id,
            person_id: r.person_id,
            secret_hash: r.secret_hash,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// The questionnaire of an event, for the audit record.
#[derive(Serialize)]
struct QuestionnaireRecord<'a> {
    event_id: Uuid,
    questions: &'a [Question],
}

// ---------------------------------------------------------------- reads used by writes

fn push_ids(q: &mut QueryBuilder<'_, Db>, ids: &[Uuid]) {
    q.push(" (");
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    q.push(")");
}

/// Events by id, in id order; `lock` takes their row locks (in that order).
async fn fetch_events(tx: &mut Tx, t: TenantId, ids: &[Uuid], lock: bool) -> Result<Vec<Event>> {
    let mut events = Vec::with_capacity(ids.len());
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    for chunk in ids.chunks(IN_CHUNK) {
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {} FROM events e WHERE e.tenant_id = ",
            event_columns()
        ));
        q.push_bind(t.0).push(" AND e.id IN");
        push_ids(&mut q, chunk);
        q.push(" ORDER BY e.id");
        if lock {
            q.push(FOR_UPDATE);
        }
        let rows: Vec<EventRow> = q.build_query_as().fetch_all(&mut **tx).await?;
        events.extend(events_from(rows)?);
    }
    Ok(events)
}

async fn fetch_event(tx: &mut Tx, t: TenantId, id: Uuid, lock: bool) -> Result<Event> {
    fetch_events(tx, t, &[id], lock)
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("event"))
}

async fn fetch_venue(tx: &mut Tx, t: TenantId, id: Uuid, lock: bool) -> Result<Option<Venue>> {
    let row: Option<VenueRow> = sqlx::query_as(&format!(
        "SELECT {VENUE_COLUMNS} FROM venues WHERE tenant_id = $1 AND id = $2{}",
        if lock { FOR_UPDATE } else { "" }
    ))
    .bind(t.0)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(Venue::from))
}

async fn venue_capacity(tx: &mut Tx, t: TenantId, venue: Option<Uuid>) -> Result<Option<u32>> {
    match venue {
        Some(id) => Ok(fetch_venue(tx, t, id, false).await?.map(|v| v.capacity)),
        None => Ok(None),
    }
}

async fn accepted_count(tx: &mut Tx, t: TenantId, event: Uuid) -> Result<u32> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM rsvps WHERE tenant_id = $1 AND event_id = $2 AND status = 'accepted'",
    )
    .bind(t.0)
    .bind(event)
    .fetch_one(&mut **tx)
    .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// The waiting list of an event, longest-waiting first.
async fn waiting_list(tx: &mut Tx, t: TenantId, event: Uuid) -> Result<Vec<Rsvp>> {
    let rows: Vec<RsvpRow> = sqlx::query_as(&format!(
        "SELECT {RSVP_COLUMNS} FROM rsvps WHERE tenant_id = $1 AND event_id = $2 \
         AND waitlist_position IS NOT NULL ORDER BY waitlist_position"
    ))
    .bind(t.0)
    .bind(event)
    .fetch_all(&mut **tx)
    .await?;
    rsvps_from(rows)
}

async fn fetch_rsvp(tx: &mut Tx, t: TenantId, event: Uuid, person: Uuid) -> Result<Option<Rsvp>> {
    let row: Option<RsvpRow> = sqlx::query_as(&format!(
        "SELECT {RSVP_COLUMNS} FROM rsvps WHERE tenant_id = $1 AND event_id = $2 AND person_id = $3"
    ))
    .bind(t.0)
    .bind(event)
    .bind(person)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(Rsvp::try_from).transpose()
}

/// The next place on an event's waiting list: after everyone waiting, both
/// in position and in time (strictly later, even within one clock tick), so
/// that ordering by either gives the same list. Needs the event row locked.
async fn next_waitlist_place(
    tx: &mut Tx,
    t: TenantId,
    event: Uuid,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, i64)> {
    let last: Option<(Option<DateTime<Utc>>, i64)> = sqlx::query_as(
        "SELECT waitlisted_at, waitlist_position FROM rsvps \
         WHERE tenant_id = $1 AND event_id = $2 AND waitlist_position IS NOT NULL \
         ORDER BY waitlist_position DESC LIMIT 1",
    )
    .bind(t.0)
    .bind(event)
    .fetch_optional(&mut **tx)
    .await?;
    let now = now.trunc_subsecs(6);
    Ok(match last {
        Some((at, position)) => {
            let after = at.map(|at| at + Duration::microseconds(1));
            (after.map_or(now, |a| a.max(now)), position + 1)
        }
        None => (now, 1),
    })
}

/// Sets a person's RSVP (insert or replace).
async fn put_rsvp(
    tx: &mut Tx,
    t: TenantId,
    event: Uuid,
    person: Uuid,
    status: RsvpStatus,
    now: DateTime<Utc>,
) -> Result<Rsvp> {
    let place = if status == RsvpStatus::Waitlisted {
        Some(next_waitlist_place(tx, t, event, now).await?)
    } else {
        None
    };
    let row: RsvpRow = sqlx::query_as(&format!(
        "INSERT INTO rsvps (tenant_id, event_id, person_id, status, waitlisted_at, \
         waitlist_position, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (tenant_id, event_id, person_id) DO UPDATE SET status = excluded.status, \
         waitlisted_at = excluded.waitlisted_at, waitlist_position = excluded.waitlist_position, \
         updated_at = excluded.updated_at RETURNING {RSVP_COLUMNS}"
    ))
    .bind(t.0)
    .bind(event)
    .bind(person)
    .bind(status.as_str())
    .bind(place.map(|p| p.0))
    .bind(place.map(|p| p.1))
    .bind(secs(now))
    .fetch_one(&mut **tx)
    .await?;
    row.try_into()
}

/// Moves people from the waiting list to free seats, longest-waiting first
/// (the rule is `waitlist::promotions`). Needs the event row locked.
async fn promote(
    tx: &mut Tx,
    t: TenantId,
    actor: &str,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    if event.status != EventStatus::Published {
        return Ok(vec![]);
    }
    let waiting = waiting_list(tx, t, event.id).await?;
    if waiting.is_empty() {
        return Ok(vec![]);
    }
    let capacity = venue_capacity(tx, t, event.venue_id).await?;
    let accepted = accepted_count(tx, t, event.id).await?;
    let chosen = waitlist::promotions(event.seat_limit(capacity), accepted, &waiting);
    for person in &chosen {
        let before = waiting
            .iter()
            .find(|r| r.person_id == *person)
            .ok_or_else(|| {
                Error::internal(anyhow::anyhow!(
                    "promoted {person} is not on the waiting list"
                ))
            })?;
        let after = put_rsvp(tx, t, event.id, *person, RsvpStatus::Accepted, now).await?;
        record_rsvp(tx, t, actor, "rsvp.promoted", Some(before), &after).await?;
    }
    Ok(chosen)
}

/// "2026-10-14 16:00" in the event's zone (UTC when the zone is unknown).
fn local_time(at: DateTime<Utc>, zone: &str) -> String {
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        Err(_) => at.format("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

fn booked(venue: &Venue, by: &Event) -> Error {
    Error::Conflict(format!(
        "venue_id: {} is booked from {} to {} ({}) by \"{}\"",
        venue.name,
        local_time(by.starts_at, &by.time_zone),
        local_time(by.ends_at, &by.time_zone),
        by.time_zone,
        by.title
    ))
}

/// Checks that `events` (new versions, about to be written together) book
/// no venue twice, with each venue's buffer, among themselves or against the
/// venue's other non-cancelled events. Locks every venue row involved (in id
/// order) first and returns those venues.
async fn check_venues(tx: &mut Tx, t: TenantId, events: &[Event]) -> Result<HashMap<Uuid, Venue>> {
    let mut ids: Vec<Uuid> = events.iter().filter_map(|e| e.venue_id).collect();
    ids.sort();
    ids.dedup();
    let mut venues = HashMap::new();
    for id in ids {
        let venue = fetch_venue(tx, t, id, true)
            .await?
            .ok_or_else(|| Error::invalid("venue_id", "no such venue in this tenant"))?;
        venues.insert(id, venue);
    }
    let in_batch: HashSet<Uuid> = events.iter().map(|e| e.id).collect();
    for venue in venues.values() {
        let booking: Vec<&Event> = events
            .iter()
            .filter(|e| e.venue_id == Some(venue.id) && e.status != EventStatus::Cancelled)
            .collect();
        let (Some(first), Some(last)) = (
            booking.iter().map(|e| e.starts_at).min(),
            booking.iter().map(|e| e.ends_at).max(),
        ) else {
            continue;
        };
        let buffer = Duration::minutes(i64::from(venue.buffer_minutes));
        // Wide enough for either reading of a buffer (kept around one side
        // or around both); `overlap::overlaps` decides.
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {} FROM events e WHERE e.tenant_id = $1 AND e.venue_id = $2 \
             AND e.status <> 'cancelled' AND e.starts_at < $3 AND e.ends_at > $4 \
             ORDER BY e.starts_at, e.id",
            event_columns()
        ))
        .bind(t.0)
        .bind(venue.id)
        .bind(last + buffer * 2)
        .bind(first - buffer * 2)
        .fetch_all(&mut **tx)
        .await?;
        let stored = events_from(rows)?;
        for (i, e) in booking.iter().enumerate() {
            let clash = booking[i + 1..]
                .iter()
                .copied()
                .chain(stored.iter().filter(|s| !in_batch.contains(&s.id)))
                .find(|o| {
                    overlap::overlaps(e.starts_at, e.ends_at, o.starts_at, o.ends_at, buffer)
                });
            if let Some(other) = clash {
                return Err(booked(venue, other));
            }
        }
    }
    Ok(venues)
}

/// Checks `prepares_for_event_id` references that are not in the batch
/// itself. `lock` takes the referenced rows' locks now, for a writer that
/// has locked no event yet: their foreign-key check would otherwise lock
/// them at commit, after the venue, against the events-then-venues order.
async fn check_references(tx: &mut Tx, t: TenantId, events: &[Event], lock: bool) -> Result<()> {
    let in_batch: HashSet<Uuid> = events.iter().map(|e| e.id).collect();
    let wanted: Vec<Uuid> = events
        .iter()
        .filter_map(|e| e.prepares_for_event_id)
        .filter(|id| !in_batch.contains(id))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let found: HashSet<Uuid> = fetch_events(tx, t, &wanted, lock)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    if wanted.iter().any(|id| !found.contains(id)) {
        return Err(Error::invalid(
            "prepares_for_event_id",
            "no such event in this tenant",
        ));
    }
    Ok(())
}

fn no_duplicate_ids(events: &[Event]) -> Result<()> {
    let mut seen = HashSet::new();
    if events.iter().all(|e| seen.insert(e.id)) {
        Ok(())
    } else {
        Err(Error::invalid("events", "an event appears more than once"))
    }
}

/// The event's instants as the store keeps them.
fn normalised(mut e: Event) -> Event {
    e.starts_at = secs(e.starts_at);
    e.ends_at = secs(e.ends_at);
    e.recurrence_id = e.recurrence_id.map(secs);
    e.series_start = e.series_start.map(secs);
    e.created_at = secs(e.created_at);
    e.updated_at = secs(e.updated_at);
    e
}

/// Answers and attendance need a published event.
fn require_published(event: &Event) -> Result<()> {
    match event.status {
        EventStatus::Published => Ok(()),
        EventStatus::Cancelled => Err(Error::FailedPrecondition("the event is cancelled".into())),
        EventStatus::Draft => Err(Error::FailedPrecondition(
            "the event is not published".into(),
        )),
    }
}

async fn attendance_of(
    tx: &mut Tx,
    t: TenantId,
    event: Uuid,
    person: Uuid,
) -> Result<Option<AttendanceStatus>> {
    let status: Option<String> = sqlx::query_scalar(
        "SELECT status FROM attendance WHERE tenant_id = $1 AND event_id = $2 AND person_id = $3",
    )
    .bind(t.0)
    .bind(event)
    .bind(person)
    .fetch_optional(&mut **tx)
    .await?;
    status
        .map(|s| stored_enum("attendance status", &s, AttendanceStatus::parse))
        .transpose()
}

async fn fetch_claim(tx: &mut Tx, t: TenantId, id: Uuid, lock: bool) -> Result<ExpenseClaim> {
    let row: Option<ClaimRow> = sqlx::query_as(&format!(
        "SELECT {CLAIM_COLUMNS} FROM expense_claims WHERE tenant_id = $1 AND id = $2{}",
        if lock { FOR_UPDATE } else { "" }
    ))
    .bind(t.0)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.ok_or_else(|| Error::not_found("expense claim"))?
        .try_into()
}

async fn fetch_questions(tx: &mut Tx, t: TenantId, event: Uuid) -> Result<Vec<Question>> {
    let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT id, text, kind FROM questions WHERE tenant_id = $1 AND event_id = $2 \
         ORDER BY position",
    )
    .bind(t.0)
    .bind(event)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|(id, text, kind)| {
            Ok(Question {
                id,
                text,
                kind: stored_enum("question kind", &kind, QuestionKind::parse)?,
            })
        })
        .collect()
}

/// Retention's `event_feedback` (after `SELECT COUNT(*)` or `DELETE`; `$1`
/// the tenant, `$2` the cutoff): feedback on events that ended before the
/// cutoff. An event ends after it starts, so `starts_at < $2` is implied;
/// it is spelled out for `events_by_start`.
const EXPIRED_FEEDBACK: &str = "FROM feedback WHERE tenant_id = $1 AND event_id IN \
     (SELECT id FROM events WHERE tenant_id = $1 AND starts_at < $2 AND ends_at < $2)";
/// Retention's `expense_claims`: claims decided (approved or rejected)
/// before the cutoff; a claim awaiting a decision is never expired.
const EXPIRED_CLAIMS: &str = "FROM expense_claims WHERE tenant_id = $1 \
     AND status IN ('approved', 'rejected') AND decided_at < $2";

const OPEN_CLAIM: &str = "event_id: a claim for this event is already awaiting a decision";
const FEEDBACK_GIVEN: &str = "person_id: feedback for this event was already submitted";
const ACTIVE_FEED: &str = "person_id: the person already has an active calendar feed";

#[async_trait]
impl SchedulingStore for Store {
    // ---------------------------------------------------------------- venues

    async fn create_venue(&self, t: TenantId, actor: &str, venue: Venue) -> Result<Venue> {
        let id = if venue.id.is_nil() {
            Uuid::now_v7()
        } else {
            venue.id
        };
        let mut tx = self.tx(t).await?;
        let row: VenueRow = sqlx::query_as(&format!(
            "INSERT INTO venues (tenant_id, {VENUE_COLUMNS}, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {VENUE_COLUMNS}"
        ))
        .bind(t.0)
        .bind(id)
        .bind(venue.name.trim())
        .bind(venue.address.trim())
        .bind(int(venue.capacity))
        .bind(int(venue.buffer_minutes))
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on(e, "id: a venue with this id exists"))?;
        let venue = Venue::from(row);
        record(&mut tx, t, actor, "venue.created", id, None, Some(&venue)).await?;
        self.commit(tx).await?;
        Ok(venue)
    }

    async fn update_venue(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        patch: VenuePatch,
    ) -> Result<Venue> {
        let mut tx = self.tx(t).await?;
        let now = now();
        // Events first, then the venue: the lock order of every writer.
        let upcoming: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM events WHERE tenant_id = $1 AND venue_id = $2 \
             AND status = 'published' AND ends_at > $3",
        )
        .bind(t.0)
        .bind(id)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let upcoming = fetch_events(&mut tx, t, &upcoming, true).await?;
        let before = fetch_venue(&mut tx, t, id, true)
            .await?
            .ok_or_else(|| Error::not_found("venue"))?;
        let after = Venue {
            id,
            name: patch
                .name
                .map_or(before.name.clone(), |n| n.trim().to_string()),
            address: patch
                .address
                .map_or(before.address.clone(), |a| a.trim().to_string()),
            capacity: patch.capacity.unwrap_or(before.capacity),
            buffer_minutes: patch.buffer_minutes.unwrap_or(before.buffer_minutes),
        };
        // A smaller room may not leave people who hold seats without one.
        if after.capacity != before.capacity {
            for event in upcoming
                .iter()
                .filter(|e| e.status == EventStatus::Published)
            {
                let accepted = accepted_count(&mut tx, t, event.id).await?;
                if let Some(limit) = event.seat_limit(Some(after.capacity))
                    && limit < accepted
                {
                    return Err(Error::FailedPrecondition(format!(
                        "capacity: {limit} seats at this venue are fewer than the {accepted} \
                         people who accepted \"{}\"",
                        event.title
                    )));
                }
            }
        }
        let row: VenueRow = sqlx::query_as(&format!(
            "UPDATE venues SET name = $3, address = $4, capacity = $5, buffer_minutes = $6 \
             WHERE tenant_id = $1 AND id = $2 RETURNING {VENUE_COLUMNS}"
        ))
        .bind(t.0)
        .bind(id)
        .bind(&after.name)
        .bind(&after.address)
        .bind(int(after.capacity))
        .bind(int(after.buffer_minutes))
        .fetch_one(&mut *tx)
        .await?;
        let after = Venue::from(row);
        record(
            &mut tx,
            t,
            actor,
            "venue.updated",
            id,
            Some(&before),
            Some(&after),
        )
        .await?;
        // A larger room (or no limit) seats people who are waiting.
        if after.capacity != before.capacity {
            for event in &upcoming {
                promote(&mut tx, t, actor, event, now).await?;
            }
        }
        self.commit(tx).await?;
        Ok(after)
    }

    async fn get_venues(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Venue>> {
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        let mut tx = self.tx(t).await?;
        let mut venues = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT {VENUE_COLUMNS} FROM venues WHERE tenant_id = "
            ));
            q.push_bind(t.0).push(" AND id IN");
            push_ids(&mut q, chunk);
            q.push(" ORDER BY id");
            let rows: Vec<VenueRow> = q.build_query_as().fetch_all(&mut *tx).await?;
            venues.extend(rows.into_iter().map(Venue::from));
        }
        tx.commit().await?;
        Ok(venues)
    }

    async fn list_venues(&self, t: TenantId, page: Page) -> Result<Paged<Venue>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<VenueRow> = sqlx::query_as(&format!(
            "SELECT {VENUE_COLUMNS} FROM venues WHERE tenant_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3"
        ))
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(page.finish(rows.into_iter().map(Venue::from).collect(), |v| v.id))
    }

    // ---------------------------------------------------------------- events

    async fn create_events(
        &self,
        t: TenantId,
        actor: &str,
        events: Vec<Event>,
    ) -> Result<Vec<Event>> {
        if events.is_empty() {
            return Ok(vec![]);
        }
        let now = now();
        let events: Vec<Event> = events
            .into_iter()
            .map(|e| {
                let mut e = normalised(e);
                if e.id.is_nil() {
                    e.id = Uuid::now_v7();
                }
                if e.created_by.is_empty() {
                    e.created_by = actor.to_string();
                }
                e.created_at = now;
                e.updated_at = now;
                e
            })
            .collect();
        no_duplicate_ids(&events)?;
        let mut tx = self.tx(t).await?;
        check_references(&mut tx, t, &events, true).await?;
        check_venues(&mut tx, t, &events).await?;
        let insert = insert_event_sql();
        for e in &events {
            bind_event(sqlx::query(&insert).bind(t.0), e)
                .execute(&mut *tx)
                .await
                .map_err(|err| conflict_on(err, "id: an event with this id exists"))?;
        }
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let stored = fetch_events(&mut tx, t, &ids, false).await?;
        let mut by_id: HashMap<Uuid, Event> = stored.into_iter().map(|e| (e.id, e)).collect();
        let mut created = Vec::with_capacity(ids.len());
        for id in ids {
            let e = by_id
                .remove(&id)
                .ok_or_else(|| Error::internal(anyhow::anyhow!("event {id} vanished")))?;
            // One record per occurrence, each with its series id.
            record(&mut tx, t, actor, "event.created", id, None, Some(&e)).await?;
            created.push(e);
        }
        self.commit(tx).await?;
        Ok(created)
    }

    async fn update_events(
        &self,
        t: TenantId,
        actor: &str,
        action: &str,
        reason: Option<&str>,
        events: Vec<Event>,
    ) -> Result<Vec<Event>> {
        if events.is_empty() {
            return Ok(vec![]);
        }
        no_duplicate_ids(&events)?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let mut tx = self.tx(t).await?;
        let before: HashMap<Uuid, Event> = fetch_events(&mut tx, t, &ids, true)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        if before.len() != ids.len() {
            return Err(Error::not_found("event"));
        }
        let now = now();
        let after: Vec<Event> = events
            .into_iter()
            .map(|e| {
                let old = &before[&e.id];
                let mut e = normalised(e);
                e.created_by = old.created_by.clone();
                e.created_at = old.created_at;
                e.updated_at = now;
                e.sequence = old.sequence + 1;
                e
            })
            .collect();
        let venues = check_venues(&mut tx, t, &after).await?;
        check_references(&mut tx, t, &after, false).await?;
        for e in after.iter().filter(|e| e.status != EventStatus::Cancelled) {
            let capacity = e.venue_id.and_then(|v| venues.get(&v)).map(|v| v.capacity);
            let accepted = accepted_count(&mut tx, t, e.id).await?;
            if let Some(limit) = e.seat_limit(capacity)
                && limit < accepted
            {
                let title = if after.len() > 1 {
                    format!(" of \"{}\"", e.title)
                } else {
                    String::new()
                };
                return Err(Error::FailedPrecondition(format!(
                    "capacity: {limit} seats{title} is below the {accepted} people who have accepted"
                )));
            }
        }
        let update = update_event_sql();
        for e in &after {
            bind_event(sqlx::query(&update).bind(t.0), e)
                .execute(&mut *tx)
                .await?;
        }
        let stored = fetch_events(&mut tx, t, &ids, false).await?;
        let mut by_id: HashMap<Uuid, Event> = stored.into_iter().map(|e| (e.id, e)).collect();
        let mut updated = Vec::with_capacity(ids.len());
        for id in ids {
            let e = by_id
                .remove(&id)
                .ok_or_else(|| Error::internal(anyhow::anyhow!("event {id} vanished")))?;
            record_with(
                &mut tx,
                t,
                actor,
                action,
                id,
                before.get(&id).map(to_json),
                Some(to_json(&e)),
                reason.map_or(json!({}), |r| json!({ "reason": r })),
            )
            .await?;
            promote(&mut tx, t, actor, &e, now).await?;
            updated.push(e);
        }
        self.commit(tx).await?;
        Ok(updated)
    }

    async fn get_events(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Event>> {
        let mut tx = self.tx(t).await?;
        let events = fetch_events(&mut tx, t, ids, false).await?;
        tx.commit().await?;
        Ok(events)
    }

    async fn series(&self, t: TenantId, series_id: Uuid) -> Result<Vec<Event>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {} FROM events e WHERE e.tenant_id = $1 AND e.series_id = $2 \
             ORDER BY e.starts_at, e.id",
            event_columns()
        ))
        .bind(t.0)
        .bind(series_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        events_from(rows)
    }

    async fn series_occurrences(&self, t: TenantId, series_ids: &[Uuid]) -> Result<Vec<Event>> {
        let mut ids = series_ids.to_vec();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let mut tx = self.tx(t).await?;
        let mut events = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT {} FROM events e WHERE e.tenant_id = ",
                event_columns()
            ));
            q.push_bind(t.0).push(" AND e.series_id IN");
            push_ids(&mut q, chunk);
            q.push(" ORDER BY e.series_id, e.starts_at, e.id");
            let rows: Vec<EventRow> = q.build_query_as().fetch_all(&mut *tx).await?;
            events.extend(events_from(rows)?);
        }
        tx.commit().await?;
        Ok(events)
    }

    /// Events that start in `[from, to)`, in start order; the page token is
    /// the id of the last event of the previous page.
    async fn list_events(
        &self,
        t: TenantId,
        filter: &EventFilter,
        page: Page,
    ) -> Result<Paged<Event>> {
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {} FROM events e WHERE e.tenant_id = ",
            event_columns()
        ));
        q.push_bind(t.0);
        if let Some(cluster) = filter.cluster_id {
            q.push(" AND e.cluster_id = ").push_bind(cluster);
        }
        if let Some(kind) = filter.kind {
            q.push(" AND e.kind = ").push_bind(kind.as_str());
        }
        if let Some(from) = filter.from {
            q.push(" AND e.starts_at >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            q.push(" AND e.starts_at < ").push_bind(to);
        }
        if let Some(year) = filter.academic_year {
            q.push(" AND e.academic_year = ").push_bind(year);
        }
        if !filter.include_drafts {
            q.push(" AND e.status <> 'draft'");
        }
        if !filter.include_cancelled {
            q.push(" AND e.status <> 'cancelled'");
        }
        if let Some(person) = filter.person_id {
            q.push(
                " AND EXISTS (SELECT 1 FROM rsvps r WHERE r.tenant_id = e.tenant_id \
                 AND r.event_id = e.id AND r.person_id = ",
            )
            .push_bind(person)
            .push(")");
        }
        if let Some(after) = page.after {
            q.push(" AND (e.starts_at, e.id) > (SELECT a.starts_at, a.id FROM events a WHERE a.tenant_id = ")
                .push_bind(t.0)
                .push(" AND a.id = ")
                .push_bind(after)
                .push(")");
        }
        q.push(" ORDER BY e.starts_at, e.id LIMIT ")
            .push_bind(page.fetch_limit());
        let mut tx = self.tx(t).await?;
        let rows: Vec<EventRow> = q.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(page.finish(events_from(rows)?, |e| e.id))
    }

    async fn seat_counts(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<(Uuid, SeatCounts)>> {
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        let mut tx = self.tx(t).await?;
        let mut counts = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT e.id, \
                 COALESCE(SUM(CASE WHEN r.status = 'accepted' THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN r.status = 'waitlisted' THEN 1 ELSE 0 END), 0) \
                 FROM events e LEFT JOIN rsvps r ON r.tenant_id = e.tenant_id AND r.event_id = e.id \
                 WHERE e.tenant_id = ",
            );
            q.push_bind(t.0).push(" AND e.id IN");
            push_ids(&mut q, chunk);
            q.push(" GROUP BY e.id ORDER BY e.id");
            let rows: Vec<(Uuid, i64, i64)> = q.build_query_as().fetch_all(&mut *tx).await?;
            counts.extend(rows.into_iter().map(|(id, accepted, waitlisted)| {
                (
                    id,
                    SeatCounts {
                        accepted: u32::try_from(accepted).unwrap_or(u32::MAX),
                        waitlisted: u32::try_from(waitlisted).unwrap_or(u32::MAX),
                    },
                )
            }));
        }
        tx.commit().await?;
        Ok(counts)
    }

    // ---------------------------------------------------------------- invitations and RSVPs

    async fn invite(
        &self,
        t: TenantId,
        actor: &str,
        event: Uuid,
        people: &[Uuid],
    ) -> Result<(u32, u32)> {
        let mut unique = HashSet::new();
        let people: Vec<Uuid> = people
            .iter()
            .copied()
            .filter(|p| unique.insert(*p))
            .collect();
        let mut tx = self.tx(t).await?;
        let ev = fetch_event(&mut tx, t, event, true).await?;
        if ev.status == EventStatus::Cancelled {
            return Err(Error::FailedPrecondition("the event is cancelled".into()));
        }
        let stamp = now();
        let mut invited = Vec::new();
        for person in &people {
            let done = sqlx::query(
                "INSERT INTO rsvps (tenant_id, event_id, person_id, status, updated_at) \
                 VALUES ($1, $2, $3, 'invited', $4) ON CONFLICT DO NOTHING",
            )
            .bind(t.0)
            .bind(event)
            .bind(person)
            .bind(stamp)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                invited.push(*person);
            }
        }
        if invited.is_empty() {
            tx.commit().await?;
            return Ok((0, people.len() as u32));
        }
        // One audit record for the call; one event per person invited, so
        // that each invitation can be delivered on its own.
        tx.audit(&AuditEntry {
            tenant: t,
            actor: actor.to_string(),
            action: "event.invited".to_string(),
            target_kind: "event".to_string(),
            target_id: event.to_string(),
            at: Utc::now(),
            before: None,
            after: Some(json!({ "event_id": event, "invited": invited })),
        })
        .await?;
        for person in &invited {
            tx.emit(&EventEnvelope::new(
                t,
                "scheduling.rsvp.invited",
                json!({
                    "id": event,
                    "actor": actor,
                    "event_id": event,
                    "person_id": person,
                    "status": RsvpStatus::Invited.as_str(),
                }),
            ))
            .await?;
        }
        self.commit(tx).await?;
        let new = invited.len() as u32;
        Ok((new, people.len() as u32 - new))
    }

    async fn respond(
        &self,
        t: TenantId,
        actor: &str,
        event: Uuid,
        person: Uuid,
        answer: RsvpStatus,
        now: DateTime<Utc>,
    ) -> Result<RsvpOutcome> {
        if !matches!(
            answer,
            RsvpStatus::Accepted | RsvpStatus::Declined | RsvpStatus::Tentative
        ) {
            return Err(Error::invalid(
                "answer",
                "must be accepted, declined or tentative",
            ));
        }
        let mut tx = self.tx(t).await?;
        let ev = fetch_event(&mut tx, t, event, true).await?;
        require_published(&ev)?;
        if ev.starts_at <= now {
            return Err(Error::FailedPrecondition(
                "the event has already started".into(),
            ));
        }
        let before = fetch_rsvp(&mut tx, t, event, person).await?;
        let current = before.as_ref().map(|r| r.status);
        let unchanged = match answer {
            // Asking again keeps a seat, a place in the queue or a pending request.
            RsvpStatus::Accepted => matches!(
                current,
                Some(RsvpStatus::Accepted | RsvpStatus::Waitlisted | RsvpStatus::PendingApproval)
            ),
            other => current == Some(other),
        };
        if let (true, Some(rsvp)) = (unchanged, before.clone()) {
            tx.commit().await?;
            return Ok(RsvpOutcome {
                rsvp,
                promoted: vec![],
            });
        }
        let status = if answer == RsvpStatus::Accepted {
            let capacity = venue_capacity(&mut tx, t, ev.venue_id).await?;
            let accepted = accepted_count(&mut tx, t, event).await?;
            waitlist::on_accept(ev.seat_limit(capacity), accepted, ev.approval_required)
        } else {
            answer
        };
        let rsvp = put_rsvp(&mut tx, t, event, person, status, now).await?;
        record_rsvp(&mut tx, t, actor, "rsvp.changed", before.as_ref(), &rsvp).await?;
        let promoted = if current == Some(RsvpStatus::Accepted) && status != RsvpStatus::Accepted {
            promote(&mut tx, t, actor, &ev, now).await?
        } else {
            vec![]
        };
        self.commit(tx).await?;
        Ok(RsvpOutcome { rsvp, promoted })
    }

    async fn decide_registration(
        &self,
        t: TenantId,
        actor: &str,
        event: Uuid,
        person: Uuid,
        approve: bool,
    ) -> Result<RsvpOutcome> {
        let mut tx = self.tx(t).await?;
        let ev = fetch_event(&mut tx, t, event, true).await?;
        if ev.status == EventStatus::Cancelled {
            return Err(Error::FailedPrecondition("the event is cancelled".into()));
        }
        let before = fetch_rsvp(&mut tx, t, event, person)
            .await?
            .ok_or_else(|| Error::not_found("registration"))?;
        if before.status != RsvpStatus::PendingApproval {
            return Err(Error::FailedPrecondition(
                "the registration is not awaiting approval".into(),
            ));
        }
        let (status, action) = if approve {
            let capacity = venue_capacity(&mut tx, t, ev.venue_id).await?;
            let accepted = accepted_count(&mut tx, t, event).await?;
            (
                waitlist::on_accept(ev.seat_limit(capacity), accepted, false),
                "registration.approved",
            )
        } else {
            (RsvpStatus::Declined, "registration.declined")
        };
        let rsvp = put_rsvp(&mut tx, t, event, person, status, Utc::now()).await?;
        record_rsvp(&mut tx, t, actor, action, Some(&before), &rsvp).await?;
        self.commit(tx).await?;
        Ok(RsvpOutcome {
            rsvp,
            promoted: vec![],
        })
    }

    async fn get_rsvp(&self, t: TenantId, event: Uuid, person: Uuid) -> Result<Option<Rsvp>> {
        let mut tx = self.tx(t).await?;
        let rsvp = fetch_rsvp(&mut tx, t, event, person).await?;
        tx.commit().await?;
        Ok(rsvp)
    }

    /// The waiting list (`status` Waitlisted) comes in waiting order, paged
    /// by place; every other list in person-id order, paged by person id.
    /// The page token is the last person id either way.
    async fn list_rsvps(
        &self,
        t: TenantId,
        event: Uuid,
        status: Option<RsvpStatus>,
        page: Page,
    ) -> Result<Paged<Rsvp>> {
        let mut tx = self.tx(t).await?;
        fetch_event(&mut tx, t, event, false).await?;
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {RSVP_COLUMNS} FROM rsvps WHERE tenant_id = "
        ));
        q.push_bind(t.0).push(" AND event_id = ").push_bind(event);
        if status == Some(RsvpStatus::Waitlisted) {
            q.push(" AND waitlist_position IS NOT NULL");
            if let Some(after) = page.after {
                q.push(
                    " AND waitlist_position > (SELECT w.waitlist_position FROM rsvps w \
                     WHERE w.tenant_id = ",
                )
                .push_bind(t.0)
                .push(" AND w.event_id = ")
                .push_bind(event)
                .push(" AND w.person_id = ")
                .push_bind(after)
                .push(")");
            }
            q.push(" ORDER BY waitlist_position");
        } else {
            if let Some(s) = status {
                q.push(" AND status = ").push_bind(s.as_str());
            }
            q.push(" AND person_id > ").push_bind(page.after_or_nil());
            q.push(" ORDER BY person_id");
        }
        q.push(" LIMIT ").push_bind(page.fetch_limit());
        let rows: Vec<RsvpRow> = q.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(page.finish(rsvps_from(rows)?, |r| r.person_id))
    }

    async fn accepted_overlapping(
        &self,
        t: TenantId,
        person: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Event>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {} FROM rsvps r JOIN events e ON e.tenant_id = r.tenant_id AND e.id = r.event_id \
             WHERE r.tenant_id = $1 AND r.person_id = $2 AND r.status = 'accepted' \
             AND e.status <> 'cancelled' AND e.starts_at < $3 AND e.ends_at > $4 \
             ORDER BY e.starts_at, e.id",
            event_columns()
        ))
        .bind(t.0)
        .bind(person)
        .bind(to)
        .bind(from)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        events_from(rows)
    }

    // ---------------------------------------------------------------- attendance

    /// Marks are upserted (the last mark of a person wins); one audit record
    /// and one `scheduling.attendance.recorded` event per call.
    async fn record_attendance(
        &self,
        t: TenantId,
        actor: &str,
        event: Uuid,
        marks: &[(Uuid, AttendanceStatus)],
        method: &str,
    ) -> Result<Vec<Attendance>> {
        if !matches!(method, "owner" | "check_in") {
            return Err(Error::invalid("method", "must be owner or check_in"));
        }
        let mut tx = self.tx(t).await?;
        let ev = fetch_event(&mut tx, t, event, false).await?;
        require_published(&ev)?;
        let stamp = now();
        if stamp < ev.starts_at - Duration::minutes(ATTENDANCE_OPENS_MINUTES_BEFORE) {
            return Err(Error::FailedPrecondition(
                "attendance is recorded from an hour before the start".into(),
            ));
        }
        // One mark per person: the last one given, in the order first given.
        let mut order = Vec::new();
        let mut last: HashMap<Uuid, AttendanceStatus> = HashMap::new();
        for (person, status) in marks {
            if last.insert(*person, *status).is_none() {
                order.push(*person);
            }
        }
        if order.is_empty() {
            tx.commit().await?;
            return Ok(vec![]);
        }
        let mut written = Vec::with_capacity(order.len());
        for person in &order {
            let row: AttendanceRow = sqlx::query_as(&format!(
                "INSERT INTO attendance (tenant_id, {ATTENDANCE_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (tenant_id, event_id, person_id) DO UPDATE SET \
                 status = excluded.status, method = excluded.method, \
                 recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at \
                 RETURNING {ATTENDANCE_COLUMNS}"
            ))
            .bind(t.0)
            .bind(event)
            .bind(person)
            .bind(last[person].as_str())
            .bind(method)
            .bind(actor)
            .bind(stamp)
            .fetch_one(&mut *tx)
            .await?;
            written.push(Attendance::try_from(row)?);
        }
        let after = json!({ "event_id": event, "marks": written });
        record_with(
            &mut tx,
            t,
            actor,
            "attendance.recorded",
            event,
            None,
            Some(after),
            json!({ "event_id": event }),
        )
        .await?;
        self.commit(tx).await?;
        Ok(written)
    }

    /// By event (paged by person id) or by person (paged by event id); one
    /// of the two is required.
    async fn list_attendance(
        &self,
        t: TenantId,
        event: Option<Uuid>,
        person: Option<Uuid>,
        page: Page,
    ) -> Result<Paged<Attendance>> {
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {ATTENDANCE_COLUMNS} FROM attendance WHERE tenant_id = "
        ));
        q.push_bind(t.0);
        let by_event = match (event, person) {
            (Some(e), p) => {
                q.push(" AND event_id = ").push_bind(e);
                if let Some(p) = p {
                    q.push(" AND person_id = ").push_bind(p);
                }
                q.push(" AND person_id > ")
                    .push_bind(page.after_or_nil())
                    .push(" ORDER BY person_id");
                true
            }
            (None, Some(p)) => {
                q.push(" AND person_id = ")
                    .push_bind(p)
                    .push(" AND event_id > ")
                    .push_bind(page.after_or_nil())
                    .push(" ORDER BY event_id");
                false
            }
            (None, None) => {
                return Err(Error::invalid("event_id", "name an event or a person"));
            }
        };
        q.push(" LIMIT ").push_bind(page.fetch_limit());
        let mut tx = self.tx(t).await?;
        let rows: Vec<AttendanceRow> = q.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let marks = attendance_from(rows)?;
        Ok(page.finish(marks, |a| if by_event { a.person_id } else { a.event_id }))
    }

    /// Present marks on non-cancelled events of `kinds` (any kind when
    /// empty) in `academic_year`, by person, then start.
    async fn attended(
        &self,
        t: TenantId,
        people: &[Uuid],
        kinds: &[EventKind],
        academic_year: i32,
    ) -> Result<Vec<(Uuid, Event)>> {
        let mut people = people.to_vec();
        people.sort();
        people.dedup();
        let mut tx = self.tx(t).await?;
        let mut found = Vec::new();
        for chunk in people.chunks(IN_CHUNK) {
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT a.person_id, {} FROM attendance a JOIN events e \
                 ON e.tenant_id = a.tenant_id AND e.id = a.event_id \
                 WHERE a.tenant_id = ",
                event_columns()
            ));
            q.push_bind(t.0)
                .push(
                    " AND a.status = 'present' AND e.status <> 'cancelled' AND e.academic_year = ",
                )
                .push_bind(academic_year)
                .push(" AND a.person_id IN");
            push_ids(&mut q, chunk);
            if !kinds.is_empty() {
                q.push(" AND e.kind IN (");
                let mut sep = q.separated(", ");
                for k in kinds {
                    sep.push_bind(k.as_str());
                }
                q.push(")");
            }
            q.push(" ORDER BY a.person_id, e.starts_at, e.id");
            let rows: Vec<PersonEventRow> = q.build_query_as().fetch_all(&mut *tx).await?;
            for r in rows {
                found.push((r.person_id, Event::try_from(r.event)?));
            }
        }
        tx.commit().await?;
        Ok(found)
    }

    // ---------------------------------------------------------------- programme rules

    async fn rule_settings(&self, t: TenantId) -> Result<RuleSettings> {
        let mut tx = self.tx(t).await?;
        let row: Option<(i32, bool, bool, i32)> = sqlx::query_as(
            "SELECT min_network_meetings, require_trained_scorers, require_leader_sequence, \
             training_window_days FROM rule_settings WHERE tenant_id = $1",
        )
        .bind(t.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(
            row.map_or_else(RuleSettings::default, |(n, scorers, sequence, days)| {
                RuleSettings {
                    min_network_meetings: uint(n),
                    require_trained_scorers: scorers,
                    require_leader_sequence: sequence,
                    training_window_days: uint(days),
                }
            }),
        )
    }

    async fn set_rule_settings(
        &self,
        t: TenantId,
        actor: &str,
        rules: RuleSettings,
    ) -> Result<RuleSettings> {
        let before = self.rule_settings(t).await?;
        let mut tx = self.tx(t).await?;
        sqlx::query(
            "INSERT INTO rule_settings (tenant_id, min_network_meetings, require_trained_scorers, \
             require_leader_sequence, training_window_days, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id) DO UPDATE SET \
             min_network_meetings = excluded.min_network_meetings, \
             require_trained_scorers = excluded.require_trained_scorers, \
             require_leader_sequence = excluded.require_leader_sequence, \
             training_window_days = excluded.training_window_days, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(t.0)
        .bind(int(rules.min_network_meetings))
        .bind(rules.require_trained_scorers)
        .bind(rules.require_leader_sequence)
        .bind(int(rules.training_window_days))
        .bind(actor)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            t,
            actor,
            "rule_settings.changed",
            t.0,
            Some(&before),
            Some(&rules),
        )
        .await?;
        self.commit(tx).await?;
        Ok(rules)
    }

    // ---------------------------------------------------------------- materials

    async fn add_material(&self, t: TenantId, actor: &str, material: Material) -> Result<Material> {
        let id = if material.id.is_nil() {
            Uuid::now_v7()
        } else {
            material.id
        };
        let mut tx = self.tx(t).await?;
        fetch_event(&mut tx, t, material.event_id, false).await?;
        let row: MaterialRow = sqlx::query_as(&format!(
            "INSERT INTO materials (tenant_id, {MATERIAL_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {MATERIAL_COLUMNS}"
        ))
        .bind(t.0)
        .bind(id)
        .bind(material.event_id)
        .bind(material.title.trim())
        .bind(&material.url)
        .bind(&material.object_key)
        .bind(&material.file_name)
        .bind(&material.content_type)
        .bind(i64::try_from(material.size_bytes).unwrap_or(i64::MAX))
        .bind(actor)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on(e, "id: a material with this id exists"))?;
        let material = Material::from(row);
        record_with(
            &mut tx,
            t,
            actor,
            "material.added",
            id,
            None,
            Some(to_json(&material)),
            json!({ "event_id": material.event_id }),
        )
        .await?;
        self.commit(tx).await?;
        Ok(material)
    }

    async fn list_materials(&self, t: TenantId, event: Uuid) -> Result<Vec<Material>> {
        let mut tx = self.tx(t).await?;
        fetch_event(&mut tx, t, event, false).await?;
        let rows: Vec<MaterialRow> = sqlx::query_as(&format!(
            "SELECT {MATERIAL_COLUMNS} FROM materials WHERE tenant_id = $1 AND event_id = $2 \
             ORDER BY id"
        ))
        .bind(t.0)
        .bind(event)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(Material::from).collect())
    }

    async fn get_material(&self, t: TenantId, id: Uuid) -> Result<Material> {
        let mut tx = self.tx(t).await?;
        let row: Option<MaterialRow> = sqlx::query_as(&format!(
            "SELECT {MATERIAL_COLUMNS} FROM materials WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(t.0)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(Material::from)
            .ok_or_else(|| Error::not_found("material"))
    }

    // ---------------------------------------------------------------- expense claims

    async fn submit_claim(
        &self,
        t: TenantId,
        actor: &str,
        claim: ExpenseClaim,
    ) -> Result<ExpenseClaim> {
        let id = if claim.id.is_nil() {
            Uuid::now_v7()
        } else {
            claim.id
        };
        let mut tx = self.tx(t).await?;
        fetch_event(&mut tx, t, claim.event_id, false).await?;
        if attendance_of(&mut tx, t, claim.event_id, claim.person_id).await?
            != Some(AttendanceStatus::Present)
        {
            return Err(Error::FailedPrecondition(
                "a claim needs attendance recorded for this event".into(),
            ));
        }
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM expense_claims WHERE tenant_id = $1 AND event_id = $2 \
             AND person_id = $3 AND status = 'submitted'",
        )
        .bind(t.0)
        .bind(claim.event_id)
        .bind(claim.person_id)
        .fetch_one(&mut *tx)
        .await?;
        if open > 0 {
            return Err(Error::Conflict(OPEN_CLAIM.into()));
        }
        let row: ClaimRow = sqlx::query_as(&format!(
            "INSERT INTO expense_claims (tenant_id, {CLAIM_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'submitted', NULL, NULL, NULL, $9) \
             RETURNING {CLAIM_COLUMNS}"
        ))
        .bind(t.0)
        .bind(id)
        .bind(claim.event_id)
        .bind(claim.person_id)
        .bind(claim.travel_amount)
        .bind(claim.subsistence_amount)
        .bind(claim.currency.trim())
        .bind(claim.description.trim())
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on(e, OPEN_CLAIM))?;
        let claim = ExpenseClaim::try_from(row)?;
        record(&mut tx, t, actor, "claim.submitted", id, None, Some(&claim)).await?;
        self.commit(tx).await?;
        Ok(claim)
    }

    async fn decide_claim(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        approve: bool,
        reason: Option<String>,
    ) -> Result<ExpenseClaim> {
        let reason = reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        if !approve && reason.is_none() {
            return Err(Error::invalid("reason", "a rejection needs a reason"));
        }
        let mut tx = self.tx(t).await?;
        let before = fetch_claim(&mut tx, t, id, true).await?;
        if before.status != ClaimStatus::Submitted {
            return Err(Error::FailedPrecondition(
                "the claim has already been decided".into(),
            ));
        }
        let status = if approve {
            ClaimStatus::Approved
        } else {
            ClaimStatus::Rejected
        };
        let row: ClaimRow = sqlx::query_as(&format!(
            "UPDATE expense_claims SET status = $3, decided_by = $4, decided_at = $5, \
             decision_reason = $6 WHERE tenant_id = $1 AND id = $2 RETURNING {CLAIM_COLUMNS}"
        ))
        .bind(t.0)
        .bind(id)
        .bind(status.as_str())
        .bind(actor)
        .bind(now())
        .bind(&reason)
        .fetch_one(&mut *tx)
        .await?;
        let after = ExpenseClaim::try_from(row)?;
        record_with(
            &mut tx,
            t,
            actor,
            "claim.decided",
            id,
            Some(to_json(&before)),
            Some(to_json(&after)),
            json!({ "person_id": after.person_id, "status": status.as_str() }),
        )
        .await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn get_claim(&self, t: TenantId, id: Uuid) -> Result<ExpenseClaim> {
        let mut tx = self.tx(t).await?;
        let claim = fetch_claim(&mut tx, t, id, false).await?;
        tx.commit().await?;
        Ok(claim)
    }

    /// In id (submission) order; `decided_from`/`decided_to` bound
    /// `decided_at` as `[from, to)`.
    async fn list_claims(
        &self,
        t: TenantId,
        filter: &ClaimFilter,
        page: Page,
    ) -> Result<Paged<ExpenseClaim>> {
        let mut q = QueryBuilder::<Db>::new(format!(
            "SELECT {CLAIM_COLUMNS} FROM expense_claims WHERE tenant_id = "
        ));
        q.push_bind(t.0)
            .push(" AND id > ")
            .push_bind(page.after_or_nil());
        if let Some(event) = filter.event_id {
            q.push(" AND event_id = ").push_bind(event);
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(person) = filter.person_id {
            q.push(" AND person_id = ").push_bind(person);
        }
        if let Some(from) = filter.decided_from {
            q.push(" AND decided_at >= ").push_bind(from);
        }
        if let Some(to) = filter.decided_to {
            q.push(" AND decided_at < ").push_bind(to);
        }
        q.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
        let mut tx = self.tx(t).await?;
        let rows: Vec<ClaimRow> = q.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let claims = rows
            .into_iter()
            .map(ExpenseClaim::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(page.finish(claims, |c| c.id))
    }

    // ---------------------------------------------------------------- feedback

    async fn set_questionnaire(
        &self,
        t: TenantId,
        actor: &str,
        event: Uuid,
        questions: Vec<Question>,
    ) -> Result<Vec<Question>> {
        let questions: Vec<Question> = questions
            .into_iter()
            .map(|mut q| {
                if q.id.is_nil() {
                    q.id = Uuid::now_v7();
                }
                q.text = q.text.trim().to_string();
                q
            })
            .collect();
        let mut seen = HashSet::new();
        if !questions.iter().all(|q| seen.insert(q.id)) {
            return Err(Error::invalid(
                "questions",
                "a question appears more than once",
            ));
        }
        let mut tx = self.tx(t).await?;
        // Locked against feedback arriving for the old questions meanwhile.
        fetch_event(&mut tx, t, event, true).await?;
        let answered: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM feedback WHERE tenant_id = $1 AND event_id = $2",
        )
        .bind(t.0)
        .bind(event)
        .fetch_one(&mut *tx)
        .await?;
        if answered > 0 {
            return Err(Error::FailedPrecondition(
                "the questionnaire cannot change once answers exist".into(),
            ));
        }
        let before = fetch_questions(&mut tx, t, event).await?;
        sqlx::query("DELETE FROM questions WHERE tenant_id = $1 AND event_id = $2")
            .bind(t.0)
            .bind(event)
            .execute(&mut *tx)
            .await?;
        for (position, q) in questions.iter().enumerate() {
            sqlx::query(
                "INSERT INTO questions (tenant_id, event_id, id, position, text, kind) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(t.0)
            .bind(event)
            .bind(q.id)
            .bind(position as i32)
            .bind(&q.text)
            .bind(q.kind.as_str())
            .execute(&mut *tx)
            .await?;
        }
        let after = fetch_questions(&mut tx, t, event).await?;
        record(
            &mut tx,
            t,
            actor,
            "questionnaire.set",
            event,
            Some(&QuestionnaireRecord {
                event_id: event,
                questions: &before,
            }),
            Some(&QuestionnaireRecord {
                event_id: event,
                questions: &after,
            }),
        )
        .await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn questionnaire(&self, t: TenantId, event: Uuid) -> Result<Vec<Question>> {
        let mut tx = self.tx(t).await?;
        fetch_event(&mut tx, t, event, false).await?;
        let questions = fetch_questions(&mut tx, t, event).await?;
        tx.commit().await?;
        Ok(questions)
    }

    async fn submit_feedback(
        &self,
        t: TenantId,
        actor: &str,
        event: Uuid,
        person: Uuid,
        answers: Vec<Answer>,
    ) -> Result<()> {
        let mut tx = self.tx(t).await?;
        fetch_event(&mut tx, t, event, true).await?;
        if attendance_of(&mut tx, t, event, person).await? != Some(AttendanceStatus::Present) {
            return Err(Error::FailedPrecondition(
                "feedback is for people who attended the event".into(),
            ));
        }
        if fetch_questions(&mut tx, t, event).await?.is_empty() {
            return Err(Error::FailedPrecondition(
                "the event has no questionnaire".into(),
            ));
        }
        let given: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM feedback WHERE tenant_id = $1 AND event_id = $2 AND person_id = $3",
        )
        .bind(t.0)
        .bind(event)
        .bind(person)
        .fetch_one(&mut *tx)
        .await?;
        if given > 0 {
            return Err(Error::Conflict(FEEDBACK_GIVEN.into()));
        }
        sqlx::query(
            "INSERT INTO feedback (tenant_id, event_id, person_id, answers, submitted_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(t.0)
        .bind(event)
        .bind(person)
        .bind(Json(&answers))
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on(e, FEEDBACK_GIVEN))?;
        // The answers stay out of the event: the owner reads them aggregated.
        record_with(
            &mut tx,
            t,
            actor,
            "feedback.submitted",
            event,
            None,
            Some(json!({ "event_id": event, "person_id": person, "answers": answers.len() })),
            json!({ "event_id": event }),
        )
        .await?;
        self.commit(tx).await?;
        Ok(())
    }

    async fn feedback_answers(&self, t: TenantId, event: Uuid) -> Result<Vec<Vec<Answer>>> {
        let mut tx = self.tx(t).await?;
        fetch_event(&mut tx, t, event, false).await?;
        let rows: Vec<(Json<Vec<Answer>>,)> = sqlx::query_as(
            "SELECT answers FROM feedback WHERE tenant_id = $1 AND event_id = $2 \
             ORDER BY submitted_at",
        )
        .bind(t.0)
        .bind(event)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|(Json(a),)| a).collect())
    }

    // ---------------------------------------------------------------- calendar feeds

    async fn active_feed(&self, t: TenantId, person: Uuid) -> Result<Option<CalendarFeed>> {
        let mut tx = self.tx(t).await?;
        let row: Option<FeedRow> = sqlx::query_as(&format!(
            "SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE tenant_id = $1 AND person_id = $2 \
             AND revoked_at IS NULL"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(CalendarFeed::from))
    }

    /// Replaces the person's active feed, if any (it is revoked in the same
    /// transaction), so a person has at most one working feed URL.
    async fn create_feed(
        &self,
        t: TenantId,
        actor: &str,
        feed: CalendarFeed,
    ) -> Result<CalendarFeed> {
        let id = if feed.id.is_nil() {
            Uuid::now_v7()
        } else {
            feed.id
        };
        let stamp = now();
        let mut tx = self.tx(t).await?;
        revoke_active_feeds(&mut tx, t, actor, feed.person_id, stamp).await?;
        let row: FeedRow = sqlx::query_as(&format!(
            "INSERT INTO calendar_feeds (tenant_id, {FEED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, NULL) \
             RETURNING {FEED_COLUMNS}"
        ))
        .bind(t.0)
        .bind(id)
        .bind(feed.person_id)
        .bind(&feed.secret_hash)
        .bind(stamp)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on(e, ACTIVE_FEED))?;
        let feed = CalendarFeed::from(row);
        record_with(
            &mut tx,
            t,
            actor,
            "calendar_feed.created",
            id,
            None,
            Some(feed_json(&feed)),
            json!({ "person_id": feed.person_id }),
        )
        .await?;
        self.commit(tx).await?;
        Ok(feed)
    }

    async fn revoke_feeds(&self, t: TenantId, actor: &str, person: Uuid) -> Result<()> {
        let mut tx = self.tx(t).await?;
        revoke_active_feeds(&mut tx, t, actor, person, now()).await?;
        self.commit(tx).await
    }

    async fn get_feed(&self, t: TenantId, id: Uuid) -> Result<Option<CalendarFeed>> {
        let mut tx = self.tx(t).await?;
        let row: Option<FeedRow> = sqlx::query_as(&format!(
            "SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(t.0)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(CalendarFeed::from))
    }

    /// Events the person was invited to or answered (not declined), drafts
    /// left out and cancellations kept (a feed must show them), that end
    /// after `from`; in start order.
    async fn calendar_events(
        &self,
        t: TenantId,
        person: Uuid,
        from: DateTime<Utc>,
    ) -> Result<Vec<Event>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {} FROM rsvps r JOIN events e ON e.tenant_id = r.tenant_id AND e.id = r.event_id \
             WHERE r.tenant_id = $1 AND r.person_id = $2 AND r.status <> 'declined' \
             AND e.status <> 'draft' AND e.ends_at > $3 ORDER BY e.starts_at, e.id",
            event_columns()
        ))
        .bind(t.0)
        .bind(person)
        .bind(from)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        events_from(rows)
    }

    // ---------------------------------------------------------------- data-subject requests

    async fn export_person_data(&self, t: TenantId, person: Uuid) -> Result<Value> {
        let mut tx = self.tx(t).await?;
        let me = person.to_string();
        let events: Vec<(Uuid, String, String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT id, title, kind, starts_at, ends_at FROM events e WHERE e.tenant_id = $1 \
             AND (EXISTS (SELECT 1 FROM rsvps r WHERE r.tenant_id = e.tenant_id \
             AND r.event_id = e.id AND r.person_id = $2) \
             OR EXISTS (SELECT 1 FROM attendance a WHERE a.tenant_id = e.tenant_id \
             AND a.event_id = e.id AND a.person_id = $2)) ORDER BY starts_at, id",
        )
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let events: Vec<Value> = events
            .into_iter()
            .map(|(id, title, kind, starts_at, ends_at)| {
                json!({
                    "id": id,
                    "title": title,
                    "kind": kind,
                    "starts_at": starts_at,
                    "ends_at": ends_at,
                })
            })
            .collect();
        let rsvps: Vec<RsvpRow> = sqlx::query_as(&format!(
            "SELECT {RSVP_COLUMNS} FROM rsvps WHERE tenant_id = $1 AND person_id = $2 \
             ORDER BY event_id"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let rsvps = rsvps_from(rsvps)?;
        let attendance: Vec<AttendanceRow> = sqlx::query_as(&format!(
            "SELECT {ATTENDANCE_COLUMNS} FROM attendance WHERE tenant_id = $1 AND person_id = $2 \
             ORDER BY event_id"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let attendance = attendance_from(attendance)?;
        let claims: Vec<ClaimRow> = sqlx::query_as(&format!(
            "SELECT {CLAIM_COLUMNS} FROM expense_claims WHERE tenant_id = $1 AND person_id = $2 \
             ORDER BY id"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let claims = claims
            .into_iter()
            .map(ExpenseClaim::try_from)
            .collect::<Result<Vec<_>>>()?;
        let feedback: Vec<(Uuid, Json<Vec<Answer>>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT event_id, answers, submitted_at FROM feedback \
             WHERE tenant_id = $1 AND person_id = $2 ORDER BY event_id",
        )
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let feedback: Vec<Value> = feedback
            .into_iter()
            .map(|(event_id, Json(answers), submitted_at)| {
                json!({ "event_id": event_id, "answers": answers, "submitted_at": submitted_at })
            })
            .collect();
        let feeds: Vec<FeedRow> = sqlx::query_as(&format!(
            "SELECT {FEED_COLUMNS} FROM calendar_feeds WHERE tenant_id = $1 AND person_id = $2 \
             ORDER BY id"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        // Without the secret's hash.
        let feeds: Vec<Value> = feeds
            .into_iter()
            .map(|f| {
                json!({
                    "id": f.id,
                    "person_id": f.person_id,
                    "created_at": f.created_at,
                    "revoked_at": f.revoked_at,
                })
            })
            .collect();
        let materials: Vec<MaterialRow> = sqlx::query_as(&format!(
            "SELECT {MATERIAL_COLUMNS} FROM materials WHERE tenant_id = $1 AND added_by = $2 \
             ORDER BY id"
        ))
        .bind(t.0)
        .bind(&me)
        .fetch_all(&mut *tx)
        .await?;
        let materials: Vec<Material> = materials.into_iter().map(Material::from).collect();
        type AuditTuple = (
            Uuid,
            String,
            String,
            String,
            String,
            DateTime<Utc>,
            Option<Json<Value>>,
            Option<Json<Value>>,
        );
        let audit: Vec<AuditTuple> = sqlx::query_as(
            "SELECT id, actor, action, target_kind, target_id, at, before, after FROM audit_log \
             WHERE tenant_id = $1 AND (actor = $2 OR target_id = $2) ORDER BY id",
        )
        .bind(t.0)
        .bind(&me)
        .fetch_all(&mut *tx)
        .await?;
        let audit: Vec<Value> = audit
            .into_iter()
            .map(|(id, actor, action, target_kind, target_id, at, before, after)| {
                json!({
                    "id": id, "actor": actor, "action": action, "target_kind": target_kind,
                    "target_id": target_id, "at": at,
                    "before": before.map(|j| j.0), "after": after.map(|j| j.0),
                })
            })
            .collect();
        tx.commit().await?;
        Ok(json!({
            "service": "scheduling",
            "person_id": person,
            "exported_at": Utc::now(),
            "events": events,
            "rsvps": rsvps,
            "attendance": attendance,
            "expense_claims": claims,
            "feedback": feedback,
            "calendar_feeds": feeds,
            "materials_uploaded": materials,
            "audit_records": audit,
        }))
    }

    async fn erase_person_data(
        &self,
        t: TenantId,
        actor: &str,
        person: Uuid,
    ) -> Result<ErasureCounts> {
        let mut tx = self.tx(t).await?;
        let mut counts = ErasureCounts::new();
        let claims = sqlx::query(
            "UPDATE expense_claims SET description = '' \
             WHERE tenant_id = $1 AND person_id = $2 AND description <> ''",
        )
        .bind(t.0)
        .bind(person)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.insert("expense_claims_blanked".into(), claims);
        let feedback: Vec<(Uuid, Json<Vec<Answer>>)> = sqlx::query_as(
            "SELECT event_id, answers FROM feedback WHERE tenant_id = $1 AND person_id = $2 \
             ORDER BY event_id",
        )
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let mut blanked = 0;
        for (event, Json(mut answers)) in feedback {
            if answers.iter().all(|a| a.text.is_none()) {
                continue;
            }
            for a in &mut answers {
                a.text = None;
            }
            sqlx::query(
                "UPDATE feedback SET answers = $4 \
                 WHERE tenant_id = $1 AND event_id = $2 AND person_id = $3",
            )
            .bind(t.0)
            .bind(event)
            .bind(person)
            .bind(Json(&answers))
            .execute(&mut *tx)
            .await?;
            blanked += 1;
        }
        counts.insert("feedback_blanked".into(), blanked);
        let feeds =
            sqlx::query("DELETE FROM calendar_feeds WHERE tenant_id = $1 AND person_id = $2")
                .bind(t.0)
                .bind(person)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        counts.insert("calendar_feeds_deleted".into(), feeds);
        let scrubbed = scrub_claim_snapshots(&mut tx, t, person).await?;
        counts.insert("audit_snapshots_scrubbed".into(), scrubbed);
        if counts.values().any(|&n| n > 0) {
            // Ids and counts only: no personal data in the record of the erasure.
            let after = json!({ "id": person, "counts": &counts });
            record_with(&mut tx, t, actor, "person.erased", person, None, Some(after), json!({}))
                .await?;
            self.commit(tx).await?;
        } else {
            tx.commit().await?;
        }
        Ok(counts)
    }

    async fn apply_retention(
        &self,
        t: TenantId,
        actor: &str,
        cutoffs: &Cutoffs,
        dry_run: bool,
    ) -> Result<Vec<Count>> {
        let mut tx = self.tx(t).await?;
        let mut counts = Vec::new();
        for (category, kind, rows) in [
            (Category::EventFeedback, "feedback", EXPIRED_FEEDBACK),
            (Category::ExpenseClaims, "expense_claims", EXPIRED_CLAIMS),
        ] {
            let Some(before) = cutoffs.get(category) else {
                continue;
            };
            let n = tx.expire_rows(t, before, rows, dry_run).await?;
            counts.push(Count::new(category, kind, n));
        }
        counts.extend(tx.expire_common(t, cutoffs, dry_run).await?);
        if dry_run {
            tx.rollback().await?;
            return Ok(counts);
        }
        tx.record_retention(t, "scheduling", actor, cutoffs, &counts)
            .await?;
        self.commit(tx).await?;
        Ok(counts)
    }

    async fn relay_outbox(&self, bus: &dyn EventBus, batch: i64) -> Result<usize> {
        platform::events::relay::relay_once(&self.pool, bus, batch).await
    }
}

/// The keys of a claim's audit snapshot (`claim.submitted`, `claim.decided`:
/// an [`ExpenseClaim`]) that erasure blanks in the row: the claimant's own
/// text. Ids, amounts, currency, status, the decision and its reason (the
/// decider's words) and the dates stay.
const ERASED_CLAIM_KEYS: &[&str] = &["description"];

/// Removes the erased person's text from the audit snapshots of their
/// expense claims; returns the records changed (0 when done before). The
/// claims are found in the table and in the audit log itself (`person_id`
/// of a claim snapshot), so a claim whose row retention has deleted is
/// scrubbed too. The other rows erasure touches need nothing: feedback is
/// audited under the event with only a count of answers, and a calendar
/// feed's snapshots hold ids and dates (never the secret's hash).
async fn scrub_claim_snapshots(tx: &mut Tx, t: TenantId, person: Uuid) -> Result<u64> {
    let mut targets: Vec<String> = sqlx::query_scalar(
        "SELECT target_id FROM audit_log WHERE tenant_id = $1 AND target_kind = 'claim' \
         AND (after ->> 'person_id' = $2 OR before ->> 'person_id' = $2)",
    )
    .bind(t.0)
    .bind(person.to_string())
    .fetch_all(&mut **tx)
    .await?;
    let rows: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM expense_claims WHERE tenant_id = $1 AND person_id = $2")
            .bind(t.0)
            .bind(person)
            .fetch_all(&mut **tx)
            .await?;
    targets.extend(rows.iter().map(Uuid::to_string));
    targets.sort();
    targets.dedup();
    tx.scrub_audit(t, &targets, ERASED_CLAIM_KEYS).await
}

/// A feed for the audit log: the secret's hash is never copied there.
fn feed_json(feed: &CalendarFeed) -> Value {
    json!({
        "id": feed.id,
        "person_id": feed.person_id,
        "created_at": feed.created_at,
        "revoked_at": feed.revoked_at,
    })
}

async fn revoke_active_feeds(
    tx: &mut Tx,
    t: TenantId,
    actor: &str,
    person: Uuid,
    at: DateTime<Utc>,
) -> Result<()> {
    let rows: Vec<FeedRow> = sqlx::query_as(&format!(
        "UPDATE calendar_feeds SET revoked_at = $3 WHERE tenant_id = $1 AND person_id = $2 \
         AND revoked_at IS NULL RETURNING {FEED_COLUMNS}"
    ))
    .bind(t.0)
    .bind(person)
    .bind(at)
    .fetch_all(&mut **tx)
    .await?;
    for row in rows {
        let after = CalendarFeed::from(row);
        let before = CalendarFeed {
            revoked_at: None,
            ..after.clone()
        };
        record_with(
            tx,
            t,
            actor,
            "calendar_feed.revoked",
            after.id,
            Some(feed_json(&before)),
            Some(feed_json(&after)),
            json!({ "person_id": person }),
        )
        .await?;
    }
    Ok(())
}
