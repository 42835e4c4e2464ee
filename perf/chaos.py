#!/usr/bin/python3
"""
chaos.py - the fault suite behind `make chaos`.

Under a steady open-loop stream of webhooks, inject one fault at a time and
measure what a user of hookd would see: how many requests failed and how,
whether an event answered 2xx ever failed to reach the destination (lost),
how many reached it twice, and how long the gateway took to recover.

Every scenario gets a fresh hookd (2 ingest workers, CHAOS_DELIVERY_WORKERS
delivery workers) on a Redis (AOF, appendfsync always) and a PostgreSQL that
the whole suite shares and empties between scenarios, all started by
tests/harness.py on private loopback ports.  The destination is a receiver
inside this script that records every webhook-id it gets.  The load is an
open-loop stream (request k is sent at t0 + k/RATE whatever happened to the
earlier ones) of POST /webhooks/chaos, each with its own Idempotency-Key;
each request's answer is recorded (status and X-Hookd-Event-Id, or how it
failed).  Requests go over a pool of keep-alive connections; like urllib3,
a pooled connection the server has already closed is not reused, and no
request is ever retried.

A scenario: PRE seconds of load, the fault (the script waits until it is
over: a killed process respawned, a server answering again), POST seconds
more load, then a drain: wait until every event answered 2xx has reached
the receiver (at most DRAIN seconds), then one more second for late
duplicates.  Columns of the table (perf/README.md has the details):

  sent        requests sent
  2xx         answered 2xx (stored by hookd)
  503 conn tmo other
              failed: answered 503; connection refused, reset or closed
              without an answer; no answer within CHAOS_TIMEOUT (5 s);
              anything else (another status, another error)
  lost        answered 2xx but never received after the drain: must be 0
  dup         webhook-ids received more than once
  err%        failed / sent among the requests sent in the fault window:
              from the injection until the fault is over, at least 1 s
  window      length of that window, s
  ingest      seconds from the end of the fault until requests succeed
              again: the first 2xx sent after the last failure ("-" when
              no request was sent after the fault)
  deliv       seconds from the end of the fault until the delivery backlog
              has drained: the arrival of the last event that took longer
              than 1 s from its 2xx to the receiver ("never" when lost > 0)

Environment (and the matching options, see --help):
  CHAOS_QUICK=1          shorter phases, a lower rate: under 3 minutes
  CHAOS_RATE=R           requests per second (400; 300 quick)
  CHAOS_ONLY=a,b         only these scenarios (names from --list)
  CHAOS_TIMEOUT=S        client timeout per request (5)
  CHAOS_DELIVERY_WORKERS=N  (2)
  CHAOS_JSON=FILE        also write every result as JSON
  CHAOS_KEEP=1           keep the temporary directory (logs, configs)

Exit status: 0 when no scenario lost an event, 1 when one did or a
scenario could not run, 2 on a usage error.
"""

import argparse
import asyncio
import errno
import json
import os
import re
import signal
import sys
import threading
import time
import concurrent.futures

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

import harness  # noqa: E402

SOURCE = "chaos"
KEY_RE = re.compile(rb'"chaos":"([^"]+)"')
PAD = "x" * 160                 # a body of about 220 bytes
LAG = 1.0                       # an event slower than this from 2xx to receiver is "delayed"
MIN_WINDOW = 1.0                # shortest fault window, s
# Retries after 1, 2, 4, 8, 15, 30 s instead of the default 5 s, 5 min, ...: a
# destination down for 10 s drains within the run instead of 5 minutes later.
RETRY_SCHEDULE = [1, 2, 4, 8, 15, 30]


def log(msg):
    print("chaos: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The receiver: records every webhook-id, can be taken down and brought back

class Receiver:
    """An HTTP/1.1 sink on 127.0.0.1 living on the traffic loop.  seen maps
    webhook-id -> [deliveries, first arrival (monotonic), chaos key]."""

    def __init__(self):
        self.seen = {}
        self.server = None
        self.conns = set()
        self.port = harness.free_port()
        self.requests = 0

    async def start(self):
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _ReceiverConn(self), "127.0.0.1",
                                               self.port, reuse_address=True, backlog=1024)

    async def stop(self):
        """Down: the port refuses connections, open ones are reset."""
        if self.server is None:
            return
        self.server.close()
        for c in list(self.conns):
            c.transport.abort()
        self.conns.clear()
        try:
            await asyncio.wait_for(self.server.wait_closed(), 2)
        except asyncio.TimeoutError:
            pass
        self.server = None

    def record(self, wid, body):
        self.requests += 1
        if not wid:
            return
        e = self.seen.get(wid)
        if e is None:
            m = KEY_RE.search(body)
            self.seen[wid] = [1, time.monotonic(), m.group(1).decode() if m else None]
        else:
            e[0] += 1


class _ReceiverConn(asyncio.Protocol):
    def __init__(self, rcv):
        self.rcv = rcv
        self.buf = bytearray()
        self.transport = None
        self.continued = False

    def connection_made(self, transport):
        self.transport = transport
        self.rcv.conns.add(self)

    def connection_lost(self, exc):
        self.rcv.conns.discard(self)

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            n, wid, close, expect = 0, None, False, False
            for line in bytes(self.buf[:end]).split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                k = k.strip().lower()
                if k == b"content-length":
                    n = int(v)
                elif k == b"webhook-id":
                    wid = v.strip().decode("ascii", "replace")
                elif k == b"connection":
                    close = b"close" in v.lower()
                elif k == b"expect":
                    expect = b"100-continue" in v.lower()
            if len(self.buf) < end + 4 + n:
                if expect and not self.continued:
                    self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    self.continued = True
                return
            body = bytes(self.buf[end + 4:end + 4 + n])
            del self.buf[:end + 4 + n]
            self.continued = False
            self.rcv.record(wid, body)
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 2\r\n\r\n{}")
            if close:
                self.transport.close()
                return


# ---------------------------------------------------------------------------
# The load: open loop, one record per request

class Load:
    """count requests at rate per second to host:port, keys "<tag>-<k>".
    recs[k] = [t_sent, t_done, status or None, outcome, event id] with
    outcome "ok", "503", "http-NNN", "refused", "reset", "eof", "timeout"
    or "error-..."."""

    def __init__(self, host, port, tag, rate, seconds, timeout, max_conns=1000):
        self.host, self.port, self.tag = host, port, tag
        self.rate, self.timeout = float(rate), float(timeout)
        self.count = max(1, int(round(rate * seconds)))
        self.seconds = seconds
        self.max_conns = max_conns
        self.recs = []
        self.t0 = self.t_end = None

    async def run(self):
        loop = asyncio.get_running_loop()
        self.sem = asyncio.Semaphore(self.max_conns)
        self.idle = []
        tasks = set()
        self.t0 = time.monotonic()
        hard_end = self.t0 + self.seconds + 10      # a stalled loop stops anyway
        for k in range(self.count):
            delay = self.t0 + k / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() > hard_end:
                break
            t = loop.create_task(self._one(k))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(list(tasks), timeout=self.timeout + 5)
        for t in list(tasks):
            t.cancel()
        for _, w in self.idle:
            w.close()
        self.idle = []
        self.t_end = time.monotonic()

    def _pooled(self):
        while self.idle:
            r, w = self.idle.pop()
            if r.at_eof() or w.is_closing():
                w.close()
                continue
            return r, w
        return None

    async def _one(self, k):
        key = "%s-%d" % (self.tag, k)
        body = ('{"chaos":"%s","n":%d,"pad":"%s"}' % (key, k, PAD)).encode()
        req = ("POST /webhooks/%s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
               "Idempotency-Key: %s\r\nContent-Length: %d\r\n\r\n"
               % (SOURCE, self.host, self.port, key, len(body))).encode() + body
        rec = [time.monotonic(), None, None, None, None]
        self.recs.append(rec)
        conn = None
        try:
            async with asyncio.timeout(self.timeout):
                async with self.sem:
                    conn = self._pooled() or await asyncio.open_connection(self.host, self.port)
                    r, w = conn
                    w.write(req)
                    head = await r.readuntil(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    status = int(lines[0].split()[1])
                    hdrs = {}
                    for ln in lines[1:]:
                        name, _, v = ln.partition(":")
                        hdrs[name.strip().lower()] = v.strip()
                    await r.readexactly(int(hdrs.get("content-length") or 0))
                    rec[2], rec[4] = status, hdrs.get("x-hookd-event-id")
                    rec[3] = ("ok" if 200 <= status <= 299 else
                              "503" if status == 503 else "http-%d" % status)
                    if "close" not in hdrs.get("connection", "").lower():
                        self.idle.append(conn)
                        conn = None
        except TimeoutError:
            rec[3] = "timeout"
        except ConnectionRefusedError:
            rec[3] = "refused"
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
            rec[3] = "reset"
        except asyncio.IncompleteReadError:
            rec[3] = "eof"
        except OSError as e:
            rec[3] = "error-%s" % errno.errorcode.get(e.errno, e.errno)
        except (ValueError, IndexError, asyncio.LimitOverrunError) as e:
            rec[3] = "error-%s" % type(e).__name__
        finally:
            rec[1] = time.monotonic()
            if conn is not None:
                conn[1].close()


def outcome_class(o):
    """The table's column for an outcome."""
    if o == "ok":
        return "ok"
    if o == "503":
        return "503"
    if o in ("refused", "reset", "eof"):
        return "conn"
    if o == "timeout":
        return "timeout"
    return "other"


# ---------------------------------------------------------------------------
# The traffic thread: one asyncio loop for the receiver and the load, so
# that the main thread can block on the faults (and start servers from the
# main thread, as the harness requires).

class Traffic:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="chaos-traffic", daemon=True)
        self.thread.start()
        self.receiver = Receiver()
        self.run(self.receiver.start())

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro, timeout=30):
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn, *args, timeout=30):
        """fn(*args) on the loop thread (where the receiver's state lives)."""
        fut = concurrent.futures.Future()

        def cb():
            try:
                fut.set_result(fn(*args))
            except BaseException as e:      # handed to the caller
                fut.set_exception(e)
        self.loop.call_soon_threadsafe(cb)
        return fut.result(timeout)

    def close(self):
        try:
            self.run(self.receiver.stop(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


# ---------------------------------------------------------------------------
# Redis and PostgreSQL, shared by the scenarios

class Stores:
    """The suite's Redis and PostgreSQL: given (the integration test's
    session servers) or started here in dir."""

    def __init__(self, redis=None, pg=None, dir=None):
        self.redis, self.pg = redis, pg
        if redis is None:
            self.redis = harness.RedisServer(os.path.join(dir, "redis"), appendfsync="always")
        if pg is None:
            self.pg = harness.PostgresServer(os.path.join(dir, "pg"))

    def reset(self):
        """Both running, Redis empty, hookd's tables empty (the schema stays)."""
        self.redis.ensure_running()
        self.pg.ensure_running()
        c = self.redis.client()
        try:
            c.flushall()
        finally:
            c.close()
        self.pg.truncate_hookd_tables()

    def stop(self):
        for s in (self.redis, self.pg):
            try:
                s.stop()
            except Exception as e:      # stop the other one anyway
                log("stopping %s: %s" % (s.name, e))


# ---------------------------------------------------------------------------
# The faults.  Each runs in the main thread, blocks until the fault is
# over, and returns a note (or "").

def role_pid(h, role, index=0):
    r = h.ctl("status", "--json", timeout=10)
    if r.returncode != 0:
        return None
    for p in json.loads(r.stdout).get("processes", []):
        if p["role"] == role and p["index"] == index and p["state"] == "running":
            return p["pid"]
    return None


def kill_child(role):
    def fault(ctx):
        h = ctx.hookd
        pid = role_pid(h, role)
        if not pid:
            raise RuntimeError("no running %s process to kill" % role)
        ctx.fault_begins()
        os.kill(pid, signal.SIGKILL)
        new = harness.wait_for(lambda: (p := role_pid(h, role)) and p != pid and p, 15, 0.05,
                               what="the %s process to be respawned" % role)
        return "pid %d killed, %d respawned" % (pid, new)
    return fault


def redis_kill(ctx):
    ctx.fault_begins()
    ctx.stores.redis.kill()
    time.sleep(ctx.p.redis_down)
    ctx.stores.redis.start()
    return "down %.0f s, restarted on the same AOF" % ctx.p.redis_down


def redis_hang(ctx):
    ctx.fault_begins()
    ctx.stores.redis.pause()
    try:
        time.sleep(ctx.p.hang)
    finally:
        ctx.stores.redis.resume()
    return "SIGSTOP for %.0f s" % ctx.p.hang


def redis_empty(ctx):
    ctx.fault_begins()
    ctx.stores.redis.restart_empty()
    return "killed, AOF deleted, restarted empty"


def pg_fast_restart(ctx):
    ctx.fault_begins()
    ctx.stores.pg.stop()            # SIGINT: pg_ctl stop -m fast
    ctx.stores.pg.start()
    return ""


def pg_kill(ctx):
    pg = ctx.stores.pg
    ctx.fault_begins()
    os.kill(pg.pid, signal.SIGKILL)         # the postmaster alone
    pg.proc.wait(10)
    try:   # its backends notice and exit; the next postmaster needs them gone
        harness.wait_for(lambda: not harness._group_alive(pg.pid), 10, 0.05,
                         what="PostgreSQL's backends to exit")
        note = "backends exited by themselves"
    except TimeoutError:
        harness._killpg(pg.pid, signal.SIGKILL)
        note = "backends outlived the postmaster by 10 s; killed"
    pg.start()
    return note


def reloads(ctx):
    ctx.fault_begins()
    for i in range(ctx.p.reloads):
        if i:
            time.sleep(1.0)
        ctx.hookd.signal(signal.SIGHUP)
    time.sleep(1.0)
    return "%d x SIGHUP, 1 s apart" % ctx.p.reloads


def graceful_stop(ctx):
    h = ctx.hookd
    ctx.fault_begins()
    t = time.monotonic()
    h.signal(signal.SIGTERM)
    rc = h.wait(60)
    stopped = time.monotonic() - t
    h.start()
    h.wait_ready(30)
    return "master exited %s after %.1f s; restarted" % (rc, stopped)


def sink_down(ctx):
    ctx.fault_begins()
    ctx.traffic.run(ctx.traffic.receiver.stop())
    time.sleep(ctx.p.sink_down)
    ctx.traffic.run(ctx.traffic.receiver.start())
    return "receiver down %.0f s" % ctx.p.sink_down


def no_fault(ctx):
    ctx.fault_begins()
    return ""


class Scenario:
    def __init__(self, name, title, fault, at_end=False, nominal=1.0):
        self.name, self.title, self.fault = name, title, fault
        self.at_end = at_end        # the fault comes at the end of the load
        self.nominal = nominal      # expected length of the fault, s


def scenarios(p):
    return [
        Scenario("baseline", "no fault (baseline)", no_fault, nominal=0),
        Scenario("ingest-kill", "kill -9 an ingest worker", kill_child("ingest")),
        Scenario("delivery-kill", "kill -9 a delivery worker", kill_child("delivery")),
        Scenario("stats-kill", "kill -9 the stats process", kill_child("stats")),
        Scenario("redis-kill", "kill -9 Redis, restart (same AOF)", redis_kill,
                 nominal=p.redis_down + 0.5),
        Scenario("redis-hang", "Redis hung (SIGSTOP %.0f s)" % p.hang, redis_hang,
                 nominal=p.hang),
        Scenario("redis-empty", "Redis restarted empty", redis_empty, nominal=0.5),
        Scenario("pg-restart", "PostgreSQL fast restart", pg_fast_restart, nominal=2),
        Scenario("pg-kill", "PostgreSQL kill -9 postmaster, restart", pg_kill, nominal=2),
        Scenario("reload", "%d reloads (SIGHUP, 1 s apart)" % p.reloads, reloads,
                 nominal=p.reloads),
        Scenario("graceful-stop", "graceful stop (SIGTERM) at the end, restart",
                 graceful_stop, at_end=True, nominal=2),
        Scenario("sink-down", "destination down %.0f s" % p.sink_down, sink_down,
                 nominal=p.sink_down),
    ]


# ---------------------------------------------------------------------------
# Running one scenario

class Params:
    def __init__(self, quick=False, rate=None, timeout=5.0, delivery_workers=2, **kw):
        self.quick = quick
        self.delivery_timeout_ms = None         # hookd's default (15 s)
        self.rate = rate or (300 if quick else 400)
        self.timeout = timeout
        self.delivery_workers = delivery_workers
        self.pre = 2.0 if quick else 4.0        # load before the fault
        self.post = 2.0 if quick else 6.0       # load after it
        self.drain = 40.0 if quick else 60.0    # longest wait for the backlog
        self.redis_down = 1.0 if quick else 2.0
        self.hang = 3.0 if quick else 5.0
        self.reloads = 5 if quick else 10
        self.sink_down = 5.0 if quick else 10.0
        for k, v in kw.items():
            if not hasattr(self, k):
                raise TypeError("Params: no parameter %r" % k)
            setattr(self, k, v)


class Ctx:
    def __init__(self, p, stores, traffic, hookd):
        self.p, self.stores, self.traffic, self.hookd = p, stores, traffic, hookd
        self.fault_start = self.fault_end = None

    def fault_begins(self):
        self.fault_start = time.monotonic()


class Result:
    def __init__(self, sc):
        self.name, self.title = sc.name, sc.title
        self.error = None
        self.notes = []
        self.sent = self.ok = self.lost = self.dup_ids = self.dup_extra = 0
        self.failed = {"503": 0, "conn": 0, "timeout": 0, "other": 0}
        self.kinds = {}
        self.window = 0.0
        self.window_sent = self.window_failed = 0
        self.rec_ingest = self.rec_delivery = None
        self.unacked_delivered = 0
        self.e2e_p50 = self.e2e_p99 = None
        self.sent_after_fault = 0
        self.duration = 0.0
        self.lost_sample = []
        self.lost_ids = []

    @property
    def err_rate(self):
        return self.window_failed / self.window_sent if self.window_sent else 0.0

    def as_dict(self):
        d = dict(self.__dict__)
        d["err_rate"] = self.err_rate
        del d["lost_ids"]
        return d


def hookd_config(stores, receiver_port, workdir, p):
    delivery = {"retry_schedule": RETRY_SCHEDULE}
    if p.delivery_timeout_ms:
        delivery["timeout_ms"] = p.delivery_timeout_ms
    return harness.render_config(
        redis_url=stores.redis.url, postgres_url=stores.pg.url, workdir=workdir,
        workers=2, delivery_workers=p.delivery_workers, log_level="info",
        delivery=delivery,
        sources='{ name = "%s"; idempotency = "header:Idempotency-Key"; }' % SOURCE,
        destinations='{ name = "receiver"; url = "http://127.0.0.1:%d/hooks"; '
                     'sources = ["%s"]; }' % (receiver_port, SOURCE))


def run_scenario(sc, stores, traffic, p, tag=None, start_hookd=None):
    """Run one scenario end to end; a Result.  start_hookd(config_text) ->
    a started, ready harness.Hookd, stopped by the caller (the integration
    test passes its hookd_factory); by default one is started and stopped
    here."""
    res = Result(sc)
    tag = tag or "%s.%x" % (sc.name, int(time.time() * 1000))
    t_begin = time.monotonic()
    stores.reset()
    own = start_hookd is None
    h = None
    load_fut = None
    try:
        if own:
            workdir = harness.make_tempdir("chaos-hookd-")
            h = harness.Hookd(hookd_config(stores, traffic.receiver.port, workdir, p),
                              workdir=workdir, start=False)
            h.start()
            h.wait_ready(30)
        else:
            h = start_hookd(hookd_config(stores, traffic.receiver.port, None, p))
        ctx = Ctx(p, stores, traffic, h)
        host, _, port = h.listen.rpartition(":")
        seconds = p.pre + sc.nominal + p.post if not sc.at_end else p.pre + p.post
        load = Load("127.0.0.1", int(port), tag, p.rate, seconds, p.timeout)
        load_fut = traffic.submit(load.run())
        # The fault comes after PRE seconds, or for at_end 1.5 s before the
        # last request.
        fault_at = seconds - 1.5 if sc.at_end else p.pre
        time.sleep(max(0.0, fault_at - 0.05))
        note = sc.fault(ctx)
        ctx.fault_end = time.monotonic()
        if note:
            res.notes.append(note)
        load_fut.result(seconds + p.timeout + 30)
        drain(traffic, load, p.drain)
        time.sleep(1.0)             # late duplicates
        traffic.call(measure, res, ctx, load, traffic.receiver)
        fb = fallback_count(h)
        if fb:
            res.notes.append("%d events went to the PostgreSQL inbox" % fb)
        if res.lost:
            res.notes.append("where the lost events are: " + diagnose(stores, res.lost_ids))
    except Exception as e:
        res.error = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        log("%s: %s" % (sc.name, e))
        if load_fut is not None:
            try:
                load_fut.result(p.pre + p.post + 60)
            except Exception:
                pass
    finally:
        if traffic.receiver.server is None:         # a fault left it down
            traffic.run(traffic.receiver.start())
        if own and h is not None:
            try:
                h.close()
            except Exception as e:
                res.notes.append("hookd stop: " + str(e).splitlines()[0])
    res.duration = time.monotonic() - t_begin
    return res


def fallback_count(h):
    """hookd_ingest_fallback_total of the running instance (since its start)."""
    try:
        status, body = harness.http_get(h.admin_url + "/metrics", timeout=5)
    except OSError:
        return 0
    n = 0
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("hookd_ingest_fallback_total"):
            try:
                n += int(float(line.split()[-1]))
            except ValueError:
                pass
    return n


def diagnose(stores, ids):
    """Where events answered 2xx but never delivered are: a short summary
    from PostgreSQL (events, deliveries, inbox) and the Redis stream."""
    where = {}
    try:
        conn = stores.pg.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT e.id::text, coalesce(d.status, 'no delivery row'), "
                            "coalesce(d.attempts, 0), coalesce(d.last_error, '') FROM events e "
                            "LEFT JOIN deliveries d ON d.event_id = e.id "
                            "WHERE e.id = ANY(%s::uuid[])", (ids,))
                for eid, st, n, err in cur.fetchall():
                    where[eid] = "PostgreSQL events, delivery %s after %d attempts%s" % (
                        st, n, (" (" + err[:60] + ")") if err else "")
                cur.execute("SELECT id::text FROM inbox WHERE id = ANY(%s::uuid[])", (ids,))
                for (eid,) in cur.fetchall():
                    where.setdefault(eid, "PostgreSQL inbox only")
        finally:
            conn.close()
    except Exception as e:
        return "cannot ask PostgreSQL: %s" % e
    try:
        c = stores.redis.client()
        try:
            want = set(ids) - set(where)
            last = "-"
            for _ in range(100):
                batch = c.xrange("hookd:events", min=last, max="+", count=10000)
                if not batch:
                    break
                for sid, fields in batch:
                    eid = fields.get(b"id", b"").decode()
                    if eid in want:
                        where[eid] = "Redis stream only"
                last = "(" + batch[-1][0].decode()
                if len(batch) < 10000:
                    break
        finally:
            c.close()
    except Exception as e:
        where.setdefault("?", "cannot read the Redis stream: %s" % e)
    counts = {}
    for i in ids:
        k = where.get(i, "nowhere (not in PostgreSQL, the inbox or the stream)")
        counts[k] = counts.get(k, 0) + 1
    return "; ".join("%d %s" % (n, k) for k, n in sorted(counts.items(), key=lambda x: -x[1]))


def ok_ids(load):
    return [r[4] for r in load.recs if r[3] == "ok" and r[4]]


def drain(traffic, load, limit):
    """Wait until the receiver has every event answered 2xx, at most limit s."""
    ids = ok_ids(load)
    seen = traffic.receiver.seen

    def missing():
        return sum(1 for i in ids if i not in seen)
    deadline = time.monotonic() + limit
    while traffic.call(missing) and time.monotonic() < deadline:
        time.sleep(0.2)


def measure(res, ctx, load, rcv):
    """Fill res from the load's records and the receiver (on the loop thread)."""
    fs, fe = ctx.fault_start, ctx.fault_end
    recs = load.recs
    res.sent = len(recs)
    for r in recs:
        res.kinds[r[3]] = res.kinds.get(r[3], 0) + 1
        c = outcome_class(r[3])
        if c == "ok":
            res.ok += 1
        else:
            res.failed[c] += 1

    res.sent_after_fault = sum(1 for r in recs if r[0] > fe)
    # The fault window and its error rate.
    w_end = max(fe, fs + MIN_WINDOW)
    res.window = w_end - fs
    for r in recs:
        if fs <= r[0] <= w_end:
            res.window_sent += 1
            res.window_failed += r[3] != "ok"

    # Lost, duplicates, and events stored without a 2xx answer.
    ok = [r for r in recs if r[3] == "ok"]
    lost = [r for r in ok if r[4] not in rcv.seen]
    res.lost = len(lost)
    res.lost_ids = [r[4] for r in lost]
    res.lost_sample = [{"id": r[4], "sent_s": round(r[0] - load.t0, 3),
                        "answered_s": round(r[1] - load.t0, 3),
                        "answered_before_fault_ms": round((fs - r[1]) * 1000, 1)}
                       for r in lost[:20]]
    prefix = load.tag + "-"
    acked = {r[4] for r in ok}
    for wid, (n, _, key) in rcv.seen.items():
        if key is None or not key.startswith(prefix):
            continue
        if n > 1:
            res.dup_ids += 1
            res.dup_extra += n - 1
        if wid not in acked:
            res.unacked_delivered += 1

    # End-to-end (2xx answer to first arrival) and recovery.
    delays = []
    last_delayed = None
    for r in ok:
        e = rcv.seen.get(r[4])
        if e is None:
            continue
        d = e[1] - r[1]
        delays.append(d)
        if d > LAG and (last_delayed is None or e[1] > last_delayed):
            last_delayed = e[1]
    if delays:
        delays.sort()
        res.e2e_p50 = delays[len(delays) // 2] * 1000
        res.e2e_p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000
    if res.lost:
        res.rec_delivery = None
    else:
        res.rec_delivery = max(0.0, last_delayed - fe) if last_delayed is not None else 0.0
    # Requests: the first 2xx sent after the last failure that the fault
    # could have caused (one that ended after it began).
    fails = [r[0] for r in recs if r[3] != "ok" and r[1] >= fs]
    if not fails:
        res.rec_ingest = 0.0
    else:
        last_fail = max(fails)
        after = [r[0] for r in ok if r[0] > last_fail]
        res.rec_ingest = max(0.0, min(after) - fe) if after else None
        if not after and res.sent_after_fault:
            res.notes.append("no request succeeded after the last failure")
    fine = {k: v for k, v in sorted(res.kinds.items()) if k != "ok"}
    if fine:
        res.notes.append("failures: " + ", ".join("%s %d" % kv for kv in fine.items()))
    if res.unacked_delivered:
        res.notes.append("%d events that got no 2xx were stored and delivered anyway"
                         % res.unacked_delivered)


# ---------------------------------------------------------------------------
# Output

def fmt_s(v):
    return "never" if v is None else "%.1f" % v


def table(results):
    head = ("#", "scenario", "sent", "2xx", "503", "conn", "tmo", "other", "lost", "dup",
            "err%", "window", "ingest", "deliv")
    rows = []
    for i, r in enumerate(results):
        if r.error:
            rows.append((str(i), r.title, "error: " + r.error[:90]))
            continue
        ing = fmt_s(r.rec_ingest) if r.sent_after_fault else "-"
        rows.append((str(i), r.title, str(r.sent), str(r.ok), str(r.failed["503"]),
                     str(r.failed["conn"]), str(r.failed["timeout"]), str(r.failed["other"]),
                     str(r.lost), str(r.dup_ids), "%.1f" % (100 * r.err_rate),
                     "%.1f" % r.window, ing, fmt_s(r.rec_delivery)))
    widths = [max(len(head[c]), *(len(x[c]) for x in rows if len(x) == len(head)))
              for c in range(len(head))]
    widths[13] = max(widths[13], 6)     # room for the group title above
    def line(cells):
        parts = []
        for c, v in enumerate(cells):
            parts.append(v.ljust(widths[c]) if c in (0, 1) else v.rjust(widths[c]))
        return "  ".join(parts).rstrip()
    hl = line(head)
    # Group titles over columns 503..other and ingest..deliv.
    starts = [sum(widths[:c]) + 2 * c for c in range(len(head))]
    ends = [starts[c] + widths[c] for c in range(len(head))]
    top = [" "] * len(hl)

    def over(title, c0, c1):
        a, b = starts[c0], ends[c1]
        text = (" %s " % title).center(b - a, "-")
        top[a:b] = list(text)
    over("failed", 4, 7)
    over("recovery s", 12, 13)
    out = ["".join(top).rstrip(), hl]
    for x in rows:
        if len(x) == len(head):
            out.append(line(x))
        else:
            out.append(x[0].ljust(widths[0]) + "  " + x[1].ljust(widths[1]) + "  " + x[2])
    return "\n".join(out)


def machine():
    model = harness.cpu_model()
    return "%d CPUs (%s), Linux %s" % (os.cpu_count() or 1, model, os.uname().release)


def cpu_busy():
    """(busy, total) jiffies of the machine, for the share of it others used."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0), sum(v)


# ---------------------------------------------------------------------------
# Main

def env_flag(name):
    return os.environ.get(name, "") not in ("", "0")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="chaos.py", description=__doc__.split("\n\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", default=env_flag("CHAOS_QUICK"),
                    help="shorter phases and a lower rate (CHAOS_QUICK=1)")
    ap.add_argument("--rate", type=float, default=float(os.environ.get("CHAOS_RATE") or 0),
                    help="requests per second (CHAOS_RATE; 400, quick 300)")
    ap.add_argument("--only", default=os.environ.get("CHAOS_ONLY", ""),
                    help="comma-separated scenario names (CHAOS_ONLY)")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("CHAOS_TIMEOUT") or 5),
                    help="client timeout per request, s (CHAOS_TIMEOUT; 5)")
    ap.add_argument("--delivery-workers", type=int,
                    default=int(os.environ.get("CHAOS_DELIVERY_WORKERS") or 2))
    ap.add_argument("--json", default=os.environ.get("CHAOS_JSON", ""),
                    help="also write the results to this file (CHAOS_JSON)")
    ap.add_argument("--keep", action="store_true", default=env_flag("CHAOS_KEEP"),
                    help="keep the temporary directory (CHAOS_KEEP=1)")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    a = ap.parse_args(argv)
    if a.rate < 0 or a.rate > 5000 or a.timeout <= 0 or not 1 <= a.delivery_workers <= 8:
        ap.error("--rate 0..5000, --timeout > 0, --delivery-workers 1..8")
    p = Params(quick=a.quick, rate=a.rate or None, timeout=a.timeout,
               delivery_workers=a.delivery_workers)
    all_sc = scenarios(p)
    if a.list:
        for sc in all_sc:
            print("%-14s %s" % (sc.name, sc.title))
        return 0
    chosen = all_sc
    if a.only:
        names = [n.strip() for n in a.only.split(",") if n.strip()]
        known = {sc.name for sc in all_sc}
        bad = [n for n in names if n not in known]
        if bad:
            ap.error("unknown scenario %s (see --list)" % ", ".join(bad))
        chosen = [sc for sc in all_sc if sc.name in names]
    for b in ("hookd", "hookctl"):
        if not os.access(os.path.join(harness.bin_dir(), b), os.X_OK):
            print("chaos: %s/%s is missing: run make first" % (harness.bin_dir(), b),
                  file=sys.stderr)
            return 1

    # SIGTERM (a runner's timeout) tears down like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    t0 = time.monotonic()
    busy0 = cpu_busy()
    d = harness.make_tempdir("chaos-")
    if a.keep:
        harness._tmpdirs.remove(d)
        os.environ["HOOKD_KEEP_TMP"] = "1"
    log("Redis (AOF, appendfsync always) and PostgreSQL in %s" % d)
    stores = Stores(dir=d)
    traffic = Traffic()
    results = []
    try:
        for i, sc in enumerate(chosen):
            log("%d/%d %s: %s" % (i + 1, len(chosen), sc.name, sc.title))
            r = run_scenario(sc, stores, traffic, p)
            log("   sent %d, 2xx %d, failed %d, lost %d, dup %d (%.0f s)" % (
                r.sent, r.ok, sum(r.failed.values()), r.lost, r.dup_ids, r.duration))
            results.append(r)
    except KeyboardInterrupt:
        log("interrupted; stopping")
        return 130
    finally:
        traffic.close()
        stores.stop()
    elapsed = time.monotonic() - t0
    busy1 = cpu_busy()
    share = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])

    redis_v = harness.subprocess.run([harness.REDIS_SERVER, "--version"], capture_output=True,
                                     text=True).stdout.split()
    print()
    print("hookd chaos suite, %s UTC%s" % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                                          " (quick)" if p.quick else ""))
    print("machine   %s" % machine())
    print("setup     hookd 2 ingest + %d delivery workers, retry schedule %s s; Redis %s AOF "
          "appendfsync always; PostgreSQL 15 (fsync off)" % (
              p.delivery_workers, ",".join(map(str, RETRY_SCHEDULE)),
              next((x[2:] for x in redis_v if x.startswith("v=")), "?")))
    print("load      %.0f req/s open loop, unique Idempotency-Keys, %.0f s before the fault "
          "and %.0f s after, client timeout %.0f s, no retries" % (
              p.rate, p.pre, p.post, p.timeout))
    print()
    print(table(results))
    print()
    for i, r in enumerate(results):
        notes = list(r.notes)
        if r.e2e_p50 is not None:
            notes.append("2xx to delivery p50 %.0f ms, p99 %.0f ms" % (
                max(0.0, r.e2e_p50), max(0.0, r.e2e_p99)))
        if r.lost:
            notes.append("LOST %d, e.g. %s" % (r.lost, json.dumps(r.lost_sample[:3])))
        if notes:
            print("%-2d %s" % (i, "; ".join(notes)))
    lost = sum(r.lost for r in results)
    errors = [r for r in results if r.error]
    print()
    print("chaos took %.0f s; the machine was %.0f%% busy (this suite included)" % (
        elapsed, 100 * share))
    if lost:
        print("FAIL: %d events answered 2xx were never delivered" % lost)
    if errors:
        print("FAIL: %d scenario(s) could not run" % len(errors))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"params": p.__dict__, "elapsed_s": elapsed,
                       "results": [r.as_dict() for r in results]}, f, indent=1)
    return 1 if lost or errors else 0


if __name__ == "__main__":
    sys.exit(main())
