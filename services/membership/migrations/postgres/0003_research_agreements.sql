-- Research data agreements and the disclosure log (see README, "Research").
-- An agreement names researchers, a purpose, the data scope it covers and
-- its dates; a disclosure is one extract given to one person, under an
-- agreement (or, for a tenant admin, none). Disclosures are append-only.

CREATE TABLE research_agreements (
    tenant_id UUID NOT NULL REFERENCES tenants (tenant_id),
    id UUID NOT NULL,
    title TEXT NOT NULL,
    purpose TEXT NOT NULL,
    -- Comma-separated, sorted: a subset of scores, attendance, membership.
    data_scope TEXT NOT NULL CHECK (data_scope <> ''),
    starts_on DATE NOT NULL,
    ends_on DATE NOT NULL,
    destroy_by DATE NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    revoked_by TEXT,
    PRIMARY KEY (tenant_id, id),
    CHECK (starts_on <= ends_on AND ends_on <= destroy_by)
);

CREATE TABLE research_agreement_researchers (
    tenant_id UUID NOT NULL,
    agreement_id UUID NOT NULL,
    person_id UUID NOT NULL,
    PRIMARY KEY (tenant_id, agreement_id, person_id),
    FOREIGN KEY (tenant_id, agreement_id) REFERENCES research_agreements (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX research_agreement_researchers_by_person
    ON research_agreement_researchers (tenant_id, person_id, agreement_id);

CREATE TABLE disclosures (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    -- Absent for a tenant admin's own extract.
    agreement_id UUID,
    recipient_id UUID NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('scores', 'attendance', 'membership')),
    dataset TEXT NOT NULL,
    row_count BIGINT NOT NULL CHECK (row_count >= 0),
    excluded BIGINT NOT NULL CHECK (excluded >= 0),
    disclosed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, agreement_id) REFERENCES research_agreements (tenant_id, id),
    FOREIGN KEY (tenant_id, recipient_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX disclosures_by_agreement ON disclosures (tenant_id, agreement_id, id);
CREATE INDEX disclosures_by_recipient ON disclosures (tenant_id, recipient_id, id);

DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['research_agreements', 'research_agreement_researchers', 'disclosures']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)
                WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)',
            t);
    END LOOP;
END $$;
