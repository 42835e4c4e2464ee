"""
sinkutil.py - a receiver for the delivery tests: a threaded http.server on
127.0.0.1 that records every request, answers what the test tells it to
(status, extra headers, delay, or hold until released), and checks
Standard Webhooks signatures with Python's hmac, apart from hookd's code;
and DemoSink, perf/sink.py (the demo receiver) run on a free port, for the
tests that count many deliveries.
"""

import base64
import hashlib
import hmac
import http.server
import os
import subprocess
import threading
import time

import requests

import harness


def whsec(raw):
    """A whsec_ secret for the raw key bytes."""
    return "whsec_" + base64.b64encode(raw).decode()


def verify(secret, headers, body):
    """True when webhook-signature is v1 HMAC-SHA256 of id.ts.body under secret."""
    key = base64.b64decode(secret[len("whsec_"):])
    msg = ("%s.%s." % (headers.get("webhook-id"), headers.get("webhook-timestamp"))).encode() + body
    want = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    sigs = (headers.get("webhook-signature") or "").split()
    return any(s == "v1," + want for s in sigs)


class Request:
    def __init__(self, path, headers, body):
        self.t = time.monotonic()
        self.path = path
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    @property
    def id(self):
        return self.headers.get("webhook-id")


class Sink:
    """Start with Sink(); .url is its base URL.  .answer(status, headers,
    delay) sets the default answer; .plan is a list of answers used first, in
    order; .hold() makes requests wait until .release()."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.status, self.headers, self.delay = 200, {}, 0.0
        self.plan = []
        self.gate = threading.Event()
        self.gate.set()
        self.held = 0
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with sink.lock:
                    sink.requests.append(Request(self.path, dict(self.headers), body))
                    status, hdrs, delay = (sink.plan.pop(0) if sink.plan
                                           else (sink.status, sink.headers, sink.delay))
                    sink.held += 0 if sink.gate.is_set() else 1
                sink.gate.wait(60)
                if delay:
                    time.sleep(delay)
                out = b'{"ok":true}'
                try:
                    self.send_response(status)
                    for k, v in hdrs.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, status=200, headers=None, delay=0.0):
        with self.lock:
            self.status, self.headers, self.delay = status, headers or {}, delay

    def hold(self):
        self.gate.clear()

    def release(self):
        self.gate.set()

    def got(self):
        with self.lock:
            return list(self.requests)

    def ids(self):
        return [r.id for r in self.got()]

    def close(self):
        self.release()
        self.server.shutdown()
        self.server.server_close()

class DemoSink:
    """perf/sink.py on a free port."""

    def __init__(self, workdir, name="sink", secret=None):
        self.port = harness.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(workdir, name + ".log"), "w")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(harness.REPO, "perf", "sink.py"),
             "--listen", "127.0.0.1:%d" % self.port, "--quiet"]
            + (["--secret", secret] if secret else []),
            stdout=self.log, stderr=subprocess.STDOUT)
        harness.wait_for(lambda: self.stats() is not None, 10, ignore=(OSError,),
                         what="the sink on %d" % self.port)

    def stats(self):
        return requests.get(self.url + "/_stats", timeout=2).json()

    def config(self, **kw):
        requests.post(self.url + "/_config", json=kw, timeout=2).raise_for_status()

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()
