-- Test fixture: the outbox every service database has (see the membership
-- migration). UUIDs are BLOBs, times TEXT, payloads JSON TEXT.
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

CREATE TABLE processed_events (
    tenant_id BLOB NOT NULL,
    consumer TEXT NOT NULL,
    event_id BLOB NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, consumer, event_id)
);
