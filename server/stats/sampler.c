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
#include "redisloc.h"
#include "redisurl.h"
#include "sampler.h"

static void hk_sampler_found(struct hk_redisloc_client *c, const char *host,
    int port);
static void hk_sampler_moved(struct hk_redisloc_client *c, const char *host,
    int port);

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
	s->consumer_hosts = -1;
	s->consumers = -1;
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
	if (conf->redis.nsentinels > 0) {
		if (hk_redisloc_init(base, conf->redis.sentinels,
		    conf->redis.nsentinels, conf->redis.master_name,
		    conf->redis.sentinel_password, HK_SAMPLER_TIMEOUT_MS)
		    != HK_OK)
			return HK_ERROR;
		s->loc.found = hk_sampler_found;
		s->loc.moved = hk_sampler_moved;
		s->loc.arg = s;
		hk_redisloc_join(&s->loc);
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
	s->consumer_hosts = -1;
	s->consumers = -1;
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
		s->consumer_hosts = s->round_hosts;
		s->consumers = s->round_consumers;
		snprintf(s->addr, sizeof(s->addr), "%s", s->conn_addr);
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

/*
 * hk_sampler_consumers_cb - XINFO CONSUMERS: the consumers of the group
 * and the hosts and instances they belong to.  A consumer is named
 * "<host>/<instance>/delivery-<index>"; what comes before the last '/'
 * tells one host's instance from another.
 */
static void
hk_sampler_consumers_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct hk_sampler *s = arg;
	redisReply *reply = r;
	const redisReply *e, *k, *v, *seen[256];
	size_t nseen = 0, plen;
	const char *slash;

	if (reply == NULL) {
		hk_sampler_down(s, "connection lost");
		return;
	}
	s->round_hosts = s->round_consumers = -1;
	if (reply->type == REDIS_REPLY_ERROR
	    && strncmp(reply->str, "NOGROUP", 7) == 0)
		s->round_hosts = s->round_consumers = 0;
	if (reply->type != REDIS_REPLY_ARRAY) {
		hk_sampler_got(s);
		return;
	}
	s->round_consumers = (int32_t)reply->elements;
	s->round_hosts = 0;
	for (size_t i = 0; i < reply->elements; i++) {
		e = reply->element[i];
		v = NULL;
		for (size_t j = 0; e->type == REDIS_REPLY_ARRAY
		    && j + 1 < e->elements; j += 2) {
			k = e->element[j];
			if (k->type == REDIS_REPLY_STRING
			    && strcmp(k->str, "name") == 0
			    && e->element[j + 1]->type == REDIS_REPLY_STRING)
				v = e->element[j + 1];
		}
		if (v == NULL)
			continue;
		slash = memrchr(v->str, '/', v->len);
		plen = slash != NULL ? (size_t)(slash - v->str) : v->len;
		size_t m = 0;
		for (; m < nseen; m++) {
			const char *o = seen[m]->str;
			const char *os = memrchr(o, '/', seen[m]->len);
			size_t olen = os != NULL ? (size_t)(os - o) : seen[m]->len;

			if (olen == plen && memcmp(o, v->str, plen) == 0)
				break;
		}
		if (m == nseen && nseen < HK_NELEM(seen)) {
			seen[nseen++] = v;
			s->round_hosts++;
		}
	}
	hk_sampler_got(s);
}

/* hk_sampler_role_cb - a connection to anything but the master is left. */
static void
hk_sampler_role_cb(redisAsyncContext *ac, void *r, void *arg)
{
	struct hk_sampler *s = arg;
	char role[64];

	if (r == NULL || ac != s->ac
	    || hk_redisloc_role_is_master(r, role, sizeof(role)))
		return;
	hk_log_warn("stats: Redis %s is not the master (ROLE says %s); "
	    "asking the sentinels again", s->conn_addr, role);
	s->ac = NULL;
	hk_sampler_down(s, "not the master");
	redisAsyncFree(ac);
}

static void
hk_sampler_auth_cb(redisAsyncContext *ac, void *r, void *arg)
{
	redisReply *reply = r;

	if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
		hk_log_warn("stats: Redis AUTH/SELECT refused: %s", reply->str);
}

/* hk_sampler_connect_to - host:port, or redis.url's socket (host NULL). */
static int
hk_sampler_connect_to(struct hk_sampler *s, const char *host, int port)
{
	redisAsyncContext *ac;

	if (host == NULL) {
		ac = redisAsyncConnectUnix(s->url.path);
		snprintf(s->conn_addr, sizeof(s->conn_addr), "%s",
		    s->url.path);
	} else {
		ac = redisAsyncConnect(host, port);
		snprintf(s->conn_addr, sizeof(s->conn_addr),
		    strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	}
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
	if (hk_redisloc_enabled())
		redisAsyncCommand(ac, hk_sampler_role_cb, s, "ROLE");
	return HK_OK;
}

/* hk_sampler_found - the sentinels named the master (or nobody did). */
static void
hk_sampler_found(struct hk_redisloc_client *c, const char *host, int port)
{
	struct hk_sampler *s = c->arg;

	s->finding = 0;
	if (s->closing || s->ac != NULL)
		return;
	if (host == NULL) {
		hk_sampler_down(s, "no sentinel names the master");
		return;
	}
	hk_sampler_connect_to(s, host, port);
}

/* hk_sampler_moved - +switch-master: sample the new master from now on. */
static void
hk_sampler_moved(struct hk_redisloc_client *c, const char *host, int port)
{
	struct hk_sampler *s = c->arg;
	redisAsyncContext *ac = s->ac;
	char addr[HK_REDISLOC_ADDR_MAX];

	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d",
	    host, port);
	if (s->closing || s->finding || (ac != NULL
	    && strcmp(addr, s->conn_addr) == 0))
		return;
	s->ac = NULL;
	if (ac != NULL)
		redisAsyncFree(ac);
	s->waiting = 0;
	s->finding = 1;
	hk_redisloc_find(&s->loc);
}

/* hk_sampler_connect - connect, or ask where to first (HK_AGAIN). */
static int
hk_sampler_connect(struct hk_sampler *s)
{
	if (hk_redisloc_enabled()) {
		if (!s->finding) {
			s->finding = 1;
			hk_redisloc_find(&s->loc);
		}
		return HK_AGAIN;
	}
	if (s->url.path[0] != '\0')
		return hk_sampler_connect_to(s, NULL, 0);
	if (s->url.host[0] != '\0')
		return hk_sampler_connect_to(s, s->url.host, s->url.port);
	return HK_ERROR;
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
	s->round_hosts = -1;
	s->round_consumers = -1;
	s->waiting = 3 + s->conf->ndests;
	s->sent_ns = now;
	if (redisAsyncCommand(s->ac, hk_sampler_xlen_cb, s, "XLEN %s",
	    s->key) != REDIS_OK
	    || redisAsyncCommand(s->ac, hk_sampler_xpending_cb, s,
	    "XPENDING %s delivery", s->key) != REDIS_OK
	    || redisAsyncCommand(s->ac, hk_sampler_consumers_cb, s,
	    "XINFO CONSUMERS %s delivery", s->key) != REDIS_OK) {
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
	hk_redisloc_leave(&s->loc);
	if (ac != NULL)
		redisAsyncFree(ac);
	free(s->breaker);
	free(s->round_breaker);
	s->breaker = s->round_breaker = NULL;
}
