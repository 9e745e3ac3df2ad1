//! `collegium`: the command line.
//!
//! - `collegium dev`: the whole platform in one process on SQLite files with
//!   the in-process event bus, demo data on first start;
//! - `collegium token`: a dev bearer token for a person of a dev data directory;
//! - `collegium migrate`: migrates PostgreSQL (run as the schema owner), every
//!   service's schema or one (`--service membership|scheduling|notifications|scoring`);
//! - `collegium tenant`: creates and lists tenants (operator work);
//! - `collegium import`: imports a roster into a tenant (OneRoster 1.1 CSV or
//!   `collegium-people.csv`), a dry run unless `--apply`;
//! - `collegium retention run`: applies every tenant's retention periods (the
//!   nightly expiry job; `--dry-run` only counts).

mod dev;
mod import;
mod retention;
mod seed;
mod seed_schedule;
mod seed_scoring;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use collegium_membership::{
    MembershipStore,
    domain::{Contact, NewPerson, NewTenant, TenantKind, TenantSettings},
};
use platform::auth::{DEFAULT_AUDIENCE, Grant, INTERNAL_ISSUER, PersonId, Role, TokenSigner};

#[derive(Debug, Parser)]
#[command(
    name = "collegium",
    version,
    about = "Collegium: cluster networks of schools and teachers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the gateway and every service in one process (SQLite, in-process bus).
    Dev(dev::DevArgs),
    /// Prints a bearer token for a person: from a dev data directory, or (for
    /// operators) from the membership database signed with the service key.
    Token {
        /// The dev data directory (as given to `collegium dev`).
        #[arg(long, env = "COLLEGIUM_DATA_DIR", default_value = ".collegium")]
        data_dir: PathBuf,
        /// Production: the membership database (app role URL) instead of a data directory.
        #[arg(long, requires = "service_key_file")]
        database_url: Option<String>,
        /// Production: the Ed25519 service key the services trust (COLLEGIUM_SERVICE_KEY_FILE).
        #[arg(long, env = "COLLEGIUM_SERVICE_KEY_FILE")]
        service_key_file: Option<PathBuf>,
        /// Tenant slug, e.g. `lakeside`.
        #[arg(long)]
        tenant: String,
        /// The person's e-mail address.
        #[arg(long)]
        email: String,
        /// Hours the token is valid.
        #[arg(long, default_value_t = 12)]
        hours: i64,
    },
    /// Migrates the PostgreSQL schemas; connect as their owner.
    Migrate {
        /// Owner URL, e.g. `postgres://collegium_owner:…@db:5432/collegium`.
        #[arg(long, env = "COLLEGIUM_MIGRATE_DATABASE_URL")]
        database_url: String,
        /// Which service to migrate (`all` for every one).
        #[arg(long, default_value = "all", value_parser = ["all", "membership", "scheduling", "notifications", "scoring"])]
        service: String,
    },
    /// Creates or lists tenants.
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
        /// A dev data directory (SQLite)…
        #[arg(long, env = "COLLEGIUM_DATA_DIR", global = true)]
        data_dir: Option<PathBuf>,
        /// …or the membership database (PostgreSQL, app role URL).
        #[arg(long, env = "COLLEGIUM_DATABASE_URL", global = true)]
        database_url: Option<String>,
    },
    /// Imports a roster into a tenant: OneRoster 1.1 CSV or collegium-people.csv.
    /// Always shows the diff; writes only with --apply.
    Import(import::ImportArgs),
    /// Applies tenants' retention periods (the nightly expiry job).
    Retention(retention::RetentionArgs),
}

#[derive(Debug, Subcommand)]
enum TenantAction {
    /// Lists tenants as CSV (slug, id, kind, name).
    List,
    /// Creates a tenant.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        /// district, awarding_body or research_partnership.
        #[arg(long)]
        kind: TenantKind,
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        #[arg(long, default_value = "en")]
        locale: String,
        #[arg(long, default_value_t = 8)]
        academic_year_start_month: u32,
        #[arg(long, default_value_t = 1)]
        academic_year_start_day: u32,
        /// E-mail of the tenant's first admin (created with the tenant_admin role).
        #[arg(long, requires = "admin_name")]
        admin_email: Option<String>,
        /// "Given Family" name of the first admin.
        #[arg(long, requires = "admin_email")]
        admin_name: Option<String>,
    },
}

/// The dev issuer's key file inside a data directory.
pub fn dev_key_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("dev-signing-key.pem")
}

/// The dev token signer of a data directory (created on first use).
pub fn dev_signer(data_dir: &std::path::Path) -> anyhow::Result<TokenSigner> {
    TokenSigner::load_or_create(&dev_key_path(data_dir), INTERNAL_ISSUER, DEFAULT_AUDIENCE)
}

/// A token for the person with `email` in tenant `slug`, carrying their active grants.
pub async fn token_for(
    store: &dyn MembershipStore,
    signer: &TokenSigner,
    slug: &str,
    email: &str,
    hours: i64,
) -> anyhow::Result<String> {
    let tenant = store.tenant_by_slug(slug).await.map_err(|_| {
        anyhow::anyhow!("no tenant with slug {slug:?} (see `collegium tenant list`)")
    })?;
    let person = store
        .person_by_email(tenant.id, email)
        .await
        .map_err(|_| anyhow::anyhow!("no person with e-mail {email:?} in tenant {slug:?}"))?;
    let (grants, _) = store
        .list_role_grants(
            tenant.id,
            &collegium_membership::domain::RoleGrantFilter {
                person_id: Some(person.id),
                ..Default::default()
            },
            platform::page::Page::first(platform::page::MAX_PAGE_SIZE),
        )
        .await?;
    let grants: Vec<Grant> = grants
        .into_iter()
        .map(|g| Grant {
            role: g.role,
            cluster: g.cluster_id,
        })
        .collect();
    Ok(signer.person_token(
        tenant.id,
        PersonId(person.id),
        &grants,
        chrono::Duration::hours(hours),
    ))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Dev(args) => dev::run(args).await,
        Command::Import(args) => import::run(args).await,
        Command::Retention(args) => retention::run(args).await,
        Command::Token {
            data_dir,
            database_url: Some(url),
            service_key_file: Some(key),
            tenant,
            email,
            hours,
        } => {
            let _ = data_dir;
            let store = collegium_membership::open_postgres(&url, 2).await?;
            let pem = std::fs::read_to_string(&key)
                .map_err(|e| anyhow::anyhow!("--service-key-file {}: {e}", key.display()))?;
            let signer = TokenSigner::from_pem(&pem, INTERNAL_ISSUER, DEFAULT_AUDIENCE)?;
            println!(
                "{}",
                token_for(&store, &signer, &tenant, &email, hours).await?
            );
            Ok(())
        }
        Command::Token {
            data_dir,
            tenant,
            email,
            hours,
            ..
        } => {
            let db = data_dir.join("membership.db");
            if !db.exists() {
                anyhow::bail!(
                    "{} has no Collegium data; start `collegium dev --data-dir {}` first",
                    data_dir.display(),
                    data_dir.display()
                );
            }
            let store = collegium_membership::open_sqlite(&db).await?;
            let signer = dev_signer(&data_dir)?;
            println!(
                "{}",
                token_for(&store, &signer, &tenant, &email, hours).await?
            );
            Ok(())
        }
        Command::Migrate {
            database_url,
            service,
        } => {
            if service == "all" || service == "membership" {
                collegium_membership::migrate_postgres(&database_url).await?;
                eprintln!("membership: migrated");
            }
            if service == "all" || service == "scheduling" {
                collegium_scheduling::migrate_postgres(&database_url).await?;
                eprintln!("scheduling: migrated");
            }
            if service == "all" || service == "notifications" {
                collegium_notifications::migrate_postgres(&database_url).await?;
                eprintln!("notifications: migrated");
            }
            if service == "all" || service == "scoring" {
                collegium_scoring::migrate_postgres(&database_url).await?;
                eprintln!("scoring: migrated");
            }
            Ok(())
        }
        Command::Tenant {
            action,
            data_dir,
            database_url,
        } => {
            let store: Box<dyn MembershipStore> = match (data_dir, database_url) {
                (Some(dir), None) => {
                    Box::new(collegium_membership::open_sqlite(&dir.join("membership.db")).await?)
                }
                (None, Some(url)) => Box::new(collegium_membership::open_postgres(&url, 2).await?),
                _ => anyhow::bail!("give exactly one of --data-dir or --database-url"),
            };
            match action {
                TenantAction::List => {
                    println!("slug,id,kind,name");
                    for t in store.list_tenants().await? {
                        println!(
                            "{},{},{},\"{}\"",
                            t.slug,
                            t.id,
                            t.kind.as_str(),
                            t.name.replace('"', "\"\"")
                        );
                    }
                }
                TenantAction::Create {
                    slug,
                    name,
                    kind,
                    time_zone,
                    locale,
                    academic_year_start_month,
                    academic_year_start_day,
                    admin_email,
                    admin_name,
                } => {
                    // Check the first admin before anything is written, so a
                    // typo cannot leave a tenant without its admin.
                    let admin = match (admin_email, admin_name) {
                        (Some(email), Some(name)) => {
                            let name = name.trim().to_string();
                            let (given, family) = name.split_once(' ').unwrap_or((&name, ""));
                            let person = NewPerson {
                                given_name: given.into(),
                                family_name: family.trim().into(),
                                contact: Contact {
                                    email: Some(email),
                                    ..Default::default()
                                },
                                organisation_id: None,
                                external_id: None,
                                time_zone: None,
                            };
                            collegium_membership::domain::validate::new_person(&person)?;
                            Some(person)
                        }
                        _ => None,
                    };
                    let t = store
                        .create_tenant(NewTenant {
                            slug,
                            name,
                            kind,
                            settings: TenantSettings {
                                time_zone,
                                locale,
                                academic_year_start_month,
                                academic_year_start_day,
                            },
                        })
                        .await?;
                    println!("{}", t.id);
                    if let Some(person) = admin {
                        let admin = store.create_person(t.id, "operator", person).await?;
                        store
                            .grant_role(t.id, "operator", admin.id, Role::TenantAdmin, None)
                            .await?;
                        eprintln!(
                            "first admin: {} {} (person {})",
                            admin.given_name, admin.family_name, admin.id
                        );
                    }
                }
            }
            Ok(())
        }
    }
}
