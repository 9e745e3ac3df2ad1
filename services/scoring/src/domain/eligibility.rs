//! Who may give live scores in a session: a scorer trained in the session's
//! academic year (scheduling's record), qualified on a qualifying set of the
//! session's rubric in that year, and — when the session requires it after a
//! break — calibrated on a calibration set since a given instant. Every
//! missing condition is a reason in words, shown to the scorer and to their
//! leader.

use chrono::{DateTime, Utc};

use super::{QualificationAttempt, SetKind};

/// What eligibility is decided from.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    /// Scheduling's answer: attended a scoring training in the year.
    pub trained: bool,
    /// The scorer's attempts on sets of the session's rubric and year.
    pub attempts: &'a [QualificationAttempt],
    /// The session's calibration requirement, if any.
    pub calibration_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub eligible: bool,
    pub trained: bool,
    pub qualified: bool,
    pub calibrated: bool,
    pub reasons: Vec<String>,
}

/// Decides eligibility for the session's `academic_year`.
pub fn decide(academic_year: i32, e: &Evidence<'_>) -> Decision {
    let mut reasons = Vec::new();
    if !e.trained {
        reasons.push(format!(
            "no scoring training attended in academic year {academic_year}"
        ));
    }
    let qualifying: Vec<&QualificationAttempt> = e
        .attempts
        .iter()
        .filter(|a| a.kind == SetKind::Qualifying && a.academic_year == academic_year)
        .collect();
    let qualified = qualifying.iter().any(|a| a.passed);
    if !qualified {
        match qualifying.iter().max_by_key(|a| a.submitted_at) {
            None => reasons.push(format!(
                "no qualifying set taken for this rubric in academic year {academic_year}"
            )),
            Some(a) => reasons.push(format!(
                "not yet qualified: best recent attempt agreed exactly on {} of {} papers ({:.0}%), {:.0}% needed",
                a.exact(),
                a.results.len(),
                a.exact_share() * 100.0,
                a.threshold * 100.0
            )),
        }
    }
    let calibrated = match e.calibration_since {
        None => true,
        Some(since) => e.attempts.iter().any(|a| {
            a.kind == SetKind::Calibration
                && a.academic_year == academic_year
                && a.passed
                && a.submitted_at >= since
        }),
    };
    if !calibrated && let Some(since) = e.calibration_since {
        reasons.push(format!(
            "a calibration set passed since {} is required after the break",
            since.format("%Y-%m-%d")
        ));
    }
    Decision {
        eligible: reasons.is_empty(),
        trained: e.trained,
        qualified,
        calibrated,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use uuid::Uuid;

    use super::*;

    fn attempt(
        kind: SetKind,
        year: i32,
        exact: usize,
        of: usize,
        at: DateTime<Utc>,
    ) -> QualificationAttempt {
        let results = (0..of)
            .map(|i| (Uuid::now_v7(), 2, if i < exact { 2 } else { 3 }))
            .collect();
        let threshold = 0.7;
        QualificationAttempt {
            id: Uuid::now_v7(),
            set_id: Uuid::now_v7(),
            rubric_id: Uuid::nil(),
            academic_year: year,
            kind,
            scorer_id: Uuid::nil(),
            results,
            threshold,
            passed: exact as f64 / of as f64 >= threshold,
            submitted_at: at,
        }
    }

    #[test]
    fn trained_and_qualified_is_eligible() {
        let now = Utc::now();
        let a = [attempt(SetKind::Qualifying, 2026, 8, 10, now)];
        let d = decide(
            2026,
            &Evidence {
                trained: true,
                attempts: &a,
                calibration_since: None,
            },
        );
        assert!(d.eligible, "{:?}", d.reasons);
    }

    #[test]
    fn every_missing_condition_is_a_reason() {
        let now = Utc::now();
        let a = [
            attempt(SetKind::Qualifying, 2026, 6, 10, now),
            // Last year's pass does not count this year.
            attempt(SetKind::Qualifying, 2025, 10, 10, now),
            attempt(SetKind::Calibration, 2026, 10, 10, now - Duration::days(30)),
        ];
        let d = decide(
            2026,
            &Evidence {
                trained: false,
                attempts: &a,
                calibration_since: Some(now - Duration::days(7)),
            },
        );
        assert!(!d.eligible && !d.trained && !d.qualified && !d.calibrated);
        assert_eq!(d.reasons.len(), 3, "{:?}", d.reasons);
        assert!(d.reasons[0].contains("training"));
        assert!(
            d.reasons[1].contains("6 of 10 papers (60%), 70% needed"),
            "{}",
            d.reasons[1]
        );
        assert!(d.reasons[2].contains("calibration"));
    }

    #[test]
    fn a_recent_calibration_pass_satisfies_the_requirement() {
        let now = Utc::now();
        let a = [
            attempt(SetKind::Qualifying, 2026, 7, 10, now - Duration::days(60)),
            attempt(SetKind::Calibration, 2026, 9, 10, now - Duration::days(1)),
        ];
        let d = decide(
            2026,
            &Evidence {
                trained: true,
                attempts: &a,
                calibration_since: Some(now - Duration::days(7)),
            },
        );
        assert!(d.eligible, "{:?}", d.reasons);
    }

    #[test]
    fn never_attempted_says_so() {
        let d = decide(
            2026,
            &Evidence {
                trained: true,
                attempts: &[],
                calibration_since: None,
            },
        );
        assert_eq!(
            d.reasons,
            ["no qualifying set taken for this rubric in academic year 2026"]
        );
    }
}
