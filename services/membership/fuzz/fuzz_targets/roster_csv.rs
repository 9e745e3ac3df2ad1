//! Arbitrary bytes as one file of a roster, in every role the parsers give a
//! file: a OneRoster set's manifest, orgs, users, academic sessions or
//! enrollments (the other files of the set valid), or the simple people CSV
//! in bulk or delta mode. The first byte picks the role, the rest is the
//! file. Whatever the bytes, parsing returns a report and never panics,
//! and what it reports holds together.

#![no_main]

use collegium_membership::roster::{
    FileMode, Limits, ParsedRoster, oneroster, people_csv, source::InMemory,
};
use libfuzzer_sys::fuzz_target;

const MANIFEST: &str = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n\
    file.orgs,bulk\nfile.users,bulk\nfile.academicSessions,bulk\nfile.enrollments,bulk\n";
const ORGS: &str = "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n\
    d1,,,District,district,D,\ns1,,,School,school,S,d1\n";
const USERS: &str = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,\
    userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,\
    password\nt1,,,true,s1,teacher,t1,,Ana,Lima,,,ana@example.org,,,,,\n";
const SESSIONS: &str = "sourcedId,status,dateLastModified,title,type,startDate,endDate,\
    parentSourcedId,schoolYear\ny1,,,2026-27,schoolYear,2026-08-01,2027-07-31,,2027\n";
const ENROLLMENTS: &str = "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,\
    userSourcedId,role,primary,beginDate,endDate\ne1,,,c1,s1,t1,teacher,true,,\n";

/// Small caps, so the size and row limits are reached too.
const LIMITS: Limits = Limits {
    max_file_bytes: 64 << 10,
    max_rows: 500,
};

fn check(roster: &ParsedRoster) {
    // Every rejection names a file and a row the file could have had.
    for r in &roster.rejected {
        assert!(!r.file.is_empty());
        assert!(r.row <= LIMITS.max_rows + 1, "{r:?}");
        assert!(!r.reason.is_empty());
    }
    for e in &roster.file_errors {
        assert!(!e.file.is_empty() && !e.message.is_empty(), "{e:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&role, file)) = data.split_first() else {
        return;
    };
    let mut files = [
        (oneroster::MANIFEST, MANIFEST.as_bytes()),
        (oneroster::ORGS, ORGS.as_bytes()),
        (oneroster::USERS, USERS.as_bytes()),
        (oneroster::ACADEMIC_SESSIONS, SESSIONS.as_bytes()),
        (oneroster::ENROLLMENTS, ENROLLMENTS.as_bytes()),
    ];
    match role % 7 {
        n @ 0..=4 => {
            files[n as usize].1 = file;
            let set = files
                .iter()
                .fold(InMemory::default(), |set, (name, bytes)| {
                    set.with(name, *bytes)
                });
            check(&oneroster::parse(&set, &LIMITS));
        }
        n => {
            let mode = if n == 5 {
                FileMode::Bulk
            } else {
                FileMode::Delta
            };
            let set = InMemory::default().with("people.csv", file);
            check(&people_csv::parse(&set, "people.csv", mode, &LIMITS));
        }
    }
});
