-- An erased person's roster id, kept only as a salted SHA-256 (see
-- roster::ErasedIds): a later import of the same sourcedId is rejected, so
-- an erased person does not quietly come back with the next nightly sync.
ALTER TABLE people ADD COLUMN erased_external_id_hash TEXT;
CREATE INDEX people_erased_external_id ON people (tenant_id, erased_external_id_hash)
    WHERE erased_external_id_hash IS NOT NULL;
