"""
conftest.py - fixtures of the integration tests.

One Redis and one PostgreSQL serve the whole run (session fixtures); every
test that uses them starts from an empty Redis and empty hookd tables.  A test
that stops, kills or pauses one of them gets it back running for the next
test.  hookd instances come from hookd_factory and are stopped after the test;
stopping fails the test when hookd did not stop cleanly or its log holds a
sanitizer report (see harness.Hookd.stop).
"""

import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import harness  # noqa: E402
from sinkutil import Sink  # noqa: E402

# requests and urllib go through *_proxy unless told otherwise; the servers
# under test are all on loopback.
_no_proxy = ",".join(x for x in ("127.0.0.1,localhost,::1", os.environ.get("no_proxy", "")) if x)
os.environ["no_proxy"] = os.environ["NO_PROXY"] = _no_proxy


def _interrupt(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


# A runner that times out sends SIGTERM: turn it into an interrupt so that
# fixtures tear down and atexit kills what is left, instead of dying at once.
if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture(scope="session")
def session_dir():
    """A directory for the session's servers, removed at exit."""
    return harness.make_tempdir("session-")


@pytest.fixture(scope="session")
def redis_server(session_dir):
    """The run's Redis (AOF on, appendfsync everysec)."""
    r = harness.RedisServer(os.path.join(session_dir, "redis"))
    yield r
    r.stop()


@pytest.fixture(scope="session")
def pg_server(session_dir):
    """The run's PostgreSQL, database hookd."""
    pg = harness.PostgresServer(os.path.join(session_dir, "pg"))
    yield pg
    pg.stop()


@pytest.fixture
def workdir():
    """A fresh directory for one test (mode 0711, so PostgreSQL can use it as root)."""
    return harness.make_tempdir("test-")


@pytest.fixture(autouse=True)
def clean_servers(request):
    """Before each test that uses the shared servers: make sure they run,
    FLUSHALL Redis and empty hookd's tables (all public tables but the
    migrations table, so the schema stays)."""
    names = request.fixturenames
    if "redis_server" in names:
        r = request.getfixturevalue("redis_server")
        r.ensure_running()
        c = r.client()
        try:
            c.flushall()
        finally:
            c.close()
    if "pg_server" in names:
        pg = request.getfixturevalue("pg_server")
        pg.ensure_running()
        pg.truncate_hookd_tables()
    yield


@pytest.fixture
def hookd_factory(redis_server, pg_server):
    """start(config=None, *, env=None, binary=None, wait=True, **kwargs) -> Hookd.

    Without config, the config is harness.render_config(**kwargs) with the
    session's Redis and PostgreSQL and a fresh workdir.  wait=True returns
    once GET /health answers 200.  Every instance is stopped after the test."""
    started = []

    def start(config=None, *, env=None, binary=None, wait=True, **kwargs):
        workdir = harness.make_tempdir("hookd-")
        if config is None:
            kwargs.setdefault("redis_url", redis_server.url)
            kwargs.setdefault("postgres_url", pg_server.url)
            config = harness.render_config(workdir=workdir, **kwargs)
        h = harness.Hookd(config, env=env, binary=binary, workdir=workdir, start=False)
        started.append(h)
        h.start()
        if wait:
            h.wait_ready()
        return h

    yield start

    errors = []
    for h in reversed(started):
        try:
            h.close()
        except Exception as e:  # every instance gets stopped; report them all
            errors.append(str(e))
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def sinks():
    """make() -> a new sinkutil.Sink; every one made is closed after the test."""
    made = []

    def make():
        s = Sink()
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()
