"""
test_hooksink.py - bin/hooksink, the benchmark's C sink: its counts of
unique, repeated and missing webhook-ids over kept-alive and pipelined
requests written by hand on a raw socket, the end-to-end latency it reads
from a UUIDv7, its control paths, its limits, its refusal to listen off
this machine, and a hookbench load counted to the last request.
"""

import base64
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests

import harness

WHSEC = "whsec_" + base64.b64encode(b"hooksink-test-key-not-real").decode()


def binary(name):
    return os.path.join(harness.bin_dir(), name)


class Sink:
    def __init__(self, *args):
        self.port = harness.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = subprocess.Popen(
            [binary("hooksink"), "--listen", "127.0.0.1:%d" % self.port] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError("hooksink exited: %s" % self.proc.stderr.read())
            return requests.get(self.url + "/_stats", timeout=1).status_code == 200
        harness.wait_for(up, 10, 0.05, what="hooksink to answer", ignore=(OSError,))

    def stats(self):
        return requests.get(self.url + "/_stats", timeout=5).json()

    def stop(self):
        """SIGTERM; (exit status, stderr).  A sanitizer report fails the test."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=10)
        report = harness.sanitizer_report(err)
        assert not report, "sanitizer report from hooksink:\n" + err
        return self.proc.returncode, err

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()


@pytest.fixture
def sink():
    s = Sink("--quiet")
    yield s
    rc, err = s.stop()
    assert rc == 0 and err == "", (rc, err)


def uuid7(ms=None):
    ms = int(time.time() * 1000) if ms is None else ms
    rnd = int.from_bytes(os.urandom(10), "big")
    v = (ms << 80) | (0x7 << 76) | ((rnd >> 68) & 0xfff) << 64 \
        | (0b10 << 62) | (rnd & ((1 << 62) - 1))
    return str(uuid.UUID(int=v))


def request(wid=None, body=b'{"n":1}', close=False, path="/hooks", method="POST"):
    head = "%s %s HTTP/1.1\r\nHost: sink\r\nContent-Type: application/json\r\n" \
        "Content-Length: %d\r\n" % (method, path, len(body))
    if wid is not None:
        head += "webhook-id: %s\r\n" % wid
    if close:
        head += "Connection: close\r\n"
    return (head + "\r\n").encode() + body


def read_answers(sock, n):
    """The next n answers on sock: [(status, {lower-case header: value}, body)]."""
    buf, out = b"", []
    while len(out) < n:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            lines = buf[:end].decode("latin-1").split("\r\n")
            headers = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                headers[k.strip().lower()] = v.strip()
            size = int(headers.get("content-length", "0"))
            if len(buf) >= end + 4 + size:
                out.append((int(lines[0].split()[1]), headers, buf[end + 4:end + 4 + size]))
                buf = buf[end + 4 + size:]
                continue
        data = sock.recv(65536)
        assert data, "connection closed after %d of %d answers" % (len(out), n)
        buf += data
    assert buf == b"", "more answers than requests: %r" % buf[:200]
    return out


def test_counts_over_keep_alive_and_pipelining(sink):
    a, b, c = uuid7(), uuid7(), uuid7()
    with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as s:
        # Kept alive, one at a time: a, a again, no id.
        for req in (request(a), request(a), request()):
            s.sendall(req)
            ((status, h, body),) = read_answers(s, 1)
            assert status == 200 and body == b'{"ok":true}\n'
            assert h["content-type"] == "application/json" and "connection" not in h
        # Pipelined, and cut across heads and bodies: b, c, b, no id, c,
        # and a GET that is answered but not counted.
        batch = b"".join([request(b), request(c, body=b"x" * 5000), request(b), request(),
                          request(c), request(path="/health", method="GET", body=b"")])
        for i in range(0, len(batch), 1000):
            s.sendall(batch[i:i + 1000])
            time.sleep(0.002)
        answers = read_answers(s, 6)
        assert [st for st, _, _ in answers] == [200] * 6
        assert answers[5][2] == b"{}\n"
        # Connection: close is honoured: the answer says so, then EOF.
        s.sendall(request(uuid7(), close=True))
        ((status, h, _),) = read_answers(s, 1)
        assert status == 200 and h["connection"] == "close"
        assert s.recv(100) == b""
    st = sink.stats()
    assert st["requests"] == 9, st
    assert st["unique"] == 4 and st["duplicates"] == 3 and st["missing_id"] == 2, st
    assert st["responses"] == {"200": 9}
    assert st["latency_ms"]["count"] == 4


def test_latency_from_the_uuid7_timestamp(sink):
    old = uuid7(int(time.time() * 1000) - 250)
    with requests.Session() as sess:
        for wid in (old, old, "not-a-uuid-but-an-id"):
            r = sess.post(sink.url + "/hooks", data=b"{}", headers={"webhook-id": wid}, timeout=5)
            assert r.status_code == 200 and r.json() == {"ok": True}
    st = sink.stats()
    assert st["unique"] == 2 and st["duplicates"] == 1
    lat = st["latency_ms"]
    # Once, for the first sighting of the UUIDv7; the other id has no time.
    assert lat["count"] == 1, lat
    assert 249 <= lat["p50"] <= 1250 and lat["p50"] == lat["p99"], lat
    assert abs(lat["mean"] - lat["max"]) < 0.01 and lat["max"] >= 250, lat
    assert st["elapsed_s"] > 0 and st["rate_per_s"] > 0


def test_reset_empties_everything(sink):
    wid = uuid7()
    for _ in range(2):
        requests.post(sink.url + "/hooks", data=b"{}", headers={"webhook-id": wid}, timeout=5)
    assert requests.get(sink.url + "/anything", timeout=5).json() == {}
    st = sink.stats()
    assert st["requests"] == 2 and st["unique"] == 1 and st["duplicates"] == 1
    r = requests.post(sink.url + "/_reset", timeout=5)
    assert r.status_code == 200
    st = r.json()
    assert st["requests"] == 0 and st["unique"] == 0 and st["duplicates"] == 0
    assert st["latency_ms"] == {"count": 0, "mean": None, "p50": None, "p90": None,
                                "p99": None, "max": None}
    # The id set was emptied too: the same id is new again.
    requests.post(sink.url + "/hooks", data=b"{}", headers={"webhook-id": wid}, timeout=5)
    st = sink.stats()
    assert st["requests"] == 1 and st["unique"] == 1 and st["duplicates"] == 0


def test_large_body_with_expect_continue(sink):
    body = b"y" * (3 * 1024 * 1024)
    head = ("POST /hooks HTTP/1.1\r\nHost: sink\r\nContent-Length: %d\r\n"
            "Expect: 100-continue\r\nwebhook-id: %s\r\n\r\n" % (len(body), uuid7())).encode()
    with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as s:
        s.sendall(head)
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        ((status, _, _),) = read_answers(s, 1)
        assert status == 200
    st = sink.stats()
    assert st["unique"] == 1 and st["bytes"] == len(body)


@pytest.mark.parametrize("raw,status", [
    # A head that never ends, past 64 KiB.
    (b"POST /hooks HTTP/1.1\r\nX-Pad: " + b"a" * (70 * 1024), 431),
    # A body announced larger than 64 MiB (and never sent).
    (b"POST /hooks HTTP/1.1\r\nContent-Length: 67108865\r\n\r\n", 413),
    (b"POST /hooks HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 411),
    (b"POST hooks HTTP/1.1\r\n\r\n", 400),
], ids=["head-too-large", "body-too-large", "chunked", "bad-request-line"])
def test_limits_and_errors_close_the_connection(sink, raw, status):
    with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as s:
        s.sendall(raw)
        ((got, h, _),) = read_answers(s, 1)
        assert got == status and h["connection"] == "close"
        assert s.recv(100) == b""
    assert sink.stats()["requests"] == 0


@pytest.mark.parametrize("listen", [
    "10.1.2.3:8080", "0.0.0.0:8080", "192.168.0.1:80", "example.com:80", "[2001:db8::1]:80",
    "127.0.0.1", "127.0.0.1:http",
])
def test_listen_off_loopback_or_malformed_exits_2(listen):
    r = subprocess.run([binary("hooksink"), "--listen", listen], capture_output=True,
                       text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode == 2, (listen, r.returncode, r.stderr)
    assert r.stderr.startswith("hooksink: ")
    assert not harness.sanitizer_report(r.stderr), r.stderr


def test_hookbench_load_is_all_unique():
    s = Sink()
    try:
        r = subprocess.run([binary("hookbench"), "-u", s.url + "/hooks", "-c", "16",
                            "-n", "20000", "--scheme", "standard", "--secret", WHSEC,
                            "--unique-keys", "--json"],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        assert not harness.sanitizer_report(r.stderr), r.stderr
        st = s.stats()
    finally:
        rc, err = s.stop()
    assert '"completed":20000' in r.stdout and '"200":20000' in r.stdout, r.stdout
    assert st["requests"] == 20000 and st["unique"] == 20000, st
    assert st["duplicates"] == 0 and st["missing_id"] == 0, st
    # SIGTERM: a clean exit and a summary line (no --quiet here).
    assert rc == 0
    assert "hooksink: 20000 requests, 20000 unique, 0 duplicates" in err, err
