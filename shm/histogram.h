/*
 * histogram.h - log-linear latency histogram in microseconds.
 *
 * Values 0 .. 63 us get a bucket each.  Above that every power of two
 * [2^k, 2^(k+1)) is cut into HK_HIST_SUB equal buckets of width 2^(k-5), so
 * a bucket is never wider than 1/32 of the values it holds:
 *
 *   value (us)   0 1 2 ... 63 | 64 66 ... 126 | 128 132 ... 252 | ... | 2^26 ...
 *   width        1 1 1 ...  1 |  2  2 ...   2 |   4   4 ...   4 | ... | 2^21
 *   buckets      64 exact     | 32            | 32              | ... | 32
 *
 * 64 + 21 * 32 = 736 buckets cover 0 .. 2^27 - 1 us (134 s); larger values
 * are counted in the last bucket (max still holds the true value).  A
 * percentile is reported as the middle of its bucket, clamped to [min, max],
 * so it is within HK_HIST_REL_ERROR (1/64, about 1.6%) of the exact
 * nearest-rank value.
 *
 * The struct is plain data with no pointers: it can sit in shared memory or
 * the stats snapshot and be copied with memcpy.  All zero bytes is a valid
 * empty histogram.  It is not thread-safe: one process updates a histogram,
 * others see copies (through the snapshot seqlock).
 */
#ifndef HK_HISTOGRAM_H
#define HK_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define HK_HIST_SUB_BITS   5
#define HK_HIST_SUB        (1u << HK_HIST_SUB_BITS)	/* 32 */
#define HK_HIST_EXACT      (2u * HK_HIST_SUB)		/* 0 .. 63 exact */
#define HK_HIST_TOP_BIT    26				/* highest power: 2^26 */
#define HK_HIST_BUCKETS    \
	(HK_HIST_EXACT + (HK_HIST_TOP_BIT - HK_HIST_SUB_BITS) * HK_HIST_SUB)
#define HK_HIST_MAX_US     ((UINT64_C(1) << (HK_HIST_TOP_BIT + 1)) - 1)
#define HK_HIST_REL_ERROR  (1.0 / (2 * HK_HIST_SUB))

struct hk_hist {
	uint64_t count;
	uint64_t sum;			/* microseconds */
	uint64_t min;			/* meaningful when count > 0 */
	uint64_t max;
	uint64_t bucket[HK_HIST_BUCKETS];
};

/* The fixed Prometheus buckets: 100us .. 100s, then +Inf. */
#define HK_HIST_PROM_BOUNDS 20

void     hk_hist_reset(struct hk_hist *h);
void     hk_hist_record(struct hk_hist *h, uint64_t value_us);
/* Add src's observations to dst. */
void     hk_hist_merge(struct hk_hist *dst, const struct hk_hist *src);
/* Nearest-rank percentile, p in [0, 100]; 0 for an empty histogram. */
uint64_t hk_hist_percentile(const struct hk_hist *h, double p);

/* The fine buckets: bucket i holds the values lower(i) .. upper(i). */
unsigned hk_hist_index(uint64_t value_us);
uint64_t hk_hist_bucket_lower(unsigned i);
uint64_t hk_hist_bucket_upper(unsigned i);

/*
 * Prometheus export.  Bound j is hk_hist_prom_le_us(j) microseconds
 * (UINT64_MAX for +Inf), written as hk_hist_prom_le(j) in seconds ("0.0001",
 * ..., "+Inf").  hk_hist_prom fills cum[j] with the observations <= bound j;
 * cum[HK_HIST_PROM_BOUNDS - 1] is the count.  A fine bucket is counted under
 * the first bound at or above its upper value, so a value within 1/32 below
 * a bound may land in the next one: le never over-counts.
 */
uint64_t    hk_hist_prom_le_us(unsigned j);
const char *hk_hist_prom_le(unsigned j);
void        hk_hist_prom(const struct hk_hist *h,
    uint64_t cum[HK_HIST_PROM_BOUNDS]);

static inline uint64_t
hk_hist_count(const struct hk_hist *h)
{
	return h->count;
}

static inline uint64_t
hk_hist_sum(const struct hk_hist *h)
{
	return h->sum;
}

static inline uint64_t
hk_hist_min(const struct hk_hist *h)
{
	return h->count ? h->min : 0;
}

static inline uint64_t
hk_hist_max(const struct hk_hist *h)
{
	return h->max;
}

#endif /* HK_HISTOGRAM_H */
