//! The PostgreSQL store (production). Connects as `scoring_app`; row-level
//! security on every table is the second wall behind the `WHERE tenant_id`
//! of each statement in `sql.rs`.

use sqlx::{PgPool, Postgres};

pub type Db = Postgres;
pub type Pool = PgPool;

/// Row lock for read-modify-write decisions. NO KEY: foreign-key checks of
/// other transactions never queue behind it.
pub const FOR_UPDATE: &str = " FOR NO KEY UPDATE";
/// Shared lock on a session row: submissions hold it, closing takes it
/// exclusively, so no read is accepted after a close commits.
pub const FOR_SHARE: &str = " FOR SHARE";

include!("sql.rs");
