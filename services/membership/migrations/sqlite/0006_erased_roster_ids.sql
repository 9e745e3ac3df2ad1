-- See migrations/postgres/0006_erased_roster_ids.sql.
ALTER TABLE people ADD COLUMN erased_external_id_hash TEXT;
CREATE INDEX people_erased_external_id ON people (tenant_id, erased_external_id_hash)
    WHERE erased_external_id_hash IS NOT NULL;
