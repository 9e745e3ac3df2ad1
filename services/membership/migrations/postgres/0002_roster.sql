-- Roster import jobs (see src/roster). One row per applied import; each batch
-- of the import bumps its progress in the batch's own transaction, so a job
-- row always says how much of the import is committed. At most one running
-- job per tenant.

CREATE TABLE import_jobs (
    tenant_id UUID NOT NULL REFERENCES tenants (tenant_id),
    id UUID NOT NULL,
    source_kind TEXT NOT NULL CHECK (source_kind IN ('oneroster', 'people_csv')),
    -- SHA-256 of the files: a re-run of the same files continues the job.
    source_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'superseded')),
    deactivations_confirmed BOOLEAN NOT NULL,
    batches_done BIGINT NOT NULL,
    rows_created BIGINT NOT NULL,
    rows_updated BIGINT NOT NULL,
    rows_deactivated BIGINT NOT NULL,
    rows_unchanged BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    started_by TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    error TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX import_jobs_one_running ON import_jobs (tenant_id) WHERE status = 'running';
CREATE INDEX import_jobs_by_source ON import_jobs (tenant_id, source_hash, id);

ALTER TABLE import_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE import_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON import_jobs
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
