/*
 * ring.c - the reading side of the timing rings; the protocol is in ring.h.
 */
#include <stdatomic.h>
#include <string.h>

#include "ring.h"

/*
 * hk_ring_copy - copy one record that the writer may be overwriting.
 *
 * Word by word with relaxed atomic loads, matching the writer's stores; the
 * words go out through memcpy so the caller may read the record's fields
 * without breaking the aliasing rules.
 */
static inline void
hk_ring_copy(struct hk_rec *dst, const struct hk_rec *src)
{
	const _Atomic uint64_t *w = (const _Atomic uint64_t *)(const void *)src;
	uint64_t v;
	size_t   i;

	for (i = 0; i < HK_RING_WORDS; i++) {
		/* Relaxed: ordered by the acquire load and fence around it. */
		v = atomic_load_explicit(&w[i], memory_order_relaxed);
		memcpy((char *)dst + i * sizeof(v), &v, sizeof(v));
	}
}

void
hk_ring_reader_init(struct hk_ring_reader *rd, const struct hk_ring *r,
    int from_start)
{
	uint64_t head = hk_ring_head(r);

	rd->missed = 0;
	if (!from_start)
		rd->next = head;
	else if (head > HK_RING_READABLE)
		rd->next = head - HK_RING_READABLE;
	else
		rd->next = 0;
}

size_t
hk_ring_read(struct hk_ring_reader *rd, const struct hk_ring *r,
    struct hk_rec *out, size_t max)
{
	uint64_t h1, h2, n, i, torn;

	/* Acquire: pairs with the release store of head in hk_ring_push. */
	h1 = atomic_load_explicit(&r->head, memory_order_acquire);

	/*
	 * The head only goes backwards when the segment was recreated under a
	 * reader that kept its mapping; nothing it remembers is valid, so it
	 * starts again from the present.
	 */
	if (h1 < rd->next) {
		rd->next = h1;
		return 0;
	}

	/* Overwritten, or next to be, before we even looked. */
	if (h1 - rd->next > HK_RING_READABLE) {
		rd->missed += h1 - HK_RING_READABLE - rd->next;
		rd->next = h1 - HK_RING_READABLE;
	}

	n = h1 - rd->next;
	if (n > max)
		n = max;
	if (n == 0)
		return 0;

	for (i = 0; i < n; i++)
		hk_ring_copy(&out[i], &r->rec[(rd->next + i) & HK_RING_MASK]);

	/*
	 * Acquire fence: pairs with the release fence in hk_ring_push before it
	 * overwrites a slot.  If any word copied above came from an overwrite,
	 * the head that permitted the overwrite is visible to the load below.
	 */
	atomic_thread_fence(memory_order_acquire);
	/* Relaxed: the fence above supplies the ordering. */
	h2 = atomic_load_explicit(&r->head, memory_order_relaxed);

	/*
	 * Record i may have been overwritten during the copy once head reached
	 * i + HK_RING_RECORDS, that is when i < h2 - HK_RING_READABLE.  The
	 * suspects are the oldest ones copied, so the survivors are a
	 * contiguous tail of out.
	 */
	torn = 0;
	if (h2 - rd->next > HK_RING_READABLE)
		torn = h2 - HK_RING_READABLE - rd->next;
	if (torn > n)
		torn = n;

	rd->next += n;
	rd->missed += torn;
	if (torn > 0 && torn < n)
		memmove(out, out + torn, (size_t)(n - torn) * sizeof(*out));
	return (size_t)(n - torn);
}
