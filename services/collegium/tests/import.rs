//! `collegium import` as an operator runs it, against a dev data directory
//! made with `collegium tenant create`: the dry run shows the diff and writes
//! nothing, `--apply` writes it, the same files again change nothing, the
//! threshold stops a mass deactivation, and mistakes get clear messages.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_collegium");

/// A directory of one test, removed afterwards.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("collegium-{what}-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn collegium<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(BIN)
        .args(args)
        .env_remove("COLLEGIUM_DATA_DIR")
        .env_remove("COLLEGIUM_DATABASE_URL")
        .output()
        .expect("collegium runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

const USERS_HEADER: &str = "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,\
    username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,\
    grades,password\n";

/// Writes a OneRoster set with `users` rows into `dir`.
fn write_set(dir: &Path, users: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("manifest.csv"),
        "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\nfile.orgs,bulk\n\
         file.users,bulk\nfile.enrollments,absent\nfile.academicSessions,absent\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("orgs.csv"),
        "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n\
         d1,,,Lakeside District,district,,\ns1,,,Hill Elementary,school,,d1\n",
    )
    .unwrap();
    std::fs::write(dir.join("users.csv"), format!("{USERS_HEADER}{users}")).unwrap();
}

const USERS: &str = "t1,,,true,s1,teacher,,,Ana,Lima,,,ana.lima@lakeside.example,,,,,\n\
    t2,,,true,s1,teacher,,,Bo,Chen,,,bo.chen@lakeside.example,,,,,\n\
    a1,,,true,d1,administrator,,,Cy,Diaz,,,cy.diaz@lakeside.example,,,,,\n\
    t4,,,true,s1,teacher,,,Di,Eze,,,di@,,,,,\n\
    st1,,,true,s1,student,,,Sam,Pupil,,,,,,,03,\n";

/// A data directory with tenant `lakeside`, made the way an operator makes it.
fn data_dir() -> TempDir {
    let data = TempDir::new("import-data");
    let out = collegium([
        OsStr::new("tenant"),
        OsStr::new("create"),
        OsStr::new("--slug"),
        OsStr::new("lakeside"),
        OsStr::new("--name"),
        OsStr::new("Lakeside District"),
        OsStr::new("--kind"),
        OsStr::new("district"),
        OsStr::new("--data-dir"),
        data.0.as_os_str(),
    ]);
    succeeded(&out);
    data
}

fn import(kind: &str, source: &Path, data: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("import"),
        OsStr::new(kind),
        source.as_os_str(),
        OsStr::new("--tenant"),
        OsStr::new("lakeside"),
        OsStr::new("--data-dir"),
        data.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    collegium(args)
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}):\n{}", stdout(out)))
}

#[test]
fn a_oneroster_set_is_shown_then_applied_and_a_rerun_changes_nothing() {
    let data = data_dir();
    let files = TempDir::new("import-set");
    write_set(&files.0, USERS);

    // The dry run: the diff, and nothing written.
    let out = import("oneroster", &files.0, &data.0, &[]);
    succeeded(&out);
    let text = stdout(&out);
    assert!(
        text.starts_with(
            "Roster import into \"lakeside\" from OneRoster 1.1 CSV: dry run, nothing written\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\norganisations          2        0            0          0\n"),
        "{text}"
    );
    assert!(
        text.contains("\npeople                 3        0            0          0\n"),
        "{text}"
    );
    assert!(
        text.contains("roles to grant: 3   rejected rows: 1   skipped rows: 1"),
        "{text}"
    );
    assert!(text.contains("skipped: student: 1"), "{text}");
    assert!(text.contains("  created      person        t1 "), "{text}");
    assert!(
        text.contains("  users.csv row 5 (t4): email: \"di@\" is not an e-mail address"),
        "{text}"
    );
    assert!(
        text.ends_with("Nothing was written. Add --apply to write these changes.\n"),
        "{text}"
    );

    let out = import("oneroster", &files.0, &data.0, &["--format", "json"]);
    succeeded(&out);
    let dry = json(&out);
    assert_eq!(dry["outcome"], "dry_run");
    assert_eq!(
        dry["counts"]["people"]["created"], 3,
        "the first dry run wrote nothing"
    );
    assert_eq!(dry["rejected"][0]["row"], 5);
    assert_eq!(dry["job"], Value::Null);

    // Applied.
    let out = import(
        "oneroster",
        &files.0,
        &data.0,
        &["--apply", "--format", "json"],
    );
    succeeded(&out);
    let applied = json(&out);
    assert_eq!(applied["outcome"], "applied");
    assert_eq!(applied["counts"]["people"]["created"], 3);
    assert_eq!(applied["counts"]["organisations"]["created"], 2);
    assert_eq!(applied["counts"]["roles_granted"], 3);
    assert_eq!(applied["job"]["status"], "completed");
    assert_eq!(applied["job"]["resumed"], false);
    // Imported people can be given tokens like anyone else.
    let out = collegium([
        OsStr::new("token"),
        OsStr::new("--tenant"),
        OsStr::new("lakeside"),
        OsStr::new("--email"),
        OsStr::new("ana.lima@lakeside.example"),
        OsStr::new("--data-dir"),
        data.0.as_os_str(),
    ]);
    succeeded(&out);

    // The same files again: nothing to do.
    let out = import(
        "oneroster",
        &files.0,
        &data.0,
        &["--apply", "--format", "json"],
    );
    succeeded(&out);
    let again = json(&out);
    assert_eq!(again["outcome"], "applied");
    for entity in ["people", "organisations"] {
        for change in ["created", "updated", "deactivated"] {
            assert_eq!(again["counts"][entity][change], 0, "{entity} {change}");
        }
    }
    assert_eq!(again["counts"]["people"]["unchanged"], 3);
    assert_ne!(again["job"]["id"], applied["job"]["id"]);
    let out = import("oneroster", &files.0, &data.0, &[]);
    succeeded(&out);
    assert!(
        stdout(&out).ends_with("Nothing was written, and nothing needs to be.\n"),
        "{}",
        stdout(&out)
    );

    // Two of three gone from a bulk file: stopped unless confirmed.
    write_set(
        &files.0,
        "t1,,,true,s1,teacher,,,Ana,Lima,,,ana.lima@lakeside.example,,,,,\n",
    );
    let out = import("oneroster", &files.0, &data.0, &["--apply"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("run it again with --confirm-deactivations"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("stopped at the deactivation threshold"),
        "{}",
        stderr(&out)
    );
    let out = import(
        "oneroster",
        &files.0,
        &data.0,
        &["--apply", "--confirm-deactivations", "--format", "json"],
    );
    succeeded(&out);
    assert_eq!(json(&out)["counts"]["people"]["deactivated"], 2);
}

#[test]
fn the_people_file_imports_and_mistakes_get_clear_messages() {
    let data = data_dir();
    let files = TempDir::new("import-people");
    let file = files.0.join("collegium-people.csv");
    std::fs::write(
        &file,
        "external_id,given_name,family_name,email,organisation_external_id,role\n\
         p1,Ana,Lima,ana@lakeside.example,,teacher\n\
         p2,Bo,Chen,bo@lakeside.example,,principal\n",
    )
    .unwrap();
    let out = import("people", &file, &data.0, &["--apply", "--format", "json"]);
    succeeded(&out);
    assert_eq!(json(&out)["counts"]["people"]["created"], 2);
    assert_eq!(json(&out)["source"], "people_csv");

    // A file that cannot be imported writes nothing and fails.
    std::fs::write(&file, "id,name\n1,Ana\n").unwrap();
    let out = import("people", &file, &data.0, &["--apply"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains(
            "collegium-people.csv: the header lacks columns external_id, given_name, family_name, email"
        ),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("the files cannot be imported"),
        "{}",
        stderr(&out)
    );

    let out = import("oneroster", &files.0.join("nowhere"), &data.0, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not a directory"),
        "{}",
        stderr(&out)
    );

    let out = collegium([
        OsStr::new("import"),
        OsStr::new("people"),
        file.as_os_str(),
        OsStr::new("--tenant"),
        OsStr::new("atlantis"),
        OsStr::new("--data-dir"),
        data.0.as_os_str(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no tenant with slug \"atlantis\""),
        "{}",
        stderr(&out)
    );

    let empty = TempDir::new("import-empty");
    let out = import("people", &file, &empty.0, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("has no Collegium data"),
        "{}",
        stderr(&out)
    );

    let out = collegium([
        OsStr::new("import"),
        OsStr::new("people"),
        file.as_os_str(),
        OsStr::new("--tenant"),
        OsStr::new("lakeside"),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--data-dir or --database-url"),
        "{}",
        stderr(&out)
    );
}
