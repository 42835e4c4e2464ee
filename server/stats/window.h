/*
 * window.h - sliding windows over latency histograms and counters, for the
 * stats process.
 *
 * A window keeps one histogram per second for the last HK_WINDOW_SECONDS
 * seconds, so "the last 1, 10 or 60 seconds" is a merge of that many
 * seconds, always exact to the second, never a decaying average.  Keeping
 * 60 dense histograms (5.9 KiB each) for every stage of every source would
 * cost megabytes per source, so only the second in progress is dense; when
 * it closes, its non-empty buckets are kept as a sparse list, which for one
 * stage in one second is a few dozen (bucket, count) pairs:
 *
 *      cur (dense, the second in progress)     all (dense, since start)
 *        |  closes into
 *        v
 *      past[sec % 60]: { sec, count, sum, min, max, bins[nbins] }
 *
 * A merge over the last n seconds walks past[] for seconds now-n .. now-1
 * and keeps only the entries whose sec matches, so seconds in which nothing
 * happened cost nothing and stale entries need no clearing.  The second in
 * progress is not part of any window: a window is made of complete seconds.
 *
 * Seconds are whatever the caller counts in; the stats process uses the
 * monotonic clock, so wall-clock steps do not shift windows.  Time only
 * moves forward: a value for an earlier second than the current one counts
 * in the current one.
 */
#ifndef HK_WINDOW_H
#define HK_WINDOW_H

#include <stdint.h>

#include "histogram.h"

#define HK_WINDOW_SECONDS 60

struct hk_window_bin {
	uint32_t idx;			/* bucket index */
	uint32_t n;			/* observations in it */
};

struct hk_window_sec {
	uint64_t sec1;			/* the second + 1; 0: never used */
	uint64_t count, sum, min, max;
	uint32_t nbins, cap;
	struct hk_window_bin *bins;
};

struct hk_window {
	struct hk_hist all;		/* since start */
	struct hk_hist cur;		/* the second in progress */
	uint64_t cur_sec;
	struct hk_window_sec past[HK_WINDOW_SECONDS];
};

/* All zero bytes is an empty window; free releases the sparse seconds. */
void hk_window_free(struct hk_window *w);
void hk_window_add(struct hk_window *w, uint64_t sec, uint64_t value_us);
/*
 * Merge the last n complete seconds before now_sec into out (which is
 * reset first); n = 0 means since start.  n is at most HK_WINDOW_SECONDS.
 */
void hk_window_merge(const struct hk_window *w, uint64_t now_sec, unsigned n,
    struct hk_hist *out);

/* Counters over the same seconds: HK_WINDOW_CTR_N values per second. */
#define HK_WINDOW_CTR_N 6

struct hk_window_ctr {
	uint64_t total[HK_WINDOW_CTR_N];
	uint64_t sec1[HK_WINDOW_SECONDS];
	uint64_t v[HK_WINDOW_SECONDS][HK_WINDOW_CTR_N];
};

void hk_window_ctr_add(struct hk_window_ctr *c, uint64_t sec, unsigned i,
    uint64_t n);
/* Sum the last n complete seconds before now_sec; n = 0: since start. */
void hk_window_ctr_sum(const struct hk_window_ctr *c, uint64_t now_sec,
    unsigned n, uint64_t out[HK_WINDOW_CTR_N]);

#endif /* HK_WINDOW_H */
