-- Retention: see migrations/postgres/0005_retention.sql.

ALTER TABLE people ADD COLUMN inactive_since TEXT;
-- The format sqlx writes instants in (RFC 3339, `+00:00`), so comparisons hold.
UPDATE people SET inactive_since = strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')
    WHERE NOT active AND erased_at IS NULL;
CREATE INDEX people_inactive ON people (tenant_id, id) WHERE NOT active AND erased_at IS NULL;

CREATE TABLE retention_periods (
    tenant_id BLOB NOT NULL REFERENCES tenants (tenant_id),
    category TEXT NOT NULL,
    days INTEGER CHECK (days > 0),
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, category)
);

CREATE TABLE retention_runs (
    tenant_id BLOB NOT NULL REFERENCES tenants (tenant_id),
    id BLOB NOT NULL,
    actor TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    cutoffs TEXT NOT NULL,
    reports TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (tenant_id, id)
);
