/*
 * inbox.c - the PostgreSQL inbox (see inbox.h).
 *
 * The connection is a pgconn (nonblocking, pipeline mode, reconnected in
 * the background); this file batches the inserts and decides what each
 * one's result means.
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
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "clock.h"
#include "core.h"
#include "inbox.h"
#include "log.h"
#include "pgconn.h"

#define HK_INBOX_BATCH_MAX      64
#define HK_INBOX_BATCH_BYTES    (8u << 20)	/* a batch stops growing here */
#define HK_INBOX_QUEUE_MAX      8192
#define HK_INBOX_QUERY_MS       5000	/* a batch without answer: broken */
#define HK_INBOX_TRIES          4	/* sends of one request, at most */
#define HK_INBOX_NPARAMS        9

/* Type OIDs of the parameters (pg_type.h is a server header). */
#define HK_INBOX_OID_BYTEA      17
#define HK_INBOX_OID_INT4       23
#define HK_INBOX_OID_TEXT       25

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
    " content_type, headers, body, dedup_window_s, event_type)"
    " VALUES ($1::uuid, $2, $3, $4::timestamptz, $5, $6::jsonb, $7, $8,"
    " $9)"
    " ON CONFLICT (source, idempotency_key) DO NOTHING RETURNING id) "
    "SELECT id::text, false FROM ins "
    "UNION ALL "
    "SELECT id::text, true FROM inbox"
    " WHERE source = $2 AND idempotency_key = $3"
    " AND NOT EXISTS (SELECT 1 FROM ins)";

static const Oid hk_inbox_types[HK_INBOX_NPARAMS] = {
	HK_INBOX_OID_TEXT, HK_INBOX_OID_TEXT, HK_INBOX_OID_TEXT,
	HK_INBOX_OID_TEXT, HK_INBOX_OID_TEXT, HK_INBOX_OID_TEXT,
	HK_INBOX_OID_BYTEA, HK_INBOX_OID_INT4, HK_INBOX_OID_TEXT
};
static const int hk_inbox_formats[HK_INBOX_NPARAMS] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1
};

static struct {
	struct event_base *base;
	struct hk_pgconn pg;
	int          shutting;
	struct event *kick_ev;		/* send a batch on the next turn */
	struct hk_inbox_q wait;		/* not sent yet */
	struct hk_inbox_q sent;		/* in the batch in flight */
	int          nwait, nsent;
	struct hk_inbox_req *cur;	/* whose result comes next; NULL: Sync */
	int          batch_failed;
	uint64_t     err_ns;		/* last query error logged */
	int          err_quiet;		/* query errors not logged since */
} hk_inbox;

int
hk_inbox_up(void)
{
	return hk_pgconn_up(&hk_inbox.pg);
}

/*
 * hk_inbox_fail_all - the connection failed or could not be made: answer
 * every queued request UNAVAILABLE (the caller answers 503 and the
 * provider retries).  Whether an insert in flight was committed is
 * unknown; a retried event with a key then comes back as a duplicate, one
 * without a key is stored twice (at-least-once).
 */
static void
hk_inbox_fail_all(void *arg)
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

/* hk_inbox_query_error - log a failed insert, at most once a second. */
static void
hk_inbox_query_error(const PGresult *res)
{
	uint64_t now = hk_clock_mono_ns();
	char why[256];

	if (now - hk_inbox.err_ns < 1000000000u && hk_inbox.err_ns != 0) {
		hk_inbox.err_quiet++;
		return;
	}
	hk_pgconn_why(why, sizeof(why), PQresultErrorMessage(res));
	hk_log_error("postgres: inbox insert failed, the event is refused "
	    "with 503: %s (%d more not logged)", why, hk_inbox.err_quiet);
	hk_inbox.err_ns = now;
	hk_inbox.err_quiet = 0;
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
	v[8] = ev->event_type[0] != '\0' ? ev->event_type : NULL;
	len[8] = (int)strlen(ev->event_type);
	return hk_pgconn_send_params(&hk_inbox.pg, hk_inbox_sql,
	    HK_INBOX_NPARAMS, hk_inbox_types, v, len, hk_inbox_formats);
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
		if (hk_inbox_send_one(r->ev) != HK_OK)
			return;		/* down: every request answered */
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
	hk_inbox.cur = TAILQ_FIRST(&hk_inbox.sent);
	hk_inbox.batch_failed = 0;
	hk_pgconn_sync(&hk_inbox.pg);
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

/* hk_inbox_result - the next insert's result, provisional until the Sync. */
static void
hk_inbox_result(void *arg, PGresult *res)
{
	struct hk_inbox_req *r = hk_inbox.cur;

	if (r == NULL) {
		PQclear(res);
		hk_pgconn_drop(&hk_inbox.pg, "unexpected result in the pipeline");
		return;
	}
	hk_inbox.cur = TAILQ_NEXT(r, link);
	hk_inbox_outcome(r, res);
	PQclear(res);
}

static void
hk_inbox_sync(void *arg)
{
	if (hk_inbox.cur != NULL) {
		/* Out of step with libpq: nothing here can be trusted. */
		hk_pgconn_drop(&hk_inbox.pg, "unexpected Sync in the pipeline");
		return;
	}
	hk_inbox_batch_done();
	if (hk_inbox.nwait > 0)
		hk_inbox_send_batch();
}

static void
hk_inbox_up_cb(void *arg)
{
	if (hk_inbox.nwait > 0)
		hk_inbox_send_batch();
}

static void
hk_inbox_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	if (hk_inbox_up() && hk_inbox.nsent == 0)
		hk_inbox_send_batch();
}

static const struct hk_pgconn_ops hk_inbox_ops = {
	.name = "inbox",
	.appname = "hookd ingest",
	.down_note = "events that Redis cannot take are refused with 503",
	.query_ms = HK_INBOX_QUERY_MS,
	.on_up = hk_inbox_up_cb,
	.on_result = hk_inbox_result,
	.on_sync = hk_inbox_sync,
	.on_down = hk_inbox_fail_all,
};

int
hk_inbox_init(struct event_base *base, const char *url)
{
	memset(&hk_inbox, 0, sizeof(hk_inbox));
	TAILQ_INIT(&hk_inbox.wait);
	TAILQ_INIT(&hk_inbox.sent);
	hk_inbox.base = base;
	hk_inbox.kick_ev = event_new(base, -1, 0, hk_inbox_kick_cb, NULL);
	if (hk_inbox.kick_ev == NULL || hk_pgconn_init(&hk_inbox.pg, base, url,
	    &hk_inbox_ops, NULL) != HK_OK) {
		hk_log_error("postgres: out of memory setting up the inbox");
		hk_inbox_shutdown();
		return HK_ERROR;
	}
	hk_pgconn_start(&hk_inbox.pg);
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
	if (hk_inbox.base == NULL || hk_inbox.shutting
	    || !(hk_inbox_up() || hk_pgconn_starting(&hk_inbox.pg))
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
	if (hk_inbox_up() && hk_inbox.nsent == 0)
		event_active(hk_inbox.kick_ev, EV_TIMEOUT, 1);
	return HK_OK;
}

void
hk_inbox_shutdown(void)
{
	if (hk_inbox.base == NULL)
		return;
	hk_inbox.shutting = 1;
	hk_pgconn_close(&hk_inbox.pg);
	hk_inbox_fail_all(NULL);
	if (hk_inbox.kick_ev != NULL)
		event_free(hk_inbox.kick_ev);
	memset(&hk_inbox, 0, sizeof(hk_inbox));
}
