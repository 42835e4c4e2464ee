"""
test_prometheus.py - hookd as Prometheus and Grafana see it: the /metrics
text passes `promtool check metrics`, the alert rules pass `promtool check
rules`, and a real Prometheus (Debian's package, /usr/bin/prometheus, run
with its own config, storage and port) scrapes a running hookd under
traffic: every PromQL expression of etc/prometheus/hookd.rules.yml and of
etc/grafana/hookd.json returns data, and stopping Redis takes the Redis
alert from pending to firing.

Alert expressions are conditions ("x > 100"): they return nothing while
nothing is wrong.  To check that each one reads metrics that exist, the
test asks for it with every comparison turned into a "bool" comparison
(x > bool 100), which answers 0 or 1 for every series the left side has.
"""

import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest
import requests
import yaml

import harness


REPO = harness.REPO
RULES = os.path.join(REPO, "etc", "prometheus", "hookd.rules.yml")
SCRAPE_CONF = os.path.join(REPO, "etc", "prometheus", "prometheus.yml")
DASHBOARD = os.path.join(REPO, "etc", "grafana", "hookd.json")
COMPOSE = os.path.join(REPO, "docker-compose.yml")
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def need(path):
    if not os.access(path, os.X_OK):
        pytest.fail("%s is missing: scripts/deps.sh installs Debian's prometheus package" % path)


def promtool(*args, stdin=None):
    need(PROMTOOL)
    return subprocess.run([PROMTOOL] + list(args), input=stdin, capture_output=True,
                          text=True, timeout=60)


def metrics(h):
    r = requests.get(h.admin_url + "/metrics", timeout=5)
    assert r.status_code == 200, r.text
    return r.text


def samples(text, name):
    """{labels string: value} of the samples of one metric in the text format."""
    out = {}
    for ln in text.splitlines():
        m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), ln)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


def value(h, name, labels=""):
    return samples(metrics(h), name).get(labels)


def dest(name, url):
    return '{ name = "%s"; url = "%s"; sources = ["test"]; }' % (name, url)


def start_hookd(hookd_factory, ok, gone, **kw):
    """hookd with two destinations: "ok" (the sink ok) and "gone" (a sink
    that answers 410, so hookd disables it)."""
    gone.answer(410)
    return hookd_factory(destinations=dest("ok", ok.url) + ",\n" + dest("gone", gone.url),
                         delivery={"retry_schedule": [1, 1], "jitter": 0.0, "timeout_ms": 3000},
                         **kw)


def post(h, n, session=None):
    s = session or requests.Session()
    return [s.post(h.url + "/webhooks/test", json={"n": i}, timeout=10).status_code
            for i in range(n)]


# ---------------------------------------------------------------------------
# promtool on the files and on /metrics

def test_rules_and_scrape_config_pass_promtool():
    r = promtool("check", "rules", RULES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout and "WARNING" not in (r.stdout + r.stderr).upper(), \
        r.stdout + r.stderr
    r = promtool("check", "config", SCRAPE_CONF)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WARNING" not in (r.stdout + r.stderr).upper(), r.stdout + r.stderr
    # Each alert says what it is and what to do.
    rules = [r for g in yaml.safe_load(open(RULES))["groups"] for r in g["rules"]]
    assert len(rules) >= 10
    for rule in rules:
        ann = rule.get("annotations", {})
        assert ann.get("summary") and ann.get("runbook"), rule["alert"]


def test_metrics_pass_promtool_and_carry_the_alert_gauges(hookd_factory, redis_server, sinks):
    ok, gone = sinks(), sinks()
    h = start_hookd(hookd_factory, ok, gone, workers=2)
    assert all(c == 202 for c in post(h, 10))
    # Delivered before the breaker key is set below: a success seen while
    # a worker holds the breaker open closes it (and deletes the key).
    harness.wait_for(lambda: len(ok.got()) >= 10, 20, what="ok's 10 deliveries")

    # The 410 disables "gone"; the stats process reads destination_state
    # every 10 s.
    harness.wait_for(lambda: value(h, "hookd_destination_disabled", '{destination="gone"}') == 1,
                     30, 0.5, what="hookd_destination_disabled{gone} to read 1")
    assert value(h, "hookd_destination_disabled", '{destination="ok"}') == 0

    # The breaker key of the contract: it exists exactly while the breaker
    # of that destination is open.
    harness.wait_for(lambda: value(h, "hookd_destination_breaker_open", '{destination="ok"}') == 0,
                     10, 0.2, what="breaker_open{ok} to read 0")
    c = redis_server.client()
    try:
        c.set("hookd:breaker:ok", str(int(time.time() * 1000) + 60000), px=60000)
        harness.wait_for(lambda: value(h, "hookd_destination_breaker_open",
                                       '{destination="ok"}') == 1,
                         10, 0.2, what="breaker_open{ok} to read 1 once the key is set")
        c.delete("hookd:breaker:ok")
        harness.wait_for(lambda: value(h, "hookd_destination_breaker_open",
                                       '{destination="ok"}') == 0,
                         10, 0.2, what="breaker_open{ok} to read 0 once the key is gone")
    finally:
        c.close()

    # An entry held by a delivery attempt that does not finish: the oldest
    # pending entry ages.
    ok.hold()
    t0 = time.time()
    assert post(h, 1) == [202]
    age = harness.wait_for(lambda: (v := value(h, "hookd_stream_oldest_pending_age_seconds"))
                           and v >= 1.5 and v, 15, 0.2,
                           what="the oldest pending entry to be 1.5 s old")
    assert age <= time.time() - t0 + 1.5
    ok.release()
    harness.wait_for(lambda: value(h, "hookd_stream_oldest_pending_age_seconds") == 0,
                     15, 0.2, what="no entry pending once the sink answers")

    # Which build this is: the version of common/version.h, the commit of
    # this repository's history (or "unknown" outside a git checkout).
    text = metrics(h)
    info = samples(text, "hookd_build_info")
    assert len(info) == 1 and list(info.values()) == [1.0], info
    labels = dict(re.findall(r'(\w+)="([^"]*)"', list(info)[0]))
    version = re.search(r'#define HK_VERSION\s+"([^"]+)"',
                        open(os.path.join(REPO, "common", "version.h")).read()).group(1)
    assert labels["version"] == version
    commit = labels["commit"]
    if commit != "unknown":
        assert re.fullmatch(r"[0-9a-f]{7,40}", commit), commit
        r = subprocess.run(["git", "-C", REPO, "cat-file", "-e", commit + "^{commit}"],
                           capture_output=True)
        assert r.returncode == 0, "commit %s is not in this repository" % commit

    # What each process costs, per role and index, from /proc.
    def proc_figures():
        t = metrics(h)
        f = {n: samples(t, "hookd_process_" + n) for n in
             ("cpu_seconds_total", "resident_memory_bytes", "open_fds", "start_time_seconds")}
        return all(len(v) == 5 for v in f.values()) and f
    f = harness.wait_for(proc_figures, 15, 0.5, what="figures of the five processes")
    roles = sorted(f["open_fds"])
    assert roles == sorted('{role="%s",index="%d"}' % ri for ri in
                           [("master", 0), ("ingest", 0), ("ingest", 1), ("delivery", 0),
                            ("stats", 0)]), roles
    now = time.time()
    master_fds = len(os.listdir("/proc/%d/fd" % h.pid))
    for k in roles:
        assert 1e6 < f["resident_memory_bytes"][k] < 2e9, (k, f)
        assert 3 <= f["open_fds"][k] < 10000, (k, f)
        assert 0 <= f["cpu_seconds_total"][k] < 600, (k, f)
        assert now - 120 < f["start_time_seconds"][k] <= now + 1, (k, f)
    assert abs(f["open_fds"]['{role="master",index="0"}'] - master_fds) <= 3

    # promtool reads the whole body without an error or a warning.
    r = promtool("check", "metrics", stdin=text)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", \
        r.stdout + r.stderr


def test_an_open_breaker_is_a_redis_key_and_a_gauge(hookd_factory, redis_server, sinks):
    """A destination that fails 5 times in a row opens its breaker: the
    delivery worker sets <prefix>breaker:<name> for the open time, and the
    gauge reads 1."""
    failing, healthy = sinks(), sinks()
    failing.answer(500)
    h = hookd_factory(destinations=dest("ok", failing.url) + ",\n" + dest("gone", healthy.url),
                      delivery={"retry_schedule": [1, 1], "jitter": 0.0, "timeout_ms": 3000})
    assert post(h, 6) == [202] * 6
    harness.wait_for(lambda: value(h, "hookd_destination_breaker_open", '{destination="ok"}') == 1,
                     20, 0.2, what="the breaker of the failing destination to show open")
    c = redis_server.client()
    try:
        until = int(c.get("hookd:breaker:ok"))
        ttl = c.pttl("hookd:breaker:ok")
    finally:
        c.close()
    assert 0 < ttl <= 30000, ttl
    assert abs(until - (time.time() * 1000 + ttl)) < 5000, (until, ttl)
    # The destination that answers keeps its breaker closed.
    assert value(h, "hookd_destination_breaker_open", '{destination="gone"}') == 0


# ---------------------------------------------------------------------------
# A real Prometheus scraping a real hookd

class Prometheus:
    """/usr/bin/prometheus on a free loopback port with its own config and
    storage, scraping and evaluating every second (not the systemd service)."""

    def __init__(self, dir, target, rules_path):
        need(PROMETHEUS)
        self.dir = dir
        self.port = harness.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        conf = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                       "scrape_timeout": "1s"},
            "rule_files": [rules_path],
            "scrape_configs": [{"job_name": "hookd", "metrics_path": "/metrics",
                                "static_configs": [{"targets": [target]}]}],
        }
        self.conf_path = os.path.join(dir, "prometheus.yml")
        with open(self.conf_path, "w") as f:
            yaml.safe_dump(conf, f)
        self.log_path = os.path.join(dir, "prometheus.log")
        self.proc = harness._spawn(
            [PROMETHEUS, "--config.file=" + self.conf_path,
             "--storage.tsdb.path=" + os.path.join(dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--log.level=warn"], self.log_path)
        harness.wait_for(self._ready, 30, 0.2, what="Prometheus to be ready",
                         ignore=(requests.RequestException,))

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("prometheus exited: %s" % harness.tail(self.log_path))
        return requests.get(self.url + "/-/ready", timeout=2).status_code == 200

    def query(self, expr):
        r = requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10)
        body = r.json()
        assert r.status_code == 200 and body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def alerts(self, name):
        r = requests.get(self.url + "/api/v1/alerts", timeout=5).json()
        return [a for a in r["data"]["alerts"] if a["labels"].get("alertname") == name]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def with_bool(expr):
    """expr with each comparison outside braces and strings made a "bool"
    comparison, so that it answers for every series instead of filtering."""
    out, depth, i, quote = [], 0, 0, None
    while i < len(expr):
        ch = expr[i]
        if quote:
            out.append(ch)
            if ch == "\\":
                out.append(expr[i + 1])
                i += 1
            elif ch == quote:
                quote = None
            i += 1
            continue
        if ch in "\"'`":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if depth == 0 and not quote:
            m = re.match(r"(==|!=|>=|<=|>|<)(\s*bool\b)?", expr[i:])
            if m:
                out.append(m.group(0) if m.group(2) else m.group(1) + " bool ")
                i += len(m.group(0))
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def test_with_bool():
    assert with_bool('x{a!="b"} > 0.5 and y == 0') == 'x{a!="b"} > bool  0.5 and y == bool  0'
    assert with_bool("x >= bool 1") == "x >= bool 1"


def rule_exprs():
    return [(r["alert"], r["expr"]) for g in yaml.safe_load(open(RULES))["groups"]
            for r in g["rules"]]


def grafana(expr):
    """A dashboard query with Grafana's variables as Grafana would fill them
    in: every source and destination, a rate interval of a few scrapes."""
    for k, v in (("$__rate_interval", "15s"), ("${__rate_interval}", "15s"),
                 ("$__interval", "5s"), ("$source", ".*"), ("${source}", ".*"),
                 ("$destination", ".*"), ("${destination}", ".*")):
        expr = expr.replace(k, v)
    assert "$" not in expr, "a Grafana variable the test does not know: %s" % expr
    m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", expr.strip())
    return "count by (%s) (%s)" % (m.group(2), m.group(1)) if m else expr


def dashboard_exprs():
    d = json.load(open(DASHBOARD))
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append(("panel %r %s" % (p["title"], t["refId"]), grafana(t["expr"])))
            walk(p.get("panels", []))
    walk(d["panels"])
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            out.append(("variable " + v["name"], grafana(q)))
    return out


def short_for(rules_path, dst):
    """A copy of the rules whose "for" is 2 s, so an alert goes pending,
    then firing, within the test."""
    doc = yaml.safe_load(open(rules_path))
    for g in doc["groups"]:
        g["interval"] = "1s"
        for r in g["rules"]:
            if "for" in r:
                r["for"] = "2s"
    with open(dst, "w") as f:
        yaml.safe_dump(doc, f)
    return dst


class Traffic:
    """A thread that posts a webhook every 50 ms until stopped."""

    def __init__(self, h):
        self.h, self.codes, self.stop_ev = h, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        s = requests.Session()
        while not self.stop_ev.is_set():
            try:
                self.codes.append(post(self.h, 1, s)[0])
            except requests.RequestException:
                self.codes.append(None)
            self.stop_ev.wait(0.05)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(15)


def test_prometheus_scrapes_hookd_every_expression_has_data_and_redis_alert_fires(
        hookd_factory, redis_server, pg_server, sinks, workdir):
    ok, gone = sinks(), sinks()
    h = start_hookd(hookd_factory, ok, gone)
    rules = short_for(RULES, os.path.join(workdir, "hookd.rules.yml"))
    r = promtool("check", "rules", rules)
    assert r.returncode == 0, r.stdout + r.stderr
    prom = Prometheus(workdir, h.admin_listen, rules)
    traffic = Traffic(h)
    try:
        harness.wait_for(lambda: prom.query('up{job="hookd"} == 1'), 20, 0.5,
                         what="Prometheus to scrape hookd")
        harness.wait_for(lambda: prom.query("hookd_delivery_stage_seconds_count"), 20, 0.5,
                         what="deliveries to show in Prometheus")
        assert not prom.alerts("HookdRedisDown")

        # Redis stops: the ingest stores events in the PostgreSQL inbox, and
        # the Redis alert goes pending, then firing.
        redis_server.stop()
        harness.wait_for(lambda: any(a["state"] == "pending"
                                     for a in prom.alerts("HookdRedisDown")),
                         20, 0.1, what="HookdRedisDown to be pending")
        harness.wait_for(lambda: any(a["state"] == "firing"
                                     for a in prom.alerts("HookdRedisDown")),
                         20, 0.2, what="HookdRedisDown to fire")
        harness.wait_for(lambda: prom.query("hookd_inbox_rows > 0"), 30, 0.5,
                         what="the inbox to fill while Redis is down")

        # PostgreSQL stops too: nothing can store an event, ingest answers
        # 503, which the 5xx rule and the dashboard count.
        pg_server.stop()
        harness.wait_for(lambda: 503 in traffic.codes[-5:], 30, 0.2,
                         what="ingest to answer 503 with Redis and PostgreSQL down")
        harness.wait_for(lambda: prom.query('hookd_ingest_requests_total{status="503"}'),
                         10, 0.5, what="the 503s to show in Prometheus")
    finally:
        pg_server.ensure_running()
        redis_server.ensure_running()
    try:
        harness.wait_for(lambda: prom.query("hookd_redis_up == 1 and hookd_postgres_up == 1"),
                         40, 0.5, what="hookd to see Redis and PostgreSQL again")
        harness.wait_for(lambda: not any(a["state"] == "firing"
                                         for a in prom.alerts("HookdRedisDown")),
                         20, 0.5, what="HookdRedisDown to resolve")

        exprs = [("rule " + n, with_bool(e)) for n, e in rule_exprs()] + dashboard_exprs()
        assert len(exprs) > 40

        left = [(n, e) for n, e in exprs if not prom.query(e)]
        deadline = time.monotonic() + 30
        while left and time.monotonic() < deadline:
            time.sleep(1)
            left = [(n, e) for n, e in left if not prom.query(e)]
        assert not left, "expressions without data:\n" + "\n".join("%s: %s" % x for x in left)
    finally:
        traffic.stop()
        prom.stop()
    assert set(traffic.codes) <= {202, 503, None}, set(traffic.codes)


# ---------------------------------------------------------------------------
# docker-compose: the monitoring profile

def test_compose_monitoring_profile_is_wired():
    """Prometheus and Grafana only with --profile monitoring, their ports on
    the admin bind address, and every file they mount present."""
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKD_")}
    env.pop("COMPOSE_FILE", None)
    r = subprocess.run([compose, "-p", "hookdprom", "-f", COMPOSE, "--profile", "monitoring",
                        "config"], capture_output=True, text=True, timeout=60, cwd=REPO,
                       env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(r.stdout)
    svc = doc["services"]
    assert svc["prometheus"]["profiles"] == ["monitoring"]
    assert svc["grafana"]["profiles"] == ["monitoring"]
    assert "profiles" not in svc["hookd"]
    mounts = []
    for s in ("prometheus", "grafana"):
        for v in svc[s]["volumes"]:
            if isinstance(v, dict):  # docker compose v2
                if v.get("type") == "bind":
                    mounts.append((v["source"], v["target"]))
            elif v.startswith("/"):  # docker-compose v1: "src:dst:mode"
                mounts.append(tuple(v.split(":")[:2]))
    assert len(mounts) == 5, mounts
    for src, _ in mounts:
        assert os.path.exists(src), src
    targets = dict((t, s) for s, t in mounts)
    assert targets["/etc/prometheus/prometheus.yml"] == SCRAPE_CONF
    assert targets["/etc/prometheus/hookd.rules.yml"] == RULES
    assert targets["/var/lib/grafana/dashboards/hookd.json"] == DASHBOARD
    prov = os.path.join(REPO, "etc", "grafana", "provisioning")
    assert targets["/etc/grafana/provisioning/datasources"] == os.path.join(prov, "datasources")
    assert targets["/etc/grafana/provisioning/dashboards"] == os.path.join(prov, "dashboards")
    # The scrape config points at the hookd service's admin port.
    scrape = yaml.safe_load(open(SCRAPE_CONF))
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["hookd:9090"]
    assert scrape["rule_files"] == ["hookd.rules.yml"]
    # The provisioned datasource is the compose Prometheus.
    ds = yaml.safe_load(open(os.path.join(REPO, "etc", "grafana", "provisioning",
                                          "datasources", "hookd.yml")))
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    prov = yaml.safe_load(open(os.path.join(REPO, "etc", "grafana", "provisioning",
                                            "dashboards", "hookd.yml")))
    assert prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    for s in ("prometheus", "grafana"):
        for p in svc[s]["ports"]:
            host = p["host_ip"] if isinstance(p, dict) else str(p).split(":")[0]
            assert host == "127.0.0.1", (s, p)
