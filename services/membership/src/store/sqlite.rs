//! The SQLite store (`collegium dev`, one file). The same SQL as PostgreSQL.

use sqlx::{Sqlite, SqlitePool};

pub type Db = Sqlite;
pub type Pool = SqlitePool;

/// Run first in a roster batch's transaction (see postgres.rs): nothing here.
pub const BULK_TX_SETUP: &[&str] = &[];

/// See postgres.rs: the same scrub as a plain statement.
pub const SCRUB_PERSON_AUDIT: &str = "UPDATE audit_log SET before = NULL, after = NULL \
     WHERE tenant_id = $1 AND target_id = $2 AND action <> 'person.erased' \
     AND (before IS NOT NULL OR after IS NOT NULL) RETURNING id";

include!("sql.rs");
