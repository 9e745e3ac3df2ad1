-- Notifications schema. Every table carries tenant_id, which leads every
-- primary key and every index but three documented cross-tenant work queues
-- (outbox_unpublished, deliveries_due, reminders_due; see the end of this
-- file). Row-level security is enabled AND forced on every table; the service
-- connects as notifications_app, which is neither owner nor superuser nor
-- BYPASSRLS.
--
-- Instants are written by the store in whole seconds, so both backends hold
-- and return the same values, and the SQLite twin can compare them as text
-- (deliveries.next_attempt_at and reminders.remind_at are compared in the
-- workers' claims).

-- The inbox: one row per message and person, whatever the e-mail preference.
CREATE TABLE notifications (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    person_id UUID NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('invitations', 'changes', 'reminders', 'scoring',
        'compliance', 'newsletters', 'account')),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL,
    critical BOOLEAN NOT NULL,
    -- The domain event it came from; one message per (person, event).
    source_event_id UUID,
    created_at TIMESTAMPTZ NOT NULL,
    -- Archiving also marks read: unread means read_at IS NULL.
    read_at TIMESTAMPTZ,
    archived_at TIMESTAMPTZ,
    -- The e-mail rendered from the template when queued (subject, plain text,
    -- HTML; the HTML already escaped). All three or none: without them
    -- (people's own messages, digests) the e-mail lays out title and body.
    email_subject TEXT,
    email_text TEXT,
    email_html TEXT,
    PRIMARY KEY (tenant_id, id),
    CHECK ((email_subject IS NULL) = (email_text IS NULL)
        AND (email_text IS NULL) = (email_html IS NULL))
);
-- A person's inbox, newest first.
CREATE INDEX notifications_by_person ON notifications (tenant_id, person_id, id);
-- Unread items and their count.
CREATE INDEX notifications_unread ON notifications (tenant_id, person_id, id)
    WHERE read_at IS NULL;
-- Idempotency: a redelivered or replanned event never reaches a person twice.
CREATE UNIQUE INDEX notifications_by_source ON notifications (tenant_id, person_id, source_event_id)
    WHERE source_event_id IS NOT NULL;

-- The delivery log: one row per notification, person and channel.
CREATE TABLE deliveries (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    notification_id UUID NOT NULL,
    person_id UUID NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('in_app', 'email')),
    -- The e-mail address at the time of queueing.
    address TEXT,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'held', 'skipped')),
    attempts INTEGER NOT NULL CHECK (attempts >= 0),
    last_error TEXT,
    -- When a worker may take it: now, after quiet hours, at the digest time,
    -- after a back-off, or (while a worker holds it) the end of its lease.
    next_attempt_at TIMESTAMPTZ NOT NULL,
    digest BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, notification_id) REFERENCES notifications (tenant_id, id)
);
CREATE INDEX deliveries_by_notification ON deliveries (tenant_id, notification_id, id);
CREATE INDEX deliveries_by_person ON deliveries (tenant_id, person_id, id);
CREATE INDEX deliveries_by_status ON deliveries (tenant_id, status, id);
-- The delivery workers' cross-tenant claim of due work (see the end of this file).
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('queued', 'held');

-- A person's settings; absent people have the defaults of domain::preferences.
CREATE TABLE preferences (
    tenant_id UUID NOT NULL,
    person_id UUID NOT NULL,
    -- [[category, channel, frequency], ...], one per (category, channel).
    entries JSONB NOT NULL,
    digest_time TIME NOT NULL,
    digest_weekday INTEGER NOT NULL CHECK (digest_weekday BETWEEN 1 AND 7),
    time_zone TEXT,
    quiet_hours_start TIME,
    quiet_hours_end TIME,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, person_id),
    CHECK ((quiet_hours_start IS NULL) = (quiet_hours_end IS NULL))
);

-- One-click unsubscribe links: one per person and category; only the
-- secret's hash is kept.
CREATE TABLE unsubscribe_tokens (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    person_id UUID NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('invitations', 'changes', 'reminders', 'scoring',
        'compliance', 'newsletters', 'account')),
    secret_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX unsubscribe_tokens_by_person ON unsubscribe_tokens (tenant_id, person_id, category);

CREATE TABLE templates (
    tenant_id UUID NOT NULL,
    event_type TEXT NOT NULL,
    locale TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('invitations', 'changes', 'reminders', 'scoring',
        'compliance', 'newsletters', 'account')),
    subject TEXT NOT NULL,
    text TEXT NOT NULL,
    html TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, event_type, locale)
);

-- What cluster leads sent to their clusters (newsletters, group lists).
CREATE TABLE cluster_messages (
    tenant_id UUID NOT NULL,
    id UUID NOT NULL,
    cluster_id UUID NOT NULL,
    role TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_by TEXT NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL,
    recipients INTEGER NOT NULL CHECK (recipients >= 0),
    unsubscribed INTEGER NOT NULL CHECK (unsubscribed >= 0),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX cluster_messages_by_cluster ON cluster_messages (tenant_id, cluster_id, id);

-- Idempotency keys of direct triggers: the first answer, replayed for the
-- same request.
CREATE TABLE idempotency_keys (
    tenant_id UUID NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    answer JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE tenant_settings (
    tenant_id UUID NOT NULL PRIMARY KEY,
    reminder_lead_hours INTEGER NOT NULL CHECK (reminder_lead_hours >= 0),
    critical_categories JSONB NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- One reminder per scheduled event, kept from scheduling's events.
CREATE TABLE reminders (
    tenant_id UUID NOT NULL,
    event_id UUID NOT NULL,
    remind_at TIMESTAMPTZ NOT NULL,
    title TEXT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    time_zone TEXT NOT NULL,
    -- Set when a worker took it: each reminder is handed out once.
    claimed_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
-- The reminder worker's cross-tenant claim of due reminders (see below).
CREATE INDEX reminders_due ON reminders (remind_at) WHERE claimed_at IS NULL;

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
    FOREACH t IN ARRAY ARRAY['notifications', 'deliveries', 'preferences', 'unsubscribe_tokens',
        'templates', 'cluster_messages', 'idempotency_keys', 'tenant_settings', 'reminders',
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

-- Cross-tenant operator work. notifications_operator is a role the app role
-- may switch to (SET LOCAL ROLE, platform::db::TenantPool::begin_operator)
-- but does not inherit, so these policies never open other tenants' rows to
-- ordinary tenant transactions. It sees only what the queues need:
--
-- * outbox: the relay publishes every tenant's events (platform::events::relay).
-- * deliveries: the delivery workers claim due deliveries of every tenant in
--   one statement (`FOR NO KEY UPDATE SKIP LOCKED`, so several pods share the
--   queue without taking the same row) and lease them by moving
--   next_attempt_at to the end of the lease. Polling tenant by tenant instead
--   would cost one query per tenant (2,000 of them) per tick, nearly all
--   empty, and could not order the work by due time across tenants. The
--   partial index deliveries_due serves that claim; it is the documented
--   exception to "tenant_id leads every index", like outbox_unpublished.
--   Each outcome is then recorded in the tenant's own transaction.
-- * notifications, read only: a claimed delivery is handed to the worker with
--   its message (title, body, link), read in the same operator transaction.
-- * reminders: the reminder worker claims due reminders of every tenant the
--   same way (marking claimed_at, so each is handed out once), served by the
--   partial index reminders_due (the third documented exception).
--
-- No other table is granted to the operator: preferences, templates, tokens,
-- messages, keys, settings, the audit log and processed events stay
-- tenant-only.
CREATE POLICY operator_all ON outbox TO notifications_operator USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE, DELETE ON outbox TO notifications_operator;

CREATE POLICY operator_all ON deliveries TO notifications_operator USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE ON deliveries TO notifications_operator;

CREATE POLICY operator_read ON notifications FOR SELECT TO notifications_operator USING (true);
GRANT SELECT ON notifications TO notifications_operator;

CREATE POLICY operator_all ON reminders TO notifications_operator USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE ON reminders TO notifications_operator;
