//! `collegium import`: roster import from the command line.
//!
//! ```text
//! collegium import oneroster DIR       --tenant SLUG (--data-dir DIR | --database-url URL)
//!                                      [--apply] [--confirm-deactivations] [--format text|json]
//! collegium import people FILE [--delta] --tenant SLUG …
//! ```
//!
//! A thin shell around [`collegium_membership::roster`]: it reads the files,
//! runs the import job against the tenant's store and prints the report on
//! stdout (a progress bar on stderr while applying, when stderr is a
//! terminal). Without `--apply` it is a dry run. The exit status is non-zero
//! when nothing could be written (bad files, the deactivation threshold) or
//! the job stopped part-way; running the same command again continues it.
//! The rules (what is imported, manual edits, deactivations) are in the
//! `roster` module's doc and the README.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    time::Duration,
};

use clap::{Args, Subcommand, ValueEnum};
use collegium_membership::{
    MembershipStore,
    roster::{
        DEFAULT_BATCH_SIZE, FileMode, Limits, ParsedRoster,
        job::{self, ImportOptions, Progress},
        oneroster, people_csv,
        report::Outcome,
        source::Directory,
    },
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    source: Source,
}

#[derive(Debug, Subcommand)]
enum Source {
    /// A OneRoster 1.1 CSV set: a directory with manifest.csv, orgs.csv, users.csv, …
    Oneroster {
        /// The directory of the (unzipped) set.
        dir: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// A collegium-people.csv file: external_id, given_name, family_name, email
    /// [, organisation_external_id, role, phone].
    People {
        /// The CSV file.
        file: PathBuf,
        /// The file lists changes only: nobody it lacks is deactivated.
        #[arg(long)]
        delta: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people at a terminal.
    Text,
    /// The whole report, every row, for programs.
    Json,
}

#[derive(Debug, Args)]
struct Common {
    /// The tenant's slug (see `collegium tenant list`).
    #[arg(long)]
    tenant: String,
    /// A dev data directory (SQLite)…
    #[arg(long, env = "COLLEGIUM_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// …or the membership database (PostgreSQL, app role URL).
    #[arg(long, env = "COLLEGIUM_DATABASE_URL")]
    database_url: Option<String>,
    /// Write the changes. Without it the import only shows them (a dry run).
    #[arg(long)]
    apply: bool,
    /// Apply even though more than 10% of the tenant's active roster-managed
    /// people would be deactivated.
    #[arg(long)]
    confirm_deactivations: bool,
    /// How the report is printed.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Rows written per transaction.
    #[arg(long, default_value_t = DEFAULT_BATCH_SIZE as u64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch_size: u64,
    /// The largest file read, in bytes.
    #[arg(long, default_value_t = Limits::default().max_file_bytes)]
    max_file_size: u64,
    /// The most data rows read from one file.
    #[arg(long, default_value_t = Limits::default().max_rows)]
    max_rows: u64,
    /// Rows listed per section of the text report (JSON lists all).
    #[arg(long, default_value_t = 200)]
    max_listed: usize,
}

/// The progress bar of an apply, on stderr.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, rows: u64) {
        self.0.set_style(
            ProgressStyle::with_template(
                "{spinner} writing [{bar:40}] {pos}/{len} rows, {elapsed} (eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        self.0.set_length(rows);
        self.0.set_position(0);
    }

    fn advance(&self, rows: u64) {
        self.0.inc(rows);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A spinner on stderr while files are read; hidden when stderr is not a terminal.
fn spinner(message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

pub async fn run(args: ImportArgs) -> anyhow::Result<()> {
    let (common, read): (Common, Box<dyn FnOnce(Limits) -> ParsedRoster + Send>) = match args.source
    {
        Source::Oneroster { dir, common } => {
            let files = Directory::new(&dir)
                .map_err(|e| anyhow::anyhow!("{e} (give the directory of a OneRoster set)"))?;
            (
                common,
                Box::new(move |limits| oneroster::parse(&files, &limits)),
            )
        }
        Source::People {
            file,
            delta,
            common,
        } => {
            let (dir, name) = match (file.parent(), file.file_name().and_then(|n| n.to_str())) {
                (Some(dir), Some(name)) if file.is_file() => {
                    let dir = if dir.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        dir.to_path_buf()
                    };
                    (Directory::new(&dir)?, name.to_string())
                }
                _ => anyhow::bail!("{} is not a file", file.display()),
            };
            let mode = if delta {
                FileMode::Delta
            } else {
                FileMode::Bulk
            };
            (
                common,
                Box::new(move |limits| people_csv::parse(&dir, &name, mode, &limits)),
            )
        }
    };

    let store: Box<dyn MembershipStore> = match (&common.data_dir, &common.database_url) {
        (Some(dir), None) => {
            let db = dir.join("membership.db");
            if !db.exists() {
                anyhow::bail!(
                    "{} has no Collegium data; create a tenant first (`collegium tenant create \
                     --data-dir {}`) or start `collegium dev --data-dir {}`",
                    dir.display(),
                    dir.display(),
                    dir.display()
                );
            }
            Box::new(collegium_membership::open_sqlite(&db).await?)
        }
        (None, Some(url)) => Box::new(collegium_membership::open_postgres(url, 2).await?),
        _ => anyhow::bail!("give exactly one of --data-dir or --database-url"),
    };
    let tenant = store.tenant_by_slug(&common.tenant).await.map_err(|_| {
        anyhow::anyhow!(
            "no tenant with slug {:?} (see `collegium tenant list`)",
            common.tenant
        )
    })?;

    let limits = Limits {
        max_file_bytes: common.max_file_size,
        max_rows: common.max_rows,
    };
    let reading = spinner("reading the files");
    let roster = tokio::task::spawn_blocking(move || read(limits)).await?;
    reading.finish_and_clear();

    let bar = if common.apply && std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    let options = ImportOptions {
        apply: common.apply,
        confirm_deactivations: common.confirm_deactivations,
        batch_size: usize::try_from(common.batch_size).unwrap_or(DEFAULT_BATCH_SIZE),
        actor: "operator".into(),
        ..ImportOptions::default()
    };
    let report = job::run(store.as_ref(), &tenant, &roster, &options, &Bar(bar)).await?;
    let printed = match common.format {
        Format::Text => report.to_text(common.max_listed),
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    // A reader that stops early (`| head`) is not an error of the import.
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(printed.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e.into());
    }
    match report.outcome {
        Outcome::DryRun | Outcome::Applied => Ok(()),
        Outcome::Stopped => {
            anyhow::bail!("stopped at the deactivation threshold; nothing was written")
        }
        Outcome::Invalid => anyhow::bail!("the files cannot be imported; nothing was written"),
        Outcome::Failed => {
            anyhow::bail!("the import stopped part-way; run the same command again to continue it")
        }
    }
}
