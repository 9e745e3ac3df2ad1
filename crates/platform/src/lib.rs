//! The platform kit: the one place for everything that cuts across services.
//!
//! - [`config`]: settings groups (flags with `COLLEGIUM_…` env twins), validated at start;
//! - [`telemetry`]: tracing, JSON logs, OTLP export, W3C trace context, Prometheus;
//! - [`auth`]: token verification into a [`auth::Principal`], the dev issuer, service tokens;
//! - [`error`]: the one error kind set and its gRPC mapping;
//! - [`db`]: pools, migrations, the tenant transaction (RLS);
//! - [`tx`]: the audit record and outbox event every mutation writes;
//! - [`events`]: the outbox relay and the event bus (Redis Streams, in-process);
//! - [`grpc`]: the server kit (auth, health, reflection, drain) and client channels;
//! - [`page`]: cursor pagination;
//! - [`privacy`]: the data-subject request handlers every service shares;
//! - [`retention`]: the retention categories and what `ApplyRetention` takes and answers.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod fields;
pub mod grpc;
pub mod page;
pub mod privacy;
pub mod retention;
pub mod telemetry;
pub mod tx;

pub use error::{Error, Result};
