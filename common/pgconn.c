/*
 * pgconn.c - one nonblocking PostgreSQL connection in pipeline mode (see
 * pgconn.h).
 *
 * Connecting: PQconnectStartParams, then PQconnectPoll driven by one-shot
 * events on PQsocket() (the socket can change from one step to the next,
 * when libpq tries another address, so the event is made again at each
 * step).  Up: nonblocking pipeline mode, a persistent read event, and a
 * write event only while PQflush has output left.
 *
 * A connection given up is closed at once, so that the server rolls back
 * what it had open and nothing from it can arrive later; the next attempt
 * is a new PGconn from the same parameters.  Hostnames are resolved with
 * getaddrinfo(3) inside libpq, which can block; it happens on connects
 * only, and /etc/hosts or a container's resolver answers fast.
 *
 * Results: in pipeline mode each statement's results end with a NULL and
 * a Sync's result has none after it.  A statement's last result is kept
 * until its NULL, so the user hears once per statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core.h"
#include "log.h"
#include "pgconn.h"

#define HK_PGCONN_CONNECT_MS   5000
#define HK_PGCONN_BACKOFF_MIN  100
#define HK_PGCONN_BACKOFF_MAX  5000

int
hk_pgconn_up(const struct hk_pgconn *c)
{
	return c->state == HK_PGCONN_UP;
}

int
hk_pgconn_starting(const struct hk_pgconn *c)
{
	return !c->failed && c->state != HK_PGCONN_UP;
}

const char *
hk_pgconn_why(char *buf, size_t len, const char *msg)
{
	size_t n = 0;

	if (msg == NULL || msg[0] == '\0')
		msg = "connection failed";
	/* libpq's lines end in "\n" and go on with "\t": one space each. */
	for (; *msg != '\0' && n + 1 < len; msg++) {
		if (strchr(" \t\n", *msg) == NULL)
			buf[n++] = *msg;
		else if (n > 0 && buf[n - 1] != ' ')
			buf[n++] = ' ';
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	return buf;
}

static void
hk_pgconn_arm(struct event *ev, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(ev, &tv);
}

static void
hk_pgconn_events_free(struct hk_pgconn *c)
{
	if (c->io_ev != NULL)
		event_free(c->io_ev);
	if (c->wr_ev != NULL)
		event_free(c->wr_ev);
	c->io_ev = c->wr_ev = NULL;
}

/* hk_pgconn_log_down - an outage is logged when it starts, once. */
static void
hk_pgconn_log_down(struct hk_pgconn *c, const char *why)
{
	const struct hk_pgconn_ops *o = c->ops;

	if (c->state == HK_PGCONN_UP)
		hk_log_warn("postgres: %s connection lost (%s); %s", o->name,
		    why, o->down_note);
	else if (!c->outage)
		hk_log_warn("postgres: cannot connect for the %s connection "
		    "(%s); %s; retrying in the background", o->name, why,
		    o->down_note);
	else
		hk_log_debug("postgres: %s connection still unavailable (%s)",
		    o->name, why);
	c->outage = 1;
}

/*
 * hk_pgconn_broken - the connection failed or could not be made: close
 * it, forget what was in flight, tell the user, try again later.
 */
static void
hk_pgconn_broken(struct hk_pgconn *c, const char *why)
{
	char buf[256];

	if (why == NULL)
		why = hk_pgconn_why(buf, sizeof(buf), c->pg != NULL
		    ? PQerrorMessage(c->pg) : NULL);
	hk_pgconn_log_down(c, why);
	hk_pgconn_events_free(c);
	evtimer_del(c->timer_ev);
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->pg = NULL;
	if (c->res != NULL)
		PQclear(c->res);
	c->res = NULL;
	c->nstmt = c->nsync = 0;
	c->state = HK_PGCONN_DOWN;
	c->failed = 1;
	hk_pgconn_arm(c->retry_ev, hk_backoff_next(&c->backoff));
	c->ops->on_down(c->arg);
}

void
hk_pgconn_drop(struct hk_pgconn *c, const char *why)
{
	if (c->state == HK_PGCONN_UP || c->state == HK_PGCONN_CONNECTING)
		hk_pgconn_broken(c, why);
}

/* hk_pgconn_flush - push buffered output; wait for writability if needed. */
static int
hk_pgconn_flush(struct hk_pgconn *c)
{
	int rc = PQflush(c->pg);

	if (rc < 0) {
		hk_pgconn_broken(c, NULL);
		return HK_ERROR;
	}
	if (rc > 0)
		event_add(c->wr_ev, NULL);
	return HK_OK;
}

/* hk_pgconn_sync_back - a Sync's result: the pipeline before it is done. */
static void
hk_pgconn_sync_back(struct hk_pgconn *c)
{
	/* A statement without its end means we are out of step with libpq. */
	if (c->res != NULL || c->nsync == 0) {
		hk_pgconn_broken(c, "unexpected Sync in the pipeline");
		return;
	}
	if (--c->nsync == 0)
		evtimer_del(c->timer_ev);
	else
		hk_pgconn_arm(c->timer_ev, c->ops->query_ms);
	c->ops->on_sync(c->arg);
}

/* hk_pgconn_results - hand over what libpq has parsed, in order. */
static void
hk_pgconn_results(struct hk_pgconn *c)
{
	PGresult *res;

	while (c->state == HK_PGCONN_UP && c->nstmt + c->nsync > 0
	    && !PQisBusy(c->pg)) {
		res = PQgetResult(c->pg);
		if (res != NULL && PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			hk_pgconn_sync_back(c);
		} else if (res != NULL) {
			if (c->res != NULL)
				PQclear(c->res);
			c->res = res;
		} else if (c->res == NULL || c->nstmt == 0) {
			hk_pgconn_broken(c, "unexpected result in the pipeline");
		} else {
			res = c->res;
			c->res = NULL;
			c->nstmt--;
			c->ops->on_result(c->arg, res);
		}
	}
	if (c->state == HK_PGCONN_UP && PQstatus(c->pg) == CONNECTION_BAD)
		hk_pgconn_broken(c, NULL);
}

static void
hk_pgconn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_pgconn *c = arg;

	if (!PQconsumeInput(c->pg)) {
		hk_pgconn_broken(c, NULL);
		return;
	}
	/* libpq may have been waiting to read before it could write. */
	if (event_pending(c->wr_ev, EV_WRITE, NULL)
	    && hk_pgconn_flush(c) != HK_OK)
		return;
	hk_pgconn_results(c);
}

static void
hk_pgconn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_pgconn *c = arg;

	/* PQflush reads when the server does not: results may be in. */
	if (hk_pgconn_flush(c) == HK_OK)
		hk_pgconn_results(c);
}

static void
hk_pgconn_notice(void *arg, const char *msg)
{
	hk_log_debug("postgres: %s", msg);
}

/* hk_pgconn_ready - connected: switch to pipeline mode and serve. */
static void
hk_pgconn_ready(struct hk_pgconn *c)
{
	int fd = PQsocket(c->pg);

	evtimer_del(c->timer_ev);
	hk_pgconn_events_free(c);
	if (PQsetnonblocking(c->pg, 1) != 0 || !PQenterPipelineMode(c->pg)) {
		hk_pgconn_broken(c, NULL);
		return;
	}
	PQsetNoticeProcessor(c->pg, hk_pgconn_notice, NULL);
	c->io_ev = event_new(c->base, fd, EV_READ | EV_PERSIST,
	    hk_pgconn_read_cb, c);
	c->wr_ev = event_new(c->base, fd, EV_WRITE, hk_pgconn_write_cb, c);
	if (c->io_ev == NULL || c->wr_ev == NULL) {
		hk_pgconn_broken(c, "out of memory for events");
		return;
	}
	event_add(c->io_ev, NULL);
	if (c->outage)
		hk_log_info("postgres: %s connection back", c->ops->name);
	else
		hk_log_debug("postgres: %s connected", c->ops->name);
	c->outage = 0;
	c->state = HK_PGCONN_UP;
	hk_backoff_reset(&c->backoff);
	c->ops->on_up(c->arg);
}

static void hk_pgconn_connect_cb(evutil_socket_t fd, short what, void *arg);

/* hk_pgconn_watch - wait for what PQconnectPoll asked for, on its socket. */
static void
hk_pgconn_watch(struct hk_pgconn *c, short what)
{
	int fd = PQsocket(c->pg);

	hk_pgconn_events_free(c);
	if (fd < 0) {
		hk_pgconn_broken(c, NULL);
		return;
	}
	c->io_ev = event_new(c->base, fd, what, hk_pgconn_connect_cb, c);
	if (c->io_ev == NULL) {
		hk_pgconn_broken(c, "out of memory for an event");
		return;
	}
	event_add(c->io_ev, NULL);
}

static void
hk_pgconn_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_pgconn *c = arg;

	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		hk_pgconn_watch(c, EV_READ);
		break;
	case PGRES_POLLING_WRITING:
		hk_pgconn_watch(c, EV_WRITE);
		break;
	case PGRES_POLLING_OK:
		hk_pgconn_ready(c);
		break;
	default:
		hk_pgconn_broken(c, NULL);
		break;
	}
}

/*
 * hk_pgconn_connect - start a connection.  The URL may be a URI or a
 * key=value string; application_name comes first so that it can override.
 */
static void
hk_pgconn_connect(struct hk_pgconn *c)
{
	const char *keys[] = { "application_name", "dbname", NULL };
	const char *vals[] = { c->ops->appname, c->url, NULL };

	c->pg = PQconnectStartParams(keys, vals, 1);
	if (c->pg == NULL) {
		hk_pgconn_broken(c, "out of memory for a connection");
		return;
	}
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		hk_pgconn_broken(c, NULL);
		return;
	}
	c->state = HK_PGCONN_CONNECTING;
	hk_pgconn_arm(c->timer_ev, HK_PGCONN_CONNECT_MS);
	/* libpq's protocol: start as if PQconnectPoll said WRITING. */
	hk_pgconn_watch(c, EV_WRITE);
}

static void
hk_pgconn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_pgconn_connect(arg);
}

static void
hk_pgconn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_pgconn *c = arg;
	char why[64];

	if (c->state == HK_PGCONN_UP)
		snprintf(why, sizeof(why), "no answer within %d ms",
		    c->ops->query_ms);
	else
		snprintf(why, sizeof(why), "no answer within %d ms while "
		    "connecting", HK_PGCONN_CONNECT_MS);
	hk_pgconn_broken(c, why);
}

/* hk_pgconn_sent - count a statement libpq took; one it refused breaks. */
static int
hk_pgconn_sent(struct hk_pgconn *c, int took)
{
	if (!took) {
		hk_pgconn_broken(c, NULL);
		return HK_ERROR;
	}
	c->nstmt++;
	return HK_OK;
}

int
hk_pgconn_send_params(struct hk_pgconn *c, const char *sql, int n,
    const Oid *types, const char *const *vals, const int *lens,
    const int *fmts)
{
	if (c->state != HK_PGCONN_UP)
		return HK_ERROR;
	return hk_pgconn_sent(c, PQsendQueryParams(c->pg, sql, n, types, vals,
	    lens, fmts, 0));
}

int
hk_pgconn_send_prepare(struct hk_pgconn *c, const char *name,
    const char *sql, int n, const Oid *types)
{
	if (c->state != HK_PGCONN_UP)
		return HK_ERROR;
	return hk_pgconn_sent(c, PQsendPrepare(c->pg, name, sql, n, types));
}

int
hk_pgconn_send_prepared(struct hk_pgconn *c, const char *name, int n,
    const char *const *vals, const int *lens, const int *fmts)
{
	if (c->state != HK_PGCONN_UP)
		return HK_ERROR;
	return hk_pgconn_sent(c, PQsendQueryPrepared(c->pg, name, n, vals,
	    lens, fmts, 0));
}

int
hk_pgconn_sync(struct hk_pgconn *c)
{
	if (c->state != HK_PGCONN_UP)
		return HK_ERROR;
	if (!PQpipelineSync(c->pg)) {
		hk_pgconn_broken(c, NULL);
		return HK_ERROR;
	}
	if (c->nsync++ == 0)
		hk_pgconn_arm(c->timer_ev, c->ops->query_ms);
	return hk_pgconn_flush(c);
}

int
hk_pgconn_init(struct hk_pgconn *c, struct event_base *base,
    const char *url, const struct hk_pgconn_ops *ops, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->ops = ops;
	c->arg = arg;
	c->base = base;
	hk_backoff_init(&c->backoff, HK_PGCONN_BACKOFF_MIN,
	    HK_PGCONN_BACKOFF_MAX, 1);
	c->url = strdup(url != NULL ? url : "");
	c->timer_ev = evtimer_new(base, hk_pgconn_timer_cb, c);
	c->retry_ev = evtimer_new(base, hk_pgconn_retry_cb, c);
	if (c->url == NULL || c->timer_ev == NULL || c->retry_ev == NULL) {
		hk_pgconn_close(c);
		return HK_ERROR;
	}
	return HK_OK;
}

void
hk_pgconn_start(struct hk_pgconn *c)
{
	if (c->state == HK_PGCONN_IDLE && c->base != NULL)
		hk_pgconn_connect(c);
}

void
hk_pgconn_close(struct hk_pgconn *c)
{
	hk_pgconn_events_free(c);
	if (c->timer_ev != NULL)
		event_free(c->timer_ev);
	if (c->retry_ev != NULL)
		event_free(c->retry_ev);
	if (c->res != NULL)
		PQclear(c->res);
	if (c->pg != NULL)
		PQfinish(c->pg);
	free(c->url);
	memset(c, 0, sizeof(*c));
}
