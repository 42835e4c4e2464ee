-- 006_control.sql - what the control commands (hookctl destinations,
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
