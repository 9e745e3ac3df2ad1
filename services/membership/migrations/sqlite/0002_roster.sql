-- Roster import jobs (see src/roster): the twin of migrations/postgres.

CREATE TABLE import_jobs (
    tenant_id BLOB NOT NULL REFERENCES tenants (tenant_id),
    id BLOB NOT NULL,
    source_kind TEXT NOT NULL CHECK (source_kind IN ('oneroster', 'people_csv')),
    source_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'superseded')),
    deactivations_confirmed INTEGER NOT NULL,
    batches_done INTEGER NOT NULL,
    rows_created INTEGER NOT NULL,
    rows_updated INTEGER NOT NULL,
    rows_deactivated INTEGER NOT NULL,
    rows_unchanged INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    started_by TEXT NOT NULL,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT,
    error TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX import_jobs_one_running ON import_jobs (tenant_id) WHERE status = 'running';
CREATE INDEX import_jobs_by_source ON import_jobs (tenant_id, source_hash, id);
