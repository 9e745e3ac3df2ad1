//! Roster import through GraphQL: `importRoster` takes the files as
//! multipart uploads (the GraphQL multipart request spec, which
//! async-graphql-axum's `GraphQLRequest` reads; the parts are spooled to
//! temp files, never held whole in memory) and streams them to membership's
//! `RosterService.UploadRoster`, which runs the same import job as
//! `collegium import`. `rosterImportJob` / `rosterImportJobs` read the job's
//! state, progress and report. Tenant admins only (membership decides); the
//! tenant is the caller's token's.
//!
//! Upload bodies have their own size limit (`COLLEGIUM_MAX_UPLOAD_BYTES`,
//! applied in `http.rs` to multipart requests only); membership refuses more
//! than 512 MiB per upload on its own.

use std::collections::VecDeque;

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject, Upload};
use collegium_proto::membership::v1::{
    self as pb, roster_service_client::RosterServiceClient, roster_upload_chunk::Part,
};
use futures::StreamExt;
use platform::{Error, auth::Principal, grpc::ForwardCaller};
use tokio::io::AsyncReadExt;
use tonic::{service::interceptor::InterceptedService, transport::Channel};

use super::{
    convert::{id_argument, instant, nodes, optional_instant, proto_enum, unary},
    paging::{Page, connection, page_request},
    unauthenticated,
};
use crate::error::{graphql_error, status_error};

type Client = RosterServiceClient<InterceptedService<Channel, ForwardCaller>>;

/// Bytes per gRPC message of an upload (well under the 4 MiB message cap).
const CHUNK_BYTES: usize = 256 * 1024;

/// Roster import as one caller sees it: a client carrying their token.
pub struct RosterImports {
    client: Client,
}

impl RosterImports {
    /// `channel` is membership's shared connection.
    pub fn for_caller(channel: &Channel, principal: &Principal) -> platform::Result<Self> {
        Ok(Self {
            client: RosterServiceClient::with_interceptor(
                channel.clone(),
                ForwardCaller::new(&principal.token)?,
            ),
        })
    }
}

fn imports<'a>(ctx: &Context<'a>) -> Result<&'a RosterImports> {
    ctx.data_opt::<RosterImports>().ok_or_else(unauthenticated)
}

proto_enum!(
    "membership",
    /// The format of a roster upload.
    RosterFormat => RosterFormat {
        /// A OneRoster 1.1 CSV set: manifest.csv, orgs.csv, users.csv, … each
        /// uploaded as its own file under its own name (no zip).
        Oneroster,
        /// One collegium-people.csv (any file name).
        PeopleCsv,
    }
);

proto_enum!(
    "membership",
    /// Where a roster import job is.
    RosterImportState => RosterImportState {
        /// Reading the files and computing the diff.
        Reading,
        /// Writing batches.
        Writing,
        /// Ended: see `outcome`.
        Finished,
    }
);

proto_enum!(
    "membership",
    /// How a roster import job ended.
    RosterImportOutcome => RosterImportOutcome {
        /// The diff only; nothing was written.
        DryRun,
        /// Every batch was written.
        Applied,
        /// Over the deactivation threshold without `confirmThreshold`; nothing was written.
        Stopped,
        /// A file cannot be imported (see `report.fileErrors`); nothing was written.
        Invalid,
        /// Stopped part-way; upload the same files again with `apply` to continue.
        Failed,
    }
);

#[derive(InputObject)]
pub struct ImportRosterInput {
    pub format: RosterFormat,
    /// The files, as multipart uploads; their file names matter for OneRoster.
    pub files: Vec<Upload>,
    /// Write the changes. Without it the import is a dry run showing the diff.
    pub apply: Option<bool>,
    /// Apply even though more than 10% of the tenant's active roster-managed
    /// people would be deactivated.
    pub confirm_threshold: Option<bool>,
    /// People CSV only: the file lists changes only (nobody it lacks is deactivated).
    pub delta: Option<bool>,
}

#[derive(SimpleObject)]
pub struct RosterImportProgress {
    /// Rows to write (known once writing starts).
    pub rows_total: u64,
    pub rows_written: u64,
    pub batches_done: u64,
    /// Known once the job has ended.
    pub batches_total: u64,
}

#[derive(SimpleObject, Default)]
pub struct RosterCounts {
    pub created: u64,
    pub updated: u64,
    pub deactivated: u64,
    pub unchanged: u64,
}

impl From<Option<pb::RosterCounts>> for RosterCounts {
    fn from(c: Option<pb::RosterCounts>) -> Self {
        let c = c.unwrap_or_default();
        Self {
            created: c.created,
            updated: c.updated,
            deactivated: c.deactivated,
            unchanged: c.unchanged,
        }
    }
}

/// A row that is not imported, and why.
#[derive(SimpleObject)]
pub struct RosterRejectedRow {
    pub file: String,
    /// The row number, the header being row 1.
    pub row: u64,
    pub line: u64,
    pub external_id: Option<String>,
    pub reason: String,
}

/// A created, updated or deactivated row of the diff.
#[derive(SimpleObject)]
pub struct RosterChangedRow {
    /// `created`, `updated` or `deactivated`.
    pub change: String,
    /// `organisation` or `person`.
    pub entity: String,
    pub external_id: String,
    pub name: String,
    pub file: Option<String>,
    /// None for a person missing from a bulk file.
    pub row: Option<u64>,
    /// The roster-owned fields that change.
    pub fields: Vec<String>,
    pub note: Option<String>,
}

#[derive(SimpleObject)]
pub struct RosterFileError {
    pub file: String,
    pub message: String,
}

#[derive(SimpleObject)]
pub struct RosterSkipped {
    /// Why (`student`, `parent`, …): not imported by design.
    pub reason: String,
    pub count: u64,
}

#[derive(SimpleObject)]
pub struct RosterDeactivationCheck {
    pub active_managed: u64,
    pub deactivating: u64,
    pub limit_percent: u32,
    pub exceeded: bool,
}

/// The diff (a dry run) or what was written. Row lists are capped; `more…`
/// counts what was left out.
#[derive(SimpleObject)]
pub struct RosterImportReport {
    pub organisations: RosterCounts,
    pub people: RosterCounts,
    pub roles_granted: u64,
    pub rejected_count: u64,
    pub skipped_count: u64,
    pub skipped: Vec<RosterSkipped>,
    pub deactivation_check: Option<RosterDeactivationCheck>,
    pub file_errors: Vec<RosterFileError>,
    pub notes: Vec<String>,
    pub rejected: Vec<RosterRejectedRow>,
    pub more_rejected: u64,
    pub changes: Vec<RosterChangedRow>,
    pub more_changes: u64,
}

impl From<pb::RosterImportReport> for RosterImportReport {
    fn from(r: pb::RosterImportReport) -> Self {
        let mut skipped: Vec<RosterSkipped> = r
            .skipped
            .into_iter()
            .map(|(reason, count)| RosterSkipped { reason, count })
            .collect();
        skipped.sort_by(|a, b| a.reason.cmp(&b.reason));
        Self {
            organisations: r.organisations.into(),
            people: r.people.into(),
            roles_granted: r.roles_granted,
            rejected_count: r.rejected_count,
            skipped_count: r.skipped_count,
            skipped,
            deactivation_check: r.deactivation_check.map(|d| RosterDeactivationCheck {
                active_managed: d.active_managed,
                deactivating: d.deactivating,
                limit_percent: d.limit_percent,
                exceeded: d.exceeded,
            }),
            file_errors: r
                .file_errors
                .into_iter()
                .map(|e| RosterFileError {
                    file: e.file,
                    message: e.message,
                })
                .collect(),
            notes: r.notes,
            rejected: r
                .rejected
                .into_iter()
                .map(|x| RosterRejectedRow {
                    file: x.file,
                    row: x.row,
                    line: x.line,
                    external_id: non_empty(x.external_id),
                    reason: x.reason,
                })
                .collect(),
            more_rejected: r.more_rejected,
            changes: r
                .changes
                .into_iter()
                .map(|c| RosterChangedRow {
                    change: c.change,
                    entity: c.entity,
                    external_id: c.external_id,
                    name: c.name,
                    file: non_empty(c.file),
                    row: (c.row > 0).then_some(c.row),
                    fields: c.fields,
                    note: non_empty(c.note),
                })
                .collect(),
            more_changes: r.more_changes,
        }
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// A roster import job: an upload's job (known to the membership pod that
/// received it), or an applied import job read back from the store.
#[derive(SimpleObject)]
pub struct RosterImportJob {
    pub id: ID,
    pub format: RosterFormat,
    pub apply: bool,
    pub confirm_threshold: bool,
    pub file_names: Vec<String>,
    /// Bytes uploaded.
    pub bytes: u64,
    pub state: RosterImportState,
    /// Set once finished.
    pub outcome: Option<RosterImportOutcome>,
    /// Why it stopped, or what to do next.
    pub message: Option<String>,
    pub progress: RosterImportProgress,
    /// Once finished (none for a job read back from the store).
    pub report: Option<RosterImportReport>,
    /// The durable import job that wrote the changes (applies only).
    pub import_job_id: Option<ID>,
    /// This run continued an import job of the same files that had stopped.
    pub resumed: bool,
    pub started_by: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Organisations and people together, once finished.
    pub totals: Option<RosterCounts>,
    pub rejected_count: u64,
}

impl RosterImportJob {
    fn from_service(j: pb::RosterImportJob) -> Result<Self> {
        let progress = j.progress.unwrap_or_default();
        Ok(Self {
            id: ID(j.id),
            format: RosterFormat::from_service(j.format)?,
            apply: j.apply,
            confirm_threshold: j.confirm_threshold,
            file_names: j.file_names,
            bytes: j.bytes,
            state: RosterImportState::from_service(j.state)?,
            outcome: RosterImportOutcome::from_proto(j.outcome),
            message: non_empty(j.message),
            progress: RosterImportProgress {
                rows_total: progress.rows_total,
                rows_written: progress.rows_written,
                batches_done: progress.batches_done,
                batches_total: progress.batches_total,
            },
            report: j.report.map(Into::into),
            import_job_id: non_empty(j.import_job_id).map(ID),
            resumed: j.resumed,
            started_by: j.started_by,
            started_at: instant(
                "RosterImportJob.started_at",
                &j.started_at.unwrap_or_default().rfc3339,
            )?,
            finished_at: optional_instant(
                "RosterImportJob.finished_at",
                j.finished_at.as_ref().map(|t| &t.rfc3339),
            )?,
            totals: j.totals.map(|c| Some(c).into()),
            rejected_count: j.rejected_count,
        })
    }
}

#[derive(Default)]
pub struct RosterImportQuery;

#[Object]
impl RosterImportQuery {
    /// A roster import job by its id (or an applied job by its `importJobId`).
    /// Tenant admins only.
    async fn roster_import_job(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<RosterImportJob>> {
        let id = id_argument("id", &id)?;
        let mut client = imports(ctx)?.client.clone();
        match client
            .get_roster_import_job(pb::GetRosterImportJobRequest { id: id.to_string() })
            .await
        {
            Ok(job) => RosterImportJob::from_service(job.into_inner()).map(Some),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status_error(status)),
        }
    }

    /// The tenant's recent roster uploads, newest first. Tenant admins only.
    async fn roster_import_jobs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<RosterImportJob>> {
        let mut client = imports(ctx)?.client.clone();
        let after_given = after.is_some();
        let req = pb::ListRosterImportJobsRequest {
            page: Some(page_request(first, after)?),
        };
        let page = unary(client.list_roster_import_jobs(req)).await?;
        let jobs = page
            .jobs
            .into_iter()
            .map(RosterImportJob::from_service)
            .collect::<Result<Vec<_>>>()?;
        Ok(connection(
            after_given,
            nodes(jobs, |j| j.id.to_string(), |j| j),
            page.page,
        ))
    }
}

#[derive(Default)]
pub struct RosterImportMutation;

#[Object]
impl RosterImportMutation {
    /// Uploads roster files and starts an import job: a dry run showing the
    /// diff unless `apply`. Answers at once; follow the job with
    /// `rosterImportJob`. Tenant admins only.
    async fn import_roster(
        &self,
        ctx: &Context<'_>,
        input: ImportRosterInput,
    ) -> Result<RosterImportJob> {
        let mut client = imports(ctx)?.client.clone();
        if input.files.is_empty() {
            return Err(graphql_error(Error::invalid(
                "input.files",
                "upload at least one file",
            )));
        }
        let mut files = VecDeque::new();
        for (i, upload) in input.files.iter().enumerate() {
            let value = upload.value(ctx).map_err(|e| {
                graphql_error(Error::invalid(format!("input.files[{i}]"), e.to_string()))
            })?;
            // Browsers send a base name; some tools send a path.
            let name = value
                .filename
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or_default()
                .to_string();
            files.push_back((name, tokio::fs::File::from_std(value.content)));
        }
        let options = pb::RosterUploadOptions {
            format: input.format.to_proto() as i32,
            apply: input.apply.unwrap_or(false),
            confirm_threshold: input.confirm_threshold.unwrap_or(false),
            delta: input.delta.unwrap_or(false),
        };
        let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let first = pb::RosterUploadChunk {
            part: Some(Part::Options(options)),
        };
        let chunks = futures::stream::unfold(
            Feed {
                files,
                current: None,
                failed: failed.clone(),
            },
            Feed::next,
        );
        let stream = futures::stream::iter([first]).chain(chunks);
        let result = client.upload_roster(stream).await;
        if failed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(graphql_error(Error::internal(anyhow::anyhow!(
                "cannot read an uploaded file back from the gateway's temp directory"
            ))));
        }
        let job = result.map_err(status_error)?.into_inner();
        RosterImportJob::from_service(job)
    }
}

/// The file chunks of an upload, read from the spooled parts.
struct Feed {
    files: VecDeque<(String, tokio::fs::File)>,
    current: Option<(String, tokio::fs::File)>,
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Feed {
    async fn next(mut self) -> Option<(pb::RosterUploadChunk, Self)> {
        let chunk = |name: &str, data: Vec<u8>| pb::RosterUploadChunk {
            part: Some(Part::Chunk(pb::RosterFileChunk {
                file_name: name.to_string(),
                data,
            })),
        };
        loop {
            if self.current.is_none() {
                let (name, file) = self.files.pop_front()?;
                // An empty first chunk: an empty file is still sent, by name.
                let first = chunk(&name, vec![]);
                self.current = Some((name, file));
                return Some((first, self));
            }
            let (name, file) = self.current.as_mut()?;
            let mut buf = vec![0; CHUNK_BYTES];
            match file.read(&mut buf).await {
                Ok(0) => self.current = None,
                Ok(n) => {
                    buf.truncate(n);
                    let next = chunk(name, buf);
                    return Some((next, self));
                }
                Err(e) => {
                    tracing::error!(file = %name, error = %e, "cannot read an uploaded roster file");
                    self.failed.store(true, std::sync::atomic::Ordering::SeqCst);
                    // Not a plain file name: membership refuses the upload
                    // before any job starts, rather than import a truncated file.
                    return Some((chunk("/read-error", vec![]), self));
                }
            }
        }
    }
}
