/*
 * histogram.c - log-linear latency histogram; the bucket scheme is drawn in
 * histogram.h.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "histogram.h"

_Static_assert(sizeof(struct hk_hist) < 6 * 1024, "keep histograms small");

static const struct {
	uint64_t    us;
	const char *le;
} hk_hist_prom_bounds[HK_HIST_PROM_BOUNDS] = {
	{ 100, "0.0001" },	{ 250, "0.00025" },	{ 500, "0.0005" },
	{ 1000, "0.001" },	{ 2500, "0.0025" },	{ 5000, "0.005" },
	{ 10000, "0.01" },	{ 25000, "0.025" },	{ 50000, "0.05" },
	{ 100000, "0.1" },	{ 250000, "0.25" },	{ 500000, "0.5" },
	{ 1000000, "1" },	{ 2500000, "2.5" },	{ 5000000, "5" },
	{ 10000000, "10" },	{ 30000000, "30" },	{ 60000000, "60" },
	{ 100000000, "100" },	{ UINT64_MAX, "+Inf" },
};

/* hk_hist_log2 - position of the highest set bit of v (v > 0). */
static inline unsigned
hk_hist_log2(uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
	return 63u - (unsigned)__builtin_clzll(v);
#else
	unsigned k = 0;

	while (v >>= 1)
		k++;
	return k;
#endif
}

unsigned
hk_hist_index(uint64_t v)
{
	unsigned k;

	if (v < HK_HIST_EXACT)
		return (unsigned)v;
	k = hk_hist_log2(v);
	if (k > HK_HIST_TOP_BIT)
		return HK_HIST_BUCKETS - 1;
	/* v >> (k - 5) is in [32, 64): the sub-bucket within power k. */
	return HK_HIST_EXACT + (k - HK_HIST_SUB_BITS - 1) * HK_HIST_SUB +
	    (unsigned)(v >> (k - HK_HIST_SUB_BITS)) - HK_HIST_SUB;
}

uint64_t
hk_hist_bucket_lower(unsigned i)
{
	unsigned major, sub;

	if (i < HK_HIST_EXACT)
		return i;
	if (i >= HK_HIST_BUCKETS)
		i = HK_HIST_BUCKETS - 1;
	major = (i - HK_HIST_EXACT) / HK_HIST_SUB;	/* 0 for [64, 128) */
	sub = (i - HK_HIST_EXACT) % HK_HIST_SUB;
	return (uint64_t)(HK_HIST_SUB + sub) << (major + 1);
}

uint64_t
hk_hist_bucket_upper(unsigned i)
{
	unsigned major;

	if (i < HK_HIST_EXACT)
		return i;
	if (i >= HK_HIST_BUCKETS)
		i = HK_HIST_BUCKETS - 1;
	major = (i - HK_HIST_EXACT) / HK_HIST_SUB;
	return hk_hist_bucket_lower(i) + (UINT64_C(1) << (major + 1)) - 1;
}

void
hk_hist_reset(struct hk_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void
hk_hist_record(struct hk_hist *h, uint64_t v)
{
	h->bucket[hk_hist_index(v)]++;
	/* min is only meaningful once count > 0, so zeroed memory is empty. */
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
}

void
hk_hist_merge(struct hk_hist *dst, const struct hk_hist *src)
{
	unsigned i;

	if (src->count == 0)
		return;
	for (i = 0; i < HK_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
}

uint64_t
hk_hist_percentile(const struct hk_hist *h, double p)
{
	uint64_t rank, seen, v;
	unsigned i;

	if (h->count == 0)
		return 0;
	if (!(p > 0.0))			/* also catches NaN */
		return h->min;
	if (p >= 100.0)
		return h->max;

	/* Nearest rank: the smallest value with at least p% at or below it. */
	rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;

	seen = 0;
	for (i = 0; i < HK_HIST_BUCKETS - 1; i++) {
		seen += h->bucket[i];
		if (seen >= rank)
			break;
	}
	v = hk_hist_bucket_lower(i) +
	    (hk_hist_bucket_upper(i) - hk_hist_bucket_lower(i)) / 2;
	/* The exact value lies in [min, max]; clamping only brings us closer. */
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

uint64_t
hk_hist_prom_le_us(unsigned j)
{
	if (j >= HK_HIST_PROM_BOUNDS)
		return UINT64_MAX;
	return hk_hist_prom_bounds[j].us;
}

const char *
hk_hist_prom_le(unsigned j)
{
	if (j >= HK_HIST_PROM_BOUNDS)
		return "+Inf";
	return hk_hist_prom_bounds[j].le;
}

void
hk_hist_prom(const struct hk_hist *h, uint64_t cum[HK_HIST_PROM_BOUNDS])
{
	uint64_t total;
	unsigned i, j;

	memset(cum, 0, HK_HIST_PROM_BOUNDS * sizeof(cum[0]));
	/* Both sequences ascend, so one pass assigns every fine bucket. */
	j = 0;
	for (i = 0; i < HK_HIST_BUCKETS; i++) {
		while (hk_hist_bucket_upper(i) > hk_hist_prom_bounds[j].us)
			j++;		/* stops at +Inf at the latest */
		cum[j] += h->bucket[i];
	}
	total = 0;
	for (j = 0; j < HK_HIST_PROM_BOUNDS; j++) {
		total += cum[j];
		cum[j] = total;
	}
}
