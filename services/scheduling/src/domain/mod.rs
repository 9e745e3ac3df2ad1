//! Scheduling's domain: events and what hangs off them, and the pure rules
//! (academic years, recurrence, waiting lists, clashes, programme compliance).
//! No I/O here; `store` persists these types, `api` maps them to gRPC.

pub mod academic_year;
pub mod compliance;
pub mod ical;
pub mod overlap;
pub mod recurrence;
pub mod validate;
pub mod waitlist;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

str_enum!(
    /// What an event is for; the programme rules look at these.
    EventKind {
        ScoringTraining = "scoring_training",
        LeaderTraining = "leader_training",
        RecordingViewing = "recording_viewing",
        NetworkMeeting = "network_meeting",
        ScoringSession = "scoring_session",
        PanelMeeting = "panel_meeting",
        StudyGroup = "study_group",
    }
);

str_enum!(
    EventStatus {
        Draft = "draft",
        Published = "published",
        Cancelled = "cancelled",
    }
);

str_enum!(
    /// A person's standing for one event.
    RsvpStatus {
        Invited = "invited",
        Accepted = "accepted",
        Declined = "declined",
        Tentative = "tentative",
        Waitlisted = "waitlisted",
        PendingApproval = "pending_approval",
    }
);

str_enum!(
    AttendanceStatus {
        Present = "present",
        NoShow = "no_show",
    }
);

str_enum!(
    ClaimStatus {
        Submitted = "submitted",
        Approved = "approved",
        Rejected = "rejected",
    }
);

str_enum!(
    QuestionKind {
        Rating = "rating",
        Text = "text",
    }
);

/// A venue a tenant books.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Venue {
    pub id: Uuid,
    pub name: String,
    pub address: String,
    pub capacity: u32,
    /// Minutes kept free before and after each booking.
    pub buffer_minutes: u32,
}

#[derive(Debug, Clone, Default)]
pub struct VenuePatch {
    pub name: Option<String>,
    pub address: Option<String>,
    pub capacity: Option<u32>,
    pub buffer_minutes: Option<u32>,
}

/// One event, or one occurrence of a recurring series (occurrences are
/// stored as rows of their own, so RSVPs, capacity and attendance are per
/// occurrence; `series_id` and `recurrence_id` tie them to their series).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub kind: EventKind,
    /// `None`: owned by the tenant (e.g. a regional leader training).
    pub cluster_id: Option<Uuid>,
    pub title: String,
    pub agenda: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// IANA zone the event is held in; local times and DST come from it.
    pub time_zone: String,
    pub venue_id: Option<Uuid>,
    pub online_url: Option<String>,
    /// 0: no limit beyond the venue's.
    pub capacity: u32,
    pub status: EventStatus,
    /// Named by its first calendar year (2026 = 2026/27).
    pub academic_year: i32,
    pub approval_required: bool,
    pub training_hours: u32,
    pub prepares_for_event_id: Option<Uuid>,
    pub series_id: Option<Uuid>,
    /// The occurrence's original start (stable across edits; iCal RECURRENCE-ID).
    pub recurrence_id: Option<DateTime<Utc>>,
    /// The series rule, on every occurrence of a series.
    pub rrule: Option<String>,
    /// The rule's DTSTART (the series' first planned start, even when that
    /// occurrence was left out), on every occurrence of a series.
    pub series_start: Option<DateTime<Utc>>,
    /// Whether this occurrence was edited apart from its series.
    pub detached: bool,
    /// Bumped on every change people must hear about (iCal SEQUENCE).
    pub sequence: u32,
    pub check_in_code: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Event {
    /// The seat limit in force: the smaller of the event's and the venue's.
    pub fn seat_limit(&self, venue_capacity: Option<u32>) -> Option<u32> {
        match (self.capacity, venue_capacity.filter(|c| *c > 0)) {
            (0, v) => v,
            (c, Some(v)) => Some(c.min(v)),
            (c, None) => Some(c),
        }
    }
}

/// Counts kept beside an event for lists and capacity decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatCounts {
    pub accepted: u32,
    pub waitlisted: u32,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub cluster_id: Option<Uuid>,
    pub kind: Option<EventKind>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub academic_year: Option<i32>,
    pub include_drafts: bool,
    pub include_cancelled: bool,
    /// Only events this person is invited to or responded to.
    pub person_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rsvp {
    pub event_id: Uuid,
    pub person_id: Uuid,
    pub status: RsvpStatus,
    /// Order on the waiting list (time of joining it); `None` when not waiting.
    pub waitlisted_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendance {
    pub event_id: Uuid,
    pub person_id: Uuid,
    pub status: AttendanceStatus,
    /// "owner" or "check_in".
    pub method: String,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// Per-tenant programme rules (see `compliance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSettings {
    pub min_network_meetings: u32,
    pub require_trained_scorers: bool,
    pub require_leader_sequence: bool,
    pub training_window_days: u32,
}

impl Default for RuleSettings {
    fn default() -> Self {
        Self {
            min_network_meetings: 2,
            require_trained_scorers: true,
            require_leader_sequence: true,
            training_window_days: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Material {
    pub id: Uuid,
    pub event_id: Uuid,
    pub title: String,
    pub url: Option<String>,
    /// Key in the object store for uploaded files.
    pub object_key: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub size_bytes: u64,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpenseClaim {
    pub id: Uuid,
    pub event_id: Uuid,
    pub person_id: Uuid,
    /// Minor units.
    pub travel_amount: i64,
    pub subsistence_amount: i64,
    pub currency: String,
    pub description: String,
    pub status: ClaimStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub submitted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct ClaimFilter {
    pub event_id: Option<Uuid>,
    pub status: Option<ClaimStatus>,
    pub person_id: Option<Uuid>,
    pub decided_from: Option<DateTime<Utc>>,
    pub decided_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: Uuid,
    pub text: String,
    pub kind: QuestionKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub question_id: Uuid,
    pub rating: Option<u8>,
    pub text: Option<String>,
}

/// A person's secret calendar feed; only a hash of the secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarFeed {
    pub id: Uuid,
    pub person_id: Uuid,
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}
