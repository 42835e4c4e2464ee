/*
 * dispatch.c - routing, per-destination queues and their limits (see
 * dispatch.h).  What an attempt's outcome means is verdict.c's business.
 *
 * Life of an entry: its event row and one deliveries row per routed
 * destination go to PostgreSQL in one statement (batched with everything
 * else queued, dlstore.c).  Rows that already existed (the entry
 * was read before, by a worker that died) are not attempted from here:
 * whoever inserted them leased them, and the scanner takes them once the
 * lease runs out.  Each new row gets a job on its destination's queue.
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
 *
 * Limits per destination, per worker: concurrency (HTTP requests in
 * flight), rate_per_s as a token bucket (burst = max(1, rate)), and a
 * circuit breaker: HK_DISPATCH_TRIP consecutive failures open it for
 * HK_DISPATCH_OPEN_S seconds, during which its queue is rescheduled in
 * PostgreSQL; then one probe goes out, and its success closes the breaker
 * (a failure opens it again).  With N workers a destination sees up to N
 * times the configured concurrency and rate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "dispatch.h"
#include "dlbatch.h"
#include "dlstore.h"
#include "log.h"
#include "outbound.h"
#include "uuid.h"


struct hk_dispatch_state hk_dispatch;

/*
 * Events and their deliveries, a batch of events in one statement
 * (dlbatch.c): per event its row's fields, then its deliveries as four
 * parallel array literals (destination, status, the delay before it is due
 * (the lease, or when it is left to the scanner), and an error for the dead
 * ones), '{}' for none, then its idempotency key (NULL: none).  Only new
 * delivery rows come back.
 */
static const char hk_dispatch_rows_sql[] =
    "WITH t AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
    "  $4::text[], $5::text[], $6::bytea[], $7::text[], $8::text[],"
    "  $9::text[], $10::text[], $11::text[])"
    "  AS t(id, src, rcv, ct, h, b, d, s, us, e, k)),"
    " e AS (INSERT INTO events (id, source, idempotency_key, received_at,"
    "  content_type, headers, body)"
    "  SELECT id::uuid, src, k, rcv::timestamptz, ct, h::jsonb, b FROM t"
    "  ON CONFLICT (id) DO NOTHING) "
    "INSERT INTO deliveries (event_id, destination, status, next_attempt_at,"
    " last_error)"
    " SELECT t.id::uuid, x.d, x.s, now() + x.us * interval '1 microsecond',"
    "  nullif(x.e, '')"
    " FROM t, unnest(t.d::text[], t.s::text[], t.us::bigint[], t.e::text[])"
    "  AS x(d, s, us, e)"
    " ON CONFLICT (event_id, destination) DO NOTHING"
    " RETURNING event_id, destination";

#define HK_DISPATCH_BATCH  256	/* events a statement, at most */

struct hk_dl_event *
hk_dispatch_event_new(size_t ctype_len, size_t headers_len, size_t body_len)
{
	struct hk_dl_event *ev;

	ev = calloc(1, sizeof(*ev) + ctype_len + headers_len + body_len + 3);
	if (ev == NULL)
		return NULL;
	ev->refs = 1;
	ev->ctype = ev->data;
	ev->headers = ev->ctype + ctype_len + 1;
	ev->body = ev->headers + headers_len + 1;
	ev->ctype_len = ctype_len;
	ev->headers_len = headers_len;
	ev->body_len = body_len;
	return ev;
}

void
hk_dispatch_event_put(struct hk_dl_event *ev)
{
	if (ev != NULL && --ev->refs == 0)
		free(ev);
}

int
hk_dispatch_jobs(void)
{
	return hk_dispatch.njobs;
}

/* hk_dispatch_routes - does destination d take events of source? */
static int
hk_dispatch_routes(const struct hk_conf_dest *d, const char *source)
{
	for (int i = 0; i < d->nsources; i++)
		if (strcmp(d->sources[i], source) == 0)
			return 1;
	return 0;
}

/* hk_dispatch_entry_check - the entry is decided once nothing waits. */
void
hk_dispatch_entry_check(struct hk_dl_event *ev)
{
	if (ev->waiting > 0 || ev->entry[0] == '\0' || ev->decided)
		return;
	ev->decided = 1;
	hk_dispatch.done(ev, !ev->failed);
}

struct hk_dl_job *
hk_dispatch_job_new(struct hk_dl_event *ev, int d, int attempt, int first)
{
	struct hk_dl_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->ev = ev;
	ev->refs++;
	j->dest = d;
	j->attempt = attempt;
	j->first = first;
	if (first)
		ev->waiting++;
	TAILQ_INSERT_TAIL(&hk_dispatch.dests[d].jobs, j, live);
	hk_dispatch.njobs++;
	return j;
}

/* hk_dispatch_job_free - the job's outcome is committed (or given up). */
void
hk_dispatch_job_free(struct hk_dl_job *j, int committed)
{
	struct hk_dl_event *ev = j->ev;

	hk_dispatch.njobs--;
	TAILQ_REMOVE(&hk_dispatch.dests[j->dest].jobs, j, live);
	if (hk_dispatch.more_due && !hk_dispatch.scanning
	    && hk_dispatch.dests[j->dest].queued
	    < hk_dispatch.dests[j->dest].qmax / 4) {
		hk_dispatch.more_due = 0;
		event_active(hk_dispatch.scan_ev, EV_TIMEOUT, 1);
	}
	if (j->first) {
		if (!committed)
			ev->failed = 1;
		ev->waiting--;
		hk_dispatch_entry_check(ev);
	}
	hk_dispatch_event_put(ev);
	free(j);
}

/* hk_dispatch_enqueue - a job joins its destination's queue. */
void
hk_dispatch_enqueue(struct hk_dl_job *j)
{
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[j->dest];

	TAILQ_INSERT_TAIL(&dd->queue, j, link);
	dd->queued++;
	hk_dispatch_pump(j->dest);
}

/* hk_dispatch_room - may destination d take one more job in memory? */
int
hk_dispatch_room(int d)
{
	const struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];

	return dd->queued + dd->active + dd->reserved < dd->qmax;
}

/* hk_dispatch_open_left_us - time the breaker of d stays open, or 0. */
uint64_t
hk_dispatch_open_left_us(int d, uint64_t now_ns)
{
	uint64_t until = hk_dispatch.dests[d].open_until_ns;

	return until > now_ns ? (until - now_ns) / 1000u : 0;
}

/* The deliveries insert of one event, and which rows it attempts itself. */
struct hk_dispatch_ins {
	struct hk_dl_event *ev;
	int       nroutes;		/* destinations it goes to */
	uint8_t   direct[(HK_CONF_MAX_DESTS + 7) / 8];
};

/* hk_dispatch_mode - how destination d gets ev: its row's fields. */
static int
hk_dispatch_mode(int d, const char **st, const char **err, uint64_t *us)
{
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];

	*st = "pending";
	*err = "";
	if (dd->disabled) {
		*st = "dead";
		*err = "destination disabled after 410 Gone";
		*us = 0;
		return 0;
	}
	/* Left to the scanner: due now, or when the breaker closes. */
	if ((*us = hk_dispatch_open_left_us(d, hk_clock_mono_ns())) > 0
	    || !hk_dispatch_room(d) || hk_dispatch.stopping)
		return 0;
	*us = hk_dispatch.lease_us;
	dd->reserved++;
	return 1;
}

/* hk_dispatch_rows_args - the routing arrays of one event's deliveries. */
static int
hk_dispatch_rows_args(struct hk_dispatch_ins *in, char *a[4], size_t cap)
{
	const struct hk_conf *conf = hk_dispatch.conf;
	size_t o[4] = { 1, 1, 1, 1 };
	const char *st, *err;
	uint64_t us;
	int n = 0;

	for (int k = 0; k < 4; k++)
		a[k][0] = '{';
	for (int d = 0; d < conf->ndests; d++) {
		if (!hk_dispatch_routes(&conf->dests[d], in->ev->source))
			continue;
		if (hk_dispatch_mode(d, &st, &err, &us))
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
	return n;
}

/*
 * hk_dispatch_rows_mine - which rows of res are id's (at most want), into
 * rows; how many.  A batch's rows come back in the order of its events, so
 * an event's rows are those at the cursor; the whole result is searched
 * only when fewer than expected are there (rows that already existed).
 */
static int
hk_dispatch_rows_mine(const PGresult *res, const char *id, int want,
    int *rows)
{
	int n = PQntuples(res), got = 0, at;

	if (res != hk_dispatch.rows_res) {
		hk_dispatch.rows_res = res;
		hk_dispatch.rows_at = 0;
	}
	at = hk_dispatch.rows_at;
	while (got < want && at < n
	    && strcasecmp(PQgetvalue(res, at, 0), id) == 0)
		rows[got++] = at++;
	hk_dispatch.rows_at = at;
	if (got == want)
		return got;
	got = 0;
	for (int r = 0; r < n && got < want; r++)
		if (strcasecmp(PQgetvalue(res, r, 0), id) == 0)
			rows[got++] = r;
	return got;
}

/* hk_dispatch_rows_done - the deliveries rows are in: start the new ones. */
static void
hk_dispatch_rows_done(void *arg, const PGresult *res)
{
	struct hk_dispatch_ins *in = arg;
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
		n = hk_dispatch_rows_mine(res, ev->id, in->nroutes, rows);
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
		hk_dispatch_enqueue(j);
	}
	ev->waiting--;		/* the hold taken in hk_dispatch_event */
	hk_dispatch_entry_check(ev);
	hk_dispatch_event_put(ev);
	free(in);
}

void
hk_dispatch_event(struct hk_dl_event *ev)
{
	size_t cap = (size_t)hk_dispatch.conf->ndests * 80 + 8;
	const char *v[11] = { ev->id, ev->source, ev->received_at, ev->ctype,
	    ev->headers, ev->body, NULL, NULL, NULL, NULL,
	    ev->idem_key[0] ? ev->idem_key : NULL };
	int l[11] = { (int)strlen(ev->id), (int)strlen(ev->source),
	    (int)strlen(ev->received_at), (int)ev->ctype_len,
	    (int)ev->headers_len, (int)ev->body_len, 0, 0, 0, 0,
	    (int)strlen(ev->idem_key) };
	struct hk_dispatch_ins *in = calloc(1, sizeof(*in));
	char *a[4] = { malloc(cap), malloc(cap), malloc(cap), malloc(cap) };

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
		in->nroutes = hk_dispatch_rows_args(in, a, cap);
		for (int k = 0; k < 4; k++) {
			v[k + 6] = a[k];
			l[k + 6] = (int)strlen(a[k]);
		}
		if (hk_dlbatch_add(hk_dispatch.rows_b, v, l,
		    hk_dispatch_rows_done, in) != HK_OK) {
			hk_log_error("delivery: out of memory routing event %s",
			    ev->id);
			hk_dispatch_rows_done(in, NULL);	/* frees in */
		}
	}
	for (int k = 0; k < 4; k++)
		free(a[k]);
	hk_dispatch_event_put(ev);	/* the caller's reference */
}

/* hk_dispatch_take_token - the rate limit; 0 and a wake-up when empty. */
static int
hk_dispatch_take_token(int d, uint64_t now)
{
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];
	double rate = hk_dispatch.conf->dests[d].rate_per_s;
	double burst = rate > 1 ? rate : 1;
	struct timeval tv;
	double wait_s;

	if (rate <= 0)
		return 1;
	dd->tokens += (double)(now - dd->tok_ns) / 1e9 * rate;
	dd->tok_ns = now;
	if (dd->tokens > burst)
		dd->tokens = burst;
	if (dd->tokens >= 1) {
		dd->tokens -= 1;
		return 1;
	}
	wait_s = (1 - dd->tokens) / rate;
	tv.tv_sec = (time_t)wait_s;
	tv.tv_usec = (suseconds_t)((wait_s - (double)tv.tv_sec) * 1e6) + 1000;
	evtimer_add(dd->pump_ev, &tv);
	return 0;
}

static void hk_dispatch_attempt_cb(void *arg, struct hk_outbound_res *res);

/* hk_dispatch_start - send one attempt. */
static void
hk_dispatch_start(struct hk_dl_job *j)
{
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[j->dest];
	struct hk_outbound_req r = { &hk_dispatch.conf->dests[j->dest],
	    j->ev->id, j->ev->ctype, j->ev->body, j->ev->body_len };

	dd->active++;
	j->sent_ns = hk_clock_mono_ns();
	if (hk_outbound_send(&r, hk_dispatch_attempt_cb, j) != HK_OK) {
		struct hk_outbound_res res;

		memset(&res, 0, sizeof(res));
		res.retry_after_s = -1;
		res.started_us = hk_clock_real_us();
		snprintf(res.error, sizeof(res.error), "cannot build the "
		    "request (out of memory or bad signing secret)");
		hk_dispatch_attempt_cb(j, &res);
	}
}

static void
hk_dispatch_attempt_cb(void *arg, struct hk_outbound_res *res)
{
	struct hk_dl_job *j = arg;
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[j->dest];

	dd->active--;
	j->res = *res;
	j->end_ns = hk_clock_mono_ns();
	hk_verdict_attempt_done(j);
	hk_dispatch_pump(j->dest);
}

/*
 * hk_dispatch_pump - start what destination d's limits allow: disabled
 * drops to dead, an open breaker sends its queue back to PostgreSQL, a
 * half-open one lets one probe out.
 */
void
hk_dispatch_pump(int d)
{
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];
	const struct hk_conf_dest *cd = &hk_dispatch.conf->dests[d];
	struct hk_dl_job *j;
	uint64_t now, left;

	while ((j = TAILQ_FIRST(&dd->queue)) != NULL) {
		now = hk_clock_mono_ns();
		left = hk_dispatch_open_left_us(d, now);
		if (!dd->disabled && left == 0 && (dd->active >= cd->concurrency
		    || (dd->open_until_ns != 0 && dd->probing)))
			return;
		if (!dd->disabled && left == 0
		    && !hk_dispatch_take_token(d, now))
			return;
		TAILQ_REMOVE(&dd->queue, j, link);
		dd->queued--;
		if (dd->disabled)
			hk_verdict_dead(j, "destination disabled after 410 Gone");
		else if (left > 0)
			hk_verdict_reschedule(j, left);
		else {
			if (dd->open_until_ns != 0)
				dd->probing = j->probe = 1;
			hk_dispatch_start(j);
		}
	}
}

static void
hk_dispatch_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_dispatch_pump((int)(intptr_t)arg);
}

int
hk_dispatch_init(struct hk_child *c, hk_dispatch_done_fn done)
{
	const struct hk_conf *conf = c->conf;
	int maxto = 0;

	memset(&hk_dispatch, 0, sizeof(hk_dispatch));
	hk_dispatch.child = c;
	hk_dispatch.conf = conf;
	hk_dispatch.base = c->base;
	hk_dispatch.done = done;
	hk_dispatch.cap = HK_MAX(conf->delivery.concurrency, 1);
	hk_dispatch.seed = (unsigned)hk_clock_mono_ns() ^ (unsigned)c->index;
	hk_dispatch.dests = calloc((size_t)conf->ndests + 1,
	    sizeof(*hk_dispatch.dests));
	if (hk_dispatch.dests == NULL)
		return HK_ERROR;
	for (int d = 0; d < conf->ndests; d++) {
		struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];

		TAILQ_INIT(&dd->queue);
		TAILQ_INIT(&dd->jobs);
		dd->qmax = HK_MAX(64, 4 * conf->dests[d].concurrency);
		dd->tokens = 1;
		dd->tok_ns = hk_clock_mono_ns();
		dd->pump_ev = evtimer_new(c->base, hk_dispatch_pump_cb,
		    (void *)(intptr_t)d);
		if (dd->pump_ev == NULL)
			return HK_ERROR;
		maxto = HK_MAX(maxto, conf->dests[d].timeout_ms);
	}
	hk_dispatch.lease_us = (uint64_t)(2 * HK_MAX(maxto,
	    conf->delivery.timeout_ms) + 1000) * 1000u;
	hk_dispatch.rows_b = hk_dlbatch_new(hk_dispatch_rows_sql, 11,
	    (const Oid[]){ HK_DLSTORE_OID_TEXT, HK_DLSTORE_OID_TEXT,
	    HK_DLSTORE_OID_TEXT, HK_DLSTORE_OID_TEXT, HK_DLSTORE_OID_TEXT,
	    HK_DLSTORE_OID_BYTEA, HK_DLSTORE_OID_TEXT, HK_DLSTORE_OID_TEXT,
	    HK_DLSTORE_OID_TEXT, HK_DLSTORE_OID_TEXT, HK_DLSTORE_OID_TEXT },
	    HK_DISPATCH_BATCH);
	hk_dispatch.outcome_b = hk_verdict_batch();
	if (hk_dispatch.rows_b == NULL || hk_dispatch.outcome_b == NULL)
		return HK_ERROR;
	if (hk_dlscan_init() != HK_OK)
		return HK_ERROR;
	return HK_OK;
}

void
hk_dispatch_stop(void)
{
	hk_dispatch.stopping = 1;
}

/* hk_dispatch_shutdown - free what is left; rows stay leased, not lost. */
void
hk_dispatch_shutdown(void)
{
	struct hk_dl_job *j;

	if (hk_dispatch.dests == NULL)
		return;
	for (int d = 0; d < hk_dispatch.conf->ndests; d++) {
		struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];

		while ((j = TAILQ_FIRST(&dd->queue)) != NULL) {
			TAILQ_REMOVE(&dd->queue, j, link);
			hk_dispatch_event_put(j->ev);
			free(j);
		}
		event_free(dd->pump_ev);
	}
	hk_dlscan_shutdown();
	hk_dlbatch_free(hk_dispatch.rows_b);
	hk_dlbatch_free(hk_dispatch.outcome_b);
	free(hk_dispatch.dests);
	memset(&hk_dispatch, 0, sizeof(hk_dispatch));
}
