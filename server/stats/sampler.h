/*
 * sampler.h - the stats process's look at Redis, once a second: the
 * stream's length (XLEN <prefix>events), the entries delivered but not yet
 * acknowledged and the age of the oldest of them (the XPENDING summary of
 * the group delivery: its smallest id carries the millisecond the entry
 * was added), and which destinations have their circuit breaker open.
 *
 * A delivery worker whose breaker for destination D opens sets
 * <prefix>breaker:D with an expiry at the end of the open time (SET ... PX)
 * and deletes it when a probe closes the breaker, so the key exists exactly
 * while the breaker is open: one EXISTS per configured destination reads it.
 *
 * And the consumers of the group (XINFO CONSUMERS): how many hosts and
 * instances deliver.  With redis.sentinels the sampler finds the master as
 * every other process does (redisloc.h), and says which one it uses. *
 * One hiredis async connection on the stats process's event loop.  Redis
 * being down, slow or restarted is an expected state here, not an error:
 * the values read -1 (unknown) until an answer comes, and a round that gets
 * no answer within HK_SAMPLER_TIMEOUT_MS drops the connection and starts a
 * new one at the next tick.
 */
#ifndef HK_SAMPLER_H
#define HK_SAMPLER_H

#include <stdint.h>

#include "redisloc.h"
#include "redisurl.h"

#include "config.h"

#define HK_SAMPLER_TIMEOUT_MS 2000

struct event_base;
struct redisAsyncContext;

struct hk_sampler {
	struct event_base        *base;
	struct redisAsyncContext *ac;
	struct hk_redisurl url;
	const struct hk_conf *conf;
	char     key[256];		/* <prefix>events */
	int      waiting;		/* replies outstanding in this round */
	int      closing;		/* hk_sampler_free: failures are ours */
	uint64_t sent_ns;
	int64_t  round_length;
	int64_t  round_pending;
	int64_t  round_oldest_ms;
	int8_t  *round_breaker;		/* per configured destination */
	int      round_dest;		/* the next EXISTS reply's destination */
	int32_t  round_hosts;
	int32_t  round_consumers;
	struct hk_redisloc_client loc;	/* loc.arg is this */
	int      finding;
	char     conn_addr[HK_REDISLOC_ADDR_MAX];	/* connected to */

	/* Results, read by the stats process. */
	int      up;			/* 1 up, 0 down, -1 not known yet */
	int64_t  length;		/* -1 unknown */
	int64_t  pending;		/* -1 unknown */
	double   oldest_age_s;		/* oldest pending entry; 0 none; -1 unknown */
	int8_t  *breaker;		/* per destination: 1 open, 0 closed, -1 unknown */
	uint64_t sampled_us;		/* wall clock of the last full answer */
	/* "host:port" (or the socket) of the master sampled; "" unknown. */
	char     addr[HK_REDISLOC_ADDR_MAX];
	/* Distinct "<host>/<instance>" among the group's consumers; -1 ?. */
	int32_t  consumer_hosts;
	int32_t  consumers;		/* -1 unknown */
};

int  hk_sampler_init(struct hk_sampler *s, struct event_base *base,
    const struct hk_conf *conf);
/* Send one round of queries (or reconnect); call once a second. */
void hk_sampler_tick(struct hk_sampler *s);
void hk_sampler_free(struct hk_sampler *s);

#endif /* HK_SAMPLER_H */
