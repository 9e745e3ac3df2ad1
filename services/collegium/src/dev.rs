//! `collegium dev`: the whole platform in one process.
//!
//! Every service (membership, scheduling, notifications, scoring) runs on its
//! own loopback port exactly as in production (the gateway reaches it over
//! gRPC with the caller's token), but on SQLite files in the data directory,
//! with the in-process event bus and a dev token issuer whose key is kept in
//! the data directory. Scoring's student-id key is `scoring.key` there too
//! (created on first start; deleting it makes the stored student ids of that
//! directory unreadable).

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use clap::Args;
use collegium_gateway::GatewayConfig;
use platform::{
    auth::TokenVerifier,
    config::{LogFormat, TelemetryArgs},
    events::{EventBus, memory::MemoryBus},
    grpc::shutdown_signal,
};
use tokio::net::TcpListener;

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Where the SQLite files, the dev signing key and (later) sent e-mails live.
    #[arg(long, env = "COLLEGIUM_DATA_DIR", default_value = ".collegium")]
    data_dir: PathBuf,
    /// Address of the GraphQL gateway.
    #[arg(long, env = "COLLEGIUM_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Log filter in `tracing` syntax.
    #[arg(long, env = "COLLEGIUM_LOG", default_value = "info")]
    log: String,
    /// Hours the printed demo tokens are valid.
    #[arg(long, default_value_t = 12)]
    token_hours: i64,
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    let _telemetry = platform::telemetry::init(
        "collegium-dev",
        &TelemetryArgs {
            log_format: LogFormat::Pretty,
            log_filter: args.log.clone(),
            otlp_endpoint: std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok(),
        },
    )?;
    std::fs::create_dir_all(&args.data_dir)?;
    let signer = crate::dev_signer(&args.data_dir)?;
    let verifier = TokenVerifier::builder().trust_signer(&signer)?.build();

    let store = collegium_membership::open_sqlite(&args.data_dir.join("membership.db")).await?;
    // The demo logins are written once, when the demo tenants are seeded, and
    // read back on every later start to print fresh tokens.
    let logins_file = args.data_dir.join("demo-logins.json");
    let seeded = crate::seed::seed_if_empty(&store).await?;
    if !seeded.is_empty() {
        tracing::info!(tenants = 3, "seeded the demo tenants");
        std::fs::write(&logins_file, serde_json::to_vec_pretty(&seeded)?)?;
    }
    let logins: Vec<crate::seed::DemoLogin> = match std::fs::read(&logins_file) {
        Ok(bytes) => serde_json::from_slice(&bytes)?,
        Err(_) => vec![],
    };

    let bus: Arc<dyn EventBus> = Arc::new(MemoryBus::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let relay = collegium_membership::start_relay_sqlite(&store, bus.clone(), stop_rx);

    let (drain_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let drained = |tx: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = tx.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };

    let membership = collegium_membership::start(
        TcpListener::bind("127.0.0.1:0").await?,
        Arc::new(store.clone()),
        verifier.clone(),
        drained(&drain_tx),
    )
    .await?;

    let scheduling_store =
        collegium_scheduling::open_sqlite(&args.data_dir.join("scheduling.db")).await?;
    let scheduling_relay = collegium_scheduling::start_relay_sqlite(
        &scheduling_store,
        bus.clone(),
        stop_tx.subscribe(),
    );
    let scheduling = collegium_scheduling::start(
        TcpListener::bind("127.0.0.1:0").await?,
        Arc::new(scheduling_store),
        verifier.clone(),
        collegium_scheduling::SchedulingRuntime {
            membership_url: format!("http://{}", membership.addr),
            materials: collegium_scheduling::MaterialStore::local(
                &args.data_dir.join("materials"),
            )?,
        },
        drained(&drain_tx),
    )
    .await?;

    // Scoring asks membership for scorers' schools and research opt-outs, and
    // scheduling for training attendance and the session's event.
    let scoring_store = collegium_scoring::open_sqlite(&args.data_dir.join("scoring.db")).await?;
    let scoring_relay =
        collegium_scoring::start_relay_sqlite(&scoring_store, bus.clone(), stop_tx.subscribe());
    let scoring = collegium_scoring::start(
        TcpListener::bind("127.0.0.1:0").await?,
        Arc::new(scoring_store),
        verifier.clone(),
        collegium_scoring::ScoringRuntime {
            membership_url: format!("http://{}", membership.addr),
            scheduling_url: format!("http://{}", scheduling.addr),
            key: collegium_scoring::load_or_create_key(&args.data_dir.join("scoring.key"))?,
        },
        drained(&drain_tx),
    )
    .await?;

    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e} (use --listen)", args.listen))?;
    let public_url = format!("http://{}", listener.local_addr()?);

    // E-mail goes to .eml files in the data directory (see the README).
    let mail_dir = args.data_dir.join("mail");
    let notifications_store =
        collegium_notifications::open_sqlite(&args.data_dir.join("notifications.db")).await?;
    let notifications_relay = collegium_notifications::start_relay_sqlite(
        &notifications_store,
        bus.clone(),
        stop_tx.subscribe(),
    );
    let notifications = collegium_notifications::start(
        TcpListener::bind("127.0.0.1:0").await?,
        Arc::new(notifications_store),
        verifier.clone(),
        collegium_notifications::NotificationsRuntime {
            membership_url: format!("http://{}", membership.addr),
            scheduling_url: format!("http://{}", scheduling.addr),
            mailer: collegium_notifications::Mailer::file(&mail_dir)?,
            mail_from: "Collegium Dev <no-reply@collegium.invalid>".parse()?,
            public_url: public_url.clone(),
            signer: signer.clone(),
            unsubscribe_key: collegium_notifications::UnsubscribeKey::derive(
                std::fs::read(crate::dev_key_path(&args.data_dir))?.as_slice(),
            ),
            workers: Default::default(),
        },
        bus.clone(),
        drained(&drain_tx),
    )
    .await?;

    if crate::seed_schedule::seed_if_empty(&store, &signer, &format!("http://{}", scheduling.addr))
        .await?
    {
        tracing::info!("seeded the demo tenants' academic year");
    }
    if crate::seed_scoring::seed_if_empty(
        &store,
        &signer,
        &format!("http://{}", scoring.addr),
        &format!("http://{}", scheduling.addr),
    )
    .await?
    {
        tracing::info!("seeded the demo tenants' scored year");
    }

    let mut config = GatewayConfig::new(verifier, format!("http://{}", membership.addr))
        .with_scheduling(format!("http://{}", scheduling.addr))
        .with_notifications(format!("http://{}", notifications.addr))
        .with_scoring(format!("http://{}", scoring.addr));
    config.dev_mode = true;
    // Calendar feed and unsubscribe links must point at where this process really listens.
    let config = config.with_public_url(public_url.clone());
    let gateway = collegium_gateway::serve(config, listener, drained(&drain_tx)).await?;
    // The nightly expiry job, in-process (production: a CronJob).
    let retention = crate::retention::schedule_daily(
        store.clone(),
        signer.clone(),
        collegium_gateway::upstream::Upstreams::to_with_deadline(
            &format!("http://{}", membership.addr),
            &format!("http://{}", scheduling.addr),
            &format!("http://{}", notifications.addr),
            &format!("http://{}", scoring.addr),
            collegium_gateway::fanout::JOB_CALL_DEADLINE,
        )?,
    );

    let services = [
        ("membership", membership.addr),
        ("scheduling", scheduling.addr),
        ("notifications", notifications.addr),
        ("scoring", scoring.addr),
    ];
    print_welcome(&args, gateway.addr, &services, &store, &signer, &logins).await?;

    shutdown_signal().await;
    retention.abort();
    let _ = drain_tx.send(());
    let _ = gateway.task.await;
    let _ = membership.task.await;
    let _ = scheduling.task.await;
    let _ = notifications.task.await;
    let _ = scoring.task.await;
    let _ = stop_tx.send(true);
    let _ = relay.await;
    let _ = scheduling_relay.await;
    let _ = notifications_relay.await;
    let _ = scoring_relay.await;
    Ok(())
}

/// Prints the GraphiQL URL and a ready token for each demo login.
async fn print_welcome(
    args: &DevArgs,
    addr: SocketAddr,
    services: &[(&str, SocketAddr)],
    store: &collegium_membership::store::sqlite::Store,
    signer: &platform::auth::TokenSigner,
    logins: &[crate::seed::DemoLogin],
) -> anyhow::Result<()> {
    let url = format!("http://{addr}/graphql");
    println!();
    println!("Collegium is running.");
    println!("  GraphiQL:  {url}");
    println!("  data dir:  {}", args.data_dir.display());
    println!("  e-mails:   {}", args.data_dir.join("mail").display());
    // Each service's own loopback port: gRPC with reflection (grpcurl -plaintext).
    println!("  services:");
    for (name, addr) in services {
        println!("    {name:<14} http://{addr}");
    }
    println!();
    println!("Paste a token into GraphiQL's headers as {{\"Authorization\": \"Bearer <token>\"}}.");
    println!(
        "More tokens: collegium token --data-dir {} --tenant SLUG --email EMAIL",
        args.data_dir.display()
    );
    for login in logins {
        let token = crate::token_for(
            store,
            signer,
            &login.tenant_slug,
            &login.email,
            args.token_hours,
        )
        .await;
        match token {
            Ok(token) => {
                println!();
                println!(
                    "  [{}] {} <{}>",
                    login.tenant_slug, login.label, login.email
                );
                println!("  {token}");
            }
            Err(e) => tracing::warn!(email = %login.email, error = %e, "demo login not found"),
        }
    }
    println!();
    println!("Press Ctrl-C to stop.");
    Ok(())
}
