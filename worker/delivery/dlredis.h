/*
 * dlredis.h - one Redis connection of the delivery worker, kept alive.
 *
 * hiredis 0.14 async on the worker's libevent base, with what it lacks:
 * reconnection with backoff (100 ms doubling to 5 s, logged once per
 * outage) and timeouts (hk_dlredis_overdue, checked from a timer; replies
 * come in order, so the oldest command outstanding is the one to time).
 * Every callback given to hk_dlredis_cmd runs exactly once, with a NULL
 * reply when the connection went away first.
 *
 * With redis.sentinels, each (re)connect asks the sentinels where the
 * master is (redisloc.h), checks ROLE, and leaves a master that answers
 * READONLY or that the sentinels replaced (+switch-master).
 */
#ifndef HK_DLREDIS_H
#define HK_DLREDIS_H

#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "config.h"
#include "redisloc.h"
#include "redisurl.h"

struct event_base;
struct event;
struct redisAsyncContext;

struct hk_dlredis {
	struct event_base *base;
	const char *name;
	struct redisAsyncContext *ac;	/* NULL while down */
	int       up;			/* connected, handshake queued */
	int       down_logged;
	struct hk_backoff backoff;
	int       timeout_ms;
	int       pending;		/* commands without a reply */
	uint64_t  oldest_ns;		/* when the oldest of them was sent */
	uint64_t  conn_ns;
	struct event *retry_ev;
	void    (*on_up)(struct hk_dlredis *r);
	struct hk_redisurl url;
	struct hk_redisloc_client loc;	/* loc.arg is this */
	int       finding;
	char      addr[HK_REDISLOC_ADDR_MAX];	/* the master connected to */
};

typedef void (*hk_dlredis_fn)(struct hk_dlredis *r, void *reply, void *arg);

int  hk_dlredis_init(struct hk_dlredis *r, struct event_base *base,
    const struct hk_conf *conf, const char *name,
    void (*on_up)(struct hk_dlredis *r));
void hk_dlredis_connect(struct hk_dlredis *r);
/* HK_ERROR when down (fn is not called). */
int  hk_dlredis_cmd(struct hk_dlredis *r, hk_dlredis_fn fn, void *arg,
    int argc, const char **argv, const size_t *lens);
/* Give up on the connection; a reconnect follows. */
void hk_dlredis_drop(struct hk_dlredis *r, const char *why);
/* 1 when the oldest outstanding command is older than extra_ms + timeout. */
int  hk_dlredis_overdue(const struct hk_dlredis *r, int extra_ms);
void hk_dlredis_close(struct hk_dlredis *r);

#endif
