//! The one error kind set of Collegium, and its mapping to gRPC status codes.
//!
//! Every layer returns [`Error`]. It becomes a [`tonic::Status`] in exactly one
//! place ([`Error::into_status`]) and comes back from a status in exactly one
//! place ([`Error::from_status`]); the gateway turns it into a GraphQL error
//! with `extensions.code` in [`Error::graphql_code`]. Storage and unexpected
//! failures are logged with their context and reach callers as an opaque
//! `INTERNAL`/`UNAVAILABLE`, never with SQL or stack detail.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A problem with one input field, named as the caller spelled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// Every failure a Collegium call can end with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that can never succeed as sent; each violation names its field.
    #[error("invalid input: {}", describe(.0))]
    InvalidInput(Vec<FieldViolation>),
    /// The thing does not exist *for this tenant* (another tenant's ids look the same).
    #[error("{0} not found")]
    NotFound(String),
    /// The caller is known but lacks the role or relationship.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// No token, or a token that is forged, expired or for another audience.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The request clashes with existing state (duplicate, concurrent change).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Valid input, but the current state does not allow it.
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// A dependency (database, Redis, another service) cannot be reached now.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else; logged in full, shown to callers as a generic message.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

fn describe(v: &[FieldViolation]) -> String {
    v.iter()
        .map(|f| format!("{}: {}", f.field, f.description))
        .collect::<Vec<_>>()
        .join("; ")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// One bad field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::InvalidInput(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound(what.into())
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        Error::Forbidden(why.into())
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Error::Internal(e.into())
    }

    /// The GraphQL `extensions.code` for this error.
    pub fn graphql_code(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) => "BAD_USER_INPUT",
            Error::NotFound(_) => "NOT_FOUND",
            Error::Forbidden(_) => "FORBIDDEN",
            Error::Unauthenticated(_) => "UNAUTHENTICATED",
            Error::Conflict(_) => "CONFLICT",
            Error::FailedPrecondition(_) => "FAILED_PRECONDITION",
            Error::Unavailable(_) => "UNAVAILABLE",
            Error::Internal(_) => "INTERNAL",
        }
    }

    /// The field violations, if this is bad input.
    pub fn violations(&self) -> &[FieldViolation] {
        match self {
            Error::InvalidInput(v) => v,
            _ => &[],
        }
    }

    /// The single mapping from our errors to gRPC status codes.
    pub fn into_status(self) -> Status {
        match self {
            Error::InvalidInput(violations) => {
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("invalid input: {}", describe(&violations)),
                    details,
                )
            }
            Error::NotFound(m) => Status::not_found(format!("{m} not found")),
            Error::Forbidden(m) => Status::permission_denied(m),
            Error::Unauthenticated(m) => Status::unauthenticated(m),
            Error::Conflict(m) => Status::already_exists(m),
            Error::FailedPrecondition(m) => Status::failed_precondition(m),
            Error::Unavailable(m) => {
                tracing::warn!(error = %m, "dependency unavailable");
                Status::unavailable(m)
            }
            Error::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                Status::internal("internal error")
            }
        }
    }

    /// The single mapping back from a gRPC status (as seen by a client such as
    /// the gateway) to our errors, keeping field violations.
    pub fn from_status(status: Status) -> Self {
        let message = status.message().to_string();
        match status.code() {
            Code::InvalidArgument => {
                let details = status.get_error_details();
                let violations: Vec<FieldViolation> = details
                    .bad_request()
                    .map(|b| {
                        b.field_violations
                            .iter()
                            .map(|v| FieldViolation {
                                field: v.field.clone(),
                                description: v.description.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if violations.is_empty() {
                    Error::invalid("request", message)
                } else {
                    Error::InvalidInput(violations)
                }
            }
            Code::NotFound => Error::NotFound(
                message
                    .strip_suffix(" not found")
                    .unwrap_or(&message)
                    .to_string(),
            ),
            Code::PermissionDenied => Error::Forbidden(message),
            Code::Unauthenticated => Error::Unauthenticated(message),
            Code::AlreadyExists | Code::Aborted => Error::Conflict(message),
            Code::FailedPrecondition | Code::OutOfRange => Error::FailedPrecondition(message),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                Error::Unavailable(message)
            }
            _ => Error::Internal(anyhow::anyhow!("upstream {:?}: {message}", status.code())),
        }
    }

    /// Storage errors: unique violations become conflicts, foreign-key
    /// violations name the dangling reference, pool/IO failures are
    /// "unavailable", the rest is internal.
    pub fn from_db(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    let what = db.constraint().unwrap_or("a unique field").to_string();
                    return Error::Conflict(format!("already exists ({what})"));
                }
                if db.is_foreign_key_violation() {
                    return Error::FailedPrecondition(
                        "a referenced record does not exist".to_string(),
                    );
                }
                if db.is_check_violation() {
                    let what = db.constraint().unwrap_or("a check").to_string();
                    return Error::invalid(what, "value not allowed");
                }
                Error::Internal(e.into())
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Error::Unavailable("database".to_string())
            }
            sqlx::Error::RowNotFound => Error::NotFound("record".to_string()),
            _ => Error::Internal(e.into()),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::from_db(e)
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        e.into_status()
    }
}

/// Collects field violations so that every bad field is reported at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// `Ok(())` when nothing was added, else [`Error::InvalidInput`] with all of them.
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidInput(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_violations_survive_the_grpc_round_trip() {
        let mut v = Violations::new();
        v.add("name", "must not be empty");
        v.add("settings.time_zone", "unknown IANA time zone \"Mars/Base\"");
        let status = v.finish().unwrap_err().into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        let back = Error::from_status(status);
        assert_eq!(back.graphql_code(), "BAD_USER_INPUT");
        let fields: Vec<_> = back.violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["name", "settings.time_zone"]);
    }

    #[test]
    fn each_kind_maps_to_its_code_and_back() {
        let cases = [
            (Error::not_found("cluster"), "NOT_FOUND"),
            (Error::forbidden("x"), "FORBIDDEN"),
            (Error::Unauthenticated("x".into()), "UNAUTHENTICATED"),
            (Error::Conflict("x".into()), "CONFLICT"),
            (Error::FailedPrecondition("x".into()), "FAILED_PRECONDITION"),
            (Error::Unavailable("x".into()), "UNAVAILABLE"),
        ];
        for (err, code) in cases {
            assert_eq!(err.graphql_code(), code);
            assert_eq!(Error::from_status(err.into_status()).graphql_code(), code);
        }
    }

    #[test]
    fn internal_detail_never_reaches_the_caller() {
        let status = Error::internal(anyhow::anyhow!("password=hunter2 in SQL")).into_status();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
    }
}
