/*
 * enqueue.c - the ingest worker's durable enqueue (see enqueue.h).
 *
 * The hot path is one Redis round trip per event: a Lua script, loaded
 * once per connection with SCRIPT LOAD and called with EVALSHA, checks the
 * dedup key and appends to the stream atomically.  Concurrent requests are
 * pipelined on the worker's one connection; hiredis answers them in order.
 * Those submitted during one turn of the event loop go out in one write
 * (redisev.c).
 *
 * Redis fails in three ways, and the requests caught in any of them go to
 * the PostgreSQL inbox (inbox.c) instead:
 *  - An error reply (LOADING, OOM, MISCONF, READONLY...): for that request
 *    only.  The connection stays and the next request tries Redis again, so
 *    nothing waits for a reconnect once Redis accepts writes again.  NOSCRIPT
 *    is not a failure: the script cache is gone (Redis restarted, or SCRIPT
 *    FLUSH), and the request is sent again with EVAL, which caches it anew.
 *  - The connection breaks: hiredis calls every pending callback with a
 *    NULL reply.
 *  - Redis stops answering.  hiredis 0.14 has no timeouts, so every request
 *    sent is kept in a FIFO with its send time (replies come in order, so
 *    the head is the oldest one outstanding) and a timer looks at the head
 *    every HK_ENQUEUE_TICK_MS.  Past redis.timeout_ms the connection is
 *    dropped, which turns into the previous case.
 *
 * A request that Redis executed but answered too late lands in the inbox as
 * well.  That is allowed (delivery is at-least-once) and mostly harmless:
 * the inbox row keeps the same event id, and when the delivery pool moves it
 * into the stream with the same script, the dedup key set by the late
 * execution makes it a duplicate.  Only an event without an idempotency key
 * is then delivered twice, with the same webhook-id.
 *
 * Circuit breaker: once a connection failed, new requests go straight to the
 * inbox without trying Redis.  The connection is remade in the background,
 * after 100 ms doubling to 2 s; the jitter only shortens a delay, so Redis
 * back means events through the stream again within 2 s.  The breaker closes
 * when a connection is up and its SCRIPT LOAD answered.  Only the very
 * first connection, at start, carries requests before that (with EVAL,
 * behind the handshake in the pipeline), so that a worker does not send its
 * first events to the inbox merely because it is young.
 *
 * Redis restarted without its data: every connection's handshake sets the
 * key <prefix>epoch to a fresh value unless it exists (SET NX) and reads
 * it back.  A value other than the one this worker saw before means Redis
 * lost what it held, and with it the events stored in the last moments
 * that the delivery pool had not yet written to PostgreSQL: the worker
 * puts back every event of its redo log (redolog.h), with the same ids.
 *
 * Sentinel (redis.sentinels): every (re)connect first asks redisloc.c where
 * the master is, and the handshake checks ROLE before SCRIPT LOAD, so the
 * breaker closes only on a master.  A READONLY reply (the master was
 * demoted) drops the connection, and +switch-master drops it at once when
 * it is not to the new master.  A connection to another master than the
 * last one puts the redo log back (see hk_enqueue_found): replication is
 * asynchronous, and the promoted replica may lack the last entries.
 *
 * redis.replicas_ack = N: the scripts queued in one turn of the loop are
 * followed by one WAIT N replicas_timeout_ms in the same write.  A stored
 * event is answered only when that WAIT says N replicas have it; short, it
 * goes to the inbox like a request that Redis failed, and for the next
 * HK_ENQUEUE_SHORT_MS new events go straight there instead of each turn
 * holding the connection for the whole timeout.
 *
 * Every completion goes through the done list, which a zero-timeout event
 * runs: a callback never runs inside hk_enqueue_submit(), nor inside hiredis
 * or libpq, so the caller may submit or free whatever it likes from it.
 *
 * Hostnames: hiredis resolves with getaddrinfo(3), which can block; that
 * happens on (re)connects only, not per request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "backoff.h"
#include "clock.h"
#include "core.h"
#include "enqscript.h"
#include "enqueue.h"
#include "fmt.h"
#include "inbox.h"
#include "log.h"
#include "redisev.h"
#include "redisloc.h"
#include "redisurl.h"
#include "redolog.h"
#include "uuid.h"

#define HK_ENQUEUE_TICK_MS          25
#define HK_ENQUEUE_BACKOFF_MIN_MS   100
#define HK_ENQUEUE_BACKOFF_MAX_MS   2000
#define HK_ENQUEUE_TIMEOUT_MS       1000	/* when redis.timeout_ms is unset */
#define HK_ENQUEUE_ID_MAX           64
#define HK_ENQUEUE_BATCH_MAX        256	/* events in one script call */
#define HK_ENQUEUE_BATCH_BYTES      (4u << 20)	/* ... and their bodies */
#define HK_ENQUEUE_SHORT_MS         1000	/* replicas short: inbox only */

enum { HK_REDIS_DOWN, HK_REDIS_CONNECTING, HK_REDIS_UP };
enum { HK_REQ_PENDING, HK_REQ_REDIS, HK_REQ_INBOX, HK_REQ_DONE };

/* One submitted event, from hk_enqueue_submit() to its callback. */
struct hk_enqueue_req {
	TAILQ_ENTRY(hk_enqueue_req) link;	/* pending, the Redis FIFO, done */
	struct hk_enqueue_event ev;	/* a copy; the buffers are the caller's */
	hk_enqueue_cb  cb;
	void        *arg;
	uint64_t     sent_ns;		/* the Redis command was queued */
	int          where;		/* HK_REQ_* */
	int          result;
	int          fallback;
	char         id[HK_ENQUEUE_ID_MAX];
	struct hk_inbox_req inbox;
	char         win[12];		/* dedup_window_s, formatted once */
	size_t       winlen;
	size_t       keylen;
	char         key[];		/* <prefix>dedup:<source>:<key> */
};

TAILQ_HEAD(hk_enqueue_q, hk_enqueue_req);

/* One call to Redis: the events of one turn, in the order they came. */
struct hk_enqueue_batch {
	int          n;
	int          plain;		/* one event, XADD without a script */
	struct hk_enqueue_req *req[];
};

/* A parsed redis.url. */
static struct {
	struct event_base    *base;
	struct hk_redisurl   url;
	const char           *prefix;
	char                 *stream;	/* <prefix>events */
	int                   timeout_ms;
	redisAsyncContext    *rc;	/* NULL while down */
	int                   state;	/* HK_REDIS_* */
	int                   breaker;	/* open: requests bypass Redis */
	int                   rejecting;	/* Redis answers errors */
	int                   shutting;
	char                  sha[41];
	char                  epoch[HK_UUID_STRLEN];	/* "" until read */
	uint64_t              conn_ns;	/* the connection attempt began */
	struct hk_backoff     backoff;	/* jittered: siblings not in step */
	struct event         *tick_ev;
	struct event         *retry_ev;
	struct event         *done_ev;
	struct event         *flush_ev;	/* activated: the turn's call */
	int                   flush_armed;
	struct hk_enqueue_q     pending;	/* for this turn's script call */
	struct hk_enqueue_q     sent;	/* Redis FIFO, oldest first */
	struct hk_enqueue_q     held;	/* stored, waiting for WAIT's answer */
	struct hk_enqueue_q     done;	/* to call back on the next turn */
	int                   inflight;
	/* Sentinel (redisloc.h): the master is found, not configured. */
	struct hk_redisloc_client loc;
	int                   finding;	/* asked where the master is */
	char                  addr[HK_REDISLOC_ADDR_MAX];	/* connected to */
	int                   moved_replay;	/* new master: put the log back */
	/* redis.replicas_ack: one WAIT after the scripts of a turn. */
	int                   replicas_ack;
	int                   replicas_timeout_ms;
	int                   short_logged;
	uint64_t              short_until_ns;	/* replicas short: inbox */
} hk_enqueue;

static void hk_enqueue_redis_connect(void);
static int  hk_enqueue_redis_usable(void);
static void hk_enqueue_to_inbox(struct hk_enqueue_req *req);
static void hk_enqueue_batch_reply(redisAsyncContext *ac, void *reply,
    void *arg);
static void hk_enqueue_wait_reply(redisAsyncContext *ac, void *reply,
    void *arg);
static void hk_enqueue_replay(const char *why);

int
hk_enqueue_redis_up(void)
{
	return hk_enqueue.state == HK_REDIS_UP;
}

int
hk_enqueue_pg_up(void)
{
	return hk_inbox_up();
}

int
hk_enqueue_inflight(void)
{
	return hk_enqueue.inflight;
}

/*
 * hk_enqueue_finish - the request is decided; call back on the next turn of
 * the loop, never from the code that decided it.
 */
static void
hk_enqueue_finish(struct hk_enqueue_req *req, int result, const char *id,
    int fallback)
{
	/* A second answer would be a bug here; the caller must never see it. */
	if (req->where == HK_REQ_DONE) {
		hk_log_error("store: event %s answered twice; second answer "
		    "dropped", req->ev.id);
		return;
	}
	req->where = HK_REQ_DONE;
	req->result = result;
	req->fallback = fallback;
	if (id == NULL)
		id = req->ev.id;
	if (id != req->id)
		snprintf(req->id, sizeof(req->id), "%s", id);
	TAILQ_INSERT_TAIL(&hk_enqueue.done, req, link);
	event_active(hk_enqueue.done_ev, EV_TIMEOUT, 1);
}

static void
hk_enqueue_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_enqueue_q batch = TAILQ_HEAD_INITIALIZER(batch);
	struct hk_enqueue_req *req;

	/* What the callbacks submit and finish now waits for the next turn. */
	TAILQ_CONCAT(&batch, &hk_enqueue.done, link);
	while ((req = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, req, link);
		hk_enqueue.inflight--;
		req->cb(req->arg, req->result, req->id, req->fallback);
		free(req);
	}
}

static void
hk_enqueue_arm(struct event *ev, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(ev, &tv);
}

/*
 * hk_enqueue_redis_down - Redis failed: open the breaker (logged once per
 * outage), and make sure a reconnect is scheduled.  Called several times
 * for one failure (connect callback, every NULL reply, disconnect
 * callback); all but the first do nothing.
 */
static void
hk_enqueue_redis_down(const char *why)
{
	if (hk_enqueue.state == HK_REDIS_DOWN
	    && (hk_enqueue.shutting || evtimer_pending(hk_enqueue.retry_ev, NULL)))
		return;
	hk_enqueue.state = HK_REDIS_DOWN;
	if (hk_enqueue.shutting)
		return;
	if (!hk_enqueue.breaker)
		hk_log_warn("redis: unavailable (%s); events go to the "
		    "PostgreSQL inbox until it is back", why);
	else
		hk_log_debug("redis: still unavailable (%s)", why);
	hk_enqueue.breaker = 1;
	hk_enqueue_arm(hk_enqueue.retry_ev, hk_backoff_next(&hk_enqueue.backoff));
}

/*
 * hk_enqueue_redis_drop - give up on the current connection.  hiredis then
 * calls every pending callback with a NULL reply, at once or, when called
 * from inside a callback, as soon as that callback returns.
 */
static void
hk_enqueue_redis_drop(const char *why)
{
	redisAsyncContext *ac = hk_enqueue.rc;

	hk_enqueue.rc = NULL;
	hk_enqueue_redis_down(why);
	if (ac != NULL)
		redisAsyncFree(ac);
}

/* hk_enqueue_resp_len - the RESP size of one bulk string of n bytes. */
static size_t
hk_enqueue_resp_len(size_t n)
{
	size_t d = 1;

	for (size_t v = n; v >= 10; v /= 10)
		d++;
	return 1 + d + 2 + n + 2;		/* $<n>\r\n<bytes>\r\n */
}

/* hk_enqueue_resp - append one bulk string; returns the new end. */
static char *
hk_enqueue_resp(char *p, const char *s, size_t n)
{
	char digits[24];
	int d = 0;
	size_t v = n;

	do
		digits[d++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	*p++ = '$';
	while (d > 0)
		*p++ = digits[--d];
	*p++ = '\r';
	*p++ = '\n';
	memcpy(p, s, n);
	p += n;
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

/*
 * The HK_ENQSCRIPT_FIELDS of one event (enqscript.h), pointers into the
 * request and its event.
 */
static int
hk_enqueue_fields(const struct hk_enqueue_req *req, const char **v,
    size_t *l)
{
	const struct hk_enqueue_event *ev = &req->ev;
	int n = 0;

#define HK_ARG(p, len) do { v[n] = (p); l[n] = (len); n++; } while (0)
	HK_ARG(ev->id, strlen(ev->id));
	HK_ARG(ev->src->name, strlen(ev->src->name));
	HK_ARG(ev->received_at, strlen(ev->received_at));
	HK_ARG(ev->content_type ? ev->content_type : "",
	    ev->content_type ? ev->content_type_len : 0);
	HK_ARG(ev->headers_json ? ev->headers_json : "{}",
	    ev->headers_json ? ev->headers_len : 2);
	HK_ARG(ev->body ? ev->body : "", ev->body_len);
	if (req->keylen > 0)
		HK_ARG(req->win, req->winlen);
	else
		HK_ARG("", 0);
	HK_ARG(ev->idem_key != NULL ? ev->idem_key : "",
	    ev->idem_key != NULL ? ev->idem_len : 0);
	HK_ARG(ev->event_type, strlen(ev->event_type));
#undef HK_ARG
	return n;
}

/* hk_enqueue_batch_sent - b's events are on the wire: time them. */
static void
hk_enqueue_batch_sent(struct hk_enqueue_batch *b)
{
	uint64_t now = hk_clock_mono_ns();

	for (int i = 0; i < b->n; i++) {
		b->req[i]->where = HK_REQ_REDIS;
		b->req[i]->sent_ns = now;
		TAILQ_INSERT_TAIL(&hk_enqueue.sent, b->req[i], link);
	}
}

/* The stream entry's field names, in enqscript.h's order; NULL: not one. */
static const char *const hk_enqueue_names[HK_ENQSCRIPT_FIELDS] = {
	"id", "source", "received_at", "content_type", "headers", "body", NULL,
	"idempotency_key", "event_type"
};

/*
 * hk_enqueue_xadd_send - an event without a dedup key needs no script: the
 * entry the script would write, as a plain XADD, costs Redis less than
 * half as much (perf/README.md).
 */
static int
hk_enqueue_xadd_send(struct hk_enqueue_batch *b)
{
	const char *v[HK_ENQSCRIPT_FIELDS], *argv[3 + 2 * HK_ENQSCRIPT_FIELDS];
	size_t l[HK_ENQSCRIPT_FIELDS], lens[3 + 2 * HK_ENQSCRIPT_FIELDS];
	int argc = 0, nf;

	argv[argc] = "XADD", lens[argc++] = 4;
	argv[argc] = hk_enqueue.stream, lens[argc] = strlen(hk_enqueue.stream);
	argc++;
	argv[argc] = "*", lens[argc++] = 1;
	nf = hk_enqueue_fields(b->req[0], v, l);
	for (int f = 0; f < nf; f++) {
		/* The optional fields, as the script: only when not empty. */
		if (hk_enqueue_names[f] == NULL || (f > 5 && l[f] == 0))
			continue;
		argv[argc] = hk_enqueue_names[f];
		lens[argc++] = strlen(hk_enqueue_names[f]);
		argv[argc] = v[f], lens[argc++] = l[f];
	}
	if (redisAsyncCommandArgv(hk_enqueue.rc, hk_enqueue_batch_reply, b,
	    argc, argv, lens) != REDIS_OK)
		return HK_ERROR;
	hk_enqueue_batch_sent(b);
	return HK_OK;
}

/*
 * hk_enqueue_batch_send - one script call for the events of b: the command
 * is written in RESP here (nothing formatted per argument but lengths) and
 * handed to hiredis whole.  eval: the script's text instead of its SHA.
 * A batch of one event without a dedup key is a plain XADD instead.
 */
static int
hk_enqueue_batch_send(struct hk_enqueue_batch *b, int eval)
{
	const char *v[HK_ENQSCRIPT_FIELDS];
	size_t l[HK_ENQSCRIPT_FIELDS], len, nkeys = 0, slen;
	char num[24], *cmd, *p;
	const char *head = eval ? "EVAL" : "EVALSHA";
	const char *script = eval ? hk_enqscript : hk_enqueue.sha;
	size_t scriptlen = eval ? hk_enqscript_len : 40;
	int argc, nf;

	if (hk_enqueue.rc == NULL)
		return HK_ERROR;
	if (b->plain)
		return hk_enqueue_xadd_send(b);
	slen = strlen(hk_enqueue.stream);
	for (int i = 0; i < b->n; i++)
		nkeys += b->req[i]->keylen > 0;
	argc = 4 + (int)nkeys + b->n * HK_ENQSCRIPT_FIELDS;
	len = 32 + hk_enqueue_resp_len(strlen(head))
	    + hk_enqueue_resp_len(scriptlen) + hk_enqueue_resp_len(24)
	    + hk_enqueue_resp_len(slen);
	for (int i = 0; i < b->n; i++) {
		if (b->req[i]->keylen > 0)
			len += hk_enqueue_resp_len(b->req[i]->keylen);
		nf = hk_enqueue_fields(b->req[i], v, l);
		for (int f = 0; f < nf; f++)
			len += hk_enqueue_resp_len(l[f]);
	}
	if ((cmd = malloc(len)) == NULL)
		return HK_ERROR;
	p = cmd + snprintf(cmd, 32, "*%d\r\n", argc);
	p = hk_enqueue_resp(p, head, strlen(head));
	p = hk_enqueue_resp(p, script, scriptlen);
	p = hk_enqueue_resp(p, num, (size_t)snprintf(num, sizeof(num), "%zu",
	    nkeys + 1));
	p = hk_enqueue_resp(p, hk_enqueue.stream, slen);
	for (int i = 0; i < b->n; i++)
		if (b->req[i]->keylen > 0)
			p = hk_enqueue_resp(p, b->req[i]->key,
			    b->req[i]->keylen);
	for (int i = 0; i < b->n; i++) {
		nf = hk_enqueue_fields(b->req[i], v, l);
		for (int f = 0; f < nf; f++)
			p = hk_enqueue_resp(p, v[f], l[f]);
	}
	/* hiredis copies the command into its output buffer here.  It
	 * refuses while the connection is being torn down. */
	if (redisAsyncFormattedCommand(hk_enqueue.rc, hk_enqueue_batch_reply,
	    b, cmd, (size_t)(p - cmd)) != REDIS_OK) {
		free(cmd);
		return HK_ERROR;
	}
	free(cmd);
	hk_enqueue_batch_sent(b);
	return HK_OK;
}

/* hk_enqueue_batch_inbox - every event of b to the inbox; b is freed. */
static void
hk_enqueue_batch_inbox(struct hk_enqueue_batch *b)
{
	for (int i = 0; i < b->n; i++)
		hk_enqueue_to_inbox(b->req[i]);
	free(b);
}

/* hk_enqueue_redis_rejecting - log when Redis starts or stops refusing. */
static void
hk_enqueue_redis_rejecting(const redisReply *r)
{
	if (r == NULL && hk_enqueue.rejecting) {
		hk_log_info("redis: accepts events again");
		hk_enqueue.rejecting = 0;
	} else if (r != NULL && !hk_enqueue.rejecting) {
		hk_log_warn("redis: refuses events (%.*s); they go to the "
		    "PostgreSQL inbox", r->type == REDIS_REPLY_ERROR
		    ? (int)HK_MIN(r->len, 200) : 16, r->type ==
		    REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		hk_enqueue.rejecting = 1;
	}
}

/*
 * hk_enqueue_batch_stored - the script's answer for one event: 0 (added)
 * or the first event's id (a duplicate); NULL: added by a plain XADD.
 * Anything else sends the event to the inbox.
 */
static void
hk_enqueue_batch_stored(struct hk_enqueue_req *req, const redisReply *e)
{
	if (e == NULL || (e->type == REDIS_REPLY_INTEGER && e->integer == 0)) {
		req->result = HK_ENQUEUE_STORED;
		snprintf(req->id, sizeof(req->id), "%s", req->ev.id);
	} else if (e->type == REDIS_REPLY_STRING && e->len < sizeof(req->id)) {
		req->result = HK_ENQUEUE_DUPLICATE;
		memcpy(req->id, e->str, e->len);
		req->id[e->len] = '\0';
	} else {
		hk_enqueue_to_inbox(req);
		return;
	}
	if (req->result == HK_ENQUEUE_STORED && hk_enqueue.replicas_ack > 0) {
		/* Answered by the WAIT that follows in the pipeline. */
		TAILQ_INSERT_TAIL(&hk_enqueue.held, req, link);
		return;
	}
	if (req->result == HK_ENQUEUE_STORED)
		hk_redolog_add(&req->ev, hk_clock_mono_ns());
	hk_enqueue_finish(req, req->result, req->id, 0);
}

static void
hk_enqueue_batch_reply(redisAsyncContext *ac, void *reply, void *arg)
{
	struct hk_enqueue_batch *b = arg;
	redisReply *r = reply;

	for (int i = 0; i < b->n; i++)
		TAILQ_REMOVE(&hk_enqueue.sent, b->req[i], link);
	if (r == NULL) {
		/* The connection is going away, with every request on it. */
		if (ac == hk_enqueue.rc)
			hk_enqueue.rc = NULL;
		hk_enqueue_redis_down(ac->errstr != NULL && ac->errstr[0]
		    ? ac->errstr : "connection lost");
		hk_enqueue_batch_inbox(b);
		return;
	}
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8)
	    == 0) {
		if (hk_enqueue_batch_send(b, 1) != HK_OK)
			hk_enqueue_batch_inbox(b);
		return;
	}
	if (b->plain && r->type == REDIS_REPLY_STRING) {
		hk_enqueue_redis_rejecting(NULL);
		hk_enqueue_batch_stored(b->req[0], NULL);
		free(b);
		return;
	}
	if (!b->plain && r->type == REDIS_REPLY_ARRAY
	    && r->elements == (size_t)b->n) {
		hk_enqueue_redis_rejecting(NULL);
		for (int i = 0; i < b->n; i++)
			hk_enqueue_batch_stored(b->req[i], r->element[i]);
		free(b);
		return;
	}
	hk_enqueue_redis_rejecting(r);
	hk_enqueue_batch_inbox(b);
	/*
	 * A master the sentinels demoted answers READONLY: the connection is
	 * of no use any more, find the master again.
	 */
	if (hk_redisloc_enabled() && ac == hk_enqueue.rc
	    && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "READONLY", 8)
	    == 0)
		hk_enqueue_redis_drop("READONLY: no longer the master");
}

/*
 * hk_enqueue_wait_reply - WAIT answered how many replicas have every write
 * sent before it on this connection, which covers every request held now:
 * their script replies came before this one, so their scripts were sent
 * before the WAIT.  Enough replicas: 2xx.  Too few, or no answer: the
 * inbox, as if Redis had failed (the entry stays in the stream too; the
 * dedup key or the event id makes the second copy harmless).
 */
static void
hk_enqueue_wait_reply(redisAsyncContext *ac, void *reply, void *arg)
{
	struct hk_enqueue_req *req;
	redisReply *r = reply;
	long long got = r != NULL && r->type == REDIS_REPLY_INTEGER
	    ? r->integer : -1;
	int ok = got >= hk_enqueue.replicas_ack;

	/*
	 * Each WAIT that comes back short held its connection for the whole
	 * timeout: for a second, events go straight to the inbox, and then
	 * one turn's events find out whether the replicas are back.
	 */
	if (!ok)
		hk_enqueue.short_until_ns = hk_clock_mono_ns()
		    + HK_ENQUEUE_SHORT_MS * 1000000ull;

	if (!ok && r != NULL && !hk_enqueue.short_logged) {
		hk_log_warn("redis: %lld of the %d replicas asked for "
		    "(redis.replicas_ack) acknowledged within %d ms; events go "
		    "to the PostgreSQL inbox until they do", got < 0 ? 0 : got,
		    hk_enqueue.replicas_ack, hk_enqueue.replicas_timeout_ms);
		hk_enqueue.short_logged = 1;
	} else if (ok && hk_enqueue.short_logged) {
		hk_log_info("redis: replicas acknowledge again");
		hk_enqueue.short_logged = 0;
	}
	while ((req = TAILQ_FIRST(&hk_enqueue.held)) != NULL) {
		TAILQ_REMOVE(&hk_enqueue.held, req, link);
		if (ok) {
			hk_redolog_add(&req->ev, hk_clock_mono_ns());
			hk_enqueue_finish(req, req->result, req->id, 0);
		} else
			hk_enqueue_to_inbox(req);
	}
}

static struct hk_enqueue_batch *
hk_enqueue_batch_new(int max, int plain)
{
	struct hk_enqueue_batch *b;

	if ((b = malloc(sizeof(*b) + (size_t)max * sizeof(b->req[0])))
	    == NULL)
		return NULL;
	b->n = 0;
	b->plain = plain;
	return b;
}

/* hk_enqueue_batch_go - b to Redis, or its events to the inbox. */
static int
hk_enqueue_batch_go(struct hk_enqueue_batch *b)
{
	if (hk_enqueue_redis_usable() && hk_enqueue_batch_send(b,
	    hk_enqueue.state != HK_REDIS_UP) == HK_OK)
		return 1;
	hk_enqueue_batch_inbox(b);
	return 0;
}

/*
 * hk_enqueue_flush_cb - the turn's events, accepted by every connection
 * read in it, go to Redis as one script call (more when they exceed
 * HK_ENQUEUE_BATCH_MAX or HK_ENQUEUE_BATCH_BYTES), those without a dedup
 * key as plain XADDs, followed by the WAIT when replicas must acknowledge
 * them.  Runs after the callbacks already due in the turn, and before
 * redisev.c's flush writes it all out.
 */
static void
hk_enqueue_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_enqueue_req *req;
	struct hk_enqueue_batch *b = NULL, *x;
	char n[16], ms[16];
	size_t bytes = 0, size;
	int sent = 0;

	hk_enqueue.flush_armed = 0;
	while ((req = TAILQ_FIRST(&hk_enqueue.pending)) != NULL) {
		TAILQ_REMOVE(&hk_enqueue.pending, req, link);
		size = req->ev.body_len + req->ev.headers_len;
		if (req->keylen == 0) {
			/* No dedup key: alone, as a plain XADD. */
			if ((x = hk_enqueue_batch_new(1, 1)) == NULL) {
				hk_enqueue_to_inbox(req);
				continue;
			}
			x->req[x->n++] = req;
			sent |= hk_enqueue_batch_go(x);
			continue;
		}
		if (b != NULL && (b->n == HK_ENQUEUE_BATCH_MAX
		    || bytes + size > HK_ENQUEUE_BATCH_BYTES)) {
			sent |= hk_enqueue_batch_go(b);
			b = NULL;
		}
		if (b == NULL) {
			bytes = 0;
			if ((b = hk_enqueue_batch_new(HK_ENQUEUE_BATCH_MAX,
			    0)) == NULL) {
				hk_enqueue_to_inbox(req);
				continue;
			}
		}
		b->req[b->n++] = req;
		bytes += size;
	}
	if (b != NULL)
		sent |= hk_enqueue_batch_go(b);
	if (!sent || hk_enqueue.replicas_ack <= 0 || hk_enqueue.rc == NULL)
		return;
	snprintf(n, sizeof(n), "%d", hk_enqueue.replicas_ack);
	snprintf(ms, sizeof(ms), "%d", hk_enqueue.replicas_timeout_ms);
	if (redisAsyncCommand(hk_enqueue.rc, hk_enqueue_wait_reply, NULL,
	    "WAIT %s %s", n, ms) != REDIS_OK)
		hk_enqueue_redis_drop("cannot queue WAIT");
}

static void
hk_enqueue_inbox_done(void *arg, int result, const char *id)
{
	struct hk_enqueue_req *req = arg;

	hk_enqueue_finish(req, result, id, result != HK_ENQUEUE_UNAVAILABLE);
}

static void
hk_enqueue_to_inbox(struct hk_enqueue_req *req)
{
	req->where = HK_REQ_INBOX;
	if (hk_inbox_submit(&req->inbox, &req->ev, hk_enqueue_inbox_done, req)
	    != HK_OK)
		hk_enqueue_finish(req, HK_ENQUEUE_UNAVAILABLE, NULL, 0);
}

static const char *const hk_enqueue_hs_names[] = { "AUTH", "SELECT" };

/* hk_enqueue_hs_reply - AUTH or SELECT answered; a refusal ends the attempt. */
static void
hk_enqueue_hs_reply(redisAsyncContext *ac, void *reply, void *arg)
{
	const char *what = hk_enqueue_hs_names[(uintptr_t)arg];
	redisReply *r = reply;
	char why[256];

	if (r == NULL || ac != hk_enqueue.rc || r->type != REDIS_REPLY_ERROR)
		return;
	snprintf(why, sizeof(why), "%s refused: %.*s", what,
	    (int)HK_MIN(r->len, 200), r->str);
	hk_enqueue_redis_drop(why);
}

/* hk_enqueue_loaded - SCRIPT LOAD answered: the breaker may close. */
static void
hk_enqueue_loaded(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply *r = reply;
	char why[256];

	if (r == NULL || ac != hk_enqueue.rc)
		return;
	if (r->type != REDIS_REPLY_STRING || r->len != 40) {
		snprintf(why, sizeof(why), "SCRIPT LOAD refused: %.*s",
		    r->type == REDIS_REPLY_ERROR ? (int)HK_MIN(r->len, 200)
		    : 16, r->type == REDIS_REPLY_ERROR ? r->str
		    : "unexpected reply");
		hk_enqueue_redis_drop(why);
		return;
	}
	memcpy(hk_enqueue.sha, r->str, 40);
	hk_enqueue.sha[40] = '\0';
	hk_enqueue.state = HK_REDIS_UP;
	hk_backoff_reset(&hk_enqueue.backoff);
	if (hk_enqueue.breaker)
		hk_log_info("redis: back; events go to the stream again");
	else
		hk_log_debug("redis: connected");
	hk_enqueue.breaker = 0;
	if (hk_enqueue.moved_replay) {
		hk_enqueue.moved_replay = 0;
		hk_enqueue_replay("a new master, which may lack the latest "
		    "entries");
	}
}

static void
hk_enqueue_redis_connected(const redisAsyncContext *ac, int status)
{
	if (status == REDIS_OK)
		return;
	/* hiredis frees the context when this returns. */
	if (ac == hk_enqueue.rc)
		hk_enqueue.rc = NULL;
	hk_enqueue_redis_down(ac->errstr != NULL && ac->errstr[0] ? ac->errstr
	    : "cannot connect");
}

static void
hk_enqueue_redis_disconnected(const redisAsyncContext *ac, int status)
{
	if (ac == hk_enqueue.rc)
		hk_enqueue.rc = NULL;
	hk_enqueue_redis_down(ac->errstr != NULL && ac->errstr[0] ? ac->errstr
	    : "connection closed");
}

/* hk_enqueue_replayed - an event put back after Redis lost its data. */
static void
hk_enqueue_replayed(void *arg, int result, const char *id, int fallback)
{
	struct hk_redolog_entry *e = arg;

	if (result == HK_ENQUEUE_UNAVAILABLE)
		hk_log_error("redis: event %s could not be put back after "
		    "Redis lost its data, nor go to the inbox", e->ev.id);
	hk_redolog_free(e);
}

/*
 * hk_enqueue_replay - Redis came back without its data: submit every event
 * of the redo log again, oldest first, with its id and its dedup key.
 */
static void
hk_enqueue_replay(const char *why)
{
	struct hk_redolog_entry *e;
	int n = hk_redolog_count();

	if (n == 0)
		return;
	hk_log_warn("redis: %s; putting back the %d events stored in the "
	    "last %d s", why, n, HK_REDOLOG_KEEP_MS / 1000);
	while ((e = hk_redolog_take()) != NULL)
		hk_enqueue_submit(&e->ev, hk_enqueue_replayed, e);
}

/* hk_enqueue_epoch - the epoch key read back: has Redis lost its data? */
static void
hk_enqueue_epoch(redisAsyncContext *ac, void *reply, void *arg)
{
	redisReply *r = reply;

	if (r == NULL || ac != hk_enqueue.rc || r->type != REDIS_REPLY_STRING
	    || r->len == 0 || r->len >= sizeof(hk_enqueue.epoch))
		return;
	if (hk_enqueue.epoch[0] != '\0'
	    && (strlen(hk_enqueue.epoch) != r->len
	    || memcmp(hk_enqueue.epoch, r->str, r->len) != 0))
		hk_enqueue_replay("came back without its data");
	memcpy(hk_enqueue.epoch, r->str, r->len);
	hk_enqueue.epoch[r->len] = '\0';
}

/*
 * hk_enqueue_role - the sentinels' answer may be stale, or the master
 * demoted since: a connection to anything but a master is given up before
 * SCRIPT LOAD's answer could close the breaker.
 */
static void
hk_enqueue_role(redisAsyncContext *ac, void *reply, void *arg)
{
	char role[64], why[HK_REDISLOC_ADDR_MAX + 96];

	if (reply == NULL || ac != hk_enqueue.rc)
		return;
	if (hk_redisloc_role_is_master(reply, role, sizeof(role)))
		return;
	snprintf(why, sizeof(why), "%s is not the master: ROLE says %s",
	    hk_enqueue.addr, role);
	hk_enqueue_redis_drop(why);
}

/*
 * hk_enqueue_redis_handshake - AUTH, SELECT, ROLE, SCRIPT LOAD and the epoch,
 * queued at once behind the connect: they and whatever follows go out in
 * one write.
 */
static int
hk_enqueue_redis_handshake(redisAsyncContext *ac)
{
	const struct hk_redisurl *u = &hk_enqueue.url;
	uint8_t id[HK_UUID_LEN];
	char db[16], epoch[HK_UUID_STRLEN];
	int rc = REDIS_OK;

	if (u->pass[0] && u->user[0])
		rc = redisAsyncCommand(ac, hk_enqueue_hs_reply, (void *)0,
		    "AUTH %s %s", u->user, u->pass);
	else if (u->pass[0])
		rc = redisAsyncCommand(ac, hk_enqueue_hs_reply, (void *)0,
		    "AUTH %s", u->pass);
	snprintf(db, sizeof(db), "%d", u->db);
	if (rc == REDIS_OK && u->db != 0)
		rc = redisAsyncCommand(ac, hk_enqueue_hs_reply, (void *)1,
		    "SELECT %s", db);
	if (rc == REDIS_OK && hk_redisloc_enabled())
		rc = redisAsyncCommand(ac, hk_enqueue_role, NULL, "ROLE");
	if (rc == REDIS_OK)
		rc = redisAsyncCommand(ac, hk_enqueue_loaded, NULL,
		    "SCRIPT LOAD %s", hk_enqscript);
	if (rc == REDIS_OK && hk_uuid_v7(id) == HK_OK) {
		hk_uuid_format(id, epoch);
		rc = redisAsyncCommand(ac, NULL, NULL, "SET %sepoch %s NX",
		    hk_enqueue.prefix, epoch);
		if (rc == REDIS_OK)
			rc = redisAsyncCommand(ac, hk_enqueue_epoch, NULL,
			    "GET %sepoch", hk_enqueue.prefix);
	}
	return rc == REDIS_OK ? HK_OK : HK_ERROR;
}

/* hk_enqueue_redis_connect_to - host:port, or redis.url's socket. */
static void
hk_enqueue_redis_connect_to(const char *host, int port)
{
	const struct hk_redisurl *u = &hk_enqueue.url;
	redisAsyncContext *ac;
	char why[160];

	ac = host == NULL ? redisAsyncConnectUnix(u->path)
	    : redisAsyncConnect(host, port);
	if (ac == NULL) {
		hk_enqueue_redis_down("out of memory for a connection");
		return;
	}
	if (ac->err) {
		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		hk_enqueue_redis_down(why);
		return;
	}
	if (hk_redisev_attach(ac, hk_enqueue.base) != HK_OK) {
		redisAsyncFree(ac);
		hk_enqueue_redis_down("out of memory for a connection");
		return;
	}
	redisAsyncSetConnectCallback(ac, hk_enqueue_redis_connected);
	redisAsyncSetDisconnectCallback(ac, hk_enqueue_redis_disconnected);
	hk_enqueue.rc = ac;
	hk_enqueue.state = HK_REDIS_CONNECTING;
	hk_enqueue.conn_ns = hk_clock_mono_ns();
	if (hk_enqueue_redis_handshake(ac) != HK_OK)
		hk_enqueue_redis_drop("cannot queue the handshake");
}

/*
 * hk_enqueue_found - the sentinels named the master.  A master other than
 * the last one is a failover: the replica promoted may lack the entries
 * written last on the old master (replication is asynchronous), so once
 * connected the worker puts back its redo log, as after Redis came back
 * empty; with redis.replicas_ack the entries were on a replica already and
 * the replay costs only duplicates.
 */
static void
hk_enqueue_found(struct hk_redisloc_client *c, const char *host, int port)
{
	char addr[HK_REDISLOC_ADDR_MAX];

	hk_enqueue.finding = 0;
	if (hk_enqueue.shutting)
		return;
	if (host == NULL) {
		hk_enqueue.state = HK_REDIS_DOWN;
		hk_enqueue_redis_down("no sentinel names the master");
		return;
	}
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d",
	    host, port);
	if (hk_enqueue.addr[0] != '\0' && strcmp(addr, hk_enqueue.addr) != 0)
		hk_enqueue.moved_replay = 1;
	snprintf(hk_enqueue.addr, sizeof(hk_enqueue.addr), "%s", addr);
	hk_enqueue_redis_connect_to(host, port);
}

/* hk_enqueue_moved - +switch-master: leave the old master now. */
static void
hk_enqueue_moved(struct hk_redisloc_client *c, const char *host, int port)
{
	char addr[HK_REDISLOC_ADDR_MAX];

	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d",
	    host, port);
	if (hk_enqueue.shutting || hk_enqueue.finding
	    || (hk_enqueue.rc != NULL && strcmp(addr, hk_enqueue.addr) == 0))
		return;
	if (hk_enqueue.rc != NULL)
		hk_enqueue_redis_drop("the sentinels switched the master");
	evtimer_del(hk_enqueue.retry_ev);
	hk_backoff_reset(&hk_enqueue.backoff);
	hk_enqueue_redis_connect();
}

static void
hk_enqueue_redis_connect(void)
{
	const struct hk_redisurl *u = &hk_enqueue.url;

	if (!hk_redisloc_enabled()) {
		hk_enqueue_redis_connect_to(u->path[0] ? NULL : u->host,
		    u->port);
		return;
	}
	if (hk_enqueue.finding)
		return;
	hk_enqueue.finding = 1;
	hk_enqueue.state = HK_REDIS_CONNECTING;
	hk_redisloc_find(&hk_enqueue.loc);
}

static void
hk_enqueue_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_enqueue_redis_connect();
}

/* hk_enqueue_tick_cb - the timeouts hiredis 0.14 does not have. */
static void
hk_enqueue_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_enqueue_req *req = TAILQ_FIRST(&hk_enqueue.sent);
	struct hk_enqueue_req *held = TAILQ_FIRST(&hk_enqueue.held);
	uint64_t now = hk_clock_mono_ns();
	uint64_t limit = (uint64_t)hk_enqueue.timeout_ms * 1000000u;
	char why[96];

	if (hk_enqueue.rc == NULL)
		return;
	if (hk_enqueue.state == HK_REDIS_CONNECTING
	    && now - hk_enqueue.conn_ns > limit) {
		snprintf(why, sizeof(why), "no answer within %d ms while "
		    "connecting", hk_enqueue.timeout_ms);
		hk_enqueue_redis_drop(why);
	} else if ((req != NULL && now - req->sent_ns > limit)
	    || (held != NULL && now - held->sent_ns > limit)) {
		snprintf(why, sizeof(why), "no reply within %d ms",
		    hk_enqueue.timeout_ms);
		hk_enqueue_redis_drop(why);
	}
}

/* hk_enqueue_redis_usable - may a new request try Redis? */
static int
hk_enqueue_redis_usable(void)
{
	if (hk_enqueue.rc == NULL)
		return 0;
	if (hk_enqueue.short_until_ns != 0) {
		if (hk_clock_mono_ns() < hk_enqueue.short_until_ns)
			return 0;
		hk_enqueue.short_until_ns = 0;
	}
	return hk_enqueue.state == HK_REDIS_UP
	    || (hk_enqueue.state == HK_REDIS_CONNECTING && !hk_enqueue.breaker);
}

/* One command of hk_enqueue_redis_cmd, for its reply. */
struct hk_enqueue_call {
	hk_enqueue_reply_fn fn;
	void *arg;
};

static void
hk_enqueue_call_reply(redisAsyncContext *ac, void *reply, void *arg)
{
	struct hk_enqueue_call *c = arg;

	c->fn(reply, c->arg);
	free(c);
}

int
hk_enqueue_redis_cmd(hk_enqueue_reply_fn fn, void *arg, int argc,
    const char **argv, const size_t *lens)
{
	struct hk_enqueue_call *c;

	if (hk_enqueue.rc == NULL || hk_enqueue.state != HK_REDIS_UP
	    || hk_enqueue.rejecting || hk_enqueue.shutting
	    || (c = malloc(sizeof(*c))) == NULL)
		return HK_ERROR;
	c->fn = fn;
	c->arg = arg;
	if (redisAsyncCommandArgv(hk_enqueue.rc, hk_enqueue_call_reply, c,
	    argc, argv, lens) != REDIS_OK) {
		free(c);
		return HK_ERROR;
	}
	return HK_OK;
}

/* hk_enqueue_req_new - the request, with its dedup key when it has one. */
static struct hk_enqueue_req *
hk_enqueue_req_new(const struct hk_enqueue_event *ev)
{
	struct hk_enqueue_req *req;
	size_t plen = strlen(hk_enqueue.prefix), nlen = strlen(ev->src->name);
	size_t keylen = 0;
	char *p;

	if (ev->idem_key != NULL && ev->idem_len > 0
	    && ev->src->dedup_window_s > 0)
		keylen = plen + 6 + nlen + 1 + ev->idem_len;
	if ((req = malloc(sizeof(*req) + keylen)) == NULL)
		return NULL;
	memset(req, 0, sizeof(*req));
	req->ev = *ev;
	req->keylen = keylen;
	if (keylen > 0) {
		p = req->key;
		memcpy(p, hk_enqueue.prefix, plen);
		memcpy(p += plen, "dedup:", 6);
		memcpy(p += 6, ev->src->name, nlen);
		*(p += nlen) = ':';
		memcpy(p + 1, ev->idem_key, ev->idem_len);
		req->winlen = (size_t)(hk_fmt_u64(req->win,
		    (uint64_t)ev->src->dedup_window_s) - req->win);
	}
	return req;
}

void
hk_enqueue_submit(const struct hk_enqueue_event *ev, hk_enqueue_cb cb, void *arg)
{
	struct hk_enqueue_req *req;

	if (hk_enqueue.base == NULL || (req = hk_enqueue_req_new(ev)) == NULL) {
		/* Not running, or no memory: no loop or no way to defer. */
		cb(arg, HK_ENQUEUE_UNAVAILABLE, ev->id, 0);
		return;
	}
	req->cb = cb;
	req->arg = arg;
	hk_enqueue.inflight++;
	if (!hk_enqueue_redis_usable()) {
		hk_enqueue_to_inbox(req);
		return;
	}
	req->where = HK_REQ_PENDING;
	TAILQ_INSERT_TAIL(&hk_enqueue.pending, req, link);
	if (!hk_enqueue.flush_armed) {
		hk_enqueue.flush_armed = 1;
		event_active(hk_enqueue.flush_ev, EV_TIMEOUT, 1);
	}
}

int
hk_enqueue_init(struct event_base *base, const struct hk_conf *conf)
{
	struct timeval tick = { 0, HK_ENQUEUE_TICK_MS * 1000 };

	memset(&hk_enqueue, 0, sizeof(hk_enqueue));
	TAILQ_INIT(&hk_enqueue.pending);
	TAILQ_INIT(&hk_enqueue.sent);
	TAILQ_INIT(&hk_enqueue.held);
	TAILQ_INIT(&hk_enqueue.done);
	if (hk_redisurl_parse(conf->redis.url, &hk_enqueue.url) != HK_OK) {
		hk_log_error("redis: cannot parse the url \"%s\"; expected "
		    "redis://[user:pass@]host[:port][/db] or unix:///path",
		    conf->redis.url ? conf->redis.url : "");
		return HK_ERROR;
	}
	hk_enqueue.prefix = conf->redis.prefix ? conf->redis.prefix : "hookd:";
	hk_enqueue.timeout_ms = conf->redis.timeout_ms > 0
	    ? conf->redis.timeout_ms : HK_ENQUEUE_TIMEOUT_MS;
	hk_backoff_init(&hk_enqueue.backoff, HK_ENQUEUE_BACKOFF_MIN_MS,
	    HK_ENQUEUE_BACKOFF_MAX_MS, 1);
	if (asprintf(&hk_enqueue.stream, "%sevents", hk_enqueue.prefix) < 0)
		hk_enqueue.stream = NULL;
	hk_enqueue.tick_ev = event_new(base, -1, EV_PERSIST, hk_enqueue_tick_cb,
	    NULL);
	hk_enqueue.retry_ev = evtimer_new(base, hk_enqueue_retry_cb, NULL);
	hk_enqueue.done_ev = event_new(base, -1, 0, hk_enqueue_done_cb, NULL);
	hk_enqueue.flush_ev = event_new(base, -1, 0, hk_enqueue_flush_cb, NULL);
	hk_enqueue.replicas_ack = conf->redis.replicas_ack;
	hk_enqueue.replicas_timeout_ms = conf->redis.replicas_timeout_ms;
	if (hk_enqueue.stream == NULL || hk_enqueue.tick_ev == NULL
	    || hk_enqueue.retry_ev == NULL || hk_enqueue.done_ev == NULL
	    || hk_enqueue.flush_ev == NULL
	    || hk_inbox_init(base, conf->postgres.url) != HK_OK) {
		hk_log_error("store: out of memory at start");
		hk_enqueue.base = base;
		hk_enqueue_shutdown();
		return HK_ERROR;
	}
	if (conf->redis.nsentinels > 0) {
		if (hk_redisloc_init(base, conf->redis.sentinels,
		    conf->redis.nsentinels, conf->redis.master_name,
		    conf->redis.sentinel_password, hk_enqueue.timeout_ms)
		    != HK_OK) {
			hk_enqueue.base = base;
			hk_enqueue_shutdown();
			return HK_ERROR;
		}
		hk_enqueue.loc.found = hk_enqueue_found;
		hk_enqueue.loc.moved = hk_enqueue_moved;
		hk_redisloc_join(&hk_enqueue.loc);
	}
	hk_enqueue.base = base;
	evtimer_add(hk_enqueue.tick_ev, &tick);
	hk_enqueue_redis_connect();
	return HK_OK;
}

/*
 * hk_enqueue_shutdown - close both stores.  Requests still pending are called
 * back here, UNAVAILABLE unless their answer was already in: normally the
 * worker has drained and there are none.
 */
void
hk_enqueue_shutdown(void)
{
	redisAsyncContext *ac = hk_enqueue.rc;
	struct hk_enqueue_req *req;

	if (hk_enqueue.base == NULL)
		return;
	hk_enqueue.shutting = 1;
	while ((req = TAILQ_FIRST(&hk_enqueue.pending)) != NULL) {
		TAILQ_REMOVE(&hk_enqueue.pending, req, link);
		hk_enqueue_finish(req, HK_ENQUEUE_UNAVAILABLE, NULL, 0);
	}
	hk_redolog_clear();
	hk_inbox_shutdown();
	hk_enqueue.rc = NULL;
	hk_enqueue.state = HK_REDIS_DOWN;
	/* Pending Redis requests get NULL replies, then find no inbox. */
	if (ac != NULL)
		redisAsyncFree(ac);
	while (!TAILQ_EMPTY(&hk_enqueue.done))
		hk_enqueue_done_cb(-1, 0, NULL);
	if (hk_enqueue.tick_ev != NULL)
		event_free(hk_enqueue.tick_ev);
	if (hk_enqueue.retry_ev != NULL)
		event_free(hk_enqueue.retry_ev);
	if (hk_enqueue.done_ev != NULL)
		event_free(hk_enqueue.done_ev);
	if (hk_enqueue.flush_ev != NULL)
		event_free(hk_enqueue.flush_ev);
	hk_redisloc_leave(&hk_enqueue.loc);
	free(hk_enqueue.stream);
	memset(&hk_enqueue, 0, sizeof(hk_enqueue));
}
