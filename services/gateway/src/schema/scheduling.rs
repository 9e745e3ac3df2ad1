//! The scheduling service's part of the schema: venues, events and their
//! series, invitations and RSVPs with waiting lists, attendance and
//! training status, programme rules and compliance, meeting materials,
//! expense claims, feedback, and calendar feeds.
//!
//! Every resolver calls scheduling with the caller's own bearer token (the
//! [`ForwardCaller`] interceptor); the tenant is never an argument, it is in
//! the token, and the service verifies it again. Lists are Relay
//! connections over the service's page tokens ([`paging`](super::paging)),
//! and relations go through the per-request [`SchedulingLoader`] (events,
//! venues) and membership's loader (people, clusters).
//!
//! The calendar feed itself (`GET /calendar/{token}.ics`) is not GraphQL:
//! calendar apps fetch it without a bearer token, the feed token being the
//! credential; see the gateway's `http` module.

mod enums;
mod inputs;
mod loaders;
mod types;

use async_graphql::{
    Context, ID, Object, Result,
    dataloader::{DataLoader, HashMapCache},
};
use chrono::{DateTime, Utc};
use collegium_proto::scheduling::v1::{
    self as pb, scheduling_service_client::SchedulingServiceClient,
};
use platform::{Error, auth::Principal, grpc::ForwardCaller};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use tracing::Instrument;

pub use enums::{
    AttendanceStatus, ClaimStatus, ComplianceState, EditScope, EventKind, EventStatus,
    QuestionKind, RsvpResponse, RsvpStatus,
};
pub use inputs::*;
use loaders::{EventKey, MAX_BATCH, SchedulingLoader, VenueKey};
pub use types::*;

use super::{
    convert::{id_argument, nodes, reference, rfc3339, unary},
    paging::{Page, connection, page_request},
    unauthenticated,
};
use crate::error::graphql_error;

/// A scheduling client that sends the caller's token on every call.
pub(crate) type Client = SchedulingServiceClient<InterceptedService<Channel, ForwardCaller>>;

/// Scheduling as one caller sees it for one request (or one WebSocket
/// connection): a client carrying their token and a loader of their own.
pub struct Scheduling {
    client: Client,
    loader: DataLoader<SchedulingLoader, HashMapCache>,
}

impl Scheduling {
    /// `channel` is the shared connection; only the token differs per caller.
    pub fn for_caller(
        channel: &Channel,
        principal: &Principal,
        cache: bool,
    ) -> platform::Result<Self> {
        let client = SchedulingServiceClient::with_interceptor(
            channel.clone(),
            ForwardCaller::new(&principal.token)?,
        );
        let loader = DataLoader::with_cache(
            SchedulingLoader::new(client.clone(), cache),
            // The batch runs on its own task; keep it in the request's span
            // so its gRPC call carries the request's trace context.
            |batch| tokio::spawn(batch.in_current_span()),
            HashMapCache::default(),
        )
        .max_batch_size(MAX_BATCH);
        loader.enable_all_cache(cache);
        Ok(Self { client, loader })
    }

    fn client(&self) -> Client {
        self.client.clone()
    }

    /// The event with this id, if the caller may see it.
    pub(crate) async fn event(&self, id: Option<&str>) -> Result<Option<Event>> {
        let Some(id) = id.and_then(reference) else {
            return Ok(None);
        };
        Ok(self.loader.load_one(EventKey(id)).await?.map(Event))
    }

    /// The events found, in the order of `ids`.
    pub(crate) async fn events(&self, ids: &[String]) -> Result<Vec<Event>> {
        let keys: Vec<_> = ids
            .iter()
            .filter_map(|id| reference(id))
            .map(EventKey)
            .collect();
        let mut found = self.loader.load_many(keys.iter().copied()).await?;
        Ok(keys
            .iter()
            .filter_map(|k| found.remove(k))
            .map(Event)
            .collect())
    }

    pub(crate) async fn venue(&self, id: Option<&str>) -> Result<Option<Venue>> {
        let Some(id) = id.and_then(reference) else {
            return Ok(None);
        };
        Ok(self.loader.load_one(VenueKey(id)).await?.map(Venue))
    }

    /// A mutation's answer is the newest state of the event: later fields of
    /// the same request that refer to it see that state, not an older one.
    async fn remember_event(&self, event: pb::Event) -> Event {
        if let Some(id) = reference(&event.id) {
            self.loader.feed_one(EventKey(id), event.clone()).await;
        }
        Event(event)
    }

    async fn remember_venue(&self, venue: pb::Venue) -> Venue {
        if let Some(id) = reference(&venue.id) {
            self.loader.feed_one(VenueKey(id), venue.clone()).await;
        }
        Venue(venue)
    }
}

/// The scheduling handle of this request.
pub(crate) fn scheduling<'a>(ctx: &Context<'a>) -> Result<&'a Scheduling> {
    ctx.data_opt::<Scheduling>().ok_or_else(unauthenticated)
}

fn id_filter(id: Option<ID>) -> Option<String> {
    id.map(|id| id.0)
}

fn window_bound(t: Option<DateTime<Utc>>) -> String {
    t.map(rfc3339).unwrap_or_default()
}

#[derive(Default)]
pub struct SchedulingQuery;

#[Object]
impl SchedulingQuery {
    /// The tenant's venues.
    async fn venues(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<Venue>> {
        let s = scheduling(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListVenuesRequest {
            page: Some(page_request(first, after)?),
        };
        let page = unary(s.client().list_venues(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.venues, |v| v.id.clone(), Venue),
            page.page,
        ))
    }

    /// Events the caller may see, by start. Drafts and cancelled events
    /// only when asked for (and drafts only to their owners).
    #[allow(clippy::too_many_arguments)]
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Only events this cluster owns.")] cluster_id: Option<ID>,
        kind: Option<EventKind>,
        #[graphql(desc = "Only events starting at or after this instant.")] from: Option<
            DateTime<Utc>,
        >,
        #[graphql(desc = "Only events starting before this instant.")] to: Option<DateTime<Utc>>,
        academic_year: Option<i32>,
        #[graphql(default)] include_drafts: bool,
        #[graphql(default)] include_cancelled: bool,
        #[graphql(desc = "Only events this person is invited to or responded to.")]
        person_id: Option<ID>,
    ) -> Result<Page<Event>> {
        let s = scheduling(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListEventsRequest {
            page: Some(page_request(first, after)?),
            cluster_id: id_filter(cluster_id),
            kind: kind.map(|k| k.to_proto() as i32),
            from: window_bound(from),
            to: window_bound(to),
            academic_year,
            include_drafts,
            include_cancelled,
            person_id: id_filter(person_id),
        };
        let page = unary(s.client().list_events(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.events, |e| e.id.clone(), Event),
            page.page,
        ))
    }

    async fn event(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Event>> {
        let id = id_argument("id", &id)?;
        scheduling(ctx)?.event(Some(&id.to_string())).await
    }

    /// The invitations and answers of one event.
    async fn rsvps(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        first: Option<i32>,
        after: Option<String>,
        status: Option<RsvpStatus>,
    ) -> Result<Page<Rsvp>> {
        let s = scheduling(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListRsvpsRequest {
            page: Some(page_request(first, after)?),
            event_id: event_id.0,
            status: status.map(|st| st.to_proto() as i32),
        };
        let page = unary(s.client().list_rsvps(req)).await?;
        Ok(connection(
            after_given,
            // One RSVP per person and event, and the list is of one event;
            // RSVPs carry no id of their own, so only `endCursor` (the
            // service's token) is sure to resume the list.
            nodes(page.rsvps, |r| r.person_id.clone(), Rsvp),
            page.page,
        ))
    }

    /// Events the person (by default the caller) has accepted that overlap
    /// `[startsAt, endsAt)`.
    async fn clashes(
        &self,
        ctx: &Context<'_>,
        person_id: Option<ID>,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> Result<Vec<Event>> {
        let s = scheduling(ctx)?;
        let person_id = match person_id {
            Some(id) => id.0,
            None => ctx
                .data_opt::<Principal>()
                .and_then(Principal::person)
                .map(|p| p.to_string())
                .ok_or_else(|| {
                    graphql_error(Error::invalid(
                        "personId",
                        "required when the caller is not a person",
                    ))
                })?,
        };
        let req = pb::ListClashesRequest {
            person_id,
            starts_at: rfc3339(starts_at),
            ends_at: rfc3339(ends_at),
        };
        let list = unary(s.client().list_clashes(req)).await?;
        Ok(list.events.into_iter().map(Event).collect())
    }

    /// Attendance records of one event or one person (or both).
    async fn attendance(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        event_id: Option<ID>,
        person_id: Option<ID>,
    ) -> Result<Page<Attendance>> {
        let s = scheduling(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListAttendanceRequest {
            page: Some(page_request(first, after)?),
            event_id: id_filter(event_id),
            person_id: id_filter(person_id),
        };
        let page = unary(s.client().list_attendance(req)).await?;
        Ok(connection(
            after_given,
            // Records carry no id of their own; only `endCursor` (the
            // service's token) is sure to resume the list.
            nodes(
                page.records,
                |a| format!("{}:{}", a.event_id, a.person_id),
                Attendance,
            ),
            page.page,
        ))
    }

    /// Whether the person attended a scoring training in the academic year
    /// (named by its first calendar year: 2026 for 2026/27).
    async fn training_status(
        &self,
        ctx: &Context<'_>,
        person_id: ID,
        academic_year: i32,
    ) -> Result<TrainingStatus> {
        let s = scheduling(ctx)?;
        let req = pb::GetTrainingStatusRequest {
            person_id: person_id.0,
            academic_year,
        };
        Ok(TrainingStatus(
            unary(s.client().get_training_status(req)).await?,
        ))
    }

    /// The tenant's programme rules.
    async fn rule_settings(&self, ctx: &Context<'_>) -> Result<RuleSettings> {
        let s = scheduling(ctx)?;
        Ok(
            unary(s.client().get_rule_settings(pb::GetRuleSettingsRequest {}))
                .await?
                .into(),
        )
    }

    /// How the cluster stands against each programme rule in the year.
    async fn compliance(
        &self,
        ctx: &Context<'_>,
        cluster_id: ID,
        academic_year: i32,
    ) -> Result<ComplianceReport> {
        let s = scheduling(ctx)?;
        let req = pb::GetComplianceRequest {
            cluster_id: cluster_id.0,
            academic_year,
        };
        Ok(ComplianceReport(
            unary(s.client().get_compliance(req)).await?,
        ))
    }

    /// Links and files attached to the event.
    async fn materials(&self, ctx: &Context<'_>, event_id: ID) -> Result<Vec<Material>> {
        let s = scheduling(ctx)?;
        let list = unary(s.client().list_materials(pb::EventRef {
            event_id: event_id.0,
        }))
        .await?;
        Ok(list.materials.into_iter().map(Material).collect())
    }

    /// Expense claims: the caller's own, or all of the tenant for those who
    /// decide them.
    async fn claims(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        event_id: Option<ID>,
        status: Option<ClaimStatus>,
        person_id: Option<ID>,
    ) -> Result<Page<ExpenseClaim>> {
        let s = scheduling(ctx)?;
        let after_given = after.is_some();
        let req = pb::ListClaimsRequest {
            page: Some(page_request(first, after)?),
            event_id: id_filter(event_id),
            status: status.map(|st| st.to_proto() as i32),
            person_id: id_filter(person_id),
        };
        let page = unary(s.client().list_claims(req)).await?;
        Ok(connection(
            after_given,
            nodes(page.claims, |c| c.id.clone(), ExpenseClaim),
            page.page,
        ))
    }

    /// Approved claims as CSV, decided in `[from, to)` (all when left out).
    async fn approved_claims_csv(
        &self,
        ctx: &Context<'_>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<CsvExport> {
        let s = scheduling(ctx)?;
        let req = pb::ExportClaimsRequest {
            from: window_bound(from),
            to: window_bound(to),
        };
        Ok(unary(s.client().export_approved_claims(req)).await?.into())
    }

    /// The event's feedback questionnaire (no questions when none is set).
    async fn questionnaire(&self, ctx: &Context<'_>, event_id: ID) -> Result<Questionnaire> {
        let s = scheduling(ctx)?;
        Ok(Questionnaire(
            unary(s.client().get_questionnaire(pb::EventRef {
                event_id: event_id.0,
            }))
            .await?,
        ))
    }

    /// Attendees' answers to the event's questionnaire, aggregated.
    async fn feedback_summary(&self, ctx: &Context<'_>, event_id: ID) -> Result<FeedbackSummary> {
        let s = scheduling(ctx)?;
        Ok(FeedbackSummary(
            unary(s.client().get_feedback_summary(pb::EventRef {
                event_id: event_id.0,
            }))
            .await?,
        ))
    }

    /// The caller's calendar feed. The first request creates it and is the
    /// only one to show its secret URL; later ones say whether it is active.
    async fn my_calendar_feed(&self, ctx: &Context<'_>) -> Result<CalendarFeed> {
        let s = scheduling(ctx)?;
        Ok(CalendarFeed(
            unary(
                s.client()
                    .get_my_calendar_feed(pb::GetMyCalendarFeedRequest {}),
            )
            .await?,
        ))
    }

    /// One event as an RFC 5545 calendar (`text/calendar` text).
    async fn event_ics(&self, ctx: &Context<'_>, event_id: ID) -> Result<String> {
        let s = scheduling(ctx)?;
        let doc = unary(s.client().get_event_ics(pb::EventRef {
            event_id: event_id.0,
        }))
        .await?;
        Ok(doc.ics)
    }
}

#[derive(Default)]
pub struct SchedulingMutation;

#[Object]
impl SchedulingMutation {
    async fn create_venue(&self, ctx: &Context<'_>, input: CreateVenueInput) -> Result<Venue> {
        let s = scheduling(ctx)?;
        let venue = unary(s.client().create_venue(pb::CreateVenueRequest::from(input))).await?;
        Ok(s.remember_venue(venue).await)
    }

    async fn update_venue(&self, ctx: &Context<'_>, input: UpdateVenueInput) -> Result<Venue> {
        let s = scheduling(ctx)?;
        let venue = unary(s.client().update_venue(pb::UpdateVenueRequest::from(input))).await?;
        Ok(s.remember_venue(venue).await)
    }

    /// A draft unless `publish` is set; with `rrule`, the first occurrence
    /// of a new series.
    async fn create_event(&self, ctx: &Context<'_>, input: CreateEventInput) -> Result<Event> {
        let s = scheduling(ctx)?;
        let event = unary(s.client().create_event(pb::CreateEventRequest::from(input))).await?;
        Ok(s.remember_event(event).await)
    }

    /// Edits one event, one occurrence of a series, or the series from it on.
    async fn update_event(&self, ctx: &Context<'_>, input: UpdateEventInput) -> Result<Event> {
        let s = scheduling(ctx)?;
        let event = unary(s.client().update_event(pb::UpdateEventRequest::from(input))).await?;
        Ok(s.remember_event(event).await)
    }

    async fn publish_event(&self, ctx: &Context<'_>, input: PublishEventInput) -> Result<Event> {
        let s = scheduling(ctx)?;
        let event = unary(s.client().publish_event(pb::EventRef::from(input))).await?;
        Ok(s.remember_event(event).await)
    }

    async fn cancel_event(&self, ctx: &Context<'_>, input: CancelEventInput) -> Result<Event> {
        let s = scheduling(ctx)?;
        let event = unary(s.client().cancel_event(pb::CancelEventRequest::from(input))).await?;
        Ok(s.remember_event(event).await)
    }

    /// Invites the audiences as membership resolves them now; people
    /// invited before are counted, not invited twice.
    async fn invite(&self, ctx: &Context<'_>, input: InviteInput) -> Result<InviteResult> {
        let s = scheduling(ctx)?;
        let answer = unary(s.client().invite(pb::InviteRequest::from(input))).await?;
        Ok(InviteResult {
            invited: answer.invited,
            already_invited: answer.already_invited,
        })
    }

    /// The caller's answer to an invitation. Accepting a full event puts
    /// them on the waiting list; `clashesWith` warns of overlaps.
    async fn rsvp(&self, ctx: &Context<'_>, input: RsvpInput) -> Result<Rsvp> {
        let s = scheduling(ctx)?;
        Ok(Rsvp(
            unary(s.client().rsvp(pb::RsvpRequest::from(input))).await?,
        ))
    }

    /// The owner approves or declines a registration awaiting approval.
    async fn decide_registration(
        &self,
        ctx: &Context<'_>,
        input: DecideRegistrationInput,
    ) -> Result<Rsvp> {
        let s = scheduling(ctx)?;
        Ok(Rsvp(
            unary(
                s.client()
                    .decide_registration(pb::DecideRegistrationRequest::from(input)),
            )
            .await?,
        ))
    }

    /// The owner marks people present or no-show, in bulk.
    async fn record_attendance(
        &self,
        ctx: &Context<'_>,
        input: RecordAttendanceInput,
    ) -> Result<Vec<Attendance>> {
        let s = scheduling(ctx)?;
        let list = unary(
            s.client()
                .record_attendance(pb::RecordAttendanceRequest::from(input)),
        )
        .await?;
        Ok(list.records.into_iter().map(Attendance).collect())
    }

    /// The caller checks in with the code shown at the event.
    async fn check_in(&self, ctx: &Context<'_>, input: CheckInInput) -> Result<Attendance> {
        let s = scheduling(ctx)?;
        Ok(Attendance(
            unary(s.client().check_in(pb::CheckInRequest::from(input))).await?,
        ))
    }

    /// Replaces the tenant's programme rules.
    async fn update_rule_settings(
        &self,
        ctx: &Context<'_>,
        input: RuleSettingsInput,
    ) -> Result<RuleSettings> {
        let s = scheduling(ctx)?;
        Ok(unary(
            s.client()
                .update_rule_settings(pb::RuleSettings::from(input)),
        )
        .await?
        .into())
    }

    /// Attaches a link or a file (sent inline as base64) to the event.
    async fn add_material(&self, ctx: &Context<'_>, input: AddMaterialInput) -> Result<Material> {
        let s = scheduling(ctx)?;
        let req = pb::AddMaterialRequest::try_from(input).map_err(graphql_error)?;
        Ok(Material(unary(s.client().add_material(req)).await?))
    }

    /// The caller claims travel and subsistence for an event they attended.
    async fn submit_claim(
        &self,
        ctx: &Context<'_>,
        input: SubmitClaimInput,
    ) -> Result<ExpenseClaim> {
        let s = scheduling(ctx)?;
        Ok(ExpenseClaim(
            unary(s.client().submit_claim(pb::SubmitClaimRequest::from(input))).await?,
        ))
    }

    /// Approves or rejects (with a reason) a submitted claim.
    async fn decide_claim(
        &self,
        ctx: &Context<'_>,
        input: DecideClaimInput,
    ) -> Result<ExpenseClaim> {
        let s = scheduling(ctx)?;
        Ok(ExpenseClaim(
            unary(s.client().decide_claim(pb::DecideClaimRequest::from(input))).await?,
        ))
    }

    async fn set_questionnaire(
        &self,
        ctx: &Context<'_>,
        input: SetQuestionnaireInput,
    ) -> Result<Questionnaire> {
        let s = scheduling(ctx)?;
        Ok(Questionnaire(
            unary(
                s.client()
                    .set_questionnaire(pb::SetQuestionnaireRequest::from(input)),
            )
            .await?,
        ))
    }

    /// The caller's answers to an event's questionnaire. True when stored.
    async fn submit_feedback(&self, ctx: &Context<'_>, input: SubmitFeedbackInput) -> Result<bool> {
        let s = scheduling(ctx)?;
        unary(
            s.client()
                .submit_feedback(pb::SubmitFeedbackRequest::from(input)),
        )
        .await?;
        Ok(true)
    }

    /// Revokes the caller's calendar feed URL (calendar apps get 404 from
    /// then on); asking for the feed again creates a new one.
    async fn revoke_my_calendar_feed(&self, ctx: &Context<'_>) -> Result<CalendarFeed> {
        let s = scheduling(ctx)?;
        Ok(CalendarFeed(
            unary(
                s.client()
                    .revoke_my_calendar_feed(pb::GetMyCalendarFeedRequest {}),
            )
            .await?,
        ))
    }
}
