//! `collegium-notifications`: the notifications service alone, against
//! PostgreSQL, Redis, the membership and scheduling services and an SMTP
//! relay (the production mode; `collegium dev` runs everything in one
//! process).

use std::{path::PathBuf, sync::Arc, time::Duration};

use clap::{Args, Parser};
use collegium_notifications::{Mailer, NotificationsRuntime, UnsubscribeKey, WorkerOptions};
use platform::{
    config::{AuthArgs, DatabaseArgs, GrpcServerArgs, RedisArgs, TelemetryArgs},
    error::{Error, Result},
    events::redis::RedisBus,
    grpc::shutdown_signal,
};

/// Where the other services are, where e-mail goes, and what links point at.
#[derive(Debug, Clone, Args)]
struct NotificationsArgs {
    /// gRPC URL of the membership service.
    #[arg(long, env = "COLLEGIUM_MEMBERSHIP_URL")]
    membership_url: String,
    /// gRPC URL of the scheduling service.
    #[arg(long, env = "COLLEGIUM_SCHEDULING_URL")]
    scheduling_url: String,
    /// SMTP relay: `smtp://host:port` (no TLS), `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://host:465` (implicit TLS); `user:password@` before
    /// the host for AUTH.
    #[arg(long, env = "COLLEGIUM_SMTP_URL", conflicts_with = "mail_dir")]
    smtp_url: Option<String>,
    /// Directory that receives every e-mail as an `.eml` file (development
    /// and demos; nothing is sent).
    #[arg(long, env = "COLLEGIUM_MAIL_DIR")]
    mail_dir: Option<PathBuf>,
    /// `From:` of every e-mail.
    #[arg(
        long,
        env = "COLLEGIUM_MAIL_FROM",
        default_value = "Collegium <no-reply@collegium.invalid>"
    )]
    mail_from: String,
    /// Public base URL of the web client: links in e-mails and the one-click
    /// unsubscribe URL (`<url>/unsubscribe/<token>`).
    #[arg(long, env = "COLLEGIUM_PUBLIC_URL")]
    public_url: String,
    /// File with the secret that signs unsubscribe links (any bytes; keep it
    /// stable, or links in e-mails already sent stop working). Unset: derived
    /// from the service key, so rotating that key also retires old links.
    #[arg(long, env = "COLLEGIUM_UNSUBSCRIBE_KEY_FILE")]
    unsubscribe_key_file: Option<PathBuf>,
}

impl NotificationsArgs {
    fn validate(&self) -> Result<()> {
        for (field, url) in [
            ("COLLEGIUM_MEMBERSHIP_URL", &self.membership_url),
            ("COLLEGIUM_SCHEDULING_URL", &self.scheduling_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::invalid(field, "must be an http:// or https:// URL"));
            }
        }
        if !(self.public_url.starts_with("https://") || self.public_url.starts_with("http://")) {
            return Err(Error::invalid(
                "COLLEGIUM_PUBLIC_URL",
                "must be an https:// (or, for local use, http://) URL",
            ));
        }
        Ok(())
    }

    fn mailer(&self) -> Result<Mailer> {
        match (&self.smtp_url, &self.mail_dir) {
            (Some(url), None) => Mailer::smtp(url),
            (None, Some(dir)) => Mailer::file(dir),
            _ => Err(Error::invalid(
                "COLLEGIUM_SMTP_URL",
                "set COLLEGIUM_SMTP_URL or COLLEGIUM_MAIL_DIR",
            )),
        }
    }

    fn mail_from(&self) -> Result<lettre::message::Mailbox> {
        self.mail_from.parse().map_err(|e| {
            Error::invalid(
                "COLLEGIUM_MAIL_FROM",
                format!("not a mailbox such as \"Collegium <no-reply@example.org>\": {e}"),
            )
        })
    }

    fn unsubscribe_key(&self, auth: &AuthArgs) -> Result<UnsubscribeKey> {
        let (field, path) = match (&self.unsubscribe_key_file, &auth.service_key_file) {
            (Some(p), _) => ("COLLEGIUM_UNSUBSCRIBE_KEY_FILE", p),
            (None, Some(p)) => ("COLLEGIUM_SERVICE_KEY_FILE", p),
            (None, None) => {
                return Err(Error::invalid(
                    "COLLEGIUM_UNSUBSCRIBE_KEY_FILE",
                    "required when COLLEGIUM_SERVICE_KEY_FILE is not set",
                ));
            }
        };
        let material = std::fs::read(path)
            .map_err(|e| Error::invalid(field, format!("{}: {e}", path.display())))?;
        if material.len() < 16 {
            return Err(Error::invalid(field, "holds fewer than 16 bytes of secret"));
        }
        Ok(UnsubscribeKey::derive(&material))
    }
}

/// Notifications service settings; every flag has a `COLLEGIUM_…` env twin.
#[derive(Debug, Parser)]
#[command(name = "collegium-notifications", version, about)]
struct Config {
    #[command(flatten)]
    telemetry: TelemetryArgs,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(flatten)]
    redis: RedisArgs,
    #[command(flatten)]
    grpc: GrpcServerArgs,
    #[command(flatten)]
    notifications: NotificationsArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let _telemetry = platform::telemetry::init("notifications", &config.telemetry)?;
    config.database.validate()?;
    config.redis.validate()?;
    config.notifications.validate()?;
    let (verifier, signer) = config.auth.load()?;
    // Background work acts for one tenant at a time with service tokens.
    let signer = signer.ok_or_else(|| {
        Error::invalid(
            "COLLEGIUM_SERVICE_KEY_FILE",
            "required: the notifications service signs service tokens for its background work",
        )
    })?;
    let runtime = NotificationsRuntime {
        membership_url: config.notifications.membership_url.clone(),
        scheduling_url: config.notifications.scheduling_url.clone(),
        mailer: config.notifications.mailer()?,
        mail_from: config.notifications.mail_from()?,
        public_url: config.notifications.public_url.clone(),
        signer,
        unsubscribe_key: config.notifications.unsubscribe_key(&config.auth)?,
        workers: WorkerOptions::default(),
    };

    let store = collegium_notifications::open_postgres(
        &config.database.database_url,
        config.database.database_max_connections,
    )
    .await?;
    let bus = Arc::new(RedisBus::connect(&config.redis.redis_url, "collegium").await?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let relay = collegium_notifications::start_relay_postgres(&store, bus.clone(), stop_rx);

    let listener = tokio::net::TcpListener::bind(config.grpc.grpc_listen).await?;
    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let server =
        collegium_notifications::start(listener, Arc::new(store), verifier, runtime, bus, async {
            let _ = drain_rx.await;
        })
        .await?;

    shutdown_signal().await;
    let _ = drain_tx.send(());
    let grace = Duration::from_secs(config.grpc.shutdown_grace_seconds);
    if tokio::time::timeout(grace, server.task).await.is_err() {
        tracing::warn!(
            ?grace,
            "calls or deliveries still running after the grace period; exiting"
        );
    }
    let _ = stop_tx.send(true);
    let _ = relay.await;
    Ok(())
}
