//! Rubrics: ordered score points, optional analytic dimensions with their own
//! ranges, condition codes given instead of a score, and anchor papers.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use platform::error::{Result, Violations};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ScoreValue;

/// Anchor papers a score point may have (3–4 are expected).
pub const MAX_ANCHORS_PER_POINT: u32 = 4;
/// Anchor papers a score point should have before live scoring.
pub const MIN_ANCHORS_PER_POINT: u32 = 3;
/// Longest scale a rubric may have.
pub const MAX_SCORE_POINTS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScorePoint {
    pub value: i32,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dimension {
    pub key: String,
    pub name: String,
    pub min: i32,
    pub max: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionCode {
    pub code: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rubric {
    pub id: Uuid,
    pub programme: String,
    pub name: String,
    pub score_points: Vec<ScorePoint>,
    pub dimensions: Vec<Dimension>,
    pub condition_codes: Vec<ConditionCode>,
    pub qualification_threshold: f64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorPaper {
    pub id: Uuid,
    pub rubric_id: Uuid,
    pub score_point: i32,
    pub title: String,
    pub work_ref: String,
    pub annotation: String,
}

/// The exact-agreement share a qualifying set needs by default, by the
/// number of score points: 90% for 2, 80% for 3, 70% for 4–6 (and longer).
pub fn default_qualification_threshold(points: usize) -> f64 {
    match points {
        0..=2 => 0.90,
        3 => 0.80,
        _ => 0.70,
    }
}

impl Rubric {
    pub fn min(&self) -> i32 {
        self.score_points.first().map_or(0, |p| p.value)
    }
    pub fn max(&self) -> i32 {
        self.score_points.last().map_or(0, |p| p.value)
    }
    pub fn has_point(&self, v: i32) -> bool {
        self.score_points.iter().any(|p| p.value == v)
    }
    pub fn scale_description(&self) -> String {
        format!(
            "a score point of the rubric ({}..={})",
            self.min(),
            self.max()
        )
    }

    /// Checks a new rubric; the field names are the API's.
    pub fn validate(&self) -> Result<()> {
        let mut v = Violations::new();
        if self.programme.trim().is_empty() {
            v.add("programme", "must not be empty");
        }
        if self.name.trim().is_empty() {
            v.add("name", "must not be empty");
        }
        if self.score_points.len() < 2 {
            v.add("score_points", "a rubric has at least 2 score points");
        } else if self.score_points.len() > MAX_SCORE_POINTS {
            v.add(
                "score_points",
                format!("a rubric has at most {MAX_SCORE_POINTS} score points"),
            );
        }
        for (i, w) in self.score_points.windows(2).enumerate() {
            if w[1].value != w[0].value + 1 {
                v.add(
                    format!("score_points[{}].value", i + 1),
                    format!(
                        "score points are ascending and consecutive: {} follows {}",
                        w[1].value, w[0].value
                    ),
                );
            }
        }
        for (i, p) in self.score_points.iter().enumerate() {
            if p.label.trim().is_empty() {
                v.add(format!("score_points[{i}].label"), "must not be empty");
            }
        }
        let mut keys = HashSet::new();
        for (i, d) in self.dimensions.iter().enumerate() {
            if !is_code(&d.key) {
                v.add(
                    format!("dimensions[{i}].key"),
                    "lower-case letters, digits and '_', starting with a letter",
                );
            } else if !keys.insert(d.key.as_str()) {
                v.add(format!("dimensions[{i}].key"), "appears twice");
            }
            if d.name.trim().is_empty() {
                v.add(format!("dimensions[{i}].name"), "must not be empty");
            }
            if d.max <= d.min {
                v.add(format!("dimensions[{i}].max"), "must be above min");
            }
        }
        let mut codes = HashSet::new();
        for (i, c) in self.condition_codes.iter().enumerate() {
            if !is_code(&c.code) {
                v.add(
                    format!("condition_codes[{i}].code"),
                    "lower-case letters, digits and '_', starting with a letter",
                );
            } else if !codes.insert(c.code.as_str()) {
                v.add(format!("condition_codes[{i}].code"), "appears twice");
            }
            if c.label.trim().is_empty() {
                v.add(format!("condition_codes[{i}].label"), "must not be empty");
            }
        }
        if !(self.qualification_threshold > 0.0 && self.qualification_threshold <= 1.0) {
            v.add(
                "qualification_threshold",
                "a share of exact agreement above 0 and at most 1, e.g. 0.8",
            );
        }
        v.finish()
    }

    /// Checks what a reader gives against this rubric: a score point or a
    /// condition code (not both), and with a score, every dimension once and
    /// in its range.
    pub fn check(&self, value: &ScoreValue) -> Result<()> {
        let mut v = Violations::new();
        match (&value.condition_code, value.score) {
            (Some(_), Some(_)) => v.add(
                "condition_code",
                "give either a score or a condition code, not both",
            ),
            (None, None) => v.add("score", "give a score or a condition code"),
            (Some(code), None) => {
                if !self.condition_codes.iter().any(|c| &c.code == code) {
                    let known: Vec<&str> = self
                        .condition_codes
                        .iter()
                        .map(|c| c.code.as_str())
                        .collect();
                    v.add(
                        "condition_code",
                        format!("not a condition code of the rubric ({})", known.join(", ")),
                    );
                }
                if !value.dimensions.is_empty() {
                    v.add("dimensions", "a condition code carries no dimension scores");
                }
            }
            (None, Some(s)) => {
                if !self.has_point(s) {
                    v.add("score", format!("{s} is not {}", self.scale_description()));
                }
                let mut seen = HashSet::new();
                for (i, (key, score)) in value.dimensions.iter().enumerate() {
                    match self.dimensions.iter().find(|d| &d.key == key) {
                        None => v.add(
                            format!("dimensions[{i}].key"),
                            format!("{key:?} is not a dimension of the rubric"),
                        ),
                        Some(d) => {
                            if !seen.insert(key.as_str()) {
                                v.add(format!("dimensions[{i}].key"), "scored twice");
                            }
                            if *score < d.min || *score > d.max {
                                v.add(
                                    format!("dimensions[{i}].score"),
                                    format!(
                                        "{score} is outside {}'s range {}..={}",
                                        d.key, d.min, d.max
                                    ),
                                );
                            }
                        }
                    }
                }
                for d in &self.dimensions {
                    if !value.dimensions.iter().any(|(k, _)| k == &d.key) {
                        v.add("dimensions", format!("{} is not scored", d.key));
                    }
                }
            }
        }
        v.finish()
    }
}

fn is_code(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 64
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn four_point() -> Rubric {
        Rubric {
            id: Uuid::now_v7(),
            programme: "writing".into(),
            name: "Writing portfolio".into(),
            score_points: ["Novice", "Apprentice", "Proficient", "Distinguished"]
                .iter()
                .enumerate()
                .map(|(i, l)| ScorePoint {
                    value: i as i32 + 1,
                    label: l.to_string(),
                })
                .collect(),
            dimensions: vec![Dimension {
                key: "conventions".into(),
                name: "Conventions".into(),
                min: 1,
                max: 3,
            }],
            condition_codes: vec![ConditionCode {
                code: "blank".into(),
                label: "Blank".into(),
            }],
            qualification_threshold: default_qualification_threshold(4),
            created_at: Utc::now(),
        }
    }

    fn fields(r: Result<()>) -> Vec<String> {
        r.unwrap_err()
            .violations()
            .iter()
            .map(|v| v.field.clone())
            .collect()
    }

    #[test]
    fn thresholds_follow_scale_length() {
        assert_eq!(default_qualification_threshold(2), 0.90);
        assert_eq!(default_qualification_threshold(3), 0.80);
        assert_eq!(default_qualification_threshold(4), 0.70);
        assert_eq!(default_qualification_threshold(6), 0.70);
    }

    #[test]
    fn a_good_rubric_passes_and_gaps_are_named() {
        four_point().validate().unwrap();
        let mut r = four_point();
        r.score_points[2].value = 7;
        r.dimensions.push(r.dimensions[0].clone());
        r.condition_codes[0].code = "Blank!".into();
        r.qualification_threshold = 1.5;
        assert_eq!(
            fields(r.validate()),
            [
                "score_points[2].value",
                "score_points[3].value",
                "dimensions[1].key",
                "condition_codes[0].code",
                "qualification_threshold"
            ]
        );
    }

    #[test]
    fn scores_are_checked_against_the_scale_and_dimensions() {
        let r = four_point();
        let ok = ScoreValue {
            score: Some(3),
            dimensions: vec![("conventions".into(), 2)],
            condition_code: None,
        };
        r.check(&ok).unwrap();
        let out = ScoreValue {
            score: Some(5),
            dimensions: vec![("conventions".into(), 4), ("voice".into(), 1)],
            condition_code: None,
        };
        assert_eq!(
            fields(r.check(&out)),
            ["score", "dimensions[0].score", "dimensions[1].key"]
        );
        let missing = ScoreValue {
            score: Some(2),
            dimensions: vec![],
            condition_code: None,
        };
        assert_eq!(fields(r.check(&missing)), ["dimensions"]);
        let both = ScoreValue {
            score: Some(2),
            dimensions: vec![],
            condition_code: Some("blank".into()),
        };
        assert_eq!(fields(r.check(&both)), ["condition_code"]);
        let code = ScoreValue {
            score: None,
            dimensions: vec![],
            condition_code: Some("blank".into()),
        };
        r.check(&code).unwrap();
        let unknown = ScoreValue {
            score: None,
            dimensions: vec![],
            condition_code: Some("illegible".into()),
        };
        assert_eq!(fields(r.check(&unknown)), ["condition_code"]);
    }
}
