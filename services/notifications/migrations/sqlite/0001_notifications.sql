-- Notifications schema for the embedded mode (SQLite): the same tables, keys
-- and indexes as migrations/postgres, without row-level security (the store's
-- WHERE tenant_id is the wall here; the contract suite proves it) and without
-- operator roles (one process does all the work). UUIDs are BLOBs, booleans
-- INTEGERs, JSON TEXT, times of day TEXT ("07:30:00"), and instants RFC 3339
-- TEXT as sqlx writes them ("2026-10-14T15:00:00+00:00"). The store writes
-- every instant in whole seconds, so that text is fixed-width and compares in
-- time order: the workers' claims compare deliveries.next_attempt_at and
-- reminders.remind_at with a bound instant as text.

CREATE TABLE notifications (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    person_id BLOB NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('invitations', 'changes', 'reminders', 'scoring',
        'compliance', 'newsletters', 'account')),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL,
    critical INTEGER NOT NULL,
    source_event_id BLOB,
    created_at TEXT NOT NULL,
    read_at TEXT,
    archived_at TEXT,
    -- See the PostgreSQL twin: the e-mail rendered when queued, or none.
    email_subject TEXT,
    email_text TEXT,
    email_html TEXT,
    PRIMARY KEY (tenant_id, id),
    CHECK ((email_subject IS NULL) = (email_text IS NULL)
        AND (email_text IS NULL) = (email_html IS NULL))
);
CREATE INDEX notifications_by_person ON notifications (tenant_id, person_id, id);
CREATE INDEX notifications_unread ON notifications (tenant_id, person_id, id)
    WHERE read_at IS NULL;
CREATE UNIQUE INDEX notifications_by_source ON notifications (tenant_id, person_id, source_event_id)
    WHERE source_event_id IS NOT NULL;

CREATE TABLE deliveries (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    notification_id BLOB NOT NULL,
    person_id BLOB NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('in_app', 'email')),
    address TEXT,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'held', 'skipped')),
    attempts INTEGER NOT NULL CHECK (attempts >= 0),
    last_error TEXT,
    next_attempt_at TEXT NOT NULL,
    digest INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, notification_id) REFERENCES notifications (tenant_id, id)
);
CREATE INDEX deliveries_by_notification ON deliveries (tenant_id, notification_id, id);
CREATE INDEX deliveries_by_person ON deliveries (tenant_id, person_id, id);
CREATE INDEX deliveries_by_status ON deliveries (tenant_id, status, id);
-- The delivery worker's cross-tenant claim of due work (as on PostgreSQL).
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('queued', 'held');

CREATE TABLE preferences (
    tenant_id BLOB NOT NULL,
    person_id BLOB NOT NULL,
    entries TEXT NOT NULL,
    digest_time TEXT NOT NULL,
    digest_weekday INTEGER NOT NULL CHECK (digest_weekday BETWEEN 1 AND 7),
    time_zone TEXT,
    quiet_hours_start TEXT,
    quiet_hours_end TEXT,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, person_id),
    CHECK ((quiet_hours_start IS NULL) = (quiet_hours_end IS NULL))
);

CREATE TABLE unsubscribe_tokens (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    person_id BLOB NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('invitations', 'changes', 'reminders', 'scoring',
        'compliance', 'newsletters', 'account')),
    secret_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX unsubscribe_tokens_by_person ON unsubscribe_tokens (tenant_id, person_id, category);

CREATE TABLE templates (
    tenant_id BLOB NOT NULL,
    event_type TEXT NOT NULL,
    locale TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('invitations', 'changes', 'reminders', 'scoring',
        'compliance', 'newsletters', 'account')),
    subject TEXT NOT NULL,
    text TEXT NOT NULL,
    html TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_type, locale)
);

CREATE TABLE cluster_messages (
    tenant_id BLOB NOT NULL,
    id BLOB NOT NULL,
    cluster_id BLOB NOT NULL,
    role TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_by TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    recipients INTEGER NOT NULL CHECK (recipients >= 0),
    unsubscribed INTEGER NOT NULL CHECK (unsubscribed >= 0),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX cluster_messages_by_cluster ON cluster_messages (tenant_id, cluster_id, id);

CREATE TABLE idempotency_keys (
    tenant_id BLOB NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    answer TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE tenant_settings (
    tenant_id BLOB NOT NULL PRIMARY KEY,
    reminder_lead_hours INTEGER NOT NULL CHECK (reminder_lead_hours >= 0),
    critical_categories TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE reminders (
    tenant_id BLOB NOT NULL,
    event_id BLOB NOT NULL,
    remind_at TEXT NOT NULL,
    title TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    claimed_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);
-- The reminder worker's cross-tenant claim of due reminders (as on PostgreSQL).
CREATE INDEX reminders_due ON reminders (remind_at) WHERE claimed_at IS NULL;

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
