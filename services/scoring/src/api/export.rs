//! CSV exports: scores per school for reporting, and the de-identified
//! research extract.

use std::collections::HashSet;

use collegium_proto::scoring::v1 as pb;
use platform::error::{Error, Result};
use ring::{hmac, rand::SecureRandom};
use uuid::Uuid;

use crate::{
    domain::{FinalScore, student::TenantKeys},
    store::ExportRow,
};

fn final_columns(r: &ExportRow) -> (String, String, String) {
    let (score, condition) = match &r.result.final_score {
        Some(FinalScore::Score(v)) => (format!("{v}"), String::new()),
        Some(FinalScore::Condition(c)) => (String::new(), c.clone()),
        None => (String::new(), String::new()),
    };
    let method = r
        .result
        .method
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    (score, condition, method)
}

fn finish(
    w: csv::Writer<Vec<u8>>,
    file_name: String,
    rows: u32,
    excluded: u32,
) -> Result<pb::CsvExport> {
    let bytes = w
        .into_inner()
        .map_err(|e| Error::internal(anyhow::anyhow!("{e}")))?;
    Ok(pb::CsvExport {
        file_name,
        csv: String::from_utf8(bytes).map_err(Error::internal)?,
        rows,
        excluded,
    })
}

/// Final scores of every resolved portfolio of the year, by school, with
/// the pseudonymous student id a school reports against (empty for a
/// folder anonymised by retention: its score stays, its student is gone).
pub fn school_scores(
    keys: &TenantKeys,
    year: i32,
    school: Option<Uuid>,
    rows: Vec<ExportRow>,
) -> Result<pb::CsvExport> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "school_id",
        "student_ref",
        "portfolio_id",
        "grade_level",
        "academic_year",
        "session_id",
        "final_score",
        "final_condition",
        "method",
    ])
    .map_err(Error::internal)?;
    let n = rows.len() as u32;
    for r in &rows {
        let student = if r.anonymised {
            String::new()
        } else {
            keys.decrypt(&r.student_enc).map_err(Error::internal)?
        };
        let (score, condition, method) = final_columns(r);
        w.write_record([
            r.result.school_id.to_string(),
            student,
            r.result.portfolio_id.to_string(),
            r.grade_level.to_string(),
            r.academic_year.to_string(),
            r.result.session_id.to_string(),
            score,
            condition,
            method,
        ])
        .map_err(Error::internal)?;
    }
    let name = match school {
        Some(s) => format!("scores-{year}-{s}.csv"),
        None => format!("scores-{year}.csv"),
    };
    finish(w, name, n, 0)
}

/// Final scores without student ids, leaving out every student with an
/// active research opt-out. Each student gets a `research_id` keyed by a
/// random key made for this extract alone, so rows of one student link
/// within the extract but not across extracts (nor back to the student).
///
/// Folders anonymised by retention are left out too: without the student
/// id their opt-out cannot be checked, so the extract fails closed. Each
/// counts once in `excluded` (its student is unknown, so it is counted as
/// one).
pub fn research_extract(
    keys: &TenantKeys,
    year: i32,
    rows: Vec<ExportRow>,
    opted_out: &HashSet<String>,
) -> Result<pb::CsvExport> {
    let mut salt = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| Error::internal(anyhow::anyhow!("no system randomness")))?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salt);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "research_id",
        "school_id",
        "grade_level",
        "academic_year",
        "final_score",
        "final_condition",
        "method",
    ])
    .map_err(Error::internal)?;
    let mut written = 0u32;
    let mut excluded: HashSet<String> = HashSet::new();
    let mut anonymised: HashSet<Uuid> = HashSet::new();
    for r in &rows {
        if r.anonymised {
            anonymised.insert(r.result.portfolio_id);
            continue;
        }
        let student = keys.decrypt(&r.student_enc).map_err(Error::internal)?;
        if opted_out.contains(student.trim()) {
            excluded.insert(student);
            continue;
        }
        let tag = hmac::sign(&key, student.as_bytes());
        let research_id: String = tag.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let (score, condition, method) = final_columns(r);
        w.write_record([
            research_id,
            r.result.school_id.to_string(),
            r.grade_level.to_string(),
            r.academic_year.to_string(),
            score,
            condition,
            method,
        ])
        .map_err(Error::internal)?;
        written += 1;
    }
    finish(
        w,
        format!("research-extract-{year}.csv"),
        written,
        (excluded.len() + anonymised.len()) as u32,
    )
}
