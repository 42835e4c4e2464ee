"""
test_enqueue_c.py - run the C test of worker/ingest/enqueue.c (tests/unit/test_enqueue.c)
against the session's real Redis and PostgreSQL; on its own, without them,
that binary only reports a skip.
"""

import os
import subprocess

import harness


def test_enqueue_c_against_real_servers(redis_server, pg_server):
    # The unit binary of the same build as the hookd under test.
    bindir = harness.bin_dir()
    build = "build/asan" if "asan" in bindir else "build/release"
    exe = os.path.join(harness.REPO, build, "tests", "test_enqueue")
    env = dict(os.environ, HK_TEST_REDIS_URL=redis_server.url,
               HK_TEST_PG_URL=pg_server.url)
    r = subprocess.run([exe], cwd=harness.REPO, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    last = r.stdout.strip().splitlines()[-1]
    passed, failed = int(last.split()[0]), int(last.split()[2])
    assert failed == 0 and passed >= 10, last
    assert not harness.sanitizer_report(r.stdout + r.stderr)
