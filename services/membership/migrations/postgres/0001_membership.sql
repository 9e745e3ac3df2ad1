-- Membership schema. Every table carries tenant_id, which leads every primary
-- key and index (distribution column for Citus-style sharding later). Row-level
-- security is enabled AND forced on every table; the service connects as
-- membership_app, which is neither owner nor superuser nor BYPASSRLS.

CREATE TABLE tenants (
    tenant_id UUID PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('district', 'awarding_body', 'research_partnership')),
    time_zone TEXT NOT NULL,
    locale TEXT NOT NULL,
    academic_year_start_month INTEGER NOT NULL,
    academic_year_start_day INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE organisations (
    tenant_id UUID NOT NULL REFERENCES tenants (tenant_id),
    id UUID NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT,
    email TEXT,
    phone TEXT,
    address TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX organisations_external_id ON organisations (tenant_id, external_id);

CREATE TABLE people (
    tenant_id UUID NOT NULL REFERENCES tenants (tenant_id),
    id UUID NOT NULL,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    address TEXT,
    organisation_id UUID,
    external_id TEXT,
    time_zone TEXT,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, organisation_id) REFERENCES organisations (tenant_id, id)
);
CREATE UNIQUE INDEX people_email ON people (tenant_id, email);
CREATE UNIQUE INDEX people_external_id ON people (tenant_id, external_id);
CREATE INDEX people_organisation ON people (tenant_id, organisation_id, id);

CREATE TABLE clusters (
    tenant_id UUID NOT NULL REFERENCES tenants (tenant_id),
    id UUID NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    lead_person_id UUID,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, lead_person_id) REFERENCES people (tenant_id, id)
);

CREATE TABLE cluster_centres (
    tenant_id UUID NOT NULL,
    cluster_id UUID NOT NULL,
    organisation_id UUID NOT NULL,
    PRIMARY KEY (tenant_id, cluster_id, organisation_id),
    FOREIGN KEY (tenant_id, cluster_id) REFERENCES clusters (tenant_id, id),
    FOREIGN KEY (tenant_id, organisation_id) REFERENCES organisations (tenant_id, id)
);
CREATE INDEX cluster_centres_by_organisation ON cluster_centres (tenant_id, organisation_id);

CREATE TABLE role_grants (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    person_id UUID NOT NULL,
    role TEXT NOT NULL,
    cluster_id UUID,
    granted_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id),
    FOREIGN KEY (tenant_id, cluster_id) REFERENCES clusters (tenant_id, id)
);
-- One active grant of a role per person and scope.
CREATE UNIQUE INDEX role_grants_active ON role_grants
    (tenant_id, person_id, role, COALESCE(cluster_id, '00000000-0000-0000-0000-000000000000'))
    WHERE revoked_at IS NULL;
CREATE INDEX role_grants_by_cluster ON role_grants (tenant_id, cluster_id, role);

CREATE TABLE mentorships (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    mentor_id UUID NOT NULL,
    new_teacher_id UUID NOT NULL,
    starts_on DATE NOT NULL,
    planned_end_on DATE NOT NULL,
    ended_on DATE,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, mentor_id) REFERENCES people (tenant_id, id),
    FOREIGN KEY (tenant_id, new_teacher_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX mentorships_by_mentor ON mentorships (tenant_id, mentor_id);
CREATE INDEX mentorships_by_new_teacher ON mentorships (tenant_id, new_teacher_id);

CREATE TABLE panels (
    tenant_id UUID NOT NULL REFERENCES tenants (tenant_id),
    id UUID NOT NULL,
    name TEXT NOT NULL,
    purpose TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE panel_members (
    tenant_id UUID NOT NULL,
    panel_id UUID NOT NULL,
    person_id UUID NOT NULL,
    constituency TEXT NOT NULL,
    PRIMARY KEY (tenant_id, panel_id, person_id),
    FOREIGN KEY (tenant_id, panel_id) REFERENCES panels (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id)
);

CREATE TABLE consents (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    subject_person_id UUID,
    subject_organisation_id UUID,
    purpose TEXT NOT NULL,
    purpose_version INTEGER NOT NULL,
    recorded_by TEXT NOT NULL,
    by_proxy BOOLEAN NOT NULL,
    remark TEXT NOT NULL,
    given_at TIMESTAMPTZ NOT NULL,
    withdrawn_at TIMESTAMPTZ,
    withdrawn_by TEXT,
    withdraw_remark TEXT,
    PRIMARY KEY (tenant_id, id),
    CHECK ((subject_person_id IS NULL) <> (subject_organisation_id IS NULL)),
    FOREIGN KEY (tenant_id, subject_person_id) REFERENCES people (tenant_id, id),
    FOREIGN KEY (tenant_id, subject_organisation_id) REFERENCES organisations (tenant_id, id)
);
CREATE INDEX consents_by_person ON consents (tenant_id, subject_person_id, purpose);
CREATE INDEX consents_by_organisation ON consents (tenant_id, subject_organisation_id, purpose);

CREATE TABLE research_opt_outs (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    student_ref TEXT NOT NULL,
    organisation_id UUID NOT NULL,
    recorded_for TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    withdrawn_at TIMESTAMPTZ,
    withdrawn_by TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, organisation_id) REFERENCES organisations (tenant_id, id)
);
CREATE UNIQUE INDEX research_opt_outs_active ON research_opt_outs (tenant_id, student_ref)
    WHERE withdrawn_at IS NULL;
CREATE INDEX research_opt_outs_by_organisation ON research_opt_outs (tenant_id, organisation_id, id);

CREATE TABLE audit_log (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    before JSONB,
    after JSONB,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_by_target ON audit_log (tenant_id, target_id, id);

CREATE TABLE outbox (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    event_type TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    payload JSONB NOT NULL,
    published_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- Row-level security: the second wall behind every store's WHERE tenant_id.
DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'organisations', 'people', 'clusters', 'cluster_centres',
        'role_grants', 'mentorships', 'panels', 'panel_members', 'consents', 'research_opt_outs',
        'audit_log', 'outbox']
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

-- Cross-tenant operator work: the outbox relay and the tenant directory.
CREATE POLICY operator_all ON outbox TO membership_operator USING (true) WITH CHECK (true);
CREATE POLICY operator_all ON tenants TO membership_operator USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE, DELETE ON outbox TO membership_operator;
GRANT SELECT, INSERT ON tenants TO membership_operator;
