"""
test_routing.py - routing by event type and filters, end to end: signed
provider webhooks posted to the real hookd reach real receivers
(sinkutil.Sink) only when the destination's types and filter want them; an
event nobody wants is stored and counted as filtered; the event type is kept
in events.event_type, shown by hookctl events --type and counted in /metrics
with a bounded label; two signing secrets sign every delivery twice.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import time

import pytest
import requests

import harness
from sinkutil import whsec

GH_SECRET = "routing-test-github-secret-not-real"
STRIPE_SECRET = "whsec_routing_test_stripe_not_real"
KEY_NEW = whsec(b"routing-test-new-key-not-real")
KEY_OLD = whsec(b"routing-test-old-key-not-real")


def start(hookd_factory, sources, dests, extra=""):
    d = {"retry_schedule": [1, 1, 1], "jitter": 0.0, "timeout_ms": 2000}
    return hookd_factory(delivery=d, sources=sources, destinations=",\n".join(dests),
                         extra=extra)


def post(h, source, body, headers, status=202):
    hdr = {"Content-Type": "application/json"}
    hdr.update(headers)
    r = requests.post(h.url + "/webhooks/" + source, data=body, headers=hdr, timeout=10)
    assert r.status_code == status, r.text
    return r.json()["id"]


def github(h, event, payload):
    body = json.dumps(payload).encode()
    sig = hmac.new(GH_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return post(h, "gh", body, {"X-GitHub-Event": event,
                                "X-GitHub-Delivery": os.urandom(8).hex(),
                                "X-Hub-Signature-256": "sha256=" + sig})


def stripe(h, typ):
    body = json.dumps({"id": "evt_" + os.urandom(6).hex(), "type": typ,
                       "data": {"object": {}}}).encode()
    t = int(time.time())
    sig = hmac.new(STRIPE_SECRET.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()
    return post(h, "stripe", body, {"Stripe-Signature": "t=%d,v1=%s" % (t, sig)})


rows = harness.PostgresServer.rows


def stored(pg, eid):
    """The event's type once its row is written, and its deliveries."""
    harness.wait_for(lambda: rows(pg, "SELECT 1 FROM events WHERE id = %s", eid),
                     timeout=20, what="event %s stored" % eid)
    typ = rows(pg, "SELECT event_type FROM events WHERE id = %s", eid)[0][0]
    dl = sorted(r[0] for r in rows(pg, "SELECT destination FROM deliveries "
                                       "WHERE event_id = %s", eid))
    return typ, dl


def got(sink):
    """Event ids the sink received, once each."""
    with sink.lock:
        return {r.id for r in sink.requests}


def metric(h, name, **labels):
    text = requests.get(h.admin_url + "/metrics", timeout=5).text
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if m and m.group(1) == name and \
                ",".join(sorted(m.group(2).split(","))) == want:
            return float(m.group(3))
    return 0.0


GH_SOURCE = '{ name = "gh"; verify = { scheme = "github"; secrets = ["%s"]; }; }' % GH_SECRET


def test_github_types_reach_exactly_their_destinations(hookd_factory, sinks, pg_server):
    a, b = sinks(), sinks()
    h = start(hookd_factory, GH_SOURCE, [
        '{ name = "pushes"; url = "%s"; sources = ["gh"]; types = ["push"]; }' % a.url,
        '{ name = "tracker"; url = "%s"; sources = ["gh"]; '
        'types = ["issues", "pull_request"]; }' % b.url])
    push = github(h, "push", {"ref": "refs/heads/main"})
    issue = github(h, "issues", {"action": "opened"})
    ping = github(h, "ping", {"zen": "Keep it logically awesome."})

    harness.wait_for(lambda: got(a) == {push} and got(b) == {issue}, timeout=20,
                     what="push to pushes, issues to tracker")
    assert stored(pg_server, push) == ("push", ["pushes"])
    assert stored(pg_server, issue) == ("issues", ["tracker"])
    # Stored with its type, delivered to nobody, counted as filtered.
    assert stored(pg_server, ping) == ("ping", [])
    harness.wait_for(lambda: metric(h, "hookd_events_filtered_total", source="gh") == 1,
                     timeout=10, what="the ping counted as filtered")
    stats = requests.get(h.admin_url + "/stats", timeout=5).json()
    assert stats["routing"]["filtered"]["gh"] == 1
    time.sleep(1.0)        # nothing more arrives
    assert got(a) == {push} and got(b) == {issue}
    assert len(a.requests) == 1 and len(b.requests) == 1


def test_stripe_glob(hookd_factory, sinks, pg_server):
    s = sinks()
    h = start(hookd_factory,
              '{ name = "stripe"; verify = { scheme = "stripe"; secrets = ["%s"]; }; }'
              % STRIPE_SECRET,
              ['{ name = "billing"; url = "%s"; sources = ["stripe"]; types = ["invoice.*"]; }'
               % s.url])
    paid = stripe(h, "invoice.paid")
    cust = stripe(h, "customer.created")
    harness.wait_for(lambda: got(s) == {paid}, timeout=20, what="invoice.paid delivered")
    assert stored(pg_server, cust) == ("customer.created", [])
    assert stored(pg_server, paid) == ("invoice.paid", ["billing"])
    harness.wait_for(lambda: metric(h, "hookd_events_filtered_total", source="stripe") == 1,
                     timeout=10, what="customer.created counted as filtered")
    assert got(s) == {paid}


def test_json_and_header_filters(hookd_factory, sinks, pg_server):
    paid, prod, both = sinks(), sinks(), sinks()
    h = start(hookd_factory, '{ name = "test"; event_type = "json:/type"; }', [
        '{ name = "paid"; url = "%s"; sources = ["test"]; '
        'filter = ( { on = "json:/data/object/status"; accept = ["paid"]; } ); }' % paid.url,
        '{ name = "prod"; url = "%s"; sources = ["test"]; '
        'filter = ( { on = "header:X-Env"; reject = ["test", "dev-*"]; } ); }' % prod.url,
        '{ name = "both"; url = "%s"; sources = ["test"]; types = ["order.*"]; '
        'filter = ( { on = "json:/data/object/status"; accept = ["paid"]; }, '
        '{ on = "header:X-Env"; reject = ["test"]; } ); }' % both.url])

    def send(status, env=None, typ="order.updated"):
        body = json.dumps({"type": typ, "data": {"object": {"status": status}}})
        return post(h, "test", body, {"X-Env": env} if env else {})

    e1 = send("paid", "prod")          # paid, prod, both
    e2 = send("open", "test")          # none
    e3 = send("paid", "test")          # paid
    e4 = send("open")                  # prod (no header: not rejected)
    e5 = send("paid", "dev-eu", typ="user.created")  # paid
    harness.wait_for(lambda: got(paid) == {e1, e3, e5} and got(prod) == {e1, e4}
                     and got(both) == {e1}, timeout=20, what="filtered deliveries")
    assert stored(pg_server, e2) == ("order.updated", [])
    harness.wait_for(lambda: metric(h, "hookd_events_filtered_total", source="test") == 1,
                     timeout=10, what="e2 counted as filtered")
    time.sleep(0.5)
    assert got(paid) == {e1, e3, e5} and got(prod) == {e1, e4} and got(both) == {e1}


def test_form_event_type(hookd_factory, sinks, pg_server):
    s = sinks()
    h = start(hookd_factory, '{ name = "test"; event_type = "form:kind"; }',
              ['{ name = "calls"; url = "%s"; sources = ["test"]; types = ["call *"]; }'
               % s.url])
    hdr = {"Content-Type": "application/x-www-form-urlencoded"}
    call = post(h, "test", "From=%2B15551234&kind=call+started", hdr)
    sms = post(h, "test", "kind=sms&From=x", hdr)
    harness.wait_for(lambda: got(s) == {call}, timeout=20, what="the call delivered")
    assert stored(pg_server, call) == ("call started", ["calls"])
    assert stored(pg_server, sms) == ("sms", [])


def verify_one(secret, headers, body):
    """A receiver that knows one key: some v1 signature must be its."""
    key = base64.b64decode(secret[len("whsec_"):])
    msg = ("%s.%s." % (headers["webhook-id"], headers["webhook-timestamp"])).encode() + body
    want = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    return want in headers.get("webhook-signature", "").split(" ")


def test_two_signing_secrets_sign_every_delivery(hookd_factory, sinks):
    s, one = sinks(), sinks()
    h = start(hookd_factory, '{ name = "test"; }', [
        '{ name = "rot"; url = "%s"; sources = ["test"]; signing_secrets = ["%s", "%s"]; }'
        % (s.url, KEY_NEW, KEY_OLD),
        '{ name = "one"; url = "%s"; sources = ["test"]; signing_secret = "%s"; }'
        % (one.url, KEY_OLD)])
    ids = {post(h, "test", json.dumps({"n": i}), {}) for i in range(5)}
    harness.wait_for(lambda: got(s) == ids and got(one) == ids, timeout=20,
                     what="five deliveries to each")
    for r in s.requests:
        sigs = r.headers["webhook-signature"].split(" ")
        assert len(sigs) == 2 and all(x.startswith("v1,") for x in sigs)
        assert verify_one(KEY_NEW, r.headers, r.body)
        assert verify_one(KEY_OLD, r.headers, r.body)
    for r in one.requests:
        assert len(r.headers["webhook-signature"].split(" ")) == 1
        assert verify_one(KEY_OLD, r.headers, r.body)
        assert not verify_one(KEY_NEW, r.headers, r.body)


def test_event_types_metric_is_bounded(hookd_factory, sinks):
    s = sinks()
    h = start(hookd_factory, GH_SOURCE,
              ['{ name = "all"; url = "%s"; sources = ["gh"]; }' % s.url],
              extra="metrics = { max_event_types = 2; };")
    for ev in ("push", "push", "issues", "star", "fork"):
        github(h, ev, {"n": 1})
    harness.wait_for(lambda: metric(h, "hookd_events_received_by_type_total",
                                    source="gh", type="other") == 2,
                     timeout=10, what="star and fork counted as other")
    assert metric(h, "hookd_events_received_by_type_total", source="gh", type="push") == 2
    assert metric(h, "hookd_events_received_by_type_total", source="gh", type="issues") == 1
    assert metric(h, "hookd_events_received_by_type_total", source="gh", type="star") == 0


def test_hookctl_events_by_type(hookd_factory, sinks, pg_server):
    s = sinks()
    h = start(hookd_factory, GH_SOURCE,
              ['{ name = "all"; url = "%s"; sources = ["gh"]; }' % s.url])
    push = github(h, "push", {"n": 1})
    pr = github(h, "pull_request", {"n": 2})
    prr = github(h, "pull_request_review", {"n": 3})
    for e in (push, pr, prr):
        stored(pg_server, e)

    def events(*args):
        r = h.ctl("events", *args)
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = json.loads(events("--type", "push", "--json"))
    assert [(e["id"], e["type"]) for e in out] == [(push, "push")]
    out = json.loads(events("--type", "pull_request*", "--json"))
    assert {e["id"] for e in out} == {pr, prr}
    # '_' is not a wildcard: pull_request matches itself only.
    out = json.loads(events("--type", "pull_request", "--json"))
    assert [e["id"] for e in out] == [pr]
    text = events("--type", "push")
    assert text.splitlines()[0].split()[:3] == ["ID", "SOURCE", "TYPE"]
    assert push in text and "push" in text.splitlines()[1]
    r = h.ctl("event", pr, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["type"] == "pull_request"
    r = h.ctl("event", pr)
    assert re.search(r"^type\s+pull_request$", r.stdout, re.M), r.stdout


def test_hookctl_events_shows_a_type_with_control_characters_harmlessly(
        hookd_factory, sinks, pg_server):
    """The type is the sender's text: in the listing, as in hookctl event,
    a terminal escape comes out as '.', never as the byte itself."""
    s = sinks()
    h = start(hookd_factory, '{ name = "test"; event_type = "json:/type"; }',
              ['{ name = "all"; url = "%s"; sources = ["test"]; }' % s.url])
    evil = "\\u001b]0;owned\\u0007\\u001b[2Jx"    # JSON escapes
    eid = post(h, "test", '{"type":"%s"}' % evil, {})
    assert stored(pg_server, eid)[0] == "\x1b]0;owned\x07\x1b[2Jx"
    for args in (("events",), ("event", eid)):
        r = h.ctl(*args)
        assert r.returncode == 0, r.stderr
        assert "\x1b" not in r.stdout and "\x07" not in r.stdout, repr(r.stdout)
        assert ".]0;owned..[2Jx" in r.stdout, r.stdout


BAD = [
    ('types = ["pu?sh"];', "types[0]: '*' is the only wildcard"),
    ('types = [];', "types: has 0 elements"),
    ('filter = ( { on = "jsn:/x"; accept = ["a"]; } );',
     "filter condition #1: on: not one of header:NAME, json:/pointer, form:FIELD, none"),
    ('filter = ( { on = "json:x"; accept = ["a"]; } );',
     "on: a JSON pointer starts with '/'"),
    ('filter = ( { on = "header:X Env"; reject = ["a"]; } );',
     "on: the header name is not an HTTP token"),
    ('filter = ( { on = "json:/x"; } );', "filter condition #1: accept or reject is required"),
    ('filter = ( { on = "json:/x"; accept = ["a"]; except = ["b"]; } );',
     'unknown key "except"'),
    ('filter = { on = "json:/x"; accept = ["a"]; };', "filter: expected a list of groups"),
    ('filter = ( { on = "none"; accept = ["a"]; } );', "on must name a field"),
    ('signing_secret = "%s";\n signing_secrets = ["%s"];' % (KEY_OLD, KEY_NEW),
     "signing_secrets and signing_secret are both set"),
    ('signing_secrets = ["whsec_", "%s"];' % KEY_NEW,
     "signing_secrets[0]: not a Standard Webhooks secret"),
]


@pytest.mark.parametrize("bad,msg", BAD)
def test_config_errors_name_file_and_line(workdir, bad, msg):
    path = os.path.join(workdir, "bad.conf")
    with open(path, "w") as f:
        f.write('sources = ( { name = "gh"; } );\n'
                'destinations = (\n'
                '  { name = "d"; url = "http://127.0.0.1:9/";\n'
                '    sources = ["gh"];\n'
                '    %s\n'
                '  }\n);\n' % bad)
    r = subprocess.run([os.path.join(harness.bin_dir(), "hookd"), "-t", "-c", path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stdout
    assert re.match(re.escape(path) + r":[3-6]: destination \"d\": ", r.stderr), r.stderr
    assert msg in r.stderr, r.stderr


def test_source_event_type_errors(workdir):
    path = os.path.join(workdir, "bad.conf")
    with open(path, "w") as f:
        f.write('sources = (\n  { name = "a"; },\n  { name = "b";\n'
                '    event_type = "body:/type"; }\n);\n')
    r = subprocess.run([os.path.join(harness.bin_dir(), "hookd"), "-t", "-c", path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.startswith(path + ":4: "), r.stderr
    assert "event_type: not one of header:NAME" in r.stderr


def test_type_travels_through_the_inbox(hookd_factory, sinks, pg_server, redis_server):
    """With Redis down the type is kept in the inbox row, and routing still
    uses it once the row is moved into the stream: with and without an
    idempotency key (the key comes before the type in the script's
    arguments)."""
    a = sinks()
    h = start(hookd_factory, '{ name = "test"; event_type = "json:/type"; }',
              ['{ name = "orders"; url = "%s"; sources = ["test"]; types = ["order.*"]; }'
               % a.url])
    redis_server.stop()
    keyed = post(h, "test", '{"type":"order.paid"}', {"Idempotency-Key": "inbox-route-1"})
    plain = post(h, "test", '{"type":"order.new"}', {})
    other = post(h, "test", '{"type":"user.new"}', {})
    assert sorted(r[0] for r in rows(pg_server, "SELECT event_type FROM inbox")) == \
        ["order.new", "order.paid", "user.new"]
    redis_server.start()
    harness.wait_for(lambda: got(a) == {keyed, plain}, timeout=30,
                     what="the inbox's order events delivered")
    assert stored(pg_server, keyed) == ("order.paid", ["orders"])
    assert stored(pg_server, plain) == ("order.new", ["orders"])
    assert stored(pg_server, other) == ("user.new", [])
    assert rows(pg_server, "SELECT idempotency_key FROM events WHERE id = %s",
                keyed) == [("inbox-route-1",)]
    assert rows(pg_server, "SELECT idempotency_key FROM events WHERE id = %s",
                plain) == [(None,)]


def test_replay_respects_types_unless_a_destination_is_named(hookd_factory, sinks, pg_server):
    a = sinks()
    h = start(hookd_factory, GH_SOURCE,
              ['{ name = "pushes"; url = "%s"; sources = ["gh"]; types = ["push"]; }' % a.url])
    issue = github(h, "issues", {"action": "opened"})
    assert stored(pg_server, issue) == ("issues", [])
    r = h.ctl("replay", issue)
    assert "has no delivery to replay" in r.stderr, r.stderr
    assert stored(pg_server, issue) == ("issues", [])
    r = h.ctl("replay", issue, "--destination", "pushes")
    assert r.returncode == 0, r.stderr
    harness.wait_for(lambda: got(a) == {issue}, timeout=20, what="the replayed issue")
