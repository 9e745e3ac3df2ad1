//! The PostgreSQL store (production). Connects as `membership_app`; row-level
//! security on every table is the second wall behind the `WHERE tenant_id`
//! of each statement in `sql.rs`.

use sqlx::{PgPool, Postgres};

pub type Db = Postgres;
pub type Pool = PgPool;

include!("sql.rs");
