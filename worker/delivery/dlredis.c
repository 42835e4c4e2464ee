/*
 * dlredis.c - a Redis connection that comes back by itself (see dlredis.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "clock.h"
#include "core.h"
#include "dlredis.h"
#include "log.h"
#include "redisev.h"
#include "redisloc.h"
#include "redisurl.h"

#define HK_DLREDIS_BACKOFF_MIN 100
#define HK_DLREDIS_BACKOFF_MAX 5000

/* One command's callback, wrapped to keep the outstanding count. */
struct hk_dlredis_call {
	struct hk_dlredis *r;
	hk_dlredis_fn fn;
	void *arg;
};

static void
hk_dlredis_later(struct hk_dlredis *r)
{
	int ms = hk_backoff_next(&r->backoff);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(r->retry_ev, &tv);
}

/* hk_dlredis_down - the connection is gone; log once, come back later. */
static void
hk_dlredis_down(struct hk_dlredis *r, const char *why)
{
	r->ac = NULL;
	r->up = 0;
	r->pending = 0;
	if (r->retry_ev == NULL || evtimer_pending(r->retry_ev, NULL))
		return;
	if (!r->down_logged)
		hk_log_warn("redis: delivery %s connection down (%s); "
		    "reconnecting", r->name, why);
	r->down_logged = 1;
	hk_dlredis_later(r);
}

void
hk_dlredis_drop(struct hk_dlredis *r, const char *why)
{
	struct redisAsyncContext *ac = r->ac;

	hk_dlredis_down(r, why);
	if (ac != NULL)
		redisAsyncFree(ac);
}

static void
hk_dlredis_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct hk_dlredis_call *c = priv;
	struct hk_dlredis *r = c->r;

	if (ac == r->ac && r->pending > 0 && --r->pending > 0)
		r->oldest_ns = hk_clock_mono_ns();
	if (c->fn != NULL)
		c->fn(r, reply, c->arg);
	free(c);
	/* A master demoted by the sentinels: find the new one. */
	if (reply != NULL && ac == r->ac && hk_redisloc_enabled()
	    && ((redisReply *)reply)->type == REDIS_REPLY_ERROR
	    && strncmp(((redisReply *)reply)->str, "READONLY", 8) == 0)
		hk_dlredis_drop(r, "READONLY: no longer the master");
}

int
hk_dlredis_cmd(struct hk_dlredis *r, hk_dlredis_fn fn, void *arg, int argc,
    const char **argv, const size_t *lens)
{
	struct hk_dlredis_call *c;

	if (r->ac == NULL || !r->up || (c = malloc(sizeof(*c))) == NULL)
		return HK_ERROR;
	c->r = r;
	c->fn = fn;
	c->arg = arg;
	if (redisAsyncCommandArgv(r->ac, hk_dlredis_reply, c, argc, argv,
	    lens) != REDIS_OK) {
		free(c);
		return HK_ERROR;
	}
	if (r->pending++ == 0)
		r->oldest_ns = hk_clock_mono_ns();
	return HK_OK;
}

int
hk_dlredis_overdue(const struct hk_dlredis *r, int extra_ms)
{
	uint64_t limit = (uint64_t)(r->timeout_ms + extra_ms) * 1000000u;
	uint64_t now = hk_clock_mono_ns();

	if (r->ac == NULL)
		return 0;
	if (!r->up)
		return now - r->conn_ns > limit;
	return r->pending > 0 && now - r->oldest_ns > limit;
}

static void
hk_dlredis_hs_reply(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	char why[200];

	if (rep == NULL || rep->type != REDIS_REPLY_ERROR)
		return;
	snprintf(why, sizeof(why), "%s refused: %.120s",
	    (uintptr_t)arg ? "SELECT" : "AUTH", rep->str);
	hk_dlredis_drop(r, why);
}

static void
hk_dlredis_connected(const redisAsyncContext *ac, int status)
{
	struct hk_dlredis *r = ac->data;

	if (r == NULL || ac != r->ac)
		return;
	if (status != REDIS_OK) {
		hk_dlredis_down(r, ac->errstr[0] ? ac->errstr : "cannot connect");
		return;
	}
	if (r->down_logged)
		hk_log_info("redis: delivery %s connection back", r->name);
	r->down_logged = 0;
	hk_backoff_reset(&r->backoff);
	r->up = 1;
	r->on_up(r);
}

static void
hk_dlredis_disconnected(const redisAsyncContext *ac, int status)
{
	struct hk_dlredis *r = ac->data;

	if (r != NULL && ac == r->ac)
		hk_dlredis_down(r, ac->errstr[0] ? ac->errstr
		    : "connection closed");
}

/* hk_dlredis_role - ROLE answered: anything but a master is left. */
static void
hk_dlredis_role(struct hk_dlredis *r, void *reply, void *arg)
{
	char role[64], why[HK_REDISLOC_ADDR_MAX + 96];

	if (reply == NULL || hk_redisloc_role_is_master(reply, role,
	    sizeof(role)))
		return;
	snprintf(why, sizeof(why), "%s is not the master: ROLE says %s",
	    r->addr, role);
	hk_dlredis_drop(r, why);
}

/* hk_dlredis_handshake - AUTH, SELECT, ROLE, queued ahead of everything. */
static void
hk_dlredis_handshake(struct hk_dlredis *r)
{
	const char *argv[3];
	size_t lens[3];
	char db[16];
	int n = 0;

	r->up = 1;		/* so that hk_dlredis_cmd queues them */
	if (r->url.pass[0]) {
		argv[n] = "AUTH", lens[n++] = 4;
		if (r->url.user[0])
			argv[n] = r->url.user, lens[n] = strlen(r->url.user), n++;
		argv[n] = r->url.pass, lens[n] = strlen(r->url.pass), n++;
		hk_dlredis_cmd(r, hk_dlredis_hs_reply, (void *)(uintptr_t)0, n, argv,
		    lens);
	}
	if (r->url.db != 0) {
		snprintf(db, sizeof(db), "%d", r->url.db);
		argv[0] = "SELECT", lens[0] = 6;
		argv[1] = db, lens[1] = strlen(db);
		hk_dlredis_cmd(r, hk_dlredis_hs_reply, (void *)(uintptr_t)1, 2,
		    argv, lens);
	}
	if (hk_redisloc_enabled()) {
		argv[0] = "ROLE", lens[0] = 4;
		hk_dlredis_cmd(r, hk_dlredis_role, NULL, 1, argv, lens);
	}
	r->up = 0;
}

/* hk_dlredis_connect_to - host:port, or redis.url's socket (host NULL). */
static void
hk_dlredis_connect_to(struct hk_dlredis *r, const char *host, int port)
{
	redisAsyncContext *ac;

	ac = host == NULL ? redisAsyncConnectUnix(r->url.path)
	    : redisAsyncConnect(host, port);
	if (ac == NULL || ac->err) {
		hk_dlredis_down(r, ac ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		return;
	}
	ac->data = r;
	if (hk_redisev_attach(ac, r->base) != HK_OK) {
		redisAsyncFree(ac);
		hk_dlredis_down(r, "out of memory for a connection");
		return;
	}
	redisAsyncSetConnectCallback(ac, hk_dlredis_connected);
	redisAsyncSetDisconnectCallback(ac, hk_dlredis_disconnected);
	r->ac = ac;
	r->pending = 0;
	r->conn_ns = hk_clock_mono_ns();
	hk_dlredis_handshake(r);
}

/* hk_dlredis_found - the sentinels named the master, or nobody did. */
static void
hk_dlredis_found(struct hk_redisloc_client *c, const char *host, int port)
{
	struct hk_dlredis *r = c->arg;

	r->finding = 0;
	if (r->retry_ev == NULL)
		return;			/* closed meanwhile */
	if (host == NULL) {
		hk_dlredis_down(r, "no sentinel names the master");
		return;
	}
	snprintf(r->addr, sizeof(r->addr), strchr(host, ':') ? "[%s]:%d"
	    : "%s:%d", host, port);
	hk_dlredis_connect_to(r, host, port);
}

/* hk_dlredis_moved - +switch-master: leave the old master now. */
static void
hk_dlredis_moved(struct hk_redisloc_client *c, const char *host, int port)
{
	struct hk_dlredis *r = c->arg;
	char addr[HK_REDISLOC_ADDR_MAX];

	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d",
	    host, port);
	if (r->retry_ev == NULL || r->finding
	    || (r->ac != NULL && strcmp(addr, r->addr) == 0))
		return;
	if (r->ac != NULL)
		hk_dlredis_drop(r, "the sentinels switched the master");
	evtimer_del(r->retry_ev);
	hk_backoff_reset(&r->backoff);
	hk_dlredis_connect(r);
}

void
hk_dlredis_connect(struct hk_dlredis *r)
{
	if (!hk_redisloc_enabled()) {
		hk_dlredis_connect_to(r, r->url.path[0] ? NULL : r->url.host,
		    r->url.port);
		return;
	}
	if (r->finding)
		return;
	r->finding = 1;
	hk_redisloc_find(&r->loc);
}

static void
hk_dlredis_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_dlredis_connect(arg);
}

int
hk_dlredis_init(struct hk_dlredis *r, struct event_base *base,
    const struct hk_conf *conf, const char *name,
    void (*on_up)(struct hk_dlredis *r))
{
	memset(r, 0, sizeof(*r));
	r->base = base;
	r->name = name;
	r->on_up = on_up;
	hk_backoff_init(&r->backoff, HK_DLREDIS_BACKOFF_MIN,
	    HK_DLREDIS_BACKOFF_MAX, 0);
	r->timeout_ms = conf->redis.timeout_ms > 0 ? conf->redis.timeout_ms
	    : 1000;
	if (hk_redisurl_parse(conf->redis.url, &r->url) != HK_OK) {
		hk_log_error("redis: cannot parse the url");
		return HK_ERROR;
	}
	if (conf->redis.nsentinels > 0) {
		if (hk_redisloc_init(base, conf->redis.sentinels,
		    conf->redis.nsentinels, conf->redis.master_name,
		    conf->redis.sentinel_password, r->timeout_ms) != HK_OK)
			return HK_ERROR;
		r->loc.found = hk_dlredis_found;
		r->loc.moved = hk_dlredis_moved;
		r->loc.arg = r;
		hk_redisloc_join(&r->loc);
	}
	r->retry_ev = evtimer_new(base, hk_dlredis_retry_cb, r);
	return r->retry_ev != NULL ? HK_OK : HK_ERROR;
}

void
hk_dlredis_close(struct hk_dlredis *r)
{
	struct redisAsyncContext *ac = r->ac;

	if (r->retry_ev != NULL)
		event_free(r->retry_ev);
	r->retry_ev = NULL;
	r->ac = NULL;
	r->up = 0;
	hk_redisloc_leave(&r->loc);
	/* Pending callbacks run now, with NULL replies. */
	if (ac != NULL)
		redisAsyncFree(ac);
}
