//! Research data agreements and the disclosure log.
//!
//! An agreement names the researchers it covers, its purpose, the data scope
//! (what kinds of data may be extracted) and its dates: it covers a named
//! researcher for a scope from `starts_on` to `ends_on` inclusive, unless it
//! was revoked; the data must be destroyed by `destroy_by`. Every extract
//! given to anyone is a [`Disclosure`]: who received what, when, and under
//! which agreement (none for a tenant admin's own extract). The rules here
//! are pure; the store checks them again inside its transaction.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use platform::error::{Result, Violations};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most researchers one agreement names.
pub const MAX_RESEARCHERS: usize = 100;

/// A kind of data an agreement may cover. Only `Scores` has an extract today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataScope {
    Attendance,
    Membership,
    Scores,
}

impl DataScope {
    pub const ALL: [DataScope; 3] = [
        DataScope::Attendance,
        DataScope::Membership,
        DataScope::Scores,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataScope::Attendance => "attendance",
            DataScope::Membership => "membership",
            DataScope::Scores => "scores",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// `field: one of attendance, membership, scores`.
    pub fn parse_field(field: &str, s: &str) -> Result<Self> {
        Self::parse(s).ok_or_else(|| {
            platform::error::Error::invalid(field, "one of attendance, membership, scores")
        })
    }
}

/// A set of scopes as stored: sorted names joined by commas.
pub fn scopes_to_text(scopes: &BTreeSet<DataScope>) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The inverse of [`scopes_to_text`]; unknown names are dropped.
pub fn scopes_from_text(text: &str) -> BTreeSet<DataScope> {
    text.split(',').filter_map(DataScope::parse).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResearchAgreement {
    pub id: Uuid,
    pub title: String,
    pub purpose: String,
    pub data_scope: BTreeSet<DataScope>,
    /// Sorted person ids.
    pub researcher_ids: Vec<Uuid>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub destroy_by: NaiveDate,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ResearchAgreement {
    /// Whether the agreement lets `person` have `scope` data on `day`.
    pub fn covers(&self, person: Uuid, scope: DataScope, day: NaiveDate) -> bool {
        self.revoked_at.is_none()
            && self.data_scope.contains(&scope)
            && self.researcher_ids.contains(&person)
            && self.starts_on <= day
            && day <= self.ends_on
    }
}

#[derive(Debug, Clone)]
pub struct NewResearchAgreement {
    pub title: String,
    pub purpose: String,
    pub data_scope: BTreeSet<DataScope>,
    pub researcher_ids: Vec<Uuid>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub destroy_by: NaiveDate,
}

#[derive(Debug, Clone, Default)]
pub struct AgreementFilter {
    /// Only agreements naming this person.
    pub researcher_id: Option<Uuid>,
    pub include_revoked: bool,
}

/// One extract given to one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosure {
    pub id: Uuid,
    /// None for a tenant admin's own extract.
    pub agreement_id: Option<Uuid>,
    /// The person the extract was given to.
    pub recipient_id: Uuid,
    pub scope: DataScope,
    /// What was disclosed, in words: "scores, academic year 2026".
    pub dataset: String,
    pub rows: u64,
    /// Records left out (research opt-outs).
    pub excluded: u64,
    pub disclosed_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewDisclosure {
    pub agreement_id: Option<Uuid>,
    pub recipient_id: Uuid,
    pub scope: DataScope,
    pub dataset: String,
    pub rows: u64,
    pub excluded: u64,
    /// The recipient's day (in the tenant's zone) the agreement must cover.
    pub on: NaiveDate,
}

#[derive(Debug, Clone, Default)]
pub struct DisclosureFilter {
    pub agreement_id: Option<Uuid>,
    pub recipient_id: Option<Uuid>,
    /// Disclosed at or after.
    pub from: Option<DateTime<Utc>>,
    /// Disclosed before.
    pub until: Option<DateTime<Utc>>,
}

/// Checks a new agreement, naming every bad field; returns it normalised
/// (trimmed text, researchers sorted and deduplicated).
pub fn validate_agreement(a: &NewResearchAgreement) -> Result<NewResearchAgreement> {
    let mut v = Violations::new();
    super::validate::name(&mut v, "title", &a.title);
    if a.purpose.trim().is_empty() {
        v.add("purpose", "must not be empty");
    }
    super::validate::long_text(&mut v, "purpose", &a.purpose);
    if a.data_scope.is_empty() {
        v.add(
            "data_scope",
            "name at least one of attendance, membership, scores",
        );
    }
    let researchers: BTreeSet<Uuid> = a.researcher_ids.iter().copied().collect();
    if researchers.is_empty() {
        v.add("researcher_ids", "name at least one researcher");
    } else if researchers.len() > MAX_RESEARCHERS {
        v.add(
            "researcher_ids",
            format!("at most {MAX_RESEARCHERS} researchers"),
        );
    }
    if a.ends_on < a.starts_on {
        v.add("ends_on", "must not be before starts_on");
    }
    if a.destroy_by < a.ends_on {
        v.add("destroy_by", "must not be before ends_on");
    }
    v.finish()?;
    Ok(NewResearchAgreement {
        title: a.title.trim().to_string(),
        purpose: a.purpose.trim().to_string(),
        researcher_ids: researchers.into_iter().collect(),
        ..a.clone()
    })
}

/// Checks a new disclosure, naming every bad field.
pub fn validate_disclosure(d: &NewDisclosure) -> Result<()> {
    let mut v = Violations::new();
    super::validate::name(&mut v, "dataset", &d.dataset);
    for (field, n) in [("rows", d.rows), ("excluded", d.excluded)] {
        if n > i64::MAX as u64 {
            v.add(field, "too large");
        }
    }
    v.finish()
}

/// Why nothing covers `scope` for the caller on `day`, in words.
pub fn not_covered(scope: DataScope, day: NaiveDate) -> String {
    format!(
        "no research agreement covers you for {} on {day}",
        scope.as_str()
    )
}

/// The disclosure log as CSV (RFC 4180), one row a disclosure: when, who
/// (person id and name), what (scope, dataset), under which agreement
/// (empty for a tenant admin's own extract), rows and excluded. Cells that a
/// spreadsheet would run as a formula are prefixed with `'`.
pub fn disclosures_csv(rows: &[(Disclosure, String)]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "disclosed_at",
        "recipient_id",
        "recipient_name",
        "agreement_id",
        "scope",
        "dataset",
        "rows",
        "excluded",
    ]);
    for (d, name) in rows {
        let _ = w.write_record([
            d.disclosed_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            d.recipient_id.to_string(),
            defuse(name),
            d.agreement_id.map(|a| a.to_string()).unwrap_or_default(),
            d.scope.as_str().to_string(),
            defuse(&d.dataset),
            d.rows.to_string(),
            d.excluded.to_string(),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn defuse(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn agreement(researcher: Uuid) -> ResearchAgreement {
        ResearchAgreement {
            id: Uuid::now_v7(),
            title: "Reading study".into(),
            purpose: "Does double scoring agree?".into(),
            data_scope: [DataScope::Scores].into(),
            researcher_ids: vec![researcher],
            starts_on: d("2026-09-01"),
            ends_on: d("2027-08-31"),
            destroy_by: d("2028-08-31"),
            created_by: "admin".into(),
            created_at: Utc::now(),
            revoked_at: None,
        }
    }

    #[test]
    fn an_agreement_covers_its_researchers_for_its_scope_between_its_dates() {
        let rae = Uuid::now_v7();
        let a = agreement(rae);
        assert!(!a.covers(rae, DataScope::Scores, d("2026-08-31")));
        assert!(a.covers(rae, DataScope::Scores, d("2026-09-01")));
        assert!(a.covers(rae, DataScope::Scores, d("2027-08-31")));
        assert!(!a.covers(rae, DataScope::Scores, d("2027-09-01")));
        assert!(!a.covers(rae, DataScope::Attendance, d("2026-10-01")));
        assert!(!a.covers(Uuid::now_v7(), DataScope::Scores, d("2026-10-01")));
        let revoked = ResearchAgreement {
            revoked_at: Some(Utc::now()),
            ..a
        };
        assert!(!revoked.covers(rae, DataScope::Scores, d("2026-10-01")));
    }

    #[test]
    fn a_bad_agreement_names_each_field() {
        let bad = NewResearchAgreement {
            title: " ".into(),
            purpose: String::new(),
            data_scope: BTreeSet::new(),
            researcher_ids: vec![],
            starts_on: d("2026-09-02"),
            ends_on: d("2026-09-01"),
            destroy_by: d("2026-08-01"),
        };
        let err = validate_agreement(&bad).unwrap_err();
        let fields: Vec<_> = err.violations().iter().map(|v| v.field.clone()).collect();
        assert_eq!(
            fields,
            [
                "title",
                "purpose",
                "data_scope",
                "researcher_ids",
                "ends_on",
                "destroy_by"
            ]
        );
        let rae = Uuid::now_v7();
        let ok = validate_agreement(&NewResearchAgreement {
            title: " Study ".into(),
            purpose: "Why".into(),
            data_scope: [DataScope::Scores].into(),
            researcher_ids: vec![rae, rae],
            starts_on: d("2026-09-01"),
            ends_on: d("2026-09-01"),
            destroy_by: d("2026-09-01"),
        })
        .unwrap();
        assert_eq!((ok.title.as_str(), ok.researcher_ids), ("Study", vec![rae]));
    }

    #[test]
    fn scopes_round_trip_as_text() {
        let all: BTreeSet<_> = DataScope::ALL.into();
        assert_eq!(scopes_to_text(&all), "attendance,membership,scores");
        assert_eq!(scopes_from_text("attendance,membership,scores"), all);
        assert_eq!(DataScope::parse(" Scores "), Some(DataScope::Scores));
        assert_eq!(DataScope::parse("grades"), None);
    }

    #[test]
    fn the_csv_quotes_and_defuses_cells() {
        let rae = Uuid::now_v7();
        let row = Disclosure {
            id: Uuid::now_v7(),
            agreement_id: None,
            recipient_id: rae,
            scope: DataScope::Scores,
            dataset: "=HYPERLINK(\"x\"), year 2026".into(),
            rows: 7,
            excluded: 1,
            disclosed_at: "2026-11-25T10:00:00Z".parse().unwrap(),
        };
        let csv = disclosures_csv(&[(row, "Rae, Tester".into())]);
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some(
                "disclosed_at,recipient_id,recipient_name,agreement_id,scope,dataset,rows,excluded"
            )
        );
        assert_eq!(
            lines.next().unwrap(),
            format!(
                "2026-11-25T10:00:00Z,{rae},\"Rae, Tester\",,scores,\"'=HYPERLINK(\"\"x\"\"), year 2026\",7,1"
            )
        );
    }
}
