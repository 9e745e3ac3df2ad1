//! Roster import end to end through the store, on both backends: the
//! `roster!` macro turns each check into a `postgres::<name>` and a
//! `sqlite::<name>` test, each on a fresh database. Then the parser over the
//! corpus of nasty files in `tests/roster_corpus/` (no database): every file,
//! in every role, gives a report and never a panic, with the rejections
//! each file is there for.

mod support;

use std::{
    collections::BTreeMap,
    io::{self, Read},
    path::{Path, PathBuf},
};

use collegium_membership::{
    MembershipStore,
    domain::*,
    roster::{
        FileMode, ImportJob, JobEnd, JobStatus, Limits, NewImportJob, ParsedRoster, RosterSnapshot,
        SourceKind,
        job::{self, ImportOptions, Silent},
        oneroster, people_csv,
        plan::{self, Change},
        report::{ImportReport, Outcome},
        source::{Directory, InMemory, RosterFile, RosterFiles},
    },
};
use platform::{auth::Role, page::Page};
use support::*;

macro_rules! roster {
    ($($name:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_db, store) = super::postgres_store().await;
                    super::bounded(super::$name(&store)).await;
                }
            )+
        }

        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_file, store) = super::sqlite_store().await;
                    super::bounded(super::$name(&store)).await;
                }
            )+
        }
    };
}

roster!(
    a_dry_run_writes_nothing,
    apply_creates_and_a_second_apply_changes_nothing,
    a_bulk_file_deactivates_the_missing_and_the_threshold_stops_a_mass_deactivation,
    delta_tobedeleted_deactivates_only_that_person,
    rejected_rows_are_reported_with_row_numbers_and_the_rest_applied,
    manual_edits_follow_the_documented_rule,
    an_interrupted_job_continues_where_it_stopped,
    importing_into_one_tenant_never_touches_another,
    the_people_csv_imports_like_oneroster,
    a_file_that_cannot_be_read_writes_nothing,
    an_erased_person_is_not_brought_back_by_the_next_import,
);

// ------------------------------------------------------------------ roster files

const USERS_HEADER: &str = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,\
    username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,\
    grades,password\n";

fn teacher(i: usize) -> String {
    format!(
        "t{i},,,true,s{},teacher,,,Tess{i},Tester,,,T{i}@Lakeside.example,,,,,\n",
        1 + i % 2
    )
}

fn staff() -> String {
    "a1,,,true,d1,administrator,,,Cy,Diaz,,,cy.diaz@lakeside.example,,,,,\n\
     x1,,,true,s2,aide,,,Di,Eze,,,,,,,,\n\
     st1,,,true,s1,student,,,Sam,Pupil,,,,,,,03,\n\
     st2,,,true,s2,student,,,Sue,Pupil,,,,,,,04,\n"
        .to_string()
}

/// A OneRoster set: three orgs (bulk) and `users` rows in a `mode` users file.
fn set(mode: &str, users: &str) -> InMemory {
    InMemory::default()
        .with(
            oneroster::MANIFEST,
            format!(
                "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n\
                 file.orgs,bulk\nfile.users,{mode}\nfile.enrollments,absent\n\
                 file.academicSessions,absent\n"
            ),
        )
        .with(
            oneroster::ORGS,
            "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n\
             d1,,,Lakeside District,district,,\n\
             s1,,,Hill Elementary,school,,d1\n\
             s2,,,Vale Middle,school,,d1\n",
        )
        .with(oneroster::USERS, format!("{USERS_HEADER}{users}"))
}

/// Teachers `t<i>` for `teachers`, an administrator, an aide and two students, in a bulk file.
fn staff_set(teachers: std::ops::Range<usize>) -> InMemory {
    let users: String = teachers.map(teacher).collect::<String>() + &staff();
    set("bulk", &users)
}

fn parse(files: &InMemory) -> ParsedRoster {
    oneroster::parse(files, &Limits::default())
}

fn options(apply: bool, confirm: bool) -> ImportOptions {
    ImportOptions {
        apply,
        confirm_deactivations: confirm,
        // Small batches, so that every import here spans several.
        batch_size: 7,
        actor: ACTOR.into(),
        ..ImportOptions::default()
    }
}

async fn import(
    store: &dyn MembershipStore,
    tenant: &Tenant,
    roster: &ParsedRoster,
    apply: bool,
    confirm: bool,
) -> ImportReport {
    job::run(store, tenant, roster, &options(apply, confirm), &Silent)
        .await
        .expect("the import runs")
}

/// Everything an import could change in a tenant.
async fn state(
    store: &dyn MembershipStore,
    t: platform::auth::TenantId,
) -> (RosterSnapshot, Vec<AuditRecord>, Vec<ImportJob>) {
    (
        store.roster_snapshot(t).await.unwrap(),
        all_audit(store, t).await,
        all_pages(|page| store.list_import_jobs(t, page)).await,
    )
}

fn by_ext<'a>(snapshot: &'a RosterSnapshot, ext: &str) -> &'a Person {
    snapshot
        .people
        .iter()
        .find(|p| p.external_id.as_deref() == Some(ext))
        .unwrap_or_else(|| panic!("{ext} is in the tenant"))
}

fn org_by_ext<'a>(snapshot: &'a RosterSnapshot, ext: &str) -> &'a Organisation {
    snapshot
        .organisations
        .iter()
        .find(|o| o.external_id.as_deref() == Some(ext))
        .unwrap_or_else(|| panic!("{ext} is in the tenant"))
}

fn active_ext(snapshot: &RosterSnapshot) -> Vec<String> {
    let mut v: Vec<String> = snapshot
        .people
        .iter()
        .filter(|p| p.active)
        .filter_map(|p| p.external_id.clone())
        .collect();
    v.sort();
    v
}

fn changes(report: &ImportReport) -> (u64, u64, u64, u64) {
    let p = report.counts.people;
    (p.created, p.updated, p.deactivated, p.unchanged)
}

fn rejections(report: &ImportReport) -> Vec<(String, u64, String)> {
    report
        .rejected
        .iter()
        .map(|r| (r.file.clone(), r.row, r.reason.clone()))
        .collect()
}

// ------------------------------------------------------------------ checks on both backends

async fn a_dry_run_writes_nothing(store: &dyn MembershipStore) {
    let tenant = store.create_tenant(new_tenant("lakeside")).await.unwrap();
    let before = state(store, tenant.id).await;
    let report = import(store, &tenant, &parse(&staff_set(0..5)), false, false).await;
    assert_eq!(report.outcome, Outcome::DryRun);
    assert_eq!(report.counts.organisations.created, 3);
    assert_eq!(changes(&report), (7, 0, 0, 0));
    assert_eq!(
        report.counts.roles_granted, 6,
        "five teachers and a principal"
    );
    assert_eq!(report.skipped.get("student"), Some(&2));
    assert!(report.job.is_none());
    assert_eq!(
        report.message.as_deref(),
        Some("Nothing was written. Add --apply to write these changes.")
    );
    assert_eq!(state(store, tenant.id).await, before, "nothing was written");
}

async fn apply_creates_and_a_second_apply_changes_nothing(store: &dyn MembershipStore) {
    let tenant = store.create_tenant(new_tenant("lakeside")).await.unwrap();
    let t = tenant.id;
    let roster = parse(&staff_set(0..5));
    let report = import(store, &tenant, &roster, true, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.message);
    assert_eq!(report.counts.organisations.created, 3);
    assert_eq!(changes(&report), (7, 0, 0, 0));
    assert_eq!(report.counts.roles_granted, 6);
    let summary = report.job.clone().expect("a job");
    assert_eq!(
        (summary.resumed, summary.status),
        (false, JobStatus::Completed)
    );
    assert_eq!((summary.batches_written, summary.batches), (2, 2));

    let snapshot = store.roster_snapshot(t).await.unwrap();
    let t0 = by_ext(&snapshot, "t0");
    assert_eq!(
        (t0.given_name.as_str(), t0.family_name.as_str()),
        ("Tess0", "Tester")
    );
    assert_eq!(t0.contact.email.as_deref(), Some("t0@lakeside.example"));
    assert_eq!(t0.organisation_id, Some(org_by_ext(&snapshot, "s1").id));
    assert_eq!(
        by_ext(&snapshot, "a1").organisation_id,
        Some(org_by_ext(&snapshot, "d1").id)
    );
    assert_eq!(
        org_by_ext(&snapshot, "d1").kind,
        OrganisationKind::DistrictOffice
    );
    assert_eq!(org_by_ext(&snapshot, "s2").kind, OrganisationKind::School);
    assert!(snapshot.people.iter().all(|p| p.active));
    assert_eq!(snapshot.people.len(), 7, "students are not people");
    let mut roles: Vec<(String, Role)> = snapshot
        .tenant_roles
        .iter()
        .map(|(id, r)| {
            let p = snapshot.people.iter().find(|p| p.id == *id).unwrap();
            (p.external_id.clone().unwrap(), *r)
        })
        .collect();
    roles.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        roles,
        [
            ("a1".to_string(), Role::Principal),
            ("t0".to_string(), Role::Teacher),
            ("t1".to_string(), Role::Teacher),
            ("t2".to_string(), Role::Teacher),
            ("t3".to_string(), Role::Teacher),
            ("t4".to_string(), Role::Teacher),
        ]
    );

    // Every change is audited as the job's.
    let actor = format!("import:{}", summary.id);
    let audit = all_audit(store, t).await;
    let by_import: Vec<&str> = audit
        .iter()
        .filter(|a| a.actor == actor)
        .map(|a| a.action.as_str())
        .collect();
    assert_eq!(
        by_import.iter().filter(|a| **a == "person.created").count(),
        7
    );
    assert_eq!(
        by_import
            .iter()
            .filter(|a| **a == "organisation.created")
            .count(),
        3
    );
    assert_eq!(
        by_import.iter().filter(|a| **a == "role.granted").count(),
        6
    );
    // Each person.created record holds the person exactly as stored, and
    // each is followed by that person's grant (the bulk path builds both in
    // memory and writes them together).
    let people = all_people(store, t).await;
    let created: Vec<&AuditRecord> = audit
        .iter()
        .filter(|a| a.actor == actor && a.action == "person.created")
        .collect();
    for record in &created {
        let stored = people
            .iter()
            .find(|p| p.id.to_string() == record.target_id)
            .expect("the audited person is stored");
        assert_eq!(
            record.after.as_ref(),
            Some(&serde_json::to_value(stored).unwrap()),
            "audit and row agree"
        );
    }
    let grants = all_grants(store, t).await;
    for pair in audit
        .iter()
        .filter(|a| a.actor == actor && a.action != "organisation.created")
        .collect::<Vec<_>>()
        .windows(2)
    {
        if pair[1].action == "role.granted" {
            let grant = grants
                .iter()
                .find(|g| g.id.to_string() == pair[1].target_id)
                .expect("the audited grant is stored");
            assert_eq!(
                pair[1].after.as_ref(),
                Some(&serde_json::to_value(grant).unwrap())
            );
            assert_eq!(pair[0].action, "person.created");
            assert_eq!(pair[0].target_id, grant.person_id.to_string());
        }
    }
    let job = store.get_import_job(t, summary.id).await.unwrap();
    assert_eq!(
        (
            job.status,
            job.batches_done,
            job.created,
            job.updated,
            job.deactivated
        ),
        (JobStatus::Completed, 2, 10, 0, 0)
    );
    assert_eq!(job.source_hash, roster.source_hash);
    assert_eq!(job.started_by, ACTOR);

    // The same files again: nothing changes.
    let before = store.roster_snapshot(t).await.unwrap();
    let audit_before = audit.len();
    let again = import(store, &tenant, &roster, true, false).await;
    assert_eq!(again.outcome, Outcome::Applied);
    assert_eq!(changes(&again), (0, 0, 0, 7));
    assert_eq!(again.counts.organisations.unchanged, 3);
    assert_eq!(again.counts.organisations.changed(), 0);
    assert_eq!(again.counts.roles_granted, 0);
    assert_eq!(store.roster_snapshot(t).await.unwrap(), before);
    let new_audit: Vec<String> = all_audit(store, t).await[audit_before..]
        .iter()
        .map(|a| a.action.clone())
        .collect();
    assert_eq!(new_audit, ["import_job.started", "import_job.completed"]);
    let dry = import(store, &tenant, &roster, false, false).await;
    assert_eq!(
        dry.message.as_deref(),
        Some("Nothing was written, and nothing needs to be.")
    );
}

async fn a_bulk_file_deactivates_the_missing_and_the_threshold_stops_a_mass_deactivation(
    store: &dyn MembershipStore,
) {
    let tenant = store.create_tenant(new_tenant("lakeside")).await.unwrap();
    let t = tenant.id;
    import(store, &tenant, &parse(&staff_set(0..20)), true, false).await;

    // Two of 22 (9%) missing: deactivated, not deleted.
    let report = import(store, &tenant, &parse(&staff_set(0..18)), true, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.message);
    assert_eq!(changes(&report), (0, 0, 2, 20));
    let deactivated: Vec<(&str, Option<&str>)> = report
        .rows
        .iter()
        .filter(|r| r.change == Change::Deactivated)
        .map(|r| (r.external_id.as_str(), r.note.as_deref()))
        .collect();
    assert_eq!(
        deactivated,
        [
            ("t18", Some("not in the bulk users.csv")),
            ("t19", Some("not in the bulk users.csv"))
        ]
    );
    let snapshot = store.roster_snapshot(t).await.unwrap();
    assert_eq!(snapshot.people.len(), 22, "never deleted");
    assert!(!by_ext(&snapshot, "t18").active && !by_ext(&snapshot, "t19").active);

    // Eight of the 20 still active (40%): stopped, nothing written.
    let before = state(store, t).await;
    let mass = parse(&staff_set(0..10));
    let stopped = import(store, &tenant, &mass, true, false).await;
    assert_eq!(stopped.outcome, Outcome::Stopped);
    let check = stopped.deactivation_check.unwrap();
    assert_eq!(
        (check.deactivating, check.active_managed, check.exceeded),
        (8, 20, true)
    );
    assert!(
        stopped
            .message
            .as_deref()
            .unwrap()
            .contains("run it again with --confirm-deactivations"),
        "{:?}",
        stopped.message
    );
    assert_eq!(state(store, t).await, before, "nothing was written");

    // Confirmed: done.
    let confirmed = import(store, &tenant, &mass, true, true).await;
    assert_eq!(confirmed.outcome, Outcome::Applied);
    assert_eq!(changes(&confirmed), (0, 0, 8, 12));
    let snapshot = store.roster_snapshot(t).await.unwrap();
    assert_eq!(snapshot.people.len(), 22);
    assert_eq!(active_ext(&snapshot).len(), 12);

    // People who come back are active again.
    let back = import(store, &tenant, &parse(&staff_set(0..20)), true, false).await;
    assert_eq!(changes(&back), (0, 10, 0, 12));
    assert!(
        back.rows
            .iter()
            .filter(|r| r.change == Change::Updated)
            .all(|r| r.fields == ["active"])
    );
    assert_eq!(
        active_ext(&store.roster_snapshot(t).await.unwrap()).len(),
        22
    );
}

async fn delta_tobedeleted_deactivates_only_that_person(store: &dyn MembershipStore) {
    let tenant = store.create_tenant(new_tenant("lakeside")).await.unwrap();
    let t = tenant.id;
    // Twelve people: one deactivation (8%) is within the threshold.
    import(store, &tenant, &parse(&staff_set(0..10)), true, false).await;
    let delta = set(
        "delta",
        &format!(
            "t1,tobedeleted,2026-11-20T10:00:00Z,,,,,,,,,,,,,,,\n\
             t2,active,2026-11-20T10:00:00Z,true,s2,teacher,,,Tessa,Tester,,,t2@lakeside.example,,,,,\n\
             {}ghost,tobedeleted,,,,,,,,,,,,,,,,\n",
            teacher(19)
        ),
    );
    let report = import(store, &tenant, &parse(&delta), true, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.message);
    assert_eq!(changes(&report), (1, 1, 1, 0));
    assert_eq!(
        report.skipped.get("tobedeleted (not in Collegium)"),
        Some(&1)
    );
    let snapshot = store.roster_snapshot(t).await.unwrap();
    let active = active_ext(&snapshot);
    assert_eq!(
        active.len(),
        12,
        "a delta touches only its rows: {active:?}"
    );
    assert!(active.contains(&"t19".to_string()) && active.contains(&"t0".to_string()));
    assert!(!by_ext(&snapshot, "t1").active);
    assert_eq!(by_ext(&snapshot, "t2").given_name, "Tessa");
    let again = import(store, &tenant, &parse(&delta), true, false).await;
    assert_eq!(changes(&again), (0, 0, 0, 3));
}

async fn rejected_rows_are_reported_with_row_numbers_and_the_rest_applied(
    store: &dyn MembershipStore,
) {
    let tenant = store.create_tenant(new_tenant("lakeside")).await.unwrap();
    let t = tenant.id;
    // Someone entered by hand already has t3's address.
    let manual = store
        .create_person(
            t,
            ACTOR,
            new_person("Hand", "Made", Some("t3@lakeside.example"), None),
        )
        .await
        .unwrap();
    let users = format!(
        "{}t1,,,true,s1,teacher,,,Tess1,Tester,,,t1@,,,,,\n\
         t2,,,true,s404,teacher,,,Tess2,Tester,,,t2@lakeside.example,,,,,\n\
         t0,,,true,s2,teacher,,,Tess0,Again,,,t0b@lakeside.example,,,,,\n\
         {}{}",
        teacher(0),
        teacher(3),
        teacher(4)
    );
    let report = import(store, &tenant, &parse(&set("bulk", &users)), true, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.message);
    let users_csv = oneroster::USERS.to_string();
    assert_eq!(
        rejections(&report),
        [
            (
                users_csv.clone(),
                3,
                "email: \"t1@\" is not an e-mail address".into()
            ),
            (
                users_csv.clone(),
                4,
                "orgSourcedIds: organisation \"s404\" is neither in orgs.csv nor in this tenant"
                    .into()
            ),
            (
                users_csv.clone(),
                5,
                "duplicate sourcedId (first on row 2)".into()
            ),
            (
                users_csv,
                6,
                "email: another person in this tenant has this e-mail address".into()
            ),
        ]
    );
    assert_eq!(report.rejected[0].id.as_deref(), Some("t1"));
    assert_eq!(report.counts.rejected, 4);
    assert_eq!(changes(&report), (2, 0, 0, 0));
    let snapshot = store.roster_snapshot(t).await.unwrap();
    assert_eq!(active_ext(&snapshot), ["t0", "t4"]);
    assert_eq!(
        by_ext(&snapshot, "t0").family_name,
        "Tester",
        "the first row wins"
    );
    assert_eq!(
        store.get_people(t, &[manual.id]).await.unwrap(),
        vec![manual],
        "the person entered by hand is untouched"
    );
}

async fn manual_edits_follow_the_documented_rule(store: &dyn MembershipStore) {
    let tenant = store.create_tenant(new_tenant("lakeside")).await.unwrap();
    let t = tenant.id;
    let roster = parse(&staff_set(0..3));
    import(store, &tenant, &roster, true, false).await;
    let t0 = by_ext(&store.roster_snapshot(t).await.unwrap(), "t0").clone();
    // Hand edits: a roster field, and fields the roster does not carry.
    store
        .update_person(
            t,
            ACTOR,
            t0.id,
            PersonPatch {
                given_name: Some("Tomasz".into()),
                contact: Some(Contact {
                    email: t0.contact.email.clone(),
                    phone: Some("+48 22 000 0000".into()),
                    address: Some("1 Hill Road".into()),
                }),
                time_zone: Some(Some("Europe/Warsaw".into())),
                ..PersonPatch::default()
            },
        )
        .await
        .unwrap();
    let (grants, _) = store
        .list_role_grants(
            t,
            &RoleGrantFilter {
                person_id: Some(t0.id),
                ..RoleGrantFilter::default()
            },
            Page::first(10),
        )
        .await
        .unwrap();
    store.revoke_role(t, ACTOR, grants[0].id).await.unwrap();
    let mentor = store
        .grant_role(t, ACTOR, t0.id, Role::Mentor, None)
        .await
        .unwrap();
    let manual = store
        .create_person(
            t,
            ACTOR,
            new_person("Hand", "Made", Some("hand@lakeside.example"), None),
        )
        .await
        .unwrap();

    let report = import(store, &tenant, &roster, true, false).await;
    let updated: Vec<(&str, Vec<String>)> = report
        .rows
        .iter()
        .filter(|r| r.change == Change::Updated)
        .map(|r| (r.external_id.as_str(), r.fields.clone()))
        .collect();
    assert_eq!(
        updated,
        [("t0", vec!["given_name".to_string(), "role".to_string()])]
    );
    let after = store.get_people(t, &[t0.id]).await.unwrap().remove(0);
    assert_eq!(after.given_name, "Tess0", "roster fields are the roster's");
    assert_eq!(after.time_zone.as_deref(), Some("Europe/Warsaw"), "kept");
    assert_eq!(
        after.contact.phone.as_deref(),
        Some("+48 22 000 0000"),
        "kept: the roster has none"
    );
    assert_eq!(
        after.contact.address.as_deref(),
        Some("1 Hill Road"),
        "kept"
    );
    let (grants, _) = store
        .list_role_grants(
            t,
            &RoleGrantFilter {
                person_id: Some(t0.id),
                ..RoleGrantFilter::default()
            },
            Page::first(10),
        )
        .await
        .unwrap();
    let mut held: Vec<Role> = grants.iter().map(|g| g.role).collect();
    held.sort_by_key(|r| r.as_str());
    assert_eq!(
        held,
        [Role::Mentor, Role::Teacher],
        "hand-granted roles stay"
    );
    assert!(grants.contains(&mentor));
    assert_eq!(
        store.get_people(t, &[manual.id]).await.unwrap(),
        vec![manual],
        "a person without an external id is never the roster's"
    );
}

async fn an_interrupted_job_continues_where_it_stopped(store: &dyn MembershipStore) {
    let tenant = store.create_tenant(new_tenant("lakeside")).await.unwrap();
    let t = tenant.id;
    let roster = parse(&staff_set(0..20));
    // A run that committed its first batch, then died.
    let snapshot = store.roster_snapshot(t).await.unwrap();
    let plan = plan::plan(&roster, &snapshot, 10);
    let (job, resumed) = store
        .start_import_job(
            t,
            ACTOR,
            NewImportJob {
                source_kind: SourceKind::Oneroster,
                source_hash: roster.source_hash.clone(),
                deactivations_confirmed: false,
            },
        )
        .await
        .unwrap();
    assert!(!resumed);
    let batches = plan.batches(job.id, 7);
    assert_eq!(batches.len(), 4);
    let first = store
        .apply_roster_batch(t, &format!("import:{}", job.id), &batches[0])
        .await
        .unwrap();
    assert_eq!((first.organisations.created, first.people.created), (3, 4));

    let dry = import(store, &tenant, &roster, false, false).await;
    assert!(
        dry.message.as_deref().unwrap().contains(&format!(
            "Import job {} of these files stopped part-way",
            job.id
        )),
        "{:?}",
        dry.message
    );
    assert_eq!(changes(&dry), (18, 0, 0, 4));

    let report = import(store, &tenant, &roster, true, false).await;
    assert_eq!(report.outcome, Outcome::Applied);
    let summary = report.job.clone().unwrap();
    assert_eq!((summary.id, summary.resumed), (job.id, true));
    assert_eq!(changes(&report), (18, 0, 0, 4));
    assert_eq!(report.counts.organisations.unchanged, 3);
    let done = store.get_import_job(t, job.id).await.unwrap();
    assert_eq!(
        (done.status, done.batches_done, done.created),
        (JobStatus::Completed, 4, 25)
    );
    assert_eq!(store.roster_snapshot(t).await.unwrap().people.len(), 22);

    // Another source's unfinished job is superseded, and stops taking batches.
    let start = |hash: &str| NewImportJob {
        source_kind: SourceKind::PeopleCsv,
        source_hash: hash.into(),
        deactivations_confirmed: false,
    };
    let (other, _) = store.start_import_job(t, ACTOR, start("x")).await.unwrap();
    let (third, resumed) = store.start_import_job(t, ACTOR, start("y")).await.unwrap();
    assert!(!resumed);
    assert_eq!(
        store.get_import_job(t, other.id).await.unwrap().status,
        JobStatus::Superseded
    );
    let mut batch = batches[1].clone();
    batch.job_id = other.id;
    expect_failed_precondition(store.apply_roster_batch(t, ACTOR, &batch).await);
    // A failed job of the same source is continued, too.
    store
        .finish_import_job(
            t,
            ACTOR,
            third.id,
            JobEnd {
                status: JobStatus::Failed,
                unchanged: 0,
                rejected: 0,
                error: Some("lost the database".into()),
            },
        )
        .await
        .unwrap();
    let (again, resumed) = store.start_import_job(t, ACTOR, start("y")).await.unwrap();
    assert_eq!(
        (again.id, resumed, again.status),
        (third.id, true, JobStatus::Running)
    );
    assert_eq!(again.error, None);
}

async fn importing_into_one_tenant_never_touches_another(store: &dyn MembershipStore) {
    let a = store.create_tenant(new_tenant("alpha")).await.unwrap();
    let b = store.create_tenant(new_tenant("beta")).await.unwrap();
    // B has an organisation and a person with the very ids (and e-mail) of A's roster.
    let b_org = store
        .create_organisation(b.id, ACTOR, new_org("Beta Hill", Some("s1")))
        .await
        .unwrap();
    let b_person = store
        .create_person(
            b.id,
            ACTOR,
            NewPerson {
                external_id: Some("t0".into()),
                ..new_person("Bea", "Beta", Some("t0@lakeside.example"), Some(b_org.id))
            },
        )
        .await
        .unwrap();
    let b_before = state(store, b.id).await;

    let report = import(store, &a, &parse(&staff_set(0..5)), true, false).await;
    assert_eq!(changes(&report), (7, 0, 0, 0), "B's rows are not A's");
    assert_eq!(report.counts.organisations.created, 3);
    let a_snapshot = store.roster_snapshot(a.id).await.unwrap();
    let a_t0 = by_ext(&a_snapshot, "t0");
    assert_ne!(a_t0.id, b_person.id);
    assert_eq!(a_t0.organisation_id, Some(org_by_ext(&a_snapshot, "s1").id));
    assert_ne!(a_t0.organisation_id, Some(b_org.id));

    // A's bulk file without t0 deactivates A's t0 only.
    let report = import(store, &a, &parse(&staff_set(1..5)), true, true).await;
    assert_eq!(changes(&report), (0, 0, 1, 6));
    assert!(!by_ext(&store.roster_snapshot(a.id).await.unwrap(), "t0").active);
    assert_eq!(state(store, b.id).await, b_before, "B is as it was");
    assert_eq!(
        store.get_people(b.id, &[b_person.id]).await.unwrap(),
        vec![b_person.clone()]
    );

    // A's jobs do not exist for B, and cannot be driven from B.
    let a_job = report.job.unwrap().id;
    expect_not_found(store.get_import_job(b.id, a_job).await);
    let mut batch = plan::plan(&parse(&staff_set(0..1)), &RosterSnapshot::default(), 10)
        .batches(a_job, 100)
        .remove(0);
    batch.job_id = a_job;
    expect_not_found(store.apply_roster_batch(b.id, ACTOR, &batch).await);
    assert_eq!(state(store, b.id).await, b_before);
}

async fn an_erased_person_is_not_brought_back_by_the_next_import(store: &dyn MembershipStore) {
    let a = store.create_tenant(new_tenant("alpha")).await.unwrap();
    let b = store.create_tenant(new_tenant("beta")).await.unwrap();
    let roster = parse(&staff_set(0..3));
    import(store, &a, &roster, true, false).await;
    import(store, &b, &roster, true, false).await;
    let t1 = by_ext(&store.roster_snapshot(a.id).await.unwrap(), "t1").id;
    store.erase_person_data(a.id, ACTOR, t1).await.unwrap();

    // The nightly sync still lists t1: rejected with the reason, nothing re-created.
    let report = import(store, &a, &roster, true, false).await;
    assert_eq!(changes(&report), (0, 0, 0, 4), "{report:?}");
    let rejected = rejections(&report);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!((rejected[0].0.as_str(), rejected[0].1), ("users.csv", 3));
    assert!(rejected[0].2.contains("erased"), "{rejected:?}");
    let after = store.roster_snapshot(a.id).await.unwrap();
    assert!(!after.people.iter().any(|p| p.given_name == "Tess1"));
    assert!(after.erased.contains("t1"));
    assert!(!after.erased.contains("t2"));

    // Another tenant's t1 is its own person, untouched and importable.
    let b_after = store.roster_snapshot(b.id).await.unwrap();
    assert!(!b_after.erased.contains("t1"));
    assert_eq!(by_ext(&b_after, "t1").given_name, "Tess1");
    let report = import(store, &b, &roster, true, false).await;
    assert_eq!(changes(&report), (0, 0, 0, 5));
    assert_eq!(rejections(&report), vec![]);
}

async fn the_people_csv_imports_like_oneroster(store: &dyn MembershipStore) {
    let tenant = store.create_tenant(new_tenant("northern")).await.unwrap();
    let t = tenant.id;
    let centre = store
        .create_organisation(t, ACTOR, new_org("Centre One", Some("C-1")))
        .await
        .unwrap();
    let file = |rows: &str, mode: FileMode| {
        let files = InMemory::default().with(
            people_csv::FILE,
            format!(
                "external_id,given_name,family_name,email,organisation_external_id,role\n{rows}"
            ),
        );
        people_csv::parse(&files, people_csv::FILE, mode, &Limits::default())
    };
    let rows = "p1,Ana,Lima,ana@northern.example,C-1,teacher\n\
                p2,Bo,Chen,bo@northern.example,C-1,teacher\n\
                p3,Cy,Diaz,,C-1,\n\
                p4,Di,Eze,di@northern.example,,principal\n";
    let report = import(store, &tenant, &file(rows, FileMode::Bulk), true, false).await;
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.message);
    assert_eq!(changes(&report), (4, 0, 0, 0));
    assert_eq!(report.counts.roles_granted, 3);
    let snapshot = store.roster_snapshot(t).await.unwrap();
    assert_eq!(by_ext(&snapshot, "p1").organisation_id, Some(centre.id));
    assert_eq!(by_ext(&snapshot, "p4").organisation_id, None);
    let again = import(store, &tenant, &file(rows, FileMode::Bulk), true, false).await;
    assert_eq!(changes(&again), (0, 0, 0, 4));

    // One of four gone from a bulk file is past the threshold.
    let three = &rows[..rows.rfind("p4").unwrap()];
    let stopped = import(store, &tenant, &file(three, FileMode::Bulk), true, false).await;
    assert_eq!(stopped.outcome, Outcome::Stopped);
    let confirmed = import(store, &tenant, &file(three, FileMode::Bulk), true, true).await;
    assert_eq!(changes(&confirmed), (0, 0, 1, 3));
    // A delta file adds without deactivating anyone.
    let delta = import(
        store,
        &tenant,
        &file(
            "p9,Flo,Gray,flo@northern.example,C-1,teacher\n",
            FileMode::Delta,
        ),
        true,
        false,
    )
    .await;
    assert_eq!(changes(&delta), (1, 0, 0, 0));
    assert_eq!(
        active_ext(&store.roster_snapshot(t).await.unwrap()),
        ["p1", "p2", "p3", "p9"]
    );
}

async fn a_file_that_cannot_be_read_writes_nothing(store: &dyn MembershipStore) {
    let tenant = store.create_tenant(new_tenant("lakeside")).await.unwrap();
    let t = tenant.id;
    import(store, &tenant, &parse(&staff_set(0..5)), true, false).await;
    let before = state(store, t).await;
    let broken = staff_set(0..2).with(
        oneroster::USERS,
        "sourcedId,orgSourcedIds,role,familyName\nt0,s1,teacher,Tester\n",
    );
    let report = import(store, &tenant, &parse(&broken), true, true).await;
    assert_eq!(report.outcome, Outcome::Invalid);
    assert_eq!(report.file_errors.len(), 1);
    assert_eq!(report.file_errors[0].file, "users.csv");
    assert!(
        report.file_errors[0]
            .message
            .starts_with("the header lacks column givenName")
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("not looked for while a file has errors")),
        "no deactivations are planned from a file that was not read: {:?}",
        report.notes
    );
    assert_eq!(changes(&report).2, 0);
    assert_eq!(state(store, t).await, before, "nothing was written");
}

// ------------------------------------------------------------------ the corpus of nasty files

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/roster_corpus")
}

/// What a corpus file must produce in the role its name gives it.
enum Expect {
    /// A file error starting with this.
    FileError(&'static str),
    /// Exactly these rejections in that file: (row, line, reason prefix).
    Rejected(&'static [(u64, u64, &'static str)]),
}

/// Every corpus file (the `good/` set aside), the file it stands in for, and
/// what it must produce.
fn expectations() -> BTreeMap<&'static str, (&'static str, Expect)> {
    use Expect::*;
    BTreeMap::from([
        (
            "empty.csv",
            (
                "users.csv",
                FileError("is empty: the first line must be the header row"),
            ),
        ),
        (
            "users_missing_header.csv",
            ("users.csv", FileError("the header lacks column givenName")),
        ),
        ("users_bom.csv", ("users.csv", Rejected(&[]))),
        (
            "users_latin1.csv",
            (
                "users.csv",
                Rejected(&[(3, 3, "givenName is not UTF-8 text (byte 0xE9")]),
            ),
        ),
        (
            "users_duplicate_ids.csv",
            (
                "users.csv",
                Rejected(&[(4, 4, "duplicate sourcedId (first on row 2)")]),
            ),
        ),
        (
            "users_dangling_org.csv",
            (
                "users.csv",
                Rejected(&[(
                    3,
                    3,
                    "orgSourcedIds: organisation \"s404\" is neither in orgs.csv nor in this tenant",
                )]),
            ),
        ),
        (
            "users_quoted_newlines.csv",
            (
                "users.csv",
                Rejected(&[(3, 4, "email: \"bo@\" is not an e-mail address")]),
            ),
        ),
        (
            "users_ragged.csv",
            (
                "users.csv",
                Rejected(&[
                    (3, 3, "has 4 fields; the header has 6"),
                    (4, 4, "has 7 fields; the header has 6"),
                ]),
            ),
        ),
        (
            "users_bad_values.csv",
            (
                "users.csv",
                Rejected(&[
                    (2, 2, "email: \"ana@@lakeside\" is not an e-mail address"),
                    (3, 3, "enabledUser \"yes\" is not true or false"),
                    (4, 4, "role \"headmaster\" is not a OneRoster 1.1 role"),
                    (5, 5, "phone: \"call me\" is not a phone number"),
                    (6, 6, "sourcedId is empty"),
                ]),
            ),
        ),
        (
            "orgs_bad_rows.csv",
            (
                "orgs.csv",
                Rejected(&[
                    (3, 3, "name: must not be empty"),
                    (4, 4, "type \"spaceport\" is not a OneRoster org type"),
                    (5, 5, "duplicate sourcedId (first on row 2)"),
                    (6, 6, "status \"retired\" is not active or tobedeleted"),
                ]),
            ),
        ),
        (
            "manifest_oneroster_1_0.csv",
            (
                "manifest.csv",
                FileError("oneroster.version is \"1.0\"; this import reads OneRoster 1.1"),
            ),
        ),
        (
            "academicSessions_bad_dates.csv",
            (
                "academicSessions.csv",
                Rejected(&[
                    (3, 3, "endDate: is before startDate"),
                    (4, 4, "startDate: \"01/08/2028\" is not a date (YYYY-MM-DD)"),
                ]),
            ),
        ),
        (
            "enrollments_dangling.csv",
            (
                "enrollments.csv",
                Rejected(&[
                    (3, 3, "userSourcedId: user \"ghost\" is not in users.csv"),
                    (
                        4,
                        4,
                        "schoolSourcedId: organisation \"s404\" is neither in orgs.csv nor in this tenant",
                    ),
                    (5, 5, "duplicate sourcedId (first on row 2)"),
                ]),
            ),
        ),
        (
            "people_bad_rows.csv",
            (
                people_csv::FILE,
                Rejected(&[
                    (4, 4, "email: \"ana@lakeside.example\" is also on row 2"),
                    (
                        5,
                        5,
                        "organisation_external_id: no organisation \"s404\" in this tenant",
                    ),
                    (
                        6,
                        6,
                        "role: \"wizard\" is not teacher, principal, aide or empty",
                    ),
                ]),
            ),
        ),
    ])
}

/// The good set of the corpus in memory, with `name` replaced by `bytes`.
fn good_with(name: &str, bytes: &[u8]) -> InMemory {
    let mut files = InMemory::default();
    for entry in std::fs::read_dir(corpus().join("good")).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        files = files.with(&file, std::fs::read(&path).unwrap());
    }
    files.with(name, bytes.to_vec())
}

/// A tenant that holds one organisation, `s1` (for the simple people file).
fn tenant_with_s1() -> RosterSnapshot {
    RosterSnapshot {
        organisations: vec![Organisation {
            id: uuid::Uuid::now_v7(),
            name: "Hill Elementary".into(),
            kind: OrganisationKind::School,
            external_id: Some("s1".into()),
            contact: Contact::default(),
            created_at: chrono::Utc::now(),
        }],
        ..RosterSnapshot::default()
    }
}

/// Parses, diffs and renders; every step must cope.
fn report_of(roster: &ParsedRoster, snapshot: &RosterSnapshot) -> ImportReport {
    let plan = plan::plan(roster, snapshot, 10);
    let mut report = ImportReport::new("corpus", roster.kind).with_plan(&plan);
    report.file_errors = roster.file_errors.clone();
    let text = report.to_text(50);
    assert!(text.starts_with("Roster import into \"corpus\""));
    serde_json::to_string(&report).expect("the report serialises");
    for r in &report.rejected {
        assert!(r.row >= 2 && r.line >= 2 && !r.reason.is_empty(), "{r:?}");
    }
    report
}

#[test]
fn the_good_set_of_the_corpus_imports_cleanly() {
    let roster = oneroster::parse(
        &Directory::new(&corpus().join("good")).unwrap(),
        &Limits::default(),
    );
    let report = report_of(&roster, &RosterSnapshot::default());
    assert_eq!(report.file_errors, vec![]);
    assert_eq!(report.rejected, vec![]);
    assert_eq!(report.counts.people.created, 4);
    assert_eq!(report.counts.organisations.created, 3);
    assert_eq!(report.skipped.get("student"), Some(&1));
}

#[test]
fn every_corpus_file_in_every_role_gives_a_report_with_its_rejections() {
    let expected = expectations();
    let mut seen = vec![];
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if path.is_dir() || name.starts_with('.') {
            continue;
        }
        seen.push(name.clone());
        let bytes = std::fs::read(&path).unwrap();

        // In every role: a report, never a panic.
        for role in [
            oneroster::MANIFEST,
            oneroster::ORGS,
            oneroster::USERS,
            oneroster::ACADEMIC_SESSIONS,
            oneroster::ENROLLMENTS,
        ] {
            let roster = oneroster::parse(&good_with(role, &bytes), &Limits::default());
            report_of(&roster, &RosterSnapshot::default());
        }
        let people = InMemory::default().with(people_csv::FILE, bytes.clone());
        for mode in [FileMode::Bulk, FileMode::Delta] {
            let roster = people_csv::parse(&people, people_csv::FILE, mode, &Limits::default());
            report_of(&roster, &tenant_with_s1());
        }

        // In its own role: what it is in the corpus for.
        let (role, expect) = expected
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{name}: add what it must produce to expectations()"));
        let report = if *role == people_csv::FILE {
            let roster = people_csv::parse(
                &people,
                people_csv::FILE,
                FileMode::Bulk,
                &Limits::default(),
            );
            report_of(&roster, &tenant_with_s1())
        } else {
            report_of(
                &oneroster::parse(&good_with(role, &bytes), &Limits::default()),
                &RosterSnapshot::default(),
            )
        };
        match expect {
            Expect::FileError(want) => {
                assert_eq!(
                    report.file_errors.len(),
                    1,
                    "{name}: {:?}",
                    report.file_errors
                );
                assert_eq!(report.file_errors[0].file, *role, "{name}");
                assert!(
                    report.file_errors[0].message.starts_with(want),
                    "{name}: {:?} should start {want:?}",
                    report.file_errors[0].message
                );
            }
            Expect::Rejected(want) => {
                assert_eq!(report.file_errors, vec![], "{name}");
                let got: Vec<_> = report.rejected.iter().filter(|r| r.file == *role).collect();
                assert_eq!(got.len(), want.len(), "{name}: {got:#?}");
                for (r, (row, line, reason)) in got.iter().zip(want.iter()) {
                    assert_eq!((r.row, r.line), (*row, *line), "{name}: {r:?}");
                    assert!(
                        r.reason.starts_with(reason),
                        "{name} row {row}: {:?} should start {reason:?}",
                        r.reason
                    );
                }
            }
        }
    }
    seen.sort();
    let mut listed: Vec<String> = expected.keys().map(|k| k.to_string()).collect();
    listed.sort();
    assert_eq!(
        seen, listed,
        "every corpus file is described, and every described file exists"
    );
}

/// Rows without end, after a header.
struct Endless {
    header: io::Cursor<&'static [u8]>,
    row: &'static [u8],
    at: usize,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.header.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        for b in buf.iter_mut() {
            *b = self.row[self.at];
            self.at = (self.at + 1) % self.row.len();
        }
        Ok(buf.len())
    }
}

/// The good set, with a users.csv that never ends and says it is `len` long.
struct HugeUsers(Option<u64>);

impl RosterFiles for HugeUsers {
    fn open(&self, name: &str) -> io::Result<Option<RosterFile>> {
        if name != oneroster::USERS {
            return Directory::new(&corpus().join("good"))?.open(name);
        }
        Ok(Some(RosterFile {
            reader: Box::new(Endless {
                header: io::Cursor::new(b"sourcedId,orgSourcedIds,role,givenName,familyName\n"),
                row: b"t1,s1,teacher,Ana,Lima\n",
                at: 0,
            }),
            len: self.0,
        }))
    }
}

#[test]
fn a_huge_file_is_refused_without_being_read_whole() {
    let users_error = |files: &HugeUsers, limits: Limits| {
        let roster = oneroster::parse(files, &limits);
        let report = report_of(&roster, &RosterSnapshot::default());
        assert_eq!(report.counts.people.deactivated, 0);
        report
            .file_errors
            .iter()
            .find(|e| e.file == oneroster::USERS)
            .map(|e| e.message.clone())
            .expect("users.csv is refused")
    };
    // A 2 GB file is refused on its size, before a byte is read.
    let message = users_error(&HugeUsers(Some(2_000_000_000)), Limits::default());
    assert_eq!(
        message,
        "is 1.9 GiB, larger than the limit of 512.0 MiB (raise it with --max-file-size if this is right)"
    );
    // A stream of unknown length, at the limit.
    let message = users_error(
        &HugeUsers(None),
        Limits {
            max_file_bytes: 1 << 20,
            max_rows: u64::MAX,
        },
    );
    assert!(
        message.starts_with("is larger than the limit of 1.0 MiB"),
        "{message}"
    );
    // Or at the row cap.
    let message = users_error(
        &HugeUsers(None),
        Limits {
            max_file_bytes: u64::MAX,
            max_rows: 10_000,
        },
    );
    assert!(message.starts_with("has more than 10000 rows"), "{message}");
}
