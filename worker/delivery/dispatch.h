/*
 * dispatch.h - the dispatcher's map: from an event to its deliveries,
 * their queues and limits, the attempts, and what each outcome writes.
 *
 * The stream side (dlgroup.c) hands every entry to hk_dlroute_event as a
 * struct hk_dl_event; once the first outcome of each of its deliveries is
 * committed (or the entry needs nothing more), the done callback given to
 * hk_dlroute_init runs, which acks the entry.  Retries never come back
 * through the stream: they live in the deliveries table and the scanner
 * claims the due rows (FOR UPDATE SKIP LOCKED, leased), so any number of
 * workers on any number of hosts share them.
 *
 * The files, each calling only those below it (no file calls back up;
 * the one way back, "this entry is decided", is the done callback):
 *
 *   dlroute.c   entry: routes an event, writes its events and deliveries
 *               rows, gives each new row a job; sets up and tears down the
 *               layers below
 *   dlscan.c    claims due deliveries from PostgreSQL, gives each a job;
 *               keeps the disabled destinations fresh
 *   dlqueue.c   per-destination queues and limits (concurrency, rate,
 *               open breaker, disabled), starts attempts
 *   verdict.c   an attempt's outcome: what it means, the breaker, and the
 *               rows that record it in PostgreSQL
 *   dispatch.c  the shared state declared here: events and jobs, and
 *               their lifetimes
 *
 * An attempt, from the HTTP answer to PostgreSQL and the ack:
 *
 *   outbound.c  calls hk_dlqueue_attempt_cb (dlqueue.c), which calls
 *   verdict.c   hk_verdict_attempt_done: judges the outcome, adds the row
 *               of hk_verdict_outcome_sql (attempts INSERT + deliveries
 *               UPDATE, one statement) to a batch; once committed,
 *               hk_verdict_committed ends the job with
 *   dispatch.c  hk_dispatch_job_free, which releases the entry's ack (the
 *               done callback) when it was the last first outcome.
 *
 * A new event (dlgroup.c decides which are: hk_dlgroup_fresh) is attempted
 * first: dlroute.c gives each destination a job at once, with no row
 * (job->fresh); verdict.c keeps each outcome in its job (or "pending, due
 * then" for a job the queue held back) and, with the event's last one,
 * writes the event, its deliveries in their state after the attempt, and
 * the attempts, one statement (hk_verdict_fresh_sql, inserts only); then
 * as above.  Nothing is written before the attempt, so a worker that dies
 * meanwhile leaves only its pending entry, which is stored first when read
 * again, and sent again.
 */
#ifndef HK_DISPATCH_H
#define HK_DISPATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "child.h"
#include "outbound.h"
#include "traceparent.h"

#define HK_DISPATCH_TRIP    5	/* consecutive failures open the breaker */
#define HK_DISPATCH_OPEN_S  30	/* for this long, then one probe */

/*
 * What an attempt's outcome means (verdict.c):
 *
 *   2xx                       succeeded
 *   410                       retrying, due at once; the destination is
 *                             disabled, so the delivery is held until
 *                             it is enabled (hookctl enable)
 *   429/503 with Retry-After  retrying, not before Retry-After, clamped to
 *                             [first, last] of delivery.retry_schedule
 *   anything else, timeouts,  retrying after retry_schedule[attempt - 1]
 *   connection errors, 3xx    (+/- jitter); dead after the last one
 */

/* One event, from a stream entry or from a claimed deliveries row. */
struct hk_dl_event {
	TAILQ_ENTRY(hk_dl_event) link;	/* dlgroup.c: entries in flight */
	int       refs;
	int       waiting;		/* first outcomes not yet committed */
	int       failed;		/* a write gave up: do not ack */
	int       decided;		/* the done callback ran */
	int       fresh;		/* dlgroup.c: may be attempted first */
	int       fresh_left;		/* attempted first: outcomes to come */
	TAILQ_HEAD(, hk_dl_job) fresh_jobs;	/* attempted first: its jobs */
	char      entry[48];		/* stream entry id; "" from PostgreSQL */
	char      id[40];		/* event id, text */
	uint8_t   idb[16];
	char      source[64];
	char      received_at[40];	/* ISO 8601 */
	char      idem_key[256];	/* "" when it came without one */
	char      traceparent[HK_TRACEPARENT_MAX];	/* "" when none */
	char      event_type[128];	/* "" when it came without one */
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

/* One delivery attempt of one event to one destination. */
struct hk_dl_job {
	TAILQ_ENTRY(hk_dl_job) link;	/* its destination's queue */
	TAILQ_ENTRY(hk_dl_job) live;	/* every job of its destination */
	TAILQ_ENTRY(hk_dl_job) evlink;	/* its event's fresh_jobs */
	struct hk_dl_event *ev;
	int       dest;
	int       attempt;		/* 1 for the first */
	int       first;		/* holds the stream entry's ack */
	int       probe;		/* the breaker's half-open probe */
	uint64_t  store_us;		/* PostgreSQL before the attempt */
	uint64_t  sent_ns;
	uint64_t  end_ns;		/* the attempt ended */
	int       failed;		/* counted as a failed attempt */
	int       dead;
	int       recorded;		/* an HTTP attempt was made */
	int       fresh;		/* no row yet: written with the outcome */
	const char *status;		/* fresh: the delivery after the outcome */
	uint64_t  delay_us;		/* fresh: next attempt due after this */
	int       has_delay;		/* fresh: 0 = no next attempt */
	char      err[300];		/* fresh: last_error, "" none */
	struct hk_outbound_res res;
};

TAILQ_HEAD(hk_dl_jobq, hk_dl_job);

/* Per destination, per worker: its queue, and its limits' state here
 * (dllimit.c shares them through Redis). */
struct hk_dispatch_dest {
	struct hk_dl_jobq queue;
	TAILQ_HEAD(, hk_dl_job) jobs;	/* queued, in flight or committing */
	int       queued, active, reserved, qmax;
	int       disabled;
	int       fails;		/* consecutive */
	uint64_t  open_until_ns;	/* breaker: 0 closed */
	int       probing;
	struct event *pump_ev;		/* dlqueue.c: the limits' wake-up */
};

struct hk_dispatch_state {
	struct hk_child      *child;
	const struct hk_conf *conf;
	struct event_base    *base;
	hk_dispatch_done_fn   done;
	struct hk_dispatch_dest *dests;
	uint64_t  lease_us;
	int       cap;			/* deliveries in memory, at most */
	int       njobs;
	int       stopping;
	int       scanning, refreshing;	/* dlscan.c: a statement is out */
	int       disabled_read;	/* dlscan.c: destination_state read */
	int       scan_limit;		/* rows asked for by the last scan */
	int       more_due;		/* it got all it asked for */
	unsigned  seed;			/* retry jitter */
	struct event *scan_ev, *refresh_ev;
};

extern struct hk_dispatch_state hk_dispatch;

/* dlroute.c */
int  hk_dlroute_init(struct hk_child *c, hk_dispatch_done_fn done);
/* Take ev (one reference) and deliver it. */
void hk_dlroute_event(struct hk_dl_event *ev);
void hk_dlroute_shutdown(void);

/* dlscan.c */
int  hk_dlscan_init(void);
void hk_dlscan_shutdown(void);

/* dlqueue.c */
int  hk_dlqueue_init(void);
void hk_dlqueue_add(struct hk_dl_job *j);
void hk_dlqueue_pump(int d);
void hk_dlqueue_shutdown(void);

/* verdict.c */
int  hk_verdict_init(void);
void hk_verdict_attempt_done(struct hk_dl_job *j);
/* Put a held-back job back in PostgreSQL, due after delay_us. */
void hk_verdict_reschedule(struct hk_dl_job *j, uint64_t delay_us);
void hk_verdict_shutdown(void);

/* dispatch.c */
int  hk_dispatch_init(struct hk_child *c, hk_dispatch_done_fn done);
/*
 * A new event with room for its content type, headers and body (copied in
 * by the caller into ev->data at the pointers set here).
 */
struct hk_dl_event *hk_dispatch_event_new(size_t ctype_len,
    size_t headers_len, size_t body_len);
void hk_dispatch_event_put(struct hk_dl_event *ev);
struct hk_dl_job *hk_dispatch_job_new(struct hk_dl_event *ev, int d,
    int attempt, int first);
void hk_dispatch_job_free(struct hk_dl_job *j, int committed);
void hk_dispatch_entry_check(struct hk_dl_event *ev);
uint64_t hk_dispatch_open_left_us(int d, uint64_t now_ns);
int  hk_dispatch_room(int d);
/* Deliveries in memory (queued, in flight, or being committed). */
int  hk_dispatch_jobs(void);
/* Stop claiming retries; what is in memory finishes. */
void hk_dispatch_stop(void);
void hk_dispatch_shutdown(void);

#endif
