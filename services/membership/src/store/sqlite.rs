//! The SQLite store (`collegium dev`, one file). The same SQL as PostgreSQL.

use sqlx::{Sqlite, SqlitePool};

pub type Db = Sqlite;
pub type Pool = SqlitePool;

include!("sql.rs");
