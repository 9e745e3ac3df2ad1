-- Scoring schema. Every table carries tenant_id, which leads every primary
-- key and index (distribution column for Citus-style sharding later). Row-level
-- security is enabled AND forced on every table; the service connects as
-- scoring_app, which is neither owner nor superuser nor BYPASSRLS.
--
-- Scores are never updated: a correction is a new row with the next version
-- (unique per assignment, so two concurrent corrections cannot both win).
-- Student ids are held only encrypted (student_enc) and as a keyed blind
-- index (student_index); see src/domain/student.rs.

CREATE TABLE rubrics (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    programme TEXT NOT NULL,
    name TEXT NOT NULL,
    score_points JSONB NOT NULL,
    dimensions JSONB NOT NULL,
    condition_codes JSONB NOT NULL,
    qualification_threshold DOUBLE PRECISION NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX rubrics_by_programme ON rubrics (tenant_id, programme, id);

CREATE TABLE anchor_papers (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    rubric_id UUID NOT NULL,
    score_point INTEGER NOT NULL,
    title TEXT NOT NULL,
    work_ref TEXT NOT NULL,
    annotation TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, rubric_id) REFERENCES rubrics (tenant_id, id)
);
CREATE INDEX anchor_papers_by_rubric ON anchor_papers (tenant_id, rubric_id, score_point);

CREATE TABLE portfolios (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    student_index BYTEA NOT NULL,
    student_enc BYTEA NOT NULL,
    school_id UUID NOT NULL,
    grade_level INTEGER NOT NULL,
    academic_year INTEGER NOT NULL,
    pieces JSONB NOT NULL,
    previous_id UUID,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- One folder per student and academic year.
CREATE UNIQUE INDEX portfolios_student_year ON portfolios (tenant_id, student_index, academic_year);
CREATE INDEX portfolios_by_year ON portfolios (tenant_id, academic_year, id);
CREATE INDEX portfolios_by_school ON portfolios (tenant_id, school_id, academic_year, id);

CREATE TABLE qualification_sets (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    rubric_id UUID NOT NULL,
    academic_year INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('qualifying', 'calibration')),
    name TEXT NOT NULL,
    papers JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, rubric_id) REFERENCES rubrics (tenant_id, id)
);
CREATE INDEX qualification_sets_by_rubric ON qualification_sets (tenant_id, rubric_id, academic_year);

CREATE TABLE qualification_attempts (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    set_id UUID NOT NULL,
    rubric_id UUID NOT NULL,
    academic_year INTEGER NOT NULL,
    kind TEXT NOT NULL,
    scorer_id UUID NOT NULL,
    results JSONB NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    passed BOOLEAN NOT NULL,
    submitted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, set_id) REFERENCES qualification_sets (tenant_id, id)
);
CREATE INDEX qualification_attempts_by_scorer
    ON qualification_attempts (tenant_id, scorer_id, rubric_id, academic_year);

CREATE TABLE sessions (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    event_id UUID NOT NULL,
    rubric_id UUID NOT NULL,
    cluster_id UUID NOT NULL,
    academic_year INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    second_read_share DOUBLE PRECISION NOT NULL,
    backread_share DOUBLE PRECISION NOT NULL,
    allow_own_school BOOLEAN NOT NULL,
    resolution_rule TEXT NOT NULL,
    calibration_since TIMESTAMPTZ,
    lead_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    closed_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, rubric_id) REFERENCES rubrics (tenant_id, id)
);
CREATE INDEX sessions_by_year ON sessions (tenant_id, academic_year, id);
CREATE INDEX sessions_by_cluster ON sessions (tenant_id, cluster_id, id);

-- One row per portfolio in a session: its current first and second reads
-- (kept here so agreement statistics are one grouped scan) and its result.
-- The row is locked by every submission for the portfolio.
CREATE TABLE session_portfolios (
    tenant_id UUID NOT NULL,
    session_id UUID NOT NULL,
    portfolio_id UUID NOT NULL,
    school_id UUID NOT NULL,
    cluster_id UUID NOT NULL,
    academic_year INTEGER NOT NULL,
    rubric_id UUID NOT NULL,
    first_scorer UUID,
    first_score INTEGER,
    first_condition TEXT,
    second_scorer UUID,
    second_score INTEGER,
    second_condition TEXT,
    paired_at TIMESTAMPTZ,
    state TEXT NOT NULL CHECK (state IN ('unread', 'pending', 'resolved', 'awaiting_third_read')),
    final_score DOUBLE PRECISION,
    final_condition TEXT,
    method TEXT,
    reason TEXT NOT NULL,
    decided_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, session_id, portfolio_id),
    FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id),
    FOREIGN KEY (tenant_id, portfolio_id) REFERENCES portfolios (tenant_id, id)
);
CREATE INDEX session_portfolios_by_year ON session_portfolios (tenant_id, academic_year, school_id);
CREATE INDEX session_portfolios_by_portfolio ON session_portfolios (tenant_id, portfolio_id);

CREATE TABLE assignments (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    session_id UUID NOT NULL,
    portfolio_id UUID NOT NULL,
    scorer_id UUID NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('first', 'second', 'third', 'backread')),
    reviews_assignment_id UUID,
    status TEXT NOT NULL CHECK (status IN ('pending', 'submitted', 'withdrawn')),
    current_score_id UUID,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, session_id, portfolio_id)
        REFERENCES session_portfolios (tenant_id, session_id, portfolio_id)
);
-- One first, second and third read per portfolio and session; one backread per read.
CREATE UNIQUE INDEX assignments_one_read ON assignments (tenant_id, session_id, portfolio_id, kind)
    WHERE kind <> 'backread' AND status <> 'withdrawn';
CREATE UNIQUE INDEX assignments_one_backread ON assignments (tenant_id, reviews_assignment_id)
    WHERE kind = 'backread';
CREATE INDEX assignments_by_scorer ON assignments (tenant_id, scorer_id, session_id, id);
CREATE INDEX assignments_by_session ON assignments (tenant_id, session_id, id);

CREATE TABLE scores (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    assignment_id UUID NOT NULL,
    session_id UUID NOT NULL,
    portfolio_id UUID NOT NULL,
    scorer_id UUID NOT NULL,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    score INTEGER,
    dimensions JSONB NOT NULL,
    condition_code TEXT,
    reason TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, assignment_id) REFERENCES assignments (tenant_id, id),
    CHECK ((score IS NULL) <> (condition_code IS NULL))
);
CREATE UNIQUE INDEX scores_version ON scores (tenant_id, assignment_id, version);
CREATE INDEX scores_by_portfolio ON scores (tenant_id, session_id, portfolio_id, id);

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
-- The relay's cross-tenant scan of unpublished rows.
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- What a consumer has handled (platform::tx::TenantTxExt::first_delivery).
CREATE TABLE processed_events (
    tenant_id UUID NOT NULL,
    consumer TEXT NOT NULL,
    event_id UUID NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, consumer, event_id)
);

-- Row-level security: the second wall behind every store's WHERE tenant_id.
DO $$
DECLARE t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['rubrics', 'anchor_papers', 'portfolios', 'qualification_sets',
        'qualification_attempts', 'sessions', 'session_portfolios', 'assignments', 'scores',
        'audit_log', 'outbox', 'processed_events']
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

-- Cross-tenant operator work: the outbox relay.
CREATE POLICY operator_all ON outbox TO scoring_operator USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE, DELETE ON outbox TO scoring_operator;
