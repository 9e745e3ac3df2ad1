-- Membership schema for the embedded mode (SQLite): the same tables, keys and
-- indexes as migrations/postgres, without row-level security (the store's
-- WHERE tenant_id is the wall here; the contract suite proves it).

CREATE TABLE tenants (
    tenant_id BLOB PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('district', 'awarding_body', 'research_partnership')),
    time_zone TEXT NOT NULL,
    locale TEXT NOT NULL,
    academic_year_start_month INTEGER NOT NULL,
    academic_year_start_day INTEGER NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE organisations (
    tenant_id BLOB NOT NULL REFERENCES tenants (tenant_id),
    id BLOB NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    external_id TEXT,
    email TEXT,
    phone TEXT,
    address TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX organisations_external_id ON organisations (tenant_id, external_id);

CREATE TABLE people (
    tenant_id BLOB NOT NULL REFERENCES tenants (tenant_id),
    id BLOB NOT NULL,
    given_name TEXT NOT NULL,
    family_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    address TEXT,
    organisation_id BLOB,
    external_id TEXT,
    time_zone TEXT,
    active INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, organisation_id) REFERENCES organisations (tenant_id, id)
);
CREATE UNIQUE INDEX people_email ON people (tenant_id, email);
CREATE UNIQUE INDEX people_external_id ON people (tenant_id, external_id);
CREATE INDEX people_organisation ON people (tenant_id, organisation_id, id);

CREATE TABLE clusters (
    tenant_id BLOB NOT NULL REFERENCES tenants (tenant_id),
    id BLOB NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    lead_person_id BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, lead_person_id) REFERENCES people (tenant_id, id)
);

CREATE TABLE cluster_centres (
    tenant_id BLOB NOT NULL,
    cluster_id BLOB NOT NULL,
    organisation_id BLOB NOT NULL,
    PRIMARY KEY (tenant_id, cluster_id, organisation_id),
    FOREIGN KEY (tenant_id, cluster_id) REFERENCES clusters (tenant_id, id),
    FOREIGN KEY (tenant_id, organisation_id) REFERENCES organisations (tenant_id, id)
);
CREATE INDEX cluster_centres_by_organisation ON cluster_centres (tenant_id, organisation_id);

CREATE TABLE role_grants (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    person_id BLOB NOT NULL,
    role TEXT NOT NULL,
    cluster_id BLOB,
    granted_at TEXT NOT NULL,
    revoked_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id),
    FOREIGN KEY (tenant_id, cluster_id) REFERENCES clusters (tenant_id, id)
);
-- One active grant of a role per person and scope.
CREATE UNIQUE INDEX role_grants_active ON role_grants
    (tenant_id, person_id, role, COALESCE(cluster_id, x'00000000000000000000000000000000'))
    WHERE revoked_at IS NULL;
CREATE INDEX role_grants_by_cluster ON role_grants (tenant_id, cluster_id, role);

CREATE TABLE mentorships (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    mentor_id BLOB NOT NULL,
    new_teacher_id BLOB NOT NULL,
    starts_on TEXT NOT NULL,
    planned_end_on TEXT NOT NULL,
    ended_on TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, mentor_id) REFERENCES people (tenant_id, id),
    FOREIGN KEY (tenant_id, new_teacher_id) REFERENCES people (tenant_id, id)
);
CREATE INDEX mentorships_by_mentor ON mentorships (tenant_id, mentor_id);
CREATE INDEX mentorships_by_new_teacher ON mentorships (tenant_id, new_teacher_id);

CREATE TABLE panels (
    tenant_id BLOB NOT NULL REFERENCES tenants (tenant_id),
    id BLOB NOT NULL,
    name TEXT NOT NULL,
    purpose TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE panel_members (
    tenant_id BLOB NOT NULL,
    panel_id BLOB NOT NULL,
    person_id BLOB NOT NULL,
    constituency TEXT NOT NULL,
    PRIMARY KEY (tenant_id, panel_id, person_id),
    FOREIGN KEY (tenant_id, panel_id) REFERENCES panels (tenant_id, id),
    FOREIGN KEY (tenant_id, person_id) REFERENCES people (tenant_id, id)
);

CREATE TABLE consents (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    subject_person_id BLOB,
    subject_organisation_id BLOB,
    purpose TEXT NOT NULL,
    purpose_version INTEGER NOT NULL,
    recorded_by TEXT NOT NULL,
    by_proxy INTEGER NOT NULL,
    remark TEXT NOT NULL,
    given_at TEXT NOT NULL,
    withdrawn_at TEXT,
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
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    student_ref TEXT NOT NULL,
    organisation_id BLOB NOT NULL,
    recorded_for TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    withdrawn_at TEXT,
    withdrawn_by TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, organisation_id) REFERENCES organisations (tenant_id, id)
);
CREATE UNIQUE INDEX research_opt_outs_active ON research_opt_outs (tenant_id, student_ref)
    WHERE withdrawn_at IS NULL;
CREATE INDEX research_opt_outs_by_organisation ON research_opt_outs (tenant_id, organisation_id, id);

CREATE TABLE audit_log (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    at TEXT NOT NULL,
    before TEXT,
    after TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_by_target ON audit_log (tenant_id, target_id, id);

CREATE TABLE outbox (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    event_type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    published_at TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

