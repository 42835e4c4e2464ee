/*
 * ingtypes.h - the event types an ingest worker has seen, numbered for its
 * timing records (hookd_events_received_by_type_total).
 *
 * A record has no room for a type's name, so the worker numbers the names
 * it sees: the first time it sees a name of a source it pushes one
 * HK_REC_EVTYPE record into its ring with the number and the name, and
 * from then on its ingest records of that source carry only the number (in
 * hk_rec.dest).  The stats process reads the ring in order, so it always
 * learns a number before the first record that uses it.  A source's names
 * beyond metrics.max_event_types, and names too long for a record, are
 * HK_INGTYPES_OTHER, so the label's cardinality stays bounded whatever
 * providers send.
 */
#ifndef HK_INGTYPES_H
#define HK_INGTYPES_H

#include <stdint.h>

#include "config.h"
#include "layout.h"

#define HK_INGTYPES_NONE   0		/* the event has no type */
#define HK_INGTYPES_OTHER  UINT16_MAX
/* Room for a name in an HK_REC_EVTYPE record, NUL included. */
#define HK_INGTYPES_NAME   (sizeof(struct hk_rec) \
	- offsetof(struct hk_rec, stage_us))

int	 hk_ingtypes_init(const struct hk_conf *conf, struct hk_ring *ring);
void	 hk_ingtypes_free(void);
/* The number of type name of source src (an index into conf->sources). */
uint16_t hk_ingtypes_number(int src, const char *name);

#endif
