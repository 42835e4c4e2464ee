/*
 * admin.c - the admin HTTP port (routes in admin.h): routing, the bearer
 * token, and every body but /metrics, which promtext.c writes.
 *
 * The slot fields read here (state, pid, heartbeat, restarts, generation)
 * are display values that the master and the slot owners store relaxed:
 * every load of them below is relaxed, pairs with nothing, and is used
 * for nothing but the number it shows.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "admin.h"
#include "adminctl.h"
#include "clock.h"
#include "core.h"
#include "dashboard.h"
#include "httpconn.h"
#include "log.h"
#include "promtext.h"
#include "ring.h"

#define HK_ADMIN_MAX_CONNS  256
#define HK_ADMIN_MAX_BODY   (64 * 1024)

/* The one admin port of the stats process, for the connection callbacks. */
static struct hk_admin *hk_admin_self;

/* hk_admin_reply - answer with b's bytes, never cached. */
static void
hk_admin_reply(struct hk_httpconn *c, int status, const char *type,
    const char *headers, struct evbuffer *b)
{
	char hdr[256];
	size_t len = evbuffer_get_length(b);
	const char *body = len ? (const char *)evbuffer_pullup(b, -1) : "";

	snprintf(hdr, sizeof(hdr), "Cache-Control: no-store\r\n%s",
	    headers ? headers : "");
	if (body == NULL) {
		hk_httpconn_error(c, 500, "internal", "out of memory", NULL);
		return;
	}
	hk_httpconn_respond_type(c, status, type, hdr, body, len);
}

static void
hk_admin_error(struct hk_httpconn *c, struct evbuffer *b, int status,
    const char *headers, const char *err, const char *msg)
{
	evbuffer_drain(b, evbuffer_get_length(b));
	evbuffer_add_printf(b, "{\"error\":\"%s\",\"message\":", err);
	hk_promtext_json_str(b, msg);
	evbuffer_add_printf(b, "}\n");
	hk_admin_reply(c, status, "application/json", headers, b);
}

/* hk_admin_query_json - does the query string ask for format=json? */
static int
hk_admin_query_json(const char *query)
{
	size_t n;

	while (query != NULL && *query != '\0') {
		n = strcspn(query, "&");
		if (n == 11 && strncmp(query, "format=json", 11) == 0)
			return 1;
		query = query[n] == '&' ? query + n + 1 : NULL;
	}
	return 0;
}

static void
hk_admin_get_metrics(struct hk_admin *a, struct hk_httpconn *c,
    struct evbuffer *b, const char *query)
{
	int json = hk_admin_query_json(query);

	hk_promtext_metrics(a, b, json);
	hk_admin_reply(c, 200, json ? "application/json" : HK_PROMTEXT_TYPE,
	    NULL, b);
}

/* hk_admin_routing_json - ,"routing":{...}} closing the /stats object. */
static void
hk_admin_routing_json(const struct hk_admin *a, struct evbuffer *b)
{
	const struct hk_typecount *t = a->types;
	unsigned n;

	if (t == NULL) {
		evbuffer_add_printf(b, "}\n");
		return;
	}
	n = t->ntotal;
	evbuffer_add_printf(b, ",\"routing\":{\"filtered\":{");
	for (unsigned s = 0; s < t->nsources; s++) {
		evbuffer_add_printf(b, "%s", s ? "," : "");
		hk_promtext_json_str(b, a->conf->sources[s].name);
		evbuffer_add_printf(b, ":%llu",
		    (unsigned long long)t->filtered[s]);
	}
	evbuffer_add_printf(b, "},\"types\":[");
	for (unsigned i = 0; i < t->ntotal; i++) {
		evbuffer_add_printf(b, "%s{\"source\":", i ? "," : "");
		hk_promtext_json_str(b,
		    a->conf->sources[t->types[i].source].name);
		evbuffer_add_printf(b, ",\"type\":");
		hk_promtext_json_str(b, t->types[i].name);
		evbuffer_add_printf(b, ",\"count\":%llu}",
		    (unsigned long long)t->types[i].count);
	}
	for (unsigned s = 0; s < t->nsources; s++) {
		if (t->other[s] == 0)
			continue;
		evbuffer_add_printf(b, "%s{\"source\":", n++ ? "," : "");
		hk_promtext_json_str(b, a->conf->sources[s].name);
		evbuffer_add_printf(b, ",\"type\":\"other\",\"count\":%llu}",
		    (unsigned long long)t->other[s]);
	}
	evbuffer_add_printf(b, "]}}\n");
}

static void
hk_admin_get_stats(struct hk_admin *a, struct hk_httpconn *c,
    struct evbuffer *b)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp;

	if (a->snap->magic != HK_SNAP_MAGIC) {
		hk_admin_error(c, b, 503, NULL, "unavailable",
		    "no snapshot has been published yet");
		return;
	}
	if ((fp = open_memstream(&text, &len)) == NULL) {
		hk_admin_error(c, b, 500, NULL, "internal", "out of memory");
		return;
	}
	hk_snapshot_json(a->snap, hk_clock_real_us(), fp);
	fclose(fp);
	/* The snapshot's object, then the routing counters the stats process
	 * keeps by itself (typecount.h). */
	while (len > 0 && text[len - 1] != '}')
		len--;
	evbuffer_add(b, text, len > 0 ? len - 1 : 0);
	free(text);
	hk_admin_routing_json(a, b);
	hk_admin_reply(c, 200, "application/json", NULL, b);
}

static void
hk_admin_get_detailed(struct hk_admin *a, struct hk_httpconn *c,
    struct evbuffer *b)
{
	const struct hk_sampler *rs = a->sampler;
	uint64_t now_ns = hk_clock_mono_ns(), now_us = hk_clock_real_us();
	uint64_t limit = (uint64_t)a->conf->watchdog_ms * 1000000u;
	unsigned gen = atomic_load_explicit(&a->seg->hdr->generation,
	    memory_order_relaxed);
	int ok = rs->up == 1, first = 1;

	evbuffer_add_printf(b, "{\"processes\":[");
	for (unsigned i = 0; i < HK_SHM_SLOTS; i++) {
		const struct hk_shm_slot *s = hk_segment_slot(a->seg, i);
		uint32_t st = atomic_load_explicit(&s->state,
		    memory_order_relaxed);
		int alive = hk_promtext_proc_alive(s);
		double age = hk_promtext_beat_age(s, now_ns);

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
	    hk_promtext_missed(a), a->aggr->records, ok ? "ok" : "degraded");
	hk_admin_reply(c, 200, "application/json", NULL, b);
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
hk_admin_authorized(struct hk_admin *a, struct hk_httpconn *c,
    struct evbuffer *b)
{
	const char *token = a->conf->admin.token, *h;

	if (token == NULL || token[0] == '\0') {
		hk_admin_error(c, b, 403, NULL, "forbidden",
		    "admin.token is not set, so requests that change state "
		    "are disabled");
		return 0;
	}
	h = hk_http_header(&c->req, "Authorization", NULL);
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0
	    || !hk_admin_token_ok(h + 7, token)) {
		hk_admin_error(c, b, 401,
		    "WWW-Authenticate: Bearer realm=\"hookd admin\"\r\n",
		    "unauthorized", h == NULL ? "this request needs an "
		    "Authorization: Bearer header with the admin token"
		    : "wrong admin token");
		return 0;
	}
	return 1;
}

static void
hk_admin_post_reset(struct hk_admin *a, struct hk_httpconn *c,
    struct evbuffer *b)
{
	if (!hk_admin_authorized(a, c, b))
		return;
	a->reset();
	hk_log_info("stats: statistics reset through the admin port");
	evbuffer_add_printf(b, "{\"reset\":true}\n");
	hk_admin_reply(c, 200, "application/json", NULL, b);
}

/* hk_admin_route - answer one complete request. */
static void
hk_admin_route(struct hk_admin *a, struct hk_httpconn *c, struct evbuffer *b)
{
	int method = c->req.method;
	int get = method == HK_HTTP_GET || method == HK_HTTP_HEAD, dash;
	char path[256];
	const char *query;
	size_t n;

	/* The target is NUL-terminated in place (httpconn.c). */
	n = strcspn(c->req.target, "?");
	query = c->req.target[n] == '?' ? c->req.target + n + 1 : NULL;
	snprintf(path, sizeof(path), "%.*s", (int)n, c->req.target);
	if (strcmp(path, "/stats/reset") == 0) {
		if (method != HK_HTTP_POST)
			goto method;
		hk_admin_post_reset(a, c, b);
		return;
	}
	if ((dash = hk_dashboard_route(path)) != HK_DASHBOARD_NONE) {
		if (!get)
			goto method;
		/* The figures are as read-only as /stats: open while no token
		 * is set, behind it once one is. */
		if (dash == HK_DASHBOARD_DATA && a->conf->admin.token != NULL
		    && a->conf->admin.token[0] != '\0'
		    && !hk_admin_authorized(a, c, b))
			return;
		hk_dashboard_get(a, c, b, path, query);
		return;
	}
	if (hk_adminctl_path(path)) {
		if (hk_admin_authorized(a, c, b))
			hk_adminctl_request(a, c, path);
		return;
	}
	if (strcmp(path, "/metrics") != 0 && strcmp(path, "/stats") != 0
	    && strcmp(path, "/health") != 0
	    && strcmp(path, "/health/detailed") != 0) {
		hk_admin_error(c, b, 404, NULL, "not_found",
		    "no such path; try /metrics, /stats or /health/detailed");
		return;
	}
	if (!get)
		goto method;
	if (strcmp(path, "/metrics") == 0)
		hk_admin_get_metrics(a, c, b, query);
	else if (strcmp(path, "/stats") == 0)
		hk_admin_get_stats(a, c, b);
	else if (strcmp(path, "/health/detailed") == 0)
		hk_admin_get_detailed(a, c, b);
	else {
		evbuffer_add_printf(b, "{\"status\":\"ok\"}\n");
		hk_admin_reply(c, 200, "application/json", NULL, b);
	}
	return;
method:
	hk_admin_error(c, b, 405, strcmp(path, "/stats/reset") == 0
	    ? "Allow: POST\r\n" : "Allow: GET, HEAD\r\n",
	    "method_not_allowed", "this path does not take that method");
}

static void
hk_admin_request(struct hk_httpconn *c)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		hk_httpconn_error(c, 503, "unavailable", "out of memory", NULL);
		return;
	}
	hk_admin_route(hk_admin_self, c, b);
	evbuffer_free(b);
}

static const struct hk_httpconn_ops hk_admin_ops = {
	.request = hk_admin_request,
};

/*
 * The admin port has the ingest port's limits and total deadlines: a
 * client that sends a huge head, or one byte a second, costs the stats
 * process (which also drains the rings) no more than one on the ingest
 * port costs a worker.
 */
int
hk_admin_init(struct hk_admin *a, struct event_base *base, int fd)
{
	const struct hk_conf *conf = a->conf;

	hk_admin_self = a;
	a->srv.max_conns = HK_ADMIN_MAX_CONNS;
	a->srv.max_head = (size_t)conf->limits.max_header_bytes;
	a->srv.max_body = HK_ADMIN_MAX_BODY;
	a->srv.header_timeout_ms = conf->limits.header_timeout_ms;
	a->srv.body_timeout_ms = conf->limits.body_timeout_ms;
	return hk_httpconn_server_init(&a->srv, base, fd, &hk_admin_ops);
}

void
hk_admin_free(struct hk_admin *a)
{
	hk_adminctl_free();
	hk_httpconn_server_free(&a->srv);
}
