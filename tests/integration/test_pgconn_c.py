"""
test_pgconn_c.py - run the C test of common/pgconn.c (tests/unit/test_pgconn.c)
against the session's real PostgreSQL; on its own, without it, that binary
skips the part that needs a server.
"""

import os
import subprocess

import harness


def test_pgconn_c_against_a_real_server(pg_server):
    bindir = harness.bin_dir()
    build = "build/asan" if "asan" in bindir else "build/release"
    exe = os.path.join(harness.REPO, build, "tests", "test_pgconn")
    env = dict(os.environ, HK_TEST_PG_URL=pg_server.url)
    r = subprocess.run([exe], cwd=harness.REPO, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    last = r.stdout.strip().splitlines()[-1]
    passed, failed = int(last.split()[0]), int(last.split()[2])
    assert failed == 0 and passed == 4, last
    assert not harness.sanitizer_report(r.stdout + r.stderr)
