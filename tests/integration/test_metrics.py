"""
test_metrics.py - the timing rings as a user sees them: hookctl stats, top
and tail, the admin port's /metrics, /stats and /health/detailed, and the
stats process surviving a killed worker and a stopped Redis.

Every count is exact: the stats process reads every record of every ring,
so after N requests it reports N, not "about N".
"""

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time

import requests

from prometheus_client.parser import text_string_to_metric_families

import harness

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def send(h, n, session=None, path="/webhooks/test"):
    """POST n JSON webhooks; returns [(status, event id, client seconds)]."""
    s = session or requests.Session()
    out = []
    for i in range(n):
        t0 = time.monotonic()
        r = s.post(h.url + path, json={"n": i, "pad": "x" * (i % 50)}, timeout=10)
        dt = time.monotonic() - t0
        out.append((r.status_code, r.headers.get("X-Hookd-Event-Id"), dt))
    return out


def stats(h):
    r = h.ctl("stats", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait_requests(h, n, timeout=10.0):
    """Wait until the snapshot counts n requests of the test source; return it."""
    return harness.wait_for(lambda: (s := stats(h))["ingest"]["sources"]["test"]["requests"]
                            >= n and s,
                            timeout, 0.05, what="hookctl stats to count %d requests" % n)


def admin_get(h, path, **kw):
    return requests.get(h.admin_url + path, timeout=5, **kw)


def reqs_404(h):
    return stats(h)["ingest"].get("unknown_source", {}).get("status", {}).get("404", 0)


def source_requests(h):
    return stats(h)["ingest"]["sources"]["test"]["requests"]


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_stats_counts_every_request_with_stage_percentiles(hookd_factory):
    h = hookd_factory(workers=2)
    n = 60
    sent = send(h, n)
    assert all(code == 202 for code, _, _ in sent), sent[:3]

    s = wait_requests(h, n)
    time.sleep(0.3)  # a late extra record would show up in the next publish
    s = stats(h)
    # The harness's readiness probes (GET /health) are ingest requests
    # too, without a source; the webhooks are exactly the test source's.
    ing = s["ingest"]
    probes = ing.get("unknown_source", {}).get("requests", 0)
    assert ing["requests"] == n + probes
    assert ing["errors"] == 0 and ing["duplicates"] == 0
    assert ing["status"]["202"] == n
    src = ing["sources"]["test"]
    assert src["requests"] == n and src["status"] == {"202": n}
    assert src["errors"] == 0 and src["duplicates"] == 0
    assert src["bytes"] > 0
    allw = src["windows"]["all"]
    total = allw["stages"]["total"]
    assert total["count"] == n
    for st in ("receive", "verify", "parse", "enqueue", "respond", "total"):
        assert allw["stages"][st]["count"] == n, st
    # Each server total is part of its request's client latency, so the
    # slowest server total is below the slowest client round trip.
    client = sorted(dt * 1000 for _, _, dt in sent)
    assert 0 < total["p50_ms"] <= total["p99_ms"] <= total["max_ms"]
    assert total["max_ms"] < client[-1]
    assert total["p50_ms"] < client[len(client) // 2]
    assert allw["stages"]["enqueue"]["max_ms"] <= total["max_ms"]
    assert s["redis"]["up"] is True
    assert s["ring_missed"] == 0

    # The 10 s window holds them once their seconds are complete.
    harness.wait_for(lambda: stats(h)["ingest"]["sources"]["test"]["windows"]["10s"]
                     ["requests"] == n, 5,
                     what="the 10 s window to hold every request")
    # The stream length is sampled once a second.
    harness.wait_for(lambda: stats(h)["redis"]["stream_length"] == n, 5,
                     what="stream_length to reach %d" % n)

    human = h.ctl("stats")
    assert human.returncode == 0, human.stderr
    assert "INGEST" in human.stdout and "enqueue" in human.stdout
    assert re.search(r"^\s+test\s+%d\s+0\b" % n, human.stdout, re.M), human.stdout


def test_stats_follow_prints_a_line_per_interval(hookd_factory):
    h = hookd_factory()
    argv = [h.hookctl_binary, "-c", h.config_path, "stats", "--follow", "0.2"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [p.stdout.readline() for _ in range(4)]
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(5)
    assert lines[0].split()[:3] == ["time", "req/s", "err/s"], lines
    assert all(len(ln.split()) == 9 for ln in lines[1:]), lines


def test_tail_prints_one_line_per_request(hookd_factory):
    h = hookd_factory(workers=2)
    argv = [h.hookctl_binary, "-c", h.config_path, "tail", "-n", "100"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = p.stderr.readline()
        assert "following" in ready, ready
        sent = send(h, 100)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 100, out[-2000:]
    ids = {UUID.search(ln).group(0) for ln in lines}
    assert ids == {eid for _, eid, _ in sent}
    for ln in lines:
        f = ln.split()
        assert f[1].startswith("ingest/") and f[2] == "ingest" and f[3] == "202", ln
        assert f[4] == "test", ln
        assert "total" in f and ln.endswith("ms"), ln


def test_tail_follows_a_restarted_hookd(hookd_factory):
    """A restarted hookd makes a new segment; a running tail notices within
    about a second and shows the new instance's requests."""
    h = hookd_factory()
    argv = [h.hookctl_binary, "-c", h.config_path, "tail", "-n", "5"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said = queue.Queue()
    threading.Thread(target=lambda: [said.put(ln) for ln in p.stderr], daemon=True).start()
    try:
        assert "following" in said.get(timeout=10)
        h.stop()
        h.start()
        h.wait_ready()
        line = said.get(timeout=10)
        assert "restarted" in line, line
        sent = send(h, 5)
        out, _ = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0
    ids = {UUID.search(ln).group(0) for ln in out.splitlines()}
    assert ids == {eid for _, eid, _ in sent}


def test_tail_json_and_filters(hookd_factory):
    h = hookd_factory()

    def start(*args):
        p = subprocess.Popen([h.hookctl_binary, "-c", h.config_path, "tail"] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert "following" in p.stderr.readline()
        return p

    slow = start("--slow", "100000", "-n", "1")
    other = start("--source", "nosuch", "-n", "1")
    js = start("--json", "--source", "test", "-n", "5")
    try:
        send(h, 5)
        out, err = js.communicate(timeout=20)
        assert js.returncode == 0, err
        recs = [json.loads(ln) for ln in out.splitlines()]
        assert len(recs) == 5
        for r in recs:
            assert r["kind"] == "ingest" and r["status"] == 202 and r["source"] == "test"
            assert UUID.fullmatch(r["id"])
            assert set(r["ms"]) == {"receive", "verify", "parse", "enqueue", "respond", "total"}
            assert r["ms"]["total"] >= r["ms"]["enqueue"]
        # Nothing takes 100 s and nothing comes from "nosuch": within a
        # bounded wait, both stay silent.
        time.sleep(1.0)
        assert slow.poll() is None and other.poll() is None
    finally:
        outs = {}
        for p in (slow, other, js):
            if p.poll() is None:
                p.kill()
            outs[p.pid] = p.communicate(timeout=5)[0]
    assert outs[slow.pid] == "" and outs[other.pid] == ""


def test_metrics_parse_and_agree_with_stats(hookd_factory):
    h = hookd_factory(workers=2)
    n = 25
    send(h, n)
    r = requests.post(h.url + "/webhooks/nosuch", json={}, timeout=5)
    assert r.status_code == 404
    wait_requests(h, n)
    harness.wait_for(lambda: reqs_404(h) == 1, 5, what="the 404 to be counted")

    resp = admin_get(h, "/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    fam = families(resp.text)
    reqs = {(s.labels["source"], s.labels["status"]): s.value
            for s in fam["hookd_ingest_requests"].samples}
    assert reqs[("test", "202")] == n
    assert reqs[("", "404")] == 1
    s = stats(h)
    assert s["ingest"]["sources"]["test"]["requests"] == reqs[("test", "202")]
    assert s["ingest"]["requests"] == sum(reqs.values())

    hist = fam["hookd_ingest_stage_seconds"]
    assert hist.type == "histogram"
    tot = {(x.name, x.labels.get("le")): x.value for x in hist.samples
           if x.labels["stage"] == "total" and x.labels["source"] == "test"}
    assert tot[("hookd_ingest_stage_seconds_count", None)] == n
    assert tot[("hookd_ingest_stage_seconds_bucket", "+Inf")] == n
    assert 0 < tot[("hookd_ingest_stage_seconds_sum", None)] < n * 10
    buckets = sorted((float(le), v) for (name, le), v in tot.items() if le)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "cumulative"

    up = {(x.labels["role"], x.labels["index"]): x.value
          for x in fam["hookd_process_up"].samples}
    assert up[("ingest", "0")] == 1 and up[("ingest", "1")] == 1
    assert up[("stats", "0")] == 1 and up[("master", "0")] == 1
    # The queue depth is sampled once a second.
    harness.wait_for(lambda: families(admin_get(h, "/metrics").text)
                     ["hookd_stream_length"].samples[0].value == n, 5,
                     what="hookd_stream_length to reach %d" % n)
    assert fam["hookd_ring_missed"].samples[0].value == 0
    for name in ("hookd_ingest_duplicates", "hookd_ingest_fallback", "hookd_ingest_bytes",
                 "hookd_process_restarts", "hookd_process_heartbeat_age_seconds",
                 "hookd_stream_pending", "hookd_delivery_attempts"):
        assert name in fam, name

    js = admin_get(h, "/metrics", params={"format": "json"}).json()
    byname = {m["name"]: m for m in js["metrics"]}
    jreqs = {(x["labels"]["source"], x["labels"]["status"]): x["value"]
             for x in byname["hookd_ingest_requests_total"]["samples"]}
    assert jreqs == reqs

    st = admin_get(h, "/stats").json()
    assert st["ingest"]["sources"]["test"]["requests"] == n
    assert st["ingest"]["unknown_source"]["status"]["404"] == 1

    det = admin_get(h, "/health/detailed").json()
    assert det["status"] == "ok" and det["redis"]["up"] is True
    roles = sorted(p["role"] for p in det["processes"] if p["alive"])
    assert roles == ["delivery", "ingest", "ingest", "master", "stats"]
    assert admin_get(h, "/nope").status_code == 404


def test_reset_needs_the_admin_token(hookd_factory):
    h = hookd_factory(admin_token="s3cret-token")
    send(h, 3)
    wait_requests(h, 3)
    url = h.admin_url + "/stats/reset"
    r = requests.post(url, timeout=5)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = requests.post(url, headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert source_requests(h) == 3
    r = requests.post(url, headers={"Authorization": "Bearer s3cret-token"}, timeout=5)
    assert r.status_code == 200, r.text
    assert source_requests(h) == 0
    send(h, 2)
    wait_requests(h, 2)
    assert source_requests(h) == 2

    h2 = hookd_factory()            # admin.token empty: disabled, not open
    r = requests.post(h2.admin_url + "/stats/reset",
                      headers={"Authorization": "Bearer "}, timeout=5)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"


def _post_retrying(h, session, i):
    """A request that a worker being killed may drop: retry until answered."""
    def once():
        return session.post(h.url + "/webhooks/test", json={"k": i}, timeout=5,
                            headers={"Idempotency-Key": "kill-%d" % i})
    r = harness.wait_for(once, 15, 0.05, what="request %d to be answered" % i,
                         ignore=(requests.ConnectionError,))
    return r.status_code


def test_killed_worker_and_stats_keeps_counting(hookd_factory):
    h = hookd_factory(workers=2)
    first = send(h, 10)
    assert all(c == 202 for c, _, _ in first)
    wait_requests(h, 10)
    st = json.loads(h.ctl("status", "--json").stdout)
    victim = next(p for p in st["processes"] if p["role"] == "ingest" and p["index"] == 0)
    os.kill(victim["pid"], signal.SIGKILL)

    def replaced():
        for p in json.loads(h.ctl("status", "--json").stdout)["processes"]:
            if p["slot"] == victim["slot"]:
                return p["state"] == "dead" or (p["pid"] != victim["pid"]
                                                and p["state"] == "running")
        return False
    harness.wait_for(replaced, 10, what="the killed worker to show dead or respawned")

    session = requests.Session()
    codes = [_post_retrying(h, session, i) for i in range(30)]
    # A retried request may have been stored before its answer was lost:
    # then it is a duplicate (200), never lost.
    assert all(c in (200, 202) for c in codes), codes
    s = wait_requests(h, 40, timeout=15)
    assert s["ingest"]["requests"] >= 40
    assert s["ingest"]["status"].get("202", 0) + s["ingest"]["status"].get("200", 0) >= 40
    harness.wait_for(lambda: all(p["state"] == "running" for p in
                                 json.loads(h.ctl("status", "--json").stdout)["processes"]
                                 if p["role"] == "ingest"), 10,
                     what="both ingest workers running again")


def test_redis_down_reports_unknown_queue_depth(hookd_factory, redis_server):
    h = hookd_factory()
    harness.wait_for(lambda: stats(h)["redis"]["up"] is True, 5, what="redis up")
    redis_server.stop()
    try:
        s = harness.wait_for(lambda: (x := stats(h))["redis"]["up"] is False and x, 10,
                             what="redis to be reported down")
        assert s["redis"]["stream_length"] == -1 and s["redis"]["pending"] == -1
        fam = families(admin_get(h, "/metrics").text)
        assert fam["hookd_redis_up"].samples[0].value == 0
        assert fam["hookd_stream_length"].samples[0].value == -1
        assert admin_get(h, "/health/detailed").json()["status"] == "degraded"
    finally:
        redis_server.start()
    harness.wait_for(lambda: stats(h)["redis"]["up"] is True, 10, what="redis back up")


def test_top_piped_prints_frames(hookd_factory):
    h = hookd_factory()
    send(h, 5)
    wait_requests(h, 5)
    r = h.ctl("top", "-n", "2", "-d", "0.3", timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("hookd top - ") == 2
    assert "\033[" not in r.stdout          # not a terminal: no escapes
    assert "INGEST" in r.stdout and "receive" in r.stdout and "ROLE" in r.stdout
    assert re.search(r"^\s+test\s", r.stdout, re.M)
    assert h.ctl("top", "-n", "0").returncode == 2


def test_reload_new_stats_process_takes_over(hookd_factory):
    h = hookd_factory()
    send(h, 10)
    old = wait_requests(h, 10)["stats_pid"]
    h.reload()
    # The new generation's stats process reads the rings from their oldest
    # record, so what was counted before the reload is counted again, once.
    s = harness.wait_for(lambda: (x := stats(h))["stats_pid"] != old and x["age_ms"] < 500
                         and x, 10, what="a new stats process to publish")
    assert s["ingest"]["sources"]["test"]["requests"] == 10
    h.wait_ready()
    send(h, 5)
    wait_requests(h, 15)
    time.sleep(0.3)
    assert stats(h)["ingest"]["sources"]["test"]["requests"] == 15


def _admin_raw(h, chunks, delay=0.0, timeout=8.0):
    """Send chunks to the admin port (delay seconds apart, stopping once an
    answer starts), then read the answer; returns (bytes, seconds)."""
    import socket
    host, port = h.admin_listen.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    start = time.monotonic()
    out = b""
    try:
        s.setblocking(False)
        for ch in chunks:
            try:
                s.sendall(ch)
            except (BlockingIOError, OSError):
                break
            try:
                got = s.recv(65536)
                if got or got == b"":
                    out += got
                    break
            except BlockingIOError:
                pass
            time.sleep(delay)
        s.settimeout(timeout)
        while True:
            try:
                got = s.recv(65536)
            except OSError:
                break
            if not got:
                break
            out += got
    finally:
        s.close()
    return out, time.monotonic() - start


def test_admin_port_limits_and_deadlines(hookd_factory):
    # The admin port has the ingest port's limits: a huge head gets a 431
    # at once, and a client trickling its head is cut at the header
    # deadline, however steadily it sends.
    h = hookd_factory(limits={"max_header_bytes": 8192, "header_timeout_ms": 1000})
    big = [b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: "] + [b"a" * 65536] * 64
    out, _ = _admin_raw(h, big)
    assert out.startswith(b"HTTP/1.1 431 "), out[:200]
    trickle = [b"GET /metrics HTTP/1.1\r\n"] + [b"X-%d: y\r\n" % i for i in range(60)]
    out, took = _admin_raw(h, trickle, delay=0.1)
    assert out.startswith(b"HTTP/1.1 408 "), out[:200]
    assert took < 4.0, took
    assert admin_get(h, "/health").status_code == 200


def test_storage_gauges(hookd_factory, pg_server):
    # The stats process samples PostgreSQL's storage (at start, then every
    # 10 s): the events it holds, their oldest, PostgreSQL up.
    h = hookd_factory()
    before = time.time()
    sent = send(h, 20)
    assert all(code == 202 for code, _, _ in sent)
    conn = pg_server.connect()
    try:
        harness.wait_for(lambda: _count(conn, "SELECT count(*) FROM events") == 20, 10,
                         what="the events in PostgreSQL")
    finally:
        conn.close()

    def sampled():
        f = families(admin_get(h, "/metrics").text)
        oldest = f["hookd_storage_oldest_event_timestamp_seconds"].samples[0].value
        return oldest > 0 and f

    f = harness.wait_for(sampled, 15, what="a storage sample with the events")
    assert f["hookd_postgres_up"].samples[0].value == 1
    by_table = {s.labels["table"]: s.value for s in f["hookd_storage_bytes"].samples}
    assert set(by_table) == {"events", "deliveries", "attempts", "inbox"}
    assert all(v > 0 for v in by_table.values()), by_table
    oldest = f["hookd_storage_oldest_event_timestamp_seconds"].samples[0].value
    assert before - 5 <= oldest <= time.time() + 1, (before, oldest)
    assert f["hookd_storage_partitions_kept"].samples[0].value == 0


def _count(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_alert_gauges_count_dead_overdue_and_inbox(hookd_factory, pg_server):
    # Rows made by hand (no delivery worker runs to change them): two dead
    # deliveries, one overdue by two minutes, one due in the future, one
    # overdue but held (its destination disabled: not overdue, held), one
    # inbox row.
    h = hookd_factory(delivery_workers=0)
    conn = pg_server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO destination_state (destination, disabled, reason)"
                        " VALUES ('held', true, 'test')")
            for dest, status, due in (("x", "dead", None), ("x", "dead", None),
                                      ("x", "retrying", "now() - interval '2 minutes'"),
                                      ("x", "retrying", "now() + interval '1 hour'"),
                                      ("held", "pending", "now() - interval '2 minutes'")):
                cur.execute("INSERT INTO events (id, source, received_at, body)"
                            " VALUES (gen_random_uuid(), 'test', now(), '{}')"
                            " RETURNING id, received_at")
                eid, at = cur.fetchone()
                cur.execute("INSERT INTO deliveries (event_id, destination, received_at,"
                            " status, next_attempt_at) VALUES (%%s, %%s, %%s, %%s, %s)"
                            % (due or "NULL"), (eid, dest, at, status))
            cur.execute("INSERT INTO inbox (id, source, received_at, body)"
                        " VALUES (gen_random_uuid(), 'test', now(), '{}')")
    finally:
        conn.close()

    def sampled():
        f = families(admin_get(h, "/metrics").text)
        return f["hookd_inbox_rows"].samples[0].value == 1 and f

    f = harness.wait_for(sampled, 15, what="a sample with the rows")
    assert f["hookd_dlq_deliveries"].samples[0].value == 2
    assert f["hookd_deliveries_overdue"].samples[0].value == 1
