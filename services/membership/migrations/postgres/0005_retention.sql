-- Retention (platform::retention): the tenant's period per data category,
-- the record of every retention run, and when a person became inactive (the
-- clock of the `inactive_people` category).

ALTER TABLE people ADD COLUMN inactive_since TIMESTAMPTZ;
-- People already inactive start their clock now: nobody is erased for an
-- inactivity that was never recorded.
UPDATE people SET inactive_since = now() WHERE NOT active AND erased_at IS NULL;
CREATE INDEX people_inactive ON people (tenant_id, id) WHERE NOT active AND erased_at IS NULL;

CREATE TABLE retention_periods (
    tenant_id UUID NOT NULL REFERENCES tenants (tenant_id),
    category TEXT NOT NULL,
    -- NULL: kept until erased by hand.
    days BIGINT CHECK (days > 0),
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, category)
);

CREATE TABLE retention_runs (
    tenant_id UUID NOT NULL REFERENCES tenants (tenant_id),
    id UUID NOT NULL,
    actor TEXT NOT NULL,
    dry_run BOOLEAN NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    cutoffs JSONB NOT NULL,
    reports JSONB NOT NULL,
    error TEXT,
    PRIMARY KEY (tenant_id, id)
);

ALTER TABLE retention_periods ENABLE ROW LEVEL SECURITY;
ALTER TABLE retention_periods FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON retention_periods
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE retention_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE retention_runs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON retention_runs
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
