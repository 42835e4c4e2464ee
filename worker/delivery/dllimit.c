/*
 * dllimit.c - a destination's rate, concurrency and breaker across every
 * worker of every host (see dllimit.h).  dlqueue.c asks here before each
 * attempt; verdict.c tells when a breaker opens or
 * closes.  The answers of Redis wake the destination's queue through its
 * pump event, so this file calls nothing above it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "core.h"
#include "dispatch.h"
#include "dllimit.h"
#include "limscript.h"
#include "log.h"

#define HK_DLLIMIT_LOCAL_MS    1000	/* after a failed call: this host's limits */
#define HK_DLLIMIT_STARVED_MS  100	/* no slot: ask again after this */
/* Slots asked for beyond the queue's need when work arrives. */
#define HK_DLLIMIT_SPARE(cd)   HK_MAX(1, (cd)->concurrency / 4)

struct hk_dllimit_dest {
	char     *rate_key, *conc_key, *brk_key;
	int       lease;		/* tokens a call asks for */
	int       tokens;		/* leased, not spent */
	int       slots;		/* attempts this worker may have out */
	int       pending;		/* a call is out */
	uint64_t  next_ns;		/* no call before this */
	double    ltokens;		/* this host's share, while Redis is down */
	uint64_t  ltok_ns;
	int       brk_seen;		/* the breaker key was read while open */
};

/* One call, for its reply. */
struct hk_dllimit_call {
	int       d;
	int       want_tokens;
	int       eval;			/* sent as EVAL after NOSCRIPT */
	char      num[7][24];	/* the script's numeric arguments */
};

static struct {
	struct hk_dlredis      *cmd;
	struct hk_dllimit_dest *dests;
	char                    holder[192];
	struct event           *tick_ev;
	int                     mget_out;
	int                     down_logged;
	uint64_t                local_until_ns;
} hk_dllimit;

static void hk_dllimit_send(struct hk_dllimit_call *c);

/* hk_dllimit_local - use this host's limits now? */
static int
hk_dllimit_local(uint64_t now)
{
	return hk_dllimit.cmd == NULL || !hk_dllimit.cmd->up
	    || now < hk_dllimit.local_until_ns;
}

/* hk_dllimit_wake - run d's pump now, or at 'at' (monotonic ns). */
static void
hk_dllimit_wake(int d, uint64_t at, uint64_t now)
{
	struct event *ev = hk_dispatch.dests[d].pump_ev;
	struct timeval tv;

	if (ev == NULL)
		return;
	if (at <= now) {
		event_active(ev, EV_TIMEOUT, 1);
		return;
	}
	tv.tv_sec = (time_t)((at - now) / 1000000000u);
	tv.tv_usec = (suseconds_t)((at - now) % 1000000000u / 1000u) + 1000;
	evtimer_add(ev, &tv);
}

/* hk_dllimit_fail - Redis did not answer: this host's limits for a while. */
static void
hk_dllimit_fail(const char *why)
{
	uint64_t now = hk_clock_mono_ns();

	if (!hk_dllimit.down_logged)
		hk_log_warn("delivery: destination limits fall back to this "
		    "host's share (%s)", why);
	hk_dllimit.down_logged = 1;
	hk_dllimit.local_until_ns = now + HK_DLLIMIT_LOCAL_MS * 1000000ull;
	for (int d = 0; d < hk_dispatch.conf->ndests; d++) {
		hk_dllimit.dests[d].tokens = 0;
		hk_dllimit.dests[d].slots = 0;
		hk_dllimit_wake(d, now, now);
	}
}

/* hk_dllimit_reply - the script's answer: tokens, the wait, slots. */
static void
hk_dllimit_reply(struct hk_dlredis *r, void *reply, void *arg)
{
	struct hk_dllimit_call *c = arg;
	struct hk_dllimit_dest *st = &hk_dllimit.dests[c->d];
	const struct hk_dispatch_dest *dd = &hk_dispatch.dests[c->d];
	redisReply *rep = reply;
	uint64_t now = hk_clock_mono_ns();
	long long grant, wait, slots;

	if (rep != NULL && rep->type == REDIS_REPLY_ERROR && !c->eval
	    && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		c->eval = 1;
		hk_dllimit_send(c);
		return;
	}
	st->pending = 0;
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY
	    || rep->elements != 3 || rep->element[0]->type
	    != REDIS_REPLY_INTEGER || rep->element[1]->type
	    != REDIS_REPLY_INTEGER || rep->element[2]->type
	    != REDIS_REPLY_INTEGER) {
		hk_dllimit_fail(rep == NULL ? "no connection" : rep->type
		    == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
		free(c);
		return;
	}
	grant = rep->element[0]->integer;
	wait = rep->element[1]->integer;
	slots = rep->element[2]->integer;
	if (hk_dllimit.down_logged)
		hk_log_info("delivery: destination limits hold for the whole "
		    "deployment again");
	hk_dllimit.down_logged = 0;
	st->tokens += (int)grant;
	st->slots = slots < 0 ? 0 : (int)slots;
	st->next_ns = 0;
	if (grant < c->want_tokens && wait > 0)
		st->next_ns = now + (uint64_t)wait * 1000000u;
	if (st->slots <= dd->active && dd->queued > 0)
		st->next_ns = HK_MAX(st->next_ns, now
		    + HK_DLLIMIT_STARVED_MS * 1000000ull);
	hk_dllimit_wake(c->d, now, now);
	free(c);
}

static void
hk_dllimit_send(struct hk_dllimit_call *c)
{
	const struct hk_dllimit_dest *st = &hk_dllimit.dests[c->d];
	const char *argv[14];
	size_t lens[14];
	int n = hk_limscript_command(argv, lens, c->eval);

#define HK_ARG(s) (argv[n] = (s), lens[n] = strlen(argv[n]), n++)
	HK_ARG("2");
	HK_ARG(st->rate_key);
	HK_ARG(st->conc_key);
	HK_ARG(c->num[0]);		/* rate */
	HK_ARG(c->num[1]);		/* burst */
	HK_ARG(c->num[2]);		/* tokens wanted */
	HK_ARG("0");			/* no debt: jobs wait for tokens */
	HK_ARG(hk_dllimit.holder);
	HK_ARG(c->num[3]);		/* concurrency */
	HK_ARG(c->num[4]);		/* slots wanted */
	HK_ARG(c->num[5]);		/* slots in use */
	HK_ARG(c->num[6]);		/* ttl */
#undef HK_ARG
	if (hk_dlredis_cmd(hk_dllimit.cmd, hk_dllimit_reply, c, n, argv, lens)
	    != HK_OK) {
		hk_dllimit.dests[c->d].pending = 0;
		free(c);
		hk_dllimit_fail("connection down");
	}
}

/*
 * hk_dllimit_call - ask Redis for what d's queue needs: tokens up to a
 * lease, slots for what is queued and in flight plus 'spare' more (fewer
 * than held gives slots back).  Asking for a few spare slots when work
 * arrives lets the next attempts start without a round trip each; the
 * tick asks for none, so an idle worker's slots go back within a tick.
 */
static void
hk_dllimit_call(int d, uint64_t now, int spare)
{
	struct hk_dllimit_dest *st = &hk_dllimit.dests[d];
	const struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];
	const struct hk_conf_dest *cd = &hk_dispatch.conf->dests[d];
	struct hk_dllimit_call *c;
	double burst = cd->rate_per_s > 1 ? cd->rate_per_s : 1;
	int want_slots;

	if (st->pending || now < st->next_ns || hk_dllimit_local(now)
	    || (c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->d = d;
	c->want_tokens = cd->rate_per_s > 0 ? HK_MAX(0, st->lease - st->tokens)
	    : 0;
	want_slots = HK_MIN(cd->concurrency, dd->active + dd->queued + spare);
	snprintf(c->num[0], sizeof(c->num[0]), "%.6f", cd->rate_per_s);
	snprintf(c->num[1], sizeof(c->num[1]), "%.0f", burst);
	snprintf(c->num[2], sizeof(c->num[2]), "%d", c->want_tokens);
	snprintf(c->num[3], sizeof(c->num[3]), "%d", cd->concurrency);
	snprintf(c->num[4], sizeof(c->num[4]), "%d", want_slots);
	snprintf(c->num[5], sizeof(c->num[5]), "%d", dd->active);
	snprintf(c->num[6], sizeof(c->num[6]), "%d", HK_DLLIMIT_TTL_MS);
	st->pending = 1;
	hk_dllimit_send(c);
}

/* hk_dllimit_local_admit - this host's share while Redis is down. */
static int
hk_dllimit_local_admit(int d, uint64_t now)
{
	struct hk_dllimit_dest *st = &hk_dllimit.dests[d];
	const struct hk_conf_dest *cd = &hk_dispatch.conf->dests[d];
	int workers = HK_MAX(1, hk_dispatch.conf->delivery.workers);
	double rate = cd->rate_per_s / workers;
	double burst = rate > 1 ? rate : 1;

	if (hk_dispatch.dests[d].active >= HK_MAX(1, cd->concurrency / workers))
		return 0;
	if (rate <= 0)
		return 1;
	st->ltokens += (double)(now - st->ltok_ns) / 1e9 * rate;
	st->ltok_ns = now;
	if (st->ltokens > burst)
		st->ltokens = burst;
	if (st->ltokens >= 1) {
		st->ltokens -= 1;
		return 1;
	}
	hk_dllimit_wake(d, now + (uint64_t)((1 - st->ltokens) / rate * 1e9),
	    now);
	return 0;
}

int
hk_dllimit_admit(int d)
{
	struct hk_dllimit_dest *st = &hk_dllimit.dests[d];
	const struct hk_conf_dest *cd = &hk_dispatch.conf->dests[d];
	uint64_t now = hk_clock_mono_ns();
	int rated = cd->rate_per_s > 0;

	if (hk_dllimit_local(now))
		return hk_dllimit_local_admit(d, now);
	if ((!rated || st->tokens > 0)
	    && hk_dispatch.dests[d].active < st->slots) {
		if (rated && --st->tokens <= st->lease / 2)
			hk_dllimit_call(d, now, HK_DLLIMIT_SPARE(cd));
		return 1;
	}
	hk_dllimit_call(d, now, HK_DLLIMIT_SPARE(cd));
	if (!st->pending && st->next_ns > now)
		hk_dllimit_wake(d, st->next_ns, now);
	return 0;
}

void
hk_dllimit_breaker_open(int d, uint64_t open_ms)
{
	char until[24], px[24];
	const char *argv[5] = { "SET", hk_dllimit.dests[d].brk_key, until,
	    "PX", px };
	size_t lens[5];

	/* A key read from now on is this opening's, or a later one's. */
	hk_dllimit.dests[d].brk_seen = 0;
	snprintf(until, sizeof(until), "%llu", (unsigned long long)
	    (hk_clock_real_ms() + open_ms));
	snprintf(px, sizeof(px), "%llu", (unsigned long long)open_ms);
	for (int k = 0; k < 5; k++)
		lens[k] = strlen(argv[k]);
	if (hk_dllimit.cmd != NULL)
		(void)hk_dlredis_cmd(hk_dllimit.cmd, NULL, NULL, 5, argv, lens);
}

void
hk_dllimit_breaker_closed(int d)
{
	const char *argv[2] = { "DEL", hk_dllimit.dests[d].brk_key };
	size_t lens[2] = { 3, strlen(argv[1]) };

	hk_dllimit.dests[d].brk_seen = 0;
	if (hk_dllimit.cmd != NULL)
		(void)hk_dlredis_cmd(hk_dllimit.cmd, NULL, NULL, 2, argv, lens);
}

/*
 * hk_dllimit_breaker_seen - what <prefix>breaker:<d> holds: open until a
 * Unix time in ms, or nothing.  A key that is gone while this worker's
 * breaker still has more than a second to stay open was deleted by
 * another worker's successful probe: closed.  One that merely expired
 * leaves this worker to probe for itself when its own time runs out.
 *
 * Gone counts only after the key was seen during this opening: an MGET
 * sent before this worker's own SET, or a SET lost with its connection
 * (Redis down when the breaker opened), reads nothing and must not close
 * the breaker that was just opened.
 */
static void
hk_dllimit_breaker_seen(int d, const redisReply *v, uint64_t now)
{
	struct hk_dispatch_dest *dd = &hk_dispatch.dests[d];
	const char *name = hk_dispatch.conf->dests[d].name;
	unsigned long long until, real = hk_clock_real_ms();
	uint64_t at;

	if (v->type == REDIS_REPLY_STRING) {
		until = strtoull(v->str, NULL, 10);
		if (until <= real || dd->probing)
			return;
		hk_dllimit.dests[d].brk_seen = 1;
		at = now + (until - real) * 1000000ull;
		if (dd->open_until_ns + 1000000000ull >= at)
			return;
		if (dd->open_until_ns == 0)
			hk_log_warn("delivery: destination %s: circuit open for "
			    "%llu ms (opened by another worker)", name,
			    until - real);
		dd->open_until_ns = at;
		hk_dllimit_wake(d, now, now);
	} else if (dd->open_until_ns > now + 1000000000ull && !dd->probing
	    && hk_dllimit.dests[d].brk_seen) {
		hk_dllimit.dests[d].brk_seen = 0;
		hk_log_info("delivery: destination %s answers again (another "
		    "worker's probe); circuit closed", name);
		dd->open_until_ns = 0;
		dd->fails = 0;
		hk_dllimit_wake(d, now, now);
	}
}

static void
hk_dllimit_mget_reply(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	uint64_t now = hk_clock_mono_ns();

	hk_dllimit.mget_out = 0;
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY
	    || rep->elements != (size_t)hk_dispatch.conf->ndests)
		return;
	for (int d = 0; d < hk_dispatch.conf->ndests; d++)
		hk_dllimit_breaker_seen(d, rep->element[d], now);
}

/* hk_dllimit_tick_cb - read the breakers, renew the slots held. */
static void
hk_dllimit_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	const struct hk_conf *conf = hk_dispatch.conf;
	uint64_t now = hk_clock_mono_ns();
	const char **argv = NULL;
	size_t *lens = NULL;

	if (conf->ndests == 0 || hk_dllimit.cmd == NULL || !hk_dllimit.cmd->up)
		return;
	if (!hk_dllimit.mget_out
	    && (argv = calloc((size_t)conf->ndests + 1, sizeof(*argv))) != NULL
	    && (lens = calloc((size_t)conf->ndests + 1, sizeof(*lens))) != NULL) {
		argv[0] = "MGET", lens[0] = 4;
		for (int d = 0; d < conf->ndests; d++) {
			argv[d + 1] = hk_dllimit.dests[d].brk_key;
			lens[d + 1] = strlen(argv[d + 1]);
		}
		if (hk_dlredis_cmd(hk_dllimit.cmd, hk_dllimit_mget_reply, NULL,
		    conf->ndests + 1, argv, lens) == HK_OK)
			hk_dllimit.mget_out = 1;
	}
	free(lens);
	free(argv);
	for (int d = 0; d < conf->ndests; d++)
		if (hk_dllimit.dests[d].slots > 0 || hk_dispatch.dests[d].queued
		    > 0)
			hk_dllimit_call(d, now, 0);
}

int
hk_dllimit_init(struct hk_dlredis *cmd)
{
	const struct hk_conf *conf = hk_dispatch.conf;
	struct timeval tick = { 0, HK_DLLIMIT_TICK_MS * 1000 };
	char host[128];

	hk_dllimit.cmd = cmd;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(hk_dllimit.holder, sizeof(hk_dllimit.holder),
	    "%s/%s/delivery-%d", host, conf->instance,
	    hk_dispatch.child->index);
	hk_dllimit.dests = calloc((size_t)conf->ndests + 1,
	    sizeof(*hk_dllimit.dests));
	if (hk_dllimit.dests == NULL)
		return HK_ERROR;
	for (int d = 0; d < conf->ndests; d++) {
		struct hk_dllimit_dest *st = &hk_dllimit.dests[d];
		const char *pre = conf->redis.prefix, *name = conf->dests[d].name;

		if (asprintf(&st->rate_key, "%srate:dst:%s", pre, name) < 0
		    || asprintf(&st->conc_key, "%sconc:dst:%s", pre, name) < 0
		    || asprintf(&st->brk_key, "%sbreaker:%s", pre, name) < 0)
			return HK_ERROR;
		st->lease = hk_limscript_lease(conf->dests[d].rate_per_s);
		st->ltokens = 1;
		st->ltok_ns = hk_clock_mono_ns();
	}
	hk_dllimit.tick_ev = event_new(hk_dispatch.base, -1, EV_PERSIST,
	    hk_dllimit_tick_cb, NULL);
	if (hk_dllimit.tick_ev == NULL)
		return HK_ERROR;
	event_add(hk_dllimit.tick_ev, &tick);
	return HK_OK;
}

void
hk_dllimit_shutdown(void)
{
	if (hk_dllimit.tick_ev != NULL)
		event_free(hk_dllimit.tick_ev);
	for (int d = 0; hk_dllimit.dests != NULL
	    && d < hk_dispatch.conf->ndests; d++) {
		free(hk_dllimit.dests[d].rate_key);
		free(hk_dllimit.dests[d].conc_key);
		free(hk_dllimit.dests[d].brk_key);
	}
	free(hk_dllimit.dests);
	memset(&hk_dllimit, 0, sizeof(hk_dllimit));
}
