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

#include "clock.h"
#include "core.h"
#include "log.h"
#include "redisev.h"
#include "redisurl.h"
#include "sampler.h"


int
hk_sampler_init(struct hk_sampler *s, struct event_base *base,
    const struct hk_conf *conf)
{
	memset(s, 0, sizeof(*s));
	s->base = base;
	s->conf = conf;
	s->up = -1;
	s->length = -1;
	s->pending = -1;
	s->oldest_age_s = -1;
	/* One more than needed: malloc(0) may answer NULL. */
	s->breaker = malloc((size_t)conf->ndests + 1);
	s->round_breaker = malloc((size_t)conf->ndests + 1);
	if (s->breaker == NULL || s->round_breaker == NULL) {
		free(s->breaker);
		free(s->round_breaker);
		return HK_ERROR;
	}
	memset(s->breaker, -1, (size_t)conf->ndests + 1);
	snprintf(s->key, sizeof(s->key), "%sevents", conf->redis.prefix);
	if (hk_redisurl_parse(conf->redis.url, &s->url) != HK_OK) {
		hk_log_error("stats: cannot read the Redis URL; the queue "
		    "depth will be reported as unknown");
		s->url.host[0] = s->url.path[0] = '\0';
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
	s->oldest_age_s = -1;
	memset(s->breaker, -1, (size_t)s->conf->ndests);
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

/* hk_sampler_got - one reply of the round arrived; publish when all have. */
static void
hk_sampler_got(struct hk_sampler *s)
{
	uint64_t now_us;

	if (s->waiting > 0 && --s->waiting == 0) {
		/* up is -1 before the first answer: only a recovery is news. */
		if (s->up == 0)
			hk_log_info("stats: Redis answers again");
		now_us = hk_clock_real_us();
		s->up = 1;
		s->length = s->round_length;
		s->pending = s->round_pending;
		if (s->round_oldest_ms < 0)
			s->oldest_age_s = s->round_pending == 0 ? 0 : -1;
		else if ((uint64_t)s->round_oldest_ms * 1000u >= now_us)
			s->oldest_age_s = 0;	/* Redis's clock ahead of ours */
		else
			s->oldest_age_s = (double)(now_us
			    - (uint64_t)s->round_oldest_ms * 1000u) / 1e6;
		memcpy(s->breaker, s->round_breaker, (size_t)s->conf->ndests);
		s->sampled_us = now_us;
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
	    && reply->element[0]->type == REDIS_REPLY_INTEGER) {
		s->round_pending = (int64_t)reply->element[0]->integer;
		/* The smallest pending id, "<ms>-<seq>": XADD * made it. */
		if (reply->elements >= 2
		    && reply->element[1]->type == REDIS_REPLY_STRING)
			s->round_oldest_ms = strtoll(reply->element[1]->str,
			    NULL, 10);
	} else if (reply->type == REDIS_REPLY_ERROR
	    && strncmp(reply->str, "NOGROUP", 7) == 0)
		s->round_pending = 0;	/* no group yet: none pending */
	else
		s->round_pending = -1;
	hk_sampler_got(s);
}

/* hk_sampler_breaker_cb - EXISTS <prefix>breaker:<destination>. */
static void
hk_sampler_breaker_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct hk_sampler *s = arg;
	redisReply *reply = r;
	int d;

	if (reply == NULL) {
		hk_sampler_down(s, "connection lost");
		return;
	}
	/* The replies come in the order sent: the first is destination 0. */
	d = s->round_dest++;
	if (d >= 0 && d < s->conf->ndests)
		s->round_breaker[d] = reply->type == REDIS_REPLY_INTEGER
		    ? reply->integer > 0 : -1;
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

	if (s->url.path[0] != '\0')
		ac = redisAsyncConnectUnix(s->url.path);
	else if (s->url.host[0] != '\0')
		ac = redisAsyncConnect(s->url.host, s->url.port);
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
	if (hk_redisev_attach(ac, s->base) != HK_OK) {
		redisAsyncFree(ac);
		hk_sampler_down(s, "cannot attach to the event loop");
		return HK_ERROR;
	}
	redisAsyncSetConnectCallback(ac, hk_sampler_connected);
	redisAsyncSetDisconnectCallback(ac, hk_sampler_disconnected);
	s->ac = ac;
	/* Queued until the connection is up; hiredis keeps the order. */
	/* %b: a password may hold spaces, which %s would split. */
	if (s->url.pass[0] != '\0' && s->url.user[0] != '\0')
		redisAsyncCommand(ac, hk_sampler_auth_cb, s, "AUTH %b %b",
		    s->url.user, strlen(s->url.user), s->url.pass,
		    strlen(s->url.pass));
	else if (s->url.pass[0] != '\0')
		redisAsyncCommand(ac, hk_sampler_auth_cb, s, "AUTH %b",
		    s->url.pass, strlen(s->url.pass));
	if (s->url.db != 0)
		redisAsyncCommand(ac, hk_sampler_auth_cb, s, "SELECT %d",
		    s->url.db);
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
	s->round_oldest_ms = -1;
	s->round_dest = 0;
	s->waiting = 2 + s->conf->ndests;
	s->sent_ns = now;
	if (redisAsyncCommand(s->ac, hk_sampler_xlen_cb, s, "XLEN %s",
	    s->key) != REDIS_OK
	    || redisAsyncCommand(s->ac, hk_sampler_xpending_cb, s,
	    "XPENDING %s delivery", s->key) != REDIS_OK) {
		/* The context is disconnecting; the next tick starts over. */
		s->waiting = 0;
		return;
	}
	for (int d = 0; d < s->conf->ndests; d++) {
		const char *name = s->conf->dests[d].name;

		s->round_breaker[d] = -1;
		if (redisAsyncCommand(s->ac, hk_sampler_breaker_cb, s,
		    "EXISTS %sbreaker:%b", s->conf->redis.prefix, name,
		    strlen(name)) != REDIS_OK) {
			s->waiting = 0;
			return;
		}
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
	free(s->breaker);
	free(s->round_breaker);
	s->breaker = s->round_breaker = NULL;
}
