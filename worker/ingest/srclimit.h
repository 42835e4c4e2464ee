/*
 * srclimit.h - a source's rate_per_s and burst for the whole deployment:
 * one token bucket in Redis (<prefix>rate:src:<name>, the script of
 * common/limscript.h) shared by every ingest worker of every host.
 *
 * The hot path must not wait for Redis, so each worker leases
 * hk_limscript_lease(rate) tokens at a time and spends them locally,
 * asking for the next lease when half of one is left.  A worker that has
 * none while its lease is on the way takes up to half a lease on credit:
 * the next call charges that debt to the bucket whatever it holds, so the
 * deployment pays it back within the next instants.  When Redis answers
 * that the bucket is empty, the worker refuses (429) until the time Redis
 * gave for the next token, without asking again before then.
 *
 * Precision: at any instant the workers hold at most a lease and a half
 * each beyond what the bucket let out, so over any second the deployment
 * admits at most rate + burst + workers x 1.5 x lease (lease = 2% of the
 * rate, at least 1).
 *
 * While Redis cannot be asked (down, refusing, a call without an answer
 * within redis.timeout_ms), the limit falls back to this host's bucket in
 * shared memory (shm/ratelimit.h): the rate for each host, as before.
 */
#ifndef HK_SRCLIMIT_H
#define HK_SRCLIMIT_H

#include <stdint.h>

#include "config.h"
#include "segment.h"

int  hk_srclimit_init(const struct hk_conf *conf, struct hk_segment *seg);
/*
 * Take one token for source i (its index in conf->sources).  HK_OK, or
 * HK_AGAIN with *retry_ns set to the wait until one is due.
 */
int  hk_srclimit_take(int i, uint64_t *retry_ns);
void hk_srclimit_shutdown(void);

#endif
