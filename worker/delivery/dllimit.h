/*
 * dllimit.h - a destination's limits across every worker of every host:
 * rate_per_s, concurrency and the open breaker, kept in Redis (the script
 * of common/limscript.h and the key <prefix>breaker:<name>).
 *
 * Rate: the worker leases hk_limscript_lease(rate) tokens at a time from
 * the shared bucket <prefix>rate:dst:<name> (burst max(1, rate)) and
 * spends them on its own attempts; a job waits in its queue for the
 * lease's reply, never more than one call per destination being out.
 *
 * Concurrency: slots leased from <prefix>conc:dst:<name>, a hash of
 * holders (the consumer names, "<host>/<instance>/delivery-<index>") with
 * what each holds and wants and when it expires.  A worker asks when its
 * queue has more than its slots allow, for a quarter of the concurrency
 * more than it needs (so a steady stream starts attempts without a round
 * trip each), and every HK_DLLIMIT_TICK_MS renews what its queue needs
 * then, giving back the rest; a worker that
 * crashed loses its slots after HK_DLLIMIT_TTL_MS (at once when it is
 * respawned on the same host, since its name is the same).
 *
 * Breaker: a worker whose breaker opens sets <prefix>breaker:<name> to the
 * Unix time in ms it stays open until, expiring then (PX); the probe's
 * success deletes it.  Every worker reads all the keys (MGET) every
 * HK_DLLIMIT_TICK_MS, and takes an open one as its own breaker open until
 * then, and a key gone as the breaker closed.
 *
 * While Redis is down the limits are this host's: the rate and the
 * concurrency divided among its delivery.workers (at least one slot each),
 * the breaker per worker.
 */
#ifndef HK_DLLIMIT_H
#define HK_DLLIMIT_H

#include <stdint.h>

#include "dlredis.h"

#define HK_DLLIMIT_TICK_MS  500
#define HK_DLLIMIT_TTL_MS   5000

int  hk_dllimit_init(struct hk_dlredis *cmd);
/*
 * May one more attempt to d start now?  1: yes, and a token is spent.  0:
 * not yet; the queue's pump event is armed for when it may.
 */
int  hk_dllimit_admit(int d);
/* The breaker of d opened until open_ms from now / closed. */
void hk_dllimit_breaker_open(int d, uint64_t open_ms);
void hk_dllimit_breaker_closed(int d);
void hk_dllimit_shutdown(void);

#endif
