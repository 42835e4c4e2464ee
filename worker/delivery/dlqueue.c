/*
 * dlqueue.c - per-destination queues and their limits, and the attempts
 * they let out (see dispatch.h for the map).
 *
 * Limits per destination, for the whole deployment (dllimit.c keeps them
 * in Redis): concurrency (HTTP requests in flight), rate_per_s as a token
 * bucket (burst = max(1, rate)), and a circuit breaker: HK_DISPATCH_TRIP
 * consecutive failures of one worker open it for HK_DISPATCH_OPEN_S
 * seconds for every worker, during which its queue is rescheduled in
 * PostgreSQL; then one probe goes out (from each worker), and its success
 * closes the breaker (a failure opens it again; verdict.c counts them).
 *
 * An attempt leaves here with hk_outbound_send and comes back to
 * hk_dlqueue_attempt_cb, which hands it to verdict.c and lets the next one
 * out of the queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "dispatch.h"
#include "dllimit.h"
#include "outbound.h"

/* hk_dlqueue_add - a job joins its destination's queue. */
void
hk_dlqueue_add(struct hk_dl_job *j)
{
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[j->dest];

	TAILQ_INSERT_TAIL(&dd->queue, j, link);
	dd->queued++;
	hk_dlqueue_pump(j->dest);
}


static void hk_dlqueue_attempt_cb(void *arg, struct hk_outbound_res *res);

/* hk_dlqueue_start - send one attempt. */
static void
hk_dlqueue_start(struct hk_dl_job *j)
{
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[j->dest];
	struct hk_outbound_req r = { &hk_dispatch.conf->dests[j->dest],
	    j->ev->id, j->ev->ctype, j->ev->body, j->ev->body_len,
	    j->ev->traceparent };

	dd->active++;
	j->sent_ns = hk_clock_mono_ns();
	if (hk_outbound_send(&r, hk_dlqueue_attempt_cb, j) != HK_OK) {
		struct hk_outbound_res res;

		memset(&res, 0, sizeof(res));
		res.retry_after_s = -1;
		res.started_us = hk_clock_real_us();
		snprintf(res.error, sizeof(res.error), "cannot build the "
		    "request (out of memory or bad signing secret)");
		hk_dlqueue_attempt_cb(j, &res);
	}
}

/*
 * hk_dlqueue_attempt_cb - outbound.c's callback: the attempt is over.  Its
 * outcome goes to verdict.c, and the slot it held lets the next one out.
 */
static void
hk_dlqueue_attempt_cb(void *arg, struct hk_outbound_res *res)
{
	struct hk_dl_job *j = arg;
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[j->dest];

	dd->active--;
	j->res = *res;
	j->end_ns = hk_clock_mono_ns();
	hk_verdict_attempt_done(j);
	hk_dlqueue_pump(j->dest);
}

/*
 * hk_dlqueue_pump - start what destination d's limits allow: disabled
 * sends its queue back to PostgreSQL, due (held there until enabled), an
 * open breaker sends its queue back to PostgreSQL, a
 * half-open one lets one probe out.
 */
void
hk_dlqueue_pump(int d)
{
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];
	struct hk_dl_job *j;
	uint64_t now, left;

	while ((j = TAILQ_FIRST(&dd->queue)) != NULL) {
		/* Stopping: what has not started goes back to PostgreSQL, due
		 * now, for the other workers; starting it could outlast the
		 * drain and leave an attempt sent but not recorded. */
		if (hk_dispatch.stopping) {
			TAILQ_REMOVE(&dd->queue, j, link);
			dd->queued--;
			hk_verdict_reschedule(j, 0);
			continue;
		}
		now = hk_clock_mono_ns();
		left = hk_dispatch_open_left_us(d, now);
		if (!dd->disabled && left == 0 && dd->open_until_ns != 0
		    && dd->probing)
			return;
		if (!dd->disabled && left == 0 && !hk_dllimit_admit(d))
			return;
		TAILQ_REMOVE(&dd->queue, j, link);
		dd->queued--;
		if (dd->disabled)
			hk_verdict_reschedule(j, 0);
		else if (left > 0)
			hk_verdict_reschedule(j, left);
		else {
			if (dd->open_until_ns != 0)
				dd->probing = j->probe = 1;
			hk_dlqueue_start(j);
		}
	}
}

static void
hk_dlqueue_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_dlqueue_pump((int)(intptr_t)arg);
}

int
hk_dlqueue_init(void)
{
	for (int d = 0; d < hk_dispatch.conf->ndests; d++) {
		struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];

		dd->pump_ev = evtimer_new(hk_dispatch.base, hk_dlqueue_pump_cb,
		    (void *)(intptr_t)d);
		if (dd->pump_ev == NULL)
			return HK_ERROR;
	}
	return HK_OK;
}

/* hk_dlqueue_shutdown - drop what is queued; its rows stay leased. */
void
hk_dlqueue_shutdown(void)
{
	struct hk_dl_job *j;

	for (int d = 0; d < hk_dispatch.conf->ndests; d++) {
		struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];

		while ((j = TAILQ_FIRST(&dd->queue)) != NULL) {
			TAILQ_REMOVE(&dd->queue, j, link);
			hk_dispatch_event_put(j->ev);
			free(j);
		}
		event_free(dd->pump_ev);
	}
}
