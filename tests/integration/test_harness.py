"""
test_harness.py - the harness itself: the servers it starts are real, answer,
stop, crash and come back on the same port with their data.  Nothing here
needs hookd.
"""

import os
import signal
import socket
import time

import psycopg2
import pytest
import redis

import harness


def _port_closed(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_redis_restarts_on_same_port_with_aof_data(workdir):
    r = harness.RedisServer(os.path.join(workdir, "redis"))
    port = r.port
    c = r.client(decode_responses=True)
    assert c.ping()
    assert c.config_get("appendonly")["appendonly"] == "yes"
    c.set("k", "v")
    c.xadd("hookd:events", {"id": "1", "body": "{}"})
    c.close()

    r.stop()
    assert not r.alive()
    assert _port_closed(port)

    r.start()
    assert r.port == port
    assert r.url == "redis://127.0.0.1:%d/0" % port
    c = r.client(decode_responses=True)
    assert c.get("k") == "v"
    assert c.xlen("hookd:events") == 1
    c.close()
    r.stop()


def test_redis_kill_keeps_writes_with_appendfsync_always(workdir):
    r = harness.RedisServer(os.path.join(workdir, "redis"), appendfsync="always")
    c = r.client()
    for i in range(100):
        c.set("key:%d" % i, i)
    c.close()

    r.kill()
    assert not r.alive()
    r.start()
    c = r.client()
    assert c.dbsize() == 100
    assert c.get("key:99") == b"99"
    c.close()
    r.stop()


def test_redis_pause_stops_answers_until_resume(workdir):
    r = harness.RedisServer(os.path.join(workdir, "redis"), appendonly=False)
    r.pause()
    c = r.client(socket_timeout=0.3)
    with pytest.raises(redis.exceptions.TimeoutError):
        c.ping()
    r.resume()
    c = r.client()
    assert harness.wait_for(c.ping, 5, what="redis to answer after SIGCONT")
    c.close()
    r.stop()


def test_postgres_select_and_restart_keeps_data(workdir):
    pg = harness.PostgresServer(os.path.join(workdir, "pg"))
    port = pg.port
    assert pg.url == "postgresql://hookd@127.0.0.1:%d/hookd" % port
    conn = pg.connect()
    assert conn.autocommit
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
        cur.execute("SELECT current_database(), current_user")
        assert cur.fetchone() == ("hookd", "hookd")
        cur.execute("CREATE TABLE t (x int)")
        cur.execute("INSERT INTO t VALUES (42)")
    conn.close()

    pg.stop()
    assert not pg.alive()
    assert _port_closed(port)
    with pytest.raises(psycopg2.OperationalError):
        pg.connect(connect_timeout=1)

    pg.start()
    assert pg.port == port
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT x FROM t")
        assert cur.fetchall() == [(42,)]
        cur.execute("INSERT INTO t VALUES (43)")
    conn.close()

    # A crash: committed rows survive (the kernel still has the pages).
    pg.kill()
    assert not pg.alive()
    pg.start()
    conn = pg.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchone() == (2,)
    conn.close()
    pg.stop()


def test_session_servers_start_clean(redis_server, pg_server):
    c = redis_server.client()
    assert c.dbsize() == 0
    c.set("left-behind", 1)     # the next test that uses Redis must not see it
    c.close()
    conn = pg_server.connect()
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    conn.close()


def test_session_redis_is_back_after_a_test_killed_it(redis_server):
    c = redis_server.client()
    assert c.dbsize() == 0
    c.close()
    redis_server.kill()       # the fixture brings it back for the next test


def test_session_redis_is_running_again(redis_server):
    assert redis_server.alive()
    c = redis_server.client()
    assert c.ping()
    c.close()


def test_wait_for_names_what_it_waited_for():
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="waiting for the moon to turn blue"):
        harness.wait_for(lambda: False, 0.2, what="the moon to turn blue")
    assert time.monotonic() - start < 2
    assert harness.wait_for(lambda: 7, 1) == 7

    def flaky():
        raise ConnectionRefusedError("not yet")
    with pytest.raises(TimeoutError, match="ConnectionRefusedError: not yet"):
        harness.wait_for(flaky, 0.1, ignore=(OSError,))
    with pytest.raises(ValueError):
        harness.wait_for(lambda: int("x"), 1)


def test_free_port_is_free_and_distinct():
    ports = {harness.free_port() for _ in range(20)}
    assert len(ports) == 20
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_render_config_names_what_the_harness_reads(workdir):
    text = harness.render_config(
        workdir=workdir, redis_url="redis://127.0.0.1:1/0",
        postgres_url="postgresql://hookd@127.0.0.1:2/hookd", listen_port=12345,
        admin_port=12346, workers=2, watchdog_ms=500, log_level="debug",
        log_file="/tmp/x.log", metrics_enabled=True, admin_token='to"ken',
        delivery={"retry_schedule": [1, 2], "jitter": 0.0, "timeout_ms": 2000},
        limits={"max_body_bytes": 4096},
        destinations='{ name = "sink"; url = "http://127.0.0.1:1/"; sources = ["test"]; }')
    conf = harness.conf_scalars(text)
    assert conf["instance"].startswith("t")
    assert conf["listen"] == "127.0.0.1:12345"
    assert conf["admin.listen"] == "127.0.0.1:12346"
    assert conf["admin.token"] == 'to"ken'
    assert conf["pid_file"] == os.path.join(workdir, "hookd.pid")
    assert conf["workers"] == "2"
    assert conf["watchdog_ms"] == "500"
    assert conf["log.file"] == "/tmp/x.log"
    assert conf["log.level"] == "debug"
    assert conf["metrics.enabled"] == "true"
    assert conf["delivery.workers"] == "1"
    assert conf["limits.max_body_bytes"] == "4096"
    assert "name" not in conf       # list elements are not top-level settings
    assert "jitter = 0.0;" in text
    assert "retry_schedule = [1, 2];" in text
    other = harness.render_config(redis_url="r", postgres_url="p")
    assert harness.conf_scalars(other)["instance"] != conf["instance"]


def test_hookd_class_reads_its_config(workdir):
    text = harness.render_config(workdir=workdir, redis_url="redis://127.0.0.1:1/0",
                                 postgres_url="postgresql://x@127.0.0.1:2/hookd",
                                 listen_port=23456, admin_port=23457, instance="tabc")
    h = harness.Hookd(text, workdir=workdir, start=False,
                      env={"HOOKD_ADMIN_LISTEN": "127.0.0.1:23458"})
    assert h.url == "http://127.0.0.1:23456"
    assert h.admin_url == "http://127.0.0.1:23458"
    assert h.instance == "tabc"
    with open(h.config_path) as f:
        assert f.read() == text
    assert h.stop() is None     # never started: nothing to stop


def test_children_are_process_groups_killed_at_once(workdir):
    r = harness.RedisServer(os.path.join(workdir, "redis"), appendonly=False)
    assert os.getpgid(r.pid) == r.pid
    os.kill(r.pid, signal.SIGKILL)
    harness.wait_for(lambda: r.proc.poll() is not None, 5, what="redis to die")
    assert not r.alive()
    r.ensure_running()
    assert r.client().ping()
    r.stop()
