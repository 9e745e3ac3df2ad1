// The one SQL body of the membership store, included by `postgres.rs` and
// `sqlite.rs` with `Db`/`Pool` naming the backend. The statements are the
// common dialect of both (numbered `$n` parameters, `RETURNING`, partial
// indexes); every statement filters on `tenant_id`, and lists page by id.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use platform::{
    auth::{Role, TenantId},
    db::TenantPool,
    error::{Error, Result},
    events::{EventBus, EventEnvelope},
    page::Page,
    retention::{Category, Count, Cutoffs},
    tx::{AuditEntry, TenantTxExt},
};
use serde::Serialize;
use sqlx::{FromRow, QueryBuilder, Transaction, types::Json};
use uuid::Uuid;

use crate::{
    domain::*,
    roster::{
        BatchOutcome, ImportJob, JobEnd, JobStatus, NewImportJob, PersonUpsert, Rejection,
        RosterBatch, RosterSnapshot, RosterUpload, RowRef, SourceKind, merge_person,
    },
    domain::retention::ServiceReport,
    store::{ErasureCounts, MembershipStore, Paged},
};

/// The store over one pool of this backend (pool, relay signal, tenant
/// transactions: `platform::db::TenantStore`).
pub type Store = platform::db::TenantStore<Pool>;

/// Writes the audit record and the domain event of one mutation.
async fn record<T: Serialize + Sync>(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    actor: &str,
    action: &str,
    target_id: Uuid,
    before: Option<&T>,
    after: Option<&T>,
) -> Result<()> {
    let mut records = Records::default();
    records.push(t, actor, action, target_id, before, after);
    records.write(tx).await
}

/// Audit records and domain events of mutations, kept in order and written
/// together by [`Records::write`]: one for a single mutation ([`record`]),
/// a whole roster batch's in bulk.
#[derive(Default)]
struct Records {
    audits: Vec<AuditEntry>,
    events: Vec<EventEnvelope>,
}

impl Records {
    /// The audit record and the event of one mutation.
    fn push<T: Serialize>(
        &mut self,
        t: TenantId,
        actor: &str,
        action: &str,
        target_id: Uuid,
        before: Option<&T>,
        after: Option<&T>,
    ) {
        let to_json = |v: Option<&T>| v.map(|v| serde_json::to_value(v).unwrap_or_default());
        let (before, after) = (to_json(before), to_json(after));
        let target_kind = action.split('.').next().unwrap_or(action).to_string();
        self.events.push(EventEnvelope::new(
            t,
            format!("membership.{action}"),
            serde_json::json!({ "id": target_id, "actor": actor, "after": after }),
        ));
        self.audits.push(AuditEntry {
            tenant: t,
            actor: actor.to_string(),
            action: action.to_string(),
            target_kind,
            target_id: target_id.to_string(),
            at: Utc::now(),
            before,
            after,
        });
    }

    async fn write(self, tx: &mut Transaction<'static, Db>) -> Result<()> {
        tx.audit_all(&self.audits).await?;
        tx.emit_all(&self.events).await
    }
}

/// `%text%` for a case-insensitive LIKE, with the wildcards of `text` escaped.
fn like_pattern(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let escaped = s
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        })
}

fn not_found(what: &str) -> Error {
    Error::not_found(what)
}

// ---------------------------------------------------------------- rows

#[derive(FromRow)]
struct TenantRow {
    tenant_id: Uuid,
    slug: String,
    name: String,
    kind: String,
    time_zone: String,
    locale: String,
    academic_year_start_month: i32,
    academic_year_start_day: i32,
    created_at: DateTime<Utc>,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Tenant {
            id: TenantId(r.tenant_id),
            slug: r.slug,
            name: r.name,
            kind: TenantKind::parse(&r.kind).unwrap_or(TenantKind::District),
            settings: TenantSettings {
                time_zone: r.time_zone,
                locale: r.locale,
                academic_year_start_month: r.academic_year_start_month as u32,
                academic_year_start_day: r.academic_year_start_day as u32,
            },
            created_at: r.created_at,
        }
    }
}

const TENANT_COLUMNS: &str = "tenant_id, slug, name, kind, time_zone, locale, \
     academic_year_start_month, academic_year_start_day, created_at";

#[derive(FromRow)]
struct OrganisationRow {
    id: Uuid,
    name: String,
    kind: String,
    external_id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<OrganisationRow> for Organisation {
    fn from(r: OrganisationRow) -> Self {
        Organisation {
            id: r.id,
            name: r.name,
            kind: OrganisationKind::parse(&r.kind).unwrap_or(OrganisationKind::School),
            external_id: r.external_id,
            contact: Contact {
                email: r.email,
                phone: r.phone,
                address: r.address,
            },
            created_at: r.created_at,
        }
    }
}

const ORGANISATION_COLUMNS: &str =
    "id, name, kind, external_id, email, phone, address, created_at";

#[derive(FromRow)]
struct PersonRow {
    id: Uuid,
    given_name: String,
    family_name: String,
    email: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    organisation_id: Option<Uuid>,
    external_id: Option<String>,
    time_zone: Option<String>,
    active: bool,
    created_at: DateTime<Utc>,
}

impl From<PersonRow> for Person {
    fn from(r: PersonRow) -> Self {
        Person {
            id: r.id,
            given_name: r.given_name,
            family_name: r.family_name,
            contact: Contact {
                email: r.email,
                phone: r.phone,
                address: r.address,
            },
            organisation_id: r.organisation_id,
            external_id: r.external_id,
            time_zone: r.time_zone,
            active: r.active,
            created_at: r.created_at,
        }
    }
}

/// Rows per multi-row INSERT of the bulk path (twelve parameters a row:
/// well under both backends' parameter limits).
const ROWS_PER_INSERT: usize = 1_000;

const PERSON_COLUMNS: &str = "id, given_name, family_name, email, phone, address, \
     organisation_id, external_id, time_zone, active, created_at";

#[derive(FromRow)]
struct ClusterRow {
    id: Uuid,
    name: String,
    description: String,
    lead_person_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct GrantRow {
    id: Uuid,
    person_id: Uuid,
    role: String,
    cluster_id: Option<Uuid>,
    granted_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<GrantRow> for RoleGrant {
    type Error = Error;
    fn try_from(r: GrantRow) -> Result<Self> {
        Ok(RoleGrant {
            id: r.id,
            person_id: r.person_id,
            role: r.role.parse::<Role>().map_err(|e| Error::internal(anyhow::anyhow!("stored role: {e}")))?,
            cluster_id: r.cluster_id,
            granted_at: r.granted_at,
            revoked_at: r.revoked_at,
        })
    }
}

#[derive(FromRow)]
struct MentorshipRow {
    id: Uuid,
    mentor_id: Uuid,
    new_teacher_id: Uuid,
    starts_on: NaiveDate,
    planned_end_on: NaiveDate,
    ended_on: Option<NaiveDate>,
}

impl From<MentorshipRow> for Mentorship {
    fn from(r: MentorshipRow) -> Self {
        Mentorship {
            id: r.id,
            mentor_id: r.mentor_id,
            new_teacher_id: r.new_teacher_id,
            starts_on: r.starts_on,
            planned_end_on: r.planned_end_on,
            ended_on: r.ended_on,
        }
    }
}

#[derive(FromRow)]
struct PanelRow {
    id: Uuid,
    name: String,
    purpose: String,
    created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct ConsentRow {
    id: Uuid,
    subject_person_id: Option<Uuid>,
    subject_organisation_id: Option<Uuid>,
    purpose: String,
    purpose_version: i32,
    recorded_by: String,
    by_proxy: bool,
    remark: String,
    given_at: DateTime<Utc>,
    withdrawn_at: Option<DateTime<Utc>>,
}

impl From<ConsentRow> for ConsentRecord {
    fn from(r: ConsentRow) -> Self {
        let subject = match (r.subject_person_id, r.subject_organisation_id) {
            (Some(p), _) => ConsentSubject::Person(p),
            (None, Some(o)) => ConsentSubject::Organisation(o),
            (None, None) => ConsentSubject::Person(Uuid::nil()),
        };
        ConsentRecord {
            id: r.id,
            subject,
            purpose: r.purpose,
            purpose_version: r.purpose_version as u32,
            recorded_by: r.recorded_by,
            by_proxy: r.by_proxy,
            remark: r.remark,
            given_at: r.given_at,
            withdrawn_at: r.withdrawn_at,
        }
    }
}

const CONSENT_COLUMNS: &str = "id, subject_person_id, subject_organisation_id, purpose, \
     purpose_version, recorded_by, by_proxy, remark, given_at, withdrawn_at";

#[derive(FromRow)]
struct OptOutRow {
    id: Uuid,
    student_ref: String,
    organisation_id: Uuid,
    recorded_for: String,
    recorded_by: String,
    recorded_at: DateTime<Utc>,
    withdrawn_at: Option<DateTime<Utc>>,
}

impl From<OptOutRow> for ResearchOptOut {
    fn from(r: OptOutRow) -> Self {
        ResearchOptOut {
            id: r.id,
            student_ref: r.student_ref,
            organisation_id: r.organisation_id,
            recorded_for: r.recorded_for,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at,
            withdrawn_at: r.withdrawn_at,
        }
    }
}

const OPT_OUT_COLUMNS: &str =
    "id, student_ref, organisation_id, recorded_for, recorded_by, recorded_at, withdrawn_at";

#[derive(FromRow)]
struct AgreementRow {
    id: Uuid,
    title: String,
    purpose: String,
    data_scope: String,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    destroy_by: NaiveDate,
    created_by: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

const AGREEMENT_COLUMNS: &str = "id, title, purpose, data_scope, starts_on, ends_on, destroy_by, \
     created_by, created_at, revoked_at";

#[derive(FromRow)]
struct DisclosureRow {
    id: Uuid,
    agreement_id: Option<Uuid>,
    recipient_id: Uuid,
    scope: String,
    dataset: String,
    row_count: i64,
    excluded: i64,
    disclosed_at: DateTime<Utc>,
}

impl TryFrom<DisclosureRow> for Disclosure {
    type Error = Error;
    fn try_from(r: DisclosureRow) -> Result<Self> {
        Ok(Disclosure {
            id: r.id,
            agreement_id: r.agreement_id,
            recipient_id: r.recipient_id,
            scope: DataScope::parse(&r.scope).ok_or_else(|| {
                Error::internal(anyhow::anyhow!("stored disclosure scope {:?}", r.scope))
            })?,
            dataset: r.dataset,
            rows: r.row_count.max(0) as u64,
            excluded: r.excluded.max(0) as u64,
            disclosed_at: r.disclosed_at,
        })
    }
}

const DISCLOSURE_COLUMNS: &str =
    "id, agreement_id, recipient_id, scope, dataset, row_count, excluded, disclosed_at";

#[derive(FromRow)]
struct RetentionRunRow {
    id: Uuid,
    actor: String,
    dry_run: bool,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    cutoffs: Json<std::collections::BTreeMap<String, String>>,
    reports: Json<Vec<ServiceReport>>,
    error: Option<String>,
}

impl From<RetentionRunRow> for RetentionRun {
    fn from(r: RetentionRunRow) -> Self {
        RetentionRun {
            id: r.id,
            actor: r.actor,
            dry_run: r.dry_run,
            started_at: r.started_at,
            finished_at: r.finished_at,
            cutoffs: r.cutoffs.0,
            reports: r.reports.0,
            error: r.error,
        }
    }
}

#[derive(FromRow)]
struct RosterUploadRow {
    id: Uuid,
    job: Vec<u8>,
    finished: bool,
    updated_at: DateTime<Utc>,
}

impl From<RosterUploadRow> for RosterUpload {
    fn from(r: RosterUploadRow) -> Self {
        RosterUpload {
            id: r.id,
            job: r.job,
            finished: r.finished,
            updated_at: r.updated_at,
        }
    }
}

const RETENTION_RUN_COLUMNS: &str =
    "id, actor, dry_run, started_at, finished_at, cutoffs, reports, error";

#[derive(FromRow)]
struct AuditRow {
    id: Uuid,
    actor: String,
    action: String,
    target_kind: String,
    target_id: String,
    at: DateTime<Utc>,
    before: Option<Json<serde_json::Value>>,
    after: Option<Json<serde_json::Value>>,
}

// ---------------------------------------------------------------- reads used by writes

async fn fetch_people(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    ids: &[Uuid],
) -> Result<Vec<Person>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let mut q = QueryBuilder::<Db>::new(format!("SELECT {PERSON_COLUMNS} FROM people WHERE tenant_id = "));
    q.push_bind(t.0).push(" AND id IN (");
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    q.push(") ORDER BY id");
    let rows: Vec<PersonRow> = q.build_query_as().fetch_all(&mut **tx).await?;
    Ok(rows.into_iter().map(Person::from).collect())
}

async fn fetch_person(tx: &mut Transaction<'static, Db>, t: TenantId, id: Uuid) -> Result<Person> {
    fetch_people(tx, t, &[id])
        .await?
        .pop()
        .ok_or_else(|| not_found("person"))
}

async fn fetch_organisations(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    ids: &[Uuid],
) -> Result<Vec<Organisation>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let mut q = QueryBuilder::<Db>::new(format!(
        "SELECT {ORGANISATION_COLUMNS} FROM organisations WHERE tenant_id = "
    ));
    q.push_bind(t.0).push(" AND id IN (");
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    q.push(") ORDER BY id");
    let rows: Vec<OrganisationRow> = q.build_query_as().fetch_all(&mut **tx).await?;
    Ok(rows.into_iter().map(Organisation::from).collect())
}

async fn fetch_organisation(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    id: Uuid,
) -> Result<Organisation> {
    fetch_organisations(tx, t, &[id])
        .await?
        .pop()
        .ok_or_else(|| not_found("organisation"))
}

/// The `child` ids of each of `parents` in a link table (`parent`, `child`
/// columns, both uuids), each list in id order.
async fn children(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    table: &str,
    parent: &str,
    child: &str,
    parents: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Uuid>>> {
    let mut q = QueryBuilder::<Db>::new(format!(
        "SELECT {parent}, {child} FROM {table} WHERE tenant_id = "
    ));
    q.push_bind(t.0).push(format!(" AND {parent} IN ("));
    let mut sep = q.separated(", ");
    for id in parents {
        sep.push_bind(*id);
    }
    q.push(format!(") ORDER BY {parent}, {child}"));
    let pairs: Vec<(Uuid, Uuid)> = q.build_query_as().fetch_all(&mut **tx).await?;
    let mut out: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (p, c) in pairs {
        out.entry(p).or_default().push(c);
    }
    Ok(out)
}

/// Clusters with their member centres, in the order of `rows`.
async fn with_centres(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    rows: Vec<ClusterRow>,
) -> Result<Vec<Cluster>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut centres =
        children(tx, t, "cluster_centres", "cluster_id", "organisation_id", &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| Cluster {
            centre_ids: centres.remove(&r.id).unwrap_or_default(),
            id: r.id,
            name: r.name,
            description: r.description,
            lead_person_id: r.lead_person_id,
            created_at: r.created_at,
        })
        .collect())
}

async fn fetch_clusters(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    ids: &[Uuid],
) -> Result<Vec<Cluster>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let mut q = QueryBuilder::<Db>::new(
        "SELECT id, name, description, lead_person_id, created_at FROM clusters WHERE tenant_id = ",
    );
    q.push_bind(t.0).push(" AND id IN (");
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(*id);
    }
    q.push(") ORDER BY id");
    let rows: Vec<ClusterRow> = q.build_query_as().fetch_all(&mut **tx).await?;
    with_centres(tx, t, rows).await
}

async fn fetch_cluster(tx: &mut Transaction<'static, Db>, t: TenantId, id: Uuid) -> Result<Cluster> {
    fetch_clusters(tx, t, &[id])
        .await?
        .pop()
        .ok_or_else(|| not_found("cluster"))
}

async fn fetch_panels(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    rows: Vec<PanelRow>,
) -> Result<Vec<Panel>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let mut q = QueryBuilder::<Db>::new(
        "SELECT panel_id, person_id, constituency FROM panel_members WHERE tenant_id = ",
    );
    q.push_bind(t.0).push(" AND panel_id IN (");
    let mut sep = q.separated(", ");
    for r in &rows {
        sep.push_bind(r.id);
    }
    q.push(") ORDER BY panel_id, person_id");
    let members: Vec<(Uuid, Uuid, String)> = q.build_query_as().fetch_all(&mut **tx).await?;
    let mut by_panel: HashMap<Uuid, Vec<PanelMember>> = HashMap::new();
    for (panel, person, c) in members {
        by_panel.entry(panel).or_default().push(PanelMember {
            person_id: person,
            constituency: Constituency::parse(&c).unwrap_or(Constituency::Community),
        });
    }
    Ok(rows
        .into_iter()
        .map(|r| Panel {
            members: by_panel.remove(&r.id).unwrap_or_default(),
            id: r.id,
            name: r.name,
            purpose: r.purpose,
            created_at: r.created_at,
        })
        .collect())
}

async fn fetch_panel(tx: &mut Transaction<'static, Db>, t: TenantId, id: Uuid) -> Result<Panel> {
    let row: Option<PanelRow> = sqlx::query_as(
        "SELECT id, name, purpose, created_at FROM panels WHERE tenant_id = $1 AND id = $2",
    )
    .bind(t.0)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let row = row.ok_or_else(|| not_found("panel"))?;
    Ok(fetch_panels(tx, t, vec![row]).await?.remove(0))
}

async fn fetch_grant(tx: &mut Transaction<'static, Db>, t: TenantId, id: Uuid) -> Result<RoleGrant> {
    let row: Option<GrantRow> = sqlx::query_as(
        "SELECT id, person_id, role, cluster_id, granted_at, revoked_at \
         FROM role_grants WHERE tenant_id = $1 AND id = $2",
    )
    .bind(t.0)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.ok_or_else(|| not_found("role grant"))?.try_into()
}

async fn fetch_consent(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    id: Uuid,
) -> Result<ConsentRecord> {
    let row: Option<ConsentRow> = sqlx::query_as(&format!(
        "SELECT {CONSENT_COLUMNS} FROM consents WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(t.0)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.ok_or_else(|| not_found("consent record"))?.into())
}

/// Checks that referenced rows exist in this tenant, naming the field when not.
async fn require_person(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    id: Uuid,
    field: &str,
) -> Result<()> {
    if fetch_people(tx, t, &[id]).await?.is_empty() {
        return Err(Error::invalid(field, "no such person in this tenant"));
    }
    Ok(())
}

async fn require_organisation(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    id: Uuid,
    field: &str,
) -> Result<()> {
    if fetch_organisations(tx, t, &[id]).await?.is_empty() {
        return Err(Error::invalid(field, "no such organisation in this tenant"));
    }
    Ok(())
}

/// Agreements with their researchers, in the order of `rows`.
async fn with_researchers(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    rows: Vec<AgreementRow>,
) -> Result<Vec<ResearchAgreement>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut researchers = children(
        tx,
        t,
        "research_agreement_researchers",
        "agreement_id",
        "person_id",
        &ids,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ResearchAgreement {
            researcher_ids: researchers.remove(&r.id).unwrap_or_default(),
            id: r.id,
            title: r.title,
            purpose: r.purpose,
            data_scope: crate::domain::research::scopes_from_text(&r.data_scope),
            starts_on: r.starts_on,
            ends_on: r.ends_on,
            destroy_by: r.destroy_by,
            created_by: r.created_by,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}

async fn fetch_agreement(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    id: Uuid,
) -> Result<Option<ResearchAgreement>> {
    let row: Option<AgreementRow> = sqlx::query_as(&format!(
        "SELECT {AGREEMENT_COLUMNS} FROM research_agreements WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(t.0)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(with_researchers(tx, t, row.into_iter().collect())
        .await?
        .pop())
}

// ---------------------------------------------------------------- roster import

#[derive(FromRow)]
struct ImportJobRow {
    id: Uuid,
    source_kind: String,
    source_hash: String,
    status: String,
    deactivations_confirmed: bool,
    batches_done: i64,
    rows_created: i64,
    rows_updated: i64,
    rows_deactivated: i64,
    rows_unchanged: i64,
    rows_rejected: i64,
    started_by: String,
    started_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    error: Option<String>,
}

impl From<ImportJobRow> for ImportJob {
    fn from(r: ImportJobRow) -> Self {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        ImportJob {
            id: r.id,
            source_kind: SourceKind::parse(&r.source_kind).unwrap_or(SourceKind::Oneroster),
            source_hash: r.source_hash,
            status: JobStatus::parse(&r.status).unwrap_or(JobStatus::Failed),
            deactivations_confirmed: r.deactivations_confirmed,
            batches_done: n(r.batches_done),
            created: n(r.rows_created),
            updated: n(r.rows_updated),
            deactivated: n(r.rows_deactivated),
            unchanged: n(r.rows_unchanged),
            rejected: n(r.rows_rejected),
            started_by: r.started_by,
            started_at: r.started_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
            error: r.error,
        }
    }
}

const JOB_COLUMNS: &str = "id, source_kind, source_hash, status, deactivations_confirmed, \
     batches_done, rows_created, rows_updated, rows_deactivated, rows_unchanged, rows_rejected, \
     started_by, started_at, updated_at, finished_at, error";

async fn fetch_job(tx: &mut Transaction<'static, Db>, t: TenantId, id: Uuid) -> Result<ImportJob> {
    let row: Option<ImportJobRow> = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM import_jobs WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(t.0)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.ok_or_else(|| not_found("import job"))?.into())
}

async fn unfinished_job(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    source_hash: &str,
) -> Result<Option<ImportJob>> {
    let row: Option<ImportJobRow> = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM import_jobs WHERE tenant_id = $1 AND source_hash = $2 \
         AND status IN ('running', 'failed') ORDER BY id DESC LIMIT 1"
    ))
    .bind(t.0)
    .bind(source_hash)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(ImportJob::from))
}

/// Organisations of `t` by external id, for those of `external_ids` that exist.
async fn organisations_by_external_id(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    external_ids: &[&str],
) -> Result<HashMap<String, Organisation>> {
    if external_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q = QueryBuilder::<Db>::new(format!(
        "SELECT {ORGANISATION_COLUMNS} FROM organisations WHERE tenant_id = "
    ));
    q.push_bind(t.0).push(" AND external_id IN (");
    let mut sep = q.separated(", ");
    for e in external_ids {
        sep.push_bind(*e);
    }
    q.push(")");
    let rows: Vec<OrganisationRow> = q.build_query_as().fetch_all(&mut **tx).await?;
    Ok(rows
        .into_iter()
        .map(Organisation::from)
        .filter_map(|o| Some((o.external_id.clone()?, o)))
        .collect())
}

/// People of `t` by external id, for those of `external_ids` that exist.
async fn people_by_external_id(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    external_ids: &[&str],
) -> Result<HashMap<String, Person>> {
    if external_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q = QueryBuilder::<Db>::new(format!("SELECT {PERSON_COLUMNS} FROM people WHERE tenant_id = "));
    q.push_bind(t.0).push(" AND external_id IN (");
    let mut sep = q.separated(", ");
    for e in external_ids {
        sep.push_bind(*e);
    }
    q.push(")");
    let rows: Vec<PersonRow> = q.build_query_as().fetch_all(&mut **tx).await?;
    Ok(rows
        .into_iter()
        .map(Person::from)
        .filter_map(|p| Some((p.external_id.clone()?, p)))
        .collect())
}

/// Who holds each of `emails` in `t`.
async fn email_owners(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    emails: &[&str],
) -> Result<HashMap<String, Uuid>> {
    if emails.is_empty() {
        return Ok(HashMap::new());
    }
    let mut q = QueryBuilder::<Db>::new("SELECT email, id FROM people WHERE tenant_id = ");
    q.push_bind(t.0).push(" AND email IN (");
    let mut sep = q.separated(", ");
    for e in emails {
        sep.push_bind(*e);
    }
    q.push(")");
    let rows: Vec<(String, Uuid)> = q.build_query_as().fetch_all(&mut **tx).await?;
    Ok(rows.into_iter().collect())
}

/// The active tenant-wide roles of `people`.
async fn tenant_roles_of(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    people: &[Uuid],
) -> Result<HashSet<(Uuid, Role)>> {
    if people.is_empty() {
        return Ok(HashSet::new());
    }
    let mut q = QueryBuilder::<Db>::new("SELECT person_id, role FROM role_grants WHERE tenant_id = ");
    q.push_bind(t.0)
        .push(" AND revoked_at IS NULL AND cluster_id IS NULL AND person_id IN (");
    let mut sep = q.separated(", ");
    for p in people {
        sep.push_bind(*p);
    }
    q.push(")");
    let rows: Vec<(Uuid, String)> = q.build_query_as().fetch_all(&mut **tx).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(p, r)| Some((p, r.parse::<Role>().ok()?)))
        .collect())
}

/// Grants `role` tenant-wide unless the person holds it; `true` when granted.
async fn grant_if_missing(
    tx: &mut Transaction<'static, Db>,
    records: &mut Records,
    t: TenantId,
    actor: &str,
    person: Uuid,
    role: Role,
) -> Result<bool> {
    let grant = RoleGrant {
        id: Uuid::now_v7(),
        person_id: person,
        role,
        cluster_id: None,
        granted_at: stored_instant(Utc::now()),
        revoked_at: None,
    };
    let inserted = sqlx::query(
        "INSERT INTO role_grants (tenant_id, id, person_id, role, cluster_id, granted_at) \
         VALUES ($1, $2, $3, $4, NULL, $5) ON CONFLICT DO NOTHING",
    )
    .bind(t.0)
    .bind(grant.id)
    .bind(person)
    .bind(role.as_str())
    .bind(grant.granted_at)
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(false);
    }
    records.push(t, actor, "role.granted", grant.id, None, Some(&grant));
    Ok(true)
}

/// An instant as both backends store it (whole microseconds), so a row
/// built in memory equals the row read back.
fn stored_instant(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// Inserts people and the tenant-wide role grants of new people, many rows
/// a statement (the roster import's bulk path).
async fn insert_people(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    people: &[Person],
    grants: &[RoleGrant],
) -> Result<()> {
    for chunk in people.chunks(ROWS_PER_INSERT) {
        let mut q = QueryBuilder::<Db>::new(format!("INSERT INTO people (tenant_id, {PERSON_COLUMNS}) "));
        q.push_values(chunk, |mut b, p| {
            b.push_bind(t.0)
                .push_bind(p.id)
                .push_bind(&p.given_name)
                .push_bind(&p.family_name)
                .push_bind(&p.contact.email)
                .push_bind(&p.contact.phone)
                .push_bind(&p.contact.address)
                .push_bind(p.organisation_id)
                .push_bind(&p.external_id)
                .push_bind(&p.time_zone)
                .push_bind(p.active)
                .push_bind(p.created_at);
        });
        q.build()
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict_on(e, &[PERSON_EMAIL, PERSON_EXTERNAL_ID]))?;
    }
    for chunk in grants.chunks(ROWS_PER_INSERT) {
        let mut q = QueryBuilder::<Db>::new(
            "INSERT INTO role_grants (tenant_id, id, person_id, role, cluster_id, granted_at) ",
        );
        q.push_values(chunk, |mut b, g| {
            b.push_bind(t.0)
                .push_bind(g.id)
                .push_bind(g.person_id)
                .push_bind(g.role.as_str())
                .push_bind(g.cluster_id)
                .push_bind(g.granted_at);
        });
        q.build().execute(&mut **tx).await?;
    }
    Ok(())
}

fn roster_rejection(source: &RowRef, id: &str, reason: String) -> Rejection {
    Rejection {
        file: source.file.clone(),
        row: source.row,
        line: source.line,
        id: Some(id.to_string()),
        reason,
    }
}

/// A person upsert validated and normalised the way `create_person` would,
/// with the reason when it cannot be.
fn checked_person(up: &PersonUpsert) -> std::result::Result<PersonUpsert, String> {
    let mut v = platform::error::Violations::new();
    crate::domain::validate::name(&mut v, "given_name", &up.given_name);
    crate::domain::validate::name(&mut v, "family_name", &up.family_name);
    let email = up
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(|e| crate::domain::validate::email(&mut v, "email", e));
    let phone = up
        .phone
        .as_deref()
        .and_then(|p| crate::domain::validate::phone(&mut v, "phone", p));
    crate::domain::validate::external_id(&mut v, "external_id", Some(&up.external_id));
    v.finish().map_err(|e| crate::roster::reason(&e))?;
    Ok(PersonUpsert {
        given_name: up.given_name.trim().to_string(),
        family_name: up.family_name.trim().to_string(),
        email,
        phone,
        ..up.clone()
    })
}

/// Keeps `people.inactive_since` (the clock of the `inactive_people`
/// retention category) with `active` bound as $8 and now as $9: set when a
/// person becomes inactive, kept while they stay so, cleared when active.
const INACTIVE_SINCE_8_9: &str =
    "inactive_since = CASE WHEN $8 THEN NULL ELSE COALESCE(inactive_since, $9) END";

async fn write_person(
    tx: &mut Transaction<'static, Db>,
    t: TenantId,
    p: &Person,
) -> Result<Person> {
    let row: PersonRow = sqlx::query_as(&format!(
        "UPDATE people SET given_name = $3, family_name = $4, email = $5, phone = $6, \
         organisation_id = $7, active = $8, {INACTIVE_SINCE_8_9} \
         WHERE tenant_id = $1 AND id = $2 RETURNING {PERSON_COLUMNS}"
    ))
    .bind(t.0)
    .bind(p.id)
    .bind(&p.given_name)
    .bind(&p.family_name)
    .bind(&p.contact.email)
    .bind(&p.contact.phone)
    .bind(p.organisation_id)
    .bind(p.active)
    .bind(stored_instant(Utc::now()))
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| conflict_on(e, &[PERSON_EMAIL, PERSON_EXTERNAL_ID]))?;
    Ok(Person::from(row))
}


/// A unique index, and how a clash with it is reported to the caller.
struct Unique {
    index: &'static str,
    /// The index's last column (how SQLite names a violation of a plain-column index).
    column: &'static str,
    /// The field as the caller spelled it.
    field: &'static str,
    what: &'static str,
}

const TENANT_SLUG: Unique = Unique {
    index: "tenants_slug_key",
    column: "slug",
    field: "slug",
    what: "a tenant with this slug exists",
};
const ORGANISATION_EXTERNAL_ID: Unique = Unique {
    index: "organisations_external_id",
    column: "external_id",
    field: "external_id",
    what: "already used by another organisation",
};
const PERSON_EMAIL: Unique = Unique {
    index: "people_email",
    column: "email",
    field: "contact.email",
    what: "another person has this e-mail address",
};
const PERSON_EXTERNAL_ID: Unique = Unique {
    index: "people_external_id",
    column: "external_id",
    field: "external_id",
    what: "already used by another person",
};
const ACTIVE_GRANT: Unique = Unique {
    index: "role_grants_active",
    column: "role",
    field: "role",
    what: "the person already holds this role here",
};
const ACTIVE_OPT_OUT: Unique = Unique {
    index: "research_opt_outs_active",
    column: "student_ref",
    field: "student_ref",
    what: "this student is already opted out",
};

/// Unique violations named by the field the caller sent. PostgreSQL names the
/// violated index; SQLite names it only for an expression index
/// (`UNIQUE constraint failed: index 'role_grants_active'`) and otherwise lists
/// the columns (`UNIQUE constraint failed: people.tenant_id, people.email`), so
/// a table with several unique indexes must be told apart by the last column.
fn conflict_on(e: sqlx::Error, indexes: &[Unique]) -> Error {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        let violated = |u: &Unique| match db.constraint() {
            Some(c) => c == u.index,
            None => {
                let m = db.message();
                m.contains(&format!("'{}'", u.index)) || m.ends_with(&format!(".{}", u.column))
            }
        };
        if let Some(u) = indexes.iter().find(|u| violated(u)) {
            return Error::Conflict(format!("{}: {}", u.field, u.what));
        }
    }
    Error::from_db(e)
}

#[async_trait]
impl MembershipStore for Store {
    async fn create_tenant(&self, new: NewTenant) -> Result<Tenant> {
        crate::domain::validate::new_tenant(&new)?;
        let id = TenantId::new_v7();
        let mut tx = self.pool.begin_operator().await?;
        // On PostgreSQL the operator role may insert any tenant row; the
        // tenant's own audit record is written under its id below.
        let row: TenantRow = sqlx::query_as(&format!(
            "INSERT INTO tenants ({TENANT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING {TENANT_COLUMNS}"
        ))
        .bind(id.0)
        .bind(&new.slug)
        .bind(new.name.trim())
        .bind(new.kind.as_str())
        .bind(&new.settings.time_zone)
        .bind(&new.settings.locale)
        .bind(new.settings.academic_year_start_month as i32)
        .bind(new.settings.academic_year_start_day as i32)
        .bind(Utc::now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on(e, &[TENANT_SLUG]))?;
        let tenant = Tenant::from(row);
        // Same transaction, now as the new tenant: its first audit record
        // commits with it or not at all.
        Pool::enter_tenant(&mut tx, id).await?;
        record(&mut tx, id, "operator", "tenant.created", id.0, None, Some(&tenant)).await?;
        self.commit(tx).await?;
        Ok(tenant)
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Tenant> {
        let mut tx = self.pool.begin_operator().await?;
        let row: Option<TenantRow> =
            sqlx::query_as(&format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE slug = $1"))
                .bind(slug)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        row.map(Tenant::from).ok_or_else(|| not_found("tenant"))
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let mut tx = self.pool.begin_operator().await?;
        let rows: Vec<TenantRow> =
            sqlx::query_as(&format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY slug"))
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(Tenant::from).collect())
    }

    async fn get_tenant(&self, t: TenantId) -> Result<Tenant> {
        let mut tx = self.tx(t).await?;
        let row: Option<TenantRow> = sqlx::query_as(&format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE tenant_id = $1"
        ))
        .bind(t.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(Tenant::from).ok_or_else(|| not_found("tenant"))
    }

    async fn update_tenant_settings(
        &self,
        t: TenantId,
        actor: &str,
        settings: TenantSettings,
    ) -> Result<Tenant> {
        let mut v = platform::error::Violations::new();
        crate::domain::validate::settings(&mut v, "settings", &settings);
        v.finish()?;
        let before = self.get_tenant(t).await?;
        let mut tx = self.tx(t).await?;
        let row: TenantRow = sqlx::query_as(&format!(
            "UPDATE tenants SET time_zone = $2, locale = $3, academic_year_start_month = $4, \
             academic_year_start_day = $5 WHERE tenant_id = $1 RETURNING {TENANT_COLUMNS}"
        ))
        .bind(t.0)
        .bind(&settings.time_zone)
        .bind(&settings.locale)
        .bind(settings.academic_year_start_month as i32)
        .bind(settings.academic_year_start_day as i32)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| not_found("tenant"))?;
        let after = Tenant::from(row);
        record(&mut tx, t, actor, "tenant.settings_changed", t.0, Some(&before), Some(&after)).await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn create_organisation(
        &self,
        t: TenantId,
        actor: &str,
        new: NewOrganisation,
    ) -> Result<Organisation> {
        let mut v = platform::error::Violations::new();
        crate::domain::validate::name(&mut v, "name", &new.name);
        let contact = crate::domain::validate::contact(&mut v, "contact", &new.contact);
        crate::domain::validate::external_id(&mut v, "external_id", new.external_id.as_deref());
        v.finish()?;
        let mut tx = self.tx(t).await?;
        let row: OrganisationRow = sqlx::query_as(&format!(
            "INSERT INTO organisations (tenant_id, {ORGANISATION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {ORGANISATION_COLUMNS}"
        ))
        .bind(t.0)
        .bind(Uuid::now_v7())
        .bind(new.name.trim())
        .bind(new.kind.as_str())
        .bind(&new.external_id)
        .bind(&contact.email)
        .bind(&contact.phone)
        .bind(&contact.address)
        .bind(Utc::now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            conflict_on(e, &[ORGANISATION_EXTERNAL_ID])
        })?;
        let org = Organisation::from(row);
        record(&mut tx, t, actor, "organisation.created", org.id, None, Some(&org)).await?;
        self.commit(tx).await?;
        Ok(org)
    }

    async fn update_organisation(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        patch: OrganisationPatch,
    ) -> Result<Organisation> {
        let mut v = platform::error::Violations::new();
        if let Some(name) = &patch.name {
            crate::domain::validate::name(&mut v, "name", name);
        }
        let contact = patch
            .contact
            .as_ref()
            .map(|c| crate::domain::validate::contact(&mut v, "contact", c));
        crate::domain::validate::external_id(&mut v, "external_id", patch.external_id.as_deref());
        v.finish()?;
        let mut tx = self.tx(t).await?;
        let before = fetch_organisation(&mut tx, t, id).await?;
        let contact = contact.unwrap_or_else(|| before.contact.clone());
        let row: OrganisationRow = sqlx::query_as(&format!(
            "UPDATE organisations SET name = $3, external_id = $4, email = $5, phone = $6, \
             address = $7 WHERE tenant_id = $1 AND id = $2 RETURNING {ORGANISATION_COLUMNS}"
        ))
        .bind(t.0)
        .bind(id)
        .bind(patch.name.as_deref().map(str::trim).unwrap_or(&before.name))
        .bind(patch.external_id.as_ref().or(before.external_id.as_ref()))
        .bind(&contact.email)
        .bind(&contact.phone)
        .bind(&contact.address)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            conflict_on(e, &[ORGANISATION_EXTERNAL_ID])
        })?;
        let after = Organisation::from(row);
        record(&mut tx, t, actor, "organisation.updated", id, Some(&before), Some(&after)).await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn get_organisations(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Organisation>> {
        let mut tx = self.tx(t).await?;
        let orgs = fetch_organisations(&mut tx, t, ids).await?;
        tx.commit().await?;
        Ok(orgs)
    }

    async fn list_organisations(
        &self,
        t: TenantId,
        filter: &OrganisationFilter,
        page: Page,
    ) -> Result<Paged<Organisation>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<OrganisationRow> = sqlx::query_as(&format!(
            "SELECT {ORGANISATION_COLUMNS} FROM organisations \
             WHERE tenant_id = $1 AND id > $2 AND ($3 IS NULL OR lower(name) LIKE $3 ESCAPE '\\') \
             ORDER BY id LIMIT $4"
        ))
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(like_pattern(&filter.name_contains))
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(page.finish(rows.into_iter().map(Organisation::from).collect(), |o| o.id))
    }

    async fn create_cluster(&self, t: TenantId, actor: &str, new: NewCluster) -> Result<Cluster> {
        let mut v = platform::error::Violations::new();
        crate::domain::validate::name(&mut v, "name", &new.name);
        crate::domain::validate::long_text(&mut v, "description", &new.description);
        v.finish()?;
        let mut tx = self.tx(t).await?;
        if let Some(lead) = new.lead_person_id {
            require_person(&mut tx, t, lead, "lead_person_id").await?;
        }
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO clusters (tenant_id, id, name, description, lead_person_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.0)
        .bind(id)
        .bind(new.name.trim())
        .bind(&new.description)
        .bind(new.lead_person_id)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        let mut seen = HashSet::new();
        for (i, centre) in new.centre_ids.iter().enumerate() {
            if !seen.insert(*centre) {
                continue;
            }
            require_organisation(&mut tx, t, *centre, &format!("centre_ids[{i}]")).await?;
            sqlx::query(
                "INSERT INTO cluster_centres (tenant_id, cluster_id, organisation_id) VALUES ($1, $2, $3)",
            )
            .bind(t.0)
            .bind(id)
            .bind(centre)
            .execute(&mut *tx)
            .await?;
        }
        let cluster = fetch_cluster(&mut tx, t, id).await?;
        record(&mut tx, t, actor, "cluster.created", id, None, Some(&cluster)).await?;
        self.commit(tx).await?;
        Ok(cluster)
    }

    async fn update_cluster(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        patch: ClusterPatch,
    ) -> Result<Cluster> {
        let mut v = platform::error::Violations::new();
        if let Some(name) = &patch.name {
            crate::domain::validate::name(&mut v, "name", name);
        }
        if let Some(d) = &patch.description {
            crate::domain::validate::long_text(&mut v, "description", d);
        }
        v.finish()?;
        let mut tx = self.tx(t).await?;
        let before = fetch_cluster(&mut tx, t, id).await?;
        if let Some(Some(lead)) = patch.lead_person_id {
            require_person(&mut tx, t, lead, "lead_person_id").await?;
        }
        sqlx::query(
            "UPDATE clusters SET name = $3, description = $4, lead_person_id = $5 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.0)
        .bind(id)
        .bind(patch.name.as_deref().map(str::trim).unwrap_or(&before.name))
        .bind(patch.description.as_ref().unwrap_or(&before.description))
        .bind(patch.lead_person_id.unwrap_or(before.lead_person_id))
        .execute(&mut *tx)
        .await?;
        let after = fetch_cluster(&mut tx, t, id).await?;
        record(&mut tx, t, actor, "cluster.updated", id, Some(&before), Some(&after)).await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn set_cluster_centre(
        &self,
        t: TenantId,
        actor: &str,
        cluster: Uuid,
        organisation: Uuid,
        member: bool,
    ) -> Result<Cluster> {
        let mut tx = self.tx(t).await?;
        let before = fetch_cluster(&mut tx, t, cluster).await?;
        require_organisation(&mut tx, t, organisation, "organisation_id").await?;
        let action = if member {
            sqlx::query(
                "INSERT INTO cluster_centres (tenant_id, cluster_id, organisation_id) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(t.0)
            .bind(cluster)
            .bind(organisation)
            .execute(&mut *tx)
            .await?;
            "cluster.centre_added"
        } else {
            sqlx::query(
                "DELETE FROM cluster_centres WHERE tenant_id = $1 AND cluster_id = $2 AND organisation_id = $3",
            )
            .bind(t.0)
            .bind(cluster)
            .bind(organisation)
            .execute(&mut *tx)
            .await?;
            "cluster.centre_removed"
        };
        let after = fetch_cluster(&mut tx, t, cluster).await?;
        if after != before {
            record(&mut tx, t, actor, action, cluster, Some(&before), Some(&after)).await?;
        }
        self.commit(tx).await?;
        Ok(after)
    }

    async fn get_clusters(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Cluster>> {
        let mut tx = self.tx(t).await?;
        let clusters = fetch_clusters(&mut tx, t, ids).await?;
        tx.commit().await?;
        Ok(clusters)
    }

    async fn list_clusters(
        &self,
        t: TenantId,
        filter: &ClusterFilter,
        page: Page,
    ) -> Result<Paged<Cluster>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<ClusterRow> = sqlx::query_as(
            "SELECT id, name, description, lead_person_id, created_at FROM clusters \
             WHERE tenant_id = $1 AND id > $2 AND ($3 IS NULL OR id IN \
               (SELECT cluster_id FROM cluster_centres WHERE tenant_id = $1 AND organisation_id = $3)) \
             ORDER BY id LIMIT $4",
        )
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(filter.organisation_id)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        let clusters = with_centres(&mut tx, t, rows).await?;
        tx.commit().await?;
        Ok(page.finish(clusters, |c| c.id))
    }

    async fn create_person(&self, t: TenantId, actor: &str, new: NewPerson) -> Result<Person> {
        let new = crate::domain::validate::new_person(&new)?;
        let mut tx = self.tx(t).await?;
        if let Some(org) = new.organisation_id {
            require_organisation(&mut tx, t, org, "organisation_id").await?;
        }
        let person = Person {
            id: Uuid::now_v7(),
            given_name: new.given_name,
            family_name: new.family_name,
            contact: new.contact,
            organisation_id: new.organisation_id,
            external_id: new.external_id,
            time_zone: new.time_zone,
            active: true,
            created_at: stored_instant(Utc::now()),
        };
        insert_people(&mut tx, t, std::slice::from_ref(&person), &[]).await?;
        record(&mut tx, t, actor, "person.created", person.id, None, Some(&person)).await?;
        self.commit(tx).await?;
        Ok(person)
    }

    async fn update_person(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        patch: PersonPatch,
    ) -> Result<Person> {
        let mut v = platform::error::Violations::new();
        if let Some(n) = &patch.given_name {
            crate::domain::validate::name(&mut v, "given_name", n);
        }
        if let Some(n) = &patch.family_name {
            crate::domain::validate::name(&mut v, "family_name", n);
        }
        let contact = patch
            .contact
            .as_ref()
            .map(|c| crate::domain::validate::contact(&mut v, "contact", c));
        if let Some(Some(tz)) = &patch.time_zone {
            crate::domain::validate::time_zone(&mut v, "time_zone", tz);
        }
        v.finish()?;
        let mut tx = self.tx(t).await?;
        let before = fetch_person(&mut tx, t, id).await?;
        if let Some(Some(org)) = patch.organisation_id {
            require_organisation(&mut tx, t, org, "organisation_id").await?;
        }
        let contact = contact.unwrap_or_else(|| before.contact.clone());
        let row: PersonRow = sqlx::query_as(&format!(
            "UPDATE people SET given_name = $3, family_name = $4, email = $5, phone = $6, \
             address = $7, organisation_id = $8, time_zone = $9, active = $10, \
             inactive_since = CASE WHEN $10 THEN NULL ELSE COALESCE(inactive_since, $11) END \
             WHERE tenant_id = $1 AND id = $2 RETURNING {PERSON_COLUMNS}"
        ))
        .bind(t.0)
        .bind(id)
        .bind(patch.given_name.as_deref().map(str::trim).unwrap_or(&before.given_name))
        .bind(patch.family_name.as_deref().map(str::trim).unwrap_or(&before.family_name))
        .bind(&contact.email)
        .bind(&contact.phone)
        .bind(&contact.address)
        .bind(patch.organisation_id.unwrap_or(before.organisation_id))
        .bind(patch.time_zone.clone().unwrap_or(before.time_zone.clone()))
        .bind(patch.active.unwrap_or(before.active))
        .bind(stored_instant(Utc::now()))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on(e, &[PERSON_EMAIL, PERSON_EXTERNAL_ID]))?;
        let after = Person::from(row);
        record(&mut tx, t, actor, "person.updated", id, Some(&before), Some(&after)).await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn get_people(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Person>> {
        let mut tx = self.tx(t).await?;
        let people = fetch_people(&mut tx, t, ids).await?;
        tx.commit().await?;
        Ok(people)
    }

    async fn person_by_email(&self, t: TenantId, email: &str) -> Result<Person> {
        let mut tx = self.tx(t).await?;
        let row: Option<PersonRow> = sqlx::query_as(&format!(
            "SELECT {PERSON_COLUMNS} FROM people WHERE tenant_id = $1 AND email = $2"
        ))
        .bind(t.0)
        .bind(email.trim().to_lowercase())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(Person::from).ok_or_else(|| not_found("person"))
    }

    async fn list_people(
        &self,
        t: TenantId,
        filter: &PersonFilter,
        page: Page,
    ) -> Result<Paged<Person>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<PersonRow> = sqlx::query_as(&format!(
            "SELECT {PERSON_COLUMNS} FROM people p WHERE p.tenant_id = $1 AND p.id > $2 \
             AND ($3 IS NULL OR p.organisation_id = $3) \
             AND ($4 IS NULL \
                  OR p.organisation_id IN (SELECT organisation_id FROM cluster_centres \
                                           WHERE tenant_id = $1 AND cluster_id = $4) \
                  OR p.id IN (SELECT person_id FROM role_grants WHERE tenant_id = $1 \
                              AND cluster_id = $4 AND revoked_at IS NULL)) \
             AND ($5 IS NULL OR p.id IN (SELECT person_id FROM role_grants WHERE tenant_id = $1 \
                  AND role = $5 AND revoked_at IS NULL \
                  AND ($4 IS NULL OR cluster_id IS NULL OR cluster_id = $4))) \
             AND ($6 IS NULL OR lower(p.given_name || ' ' || p.family_name) LIKE $6 ESCAPE '\\') \
             ORDER BY p.id LIMIT $7"
        ))
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(filter.organisation_id)
        .bind(filter.cluster_id)
        .bind(filter.role.map(|r| r.as_str()))
        .bind(like_pattern(&filter.name_contains))
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(page.finish(rows.into_iter().map(Person::from).collect(), |p| p.id))
    }

    async fn grant_role(
        &self,
        t: TenantId,
        actor: &str,
        person: Uuid,
        role: Role,
        cluster: Option<Uuid>,
    ) -> Result<RoleGrant> {
        if role == Role::ClusterLead && cluster.is_none() {
            return Err(Error::invalid("cluster_id", "cluster_lead is granted for one cluster"));
        }
        if role == Role::TenantAdmin && cluster.is_some() {
            return Err(Error::invalid("cluster_id", "tenant_admin is tenant-wide; leave cluster_id empty"));
        }
        let mut tx = self.tx(t).await?;
        require_person(&mut tx, t, person, "person_id").await?;
        if let Some(c) = cluster {
            fetch_cluster(&mut tx, t, c)
                .await
                .map_err(|_| Error::invalid("cluster_id", "no such cluster in this tenant"))?;
        }
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO role_grants (tenant_id, id, person_id, role, cluster_id, granted_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.0)
        .bind(id)
        .bind(person)
        .bind(role.as_str())
        .bind(cluster)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_on(e, &[ACTIVE_GRANT]))?;
        let grant = fetch_grant(&mut tx, t, id).await?;
        record(&mut tx, t, actor, "role.granted", id, None, Some(&grant)).await?;
        self.commit(tx).await?;
        Ok(grant)
    }

    async fn revoke_role(&self, t: TenantId, actor: &str, grant: Uuid) -> Result<RoleGrant> {
        let mut tx = self.tx(t).await?;
        let before = fetch_grant(&mut tx, t, grant).await?;
        if before.revoked_at.is_some() {
            return Err(Error::FailedPrecondition("the role grant is already revoked".into()));
        }
        sqlx::query("UPDATE role_grants SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(t.0)
            .bind(grant)
            .bind(Utc::now())
            .execute(&mut *tx)
            .await?;
        let after = fetch_grant(&mut tx, t, grant).await?;
        record(&mut tx, t, actor, "role.revoked", grant, Some(&before), Some(&after)).await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn get_role_grant(&self, t: TenantId, grant: Uuid) -> Result<RoleGrant> {
        let mut tx = self.tx(t).await?;
        let g = fetch_grant(&mut tx, t, grant).await?;
        tx.commit().await?;
        Ok(g)
    }

    async fn list_role_grants(
        &self,
        t: TenantId,
        filter: &RoleGrantFilter,
        page: Page,
    ) -> Result<Paged<RoleGrant>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<GrantRow> = sqlx::query_as(
            "SELECT id, person_id, role, cluster_id, granted_at, revoked_at FROM role_grants \
             WHERE tenant_id = $1 AND id > $2 AND ($3 IS NULL OR person_id = $3) \
             AND ($4 IS NULL OR cluster_id = $4) AND ($5 OR revoked_at IS NULL) \
             ORDER BY id LIMIT $6",
        )
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(filter.person_id)
        .bind(filter.cluster_id)
        .bind(filter.include_revoked)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let grants = rows
            .into_iter()
            .map(RoleGrant::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(page.finish(grants, |g| g.id))
    }

    async fn create_mentorship(
        &self,
        t: TenantId,
        actor: &str,
        new: NewMentorship,
    ) -> Result<Mentorship> {
        crate::domain::validate::new_mentorship(&new)?;
        let mut tx = self.tx(t).await?;
        require_person(&mut tx, t, new.mentor_id, "mentor_id").await?;
        require_person(&mut tx, t, new.new_teacher_id, "new_teacher_id").await?;
        let id = Uuid::now_v7();
        let row: MentorshipRow = sqlx::query_as(
            "INSERT INTO mentorships (tenant_id, id, mentor_id, new_teacher_id, starts_on, planned_end_on) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id, mentor_id, new_teacher_id, starts_on, planned_end_on, ended_on",
        )
        .bind(t.0)
        .bind(id)
        .bind(new.mentor_id)
        .bind(new.new_teacher_id)
        .bind(new.starts_on)
        .bind(new.planned_end_on)
        .fetch_one(&mut *tx)
        .await?;
        let m = Mentorship::from(row);
        record(&mut tx, t, actor, "mentorship.created", id, None, Some(&m)).await?;
        self.commit(tx).await?;
        Ok(m)
    }

    async fn end_mentorship(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        ended_on: NaiveDate,
    ) -> Result<Mentorship> {
        let mut tx = self.tx(t).await?;
        let before: Option<MentorshipRow> = sqlx::query_as(
            "SELECT id, mentor_id, new_teacher_id, starts_on, planned_end_on, ended_on \
             FROM mentorships WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.0)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let before = Mentorship::from(before.ok_or_else(|| not_found("mentorship"))?);
        if before.ended_on.is_some() {
            return Err(Error::FailedPrecondition("the mentorship has already ended".into()));
        }
        if ended_on < before.starts_on {
            return Err(Error::invalid("ended_on", "must not be before the mentorship starts"));
        }
        let row: MentorshipRow = sqlx::query_as(
            "UPDATE mentorships SET ended_on = $3 WHERE tenant_id = $1 AND id = $2 \
             RETURNING id, mentor_id, new_teacher_id, starts_on, planned_end_on, ended_on",
        )
        .bind(t.0)
        .bind(id)
        .bind(ended_on)
        .fetch_one(&mut *tx)
        .await?;
        let after = Mentorship::from(row);
        record(&mut tx, t, actor, "mentorship.ended", id, Some(&before), Some(&after)).await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn list_mentorships(
        &self,
        t: TenantId,
        person: Option<Uuid>,
        page: Page,
    ) -> Result<Paged<Mentorship>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<MentorshipRow> = sqlx::query_as(
            "SELECT id, mentor_id, new_teacher_id, starts_on, planned_end_on, ended_on \
             FROM mentorships WHERE tenant_id = $1 AND id > $2 \
             AND ($3 IS NULL OR mentor_id = $3 OR new_teacher_id = $3) ORDER BY id LIMIT $4",
        )
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(person)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(page.finish(rows.into_iter().map(Mentorship::from).collect(), |m| m.id))
    }

    async fn create_panel(
        &self,
        t: TenantId,
        actor: &str,
        name: &str,
        purpose: &str,
    ) -> Result<Panel> {
        let mut v = platform::error::Violations::new();
        crate::domain::validate::name(&mut v, "name", name);
        crate::domain::validate::long_text(&mut v, "purpose", purpose);
        v.finish()?;
        let mut tx = self.tx(t).await?;
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO panels (tenant_id, id, name, purpose, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(t.0)
        .bind(id)
        .bind(name.trim())
        .bind(purpose)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        let panel = fetch_panel(&mut tx, t, id).await?;
        record(&mut tx, t, actor, "panel.created", id, None, Some(&panel)).await?;
        self.commit(tx).await?;
        Ok(panel)
    }

    async fn set_panel_member(
        &self,
        t: TenantId,
        actor: &str,
        panel: Uuid,
        person: Uuid,
        constituency: Option<Constituency>,
    ) -> Result<Panel> {
        let mut tx = self.tx(t).await?;
        let before = fetch_panel(&mut tx, t, panel).await?;
        require_person(&mut tx, t, person, "person_id").await?;
        let action = match constituency {
            Some(c) => {
                sqlx::query(
                    "INSERT INTO panel_members (tenant_id, panel_id, person_id, constituency) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant_id, panel_id, person_id) DO UPDATE SET constituency = $4",
                )
                .bind(t.0)
                .bind(panel)
                .bind(person)
                .bind(c.as_str())
                .execute(&mut *tx)
                .await?;
                "panel.member_added"
            }
            None => {
                let removed = sqlx::query(
                    "DELETE FROM panel_members WHERE tenant_id = $1 AND panel_id = $2 AND person_id = $3",
                )
                .bind(t.0)
                .bind(panel)
                .bind(person)
                .execute(&mut *tx)
                .await?;
                if removed.rows_affected() == 0 {
                    return Err(Error::FailedPrecondition("the person is not on this panel".into()));
                }
                "panel.member_removed"
            }
        };
        let after = fetch_panel(&mut tx, t, panel).await?;
        record(&mut tx, t, actor, action, panel, Some(&before), Some(&after)).await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn list_panels(&self, t: TenantId, page: Page) -> Result<Paged<Panel>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<PanelRow> = sqlx::query_as(
            "SELECT id, name, purpose, created_at FROM panels WHERE tenant_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        let panels = fetch_panels(&mut tx, t, rows).await?;
        tx.commit().await?;
        Ok(page.finish(panels, |p| p.id))
    }

    async fn record_consent(&self, t: TenantId, new: NewConsent) -> Result<ConsentRecord> {
        crate::domain::validate::new_consent(&new)?;
        let mut tx = self.tx(t).await?;
        let (person, organisation) = match new.subject {
            ConsentSubject::Person(p) => {
                require_person(&mut tx, t, p, "subject.person_id").await?;
                (Some(p), None)
            }
            ConsentSubject::Organisation(o) => {
                require_organisation(&mut tx, t, o, "subject.organisation_id").await?;
                (None, Some(o))
            }
        };
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO consents (tenant_id, id, subject_person_id, subject_organisation_id, purpose, \
             purpose_version, recorded_by, by_proxy, remark, given_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(t.0)
        .bind(id)
        .bind(person)
        .bind(organisation)
        .bind(&new.purpose)
        .bind(new.purpose_version as i32)
        .bind(&new.recorded_by)
        .bind(new.by_proxy)
        .bind(new.remark.trim())
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        let c = fetch_consent(&mut tx, t, id).await?;
        record(&mut tx, t, &new.recorded_by, "consent.recorded", id, None, Some(&c)).await?;
        self.commit(tx).await?;
        Ok(c)
    }

    async fn withdraw_consent(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        remark: &str,
    ) -> Result<ConsentRecord> {
        let mut tx = self.tx(t).await?;
        let before = fetch_consent(&mut tx, t, id).await?;
        if before.withdrawn_at.is_some() {
            return Err(Error::FailedPrecondition("the consent is already withdrawn".into()));
        }
        sqlx::query(
            "UPDATE consents SET withdrawn_at = $3, withdrawn_by = $4, withdraw_remark = $5 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.0)
        .bind(id)
        .bind(Utc::now())
        .bind(actor)
        .bind(remark)
        .execute(&mut *tx)
        .await?;
        let after = fetch_consent(&mut tx, t, id).await?;
        record(&mut tx, t, actor, "consent.withdrawn", id, Some(&before), Some(&after)).await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn get_consent(&self, t: TenantId, id: Uuid) -> Result<ConsentRecord> {
        let mut tx = self.tx(t).await?;
        let c = fetch_consent(&mut tx, t, id).await?;
        tx.commit().await?;
        Ok(c)
    }

    async fn list_consents(
        &self,
        t: TenantId,
        filter: &ConsentFilter,
        page: Page,
    ) -> Result<Paged<ConsentRecord>> {
        let (person, organisation) = match filter.subject {
            Some(ConsentSubject::Person(p)) => (Some(p), None),
            Some(ConsentSubject::Organisation(o)) => (None, Some(o)),
            None => (None, None),
        };
        let mut tx = self.tx(t).await?;
        let rows: Vec<ConsentRow> = sqlx::query_as(&format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE tenant_id = $1 AND id > $2 \
             AND ($3 IS NULL OR subject_person_id = $3) \
             AND ($4 IS NULL OR subject_organisation_id = $4) \
             AND ($5 OR withdrawn_at IS NULL) ORDER BY id LIMIT $6"
        ))
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(person)
        .bind(organisation)
        .bind(filter.include_withdrawn)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(page.finish(rows.into_iter().map(ConsentRecord::from).collect(), |c| c.id))
    }

    async fn consented(
        &self,
        t: TenantId,
        purpose: &str,
        subjects: &[Uuid],
    ) -> Result<HashSet<Uuid>> {
        if subjects.is_empty() {
            return Ok(HashSet::new());
        }
        let mut tx = self.tx(t).await?;
        let mut found = HashSet::new();
        for column in ["subject_person_id", "subject_organisation_id"] {
            let mut q = QueryBuilder::<Db>::new(format!(
                "SELECT {column} FROM consents WHERE tenant_id = "
            ));
            q.push_bind(t.0)
                .push(" AND purpose = ")
                .push_bind(purpose)
                .push(" AND withdrawn_at IS NULL AND ")
                .push(column)
                .push(" IN (");
            let mut sep = q.separated(", ");
            for s in subjects {
                sep.push_bind(*s);
            }
            q.push(")");
            let ids: Vec<(Uuid,)> = q.build_query_as().fetch_all(&mut *tx).await?;
            found.extend(ids.into_iter().map(|(id,)| id));
        }
        tx.commit().await?;
        Ok(found)
    }

    async fn record_opt_out(
        &self,
        t: TenantId,
        actor: &str,
        new: NewResearchOptOut,
    ) -> Result<ResearchOptOut> {
        crate::domain::validate::new_opt_out(&new)?;
        let mut tx = self.tx(t).await?;
        require_organisation(&mut tx, t, new.organisation_id, "organisation_id").await?;
        let row: OptOutRow = sqlx::query_as(&format!(
            "INSERT INTO research_opt_outs (tenant_id, {OPT_OUT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) RETURNING {OPT_OUT_COLUMNS}"
        ))
        .bind(t.0)
        .bind(Uuid::now_v7())
        .bind(new.student_ref.trim())
        .bind(new.organisation_id)
        .bind(new.recorded_for.trim())
        .bind(actor)
        .bind(Utc::now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_on(e, &[ACTIVE_OPT_OUT]))?;
        let o = ResearchOptOut::from(row);
        record(&mut tx, t, actor, "research_opt_out.recorded", o.id, None, Some(&o)).await?;
        self.commit(tx).await?;
        Ok(o)
    }

    async fn withdraw_opt_out(&self, t: TenantId, actor: &str, id: Uuid) -> Result<ResearchOptOut> {
        let mut tx = self.tx(t).await?;
        let before: Option<OptOutRow> = sqlx::query_as(&format!(
            "SELECT {OPT_OUT_COLUMNS} FROM research_opt_outs WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(t.0)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let before = ResearchOptOut::from(before.ok_or_else(|| not_found("research opt-out"))?);
        if before.withdrawn_at.is_some() {
            return Err(Error::FailedPrecondition("the opt-out is already withdrawn".into()));
        }
        let row: OptOutRow = sqlx::query_as(&format!(
            "UPDATE research_opt_outs SET withdrawn_at = $3, withdrawn_by = $4 \
             WHERE tenant_id = $1 AND id = $2 RETURNING {OPT_OUT_COLUMNS}"
        ))
        .bind(t.0)
        .bind(id)
        .bind(Utc::now())
        .bind(actor)
        .fetch_one(&mut *tx)
        .await?;
        let after = ResearchOptOut::from(row);
        record(&mut tx, t, actor, "research_opt_out.withdrawn", id, Some(&before), Some(&after)).await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn list_opt_outs(
        &self,
        t: TenantId,
        filter: &OptOutFilter,
        page: Page,
    ) -> Result<Paged<ResearchOptOut>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<OptOutRow> = sqlx::query_as(&format!(
            "SELECT {OPT_OUT_COLUMNS} FROM research_opt_outs WHERE tenant_id = $1 AND id > $2 \
             AND ($3 IS NULL OR organisation_id = $3) AND ($4 OR withdrawn_at IS NULL) \
             ORDER BY id LIMIT $5"
        ))
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(filter.organisation_id)
        .bind(filter.include_withdrawn)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(page.finish(rows.into_iter().map(ResearchOptOut::from).collect(), |o| o.id))
    }

    async fn create_agreement(
        &self,
        t: TenantId,
        actor: &str,
        new: NewResearchAgreement,
    ) -> Result<ResearchAgreement> {
        let new = crate::domain::research::validate_agreement(&new)?;
        let mut tx = self.tx(t).await?;
        let found: HashSet<Uuid> = fetch_people(&mut tx, t, &new.researcher_ids)
            .await?
            .into_iter()
            .map(|p| p.id)
            .collect();
        if let Some(i) = new.researcher_ids.iter().position(|r| !found.contains(r)) {
            return Err(Error::invalid(
                format!("researcher_ids[{i}]"),
                "no such person in this tenant",
            ));
        }
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO research_agreements (tenant_id, id, title, purpose, data_scope, \
             starts_on, ends_on, destroy_by, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(t.0)
        .bind(id)
        .bind(&new.title)
        .bind(&new.purpose)
        .bind(crate::domain::research::scopes_to_text(&new.data_scope))
        .bind(new.starts_on)
        .bind(new.ends_on)
        .bind(new.destroy_by)
        .bind(actor)
        .bind(stored_instant(Utc::now()))
        .execute(&mut *tx)
        .await?;
        let mut q = QueryBuilder::<Db>::new(
            "INSERT INTO research_agreement_researchers (tenant_id, agreement_id, person_id) ",
        );
        q.push_values(&new.researcher_ids, |mut b, p| {
            b.push_bind(t.0).push_bind(id).push_bind(*p);
        });
        q.build().execute(&mut *tx).await?;
        let a = fetch_agreement(&mut tx, t, id)
            .await?
            .ok_or_else(|| not_found("research agreement"))?;
        record(
            &mut tx,
            t,
            actor,
            "research_agreement.created",
            id,
            None,
            Some(&a),
        )
        .await?;
        self.commit(tx).await?;
        Ok(a)
    }

    async fn revoke_agreement(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
    ) -> Result<ResearchAgreement> {
        let mut tx = self.tx(t).await?;
        let before = fetch_agreement(&mut tx, t, id)
            .await?
            .ok_or_else(|| not_found("research agreement"))?;
        if before.revoked_at.is_some() {
            return Err(Error::FailedPrecondition(
                "the research agreement is already revoked".into(),
            ));
        }
        sqlx::query(
            "UPDATE research_agreements SET revoked_at = $3, revoked_by = $4 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.0)
        .bind(id)
        .bind(stored_instant(Utc::now()))
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        let after = fetch_agreement(&mut tx, t, id)
            .await?
            .ok_or_else(|| not_found("research agreement"))?;
        record(
            &mut tx,
            t,
            actor,
            "research_agreement.revoked",
            id,
            Some(&before),
            Some(&after),
        )
        .await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn get_agreement(&self, t: TenantId, id: Uuid) -> Result<ResearchAgreement> {
        let mut tx = self.tx(t).await?;
        let a = fetch_agreement(&mut tx, t, id).await?;
        tx.commit().await?;
        a.ok_or_else(|| not_found("research agreement"))
    }

    async fn list_agreements(
        &self,
        t: TenantId,
        filter: &AgreementFilter,
        page: Page,
    ) -> Result<Paged<ResearchAgreement>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<AgreementRow> = sqlx::query_as(&format!(
            "SELECT {AGREEMENT_COLUMNS} FROM research_agreements WHERE tenant_id = $1 AND id > $2 \
             AND ($3 IS NULL OR id IN (SELECT agreement_id FROM research_agreement_researchers \
                  WHERE tenant_id = $1 AND person_id = $3)) \
             AND ($4 OR revoked_at IS NULL) ORDER BY id LIMIT $5"
        ))
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(filter.researcher_id)
        .bind(filter.include_revoked)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        let agreements = with_researchers(&mut tx, t, rows).await?;
        tx.commit().await?;
        Ok(page.finish(agreements, |a| a.id))
    }

    async fn covering_agreement(
        &self,
        t: TenantId,
        person: Uuid,
        scope: DataScope,
        day: NaiveDate,
    ) -> Result<Option<ResearchAgreement>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<AgreementRow> = sqlx::query_as(&format!(
            "SELECT {AGREEMENT_COLUMNS} FROM research_agreements a WHERE a.tenant_id = $1 \
             AND a.revoked_at IS NULL AND a.starts_on <= $3 AND a.ends_on >= $3 \
             AND (',' || a.data_scope || ',') LIKE $4 \
             AND EXISTS (SELECT 1 FROM research_agreement_researchers r \
                 WHERE r.tenant_id = $1 AND r.agreement_id = a.id AND r.person_id = $2) \
             ORDER BY a.ends_on DESC, a.id LIMIT 1"
        ))
        .bind(t.0)
        .bind(person)
        .bind(day)
        .bind(format!("%,{},%", scope.as_str()))
        .fetch_all(&mut *tx)
        .await?;
        let found = with_researchers(&mut tx, t, rows).await?;
        tx.commit().await?;
        // The rule in one place: the query narrows, `covers` decides.
        Ok(found.into_iter().find(|a| a.covers(person, scope, day)))
    }

    async fn record_disclosure(
        &self,
        t: TenantId,
        actor: &str,
        new: NewDisclosure,
    ) -> Result<Disclosure> {
        crate::domain::research::validate_disclosure(&new)?;
        let mut tx = self.tx(t).await?;
        require_person(&mut tx, t, new.recipient_id, "recipient_id").await?;
        if let Some(agreement) = new.agreement_id {
            let a = fetch_agreement(&mut tx, t, agreement)
                .await?
                .ok_or_else(|| {
                    Error::invalid("agreement_id", "no such research agreement in this tenant")
                })?;
            if !a.covers(new.recipient_id, new.scope, new.on) {
                return Err(Error::FailedPrecondition(format!(
                    "research agreement {agreement} does not cover the recipient for {} on {}",
                    new.scope.as_str(),
                    new.on
                )));
            }
        }
        let row: DisclosureRow = sqlx::query_as(&format!(
            "INSERT INTO disclosures (tenant_id, {DISCLOSURE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {DISCLOSURE_COLUMNS}"
        ))
        .bind(t.0)
        .bind(Uuid::now_v7())
        .bind(new.agreement_id)
        .bind(new.recipient_id)
        .bind(new.scope.as_str())
        .bind(new.dataset.trim())
        .bind(new.rows as i64)
        .bind(new.excluded as i64)
        .bind(stored_instant(Utc::now()))
        .fetch_one(&mut *tx)
        .await?;
        let d = Disclosure::try_from(row)?;
        record(
            &mut tx,
            t,
            actor,
            "disclosure.recorded",
            d.id,
            None,
            Some(&d),
        )
        .await?;
        self.commit(tx).await?;
        Ok(d)
    }

    async fn list_disclosures(
        &self,
        t: TenantId,
        filter: &DisclosureFilter,
        page: Page,
    ) -> Result<Paged<Disclosure>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<DisclosureRow> = sqlx::query_as(&format!(
            "SELECT {DISCLOSURE_COLUMNS} FROM disclosures WHERE tenant_id = $1 AND id > $2 \
             AND ($3 IS NULL OR agreement_id = $3) AND ($4 IS NULL OR recipient_id = $4) \
             AND ($5 IS NULL OR disclosed_at >= $5) AND ($6 IS NULL OR disclosed_at < $6) \
             ORDER BY id LIMIT $7"
        ))
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(filter.agreement_id)
        .bind(filter.recipient_id)
        .bind(filter.from.map(stored_instant))
        .bind(filter.until.map(stored_instant))
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let items = rows
            .into_iter()
            .map(Disclosure::try_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(page.finish(items, |d| d.id))
    }

    async fn list_audit(
        &self,
        t: TenantId,
        target: Option<&str>,
        page: Page,
    ) -> Result<Paged<AuditRecord>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, actor, action, target_kind, target_id, at, before, after FROM audit_log \
             WHERE tenant_id = $1 AND id > $2 AND ($3 IS NULL OR target_id = $3) \
             ORDER BY id LIMIT $4",
        )
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(target)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let records = rows
            .into_iter()
            .map(|r| AuditRecord {
                id: r.id,
                actor: r.actor,
                action: r.action,
                target_kind: r.target_kind,
                target_id: r.target_id,
                at: r.at,
                before: r.before.map(|j| j.0),
                after: r.after.map(|j| j.0),
            })
            .collect();
        Ok(page.finish(records, |a| a.id))
    }

    async fn retention_periods(&self, t: TenantId) -> Result<Vec<(Category, Option<u32>)>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
            "SELECT category, days FROM retention_periods WHERE tenant_id = $1 ORDER BY category",
        )
        .bind(t.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        // A category the platform no longer knows is ignored.
        Ok(rows
            .into_iter()
            .filter_map(|(c, days)| {
                Some((Category::parse("category", &c).ok()?, days.map(|d| d as u32)))
            })
            .collect())
    }

    async fn set_retention_period(
        &self,
        t: TenantId,
        actor: &str,
        category: Category,
        days: Option<Option<u32>>,
    ) -> Result<()> {
        if let Some(days) = days {
            category.validate_days("days", days)?;
        }
        let mut tx = self.tx(t).await?;
        let before: Option<(Option<i64>,)> = sqlx::query_as(
            "SELECT days FROM retention_periods WHERE tenant_id = $1 AND category = $2",
        )
        .bind(t.0)
        .bind(category.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let before = before.map(|(d,)| d.map(|d| d as u32));
        if before == days {
            return Ok(());
        }
        match days {
            Some(d) => {
                sqlx::query(
                    "INSERT INTO retention_periods (tenant_id, category, days, updated_by, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, category) DO UPDATE \
                     SET days = EXCLUDED.days, updated_by = EXCLUDED.updated_by, \
                     updated_at = EXCLUDED.updated_at",
                )
                .bind(t.0)
                .bind(category.as_str())
                .bind(d.map(i64::from))
                .bind(actor)
                .bind(stored_instant(Utc::now()))
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM retention_periods WHERE tenant_id = $1 AND category = $2")
                    .bind(t.0)
                    .bind(category.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let state = |d: Option<Option<u32>>| match d {
            None => serde_json::json!({ "category": category.as_str(), "days": category.default_days(), "default": true }),
            Some(d) => serde_json::json!({ "category": category.as_str(), "days": d, "default": false }),
        };
        record(
            &mut tx,
            t,
            actor,
            "retention.period_set",
            t.0,
            Some(&state(before)),
            Some(&state(days)),
        )
        .await?;
        self.commit(tx).await
    }

    async fn expired_people(
        &self,
        t: TenantId,
        before: DateTime<Utc>,
        page: Page,
    ) -> Result<Paged<Uuid>> {
        let mut tx = self.tx(t).await?;
        let ids: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT id FROM people WHERE tenant_id = $1 AND NOT active AND erased_at IS NULL \
             AND id > $2 AND COALESCE(inactive_since, created_at) < $3 ORDER BY id LIMIT $4",
        )
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(before)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(page.finish(ids.into_iter().map(|(id,)| id).collect(), |id| *id))
    }

    async fn apply_retention(
        &self,
        t: TenantId,
        actor: &str,
        cutoffs: &Cutoffs,
        dry_run: bool,
    ) -> Result<Vec<Count>> {
        let mut tx = self.tx(t).await?;
        let mut counts = Vec::new();
        if let Some(before) = cutoffs.get(Category::RosterUploads) {
            let n = tx
                .expire_rows(
                    t,
                    before,
                    "FROM roster_uploads WHERE tenant_id = $1 AND updated_at < $2",
                    dry_run,
                )
                .await?;
            counts.push(Count::new(Category::RosterUploads, "roster_uploads", n));
        }
        counts.extend(tx.expire_common(t, cutoffs, dry_run).await?);
        if dry_run {
            // Nothing to keep.
            return Ok(counts);
        }
        tx.record_retention(t, "membership", actor, cutoffs, &counts)
            .await?;
        self.commit(tx).await?;
        Ok(counts)
    }

    async fn record_retention_run(
        &self,
        t: TenantId,
        actor: &str,
        run: NewRetentionRun,
    ) -> Result<RetentionRun> {
        let run = RetentionRun {
            id: Uuid::now_v7(),
            actor: actor.to_string(),
            dry_run: run.dry_run,
            started_at: stored_instant(run.started_at),
            finished_at: stored_instant(Utc::now()),
            cutoffs: run.cutoffs,
            reports: run.reports,
            error: run.error,
        };
        let mut tx = self.tx(t).await?;
        sqlx::query(&format!(
            "INSERT INTO retention_runs (tenant_id, {RETENTION_RUN_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(t.0)
        .bind(run.id)
        .bind(&run.actor)
        .bind(run.dry_run)
        .bind(run.started_at)
        .bind(run.finished_at)
        .bind(Json(&run.cutoffs))
        .bind(Json(&run.reports))
        .bind(&run.error)
        .execute(&mut *tx)
        .await?;
        record(
            &mut tx,
            t,
            actor,
            "retention.run_recorded",
            run.id,
            None,
            Some(&run),
        )
        .await?;
        self.commit(tx).await?;
        Ok(run)
    }

    async fn list_retention_runs(&self, t: TenantId, page: Page) -> Result<Paged<RetentionRun>> {
        // Newest first: the page token is the oldest id seen so far.
        let after = page.after_or_nil();
        let before = if after.is_nil() { Uuid::max() } else { after };
        let mut tx = self.tx(t).await?;
        let rows: Vec<RetentionRunRow> = sqlx::query_as(&format!(
            "SELECT {RETENTION_RUN_COLUMNS} FROM retention_runs \
             WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(t.0)
        .bind(before)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(page.finish(
            rows.into_iter().map(RetentionRun::from).collect(),
            |r| r.id,
        ))
    }

    async fn start_roster_upload(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        job: Vec<u8>,
        summary: serde_json::Value,
    ) -> Result<()> {
        let mut tx = self.tx(t).await?;
        sqlx::query(
            "INSERT INTO roster_uploads (tenant_id, id, job, finished, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(t.0)
        .bind(id)
        .bind(job)
        .bind(false)
        .bind(stored_instant(Utc::now()))
        .execute(&mut *tx)
        .await?;
        record(&mut tx, t, actor, "roster_upload.started", id, None, Some(&summary)).await?;
        self.commit(tx).await
    }

    async fn save_roster_upload(
        &self,
        t: TenantId,
        id: Uuid,
        job: Vec<u8>,
        finished: bool,
    ) -> Result<()> {
        let mut tx = self.tx(t).await?;
        // A finished upload stays as it ended.
        let saved = sqlx::query(
            "UPDATE roster_uploads SET job = $3, finished = $4, updated_at = $5 \
             WHERE tenant_id = $1 AND id = $2 AND NOT finished",
        )
        .bind(t.0)
        .bind(id)
        .bind(job)
        .bind(finished)
        .bind(stored_instant(Utc::now()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if saved == 0 && self.get_roster_upload(t, id).await?.is_none() {
            return Err(Error::not_found("roster upload"));
        }
        Ok(())
    }

    async fn get_roster_upload(&self, t: TenantId, id: Uuid) -> Result<Option<RosterUpload>> {
        let mut tx = self.tx(t).await?;
        let row: Option<RosterUploadRow> = sqlx::query_as(
            "SELECT id, job, finished, updated_at FROM roster_uploads \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.0)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(RosterUpload::from))
    }

    async fn list_roster_uploads(&self, t: TenantId, page: Page) -> Result<Paged<RosterUpload>> {
        let after = page.after_or_nil();
        let before = if after.is_nil() { Uuid::max() } else { after };
        let mut tx = self.tx(t).await?;
        let rows: Vec<RosterUploadRow> = sqlx::query_as(
            "SELECT id, job, finished, updated_at FROM roster_uploads \
             WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(t.0)
        .bind(before)
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(page.finish(rows.into_iter().map(RosterUpload::from).collect(), |u| u.id))
    }

    async fn running_roster_upload(
        &self,
        t: TenantId,
        since: DateTime<Utc>,
    ) -> Result<Option<Uuid>> {
        let mut tx = self.tx(t).await?;
        let id: Option<(Uuid,)> = sqlx::query_as(
            "SELECT id FROM roster_uploads WHERE tenant_id = $1 AND NOT finished \
             AND updated_at >= $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(t.0)
        .bind(stored_instant(since))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id.map(|(id,)| id))
    }

    async fn roster_snapshot(&self, t: TenantId) -> Result<RosterSnapshot> {
        let mut tx = self.tx(t).await?;
        let orgs: Vec<OrganisationRow> = sqlx::query_as(&format!(
            "SELECT {ORGANISATION_COLUMNS} FROM organisations WHERE tenant_id = $1 ORDER BY id"
        ))
        .bind(t.0)
        .fetch_all(&mut *tx)
        .await?;
        let people: Vec<PersonRow> = sqlx::query_as(&format!(
            "SELECT {PERSON_COLUMNS} FROM people WHERE tenant_id = $1 ORDER BY id"
        ))
        .bind(t.0)
        .fetch_all(&mut *tx)
        .await?;
        let roles: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT person_id, role FROM role_grants WHERE tenant_id = $1 \
             AND revoked_at IS NULL AND cluster_id IS NULL ORDER BY id",
        )
        .bind(t.0)
        .fetch_all(&mut *tx)
        .await?;
        let erased: Vec<(String,)> = sqlx::query_as(
            "SELECT erased_external_id_hash FROM people WHERE tenant_id = $1 \
             AND erased_external_id_hash IS NOT NULL",
        )
        .bind(t.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RosterSnapshot {
            organisations: orgs.into_iter().map(Organisation::from).collect(),
            people: people.into_iter().map(Person::from).collect(),
            tenant_roles: roles
                .into_iter()
                .filter_map(|(p, r)| Some((p, r.parse::<Role>().ok()?)))
                .collect(),
            erased: crate::roster::ErasedIds::new(t.0, erased.into_iter().map(|(h,)| h)),
        })
    }

    async fn resumable_import_job(
        &self,
        t: TenantId,
        source_hash: &str,
    ) -> Result<Option<ImportJob>> {
        let mut tx = self.tx(t).await?;
        let job = unfinished_job(&mut tx, t, source_hash).await?;
        tx.commit().await?;
        Ok(job)
    }

    async fn start_import_job(
        &self,
        t: TenantId,
        actor: &str,
        new: NewImportJob,
    ) -> Result<(ImportJob, bool)> {
        let mut tx = self.tx(t).await?;
        let now = Utc::now();
        let resumable = unfinished_job(&mut tx, t, &new.source_hash).await?;
        // Another source's unfinished job is superseded by this one.
        let running: Vec<ImportJobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE tenant_id = $1 AND status = 'running'"
        ))
        .bind(t.0)
        .fetch_all(&mut *tx)
        .await?;
        for other in running.into_iter().map(ImportJob::from) {
            if resumable.as_ref().is_some_and(|r| r.id == other.id) {
                continue;
            }
            sqlx::query(
                "UPDATE import_jobs SET status = 'superseded', finished_at = $3, updated_at = $3 \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(t.0)
            .bind(other.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let after = fetch_job(&mut tx, t, other.id).await?;
            record(&mut tx, t, actor, "import_job.superseded", other.id, Some(&other), Some(&after)).await?;
        }
        let (id, resumed) = match resumable {
            Some(before) => {
                sqlx::query(
                    "UPDATE import_jobs SET status = 'running', error = NULL, finished_at = NULL, \
                     deactivations_confirmed = (deactivations_confirmed OR $3), updated_at = $4 \
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(t.0)
                .bind(before.id)
                .bind(new.deactivations_confirmed)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let after = fetch_job(&mut tx, t, before.id).await?;
                record(&mut tx, t, actor, "import_job.resumed", before.id, Some(&before), Some(&after)).await?;
                (before.id, true)
            }
            None => {
                let id = Uuid::now_v7();
                sqlx::query(&format!(
                    "INSERT INTO import_jobs (tenant_id, {JOB_COLUMNS}) VALUES \
                     ($1, $2, $3, $4, 'running', $5, 0, 0, 0, 0, 0, 0, $6, $7, $7, NULL, NULL)"
                ))
                .bind(t.0)
                .bind(id)
                .bind(new.source_kind.as_str())
                .bind(&new.source_hash)
                .bind(new.deactivations_confirmed)
                .bind(actor)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let job = fetch_job(&mut tx, t, id).await?;
                record(&mut tx, t, actor, "import_job.started", id, None, Some(&job)).await?;
                (id, false)
            }
        };
        let job = fetch_job(&mut tx, t, id).await?;
        self.commit(tx).await?;
        Ok((job, resumed))
    }

    async fn apply_roster_batch(
        &self,
        t: TenantId,
        actor: &str,
        batch: &RosterBatch,
    ) -> Result<BatchOutcome> {
        let mut tx = self.tx(t).await?;
        for statement in BULK_TX_SETUP {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        let job = fetch_job(&mut tx, t, batch.job_id).await?;
        if job.status != JobStatus::Running {
            return Err(Error::FailedPrecondition(format!(
                "import job {} is {}, not running",
                job.id,
                job.status.as_str()
            )));
        }
        let mut out = BatchOutcome::default();

        // Organisations.
        let wanted: Vec<&str> = batch.organisations.iter().map(|o| o.external_id.as_str()).collect();
        let stored = organisations_by_external_id(&mut tx, t, &wanted).await?;
        for up in &batch.organisations {
            let mut v = platform::error::Violations::new();
            crate::domain::validate::name(&mut v, "name", &up.name);
            crate::domain::validate::external_id(&mut v, "external_id", Some(&up.external_id));
            if let Err(e) = v.finish() {
                out.rejected.push(roster_rejection(&up.source, &up.external_id, crate::roster::reason(&e)));
                continue;
            }
            let name = up.name.trim();
            match stored.get(&up.external_id) {
                None => {
                    let row: OrganisationRow = sqlx::query_as(&format!(
                        "INSERT INTO organisations (tenant_id, {ORGANISATION_COLUMNS}) \
                         VALUES ($1, $2, $3, $4, $5, NULL, NULL, NULL, $6) RETURNING {ORGANISATION_COLUMNS}"
                    ))
                    .bind(t.0)
                    .bind(Uuid::now_v7())
                    .bind(name)
                    .bind(up.kind.as_str())
                    .bind(&up.external_id)
                    .bind(Utc::now())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| conflict_on(e, &[ORGANISATION_EXTERNAL_ID]))?;
                    let org = Organisation::from(row);
                    record(&mut tx, t, actor, "organisation.created", org.id, None, Some(&org)).await?;
                    out.organisations.created += 1;
                }
                Some(before) if before.name != name => {
                    let row: OrganisationRow = sqlx::query_as(&format!(
                        "UPDATE organisations SET name = $3 WHERE tenant_id = $1 AND id = $2 \
                         RETURNING {ORGANISATION_COLUMNS}"
                    ))
                    .bind(t.0)
                    .bind(before.id)
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?;
                    let after = Organisation::from(row);
                    record(&mut tx, t, actor, "organisation.updated", after.id, Some(before), Some(&after)).await?;
                    out.organisations.updated += 1;
                }
                Some(_) => out.organisations.unchanged += 1,
            }
        }

        // People.
        let wanted: Vec<&str> = batch.people.iter().map(|p| p.external_id.as_str()).collect();
        let stored = people_by_external_id(&mut tx, t, &wanted).await?;
        let refs: Vec<&str> = batch.people.iter().filter_map(|p| p.organisation.as_deref()).collect();
        let org_ids: HashMap<String, Uuid> = organisations_by_external_id(&mut tx, t, &refs)
            .await?
            .into_iter()
            .map(|(e, o)| (e, o.id))
            .collect();
        let emails: Vec<String> = batch
            .people
            .iter()
            .filter_map(|p| Some(p.email.as_deref()?.trim().to_lowercase()))
            .collect();
        let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
        let mut email_owner = email_owners(&mut tx, t, &emails).await?;
        let ids: Vec<Uuid> = stored.values().map(|p| p.id).collect();
        let held = tenant_roles_of(&mut tx, t, &ids).await?;
        let mut records = Records::default();
        let (mut new_people, mut new_grants) = (Vec::new(), Vec::new());
        for up in &batch.people {
            let up = match checked_person(up) {
                Ok(up) => up,
                Err(reason) => {
                    out.rejected.push(roster_rejection(&up.source, &up.external_id, reason));
                    continue;
                }
            };
            let organisation = match &up.organisation {
                None => None,
                Some(e) => match org_ids.get(e) {
                    Some(id) => Some(*id),
                    None => {
                        out.rejected.push(roster_rejection(
                            &up.source,
                            &up.external_id,
                            format!("organisation {e:?} is not in this tenant"),
                        ));
                        continue;
                    }
                },
            };
            let before = stored.get(&up.external_id);
            if let Some(e) = &up.email
                && let Some(owner) = email_owner.get(e)
                && Some(*owner) != before.map(|b| b.id)
            {
                out.rejected.push(roster_rejection(
                    &up.source,
                    &up.external_id,
                    "email: another person in this tenant has this e-mail address".into(),
                ));
                continue;
            }
            match before {
                None => {
                    // Written together after the loop (see `insert_people`).
                    let person = Person {
                        id: Uuid::now_v7(),
                        given_name: up.given_name.clone(),
                        family_name: up.family_name.clone(),
                        contact: Contact {
                            email: up.email.clone(),
                            phone: up.phone.clone(),
                            address: None,
                        },
                        organisation_id: organisation,
                        external_id: Some(up.external_id.clone()),
                        time_zone: None,
                        active: up.active,
                        created_at: stored_instant(Utc::now()),
                    };
                    records.push(t, actor, "person.created", person.id, None, Some(&person));
                    if let Some(e) = &person.contact.email {
                        email_owner.insert(e.clone(), person.id);
                    }
                    out.people.created += 1;
                    if let Some(role) = up.role {
                        let grant = RoleGrant {
                            id: Uuid::now_v7(),
                            person_id: person.id,
                            role,
                            cluster_id: None,
                            granted_at: person.created_at,
                            revoked_at: None,
                        };
                        records.push(t, actor, "role.granted", grant.id, None, Some(&grant));
                        new_grants.push(grant);
                        out.roles_granted += 1;
                    }
                    new_people.push(person);
                }
                Some(before) => {
                    let wanted = merge_person(before, &up, organisation);
                    let changed = wanted != *before;
                    if changed {
                        let after = write_person(&mut tx, t, &wanted).await?;
                        let action = if before.active && !after.active {
                            "person.deactivated"
                        } else {
                            "person.updated"
                        };
                        records.push(t, actor, action, after.id, Some(before), Some(&after));
                        if before.contact.email != after.contact.email {
                            if let Some(old) = &before.contact.email {
                                email_owner.remove(old);
                            }
                            if let Some(new) = &after.contact.email {
                                email_owner.insert(new.clone(), after.id);
                            }
                        }
                    }
                    let mut granted = false;
                    if let Some(role) = up.role
                        && !held.contains(&(before.id, role))
                    {
                        granted = grant_if_missing(&mut tx, &mut records, t, actor, before.id, role).await?;
                    }
                    out.roles_granted += u64::from(granted);
                    if before.active && !wanted.active {
                        out.people.deactivated += 1;
                    } else if changed || granted {
                        out.people.updated += 1;
                    } else {
                        out.people.unchanged += 1;
                    }
                }
            }
        }

        insert_people(&mut tx, t, &new_people, &new_grants).await?;

        // Deactivations.
        let wanted: Vec<&str> = batch.deactivations.iter().map(|d| d.external_id.as_str()).collect();
        let stored = people_by_external_id(&mut tx, t, &wanted).await?;
        for d in &batch.deactivations {
            match stored.get(&d.external_id) {
                Some(before) if before.active => {
                    let after = write_person(&mut tx, t, &Person { active: false, ..before.clone() }).await?;
                    records.push(t, actor, "person.deactivated", after.id, Some(before), Some(&after));
                    out.people.deactivated += 1;
                }
                _ => out.people.unchanged += 1,
            }
        }

        records.write(&mut tx).await?;

        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let written = out.organisations.created + out.people.created;
        let updated = out.organisations.updated + out.people.updated;
        sqlx::query(
            "UPDATE import_jobs SET batches_done = batches_done + 1, \
             rows_created = rows_created + $3, rows_updated = rows_updated + $4, \
             rows_deactivated = rows_deactivated + $5, updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.0)
        .bind(batch.job_id)
        .bind(n(written))
        .bind(n(updated))
        .bind(n(out.people.deactivated))
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        self.commit(tx).await?;
        Ok(out)
    }

    async fn finish_import_job(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        end: JobEnd,
    ) -> Result<ImportJob> {
        let action = match end.status {
            JobStatus::Completed => "import_job.completed",
            JobStatus::Failed => "import_job.failed",
            _ => {
                return Err(Error::invalid("status", "a job ends completed or failed"));
            }
        };
        let mut tx = self.tx(t).await?;
        let before = fetch_job(&mut tx, t, id).await?;
        if before.status != JobStatus::Running {
            return Err(Error::FailedPrecondition(format!(
                "import job {id} is {}, not running",
                before.status.as_str()
            )));
        }
        let now = Utc::now();
        sqlx::query(
            "UPDATE import_jobs SET status = $3, rows_unchanged = $4, rows_rejected = $5, \
             error = $6, finished_at = $7, updated_at = $7 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(t.0)
        .bind(id)
        .bind(end.status.as_str())
        .bind(i64::try_from(end.unchanged).unwrap_or(i64::MAX))
        .bind(i64::try_from(end.rejected).unwrap_or(i64::MAX))
        .bind(&end.error)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let after = fetch_job(&mut tx, t, id).await?;
        record(&mut tx, t, actor, action, id, Some(&before), Some(&after)).await?;
        self.commit(tx).await?;
        Ok(after)
    }

    async fn get_import_job(&self, t: TenantId, id: Uuid) -> Result<ImportJob> {
        let mut tx = self.tx(t).await?;
        let job = fetch_job(&mut tx, t, id).await?;
        tx.commit().await?;
        Ok(job)
    }

    async fn list_import_jobs(&self, t: TenantId, page: Page) -> Result<Paged<ImportJob>> {
        let mut tx = self.tx(t).await?;
        let rows: Vec<ImportJobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM import_jobs WHERE tenant_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3"
        ))
        .bind(t.0)
        .bind(page.after_or_nil())
        .bind(page.fetch_limit())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(page.finish(rows.into_iter().map(ImportJob::from).collect(), |j| j.id))
    }

    async fn export_person_data(&self, t: TenantId, person: Uuid) -> Result<serde_json::Value> {
        let mut tx = self.tx(t).await?;
        let row = fetch_person(&mut tx, t, person).await?;
        let me = person.to_string();
        let erased_at: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT erased_at FROM people WHERE tenant_id = $1 AND id = $2")
                .bind(t.0)
                .bind(person)
                .fetch_one(&mut *tx)
                .await?;
        let grants: Vec<GrantRow> = sqlx::query_as(
            "SELECT id, person_id, role, cluster_id, granted_at, revoked_at \
             FROM role_grants WHERE tenant_id = $1 AND person_id = $2 ORDER BY id",
        )
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let grants = grants
            .into_iter()
            .map(RoleGrant::try_from)
            .collect::<Result<Vec<_>>>()?;
        let consents: Vec<ConsentRow> = sqlx::query_as(&format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE tenant_id = $1 \
             AND (subject_person_id = $2 OR recorded_by = $3) ORDER BY id"
        ))
        .bind(t.0)
        .bind(person)
        .bind(&me)
        .fetch_all(&mut *tx)
        .await?;
        let consents: Vec<ConsentRecord> = consents.into_iter().map(Into::into).collect();
        let mentorships: Vec<MentorshipRow> = sqlx::query_as(
            "SELECT id, mentor_id, new_teacher_id, starts_on, planned_end_on, ended_on \
             FROM mentorships WHERE tenant_id = $1 AND (mentor_id = $2 OR new_teacher_id = $2) \
             ORDER BY id",
        )
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let mentorships: Vec<Mentorship> = mentorships.into_iter().map(Into::into).collect();
        let panels: Vec<(Uuid, String, String)> = sqlx::query_as(
            "SELECT m.panel_id, p.name, m.constituency FROM panel_members m \
             JOIN panels p ON p.tenant_id = m.tenant_id AND p.id = m.panel_id \
             WHERE m.tenant_id = $1 AND m.person_id = $2 ORDER BY m.panel_id",
        )
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let panels: Vec<serde_json::Value> = panels
            .into_iter()
            .map(|(id, name, constituency)| {
                serde_json::json!({
                    "panel_id": id,
                    "panel_name": name,
                    "constituency": constituency,
                })
            })
            .collect();
        let opt_outs: Vec<OptOutRow> = sqlx::query_as(&format!(
            "SELECT {OPT_OUT_COLUMNS} FROM research_opt_outs WHERE tenant_id = $1 \
             AND recorded_by = $2 ORDER BY id"
        ))
        .bind(t.0)
        .bind(&me)
        .fetch_all(&mut *tx)
        .await?;
        let opt_outs: Vec<ResearchOptOut> = opt_outs.into_iter().map(Into::into).collect();
        let agreements: Vec<AgreementRow> = sqlx::query_as(&format!(
            "SELECT {AGREEMENT_COLUMNS} FROM research_agreements a WHERE a.tenant_id = $1 \
             AND EXISTS (SELECT 1 FROM research_agreement_researchers r \
             WHERE r.tenant_id = a.tenant_id AND r.agreement_id = a.id AND r.person_id = $2) \
             ORDER BY id"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let agreements = with_researchers(&mut tx, t, agreements).await?;
        let disclosures: Vec<DisclosureRow> = sqlx::query_as(&format!(
            "SELECT {DISCLOSURE_COLUMNS} FROM disclosures WHERE tenant_id = $1 \
             AND recipient_id = $2 ORDER BY id"
        ))
        .bind(t.0)
        .bind(person)
        .fetch_all(&mut *tx)
        .await?;
        let disclosures = disclosures
            .into_iter()
            .map(Disclosure::try_from)
            .collect::<Result<Vec<_>>>()?;
        let audit: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, actor, action, target_kind, target_id, at, before, after FROM audit_log \
             WHERE tenant_id = $1 AND (actor = $2 OR target_id = $2) ORDER BY id",
        )
        .bind(t.0)
        .bind(&me)
        .fetch_all(&mut *tx)
        .await?;
        let audit: Vec<AuditRecord> = audit
            .into_iter()
            .map(|r| AuditRecord {
                id: r.id,
                actor: r.actor,
                action: r.action,
                target_kind: r.target_kind,
                target_id: r.target_id,
                at: r.at,
                before: r.before.map(|j| j.0),
                after: r.after.map(|j| j.0),
            })
            .collect();
        tx.commit().await?;
        Ok(serde_json::json!({
            "service": "membership",
            "person_id": person,
            "exported_at": Utc::now(),
            "person": row,
            "erased_at": erased_at,
            "role_grants": grants,
            "consents": consents,
            "mentorships": mentorships,
            "panel_memberships": panels,
            "research_opt_outs_recorded": opt_outs,
            "research_agreements": agreements,
            "disclosures": disclosures,
            "audit_records": audit,
        }))
    }

    async fn erase_person_data(
        &self,
        t: TenantId,
        actor: &str,
        person: Uuid,
    ) -> Result<ErasureCounts> {
        let mut tx = self.tx(t).await?;
        let before = fetch_person(&mut tx, t, person).await?;
        let now = stored_instant(Utc::now());
        let today = now.date_naive();
        let mut counts = ErasureCounts::new();
        // The roster id survives only as a salted hash, so an import of the
        // same id is recognised and refused (roster::ErasedIds).
        let roster_id = before
            .external_id
            .as_deref()
            .map(|e| crate::roster::ErasedIds::hash(t.0, e));
        let people = sqlx::query(
            "UPDATE people SET given_name = 'Erased', family_name = 'person', email = NULL, \
             phone = NULL, address = NULL, external_id = NULL, time_zone = NULL, active = $3, \
             erased_at = $4, erased_external_id_hash = $5 \
             WHERE tenant_id = $1 AND id = $2 AND erased_at IS NULL",
        )
        .bind(t.0)
        .bind(person)
        .bind(false)
        .bind(now)
        .bind(roster_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.insert("person".into(), people);
        let grants = sqlx::query(
            "UPDATE role_grants SET revoked_at = $3 \
             WHERE tenant_id = $1 AND person_id = $2 AND revoked_at IS NULL",
        )
        .bind(t.0)
        .bind(person)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.insert("role_grants_revoked".into(), grants);
        let consents = sqlx::query(
            "UPDATE consents SET withdrawn_at = $3, withdrawn_by = $4, \
             withdraw_remark = 'person erased' \
             WHERE tenant_id = $1 AND subject_person_id = $2 AND withdrawn_at IS NULL",
        )
        .bind(t.0)
        .bind(person)
        .bind(now)
        .bind(actor)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.insert("consents_withdrawn".into(), consents);
        let mentorships = sqlx::query(
            "UPDATE mentorships SET ended_on = CASE WHEN starts_on > $3 THEN starts_on ELSE $3 END \
             WHERE tenant_id = $1 AND (mentor_id = $2 OR new_teacher_id = $2) \
             AND ended_on IS NULL",
        )
        .bind(t.0)
        .bind(person)
        .bind(today)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.insert("mentorships_ended".into(), mentorships);
        let leads = sqlx::query(
            "UPDATE clusters SET lead_person_id = NULL \
             WHERE tenant_id = $1 AND lead_person_id = $2",
        )
        .bind(t.0)
        .bind(person)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.insert("cluster_leads_cleared".into(), leads);
        let scrubbed: Vec<(Uuid,)> = sqlx::query_as(SCRUB_PERSON_AUDIT)
            .bind(t.0)
            .bind(person.to_string())
            .fetch_all(&mut *tx)
            .await?;
        counts.insert("audit_records_scrubbed".into(), scrubbed.len() as u64);
        if counts.values().any(|&n| n > 0) {
            // Ids and counts only: no personal data in the record of the erasure.
            let after = serde_json::json!({ "id": person, "counts": &counts });
            record(&mut tx, t, actor, "person.erased", person, None, Some(&after)).await?;
            self.commit(tx).await?;
        } else {
            tx.commit().await?;
        }
        Ok(counts)
    }

    async fn relay_outbox(&self, bus: &dyn EventBus, batch: i64) -> Result<usize> {
        platform::events::relay::relay_once(&self.pool, bus, batch).await
    }
}
