//! Benchmark of issue 4 (not a timed test): agreement statistics of a
//! tenant with 1,000,000 scores, 10% of portfolios double-scored, by scorer
//! and by session, timed against the same aggregate computed by SQL alone in
//! the same run.
//!
//! Run by hand (PostgreSQL as `scripts/test` starts it, or `COLLEGIUM_TEST_PG`):
//!
//! ```text
//! cargo bench -p collegium-scoring --bench agreement
//! ```
//!
//! Without the `--bench` argument that `cargo bench` passes (as when
//! `cargo test --all-targets` runs bench targets in test mode) it prints
//! "skipped in test mode" and returns at once.
//!
//! What it does:
//! - a fresh database migrated as the owner; the store opened as
//!   `scoring_app` (row-level security on), as in production;
//! - generates, with `INSERT … SELECT generate_series` as the owner, one
//!   tenant's year: 100 sessions in 20 clusters, 400 scorers, 200 schools,
//!   909,091 portfolios each with a first read, 10% of them with a second
//!   read (≈60% exact, ≈30% adjacent, ≈10% two points apart): 1,000,000
//!   assignments and score rows in all; plus a second tenant with the same
//!   shape at 1/10 the size, so the measured queries must filter by tenant;
//!   then `VACUUM ANALYZE`;
//! - times `api::agreement_rows` (what `GetAgreementStats` returns: the
//!   store's grouped confusion-matrix cells, then exact, adjacent, quadratic
//!   weighted kappa, SMD, distributions, matrix, flags — and by scorer, each
//!   scorer's drift from their reads in order) against one SQL statement per
//!   grouping that computes exact, adjacent, QWK and SMD per group in
//!   PostgreSQL (QWK from moments: 1 − mean((a−b)²) / (var a + var b +
//!   (mean a − mean b)²)) and, by scorer, the slope of each scorer's exact
//!   agreement over windows of 20 reads (`regr_slope`), run through the same
//!   pool in a tenant transaction, fetching its rows;
//! - checks that both give the same numbers for every group (to 1e-9);
//! - alternates the two, 7 rounds each after a warm-up, and prints medians.
//!
//! Exits non-zero when a ratio (service median / SQL median) exceeds 2.0.

use std::{collections::HashMap, process::ExitCode, time::Instant};

use anyhow::{Context, Result, ensure};
use collegium_scoring::{
    api::agreement_rows,
    domain::{GroupBy, StatsFilter, rubric, stats},
    store::ScoringStore,
};
use platform::{auth::TenantId, db::TenantPool};
use sqlx::{Connection, Executor, PgConnection};
use testkit::TestDatabase;
use uuid::Uuid;

const PORTFOLIOS: i64 = 909_091;
const ROUNDS: usize = 7;
const LIMIT: f64 = 2.0;
const YEAR: i32 = 2026;

fn main() -> ExitCode {
    if !std::env::args().skip(1).any(|a| a == "--bench") {
        println!("agreement: skipped in test mode (run it with cargo bench)");
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("agreement: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// One tenant's generated year; returns the tenant.
async fn generate(
    owner: &mut PgConnection,
    store: &dyn ScoringStore,
    portfolios: i64,
) -> Result<TenantId> {
    let t = TenantId::new_v7();
    let r = store
        .create_rubric(
            t,
            "bench",
            rubric::Rubric {
                id: Uuid::nil(),
                programme: "writing".into(),
                name: "Writing".into(),
                score_points: (1..=4)
                    .map(|v| rubric::ScorePoint {
                        value: v,
                        label: format!("Point {v}"),
                    })
                    .collect(),
                dimensions: vec![],
                condition_codes: vec![],
                qualification_threshold: 0.7,
                created_at: chrono::Utc::now(),
            },
        )
        .await?;
    let ids = |n: usize| (0..n).map(|_| Uuid::now_v7()).collect::<Vec<_>>();
    let (sessions, clusters, scorers, schools) = (ids(100), ids(20), ids(400), ids(200));
    sqlx::query(
        "INSERT INTO scoring.sessions (tenant_id, id, event_id, rubric_id, cluster_id, \
         academic_year, name, status, second_read_share, backread_share, allow_own_school, \
         resolution_rule, lead_id, created_at) \
         SELECT $1, s, gen_random_uuid(), $2, ($3::uuid[])[1 + (o::int - 1) % 20], $4, \
         'Session ' || o, 'closed', 0.1, 0.1, false, 'adjacent_average', gen_random_uuid(), now() \
         FROM unnest($5::uuid[]) WITH ORDINALITY AS u(s, o)",
    )
    .bind(t.0)
    .bind(r.id)
    .bind(&clusters)
    .bind(YEAR)
    .bind(&sessions)
    .execute(&mut *owner)
    .await?;
    sqlx::query(
        "INSERT INTO scoring.portfolios (tenant_id, id, student_index, student_enc, school_id, \
         grade_level, academic_year, pieces, created_at) \
         SELECT $1, gen_random_uuid(), sha256(($1::text || g)::bytea), '\\x01'::bytea, \
         ($2::uuid[])[1 + g % 200], 4, $3, '[]'::jsonb, now() FROM generate_series(0, $4 - 1) g",
    )
    .bind(t.0)
    .bind(&schools)
    .bind(YEAR)
    .bind(portfolios)
    .execute(&mut *owner)
    .await?;
    // Reads: first score from a hash of the row number; every tenth folder
    // double-scored, 6 in 10 exactly, 3 in 10 adjacent, 1 in 10 two apart.
    sqlx::query(
        "INSERT INTO scoring.session_portfolios (tenant_id, session_id, portfolio_id, school_id, \
         cluster_id, academic_year, rubric_id, first_scorer, first_score, second_scorer, \
         second_score, paired_at, state, final_score, method, reason, decided_at) \
         SELECT $1, ($2::uuid[])[1 + (rn / 10) % 100], id, school_id, ($3::uuid[])[1 + ((rn / 10) % 100) % 20], \
         $4, $5, ($6::uuid[])[1 + rn % 400], f, \
         CASE WHEN rn % 10 = 0 THEN ($6::uuid[])[1 + (rn % 400 + 1 + (rn / 10) % 399) % 400] END, \
         CASE WHEN rn % 10 = 0 THEN LEAST(4, GREATEST(1, f + CASE \
             WHEN (rn * 7919) % 10 < 6 THEN 0 WHEN (rn * 7919) % 10 < 8 THEN 1 \
             WHEN (rn * 7919) % 10 < 9 THEN -1 ELSE 2 END)) END, \
         CASE WHEN rn % 10 = 0 THEN now() + rn * interval '1 second' END, \
         'resolved', f, 'single_read', '', now() \
         FROM (SELECT id, school_id, rn, 1 + (rn * 2654435761) % 4 AS f FROM ( \
             SELECT id, school_id, row_number() OVER (ORDER BY id) AS rn \
             FROM scoring.portfolios WHERE tenant_id = $1) n) p",
    )
    .bind(t.0)
    .bind(&sessions)
    .bind(&clusters)
    .bind(YEAR)
    .bind(r.id)
    .bind(&scorers)
    .execute(&mut *owner)
    .await?;
    for (kind, scorer, score) in [
        ("first", "first_scorer", "first_score"),
        ("second", "second_scorer", "second_score"),
    ] {
        sqlx::query(&format!(
            "WITH a AS ( \
               INSERT INTO scoring.assignments (tenant_id, id, session_id, portfolio_id, \
                 scorer_id, kind, status, created_at) \
               SELECT tenant_id, gen_random_uuid(), session_id, portfolio_id, {scorer}, \
                 '{kind}', 'submitted', now() \
               FROM scoring.session_portfolios WHERE tenant_id = $1 AND {scorer} IS NOT NULL \
               RETURNING id, session_id, portfolio_id, scorer_id) \
             INSERT INTO scoring.scores (tenant_id, id, assignment_id, session_id, portfolio_id, \
               scorer_id, kind, version, score, dimensions, reason, submitted_by, submitted_at) \
             SELECT $1, gen_random_uuid(), a.id, a.session_id, a.portfolio_id, a.scorer_id, \
               '{kind}', 1, sp.{score}, '[]'::jsonb, '', 'bench', now() \
             FROM a JOIN scoring.session_portfolios sp ON sp.tenant_id = $1 \
               AND sp.session_id = a.session_id AND sp.portfolio_id = a.portfolio_id"
        ))
        .bind(t.0)
        .execute(&mut *owner)
        .await?;
    }
    Ok(t)
}

/// exact, adjacent, qwk, smd per group key — and by scorer the slope of
/// their windowed exact agreement (drift) — computed by PostgreSQL alone.
type SqlRow = (String, i64, f64, f64, Option<f64>, Option<f64>, Option<f64>);

const FILTER: &str = "tenant_id = $1 AND paired_at IS NOT NULL AND first_score IS NOT NULL \
                      AND second_score IS NOT NULL AND academic_year = $2";

fn sql_alone(group_by: GroupBy) -> String {
    let pairs = match group_by {
        GroupBy::Scorer => format!(
            "SELECT first_scorer AS k, rubric_id, first_score AS a, second_score AS b, \
               paired_at, portfolio_id \
             FROM scoring.session_portfolios WHERE {FILTER} UNION ALL \
             SELECT second_scorer AS k, rubric_id, second_score AS a, first_score AS b, \
               paired_at, portfolio_id \
             FROM scoring.session_portfolios WHERE {FILTER}"
        ),
        _ => format!(
            "SELECT session_id AS k, rubric_id, first_score AS a, second_score AS b, \
               paired_at, portfolio_id \
             FROM scoring.session_portfolios WHERE {FILTER}"
        ),
    };
    let moments = "SELECT k, rubric_id, COUNT(*) AS n, \
           AVG(CASE WHEN a = b THEN 1.0 ELSE 0.0 END)::float8 AS exact, \
           AVG(CASE WHEN abs(a - b) <= 1 THEN 1.0 ELSE 0.0 END)::float8 AS adjacent, \
           AVG(a::float8) AS ma, AVG(b::float8) AS mb, \
           VAR_POP(a::float8) AS va, VAR_POP(b::float8) AS vb, \
           AVG(((a - b) * (a - b))::float8) AS msd \
           FROM p GROUP BY k, rubric_id";
    let drift = if group_by == GroupBy::Scorer {
        format!(
            ", w AS (SELECT k, w, AVG(agreed) AS rate FROM ( \
                 SELECT k, CASE WHEN a = b THEN 1.0 ELSE 0.0 END AS agreed, \
                   (ROW_NUMBER() OVER (PARTITION BY k ORDER BY paired_at, portfolio_id) - 1) \
                     / {window} AS w FROM p) x \
               GROUP BY k, w HAVING COUNT(*) = {window}), \
             d AS (SELECT k, CASE WHEN COUNT(*) >= {min} \
                 THEN regr_slope(rate::float8, w::float8) END AS slope FROM w GROUP BY k)",
            window = stats::DRIFT_WINDOW,
            min = stats::DRIFT_MIN_WINDOWS,
        )
    } else {
        ", d AS (SELECT NULL::uuid AS k, NULL::float8 AS slope)".to_string()
    };
    format!(
        "WITH p AS MATERIALIZED ({pairs}), m AS ({moments}){drift} \
         SELECT m.k::text, n, exact, adjacent, \
           CASE WHEN va + vb + (ma - mb) ^ 2 > 0 THEN 1 - msd / (va + vb + (ma - mb) ^ 2) END, \
           CASE WHEN va + vb > 0 THEN (ma - mb) / sqrt((va + vb) / 2) \
                WHEN ma = mb THEN 0 END, \
           d.slope \
         FROM m LEFT JOIN d ON d.k = m.k"
    )
}

async fn run_sql(
    store: &collegium_scoring::store::postgres::Store,
    t: TenantId,
    sql: &str,
) -> Result<Vec<SqlRow>> {
    let mut tx = store.pool().begin_tenant(t).await?;
    let rows: Vec<SqlRow> = sqlx::query_as(sql)
        .bind(t.0)
        .bind(YEAR)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// The drift slope the service's windows give (what GetAgreementStats
/// decides the drift warning from).
fn slope(row: &collegium_proto::scoring::v1::AgreementRow) -> Option<f64> {
    stats::drift_of_windows(
        row.drift_windows.clone(),
        stats::DRIFT_MIN_WINDOWS,
        stats::DRIFT_SLOPE_WARNING,
    )
    .map(|d| d.slope_per_window)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    }
}

async fn run() -> Result<bool> {
    let db = TestDatabase::migrated(
        collegium_scoring::SCHEMA,
        &collegium_scoring::POSTGRES_MIGRATIONS,
    )
    .await
    .context("a fresh database (is PostgreSQL running? scripts/test starts it)")?;
    let store = collegium_scoring::open_postgres(&db.app_url(collegium_scoring::SCHEMA), 4).await?;
    let mut owner = PgConnection::connect(&db.owner_url).await?;
    let started = Instant::now();
    let t = generate(&mut owner, &store, PORTFOLIOS).await?;
    generate(&mut owner, &store, PORTFOLIOS / 10).await?;
    owner.execute("VACUUM ANALYZE").await?;
    let scores: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM scoring.scores WHERE tenant_id = $1")
            .bind(t.0)
            .fetch_one(&mut owner)
            .await?;
    let pairs: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM scoring.session_portfolios WHERE tenant_id = $1 AND paired_at IS NOT NULL",
    )
    .bind(t.0)
    .fetch_one(&mut owner)
    .await?;
    println!(
        "generated {scores} scores ({pairs} double-scored portfolios) for the measured tenant, \
         plus a tenant a tenth its size, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    ensure!(
        scores == 1_000_000,
        "expected 1,000,000 scores, made {scores}"
    );

    let filter = StatsFilter {
        academic_year: Some(YEAR),
        ..Default::default()
    };
    let mut ok = true;
    println!();
    println!("| grouping | groups | service median | SQL alone median | ratio |");
    println!("|---|---:|---:|---:|---:|");
    for (name, group_by) in [
        ("by scorer", GroupBy::Scorer),
        ("by session", GroupBy::Session),
    ] {
        let sql = sql_alone(group_by);
        // Same numbers from both, group by group.
        let ours = agreement_rows(&store, t, group_by, &filter).await?;
        let theirs: HashMap<String, SqlRow> = run_sql(&store, t, &sql)
            .await?
            .into_iter()
            .map(|r| (r.0.clone(), r))
            .collect();
        ensure!(
            ours.len() == theirs.len(),
            "{name}: {} groups vs {}",
            ours.len(),
            theirs.len()
        );
        for row in &ours {
            let s = theirs.get(&row.key).context("a group missing from SQL")?;
            ensure!(
                row.pairs as i64 == s.1
                    && close(row.exact, Some(s.2))
                    && close(row.adjacent, Some(s.3))
                    && close(row.qwk, s.4)
                    && close(row.smd, s.5)
                    && close(slope(row), s.6),
                "{name} {}: service {:?} {:?} {:?} {:?} vs SQL {s:?}",
                row.key,
                row.exact,
                row.adjacent,
                row.qwk,
                row.smd
            );
        }
        let (mut svc, mut alone) = (Vec::new(), Vec::new());
        for round in 0..=ROUNDS {
            let t0 = Instant::now();
            let rows = agreement_rows(&store, t, group_by, &filter).await?;
            let a = t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            let srows = run_sql(&store, t, &sql).await?;
            let b = t0.elapsed().as_secs_f64();
            ensure!(rows.len() == srows.len());
            if round > 0 {
                svc.push(a);
                alone.push(b);
            }
        }
        let (ms, mq) = (median(svc), median(alone));
        let ratio = ms / mq;
        println!(
            "| {name} | {} | {:.1} ms | {:.1} ms | {ratio:.2}x |",
            ours.len(),
            ms * 1e3,
            mq * 1e3
        );
        if ratio > LIMIT {
            ok = false;
        }
    }
    println!();
    if ok {
        println!("within {LIMIT}x of SQL alone");
    } else {
        println!("OVER {LIMIT}x of SQL alone");
    }
    Ok(ok)
}
