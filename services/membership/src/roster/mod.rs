//! Roster import: bringing a district's or awarding body's staff into a
//! tenant from OneRoster 1.1 CSV or from the simple `collegium-people.csv`.
//!
//! The parts, in the order an import runs them:
//!
//! - [`source`]: where the files come from (a directory, or bytes in memory);
//! - [`table`]: one CSV file as a stream of rows, with size and row caps;
//! - [`oneroster`] and [`people_csv`]: the two formats, parsed into a
//!   [`ParsedRoster`] of records plus rejected rows (pure);
//! - [`plan`]: the diff of a parsed roster against what the tenant holds (a
//!   [`RosterSnapshot`]), and the writes it needs, in batches (pure);
//! - [`report`]: what an import shows (text or JSON);
//! - [`job`]: the import job that ties them together over a
//!   [`MembershipStore`](crate::MembershipStore). The CLI runs it; an upload
//!   through GraphQL is meant to run the same job.
//!
//! # Rules
//!
//! - **Dry run first.** An import always computes and shows the diff
//!   (created, updated, deactivated, unchanged and rejected rows, each with
//!   its file and row number); it writes only when asked to apply.
//! - **Who is imported.** OneRoster orgs of type `school` become schools;
//!   `district`, `local`, `state` and `national` become district offices;
//!   a `department` is not imported (its people belong to its parent org).
//!   Users with role `teacher`, `administrator` or `aide` become people.
//!   `teacher` is granted [`Role::Teacher`] tenant-wide and `administrator`
//!   [`Role::Principal`]; an aide gets no role. Students are **not**
//!   imported (Collegium keeps students pseudonymous), nor are parents,
//!   guardians, relatives and proctors: they are counted as skipped.
//!   Enrollments and academic sessions are checked but not kept.
//! - **The key.** A person's or organisation's external id is the roster's
//!   `sourcedId` (or the simple file's `external_id`). A person with an
//!   external id is *roster-managed*; one without is never touched.
//! - **Manual edits.** The fields the roster carries belong to the roster and
//!   are overwritten on every import: given and family name, e-mail (an empty
//!   one clears it), organisation (the first of `orgSourcedIds` that is
//!   imported or already in the tenant), whether the person is active
//!   (`status`, `enabledUser`), and the phone number *when the roster has
//!   one*. What the roster does not carry is kept: a phone it leaves empty,
//!   address, time zone, and every role granted by hand. The role the roster
//!   implies is granted when the person lacks it; an import never revokes a
//!   role. For organisations the roster owns the name (and the kind, when it
//!   creates one); their contact details are kept.
//! - **Never deleted.** People missing from a *bulk* users file are marked
//!   inactive, never deleted; a *delta* file touches only the rows it has,
//!   and `status` `tobedeleted` deactivates. Organisations are never
//!   deactivated or deleted by an import.
//! - **The threshold.** If applying would deactivate more than
//!   [`DEFAULT_DEACTIVATION_LIMIT_PERCENT`] % of the tenant's active
//!   roster-managed people, nothing is written unless the deactivations are
//!   confirmed (`--confirm-deactivations`).
//! - **Bad input.** Rows that cannot be imported are rejected with the
//!   reason and the rest go on; a rejected person is never deactivated for
//!   it. A file that cannot be read as a whole (missing, wrong header, too
//!   large, too many rows, a bad manifest) stops the import before anything
//!   is written.
//! - **Idempotent.** Applying the same files twice changes nothing the second
//!   time.
//! - **Batches and resuming.** Writes go in batches (500 rows by default),
//!   each one tenant transaction with its audit records (actor
//!   `import:<job id>`) and outbox events, and the job's progress. If an
//!   import stops half-way (a crash, a lost database), running it again with
//!   the same files continues the same job: the files are diffed again
//!   against what is now stored, so the committed batches show as unchanged
//!   and only the rest is written.

pub mod job;
pub mod oneroster;
pub mod people_csv;
pub mod plan;
pub mod report;
pub mod source;
pub mod table;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Contact, Organisation, OrganisationKind, Person};

/// Deactivating more than this share of active roster-managed people needs confirmation.
pub const DEFAULT_DEACTIVATION_LIMIT_PERCENT: u32 = 10;
/// Rows written per transaction.
pub const DEFAULT_BATCH_SIZE: usize = 500;

/// Caps that keep a huge or hostile file from being read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes per file.
    pub max_file_bytes: u64,
    /// Data rows per file.
    pub max_rows: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 512 << 20,
            max_rows: 1_000_000,
        }
    }
}

/// Which format the roster came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A OneRoster 1.1 CSV set (manifest.csv, orgs.csv, users.csv, …).
    Oneroster,
    /// One `collegium-people.csv`.
    PeopleCsv,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Oneroster => "oneroster",
            SourceKind::PeopleCsv => "people_csv",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [SourceKind::Oneroster, SourceKind::PeopleCsv]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// How the manifest says a file is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileMode {
    /// The whole truth: what it lacks is gone.
    Bulk,
    /// Changes only: what it lacks is as it was.
    Delta,
    /// Not part of this set.
    Absent,
}

impl FileMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bulk" => Some(FileMode::Bulk),
            "delta" => Some(FileMode::Delta),
            "absent" => Some(FileMode::Absent),
            _ => None,
        }
    }
}

/// Where a row is: its file, its row number (the header is row 1, as in a
/// spreadsheet) and the line it starts on (differs after quoted newlines).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RowRef {
    pub file: String,
    pub row: u64,
    pub line: u64,
}

/// A row that is not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub file: String,
    pub row: u64,
    pub line: u64,
    /// The row's `sourcedId` / `external_id`, when it has one.
    pub id: Option<String>,
    pub reason: String,
}

/// A file that cannot be imported at all; any one stops the whole import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    pub file: String,
    pub message: String,
}

/// `status` of a OneRoster row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    Active,
    ToBeDeleted,
}

/// An organisation the roster wants to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRecord {
    pub source: RowRef,
    pub external_id: String,
    pub name: String,
    pub kind: OrganisationKind,
}

/// A person row of the roster (validated and normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRecord {
    pub source: RowRef,
    pub external_id: String,
    pub status: RecordStatus,
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The person's organisations by external id, in the roster's order.
    pub org_refs: Vec<String>,
    /// The role the roster implies (none for aides).
    pub role: Option<Role>,
    /// `enabledUser`: false imports the person inactive.
    pub enabled: bool,
}

/// A reference to an organisation that must exist in the files or the tenant
/// (checked by the plan, which knows the tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgReference {
    pub source: RowRef,
    pub id: Option<String>,
    pub column: &'static str,
    pub org: String,
    /// How the row counts once the organisation is found (it is not kept).
    pub skip_as: &'static str,
}

/// A roster as read from its files, before it meets the tenant.
#[derive(Debug, Clone)]
pub struct ParsedRoster {
    pub kind: SourceKind,
    /// SHA-256 over the files read (names and bytes), hex; identifies the
    /// source of an import job so that a re-run can continue it.
    pub source_hash: String,
    /// Problems with whole files; any one means nothing may be written.
    pub file_errors: Vec<FileError>,
    /// Things worth knowing that stop nothing.
    pub notes: Vec<String>,
    pub orgs_mode: FileMode,
    pub users_mode: FileMode,
    /// The users file's name (for messages).
    pub users_file: String,
    pub orgs: Vec<OrgRecord>,
    pub people: Vec<PersonRecord>,
    /// Every org id in the orgs file, imported or not (departments too).
    pub listed_orgs: HashSet<String>,
    /// Org ids whose rows were rejected: people at them are rejected too.
    pub rejected_orgs: HashSet<String>,
    /// Departments and the org they belong to.
    pub org_parents: HashMap<String, String>,
    /// Every user id in the users file, whatever became of its row: a bulk
    /// file never deactivates a person whose row it has.
    pub listed_users: HashSet<String>,
    /// References to organisations outside the people rows (enrollments).
    pub org_references: Vec<OrgReference>,
    pub rejected: Vec<Rejection>,
    /// Rows not imported by design, counted by reason (`student`, …).
    pub skipped: BTreeMap<String, u64>,
}

impl ParsedRoster {
    pub fn new(kind: SourceKind, users_file: &str) -> Self {
        Self {
            kind,
            source_hash: String::new(),
            file_errors: vec![],
            notes: vec![],
            orgs_mode: FileMode::Absent,
            users_mode: FileMode::Absent,
            users_file: users_file.to_string(),
            orgs: vec![],
            people: vec![],
            listed_orgs: HashSet::new(),
            rejected_orgs: HashSet::new(),
            org_parents: HashMap::new(),
            listed_users: HashSet::new(),
            org_references: vec![],
            rejected: vec![],
            skipped: BTreeMap::new(),
        }
    }

    pub fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_string()).or_default() += 1;
    }
}

/// Hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One reason from a set of field violations: `email: "x" is not an e-mail address; …`.
pub fn reason(err: &platform::error::Error) -> String {
    match err.violations() {
        [] => err.to_string(),
        v => v
            .iter()
            .map(|f| format!("{}: {}", f.field, f.description))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

// ------------------------------------------------------------------ what the store sees

/// A roster upload (RosterService) as last saved by the pod running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterUpload {
    pub id: Uuid,
    /// The `RosterImportJob` message, protobuf-encoded (the API's own view).
    pub job: Vec<u8>,
    pub finished: bool,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// What the tenant holds that an import compares against, read in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RosterSnapshot {
    pub organisations: Vec<Organisation>,
    pub people: Vec<Person>,
    /// (person, role) of every active tenant-wide grant.
    pub tenant_roles: Vec<(Uuid, Role)>,
    /// The roster ids of people erased by a data-subject request.
    pub erased: ErasedIds,
}

/// The roster ids (external ids) of erased people, kept only as SHA-256
/// salted with the tenant id: enough to recognise the id in a later import
/// (which then rejects the row rather than re-creating the person), not to
/// read it back or to link it across tenants.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErasedIds {
    tenant: Uuid,
    hashes: HashSet<String>,
}

impl ErasedIds {
    pub fn new(tenant: Uuid, hashes: impl IntoIterator<Item = String>) -> Self {
        Self {
            tenant,
            hashes: hashes.into_iter().collect(),
        }
    }

    /// What is stored for an erased person's `external_id` in `tenant`.
    pub fn hash(tenant: Uuid, external_id: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(tenant.as_bytes());
        h.update(external_id.trim().as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn contains(&self, external_id: &str) -> bool {
        !self.hashes.is_empty() && self.hashes.contains(&Self::hash(self.tenant, external_id))
    }
}

/// An organisation to create, or to bring in line with the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgUpsert {
    pub source: RowRef,
    pub external_id: String,
    pub name: String,
    pub kind: OrganisationKind,
}

/// A person to create, or to bring in line with the roster (see the rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonUpsert {
    pub source: RowRef,
    pub external_id: String,
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
    /// `None`: keep the stored phone.
    pub phone: Option<String>,
    /// The organisation's external id.
    pub organisation: Option<String>,
    pub active: bool,
    pub role: Option<Role>,
}

/// A roster-managed person to mark inactive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deactivation {
    pub external_id: String,
    /// The `tobedeleted` row, if that is the reason.
    pub source: Option<RowRef>,
    pub reason: String,
}

/// The writes of one transaction: organisations first, then people, then
/// deactivations.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RosterBatch {
    pub job_id: Uuid,
    pub organisations: Vec<OrgUpsert>,
    pub people: Vec<PersonUpsert>,
    pub deactivations: Vec<Deactivation>,
}

impl RosterBatch {
    pub fn len(&self) -> usize {
        self.organisations.len() + self.people.len() + self.deactivations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Rows by what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub deactivated: u64,
    pub unchanged: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.created += other.created;
        self.updated += other.updated;
        self.deactivated += other.deactivated;
        self.unchanged += other.unchanged;
    }

    /// Rows written.
    pub fn changed(&self) -> u64 {
        self.created + self.updated + self.deactivated
    }
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchOutcome {
    pub organisations: Counts,
    pub people: Counts,
    pub roles_granted: u64,
    /// Rows the store refused (a clash that appeared after the plan).
    pub rejected: Vec<Rejection>,
}

impl BatchOutcome {
    pub fn add(&mut self, other: BatchOutcome) {
        self.organisations.add(&other.organisations);
        self.people.add(&other.people);
        self.roles_granted += other.roles_granted;
        self.rejected.extend(other.rejected);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Writing, or stopped half-way: a re-run with the same files continues it.
    Running,
    Completed,
    /// Stopped by an error; a re-run with the same files continues it.
    Failed,
    /// Left unfinished, then replaced by an import of other files.
    Superseded,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            JobStatus::Running,
            JobStatus::Completed,
            JobStatus::Failed,
            JobStatus::Superseded,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// An applied (or applying) import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportJob {
    pub id: Uuid,
    pub source_kind: SourceKind,
    pub source_hash: String,
    pub status: JobStatus,
    pub deactivations_confirmed: bool,
    /// Batches committed, over every run of the job.
    pub batches_done: u64,
    /// Rows written by those batches.
    pub created: u64,
    pub updated: u64,
    pub deactivated: u64,
    /// Of the last run's plan.
    pub unchanged: u64,
    pub rejected: u64,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImportJob {
    pub source_kind: SourceKind,
    pub source_hash: String,
    pub deactivations_confirmed: bool,
}

/// How a run of a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEnd {
    /// `Completed` or `Failed`.
    pub status: JobStatus,
    pub unchanged: u64,
    pub rejected: u64,
    pub error: Option<String>,
}

// ------------------------------------------------------------------ the manual-edit rule

/// A person after the roster's fields are applied to `before` (the rule in
/// the module doc); `organisation_id` is the roster's organisation, resolved.
pub fn merge_person(before: &Person, up: &PersonUpsert, organisation_id: Option<Uuid>) -> Person {
    Person {
        given_name: up.given_name.clone(),
        family_name: up.family_name.clone(),
        contact: Contact {
            email: up.email.clone(),
            phone: up.phone.clone().or_else(|| before.contact.phone.clone()),
            address: before.contact.address.clone(),
        },
        organisation_id,
        active: up.active,
        ..before.clone()
    }
}

/// The roster-owned fields that differ between two versions of a person.
pub fn changed_fields(before: &Person, after: &Person) -> Vec<&'static str> {
    let mut fields = vec![];
    if before.given_name != after.given_name {
        fields.push("given_name");
    }
    if before.family_name != after.family_name {
        fields.push("family_name");
    }
    if before.contact.email != after.contact.email {
        fields.push("email");
    }
    if before.contact.phone != after.contact.phone {
        fields.push("phone");
    }
    if before.organisation_id != after.organisation_id {
        fields.push("organisation");
    }
    if before.active != after.active {
        fields.push("active");
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Person {
        Person {
            id: Uuid::now_v7(),
            given_name: "Ana".into(),
            family_name: "Lima".into(),
            contact: Contact {
                email: Some("ana@old.example".into()),
                phone: Some("+1 555 0100".into()),
                address: Some("1 Hill Road".into()),
            },
            organisation_id: None,
            external_id: Some("t-1".into()),
            time_zone: Some("America/Chicago".into()),
            active: true,
            created_at: Utc::now(),
        }
    }

    fn upsert() -> PersonUpsert {
        PersonUpsert {
            source: RowRef {
                file: "users.csv".into(),
                row: 2,
                line: 2,
            },
            external_id: "t-1".into(),
            given_name: "Ana".into(),
            family_name: "Lima-Costa".into(),
            email: None,
            phone: None,
            organisation: None,
            active: true,
            role: Some(Role::Teacher),
        }
    }

    #[test]
    fn the_roster_owns_its_fields_and_keeps_the_rest() {
        let before = person();
        let org = Uuid::now_v7();
        let after = merge_person(&before, &upsert(), Some(org));
        assert_eq!(after.family_name, "Lima-Costa");
        assert_eq!(after.contact.email, None, "an empty e-mail clears it");
        assert_eq!(after.contact.phone, before.contact.phone, "no phone: kept");
        assert_eq!(after.contact.address, before.contact.address);
        assert_eq!(after.time_zone, before.time_zone);
        assert_eq!((after.id, after.created_at), (before.id, before.created_at));
        assert_eq!(
            changed_fields(&before, &after),
            ["family_name", "email", "organisation"]
        );
        let phoned = merge_person(
            &before,
            &PersonUpsert {
                phone: Some("+1 555 0199".into()),
                ..upsert()
            },
            Some(org),
        );
        assert_eq!(phoned.contact.phone.as_deref(), Some("+1 555 0199"));
        assert_eq!(changed_fields(&after, &after), Vec::<&str>::new());
    }
}
