//! Proto ↔ domain conversions and the parsing of request fields; every
//! parse error names the field as the caller spelled it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use collegium_proto::scheduling::v1 as pb;
use platform::{
    auth::Role,
    error::{Error, Result, Violations},
};
use uuid::Uuid;

use crate::{domain, membership::Audience};

pub use platform::fields::{id, ids, opt_instant, page, page_info, ts};

pub fn opt_id(field: &str, value: &Option<String>) -> Result<Option<Uuid>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => id(field, v).map(Some),
    }
}

pub fn instant(field: &str, value: &str) -> Result<DateTime<Utc>> {
    opt_instant(field, value)?.ok_or_else(|| Error::invalid(field, "required"))
}

pub fn zone(field: &str, value: &str) -> Result<Tz> {
    value
        .trim()
        .parse::<Tz>()
        .map_err(|_| Error::invalid(field, format!("unknown IANA time zone {value:?}")))
}

pub fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Moves the violations of a failed parse into `v`; `None` then.
pub fn collect<T>(v: &mut Violations, r: Result<T>) -> Option<T> {
    match r {
        Ok(x) => Some(x),
        Err(Error::InvalidInput(fields)) => {
            for f in fields {
                v.add(f.field, f.description);
            }
            None
        }
        Err(other) => {
            // Only parse errors reach here; anything else is reported as-is.
            v.add("request", other.to_string());
            None
        }
    }
}

pub fn kind_in(field: &str, k: i32) -> Result<domain::EventKind> {
    use domain::EventKind as K;
    match pb::EventKind::try_from(k) {
        Ok(pb::EventKind::ScoringTraining) => Ok(K::ScoringTraining),
        Ok(pb::EventKind::LeaderTraining) => Ok(K::LeaderTraining),
        Ok(pb::EventKind::RecordingViewing) => Ok(K::RecordingViewing),
        Ok(pb::EventKind::NetworkMeeting) => Ok(K::NetworkMeeting),
        Ok(pb::EventKind::ScoringSession) => Ok(K::ScoringSession),
        Ok(pb::EventKind::PanelMeeting) => Ok(K::PanelMeeting),
        Ok(pb::EventKind::StudyGroup) => Ok(K::StudyGroup),
        _ => Err(Error::invalid(field, "choose an event kind")),
    }
}

pub fn kind_out(k: domain::EventKind) -> pb::EventKind {
    use domain::EventKind as K;
    match k {
        K::ScoringTraining => pb::EventKind::ScoringTraining,
        K::LeaderTraining => pb::EventKind::LeaderTraining,
        K::RecordingViewing => pb::EventKind::RecordingViewing,
        K::NetworkMeeting => pb::EventKind::NetworkMeeting,
        K::ScoringSession => pb::EventKind::ScoringSession,
        K::PanelMeeting => pb::EventKind::PanelMeeting,
        K::StudyGroup => pb::EventKind::StudyGroup,
    }
}

pub fn status_out(s: domain::EventStatus) -> pb::EventStatus {
    match s {
        domain::EventStatus::Draft => pb::EventStatus::Draft,
        domain::EventStatus::Published => pb::EventStatus::Published,
        domain::EventStatus::Cancelled => pb::EventStatus::Cancelled,
    }
}

pub fn rsvp_status_in(field: &str, s: i32) -> Result<domain::RsvpStatus> {
    use domain::RsvpStatus as S;
    match pb::RsvpStatus::try_from(s) {
        Ok(pb::RsvpStatus::Invited) => Ok(S::Invited),
        Ok(pb::RsvpStatus::Accepted) => Ok(S::Accepted),
        Ok(pb::RsvpStatus::Declined) => Ok(S::Declined),
        Ok(pb::RsvpStatus::Tentative) => Ok(S::Tentative),
        Ok(pb::RsvpStatus::Waitlisted) => Ok(S::Waitlisted),
        Ok(pb::RsvpStatus::PendingApproval) => Ok(S::PendingApproval),
        _ => Err(Error::invalid(field, "choose an RSVP status")),
    }
}

pub fn rsvp_status_out(s: domain::RsvpStatus) -> pb::RsvpStatus {
    use domain::RsvpStatus as S;
    match s {
        S::Invited => pb::RsvpStatus::Invited,
        S::Accepted => pb::RsvpStatus::Accepted,
        S::Declined => pb::RsvpStatus::Declined,
        S::Tentative => pb::RsvpStatus::Tentative,
        S::Waitlisted => pb::RsvpStatus::Waitlisted,
        S::PendingApproval => pb::RsvpStatus::PendingApproval,
    }
}

pub fn attendance_status_in(field: &str, s: i32) -> Result<domain::AttendanceStatus> {
    match pb::AttendanceStatus::try_from(s) {
        Ok(pb::AttendanceStatus::Present) => Ok(domain::AttendanceStatus::Present),
        Ok(pb::AttendanceStatus::NoShow) => Ok(domain::AttendanceStatus::NoShow),
        _ => Err(Error::invalid(field, "choose present or no_show")),
    }
}

pub fn attendance_out(a: domain::Attendance) -> pb::Attendance {
    pb::Attendance {
        event_id: a.event_id.to_string(),
        person_id: a.person_id.to_string(),
        status: match a.status {
            domain::AttendanceStatus::Present => pb::AttendanceStatus::Present,
            domain::AttendanceStatus::NoShow => pb::AttendanceStatus::NoShow,
        } as i32,
        method: a.method,
        recorded_by: a.recorded_by,
        recorded_at: ts(a.recorded_at),
    }
}

pub fn claim_status_in(field: &str, s: i32) -> Result<domain::ClaimStatus> {
    match pb::ClaimStatus::try_from(s) {
        Ok(pb::ClaimStatus::Submitted) => Ok(domain::ClaimStatus::Submitted),
        Ok(pb::ClaimStatus::Approved) => Ok(domain::ClaimStatus::Approved),
        Ok(pb::ClaimStatus::Rejected) => Ok(domain::ClaimStatus::Rejected),
        _ => Err(Error::invalid(field, "choose a claim status")),
    }
}

pub fn claim_out(c: domain::ExpenseClaim) -> pb::ExpenseClaim {
    pb::ExpenseClaim {
        id: c.id.to_string(),
        event_id: c.event_id.to_string(),
        person_id: c.person_id.to_string(),
        travel_amount: c.travel_amount,
        subsistence_amount: c.subsistence_amount,
        currency: c.currency,
        description: c.description,
        status: match c.status {
            domain::ClaimStatus::Submitted => pb::ClaimStatus::Submitted,
            domain::ClaimStatus::Approved => pb::ClaimStatus::Approved,
            domain::ClaimStatus::Rejected => pb::ClaimStatus::Rejected,
        } as i32,
        decided_by: c.decided_by.unwrap_or_default(),
        decided_at: c.decided_at.map(ts).unwrap_or_default(),
        decision_reason: c.decision_reason.unwrap_or_default(),
        submitted_at: ts(c.submitted_at),
    }
}

pub fn venue_out(v: domain::Venue) -> pb::Venue {
    pb::Venue {
        id: v.id.to_string(),
        name: v.name,
        address: v.address,
        capacity: v.capacity,
        buffer_minutes: v.buffer_minutes,
    }
}

pub fn material_out(m: domain::Material) -> pb::Material {
    pb::Material {
        id: m.id.to_string(),
        event_id: m.event_id.to_string(),
        title: m.title,
        url: m.url.unwrap_or_default(),
        file_name: m.file_name.unwrap_or_default(),
        content_type: m.content_type.unwrap_or_default(),
        size_bytes: m.size_bytes,
        added_by: m.added_by,
        added_at: ts(m.added_at),
    }
}

pub fn question_kind_in(field: &str, k: i32) -> Result<domain::QuestionKind> {
    match pb::QuestionKind::try_from(k) {
        Ok(pb::QuestionKind::Rating) => Ok(domain::QuestionKind::Rating),
        Ok(pb::QuestionKind::Text) => Ok(domain::QuestionKind::Text),
        _ => Err(Error::invalid(field, "choose rating or text")),
    }
}

pub fn question_out(q: domain::Question) -> pb::Question {
    pb::Question {
        id: q.id.to_string(),
        text: q.text,
        kind: match q.kind {
            domain::QuestionKind::Rating => pb::QuestionKind::Rating,
            domain::QuestionKind::Text => pb::QuestionKind::Text,
        } as i32,
    }
}

pub fn compliance_out(item: domain::compliance::ComplianceItem) -> pb::ComplianceItem {
    use domain::compliance::ComplianceState as S;
    pb::ComplianceItem {
        rule: item.rule,
        state: match item.state {
            S::Met => pb::ComplianceState::Met,
            S::AtRisk => pb::ComplianceState::AtRisk,
            S::NotMet => pb::ComplianceState::NotMet,
            S::NotApplicable => pb::ComplianceState::NotApplicable,
        } as i32,
        explanation: item.explanation,
        subjects: item.subjects.iter().map(Uuid::to_string).collect(),
    }
}

pub fn rules_out(r: domain::RuleSettings) -> pb::RuleSettings {
    pb::RuleSettings {
        min_network_meetings: r.min_network_meetings,
        require_trained_scorers: r.require_trained_scorers,
        require_leader_sequence: r.require_leader_sequence,
        training_window_days: r.training_window_days,
    }
}

/// The event as the caller may see it: the check-in code only for those who
/// manage it, the seat counts from the store.
pub fn event_out(e: domain::Event, counts: domain::SeatCounts, show_code: bool) -> pb::Event {
    pb::Event {
        id: e.id.to_string(),
        kind: kind_out(e.kind) as i32,
        cluster_id: e.cluster_id.map(|c| c.to_string()),
        title: e.title,
        agenda: e.agenda,
        starts_at: ts(e.starts_at),
        ends_at: ts(e.ends_at),
        time_zone: e.time_zone,
        venue_id: e.venue_id.map(|v| v.to_string()),
        online_url: e.online_url.unwrap_or_default(),
        capacity: e.capacity,
        status: status_out(e.status) as i32,
        academic_year: e.academic_year,
        approval_required: e.approval_required,
        training_hours: e.training_hours,
        prepares_for_event_id: e.prepares_for_event_id.map(|p| p.to_string()),
        series_id: e.series_id.map(|s| s.to_string()),
        recurrence_id: e.recurrence_id.map(ts),
        rrule: e.rrule.unwrap_or_default(),
        sequence: e.sequence,
        accepted_count: counts.accepted,
        waitlist_count: counts.waitlisted,
        check_in_code: if show_code {
            e.check_in_code
        } else {
            String::new()
        },
    }
}

/// One audience of an InviteRequest, fields named `audiences[i]…`.
pub fn audience_in(i: usize, a: &pb::Audience) -> Result<Audience> {
    use pb::audience::Audience as A;
    let field = |f: &str| format!("audiences[{i}].{f}");
    match &a.audience {
        Some(A::ClusterId(c)) => Ok(Audience::Cluster(id(&field("cluster_id"), c)?)),
        Some(A::OrganisationId(o)) => Ok(Audience::Organisation(id(&field("organisation_id"), o)?)),
        Some(A::Role(r)) => {
            let role = r.role.trim().parse::<Role>().map_err(|_| {
                Error::invalid(field("role.role"), format!("unknown role {:?}", r.role))
            })?;
            Ok(Audience::Role {
                role,
                cluster: opt_id(&field("role.cluster_id"), &r.cluster_id)?,
            })
        }
        Some(A::People(p)) => {
            if p.person_ids.is_empty() {
                return Err(Error::invalid(
                    field("people.person_ids"),
                    "name at least one person",
                ));
            }
            Ok(Audience::People(
                p.person_ids
                    .iter()
                    .enumerate()
                    .map(|(j, v)| id(&field(&format!("people.person_ids[{j}]")), v))
                    .collect::<Result<_>>()?,
            ))
        }
        None => Err(Error::invalid(
            format!("audiences[{i}]"),
            "name a cluster, an organisation, a role or people",
        )),
    }
}
