//! Who may run an operation: the bearer token check at the HTTP layer and
//! on the WebSocket's `connection_init`.
//!
//! The token is verified with the platform's [`TokenVerifier`] before any
//! resolver runs; without a valid one nothing executes and the client gets a
//! single `UNAUTHENTICATED` error and no data. The one exception is dev mode,
//! where an operation that only introspects the schema needs no token, so
//! GraphiQL can load the schema before the developer pastes one. Outside dev
//! mode introspection is refused with a `FORBIDDEN` that says so. The
//! services verify the same token again: the gateway is not the only wall.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection,
};
use platform::{
    Error,
    auth::{Principal, TokenVerifier},
};

/// What the gateway does with one HTTP GraphQL request.
#[derive(Debug)]
pub enum Admission {
    /// A verified caller: execute on their behalf.
    Caller(Principal),
    /// Dev mode, no token or a valid one, and the operation only asks for
    /// `__schema`, `__type` or `__typename`.
    Introspection,
    /// Refused before execution.
    Refused(Error),
}

/// Decides on one request from its `Authorization` header value.
pub fn admit(
    verifier: &TokenVerifier,
    dev_mode: bool,
    authorization: Option<&str>,
    request: &mut async_graphql::Request,
) -> Admission {
    let verified = verifier.verify_header(authorization);
    let roots = root_fields(request);
    let introspection_only = introspects_only(roots.as_deref());
    // A token that is present but bad is refused even for introspection:
    // it is a client bug worth surfacing.
    if dev_mode && (authorization.is_none() || verified.is_ok()) && introspection_only {
        return Admission::Introspection;
    }
    let principal = match verified {
        Ok(principal) => principal,
        Err(err) => return Admission::Refused(err),
    };
    // With introspection off, async-graphql answers `__schema` with a bare
    // null; say why instead, so nobody debugs a "broken" schema.
    let asks_for_schema = roots
        .as_ref()
        .is_some_and(|r| r.iter().any(|f| f == "__schema" || f == "__type"));
    if !dev_mode && asks_for_schema {
        return Admission::Refused(Error::forbidden("introspection is disabled on this server"));
    }
    Admission::Caller(principal)
}

/// The caller of a graphql-ws connection, from the `connection_init` payload
/// `{"authorization": "Bearer …"}` (the key is matched case-insensitively:
/// clients differ).
pub fn principal_from_init_payload(
    verifier: &TokenVerifier,
    payload: &serde_json::Value,
) -> platform::Result<Principal> {
    let authorization = payload.as_object().and_then(|fields| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, v)| v.as_str())
    });
    verifier.verify_header(authorization)
}

/// The names of the fields the request's operation selects at its root,
/// following fragments; `None` when that cannot be known (unparsable text, a
/// persisted query sent by hash alone, an unknown operation or fragment).
fn root_fields(request: &mut async_graphql::Request) -> Option<Vec<String>> {
    let operation_name = request.operation_name.clone();
    let doc = request.parsed_query().ok()?;
    let operation = selected_operation(doc, operation_name.as_deref())?;
    let mut names = Vec::new();
    collect_root_fields(doc, &operation.node.selection_set.node.items, 0, &mut names)?;
    Some(names)
}

/// The operation a request runs: the named one, or the only one (a lone
/// named operation parses as a one-entry map).
pub(crate) fn selected_operation<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d async_graphql::Positioned<OperationDefinition>> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Whether every root field is an introspection field (`__schema`,
/// `__type`, `__typename`).
fn introspects_only(roots: Option<&[String]>) -> bool {
    roots.is_some_and(|r| !r.is_empty() && r.iter().all(|f| f.starts_with("__")))
}

fn collect_root_fields(
    doc: &ExecutableDocument,
    items: &[async_graphql::Positioned<Selection>],
    depth: usize,
    names: &mut Vec<String>,
) -> Option<()> {
    // Fragment cycles are a validation error later; here they just end the walk.
    if depth > 16 {
        return None;
    }
    for item in items {
        match &item.node {
            Selection::Field(field) => names.push(field.node.name.node.to_string()),
            Selection::InlineFragment(fragment) => collect_root_fields(
                doc,
                &fragment.node.selection_set.node.items,
                depth + 1,
                names,
            )?,
            Selection::FragmentSpread(spread) => {
                let fragment = doc.fragments.get(&spread.node.fragment_name.node)?;
                collect_root_fields(
                    doc,
                    &fragment.node.selection_set.node.items,
                    depth + 1,
                    names,
                )?
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::auth::{PersonId, TenantId};
    use testkit::TestIssuer;

    fn req(q: &str) -> async_graphql::Request {
        async_graphql::Request::new(q)
    }

    fn is_introspection_only(request: &mut async_graphql::Request) -> bool {
        introspects_only(root_fields(request).as_deref())
    }

    #[test]
    fn introspection_is_recognised_through_fragments() {
        assert!(is_introspection_only(&mut req(
            "{ __schema { types { name } } }"
        )));
        assert!(is_introspection_only(&mut req(
            "query Q { ...F } fragment F on Query { __type(name: \"Tenant\") { name } __typename }"
        )));
        assert!(!is_introspection_only(&mut req(
            "{ __schema { types { name } } tenant { id } }"
        )));
        assert!(!is_introspection_only(&mut req(
            "{ ... on Query { tenant { id } } }"
        )));
        assert!(!is_introspection_only(&mut req(
            "mutation { __typename createPanel }"
        )));
        assert!(!is_introspection_only(&mut req("not graphql")));
        let mut two = req("query A { __typename } query B { tenant { id } }");
        assert!(!is_introspection_only(&mut two));
        two.operation_name = Some("A".into());
        assert!(is_introspection_only(&mut two));
    }

    #[test]
    fn dev_mode_introspection_needs_no_token_but_refuses_a_bad_one() {
        let issuer = TestIssuer::new();
        let v = &issuer.verifier;
        let q = "{ __schema { queryType { name } } }";
        assert!(matches!(
            admit(v, true, None, &mut req(q)),
            Admission::Introspection
        ));
        assert!(matches!(
            admit(v, false, None, &mut req(q)),
            Admission::Refused(Error::Unauthenticated(_))
        ));
        assert!(matches!(
            admit(v, true, Some("Bearer nonsense"), &mut req(q)),
            Admission::Refused(Error::Unauthenticated(_))
        ));
        assert!(matches!(
            admit(v, true, None, &mut req("{ tenant { id } }")),
            Admission::Refused(_)
        ));
        let token = issuer.token(TenantId::new_v7(), PersonId::new_v7(), &[]);
        let bearer = format!("Bearer {token}");
        assert!(matches!(
            admit(v, false, Some(&bearer), &mut req("{ tenant { id } }")),
            Admission::Caller(_)
        ));
        assert!(matches!(
            admit(v, true, Some(&bearer), &mut req(q)),
            Admission::Introspection
        ));
        assert!(matches!(
            admit(v, false, Some(&bearer), &mut req(q)),
            Admission::Refused(Error::Forbidden(_))
        ));
        assert!(matches!(
            admit(v, false, Some(&bearer), &mut req("{ __typename }")),
            Admission::Caller(_)
        ));
    }

    #[test]
    fn websocket_callers_authenticate_in_connection_init() {
        let issuer = TestIssuer::new();
        let tenant = TenantId::new_v7();
        let token = issuer.token(tenant, PersonId::new_v7(), &[]);
        let payload = serde_json::json!({ "Authorization": format!("Bearer {token}") });
        let principal = principal_from_init_payload(&issuer.verifier, &payload).unwrap();
        assert_eq!(principal.tenant, tenant);
        for bad in [
            serde_json::json!({}),
            serde_json::json!(null),
            serde_json::json!({ "authorization": token }),
            serde_json::json!({ "authorization": 42 }),
        ] {
            assert!(matches!(
                principal_from_init_payload(&issuer.verifier, &bad),
                Err(Error::Unauthenticated(_))
            ));
        }
    }
}
