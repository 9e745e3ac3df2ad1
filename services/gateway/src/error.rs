//! The one conversion from [`platform::Error`] to a GraphQL error.
//!
//! Every failure a client sees — a refused token at the HTTP layer, a status
//! from an upstream service, a bad argument caught by the gateway itself —
//! becomes a GraphQL error in [`graphql_error`], so `extensions.code` and
//! `extensions.fields` mean the same thing everywhere. gRPC statuses come back
//! through [`platform::Error::from_status`] first ([`status_error`]).
//!
//! Resolvers never return a `platform::Error` with `?` directly: async-graphql
//! converts any `Display` type into an error with a bare message, which would
//! silently drop the code. They call these functions instead.

use async_graphql::{ErrorExtensionValues, Value};
use platform::error::{Error, FieldViolation};

/// Turns one of our errors into the GraphQL error the client sees:
/// `extensions.code` from [`Error::graphql_code`] and, for bad input,
/// `extensions.fields = [{field, description}]` with the fields spelled as
/// the GraphQL schema spells them. Internal detail is logged here and never
/// reaches the message.
pub fn graphql_error(err: Error) -> async_graphql::Error {
    let err = match err {
        Error::InvalidInput(violations) => Error::InvalidInput(
            violations
                .into_iter()
                .map(|v| FieldViolation {
                    field: graphql_field(&v.field),
                    description: v.description,
                })
                .collect(),
        ),
        Error::Internal(source) => {
            tracing::error!(error = ?source, "internal error answering a GraphQL request");
            Error::Internal(source)
        }
        other => other,
    };
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", err.graphql_code());
    if !err.violations().is_empty() {
        let fields = err
            .violations()
            .iter()
            .map(|v| {
                let mut field = async_graphql::indexmap::IndexMap::new();
                field.insert(
                    async_graphql::Name::new("field"),
                    Value::from(v.field.as_str()),
                );
                field.insert(
                    async_graphql::Name::new("description"),
                    Value::from(v.description.as_str()),
                );
                Value::Object(field)
            })
            .collect::<Vec<_>>();
        extensions.set("fields", Value::List(fields));
    }
    async_graphql::Error {
        // `Internal`'s Display is already the generic "internal error".
        message: err.to_string(),
        source: None,
        extensions: Some(extensions),
    }
}

/// A failed call to an upstream service, as the client sees it.
pub fn status_error(status: tonic::Status) -> async_graphql::Error {
    graphql_error(Error::from_status(status))
}

/// The name of a field as the caller spelled it in GraphQL. Services name
/// fields after their protobuf messages (`settings.time_zone`,
/// `page.page_size`); the schema exposes the same fields in camelCase and the
/// page as the Relay arguments `first`/`after`.
fn graphql_field(field: &str) -> String {
    match field {
        "page.page_size" | "page_size" => return "first".to_string(),
        "page.page_token" | "page_token" => return "after".to_string(),
        _ => {}
    }
    field
        .split('.')
        .map(camel_case)
        .collect::<Vec<_>>()
        .join(".")
}

fn camel_case(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    let mut upper = false;
    for c in segment.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::error::Violations;

    fn code(e: &async_graphql::Error) -> Option<Value> {
        e.extensions.as_ref()?.get("code").cloned()
    }

    #[test]
    fn each_kind_gets_its_code_and_message() {
        let cases = [
            (
                Error::not_found("cluster"),
                "NOT_FOUND",
                "cluster not found",
            ),
            (Error::forbidden("no"), "FORBIDDEN", "forbidden: no"),
            (
                Error::Unauthenticated("token expired".into()),
                "UNAUTHENTICATED",
                "unauthenticated: token expired",
            ),
            (Error::Conflict("dup".into()), "CONFLICT", "conflict: dup"),
            (
                Error::FailedPrecondition("closed".into()),
                "FAILED_PRECONDITION",
                "failed precondition: closed",
            ),
            (
                Error::Unavailable("membership".into()),
                "UNAVAILABLE",
                "unavailable: membership",
            ),
        ];
        for (err, expected_code, message) in cases {
            let gql = graphql_error(err);
            assert_eq!(code(&gql), Some(Value::from(expected_code)));
            assert_eq!(gql.message, message);
            assert!(gql.extensions.as_ref().unwrap().get("fields").is_none());
        }
    }

    #[test]
    fn bad_input_lists_every_field_in_graphql_spelling() {
        let mut v = Violations::new();
        v.add("settings.time_zone", "unknown IANA time zone \"Mars/Base\"");
        v.add("page.page_size", "at most 500");
        v.add("name", "must not be empty");
        let gql = graphql_error(v.finish().unwrap_err());
        assert_eq!(code(&gql), Some(Value::from("BAD_USER_INPUT")));
        let fields = gql.extensions.as_ref().unwrap().get("fields").unwrap();
        let json = serde_json::to_value(fields).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"field": "settings.timeZone", "description": "unknown IANA time zone \"Mars/Base\""},
                {"field": "first", "description": "at most 500"},
                {"field": "name", "description": "must not be empty"},
            ])
        );
        assert_eq!(
            gql.message,
            "invalid input: settings.timeZone: unknown IANA time zone \"Mars/Base\"; \
             first: at most 500; name: must not be empty"
        );
    }

    #[test]
    fn internal_errors_show_a_generic_message() {
        let gql = graphql_error(Error::internal(anyhow::anyhow!("password=hunter2")));
        assert_eq!(code(&gql), Some(Value::from("INTERNAL")));
        assert_eq!(gql.message, "internal error");
    }

    #[test]
    fn upstream_statuses_keep_their_field_violations() {
        let status = Error::invalid("external_id", "already used").into_status();
        let gql = status_error(status);
        assert_eq!(code(&gql), Some(Value::from("BAD_USER_INPUT")));
        let fields = serde_json::to_value(gql.extensions.unwrap().get("fields").unwrap()).unwrap();
        assert_eq!(fields[0]["field"], "externalId");
        let unknown = status_error(tonic::Status::data_loss("disk on fire"));
        assert_eq!(code(&unknown), Some(Value::from("INTERNAL")));
        assert!(!unknown.message.contains("disk"));
        let down = status_error(tonic::Status::unavailable("tcp connect error"));
        assert_eq!(code(&down), Some(Value::from("UNAVAILABLE")));
    }

    #[test]
    fn field_names_are_camel_cased_segment_by_segment() {
        assert_eq!(
            graphql_field("academic_year_start_month"),
            "academicYearStartMonth"
        );
        assert_eq!(graphql_field("subject.person_id"), "subject.personId");
        assert_eq!(graphql_field("first"), "first");
        assert_eq!(graphql_field("page.page_token"), "after");
    }
}
