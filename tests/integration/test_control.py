"""
test_control.py - the operator's controls: hookctl destinations, disable,
enable and replay --since, and the same on the admin port, against the real
hookd, PostgreSQL, Redis and HTTP receivers (sinkutil.Sink).
"""

import datetime
import json
import threading
import time

import pytest
import requests

import harness
from sinkutil import Sink

TOKEN = "control-test-token-not-a-secret"


def dest(name, url, sources='"test"'):
    return '{ name = "%s"; url = "%s"; sources = [%s]; }' % (name, url, sources)


def start(hookd_factory, dests, workers=1, token=TOKEN, **delivery):
    d = {"retry_schedule": [1, 1, 1], "jitter": 0.0, "timeout_ms": 2000}
    d.update(delivery)
    return hookd_factory(delivery=d, delivery_workers=workers, admin_token=token,
                         sources='{ name = "test"; }, { name = "other"; }',
                         destinations=",\n".join(dests))


def post(h, body, source="test"):
    r = requests.post(h.url + "/webhooks/" + source, data=body,
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 202, r.text
    return r.json()["id"]


rows = harness.PostgresServer.rows


def ok(r):
    assert r.returncode == 0, "exit %d\nstdout:\n%s\nstderr:\n%s" % (
        r.returncode, r.stdout, r.stderr)
    return r.stdout


def listing(h):
    return {d["name"]: d for d in json.loads(ok(h.ctl("destinations", "--json")))}


def ids_ok(sink):
    """Webhook ids of the requests the sink answered 2xx to (it answers
    what .answer says; the tests switch it only between waves)."""
    return [r.id for r in sink.got()]


# ---------------------------------------------------------------------------
# disable and enable

def test_disable_under_load_holds_and_enable_delivers_each_once(hookd_factory, sinks):
    crm, other = sinks(), sinks()
    h = start(hookd_factory, [dest("crm", crm.url), dest("other", other.url)], workers=2)
    posted, stop = [], threading.Event()

    def load():
        # Bounded: 40 events a second at most, 400 at most.
        while not stop.is_set() and len(posted) < 400:
            posted.append(post(h, b'{"n":%d}' % len(posted)))
            time.sleep(0.025)
    t = threading.Thread(target=load)
    t.start()
    try:
        harness.wait_for(lambda: len(crm.got()) >= 20, 20, what="crm to receive")
        out = ok(h.ctl("disable", "crm", "--reason", "maintenance window"))
        t_off = time.monotonic()
        assert "crm: disabled" in out
        time.sleep(2.5)             # the load goes on, crm is off
    finally:
        stop.set()
        t.join(30)
    n_posted = len(posted)
    # Within a second nothing more reached crm; the others kept going.
    late = [r for r in crm.got() if r.t > t_off + 1.0]
    assert late == [], "%d requests reached crm more than 1 s after disable" % len(late)
    harness.wait_for(lambda: set(ids_ok(other)) >= set(posted), 30, what="other to get all")
    before = len(crm.got())
    assert before < n_posted
    d = listing(h)["crm"]
    assert d["state"] == "disabled" and d["disabled_by"] == "operator"
    assert d["reason"] == "maintenance window" and d["disabled_at"]
    assert d["due"] + d["in_flight"] == n_posted - len(set(ids_ok(crm)))
    assert d["dead"] == 0
    assert listing(h)["other"]["state"] == "enabled"
    time.sleep(1.0)
    assert len(crm.got()) == before          # held: still nothing

    assert "crm: enabled (it was disabled by an operator)" in ok(h.ctl("enable", "crm"))
    harness.wait_for(lambda: set(ids_ok(crm)) >= set(posted), 30, what="crm to get all")
    time.sleep(1.0)
    got = ids_ok(crm)
    assert sorted(got) == sorted(set(got)), "a delivery was doubled"
    assert set(got) == set(posted)
    d = listing(h)["crm"]
    assert d["state"] == "enabled" and d["due"] == 0 and d["last_success_at"]


def test_gone_is_held_and_enable_alone_delivers(hookd_factory, pg_server, sinks):
    s = sinks()
    s.answer(410)
    h = start(hookd_factory, [dest("gone", s.url)])
    e1 = post(h, b'{"g":1}')
    harness.wait_for(lambda: rows(pg_server, "SELECT 1 FROM destination_state WHERE "
                                  "destination = 'gone' AND disabled"), 10, what="the 410")
    e2, e3 = post(h, b'{"g":2}'), post(h, b'{"g":3}')
    harness.wait_for(lambda: len(rows(pg_server, "SELECT 1 FROM deliveries WHERE "
                                      "destination = 'gone'")) == 3, 10)
    time.sleep(1.0)
    assert ids_ok(s) == [e1]                 # the 410, and nothing since
    d = listing(h)["gone"]
    assert d["state"] == "disabled" and d["disabled_by"] == "gone"
    assert d["due"] == 3 and d["dead"] == 0 and d["last_status"] == 410
    header = ok(h.ctl("destinations")).splitlines()
    assert header[0].split()[:3] == ["DESTINATION", "STATE", "BREAKER"]
    assert "disabled (410)" in header[1]

    s.answer(200)
    out = ok(h.ctl("enable", "gone"))
    assert "enabled (it was disabled after a 410)" in out
    harness.wait_for(lambda: len(s.got()) >= 4, 15, what="the held deliveries")
    time.sleep(0.5)
    assert sorted(ids_ok(s)[1:]) == sorted([e1, e2, e3])
    assert rows(pg_server, "SELECT status, count(*) FROM deliveries GROUP BY 1") \
        == [("succeeded", 3)]


def test_disabled_holds_from_a_new_workers_first_event(hookd_factory, sinks):
    """A worker that has just started has not read destination_state yet:
    what it reads from the stream meanwhile goes to the scanner, which
    skips disabled destinations, never straight out."""
    crm = sinks()
    h1 = start(hookd_factory, [dest("crm", crm.url)], workers=0)
    ok(h1.ctl("disable", "crm"))
    h1.stop()
    h2 = start(hookd_factory, [dest("crm", crm.url)], workers=2)
    posted = [post(h2, b'{"n":%d}' % i) for i in range(30)]
    time.sleep(1.5)
    assert crm.got() == []
    assert listing(h2)["crm"]["due"] == len(posted)
    ok(h2.ctl("enable", "crm"))
    harness.wait_for(lambda: len(crm.got()) >= len(posted), 15, what="the held deliveries")
    time.sleep(0.5)
    assert sorted(ids_ok(crm)) == sorted(posted)


def test_unknown_destination_is_an_error(hookd_factory):
    h = start(hookd_factory, [dest("crm", "http://127.0.0.1:9/")], workers=0)
    for args in (("disable", "nope"), ("enable", "nope"),
                 ("replay", "--since", "1h", "--destination", "nope")):
        r = h.ctl(*args)
        assert r.returncode == 1, (args, r)
        assert 'no destination "nope"' in r.stderr
    assert h.ctl("disable").returncode == 2
    assert h.ctl("replay", "--since", "1h", "--status", "bogus").returncode == 2
    # A time PostgreSQL cannot read is a usage error too, as purge's.
    for args in (("--since", "yesterday-ish"), ("--since", "1h", "--until", "2026-13-45")):
        r = h.ctl("replay", *args)
        assert r.returncode == 2, (args, r)
        assert "--since/--until" in r.stderr and '"%s"' % args[-1] in r.stderr, r.stderr
    assert h.ctl("destinations", "--bogus").returncode == 2


# ---------------------------------------------------------------------------
# bulk replay

uuid7 = harness.uuid7


def add_dead(pg, n, dests, *, source="test", etype=None, at=None, status="dead"):
    """n events of source, each with a delivery of the given status (dead
    after 4 attempts of HTTP 500) to each of dests; their ids."""
    at = at or datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    ids = [uuid7(at) for _ in range(n)]
    conn = pg.connect()
    try:
        with conn.cursor() as cur:
            for i, eid in enumerate(ids):
                cur.execute("INSERT INTO events (id, source, received_at, content_type,"
                            " body, event_type) VALUES (%s, %s, %s, 'application/json',"
                            " %s, %s)", (eid, source, at, b'{"i":%d}' % i, etype))
                for d in dests:
                    cur.execute("INSERT INTO deliveries (event_id, destination, received_at,"
                                " status, attempts, last_status, last_error)"
                                " VALUES (%s, %s, %s, %s, 4, 500, 'HTTP 500')",
                                (eid, d, at, status))
        conn.commit()
    finally:
        conn.close()
    return ids


def statuses(pg, name):
    return dict(rows(pg, "SELECT status, count(*) FROM deliveries WHERE destination = %s"
                         " GROUP BY 1", name))


def test_bulk_replay_redelivers_exactly_one_destination_once(hookd_factory, pg_server,
                                                            sinks):
    a, b = sinks(), sinks()
    h = start(hookd_factory, [dest("a", a.url), dest("b", b.url)])
    ids = add_dead(pg_server, 150, ["a", "b"])
    since = (datetime.datetime.now(datetime.timezone.utc)
             - datetime.timedelta(hours=1)).isoformat()

    out = ok(h.ctl("replay", "--since", since, "--destination", "a", "--status", "dead",
                   "--dry-run"))
    assert "would replay 150 deliveries" in out
    time.sleep(1.0)
    assert statuses(pg_server, "a") == {"dead": 150} and a.got() == []

    out = ok(h.ctl("replay", "--since", since, "--destination", "a", "--status", "dead"))
    assert out.strip() == "replayed 150 deliveries; they are due now"
    harness.wait_for(lambda: len(a.got()) >= 150, 30, what="a's 150 deliveries")
    time.sleep(1.0)
    assert sorted(ids_ok(a)) == sorted(ids)      # each once
    assert b.got() == []
    assert statuses(pg_server, "a") == {"succeeded": 150}
    assert statuses(pg_server, "b") == {"dead": 150}
    # Nothing dead is left for a: a second run finds none.
    assert "replayed 0 deliveries" in ok(h.ctl("replay", "--since", "1h",
                                               "--destination", "a"))


def test_bulk_replay_batches_and_selectors(hookd_factory, pg_server):
    # No delivery worker: only the rows are looked at.
    h = start(hookd_factory, [dest("a", "http://127.0.0.1:9/", '"test", "other"'),
                              dest("b", "http://127.0.0.1:9/", '"test", "other"')],
              workers=0)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=3)
    add_dead(pg_server, 1100, ["a"], etype="push")
    add_dead(pg_server, 5, ["a"], source="other", etype="issues")
    add_dead(pg_server, 7, ["a"], at=old)
    add_dead(pg_server, 3, ["b"], status="retrying")
    add_dead(pg_server, 2, ["b"], status="succeeded")

    dry = json.loads(ok(h.ctl("replay", "--since", "2h", "--status", "all", "--dry-run",
                              "--json")))
    assert dry == {"dry_run": True, "matched": 1110, "destinations": {"a": 1105, "b": 5}}
    assert json.loads(ok(h.ctl("replay", "--since", "2h", "--type", "issues", "--dry-run",
                               "--json")))["matched"] == 5
    assert json.loads(ok(h.ctl("replay", "--since", "2h", "--type", "is*", "--dry-run",
                               "--json")))["matched"] == 5
    assert json.loads(ok(h.ctl("replay", "--since", "2h", "--type", "is_ues", "--dry-run",
                               "--json")))["matched"] == 0
    assert json.loads(ok(h.ctl("replay", "--since", "2h", "--source", "other",
                               "--dry-run", "--json")))["matched"] == 5
    assert json.loads(ok(h.ctl("replay", "--since", "4h", "--until", "2h", "--dry-run",
                               "--json")))["matched"] == 7
    assert json.loads(ok(h.ctl("replay", "--since", "2h", "--status", "failed",
                               "--destination", "b", "--dry-run", "--json")))["matched"] == 3
    assert statuses(pg_server, "a") == {"dead": 1112}

    # More than two batches, each its own transaction.
    r = json.loads(ok(h.ctl("replay", "--since", "2h", "--type", "push", "--json")))
    assert r == {"dry_run": False, "replayed": 1100}
    assert statuses(pg_server, "a") == {"dead": 12, "pending": 1100}
    # --status all walks on past what it replayed, and ends.
    r = json.loads(ok(h.ctl("replay", "--since", "2h", "--status", "all", "--json")))
    assert r["replayed"] == 10           # a's 5 "other", b's 3 retrying + 2 succeeded
    assert statuses(pg_server, "b") == {"pending": 5}
    bad = h.ctl("replay", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "yesterday-ish" in bad.stderr     # a usage error


def test_bulk_replay_leaves_a_claimed_retry_alone(hookd_factory, pg_server):
    # A retrying row whose next_attempt_at lies within the claim lease from
    # now (2 x 30 s + 1 s here) may be one a worker claimed and is
    # attempting: replaying it would send it twice at once.  One due later,
    # or already due and unclaimed, is brought forward.
    h = start(hookd_factory, [dest("b", "http://127.0.0.1:9/")], workers=0,
              timeout_ms=30000)
    now = datetime.datetime.now(datetime.timezone.utc)
    claimed, later, due = (add_dead(pg_server, 1, ["b"], status="retrying")[0]
                           for _ in range(3))
    for eid, off in ((claimed, "30 seconds"), (later, "1 hour"), (due, "-1 minute")):
        rows(pg_server, "UPDATE deliveries SET next_attempt_at = now() + interval %s"
             " WHERE event_id = %s RETURNING 1", off, eid)
    r = json.loads(ok(h.ctl("replay", "--since", "1h", "--status", "failed", "--json")))
    assert r == {"dry_run": False, "replayed": 2}
    got = dict(rows(pg_server, "SELECT event_id::text, status FROM deliveries"
                               " WHERE received_at > %s", now - datetime.timedelta(hours=1)))
    assert got == {claimed: "retrying", later: "pending", due: "pending"}
    # The admin port selects the same way.
    assert admin(h, "POST", "/replay", body={"since": "1h", "status": "failed",
                                              "dry_run": True}).json()["matched"] == 0


# ---------------------------------------------------------------------------
# the admin port

def admin(h, method, path, token=TOKEN, body=None):
    hdr = {}
    if token is not None:
        hdr["Authorization"] = "Bearer " + token
    return requests.request(method, h.admin_url + path, headers=hdr, timeout=30,
                            data=json.dumps(body) if body is not None else None)


def test_admin_needs_the_token(hookd_factory):
    h = start(hookd_factory, [dest("crm", "http://127.0.0.1:9/")], workers=0)
    wrong_same = "x" * len(TOKEN)
    for method, path in (("GET", "/destinations"), ("POST", "/destinations/crm/disable"),
                         ("POST", "/destinations/crm/enable"), ("POST", "/replay")):
        for tok in (None, wrong_same, "short", TOKEN + "x"):
            r = admin(h, method, path, token=tok, body={"since": "1h"})
            assert r.status_code == 401, (method, path, tok, r.text)
            assert r.json()["error"] == "unauthorized"
    assert listing(h)["crm"]["state"] == "enabled"       # nothing changed
    r = admin(h, "GET", "/destinations")
    assert r.status_code == 200 and r.json()["destinations"][0]["name"] == "crm"


def test_admin_without_configured_token_is_forbidden(hookd_factory):
    h = start(hookd_factory, [dest("crm", "http://127.0.0.1:9/")], workers=0, token=None)
    for method, path in (("GET", "/destinations"), ("POST", "/destinations/crm/disable"),
                         ("POST", "/replay")):
        for tok in (None, "", "anything"):
            r = admin(h, method, path, token=tok)
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["error"] == "forbidden"


def test_admin_operations_match_the_cli(hookd_factory, pg_server, redis_server):
    h = start(hookd_factory, [dest("a", "http://127.0.0.1:9/"),
                              dest("b", "http://127.0.0.1:9/")], workers=0)
    add_dead(pg_server, 4, ["a", "b"])

    r = admin(h, "POST", "/destinations/a/disable", body={"reason": "deploy"})
    assert r.status_code == 200, r.text
    assert r.json() == {"destination": "a", "state": "disabled", "was_disabled": False,
                        "reason": "deploy"}
    cli = listing(h)
    # The stats process reads the breakers on its Redis connection: once
    # it is up (null until then).
    def api_listing():
        got = admin(h, "GET", "/destinations").json()["destinations"]
        return {d["name"]: d for d in got} if all(d["breaker"] for d in got) else None
    api = harness.wait_for(api_listing, 10, what="the admin port to read the breakers")
    assert api == cli
    assert api["a"]["state"] == "disabled" and api["a"]["reason"] == "deploy"
    assert api["a"]["dead"] == 4 and api["a"]["breaker"] == "closed"

    # Breaker: the key exists while a worker's breaker is open.
    until = int(time.time() * 1000) + 60000
    c = redis_server.client()
    try:
        c.set("hookd:breaker:b", str(until), px=60000)
    finally:
        c.close()
    api = {d["name"]: d for d in admin(h, "GET", "/destinations").json()["destinations"]}
    assert api["b"]["breaker"] == "open" and api["b"]["breaker_open_until"]
    assert listing(h)["b"]["breaker"] == "open"
    assert " open " in [ln for ln in ok(h.ctl("destinations")).splitlines()
                        if ln.startswith("b ")][0]

    r = admin(h, "POST", "/destinations/a/enable")
    assert r.status_code == 200 and r.json()["was_disabled"] is True
    assert listing(h)["a"]["state"] == "enabled"

    r = admin(h, "POST", "/replay", body={"since": "1h", "destination": "b",
                                          "dry_run": True})
    assert r.status_code == 200, r.text
    cli = json.loads(ok(h.ctl("replay", "--since", "1h", "--destination", "b",
                              "--dry-run", "--json")))
    assert r.json() == cli == {"dry_run": True, "matched": 4, "destinations": {"b": 4}}
    r = admin(h, "POST", "/replay", body={"since": "1h", "destination": "b"})
    assert r.status_code == 200 and r.json() == {"dry_run": False, "replayed": 4}
    assert statuses(pg_server, "b") == {"pending": 4}
    assert statuses(pg_server, "a") == {"dead": 4}

    # Errors in the JSON error form.
    for method, path, body, status, code in (
            ("POST", "/destinations/nope/disable", None, 404, "unknown_destination"),
            ("POST", "/destinations/a/reboot", None, 404, "not_found"),
            ("GET", "/destinations/a/disable", None, 405, "method_not_allowed"),
            ("POST", "/destinations", None, 405, "method_not_allowed"),
            ("POST", "/replay", None, 400, "invalid_json"),
            ("POST", "/replay", {"until": "1h"}, 400, "bad_request"),
            ("POST", "/replay", {"since": "1h", "bogus": 1}, 400, "bad_request"),
            ("POST", "/replay", {"since": "1h", "status": "x"}, 400, "bad_request"),
            ("POST", "/replay", {"since": "not a time"}, 400, "bad_request"),
            ("POST", "/replay", {"since": "1h", "destination": "zz"}, 400, "bad_request"),
            ("POST", "/destinations/a/disable", {"reason": 5}, 400, "bad_request")):
        r = admin(h, method, path, body=body)
        assert r.status_code == status, (path, body, r.text)
        assert r.json()["error"] == code and r.json()["message"], r.text
    assert admin(h, "GET", "/destinations").status_code == 200


def test_retention_drops_held_deliveries_once_expired(hookd_factory, pg_server):
    """Held deliveries wait until enabled or expired: past retention, a
    disabled destination's keep nothing; an enabled one's pending retry
    still keeps its event."""
    h = start(hookd_factory, [dest("a", "http://127.0.0.1:9/"),
                              dest("b", "http://127.0.0.1:9/")], workers=0)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    held = add_dead(pg_server, 3, ["a"], at=old, status="pending")
    kept = add_dead(pg_server, 2, ["b"], at=old, status="retrying")
    ok(h.ctl("disable", "a"))
    conn = pg_server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT action, deliveries FROM hookd_retention(7)")
            done = cur.fetchall()
        conn.commit()
    finally:
        conn.close()
    assert ("deleted", 3) in done, done
    assert rows(pg_server, "SELECT count(*) FROM events WHERE id = ANY(%s::uuid[])",
                held) == [(0,)]
    assert rows(pg_server, "SELECT count(*) FROM events WHERE id = ANY(%s::uuid[])",
                kept) == [(2,)]
    assert statuses(pg_server, "b") == {"retrying": 2}


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_breakers_read_from_the_master_the_sentinels_name(hookd_factory, pg_server, family):
    """With redis.sentinels, hookctl destinations asks them for the master
    (redis.url's host is not used) and reads the breaker keys there; a
    sentinel written "[::1]:port", as hookd.conf(5) allows, is read as hookd
    reads it, without the brackets."""
    import socket
    from test_sentinel import Cluster, _config
    if family == "ipv6":
        try:
            socket.socket(socket.AF_INET6).bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback")
    d = harness.make_tempdir("sentinel-")
    cluster = Cluster(d)
    sink = Sink()
    try:
        text = _config(cluster, pg_server.url, sink, d, 0)
        if family == "ipv6":
            for s in cluster.sentinels:
                text = text.replace('"127.0.0.1:%d"' % s.port, '"[::1]:%d"' % s.port)
            assert "[::1]:" in text
        h = hookd_factory(text)
        c = cluster.primary.client()
        try:
            c.set("hookd:breaker:sink", str(int(time.time() * 1000) + 60000), px=60000)
        finally:
            c.close()
        r = h.ctl("destinations", "--json")
        assert "cannot read the breakers" not in r.stderr, r.stderr
        assert json.loads(ok(r))[0]["breaker"] == "open"
    finally:
        sink.close()
        cluster.close()
