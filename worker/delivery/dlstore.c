/*
 * dlstore.c - pipelined PostgreSQL batches for the delivery worker (see
 * dlstore.h).
 *
 * Nonblocking throughout: the first connection with PQconnectStartParams
 * and PQconnectPoll, later ones with PQresetStart and PQresetPoll, each
 * step waiting on PQsocket() for what libpq asked (the socket may change
 * between steps, so the event is made anew each time).  Then pipeline mode,
 * a persistent read event and a write event while output is pending.  The
 * reconnect delay doubles from 100 ms to 5 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "dlstore.h"
#include "log.h"

#define HK_DLSTORE_BATCH_MAX    1024
#define HK_DLSTORE_BATCH_BYTES  (8u << 20)	/* a batch stops growing here */
#define HK_DLSTORE_STMTS        32	/* statements kept prepared */
#define HK_DLSTORE_CONNECT_MS   5000
#define HK_DLSTORE_QUERY_MS     10000
#define HK_DLSTORE_BACKOFF_MIN  100
#define HK_DLSTORE_BACKOFF_MAX  5000
#define HK_DLSTORE_BATCHERS     4

enum { HK_DLSTORE_DOWN, HK_DLSTORE_CONNECTING, HK_DLSTORE_UP };
enum { HK_DLOP_WAIT, HK_DLOP_OK, HK_DLOP_ERROR, HK_DLOP_ABORTED };

struct hk_dlstore_op {
	TAILQ_ENTRY(hk_dlstore_op) link;
	const char   *sql;
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
	char         *url;
	PGconn       *pg;
	int           state;
	int           ever_up;
	int           backoff_ms;
	int           shutting;
	struct event *io_ev, *wr_ev, *timer_ev, *retry_ev, *kick_ev;
	struct hk_dlstore_q wait, sent;
	int           nwait, nsent;
	struct hk_dlstore_op *cur;	/* whose result comes next; NULL: Sync */
	int           failed;		/* a statement of this batch failed */
	uint64_t      err_ns;
	/* Statements seen, by address: each is prepared once per connection
	 * (named hk<index>), so a batch only binds and executes. */
	struct {
		const char *sql;
		int         ready;	/* prepared on this connection */
		int         planned;	/* never prepared: planned each time */
	} stmts[HK_DLSTORE_STMTS];
	int           nstmts;
	struct {
		void (*fn)(void *);
		void *arg;
	} batchers[HK_DLSTORE_BATCHERS];
	int           nrows;		/* rows waiting in batchers */
} hk_dlstore;

static void hk_dlstore_connect(void);
static void hk_dlstore_send(void);
static int  hk_dlstore_stmt(const char *sql);

int
hk_dlstore_up(void)
{
	return hk_dlstore.state == HK_DLSTORE_UP;
}

int
hk_dlstore_pending(void)
{
	return hk_dlstore.nwait + hk_dlstore.nsent + hk_dlstore.nrows;
}

int
hk_dlstore_plan_each_time(const char *sql)
{
	int i = hk_dlstore_stmt(sql);

	if (i < 0)
		return HK_ERROR;
	hk_dlstore.stmts[i].planned = 1;
	return HK_OK;
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
	if (delta > 0 && hk_dlstore.state == HK_DLSTORE_UP
	    && hk_dlstore.nsent == 0)
		event_active(hk_dlstore.kick_ev, EV_TIMEOUT, 1);
}

static void
hk_dlstore_arm(struct event *ev, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(ev, &tv);
}

/* hk_dlstore_why - libpq's last message on one line. */
static const char *
hk_dlstore_why(char *buf, size_t len, const char *m)
{
	snprintf(buf, len, "%s", m && m[0] ? m : "connection failed");
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	for (size_t n = strlen(buf); n > 0 && buf[n - 1] == ' '; n--)
		buf[n - 1] = '\0';
	return buf;
}

static void
hk_dlstore_events_free(void)
{
	if (hk_dlstore.io_ev != NULL)
		event_free(hk_dlstore.io_ev);
	if (hk_dlstore.wr_ev != NULL)
		event_free(hk_dlstore.wr_ev);
	hk_dlstore.io_ev = hk_dlstore.wr_ev = NULL;
}

/*
 * hk_dlstore_broken - the connection is unusable: what was in flight goes
 * back to the head of the queue, in order, and a reset is scheduled.
 */
static void
hk_dlstore_broken(void)
{
	struct hk_dlstore_op *op;
	char why[256];

	hk_dlstore_why(why, sizeof(why), hk_dlstore.pg
	    ? PQerrorMessage(hk_dlstore.pg) : NULL);
	if (hk_dlstore.state == HK_DLSTORE_UP)
		hk_log_warn("postgres: delivery connection lost (%s); acks "
		    "wait until it is back", why);
	else
		hk_log_debug("postgres: delivery connection failed (%s)", why);
	hk_dlstore_events_free();
	evtimer_del(hk_dlstore.timer_ev);
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
	hk_dlstore.state = HK_DLSTORE_DOWN;
	if (hk_dlstore.shutting)
		return;
	hk_dlstore_arm(hk_dlstore.retry_ev, hk_dlstore.backoff_ms);
	hk_dlstore.backoff_ms = HK_MIN(hk_dlstore.backoff_ms * 2,
	    HK_DLSTORE_BACKOFF_MAX);
}

static int
hk_dlstore_flush(void)
{
	int rc = PQflush(hk_dlstore.pg);

	if (rc < 0) {
		hk_dlstore_broken();
		return HK_ERROR;
	}
	if (rc > 0)
		event_add(hk_dlstore.wr_ev, NULL);
	return HK_OK;
}

/* hk_dlstore_stmt - the registry index of sql (added when new), or -1. */
static int
hk_dlstore_stmt(const char *sql)
{
	for (int i = 0; i < hk_dlstore.nstmts; i++)
		if (hk_dlstore.stmts[i].sql == sql)
			return i;
	if (hk_dlstore.nstmts == HK_DLSTORE_STMTS)
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
	if (!PQsendPrepare(hk_dlstore.pg, name, use->sql, use->n, use->types)) {
		free(op);
		return HK_ERROR;
	}
	op->sql = use->sql;
	op->prepare = i + 1;
	TAILQ_INSERT_TAIL(&hk_dlstore.sent, op, link);
	hk_dlstore.nsent++;
	hk_dlstore.stmts[i].ready = 1;
	return HK_OK;
}

/* hk_dlstore_send_one - one statement into libpq's buffer. */
static int
hk_dlstore_send_one(struct hk_dlstore_op *op)
{
	int i = hk_dlstore_stmt(op->sql);
	char name[16];

	if (i < 0 || hk_dlstore.stmts[i].planned)
		return PQsendQueryParams(hk_dlstore.pg, op->sql, op->n,
		    op->types, op->vals, op->lens, op->fmts, 0) ? HK_OK
		    : HK_ERROR;
	if (!hk_dlstore.stmts[i].ready && hk_dlstore_prepare(i, op) != HK_OK)
		return HK_ERROR;
	snprintf(name, sizeof(name), "hk%d", i);
	return PQsendQueryPrepared(hk_dlstore.pg, name, op->n, op->vals,
	    op->lens, op->fmts, 0) ? HK_OK : HK_ERROR;
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
			hk_dlstore_broken();
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
	if (!PQpipelineSync(hk_dlstore.pg)) {
		hk_dlstore_broken();
		return;
	}
	hk_dlstore.cur = TAILQ_FIRST(&hk_dlstore.sent);
	hk_dlstore.failed = 0;
	hk_dlstore_arm(hk_dlstore.timer_ev, HK_DLSTORE_QUERY_MS);
	hk_dlstore_flush();
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
	    op->tries, HK_DLSTORE_TRIES, hk_dlstore_why(why, sizeof(why),
	    PQresultErrorMessage(res)), op->sql);
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
		op->outcome = HK_DLOP_ERROR;
		op->tries++;
		hk_dlstore_error(op, res);
		break;
	}
	hk_dlstore.failed = 1;
	if (op->prepare)
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

	evtimer_del(hk_dlstore.timer_ev);
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

static void
hk_dlstore_results(void)
{
	PGresult *res;
	ExecStatusType st;

	while (hk_dlstore.nsent > 0 && !PQisBusy(hk_dlstore.pg)) {
		res = PQgetResult(hk_dlstore.pg);
		if (hk_dlstore.cur != NULL) {
			if (res == NULL)
				hk_dlstore.cur = TAILQ_NEXT(hk_dlstore.cur, link);
			else
				hk_dlstore_outcome(hk_dlstore.cur, res);
			continue;
		}
		st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
		PQclear(res);
		if (st != PGRES_PIPELINE_SYNC) {
			hk_dlstore_broken();
			return;
		}
		hk_dlstore_batch_done();
	}
	if (PQstatus(hk_dlstore.pg) == CONNECTION_BAD)
		hk_dlstore_broken();
}

static void
hk_dlstore_read_cb(evutil_socket_t fd, short what, void *arg)
{
	if (!PQconsumeInput(hk_dlstore.pg)) {
		hk_dlstore_broken();
		return;
	}
	if (event_pending(hk_dlstore.wr_ev, EV_WRITE, NULL)
	    && hk_dlstore_flush() != HK_OK)
		return;
	hk_dlstore_results();
	if (hk_dlstore.state == HK_DLSTORE_UP && hk_dlstore.nsent == 0
	    && hk_dlstore.nwait + hk_dlstore.nrows > 0)
		event_active(hk_dlstore.kick_ev, EV_TIMEOUT, 1);
}

static void
hk_dlstore_write_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_dlstore_flush();
}

static void
hk_dlstore_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	if (hk_dlstore.state == HK_DLSTORE_UP && hk_dlstore.nsent == 0)
		hk_dlstore_send();
}

static void
hk_dlstore_notice(void *arg, const char *msg)
{
	hk_log_debug("postgres: %s", msg);
}

static void
hk_dlstore_ready(void)
{
	PGconn *pg = hk_dlstore.pg;
	int fd = PQsocket(pg);

	evtimer_del(hk_dlstore.timer_ev);
	hk_dlstore_events_free();
	if (PQsetnonblocking(pg, 1) != 0 || (PQpipelineStatus(pg)
	    == PQ_PIPELINE_OFF && !PQenterPipelineMode(pg))) {
		hk_dlstore_broken();
		return;
	}
	PQsetNoticeProcessor(pg, hk_dlstore_notice, NULL);
	hk_dlstore.io_ev = event_new(hk_dlstore.base, fd, EV_READ | EV_PERSIST,
	    hk_dlstore_read_cb, NULL);
	hk_dlstore.wr_ev = event_new(hk_dlstore.base, fd, EV_WRITE,
	    hk_dlstore_write_cb, NULL);
	if (hk_dlstore.io_ev == NULL || hk_dlstore.wr_ev == NULL) {
		hk_dlstore_broken();
		return;
	}
	event_add(hk_dlstore.io_ev, NULL);
	if (hk_dlstore.ever_up)
		hk_log_info("postgres: delivery connection back; %d statements "
		    "waiting", hk_dlstore.nwait);
	hk_dlstore.ever_up = 1;
	hk_dlstore.state = HK_DLSTORE_UP;
	hk_dlstore.backoff_ms = HK_DLSTORE_BACKOFF_MIN;
	if (hk_dlstore.nwait + hk_dlstore.nrows > 0)
		hk_dlstore_send();
}

static void hk_dlstore_connect_cb(evutil_socket_t fd, short what, void *arg);

/* hk_dlstore_watch - wait for what PQconnectPoll/PQresetPoll asked. */
static void
hk_dlstore_watch(short what)
{
	int fd = PQsocket(hk_dlstore.pg);

	hk_dlstore_events_free();
	if (fd < 0 || (hk_dlstore.io_ev = event_new(hk_dlstore.base, fd, what,
	    hk_dlstore_connect_cb, NULL)) == NULL) {
		hk_dlstore_broken();
		return;
	}
	event_add(hk_dlstore.io_ev, NULL);
}

static void
hk_dlstore_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	PostgresPollingStatusType st = hk_dlstore.ever_up
	    ? PQresetPoll(hk_dlstore.pg) : PQconnectPoll(hk_dlstore.pg);

	if (st == PGRES_POLLING_READING)
		hk_dlstore_watch(EV_READ);
	else if (st == PGRES_POLLING_WRITING)
		hk_dlstore_watch(EV_WRITE);
	else if (st == PGRES_POLLING_OK)
		hk_dlstore_ready();
	else
		hk_dlstore_broken();
}

/*
 * hk_dlstore_connect - start a connection, or reset the one that broke
 * (PQresetStart keeps its parameters and reconnects nonblocking).
 */
static void
hk_dlstore_connect(void)
{
	const char *keys[] = { "application_name", "dbname", NULL };
	const char *vals[] = { "hookd delivery", hk_dlstore.url, NULL };

	if (hk_dlstore.pg != NULL && hk_dlstore.ever_up) {
		if (!PQresetStart(hk_dlstore.pg)) {
			hk_dlstore_broken();
			return;
		}
	} else {
		if (hk_dlstore.pg != NULL)
			PQfinish(hk_dlstore.pg);
		hk_dlstore.pg = PQconnectStartParams(keys, vals, 1);
		if (hk_dlstore.pg == NULL
		    || PQstatus(hk_dlstore.pg) == CONNECTION_BAD) {
			hk_dlstore_broken();
			return;
		}
	}
	hk_dlstore.state = HK_DLSTORE_CONNECTING;
	hk_dlstore_arm(hk_dlstore.timer_ev, HK_DLSTORE_CONNECT_MS);
	hk_dlstore_watch(EV_WRITE);
}

static void
hk_dlstore_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_dlstore_connect();
}

static void
hk_dlstore_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_log_warn("postgres: no answer within %d ms; reconnecting",
	    hk_dlstore.state == HK_DLSTORE_UP ? HK_DLSTORE_QUERY_MS
	    : HK_DLSTORE_CONNECT_MS);
	hk_dlstore_broken();
}

int
hk_dlstore_submit(const char *sql, int n, const char *const *vals,
    const int *lens, const Oid *types, hk_dlstore_cb cb, void *arg)
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
	if (hk_dlstore.state == HK_DLSTORE_UP && hk_dlstore.nsent == 0)
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
	hk_dlstore.backoff_ms = HK_DLSTORE_BACKOFF_MIN;
	hk_dlstore.url = strdup(url != NULL ? url : "");
	hk_dlstore.timer_ev = evtimer_new(base, hk_dlstore_timer_cb, NULL);
	hk_dlstore.retry_ev = evtimer_new(base, hk_dlstore_retry_cb, NULL);
	hk_dlstore.kick_ev = event_new(base, -1, 0, hk_dlstore_kick_cb, NULL);
	if (hk_dlstore.url == NULL || hk_dlstore.timer_ev == NULL
	    || hk_dlstore.retry_ev == NULL || hk_dlstore.kick_ev == NULL)
		return HK_ERROR;
	hk_dlstore_connect();
	return HK_OK;
}

void
hk_dlstore_shutdown(void)
{
	struct hk_dlstore_op *op;

	if (hk_dlstore.base == NULL)
		return;
	hk_dlstore.shutting = 1;
	hk_dlstore_events_free();
	TAILQ_CONCAT(&hk_dlstore.wait, &hk_dlstore.sent, link);
	while ((op = TAILQ_FIRST(&hk_dlstore.wait)) != NULL) {
		TAILQ_REMOVE(&hk_dlstore.wait, op, link);
		hk_dlstore_op_free(op);
	}
	if (hk_dlstore.pg != NULL)
		PQfinish(hk_dlstore.pg);
	event_free(hk_dlstore.timer_ev);
	event_free(hk_dlstore.retry_ev);
	event_free(hk_dlstore.kick_ev);
	free(hk_dlstore.url);
	memset(&hk_dlstore, 0, sizeof(hk_dlstore));
}
