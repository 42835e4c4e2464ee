"""
test_traceparent.py - a W3C traceparent header on the ingest request goes
with the event to every destination, on every attempt (the first from the
stream, retries from PostgreSQL), and through the inbox while Redis is down;
a malformed one is not forwarded.  Real hookd, Redis, PostgreSQL and HTTP
receivers.
"""

import json

import requests

import harness


TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TP_LATER = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next"
BAD = [
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # 00 has no more
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",        # upper case
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",        # zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",        # zero parent id
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        # version ff
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",         # short trace id
    "not a traceparent",
]


def start(hookd_factory, sinks_by_name):
    dests = ",\n".join('{ name = "%s"; url = "%s"; sources = ["test"]; }' % (n, s.url)
                       for n, s in sinks_by_name.items())
    return hookd_factory(delivery={"retry_schedule": [1, 1, 1], "jitter": 0.0,
                                   "timeout_ms": 2000},
                         destinations=dests)


def post(h, body, traceparent=None):
    hdr = {"Content-Type": "application/json"}
    if traceparent is not None:
        hdr["traceparent"] = traceparent
    r = requests.post(h.url + "/webhooks/test", data=body, headers=hdr, timeout=10)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def by_id(sink, eid):
    return [r for r in sink.got() if r.id == eid]


def test_traceparent_reaches_every_destination_on_every_attempt(hookd_factory, sinks):
    a, b = sinks(), sinks()
    # beta fails twice: its second and third attempts come from PostgreSQL.
    b.plan = [(500, {}, 0.0), (503, {}, 0.0)]
    h = start(hookd_factory, {"alpha": a, "beta": b})
    eid = post(h, b'{"traced":1}', TP)
    harness.wait_for(lambda: len(by_id(a, eid)) == 1 and len(by_id(b, eid)) == 3, 30,
                     what="the event at alpha once and at beta three times")
    later = post(h, b'{"traced":2}', TP_LATER)
    plain = post(h, b'{"traced":0}')
    harness.wait_for(lambda: by_id(a, later) and by_id(b, later)
                     and by_id(a, plain) and by_id(b, plain),
                     30, what="the other two events at both sinks")
    for r in by_id(a, eid) + by_id(b, eid):
        assert r.headers.get("traceparent") == TP
    for r in by_id(a, later) + by_id(b, later):
        assert r.headers.get("traceparent") == TP_LATER
    for r in by_id(a, plain) + by_id(b, plain):
        assert "traceparent" not in r.headers


def test_malformed_traceparent_is_not_forwarded(hookd_factory, sinks):
    a = sinks()
    # Three failures (fewer than open the breaker): their retries come
    # from PostgreSQL, the others' only attempt from the stream.
    a.plan = [(500, {}, 0.0)] * 3
    h = start(hookd_factory, {"alpha": a})
    ids = [post(h, json.dumps({"bad": i}).encode(), tp) for i, tp in enumerate(BAD)]
    harness.wait_for(lambda: all(by_id(a, i) for i in ids)
                     and len(a.got()) >= len(BAD) + 3, 30,
                     what="every event delivered, three of them retried")
    for r in a.got():
        assert "traceparent" not in r.headers, r.headers["traceparent"]


def test_traceparent_travels_through_the_inbox(hookd_factory, redis_server, pg_server, sinks):
    a, b = sinks(), sinks()
    h = start(hookd_factory, {"alpha": a, "beta": b})
    redis_server.stop()
    eid = post(h, b'{"inbox":1}', TP)
    conn = pg_server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id::text FROM inbox")
            assert cur.fetchall() == [(eid,)]
    finally:
        conn.close()
    redis_server.start()
    harness.wait_for(lambda: by_id(a, eid) and by_id(b, eid), 30,
                     what="the inbox event at both sinks")
    for r in by_id(a, eid) + by_id(b, eid):
        assert r.headers.get("traceparent") == TP
