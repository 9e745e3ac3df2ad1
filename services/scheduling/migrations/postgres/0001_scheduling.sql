-- Scheduling schema. Every table carries tenant_id, which leads every primary
-- key and index (distribution column for Citus-style sharding later). Row-level
-- security is enabled AND forced on every table; the service connects as
-- scheduling_app, which is neither owner nor superuser nor BYPASSRLS.
--
-- Instants are written by the store in whole seconds (waitlisted_at in
-- microseconds), so both backends hold and return the same values.

CREATE TABLE venues (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity >= 0),
    buffer_minutes INTEGER NOT NULL CHECK (buffer_minutes >= 0),
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE events (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('scoring_training', 'leader_training', 'recording_viewing',
        'network_meeting', 'scoring_session', 'panel_meeting', 'study_group')),
    cluster_id UUID,
    title TEXT NOT NULL,
    agenda TEXT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    time_zone TEXT NOT NULL,
    venue_id UUID,
    online_url TEXT,
    capacity INTEGER NOT NULL CHECK (capacity >= 0),
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'cancelled')),
    academic_year INTEGER NOT NULL,
    approval_required BOOLEAN NOT NULL,
    training_hours INTEGER NOT NULL CHECK (training_hours >= 0),
    prepares_for_event_id UUID,
    series_id UUID,
    recurrence_id TIMESTAMPTZ,
    rrule TEXT,
    series_start TIMESTAMPTZ,
    detached BOOLEAN NOT NULL,
    sequence INTEGER NOT NULL CHECK (sequence >= 0),
    check_in_code TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, venue_id) REFERENCES venues (tenant_id, id),
    -- Deferred: a training and the session it prepares for may be created together.
    FOREIGN KEY (tenant_id, prepares_for_event_id) REFERENCES events (tenant_id, id)
        DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX events_by_start ON events (tenant_id, starts_at, id);
CREATE INDEX events_by_cluster ON events (tenant_id, cluster_id, starts_at);
CREATE INDEX events_by_venue ON events (tenant_id, venue_id, starts_at);
CREATE INDEX events_by_series ON events (tenant_id, series_id, starts_at);
CREATE INDEX events_by_year ON events (tenant_id, academic_year, kind);

CREATE TABLE rsvps (
    tenant_id UUID NOT NULL,
    event_id UUID NOT NULL,
    person_id UUID NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('invited', 'accepted', 'declined', 'tentative',
        'waitlisted', 'pending_approval')),
    -- Time of joining the waiting list (shown), and the place on it (ordered
    -- by): a per-event counter taken with the event row locked.
    waitlisted_at TIMESTAMPTZ,
    waitlist_position BIGINT,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, event_id, person_id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id),
    CHECK ((status = 'waitlisted') = (waitlist_position IS NOT NULL))
);
CREATE INDEX rsvps_by_person ON rsvps (tenant_id, person_id);
CREATE INDEX rsvps_waiting ON rsvps (tenant_id, event_id, waitlist_position)
    WHERE waitlist_position IS NOT NULL;

CREATE TABLE attendance (
    tenant_id UUID NOT NULL,
    event_id UUID NOT NULL,
    person_id UUID NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('present', 'no_show')),
    method TEXT NOT NULL CHECK (method IN ('owner', 'check_in')),
    recorded_by TEXT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, event_id, person_id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id)
);
CREATE INDEX attendance_by_person ON attendance (tenant_id, person_id);

CREATE TABLE rule_settings (
    tenant_id UUID NOT NULL PRIMARY KEY,
    min_network_meetings INTEGER NOT NULL CHECK (min_network_meetings >= 0),
    require_trained_scorers BOOLEAN NOT NULL,
    require_leader_sequence BOOLEAN NOT NULL,
    training_window_days INTEGER NOT NULL CHECK (training_window_days >= 0),
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE materials (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    event_id UUID NOT NULL,
    title TEXT NOT NULL,
    url TEXT,
    object_key TEXT,
    file_name TEXT,
    content_type TEXT,
    size_bytes BIGINT NOT NULL CHECK (size_bytes >= 0),
    added_by TEXT NOT NULL,
    added_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id)
);
CREATE INDEX materials_by_event ON materials (tenant_id, event_id, id);

CREATE TABLE expense_claims (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    event_id UUID NOT NULL,
    person_id UUID NOT NULL,
    travel_amount BIGINT NOT NULL,
    subsistence_amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('submitted', 'approved', 'rejected')),
    decided_by TEXT,
    decided_at TIMESTAMPTZ,
    decision_reason TEXT,
    submitted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id)
);
CREATE INDEX expense_claims_by_event ON expense_claims (tenant_id, event_id);
CREATE INDEX expense_claims_by_status ON expense_claims (tenant_id, status, decided_at);
CREATE INDEX expense_claims_by_person ON expense_claims (tenant_id, person_id);
-- One claim awaiting a decision per person and event.
CREATE UNIQUE INDEX expense_claims_open ON expense_claims (tenant_id, event_id, person_id)
    WHERE status = 'submitted';

CREATE TABLE questions (
    tenant_id UUID NOT NULL,
    event_id UUID NOT NULL,
    id UUID NOT NULL,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('rating', 'text')),
    PRIMARY KEY (tenant_id, event_id, id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id)
);

CREATE TABLE feedback (
    tenant_id UUID NOT NULL,
    event_id UUID NOT NULL,
    person_id UUID NOT NULL,
    answers JSONB NOT NULL,
    submitted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, event_id, person_id),
    FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id)
);

CREATE TABLE calendar_feeds (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    person_id UUID NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX calendar_feeds_by_person ON calendar_feeds (tenant_id, person_id);
-- At most one active feed per person.
CREATE UNIQUE INDEX calendar_feeds_active ON calendar_feeds (tenant_id, person_id)
    WHERE revoked_at IS NULL;

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
    FOREACH t IN ARRAY ARRAY['venues', 'events', 'rsvps', 'attendance', 'rule_settings',
        'materials', 'expense_claims', 'questions', 'feedback', 'calendar_feeds',
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
CREATE POLICY operator_all ON outbox TO scheduling_operator USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE, DELETE ON outbox TO scheduling_operator;
