-- See migrations/postgres/0007_roster_uploads.sql.
CREATE TABLE roster_uploads (
    tenant_id BLOB NOT NULL REFERENCES tenants (tenant_id),
    id BLOB NOT NULL,
    job BLOB NOT NULL,
    finished INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX roster_uploads_unfinished ON roster_uploads (tenant_id, updated_at) WHERE NOT finished;
