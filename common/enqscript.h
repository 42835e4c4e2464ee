/*
 * enqscript.h - the Lua script behind every enqueue: the ingest worker
 * calls it (EVALSHA) once per turn of its event loop with every event
 * accepted in that turn, and the delivery pool's inbox mover calls it
 * (EVAL) for the rows it moves from the PostgreSQL inbox into the stream,
 * so both write the same entry and the same dedup key.
 *
 * KEYS: the stream <prefix>events, then <prefix>dedup:<source>:<key> for
 * each event with a dedup key, in the events' order.  ARGV: the
 * HK_ENQSCRIPT_FIELDS of each event: id, source, received_at,
 * content_type, headers, body, dedup window in seconds ("" when the event
 * has no dedup key), idempotency key ("": none), event type ("": none).
 * Returns an array with one element per event: the integer 0 when added,
 * the first event's id when the key was already there (nothing added).
 */
#ifndef HK_ENQSCRIPT_H
#define HK_ENQSCRIPT_H

#include <stddef.h>

#define HK_ENQSCRIPT_FIELDS  9	/* ARGV values per event */

extern const char   hk_enqscript[];
extern const size_t hk_enqscript_len;	/* without the NUL */

#endif /* HK_ENQSCRIPT_H */
