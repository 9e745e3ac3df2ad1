//! A stand-in for the scheduling service, enough to watch the gateway's
//! relations at work: `ListVenues` in pages of two, `GetEvents`,
//! `ListEvents`, `GetMyCalendarFeed` and a `CreateEvent` that always refuses
//! the start. It counts calls and keeps the `authorization` each carried;
//! every other call is UNIMPLEMENTED.

use std::sync::{Arc, Mutex};

use collegium_proto::{
    common::v1::PageInfo,
    scheduling::v1::{self as pb, scheduling_service_server::SchedulingService},
};
use tonic::{Request, Response, Status};

type Answer<T> = Result<Response<T>, Status>;

fn unimplemented_rpc<T>(name: &str) -> Answer<T> {
    Err(Status::unimplemented(name.to_string()))
}

/// Venues per `ListVenues` page, small so a test crosses pages.
pub const VENUE_PAGE: usize = 2;

#[derive(Default, Clone)]
pub struct FakeScheduling {
    pub venues: Vec<pb::Venue>,
    /// Listed by `ListEvents` (one page) and found by `GetEvents`.
    pub listed: Vec<pb::Event>,
    /// Found by `GetEvents` only.
    pub others: Vec<pb::Event>,
    pub feed_token: String,
    pub calls: Arc<Mutex<Vec<Call>>>,
}

/// One call as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub rpc: &'static str,
    /// The ids asked for (`GetEvents`) or the page token (`ListVenues`).
    pub detail: Vec<String>,
    pub authorization: Option<String>,
}

impl FakeScheduling {
    fn record<T>(&self, rpc: &'static str, request: &Request<T>, detail: Vec<String>) {
        let authorization = request
            .metadata()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string());
        self.calls.lock().unwrap().push(Call {
            rpc,
            detail,
            authorization,
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
}

#[tonic::async_trait]
impl SchedulingService for FakeScheduling {
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

    async fn list_venues(&self, request: Request<pb::ListVenuesRequest>) -> Answer<pb::VenuePage> {
        let token = request
            .get_ref()
            .page
            .as_ref()
            .map(|p| p.page_token.clone())
            .unwrap_or_default();
        self.record("list_venues", &request, vec![token.clone()]);
        let start: usize = if token.is_empty() {
            0
        } else {
            token.parse().unwrap()
        };
        let end = (start + VENUE_PAGE).min(self.venues.len());
        let next = if end < self.venues.len() {
            end.to_string()
        } else {
            String::new()
        };
        Ok(Response::new(pb::VenuePage {
            venues: self.venues[start..end].to_vec(),
            page: Some(PageInfo {
                next_page_token: next,
            }),
        }))
    }

    async fn get_events(&self, request: Request<pb::GetByIdsRequest>) -> Answer<pb::EventList> {
        let mut ids = request.get_ref().ids.clone();
        ids.sort();
        self.record("get_events", &request, ids.clone());
        let events = self
            .listed
            .iter()
            .chain(&self.others)
            .filter(|e| ids.contains(&e.id))
            .cloned()
            .collect();
        Ok(Response::new(pb::EventList { events }))
    }

    async fn list_events(&self, request: Request<pb::ListEventsRequest>) -> Answer<pb::EventPage> {
        self.record("list_events", &request, vec![]);
        Ok(Response::new(pb::EventPage {
            events: self.listed.clone(),
            page: Some(PageInfo {
                next_page_token: self.listed.last().map(|e| e.id.clone()).unwrap_or_default(),
            }),
        }))
    }

    async fn get_my_calendar_feed(
        &self,
        request: Request<pb::GetMyCalendarFeedRequest>,
    ) -> Answer<pb::CalendarFeed> {
        self.record("get_my_calendar_feed", &request, vec![]);
        Ok(Response::new(pb::CalendarFeed {
            token: self.feed_token.clone(),
            created_at: "2026-11-24T09:00:00Z".into(),
            active: true,
        }))
    }

    async fn create_event(&self, request: Request<pb::CreateEventRequest>) -> Answer<pb::Event> {
        self.record("create_event", &request, vec![]);
        Err(platform::Error::invalid("starts_local", "must be before ends_local").into_status())
    }

    async fn create_venue(&self, _: Request<pb::CreateVenueRequest>) -> Answer<pb::Venue> {
        unimplemented_rpc("create_venue")
    }

    async fn update_venue(&self, _: Request<pb::UpdateVenueRequest>) -> Answer<pb::Venue> {
        unimplemented_rpc("update_venue")
    }

    async fn update_event(&self, _: Request<pb::UpdateEventRequest>) -> Answer<pb::Event> {
        unimplemented_rpc("update_event")
    }

    async fn publish_event(&self, _: Request<pb::EventRef>) -> Answer<pb::Event> {
        unimplemented_rpc("publish_event")
    }

    async fn cancel_event(&self, _: Request<pb::CancelEventRequest>) -> Answer<pb::Event> {
        unimplemented_rpc("cancel_event")
    }

    async fn invite(&self, _: Request<pb::InviteRequest>) -> Answer<pb::InviteResponse> {
        unimplemented_rpc("invite")
    }

    async fn rsvp(&self, _: Request<pb::RsvpRequest>) -> Answer<pb::Rsvp> {
        unimplemented_rpc("rsvp")
    }

    async fn decide_registration(
        &self,
        _: Request<pb::DecideRegistrationRequest>,
    ) -> Answer<pb::Rsvp> {
        unimplemented_rpc("decide_registration")
    }

    async fn list_rsvps(&self, _: Request<pb::ListRsvpsRequest>) -> Answer<pb::RsvpPage> {
        unimplemented_rpc("list_rsvps")
    }

    async fn list_clashes(&self, _: Request<pb::ListClashesRequest>) -> Answer<pb::EventList> {
        unimplemented_rpc("list_clashes")
    }

    async fn record_attendance(
        &self,
        _: Request<pb::RecordAttendanceRequest>,
    ) -> Answer<pb::AttendanceList> {
        unimplemented_rpc("record_attendance")
    }

    async fn check_in(&self, _: Request<pb::CheckInRequest>) -> Answer<pb::Attendance> {
        unimplemented_rpc("check_in")
    }

    async fn list_attendance(
        &self,
        _: Request<pb::ListAttendanceRequest>,
    ) -> Answer<pb::AttendancePage> {
        unimplemented_rpc("list_attendance")
    }

    async fn get_training_status(
        &self,
        _: Request<pb::GetTrainingStatusRequest>,
    ) -> Answer<pb::TrainingStatus> {
        unimplemented_rpc("get_training_status")
    }

    async fn get_rule_settings(
        &self,
        _: Request<pb::GetRuleSettingsRequest>,
    ) -> Answer<pb::RuleSettings> {
        unimplemented_rpc("get_rule_settings")
    }

    async fn update_rule_settings(&self, _: Request<pb::RuleSettings>) -> Answer<pb::RuleSettings> {
        unimplemented_rpc("update_rule_settings")
    }

    async fn get_compliance(
        &self,
        _: Request<pb::GetComplianceRequest>,
    ) -> Answer<pb::ComplianceReport> {
        unimplemented_rpc("get_compliance")
    }

    async fn add_material(&self, _: Request<pb::AddMaterialRequest>) -> Answer<pb::Material> {
        unimplemented_rpc("add_material")
    }

    async fn list_materials(&self, _: Request<pb::EventRef>) -> Answer<pb::MaterialList> {
        unimplemented_rpc("list_materials")
    }

    async fn get_material_content(
        &self,
        _: Request<pb::MaterialRef>,
    ) -> Answer<pb::MaterialContent> {
        unimplemented_rpc("get_material_content")
    }

    async fn submit_claim(&self, _: Request<pb::SubmitClaimRequest>) -> Answer<pb::ExpenseClaim> {
        unimplemented_rpc("submit_claim")
    }

    async fn decide_claim(&self, _: Request<pb::DecideClaimRequest>) -> Answer<pb::ExpenseClaim> {
        unimplemented_rpc("decide_claim")
    }

    async fn list_claims(&self, _: Request<pb::ListClaimsRequest>) -> Answer<pb::ExpenseClaimPage> {
        unimplemented_rpc("list_claims")
    }

    async fn export_approved_claims(
        &self,
        _: Request<pb::ExportClaimsRequest>,
    ) -> Answer<pb::CsvExport> {
        unimplemented_rpc("export_approved_claims")
    }

    async fn set_questionnaire(
        &self,
        _: Request<pb::SetQuestionnaireRequest>,
    ) -> Answer<pb::Questionnaire> {
        unimplemented_rpc("set_questionnaire")
    }

    async fn get_questionnaire(&self, _: Request<pb::EventRef>) -> Answer<pb::Questionnaire> {
        unimplemented_rpc("get_questionnaire")
    }

    async fn submit_feedback(
        &self,
        _: Request<pb::SubmitFeedbackRequest>,
    ) -> Answer<pb::SubmitFeedbackResponse> {
        unimplemented_rpc("submit_feedback")
    }

    async fn get_feedback_summary(&self, _: Request<pb::EventRef>) -> Answer<pb::FeedbackSummary> {
        unimplemented_rpc("get_feedback_summary")
    }

    async fn revoke_my_calendar_feed(
        &self,
        _: Request<pb::GetMyCalendarFeedRequest>,
    ) -> Answer<pb::CalendarFeed> {
        unimplemented_rpc("revoke_my_calendar_feed")
    }

    async fn get_event_ics(&self, _: Request<pb::EventRef>) -> Answer<pb::IcsDocument> {
        unimplemented_rpc("get_event_ics")
    }
}
