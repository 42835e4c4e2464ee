/*
 * dashdata.c - the figures of the dashboard as JSON (dashdata.h).
 *
 * The slot fields read here (state, pid, heartbeat, restarts) are display
 * values that the master and the slot owners store relaxed: every load of
 * them below is relaxed, pairs with nothing, and is used for nothing but
 * the number it shows.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "admin.h"
#include "clock.h"
#include "core.h"
#include "dashdata.h"
#include "histogram.h"
#include "procstat.h"
#include "promtext.h"
#include "ring.h"
#include "window.h"

/* hk_dashdata_since - the since=SEC of the query string; 0 when absent. */
static uint64_t
hk_dashdata_since(const char *query)
{
	size_t n;

	while (query != NULL && *query != '\0') {
		n = strcspn(query, "&");
		if (n > 6 && strncmp(query, "since=", 6) == 0)
			return strtoull(query + 6, NULL, 10);
		query = query[n] == '&' ? query + n + 1 : NULL;
	}
	return 0;
}

static void
hk_dashdata_put(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, s, strlen(s));
}

/* hk_dashdata_ms - a duration for JSON, in milliseconds. */
static double
hk_dashdata_ms(uint64_t us)
{
	return (double)us / 1e3;
}

/* hk_dashdata_second - one group's counts and percentiles in second sec. */
static void
hk_dashdata_second(struct evbuffer *b, const struct hk_aggr_group *g,
    int kind, uint64_t sec)
{
	static const uint64_t none[HK_WINDOW_CTR_N];
	static struct hk_hist h;	/* 6 KiB: not on the stack */
	unsigned slot = (unsigned)(sec % HK_WINDOW_SECONDS), s, n;
	const uint64_t *v = g != NULL && g->ctr.sec1[slot] == sec + 1
	    ? g->ctr.v[slot] : none;

	n = kind == HK_REC_INGEST ? HK_INGEST_STAGES : HK_DELIVERY_STAGES;
	evbuffer_add_printf(b, "{\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
	    ",\"duplicates\":%" PRIu64 ",\"fallback\":%" PRIu64 ",\"dead\":%"
	    PRIu64 ",\"p\":[", v[HK_AGGR_REQUESTS], v[HK_AGGR_ERRORS],
	    v[HK_AGGR_DUPLICATES], v[HK_AGGR_FALLBACK], v[HK_AGGR_DEAD]);
	for (s = 0; s < n; s++) {
		if (s > 0)
			hk_dashdata_put(b, ",");
		if (g != NULL)
			hk_window_merge(&g->stage[s], sec + 1, 1, &h);
		if (g == NULL || hk_hist_count(&h) == 0) {
			hk_dashdata_put(b, "null");
			continue;
		}
		evbuffer_add_printf(b, "[%.3f,%.3f,%.3f]",
		    hk_dashdata_ms(hk_hist_percentile(&h, 50.0)),
		    hk_dashdata_ms(hk_hist_percentile(&h, 90.0)),
		    hk_dashdata_ms(hk_hist_percentile(&h, 99.0)));
	}
	hk_dashdata_put(b, "]}");
}

/*
 * hk_dashdata_history - a point per complete second after since.  The
 * seconds are the stats process's monotonic ones (aggr.c); "t" is the wall
 * clock at the end of each, for the page's axis.  A second before the
 * statistics started (or were reset) is not known rather than empty, so
 * none is given.
 */
static void
hk_dashdata_history(const struct hk_admin *a, struct evbuffer *b,
    uint64_t since, uint64_t now_ns, uint64_t now_us)
{
	uint64_t now_sec = now_ns / 1000000000u, from, sec;
	double mono_s = (double)now_ns / 1e9, real_s = (double)now_us / 1e6;

	from = now_sec > HK_WINDOW_SECONDS ? now_sec - HK_WINDOW_SECONDS : 0;
	from = HK_MAX(from, a->aggr->started_sec);
	from = HK_MAX(from, since + 1);
	evbuffer_add_printf(b, ",\"sec\":%" PRIu64 ",\"history\":[",
	    now_sec > 0 ? now_sec - 1 : 0);
	for (sec = from; sec < now_sec; sec++) {
		evbuffer_add_printf(b, "%s{\"sec\":%" PRIu64 ",\"t\":%.3f,"
		    "\"ingest\":", sec == from ? "" : ",", sec,
		    real_s - (mono_s - (double)(sec + 1)));
		hk_dashdata_second(b, hk_aggr_get(a->aggr, 0), HK_REC_INGEST,
		    sec);
		hk_dashdata_put(b, ",\"delivery\":");
		hk_dashdata_second(b, hk_aggr_get(a->aggr, 1),
		    HK_REC_DELIVERY, sec);
		hk_dashdata_put(b, "}");
	}
	hk_dashdata_put(b, "]");
}

/* hk_dashdata_procstat - a process's CPU, memory and descriptors
 * (procstat.c), and the end of its object; null while not sampled. */
static void
hk_dashdata_procstat(struct evbuffer *b, const struct hk_procstat_proc *pr)
{
	if (pr == NULL) {
		hk_dashdata_put(b, ",\"cpu_s\":null,\"rss_bytes\":null,"
		    "\"fds\":null}");
		return;
	}
	evbuffer_add_printf(b, ",\"cpu_s\":%.2f,\"rss_bytes\":%" PRId64
	    ",\"fds\":%" PRId64 "}", pr->cpu_s, pr->rss_bytes, pr->fds);
}

/* hk_dashdata_processes - every slot in use, as /health/detailed has it. */
static void
hk_dashdata_processes(const struct hk_admin *a, struct evbuffer *b,
    uint64_t now_ns, uint64_t now_us)
{
	int first = 1;

	evbuffer_add_printf(b, ",\"watchdog_ms\":%d,\"generation\":%u,"
	    "\"processes\":[", a->conf->watchdog_ms,
	    atomic_load_explicit(&a->seg->hdr->generation,
	    memory_order_relaxed));
	for (unsigned i = 0; i < HK_SHM_SLOTS; i++) {
		const struct hk_shm_slot *s = hk_segment_slot(a->seg, i);
		uint32_t st = atomic_load_explicit(&s->state,
		    memory_order_relaxed);

		if (st == HK_SLOT_FREE)
			continue;
		evbuffer_add_printf(b, "%s{\"slot\":%u,\"role\":\"%s\","
		    "\"index\":%u,\"pid\":%d,\"generation\":%u,"
		    "\"state\":\"%s\",\"alive\":%s,\"uptime_s\":%.0f,"
		    "\"heartbeat_age_ms\":%.1f,\"restarts\":%u,"
		    "\"ring_records\":%" PRIu64 ",\"ring_missed\":%" PRIu64,
		    first ? "" : ",", i, hk_segment_role_name(s->role),
		    (unsigned)s->index, (int)atomic_load_explicit(&s->pid,
		    memory_order_relaxed), s->generation,
		    hk_segment_state_name((int)st),
		    hk_promtext_proc_alive(s) ? "true" : "false",
		    now_us > s->start_us ? (double)(now_us - s->start_us) / 1e6
		    : 0.0, hk_promtext_beat_age(s, now_ns) * 1e3,
		    atomic_load_explicit(&s->restarts, memory_order_relaxed),
		    hk_ring_head(&s->ring), a->missed[i]);
		hk_dashdata_procstat(b, hk_procstat_get(a->procstat, i));
		first = 0;
	}
	hk_dashdata_put(b, "]");
}

/* hk_dashdata_age - milliseconds since a sample; -1 when none yet. */
static double
hk_dashdata_age(uint64_t sampled_us, uint64_t now_us)
{
	if (sampled_us == 0)
		return -1.0;
	return now_us > sampled_us ? (double)(now_us - sampled_us) / 1e3 : 0.0;
}

static const char *
hk_dashdata_up(int up)
{
	return up < 0 ? "null" : up ? "true" : "false";
}

/* hk_dashdata_backends - Redis and PostgreSQL as the samplers last saw
 * them; -1 is "unknown", as on /metrics. */
static void
hk_dashdata_backends(const struct hk_admin *a, struct evbuffer *b,
    uint64_t now_us)
{
	const struct hk_sampler *rs = a->sampler;
	const struct hk_pgsampler *ps = a->pgsampler;

	evbuffer_add_printf(b, ",\"redis\":{\"up\":%s,\"stream_length\":%"
	    PRId64 ",\"pending\":%" PRId64 ",\"sampled_age_ms\":%.1f}",
	    hk_dashdata_up(rs->up), rs->length, rs->pending,
	    hk_dashdata_age(rs->sampled_us, now_us));
	evbuffer_add_printf(b, ",\"postgres\":{\"up\":%s,\"dlq\":%" PRId64
	    ",\"overdue\":%" PRId64 ",\"inbox\":%" PRId64 ",\"oldest_event\":"
	    "%.3f,\"days_kept\":%" PRId64 ",\"bytes\":{",
	    hk_dashdata_up(ps->up), ps->dead, ps->overdue, ps->inbox,
	    ps->oldest_s, ps->kept_days);
	for (int t = 0; t < HK_PGSAMPLER_TABLES; t++)
		evbuffer_add_printf(b, "%s\"%s\":%" PRId64, t ? "," : "",
		    hk_pgsampler_tables[t], ps->bytes[t]);
	evbuffer_add_printf(b, "},\"sampled_age_ms\":%.1f,\"period_ms\":%d}",
	    hk_dashdata_age(ps->sampled_us, now_us), HK_PGSAMPLER_PERIOD_MS);
}

/* hk_dashdata_flag - a per-destination sample: 1, 0, or -1 unknown. */
static const char *
hk_dashdata_flag(const int8_t *v, int i)
{
	return v == NULL || v[i] < 0 ? "null" : v[i] ? "true" : "false";
}

/* hk_dashdata_dests - each configured destination's breaker (open while
 * Redis holds its key, sampler.c) and whether it is disabled
 * (destination_state, pgsampler.c), as /metrics has them. */
static void
hk_dashdata_dests(const struct hk_admin *a, struct evbuffer *b)
{
	int i;

	hk_dashdata_put(b, ",\"destination_state\":{");
	for (i = 0; i < a->conf->ndests; i++) {
		if (i > 0)
			hk_dashdata_put(b, ",");
		hk_promtext_json_str(b, a->conf->dests[i].name);
		evbuffer_add_printf(b, ":{\"breaker_open\":%s,\"disabled\":%s}",
		    hk_dashdata_flag(a->sampler->breaker, i),
		    hk_dashdata_flag(a->pgsampler->disabled, i));
	}
	hk_dashdata_put(b, "}");
}

/* hk_dashdata_stages - the stage names, in the order of the "p" arrays. */
static void
hk_dashdata_stages(struct evbuffer *b)
{
	unsigned s;

	hk_dashdata_put(b, ",\"stages\":{\"ingest\":[");
	for (s = 0; s < HK_INGEST_STAGES; s++)
		evbuffer_add_printf(b, "%s\"%s\"", s ? "," : "",
		    hk_snapshot_stage_name(HK_REC_INGEST, s));
	hk_dashdata_put(b, "],\"delivery\":[");
	for (s = 0; s < HK_DELIVERY_STAGES; s++)
		evbuffer_add_printf(b, "%s\"%s\"", s ? "," : "",
		    hk_snapshot_stage_name(HK_REC_DELIVERY, s));
	hk_dashdata_put(b, "]}");
}

int
hk_dashdata_json(const struct hk_admin *a, const char *query,
    struct evbuffer *b)
{
	uint64_t now_ns = hk_clock_mono_ns(), now_us = hk_clock_real_us();
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	if (a->snap->magic != HK_SNAP_MAGIC) {
		evbuffer_add_printf(b, "{\"error\":\"unavailable\",\"message\":"
		    "\"no snapshot has been published yet\"}\n");
		return 503;
	}
	if ((fp = open_memstream(&text, &len)) == NULL) {
		evbuffer_add_printf(b, "{\"error\":\"internal\",\"message\":"
		    "\"out of memory\"}\n");
		return 500;
	}
	hk_snapshot_json(a->snap, now_us, fp);
	fclose(fp);
	/* The snapshot's object ends with a newline, which JSON allows. */
	evbuffer_add_printf(b, "{\"now\":%.3f,\"instance\":",
	    (double)now_us / 1e6);
	hk_promtext_json_str(b, a->conf->instance);
	hk_dashdata_put(b, ",\"stats\":");
	evbuffer_add(b, text, len);
	free(text);
	hk_dashdata_processes(a, b, now_ns, now_us);
	hk_dashdata_backends(a, b, now_us);
	hk_dashdata_dests(a, b);
	hk_dashdata_stages(b);
	hk_dashdata_history(a, b, hk_dashdata_since(query), now_ns, now_us);
	hk_dashdata_put(b, "}\n");
	return 200;
}
