//! The programme rules, evaluated per cluster and academic year into a
//! compliance view that says what is met, what is at risk and why.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::academic_year::label;
use super::{Event, EventKind, EventStatus, RuleSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComplianceState {
    Met,
    AtRisk,
    NotMet,
    NotApplicable,
}

impl ComplianceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceState::Met => "met",
            ComplianceState::AtRisk => "at_risk",
            ComplianceState::NotMet => "not_met",
            ComplianceState::NotApplicable => "not_applicable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceItem {
    /// `network_meetings`, `trained_scorers`, `leader_sequence`, `training_window`.
    pub rule: String,
    pub state: ComplianceState,
    pub explanation: String,
    /// People or events concerned.
    pub subjects: Vec<Uuid>,
}

/// Everything the rules look at, gathered by the caller.
#[derive(Debug, Clone)]
pub struct ComplianceInput {
    pub academic_year: i32,
    /// End of the academic year (what "still time" means).
    pub year_ends_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub rules: RuleSettings,
    /// The cluster's network meetings of the year, any status.
    pub network_meetings: Vec<Event>,
    /// People who score in the cluster (teachers of the cluster).
    pub scorers: Vec<Uuid>,
    /// Scoring trainings of the year each scorer attended (present).
    pub scorer_trainings: Vec<(Uuid, Event)>,
    pub leader: Option<Uuid>,
    /// Leader trainings, recording viewings and scoring trainings the leader attended.
    pub leader_attended: Vec<Event>,
    /// The cluster's scoring trainings and scoring sessions of the year, not cancelled.
    pub trainings: Vec<Event>,
    pub sessions: Vec<Event>,
}

/// The four rules, always in this order: `network_meetings`,
/// `trained_scorers`, `leader_sequence`, `training_window`; a rule the
/// tenant switched off is `NotApplicable`.
pub fn evaluate(input: &ComplianceInput) -> Vec<ComplianceItem> {
    vec![
        network_meetings(input),
        trained_scorers(input),
        leader_sequence(input),
        training_window(input),
    ]
}

fn item(
    rule: &str,
    state: ComplianceState,
    explanation: String,
    subjects: Vec<Uuid>,
) -> ComplianceItem {
    ComplianceItem {
        rule: rule.to_string(),
        state,
        explanation,
        subjects,
    }
}

fn not_applicable(rule: &str, why: &str) -> ComplianceItem {
    item(
        rule,
        ComplianceState::NotApplicable,
        why.to_string(),
        Vec::new(),
    )
}

fn severity(state: ComplianceState) -> u8 {
    match state {
        ComplianceState::NotApplicable => 0,
        ComplianceState::Met => 1,
        ComplianceState::AtRisk => 2,
        ComplianceState::NotMet => 3,
    }
}

fn worse(a: ComplianceState, b: ComplianceState) -> ComplianceState {
    if severity(b) > severity(a) { b } else { a }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "14 Oct 2026", the event's local date.
fn day(e: &Event) -> String {
    let tz: Tz = e.time_zone.parse().unwrap_or(Tz::UTC);
    e.starts_at
        .with_timezone(&tz)
        .format("%-d %b %Y")
        .to_string()
}

fn by_start(mut events: Vec<&Event>) -> Vec<&Event> {
    events.sort_by_key(|e| (e.starts_at, e.id));
    events
}

/// At least N published network meetings per cluster and year.
fn network_meetings(input: &ComplianceInput) -> ComplianceItem {
    const RULE: &str = "network_meetings";
    let required = input.rules.min_network_meetings as usize;
    if required == 0 {
        return not_applicable(RULE, "No minimum number of network meetings is set.");
    }
    let meetings = by_start(
        input
            .network_meetings
            .iter()
            .filter(|e| e.kind == EventKind::NetworkMeeting && e.status == EventStatus::Published)
            .collect(),
    );
    let held = meetings.iter().filter(|e| e.ends_at <= input.now).count();
    let total = meetings.len();
    let year = label(input.academic_year);
    let subjects = meetings.iter().map(|e| e.id).collect();

    let (state, explanation) = if held >= required {
        (
            ComplianceState::Met,
            format!(
                "{} held in {year}; at least {required} required.",
                plural(held, "network meeting", "network meetings")
            ),
        )
    } else if input.now >= input.year_ends_at {
        (
            ComplianceState::NotMet,
            format!("Only {held} of the {required} required network meetings were held in {year}."),
        )
    } else if total >= required {
        (
            ComplianceState::AtRisk,
            format!(
                "{total} of {required} required network meetings planned, {held} held so far; \
                 the others still have to take place."
            ),
        )
    } else {
        (
            ComplianceState::NotMet,
            format!(
                "Only {total} of the {required} required network meetings are planned ({held} held); \
                 schedule {} more before the academic year ends.",
                required - total
            ),
        )
    };
    item(RULE, state, explanation, subjects)
}

/// Everyone who scores attended a scoring training this academic year.
fn trained_scorers(input: &ComplianceInput) -> ComplianceItem {
    const RULE: &str = "trained_scorers";
    if !input.rules.require_trained_scorers {
        return not_applicable(
            RULE,
            "Scorers are not required to attend a scoring training.",
        );
    }
    let trained: HashSet<Uuid> = input
        .scorer_trainings
        .iter()
        .filter(|(_, e)| {
            e.kind == EventKind::ScoringTraining
                && e.status != EventStatus::Cancelled
                && e.academic_year == input.academic_year
        })
        .map(|(person, _)| *person)
        .collect();
    let mut seen = HashSet::new();
    let scorers: Vec<Uuid> = input
        .scorers
        .iter()
        .copied()
        .filter(|p| seen.insert(*p))
        .collect();
    let missing: Vec<Uuid> = scorers
        .iter()
        .copied()
        .filter(|p| !trained.contains(p))
        .collect();
    let year = label(input.academic_year);
    let (n, m) = (scorers.len(), missing.len());

    if n == 0 {
        return item(
            RULE,
            ComplianceState::Met,
            "The cluster has no scorers yet.".into(),
            missing,
        );
    }
    if m == 0 {
        let explanation = if n == 1 {
            format!("The cluster's scorer attended a scoring training in {year}.")
        } else {
            format!("All {n} scorers attended a scoring training in {year}.")
        };
        return item(RULE, ComplianceState::Met, explanation, missing);
    }

    let scoring_began = by_start(
        input
            .sessions
            .iter()
            .filter(|e| {
                e.kind == EventKind::ScoringSession
                    && e.status == EventStatus::Published
                    && e.starts_at <= input.now
            })
            .collect(),
    )
    .into_iter()
    .next();
    let next_training = by_start(
        input
            .trainings
            .iter()
            .filter(|e| {
                e.kind == EventKind::ScoringTraining
                    && e.status == EventStatus::Published
                    && e.starts_at > input.now
            })
            .collect(),
    )
    .into_iter()
    .next();
    let who = format!("{m} of {n} scorers");

    let (state, explanation) = if input.now >= input.year_ends_at {
        (
            ComplianceState::NotMet,
            format!("{who} did not attend a scoring training in {year}."),
        )
    } else if let Some(session) = scoring_began {
        (
            ComplianceState::NotMet,
            format!(
                "{who} have not attended a scoring training this year, but scoring began on {}; \
                 they must not score until trained.",
                day(session)
            ),
        )
    } else {
        let next = match next_training {
            Some(t) => format!("the next scoring training is on {}.", day(t)),
            None => "no scoring training is planned.".to_string(),
        };
        (
            ComplianceState::AtRisk,
            format!("{who} have not attended a scoring training yet this year; {next}"),
        )
    };
    item(RULE, state, explanation, missing)
}

enum Prerequisite<'a> {
    Done,
    Missing,
    /// Attended, but only after the local training had begun.
    Late(&'a Event),
}

fn check<'a>(prerequisite: &[&'a Event], local: Option<&Event>) -> Prerequisite<'a> {
    match (prerequisite.first(), local) {
        (None, _) => Prerequisite::Missing,
        (Some(_), None) => Prerequisite::Done,
        (Some(_), Some(l)) if prerequisite.iter().any(|p| p.ends_at <= l.starts_at) => {
            Prerequisite::Done
        }
        (Some(first), Some(_)) => Prerequisite::Late(first),
    }
}

/// The leader's local scoring training comes after their regional leader
/// training and their viewing of the year's scoring-training recording.
///
/// The local trainings are the cluster's scoring trainings the leader
/// attended; when no attendance was recorded for the leader at any (they
/// often run it rather than attend it), all the cluster's scoring trainings.
fn leader_sequence(input: &ComplianceInput) -> ComplianceItem {
    const RULE: &str = "leader_sequence";
    if !input.rules.require_leader_sequence {
        return not_applicable(RULE, "The order of the leader's trainings is not checked.");
    }
    let Some(leader) = input.leader else {
        return not_applicable(RULE, "The cluster has no leader.");
    };
    let of_year =
        |e: &&Event| e.academic_year == input.academic_year && e.status != EventStatus::Cancelled;
    let attended = |kind: EventKind| -> Vec<&Event> {
        by_start(
            input
                .leader_attended
                .iter()
                .filter(of_year)
                .filter(|e| e.kind == kind)
                .collect(),
        )
    };
    let regional = attended(EventKind::LeaderTraining);
    let viewing = attended(EventKind::RecordingViewing);
    let cluster_trainings: Vec<&Event> = by_start(
        input
            .trainings
            .iter()
            .filter(of_year)
            .filter(|e| e.kind == EventKind::ScoringTraining)
            .collect(),
    );
    let cluster_ids: HashSet<Uuid> = cluster_trainings.iter().map(|e| e.id).collect();
    let attended_local: Vec<&Event> = attended(EventKind::ScoringTraining)
        .into_iter()
        .filter(|e| cluster_ids.contains(&e.id))
        .collect();
    let local = if attended_local.is_empty() {
        cluster_trainings.first().copied()
    } else {
        attended_local.first().copied()
    };

    let names = [
        ("the regional leader training", check(&regional, local)),
        (
            "the viewing of the scoring-training recording",
            check(&viewing, local),
        ),
    ];
    let missing: Vec<&str> = names
        .iter()
        .filter(|(_, p)| matches!(p, Prerequisite::Missing))
        .map(|(name, _)| *name)
        .collect();
    let late: Vec<(&str, &Event)> = names
        .iter()
        .filter_map(|(name, p)| match p {
            Prerequisite::Late(e) => Some((*name, *e)),
            _ => None,
        })
        .collect();

    let year_over = input.now >= input.year_ends_at;
    let mut subjects = vec![leader];
    if missing.is_empty() && late.is_empty() {
        let explanation = match local {
            Some(l) => format!(
                "The local scoring training on {} comes after the leader's regional leader training \
                 and recording viewing.",
                day(l)
            ),
            None => "The leader attended the regional leader training and the recording viewing; \
                     the local scoring training can follow."
                .to_string(),
        };
        return item(RULE, ComplianceState::Met, explanation, subjects);
    }

    let mut sentences = Vec::new();
    let mut state = ComplianceState::Met;
    let begun = local.is_some_and(|l| l.starts_at <= input.now);
    if !missing.is_empty() {
        let what = missing.join(" or ");
        match local {
            Some(l) if begun || year_over => {
                state = worse(state, ComplianceState::NotMet);
                sentences.push(format!(
                    "The local scoring training on {} took place before the leader attended {what}.",
                    day(l)
                ));
            }
            Some(l) => {
                state = worse(state, ComplianceState::AtRisk);
                sentences.push(format!(
                    "The leader has not yet attended {what}, which must come before the local \
                     scoring training on {}.",
                    day(l)
                ));
            }
            None if year_over => {
                state = worse(state, ComplianceState::NotMet);
                sentences.push(format!("The leader did not attend {what} this year."));
            }
            None => {
                state = worse(state, ComplianceState::AtRisk);
                sentences.push(format!(
                    "The leader has not yet attended {what}, which must come before the local \
                     scoring training."
                ));
            }
        }
    }
    if let Some(l) = local {
        for (name, e) in &late {
            state = worse(
                state,
                if begun || year_over {
                    ComplianceState::NotMet
                } else {
                    ComplianceState::AtRisk
                },
            );
            let mut name = name.to_string();
            if let Some(first) = name.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            sentences.push(format!(
                "{name} ({}) came after the local scoring training on {}.",
                day(e),
                day(l)
            ));
        }
        subjects.push(l.id);
    }
    item(RULE, state, sentences.join(" "), subjects)
}

/// Each scoring session has a scoring training preparing for it that
/// starts at most N days before it (and before it, not after).
fn training_window(input: &ComplianceInput) -> ComplianceItem {
    const RULE: &str = "training_window";
    let days = input.rules.training_window_days;
    if days == 0 {
        return not_applicable(RULE, "No training window before scoring sessions is set.");
    }
    let window = Duration::days(i64::from(days));
    let sessions = by_start(
        input
            .sessions
            .iter()
            .filter(|e| e.kind == EventKind::ScoringSession && e.status != EventStatus::Cancelled)
            .collect(),
    );
    if sessions.is_empty() {
        return item(
            RULE,
            ComplianceState::Met,
            "No scoring sessions are scheduled this year yet.".into(),
            Vec::new(),
        );
    }

    let mut state = ComplianceState::Met;
    let mut sentences = Vec::new();
    let mut subjects = Vec::new();
    for session in &sessions {
        let preparing = by_start(
            input
                .trainings
                .iter()
                .filter(|t| {
                    t.kind == EventKind::ScoringTraining
                        && t.status != EventStatus::Cancelled
                        && t.prepares_for_event_id == Some(session.id)
                })
                .collect(),
        );
        let in_window = |t: &&&Event| {
            t.starts_at < session.starts_at && session.starts_at - t.starts_at <= window
        };
        if preparing.iter().any(|t| in_window(&t)) {
            continue;
        }
        let session_begun = session.starts_at <= input.now;
        subjects.push(session.id);
        if preparing.is_empty() {
            if session_begun {
                state = worse(state, ComplianceState::NotMet);
                sentences.push(format!(
                    "No scoring training prepared for the scoring session on {}.",
                    day(session)
                ));
            } else {
                state = worse(state, ComplianceState::AtRisk);
                sentences.push(format!(
                    "No scoring training is planned yet for the scoring session on {}; \
                     hold one in the {days} days before it.",
                    day(session)
                ));
            }
            continue;
        }
        // Trainings exist but none is in the window: fixable while one of them
        // (and the session) is still ahead.
        let fixable = !session_begun && preparing.iter().any(|t| t.starts_at > input.now);
        state = worse(
            state,
            if fixable {
                ComplianceState::AtRisk
            } else {
                ComplianceState::NotMet
            },
        );
        // The training nearest to the session tells the clearest story.
        let nearest = preparing
            .iter()
            .min_by_key(|t| (session.starts_at - t.starts_at).abs())
            .expect("not empty");
        if nearest.starts_at >= session.starts_at {
            sentences.push(format!(
                "The scoring training for the session on {} is on {}, after the session has begun.",
                day(session),
                day(nearest)
            ));
        } else {
            // Whole days, rounded up: 30 days and an hour is more than 30 days.
            let gap = ((session.starts_at - nearest.starts_at).num_seconds() + 86_399) / 86_400;
            sentences.push(format!(
                "The scoring training for the session on {} is on {}, {gap} days before it; \
                 at most {days} days are allowed.",
                day(session),
                day(nearest)
            ));
        }
    }
    if sentences.is_empty() {
        let explanation = if sessions.len() == 1 {
            format!("The scoring session has a scoring training in the {days} days before it.")
        } else {
            format!(
                "Each of the {} scoring sessions has a scoring training in the {days} days before it.",
                sessions.len()
            )
        };
        return item(RULE, ComplianceState::Met, explanation, subjects);
    }
    item(RULE, state, sentences.join(" "), subjects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn ev(n: u128, kind: EventKind, start: &str) -> Event {
        let starts_at = utc(start);
        Event {
            id: id(n),
            kind,
            cluster_id: Some(id(9000)),
            title: kind.as_str().into(),
            agenda: String::new(),
            starts_at,
            ends_at: starts_at + Duration::hours(3),
            time_zone: "America/Chicago".into(),
            venue_id: None,
            online_url: None,
            capacity: 0,
            status: EventStatus::Published,
            academic_year: 2026,
            approval_required: false,
            training_hours: if kind == EventKind::ScoringTraining {
                3
            } else {
                0
            },
            prepares_for_event_id: None,
            series_id: None,
            recurrence_id: None,
            rrule: None,
            series_start: None,
            detached: false,
            sequence: 0,
            check_in_code: String::new(),
            created_by: "p".into(),
            created_at: starts_at,
            updated_at: starts_at,
        }
    }

    /// Mid-year (1 December 2026), all rules on, nothing recorded.
    fn input() -> ComplianceInput {
        ComplianceInput {
            academic_year: 2026,
            year_ends_at: utc("2027-08-01T05:00:00Z"),
            now: utc("2026-12-01T12:00:00Z"),
            rules: RuleSettings::default(),
            network_meetings: vec![],
            scorers: vec![],
            scorer_trainings: vec![],
            leader: None,
            leader_attended: vec![],
            trainings: vec![],
            sessions: vec![],
        }
    }

    fn rule<'a>(items: &'a [ComplianceItem], name: &str) -> &'a ComplianceItem {
        items.iter().find(|i| i.rule == name).unwrap()
    }

    fn check(input: &ComplianceInput, name: &str) -> ComplianceItem {
        rule(&evaluate(input), name).clone()
    }

    #[test]
    fn items_come_in_a_fixed_order() {
        let rules: Vec<String> = evaluate(&input()).into_iter().map(|i| i.rule).collect();
        assert_eq!(
            rules,
            [
                "network_meetings",
                "trained_scorers",
                "leader_sequence",
                "training_window"
            ]
        );
    }

    #[test]
    fn switched_off_rules_are_not_applicable() {
        let mut i = input();
        i.rules = RuleSettings {
            min_network_meetings: 0,
            require_trained_scorers: false,
            require_leader_sequence: false,
            training_window_days: 0,
        };
        i.leader = Some(id(1));
        for item in evaluate(&i) {
            assert_eq!(item.state, ComplianceState::NotApplicable, "{}", item.rule);
            assert!(!item.explanation.is_empty());
        }
    }

    // ---- network meetings ----

    #[test]
    fn meetings_held_meet_the_rule() {
        let mut i = input();
        i.network_meetings = vec![
            ev(1, EventKind::NetworkMeeting, "2026-09-10T21:00:00Z"),
            ev(2, EventKind::NetworkMeeting, "2026-11-10T22:00:00Z"),
        ];
        let item = check(&i, "network_meetings");
        assert_eq!(item.state, ComplianceState::Met);
        assert_eq!(
            item.explanation,
            "2 network meetings held in 2026/27; at least 2 required."
        );
        assert_eq!(item.subjects, [id(1), id(2)]);
    }

    #[test]
    fn planned_but_not_yet_held_is_at_risk() {
        let mut i = input();
        i.network_meetings = vec![
            ev(1, EventKind::NetworkMeeting, "2026-09-10T21:00:00Z"),
            ev(2, EventKind::NetworkMeeting, "2027-03-10T22:00:00Z"),
        ];
        let item = check(&i, "network_meetings");
        assert_eq!(item.state, ComplianceState::AtRisk);
        assert!(
            item.explanation
                .starts_with("2 of 2 required network meetings planned, 1 held"),
            "{}",
            item.explanation
        );
    }

    #[test]
    fn too_few_planned_is_not_met_even_mid_year() {
        let mut i = input();
        let mut draft = ev(2, EventKind::NetworkMeeting, "2027-03-10T22:00:00Z");
        draft.status = EventStatus::Draft;
        let mut cancelled = ev(3, EventKind::NetworkMeeting, "2027-04-10T22:00:00Z");
        cancelled.status = EventStatus::Cancelled;
        i.network_meetings = vec![
            ev(1, EventKind::NetworkMeeting, "2026-09-10T21:00:00Z"),
            draft,
            cancelled,
        ];
        let item = check(&i, "network_meetings");
        assert_eq!(item.state, ComplianceState::NotMet);
        assert!(
            item.explanation.contains("schedule 1 more"),
            "{}",
            item.explanation
        );
        assert_eq!(item.subjects, [id(1)]);
    }

    #[test]
    fn after_the_year_ends_unheld_meetings_are_not_met() {
        let mut i = input();
        i.network_meetings = vec![ev(1, EventKind::NetworkMeeting, "2026-09-10T21:00:00Z")];
        i.now = i.year_ends_at;
        let item = check(&i, "network_meetings");
        assert_eq!(item.state, ComplianceState::NotMet);
        assert_eq!(
            item.explanation,
            "Only 1 of the 2 required network meetings were held in 2026/27."
        );
    }

    #[test]
    fn a_meeting_under_way_is_not_yet_held() {
        let mut i = input();
        i.rules.min_network_meetings = 1;
        i.network_meetings = vec![ev(1, EventKind::NetworkMeeting, "2026-12-01T11:00:00Z")];
        assert_eq!(check(&i, "network_meetings").state, ComplianceState::AtRisk);
        i.now = utc("2026-12-01T14:00:00Z");
        assert_eq!(check(&i, "network_meetings").state, ComplianceState::Met);
    }

    // ---- trained scorers ----

    fn trained(i: &mut ComplianceInput, person: u128, training: &Event) {
        i.scorer_trainings.push((id(person), training.clone()));
    }

    #[test]
    fn all_scorers_trained_is_met() {
        let mut i = input();
        i.scorers = vec![id(1), id(2)];
        let t = ev(50, EventKind::ScoringTraining, "2026-10-01T14:00:00Z");
        trained(&mut i, 1, &t);
        trained(&mut i, 2, &t);
        let item = check(&i, "trained_scorers");
        assert_eq!(item.state, ComplianceState::Met);
        assert_eq!(
            item.explanation,
            "All 2 scorers attended a scoring training in 2026/27."
        );
        assert!(item.subjects.is_empty());
    }

    #[test]
    fn no_scorers_is_met() {
        let item = check(&input(), "trained_scorers");
        assert_eq!(item.state, ComplianceState::Met);
        assert_eq!(item.explanation, "The cluster has no scorers yet.");
    }

    #[test]
    fn untrained_scorers_mid_year_are_at_risk_and_named() {
        let mut i = input();
        i.scorers = vec![id(1), id(2), id(3), id(2)];
        trained(
            &mut i,
            1,
            &ev(50, EventKind::ScoringTraining, "2026-10-01T14:00:00Z"),
        );
        // Last year's training and a leader training do not count.
        let mut last_year = ev(51, EventKind::ScoringTraining, "2025-10-01T14:00:00Z");
        last_year.academic_year = 2025;
        trained(&mut i, 2, &last_year);
        trained(
            &mut i,
            3,
            &ev(52, EventKind::LeaderTraining, "2026-10-01T14:00:00Z"),
        );
        i.trainings = vec![ev(53, EventKind::ScoringTraining, "2027-01-20T15:00:00Z")];
        let item = check(&i, "trained_scorers");
        assert_eq!(item.state, ComplianceState::AtRisk);
        assert_eq!(item.subjects, [id(2), id(3)]);
        assert_eq!(
            item.explanation,
            "2 of 3 scorers have not attended a scoring training yet this year; \
             the next scoring training is on 20 Jan 2027."
        );
    }

    #[test]
    fn untrained_scorers_without_a_planned_training_say_so() {
        let mut i = input();
        i.scorers = vec![id(1)];
        let item = check(&i, "trained_scorers");
        assert_eq!(item.state, ComplianceState::AtRisk);
        assert!(
            item.explanation
                .ends_with("no scoring training is planned."),
            "{}",
            item.explanation
        );
    }

    #[test]
    fn untrained_scorers_once_scoring_began_are_not_met() {
        let mut i = input();
        i.scorers = vec![id(1)];
        i.sessions = vec![ev(60, EventKind::ScoringSession, "2026-11-20T15:00:00Z")];
        let item = check(&i, "trained_scorers");
        assert_eq!(item.state, ComplianceState::NotMet);
        assert!(
            item.explanation.contains("scoring began on 20 Nov 2026"),
            "{}",
            item.explanation
        );
        // A draft session does not count as scoring having begun.
        i.sessions[0].status = EventStatus::Draft;
        assert_eq!(check(&i, "trained_scorers").state, ComplianceState::AtRisk);
    }

    #[test]
    fn untrained_scorers_after_the_year_are_not_met() {
        let mut i = input();
        i.scorers = vec![id(1), id(2)];
        trained(
            &mut i,
            1,
            &ev(50, EventKind::ScoringTraining, "2026-10-01T14:00:00Z"),
        );
        i.now = utc("2027-08-02T00:00:00Z");
        let item = check(&i, "trained_scorers");
        assert_eq!(item.state, ComplianceState::NotMet);
        assert_eq!(
            item.explanation,
            "1 of 2 scorers did not attend a scoring training in 2026/27."
        );
        assert_eq!(item.subjects, [id(2)]);
    }

    // ---- leader sequence ----

    fn with_leader() -> ComplianceInput {
        let mut i = input();
        i.leader = Some(id(1));
        i
    }

    #[test]
    fn no_leader_is_not_applicable() {
        assert_eq!(
            check(&input(), "leader_sequence").state,
            ComplianceState::NotApplicable
        );
    }

    #[test]
    fn the_right_order_is_met() {
        let mut i = with_leader();
        let local = ev(30, EventKind::ScoringTraining, "2026-10-20T14:00:00Z");
        i.leader_attended = vec![
            ev(10, EventKind::LeaderTraining, "2026-09-05T14:00:00Z"),
            ev(20, EventKind::RecordingViewing, "2026-09-15T14:00:00Z"),
            local.clone(),
        ];
        i.trainings = vec![local];
        let item = check(&i, "leader_sequence");
        assert_eq!(item.state, ComplianceState::Met);
        assert!(
            item.explanation.contains("20 Oct 2026"),
            "{}",
            item.explanation
        );
        assert_eq!(item.subjects, [id(1)]);
    }

    #[test]
    fn the_leader_need_not_be_recorded_at_their_own_training() {
        let mut i = with_leader();
        i.leader_attended = vec![
            ev(10, EventKind::LeaderTraining, "2026-09-05T14:00:00Z"),
            ev(20, EventKind::RecordingViewing, "2026-09-15T14:00:00Z"),
        ];
        i.trainings = vec![ev(30, EventKind::ScoringTraining, "2026-09-10T14:00:00Z")];
        // The cluster's training on 10 Sep came before the viewing on 15 Sep.
        let item = check(&i, "leader_sequence");
        assert_eq!(item.state, ComplianceState::NotMet);
        assert_eq!(
            item.explanation,
            "The viewing of the scoring-training recording (15 Sep 2026) came after the local \
             scoring training on 10 Sep 2026."
        );
        assert_eq!(item.subjects, [id(1), id(30)]);
    }

    #[test]
    fn prerequisites_done_and_no_local_training_yet_is_met() {
        let mut i = with_leader();
        i.leader_attended = vec![
            ev(10, EventKind::LeaderTraining, "2026-09-05T14:00:00Z"),
            ev(20, EventKind::RecordingViewing, "2026-09-15T14:00:00Z"),
        ];
        let item = check(&i, "leader_sequence");
        assert_eq!(item.state, ComplianceState::Met);
        assert!(item.explanation.contains("can follow"));
    }

    #[test]
    fn a_missing_prerequisite_before_a_future_local_training_is_at_risk() {
        let mut i = with_leader();
        i.leader_attended = vec![ev(10, EventKind::LeaderTraining, "2026-09-05T14:00:00Z")];
        i.trainings = vec![ev(30, EventKind::ScoringTraining, "2027-01-20T15:00:00Z")];
        let item = check(&i, "leader_sequence");
        assert_eq!(item.state, ComplianceState::AtRisk);
        assert_eq!(
            item.explanation,
            "The leader has not yet attended the viewing of the scoring-training recording, which \
             must come before the local scoring training on 20 Jan 2027."
        );
    }

    #[test]
    fn a_local_training_held_before_a_missing_prerequisite_is_not_met() {
        let mut i = with_leader();
        i.trainings = vec![ev(30, EventKind::ScoringTraining, "2026-10-20T14:00:00Z")];
        let item = check(&i, "leader_sequence");
        assert_eq!(item.state, ComplianceState::NotMet);
        assert_eq!(
            item.explanation,
            "The local scoring training on 20 Oct 2026 took place before the leader attended the \
             regional leader training or the viewing of the scoring-training recording."
        );
    }

    #[test]
    fn missing_prerequisites_without_a_local_training() {
        let mut i = with_leader();
        let item = check(&i, "leader_sequence");
        assert_eq!(item.state, ComplianceState::AtRisk);
        assert!(
            item.explanation
                .starts_with("The leader has not yet attended the regional leader training")
        );
        i.now = utc("2027-09-01T00:00:00Z");
        let item = check(&i, "leader_sequence");
        assert_eq!(item.state, ComplianceState::NotMet);
        assert!(item.explanation.starts_with("The leader did not attend"));
    }

    #[test]
    fn prerequisites_of_another_year_or_cancelled_do_not_count() {
        let mut i = with_leader();
        let mut old = ev(10, EventKind::LeaderTraining, "2025-09-05T14:00:00Z");
        old.academic_year = 2025;
        let mut cancelled = ev(20, EventKind::RecordingViewing, "2026-09-15T14:00:00Z");
        cancelled.status = EventStatus::Cancelled;
        i.leader_attended = vec![old, cancelled];
        let item = check(&i, "leader_sequence");
        assert_eq!(item.state, ComplianceState::AtRisk);
        assert!(
            item.explanation
                .contains("regional leader training or the viewing")
        );
    }

    #[test]
    fn only_the_clusters_trainings_are_local() {
        let mut i = with_leader();
        // The leader attended another cluster's training before their prerequisites…
        i.leader_attended = vec![
            ev(40, EventKind::ScoringTraining, "2026-08-20T14:00:00Z"),
            ev(10, EventKind::LeaderTraining, "2026-09-05T14:00:00Z"),
            ev(20, EventKind::RecordingViewing, "2026-09-15T14:00:00Z"),
            ev(30, EventKind::ScoringTraining, "2026-10-20T14:00:00Z"),
        ];
        // …but only their own cluster's (30) is checked.
        i.trainings = vec![ev(30, EventKind::ScoringTraining, "2026-10-20T14:00:00Z")];
        assert_eq!(check(&i, "leader_sequence").state, ComplianceState::Met);
    }

    #[test]
    fn a_prerequisite_overlapping_the_local_training_is_out_of_order() {
        let mut i = with_leader();
        i.leader_attended = vec![
            ev(10, EventKind::LeaderTraining, "2026-10-20T13:00:00Z"),
            ev(20, EventKind::RecordingViewing, "2026-09-15T14:00:00Z"),
        ];
        i.trainings = vec![ev(30, EventKind::ScoringTraining, "2026-10-20T14:00:00Z")];
        let item = check(&i, "leader_sequence");
        assert_eq!(item.state, ComplianceState::NotMet);
        assert!(
            item.explanation
                .starts_with("The regional leader training (20 Oct 2026) came after")
        );
    }

    // ---- training window ----

    fn training_for(n: u128, session: &Event, start: &str) -> Event {
        let mut t = ev(n, EventKind::ScoringTraining, start);
        t.prepares_for_event_id = Some(session.id);
        t
    }

    #[test]
    fn a_training_inside_the_window_is_met() {
        let mut i = input();
        let s = ev(60, EventKind::ScoringSession, "2027-02-10T15:00:00Z");
        i.trainings = vec![training_for(30, &s, "2027-01-20T15:00:00Z")];
        i.sessions = vec![s];
        let item = check(&i, "training_window");
        assert_eq!(item.state, ComplianceState::Met);
        assert_eq!(
            item.explanation,
            "The scoring session has a scoring training in the 30 days before it."
        );
    }

    #[test]
    fn exactly_the_window_is_allowed_one_second_more_is_not() {
        let mut i = input();
        let s = ev(60, EventKind::ScoringSession, "2027-02-10T15:00:00Z");
        i.trainings = vec![training_for(30, &s, "2027-01-11T15:00:00Z")];
        i.sessions = vec![s];
        assert_eq!(check(&i, "training_window").state, ComplianceState::Met);
        i.trainings[0].starts_at -= Duration::seconds(1);
        let item = check(&i, "training_window");
        assert_eq!(item.state, ComplianceState::AtRisk);
        assert!(
            item.explanation.contains("31 days before it; at most 30"),
            "{}",
            item.explanation
        );
        assert_eq!(item.subjects, [id(60)]);
    }

    #[test]
    fn a_training_after_the_session_does_not_count() {
        let mut i = input();
        let s = ev(60, EventKind::ScoringSession, "2026-11-10T15:00:00Z");
        i.trainings = vec![training_for(30, &s, "2026-11-12T15:00:00Z")];
        i.sessions = vec![s];
        let item = check(&i, "training_window");
        assert_eq!(item.state, ComplianceState::NotMet);
        assert!(
            item.explanation.contains("after the session has begun"),
            "{}",
            item.explanation
        );
    }

    #[test]
    fn a_training_held_too_early_is_not_met() {
        let mut i = input();
        let s = ev(60, EventKind::ScoringSession, "2027-02-10T15:00:00Z");
        // Already held, 3 months ahead: cannot be fixed by moving it.
        i.trainings = vec![training_for(30, &s, "2026-11-10T15:00:00Z")];
        i.sessions = vec![s];
        assert_eq!(check(&i, "training_window").state, ComplianceState::NotMet);
    }

    #[test]
    fn sessions_without_a_training() {
        let mut i = input();
        i.sessions = vec![ev(60, EventKind::ScoringSession, "2027-02-10T15:00:00Z")];
        let item = check(&i, "training_window");
        assert_eq!(item.state, ComplianceState::AtRisk);
        assert!(item.explanation.starts_with(
            "No scoring training is planned yet for the scoring session on 10 Feb 2027"
        ));
        i.now = utc("2027-02-11T00:00:00Z");
        let item = check(&i, "training_window");
        assert_eq!(item.state, ComplianceState::NotMet);
        assert_eq!(
            item.explanation,
            "No scoring training prepared for the scoring session on 10 Feb 2027."
        );
    }

    #[test]
    fn cancelled_trainings_and_sessions_are_ignored() {
        let mut i = input();
        let s = ev(60, EventKind::ScoringSession, "2027-02-10T15:00:00Z");
        let mut t = training_for(30, &s, "2027-01-20T15:00:00Z");
        t.status = EventStatus::Cancelled;
        i.trainings = vec![t];
        let mut gone = ev(61, EventKind::ScoringSession, "2026-11-10T15:00:00Z");
        gone.status = EventStatus::Cancelled;
        i.sessions = vec![s, gone];
        let item = check(&i, "training_window");
        assert_eq!(item.state, ComplianceState::AtRisk);
        assert_eq!(item.subjects, [id(60)]);
    }

    #[test]
    fn the_worst_session_decides_and_every_problem_is_explained() {
        let mut i = input();
        let fine = ev(60, EventKind::ScoringSession, "2027-02-10T15:00:00Z");
        let missed = ev(61, EventKind::ScoringSession, "2026-11-10T15:00:00Z");
        let pending = ev(62, EventKind::ScoringSession, "2027-04-10T15:00:00Z");
        i.trainings = vec![training_for(30, &fine, "2027-02-01T15:00:00Z")];
        i.sessions = vec![pending, fine, missed];
        let item = check(&i, "training_window");
        assert_eq!(item.state, ComplianceState::NotMet);
        assert_eq!(item.subjects, [id(61), id(62)]);
        assert!(
            item.explanation.contains("10 Nov 2026") && item.explanation.contains("10 Apr 2027")
        );
    }

    #[test]
    fn no_sessions_is_met() {
        let item = check(&input(), "training_window");
        assert_eq!(item.state, ComplianceState::Met);
    }

    #[test]
    fn the_window_is_configurable() {
        let mut i = input();
        i.rules.training_window_days = 7;
        let s = ev(60, EventKind::ScoringSession, "2027-02-10T15:00:00Z");
        i.trainings = vec![training_for(30, &s, "2027-01-20T15:00:00Z")];
        i.sessions = vec![s];
        assert_eq!(check(&i, "training_window").state, ComplianceState::AtRisk);
        i.rules.training_window_days = 21;
        assert_eq!(check(&i, "training_window").state, ComplianceState::Met);
    }
}
