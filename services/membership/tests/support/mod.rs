//! Fixtures shared by the membership test binaries: a store on each backend
//! (a fresh PostgreSQL database used as the non-owner app role, or a fresh
//! SQLite file), builders of valid inputs, one tenant seeded with a row in
//! every table, assertions on error kinds, and a time limit for every test.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::{fmt::Debug, future::Future, path::PathBuf, time::Duration};

use collegium_membership::{
    MembershipStore, POSTGRES_MIGRATIONS, SCHEMA,
    domain::*,
    roster::{ImportJob, NewImportJob, SourceKind},
    store::{postgres, sqlite},
};
use platform::{
    auth::{Role, TenantId},
    error::{Error, Result},
    page::{MAX_PAGE_SIZE, Page},
};
use testkit::TestDatabase;
use uuid::Uuid;

/// The actor written into audit records by the store-level tests.
pub const ACTOR: &str = "0190f000-0000-7000-8000-00000000ad01";

/// No test may run longer than this (a hung query or call fails the test).
pub const TEST_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Runs a test body under [`TEST_TIME_LIMIT`].
pub async fn bounded<F: Future>(body: F) -> F::Output {
    tokio::time::timeout(TEST_TIME_LIMIT, body)
        .await
        .expect("the test did not finish within its time limit")
}

/// A fresh database migrated as the owner, and the store connected to it as
/// `membership_app` (the role production uses, subject to row-level security).
pub async fn postgres_store() -> (TestDatabase, postgres::Store) {
    testkit::init_tracing();
    let db = TestDatabase::migrated(SCHEMA, &POSTGRES_MIGRATIONS)
        .await
        .expect("a fresh database migrates");
    let store = collegium_membership::open_postgres(&db.app_url(SCHEMA), 4)
        .await
        .expect("the app role connects");
    (db, store)
}

/// A SQLite file of one test, deleted (with its WAL files) when dropped.
pub struct SqliteFile(PathBuf);

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A fresh SQLite store in its own file, opened the way `collegium dev` opens it.
pub async fn sqlite_store() -> (SqliteFile, sqlite::Store) {
    testkit::init_tracing();
    let path = std::env::temp_dir().join(format!("{}.sqlite", testkit::unique("membership")));
    let file = SqliteFile(path.clone());
    let store = collegium_membership::open_sqlite(&path)
        .await
        .expect("a fresh SQLite file opens and migrates");
    (file, store)
}

// ------------------------------------------------------------------ inputs

pub fn new_tenant(slug: &str) -> NewTenant {
    NewTenant {
        slug: slug.to_string(),
        name: format!("Tenant {slug}"),
        kind: TenantKind::District,
        settings: TenantSettings::default(),
    }
}

pub fn new_org(name: &str, external_id: Option<&str>) -> NewOrganisation {
    NewOrganisation {
        name: name.to_string(),
        kind: OrganisationKind::School,
        external_id: external_id.map(str::to_string),
        contact: Contact::default(),
    }
}

pub fn new_person(
    given: &str,
    family: &str,
    email: Option<&str>,
    organisation: Option<Uuid>,
) -> NewPerson {
    NewPerson {
        given_name: given.to_string(),
        family_name: family.to_string(),
        contact: Contact {
            email: email.map(str::to_string),
            ..Contact::default()
        },
        organisation_id: organisation,
        external_id: None,
        time_zone: None,
    }
}

pub fn new_cluster(name: &str, lead: Option<Uuid>, centres: &[Uuid]) -> NewCluster {
    NewCluster {
        name: name.to_string(),
        description: format!("{name}: teachers of neighbouring schools"),
        lead_person_id: lead,
        centre_ids: centres.to_vec(),
    }
}

pub fn date(ymd: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(ymd, "%Y-%m-%d").expect("a test date")
}

/// Creates a tenant and returns its id.
pub async fn tenant(store: &dyn MembershipStore, slug: &str) -> TenantId {
    store
        .create_tenant(new_tenant(slug))
        .await
        .expect("tenant created")
        .id
}

pub async fn org(store: &dyn MembershipStore, t: TenantId, name: &str) -> Organisation {
    store
        .create_organisation(t, ACTOR, new_org(name, None))
        .await
        .expect("organisation created")
}

pub async fn person(
    store: &dyn MembershipStore,
    t: TenantId,
    given: &str,
    organisation: Option<Uuid>,
) -> Person {
    store
        .create_person(t, ACTOR, new_person(given, "Tester", None, organisation))
        .await
        .expect("person created")
}

// ------------------------------------------------------------------ a tenant with a row in every table

/// One tenant with at least one row in every table of the schema.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub tenant: Tenant,
    pub organisation: Organisation,
    /// Works at `organisation` and leads `cluster`.
    pub lead: Person,
    /// Works at `organisation`; the lead mentors them.
    pub new_teacher: Person,
    pub cluster: Cluster,
    pub grant: RoleGrant,
    pub mentorship: Mentorship,
    pub panel: Panel,
    pub consent: ConsentRecord,
    pub opt_out: ResearchOptOut,
    /// A roster import job, started and not applied.
    pub import_job: ImportJob,
    /// A research agreement naming `new_teacher` for scores, from 60 days
    /// before today to 300 days after.
    pub agreement: ResearchAgreement,
    /// An extract given to `new_teacher` under `agreement`.
    pub disclosure: Disclosure,
    /// A dry run of the retention job (the tenant also keeps its audit log
    /// for 400 days: a row in `retention_periods`).
    pub retention_run: RetentionRun,
}

impl Seeded {
    pub fn id(&self) -> TenantId {
        self.tenant.id
    }

    /// The ids of every row created here (as audit targets).
    pub fn target_ids(&self) -> Vec<String> {
        [
            self.tenant.id.0,
            self.organisation.id,
            self.lead.id,
            self.new_teacher.id,
            self.cluster.id,
            self.grant.id,
            self.mentorship.id,
            self.panel.id,
            self.consent.id,
            self.opt_out.id,
            self.import_job.id,
            self.agreement.id,
            self.disclosure.id,
            self.retention_run.id,
        ]
        .iter()
        .map(Uuid::to_string)
        .collect()
    }
}

/// Creates tenant `slug` through the store, with a row in every table
/// (audit_log and outbox are written by every mutation).
pub async fn seed_tenant(store: &dyn MembershipStore, slug: &str) -> Seeded {
    let tenant = store
        .create_tenant(new_tenant(slug))
        .await
        .expect("tenant created");
    let t = tenant.id;
    let organisation = store
        .create_organisation(
            t,
            ACTOR,
            NewOrganisation {
                name: format!("{slug} High School"),
                kind: OrganisationKind::Centre,
                external_id: Some("C-1".into()),
                contact: Contact {
                    email: Some(format!("office@{slug}.example.org")),
                    phone: Some("+1 555 0100 200".into()),
                    address: Some("1 School Lane".into()),
                },
            },
        )
        .await
        .expect("organisation created");
    let lead = store
        .create_person(
            t,
            ACTOR,
            new_person(
                "Lena",
                "Lead",
                Some(&format!("lena@{slug}.example.org")),
                Some(organisation.id),
            ),
        )
        .await
        .expect("lead created");
    let new_teacher = store
        .create_person(
            t,
            ACTOR,
            new_person(
                "Nico",
                "New",
                Some(&format!("nico@{slug}.example.org")),
                Some(organisation.id),
            ),
        )
        .await
        .expect("new teacher created");
    let cluster = store
        .create_cluster(
            t,
            ACTOR,
            new_cluster(
                &format!("{slug} cluster"),
                Some(lead.id),
                &[organisation.id],
            ),
        )
        .await
        .expect("cluster created");
    let grant = store
        .grant_role(t, ACTOR, lead.id, Role::ClusterLead, Some(cluster.id))
        .await
        .expect("role granted");
    let mentorship = store
        .create_mentorship(
            t,
            ACTOR,
            NewMentorship {
                mentor_id: lead.id,
                new_teacher_id: new_teacher.id,
                starts_on: date("2026-09-01"),
                planned_end_on: date("2028-09-01"),
            },
        )
        .await
        .expect("mentorship created");
    let panel = store
        .create_panel(t, ACTOR, &format!("{slug} family panel"), "Homework policy")
        .await
        .expect("panel created");
    let panel = store
        .set_panel_member(
            t,
            ACTOR,
            panel.id,
            new_teacher.id,
            Some(Constituency::Family),
        )
        .await
        .expect("panel member added");
    let consent = store
        .record_consent(
            t,
            NewConsent {
                subject: ConsentSubject::Person(lead.id),
                purpose: SHARE_CONTACT_PURPOSE.into(),
                purpose_version: 1,
                recorded_by: lead.id.to_string(),
                by_proxy: false,
                remark: String::new(),
            },
        )
        .await
        .expect("consent recorded");
    let opt_out = store
        .record_opt_out(
            t,
            ACTOR,
            NewResearchOptOut {
                student_ref: format!("{slug}-S-1"),
                organisation_id: organisation.id,
                recorded_for: "Parent of S-1".into(),
            },
        )
        .await
        .expect("opt-out recorded");
    let (import_job, _) = store
        .start_import_job(
            t,
            ACTOR,
            NewImportJob {
                source_kind: SourceKind::PeopleCsv,
                source_hash: format!("{slug}-roster"),
                deactivations_confirmed: false,
            },
        )
        .await
        .expect("import job started");
    // Around today, so the seeded agreement covers whenever the tests run.
    let today = chrono::Utc::now().date_naive();
    let agreement = store
        .create_agreement(
            t,
            ACTOR,
            NewResearchAgreement {
                starts_on: today - chrono::Days::new(60),
                ends_on: today + chrono::Days::new(300),
                destroy_by: today + chrono::Days::new(700),
                ..new_agreement(&[new_teacher.id])
            },
        )
        .await
        .expect("research agreement created");
    let disclosure = store
        .record_disclosure(
            t,
            ACTOR,
            new_disclosure(Some(agreement.id), new_teacher.id, today),
        )
        .await
        .expect("disclosure recorded");
    store
        .set_retention_period(
            t,
            ACTOR,
            platform::retention::Category::AuditLog,
            Some(Some(400)),
        )
        .await
        .expect("retention period set");
    let retention_run = store
        .record_retention_run(
            t,
            ACTOR,
            NewRetentionRun {
                dry_run: true,
                started_at: chrono::Utc::now(),
                cutoffs: [("audit_log".to_string(), "2025-01-01T00:00:00Z".to_string())].into(),
                reports: vec![],
                error: None,
            },
        )
        .await
        .expect("retention run recorded");
    store
        .start_roster_upload(
            t,
            ACTOR,
            Uuid::now_v7(),
            b"a roster upload".to_vec(),
            serde_json::json!({ "files": ["users.csv"] }),
        )
        .await
        .expect("roster upload recorded");
    Seeded {
        tenant,
        organisation,
        lead,
        new_teacher,
        cluster,
        grant,
        mentorship,
        panel,
        consent,
        opt_out,
        import_job,
        agreement,
        disclosure,
        retention_run,
    }
}

/// An agreement for scores from 2026-09-01 to 2027-08-31, destroyed by 2028-08-31.
pub fn new_agreement(researchers: &[Uuid]) -> NewResearchAgreement {
    NewResearchAgreement {
        title: "Scoring reliability study".into(),
        purpose: "How often do two readers agree?".into(),
        data_scope: [DataScope::Scores].into(),
        researcher_ids: researchers.to_vec(),
        starts_on: date("2026-09-01"),
        ends_on: date("2027-08-31"),
        destroy_by: date("2028-08-31"),
    }
}

/// A scores extract of 7 rows (1 excluded) given to `recipient` on `on`.
pub fn new_disclosure(
    agreement: Option<Uuid>,
    recipient: Uuid,
    on: chrono::NaiveDate,
) -> NewDisclosure {
    NewDisclosure {
        agreement_id: agreement,
        recipient_id: recipient,
        scope: DataScope::Scores,
        dataset: "scores, academic year 2026".into(),
        rows: 7,
        excluded: 1,
        on,
    }
}

// ------------------------------------------------------------------ reading whole lists

/// Every page of a list, in order.
pub async fn all_pages<T, F, Fut>(mut list: F) -> Vec<T>
where
    F: FnMut(Page) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String)>>,
{
    let mut all = Vec::new();
    let mut page = Page::first(MAX_PAGE_SIZE);
    loop {
        let (items, next) = list(page).await.expect("list call succeeds");
        all.extend(items);
        if next.is_empty() {
            return all;
        }
        page = Page::new(MAX_PAGE_SIZE, &next).expect("the token of the previous page");
    }
}

pub async fn all_audit(store: &dyn MembershipStore, t: TenantId) -> Vec<AuditRecord> {
    all_pages(|page| store.list_audit(t, None, page)).await
}

pub async fn all_grants(store: &dyn MembershipStore, t: TenantId) -> Vec<RoleGrant> {
    let filter = RoleGrantFilter {
        include_revoked: true,
        ..RoleGrantFilter::default()
    };
    all_pages(|page| store.list_role_grants(t, &filter, page)).await
}

pub async fn all_people(store: &dyn MembershipStore, t: TenantId) -> Vec<Person> {
    let filter = PersonFilter::default();
    all_pages(|page| store.list_people(t, &filter, page)).await
}

/// Sorted ids, for comparing lists without caring how ids compare with creation order.
pub fn sorted(ids: impl IntoIterator<Item = Uuid>) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = ids.into_iter().collect();
    ids.sort();
    ids
}

// ------------------------------------------------------------------ error kinds

#[track_caller]
pub fn expect_not_found<T: Debug>(result: Result<T>) {
    match result {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// Bad input naming exactly `fields`, in order.
#[track_caller]
pub fn expect_invalid<T: Debug>(result: Result<T>, fields: &[&str]) {
    match result {
        Err(Error::InvalidInput(violations)) => {
            let named: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
            assert_eq!(named, fields, "fields named by {violations:?}");
        }
        other => panic!("expected InvalidInput naming {fields:?}, got {other:?}"),
    }
}

/// A conflict whose message names `field`.
#[track_caller]
pub fn expect_conflict<T: Debug>(result: Result<T>, field: &str) {
    match result {
        Err(Error::Conflict(message)) => assert!(
            message.starts_with(&format!("{field}: ")),
            "the conflict should name {field}: {message:?}"
        ),
        other => panic!("expected a Conflict naming {field}, got {other:?}"),
    }
}

#[track_caller]
pub fn expect_failed_precondition<T: Debug>(result: Result<T>) {
    match result {
        Err(Error::FailedPrecondition(_)) => {}
        other => panic!("expected FailedPrecondition, got {other:?}"),
    }
}
