/*
 * delivery.c - the delivery worker.
 *
 * Drains the Redis stream through the consumer group "delivery" and delivers
 * each event to its destinations.  Peers: the master (signals, slot), Redis,
 * PostgreSQL, the destinations.  In shm it owns its slot.
 */
#include <stdlib.h>

#include <event2/event.h>

#include "child.h"
#include "core.h"
#include "delivery.h"
#include "log.h"

static struct {
	struct hk_child   *child;
	struct event_base *base;
} hk_delivery;

static void
hk_delivery_stop(struct hk_child *c, int fast)
{
	event_base_loopexit(hk_delivery.base, NULL);
}

int
hk_delivery_main(struct hk_child *c)
{
	hk_delivery.child = c;
	if ((hk_delivery.base = event_base_new()) == NULL)
		hk_fatalx("event_base_new failed");
	if (hk_child_loop_setup(c, hk_delivery.base, hk_delivery_stop) != HK_OK)
		hk_fatalx("cannot set up the event loop");
	hk_child_set_state(c, HK_SLOT_RUNNING);
	event_base_dispatch(hk_delivery.base);
	hk_child_loop_teardown(c);
	event_base_free(hk_delivery.base);
	return 0;
}
