/*
 * inmove.c - the inbox mover (see inmove.h).
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
#include "inmove.h"
#include "log.h"
#include "store.h"

#define HK_INMOVE_BATCH     64
#define HK_INMOVE_STEP_MS   10000

enum { HK_INMOVE_IDLE, HK_INMOVE_CONNECTING, HK_INMOVE_SELECT,
    HK_INMOVE_REDIS, HK_INMOVE_FINISH };

static const char hk_inmove_select_sql[] =
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
} hk_inmove;

static void hk_inmove_step(void);
static void hk_inmove_io_cb(evutil_socket_t fd, short what, void *arg);

/* hk_inmove_reset - drop the connection (rolling back) and the batch. */
static void
hk_inmove_reset(const char *why)
{
	if (why != NULL && !hk_inmove.failed_logged) {
		hk_log_warn("delivery: inbox mover: %s; retrying later", why);
		hk_inmove.failed_logged = 1;
	}
	if (hk_inmove.io_ev != NULL)
		event_free(hk_inmove.io_ev);
	if (hk_inmove.wr_ev != NULL)
		event_free(hk_inmove.wr_ev);
	hk_inmove.io_ev = hk_inmove.wr_ev = NULL;
	if (hk_inmove.timer_ev != NULL)
		evtimer_del(hk_inmove.timer_ev);
	if (hk_inmove.pg != NULL)
		PQfinish(hk_inmove.pg);
	hk_inmove.pg = NULL;
	if (hk_inmove.rows != NULL)
		PQclear(hk_inmove.rows);
	hk_inmove.rows = NULL;
	free(hk_inmove.moved);
	hk_inmove.moved = NULL;
	hk_inmove.state = HK_INMOVE_IDLE;
}

static void
hk_inmove_reset_pq(void)
{
	char why[256];

	snprintf(why, sizeof(why), "postgres: %s", hk_inmove.pg
	    ? PQerrorMessage(hk_inmove.pg) : "no connection");
	why[strcspn(why, "\n")] = '\0';
	hk_inmove_reset(why);
}

static void
hk_inmove_wr_cb(evutil_socket_t fd, short what, void *arg)
{
	int rc = PQflush(hk_inmove.pg);

	if (rc < 0)
		hk_inmove_reset_pq();
	else if (rc > 0)
		event_add(hk_inmove.wr_ev, NULL);
}

/* hk_inmove_send - one step's SQL; its results come to hk_inmove_io_cb. */
static void
hk_inmove_send(const char *sql, int state)
{
	struct timeval tv = { HK_INMOVE_STEP_MS / 1000, 0 };

	if (!PQsendQuery(hk_inmove.pg, sql)) {
		hk_inmove_reset_pq();
		return;
	}
	hk_inmove.state = state;
	evtimer_add(hk_inmove.timer_ev, &tv);
	hk_inmove_wr_cb(-1, 0, NULL);
}

/* hk_inmove_rows_sql - "DELETE ... ; COMMIT" for the rows Redis took. */
static char *
hk_inmove_rows_sql(void)
{
	size_t cap = 64 + (size_t)hk_inmove.nrows * 42, o;
	char *sql;

	if (hk_inmove.nmoved == 0 || (sql = malloc(cap)) == NULL)
		return NULL;
	o = (size_t)snprintf(sql, cap, "DELETE FROM inbox WHERE id IN (");
	for (int r = 0, n = 0; r < hk_inmove.nrows; r++)
		if (hk_inmove.moved[r])
			o += (size_t)snprintf(sql + o, cap - o, "%s'%s'",
			    n++ ? "," : "", PQgetvalue(hk_inmove.rows, r, 0));
	snprintf(sql + o, cap - o, "); COMMIT");
	return sql;
}

static void
hk_inmove_finish(void)
{
	char *sql = hk_inmove_rows_sql();

	hk_inmove_send(sql != NULL ? sql : "ROLLBACK", HK_INMOVE_FINISH);
	free(sql);
}

static void
hk_inmove_eval_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	int row = (int)((uintptr_t)arg & 0xffff);

	/* A reply for a batch that was given up is not this batch's. */
	if (hk_inmove.state != HK_INMOVE_REDIS
	    || ((uintptr_t)arg >> 16) != (hk_inmove.gen & 0xffff))
		return;
	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
		hk_inmove.moved[row] = 1;
		hk_inmove.nmoved++;
	}
	if (++hk_inmove.replies == hk_inmove.nrows)
		hk_inmove_finish();
}

/* hk_inmove_eval - the ingest's script for one inbox row. */
static int
hk_inmove_eval(int r)
{
	const PGresult *res = hk_inmove.rows;
	const char *argv[14];
	size_t lens[14], blen = 0;
	unsigned char *body;
	char *key = NULL;
	int n = 0, rc;

	if ((body = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r,
	    6), &blen)) == NULL)
		return HK_ERROR;
	argv[n++] = "EVAL";
	argv[n++] = hk_store_script_text();
	if (!PQgetisnull(res, r, 2) && asprintf(&key, "%sdedup:%s:%s",
	    hk_inmove.conf->redis.prefix, PQgetvalue(res, r, 1),
	    PQgetvalue(res, r, 2)) > 0) {
		argv[n++] = "2";
		argv[n++] = key;
	} else
		argv[n++] = "1";
	argv[n++] = hk_inmove.stream;
	for (int c = 0; c < 6; c++)		/* id .. headers */
		if (c != 2)
			argv[n++] = PQgetvalue(res, r, c);
	argv[n++] = (const char *)body;
	argv[n++] = PQgetvalue(res, r, 7);
	if (!PQgetisnull(res, r, 2))
		argv[n++] = PQgetvalue(res, r, 2);	/* the key, kept */
	for (int i = 0; i < n; i++)
		lens[i] = argv[i] == (const char *)body ? blen : strlen(argv[i]);
	rc = hk_dlredis_cmd(hk_inmove.redis, hk_inmove_eval_done,
	    (void *)(uintptr_t)((uintptr_t)r | (uintptr_t)(hk_inmove.gen
	    & 0xffff) << 16), n, argv, lens);
	free(key);
	PQfreemem(body);
	return rc;
}

/* hk_inmove_selected - the locked rows are here: into the stream. */
static void
hk_inmove_selected(void)
{
	hk_inmove.nrows = PQntuples(hk_inmove.rows);
	hk_inmove.replies = hk_inmove.nmoved = 0;
	hk_inmove.gen++;
	if (hk_inmove.nrows == 0 || (hk_inmove.moved = calloc(
	    (size_t)hk_inmove.nrows, 1)) == NULL) {
		hk_inmove_send("COMMIT", HK_INMOVE_FINISH);
		return;
	}
	hk_inmove.state = HK_INMOVE_REDIS;
	for (int r = 0; r < hk_inmove.nrows; r++)
		if (hk_inmove_eval(r) != HK_OK) {
			/* The replies already asked for still come. */
			hk_inmove.replies += hk_inmove.nrows - r;
			if (hk_inmove.replies == hk_inmove.nrows)
				hk_inmove_finish();
			return;
		}
}

/* hk_inmove_done - a step's results are all in. */
static void
hk_inmove_done(int ok)
{
	int state = hk_inmove.state, more;

	evtimer_del(hk_inmove.timer_ev);
	if (!ok) {
		hk_inmove_reset_pq();
		return;
	}
	if (state == HK_INMOVE_SELECT) {
		hk_inmove_selected();
		return;
	}
	more = hk_inmove.nmoved == HK_INMOVE_BATCH;
	if (hk_inmove.nmoved > 0)
		hk_log_info("delivery: moved %d events from the PostgreSQL "
		    "inbox into the stream", hk_inmove.nmoved);
	hk_inmove.failed_logged = 0;
	if (hk_inmove.rows != NULL)
		PQclear(hk_inmove.rows);
	hk_inmove.rows = NULL;
	free(hk_inmove.moved);
	hk_inmove.moved = NULL;
	hk_inmove.state = HK_INMOVE_IDLE;
	if (more)
		hk_inmove_kick();
}

static void
hk_inmove_io_cb(evutil_socket_t fd, short what, void *arg)
{
	PGresult *res;
	int ok = 1;

	if (hk_inmove.state == HK_INMOVE_CONNECTING) {
		hk_inmove_step();
		return;
	}
	if (!PQconsumeInput(hk_inmove.pg)) {
		hk_inmove_reset_pq();
		return;
	}
	while (!PQisBusy(hk_inmove.pg)) {
		if ((res = PQgetResult(hk_inmove.pg)) == NULL) {
			hk_inmove_done(ok);
			return;
		}
		if (PQresultStatus(res) == PGRES_TUPLES_OK
		    && hk_inmove.state == HK_INMOVE_SELECT) {
			hk_inmove.rows = res;
			continue;
		}
		if (PQresultStatus(res) != PGRES_COMMAND_OK
		    && PQresultStatus(res) != PGRES_TUPLES_OK)
			ok = 0;
		PQclear(res);
	}
}

/* hk_inmove_watch - one event on the socket, as libpq asks. */
static int
hk_inmove_watch(short what)
{
	int fd = PQsocket(hk_inmove.pg);

	if (hk_inmove.io_ev != NULL)
		event_free(hk_inmove.io_ev);
	hk_inmove.io_ev = fd < 0 ? NULL : event_new(hk_inmove.base, fd, what,
	    hk_inmove_io_cb, NULL);
	if (hk_inmove.io_ev == NULL)
		return HK_ERROR;
	event_add(hk_inmove.io_ev, NULL);
	return HK_OK;
}

/* hk_inmove_step - one step of PQconnectPoll; when connected, select. */
static void
hk_inmove_step(void)
{
	switch (PQconnectPoll(hk_inmove.pg)) {
	case PGRES_POLLING_READING:
		if (hk_inmove_watch(EV_READ) != HK_OK)
			hk_inmove_reset_pq();
		return;
	case PGRES_POLLING_WRITING:
		if (hk_inmove_watch(EV_WRITE) != HK_OK)
			hk_inmove_reset_pq();
		return;
	case PGRES_POLLING_OK:
		break;
	default:
		hk_inmove_reset_pq();
		return;
	}
	hk_inmove.wr_ev = event_new(hk_inmove.base, PQsocket(hk_inmove.pg),
	    EV_WRITE, hk_inmove_wr_cb, NULL);
	if (PQsetnonblocking(hk_inmove.pg, 1) != 0 || hk_inmove.wr_ev == NULL
	    || hk_inmove_watch(EV_READ | EV_PERSIST) != HK_OK) {
		hk_inmove_reset_pq();
		return;
	}
	hk_inmove_send(hk_inmove_select_sql, HK_INMOVE_SELECT);
}

void
hk_inmove_kick(void)
{
	const char *keys[] = { "application_name", "dbname", NULL };
	const char *vals[] = { "hookd inbox mover", hk_inmove.url, NULL };
	struct timeval tv = { HK_INMOVE_STEP_MS / 1000, 0 };

	if (hk_inmove.base == NULL || hk_inmove.stopping
	    || hk_inmove.state != HK_INMOVE_IDLE || !hk_inmove.redis->up)
		return;
	if (hk_inmove.pg != NULL) {
		hk_inmove_send(hk_inmove_select_sql, HK_INMOVE_SELECT);
		return;
	}
	hk_inmove.pg = PQconnectStartParams(keys, vals, 1);
	if (hk_inmove.pg == NULL || PQstatus(hk_inmove.pg) == CONNECTION_BAD) {
		hk_inmove_reset_pq();
		return;
	}
	hk_inmove.state = HK_INMOVE_CONNECTING;
	evtimer_add(hk_inmove.timer_ev, &tv);
	if (hk_inmove_watch(EV_WRITE) != HK_OK)
		hk_inmove_reset_pq();
}

static void
hk_inmove_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_inmove_reset("postgres: no answer in time");
}

int
hk_inmove_init(struct event_base *base, const struct hk_conf *conf,
    struct hk_dlredis *redis, const char *stream)
{
	memset(&hk_inmove, 0, sizeof(hk_inmove));
	hk_inmove.base = base;
	hk_inmove.conf = conf;
	hk_inmove.redis = redis;
	hk_inmove.stream = stream;
	hk_inmove.url = strdup(conf->postgres.url ? conf->postgres.url : "");
	hk_inmove.timer_ev = evtimer_new(base, hk_inmove_timer_cb, NULL);
	return hk_inmove.url != NULL && hk_inmove.timer_ev != NULL
	    ? HK_OK : HK_ERROR;
}

void
hk_inmove_stop(void)
{
	hk_inmove.stopping = 1;
}

void
hk_inmove_shutdown(void)
{
	if (hk_inmove.base == NULL)
		return;
	hk_inmove.state = HK_INMOVE_IDLE;
	hk_inmove_reset(NULL);
	event_free(hk_inmove.timer_ev);
	free(hk_inmove.url);
	memset(&hk_inmove, 0, sizeof(hk_inmove));
}
