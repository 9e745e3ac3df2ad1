//! Scheduling's output types: thin wrappers over the protobuf messages that
//! expose them in the schema's spelling (camelCase, `ID`s, enums, typed
//! times, null for protobuf's blanks) and resolve their relations through
//! the request's DataLoaders: events and venues through scheduling's,
//! people and clusters through membership's.
//!
//! Relations are nullable on purpose: a service answers a batch lookup only
//! with what the caller's tenant holds and the caller may see, and a
//! dangling or hidden reference should blank one field, not fail the page.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use collegium_proto::scheduling::v1 as pb;

use super::{
    enums::{
        AttendanceStatus, ClaimStatus, ComplianceState, EventKind, EventStatus, QuestionKind,
        RsvpStatus,
    },
    scheduling,
};
use crate::schema::{
    PublicUrl,
    convert::{instant, non_empty, optional_date, optional_instant},
    membership::{Cluster, Person, membership},
};

/// A room, hall or centre events are held at.
pub struct Venue(pub pb::Venue);

#[Object]
impl Venue {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn address(&self) -> &str {
        &self.0.address
    }

    /// Seats; null for no limit.
    async fn capacity(&self) -> Option<u32> {
        (self.0.capacity > 0).then_some(self.0.capacity)
    }

    /// Minutes kept free before and after each booking.
    async fn buffer_minutes(&self) -> u32 {
        self.0.buffer_minutes
    }
}

/// A training, meeting, viewing or scoring session, or one occurrence of a
/// recurring series of them.
pub struct Event(pub pb::Event);

#[Object]
impl Event {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn kind(&self) -> Result<EventKind> {
        EventKind::from_service(self.0.kind)
    }

    /// The owning cluster; null for an event of the whole tenant.
    async fn cluster_id(&self) -> Option<ID> {
        self.0.cluster_id.clone().map(ID)
    }

    async fn cluster(&self, ctx: &Context<'_>) -> Result<Option<Cluster>> {
        membership(ctx)?.cluster(self.0.cluster_id.as_deref()).await
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn agenda(&self) -> &str {
        &self.0.agenda
    }

    async fn starts_at(&self) -> Result<DateTime<Utc>> {
        instant("event.starts_at", &self.0.starts_at)
    }

    async fn ends_at(&self) -> Result<DateTime<Utc>> {
        instant("event.ends_at", &self.0.ends_at)
    }

    /// IANA zone the event is held in; local times are in this zone.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    async fn venue_id(&self) -> Option<ID> {
        self.0.venue_id.clone().map(ID)
    }

    async fn venue(&self, ctx: &Context<'_>) -> Result<Option<Venue>> {
        scheduling(ctx)?.venue(self.0.venue_id.as_deref()).await
    }

    async fn online_url(&self) -> Option<String> {
        non_empty(&self.0.online_url)
    }

    /// Seats; null for no limit beyond the venue's.
    async fn capacity(&self) -> Option<u32> {
        (self.0.capacity > 0).then_some(self.0.capacity)
    }

    async fn status(&self) -> Result<EventStatus> {
        EventStatus::from_service(self.0.status)
    }

    /// The academic year the event falls in, named by its first calendar
    /// year (2026 for 2026/27), by the tenant's academic-year start.
    async fn academic_year(&self) -> i32 {
        self.0.academic_year
    }

    /// Registrations wait for the owner's approval.
    async fn approval_required(&self) -> bool {
        self.0.approval_required
    }

    /// Scoring trainings: 3 or 6; null for other events.
    async fn training_hours(&self) -> Option<u32> {
        (self.0.training_hours > 0).then_some(self.0.training_hours)
    }

    /// A scoring training names the scoring session it prepares for.
    async fn prepares_for_event_id(&self) -> Option<ID> {
        self.0.prepares_for_event_id.clone().map(ID)
    }

    async fn prepares_for(&self, ctx: &Context<'_>) -> Result<Option<Event>> {
        scheduling(ctx)?
            .event(self.0.prepares_for_event_id.as_deref())
            .await
    }

    /// The series this event is an occurrence of.
    async fn series_id(&self) -> Option<ID> {
        self.0.series_id.clone().map(ID)
    }

    /// This occurrence's original start, as the series named it (RFC 5545
    /// RECURRENCE-ID); stays the same when the occurrence is moved.
    async fn recurrence_id(&self) -> Option<String> {
        self.0.recurrence_id.clone().filter(|r| !r.is_empty())
    }

    /// The series rule (RFC 5545 RRULE), on every occurrence of a series.
    async fn rrule(&self) -> Option<String> {
        non_empty(&self.0.rrule)
    }

    /// Grows with every change calendar clients must pick up.
    async fn sequence(&self) -> u32 {
        self.0.sequence
    }

    async fn accepted_count(&self) -> u32 {
        self.0.accepted_count
    }

    async fn waitlist_count(&self) -> u32 {
        self.0.waitlist_count
    }

    /// The self check-in code; shown to the event's owners only.
    async fn check_in_code(&self) -> Option<String> {
        non_empty(&self.0.check_in_code)
    }
}

/// A person's answer to an invitation, or their place on the waiting list.
pub struct Rsvp(pub pb::Rsvp);

#[Object]
impl Rsvp {
    async fn event_id(&self) -> ID {
        ID(self.0.event_id.clone())
    }

    async fn event(&self, ctx: &Context<'_>) -> Result<Option<Event>> {
        scheduling(ctx)?.event(Some(&self.0.event_id)).await
    }

    async fn person_id(&self) -> ID {
        ID(self.0.person_id.clone())
    }

    async fn person(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.person_id)).await
    }

    async fn status(&self) -> Result<RsvpStatus> {
        RsvpStatus::from_service(self.0.status)
    }

    /// Place on the waiting list, from 1; null when not waitlisted.
    async fn waitlist_position(&self) -> Option<u32> {
        (self.0.waitlist_position > 0).then_some(self.0.waitlist_position)
    }

    async fn updated_at(&self) -> Result<DateTime<Utc>> {
        instant("rsvp.updated_at", &self.0.updated_at)
    }

    /// Events the person accepted that overlap this one: a warning, not a
    /// refusal.
    async fn clashes_with_ids(&self) -> Vec<ID> {
        self.0.clashes_with.iter().cloned().map(ID).collect()
    }

    async fn clashes_with(&self, ctx: &Context<'_>) -> Result<Vec<Event>> {
        scheduling(ctx)?.events(&self.0.clashes_with).await
    }
}

/// The result of sending invitations.
#[derive(SimpleObject)]
pub struct InviteResult {
    /// People newly invited.
    pub invited: u32,
    /// People of the audiences who had been invited before.
    pub already_invited: u32,
}

/// Whether one person was at one event, and how that was recorded.
pub struct Attendance(pub pb::Attendance);

#[Object]
impl Attendance {
    async fn event_id(&self) -> ID {
        ID(self.0.event_id.clone())
    }

    async fn event(&self, ctx: &Context<'_>) -> Result<Option<Event>> {
        scheduling(ctx)?.event(Some(&self.0.event_id)).await
    }

    async fn person_id(&self) -> ID {
        ID(self.0.person_id.clone())
    }

    async fn person(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.person_id)).await
    }

    async fn status(&self) -> Result<AttendanceStatus> {
        AttendanceStatus::from_service(self.0.status)
    }

    /// `owner` (recorded by the event's owner) or `check_in` (self check-in
    /// with the event's code).
    async fn method(&self) -> &str {
        &self.0.method
    }

    /// Person id of whoever recorded it.
    async fn recorded_by(&self) -> &str {
        &self.0.recorded_by
    }

    async fn recorded_at(&self) -> Result<DateTime<Utc>> {
        instant("attendance.recorded_at", &self.0.recorded_at)
    }
}

/// Whether a person attended a scoring training in an academic year: the
/// evidence that they may score that year.
pub struct TrainingStatus(pub pb::TrainingStatus);

#[Object]
impl TrainingStatus {
    async fn trained(&self) -> bool {
        self.0.trained
    }

    /// The scoring training attended, when trained.
    async fn event_id(&self) -> Option<ID> {
        self.0.event_id.clone().map(ID)
    }

    async fn event(&self, ctx: &Context<'_>) -> Result<Option<Event>> {
        scheduling(ctx)?.event(self.0.event_id.as_deref()).await
    }

    async fn attended_on(&self) -> Result<Option<NaiveDate>> {
        optional_date("training_status.attended_on", Some(&self.0.attended_on))
    }

    async fn training_hours(&self) -> Option<u32> {
        (self.0.training_hours > 0).then_some(self.0.training_hours)
    }
}

/// The tenant's programme rules.
#[derive(SimpleObject)]
pub struct RuleSettings {
    /// Network meetings each cluster holds per academic year (0: no rule).
    pub min_network_meetings: u32,
    /// Scorers must have attended a scoring training in the year.
    pub require_trained_scorers: bool,
    /// A leader's local scoring training comes after their regional
    /// training and their recording viewing.
    pub require_leader_sequence: bool,
    /// A scoring training is held at most this many days before the
    /// scoring session it prepares for (0: no rule).
    pub training_window_days: u32,
}

impl From<pb::RuleSettings> for RuleSettings {
    fn from(r: pb::RuleSettings) -> Self {
        Self {
            min_network_meetings: r.min_network_meetings,
            require_trained_scorers: r.require_trained_scorers,
            require_leader_sequence: r.require_leader_sequence,
            training_window_days: r.training_window_days,
        }
    }
}

/// How one cluster stands against the programme rules in one academic year.
pub struct ComplianceReport(pub pb::ComplianceReport);

#[Object]
impl ComplianceReport {
    async fn cluster_id(&self) -> ID {
        ID(self.0.cluster_id.clone())
    }

    async fn cluster(&self, ctx: &Context<'_>) -> Result<Option<Cluster>> {
        membership(ctx)?.cluster(Some(&self.0.cluster_id)).await
    }

    async fn academic_year(&self) -> i32 {
        self.0.academic_year
    }

    async fn items(&self) -> Vec<ComplianceItem> {
        self.0.items.iter().cloned().map(ComplianceItem).collect()
    }
}

/// One rule: met, at risk or not, and why.
pub struct ComplianceItem(pub pb::ComplianceItem);

#[Object]
impl ComplianceItem {
    /// `network_meetings`, `trained_scorers`, `leader_sequence` or
    /// `training_window`.
    async fn rule(&self) -> &str {
        &self.0.rule
    }

    async fn state(&self) -> Result<ComplianceState> {
        ComplianceState::from_service(self.0.state)
    }

    /// Why, in words a cluster leader understands.
    async fn explanation(&self) -> &str {
        &self.0.explanation
    }

    /// Ids of the people or events concerned.
    async fn subjects(&self) -> Vec<ID> {
        self.0.subjects.iter().cloned().map(ID).collect()
    }
}

/// A link or a stored file attached to an event.
pub struct Material(pub pb::Material);

#[Object]
impl Material {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn event_id(&self) -> ID {
        ID(self.0.event_id.clone())
    }

    async fn event(&self, ctx: &Context<'_>) -> Result<Option<Event>> {
        scheduling(ctx)?.event(Some(&self.0.event_id)).await
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    /// The link, for a link.
    async fn url(&self) -> Option<String> {
        non_empty(&self.0.url)
    }

    /// For a stored file.
    async fn file_name(&self) -> Option<String> {
        non_empty(&self.0.file_name)
    }

    async fn content_type(&self) -> Option<String> {
        non_empty(&self.0.content_type)
    }

    async fn size_bytes(&self) -> u64 {
        self.0.size_bytes
    }

    /// Person id of whoever added it.
    async fn added_by(&self) -> &str {
        &self.0.added_by
    }

    async fn added_at(&self) -> Result<DateTime<Utc>> {
        instant("material.added_at", &self.0.added_at)
    }
}

/// Travel and subsistence claimed for attending an event.
pub struct ExpenseClaim(pub pb::ExpenseClaim);

#[Object]
impl ExpenseClaim {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn event_id(&self) -> ID {
        ID(self.0.event_id.clone())
    }

    async fn event(&self, ctx: &Context<'_>) -> Result<Option<Event>> {
        scheduling(ctx)?.event(Some(&self.0.event_id)).await
    }

    async fn person_id(&self) -> ID {
        ID(self.0.person_id.clone())
    }

    async fn person(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        membership(ctx)?.person(Some(&self.0.person_id)).await
    }

    /// Minor units (cents, pence).
    async fn travel_amount(&self) -> i64 {
        self.0.travel_amount
    }

    /// Minor units (cents, pence).
    async fn subsistence_amount(&self) -> i64 {
        self.0.subsistence_amount
    }

    /// ISO 4217, e.g. `GBP`.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    async fn status(&self) -> Result<ClaimStatus> {
        ClaimStatus::from_service(self.0.status)
    }

    /// Who approved or rejected it.
    async fn decided_by(&self) -> Option<String> {
        non_empty(&self.0.decided_by)
    }

    async fn decided_at(&self) -> Result<Option<DateTime<Utc>>> {
        optional_instant("expense_claim.decided_at", Some(&self.0.decided_at))
    }

    /// Why it was rejected (or a remark on approval).
    async fn decision_reason(&self) -> Option<String> {
        non_empty(&self.0.decision_reason)
    }

    async fn submitted_at(&self) -> Result<DateTime<Utc>> {
        instant("expense_claim.submitted_at", &self.0.submitted_at)
    }
}

/// A CSV document to save.
#[derive(SimpleObject)]
pub struct CsvExport {
    /// Suggested file name.
    pub file_name: String,
    pub csv: String,
    /// Data rows (without the header).
    pub rows: u32,
}

impl From<pb::CsvExport> for CsvExport {
    fn from(c: pb::CsvExport) -> Self {
        Self {
            file_name: c.file_name,
            csv: c.csv,
            rows: c.rows,
        }
    }
}

/// The owner's short questionnaire for an event's attendees.
pub struct Questionnaire(pub pb::Questionnaire);

#[Object]
impl Questionnaire {
    async fn event_id(&self) -> ID {
        ID(self.0.event_id.clone())
    }

    async fn questions(&self) -> Vec<Question> {
        self.0.questions.iter().cloned().map(Question).collect()
    }
}

pub struct Question(pub pb::Question);

#[Object]
impl Question {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn text(&self) -> &str {
        &self.0.text
    }

    async fn kind(&self) -> Result<QuestionKind> {
        QuestionKind::from_service(self.0.kind)
    }
}

/// Attendees' answers, aggregated and without names.
pub struct FeedbackSummary(pub pb::FeedbackSummary);

#[Object]
impl FeedbackSummary {
    async fn event_id(&self) -> ID {
        ID(self.0.event_id.clone())
    }

    /// People who answered at all.
    async fn respondents(&self) -> u32 {
        self.0.respondents
    }

    async fn questions(&self) -> Vec<QuestionSummary> {
        self.0
            .questions
            .iter()
            .cloned()
            .map(QuestionSummary)
            .collect()
    }
}

/// The answers to one question.
pub struct QuestionSummary(pub pb::QuestionSummary);

impl QuestionSummary {
    fn is_rating(&self) -> bool {
        self.0
            .question
            .as_ref()
            .is_some_and(|q| q.kind == pb::QuestionKind::Rating as i32)
    }
}

#[Object]
impl QuestionSummary {
    async fn question(&self) -> Option<Question> {
        self.0.question.clone().map(Question)
    }

    async fn responses(&self) -> u32 {
        self.0.responses
    }

    /// Rating questions with answers: the mean, 1–5.
    async fn mean_rating(&self) -> Option<f64> {
        (self.is_rating() && self.0.responses > 0).then_some(self.0.mean_rating)
    }

    /// Rating questions: how many answered 1, 2, 3, 4 and 5.
    async fn rating_counts(&self) -> &[u32] {
        &self.0.rating_counts
    }

    /// Text questions: the answers.
    async fn texts(&self) -> &[String] {
        &self.0.texts
    }
}

/// The caller's personal calendar feed: a secret URL any calendar app can
/// subscribe to. Scheduling keeps only a hash of the secret, so the token
/// and URL are shown once, in the answer that creates the feed; afterwards
/// they are null while `active` says the feed still works. To see a URL
/// again (or to stop a leaked one), revoke the feed and ask for it anew.
pub struct CalendarFeed(pub pb::CalendarFeed);

/// Where a feed token is served; the route is in the gateway's `http`
/// module (`GET /calendar/{token}.ics`).
pub(crate) fn feed_url(public_url: &str, token: &str) -> String {
    format!("{}/calendar/{token}.ics", public_url.trim_end_matches('/'))
}

#[Object]
impl CalendarFeed {
    /// The secret; only in the answer that creates the feed.
    async fn token(&self) -> Option<String> {
        non_empty(&self.0.token)
    }

    /// The URL to subscribe to; only in the answer that creates the feed.
    /// Whoever has it sees the caller's events.
    async fn url(&self, ctx: &Context<'_>) -> Option<String> {
        let public = ctx.data_opt::<PublicUrl>()?;
        non_empty(&self.0.token).map(|token| feed_url(&public.0, &token))
    }

    /// Whether the caller has a feed that works (false once revoked).
    async fn active(&self) -> bool {
        self.0.active
    }

    async fn created_at(&self) -> Result<Option<DateTime<Utc>>> {
        optional_instant("calendar_feed.created_at", Some(&self.0.created_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_urls_sit_under_the_public_url() {
        assert_eq!(
            feed_url("https://collegium.example.org/", "t.f.s"),
            "https://collegium.example.org/calendar/t.f.s.ics"
        );
        assert_eq!(
            feed_url("http://127.0.0.1:8080", "a.b.c"),
            "http://127.0.0.1:8080/calendar/a.b.c.ics"
        );
    }
}
