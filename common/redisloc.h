/*
 * redisloc.h - where the Redis master is now, as Redis Sentinel tells it.
 *
 * One per process, shared by every Redis connection of that process (the
 * ingest worker's enqueue, the delivery worker's two connections, the stats
 * process's sampler), so that "where is the master" is answered in one
 * place.  Without redis.sentinels nothing here runs: the connections use
 * redis.url's address as they always did.
 *
 * Finding: hk_redisloc_find() asks the sentinels, one at a time starting
 * with the one that answered last, SENTINEL get-master-addr-by-name; the
 * first that names an address wins.  A sentinel that refuses, does not
 * know the name, or does not answer within the timeout is passed over.
 * Every client that asked while a round was out gets its answer when the
 * round ends, on a turn of the loop of its own (never from inside hiredis).
 *
 * Following: a subscription to +switch-master on one sentinel (the next
 * one when it goes away) tells every client at once when the sentinels
 * promote another master, so that no connection waits for its backoff to
 * find out.  A client still checks ROLE on every new connection: the
 * sentinels' answer can be stale, and a demoted master says "slave".
 *
 *   client: connect ---> hk_redisloc_find ---> found(host, port) ---> connect
 *             ^             (sentinel 1, 2, ...)                      ROLE
 *             |                                                          |
 *             +---- disconnect, READONLY, ROLE not master, moved() <-----+
 */
#ifndef HK_REDISLOC_H
#define HK_REDISLOC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct event_base;

#define HK_REDISLOC_HOST_MAX 256
#define HK_REDISLOC_ADDR_MAX (HK_REDISLOC_HOST_MAX + 8)

struct hk_redisloc_client {
	TAILQ_ENTRY(hk_redisloc_client) link;
	/* The answer to hk_redisloc_find; host is NULL when no sentinel knew. */
	void  (*found)(struct hk_redisloc_client *c, const char *host, int port);
	/* The sentinels promoted host:port (+switch-master); may be NULL. */
	void  (*moved)(struct hk_redisloc_client *c, const char *host, int port);
	void   *arg;
	int     waiting;		/* asked, not yet answered */
	int     joined;
};

/*
 * Start (once per process; later calls with the same base do nothing):
 * sentinels are "host:port" strings, name the master's name there,
 * password what every connection to a sentinel sends first with AUTH (NULL
 * or "": nothing; the sentinels' requirepass).  HK_ERROR on a bad address
 * or without memory.
 */
int  hk_redisloc_init(struct event_base *base, char *const *sentinels, int n,
    const char *name, const char *password, int timeout_ms);
/* 1 when sentinels are configured and hk_redisloc_init succeeded. */
int  hk_redisloc_enabled(void);
void hk_redisloc_join(struct hk_redisloc_client *c);
/* The last client to leave stops everything. */
void hk_redisloc_leave(struct hk_redisloc_client *c);
void hk_redisloc_find(struct hk_redisloc_client *c);
/* The master last named, "host:port", or "" before the first answer. */
const char *hk_redisloc_master(void);
/* How many times the master named changed since the process started. */
uint64_t hk_redisloc_switches(void);
/* The name monitored ("" without sentinels), for log lines. */
const char *hk_redisloc_name(void);
/* A ROLE reply (a redisReply): 1 for "master", 0 for anything else. */
int  hk_redisloc_role_is_master(const void *reply, char *role, size_t len);

#endif /* HK_REDISLOC_H */
