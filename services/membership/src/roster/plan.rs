//! The diff of a roster against the tenant: what each row would do
//! (create, update, deactivate, nothing), which rows cannot be imported
//! because of what the tenant holds (an organisation neither in the files nor
//! in the tenant, an e-mail address another person has), and the writes that
//! bring the tenant in line, cut into batches. Pure: the tenant comes in as a
//! [`RosterSnapshot`].
//!
//! The store applies the same rule ([`merge_person`]) inside each batch's
//! transaction, so what the dry run shows is what the apply does unless
//! someone edits the tenant in between (then the store's view wins).

use std::collections::{BTreeMap, HashMap, HashSet};

use platform::auth::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Counts, Deactivation, FileMode, OrgUpsert, ParsedRoster, PersonRecord, PersonUpsert,
    RecordStatus, Rejection, RosterBatch, RosterSnapshot, SourceKind, changed_fields, merge_person,
    oneroster::ORGS,
};
use crate::domain::{Organisation, Person};

/// What a row does to the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Created,
    Updated,
    Deactivated,
    Unchanged,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Deactivated => "deactivated",
            Change::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Organisation,
    Person,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Organisation => "organisation",
            Entity::Person => "person",
        }
    }
}

/// One row of the diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedRow {
    pub change: Change,
    pub entity: Entity,
    pub external_id: String,
    pub name: String,
    /// The row it comes from (none for a person missing from a bulk file).
    pub file: Option<String>,
    pub row: Option<u64>,
    /// What changes: roster-owned fields, and `role` when a role is granted.
    pub fields: Vec<String>,
    pub note: Option<String>,
}

/// The threshold on deactivations (see the rules in [`super`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeactivationCheck {
    /// Active people with an external id, before the import.
    pub active_managed: u64,
    /// How many the import would deactivate.
    pub deactivating: u64,
    pub limit_percent: u32,
    /// More than `limit_percent` % would go: confirmation needed.
    pub exceeded: bool,
}

/// The diff, and the writes it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub rows: Vec<PlannedRow>,
    /// Rows not imported, from the files and from the tenant's point of view,
    /// by file and row.
    pub rejected: Vec<Rejection>,
    pub skipped: BTreeMap<String, u64>,
    pub notes: Vec<String>,
    pub organisations: Counts,
    pub people: Counts,
    pub roles_to_grant: u64,
    pub deactivation_check: DeactivationCheck,
    pub org_writes: Vec<OrgUpsert>,
    pub person_writes: Vec<PersonUpsert>,
    pub deactivations: Vec<Deactivation>,
}

impl Plan {
    /// Rows that write something.
    pub fn writes(&self) -> usize {
        self.org_writes.len() + self.person_writes.len() + self.deactivations.len()
    }

    /// The writes in batches of at most `size` rows, organisations first
    /// (people refer to them), then people, then deactivations.
    pub fn batches(&self, job_id: Uuid, size: usize) -> Vec<RosterBatch> {
        let size = size.max(1);
        let mut batches = vec![];
        let mut batch = RosterBatch {
            job_id,
            ..RosterBatch::default()
        };
        let mut full = |batch: &mut RosterBatch| {
            if batch.len() >= size {
                batches.push(std::mem::replace(
                    batch,
                    RosterBatch {
                        job_id,
                        ..RosterBatch::default()
                    },
                ));
            }
        };
        for o in &self.org_writes {
            batch.organisations.push(o.clone());
            full(&mut batch);
        }
        for p in &self.person_writes {
            batch.people.push(p.clone());
            full(&mut batch);
        }
        for d in &self.deactivations {
            batch.deactivations.push(d.clone());
            full(&mut batch);
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        batches
    }
}

const TOBEDELETED_UNKNOWN: &str = "tobedeleted (not in Collegium)";

/// Diffs `roster` against `snapshot`; `limit_percent` is the deactivation threshold.
pub fn plan(roster: &ParsedRoster, snapshot: &RosterSnapshot, limit_percent: u32) -> Plan {
    let mut plan = Plan {
        rows: vec![],
        rejected: roster.rejected.clone(),
        skipped: roster.skipped.clone(),
        notes: vec![],
        organisations: Counts::default(),
        people: Counts::default(),
        roles_to_grant: 0,
        deactivation_check: DeactivationCheck {
            active_managed: 0,
            deactivating: 0,
            limit_percent,
            exceeded: false,
        },
        org_writes: vec![],
        person_writes: vec![],
        deactivations: vec![],
    };
    let orgs_by_ext: HashMap<&str, &Organisation> = snapshot
        .organisations
        .iter()
        .filter_map(|o| Some((o.external_id.as_deref()?, o)))
        .collect();
    let people_by_ext: HashMap<&str, &Person> = snapshot
        .people
        .iter()
        .filter_map(|p| Some((p.external_id.as_deref()?, p)))
        .collect();
    let mut email_owner: HashMap<String, Uuid> = snapshot
        .people
        .iter()
        .filter_map(|p| Some((p.contact.email.clone()?, p.id)))
        .collect();
    let held: HashSet<(Uuid, Role)> = snapshot.tenant_roles.iter().copied().collect();

    // Organisations.
    let mut imported_orgs: HashSet<&str> = HashSet::new();
    for rec in &roster.orgs {
        imported_orgs.insert(&rec.external_id);
        let (change, fields) = match orgs_by_ext.get(rec.external_id.as_str()) {
            None => (Change::Created, vec![]),
            Some(o) if o.name != rec.name => (Change::Updated, vec!["name".to_string()]),
            Some(_) => (Change::Unchanged, vec![]),
        };
        count(&mut plan.organisations, change);
        plan.rows.push(PlannedRow {
            change,
            entity: Entity::Organisation,
            external_id: rec.external_id.clone(),
            name: rec.name.clone(),
            file: Some(rec.source.file.clone()),
            row: Some(rec.source.row),
            fields,
            note: None,
        });
        if change != Change::Unchanged {
            plan.org_writes.push(OrgUpsert {
                source: rec.source.clone(),
                external_id: rec.external_id.clone(),
                name: rec.name.clone(),
                kind: rec.kind,
            });
        }
    }

    // People.
    let org_column = match roster.kind {
        SourceKind::Oneroster => "orgSourcedIds",
        SourceKind::PeopleCsv => "organisation_external_id",
    };
    for rec in &roster.people {
        let before = people_by_ext.get(rec.external_id.as_str()).copied();
        if rec.status == RecordStatus::ToBeDeleted {
            match before {
                Some(p) if p.active => {
                    let reason = format!("status tobedeleted in {}", rec.source.file);
                    deactivate(&mut plan, p, Some(rec), reason);
                    count(&mut plan.people, Change::Deactivated);
                }
                Some(p) => {
                    plan.rows.push(person_row(
                        Change::Unchanged,
                        rec.external_id.clone(),
                        p,
                        Some(rec),
                        vec![],
                        Some("tobedeleted, already inactive".into()),
                    ));
                    count(&mut plan.people, Change::Unchanged);
                }
                None => *plan.skipped.entry(TOBEDELETED_UNKNOWN.into()).or_default() += 1,
            }
            continue;
        }

        if before.is_none() && snapshot.erased.contains(&rec.external_id) {
            plan.rejected.push(reject(
                rec,
                "this person was erased by a data-subject request; remove them from the \
                 roster, or create them by hand if they really are back"
                    .into(),
            ));
            continue;
        }
        let organisation = match organisation(roster, rec, &imported_orgs, &orgs_by_ext, org_column)
        {
            Ok(o) => o,
            Err(reason) => {
                plan.rejected.push(reject(rec, reason));
                continue;
            }
        };
        if let Some(e) = &rec.email
            && let Some(owner) = email_owner.get(e)
            && Some(*owner) != before.map(|b| b.id)
        {
            plan.rejected.push(reject(
                rec,
                "email: another person in this tenant has this e-mail address".into(),
            ));
            continue;
        }
        let up = PersonUpsert {
            source: rec.source.clone(),
            external_id: rec.external_id.clone(),
            given_name: rec.given_name.clone(),
            family_name: rec.family_name.clone(),
            email: rec.email.clone(),
            phone: rec.phone.clone(),
            organisation: organisation.clone(),
            active: rec.enabled,
            role: rec.role,
        };
        let name = format!("{} {}", rec.given_name, rec.family_name);
        let (change, fields, note) = match before {
            None => {
                if let Some(e) = &rec.email {
                    email_owner.insert(e.clone(), Uuid::nil());
                }
                plan.roles_to_grant += u64::from(rec.role.is_some());
                let note = (!rec.enabled).then(|| "created inactive (enabledUser false)".into());
                (Change::Created, vec![], note)
            }
            Some(before) => {
                // A new organisation has no id yet; nil never equals a stored one.
                let org_id = organisation
                    .as_deref()
                    .map(|e| orgs_by_ext.get(e).map_or(Uuid::nil(), |o| o.id));
                let after = merge_person(before, &up, org_id);
                let mut fields: Vec<String> = changed_fields(before, &after)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                if rec.role.is_some_and(|r| !held.contains(&(before.id, r))) {
                    fields.push("role".into());
                    plan.roles_to_grant += 1;
                }
                if before.contact.email != after.contact.email {
                    if let Some(old) = &before.contact.email {
                        email_owner.remove(old);
                    }
                    if let Some(new) = &after.contact.email {
                        email_owner.insert(new.clone(), before.id);
                    }
                }
                let change = if before.active && !after.active {
                    Change::Deactivated
                } else if fields.is_empty() {
                    Change::Unchanged
                } else {
                    Change::Updated
                };
                let note = (change == Change::Deactivated).then(|| "enabledUser false".into());
                (change, fields, note)
            }
        };
        count(&mut plan.people, change);
        plan.rows.push(PlannedRow {
            change,
            entity: Entity::Person,
            external_id: rec.external_id.clone(),
            name,
            file: Some(rec.source.file.clone()),
            row: Some(rec.source.row),
            fields,
            note,
        });
        if change != Change::Unchanged {
            plan.person_writes.push(up);
        }
    }

    // People a bulk file no longer has.
    if roster.users_mode == FileMode::Bulk {
        if roster.file_errors.is_empty() {
            let missing: Vec<&Person> = snapshot
                .people
                .iter()
                .filter(|p| {
                    p.active
                        && p.external_id
                            .as_deref()
                            .is_some_and(|e| !roster.listed_users.contains(e))
                })
                .collect();
            for p in missing {
                deactivate(
                    &mut plan,
                    p,
                    None,
                    format!("not in the bulk {}", roster.users_file),
                );
                count(&mut plan.people, Change::Deactivated);
            }
        } else {
            plan.notes.push(format!(
                "people missing from the bulk {} are not looked for while a file has errors",
                roster.users_file
            ));
        }
    }

    // Other references to organisations (enrollments' schools).
    for r in &roster.org_references {
        if orgs_by_ext.contains_key(r.org.as_str()) {
            *plan.skipped.entry(r.skip_as.to_string()).or_default() += 1;
        } else {
            plan.rejected.push(Rejection {
                file: r.source.file.clone(),
                row: r.source.row,
                line: r.source.line,
                id: r.id.clone(),
                reason: format!(
                    "{}: organisation {:?} is neither in {ORGS} nor in this tenant",
                    r.column, r.org
                ),
            });
        }
    }

    plan.rejected
        .sort_by(|a, b| (a.file.as_str(), a.row).cmp(&(b.file.as_str(), b.row)));
    let active_managed = snapshot
        .people
        .iter()
        .filter(|p| p.active && p.external_id.is_some())
        .count() as u64;
    let deactivating = plan.people.deactivated;
    plan.deactivation_check = DeactivationCheck {
        active_managed,
        deactivating,
        limit_percent,
        exceeded: deactivating > 0
            && deactivating * 100 > active_managed * u64::from(limit_percent),
    };
    plan
}

fn count(counts: &mut Counts, change: Change) {
    match change {
        Change::Created => counts.created += 1,
        Change::Updated => counts.updated += 1,
        Change::Deactivated => counts.deactivated += 1,
        Change::Unchanged => counts.unchanged += 1,
    }
}

fn reject(rec: &PersonRecord, reason: String) -> Rejection {
    Rejection {
        file: rec.source.file.clone(),
        row: rec.source.row,
        line: rec.source.line,
        id: Some(rec.external_id.clone()),
        reason,
    }
}

fn person_row(
    change: Change,
    external_id: String,
    p: &Person,
    rec: Option<&PersonRecord>,
    fields: Vec<String>,
    note: Option<String>,
) -> PlannedRow {
    PlannedRow {
        change,
        entity: Entity::Person,
        external_id,
        name: format!("{} {}", p.given_name, p.family_name),
        file: rec.map(|r| r.source.file.clone()),
        row: rec.map(|r| r.source.row),
        fields,
        note,
    }
}

fn deactivate(plan: &mut Plan, p: &Person, rec: Option<&PersonRecord>, reason: String) {
    let external_id = p.external_id.clone().unwrap_or_default();
    plan.rows.push(person_row(
        Change::Deactivated,
        external_id.clone(),
        p,
        rec,
        vec!["active".into()],
        Some(reason.clone()),
    ));
    plan.deactivations.push(Deactivation {
        external_id,
        source: rec.map(|r| r.source.clone()),
        reason,
    });
}

/// The person's organisation by external id: the first of their references
/// that is imported or already in the tenant (a department stands for its
/// parent). A reference found nowhere, or to a rejected org, rejects the row.
fn organisation(
    roster: &ParsedRoster,
    rec: &PersonRecord,
    imported: &HashSet<&str>,
    stored: &HashMap<&str, &Organisation>,
    column: &str,
) -> Result<Option<String>, String> {
    let mut found = None;
    for r in &rec.org_refs {
        let r = roster.org_parents.get(r).unwrap_or(r);
        if roster.rejected_orgs.contains(r) && !stored.contains_key(r.as_str()) {
            return Err(format!(
                "{column}: organisation {r:?} was rejected (see {ORGS})"
            ));
        }
        if imported.contains(r.as_str()) || stored.contains_key(r.as_str()) {
            found = found.or_else(|| Some(r.clone()));
        } else if !roster.listed_orgs.contains(r) {
            return Err(match roster.kind {
                SourceKind::Oneroster => {
                    format!("{column}: organisation {r:?} is neither in {ORGS} nor in this tenant")
                }
                SourceKind::PeopleCsv => {
                    format!("{column}: no organisation {r:?} in this tenant")
                }
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::{
        domain::{Contact, OrganisationKind},
        roster::{
            Limits,
            oneroster::{self, USERS, tests::good_set},
            people_csv,
            source::InMemory,
        },
    };

    fn org(ext: &str, name: &str) -> Organisation {
        Organisation {
            id: Uuid::now_v7(),
            name: name.into(),
            kind: OrganisationKind::School,
            external_id: Some(ext.into()),
            contact: Contact::default(),
            created_at: Utc::now(),
        }
    }

    fn person(ext: Option<&str>, given: &str, email: Option<&str>, org: Option<Uuid>) -> Person {
        Person {
            id: Uuid::now_v7(),
            given_name: given.into(),
            family_name: "Tester".into(),
            contact: Contact {
                email: email.map(str::to_string),
                phone: None,
                address: None,
            },
            organisation_id: org,
            external_id: ext.map(str::to_string),
            time_zone: None,
            active: true,
            created_at: Utc::now(),
        }
    }

    fn changes(plan: &Plan) -> Vec<(Change, &str, Vec<&str>)> {
        plan.rows
            .iter()
            .map(|r| {
                (
                    r.change,
                    r.external_id.as_str(),
                    r.fields.iter().map(String::as_str).collect(),
                )
            })
            .collect()
    }

    /// The snapshot a store would hold after applying `plan` to `snapshot`
    /// (enough of it for the next diff).
    fn applied(plan: &Plan, snapshot: &RosterSnapshot) -> RosterSnapshot {
        let mut next = snapshot.clone();
        for o in &plan.org_writes {
            match next
                .organisations
                .iter_mut()
                .find(|s| s.external_id.as_deref() == Some(&o.external_id))
            {
                Some(s) => s.name = o.name.clone(),
                None => next.organisations.push(org(&o.external_id, &o.name)),
            }
        }
        for up in &plan.person_writes {
            let org_id = up.organisation.as_deref().map(|e| {
                next.organisations
                    .iter()
                    .find(|o| o.external_id.as_deref() == Some(e))
                    .unwrap()
                    .id
            });
            let id = match next
                .people
                .iter_mut()
                .find(|p| p.external_id.as_deref() == Some(&up.external_id))
            {
                Some(p) => {
                    *p = merge_person(p, up, org_id);
                    p.id
                }
                None => {
                    let mut p = person(Some(&up.external_id), "", None, None);
                    p = merge_person(&p, up, org_id);
                    next.people.push(p.clone());
                    p.id
                }
            };
            if let Some(r) = up.role
                && !next.tenant_roles.contains(&(id, r))
            {
                next.tenant_roles.push((id, r));
            }
        }
        for d in &plan.deactivations {
            for p in next.people.iter_mut() {
                if p.external_id.as_deref() == Some(&d.external_id) {
                    p.active = false;
                }
            }
        }
        next
    }

    #[test]
    fn a_first_import_creates_and_a_second_changes_nothing() {
        let roster = oneroster::parse(&good_set(), &Limits::default());
        let empty = RosterSnapshot::default();
        let first = plan(&roster, &empty, 10);
        assert_eq!(first.rejected, vec![]);
        assert_eq!(
            changes(&first),
            [
                (Change::Created, "d1", vec![]),
                (Change::Created, "s1", vec![]),
                (Change::Created, "s2", vec![]),
                (Change::Created, "t1", vec![]),
                (Change::Created, "t2", vec![]),
                (Change::Created, "a1", vec![]),
                (Change::Created, "x1", vec![]),
            ]
        );
        assert_eq!(first.roles_to_grant, 3);
        assert_eq!(first.people.created, 4);
        // t2's first org is a department of s1: s1 is their organisation.
        assert_eq!(first.person_writes[1].organisation.as_deref(), Some("s1"));
        assert!(!first.person_writes[3].active, "x1 is not an enabled user");

        let batches = first.batches(Uuid::nil(), 3);
        assert_eq!(
            batches.iter().map(RosterBatch::len).collect::<Vec<_>>(),
            [3, 3, 1]
        );
        assert_eq!(
            batches[0].organisations.len(),
            3,
            "organisations come first"
        );

        let after = applied(&first, &empty);
        let second = plan(&roster, &after, 10);
        assert_eq!(second.writes(), 0, "{:?}", changes(&second));
        assert_eq!(second.people.unchanged, 4);
        assert_eq!(second.organisations.unchanged, 3);
        assert_eq!(second.roles_to_grant, 0);
        assert!(second.batches(Uuid::nil(), 500).is_empty());
    }

    #[test]
    fn roster_fields_are_overwritten_and_the_rest_kept() {
        let roster = oneroster::parse(&good_set(), &Limits::default());
        let after = applied(
            &plan(&roster, &RosterSnapshot::default(), 10),
            &RosterSnapshot::default(),
        );
        let mut edited = after.clone();
        for p in edited.people.iter_mut() {
            match p.external_id.as_deref() {
                // A hand edit of a roster field…
                Some("t1") => p.given_name = "Anna".into(),
                // …and of fields the roster does not carry.
                Some("a1") => {
                    p.time_zone = Some("Europe/Paris".into());
                    p.contact.phone = Some("+1 555 0111".into());
                }
                _ => {}
            }
        }
        // A role granted by hand stays; a revoked roster role comes back.
        let a1 = edited
            .people
            .iter()
            .find(|p| p.external_id.as_deref() == Some("a1"))
            .unwrap()
            .id;
        edited.tenant_roles.push((a1, Role::Mentor));
        let t2 = edited
            .people
            .iter()
            .find(|p| p.external_id.as_deref() == Some("t2"))
            .unwrap()
            .id;
        edited.tenant_roles.retain(|g| g.0 != t2);
        let next = plan(&roster, &edited, 10);
        let changed: Vec<_> = changes(&next)
            .into_iter()
            .filter(|c| c.0 != Change::Unchanged)
            .collect();
        assert_eq!(
            changed,
            [
                (Change::Updated, "t1", vec!["given_name"]),
                (Change::Updated, "t2", vec!["role"]),
            ]
        );
        assert_eq!(next.roles_to_grant, 1);
    }

    #[test]
    fn a_bulk_file_deactivates_the_missing_and_the_threshold_counts_them() {
        let mut snapshot = RosterSnapshot::default();
        let hill = org("s1", "Hill School");
        snapshot.organisations.push(hill.clone());
        for i in 0..20 {
            snapshot.people.push(person(
                Some(&format!("t{i}")),
                &format!("T{i}"),
                None,
                Some(hill.id),
            ));
        }
        // Someone added by hand (no external id) is never the roster's.
        snapshot
            .people
            .push(person(None, "Manual", Some("m@x.example"), None));
        let mut inactive = person(Some("gone"), "Gone", None, None);
        inactive.active = false;
        snapshot.people.push(inactive);

        let users = |ids: std::ops::Range<usize>| {
            let mut csv = "sourcedId,orgSourcedIds,role,givenName,familyName\n".to_string();
            for i in ids {
                csv.push_str(&format!("t{i},s1,aide,T{i},Tester\n"));
            }
            csv
        };
        let set = |csv: String| {
            good_set().with(USERS, csv).with(
                oneroster::ENROLLMENTS,
                "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role\n",
            )
        };
        let two_missing = oneroster::parse(&set(users(0..18)), &Limits::default());
        let p = plan(&two_missing, &snapshot, 10);
        assert_eq!(p.people.deactivated, 2);
        assert_eq!(
            p.deactivations
                .iter()
                .map(|d| d.external_id.as_str())
                .collect::<Vec<_>>(),
            ["t18", "t19"]
        );
        assert_eq!(p.deactivations[0].reason, "not in the bulk users.csv");
        assert_eq!(
            p.deactivation_check,
            DeactivationCheck {
                active_managed: 20,
                deactivating: 2,
                limit_percent: 10,
                exceeded: false
            }
        );
        let three_missing = oneroster::parse(&set(users(0..17)), &Limits::default());
        assert!(
            plan(&three_missing, &snapshot, 10)
                .deactivation_check
                .exceeded
        );

        // A row rejected for bad data is still listed: not deactivated.
        let mut csv = users(0..19);
        csv.push_str("t19,s1,aide,,Tester\n");
        let rejected = oneroster::parse(&set(csv), &Limits::default());
        let p = plan(&rejected, &snapshot, 10);
        assert_eq!(p.people.deactivated, 0);
        assert_eq!(p.rejected.len(), 1);

        // A delta file deactivates only what it says.
        let delta = good_set()
            .with(
                oneroster::MANIFEST,
                oneroster::tests::MANIFEST_BULK.replace("file.users,bulk", "file.users,delta"),
            )
            .with(
                USERS,
                "sourcedId,status,orgSourcedIds,role,givenName,familyName\n\
                 t3,tobedeleted,,,,\nnobody,tobedeleted,,,,\ngone,tobedeleted,,,,\n",
            )
            .with(
                oneroster::ENROLLMENTS,
                "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role\n",
            );
        let p = plan(&oneroster::parse(&delta, &Limits::default()), &snapshot, 10);
        assert_eq!(
            changes(&p)
                .into_iter()
                .filter(|c| c.1 != "d1" && c.1 != "s1" && c.1 != "s2")
                .collect::<Vec<_>>(),
            [
                (Change::Deactivated, "t3", vec!["active"]),
                (Change::Unchanged, "gone", vec![]),
            ]
        );
        assert_eq!(p.skipped.get(TOBEDELETED_UNKNOWN), Some(&1));
        assert_eq!(p.deactivations[0].reason, "status tobedeleted in users.csv");
    }

    #[test]
    fn references_and_emails_are_checked_against_the_tenant() {
        let mut snapshot = RosterSnapshot::default();
        let c1 = org("C-1", "Centre One");
        snapshot.organisations.push(c1.clone());
        snapshot
            .people
            .push(person(None, "Manual", Some("taken@x.example"), None));
        let csv = "external_id,given_name,family_name,email,organisation_external_id,role\n\
            p1,Ana,Lima,ana@x.example,C-1,teacher\n\
            p2,Bo,Chen,bo@x.example,C-9,\n\
            p3,Cy,Diaz,taken@x.example,,\n";
        let files = InMemory::default().with(people_csv::FILE, csv);
        let roster =
            people_csv::parse(&files, people_csv::FILE, FileMode::Bulk, &Limits::default());
        let p = plan(&roster, &snapshot, 10);
        assert_eq!(changes(&p), [(Change::Created, "p1", vec![])]);
        let rejected: Vec<(u64, &str)> = p
            .rejected
            .iter()
            .map(|r| (r.row, r.reason.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (
                    3,
                    "organisation_external_id: no organisation \"C-9\" in this tenant"
                ),
                (
                    4,
                    "email: another person in this tenant has this e-mail address"
                ),
            ]
        );

        // OneRoster: a user's org must be in orgs.csv or the tenant.
        let users = "sourcedId,orgSourcedIds,role,givenName,familyName\n\
            t1,C-1,teacher,Ana,Lima\n\
            t2,nowhere,teacher,Bo,Chen\n";
        let set = good_set().with(USERS, users).with(
            oneroster::ENROLLMENTS,
            "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role\ne1,c1,C-1,t1,teacher\ne2,c1,s404,t1,teacher\n",
        );
        let p = plan(&oneroster::parse(&set, &Limits::default()), &snapshot, 10);
        let rejected: Vec<(&str, u64, &str)> = p
            .rejected
            .iter()
            .map(|r| (r.file.as_str(), r.row, r.reason.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (
                    "enrollments.csv",
                    3,
                    "schoolSourcedId: organisation \"s404\" is neither in orgs.csv nor in this tenant"
                ),
                (
                    "users.csv",
                    3,
                    "orgSourcedIds: organisation \"nowhere\" is neither in orgs.csv nor in this tenant"
                ),
            ]
        );
        assert_eq!(p.person_writes[0].organisation.as_deref(), Some("C-1"));
        assert_eq!(p.skipped.get(oneroster::SKIP_ENROLLMENT), Some(&1));
    }
}
