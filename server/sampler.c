/*
 * sampler.c - sample the Redis stream's length and pending count (see
 * sampler.h).
 *
 * hiredis 0.14 has no timeout for async replies, so the sampler keeps its
 * own: a round still unanswered at the next tick past HK_SAMPLER_TIMEOUT_MS
 * means Redis is stopped or unreachable.  redisAsyncFree then fails the
 * outstanding callbacks with a NULL reply (redisAsyncDisconnect would wait
 * for the very replies that are not coming).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#include "clock.h"
#include "core.h"
#include "log.h"
#include "sampler.h"

/* hk_sampler_url - split redis://[[user]:pass@]host[:port][/db], unix://PATH */
static int
hk_sampler_url(struct hk_sampler *s, const char *url)
{
	const char *p, *at, *end, *colon;
	char hostport[256];

	s->port = 6379;
	if (strncmp(url, "unix://", 7) == 0) {
		snprintf(s->path, sizeof(s->path), "%s", url + 7);
		if ((end = strchr(s->path, '?')) != NULL) {
			if (strncmp(end, "?db=", 4) == 0)
				s->db = atoi(end + 4);
			s->path[end - s->path] = '\0';
		}
		return HK_OK;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return HK_ERROR;
	p = url + 8;
	end = p + strcspn(p, "/?");
	if ((at = memchr(p, '@', (size_t)(end - p))) != NULL) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (colon != NULL) {
			snprintf(s->user, sizeof(s->user), "%.*s",
			    (int)(colon - p), p);
			snprintf(s->pass, sizeof(s->pass), "%.*s",
			    (int)(at - colon - 1), colon + 1);
		} else {
			snprintf(s->pass, sizeof(s->pass), "%.*s",
			    (int)(at - p), p);
		}
		p = at + 1;
	}
	snprintf(hostport, sizeof(hostport), "%.*s", (int)(end - p), p);
	if (hostport[0] == '[') {		/* [v6]:port */
		char *rb = strchr(hostport, ']');

		if (rb == NULL)
			return HK_ERROR;
		*rb = '\0';
		snprintf(s->host, sizeof(s->host), "%s", hostport + 1);
		if (rb[1] == ':')
			s->port = atoi(rb + 2);
	} else {
		char *c = strrchr(hostport, ':');

		if (c != NULL) {
			*c = '\0';
			s->port = atoi(c + 1);
		}
		snprintf(s->host, sizeof(s->host), "%s",
		    hostport[0] ? hostport : "127.0.0.1");
	}
	if (*end == '/' && end[1] >= '0' && end[1] <= '9')
		s->db = atoi(end + 1);
	return HK_OK;
}

int
hk_sampler_init(struct hk_sampler *s, struct event_base *base,
    const struct hk_conf *conf)
{
	memset(s, 0, sizeof(*s));
	s->base = base;
	s->up = -1;
	s->length = -1;
	s->pending = -1;
	snprintf(s->key, sizeof(s->key), "%sevents", conf->redis.prefix);
	if (hk_sampler_url(s, conf->redis.url) != HK_OK) {
		hk_log_error("stats: cannot read the Redis URL; the queue "
		    "depth will be reported as unknown");
		s->host[0] = s->path[0] = '\0';
	}
	return HK_OK;
}

/* hk_sampler_down - Redis did not answer: forget what we knew. */
static void
hk_sampler_down(struct hk_sampler *s, const char *why)
{
	if (s->up != 0 && !s->closing)
		hk_log_warn("stats: Redis unavailable (%s); queue depth "
		    "unknown until it answers", why);
	s->up = 0;
	s->length = -1;
	s->pending = -1;
	s->waiting = 0;
}

static void
hk_sampler_connected(const redisAsyncContext *ac, int status)
{
	struct hk_sampler *s = ac->data;

	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		if (s->ac == ac)
			s->ac = NULL;
		hk_sampler_down(s, ac->errstr[0] ? ac->errstr
		    : "connect failed");
	}
}

static void
hk_sampler_disconnected(const redisAsyncContext *ac, int status)
{
	struct hk_sampler *s = ac->data;

	if (s->ac == ac)
		s->ac = NULL;
	if (status != REDIS_OK)
		hk_sampler_down(s, ac->errstr[0] ? ac->errstr : "disconnected");
}

/* hk_sampler_got - one reply of the round arrived; publish when both have. */
static void
hk_sampler_got(struct hk_sampler *s)
{
	if (s->waiting > 0 && --s->waiting == 0) {
		/* up is -1 before the first answer: only a recovery is news. */
		if (s->up == 0)
			hk_log_info("stats: Redis answers again");
		s->up = 1;
		s->length = s->round_length;
		s->pending = s->round_pending;
		s->sampled_us = hk_clock_real_us();
	}
}

static void
hk_sampler_xlen_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct hk_sampler *s = arg;
	redisReply *reply = r;

	if (reply == NULL) {
		hk_sampler_down(s, "connection lost");
		return;
	}
	s->round_length = reply->type == REDIS_REPLY_INTEGER
	    ? (int64_t)reply->integer : -1;
	hk_sampler_got(s);
}

static void
hk_sampler_xpending_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct hk_sampler *s = arg;
	redisReply *reply = r;

	if (reply == NULL) {
		hk_sampler_down(s, "connection lost");
		return;
	}
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1
	    && reply->element[0]->type == REDIS_REPLY_INTEGER)
		s->round_pending = (int64_t)reply->element[0]->integer;
	else if (reply->type == REDIS_REPLY_ERROR
	    && strncmp(reply->str, "NOGROUP", 7) == 0)
		s->round_pending = 0;	/* no group yet: none pending */
	else
		s->round_pending = -1;
	hk_sampler_got(s);
}

static void
hk_sampler_auth_cb(redisAsyncContext *ac, void *r, void *arg)
{
	redisReply *reply = r;

	if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		hk_log_warn("stats: Redis AUTH/SELECT refused: %s", reply->str);
}

static int
hk_sampler_connect(struct hk_sampler *s)
{
	redisAsyncContext *ac;

	if (s->path[0] != '\0')
		ac = redisAsyncConnectUnix(s->path);
	else if (s->host[0] != '\0')
		ac = redisAsyncConnect(s->host, s->port);
	else
		return HK_ERROR;
	if (ac == NULL) {
		hk_sampler_down(s, "out of memory");
		return HK_ERROR;
	}
	if (ac->err) {
		hk_sampler_down(s, ac->errstr);
		redisAsyncFree(ac);
		return HK_ERROR;
	}
	ac->data = s;
	if (redisLibeventAttach(ac, s->base) != REDIS_OK) {
		redisAsyncFree(ac);
		hk_sampler_down(s, "cannot attach to the event loop");
		return HK_ERROR;
	}
	redisAsyncSetConnectCallback(ac, hk_sampler_connected);
	redisAsyncSetDisconnectCallback(ac, hk_sampler_disconnected);
	s->ac = ac;
	/* Queued until the connection is up; hiredis keeps the order. */
	if (s->pass[0] != '\0' && s->user[0] != '\0')
		redisAsyncCommand(ac, hk_sampler_auth_cb, s, "AUTH %s %s",
		    s->user, s->pass);
	else if (s->pass[0] != '\0')
		redisAsyncCommand(ac, hk_sampler_auth_cb, s, "AUTH %s",
		    s->pass);
	if (s->db != 0)
		redisAsyncCommand(ac, hk_sampler_auth_cb, s, "SELECT %d",
		    s->db);
	return HK_OK;
}

void
hk_sampler_tick(struct hk_sampler *s)
{
	uint64_t now = hk_clock_mono_ns();
	redisAsyncContext *ac;

	if (s->ac != NULL && s->waiting > 0) {
		if (now - s->sent_ns < HK_SAMPLER_TIMEOUT_MS * 1000000ull)
			return;
		ac = s->ac;
		s->ac = NULL;
		hk_sampler_down(s, "no answer in time");
		redisAsyncFree(ac);
		return;
	}
	if (s->ac == NULL && hk_sampler_connect(s) != HK_OK)
		return;
	s->round_length = -1;
	s->round_pending = -1;
	s->waiting = 2;
	s->sent_ns = now;
	if (redisAsyncCommand(s->ac, hk_sampler_xlen_cb, s, "XLEN %s",
	    s->key) != REDIS_OK
	    || redisAsyncCommand(s->ac, hk_sampler_xpending_cb, s,
	    "XPENDING %s delivery", s->key) != REDIS_OK) {
		/* The context is disconnecting; the next tick starts over. */
		s->waiting = 0;
	}
}

void
hk_sampler_free(struct hk_sampler *s)
{
	redisAsyncContext *ac = s->ac;

	s->ac = NULL;
	s->closing = 1;
	if (ac != NULL)
		redisAsyncFree(ac);
}
