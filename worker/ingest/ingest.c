/*
 * ingest.c - the ingest worker: hookd's front door.
 *
 * One libevent base serves the worker's own SO_REUSEPORT socket, inherited
 * from the master.  For POST /webhooks/{source} the hot path is: limits
 * (httpconn.c) -> source lookup -> rate limit -> content type -> signature ->
 * body validation -> idempotency key -> one Redis round trip that
 * deduplicates and enqueues atomically (enqueue.c) -> answer.  The answer goes
 * out only after the store has the event.
 *
 * Peers: the master (signals, slot), Redis and PostgreSQL (enqueue.c), HTTP
 * clients.  Signals: TERM stops accepting and drains in-flight requests,
 * QUIT exits.  In shm it owns its slot: heartbeat, counters, ring.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "child.h"
#include "clock.h"
#include "codec.h"
#include "core.h"
#include "enqueue.h"
#include "evfield.h"
#include "fmt.h"
#include "httpconn.h"
#include "ingtypes.h"
#include "jsonptr.h"
#include "jsonscan.h"
#include "log.h"
#include "ring.h"
#include "srclimit.h"
#include "uuid.h"
#include "verify.h"

#define HK_INGEST_DRAIN_POLL_MS 20
#define HK_INGEST_KEY_MAX       200	/* longer keys are hashed */
#define HK_INGEST_RETRY_503     "Retry-After: 5\r\n"

/* One request between its body and its answer. */
struct hk_ingest_req {
	struct hk_httpconn *conn;
	const struct hk_conf_source *src;
	uint64_t  t_verify_ns;		/* verification done */
	uint64_t  t_parse_ns;		/* validation and key done */
	uint64_t  t_stored_ns;		/* the store answered */
	uint8_t   id[16];
	int       flags;		/* HK_REC_* */
	struct hk_enqueue_event ev;
	char      key[HK_CODEC_SHA256_HEX + HK_INGEST_KEY_MAX];
	char     *headers_json;
};

static struct {
	struct hk_child       *child;
	const struct hk_conf  *conf;
	struct event_base     *base;
	struct hk_httpconn_server  srv;
	struct event          *drain_ev;
	int                    metrics;	/* metrics.enabled */
	int                    quiet;	/* this answer is a health probe */
} hk_ingest;

static void hk_ingest_head(struct hk_httpconn *c);
static void hk_ingest_request(struct hk_httpconn *c);
static void hk_ingest_done(struct hk_httpconn *c, int status);
static void hk_ingest_stop(struct hk_child *c, int fast);

static const struct hk_httpconn_ops hk_ingest_ops = {
	hk_ingest_head, hk_ingest_request, hk_ingest_done
};

int
hk_ingest_main(struct hk_child *c)
{
	const struct hk_conf *conf = c->conf;

	hk_ingest.child = c;
	hk_ingest.conf = conf;
	hk_ingest.metrics = conf->metrics.enabled;
	if ((hk_ingest.base = event_base_new()) == NULL)
		hk_fatalx("event_base_new failed");
	if (hk_srclimit_init(conf, c->seg) != HK_OK)
		hk_fatalx("out of memory for the rate limits");

	hk_ingest.srv.max_conns = HK_MAX(1, (conf->limits.max_connections
	    + conf->nworkers - 1) / conf->nworkers);
	hk_ingest.srv.max_head = (size_t)conf->limits.max_header_bytes;
	hk_ingest.srv.max_body = (size_t)conf->limits.max_body_bytes;
	hk_ingest.srv.header_timeout_ms = conf->limits.header_timeout_ms;
	hk_ingest.srv.body_timeout_ms = conf->limits.body_timeout_ms;
	if (hk_httpconn_server_init(&hk_ingest.srv, hk_ingest.base, c->fd,
	    &hk_ingest_ops) != HK_OK)
		hk_fatalx("cannot listen on fd %d", c->fd);
	if (hk_enqueue_init(hk_ingest.base, conf) != HK_OK)
		hk_fatalx("cannot set up the event store");
	if (hk_ingtypes_init(conf, &c->slot->ring) != HK_OK)
		hk_fatalx("out of memory for the event types");
	if (hk_child_loop_setup(c, hk_ingest.base, hk_ingest_stop) != HK_OK)
		hk_fatalx("cannot set up the event loop");

	hk_child_set_state(c, HK_SLOT_RUNNING);
	event_base_dispatch(hk_ingest.base);

	hk_child_loop_teardown(c);
	if (hk_ingest.drain_ev != NULL)
		event_free(hk_ingest.drain_ev);
	/* The store first: on a fast stop it calls back pending requests,
	 * whose connections must still exist. */
	hk_enqueue_shutdown();
	hk_httpconn_server_free(&hk_ingest.srv);
	hk_srclimit_shutdown();
	hk_ingtypes_free();
	event_base_free(hk_ingest.base);
	return 0;
}

static const char *
hk_ingest_header_fn(void *ctx, const char *name)
{
	return hk_http_header(ctx, name, NULL);
}

/* The source named by a /webhooks/{source} target, or NULL. */
static const struct hk_conf_source *
hk_ingest_source(const struct hk_httpconn *c, int *is_webhook)
{
	const char *t = c->req.target, *name, *q;
	size_t len;

	*is_webhook = strncmp(t, "/webhooks/", 10) == 0;
	if (!*is_webhook)
		return NULL;
	name = t + 10;
	q = strchr(name, '?');
	len = q ? (size_t)(q - name) : strlen(name);
	return hk_conf_source(hk_ingest.conf, name, len);
}

static int
hk_ingest_path_is(const struct hk_httpconn *c, const char *path)
{
	size_t n = strlen(path);

	return strncmp(c->req.target, path, n) == 0
	    && (c->req.target[n] == '\0' || c->req.target[n] == '?');
}

/* Length of the media type without parameters and white space. */
static size_t
hk_ingest_media_len(const char *ct)
{
	size_t n = strcspn(ct, ";");

	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n;
}

static int
hk_ingest_is_json(const char *ct, size_t n)
{
	return (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
	    || (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

static int
hk_ingest_type_allowed(const struct hk_conf_source *src, const char *ct,
    size_t n)
{
	for (int i = 0; i < src->ncontent_types; i++)
		if (strlen(src->content_types[i]) == n
		    && strncasecmp(src->content_types[i], ct, n) == 0)
			return 1;
	return 0;
}

/*
 * hk_ingest_head - refuse what can be refused before the body is read:
 * unknown paths and sources, wrong methods, content types, rate limits.
 */
static void
hk_ingest_head(struct hk_httpconn *c)
{
	const struct hk_conf_source *src;
	uint64_t retry_ns;
	char hdr[64];
	const char *ct;
	int webhook;

	src = hk_ingest_source(c, &webhook);
	if (!webhook)
		return;			/* health and 404s: answered later */
	if (c->req.method != HK_HTTP_POST) {
		hk_httpconn_error(c, 405, "method_not_allowed", "webhooks are "
		    "delivered with POST", "Allow: POST\r\n");
		return;
	}
	if (src == NULL) {
		hk_httpconn_error(c, 404, "unknown_source", "no source with this "
		    "name is configured", NULL);
		return;
	}
	ct = hk_http_header(&c->req, "content-type", NULL);
	if (ct == NULL || !hk_ingest_type_allowed(src, ct,
	    hk_ingest_media_len(ct))) {
		hk_httpconn_error(c, 415, "unsupported_media_type", ct == NULL
		    ? "the request has no Content-Type" : "this source does "
		    "not accept this Content-Type", NULL);
		return;
	}
	if (hk_srclimit_take((int)(src - hk_ingest.conf->sources), &retry_ns)
	    != HK_OK) {
		snprintf(hdr, sizeof(hdr), "Retry-After: %llu\r\n",
		    (unsigned long long)HK_MAX(1, (retry_ns + 999999999u)
		    / 1000000000u));
		hk_httpconn_error(c, 429, "rate_limited", "this source is over its "
		    "rate limit; retry later", hdr);
		return;
	}
}

static void
hk_ingest_health(struct hk_httpconn *c)
{
	char body[128];
	int n, redis = hk_enqueue_redis_up(), pg = hk_enqueue_pg_up();

	/* Probes are not traffic: they would swamp the request counts. */
	hk_ingest.quiet = 1;
	if (hk_ingest_path_is(c, "/health")) {
		hk_httpconn_respond(c, 200, NULL, "{\"status\":\"ok\"}", 15);
		return;
	}
	n = snprintf(body, sizeof(body), "{\"status\":\"%s\",\"redis\":\"%s\","
	    "\"postgres\":\"%s\"}", redis || pg ? "ready" : "unavailable",
	    redis ? "up" : "down", pg ? "up" : "down");
	hk_httpconn_respond(c, redis || pg ? 200 : 503, NULL, body, (size_t)n);
}

/*
 * hk_ingest_json_str - append s as a JSON string body (no quotes), lower
 * case when asked (header names).  Bytes that are not UTF-8 become U+FFFD:
 * the headers must stay valid JSON for PostgreSQL's jsonb and for the
 * delivery pool.
 */
static char *
hk_ingest_json_str(char *p, const char *s, int lower)
{
	char *end = hk_jsonscan_escape_str(p, s, strlen(s));

	/* Escapes are lower case already, and UTF-8 bytes are not letters. */
	for (; lower && p < end; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return end;
}

/* Headers that describe this hop, not the event: not stored. */
static int
hk_ingest_hop_header(const char *name)
{
	static const char *hop[] = { "connection", "keep-alive",
	    "transfer-encoding", "content-length", "expect", "te", "upgrade",
	    "proxy-connection", "proxy-authorization" };

	for (size_t i = 0; i < HK_NELEM(hop); i++)
		if (strcasecmp(name, hop[i]) == 0)
			return 1;
	return 0;
}

/*
 * hk_ingest_headers_json - the request headers as one JSON object with
 * lower-case names; a repeated header's values are joined with ", ", as
 * HTTP allows.
 */
static char *
hk_ingest_headers_json(const struct hk_http_req *r, size_t *len)
{
	size_t cap = 3;
	char *out, *p;
	int first = 1;

	for (int i = 0; i < r->nheaders; i++)
		cap += 6 * (r->headers[i].name_len + r->headers[i].value_len)
		    + 8;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	p = out;
	*p++ = '{';
	for (int i = 0; i < r->nheaders; i++) {
		const char *name = r->headers[i].name;
		int seen = 0;

		if (hk_ingest_hop_header(name))
			continue;
		for (int j = 0; j < i && !seen; j++)
			seen = strcasecmp(r->headers[j].name, name) == 0;
		if (seen)
			continue;
		if (!first)
			*p++ = ',';
		first = 0;
		*p++ = '"';
		p = hk_ingest_json_str(p, name, 1);
		*p++ = '"';
		*p++ = ':';
		*p++ = '"';
		p = hk_ingest_json_str(p, r->headers[i].value, 0);
		for (int j = i + 1; j < r->nheaders; j++) {
			if (strcasecmp(r->headers[j].name, name) != 0)
				continue;
			*p++ = ',';
			*p++ = ' ';
			p = hk_ingest_json_str(p, r->headers[j].value, 0);
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	*len = (size_t)(p - out);
	return out;
}

/* hk_ingest_set_key - use s as the idempotency key; long keys are hashed. */
static void
hk_ingest_set_key(struct hk_ingest_req *r, const char *s, size_t len)
{
	if (len == 0)
		return;
	/* Keys that are long or not UTF-8 are hashed: PostgreSQL's text
	 * columns take neither well. */
	if (len > HK_INGEST_KEY_MAX || !hk_jsonscan_utf8_ok(s, len)) {
		hk_codec_sha256_hex(s, len, r->key);
		len = strlen(r->key);
	} else {
		memcpy(r->key, s, len);
		r->key[len] = '\0';
	}
	r->ev.idem_key = r->key;
	r->ev.idem_len = len;
}

/*
 * hk_ingest_parse - validate a JSON body and find the idempotency key.
 * Returns HK_ERROR after answering 400.
 */
static int
hk_ingest_parse(struct hk_httpconn *c, struct hk_ingest_req *r, int is_json)
{
	const struct hk_conf_source *src = r->src;
	json_t *root = NULL, *jv;
	json_error_t jerr;
	const char *v;
	size_t vlen;

	/*
	 * One verdict for every source: the scanner's, which is several
	 * times cheaper than jansson.  Only a json:/pointer key needs a tree,
	 * built afterwards; when jansson cannot build it for a body the
	 * scanner accepted (a number beyond its range, which RFC 8259
	 * allows), the key is absent, as when the pointer finds nothing.
	 */
	if (is_json) {
		size_t off;
		const char *why;

		if (hk_jsonscan(c->body, c->body_len, &off, &why) != HK_OK) {
			char msg[256];

			snprintf(msg, sizeof(msg), "the body is not valid JSON: "
			    "%s at byte %zu", why, off);
			hk_httpconn_error(c, 400, "invalid_json", msg, NULL);
			return HK_ERROR;
		}
		if (src->idem_kind == HK_IDEM_JSON)
			root = json_loadb(c->body, c->body_len, JSON_DECODE_ANY
			    | JSON_ALLOW_NUL, &jerr);
	}
	switch (src->idem_kind) {
	case HK_IDEM_DEFAULT:
		if ((v = hk_http_header(&c->req, "idempotency-key", &vlen)))
			hk_ingest_set_key(r, v, vlen);
		break;
	case HK_IDEM_HEADER:
		if ((v = hk_http_header(&c->req, src->idem_arg, &vlen)))
			hk_ingest_set_key(r, v, vlen);
		break;
	case HK_IDEM_JSON:
		if (root == NULL || (jv = hk_jsonptr_get(root, src->idem_arg))
		    == NULL)
			break;
		if (json_is_string(jv)) {
			hk_ingest_set_key(r, json_string_value(jv),
			    json_string_length(jv));
		} else if (json_is_integer(jv)) {
			char num[32];

			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			    json_integer_value(jv));
			hk_ingest_set_key(r, num, strlen(num));
		}
		break;
	case HK_IDEM_BODY_HASH:
		hk_codec_sha256_hex(c->body, c->body_len, r->key);
		r->ev.idem_key = r->key;
		r->ev.idem_len = strlen(r->key);
		break;
	}
	if (root != NULL)
		json_decref(root);
	return HK_OK;
}

/*
 * hk_ingest_evtype - the event type, where the source says it is.  A value
 * that is empty, too long or not UTF-8 is no type: it would only ever match
 * a "*" pattern, and it must stay printable in a metric label.
 */
static void
hk_ingest_evtype(struct hk_httpconn *c, struct hk_ingest_req *r,
    int is_json)
{
	const struct hk_evfield *f = &r->src->evtype;
	char *out = r->ev.event_type;
	size_t outlen = sizeof(r->ev.event_type), vlen;
	const char *v;
	int rc = HK_ERROR;

	switch (f->kind) {
	case HK_EVFIELD_HEADER:
		if ((v = hk_http_header(&c->req, f->arg, &vlen)) != NULL
		    && vlen < outlen) {
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			rc = HK_OK;
		}
		break;
	case HK_EVFIELD_JSON:
		if (is_json)
			rc = hk_evfield_json(c->body, c->body_len, f, out,
			    outlen);
		break;
	case HK_EVFIELD_FORM:
		if (!is_json)
			rc = hk_evfield_form(c->body, c->body_len, f->arg, out,
			    outlen);
		break;
	}
	if (rc != HK_OK || !hk_jsonscan_utf8_ok(out, strlen(out)))
		out[0] = '\0';
}

static void
hk_ingest_free(struct hk_ingest_req *r)
{
	free(r->headers_json);
	free(r);
}

/* hk_ingest_stored - the store answered: now, and only now, reply. */
static void
hk_ingest_stored(void *arg, int result, const char *orig_id, int fallback)
{
	struct hk_ingest_req *r = arg;
	struct hk_httpconn *c = r->conn;
	char body[512], hdr[128], *p, *q;
	int dup = result == HK_ENQUEUE_DUPLICATE;

	r->t_stored_ns = hk_clock_mono_ns();
	if (result == HK_ENQUEUE_UNAVAILABLE) {
		hk_httpconn_error(c, 503, "unavailable", "the event could not be "
		    "stored; retry later", HK_INGEST_RETRY_503);
		return;
	}
	if (fallback)
		r->flags |= HK_REC_FALLBACK;
	if (dup)
		r->flags |= HK_REC_DUPLICATE;
	c->t_respond_ns = hk_clock_mono_ns();
	/*
	 * Written by hand, as the head is: the id is a UUID, the source name
	 * is checked at load ([A-Za-z0-9_.-]) and received_at is ours, so
	 * nothing here needs escaping, and the sizes are bounded.
	 */
	p = HK_FMT_LIT(body, "{\"id\":\"");
	p = hk_fmt_mem(p, orig_id, HK_MIN(strlen(orig_id), 64));
	p = HK_FMT_LIT(p, "\",\"source\":\"");
	p = hk_fmt_mem(p, r->src->name, HK_MIN(strlen(r->src->name), 128));
	p = dup ? HK_FMT_LIT(p, "\",\"duplicate\":true,\"received_at\":\"")
	    : HK_FMT_LIT(p, "\",\"duplicate\":false,\"received_at\":\"");
	p = hk_fmt_str(p, r->ev.received_at);
	p = HK_FMT_LIT(p, "\",\"processing_time_us\":");
	p = hk_fmt_u64(p, (c->t_respond_ns - c->t_start_ns) / 1000u);
	*p++ = '}';
	q = HK_FMT_LIT(hdr, "X-Hookd-Event-Id: ");
	q = hk_fmt_mem(q, orig_id, HK_MIN(strlen(orig_id), 64));
	q = HK_FMT_LIT(q, "\r\n");
	*q = '\0';
	hk_httpconn_respond(c, dup ? 200 : 202, hdr, body, (size_t)(p - body));
}

static void
hk_ingest_request(struct hk_httpconn *c)
{
	struct hk_ingest_req *r;
	const char *ct, *why = NULL;
	int webhook, rc, is_json;

	/* Refusals of webhook requests were made at the head. */
	if (hk_ingest_source(c, &webhook) == NULL) {
		if (c->req.method == HK_HTTP_GET && (hk_ingest_path_is(c,
		    "/health") || hk_ingest_path_is(c, "/health/ready"))) {
			hk_ingest_health(c);
			return;
		}
		hk_httpconn_error(c, 404, "not_found", "no such path; webhooks go "
		    "to POST /webhooks/{source}", NULL);
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		hk_httpconn_error(c, 503, "unavailable", "out of memory",
		    HK_INGEST_RETRY_503);
		return;
	}
	c->data = r;
	r->conn = c;
	r->src = hk_ingest_source(c, &webhook);

	rc = hk_verify(&r->src->verify, hk_ingest_header_fn, &c->req,
	    (const unsigned char *)c->body, c->body_len, time(NULL), &why);
	r->t_verify_ns = hk_clock_mono_ns();
	if (rc != HK_VERIFY_OK) {
		hk_httpconn_error(c, 401, "invalid_signature", why ? why
		    : "the signature does not verify", NULL);
		return;
	}
	ct = hk_http_header(&c->req, "content-type", NULL);
	is_json = hk_ingest_is_json(ct, hk_ingest_media_len(ct));
	if (hk_ingest_parse(c, r, is_json) != HK_OK)
		return;
	hk_ingest_evtype(c, r, is_json);
	r->t_parse_ns = hk_clock_mono_ns();

	hk_uuid_v7(r->id);
	hk_uuid_format(r->id, r->ev.id);
	r->ev.src = r->src;
	r->ev.received_us = hk_clock_real_us();
	hk_clock_iso8601(r->ev.received_us, r->ev.received_at,
	    sizeof(r->ev.received_at));
	r->ev.content_type = ct;
	r->ev.content_type_len = strlen(ct);
	if (!hk_jsonscan_utf8_ok(ct, r->ev.content_type_len))
		r->ev.content_type_len = hk_ingest_media_len(ct);
	r->headers_json = hk_ingest_headers_json(&c->req, &r->ev.headers_len);
	r->ev.headers_json = r->headers_json ? r->headers_json : "{}";
	if (r->headers_json == NULL)
		r->ev.headers_len = 2;
	r->ev.body = c->body;
	r->ev.body_len = c->body_len;
	hk_enqueue_submit(&r->ev, hk_ingest_stored, r);
}

/* hk_ingest_record - time the request into the ring; log it if slow. */
static void
hk_ingest_record(struct hk_httpconn *c, struct hk_ingest_req *r, int status)
{
	struct hk_shm_slot *slot = hk_ingest.child->slot;
	uint64_t now = hk_clock_mono_ns(), total = now - c->t_start_ns;
	uint64_t body = c->t_body_ns ? c->t_body_ns : now;
	struct hk_rec rec;

	atomic_fetch_add_explicit(&slot->counters.requests, 1,
	    memory_order_relaxed);
	if (status >= 400)
		atomic_fetch_add_explicit(&slot->counters.errors, 1,
		    memory_order_relaxed);
	atomic_fetch_add_explicit(&slot->counters.bytes, c->body_len,
	    memory_order_relaxed);

	if (hk_ingest.metrics) {
		memset(&rec, 0, sizeof(rec));
		rec.ts_us = hk_clock_real_us() - total / 1000u;
		rec.kind = HK_REC_INGEST;
		rec.status = (uint16_t)status;
		rec.source = UINT16_MAX;
		rec.bytes = (uint32_t)c->body_len;
		rec.stage_us[HK_STAGE_RECEIVE] = (uint32_t)((body
		    - c->t_start_ns) / 1000u);
		if (r != NULL) {
			rec.source = (uint16_t)(r->src - hk_ingest.conf->sources);
			rec.flags = (uint8_t)r->flags;
			memcpy(rec.id, r->id, sizeof(rec.id));
			/* New events only: a duplicate was counted once. */
			if (status == 202)
				rec.dest = hk_ingtypes_number(rec.source,
				    r->ev.event_type);
			if (r->t_verify_ns)
				rec.stage_us[HK_STAGE_VERIFY] = (uint32_t)
				    ((r->t_verify_ns - body) / 1000u);
			if (r->t_parse_ns)
				rec.stage_us[HK_STAGE_PARSE] = (uint32_t)
				    ((r->t_parse_ns - r->t_verify_ns) / 1000u);
			if (r->t_stored_ns && r->t_parse_ns)
				rec.stage_us[HK_STAGE_ENQUEUE] = (uint32_t)
				    ((r->t_stored_ns - r->t_parse_ns) / 1000u);
			if (r->t_stored_ns)
				rec.stage_us[HK_STAGE_RESPOND] = (uint32_t)
				    ((now - r->t_stored_ns) / 1000u);
		}
		if (status >= 400)
			rec.flags |= HK_REC_ERROR;
		rec.stage_us[HK_STAGE_TOTAL] = (uint32_t)(total / 1000u);
		hk_ring_push(&slot->ring, &rec);
	}
	if (total >= (uint64_t)hk_ingest.conf->log.slow_warn_ms * 1000000u)
		hk_log(total >= (uint64_t)hk_ingest.conf->log.slow_error_ms
		    * 1000000u ? HK_LOG_ERROR : HK_LOG_WARN,
		    "slow request: %s %s status %d total %.3f ms (receive %.3f "
		    "verify %.3f parse %.3f enqueue %.3f)",
		    c->req.method == HK_HTTP_POST ? "POST" : "GET",
		    c->req.target ? c->req.target : "-", status,
		    (double)total / 1e6,
		    (double)(body - c->t_start_ns) / 1e6,
		    r && r->t_verify_ns ? (double)(r->t_verify_ns - body) / 1e6
		    : 0.0,
		    r && r->t_parse_ns ? (double)(r->t_parse_ns
		    - r->t_verify_ns) / 1e6 : 0.0,
		    r && r->t_stored_ns && r->t_parse_ns ? (double)
		    (r->t_stored_ns - r->t_parse_ns) / 1e6 : 0.0);
}

static void
hk_ingest_done(struct hk_httpconn *c, int status)
{
	struct hk_ingest_req *r = c->data;

	if (hk_ingest.quiet)
		hk_ingest.quiet = 0;
	else
		hk_ingest_record(c, r, status);
	if (r != NULL) {
		c->data = NULL;
		hk_ingest_free(r);
	}
}

static void
hk_ingest_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	if ((hk_ingest.srv.nconns == 0 && hk_enqueue_inflight() == 0)
	    || hk_child_drain_left_ms(hk_ingest.child) == 0)
		event_base_loopexit(hk_ingest.base, NULL);
}

/* hk_ingest_stop - stop accepting; leave once in-flight requests are done. */
static void
hk_ingest_stop(struct hk_child *c, int fast)
{
	struct timeval tv = { 0, HK_INGEST_DRAIN_POLL_MS * 1000 };

	if (fast) {
		event_base_loopbreak(hk_ingest.base);
		return;
	}
	/* Closes only this process's copy of the socket: the master keeps
	 * it, so connections queued on it wait for the next worker. */
	hk_httpconn_server_stop(&hk_ingest.srv);
	hk_ingest.drain_ev = event_new(hk_ingest.base, -1, EV_PERSIST,
	    hk_ingest_drain_cb, NULL);
	event_add(hk_ingest.drain_ev, &tv);
}
