/*
 * delivery.c - the delivery worker: reads the Redis stream through the
 * consumer group "delivery" (dlgroup.c) and hands each entry to the
 * dispatcher (dispatch.h), which writes it to PostgreSQL and delivers it;
 * entries are acked once their first outcomes are committed.
 *
 * Peers: the master (signals, slot), Redis (two connections), PostgreSQL
 * (dlstore.c, inbox moves in inboxmove.c), the destinations (outbound.c).
 * Signals: TERM stops reading, lets in-flight attempts finish and commit
 * until the drain deadline, then exits 0; what is unfinished stays pending
 * in the group for the next worker.  QUIT exits now.  In shm it owns its
 * slot: heartbeat, counters (attempts, failed attempts), ring.
 *
 * Redis: one connection for reads (rd) and one for everything else (cmd,
 * shared with the inbox mover); see dlgroup.h.  hiredis 0.14 has no
 * timeouts: a tick drops a connection whose oldest command is overdue, and
 * each connection is remade with backoff (100 ms doubling to 5 s).  The
 * same tick claims idle entries and moves the inbox every
 * HK_DELIVERY_CLAIM_MS, and trims the stream every HK_DELIVERY_TRIM_MS.
 * It also runs storage retention (dlretain.c) at start and every ten
 * minutes, whether Redis is up or not: it needs only PostgreSQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "child.h"
#include "clock.h"
#include "core.h"
#include "dispatch.h"
#include "dlgroup.h"
#include "dllimit.h"
#include "dlredis.h"
#include "dlretain.h"
#include "dlstore.h"
#include "inboxmove.h"
#include "log.h"
#include "outbound.h"

#define HK_DELIVERY_TICK_MS      100
#define HK_DELIVERY_CLAIM_MS     5000
#define HK_DELIVERY_TRIM_MS      5000

static struct {
	struct hk_child      *child;
	struct event_base    *base;
	struct hk_dlredis     rd;	/* XREADGROUP only */
	struct hk_dlredis     cmd;	/* everything else */
	char                 *stream;
	uint64_t              last_claim_ns, last_trim_ns;
	int                   stopping;
	struct event         *tick_ev;
} hk_delivery;

static void hk_delivery_stop(struct hk_child *c, int fast);

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

	if (asprintf(&hk_delivery.stream, "%sevents", conf->redis.prefix) < 0)
		return HK_ERROR;
	if (hk_dlstore_init(c->base, conf->postgres.url) != HK_OK
	    || hk_dlroute_init(c, hk_dlgroup_done) != HK_OK
	    || hk_dlredis_init(&hk_delivery.rd, c->base, conf, "read",
	    hk_dlgroup_up) != HK_OK
	    || hk_dlredis_init(&hk_delivery.cmd, c->base, conf, "commands",
	    hk_dlgroup_up) != HK_OK
	    || hk_dllimit_init(&hk_delivery.cmd) != HK_OK
	    || hk_dlgroup_init(c, &hk_delivery.rd, &hk_delivery.cmd,
	    hk_delivery.stream) != HK_OK
	    || hk_inboxmove_init(c->base, conf, &hk_delivery.cmd,
	    hk_delivery.stream) != HK_OK)
		return HK_ERROR;
	hk_dlretain_init(conf);
	return HK_OK;
}

static void hk_delivery_tick_cb(evutil_socket_t fd, short what, void *arg);

int
hk_delivery_main(struct hk_child *c)
{
	struct timeval tick = { 0, HK_DELIVERY_TICK_MS * 1000 };

	hk_delivery.child = c;
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
	event_add(hk_delivery.tick_ev, &tick);
	hk_dlredis_connect(&hk_delivery.rd);
	hk_dlredis_connect(&hk_delivery.cmd);

	hk_child_set_state(c, HK_SLOT_RUNNING);
	event_base_dispatch(hk_delivery.base);

	hk_outbound_shutdown();
	hk_inboxmove_shutdown();
	hk_dlredis_close(&hk_delivery.rd);
	hk_dlredis_close(&hk_delivery.cmd);
	hk_dllimit_shutdown();
	hk_dlstore_shutdown();
	hk_dlgroup_shutdown();
	hk_dlroute_shutdown();
	event_free(hk_delivery.tick_ev);
	hk_child_loop_teardown(c);
	event_base_free(hk_delivery.base);
	free(hk_delivery.stream);
	return 0;
}

/* hk_delivery_drained - nothing left that could still be committed. */
static int
hk_delivery_drained(void)
{
	return hk_dispatch_jobs() == 0 && hk_dlstore_pending() == 0
	    && hk_dlgroup_acks() == 0 && hk_delivery.cmd.pending == 0;
}

/* hk_delivery_tick_cb - timeouts, periodic work, and the drain. */
static void
hk_delivery_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = hk_clock_mono_ns();

	if (hk_dlredis_overdue(&hk_delivery.rd, HK_DLGROUP_BLOCK_MS))
		hk_dlredis_drop(&hk_delivery.rd, "no reply in time");
	if (hk_dlredis_overdue(&hk_delivery.cmd, 0))
		hk_dlredis_drop(&hk_delivery.cmd, "no reply in time");
	if (hk_delivery.stopping) {
		if (hk_delivery_drained()
		    || hk_child_drain_left_ms(hk_delivery.child) == 0)
			event_base_loopexit(hk_delivery.base, NULL);
		return;
	}
	hk_dlretain_tick(now);
	hk_dlgroup_read();
	if (!hk_delivery.cmd.up || !hk_dlgroup_ready())
		return;
	if (now - hk_delivery.last_claim_ns > HK_DELIVERY_CLAIM_MS * 1000000ull) {
		hk_delivery.last_claim_ns = now;
		hk_dlgroup_claim();
		hk_inboxmove_kick();
	}
	if (now - hk_delivery.last_trim_ns > HK_DELIVERY_TRIM_MS * 1000000ull) {
		hk_delivery.last_trim_ns = now;
		hk_dlgroup_trim();
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
	hk_dlgroup_stop();
	hk_dispatch_stop();
	hk_inboxmove_stop();
}
