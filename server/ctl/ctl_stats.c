/*
 * ctl_stats.c - hookctl stats: the stats process's snapshot, read from the
 * segment (snapshot.h), once, as JSON, or one line per interval.
 *
 * Nothing here talks to a process: the snapshot is copied out of the
 * read-only mapping under its seqlock.  When the stats process is gone the
 * snapshot stays readable but stops moving; its age says so.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "core.h"
#include "ctl.h"
#include "snapshot.h"

#define HK_CTL_STATS_HEADER_EVERY 20
#define HK_CTL_STATS_WAIT_MS      2000	/* for a first snapshot */
#define HK_CTL_STATS_STALE_US     3000000u

/*
 * hk_ctl_snapshot - copy the snapshot into a new buffer (free it); waits a
 * little for the first one after a start.  NULL after printing why.
 */
struct hk_snapshot *
hk_ctl_snapshot(struct hk_ctl *ctl)
{
	const struct hk_snap_region *r;
	struct hk_snapshot *s;
	char err[256];
	int rc = HK_AGAIN;

	if (hk_ctl_attach(ctl) != HK_OK)
		return NULL;
	if ((s = malloc(HK_SNAP_BYTES_MAX)) == NULL) {
		fprintf(stderr, "hookctl: out of memory\n");
		return NULL;
	}
	r = hk_segment_snapshot(&ctl->seg);
	for (int waited = 0; waited < HK_CTL_STATS_WAIT_MS; waited += 50) {
		rc = hk_snapshot_read(r, s, HK_SNAP_BYTES_MAX, err,
		    sizeof(err));
		if (rc != HK_AGAIN)
			break;
		hk_ctl_sleep_us(50000);
	}
	if (rc == HK_AGAIN)
		fprintf(stderr, "hookctl: no statistics yet: is the stats "
		    "process running? (hookctl status)\n");
	else if (rc != HK_OK)
		fprintf(stderr, "hookctl: %s\n", err);
	if (rc != HK_OK) {
		free(s);
		return NULL;
	}
	return s;
}

/* hk_ctl_snap_find - the group of a scope and kind (the totals, usually). */
const struct hk_snap_group *
hk_ctl_snap_find(const struct hk_snapshot *s, int scope, int kind)
{
	for (unsigned i = 0; i < s->ngroups; i++) {
		const struct hk_snap_group *g = hk_snapshot_cgroup(s, i);

		if (g->scope == scope && g->kind == kind)
			return g;
	}
	return NULL;
}

/* hk_ctl_ms - microseconds as milliseconds in a fixed-width field. */
static void
hk_ctl_ms(char *buf, size_t len, uint64_t us)
{
	if (us >= 10000000u)
		snprintf(buf, len, "%.0f", (double)us / 1e3);
	else
		snprintf(buf, len, "%.3f", (double)us / 1e3);
}

/* hk_ctl_stats_stages - a table of one group's stages over two windows. */
void
hk_ctl_stats_stages(const struct hk_snap_group *g, unsigned w1, unsigned w2)
{
	char b[8][24];

	static const char *title[HK_SNAP_WINDOWS] = {
	    "------------- last 1 s --------------",
	    "------------- last 10 s -------------",
	    "------------- last 60 s -------------",
	    "------------ since start ------------" };

	printf("  %-10s   %s   %s\n", "", title[w1 % HK_SNAP_WINDOWS],
	    title[w2 % HK_SNAP_WINDOWS]);
	printf("  %-10s %9s %9s %9s %9s   %9s %9s %9s %9s\n", "stage (ms)",
	    "p50", "p90", "p99", "max", "p50", "p90", "p99", "max");
	for (unsigned st = 0; st < g->nstages && st < HK_REC_STAGES; st++) {
		const struct hk_snap_stage *a = &g->stage[st][w1];
		const struct hk_snap_stage *z = &g->stage[st][w2];

		hk_ctl_ms(b[0], sizeof(b[0]), a->p50_us);
		hk_ctl_ms(b[1], sizeof(b[1]), a->p90_us);
		hk_ctl_ms(b[2], sizeof(b[2]), a->p99_us);
		hk_ctl_ms(b[3], sizeof(b[3]), a->max_us);
		hk_ctl_ms(b[4], sizeof(b[4]), z->p50_us);
		hk_ctl_ms(b[5], sizeof(b[5]), z->p90_us);
		hk_ctl_ms(b[6], sizeof(b[6]), z->p99_us);
		hk_ctl_ms(b[7], sizeof(b[7]), z->max_us);
		printf("  %-10s %9s %9s %9s %9s   %9s %9s %9s %9s\n",
		    hk_snapshot_stage_name(g->kind, st),
		    a->count ? b[0] : "-", a->count ? b[1] : "-",
		    a->count ? b[2] : "-", a->count ? b[3] : "-",
		    z->count ? b[4] : "-", z->count ? b[5] : "-",
		    z->count ? b[6] : "-", z->count ? b[7] : "-");
	}
}

/* hk_ctl_stats_counts - one row of counters per window. */
static void
hk_ctl_stats_counts(const struct hk_snapshot *s, const struct hk_snap_group *g)
{
	int in = g->kind == HK_REC_INGEST;

	printf("  %-10s %12s %10s %10s %10s %10s %12s\n", "window",
	    in ? "requests" : "attempts", "rate/s", in ? "errors" : "failed",
	    in ? "duplicate" : "dead", in ? "fallback" : "", "bytes");
	for (unsigned w = 0; w < HK_SNAP_WINDOWS; w++) {
		const struct hk_snap_counts *c = &g->counts[w];
		double secs = s->window_s[w] ? (double)s->window_s[w] : 1.0;
		char fb[24] = "";

		if (in)
			snprintf(fb, sizeof(fb), "%" PRIu64, c->fallback);
		printf("  %-10s %12" PRIu64 " %10.1f %10" PRIu64 " %10" PRIu64
		    " %10s %12" PRIu64 "\n", hk_snapshot_window_name(w),
		    c->requests, (double)c->requests / secs, c->errors,
		    in ? c->duplicates : c->dead, fb, c->bytes);
	}
}

/* hk_ctl_stats_names - per source or destination, since start. */
static void
hk_ctl_stats_names(const struct hk_snapshot *s, int scope)
{
	double secs = s->window_s[HK_SNAP_10S] ? s->window_s[HK_SNAP_10S] : 1;
	char p50[24], p99[24];
	int any = 0;

	for (unsigned i = 0; i < s->ngroups; i++) {
		const struct hk_snap_group *g = hk_snapshot_cgroup(s, i);
		unsigned tot = g->kind == HK_REC_INGEST ? HK_STAGE_TOTAL
		    : HK_STAGE_ATTEMPT;
		const struct hk_snap_stage *st = &g->stage[tot][HK_SNAP_ALL];

		if (g->scope != scope)
			continue;
		if (!any)
			printf("  %-20s %12s %10s %10s %10s %10s\n",
			    scope == HK_SNAP_SOURCE ? "source" : "destination",
			    "requests", "errors", "rate10s/s", "p50 ms",
			    "p99 ms");
		any = 1;
		hk_ctl_ms(p50, sizeof(p50), st->p50_us);
		hk_ctl_ms(p99, sizeof(p99), st->p99_us);
		printf("  %-20s %12" PRIu64 " %10" PRIu64 " %10.1f %10s %10s\n",
		    g->name, g->counts[HK_SNAP_ALL].requests,
		    g->counts[HK_SNAP_ALL].errors,
		    (double)g->counts[HK_SNAP_10S].requests / secs,
		    st->count ? p50 : "-", st->count ? p99 : "-");
	}
}

/* hk_ctl_stats_head - instance, age, Redis: the lines above every view. */
void
hk_ctl_stats_head(const struct hk_snapshot *s, uint64_t now_us)
{
	char up[32], age[32];
	uint64_t a = now_us > s->published_us ? now_us - s->published_us : 0;

	hk_ctl_duration(up, sizeof(up), s->published_us > s->started_us
	    ? s->published_us - s->started_us : 0);
	hk_ctl_duration(age, sizeof(age), a);
	printf("instance %s  stats pid %d  counting for %s  snapshot %s "
	    "old%s\n",
	    s->instance, (int)s->stats_pid, up, age,
	    a > HK_CTL_STATS_STALE_US ? " (STALE: is the stats process "
	    "running?)" : "");
	if (s->redis_up == 1)
		printf("redis up  stream length %" PRId64 "  pending %" PRId64,
		    s->stream_length, s->stream_pending);
	else
		printf("redis %s  stream length ?  pending ?",
		    s->redis_up == 0 ? "DOWN" : "not sampled yet");
	printf("  records read %" PRIu64 "  missed %" PRIu64 "\n", s->records,
	    s->ring_missed);
}

static void
hk_ctl_stats_print(const struct hk_snapshot *s)
{
	const struct hk_snap_group *in, *dl;

	hk_ctl_stats_head(s, hk_clock_real_us());
	in = hk_ctl_snap_find(s, HK_SNAP_TOTAL, HK_REC_INGEST);
	dl = hk_ctl_snap_find(s, HK_SNAP_TOTAL, HK_REC_DELIVERY);
	if (in != NULL) {
		printf("\nINGEST\n");
		hk_ctl_stats_counts(s, in);
		printf("\n");
		hk_ctl_stats_stages(in, HK_SNAP_10S, HK_SNAP_ALL);
		printf("\n");
		hk_ctl_stats_names(s, HK_SNAP_SOURCE);
	}
	if (dl != NULL && dl->counts[HK_SNAP_ALL].requests == 0) {
		printf("\nDELIVERY: no attempts yet\n");
	} else if (dl != NULL) {
		printf("\nDELIVERY\n");
		hk_ctl_stats_counts(s, dl);
		printf("\n");
		hk_ctl_stats_stages(dl, HK_SNAP_10S, HK_SNAP_ALL);
		printf("\n");
		hk_ctl_stats_names(s, HK_SNAP_DEST);
	}
}

/* hk_ctl_stats_line - one vmstat-like line for --follow. */
static void
hk_ctl_stats_line(const struct hk_snapshot *s, const struct hk_snapshot *prev,
    unsigned w, int row)
{
	const struct hk_snap_group *g = hk_ctl_snap_find(s, HK_SNAP_TOTAL,
	    HK_REC_INGEST), *pg = NULL;
	const struct hk_snap_stage *tot, *enq;
	double req, err, dup, dt;
	char when[40], p50[24], p99[24], e99[24], len[24], pend[24];

	if (g == NULL)
		return;
	if (row % HK_CTL_STATS_HEADER_EVERY == 0)
		printf("%-12s %9s %8s %8s %9s %9s %9s %9s %9s\n", "time",
		    "req/s", "err/s", "dup/s", "p50 ms", "p99 ms", "enq p99",
		    "stream", "pending");
	if (prev != NULL)
		pg = hk_ctl_snap_find(prev, HK_SNAP_TOTAL, HK_REC_INGEST);
	dt = prev ? (double)(s->published_us - prev->published_us) / 1e6 : 0;
	if (pg != NULL && dt > 0 && s->started_us == prev->started_us) {
		/* Deltas of the totals: exact for any interval. */
		req = (double)(g->counts[HK_SNAP_ALL].requests
		    - pg->counts[HK_SNAP_ALL].requests) / dt;
		err = (double)(g->counts[HK_SNAP_ALL].errors
		    - pg->counts[HK_SNAP_ALL].errors) / dt;
		dup = (double)(g->counts[HK_SNAP_ALL].duplicates
		    - pg->counts[HK_SNAP_ALL].duplicates) / dt;
	} else {
		dt = s->window_s[w] ? (double)s->window_s[w] : 1.0;
		req = (double)g->counts[w].requests / dt;
		err = (double)g->counts[w].errors / dt;
		dup = (double)g->counts[w].duplicates / dt;
	}
	tot = &g->stage[HK_STAGE_TOTAL][w];
	enq = &g->stage[HK_STAGE_ENQUEUE][w];
	hk_ctl_ms(p50, sizeof(p50), tot->p50_us);
	hk_ctl_ms(p99, sizeof(p99), tot->p99_us);
	hk_ctl_ms(e99, sizeof(e99), enq->p99_us);
	snprintf(len, sizeof(len), "%" PRId64, s->stream_length);
	snprintf(pend, sizeof(pend), "%" PRId64, s->stream_pending);
	hk_clock_iso8601(s->published_us, when, sizeof(when));
	printf("%-12.12s %9.1f %8.1f %8.1f %9s %9s %9s %9s %9s\n", when + 11,
	    req, err, dup, tot->count ? p50 : "-", tot->count ? p99 : "-",
	    enq->count ? e99 : "-", s->stream_length < 0 ? "?" : len,
	    s->stream_pending < 0 ? "?" : pend);
	fflush(stdout);
}

static int
hk_ctl_stats_follow(struct hk_ctl *ctl, double interval, int json)
{
	struct hk_snapshot *s, *prev = NULL;
	uint64_t step = (uint64_t)(interval * 1e6), next;
	unsigned w = interval <= 1.0 ? HK_SNAP_1S : interval <= 10.0
	    ? HK_SNAP_10S : HK_SNAP_60S;
	int row = 0;

	next = hk_clock_mono_ns() / 1000u;
	for (;;) {
		if ((s = hk_ctl_snapshot(ctl)) == NULL) {
			free(prev);
			return HK_CTL_FAIL;
		}
		if (json) {
			/* One object per line, for scripts. */
			hk_snapshot_json(s, hk_clock_real_us(), stdout);
			fflush(stdout);
		} else {
			hk_ctl_stats_line(s, prev, w, row++);
		}
		free(prev);
		prev = s;
		next += step;
		uint64_t now = hk_clock_mono_ns() / 1000u;
		if (next > now)
			hk_ctl_sleep_us(next - now);
		else
			next = now;
	}
}

int
hk_ctl_stats(struct hk_ctl *ctl, int argc, char **argv)
{
	struct hk_snapshot *s;
	double interval = 0;
	int json = 0, follow = 0;
	char *end;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--follow") == 0) {
			follow = 1;
			interval = 1.0;
			if (i + 1 < argc && argv[i + 1][0] != '-') {
				interval = strtod(argv[i + 1], &end);
				if (*end != '\0' || !(interval >= 0.1)
				    || interval > 86400)
					return HK_CTL_USAGE;
				i++;
			}
		} else {
			return HK_CTL_USAGE;
		}
	}
	if (follow)
		return hk_ctl_stats_follow(ctl, interval, json);
	if ((s = hk_ctl_snapshot(ctl)) == NULL)
		return HK_CTL_FAIL;
	if (json)
		hk_snapshot_json(s, hk_clock_real_us(), stdout);
	else
		hk_ctl_stats_print(s);
	free(s);
	return HK_CTL_OK;
}
