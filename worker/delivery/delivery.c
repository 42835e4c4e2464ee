/*
 * delivery.c - the delivery worker: reads the Redis stream through the
 * consumer group "delivery" and hands each entry to dispatch.c, which
 * writes it to PostgreSQL and delivers it; acks entries once their first
 * outcomes are committed.
 *
 * Peers: the master (signals, slot), Redis (two connections), PostgreSQL
 * (dlstore.c, inbox moves in inboxmove.c), the destinations (outbound.c).
 * Signals: TERM stops reading, lets in-flight attempts finish and commit
 * until the drain deadline, then exits 0; what is unfinished stays pending
 * in the group for the next worker.  QUIT exits now.  In shm it owns its
 * slot: heartbeat, counters (attempts, failed attempts), ring.
 *
 * Redis.  XREADGROUP with BLOCK ties its connection up, so reads have a
 * connection of their own (rd) and everything else (XACK, XAUTOCLAIM,
 * XPENDING, XTRIM, group creation, inbox moves) goes on the other (cmd).
 * At start the worker re-reads its own pending entries (from ID 0, moving
 * past what it got) before it asks for new ones ('>').  hiredis 0.14 has no
 * timeouts: a tick drops a connection whose oldest command is overdue, and
 * each connection is remade with backoff (100 ms doubling to 5 s).
 *
 * Bounded intake: at most delivery.concurrency entries are in memory at
 * once; while PostgreSQL is down nothing is committed, so nothing is acked
 * and the reads simply stop at that bound.
 *
 * The group is created from ID 0 (with MKSTREAM), at start and after a
 * NOGROUP (Redis restarted empty): entries added before the group existed
 * are delivered rather than skipped.  Re-reading an entry that was already
 * handled costs nothing but a lookup, since its rows already exist and are
 * not attempted again from the stream.
 *
 * Trimming: every HK_DELIVERY_TRIM_MS the stream is cut with XTRIM MINID at
 * the oldest pending entry, or at the group's last-delivered-id when none
 * is pending: never below anything unacknowledged, and never within the
 * last HK_DELIVERY_KEEP_MS (entries that recent stay for inspection).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <jansson.h>

#include "child.h"
#include "clock.h"
#include "core.h"
#include "dispatch.h"
#include "dlredis.h"
#include "dlstore.h"
#include "inboxmove.h"
#include "jsonscan.h"
#include "log.h"
#include "outbound.h"
#include "uuid.h"

#define HK_DELIVERY_BLOCK_MS     1000	/* XREADGROUP BLOCK, as below */
#define HK_DELIVERY_BLOCK        "1000"
#define HK_DELIVERY_READ_MAX     64
#define HK_DELIVERY_GATHER_MS    2	/* after a short read, see below */
#define HK_DELIVERY_TICK_MS      100
#define HK_DELIVERY_CLAIM_MS     5000
#define HK_DELIVERY_TRIM_MS      5000
#define HK_DELIVERY_ACK_MAX      512
#define HK_DELIVERY_KEEP_MS      10000	/* entries this young are not trimmed */

TAILQ_HEAD(hk_dl_eventq, hk_dl_event);

static struct {
	struct hk_child      *child;
	const struct hk_conf *conf;
	struct event_base    *base;
	struct hk_dlredis     rd;	/* XREADGROUP only */
	struct hk_dlredis     cmd;	/* everything else */
	char                 *stream;
	char                  consumer[32];
	int                   group_ready;
	int                   creating;
	int                   reading;	/* an XREADGROUP is out */
	int                   asked;	/* its COUNT */
	int                   gathering;	/* gather_ev is pending */
	uint64_t              read_ns;
	int                   backlog;	/* 1: re-reading own pending entries */
	char                  pend_id[48];	/* where the re-read is */
	char                  claim_cursor[48];
	int                   claiming;
	int                   trimming;
	uint64_t              claim_idle_ms;
	uint64_t              last_claim_ns, last_trim_ns;
	struct hk_dl_eventq   entries;	/* in flight */
	int                   nentries;
	char                 *acks[HK_DELIVERY_ACK_MAX];
	int                   nacks;
	int                   stopping;
	struct event         *tick_ev;
	struct event         *ack_ev;
	struct event         *gather_ev;
} hk_delivery;

static void hk_delivery_stop(struct hk_child *c, int fast);
static void hk_delivery_read(void);
static void hk_delivery_group_create(void);
static void hk_delivery_done(struct hk_dl_event *ev, int ok);
static void hk_delivery_up(struct hk_dlredis *r);

/* hk_delivery_check_urls - a destination curl cannot parse is fatal. */
static int
hk_delivery_check_urls(const struct hk_conf *conf)
{
	CURLU *u = curl_url();
	int ok = 1;

	for (int d = 0; u != NULL && d < conf->ndests; d++)
		if (curl_url_set(u, CURLUPART_URL, conf->dests[d].url, 0)
		    != CURLUE_OK) {
			hk_log_error("delivery: destination %s (line %d): the "
			    "url \"%s\" cannot be used", conf->dests[d].name,
			    conf->dests[d].line, conf->dests[d].url);
			ok = 0;
		}
	curl_url_cleanup(u);
	return ok && u != NULL ? HK_OK : HK_ERROR;
}

static int
hk_delivery_setup(struct hk_child *c)
{
	const struct hk_conf *conf = c->conf;
	int maxto = conf->delivery.timeout_ms;

	TAILQ_INIT(&hk_delivery.entries);
	for (int d = 0; d < conf->ndests; d++)
		maxto = HK_MAX(maxto, conf->dests[d].timeout_ms);
	hk_delivery.claim_idle_ms = 2 * (uint64_t)maxto;
	snprintf(hk_delivery.consumer, sizeof(hk_delivery.consumer),
	    "delivery-%d", c->index);
	snprintf(hk_delivery.pend_id, sizeof(hk_delivery.pend_id), "0");
	snprintf(hk_delivery.claim_cursor, sizeof(hk_delivery.claim_cursor),
	    "0-0");
	hk_delivery.backlog = 1;
	if (asprintf(&hk_delivery.stream, "%sevents", conf->redis.prefix) < 0)
		return HK_ERROR;
	if (hk_dlstore_init(c->base, conf->postgres.url) != HK_OK
	    || hk_dlroute_init(c, hk_delivery_done) != HK_OK
	    || hk_dlredis_init(&hk_delivery.rd, c->base, conf, "read",
	    hk_delivery_up) != HK_OK
	    || hk_dlredis_init(&hk_delivery.cmd, c->base, conf, "commands",
	    hk_delivery_up) != HK_OK
	    || hk_inboxmove_init(c->base, conf, &hk_delivery.cmd,
	    hk_delivery.stream) != HK_OK)
		return HK_ERROR;
	return HK_OK;
}

static void hk_delivery_tick_cb(evutil_socket_t fd, short what, void *arg);
static void hk_delivery_ack_cb(evutil_socket_t fd, short what, void *arg);
static void hk_delivery_gather_cb(evutil_socket_t fd, short what, void *arg);

int
hk_delivery_main(struct hk_child *c)
{
	struct timeval tick = { 0, HK_DELIVERY_TICK_MS * 1000 };

	hk_delivery.child = c;
	hk_delivery.conf = c->conf;
	if ((hk_delivery.base = event_base_new()) == NULL)
		hk_fatalx("event_base_new failed");
	if (hk_child_loop_setup(c, hk_delivery.base, hk_delivery_stop) != HK_OK)
		hk_fatalx("cannot set up the event loop");
	if (hk_delivery_check_urls(c->conf) != HK_OK
	    || hk_outbound_init(hk_delivery.base, c->conf) != HK_OK) {
		hk_log_error("delivery: configuration unusable for delivery; "
		    "not restarting this worker");
		return HK_EXIT_FATAL_CONFIG;
	}
	if (hk_delivery_setup(c) != HK_OK)
		hk_fatalx("delivery: out of memory at start");
	hk_delivery.tick_ev = event_new(hk_delivery.base, -1, EV_PERSIST,
	    hk_delivery_tick_cb, NULL);
	hk_delivery.ack_ev = event_new(hk_delivery.base, -1, 0,
	    hk_delivery_ack_cb, NULL);
	hk_delivery.gather_ev = evtimer_new(hk_delivery.base,
	    hk_delivery_gather_cb, NULL);
	event_add(hk_delivery.tick_ev, &tick);
	hk_dlredis_connect(&hk_delivery.rd);
	hk_dlredis_connect(&hk_delivery.cmd);

	hk_child_set_state(c, HK_SLOT_RUNNING);
	event_base_dispatch(hk_delivery.base);

	hk_outbound_shutdown();
	hk_inboxmove_shutdown();
	hk_dlredis_close(&hk_delivery.rd);
	hk_dlredis_close(&hk_delivery.cmd);
	hk_dlstore_shutdown();
	while (!TAILQ_EMPTY(&hk_delivery.entries)) {
		struct hk_dl_event *ev = TAILQ_FIRST(&hk_delivery.entries);

		TAILQ_REMOVE(&hk_delivery.entries, ev, link);
		hk_dispatch_event_put(ev);
	}
	hk_dlroute_shutdown();
	for (int i = 0; i < hk_delivery.nacks; i++)
		free(hk_delivery.acks[i]);
	event_free(hk_delivery.tick_ev);
	event_free(hk_delivery.ack_ev);
	if (hk_delivery.gather_ev != NULL)
		event_free(hk_delivery.gather_ev);
	hk_child_loop_teardown(c);
	event_base_free(hk_delivery.base);
	free(hk_delivery.stream);
	return 0;
}

/* hk_delivery_nogroup - Redis lost the group (restarted empty). */
static int
hk_delivery_nogroup(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ERROR
	    || strncmp(r->str, "NOGROUP", 7) != 0)
		return 0;
	if (hk_delivery.group_ready)
		hk_log_warn("redis: consumer group \"delivery\" is gone (Redis "
		    "restarted empty?); recreating it, unfinished deliveries "
		    "continue from PostgreSQL");
	hk_delivery.group_ready = 0;
	hk_delivery.backlog = 0;
	hk_delivery_group_create();
	return 1;
}

static void
hk_delivery_group_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;

	hk_delivery.creating = 0;
	if (rep == NULL)
		return;
	if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "BUSYGROUP",
	    9) != 0) {
		hk_log_error("redis: cannot create the consumer group: %.200s",
		    rep->str);
		return;
	}
	hk_delivery.group_ready = 1;
	hk_delivery_read();
}

/* hk_delivery_group_create - from ID 0 with MKSTREAM (see the top). */
static void
hk_delivery_group_create(void)
{
	const char *argv[6] = { "XGROUP", "CREATE", hk_delivery.stream,
	    "delivery", "0", "MKSTREAM" };
	size_t lens[6];

	if (hk_delivery.creating)
		return;
	for (int i = 0; i < 6; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(&hk_delivery.cmd, hk_delivery_group_done, NULL, 6,
	    argv, lens) == HK_OK)
		hk_delivery.creating = 1;
}

static void
hk_delivery_up(struct hk_dlredis *r)
{
	if (r == &hk_delivery.cmd) {
		hk_delivery_group_create();
		if (hk_delivery.nacks > 0)
			event_active(hk_delivery.ack_ev, EV_TIMEOUT, 1);
	} else
		hk_delivery_read();
}

/* hk_delivery_field - the value of field name in an entry, or NULL. */
static const redisReply *
hk_delivery_field(const redisReply *f, const char *name)
{
	for (size_t i = 0; i + 1 < f->elements; i += 2)
		if (f->element[i]->type == REDIS_REPLY_STRING
		    && strcmp(f->element[i]->str, name) == 0
		    && f->element[i + 1]->type == REDIS_REPLY_STRING)
			return f->element[i + 1];
	return NULL;
}

/* hk_delivery_time_us - "2026-11-22T10:00:00.123456Z" in microseconds. */
static uint64_t
hk_delivery_time_us(const char *s)
{
	struct tm tm;
	char frac[8] = "";
	uint64_t us = 0;
	size_t i;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%d-%d-%dT%d:%d:%d.%6[0-9]", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, frac) < 6)
		return 0;
	/* ".5" is 500000 us: the digits, padded to six. */
	for (i = 0; i < 6; i++)
		us = us * 10 + (uint64_t)(frac[i] ? frac[i] - '0' : 0);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (uint64_t)timegm(&tm) * 1000000u + us;
}

/* hk_delivery_json_ok - is s a JSON object (the headers field)? */
static int
hk_delivery_json_ok(const char *s, size_t len)
{
	json_t *j = json_loadb(s, len, 0, NULL);
	int ok = json_is_object(j);

	json_decref(j);
	return ok;
}

/* hk_delivery_in_flight - is this entry already being handled here? */
static int
hk_delivery_in_flight(const char *id)
{
	struct hk_dl_event *ev;

	TAILQ_FOREACH(ev, &hk_delivery.entries, link)
		if (strcmp(ev->entry, id) == 0)
			return 1;
	return 0;
}

static void hk_delivery_ack(const char *id);

/* hk_delivery_entry - one stream entry [id, [field, value, ...]]. */
static void
hk_delivery_entry(const redisReply *e)
{
	const redisReply *id, *f, *eid, *src, *at, *ct, *hd, *body, *key;
	struct hk_dl_event *ev;
	uint8_t idb[16];

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 2
	    || (id = e->element[0])->type != REDIS_REPLY_STRING
	    || id->len >= sizeof(ev->entry) || hk_delivery_in_flight(id->str))
		return;
	f = e->element[1];
	if (f->type != REDIS_REPLY_ARRAY) {
		hk_delivery_ack(id->str);	/* deleted meanwhile */
		return;
	}
	eid = hk_delivery_field(f, "id");
	src = hk_delivery_field(f, "source");
	at = hk_delivery_field(f, "received_at");
	ct = hk_delivery_field(f, "content_type");
	hd = hk_delivery_field(f, "headers");
	body = hk_delivery_field(f, "body");
	key = hk_delivery_field(f, "idempotency_key");
	if (eid == NULL || src == NULL || at == NULL || body == NULL
	    || eid->len >= sizeof(ev->id) || src->len >= sizeof(ev->source)
	    || at->len >= sizeof(ev->received_at)
	    || hk_uuid_parse(eid->str, idb) != HK_OK) {
		hk_log_error("delivery: stream entry %s is malformed; "
		    "acknowledged and skipped", id->str);
		hk_delivery_ack(id->str);
		return;
	}
	/* What PostgreSQL would refuse must not make a poison entry that is
	 * claimed again and again: ingest never writes such headers. */
	if (hd != NULL && !hk_delivery_json_ok(hd->str, hd->len))
		hd = NULL;
	ev = hk_dispatch_event_new(ct ? ct->len : 0, hd ? hd->len : 2,
	    body->len);
	if (ev == NULL)
		return;			/* stays pending; claimed later */
	memcpy(ev->ctype, ct ? ct->str : "", ev->ctype_len);
	memcpy(ev->headers, hd ? hd->str : "{}", ev->headers_len);
	memcpy(ev->body, body->str, body->len);
	memcpy(ev->entry, id->str, id->len);
	memcpy(ev->id, eid->str, eid->len);
	memcpy(ev->source, src->str, src->len);
	memcpy(ev->received_at, at->str, at->len);
	/* Ingest keeps keys short and UTF-8; anything else is not its own. */
	if (key != NULL && key->len < sizeof(ev->idem_key)
	    && hk_jsonscan_utf8_ok(key->str, key->len))
		memcpy(ev->idem_key, key->str, key->len);
	memcpy(ev->idb, idb, sizeof(idb));
	ev->picked_us = hk_clock_real_us();
	if ((ev->received_us = hk_delivery_time_us(ev->received_at)) == 0) {
		ev->received_us = ev->picked_us;
		hk_clock_iso8601(ev->picked_us, ev->received_at,
		    sizeof(ev->received_at));
	}
	ev->picked_ns = hk_clock_mono_ns();
	ev->refs++;		/* the list's */
	TAILQ_INSERT_TAIL(&hk_delivery.entries, ev, link);
	hk_delivery.nentries++;
	hk_dlroute_event(ev);
}

/* hk_delivery_entries - the entries of one stream in a reply. */
static size_t
hk_delivery_entries(const redisReply *list, char *last, size_t lastlen)
{
	size_t n = 0;

	if (list == NULL || list->type != REDIS_REPLY_ARRAY)
		return 0;
	for (size_t i = 0; i < list->elements; i++, n++) {
		const redisReply *e = list->element[i];

		if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1
		    && e->element[0]->type == REDIS_REPLY_STRING && last)
			snprintf(last, lastlen, "%s", e->element[0]->str);
		hk_delivery_entry(e);
	}
	return n;
}

static void
hk_delivery_read_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	const redisReply *list = NULL;
	size_t n;

	hk_delivery.reading = 0;
	if (rep == NULL || hk_delivery.stopping)
		return;
	if (hk_delivery_nogroup(rep))
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		hk_log_warn("redis: XREADGROUP failed: %.200s", rep->str);
		hk_dlredis_drop(r, "XREADGROUP failed");
		return;
	}
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0
	    && rep->element[0]->type == REDIS_REPLY_ARRAY
	    && rep->element[0]->elements == 2)
		list = rep->element[0]->element[1];
	n = hk_delivery_entries(list, hk_delivery.backlog
	    ? hk_delivery.pend_id : NULL, sizeof(hk_delivery.pend_id));
	if (hk_delivery.backlog && n == 0)
		hk_delivery.backlog = 0;	/* own pending entries done */
	/*
	 * A blocked read returns as soon as one entry is added, so under a
	 * steady load each read would bring one or two: a round trip, a reply
	 * and a statement's worth of work each.  After a short read the next
	 * one waits HK_DELIVERY_GATHER_MS, which lets the entries of that
	 * time come as one reply and one batch, for at most that much latency.
	 */
	if (!hk_delivery.backlog && n > 0 && (int)n < hk_delivery.asked) {
		struct timeval tv = { 0, HK_DELIVERY_GATHER_MS * 1000 };

		hk_delivery.gathering = 1;
		evtimer_add(hk_delivery.gather_ev, &tv);
		return;
	}
	hk_delivery_read();
}

static void
hk_delivery_gather_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_delivery.gathering = 0;
	hk_delivery_read();
}

/* hk_delivery_read - ask for more entries when there is room for them. */
static void
hk_delivery_read(void)
{
	const char *argv[11];
	size_t lens[11];
	char count[16];
	int n = 0, room = hk_delivery.conf->delivery.concurrency
	    - hk_delivery.nentries;

	if (hk_delivery.reading || hk_delivery.gathering || hk_delivery.stopping
	    || !hk_delivery.group_ready || !hk_delivery.rd.up || room <= 0
	    || !hk_dlstore_up())
		return;
	hk_delivery.asked = HK_MIN(room, HK_DELIVERY_READ_MAX);
	snprintf(count, sizeof(count), "%d", hk_delivery.asked);
	argv[n++] = "XREADGROUP", argv[n++] = "GROUP", argv[n++] = "delivery";
	argv[n++] = hk_delivery.consumer;
	argv[n++] = "COUNT", argv[n++] = count;
	if (!hk_delivery.backlog)
		argv[n++] = "BLOCK", argv[n++] = HK_DELIVERY_BLOCK;
	argv[n++] = "STREAMS", argv[n++] = hk_delivery.stream;
	argv[n++] = hk_delivery.backlog ? hk_delivery.pend_id : ">";
	for (int i = 0; i < n; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(&hk_delivery.rd, hk_delivery_read_done, NULL, n,
	    argv, lens) == HK_OK) {
		hk_delivery.reading = 1;
		hk_delivery.read_ns = hk_clock_mono_ns();
	}
}

/* hk_delivery_ack - queue an XACK, sent with the others on the next turn. */
static void
hk_delivery_ack(const char *id)
{
	char *copy;

	if (hk_delivery.nacks >= HK_DELIVERY_ACK_MAX
	    || (copy = strdup(id)) == NULL)
		return;			/* stays pending; claimed later */
	hk_delivery.acks[hk_delivery.nacks++] = copy;
	event_active(hk_delivery.ack_ev, EV_TIMEOUT, 1);
}

static void
hk_delivery_ack_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;

	if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
		hk_log_warn("redis: XACK failed: %.200s", rep->str);
}

/* hk_delivery_ack_cb - one XACK for every entry decided since the last. */
static void
hk_delivery_ack_cb(evutil_socket_t fd, short what, void *arg)
{
	const char *argv[HK_DELIVERY_ACK_MAX + 3];
	size_t lens[HK_DELIVERY_ACK_MAX + 3];
	int n = hk_delivery.nacks;

	if (n == 0 || !hk_delivery.cmd.up)
		return;		/* kept until the connection is back */
	argv[0] = "XACK", argv[1] = hk_delivery.stream, argv[2] = "delivery";
	for (int i = 0; i < n; i++)
		argv[i + 3] = hk_delivery.acks[i];
	for (int i = 0; i < n + 3; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(&hk_delivery.cmd, hk_delivery_ack_done, NULL, n + 3,
	    argv, lens) != HK_OK)
		return;
	for (int i = 0; i < n; i++)
		free(hk_delivery.acks[i]);
	hk_delivery.nacks = 0;
}

/* hk_delivery_done - dispatch decided an entry (see dispatch.h). */
static void
hk_delivery_done(struct hk_dl_event *ev, int ok)
{
	if (ok)
		hk_delivery_ack(ev->entry);
	else
		hk_log_warn("delivery: entry %s (event %s) left pending: its "
		    "rows could not be written", ev->entry, ev->id);
	TAILQ_REMOVE(&hk_delivery.entries, ev, link);
	hk_delivery.nentries--;
	hk_dispatch_event_put(ev);
	hk_delivery_read();
}

/* hk_delivery_claim_done - entries of dead consumers, now ours. */
static void
hk_delivery_claim_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	size_t n;

	hk_delivery.claiming = 0;
	if (rep == NULL || hk_delivery_nogroup(rep) || hk_delivery.stopping)
		return;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2
	    || rep->element[0]->type != REDIS_REPLY_STRING)
		return;
	snprintf(hk_delivery.claim_cursor, sizeof(hk_delivery.claim_cursor),
	    "%s", rep->element[0]->str);
	n = hk_delivery_entries(rep->element[1], NULL, 0);
	if (n > 0)
		hk_log_info("delivery: claimed %zu entries idle for more than "
		    "%llu ms", n, (unsigned long long)hk_delivery.claim_idle_ms);
}

/* hk_delivery_claim - XAUTOCLAIM what has been idle for 2 x the timeout. */
static void
hk_delivery_claim(void)
{
	char idle[24], count[16];
	const char *argv[8] = { "XAUTOCLAIM", hk_delivery.stream, "delivery",
	    hk_delivery.consumer, idle, hk_delivery.claim_cursor, "COUNT",
	    count };
	size_t lens[8];
	int room = hk_delivery.conf->delivery.concurrency
	    - hk_delivery.nentries;

	if (hk_delivery.claiming || room <= 0 || !hk_dlstore_up())
		return;
	snprintf(idle, sizeof(idle), "%llu",
	    (unsigned long long)hk_delivery.claim_idle_ms);
	snprintf(count, sizeof(count), "%d", HK_MIN(room, HK_DELIVERY_READ_MAX));
	for (int i = 0; i < 8; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(&hk_delivery.cmd, hk_delivery_claim_done, NULL, 8,
	    argv, lens) == HK_OK)
		hk_delivery.claiming = 1;
}

static void
hk_delivery_trim_done(struct hk_dlredis *r, void *reply, void *arg)
{
	hk_delivery.trimming = 0;
}

/*
 * hk_delivery_trim_at - XTRIM MINID id: only what is below id goes, and
 * nothing younger than HK_DELIVERY_KEEP_MS, so that the latest entries can
 * still be looked at (XRANGE) a moment after they were delivered.
 */
static void
hk_delivery_trim_at(const char *id)
{
	uint64_t floor_ms = hk_clock_real_ms() - HK_DELIVERY_KEEP_MS;
	char keep[32];
	const char *argv[4] = { "XTRIM", hk_delivery.stream, "MINID", id };
	size_t lens[4];

	if (strtoull(id, NULL, 10) > floor_ms) {
		snprintf(keep, sizeof(keep), "%llu-0",
		    (unsigned long long)floor_ms);
		argv[3] = keep;
	}

	for (int i = 0; i < 4; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(&hk_delivery.cmd, hk_delivery_trim_done, NULL, 4,
	    argv, lens) != HK_OK)
		hk_delivery.trimming = 0;
}

/* hk_delivery_groups_done - XINFO GROUPS: the last-delivered-id. */
static void
hk_delivery_groups_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	const redisReply *g, *name, *last;

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
		hk_delivery.trimming = 0;
		return;
	}
	for (size_t i = 0; i < rep->elements; i++) {
		g = rep->element[i];
		if (g->type != REDIS_REPLY_ARRAY)
			continue;
		name = hk_delivery_field(g, "name");
		last = hk_delivery_field(g, "last-delivered-id");
		if (name != NULL && last != NULL
		    && strcmp(name->str, "delivery") == 0) {
			hk_delivery_trim_at(last->str);
			return;
		}
	}
	hk_delivery.trimming = 0;
}

/* hk_delivery_pending_done - XPENDING summary: [count, min, max, ...]. */
static void
hk_delivery_pending_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	const char *argv[3] = { "XINFO", "GROUPS", hk_delivery.stream };
	size_t lens[3];

	if (rep == NULL || hk_delivery_nogroup(rep)
	    || rep->type != REDIS_REPLY_ARRAY || rep->elements < 2
	    || rep->element[0]->type != REDIS_REPLY_INTEGER) {
		hk_delivery.trimming = 0;
		return;
	}
	if (rep->element[0]->integer > 0
	    && rep->element[1]->type == REDIS_REPLY_STRING) {
		hk_delivery_trim_at(rep->element[1]->str);
		return;
	}
	for (int i = 0; i < 3; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(r, hk_delivery_groups_done, NULL, 3, argv, lens)
	    != HK_OK)
		hk_delivery.trimming = 0;
}

static void
hk_delivery_trim(void)
{
	const char *argv[3] = { "XPENDING", hk_delivery.stream, "delivery" };
	size_t lens[3];

	if (hk_delivery.trimming)
		return;
	for (int i = 0; i < 3; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(&hk_delivery.cmd, hk_delivery_pending_done, NULL, 3,
	    argv, lens) == HK_OK)
		hk_delivery.trimming = 1;
}

/* hk_delivery_drained - nothing left that could still be committed. */
static int
hk_delivery_drained(void)
{
	return hk_dispatch_jobs() == 0 && hk_dlstore_pending() == 0
	    && hk_delivery.nacks == 0 && hk_delivery.cmd.pending == 0;
}

/* hk_delivery_tick_cb - timeouts, periodic work, and the drain. */
static void
hk_delivery_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = hk_clock_mono_ns();

	if (hk_dlredis_overdue(&hk_delivery.rd, HK_DELIVERY_BLOCK_MS))
		hk_dlredis_drop(&hk_delivery.rd, "no reply in time");
	if (hk_dlredis_overdue(&hk_delivery.cmd, 0))
		hk_dlredis_drop(&hk_delivery.cmd, "no reply in time");
	if (hk_delivery.stopping) {
		if (hk_delivery_drained()
		    || hk_child_drain_left_ms(hk_delivery.child) == 0)
			event_base_loopexit(hk_delivery.base, NULL);
		return;
	}
	hk_delivery_read();
	if (!hk_delivery.cmd.up || !hk_delivery.group_ready)
		return;
	if (now - hk_delivery.last_claim_ns > HK_DELIVERY_CLAIM_MS * 1000000ull) {
		hk_delivery.last_claim_ns = now;
		hk_delivery_claim();
		hk_inboxmove_kick();
	}
	if (now - hk_delivery.last_trim_ns > HK_DELIVERY_TRIM_MS * 1000000ull) {
		hk_delivery.last_trim_ns = now;
		hk_delivery_trim();
	}
}

/* hk_delivery_stop - TERM: no new entries; QUIT: leave now. */
static void
hk_delivery_stop(struct hk_child *c, int fast)
{
	if (fast) {
		event_base_loopbreak(hk_delivery.base);
		return;
	}
	hk_child_set_state(c, HK_SLOT_DRAINING);
	hk_delivery.stopping = 1;
	hk_dispatch_stop();
	hk_inboxmove_stop();
}
