//! The PostgreSQL store (production). Connects as `membership_app`; row-level
//! security on every table is the second wall behind the `WHERE tenant_id`
//! of each statement in `sql.rs`.

use sqlx::{PgPool, Postgres};

pub type Db = Postgres;
pub type Pool = PgPool;

/// Run first in a roster batch's transaction. Its lookups (`IN` lists of
/// hundreds of external ids and e-mails) are prepared statements; a generic
/// plan made while a tenant's tables were small (or before autovacuum
/// analysed them) scans the whole table for each batch, so the import grew
/// quadratic. Custom plans look at the current size every time.
pub const BULK_TX_SETUP: &[&str] = &["SET LOCAL plan_cache_mode = force_custom_plan"];

/// Nulls `before`/`after` of the audit records targeting an erased person
/// (`$1` tenant, `$2` target id), returning their ids. The app role may not
/// update the audit log, so this goes through the `SECURITY DEFINER`
/// function of migration 0004.
pub const SCRUB_PERSON_AUDIT: &str = "SELECT scrub_person_audit($1, $2)";

include!("sql.rs");
