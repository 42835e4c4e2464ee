/*
 * enqscript.h - the Lua script behind every enqueue: the ingest worker
 * calls it (EVALSHA) for each accepted event, and the delivery pool's inbox
 * mover calls it (EVAL) for each row it moves from the PostgreSQL inbox
 * into the stream, so both write the same entry and the same dedup key.
 *
 * KEYS: the dedup key <prefix>dedup:<source>:<key> when the event has one,
 * then the stream <prefix>events.  ARGV: id, source, received_at,
 * content_type, headers, body, dedup_window_s, then optionally the
 * idempotency key ("" for none) and the event type.  Returns {0, id} when added, {1, first id} when the key was
 * already there (nothing added).
 */
#ifndef HK_ENQSCRIPT_H
#define HK_ENQSCRIPT_H

#include <stddef.h>

extern const char   hk_enqscript[];
extern const size_t hk_enqscript_len;	/* without the NUL */

#endif /* HK_ENQSCRIPT_H */
