//! The import job: a parsed roster, diffed against the tenant, shown, and —
//! when asked — applied in batches through the store. The one place an
//! import runs, whoever starts it: `collegium import` today, an upload
//! through GraphQL later (which reports progress through [`Progress`] and
//! finds the job's state in the store).
//!
//! What is written and how a stopped job continues is in the rules of
//! [`super`]. A job is written only when it applies: a dry run, an import
//! with file errors and one stopped at the threshold leave no trace.

use platform::error::Result;

use super::{
    BatchOutcome, DEFAULT_BATCH_SIZE, DEFAULT_DEACTIVATION_LIMIT_PERCENT, JobEnd, JobStatus,
    NewImportJob, ParsedRoster,
    plan::plan,
    report::{ImportReport, JobSummary, Outcome},
};
use crate::{MembershipStore, domain::Tenant};

/// How to run an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Write the changes (otherwise: a dry run).
    pub apply: bool,
    /// Apply even when more than `limit_percent` % would be deactivated.
    pub confirm_deactivations: bool,
    /// Rows per transaction.
    pub batch_size: usize,
    pub limit_percent: u32,
    /// Who starts the job (audit actor of the job's own records).
    pub actor: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            apply: false,
            confirm_deactivations: false,
            batch_size: DEFAULT_BATCH_SIZE,
            limit_percent: DEFAULT_DEACTIVATION_LIMIT_PERCENT,
            actor: "operator".into(),
        }
    }
}

/// Hears how far an apply has come (a progress bar, a job status for an upload).
pub trait Progress: Send + Sync {
    /// Writing starts: `rows` rows to write.
    fn start(&self, _rows: u64) {}
    /// A batch of `rows` rows committed.
    fn advance(&self, _rows: u64) {}
    /// Writing ended, well or not.
    fn finish(&self) {}
}

/// Progress nobody watches.
pub struct Silent;

impl Progress for Silent {}

/// Runs an import of `roster` into `tenant`. Returns the report whatever the
/// outcome (see [`Outcome`]); `Err` only when the tenant cannot be read or
/// the job cannot be started or finished.
pub async fn run(
    store: &dyn MembershipStore,
    tenant: &Tenant,
    roster: &ParsedRoster,
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let t = tenant.id;
    let snapshot = store.roster_snapshot(t).await?;
    let plan = plan(roster, &snapshot, options.limit_percent);
    let mut report = ImportReport::new(&tenant.slug, roster.kind).with_plan(&plan);
    report.file_errors = roster.file_errors.clone();
    let mut notes = roster.notes.clone();
    notes.append(&mut report.notes);
    report.notes = notes;

    if !roster.file_errors.is_empty() {
        report.outcome = Outcome::Invalid;
        report.message =
            Some("Nothing was written: fix the files above and run the import again.".into());
        return Ok(report);
    }
    let unfinished = store.resumable_import_job(t, &roster.source_hash).await?;
    if !options.apply {
        report.outcome = Outcome::DryRun;
        report.message = Some(match &unfinished {
            Some(job) => format!(
                "Nothing was written. Import job {} of these files stopped part-way; \
                 add --apply to continue it.",
                job.id
            ),
            None if plan.writes() == 0 => "Nothing was written, and nothing needs to be.".into(),
            None => "Nothing was written. Add --apply to write these changes.".into(),
        });
        return Ok(report);
    }
    let confirmed = options.confirm_deactivations
        || unfinished
            .as_ref()
            .is_some_and(|j| j.deactivations_confirmed);
    let check = plan.deactivation_check;
    if check.exceeded && !confirmed {
        report.outcome = Outcome::Stopped;
        report.message = Some(format!(
            "Stopped: this import would deactivate {} of {} active roster-managed people, \
             more than {}%. Nothing was written. If that is right, run it again with \
             --confirm-deactivations.",
            check.deactivating, check.active_managed, check.limit_percent
        ));
        return Ok(report);
    }

    let (job, resumed) = store
        .start_import_job(
            t,
            &options.actor,
            NewImportJob {
                source_kind: roster.kind,
                source_hash: roster.source_hash.clone(),
                deactivations_confirmed: options.confirm_deactivations,
            },
        )
        .await?;
    let actor = format!("import:{}", job.id);
    let batches = plan.batches(job.id, options.batch_size);
    let mut summary = JobSummary {
        id: job.id,
        resumed,
        status: JobStatus::Running,
        batches_written: 0,
        batches: batches.len() as u64,
    };
    progress.start(plan.writes() as u64);
    let mut done = BatchOutcome::default();
    let mut failure = None;
    for batch in &batches {
        match store.apply_roster_batch(t, &actor, batch).await {
            Ok(outcome) => {
                done.add(outcome);
                summary.batches_written += 1;
                progress.advance(batch.len() as u64);
            }
            Err(e) => {
                tracing::error!(job = %job.id, error = ?e, "roster batch failed");
                failure = Some(e);
                break;
            }
        }
    }
    progress.finish();

    // What was written, as the store saw it; unchanged rows from the diff.
    report.counts.organisations = done.organisations;
    report.counts.organisations.unchanged += plan.organisations.unchanged;
    report.counts.people = done.people;
    report.counts.people.unchanged += plan.people.unchanged;
    report.counts.roles_granted = done.roles_granted;
    report.rejected.extend(done.rejected.iter().cloned());
    report.counts.rejected = report.rejected.len() as u64;
    let end = JobEnd {
        status: if failure.is_some() {
            JobStatus::Failed
        } else {
            JobStatus::Completed
        },
        unchanged: report.counts.organisations.unchanged + report.counts.people.unchanged,
        rejected: report.counts.rejected,
        error: failure.as_ref().map(|e| e.to_string()),
    };
    let finished = store
        .finish_import_job(t, &options.actor, job.id, end)
        .await;
    match (failure, finished) {
        (None, Ok(job)) => {
            summary.status = job.status;
            report.outcome = Outcome::Applied;
        }
        (failure, finished) => {
            if let Err(e) = &finished {
                tracing::error!(job = %job.id, error = ?e, "cannot record how the import job ended");
            }
            summary.status = JobStatus::Failed;
            report.outcome = Outcome::Failed;
            let cause = failure
                .or(finished.err())
                .map(|e| e.to_string())
                .unwrap_or_default();
            report.message = Some(format!(
                "Import job {} stopped after {} of {} batches ({cause}). The batches written \
                 are kept; run the same import again to continue the job.",
                job.id, summary.batches_written, summary.batches
            ));
        }
    }
    report.job = Some(summary);
    Ok(report)
}
