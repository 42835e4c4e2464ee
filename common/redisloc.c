/*
 * redisloc.c - find and follow the Redis master through Redis Sentinel
 * (see redisloc.h).
 *
 * Two short-lived or long-lived hiredis contexts to the sentinels, never
 * to Redis itself: "ask", open for one SENTINEL get-master-addr-by-name
 * and freed with its answer, and "sub", the +switch-master subscription,
 * kept open and remade by a one-second tick when it goes away.
 *
 * hiredis 0.14 has no timeouts: a timer bounds each question, and the tick
 * drops a subscription that did not confirm within the timeout.  Contexts
 * are told apart by pointer: a callback of a context that is no longer the
 * current one is stale and does nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "clock.h"
#include "core.h"
#include "log.h"
#include "redisev.h"
#include "redisloc.h"
#include "redisurl.h"

#define HK_REDISLOC_MAX      16
#define HK_REDISLOC_TICK_MS  1000

TAILQ_HEAD(hk_redisloc_clients, hk_redisloc_client);

static struct {
	struct event_base *base;
	int      n;
	char     host[HK_REDISLOC_MAX][HK_REDISLOC_HOST_MAX];
	int      port[HK_REDISLOC_MAX];
	char     name[160];
	char     password[257];		/* AUTH first; "" for none */
	int      auth_logged;		/* a refusal was logged */
	char     why[128];		/* the round's last refusal */
	int      timeout_ms;
	struct hk_redisloc_clients clients;

	/* Finding. */
	redisAsyncContext *ask;
	int      asking;		/* a round is out */
	int      next;			/* the sentinel to ask next */
	int      tried;			/* sentinels asked in this round */
	int      first;			/* the one that answered last */
	int      ok;			/* the round's answer */
	int      overtaken;		/* +switch-master during the round */
	char     found_host[HK_REDISLOC_HOST_MAX];
	int      found_port;
	char     master[HK_REDISLOC_ADDR_MAX];
	uint64_t switches;
	int      unknown_logged;
	struct event *ask_tmo;
	struct event *done_ev;

	/* Following. */
	redisAsyncContext *sub;
	int      sub_next;
	int      subscribed;
	uint64_t sub_ns;
	char     moved_host[HK_REDISLOC_HOST_MAX];
	int      moved_port;
	struct event *sub_tick;
	struct event *moved_ev;
} hk_redisloc;

static void hk_redisloc_ask_next(void);

int
hk_redisloc_enabled(void)
{
	return hk_redisloc.base != NULL;
}

const char *
hk_redisloc_master(void)
{
	return hk_redisloc.master;
}

uint64_t
hk_redisloc_switches(void)
{
	return hk_redisloc.switches;
}

const char *
hk_redisloc_name(void)
{
	return hk_redisloc.name;
}

int
hk_redisloc_role_is_master(const void *reply, char *role, size_t len)
{
	const redisReply *r = reply;
	const redisReply *e;

	if (role != NULL && len > 0)
		snprintf(role, len, "%s", r == NULL ? "no reply"
		    : r->type == REDIS_REPLY_ERROR ? r->str : "?");
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1
	    || (e = r->element[0])->type != REDIS_REPLY_STRING)
		return 0;
	if (role != NULL && len > 0)
		snprintf(role, len, "%s", e->str);
	return strcmp(e->str, "master") == 0;
}

/*
 * hk_redisloc_named - the sentinels name host:port the master: remember it,
 * and count a change of master (the first answer is none).
 */
static void
hk_redisloc_named(const char *host, int port, const char *how)
{
	char addr[HK_REDISLOC_ADDR_MAX];

	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d",
	    host, port);
	if (strcmp(addr, hk_redisloc.master) == 0)
		return;
	if (hk_redisloc.master[0] != '\0') {
		hk_redisloc.switches++;
		hk_log_warn("redis: the master of \"%s\" is now %s (was %s; %s)",
		    hk_redisloc.name, addr, hk_redisloc.master, how);
	} else
		hk_log_info("redis: the master of \"%s\" is %s (%s)",
		    hk_redisloc.name, addr, how);
	snprintf(hk_redisloc.master, sizeof(hk_redisloc.master), "%s", addr);
}

/* hk_redisloc_done_cb - a round ended: answer whoever asked. */
static void
hk_redisloc_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_redisloc_client *c;
	char host[HK_REDISLOC_HOST_MAX];
	int ok = hk_redisloc.ok, port = hk_redisloc.found_port;

	snprintf(host, sizeof(host), "%s", hk_redisloc.found_host);
	TAILQ_FOREACH(c, &hk_redisloc.clients, link) {
		if (!c->waiting)
			continue;
		c->waiting = 0;
		c->found(c, ok ? host : NULL, port);
	}
}

static void
hk_redisloc_round_end(int ok)
{
	/* The sentinel asked may have answered before the switch. */
	if (hk_redisloc.overtaken) {
		snprintf(hk_redisloc.found_host, sizeof(hk_redisloc.found_host),
		    "%s", hk_redisloc.moved_host);
		hk_redisloc.found_port = hk_redisloc.moved_port;
		hk_redisloc.overtaken = 0;
		ok = 1;
	}
	hk_redisloc.asking = 0;
	hk_redisloc.ok = ok;
	evtimer_del(hk_redisloc.ask_tmo);
	if (ok) {
		hk_redisloc.unknown_logged = 0;
		hk_redisloc_named(hk_redisloc.found_host,
		    hk_redisloc.found_port, "asked the sentinels");
	} else if (!hk_redisloc.unknown_logged) {
		hk_log_warn("redis: none of the %d sentinels names a master "
		    "for \"%s\"%s%s%s; asking again", hk_redisloc.n,
		    hk_redisloc.name, hk_redisloc.why[0] ? " (" : "",
		    hk_redisloc.why, hk_redisloc.why[0] ? ")" : "");
		hk_redisloc.unknown_logged = 1;
	}
	event_active(hk_redisloc.done_ev, EV_TIMEOUT, 1);
}

/* hk_redisloc_ask_drop - give up on the sentinel being asked. */
static void
hk_redisloc_ask_drop(void)
{
	redisAsyncContext *ac = hk_redisloc.ask;

	hk_redisloc.ask = NULL;
	if (ac != NULL)
		redisAsyncFree(ac);
}

/* hk_redisloc_parse - [host, port] from SENTINEL get-master-addr-by-name. */
static int
hk_redisloc_parse(const redisReply *r)
{
	long port;
	char *end;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
	    || r->element[0]->type != REDIS_REPLY_STRING
	    || r->element[1]->type != REDIS_REPLY_STRING
	    || r->element[0]->len == 0
	    || r->element[0]->len >= HK_REDISLOC_HOST_MAX)
		return HK_ERROR;
	port = strtol(r->element[1]->str, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return HK_ERROR;
	memcpy(hk_redisloc.found_host, r->element[0]->str, r->element[0]->len);
	hk_redisloc.found_host[r->element[0]->len] = '\0';
	hk_redisloc.found_port = (int)port;
	return HK_OK;
}

static void
hk_redisloc_ask_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	int i = (int)(intptr_t)priv;
	redisReply *r = reply;

	if (ac != hk_redisloc.ask)
		return;			/* given up already */
	if (r == NULL) {
		hk_redisloc.ask = NULL;	/* hiredis frees it */
		hk_log_debug("redis: sentinel %s:%d: %s", hk_redisloc.host[i],
		    hk_redisloc.port[i], ac->errstr[0] ? ac->errstr
		    : "connection lost");
		hk_redisloc_ask_next();
		return;
	}
	if (hk_redisloc_parse(r) == HK_OK) {
		hk_redisloc.first = i;
		hk_redisloc_ask_drop();
		hk_redisloc_round_end(1);
		return;
	}
	hk_log_debug("redis: sentinel %s:%d does not name a master for "
	    "\"%s\" (%.120s)", hk_redisloc.host[i], hk_redisloc.port[i],
	    hk_redisloc.name, r->type == REDIS_REPLY_ERROR ? r->str : "nil");
	if (r->type == REDIS_REPLY_ERROR)
		snprintf(hk_redisloc.why, sizeof(hk_redisloc.why), "%s:%d: "
		    "%.100s", hk_redisloc.host[i], hk_redisloc.port[i], r->str);
	hk_redisloc_ask_drop();
	hk_redisloc_ask_next();
}

static void
hk_redisloc_ask_connected(const redisAsyncContext *ac, int status)
{
	if (status == REDIS_OK || ac != hk_redisloc.ask)
		return;
	/* hiredis frees the context when this returns. */
	hk_redisloc.ask = NULL;
	hk_redisloc_ask_next();
}

/*
 * hk_redisloc_auth_reply - a sentinel's answer to AUTH.  An error (a wrong
 * password, or a sentinel that has none) is logged once until a sentinel
 * accepts again; a command queued behind a refused AUTH then fails on its
 * own (NOAUTH) and the next sentinel is asked.
 */
static void
hk_redisloc_auth_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	int i = (int)(intptr_t)priv;
	redisReply *r = reply;

	if (r == NULL)
		return;
	if (r->type != REDIS_REPLY_ERROR) {
		hk_redisloc.auth_logged = 0;
		return;
	}
	if (!hk_redisloc.auth_logged)
		hk_log_warn("redis: sentinel %s:%d answered AUTH with "
		    "redis.sentinel_password: %.120s", hk_redisloc.host[i],
		    hk_redisloc.port[i], r->str);
	hk_redisloc.auth_logged = 1;
}

/* hk_redisloc_connect - a context to sentinel i on the loop, AUTH queued
 * when a password is set, or NULL. */
static redisAsyncContext *
hk_redisloc_connect(int i)
{
	redisAsyncContext *ac;

	ac = redisAsyncConnect(hk_redisloc.host[i], hk_redisloc.port[i]);
	if (ac == NULL)
		return NULL;
	if (ac->err || hk_redisev_attach(ac, hk_redisloc.base) != HK_OK) {
		hk_log_debug("redis: sentinel %s:%d: %s", hk_redisloc.host[i],
		    hk_redisloc.port[i], ac->err ? ac->errstr
		    : "out of memory");
		redisAsyncFree(ac);
		return NULL;
	}
	if (hk_redisloc.password[0] != '\0' && redisAsyncCommand(ac,
	    hk_redisloc_auth_reply, (void *)(intptr_t)i, "AUTH %s",
	    hk_redisloc.password) != REDIS_OK) {
		redisAsyncFree(ac);
		return NULL;
	}
	return ac;
}

/* hk_redisloc_ask_next - ask the next sentinel, or end the round. */
static void
hk_redisloc_ask_next(void)
{
	struct timeval tv = { hk_redisloc.timeout_ms / 1000,
	    (hk_redisloc.timeout_ms % 1000) * 1000 };
	redisAsyncContext *ac;
	int i;

	while (hk_redisloc.tried < hk_redisloc.n) {
		i = hk_redisloc.next;
		hk_redisloc.next = (i + 1) % hk_redisloc.n;
		hk_redisloc.tried++;
		if ((ac = hk_redisloc_connect(i)) == NULL)
			continue;
		redisAsyncSetConnectCallback(ac, hk_redisloc_ask_connected);
		if (redisAsyncCommand(ac, hk_redisloc_ask_reply,
		    (void *)(intptr_t)i, "SENTINEL get-master-addr-by-name %s",
		    hk_redisloc.name) != REDIS_OK) {
			redisAsyncFree(ac);
			continue;
		}
		hk_redisloc.ask = ac;
		evtimer_add(hk_redisloc.ask_tmo, &tv);
		return;
	}
	hk_redisloc_round_end(0);
}

static void
hk_redisloc_ask_tmo_cb(evutil_socket_t fd, short what, void *arg)
{
	if (hk_redisloc.ask == NULL)
		return;
	hk_log_debug("redis: a sentinel gave no answer within %d ms",
	    hk_redisloc.timeout_ms);
	hk_redisloc_ask_drop();
	hk_redisloc_ask_next();
}

void
hk_redisloc_find(struct hk_redisloc_client *c)
{
	c->waiting = 1;
	if (hk_redisloc.asking || hk_redisloc.base == NULL)
		return;
	hk_redisloc.asking = 1;
	hk_redisloc.overtaken = 0;
	hk_redisloc.why[0] = '\0';
	hk_redisloc.tried = 0;
	hk_redisloc.next = hk_redisloc.first;
	hk_redisloc_ask_next();
}

/* hk_redisloc_moved_cb - tell every client about the new master. */
static void
hk_redisloc_moved_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hk_redisloc_client *c;
	char host[HK_REDISLOC_HOST_MAX];
	int port = hk_redisloc.moved_port;

	snprintf(host, sizeof(host), "%s", hk_redisloc.moved_host);
	hk_redisloc_named(host, port, "+switch-master");
	if (hk_redisloc.asking)
		hk_redisloc.overtaken = 1;
	TAILQ_FOREACH(c, &hk_redisloc.clients, link)
		if (c->moved != NULL)
			c->moved(c, host, port);
}

/*
 * hk_redisloc_message - "<name> <old-ip> <old-port> <new-ip> <new-port>",
 * published on +switch-master by every sentinel that saw the failover.
 */
static void
hk_redisloc_message(const char *msg)
{
	char name[160], oldh[HK_REDISLOC_HOST_MAX], newh[HK_REDISLOC_HOST_MAX];
	int oldp, newp;

	if (sscanf(msg, "%159s %255s %d %255s %d", name, oldh, &oldp, newh,
	    &newp) != 5 || strcmp(name, hk_redisloc.name) != 0 || newp < 1
	    || newp > 65535)
		return;
	snprintf(hk_redisloc.moved_host, sizeof(hk_redisloc.moved_host), "%s",
	    newh);
	hk_redisloc.moved_port = newp;
	event_active(hk_redisloc.moved_ev, EV_TIMEOUT, 1);
}

static void
hk_redisloc_sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	const redisReply *kind;

	if (ac != hk_redisloc.sub)
		return;
	if (r == NULL) {
		hk_redisloc.sub = NULL;	/* hiredis frees it */
		hk_redisloc.subscribed = 0;
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3
	    || (kind = r->element[0])->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(kind->str, "subscribe") == 0)
		hk_redisloc.subscribed = 1;
	else if (strcmp(kind->str, "message") == 0
	    && r->element[2]->type == REDIS_REPLY_STRING)
		hk_redisloc_message(r->element[2]->str);
}

static void
hk_redisloc_sub_gone(const redisAsyncContext *ac, int status)
{
	if (ac == hk_redisloc.sub) {
		hk_redisloc.sub = NULL;
		hk_redisloc.subscribed = 0;
	}
}

static void
hk_redisloc_sub_connected(const redisAsyncContext *ac, int status)
{
	if (status != REDIS_OK)
		hk_redisloc_sub_gone(ac, status);
}

/* hk_redisloc_sub_tick_cb - keep one subscription to a sentinel open. */
static void
hk_redisloc_sub_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t limit = (uint64_t)hk_redisloc.timeout_ms * 1000000u;
	redisAsyncContext *ac = hk_redisloc.sub;
	int i;

	if (ac != NULL) {
		if (hk_redisloc.subscribed
		    || hk_clock_mono_ns() - hk_redisloc.sub_ns < limit)
			return;
		hk_redisloc.sub = NULL;
		redisAsyncFree(ac);
	}
	i = hk_redisloc.sub_next;
	hk_redisloc.sub_next = (i + 1) % hk_redisloc.n;
	if ((ac = hk_redisloc_connect(i)) == NULL)
		return;
	redisAsyncSetConnectCallback(ac, hk_redisloc_sub_connected);
	redisAsyncSetDisconnectCallback(ac, hk_redisloc_sub_gone);
	if (redisAsyncCommand(ac, hk_redisloc_sub_reply, NULL,
	    "SUBSCRIBE +switch-master") != REDIS_OK) {
		redisAsyncFree(ac);
		return;
	}
	hk_redisloc.sub = ac;
	hk_redisloc.subscribed = 0;
	hk_redisloc.sub_ns = hk_clock_mono_ns();
}

int
hk_redisloc_init(struct event_base *base, char *const *sentinels, int n,
    const char *name, const char *password, int timeout_ms)
{
	struct timeval tick = { HK_REDISLOC_TICK_MS / 1000, 0 };

	if (hk_redisloc.base == base && base != NULL)
		return HK_OK;
	if (hk_redisloc.base != NULL || n < 1 || n > HK_REDISLOC_MAX
	    || name == NULL || name[0] == '\0')
		return HK_ERROR;
	memset(&hk_redisloc, 0, sizeof(hk_redisloc));
	TAILQ_INIT(&hk_redisloc.clients);
	for (int i = 0; i < n; i++)
		if (hk_redisurl_addr(sentinels[i], hk_redisloc.host[i],
		    sizeof(hk_redisloc.host[i]), &hk_redisloc.port[i])
		    != HK_OK) {
			hk_log_error("redis: cannot read the sentinel address "
			    "\"%s\"", sentinels[i]);
			return HK_ERROR;
		}
	hk_redisloc.n = n;
	snprintf(hk_redisloc.name, sizeof(hk_redisloc.name), "%s", name);
	snprintf(hk_redisloc.password, sizeof(hk_redisloc.password), "%s",
	    password != NULL ? password : "");
	hk_redisloc.timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	hk_redisloc.ask_tmo = evtimer_new(base, hk_redisloc_ask_tmo_cb, NULL);
	hk_redisloc.done_ev = event_new(base, -1, 0, hk_redisloc_done_cb, NULL);
	hk_redisloc.moved_ev = event_new(base, -1, 0, hk_redisloc_moved_cb,
	    NULL);
	hk_redisloc.sub_tick = event_new(base, -1, EV_PERSIST,
	    hk_redisloc_sub_tick_cb, NULL);
	hk_redisloc.base = base;
	if (hk_redisloc.ask_tmo == NULL || hk_redisloc.done_ev == NULL
	    || hk_redisloc.moved_ev == NULL || hk_redisloc.sub_tick == NULL
	    || evtimer_add(hk_redisloc.sub_tick, &tick) != 0) {
		hk_redisloc_leave(NULL);
		return HK_ERROR;
	}
	hk_redisloc_sub_tick_cb(-1, 0, NULL);
	return HK_OK;
}

void
hk_redisloc_join(struct hk_redisloc_client *c)
{
	if (c->joined || hk_redisloc.base == NULL)
		return;
	c->joined = 1;
	c->waiting = 0;
	TAILQ_INSERT_TAIL(&hk_redisloc.clients, c, link);
}

/* hk_redisloc_leave - NULL, or the last client, shuts everything down. */
void
hk_redisloc_leave(struct hk_redisloc_client *c)
{
	redisAsyncContext *ask = hk_redisloc.ask, *sub = hk_redisloc.sub;

	if (c != NULL && c->joined) {
		TAILQ_REMOVE(&hk_redisloc.clients, c, link);
		c->joined = 0;
		c->waiting = 0;
	}
	if (hk_redisloc.base == NULL
	    || (c != NULL && !TAILQ_EMPTY(&hk_redisloc.clients)))
		return;
	hk_redisloc.ask = hk_redisloc.sub = NULL;
	if (ask != NULL)
		redisAsyncFree(ask);
	if (sub != NULL)
		redisAsyncFree(sub);
	if (hk_redisloc.ask_tmo != NULL)
		event_free(hk_redisloc.ask_tmo);
	if (hk_redisloc.done_ev != NULL)
		event_free(hk_redisloc.done_ev);
	if (hk_redisloc.moved_ev != NULL)
		event_free(hk_redisloc.moved_ev);
	if (hk_redisloc.sub_tick != NULL)
		event_free(hk_redisloc.sub_tick);
	memset(&hk_redisloc, 0, sizeof(hk_redisloc));
}
