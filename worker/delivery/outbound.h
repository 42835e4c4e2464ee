/*
 * outbound.h - the delivery worker's HTTP client: libcurl multi driven by
 * the worker's libevent base.
 *
 * One multi handle per worker, so connections to a destination are kept
 * alive and reused across attempts.  hk_outbound_send() starts one POST and
 * never blocks; its callback runs once, from the event loop, with the
 * outcome filled in.  Every connection goes through an open-socket check of
 * the address actually connected (after DNS, after any redirect a proxy
 * might do): link-local (cloud metadata) is always refused, delivery.deny
 * blocks are refused unless delivery.allow has them.
 */
#ifndef HK_OUTBOUND_H
#define HK_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define HK_OUTBOUND_EXCERPT 2048	/* response bytes kept for attempts */

struct event_base;
struct hk_outbound;

/* What one attempt gave. */
struct hk_outbound_res {
	int       status;		/* HTTP status, 0 when none came */
	int       timed_out;
	char      error[256];		/* "" when the exchange completed */
	long      retry_after_s;	/* -1: no usable Retry-After */
	uint64_t  connect_us;		/* from the start, as curl counts */
	uint64_t  ttfb_us;
	uint64_t  total_us;
	uint64_t  started_us;		/* wall clock */
	char      excerpt[HK_OUTBOUND_EXCERPT + 1];
	size_t    excerpt_len;
};

typedef void (*hk_outbound_cb)(void *arg, struct hk_outbound_res *res);

/* One request: the strings must stay valid until the callback. */
struct hk_outbound_req {
	const struct hk_conf_dest *dest;
	const char *event_id;
	const char *content_type;
	const char *body;
	size_t      body_len;
	const char *traceparent;	/* W3C Trace Context; "" or NULL: none */
};

int  hk_outbound_init(struct event_base *base, const struct hk_conf *conf);
/* HK_OK, or HK_ERROR when the request could not even be built. */
int  hk_outbound_send(const struct hk_outbound_req *req, hk_outbound_cb cb,
    void *arg);
int  hk_outbound_inflight(void);
/* Abort everything in flight (callbacks are not called) and clean up. */
void hk_outbound_shutdown(void);

#endif
