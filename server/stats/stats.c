/*
 * stats.c - the stats process: reads every ring, aggregates, publishes the
 * snapshot, serves the admin HTTP port.
 *
 * Peers: the master (signals, slot), every process's ring (read only),
 * Redis (a sample of the queue depth each second, sampler.c), PostgreSQL
 * (storage figures every 10 s, pgsampler.c), /proc (each child's CPU,
 * memory and descriptors every 5 s, procstat.c), hookctl
 * (through the snapshot), HTTP clients of the admin port (admin.c).
 * Signals: TERM and QUIT stop it at once; it holds nothing that needs
 * draining.  In shm it owns its slot (heartbeat) and the snapshot region.
 *
 * Ten times a second it drains every slot's ring with a private reader.
 * A reader is never reset, not even when the slot's pid changes: a process
 * respawned into a slot continues the same ring from the same head
 * (ring.h), so the position stays right, and records written just before a
 * crash are still read.  The readers start at the oldest readable record,
 * so what the workers timed before this process came up is counted too.
 * Records go into the aggregates (aggr.c) at the second they are read,
 * on the monotonic clock; then the snapshot is rebuilt and published.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "admin.h"
#include "aggr.h"
#include "child.h"
#include "clock.h"
#include "core.h"
#include "log.h"
#include "ring.h"
#include "pgsampler.h"
#include "procstat.h"
#include "sampler.h"
#include "snapshot.h"
#include "typecount.h"

#define HK_STATS_DRAIN_MS   100
#define HK_STATS_BATCH      256	/* records copied per hk_ring_read */

static struct {
	struct hk_child      *child;
	const struct hk_conf *conf;
	struct event_base    *base;
	struct event         *drain_ev;
	struct hk_ring_reader rd[HK_SHM_SLOTS];
	uint64_t              missed_base[HK_SHM_SLOTS];	/* at reset */
	uint64_t              missed[HK_SHM_SLOTS];	/* since reset */
	struct hk_aggr        aggr;
	struct hk_typecount   types;	/* routing counters */
	struct hk_sampler     sampler;
	struct hk_pgsampler   pgsampler;
	struct hk_procstat    procstat;
	struct hk_admin       admin;
	struct hk_snapshot   *snap;	/* built here, then published */
	uint64_t              publishes;
	uint64_t              sampled_sec1;
} hk_stats;

static void hk_stats_drain_cb(evutil_socket_t fd, short what, void *arg);
static void hk_stats_stop(struct hk_child *c, int fast);
static void hk_stats_reset(void);

static uint64_t
hk_stats_now_sec(void)
{
	return hk_clock_mono_ns() / 1000000000u;
}

int
hk_stats_main(struct hk_child *c)
{
	struct timeval tv = { 0, HK_STATS_DRAIN_MS * 1000 };

	hk_stats.child = c;
	hk_stats.conf = c->conf;
	if ((hk_stats.base = event_base_new()) == NULL)
		hk_fatalx("event_base_new failed");
	if ((hk_stats.snap = calloc(1, HK_SNAP_BYTES_MAX)) == NULL
	    || hk_aggr_init(&hk_stats.aggr, c->conf, hk_stats_now_sec())
	    != HK_OK || hk_typecount_init(&hk_stats.types, c->conf) != HK_OK)
		hk_fatalx("out of memory for the statistics");
	for (unsigned i = 0; i < HK_SHM_SLOTS; i++)
		hk_ring_reader_init(&hk_stats.rd[i],
		    &hk_segment_slot(c->seg, i)->ring, 1);
	if (hk_sampler_init(&hk_stats.sampler, hk_stats.base, c->conf)
	    != HK_OK)
		hk_fatalx("out of memory for the Redis sampler");
	if (hk_pgsampler_init(&hk_stats.pgsampler, hk_stats.base, c->conf)
	    != HK_OK)
		hk_fatalx("cannot set up the PostgreSQL sampler");
	hk_procstat_init(&hk_stats.procstat, c->seg);

	hk_stats.admin.conf = c->conf;
	hk_stats.admin.seg = c->seg;
	hk_stats.admin.aggr = &hk_stats.aggr;
	hk_stats.admin.types = &hk_stats.types;
	hk_stats.admin.sampler = &hk_stats.sampler;
	hk_stats.admin.pgsampler = &hk_stats.pgsampler;
	hk_stats.admin.procstat = &hk_stats.procstat;
	hk_stats.admin.snap = hk_stats.snap;
	hk_stats.admin.missed = hk_stats.missed;
	hk_stats.admin.reset = hk_stats_reset;
	if (hk_admin_init(&hk_stats.admin, hk_stats.base, c->fd) != HK_OK)
		hk_fatalx("cannot serve the admin port on fd %d", c->fd);

	hk_stats.drain_ev = event_new(hk_stats.base, -1, EV_PERSIST,
	    hk_stats_drain_cb, NULL);
	if (hk_stats.drain_ev == NULL
	    || event_add(hk_stats.drain_ev, &tv) == -1)
		hk_fatalx("cannot arm the drain timer");
	if (hk_child_loop_setup(c, hk_stats.base, hk_stats_stop) != HK_OK)
		hk_fatalx("cannot set up the event loop");

	hk_stats_drain_cb(-1, 0, NULL);	/* a snapshot from the start */
	hk_child_set_state(c, HK_SLOT_RUNNING);
	event_base_dispatch(hk_stats.base);

	hk_child_loop_teardown(c);
	event_free(hk_stats.drain_ev);
	hk_admin_free(&hk_stats.admin);
	hk_sampler_free(&hk_stats.sampler);
	hk_pgsampler_free(&hk_stats.pgsampler);
	hk_aggr_free(&hk_stats.aggr);
	hk_typecount_free(&hk_stats.types);
	free(hk_stats.snap);
	event_base_free(hk_stats.base);
	return 0;
}

/* hk_stats_drain - read every ring up to its head into the aggregates. */
static void
hk_stats_drain(uint64_t now_sec)
{
	static struct hk_rec buf[HK_STATS_BATCH];
	struct hk_shm_slot *slot;
	size_t n, i, total;

	for (unsigned s = 0; s < HK_SHM_SLOTS; s++) {
		slot = hk_segment_slot(hk_stats.child->seg, s);
		/*
		 * Bounded, so that a writer faster than us cannot keep this
		 * loop going; what is left waits 100 ms, or is counted as
		 * missed if the writer laps us meanwhile.
		 */
		for (total = 0; total < HK_RING_RECORDS; total += n) {
			n = hk_ring_read(&hk_stats.rd[s], &slot->ring, buf,
			    HK_STATS_BATCH);
			for (i = 0; i < n; i++) {
				hk_aggr_add(&hk_stats.aggr, &buf[i], now_sec);
				hk_typecount_add(&hk_stats.types, s, &buf[i]);
			}
			if (n < HK_STATS_BATCH)
				break;
		}
		hk_stats.missed[s] = hk_stats.rd[s].missed
		    - hk_stats.missed_base[s];
	}
}

/* hk_stats_publish - rebuild the snapshot and publish it under the seqlock. */
static void
hk_stats_publish(uint64_t now_sec)
{
	struct hk_snapshot *s = hk_stats.snap;
	const struct hk_sampler *rs = &hk_stats.sampler;
	uint64_t missed = 0;

	/*
	 * The seqlock admits one writer.  A reload forks the new generation's
	 * stats process while this one may still run: the master bumps the
	 * generation first, and from then on only the new one publishes.
	 * Relaxed: the master's store is relaxed too; the new process cannot
	 * publish before its fork, which comes after the store, and its
	 * startup takes far longer than one publish of ours.
	 */
	if (atomic_load_explicit(&hk_stats.child->seg->hdr->generation,
	    memory_order_relaxed) != hk_stats.child->generation)
		return;
	for (unsigned i = 0; i < HK_SHM_SLOTS; i++)
		missed += hk_stats.missed[i];
	hk_aggr_snapshot(&hk_stats.aggr, now_sec, s);
	s->magic = HK_SNAP_MAGIC;
	s->version = HK_SNAP_VERSION;
	s->publishes = ++hk_stats.publishes;
	s->published_us = hk_clock_real_us();
	s->started_us = hk_stats.aggr.started_us;
	s->stats_pid = (int32_t)getpid();
	s->stream_length = rs->length;
	s->stream_pending = rs->pending;
	s->redis_up = rs->up;
	s->redis_sampled_us = rs->sampled_us;
	/* Truncated past 47 bytes; /metrics has the whole address. */
	snprintf(s->redis_master, sizeof(s->redis_master), "%.*s",
	    (int)sizeof(s->redis_master) - 1, rs->addr);
	s->redis_switches = (uint32_t)hk_redisloc_switches();
	s->consumer_hosts = rs->consumer_hosts;
	s->records = hk_stats.aggr.records;
	s->ring_missed = missed;
	snprintf(s->instance, sizeof(s->instance), "%s",
	    hk_stats.conf->instance);
	hk_snapshot_publish(hk_segment_snapshot(hk_stats.child->seg), s);
}

static void
hk_stats_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now_sec = hk_stats_now_sec();

	hk_stats_drain(now_sec);
	if (hk_stats.sampled_sec1 != now_sec + 1) {
		hk_sampler_tick(&hk_stats.sampler);
		hk_pgsampler_tick(&hk_stats.pgsampler);
		hk_procstat_tick(&hk_stats.procstat);
		hk_stats.sampled_sec1 = now_sec + 1;
	}
	hk_stats_publish(now_sec);
}

/* hk_stats_reset - POST /stats/reset: start counting from zero. */
static void
hk_stats_reset(void)
{
	uint64_t now_sec = hk_stats_now_sec();

	/* Count what was written before the reset under the old totals. */
	hk_stats_drain(now_sec);
	hk_aggr_reset(&hk_stats.aggr, now_sec);
	hk_typecount_reset(&hk_stats.types);
	for (unsigned i = 0; i < HK_SHM_SLOTS; i++) {
		hk_stats.missed_base[i] = hk_stats.rd[i].missed;
		hk_stats.missed[i] = 0;
	}
	hk_stats_publish(now_sec);
}

static void
hk_stats_stop(struct hk_child *c, int fast)
{
	event_base_loopexit(hk_stats.base, NULL);
}
