-- 004_routing.sql - the event type travels with the event.
--
-- A source says where its provider puts the event type (event_type =
-- "header:X-GitHub-Event", "json:/type", ...); the ingest worker reads it
-- and it is kept with the event, in the inbox while Redis is down and in
-- the events row, for "hookctl events --type" and replays by type.  NULL:
-- the source has no event type, or the event did not carry one.
ALTER TABLE events ADD COLUMN IF NOT EXISTS event_type text;
ALTER TABLE inbox ADD COLUMN IF NOT EXISTS event_type text;
