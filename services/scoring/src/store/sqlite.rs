//! The SQLite store (`collegium dev`, one file). The same SQL as PostgreSQL.

use sqlx::{Sqlite, SqlitePool};

pub type Db = Sqlite;
pub type Pool = SqlitePool;

/// SQLite has one writer at a time; no row lock is needed.
pub const FOR_UPDATE: &str = "";
pub const FOR_SHARE: &str = "";
/// The bytes of a portfolio's `id`, the blind index an anonymised folder
/// is left with (unique per tenant, and linking to no student): ids are
/// stored as their 16 bytes already.
pub const ID_BYTES: &str = "id";

include!("sql.rs");
