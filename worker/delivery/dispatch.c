/*
 * dispatch.c - the dispatcher's shared state (struct hk_dispatch_state in
 * dispatch.h), and the lifetimes of what it holds: events, jobs, and the
 * entry's ack that the last first job releases.  The floor of the
 * dispatcher: every other file of it calls here, this file calls none of
 * them (the entry's end goes out through the done callback).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "core.h"
#include "dispatch.h"

struct hk_dispatch_state hk_dispatch;

int
hk_dispatch_init(struct hk_child *c, hk_dispatch_done_fn done)
{
	const struct hk_conf *conf = c->conf;

	memset(&hk_dispatch, 0, sizeof(hk_dispatch));
	hk_dispatch.child = c;
	hk_dispatch.conf = conf;
	hk_dispatch.base = c->base;
	hk_dispatch.done = done;
	hk_dispatch.cap = HK_MAX(conf->delivery.concurrency, 1);
	hk_dispatch.seed = (unsigned)hk_clock_mono_ns() ^ (unsigned)c->index;
	hk_dispatch.dests = calloc((size_t)conf->ndests + 1,
	    sizeof(*hk_dispatch.dests));
	if (hk_dispatch.dests == NULL)
		return HK_ERROR;
	for (int d = 0; d < conf->ndests; d++) {
		struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];

		TAILQ_INIT(&dd->queue);
		TAILQ_INIT(&dd->jobs);
		dd->qmax = HK_MAX(64, 4 * conf->dests[d].concurrency);
	}
	hk_dispatch.lease_us = hk_conf_claim_lease_us(conf);
	return HK_OK;
}

void
hk_dispatch_stop(void)
{
	hk_dispatch.stopping = 1;
	/* Each queue's pump hands back what it holds (dlqueue.c). */
	for (int d = 0; d < hk_dispatch.conf->ndests; d++)
		if (hk_dispatch.dests[d].pump_ev != NULL)
			event_active(hk_dispatch.dests[d].pump_ev, EV_TIMEOUT, 1);
}

void
hk_dispatch_shutdown(void)
{
	free(hk_dispatch.dests);
	memset(&hk_dispatch, 0, sizeof(hk_dispatch));
}

struct hk_dl_event *
hk_dispatch_event_new(size_t ctype_len, size_t headers_len, size_t body_len)
{
	struct hk_dl_event *ev;

	ev = calloc(1, sizeof(*ev) + ctype_len + headers_len + body_len + 3);
	if (ev == NULL)
		return NULL;
	ev->refs = 1;
	TAILQ_INIT(&ev->fresh_jobs);
	ev->ctype = ev->data;
	ev->headers = ev->ctype + ctype_len + 1;
	ev->body = ev->headers + headers_len + 1;
	ev->ctype_len = ctype_len;
	ev->headers_len = headers_len;
	ev->body_len = body_len;
	return ev;
}

void
hk_dispatch_event_put(struct hk_dl_event *ev)
{
	if (ev != NULL && --ev->refs == 0)
		free(ev);
}

int
hk_dispatch_jobs(void)
{
	return hk_dispatch.njobs;
}

/* hk_dispatch_entry_check - the entry is decided once nothing waits. */
void
hk_dispatch_entry_check(struct hk_dl_event *ev)
{
	if (ev->waiting > 0 || ev->entry[0] == '\0' || ev->decided)
		return;
	ev->decided = 1;
	hk_dispatch.done(ev, !ev->failed);
}

struct hk_dl_job *
hk_dispatch_job_new(struct hk_dl_event *ev, int d, int attempt, int first)
{
	struct hk_dl_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->ev = ev;
	ev->refs++;
	j->dest = d;
	j->attempt = attempt;
	j->first = first;
	if (first)
		ev->waiting++;
	TAILQ_INSERT_TAIL(&hk_dispatch.dests[d].jobs, j, live);
	hk_dispatch.njobs++;
	return j;
}

/* hk_dispatch_job_free - the job's outcome is committed (or given up). */
void
hk_dispatch_job_free(struct hk_dl_job *j, int committed)
{
	struct hk_dl_event *ev = j->ev;

	hk_dispatch.njobs--;
	TAILQ_REMOVE(&hk_dispatch.dests[j->dest].jobs, j, live);
	/* The last scan stopped at its limit: look again as soon as there
	 * is room, not only on the scanner's timer. */
	if (hk_dispatch.more_due && !hk_dispatch.scanning
	    && hk_dispatch.dests[j->dest].queued
	    < hk_dispatch.dests[j->dest].qmax / 4) {
		hk_dispatch.more_due = 0;
		event_active(hk_dispatch.scan_ev, EV_TIMEOUT, 1);
	}
	if (j->first) {
		if (!committed)
			ev->failed = 1;
		ev->waiting--;
		hk_dispatch_entry_check(ev);
	}
	hk_dispatch_event_put(ev);
	free(j);
}

/* hk_dispatch_room - may destination d take one more job in memory? */
int
hk_dispatch_room(int d)
{
	const struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];

	return dd->queued + dd->active + dd->reserved < dd->qmax;
}

/* hk_dispatch_open_left_us - time the breaker of d stays open, or 0. */
uint64_t
hk_dispatch_open_left_us(int d, uint64_t now_ns)
{
	uint64_t until = hk_dispatch.dests[d].open_until_ns;

	return until > now_ns ? (until - now_ns) / 1000u : 0;
}
