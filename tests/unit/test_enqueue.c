/*
 * test_enqueue.c - the ingest enqueue against a real Redis and PostgreSQL.
 *
 * Needs HK_TEST_REDIS_URL (redis://host:port[/db]) and HK_TEST_PG_URL; the
 * integration runner sets both, and without them the test skips.  Faults
 * are made without stopping the servers: a closed port (refused), a socket
 * that listens but never answers (a Redis that hangs), CLIENT PAUSE (a
 * Redis that stalls mid-connection), CLIENT KILL (a dropped connection),
 * SCRIPT FLUSH (a Redis that lost its script cache).
 *
 * Every key and row carries this run's pid in its source name, and is
 * removed at the end.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "clock.h"
#include "core.h"
#include "enqueue.h"
#include "migrate.h"
#include "unit.h"
#include "unitnet.h"
#include "uuid.h"

#define NSRC 2

static struct event_base *base;
static redisContext *rsync;		/* the checker's own connection */
static PGconn *pgsync;
static const char *redis_url, *pg_url;
static char prefix[64], stream[80], src_names[NSRC][32];
static struct hk_conf_source sources[NSRC];
static int blackhole_fd = -1;
static char checker_host[128] = "127.0.0.1";	/* of HK_TEST_REDIS_URL */
static int checker_port = 6379, checker_db;

/* What one callback saw; calls counts every call, to catch doubles. */
struct outcome {
	int  calls;
	int  result;
	int  fallback;
	int  sync;			/* called before hk_enqueue_submit returned */
	char id[64];
};

static int in_submit, answered;

static void
record_cb(void *arg, int result, const char *id, int fallback)
{
	struct outcome *o = arg;

	o->calls++;
	o->result = result;
	o->fallback = fallback;
	o->sync = in_submit;
	snprintf(o->id, sizeof(o->id), "%s", id ? id : "");
	answered++;
}

static const char body_bytes[] = "{\"a\":1}\0\r\n\xff\xfe\x01 end";
#define BODY_LEN (sizeof(body_bytes) - 1)

static void
make_event(struct hk_enqueue_event *ev, int src, const char *key)
{
	uint8_t raw[HK_UUID_LEN];

	memset(ev, 0, sizeof(*ev));
	hk_uuid_v7(raw);
	hk_uuid_format(raw, ev->id);
	ev->src = &sources[src];
	ev->idem_key = key;
	ev->idem_len = key ? strlen(key) : 0;
	ev->received_us = hk_clock_real_us();
	hk_clock_iso8601(ev->received_us, ev->received_at,
	    sizeof(ev->received_at));
	ev->content_type = "application/json";
	ev->content_type_len = 16;
	ev->headers_json = "{\"x-test\":\"1\"}";
	ev->headers_len = strlen(ev->headers_json);
	ev->body = body_bytes;
	ev->body_len = BODY_LEN;
}

static void
submit(struct hk_enqueue_event *ev, struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	in_submit = 1;
	hk_enqueue_submit(ev, record_cb, o);
	in_submit = 0;
}

/* run_until - turn the loop until *n reaches want or ms pass. */
static int
run_until(const int *n, int want, int ms)
{
	uint64_t end = hk_clock_mono_ns() + (uint64_t)ms * 1000000u;

	while (*n < want && hk_clock_mono_ns() < end)
		event_base_loop(base, EVLOOP_ONCE);
	return *n >= want;
}

static int redis_is_up, pg_is_up;

static int
wait_up(int redis, int pg, int ms)
{
	uint64_t end = hk_clock_mono_ns() + (uint64_t)ms * 1000000u;

	while (hk_clock_mono_ns() < end) {
		redis_is_up = hk_enqueue_redis_up();
		pg_is_up = hk_enqueue_pg_up();
		if ((!redis || redis_is_up) && (!pg || pg_is_up))
			return 1;
		event_base_loop(base, EVLOOP_ONCE);
	}
	return 0;
}

/* One event through submit to its callback. */
static void
store_one(struct hk_enqueue_event *ev, struct outcome *o, int ms)
{
	int before = answered;

	submit(ev, o);
	run_until(&answered, before + 1, ms);
}

/* A port that accepts connections (the kernel does) and never answers. */
static int
blackhole_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	blackhole_fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(blackhole_fd, (struct sockaddr *)&sa, sizeof(sa));
	listen(blackhole_fd, 16);
	getsockname(blackhole_fd, (struct sockaddr *)&sa, &len);
	return ntohs(sa.sin_port);
}

static void
make_conf(struct hk_conf *conf, char *rurl, char *purl, int timeout_ms)
{
	memset(conf, 0, sizeof(*conf));
	conf->redis.url = rurl;
	conf->redis.prefix = prefix;
	conf->redis.timeout_ms = timeout_ms;
	conf->postgres.url = purl;
	conf->sources = sources;
	conf->nsources = NSRC;
}

/* Stream entries whose id field is id; the last one's body into body. */
static int
stream_count(const char *id, char *body, size_t *body_len)
{
	redisReply *r = redisCommand(rsync, "XRANGE %s - +", stream);
	int n = 0;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		return -1;
	}
	for (size_t i = 0; i < r->elements; i++) {
		redisReply *f = r->element[i]->element[1];
		const redisReply *eid = NULL, *eb = NULL;

		for (size_t j = 0; j + 1 < f->elements; j += 2) {
			if (strcmp(f->element[j]->str, "id") == 0)
				eid = f->element[j + 1];
			if (strcmp(f->element[j]->str, "body") == 0)
				eb = f->element[j + 1];
		}
		if (eid == NULL || strcmp(eid->str, id) != 0)
			continue;
		n++;
		if (body != NULL && eb != NULL && eb->len <= *body_len) {
			memcpy(body, eb->str, eb->len);
			*body_len = eb->len;
		}
	}
	freeReplyObject(r);
	return n;
}

/* The inbox row's body, binary; -1 when there is no such row. */
static int
inbox_body(const char *id, char *body, size_t *len)
{
	const char *params[1] = { id };
	PGresult *res = PQexecParams(pgsync, "SELECT body FROM inbox WHERE "
	    "id = $1::uuid", 1, NULL, params, NULL, NULL, 1);
	int n = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
	    && (size_t)PQgetlength(res, 0, 0) <= *len) {
		*len = (size_t)PQgetlength(res, 0, 0);
		memcpy(body, PQgetvalue(res, 0, 0), *len);
		n = 1;
	} else if (PQresultStatus(res) == PGRES_TUPLES_OK)
		n = PQntuples(res) ? 1 : 0;
	PQclear(res);
	return n;
}

static void
test_redis_stored_then_duplicate(void)
{
	struct hk_enqueue_event a, b, c;
	struct outcome oa, ob, oc;
	char got[256];
	size_t glen = sizeof(got);

	HK_CHECK(wait_up(1, 1, 3000));
	make_event(&a, 0, "key-1");
	store_one(&a, &oa, 3000);
	HK_CHECK(oa.calls == 1 && oa.sync == 0);
	HK_CHECK(oa.result == HK_ENQUEUE_STORED && oa.fallback == 0);
	HK_CHECK_STR(oa.id, a.id);
	HK_CHECK(stream_count(a.id, got, &glen) == 1);
	HK_CHECK(glen == BODY_LEN && memcmp(got, body_bytes, BODY_LEN) == 0);

	make_event(&b, 0, "key-1");
	store_one(&b, &ob, 3000);
	HK_CHECK(ob.calls == 1 && ob.result == HK_ENQUEUE_DUPLICATE);
	HK_CHECK(ob.fallback == 0);
	HK_CHECK_STR(ob.id, a.id);
	HK_CHECK(stream_count(b.id, NULL, NULL) == 0);

	/* The same key under another source is another event. */
	make_event(&c, 1, "key-1");
	store_one(&c, &oc, 3000);
	HK_CHECK(oc.result == HK_ENQUEUE_STORED && oc.fallback == 0);
	HK_CHECK(stream_count(c.id, NULL, NULL) == 1);
	HK_CHECK(hk_enqueue_inflight() == 0);
}

/* Many at once on one connection: answered in order, duplicates too. */
static void
test_redis_pipelined(void)
{
	enum { N = 200 };
	static struct hk_enqueue_event ev[N];
	static struct outcome o[N];
	static char keys[N][32];
	int before = answered, bad = 0;

	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "pipe-%d", i % 150);
		make_event(&ev[i], 0, i % 3 == 0 ? NULL : keys[i]);
		submit(&ev[i], &o[i]);
	}
	HK_CHECK(hk_enqueue_inflight() == N);
	HK_CHECK(run_until(&answered, before + N, 5000));
	for (int i = 0; i < N; i++) {
		int first = i >= 150 && i % 3 != 0 && (i - 150) % 3 != 0;

		if (o[i].calls != 1 || o[i].fallback != 0 || o[i].result
		    != (first ? HK_ENQUEUE_DUPLICATE : HK_ENQUEUE_STORED))
			bad++;
		if (first && strcmp(o[i].id, ev[i - 150].id) != 0)
			bad++;
	}
	HK_CHECK(bad == 0);
	HK_CHECK(hk_enqueue_inflight() == 0);
}

/* calls= of one command in INFO commandstats, -1 when unreadable. */
static long
cmd_calls(const char *cmd)
{
	redisReply *r = redisCommand(rsync, "INFO commandstats");
	char pat[64];
	const char *p;
	long n = -1;

	snprintf(pat, sizeof(pat), "cmdstat_%s:calls=", cmd);
	if (r != NULL && r->type == REDIS_REPLY_STRING)
		n = (p = strstr(r->str, pat)) != NULL ? atol(p + strlen(pat))
		    : 0;
	freeReplyObject(r);
	return n;
}

/* The value of field name in the stream entry of event id, or "". */
static void
entry_field(const char *id, const char *name, char *out, size_t outsz)
{
	redisReply *r = redisCommand(rsync, "XRANGE %s - +", stream);

	out[0] = '\0';
	for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY
	    && i < r->elements; i++) {
		redisReply *f = r->element[i]->element[1];
		int mine = 0;

		for (size_t j = 0; j + 1 < f->elements; j += 2)
			if (strcmp(f->element[j]->str, "id") == 0
			    && strcmp(f->element[j + 1]->str, id) == 0)
				mine = 1;
		for (size_t j = 0; mine && j + 1 < f->elements; j += 2)
			if (strcmp(f->element[j]->str, name) == 0)
				snprintf(out, outsz, "%s", f->element[j + 1]->str);
	}
	freeReplyObject(r);
}

/*
 * The events of one turn go to Redis as one script call per 256 events
 * with a dedup key; those without one as plain XADDs, with the same
 * fields as the script writes.
 */
static void
test_redis_one_call_per_turn(void)
{
	enum { NK = 300, NP = 20 };
	static struct hk_enqueue_event ev[NK + NP];
	static struct outcome o[NK + NP];
	static char keys[NK][32];
	char got[64];
	long evalsha0 = cmd_calls("evalsha"), xadd0 = cmd_calls("xadd");
	int before = answered, bad = 0;

	HK_CHECK(evalsha0 >= 0 && xadd0 >= 0);
	for (int i = 0; i < NK; i++) {
		snprintf(keys[i], sizeof(keys[i]), "turn-%d", i);
		make_event(&ev[i], 0, keys[i]);
		submit(&ev[i], &o[i]);
	}
	HK_CHECK(run_until(&answered, before + NK, 5000));
	HK_CHECK(cmd_calls("evalsha") - evalsha0 == 2);	/* 256 + 44 */

	evalsha0 = cmd_calls("evalsha");
	xadd0 = cmd_calls("xadd");
	for (int i = NK; i < NK + NP; i++) {
		make_event(&ev[i], 1, NULL);
		snprintf(ev[i].event_type, sizeof(ev[i].event_type), "t.%d", i);
		submit(&ev[i], &o[i]);
	}
	HK_CHECK(run_until(&answered, before + NK + NP, 5000));
	HK_CHECK(cmd_calls("evalsha") == evalsha0);
	HK_CHECK(cmd_calls("xadd") - xadd0 == NP);
	for (int i = 0; i < NK + NP; i++)
		if (o[i].calls != 1 || o[i].fallback != 0 || o[i].result
		    != HK_ENQUEUE_STORED || strcmp(o[i].id, ev[i].id) != 0)
			bad++;
	HK_CHECK(bad == 0);
	entry_field(ev[NK].id, "event_type", got, sizeof(got));
	HK_CHECK_STR(got, "t.300");
	entry_field(ev[NK].id, "source", got, sizeof(got));
	HK_CHECK_STR(got, src_names[1]);
	entry_field(ev[0].id, "idempotency_key", got, sizeof(got));
	HK_CHECK_STR(got, "turn-0");
	HK_CHECK(hk_enqueue_inflight() == 0);
}

/* Redis lost its script cache: EVALSHA's NOSCRIPT becomes an EVAL. */
static void
test_redis_noscript(void)
{
	struct hk_enqueue_event a;
	struct outcome oa;

	freeReplyObject(redisCommand(rsync, "SCRIPT FLUSH"));
	make_event(&a, 0, "key-noscript");
	store_one(&a, &oa, 3000);
	HK_CHECK(oa.calls == 1 && oa.result == HK_ENQUEUE_STORED);
	HK_CHECK(oa.fallback == 0);
	HK_CHECK(stream_count(a.id, NULL, NULL) == 1);
}

/* The connection is killed: reconnected, through the stream within 2 s. */
static void
test_redis_killed(void)
{
	struct hk_enqueue_event a;
	struct outcome oa;
	uint64_t t0;

	freeReplyObject(redisCommand(rsync, "CLIENT KILL TYPE normal "
	    "SKIPME yes"));
	t0 = hk_clock_mono_ns();
	/* Let the worker see the EOF. */
	while (hk_enqueue_redis_up() && hk_clock_mono_ns() - t0 < 1000000000u)
		event_base_loop(base, EVLOOP_ONCE);
	HK_CHECK(!hk_enqueue_redis_up());
	HK_CHECK(wait_up(1, 1, 2100));
	make_event(&a, 0, "key-killed");
	store_one(&a, &oa, 3000);
	HK_CHECK(oa.result == HK_ENQUEUE_STORED && oa.fallback == 0);
	HK_CHECK(stream_count(a.id, NULL, NULL) == 1);
}

/*
 * Redis stalls (CLIENT PAUSE): the request times out into the inbox, and
 * once the pause ends the stream takes events again.
 */
static void
test_redis_stalls(void)
{
	struct hk_enqueue_event a, b, c;
	struct outcome oa, ob, oc;
	char got[256];
	size_t glen = sizeof(got);
	uint64_t t0;

	freeReplyObject(redisCommand(rsync, "CLIENT PAUSE 800 ALL"));
	t0 = hk_clock_mono_ns();
	make_event(&a, 0, "key-stall");
	store_one(&a, &oa, 3000);
	HK_CHECK(oa.calls == 1 && oa.result == HK_ENQUEUE_STORED);
	HK_CHECK(oa.fallback == 1);
	HK_CHECK((hk_clock_mono_ns() - t0) / 1000000u < 600);
	HK_CHECK(inbox_body(a.id, got, &glen) == 1);
	HK_CHECK(glen == BODY_LEN && memcmp(got, body_bytes, BODY_LEN) == 0);
	/* While the breaker is open, straight to the inbox. */
	make_event(&b, 0, "key-stall");
	store_one(&b, &ob, 3000);
	HK_CHECK(ob.result == HK_ENQUEUE_DUPLICATE && ob.fallback == 1);
	HK_CHECK_STR(ob.id, a.id);
	HK_CHECK(wait_up(1, 1, 3000));
	make_event(&c, 0, "key-after-stall");
	store_one(&c, &oc, 3000);
	HK_CHECK(oc.result == HK_ENQUEUE_STORED && oc.fallback == 0);
}

/* Redis refuses connections: everything goes to the inbox. */
static void
test_inbox(void)
{
	enum { N = 100 };
	static struct hk_enqueue_event ev[N];
	static struct outcome o[N];
	static char keys[N][32];
	struct hk_enqueue_event a, b, c, d;
	struct outcome oa, ob, oc, od;
	char got[256];
	size_t glen = sizeof(got);
	int before, bad = 0;

	HK_CHECK(wait_up(0, 1, 3000));
	HK_CHECK(!hk_enqueue_redis_up());
	make_event(&a, 0, "inbox-key");
	store_one(&a, &oa, 3000);
	HK_CHECK(oa.calls == 1 && oa.sync == 0);
	HK_CHECK(oa.result == HK_ENQUEUE_STORED && oa.fallback == 1);
	HK_CHECK_STR(oa.id, a.id);
	HK_CHECK(inbox_body(a.id, got, &glen) == 1);
	HK_CHECK(glen == BODY_LEN && memcmp(got, body_bytes, BODY_LEN) == 0);

	make_event(&b, 0, "inbox-key");
	store_one(&b, &ob, 3000);
	HK_CHECK(ob.result == HK_ENQUEUE_DUPLICATE && ob.fallback == 1);
	HK_CHECK_STR(ob.id, a.id);
	glen = sizeof(got);
	HK_CHECK(inbox_body(b.id, got, &glen) == 0);

	/* No key: never a duplicate. */
	make_event(&c, 1, NULL);
	make_event(&d, 1, NULL);
	store_one(&c, &oc, 3000);
	store_one(&d, &od, 3000);
	HK_CHECK(oc.result == HK_ENQUEUE_STORED && od.result
	    == HK_ENQUEUE_STORED);
	HK_CHECK(oc.fallback == 1 && od.fallback == 1);

	/* A burst: batched, with duplicates inside one batch. */
	before = answered;
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "burst-%d", i % 60);
		make_event(&ev[i], 0, keys[i]);
		submit(&ev[i], &o[i]);
	}
	HK_CHECK(run_until(&answered, before + N, 5000));
	for (int i = 0; i < N; i++) {
		int dup = i >= 60;

		if (o[i].calls != 1 || o[i].fallback != 1 || o[i].result
		    != (dup ? HK_ENQUEUE_DUPLICATE : HK_ENQUEUE_STORED))
			bad++;
		if (dup && strcmp(o[i].id, ev[i - 60].id) != 0)
			bad++;
	}
	HK_CHECK(bad == 0);
	HK_CHECK(hk_enqueue_inflight() == 0);
}

/* Redis accepts and never answers: the connect times out into the inbox. */
static void
test_redis_hangs(void)
{
	struct hk_enqueue_event a;
	struct outcome oa;
	uint64_t t0 = hk_clock_mono_ns();

	make_event(&a, 0, NULL);
	store_one(&a, &oa, 3000);
	HK_CHECK(oa.calls == 1 && oa.result == HK_ENQUEUE_STORED);
	HK_CHECK(oa.fallback == 1);
	HK_CHECK((hk_clock_mono_ns() - t0) / 1000000u < 1000);
	HK_CHECK(!hk_enqueue_redis_up());
}

static void
test_both_down(void)
{
	struct hk_enqueue_event a;
	struct outcome oa;

	make_event(&a, 0, "down-key");
	store_one(&a, &oa, 8000);
	HK_CHECK(oa.calls == 1 && oa.sync == 0);
	HK_CHECK(oa.result == HK_ENQUEUE_UNAVAILABLE);
	HK_CHECK(hk_enqueue_inflight() == 0);
	HK_CHECK(!hk_enqueue_redis_up() && !hk_enqueue_pg_up());
	/* Known down now: refused at once, still from the loop. */
	make_event(&a, 0, "down-key");
	store_one(&a, &oa, 1000);
	HK_CHECK(oa.calls == 1 && oa.sync == 0);
	HK_CHECK(oa.result == HK_ENQUEUE_UNAVAILABLE);
}

/* Shutdown with requests in flight: each answered exactly once. */
static void
test_shutdown_pending(void)
{
	struct hk_enqueue_event ev[5];
	struct outcome o[5];

	for (int i = 0; i < 5; i++) {
		make_event(&ev[i], 0, NULL);
		submit(&ev[i], &o[i]);
	}
	hk_enqueue_shutdown();
	for (int i = 0; i < 5; i++)
		HK_CHECK(o[i].calls == 1);
	HK_CHECK(hk_enqueue_inflight() == 0);
}

/*
 * A Lua error (here WRONGTYPE: the stream key holds a string) fails that
 * request only: it goes to the inbox, the connection stays up, the next
 * request goes through the stream.
 */
static void
test_redis_error_reply(void)
{
	struct hk_enqueue_event a, b;
	struct outcome oa, ob;
	char saved[128];
	redisReply *r;

	snprintf(saved, sizeof(saved), "%ssaved", prefix);
	freeReplyObject(redisCommand(rsync, "RENAME %s %s", stream, saved));
	freeReplyObject(redisCommand(rsync, "SET %s x", stream));
	make_event(&a, 0, "key-wrongtype");
	store_one(&a, &oa, 3000);
	HK_CHECK(oa.calls == 1 && oa.result == HK_ENQUEUE_STORED);
	HK_CHECK(oa.fallback == 1);
	HK_CHECK(hk_enqueue_redis_up());
	/* XADD failed before SET: no key was left behind. */
	r = redisCommand(rsync, "EXISTS %sdedup:%s:key-wrongtype", prefix,
	    src_names[0]);
	HK_CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 0);
	freeReplyObject(r);
	freeReplyObject(redisCommand(rsync, "DEL %s", stream));
	freeReplyObject(redisCommand(rsync, "RENAME %s %s", saved, stream));
	make_event(&b, 0, "key-after-wrongtype");
	store_one(&b, &ob, 3000);
	HK_CHECK(ob.result == HK_ENQUEUE_STORED && ob.fallback == 0);
	HK_CHECK(stream_count(b.id, NULL, NULL) == 1);
}

/* AUTH with user and password (percent-encoded), then SELECT. */
static void
test_redis_auth_select(void)
{
	struct hk_enqueue_event a;
	struct outcome oa;
	char got[256];
	size_t glen = sizeof(got);

	HK_CHECK(wait_up(1, 1, 3000));
	make_event(&a, 0, "key-auth");
	store_one(&a, &oa, 3000);
	HK_CHECK(oa.result == HK_ENQUEUE_STORED && oa.fallback == 0);
	freeReplyObject(redisCommand(rsync, "SELECT 3"));
	HK_CHECK(stream_count(a.id, got, &glen) == 1);
	HK_CHECK(glen == BODY_LEN && memcmp(got, body_bytes, BODY_LEN) == 0);
	freeReplyObject(redisCommand(rsync, "FLUSHDB"));
	freeReplyObject(redisCommand(rsync, "SELECT %d", checker_db));
}

/* A wrong password keeps the breaker open: the inbox takes the events. */
static void
test_redis_auth_refused(void)
{
	struct hk_enqueue_event a;
	struct outcome oa;

	make_event(&a, 0, NULL);
	store_one(&a, &oa, 3000);
	HK_CHECK(oa.result == HK_ENQUEUE_STORED && oa.fallback == 1);
	HK_CHECK(!hk_enqueue_redis_up());
}

static int
ensure_schema(char *purl)
{
	PGresult *res = PQexec(pgsync, "SELECT to_regclass('inbox') IS NULL");
	int missing = PQresultStatus(res) == PGRES_TUPLES_OK
	    && PQgetvalue(res, 0, 0)[0] == 't';
	struct hk_conf conf;

	PQclear(res);
	if (!missing)
		return HK_OK;
	make_conf(&conf, NULL, purl, 0);
	return hk_migrate_run(&conf, 5);
}

static int
connect_checkers(void)
{
	const char *p = redis_url + 8;

	if (strncmp(redis_url, "redis://", 8) != 0 || sscanf(p,
	    "%127[^:/]:%d/%d", checker_host, &checker_port, &checker_db) < 1)
		return HK_ERROR;
	if ((rsync = redisConnect(checker_host, checker_port)) == NULL
	    || rsync->err)
		return HK_ERROR;
	if (checker_db)
		freeReplyObject(redisCommand(rsync, "SELECT %d", checker_db));
	pgsync = PQconnectdb(pg_url);
	return PQstatus(pgsync) == CONNECTION_OK ? HK_OK : HK_ERROR;
}

static void
cleanup(void)
{
	redisReply *r = redisCommand(rsync, "KEYS %s*", prefix);
	char sql[128];

	for (size_t i = 0; r && i < r->elements; i++)
		freeReplyObject(redisCommand(rsync, "DEL %s",
		    r->element[i]->str));
	freeReplyObject(r);
	snprintf(sql, sizeof(sql), "DELETE FROM inbox WHERE source LIKE "
	    "'hkt%d%%'", (int)getpid());
	PQclear(PQexec(pgsync, sql));
}

int
main(void)
{
	struct hk_conf conf;
	char closed_redis[64], closed_pg[128], hole[64], authurl[256];
	char *rurl, *purl;

	redis_url = getenv("HK_TEST_REDIS_URL");
	pg_url = getenv("HK_TEST_PG_URL");
	if (redis_url == NULL || pg_url == NULL || !*redis_url || !*pg_url) {
		printf("SKIP test_enqueue: no HK_TEST_REDIS_URL\n");
		return hk_unit_done();
	}
	rurl = strdup(redis_url);
	purl = strdup(pg_url);
	snprintf(prefix, sizeof(prefix), "hkt%d:", (int)getpid());
	snprintf(stream, sizeof(stream), "%sevents", prefix);
	for (int i = 0; i < NSRC; i++) {
		snprintf(src_names[i], sizeof(src_names[i]), "hkt%d-%c",
		    (int)getpid(), 'a' + i);
		sources[i].name = src_names[i];
		sources[i].dedup_window_s = 3600;
	}
	base = event_base_new();
	if (connect_checkers() != HK_OK || ensure_schema(purl) != HK_OK) {
		printf("FAIL test_enqueue: cannot reach %s or %s\n", redis_url,
		    pg_url);
		return 1;
	}

	make_conf(&conf, rurl, purl, 200);
	HK_CHECK(hk_enqueue_init(base, &conf) == HK_OK);
	HK_RUN(test_redis_stored_then_duplicate);
	HK_RUN(test_redis_pipelined);
	HK_RUN(test_redis_one_call_per_turn);
	HK_RUN(test_redis_noscript);
	HK_RUN(test_redis_killed);
	HK_RUN(test_redis_stalls);
	HK_RUN(test_redis_error_reply);
	HK_RUN(test_shutdown_pending);

	/* An ACL user whose password needs percent-encoding, and db 3. */
	freeReplyObject(redisCommand(rsync, "ACL SETUSER %s on >p@ss:w/rd "
	    "~* &* +@all", src_names[0]));
	snprintf(authurl, sizeof(authurl), "redis://%s:p%%40ss%%3Aw%%2Frd@"
	    "%s:%d/3", src_names[0], checker_host, checker_port);
	make_conf(&conf, authurl, purl, 200);
	hk_enqueue_init(base, &conf);
	HK_RUN(test_redis_auth_select);
	hk_enqueue_shutdown();
	snprintf(authurl, sizeof(authurl), "redis://%s:wrong@%s:%d",
	    src_names[0], checker_host, checker_port);
	make_conf(&conf, authurl, purl, 200);
	hk_enqueue_init(base, &conf);
	wait_up(0, 1, 3000);
	HK_RUN(test_redis_auth_refused);
	hk_enqueue_shutdown();
	freeReplyObject(redisCommand(rsync, "ACL DELUSER %s", src_names[0]));

	snprintf(closed_redis, sizeof(closed_redis), "redis://127.0.0.1:%d/0",
	    hk_unit_closed_port());
	make_conf(&conf, closed_redis, purl, 200);
	hk_enqueue_init(base, &conf);
	HK_RUN(test_inbox);
	hk_enqueue_shutdown();

	snprintf(hole, sizeof(hole), "redis://127.0.0.1:%d", blackhole_port());
	make_conf(&conf, hole, purl, 200);
	hk_enqueue_init(base, &conf);
	wait_up(0, 1, 3000);
	HK_RUN(test_redis_hangs);
	hk_enqueue_shutdown();
	close(blackhole_fd);

	snprintf(closed_pg, sizeof(closed_pg), "postgresql://hookd@127.0.0.1:"
	    "%d/hookd", hk_unit_closed_port());
	make_conf(&conf, closed_redis, closed_pg, 200);
	hk_enqueue_init(base, &conf);
	HK_RUN(test_both_down);
	hk_enqueue_shutdown();

	cleanup();
	redisFree(rsync);
	PQfinish(pgsync);
	event_base_free(base);
	free(rurl);
	free(purl);
	return hk_unit_done();
}
