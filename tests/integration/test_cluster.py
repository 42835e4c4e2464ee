"""
test_cluster.py - two hookd instances (different instance names and ports,
two delivery workers each) on one Redis and one PostgreSQL, as two hosts
would run them:

- 5 000 events posted to both at once reach the receiver exactly once;
- one instance restarted (TERM, then started again) while the other is in
  the middle of delivering to a slow receiver: nothing twice, nothing lost;
- a destination's rate_per_s and a source's rate_per_s hold for the
  deployment, not per instance or per worker (the tolerance is stated at
  each assertion);
- a destination's concurrency and its open breaker are shared.

The first two are the heavy ones: they run on the release build only
(HOOKD_BIN_DIR without "asan"); the limits run on both.
"""

import json
import os
import subprocess
import threading
import time

import pytest
import requests

import harness
from sinkutil import DemoSink, Sink

RELEASE = "asan" not in harness.bin_dir()
release_only = pytest.mark.skipif(not RELEASE, reason="heavy: release build only")




@pytest.fixture
def demo_sink(workdir):
    s = DemoSink(workdir)
    yield s
    s.close()


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()


def dest(name, url, extra=""):
    return '{ name = "%s"; url = "%s"; sources = ["test"]; %s }' % (name, url, extra)


def pair(hookd_factory, dests, workers=1, sources=None, **delivery):
    """Two instances with two delivery workers each, the same config but
    for the instance name and the ports."""
    d = {"retry_schedule": [1, 1, 1], "jitter": 0.0, "timeout_ms": 5000}
    d.update(delivery)
    kw = {"workers": workers, "delivery_workers": 2, "delivery": d, "destinations": dests}
    if sources is not None:
        kw["sources"] = sources
    return hookd_factory(instance="hosta", **kw), hookd_factory(instance="hostb", **kw)


one = harness.PostgresServer.rows


def hookbench(h, n, conc=4):
    return subprocess.Popen(
        [os.path.join(harness.bin_dir(), "hookbench"), "-u", h.url + "/webhooks/test",
         "-n", str(n), "-c", str(conc), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def bench_done(p, n):
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    report = json.loads(out)
    assert report["completed"] == n and report["status"] == {"202": n}, report


def post_some(hs, n):
    """n events, spread over the instances hs, from 4 threads at once."""
    ids, lock = [], threading.Lock()

    def client(k):
        s = requests.Session()
        for i in range(k, n, 4):
            r = s.post(hs[i % len(hs)].url + "/webhooks/test", data=b'{"n":%d}' % i,
                       headers={"Content-Type": "application/json"}, timeout=10)
            assert r.status_code == 202, r.text
            with lock:
                ids.append(r.json()["id"])

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(ids) == n
    return ids


def max_in_window(times, width=1.0):
    """The most events in any window [t, t + width) of the sorted times."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


@release_only
def test_two_instances_deliver_every_event_exactly_once(hookd_factory, pg_server,
                                                       redis_server, demo_sink):
    n = 5000
    a, b = pair(hookd_factory, dest("crm", demo_sink.url + "/hooks"))
    pa, pb = hookbench(a, n // 2), hookbench(b, n // 2)
    bench_done(pa, n // 2)
    bench_done(pb, n // 2)

    st = harness.wait_for(lambda: demo_sink.stats()["unique"] >= n and demo_sink.stats(),
                          120, interval=0.5, what="%d events at the sink" % n)
    assert st["unique"] == n and st["duplicates"] == 0 and st["retries"] == 0, st
    assert one(pg_server, "SELECT status, attempts, count(*) FROM deliveries "
               "GROUP BY 1, 2") == [("succeeded", 1, n)]
    # Both instances delivered, each under names of its own.
    c = redis_server.client()
    try:
        consumers = {x["name"].decode() for x in c.xinfo_consumers("hookd:events", "delivery")}
    finally:
        c.close()
    assert {x.split("/")[1] for x in consumers} == {"hosta", "hostb"}, consumers


@release_only
def test_restart_mid_delivery_sends_nothing_twice(hookd_factory, pg_server, demo_sink):
    n = 600
    demo_sink.config(delay_ms=200)
    a, b = pair(hookd_factory, dest("slow", demo_sink.url + "/hooks", "concurrency = 8;"))
    post_some([a, b], n)
    harness.wait_for(lambda: demo_sink.stats()["requests"] >= 100, 30, interval=0.1,
                     what="deliveries under way")
    assert b.stop() == 0            # TERM: a drains what is in flight and exits
    b.start()
    b.wait_ready()
    st = harness.wait_for(lambda: demo_sink.stats()["unique"] >= n and demo_sink.stats(),
                          90, interval=0.5, what="every event after the restart")
    time.sleep(1.0)                 # anything sent twice would show by now
    st = demo_sink.stats()
    assert st["unique"] == n and st["duplicates"] == 0, st
    assert one(pg_server, "SELECT status, count(*) FROM deliveries GROUP BY 1") == \
        [("succeeded", n)]


def test_destination_rate_holds_across_instances(hookd_factory, pg_server, sink):
    rate, n = 50, 300
    a, b = pair(hookd_factory, dest("paced", sink.url, "rate_per_s = 50.0; concurrency = 64;"))
    post_some([a, b], n)
    harness.wait_for(lambda: len(sink.got()) >= n, 60, interval=0.2,
                     what="%d deliveries at %d/s" % (n, rate))
    times = sorted(r.t for r in sink.got())
    assert len(set(sink.ids())) == n
    # The bucket's burst is max(1, rate) = 50, so a window may hold the
    # burst plus a second's worth; 20% more for the leases that the four
    # workers hold.  Per worker (the old behaviour) it would be 200 + 200.
    burst = rate
    peak = max_in_window(times)
    assert peak <= rate * 1.2 + burst, peak
    # Once the burst is spent: about the rate.  The times are when the
    # receiver's thread ran, and on a loaded two-CPU machine it can run late
    # and then take a bunch at once, so a window is allowed 40% over; the
    # spread below holds the average to the rate.
    steady = [t for t in times if t >= times[0] + 2.0]
    assert max_in_window(steady) <= rate * 1.4, max_in_window(steady)
    spread = times[-1] - times[0]
    assert spread >= (n - burst) / rate * 0.8, spread
    print("destination rate %d/s: peak 1 s window %d, steady peak %d, %d in %.2f s" % (
        rate, peak, max_in_window(steady), n, spread))


def test_source_rate_holds_across_instances(hookd_factory, redis_server):
    rate, burst, secs = 50, 10, 4.0
    src = '{ name = "test"; rate_per_s = %d; burst = %d; }' % (rate, burst)
    a, b = pair(hookd_factory, None, workers=2, sources=src)
    done, lock = [], threading.Lock()
    start = time.monotonic()

    def client(h):
        s = requests.Session()
        for i in range(2000):
            if time.monotonic() - start >= secs:
                break
            r = s.post(h.url + "/webhooks/test", data=b"{}",
                       headers={"Content-Type": "application/json"}, timeout=10)
            assert r.status_code in (202, 429), r.text
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
            with lock:
                done.append((time.monotonic(), r.status_code))

    threads = [threading.Thread(target=client, args=(h,)) for h in (a, b) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - start
    ok = sorted(t for t, c in done if c == 202)
    refused = sum(1 for _, c in done if c == 429)
    assert refused > 0
    # Any 1 s window: at most the rate, the burst, and what the four
    # workers hold (a lease of 1 and a credit of 1 each at 50/s): 68; 5%
    # more because the times are taken at the client.  Per instance (the
    # old limit) it would be twice the rate.
    peak = max_in_window(ok)
    assert peak <= rate * 1.25 + burst, peak
    assert len(ok) <= rate * elapsed * 1.2 + burst, (len(ok), elapsed)
    assert len(ok) >= rate * (elapsed - 1) * 0.8, (len(ok), elapsed)
    print("source rate %d/s burst %d: peak 1 s window %d, %d accepted and %d refused in "
          "%.2f s" % (rate, burst, peak, len(ok), refused, elapsed))
    # The leases go by EVALSHA: EVAL only when a connection's script cache
    # is cold (once per worker), not per call.
    c = redis_server.client()
    try:
        stats = c.info("commandstats")
    finally:
        c.close()
    evals = stats.get("cmdstat_eval", {}).get("calls", 0)
    assert stats["cmdstat_evalsha"]["calls"] >= len(ok), stats["cmdstat_evalsha"]
    assert evals <= 20, evals


def test_concurrency_holds_across_instances(hookd_factory, pg_server, sink):
    n, limit = 40, 3
    inflight, peak, lock = [0], [0], threading.Lock()
    gate = threading.Event()
    orig = sink.server.RequestHandlerClass.do_POST

    def counting(handler):
        with lock:
            inflight[0] += 1
            peak[0] = max(peak[0], inflight[0])
        try:
            gate.wait(0.15)
            orig(handler)
        finally:
            with lock:
                inflight[0] -= 1

    sink.server.RequestHandlerClass.do_POST = counting
    a, b = pair(hookd_factory, dest("narrow", sink.url, "concurrency = %d;" % limit))
    post_some([a, b], n)
    harness.wait_for(lambda: len(set(sink.ids())) >= n, 60, interval=0.2,
                     what="%d deliveries, %d at a time" % (n, limit))
    # Four workers each under concurrency = 3 would reach 12.
    assert peak[0] <= limit, peak[0]


def test_open_breaker_is_shared(hookd_factory, redis_server, sink):
    sink.answer(500)
    a, b = pair(hookd_factory, dest("down", sink.url), retry_schedule=[1, 1, 1, 1, 1, 1])
    # Enough failures in a row for some worker's breaker to open.
    post_some([a], 12)
    c = redis_server.client()
    try:
        harness.wait_for(lambda: c.get("hookd:breaker:down") is not None, 20,
                         what="the breaker key")
        until = int(c.get("hookd:breaker:down"))
        assert until > time.time() * 1000 + 20000
        assert c.pttl("hookd:breaker:down") > 20000
        # Instance b's workers hold back too (once they have read the key,
        # within a tick): its events wait in PostgreSQL instead of reaching
        # the failing destination.
        time.sleep(1.5)
        before = len(sink.got())
        post_some([b], 6)
        time.sleep(2.0)
        assert len(sink.got()) == before
        # A successful probe deletes the key (here the test does): the
        # workers that only learned of it from Redis close theirs.
        c.delete("hookd:breaker:down")
        harness.wait_for(lambda: "another worker's probe" in b.log_text(), 10,
                         what="instance b to see the breaker closed")
    finally:
        c.close()


def test_breaker_opened_while_redis_is_down_stays_open(hookd_factory, redis_server, sink):
    """A breaker that opens while Redis does not answer cannot write its
    key (the SET goes with the connection).  Once Redis is back, reading no
    key must not count as another worker's successful probe: there is no
    other worker here, and the breaker stays open."""
    sink.answer(500)
    sink.hold()
    h = hookd_factory(delivery_workers=1, destinations=dest("down", sink.url),
                      delivery={"retry_schedule": [600], "jitter": 0.0,
                                "timeout_ms": 20000})
    post_some([h], 6)
    harness.wait_for(lambda: sink.held >= 5, 20, what="five attempts in flight")
    redis_server.pause()
    try:
        # Past redis.timeout_ms the worker gives up its connection; the
        # breaker then opens with nowhere to write its key.
        harness.wait_for(lambda: "delivery commands connection down" in h.log_text(),
                         15, what="the delivery worker to leave Redis")
        sink.release()
        harness.wait_for(lambda: "circuit open" in h.log_text(), 10,
                         what="the breaker to open")
    finally:
        redis_server.resume()
    harness.wait_for(lambda: "delivery commands connection back" in h.log_text(), 15,
                     what="the delivery worker back on Redis")
    time.sleep(2.0)  # four reads of the breaker keys
    assert "another worker's probe" not in h.log_text(), h.log_text()


def test_source_rate_falls_back_to_the_host_while_redis_is_down(hookd_factory, redis_server,
                                                                pg_server):
    src = '{ name = "test"; rate_per_s = 20; burst = 5; }'
    h = hookd_factory(workers=2, sources=src)
    redis_server.stop()
    try:
        s = requests.Session()
        start = time.monotonic()
        codes = [s.post(h.url + "/webhooks/test", data=b"{}", timeout=10,
                        headers={"Content-Type": "application/json"}).status_code
                 for _ in range(60)]
        elapsed = time.monotonic() - start
        ok = codes.count(202)
        # This host's bucket: the burst and 20/s, the events in the inbox.
        assert set(codes) <= {202, 429} and 429 in codes, codes
        assert 5 <= ok <= 5 + 20 * elapsed + 1, (ok, elapsed)
        assert one(pg_server, "SELECT count(*) FROM inbox")[0][0] == ok
        assert "fall back to this host's" in h.log_text()
    finally:
        redis_server.start()
