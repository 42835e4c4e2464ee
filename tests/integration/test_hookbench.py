"""
test_hookbench.py - the load generator against a real hookd: what it
reports must match what hookd stored, its signatures must pass hookd's
checks, the open loop must keep its schedule and charge a stall to every
request that waited for it, and it must refuse targets off this machine.
"""

import base64
import json
import os
import subprocess
import threading
import time

import pytest

import harness

SECRET = "hookbench-secret-not-real"
WHSEC = "whsec_" + base64.b64encode(b"hookbench-standard-key").decode()

SOURCES = """
{ name = "test"; },
{ name = "github"; verify = { scheme = "github"; secrets = ["%(s)s"]; }; },
{ name = "stripe"; verify = { scheme = "stripe"; secrets = ["%(s)s"]; }; },
{ name = "standard"; verify = { scheme = "standard"; secrets = ["%(w)s"]; }; },
{ name = "shopify"; verify = { scheme = "shopify"; secrets = ["%(s)s"]; }; },
{ name = "slack"; verify = { scheme = "slack"; secrets = ["%(s)s"]; }; },
{ name = "partner"; verify = { scheme = "hmac-sha256"; secrets = ["%(s)s"];
  header = "X-Signature"; encoding = "base64"; prefix = "sha256="; }; }
""" % {"s": SECRET, "w": WHSEC}


def hookbench(*args, timeout=60):
    """Run hookbench with args; (CompletedProcess, parsed JSON or None)."""
    argv = [os.path.join(harness.bin_dir(), "hookbench")] + [str(a) for a in args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    report = harness.sanitizer_report(r.stderr)
    assert not report, "sanitizer report from hookbench:\n" + r.stderr
    out = None
    if "--json" in argv and r.returncode in (0, 1) and r.stdout.strip():
        out = json.loads(r.stdout)
    return r, out


def xlen(redis_server):
    c = redis_server.client()
    try:
        return c.xlen("hookd:events")
    finally:
        c.close()


@pytest.fixture
def gw(hookd_factory):
    return hookd_factory(workers=2, sources=SOURCES)


def test_counts_match_the_stream(gw, redis_server):
    r, j = hookbench("-u", gw.url + "/webhooks/test", "-n", 200, "-c", 4, "--json")
    assert r.returncode == 0, r.stderr
    assert j["sent"] == 200 and j["completed"] == 200, j
    assert j["errors"]["total"] == 0, j
    assert j["status"] == {"202": 200}, j
    assert j["mode"] == "closed" and j["connections"] == 4
    # -n alone has no warm-up: every request is measured.
    assert j["measured"] == 200 and j["rate"] > 0
    lat = j["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
    assert xlen(redis_server) == 200


def test_table_output(gw):
    r, _ = hookbench("-u", gw.url + "/webhooks/test", "-n", 50, "-c", 2)
    assert r.returncode == 0, r.stderr
    assert "50 sent, 50 completed" in r.stdout, r.stdout
    assert "202: 50" in r.stdout
    assert "p99.9" in r.stdout


@pytest.mark.parametrize("source,extra", [
    ("github", ["--scheme", "github", "--secret", SECRET]),
    ("github", ["--scheme", "github", "--secret", SECRET, "--unique-keys"]),
    ("stripe", ["--scheme", "stripe", "--secret", SECRET]),
    ("standard", ["--scheme", "standard", "--secret", WHSEC]),
    ("shopify", ["--scheme", "shopify", "--secret", SECRET, "--unique-keys"]),
    ("slack", ["--scheme", "slack", "--secret", SECRET]),
    ("partner", ["--scheme", "hmac-sha256", "--secret", SECRET, "--header", "X-Signature",
                 "--encoding", "base64", "--prefix", "sha256="]),
])
def test_signed_requests_are_accepted(gw, redis_server, source, extra):
    r, j = hookbench("-u", gw.url + "/webhooks/" + source, "-n", 100, "-c", 4, "--json", *extra)
    assert r.returncode == 0, r.stderr
    assert j["status"] == {"202": 100}, j
    assert j["errors"]["total"] == 0, j
    assert xlen(redis_server) == 100


def test_wrong_secret_is_refused(gw, redis_server):
    r, j = hookbench("-u", gw.url + "/webhooks/github", "-n", 20, "-c", 2, "--json",
                     "--scheme", "github", "--secret", "not-the-secret")
    assert r.returncode == 0, r.stderr
    assert j["status"] == {"401": 20}, j
    assert j["errors"]["http"] == 20 and j["errors"]["total"] == 20
    assert xlen(redis_server) == 0


def test_unique_github_deliveries_are_all_stored(gw, redis_server):
    r, j = hookbench("-u", gw.url + "/webhooks/github", "-n", 300, "-c", 8, "--json",
                     "--scheme", "github", "--secret", SECRET, "--unique-keys")
    assert j["status"] == {"202": 300}, j
    c = redis_server.client()
    try:
        deliveries = {json.loads(f[b"headers"])["x-github-delivery"]
                      for _, f in c.xrange("hookd:events")}
    finally:
        c.close()
    assert len(deliveries) == 300


def test_repeated_key_is_stored_once(gw, redis_server):
    r, j = hookbench("-u", gw.url + "/webhooks/github", "-n", 200, "-c", 4, "--json",
                     "--scheme", "github", "--secret", SECRET, "--repeat-keys")
    assert r.returncode == 0, r.stderr
    assert j["status"] == {"202": 1, "200": 199}, j
    assert j["errors"]["total"] == 0
    assert xlen(redis_server) == 1


def test_open_loop_keeps_its_schedule(gw):
    t0 = time.monotonic()
    r, j = hookbench("-u", gw.url + "/webhooks/test", "--rate", 200, "-d", 1, "-c", 4,
                     "--json", "--unique-keys")
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert j["mode"] == "open" and j["target_rate"] == 200
    # Requests 0..199 fall due within the second; each is sent, late or not.
    assert j["sent"] == 200 and j["completed"] == 200, j
    assert j["errors"]["total"] == 0 and j["unsent"] == 0, j
    # The measured half second after the warm-up runs at the scheduled rate.
    assert 150 <= j["rate"] <= 250, j
    assert elapsed < 5


def test_open_loop_charges_a_stall_to_every_waiting_request(gw, redis_server):
    """Redis stops answering for 0.5 s in the middle of a 2 s run at 200/s.
    About 100 requests fall due during the stall; each is charged from its
    due time, so the stall reaches p90, not just the max.  A closed-loop
    tool with 2 connections would see it in 2 requests only."""
    def stall():
        time.sleep(0.8)
        redis_server.pause()
        time.sleep(0.5)
        redis_server.resume()

    t = threading.Thread(target=stall)
    t.start()
    try:
        r, j = hookbench("-u", gw.url + "/webhooks/test", "--rate", 200, "-d", 2, "-c", 2,
                         "-w", 0, "--json")
    finally:
        t.join()
        redis_server.resume()
    assert r.returncode == 0, r.stderr
    assert j["completed"] >= 390, j
    assert j["latency_ms"]["max"] >= 300, j
    assert j["latency_ms"]["p90"] >= 50, j


@pytest.mark.parametrize("url", [
    "http://10.1.2.3:8080/webhooks/test",
    "http://192.168.0.1/webhooks/test",
    "http://example.com/webhooks/test",
    "http://[2001:db8::1]:80/webhooks/test",
])
def test_non_loopback_target_is_refused(url):
    r, _ = hookbench("-u", url, "-n", 1, "--json")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "refusing" in r.stderr and "loopback" in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("args", [
    [],
    ["-u", "https://127.0.0.1/webhooks/test"],
    ["-u", "http://127.0.0.1:8080/webhooks/test", "-c", "0"],
    ["-u", "http://127.0.0.1:8080/webhooks/test", "--scheme", "github"],
    ["-u", "http://127.0.0.1:8080/webhooks/test", "--scheme", "nope", "--secret", "x"],
    ["-u", "http://127.0.0.1:8080/webhooks/test", "--rate", "-5"],
])
def test_usage_errors_exit_2(args):
    r, _ = hookbench(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stderr.startswith("hookbench: ") or "usage" in r.stderr


def test_nothing_listening_exits_1():
    port = harness.free_port()
    r, j = hookbench("-u", "http://127.0.0.1:%d/webhooks/test" % port, "-n", 10, "-c", 2,
                     "-t", 1, "--json", timeout=30)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "cannot connect" in r.stderr
