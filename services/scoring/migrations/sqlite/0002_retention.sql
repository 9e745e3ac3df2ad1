-- Retention of student work (platform::retention, category student_work):
-- a folder past the tenant's period and in no open session is anonymised
-- in place. Its sealed student id is emptied, its blind index replaced by
-- the folder's own id (unique, and linking to no student), its pieces
-- emptied; scores, reads and statistics stay. anonymised_at says when, so a
-- second run finds nothing left to do.
ALTER TABLE portfolios ADD COLUMN anonymised_at TEXT;

-- The retention run's scan: a tenant's folders not yet anonymised, by age.
CREATE INDEX portfolios_to_anonymise ON portfolios (tenant_id, created_at)
    WHERE anonymised_at IS NULL;
