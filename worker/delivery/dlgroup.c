/*
 * dlgroup.c - the delivery worker's side of the consumer group "delivery"
 * on the Redis stream (the protocol is described in dlgroup.h): reads
 * entries, hands each to the dispatcher as an event, acks it once the
 * dispatcher has decided it, claims the entries of dead consumers, and
 * trims what everybody has acknowledged.
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
#include "dlentry.h"
#include "dlgroup.h"
#include "dlstore.h"
#include "log.h"

#define HK_DLGROUP_BLOCK        "1000"	/* HK_DLGROUP_BLOCK_MS, as text */
#define HK_DLGROUP_READ_MAX     64
#define HK_DLGROUP_GATHER_MS    2	/* after a short read, see below */
#define HK_DLGROUP_ACK_MAX      512
#define HK_DLGROUP_KEEP_MS      10000	/* entries this young are not trimmed */
#define HK_DLGROUP_REAP_MS      60000	/* how often gone consumers are looked for */
#define HK_DLGROUP_GONE_MS      3600000	/* idle this long with nothing pending */
#define HK_DLGROUP_FRESH_MS     1000	/* see hk_dlgroup_fresh */
#define HK_DLGROUP_SKEW_MS      100
#define HK_DLGROUP_SETTLE_MS    5000

TAILQ_HEAD(hk_dl_eventq, hk_dl_event);

static struct {
	const struct hk_conf *conf;
	struct hk_dlredis    *rd;	/* XREADGROUP only */
	struct hk_dlredis    *cmd;	/* everything else */
	const char           *stream;
	char                  consumer[192];	/* host/instance/delivery-N */
	int                   group_ready;
	int                   creating;
	int                   reading;	/* an XREADGROUP is out */
	int                   asked;	/* its COUNT */
	int                   gathering;	/* gather_ev is pending */
	uint64_t              read_ns;
	uint64_t              rd_up_ns;	/* the read connection came up */
	int64_t               fresh_ms;	/* see hk_dlgroup_fresh */
	int                   backlog;	/* 1: re-reading own pending entries */
	char                  pend_id[48];	/* where the re-read is */
	char                  claim_cursor[48];
	int                   claiming;
	int                   trimming;
	int                   reaping;
	uint64_t              reaped_ns;	/* the last look for gone consumers */
	uint64_t              claim_idle_ms;
	struct hk_dl_eventq   entries;	/* in flight */
	int                   nentries;
	char                 *acks[HK_DLGROUP_ACK_MAX];
	int                   nacks;
	int                   stopping;
	struct event         *ack_ev;
	struct event         *gather_ev;
} hk_dlgroup;

static void hk_dlgroup_group_create(void);
static void hk_dlgroup_ack(const char *id);
static void hk_dlgroup_ack_cb(evutil_socket_t fd, short what, void *arg);
static void hk_dlgroup_gather_cb(evutil_socket_t fd, short what, void *arg);

int
hk_dlgroup_init(struct hk_child *c, struct hk_dlredis *rd,
    struct hk_dlredis *cmd, const char *stream)
{
	const struct hk_conf *conf = c->conf;
	int maxto = conf->delivery.timeout_ms;
	char host[128];

	hk_dlgroup.conf = conf;
	hk_dlgroup.rd = rd;
	hk_dlgroup.cmd = cmd;
	hk_dlgroup.stream = stream;
	TAILQ_INIT(&hk_dlgroup.entries);
	for (int d = 0; d < conf->ndests; d++)
		maxto = HK_MAX(maxto, conf->dests[d].timeout_ms);
	hk_dlgroup.claim_idle_ms = 2 * (uint64_t)maxto;
	hk_dlgroup.fresh_ms = HK_MIN(HK_DLGROUP_FRESH_MS,
	    conf->redis.timeout_ms / 2);
	/*
	 * Unique per host and process, the same for a worker respawned into
	 * its slot: it re-reads its own pending entries at start, and must
	 * find its predecessor's, never those of a namesake on another host.
	 */
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(hk_dlgroup.consumer, sizeof(hk_dlgroup.consumer),
	    "%s/%s/delivery-%d", host, conf->instance, c->index);
	snprintf(hk_dlgroup.pend_id, sizeof(hk_dlgroup.pend_id), "0");
	snprintf(hk_dlgroup.claim_cursor, sizeof(hk_dlgroup.claim_cursor),
	    "0-0");
	hk_dlgroup.backlog = 1;
	hk_dlgroup.ack_ev = event_new(c->base, -1, 0, hk_dlgroup_ack_cb, NULL);
	hk_dlgroup.gather_ev = evtimer_new(c->base, hk_dlgroup_gather_cb, NULL);
	if (hk_dlgroup.ack_ev == NULL || hk_dlgroup.gather_ev == NULL)
		return HK_ERROR;
	return HK_OK;
}

/* hk_dlgroup_nogroup - Redis lost the group (restarted empty). */
static int
hk_dlgroup_nogroup(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ERROR
	    || strncmp(r->str, "NOGROUP", 7) != 0)
		return 0;
	if (hk_dlgroup.group_ready)
		hk_log_warn("redis: consumer group \"delivery\" is gone (Redis "
		    "restarted empty?); recreating it, unfinished deliveries "
		    "continue from PostgreSQL");
	hk_dlgroup.group_ready = 0;
	hk_dlgroup.backlog = 0;
	hk_dlgroup_group_create();
	return 1;
}

static void
hk_dlgroup_group_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;

	hk_dlgroup.creating = 0;
	if (rep == NULL)
		return;
	if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "BUSYGROUP",
	    9) != 0) {
		hk_log_error("redis: cannot create the consumer group: %.200s",
		    rep->str);
		return;
	}
	hk_dlgroup.group_ready = 1;
	hk_dlgroup_read();
}

/* hk_dlgroup_group_create - from ID 0 with MKSTREAM (see dlgroup.h). */
static void
hk_dlgroup_group_create(void)
{
	const char *argv[6] = { "XGROUP", "CREATE", hk_dlgroup.stream,
	    "delivery", "0", "MKSTREAM" };
	size_t lens[6];

	if (hk_dlgroup.creating)
		return;
	for (int i = 0; i < 6; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(hk_dlgroup.cmd, hk_dlgroup_group_done, NULL, 6,
	    argv, lens) == HK_OK)
		hk_dlgroup.creating = 1;
}

void
hk_dlgroup_up(struct hk_dlredis *r)
{
	if (r == hk_dlgroup.cmd) {
		hk_dlgroup_group_create();
		if (hk_dlgroup.nacks > 0)
			event_active(hk_dlgroup.ack_ev, EV_TIMEOUT, 1);
	} else {
		/*
		 * A read whose answer was lost with the old connection (Redis
		 * hung, then ran it after we gave up) left its entries pending
		 * under our name: read our own pending entries again before
		 * new ones, as at start, instead of leaving them to XAUTOCLAIM
		 * after twice the delivery timeout.  Those still in flight
		 * here are skipped.
		 */
		hk_dlgroup.backlog = 1;
		snprintf(hk_dlgroup.pend_id, sizeof(hk_dlgroup.pend_id), "0");
		hk_dlgroup.rd_up_ns = hk_clock_mono_ns();
		hk_dlgroup_read();
	}
}

/*
 * hk_dlgroup_fresh - may the event of entry id be attempted before
 * anything of it is written (dlroute.c)?  Only the first copy of an event
 * may: a second entry with the same event id must find the first one's
 * rows and not be sent again.  Second copies come from the inbox mover,
 * from an ingest whose script ran after it had given up waiting (both at
 * least redis.timeout_ms after the event's arrival), from the ingest's
 * redo log after Redis lost its data (after Redis came back, so after this
 * worker's read connection came back too) and, with redis.replicas_ack,
 * from the inbox mover as soon as the next second.  So an entry is fresh
 * when it was read as new ('>'), with redis.replicas_ack off, at least
 * HK_DLGROUP_SETTLE_MS after the read connection came up, and was added
 * to the stream within fresh_ms (1 s, or half of redis.timeout_ms) of the
 * event's arrival, by the stream's clock (its entry id) against the
 * ingest's (received_at), allowing HK_DLGROUP_SKEW_MS of skew.
 */
static int
hk_dlgroup_fresh(const char *id, const struct hk_dl_event *ev)
{
	int64_t lag = (int64_t)strtoull(id, NULL, 10)
	    - (int64_t)(ev->received_us / 1000u);

	return hk_dlgroup.conf->redis.replicas_ack == 0
	    && hk_dlgroup.rd_up_ns != 0 && hk_clock_mono_ns()
	    - hk_dlgroup.rd_up_ns >= HK_DLGROUP_SETTLE_MS * 1000000ull
	    && lag >= -HK_DLGROUP_SKEW_MS && lag <= hk_dlgroup.fresh_ms;
}

/* hk_dlgroup_in_flight - is this entry already being handled here? */
static int
hk_dlgroup_in_flight(const char *id)
{
	struct hk_dl_event *ev;

	TAILQ_FOREACH(ev, &hk_dlgroup.entries, link)
		if (strcmp(ev->entry, id) == 0)
			return 1;
	return 0;
}

/*
 * hk_dlgroup_entry - one stream entry [id, [field, value, ...]]; new: read
 * with '>', neither a re-read of our own nor claimed.
 */
static void
hk_dlgroup_entry(const redisReply *e, int new)
{
	const redisReply *id, *f;
	struct hk_dl_event *ev;
	int rc;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 2
	    || (id = e->element[0])->type != REDIS_REPLY_STRING
	    || id->len >= sizeof(ev->entry))
		return;
	/* A new entry cannot be in flight here: only a re-read or a claimed
	 * one may, and looking costs a comparison per entry in flight. */
	if (!new && hk_dlgroup_in_flight(id->str))
		return;
	f = e->element[1];
	if (f->type != REDIS_REPLY_ARRAY) {
		hk_dlgroup_ack(id->str);	/* deleted meanwhile */
		return;
	}
	if ((rc = hk_dlentry_decode(id, f, &ev)) == HK_ERROR) {
		hk_log_error("delivery: stream entry %s is malformed; "
		    "acknowledged and skipped", id->str);
		hk_dlgroup_ack(id->str);
		return;
	}
	if (rc != HK_OK)
		return;			/* stays pending; claimed later */
	ev->fresh = new && hk_dlgroup_fresh(id->str, ev);
	ev->refs++;		/* the list's */
	TAILQ_INSERT_TAIL(&hk_dlgroup.entries, ev, link);
	hk_dlgroup.nentries++;
	hk_dlroute_event(ev);
}

/* hk_dlgroup_entries - the entries of one stream in a reply. */
static size_t
hk_dlgroup_entries(const redisReply *list, char *last, size_t lastlen,
    int new)
{
	size_t n = 0;

	if (list == NULL || list->type != REDIS_REPLY_ARRAY)
		return 0;
	for (size_t i = 0; i < list->elements; i++, n++) {
		const redisReply *e = list->element[i];

		if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1
		    && e->element[0]->type == REDIS_REPLY_STRING && last)
			snprintf(last, lastlen, "%s", e->element[0]->str);
		hk_dlgroup_entry(e, new);
	}
	return n;
}

static void
hk_dlgroup_read_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	const redisReply *list = NULL;
	size_t n;

	hk_dlgroup.reading = 0;
	if (rep == NULL || hk_dlgroup.stopping)
		return;
	if (hk_dlgroup_nogroup(rep))
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		hk_log_warn("redis: XREADGROUP failed: %.200s", rep->str);
		hk_dlredis_drop(r, "XREADGROUP failed");
		return;
	}
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0
	    && rep->element[0]->type == REDIS_REPLY_ARRAY
	    && rep->element[0]->elements == 2)
		list = rep->element[0]->element[1];
	n = hk_dlgroup_entries(list, hk_dlgroup.backlog
	    ? hk_dlgroup.pend_id : NULL, sizeof(hk_dlgroup.pend_id),
	    !hk_dlgroup.backlog);
	if (hk_dlgroup.backlog && n == 0)
		hk_dlgroup.backlog = 0;	/* own pending entries done */
	/*
	 * A blocked read returns as soon as one entry is added, so under a
	 * steady load each read would bring one or two: a round trip, a reply
	 * and a statement's worth of work each.  After a short read the next
	 * one waits HK_DLGROUP_GATHER_MS, which lets the entries of that
	 * time come as one reply and one batch, for at most that much latency.
	 */
	if (!hk_dlgroup.backlog && n > 0 && (int)n < hk_dlgroup.asked) {
		struct timeval tv = { 0, HK_DLGROUP_GATHER_MS * 1000 };

		hk_dlgroup.gathering = 1;
		evtimer_add(hk_dlgroup.gather_ev, &tv);
		return;
	}
	hk_dlgroup_read();
}

static void
hk_dlgroup_gather_cb(evutil_socket_t fd, short what, void *arg)
{
	hk_dlgroup.gathering = 0;
	hk_dlgroup_read();
}

/* hk_dlgroup_read - ask for more entries when there is room for them. */
void
hk_dlgroup_read(void)
{
	const char *argv[11];
	size_t lens[11];
	char count[16];
	int n = 0, room = hk_dlgroup.conf->delivery.concurrency
	    - hk_dlgroup.nentries;

	if (hk_dlgroup.reading || hk_dlgroup.gathering || hk_dlgroup.stopping
	    || !hk_dlgroup.group_ready || !hk_dlgroup.rd->up || room <= 0
	    || !hk_dlstore_up())
		return;
	hk_dlgroup.asked = HK_MIN(room, HK_DLGROUP_READ_MAX);
	snprintf(count, sizeof(count), "%d", hk_dlgroup.asked);
	argv[n++] = "XREADGROUP", argv[n++] = "GROUP", argv[n++] = "delivery";
	argv[n++] = hk_dlgroup.consumer;
	argv[n++] = "COUNT", argv[n++] = count;
	if (!hk_dlgroup.backlog)
		argv[n++] = "BLOCK", argv[n++] = HK_DLGROUP_BLOCK;
	argv[n++] = "STREAMS", argv[n++] = hk_dlgroup.stream;
	argv[n++] = hk_dlgroup.backlog ? hk_dlgroup.pend_id : ">";
	for (int i = 0; i < n; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(hk_dlgroup.rd, hk_dlgroup_read_done, NULL, n,
	    argv, lens) == HK_OK) {
		hk_dlgroup.reading = 1;
		hk_dlgroup.read_ns = hk_clock_mono_ns();
	}
}

/* hk_dlgroup_ack - queue an XACK, sent with the others on the next turn. */
static void
hk_dlgroup_ack(const char *id)
{
	char *copy;

	if (hk_dlgroup.nacks >= HK_DLGROUP_ACK_MAX
	    || (copy = strdup(id)) == NULL)
		return;			/* stays pending; claimed later */
	hk_dlgroup.acks[hk_dlgroup.nacks++] = copy;
	event_active(hk_dlgroup.ack_ev, EV_TIMEOUT, 1);
}

static void
hk_dlgroup_ack_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;

	if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
		hk_log_warn("redis: XACK failed: %.200s", rep->str);
}

/* hk_dlgroup_ack_cb - one XACK for every entry decided since the last. */
static void
hk_dlgroup_ack_cb(evutil_socket_t fd, short what, void *arg)
{
	const char *argv[HK_DLGROUP_ACK_MAX + 3];
	size_t lens[HK_DLGROUP_ACK_MAX + 3];
	int n = hk_dlgroup.nacks;

	if (n == 0 || !hk_dlgroup.cmd->up)
		return;		/* kept until the connection is back */
	argv[0] = "XACK", argv[1] = hk_dlgroup.stream, argv[2] = "delivery";
	for (int i = 0; i < n; i++)
		argv[i + 3] = hk_dlgroup.acks[i];
	for (int i = 0; i < n + 3; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(hk_dlgroup.cmd, hk_dlgroup_ack_done, NULL, n + 3,
	    argv, lens) != HK_OK)
		return;
	for (int i = 0; i < n; i++)
		free(hk_dlgroup.acks[i]);
	hk_dlgroup.nacks = 0;
}

/* hk_dlgroup_done - the dispatcher decided an entry (see dispatch.h). */
void
hk_dlgroup_done(struct hk_dl_event *ev, int ok)
{
	if (ok)
		hk_dlgroup_ack(ev->entry);
	else
		hk_log_warn("delivery: entry %s (event %s) left pending: its "
		    "rows could not be written", ev->entry, ev->id);
	TAILQ_REMOVE(&hk_dlgroup.entries, ev, link);
	hk_dlgroup.nentries--;
	hk_dispatch_event_put(ev);
	hk_dlgroup_read();
}

/* hk_dlgroup_claim_done - entries of dead consumers, now ours. */
static void
hk_dlgroup_claim_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	size_t n;

	hk_dlgroup.claiming = 0;
	if (rep == NULL || hk_dlgroup_nogroup(rep) || hk_dlgroup.stopping)
		return;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2
	    || rep->element[0]->type != REDIS_REPLY_STRING)
		return;
	snprintf(hk_dlgroup.claim_cursor, sizeof(hk_dlgroup.claim_cursor),
	    "%s", rep->element[0]->str);
	n = hk_dlgroup_entries(rep->element[1], NULL, 0, 0);
	if (n > 0)
		hk_log_info("delivery: claimed %zu entries idle for more than "
		    "%llu ms", n, (unsigned long long)hk_dlgroup.claim_idle_ms);
}

/* hk_dlgroup_claim - XAUTOCLAIM what has been idle for 2 x the timeout. */
void
hk_dlgroup_claim(void)
{
	char idle[24], count[16];
	const char *argv[8] = { "XAUTOCLAIM", hk_dlgroup.stream, "delivery",
	    hk_dlgroup.consumer, idle, hk_dlgroup.claim_cursor, "COUNT",
	    count };
	size_t lens[8];
	int room = hk_dlgroup.conf->delivery.concurrency
	    - hk_dlgroup.nentries;

	if (hk_dlgroup.claiming || room <= 0 || !hk_dlstore_up())
		return;
	snprintf(idle, sizeof(idle), "%llu",
	    (unsigned long long)hk_dlgroup.claim_idle_ms);
	snprintf(count, sizeof(count), "%d", HK_MIN(room, HK_DLGROUP_READ_MAX));
	for (int i = 0; i < 8; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(hk_dlgroup.cmd, hk_dlgroup_claim_done, NULL, 8,
	    argv, lens) == HK_OK)
		hk_dlgroup.claiming = 1;
}

static void
hk_dlgroup_trim_done(struct hk_dlredis *r, void *reply, void *arg)
{
	hk_dlgroup.trimming = 0;
}

/*
 * hk_dlgroup_trim_at - XTRIM MINID id: only what is below id goes, and
 * nothing younger than HK_DLGROUP_KEEP_MS, so that the latest entries can
 * still be looked at (XRANGE) a moment after they were delivered.
 */
static void
hk_dlgroup_trim_at(const char *id)
{
	uint64_t floor_ms = hk_clock_real_ms() - HK_DLGROUP_KEEP_MS;
	char keep[32];
	const char *argv[4] = { "XTRIM", hk_dlgroup.stream, "MINID", id };
	size_t lens[4];

	if (strtoull(id, NULL, 10) > floor_ms) {
		snprintf(keep, sizeof(keep), "%llu-0",
		    (unsigned long long)floor_ms);
		argv[3] = keep;
	}

	for (int i = 0; i < 4; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(hk_dlgroup.cmd, hk_dlgroup_trim_done, NULL, 4,
	    argv, lens) != HK_OK)
		hk_dlgroup.trimming = 0;
}

/* hk_dlgroup_groups_done - XINFO GROUPS: the last-delivered-id. */
static void
hk_dlgroup_groups_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	const redisReply *g, *name, *last;

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
		hk_dlgroup.trimming = 0;
		return;
	}
	for (size_t i = 0; i < rep->elements; i++) {
		g = rep->element[i];
		if (g->type != REDIS_REPLY_ARRAY)
			continue;
		name = hk_dlentry_field(g, "name");
		last = hk_dlentry_field(g, "last-delivered-id");
		if (name != NULL && last != NULL
		    && strcmp(name->str, "delivery") == 0) {
			hk_dlgroup_trim_at(last->str);
			return;
		}
	}
	hk_dlgroup.trimming = 0;
}

/* hk_dlgroup_pending_done - XPENDING summary: [count, min, max, ...]. */
static void
hk_dlgroup_pending_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	const char *argv[3] = { "XINFO", "GROUPS", hk_dlgroup.stream };
	size_t lens[3];

	if (rep == NULL || hk_dlgroup_nogroup(rep)
	    || rep->type != REDIS_REPLY_ARRAY || rep->elements < 2
	    || rep->element[0]->type != REDIS_REPLY_INTEGER) {
		hk_dlgroup.trimming = 0;
		return;
	}
	if (rep->element[0]->integer > 0
	    && rep->element[1]->type == REDIS_REPLY_STRING) {
		hk_dlgroup_trim_at(rep->element[1]->str);
		return;
	}
	for (int i = 0; i < 3; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(r, hk_dlgroup_groups_done, NULL, 3, argv, lens)
	    != HK_OK)
		hk_dlgroup.trimming = 0;
}

/*
 * hk_dlgroup_consumers_done - XINFO CONSUMERS: forget the consumers gone
 * for an hour with nothing pending (workers of hosts or instances that no
 * longer run).  A live one so forgotten is made again by its next read;
 * one with entries pending is left for XAUTOCLAIM to empty first.
 */
static void
hk_dlgroup_consumers_done(struct hk_dlredis *r, void *reply, void *arg)
{
	redisReply *rep = reply;
	const redisReply *name, *pending, *idle;
	const char *argv[5] = { "XGROUP", "DELCONSUMER", hk_dlgroup.stream,
	    "delivery", NULL };
	size_t lens[5];

	hk_dlgroup.reaping = 0;
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < rep->elements; i++) {
		if (rep->element[i]->type != REDIS_REPLY_ARRAY)
			continue;
		name = hk_dlentry_field(rep->element[i], "name");
		pending = hk_dlentry_field(rep->element[i], "pending");
		idle = hk_dlentry_field(rep->element[i], "idle");
		if (name == NULL || pending == NULL || idle == NULL
		    || pending->type != REDIS_REPLY_INTEGER
		    || idle->type != REDIS_REPLY_INTEGER
		    || pending->integer != 0 || idle->integer < HK_DLGROUP_GONE_MS
		    || strcmp(name->str, hk_dlgroup.consumer) == 0)
			continue;
		hk_log_info("redis: consumer %s has been gone for %lld s with "
		    "nothing pending; removed from the group", name->str,
		    (long long)idle->integer / 1000);
		argv[4] = name->str;
		for (int k = 0; k < 5; k++)
			lens[k] = strlen(argv[k]);
		hk_dlredis_cmd(r, NULL, NULL, 5, argv, lens);
	}
}

/* hk_dlgroup_reap - look for gone consumers, at most once a minute. */
static void
hk_dlgroup_reap(void)
{
	const char *argv[4] = { "XINFO", "CONSUMERS", hk_dlgroup.stream,
	    "delivery" };
	size_t lens[4];
	uint64_t now = hk_clock_mono_ns();

	if (hk_dlgroup.reaping || (hk_dlgroup.reaped_ns != 0 && now
	    - hk_dlgroup.reaped_ns < HK_DLGROUP_REAP_MS * 1000000ull))
		return;
	hk_dlgroup.reaped_ns = now;
	for (int i = 0; i < 4; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(hk_dlgroup.cmd, hk_dlgroup_consumers_done, NULL, 4,
	    argv, lens) == HK_OK)
		hk_dlgroup.reaping = 1;
}

void
hk_dlgroup_trim(void)
{
	const char *argv[3] = { "XPENDING", hk_dlgroup.stream, "delivery" };
	size_t lens[3];

	hk_dlgroup_reap();
	if (hk_dlgroup.trimming)
		return;
	for (int i = 0; i < 3; i++)
		lens[i] = strlen(argv[i]);
	if (hk_dlredis_cmd(hk_dlgroup.cmd, hk_dlgroup_pending_done, NULL, 3,
	    argv, lens) == HK_OK)
		hk_dlgroup.trimming = 1;
}

/* hk_dlgroup_ready - the group exists: claims and trims make sense. */
int
hk_dlgroup_ready(void)
{
	return hk_dlgroup.group_ready;
}

/* hk_dlgroup_acks - XACKs queued and not yet sent. */
int
hk_dlgroup_acks(void)
{
	return hk_dlgroup.nacks;
}

/* hk_dlgroup_stop - no new entries: reads and claims end here. */
void
hk_dlgroup_stop(void)
{
	hk_dlgroup.stopping = 1;
}

/* hk_dlgroup_shutdown - what is unfinished stays pending in the group. */
void
hk_dlgroup_shutdown(void)
{
	while (!TAILQ_EMPTY(&hk_dlgroup.entries)) {
		struct hk_dl_event *ev = TAILQ_FIRST(&hk_dlgroup.entries);

		TAILQ_REMOVE(&hk_dlgroup.entries, ev, link);
		hk_dispatch_event_put(ev);
	}
	for (int i = 0; i < hk_dlgroup.nacks; i++)
		free(hk_dlgroup.acks[i]);
	if (hk_dlgroup.ack_ev != NULL)
		event_free(hk_dlgroup.ack_ev);
	if (hk_dlgroup.gather_ev != NULL)
		event_free(hk_dlgroup.gather_ev);
	memset(&hk_dlgroup, 0, sizeof(hk_dlgroup));
}
