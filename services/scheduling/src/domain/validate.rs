//! Input rules; each reports every bad field at once, named as the API spells it.

use std::collections::HashSet;

use chrono::Duration;
use chrono_tz::Tz;
use platform::error::{Result, Violations};

use super::recurrence::MAX_RRULE_LEN;
use super::{Answer, Event, EventKind, ExpenseClaim, Question, QuestionKind, Venue};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_AGENDA_CHARS: usize = 10_000;
pub const MAX_EVENT_DAYS: i64 = 14;
pub const MAX_URL_CHARS: usize = 2_000;
pub const MAX_CAPACITY: u32 = 100_000;
pub const MAX_VENUE_TEXT_CHARS: usize = 500;
pub const MAX_BUFFER_MINUTES: u32 = 720;
/// 10,000.00 in minor units.
pub const MAX_CLAIM_AMOUNT: i64 = 1_000_000;
pub const MAX_CLAIM_DESCRIPTION_CHARS: usize = 2_000;
pub const MAX_QUESTIONS: usize = 20;
pub const MAX_QUESTION_CHARS: usize = 500;
pub const MAX_ANSWER_CHARS: usize = 2_000;

pub fn venue(v: &Venue) -> Result<()> {
    let mut bad = Violations::new();
    required_text(&mut bad, "name", &v.name, MAX_VENUE_TEXT_CHARS);
    max_chars(&mut bad, "address", &v.address, MAX_VENUE_TEXT_CHARS);
    if !(1..=MAX_CAPACITY).contains(&v.capacity) {
        bad.add("capacity", format!("must be between 1 and {MAX_CAPACITY}"));
    }
    if v.buffer_minutes > MAX_BUFFER_MINUTES {
        bad.add(
            "buffer_minutes",
            format!("must be at most {MAX_BUFFER_MINUTES} (12 hours)"),
        );
    }
    bad.finish()
}

/// An event as it is about to be stored (fields named as in CreateEventRequest).
///
/// Neither a venue nor an online link is required: a draft may not have
/// its place yet.
pub fn event(e: &Event) -> Result<()> {
    let mut bad = Violations::new();
    required_text(&mut bad, "title", &e.title, MAX_TITLE_CHARS);
    max_chars(&mut bad, "agenda", &e.agenda, MAX_AGENDA_CHARS);

    if e.ends_at <= e.starts_at {
        bad.add("ends_local", "must be after starts_local");
    } else if e.ends_at - e.starts_at > Duration::days(MAX_EVENT_DAYS) {
        bad.add(
            "ends_local",
            format!("an event may last at most {MAX_EVENT_DAYS} days"),
        );
    }

    if e.time_zone.parse::<Tz>().is_err() {
        bad.add(
            "time_zone",
            format!("unknown IANA time zone \"{}\"", e.time_zone),
        );
    }

    if let Some(url) = e.online_url.as_deref().filter(|u| !u.is_empty())
        && let Err(why) = web_url(url)
    {
        bad.add("online_url", why);
    }

    match e.kind {
        EventKind::ScoringTraining if !matches!(e.training_hours, 3 | 6) => {
            bad.add("training_hours", "a scoring training lasts 3 or 6 hours")
        }
        EventKind::ScoringTraining => {}
        _ if e.training_hours != 0 => bad.add(
            "training_hours",
            "only a scoring training has training hours",
        ),
        _ => {}
    }
    if e.prepares_for_event_id.is_some() && e.kind != EventKind::ScoringTraining {
        bad.add(
            "prepares_for_event_id",
            "only a scoring training prepares for a scoring session",
        );
    }

    if e.capacity > MAX_CAPACITY {
        bad.add("capacity", format!("must be at most {MAX_CAPACITY}"));
    }

    if let Some(rule) = &e.rrule
        && rule.chars().count() > MAX_RRULE_LEN
    {
        bad.add(
            "rrule",
            format!("must be at most {MAX_RRULE_LEN} characters"),
        );
    }
    bad.finish()
}

pub fn claim(c: &ExpenseClaim) -> Result<()> {
    let mut bad = Violations::new();
    for (field, amount) in [
        ("travel_amount", c.travel_amount),
        ("subsistence_amount", c.subsistence_amount),
    ] {
        if amount < 0 {
            bad.add(field, "must not be negative");
        } else if amount > MAX_CLAIM_AMOUNT {
            bad.add(
                field,
                format!("must be at most {MAX_CLAIM_AMOUNT} (10,000.00 in minor units)"),
            );
        }
    }
    if c.travel_amount == 0 && c.subsistence_amount == 0 {
        bad.add(
            "travel_amount",
            "a claim needs a travel or subsistence amount above zero",
        );
    }
    if !(c.currency.len() == 3 && c.currency.bytes().all(|b| b.is_ascii_uppercase())) {
        bad.add(
            "currency",
            "must be a three-letter ISO 4217 code in capitals, such as EUR or USD",
        );
    }
    max_chars(
        &mut bad,
        "description",
        &c.description,
        MAX_CLAIM_DESCRIPTION_CHARS,
    );
    bad.finish()
}

pub fn questionnaire(questions: &[Question]) -> Result<()> {
    let mut bad = Violations::new();
    if questions.is_empty() || questions.len() > MAX_QUESTIONS {
        bad.add(
            "questions",
            format!("a questionnaire has 1 to {MAX_QUESTIONS} questions"),
        );
    }
    let mut seen = HashSet::new();
    for (i, q) in questions.iter().enumerate() {
        required_text(
            &mut bad,
            &format!("questions[{i}].text"),
            &q.text,
            MAX_QUESTION_CHARS,
        );
        if !seen.insert(q.id) {
            bad.add(format!("questions[{i}].id"), "appears more than once");
        }
    }
    bad.finish()
}

/// Answers checked against the questionnaire they answer.
pub fn answers(questions: &[Question], answers: &[Answer]) -> Result<()> {
    let mut bad = Violations::new();
    let mut answered = HashSet::new();
    for (i, a) in answers.iter().enumerate() {
        let Some(question) = questions.iter().find(|q| q.id == a.question_id) else {
            bad.add(
                format!("answers[{i}].question_id"),
                "is not a question of this questionnaire",
            );
            continue;
        };
        if !answered.insert(a.question_id) {
            bad.add(
                format!("answers[{i}].question_id"),
                "this question is answered more than once",
            );
            continue;
        }
        match (question.kind, a.rating) {
            (QuestionKind::Rating, Some(r)) if !(1..=5).contains(&r) => {
                bad.add(format!("answers[{i}].rating"), "must be from 1 to 5")
            }
            (QuestionKind::Rating, None) => bad.add(
                format!("answers[{i}].rating"),
                "a rating question needs a rating from 1 to 5",
            ),
            (QuestionKind::Text, Some(_)) => bad.add(
                format!("answers[{i}].rating"),
                "a text question takes no rating",
            ),
            _ => {}
        }
        if let Some(text) = &a.text {
            max_chars(
                &mut bad,
                &format!("answers[{i}].text"),
                text,
                MAX_ANSWER_CHARS,
            );
        }
    }
    for q in questions {
        if q.kind == QuestionKind::Rating && !answered.contains(&q.id) {
            bad.add("answers", format!("\"{}\" needs a rating", q.text));
        }
    }
    bad.finish()
}

fn required_text(bad: &mut Violations, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        bad.add(field, "must not be empty");
    } else {
        max_chars(bad, field, value, max);
    }
}

fn max_chars(bad: &mut Violations, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        bad.add(field, format!("must be at most {max} characters"));
    }
}

/// An absolute http(s) link a browser can open.
fn web_url(value: &str) -> std::result::Result<(), String> {
    if value.chars().count() > MAX_URL_CHARS {
        return Err(format!("must be at most {MAX_URL_CHARS} characters"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or line breaks".into());
    }
    let parsed = url::Url::parse(value)
        .map_err(|_| "must be a web address such as https://meet.example.org/room".to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must start with https:// or http://".into());
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("must name a host, such as https://meet.example.org/room".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClaimStatus, EventStatus};
    use chrono::{DateTime, TimeZone, Utc};
    use uuid::Uuid;

    fn fields(r: Result<()>) -> Vec<String> {
        match r {
            Ok(()) => vec![],
            Err(e) => e.violations().iter().map(|v| v.field.clone()).collect(),
        }
    }

    fn message(r: Result<()>, field: &str) -> String {
        r.unwrap_err()
            .violations()
            .iter()
            .find(|v| v.field == field)
            .map(|v| v.description.clone())
            .unwrap_or_default()
    }

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 14, h, 0, 0).unwrap()
    }

    fn good_event() -> Event {
        Event {
            id: Uuid::from_u128(1),
            kind: EventKind::NetworkMeeting,
            cluster_id: Some(Uuid::from_u128(2)),
            title: "Autumn network meeting".into(),
            agenda: "Moderation; resources".into(),
            starts_at: at(15),
            ends_at: at(17),
            time_zone: "Europe/London".into(),
            venue_id: None,
            online_url: Some("https://meet.example.org/room-1".into()),
            capacity: 30,
            status: EventStatus::Draft,
            academic_year: 2026,
            approval_required: false,
            training_hours: 0,
            prepares_for_event_id: None,
            series_id: None,
            recurrence_id: None,
            rrule: None,
            series_start: None,
            detached: false,
            sequence: 0,
            check_in_code: "ABC123".into(),
            created_by: "person".into(),
            created_at: at(9),
            updated_at: at(9),
        }
    }

    #[test]
    fn a_good_event_passes() {
        assert_eq!(fields(event(&good_event())), Vec::<String>::new());
    }

    #[test]
    fn an_event_without_place_or_link_is_allowed() {
        let mut e = good_event();
        e.online_url = None;
        assert!(event(&e).is_ok());
        e.online_url = Some(String::new());
        assert!(event(&e).is_ok());
    }

    #[test]
    fn title_must_be_present_and_short() {
        let mut e = good_event();
        e.title = "   ".into();
        assert_eq!(fields(event(&e)), ["title"]);
        e.title = "é".repeat(200);
        assert!(event(&e).is_ok());
        e.title = "é".repeat(201);
        assert_eq!(fields(event(&e)), ["title"]);
    }

    #[test]
    fn agenda_is_limited() {
        let mut e = good_event();
        e.agenda = "a".repeat(10_000);
        assert!(event(&e).is_ok());
        e.agenda.push('a');
        assert_eq!(fields(event(&e)), ["agenda"]);
    }

    #[test]
    fn end_must_follow_start() {
        let mut e = good_event();
        e.ends_at = e.starts_at;
        assert_eq!(
            message(event(&e), "ends_local"),
            "must be after starts_local"
        );
        e.ends_at = at(10);
        assert_eq!(fields(event(&e)), ["ends_local"]);
    }

    #[test]
    fn an_event_lasts_at_most_two_weeks() {
        let mut e = good_event();
        e.ends_at = e.starts_at + Duration::days(14);
        assert!(event(&e).is_ok());
        e.ends_at += Duration::seconds(1);
        assert!(message(event(&e), "ends_local").contains("14 days"));
    }

    #[test]
    fn time_zone_must_be_iana() {
        let mut e = good_event();
        e.time_zone = "Mars/Base".into();
        assert_eq!(
            message(event(&e), "time_zone"),
            "unknown IANA time zone \"Mars/Base\""
        );
        e.time_zone = String::new();
        assert_eq!(fields(event(&e)), ["time_zone"]);
    }

    #[test]
    fn online_url_must_be_a_web_address() {
        let mut e = good_event();
        for bad in [
            "meet.example.org",
            "ftp://example.org/x",
            "javascript:alert(1)",
            "https://",
            "https://exa mple.org",
            "https://example.org/\nX",
        ] {
            e.online_url = Some(bad.into());
            assert_eq!(fields(event(&e)), ["online_url"], "{bad}");
        }
        e.online_url = Some(format!("https://example.org/{}", "a".repeat(2000)));
        assert_eq!(fields(event(&e)), ["online_url"]);
        e.online_url = Some("http://example.org/room?id=1".into());
        assert!(event(&e).is_ok());
    }

    #[test]
    fn scoring_trainings_last_three_or_six_hours() {
        let mut e = good_event();
        e.kind = EventKind::ScoringTraining;
        e.training_hours = 0;
        assert_eq!(
            message(event(&e), "training_hours"),
            "a scoring training lasts 3 or 6 hours"
        );
        e.training_hours = 4;
        assert_eq!(fields(event(&e)), ["training_hours"]);
        for ok in [3, 6] {
            e.training_hours = ok;
            assert!(event(&e).is_ok());
        }
    }

    #[test]
    fn other_kinds_have_no_training_hours() {
        let mut e = good_event();
        e.training_hours = 3;
        assert_eq!(fields(event(&e)), ["training_hours"]);
    }

    #[test]
    fn only_scoring_trainings_prepare_for_sessions() {
        let mut e = good_event();
        e.prepares_for_event_id = Some(Uuid::from_u128(9));
        assert_eq!(fields(event(&e)), ["prepares_for_event_id"]);
        e.kind = EventKind::ScoringTraining;
        e.training_hours = 6;
        assert!(event(&e).is_ok());
    }

    #[test]
    fn capacity_and_rule_are_limited() {
        let mut e = good_event();
        e.capacity = 100_001;
        e.rrule = Some("FREQ=DAILY;".repeat(50));
        assert_eq!(fields(event(&e)), ["capacity", "rrule"]);
        e.capacity = 0;
        e.rrule = Some("FREQ=WEEKLY;COUNT=4".into());
        assert!(event(&e).is_ok());
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut e = good_event();
        e.title = String::new();
        e.ends_at = e.starts_at;
        e.time_zone = "Nowhere".into();
        e.training_hours = 6;
        assert_eq!(
            fields(event(&e)),
            ["title", "ends_local", "time_zone", "training_hours"]
        );
    }

    fn good_venue() -> Venue {
        Venue {
            id: Uuid::from_u128(3),
            name: "Teachers' centre".into(),
            address: "1 High Street, Leeds".into(),
            capacity: 40,
            buffer_minutes: 15,
        }
    }

    #[test]
    fn a_good_venue_passes() {
        assert!(venue(&good_venue()).is_ok());
    }

    #[test]
    fn venue_limits() {
        let mut v = good_venue();
        v.name = " ".into();
        v.address = "a".repeat(501);
        v.capacity = 0;
        v.buffer_minutes = 721;
        assert_eq!(
            fields(venue(&v)),
            ["name", "address", "capacity", "buffer_minutes"]
        );
        v.name = "n".repeat(500);
        v.address = "a".repeat(500);
        v.capacity = 100_000;
        v.buffer_minutes = 720;
        assert!(venue(&v).is_ok());
        v.capacity = 100_001;
        v.name = "n".repeat(501);
        assert_eq!(fields(venue(&v)), ["name", "capacity"]);
    }

    fn good_claim() -> ExpenseClaim {
        ExpenseClaim {
            id: Uuid::from_u128(4),
            event_id: Uuid::from_u128(1),
            person_id: Uuid::from_u128(5),
            travel_amount: 2_450,
            subsistence_amount: 0,
            currency: "GBP".into(),
            description: "Train Leeds–York return".into(),
            status: ClaimStatus::Submitted,
            decided_by: None,
            decided_at: None,
            decision_reason: None,
            submitted_at: at(18),
        }
    }

    #[test]
    fn a_good_claim_passes() {
        assert!(claim(&good_claim()).is_ok());
        let mut c = good_claim();
        c.travel_amount = 0;
        c.subsistence_amount = 1_200;
        assert!(claim(&c).is_ok());
    }

    #[test]
    fn claim_amounts() {
        let mut c = good_claim();
        c.travel_amount = 0;
        assert_eq!(fields(claim(&c)), ["travel_amount"]);
        c.travel_amount = -1;
        c.subsistence_amount = MAX_CLAIM_AMOUNT + 1;
        assert_eq!(fields(claim(&c)), ["travel_amount", "subsistence_amount"]);
        c.travel_amount = MAX_CLAIM_AMOUNT;
        c.subsistence_amount = MAX_CLAIM_AMOUNT;
        assert!(claim(&c).is_ok());
    }

    #[test]
    fn claim_currency_and_description() {
        let mut c = good_claim();
        for bad in ["gbp", "GB", "GBPX", "G1P", ""] {
            c.currency = bad.into();
            assert_eq!(fields(claim(&c)), ["currency"], "{bad}");
        }
        c.currency = "EUR".into();
        c.description = "d".repeat(2001);
        assert_eq!(fields(claim(&c)), ["description"]);
    }

    fn q(n: u128, kind: QuestionKind) -> Question {
        Question {
            id: Uuid::from_u128(n),
            text: format!("Question {n}"),
            kind,
        }
    }

    #[test]
    fn questionnaire_size_text_and_ids() {
        assert!(questionnaire(&[q(1, QuestionKind::Rating), q(2, QuestionKind::Text)]).is_ok());
        assert_eq!(fields(questionnaire(&[])), ["questions"]);
        let many: Vec<Question> = (0..21).map(|n| q(n, QuestionKind::Text)).collect();
        assert_eq!(fields(questionnaire(&many)), ["questions"]);
        assert!(questionnaire(&many[..20]).is_ok());

        let mut bad = vec![
            q(1, QuestionKind::Rating),
            q(2, QuestionKind::Text),
            q(1, QuestionKind::Text),
        ];
        bad[1].text = String::new();
        bad[0].text = "x".repeat(501);
        assert_eq!(
            fields(questionnaire(&bad)),
            ["questions[0].text", "questions[1].text", "questions[2].id"]
        );
    }

    fn rating(n: u128, r: u8) -> Answer {
        Answer {
            question_id: Uuid::from_u128(n),
            rating: Some(r),
            text: None,
        }
    }

    fn text(n: u128, t: &str) -> Answer {
        Answer {
            question_id: Uuid::from_u128(n),
            rating: None,
            text: Some(t.into()),
        }
    }

    #[test]
    fn good_answers_pass() {
        let qs = [q(1, QuestionKind::Rating), q(2, QuestionKind::Text)];
        assert!(answers(&qs, &[rating(1, 5), text(2, "Useful")]).is_ok());
        // Text questions may be skipped; a rating may carry a comment.
        let mut commented = rating(1, 1);
        commented.text = Some("Too long".into());
        assert!(answers(&qs, &[commented]).is_ok());
    }

    #[test]
    fn answers_must_fit_their_questions() {
        let qs = [
            q(1, QuestionKind::Rating),
            q(2, QuestionKind::Text),
            q(3, QuestionKind::Rating),
        ];
        let mut rated_text = text(2, "fine");
        rated_text.rating = Some(3);
        let r = answers(
            &qs,
            &[
                rating(1, 0),
                rated_text,
                rating(9, 3),
                rating(1, 4),
                Answer {
                    question_id: Uuid::from_u128(3),
                    rating: None,
                    text: None,
                },
            ],
        );
        assert_eq!(
            fields(r),
            [
                "answers[0].rating",
                "answers[1].rating",
                "answers[2].question_id",
                "answers[3].question_id",
                "answers[4].rating",
            ]
        );
        assert_eq!(
            fields(answers(&qs, &[rating(1, 6), rating(3, 1)])),
            ["answers[0].rating"]
        );
    }

    #[test]
    fn every_rating_question_is_answered() {
        let qs = [q(1, QuestionKind::Rating), q(2, QuestionKind::Rating)];
        let r = answers(&qs, &[rating(1, 3)]);
        assert_eq!(message(r, "answers"), "\"Question 2\" needs a rating");
    }

    #[test]
    fn answer_text_is_limited() {
        let qs = [q(2, QuestionKind::Text)];
        assert_eq!(
            fields(answers(&qs, &[text(2, &"t".repeat(2001))])),
            ["answers[0].text"]
        );
    }
}
