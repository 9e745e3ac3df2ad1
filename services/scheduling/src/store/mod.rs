//! Persistence of scheduling. [`SchedulingStore`] is the one interface, with a
//! PostgreSQL and a SQLite implementation generated from one SQL body
//! (`sql.rs`, as in membership). The contract suite in
//! `tests/store_contract.rs` runs against both.
//!
//! Every method takes the tenant first and runs in one tenant transaction;
//! every mutation writes its audit record and outbox event in it. Decisions
//! that depend on current counts (seats, waiting lists, venue bookings) are
//! taken inside the transaction with the event (or venue) row locked on
//! PostgreSQL, so concurrent RSVPs can never overbook.

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::{
    auth::TenantId,
    error::Result,
    events::EventBus,
    page::Page,
    retention::{Count, Cutoffs},
};
use uuid::Uuid;

use crate::domain::*;

/// What an erasure changed, per kind of record (`expense_claims_blanked`, …).
pub type ErasureCounts = std::collections::BTreeMap<String, u64>;

/// A page of results and the token of the next page ("" when done).
pub type Paged<T> = (Vec<T>, String);

/// The outcome of an RSVP or a registration decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsvpOutcome {
    pub rsvp: Rsvp,
    /// People moved from the waiting list to a seat by this change, in order.
    pub promoted: Vec<Uuid>,
}

#[async_trait]
pub trait SchedulingStore: Send + Sync + 'static {
    // ---- venues
    async fn create_venue(&self, t: TenantId, actor: &str, venue: Venue) -> Result<Venue>;
    async fn update_venue(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        patch: VenuePatch,
    ) -> Result<Venue>;
    async fn get_venues(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Venue>>;
    async fn list_venues(&self, t: TenantId, page: Page) -> Result<Paged<Venue>>;

    // ---- events
    /// Inserts one event or every occurrence of a new series, atomically.
    /// Refuses (CONFLICT naming `venue_id`) when the venue is booked, with
    /// its buffer, by another non-cancelled event that overlaps.
    async fn create_events(
        &self,
        t: TenantId,
        actor: &str,
        events: Vec<Event>,
    ) -> Result<Vec<Event>>;
    /// Replaces events with the given new versions (same ids), atomically:
    /// checks venue bookings, refuses a capacity below the accepted count
    /// (FAILED_PRECONDITION naming capacity), bumps `sequence`, and promotes
    /// from the waiting list where capacity grew. `action` names the change
    /// for audit and outbox (`event.changed`, `event.published`, `event.cancelled`);
    /// `reason` (e.g. why a meeting was cancelled) goes with them, so the
    /// people told about the change are told why.
    async fn update_events(
        &self,
        t: TenantId,
        actor: &str,
        action: &str,
        reason: Option<&str>,
        events: Vec<Event>,
    ) -> Result<Vec<Event>>;
    async fn get_events(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Event>>;
    /// Every occurrence of a series, in start order.
    async fn series(&self, t: TenantId, series_id: Uuid) -> Result<Vec<Event>>;
    /// Every occurrence of each of the series, in one read: by series id,
    /// then (within a series) in start order as [`Self::series`] gives them.
    async fn series_occurrences(&self, t: TenantId, series_ids: &[Uuid]) -> Result<Vec<Event>>;
    async fn list_events(
        &self,
        t: TenantId,
        filter: &EventFilter,
        page: Page,
    ) -> Result<Paged<Event>>;
    async fn seat_counts(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<(Uuid, SeatCounts)>>;

    // ---- invitations and RSVPs
    /// Invites people (idempotent). Returns (newly invited, already invited).
    async fn invite(
        &self,
        t: TenantId,
        actor: &str,
        event: Uuid,
        people: &[Uuid],
    ) -> Result<(u32, u32)>;
    /// A person's answer: Accepted (a seat, the waiting list, or pending
    /// approval), Declined (frees a seat and promotes) or Tentative.
    /// Refuses answers to cancelled or past events (FAILED_PRECONDITION).
    async fn respond(
        &self,
        t: TenantId,
        actor: &str,
        event: Uuid,
        person: Uuid,
        answer: RsvpStatus,
        now: DateTime<Utc>,
    ) -> Result<RsvpOutcome>;
    /// The owner approves (seat or waiting list) or declines a pending registration.
    async fn decide_registration(
        &self,
        t: TenantId,
        actor: &str,
        event: Uuid,
        person: Uuid,
        approve: bool,
    ) -> Result<RsvpOutcome>;
    async fn get_rsvp(&self, t: TenantId, event: Uuid, person: Uuid) -> Result<Option<Rsvp>>;
    /// RSVPs of an event; waiting lists come in waiting order.
    async fn list_rsvps(
        &self,
        t: TenantId,
        event: Uuid,
        status: Option<RsvpStatus>,
        page: Page,
    ) -> Result<Paged<Rsvp>>;
    /// Non-cancelled events the person accepted that overlap `[from, to)`.
    async fn accepted_overlapping(
        &self,
        t: TenantId,
        person: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Event>>;

    // ---- attendance
    async fn record_attendance(
        &self,
        t: TenantId,
        actor: &str,
        event: Uuid,
        marks: &[(Uuid, AttendanceStatus)],
        method: &str,
    ) -> Result<Vec<Attendance>>;
    async fn list_attendance(
        &self,
        t: TenantId,
        event: Option<Uuid>,
        person: Option<Uuid>,
        page: Page,
    ) -> Result<Paged<Attendance>>;
    /// Events of `kinds` in `academic_year` that each person attended (present).
    async fn attended(
        &self,
        t: TenantId,
        people: &[Uuid],
        kinds: &[EventKind],
        academic_year: i32,
    ) -> Result<Vec<(Uuid, Event)>>;

    // ---- programme rules
    async fn rule_settings(&self, t: TenantId) -> Result<RuleSettings>;
    async fn set_rule_settings(
        &self,
        t: TenantId,
        actor: &str,
        rules: RuleSettings,
    ) -> Result<RuleSettings>;

    // ---- materials
    async fn add_material(&self, t: TenantId, actor: &str, material: Material) -> Result<Material>;
    async fn list_materials(&self, t: TenantId, event: Uuid) -> Result<Vec<Material>>;
    async fn get_material(&self, t: TenantId, id: Uuid) -> Result<Material>;

    // ---- expense claims
    /// Refuses a claim by someone not recorded present (FAILED_PRECONDITION).
    async fn submit_claim(
        &self,
        t: TenantId,
        actor: &str,
        claim: ExpenseClaim,
    ) -> Result<ExpenseClaim>;
    async fn decide_claim(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        approve: bool,
        reason: Option<String>,
    ) -> Result<ExpenseClaim>;
    async fn get_claim(&self, t: TenantId, id: Uuid) -> Result<ExpenseClaim>;
    async fn list_claims(
        &self,
        t: TenantId,
        filter: &ClaimFilter,
        page: Page,
    ) -> Result<Paged<ExpenseClaim>>;

    // ---- feedback
    /// Replaces the questionnaire; refused once answers exist (FAILED_PRECONDITION).
    async fn set_questionnaire(
        &self,
        t: TenantId,
        actor: &str,
        event: Uuid,
        questions: Vec<Question>,
    ) -> Result<Vec<Question>>;
    async fn questionnaire(&self, t: TenantId, event: Uuid) -> Result<Vec<Question>>;
    /// One submission per person (CONFLICT on a second); attendees only.
    async fn submit_feedback(
        &self,
        t: TenantId,
        actor: &str,
        event: Uuid,
        person: Uuid,
        answers: Vec<Answer>,
    ) -> Result<()>;
    /// Every answer of an event, without who gave it.
    async fn feedback_answers(&self, t: TenantId, event: Uuid) -> Result<Vec<Vec<Answer>>>;

    // ---- calendar feeds
    /// The person's active feed, if any.
    async fn active_feed(&self, t: TenantId, person: Uuid) -> Result<Option<CalendarFeed>>;
    async fn create_feed(
        &self,
        t: TenantId,
        actor: &str,
        feed: CalendarFeed,
    ) -> Result<CalendarFeed>;
    async fn revoke_feeds(&self, t: TenantId, actor: &str, person: Uuid) -> Result<()>;
    async fn get_feed(&self, t: TenantId, id: Uuid) -> Result<Option<CalendarFeed>>;
    /// Events for a person's calendar: invited or answered (not declined), not drafts.
    async fn calendar_events(
        &self,
        t: TenantId,
        person: Uuid,
        from: DateTime<Utc>,
    ) -> Result<Vec<Event>>;

    /// Everything scheduling holds about one person, as one JSON document
    /// (stable field names, instants in RFC 3339): their RSVPs and
    /// attendance (with the events'  titles and times), expense claims with
    /// their free text, the feedback they gave, their calendar feeds
    /// (without the secret's hash), the materials they uploaded (metadata
    /// only) and the audit records whose actor or target they are. The
    /// person is identified only by id here (membership owns people), so an
    /// id unknown in the tenant, or another tenant's, gives empty lists.
    async fn export_person_data(&self, t: TenantId, person: Uuid) -> Result<serde_json::Value>;
    /// Erases a person's data in one transaction. Attendance and RSVPs are
    /// kept (others rely on them: compliance, seat counts; the person id is a
    /// pseudonymous uuid whose membership row is anonymised); the free text
    /// they wrote is blanked (expense claim descriptions, text answers of
    /// their feedback; ratings are kept), and their calendar feeds are
    /// deleted (the secret's hash goes with them). Writes a `person.erased`
    /// audit record (target the person; only counts) and its event when
    /// anything changed, so erasing again reports zeros and writes nothing.
    /// The same text goes from the audit log (`TenantTxExt::scrub_audit`):
    /// the `description` key is removed from the `before`/`after` snapshots
    /// of the audit records of the person's expense claims (target the
    /// claim id; found in `expense_claims` and, for claims retention has
    /// deleted, by the snapshot's `person_id`), counted as
    /// `audit_snapshots_scrubbed`; the records and their other keys (ids,
    /// amounts, status, decision) stay. Feedback and calendar feed
    /// snapshots hold no free text (an answer count; ids and dates), so
    /// they are left as written. Published event payloads are not changed.
    async fn erase_person_data(
        &self,
        t: TenantId,
        actor: &str,
        person: Uuid,
    ) -> Result<ErasureCounts>;

    /// Applies a tenant's retention cutoffs in one transaction (see
    /// `platform::retention`): `event_feedback` deletes the feedback given on
    /// events that ended before its cutoff (kind `feedback`);
    /// `expense_claims` deletes claims approved or rejected before its cutoff
    /// (kind `expense_claims`; claims awaiting a decision are never expired);
    /// then `audit_log` and `published_events` as every service does
    /// (`TenantTxExt::expire_common`). A category without a cutoff is left
    /// alone and not reported; one with a cutoff is reported per kind, with
    /// 0 when nothing is past it. A dry run counts what a real run would
    /// change and changes nothing (no audit record either). A real run then
    /// writes one `retention.applied` audit record (target the tenant;
    /// `after` the cutoffs and counts) and its event
    /// `scheduling.retention.applied`. Running it again deletes nothing more.
    async fn apply_retention(
        &self,
        t: TenantId,
        actor: &str,
        cutoffs: &Cutoffs,
        dry_run: bool,
    ) -> Result<Vec<Count>>;

    /// Publishes pending outbox events (one batch); see platform::events::relay.
    async fn relay_outbox(&self, bus: &dyn EventBus, batch: i64) -> Result<usize>;
}
