-- Erasure of a person (ErasePersonData): when their row was anonymised.
ALTER TABLE people ADD COLUMN erased_at TIMESTAMPTZ;

-- The audit log is append-only for membership_app (no UPDATE). Erasure must
-- still scrub the before/after snapshots of the records that target the
-- erased person (they hold the old name and contact details); this function
-- does only that, in the tenant of the current transaction (and RLS, forced
-- for the owner too, confines it again). The record of the erasure itself
-- is kept as written.
CREATE FUNCTION scrub_person_audit(tenant UUID, target TEXT) RETURNS SETOF UUID
LANGUAGE sql SECURITY DEFINER SET search_path FROM CURRENT AS $$
    UPDATE audit_log SET before = NULL, after = NULL
    WHERE tenant_id = tenant
      AND tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
      AND target_id = target
      AND action <> 'person.erased'
      AND (before IS NOT NULL OR after IS NOT NULL)
    RETURNING id
$$;

-- Only the service's own role may call it.
REVOKE ALL ON FUNCTION scrub_person_audit(UUID, TEXT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION scrub_person_audit(UUID, TEXT) TO membership_app;
