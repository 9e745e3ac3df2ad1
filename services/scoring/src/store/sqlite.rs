//! The SQLite store (`collegium dev`, one file). The same SQL as PostgreSQL.

use sqlx::{Sqlite, SqlitePool};

pub type Db = Sqlite;
pub type Pool = SqlitePool;

/// SQLite has one writer at a time; no row lock is needed.
pub const FOR_UPDATE: &str = "";
pub const FOR_SHARE: &str = "";

include!("sql.rs");
