/*
 * enqueue.h - where an ingest worker puts an accepted event: the Redis stream,
 * or, while Redis is unavailable, the PostgreSQL inbox.
 *
 * hk_enqueue_submit() never blocks.  Its callback runs exactly once per
 * submitted event, on the worker's event loop, after the event is durably
 * stored (STORED / DUPLICATE) or after every store refused it
 * (UNAVAILABLE).  The caller keeps every buffer of the request valid until
 * then (the struct hk_enqueue_event itself is copied).
 *
 * The callback runs from its own turn of the event loop, never from inside
 * hk_enqueue_submit() and never from inside hiredis or libpq, so it may
 * submit again or free anything.  Two exceptions, both UNAVAILABLE and
 * both synchronous: a submit before hk_enqueue_init() or after
 * hk_enqueue_shutdown(), and a submit when memory is exhausted.
 */
#ifndef HK_ENQUEUE_H
#define HK_ENQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct event_base;

enum hk_enqueue_result {
	HK_ENQUEUE_STORED,	/* new event, in the stream or the inbox */
	HK_ENQUEUE_DUPLICATE,	/* the key was seen: orig_id is the first event */
	HK_ENQUEUE_UNAVAILABLE,	/* neither Redis nor PostgreSQL took it: 503 */
};

struct hk_enqueue_event {
	char        id[37];		/* UUIDv7, text form */
	const struct hk_conf_source *src;
	const char *idem_key;		/* NULL: no deduplication */
	size_t      idem_len;
	uint64_t    received_us;	/* wall clock */
	char        received_at[32];	/* ISO 8601, microseconds, Z */
	const char *content_type;
	size_t      content_type_len;
	const char *headers_json;	/* JSON object of the request headers */
	size_t      headers_len;
	const char *body;
	size_t      body_len;
	char        event_type[HK_EVFIELD_VALUE_MAX];	/* "": none */
};

/*
 * result: enum hk_enqueue_result.  orig_id: the stored event's id (the first
 * one's for a duplicate).  fallback: 1 when it went to the inbox.
 */
typedef void (*hk_enqueue_cb)(void *arg, int result, const char *orig_id,
    int fallback);

int  hk_enqueue_init(struct event_base *base, const struct hk_conf *conf);
void hk_enqueue_submit(const struct hk_enqueue_event *ev, hk_enqueue_cb cb,
    void *arg);
/* For GET /health/ready and the breaker state in metrics. */
int  hk_enqueue_redis_up(void);
int  hk_enqueue_pg_up(void);
/*
 * Another command on the worker's Redis connection (the source limits of
 * srclimit.c): HK_ERROR when Redis cannot take it now; otherwise fn runs
 * exactly once, with the redisReply, or NULL when the connection went
 * first.  Unlike events, these are not timed here: the caller times them.
 */
typedef void (*hk_enqueue_reply_fn)(void *reply, void *arg);
int  hk_enqueue_redis_cmd(hk_enqueue_reply_fn fn, void *arg, int argc,
    const char **argv, const size_t *lens);
/* Requests submitted and not yet called back (for draining). */
int  hk_enqueue_inflight(void);
/* Calls back what is still pending (UNAVAILABLE unless answered). */
void hk_enqueue_shutdown(void);

#endif
