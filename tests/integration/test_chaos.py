"""
test_chaos.py - perf/chaos.py (`make chaos`) end to end, one short scenario.

A delivery worker is killed with SIGKILL under a few hundred webhooks; every
event answered 2xx must reach the receiver.  The delivery timeout is 2 s, so
that the rows the dead worker had leased come back after 4 s instead of 30.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "perf"))

import chaos  # noqa: E402


def test_chaos_delivery_worker_killed_loses_nothing(redis_server, pg_server, hookd_factory):
    p = chaos.Params(rate=150, pre=1.5, post=2.0, drain=20.0, delivery_timeout_ms=2000)
    sc = next(s for s in chaos.scenarios(p) if s.name == "delivery-kill")
    traffic = chaos.Traffic()
    try:
        res = chaos.run_scenario(sc, chaos.Stores(redis_server, pg_server), traffic, p,
                                 start_hookd=lambda conf: hookd_factory(conf))
    finally:
        traffic.close()
    table = chaos.table([res])
    print(table)
    assert res.error is None, res.error
    assert res.sent >= 400
    assert res.ok > res.sent // 2, table
    assert res.lost == 0, "%s\n%s" % (table, res.notes)
    assert res.rec_delivery is not None
    assert "kill -9 a delivery worker" in table and "lost" in table.splitlines()[1]


def test_chaos_command_line():
    py = "/usr/bin/python3"
    script = os.path.join(REPO, "perf", "chaos.py")
    r = subprocess.run([py, script, "--list"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    names = [ln.split()[0] for ln in r.stdout.splitlines()]
    assert names[:3] == ["baseline", "ingest-kill", "delivery-kill"]
    assert "sink-down" in names and len(names) == 12
    r = subprocess.run([py, script, "--only", "no-such-fault"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 2 and "unknown scenario" in r.stderr
