"""
test_delivery.py - the delivery worker end to end: events posted to the
real hookd reach real HTTP receivers (sinkutil.Sink), and PostgreSQL and
Redis show what a user would see: deliveries, attempts, the consumer group.
"""

import json
import os
import signal
import time
import uuid

import requests

import harness
from sinkutil import verify, whsec

SECRET_A = whsec(b"delivery-test-key-a-not-real")
SECRET_B = whsec(b"delivery-test-key-b-not-real")


def dest(name, url, secret="", extra=""):
    return ('{ name = "%s"; url = "%s"; sources = ["test"]; signing_secret = "%s"; %s }'
            % (name, url, secret, extra))


def start(hookd_factory, dests, **delivery):
    d = {"retry_schedule": [1, 1, 1], "jitter": 0.0, "timeout_ms": 2000}
    d.update(delivery)
    return hookd_factory(delivery=d, destinations=",\n".join(dests))


def post(h, body, key=None):
    hdr = {"Content-Type": "application/json"}
    if key:
        hdr["Idempotency-Key"] = key
    r = requests.post(h.url + "/webhooks/test", data=body, headers=hdr, timeout=10)
    assert r.status_code == 202, r.text
    return r.json()["id"]


rows = harness.PostgresServer.rows


def delivery(pg, eid, name):
    r = rows(pg, "SELECT status, attempts, last_status, last_error FROM deliveries "
             "WHERE event_id = %s AND destination = %s", eid, name)
    return r[0] if r else None


def attempts(pg, eid, name):
    return rows(pg, "SELECT attempt, status_code, error, response, duration_us FROM attempts "
                "WHERE event_id = %s AND destination = %s ORDER BY attempt", eid, name)


def test_two_destinations_exactly_once(hookd_factory, pg_server, redis_server, sinks):
    a, b = sinks(), sinks()
    h = start(hookd_factory, [
        dest("alpha", a.url + "/in", SECRET_A, 'headers = ["Authorization: Bearer t0k"];'),
        dest("beta", b.url + "/hooks", SECRET_B)])
    ids = [post(h, json.dumps({"n": i, "text": "h\u00e9llo"}).encode()) for i in range(10)]
    harness.wait_for(lambda: len(a.got()) >= 10 and len(b.got()) >= 10, 15,
                     what="both sinks to get 10 requests")
    harness.wait_for(lambda: all(delivery(pg_server, i, n) and delivery(pg_server, i, n)[0]
                                 == "succeeded" for i in ids for n in ("alpha", "beta")),
                     10, what="deliveries to be succeeded")
    for sink, secret, path in ((a, SECRET_A, "/in"), (b, SECRET_B, "/hooks")):
        got = sink.got()
        assert sorted(r.id for r in got) == sorted(ids)
        for r in got:
            assert r.path == path
            assert verify(secret, r.headers, r.body)
            assert r.headers["content-type"] == "application/json"
            assert "expect" not in r.headers
            assert json.loads(r.body)["text"] == "h\u00e9llo"
    assert all(r.headers["authorization"] == "Bearer t0k" for r in a.got())
    for i in ids:
        assert delivery(pg_server, i, "alpha")[:3] == ("succeeded", 1, 200)
        at = attempts(pg_server, i, "beta")
        assert [(x[0], x[1], x[2]) for x in at] == [(1, 200, None)]
        assert at[0][3] == '{"ok":true}'
    harness.wait_for(lambda: redis_server.pending() == 0, 10, what="XPENDING to be empty")


def test_retries_on_schedule_then_dead(hookd_factory, pg_server, sinks):
    s = sinks()
    s.answer(500)
    h = start(hookd_factory, [dest("flaky", s.url)])
    eid = post(h, b'{"retry":1}')
    harness.wait_for(lambda: (delivery(pg_server, eid, "flaky") or [""])[0] == "dead", 20,
                     what="the delivery to be dead")
    got = s.got()
    assert len(got) == 4 and {r.id for r in got} == {eid}
    gaps = [b.t - a.t for a, b in zip(got, got[1:])]
    assert all(0.8 <= g <= 3.0 for g in gaps), gaps
    st = delivery(pg_server, eid, "flaky")
    assert st[:3] == ("dead", 4, 500)
    assert [x[1] for x in attempts(pg_server, eid, "flaky")] == [500] * 4


def test_retry_after_is_honoured(hookd_factory, pg_server, sinks):
    s = sinks()
    s.plan = [(429, {"Retry-After": "3"}, 0)]
    h = start(hookd_factory, [dest("limited", s.url)], retry_schedule=[1, 10])
    eid = post(h, b'{"ra":1}')
    harness.wait_for(lambda: (delivery(pg_server, eid, "limited") or [""])[0] == "succeeded",
                     15, what="the delivery to succeed")
    got = s.got()
    assert len(got) == 2
    assert got[1].t - got[0].t >= 2.9
    assert [x[1] for x in attempts(pg_server, eid, "limited")] == [429, 200]


def test_gone_disables_destination(hookd_factory, pg_server, sinks):
    s, ok = sinks(), sinks()
    s.answer(410)
    h = start(hookd_factory, [dest("gone", s.url), dest("fine", ok.url)])
    e1 = post(h, b'{"g":1}')
    harness.wait_for(lambda: rows(pg_server, "SELECT disabled, reason FROM destination_state "
                                  "WHERE destination = 'gone'"), 10,
                     what="destination_state to have the 410")
    # Held, not dead: it waits, due, until the destination is enabled
    # (test_control.py enables it).
    harness.wait_for(lambda: (delivery(pg_server, e1, "gone") or [""])[0] == "retrying", 10)
    assert "410" in delivery(pg_server, e1, "gone")[3]
    e2 = post(h, b'{"g":2}')
    harness.wait_for(lambda: (delivery(pg_server, e2, "fine") or [""])[0] == "succeeded", 10)
    harness.wait_for(lambda: (delivery(pg_server, e2, "gone") or [""])[0] == "pending", 10)
    time.sleep(1.5)     # scans and refreshes go by: still nothing more is sent
    assert [r.id for r in s.got()] == [e1]
    assert delivery(pg_server, e2, "gone")[0] == "pending"
    assert delivery(pg_server, e1, "gone")[0] == "retrying"
    assert h.log_text().count("answered 410 Gone") == 1


def test_redirect_is_not_followed(hookd_factory, pg_server, sinks):
    s, other = sinks(), sinks()
    s.answer(302, {"Location": other.url + "/elsewhere"})
    h = start(hookd_factory, [dest("moved", s.url + "/old")])
    eid = post(h, b'{"r":1}')
    harness.wait_for(lambda: attempts(pg_server, eid, "moved"), 10)
    st = delivery(pg_server, eid, "moved")
    assert st[0] in ("retrying", "dead") and st[2] == 302
    assert "redirect" in st[3]
    assert other.got() == []


def test_timeout_cuts_a_silent_destination(hookd_factory, pg_server, sinks):
    s = sinks()
    s.answer(200, delay=10)
    h = start(hookd_factory, [dest("slow", s.url, extra="timeout_ms = 500;")])
    eid = post(h, b'{"t":1}')
    harness.wait_for(lambda: attempts(pg_server, eid, "slow"), 10)
    at = attempts(pg_server, eid, "slow")[0]
    assert at[1] is None and "timed out" in at[2]
    assert 400000 <= at[4] < 2000000


def test_metadata_address_is_refused(hookd_factory, pg_server):
    h = start(hookd_factory, [dest("meta", "http://169.254.169.254/latest/meta-data")])
    eid = post(h, b'{"m":1}')
    harness.wait_for(lambda: attempts(pg_server, eid, "meta"), 10)
    at = attempts(pg_server, eid, "meta")[0]
    assert at[1] is None
    assert "address 169.254.169.254 refused (link-local/cloud metadata)" in at[2]
    assert "169.254.169.254 refused" in h.log_text()


def refused(pg_server, eid, name, ip):
    harness.wait_for(lambda: attempts(pg_server, eid, name), 10, what=name)
    at = attempts(pg_server, eid, name)[0]
    assert at[1] is None, (name, at)
    assert "address %s refused (in delivery.deny)" % ip in at[2], (name, at)


def test_unspecified_addresses_are_judged_as_the_local_host(hookd_factory, pg_server, sinks):
    # The kernel connects 0.0.0.0 and :: to the local host: with loopback
    # denied they are refused like 127.0.0.1 and ::1.
    s = sinks()
    port = s.url.rsplit(":", 1)[1]
    h = start(hookd_factory, [dest("zero", "http://0.0.0.0:%s/hooks" % port),
                              dest("any6", "http://[::]:%s/hooks" % port)],
              deny=["127.0.0.0/8", "::1"], retry_schedule=[60])
    eid = post(h, b'{"z":1}')
    refused(pg_server, eid, "zero", "0.0.0.0")
    refused(pg_server, eid, "any6", "::")
    assert s.got() == []


def test_a_proxy_from_the_environment_is_not_used(hookd_factory, pg_server, sinks):
    # With http_proxy set, libcurl would connect to the proxy, and the
    # guard would judge the proxy's (allowed) address, not the destination's.
    proxy = sinks()
    env = {"http_proxy": proxy.url, "HTTP_PROXY": proxy.url, "no_proxy": None,
           "NO_PROXY": None}
    h = hookd_factory(env=env, delivery={"retry_schedule": [60], "jitter": 0.0,
                                         "deny": ["127.0.0.2/32"]},
                      destinations=dest("lo2", "http://127.0.0.2:9/hooks"))
    eid = post(h, b'{"p":1}')
    refused(pg_server, eid, "lo2", "127.0.0.2")
    assert proxy.got() == []


def test_kill9_mid_delivery_loses_nothing(hookd_factory, pg_server, redis_server, sinks):
    s = sinks()
    s.hold()
    h = start(hookd_factory, [dest("held", s.url)], timeout_ms=1000)
    ids = [post(h, b'{"k":%d}' % i) for i in range(5)]
    harness.wait_for(lambda: len(s.got()) >= 5, 10, what="the sink to hold 5 requests")
    old = h.role_pid("delivery")
    os.kill(old, signal.SIGKILL)
    harness.wait_for(lambda: h.role_pid("delivery") != old, 10, what="a new delivery worker",
                     ignore=(AssertionError, ValueError))
    s.release()
    harness.wait_for(lambda: all((delivery(pg_server, i, "held") or [""])[0] == "succeeded"
                                 for i in ids), 20, what="every delivery to succeed")
    assert set(ids) <= set(s.ids())
    harness.wait_for(lambda: redis_server.pending() == 0, 15, what="XPENDING to be empty")


def test_postgres_restart_mid_delivery(hookd_factory, pg_server, redis_server, sinks):
    s = sinks()
    s.answer(200, delay=0.05)
    h = start(hookd_factory, [dest("steady", s.url, extra="concurrency = 2;")])
    ids = [post(h, b'{"p":%d}' % i) for i in range(30)]
    harness.wait_for(lambda: len(s.got()) >= 3, 10)
    pg_server.stop()
    ids += [post(h, b'{"q":%d}' % i) for i in range(10)]
    pg_server.start()
    harness.wait_for(lambda: rows(pg_server, "SELECT count(*) FROM deliveries WHERE "
                                  "status = 'succeeded'")[0][0] == len(ids), 40,
                     what="every delivery to succeed", ignore=(Exception,))
    sent = {}
    for r in s.got():
        sent[r.id] = sent.get(r.id, 0) + 1
    recorded = dict(rows(pg_server, "SELECT event_id::text, count(*) FROM attempts "
                         "GROUP BY event_id"))
    assert set(ids) <= set(sent)
    # Every HTTP attempt is in attempts, once.
    assert recorded == sent
    harness.wait_for(lambda: redis_server.pending() == 0, 15, what="XPENDING to be empty")


def xlen(redis_server):
    c = redis_server.client()
    try:
        return c.xlen("hookd:events")
    finally:
        c.close()


def test_stream_trimmed_below_oldest_pending(pg_server, redis_server, hookd_factory, sinks):
    s = sinks()
    # Entries from an hour ago, in ingest's format, there before hookd
    # starts (the group is created from ID 0, so they are delivered).
    c = redis_server.client()
    old_ms = int(time.time() * 1000) - 3600 * 1000
    old = [str(uuid.uuid4()) for _ in range(3)]
    try:
        for i, eid in enumerate(old):
            c.xadd("hookd:events", {"id": eid, "source": "test",
                                    "received_at": "2026-01-01T00:00:00.000000Z",
                                    "content_type": "application/json", "headers": "{}",
                                    "body": '{"old":%d}' % i}, id="%d-%d" % (old_ms, i))
    finally:
        c.close()
    h = start(hookd_factory, [dest("trim", s.url)])
    ids = [post(h, b'{"x":%d}' % i) for i in range(2)]
    harness.wait_for(lambda: len(s.got()) >= 5, 10)
    # Delivered and acked: the old entries go; the last seconds stay.
    harness.wait_for(lambda: xlen(redis_server) == 2, 15, what="the stream to be trimmed")
    # Acks are batched and asynchronous: wait for the last ones.
    harness.wait_for(lambda: redis_server.pending() == 0, 10, what="no entry pending")
    assert sorted(s.ids()) == sorted(old + ids)


def test_inbox_events_reach_the_stream_when_redis_returns(hookd_factory, pg_server,
                                                         redis_server, sinks):
    s = sinks()
    h = start(hookd_factory, [dest("late", s.url)])
    redis_server.stop()
    eid = post(h, b'{"inbox":1}', key="inbox-key-1")
    assert rows(pg_server, "SELECT id::text FROM inbox") == [(eid,)]
    redis_server.start()
    harness.wait_for(lambda: eid in s.ids(), 20, what="the inbox event to be delivered")
    harness.wait_for(lambda: rows(pg_server, "SELECT count(*) FROM inbox")[0][0] == 0, 10)
    r = redis_server.client()
    try:
        assert r.get("hookd:dedup:test:inbox-key-1") == eid.encode()
    finally:
        r.close()
    assert s.ids() == [eid]
    assert rows(pg_server, "SELECT idempotency_key FROM events WHERE id = %s",
                eid) == [("inbox-key-1",)]


def test_events_keep_their_idempotency_key(hookd_factory, pg_server, redis_server, sinks):
    """The key travels in the stream entry, so the events row has it;
    an event sent without one has NULL."""
    s = sinks()
    h = start(hookd_factory, [dest("keyed", s.url)])
    keyed = post(h, b'{"k":1}', key="order-1234/x y")
    plain = post(h, b'{"k":2}')
    harness.wait_for(lambda: {keyed, plain} <= set(s.ids()), 15, what="both deliveries")
    c = redis_server.client()
    try:
        fields = {f[b"id"].decode(): f for _, f in c.xrange("hookd:events")}
    finally:
        c.close()
    assert fields[keyed][b"idempotency_key"] == "order-1234/x y".encode()
    assert b"idempotency_key" not in fields[plain]
    got = dict(rows(pg_server, "SELECT id::text, idempotency_key FROM events"))
    assert got == {keyed: "order-1234/x y", plain: None}


def test_group_recreated_after_redis_loses_it(hookd_factory, pg_server, redis_server, sinks):
    s = sinks()
    h = start(hookd_factory, [dest("again", s.url)])
    e1 = post(h, b'{"a":1}')
    harness.wait_for(lambda: e1 in s.ids(), 10)
    c = redis_server.client()
    try:
        c.flushall()
    finally:
        c.close()
    e2 = post(h, b'{"a":2}')
    harness.wait_for(lambda: e2 in s.ids(), 15, what="delivery after the group was lost")
    assert "recreating it" in h.log_text()


def test_breaker_opens_after_consecutive_failures(hookd_factory, pg_server, sinks):
    s = sinks()
    s.answer(500)
    h = start(hookd_factory, [dest("down", s.url)])
    ids = [post(h, b'{"b":%d}' % i) for i in range(6)]
    harness.wait_for(lambda: "circuit open" in h.log_text(), 10, what="the breaker to open")
    harness.wait_for(lambda: all(attempts(pg_server, i, "down") for i in ids), 10)
    n = len(s.got())
    assert n == len(ids)
    # The attempts that tripped it wait for the breaker (30 s); the earlier
    # ones fall due after 1 s but stay in PostgreSQL while it is open.
    assert rows(pg_server, "SELECT count(*) FROM deliveries WHERE "
                "next_attempt_at > now() + interval '20 seconds'")[0][0] >= 1
    harness.wait_for(lambda: rows(pg_server, "SELECT count(*) FROM deliveries WHERE "
                                  "next_attempt_at < now() - interval '1.5 seconds'")[0][0]
                     >= 1, 10, what="a retry to be overdue for several scans")
    assert len(s.got()) == n


def test_rate_limit_spaces_requests(hookd_factory, pg_server, sinks):
    s = sinks()
    h = start(hookd_factory, [dest("paced", s.url, extra="rate_per_s = 4.0;")])
    ids = [post(h, b'{"r":%d}' % i) for i in range(8)]
    harness.wait_for(lambda: len(s.got()) >= 8, 10)
    got = s.got()
    # A burst of 4, then one every 250 ms.
    assert got[-1].t - got[0].t >= 0.9
    assert sorted(r.id for r in got) == sorted(ids)


def test_graceful_stop_finishes_in_flight(hookd_factory, pg_server, redis_server, sinks):
    s = sinks()
    s.answer(200, delay=1.0)
    h = start(hookd_factory, [dest("drain", s.url)])
    eid = post(h, b'{"d":1}')
    harness.wait_for(lambda: s.got(), 10)
    assert h.stop() == 0
    assert delivery(pg_server, eid, "drain")[0] == "succeeded"
    assert redis_server.pending() == 0


def test_two_workers_share_without_double_sends(hookd_factory, pg_server, redis_server, sinks):
    s = sinks()
    # Some retries, claimed by either worker (fewer failures than it takes
    # to open a breaker).
    s.plan = [(500, {}, 0)] * 4
    h = hookd_factory(delivery_workers=2, destinations=dest("shared", s.url),
                      delivery={"retry_schedule": [1, 1], "jitter": 0.0, "timeout_ms": 2000})
    ids = [post(h, b'{"w":%d}' % i) for i in range(40)]
    harness.wait_for(lambda: rows(pg_server, "SELECT count(*) FROM deliveries WHERE "
                                  "status = 'succeeded'")[0][0] == 40, 20,
                     what="every delivery to succeed")
    sent = {}
    for r in s.got():
        sent[r.id] = sent.get(r.id, 0) + 1
    assert set(sent) == set(ids)
    # One request per attempt row: nothing was sent twice for one attempt.
    assert sum(sent.values()) == len(s.got()) == 44
    assert rows(pg_server, "SELECT count(*) FROM attempts")[0][0] == 44
    harness.wait_for(lambda: redis_server.pending() == 0, 10)


def test_a_row_postgres_refuses_costs_only_that_row(hookd_factory, pg_server, redis_server,
                                                    sinks):
    """Entries are written to PostgreSQL a batch per statement.  One entry
    PostgreSQL refuses (a content type that is not UTF-8, which ingest
    never writes) among good ones in the same read: the batch fails, is sent
    again row by row, and the good events are delivered; the bad one alone
    stays pending."""
    a = sinks()
    good = [str(uuid.uuid4()) for _ in range(6)]
    bad = str(uuid.uuid4())
    c = redis_server.client()
    try:
        for eid in good[:3] + [bad] + good[3:]:
            c.xadd("hookd:events", {
                "id": eid, "source": "test", "received_at": "2026-11-26T08:00:00.000000Z",
                "content_type": b"\xff\xfe" if eid == bad else b"application/json",
                "headers": "{}", "body": b'{"ok": true}'})
    finally:
        c.close()
    h = start(hookd_factory, [dest("alpha", a.url + "/in")])
    harness.wait_for(lambda: len(a.got()) >= 6, 30, what="the six good events to arrive")
    assert sorted(r.id for r in a.got()) == sorted(good)
    harness.wait_for(lambda: "sending them one by one" in h.log_text(), 10,
                     what="the batch to be split")
    assert rows(pg_server, "SELECT count(*) FROM events WHERE id = %s", bad) == [(0,)]
    assert rows(pg_server, "SELECT count(*) FROM events WHERE id = ANY(%s::uuid[])",
                good) == [(6,)]
    harness.wait_for(lambda: redis_server.pending() == 1, 10, what="only the bad entry pending")


def test_consumers_are_named_by_host_and_instance(hookd_factory, redis_server, sinks):
    # Two instances on one Redis: their delivery workers are different
    # consumers, so one never re-reads the other's pending entries as its
    # own (each was "delivery-0" before).
    import socket
    s = sinks()
    a = start(hookd_factory, [dest("a", s.url)])
    b = start(hookd_factory, [dest("a", s.url)])
    post(a, b'{"c":1}')
    post(b, b'{"c":2}')
    harness.wait_for(lambda: len(s.got()) >= 2, 10)
    c = redis_server.client()
    try:
        harness.wait_for(lambda: len(c.xinfo_consumers("hookd:events", "delivery")) >= 2, 10,
                         what="both consumers in the group")
        names = sorted(x["name"].decode() for x in
                       c.xinfo_consumers("hookd:events", "delivery"))
    finally:
        c.close()
    host = socket.gethostname()
    assert names == sorted("%s/%s/delivery-0" % (host, h.instance) for h in (a, b)), names


def test_entry_headers_read_without_a_tree(hookd_factory, pg_server, redis_server, sinks):
    """The delivery worker reads an entry's headers field with the scanner,
    not a parsed tree: a JSON object carries its traceparent on; what
    PostgreSQL's jsonb would refuse (not JSON, not an object, a \\u0000)
    becomes {} rather than an entry that fails forever; a received_at with
    a short fraction is read to the microsecond."""
    a = sinks()
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    cases = {
        "traced": '{"traceparent":"%s","x-a":"1"}' % tp,
        "nul": '{"traceparent":"%s","x-a":"\\u0000"}' % tp,
        "array": '["traceparent"]',
        "text": 'traceparent: %s' % tp,
    }
    ids = {k: str(uuid.uuid4()) for k in cases}
    c = redis_server.client()
    try:
        for k, hdr in cases.items():
            c.xadd("hookd:events", {
                "id": ids[k], "source": "test", "received_at": "2026-11-26T08:00:00.5Z",
                "content_type": "application/json", "headers": hdr, "body": b'{"k":"%s"}' % k.encode()})
    finally:
        c.close()
    start(hookd_factory, [dest("alpha", a.url + "/in")])
    harness.wait_for(lambda: len(a.got()) >= 4, 30, what="the four events to arrive")
    got = {json.loads(r.body)["k"]: r for r in a.got()}
    assert got["traced"].headers.get("traceparent") == tp
    for k in ("nul", "array", "text"):
        assert "traceparent" not in got[k].headers, k
    stored = dict(rows(pg_server, "SELECT id::text, headers::text FROM events WHERE id = ANY(%s::uuid[])",
                       list(ids.values())))
    assert json.loads(stored[ids["traced"]]) == {"traceparent": tp, "x-a": "1"}
    for k in ("nul", "array", "text"):
        assert stored[ids[k]] == "{}", (k, stored[ids[k]])
    assert rows(pg_server, "SELECT DISTINCT to_char(received_at AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD HH24:MI:SS.US') FROM events WHERE id = ANY(%s::uuid[])",
                list(ids.values())) == [("2026-11-26 08:00:00.500000",)]
