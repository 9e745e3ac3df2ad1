//! End-to-end: the gateway and the membership service as separate servers on
//! loopback ports, against a throwaway PostgreSQL database (as the non-owner
//! app role) and Redis for events, driven through GraphQL as the web client does.

mod directory;
mod events;
mod helpers;
mod isolation;
mod migrations;
mod notifications;
mod privacy;
mod retention;
mod scheduling;
mod scoring;
