"""
test_dashboard.py - the live dashboard of the admin port, as an operator sees
it: Debian's chromium, headless, driven through chromedriver (selenium),
loads GET /dashboard of a hookd under load, logs in with the admin token,
waits until the charts have drawn their lines, and reads the figures off the
page to hold them against GET /stats: under load with tolerances (the
windows move every second), and once the load has stopped exactly, digit for
digit.  A screenshot must not be blank.  The data endpoint refuses a request
without the token when one is set, and is open, like /stats, when none is.
"""

import io
import json
import os
import subprocess
import time

import pytest
import requests

import harness
import sinkutil

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKEN = "dashboard-test-token-not-real"
CHARTS = {
    # canvas: the colour of a line that has data under this test's load
    "chart-rates": (0x1b, 0x7f, 0x3b),      # delivery attempts/s
    "chart-errors": (0x8e, 0x5b, 0xb5),     # duplicates/s
    "chart-ingest": (0xc0, 0x39, 0x2b),     # p99
    "chart-delivery": (0xc0, 0x39, 0x2b),   # p99
}
STAGES = {"ingest": ("receive", "verify", "parse", "enqueue", "respond", "total"),
          "delivery": ("queue", "store", "connect", "ttfb", "attempt", "ack", "e2e")}


def admin(h, path, token=None, method="GET"):
    headers = {"Authorization": "Bearer " + token} if token else {}
    return requests.request(method, h.admin_url + path, headers=headers, timeout=10)


def stats(h):
    r = admin(h, "/stats")
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def sink():
    s = sinkutil.Sink()
    yield s
    s.close()


@pytest.fixture
def gone():
    """A receiver that answers 410: its destination gets disabled."""
    s = sinkutil.Sink()
    s.answer(410)
    yield s
    s.close()


@pytest.fixture
def browser():
    """Headless chromium through chromedriver, with its console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert os.access(path, os.X_OK), "%s is missing: run scripts/deps.sh" % path
    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    # --no-sandbox: CI runs as root, where chromium's sandbox refuses to
    # start.  Nothing may reach the network: no proxy, no background calls.
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1400,2300",
                "--hide-scrollbars", "--no-first-run", "--no-proxy-server",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions",
                "--user-data-dir=" + harness.make_tempdir("chromium-")):
        o.add_argument(arg)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    log = os.path.join(harness.make_tempdir("chromedriver-"), "chromedriver.log")
    d = webdriver.Chrome(service=Service(CHROMEDRIVER, log_path=log), options=o)
    d.set_page_load_timeout(30)
    d.set_script_timeout(30)
    try:
        yield d
    finally:
        d.quit()


class Load:
    """hookbench in the background: unique events, and a share of repeats
    (duplicates), each at a fixed rate."""

    def __init__(self, h, rate, dup_rate, seconds):
        bench = os.path.join(harness.bin_dir(), "hookbench")
        url = h.url + "/webhooks/test"
        common = ["-u", url, "-c", "2", "-d", str(seconds), "--json"]
        self.procs = [
            subprocess.Popen([bench, "--rate", str(rate)] + common,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE),
            subprocess.Popen([bench, "--rate", str(dup_rate), "--repeat-keys"] + common,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE),
        ]

    def stop(self):
        out = []
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(2)    # SIGINT: hookbench stops and reports
            stdout, stderr = p.communicate(timeout=30)
            assert not harness.sanitizer_report(stderr.decode()), stderr.decode()
            out.append(json.loads(stdout) if stdout.strip() else None)
        return out


def by_id(d, ids):
    """{id: text} of the elements with these ids."""
    return d.execute_script(
        "return Object.fromEntries(arguments[0].map("
        "  (i) => [i, (document.getElementById(i) || {}).textContent]));", ids)


def num(text):
    assert text not in (None, "", "-"), "the page shows no number: %r" % text
    return float(text)


# What the charts have drawn: per canvas, the points of its first data set and
# the pixels of the chart area (legend and axes left out) in the colour of a
# line that must be there.
CHARTS_JS = """
const want = arguments[0], out = {};
for (const [id, rgb] of Object.entries(want)) {
    const c = document.getElementById(id), ch = Chart.getChart(c);
    if (!ch) { out[id] = [0, 0]; continue; }
    const r = ch.currentDevicePixelRatio || 1, a = ch.chartArea;
    const x = Math.ceil(a.left * r), y = Math.ceil(a.top * r);
    const w = Math.floor((a.right - a.left) * r), h = Math.floor((a.bottom - a.top) * r);
    const px = c.getContext("2d").getImageData(x, y, w, h).data;
    let ink = 0;
    for (let i = 0; i < px.length; i += 4)
        if (Math.abs(px[i] - rgb[0]) < 40 && Math.abs(px[i + 1] - rgb[1]) < 40 &&
            Math.abs(px[i + 2] - rgb[2]) < 40 && px[i + 3] > 200)
            ink++;
    const pts = ch.data.datasets[0].data.filter((p) => p.y !== null).length;
    out[id] = [pts, ink];
}
return out;
"""


def charts_drawn(d, points):
    got = d.execute_script(CHARTS_JS, CHARTS)
    return all(n >= points and ink >= 30 for n, ink in got.values()) and got


def stage_ids(kinds_stages, keys):
    return ["stage-%s-%s-%s" % (k, s, key) for k, ss in kinds_stages for s in ss for key in keys]


def compare_under_load(d, h):
    """Rates and percentiles of the 10 s window, page against /stats read
    just after; the window moves a second at a time, hence the slack."""
    chosen = (("ingest", ("total", "enqueue")), ("delivery", ("attempt",)))
    ids = ["tile-ingest-rate", "tile-delivery-rate", "tile-duplicates", "window-s"]
    ids += stage_ids(chosen, ("p50", "p90", "p99"))
    page = by_id(d, ids)
    s = stats(h)
    wi, wd = s["ingest"]["windows"]["10s"], s["delivery"]["windows"]["10s"]
    problems = []

    def close(name, got, want, rel, ab):
        if abs(got - want) > rel * want + ab:
            problems.append("%s: page %.3f, /stats %.3f" % (name, got, want))

    close("ingest rate", num(page["tile-ingest-rate"]), wi["rate"], 0.25, 3)
    close("delivery rate", num(page["tile-delivery-rate"]), wd["rate"], 0.25, 3)
    close("duplicates/s", num(page["tile-duplicates"]),
          wi["duplicates"] / wi["seconds"], 0.35, 2)
    for kind, names in chosen:
        w = wi if kind == "ingest" else wd
        for name in names:
            for key, rel, ab in (("p50", 0.5, 0.5), ("p90", 0.75, 1.0), ("p99", 2.0, 3.0)):
                close("%s %s %s" % (kind, name, key),
                      num(page["stage-%s-%s-%s" % (kind, name, key)]),
                      w["stages"][name][key + "_ms"], rel, ab)
    return problems, page, s


def exact_ids():
    ids = stage_ids(STAGES.items(), ("count", "p50", "p90", "p99", "max"))
    return ids + ["tile-stream-length", "tile-stream-pending"]


def exact_expected(s):
    """What the page must show in the all-time window, from /stats."""
    out = {}
    for kind, names in STAGES.items():
        w = s[kind]["windows"]["all"]
        for name in names:
            st = w["stages"][name]
            pre = "stage-%s-%s-" % (kind, name)
            out[pre + "count"] = str(st["count"])
            for key in ("p50", "p90", "p99", "max"):
                out[pre + key] = "%.3f" % st[key + "_ms"] if st["count"] else "-"
    out["tile-stream-length"] = str(s["redis"]["stream_length"])
    out["tile-stream-pending"] = str(s["redis"]["pending"])
    return out


def check_screenshot(path, size):
    from PIL import Image

    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert len(data) > 30000, "a %d-byte screenshot is a blank page" % len(data)
    img = Image.open(io.BytesIO(data)).convert("RGB")
    assert img.size == size, img.size
    colors = img.getcolors(maxcolors=1 << 20)
    assert len(colors) > 50, "the screenshot has %d colours" % len(colors)
    top = max(n for n, _ in colors)
    assert top < 0.9 * size[0] * size[1], "the screenshot is nearly one colour"


def test_dashboard_in_chromium_agrees_with_stats(hookd_factory, sink, gone, browser):
    h = hookd_factory(
        workers=1, admin_token=TOKEN,
        destinations='{ name = "crm"; url = "%s/hooks"; sources = ["test"]; },'
                     '{ name = "gone"; url = "%s/hooks"; sources = ["test"]; }'
                     % (sink.url, gone.url))
    load = Load(h, rate=60, dup_rate=8, seconds=40)
    d = browser
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    try:
        # With admin.token set, the page loads but asks for the token; a
        # wrong one is refused, the right one shows the figures.
        d.get(h.admin_url + "/dashboard")
        harness.wait_for(lambda: d.find_element(By.ID, "login").is_displayed(), 20,
                         0.1, what="the login form")
        assert not d.find_element(By.ID, "main").is_displayed()
        d.find_element(By.ID, "token").send_keys("not-the-token")
        d.find_element(By.CSS_SELECTOR, "#login button").click()
        harness.wait_for(lambda: "refused" in d.find_element(By.ID, "login-error").text,
                         20, 0.1, what="the wrong token to be refused")
        d.find_element(By.ID, "token").send_keys(TOKEN)
        d.find_element(By.CSS_SELECTOR, "#login button").click()
        harness.wait_for(lambda: d.find_element(By.ID, "main").is_displayed(), 20, 0.1,
                         what="the dashboard to show its figures")

        # The charts draw a point a second; five seconds of load in each.
        drawn = harness.wait_for(lambda: charts_drawn(d, 5), 40, 0.25,
                                 what="every chart to draw its line")
        assert drawn, drawn
        # The 10 s window: agreeing within tolerance, or the next read.
        problems = None
        for _ in range(5):
            problems, page, s = compare_under_load(d, h)
            if not problems:
                break
            time.sleep(1.1)
        assert not problems, "the page disagrees with /stats:\n" + "\n".join(problems)
        assert num(page["tile-ingest-rate"]) > 20, page
        # The last second drawn on the throughput chart is that load too.
        last = d.execute_script(
            "const p = hookdDashboard.points; return p[p.length - 2].ingest.requests;")
        assert 20 <= last <= 150, last

        shots = harness.make_tempdir("dashboard-shot-")
        path = os.path.join(shots, "dashboard.png")
        assert d.save_screenshot(path)
        size = d.execute_script("return [window.innerWidth, window.innerHeight];")
        check_screenshot(path, tuple(size))
    finally:
        bench = load.stop()
    assert all(b and b["errors"]["total"] == 0 for b in bench), bench

    # Load stopped: once every event is delivered and acknowledged, nothing
    # moves in the all-time window, and the page must show /stats exactly.
    def settled():
        a = stats(h)
        time.sleep(1.2)
        b = stats(h)
        return (a["ingest"]["requests"] == b["ingest"]["requests"]
                and a["delivery"]["requests"] == b["delivery"]["requests"]
                and b["redis"]["pending"] == 0 and b)
    s = harness.wait_for(settled, 60, 0.1, what="deliveries to finish")
    assert s["delivery"]["requests"] >= 100, s["delivery"]
    Select(d.find_element(By.ID, "window")).select_by_value("all")
    seen = d.execute_script("return hookdDashboard.updates;")
    last = {}

    def page_is_stats():
        if d.execute_script("return hookdDashboard.updates;") < seen + 2:
            return False
        last["page"] = by_id(d, exact_ids())
        last["want"] = exact_expected(stats(h))
        return last["page"] == last["want"]
    try:
        harness.wait_for(page_is_stats, 15, 0.2, what="the page to show /stats")
    except TimeoutError:
        diff = {k: (last["page"].get(k), v) for k, v in last["want"].items()
                if last["page"].get(k) != v}
        pytest.fail("page against /stats, all time: %s" % diff)
    rows = d.execute_script(
        "return [...document.querySelectorAll('#processes tbody tr')]"
        ".map((r) => r.cells[3].textContent);")
    detailed = admin(h, "/health/detailed").json()
    assert sorted(rows) == sorted(str(p["pid"]) for p in detailed["processes"])

    # What /metrics samples besides: the destination that answered 410 is
    # disabled, the other one enabled with its breaker closed; every
    # process has its CPU time and memory.
    def table(tid):
        return d.execute_script(
            "return [...document.querySelectorAll('#' + arguments[0] + ' tbody tr')]"
            ".map((r) => [...r.cells].map((c) => c.textContent));", tid)

    def dest_states():
        got = {r[0]: r[-2:] for r in table("destinations")}
        return got == {"crm": ["closed", "enabled"], "gone": ["closed", "disabled"]} \
            or got == {"crm": ["closed", "enabled"], "gone": ["open", "disabled"]}
    harness.wait_for(dest_states, 30, 0.2, what="gone disabled, crm enabled")
    harness.wait_for(lambda: all(r[9].endswith(" s") and r[10].endswith("B")
                                 for r in table("processes")),
                     15, 0.2, what="CPU and memory of every process")

    # The token went in a header, never into a URL; the page ran without
    # an error (a CSP violation would be one) but the two 401s it was
    # meant to get: before the login and for the wrong token.
    urls = d.execute_script(
        "return [location.href, ...performance.getEntriesByType('resource')"
        ".map((e) => e.name)];")
    assert not [u for u in urls if TOKEN in u], urls
    errors = [e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE"]
    refused = [e for e in errors if "/dashboard/data" in e and "status of 401" in e]
    assert len(refused) == 2 and len(errors) == 2, errors

    # The data endpoint itself: 401 without the token or with a wrong one.
    r = admin(h, "/dashboard/data")
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert admin(h, "/dashboard/data", token="not-the-token").status_code == 401
    r = admin(h, "/dashboard/data", token=TOKEN)
    assert r.status_code == 200 and r.json()["stats"]["instance"] == h.instance
    # The page and what it loads are public: they hold no figures.
    for path in ("/", "/dashboard", "/dashboard/dashboard.js", "/dashboard/chart.js"):
        assert admin(h, path).status_code == 200, path

    # Without Chart.js (libjs-chart.js not installed: here the browser is
    # kept from loading it) the page says so and still shows its tables.
    d.execute_cdp_cmd("Network.enable", {})
    d.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/dashboard/chart.js"]})
    d.get(h.admin_url + "/dashboard")
    harness.wait_for(lambda: d.find_element(By.ID, "main").is_displayed(), 20, 0.1,
                     what="the figures, still logged in (sessionStorage)")
    assert d.find_element(By.ID, "nocharts").is_displayed()
    assert d.execute_script("return typeof Chart;") == "undefined"
    want = str(stats(h)["ingest"]["sources"]["test"]["requests"])
    harness.wait_for(lambda: d.execute_script(
        "return document.querySelector('#sources tbody tr').cells[5].textContent;") == want,
        10, 0.2, what="the sources table without charts")


def test_dashboard_data_without_a_token(hookd_factory):
    """No admin.token: the figures are as open as /stats (read-only); the
    history carries complete seconds after ?since= only."""
    h = hookd_factory(workers=1)
    for i in range(20):
        assert requests.post(h.url + "/webhooks/test", json={"i": i},
                             timeout=10).status_code == 202

    def with_history():
        r = admin(h, "/dashboard/data")
        assert r.status_code == 200, r.text
        d = r.json()
        return sum(p["ingest"]["requests"] for p in d["history"]) >= 20 and d
    d = harness.wait_for(with_history, 15, 0.2, what="the 20 requests in the history")
    assert d["stats"]["ingest"]["sources"]["test"]["requests"] == 20
    assert d["stages"]["ingest"] == list(STAGES["ingest"])
    assert d["stages"]["delivery"] == list(STAGES["delivery"])
    secs = [p["sec"] for p in d["history"]]
    assert secs == sorted(secs) and secs[-1] == d["sec"] and len(secs) <= 60
    busy = [p for p in d["history"] if p["ingest"]["requests"]]
    total = STAGES["ingest"].index("total")
    assert all(len(p["ingest"]["p"]) == 6 and p["ingest"]["p"][total] for p in busy)
    assert {p["pid"] for p in d["processes"]} == \
        {p["pid"] for p in admin(h, "/health/detailed").json()["processes"]}
    assert d["redis"]["up"] is True

    # Only the seconds after since.
    time.sleep(1.1)
    d2 = admin(h, "/dashboard/data?since=%d" % d["sec"]).json()
    assert d2["sec"] > d["sec"]
    assert [p["sec"] for p in d2["history"]] == list(range(d["sec"] + 1, d2["sec"] + 1))

    page = admin(h, "/")
    assert page.status_code == 200 and "<canvas" in page.text
    assert page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert admin(h, "/dashboard").text == page.text
    r = admin(h, "/dashboard/data", method="POST")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    assert admin(h, "/dashboard/nothing").status_code == 404
