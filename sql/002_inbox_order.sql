-- 002_inbox_order.sql - the order in which the delivery pool empties the
-- inbox.
--
-- After a Redis outage the inbox can hold every event of the outage; the
-- mover takes them oldest first, a batch at a time (ORDER BY received_at, id
-- ... FOR UPDATE SKIP LOCKED), and without this index every batch would sort
-- the whole table.
CREATE INDEX inbox_received ON inbox (received_at, id);
