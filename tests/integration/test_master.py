"""
test_master.py - the master process: config check, supervision, reload,
stop, the shared-memory segment and migrations, driven through the real
binaries.
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import harness


def status(h):
    # By instance name: the config file may be broken on purpose.
    r = h.ctl("-i", h.instance, "status", "--json", config=False)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def procs(h, role=None, state="running"):
    out = [p for p in status(h)["processes"] if p["role"] != "master"]
    if role:
        out = [p for p in out if p["role"] == role]
    if state:
        out = [p for p in out if p["state"] == state]
    return out


def get(h, path="/health", timeout=5.0):
    return harness.http_get(h.url + path, timeout=timeout)


def test_config_check_ok_and_error(workdir, redis_server, pg_server):
    hookd = os.path.join(harness.bin_dir(), "hookd")
    good = os.path.join(workdir, "good.conf")
    with open(good, "w") as f:
        f.write(harness.render_config(redis_url=redis_server.url,
                                      postgres_url=pg_server.url))
    r = subprocess.run([hookd, "-t", "-c", good], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == good + ": ok"

    bad = os.path.join(workdir, "bad.conf")
    with open(bad, "w") as f:
        f.write('instance = "x";\nlisten = "127.0.0.1:8080";\nworkers = "two";\n')
    r = subprocess.run([hookd, "-t", "-c", bad], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith(bad + ":3: "), r.stderr
    assert "workers" in r.stderr

    r = subprocess.run([hookd, "-t", "-c", os.path.join(workdir, "missing.conf")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "missing.conf" in r.stderr

    r = subprocess.run([hookd, "-x"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr


def test_health_status_and_migrations(hookd_factory, pg_server):
    h = hookd_factory(workers=2, delivery_workers=1)
    assert get(h) == (200, b'{"status":"ok"}')
    st = status(h)
    assert st["master_pid"] == h.pid and st["master_alive"]
    roles = sorted((p["role"], p["index"]) for p in procs(h))
    assert roles == [("delivery", 0), ("ingest", 0), ("ingest", 1), ("stats", 0)]
    assert sorted(p["pid"] for p in procs(h)) == h.child_pids()
    for p in procs(h):
        assert p["heartbeat_age_ms"] < 2000

    text = h.ctl("status")
    assert text.returncode == 0
    assert "ROLE" in text.stdout and "ingest" in text.stdout

    with pg_server.connect() as db, db.cursor() as cur:
        cur.execute("SELECT version FROM hookd_migrations ORDER BY version")
        versions = [r[0] for r in cur.fetchall()]
    assert versions and versions[0] == 1
    # A second start applies nothing again.
    h.stop()
    h2 = hookd_factory(workers=1)
    with pg_server.connect() as db, db.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT version) FROM hookd_migrations")
        n, distinct = cur.fetchone()
    assert n == distinct == len(versions)
    h2.stop()


def test_kill_worker_respawns_and_queued_requests_are_served(hookd_factory):
    h = hookd_factory(workers=1)
    (old,) = procs(h, "ingest")
    results = []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            started = time.monotonic()
            try:
                results.append((started, get(h, timeout=5.0)[0]))
            except Exception as e:  # a reset or refused connection
                results.append((started, repr(e)))

    t = threading.Thread(target=client)
    t.start()
    harness.wait_for(lambda: len(results) > 20, what="requests before the kill")
    os.kill(old["pid"], signal.SIGKILL)
    killed_at = time.monotonic()

    def respawned():
        p = procs(h, "ingest")
        return p and p[0]["pid"] != old["pid"] and p[0]

    new = harness.wait_for(respawned, timeout=5.0, interval=0.005,
                           what="a new ingest worker in slot %d" % old["slot"])
    elapsed = time.monotonic() - killed_at
    n_at_respawn = len(results)
    harness.wait_for(lambda: len(results) > n_at_respawn + 20,
                     what="requests after the respawn")
    stop.set()
    t.join()
    assert new["slot"] == old["slot"]
    assert new["restarts"] == old["restarts"] + 1
    assert elapsed < 0.5, "respawn took %.3fs" % elapsed
    # The one request the worker held when it died is lost with it; every
    # request sent after the kill waits in the socket's queue and is served.
    after = [r for t, r in results if t >= killed_at]
    before = [r for t, r in results if t < killed_at]
    assert len(after) > 20 and all(r == 200 for r in after), after[:5]
    assert sum(1 for r in before if r != 200) <= 1


def test_hup_with_broken_config_keeps_old_children(hookd_factory):
    h = hookd_factory(workers=1)
    before = sorted(p["pid"] for p in procs(h))
    good = h._config_text
    h.reload(good + "\nlistne = \"oops\";\n")
    harness.wait_for(lambda: "reload failed" in h.log_text(),
                     what="the reload failure in the log")
    nlines = good.count("\n") + 2
    assert "%s:%d:" % (h.config_path, nlines) in h.log_text()
    assert sorted(p["pid"] for p in procs(h)) == before
    assert get(h)[0] == 200
    assert status(h)["generation"] == 1


def test_hup_with_good_config_starts_new_generation(hookd_factory):
    h = hookd_factory(workers=1, drain_timeout_ms=2000)
    old = {p["pid"] for p in procs(h)}
    h.reload(re.sub(r"(?m)^workers = 1;", "workers = 2;", h._config_text))

    def new_generation():
        st = status(h)
        live = [p for p in st["processes"] if p["role"] != "master"
                and p["state"] == "running" and p["generation"] == 2]
        return st["generation"] == 2 and len(live) == 4 and live

    harness.wait_for(new_generation, timeout=10, what="generation 2 running")
    harness.wait_for(lambda: not (old & set(h.child_pids())), timeout=10,
                     what="the old generation to exit")
    assert get(h)[0] == 200
    assert status(h)["reloads"] == 1


def test_term_stops_everything_and_unlinks_segment(hookd_factory):
    h = hookd_factory(workers=2)
    children = h.child_pids()
    assert os.path.exists("/dev/shm/hookd." + h.instance)
    rc = h.stop()
    assert rc == 0
    for pid in children:
        assert not os.path.exists("/proc/%d" % pid) or \
            open("/proc/%d/stat" % pid).read().split()[2] == "Z"
    assert not os.path.exists("/dev/shm/hookd." + h.instance)


def test_stale_segment_is_replaced_and_live_owner_refuses(hookd_factory, workdir):
    h = hookd_factory(workers=1)
    config = h._config_text
    # A second master on the same instance refuses to start.
    second = harness.Hookd(config.replace(
        "listen = \"%s\"" % h.listen, "listen = \"127.0.0.1:%d\"" % harness.free_port()),
        workdir=os.path.join(workdir, "second"), start=False)
    second.start()
    assert second.wait(10) == 1
    assert "already running" in second.log_text()
    assert get(h)[0] == 200

    h.kill()            # kill -9 of the whole tree leaves the segment
    assert os.path.exists("/dev/shm/hookd." + h.instance)
    h2 = hookd_factory(config)
    assert get(h2)[0] == 200
    assert status(h2)["master_pid"] == h2.pid


def test_watchdog_kills_a_stuck_child(hookd_factory):
    h = hookd_factory(workers=1, watchdog_ms=600)
    (old,) = procs(h, "ingest")
    os.kill(old["pid"], signal.SIGSTOP)
    harness.wait_for(lambda: any(p["pid"] != old["pid"] for p in procs(h, "ingest")),
                     timeout=5, what="the watchdog to replace the stopped worker")
    assert "no heartbeat" in h.log_text()
    assert get(h)[0] == 200


def test_child_ignores_terminal_interrupt(hookd_factory):
    h = hookd_factory(workers=1)
    pids = h.child_pids()
    os.killpg(h.pid, signal.SIGINT)   # what Ctrl-C in a terminal does
    assert h.wait(15) == 0
    assert "killed by signal" not in h.log_text()
    for pid in pids:
        assert not os.path.exists("/proc/%d" % pid) or \
            open("/proc/%d/stat" % pid).read().split()[2] == "Z"


def test_log_file_reopened_on_usr1(hookd_factory, workdir):
    log = os.path.join(workdir, "hookd-file.log")
    h = hookd_factory(workers=1, log_file=log, log_format="json")
    harness.wait_for(lambda: os.path.exists(log) and "started ingest" in open(log).read(),
                     what="the log file")
    line = json.loads(open(log).readline())
    assert {"ts", "level", "role", "index", "pid", "msg"} <= set(line)
    os.rename(log, log + ".1")          # what logrotate does
    h.signal(signal.SIGUSR1)
    harness.wait_for(lambda: os.path.exists(log), what="a new log file after USR1")
    # Every process reopens and says so in the new file.
    harness.wait_for(lambda: {json.loads(l)["role"] for l in open(log)
                              if "log reopened" in l} >= {"master", "ingest", "delivery", "stats"},
                     what="every process to reopen the log")
    h.stop()
    new = [json.loads(l) for l in open(log)]
    assert {"master", "ingest", "delivery", "stats"} <= {l["role"] for l in new}
    assert any(l["role"] == "ingest" and "graceful stop" in l["msg"] for l in new)
    assert all(l["role"] == "master" for l in map(json.loads, open(log + ".1")))


def test_daemonize_writes_pid_file(workdir, redis_server, pg_server):
    pidfile = os.path.join(workdir, "d.pid")
    conf = harness.render_config(redis_url=redis_server.url, postgres_url=pg_server.url,
                                 workdir=workdir, pid_file=pidfile,
                                 log_file=os.path.join(workdir, "d.log"))
    path = os.path.join(workdir, "d.conf")
    with open(path, "w") as f:
        f.write(conf)
    r = subprocess.run([os.path.join(harness.bin_dir(), "hookd"), "-d", "-c", path],
                       cwd=harness.REPO, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    pid = harness.wait_for(lambda: os.path.exists(pidfile) and
                           int(open(pidfile).read().strip() or 0),
                           what="the pid file")
    try:
        listen = harness.conf_scalars(conf)["listen"]
        harness.wait_for(lambda: harness.http_get("http://%s/health" % listen)[0] == 200,
                         ignore=(OSError,), what="the daemon to serve")
        assert os.getsid(pid) != os.getsid(0)    # detached from our session
    finally:
        os.kill(pid, signal.SIGTERM)
    harness.wait_for(lambda: not os.path.exists("/proc/%d" % pid), timeout=15,
                     what="the daemon to exit")
    assert not os.path.exists(pidfile)


def test_master_as_pid_1(workdir, redis_server, pg_server):
    """In a container the master is pid 1: its children must not take
    getppid() == 1 for the master's death."""
    conf = harness.render_config(redis_url=redis_server.url, postgres_url=pg_server.url,
                                 workdir=workdir, workers=1)
    path = os.path.join(workdir, "pid1.conf")
    with open(path, "w") as f:
        f.write(conf)
    instance = harness.conf_scalars(conf)["instance"]
    log = open(os.path.join(workdir, "pid1.log"), "w")
    p = subprocess.Popen(["unshare", "--fork", "--pid", "--kill-child",
                          os.path.join(harness.bin_dir(), "hookd"), "-c", path],
                         cwd=harness.REPO, stdout=log, stderr=subprocess.STDOUT)
    ctl = [os.path.join(harness.bin_dir(), "hookctl"), "-i", instance, "status", "--json"]

    def settled():
        r = subprocess.run(ctl, capture_output=True, text=True)
        if not r.stdout:
            return None
        kids = [x for x in json.loads(r.stdout)["processes"] if x["role"] != "master"]
        return len(kids) == 3 and all(x["state"] == "running" and x["uptime_s"] > 1.5
                                      and x["restarts"] == 0 for x in kids)

    try:
        harness.wait_for(settled, timeout=10, what="children running 1.5 s without a restart")
    finally:
        # unshare forwards no signal: TERM the master, its only child.
        with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
            for pid in f.read().split():
                os.kill(int(pid), signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()        # --kill-child takes the master, PDEATHSIG the rest
            p.wait(5)
        log.close()
    text = open(os.path.join(workdir, "pid1.log")).read()
    assert "master is gone" not in text
    assert p.returncode == 0, text[-2000:]


def _keep_alive_load(h, stop, results, n_conns=6, cap=20000):
    """Clients that each keep one connection alive and POST back to back
    until stop is set (or cap requests): results gets (status or error)."""
    import http.client
    host, port = h.listen.rsplit(":", 1)

    def client(k):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        i = 0
        while not stop.is_set() and len(results) < cap:
            i += 1
            body = json.dumps({"c": k, "i": i}).encode()
            try:
                conn.request("POST", "/webhooks/test", body,
                             {"Content-Type": "application/json",
                              "Idempotency-Key": "ka-%d-%d" % (k, i)})
                r = conn.getresponse()
                data = r.read()
                results.append((time.monotonic(), r.status,
                                json.loads(data).get("id") if r.status < 300 else data))
            except (OSError, http.client.HTTPException) as e:
                results.append((time.monotonic(), "error", repr(e)))
                conn.close()
        conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True)
               for k in range(n_conns)]
    for t in threads:
        t.start()
    return threads


def test_reloads_and_stop_under_keep_alive_load_drop_nothing(hookd_factory, redis_server):
    # Ten reloads under keep-alive load, then a graceful stop: no request
    # fails before the stop begins, and every event answered 2xx is stored.
    h = hookd_factory(workers=2, delivery_workers=0, drain_timeout_ms=3000)
    stop, results = threading.Event(), []
    threads = _keep_alive_load(h, stop, results)
    try:
        harness.wait_for(lambda: len(results) > 50, timeout=10, what="load running")
        for n in range(2, 12):
            h.reload()
            harness.wait_for(lambda: status(h)["generation"] == n, timeout=10,
                             what="generation %d" % n)
            time.sleep(0.3)
        harness.wait_for(lambda: len(procs(h, state=None)) and all(
            p["generation"] == 11 for p in procs(h)), timeout=15,
            what="the old generations to exit")
        stop_at = time.monotonic()
        h.signal(signal.SIGTERM)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    before = [r for r in results if r[0] < stop_at]
    failed = [r for r in before if r[1] not in (200, 202)]
    assert len(before) > 200, len(before)
    assert not failed, "%d of %d requests failed before the stop: %s" % (
        len(failed), len(before), failed[:5])
    assert h.wait(15) == 0
    c = redis_server.client()
    try:
        stored = {e[1][b"id"].decode() for e in c.xrange("hookd:events")}
    finally:
        c.close()
    accepted = {r[2] for r in results if r[1] == 202}
    assert accepted and accepted <= stored, len(accepted - stored)


def test_failed_reload_keeps_the_running_sockets(hookd_factory):
    # A reload refused because the new listen address is taken must leave
    # the running generation whole: a worker that dies later is replaced
    # on its own socket.
    h = hookd_factory(workers=2)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        url = h.url             # the config file will name the busy port
        h.reload(re.sub(r'(?m)^listen = "[^"]*";',
                        'listen = "127.0.0.1:%d";' % port, h._config_text))
        harness.wait_for(lambda: "reload failed" in h.log_text(),
                         what="the reload failure in the log")
        time.sleep(0.5)         # a few master ticks
        old = procs(h, "ingest")[0]
        os.kill(old["pid"], signal.SIGKILL)
        harness.wait_for(lambda: len(procs(h, "ingest")) == 2 and all(
            p["pid"] != old["pid"] for p in procs(h, "ingest")),
            timeout=5, what="the worker replaced")
        for _ in range(20):
            assert harness.http_get(url + "/health", timeout=5)[0] == 200
        time.sleep(0.3)
        assert len(procs(h, "ingest")) == 2
        assert "cannot listen" not in h.log_text()
        assert status(h)["generation"] == 1
    finally:
        busy.close()


def test_signals_while_children_start_kill_none(hookd_factory):
    # USR1 reaches the children through the master; one arriving before a
    # child has its handlers must wait for them, not kill it.
    h = hookd_factory(workers=2, wait=False)
    harness.wait_for(lambda: "starting: instance" in h.log_text(),
                     what="the master's setup")
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        h.signal(signal.SIGUSR1)
        time.sleep(0.002)
    h.wait_ready()
    time.sleep(0.3)
    assert "killed by signal" not in h.log_text(), h.log_text()[-2000:]
    assert all(p["restarts"] == 0 for p in procs(h))
