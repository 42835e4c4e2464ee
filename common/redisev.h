/*
 * redisev.h - hiredis's asynchronous API on a libevent base, with the
 * commands queued during one turn of the loop written together.
 *
 * In place of hiredis's stock libevent adapter: the same hooks, fewer
 * system calls.  See redisev.c for why and how.
 */
#ifndef HK_REDISEV_H
#define HK_REDISEV_H

struct event_base;
struct redisAsyncContext;

/* Attach a fresh context to base: HK_OK, or HK_ERROR without memory.  The
 * events go with the context when hiredis frees it. */
int hk_redisev_attach(struct redisAsyncContext *ac, struct event_base *base);

#endif
