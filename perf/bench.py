#!/usr/bin/python3
"""
bench.py - the benchmark behind `make bench` (perf/bench.sh runs it).

Starts, on loopback and in a temporary directory, a private Redis (AOF on,
appendfsync everysec), PostgreSQL, hookd, the delivery sink (bin/hooksink,
or perf/sink.py when it is not built) and nginx answering `return 202`,
drives them with bin/hookbench, and prints one table.  Every figure is the
median of BENCH_RUNS runs (default 3) with the minimum and maximum beside
it; hookd and nginx runs alternate, so that both see the same state of the
machine.  Everything it started is stopped on exit, on Ctrl-C and on
SIGTERM.

Environment:
  BENCH_RUNS=N          runs per figure (default 3)
  BENCH_QUICK=1         2-second runs instead of 5, a 60 s memory run: < 3 min
  BENCH_SECONDS=S       length of one run (overrides the above)
  BENCH_CONNS=N         hookbench connections for the closed-loop runs (64)
  BENCH_WORKERS=N       hookd ingest workers and nginx workers (default:
                        2 when the machine has 2 CPUs or more, else 1)
  BENCH_SOAK_SECONDS=S  length of the memory run of row 6b (default 300,
                        60 with BENCH_QUICK)
  BENCH_JSON=FILE       also write every raw result to FILE
  BENCH_KEEP=1          keep the temporary directory (logs, configs)

See perf/README.md for what each row means.
"""

import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

import harness  # noqa: E402

SECRET = "bench-github-secret-not-real"
BIN = os.path.join(REPO, "bin")
HOOKBENCH = os.path.join(BIN, "hookbench")
HOOKSINK = os.path.join(BIN, "hooksink")
SINK = os.path.join(REPO, "perf", "sink.py")
NGINX = "/usr/sbin/nginx"
E2E_RATE = 2000                 # events/s for the end-to-end latency row
SUSTAIN_RATE = 10000            # events/s offered in the sustained row (3e)


def env_int(name, default, lo=1, hi=1 << 30):
    v = os.environ.get(name)
    if not v:
        return default
    try:
        n = int(v)
    except ValueError:
        sys.exit("bench: %s must be a whole number, not %r" % (name, v))
    if not lo <= n <= hi:
        sys.exit("bench: %s must be between %d and %d" % (name, lo, hi))
    return n


QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
RUNS = env_int("BENCH_RUNS", 3, 1, 50)
SECONDS = env_int("BENCH_SECONDS", 2 if QUICK else 5, 1, 600)
WARMUP = 0.3 if SECONDS <= 2 else 0.5
CONNS = env_int("BENCH_CONNS", 64, 1, 10000)
NPROC = os.cpu_count() or 1
WORKERS = env_int("BENCH_WORKERS", 2 if NPROC >= 2 else 1, 1, 64)
SOAK = env_int("BENCH_SOAK_SECONDS", 60 if QUICK else 300, 10, 3600)


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Measuring

def hookbench(url, *args, duration=None, conns=None, warmup=None):
    """Run hookbench --json against url; the parsed report."""
    argv = [HOOKBENCH, "-u", url, "--json", "-c", str(conns or CONNS),
            "-w", str(WARMUP if warmup is None else warmup)]
    if duration is not None or "-n" not in args:
        argv += ["-d", str(duration or SECONDS)]
    argv += [str(a) for a in args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=(duration or SECONDS) + 60,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0 or not r.stdout.strip():
        raise RuntimeError("hookbench %s failed (%d): %s" % (" ".join(argv[1:]), r.returncode,
                                                              r.stderr.strip()))
    return json.loads(r.stdout)


def signed_args(keys="--unique-keys"):
    return ["--scheme", "github", "--secret", SECRET, keys]


def instance_pids(master_pid):
    """The master and every descendant."""
    children = {}
    for pid in harness._proc_pids():
        st = harness._proc_stat(pid)
        if st:
            children.setdefault(st[2], []).append(pid)
    out, todo = [], [master_pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_kib(pids):
    """(sum of RSS, sum of PSS) in KiB over pids, from /proc."""
    rss = pss = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


class MemorySampler:
    """Samples the memory of a hookd instance every 100 ms; keeps the peak."""

    def __init__(self, master_pid):
        self.master_pid = master_pid
        self.peak_rss = self.peak_pss = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            rss, pss = memory_kib(instance_pids(self.master_pid))
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self._stop.wait(0.1)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def cpu_jiffies():
    """(busy, steal) jiffies of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy, v[7] if len(v) > 7 else 0


def our_jiffies():
    """CPU time of this process and everything it started (servers, hookbench
    runs), in jiffies: live descendants from /proc, exited ones through the
    children times of whoever reaped them."""
    hz = os.sysconf("SC_CLK_TCK")
    t = os.times()
    total = (t.user + t.system + t.children_user + t.children_system) * hz
    for pid in instance_pids(os.getpid()):
        if pid != os.getpid():
            total += proc_jiffies(pid)
    return total


def proc_jiffies(pid):
    """utime + stime + cutime + cstime of pid in jiffies (its own CPU and
    that of the children it reaped), or 0 when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return 0
    fields = data[data.rindex(")") + 2:].split()
    return sum(int(x) for x in fields[11:15])


class CpuSplit:
    """CPU time of each part of the pipeline over one run, in jiffies: the
    ingest workers, the delivery workers and the rest of hookd (by the roles
    `hookctl status --json` gives), Redis, PostgreSQL and the sink, and the
    load generator (the bench's reaped children: hookbench is the only one
    that exits during a run).  Each part is its process tree as it is at
    each snapshot, a process counting the children it reaped: PostgreSQL's
    backends and autovacuum workers that come and go during a run are in
    its postmaster's figure once they have exited (a short-lived one alive
    at the start is then counted whole, its CPU before the start too)."""

    PARTS = ("ingest", "delivery", "redis", "postgres", "sink", "hookd other",
             "load generator")

    def __init__(self, b, h):
        self.roots = {"redis": b.redis.pid, "postgres": b.pg.pid, "sink": b.sink.pid}
        self.h = h
        self.roles = {}
        r = h.ctl("status", "--json")
        if r.returncode == 0:
            doc = json.loads(r.stdout)
            procs = doc.get("processes", doc) if isinstance(doc, dict) else doc
            self.roles = {p["pid"]: p.get("role", "") for p in procs if "pid" in p}
        else:
            log("row 3f: hookctl status failed; all of hookd counts as \"hookd other\"")
        self.t0 = self.snap()

    def snap(self):
        """jiffies per part now, and per pid (a pid's figure is taken from
        the snapshot it is in, so that one gone in between adds nothing)."""
        t = os.times()
        per = {}
        for part, root in self.roots.items():
            for pid in instance_pids(root):
                per[pid] = (part, proc_jiffies(pid))
        for pid in instance_pids(self.h.pid):
            role = self.roles.get(pid, "")
            per[pid] = (role if role in ("ingest", "delivery") else "hookd other",
                        proc_jiffies(pid))
        per["load generator"] = ("load generator",
                                 (t.children_user + t.children_system) * os.sysconf("SC_CLK_TCK"))
        return per

    def per_event_us(self, events):
        """us of CPU per event of each part since the start: processes in
        both snapshots by their difference, those born in between by all
        they used."""
        t1, hz = self.snap(), os.sysconf("SC_CLK_TCK")
        out = dict.fromkeys(self.PARTS, 0.0)
        for pid, (part, j) in t1.items():
            j0 = self.t0[pid][1] if pid in self.t0 else 0
            out[part] += max(j - j0, 0) * 1e6 / hz / max(events, 1)
        return out


class CpuAccount:
    """How much of the machine other processes used while the bench ran:
    on a shared machine, the figure that says whether to trust the others."""

    def __init__(self):
        self.busy0, self.steal0 = cpu_jiffies()
        self.ours0 = our_jiffies()
        self.t0 = time.monotonic()

    def report(self):
        busy, steal = cpu_jiffies()
        hz = os.sysconf("SC_CLK_TCK")
        wall = time.monotonic() - self.t0
        ours = (our_jiffies() - self.ours0) / hz
        other = max(0.0, (busy - self.busy0) / hz - ours)
        return {"wall_s": wall, "ours_cpu_s": ours, "other_cpu_s": other,
                "steal_cpu_s": (steal - self.steal0) / hz,
                "other_share": other / (wall * NPROC) if wall > 0 else 0.0}


# ---------------------------------------------------------------------------
# The servers

class Bench:
    def __init__(self):
        self.dir = harness.make_tempdir("bench-")
        if os.environ.get("BENCH_KEEP"):
            harness._tmpdirs.remove(self.dir)
        self.redis = self.pg = self.sink = self.nginx = None
        self.sink_port = None
        self.sink_name = None
        self.hookds = []
        self.raw = {}

    # -- Redis, PostgreSQL ---------------------------------------------------

    def start_stores(self):
        log("starting Redis (AOF, appendfsync everysec) and PostgreSQL in %s" % self.dir)
        self.redis = harness.RedisServer(os.path.join(self.dir, "redis"), appendfsync="everysec",
                                         extra_config="auto-aof-rewrite-percentage 0")
        self.pg = harness.PostgresServer(os.path.join(self.dir, "pg"))

    def redis_call(self, *args):
        c = self.redis.client(socket_timeout=120)
        try:
            return c.execute_command(*args)
        finally:
            c.close()

    def redis_reset(self, prefix="hookd:"):
        """Between runs: empty the stream (the consumer group stays) and
        rewrite the AOF, so that no run pays for the previous one's data or
        for an AOF rewrite that happens to start during it."""
        self.redis_call("XTRIM", prefix + "events", "MAXLEN", "0")
        try:
            self.redis_call("BGREWRITEAOF")
        except Exception:       # one already running: wait for it below
            pass
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            info = self.redis.client().info("persistence")
            if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
                break
            time.sleep(0.05)

    # -- the sink --------------------------------------------------------------

    def start_sink(self):
        # The C sink when built: sink.py's own CPU (10-16% of two CPUs at
        # 10 000 deliveries/s) would be taken from the pipeline it measures.
        if os.access(HOOKSINK, os.X_OK):
            argv, self.sink_name = [HOOKSINK], "hooksink"
        elif os.path.exists(SINK):
            argv, self.sink_name = ["/usr/bin/python3", SINK], "sink.py"
        else:
            return
        self.sink_port = harness.free_port()
        log("starting the sink (%s) on 127.0.0.1:%d" % (self.sink_name, self.sink_port))
        self.sink = harness._spawn(argv + ["--listen", "127.0.0.1:%d" % self.sink_port, "--quiet"],
                                   os.path.join(self.dir, "sink.log"))
        harness.wait_for(lambda: harness.http_get(self.sink_url("/_stats"))[0] == 200, 10,
                         what="the sink to answer", ignore=(OSError, harness.urllib.error.URLError))

    def sink_url(self, path):
        return "http://127.0.0.1:%d%s" % (self.sink_port, path)

    def sink_stats(self):
        status, body = harness.http_get(self.sink_url("/_stats"), timeout=10)
        return json.loads(body) if status == 200 else None

    def sink_reset(self):
        req = harness.urllib.request.Request(self.sink_url("/_reset"), data=b"", method="POST")
        harness._opener.open(req, timeout=10).read()

    # -- hookd ---------------------------------------------------------------

    def start_hookd(self, metrics=True, prefix="hookd:", delivery_workers=1):
        sources = ('{ name = "github"; verify = { scheme = "github"; secrets = ["%s"]; }; },\n'
                   '  { name = "test"; }' % SECRET)
        dests = None
        if self.sink_port:
            dests = ('{ name = "sink"; url = "http://127.0.0.1:%d/hooks"; sources = ["test"]; '
                     'concurrency = 256; }' % self.sink_port)
        workdir = harness.make_tempdir("bench-hookd-")
        conf = harness.render_config(
            redis_url=self.redis.url, postgres_url=self.pg.url, workdir=workdir,
            workers=WORKERS, delivery_workers=delivery_workers, metrics_enabled=metrics,
            redis_prefix=prefix, sources=sources, destinations=dests,
            log_level="warn")
        h = harness.Hookd(conf, workdir=workdir, start=False)
        self.hookds.append(h)
        h.start()
        h.wait_ready(timeout=30)
        return h

    def stop_hookd(self, h):
        try:
            h.close()
        finally:
            self.hookds.remove(h)

    # -- nginx ---------------------------------------------------------------

    def start_nginx(self):
        if not os.access(NGINX, os.X_OK):
            log("nginx not found at %s: the ceiling row is skipped" % NGINX)
            return None
        d = os.path.join(self.dir, "nginx")
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        port = harness.free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(d, port))
        self.nginx = harness._spawn([NGINX, "-e", os.path.join(d, "error.log"), "-p", d, "-c", conf],
                                    os.path.join(d, "stdout.log"))
        url = "http://127.0.0.1:%d" % port
        harness.wait_for(lambda: self._nginx_up(url), 10, what="nginx to answer",
                         ignore=(OSError, harness.urllib.error.URLError))
        return url

    def _nginx_up(self, url):
        if self.nginx.poll() is not None:
            raise RuntimeError("nginx exited with %s; see %s" % (self.nginx.returncode, self.dir))
        req = harness.urllib.request.Request(url + "/webhooks/x", data=b"{}", method="POST")
        try:
            return harness._opener.open(req, timeout=1).status == 202
        except harness.urllib.error.HTTPError as e:
            return e.code == 202

    # -- teardown -------------------------------------------------------------

    def close(self):
        for h in list(self.hookds):
            try:
                self.stop_hookd(h)
            except Exception as e:      # keep stopping the rest
                log("stopping hookd: %s" % e)
        for p in (self.nginx, self.sink):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGQUIT if p is self.nginx else signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    harness._killpg(p.pid, signal.SIGKILL)
                    p.wait(5)
        for s in (self.redis, self.pg):
            if s is not None:
                try:
                    s.stop()
                except Exception as e:
                    log("stopping %s: %s" % (s.name, e))


def nginx_conf(d, port):
    """nginx answering 202 '{}' to POST /webhooks/*, as light as it goes:
    no logs, keep-alive without limit, the same worker count as hookd."""
    return """# generated by perf/bench.py: the ceiling of this machine
worker_processes %(w)d;
daemon off;
master_process on;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path %(d)s/tmp;
    proxy_temp_path %(d)s/tmp;
    fastcgi_temp_path %(d)s/tmp;
    uwsgi_temp_path %(d)s/tmp;
    scgi_temp_path %(d)s/tmp;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    client_max_body_size 1m;
    server {
        listen 127.0.0.1:%(p)d reuseport;
        location /webhooks/ {
            default_type application/json;
            return 202 '{}';
        }
    }
}
""" % {"w": WORKERS, "d": d, "p": port}


# ---------------------------------------------------------------------------
# The rows

class Row:
    """One line of the table: values from several runs."""

    def __init__(self, key, label, unit, values=None, note="", target="", fmt="%.0f",
                 na=None):
        self.key, self.label, self.unit = key, label, unit
        self.values = list(values or [])
        self.note, self.target, self.fmt, self.na = note, target, fmt, na

    def cells(self):
        if self.na or not self.values:
            return [self.na or "n/a", "", ""]
        return [self.fmt % statistics.median(self.values), self.fmt % min(self.values),
                self.fmt % max(self.values)]

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def run_bench(b):
    rows = []
    t_start = time.monotonic()
    b.cpu = CpuAccount()
    b.start_stores()
    b.start_sink()
    nginx_url = b.start_nginx()
    log("starting hookd (%d ingest workers, 1 delivery worker)" % WORKERS)
    h = b.start_hookd()
    gh = h.url + "/webhooks/github"

    # Warm the paths once (first connections, libcrypto, EVALSHA cache).
    hookbench(gh, *signed_args(), duration=1, warmup=0)
    if nginx_url:
        hookbench(nginx_url + "/webhooks/github", *signed_args(), duration=1, warmup=0)
    b.redis_reset()

    # 1 and 5: peak, hookd and nginx alternating; memory sampled at peak.
    peak, peak_p99, ceiling, rss, pss = [], [], [], [], []
    for i in range(RUNS):
        log("peak run %d/%d" % (i + 1, RUNS))
        with MemorySampler(h.pid) as m:
            r = hookbench(gh, *signed_args())
        b.raw.setdefault("peak", []).append(r)
        check_clean(r, "ingest peak")
        peak.append(r["rate"])
        peak_p99.append(r["latency_ms"]["p99"])
        rss.append(m.peak_rss / 1024.0)
        pss.append(m.peak_pss / 1024.0)
        b.redis_reset()
        if nginx_url:
            r = hookbench(nginx_url + "/webhooks/github", *signed_args())
            b.raw.setdefault("nginx", []).append(r)
            ceiling.append(r["rate"])
    p = med(peak)
    rows.append(Row("peak", "1  ingest peak: 1 KB JSON, github HMAC, unique keys (everysec)",
                    "req/s", peak, note="p99 %.2f ms at peak, %d connections" % (med(peak_p99), CONNS)))

    # 1b: the same with appendfsync always.
    b.redis_call("CONFIG", "SET", "appendfsync", "always")
    always = []
    for i in range(RUNS):
        log("peak run with appendfsync always %d/%d" % (i + 1, RUNS))
        r = hookbench(gh, *signed_args())
        b.raw.setdefault("peak_always", []).append(r)
        check_clean(r, "ingest peak (always)")
        always.append(r["rate"])
        b.redis_reset()
    b.redis_call("CONFIG", "SET", "appendfsync", "everysec")
    rows.append(Row("peak_always", "1b ingest peak, Redis appendfsync always", "req/s", always,
                    note="%.2f of everysec" % (med(always) / p if p else 0)))

    # 1c: the same without the delivery pool (delivery.workers = 0): what
    # ingest and Redis cost alone, paired with nginx runs of its own.
    log("starting a hookd instance without the delivery pool")
    hn = b.start_hookd(prefix="hknodl:", delivery_workers=0)
    ngh = hn.url + "/webhooks/github"
    hookbench(ngh, *signed_args(), duration=1, warmup=0)
    b.redis_reset("hknodl:")
    alone, ceiling_alone = [], []
    for i in range(RUNS):
        log("peak run without the delivery pool %d/%d" % (i + 1, RUNS))
        r = hookbench(ngh, *signed_args())
        b.raw.setdefault("peak_alone", []).append(r)
        check_clean(r, "ingest peak without delivery")
        alone.append(r["rate"])
        b.redis_reset("hknodl:")
        if nginx_url:
            r = hookbench(nginx_url + "/webhooks/github", *signed_args())
            ceiling_alone.append(r["rate"])
    b.stop_hookd(hn)
    rows.append(Row("peak_alone", "1c ingest peak, delivery pool not running", "req/s", alone,
                    note="delivery.workers = 0: the events stay in the stream"))

    # 2: open-loop latency at fractions of the peak.
    for tag, frac, tgt in (("2a", 0.25, ""), ("2b", 0.50, "<= 2 ms"), ("2c", 0.75, "")):
        rate = max(1.0, round(p * frac))
        p99s, p50s, p999s = [], [], []
        for i in range(RUNS):
            log("latency at %d%% of peak (%d req/s) run %d/%d" % (frac * 100, rate, i + 1, RUNS))
            r = hookbench(gh, *signed_args(), "--rate", rate)
            b.raw.setdefault("latency_%d" % (frac * 100), []).append(r)
            check_clean(r, "latency at %d%%" % (frac * 100))
            p50s.append(r["latency_ms"]["p50"])
            p99s.append(r["latency_ms"]["p99"])
            p999s.append(r["latency_ms"]["p99.9"])
            b.redis_reset()
        rows.append(Row("lat%d" % (frac * 100),
                        "%s ingest p99 at %d%% of peak, open loop (%d req/s)" % (tag, frac * 100, rate),
                        "ms", p99s, fmt="%.2f", target=tgt,
                        note="p50 %.2f, p99.9 %.2f ms" % (med(p50s), med(p999s))))

    # 4: metrics on and off: two fresh instances side by side, identical
    # but for metrics.enabled, so that neither carries the other rows'
    # history (a bigger events table, a warmer or colder cache); runs
    # alternate, and the order flips in every pair to cancel drift.
    log("starting two more hookd instances, metrics.enabled true and false")
    inst = {"on": (b.start_hookd(metrics=True, prefix="hkon:"), "hkon:"),
            "off": (b.start_hookd(metrics=False, prefix="hkoff:"), "hkoff:")}
    got = {"on": [], "off": []}
    for which, (hi, prefix) in inst.items():
        hookbench(hi.url + "/webhooks/github", *signed_args(), duration=1, warmup=0)
        b.redis_reset(prefix)
    # Twice as many pairs of half-length runs: a 2% effect needs every bit
    # of averaging a shared machine allows.
    pairs, length = 2 * RUNS, max(1, SECONDS // 2)
    for i in range(pairs):
        for which in (("on", "off") if i % 2 == 0 else ("off", "on")):
            hi, prefix = inst[which]
            log("metrics %s run %d/%d" % (which, i + 1, pairs))
            r = hookbench(hi.url + "/webhooks/github", *signed_args(), duration=length)
            b.raw.setdefault("metrics_" + which, []).append(r)
            check_clean(r, "metrics " + which)
            got[which].append(r["rate"])
            b.redis_reset(prefix)
    for hi, _ in inst.values():
        b.stop_hookd(hi)
    on, off = got["on"], got["off"]
    ratios = [a / o for a, o in zip(on, off) if o]
    rows.append(Row("metrics", "4  throughput metrics on / off (ratio of paired runs)", "ratio",
                    ratios, fmt="%.3f", target=">= 0.98",
                    note="on %.0f, off %.0f req/s; %d pairs of %d s" % (
                        med(on), med(off), pairs, length)))

    # 5: the ceiling.
    if ceiling:
        rows.append(Row("nginx", "5  nginx 'return 202' ceiling, same load", "req/s", ceiling,
                        note="nginx-light, %d worker%s" % (WORKERS, "s" if WORKERS > 1 else "")))
        rows.append(Row("nginx_ratio", "5b hookd peak / nginx ceiling (paired runs)", "ratio",
                        [a / c for a, c in zip(peak, ceiling) if c], fmt="%.3f", target=">= 0.5"))
        if ceiling_alone:
            rows.append(Row("nginx_ratio_alone", "5c hookd peak without delivery / nginx ceiling",
                            "ratio", [a / c for a, c in zip(alone, ceiling_alone) if c],
                            fmt="%.3f", target=">= 0.5"))
    else:
        rows.append(Row("nginx", "5  nginx 'return 202' ceiling", "req/s",
                        na="n/a (nginx missing)"))
    rows.append(Row("rss", "6  hookd memory at peak: RSS of master + children", "MiB", rss,
                    fmt="%.1f", target="<= 64",
                    note="PSS %.1f MiB (shared pages counted once)" % med(pss)))

    # 3: end to end: a delivery backlog left behind disturbs only 6b.
    e2e = e2e_rows(b, h)
    at = next(i for i, r in enumerate(rows) if r.key == "metrics")
    rows[at:at] = e2e
    b.redis_reset()
    rows.append(soak_row(b, h, max(1, round(p * 0.5))))
    b.cpu_report = b.cpu.report()
    return rows, time.monotonic() - t_start


def soak_row(b, h, rate):
    """6b: RSS of the instance, once a second, over a SOAK-second open-loop
    run at rate; the growth is the median of the last tenth of the samples
    minus that of the second tenth (the first is warm-up)."""
    log("memory over %d s at 50%% of peak (%d req/s)" % (SOAK, rate))
    argv = [HOOKBENCH, "-u", h.url + "/webhooks/github", "--json", "-c", str(CONNS), "-w", "0",
            "-d", str(SOAK), "--rate", str(rate)] + signed_args()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    samples = []
    try:
        while p.poll() is None:
            samples.append(memory_kib(instance_pids(h.pid))[0] / 1024.0)
            time.sleep(1)
        out, err = p.communicate(timeout=60)
    except BaseException:
        p.kill()
        p.wait()
        raise
    if p.returncode != 0 or len(samples) < 10:
        return Row("soak", "6b hookd memory growth over a %d s run at 50%% of peak" % SOAK, "MiB",
                   na="n/a (hookbench failed: %s)" % err.strip()[:60])
    r = json.loads(out)
    b.raw["soak"] = {"hookbench": r, "rss_mib": samples}
    check_clean(r, "memory soak")
    tenth = max(1, len(samples) // 10)
    start = statistics.median(samples[tenth:2 * tenth])
    end = statistics.median(samples[-tenth:])
    return Row("soak", "6b hookd memory growth over a %d s run at 50%% of peak" % SOAK, "MiB",
               [end - start], fmt="%.1f", target="none",
               note="RSS %.1f -> %.1f MiB, max %.1f; %d events at %.0f req/s" % (
                   start, end, max(samples), r["status"].get("202", 0), r["rate"]))


def check_clean(r, what):
    """Warn when a run had errors: its figures are then suspect."""
    if r["errors"]["total"]:
        log("warning: %s had %d errors: %s, status %s" % (what, r["errors"]["total"],
                                                           r["errors"], r["status"]))


def sink_unique(b):
    return (b.sink_stats() or {}).get("unique", 0)


def wait_delivered(b, want, limit):
    """Wait until the sink has want events, at most limit seconds; the count."""
    deadline = time.monotonic() + limit
    got = sink_unique(b)
    while got < want and time.monotonic() < deadline:
        time.sleep(0.1)
        got = sink_unique(b)
    return got


def ingest_watched(b, url, *args):
    """Run hookbench on url for one run length while watching the sink:
    (events answered 202, the sink's deliveries per second from the end of
    the warm-up to the end of the run, its count then, that time)."""
    argv = [HOOKBENCH, "-u", url, "--json", "-d", str(SECONDS), "-w", "0",
            "--unique-keys"] + [str(a) for a in args]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    try:
        time.sleep(WARMUP)
        t_a, n_a = time.monotonic(), sink_unique(b)
        out, err = p.communicate(timeout=SECONDS + 60)
        t_b, n_b = time.monotonic(), sink_unique(b)
    except BaseException:
        p.kill()
        p.wait()
        raise
    if p.returncode != 0:
        raise RuntimeError("hookbench failed: %s" % err.strip())
    ingested = json.loads(out)["status"].get("202", 0)
    return ingested, (n_b - n_a) / (t_b - t_a), n_b, t_b


def e2e_throughput(b, url):
    """Deliveries per second while a backlog exists: ingest runs closed
    loop (16 connections), faster than delivery.  Then, with ingest idle,
    the sink's count over the next half run length gives the delivery
    pool's own drain rate (None when the backlog ran out before that: the
    pool is faster than the figure could show)."""
    ingested, rate, n_b, t_b = ingest_watched(b, url, "-c", 16)
    time.sleep(SECONDS / 2.0)
    t_c, n_c = time.monotonic(), sink_unique(b)
    drain = (n_c - n_b) / (t_c - t_b) if n_c < ingested else None
    return rate, ingested, n_c, drain


def e2e_sustained(b, h, url):
    """Open loop at SUSTAIN_RATE on an empty pipeline: deliveries per
    second during the run, how far behind the sink was at its end, how
    long the rest took to arrive (None when it did not within the bound),
    and the CPU each part of the pipeline spent per event, from the start
    of the run until the last event arrived (CpuSplit)."""
    split = CpuSplit(b, h)
    ingested, rate, n_b, t_b = ingest_watched(b, url, "-c", CONNS, "--rate", SUSTAIN_RATE)
    got = wait_delivered(b, ingested, 4 * SECONDS)
    t_c = time.monotonic()
    return (rate, ingested - n_b, (t_c - t_b) if got >= ingested else None,
            split.per_event_us(ingested))


def e2e_rows(b, h):
    url = h.url + "/webhooks/test"
    na = None
    if not b.sink_port:
        na = "n/a (no sink: bin/hooksink and perf/sink.py missing)"
    else:
        # Is the delivery pool there?  A few events must reach the sink.
        b.sink_reset()
        hookbench(url, "-n", 5, "--unique-keys", conns=1, warmup=0)
        if wait_delivered(b, 5, 5) < 5:
            na = "n/a (delivery not available)"
    if na:
        return [Row("e2e", "3  end-to-end delivery throughput", "ev/s", na=na),
                Row("e2e_lat", "3b end-to-end p99 at %d ev/s" % E2E_RATE, "ms", na=na)]

    # Every wait is bounded, so that a slow delivery pool cannot stretch the
    # bench: what is still queued after the bound is simply left behind.
    # Latency first, on an empty pipeline; the throughput runs leave a
    # backlog behind them.
    thr, drains, p99s, p50s, backlog_left, sink_cap = [], [], [], [], 0, []
    for i in range(RUNS):
        log("end-to-end latency at %d ev/s run %d/%d" % (E2E_RATE, i + 1, RUNS))
        b.sink_reset()
        r = hookbench(url, "--unique-keys", "--rate", E2E_RATE, warmup=0)
        want = r["status"].get("202", 0)
        got = wait_delivered(b, want, 3 * SECONDS)
        backlog_left = max(backlog_left, want - got)
        st = b.sink_stats()
        b.raw.setdefault("e2e_latency", []).append({"hookbench": r, "sink": st})
        if st and st["latency_ms"]["p99"] is not None:
            p99s.append(st["latency_ms"]["p99"])
            p50s.append(st["latency_ms"]["p50"])
    sus, sus_left, sus_drain, cpu = [], [], [], []
    for i in range(RUNS):
        log("end-to-end sustained at %d ev/s run %d/%d" % (SUSTAIN_RATE, i + 1, RUNS))
        b.sink_reset()
        rate, left, drain_s, split = e2e_sustained(b, h, url)
        b.raw.setdefault("e2e_sustained", []).append(
            {"rate": rate, "left_at_end": left, "drain_s": drain_s, "cpu_us_per_event": split})
        sus.append(rate)
        cpu.append(split)
        sus_left.append(left)
        if drain_s is None:
            backlog_left = max(backlog_left, left)
        else:
            sus_drain.append(drain_s)
    for i in range(RUNS):
        log("end-to-end throughput run %d/%d" % (i + 1, RUNS))
        b.sink_reset()
        rate, ingested, delivered, drain = e2e_throughput(b, url)
        b.raw.setdefault("e2e_throughput", []).append(
            {"rate": rate, "ingested": ingested, "delivered": delivered, "drain": drain})
        thr.append(rate)
        if drain is not None:
            drains.append(drain)
        if i + 1 < RUNS:
            got = wait_delivered(b, ingested, 4 * SECONDS)
            backlog_left = max(backlog_left, ingested - got)

    # The sink shares the two CPUs with the pipeline: its own ceiling bounds
    # row 3 on this machine, and says what it costs.
    b.sink_reset()
    for i in range(RUNS):
        r = hookbench(b.sink_url("/hooks"), "--unique-keys", "--key-header", "webhook-id",
                      conns=16)
        sink_cap.append(r["rate"])
    b.sink_reset()
    note_b = "p50 %.1f ms (sink clock vs event id, 1 ms resolution)" % med(p50s)
    if thr and med(thr) < E2E_RATE:
        note_b += "; delivery is slower than %d ev/s, so this grows with the run" % E2E_RATE
    if backlog_left:
        note_b += "; up to %d events were left queued" % backlog_left
    return [Row("e2e", "3  end-to-end delivery throughput (ingest to sink)", "ev/s", thr,
                note="deliveries/s while a backlog exists and ingest runs flat out"),
            Row("e2e_lat", "3b end-to-end p99 at %d ev/s, open loop" % E2E_RATE, "ms", p99s,
                fmt="%.1f", target="<= 50", note=note_b),
            Row("sink", "3c the sink's own ceiling (hookbench -> %s)" % b.sink_name, "req/s",
                sink_cap,
                note="bounds row 3 on this machine"),
            Row("drain", "3d delivery alone: backlog drained, ingest idle", "ev/s", drains,
                note="the pool's capacity when it has the CPUs to itself",
                na=None if drains else "n/a (the backlog ran out: faster than measurable)"),
            Row("sustain", "3e end-to-end at %d ev/s offered, open loop" % SUSTAIN_RATE, "ev/s",
                sus, target=">= %d" % SUSTAIN_RATE,
                note="delivered/s during the run; behind by %s events at its end%s" % (
                    "%d" % med(sus_left),
                    ", drained in %.1f s" % med(sus_drain) if sus_drain else "")),
            Row("sustain_cpu", "3f CPU per event in 3e, all processes", "us",
                [sum(c.values()) for c in cpu], fmt="%.1f",
                note="medians: " + ", ".join("%s %.1f" % (k, med([c[k] for c in cpu]))
                                             for k in CpuSplit.PARTS))]


# ---------------------------------------------------------------------------
# Output

def cmd(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine():
    model = harness.cpu_model()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            mem = ", %.1f GiB RAM" % (kib / 1048576.0)
    except (OSError, ValueError, IndexError):
        pass
    def version(argv, pattern, text=None):
        m = re.search(pattern, text if text is not None else cmd(argv))
        return m.group(1) if m else "?"

    ngx = "missing"
    if os.access(NGINX, os.X_OK):
        ngx = version(None, r"nginx/(\S+)", subprocess.run(
            [NGINX, "-v"], capture_output=True, text=True).stderr)
    libs = ", ".join("%s %s" % (p, cmd(["pkg-config", "--modversion", p]) or "?")
                     for p in ("libevent", "hiredis", "libpq"))
    return [
        "machine   %d CPUs, %s%s; Linux %s" % (NPROC, model, mem, platform.release()),
        "versions  hookd %s (%s), Redis %s, PostgreSQL %s, nginx %s; %s; gcc %s" % (
            version([os.path.join(BIN, "hookd"), "-v"], r"hookd (\S+)"),
            cmd(["git", "-C", REPO, "describe", "--always", "--dirty"]) or "no git",
            version([harness.REDIS_SERVER, "--version"], r"v=(\S+)"),
            version([os.path.join(harness.PG_BIN, "postgres"), "--version"], r"\) (\S+)"),
            ngx, libs, cmd(["cc", "-dumpfullversion"]) or "?"),
        "setup     hookd %d ingest + 1 delivery worker; Redis AOF everysec (auto-rewrite off); "
        "PostgreSQL fsync off;" % WORKERS,
        "          hookbench closed loop %d connections, %d s runs (%.1f s warm-up), "
        "median of %d [min, max]" % (CONNS, SECONDS, WARMUP, RUNS),
    ]


def print_table(rows, elapsed, cpu=None):
    out = ["", "hookd benchmark, %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())]
    out += machine()
    out.append("")
    lw = max(len(r.label) for r in rows)
    hdr = "%-*s  %10s  %10s  %10s  %-5s  %-8s  %s" % (lw, "", "median", "min", "max", "unit",
                                                       "target", "notes")
    out.append(hdr.rstrip())
    for r in rows:
        c = r.cells()
        if r.na:
            line = "%-*s  %s" % (lw, r.label, r.na)
        else:
            line = "%-*s  %10s  %10s  %10s  %-5s  %-8s  %s" % (lw, r.label, c[0], c[1], c[2],
                                                                r.unit, r.target, r.note)
        out.append(line.rstrip())
    out.append("")
    line = "bench took %.0f s" % elapsed
    if cpu:
        line += ("; other processes used %.1f CPU-s (%.0f%% of the machine), steal %.1f CPU-s"
                 % (cpu["other_cpu_s"], 100 * cpu["other_share"], cpu["steal_cpu_s"]))
    out.append(line)
    if cpu and cpu["other_share"] > 0.05:
        out.append("WARNING: the machine was not idle: the figures above are low and noisy")
    print("\n".join(out), flush=True)


def main():
    for path in (HOOKBENCH, os.path.join(BIN, "hookd")):
        if not os.access(path, os.X_OK):
            sys.exit("bench: %s is missing: run make first" % path)

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    # Started in the background by a shell without job control, SIGINT
    # arrives ignored; Ctrl-C must stop the bench all the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    b = Bench()
    rc = 0
    try:
        rows, elapsed = run_bench(b)
        print_table(rows, elapsed, getattr(b, "cpu_report", None))
        if os.environ.get("BENCH_JSON"):
            with open(os.environ["BENCH_JSON"], "w") as f:
                json.dump({"rows": [{"key": r.key, "label": r.label, "unit": r.unit,
                                     "values": r.values, "median": r.median, "na": r.na}
                                    for r in rows], "raw": b.raw,
                           "cpu": getattr(b, "cpu_report", None)}, f, indent=1)
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        rc = 130
    except Exception as e:
        log("failed: %s" % e)
        rc = 1
    finally:
        b.close()
        if os.environ.get("BENCH_KEEP"):
            log("kept %s" % b.dir)
    return rc


if __name__ == "__main__":
    sys.exit(main())
