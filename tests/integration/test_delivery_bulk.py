"""
test_delivery_bulk.py - many events, two destinations, the operator's view:
10 000 events posted with bin/hookbench reach both demo receivers
(perf/sink.py, which checks every webhook-signature) exactly once, and
PostgreSQL agrees with what the receivers counted; a dead delivery shows in
`hookctl dlq` and `hookctl replay` delivers it once the receiver is healthy.
"""

import json
import os
import subprocess

import pytest
import requests

import harness
from sinkutil import DemoSink, whsec

SECRET_A = whsec(b"bulk-test-key-a-not-real")
SECRET_B = whsec(b"bulk-test-key-b-not-real")
N = 10000




@pytest.fixture
def demo_sinks(workdir):
    made = []

    def make(name, secret):
        s = DemoSink(workdir, name, secret)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


one = harness.PostgresServer.rows


def test_ten_thousand_events_two_destinations_exactly_once(hookd_factory, pg_server,
                                                          demo_sinks):
    a, b = demo_sinks("a", SECRET_A), demo_sinks("b", SECRET_B)
    dests = ",\n".join(
        '{ name = "%s"; url = "%s/hooks"; sources = ["test"]; signing_secret = "%s"; }'
        % (n, s.url, sec) for n, s, sec in (("a", a, SECRET_A), ("b", b, SECRET_B)))
    h = hookd_factory(workers=2, destinations=dests,
                      delivery={"retry_schedule": [1, 2], "timeout_ms": 5000})
    r = subprocess.run([os.path.join(harness.bin_dir(), "hookbench"),
                        "-u", h.url + "/webhooks/test", "-n", str(N), "-c", "8", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["completed"] == N and report["status"] == {"202": N}, report
    assert report["errors"]["total"] == 0, report

    def arrived():
        sa, sb = a.stats(), b.stats()
        return sa["unique"] >= N and sb["unique"] >= N and (sa, sb)

    sa, sb = harness.wait_for(arrived, 240, interval=0.5, what="%d events at both sinks" % N)
    for s in (sa, sb):
        assert s["unique"] == N and s["duplicates"] == 0 and s["bad_signature"] == 0, s
    rows = one(pg_server, "SELECT destination, status, attempts, count(*) FROM deliveries "
               "GROUP BY 1, 2, 3 ORDER BY 1")
    assert rows == [("a", "succeeded", 1, N), ("b", "succeeded", 1, N)], rows
    att = one(pg_server, "SELECT destination, status_code, count(*) FROM attempts "
              "GROUP BY 1, 2 ORDER BY 1")
    assert att == [("a", 200, N), ("b", 200, N)], att
    assert one(pg_server, "SELECT count(*) FROM events")[0][0] == N


def test_dead_delivery_listed_and_replayed(hookd_factory, pg_server, demo_sinks):
    s = demo_sinks("r", SECRET_A)
    s.config(status=500)
    h = hookd_factory(destinations='{ name = "crm"; url = "%s/hooks"; sources = ["test"]; '
                      'signing_secret = "%s"; }' % (s.url, SECRET_A),
                      delivery={"retry_schedule": [1], "jitter": 0.0, "timeout_ms": 2000})
    r = requests.post(h.url + "/webhooks/test", data=b'{"order": 42}',
                      headers={"Content-Type": "application/json"}, timeout=5)
    eid = r.json()["id"]
    harness.wait_for(lambda: one(pg_server, "SELECT status FROM deliveries WHERE event_id = %s",
                                 eid) == [("dead",)], 20, what="the delivery to be dead")
    dlq = h.ctl("dlq")
    assert dlq.returncode == 0 and eid in dlq.stdout and "crm" in dlq.stdout
    dead = json.loads(h.ctl("dlq", "--json").stdout)
    assert [(d["event_id"], d["destination"]) for d in dead] == [(eid, "crm")], dead
    before = s.stats()["requests"]
    s.config(status=200)
    rp = h.ctl("replay", eid)
    assert rp.returncode == 0, rp.stderr
    harness.wait_for(lambda: one(pg_server, "SELECT status FROM deliveries WHERE event_id = %s",
                                 eid) == [("succeeded",)], 20, what="the replayed delivery")
    assert s.stats()["requests"] == before + 1
    assert eid not in h.ctl("dlq").stdout
    ev = h.ctl("event", eid)
    assert ev.returncode == 0 and "succeeded" in ev.stdout
