/*
 * redolog.h - the events this ingest worker stored in Redis during the last
 * few seconds, kept to be put back if Redis comes back without its data.
 *
 * A 2xx means the event is in Redis.  It stays only there until the
 * delivery pool has written it to PostgreSQL, normally within a few
 * milliseconds.  Were Redis restarted empty in that window (a replica
 * promoted before it had the entry, a Redis without persistence, data
 * deleted), the event would be gone.  enqueue.c notices such a restart
 * (the epoch key it set has changed) and submits every event kept here
 * again, with the same id: the delivery pool writes each event and
 * delivery once (ON CONFLICT), so one it had already recorded costs a
 * lookup, and at-least-once holds.
 *
 * Events are kept for HK_REDOLOG_KEEP_MS or until HK_REDOLOG_MAX_BYTES,
 * whichever ends first; what falls out is only in Redis (and, once the
 * delivery pool has it, in PostgreSQL).
 */
#ifndef HK_REDOLOG_H
#define HK_REDOLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "enqueue.h"

#define HK_REDOLOG_KEEP_MS     5000
#define HK_REDOLOG_MAX_BYTES   (4u << 20)

/* One kept event; ev's strings point into data. */
struct hk_redolog_entry {
	TAILQ_ENTRY(hk_redolog_entry) link;
	uint64_t  kept_ns;
	size_t    size;
	struct hk_enqueue_event ev;
	char      data[];
};

/* Keep a copy of ev, stored in Redis now; older ones may fall out. */
void hk_redolog_add(const struct hk_enqueue_event *ev, uint64_t now_ns);
/* The oldest kept entry, taken out of the log (free it), or NULL. */
struct hk_redolog_entry *hk_redolog_take(void);
void hk_redolog_free(struct hk_redolog_entry *e);
/* Entries kept now. */
int  hk_redolog_count(void);
void hk_redolog_clear(void);

#endif /* HK_REDOLOG_H */
