//! OneRoster 1.1 CSV: `manifest.csv` says which files the set has and whether
//! each is `bulk` or `delta`; `orgs.csv` and `users.csv` are imported,
//! `academicSessions.csv` and `enrollments.csv` are checked (ids, dates,
//! references) but not kept. What becomes of each row is in the rules of
//! [`super`]; this module only reads and checks, it never sees the tenant.
//!
//! Columns read (others, and extension columns, are ignored):
//!
//! | file | required | also read |
//! |---|---|---|
//! | manifest.csv | propertyName, value | |
//! | orgs.csv | sourcedId, name, type | status, parentSourcedId |
//! | users.csv | sourcedId, orgSourcedIds, role, givenName, familyName | status, enabledUser, email, phone |
//! | academicSessions.csv | sourcedId, title, type, startDate, endDate | status |
//! | enrollments.csv | sourcedId, classSourcedId, schoolSourcedId, userSourcedId, role | status |

use std::collections::{BTreeMap, HashMap};

use platform::{auth::Role, error::Violations};
use sha2::{Digest, Sha256};

use super::{
    FileError, FileMode, Limits, OrgRecord, OrgReference, ParsedRoster, PersonRecord, RecordStatus,
    Rejection, SourceKind, hex,
    source::RosterFiles,
    table::{Row, TableRead, read_table},
};
use crate::domain::{OrganisationKind, validate};

pub const MANIFEST: &str = "manifest.csv";
pub const ORGS: &str = "orgs.csv";
pub const USERS: &str = "users.csv";
pub const ACADEMIC_SESSIONS: &str = "academicSessions.csv";
pub const ENROLLMENTS: &str = "enrollments.csv";

/// Skip reasons of rows that are read but not kept.
pub const SKIP_SESSION: &str = "academic session (not kept)";
pub const SKIP_ENROLLMENT: &str = "enrollment (not kept)";

/// Opens `name` and reads it; `Ok(None)` when the set has no such file.
pub(super) fn read_file(
    files: &dyn RosterFiles,
    name: &str,
    required: &[&str],
    id_column: &str,
    limits: &Limits,
    each: impl FnMut(Result<Row<'_>, Rejection>),
) -> Result<Option<TableRead>, FileError> {
    let file = files.open(name).map_err(|e| FileError {
        file: name.to_string(),
        message: format!("cannot be opened: {e}"),
    })?;
    match file {
        None => Ok(None),
        Some(file) => read_table(
            name,
            file.reader,
            file.len,
            required,
            id_column,
            limits,
            each,
        )
        .map(Some),
    }
}

/// The ids seen so far in one file, with the row each was first on.
#[derive(Default)]
pub(super) struct SeenIds(HashMap<String, u64>);

impl SeenIds {
    /// `Err(reason)` when the row has no id or repeats an earlier one.
    pub(super) fn check(&mut self, row: &Row<'_>, column: &str) -> Result<(), String> {
        let id = row.id();
        if id.is_empty() {
            return Err(format!("{column} is empty"));
        }
        if let Some(first) = self.0.get(id) {
            return Err(format!("duplicate {column} (first on row {first})"));
        }
        self.0.insert(id.to_string(), row.at.row);
        Ok(())
    }
}

pub(super) fn status(row: &Row<'_>) -> Result<RecordStatus, String> {
    match row.get("status").to_ascii_lowercase().as_str() {
        "" | "active" => Ok(RecordStatus::Active),
        "tobedeleted" => Ok(RecordStatus::ToBeDeleted),
        other => Err(format!("status {other:?} is not active or tobedeleted")),
    }
}

/// `reason` of violations gathered in `v`, or `Ok`.
pub(super) fn violations(v: Violations) -> Result<(), String> {
    v.finish().map_err(|e| super::reason(&e))
}

/// Reads a OneRoster 1.1 CSV set. Never fails: every problem is in the
/// returned roster's `file_errors` or `rejected`.
pub fn parse(files: &dyn RosterFiles, limits: &Limits) -> ParsedRoster {
    let mut roster = ParsedRoster::new(SourceKind::Oneroster, USERS);
    let mut hasher = Sha256::new();
    hasher.update(b"oneroster\0");
    let record = |hasher: &mut Sha256, name: &str, read: &Option<TableRead>| {
        if let Some(read) = read {
            hasher.update(name.as_bytes());
            hasher.update(b"\0");
            hasher.update(read.digest);
        }
    };

    // The manifest first: without it nothing else can be read right.
    let mut properties: BTreeMap<String, String> = BTreeMap::new();
    let mut rejected = vec![];
    let manifest = read_file(
        files,
        MANIFEST,
        &["propertyName", "value"],
        "propertyName",
        limits,
        |row| match row {
            Ok(row) => {
                properties.insert(row.id().to_string(), row.get("value").to_string());
            }
            Err(r) => rejected.push(r),
        },
    );
    roster.rejected.append(&mut rejected);
    let modes = match manifest {
        Err(e) => Err(e),
        Ok(None) => Err(FileError {
            file: MANIFEST.into(),
            message: "missing: a OneRoster 1.1 set starts with manifest.csv (propertyName,value)"
                .into(),
        }),
        Ok(read @ Some(_)) => {
            record(&mut hasher, MANIFEST, &read);
            manifest_modes(&properties, &mut roster.notes)
        }
    };
    let modes = match modes {
        Ok(modes) => modes,
        Err(e) => {
            roster.file_errors.push(e);
            roster.source_hash = hex(&hasher.finalize());
            return roster;
        }
    };
    roster.orgs_mode = modes[0];
    roster.users_mode = modes[1];

    for (name, mode) in [ORGS, USERS, ACADEMIC_SESSIONS, ENROLLMENTS]
        .into_iter()
        .zip(modes)
    {
        let read = match mode {
            FileMode::Absent => {
                if matches!(files.open(name), Ok(Some(_))) {
                    roster.notes.push(format!(
                        "{name} is in the set but the manifest says absent: not read"
                    ));
                }
                continue;
            }
            _ => match name {
                ORGS => read_orgs(files, limits, &mut roster),
                USERS => read_users(files, limits, &mut roster),
                ACADEMIC_SESSIONS => read_sessions(files, limits, &mut roster),
                _ => read_enrollments(files, limits, &mut roster),
            },
        };
        match read {
            Ok(Some(read)) => record(&mut hasher, name, &Some(read)),
            Ok(None) => roster.file_errors.push(FileError {
                file: name.to_string(),
                message: format!(
                    "missing: the manifest lists it as {}",
                    if mode == FileMode::Bulk {
                        "bulk"
                    } else {
                        "delta"
                    }
                ),
            }),
            Err(e) => roster.file_errors.push(e),
        }
    }
    roster.source_hash = hex(&hasher.finalize());
    roster
}

/// The modes of orgs, users, academicSessions and enrollments, in that order.
fn manifest_modes(
    properties: &BTreeMap<String, String>,
    notes: &mut Vec<String>,
) -> Result<[FileMode; 4], FileError> {
    let error = |message: String| FileError {
        file: MANIFEST.into(),
        message,
    };
    match properties.get("oneroster.version").map(String::as_str) {
        Some("1.1") => {}
        Some(v) => {
            return Err(error(format!(
                "oneroster.version is {v:?}; this import reads OneRoster 1.1"
            )));
        }
        None => return Err(error("has no oneroster.version (1.1)".into())),
    }
    let mut modes = [FileMode::Absent; 4];
    for (i, name) in ["orgs", "users", "academicSessions", "enrollments"]
        .into_iter()
        .enumerate()
    {
        let key = format!("file.{name}");
        modes[i] = match properties.get(&key) {
            None => {
                notes.push(format!("{MANIFEST} has no {key}: read as absent"));
                FileMode::Absent
            }
            Some(value) => FileMode::parse(value).ok_or_else(|| {
                error(format!(
                    "{key} is {value:?}; it must be bulk, delta or absent"
                ))
            })?,
        };
    }
    let others: Vec<String> = properties
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("file.")?;
            let read = ["orgs", "users", "academicSessions", "enrollments"].contains(&name);
            (!read && FileMode::parse(v) != Some(FileMode::Absent)).then(|| format!("{name}.csv"))
        })
        .collect();
    if !others.is_empty() {
        notes.push(format!(
            "not imported (Collegium keeps no classes, courses or results): {}",
            others.join(", ")
        ));
    }
    Ok(modes)
}

fn read_orgs(
    files: &dyn RosterFiles,
    limits: &Limits,
    roster: &mut ParsedRoster,
) -> Result<Option<TableRead>, FileError> {
    let mut seen = SeenIds::default();
    read_file(
        files,
        ORGS,
        &["sourcedId", "name", "type"],
        "sourcedId",
        limits,
        |row| {
            let row = match row {
                Ok(row) => row,
                Err(r) => {
                    if let Some(id) = &r.id {
                        roster.rejected_orgs.insert(id.clone());
                    }
                    roster.rejected.push(r);
                    return;
                }
            };
            if let Err(reason) = seen.check(&row, "sourcedId") {
                roster.rejected.push(row.reject(reason));
                return;
            }
            let id = row.id().to_string();
            let outcome = (|| {
                let status = status(&row)?;
                let kind = match row.get("type").to_ascii_lowercase().as_str() {
                    "school" => OrganisationKind::School,
                    "district" | "local" | "state" | "national" => OrganisationKind::DistrictOffice,
                    "department" => {
                        let parent = row.get("parentSourcedId");
                        if !parent.is_empty() {
                            roster.org_parents.insert(id.clone(), parent.to_string());
                        }
                        return Ok(Some("department (its people belong to its parent org)"));
                    }
                    other => {
                        return Err(format!(
                            "type {other:?} is not a OneRoster org type \
                         (school, district, department, local, state, national)"
                        ));
                    }
                };
                if status == RecordStatus::ToBeDeleted {
                    return Ok(Some("organisation tobedeleted (organisations are kept)"));
                }
                let mut v = Violations::new();
                validate::name(&mut v, "name", row.get("name"));
                validate::external_id(&mut v, "sourcedId", Some(&id));
                violations(v)?;
                roster.orgs.push(OrgRecord {
                    source: row.at.clone(),
                    external_id: id.clone(),
                    name: row.get("name").to_string(),
                    kind,
                });
                Ok(None)
            })();
            match outcome {
                Ok(skipped) => {
                    roster.listed_orgs.insert(id);
                    if let Some(reason) = skipped {
                        roster.skip(reason);
                    }
                }
                Err(reason) => {
                    roster.rejected_orgs.insert(id);
                    roster.rejected.push(row.reject(reason));
                }
            }
        },
    )
}

fn read_users(
    files: &dyn RosterFiles,
    limits: &Limits,
    roster: &mut ParsedRoster,
) -> Result<Option<TableRead>, FileError> {
    let mut seen = SeenIds::default();
    let mut emails: HashMap<String, u64> = HashMap::new();
    read_file(
        files,
        USERS,
        &[
            "sourcedId",
            "orgSourcedIds",
            "role",
            "givenName",
            "familyName",
        ],
        "sourcedId",
        limits,
        |row| {
            let row = match row {
                Ok(row) => row,
                Err(r) => {
                    if let Some(id) = &r.id {
                        roster.listed_users.insert(id.clone());
                    }
                    roster.rejected.push(r);
                    return;
                }
            };
            if let Err(reason) = seen.check(&row, "sourcedId") {
                roster.rejected.push(row.reject(reason));
                return;
            }
            roster.listed_users.insert(row.id().to_string());
            match user(&row, &mut emails) {
                Ok(User::Person(p)) => roster.people.push(*p),
                Ok(User::Skipped(role)) => roster.skip(&role),
                Err(reason) => roster.rejected.push(row.reject(reason)),
            }
        },
    )
}

enum User {
    Person(Box<PersonRecord>),
    Skipped(String),
}

fn user(row: &Row<'_>, emails: &mut HashMap<String, u64>) -> Result<User, String> {
    let status = status(row)?;
    let role = row.get("role").to_ascii_lowercase();
    let role = match role.as_str() {
        "teacher" => Some(Role::Teacher),
        "administrator" => Some(Role::Principal),
        "aide" => None,
        "student" | "guardian" | "parent" | "relative" | "proctor" => {
            return Ok(User::Skipped(role));
        }
        "" if status == RecordStatus::ToBeDeleted => None,
        other => {
            return Err(format!(
                "role {other:?} is not a OneRoster 1.1 role (teacher, administrator, aide, \
                 student, guardian, parent, relative, proctor)"
            ));
        }
    };
    let external_id = row.id().to_string();
    if status == RecordStatus::ToBeDeleted {
        // A delta's deletion needs nothing but the id.
        return Ok(User::Person(Box::new(PersonRecord {
            source: row.at.clone(),
            external_id,
            status,
            given_name: String::new(),
            family_name: String::new(),
            email: None,
            phone: None,
            org_refs: vec![],
            role,
            enabled: false,
        })));
    }
    let enabled = match row.get("enabledUser").to_ascii_lowercase().as_str() {
        "" | "true" => true,
        "false" => false,
        other => return Err(format!("enabledUser {other:?} is not true or false")),
    };
    let org_refs: Vec<String> = row
        .get("orgSourcedIds")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let mut v = Violations::new();
    if org_refs.is_empty() {
        v.add("orgSourcedIds", "must name at least one org");
    }
    validate::name(&mut v, "givenName", row.get("givenName"));
    validate::name(&mut v, "familyName", row.get("familyName"));
    let email = Some(row.get("email"))
        .filter(|e| !e.is_empty())
        .map(|e| validate::email(&mut v, "email", e));
    let phone = validate::phone(&mut v, "phone", row.get("phone"));
    validate::external_id(&mut v, "sourcedId", Some(&external_id));
    violations(v)?;
    if let Some(e) = &email {
        if let Some(first) = emails.get(e) {
            return Err(format!("email: {e:?} is also on row {first}"));
        }
        emails.insert(e.clone(), row.at.row);
    }
    Ok(User::Person(Box::new(PersonRecord {
        source: row.at.clone(),
        external_id,
        status,
        given_name: row.get("givenName").to_string(),
        family_name: row.get("familyName").to_string(),
        email,
        phone,
        org_refs,
        role,
        enabled,
    })))
}

fn read_sessions(
    files: &dyn RosterFiles,
    limits: &Limits,
    roster: &mut ParsedRoster,
) -> Result<Option<TableRead>, FileError> {
    let mut seen = SeenIds::default();
    read_file(
        files,
        ACADEMIC_SESSIONS,
        &["sourcedId", "title", "type", "startDate", "endDate"],
        "sourcedId",
        limits,
        |row| {
            let row = match row {
                Ok(row) => row,
                Err(r) => return roster.rejected.push(r),
            };
            let outcome = seen.check(&row, "sourcedId").and_then(|()| {
                status(&row)?;
                let ty = row.get("type");
                if !["gradingperiod", "semester", "schoolyear", "term"]
                    .contains(&ty.to_ascii_lowercase().as_str())
                {
                    return Err(format!(
                        "type {ty:?} is not gradingPeriod, semester, schoolYear or term"
                    ));
                }
                let mut v = Violations::new();
                validate::name(&mut v, "title", row.get("title"));
                let start = validate::date(&mut v, "startDate", row.get("startDate"));
                let end = validate::date(&mut v, "endDate", row.get("endDate"));
                if let (Some(start), Some(end)) = (start, end)
                    && end < start
                {
                    v.add("endDate", "is before startDate");
                }
                violations(v)
            });
            match outcome {
                Ok(()) => roster.skip(SKIP_SESSION),
                Err(reason) => roster.rejected.push(row.reject(reason)),
            }
        },
    )
}

fn read_enrollments(
    files: &dyn RosterFiles,
    limits: &Limits,
    roster: &mut ParsedRoster,
) -> Result<Option<TableRead>, FileError> {
    let mut seen = SeenIds::default();
    let users_bulk = roster.users_mode == FileMode::Bulk;
    read_file(
        files,
        ENROLLMENTS,
        &[
            "sourcedId",
            "classSourcedId",
            "schoolSourcedId",
            "userSourcedId",
            "role",
        ],
        "sourcedId",
        limits,
        |row| {
            let row = match row {
                Ok(row) => row,
                Err(r) => return roster.rejected.push(r),
            };
            let outcome = seen.check(&row, "sourcedId").and_then(|()| {
                status(&row)?;
                let mut v = Violations::new();
                let user = row.get("userSourcedId");
                if user.is_empty() {
                    v.add("userSourcedId", "must not be empty");
                } else if users_bulk && !roster.listed_users.contains(user) {
                    v.add("userSourcedId", format!("user {user:?} is not in {USERS}"));
                }
                if row.get("classSourcedId").is_empty() {
                    v.add("classSourcedId", "must not be empty");
                }
                let school = row.get("schoolSourcedId");
                if school.is_empty() {
                    v.add("schoolSourcedId", "must not be empty");
                }
                violations(v)
            });
            if let Err(reason) = outcome {
                roster.rejected.push(row.reject(reason));
                return;
            }
            let school = row.get("schoolSourcedId");
            if roster.listed_orgs.contains(school) {
                roster.skip(SKIP_ENROLLMENT);
            } else {
                // Perhaps in the tenant already: the plan decides.
                roster.org_references.push(OrgReference {
                    source: row.at.clone(),
                    id: Some(row.id().to_string()),
                    column: "schoolSourcedId",
                    org: school.to_string(),
                    skip_as: SKIP_ENROLLMENT,
                });
            }
        },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::roster::source::InMemory;

    fn sorted(set: &HashSet<String>) -> Vec<&str> {
        let mut v: Vec<&str> = set.iter().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    pub(crate) const MANIFEST_BULK: &str = "propertyName,value\n\
        manifest.version,1.0\noneroster.version,1.1\n\
        file.academicSessions,bulk\nfile.categories,absent\nfile.classes,bulk\n\
        file.classResources,absent\nfile.courses,absent\nfile.demographics,absent\n\
        file.enrollments,bulk\nfile.lineItems,absent\nfile.orgs,bulk\nfile.results,absent\n\
        file.users,bulk\nsource.systemName,Test SIS\n";

    pub(crate) const ORGS_CSV: &str = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n\
        d1,,,Lakeside District,district,,\n\
        s1,,,Hill School,school,H1,d1\n\
        s2,,,Vale School,school,V1,d1\n\
        dep1,,,Hill Maths,department,,s1\n";

    pub(crate) const USERS_CSV: &str = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n\
        t1,,,true,s1,teacher,ana,,Ana,Lima,,,Ana@Hill.example,,,,,\n\
        t2,,,true,\"dep1,s2\",teacher,bo,,Bo,Chen,,,bo@hill.example,,+1 555 0100,,,\n\
        a1,,,true,d1,administrator,cy,,Cy,Diaz,,,cy@lakeside.example,,,,,\n\
        x1,,,false,s2,aide,di,,Di,Eze,,,,,,,,\n\
        st1,,,true,s1,student,st1,,Sam,Student,,,,,,,05,\n\
        st2,,,true,s1,student,st2,,Sue,Student,,,,,,,05,\n\
        p1,,,true,s1,parent,p1,,Pat,Parent,,,,,,,,\n";

    pub(crate) const SESSIONS_CSV: &str = "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear\n\
        y26,,,2026-27,schoolYear,2026-08-01,2027-07-31,,2027\n";

    pub(crate) const ENROLLMENTS_CSV: &str = "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate\n\
        e1,,,c1,s1,t1,teacher,true,,\n\
        e2,,,c1,s1,st1,student,false,,\n";

    pub(crate) fn good_set() -> InMemory {
        InMemory::default()
            .with(MANIFEST, MANIFEST_BULK)
            .with(ORGS, ORGS_CSV)
            .with(USERS, USERS_CSV)
            .with(ACADEMIC_SESSIONS, SESSIONS_CSV)
            .with(ENROLLMENTS, ENROLLMENTS_CSV)
    }

    fn reasons(roster: &ParsedRoster) -> Vec<(String, u64, String)> {
        roster
            .rejected
            .iter()
            .map(|r| (r.file.clone(), r.row, r.reason.clone()))
            .collect()
    }

    #[test]
    fn a_good_set_maps_orgs_and_staff_and_skips_students() {
        let roster = parse(&good_set(), &Limits::default());
        assert_eq!(roster.file_errors, vec![]);
        assert_eq!(reasons(&roster), vec![]);
        assert_eq!(
            (roster.orgs_mode, roster.users_mode),
            (FileMode::Bulk, FileMode::Bulk)
        );
        let orgs: Vec<(&str, OrganisationKind)> = roster
            .orgs
            .iter()
            .map(|o| (o.external_id.as_str(), o.kind))
            .collect();
        assert_eq!(
            orgs,
            [
                ("d1", OrganisationKind::DistrictOffice),
                ("s1", OrganisationKind::School),
                ("s2", OrganisationKind::School)
            ]
        );
        assert_eq!(
            roster.org_parents.get("dep1").map(String::as_str),
            Some("s1")
        );
        let people: Vec<(&str, Option<Role>, bool, Option<&str>)> = roster
            .people
            .iter()
            .map(|p| {
                (
                    p.external_id.as_str(),
                    p.role,
                    p.enabled,
                    p.email.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            people,
            [
                ("t1", Some(Role::Teacher), true, Some("ana@hill.example")),
                ("t2", Some(Role::Teacher), true, Some("bo@hill.example")),
                (
                    "a1",
                    Some(Role::Principal),
                    true,
                    Some("cy@lakeside.example")
                ),
                ("x1", None, false, None),
            ]
        );
        assert_eq!(roster.people[1].org_refs, ["dep1", "s2"]);
        assert_eq!(roster.people[1].phone.as_deref(), Some("+1 555 0100"));
        assert_eq!(
            roster.skipped,
            BTreeMap::from([
                (SKIP_SESSION.to_string(), 1),
                (
                    "department (its people belong to its parent org)".to_string(),
                    1
                ),
                (SKIP_ENROLLMENT.to_string(), 2),
                ("parent".to_string(), 1),
                ("student".to_string(), 2),
            ])
        );
        assert_eq!(
            sorted(&roster.listed_users),
            ["a1", "p1", "st1", "st2", "t1", "t2", "x1"]
        );
        assert!(
            roster.notes[0].contains("classes.csv"),
            "{:?}",
            roster.notes
        );
        assert_eq!(roster.source_hash.len(), 64);
        assert_eq!(
            parse(&good_set(), &Limits::default()).source_hash,
            roster.source_hash,
            "the same files hash the same"
        );
        let edited = good_set().with(USERS, USERS_CSV.replace("Ana,Lima", "Ana,Lim"));
        assert_ne!(
            parse(&edited, &Limits::default()).source_hash,
            roster.source_hash
        );
    }

    #[test]
    fn bad_rows_are_rejected_with_their_row_and_reason() {
        let users = "sourcedId,enabledUser,orgSourcedIds,role,givenName,familyName,email\n\
            t1,true,s1,teacher,Ana,Lima,ana@x.example\n\
            t1,true,s1,teacher,Ana,Again,ana2@x.example\n\
            t3,true,s1,teacher,,Lima,not-an-email\n\
            t4,true,s1,wizard,Wiz,Ard,\n\
            t5,maybe,s1,teacher,May,Be,\n\
            t6,true,,teacher,No,Org,\n\
            t7,true,s1,teacher,Dup,Mail,ANA@x.example\n\
            ,true,s1,teacher,No,Id,\n";
        let set = good_set()
            .with(USERS, users)
            .with(ENROLLMENTS, ENROLLMENTS_CSV.lines().next().unwrap());
        let roster = parse(&set, &Limits::default());
        assert_eq!(roster.file_errors, vec![]);
        let r = reasons(&roster);
        let expected = [
            (3, "duplicate sourcedId (first on row 2)"),
            (
                4,
                "givenName: must not be empty; email: \"not-an-email\" is not an e-mail address",
            ),
            (5, "role \"wizard\" is not a OneRoster 1.1 role"),
            (6, "enabledUser \"maybe\" is not true or false"),
            (7, "orgSourcedIds: must name at least one org"),
            (8, "email: \"ana@x.example\" is also on row 2"),
            (9, "sourcedId is empty"),
        ];
        assert_eq!(r.len(), expected.len(), "{r:?}");
        for ((file, row, reason), (want_row, want)) in r.iter().zip(expected) {
            assert_eq!((file.as_str(), *row), (USERS, want_row));
            assert!(
                reason.starts_with(want),
                "row {row}: {reason:?} should start {want:?}"
            );
        }
        assert_eq!(roster.people.len(), 1);
        // Rejected rows still count as listed: a bulk file does not deactivate them.
        assert!(roster.listed_users.contains("t3") && roster.listed_users.contains("t7"));
    }

    #[test]
    fn manifest_problems_stop_the_import() {
        let cases = [
            (
                None,
                "missing: a OneRoster 1.1 set starts with manifest.csv",
            ),
            (
                Some("propertyName,value\noneroster.version,1.0\n"),
                "oneroster.version is \"1.0\"",
            ),
            (
                Some("propertyName,value\nmanifest.version,1.0\n"),
                "has no oneroster.version",
            ),
            (
                Some("propertyName,value\noneroster.version,1.1\nfile.users,full\n"),
                "file.users is \"full\"",
            ),
            (Some("name,value\n"), "the header lacks column propertyName"),
        ];
        for (manifest, want) in cases {
            let mut set = good_set();
            match manifest {
                Some(m) => set.0.insert(MANIFEST.into(), m.as_bytes().to_vec()),
                None => set.0.remove(MANIFEST),
            };
            let roster = parse(&set, &Limits::default());
            assert_eq!(roster.file_errors.len(), 1, "{manifest:?}");
            assert_eq!(roster.file_errors[0].file, MANIFEST);
            assert!(
                roster.file_errors[0].message.starts_with(want),
                "{:?} should start {want:?}",
                roster.file_errors[0].message
            );
            assert!(roster.people.is_empty());
        }
    }

    #[test]
    fn the_manifest_decides_which_files_are_read() {
        let manifest = MANIFEST_BULK
            .replace("file.users,bulk", "file.users,delta")
            .replace("file.enrollments,bulk", "file.enrollments,absent");
        let mut set = good_set().with(MANIFEST, manifest);
        set.0.remove(ACADEMIC_SESSIONS);
        let roster = parse(&set, &Limits::default());
        assert_eq!(roster.users_mode, FileMode::Delta);
        assert_eq!(
            roster.file_errors,
            vec![FileError {
                file: ACADEMIC_SESSIONS.into(),
                message: "missing: the manifest lists it as bulk".into()
            }]
        );
        assert!(
            roster.notes.iter().any(
                |n| n.starts_with("enrollments.csv is in the set but the manifest says absent")
            ),
            "{:?}",
            roster.notes
        );
    }

    #[test]
    fn delta_deletions_need_only_an_id_and_orgs_report_their_problems() {
        let users = "sourcedId,status,orgSourcedIds,role,givenName,familyName\n\
            t1,tobedeleted,,,,\n\
            t2,retired,s1,teacher,Bo,Chen\n";
        let orgs = "sourcedId,status,name,type\n\
            s1,,Hill,school\n\
            s9,tobedeleted,Old,school\n\
            s3,,,school\n\
            s4,,Moon Base,spaceport\n";
        let set = good_set()
            .with(USERS, users)
            .with(ORGS, orgs)
            .with(ENROLLMENTS, "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role\ne1,c1,s7,t1,teacher\ne2,c1,s1,zz,teacher\n");
        let roster = parse(&set, &Limits::default());
        assert_eq!(roster.people.len(), 1);
        assert_eq!(roster.people[0].status, RecordStatus::ToBeDeleted);
        let r = reasons(&roster);
        assert_eq!(r[0], (ORGS.into(), 4, "name: must not be empty".into()));
        assert!(r[1].2.starts_with("type \"spaceport\""), "{r:?}");
        assert_eq!(
            r[2],
            (
                USERS.into(),
                3,
                "status \"retired\" is not active or tobedeleted".into()
            )
        );
        assert_eq!(
            r[3],
            (
                ENROLLMENTS.into(),
                3,
                "userSourcedId: user \"zz\" is not in users.csv".into()
            )
        );
        assert_eq!(roster.org_references.len(), 1, "s7 is left for the plan");
        assert_eq!(roster.org_references[0].org, "s7");
        assert_eq!(
            roster
                .skipped
                .get("organisation tobedeleted (organisations are kept)"),
            Some(&1)
        );
        assert!(roster.rejected_orgs.contains("s3") && roster.rejected_orgs.contains("s4"));
    }
}
