/*
 * ratelimit.c - GCRA over the shared buckets; the algorithm and who claims
 * buckets are described in ratelimit.h.
 */
#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "core.h"
#include "ratelimit.h"

/* A ceiling for intervals and tolerances: 2^60 ns is 36 years. */
#define HK_RATELIMIT_CAP  (UINT64_C(1) << 60)

int
hk_ratelimit_take(struct hk_shm_bucket *b, double rate_per_s, int burst,
    uint64_t now_ns, uint64_t *retry_after_ns)
{
	uint64_t interval, tolerance, old, tat, b_tokens;
	double   t;

	if (!(rate_per_s > 0.0))
		return HK_OK;
	/* Saturate absurd settings so that no sum below can overflow. */
	t = nearbyint(1e9 / rate_per_s);
	interval = t < 1.0 ? 1 : t > HK_RATELIMIT_CAP ? HK_RATELIMIT_CAP :
	    (uint64_t)t;
	b_tokens = burst < 1 ? 1 : (uint64_t)burst;
	tolerance = b_tokens > HK_RATELIMIT_CAP / interval ? HK_RATELIMIT_CAP :
	    b_tokens * interval;

	/*
	 * Relaxed, here and in the compare-and-swap: tat is the only thing
	 * shared and nothing else is published through it.  The load pairs
	 * with the compare-and-swap below in other workers.  tat only grows,
	 * so a stale value can only look more generous than the truth, and
	 * then the compare-and-swap fails and hands us the current one.
	 */
	old = atomic_load_explicit(&b->tat_ns, memory_order_relaxed);
	for (;;) {
		tat = old > now_ns ? old : now_ns;
		if (tat + interval - now_ns > tolerance) {
			if (retry_after_ns != NULL)
				*retry_after_ns = tat + interval - now_ns -
				    tolerance;
			return HK_AGAIN;
		}
		/*
		 * Pairs with the same compare-and-swap in every other worker:
		 * all changes of tat form one order, so no two takes can both
		 * spend the same slot of time.
		 */
		if (atomic_compare_exchange_weak_explicit(&b->tat_ns, &old,
		    tat + interval, memory_order_relaxed, memory_order_relaxed))
			return HK_OK;
	}
}

/*
 * hk_ratelimit_published - first byte of a bucket's name, "" while free.
 *
 * The claim publishes a name by storing its first byte last, so a bucket
 * whose first byte is set has its whole name in place.
 */
static inline char
hk_ratelimit_published(const struct hk_shm_bucket *b)
{
	/* Acquire: pairs with the release store in hk_ratelimit_claim. */
	return atomic_load_explicit((const _Atomic char *)&b->name[0],
	    memory_order_acquire);
}

struct hk_shm_bucket *
hk_ratelimit_bucket(struct hk_shm_bucket *table, unsigned n,
    const char *name)
{
	unsigned i;

	if (name[0] == '\0')
		return NULL;
	for (i = 0; i < n; i++) {
		if (hk_ratelimit_published(&table[i]) != name[0])
			continue;
		/* The rest was written before name[0] and never changes. */
		if (strncmp(table[i].name + 1, name + 1,
		    sizeof(table[i].name) - 1) == 0)
			return &table[i];
	}
	return NULL;
}

struct hk_shm_bucket *
hk_ratelimit_claim(struct hk_shm_bucket *table, unsigned n, const char *name)
{
	struct hk_shm_bucket *b;
	size_t                len;
	unsigned              i;

	len = strlen(name);
	if (len == 0 || len >= sizeof(b->name))
		return NULL;
	if ((b = hk_ratelimit_bucket(table, n, name)) != NULL)
		return b;

	for (i = 0; i < n; i++) {
		b = &table[i];
		if (hk_ratelimit_published(b) != '\0')
			continue;
		/*
		 * Claiming the first byte with a compare-and-swap would not be
		 * enough: a worker could match the name while its tail is still
		 * being written.  Old-generation workers may be scanning during
		 * a reload, so the tail goes in first and the first byte, which
		 * makes the bucket visible, last.
		 */
		/* Relaxed: published by the release store below. */
		atomic_store_explicit(&b->tat_ns, 0, memory_order_relaxed);
		memset(b->name + 1, 0, sizeof(b->name) - 1);
		memcpy(b->name + 1, name + 1, len - 1);
		/* Release: pairs with the acquire in hk_ratelimit_published. */
		atomic_store_explicit((_Atomic char *)&b->name[0], name[0],
		    memory_order_release);
		return b;
	}
	return NULL;
}
