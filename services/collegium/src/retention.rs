//! `collegium retention run`: the expiry job. For every tenant (or the ones
//! named) it mints a service token bound to that tenant, and runs
//! `collegium_gateway::fanout::Services::run_retention` with it: the
//! tenant's policy turned into cutoffs, people inactive past their period
//! erased everywhere, every service's `ApplyRetention`, and the run recorded
//! in membership (GraphQL `retentionRuns` shows it to the tenant's admins).
//!
//! In production a Kubernetes CronJob runs it nightly (`deploy/`); `collegium
//! dev` runs the same code in-process once a day ([`schedule_daily`]).

use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand};
use collegium_gateway::{
    config::{DEFAULT_NOTIFICATIONS_URL, DEFAULT_SCHEDULING_URL, DEFAULT_SCORING_URL},
    fanout::{JOB_CALL_DEADLINE, Services},
    upstream::Upstreams,
};
use collegium_membership::{MembershipStore, domain::Tenant};
use collegium_proto::membership::v1 as mpb;
use platform::auth::{DEFAULT_AUDIENCE, INTERNAL_ISSUER, TokenSigner};

/// The service name in the job's tokens and audit records (`service:retention`).
pub const SERVICE: &str = "retention";

/// How long the job's token for one tenant lives: a run is bounded by
/// `--max-erasures`, and a run cut off by expiry is finished by the next.
const TOKEN_TTL_MINUTES: i64 = 60;

#[derive(Debug, Args)]
pub struct RetentionArgs {
    #[command(subcommand)]
    action: RetentionAction,
}

#[derive(Debug, Subcommand)]
enum RetentionAction {
    /// Applies every tenant's retention periods now and prints what each
    /// service did. Exits non-zero when any tenant's run failed.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Count what would expire; change nothing (the run is still recorded).
    #[arg(long)]
    dry_run: bool,
    /// Only this tenant (slug); repeat for several. Default: every tenant.
    #[arg(long = "tenant")]
    tenants: Vec<String>,
    /// People erased at most per tenant and run (the rest wait for the next run).
    #[arg(long, env = "COLLEGIUM_RETENTION_MAX_ERASURES", default_value_t = 1000)]
    max_erasures: usize,
    /// Production: the membership database (app role URL), to list the tenants…
    #[arg(long, env = "COLLEGIUM_DATABASE_URL", requires = "service_key_file")]
    database_url: Option<String>,
    /// …and the Ed25519 service key the services trust.
    #[arg(long, env = "COLLEGIUM_SERVICE_KEY_FILE")]
    service_key_file: Option<PathBuf>,
    /// Or a running `collegium dev`'s data directory (its tenants and dev
    /// key); pass the service URLs it printed.
    #[arg(long, conflicts_with_all = ["database_url", "service_key_file"])]
    data_dir: Option<PathBuf>,
    #[arg(
        long,
        env = "COLLEGIUM_MEMBERSHIP_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    membership_url: String,
    #[arg(long, env = "COLLEGIUM_SCHEDULING_URL", default_value = DEFAULT_SCHEDULING_URL)]
    scheduling_url: String,
    #[arg(long, env = "COLLEGIUM_NOTIFICATIONS_URL", default_value = DEFAULT_NOTIFICATIONS_URL)]
    notifications_url: String,
    #[arg(long, env = "COLLEGIUM_SCORING_URL", default_value = DEFAULT_SCORING_URL)]
    scoring_url: String,
}

pub async fn run(args: RetentionArgs) -> anyhow::Result<()> {
    let RetentionAction::Run(args) = args.action;
    let (store, signer): (Box<dyn MembershipStore>, TokenSigner) = match (
        &args.data_dir,
        &args.database_url,
        &args.service_key_file,
    ) {
        (Some(dir), None, None) => {
            let db = dir.join("membership.db");
            if !db.exists() {
                anyhow::bail!("{} has no Collegium data", dir.display());
            }
            (
                Box::new(collegium_membership::open_sqlite(&db).await?),
                crate::dev_signer(dir)?,
            )
        }
        (None, Some(url), Some(key)) => {
            let pem = std::fs::read_to_string(key)
                .map_err(|e| anyhow::anyhow!("--service-key-file {}: {e}", key.display()))?;
            (
                Box::new(collegium_membership::open_postgres(url, 2).await?),
                TokenSigner::from_pem(&pem, INTERNAL_ISSUER, DEFAULT_AUDIENCE)?,
            )
        }
        _ => anyhow::bail!(
            "give --database-url with --service-key-file (production), or --data-dir (collegium dev)"
        ),
    };
    let upstreams = Upstreams::to_with_deadline(
        &args.membership_url,
        &args.scheduling_url,
        &args.notifications_url,
        &args.scoring_url,
        JOB_CALL_DEADLINE,
    )?;
    let tenants = chosen_tenants(store.as_ref(), &args.tenants).await?;
    let mut failed = 0;
    for tenant in &tenants {
        match run_tenant(&upstreams, &signer, tenant, args.dry_run, args.max_erasures).await {
            Ok(run) => {
                print!("{}", describe(&tenant.slug, &run));
                if !run.error.is_empty() {
                    failed += 1;
                }
            }
            Err(e) => {
                failed += 1;
                println!("{}: FAILED before anything was recorded: {e}", tenant.slug);
            }
        }
    }
    if failed > 0 {
        anyhow::bail!(
            "retention failed for {failed} of {} tenant(s); see above",
            tenants.len()
        );
    }
    Ok(())
}

/// The tenants named (each must exist), or all of them.
async fn chosen_tenants(
    store: &dyn MembershipStore,
    slugs: &[String],
) -> anyhow::Result<Vec<Tenant>> {
    if slugs.is_empty() {
        return Ok(store.list_tenants().await?);
    }
    let mut out = Vec::new();
    for slug in slugs {
        out.push(store.tenant_by_slug(slug).await.map_err(|_| {
            anyhow::anyhow!("no tenant with slug {slug:?} (see `collegium tenant list`)")
        })?);
    }
    Ok(out)
}

/// One tenant's run with a token bound to it.
pub async fn run_tenant(
    upstreams: &Upstreams,
    signer: &TokenSigner,
    tenant: &Tenant,
    dry_run: bool,
    max_erasures: usize,
) -> anyhow::Result<mpb::RetentionRun> {
    let token = signer.service_token_for(
        SERVICE,
        tenant.id,
        chrono::Duration::minutes(TOKEN_TTL_MINUTES),
    );
    Ok(Services::new(upstreams, &token)?
        .run_retention(dry_run, max_erasures)
        .await?)
}

/// A run as the operator reads it: a heading, then a line per count.
pub fn describe(slug: &str, run: &mpb::RetentionRun) -> String {
    let mut out = format!(
        "{slug}: run {}{}{}\n",
        run.id,
        if run.dry_run { " (dry run)" } else { "" },
        if run.error.is_empty() {
            String::new()
        } else {
            format!(" FAILED: {}", run.error)
        }
    );
    for r in &run.reports {
        for c in r.counts.iter().filter(|c| c.count > 0) {
            out.push_str(&format!(
                "  {:<14} {:<17} {:<30} {:>8} {}\n",
                r.service,
                c.category,
                c.kind,
                c.count,
                if run.dry_run {
                    format!("to be {}", c.action)
                } else {
                    c.action.clone()
                }
            ));
        }
    }
    out
}

/// `collegium dev`: every tenant's retention once a day, the first run an
/// hour after start.
pub fn schedule_daily(
    store: impl MembershipStore,
    signer: TokenSigner,
    upstreams: Upstreams,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(3600),
            Duration::from_secs(24 * 3600),
        );
        loop {
            tick.tick().await;
            let tenants = match store.list_tenants().await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "retention: cannot list tenants");
                    continue;
                }
            };
            for tenant in tenants {
                match run_tenant(&upstreams, &signer, &tenant, false, 1000).await {
                    Ok(run) => {
                        tracing::info!(tenant = %tenant.slug, run = %run.id, error = %run.error, "retention applied")
                    }
                    Err(e) => {
                        tracing::warn!(tenant = %tenant.slug, error = %e, "retention failed")
                    }
                }
            }
        }
    })
}
