#!/usr/bin/python3
"""
harness.py - start and stop real Redis, PostgreSQL and hookd for the tests.

The integration tests drive the real binaries against real servers, the way
Redis's own test suite does: every server is a child process on 127.0.0.1, on
a port of its own, in a directory of its own, and a test waits for a condition
(wait_for) instead of sleeping.  Faults are injected the blunt way: stop(),
kill() (SIGKILL), pause() (SIGSTOP) and start() again on the same port and
directory.

Process hygiene.  Every server is started in a session (and so a process
group) of its own, so that kill() reaches the children it forked too (Redis's
AOF rewrite, PostgreSQL's backends, hookd's workers).  Everything started is
registered and killed when the interpreter exits, even after a failed test, and
every child gets a parent-death signal (setpriv --pdeathsig), so a test run
that is itself killed leaves nothing behind either.  (The kernel sends that
signal when the thread that started the child ends: start servers from the
main thread, not from a short-lived helper thread.)  Temporary directories are
removed at exit, unless HOOKD_KEEP_TMP=1.

PostgreSQL refuses to run as root: when the harness runs as root, initdb and
postgres run as the user "nobody" on a data directory owned by it, and every
directory above it must be searchable by "nobody" (make_tempdir() makes its
directories mode 0711 for that reason).

The binaries under test come from $HOOKD_BIN_DIR (default <repo>/bin; a
relative value is taken from the repository root), so the same tests run on
the sanitizer build with HOOKD_BIN_DIR=build/asan/bin.  Hookd.stop() fails
when hookd's log holds an AddressSanitizer or UBSan report.

Used as a script it starts and stops the servers of `make run`:
    harness.py redis-start --dir DIR --port PORT [--appendfsync always|everysec|no]
    harness.py redis-stop  --dir DIR
    harness.py pg-start    --dir DIR --port PORT [--persist]
    harness.py pg-stop     --dir DIR
    harness.py wait-http   URL [--timeout SECONDS] [--pid PID]
    harness.py free-port
Servers started this way are detached: they outlive the script, and the stop
commands find them again through their pid files.
"""

import argparse
import atexit
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_BIN = os.environ.get("HOOKD_PG_BIN", "/usr/lib/postgresql/15/bin")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
SETPRIV = shutil.which("setpriv") or ("/usr/bin/setpriv" if os.path.exists("/usr/bin/setpriv") else None)

# What a sanitizer prints when it finds something; any of these in a log fails the test.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

# Environment variables that override hookd's config file (DESIGN.md section 3).  A
# developer's shell may have them set; they must not leak into the tests.
HOOKD_ENV_OVERRIDES = ("HOOKD_REDIS_URL", "HOOKD_DATABASE_URL", "HOOKD_LISTEN",
                       "HOOKD_ADMIN_LISTEN", "HOOKD_ADMIN_TOKEN", "HOOKD_WORKERS")

# Ports make run uses by default; tests never take them.
_RESERVED_PORTS = {3001, 8080, 9090, 15432, 16379}

_procs = []             # Popen objects to kill at exit
_tmpdirs = []           # directories to remove at exit
_ports_given = set()


# ---------------------------------------------------------------------------
# Small helpers

def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on, for a server to bind.

    Candidates come from below the kernel's ephemeral range: a client that
    connects to a port of that range while its server is down (a test that
    stopped Redis, say) can be handed the same port as its own source port and
    connect to itself.  Each candidate is checked by binding it; when the range
    below is too small the kernel picks one (bind to port 0)."""
    low = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    for _ in range(200):
        if low > 11000:
            port = random.randrange(10000, low)
        else:
            port = 0
        if port in _RESERVED_PORTS or port in _ports_given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("free_port: no free port found on 127.0.0.1")


def cpu_model():
    """The CPU's model name, for the machine line of a report."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def wait_for(predicate, timeout=10.0, interval=0.02, what=None, ignore=()):
    """Call predicate until it returns something true, and return that.

    Exceptions of the types in ignore count as "not yet" (the last one is
    quoted in the error).  On timeout raises TimeoutError naming what it waited
    for, so a failed test says which condition never came true."""
    what = what or getattr(predicate, "__name__", repr(predicate))
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except ignore as e:     # noqa: B030 - a tuple of exception types
            last_exc = e
        if time.monotonic() >= deadline:
            msg = "timed out after %.1fs waiting for %s" % (timeout, what)
            if last_exc is not None:
                msg += " (last error: %s: %s)" % (type(last_exc).__name__, last_exc)
            raise TimeoutError(msg)
        time.sleep(interval)


def make_tempdir(prefix="tmp-"):
    """A new directory, mode 0711 (PostgreSQL's user must be able to pass
    through it), removed at interpreter exit unless HOOKD_KEEP_TMP=1."""
    d = tempfile.mkdtemp(prefix="hookd-" + prefix)
    os.chmod(d, 0o711)
    if not os.environ.get("HOOKD_KEEP_TMP"):
        _tmpdirs.append(d)
    return d


def tail(path, lines=40):
    """The last lines of a file, or a note that it cannot be read."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    return "\n".join(data.splitlines()[-lines:])


def sanitizer_report(text):
    """The lines of text that come from a sanitizer report, or "" if none."""
    hits = [ln for ln in text.splitlines() if any(m in ln for m in SANITIZER_MARKERS)]
    return "\n".join(hits)


def bin_dir():
    """Where the binaries under test live: $HOOKD_BIN_DIR or <repo>/bin."""
    d = os.environ.get("HOOKD_BIN_DIR") or "bin"
    return d if os.path.isabs(d) else os.path.join(REPO, d)


def _is_root():
    return os.geteuid() == 0


def _nobody_ids():
    import pwd
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


def _check_reachable_by(path, uid, gid):
    """Raise PermissionError unless uid:gid can search every directory down to path."""
    path = os.path.abspath(path)
    parts = []
    p = path
    while True:
        parts.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    for d in reversed(parts):
        st = os.stat(d)
        if st.st_uid == uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            raise PermissionError(
                "PostgreSQL runs as 'nobody' when started by root, and 'nobody' cannot "
                "enter %s (mode %o, owner uid %d): make it searchable (chmod o+x %s), "
                "or run as a normal user" % (d, st.st_mode & 0o7777, st.st_uid, d))


def _spawn(argv, log_path, *, env=None, cwd=None, managed=True, as_nobody=False,
           deathsig="KILL"):
    """Start argv in a session of its own, output appended to log_path.

    managed: registered for killing at exit, and given a parent-death signal.
    as_nobody: run as the user nobody (setpriv execs, so the pid is the server's)."""
    prefix = []
    if as_nobody:
        if not SETPRIV:
            raise RuntimeError("setpriv (util-linux) is needed to run PostgreSQL as nobody")
        uid, gid = _nobody_ids()
        prefix = [SETPRIV, "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups"]
    if managed and deathsig and SETPRIV:
        if not prefix:
            prefix = [SETPRIV]
        prefix += ["--pdeathsig", deathsig]
    if prefix:
        prefix.append("--")
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(prefix + list(argv), stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=subprocess.STDOUT, env=env,
                                cwd=cwd, start_new_session=True)
    if managed:
        _procs.append(proc)
    return proc


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid):
    """True while some process of group pgid is still running (zombies do not count)."""
    for pid in _proc_pids():
        st = _proc_stat(pid)
        if st and st[1] == pgid and st[0] != "Z":
            return True
    return False


def _proc_pids():
    try:
        return [int(n) for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return []


def _proc_stat(pid):
    """(state, pgrp, ppid) of pid from /proc, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return fields[0], int(fields[2]), int(fields[1])


def _pid_alive(pid):
    """True when pid runs (a zombie nobody reaped yet is dead)."""
    st = _proc_stat(pid)
    return st is not None and st[0] != "Z"


def _pid_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _stop_pid(pid, sig, timeout, what):
    """Signal a process that is not our child and wait until it is gone;
    SIGKILL its group when it outlives timeout."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    try:
        wait_for(lambda: not _pid_alive(pid), timeout, 0.05, what="%s (pid %d) to exit" % (what, pid))
    except TimeoutError:
        _killpg(pid, signal.SIGKILL)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_for(lambda: not _pid_alive(pid), 10, 0.05, what="%s (pid %d) to die" % (what, pid))


@atexit.register
def _cleanup_at_exit():
    for proc in reversed(_procs):
        if proc.poll() is None:
            _killpg(proc.pid, signal.SIGKILL)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


class _Server:
    """What Redis and PostgreSQL have in common: one process group to stop,
    kill, pause and start again on the same port and directory."""

    name = "server"
    stop_signal = signal.SIGTERM
    stop_timeout = 30.0

    def __init__(self, dir, port, managed):
        self.dir = os.path.abspath(dir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.managed = managed
        self.proc = None
        self.paused = False

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        """True while the server process runs."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """Shut down cleanly (stop_signal), SIGKILL if it outlives stop_timeout."""
        if not self.alive():
            return
        self.resume()
        try:
            self.proc.send_signal(self.stop_signal)
            self.proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            _killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        # Children (an AOF rewrite, a backend) must not outlive the server.
        _killpg(self.proc.pid, signal.SIGKILL)

    def kill(self):
        """SIGKILL the whole process group: a crash, no shutdown work at all."""
        if self.proc is None:
            return
        _killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.paused = False

    def pause(self):
        """SIGSTOP: the server keeps its connections but answers nothing."""
        if self.alive() and not self.paused:
            _killpg(self.proc.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self):
        """SIGCONT after pause()."""
        if self.alive() and self.paused:
            _killpg(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def ensure_running(self):
        """Bring the server back to a normal state after a test that left it
        stopped, killed or paused."""
        self.resume()
        if not self.alive():
            self.start()

    def _check_started(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError("%s exited with status %s while starting; log %s:\n%s"
                               % (self.name, self.proc.returncode, self.log_path,
                                  tail(self.log_path)))

    def __repr__(self):
        return "<%s port=%s dir=%s pid=%s>" % (type(self).__name__, self.port, self.dir, self.pid)


# ---------------------------------------------------------------------------
# Redis

class RedisServer(_Server):
    """A redis-server on 127.0.0.1:port with its data, config and log in dir."""

    name = "redis-server"

    def __init__(self, dir, port=None, appendonly=True, appendfsync="everysec",
                 extra_config="", start=True, managed=True):
        super().__init__(dir, port, managed)
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.extra_config = extra_config
        self.config_path = os.path.join(self.dir, "redis.conf")
        self.log_path = os.path.join(self.dir, "redis.log")
        self.pid_path = os.path.join(self.dir, "redis.pid")
        if start:
            self.start()

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def restart_empty(self):
        """kill(), delete its data (the AOF and any RDB), start(): a Redis
        that came back without what it held."""
        self.kill()
        for name in os.listdir(self.dir):
            p = os.path.join(self.dir, name)
            if name.startswith("appendonly") or name.endswith(".rdb"):
                shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
        self.start()

    def client(self, **kwargs):
        """A redis-py client (db 0).  A client made before a restart raises
        ConnectionError once before it reconnects: make a new one."""
        import redis
        kwargs.setdefault("socket_timeout", 10)
        kwargs.setdefault("socket_connect_timeout", 2)
        return redis.Redis(host="127.0.0.1", port=self.port, db=0, **kwargs)

    def pending(self, stream="hookd:events", group="delivery"):
        """Entries of the consumer group read and not yet acknowledged."""
        c = self.client()
        try:
            return c.xpending(stream, group)["pending"]
        finally:
            c.close()

    def _write_config(self):
        q = _redis_quote
        lines = [
            "# generated by tests/harness.py",
            "bind 127.0.0.1",
            "port %d" % self.port,
            "dir %s" % q(self.dir),
            "daemonize no",
            "pidfile %s" % q(self.pid_path),
            "logfile %s" % q(self.log_path),
            "loglevel notice",
            'save ""',
            "appendonly %s" % ("yes" if self.appendonly else "no"),
            "appendfsync %s" % self.appendfsync,
            "protected-mode no",
            # DEBUG SLEEP and friends, for fault injection from tests.
            "enable-debug-command local",
            self.extra_config,
        ]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _ping(self):
        import redis
        self._check_started()
        c = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1,
                        socket_connect_timeout=1)
        try:
            return c.ping()
        finally:
            c.close()

    def start(self, timeout=10.0):
        """Start (again) on the same port and dir; returns when PING answers."""
        import redis
        if self.alive():
            raise RuntimeError("%r is already running" % self)
        self._write_config()
        self.proc = _spawn([REDIS_SERVER, self.config_path], self.log_path,
                           cwd=self.dir, managed=self.managed)
        self.paused = False
        try:
            wait_for(self._ping, timeout, what="redis-server on port %d to answer PING" % self.port,
                     ignore=(redis.exceptions.RedisError, OSError))
        except TimeoutError as e:
            self.kill()
            raise TimeoutError("%s; log %s:\n%s" % (e, self.log_path, tail(self.log_path))) from None
        return self


def _redis_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------
# PostgreSQL

def uuid7(when):
    """A UUIDv7 whose time is the datetime when, as hookd makes them."""
    ms = int(when.timestamp() * 1000)
    rnd = int.from_bytes(os.urandom(10), "big")
    v = (ms << 80) | (0x7 << 76) | ((rnd >> 68) & 0xfff) << 64 \
        | (0b10 << 62) | (rnd & ((1 << 62) - 1))
    return str(uuid.UUID(int=v))


class PostgresServer(_Server):
    """A PostgreSQL 15 cluster in dir/data on 127.0.0.1:port, database "hookd",
    superuser "hookd", trust authentication.  Log in dir/postgres.log.

    persist=False (tests) turns fsync and full_page_writes off: a crash of
    the server still loses no committed row (the kernel has the pages), only
    a crash of the machine would.  persist=True (make run) keeps the defaults."""

    name = "postgres"
    stop_signal = signal.SIGINT     # "fast" shutdown: smart (SIGTERM) waits for clients

    def __init__(self, dir, port=None, persist=False, start=True, managed=True):
        super().__init__(dir, port, managed)
        self.persist = persist
        self.datadir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        if start:
            self.start()

    @property
    def url(self):
        return "postgresql://hookd@127.0.0.1:%d/hookd" % self.port

    def rows(self, sql, *args):
        """The rows of one statement, on a connection of its own."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        finally:
            conn.close()

    def truncate_hookd_tables(self):
        """Empty every table of hookd's but the migrations table, so the
        schema stays."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SET lock_timeout = '10s'")
                cur.execute("SELECT quote_ident(tablename) FROM pg_tables "
                            "WHERE schemaname = 'public' AND tablename NOT LIKE '%migration%'")
                tables = [row[0] for row in cur.fetchall()]
                if tables:
                    cur.execute("TRUNCATE %s RESTART IDENTITY CASCADE" % ", ".join(tables))
        finally:
            conn.close()

    def connect(self, dbname="hookd", **kwargs):
        """A psycopg2 connection in autocommit mode."""
        import psycopg2
        kwargs.setdefault("connect_timeout", 5)
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="hookd",
                                dbname=dbname, **kwargs)
        conn.autocommit = True
        return conn

    def _initdb(self):
        if os.path.exists(os.path.join(self.datadir, "PG_VERSION")):
            return
        os.makedirs(self.datadir, exist_ok=True)
        os.chmod(self.datadir, 0o700)
        as_nobody = _is_root()
        if as_nobody:
            uid, gid = _nobody_ids()
            os.chown(self.datadir, uid, gid)
            _check_reachable_by(self.datadir, uid, gid)
        env = dict(os.environ, LC_ALL="C", LANG="C")
        log = os.path.join(self.dir, "initdb.log")
        proc = _spawn([os.path.join(PG_BIN, "initdb"), "-D", self.datadir, "-A", "trust",
                       "-U", "hookd", "--no-sync", "-E", "UTF8", "--locale=C"],
                      log, env=env, cwd=self.dir, managed=True, as_nobody=as_nobody)
        try:
            rc = proc.wait(120)
        except subprocess.TimeoutExpired:
            _killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = "timeout"
        if rc != 0:
            raise RuntimeError("initdb failed (%s); log %s:\n%s" % (rc, log, tail(log)))

    def _argv(self):
        # The socket path must fit in sun_path (108 bytes); TCP is what is
        # used anyway, so a data directory too deep simply gets no socket.
        sockdir = self.datadir if len(self.datadir) + 20 < 100 else ""
        argv = [os.path.join(PG_BIN, "postgres"), "-D", self.datadir, "-p", str(self.port),
                "-k", sockdir, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"]
        # synchronous_commit stays on: with fsync off it costs one write(),
        # and without it a commit returns before its WAL is written, so a
        # test that kills postgres would lose rows a client saw committed.
        if not self.persist:
            argv += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        return argv

    def _ready(self):
        self._check_started()
        conn = self.connect(dbname="postgres", connect_timeout=1)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = 'hookd'")
                if cur.fetchone() is None:
                    cur.execute("CREATE DATABASE hookd")
        finally:
            conn.close()
        return True

    def start(self, timeout=30.0):
        """initdb on first use, start (again) on the same port and dir, create
        database hookd; returns when it accepts connections."""
        import psycopg2
        if self.alive():
            raise RuntimeError("%r is already running" % self)
        self._initdb()
        env = dict(os.environ, LC_ALL="C", LANG="C")
        self.proc = _spawn(self._argv(), self.log_path, env=env, cwd=self.dir,
                           managed=self.managed, as_nobody=_is_root())
        self.paused = False
        try:
            wait_for(self._ready, timeout, 0.05,
                     what="postgres on port %d to accept connections" % self.port,
                     ignore=(psycopg2.OperationalError,))
        except TimeoutError as e:
            self.kill()
            raise TimeoutError("%s; log %s:\n%s" % (e, self.log_path, tail(self.log_path))) from None
        return self


# ---------------------------------------------------------------------------
# hookd configuration

DEFAULT_SOURCES = '{ name = "test"; }'


def conf_value(v):
    """A Python value in libconfig syntax."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v) + ("L" if not -2**31 <= v < 2**31 else "")
    if isinstance(v, float):
        r = repr(v)
        return r if ("." in r or "e" in r) else r + ".0"
    if isinstance(v, str):
        return '"' + (v.replace("\\", "\\\\").replace('"', '\\"')
                      .replace("\n", "\\n").replace("\t", "\\t")) + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(conf_value(x) for x in v) + "]"
    raise TypeError("no libconfig form for %r" % (v,))


def _conf_group(d):
    return "{ " + " ".join("%s = %s;" % (k, conf_value(v)) for k, v in d.items()) + " }"


def render_config(*, redis_url, postgres_url, workdir=None, instance=None,
                  listen_port=None, admin_port=None, workers=1, delivery_workers=1,
                  watchdog_ms=None, drain_timeout_ms=5000, log_level="info",
                  log_format=None, log_file=None, pid_file=None, metrics_enabled=None,
                  admin_token=None, redis_prefix=None, migrate=None, limits=None,
                  delivery=None, sources=DEFAULT_SOURCES, destinations=None, extra=""):
    """The text of a minimal valid hookd config (libconfig).

    instance defaults to "t" + random hex (the shm segment is /hookd.<instance>,
    so every test needs its own); listen_port and admin_port default to free
    ports; pid_file defaults to <workdir>/hookd.pid.  None leaves a key out,
    so hookd's default applies.  limits and delivery are dicts of extra keys
    for those groups (e.g. delivery={"retry_schedule": [1, 1], "timeout_ms":
    2000}).  sources and destinations are raw libconfig text: the elements of
    the lists, e.g. '{ name = "test"; }, { name = "gh"; verify = {...}; }'.
    extra is raw text appended at top level."""
    instance = instance or "t" + secrets.token_hex(5)
    listen_port = listen_port or free_port()
    admin_port = admin_port or free_port()
    if pid_file is None and workdir is not None:
        pid_file = os.path.join(workdir, "hookd.pid")

    top = [("instance", instance), ("listen", "127.0.0.1:%d" % listen_port),
           ("workers", workers)]
    if pid_file is not None:
        top.append(("pid_file", pid_file))
    if watchdog_ms is not None:
        top.append(("watchdog_ms", watchdog_ms))
    if drain_timeout_ms is not None:
        top.append(("drain_timeout_ms", drain_timeout_ms))
    out = ["# generated by tests/harness.py render_config()"]
    out += ["%s = %s;" % (k, conf_value(v)) for k, v in top]

    log = {"level": log_level}
    if log_format is not None:
        log["format"] = log_format
    if log_file is not None:
        log["file"] = log_file
    out.append("log = %s;" % _conf_group(log))
    if limits:
        out.append("limits = %s;" % _conf_group(limits))
    redis = {"url": redis_url}
    if redis_prefix is not None:
        redis["prefix"] = redis_prefix
    out.append("redis = %s;" % _conf_group(redis))
    pg = {"url": postgres_url}
    if migrate is not None:
        pg["migrate"] = migrate
    out.append("postgres = %s;" % _conf_group(pg))
    admin = {"listen": "127.0.0.1:%d" % admin_port}
    if admin_token is not None:
        admin["token"] = admin_token
    out.append("admin = %s;" % _conf_group(admin))
    dl = {"workers": delivery_workers}
    dl.update(delivery or {})
    out.append("delivery = %s;" % _conf_group(dl))
    if metrics_enabled is not None:
        out.append("metrics = %s;" % _conf_group({"enabled": metrics_enabled}))
    out.append("sources = (\n  %s\n);" % (sources or "").strip())
    if destinations:
        out.append("destinations = (\n  %s\n);" % destinations.strip())
    if extra:
        out.append(extra.strip())
    return "\n".join(out) + "\n"


_CONF_TOKEN = re.compile(r'''
      (?P<ws>\s+|\#[^\n]*|//[^\n]*|/\*.*?\*/)
    | (?P<str>"(?:\\.|[^"\\])*")
    | (?P<name>[A-Za-z*][-A-Za-z0-9_*]*)
    | (?P<num>[-+0-9.][-+0-9.xXa-fA-FL]*)
    | (?P<punct>.)
''', re.S | re.X)


def _conf_unquote(s):
    out, i, body = [], 0, s[1:-1]
    esc = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", '"': '"', "\\": "\\"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n == "x" and i + 4 <= len(body):
                out.append(chr(int(body[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append(esc.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def conf_scalars(text):
    """The scalar settings of a libconfig text outside lists, by dotted path:
    {"listen": "...", "admin.listen": "...", "log.level": "info", ...}.
    Enough for the harness to find the addresses and files of a config; it
    is not a validator."""
    toks = []
    for m in _CONF_TOKEN.finditer(text):
        if m.lastgroup != "ws":
            toks.append((m.lastgroup, m.group(m.lastgroup)))
    out, path, i = {}, [], 0
    while i < len(toks):
        kind, val = toks[i]
        if kind == "name" and i + 2 < len(toks) and toks[i + 1][1] in ("=", ":"):
            vkind, vval = toks[i + 2]
            if vval == "{":
                path.append(val)
            elif vval in ("(", "["):
                path.append(None)
            elif None not in path and vkind in ("str", "num", "name"):
                key = ".".join(path + [val])
                out[key] = _conf_unquote(vval) if vkind == "str" else vval
            i += 3
            continue
        if val in ("{", "(", "["):
            path.append(None)
        elif val in ("}", ")", "]") and path:
            path.pop()
        i += 1
    return out


def _http_base(listen):
    """http://host:port for a listen address, a wildcard host probed on loopback."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "*", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = "[%s]" % host
    return "http://%s:%s" % (host, port)


# No proxy for loopback, whatever the environment says.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url, timeout=2.0):
    """(status, body bytes) of a GET, without any proxy; HTTP errors are answers too."""
    try:
        with _opener.open(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# ---------------------------------------------------------------------------
# hookd

class Hookd:
    """One hookd master (and its children) running in the foreground.

    config is the text of a config file, or the path of one.  Text is written
    to <workdir>/hookd.conf (workdir: a new temp dir unless given).  The
    process runs in the repository root, with its stdout and stderr in
    <workdir>/hookd.log.  env adds to (or, with None values, removes from) the
    environment; HOOKD_* overrides from the caller's environment are dropped.
    """

    def __init__(self, config, env=None, binary=None, workdir=None, start=True):
        self.workdir = os.path.abspath(workdir) if workdir else make_tempdir("hookd-")
        os.makedirs(self.workdir, exist_ok=True)
        self.binary = binary or os.path.join(bin_dir(), "hookd")
        self.hookctl_binary = os.path.join(os.path.dirname(self.binary), "hookctl")
        self.log_path = os.path.join(self.workdir, "hookd.log")
        if _looks_like_path(config):
            self.config_path = os.path.abspath(os.fspath(config))
            with open(self.config_path) as f:
                self._config_text = f.read()
        else:
            self.config_path = os.path.join(self.workdir, "hookd.conf")
            self.write_config(config)
        self.env = _hookd_env(env)
        self.proc = None
        self._exit_seen = False
        self._reported = False
        if start:
            self.start()

    # -- what the config says ------------------------------------------------

    def _conf(self, key, envkey=None, default=None):
        if envkey and self.env.get(envkey):
            return self.env[envkey]
        return conf_scalars(self._config_text).get(key, default)

    @property
    def instance(self):
        return self._conf("instance", default="hookd")

    @property
    def listen(self):
        return self._conf("listen", "HOOKD_LISTEN", "0.0.0.0:8080")

    @property
    def admin_listen(self):
        return self._conf("admin.listen", "HOOKD_ADMIN_LISTEN", "127.0.0.1:9090")

    @property
    def url(self):
        """http://host:port of the ingest listener."""
        return _http_base(self.listen)

    @property
    def admin_url(self):
        return _http_base(self.admin_listen)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def returncode(self):
        return self.proc.poll() if self.proc else None

    def write_config(self, text):
        """Replace the config file (atomically), e.g. before signal(SIGHUP)."""
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)
        self._config_text = text

    # -- life cycle ------------------------------------------------------------

    def start(self):
        """Start the master in the foreground (returns at once; see wait_ready)."""
        if self.alive():
            raise RuntimeError("%r is already running" % self)
        if not os.access(self.binary, os.X_OK):
            raise FileNotFoundError("%s is missing or not executable (build it with make, "
                                    "or set HOOKD_BIN_DIR)" % self.binary)
        with open(self.log_path, "ab") as f:
            f.write(b"=== harness: starting %s -c %s\n" % (self.binary.encode(),
                                                         self.config_path.encode()))
        # The master gets SIGTERM when the test process dies: a graceful stop
        # that takes its children along.
        self.proc = _spawn([self.binary, "-c", self.config_path], self.log_path,
                           env=self.env, cwd=REPO, deathsig="TERM")
        self._exit_seen = False
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=10.0, path="/health"):
        """Poll GET <listen>/health until it answers 200; raise with the tail
        of the log when it does not within timeout, or when hookd exits."""
        url = self.url + path

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("hookd exited with status %s before it was ready; log %s:\n%s"
                                   % (self.proc.returncode, self.log_path, tail(self.log_path)))
            status, _ = http_get(url, timeout=1.0)
            return status == 200
        try:
            wait_for(ready, timeout, 0.05, what="GET %s to answer 200" % url,
                     ignore=(OSError, urllib.error.URLError))
        except TimeoutError as e:
            raise TimeoutError("%s; log %s:\n%s" % (e, self.log_path, tail(self.log_path))) from None
        return self

    def wait(self, timeout=15.0):
        """Wait for the master to exit on its own; returns its status.  An
        exit the test waited for is not reported again by stop()."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError("hookd (pid %d) still running after %.1fs; log tail:\n%s"
                               % (self.proc.pid, timeout, tail(self.log_path))) from None
        self._exit_seen = True
        return rc

    def signal(self, sig):
        """Send sig to the master."""
        self.proc.send_signal(sig)

    def reload(self, config_text=None):
        """Optionally rewrite the config, then SIGHUP the master."""
        if config_text is not None:
            self.write_config(config_text)
        self.signal(signal.SIGHUP)

    def child_pids(self):
        """Pids of the master's live children (workers, stats process)."""
        return sorted(pid for pid in _proc_pids()
                      if (st := _proc_stat(pid)) and st[2] == self.pid and st[0] != "Z")

    def role_pid(self, role):
        """The pid of the live child with that role ("delivery", ...),
        as `hookctl status --json` reports it (the first of them)."""
        r = self.ctl("status", "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        procs = doc.get("processes", doc) if isinstance(doc, dict) else doc
        for p in procs:
            if p.get("role") == role and p.get("state", "running") != "dead":
                return p["pid"]
        raise AssertionError("no %s process in %s" % (role, r.stdout))

    def stop(self, timeout=15.0, check=True):
        """SIGTERM the master and wait up to timeout for it and every process
        of its group to exit; returns the master's exit status.

        Fails (AssertionError) when it had to SIGKILL, when a child outlived
        the master, when the log holds a sanitizer report, and (check=True)
        when the exit status is not 0 or hookd had exited by itself before."""
        if self.proc is None:
            return None
        problems = []
        early = self.proc.poll() is not None
        if early:
            if not self._exit_seen:
                problems.append("hookd had already exited with status %s" % self.proc.returncode)
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
                problems.append("hookd did not exit within %.0fs of SIGTERM; killed" % timeout)
        rc = self.proc.returncode
        try:
            wait_for(lambda: not _group_alive(self.proc.pid), 3.0, 0.05,
                     what="hookd's children to exit after the master")
        except TimeoutError:
            problems.append("children of hookd outlived the master; killed")
        _killpg(self.proc.pid, signal.SIGKILL)
        if check and not early and rc != 0:
            problems.append("hookd exited with status %s after SIGTERM" % rc)
        self._exit_seen = True
        self._fail_if(problems)
        return rc

    def kill(self):
        """SIGKILL the master and all its children (a crash)."""
        if self.proc is None:
            return
        _killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._exit_seen = True
        self._fail_if([])

    def close(self):
        """Stop it if it runs (see stop()), then remove its shm segment."""
        try:
            if self.alive() or not self._exit_seen:
                self.stop()
            else:
                self._fail_if([])
        finally:
            if self.proc is not None and not self.alive():
                try:
                    os.unlink("/dev/shm/hookd." + self.instance)
                except OSError:
                    pass

    # -- logs ----------------------------------------------------------------

    def log_text(self):
        """Everything hookd wrote to stdout and stderr (and log.file, if set)."""
        text = ""
        for p in self._log_paths():
            try:
                with open(p, "rb") as f:
                    text += f.read().decode("utf-8", "replace")
            except OSError:
                pass
        return text

    def _log_paths(self):
        paths = [self.log_path]
        lf = conf_scalars(self._config_text).get("log.file")
        if lf:
            paths.append(lf if os.path.isabs(lf) else os.path.join(REPO, lf))
        return paths

    def _fail_if(self, problems):
        # A sanitizer report fails the test once, not again at teardown.
        report = "" if self._reported else sanitizer_report(self.log_text())
        if report:
            self._reported = True
            problems = problems + ["sanitizer report in hookd's log:\n" + report]
        if problems:
            raise AssertionError("%r: %s\nlog %s, tail:\n%s" % (
                self, "; ".join(problems), self.log_path, tail(self.log_path)))

    # -- hookctl -------------------------------------------------------------

    def ctl(self, *args, timeout=30.0, input=None, env=None, config=True):
        """Run hookctl [-c CONFIG] ARGS... next to the hookd binary; returns the
        CompletedProcess (text, stdout and stderr captured).  -c is added
        unless config=False.  A sanitizer report in its output fails."""
        argv = [self.hookctl_binary]
        if config:
            argv += ["-c", self.config_path]
        argv += [str(a) for a in args]
        e = dict(self.env)
        e.update({k: v for k, v in (env or {}).items() if v is not None})
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           input=input, env=e, cwd=REPO,
                           stdin=None if input is not None else subprocess.DEVNULL)
        report = sanitizer_report(r.stderr)
        if report:
            raise AssertionError("sanitizer report from %s:\n%s\n%s" % (argv, report, r.stderr))
        return r

    def __repr__(self):
        return "<Hookd pid=%s listen=%s instance=%s>" % (self.pid, self.listen, self.instance)


def _looks_like_path(config):
    if isinstance(config, os.PathLike):
        return True
    return "\n" not in config and "=" not in config and os.path.isfile(config)


def _hookd_env(extra):
    env = {k: v for k, v in os.environ.items() if k not in HOOKD_ENV_OVERRIDES}
    # libcurl honours *_proxy: deliveries to the tests' sinks go direct.
    no_proxy = ",".join(x for x in ("127.0.0.1,localhost,::1", env.get("no_proxy", "")) if x)
    env["no_proxy"] = env["NO_PROXY"] = no_proxy
    # The sanitizer build run by hand behaves as under make test (tests/run.sh).
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def hookd_check(config, binary=None):
    """Run `hookd -t -c FILE` on config text (or a path); returns the
    CompletedProcess (text, output captured)."""
    binary = binary or os.path.join(bin_dir(), "hookd")
    if _looks_like_path(config):
        path = os.fspath(config)
    else:
        path = os.path.join(make_tempdir("check-"), "hookd.conf")
        with open(path, "w") as f:
            f.write(config)
    r = subprocess.run([binary, "-t", "-c", path], capture_output=True, text=True,
                       timeout=30, env=_hookd_env(None), cwd=REPO, stdin=subprocess.DEVNULL)
    report = sanitizer_report(r.stdout + r.stderr)
    if report:
        raise AssertionError("sanitizer report from hookd -t:\n" + report)
    return r


# ---------------------------------------------------------------------------
# Command line, for scripts/run.sh

def _cli_redis_start(a):
    pid = _read_pid(os.path.join(os.path.abspath(a.dir), "redis.pid"))
    if pid and _pid_alive(pid) and "redis" in _pid_cmdline(pid):
        print("redis-server already running (pid %d) in %s" % (pid, a.dir))
        return 0
    r = RedisServer(a.dir, port=a.port, appendonly=True, appendfsync=a.appendfsync,
                    managed=False)
    print("redis-server pid %d on %s (AOF, appendfsync %s), log %s"
          % (r.pid, r.url, a.appendfsync, r.log_path))
    return 0


def _cli_redis_stop(a):
    path = os.path.join(os.path.abspath(a.dir), "redis.pid")
    pid = _read_pid(path)
    if pid and _pid_alive(pid) and "redis" in _pid_cmdline(pid):
        _stop_pid(pid, signal.SIGTERM, 30, "redis-server")
        print("redis-server (pid %d) stopped" % pid)
    return 0


def _cli_pg_start(a):
    datadir = os.path.join(os.path.abspath(a.dir), "data")
    pid = _read_pid(os.path.join(datadir, "postmaster.pid"))
    if pid and _pid_alive(pid) and "postgres" in _pid_cmdline(pid):
        print("postgres already running (pid %d) in %s" % (pid, datadir))
        return 0
    pg = PostgresServer(a.dir, port=a.port, persist=a.persist, managed=False)
    print("postgres pid %d on %s, data %s, log %s" % (pg.pid, pg.url, pg.datadir, pg.log_path))
    return 0


def _cli_pg_stop(a):
    path = os.path.join(os.path.abspath(a.dir), "data", "postmaster.pid")
    pid = _read_pid(path)
    if pid and _pid_alive(pid) and "postgres" in _pid_cmdline(pid):
        _stop_pid(pid, signal.SIGINT, 60, "postgres")
        print("postgres (pid %d) stopped" % pid)
    return 0


def _cli_wait_http(a):
    def ok():
        if a.pid and not _pid_alive(a.pid):
            raise RuntimeError("process %d exited before %s answered" % (a.pid, a.url))
        status, _ = http_get(a.url, timeout=1.0)
        return status == 200
    try:
        wait_for(ok, a.timeout, 0.05, what="GET %s to answer 200" % a.url,
                 ignore=(OSError, urllib.error.URLError))
    except TimeoutError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(prog="harness.py",
                                 description="start and stop the servers of make run")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("redis-start")
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--appendfsync", default="everysec", choices=["always", "everysec", "no"])
    p.set_defaults(fn=_cli_redis_start)
    p = sub.add_parser("redis-stop")
    p.add_argument("--dir", required=True)
    p.set_defaults(fn=_cli_redis_stop)
    p = sub.add_parser("pg-start")
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--persist", action="store_true")
    p.set_defaults(fn=_cli_pg_start)
    p = sub.add_parser("pg-stop")
    p.add_argument("--dir", required=True)
    p.set_defaults(fn=_cli_pg_stop)
    p = sub.add_parser("wait-http")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--pid", type=int, help="give up when this process exits")
    p.set_defaults(fn=_cli_wait_http)
    p = sub.add_parser("free-port")
    p.set_defaults(fn=lambda a: print(free_port()) or 0)
    a = ap.parse_args(argv)
    try:
        return a.fn(a)
    except (RuntimeError, TimeoutError, OSError) as e:
        print("harness.py %s: %s" % (a.cmd, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
