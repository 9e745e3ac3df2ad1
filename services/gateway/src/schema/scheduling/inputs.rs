//! Scheduling's mutation inputs: one input object per protobuf request,
//! field for field and named as the request's fields in camelCase, so a
//! field violation the service reports (`starts_local`) reaches the client
//! as the input field it typed (`startsLocal`).
//!
//! The gateway checks shapes (GraphQL types, required fields, exactly one
//! source of a material, base64 that decodes); what the values mean (a time
//! zone exists, the end is after the start, the caller may do this) is the
//! service's to decide, once, for every client.

use async_graphql::{ID, InputObject, OneofObject};
use base64::Engine as _;
use collegium_proto::scheduling::v1::{self as pb, add_material_request::Source, audience};
use platform::Error;

use super::enums::{AttendanceStatus, EditScope, EventKind, QuestionKind, RsvpResponse};
use crate::schema::membership::Role;

fn ids(ids: Vec<ID>) -> Vec<String> {
    ids.into_iter().map(|id| id.0).collect()
}

#[derive(InputObject)]
pub struct CreateVenueInput {
    pub name: String,
    pub address: Option<String>,
    /// Seats; 0 for no limit.
    #[graphql(default)]
    pub capacity: u32,
    /// Minutes kept free before and after each booking.
    #[graphql(default)]
    pub buffer_minutes: u32,
}

impl From<CreateVenueInput> for pb::CreateVenueRequest {
    fn from(i: CreateVenueInput) -> Self {
        Self {
            name: i.name,
            address: i.address.unwrap_or_default(),
            capacity: i.capacity,
            buffer_minutes: i.buffer_minutes,
        }
    }
}

/// Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateVenueInput {
    pub id: ID,
    pub name: Option<String>,
    pub address: Option<String>,
    pub capacity: Option<u32>,
    pub buffer_minutes: Option<u32>,
}

impl From<UpdateVenueInput> for pb::UpdateVenueRequest {
    fn from(i: UpdateVenueInput) -> Self {
        Self {
            id: i.id.0,
            name: i.name,
            address: i.address,
            capacity: i.capacity,
            buffer_minutes: i.buffer_minutes,
        }
    }
}

#[derive(InputObject)]
pub struct CreateEventInput {
    pub kind: EventKind,
    /// The owning cluster; leave out for an event of the whole tenant.
    pub cluster_id: Option<ID>,
    pub title: String,
    pub agenda: Option<String>,
    /// Local date-time in `timeZone`, as a person types it: `2026-10-14T16:00`.
    pub starts_local: String,
    pub ends_local: String,
    /// IANA zone the event is held in, e.g. `Europe/London`.
    pub time_zone: String,
    pub venue_id: Option<ID>,
    pub online_url: Option<String>,
    /// Seats; leave out (or 0) for no limit beyond the venue's.
    pub capacity: Option<u32>,
    /// Registrations wait for the owner's approval.
    #[graphql(default)]
    pub approval_required: bool,
    /// Scoring trainings: 3 or 6.
    pub training_hours: Option<u32>,
    /// A scoring training names the scoring session it prepares for.
    pub prepares_for_event_id: Option<ID>,
    /// RFC 5545 recurrence with COUNT or UNTIL, e.g.
    /// `FREQ=MONTHLY;BYDAY=2WE;COUNT=8`.
    pub rrule: Option<String>,
    /// Local starts of occurrences to leave out (`2026-12-09T16:00`).
    #[graphql(default)]
    pub exdates_local: Vec<String>,
    /// Publish straight away instead of saving a draft.
    #[graphql(default)]
    pub publish: bool,
}

impl From<CreateEventInput> for pb::CreateEventRequest {
    fn from(i: CreateEventInput) -> Self {
        Self {
            kind: i.kind.to_proto() as i32,
            cluster_id: i.cluster_id.map(|id| id.0),
            title: i.title,
            agenda: i.agenda.unwrap_or_default(),
            starts_local: i.starts_local,
            ends_local: i.ends_local,
            time_zone: i.time_zone,
            venue_id: i.venue_id.map(|id| id.0),
            online_url: i.online_url.unwrap_or_default(),
            capacity: i.capacity.unwrap_or_default(),
            approval_required: i.approval_required,
            training_hours: i.training_hours.unwrap_or_default(),
            prepares_for_event_id: i.prepares_for_event_id.map(|id| id.0),
            rrule: i.rrule.unwrap_or_default(),
            exdates_local: i.exdates_local,
            publish: i.publish,
        }
    }
}

/// Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateEventInput {
    pub id: ID,
    /// For an occurrence of a series: this one, or the series from it on.
    #[graphql(default_with = "EditScope::This")]
    pub scope: EditScope,
    pub title: Option<String>,
    pub agenda: Option<String>,
    pub starts_local: Option<String>,
    pub ends_local: Option<String>,
    pub time_zone: Option<String>,
    pub venue_id: Option<ID>,
    pub online_url: Option<String>,
    pub capacity: Option<u32>,
    pub approval_required: Option<bool>,
}

impl From<UpdateEventInput> for pb::UpdateEventRequest {
    fn from(i: UpdateEventInput) -> Self {
        Self {
            id: i.id.0,
            scope: i.scope.to_proto() as i32,
            title: i.title,
            agenda: i.agenda,
            starts_local: i.starts_local,
            ends_local: i.ends_local,
            time_zone: i.time_zone,
            venue_id: i.venue_id.map(|id| id.0),
            online_url: i.online_url,
            capacity: i.capacity,
            approval_required: i.approval_required,
        }
    }
}

#[derive(InputObject)]
pub struct PublishEventInput {
    pub event_id: ID,
}

impl From<PublishEventInput> for pb::EventRef {
    fn from(i: PublishEventInput) -> Self {
        Self {
            event_id: i.event_id.0,
        }
    }
}

#[derive(InputObject)]
pub struct CancelEventInput {
    pub id: ID,
    #[graphql(default_with = "EditScope::This")]
    pub scope: EditScope,
    /// Told to everyone invited.
    pub reason: Option<String>,
}

impl From<CancelEventInput> for pb::CancelEventRequest {
    fn from(i: CancelEventInput) -> Self {
        Self {
            id: i.id.0,
            scope: i.scope.to_proto() as i32,
            reason: i.reason.unwrap_or_default(),
        }
    }
}

/// Everyone holding a role, tenant-wide or in the centres of one cluster.
#[derive(InputObject)]
pub struct RoleAudienceInput {
    pub role: Role,
    /// Only the people of this cluster's centres.
    pub cluster_id: Option<ID>,
}

/// Whom to invite: exactly one of a cluster, a centre, a role or named
/// people. Resolved through membership when the invitation is sent.
#[derive(OneofObject)]
pub enum AudienceInput {
    /// Every member of the cluster.
    ClusterId(ID),
    /// Everyone at the centre or school.
    OrganisationId(ID),
    Role(RoleAudienceInput),
    PersonIds(Vec<ID>),
}

impl From<AudienceInput> for pb::Audience {
    fn from(i: AudienceInput) -> Self {
        let audience = match i {
            AudienceInput::ClusterId(id) => audience::Audience::ClusterId(id.0),
            AudienceInput::OrganisationId(id) => audience::Audience::OrganisationId(id.0),
            AudienceInput::Role(r) => audience::Audience::Role(pb::RoleAudience {
                role: r.role.token_name(),
                cluster_id: r.cluster_id.map(|id| id.0),
            }),
            AudienceInput::PersonIds(people) => audience::Audience::People(pb::PersonList {
                person_ids: ids(people),
            }),
        };
        Self {
            audience: Some(audience),
        }
    }
}

#[derive(InputObject)]
pub struct InviteInput {
    pub event_id: ID,
    pub audiences: Vec<AudienceInput>,
}

impl From<InviteInput> for pb::InviteRequest {
    fn from(i: InviteInput) -> Self {
        Self {
            event_id: i.event_id.0,
            audiences: i.audiences.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(InputObject)]
pub struct RsvpInput {
    pub event_id: ID,
    pub response: RsvpResponse,
}

impl From<RsvpInput> for pb::RsvpRequest {
    fn from(i: RsvpInput) -> Self {
        Self {
            event_id: i.event_id.0,
            response: i.response.to_proto() as i32,
        }
    }
}

#[derive(InputObject)]
pub struct DecideRegistrationInput {
    pub event_id: ID,
    pub person_id: ID,
    pub approve: bool,
}

impl From<DecideRegistrationInput> for pb::DecideRegistrationRequest {
    fn from(i: DecideRegistrationInput) -> Self {
        Self {
            event_id: i.event_id.0,
            person_id: i.person_id.0,
            approve: i.approve,
        }
    }
}

#[derive(InputObject)]
pub struct AttendanceMarkInput {
    pub person_id: ID,
    pub status: AttendanceStatus,
}

#[derive(InputObject)]
pub struct RecordAttendanceInput {
    pub event_id: ID,
    /// One mark per person; a later mark replaces an earlier one.
    pub marks: Vec<AttendanceMarkInput>,
}

impl From<RecordAttendanceInput> for pb::RecordAttendanceRequest {
    fn from(i: RecordAttendanceInput) -> Self {
        Self {
            event_id: i.event_id.0,
            marks: i
                .marks
                .into_iter()
                .map(|m| pb::AttendanceMark {
                    person_id: m.person_id.0,
                    status: m.status.to_proto() as i32,
                })
                .collect(),
        }
    }
}

#[derive(InputObject)]
pub struct CheckInInput {
    pub event_id: ID,
    /// The code the owner shows at the event.
    pub code: String,
}

impl From<CheckInInput> for pb::CheckInRequest {
    fn from(i: CheckInInput) -> Self {
        Self {
            event_id: i.event_id.0,
            code: i.code,
        }
    }
}

/// The tenant's programme rules, all at once.
#[derive(InputObject)]
pub struct RuleSettingsInput {
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

impl From<RuleSettingsInput> for pb::RuleSettings {
    fn from(i: RuleSettingsInput) -> Self {
        Self {
            min_network_meetings: i.min_network_meetings,
            require_trained_scorers: i.require_trained_scorers,
            require_leader_sequence: i.require_leader_sequence,
            training_window_days: i.training_window_days,
        }
    }
}

/// A file sent inline. The request body limit (`COLLEGIUM_MAX_BODY_BYTES`)
/// bounds its size; base64 makes it a third larger on the wire.
#[derive(InputObject)]
pub struct FileUploadInput {
    pub file_name: String,
    /// MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// The file's bytes, base64 (RFC 4648, with padding).
    pub content_base64: String,
}

/// A link or a file for an event: give exactly one of `url` and `file`.
/// (Flat rather than a `@oneOf` source so the service's field names,
/// `url` and `file.content_type`, are the client's too.)
#[derive(InputObject)]
pub struct AddMaterialInput {
    pub event_id: ID,
    pub title: String,
    pub url: Option<String>,
    pub file: Option<FileUploadInput>,
}

impl TryFrom<AddMaterialInput> for pb::AddMaterialRequest {
    type Error = Error;

    fn try_from(i: AddMaterialInput) -> Result<Self, Error> {
        let source = match (i.url, i.file) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid("file", "give url or file, not both"));
            }
            (None, None) => return Err(Error::invalid("url", "give url or file")),
            (Some(url), None) => Source::Url(url),
            (None, Some(f)) => {
                let content = base64::engine::general_purpose::STANDARD
                    .decode(f.content_base64.trim())
                    .map_err(|e| {
                        Error::invalid("file.content_base64", format!("not base64: {e}"))
                    })?;
                Source::File(pb::FileUpload {
                    file_name: f.file_name,
                    content_type: f.content_type,
                    content,
                })
            }
        };
        Ok(Self {
            event_id: i.event_id.0,
            title: i.title,
            source: Some(source),
        })
    }
}

#[derive(InputObject)]
pub struct SubmitClaimInput {
    pub event_id: ID,
    /// Minor units (cents, pence).
    #[graphql(default)]
    pub travel_amount: i64,
    /// Minor units (cents, pence).
    #[graphql(default)]
    pub subsistence_amount: i64,
    /// ISO 4217, e.g. `GBP`.
    pub currency: String,
    pub description: Option<String>,
}

impl From<SubmitClaimInput> for pb::SubmitClaimRequest {
    fn from(i: SubmitClaimInput) -> Self {
        Self {
            event_id: i.event_id.0,
            travel_amount: i.travel_amount,
            subsistence_amount: i.subsistence_amount,
            currency: i.currency,
            description: i.description.unwrap_or_default(),
        }
    }
}

#[derive(InputObject)]
pub struct DecideClaimInput {
    pub id: ID,
    pub approve: bool,
    /// Required when rejecting.
    pub reason: Option<String>,
}

impl From<DecideClaimInput> for pb::DecideClaimRequest {
    fn from(i: DecideClaimInput) -> Self {
        Self {
            id: i.id.0,
            approve: i.approve,
            reason: i.reason.unwrap_or_default(),
        }
    }
}

#[derive(InputObject)]
pub struct QuestionInput {
    /// Keep a question's id to keep its answers; leave out for a new question.
    pub id: Option<ID>,
    pub text: String,
    pub kind: QuestionKind,
}

#[derive(InputObject)]
pub struct SetQuestionnaireInput {
    pub event_id: ID,
    /// Replaces the event's questions, in this order.
    pub questions: Vec<QuestionInput>,
}

impl From<SetQuestionnaireInput> for pb::SetQuestionnaireRequest {
    fn from(i: SetQuestionnaireInput) -> Self {
        Self {
            event_id: i.event_id.0,
            questions: i
                .questions
                .into_iter()
                .map(|q| pb::Question {
                    id: q.id.map(|id| id.0).unwrap_or_default(),
                    text: q.text,
                    kind: q.kind.to_proto() as i32,
                })
                .collect(),
        }
    }
}

/// One answer: `rating` (1–5) for a rating question, `text` for a text one.
#[derive(InputObject)]
pub struct AnswerInput {
    pub question_id: ID,
    pub rating: Option<u32>,
    pub text: Option<String>,
}

#[derive(InputObject)]
pub struct SubmitFeedbackInput {
    pub event_id: ID,
    pub answers: Vec<AnswerInput>,
}

impl From<SubmitFeedbackInput> for pb::SubmitFeedbackRequest {
    fn from(i: SubmitFeedbackInput) -> Self {
        Self {
            event_id: i.event_id.0,
            answers: i
                .answers
                .into_iter()
                .map(|a| pb::Answer {
                    question_id: a.question_id.0,
                    rating: a.rating.unwrap_or_default(),
                    text: a.text.unwrap_or_default(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ID {
        ID(s.into())
    }

    #[test]
    fn events_become_their_requests_field_for_field() {
        let req: pb::CreateEventRequest = CreateEventInput {
            kind: EventKind::ScoringTraining,
            cluster_id: Some(id("c")),
            title: "Scoring training".into(),
            agenda: None,
            starts_local: "2026-10-14T16:00".into(),
            ends_local: "2026-10-14T19:00".into(),
            time_zone: "America/Chicago".into(),
            venue_id: Some(id("v")),
            online_url: None,
            capacity: Some(30),
            approval_required: true,
            training_hours: Some(3),
            prepares_for_event_id: Some(id("s")),
            rrule: None,
            exdates_local: vec!["2026-12-09T16:00".into()],
            publish: true,
        }
        .into();
        assert_eq!(
            req,
            pb::CreateEventRequest {
                kind: pb::EventKind::ScoringTraining as i32,
                cluster_id: Some("c".into()),
                title: "Scoring training".into(),
                agenda: String::new(),
                starts_local: "2026-10-14T16:00".into(),
                ends_local: "2026-10-14T19:00".into(),
                time_zone: "America/Chicago".into(),
                venue_id: Some("v".into()),
                online_url: String::new(),
                capacity: 30,
                approval_required: true,
                training_hours: 3,
                prepares_for_event_id: Some("s".into()),
                rrule: String::new(),
                exdates_local: vec!["2026-12-09T16:00".into()],
                publish: true,
            }
        );

        let req: pb::UpdateEventRequest = UpdateEventInput {
            id: id("e"),
            scope: EditScope::Series,
            title: None,
            agenda: Some(String::new()),
            starts_local: Some("2026-10-14T17:00".into()),
            ends_local: None,
            time_zone: None,
            venue_id: None,
            online_url: Some("https://meet.example.org/x".into()),
            capacity: Some(0),
            approval_required: Some(false),
        }
        .into();
        assert_eq!(
            req,
            pb::UpdateEventRequest {
                id: "e".into(),
                scope: pb::EditScope::Series as i32,
                title: None,
                agenda: Some(String::new()),
                starts_local: Some("2026-10-14T17:00".into()),
                ends_local: None,
                time_zone: None,
                venue_id: None,
                online_url: Some("https://meet.example.org/x".into()),
                capacity: Some(0),
                approval_required: Some(false),
            }
        );

        let req: pb::CancelEventRequest = CancelEventInput {
            id: id("e"),
            scope: EditScope::This,
            reason: None,
        }
        .into();
        assert_eq!(req.scope, pb::EditScope::This as i32);
        assert_eq!(req.reason, "");
        let req: pb::EventRef = PublishEventInput { event_id: id("e") }.into();
        assert_eq!(req.event_id, "e");
    }

    #[test]
    fn venues_become_their_requests() {
        let req: pb::CreateVenueRequest = CreateVenueInput {
            name: "Hall".into(),
            address: None,
            capacity: 80,
            buffer_minutes: 15,
        }
        .into();
        assert_eq!(
            req,
            pb::CreateVenueRequest {
                name: "Hall".into(),
                address: String::new(),
                capacity: 80,
                buffer_minutes: 15,
            }
        );
        let req: pb::UpdateVenueRequest = UpdateVenueInput {
            id: id("v"),
            name: None,
            address: Some("1 High St".into()),
            capacity: Some(60),
            buffer_minutes: None,
        }
        .into();
        assert_eq!(
            req,
            pb::UpdateVenueRequest {
                id: "v".into(),
                name: None,
                address: Some("1 High St".into()),
                capacity: Some(60),
                buffer_minutes: None,
            }
        );
    }

    #[test]
    fn audiences_become_the_oneof_with_membership_role_names() {
        let req: pb::InviteRequest = InviteInput {
            event_id: id("e"),
            audiences: vec![
                AudienceInput::ClusterId(id("c")),
                AudienceInput::OrganisationId(id("o")),
                AudienceInput::Role(RoleAudienceInput {
                    role: Role::BuildingCoordinator,
                    cluster_id: Some(id("c")),
                }),
                AudienceInput::PersonIds(vec![id("p1"), id("p2")]),
            ],
        }
        .into();
        let got: Vec<_> = req.audiences.into_iter().map(|a| a.audience).collect();
        assert_eq!(
            got,
            [
                Some(audience::Audience::ClusterId("c".into())),
                Some(audience::Audience::OrganisationId("o".into())),
                Some(audience::Audience::Role(pb::RoleAudience {
                    role: "building_coordinator".into(),
                    cluster_id: Some("c".into()),
                })),
                Some(audience::Audience::People(pb::PersonList {
                    person_ids: vec!["p1".into(), "p2".into()],
                })),
            ]
        );
        assert_eq!(req.event_id, "e");
    }

    #[test]
    fn rsvps_registrations_and_attendance_become_their_requests() {
        let req: pb::RsvpRequest = RsvpInput {
            event_id: id("e"),
            response: RsvpResponse::Tentative,
        }
        .into();
        assert_eq!(
            req,
            pb::RsvpRequest {
                event_id: "e".into(),
                response: pb::RsvpStatus::Tentative as i32,
            }
        );
        let req: pb::DecideRegistrationRequest = DecideRegistrationInput {
            event_id: id("e"),
            person_id: id("p"),
            approve: true,
        }
        .into();
        assert_eq!(
            req,
            pb::DecideRegistrationRequest {
                event_id: "e".into(),
                person_id: "p".into(),
                approve: true,
            }
        );
        let req: pb::RecordAttendanceRequest = RecordAttendanceInput {
            event_id: id("e"),
            marks: vec![
                AttendanceMarkInput {
                    person_id: id("p1"),
                    status: AttendanceStatus::Present,
                },
                AttendanceMarkInput {
                    person_id: id("p2"),
                    status: AttendanceStatus::NoShow,
                },
            ],
        }
        .into();
        assert_eq!(
            req,
            pb::RecordAttendanceRequest {
                event_id: "e".into(),
                marks: vec![
                    pb::AttendanceMark {
                        person_id: "p1".into(),
                        status: pb::AttendanceStatus::Present as i32,
                    },
                    pb::AttendanceMark {
                        person_id: "p2".into(),
                        status: pb::AttendanceStatus::NoShow as i32,
                    },
                ],
            }
        );
        let req: pb::CheckInRequest = CheckInInput {
            event_id: id("e"),
            code: "K7Q2".into(),
        }
        .into();
        assert_eq!(
            req,
            pb::CheckInRequest {
                event_id: "e".into(),
                code: "K7Q2".into(),
            }
        );
        let req: pb::RuleSettings = RuleSettingsInput {
            min_network_meetings: 2,
            require_trained_scorers: true,
            require_leader_sequence: false,
            training_window_days: 30,
        }
        .into();
        assert_eq!(
            req,
            pb::RuleSettings {
                min_network_meetings: 2,
                require_trained_scorers: true,
                require_leader_sequence: false,
                training_window_days: 30,
            }
        );
    }

    #[test]
    fn a_material_is_a_link_or_a_decoded_file_never_both() {
        let material = |url: Option<&str>, file: Option<&str>| AddMaterialInput {
            event_id: id("e"),
            title: "Anchor papers".into(),
            url: url.map(Into::into),
            file: file.map(|content| FileUploadInput {
                file_name: "anchors.pdf".into(),
                content_type: "application/pdf".into(),
                content_base64: content.into(),
            }),
        };
        let req =
            pb::AddMaterialRequest::try_from(material(Some("https://x.org/a"), None)).unwrap();
        assert_eq!(req.source, Some(Source::Url("https://x.org/a".into())));
        assert_eq!(
            (req.event_id.as_str(), req.title.as_str()),
            ("e", "Anchor papers")
        );
        let req = pb::AddMaterialRequest::try_from(material(None, Some("JVBERi0xLjQ="))).unwrap();
        assert_eq!(
            req.source,
            Some(Source::File(pb::FileUpload {
                file_name: "anchors.pdf".into(),
                content_type: "application/pdf".into(),
                content: b"%PDF-1.4".to_vec(),
            }))
        );
        let field =
            |r: Result<pb::AddMaterialRequest, Error>| r.unwrap_err().violations()[0].field.clone();
        assert_eq!(
            field(material(Some("https://x.org/a"), Some("AA==")).try_into()),
            "file"
        );
        assert_eq!(field(material(None, None).try_into()), "url");
        assert_eq!(
            field(material(None, Some("not base64!")).try_into()),
            "file.content_base64"
        );
    }

    #[test]
    fn claims_and_feedback_become_their_requests() {
        let req: pb::SubmitClaimRequest = SubmitClaimInput {
            event_id: id("e"),
            travel_amount: 1250,
            subsistence_amount: 800,
            currency: "GBP".into(),
            description: None,
        }
        .into();
        assert_eq!(
            req,
            pb::SubmitClaimRequest {
                event_id: "e".into(),
                travel_amount: 1250,
                subsistence_amount: 800,
                currency: "GBP".into(),
                description: String::new(),
            }
        );
        let req: pb::DecideClaimRequest = DecideClaimInput {
            id: id("k"),
            approve: false,
            reason: Some("no receipt".into()),
        }
        .into();
        assert_eq!(
            req,
            pb::DecideClaimRequest {
                id: "k".into(),
                approve: false,
                reason: "no receipt".into(),
            }
        );
        let req: pb::SetQuestionnaireRequest = SetQuestionnaireInput {
            event_id: id("e"),
            questions: vec![
                QuestionInput {
                    id: Some(id("q1")),
                    text: "How useful?".into(),
                    kind: QuestionKind::Rating,
                },
                QuestionInput {
                    id: None,
                    text: "What next?".into(),
                    kind: QuestionKind::Text,
                },
            ],
        }
        .into();
        assert_eq!(
            req.questions,
            [
                pb::Question {
                    id: "q1".into(),
                    text: "How useful?".into(),
                    kind: pb::QuestionKind::Rating as i32,
                },
                pb::Question {
                    id: String::new(),
                    text: "What next?".into(),
                    kind: pb::QuestionKind::Text as i32,
                },
            ]
        );
        let req: pb::SubmitFeedbackRequest = SubmitFeedbackInput {
            event_id: id("e"),
            answers: vec![
                AnswerInput {
                    question_id: id("q1"),
                    rating: Some(4),
                    text: None,
                },
                AnswerInput {
                    question_id: id("q2"),
                    rating: None,
                    text: Some("More anchors".into()),
                },
            ],
        }
        .into();
        assert_eq!(
            req.answers,
            [
                pb::Answer {
                    question_id: "q1".into(),
                    rating: 4,
                    text: String::new(),
                },
                pb::Answer {
                    question_id: "q2".into(),
                    rating: 0,
                    text: "More anchors".into(),
                },
            ]
        );
    }
}
