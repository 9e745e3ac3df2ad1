//! Settings shared by every service binary. Each is a flag with a
//! `COLLEGIUM_…` environment twin; services flatten the groups they need into
//! their own `clap::Parser` and call `validate()` at start, so a bad setting
//! stops the process with a message naming it.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, ValueEnum};

use crate::{
    auth::{DEFAULT_AUDIENCE, INTERNAL_ISSUER, TokenSigner, TokenVerifier},
    error::{Error, Result},
};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object a line (production).
    Json,
    /// Readable, coloured lines (development).
    Pretty,
}

#[derive(Debug, Clone, Args)]
pub struct TelemetryArgs {
    /// Log format.
    #[arg(long, env = "COLLEGIUM_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax, e.g. `info,collegium_membership=debug`.
    #[arg(long, env = "COLLEGIUM_LOG", default_value = "info")]
    pub log_filter: String,
    /// OTLP/gRPC endpoint for traces; when unset no spans are exported.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Issuer (`iss`) of people's tokens, as your OIDC provider writes it.
    #[arg(long, env = "COLLEGIUM_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Audience (`aud`) every token must carry.
    #[arg(long, env = "COLLEGIUM_JWT_AUDIENCE", default_value = DEFAULT_AUDIENCE)]
    pub jwt_audience: String,
    /// File holding the JSON Web Key Set of the OIDC provider's signing keys.
    #[arg(long, env = "COLLEGIUM_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// Ed25519 PKCS#8 PEM private key for Collegium's own service tokens.
    #[arg(long, env = "COLLEGIUM_SERVICE_KEY_FILE")]
    pub service_key_file: Option<PathBuf>,
}

impl AuthArgs {
    /// Checks the settings and loads the keys: the verifier trusts the OIDC
    /// issuer (when configured) and Collegium's own service key.
    pub fn load(&self) -> Result<(TokenVerifier, Option<TokenSigner>)> {
        let mut builder = TokenVerifier::builder();
        match (&self.jwt_issuer, &self.jwks_file) {
            (Some(issuer), Some(path)) => {
                let jwks = std::fs::read_to_string(path).map_err(|e| {
                    Error::invalid("COLLEGIUM_JWKS_FILE", format!("{}: {e}", path.display()))
                })?;
                builder = builder
                    .trust_jwks(issuer, &self.jwt_audience, &jwks)
                    .map_err(|e| rename(e, "COLLEGIUM_JWKS_FILE"))?;
            }
            (Some(_), None) => {
                return Err(Error::invalid(
                    "COLLEGIUM_JWKS_FILE",
                    "required when COLLEGIUM_JWT_ISSUER is set",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::invalid(
                    "COLLEGIUM_JWT_ISSUER",
                    "required when COLLEGIUM_JWKS_FILE is set",
                ));
            }
            (None, None) => {}
        }
        let signer = match &self.service_key_file {
            Some(path) => {
                let pem = std::fs::read_to_string(path).map_err(|e| {
                    Error::invalid(
                        "COLLEGIUM_SERVICE_KEY_FILE",
                        format!("{}: {e}", path.display()),
                    )
                })?;
                let signer = TokenSigner::from_pem(&pem, INTERNAL_ISSUER, &self.jwt_audience)
                    .map_err(|e| rename(e, "COLLEGIUM_SERVICE_KEY_FILE"))?;
                builder = builder.trust_signer(&signer)?;
                Some(signer)
            }
            None => None,
        };
        if self.jwt_issuer.is_none() && signer.is_none() {
            return Err(Error::invalid(
                "COLLEGIUM_JWT_ISSUER",
                "no token issuer configured: set COLLEGIUM_JWT_ISSUER and COLLEGIUM_JWKS_FILE, \
                 or COLLEGIUM_SERVICE_KEY_FILE",
            ));
        }
        Ok((builder.build(), signer))
    }
}

fn rename(e: Error, field: &str) -> Error {
    match e {
        Error::InvalidInput(v) => Error::invalid(
            field,
            v.into_iter()
                .map(|v| v.description)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => other,
    }
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL of the service's application role (`<schema>_app`).
    #[arg(long, env = "COLLEGIUM_DATABASE_URL")]
    pub database_url: String,
    /// Largest number of pooled connections.
    #[arg(long, env = "COLLEGIUM_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
}

impl DatabaseArgs {
    pub fn validate(&self) -> Result<()> {
        if !(self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(Error::invalid(
                "COLLEGIUM_DATABASE_URL",
                "must be a postgres:// URL",
            ));
        }
        if self.database_max_connections == 0 {
            return Err(Error::invalid(
                "COLLEGIUM_DATABASE_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis URL for the event bus, e.g. `redis://127.0.0.1:6379`.
    #[arg(long, env = "COLLEGIUM_REDIS_URL")]
    pub redis_url: String,
}

impl RedisArgs {
    pub fn validate(&self) -> Result<()> {
        if !(self.redis_url.starts_with("redis://") || self.redis_url.starts_with("rediss://")) {
            return Err(Error::invalid(
                "COLLEGIUM_REDIS_URL",
                "must be a redis:// URL",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Args)]
pub struct GrpcServerArgs {
    /// Address the gRPC server listens on.
    #[arg(long, env = "COLLEGIUM_GRPC_LISTEN", default_value = "0.0.0.0:50051")]
    pub grpc_listen: SocketAddr,
    /// Seconds in-flight calls may take to finish after SIGTERM.
    #[arg(long, env = "COLLEGIUM_SHUTDOWN_GRACE_SECONDS", default_value_t = 20)]
    pub shutdown_grace_seconds: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_issuer_names_the_setting() {
        let args = AuthArgs {
            jwt_issuer: None,
            jwt_audience: "collegium".into(),
            jwks_file: Some("/nonexistent".into()),
            service_key_file: None,
        };
        let err = args.load().unwrap_err();
        assert_eq!(err.violations()[0].field, "COLLEGIUM_JWT_ISSUER");
    }

    #[test]
    fn a_bad_database_url_names_the_setting() {
        let args = DatabaseArgs {
            database_url: "mysql://x".into(),
            database_max_connections: 4,
        };
        assert_eq!(
            args.validate().unwrap_err().violations()[0].field,
            "COLLEGIUM_DATABASE_URL"
        );
    }
}
