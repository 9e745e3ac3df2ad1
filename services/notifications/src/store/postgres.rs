//! The PostgreSQL store (production). Connects as `notifications_app`; row-level
//! security on every table is the second wall behind the `WHERE tenant_id`
//! of each statement in `sql.rs`.

use sqlx::{PgPool, Postgres};

pub type Db = Postgres;
pub type Pool = PgPool;

/// Row lock for read-modify-write (preferences, a delivery's outcome). NO KEY:
/// foreign-key checks of other transactions never queue behind it.
pub const FOR_UPDATE: &str = " FOR NO KEY UPDATE";

/// Row lock of the workers' claims: rows another worker is claiming are
/// skipped, not waited for, so several workers (pods) share the queue and
/// never take the same delivery or reminder.
pub const SKIP_LOCKED: &str = " FOR NO KEY UPDATE SKIP LOCKED";

include!("sql.rs");
