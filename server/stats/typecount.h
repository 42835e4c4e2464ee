/*
 * typecount.h - routing counters of the stats process: events received by
 * source and event type, and events no destination wanted (filtered).
 *
 * Fed from the rings (hk_typecount_add for every record read): the
 * HK_REC_EVTYPE records of each ingest worker say which name a number
 * stands for in that worker's slot (worker/ingest/ingtypes.h), its ingest
 * records carry the number, and the delivery workers' HK_REC_FILTERED
 * records name the source.  Per source at most metrics.max_event_types
 * names are kept, across all workers; the rest count as "other".  Counts
 * live in the stats process and start at zero with it, as every counter of
 * /metrics does.
 */
#ifndef HK_TYPECOUNT_H
#define HK_TYPECOUNT_H

#include <stdint.h>

#include "config.h"
#include "layout.h"

struct hk_typecount_type {
	uint16_t source;
	char     name[48];
	uint64_t count;
};

struct hk_typecount {
	unsigned  nsources;
	int       max;			/* names per source */
	uint64_t *filtered;		/* per source */
	uint64_t *other;		/* per source */
	int      *ntypes;		/* per source */
	struct hk_typecount_type *types;
	unsigned  ntotal, cap;
	/* Per slot: a worker's number -> index + 1 into types; 0 unknown. */
	uint32_t *map[HK_SHM_SLOTS];
	unsigned  mapcap[HK_SHM_SLOTS];
};

#define HK_TYPECOUNT_OTHER UINT32_MAX

int  hk_typecount_init(struct hk_typecount *t, const struct hk_conf *conf);
void hk_typecount_free(struct hk_typecount *t);
void hk_typecount_reset(struct hk_typecount *t);
/* One record read from the ring of slot. */
void hk_typecount_add(struct hk_typecount *t, unsigned slot,
    const struct hk_rec *r);

#endif
