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
/// The bytes of a portfolio's `id`, the blind index an anonymised folder
/// is left with (unique per tenant, and linking to no student):
/// `uuid_send` gives the UUID's 16 bytes.
pub const ID_BYTES: &str = "uuid_send(id)";

include!("sql.rs");
