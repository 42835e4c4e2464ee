/*
 * inbox.c - the PostgreSQL inbox (see inbox.h).
 *
 * The connection lives on the worker's event loop and never blocks it:
 * PQconnectStartParams/PQconnectPoll driven by one-shot events on
 * PQsocket() while connecting (the socket can change from one step to the
 * next, when libpq tries another address, so the event is made again at
 * each step), then nonblocking pipeline mode with a persistent read event
 * and a write event only while output is pending.
 *
 * One batch is in flight at a time: up to HK_INBOX_BATCH_MAX inserts and a
 * Sync.  Without an explicit BEGIN the statements before a Sync form one
 * implicit transaction, so the batch commits (and fsyncs) once, and the
 * PGRES_PIPELINE_SYNC result is the proof that it did.  Until then the
 * inserts' results are only provisional: a failing statement aborts the
 * whole transaction, earlier rows included.  So no request is called back
 * before the Sync; then, if the batch failed, the statement that failed is
 * answered UNAVAILABLE and the others go back to the head of the queue for
 * the next batch.  Every failed batch removes at least one request, so this
 * ends.
 *
 * Deduplication: one statement inserts with ON CONFLICT DO NOTHING and, in
 * the same statement, reads the row that conflicted.  Under READ COMMITTED
 * that read uses the statement's snapshot, so when another worker committed
 * the same key after the statement started, the insert sees the conflict
 * but the read does not see the row, and no row comes back.  That request
 * is simply sent again: the next statement's snapshot has the row.
 *
 * Hostnames: libpq resolves them with getaddrinfo(3) inside
 * PQconnectStartParams, which can block; it happens at start and on
 * reconnects only, and /etc/hosts or a container's resolver answers fast.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "clock.h"
#include "core.h"
#include "inbox.h"
#include "log.h"

#define HK_INBOX_BATCH_MAX      64
#define HK_INBOX_BATCH_BYTES    (8u << 20)	/* a batch stops growing here */
#define HK_INBOX_QUEUE_MAX      8192
#define HK_INBOX_CONNECT_MS     5000
#define HK_INBOX_QUERY_MS       5000	/* a batch without answer: broken */
#define HK_INBOX_BACKOFF_MIN_MS 100
#define HK_INBOX_BACKOFF_MAX_MS 5000
#define HK_INBOX_TRIES          4	/* sends of one request, at most */
#define HK_INBOX_NPARAMS        8

/* Type OIDs of the parameters (pg_type.h is a server header). */
#define HK_INBOX_OID_BYTEA      17
#define HK_INBOX_OID_INT4       23
#define HK_INBOX_OID_TEXT       25

enum { HK_INBOX_DOWN, HK_INBOX_CONNECTING, HK_INBOX_UP };

/* What one request's statement did in the current batch. */
enum {
	HK_INBOX_R_WAIT,	/* no result yet */
	HK_INBOX_R_NEW,
	HK_INBOX_R_DUP,
	HK_INBOX_R_AGAIN,	/* conflict with a row not yet visible */
	HK_INBOX_R_ERROR,	/* this statement failed */
	HK_INBOX_R_ABORTED,	/* skipped: an earlier one failed */
};

TAILQ_HEAD(hk_inbox_q, hk_inbox_req);

/*
 * Every parameter is sent in binary format: text in binary is its bytes, so
 * the caller's (pointer, length) pairs go out as they are, with no copy to
 * terminate them, and the body is bytea without escaping.
 */
static const char hk_inbox_sql[] =
    "WITH ins AS ("
    "INSERT INTO inbox (id, source, idempotency_key, received_at,"
    " content_type, headers, body, dedup_window_s)"
    " VALUES ($1::uuid, $2, $3, $4::timestamptz, $5, $6::jsonb, $7, $8)"
    " ON CONFLICT (source, idempotency_key) DO NOTHING RETURNING id) "
    "SELECT id::text, false FROM ins "
    "UNION ALL "
    "SELECT id::text, true FROM inbox"
    " WHERE source = $2 AND idempotency_key = $3"
    " AND NOT EXISTS (SELECT 1 FROM ins)";

static const Oid hk_inbox_types[HK_INBOX_NPARAMS] = {
	HK_INBOX_OID_TEXT, HK_INBOX_OID_TEXT, HK_INBOX_OID_TEXT,
	HK_INBOX_OID_TEXT, HK_INBOX_OID_TEXT, HK_INBOX_OID_TEXT,
	HK_INBOX_OID_BYTEA, HK_INBOX_OID_INT4
};
static const int hk_inbox_formats[HK_INBOX_NPARAMS] = {
	1, 1, 1, 1, 1, 1, 1, 1
};

static struct {
	struct event_base *base;
	char        *url;
	PGconn      *pg;
	int          state;
	int          failed;		/* a connection failed since init */
	int          shutting;
	int          backoff_ms;
	unsigned     seed;
	struct event *io_ev;		/* connecting: one step; up: reads */
	struct event *wr_ev;		/* up: output pending */
	struct event *timer_ev;		/* connect or batch deadline */
	struct event *retry_ev;		/* next connection attempt */
	struct event *kick_ev;		/* send a batch on the next turn */
	struct hk_inbox_q wait;		/* not sent yet */
	struct hk_inbox_q sent;		/* in the batch in flight */
	int          nwait, nsent;
	struct hk_inbox_req *cur;	/* whose result comes next; NULL: Sync */
	int          batch_failed;
	uint64_t     err_ns;		/* last query error logged */
	int          err_quiet;		/* query errors not logged since */
} hk_inbox;

static void hk_inbox_connect(void);
static void hk_inbox_send_batch(void);

int
hk_inbox_up(void)
{
	return hk_inbox.state == HK_INBOX_UP;
}

/* hk_inbox_reason - libpq's message on one line, for a log record. */
static const char *
hk_inbox_reason(char *buf, size_t len)
{
	const char *m = hk_inbox.pg ? PQerrorMessage(hk_inbox.pg) : "";
	size_t n;

	snprintf(buf, len, "%s", m[0] ? m : "connection failed");
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	return buf;
}

static void
hk_inbox_arm(struct event *ev, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(ev, &tv);
}

/* hk_inbox_fail_all - the connection is gone: answer everything queued. */
static void
hk_inbox_fail_all(void)
{
	struct hk_inbox_q all = TAILQ_HEAD_INITIALIZER(all);
	struct hk_inbox_req *r;

	TAILQ_CONCAT(&all, &hk_inbox.sent, link);
	TAILQ_CONCAT(&all, &hk_inbox.wait, link);
	hk_inbox.nsent = hk_inbox.nwait = 0;
	hk_inbox.cur = NULL;
	/* The callbacks only queue (enqueue.c defers them): nothing re-enters. */
	while ((r = TAILQ_FIRST(&all)) != NULL) {
		TAILQ_REMOVE(&all, r, link);
		r->cb(r->arg, HK_ENQUEUE_UNAVAILABLE, NULL);
	}
}

static void
hk_inbox_close(void)
{
	if (hk_inbox.io_ev != NULL)
		event_free(hk_inbox.io_ev);
	if (hk_inbox.wr_ev != NULL)
		event_free(hk_inbox.wr_ev);
	hk_inbox.io_ev = hk_inbox.wr_ev = NULL;
	if (hk_inbox.timer_ev != NULL)
		evtimer_del(hk_inbox.timer_ev);
	if (hk_inbox.pg != NULL)
		PQfinish(hk_inbox.pg);
	hk_inbox.pg = NULL;
}

/* hk_inbox_retry_later - schedule the next attempt: backoff, then jitter. */
static void
hk_inbox_retry_later(void)
{
	int b = hk_inbox.backoff_ms;
	int ms = b - b * (int)(rand_r(&hk_inbox.seed) % 16) / 100;

	hk_inbox_arm(hk_inbox.retry_ev, ms);
	hk_inbox.backoff_ms = HK_MIN(b * 2, HK_INBOX_BACKOFF_MAX_MS);
}

/*
 * hk_inbox_broken - the connection failed or could not be made: close it,
 * answer every queued request UNAVAILABLE (the caller answers 503 and the
 * provider retries), reconnect later.  Whether an insert in flight was
 * committed is unknown; a retried event with a key then comes back as a
 * duplicate, one without a key is stored twice (at-least-once).
 */
static void
hk_inbox_broken(const char *why)
{
	if (hk_inbox.state == HK_INBOX_UP)
		hk_log_warn("postgres: inbox connection lost (%s); events "
		    "that Redis cannot take are refused with 503", why);
	else if (!hk_inbox.failed)
		hk_log_warn("postgres: cannot connect for the inbox (%s); "
		    "retrying in the background", why);
	else
		hk_log_debug("postgres: inbox still unavailable (%s)", why);
	hk_inbox_close();
	hk_inbox.state = HK_INBOX_DOWN;
	hk_inbox.failed = 1;
	hk_inbox_fail_all();
	if (!hk_inbox.shutting)
		hk_inbox_retry_later();
}

static void
hk_inbox_broken_pq(void)
{
	char why[256];

	hk_inbox_broken(hk_inbox_reason(why, sizeof(why)));
}

/* hk_inbox_query_error - log a failed insert, at most once a second. */
static void
hk_inbox_query_error(const PGresult *res)
{
	uint64_t now = hk_clock_mono_ns();
	char why[256];
	size_t n;

	if (now - hk_inbox.err_ns < 1000000000u && hk_inbox.err_ns != 0) {
		hk_inbox.err_quiet++;
		return;
	}
	snprintf(why, sizeof(why), "%s", PQresultErrorMessage(res));
	n = strlen(why);
	while (n > 0 && why[n - 1] == '\n')
		why[--n] = '\0';
	hk_log_error("postgres: inbox insert failed, the event is refused "
	    "with 503: %s (%d more not logged)", why, hk_inbox.err_quiet);
	hk_inbox.err_ns = now;
	hk_inbox.err_quiet = 0;
}

/* hk_inbox_flush - push buffered output; wait for writability if needed. */
static int
hk_inbox_flush(void)
{
	int rc = PQflush(hk_inbox.pg);

	if (rc < 0) {
		hk_inbox_broken_pq();
		return HK_ERROR;
	}
	if (rc > 0)
		event_add(hk_inbox.wr_ev, NULL);
	return HK_OK;
}

/* hk_inbox_send_one - queue one insert into libpq's output buffer. */
static int
hk_inbox_send_one(const struct hk_enqueue_event *ev)
{
	const char *v[HK_INBOX_NPARAMS];
	int len[HK_INBOX_NPARAMS];
	uint32_t window = htonl((uint32_t)ev->src->dedup_window_s);

	v[0] = ev->id;
	len[0] = (int)strlen(ev->id);
	v[1] = ev->src->name;
	len[1] = (int)strlen(ev->src->name);
	v[2] = ev->idem_key != NULL && ev->idem_len > 0 ? ev->idem_key : NULL;
	len[2] = v[2] != NULL ? (int)ev->idem_len : 0;
	v[3] = ev->received_at;
	len[3] = (int)strlen(ev->received_at);
	v[4] = ev->content_type != NULL ? ev->content_type : "";
	len[4] = ev->content_type != NULL ? (int)ev->content_type_len : 0;
	v[5] = ev->headers_json != NULL && ev->headers_len > 0
	    ? ev->headers_json : "{}";
	len[5] = v[5] == ev->headers_json ? (int)ev->headers_len : 2;
	/* A NULL value would be SQL NULL: an empty body is "". */
	v[6] = ev->body != NULL ? ev->body : "";
	len[6] = (int)ev->body_len;
	v[7] = (const char *)&window;
	len[7] = (int)sizeof(window);
	return PQsendQueryParams(hk_inbox.pg, hk_inbox_sql, HK_INBOX_NPARAMS,
	    hk_inbox_types, v, len, hk_inbox_formats, 0) ? HK_OK : HK_ERROR;
}

/* hk_inbox_send_batch - the queue's head, as one pipeline and one Sync. */
static void
hk_inbox_send_batch(void)
{
	struct hk_inbox_req *r;
	size_t bytes = 0;

	while ((r = TAILQ_FIRST(&hk_inbox.wait)) != NULL
	    && hk_inbox.nsent < HK_INBOX_BATCH_MAX
	    && bytes < HK_INBOX_BATCH_BYTES) {
		if (hk_inbox_send_one(r->ev) != HK_OK) {
			hk_inbox_broken_pq();
			return;
		}
		TAILQ_REMOVE(&hk_inbox.wait, r, link);
		hk_inbox.nwait--;
		TAILQ_INSERT_TAIL(&hk_inbox.sent, r, link);
		hk_inbox.nsent++;
		r->tries++;
		r->outcome = HK_INBOX_R_WAIT;
		bytes += r->ev->body_len + r->ev->headers_len;
	}
	if (hk_inbox.nsent == 0)
		return;
	if (!PQpipelineSync(hk_inbox.pg)) {
		hk_inbox_broken_pq();
		return;
	}
	hk_inbox.cur = TAILQ_FIRST(&hk_inbox.sent);
	hk_inbox.batch_failed = 0;
	hk_inbox_arm(hk_inbox.timer_ev, HK_INBOX_QUERY_MS);
	hk_inbox_flush();
}

/* hk_inbox_outcome - one statement's result, provisional until the Sync. */
static void
hk_inbox_outcome(struct hk_inbox_req *r, const PGresult *res)
{
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
		if (PQntuples(res) != 1 || PQnfields(res) != 2) {
			r->outcome = HK_INBOX_R_AGAIN;
			break;
		}
		snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, 0, 0));
		r->outcome = PQgetvalue(res, 0, 1)[0] == 't'
		    ? HK_INBOX_R_DUP : HK_INBOX_R_NEW;
		break;
	case PGRES_PIPELINE_ABORTED:
		r->outcome = HK_INBOX_R_ABORTED;
		hk_inbox.batch_failed = 1;
		break;
	default:
		r->outcome = HK_INBOX_R_ERROR;
		hk_inbox.batch_failed = 1;
		hk_inbox_query_error(res);
		break;
	}
}

/*
 * hk_inbox_batch_done - the Sync came back: the batch committed, or it
 * rolled back as a whole.  Answer what is decided; send the rest again,
 * ahead of what waits, in their order.
 */
static void
hk_inbox_batch_done(void)
{
	struct hk_inbox_q done = TAILQ_HEAD_INITIALIZER(done);
	struct hk_inbox_q again = TAILQ_HEAD_INITIALIZER(again);
	struct hk_inbox_req *r;
	int ok = !hk_inbox.batch_failed;

	evtimer_del(hk_inbox.timer_ev);
	TAILQ_CONCAT(&done, &hk_inbox.sent, link);
	hk_inbox.nsent = 0;
	hk_inbox.cur = NULL;
	while ((r = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, r, link);
		if (ok && r->outcome == HK_INBOX_R_NEW)
			r->cb(r->arg, HK_ENQUEUE_STORED, r->id);
		else if (ok && r->outcome == HK_INBOX_R_DUP)
			r->cb(r->arg, HK_ENQUEUE_DUPLICATE, r->id);
		else if (r->outcome == HK_INBOX_R_ERROR
		    || r->tries >= HK_INBOX_TRIES)
			r->cb(r->arg, HK_ENQUEUE_UNAVAILABLE, NULL);
		else {
			TAILQ_INSERT_TAIL(&again, r, link);
			hk_inbox.nwait++;
		}
	}
	TAILQ_CONCAT(&again, &hk_inbox.wait, link);
	TAILQ_CONCAT(&hk_inbox.wait, &again, link);
}

/*
 * hk_inbox_results - take what libpq has parsed.  In pipeline mode each
 * statement's results end with a NULL; the Sync's result has none after it.
 */
static void
hk_inbox_results(void)
{
	PGresult *res;
	ExecStatusType st;

	while (hk_inbox.nsent > 0 && !PQisBusy(hk_inbox.pg)) {
		res = PQgetResult(hk_inbox.pg);
		if (hk_inbox.cur != NULL) {
			if (res == NULL)
				hk_inbox.cur = TAILQ_NEXT(hk_inbox.cur, link);
			else
				hk_inbox_outcome(hk_inbox.cur, res);
			PQclear(res);
			continue;
		}
		st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		PQclear(res);
		if (st != PGRES_PIPELINE_SYNC) {
			/* Out of step with libpq: nothing here can be trusted. */
			hk_inbox_broken("unexpected result in the pipeline");
			return;
		}
		hk_inbox_batch_done();
	}
	if (PQstatus(hk_inbox.pg) == CONNECTION_BAD)
		hk_inbox_broken_pq();
}

static void
hk_inbox_read_cb(evutil_socket_t fd, short what, void *arg)
{
	if (!PQconsumeInput(hk_inbox.pg)) {
		hk_inbox_broken_pq();
		return;
	}
	/* libpq may have been waiting to read before it could write. */
	if (event_pending(hk_inbox.wr_ev, EV_WRITE, NULL)
	    && hk_inbox_flush() != HK_OK)
		return;
	hk_inbox_results();
	if (hk_inbox.state == HK_INBOX_UP && hk_inbox.nsent == 0
	    && hk_inbox.nwait > 0)
		hk_inbox_send_batch();
}

static void
hk_inbox_write_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_inbox_flush();
}

static void
hk_inbox_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	if (hk_inbox.state == HK_INBOX_UP && hk_inbox.nsent == 0)
		hk_inbox_send_batch();
}

static void
hk_inbox_notice(void *arg, const char *msg)
{
	hk_log_debug("postgres: %s", msg);
}

/* hk_inbox_ready - connected: switch to pipeline mode and start serving. */
static void
hk_inbox_ready(void)
{
	PGconn *pg = hk_inbox.pg;
	int fd = PQsocket(pg);

	evtimer_del(hk_inbox.timer_ev);
	if (PQsetnonblocking(pg, 1) != 0 || !PQenterPipelineMode(pg)) {
		hk_inbox_broken_pq();
		return;
	}
	PQsetNoticeProcessor(pg, hk_inbox_notice, NULL);
	if (hk_inbox.io_ev != NULL)
		event_free(hk_inbox.io_ev);
	hk_inbox.io_ev = event_new(hk_inbox.base, fd, EV_READ | EV_PERSIST,
	    hk_inbox_read_cb, NULL);
	hk_inbox.wr_ev = event_new(hk_inbox.base, fd, EV_WRITE,
	    hk_inbox_write_cb, NULL);
	if (hk_inbox.io_ev == NULL || hk_inbox.wr_ev == NULL) {
		hk_inbox_broken("out of memory for events");
		return;
	}
	event_add(hk_inbox.io_ev, NULL);
	if (hk_inbox.failed)
		hk_log_info("postgres: inbox connection back");
	else
		hk_log_debug("postgres: inbox connected");
	hk_inbox.state = HK_INBOX_UP;
	hk_inbox.backoff_ms = HK_INBOX_BACKOFF_MIN_MS;
	if (hk_inbox.nwait > 0)
		hk_inbox_send_batch();
}

static void hk_inbox_connect_cb(evutil_socket_t fd, short what, void *arg);

/* hk_inbox_watch - wait for what PQconnectPoll asked for, on its socket. */
static void
hk_inbox_watch(short what)
{
	int fd = PQsocket(hk_inbox.pg);

	if (hk_inbox.io_ev != NULL)
		event_free(hk_inbox.io_ev);
	hk_inbox.io_ev = NULL;
	if (fd < 0) {
		hk_inbox_broken_pq();
		return;
	}
	hk_inbox.io_ev = event_new(hk_inbox.base, fd, what,
	    hk_inbox_connect_cb, NULL);
	if (hk_inbox.io_ev == NULL) {
		hk_inbox_broken("out of memory for an event");
		return;
	}
	event_add(hk_inbox.io_ev, NULL);
}

static void
hk_inbox_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	switch (PQconnectPoll(hk_inbox.pg)) {
	case PGRES_POLLING_READING:
		hk_inbox_watch(EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		hk_inbox_watch(EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		hk_inbox_ready();
		break;
	default:
		hk_inbox_broken_pq();
		break;
	}
}

/*
 * hk_inbox_connect - start a connection.  The URL may be a URI or a
 * key=value string; application_name comes first so that the URL can
 * override it.
 */
static void
hk_inbox_connect(void)
{
	const char *keys[] = { "application_name", "dbname", NULL };
	const char *vals[] = { "hookd ingest", hk_inbox.url, NULL };

	hk_inbox.pg = PQconnectStartParams(keys, vals, 1);
	if (hk_inbox.pg == NULL) {
		hk_inbox_broken("out of memory for a connection");
		return;
	}
	if (PQstatus(hk_inbox.pg) == CONNECTION_BAD) {
		hk_inbox_broken_pq();
		return;
	}
	hk_inbox.state = HK_INBOX_CONNECTING;
	hk_inbox_arm(hk_inbox.timer_ev, HK_INBOX_CONNECT_MS);
	/* libpq's protocol: start as if PQconnectPoll said WRITING. */
	hk_inbox_watch(EV_WRITE);
}

static void
hk_inbox_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_inbox_connect();
}

static void
hk_inbox_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	char why[64];

	snprintf(why, sizeof(why), "no answer within %d ms%s",
	    hk_inbox.state == HK_INBOX_UP ? HK_INBOX_QUERY_MS
	    : HK_INBOX_CONNECT_MS, hk_inbox.state == HK_INBOX_UP
	    ? " to an insert" : " while connecting");
	hk_inbox_broken(why);
}

int
hk_inbox_init(struct event_base *base, const char *url)
{
	memset(&hk_inbox, 0, sizeof(hk_inbox));
	TAILQ_INIT(&hk_inbox.wait);
	TAILQ_INIT(&hk_inbox.sent);
	hk_inbox.base = base;
	hk_inbox.backoff_ms = HK_INBOX_BACKOFF_MIN_MS;
	/* Workers forked together must not retry in step. */
	hk_inbox.seed = (unsigned)getpid() ^ (unsigned)hk_clock_mono_ns();
	hk_inbox.url = strdup(url != NULL ? url : "");
	hk_inbox.timer_ev = evtimer_new(base, hk_inbox_timer_cb, NULL);
	hk_inbox.retry_ev = evtimer_new(base, hk_inbox_retry_cb, NULL);
	hk_inbox.kick_ev = event_new(base, -1, 0, hk_inbox_kick_cb, NULL);
	if (hk_inbox.url == NULL || hk_inbox.timer_ev == NULL
	    || hk_inbox.retry_ev == NULL || hk_inbox.kick_ev == NULL) {
		hk_log_error("postgres: out of memory setting up the inbox");
		hk_inbox_shutdown();
		return HK_ERROR;
	}
	hk_inbox_connect();
	return HK_OK;
}

/*
 * hk_inbox_submit - queue one insert.  While the first connection is being
 * made requests wait for it; after a failure they are refused until the
 * connection is back, so that a 503 comes at once, not after a timeout.
 */
int
hk_inbox_submit(struct hk_inbox_req *r, const struct hk_enqueue_event *ev,
    hk_inbox_cb cb, void *arg)
{
	int st = hk_inbox.state;

	if (hk_inbox.base == NULL || hk_inbox.shutting
	    || st == HK_INBOX_DOWN
	    || (st == HK_INBOX_CONNECTING && hk_inbox.failed)
	    || hk_inbox.nwait >= HK_INBOX_QUEUE_MAX)
		return HK_ERROR;
	r->ev = ev;
	r->cb = cb;
	r->arg = arg;
	r->tries = 0;
	r->outcome = HK_INBOX_R_WAIT;
	r->id[0] = '\0';
	TAILQ_INSERT_TAIL(&hk_inbox.wait, r, link);
	hk_inbox.nwait++;
	/* On the next turn, so that what arrives meanwhile shares the batch. */
	if (st == HK_INBOX_UP && hk_inbox.nsent == 0)
		event_active(hk_inbox.kick_ev, EV_TIMEOUT, 1);
	return HK_OK;
}

void
hk_inbox_shutdown(void)
{
	if (hk_inbox.base == NULL)
		return;
	hk_inbox.shutting = 1;
	hk_inbox_close();
	hk_inbox_fail_all();
	if (hk_inbox.timer_ev != NULL)
		event_free(hk_inbox.timer_ev);
	if (hk_inbox.retry_ev != NULL)
		event_free(hk_inbox.retry_ev);
	if (hk_inbox.kick_ev != NULL)
		event_free(hk_inbox.kick_ev);
	free(hk_inbox.url);
	memset(&hk_inbox, 0, sizeof(hk_inbox));
}
