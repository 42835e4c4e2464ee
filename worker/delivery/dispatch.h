/*
 * dispatch.h - from an event to its deliveries: routing, PostgreSQL rows,
 * per-destination queues, limits, circuit breakers, outcomes and retries.
 *
 * delivery.c reads the stream and hands every entry here as a struct
 * hk_dl_event; once the first outcome of each of its deliveries is
 * committed (or the entry needs nothing more), dispatch calls the done
 * callback, which acks the entry.  Retries never come back through the
 * stream: they live in the deliveries table and a scanner here claims the
 * due rows (FOR UPDATE SKIP LOCKED, leased), so any number of workers on
 * any number of hosts share them.
 */
#ifndef HK_DISPATCH_H
#define HK_DISPATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "child.h"

/* One event, from a stream entry or from a claimed deliveries row. */
struct hk_dl_event {
	TAILQ_ENTRY(hk_dl_event) link;	/* delivery.c: entries in flight */
	int       refs;
	int       waiting;		/* first outcomes not yet committed */
	int       failed;		/* a write gave up: do not ack */
	int       decided;		/* the done callback ran */
	char      entry[48];		/* stream entry id; "" from PostgreSQL */
	char      id[40];		/* event id, text */
	uint8_t   idb[16];
	char      source[64];
	char      received_at[40];	/* ISO 8601 */
	char      idem_key[256];	/* "" when it came without one */
	uint64_t  received_us;
	uint64_t  picked_us;		/* wall clock when read */
	uint64_t  picked_ns;
	char     *ctype;		/* these three point into data */
	char     *headers;
	char     *body;
	size_t    ctype_len, headers_len, body_len;
	char      data[];
};

/* ok: every first outcome is committed; 0: leave the entry pending. */
typedef void (*hk_dispatch_done_fn)(struct hk_dl_event *ev, int ok);

/*
 * A new event with room for its content type, headers and body (copied in
 * by the caller into ev->data at the pointers set here).
 */
struct hk_dl_event *hk_dispatch_event_new(size_t ctype_len,
    size_t headers_len, size_t body_len);
void hk_dispatch_event_put(struct hk_dl_event *ev);

int  hk_dispatch_init(struct hk_child *c, hk_dispatch_done_fn done);
/* Take ev (one reference) and deliver it. */
void hk_dispatch_event(struct hk_dl_event *ev);
/* Deliveries in memory (queued, in flight, or being committed). */
int  hk_dispatch_jobs(void);
/* Stop claiming retries; what is in memory finishes. */
void hk_dispatch_stop(void);
void hk_dispatch_shutdown(void);

#endif
