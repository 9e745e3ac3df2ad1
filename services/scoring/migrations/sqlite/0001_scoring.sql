-- Scoring schema for the embedded SQLite store (`collegium dev`): the same
-- tables and indexes as PostgreSQL, in SQLite types.
--
-- Scores are never updated: a correction is a new row with the next version
-- (unique per assignment, so two concurrent corrections cannot both win).
-- Student ids are held only encrypted (student_enc) and as a keyed blind
-- index (student_index); see src/domain/student.rs.

CREATE TABLE rubrics (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    programme TEXT NOT NULL,
    name TEXT NOT NULL,
    score_points TEXT NOT NULL,
    dimensions TEXT NOT NULL,
    condition_codes TEXT NOT NULL,
    qualification_threshold REAL NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX rubrics_by_programme ON rubrics (tenant_id, programme, id);

CREATE TABLE anchor_papers (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    rubric_id BLOB NOT NULL,
    score_point INTEGER NOT NULL,
    title TEXT NOT NULL,
    work_ref TEXT NOT NULL,
    annotation TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, rubric_id) REFERENCES rubrics (tenant_id, id)
);
CREATE INDEX anchor_papers_by_rubric ON anchor_papers (tenant_id, rubric_id, score_point);

CREATE TABLE portfolios (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    student_index BLOB NOT NULL,
    student_enc BLOB NOT NULL,
    school_id BLOB NOT NULL,
    grade_level INTEGER NOT NULL,
    academic_year INTEGER NOT NULL,
    pieces TEXT NOT NULL,
    previous_id BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- One folder per student and academic year.
CREATE UNIQUE INDEX portfolios_student_year ON portfolios (tenant_id, student_index, academic_year);
CREATE INDEX portfolios_by_year ON portfolios (tenant_id, academic_year, id);
CREATE INDEX portfolios_by_school ON portfolios (tenant_id, school_id, academic_year, id);

CREATE TABLE qualification_sets (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    rubric_id BLOB NOT NULL,
    academic_year INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('qualifying', 'calibration')),
    name TEXT NOT NULL,
    papers TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, rubric_id) REFERENCES rubrics (tenant_id, id)
);
CREATE INDEX qualification_sets_by_rubric ON qualification_sets (tenant_id, rubric_id, academic_year);

CREATE TABLE qualification_attempts (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    set_id BLOB NOT NULL,
    rubric_id BLOB NOT NULL,
    academic_year INTEGER NOT NULL,
    kind TEXT NOT NULL,
    scorer_id BLOB NOT NULL,
    results TEXT NOT NULL,
    threshold REAL NOT NULL,
    passed INTEGER NOT NULL,
    submitted_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, set_id) REFERENCES qualification_sets (tenant_id, id)
);
CREATE INDEX qualification_attempts_by_scorer
    ON qualification_attempts (tenant_id, scorer_id, rubric_id, academic_year);

CREATE TABLE sessions (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    event_id BLOB NOT NULL,
    rubric_id BLOB NOT NULL,
    cluster_id BLOB NOT NULL,
    academic_year INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    second_read_share REAL NOT NULL,
    backread_share REAL NOT NULL,
    allow_own_school INTEGER NOT NULL,
    resolution_rule TEXT NOT NULL,
    calibration_since TEXT,
    lead_id BLOB NOT NULL,
    created_at TEXT NOT NULL,
    closed_at TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, rubric_id) REFERENCES rubrics (tenant_id, id)
);
CREATE INDEX sessions_by_year ON sessions (tenant_id, academic_year, id);
CREATE INDEX sessions_by_cluster ON sessions (tenant_id, cluster_id, id);

-- One row per portfolio in a session: its current first and second reads
-- (kept here so agreement statistics are one grouped scan) and its result.
-- The row is locked by every submission for the portfolio.
CREATE TABLE session_portfolios (
    tenant_id BLOB NOT NULL,
    session_id BLOB NOT NULL,
    portfolio_id BLOB NOT NULL,
    school_id BLOB NOT NULL,
    cluster_id BLOB NOT NULL,
    academic_year INTEGER NOT NULL,
    rubric_id BLOB NOT NULL,
    first_scorer BLOB,
    first_score INTEGER,
    first_condition TEXT,
    second_scorer BLOB,
    second_score INTEGER,
    second_condition TEXT,
    paired_at TEXT,
    state TEXT NOT NULL CHECK (state IN ('unread', 'pending', 'resolved', 'awaiting_third_read')),
    final_score REAL,
    final_condition TEXT,
    method TEXT,
    reason TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, session_id, portfolio_id),
    FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id),
    FOREIGN KEY (tenant_id, portfolio_id) REFERENCES portfolios (tenant_id, id)
);
CREATE INDEX session_portfolios_by_year ON session_portfolios (tenant_id, academic_year, school_id);
CREATE INDEX session_portfolios_by_portfolio ON session_portfolios (tenant_id, portfolio_id);

CREATE TABLE assignments (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    session_id BLOB NOT NULL,
    portfolio_id BLOB NOT NULL,
    scorer_id BLOB NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('first', 'second', 'third', 'backread')),
    reviews_assignment_id BLOB,
    status TEXT NOT NULL CHECK (status IN ('pending', 'submitted', 'withdrawn')),
    current_score_id BLOB,
    created_at TEXT NOT NULL,
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
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    assignment_id BLOB NOT NULL,
    session_id BLOB NOT NULL,
    portfolio_id BLOB NOT NULL,
    scorer_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    score INTEGER,
    dimensions TEXT NOT NULL,
    condition_code TEXT,
    reason TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, assignment_id) REFERENCES assignments (tenant_id, id),
    CHECK ((score IS NULL) <> (condition_code IS NULL))
);
CREATE UNIQUE INDEX scores_version ON scores (tenant_id, assignment_id, version);
CREATE INDEX scores_by_portfolio ON scores (tenant_id, session_id, portfolio_id, id);

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
-- The relay's cross-tenant scan of unpublished rows.
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- What a consumer has handled (platform::tx::TenantTxExt::first_delivery).
CREATE TABLE processed_events (
    tenant_id BLOB NOT NULL,
    consumer TEXT NOT NULL,
    event_id BLOB NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, consumer, event_id)
);
