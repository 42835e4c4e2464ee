/*
 * ratelimit.h - instance-wide rate limits in the shared segment (GCRA).
 *
 * A source's limit holds for the whole instance, not per worker, so its state
 * lives in a struct hk_shm_bucket (layout.h) that every ingest worker updates.
 * The generic cell rate algorithm needs one number per limit, the
 * theoretical arrival time (TAT): the instant at which the bucket would be
 * empty again if nothing else arrived.  With T = 1 / rate and a burst of B:
 *
 *      now             tat            tat + T
 *   ----|---------------|---------------|--------> time
 *       |<-------- tat + T - now ------>|
 *
 *   allow when tat + T - now <= B * T, and then tat = max(tat, now) + T;
 *   otherwise retry after (tat + T - now) - B * T.
 *
 * One compare-and-swap on tat takes a token, so workers never lock and a
 * worker that dies mid-request leaves nothing held.  An idle bucket keeps a
 * tat in the past, which counts as a full burst.
 *
 * Who claims buckets: only the master, single-threaded, when it loads the
 * configuration at startup and on reload, before it forks the children that
 * will use them.  Workers only look buckets up (once per source, when they
 * start), so two processes never race to claim one.  Buckets are never given
 * back while the segment lives: a source removed by a reload keeps its
 * bucket, and gets its state back if it returns; 256 is plenty.
 */
#ifndef HK_RATELIMIT_H
#define HK_RATELIMIT_H

#include <stdint.h>

#include "layout.h"

/*
 * Take one token.  rate_per_s <= 0 means no limit.  HK_OK, or HK_AGAIN with
 * *retry_after_ns set to the wait until a token is due (retry_after_ns may be
 * NULL).  now_ns is CLOCK_MONOTONIC, which all processes share.
 */
int  hk_ratelimit_take(struct hk_shm_bucket *b, double rate_per_s, int burst,
    uint64_t now_ns, uint64_t *retry_after_ns);

/*
 * Master only: the bucket named name, claiming a free one if there is none.
 * NULL when the name is empty or too long (63 bytes at most) or the table is
 * full.
 */
struct hk_shm_bucket *hk_ratelimit_claim(struct hk_shm_bucket *table,
    unsigned n, const char *name);
/* Workers: the bucket claimed for name, or NULL. */
struct hk_shm_bucket *hk_ratelimit_bucket(struct hk_shm_bucket *table,
    unsigned n, const char *name);

#endif /* HK_RATELIMIT_H */
