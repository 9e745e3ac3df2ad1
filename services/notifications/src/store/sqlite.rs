//! The SQLite store (`collegium dev`, one file). The same SQL as PostgreSQL.

use sqlx::{Sqlite, SqlitePool};

pub type Db = Sqlite;
pub type Pool = SqlitePool;

/// SQLite has one writer at a time; no row lock is needed.
pub const FOR_UPDATE: &str = "";

/// The same for the workers' claims: one writer, so claims never overlap.
pub const SKIP_LOCKED: &str = "";

include!("sql.rs");
