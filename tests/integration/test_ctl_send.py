"""
test_ctl_send.py - hookctl send signs a test webhook the way each provider
would, and the real gateway accepts it.

hookd runs with no delivery worker, so the Redis stream keeps every entry
the ingest side adds and the test can count them.
"""

import base64
import hashlib
import hmac
import json
import os
import re

import pytest

import harness

SECRET = "send-test-secret-not-real"
WHSEC = "whsec_" + base64.b64encode(b"send-standard-key-not-real").decode()

SOURCES = """
{ name = "github"; verify = { scheme = "github"; secrets = ["%(s)s", "older-%(s)s"]; };
  idempotency = "header:X-GitHub-Delivery"; },
{ name = "stripe"; verify = { scheme = "stripe"; secrets = ["%(s)s"]; tolerance_s = 300; }; },
{ name = "standard"; verify = { scheme = "standard"; secrets = ["%(w)s"]; }; },
{ name = "test"; }
""" % {"s": SECRET, "w": WHSEC}


@pytest.fixture
def gw(hookd_factory):
    return hookd_factory(sources=SOURCES, delivery_workers=0)


def stream(redis_server):
    c = redis_server.client()
    try:
        return c.xrange("hookd:events")
    finally:
        c.close()


def answer(r):
    """(status line, JSON answer) of a hookctl send."""
    lines = r.stdout.splitlines()
    assert len(lines) >= 2, (r.stdout, r.stderr)
    return lines[0], json.loads("\n".join(lines[1:]))


def fields(entry):
    return {k.decode(): v for k, v in entry[1].items()}


def test_send_github(gw, redis_server):
    r = gw.ctl("send", "github")
    assert r.returncode == 0, (r.stdout, r.stderr)
    status, doc = answer(r)
    assert re.match(r"HTTP/1\.[01] 202\b", status), status
    assert doc["source"] == "github" and doc["duplicate"] is False
    entries = stream(redis_server)
    assert len(entries) == 1
    f = fields(entries[0])
    assert f["id"].decode() == doc["id"]
    body = json.loads(f["body"])
    assert body["hello"] == "from hookctl" and body["sent_at"].endswith("Z")
    # Signed as GitHub signs: the header is checked here too, apart from hookd.
    hdrs = json.loads(f["headers"])
    mac = hmac.new(SECRET.encode(), f["body"], hashlib.sha256).hexdigest()
    assert hdrs["x-hub-signature-256"] == "sha256=" + mac
    assert hdrs["x-github-delivery"]


def test_send_each_scheme_and_twice_is_two_events(gw, redis_server):
    for src in ("stripe", "standard", "test", "github"):
        r = gw.ctl("send", src)
        assert r.returncode == 0, (src, r.stdout, r.stderr)
        assert " 202" in answer(r)[0]
    assert len(stream(redis_server)) == 4


def test_send_data_headers_and_file(gw, redis_server, workdir):
    r = gw.ctl("send", "test", "--data", '{"id":"evt_1","n":2}',
               "--header", "Idempotency-Key: fixed-key", "--header", "X-Extra: yes")
    assert r.returncode == 0, (r.stdout, r.stderr)
    first = answer(r)[1]
    (entry,) = stream(redis_server)
    f = fields(entry)
    assert f["body"] == b'{"id":"evt_1","n":2}'
    assert json.loads(f["headers"])["x-extra"] == "yes"
    # The same key again: a duplicate, answered 200 with the first id.
    path = os.path.join(workdir, "body.json")
    with open(path, "w") as fp:
        fp.write('{"from":"a file"}')
    r = gw.ctl("send", "test", "--data", "@" + path, "--header", "Idempotency-Key: fixed-key")
    assert r.returncode == 0, (r.stdout, r.stderr)
    status, doc = answer(r)
    assert " 200" in status and doc["duplicate"] is True and doc["id"] == first["id"]
    assert len(stream(redis_server)) == 1


def test_send_form_content_type(gw, redis_server):
    r = gw.ctl("send", "test", "--data", "a=1&b=2",
               "--content-type", "application/x-www-form-urlencoded")
    assert r.returncode == 0, (r.stdout, r.stderr)
    f = fields(stream(redis_server)[0])
    assert f["body"] == b"a=1&b=2"
    assert f["content_type"].startswith(b"application/x-www-form-urlencoded")


def test_send_rejected_exits_1(gw, redis_server):
    # A signature header given by hand replaces the computed one.
    r = gw.ctl("send", "github", "--header", "X-Hub-Signature-256: sha256=" + "0" * 64)
    assert r.returncode == 1
    status, doc = answer(r)
    assert " 401" in status and doc["error"] == "invalid_signature"
    r = gw.ctl("send", "test", "--data", "{not json")
    assert r.returncode == 1 and " 400" in answer(r)[0]
    assert stream(redis_server) == []


def test_send_errors(gw):
    r = gw.ctl("send", "nosuch")
    assert r.returncode == 1 and 'no source "nosuch"' in r.stderr
    r = gw.ctl("send")
    assert r.returncode == 2 and "usage: hookctl send" in r.stderr
    r = gw.ctl("send", "test", "--header", "no colon")
    assert r.returncode == 2
    r = gw.ctl("send", "test", "--data", "@/nonexistent/body.json")
    assert r.returncode == 1 and "cannot open /nonexistent/body.json" in r.stderr
    # Nothing listens there: a connection error, exit 1.
    r = gw.ctl("send", "test", "--url", "http://127.0.0.1:%d/webhooks/test" % harness.free_port())
    assert r.returncode == 1 and "hookctl: POST http://127.0.0.1:" in r.stderr
