//! Migrations stay backward compatible for one release, so pods of the
//! previous image keep working while the new one rolls out (see
//! docs/operations.md, "Migrations and rollouts"): a migration after a
//! service's first one may add, never take away. This test reads every
//! service's migrations and refuses destructive statements outside the
//! baseline, and checks that both backends have the same migration versions.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

/// Statements an old release's queries may break on.
const DESTRUCTIVE: &[&str] = &[
    "DROP TABLE",
    "DROP COLUMN",
    "RENAME",
    "ALTER COLUMN",
    "DROP VIEW",
    "DROP SCHEMA",
    "TRUNCATE",
];

/// Destructive statements allowed after a release in which nothing used the
/// object any more: `(service, migration file, statement)` with the reason.
const ALLOWED: &[(&str, &str, &str)] = &[];

fn services_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../services")
}

fn migration_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "sql"));
    files.sort();
    files
}

/// SQL without `--` comments, upper-cased, whitespace folded.
fn normalised(sql: &str) -> String {
    sql.lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

#[test]
fn later_migrations_only_add() {
    for service in fs::read_dir(services_dir()).unwrap().flatten() {
        let name = service.file_name().to_string_lossy().to_string();
        for backend in ["postgres", "sqlite"] {
            let files = migration_files(&service.path().join("migrations").join(backend));
            // The first migration is the baseline a fresh install starts from.
            for file in files.iter().skip(1) {
                let sql = normalised(&fs::read_to_string(file).unwrap());
                let file_name = file.file_name().unwrap().to_string_lossy().to_string();
                for statement in DESTRUCTIVE {
                    if sql.contains(statement)
                        && !ALLOWED
                            .iter()
                            .any(|(s, f, st)| *s == name && *f == file_name && st == statement)
                    {
                        panic!(
                            "{name}/{backend}/{file_name} contains {statement}: old pods still \
                             use the schema during a rollout; add now and remove a release later"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn both_backends_have_the_same_migration_versions() {
    let mut services = 0;
    for service in fs::read_dir(services_dir()).unwrap().flatten() {
        let dir = service.path().join("migrations");
        if !dir.exists() {
            continue;
        }
        services += 1;
        let versions = |backend: &str| -> BTreeSet<String> {
            migration_files(&dir.join(backend))
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
                .collect()
        };
        assert_eq!(
            versions("postgres"),
            versions("sqlite"),
            "{}: PostgreSQL and SQLite migrations must match one to one",
            service.file_name().to_string_lossy()
        );
        assert!(!versions("postgres").is_empty());
    }
    assert!(services >= 1, "found the services' migrations");
}

#[test]
fn the_rule_catches_a_destructive_migration() {
    let sql = normalised("-- tidy up\nALTER TABLE people\n  DROP   column phone;");
    assert!(DESTRUCTIVE.iter().any(|s| sql.contains(s)));
    let sql = normalised("ALTER TABLE people ADD COLUMN pronouns TEXT; -- DROP COLUMN later");
    assert!(!DESTRUCTIVE.iter().any(|s| sql.contains(s)));
}
