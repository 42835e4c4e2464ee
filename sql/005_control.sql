-- 005_control.sql - what the control commands (hookctl destinations,
-- disable, enable, replay, and the same on the admin port) need.
--
-- destination_state says who disabled a destination: 'gone' (it answered
-- 410) or 'operator' (hookctl disable, POST /destinations/D/disable).
-- Either way its deliveries are held (pending or retrying, due) until it
-- is enabled again; nothing is dropped to dead for it.
ALTER TABLE destination_state ADD COLUMN IF NOT EXISTS disabled_by text;

-- The event type, which bulk replay filters on (--type).  Routing fills
-- it in; added here too so that this migration stands on its own.
ALTER TABLE events ADD COLUMN IF NOT EXISTS event_type text;

-- hookctl destinations reads, per destination, its newest success and its
-- newest failure; replay --status dead|failed selects by destination and
-- time.  Both indexes are partial: a delivery enters the first once, when
-- it succeeds, and the second only while it has failed, so the delivery
-- path pays one index entry per delivery.  Created on the partitioned
-- parents, they exist on every partition, present and future, and a
-- "newest per destination" read takes one entry from each partition.
CREATE INDEX IF NOT EXISTS deliveries_dest_succeeded
    ON deliveries (destination, updated_at) WHERE status = 'succeeded';
CREATE INDEX IF NOT EXISTS deliveries_dest_failed
    ON deliveries (destination, updated_at)
    WHERE status IN ('retrying', 'dead');

-- Retention keeps a day while a delivery of it is pending or retrying (a
-- retry needs its event).  A disabled destination's deliveries are held,
-- not on their way, so they do not keep their day: once it is past
-- postgres.retention_days it is dropped with them, as the rest of that
-- day's deliveries would be.  The two functions of 003_partitions.sql
-- that decide it are replaced by the same ones with that exception.
CREATE OR REPLACE FUNCTION hookd_day_pending(d date) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %I WHERE status IN'
                   ' (''pending'', ''retrying'') AND destination <> ALL'
                   ' (SELECT destination FROM destination_state'
                   '  WHERE disabled)',
                   'deliveries_' || to_char(d, 'YYYYMMDD')) INTO n;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION hookd_rows_delete(suffix text, before timestamptz,
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
            ' (''pending'', ''retrying'') AND destination <> ALL'
            ' (SELECT destination FROM destination_state WHERE disabled)))',
            CASE t WHEN 'events' THEN 'id' ELSE 'event_id' END,
            'deliveries_' || suffix);
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
