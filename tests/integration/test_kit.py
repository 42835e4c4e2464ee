"""
test_kit.py - what an operator installs around hookd: the systemd unit and
its readiness protocol (a real datagram socket as NOTIFY_SOCKET, the real
hookd), the man pages, the bash completion of hookctl, make install, and
hookd -v.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

import harness

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAN = os.path.join(REPO, "doc", "man")
PAGES = ["hookd.8", "hookctl.1", "hookd.conf.5"]
UNIT = os.path.join(REPO, "etc", "systemd", "hookd.service")
COMPLETION = os.path.join(REPO, "etc", "bash-completion", "hookctl")


# -- sd_notify -----------------------------------------------------------------

class NotifySocket:
    """A unix datagram socket bound where hookd's NOTIFY_SOCKET points."""

    def __init__(self, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "hookd-test-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.dir = harness.make_tempdir("notify-")
            self.env = os.path.join(self.dir, "notify.sock")
            self.sock.bind(self.env)
        self.got = []

    def next(self, timeout=20.0):
        """The next datagram, as a dict of its VAR=value lines."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            raise TimeoutError("no notification within %.0fs (so far: %r)"
                               % (timeout, self.got)) from None
        msg = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
        self.got.append(msg)
        return msg

    def none_within(self, seconds):
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return True
        self.got.append(data)
        return False

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_notify_ready_reload_stop(hookd_factory, abstract):
    ns = NotifySocket(abstract)
    try:
        h = hookd_factory(env={"NOTIFY_SOCKET": ns.env}, wait=False, workers=2)
        msg = ns.next()
        # READY=1 comes only once the port answers and every child serves.
        assert msg.get("READY") == "1", msg
        status, _ = harness.http_get(h.url + "/health", timeout=5)
        assert status == 200
        assert len(h.child_pids()) == 2 + 1 + 1     # ingest, delivery, stats
        assert ns.none_within(0.5), "more than one READY=1"

        old = set(h.child_pids())
        h.signal(signal.SIGHUP)
        msg = ns.next()
        assert msg.get("RELOADING") == "1", msg
        assert int(msg["MONOTONIC_USEC"]) > 0
        msg = ns.next()
        assert msg.get("READY") == "1", msg
        assert "generation 2" in msg.get("STATUS", "")
        # The new generation serves: ingest and delivery are new processes.
        status, _ = harness.http_get(h.url + "/health", timeout=5)
        assert status == 200
        assert len(set(h.child_pids()) - old) >= 4

        # A reload that fails keeps the old generation, and says READY again.
        good = open(h.config_path).read()
        h.reload(good + "\nno_such_key = 1;\n")
        assert ns.next().get("RELOADING") == "1"
        msg = ns.next()
        assert msg.get("READY") == "1" and "generation 2" in msg.get("STATUS", ""), msg
        h.write_config(good)

        h.signal(signal.SIGTERM)
        assert ns.next().get("STOPPING") == "1"
        assert h.wait(20) == 0
    finally:
        ns.close()


def test_no_notify_socket_no_harm(hookd_factory):
    """Without NOTIFY_SOCKET (or with one nobody listens on) hookd runs."""
    h = hookd_factory(env={"NOTIFY_SOCKET": "/nonexistent/notify.sock"})
    h.signal(signal.SIGHUP)
    time.sleep(0.3)
    status, _ = harness.http_get(h.url + "/health", timeout=5)
    assert status == 200
