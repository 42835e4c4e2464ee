-- 001_init.sql - hookd's tables.
--
-- Events and their deliveries, every delivery attempt, the inbox that takes
-- events while Redis is unavailable, and per-destination state.  Every insert
-- hookd makes is idempotent (ON CONFLICT), so a statement repeated after a
-- lost reply changes nothing.

CREATE TABLE events (
    id              uuid        PRIMARY KEY,
    source          text        NOT NULL,
    idempotency_key text,
    received_at     timestamptz NOT NULL,
    content_type    text        NOT NULL DEFAULT '',
    headers         jsonb       NOT NULL DEFAULT '{}',
    body            bytea       NOT NULL
);
-- Not unique: deduplication holds within the source's dedup window (Redis,
-- or the inbox while Redis is down); a key sent again after the window is a
-- new event and must not be dropped here.
CREATE INDEX events_source_key ON events (source, idempotency_key);
CREATE INDEX events_received ON events (received_at);

CREATE TABLE deliveries (
    event_id        uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    destination     text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'succeeded', 'retrying', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, destination)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_dead ON deliveries (updated_at) WHERE status = 'dead';

CREATE TABLE attempts (
    event_id        uuid        NOT NULL,
    destination     text        NOT NULL,
    attempt         integer     NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_us     bigint      NOT NULL,
    status_code     integer,
    error           text,
    response        text,
    PRIMARY KEY (event_id, destination, attempt),
    FOREIGN KEY (event_id, destination)
        REFERENCES deliveries (event_id, destination) ON DELETE CASCADE
);

-- The Redis-down fallback: one row per event accepted while Redis could not
-- take it, moved into the stream (same id) once Redis is back.
CREATE TABLE inbox (
    id              uuid        PRIMARY KEY,
    source          text        NOT NULL,
    idempotency_key text,
    received_at     timestamptz NOT NULL,
    content_type    text        NOT NULL DEFAULT '',
    headers         jsonb       NOT NULL DEFAULT '{}',
    body            bytea       NOT NULL,
    dedup_window_s  integer     NOT NULL DEFAULT 86400,
    UNIQUE (source, idempotency_key)
);

CREATE TABLE destination_state (
    destination     text        PRIMARY KEY,
    disabled        boolean     NOT NULL DEFAULT false,
    disabled_at     timestamptz,
    reason          text
);
