/*
 * child.c - plumbing shared by every child role (see child.h for the
 * protocol with the master).
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "clock.h"
#include "core.h"
#include "log.h"

void
hk_child_beat(struct hk_child *c)
{
	/* Relaxed: the master only compares the value with its clock; no
	 * other data is published through the heartbeat. */
	atomic_store_explicit(&c->slot->heartbeat_ns, hk_clock_mono_ns(),
	    memory_order_relaxed);
}

void
hk_child_set_state(struct hk_child *c, int state)
{
	/* Relaxed: a display value for hookctl, paired with nothing. */
	atomic_store_explicit(&c->slot->state, (uint32_t)state,
	    memory_order_relaxed);
}

uint64_t
hk_child_drain_left_ms(const struct hk_child *c)
{
	uint64_t now = hk_clock_mono_ns();

	if (!c->stopping || now >= c->stop_deadline_ns)
		return 0;
	return (c->stop_deadline_ns - now) / 1000000u;
}

static void
hk_child_beat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_child *c = arg;

	hk_child_beat(c);
	/* PR_SET_PDEATHSIG covers most cases; this covers a master that died
	 * between our fork and our prctl.  Compared with the master's pid, not
	 * with 1: in a container the master may be pid 1 itself. */
	if (getppid() != c->master_pid && !c->stopping) {
		hk_log_warn("master is gone, stopping");
		c->stopping = 1;
		c->stop_deadline_ns = hk_clock_mono_ns()
		    + (uint64_t)c->conf->drain_timeout_ms * 1000000u;
		hk_child_set_state(c, HK_SLOT_DRAINING);
		c->on_stop(c, 0);
	}
}

static void
hk_child_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct hk_child *c = arg;

	switch (sig) {
	case SIGUSR1:
		if (hk_log_reopen() == HK_OK)
			hk_log_info("log reopened");
		return;
	case SIGQUIT:
		hk_log_info("fast stop");
		c->stopping = 1;
		c->on_stop(c, 1);
		return;
	case SIGTERM:
		if (c->stopping)
			return;
		hk_log_info("graceful stop, draining for up to %d ms",
		    c->conf->drain_timeout_ms);
		c->stopping = 1;
		c->stop_deadline_ns = hk_clock_mono_ns()
		    + (uint64_t)c->conf->drain_timeout_ms * 1000000u;
		hk_child_set_state(c, HK_SLOT_DRAINING);
		c->on_stop(c, 0);
		return;
	}
}

int
hk_child_loop_setup(struct hk_child *c, struct event_base *base,
    void (*on_stop)(struct hk_child *c, int fast))
{
	static const int sigs[3] = { SIGTERM, SIGQUIT, SIGUSR1 };
	struct timeval tv = { 0, HK_CHILD_BEAT_MS * 1000 };
	sigset_t mask;

	c->base = base;
	c->on_stop = on_stop;
	c->beat_ev = event_new(base, -1, EV_PERSIST, hk_child_beat_cb, c);
	if (c->beat_ev == NULL || event_add(c->beat_ev, &tv) == -1)
		return HK_ERROR;
	sigemptyset(&mask);
	for (int i = 0; i < 3; i++) {
		c->sig_ev[i] = evsignal_new(base, sigs[i], hk_child_signal_cb,
		    c);
		if (c->sig_ev[i] == NULL || event_add(c->sig_ev[i], NULL) == -1)
			return HK_ERROR;
		sigaddset(&mask, sigs[i]);
	}
	/* The master forked us with these blocked; a signal sent meanwhile
	 * is delivered now, to the handlers just installed. */
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	hk_child_beat(c);
	return HK_OK;
}

void
hk_child_loop_teardown(struct hk_child *c)
{
	if (c->beat_ev != NULL)
		event_free(c->beat_ev);
	c->beat_ev = NULL;
	for (int i = 0; i < 3; i++) {
		if (c->sig_ev[i] != NULL)
			event_free(c->sig_ev[i]);
		c->sig_ev[i] = NULL;
	}
}
