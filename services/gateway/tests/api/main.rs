//! Black-box tests of the gateway over real HTTP on port 0.
//!
//! The services are not started here (each has its own crate and tests):
//! these tests cover everything the gateway decides on its own —
//! authentication, limits, introspection, probes, metrics, CORS, the
//! calendar and unsubscribe routes — and point the upstream URLs at closed
//! ports, which is also how "a service is down" is tested. Where the
//! gateway's handling of an answer is the point (the calendar feed, the
//! inbox subscription, unsubscribe links, every scoring call), a small fake
//! gRPC server stands in for the service (the scoring fake verifies tokens
//! and keeps tenants apart as the service does); where relations to
//! membership are, the real membership service runs in-process on SQLite.

mod auth;
mod cors;
mod fake_notifications;
mod fake_scheduling;
mod fake_scoring;
mod helpers;
mod introspection;
mod limits;
mod notifications;
mod ops;
#[cfg(feature = "persisted-queries")]
mod persisted_queries;
mod research;
mod roster_import;
mod scheduling;
mod scoring;
mod subscriptions;
