//! Request metrics for Prometheus: how many GraphQL operations ran, of which
//! type, how they ended, and how long they took.
//!
//! The HTTP handler records each request once, after it has answered. The
//! operation type is only known after the query is parsed — and with
//! persisted queries the text may arrive as a hash — so a small schema
//! extension ([`OperationTypeProbe`]) notes it in an [`OperationSlot`] the
//! handler put into the request data.

use std::{
    any::TypeId,
    sync::{Arc, Mutex, Once},
    time::Duration,
};

use async_graphql::{
    Request, ServerResult,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest},
    parser::types::OperationType,
};

use crate::auth::selected_operation;

pub const REQUESTS_TOTAL: &str = "collegium_graphql_requests_total";
pub const REQUEST_DURATION: &str = "collegium_graphql_request_duration_seconds";

/// Registers descriptions once per process (they show as `# HELP`).
pub fn describe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        metrics::describe_counter!(
            REQUESTS_TOTAL,
            "GraphQL requests answered, by operation type and outcome"
        );
        metrics::describe_histogram!(
            REQUEST_DURATION,
            metrics::Unit::Seconds,
            "Time to answer a GraphQL request, by operation type"
        );
    });
}

/// How a request ended, as a low-cardinality label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No errors.
    Ok,
    /// Refused at the HTTP layer for want of a valid token.
    Unauthenticated,
    /// Answered with at least one error (partial data or none).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::Error => "error",
        }
    }
}

/// Where the probe writes the type of the operation a request ran.
#[derive(Debug, Clone, Default)]
pub struct OperationSlot(Arc<Mutex<Option<OperationType>>>);

impl OperationSlot {
    pub fn get(&self) -> Option<OperationType> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, ty: OperationType) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(ty);
    }

    /// The `operation_type` label.
    pub fn label(&self) -> &'static str {
        match self.get() {
            Some(OperationType::Query) => "query",
            Some(OperationType::Mutation) => "mutation",
            Some(OperationType::Subscription) => "subscription",
            None => "unknown",
        }
    }
}

/// Records one answered request.
pub fn record(operation_type: &'static str, outcome: Outcome, elapsed: Duration) {
    metrics::counter!(
        REQUESTS_TOTAL,
        "operation_type" => operation_type,
        "outcome" => outcome.as_str(),
    )
    .increment(1);
    metrics::histogram!(REQUEST_DURATION, "operation_type" => operation_type)
        .record(elapsed.as_secs_f64());
}

/// Schema extension that notes the operation type in the request's
/// [`OperationSlot`]. Registered after the persisted-query extension so it
/// sees the document that one restored from its cache.
pub struct OperationTypeProbe;

impl ExtensionFactory for OperationTypeProbe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationTypeProbe)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for OperationTypeProbe {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let slot = request
            .data
            .get(&TypeId::of::<OperationSlot>())
            .and_then(|d| d.downcast_ref::<OperationSlot>())
            .cloned();
        if let Some(slot) = slot {
            let name = request.operation_name.clone();
            // Parsing here is not extra work: the parsed document is kept in
            // the request and the schema executes that one.
            if let Ok(doc) = request.parsed_query()
                && let Some(op) = selected_operation(doc, name.as_deref())
            {
                slot.set(op.node.ty);
            }
        }
        next.run(ctx, request).await
    }
}
