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


# -- hookd -v --------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["-v", "--version"])
def test_hookd_version(flag):
    r = subprocess.run([os.path.join(harness.bin_dir(), "hookd"), flag],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"hookd (\d+\.\d+\.\d+) \(commit ([0-9a-f]{4,40}|unknown)\)\n", r.stdout)
    assert m, r.stdout
    with open(os.path.join(REPO, "common", "version.h")) as f:
        assert '#define HK_VERSION      "%s"' % m.group(1) in f.read()


@pytest.mark.parametrize("prog,flag", [("hookd", "-h"), ("hookd", "--help"),
                                       ("hookctl", "-h"), ("hookctl", "--help")])
def test_help(prog, flag):
    r = subprocess.run([os.path.join(harness.bin_dir(), prog), flag],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith("usage: %s " % prog), r


# -- man pages -------------------------------------------------------------------

def config_keys():
    """Every key of config.c's three tables."""
    with open(os.path.join(REPO, "server", "conf", "config.c")) as f:
        src = f.read()
    keys = []
    for table in ("hk_conf_root_keys", "hk_conf_source_keys", "hk_conf_dest_keys"):
        body = src[src.index(table + "[] = {"):]
        body = body[:body.index("\n};")]
        keys += re.findall(r'(?:\{|HK_NUM\(|HK_BOOL\()\s*"([a-z_.]+)"', body)
    return keys


def hookctl_commands():
    with open(os.path.join(REPO, "server", "ctl", "hookctl.c")) as f:
        src = f.read()
    body = src[src.index("hk_ctl_cmds[] = {"):]
    body = body[:body.index("\n};")]
    return re.findall(r'\{\s*"([a-z]+)",\s*hk_ctl_', body)


@pytest.mark.parametrize("page", PAGES)
def test_man_page_renders_without_warnings(page):
    path = os.path.join(MAN, page)
    r = subprocess.run(["groff", "-man", "-ww", "-z", path], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = subprocess.run(["man", "--warnings", "-l", "-Tutf8", path], capture_output=True,
                       text=True, timeout=30, env=dict(os.environ, MANWIDTH="80"))
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = re.sub(".\x08", "", r.stdout)     # no bold or underline
    assert "NAME" in text and "SEE ALSO" in text


def test_hookd_conf_page_has_every_key():
    keys = config_keys()
    assert len(keys) > 50 and "delivery.retry_schedule" in keys and "signing_secret" in keys
    with open(os.path.join(MAN, "hookd.conf.5")) as f:
        page = f.read()
    documented = set(re.findall(r"^\.BR? ([a-z_.]+)", page, re.M))
    missing = [k for k in keys if k not in documented]
    assert not missing, "keys of config.c not in hookd.conf.5: %s" % missing


def test_hookctl_page_and_completion_have_every_command():
    cmds = hookctl_commands()
    assert "status" in cmds and "purge" in cmds
    with open(os.path.join(MAN, "hookctl.1")) as f:
        page = f.read()
    documented = set(re.findall(r"^\.B ([a-z]+)", page, re.M))
    assert not [c for c in cmds if c not in documented]
    words = complete(["hookctl", ""])
    assert not [c for c in cmds if c not in words], words


def test_hookd_page_has_every_option():
    r = subprocess.run([os.path.join(harness.bin_dir(), "hookd"), "-h"],
                       capture_output=True, text=True, timeout=10)
    opts = re.findall(r"^  (-[a-z])", r.stdout, re.M)
    assert len(opts) >= 5
    with open(os.path.join(MAN, "hookd.8")) as f:
        page = f.read()
    for o in opts:
        assert re.search(r"^\.B[IR]? \\%s\b" % o, page, re.M), o


# -- bash completion -----------------------------------------------------------

def complete(words, cword=None, cwd=REPO):
    """COMPREPLY of the completion function for words, in a real bash."""
    cword = len(words) - 1 if cword is None else cword
    script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=%d; '
              'COMP_LINE="$*"; _hookctl; printf "%%s\\n" "${COMPREPLY[@]}"' % cword)
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script, "bash", COMPLETION]
                       + words, capture_output=True, text=True, timeout=30, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.split("\n") if w]


def test_completion_commands():
    assert complete(["hookctl", "de"]) == ["destinations"]
    assert sorted(complete(["hookctl", "st"])) == ["stats", "status", "storage"]
    assert sorted(complete(["hookctl", "-c", "x.conf", "e"])) == ["enable", "event", "events"]
    assert "--help" in complete(["hookctl", "--"])
    assert sorted(complete(["hookctl", "events", "--s"])) == ["--source", "--status"]
    assert sorted(complete(["hookctl", "events", "--status", ""])) == [
        "dead", "pending", "retrying", "succeeded"]


def test_completion_names_from_the_config():
    conf = os.path.join(harness.make_tempdir("compl-"), "hookd.conf")
    with open(conf, "w") as f:
        f.write('sources = (\n  { name = "github"; verify = { scheme = "github";\n'
                '    secrets = ["x"]; }; },\n  { name = "stripe"; }, { name = "shop"; }\n);\n'
                'destinations = (\n  { name = "crm"; url = "http://127.0.0.1:1/";'
                ' sources = ["github"]; },\n'
                '  # { name = "commented"; }\n  { name = "billing";\n'
                '    url = "http://127.0.0.1:2/"; sources = ["stripe"]; }\n);\n')
    assert sorted(complete(["hookctl", "-c", conf, "send", "s"])) == ["shop", "stripe"]
    assert sorted(complete(["hookctl", "-c", conf, "send", ""])) == ["github", "shop", "stripe"]
    assert complete(["hookctl", "-c", conf, "send", "github", ""]) == []
    assert sorted(complete(["hookctl", "-c", conf, "dlq", "--destination", ""])) == [
        "billing", "crm"]
    assert complete(["hookctl", "-c", conf, "disable", "b"]) == ["billing"]
    assert complete(["hookctl", "-c", conf, "tail", "--source", "g"]) == ["github"]


# -- make install, and the unit ------------------------------------------------

def make_install(destdir, *args):
    b = harness.bin_dir()
    r = subprocess.run(["make", "--no-print-directory", "-C", REPO, "install",
                        "DESTDIR=" + destdir, "BIN=" + b,
                        # Install what the test runs; never relink it.
                        "-o", os.path.join(b, "hookd"), "-o", os.path.join(b, "hookctl")]
                       + list(args), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_make_install_then_unit_verifies():
    dest = harness.make_tempdir("install-")
    make_install(dest, "PREFIX=/usr")
    want = ["usr/bin/hookd", "usr/bin/hookctl", "usr/share/man/man1/hookctl.1",
            "usr/share/man/man5/hookd.conf.5", "usr/share/man/man8/hookd.8",
            "usr/share/bash-completion/completions/hookctl",
            "usr/lib/systemd/system/hookd.service", "usr/lib/sysusers.d/hookd.conf",
            "usr/share/doc/hookd/hookd.conf.example", "etc/hookd/hookd.conf"]
    for w in want:
        assert os.path.isfile(os.path.join(dest, w)), w
    assert os.access(os.path.join(dest, "usr/bin/hookd"), os.X_OK)
    r = subprocess.run([os.path.join(dest, "usr/bin/hookd"), "-t", "-c",
                        os.path.join(dest, "etc/hookd/hookd.conf")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stdout + r.stderr
    unit = open(os.path.join(dest, "usr/lib/systemd/system/hookd.service")).read()
    assert "ExecStart=/usr/bin/hookd -c /etc/hookd/hookd.conf\n" in unit
    assert "/usr/local" not in unit

    # An existing configuration is kept; a second install changes nothing else.
    with open(os.path.join(dest, "etc/hookd/hookd.conf"), "w") as f:
        f.write("# mine\n")
    make_install(dest, "PREFIX=/usr")
    assert open(os.path.join(dest, "etc/hookd/hookd.conf")).read() == "# mine\n"

    # systemd-analyze verify on a copy whose commands are the installed
    # binary, with the installed man pages for Documentation=.
    tmp = harness.make_tempdir("unit-")
    with open(os.path.join(tmp, "hookd.service"), "w") as f:
        f.write(unit.replace("/usr/bin/hookd", os.path.join(dest, "usr/bin/hookd"))
                    .replace("/etc/hookd/", os.path.join(dest, "etc/hookd/")))
    env = dict(os.environ, MANPATH=os.path.join(dest, "usr/share/man"),
               SYSTEMD_LOG_LEVEL="notice")
    r = subprocess.run(["systemd-analyze", "verify", os.path.join(tmp, "hookd.service")],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr


def test_make_install_default_prefix():
    dest = harness.make_tempdir("install-")
    make_install(dest)
    assert os.path.isfile(os.path.join(dest, "usr/local/bin/hookd"))
    assert os.path.isfile(os.path.join(dest, "usr/local/share/man/man8/hookd.8"))
    unit = open(os.path.join(dest, "usr/local/lib/systemd/system/hookd.service")).read()
    assert "ExecStart=/usr/local/bin/hookd " in unit


def test_unit_is_notify_and_hardened():
    with open(UNIT) as f:
        unit = f.read()
    keys = dict(line.split("=", 1) for line in unit.splitlines()
                if "=" in line and not line.startswith("#"))
    assert keys["Type"] == "notify"
    assert keys["ExecReload"] == "/bin/kill -HUP $MAINPID"
    for k, v in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                 ("ProtectHome", "yes"), ("PrivateTmp", "yes")]:
        assert keys[k] == v, k
    assert set(keys["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    # The segment lives in /dev/shm, which hookctl outside the unit must see.
    assert "/dev/shm" in keys["ReadWritePaths"].split()


def syscall_group(name, seen=None):
    """The system calls of a systemd-analyze syscall-filter group, expanded."""
    seen = set() if seen is None else seen
    if name in seen:
        return set()
    seen.add(name)
    r = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = set()
    for line in r.stdout.splitlines()[1:]:
        w = line.strip()
        if not w or w.startswith("#"):
            continue
        out |= syscall_group(w, seen) if w.startswith("@") else {w}
    return out


def unit_syscalls():
    """What the unit's SystemCallFilter= lines let through."""
    allow, deny = None, set()
    for line in open(UNIT):
        if not line.startswith("SystemCallFilter="):
            continue
        v = line.split("=", 1)[1].strip()
        names = set()
        for w in v.lstrip("~").split():
            names |= syscall_group(w) if w.startswith("@") else {w}
        if v.startswith("~"):
            deny |= names
        else:
            allow = names if allow is None else allow | names
    assert allow, "the unit has no allow-list"
    return allow - deny


@pytest.mark.skipif("asan" in harness.bin_dir(), reason="the sanitizers make system "
                    "calls of their own; the release build is what the unit runs")
def test_unit_syscall_filter_allows_what_hookd_calls(redis_server, pg_server):
    """hookd under strace -f through a start, webhooks, deliveries, the admin
    port, a reload, Redis down (the inbox), USR1 and a stop: every system
    call it made is one the unit's SystemCallFilter allows, so the filter
    cannot kill it with SIGSYS."""
    from sinkutil import Sink
    import requests
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (scripts/deps.sh installs it)")
    allowed = unit_syscalls()
    d = harness.make_tempdir("strace-")
    sink = Sink()
    sink.plan = [(500, {}, 0.0)]
    conf = harness.render_config(
        redis_url=redis_server.url, postgres_url=pg_server.url, workdir=d,
        delivery={"retry_schedule": [1, 1, 1], "jitter": 0.0, "timeout_ms": 2000},
        destinations='{ name = "alpha"; url = "%s"; sources = ["test"]; }' % sink.url)
    path = os.path.join(d, "hookd.conf")
    with open(path, "w") as f:
        f.write(conf)
    trace = os.path.join(d, "strace.out")
    h = harness.Hookd(conf, workdir=os.path.join(d, "h"), start=False)   # for its URLs
    log = open(os.path.join(d, "hookd.log"), "wb")
    st = subprocess.Popen(["strace", "-f", "-qq", "-o", trace, "--",
                           os.path.join(harness.bin_dir(), "hookd"), "-c", path],
                          stdout=log, stderr=subprocess.STDOUT, cwd=d)
    try:
        harness.wait_for(lambda: harness.http_get(h.url + "/health")[0] == 200, 60,
                         what="hookd under strace to answer", ignore=(OSError,))
        pid = int(subprocess.check_output(["pgrep", "-P", str(st.pid)]).split()[0])
        post = lambda n: requests.post(h.url + "/webhooks/test", data=b'{"n":%d}' % n,
                                       headers={"Content-Type": "application/json"},
                                       timeout=10)
        for i in range(3):
            assert post(i).status_code == 202
        harness.wait_for(lambda: len(sink.got()) >= 4, 30, what="deliveries and a retry")
        for p in ("/metrics", "/stats", "/health/detailed"):
            harness.http_get(h.admin_url + p, timeout=5)
        os.kill(pid, signal.SIGHUP)
        harness.wait_for(lambda: "reloaded" in open(log.name, errors="replace").read(), 30)
        redis_server.stop()
        try:
            assert post(10).status_code == 202
        finally:
            redis_server.start()
        os.kill(pid, signal.SIGUSR1)
        harness.wait_for(lambda: len(sink.got()) >= 5, 30, what="the inbox event delivered")
        os.kill(pid, signal.SIGTERM)
        assert st.wait(60) == 0
    finally:
        if st.poll() is None:
            st.kill()
            st.wait(10)
        sink.close()
        log.close()
    used, families = set(), set()
    for line in open(trace):
        families |= set(re.findall(r"\bsocket(?:pair)?\((AF_[A-Z0-9]+)", line))
        m = re.match(r"\d+\s+(?:<\.\.\. )?([a-z_0-9]+)[( ]", line)
        if m and not line.split(None, 1)[1].startswith("+++"):
            used.add(m.group(1))
    assert {"accept4", "sendto", "rt_sigsuspend", "setitimer"} <= used, used
    used.discard("execve")      # strace's own start of hookd
    assert not sorted(used - allowed), "system calls the unit would refuse"
    # And RestrictAddressFamilies= lets every socket it opened through.
    unit = open(UNIT).read()
    restrict = re.search(r"^RestrictAddressFamilies=(.*)$", unit, re.M).group(1).split()
    assert "AF_INET" in families and families <= set(restrict), families
