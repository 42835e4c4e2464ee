/*
 * dlscan.c - the retry scanner: claims due deliveries from PostgreSQL
 * (retries, deliveries left to it by a full queue or an open breaker, rows
 * whose lease ran out); and keeps the set of disabled destinations fresh.
 *
 * Every HK_DLSCAN_MS, and at once when the last scan got all it asked
 * for and room has come back, one statement claims due deliveries for the
 * destinations that have room here: the rows are chosen with FOR UPDATE
 * SKIP LOCKED, so concurrent scanners on any host take disjoint rows, and
 * the same UPDATE pushes their next_attempt_at forward by the lease, so
 * nobody claims them again while the attempt is in flight.  A worker that
 * dies holding claimed rows only delays them by the lease.  Rows of events
 * whose stream entry was lost (Redis restarted empty) are delivered the
 * same way: from PostgreSQL.
 *
 * Disabled destinations (hookctl disable, the admin port, a 410): every
 * HK_DLSCAN_REFRESH_MS the set is read again from destination_state, a
 * one-row-per-destination table, so a change holds on every worker of
 * every host within that time plus one round trip.  A poll, not LISTEN or
 * a Redis message: it needs no connection of its own, misses nothing
 * across a reconnection, and costs a worker four tiny reads a second.
 * The claim statement itself also skips disabled destinations, so no
 * worker claims their rows once the change is committed, even before its
 * next read.  Their deliveries stay due in PostgreSQL: held, not dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "control.h"
#include "core.h"
#include "dispatch.h"
#include "dlstore.h"
#include "log.h"
#include "traceparent.h"
#include "uuid.h"

#define HK_DLSCAN_MS          500
#define HK_DLSCAN_REFRESH_MS  HK_CONTROL_REFRESH_MS
#define HK_DLSCAN_MAX         100	/* rows claimed by one scan */

/* ISO 8601 UTC, as the stream carries it: the job's rows name their
 * event by (id, received_at), so the text must parse back to the same
 * instant whatever the session's time zone. */
#define HK_DLSCAN_TS(col) \
	"to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

static const char hk_dlscan_sql[] =
    "UPDATE deliveries d SET next_attempt_at = now() + $3::bigint"
    "  * interval '1 microsecond'"
    " FROM (SELECT event_id, destination, received_at FROM deliveries"
    "   WHERE status IN ('pending', 'retrying') AND next_attempt_at <= now()"
    "   AND destination = ANY ($1::text[])"
    "   AND destination <> ALL (SELECT destination FROM destination_state"
    "    WHERE disabled)"
    "   ORDER BY next_attempt_at LIMIT $2::int"
    "   FOR UPDATE SKIP LOCKED) s, events e"
    " WHERE d.event_id = s.event_id AND d.destination = s.destination"
    "  AND d.received_at = s.received_at"
    "  AND e.id = d.event_id AND e.received_at = d.received_at"
    " RETURNING d.event_id::text, d.destination, d.attempts, e.source,"
    "  " HK_DLSCAN_TS("e.received_at") ","
    "  (extract(epoch FROM e.received_at) * 1000000)::bigint,"
    "  e.content_type, e.body, e.headers->>'traceparent'";

static const char hk_dlscan_disabled_sql[] =
    "SELECT destination FROM destination_state WHERE disabled";


/*
 * hk_dlscan_held - is (event, d) already in memory here?  A row whose
 * lease ran out while its job waited here must not be sent twice by this
 * same worker.
 */
static int
hk_dlscan_held(int d, const char *id)
{
	struct hk_dl_job *j;

	TAILQ_FOREACH(j, &hk_dispatch.dests[d].jobs, live)
		if (strcmp(j->ev->id, id) == 0)
			return 1;
	return 0;
}

/* hk_dlscan_traceparent - the event's traceparent, when it is valid. */
static void
hk_dlscan_traceparent(struct hk_dl_event *ev, const char *tp)
{
	size_t len = strlen(tp);

	if (hk_traceparent_valid(tp, len))
		memcpy(ev->traceparent, tp, len + 1);
}

/* hk_dlscan_claimed - one row the scanner leased: a job for it. */
static void
hk_dlscan_claimed(const PGresult *res, int r)
{
	const struct hk_conf_dest *d;
	struct hk_dl_event *ev;
	struct hk_dl_job *j;
	unsigned char *body;
	size_t blen = 0;
	const char *ct = PQgetvalue(res, r, 6);
	int di;

	if ((d = hk_conf_dest(hk_dispatch.conf, PQgetvalue(res, r, 1))) == NULL)
		return;
	di = (int)(d - hk_dispatch.conf->dests);
	if (hk_dlscan_held(di, PQgetvalue(res, r, 0)))
		return;
	body = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 7),
	    &blen);
	if (body == NULL || (ev = hk_dispatch_event_new(strlen(ct), 0, blen))
	    == NULL) {
		PQfreemem(body);
		return;
	}
	memcpy(ev->ctype, ct, ev->ctype_len);
	memcpy(ev->body, body, blen);
	PQfreemem(body);
	snprintf(ev->id, sizeof(ev->id), "%s", PQgetvalue(res, r, 0));
	hk_uuid_parse(ev->id, ev->idb);
	snprintf(ev->source, sizeof(ev->source), "%s", PQgetvalue(res, r, 3));
	snprintf(ev->received_at, sizeof(ev->received_at), "%s",
	    PQgetvalue(res, r, 4));
	ev->received_us = strtoull(PQgetvalue(res, r, 5), NULL, 10);
	hk_dlscan_traceparent(ev, PQgetvalue(res, r, 8));
	ev->picked_us = hk_clock_real_us();
	ev->picked_ns = hk_clock_mono_ns();
	j = hk_dispatch_job_new(ev, di, atoi(PQgetvalue(res, r, 2)) + 1, 0);
	hk_dispatch_event_put(ev);
	if (j != NULL)
		hk_dlqueue_add(j);
}

static void
hk_dlscan_scan_done(void *arg, const PGresult *res)
{
	uint64_t t0 = (uint64_t)(uintptr_t)arg;
	int n = res != NULL ? PQntuples(res) : 0;

	hk_dispatch.scanning = 0;
	for (int r = 0; r < n; r++)
		hk_dlscan_claimed(res, r);
	/* A full batch: there is probably more due; look again as soon as
	 * there is room (hk_dispatch_job_free), not only on the timer. */
	hk_dispatch.more_due = n > 0 && n == hk_dispatch.scan_limit;
	if (n > 0)
		hk_log_debug("delivery: claimed %d due deliveries in %.1f ms",
		    n, (double)(hk_clock_mono_ns() - t0) / 1e6);
}

/*
 * hk_dlscan_scan_cb - claim due deliveries for the destinations that
 * have room, leasing them in the same statement.
 */
static void
hk_dlscan_scan_cb(evutil_socket_t fd, short what, void *arg)
{
	const struct hk_conf *conf = hk_dispatch.conf;
	size_t cap = (size_t)conf->ndests * 72 + 8, o = 1;
	char *names, limit[16], lease[24];
	const char *v[3];
	int l[3], n = 0, room = hk_dispatch.cap - hk_dispatch.njobs;
	int free_rows = 0;
	uint64_t now = hk_clock_mono_ns();

	if (hk_dispatch.stopping || hk_dispatch.scanning || !hk_dlstore_up()
	    || room <= 0 || (names = malloc(cap)) == NULL)
		return;
	names[0] = '{';
	for (int d = 0; d < conf->ndests; d++) {
		struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];

		if (dd->disabled || hk_dispatch_open_left_us(d, now) > 0
		    || (dd->open_until_ns != 0 && dd->probing)
		    || !hk_dispatch_room(d))
			continue;
		free_rows += dd->qmax - dd->queued - dd->active - dd->reserved;
		o += (size_t)snprintf(names + o, cap - o, "%s\"%s\"",
		    n++ ? "," : "", conf->dests[d].name);
	}
	snprintf(names + o, cap - o, "}");
	hk_dispatch.scan_limit = HK_MIN(HK_MIN(room, free_rows),
	    HK_DLSCAN_MAX);
	snprintf(limit, sizeof(limit), "%d", hk_dispatch.scan_limit);
	snprintf(lease, sizeof(lease), "%llu",
	    (unsigned long long)hk_dispatch.lease_us);
	v[0] = names, v[1] = limit, v[2] = lease;
	for (int k = 0; k < 3; k++)
		l[k] = (int)strlen(v[k]);
	if (n > 0 && hk_dlstore_submit(hk_dlscan_sql, 3, v, l, NULL,
	    hk_dlscan_scan_done, (void *)(uintptr_t)now) == HK_OK)
		hk_dispatch.scanning = 1;
	free(names);
}

/* hk_dlscan_refresh_done - learn which destinations are disabled. */
static void
hk_dlscan_refresh_done(void *arg, const PGresult *res)
{
	const struct hk_conf *conf = hk_dispatch.conf;
	int was;

	hk_dispatch.refreshing = 0;
	if (res == NULL)
		return;
	/* The first read: what came meanwhile was left to the scanner; it
	 * need not wait for the next scan. */
	if (!hk_dispatch.disabled_read && hk_dispatch.scan_ev != NULL)
		event_active(hk_dispatch.scan_ev, EV_TIMEOUT, 0);
	hk_dispatch.disabled_read = 1;
	for (int d = 0; d < conf->ndests; d++) {
		was = hk_dispatch.dests[d].disabled;
		hk_dispatch.dests[d].disabled = 0;
		for (int r = 0; r < PQntuples(res); r++)
			if (strcmp(PQgetvalue(res, r, 0), conf->dests[d].name)
			    == 0)
				hk_dispatch.dests[d].disabled = 1;
		if (was && !hk_dispatch.dests[d].disabled)
			hk_log_info("delivery: destination %s enabled again",
			    conf->dests[d].name);
		if (!was && hk_dispatch.dests[d].disabled)
			hk_log_info("delivery: destination %s disabled; its "
			    "deliveries are held", conf->dests[d].name);
		if (hk_dispatch.dests[d].disabled)
			hk_dlqueue_pump(d);
	}
}

static void
hk_dlscan_refresh_cb(evutil_socket_t fd, short what, void *arg)
{
	if (hk_dispatch.refreshing || !hk_dlstore_up())
		return;
	if (hk_dlstore_submit(hk_dlscan_disabled_sql, 0, NULL, NULL, NULL,
	    hk_dlscan_refresh_done, NULL) == HK_OK)
		hk_dispatch.refreshing = 1;
}

int
hk_dlscan_init(void)
{
	struct timeval scan = { 0, HK_DLSCAN_MS * 1000 };
	struct timeval refresh = { HK_DLSCAN_REFRESH_MS / 1000,
	    HK_DLSCAN_REFRESH_MS % 1000 * 1000 };

	hk_dispatch.scan_ev = event_new(hk_dispatch.base, -1, EV_PERSIST,
	    hk_dlscan_scan_cb, NULL);
	hk_dispatch.refresh_ev = event_new(hk_dispatch.base, -1, EV_PERSIST,
	    hk_dlscan_refresh_cb, NULL);
	if (hk_dispatch.scan_ev == NULL || hk_dispatch.refresh_ev == NULL)
		return HK_ERROR;
	event_add(hk_dispatch.scan_ev, &scan);
	event_add(hk_dispatch.refresh_ev, &refresh);
	return HK_OK;
}

void
hk_dlscan_shutdown(void)
{
	if (hk_dispatch.scan_ev != NULL)
		event_free(hk_dispatch.scan_ev);
	if (hk_dispatch.refresh_ev != NULL)
		event_free(hk_dispatch.refresh_ev);
	hk_dispatch.scan_ev = hk_dispatch.refresh_ev = NULL;
}
