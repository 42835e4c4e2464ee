/*
 * inboxmove.c - the inbox mover (see inboxmove.h).
 *
 * A transaction must stay open while the rows are in Redis, so the mover
 * has a PostgreSQL connection of its own (a pgconn, made on the first kick
 * and kept), used one step at a time, each step a pipeline ending in a
 * Sync: "BEGIN", "SELECT ... FOR UPDATE SKIP LOCKED" (an explicit
 * transaction outlives its Sync), then the ingest's script once per row on
 * the worker's command connection (pipelined, so they run in order: oldest
 * first), then "DELETE ...", "COMMIT" for the rows Redis took, or ROLLBACK
 * when it took none.  A statement that fails is rolled back; a connection
 * that fails rolls back by itself.  Either way the next kick starts over.
 *
 * With redis.replicas_ack = N the scripts are followed by WAIT N
 * replicas_timeout_ms, and the rows are deleted only when N replicas have
 * them: an event the ingest put in the inbox because the replicas were
 * short was answered 2xx on the strength of PostgreSQL, and must not leave
 * it for a master whose failover could still lose it.  Short, only the
 * rows whose event the pool has written to events since (from an earlier
 * copy in the stream) are deleted, and the mover goes on while that makes
 * progress; the copies left in the stream are harmless (the event id and
 * the dedup key make them one event).
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
#include "pgconn.h"

#define HK_INBOXMOVE_BATCH     64
#define HK_INBOXMOVE_STEP_MS   10000

enum { HK_INBOXMOVE_IDLE, HK_INBOXMOVE_SELECT, HK_INBOXMOVE_REDIS,
    HK_INBOXMOVE_FINISH, HK_INBOXMOVE_ROLLBACK };

static const char hk_inboxmove_select_sql[] =
    "SELECT id::text, source, idempotency_key,"
    " to_char(received_at AT TIME ZONE 'UTC',"
    "  'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " content_type, headers::text, body, dedup_window_s, event_type"
    " FROM inbox ORDER BY received_at, id LIMIT 64 FOR UPDATE SKIP LOCKED";

static struct {
	struct event_base *base;
	const struct hk_conf *conf;
	struct hk_dlredis *redis;
	const char   *stream;
	struct hk_pgconn pg;
	int           state;
	int           stopping;
	int           step_failed;	/* a statement of this step failed */
	char          why[160];		/* and why */
	PGresult     *rows;
	int           nrows, replies;
	int           want;		/* replies awaited: rows, and the WAIT */
	int           acked;		/* replicas_ack: WAIT said enough */
	int           deleted;		/* inbox rows the DELETE took */
	int           short_logged;
	char         *moved;		/* one flag per row */
	int           nmoved;
	unsigned      gen;		/* batch number, tags Redis replies */
	int           failed_logged;
} hk_inboxmove;

/* hk_inboxmove_forget - the batch is over, whatever became of it. */
static void
hk_inboxmove_forget(void)
{
	if (hk_inboxmove.rows != NULL)
		PQclear(hk_inboxmove.rows);
	hk_inboxmove.rows = NULL;
	free(hk_inboxmove.moved);
	hk_inboxmove.moved = NULL;
	hk_inboxmove.state = HK_INBOXMOVE_IDLE;
}

/* hk_inboxmove_send - one step: one or two statements and a Sync. */
static void
hk_inboxmove_send(int state, const char *sql1, const char *sql2)
{
	struct hk_pgconn *pg = &hk_inboxmove.pg;

	/* The state first: a send that fails resets it (hk_inboxmove_down). */
	hk_inboxmove.state = state;
	hk_inboxmove.step_failed = 0;
	if (hk_pgconn_send_params(pg, sql1, 0, NULL, NULL, NULL, NULL) != HK_OK
	    || (sql2 != NULL && hk_pgconn_send_params(pg, sql2, 0, NULL, NULL,
	    NULL, NULL) != HK_OK))
		return;
	hk_pgconn_sync(pg);
}

/* hk_inboxmove_rows_sql - the DELETE of the rows Redis took. */
static char *
hk_inboxmove_rows_sql(void)
{
	size_t cap = 160 + (size_t)hk_inboxmove.nrows * 42, o;
	char *sql;

	if (hk_inboxmove.nmoved == 0 || (sql = malloc(cap)) == NULL)
		return NULL;
	o = (size_t)snprintf(sql, cap, "DELETE FROM inbox WHERE id IN (");
	for (int r = 0, n = 0; r < hk_inboxmove.nrows; r++)
		if (hk_inboxmove.moved[r])
			o += (size_t)snprintf(sql + o, cap - o, "%s'%s'",
			    n++ ? "," : "", PQgetvalue(hk_inboxmove.rows, r, 0));
	/* Not on enough replicas: only what PostgreSQL holds elsewhere. */
	snprintf(sql + o, cap - o, ")%s", hk_inboxmove.acked ? "" : " AND EXISTS"
	    " (SELECT 1 FROM events e WHERE e.id = inbox.id"
	    " AND e.received_at = inbox.received_at)");
	return sql;
}

static void
hk_inboxmove_finish(void)
{
	char *sql = hk_inboxmove_rows_sql();

	if (sql != NULL)
		hk_inboxmove_send(HK_INBOXMOVE_FINISH, sql, "COMMIT");
	else
		hk_inboxmove_send(HK_INBOXMOVE_FINISH, "ROLLBACK", NULL);
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
	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1) {
		hk_inboxmove.moved[row] = 1;
		hk_inboxmove.nmoved++;
	}
	if (++hk_inboxmove.replies == hk_inboxmove.want)
		hk_inboxmove_finish();
}

/* hk_inboxmove_wait_done - how many replicas have the batch's scripts. */
static void
hk_inboxmove_wait_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	int need = hk_inboxmove.conf->redis.replicas_ack;

	if (hk_inboxmove.state != HK_INBOXMOVE_REDIS
	    || ((uintptr_t)arg >> 16) != (hk_inboxmove.gen & 0xffff))
		return;
	hk_inboxmove.acked = rep != NULL && rep->type == REDIS_REPLY_INTEGER
	    && rep->integer >= need;
	if (!hk_inboxmove.acked && !hk_inboxmove.short_logged)
		hk_log_warn("delivery: inbox mover: fewer than %d replicas "
		    "acknowledged (redis.replicas_ack); the events stay in the "
		    "inbox until they do", need);
	hk_inboxmove.short_logged = !hk_inboxmove.acked;
	if (++hk_inboxmove.replies == hk_inboxmove.want)
		hk_inboxmove_finish();
}

/* hk_inboxmove_wait - WAIT behind the batch's scripts (replicas_ack). */
static int
hk_inboxmove_wait(void)
{
	char n[16], ms[16];
	const char *argv[3] = { "WAIT", n, ms };
	size_t lens[3];

	snprintf(n, sizeof(n), "%d", hk_inboxmove.conf->redis.replicas_ack);
	snprintf(ms, sizeof(ms), "%d",
	    hk_inboxmove.conf->redis.replicas_timeout_ms);
	for (int k = 0; k < 3; k++)
		lens[k] = strlen(argv[k]);
	return hk_dlredis_cmd(hk_inboxmove.redis, hk_inboxmove_wait_done,
	    (void *)(uintptr_t)((hk_inboxmove.gen & 0xffff) << 16), 3, argv,
	    lens);
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
	/* Layout: enqscript.h, one event.  No window, no dedup key. */
	argv[n++] = "EVAL";
	argv[n++] = hk_enqscript;
	if (!PQgetisnull(res, r, 2) && atoi(PQgetvalue(res, r, 7)) > 0
	    && asprintf(&key, "%sdedup:%s:%s", hk_inboxmove.conf->redis.prefix,
	    PQgetvalue(res, r, 1), PQgetvalue(res, r, 2)) < 0)
		key = NULL;
	argv[n++] = key != NULL ? "2" : "1";
	argv[n++] = hk_inboxmove.stream;
	if (key != NULL)
		argv[n++] = key;
	for (int c = 0; c < 6; c++)		/* id .. headers */
		if (c != 2)
			argv[n++] = PQgetvalue(res, r, c);
	argv[n++] = (const char *)body;
	argv[n++] = key != NULL ? PQgetvalue(res, r, 7) : "";
	argv[n++] = PQgetvalue(res, r, 2);	/* the key, kept; "" for NULL */
	argv[n++] = PQgetvalue(res, r, 8);	/* the event type, likewise */
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
	hk_inboxmove.replies = hk_inboxmove.nmoved = hk_inboxmove.deleted = 0;
	hk_inboxmove.gen++;
	if (hk_inboxmove.nrows == 0 || (hk_inboxmove.moved = calloc(
	    (size_t)hk_inboxmove.nrows, 1)) == NULL) {
		hk_inboxmove_send(HK_INBOXMOVE_FINISH, "COMMIT", NULL);
		return;
	}
	hk_inboxmove.state = HK_INBOXMOVE_REDIS;
	hk_inboxmove.acked = hk_inboxmove.conf->redis.replicas_ack == 0;
	hk_inboxmove.want = hk_inboxmove.nrows + !hk_inboxmove.acked;
	for (int r = 0; r < hk_inboxmove.nrows; r++)
		if (hk_inboxmove_eval(r) != HK_OK) {
			/* The replies already asked for still come; the WAIT
			 * is not sent, so nothing counts as moved. */
			hk_inboxmove.replies += hk_inboxmove.want - r;
			if (hk_inboxmove.replies == hk_inboxmove.want)
				hk_inboxmove_finish();
			return;
		}
	if (!hk_inboxmove.acked && hk_inboxmove_wait() != HK_OK
	    && ++hk_inboxmove.replies == hk_inboxmove.want)
		hk_inboxmove_finish();
}

/* hk_inboxmove_result - one statement of the step in flight. */
static void
hk_inboxmove_result(void *arg, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_TUPLES_OK && hk_inboxmove.state == HK_INBOXMOVE_SELECT
	    && hk_inboxmove.rows == NULL) {
		hk_inboxmove.rows = res;
		return;
	}
	if (st == PGRES_COMMAND_OK && hk_inboxmove.state == HK_INBOXMOVE_FINISH
	    && strncmp(PQcmdStatus(res), "DELETE", 6) == 0)
		hk_inboxmove.deleted = atoi(PQcmdTuples(res));
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK
	    && !hk_inboxmove.step_failed) {
		hk_inboxmove.step_failed = 1;
		hk_pgconn_why(hk_inboxmove.why, sizeof(hk_inboxmove.why),
		    PQresultErrorMessage(res));
	}
	PQclear(res);
}

/* hk_inboxmove_failed - a step failed: roll back, keep the connection. */
static void
hk_inboxmove_failed(void)
{
	if (!hk_inboxmove.failed_logged)
		hk_log_warn("delivery: inbox mover: postgres: %s; retrying "
		    "later", hk_inboxmove.why);
	hk_inboxmove.failed_logged = 1;
	if (hk_inboxmove.state == HK_INBOXMOVE_ROLLBACK) {
		hk_pgconn_drop(&hk_inboxmove.pg, "ROLLBACK failed");
		return;
	}
	hk_inboxmove_forget();
	hk_inboxmove_send(HK_INBOXMOVE_ROLLBACK, "ROLLBACK", NULL);
}

/* hk_inboxmove_sync - a step's results are all in. */
static void
hk_inboxmove_sync(void *arg)
{
	int more;

	if (hk_inboxmove.step_failed) {
		hk_inboxmove_failed();
		return;
	}
	if (hk_inboxmove.state == HK_INBOXMOVE_SELECT) {
		if (hk_inboxmove.rows == NULL)
			hk_inboxmove_send(HK_INBOXMOVE_FINISH, "COMMIT", NULL);
		else
			hk_inboxmove_selected();
		return;
	}
	if (hk_inboxmove.state == HK_INBOXMOVE_ROLLBACK) {
		hk_inboxmove.state = HK_INBOXMOVE_IDLE;
		return;
	}
	/* Short of replicas, another round while rows leave the inbox. */
	more = hk_inboxmove.acked ? hk_inboxmove.nmoved == HK_INBOXMOVE_BATCH
	    : hk_inboxmove.deleted > 0;
	if (hk_inboxmove.acked && hk_inboxmove.nmoved > 0)
		hk_log_info("delivery: moved %d events from the PostgreSQL "
		    "inbox into the stream", hk_inboxmove.nmoved);
	else if (hk_inboxmove.deleted > 0)
		hk_log_info("delivery: %d events of the PostgreSQL inbox are "
		    "in events now; removed from the inbox",
		    hk_inboxmove.deleted);
	hk_inboxmove.failed_logged = 0;
	hk_inboxmove_forget();
	if (more)
		hk_inboxmove_kick();
}

/* hk_inboxmove_down - the connection went, and the transaction with it. */
static void
hk_inboxmove_down(void *arg)
{
	hk_inboxmove_forget();
}

static void
hk_inboxmove_up(void *arg)
{
	hk_inboxmove_kick();
}

static const struct hk_pgconn_ops hk_inboxmove_ops = {
	.name = "inbox mover",
	.appname = "hookd inbox mover",
	.down_note = "inbox events wait until it is back",
	.query_ms = HK_INBOXMOVE_STEP_MS,
	.on_up = hk_inboxmove_up,
	.on_result = hk_inboxmove_result,
	.on_sync = hk_inboxmove_sync,
	.on_down = hk_inboxmove_down,
};

void
hk_inboxmove_kick(void)
{
	if (hk_inboxmove.base == NULL || hk_inboxmove.stopping
	    || hk_inboxmove.state != HK_INBOXMOVE_IDLE || !hk_inboxmove.redis->up)
		return;
	if (!hk_pgconn_up(&hk_inboxmove.pg)) {
		hk_pgconn_start(&hk_inboxmove.pg);	/* on_up kicks */
		return;
	}
	hk_inboxmove_send(HK_INBOXMOVE_SELECT, "BEGIN", hk_inboxmove_select_sql);
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
	return hk_pgconn_init(&hk_inboxmove.pg, base, conf->postgres.url,
	    &hk_inboxmove_ops, NULL);
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
	hk_pgconn_close(&hk_inboxmove.pg);
	hk_inboxmove_forget();
	memset(&hk_inboxmove, 0, sizeof(hk_inboxmove));
}
