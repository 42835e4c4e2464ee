/*
 * ctl_top.c - hookctl top: a live view of the instance, one frame a second.
 *
 * Every frame is drawn from the snapshot (rates, percentiles, Redis) and the
 * process slots (pids, heartbeats), both read from the read-only mapping.
 * On a terminal each frame replaces the last (ANSI home + clear); piped,
 * frames simply follow each other, so `hookctl top -n 2 | cat` is a log.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "core.h"
#include "ctl.h"
#include "ring.h"
#include "snapshot.h"

#define HK_CTL_TOP_CLEAR "\033[H\033[2J"

/* hk_ctl_top_rates - "120.0 req/s  0.0 err/s  0.0 dup/s" over window w. */
static void
hk_ctl_top_rates(const struct hk_snapshot *s, const struct hk_snap_group *g,
    unsigned w)
{
	const struct hk_snap_counts *c = &g->counts[w];
	double secs = s->window_s[w] ? (double)s->window_s[w] : 1.0;

	printf("%s: %8.1f %s/s %6.1f err/s %6.1f %s/s",
	    hk_snapshot_window_name(w),
	    (double)c->requests / secs, g->kind == HK_REC_INGEST ? "req"
	    : "att", (double)c->errors / secs, (double)(g->kind
	    == HK_REC_INGEST ? c->duplicates : c->dead) / secs,
	    g->kind == HK_REC_INGEST ? "dup" : "dead");
}

static void
hk_ctl_top_group(const struct hk_snapshot *s, const struct hk_snap_group *g,
    const char *title)
{
	printf("\n%-9s", title);
	hk_ctl_top_rates(s, g, HK_SNAP_1S);
	printf("   ");
	hk_ctl_top_rates(s, g, HK_SNAP_10S);
	printf("\n          total %" PRIu64 "  errors %" PRIu64 "\n",
	    g->counts[HK_SNAP_ALL].requests, g->counts[HK_SNAP_ALL].errors);
	/* A table of dashes says less than one line. */
	if (g->counts[HK_SNAP_ALL].requests == 0)
		printf("  (nothing timed yet)\n");
	else
		hk_ctl_stats_stages(g, HK_SNAP_1S, HK_SNAP_10S);
}

static void
hk_ctl_top_names(const struct hk_snapshot *s, int scope)
{
	double secs = s->window_s[HK_SNAP_10S] ? s->window_s[HK_SNAP_10S] : 1;
	char p99[24];
	int any = 0;

	for (unsigned i = 0; i < s->ngroups; i++) {
		const struct hk_snap_group *g = hk_snapshot_cgroup(s, i);
		unsigned tot = g->kind == HK_REC_INGEST ? HK_STAGE_TOTAL
		    : HK_STAGE_ATTEMPT;
		const struct hk_snap_stage *st = &g->stage[tot][HK_SNAP_10S];

		if (g->scope != scope || g->counts[HK_SNAP_ALL].requests == 0)
			continue;
		if (!any)
			printf("\n  %-20s %10s %10s %12s %12s\n", scope
			    == HK_SNAP_SOURCE ? "SOURCE" : "DESTINATION",
			    "rate10s/s", "err10s/s", "p99 10s ms", "total");
		any = 1;
		snprintf(p99, sizeof(p99), "%.3f", (double)st->p99_us / 1e3);
		printf("  %-20s %10.1f %10.1f %12s %12" PRIu64 "\n", g->name,
		    (double)g->counts[HK_SNAP_10S].requests / secs,
		    (double)g->counts[HK_SNAP_10S].errors / secs,
		    st->count ? p99 : "-", g->counts[HK_SNAP_ALL].requests);
	}
}

static void
hk_ctl_top_procs(struct hk_ctl *ctl)
{
	uint64_t now_ns = hk_clock_mono_ns(), now_us = hk_clock_real_us();
	char up[32], beat[32];

	printf("\n  %-4s %-8s %3s %8s %4s %-8s %9s %8s %10s %8s\n", "SLOT",
	    "ROLE", "IDX", "PID", "GEN", "STATE", "UPTIME", "BEAT", "REQUESTS",
	    "ERRORS");
	for (unsigned i = 0; i < HK_SHM_SLOTS; i++) {
		const struct hk_shm_slot *sl = hk_segment_slot(&ctl->seg, i);
		/* Relaxed: display values stored relaxed by the master
		 * and the owner; they pair with nothing. */
		uint32_t st = atomic_load_explicit(&sl->state,
		    memory_order_relaxed);
		uint64_t hb = atomic_load_explicit(&sl->heartbeat_ns,
		    memory_order_relaxed);

		if (st == HK_SLOT_FREE)
			continue;
		hk_ctl_duration(up, sizeof(up), now_us > sl->start_us
		    ? now_us - sl->start_us : 0);
		hk_ctl_duration(beat, sizeof(beat), now_ns > hb
		    ? (now_ns - hb) / 1000u : 0);
		printf("  %-4u %-8s %3u %8d %4u %-8s %9s %8s %10" PRIu64
		    " %8" PRIu64 "\n", i, hk_segment_role_name(sl->role),
		    (unsigned)sl->index, (int)atomic_load_explicit(&sl->pid,
		    memory_order_relaxed), sl->generation,
		    hk_segment_state_name((int)st),
		    st == HK_SLOT_DEAD ? "-" : up,
		    st == HK_SLOT_DEAD ? "-" : beat,
		    (uint64_t)atomic_load_explicit(&sl->counters.requests,
		    memory_order_relaxed),
		    (uint64_t)atomic_load_explicit(&sl->counters.errors,
		    memory_order_relaxed));
	}
}

static int
hk_ctl_top_frame(struct hk_ctl *ctl, int tty, unsigned frame)
{
	const struct hk_snap_group *in, *dl;
	struct hk_snapshot *s;
	char when[40], up[32];
	uint64_t now_us = hk_clock_real_us();

	if ((s = hk_ctl_snapshot(ctl)) == NULL)
		return HK_ERROR;
	if (tty)
		fputs(HK_CTL_TOP_CLEAR, stdout);
	else if (frame > 0)
		fputs("\n", stdout);
	hk_clock_iso8601(now_us, when, sizeof(when));
	hk_ctl_duration(up, sizeof(up), now_us > ctl->seg.hdr->created_us
	    ? now_us - ctl->seg.hdr->created_us : 0);
	printf("hookd top - %s - instance %s up %s - frame %u\n", when,
	    ctl->seg.hdr->instance, up, frame + 1);
	hk_ctl_stats_head(s, now_us);
	if ((in = hk_ctl_snap_find(s, HK_SNAP_TOTAL, HK_REC_INGEST)) != NULL)
		hk_ctl_top_group(s, in, "INGEST");
	if ((dl = hk_ctl_snap_find(s, HK_SNAP_TOTAL, HK_REC_DELIVERY)) != NULL)
		hk_ctl_top_group(s, dl, "DELIVERY");
	hk_ctl_top_names(s, HK_SNAP_SOURCE);
	hk_ctl_top_names(s, HK_SNAP_DEST);
	hk_ctl_top_procs(ctl);
	fflush(stdout);
	free(s);
	return HK_OK;
}

int
hk_ctl_top(struct hk_ctl *ctl, int argc, char **argv)
{
	double delay = 1.0;
	long count = -1;
	uint64_t step, next, now;
	char *end;
	int tty = isatty(STDOUT_FILENO);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			count = strtol(argv[++i], &end, 10);
			if (*end != '\0' || count < 1)
				return HK_CTL_USAGE;
		} else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
			delay = strtod(argv[++i], &end);
			if (*end != '\0' || !(delay >= 0.1) || delay > 3600)
				return HK_CTL_USAGE;
		} else {
			return HK_CTL_USAGE;
		}
	}
	if (hk_ctl_attach(ctl) != HK_OK)
		return HK_CTL_FAIL;
	step = (uint64_t)(delay * 1e6);
	next = hk_clock_mono_ns() / 1000u;
	for (unsigned frame = 0; count < 0 || frame < (unsigned long)count;
	    frame++) {
		if (frame > 0) {
			next += step;
			now = hk_clock_mono_ns() / 1000u;
			if (next > now)
				hk_ctl_sleep_us(next - now);
			else
				next = now;
		}
		hk_ctl_follow(ctl);	/* hookd restarted meanwhile */
		if (hk_ctl_top_frame(ctl, tty, frame) != HK_OK)
			return HK_CTL_FAIL;
	}
	return HK_CTL_OK;
}
