-- 003_partitions.sql - events, deliveries and attempts partitioned by day,
-- so that retention drops whole days instead of deleting rows.
--
-- Layout.  Each of the three tables is partitioned by RANGE (received_at),
-- the event's arrival time, one partition per UTC day, named
-- <table>_YYYYMMDD, plus <table>_default for any row whose day has no
-- partition (an event replayed from far in the past, or a clock far ahead),
-- so that an insert never fails for want of a partition.  deliveries and
-- attempts carry their event's received_at, so the three partitions of one
-- day hold exactly one day of events with all their deliveries and attempts
-- and are dropped together.
--
-- Keys.  A partitioned table's unique keys must contain the partition key:
--   events     (id, received_at)
--   deliveries (event_id, destination, received_at)
--   attempts   (event_id, destination, attempt, received_at)
-- An event's received_at never changes, so these are as unique as the old
-- keys were.
--
-- No foreign keys any more.  deliveries -> events and attempts -> deliveries
-- were ON DELETE CASCADE; dropping a day's three partitions together now
-- does that job, and the checks cost about 17% of PostgreSQL's time in the
-- delivery profile (one index probe per inserted row).  hookd writes an
-- event and its deliveries in one statement and an attempt only for a
-- delivery it holds, so the references hold by construction.
--
-- Retention (hookd_retention) and purge (hookd_purge) are functions here, so
-- that hookd and hookctl each make one call.  Both run under one advisory
-- lock (HOOKD_MAINT_LOCK below), so one process of the whole deployment
-- works at a time.
--
-- Existing rows are kept: the old tables are renamed, every row is copied
-- into the new ones (deliveries and attempts take received_at from their
-- event), then the old tables are dropped, all in the migration's
-- transaction.

ALTER TABLE attempts RENAME TO attempts_old;
ALTER TABLE deliveries RENAME TO deliveries_old;
ALTER TABLE events RENAME TO events_old;

CREATE TABLE events (
    id              uuid        NOT NULL,
    source          text        NOT NULL,
    idempotency_key text,
    received_at     timestamptz NOT NULL,
    content_type    text        NOT NULL DEFAULT '',
    headers         jsonb       NOT NULL DEFAULT '{}',
    body            bytea       NOT NULL
) PARTITION BY RANGE (received_at);

CREATE TABLE deliveries (
    event_id        uuid        NOT NULL,
    destination     text        NOT NULL,
    received_at     timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'succeeded', 'retrying', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (received_at);

CREATE TABLE attempts (
    event_id        uuid        NOT NULL,
    destination     text        NOT NULL,
    attempt         integer     NOT NULL,
    received_at     timestamptz NOT NULL,
    started_at      timestamptz NOT NULL,
    duration_us     bigint      NOT NULL,
    status_code     integer,
    error           text,
    response        text
) PARTITION BY RANGE (received_at);

CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE TABLE deliveries_default PARTITION OF deliveries DEFAULT;
CREATE TABLE attempts_default PARTITION OF attempts DEFAULT;

-- hookd_day_bounds - the [lo, hi) of UTC day d.
CREATE FUNCTION hookd_day_bounds(d date, OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE sql IMMUTABLE AS $$
    SELECT d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC'
$$;

-- hookd_partitions - the day partitions of the three tables: one row per
-- day, with the bytes of its three partitions (indexes and TOAST included).
CREATE FUNCTION hookd_partitions()
RETURNS TABLE (day date, bytes bigint)
LANGUAGE sql STABLE AS $$
    SELECT to_date(right(c.relname, 8), 'YYYYMMDD') AS day,
           sum(pg_total_relation_size(c.oid))::bigint AS bytes
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent IN ('events'::regclass, 'deliveries'::regclass,
                          'attempts'::regclass)
      AND c.relname ~ '_[0-9]{8}$'
    GROUP BY 1 ORDER BY 1
$$;

-- hookd_partition_add - the three partitions of UTC day d, unless they
-- exist.  A partition is made as a plain table, given the rows of its day
-- that sit in the DEFAULT partition, then attached: creating it directly
-- (PARTITION OF) would fail when DEFAULT holds rows of that day, and
-- ATTACH takes a weaker lock on the parent (SHARE UPDATE EXCLUSIVE), so
-- inserts go on meanwhile.  true when it made them.
CREATE FUNCTION hookd_partition_add(d date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    b record;
    t text;
    p text;
BEGIN
    SELECT * INTO b FROM hookd_day_bounds(d);
    IF to_regclass('events_' || to_char(d, 'YYYYMMDD')) IS NOT NULL THEN
        RETURN false;
    END IF;
    FOREACH t IN ARRAY ARRAY['events', 'deliveries', 'attempts'] LOOP
        p := t || '_' || to_char(d, 'YYYYMMDD');
        IF to_regclass(p) IS NOT NULL THEN
            CONTINUE;
        END IF;
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS'
                       ' INCLUDING CONSTRAINTS)', p, t);
        EXECUTE format('WITH m AS (DELETE FROM %I WHERE received_at >= $1'
                       ' AND received_at < $2 RETURNING *)'
                       ' INSERT INTO %I SELECT * FROM m', t || '_default', p)
            USING b.lo, b.hi;
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I'
                       ' FOR VALUES FROM (%L) TO (%L)', t, p, b.lo, b.hi);
    END LOOP;
    RETURN true;
END $$;

-- hookd_partitions_ensure - partitions for today (UTC) and days_ahead days
-- after it; how many days were added.  The caller holds the maintenance
-- lock (hookd_retention) or is the migration.
CREATE FUNCTION hookd_partitions_ensure(days_ahead integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    today date := (now() AT TIME ZONE 'UTC')::date;
    n integer := 0;
BEGIN
    FOR i IN 0 .. days_ahead LOOP
        IF hookd_partition_add(today + i) THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;

-- hookd_drop_day - drop the three partitions of day d; their bytes.
CREATE FUNCTION hookd_drop_day(d date) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    t text;
    p text;
    bytes bigint := 0;
BEGIN
    FOREACH t IN ARRAY ARRAY['attempts', 'deliveries', 'events'] LOOP
        p := t || '_' || to_char(d, 'YYYYMMDD');
        IF to_regclass(p) IS NOT NULL THEN
            bytes := bytes + pg_total_relation_size(p::regclass);
            EXECUTE format('DROP TABLE %I', p);
        END IF;
    END LOOP;
    RETURN bytes;
END $$;

-- hookd_day_rows - exact row counts of day d's partitions.
CREATE FUNCTION hookd_day_rows(d date, OUT events bigint,
    OUT deliveries bigint, OUT attempts bigint)
LANGUAGE plpgsql AS $$
DECLARE
    s text := to_char(d, 'YYYYMMDD');
BEGIN
    EXECUTE format('SELECT count(*) FROM %I', 'events_' || s) INTO events;
    EXECUTE format('SELECT count(*) FROM %I', 'deliveries_' || s) INTO deliveries;
    EXECUTE format('SELECT count(*) FROM %I', 'attempts_' || s) INTO attempts;
END $$;

-- hookd_day_pending - deliveries of day d still pending or retrying
-- (counted through the partial index deliveries_due of its partition).
CREATE FUNCTION hookd_day_pending(d date) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %I WHERE status IN'
                   ' (''pending'', ''retrying'')',
                   'deliveries_' || to_char(d, 'YYYYMMDD')) INTO n;
    RETURN n;
END $$;

-- hookd_storage_days - for hookctl storage: every day partition, its
-- bytes, when retention drops it (its day's end + retention_days; the run
-- after that moment does it), and, once that moment has passed, the
-- deliveries that keep it (pending or retrying).
CREATE FUNCTION hookd_storage_days(retention_days integer)
RETURNS TABLE (day date, bytes bigint, drop_at timestamptz, pending bigint)
LANGUAGE sql STABLE AS $$
    SELECT x.day, x.bytes, x.drop_at,
           CASE WHEN x.drop_at <= now() THEN hookd_day_pending(x.day) ELSE 0 END
    FROM (SELECT h.day, h.bytes, (hookd_day_bounds(h.day)).hi
                 + make_interval(days => retention_days) AS drop_at
          FROM hookd_partitions() h) x
    ORDER BY x.day
$$;

-- hookd_rows_delete - delete (or, dry_run, count) the rows received before
-- "before" from the three partitions <table>_<suffix> ("default", or a day
-- that straddles "before").  spare: keep every row of an event that still
-- has a delivery pending or retrying (retention; purge spares nothing).
-- bytes are the deleted rows' own sizes: a DELETE frees space for reuse
-- inside the table, not on disk.
CREATE FUNCTION hookd_rows_delete(suffix text, before timestamptz,
    spare boolean, dry_run boolean, OUT events bigint, OUT deliveries bigint,
    OUT attempts bigint, OUT bytes bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t text;
    n bigint;
    sz bigint;
    cond text;
BEGIN
    events := 0; deliveries := 0; attempts := 0; bytes := 0;
    FOREACH t IN ARRAY ARRAY['attempts', 'events', 'deliveries'] LOOP
        cond := format('t.received_at < $1 AND NOT ($2 AND t.%I IN'
            ' (SELECT event_id FROM %I WHERE status IN'
            ' (''pending'', ''retrying'')))',
            CASE t WHEN 'events' THEN 'id' ELSE 'event_id' END,
            'deliveries_' || suffix);
        -- Measured by the same SELECT either way, so that a dry run
        -- prints exactly what the purge then does (a row's size as DELETE
        -- RETURNING sees it can differ by a few bytes).
        EXECUTE format('SELECT count(*), coalesce(sum(pg_column_size(t.*)),'
            ' 0) FROM %I t WHERE ', t || '_' || suffix) || cond
            INTO n, sz USING before, spare;
        IF NOT dry_run AND n > 0 THEN
            EXECUTE format('DELETE FROM %I t WHERE ', t || '_' || suffix)
                || cond USING before, spare;
        END IF;
        bytes := bytes + sz;
        CASE t
            WHEN 'events' THEN events := n;
            WHEN 'deliveries' THEN deliveries := n;
            ELSE attempts := n;
        END CASE;
    END LOOP;
END $$;

-- hookd_retention - the periodic maintenance every delivery worker calls:
-- partitions ahead (days_ahead), then drop every day partition whose whole
-- day is older than retention_days.  One row per thing done:
--   busy     another process holds the maintenance lock: nothing done
--   created  partitions added for day (rows: none)
--   dropped  day's partitions dropped (rows estimated from statistics: an
--            exact count would read a whole day just before dropping it)
--   kept     day is expired but its partition still holds deliveries
--            pending or retrying (deliveries = how many); a retry needs its
--            event, so the day is dropped on a later run, once they end
--   deleted  expired rows deleted from the DEFAULT partitions (exact)
-- The lock is tried, never waited for: with N workers on M hosts, one does
-- the work and the others go on delivering.  lock_timeout bounds how long
-- a DROP may wait for the parent's lock (and so how long inserts queue
-- behind it); on timeout the run fails and the next one tries again.
CREATE FUNCTION hookd_retention(retention_days integer, days_ahead integer DEFAULT 3)
RETURNS TABLE (action text, day date, events bigint, deliveries bigint,
               attempts bigint, bytes bigint)
LANGUAGE plpgsql SET lock_timeout = '2s' AS $$
DECLARE
    cutoff timestamptz := now() - make_interval(days => retention_days);
    p record;
    s text;
    n bigint;
    added integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(727367013) THEN
        RETURN QUERY SELECT 'busy'::text, NULL::date, 0::bigint, 0::bigint,
            0::bigint, 0::bigint;
        RETURN;
    END IF;
    added := hookd_partitions_ensure(days_ahead);
    IF added > 0 THEN
        RETURN QUERY SELECT 'created'::text, (now() AT TIME ZONE 'UTC')::date
            + days_ahead, added::bigint, 0::bigint, 0::bigint, 0::bigint;
    END IF;
    FOR p IN SELECT h.day, h.bytes FROM hookd_partitions() h
             WHERE (hookd_day_bounds(h.day)).hi <= cutoff ORDER BY h.day LOOP
        s := to_char(p.day, 'YYYYMMDD');
        n := hookd_day_pending(p.day);
        IF n > 0 THEN
            RETURN QUERY SELECT 'kept'::text, p.day, 0::bigint, n, 0::bigint,
                p.bytes;
            CONTINUE;
        END IF;
        RETURN QUERY SELECT 'dropped'::text, p.day,
            (SELECT greatest(reltuples, 0)::bigint FROM pg_class
              WHERE relname = 'events_' || s),
            (SELECT greatest(reltuples, 0)::bigint FROM pg_class
              WHERE relname = 'deliveries_' || s),
            (SELECT greatest(reltuples, 0)::bigint FROM pg_class
              WHERE relname = 'attempts_' || s),
            hookd_drop_day(p.day);
    END LOOP;
    -- DEFAULT holds stray days: delete their expired rows, but never those
    -- a pending or retrying delivery still needs.
    RETURN QUERY SELECT 'deleted'::text, NULL::date, r.* FROM
        hookd_rows_delete('default', cutoff, true, false) r WHERE r.events
        + r.deliveries + r.attempts > 0;
END $$;

-- hookd_purge - everything received before "before" goes, pending or not:
-- day partitions wholly before it are dropped, and rows before it are
-- deleted from the day that straddles it and from DEFAULT.  dry_run counts
-- the same things and changes nothing.  Rows are exact counts; bytes are
-- the dropped partitions' sizes plus the deleted rows' sizes.  It waits for
-- the maintenance lock, so it never runs beside hookd_retention.
CREATE FUNCTION hookd_purge(before timestamptz, dry_run boolean)
RETURNS TABLE (events bigint, deliveries bigint, attempts bigint, bytes bigint)
LANGUAGE plpgsql AS $$
DECLARE
    ev bigint := 0;
    dl bigint := 0;
    at bigint := 0;
    sz bigint := 0;
    p record;
    b record;
    r record;
BEGIN
    PERFORM pg_advisory_xact_lock(727367013);
    FOR p IN SELECT h.day, h.bytes FROM hookd_partitions() h ORDER BY h.day LOOP
        SELECT * INTO b FROM hookd_day_bounds(p.day);
        IF b.hi <= before THEN
            SELECT * INTO r FROM hookd_day_rows(p.day);
            ev := ev + r.events; dl := dl + r.deliveries; at := at + r.attempts;
            IF dry_run THEN
                sz := sz + p.bytes;
            ELSE
                sz := sz + hookd_drop_day(p.day);
            END IF;
        ELSIF b.lo < before THEN
            SELECT * INTO r FROM hookd_rows_delete(to_char(p.day, 'YYYYMMDD'),
                before, false, dry_run);
            ev := ev + r.events; dl := dl + r.deliveries; at := at + r.attempts;
            sz := sz + r.bytes;
        END IF;
    END LOOP;
    SELECT * INTO r FROM hookd_rows_delete('default', before, false, dry_run);
    RETURN QUERY SELECT ev + r.events, dl + r.deliveries, at + r.attempts,
        sz + r.bytes;
END $$;

-- The rows of the old tables: partitions for every day they cover, then
-- the copy.  Keys and indexes come after the copy (one sort per index
-- instead of one insert per row), on the parents, so every partition has
-- them and every partition attached later gets them.
SELECT hookd_partition_add(d) FROM (SELECT DISTINCT
    (received_at AT TIME ZONE 'UTC')::date AS d FROM events_old) days;
SELECT hookd_partitions_ensure(3);

INSERT INTO events (id, source, idempotency_key, received_at, content_type,
    headers, body)
SELECT id, source, idempotency_key, received_at, content_type, headers, body
FROM events_old;

INSERT INTO deliveries (event_id, destination, received_at, status, attempts,
    next_attempt_at, last_status, last_error, created_at, updated_at)
SELECT d.event_id, d.destination, e.received_at, d.status, d.attempts,
    d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.updated_at
FROM deliveries_old d JOIN events_old e ON e.id = d.event_id;

INSERT INTO attempts (event_id, destination, attempt, received_at, started_at,
    duration_us, status_code, error, response)
SELECT a.event_id, a.destination, a.attempt, e.received_at, a.started_at,
    a.duration_us, a.status_code, a.error, a.response
FROM attempts_old a JOIN events_old e ON e.id = a.event_id;

DROP TABLE attempts_old;
DROP TABLE deliveries_old;
DROP TABLE events_old;

ALTER TABLE events ADD PRIMARY KEY (id, received_at);
ALTER TABLE deliveries ADD PRIMARY KEY (event_id, destination, received_at);
ALTER TABLE attempts ADD PRIMARY KEY (event_id, destination, attempt, received_at);
-- Not unique: see 001_init.sql.
CREATE INDEX events_source_key ON events (source, idempotency_key);
CREATE INDEX events_received ON events (received_at);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX deliveries_dead ON deliveries (updated_at) WHERE status = 'dead';
