"""
test_retention.py - storage that does not grow forever (sql/003_partitions.sql,
worker/delivery/dlretain.c, hookctl purge and storage).

- Retention runs by itself: events spread over several days (old received_at
  values written through SQL, into the DEFAULT partition, then moved into
  their day partitions by hookd_partition_add), a delivery worker started:
  exactly the expired days are gone with their deliveries and attempts, the
  rest is intact, the tables are smaller, and an expired day that still
  holds a retrying delivery is kept (and said so in the log).
- hookctl purge --before now after 1 000 delivered events: --dry-run changes
  nothing and prints the same counts as the purge itself; afterwards nothing
  received before that time is left, and hookd accepts and delivers.
- The migration: a database made by migrations 001-002 with rows in it, then
  hookd: every row is still there (received_at filled from its event) and the
  retrying delivery is delivered.
"""

import json
import os
import secrets
import threading
import time

import pytest
import requests

import harness
from sinkutil import Sink

SINK_DEST = '{ name = "crm"; url = "%s"; sources = ["test"]; }'
DEAD_DEST = '{ name = "crm"; url = "http://127.0.0.1:9/hooks"; sources = ["test"]; }'


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()


def q(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def run_retention(conn, days=7):
    """hookd_retention(days), called beside a running hookd: a DROP of a
    day's partitions can meet a worker's statement that locked the tables
    in the other order, and PostgreSQL then aborts one of the two as a
    deadlock (the workers' own periodic run simply runs again later).
    The test's call is tried again, a few times."""
    import psycopg2.errors
    for tries in range(5):
        try:
            return q(conn, "SELECT action FROM hookd_retention(%s)", days)
        except psycopg2.errors.DeadlockDetected:
            if not conn.autocommit:
                conn.rollback()
            if tries == 4:
                raise
            time.sleep(0.2)


def table_bytes(conn):
    return q(conn, "SELECT sum(pg_total_relation_size(relid)) FROM ("
             " SELECT relid FROM pg_partition_tree('events')"
             " UNION ALL SELECT relid FROM pg_partition_tree('deliveries')"
             " UNION ALL SELECT relid FROM pg_partition_tree('attempts')) t")[0][0]


def add(conn, days_ago, status, *, nattempts=1, next_in="NULL", body_kb=64):
    """One event received days_ago days ago, its crm delivery in status, and
    nattempts attempts; its id."""
    eid = q(conn, "SELECT gen_random_uuid()")[0][0]
    at = "now() - make_interval(days => %d)" % days_ago
    q(conn, "INSERT INTO events (id, source, received_at, body) VALUES"
         " (%%s, 'test', %s, convert_to(repeat(md5(random()::text), %%s), 'UTF8'))" % at,
      eid, body_kb * 32)
    q(conn, "INSERT INTO deliveries (event_id, destination, received_at, status,"
         " attempts, next_attempt_at) SELECT id, 'crm', received_at, %%s, %%s, %s"
         " FROM events WHERE id = %%s" % next_in, status, nattempts, eid)
    for n in range(1, nattempts + 1):
        q(conn, "INSERT INTO attempts (event_id, destination, attempt, received_at,"
             " started_at, duration_us, status_code) SELECT id, 'crm', %s, received_at,"
             " received_at, 1000, 500 FROM events WHERE id = %s", n, eid)
    return eid


def counts(conn, ids):
    return {t: q(conn, "SELECT count(*) FROM %s WHERE %s = ANY(%%s::uuid[])"
                 % (t, "id" if t == "events" else "event_id"), ids)[0][0]
            for t in ("events", "deliveries", "attempts")}


def test_retention_drops_expired_days_and_keeps_retrying(hookd_factory, pg_server):
    # A hookd without delivery workers applies the migrations and touches nothing.
    hookd_factory(destinations=DEAD_DEST, delivery_workers=0)
    conn = pg_server.connect()
    try:
        old = [add(conn, 20, "succeeded", nattempts=2), add(conn, 9, "dead", nattempts=3)]
        retrying = add(conn, 15, "retrying", nattempts=2, next_in="now() + interval '1 day'")
        young = [add(conn, 3, "succeeded"), add(conn, 0, "succeeded")]
        # Rows of days without a partition went to DEFAULT; give them their days.
        # (One call a statement: a partition cannot be attached while the
        # same session scans its parent.)
        for (day,) in q(conn, "SELECT DISTINCT (received_at AT TIME ZONE 'UTC')::date"
                              " FROM events"):
            q(conn, "SELECT hookd_partition_add(%s)", day)
        assert q(conn, "SELECT count(*) FROM events_default")[0][0] == 0
        assert q(conn, "SELECT count(*) FROM deliveries_default")[0][0] == 0
        before = table_bytes(conn)
        assert counts(conn, old) == {"events": 2, "deliveries": 2, "attempts": 5}

        # A delivery worker runs retention at start.
        h = hookd_factory(destinations=DEAD_DEST, delivery_workers=1)
        harness.wait_for(lambda: counts(conn, old)["events"] == 0, 20,
                         what="the expired days dropped")
        assert counts(conn, old) == {"events": 0, "deliveries": 0, "attempts": 0}
        assert counts(conn, young) == {"events": 2, "deliveries": 2, "attempts": 2}
        assert counts(conn, [retrying]) == {"events": 1, "deliveries": 1, "attempts": 2}
        assert q(conn, "SELECT status FROM deliveries WHERE event_id = %s",
                 retrying) == [("retrying",)]
        assert table_bytes(conn) < before
        harness.wait_for(lambda: "still pending or retrying" in h.log_text(), 5,
                         what="the kept day in the log")
        assert "retention: dropped day" in h.log_text()

        # hookctl storage shows the kept day and what goes next.
        out = h.ctl("storage")
        assert out.returncode == 0, out.stderr
        assert "kept for retries:   day" in out.stdout
        doc = json.loads(h.ctl("storage", "--json").stdout)
        assert [t["table"] for t in doc["tables"]] == ["events", "deliveries",
                                                      "attempts", "inbox"]
        assert len(doc["kept_for_retries"]) == 1
        assert doc["kept_for_retries"][0]["pending"] == 1
        assert doc["next_drop"] is not None and doc["oldest_event"] is not None

        # Once the retry ends, the next run drops the day.
        q(conn, "UPDATE deliveries SET status = 'dead' WHERE event_id = %s", retrying)
        rows = run_retention(conn)
        assert ("dropped",) in rows and ("kept",) not in rows
        assert counts(conn, [retrying])["events"] == 0
        assert counts(conn, young)["events"] == 2
    finally:
        conn.close()


def test_retention_lock_lets_one_run_at_a_time(hookd_factory, pg_server):
    hookd_factory(delivery_workers=0)
    a, b = pg_server.connect(), pg_server.connect()
    try:
        a.autocommit = False
        with a.cursor() as cur:
            cur.execute("SELECT action FROM hookd_retention(7)")
            assert ("busy",) not in cur.fetchall()
            assert q(b, "SELECT action FROM hookd_retention(7)") == [("busy",)]
        a.rollback()
    finally:
        a.close()
        b.close()


def post_many(h, n, threads=8):
    ids, lock = [], threading.Lock()

    def run(k):
        s = requests.Session()
        for i in range(k):
            r = s.post(h.url + "/webhooks/test", data=b'{"n":%d}' % i,
                       headers={"Content-Type": "application/json"}, timeout=10)
            assert r.status_code == 202, r.text
            with lock:
                ids.append(r.json()["id"])
    ts = [threading.Thread(target=run, args=(n // threads,)) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(ids) == n
    return ids


def purge_numbers(out):
    """The numbers row of hookctl purge's table."""
    return out.strip().splitlines()[-1].split()


def test_purge_before_now_after_delivered_events(hookd_factory, pg_server, sink):
    h = hookd_factory(destinations=SINK_DEST % sink.url, delivery_workers=1)
    ids = post_many(h, 1000)
    conn = pg_server.connect()
    try:
        harness.wait_for(lambda: q(conn, "SELECT count(*) FROM deliveries"
                                   " WHERE status = 'succeeded'")[0][0] == 1000, 60,
                         what="1000 deliveries")
        harness.wait_for(lambda: q(conn, "SELECT count(*) FROM attempts")[0][0] == 1000, 10)
        dry = h.ctl("purge", "--before", "now", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "dry run" in dry.stdout
        assert counts(conn, ids) == {"events": 1000, "deliveries": 1000, "attempts": 1000}
        assert purge_numbers(dry.stdout)[:3] == ["1000", "1000", "1000"]

        done = h.ctl("purge", "--before", "now")
        assert done.returncode == 0, done.stderr
        assert purge_numbers(done.stdout) == purge_numbers(dry.stdout)
        assert int(purge_numbers(done.stdout)[3]) > 1000 * 8
        for t in ("events", "deliveries", "attempts"):
            assert q(conn, "SELECT count(*) FROM %s" % t)[0][0] == 0, t

        # hookd goes on accepting and delivering.
        got = len(sink.got())
        r = requests.post(h.url + "/webhooks/test", data=b'{"after":1}',
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 202
        eid = r.json()["id"]
        harness.wait_for(lambda: eid in sink.ids(), 10, what="delivery after the purge")
        assert len(sink.got()) == got + 1
        harness.wait_for(lambda: q(conn, "SELECT status FROM deliveries WHERE event_id = %s",
                                   eid) == [("succeeded",)], 10)

        # Usage errors: exit 2.
        assert h.ctl("purge").returncode == 2
        assert h.ctl("purge", "--before", "yesterday").returncode == 2
        j = json.loads(h.ctl("purge", "--before", "2000-01-01T00:00:00Z", "--json").stdout)
        assert j["events"] == 0 and j["dry_run"] is False
    finally:
        conn.close()


def _apply_001_002(pg, dbname):
    conn = pg.connect()
    try:
        q(conn, "CREATE DATABASE %s" % dbname)
    finally:
        conn.close()
    conn = pg.connect(dbname=dbname)
    for name in ("001_init", "002_inbox_order"):
        with open(os.path.join(harness.REPO, "sql", name + ".sql")) as f:
            q(conn, f.read())
    # As hookd's migrate.c records them.
    q(conn, "CREATE TABLE hookd_migrations (version integer PRIMARY KEY, name text"
            " NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
    q(conn, "INSERT INTO hookd_migrations (version, name) VALUES"
            " (1, '001_init'), (2, '002_inbox_order')")
    return conn


def test_migration_keeps_rows_of_the_old_schema(hookd_factory, pg_server, sink):
    dbname = "hookd_mig_" + secrets.token_hex(4)
    conn = _apply_001_002(pg_server, dbname)
    try:
        # Rows as the old schema held them: no received_at on deliveries and attempts.
        ev = {}
        for k, days in (("ok", 2), ("dead", 1), ("retry", 0), ("two", 0)):
            ev[k] = q(conn, "INSERT INTO events (id, source, received_at, content_type, body)"
                            " VALUES (gen_random_uuid(), 'test', now() - make_interval(days => %s),"
                            " 'application/json', %s) RETURNING id::text",
                      days, b'{"k":"%s"}' % k.encode())[0][0]
        for k, dest, st, next_at in (("ok", "crm", "succeeded", None),
                                     ("dead", "crm", "dead", None),
                                     ("retry", "crm", "retrying", "now"),
                                     ("two", "crm", "succeeded", None),
                                     ("two", "gone", "pending", "tomorrow")):
            q(conn, "INSERT INTO deliveries (event_id, destination, status, attempts,"
                    " next_attempt_at) VALUES (%s, %s, %s, 1, %s::timestamptz)",
              ev[k], dest, st, next_at)
            q(conn, "INSERT INTO attempts (event_id, destination, attempt, started_at,"
                    " duration_us, status_code) VALUES (%s, %s, 1, now(), 5, 500)",
              ev[k], dest)
        conn.close()

        url = "postgresql://hookd@127.0.0.1:%d/%s" % (pg_server.port, dbname)
        hookd_factory(postgres_url=url, destinations=SINK_DEST % sink.url,
                      delivery={"retry_schedule": [1, 1, 1], "jitter": 0.0})
        conn = pg_server.connect(dbname=dbname)
        assert q(conn, "SELECT max(version) FROM hookd_migrations")[0][0] >= 3
        assert q(conn, "SELECT count(*) FROM events")[0][0] == 4
        assert q(conn, "SELECT count(*) FROM deliveries")[0][0] == 5
        assert q(conn, "SELECT count(*) FROM attempts")[0][0] == 5
        # received_at is the event's everywhere.
        assert q(conn, "SELECT count(*) FROM deliveries d JOIN events e"
                       " ON e.id = d.event_id AND e.received_at = d.received_at")[0][0] == 5
        assert q(conn, "SELECT count(*) FROM attempts a JOIN events e"
                       " ON e.id = a.event_id AND e.received_at = a.received_at")[0][0] == 5
        assert q(conn, "SELECT relkind FROM pg_class WHERE relname = 'events'") == [("p",)]
        # The retrying delivery goes on and succeeds.
        harness.wait_for(lambda: ev["retry"] in sink.ids(), 15, what="the retry delivered")
        harness.wait_for(lambda: q(conn, "SELECT status, attempts FROM deliveries"
                                         " WHERE event_id = %s", ev["retry"])
                         == [("succeeded", 2)], 10)
        assert q(conn, "SELECT count(*) FROM attempts WHERE event_id = %s",
                 ev["retry"])[0][0] == 2
        assert sorted(q(conn, "SELECT status FROM deliveries WHERE event_id <> %s",
                        ev["retry"])) == [("dead",), ("pending",), ("succeeded",),
                                          ("succeeded",)]
    finally:
        conn.close()
