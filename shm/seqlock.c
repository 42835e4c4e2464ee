/*
 * seqlock.c - the seqlock guarding the stats snapshot; protocol in seqlock.h.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "core.h"
#include "seqlock.h"

_Static_assert(sizeof(_Atomic uint64_t) == sizeof(uint64_t) &&
    _Alignof(_Atomic uint64_t) == _Alignof(uint64_t),
    "guarded data is copied as atomic words");

#define HK_SEQLOCK_WORD  sizeof(uint64_t)

/*
 * hk_seqlock_copy_in - store guarded data as relaxed atomics.
 *
 * Whole words when both sides are word-aligned, which snapshots made of
 * counters are; bytes otherwise and for the tail.
 */
static void
hk_seqlock_copy_in(void *dst, const void *src, size_t n)
{
	const unsigned char *s = src;
	unsigned char       *d = dst;
	uint64_t             w;
	size_t               i = 0;

	if (((uintptr_t)d % _Alignof(uint64_t)) == 0) {
		for (; i + HK_SEQLOCK_WORD <= n; i += HK_SEQLOCK_WORD) {
			memcpy(&w, s + i, sizeof(w));
			/* Relaxed: ordered by the fences of begin and end. */
			atomic_store_explicit((_Atomic uint64_t *)(void *)(d + i),
			    w, memory_order_relaxed);
		}
	}
	for (; i < n; i++)
		/* Relaxed: as above. */
		atomic_store_explicit((_Atomic unsigned char *)(d + i), s[i],
		    memory_order_relaxed);
}

/* hk_seqlock_copy_out - load guarded data as relaxed atomics. */
static void
hk_seqlock_copy_out(void *dst, const void *src, size_t n)
{
	const unsigned char *s = src;
	unsigned char       *d = dst;
	uint64_t             w;
	size_t               i = 0;

	if (((uintptr_t)s % _Alignof(uint64_t)) == 0) {
		for (; i + HK_SEQLOCK_WORD <= n; i += HK_SEQLOCK_WORD) {
			/* Relaxed: ordered by the acquire load and fence. */
			w = atomic_load_explicit(
			    (const _Atomic uint64_t *)(const void *)(s + i),
			    memory_order_relaxed);
			memcpy(d + i, &w, sizeof(w));
		}
	}
	for (; i < n; i++)
		/* Relaxed: as above. */
		d[i] = atomic_load_explicit((const _Atomic unsigned char *)(s + i),
		    memory_order_relaxed);
}

void
hk_seqlock_write_begin(struct hk_seqlock *sl)
{
	uint64_t s;

	/* Relaxed: there is one writer, reading back its own store. */
	s = atomic_load_explicit(&sl->seq, memory_order_relaxed);
	/*
	 * Relaxed store of an odd value; (s + 1) | 1 stays odd and moves on
	 * even when a dead predecessor left s odd.
	 */
	atomic_store_explicit(&sl->seq, (s + 1) | 1, memory_order_relaxed);
	/*
	 * Release fence: pairs with the acquire fence in hk_seqlock_read.  The
	 * odd sequence is ordered before every data store that follows.
	 */
	atomic_thread_fence(memory_order_release);
}

void
hk_seqlock_write_end(struct hk_seqlock *sl)
{
	uint64_t s;

	/* Relaxed: our own odd value from write_begin. */
	s = atomic_load_explicit(&sl->seq, memory_order_relaxed);
	/*
	 * Release: pairs with the acquire load of seq at the start of
	 * hk_seqlock_read; the data stores are ordered before the even value.
	 */
	atomic_store_explicit(&sl->seq, s + 1, memory_order_release);
}

void
hk_seqlock_write(struct hk_seqlock *sl, void *dst, const void *src, size_t n)
{
	hk_seqlock_write_begin(sl);
	hk_seqlock_copy_in(dst, src, n);
	hk_seqlock_write_end(sl);
}

int
hk_seqlock_read(const struct hk_seqlock *sl, void *dst, const void *src,
    size_t n, int max_tries)
{
	uint64_t s1, s2;
	int      tries;

	for (tries = 0; tries < max_tries; tries++) {
		/* Acquire: pairs with the release store in write_end. */
		s1 = atomic_load_explicit(&sl->seq, memory_order_acquire);
		if (s1 & 1) {
			/*
			 * A write is in progress; on a busy machine the writer
			 * may be waiting for our CPU, so give it up.
			 */
			sched_yield();
			continue;
		}
		hk_seqlock_copy_out(dst, src, n);
		/* Acquire fence: pairs with the release fence in write_begin. */
		atomic_thread_fence(memory_order_acquire);
		/* Relaxed: ordered after the copy by the fence above. */
		s2 = atomic_load_explicit(&sl->seq, memory_order_relaxed);
		if (s1 == s2)
			return HK_OK;
	}
	return HK_AGAIN;
}
