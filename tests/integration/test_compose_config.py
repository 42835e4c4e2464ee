"""
test_compose_config.py - the container files stay valid: docker-compose.yml
(alone and with the smoke test's override, tests/docker/compose.test.yml)
passes `docker-compose config -q`, and the configuration baked into the
image (etc/docker/hookd.conf) loads and matches the compose file.

`make test-docker` runs the containers for real; this is the cheap check that
runs with every `make test`.  docker-compose (Debian's v1, or the v2 plugin
as `docker compose`) is not one of make deps' packages: without it the
compose tests are skipped, with the reason, unless HOOKD_REQUIRE_DOCKER=1
makes that a failure (for CI machines that are meant to have it).
"""

import os
import re
import shutil
import subprocess

import pytest

import harness

REPO = harness.REPO
COMPOSE = os.path.join(REPO, "docker-compose.yml")
OVERRIDE = os.path.join(REPO, "tests", "docker", "compose.test.yml")
IMAGE_CONF = os.path.join(REPO, "etc", "docker", "hookd.conf")


def _compose_cmd():
    """The compose command line, or None when there is none."""
    exe = shutil.which("docker-compose")
    if exe:
        return [exe]
    docker = shutil.which("docker")
    if docker:
        r = subprocess.run([docker, "compose", "version"], capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
        if r.returncode == 0:
            return [docker, "compose"]
    return None


@pytest.fixture(scope="module")
def compose():
    cmd = _compose_cmd()
    if cmd is None:
        why = ("docker-compose is not installed (apt-get install docker-compose), "
               "so docker-compose.yml is not checked")
        if os.environ.get("HOOKD_REQUIRE_DOCKER") == "1":
            pytest.fail(why + "; HOOKD_REQUIRE_DOCKER=1 requires it")
        pytest.skip(why + "; set HOOKD_REQUIRE_DOCKER=1 to make this a failure")
    return cmd


def _run(compose, *args):
    # The defaults of the compose file, not whatever this shell has set.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKD_")}
    env.pop("COMPOSE_FILE", None)
    env.pop("COMPOSE_PROJECT_NAME", None)
    return subprocess.run(compose + ["-p", "hookdconfig"] + list(args), capture_output=True,
                          text=True, timeout=60, cwd=REPO, env=env, stdin=subprocess.DEVNULL)


def test_compose_file_is_valid(compose):
    r = _run(compose, "-f", COMPOSE, "config", "-q")
    assert r.returncode == 0, "docker-compose config -q: %s%s" % (r.stdout, r.stderr)


def test_compose_file_with_test_override_is_valid(compose):
    r = _run(compose, "-f", COMPOSE, "-f", OVERRIDE, "config", "-q")
    assert r.returncode == 0, "docker-compose config -q with %s: %s%s" % (
        OVERRIDE, r.stdout, r.stderr)


def test_compose_file_contract(compose):
    """What the README promises of `docker compose up`: the ports on
    127.0.0.1 only, hookd waiting for healthy Redis and PostgreSQL, Redis
    with AOF, the URLs pointing at the services, the admin port listening
    on the container's every address so that its published port works."""
    yaml = pytest.importorskip("yaml", reason="python3-yaml reads the rendered config")
    r = _run(compose, "-f", COMPOSE, "config")
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(r.stdout)
    svc = doc["services"]
    assert set(svc) >= {"hookd", "redis", "postgres", "sink"}

    def published(s):
        out = []
        for p in svc[s].get("ports", []):
            if isinstance(p, dict):
                out.append((p.get("host_ip"), str(p.get("published")), str(p.get("target"))))
            else:
                m = re.match(r"^(?:([\d.]+):)?(\d+):(\d+)(?:/tcp)?$", str(p))
                assert m, "unexpected port syntax %r" % p
                out.append(m.groups())
        return out

    assert sorted(published("hookd")) == [("127.0.0.1", "8080", "8080"),
                                          ("127.0.0.1", "9090", "9090")]
    assert published("sink") == [("127.0.0.1", "3001", "3001")]
    assert not svc["redis"].get("ports") and not svc["postgres"].get("ports")

    deps = svc["hookd"]["depends_on"]
    assert deps["redis"]["condition"] == "service_healthy"
    assert deps["postgres"]["condition"] == "service_healthy"
    assert svc["redis"]["image"] == "redis:7"
    assert svc["postgres"]["image"] == "postgres:15"
    assert "healthcheck" in svc["redis"] and "healthcheck" in svc["postgres"]
    cmd = svc["redis"]["command"]
    cmd = cmd if isinstance(cmd, list) else cmd.split()
    assert cmd[cmd.index("--appendonly") + 1] == "yes"
    env = svc["hookd"]["environment"]
    assert env["HOOKD_REDIS_URL"].startswith("redis://redis:")
    assert "@postgres:5432/hookd" in env["HOOKD_DATABASE_URL"]
    assert env["HOOKD_ADMIN_LISTEN"] == "0.0.0.0:9090"
    assert len(doc.get("volumes", {})) >= 2


def test_compose_image_names_are_overridable(compose):
    env = {"HOOKD_REDIS_IMAGE": "example/redis:x", "HOOKD_POSTGRES_IMAGE": "example/pg:y"}
    e = {k: v for k, v in os.environ.items() if not k.startswith("HOOKD_")}
    e.update(env)
    r = subprocess.run(compose + ["-p", "hookdconfig", "-f", COMPOSE, "config"],
                       capture_output=True, text=True, timeout=60, cwd=REPO, env=e,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "image: example/redis:x" in r.stdout
    assert "image: example/pg:y" in r.stdout


def test_image_config_loads():
    r = harness.hookd_check(IMAGE_CONF)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith(": ok")


def test_image_config_matches_compose_and_smoke_test():
    """The demo receiver checks signatures with the destination's secret,
    and the smoke test signs with the github source's secret: a change on one
    side only would fail make test-docker, so catch it here first."""
    conf = open(IMAGE_CONF).read()
    compose_text = open(COMPOSE).read()
    smoke = open(os.path.join(REPO, "scripts", "test-docker.sh")).read()
    signing = re.search(r'signing_secret\s*=\s*"([^"]+)"', conf).group(1)
    assert '"--secret", "%s"' % signing in compose_text
    github = re.search(r'scheme\s*=\s*"github";\s*secrets\s*=\s*\["([^"]+)"\]', conf).group(1)
    assert re.search(r"^GITHUB_SECRET=%s\b" % re.escape(github), smoke, re.M)
    assert re.search(r'url\s*=\s*"http://sink:3001/', conf)
    assert re.search(r'^instance\s*=\s*"hookd";', conf, re.M)
