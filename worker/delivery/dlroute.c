/*
 * dlroute.c - the dispatcher's entry: an event is routed to its
 * destinations, its rows are written, and each new row gets a job on its
 * destination's queue (dlqueue.c).  It also sets up and tears down the
 * layers under it (see dispatch.h for the map).
 *
 * A new event is attempted first when every destination that wants it can
 * start now (hk_dlroute_fresh; see dispatch.h): its rows are written
 * with the outcomes.  Otherwise, and for an entry read again, claimed or
 * copied (not new: see hk_dlgroup_fresh), the rows come first:
 *
 * Life of an entry: its event row and one deliveries row per routed
 * destination go to PostgreSQL in one statement (batched with everything
 * else queued, dlstore.c); a delivery row carries its event's
 * received_at, the tables' partition key (sql/003_partitions.sql).  Rows
 * that already existed (the entry was read before, by a worker that died)
 * are not attempted from here: whoever inserted them leased them, and the
 * scanner takes them once the lease runs out.  Each new row gets a job on
 * its destination's queue.
 *
 * Lease: a row being attempted has next_attempt_at = now() + 2 x the
 * longest destination timeout (+1 s), set when it is inserted or claimed,
 * so no other worker claims it meanwhile, and a worker that crashed holding
 * it only delays it by the lease.
 *
 * Fan-out independence: a destination's in-memory queue holds at most
 * 4 x its concurrency (at least 64).  Past that, or while its breaker is
 * open, a new delivery is written as due (or due when the breaker closes)
 * and left to the scanner, which only claims for destinations with room.
 * Such a delivery counts as decided for the entry's ack: its row is
 * committed and the scanner owns it, so a dead destination never holds up
 * the stream, nor the other destinations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "confroute.h"
#include "core.h"
#include "dispatch.h"
#include "dlbatch.h"
#include "dlstore.h"
#include "log.h"
#include "ring.h"

static struct {
	struct hk_dlbatch *rows_b;	/* events and their deliveries */
	struct hk_dlbatch *new_rows_b;	/* the same, of new entries */
	const void *rows_res;		/* the result rows_at points into */
	int       rows_at;
} hk_dlroute;

/*
 * Events and their deliveries, a batch of events in one statement
 * (dlbatch.c): per event its row's fields, then its deliveries as four
 * parallel array literals (destination, status, the delay before it is due
 * (the lease, or when it is left to the scanner), and an error for the dead
 * ones), '{}' for none, then its idempotency key and its event type (NULL:
 * none).  Only new delivery rows come back.
 */
#define HK_DLROUTE_ROWS(ev_conflict, dl_conflict)			\
    "WITH t AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]," \
    "  $4::text[], $5::text[], $6::bytea[], $7::text[], $8::text[],"	\
    "  $9::text[], $10::text[], $11::text[], $12::text[])"		\
    "  AS t(id, src, rcv, ct, h, b, d, s, us, e, k, ty)),"		\
    " e AS (INSERT INTO events (id, source, idempotency_key, received_at," \
    "  content_type, headers, body, event_type)"			\
    "  SELECT id::uuid, src, k, rcv::timestamptz, ct, h::jsonb, b, ty"	\
    "  FROM t" ev_conflict ") "						\
    "INSERT INTO deliveries (event_id, destination, received_at, status," \
    " next_attempt_at, last_error)"					\
    " SELECT t.id::uuid, x.d, t.rcv::timestamptz, x.s,"			\
    "  now() + x.us * interval '1 microsecond', nullif(x.e, '')"	\
    " FROM t, unnest(t.d::text[], t.s::text[], t.us::bigint[], t.e::text[])" \
    "  AS x(d, s, us, e)" dl_conflict					\
    " RETURNING event_id, destination"

static const char hk_dlroute_rows_sql[] = HK_DLROUTE_ROWS(
    "  ON CONFLICT (id, received_at) DO NOTHING",
    " ON CONFLICT (event_id, destination, received_at) DO NOTHING");
/* For new entries (hk_dlgroup_fresh): optimistic, the former in its place
 * when a row was there after all (hk_dlstore_submit_alt). */
static const char hk_dlroute_new_rows_sql[] = HK_DLROUTE_ROWS("", "");

#define HK_DLROUTE_BATCH  256	/* events a statement, at most */

static const Oid hk_dlroute_cols[12] = { HK_DLSTORE_OID_TEXT,
	HK_DLSTORE_OID_TEXT, HK_DLSTORE_OID_TEXT, HK_DLSTORE_OID_TEXT,
	HK_DLSTORE_OID_TEXT, HK_DLSTORE_OID_BYTEA, HK_DLSTORE_OID_TEXT,
	HK_DLSTORE_OID_TEXT, HK_DLSTORE_OID_TEXT, HK_DLSTORE_OID_TEXT,
	HK_DLSTORE_OID_TEXT, HK_DLSTORE_OID_TEXT };

/* hk_dlroute_routes - does destination d take events of source? */
static int
hk_dlroute_routes(const struct hk_conf_dest *d, const char *source)
{
	for (int i = 0; i < d->nsources; i++)
		if (strcmp(d->sources[i], source) == 0)
			return 1;
	return 0;
}

/*
 * hk_dlroute_filtered - ev is stored but no destination of its source
 * wants it: a record in the ring, counted by the stats process
 * (hookd_events_filtered_total).
 */
static void
hk_dlroute_filtered(const struct hk_dl_event *ev)
{
	const struct hk_conf *conf = hk_dispatch.conf;
	const struct hk_conf_source *src;
	struct hk_rec rec;

	if (!conf->metrics.enabled || (src = hk_conf_source(conf, ev->source,
	    strlen(ev->source))) == NULL)
		return;
	memset(&rec, 0, sizeof(rec));
	rec.ts_us = hk_clock_real_us();
	rec.kind = HK_REC_FILTERED;
	rec.source = (uint16_t)(src - conf->sources);
	rec.dest = UINT16_MAX;
	memcpy(rec.id, ev->idb, sizeof(rec.id));
	hk_ring_push(&hk_dispatch.child->slot->ring, &rec);
}

/* The deliveries insert of one event, and which rows it attempts itself. */
struct hk_dlroute_ins {
	struct hk_dl_event *ev;
	int       nroutes;		/* destinations it goes to */
	uint8_t   direct[(HK_CONF_MAX_DESTS + 7) / 8];
};

/* hk_dlroute_mode - how destination d gets ev: its row's fields. */
static int
hk_dlroute_mode(int d, const char **st, const char **err, uint64_t *us)
{
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];

	*st = "pending";
	*err = "";
	/* Left to the scanner: due now, or when the breaker closes; a
	 * disabled destination's stay due, held until it is enabled, and
	 * until a new worker has read which are disabled, the scanner
	 * (which skips them itself) takes every one. */
	if ((*us = hk_dispatch_open_left_us(d, hk_clock_mono_ns())) > 0
	    || dd->disabled || !hk_dispatch.disabled_read
	    || !hk_dispatch_room(d) || hk_dispatch.stopping)
		return 0;
	*us = hk_dispatch.lease_us;
	dd->reserved++;
	return 1;
}

/* hk_dlroute_rows_args - the routing arrays of one event's deliveries. */
static int
hk_dlroute_rows_args(struct hk_dlroute_ins *in, char *a[4], size_t cap)
{
	const struct hk_conf *conf = hk_dispatch.conf;
	const struct hk_dl_event *ev = in->ev;
	const struct hk_confroute_event rev = { ev->event_type, ev->ctype,
	    ev->ctype_len, ev->headers, ev->headers_len, ev->body,
	    ev->body_len };
	size_t o[4] = { 1, 1, 1, 1 };
	const char *st, *err;
	uint64_t us;
	int n = 0, subscribed = 0;

	for (int k = 0; k < 4; k++)
		a[k][0] = '{';
	for (int d = 0; d < conf->ndests; d++) {
		if (!hk_dlroute_routes(&conf->dests[d], in->ev->source))
			continue;
		subscribed++;
		if (!hk_confroute_wants(&conf->dests[d], &rev))
			continue;
		if (hk_dlroute_mode(d, &st, &err, &us))
			in->direct[d / 8] |= (uint8_t)(1u << (d % 8));
		o[0] += (size_t)snprintf(a[0] + o[0], cap - o[0], "%s\"%s\"",
		    n ? "," : "", conf->dests[d].name);
		o[1] += (size_t)snprintf(a[1] + o[1], cap - o[1], "%s%s",
		    n ? "," : "", st);
		o[2] += (size_t)snprintf(a[2] + o[2], cap - o[2], "%s%llu",
		    n ? "," : "", (unsigned long long)us);
		o[3] += (size_t)snprintf(a[3] + o[3], cap - o[3], "%s\"%s\"",
		    n ? "," : "", err);
		n++;
	}
	for (int k = 0; k < 4; k++)
		snprintf(a[k] + o[k], cap - o[k], "}");
	if (subscribed > 0 && n == 0)
		hk_dlroute_filtered(in->ev);
	return n;
}

/*
 * hk_dlroute_rows_mine - which rows of res are id's (at most want), into
 * rows; how many.  A batch's rows come back in the order of its events, so
 * an event's rows are those at the cursor; the whole result is searched
 * only when fewer than expected are there (rows that already existed).
 */
static int
hk_dlroute_rows_mine(const PGresult *res, const char *id, int want,
    int *rows)
{
	int n = PQntuples(res), got = 0, at;

	if (res != hk_dlroute.rows_res) {
		hk_dlroute.rows_res = res;
		hk_dlroute.rows_at = 0;
	}
	at = hk_dlroute.rows_at;
	while (got < want && at < n
	    && strcasecmp(PQgetvalue(res, at, 0), id) == 0)
		rows[got++] = at++;
	hk_dlroute.rows_at = at;
	if (got == want)
		return got;
	got = 0;
	for (int r = 0; r < n && got < want; r++)
		if (strcasecmp(PQgetvalue(res, r, 0), id) == 0)
			rows[got++] = r;
	return got;
}

/* hk_dlroute_rows_done - the deliveries rows are in: start the new ones. */
static void
hk_dlroute_rows_done(void *arg, const PGresult *res)
{
	struct hk_dlroute_ins *in = arg;
	struct hk_dl_event *ev = in->ev;
	const struct hk_conf *conf = hk_dispatch.conf;
	uint64_t store_us = (hk_clock_mono_ns() - ev->picked_ns) / 1000u;
	const struct hk_conf_dest *d;
	struct hk_dl_job *j;
	int rows[HK_CONF_MAX_DESTS], n = 0, di;

	for (di = 0; di < conf->ndests; di++)
		if (in->direct[di / 8] & (1u << (di % 8)))
			hk_dispatch.dests[di].reserved--;
	if (res == NULL)
		ev->failed = 1;
	else if (in->nroutes > 0)
		n = hk_dlroute_rows_mine(res, ev->id, in->nroutes, rows);
	for (int k = 0; k < n; k++) {
		if ((d = hk_conf_dest(conf, PQgetvalue(res, rows[k], 1)))
		    == NULL)
			continue;
		di = (int)(d - conf->dests);
		/* Only the rows leased here; the others are the scanner's. */
		if (!(in->direct[di / 8] & (1u << (di % 8))))
			continue;
		if ((j = hk_dispatch_job_new(ev, di, 1, 1)) == NULL) {
			ev->failed = 1;
			continue;
		}
		j->store_us = store_us;
		hk_dlqueue_add(j);
	}
	ev->waiting--;		/* the hold taken in hk_dlroute_event */
	hk_dispatch_entry_check(ev);
	hk_dispatch_event_put(ev);
	free(in);
}

/*
 * hk_dlroute_fresh - attempt ev first, writing nothing before: when it
 * may (dlgroup.c said so) and every destination that wants it can start
 * now (room in its queue, breaker closed, not disabled, not stopping).
 * Its rows are written with the outcomes (verdict.c).  1 when taken.
 */
static int
hk_dlroute_fresh(struct hk_dl_event *ev)
{
	const struct hk_conf *conf = hk_dispatch.conf;
	const struct hk_confroute_event rev = { ev->event_type, ev->ctype,
	    ev->ctype_len, ev->headers, ev->headers_len, ev->body,
	    ev->body_len };
	int want[HK_CONF_MAX_DESTS], n = 0;
	struct hk_dl_job *j;

	if (!ev->fresh || !hk_dispatch.disabled_read || hk_dispatch.stopping)
		return 0;
	for (int d = 0; d < conf->ndests; d++) {
		const struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];

		if (!hk_dlroute_routes(&conf->dests[d], ev->source)
		    || !hk_confroute_wants(&conf->dests[d], &rev))
			continue;
		if (dd->disabled || dd->open_until_ns != 0
		    || !hk_dispatch_room(d))
			return 0;
		want[n++] = d;
	}
	if (n == 0)
		return 0;	/* stored as before: one statement, no attempt */
	/* Every job exists before the first starts: an attempt that fails at
	 * once must not find its event's list short. */
	for (int k = 0; k < n; k++) {
		if ((j = hk_dispatch_job_new(ev, want[k], 1, 1)) == NULL)
			break;
		j->fresh = 1;
		TAILQ_INSERT_TAIL(&ev->fresh_jobs, j, evlink);
		ev->fresh_left++;
	}
	if (ev->fresh_left < n) {
		/* Out of memory: nothing was sent; free what was made and
		 * leave the entry pending. */
		while ((j = TAILQ_FIRST(&ev->fresh_jobs)) != NULL) {
			TAILQ_REMOVE(&ev->fresh_jobs, j, evlink);
			hk_dispatch_job_free(j, 0);
		}
		ev->fresh_left = 0;
		return 1;
	}
	TAILQ_FOREACH(j, &ev->fresh_jobs, evlink)
		j->store_us = 0;
	/* A list copy: an attempt may end, and its event be written, from
	 * inside hk_dlqueue_add. */
	{
		struct hk_dl_job *jobs[HK_CONF_MAX_DESTS];
		int k = 0;

		TAILQ_FOREACH(j, &ev->fresh_jobs, evlink)
			jobs[k++] = j;
		for (int i = 0; i < k; i++)
			hk_dlqueue_add(jobs[i]);
	}
	return 1;
}

void
hk_dlroute_event(struct hk_dl_event *ev)
{
	size_t cap = (size_t)hk_dispatch.conf->ndests * 80 + 8;
	const char *v[12] = { ev->id, ev->source, ev->received_at, ev->ctype,
	    ev->headers, ev->body, NULL, NULL, NULL, NULL,
	    ev->idem_key[0] ? ev->idem_key : NULL,
	    ev->event_type[0] ? ev->event_type : NULL };
	int l[12] = { (int)strlen(ev->id), (int)strlen(ev->source),
	    (int)strlen(ev->received_at), (int)ev->ctype_len,
	    (int)ev->headers_len, (int)ev->body_len, 0, 0, 0, 0,
	    (int)strlen(ev->idem_key), (int)strlen(ev->event_type) };
	struct hk_dlroute_ins *in;
	char *a[4];

	if (hk_dlroute_fresh(ev)) {
		hk_dispatch_event_put(ev);	/* the caller's reference */
		return;
	}
	in = calloc(1, sizeof(*in));
	for (int k = 0; k < 4; k++)
		a[k] = malloc(cap);
	/* The entry is held until its rows are in (waiting), and ev lives
	 * until the statement's callback (refs). */
	ev->waiting++;
	ev->refs++;
	if (in == NULL || !a[0] || !a[1] || !a[2] || !a[3]) {
		hk_log_error("delivery: out of memory routing event %s", ev->id);
		free(in);
		ev->failed = 1;
		ev->waiting--;
		ev->refs--;
		hk_dispatch_entry_check(ev);
	} else {
		in->ev = ev;
		in->nroutes = hk_dlroute_rows_args(in, a, cap);
		for (int k = 0; k < 4; k++) {
			v[k + 6] = a[k];
			l[k + 6] = (int)strlen(a[k]);
		}
		if (hk_dlbatch_add(ev->fresh ? hk_dlroute.new_rows_b
		    : hk_dlroute.rows_b, v, l, hk_dlroute_rows_done, in)
		    != HK_OK) {
			hk_log_error("delivery: out of memory routing event %s",
			    ev->id);
			hk_dlroute_rows_done(in, NULL);	/* frees in */
		}
	}
	for (int k = 0; k < 4; k++)
		free(a[k]);
	hk_dispatch_event_put(ev);	/* the caller's reference */
}

/*
 * hk_dlroute_init - the dispatcher, bottom up: state, queues, then the
 * batches (this order is the order their statements take in a pipeline),
 * then the scanner.
 */
int
hk_dlroute_init(struct hk_child *c, hk_dispatch_done_fn done)
{
	memset(&hk_dlroute, 0, sizeof(hk_dlroute));
	if (hk_dispatch_init(c, done) != HK_OK || hk_dlqueue_init() != HK_OK)
		return HK_ERROR;
	hk_dlroute.rows_b = hk_dlbatch_new(hk_dlroute_rows_sql, NULL, 12,
	    hk_dlroute_cols, HK_DLROUTE_BATCH, 1);
	hk_dlroute.new_rows_b = hk_dlbatch_new(hk_dlroute_new_rows_sql,
	    hk_dlroute_rows_sql, 12, hk_dlroute_cols, HK_DLROUTE_BATCH, 1);
	if (hk_verdict_init() != HK_OK || hk_dlroute.rows_b == NULL
	    || hk_dlroute.new_rows_b == NULL)
		return HK_ERROR;
	if (hk_dlscan_init() != HK_OK)
		return HK_ERROR;
	return HK_OK;
}

/* hk_dlroute_shutdown - free what is left; rows stay leased, not lost. */
void
hk_dlroute_shutdown(void)
{
	if (hk_dispatch.dests == NULL)
		return;
	hk_dlqueue_shutdown();
	hk_dlscan_shutdown();
	hk_dlbatch_free(hk_dlroute.rows_b);
	hk_dlbatch_free(hk_dlroute.new_rows_b);
	hk_verdict_shutdown();
	hk_dispatch_shutdown();
	memset(&hk_dlroute, 0, sizeof(hk_dlroute));
}
