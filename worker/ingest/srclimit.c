/*
 * srclimit.c - source rate limits across hosts (see srclimit.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "clock.h"
#include "core.h"
#include "enqueue.h"
#include "limscript.h"
#include "log.h"
#include "ratelimit.h"
#include "srclimit.h"

#define HK_SRCLIMIT_LOCAL_MS  1000	/* after a failed call: this host's bucket */

struct hk_srclimit_src {
	char     *key;			/* <prefix>rate:src:<name> */
	struct hk_shm_bucket *bucket;	/* this host's, for the fallback */
	int       lease, credit;
	int       have;			/* leased, unspent; < 0: spent on credit */
	int       pending;		/* a call is out */
	unsigned  gen;			/* of the call out; a timed out one is stale */
	uint64_t  sent_ns;
	uint64_t  dry_until_ns;		/* the bucket is empty until then */
	uint64_t  local_until_ns;	/* Redis failed: this host's bucket */
};

/* One call, for its reply. */
struct hk_srclimit_call {
	int       i;
	unsigned  gen;
	int       want, debt;
	int       eval;			/* sent as EVAL after NOSCRIPT */
	char      num[4][24];
};

static struct {
	const struct hk_conf   *conf;
	struct hk_srclimit_src *srcs;
	uint64_t                timeout_ns;
	int                     down_logged;
} hk_srclimit;

static int hk_srclimit_send(struct hk_srclimit_call *c);

static void
hk_srclimit_fail(struct hk_srclimit_src *st, uint64_t now, const char *why)
{
	if (!hk_srclimit.down_logged)
		hk_log_warn("ingest: source rate limits fall back to this "
		    "host's (%s)", why);
	hk_srclimit.down_logged = 1;
	st->local_until_ns = now + HK_SRCLIMIT_LOCAL_MS * 1000000ull;
}

static void
hk_srclimit_reply(void *reply, void *arg)
{
	struct hk_srclimit_call *c = arg;
	struct hk_srclimit_src *st = &hk_srclimit.srcs[c->i];
	redisReply *rep = reply;
	uint64_t now = hk_clock_mono_ns();
	int current = st->pending && st->gen == c->gen;

	if (rep != NULL && rep->type == REDIS_REPLY_ERROR && !c->eval
	    && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		c->eval = 1;
		if (hk_srclimit_send(c) == HK_OK)
			return;
		rep = NULL;
	}
	if (current)
		st->pending = 0;
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY
	    || rep->elements != 3 || rep->element[0]->type
	    != REDIS_REPLY_INTEGER || rep->element[1]->type
	    != REDIS_REPLY_INTEGER) {
		/* Not charged: the debt is still owed. */
		st->have -= c->debt;
		hk_srclimit_fail(st, now, rep == NULL ? "no connection"
		    : rep->type == REDIS_REPLY_ERROR ? rep->str
		    : "unexpected reply");
		free(c);
		return;
	}
	if (hk_srclimit.down_logged)
		hk_log_info("ingest: source rate limits hold for the whole "
		    "deployment again");
	hk_srclimit.down_logged = 0;
	st->have += (int)rep->element[0]->integer;
	if (rep->element[0]->integer < c->want && rep->element[1]->integer > 0)
		st->dry_until_ns = now
		    + (uint64_t)rep->element[1]->integer * 1000000u;
	free(c);
}

static int
hk_srclimit_send(struct hk_srclimit_call *c)
{
	const char *argv[8];
	size_t lens[8];
	int n = hk_limscript_command(argv, lens, c->eval);

#define HK_ARG(s) (argv[n] = (s), lens[n] = strlen(argv[n]), n++)
	HK_ARG("1");
	HK_ARG(hk_srclimit.srcs[c->i].key);
	for (int k = 0; k < 4; k++)
		HK_ARG(c->num[k]);
#undef HK_ARG
	return hk_enqueue_redis_cmd(hk_srclimit_reply, c, n, argv, lens);
}

/*
 * hk_srclimit_call - ask for a lease, paying what was spent on credit.
 * HK_ERROR when Redis cannot be asked.
 */
static int
hk_srclimit_call(int i, uint64_t now)
{
	const struct hk_conf_source *src = &hk_srclimit.conf->sources[i];
	struct hk_srclimit_src *st = &hk_srclimit.srcs[i];
	struct hk_srclimit_call *c;

	if (st->pending)
		return HK_OK;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return HK_ERROR;
	c->i = i;
	c->gen = ++st->gen;
	c->debt = st->have < 0 ? -st->have : 0;
	c->want = HK_MAX(0, st->lease - (st->have + c->debt));
	snprintf(c->num[0], sizeof(c->num[0]), "%.6f", src->rate_per_s);
	snprintf(c->num[1], sizeof(c->num[1]), "%d", src->burst);
	snprintf(c->num[2], sizeof(c->num[2]), "%d", c->want);
	snprintf(c->num[3], sizeof(c->num[3]), "%d", c->debt);
	if (hk_srclimit_send(c) != HK_OK) {
		free(c);
		return HK_ERROR;
	}
	/* Charged once the reply comes; given back if it does not. */
	st->have += c->debt;
	st->pending = 1;
	st->sent_ns = now;
	return HK_OK;
}

/* hk_srclimit_local - this host's bucket (shared memory). */
static int
hk_srclimit_local(int i, uint64_t now, uint64_t *retry_ns)
{
	const struct hk_conf_source *src = &hk_srclimit.conf->sources[i];
	struct hk_shm_bucket *b = hk_srclimit.srcs[i].bucket;

	if (b == NULL)
		return HK_OK;
	return hk_ratelimit_take(b, src->rate_per_s, src->burst, now,
	    retry_ns);
}

int
hk_srclimit_take(int i, uint64_t *retry_ns)
{
	const struct hk_conf_source *src = &hk_srclimit.conf->sources[i];
	struct hk_srclimit_src *st = &hk_srclimit.srcs[i];
	uint64_t now = hk_clock_mono_ns();

	if (!(src->rate_per_s > 0))
		return HK_OK;
	if (st->pending && now - st->sent_ns > hk_srclimit.timeout_ns) {
		/* No answer in time: a late one still counts its tokens. */
		st->pending = 0;
		hk_srclimit_fail(st, now, "no answer in time");
	}
	if (now < st->local_until_ns)
		return hk_srclimit_local(i, now, retry_ns);
	if (st->have > 0) {
		if (--st->have <= st->lease / 2 && now >= st->dry_until_ns
		    && hk_srclimit_call(i, now) != HK_OK)
			hk_srclimit_fail(st, now, "connection down");
		return HK_OK;
	}
	if (now < st->dry_until_ns) {
		*retry_ns = st->dry_until_ns - now;
		return HK_AGAIN;
	}
	/* Out of tokens: the next lease, which also pays the debt... */
	if (hk_srclimit_call(i, now) != HK_OK) {
		hk_srclimit_fail(st, now, "connection down");
		return hk_srclimit_local(i, now, retry_ns);
	}
	/* ...and meanwhile, a little on credit. */
	if (st->have <= -st->credit) {
		*retry_ns = (uint64_t)(1e9 / src->rate_per_s);
		return HK_AGAIN;
	}
	st->have--;
	return HK_OK;
}

int
hk_srclimit_init(const struct hk_conf *conf, struct hk_segment *seg)
{
	hk_srclimit.conf = conf;
	hk_srclimit.timeout_ns = (uint64_t)(conf->redis.timeout_ms > 0
	    ? conf->redis.timeout_ms : 1000) * 1000000u;
	hk_srclimit.srcs = calloc((size_t)conf->nsources + 1,
	    sizeof(*hk_srclimit.srcs));
	if (hk_srclimit.srcs == NULL)
		return HK_ERROR;
	for (int i = 0; i < conf->nsources; i++) {
		struct hk_srclimit_src *st = &hk_srclimit.srcs[i];

		if (!(conf->sources[i].rate_per_s > 0))
			continue;
		if (asprintf(&st->key, "%srate:src:%s", conf->redis.prefix,
		    conf->sources[i].name) < 0)
			return HK_ERROR;
		st->bucket = hk_ratelimit_bucket(hk_segment_buckets(seg),
		    HK_SHM_BUCKETS, conf->sources[i].name);
		st->lease = hk_limscript_lease(conf->sources[i].rate_per_s);
		st->credit = HK_MAX(1, st->lease / 2);
	}
	return HK_OK;
}

void
hk_srclimit_shutdown(void)
{
	for (int i = 0; hk_srclimit.srcs != NULL
	    && i < hk_srclimit.conf->nsources; i++)
		free(hk_srclimit.srcs[i].key);
	free(hk_srclimit.srcs);
	hk_srclimit.srcs = NULL;
}
