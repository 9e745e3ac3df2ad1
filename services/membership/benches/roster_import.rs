//! Benchmark (not a timed test), run by hand against the local PostgreSQL:
//!
//! ```text
//! cargo bench -p collegium-membership --bench roster_import
//! ```
//!
//! A OneRoster 1.1 set of 100,000 staff (teachers, administrators, aides) in
//! 500 schools, generated in memory, imported as `collegium import --apply`
//! does it (parse, diff against the tenant, apply in batches of 500 through
//! the store as the non-owner app role, with audit records, role grants and
//! outbox events), against PostgreSQL `COPY` of the same people rows (as the
//! owner, into another tenant) in the same run. The issue's aim: at least a
//! quarter of COPY's rate. The import writes more than the people rows (a
//! role grant, and an audit record and an outbox event for each person and
//! grant), so it is also compared with COPY of every row it wrote, copied
//! out and back in under a third tenant. Then the same set again, which must
//! change nothing.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it prints
//! "skipped" and returns at once.

#[path = "../tests/support/mod.rs"]
mod support;

use std::{fmt::Write as _, time::Instant};

use collegium_membership::{
    MembershipStore,
    roster::{
        Limits,
        job::{self, ImportOptions, Silent},
        oneroster,
        report::Outcome,
        source::InMemory,
    },
};
use futures::StreamExt;
use sqlx::{Connection, PgConnection};
use support::*;
use uuid::Uuid;

const PEOPLE: usize = 100_000;
const SCHOOLS: usize = 500;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("skipped (run with `cargo bench -p collegium-membership --bench roster_import`)");
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

/// The OneRoster files: manifest, orgs (a district and its schools), users.
fn roster_set() -> InMemory {
    let manifest = "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n\
                    file.orgs,bulk\nfile.users,bulk\nfile.academicSessions,absent\n\
                    file.enrollments,absent\n";
    let mut orgs =
        String::from("sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n");
    orgs.push_str("d1,,,Bench District,district,BD,\n");
    for s in 0..SCHOOLS {
        writeln!(orgs, "s{s},,,School {s},school,S{s:04},d1").unwrap();
    }
    let mut users = String::from(
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,\
         givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password\n",
    );
    for i in 0..PEOPLE {
        let role = match i % 20 {
            0 => "administrator",
            1 => "aide",
            _ => "teacher",
        };
        writeln!(
            users,
            "u{i},active,2026-09-01,true,s{},{role},user{i},,Given{i},Family{},,ID{i},\
             user{i}@bench.example,,+1 555 {:04},,,",
            i % SCHOOLS,
            i % 997,
            i % 10_000
        )
        .unwrap();
    }
    InMemory::default()
        .with(oneroster::MANIFEST, manifest)
        .with(oneroster::ORGS, orgs)
        .with(oneroster::USERS, users)
}

async fn run() {
    let (db, store) = postgres_store().await;
    let files = roster_set();

    // ---- the import, as `collegium import --apply` runs it
    let tenant = store
        .create_tenant(new_tenant("bench-import"))
        .await
        .expect("tenant");
    let options = ImportOptions {
        apply: true,
        ..ImportOptions::default()
    };
    let i0 = Instant::now();
    let roster = oneroster::parse(&files, &Limits::default());
    let parsed = i0.elapsed();
    assert!(roster.file_errors.is_empty(), "{:?}", roster.file_errors);
    let report = job::run(&store, &tenant, &roster, &options, &Silent)
        .await
        .expect("import runs");
    let import = i0.elapsed();
    assert_eq!(report.outcome, Outcome::Applied, "{:?}", report.message);
    assert_eq!(report.counts.people.created as usize, PEOPLE, "{report:?}");

    // ---- the same set again: nothing changes
    let r0 = Instant::now();
    let roster = oneroster::parse(&files, &Limits::default());
    let again = job::run(&store, &tenant, &roster, &options, &Silent)
        .await
        .expect("second import runs");
    let reimport = r0.elapsed();
    assert_eq!(again.counts.people.created, 0);
    assert_eq!(again.counts.people.updated, 0);
    assert_eq!(again.counts.people.unchanged as usize, PEOPLE);

    // ---- COPY of the same people rows, as the owner, into another tenant
    let other = store
        .create_tenant(new_tenant("bench-copy"))
        .await
        .expect("tenant");
    let now = chrono::Utc::now().to_rfc3339();
    let mut csv = String::with_capacity(PEOPLE * 160);
    for i in 0..PEOPLE {
        writeln!(
            csv,
            "{},{},Given{i},Family{},user{i}@bench.example,+1 555 {:04},,,u{i},,true,{now}",
            other.id.0,
            Uuid::now_v7(),
            i % 997,
            i % 10_000
        )
        .unwrap();
    }
    let mut owner = PgConnection::connect(&db.owner_url).await.expect("owner");
    let c0 = Instant::now();
    let mut copy = owner
        .copy_in_raw(
            "COPY membership.people (tenant_id, id, given_name, family_name, email, phone, \
             address, organisation_id, external_id, time_zone, active, created_at) \
             FROM STDIN (FORMAT csv)",
        )
        .await
        .expect("COPY starts");
    copy.send(csv.as_bytes()).await.expect("COPY data");
    let copied = copy.finish().await.expect("COPY ends");
    let copy_time = c0.elapsed();
    assert_eq!(copied as usize, PEOPLE);

    // ---- COPY of every row the import wrote, under a third tenant
    let third = store
        .create_tenant(new_tenant("bench-copy-all"))
        .await
        .expect("tenant");
    let (from, to) = (tenant.id.0.to_string(), third.id.0.to_string());
    let mut tables = Vec::new();
    let mut rows_written = 0usize;
    for table in [
        "organisations",
        "people",
        "role_grants",
        "audit_log",
        "outbox",
    ] {
        let mut out = owner
            .copy_out_raw(&format!(
                "COPY (SELECT * FROM membership.{table} WHERE tenant_id = '{from}') TO STDOUT"
            ))
            .await
            .expect("COPY out");
        let mut data = Vec::new();
        while let Some(chunk) = out.next().await {
            data.extend_from_slice(&chunk.expect("COPY out data"));
        }
        drop(out);
        let text = String::from_utf8(data).expect("UTF-8").replace(&from, &to);
        rows_written += text.lines().count();
        tables.push((table, text));
    }
    let a0 = Instant::now();
    for (table, text) in &tables {
        let mut copy = owner
            .copy_in_raw(&format!("COPY membership.{table} FROM STDIN"))
            .await
            .expect("COPY starts");
        copy.send(text.as_bytes()).await.expect("COPY data");
        copy.finish().await.expect("COPY ends");
    }
    let copy_all = a0.elapsed();

    let rate = |d: std::time::Duration| PEOPLE as f64 / d.as_secs_f64();
    println!();
    println!("| measure                                     | time       | people/s  |");
    println!("|---------------------------------------------|------------|-----------|");
    println!(
        "| parse {PEOPLE} staff in {SCHOOLS} schools            | {:>7.0} ms |           |",
        parsed.as_secs_f64() * 1000.0
    );
    println!(
        "| import: parse, diff, apply ({} batches)     | {:>7.0} ms | {:>9.0} |",
        report.job.as_ref().map_or(0, |j| j.batches),
        import.as_secs_f64() * 1000.0,
        rate(import)
    );
    println!(
        "| COPY of the same people rows                | {:>7.0} ms | {:>9.0} |",
        copy_time.as_secs_f64() * 1000.0,
        rate(copy_time)
    );
    println!(
        "| import rate / COPY rate (aim >= 0.25)       | {:>10.2} |           |",
        rate(import) / rate(copy_time)
    );
    println!(
        "| {:<43} | {:>7.0} ms | {:>9.0} |",
        format!("COPY of all {rows_written} rows the import wrote"),
        copy_all.as_secs_f64() * 1000.0,
        rate(copy_all)
    );
    println!(
        "| import rate / that COPY's rate              | {:>10.2} |           |",
        rate(import) / rate(copy_all)
    );
    println!(
        "| the same set again (changes nothing)        | {:>7.0} ms | {:>9.0} |",
        reimport.as_secs_f64() * 1000.0,
        rate(reimport)
    );
}
