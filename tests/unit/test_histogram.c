/*
 * test_histogram.c - bucket geometry, percentiles against exact sorted
 * values, merge, and the Prometheus buckets.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "histogram.h"
#include "unit.h"

#define NVALUES 200000

static uint64_t values[NVALUES];
static uint64_t rng_state = 0x1234567887654321ull;

/* rng - xorshift64*: reproducible, no libc state. */
static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* unit_rand - uniform in (0, 1). */
static double
unit_rand(void)
{
	return ((double)(rng() >> 11) + 0.5) / 9007199254740992.0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* exact_percentile - nearest rank on sorted values, as the histogram does. */
static uint64_t
exact_percentile(const uint64_t *v, size_t n, double p)
{
	size_t rank;

	if (p <= 0.0)
		return v[0];
	rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

/* within - got is within the documented relative error of want. */
static int
within(uint64_t got, uint64_t want)
{
	double err = fabs((double)got - (double)want);

	return err <= HK_HIST_REL_ERROR * (double)want;
}

static const double pcts[] = {
	0, 0.1, 1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100
};

/* check_percentiles - fill h from values[0..n) and compare with the truth. */
static void
check_percentiles(struct hk_hist *h, size_t n)
{
	uint64_t sum = 0, got, want;
	size_t   i;

	hk_hist_reset(h);
	for (i = 0; i < n; i++) {
		hk_hist_record(h, values[i]);
		sum += values[i];
	}
	qsort(values, n, sizeof(values[0]), cmp_u64);
	HK_CHECK(hk_hist_count(h) == n);
	HK_CHECK(hk_hist_sum(h) == sum);
	HK_CHECK(hk_hist_min(h) == values[0]);
	HK_CHECK(hk_hist_max(h) == values[n - 1]);
	for (i = 0; i < HK_NELEM(pcts); i++) {
		got = hk_hist_percentile(h, pcts[i]);
		want = exact_percentile(values, n, pcts[i]);
		if (!within(got, want))
			printf("# p%g: got %llu, exact %llu\n", pcts[i],
			    (unsigned long long)got, (unsigned long long)want);
		HK_CHECK(within(got, want));
	}
}

static void
test_hist_geometry(void)
{
	uint64_t v, lo, hi;
	unsigned i, prev = 0;

	HK_CHECK(sizeof(struct hk_hist) < 8192);
	/* Buckets tile 0 .. HK_HIST_MAX_US without gaps or overlaps. */
	HK_CHECK(hk_hist_bucket_lower(0) == 0);
	for (i = 0; i < HK_HIST_BUCKETS; i++) {
		lo = hk_hist_bucket_lower(i);
		hi = hk_hist_bucket_upper(i);
		HK_CHECK(lo <= hi);
		if (i > 0)
			HK_CHECK(lo == hk_hist_bucket_upper(i - 1) + 1);
		HK_CHECK(hk_hist_index(lo) == i && hk_hist_index(hi) == i);
		/* The width is at most 1/32 of the smallest value held. */
		if (lo >= HK_HIST_EXACT)
			HK_CHECK((hi - lo + 1) * HK_HIST_SUB <= lo);
	}
	HK_CHECK(hk_hist_bucket_upper(HK_HIST_BUCKETS - 1) == HK_HIST_MAX_US);
	HK_CHECK(HK_HIST_MAX_US >= UINT64_C(100000000));
	/* Out-of-range values land in the last bucket. */
	HK_CHECK(hk_hist_index(HK_HIST_MAX_US + 1) == HK_HIST_BUCKETS - 1);
	HK_CHECK(hk_hist_index(UINT64_MAX) == HK_HIST_BUCKETS - 1);
	/* Monotonic over a sweep of values. */
	for (v = 0; v < 5000000; v += 1 + v / 1000) {
		i = hk_hist_index(v);
		HK_CHECK(i >= prev);
		HK_CHECK(hk_hist_bucket_lower(i) <= v &&
		    v <= hk_hist_bucket_upper(i));
		prev = i;
	}
}

static void
test_hist_empty_and_small(void)
{
	struct hk_hist h;

	/* All zero bytes is an empty histogram: shm starts that way. */
	memset(&h, 0, sizeof(h));
	HK_CHECK(hk_hist_count(&h) == 0);
	HK_CHECK(hk_hist_percentile(&h, 50) == 0);
	HK_CHECK(hk_hist_min(&h) == 0 && hk_hist_max(&h) == 0);

	hk_hist_record(&h, 42);
	HK_CHECK(hk_hist_min(&h) == 42 && hk_hist_max(&h) == 42);
	HK_CHECK(hk_hist_percentile(&h, 0) == 42);
	HK_CHECK(hk_hist_percentile(&h, 50) == 42);
	HK_CHECK(hk_hist_percentile(&h, 100) == 42);

	/* Exact below 64 us. */
	hk_hist_reset(&h);
	hk_hist_record(&h, 1);
	hk_hist_record(&h, 2);
	hk_hist_record(&h, 3);
	hk_hist_record(&h, 63);
	HK_CHECK(hk_hist_percentile(&h, 50) == 2);
	HK_CHECK(hk_hist_percentile(&h, 75) == 3);
	HK_CHECK(hk_hist_percentile(&h, 76) == 63);
	HK_CHECK(hk_hist_sum(&h) == 69);

	/* A value beyond the range keeps its true max. */
	hk_hist_record(&h, 500ull * 1000000);
	HK_CHECK(hk_hist_max(&h) == 500ull * 1000000);
	HK_CHECK(hk_hist_percentile(&h, 100) == 500ull * 1000000);
}

static void
test_hist_uniform(void)
{
	static struct hk_hist h;
	size_t i;

	for (i = 0; i < NVALUES; i++)
		values[i] = 1 + rng() % 100000000;	/* 1 us .. 100 s */
	check_percentiles(&h, NVALUES);
}

static void
test_hist_skewed(void)
{
	static struct hk_hist h;
	size_t i;
	double x;

	/*
	 * Log-normal around 300 us with a heavy tail, plus a cluster of slow
	 * outliers: what request latencies look like.
	 */
	for (i = 0; i < NVALUES; i++) {
		x = sqrt(-2.0 * log(unit_rand())) * cos(6.283185307 * unit_rand());
		values[i] = (uint64_t)(300.0 * exp(1.2 * x));
		if (i % 997 == 0)
			values[i] = 2000000 + rng() % 3000000;
	}
	check_percentiles(&h, NVALUES);

	/* Small integers, where buckets are exact. */
	for (i = 0; i < NVALUES; i++)
		values[i] = rng() % 70;
	check_percentiles(&h, NVALUES);
}

static void
test_hist_merge(void)
{
	static struct hk_hist a, b, all, m;
	uint64_t v;
	size_t   i;

	hk_hist_reset(&a);
	hk_hist_reset(&b);
	hk_hist_reset(&all);
	/* Merging into an empty histogram takes src's min. */
	for (i = 0; i < 50000; i++) {
		v = 50 + rng() % 1000000;
		hk_hist_record(i % 3 ? &a : &b, v);
		hk_hist_record(&all, v);
	}
	hk_hist_record(&b, 7);
	hk_hist_record(&all, 7);

	memset(&m, 0, sizeof(m));
	hk_hist_merge(&m, &a);
	hk_hist_merge(&m, &b);
	HK_CHECK(memcmp(&m, &all, sizeof(m)) == 0);
	HK_CHECK(hk_hist_min(&m) == 7);

	/* Merging an empty one changes nothing. */
	hk_hist_reset(&b);
	hk_hist_merge(&m, &b);
	HK_CHECK(memcmp(&m, &all, sizeof(m)) == 0);
}

static void
test_hist_prom(void)
{
	static struct hk_hist h;
	uint64_t cum[HK_HIST_PROM_BOUNDS], bound;
	size_t   i, n;
	unsigned j;

	hk_hist_reset(&h);
	for (i = 0; i < NVALUES; i++) {
		values[i] = (uint64_t)exp(unit_rand() * log(3e8));
		hk_hist_record(&h, values[i]);
	}
	hk_hist_prom(&h, cum);

	HK_CHECK(hk_hist_prom_le_us(0) == 100);
	HK_CHECK_STR(hk_hist_prom_le(0), "0.0001");
	HK_CHECK(hk_hist_prom_le_us(HK_HIST_PROM_BOUNDS - 2) == 100000000);
	HK_CHECK(hk_hist_prom_le_us(HK_HIST_PROM_BOUNDS - 1) == UINT64_MAX);
	HK_CHECK_STR(hk_hist_prom_le(HK_HIST_PROM_BOUNDS - 1), "+Inf");
	HK_CHECK(cum[HK_HIST_PROM_BOUNDS - 1] == hk_hist_count(&h));

	for (j = 0; j < HK_HIST_PROM_BOUNDS; j++) {
		if (j > 0) {
			HK_CHECK(cum[j] >= cum[j - 1]);
			HK_CHECK(hk_hist_prom_le_us(j) >
			    hk_hist_prom_le_us(j - 1));
		}
		if (j == HK_HIST_PROM_BOUNDS - 1)
			break;
		/*
		 * le never over-counts, and under-counts only values within
		 * a bucket's width (1/32) below the bound.
		 */
		bound = hk_hist_prom_le_us(j);
		n = 0;
		for (i = 0; i < NVALUES; i++)
			if (values[i] <= bound)
				n++;
		HK_CHECK(cum[j] <= n);
		n = 0;
		for (i = 0; i < NVALUES; i++)
			if (values[i] <= bound - bound / HK_HIST_SUB)
				n++;
		HK_CHECK(cum[j] >= n);
	}
}

int
main(void)
{
	HK_RUN(test_hist_geometry);
	HK_RUN(test_hist_empty_and_small);
	HK_RUN(test_hist_uniform);
	HK_RUN(test_hist_skewed);
	HK_RUN(test_hist_merge);
	HK_RUN(test_hist_prom);
	return hk_unit_done();
}
