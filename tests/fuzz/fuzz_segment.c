/*
 * fuzz_segment.c - the shared-memory header validator.
 *
 * The input becomes a struct hk_shm_header (zero-padded or cut to its
 * size); 8 more bytes, when there are, become the mapped size, otherwise
 * the size a segment of this build has.  Whatever hk_segment_validate()
 * accepts, a reader will follow: every size and offset in it must then be
 * the one hk_segment_create() writes, worked out here again from layout.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "layout.h"
#include "segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SLOTS_OFF		sizeof(struct hk_shm_header)
#define FUZZ_SNAPSHOT_OFF	(FUZZ_SLOTS_OFF \
	    + (uint64_t)HK_SHM_SLOTS * sizeof(struct hk_shm_slot))
#define FUZZ_BUCKETS_OFF	(FUZZ_SNAPSHOT_OFF + HK_SHM_SNAPSHOT_MAX)
#define FUZZ_TOTAL		(FUZZ_BUCKETS_OFF \
	    + (uint64_t)HK_SHM_BUCKETS * sizeof(struct hk_shm_bucket))

static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_segment: accepted a header whose %s differs "
	    "from this build's layout\n", what);
	abort();
}

static void
fuzz_check(const struct hk_shm_header *h, size_t size)
{
	char why[128];

	memset(why, 0, sizeof(why));
	if (hk_segment_validate(h, size, why, sizeof(why)) != HK_OK) {
		if (why[0] == '\0' || memchr(why, '\0', sizeof(why)) == NULL) {
			fprintf(stderr, "fuzz_segment: a refusal without a "
			    "reason\n");
			abort();
		}
		/* A short buffer is cut, never overrun. */
		hk_segment_validate(h, size, why, 8);
		hk_segment_validate(h, size, why, 1);
		return;
	}
	if (h->magic != HK_SHM_MAGIC)
		fuzz_fail("magic");
	if (h->version != HK_SHM_VERSION)
		fuzz_fail("version");
	if (h->header_size != sizeof(*h))
		fuzz_fail("header_size");
	if (h->total_size != FUZZ_TOTAL || size != FUZZ_TOTAL)
		fuzz_fail("total_size");
	if (h->nslots != HK_SHM_SLOTS)
		fuzz_fail("nslots");
	if (h->slot_size != sizeof(struct hk_shm_slot))
		fuzz_fail("slot_size");
	if (h->ring_records != HK_RING_RECORDS)
		fuzz_fail("ring_records");
	if (h->slots_off != FUZZ_SLOTS_OFF)
		fuzz_fail("slots_off");
	if (h->snapshot_off != FUZZ_SNAPSHOT_OFF
	    || h->snapshot_size != HK_SHM_SNAPSHOT_MAX)
		fuzz_fail("snapshot_off");
	if (h->buckets_off != FUZZ_BUCKETS_OFF
	    || h->nbuckets != HK_SHM_BUCKETS)
		fuzz_fail("buckets_off");
	/* Every region a reader follows lies inside the mapping. */
	if (h->slots_off + (uint64_t)h->nslots * h->slot_size > h->snapshot_off
	    || h->snapshot_off + h->snapshot_size > h->buckets_off
	    || h->buckets_off + (uint64_t)h->nbuckets
	    * sizeof(struct hk_shm_bucket) > size)
		fuzz_fail("region bounds");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hk_shm_header *h;
	uint64_t mapped = FUZZ_TOTAL;

	/* On the heap at its exact size, so a read past it is reported. */
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return 0;
	memcpy(h, data, HK_MIN(size, sizeof(*h)));
	if (size >= sizeof(*h) + sizeof(mapped))
		memcpy(&mapped, data + sizeof(*h), sizeof(mapped));
	fuzz_check(h, (size_t)mapped);
	free(h);
	return 0;
}
