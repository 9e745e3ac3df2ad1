//! The SQLite store (`collegium dev`, one file). The same SQL as PostgreSQL.

use sqlx::{Sqlite, SqlitePool};

pub type Db = Sqlite;
pub type Pool = SqlitePool;

/// Run first in a roster batch's transaction (see postgres.rs): nothing here.
pub const BULK_TX_SETUP: &[&str] = &[];

include!("sql.rs");
