"""
test_delivery_plans.py - the statements the delivery worker keeps prepared
cannot get a plan that scans a whole table.

A prepared statement may be given one generic plan, made whenever
PostgreSQL sees fit, perhaps while the tables are empty, and kept while they
grow.  Once, the batched UPDATE of deliveries was prepared that way and its
cached plan (a hash join over a sequential scan of deliveries) scanned the
whole table on every batch.  The worker now prepares only statements that
touch events, deliveries and attempts through the conflict check of an
insert; everything that reads or updates them by a join or a scan is
planned for each batch.

The worker logs each statement it prepares (debug level).  This test runs
hookd through first attempts, retries and the scanner, takes those
statements from the log, prepares each in its own session with
plan_cache_mode = force_generic_plan while the tables are empty and
analyzed (the plan a cache made at the worst moment), and again once
deliveries and events hold many rows, and requires no scan and no join on
the three tables in either plan.
"""

import json
import re

import requests

import harness

SCAN = re.compile(r"(Scan|Join|Nested Loop)\b.*\bon (events|deliveries|attempts)\w*\b"
                  r"|Hash Join|Merge Join")


def prepared_statements(h):
    """The statements the delivery worker prepared, from its log."""
    out = []
    for line in h.log_text().splitlines():
        if not line.startswith("{"):
            continue
        msg = json.loads(line).get("msg", "")
        m = re.match(r"postgres: delivery statement (hk\d+) prepared: (.*)$", msg, re.S)
        if m and m.group(2) not in out:
            out.append(m.group(2))
    return out


def prepare(cur, name, sql):
    """PREPARE name AS sql; the number of its parameters."""
    cur.execute("PREPARE %s AS %s" % (name, sql))
    cur.execute("SELECT cardinality(parameter_types) FROM pg_prepared_statements "
                "WHERE name = %s", (name,))
    return cur.fetchone()[0] or 0


def plan(cur, name, n):
    """EXPLAIN of the plan EXECUTE name would run (generic: see below)."""
    cur.execute("EXPLAIN EXECUTE %s%s" % (name, "(%s)" % ",".join(["NULL"] * n) if n else ""))
    return "\n".join(r[0] for r in cur.fetchall())


def test_prepared_statements_never_scan(hookd_factory, pg_server, sinks):
    ok, bad = sinks(), sinks()
    bad.answer(500)
    dests = ",\n".join(
        '{ name = "%s"; url = "%s"; sources = ["test"]; }' % (n, s.url)
        for n, s in (("ok", ok), ("bad", bad)))
    h = hookd_factory(delivery={"retry_schedule": [1, 1], "jitter": 0.0, "timeout_ms": 2000},
                      destinations=dests, log_level="debug", log_format="json")
    for i in range(20):
        r = requests.post(h.url + "/webhooks/test", data=b'{"n":%d}' % i,
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 202, r.text
    # "bad" fails: its attempts are retried, and after five in a row its
    # breaker holds the rest back (rescheduled); the scanner runs meanwhile.
    harness.wait_for(lambda: len(ok.got()) >= 20 and len(bad.got()) >= 5 and pg_server.rows(
        "SELECT count(*) FROM deliveries WHERE destination = 'bad' AND status = 'retrying'"
        " AND updated_at > created_at")[0][0] == 20, 30, what="attempts, retries, held back")
    stmts = prepared_statements(h)
    assert any("INSERT INTO events" in s for s in stmts), stmts

    c = pg_server.connect()
    try:
        c.autocommit = True
        cur = c.cursor()
        cur.execute("TRUNCATE events, deliveries, attempts")
        cur.execute("ANALYZE events, deliveries, attempts")
        # Every prepared statement gets its generic plan; no partition is
        # left out of it at run time, so that none hides a scan.
        cur.execute("SET plan_cache_mode = force_generic_plan")
        cur.execute("SET enable_partition_pruning = off")
        names = {}
        for i, sql in enumerate(stmts):
            names["s%d" % i] = (sql, prepare(cur, "s%d" % i, sql))
        for name, (sql, n) in names.items():
            p = plan(cur, name, n)
            assert not SCAN.search(p), "made while empty:\n%s\n\n%s" % (sql, p)
        # The plans cached while empty, now that the tables are large.
        cur.execute(
            "INSERT INTO events (id, source, received_at, body)"
            " SELECT gen_random_uuid(), 'test', now() - i * interval '1 ms', '\\x00'"
            " FROM generate_series(1, 20000) i")
        cur.execute(
            "INSERT INTO deliveries (event_id, destination, received_at, status,"
            " next_attempt_at) SELECT id, 'ok', received_at, 'retrying', now()"
            " FROM events")
        for name, (sql, n) in names.items():
            p = plan(cur, name, n)
            assert not SCAN.search(p), "cached, tables large:\n%s\n\n%s" % (sql, p)
    finally:
        c.close()
