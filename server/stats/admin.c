/*
 * admin.c - the admin HTTP port (routes in admin.h).
 *
 * /metrics is written straight from the stats process's aggregates, not
 * from the snapshot: Prometheus wants cumulative histogram buckets, which
 * the snapshot (percentile summaries only) does not carry.  Both come from
 * the same counters, so the counts agree.  One writer (struct hk_prom)
 * produces either the text format or JSON, so the two cannot drift apart.
 *
 * The slot fields read here (state, pid, heartbeat, restarts, generation)
 * are display values that the master and the slot owners store relaxed:
 * every load of them below is relaxed, pairs with nothing, and is used
 * for nothing but the number it shows.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "admin.h"
#include "clock.h"
#include "core.h"
#include "histogram.h"
#include "log.h"
#include "ring.h"

#define HK_PROM_TEXT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A metrics writer: Prometheus text, or the same samples as JSON. */
struct hk_prom {
	struct evbuffer *b;
	int      json;
	int      nfam;			/* families begun */
	int      nsamp;			/* samples in the current family */
};

/* hk_admin_label - a label value, escaped for the text format. */
void
hk_admin_label(struct evbuffer *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			evbuffer_add(b, "\\\\", 2);
		else if (*v == '"')
			evbuffer_add(b, "\\\"", 2);
		else if (*v == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, v, 1);
	}
}

/* hk_admin_json_str - a JSON string literal, escaped. */
static void
hk_admin_json_str(struct evbuffer *b, const char *v)
{
	evbuffer_add(b, "\"", 1);
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20)
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, v, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static void
hk_prom_end_family(struct hk_prom *p)
{
	if (p->json && p->nfam > 0)
		evbuffer_add_printf(p->b, "]}");
}

static void
hk_prom_family(struct hk_prom *p, const char *name, const char *type,
    const char *help)
{
	hk_prom_end_family(p);
	if (p->json) {
		evbuffer_add_printf(p->b, "%s{\"name\":\"%s\",\"type\":\"%s\","
		    "\"help\":", p->nfam ? "," : "", name, type);
		hk_admin_json_str(p->b, help);
		evbuffer_add_printf(p->b, ",\"samples\":[");
	} else {
		evbuffer_add_printf(p->b, "# HELP %s %s\n# TYPE %s %s\n", name,
		    help, name, type);
	}
	p->nfam++;
	p->nsamp = 0;
}

/*
 * hk_prom_sample - one sample; labels is { name, value, ..., NULL }, value
 * is already formatted (an integer, a float, "+Inf", "NaN").
 */
static void
hk_prom_sample(struct hk_prom *p, const char *name, const char *const *labels,
    const char *value)
{
	int i;

	if (p->json) {
		evbuffer_add_printf(p->b, "%s{\"name\":\"%s\",\"labels\":{",
		    p->nsamp ? "," : "", name);
		for (i = 0; labels != NULL && labels[i] != NULL; i += 2) {
			evbuffer_add_printf(p->b, "%s\"%s\":", i ? "," : "",
			    labels[i]);
			hk_admin_json_str(p->b, labels[i + 1]);
		}
		/* JSON has no NaN or infinity: those travel as strings. */
		if (strcmp(value, "NaN") == 0 || strchr(value, 'I') != NULL)
			evbuffer_add_printf(p->b, "},\"value\":\"%s\"}", value);
		else
			evbuffer_add_printf(p->b, "},\"value\":%s}", value);
	} else {
		evbuffer_add_printf(p->b, "%s", name);
		for (i = 0; labels != NULL && labels[i] != NULL; i += 2) {
			evbuffer_add_printf(p->b, "%s%s=\"", i ? "," : "{",
			    labels[i]);
			hk_admin_label(p->b, labels[i + 1]);
			evbuffer_add(p->b, "\"", 1);
		}
		evbuffer_add_printf(p->b, "%s %s\n", i ? "}" : "", value);
	}
	p->nsamp++;
}

static void
hk_prom_u64(struct hk_prom *p, const char *name, const char *const *labels,
    uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	hk_prom_sample(p, name, labels, buf);
}

static void
hk_prom_f64(struct hk_prom *p, const char *name, const char *const *labels,
    double v)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.9g", v);
	hk_prom_sample(p, name, labels, buf);
}

/* hk_admin_groups - the groups of one scope kind (sources or destinations). */
static int
hk_admin_is(const struct hk_admin *a, unsigned i, int kind)
{
	int scope = hk_aggr_scope(a->aggr, i);

	if (kind == HK_REC_INGEST)
		return scope == HK_SNAP_SOURCE || scope == HK_SNAP_UNKNOWN;
	return scope == HK_SNAP_DEST;
}

static void
hk_admin_histograms(const struct hk_admin *a, struct hk_prom *p, int kind)
{
	const char *fam = kind == HK_REC_INGEST ? "hookd_ingest_stage_seconds"
	    : "hookd_delivery_stage_seconds";
	const char *key = kind == HK_REC_INGEST ? "source" : "destination";
	const struct hk_aggr_group *g;
	uint64_t cum[HK_HIST_PROM_BOUNDS];
	char name[96];
	unsigned i, s, j;

	hk_prom_family(p, fam, "histogram", kind == HK_REC_INGEST
	    ? "Time spent in each stage of an ingest request."
	    : "Time spent in each stage of a delivery attempt.");
	for (i = 0; i < a->aggr->ngroups; i++) {
		if (!hk_admin_is(a, i, kind)
		    || (g = hk_aggr_get(a->aggr, i)) == NULL)
			continue;
		for (s = 0; s < g->nstages; s++) {
			const struct hk_hist *h = &g->stage[s].all;
			const char *labels[] = { "stage",
			    hk_snapshot_stage_name(kind, s), key, g->name,
			    "le", NULL, NULL };

			if (hk_hist_count(h) == 0)
				continue;
			hk_hist_prom(h, cum);
			snprintf(name, sizeof(name), "%s_bucket", fam);
			for (j = 0; j < HK_HIST_PROM_BOUNDS; j++) {
				labels[5] = hk_hist_prom_le(j);
				hk_prom_u64(p, name, labels, cum[j]);
			}
			labels[4] = NULL;
			snprintf(name, sizeof(name), "%s_sum", fam);
			hk_prom_f64(p, name, labels,
			    (double)hk_hist_sum(h) / 1e6);
			snprintf(name, sizeof(name), "%s_count", fam);
			hk_prom_u64(p, name, labels, hk_hist_count(h));
		}
	}
}

/* hk_admin_by_status - a counter by group and exact status code. */
static void
hk_admin_by_status(const struct hk_admin *a, struct hk_prom *p, int kind,
    const char *fam, const char *help)
{
	const char *key = kind == HK_REC_INGEST ? "source" : "destination";
	const struct hk_aggr_group *g;
	char code[8];
	unsigned i, c;

	hk_prom_family(p, fam, "counter", help);
	for (i = 0; i < a->aggr->ngroups; i++) {
		if (!hk_admin_is(a, i, kind)
		    || (g = hk_aggr_get(a->aggr, i)) == NULL)
			continue;
		for (c = 0; c < HK_AGGR_CODES; c++) {
			const char *labels[] = { key, g->name, "status", code,
			    NULL };

			if (g->codes[c] == 0)
				continue;
			snprintf(code, sizeof(code), "%u", c);
			hk_prom_u64(p, fam, labels, g->codes[c]);
		}
	}
}

/* hk_admin_counter - one counter per configured group of a kind. */
static void
hk_admin_counter(const struct hk_admin *a, struct hk_prom *p, int kind,
    const char *fam, const char *help, unsigned ctr)
{
	const char *key = kind == HK_REC_INGEST ? "source" : "destination";
	const struct hk_aggr_group *g;
	unsigned i;

	hk_prom_family(p, fam, "counter", help);
	for (i = 0; i < a->aggr->ngroups; i++) {
		const char *labels[] = { key, hk_aggr_name(a->aggr, i), NULL };

		if (!hk_admin_is(a, i, kind))
			continue;
		g = hk_aggr_get(a->aggr, i);
		/* Unknown sources appear once there are some. */
		if (g == NULL && hk_aggr_scope(a->aggr, i) == HK_SNAP_UNKNOWN)
			continue;
		hk_prom_u64(p, fam, labels, g ? g->ctr.total[ctr] : 0);
	}
}

/*
 * hk_admin_proc_slot - the slot to report for each (role, index): the one
 * of the newest generation, a running one before a dead one.  During a
 * reload two generations share a (role, index); one series each is what
 * Prometheus accepts.
 */
static int
hk_admin_proc_slot(const struct hk_admin *a, unsigned i)
{
	const struct hk_shm_slot *s = hk_segment_slot(a->seg, i), *o;
	uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);

	if (st == HK_SLOT_FREE)
		return 0;
	for (unsigned j = 0; j < a->seg->hdr->nslots; j++) {
		uint32_t ost;

		o = hk_segment_slot(a->seg, j);
		ost = atomic_load_explicit(&o->state, memory_order_relaxed);
		if (j == i || ost == HK_SLOT_FREE || o->role != s->role
		    || o->index != s->index)
			continue;
		if (o->generation > s->generation
		    || (o->generation == s->generation
		    && (st == HK_SLOT_DEAD) > (ost == HK_SLOT_DEAD))
		    || (o->generation == s->generation
		    && (st == HK_SLOT_DEAD) == (ost == HK_SLOT_DEAD) && j < i))
			return 0;
	}
	return 1;
}

/* hk_admin_proc_alive - the slot's process runs (its state says so and
 * the pid exists). */
static int
hk_admin_proc_alive(const struct hk_shm_slot *s)
{
	uint32_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
	int pid = atomic_load_explicit(&s->pid, memory_order_relaxed);

	if (st == HK_SLOT_FREE || st == HK_SLOT_DEAD || pid <= 0)
		return 0;
	return kill(pid, 0) == 0;
}

static double
hk_admin_beat_age(const struct hk_shm_slot *s, uint64_t now_ns)
{
	/* Relaxed: a display value (child.c stores it relaxed too). */
	uint64_t beat = atomic_load_explicit(&s->heartbeat_ns,
	    memory_order_relaxed);

	return now_ns > beat ? (double)(now_ns - beat) / 1e9 : 0.0;
}

static void
hk_admin_processes(const struct hk_admin *a, struct hk_prom *p)
{
	static const struct {
		const char *name, *type, *help;
	} fams[3] = {
		{ "hookd_process_up", "gauge",
		  "1 when the process of this role and index runs." },
		{ "hookd_process_heartbeat_age_seconds", "gauge",
		  "Time since the process last beat its heartbeat." },
		{ "hookd_process_restarts_total", "counter",
		  "Times the master respawned a process into this slot." },
	};
	uint64_t now_ns = hk_clock_mono_ns();
	char idx[16];
	unsigned f, i;

	for (f = 0; f < 3; f++) {
		hk_prom_family(p, fams[f].name, fams[f].type, fams[f].help);
		for (i = 0; i < a->seg->hdr->nslots; i++) {
			const struct hk_shm_slot *s =
			    hk_segment_slot(a->seg, i);
			const char *labels[] = { "role",
			    hk_segment_role_name(s->role), "index", idx, NULL };

			if (!hk_admin_proc_slot(a, i))
				continue;
			snprintf(idx, sizeof(idx), "%u", (unsigned)s->index);
			if (f == 0)
				hk_prom_u64(p, fams[f].name, labels,
				    (uint64_t)hk_admin_proc_alive(s));
			else if (f == 1)
				hk_prom_f64(p, fams[f].name, labels,
				    hk_admin_beat_age(s, now_ns));
			else
				hk_prom_u64(p, fams[f].name, labels,
				    atomic_load_explicit(&s->restarts,
				    memory_order_relaxed));
		}
	}
}

static uint64_t
hk_admin_missed(const struct hk_admin *a)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < HK_SHM_SLOTS; i++)
		n += a->missed[i];
	return n;
}

static void
hk_admin_metrics(const struct hk_admin *a, struct hk_prom *p)
{
	const struct hk_sampler *rs = a->sampler;

	if (p->json)
		evbuffer_add_printf(p->b, "{\"metrics\":[");
	hk_admin_by_status(a, p, HK_REC_INGEST, "hookd_ingest_requests_total",
	    "Ingest requests answered, by source and HTTP status.");
	hk_admin_counter(a, p, HK_REC_INGEST, "hookd_ingest_errors_total",
	    "Ingest requests answered with 4xx or 5xx.", HK_AGGR_ERRORS);
	hk_admin_counter(a, p, HK_REC_INGEST, "hookd_ingest_duplicates_total",
	    "Ingest requests answered as duplicates.", HK_AGGR_DUPLICATES);
	hk_admin_counter(a, p, HK_REC_INGEST, "hookd_ingest_fallback_total",
	    "Events stored in the PostgreSQL inbox while Redis was down.",
	    HK_AGGR_FALLBACK);
	hk_admin_counter(a, p, HK_REC_INGEST, "hookd_ingest_bytes_total",
	    "Request body bytes received.", HK_AGGR_BYTES);
	hk_admin_histograms(a, p, HK_REC_INGEST);
	hk_admin_by_status(a, p, HK_REC_DELIVERY,
	    "hookd_delivery_attempts_total",
	    "Delivery attempts, by destination and HTTP status "
	    "(0: no answer).");
	hk_admin_counter(a, p, HK_REC_DELIVERY, "hookd_delivery_failures_total",
	    "Delivery attempts that failed.", HK_AGGR_ERRORS);
	hk_admin_counter(a, p, HK_REC_DELIVERY, "hookd_delivery_dead_total",
	    "Deliveries given up after their last attempt.", HK_AGGR_DEAD);
	hk_admin_histograms(a, p, HK_REC_DELIVERY);

	hk_prom_family(p, "hookd_ring_missed_total", "counter",
	    "Timing records overwritten before the stats process read them.");
	hk_prom_u64(p, "hookd_ring_missed_total", NULL, hk_admin_missed(a));
	hk_prom_family(p, "hookd_ring_records_total", "counter",
	    "Timing records read from the rings.");
	hk_prom_u64(p, "hookd_ring_records_total", NULL, a->aggr->records);
	hk_prom_family(p, "hookd_redis_up", "gauge",
	    "1 when Redis answered the last sample, 0 when not.");
	hk_prom_u64(p, "hookd_redis_up", NULL, rs->up == 1);
	hk_prom_family(p, "hookd_stream_length", "gauge",
	    "Entries in the Redis stream (XLEN); -1 when unknown.");
	hk_prom_f64(p, "hookd_stream_length", NULL, (double)rs->length);
	hk_prom_family(p, "hookd_stream_pending", "gauge",
	    "Entries delivered to the group but not acknowledged; -1 when "
	    "unknown.");
	hk_prom_f64(p, "hookd_stream_pending", NULL, (double)rs->pending);
	hk_admin_processes(a, p);
	hk_prom_family(p, "hookd_stats_uptime_seconds", "gauge",
	    "Time since the statistics started or were reset.");
	hk_prom_f64(p, "hookd_stats_uptime_seconds", NULL,
	    (double)(hk_clock_real_us() - a->aggr->started_us) / 1e6);
	hk_prom_end_family(p);
	if (p->json)
		evbuffer_add_printf(p->b, "]}\n");
}

/* hk_admin_reply - send b with a status and a content type. */
static void
hk_admin_reply(struct evhttp_request *req, int code, const char *reason,
    const char *type)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", type);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, NULL);
}

static void
hk_admin_error(struct evhttp_request *req, int code, const char *reason,
    const char *err, const char *msg)
{
	struct evbuffer *b = evhttp_request_get_output_buffer(req);

	evbuffer_add_printf(b, "{\"error\":\"%s\",\"message\":", err);
	hk_admin_json_str(b, msg);
	evbuffer_add_printf(b, "}\n");
	hk_admin_reply(req, code, reason, "application/json");
}

/* hk_admin_query_json - does the query string ask for format=json? */
static int
hk_admin_query_json(const struct evhttp_uri *uri)
{
	struct evkeyvalq q;
	const char *query = evhttp_uri_get_query(uri), *v;
	int json;

	if (query == NULL)
		return 0;
	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(query, &q) != 0)
		return 0;
	v = evhttp_find_header(&q, "format");
	json = v != NULL && strcmp(v, "json") == 0;
	evhttp_clear_headers(&q);
	return json;
}

static void
hk_admin_get_metrics(struct hk_admin *a, struct evhttp_request *req,
    const struct evhttp_uri *uri)
{
	struct hk_prom p;

	memset(&p, 0, sizeof(p));
	p.b = evhttp_request_get_output_buffer(req);
	p.json = hk_admin_query_json(uri);
	hk_admin_metrics(a, &p);
	hk_admin_reply(req, 200, "OK", p.json ? "application/json"
	    : HK_PROM_TEXT_TYPE);
}

static void
hk_admin_get_stats(struct hk_admin *a, struct evhttp_request *req)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	if (a->snap->magic != HK_SNAP_MAGIC) {
		hk_admin_error(req, 503, "Service Unavailable", "unavailable",
		    "no snapshot has been published yet");
		return;
	}
	if ((fp = open_memstream(&text, &len)) == NULL) {
		hk_admin_error(req, 500, "Internal Server Error", "internal",
		    "out of memory");
		return;
	}
	hk_snapshot_json(a->snap, hk_clock_real_us(), fp);
	fclose(fp);
	evbuffer_add(evhttp_request_get_output_buffer(req), text, len);
	free(text);
	hk_admin_reply(req, 200, "OK", "application/json");
}

static void
hk_admin_get_detailed(struct hk_admin *a, struct evhttp_request *req)
{
	struct evbuffer *b = evhttp_request_get_output_buffer(req);
	const struct hk_sampler *rs = a->sampler;
	uint64_t now_ns = hk_clock_mono_ns(), now_us = hk_clock_real_us();
	uint64_t limit = (uint64_t)a->conf->watchdog_ms * 1000000u;
	unsigned gen = atomic_load_explicit(&a->seg->hdr->generation,
	    memory_order_relaxed);
	int ok = rs->up == 1, first = 1;

	evbuffer_add_printf(b, "{\"processes\":[");
	for (unsigned i = 0; i < a->seg->hdr->nslots; i++) {
		const struct hk_shm_slot *s = hk_segment_slot(a->seg, i);
		uint32_t st = atomic_load_explicit(&s->state,
		    memory_order_relaxed);
		int alive = hk_admin_proc_alive(s);
		double age = hk_admin_beat_age(s, now_ns);

		if (st == HK_SLOT_FREE)
			continue;
		/* The current generation must be up and beating. */
		if (s->generation == gen || s->role == HK_ROLE_MASTER)
			if (!alive || age * 1e9 > (double)limit)
				ok = 0;
		evbuffer_add_printf(b, "%s{\"slot\":%u,\"role\":\"%s\","
		    "\"index\":%u,\"pid\":%d,\"generation\":%u,"
		    "\"state\":\"%s\","
		    "\"alive\":%s,\"heartbeat_age_ms\":%.1f,\"restarts\":%u,"
		    "\"ring_records\":%" PRIu64 ",\"ring_missed\":%" PRIu64 "}",
		    first ? "" : ",", i, hk_segment_role_name(s->role),
		    (unsigned)s->index, (int)atomic_load_explicit(&s->pid,
		    memory_order_relaxed), s->generation,
		    hk_segment_state_name((int)st), alive ? "true" : "false",
		    age * 1e3, atomic_load_explicit(&s->restarts,
		    memory_order_relaxed), hk_ring_head(&s->ring),
		    a->missed[i]);
		first = 0;
	}
	evbuffer_add_printf(b, "],\"redis\":{\"up\":%s,\"stream_length\":%"
	    PRId64 ",\"pending\":%" PRId64 ",\"sampled_age_ms\":%.1f},"
	    "\"ring_missed\":%" PRIu64 ",\"records\":%" PRIu64 ","
	    "\"status\":\"%s\"}\n",
	    rs->up < 0 ? "null" : rs->up ? "true" : "false", rs->length,
	    rs->pending, rs->sampled_us && now_us > rs->sampled_us
	    ? (double)(now_us - rs->sampled_us) / 1e3 : -1.0,
	    hk_admin_missed(a), a->aggr->records, ok ? "ok" : "degraded");
	hk_admin_reply(req, 200, "OK", "application/json");
}

/* hk_admin_token_ok - constant-time comparison of the bearer token. */
static int
hk_admin_token_ok(const char *got, const char *want)
{
	size_t glen = strlen(got), wlen = strlen(want), i;
	unsigned char diff = glen != wlen;

	/* Walk the expected token whatever was sent: no early exit. */
	for (i = 0; i < wlen; i++)
		diff |= (unsigned char)(want[i] ^ (i < glen ? got[i] : 0));
	return diff == 0;
}

/* hk_admin_authorized - check the bearer token; if wrong, answer, return 0. */
static int
hk_admin_authorized(struct hk_admin *a, struct evhttp_request *req)
{
	const char *token = a->conf->admin.token, *h;

	if (token == NULL || token[0] == '\0') {
		hk_admin_error(req, 403, "Forbidden", "forbidden",
		    "admin.token is not set, so requests that change state "
		    "are disabled");
		return 0;
	}
	h = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0
	    || !hk_admin_token_ok(h + 7, token)) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"hookd admin\"");
		hk_admin_error(req, 401, "Unauthorized", "unauthorized",
		    h == NULL ? "this request needs an Authorization: Bearer "
		    "header with the admin token" : "wrong admin token");
		return 0;
	}
	return 1;
}

static void
hk_admin_post_reset(struct hk_admin *a, struct evhttp_request *req)
{
	if (!hk_admin_authorized(a, req))
		return;
	a->reset();
	hk_log_info("stats: statistics reset through the admin port");
	evbuffer_add_printf(evhttp_request_get_output_buffer(req),
	    "{\"reset\":true}\n");
	hk_admin_reply(req, 200, "OK", "application/json");
}

static void
hk_admin_request(struct evhttp_request *req, void *arg)
{
	struct hk_admin *a = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	int get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;

	if (path == NULL || path[0] == '\0')
		path = "/";
	if (strcmp(path, "/stats/reset") == 0) {
		if (cmd != EVHTTP_REQ_POST)
			goto method;
		hk_admin_post_reset(a, req);
		return;
	}
	if (strcmp(path, "/metrics") != 0 && strcmp(path, "/stats") != 0
	    && strcmp(path, "/health") != 0
	    && strcmp(path, "/health/detailed") != 0) {
		hk_admin_error(req, 404, "Not Found", "not_found",
		    "no such path; try /metrics, /stats or /health/detailed");
		return;
	}
	if (!get)
		goto method;
	if (strcmp(path, "/metrics") == 0)
		hk_admin_get_metrics(a, req, uri);
	else if (strcmp(path, "/stats") == 0)
		hk_admin_get_stats(a, req);
	else if (strcmp(path, "/health/detailed") == 0)
		hk_admin_get_detailed(a, req);
	else {
		evbuffer_add_printf(evhttp_request_get_output_buffer(req),
		    "{\"status\":\"ok\"}\n");
		hk_admin_reply(req, 200, "OK", "application/json");
	}
	return;
method:
	hk_admin_error(req, 405, "Method Not Allowed", "method_not_allowed",
	    "this path does not take that method");
}

int
hk_admin_init(struct hk_admin *a, struct event_base *base, int fd)
{
	if ((a->http = evhttp_new(base)) == NULL)
		return HK_ERROR;
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD
	    | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_max_body_size(a->http, 64 * 1024);
	evhttp_set_timeout(a->http, 30);
	evhttp_set_gencb(a->http, hk_admin_request, a);
	if (evhttp_accept_socket_with_handle(a->http, fd) == NULL) {
		evhttp_free(a->http);
		a->http = NULL;
		return HK_ERROR;
	}
	return HK_OK;
}

void
hk_admin_free(struct hk_admin *a)
{
	if (a->http != NULL)
		evhttp_free(a->http);
	a->http = NULL;
}
