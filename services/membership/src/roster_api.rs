//! `RosterService`: roster import over gRPC (behind GraphQL's `importRoster`).
//!
//! An upload streams its files into a spool directory of its own (never
//! whole in memory; at most [`UploadLimits::max_bytes`] in all, refused
//! naming the file that passes it), then the **same** import job as
//! `collegium import` runs in the background: the files are read with
//! [`oneroster::parse`] / [`people_csv::parse`] over a [`Directory`], and
//! [`job::run`] diffs, checks the threshold and writes in batches. The call
//! answers at once with the job; its state, progress and, once finished,
//! the report (capped row lists) are read with `GetRosterImportJob`.
//!
//! Where state lives, and its limits:
//!
//! - The upload job (progress, report) is held in the memory of the pod
//!   running it and saved to `roster_uploads` when it starts, every
//!   [`SAVE_EVERY`] while it runs and when it ends, so every pod answers
//!   for it (the running pod from memory, the others from the last save).
//!   An unfinished upload not saved for [`STALE_AFTER`] was stopped with its
//!   pod: it reads as failed, and uploading the same files again continues
//!   the import. Saved uploads expire with the tenant's `roster_uploads`
//!   retention period (their reports list rejected rows).
//! - An applied job is also the durable `import_jobs` row that
//!   [`job::run`] writes; its id is the upload's `import_job_id`, and
//!   `GetRosterImportJob` finds it on any pod, with its counts.
//! - The spooled files are deleted when the job ends. Applying after a dry
//!   run means uploading the same files again with `apply`; a job stopped
//!   part-way (a restart, a lost database) continues the same import job when
//!   the same files are uploaded again (see the rules in [`crate::roster`]).
//! - One upload per tenant runs at a time (checked in this pod's memory and
//!   against the uploads other pods saved within [`STALE_AFTER`]).
//!
//! Tenant admins only; the tenant is the token's, so another tenant's job id
//! is simply not found.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use collegium_proto::{common::v1 as common, membership::v1 as pb};
use platform::{
    auth::{Principal, TenantId},
    error::{Error, Result},
    grpc::principal,
    page::Page,
};
use prost::Message;
use tokio::io::AsyncWriteExt;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

use crate::{
    MembershipStore,
    domain::Tenant,
    roster::{
        Counts, FileMode, ImportJob, JobStatus, Limits, RosterUpload, SourceKind,
        job::{self, ImportOptions, Progress},
        oneroster, people_csv,
        plan::Change,
        report::{ImportReport, Outcome},
        source::Directory,
    },
};

/// The most bytes one upload may carry, all files together.
pub const MAX_UPLOAD_BYTES: u64 = 512 << 20;
/// The most files in one upload (a OneRoster set has at most 13).
pub const MAX_UPLOAD_FILES: usize = 20;
/// Rows listed per list of a report (rejected, changed); the rest are counted.
pub const MAX_LISTED_ROWS: usize = 1000;
/// Upload jobs remembered in memory per tenant (the oldest finished ones are
/// dropped; they stay readable from `roster_uploads`).
pub const JOBS_KEPT_PER_TENANT: usize = 50;

/// How often a running upload's progress is saved for the other pods.
pub const SAVE_EVERY: Duration = Duration::from_secs(2);

/// An unfinished upload not saved for this long was stopped with its pod.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// What one upload may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Bytes, all files together.
    pub max_bytes: u64,
    pub max_files: usize,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_bytes: MAX_UPLOAD_BYTES,
            max_files: MAX_UPLOAD_FILES,
        }
    }
}

/// The gRPC service over a store.
#[derive(Clone)]
pub struct RosterApi {
    store: Arc<dyn MembershipStore>,
    limits: UploadLimits,
    spool_root: PathBuf,
    jobs: Arc<Mutex<BTreeMap<Uuid, Arc<UploadJob>>>>,
    stale_after: Duration,
}

impl RosterApi {
    /// Spools uploads under the system's temp directory (`TMPDIR`).
    pub fn new(store: Arc<dyn MembershipStore>) -> Self {
        Self {
            store,
            limits: UploadLimits::default(),
            spool_root: std::env::temp_dir(),
            jobs: Arc::default(),
            stale_after: STALE_AFTER,
        }
    }

    /// How long an unfinished upload may go unsaved before it reads as
    /// stopped (tests shorten it).
    pub fn with_stale_after(mut self, after: Duration) -> Self {
        self.stale_after = after;
        self
    }

    /// Another upload of the tenant running here or, as last saved, on
    /// another pod.
    async fn running_anywhere(&self, t: TenantId) -> Result<Option<Uuid>> {
        if let Some(id) = self.running_job(t) {
            return Ok(Some(id));
        }
        let since = Utc::now() - chrono::Duration::from_std(self.stale_after).unwrap_or_default();
        self.store.running_roster_upload(t, since).await
    }

    /// A saved upload as the API shows it; one left unfinished by a pod
    /// that stopped reads as failed.
    fn saved_out(&self, u: RosterUpload) -> Result<pb::RosterImportJob> {
        let mut job = pb::RosterImportJob::decode(u.job.as_slice())
            .map_err(|e| Error::internal(anyhow::anyhow!("roster upload {}: {e}", u.id)))?;
        let stale = Utc::now() - chrono::Duration::from_std(self.stale_after).unwrap_or_default();
        if !u.finished && u.updated_at < stale {
            job.state = pb::RosterImportState::Finished as i32;
            job.outcome = pb::RosterImportOutcome::Failed as i32;
            job.message = format!(
                "The membership instance running this upload stopped before it finished \
                 (last heard from at {}). Whatever batches were written are kept; upload the \
                 same files again to continue.",
                platform::fields::ts(u.updated_at)
            );
            job.finished_at = Some(ts(u.updated_at));
        }
        Ok(job)
    }

    pub fn with_limits(mut self, limits: UploadLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn with_spool_root(mut self, dir: &Path) -> Self {
        self.spool_root = dir.to_path_buf();
        self
    }

    fn running_job(&self, t: TenantId) -> Option<Uuid> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.values()
            .find(|j| j.tenant == t && !j.is_finished())
            .map(|j| j.id)
    }

    /// Remembers `job`, unless another upload of its tenant is running.
    fn register(&self, job: Arc<UploadJob>) -> Result<()> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(other) = jobs
            .values()
            .find(|j| j.tenant == job.tenant && !j.is_finished())
        {
            return Err(busy(other.id));
        }
        let mine: Vec<Uuid> = jobs
            .values()
            .filter(|j| j.tenant == job.tenant && j.is_finished())
            .map(|j| j.id)
            .collect();
        let excess = (mine.len() + 1).saturating_sub(JOBS_KEPT_PER_TENANT);
        for id in mine.into_iter().take(excess) {
            jobs.remove(&id);
        }
        jobs.insert(job.id, job);
        Ok(())
    }

    fn job(&self, t: TenantId, id: Uuid) -> Option<Arc<UploadJob>> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.get(&id).filter(|j| j.tenant == t).cloned()
    }

    async fn receive(
        &self,
        p: &Principal,
        stream: &mut Streaming<pb::RosterUploadChunk>,
    ) -> Result<pb::RosterImportJob> {
        let options = match next(stream).await? {
            Some(pb::roster_upload_chunk::Part::Options(o)) => o,
            _ => {
                return Err(Error::invalid(
                    "options",
                    "the first message must carry the upload's options",
                ));
            }
        };
        let kind = match options.format() {
            pb::RosterFormat::Oneroster => SourceKind::Oneroster,
            pb::RosterFormat::PeopleCsv => SourceKind::PeopleCsv,
            pb::RosterFormat::Unspecified => {
                return Err(Error::invalid(
                    "options.format",
                    "say which format: oneroster or people_csv",
                ));
            }
        };
        if options.delta && kind != SourceKind::PeopleCsv {
            return Err(Error::invalid(
                "options.delta",
                "only for people_csv (a OneRoster manifest says bulk or delta per file)",
            ));
        }
        if let Some(other) = self.running_anywhere(p.tenant).await? {
            return Err(busy(other));
        }

        let spool = Spool::create(&self.spool_root).await?;
        let mut names: Vec<String> = vec![];
        let mut seen = HashSet::new();
        let mut current: Option<(String, tokio::fs::File)> = None;
        let mut total: u64 = 0;
        while let Some(part) = next(stream).await? {
            let chunk = match part {
                pb::roster_upload_chunk::Part::Chunk(c) => c,
                pb::roster_upload_chunk::Part::Options(_) => {
                    return Err(Error::invalid(
                        "options",
                        "only the first message carries options",
                    ));
                }
            };
            let name = chunk.file_name.trim();
            if current.as_ref().is_none_or(|(n, _)| n != name) {
                check_file_name(name)?;
                if !seen.insert(name.to_string()) {
                    return Err(Error::invalid(
                        "chunk.file_name",
                        format!(
                            "{name}: a file's chunks must be sent together, and each file once"
                        ),
                    ));
                }
                if seen.len() > self.limits.max_files {
                    return Err(Error::invalid(
                        "chunk.file_name",
                        format!("{name}: at most {} files per upload", self.limits.max_files),
                    ));
                }
                if let Some((_, mut file)) = current.take() {
                    file.flush().await.map_err(Error::internal)?;
                }
                let file = tokio::fs::File::create(spool.path.join(name))
                    .await
                    .map_err(Error::internal)?;
                names.push(name.to_string());
                current = Some((name.to_string(), file));
            }
            total += chunk.data.len() as u64;
            if total > self.limits.max_bytes {
                return Err(Error::invalid(
                    format!("files[{name}]"),
                    format!(
                        "{name}: the upload passes the limit of {} bytes ({} MiB, all files \
                         together); nothing was imported",
                        self.limits.max_bytes,
                        self.limits.max_bytes >> 20
                    ),
                ));
            }
            if let Some((_, file)) = current.as_mut() {
                file.write_all(&chunk.data).await.map_err(Error::internal)?;
            }
        }
        if let Some((_, mut file)) = current.take() {
            file.flush().await.map_err(Error::internal)?;
        }
        match (kind, names.len()) {
            (_, 0) => return Err(Error::invalid("files", "no files were sent")),
            (SourceKind::PeopleCsv, n) if n > 1 => {
                return Err(Error::invalid(
                    "files",
                    "a people_csv import takes exactly one file",
                ));
            }
            _ => {}
        }
        let tenant = self.store.get_tenant(p.tenant).await?;

        let job = Arc::new(UploadJob {
            id: Uuid::now_v7(),
            tenant: p.tenant,
            kind,
            apply: options.apply,
            confirm: options.confirm_threshold,
            file_names: names,
            bytes: total,
            started_by: p.actor(),
            started_at: Utc::now(),
            rows_total: AtomicU64::new(0),
            rows_written: AtomicU64::new(0),
            batches_done: AtomicU64::new(0),
            state: Mutex::new(JobState {
                writing: false,
                finished: None,
            }),
        });
        self.register(job.clone())?;
        let answer = job.to_pb();
        let summary = serde_json::json!({
            "id": job.id,
            "format": options.format().as_str_name(),
            "apply": job.apply,
            "confirm_threshold": job.confirm,
            "delta": options.delta,
            "file_names": job.file_names,
            "bytes": job.bytes,
        });
        if let Err(e) = self
            .store
            .start_roster_upload(
                p.tenant,
                &p.actor(),
                job.id,
                answer.encode_to_vec(),
                summary,
            )
            .await
        {
            self.jobs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&job.id);
            return Err(e);
        }
        let store = self.store.clone();
        let delta = options.delta;
        tokio::spawn(async move {
            let work = tokio::spawn(run(store.clone(), tenant, job.clone(), spool, delta));
            tokio::pin!(work);
            let mut tick = tokio::time::interval(SAVE_EVERY);
            tick.tick().await;
            let result = loop {
                tokio::select! {
                    done = &mut work => break match done {
                        Ok(result) => result,
                        Err(e) => Err(Error::internal(anyhow::anyhow!("roster import task: {e}"))),
                    },
                    _ = tick.tick() => {
                        if let Err(e) = job.save(store.as_ref(), false).await {
                            tracing::warn!(job = %job.id, error = %e, "roster upload progress not saved");
                        }
                    }
                }
            };
            job.finish(result);
            // The end (with the report) must reach the other pods: a few tries.
            for attempt in 1..=5u64 {
                match job.save(store.as_ref(), true).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(job = %job.id, attempt, error = %e, "roster upload end not saved");
                        tokio::time::sleep(Duration::from_secs(attempt)).await;
                    }
                }
            }
        });
        Ok(answer)
    }
}

fn busy(other: Uuid) -> Error {
    Error::FailedPrecondition(format!(
        "roster import job {other} of this tenant is still running; wait for it to finish"
    ))
}

/// The next part of the stream (`None` at its end).
async fn next(
    stream: &mut Streaming<pb::RosterUploadChunk>,
) -> Result<Option<pb::roster_upload_chunk::Part>> {
    loop {
        match stream.message().await.map_err(Error::from_status)? {
            None => return Ok(None),
            Some(pb::RosterUploadChunk { part: Some(part) }) => return Ok(Some(part)),
            Some(_) => continue,
        }
    }
}

/// A plain file name: no directories, nothing hidden.
fn check_file_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain {
        Ok(())
    } else {
        Err(Error::invalid(
            "chunk.file_name",
            format!(
                "{name:?} is not a plain file name (letters, digits, '.', '_', '-'; \
                 no directories)"
            ),
        ))
    }
}

/// The directory of one upload's files, deleted with it.
struct Spool {
    path: PathBuf,
}

impl Spool {
    async fn create(root: &Path) -> Result<Self> {
        let path = root.join(format!("collegium-roster-{}", Uuid::now_v7()));
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(|e| Error::internal(anyhow::anyhow!("spool {}: {e}", path.display())))?;
        Ok(Self { path })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.path.display(), error = %e, "cannot remove a roster spool");
        }
    }
}

/// Reads the spooled files and runs the import job, as the CLI does.
async fn run(
    store: Arc<dyn MembershipStore>,
    tenant: Tenant,
    job: Arc<UploadJob>,
    spool: Spool,
    delta: bool,
) -> Result<ImportReport> {
    let dir = Directory::new(&spool.path).map_err(Error::internal)?;
    let kind = job.kind;
    let first = job.file_names.first().cloned().unwrap_or_default();
    let mode = if delta {
        FileMode::Delta
    } else {
        FileMode::Bulk
    };
    let limits = Limits::default();
    let roster = tokio::task::spawn_blocking(move || match kind {
        SourceKind::Oneroster => oneroster::parse(&dir, &limits),
        SourceKind::PeopleCsv => people_csv::parse(&dir, &first, mode, &limits),
    })
    .await
    .map_err(Error::internal)?;
    let options = ImportOptions {
        apply: job.apply,
        confirm_deactivations: job.confirm,
        actor: job.started_by.clone(),
        ..ImportOptions::default()
    };
    let report = job::run(store.as_ref(), &tenant, &roster, &options, job.as_ref()).await;
    drop(spool);
    report
}

/// One upload's job, as this pod knows it.
struct UploadJob {
    id: Uuid,
    tenant: TenantId,
    kind: SourceKind,
    apply: bool,
    confirm: bool,
    file_names: Vec<String>,
    bytes: u64,
    started_by: String,
    started_at: DateTime<Utc>,
    rows_total: AtomicU64,
    rows_written: AtomicU64,
    batches_done: AtomicU64,
    state: Mutex<JobState>,
}

struct JobState {
    writing: bool,
    finished: Option<Finished>,
}

struct Finished {
    outcome: pb::RosterImportOutcome,
    message: String,
    report: Option<pb::RosterImportReport>,
    totals: Counts,
    rejected: u64,
    import_job_id: Option<Uuid>,
    resumed: bool,
    batches_total: u64,
    at: DateTime<Utc>,
}

impl Progress for UploadJob {
    fn start(&self, rows: u64) {
        self.rows_total.store(rows, Ordering::Relaxed);
        self.state.lock().unwrap_or_else(|e| e.into_inner()).writing = true;
    }

    fn advance(&self, rows: u64) {
        self.rows_written.fetch_add(rows, Ordering::Relaxed);
        self.batches_done.fetch_add(1, Ordering::Relaxed);
    }
}

impl UploadJob {
    /// Saves this upload as the API shows it now.
    async fn save(&self, store: &dyn MembershipStore, finished: bool) -> Result<()> {
        store
            .save_roster_upload(self.tenant, self.id, self.to_pb().encode_to_vec(), finished)
            .await
    }

    fn is_finished(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finished
            .is_some()
    }

    fn finish(&self, result: Result<ImportReport>) {
        let finished = match result {
            Ok(report) => {
                let mut totals = report.counts.organisations;
                totals.add(&report.counts.people);
                Finished {
                    outcome: match report.outcome {
                        Outcome::DryRun => pb::RosterImportOutcome::DryRun,
                        Outcome::Applied => pb::RosterImportOutcome::Applied,
                        Outcome::Stopped => pb::RosterImportOutcome::Stopped,
                        Outcome::Invalid => pb::RosterImportOutcome::Invalid,
                        Outcome::Failed => pb::RosterImportOutcome::Failed,
                    },
                    // The report speaks the CLI's flags; an upload has options.
                    message: report
                        .message
                        .as_deref()
                        .unwrap_or_default()
                        .replace("--confirm-deactivations", "confirm_threshold")
                        .replace("--apply", "apply")
                        .replace("run the same import again", "upload the same files again")
                        .replace("run the import again", "upload them again")
                        .replace("run it again", "upload the files again"),
                    report: Some(report_out(&report)),
                    totals,
                    rejected: report.counts.rejected,
                    import_job_id: report.job.as_ref().map(|j| j.id),
                    resumed: report.job.as_ref().is_some_and(|j| j.resumed),
                    batches_total: report.job.as_ref().map_or(0, |j| j.batches),
                    at: Utc::now(),
                }
            }
            Err(e) => {
                tracing::error!(job = %self.id, error = ?e, "roster upload job failed");
                Finished {
                    outcome: pb::RosterImportOutcome::Failed,
                    message: format!(
                        "The import stopped ({e}). Whatever batches were written are kept; \
                         upload the same files again to continue."
                    ),
                    report: None,
                    totals: Counts::default(),
                    rejected: 0,
                    import_job_id: None,
                    resumed: false,
                    batches_total: 0,
                    at: Utc::now(),
                }
            }
        };
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finished = Some(finished);
    }

    fn to_pb(&self) -> pb::RosterImportJob {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = pb::RosterImportJob {
            id: self.id.to_string(),
            format: format_out(self.kind) as i32,
            apply: self.apply,
            confirm_threshold: self.confirm,
            file_names: self.file_names.clone(),
            bytes: self.bytes,
            state: if state.finished.is_some() {
                pb::RosterImportState::Finished
            } else if state.writing {
                pb::RosterImportState::Writing
            } else {
                pb::RosterImportState::Reading
            } as i32,
            progress: Some(pb::RosterImportProgress {
                rows_total: self.rows_total.load(Ordering::Relaxed),
                rows_written: self.rows_written.load(Ordering::Relaxed),
                batches_done: self.batches_done.load(Ordering::Relaxed),
                batches_total: state.finished.as_ref().map_or(0, |f| f.batches_total),
            }),
            started_by: self.started_by.clone(),
            started_at: Some(ts(self.started_at)),
            ..Default::default()
        };
        if let Some(f) = &state.finished {
            out.outcome = f.outcome as i32;
            out.message = f.message.clone();
            out.report = f.report.clone();
            out.import_job_id = f.import_job_id.map(|id| id.to_string()).unwrap_or_default();
            out.resumed = f.resumed;
            out.finished_at = Some(ts(f.at));
            out.totals = Some(counts_out(&f.totals));
            out.rejected_count = f.rejected;
        }
        out
    }
}

// ------------------------------------------------------------ conversions

fn ts(t: DateTime<Utc>) -> common::Timestamp {
    common::Timestamp {
        rfc3339: t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }
}

fn format_out(kind: SourceKind) -> pb::RosterFormat {
    match kind {
        SourceKind::Oneroster => pb::RosterFormat::Oneroster,
        SourceKind::PeopleCsv => pb::RosterFormat::PeopleCsv,
    }
}

fn counts_out(c: &Counts) -> pb::RosterCounts {
    pb::RosterCounts {
        created: c.created,
        updated: c.updated,
        deactivated: c.deactivated,
        unchanged: c.unchanged,
    }
}

/// The report with its row lists capped at [`MAX_LISTED_ROWS`].
fn report_out(r: &ImportReport) -> pb::RosterImportReport {
    let changed: Vec<_> = r
        .rows
        .iter()
        .filter(|row| row.change != Change::Unchanged)
        .collect();
    pb::RosterImportReport {
        organisations: Some(counts_out(&r.counts.organisations)),
        people: Some(counts_out(&r.counts.people)),
        roles_granted: r.counts.roles_granted,
        rejected_count: r.counts.rejected,
        skipped_count: r.counts.skipped,
        skipped: r.skipped.clone().into_iter().collect(),
        deactivation_check: r.deactivation_check.map(|d| pb::RosterDeactivationCheck {
            active_managed: d.active_managed,
            deactivating: d.deactivating,
            limit_percent: d.limit_percent,
            exceeded: d.exceeded,
        }),
        file_errors: r
            .file_errors
            .iter()
            .map(|e| pb::RosterFileError {
                file: e.file.clone(),
                message: e.message.clone(),
            })
            .collect(),
        notes: r.notes.clone(),
        rejected: r
            .rejected
            .iter()
            .take(MAX_LISTED_ROWS)
            .map(|x| pb::RosterRejectedRow {
                file: x.file.clone(),
                row: x.row,
                line: x.line,
                external_id: x.id.clone().unwrap_or_default(),
                reason: x.reason.clone(),
            })
            .collect(),
        more_rejected: r.rejected.len().saturating_sub(MAX_LISTED_ROWS) as u64,
        changes: changed
            .iter()
            .take(MAX_LISTED_ROWS)
            .map(|row| pb::RosterChangedRow {
                change: row.change.as_str().into(),
                entity: row.entity.as_str().into(),
                external_id: row.external_id.clone(),
                name: row.name.clone(),
                file: row.file.clone().unwrap_or_default(),
                row: row.row.unwrap_or_default(),
                fields: row.fields.clone(),
                note: row.note.clone().unwrap_or_default(),
            })
            .collect(),
        more_changes: changed.len().saturating_sub(MAX_LISTED_ROWS) as u64,
    }
}

/// A durable (applied) import job, as the store has it.
fn stored_job_out(j: ImportJob) -> pb::RosterImportJob {
    let (state, outcome, message) = match j.status {
        JobStatus::Running => (
            pb::RosterImportState::Writing,
            pb::RosterImportOutcome::Unspecified,
            String::new(),
        ),
        JobStatus::Completed => (
            pb::RosterImportState::Finished,
            pb::RosterImportOutcome::Applied,
            String::new(),
        ),
        JobStatus::Failed => (
            pb::RosterImportState::Finished,
            pb::RosterImportOutcome::Failed,
            j.error.clone().unwrap_or_default(),
        ),
        JobStatus::Superseded => (
            pb::RosterImportState::Finished,
            pb::RosterImportOutcome::Failed,
            "left unfinished, then replaced by an import of other files".into(),
        ),
    };
    pb::RosterImportJob {
        id: j.id.to_string(),
        format: format_out(j.source_kind) as i32,
        apply: true,
        confirm_threshold: j.deactivations_confirmed,
        state: state as i32,
        outcome: outcome as i32,
        message,
        progress: Some(pb::RosterImportProgress {
            rows_total: 0,
            rows_written: j.created + j.updated + j.deactivated,
            batches_done: j.batches_done,
            batches_total: 0,
        }),
        import_job_id: j.id.to_string(),
        started_by: j.started_by.clone(),
        started_at: Some(ts(j.started_at)),
        finished_at: j.finished_at.map(ts),
        totals: Some(pb::RosterCounts {
            created: j.created,
            updated: j.updated,
            deactivated: j.deactivated,
            unchanged: j.unchanged,
        }),
        rejected_count: j.rejected,
        ..Default::default()
    }
}

fn admin_only(p: &Principal) -> Result<()> {
    if p.is_tenant_admin() {
        Ok(())
    } else {
        Err(Error::forbidden("only a tenant admin may import rosters"))
    }
}

#[tonic::async_trait]
impl pb::roster_service_server::RosterService for RosterApi {
    #[tracing::instrument(skip_all)]
    async fn upload_roster(
        &self,
        req: Request<Streaming<pb::RosterUploadChunk>>,
    ) -> Result<Response<pb::RosterImportJob>, Status> {
        let p = principal(&req)?;
        admin_only(&p).map_err(Error::into_status)?;
        let mut stream = req.into_inner();
        self.receive(&p, &mut stream)
            .await
            .map(Response::new)
            .map_err(Error::into_status)
    }

    #[tracing::instrument(skip_all)]
    async fn get_roster_import_job(
        &self,
        req: Request<pb::GetRosterImportJobRequest>,
    ) -> Result<Response<pb::RosterImportJob>, Status> {
        let p = principal(&req)?;
        let result = async {
            admin_only(&p)?;
            let id = Uuid::parse_str(req.get_ref().id.trim())
                .map_err(|_| Error::invalid("id", "not a valid id"))?;
            if let Some(job) = self.job(p.tenant, id) {
                return Ok(job.to_pb());
            }
            if let Some(saved) = self.store.get_roster_upload(p.tenant, id).await? {
                return self.saved_out(saved);
            }
            match self.store.get_import_job(p.tenant, id).await {
                Ok(job) => Ok(stored_job_out(job)),
                Err(Error::NotFound(_)) => Err(Error::not_found("roster import job")),
                Err(e) => Err(e),
            }
        }
        .await;
        result.map(Response::new).map_err(Error::into_status)
    }

    #[tracing::instrument(skip_all)]
    async fn list_roster_import_jobs(
        &self,
        req: Request<pb::ListRosterImportJobsRequest>,
    ) -> Result<Response<pb::RosterImportJobPage>, Status> {
        let p = principal(&req)?;
        let result = async {
            admin_only(&p)?;
            let r = req.get_ref().page.clone().unwrap_or_default();
            let page = Page::new(r.page_size, &r.page_token)?;
            let (saved, next) = self.store.list_roster_uploads(p.tenant, page).await?;
            let jobs = saved
                .into_iter()
                .map(|u| match self.job(p.tenant, u.id) {
                    // Running here: fresher than the last save.
                    Some(job) => Ok(job.to_pb()),
                    None => self.saved_out(u),
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(pb::RosterImportJobPage {
                jobs,
                page: Some(common::PageInfo {
                    next_page_token: next,
                }),
            })
        }
        .await;
        result.map(Response::new).map_err(Error::into_status)
    }
}
