/*
 * dlstore.c - pipelined PostgreSQL batches for the delivery worker (see
 * dlstore.h).  The connection, its pipeline and its reconnections are
 * pgconn.c's; this file decides what goes into a batch and what a batch's
 * outcome means for each statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "dlstore.h"
#include "log.h"
#include "pgconn.h"

#define HK_DLSTORE_BATCH_MAX    1024
#define HK_DLSTORE_BATCH_BYTES  (8u << 20)	/* a batch stops growing here */
#define HK_DLSTORE_STMTS        32	/* statements kept prepared */
#define HK_DLSTORE_QUERY_MS     10000
#define HK_DLSTORE_BATCHERS     4

enum { HK_DLOP_WAIT, HK_DLOP_OK, HK_DLOP_ERROR, HK_DLOP_ABORTED };

struct hk_dlstore_op {
	TAILQ_ENTRY(hk_dlstore_op) link;
	const char   *sql;
	const char   *alt;		/* sql with ON CONFLICT, or NULL */
	int           n;
	hk_dlstore_cb cb;
	void         *arg;
	int           tries;
	int           outcome;
	int           prepare;		/* 1 + index of the statement it prepares */
	size_t        bytes;		/* parameter bytes */
	PGresult     *res;
	const char  **vals;
	int          *lens;
	int          *fmts;
	Oid          *types;
};

TAILQ_HEAD(hk_dlstore_q, hk_dlstore_op);

static struct {
	struct event_base *base;
	struct hk_pgconn pg;
	struct event *kick_ev;
	struct hk_dlstore_q wait, sent;
	int           nwait, nsent;
	struct hk_dlstore_op *cur;	/* whose result comes next; NULL: Sync */
	int           failed;		/* a statement of this batch failed */
	uint64_t      err_ns;
	/* Statements whose plan is kept, by address: each is prepared once
	 * per connection (named hk<index>), so it only binds and executes. */
	struct {
		const char *sql;
		int         ready;	/* prepared on this connection */
	} stmts[HK_DLSTORE_STMTS];
	int           nstmts;
	struct {
		void (*fn)(void *);
		void *arg;
	} batchers[HK_DLSTORE_BATCHERS];
	int           nrows;		/* rows waiting in batchers */
} hk_dlstore;

static int  hk_dlstore_stmt(const char *sql, int add);

int
hk_dlstore_up(void)
{
	return hk_pgconn_up(&hk_dlstore.pg);
}

int
hk_dlstore_pending(void)
{
	return hk_dlstore.nwait + hk_dlstore.nsent + hk_dlstore.nrows;
}

int
hk_dlstore_keep_plan(const char *sql)
{
	return hk_dlstore_stmt(sql, 1) >= 0 ? HK_OK : HK_ERROR;
}

int
hk_dlstore_batcher(void (*fn)(void *), void *arg, int on)
{
	for (int i = 0; i < HK_DLSTORE_BATCHERS; i++) {
		if (on && hk_dlstore.batchers[i].fn == NULL) {
			hk_dlstore.batchers[i].fn = fn;
			hk_dlstore.batchers[i].arg = arg;
			return HK_OK;
		}
		if (!on && hk_dlstore.batchers[i].fn == fn
		    && hk_dlstore.batchers[i].arg == arg) {
			hk_dlstore.batchers[i].fn = NULL;
			return HK_OK;
		}
	}
	return HK_ERROR;
}

void
hk_dlstore_rows(int delta)
{
	hk_dlstore.nrows += delta;
	if (delta > 0 && hk_dlstore_up() && hk_dlstore.nsent == 0)
		event_active(hk_dlstore.kick_ev, EV_TIMEOUT, 1);
}

/*
 * hk_dlstore_down - the connection is unusable: what was in flight goes
 * back to the head of the queue, in order, to be sent again once it is
 * back (prepared statements are gone with it).
 */
static void
hk_dlstore_down(void *arg)
{
	struct hk_dlstore_op *op;

	while ((op = TAILQ_LAST(&hk_dlstore.sent, hk_dlstore_q)) != NULL) {
		TAILQ_REMOVE(&hk_dlstore.sent, op, link);
		if (op->res != NULL)
			PQclear(op->res);
		op->res = NULL;
		if (op->prepare) {
			free(op);
			continue;
		}
		TAILQ_INSERT_HEAD(&hk_dlstore.wait, op, link);
		hk_dlstore.nwait++;
	}
	for (int i = 0; i < hk_dlstore.nstmts; i++)
		hk_dlstore.stmts[i].ready = 0;
	hk_dlstore.nsent = 0;
	hk_dlstore.cur = NULL;
}

/* hk_dlstore_stmt - the index of a kept statement (added when new and
 * add), or -1: planned each time. */
static int
hk_dlstore_stmt(const char *sql, int add)
{
	for (int i = 0; i < hk_dlstore.nstmts; i++)
		if (hk_dlstore.stmts[i].sql == sql)
			return i;
	if (!add || hk_dlstore.nstmts == HK_DLSTORE_STMTS)
		return -1;
	hk_dlstore.stmts[hk_dlstore.nstmts].sql = sql;
	return hk_dlstore.nstmts++;
}

/*
 * hk_dlstore_prepare - queue a Parse for statement i ahead of its first
 * use on this connection.  Its result comes in the pipeline like any other
 * statement's; it is an op of its own that nobody is called back for.
 */
static int
hk_dlstore_prepare(int i, const struct hk_dlstore_op *use)
{
	struct hk_dlstore_op *op = calloc(1, sizeof(*op));
	char name[16];

	if (op == NULL)
		return HK_ERROR;
	snprintf(name, sizeof(name), "hk%d", i);
	if (hk_pgconn_send_prepare(&hk_dlstore.pg, name, use->sql, use->n,
	    use->types) != HK_OK) {
		free(op);
		return HK_ERROR;
	}
	hk_log_debug("postgres: delivery statement %s prepared: %s", name,
	    use->sql);
	op->sql = use->sql;
	op->prepare = i + 1;
	TAILQ_INSERT_TAIL(&hk_dlstore.sent, op, link);
	hk_dlstore.nsent++;
	hk_dlstore.stmts[i].ready = 1;
	return HK_OK;
}

/* hk_dlstore_send_one - one statement into the pipeline. */
static int
hk_dlstore_send_one(struct hk_dlstore_op *op)
{
	int i = hk_dlstore_stmt(op->sql, 0);
	char name[16];

	if (i < 0)
		return hk_pgconn_send_params(&hk_dlstore.pg, op->sql, op->n,
		    op->types, op->vals, op->lens, op->fmts);
	if (!hk_dlstore.stmts[i].ready && hk_dlstore_prepare(i, op) != HK_OK)
		return HK_ERROR;
	snprintf(name, sizeof(name), "hk%d", i);
	return hk_pgconn_send_prepared(&hk_dlstore.pg, name, op->n, op->vals,
	    op->lens, op->fmts);
}

/* hk_dlstore_send - the head of the queue as one pipeline and a Sync. */
static void
hk_dlstore_send(void)
{
	struct hk_dlstore_op *op;
	size_t bytes = 0;

	for (int i = 0; i < HK_DLSTORE_BATCHERS && hk_dlstore.nrows > 0; i++)
		if (hk_dlstore.batchers[i].fn != NULL)
			hk_dlstore.batchers[i].fn(hk_dlstore.batchers[i].arg);
	while ((op = TAILQ_FIRST(&hk_dlstore.wait)) != NULL
	    && hk_dlstore.nsent < HK_DLSTORE_BATCH_MAX
	    && bytes < HK_DLSTORE_BATCH_BYTES) {
		bytes += op->bytes;
		if (hk_dlstore_send_one(op) != HK_OK) {
			/* Already down unless memory ran out. */
			hk_pgconn_drop(&hk_dlstore.pg, "out of memory");
			return;
		}
		TAILQ_REMOVE(&hk_dlstore.wait, op, link);
		hk_dlstore.nwait--;
		TAILQ_INSERT_TAIL(&hk_dlstore.sent, op, link);
		hk_dlstore.nsent++;
		op->outcome = HK_DLOP_WAIT;
	}
	if (hk_dlstore.nsent == 0)
		return;
	hk_dlstore.cur = TAILQ_FIRST(&hk_dlstore.sent);
	hk_dlstore.failed = 0;
	hk_pgconn_sync(&hk_dlstore.pg);
}

static void
hk_dlstore_op_free(struct hk_dlstore_op *op)
{
	if (op->res != NULL)
		PQclear(op->res);
	free(op);
}

/* hk_dlstore_error - log a failed statement, at most once a second. */
static void
hk_dlstore_error(const struct hk_dlstore_op *op, const PGresult *res)
{
	uint64_t now = hk_clock_mono_ns();
	char why[256];

	if (hk_dlstore.err_ns != 0 && now - hk_dlstore.err_ns < 1000000000u)
		return;
	hk_dlstore.err_ns = now;
	hk_log_error("postgres: statement failed (try %d of %d): %s; %.60s...",
	    op->tries, HK_DLSTORE_TRIES, hk_pgconn_why(why, sizeof(why),
	    PQresultErrorMessage(res)), op->sql);
}

/*
 * hk_dlstore_conflict - an optimistic insert met a row that was there
 * (SQLSTATE 23505, unique_violation): from now on op is its alt, which
 * skips such rows.  1 when so.
 */
static int
hk_dlstore_conflict(struct hk_dlstore_op *op, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (op->alt == NULL || state == NULL || strcmp(state, "23505") != 0)
		return 0;
	hk_log_debug("postgres: a row was already there; the statement goes "
	    "again with ON CONFLICT: %.60s...", op->alt);
	op->sql = op->alt;
	op->alt = NULL;
	return 1;
}

/* hk_dlstore_outcome - one statement's result, kept until the Sync. */
static void
hk_dlstore_outcome(struct hk_dlstore_op *op, PGresult *res)
{
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		op->outcome = HK_DLOP_OK;
		if (op->res != NULL)
			PQclear(op->res);
		op->res = res;
		return;
	case PGRES_PIPELINE_ABORTED:
		op->outcome = HK_DLOP_ABORTED;
		break;
	default:
		if (hk_dlstore_conflict(op, res)) {
			/* Sent again as alt, with what was aborted. */
			op->outcome = HK_DLOP_ABORTED;
			break;
		}
		op->outcome = HK_DLOP_ERROR;
		op->tries++;
		hk_dlstore_error(op, res);
		break;
	}
	hk_dlstore.failed = 1;
	if (op->prepare && op->outcome == HK_DLOP_ERROR) {
		struct hk_dlstore_op *use = TAILQ_NEXT(op, link);

		/* The Parse queued just ahead of its first use failed: that
		 * use comes back aborted, so the try is charged to it, or a
		 * statement PostgreSQL cannot parse would be sent forever. */
		hk_dlstore.stmts[op->prepare - 1].ready = 0;
		if (use != NULL)
			use->tries++;
	} else if (op->prepare)
		hk_dlstore.stmts[op->prepare - 1].ready = 0;
	PQclear(res);
}

/*
 * hk_dlstore_batch_done - the Sync is back: call back what committed (or
 * what failed too often); send the rest again, ahead of what waits.
 */
static void
hk_dlstore_batch_done(void)
{
	struct hk_dlstore_q done = TAILQ_HEAD_INITIALIZER(done);
	struct hk_dlstore_q again = TAILQ_HEAD_INITIALIZER(again);
	struct hk_dlstore_op *op;
	int ok = !hk_dlstore.failed;

	TAILQ_CONCAT(&done, &hk_dlstore.sent, link);
	hk_dlstore.nsent = 0;
	hk_dlstore.cur = NULL;
	while ((op = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, op, link);
		if (op->prepare) {
			hk_dlstore_op_free(op);
			continue;
		}
		if (ok || op->tries >= HK_DLSTORE_TRIES) {
			if (op->cb != NULL)
				op->cb(op->arg, ok ? op->res : NULL);
			hk_dlstore_op_free(op);
			continue;
		}
		if (op->res != NULL)
			PQclear(op->res);
		op->res = NULL;
		TAILQ_INSERT_TAIL(&again, op, link);
		hk_dlstore.nwait++;
	}
	TAILQ_CONCAT(&again, &hk_dlstore.wait, link);
	TAILQ_CONCAT(&hk_dlstore.wait, &again, link);
}

/* hk_dlstore_result - the next statement's result, kept until the Sync. */
static void
hk_dlstore_result(void *arg, PGresult *res)
{
	struct hk_dlstore_op *op = hk_dlstore.cur;

	if (op == NULL) {
		PQclear(res);
		hk_pgconn_drop(&hk_dlstore.pg, "a result for no statement");
		return;
	}
	hk_dlstore.cur = TAILQ_NEXT(op, link);
	hk_dlstore_outcome(op, res);
}

static void
hk_dlstore_sync(void *arg)
{
	if (hk_dlstore.cur != NULL) {
		hk_pgconn_drop(&hk_dlstore.pg, "a Sync before every result");
		return;
	}
	hk_dlstore_batch_done();
	if (hk_dlstore.nwait + hk_dlstore.nrows > 0)
		event_active(hk_dlstore.kick_ev, EV_TIMEOUT, 1);
}

static void
hk_dlstore_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	if (hk_dlstore_up() && hk_dlstore.nsent == 0)
		hk_dlstore_send();
}

static void
hk_dlstore_up_cb(void *arg)
{
	if (hk_dlstore.nwait + hk_dlstore.nrows > 0)
		hk_dlstore_send();
}

static const struct hk_pgconn_ops hk_dlstore_ops = {
	.name = "delivery",
	.appname = "hookd delivery",
	.down_note = "acks wait until it is back",
	.query_ms = HK_DLSTORE_QUERY_MS,
	.on_up = hk_dlstore_up_cb,
	.on_result = hk_dlstore_result,
	.on_sync = hk_dlstore_sync,
	.on_down = hk_dlstore_down,
};

int
hk_dlstore_submit(const char *sql, int n, const char *const *vals,
    const int *lens, const Oid *types, hk_dlstore_cb cb, void *arg)
{
	return hk_dlstore_submit_alt(sql, NULL, n, vals, lens, types, cb, arg);
}

int
hk_dlstore_submit_alt(const char *sql, const char *alt, int n,
    const char *const *vals, const int *lens, const Oid *types,
    hk_dlstore_cb cb, void *arg)
{
	struct hk_dlstore_op *op;
	size_t need = sizeof(*op) + (size_t)n * (sizeof(char *) + 2
	    * sizeof(int) + sizeof(Oid));
	char *p;

	for (int i = 0; i < n; i++)
		need += vals[i] != NULL ? (size_t)lens[i] + 1 : 0;
	if ((op = calloc(1, need)) == NULL)
		return HK_ERROR;
	op->bytes = need;
	op->sql = sql;
	op->alt = alt;
	op->n = n;
	op->cb = cb;
	op->arg = arg;
	op->vals = (const char **)(void *)(op + 1);
	op->lens = (int *)(void *)(op->vals + n);
	op->fmts = op->lens + n;
	op->types = (Oid *)(void *)(op->fmts + n);
	p = (char *)(op->types + n);
	for (int i = 0; i < n; i++) {
		op->fmts[i] = 1;
		op->types[i] = types != NULL ? types[i] : HK_DLSTORE_OID_TEXT;
		op->lens[i] = vals[i] != NULL ? lens[i] : 0;
		op->vals[i] = NULL;
		if (vals[i] == NULL)
			continue;
		memcpy(p, vals[i], (size_t)lens[i]);
		p[lens[i]] = '\0';
		op->vals[i] = p;
		p += lens[i] + 1;
	}
	TAILQ_INSERT_TAIL(&hk_dlstore.wait, op, link);
	hk_dlstore.nwait++;
	/* On the next turn, so that what is queued meanwhile shares it. */
	if (hk_dlstore_up() && hk_dlstore.nsent == 0)
		event_active(hk_dlstore.kick_ev, EV_TIMEOUT, 1);
	return HK_OK;
}

int
hk_dlstore_init(struct event_base *base, const char *url)
{
	memset(&hk_dlstore, 0, sizeof(hk_dlstore));
	TAILQ_INIT(&hk_dlstore.wait);
	TAILQ_INIT(&hk_dlstore.sent);
	hk_dlstore.base = base;
	hk_dlstore.kick_ev = event_new(base, -1, 0, hk_dlstore_kick_cb, NULL);
	if (hk_dlstore.kick_ev == NULL || hk_pgconn_init(&hk_dlstore.pg, base,
	    url, &hk_dlstore_ops, NULL) != HK_OK)
		return HK_ERROR;
	hk_pgconn_start(&hk_dlstore.pg);
	return HK_OK;
}

void
hk_dlstore_shutdown(void)
{
	struct hk_dlstore_op *op;

	if (hk_dlstore.base == NULL)
		return;
	hk_pgconn_close(&hk_dlstore.pg);
	TAILQ_CONCAT(&hk_dlstore.wait, &hk_dlstore.sent, link);
	while ((op = TAILQ_FIRST(&hk_dlstore.wait)) != NULL) {
		TAILQ_REMOVE(&hk_dlstore.wait, op, link);
		hk_dlstore_op_free(op);
	}
	event_free(hk_dlstore.kick_ev);
	memset(&hk_dlstore, 0, sizeof(hk_dlstore));
}
