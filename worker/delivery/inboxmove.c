/*
 * inboxmove.c - the inbox mover (see inboxmove.h).
 *
 * A transaction must stay open while the rows are in Redis, so the mover
 * has a PostgreSQL connection of its own, used one step at a time with the
 * simple query protocol (nonblocking): "BEGIN; SELECT ... FOR UPDATE SKIP
 * LOCKED", then the ingest's script once per row on the worker's command
 * connection (pipelined, so they run in order: oldest first), then
 * "DELETE ...; COMMIT" for the rows Redis took, or ROLLBACK when it took
 * none.  Any failure drops the connection, which rolls back; the next
 * kick starts over.  The connection is made on the first kick and kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "core.h"
#include "enqscript.h"
#include "inboxmove.h"
#include "log.h"

#define HK_INBOXMOVE_BATCH     64
#define HK_INBOXMOVE_STEP_MS   10000

enum { HK_INBOXMOVE_IDLE, HK_INBOXMOVE_CONNECTING, HK_INBOXMOVE_SELECT,
    HK_INBOXMOVE_REDIS, HK_INBOXMOVE_FINISH };

static const char hk_inboxmove_select_sql[] =
    "BEGIN; SELECT id::text, source, idempotency_key,"
    " to_char(received_at AT TIME ZONE 'UTC',"
    "  'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " content_type, headers::text, body, dedup_window_s"
    " FROM inbox ORDER BY received_at, id LIMIT 64 FOR UPDATE SKIP LOCKED";

static struct {
	struct event_base *base;
	const struct hk_conf *conf;
	struct hk_dlredis *redis;
	const char   *stream;
	char         *url;
	PGconn       *pg;
	int           state;
	int           stopping;
	struct event *io_ev, *wr_ev, *timer_ev;
	PGresult     *rows;
	int           nrows, replies;
	char         *moved;		/* one flag per row */
	int           nmoved;
	unsigned      gen;		/* batch number, tags Redis replies */
	int           failed_logged;
} hk_inboxmove;

static void hk_inboxmove_step(void);
static void hk_inboxmove_io_cb(evutil_socket_t fd, short what, void *arg);

/* hk_inboxmove_reset - drop the connection (rolling back) and the batch. */
static void
hk_inboxmove_reset(const char *why)
{
	if (why != NULL && !hk_inboxmove.failed_logged) {
		hk_log_warn("delivery: inbox mover: %s; retrying later", why);
		hk_inboxmove.failed_logged = 1;
	}
	if (hk_inboxmove.io_ev != NULL)
		event_free(hk_inboxmove.io_ev);
	if (hk_inboxmove.wr_ev != NULL)
		event_free(hk_inboxmove.wr_ev);
	hk_inboxmove.io_ev = hk_inboxmove.wr_ev = NULL;
	if (hk_inboxmove.timer_ev != NULL)
		evtimer_del(hk_inboxmove.timer_ev);
	if (hk_inboxmove.pg != NULL)
		PQfinish(hk_inboxmove.pg);
	hk_inboxmove.pg = NULL;
	if (hk_inboxmove.rows != NULL)
		PQclear(hk_inboxmove.rows);
	hk_inboxmove.rows = NULL;
	free(hk_inboxmove.moved);
	hk_inboxmove.moved = NULL;
	hk_inboxmove.state = HK_INBOXMOVE_IDLE;
}

static void
hk_inboxmove_reset_pq(void)
{
	char why[256];

	snprintf(why, sizeof(why), "postgres: %s", hk_inboxmove.pg
	    ? PQerrorMessage(hk_inboxmove.pg) : "no connection");
	why[strcspn(why, "\n")] = '\0';
	hk_inboxmove_reset(why);
}

static void
hk_inboxmove_wr_cb(evutil_socket_t fd, short what, void *arg)
{
	int rc = PQflush(hk_inboxmove.pg);

	if (rc < 0)
		hk_inboxmove_reset_pq();
	else if (rc > 0)
		event_add(hk_inboxmove.wr_ev, NULL);
}

/* hk_inboxmove_send - one step's SQL; its results come to hk_inboxmove_io_cb. */
static void
hk_inboxmove_send(const char *sql, int state)
{
	struct timeval tv = { HK_INBOXMOVE_STEP_MS / 1000, 0 };

	if (!PQsendQuery(hk_inboxmove.pg, sql)) {
		hk_inboxmove_reset_pq();
		return;
	}
	hk_inboxmove.state = state;
	evtimer_add(hk_inboxmove.timer_ev, &tv);
	hk_inboxmove_wr_cb(-1, 0, NULL);
}

/* hk_inboxmove_rows_sql - "DELETE ... ; COMMIT" for the rows Redis took. */
static char *
hk_inboxmove_rows_sql(void)
{
	size_t cap = 64 + (size_t)hk_inboxmove.nrows * 42, o;
	char *sql;

	if (hk_inboxmove.nmoved == 0 || (sql = malloc(cap)) == NULL)
		return NULL;
	o = (size_t)snprintf(sql, cap, "DELETE FROM inbox WHERE id IN (");
	for (int r = 0, n = 0; r < hk_inboxmove.nrows; r++)
		if (hk_inboxmove.moved[r])
			o += (size_t)snprintf(sql + o, cap - o, "%s'%s'",
			    n++ ? "," : "", PQgetvalue(hk_inboxmove.rows, r, 0));
	snprintf(sql + o, cap - o, "); COMMIT");
	return sql;
}

static void
hk_inboxmove_finish(void)
{
	char *sql = hk_inboxmove_rows_sql();

	hk_inboxmove_send(sql != NULL ? sql : "ROLLBACK", HK_INBOXMOVE_FINISH);
	free(sql);
}

static void
hk_inboxmove_eval_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	int row = (int)((uintptr_t)arg & 0xffff);

	/* A reply for a batch that was given up is not this batch's. */
	if (hk_inboxmove.state != HK_INBOXMOVE_REDIS
	    || ((uintptr_t)arg >> 16) != (hk_inboxmove.gen & 0xffff))
		return;
	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
		hk_inboxmove.moved[row] = 1;
		hk_inboxmove.nmoved++;
	}
	if (++hk_inboxmove.replies == hk_inboxmove.nrows)
		hk_inboxmove_finish();
}

/* hk_inboxmove_eval - the ingest's script for one inbox row. */
static int
hk_inboxmove_eval(int r)
{
	const PGresult *res = hk_inboxmove.rows;
	const char *argv[14];
	size_t lens[14], blen = 0;
	unsigned char *body;
	char *key = NULL;
	int n = 0, rc;

	if ((body = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r,
	    6), &blen)) == NULL)
		return HK_ERROR;
	argv[n++] = "EVAL";
	argv[n++] = hk_enqscript;
	if (!PQgetisnull(res, r, 2) && asprintf(&key, "%sdedup:%s:%s",
	    hk_inboxmove.conf->redis.prefix, PQgetvalue(res, r, 1),
	    PQgetvalue(res, r, 2)) > 0) {
		argv[n++] = "2";
		argv[n++] = key;
	} else
		argv[n++] = "1";
	argv[n++] = hk_inboxmove.stream;
	for (int c = 0; c < 6; c++)		/* id .. headers */
		if (c != 2)
			argv[n++] = PQgetvalue(res, r, c);
	argv[n++] = (const char *)body;
	argv[n++] = PQgetvalue(res, r, 7);
	if (!PQgetisnull(res, r, 2))
		argv[n++] = PQgetvalue(res, r, 2);	/* the key, kept */
	for (int i = 0; i < n; i++)
		lens[i] = argv[i] == (const char *)body ? blen : strlen(argv[i]);
	rc = hk_dlredis_cmd(hk_inboxmove.redis, hk_inboxmove_eval_done,
	    (void *)(uintptr_t)((uintptr_t)r | (uintptr_t)(hk_inboxmove.gen
	    & 0xffff) << 16), n, argv, lens);
	free(key);
	PQfreemem(body);
	return rc;
}

/* hk_inboxmove_selected - the locked rows are here: into the stream. */
static void
hk_inboxmove_selected(void)
{
	hk_inboxmove.nrows = PQntuples(hk_inboxmove.rows);
	hk_inboxmove.replies = hk_inboxmove.nmoved = 0;
	hk_inboxmove.gen++;
	if (hk_inboxmove.nrows == 0 || (hk_inboxmove.moved = calloc(
	    (size_t)hk_inboxmove.nrows, 1)) == NULL) {
		hk_inboxmove_send("COMMIT", HK_INBOXMOVE_FINISH);
		return;
	}
	hk_inboxmove.state = HK_INBOXMOVE_REDIS;
	for (int r = 0; r < hk_inboxmove.nrows; r++)
		if (hk_inboxmove_eval(r) != HK_OK) {
			/* The replies already asked for still come. */
			hk_inboxmove.replies += hk_inboxmove.nrows - r;
			if (hk_inboxmove.replies == hk_inboxmove.nrows)
				hk_inboxmove_finish();
			return;
		}
}

/* hk_inboxmove_done - a step's results are all in. */
static void
hk_inboxmove_done(int ok)
{
	int state = hk_inboxmove.state, more;

	evtimer_del(hk_inboxmove.timer_ev);
	if (!ok) {
		hk_inboxmove_reset_pq();
		return;
	}
	if (state == HK_INBOXMOVE_SELECT) {
		hk_inboxmove_selected();
		return;
	}
	more = hk_inboxmove.nmoved == HK_INBOXMOVE_BATCH;
	if (hk_inboxmove.nmoved > 0)
		hk_log_info("delivery: moved %d events from the PostgreSQL "
		    "inbox into the stream", hk_inboxmove.nmoved);
	hk_inboxmove.failed_logged = 0;
	if (hk_inboxmove.rows != NULL)
		PQclear(hk_inboxmove.rows);
	hk_inboxmove.rows = NULL;
	free(hk_inboxmove.moved);
	hk_inboxmove.moved = NULL;
	hk_inboxmove.state = HK_INBOXMOVE_IDLE;
	if (more)
		hk_inboxmove_kick();
}

static void
hk_inboxmove_io_cb(evutil_socket_t fd, short what, void *arg)
{
	PGresult *res;
	int ok = 1;

	if (hk_inboxmove.state == HK_INBOXMOVE_CONNECTING) {
		hk_inboxmove_step();
		return;
	}
	if (!PQconsumeInput(hk_inboxmove.pg)) {
		hk_inboxmove_reset_pq();
		return;
	}
	while (!PQisBusy(hk_inboxmove.pg)) {
		if ((res = PQgetResult(hk_inboxmove.pg)) == NULL) {
			hk_inboxmove_done(ok);
			return;
		}
		if (PQresultStatus(res) == PGRES_TUPLES_OK
		    && hk_inboxmove.state == HK_INBOXMOVE_SELECT) {
			hk_inboxmove.rows = res;
			continue;
		}
		if (PQresultStatus(res) != PGRES_COMMAND_OK
		    && PQresultStatus(res) != PGRES_TUPLES_OK)
			ok = 0;
		PQclear(res);
	}
}

/* hk_inboxmove_watch - one event on the socket, as libpq asks. */
static int
hk_inboxmove_watch(short what)
{
	int fd = PQsocket(hk_inboxmove.pg);

	if (hk_inboxmove.io_ev != NULL)
		event_free(hk_inboxmove.io_ev);
	hk_inboxmove.io_ev = fd < 0 ? NULL : event_new(hk_inboxmove.base, fd, what,
	    hk_inboxmove_io_cb, NULL);
	if (hk_inboxmove.io_ev == NULL)
		return HK_ERROR;
	event_add(hk_inboxmove.io_ev, NULL);
	return HK_OK;
}

/* hk_inboxmove_step - one step of PQconnectPoll; when connected, select. */
static void
hk_inboxmove_step(void)
{
	switch (PQconnectPoll(hk_inboxmove.pg)) {
	case PGRES_POLLING_READING:
		if (hk_inboxmove_watch(EV_READ) != HK_OK)
			hk_inboxmove_reset_pq();
		return;
	case PGRES_POLLING_WRITING:
		if (hk_inboxmove_watch(EV_WRITE) != HK_OK)
			hk_inboxmove_reset_pq();
		return;
	case PGRES_POLLING_OK:
		break;
	default:
		hk_inboxmove_reset_pq();
		return;
	}
	hk_inboxmove.wr_ev = event_new(hk_inboxmove.base, PQsocket(hk_inboxmove.pg),
	    EV_WRITE, hk_inboxmove_wr_cb, NULL);
	if (PQsetnonblocking(hk_inboxmove.pg, 1) != 0 || hk_inboxmove.wr_ev == NULL
	    || hk_inboxmove_watch(EV_READ | EV_PERSIST) != HK_OK) {
		hk_inboxmove_reset_pq();
		return;
	}
	hk_inboxmove_send(hk_inboxmove_select_sql, HK_INBOXMOVE_SELECT);
}

void
hk_inboxmove_kick(void)
{
	const char *keys[] = { "application_name", "dbname", NULL };
	const char *vals[] = { "hookd inbox mover", hk_inboxmove.url, NULL };
	struct timeval tv = { HK_INBOXMOVE_STEP_MS / 1000, 0 };

	if (hk_inboxmove.base == NULL || hk_inboxmove.stopping
	    || hk_inboxmove.state != HK_INBOXMOVE_IDLE || !hk_inboxmove.redis->up)
		return;
	if (hk_inboxmove.pg != NULL) {
		hk_inboxmove_send(hk_inboxmove_select_sql, HK_INBOXMOVE_SELECT);
		return;
	}
	hk_inboxmove.pg = PQconnectStartParams(keys, vals, 1);
	if (hk_inboxmove.pg == NULL || PQstatus(hk_inboxmove.pg) == CONNECTION_BAD) {
		hk_inboxmove_reset_pq();
		return;
	}
	hk_inboxmove.state = HK_INBOXMOVE_CONNECTING;
	evtimer_add(hk_inboxmove.timer_ev, &tv);
	if (hk_inboxmove_watch(EV_WRITE) != HK_OK)
		hk_inboxmove_reset_pq();
}

static void
hk_inboxmove_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_inboxmove_reset("postgres: no answer in time");
}

int
hk_inboxmove_init(struct event_base *base, const struct hk_conf *conf,
    struct hk_dlredis *redis, const char *stream)
{
	memset(&hk_inboxmove, 0, sizeof(hk_inboxmove));
	hk_inboxmove.base = base;
	hk_inboxmove.conf = conf;
	hk_inboxmove.redis = redis;
	hk_inboxmove.stream = stream;
	hk_inboxmove.url = strdup(conf->postgres.url ? conf->postgres.url : "");
	hk_inboxmove.timer_ev = evtimer_new(base, hk_inboxmove_timer_cb, NULL);
	return hk_inboxmove.url != NULL && hk_inboxmove.timer_ev != NULL
	    ? HK_OK : HK_ERROR;
}

void
hk_inboxmove_stop(void)
{
	hk_inboxmove.stopping = 1;
}

void
hk_inboxmove_shutdown(void)
{
	if (hk_inboxmove.base == NULL)
		return;
	hk_inboxmove.state = HK_INBOXMOVE_IDLE;
	hk_inboxmove_reset(NULL);
	event_free(hk_inboxmove.timer_ev);
	free(hk_inboxmove.url);
	memset(&hk_inboxmove, 0, sizeof(hk_inboxmove));
}
