"""
test_sink.py - perf/sink.py, the demo receiver and benchmark sink: its
signature check (signatures computed here with hmac, apart from hookd), its
counters, its control API and its failure modes.
"""

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests

import harness

SINK = os.path.join(harness.REPO, "perf", "sink.py")
KEY = b"sink-test-key-not-real"
WHSEC = "whsec_" + base64.b64encode(KEY).decode()


class Sink:
    def __init__(self, *args):
        self.port = harness.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = subprocess.Popen(
            [sys.executable, SINK, "--listen", "127.0.0.1:%d" % self.port] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("sink.py exited: %s" % self.proc.stderr.read())
            return requests.get(self.url + "/_stats", timeout=1).status_code == 200
        harness.wait_for(up, 10, 0.05, what="sink.py to answer", ignore=(OSError,))

    def stats(self):
        return requests.get(self.url + "/_stats", timeout=5).json()

    def config(self, **kw):
        return requests.post(self.url + "/_config", data=json.dumps(kw), timeout=5)

    def stop(self):
        """SIGTERM; (exit status, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=10)
        return self.proc.returncode, out, err

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()


@pytest.fixture
def sink_factory():
    sinks = []

    def start(*args):
        s = Sink(*args)
        sinks.append(s)
        return s
    yield start
    for s in sinks:
        s.kill()


def uuid7(ms=None):
    ms = int(time.time() * 1000) if ms is None else ms
    rnd = int.from_bytes(os.urandom(10), "big")
    v = (ms << 80) | (0x7 << 76) | ((rnd >> 68) & 0xfff) << 64 \
        | (0b10 << 62) | (rnd & ((1 << 62) - 1))
    return str(uuid.UUID(int=v))


def signed(body, wid=None, key=KEY, ts=None):
    wid = wid or uuid7()
    ts = str(int(time.time()) if ts is None else ts)
    sig = base64.b64encode(hmac.new(key, ("%s.%s." % (wid, ts)).encode() + body,
                                    hashlib.sha256).digest()).decode()
    return {"webhook-id": wid, "webhook-timestamp": ts, "webhook-signature": "v1," + sig,
            "Content-Type": "application/json"}


def post(sink, body, headers, session=None, path="/hooks"):
    return (session or requests).post(sink.url + path, data=body, headers=headers, timeout=10)


def test_signature_checked(sink_factory):
    s = sink_factory("--secret", WHSEC, "--quiet")
    body = b'{"event":"ping"}'
    assert post(s, body, signed(body)).status_code == 200
    # Several signatures, one of them good (key rotation on the sender's side).
    h = signed(body)
    h["webhook-signature"] = "v1,AAAA v1a,xyz " + h["webhook-signature"]
    assert post(s, body, h).status_code == 200
    # Wrong key, changed body, no signature at all.
    assert post(s, body, signed(body, key=b"other")).status_code == 401
    h = signed(body)
    assert post(s, body + b" ", h).status_code == 401
    assert post(s, body, {"webhook-id": uuid7()}).status_code == 401
    st = s.stats()
    assert st["requests"] == 5 and st["bad_signature"] == 3
    assert st["unique"] == 2 and st["accepted"] == 2
    assert st["responses"] == {"200": 2, "401": 3}


def test_counts_duplicates_retries_and_latency(sink_factory):
    s = sink_factory("--quiet")
    body = b"{}"
    old = uuid7(int(time.time() * 1000) - 250)
    with requests.Session() as sess:       # one kept-alive connection
        assert post(s, body, {"webhook-id": old}, sess).status_code == 200
        assert post(s, body, {"webhook-id": old}, sess).status_code == 200     # duplicate
        assert s.config(status=503, retry_after=7).status_code == 200
        wid = uuid7()
        r = post(s, body, {"webhook-id": wid}, sess)
        assert r.status_code == 503 and r.headers["Retry-After"] == "7"
        assert s.config(status=200).status_code == 200
        assert post(s, body, {"webhook-id": wid}, sess).status_code == 200     # retry
        assert post(s, body, {}, sess).status_code == 200                      # no id
    st = s.stats()
    assert st["requests"] == 5 and st["unique"] == 2
    assert st["duplicates"] == 1 and st["retries"] == 1 and st["missing_id"] == 1
    assert st["responses"] == {"200": 4, "503": 1}
    lat = st["latency_ms"]
    assert lat["count"] == 2                 # once per id, when first acknowledged
    assert lat["max"] >= 250 and lat["p50"] is not None and lat["p99"] <= lat["max"]
    assert requests.post(s.url + "/_reset", timeout=5).status_code == 200
    st = s.stats()
    assert st["requests"] == 0 and st["unique"] == 0 and st["latency_ms"]["count"] == 0


def test_config_switches_behaviour_live(sink_factory):
    s = sink_factory("--quiet")
    assert post(s, b"{}", {"webhook-id": uuid7()}).status_code == 200
    r = s.config(status=500)
    assert r.status_code == 200 and r.json()["status"] == 500
    assert post(s, b"{}", {"webhook-id": uuid7()}).status_code == 500
    assert s.config(status=200, fail_rate=1.0).status_code == 200
    assert post(s, b"{}", {"webhook-id": uuid7()}).status_code == 500
    assert s.config(fail_rate=0, delay_ms=300).status_code == 200
    t0 = time.monotonic()
    assert post(s, b"{}", {"webhook-id": uuid7()}).status_code == 200
    assert time.monotonic() - t0 >= 0.29
    # A bad config changes nothing.
    r = s.config(status=99, delay_ms=0)
    assert r.status_code == 400 and "status" in r.json()["message"]
    assert s.config(bogus=1).status_code == 400
    assert requests.get(s.url + "/_config", timeout=5).json() == {
        "status": 200, "delay_ms": 300, "fail_rate": 0, "retry_after": None}
    assert s.stats()["responses"] == {"200": 2, "500": 2}


def test_command_line_failure_modes(sink_factory):
    s = sink_factory("--status", "429", "--retry-after", "3", "--quiet")
    r = post(s, b"{}", {"webhook-id": uuid7()})
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    s2 = sink_factory("--fail-rate", "1", "--quiet")
    assert post(s2, b"{}", {}).status_code == 500


def test_expect_continue_and_chunked(sink_factory):
    s = sink_factory("--secret", WHSEC, "--quiet")
    body = b'{"big":"' + b"x" * 5000 + b'"}'
    h = signed(body)
    head = "POST /hooks HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n" \
        % len(body) + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(head.encode())
        assert c.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        c.sendall(body)
        assert c.recv(1000).startswith(b"HTTP/1.1 200 OK\r\n")
        # The same connection, a chunked body.
        body2 = b'{"n":2}'
        h2 = signed(body2)
        c.sendall(("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   + "".join("%s: %s\r\n" % kv for kv in h2.items()) + "\r\n").encode()
                  + b"3\r\n" + body2[:3] + b"\r\n4\r\n" + body2[3:] + b"\r\n0\r\n\r\n")
        assert c.recv(1000).startswith(b"HTTP/1.1 200 OK\r\n")
    assert s.stats()["unique"] == 2


def test_prints_a_line_per_webhook_and_stops_on_sigterm(sink_factory):
    s = sink_factory("--secret", WHSEC)
    wid = uuid7()
    assert post(s, b"{}", signed(b"{}", wid)).status_code == 200
    assert post(s, b"{}", {"webhook-id": "x"}).status_code == 401
    rc, out, err = s.stop()
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == 2
    assert wid in lines[0] and "sig ok" in lines[0] and "-> 200" in lines[0]
    assert "sig BAD" in lines[1] and "-> 401" in lines[1]
    assert "2 requests, 1 unique" in err and "1 bad signatures" in err


def test_bad_arguments():
    r = subprocess.run([sys.executable, SINK, "--secret", "whsec_***"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "not a Standard Webhooks secret" in r.stderr
    r = subprocess.run([sys.executable, SINK, "--fail-rate", "2"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "fail_rate" in r.stderr
