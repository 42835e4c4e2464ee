"""
test_delivery_fresh.py - a new event is attempted before anything of it is
written, then the event, its deliveries in their state after the attempt
and the attempts go to PostgreSQL in one statement, then XACK.

What must still hold: a worker killed between the attempt and the commit
leaves its entry pending, and the event is delivered again with the same
webhook-id and recorded once; an entry read a second time (re-read after a
worker died, claimed from a dead one, or a second stream entry of the same
event) whose rows exist is not attempted again.
"""

import datetime
import os
import signal
import socket
import time
import uuid

import requests

import harness

rows = harness.PostgresServer.rows


def dest(name, url, extra=""):
    return '{ name = "%s"; url = "%s"; sources = ["test"]; %s }' % (name, url, extra)


def start(hookd_factory, dests, **delivery):
    d = {"retry_schedule": [1, 1, 1], "jitter": 0.0, "timeout_ms": 3000}
    d.update(delivery)
    return hookd_factory(delivery=d, destinations=",\n".join(dests))


def post(h, body):
    r = requests.post(h.url + "/webhooks/test", data=body,
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def attempted_first(pg, eid):
    """Was the delivery row of eid written after its attempt ended?  (An
    event stored first has its row from before the attempt.)"""
    r = rows(pg, "SELECT d.created_at >= a.started_at FROM deliveries d JOIN attempts a"
             " ON a.event_id = d.event_id AND a.destination = d.destination"
             " AND a.received_at = d.received_at WHERE d.event_id = %s AND a.attempt = 1",
             eid)
    return bool(r) and all(x[0] for x in r)


def settled(h, pg, sink):
    """Post probes until one is attempted first: a worker does so only once
    its read connection has been up for a few seconds."""
    def probe():
        eid = post(h, b'{"probe":1}')
        harness.wait_for(lambda: rows(pg, "SELECT count(*) FROM attempts WHERE event_id = %s",
                                      eid)[0][0] > 0, 10, what="the probe's attempt")
        return attempted_first(pg, eid)
    harness.wait_for(probe, 20, interval=0.3, what="a worker that attempts first")


def delivery(pg, eid, name):
    r = rows(pg, "SELECT status, attempts, last_status FROM deliveries "
             "WHERE event_id = %s AND destination = %s", eid, name)
    return r[0] if r else None


def attempts(pg, eid):
    return rows(pg, "SELECT destination, attempt, status_code FROM attempts "
                "WHERE event_id = %s ORDER BY destination, attempt", eid)


def entry_of(redis_server, eid):
    """The stream entry of event eid: (entry id, fields)."""
    c = redis_server.client()
    try:
        for xid, f in c.xrange("hookd:events"):
            if f.get(b"id") == eid.encode():
                return xid, f
    finally:
        c.close()
    raise AssertionError("no entry for %s" % eid)


def test_attempted_first_fan_out(hookd_factory, pg_server, redis_server, sinks):
    a, b = sinks(), sinks()
    h = start(hookd_factory, [dest("alpha", a.url), dest("beta", b.url)])
    settled(h, pg_server, a)
    b.plan = [(500, {}, 0)] * 3     # three first attempts fail, then all succeed
    ids = [post(h, b'{"n":%d}' % i) for i in range(20)]
    harness.wait_for(lambda: all((delivery(pg_server, i, n) or [""])[0] == "succeeded"
                                 for i in ids for n in ("alpha", "beta")), 20,
                     what="every delivery to succeed")
    retried = 0
    for i in ids:
        assert attempted_first(pg_server, i)
        assert delivery(pg_server, i, "alpha") == ("succeeded", 1, 200)
        at = attempts(pg_server, i)
        assert at[0] == ("alpha", 1, 200)
        if at[1:] == [("beta", 1, 500), ("beta", 2, 200)]:
            # The failed first attempt was written as due for its retry,
            # and the retry came from PostgreSQL as before.
            retried += 1
            assert delivery(pg_server, i, "beta") == ("succeeded", 2, 200)
        else:
            assert at[1:] == [("beta", 1, 200)]
    assert retried == 3
    assert rows(pg_server, "SELECT count(*) FROM events WHERE id = ANY(%s::uuid[])",
                ids)[0][0] == 20
    assert all(a.ids().count(i) == 1 for i in ids)
    harness.wait_for(lambda: redis_server.pending() == 0, 15, what="XPENDING to be empty")


def test_kill9_between_attempt_and_commit(hookd_factory, pg_server, redis_server, sinks):
    s = sinks()
    h = start(hookd_factory, [dest("held", s.url)])
    settled(h, pg_server, s)
    s.hold()
    before = len(s.got())
    eid = post(h, b'{"crash":1}')
    harness.wait_for(lambda: eid in s.ids(), 10, what="the sink to hold the request")
    # Attempted, nothing written: the worker dies now.
    assert rows(pg_server, "SELECT count(*) FROM deliveries WHERE event_id = %s", eid)[0][0] == 0
    assert rows(pg_server, "SELECT count(*) FROM events WHERE id = %s", eid)[0][0] == 0
    old = h.role_pid("delivery")
    os.kill(old, signal.SIGKILL)
    s.release()
    # Its successor re-reads the pending entry, stores it first this time,
    # and sends it again at once, with the same webhook-id.
    harness.wait_for(lambda: (delivery(pg_server, eid, "held") or [""])[0] == "succeeded", 20,
                     what="the delivery to succeed")
    got = [r for r in s.got()[before:] if r.id == eid]
    assert len(got) == 2 and got[0].headers["webhook-id"] == got[1].headers["webhook-id"] == eid
    assert delivery(pg_server, eid, "held") == ("succeeded", 1, 200)
    assert attempts(pg_server, eid) == [("held", 1, 200)]
    harness.wait_for(lambda: redis_server.pending() == 0, 15, what="XPENDING to be empty")


def test_entry_read_again_not_attempted(hookd_factory, pg_server, redis_server, sinks):
    s = sinks()
    h = start(hookd_factory, [dest("once", s.url)], timeout_ms=1000)
    settled(h, pg_server, s)
    eid = post(h, b'{"again":1}')
    harness.wait_for(lambda: (delivery(pg_server, eid, "once") or [""])[0] == "succeeded", 10,
                     what="the delivery to succeed")
    assert attempted_first(pg_server, eid)
    _, f = entry_of(redis_server, eid)
    consumer = "%s/%s/delivery-0" % (socket.gethostname(), h.instance)
    # A copy of the entry, within a second of the event's arrival, pending
    # under the worker's name but never handled by it (a worker that died
    # after its rows were committed, before its XACK): the worker is
    # stopped, so that the copy goes to its blocked read or to ours.
    old = h.role_pid("delivery")
    os.kill(old, signal.SIGSTOP)
    c = redis_server.client()
    try:
        c.xadd("hookd:events", f)
        c.xreadgroup("delivery", consumer, {"hookd:events": ">"}, count=1)
        assert c.xpending("hookd:events", "delivery")["pending"] == 1
    finally:
        c.close()
    os.kill(old, signal.SIGKILL)
    # The successor re-reads its own pending entries first: the copy is
    # stored first, its rows exist, nothing is sent, and it is acked.
    harness.wait_for(lambda: redis_server.pending() == 0, 20, what="the copy to be acked")
    assert s.ids().count(eid) == 1
    # An event whose entry and a prompt copy of it (within a second of its
    # arrival) are read by a consumer that then dies (another host's
    # worker): our worker claims them once idle for twice the delivery
    # timeout, sends the event once, and not again for the copy.
    settled(h, pg_server, s)
    pid = h.role_pid("delivery")
    os.kill(pid, signal.SIGSTOP)
    try:
        e2 = post(h, b'{"claimed":1}')
        _, f2 = entry_of(redis_server, e2)
        c = redis_server.client()
        try:
            c.xadd("hookd:events", f2)
            c.xreadgroup("delivery", "gone-host/x/delivery-0", {"hookd:events": ">"},
                         count=10)
        finally:
            c.close()
    finally:
        os.kill(pid, signal.SIGCONT)
    harness.wait_for(lambda: redis_server.pending() == 0, 20, what="the claimed entries acked")
    time.sleep(0.5)     # nothing is expected: give a wrong send the time to show
    assert s.ids().count(e2) == 1
    # A copy read as new more than a second after the event's arrival (as
    # the inbox mover or an enqueue that ran late would add it) is not sent
    # either, by a worker that attempts new events first.
    settled(h, pg_server, s)
    c = redis_server.client()
    try:
        c.xadd("hookd:events", f)
    finally:
        c.close()
    harness.wait_for(lambda: redis_server.pending() == 0 and xlen_acked(redis_server), 10,
                     what="the second copy to be acked")
    time.sleep(0.5)     # nothing is expected: give a wrong send the time to show
    assert s.ids().count(eid) == 1
    assert attempts(pg_server, eid) == [("once", 1, 200)]


def xlen_acked(redis_server):
    """Every entry of the stream has been read by the group."""
    c = redis_server.client()
    try:
        g = [x for x in c.xinfo_groups("hookd:events") if x["name"] in (b"delivery", "delivery")]
        last = c.xrevrange("hookd:events", count=1)
        return g and last and g[0]["last-delivered-id"] == last[0][0]
    finally:
        c.close()


def test_new_entry_whose_rows_exist(hookd_factory, pg_server, redis_server, sinks):
    """A new event's rows go in without ON CONFLICT, which PostgreSQL does
    for less; when they were there after all (another worker wrote the
    event of a prompt copy of its entry), the statement goes again with it:
    nothing fails, nothing is lost, the entry is acked.  Made certain here:
    the event's row is written first, then its entry is added, new by every
    rule (read for the first time, within a second of its arrival)."""
    s = sinks()
    h = start(hookd_factory, [dest("once", s.url)])
    settled(h, pg_server, s)
    _, f = entry_of(redis_server, post(h, b'{"template":1}'))
    nid = str(uuid.uuid4())
    now = datetime.datetime.now(datetime.timezone.utc)
    f = dict(f)
    f[b"id"] = nid.encode()
    f[b"received_at"] = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
    rows(pg_server, "INSERT INTO events (id, source, received_at, content_type, headers, body)"
         " VALUES (%s, 'test', %s, %s, %s::jsonb, %s) RETURNING 1", nid, now,
         f[b"content_type"].decode(), f[b"headers"].decode(), f[b"body"])
    c = redis_server.client()
    try:
        c.xadd("hookd:events", f)
    finally:
        c.close()
    others = [post(h, b'{"with":%d}' % i) for i in range(5)]
    harness.wait_for(lambda: redis_server.pending() == 0 and xlen_acked(redis_server), 10,
                     what="the entry to be acked")
    harness.wait_for(lambda: all((delivery(pg_server, i, "once") or [""])[0] == "succeeded"
                                 for i in others + [nid]), 10, what="every delivery")
    # Attempted first (its delivery row written after the attempt), so its
    # rows went with the optimistic insert, met the event's row, and went
    # again with ON CONFLICT.
    assert attempted_first(pg_server, nid)
    assert s.ids().count(nid) == 1
    assert rows(pg_server, "SELECT count(*) FROM events WHERE id = %s", nid)[0][0] == 1
    assert delivery(pg_server, nid, "once") == ("succeeded", 1, 200)
    assert attempts(pg_server, nid) == [("once", 1, 200)]
    for i in others:
        assert attempts(pg_server, i) == [("once", 1, 200)]
        assert s.ids().count(i) == 1
    assert "statement failed" not in h.log_text()
