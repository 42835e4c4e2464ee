/*
 * stats.c - the stats process: reads every ring, aggregates, serves the
 * admin HTTP port.
 *
 * Peers: the master (signals, slot), every process's ring (read only),
 * hookctl (through the snapshot), HTTP clients of the admin port.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "child.h"
#include "core.h"
#include "log.h"
#include "stats.h"

static struct {
	struct hk_child   *child;
	struct event_base *base;
	struct evhttp     *http;
} hk_stats;

static void
hk_stats_stop(struct hk_child *c, int fast)
{
	event_base_loopexit(hk_stats.base, NULL);
}

static void
hk_stats_request(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evhttp_request_get_output_buffer(req);

	evhttp_add_header(out, "Content-Type", "application/json");
	if (strcmp(evhttp_request_get_uri(req), "/health") == 0) {
		evbuffer_add_printf(buf, "{\"status\":\"ok\"}");
		evhttp_send_reply(req, 200, "OK", NULL);
		return;
	}
	evbuffer_add_printf(buf, "{\"error\":\"not_found\","
	    "\"message\":\"no such path\"}");
	evhttp_send_reply(req, 404, "Not Found", NULL);
}

int
hk_stats_main(struct hk_child *c)
{
	hk_stats.child = c;
	if ((hk_stats.base = event_base_new()) == NULL)
		hk_fatalx("event_base_new failed");
	if ((hk_stats.http = evhttp_new(hk_stats.base)) == NULL)
		hk_fatalx("evhttp_new failed");
	evhttp_set_gencb(hk_stats.http, hk_stats_request, NULL);
	if (evhttp_accept_socket_with_handle(hk_stats.http, c->fd) == NULL)
		hk_fatalx("evhttp_accept_socket failed on the admin socket");
	if (hk_child_loop_setup(c, hk_stats.base, hk_stats_stop) != HK_OK)
		hk_fatalx("cannot set up the event loop");
	hk_child_set_state(c, HK_SLOT_RUNNING);
	event_base_dispatch(hk_stats.base);
	hk_child_loop_teardown(c);
	evhttp_free(hk_stats.http);
	event_base_free(hk_stats.base);
	return 0;
}
