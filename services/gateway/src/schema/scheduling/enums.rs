//! GraphQL enums for scheduling's protobuf enums, each made by
//! [`proto_enum!`](crate::schema::convert::proto_enum): the protobuf
//! variants minus `UNSPECIFIED`, mapped both ways by exhaustive matches.
//! [`RsvpResponse`] is the one enum of the schema's own: the answers a
//! person may give, a subset of [`RsvpStatus`].

use async_graphql::Enum;
use collegium_proto::scheduling::v1 as pb;

use crate::schema::convert::proto_enum;

proto_enum!(
    "scheduling",
    /// What an event is for.
    EventKind => EventKind {
        /// Scoring training for cluster teachers (3 or 6 hours).
        ScoringTraining,
        /// Regional training for cluster leaders.
        LeaderTraining,
        /// Viewing the year's scoring-training recording.
        RecordingViewing,
        NetworkMeeting,
        ScoringSession,
        /// Advisory-panel meeting.
        PanelMeeting,
        StudyGroup,
    }
);

proto_enum!(
    "scheduling",
    /// Where an event is in its life.
    EventStatus => EventStatus {
        /// Seen by its owners only.
        Draft,
        Published,
        Cancelled,
    }
);

proto_enum!(
    "scheduling",
    /// What an edit or a cancellation of a recurring event applies to.
    EditScope => EditScope {
        /// This event, or this one occurrence of a series.
        This,
        /// Every occurrence of the series from this one on.
        Series,
    }
);

proto_enum!(
    "scheduling",
    /// A person's place on an event's list.
    RsvpStatus => RsvpStatus {
        Invited,
        Accepted,
        Declined,
        Tentative,
        /// On the waiting list; promoted to ACCEPTED automatically, in
        /// order, when a seat frees or capacity grows.
        Waitlisted,
        /// Registered for an event whose owner approves each registration.
        PendingApproval,
    }
);

proto_enum!(
    "scheduling",
    AttendanceStatus => AttendanceStatus {
        Present,
        NoShow,
    }
);

proto_enum!(
    "scheduling",
    /// How a cluster stands against one programme rule.
    ComplianceState => ComplianceState {
        Met,
        /// Not met yet, but still possible this academic year.
        AtRisk,
        NotMet,
        /// The rule is off for this tenant or does not concern this cluster.
        NotApplicable,
    }
);

proto_enum!(
    "scheduling",
    ClaimStatus => ClaimStatus {
        Submitted,
        Approved,
        Rejected,
    }
);

proto_enum!(
    "scheduling",
    QuestionKind => QuestionKind {
        /// Answered 1–5.
        Rating,
        /// Answered in words.
        Text,
    }
);

/// The answers a person may give to an invitation. Waiting-list places and
/// pending approval follow from capacity and the owner's settings; nobody
/// answers with them.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RsvpResponse {
    /// Take a seat (or a place on the waiting list when the event is full).
    Accepted,
    Declined,
    Tentative,
}

impl RsvpResponse {
    pub fn to_proto(self) -> pb::RsvpStatus {
        match self {
            RsvpResponse::Accepted => pb::RsvpStatus::Accepted,
            RsvpResponse::Declined => pb::RsvpStatus::Declined,
            RsvpResponse::Tentative => pb::RsvpStatus::Tentative,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EnumType, Value};

    /// Every GraphQL variant goes to a distinct, specified protobuf value and
    /// back; every specified protobuf value has a GraphQL variant.
    macro_rules! check_round_trip {
        ($name:ident, $proto:ident, $max:expr) => {{
            for v in $name::ALL {
                let p = v.to_proto();
                assert_ne!(p, pb::$proto::Unspecified);
                assert_eq!($name::from_proto(p as i32), Some(*v), "{v:?}");
                // GraphQL spells the variant as the proto does, minus the prefix.
                let gql = match <$name as async_graphql::InputType>::to_value(v) {
                    Value::Enum(n) => n.to_string(),
                    other => panic!("{other:?}"),
                };
                assert!(
                    p.as_str_name().ends_with(&format!("_{gql}")),
                    "{} vs {gql}",
                    p.as_str_name()
                );
            }
            assert_eq!($name::from_proto(0), None);
            assert_eq!($name::from_proto(-1), None);
            assert_eq!($name::from_proto($max + 1), None);
            for n in 1..=$max {
                assert!($name::from_proto(n).is_some(), "{} {n}", stringify!($proto));
            }
            assert_eq!($name::ALL.len(), $max as usize);
        }};
    }

    #[test]
    fn enums_map_both_ways_without_unspecified() {
        check_round_trip!(EventKind, EventKind, 7);
        check_round_trip!(EventStatus, EventStatus, 3);
        check_round_trip!(EditScope, EditScope, 2);
        check_round_trip!(RsvpStatus, RsvpStatus, 6);
        check_round_trip!(AttendanceStatus, AttendanceStatus, 2);
        check_round_trip!(ComplianceState, ComplianceState, 4);
        check_round_trip!(ClaimStatus, ClaimStatus, 3);
        check_round_trip!(QuestionKind, QuestionKind, 2);
    }

    #[test]
    fn graphql_names_are_the_proto_names_without_prefix() {
        let names: Vec<String> = EventKind::items()
            .iter()
            .map(|item| item.name.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "SCORING_TRAINING",
                "LEADER_TRAINING",
                "RECORDING_VIEWING",
                "NETWORK_MEETING",
                "SCORING_SESSION",
                "PANEL_MEETING",
                "STUDY_GROUP"
            ]
        );
        assert_eq!(
            RsvpStatus::PendingApproval.to_proto().as_str_name(),
            "RSVP_STATUS_PENDING_APPROVAL"
        );
        assert!(matches!(
            ClaimStatus::from_service(0),
            Err(e) if e.message == "internal error"
        ));
    }

    #[test]
    fn rsvp_responses_are_the_three_answers_a_person_gives() {
        let answers: Vec<_> = [
            RsvpResponse::Accepted,
            RsvpResponse::Declined,
            RsvpResponse::Tentative,
        ]
        .iter()
        .map(|r| r.to_proto())
        .collect();
        assert_eq!(
            answers,
            [
                pb::RsvpStatus::Accepted,
                pb::RsvpStatus::Declined,
                pb::RsvpStatus::Tentative
            ]
        );
        assert_eq!(RsvpResponse::items().len(), 3);
    }
}
