//! Resolving double-scored portfolios.
//!
//! Every portfolio gets a first read. A configurable share of portfolios gets
//! a blind second read by a different scorer, and the two reads must then be
//! reconciled into one final score. A read is either an integer number of
//! score points on the rubric's scale or a *condition code* ("blank",
//! "insufficient", "non_scorable_language", ...) given instead of a score.
//!
//! The rules, applied by [`resolve`]:
//!
//! * **Two scores that agree exactly** always resolve, whatever the rule; the
//!   final score is that score and the method is [`Method::Exact`].
//! * **Two adjacent scores** (they differ by exactly one point):
//!   * under [`ResolutionRule::Exact`] they do not resolve and need a third
//!     read;
//!   * under [`ResolutionRule::AdjacentAverage`] the final score is their mean
//!     (so it ends in `.5`), method [`Method::AdjacentAverage`];
//!   * under [`ResolutionRule::AdjacentHigher`] the final score is the higher
//!     of the two, method [`Method::AdjacentHigher`].
//! * **Two scores further apart** never resolve: a third read is needed.
//! * **Two identical condition codes** resolve to that condition, method
//!   [`Method::Exact`]. Codes are compared exactly as given (case and
//!   whitespace included); callers should pass normalised codes.
//! * **Two different condition codes**, or **a condition code against a
//!   score**, never resolve: a third read is needed.
//!
//! A portfolio that was not sampled for a second read is settled by its first
//! read alone ([`resolve_single`], method [`Method::SingleRead`]). When a third
//! read is needed, the cluster lead's third read is final ([`resolve_third`],
//! method [`Method::ThirdRead`]).
//!
//! Every [`Outcome::NeedsThirdRead`] carries a human-readable reason that names
//! both values in conflict, so the cluster lead can see why the portfolio was
//! escalated.
//!
//! Analytic rubrics score several named dimensions separately;
//! [`resolve_dimensions`] applies the same rule to each dimension.
//!
//! Everything here is pure: no I/O, no randomness, no panics.

use std::fmt;

/// Which pairs of first and second reads resolve without a third read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionRule {
    /// Only exact agreement resolves.
    Exact,
    /// Exact or adjacent (one point apart) scores resolve; an adjacent pair
    /// resolves to the mean of the two.
    AdjacentAverage,
    /// Exact or adjacent (one point apart) scores resolve; an adjacent pair
    /// resolves to the higher of the two.
    AdjacentHigher,
}

impl ResolutionRule {
    /// The stable string form: `"exact"`, `"adjacent_average"` or
    /// `"adjacent_higher"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolutionRule::Exact => "exact",
            ResolutionRule::AdjacentAverage => "adjacent_average",
            ResolutionRule::AdjacentHigher => "adjacent_higher",
        }
    }

    /// Parses the string form produced by [`ResolutionRule::as_str`]; any
    /// other input gives `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "exact" => Some(ResolutionRule::Exact),
            "adjacent_average" => Some(ResolutionRule::AdjacentAverage),
            "adjacent_higher" => Some(ResolutionRule::AdjacentHigher),
            _ => None,
        }
    }
}

/// One scorer's read of a portfolio (or of one dimension of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// Score points on the rubric's scale.
    Score(i32),
    /// A condition code given instead of a score, e.g. `"blank"`.
    Condition(String),
}

/// The result of reconciling reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The reads settle the portfolio.
    Resolved {
        /// The portfolio's final score or condition.
        final_score: FinalScore,
        /// How the final score was reached.
        method: Method,
    },
    /// The reads disagree beyond what the rule allows; a cluster lead must
    /// give a third read.
    NeedsThirdRead {
        /// Why, naming both values in conflict, e.g. "first and second reads
        /// differ by 2 points (4 and 2)".
        reason: String,
    },
}

/// A portfolio's final result.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalScore {
    /// Score points; fractional only when adjacent scores were averaged
    /// (`x.5`).
    Score(f64),
    /// A condition code.
    Condition(String),
}

/// How a final score was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The portfolio was not double-scored; the first read stands.
    SingleRead,
    /// First and second reads agreed exactly.
    Exact,
    /// First and second reads were adjacent and were averaged.
    AdjacentAverage,
    /// First and second reads were adjacent and the higher one was taken.
    AdjacentHigher,
    /// A cluster lead's third read decided.
    ThirdRead,
}

impl Method {
    /// The stable string form: `"single_read"`, `"exact"`,
    /// `"adjacent_average"`, `"adjacent_higher"` or `"third_read"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::SingleRead => "single_read",
            Method::Exact => "exact",
            Method::AdjacentAverage => "adjacent_average",
            Method::AdjacentHigher => "adjacent_higher",
            Method::ThirdRead => "third_read",
        }
    }

    /// Parses the string form produced by [`Method::as_str`]; any other input
    /// gives `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "single_read" => Some(Method::SingleRead),
            "exact" => Some(Method::Exact),
            "adjacent_average" => Some(Method::AdjacentAverage),
            "adjacent_higher" => Some(Method::AdjacentHigher),
            "third_read" => Some(Method::ThirdRead),
            _ => None,
        }
    }
}

impl fmt::Display for Read {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Read::Score(s) => write!(f, "a score of {s}"),
            Read::Condition(c) => write!(f, "condition code {c}"),
        }
    }
}

fn final_from(read: &Read) -> FinalScore {
    match read {
        Read::Score(s) => FinalScore::Score(f64::from(*s)),
        Read::Condition(c) => FinalScore::Condition(c.clone()),
    }
}

fn resolved(final_score: FinalScore, method: Method) -> Outcome {
    Outcome::Resolved {
        final_score,
        method,
    }
}

fn third(reason: String) -> Outcome {
    Outcome::NeedsThirdRead { reason }
}

/// Settles a portfolio that was not double-scored: the first read stands,
/// method [`Method::SingleRead`].
pub fn resolve_single(first: &Read) -> Outcome {
    resolved(final_from(first), Method::SingleRead)
}

/// Reconciles a first and a blind second read under `rule` (see the module
/// docs for the rules).
pub fn resolve(rule: ResolutionRule, first: &Read, second: &Read) -> Outcome {
    match (first, second) {
        (Read::Condition(a), Read::Condition(b)) => {
            if a == b {
                resolved(FinalScore::Condition(a.clone()), Method::Exact)
            } else {
                third(format!(
                    "first and second reads gave different condition codes ({a} and {b})"
                ))
            }
        }
        (Read::Condition(_), Read::Score(_)) | (Read::Score(_), Read::Condition(_)) => third(
            format!("the first read gave {first}, the second read gave {second}"),
        ),
        (Read::Score(a), Read::Score(b)) => resolve_scores(rule, *a, *b),
    }
}

fn resolve_scores(rule: ResolutionRule, a: i32, b: i32) -> Outcome {
    // Widen before subtracting so extreme values cannot overflow.
    let diff = (i64::from(a) - i64::from(b)).unsigned_abs();
    match diff {
        0 => resolved(FinalScore::Score(f64::from(a)), Method::Exact),
        1 => match rule {
            ResolutionRule::Exact => third(format!(
                "first and second reads differ by 1 point ({a} and {b}); \
                 the exact rule resolves only exact agreement"
            )),
            ResolutionRule::AdjacentAverage => resolved(
                FinalScore::Score((f64::from(a) + f64::from(b)) / 2.0),
                Method::AdjacentAverage,
            ),
            ResolutionRule::AdjacentHigher => resolved(
                FinalScore::Score(f64::from(a.max(b))),
                Method::AdjacentHigher,
            ),
        },
        d => third(format!(
            "first and second reads differ by {d} points ({a} and {b})"
        )),
    }
}

/// Settles a portfolio by the cluster lead's third read, which is final:
/// method [`Method::ThirdRead`].
pub fn resolve_third(third: &Read) -> Outcome {
    resolved(final_from(third), Method::ThirdRead)
}

/// The distinct scores one read gave a dimension, in order of appearance.
fn scores_for(read: &[(String, i32)], dim: &str) -> Vec<i32> {
    let mut out: Vec<i32> = Vec::new();
    for (_, s) in read.iter().filter(|(d, _)| d == dim) {
        if !out.contains(s) {
            out.push(*s);
        }
    }
    out
}

fn join_scores(scores: &[i32]) -> String {
    let parts: Vec<String> = scores.iter().map(i32::to_string).collect();
    parts.join(" and ")
}

/// Applies `rule` to each dimension of an analytic rubric.
///
/// Returns one outcome per distinct dimension name: first the dimensions in
/// the order they first appear in `first`, then those that appear only in
/// `second`, in their order there. Per dimension:
///
/// * scored in both reads: [`resolve`] with `rule`; a third-read reason is
///   prefixed with the dimension's name;
/// * scored in only one read: [`Outcome::NeedsThirdRead`] naming the dimension
///   and the read that scored it;
/// * given two different scores within the same read (malformed input):
///   [`Outcome::NeedsThirdRead`] naming the dimension and the conflicting
///   scores. A dimension repeated with the same score counts once.
pub fn resolve_dimensions(
    rule: ResolutionRule,
    first: &[(String, i32)],
    second: &[(String, i32)],
) -> Vec<(String, Outcome)> {
    let mut names: Vec<&str> = Vec::new();
    for (d, _) in first.iter().chain(second.iter()) {
        if !names.contains(&d.as_str()) {
            names.push(d.as_str());
        }
    }
    names
        .into_iter()
        .map(|dim| {
            let a = scores_for(first, dim);
            let b = scores_for(second, dim);
            let outcome = if a.len() > 1 {
                third(format!(
                    "dimension \"{dim}\" has conflicting scores within the first read ({})",
                    join_scores(&a)
                ))
            } else if b.len() > 1 {
                third(format!(
                    "dimension \"{dim}\" has conflicting scores within the second read ({})",
                    join_scores(&b)
                ))
            } else {
                match (a.first(), b.first()) {
                    (Some(x), Some(y)) => match resolve(rule, &Read::Score(*x), &Read::Score(*y)) {
                        Outcome::NeedsThirdRead { reason } => {
                            third(format!("dimension \"{dim}\": {reason}"))
                        }
                        done => done,
                    },
                    (Some(x), None) => third(format!(
                        "dimension \"{dim}\" was scored only in the first read (score {x})"
                    )),
                    (None, Some(y)) => third(format!(
                        "dimension \"{dim}\" was scored only in the second read (score {y})"
                    )),
                    // Unreachable: every name came from one of the reads.
                    (None, None) => {
                        third(format!("dimension \"{dim}\" was not scored in either read"))
                    }
                }
            };
            (dim.to_string(), outcome)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: i32) -> Read {
        Read::Score(x)
    }

    fn c(code: &str) -> Read {
        Read::Condition(code.to_string())
    }

    fn score(final_score: f64, method: Method) -> Outcome {
        Outcome::Resolved {
            final_score: FinalScore::Score(final_score),
            method,
        }
    }

    fn reason(o: &Outcome) -> &str {
        match o {
            Outcome::NeedsThirdRead { reason } => reason,
            other => panic!("expected a third read, got {other:?}"),
        }
    }

    fn dims(pairs: &[(&str, i32)]) -> Vec<(String, i32)> {
        pairs.iter().map(|(d, s)| (d.to_string(), *s)).collect()
    }

    const RULES: [ResolutionRule; 3] = [
        ResolutionRule::Exact,
        ResolutionRule::AdjacentAverage,
        ResolutionRule::AdjacentHigher,
    ];

    #[test]
    fn rule_strings_round_trip() {
        for rule in RULES {
            assert_eq!(ResolutionRule::parse(rule.as_str()), Some(rule));
        }
        assert_eq!(ResolutionRule::AdjacentAverage.as_str(), "adjacent_average");
        assert_eq!(ResolutionRule::parse("Exact"), None);
        assert_eq!(ResolutionRule::parse(""), None);
    }

    #[test]
    fn method_strings_round_trip() {
        let all = [
            (Method::SingleRead, "single_read"),
            (Method::Exact, "exact"),
            (Method::AdjacentAverage, "adjacent_average"),
            (Method::AdjacentHigher, "adjacent_higher"),
            (Method::ThirdRead, "third_read"),
        ];
        for (m, text) in all {
            assert_eq!(m.as_str(), text);
            assert_eq!(Method::parse(text), Some(m));
        }
        assert_eq!(Method::parse("third read"), None);
    }

    #[test]
    fn exact_agreement_resolves_under_every_rule() {
        for rule in RULES {
            assert_eq!(resolve(rule, &s(3), &s(3)), score(3.0, Method::Exact));
        }
    }

    #[test]
    fn exact_rule_escalates_adjacent_scores() {
        let o = resolve(ResolutionRule::Exact, &s(4), &s(3));
        let r = reason(&o);
        assert!(r.contains("differ by 1 point (4 and 3)"), "{r}");
        assert!(r.contains("exact rule"), "{r}");
    }

    #[test]
    fn adjacent_average_takes_the_mean() {
        assert_eq!(
            resolve(ResolutionRule::AdjacentAverage, &s(4), &s(3)),
            score(3.5, Method::AdjacentAverage)
        );
        assert_eq!(
            resolve(ResolutionRule::AdjacentAverage, &s(1), &s(2)),
            score(1.5, Method::AdjacentAverage)
        );
    }

    #[test]
    fn adjacent_higher_takes_the_higher() {
        assert_eq!(
            resolve(ResolutionRule::AdjacentHigher, &s(2), &s(3)),
            score(3.0, Method::AdjacentHigher)
        );
        assert_eq!(
            resolve(ResolutionRule::AdjacentHigher, &s(3), &s(2)),
            score(3.0, Method::AdjacentHigher)
        );
    }

    #[test]
    fn non_adjacent_scores_need_a_third_read_under_every_rule() {
        for rule in RULES {
            let o = resolve(rule, &s(4), &s(2));
            assert_eq!(
                reason(&o),
                "first and second reads differ by 2 points (4 and 2)"
            );
            let o = resolve(rule, &s(0), &s(6));
            assert_eq!(
                reason(&o),
                "first and second reads differ by 6 points (0 and 6)"
            );
        }
    }

    #[test]
    fn extreme_scores_do_not_overflow() {
        let o = resolve(ResolutionRule::AdjacentAverage, &s(i32::MIN), &s(i32::MAX));
        assert!(reason(&o).contains("differ by 4294967295 points"));
        assert_eq!(
            resolve(
                ResolutionRule::AdjacentAverage,
                &s(i32::MAX),
                &s(i32::MAX - 1)
            ),
            score(f64::from(i32::MAX) - 0.5, Method::AdjacentAverage)
        );
    }

    #[test]
    fn matching_condition_codes_resolve_to_the_condition() {
        for rule in RULES {
            assert_eq!(
                resolve(rule, &c("blank"), &c("blank")),
                Outcome::Resolved {
                    final_score: FinalScore::Condition("blank".into()),
                    method: Method::Exact,
                }
            );
        }
    }

    #[test]
    fn different_condition_codes_need_a_third_read() {
        let o = resolve(
            ResolutionRule::AdjacentHigher,
            &c("blank"),
            &c("insufficient"),
        );
        let r = reason(&o);
        assert!(r.contains("blank") && r.contains("insufficient"), "{r}");
    }

    #[test]
    fn condition_against_score_needs_a_third_read() {
        let o = resolve(ResolutionRule::AdjacentAverage, &c("blank"), &s(3));
        assert_eq!(
            reason(&o),
            "the first read gave condition code blank, the second read gave a score of 3"
        );
        let o = resolve(ResolutionRule::Exact, &s(1), &c("non_scorable_language"));
        assert_eq!(
            reason(&o),
            "the first read gave a score of 1, the second read gave condition code non_scorable_language"
        );
    }

    #[test]
    fn single_and_third_reads_stand() {
        assert_eq!(resolve_single(&s(5)), score(5.0, Method::SingleRead));
        assert_eq!(
            resolve_single(&c("insufficient")),
            Outcome::Resolved {
                final_score: FinalScore::Condition("insufficient".into()),
                method: Method::SingleRead,
            }
        );
        assert_eq!(resolve_third(&s(2)), score(2.0, Method::ThirdRead));
        assert_eq!(
            resolve_third(&c("blank")),
            Outcome::Resolved {
                final_score: FinalScore::Condition("blank".into()),
                method: Method::ThirdRead,
            }
        );
    }

    #[test]
    fn dimensions_are_resolved_one_by_one() {
        let first = dims(&[("ideas", 4), ("organization", 3), ("voice", 2)]);
        let second = dims(&[("voice", 5), ("ideas", 4), ("organization", 2)]);
        let out = resolve_dimensions(ResolutionRule::AdjacentAverage, &first, &second);
        let names: Vec<&str> = out.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(names, ["ideas", "organization", "voice"]);
        assert_eq!(out[0].1, score(4.0, Method::Exact));
        assert_eq!(out[1].1, score(2.5, Method::AdjacentAverage));
        assert_eq!(
            reason(&out[2].1),
            "dimension \"voice\": first and second reads differ by 3 points (2 and 5)"
        );
    }

    #[test]
    fn dimensions_follow_the_rule() {
        let first = dims(&[("ideas", 3)]);
        let second = dims(&[("ideas", 2)]);
        let higher = resolve_dimensions(ResolutionRule::AdjacentHigher, &first, &second);
        assert_eq!(
            higher,
            vec![("ideas".to_string(), score(3.0, Method::AdjacentHigher))]
        );
        let exact = resolve_dimensions(ResolutionRule::Exact, &first, &second);
        let r = reason(&exact[0].1);
        assert!(r.starts_with("dimension \"ideas\":"), "{r}");
        assert!(r.contains("(3 and 2)"), "{r}");
    }

    #[test]
    fn dimension_in_only_one_read_needs_a_third_read() {
        let first = dims(&[("ideas", 4), ("conventions", 3)]);
        let second = dims(&[("ideas", 4), ("voice", 1)]);
        let out = resolve_dimensions(ResolutionRule::AdjacentHigher, &first, &second);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], ("ideas".to_string(), score(4.0, Method::Exact)));
        assert_eq!(out[1].0, "conventions");
        assert_eq!(
            reason(&out[1].1),
            "dimension \"conventions\" was scored only in the first read (score 3)"
        );
        assert_eq!(out[2].0, "voice");
        assert_eq!(
            reason(&out[2].1),
            "dimension \"voice\" was scored only in the second read (score 1)"
        );
    }

    #[test]
    fn repeated_dimensions_within_a_read() {
        // Same score twice counts once.
        let first = dims(&[("ideas", 4), ("ideas", 4)]);
        let second = dims(&[("ideas", 3)]);
        let out = resolve_dimensions(ResolutionRule::AdjacentHigher, &first, &second);
        assert_eq!(
            out,
            vec![("ideas".to_string(), score(4.0, Method::AdjacentHigher))]
        );
        // Conflicting scores within one read are escalated.
        let second = dims(&[("ideas", 3), ("ideas", 1)]);
        let out = resolve_dimensions(ResolutionRule::AdjacentHigher, &first, &second);
        assert_eq!(out.len(), 1);
        assert_eq!(
            reason(&out[0].1),
            "dimension \"ideas\" has conflicting scores within the second read (3 and 1)"
        );
    }

    #[test]
    fn no_dimensions_gives_no_outcomes() {
        assert!(resolve_dimensions(ResolutionRule::Exact, &[], &[]).is_empty());
    }
}
