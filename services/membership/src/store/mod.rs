//! Persistence of membership. [`MembershipStore`] is the one interface; it has
//! a PostgreSQL implementation (production, RLS) and a SQLite implementation
//! (`collegium dev`), generated from one SQL body (`sql.rs`) so the two cannot
//! drift. The contract suite in `tests/store_contract.rs` runs against both.
//!
//! Every method takes the tenant first and runs in a tenant transaction; every
//! mutation writes its audit record and outbox event in that same transaction.

pub mod postgres;
pub mod sqlite;

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use platform::{
    auth::TenantId,
    error::Result,
    page::Page,
    retention::{Category, Count, Cutoffs},
};
use uuid::Uuid;

use crate::{
    domain::*,
    roster::{
        BatchOutcome, ImportJob, JobEnd, NewImportJob, RosterBatch, RosterSnapshot, RosterUpload,
    },
};

/// A page of results and the token of the next page ("" when done).
pub type Paged<T> = (Vec<T>, String);

/// What an erasure changed, per kind of record (`person`, `role_grants`, …).
pub type ErasureCounts = std::collections::BTreeMap<String, u64>;

#[async_trait]
pub trait MembershipStore: Send + Sync + 'static {
    // Tenants: creating and finding by slug is operator work (CLI), not a tenant call.
    async fn create_tenant(&self, new: NewTenant) -> Result<Tenant>;
    async fn tenant_by_slug(&self, slug: &str) -> Result<Tenant>;
    async fn list_tenants(&self) -> Result<Vec<Tenant>>;
    async fn get_tenant(&self, t: TenantId) -> Result<Tenant>;
    async fn update_tenant_settings(
        &self,
        t: TenantId,
        actor: &str,
        settings: TenantSettings,
    ) -> Result<Tenant>;

    async fn create_organisation(
        &self,
        t: TenantId,
        actor: &str,
        new: NewOrganisation,
    ) -> Result<Organisation>;
    async fn update_organisation(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        patch: OrganisationPatch,
    ) -> Result<Organisation>;
    async fn get_organisations(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Organisation>>;
    async fn list_organisations(
        &self,
        t: TenantId,
        filter: &OrganisationFilter,
        page: Page,
    ) -> Result<Paged<Organisation>>;

    async fn create_cluster(&self, t: TenantId, actor: &str, new: NewCluster) -> Result<Cluster>;
    async fn update_cluster(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        patch: ClusterPatch,
    ) -> Result<Cluster>;
    async fn set_cluster_centre(
        &self,
        t: TenantId,
        actor: &str,
        cluster: Uuid,
        organisation: Uuid,
        member: bool,
    ) -> Result<Cluster>;
    async fn get_clusters(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Cluster>>;
    async fn list_clusters(
        &self,
        t: TenantId,
        filter: &ClusterFilter,
        page: Page,
    ) -> Result<Paged<Cluster>>;

    async fn create_person(&self, t: TenantId, actor: &str, new: NewPerson) -> Result<Person>;
    async fn update_person(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        patch: PersonPatch,
    ) -> Result<Person>;
    async fn get_people(&self, t: TenantId, ids: &[Uuid]) -> Result<Vec<Person>>;
    async fn person_by_email(&self, t: TenantId, email: &str) -> Result<Person>;
    async fn list_people(
        &self,
        t: TenantId,
        filter: &PersonFilter,
        page: Page,
    ) -> Result<Paged<Person>>;

    async fn grant_role(
        &self,
        t: TenantId,
        actor: &str,
        person: Uuid,
        role: platform::auth::Role,
        cluster: Option<Uuid>,
    ) -> Result<RoleGrant>;
    async fn revoke_role(&self, t: TenantId, actor: &str, grant: Uuid) -> Result<RoleGrant>;
    async fn get_role_grant(&self, t: TenantId, grant: Uuid) -> Result<RoleGrant>;
    async fn list_role_grants(
        &self,
        t: TenantId,
        filter: &RoleGrantFilter,
        page: Page,
    ) -> Result<Paged<RoleGrant>>;

    async fn create_mentorship(
        &self,
        t: TenantId,
        actor: &str,
        new: NewMentorship,
    ) -> Result<Mentorship>;
    async fn end_mentorship(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        ended_on: chrono::NaiveDate,
    ) -> Result<Mentorship>;
    async fn list_mentorships(
        &self,
        t: TenantId,
        person: Option<Uuid>,
        page: Page,
    ) -> Result<Paged<Mentorship>>;

    async fn create_panel(
        &self,
        t: TenantId,
        actor: &str,
        name: &str,
        purpose: &str,
    ) -> Result<Panel>;
    async fn set_panel_member(
        &self,
        t: TenantId,
        actor: &str,
        panel: Uuid,
        person: Uuid,
        constituency: Option<Constituency>,
    ) -> Result<Panel>;
    async fn list_panels(&self, t: TenantId, page: Page) -> Result<Paged<Panel>>;

    async fn record_consent(&self, t: TenantId, new: NewConsent) -> Result<ConsentRecord>;
    async fn withdraw_consent(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        remark: &str,
    ) -> Result<ConsentRecord>;
    async fn get_consent(&self, t: TenantId, id: Uuid) -> Result<ConsentRecord>;
    async fn list_consents(
        &self,
        t: TenantId,
        filter: &ConsentFilter,
        page: Page,
    ) -> Result<Paged<ConsentRecord>>;
    /// Of `subjects` (person or organisation ids), those with an active consent for `purpose`.
    async fn consented(
        &self,
        t: TenantId,
        purpose: &str,
        subjects: &[Uuid],
    ) -> Result<HashSet<Uuid>>;

    async fn record_opt_out(
        &self,
        t: TenantId,
        actor: &str,
        new: NewResearchOptOut,
    ) -> Result<ResearchOptOut>;
    async fn withdraw_opt_out(&self, t: TenantId, actor: &str, id: Uuid) -> Result<ResearchOptOut>;
    async fn list_opt_outs(
        &self,
        t: TenantId,
        filter: &OptOutFilter,
        page: Page,
    ) -> Result<Paged<ResearchOptOut>>;

    /// Creates an agreement; every researcher must be a person of the tenant.
    async fn create_agreement(
        &self,
        t: TenantId,
        actor: &str,
        new: NewResearchAgreement,
    ) -> Result<ResearchAgreement>;
    async fn revoke_agreement(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
    ) -> Result<ResearchAgreement>;
    async fn get_agreement(&self, t: TenantId, id: Uuid) -> Result<ResearchAgreement>;
    async fn list_agreements(
        &self,
        t: TenantId,
        filter: &AgreementFilter,
        page: Page,
    ) -> Result<Paged<ResearchAgreement>>;
    /// The agreement covering `person` for `scope` on `day` (the one ending
    /// last when several do), if any.
    async fn covering_agreement(
        &self,
        t: TenantId,
        person: Uuid,
        scope: DataScope,
        day: chrono::NaiveDate,
    ) -> Result<Option<ResearchAgreement>>;
    /// Logs one extract. With an agreement, it must cover the recipient for
    /// the scope on `new.on` (checked in the transaction); the recipient
    /// must be a person of the tenant.
    async fn record_disclosure(
        &self,
        t: TenantId,
        actor: &str,
        new: NewDisclosure,
    ) -> Result<Disclosure>;
    async fn list_disclosures(
        &self,
        t: TenantId,
        filter: &DisclosureFilter,
        page: Page,
    ) -> Result<Paged<Disclosure>>;

    async fn list_audit(
        &self,
        t: TenantId,
        target: Option<&str>,
        page: Page,
    ) -> Result<Paged<AuditRecord>>;

    /// Everything membership holds about one person, as one JSON document
    /// (stable field names, instants in RFC 3339): the person row, their
    /// role grants, consents about them or recorded by them, mentorships,
    /// panel memberships, research opt-outs they recorded, research
    /// agreements naming them, disclosures to them, and the audit records
    /// whose actor or target they are. Not found for another tenant's id.
    async fn export_person_data(&self, t: TenantId, person: Uuid) -> Result<serde_json::Value>;
    /// Erases a person in one transaction: the row anonymised (name
    /// "Erased person"; contact, external id and time zone cleared; inactive;
    /// `erased_at` set), active role grants revoked, consents about them
    /// withdrawn (the records are kept), open mentorships ended, cluster
    /// leads cleared. Audit records are the record and are kept, but the
    /// `before`/`after` snapshots of those targeting the person (which hold
    /// the old name and contact) are replaced with null. Rows others rely on
    /// (panel memberships, agreements, disclosures) keep the person's
    /// pseudonymous id. Writes a `person.erased` audit record (target the
    /// person; only the counts) and its event when anything changed, so
    /// erasing again reports zeros and writes nothing.
    async fn erase_person_data(
        &self,
        t: TenantId,
        actor: &str,
        person: Uuid,
    ) -> Result<ErasureCounts>;

    // Retention (see `crate::domain::retention`).

    /// The periods the tenant has set (categories left at the default are
    /// absent; `None` = kept until erased by hand).
    async fn retention_periods(&self, t: TenantId) -> Result<Vec<(Category, Option<u32>)>>;
    /// Sets one category's period (`Some(days)`, or `Some(None)` to keep
    /// the data) or resets it to the default (`None`). Validated against the
    /// category's bounds; audited `retention.period_set` with before and
    /// after, only when it changes.
    async fn set_retention_period(
        &self,
        t: TenantId,
        actor: &str,
        category: Category,
        days: Option<Option<u32>>,
    ) -> Result<()>;
    /// People inactive since before `before` (deactivated by an admin or a
    /// roster import; a person created inactive counts from creation) and
    /// not yet erased, by id.
    async fn expired_people(
        &self,
        t: TenantId,
        before: DateTime<Utc>,
        page: Page,
    ) -> Result<Paged<Uuid>>;
    /// Membership's own expiry: roster uploads, the audit log and published events (the
    /// `inactive_people` category is carried out by the retention job,
    /// which erases each person in every service). A real run is audited
    /// `retention.applied`; a dry run changes nothing.
    async fn apply_retention(
        &self,
        t: TenantId,
        actor: &str,
        cutoffs: &Cutoffs,
        dry_run: bool,
    ) -> Result<Vec<Count>>;
    /// Records a run of the retention job (audited `retention.run_recorded`).
    async fn record_retention_run(
        &self,
        t: TenantId,
        actor: &str,
        run: NewRetentionRun,
    ) -> Result<RetentionRun>;
    /// Runs, newest first.
    async fn list_retention_runs(&self, t: TenantId, page: Page) -> Result<Paged<RetentionRun>>;

    // Roster uploads (`crate::roster_api`): the state of GraphQL uploads,
    // shared by every pod.

    /// Records a new upload; audited `roster_upload.started` with `summary`
    /// (who, which files, apply or not).
    async fn start_roster_upload(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        job: Vec<u8>,
        summary: serde_json::Value,
    ) -> Result<()>;
    /// Saves an upload's progress, or its end with the report. Not audited:
    /// the import writes its own audit records for every change it makes.
    async fn save_roster_upload(
        &self,
        t: TenantId,
        id: Uuid,
        job: Vec<u8>,
        finished: bool,
    ) -> Result<()>;
    async fn get_roster_upload(&self, t: TenantId, id: Uuid) -> Result<Option<RosterUpload>>;
    /// Uploads, newest first.
    async fn list_roster_uploads(&self, t: TenantId, page: Page) -> Result<Paged<RosterUpload>>;
    /// An unfinished upload saved at or after `since` (one some pod is running).
    async fn running_roster_upload(
        &self,
        t: TenantId,
        since: DateTime<Utc>,
    ) -> Result<Option<Uuid>>;

    // Roster import (see `crate::roster`): the job runner calls these.

    /// What an import compares against: the tenant's organisations, people
    /// and active tenant-wide roles, read in one transaction. Proportional to
    /// the tenant, and meant only for the import job.
    async fn roster_snapshot(&self, t: TenantId) -> Result<RosterSnapshot>;
    /// The latest unfinished (running or failed) import job of the source
    /// with this hash, if any.
    async fn resumable_import_job(
        &self,
        t: TenantId,
        source_hash: &str,
    ) -> Result<Option<ImportJob>>;
    /// Starts an import job, or continues the unfinished job of the same
    /// source (`true`). An unfinished job of another source is superseded: a
    /// tenant has at most one running job.
    async fn start_import_job(
        &self,
        t: TenantId,
        actor: &str,
        new: NewImportJob,
    ) -> Result<(ImportJob, bool)>;
    /// Applies one batch of a running job in one transaction: organisations,
    /// then people (with their roster role), then deactivations, each change
    /// with its audit record (by `actor`, `import:<job id>`) and outbox event,
    /// and the job's progress. Rows that clash with the tenant as it is now
    /// are rejected in the outcome; anything else rolls the batch back.
    async fn apply_roster_batch(
        &self,
        t: TenantId,
        actor: &str,
        batch: &RosterBatch,
    ) -> Result<BatchOutcome>;
    /// Records how a run of a job ended.
    async fn finish_import_job(
        &self,
        t: TenantId,
        actor: &str,
        id: Uuid,
        end: JobEnd,
    ) -> Result<ImportJob>;
    async fn get_import_job(&self, t: TenantId, id: Uuid) -> Result<ImportJob>;
    async fn list_import_jobs(&self, t: TenantId, page: Page) -> Result<Paged<ImportJob>>;

    /// Publishes pending outbox events to the bus (one batch); see platform::events::relay.
    async fn relay_outbox(&self, bus: &dyn platform::events::EventBus, batch: i64)
    -> Result<usize>;
}
