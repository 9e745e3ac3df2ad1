//! What an import shows: the counts, every changed and rejected row, and how
//! it ended. Serialises to JSON as is; [`ImportReport::to_text`] is the
//! reading for a person at a terminal.

use std::{collections::BTreeMap, fmt::Write};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Counts, FileError, JobStatus, Rejection, SourceKind,
    plan::{Change, DeactivationCheck, Plan, PlannedRow},
};

/// How an import ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The diff only; nothing was written.
    DryRun,
    /// Every batch was written.
    Applied,
    /// The deactivation threshold was passed without confirmation; nothing was written.
    Stopped,
    /// A file cannot be imported; nothing was written.
    Invalid,
    /// A batch failed; the batches before it are written and a re-run continues.
    Failed,
}

impl Outcome {
    /// Whether the caller should treat it as success.
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::DryRun | Outcome::Applied)
    }
}

/// The job that applied the import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: Uuid,
    /// A run that continued an unfinished job of the same files.
    pub resumed: bool,
    pub status: JobStatus,
    /// Batches written by this run, of how many.
    pub batches_written: u64,
    pub batches: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportCounts {
    pub organisations: Counts,
    pub people: Counts,
    /// Roles granted (applied) or to grant (dry run).
    pub roles_granted: u64,
    pub rejected: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub tenant: String,
    pub source: SourceKind,
    pub outcome: Outcome,
    /// Why it stopped, or what to do next.
    pub message: Option<String>,
    pub job: Option<JobSummary>,
    pub counts: ReportCounts,
    /// Skipped rows by reason (`student`, …): not imported by design.
    pub skipped: BTreeMap<String, u64>,
    pub deactivation_check: Option<DeactivationCheck>,
    pub file_errors: Vec<FileError>,
    pub notes: Vec<String>,
    /// Every row of the diff, unchanged ones too.
    pub rows: Vec<PlannedRow>,
    pub rejected: Vec<Rejection>,
}

impl ImportReport {
    pub fn new(tenant: &str, source: SourceKind) -> Self {
        Self {
            tenant: tenant.to_string(),
            source,
            outcome: Outcome::DryRun,
            message: None,
            job: None,
            counts: ReportCounts::default(),
            skipped: BTreeMap::new(),
            deactivation_check: None,
            file_errors: vec![],
            notes: vec![],
            rows: vec![],
            rejected: vec![],
        }
    }

    /// Takes the diff's rows and counts (what a dry run shows).
    pub fn with_plan(mut self, plan: &Plan) -> Self {
        self.counts = ReportCounts {
            organisations: plan.organisations,
            people: plan.people,
            roles_granted: plan.roles_to_grant,
            rejected: plan.rejected.len() as u64,
            skipped: plan.skipped.values().sum(),
        };
        self.skipped = plan.skipped.clone();
        self.deactivation_check = Some(plan.deactivation_check);
        self.notes.extend(plan.notes.iter().cloned());
        self.rows = plan.rows.clone();
        self.rejected = plan.rejected.clone();
        self
    }

    /// The report as text for a terminal; at most `max_rows` rows per list.
    pub fn to_text(&self, max_rows: usize) -> String {
        let mut out = String::new();
        let source = match self.source {
            SourceKind::Oneroster => "OneRoster 1.1 CSV",
            SourceKind::PeopleCsv => "collegium-people.csv",
        };
        let state = match self.outcome {
            Outcome::DryRun => "dry run, nothing written",
            Outcome::Applied => "applied",
            Outcome::Stopped => "stopped, nothing written",
            Outcome::Invalid => "cannot be imported, nothing written",
            Outcome::Failed => "failed part-way",
        };
        let _ = writeln!(
            out,
            "Roster import into {:?} from {source}: {state}",
            self.tenant
        );
        if let Some(job) = &self.job {
            let _ = writeln!(
                out,
                "Import job {} ({}{}): {} of {} batches written by this run",
                job.id,
                job.status.as_str(),
                if job.resumed { ", resumed" } else { "" },
                job.batches_written,
                job.batches
            );
        }
        if !self.file_errors.is_empty() {
            let _ = writeln!(out, "\nFiles that cannot be imported:");
            for e in &self.file_errors {
                let _ = writeln!(out, "  {}: {}", e.file, e.message);
            }
        }
        let c = &self.counts;
        let _ = writeln!(
            out,
            "\n{:<15}{:>9}{:>9}{:>13}{:>11}",
            "", "created", "updated", "deactivated", "unchanged"
        );
        for (name, n) in [("organisations", &c.organisations), ("people", &c.people)] {
            let _ = writeln!(
                out,
                "{name:<15}{:>9}{:>9}{:>13}{:>11}",
                n.created, n.updated, n.deactivated, n.unchanged
            );
        }
        let granted = if self.outcome == Outcome::Applied {
            "roles granted"
        } else {
            "roles to grant"
        };
        let _ = writeln!(
            out,
            "{granted}: {}   rejected rows: {}   skipped rows: {}",
            c.roles_granted, c.rejected, c.skipped
        );
        if !self.skipped.is_empty() {
            let by_reason: Vec<String> = self
                .skipped
                .iter()
                .map(|(reason, n)| format!("{reason}: {n}"))
                .collect();
            let _ = writeln!(out, "skipped: {}", by_reason.join(", "));
        }
        if let Some(d) = &self.deactivation_check
            && d.deactivating > 0
        {
            let _ = writeln!(
                out,
                "deactivating {} of {} active roster-managed people (limit {}%{})",
                d.deactivating,
                d.active_managed,
                d.limit_percent,
                if d.exceeded { ", passed" } else { "" }
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }

        let changed: Vec<&PlannedRow> = self
            .rows
            .iter()
            .filter(|r| r.change != Change::Unchanged)
            .collect();
        if !changed.is_empty() {
            let _ = writeln!(out, "\nChanges:");
            for r in changed.iter().take(max_rows) {
                let at = match (&r.file, r.row) {
                    (Some(f), Some(n)) => format!("{f} row {n}"),
                    _ => String::new(),
                };
                let mut detail = vec![];
                if !r.fields.is_empty() && r.change == Change::Updated {
                    detail.push(r.fields.join(", "));
                }
                if let Some(note) = &r.note {
                    detail.push(note.clone());
                }
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", detail.join("; "))
                };
                let _ = writeln!(
                    out,
                    "  {:<12} {:<13} {:<16} {:<28} {at}{detail}",
                    r.change.as_str(),
                    r.entity.as_str(),
                    r.external_id,
                    r.name
                );
            }
            more(&mut out, changed.len(), max_rows);
        }
        if !self.rejected.is_empty() {
            let _ = writeln!(out, "\nRejected rows:");
            for r in self.rejected.iter().take(max_rows) {
                let id =
                    r.id.as_deref()
                        .map(|i| format!(" ({i})"))
                        .unwrap_or_default();
                let _ = writeln!(out, "  {} row {}{id}: {}", r.file, r.row, r.reason);
            }
            more(&mut out, self.rejected.len(), max_rows);
        }
        if let Some(m) = &self.message {
            let _ = writeln!(out, "\n{m}");
        }
        out
    }
}

fn more(out: &mut String, len: usize, max: usize) {
    if len > max {
        let _ = writeln!(
            out,
            "  … and {} more (--format json lists every row)",
            len - max
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::{
        Limits, RosterSnapshot,
        oneroster::{self, tests::good_set},
        plan::plan,
    };

    #[test]
    fn the_text_shows_counts_changes_and_rejections() {
        let users =
            oneroster::tests::USERS_CSV.replace("Cy,Diaz,,,cy@lakeside.example", "Cy,Diaz,,,cy@");
        let roster = oneroster::parse(
            &good_set().with(oneroster::USERS, users),
            &Limits::default(),
        );
        let p = plan(&roster, &RosterSnapshot::default(), 10);
        let mut report = ImportReport::new("lakeside", SourceKind::Oneroster).with_plan(&p);
        report.message = Some("Add --apply to write these changes.".into());
        let text = report.to_text(2);
        assert!(text.starts_with(
            "Roster import into \"lakeside\" from OneRoster 1.1 CSV: dry run, nothing written\n"
        ));
        assert!(
            text.contains("\norganisations          3        0            0          0\n"),
            "{text}"
        );
        assert!(
            text.contains("\npeople                 3        0            0          0\n"),
            "{text}"
        );
        assert!(
            text.contains("roles to grant: 2   rejected rows: 1   skipped rows: 7"),
            "{text}"
        );
        assert!(text.contains("  created      organisation  d1 "), "{text}");
        assert!(
            text.contains("… and 4 more (--format json lists every row)"),
            "{text}"
        );
        assert!(
            text.contains("  users.csv row 4 (a1): email: \"cy@\" is not an e-mail address"),
            "{text}"
        );
        assert!(text.ends_with("Add --apply to write these changes.\n"));

        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["outcome"], "dry_run");
        assert_eq!(json["counts"]["people"]["created"], 3);
        assert_eq!(json["rejected"][0]["row"], 4);
        assert_eq!(json["rows"].as_array().unwrap().len(), 6);
    }
}
