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
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "admin.h"
#include "clock.h"
#include "core.h"
#include "log.h"
#include "promtext.h"
#include "ring.h"

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
	hk_promtext_json_str(b, msg);
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
	int json = hk_admin_query_json(uri);

	hk_promtext_metrics(a, evhttp_request_get_output_buffer(req), json);
	hk_admin_reply(req, 200, "OK", json ? "application/json"
	    : HK_PROMTEXT_TYPE);
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
