/*
 * ring.h - the single-writer timing ring of a slot (struct hk_ring, layout.h).
 *
 * Each process owns one ring and is its only writer.  The stats process and
 * hookctl read every ring, possibly mapped PROT_READ, and never write to it:
 * no reader position lives in shared memory, so a reader that stalls or dies
 * cannot slow the writer down.  The writer never waits for anyone; a reader
 * that falls more than HK_RING_READABLE records behind loses the oldest
 * ones and is told how many.
 *
 *          head = 4100 (records ever written; the next one is record 4100)
 *                  |
 *    rec[]  [ 4096 | 4097 | 4098 | 4099 | 4  | 5  | ... | 4095 ]
 *             slot 0                      slot 4             slot 4095
 *
 *    record n lives in rec[n & (HK_RING_RECORDS - 1)].  Slot 4 is the
 *    one the writer fills next, so record 4 may already be half gone: the
 *    readable records are head - HK_RING_READABLE .. head - 1.
 *
 * Writer (hk_ring_push), for record n = head:
 *   1. release fence, then overwrite rec[n & mask]: this may destroy record
 *      n - HK_RING_RECORDS, and a reader that sees any byte of the new
 *      contents must also see the head value (n) that declared the slot
 *      reusable; the fence orders the previous head store before the
 *      overwrite, as the "sequence odd" store of a seqlock does.
 *   2. store head = n + 1 with release: publishes record n.
 *
 * Reader (hk_ring_read), from its private position next:
 *   1. h1 = head, acquire (pairs with 2 above): records next .. h1-1 are
 *      complete.  Those below h1 - HK_RING_READABLE are gone, or going.
 *   2. copy them out.
 *   3. acquire fence (pairs with 1 above), then h2 = head again.  The writer
 *      starts overwriting record i only once head has reached
 *      i + HK_RING_RECORDS, so every copied record with
 *      h2 - i >= HK_RING_RECORDS (i < h2 - HK_RING_READABLE) may be torn: it
 *      is discarded and counted in missed, exactly as if it had been
 *      overwritten before the copy.
 *
 * So a reader gets every record, in order, or learns in missed how many it
 * lost; the count is exact (read + missed = written), and a record is lost
 * only if the reader let the writer get HK_RING_READABLE records ahead.
 *
 * The record bytes are stored and loaded as relaxed atomic 64-bit words, so
 * the concurrent copy is not a data race under the C11 model; on x86-64 and
 * arm64 these are the plain moves a memcpy would issue.
 *
 * Nothing may reset a head while the segment lives: a process respawned
 * into a slot continues that slot's ring from the current head (the writer
 * keeps no state of its own), so readers' positions stay meaningful.  The
 * head is 64 bits and cannot wrap in the life of a machine.
 */
#ifndef HK_RING_H
#define HK_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "layout.h"

#define HK_RING_MASK      ((uint64_t)HK_RING_RECORDS - 1)
/* The slot to be written next is never read: one less than the slots. */
#define HK_RING_READABLE  ((uint64_t)HK_RING_RECORDS - 1)
#define HK_RING_WORDS     (sizeof(struct hk_rec) / sizeof(uint64_t))

_Static_assert((HK_RING_RECORDS & (HK_RING_RECORDS - 1)) == 0,
    "HK_RING_RECORDS must be a power of two");
_Static_assert(sizeof(_Atomic uint64_t) == sizeof(uint64_t) &&
    _Alignof(_Atomic uint64_t) == _Alignof(uint64_t),
    "records are copied as atomic words");
_Static_assert(sizeof(struct hk_rec) % sizeof(uint64_t) == 0,
    "a record is a whole number of words");

/* A reader's private position; it lives in the reader's memory, not in shm. */
struct hk_ring_reader {
	uint64_t next;		/* index of the next record to read */
	uint64_t missed;	/* records overwritten before they could be read */
};

/*
 * hk_ring_push - append one record; the owner of the ring only.
 *
 * A few nanoseconds: nine stores, one of them release, no read-modify-write
 * and no wait, whatever the readers do.
 */
static inline void
hk_ring_push(struct hk_ring *r, const struct hk_rec *rec)
{
	_Atomic uint64_t *slot;
	uint64_t          head, w;
	size_t            i;

	/*
	 * Relaxed: this process is the only one that stores head, so it reads
	 * back its own last store.  A respawned writer starts from whatever its
	 * predecessor published.
	 */
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	slot = (_Atomic uint64_t *)(void *)&r->rec[head & HK_RING_MASK];

	/*
	 * Release fence: pairs with the acquire fence in hk_ring_read before it
	 * re-loads head.  Keeps the store of head = this record's index (made
	 * by the previous push) ahead of the overwrite below, so a reader that
	 * copied any overwritten word sees that head and drops its copy.
	 */
	atomic_thread_fence(memory_order_release);

	/* Unrolled: GCC -O2 keeps an 8-round loop, doubling the cost. */
#pragma GCC unroll 8
	for (i = 0; i < HK_RING_WORDS; i++) {
		memcpy(&w, (const char *)rec + i * sizeof(w), sizeof(w));
		/* Relaxed: ordered by the fence above and the store below. */
		atomic_store_explicit(&slot[i], w, memory_order_relaxed);
	}

	/* Release: pairs with the acquire load of head in hk_ring_read. */
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

/*
 * hk_ring_head - records ever written to the ring, for hookctl status.
 */
static inline uint64_t
hk_ring_head(const struct hk_ring *r)
{
	/* Acquire: pairs with the release store of head in hk_ring_push. */
	return atomic_load_explicit(&r->head, memory_order_acquire);
}

/*
 * Start reading.  from_start = 0: only records written from now on (hookctl
 * tail); 1: the oldest readable record, max(0, head - HK_RING_READABLE)
 * (the stats process).
 */
void   hk_ring_reader_init(struct hk_ring_reader *rd, const struct hk_ring *r,
    int from_start);
/*
 * Copy up to max intact records, oldest first, into out and return how many.
 * Records lost to the writer since the last call are added to rd->missed.
 * After a call that returns n, the records copied are indexes
 * rd->next - n .. rd->next - 1.
 */
size_t hk_ring_read(struct hk_ring_reader *rd, const struct hk_ring *r,
    struct hk_rec *out, size_t max);

#endif /* HK_RING_H */
