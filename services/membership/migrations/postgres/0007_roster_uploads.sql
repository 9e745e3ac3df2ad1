-- Roster uploads through RosterService (GraphQL importRoster): the job's
-- state, progress and report as last saved by the pod running it, so any
-- pod answers GetRosterImportJob and ListRosterImportJobs. `job` is the
-- RosterImportJob message (protobuf encoding). Reports list rejected rows
-- with names and e-mail addresses, so they expire with the tenant's
-- `roster_uploads` retention period.
CREATE TABLE roster_uploads (
    tenant_id UUID NOT NULL REFERENCES tenants (tenant_id),
    id UUID NOT NULL,
    job BYTEA NOT NULL,
    finished BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX roster_uploads_unfinished ON roster_uploads (tenant_id, updated_at) WHERE NOT finished;

ALTER TABLE roster_uploads ENABLE ROW LEVEL SECURITY;
ALTER TABLE roster_uploads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON roster_uploads
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
