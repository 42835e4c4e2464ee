/*
 * pgsampler.c - PostgreSQL's storage figures for /metrics (see
 * pgsampler.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "core.h"
#include "log.h"
#include "pgsampler.h"

const char *const hk_pgsampler_tables[HK_PGSAMPLER_TABLES] = {
	"events", "deliveries", "attempts", "inbox",
};

/* Bytes per table, partitions included (pg_partition_tree has no row
 * for a table that is not partitioned: the inbox). */
static const char hk_pgsampler_bytes_sql[] =
    "SELECT t.name, coalesce(sum(pg_total_relation_size(p.relid)), 0)::bigint"
    " FROM unnest(ARRAY['events', 'deliveries', 'attempts', 'inbox']) t(name)"
    " CROSS JOIN LATERAL (SELECT relid FROM pg_partition_tree(t.name::regclass)"
    "  UNION SELECT t.name::regclass) p"
    " GROUP BY t.name";

static const char hk_pgsampler_oldest_sql[] =
    "SELECT coalesce(extract(epoch FROM min(received_at)), 0) FROM events";

/* Days past their retention, kept for deliveries pending or retrying. */
static const char hk_pgsampler_kept_sql[] =
    "SELECT count(*) FROM hookd_storage_days($1::int)"
    " WHERE drop_at <= now() AND pending > 0";

/*
 * What alerts watch.  Each count is read from a partial index.  Deliveries
 * of a disabled destination are held on purpose, not overdue:
 * hookd_destination_disabled says so instead.
 */
static const char hk_pgsampler_queue_sql[] =
    "SELECT (SELECT count(*) FROM deliveries WHERE status = 'dead'),"
    "  (SELECT count(*) FROM deliveries WHERE status IN ('pending', 'retrying')"
    "    AND next_attempt_at < now() - interval '1 minute'"
    "    AND destination <> ALL (SELECT destination FROM destination_state"
    "      WHERE disabled)),"
    "  (SELECT count(*) FROM inbox)";

/* Destinations switched off: after a 410, or by an operator. */
static const char hk_pgsampler_disabled_sql[] =
    "SELECT destination FROM destination_state WHERE disabled";

/* hk_pgsampler_disabled - mark the configured destinations the result names. */
static void
hk_pgsampler_disabled(struct hk_pgsampler *s, const PGresult *res)
{
	for (int d = 0; d < s->conf->ndests; d++) {
		s->disabled[d] = 0;
		for (int r = 0; r < PQntuples(res); r++)
			if (strcmp(PQgetvalue(res, r, 0),
			    s->conf->dests[d].name) == 0)
				s->disabled[d] = 1;
	}
}

static void
hk_pgsampler_result(void *arg, PGresult *res)
{
	struct hk_pgsampler *s = arg;
	int step = s->step++;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		s->ok = 0;
		PQclear(res);
		return;
	}
	if (step == 0) {
		for (int r = 0; r < PQntuples(res); r++)
			for (int t = 0; t < HK_PGSAMPLER_TABLES; t++)
				if (strcmp(PQgetvalue(res, r, 0),
				    hk_pgsampler_tables[t]) == 0)
					s->bytes[t] = strtoll(PQgetvalue(res,
					    r, 1), NULL, 10);
	} else if (step == 1 && PQntuples(res) == 1)
		s->oldest_s = strtod(PQgetvalue(res, 0, 0), NULL);
	else if (step == 2 && PQntuples(res) == 1)
		s->kept_days = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	else if (step == 3 && PQntuples(res) == 1 && PQnfields(res) == 3) {
		s->dead = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		s->overdue = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		s->inbox = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	} else if (step == 4)
		hk_pgsampler_disabled(s, res);
	PQclear(res);
}

static void
hk_pgsampler_sync(void *arg)
{
	struct hk_pgsampler *s = arg;

	s->busy = 0;
	s->up = 1;
	if (s->ok)
		s->sampled_us = hk_clock_real_us();
}

static void
hk_pgsampler_down(void *arg)
{
	struct hk_pgsampler *s = arg;

	s->busy = 0;
	s->up = 0;
}

static void
hk_pgsampler_up_cb(void *arg)
{
	struct hk_pgsampler *s = arg;

	s->sent_ns = 0;		/* a round at the next tick */
}

static const struct hk_pgconn_ops hk_pgsampler_ops = {
	.name = "stats",
	.appname = "hookd stats",
	.down_note = "storage figures in /metrics stop until it is back",
	.query_ms = 5000,
	.on_up = hk_pgsampler_up_cb,
	.on_result = hk_pgsampler_result,
	.on_sync = hk_pgsampler_sync,
	.on_down = hk_pgsampler_down,
};

int
hk_pgsampler_init(struct hk_pgsampler *s, struct event_base *base,
    const struct hk_conf *conf)
{
	memset(s, 0, sizeof(*s));
	s->conf = conf;
	/* One more than needed: malloc(0) may answer NULL. */
	if ((s->disabled = malloc((size_t)conf->ndests + 1)) == NULL)
		return HK_ERROR;
	memset(s->disabled, -1, (size_t)conf->ndests + 1);
	s->up = -1;
	s->oldest_s = -1;
	s->kept_days = -1;
	s->dead = s->overdue = s->inbox = -1;
	for (int t = 0; t < HK_PGSAMPLER_TABLES; t++)
		s->bytes[t] = -1;
	s->retention_days = conf->postgres.retention_days;
	if (hk_pgconn_init(&s->pg, base, conf->postgres.url, &hk_pgsampler_ops,
	    s) != HK_OK)
		return HK_ERROR;
	hk_pgconn_start(&s->pg);
	return HK_OK;
}

void
hk_pgsampler_tick(struct hk_pgsampler *s)
{
	uint64_t now = hk_clock_mono_ns();
	char days[16];
	const char *vals[1] = { days };

	if (s->busy || !hk_pgconn_up(&s->pg) || (s->sent_ns != 0
	    && now - s->sent_ns < HK_PGSAMPLER_PERIOD_MS * 1000000ull))
		return;
	snprintf(days, sizeof(days), "%d", s->retention_days);
	s->sent_ns = now;
	s->step = 0;
	s->ok = 1;
	if (hk_pgconn_send_params(&s->pg, hk_pgsampler_bytes_sql, 0, NULL,
	    NULL, NULL, NULL) != HK_OK
	    || hk_pgconn_send_params(&s->pg, hk_pgsampler_oldest_sql, 0, NULL,
	    NULL, NULL, NULL) != HK_OK
	    || hk_pgconn_send_params(&s->pg, hk_pgsampler_kept_sql, 1, NULL,
	    vals, NULL, NULL) != HK_OK
	    || hk_pgconn_send_params(&s->pg, hk_pgsampler_queue_sql, 0, NULL,
	    NULL, NULL, NULL) != HK_OK
	    || hk_pgconn_send_params(&s->pg, hk_pgsampler_disabled_sql, 0,
	    NULL, NULL, NULL, NULL) != HK_OK
	    || hk_pgconn_sync(&s->pg) != HK_OK)
		return;
	s->busy = 1;
}

void
hk_pgsampler_free(struct hk_pgsampler *s)
{
	hk_pgconn_close(&s->pg);
	free(s->disabled);
	s->disabled = NULL;
}
