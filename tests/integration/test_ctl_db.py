"""
test_ctl_db.py - hookctl events, event, replay and dlq against a real
PostgreSQL.

hookd runs only so that its master applies the migrations; it runs with no
delivery worker, so nothing but the test touches the rows.  Events,
deliveries and attempts are inserted here with psycopg2, as the delivery pool
would write them, and the tests read what hookctl prints.
"""

import datetime
import json
import os
import re
import subprocess

import pytest

import harness

SOURCES = '{ name = "github"; }, { name = "test"; }'
# crm receives both sources, audit only "test": replay of a "test" event that
# only has a crm row must create the audit row.
DESTINATIONS = """
{ name = "crm"; url = "http://127.0.0.1:9/hooks"; sources = ["github", "test"]; },
{ name = "audit"; url = "http://127.0.0.1:9/audit"; sources = ["test"]; }
"""

T0 = datetime.datetime(2026, 11, 22, 10, 0, 0, tzinfo=datetime.timezone.utc)


uuid7 = harness.uuid7


@pytest.fixture
def gw(hookd_factory):
    return hookd_factory(sources=SOURCES, destinations=DESTINATIONS,
                         delivery_workers=0)


@pytest.fixture
def db(pg_server):
    conn = pg_server.connect()
    yield conn
    conn.close()


def add_event(db, *, source="test", at=T0, body=b'{"n":1}', key=None,
              headers=None, ctype="application/json"):
    eid = uuid7(at)
    with db.cursor() as cur:
        cur.execute("INSERT INTO events (id, source, idempotency_key, received_at,"
                    " content_type, headers, body) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (eid, source, key, at, ctype,
                     json.dumps(headers or {"content-type": ctype}), body))
    return eid


def add_delivery(db, eid, dest, status, *, attempts=0, next_at=None, last_status=None,
                 last_error=None, updated_at=None):
    with db.cursor() as cur:
        # received_at, the partition key, is the event's (sql/003_partitions.sql).
        cur.execute("INSERT INTO deliveries (event_id, destination, received_at, status,"
                    " attempts, next_attempt_at, last_status, last_error, updated_at)"
                    " SELECT %s, %s, (SELECT received_at FROM events WHERE id = %s),"
                    " %s, %s, %s, %s, %s, coalesce(%s, now())",
                    (eid, dest, eid, status, attempts, next_at, last_status, last_error,
                     updated_at))


def add_attempt(db, eid, dest, n, *, started=T0, duration_us=1500, code=None, error=None,
                response=None):
    with db.cursor() as cur:
        cur.execute("INSERT INTO attempts (event_id, destination, attempt, received_at,"
                    " started_at, duration_us, status_code, error, response)"
                    " SELECT %s, %s, %s, (SELECT received_at FROM events WHERE id = %s),"
                    " %s, %s, %s, %s, %s",
                    (eid, dest, n, eid, started, duration_us, code, error, response))


def delivery(db, eid, dest):
    with db.cursor() as cur:
        cur.execute("SELECT status, attempts, extract(epoch FROM now() - next_attempt_at)"
                    " FROM deliveries WHERE event_id = %s AND destination = %s",
                    (eid, dest))
        return cur.fetchone()


def ok(r):
    assert r.returncode == 0, "exit %d\nstdout:\n%s\nstderr:\n%s" % (
        r.returncode, r.stdout, r.stderr)
    return r.stdout


def table(text):
    """The header and rows of an aligned table: lists of lines."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0], lines[1:]


def assert_aligned(header, rows, column):
    """Every row's cell of column starts where the header's name does."""
    at = header.index(column)
    for row in rows:
        assert row[at - 2:at] == "  " and row[at] != " ", (column, header, row)


# ---------------------------------------------------------------------------
# events

def test_events_newest_first_with_delivery_summary(gw, db):
    e1 = add_event(db, source="github", at=T0, body=b'{"a":1}')
    e2 = add_event(db, source="test", at=T0 + datetime.timedelta(seconds=1), body=b"x" * 300)
    e3 = add_event(db, source="test", at=T0 + datetime.timedelta(seconds=2))
    add_delivery(db, e1, "crm", "succeeded", attempts=1)
    add_delivery(db, e2, "crm", "succeeded", attempts=1)
    add_delivery(db, e2, "audit", "retrying", attempts=2)

    header, rows = table(ok(gw.ctl("events")))
    assert header.split() == ["ID", "SOURCE", "TYPE", "RECEIVED", "(UTC)", "BYTES",
                              "DELIVERIES"]
    assert [r.split()[0] for r in rows] == [e3, e2, e1]
    assert_aligned(header, rows, "SOURCE")
    assert_aligned(header, rows, "DELIVERIES")
    assert rows[1].split()[1] == "test"
    assert "2026-11-22 10:00:01.000" in rows[1]
    assert rows[1].split()[-2:] == ["audit:retrying", "crm:succeeded"]
    assert rows[1].split()[-3] == "300"
    assert rows[2].endswith("crm:succeeded")
    assert rows[0].endswith("-")            # no deliveries yet

    _, rows = table(ok(gw.ctl("events", "--source", "github")))
    assert [r.split()[0] for r in rows] == [e1]
    _, rows = table(ok(gw.ctl("events", "--status=retrying")))
    assert [r.split()[0] for r in rows] == [e2]
    _, rows = table(ok(gw.ctl("events", "--limit", "1")))
    assert [r.split()[0] for r in rows] == [e3]

    doc = json.loads(ok(gw.ctl("events", "--json", "--source", "test")))
    assert [e["id"] for e in doc] == [e3, e2]
    assert doc[1] == {"id": e2, "source": "test", "type": None,
                      "received_at": "2026-11-22T10:00:01.000000Z",
                      "bytes": 300,
                      "deliveries": [{"destination": "audit", "status": "retrying", "attempts": 2},
                                     {"destination": "crm", "status": "succeeded", "attempts": 1}]}
    assert doc[0]["deliveries"] == []


def test_events_when_there_are_none(gw):
    assert ok(gw.ctl("events")).strip() == "no events"
    assert json.loads(ok(gw.ctl("events", "--json"))) == []


# ---------------------------------------------------------------------------
# event ID

def big_event(db):
    body = b'{"text":"caf\xc3\xa9 \x01bell","pad":"' + b"p" * 3000 + b'"}'
    eid = add_event(db, source="github", body=body, key="delivery-42",
                    headers={"content-type": "application/json",
                             "x-github-delivery": "delivery-42",
                             "x-hub-signature-256": "sha256=00"})
    add_delivery(db, eid, "crm", "retrying", attempts=2, last_status=503,
                 last_error="HTTP 503 from destination",
                 next_at=datetime.datetime.now(datetime.timezone.utc)
                 + datetime.timedelta(minutes=5))
    add_attempt(db, eid, "crm", 1, started=T0, duration_us=1500, code=500,
                response="oops: first line\nsecond line")
    add_attempt(db, eid, "crm", 2, started=T0 + datetime.timedelta(seconds=5),
                duration_us=15000000, error="timeout after 15000 ms")
    return eid, body


def test_event_text(gw, db):
    eid, body = big_event(db)
    out = ok(gw.ctl("event", eid))
    assert re.search(r"^event\s+%s$" % eid, out, re.M)
    assert re.search(r"^source\s+github$", out, re.M)
    assert re.search(r"^content type\s+application/json$", out, re.M)
    assert re.search(r"^idempotency\s+delivery-42$", out, re.M)
    assert re.search(r"^size\s+%d bytes$" % len(body), out, re.M)
    assert "  x-github-delivery: delivery-42\n" in out
    assert "body (first 1024 of %d bytes)" % len(body) in out
    # Printable: UTF-8 stays, a control byte does not reach the terminal.
    assert "café .bell" in out
    assert "\x01" not in out
    assert "p" * 900 in out and "p" * 1100 not in out

    dl = out[out.index("\ndeliveries\n"):]
    header, rows = table(dl.split("\n", 2)[2].split("\n\n")[0])
    assert header.split()[:3] == ["DESTINATION", "STATUS", "ATTEMPTS"]
    assert rows[0].split()[:3] == ["crm", "retrying", "2"]
    assert re.search(r"in 4m5\ds", rows[0])
    assert "503" in rows[0] and rows[0].endswith("HTTP 503 from destination")

    att = out[out.index("attempts to crm\n"):].splitlines()[1:]
    assert att[0].split()[:3] == ["#", "STARTED", "(UTC)"]
    assert att[1].split()[:4] == ["1", "2026-11-22", "10:00:00.000", "1.5ms"]
    assert att[1].rstrip().endswith("oops: first line...")
    assert "second line" not in out
    assert att[2].split()[:4] == ["2", "2026-11-22", "10:00:05.000", "15.0s"]
    assert "timeout after 15000 ms" in att[2]


def test_event_json(gw, db):
    eid, body = big_event(db)
    doc = json.loads(ok(gw.ctl("event", eid, "--json")))
    assert doc["id"] == eid and doc["source"] == "github"
    assert doc["received_at"] == "2026-11-22T10:00:00.000000Z"
    assert doc["content_type"] == "application/json"
    assert doc["idempotency_key"] == "delivery-42"
    assert doc["bytes"] == len(body) and doc["body_truncated"] is True
    assert doc["headers"]["x-github-delivery"] == "delivery-42"
    assert doc["body_preview"].startswith('{"text":"café .bell"')
    assert len(doc["body_preview"].encode()) <= 1024
    (d,) = doc["deliveries"]
    assert d["destination"] == "crm" and d["status"] == "retrying"
    assert d["attempts"] == 2 and d["last_status"] == 503
    assert d["last_error"] == "HTTP 503 from destination"
    assert d["next_attempt_at"].endswith("Z")
    a1, a2 = d["attempt_log"]
    assert a1 == {"attempt": 1, "started_at": "2026-11-22T10:00:00.000000Z",
                  "duration_us": 1500, "status_code": 500, "error": None,
                  "response": "oops: first line\nsecond line"}
    assert a2["attempt"] == 2 and a2["status_code"] is None
    assert a2["error"] == "timeout after 15000 ms"


def test_event_without_deliveries(gw, db):
    eid = add_event(db, source="test", key=None, body=b"a=1&b=2",
                    ctype="application/x-www-form-urlencoded")
    out = ok(gw.ctl("event", eid))
    assert re.search(r"^idempotency\s+-$", out, re.M)
    assert "  a=1&b=2\n" in out
    assert "deliveries\n  (none yet)" in out
    doc = json.loads(ok(gw.ctl("event", eid, "--json")))
    assert doc["deliveries"] == [] and doc["body_truncated"] is False
    assert doc["idempotency_key"] is None


def test_event_unknown_id(gw, db):
    missing = uuid7(T0)
    r = gw.ctl("event", missing)
    assert r.returncode == 1 and r.stdout == ""
    assert "no event %s" % missing in r.stderr
    r = gw.ctl("event", "not-a-uuid")
    assert r.returncode == 1 and "not an event id" in r.stderr


# ---------------------------------------------------------------------------
# dlq

def test_dlq_oldest_first(gw, db):
    now = datetime.datetime.now(datetime.timezone.utc)
    e1 = add_event(db, source="github", at=T0)
    e2 = add_event(db, source="test", at=T0 + datetime.timedelta(seconds=1))
    e3 = add_event(db, source="test", at=T0 + datetime.timedelta(seconds=2))
    add_delivery(db, e1, "crm", "dead", attempts=8, last_status=500,
                 last_error="HTTP 500\nwith a second line", updated_at=now - datetime.timedelta(hours=1))
    add_delivery(db, e2, "audit", "dead", attempts=8, last_error="connection refused",
                 updated_at=now - datetime.timedelta(hours=3))
    add_delivery(db, e2, "crm", "succeeded", attempts=1)
    add_delivery(db, e3, "crm", "retrying", attempts=3)

    header, rows = table(ok(gw.ctl("dlq")))
    assert header.split()[:4] == ["EVENT", "SOURCE", "DESTINATION", "ATTEMPTS"]
    assert [(r.split()[0], r.split()[2]) for r in rows] == [(e2, "audit"), (e1, "crm")]
    assert_aligned(header, rows, "DESTINATION")
    assert rows[0].endswith("connection refused")
    assert rows[1].endswith("HTTP 500...")
    assert rows[1].split()[3:5] == ["8", "500"]
    assert rows[0].split()[3:5] == ["8", "-"]

    _, rows = table(ok(gw.ctl("dlq", "--destination", "crm")))
    assert [r.split()[0] for r in rows] == [e1]
    _, rows = table(ok(gw.ctl("dlq", "--limit", "1")))
    assert [r.split()[0] for r in rows] == [e2]

    doc = json.loads(ok(gw.ctl("dlq", "--json")))
    assert [(d["event_id"], d["destination"]) for d in doc] == [(e2, "audit"), (e1, "crm")]
    assert doc[1]["last_error"] == "HTTP 500\nwith a second line"
    assert doc[1]["last_status"] == 500 and doc[0]["last_status"] is None
    assert doc[0]["source"] == "test" and doc[0]["attempts"] == 8

    assert ok(gw.ctl("dlq", "--destination", "nowhere")).strip() == "no dead deliveries"


# ---------------------------------------------------------------------------
# replay

def test_replay_sets_deliveries_due_now(gw, db):
    e1 = add_event(db, source="github")
    add_delivery(db, e1, "crm", "dead", attempts=7, last_status=500, last_error="HTTP 500")
    out = ok(gw.ctl("replay", e1))
    header, rows = table(out)
    assert header.split() == ["EVENT", "DESTINATION", "WAS", "ATTEMPTS"]
    assert [r.split() for r in rows] == [[e1, "crm", "dead", "7"]]
    status, attempts, age = delivery(db, e1, "crm")
    assert status == "pending" and attempts == 7
    assert -1 < age < 5, "next_attempt_at should be about now, is %.1fs off" % age
    # And it leaves the dead letter queue.
    assert ok(gw.ctl("dlq")).strip() == "no dead deliveries"


def test_replay_creates_missing_routed_deliveries(gw, db):
    e = add_event(db, source="test")
    add_delivery(db, e, "crm", "succeeded", attempts=1)
    _, rows = table(ok(gw.ctl("replay", e)))
    assert sorted(r.split()[1:] for r in rows) == [["audit", "new", "0"],
                                                   ["crm", "succeeded", "1"]]
    assert delivery(db, e, "audit")[:2] == ("pending", 0)
    assert delivery(db, e, "crm")[:2] == ("pending", 1)


def test_replay_one_destination(gw, db):
    e = add_event(db, source="test")
    add_delivery(db, e, "crm", "dead", attempts=8)
    add_delivery(db, e, "audit", "dead", attempts=8)
    _, rows = table(ok(gw.ctl("replay", e, "--destination", "audit")))
    assert [r.split()[1:] for r in rows] == [["audit", "dead", "8"]]
    assert delivery(db, e, "audit")[0] == "pending"
    assert delivery(db, e, "crm")[0] == "dead"
    # --destination=D before the ids works as well.
    _, rows = table(ok(gw.ctl("replay", "--destination=crm", e)))
    assert [r.split()[1:] for r in rows] == [["crm", "dead", "8"]]


def test_replay_unknown_id_fails_but_replays_the_others(gw, db):
    e = add_event(db, source="github")
    add_delivery(db, e, "crm", "dead", attempts=8)
    missing = uuid7(T0)
    r = gw.ctl("replay", missing, e)
    assert r.returncode == 1
    assert "no event %s" % missing in r.stderr
    assert e in r.stdout
    assert delivery(db, e, "crm")[0] == "pending"
    r = gw.ctl("replay", "12345")
    assert r.returncode == 1 and "not an event id" in r.stderr


def test_replay_with_nothing_to_replay_fails(gw, db):
    e = add_event(db, source="github")
    r = gw.ctl("replay", e, "--destination", "audit")   # audit does not route github
    assert r.returncode == 1 and "no delivery to audit" in r.stderr
    r = gw.ctl("replay", e, "--destination", "nowhere")
    assert r.returncode == 1 and 'no destination "nowhere"' in r.stderr


def test_replay_skips_destinations_no_longer_configured(gw, db):
    e = add_event(db, source="github")
    add_delivery(db, e, "crm", "dead", attempts=8)
    add_delivery(db, e, "retired", "dead", attempts=8)
    _, rows = table(ok(gw.ctl("replay", e)))
    assert [r.split()[1] for r in rows] == ["crm"]
    assert delivery(db, e, "retired")[0] == "dead"


# ---------------------------------------------------------------------------
# usage and connection errors

@pytest.mark.parametrize("args", [
    ["events", "--limit", "0"],
    ["events", "--limit", "ten"],
    ["events", "--status", "lost"],
    ["events", "--bogus"],
    ["events", "--source"],
    ["event"],
    ["event", "a", "b"],
    ["event", "--yaml", "x"],
    ["replay"],
    ["replay", "--destination"],
    ["replay", "--destination", "crm"],
    ["dlq", "--limit"],
    ["dlq", "extra"],
])
def test_usage_errors_exit_2(gw, args):
    r = gw.ctl(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert "usage: hookctl " + args[0] in r.stderr


def test_cannot_connect(gw):
    port = harness.free_port()
    r = gw.ctl("events", env={"HOOKD_DATABASE_URL":
                              "postgresql://hookd:hunter2@127.0.0.1:%d/hookd" % port})
    assert r.returncode == 1
    assert "hookctl: cannot connect to PostgreSQL at postgresql://hookd:***@127.0.0.1:%d/hookd: " \
        % port in r.stderr
    assert "hunter2" not in r.stderr
    assert r.stderr.count("\n") >= 1 and r.stdout == ""


@pytest.mark.parametrize("flag", ["-h", "--help", "help"])
def test_help_prints_usage_and_exits_0(flag):
    r = subprocess.run([os.path.join(harness.bin_dir(), "hookctl"), flag],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: hookctl ") and "purge --before" in r.stdout
