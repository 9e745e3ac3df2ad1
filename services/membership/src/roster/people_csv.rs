//! `collegium-people.csv`: the simple roster for tenants without OneRoster.
//!
//! One UTF-8 CSV file, a header row, one person a row:
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `external_id` | yes | the person's id in your system; the key of the import |
//! | `given_name`, `family_name` | yes | |
//! | `email` | column yes, value may be empty | normalised to lower case; unique in the tenant |
//! | `organisation_external_id` | no | an organisation already in the tenant, by its external id |
//! | `role` | no | `teacher` (granted the teacher role), `principal` (the principal role), `aide` or empty (no role) |
//! | `phone` | no | kept when empty |
//!
//! The file is read as a bulk file (people it lacks are deactivated) unless
//! the import is told it is a delta. Every rule of [`super`] applies.

use std::collections::HashMap;

use platform::{auth::Role, error::Violations};
use sha2::{Digest, Sha256};

use super::{
    FileMode, Limits, ParsedRoster, PersonRecord, RecordStatus, SourceKind, hex,
    oneroster::{SeenIds, read_file, violations},
    source::RosterFiles,
    table::Row,
};
use crate::domain::validate;

/// The file's conventional name.
pub const FILE: &str = "collegium-people.csv";
pub const REQUIRED: [&str; 4] = ["external_id", "given_name", "family_name", "email"];

/// Reads the people file `name` of `files` as a `mode` (bulk or delta) file.
/// Never fails: problems are in the roster's `file_errors` and `rejected`.
pub fn parse(files: &dyn RosterFiles, name: &str, mode: FileMode, limits: &Limits) -> ParsedRoster {
    let mut roster = ParsedRoster::new(SourceKind::PeopleCsv, name);
    roster.users_mode = mode;
    let mut seen = SeenIds::default();
    let mut emails: HashMap<String, u64> = HashMap::new();
    let read = read_file(files, name, &REQUIRED, "external_id", limits, |row| {
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
        if let Err(reason) = seen.check(&row, "external_id") {
            roster.rejected.push(row.reject(reason));
            return;
        }
        roster.listed_users.insert(row.id().to_string());
        match person(&row, &mut emails) {
            Ok(p) => roster.people.push(p),
            Err(reason) => roster.rejected.push(row.reject(reason)),
        }
    });
    let mut hasher = Sha256::new();
    hasher.update(b"people_csv\0");
    hasher.update(if mode == FileMode::Delta {
        b"delta\0"
    } else {
        b"bulk\0\0"
    });
    match read {
        Ok(Some(read)) => hasher.update(read.digest),
        Ok(None) => roster.file_errors.push(super::FileError {
            file: name.to_string(),
            message: "missing".into(),
        }),
        Err(e) => roster.file_errors.push(e),
    }
    roster.source_hash = hex(&hasher.finalize());
    roster
}

fn person(row: &Row<'_>, emails: &mut HashMap<String, u64>) -> Result<PersonRecord, String> {
    let role = match row.get("role").to_ascii_lowercase().as_str() {
        "teacher" => Some(Role::Teacher),
        "principal" | "administrator" => Some(Role::Principal),
        "" | "aide" => None,
        other => {
            return Err(format!(
                "role: {other:?} is not teacher, principal, aide or empty"
            ));
        }
    };
    let external_id = row.id().to_string();
    let mut v = Violations::new();
    validate::name(&mut v, "given_name", row.get("given_name"));
    validate::name(&mut v, "family_name", row.get("family_name"));
    let email = Some(row.get("email"))
        .filter(|e| !e.is_empty())
        .map(|e| validate::email(&mut v, "email", e));
    let phone = validate::phone(&mut v, "phone", row.get("phone"));
    validate::external_id(&mut v, "external_id", Some(&external_id));
    violations(v)?;
    if let Some(e) = &email {
        if let Some(first) = emails.get(e) {
            return Err(format!("email: {e:?} is also on row {first}"));
        }
        emails.insert(e.clone(), row.at.row);
    }
    let org = row.get("organisation_external_id");
    Ok(PersonRecord {
        source: row.at.clone(),
        external_id,
        status: RecordStatus::Active,
        given_name: row.get("given_name").to_string(),
        family_name: row.get("family_name").to_string(),
        email,
        phone,
        org_refs: if org.is_empty() {
            vec![]
        } else {
            vec![org.to_string()]
        },
        role,
        enabled: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::source::InMemory;

    #[test]
    fn the_simple_file_reads_people_and_rejects_bad_rows() {
        let csv = "external_id,given_name,family_name,email,organisation_external_id,role\n\
            p1,Ana,Lima,ana@x.example,C-1,teacher\n\
            p2,Bo,Chen,,,principal\n\
            p3,Cy,Diaz,cy@,C-1,\n\
            p4,Di,Eze,di@x.example,C-1,janitor\n\
            p1,Ana,Again,ana2@x.example,,\n";
        let files = InMemory::default().with(FILE, csv);
        let roster = parse(&files, FILE, FileMode::Bulk, &Limits::default());
        assert_eq!(roster.file_errors, vec![]);
        let people: Vec<(&str, Option<Role>, Vec<String>)> = roster
            .people
            .iter()
            .map(|p| (p.external_id.as_str(), p.role, p.org_refs.clone()))
            .collect();
        assert_eq!(
            people,
            [
                ("p1", Some(Role::Teacher), vec!["C-1".to_string()]),
                ("p2", Some(Role::Principal), vec![]),
            ]
        );
        let rejected: Vec<(u64, &str)> = roster
            .rejected
            .iter()
            .map(|r| (r.row, r.reason.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (4, "email: \"cy@\" is not an e-mail address"),
                (
                    5,
                    "role: \"janitor\" is not teacher, principal, aide or empty"
                ),
                (6, "duplicate external_id (first on row 2)"),
            ]
        );
        assert_eq!(roster.users_mode, FileMode::Bulk);
        let delta = parse(&files, FILE, FileMode::Delta, &Limits::default());
        assert_ne!(
            delta.source_hash, roster.source_hash,
            "the mode is part of the source"
        );
    }

    #[test]
    fn a_file_without_the_columns_is_refused_whole() {
        let files = InMemory::default().with(FILE, "id,name\n1,Ana\n");
        let roster = parse(&files, FILE, FileMode::Bulk, &Limits::default());
        assert_eq!(roster.file_errors.len(), 1);
        assert_eq!(
            roster.file_errors[0].message,
            "the header lacks columns external_id, given_name, family_name, email (it has: id, name)"
        );
        let missing = parse(
            &InMemory::default(),
            FILE,
            FileMode::Bulk,
            &Limits::default(),
        );
        assert_eq!(missing.file_errors[0].message, "missing");
    }
}
