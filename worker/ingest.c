/*
 * ingest.c - the ingest worker: hookd's front door.
 *
 * One libevent base and one evhttp server on the worker's own SO_REUSEPORT
 * socket, inherited from the master.  Peers: the master (signals, slot).
 * Signals: TERM stops accepting and drains in-flight requests, QUIT exits.
 * In shm it owns its slot: heartbeat, counters and ring.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "child.h"
#include "clock.h"
#include "core.h"
#include "ingest.h"
#include "log.h"

#define HK_INGEST_DRAIN_POLL_MS 20

static struct {
	struct hk_child       *child;
	struct event_base     *base;
	struct evhttp         *http;
	struct evhttp_bound_socket *bound;
	struct event          *drain_ev;
	int                    inflight;	/* requests not yet answered */
} hk_ingest;

static void hk_ingest_request(struct evhttp_request *req, void *arg);
static void hk_ingest_stop(struct hk_child *c, int fast);

int
hk_ingest_main(struct hk_child *c)
{
	hk_ingest.child = c;
	if ((hk_ingest.base = event_base_new()) == NULL)
		hk_fatalx("event_base_new failed");
	if ((hk_ingest.http = evhttp_new(hk_ingest.base)) == NULL)
		hk_fatalx("evhttp_new failed");
	evhttp_set_allowed_methods(hk_ingest.http, EVHTTP_REQ_GET
	    | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT
	    | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(hk_ingest.http,
	    (ev_ssize_t)c->conf->limits.max_header_bytes);
	evhttp_set_gencb(hk_ingest.http, hk_ingest_request, NULL);
	hk_ingest.bound = evhttp_accept_socket_with_handle(hk_ingest.http, c->fd);
	if (hk_ingest.bound == NULL)
		hk_fatalx("evhttp_accept_socket failed on fd %d", c->fd);
	if (hk_child_loop_setup(c, hk_ingest.base, hk_ingest_stop) != HK_OK)
		hk_fatalx("cannot set up the event loop");

	hk_child_set_state(c, HK_SLOT_RUNNING);
	hk_log_debug("serving on %s", c->conf->listen);
	event_base_dispatch(hk_ingest.base);

	hk_child_loop_teardown(c);
	if (hk_ingest.drain_ev != NULL)
		event_free(hk_ingest.drain_ev);
	evhttp_free(hk_ingest.http);
	event_base_free(hk_ingest.base);
	return 0;
}

static void
hk_ingest_reply(struct evhttp_request *req, int code, const char *reason,
    const char *body)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *buf = evhttp_request_get_output_buffer(req);

	evhttp_add_header(out, "Content-Type", "application/json");
	evbuffer_add(buf, body, strlen(body));
	evhttp_send_reply(req, code, reason, NULL);
}

static void
hk_ingest_request(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_request_get_uri(req);

	if (strcmp(path, "/health") == 0) {
		hk_ingest_reply(req, 200, "OK", "{\"status\":\"ok\"}");
		return;
	}
	hk_ingest_reply(req, 404, "Not Found", "{\"error\":\"not_found\","
	    "\"message\":\"no such path\"}");
}

static void
hk_ingest_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	if (hk_ingest.inflight == 0 || hk_child_drain_left_ms(hk_ingest.child)
	    == 0)
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
	if (hk_ingest.bound != NULL) {
		/* Closes only this process's copy: the master keeps the
		 * socket, so queued connections wait for the next worker. */
		evhttp_del_accept_socket(hk_ingest.http, hk_ingest.bound);
		hk_ingest.bound = NULL;
	}
	hk_ingest.drain_ev = event_new(hk_ingest.base, -1, EV_PERSIST,
	    hk_ingest_drain_cb, NULL);
	event_add(hk_ingest.drain_ev, &tv);
}
