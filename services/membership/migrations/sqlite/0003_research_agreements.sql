-- Research data agreements and the disclosure log: the twin of migrations/postgres.

CREATE TABLE research_agreements (
    tenant_id BLOB NOT NULL REFERENCES tenants (tenant_id),
    id BLOB NOT NULL,
    title TEXT NOT NULL,
    purpose TEXT NOT NULL,
    data_scope TEXT NOT NULL CHECK (data_scope <> ''),
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    destroy_by TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_by TEXT,
    PRIMARY KEY (tenant_id, id),
    CHECK (starts_on <= ends_on AND ends_on <= destroy_by)
);

CREATE TABLE research_agreement_researchers (
    tenant_id BLOB NOT NULL,
    agreement_id BLOB NOT NULL,
    person_id BLOB NOT NULL,
    PRIMARY KEY (tenant_id, agreement_id, person_id),
    FOREIGN KEY (tenant_id, agreement_id) REFERENCES research_agreements (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX research_agreement_researchers_by_person
    ON research_agreement_researchers (tenant_id, person_id, agreement_id);

CREATE TABLE disclosures (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    agreement_id BLOB,
    recipient_id BLOB NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('scores', 'attendance', 'membership')),
    dataset TEXT NOT NULL,
    row_count INTEGER NOT NULL CHECK (row_count >= 0),
    excluded INTEGER NOT NULL CHECK (excluded >= 0),
    disclosed_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, agreement_id) REFERENCES research_agreements (tenant_id, id),
    FOREIGN KEY (tenant_id, recipient_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX disclosures_by_agreement ON disclosures (tenant_id, agreement_id, id);
CREATE INDEX disclosures_by_recipient ON disclosures (tenant_id, recipient_id, id);
