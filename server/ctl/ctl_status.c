/*
 * ctl_status.c - hookctl status: the process table from the segment, and
 * the Redis master the instance uses, from the stats snapshot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "core.h"
#include "ctl.h"
#include "snapshot.h"

static void
hk_ctl_status_row(const struct hk_shm_slot *s, unsigned i, int json,
    int first)
{
	uint64_t now_ns = hk_clock_mono_ns(), now_us = hk_clock_real_us();
	uint64_t beat = atomic_load_explicit(&s->heartbeat_ns,
	    memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&s->ring.head,
	    memory_order_relaxed);
	uint32_t state = atomic_load_explicit(&s->state, memory_order_relaxed);
	int pid = atomic_load_explicit(&s->pid, memory_order_relaxed);
	uint64_t up = now_us > s->start_us ? now_us - s->start_us : 0;
	uint64_t age = now_ns > beat ? (now_ns - beat) / 1000u : 0;
	unsigned fill = (unsigned)(HK_MIN(head, HK_RING_RECORDS) * 100
	    / HK_RING_RECORDS);
	char upbuf[32], agebuf[32];

	if (json) {
		printf("%s{\"slot\":%u,\"role\":\"%s\",\"index\":%u,\"pid\":%d,"
		    "\"generation\":%u,\"state\":\"%s\",\"uptime_s\":%.3f,"
		    "\"heartbeat_age_ms\":%.1f,\"restarts\":%u,"
		    "\"ring_records\":%llu,\"ring_fill_pct\":%u,"
		    "\"requests\":%llu,\"errors\":%llu}",
		    first ? "" : ",", i, hk_segment_role_name(s->role), s->index,
		    pid, s->generation, hk_segment_state_name((int)state),
		    (double)up / 1e6, (double)age / 1e3,
		    atomic_load_explicit(&s->restarts, memory_order_relaxed),
		    (unsigned long long)head, fill,
		    (unsigned long long)atomic_load_explicit(
		    &s->counters.requests, memory_order_relaxed),
		    (unsigned long long)atomic_load_explicit(
		    &s->counters.errors, memory_order_relaxed));
		return;
	}
	hk_ctl_duration(upbuf, sizeof(upbuf), up);
	hk_ctl_duration(agebuf, sizeof(agebuf), age);
	if (state == HK_SLOT_DEAD) {
		snprintf(upbuf, sizeof(upbuf), "-");
		snprintf(agebuf, sizeof(agebuf), "-");
	}
	printf("%-4u %-8s %3u %8d %4u %-8s %9s %8s %8u %10llu %5u%%\n", i,
	    hk_segment_role_name(s->role), s->index, pid, s->generation,
	    hk_segment_state_name((int)state), upbuf, agebuf,
	    atomic_load_explicit(&s->restarts, memory_order_relaxed),
	    (unsigned long long)head, fill);
}

/*
 * hk_ctl_status_redis - the master the stats process samples, the new
 * masters it followed (Sentinel) and the hosts reading the group.  Read
 * once, without waiting: a status is wanted most when the stats process is
 * not running, and then says so.
 */
static void
hk_ctl_status_redis(struct hk_ctl *ctl, int json)
{
	struct hk_snapshot *s = malloc(HK_SNAP_BYTES_MAX);
	char err[256];
	int ok;

	ok = s != NULL && hk_snapshot_read(hk_segment_snapshot(&ctl->seg), s,
	    HK_SNAP_BYTES_MAX, err, sizeof(err)) == HK_OK;
	if (json) {
		printf(",\"redis\":");
		if (!ok)
			printf("null");
		else {
			printf("{\"master\":");
			hk_snapshot_json_str(stdout, s->redis_master);
			printf(",\"up\":%s,\"failovers\":%u,"
			    "\"consumer_hosts\":%d}", s->redis_up < 0 ? "null"
			    : s->redis_up ? "true" : "false",
			    s->redis_switches, (int)s->consumer_hosts);
		}
	} else if (!ok)
		printf("\nredis: unknown (no statistics: is the stats process "
		    "running?)\n");
	else {
		printf("\nredis master %s%s  failovers followed %u  "
		    "consumer hosts ", s->redis_master[0] ? s->redis_master
		    : "unknown", s->redis_up == 1 ? "" : " (down)",
		    s->redis_switches);
		if (s->consumer_hosts < 0)
			printf("unknown\n");
		else
			printf("%d\n", (int)s->consumer_hosts);
	}
	free(s);
}

int
hk_ctl_status(struct hk_ctl *ctl, int argc, char **argv)
{
	const struct hk_shm_header *h;
	int json = 0, first = 1, alive;
	char upbuf[32];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else
			return HK_CTL_USAGE;
	}
	if (hk_ctl_attach(ctl) != HK_OK)
		return HK_CTL_FAIL;
	h = ctl->seg.hdr;
	alive = hk_segment_pid_is_hookd(atomic_load_explicit(&h->master_pid,
	    memory_order_relaxed));
	hk_ctl_duration(upbuf, sizeof(upbuf), hk_clock_real_us() - h->created_us);
	if (json)
		printf("{\"instance\":\"%s\",\"master_pid\":%d,\"master_alive\":%s,"
		    "\"generation\":%u,\"reloads\":%llu,\"processes\":[",
		    h->instance, (int)atomic_load_explicit(&h->master_pid,
		    memory_order_relaxed), alive ? "true" : "false",
		    atomic_load_explicit(&h->generation, memory_order_relaxed),
		    (unsigned long long)atomic_load_explicit(&h->reloads,
		    memory_order_relaxed));
	else
		printf("instance %s  master pid %d%s  up %s  generation %u  "
		    "reloads %llu\n\n%-4s %-8s %3s %8s %4s %-8s %9s %8s %8s %10s "
		    "%6s\n", h->instance, (int)atomic_load_explicit(&h->master_pid,
		    memory_order_relaxed), alive ? "" : " (not running)", upbuf,
		    atomic_load_explicit(&h->generation, memory_order_relaxed),
		    (unsigned long long)atomic_load_explicit(&h->reloads,
		    memory_order_relaxed), "SLOT", "ROLE", "IDX", "PID", "GEN",
		    "STATE", "UPTIME", "BEAT", "RESTARTS", "RECORDS", "RING");
	for (unsigned i = 0; i < HK_SHM_SLOTS; i++) {
		const struct hk_shm_slot *s = hk_segment_slot(&ctl->seg, i);

		if (atomic_load_explicit(&s->state, memory_order_relaxed)
		    == HK_SLOT_FREE)
			continue;
		hk_ctl_status_row(s, i, json, first);
		first = 0;
	}
	if (json)
		printf("]");
	hk_ctl_status_redis(ctl, json);
	if (json)
		printf("}\n");
	return alive ? HK_CTL_OK : HK_CTL_FAIL;
}
