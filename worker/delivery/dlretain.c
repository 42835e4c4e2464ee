/*
 * dlretain.c - storage retention from the delivery worker (see dlretain.h).
 *
 * The call goes through dlstore.c like every other statement, so it shares
 * the worker's connection and its reconnections; it rides in one pipelined
 * batch (one transaction) with whatever else is queued.  hookd_retention
 * runs with lock_timeout = 2s, so a DROP that cannot get its table's lock
 * fails the batch (whose other statements dlstore sends again) instead of
 * holding every insert behind it; the run is tried again after
 * HK_DLRETAIN_RETRY_S.  Nothing here keeps state across runs: the
 * partitions themselves are the state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "dlretain.h"
#include "dlstore.h"
#include "log.h"

static const char hk_dlretain_sql[] =
    "SELECT action, coalesce(day::text, ''), events, deliveries, attempts,"
    "  bytes FROM hookd_retention($1::int, $2::int)";

static struct {
	int       days;
	int       running;		/* a call is out */
	uint64_t  next_ns;		/* the next run, monotonic; 0: now */
} hk_dlretain;

void
hk_dlretain_init(const struct hk_conf *conf)
{
	memset(&hk_dlretain, 0, sizeof(hk_dlretain));
	hk_dlretain.days = conf->postgres.retention_days;
}

/* hk_dlretain_row - log one thing the run did. */
static void
hk_dlretain_row(const PGresult *res, int r)
{
	const char *act = PQgetvalue(res, r, 0), *day = PQgetvalue(res, r, 1);
	long long ev = atoll(PQgetvalue(res, r, 2));
	long long dl = atoll(PQgetvalue(res, r, 3));
	long long at = atoll(PQgetvalue(res, r, 4));
	double mb = (double)atoll(PQgetvalue(res, r, 5)) / 1048576.0;

	if (strcmp(act, "busy") == 0)
		hk_log_debug("retention: another process is running it");
	else if (strcmp(act, "created") == 0)
		hk_log_info("retention: made %lld day partitions, up to %s "
		    "(UTC)", ev, day);
	else if (strcmp(act, "dropped") == 0)
		hk_log_info("retention: dropped day %s, older than %d days: "
		    "about %lld events, %lld deliveries, %lld attempts, "
		    "%.1f MB", day, hk_dlretain.days, ev, dl, at, mb);
	else if (strcmp(act, "kept") == 0)
		hk_log_warn("retention: kept day %s past %d days (%.1f MB): "
		    "%lld deliveries of it are still pending or retrying and "
		    "need their events; it goes once they end", day,
		    hk_dlretain.days, mb, dl);
	else if (strcmp(act, "deleted") == 0)
		hk_log_info("retention: deleted rows older than %d days from "
		    "the default partitions: %lld events, %lld deliveries, "
		    "%lld attempts, %.1f MB", hk_dlretain.days, ev, dl, at, mb);
}

/* hk_dlretain_done - the run is committed (res) or gave up (NULL). */
static void
hk_dlretain_done(void *arg, const PGresult *res)
{
	uint64_t now = (uint64_t)(uintptr_t)arg;
	int wait_s = HK_DLRETAIN_EVERY_S;

	hk_dlretain.running = 0;
	if (res == NULL) {
		wait_s = HK_DLRETAIN_RETRY_S;
		hk_log_warn("retention: the run failed (see the PostgreSQL "
		    "log); trying again in %d s", wait_s);
	}
	for (int r = 0; res != NULL && r < PQntuples(res); r++)
		hk_dlretain_row(res, r);
	hk_dlretain.next_ns = now + (uint64_t)wait_s * 1000000000ull;
}

void
hk_dlretain_tick(uint64_t now_ns)
{
	char days[16], ahead[16];
	const char *v[2] = { days, ahead };
	int l[2];

	if (hk_dlretain.running || now_ns < hk_dlretain.next_ns
	    || !hk_dlstore_up())
		return;
	snprintf(days, sizeof(days), "%d", hk_dlretain.days);
	snprintf(ahead, sizeof(ahead), "%d", HK_DLRETAIN_AHEAD);
	l[0] = (int)strlen(days);
	l[1] = (int)strlen(ahead);
	if (hk_dlstore_submit(hk_dlretain_sql, 2, v, l, NULL, hk_dlretain_done,
	    (void *)(uintptr_t)now_ns) == HK_OK)
		hk_dlretain.running = 1;
}
