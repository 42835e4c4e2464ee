#!/usr/bin/python3
"""
sink.py - the receiving end of hookd's deliveries: demo receiver, test and
benchmark sink.

It takes webhooks on any path (the demo destination posts to /hooks), checks
their Standard Webhooks signature when given the destination's secret,
counts them (requests, unique webhook-ids, duplicates, bad signatures) and
measures end-to-end latency: a webhook-id is the event's UUIDv7, whose first
48 bits are the Unix time in milliseconds at which hookd received the event,
so "now minus that" is the time from the provider's request to this delivery.

It can also misbehave on purpose, to exercise retries: answer a fixed status,
fail a fraction of requests, answer slowly, send Retry-After.  The behaviour
can be changed while it runs, through a small control API on the same port:

    GET  /_stats    counters and latency percentiles, as JSON
    POST /_reset    zero the counters
    POST /_config   {"status": 500, "delay_ms": 0, "fail_rate": 0.0,
                     "retry_after": null}; answers the whole config
    GET  /_config   the current config

A GET on any other path answers 200 (a health check), and is not counted.

Counting: "unique" is the number of distinct webhook-ids with a good
signature; a request whose id was already answered 2xx is a "duplicate" (an
at-least-once redelivery), one whose id was seen but not yet acknowledged is
a "retry" (the sink itself asked for it).  Latency is recorded once per id,
when it is first acknowledged.

The server is one asyncio event loop speaking HTTP/1.1 with keep-alive,
written on asyncio.Protocol rather than http.server, which takes a few
hundred requests a second where a benchmark needs many thousands.  Requests
on one connection are answered in order; a delayed answer holds back the
next request of that connection only.

Python 3 standard library only.  SIGINT and SIGTERM stop it cleanly, after
printing a summary to stderr.
"""

import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import random
import signal
import sys
import time

MAX_HEADER = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
RESERVOIR = 1_000_000           # latencies kept for percentiles

REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    301: "Moved Permanently", 302: "Found", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    410: "Gone", 413: "Payload Too Large", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


# ---------------------------------------------------------------------------
# Behaviour and counters

class Config:
    """What the sink answers; changed by the command line and POST /_config."""

    def __init__(self, status=200, delay_ms=0.0, fail_rate=0.0, retry_after=None):
        self.status = status
        self.delay_ms = delay_ms
        self.fail_rate = fail_rate
        self.retry_after = retry_after

    def as_dict(self):
        return {"status": self.status, "delay_ms": self.delay_ms,
                "fail_rate": self.fail_rate, "retry_after": self.retry_after}

    def update(self, doc):
        """Apply a /_config document; raises ValueError naming a bad key,
        and changes nothing then."""
        if not isinstance(doc, dict):
            raise ValueError("the config is a JSON object")
        new = self.as_dict()
        for k, v in doc.items():
            if k == "status":
                if isinstance(v, bool) or not isinstance(v, int) or not 100 <= v <= 599:
                    raise ValueError("status is an HTTP status code, 100 to 599")
            elif k == "delay_ms":
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 600000:
                    raise ValueError("delay_ms is a number of milliseconds, 0 to 600000")
            elif k == "fail_rate":
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                    raise ValueError("fail_rate is a fraction, 0 to 1")
            elif k == "retry_after":
                if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                    raise ValueError("retry_after is a number of seconds, or null")
            else:
                raise ValueError("unknown key %r (status, delay_ms, fail_rate, retry_after)" % k)
            new[k] = v
        for k, v in new.items():
            setattr(self, k, v)

    def answer(self):
        """The status for the next webhook with a good signature."""
        if 200 <= self.status <= 299 and self.fail_rate > 0 and random.random() < self.fail_rate:
            return 500
        return self.status


class Stats:
    """Counters since start or the last /_reset."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.since = time.time()
        self.requests = 0           # webhook requests (control API not counted)
        self.bytes = 0
        self.accepted = 0           # signature good or not checked
        self.unique = 0
        self.duplicates = 0
        self.retries = 0
        self.bad_signature = 0
        self.missing_id = 0
        self.responses = {}         # status code -> count
        self.seen = {}              # webhook-id -> answered 2xx
        self.lat = []               # e2e latencies, ms (a reservoir sample)
        self.lat_count = 0
        self.lat_sum = 0.0
        self.lat_max = 0.0

    def latency(self, ms):
        self.lat_count += 1
        self.lat_sum += ms
        self.lat_max = max(self.lat_max, ms)
        if len(self.lat) < RESERVOIR:
            self.lat.append(ms)
        else:
            i = random.randrange(self.lat_count)
            if i < RESERVOIR:
                self.lat[i] = ms

    def as_dict(self, config):
        now = time.time()
        lat = sorted(self.lat)

        def pct(p):
            if not lat:
                return None
            return round(lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))], 3)

        elapsed = max(now - self.since, 1e-9)
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "unique": self.unique,
            "duplicates": self.duplicates,
            "retries": self.retries,
            "bad_signature": self.bad_signature,
            "missing_id": self.missing_id,
            "bytes": self.bytes,
            "responses": {str(k): v for k, v in sorted(self.responses.items())},
            "latency_ms": {
                "count": self.lat_count,
                "mean": round(self.lat_sum / self.lat_count, 3) if self.lat_count else None,
                "p50": pct(50), "p90": pct(90), "p99": pct(99),
                "max": round(self.lat_max, 3) if self.lat_count else None,
            },
            "elapsed_s": round(elapsed, 3),
            "rate_per_s": round(self.requests / elapsed, 1),
            "config": config.as_dict(),
        }


def uuid7_ms(wid):
    """Unix milliseconds carried by a UUIDv7 webhook-id, or None."""
    h = wid.replace("-", "")
    if len(h) != 32 or h[12] != "7":
        return None
    try:
        return int(h[:12], 16)
    except ValueError:
        return None


def decode_secret(s):
    """The HMAC key a Standard Webhooks secret ("whsec_" + base64) encodes."""
    b = s[6:] if s.startswith("whsec_") else s
    try:
        return base64.b64decode(b + "=" * (-len(b) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("%r is not a Standard Webhooks secret (whsec_ and base64)" % s)


def verify(keys, headers, body):
    """True when webhook-signature holds a v1 signature of
    "<webhook-id>.<webhook-timestamp>.<body>" under one of keys."""
    wid = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not wid or not ts or not sigs:
        return False
    signed = b"%s.%s." % (wid.encode("latin-1"), ts.encode("latin-1")) + body
    macs = [base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest()) for k in keys]
    ok = False
    for sig in sigs.split():
        version, _, value = sig.partition(",")
        if version != "v1":
            continue
        for m in macs:
            ok |= hmac.compare_digest(m, value.encode("latin-1"))
    return ok


# ---------------------------------------------------------------------------
# HTTP

class Request:
    __slots__ = ("method", "path", "version", "headers", "body", "keep_alive")


def parse_head(head):
    """(method, target, version, headers) of a request head, or raise ValueError."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError("bad request line")
    headers = {}
    for ln in lines[1:]:
        name, sep, value = ln.partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError("bad header line")
        name = name.lower()
        value = value.strip()
        headers[name] = headers[name] + ", " + value if name in headers else value
    return parts[0], parts[1], parts[2], headers


def dechunk(buf, start):
    """(body, end) of a chunked body starting at buf[start], or None while
    incomplete; raises ValueError on a malformed one."""
    body = bytearray()
    i = start
    while True:
        eol = buf.find(b"\r\n", i)
        if eol < 0:
            return None
        try:
            size = int(bytes(buf[i:eol]).split(b";")[0].strip(), 16)
        except ValueError:
            raise ValueError("bad chunk size")
        i = eol + 2
        if size == 0:
            # Trailers, if any, end with an empty line.
            end = buf.find(b"\r\n\r\n", i - 2)
            return (bytes(body), end + 4) if end >= 0 else None
        if len(buf) < i + size + 2:
            return None
        body += buf[i:i + size]
        if len(body) > MAX_BODY:
            raise ValueError("body too large")
        i += size + 2


class Sink:
    """The shared state of every connection."""

    def __init__(self, args):
        self.keys = [decode_secret(s) for s in args.secret]
        self.config = Config(args.status, float(args.delay_ms), args.fail_rate, args.retry_after)
        self.stats = Stats()
        self.quiet = args.quiet
        self.conns = set()
        self.out = sys.stdout

    # -- the webhook ---------------------------------------------------------

    def webhook(self, req, now):
        st = self.stats
        st.requests += 1
        st.bytes += len(req.body)
        wid = req.headers.get("webhook-id")
        sig = None
        if self.keys:
            sig = verify(self.keys, req.headers, req.body)
        if sig is False:
            st.bad_signature += 1
            code = 401
        else:
            st.accepted += 1
            code = self.config.answer()
        e2e = None
        if sig is not False and wid:
            acked = st.seen.get(wid)
            if acked is None:
                st.unique += 1
            elif acked:
                st.duplicates += 1
            else:
                st.retries += 1
            if 200 <= code <= 299:
                if not acked:
                    ms = uuid7_ms(wid)
                    if ms is not None:
                        e2e = max(0.0, now * 1000.0 - ms)
                        st.latency(e2e)
                st.seen[wid] = True
            elif acked is None:
                st.seen[wid] = False
        elif sig is not False:
            st.missing_id += 1
        st.responses[code] = st.responses.get(code, 0) + 1
        if not self.quiet:
            self.log(now, wid, len(req.body), sig, code, e2e)
        return code

    def log(self, now, wid, size, sig, code, e2e):
        t = time.strftime("%H:%M:%S", time.localtime(now)) + ".%03d" % (now % 1 * 1000)
        self.out.write("%s  %-36s  %7d B  sig %-4s  -> %d%s\n" % (
            t, wid or "-", size, {True: "ok", False: "BAD", None: "-"}[sig], code,
            "  e2e %.1fms" % e2e if e2e is not None else ""))
        self.out.flush()

    # -- routing ---------------------------------------------------------------

    def handle(self, req):
        """(status, extra headers, body bytes, delay seconds) for a request."""
        path = req.path.split("?", 1)[0]
        if path == "/_stats" and req.method == "GET":
            return 200, (), self.json(self.stats.as_dict(self.config)), 0
        if path == "/_reset" and req.method == "POST":
            self.stats.reset()
            return 200, (), self.json({"reset": True}), 0
        if path == "/_config" and req.method in ("GET", "POST"):
            if req.method == "POST":
                try:
                    self.config.update(json.loads(req.body or b"{}"))
                except ValueError as e:
                    return 400, (), self.json({"error": "bad_config", "message": str(e)}), 0
            return 200, (), self.json(self.config.as_dict()), 0
        if req.method in ("GET", "HEAD"):
            return 200, (), self.json({"status": "ok"}), 0
        code = self.webhook(req, time.time())
        extra = ()
        if code in (429, 503) and self.config.retry_after is not None:
            extra = (("Retry-After", str(self.config.retry_after)),)
        if code == 401:
            body = {"error": "invalid_signature"}
        elif 200 <= code <= 299:
            body = {"ok": True}
        else:
            body = {"error": "sink told to answer %d" % code}
        return code, extra, self.json(body), self.config.delay_ms / 1000.0

    @staticmethod
    def json(doc):
        return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


class Conn(asyncio.Protocol):
    """One client connection: parse requests from the buffer, answer them in order."""

    def __init__(self, sink):
        self.sink = sink
        self.buf = bytearray()
        self.transport = None
        self.busy = False           # an answer is being delayed
        self.continued = False      # 100 Continue sent for the request in the buffer
        self.closing = False

    def connection_made(self, transport):
        self.transport = transport
        self.sink.conns.add(self)

    def connection_lost(self, exc):
        self.sink.conns.discard(self)
        self.closing = True

    def data_received(self, data):
        self.buf += data
        if not self.busy:
            self.process()

    def process(self):
        while not self.busy and not self.closing:
            try:
                req = self.parse()
            except ValueError as e:
                self.reply(400, (), Sink.json({"error": str(e)}), False)
                return
            if req is None:
                return
            code, extra, body, delay = self.sink.handle(req)
            if delay > 0:
                self.busy = True
                asyncio.get_running_loop().call_later(delay, self.delayed, code, extra, body,
                                                      req.keep_alive, req.method == "HEAD")
                return
            self.reply(code, extra, body, req.keep_alive, req.method == "HEAD")

    def delayed(self, code, extra, body, keep_alive, head):
        self.busy = False
        if self.closing:
            return
        self.reply(code, extra, body, keep_alive, head)
        self.process()

    def parse(self):
        """The next complete request in the buffer (consumed), or None."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEADER:
                raise ValueError("request head too large")
            return None
        method, target, version, headers = parse_head(bytes(self.buf[:end]))
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            got = dechunk(self.buf, start)
            if got is None:
                self.expect_continue(headers)
                return None
            body, stop = got
        else:
            try:
                n = int(headers.get("content-length", "0"))
            except ValueError:
                raise ValueError("bad content-length")
            if n < 0 or n > MAX_BODY:
                raise ValueError("bad content-length")
            if len(self.buf) < start + n:
                self.expect_continue(headers)
                return None
            body, stop = bytes(self.buf[start:start + n]), start + n
        del self.buf[:stop]
        self.continued = False
        req = Request()
        req.method, req.path, req.version, req.headers, req.body = \
            method, target, version, headers, body
        conn = headers.get("connection", "").lower()
        req.keep_alive = ("close" not in conn if version == "HTTP/1.1"
                          else "keep-alive" in conn)
        return req

    def expect_continue(self, headers):
        if not self.continued and headers.get("expect", "").lower() == "100-continue":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.continued = True

    def reply(self, code, extra, body, keep_alive, head=False):
        if self.closing:
            return
        lines = ["HTTP/1.1 %d %s" % (code, REASONS.get(code, "Status")),
                 "Content-Type: application/json",
                 "Content-Length: %d" % len(body)]
        lines += ["%s: %s" % kv for kv in extra]
        if not keep_alive:
            lines.append("Connection: close")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head else body))
        if not keep_alive:
            self.closing = True
            self.transport.close()


# ---------------------------------------------------------------------------
# Main

def parse_listen(s):
    host, sep, port = s.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError("--listen takes HOST:PORT")
    try:
        port = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError("bad port in %r" % s)
    return host.strip("[]") or "0.0.0.0", port


def summary(stats, config):
    d = stats.as_dict(config)
    lat = d["latency_ms"]
    return ("sink: %d requests, %d unique, %d duplicates, %d retries, %d bad signatures; "
            "e2e p50 %s p90 %s p99 %s max %s ms" % (
                d["requests"], d["unique"], d["duplicates"], d["retries"],
                d["bad_signature"], lat["p50"], lat["p90"], lat["p99"], lat["max"]))


async def serve(args):
    sink = Sink(args)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    host, port = args.listen
    server = await loop.create_server(lambda: Conn(sink), host, port, reuse_address=True,
                                      backlog=1024)
    print("sink: listening on http://%s:%d/ (signatures %s, status %d, fail_rate %g, "
          "delay_ms %g)" % (host, port, "checked" if sink.keys else "not checked",
                            sink.config.status, sink.config.fail_rate, sink.config.delay_ms),
          file=sys.stderr, flush=True)
    await stop.wait()
    server.close()
    for c in list(sink.conns):
        c.closing = True
        c.transport.close()
    await server.wait_closed()
    print(summary(sink.stats, sink.config), file=sys.stderr, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="sink.py", description="Receive hookd's deliveries: verify, count, time, misbehave.")
    ap.add_argument("--listen", type=parse_listen, default="127.0.0.1:3001",
                    help="HOST:PORT to listen on (default 127.0.0.1:3001)")
    ap.add_argument("--secret", action="append", default=[], metavar="whsec_...",
                    help="the destination's signing_secret: check webhook-signature and "
                         "answer 401 on a bad one (repeat for several)")
    ap.add_argument("--status", type=int, default=200,
                    help="status to answer every webhook with (default 200)")
    ap.add_argument("--fail-rate", type=float, default=0.0, metavar="F",
                    help="answer 500 to this fraction of webhooks (0 to 1)")
    ap.add_argument("--delay-ms", type=float, default=0.0, metavar="N",
                    help="wait N ms before answering each webhook")
    ap.add_argument("--retry-after", type=int, default=None, metavar="N",
                    help="send Retry-After: N with 429 and 503 answers")
    ap.add_argument("--quiet", action="store_true",
                    help="do not print a line per webhook")
    args = ap.parse_args(argv)
    try:
        Config().update({"status": args.status, "fail_rate": args.fail_rate,
                         "delay_ms": args.delay_ms, "retry_after": args.retry_after})
        for s in args.secret:
            decode_secret(s)
    except ValueError as e:
        ap.error(str(e))
    try:
        asyncio.run(serve(args))
    except OSError as e:
        print("sink: cannot listen on %s:%d: %s" % (args.listen[0], args.listen[1], e.strerror),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
