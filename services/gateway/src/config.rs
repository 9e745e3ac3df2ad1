//! The gateway's settings: [`GatewayArgs`] is what the binary reads (flags
//! with `COLLEGIUM_…` env twins), [`GatewayConfig`] is what
//! [`serve`](crate::serve) runs with. Both the binary and the all-in-one CLI
//! build a `GatewayConfig`; [`GatewayConfig::validate`] runs on every start,
//! so a bad setting stops the process with a message naming it.

use std::net::SocketAddr;

use clap::Args;
use platform::{
    auth::TokenVerifier,
    error::{Error, Result},
};

/// Where the scheduling service listens when nothing else is configured.
pub const DEFAULT_SCHEDULING_URL: &str = "http://127.0.0.1:50052";
/// Where the notifications service listens when nothing else is configured.
pub const DEFAULT_NOTIFICATIONS_URL: &str = "http://127.0.0.1:50053";
/// Where the scoring service listens when nothing else is configured.
pub const DEFAULT_SCORING_URL: &str = "http://127.0.0.1:50054";
/// The gateway's public address when nothing else is configured.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";
/// Largest request body accepted when nothing else is configured (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest multipart (file upload) request accepted by default: membership's
/// 512 MiB roster upload cap plus room for the multipart framing.
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = (512 << 20) + (1 << 20);
/// Deepest selection accepted when nothing else is configured.
pub const DEFAULT_QUERY_DEPTH_LIMIT: usize = 12;
/// Largest query complexity (roughly: fields selected) accepted by default.
pub const DEFAULT_QUERY_COMPLEXITY_LIMIT: usize = 1000;

/// The gateway's own flags; the binary flattens them next to the platform's
/// telemetry and auth groups.
#[derive(Debug, Clone, Args)]
pub struct GatewayArgs {
    /// Address the HTTP server (GraphQL, probes, metrics) listens on.
    #[arg(long, env = "COLLEGIUM_HTTP_LISTEN", default_value = "0.0.0.0:8080")]
    pub http_listen: String,
    /// gRPC URL of the membership service.
    #[arg(
        long,
        env = "COLLEGIUM_MEMBERSHIP_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub membership_url: String,
    /// gRPC URL of the scheduling service.
    #[arg(long, env = "COLLEGIUM_SCHEDULING_URL", default_value = DEFAULT_SCHEDULING_URL)]
    pub scheduling_url: String,
    /// gRPC URL of the notifications service.
    #[arg(
        long,
        env = "COLLEGIUM_NOTIFICATIONS_URL",
        default_value = DEFAULT_NOTIFICATIONS_URL
    )]
    pub notifications_url: String,
    /// gRPC URL of the scoring service.
    #[arg(long, env = "COLLEGIUM_SCORING_URL", default_value = DEFAULT_SCORING_URL)]
    pub scoring_url: String,
    /// The gateway's address as people and their calendar apps reach it
    /// (scheme, host, optional port and path prefix), for the links it
    /// hands out: calendar feeds are `<this>/calendar/<token>.ics`.
    #[arg(long, env = "COLLEGIUM_PUBLIC_URL", default_value = DEFAULT_PUBLIC_URL)]
    pub public_url: String,
    /// Web origins allowed to call the API from a browser, comma separated
    /// (`https://app.example.org,https://admin.example.org`). Empty: no
    /// cross-origin calls at all.
    #[arg(long, env = "COLLEGIUM_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Development mode: introspection and the GraphiQL page at GET /graphql.
    #[arg(
        long,
        env = "COLLEGIUM_DEV_MODE",
        default_value_t = false,
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub dev_mode: bool,
    /// Largest request body in bytes; larger requests get 413.
    #[arg(long, env = "COLLEGIUM_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Largest multipart/form-data request body in bytes (GraphQL file
    /// uploads: roster import); larger uploads get 413. Other requests keep
    /// COLLEGIUM_MAX_BODY_BYTES.
    #[arg(long, env = "COLLEGIUM_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: usize,
    /// Deepest selection set a query may have.
    #[arg(long, env = "COLLEGIUM_QUERY_DEPTH_LIMIT", default_value_t = DEFAULT_QUERY_DEPTH_LIMIT)]
    pub query_depth_limit: usize,
    /// Largest complexity (fields selected) a query may have.
    #[arg(
        long,
        env = "COLLEGIUM_QUERY_COMPLEXITY_LIMIT",
        default_value_t = DEFAULT_QUERY_COMPLEXITY_LIMIT
    )]
    pub query_complexity_limit: usize,
    /// Seconds between SIGTERM and closing the listener, during which
    /// `/readyz` answers 503 so load balancers stop sending new requests
    /// while requests already sent are still served.
    #[arg(long, env = "COLLEGIUM_SHUTDOWN_DRAIN_SECONDS", default_value_t = 5)]
    pub shutdown_drain_seconds: u64,
}

impl GatewayArgs {
    /// The address to bind, checked.
    pub fn listen_addr(&self) -> Result<SocketAddr> {
        self.http_listen.trim().parse().map_err(|_| {
            Error::invalid(
                "COLLEGIUM_HTTP_LISTEN",
                format!("{:?} is not an address like 0.0.0.0:8080", self.http_listen),
            )
        })
    }

    /// The validated configuration, trusting tokens that `verifier` accepts.
    pub fn into_config(self, verifier: TokenVerifier) -> Result<GatewayConfig> {
        self.listen_addr()?;
        let config = GatewayConfig {
            verifier,
            membership_url: self.membership_url.trim().to_string(),
            scheduling_url: self.scheduling_url.trim().to_string(),
            notifications_url: self.notifications_url.trim().to_string(),
            scoring_url: self.scoring_url.trim().to_string(),
            public_url: public_url(&self.public_url),
            cors_origins: self
                .cors_origins
                .iter()
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect(),
            dev_mode: self.dev_mode,
            max_body_bytes: self.max_body_bytes,
            max_upload_bytes: self.max_upload_bytes,
            query_depth_limit: self.query_depth_limit,
            query_complexity_limit: self.query_complexity_limit,
            drain: std::time::Duration::from_secs(self.shutdown_drain_seconds),
        };
        config.validate()?;
        Ok(config)
    }
}

/// Everything [`serve`](crate::serve) and [`GatewayState::new`](crate::GatewayState::new)
/// need. The listener is passed separately so tests and the all-in-one CLI
/// can bind port 0.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Verifies every caller's bearer token (the services verify it again).
    pub verifier: TokenVerifier,
    /// gRPC URL of the membership service, e.g. `http://membership:50051`.
    pub membership_url: String,
    /// gRPC URL of the scheduling service, e.g. `http://scheduling:50052`.
    pub scheduling_url: String,
    /// gRPC URL of the notifications service, e.g. `http://notifications:50053`.
    pub notifications_url: String,
    /// gRPC URL of the scoring service, e.g. `http://scoring:50054`.
    pub scoring_url: String,
    /// The gateway's public address, without a trailing `/`, e.g.
    /// `https://collegium.example.org`; calendar feed URLs start with it.
    pub public_url: String,
    /// Browser origins allowed to call the API (`scheme://host[:port]`).
    /// Empty: no CORS headers at all, so browsers refuse cross-origin calls.
    pub cors_origins: Vec<String>,
    /// Enables introspection and GraphiQL. Never in production: the schema
    /// is public knowledge then, and GraphiQL is an attack console.
    pub dev_mode: bool,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Largest multipart (file upload) request body in bytes.
    pub max_upload_bytes: usize,
    /// Deepest selection set a query may have.
    pub query_depth_limit: usize,
    /// Largest complexity a query may have.
    pub query_complexity_limit: usize,
    /// Time between the shutdown signal and closing the listener (readiness
    /// fails meanwhile). Zero by default in the library; the binary uses
    /// `COLLEGIUM_SHUTDOWN_DRAIN_SECONDS`.
    pub drain: std::time::Duration,
}

impl GatewayConfig {
    /// Production defaults (no CORS, no dev mode, default limits) for a
    /// gateway in front of membership at `membership_url`, scheduling at
    /// [`DEFAULT_SCHEDULING_URL`] (see [`with_scheduling`](Self::with_scheduling)),
    /// notifications at [`DEFAULT_NOTIFICATIONS_URL`] (see
    /// [`with_notifications`](Self::with_notifications)), scoring at
    /// [`DEFAULT_SCORING_URL`] (see [`with_scoring`](Self::with_scoring)) and
    /// public at [`DEFAULT_PUBLIC_URL`].
    pub fn new(verifier: TokenVerifier, membership_url: impl Into<String>) -> Self {
        Self {
            verifier,
            membership_url: membership_url.into(),
            scheduling_url: DEFAULT_SCHEDULING_URL.to_string(),
            notifications_url: DEFAULT_NOTIFICATIONS_URL.to_string(),
            scoring_url: DEFAULT_SCORING_URL.to_string(),
            public_url: DEFAULT_PUBLIC_URL.to_string(),
            cors_origins: Vec::new(),
            dev_mode: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            query_depth_limit: DEFAULT_QUERY_DEPTH_LIMIT,
            query_complexity_limit: DEFAULT_QUERY_COMPLEXITY_LIMIT,
            drain: std::time::Duration::ZERO,
        }
    }

    /// The same gateway in front of scheduling at `url`.
    pub fn with_scheduling(mut self, url: impl Into<String>) -> Self {
        self.scheduling_url = url.into();
        self
    }

    /// The same gateway in front of notifications at `url`.
    pub fn with_notifications(mut self, url: impl Into<String>) -> Self {
        self.notifications_url = url.into();
        self
    }

    /// The same gateway in front of scoring at `url`.
    pub fn with_scoring(mut self, url: impl Into<String>) -> Self {
        self.scoring_url = url.into();
        self
    }

    /// The same gateway, reached from outside at `url` (a trailing `/` is
    /// dropped).
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = public_url(&url.into());
        self
    }

    /// Checks every setting; the error names the first bad one by its
    /// environment variable.
    pub fn validate(&self) -> Result<()> {
        check_upstream_url("COLLEGIUM_MEMBERSHIP_URL", &self.membership_url)?;
        check_upstream_url("COLLEGIUM_SCHEDULING_URL", &self.scheduling_url)?;
        check_upstream_url("COLLEGIUM_NOTIFICATIONS_URL", &self.notifications_url)?;
        check_upstream_url("COLLEGIUM_SCORING_URL", &self.scoring_url)?;
        check_public_url(&self.public_url)?;
        for origin in &self.cors_origins {
            check_origin(origin)?;
        }
        if self.max_body_bytes < 1024 {
            return Err(Error::invalid(
                "COLLEGIUM_MAX_BODY_BYTES",
                format!("{} is too small; at least 1024", self.max_body_bytes),
            ));
        }
        if self.max_upload_bytes < self.max_body_bytes {
            return Err(Error::invalid(
                "COLLEGIUM_MAX_UPLOAD_BYTES",
                format!(
                    "{} is smaller than COLLEGIUM_MAX_BODY_BYTES ({})",
                    self.max_upload_bytes, self.max_body_bytes
                ),
            ));
        }
        if !(1..=100).contains(&self.query_depth_limit) {
            return Err(Error::invalid(
                "COLLEGIUM_QUERY_DEPTH_LIMIT",
                format!("{} is out of range 1-100", self.query_depth_limit),
            ));
        }
        if self.query_complexity_limit == 0 {
            return Err(Error::invalid(
                "COLLEGIUM_QUERY_COMPLEXITY_LIMIT",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

fn check_upstream_url(setting: &str, url: &str) -> Result<()> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| Error::invalid(setting, format!("{url:?} is not a URL")))?;
    match uri.scheme_str() {
        Some("http") | Some("https") if uri.authority().is_some() => Ok(()),
        _ => Err(Error::invalid(
            setting,
            format!("{url:?} must look like http://host:port"),
        )),
    }
}

fn public_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// An absolute http(s) URL links can be built on: no query or fragment,
/// since paths are appended to it.
fn check_public_url(url: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid("COLLEGIUM_PUBLIC_URL", format!("{url:?}: {why}"));
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") if uri.authority().is_some() => {}
        _ => return Err(bad("must look like https://host[:port][/prefix]")),
    }
    if url.contains(['?', '#']) {
        return Err(bad("must have no query or fragment"));
    }
    Ok(())
}

/// An origin as browsers send it: scheme, host and optional port, nothing
/// else. A wildcard is refused: the API carries bearer tokens, and any site
/// being able to script it is never what an operator means.
fn check_origin(origin: &str) -> Result<()> {
    let bad = |why: &str| Error::invalid("COLLEGIUM_CORS_ORIGINS", format!("{origin:?}: {why}"));
    if origin == "*" {
        return Err(bad("wildcards are not allowed; list each origin"));
    }
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with https:// or http://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '*', ' ']) {
        return Err(bad("must be scheme://host[:port] with no path"));
    }
    http::HeaderValue::from_str(origin).map_err(|_| bad("not a valid header value"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        gateway: GatewayArgs,
    }

    fn verifier() -> TokenVerifier {
        TokenVerifier::builder().build()
    }

    fn field(e: Error) -> String {
        e.violations()[0].field.clone()
    }

    #[test]
    fn defaults_are_production_safe() {
        let cli = Cli::try_parse_from(["gw"]).unwrap();
        assert_eq!(cli.gateway.http_listen, "0.0.0.0:8080");
        let config = cli.gateway.into_config(verifier()).unwrap();
        assert_eq!(config.membership_url, "http://127.0.0.1:50051");
        assert_eq!(config.scheduling_url, "http://127.0.0.1:50052");
        assert_eq!(config.notifications_url, "http://127.0.0.1:50053");
        assert_eq!(config.scoring_url, "http://127.0.0.1:50054");
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert!(config.cors_origins.is_empty());
        assert!(!config.dev_mode);
        assert_eq!(config.max_body_bytes, 1024 * 1024);
        assert_eq!(config.query_depth_limit, 12);
        assert_eq!(config.query_complexity_limit, 1000);
    }

    #[test]
    fn flags_parse_lists_and_booleans() {
        let cli = Cli::try_parse_from([
            "gw",
            "--cors-origins",
            "https://a.example.org, http://localhost:5173",
            "--dev-mode",
        ])
        .unwrap();
        let config = cli.gateway.into_config(verifier()).unwrap();
        assert_eq!(
            config.cors_origins,
            ["https://a.example.org", "http://localhost:5173"]
        );
        assert!(config.dev_mode);
        let cli = Cli::try_parse_from(["gw", "--dev-mode", "false"]).unwrap();
        assert!(!cli.gateway.dev_mode);
    }

    #[test]
    fn scheduling_and_the_public_url_are_set_like_the_rest() {
        let cli = Cli::try_parse_from([
            "gw",
            "--scheduling-url",
            " http://scheduling:50052 ",
            "--public-url",
            "https://collegium.example.org/api/",
        ])
        .unwrap();
        let config = cli.gateway.into_config(verifier()).unwrap();
        assert_eq!(config.scheduling_url, "http://scheduling:50052");
        assert_eq!(config.public_url, "https://collegium.example.org/api");

        let config = GatewayConfig::new(verifier(), "http://membership:50051");
        assert_eq!(config.scheduling_url, DEFAULT_SCHEDULING_URL);
        assert_eq!(config.public_url, DEFAULT_PUBLIC_URL);
        let config = config
            .with_scheduling("http://scheduling:50052")
            .with_public_url("https://collegium.example.org/");
        assert_eq!(config.scheduling_url, "http://scheduling:50052");
        assert_eq!(config.public_url, "https://collegium.example.org");
        config.validate().unwrap();
        let bad = GatewayConfig::new(verifier(), "http://membership:50051").with_scheduling("nope");
        assert_eq!(
            field(bad.validate().unwrap_err()),
            "COLLEGIUM_SCHEDULING_URL"
        );
    }

    #[test]
    fn notifications_is_set_like_scheduling() {
        let cli =
            Cli::try_parse_from(["gw", "--notifications-url", " http://notifications:50053 "])
                .unwrap();
        let config = cli.gateway.into_config(verifier()).unwrap();
        assert_eq!(config.notifications_url, "http://notifications:50053");

        // `new` keeps working, with the default; the builder overrides it.
        let config = GatewayConfig::new(verifier(), "http://membership:50051");
        assert_eq!(config.notifications_url, DEFAULT_NOTIFICATIONS_URL);
        config.validate().unwrap();
        let config = config.with_notifications("https://notifications.internal:443");
        assert_eq!(
            config.notifications_url,
            "https://notifications.internal:443"
        );
        config.validate().unwrap();
        for bad in ["nope", "notifications:50053", "ftp://n:1", ""] {
            let config =
                GatewayConfig::new(verifier(), "http://membership:50051").with_notifications(bad);
            assert_eq!(
                field(config.validate().unwrap_err()),
                "COLLEGIUM_NOTIFICATIONS_URL",
                "{bad}"
            );
        }
    }

    #[test]
    fn scoring_is_set_like_the_other_upstreams() {
        let cli = Cli::try_parse_from(["gw", "--scoring-url", " http://scoring:50054 "]).unwrap();
        let config = cli.gateway.into_config(verifier()).unwrap();
        assert_eq!(config.scoring_url, "http://scoring:50054");

        // `new` keeps working, with the default; the builder overrides it.
        let config = GatewayConfig::new(verifier(), "http://membership:50051");
        assert_eq!(config.scoring_url, DEFAULT_SCORING_URL);
        config.validate().unwrap();
        let config = config.with_scoring("https://scoring.internal:443");
        assert_eq!(config.scoring_url, "https://scoring.internal:443");
        config.validate().unwrap();
        for bad in ["nope", "scoring:50054", "ftp://s:1", ""] {
            let config =
                GatewayConfig::new(verifier(), "http://membership:50051").with_scoring(bad);
            assert_eq!(
                field(config.validate().unwrap_err()),
                "COLLEGIUM_SCORING_URL",
                "{bad}"
            );
        }
    }

    #[test]
    fn each_bad_setting_is_named() {
        let base = || Cli::try_parse_from(["gw"]).unwrap().gateway;
        let mut a = base();
        a.http_listen = "localhost".into();
        assert_eq!(
            field(a.into_config(verifier()).unwrap_err()),
            "COLLEGIUM_HTTP_LISTEN"
        );
        let mut a = base();
        a.membership_url = "membership:50051".into();
        assert_eq!(
            field(a.into_config(verifier()).unwrap_err()),
            "COLLEGIUM_MEMBERSHIP_URL"
        );
        for origin in [
            "*",
            "https://a.example.org/",
            "a.example.org",
            "https://*.x.org",
        ] {
            let mut a = base();
            a.cors_origins = vec![origin.into()];
            assert_eq!(
                field(a.into_config(verifier()).unwrap_err()),
                "COLLEGIUM_CORS_ORIGINS",
                "{origin}"
            );
        }
        let mut a = base();
        a.scheduling_url = "scheduling:50052".into();
        assert_eq!(
            field(a.into_config(verifier()).unwrap_err()),
            "COLLEGIUM_SCHEDULING_URL"
        );
        let mut a = base();
        a.notifications_url = "notifications:50053".into();
        assert_eq!(
            field(a.into_config(verifier()).unwrap_err()),
            "COLLEGIUM_NOTIFICATIONS_URL"
        );
        let mut a = base();
        a.scoring_url = "scoring:50054".into();
        assert_eq!(
            field(a.into_config(verifier()).unwrap_err()),
            "COLLEGIUM_SCORING_URL"
        );
        for url in [
            "collegium.example.org",
            "ftp://x.org",
            "https://x.org/?a=1",
            "https://x.org#f",
        ] {
            let mut a = base();
            a.public_url = url.into();
            assert_eq!(
                field(a.into_config(verifier()).unwrap_err()),
                "COLLEGIUM_PUBLIC_URL",
                "{url}"
            );
        }
        let mut a = base();
        a.max_body_bytes = 10;
        assert_eq!(
            field(a.into_config(verifier()).unwrap_err()),
            "COLLEGIUM_MAX_BODY_BYTES"
        );
        let mut a = base();
        a.query_depth_limit = 0;
        assert_eq!(
            field(a.into_config(verifier()).unwrap_err()),
            "COLLEGIUM_QUERY_DEPTH_LIMIT"
        );
        let mut a = base();
        a.query_complexity_limit = 0;
        assert_eq!(
            field(a.into_config(verifier()).unwrap_err()),
            "COLLEGIUM_QUERY_COMPLEXITY_LIMIT"
        );
    }
}
