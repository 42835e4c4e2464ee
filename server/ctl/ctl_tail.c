/*
 * ctl_tail.c - hookctl tail: one line per request or delivery attempt, as
 * it happens, read straight from every process's ring.
 *
 * hookctl keeps a private reader per slot (ring.h) starting at the current
 * head, and polls every HK_CTL_TAIL_POLL_MS.  The rings are mapped
 * read-only and nothing is written anywhere, so any number of tails can run
 * without slowing hookd down; a tail that falls more than a ring behind
 * loses records and says how many.  The records of one poll are printed in
 * the order their requests began, across all processes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "core.h"
#include "ctl.h"
#include "ring.h"
#include "snapshot.h"
#include "uuid.h"

#define HK_CTL_TAIL_POLL_MS 50
#define HK_CTL_TAIL_BATCH   HK_RING_RECORDS

struct hk_ctl_tail_rec {
	struct hk_rec rec;
	unsigned      slot;
};

struct hk_ctl_tail {
	struct hk_ring_reader rd[HK_SHM_SLOTS];
	const struct hk_conf *conf;	/* names, when -c was given */
	struct hk_ctl_tail_rec *batch;
	size_t   nbatch;
	uint64_t missed;		/* reported so far */
	uint64_t slow_us;		/* 0: every record */
	const char *source;		/* NULL: every source */
	int      json;
	long     count;			/* lines to print; -1: no end */
	long     printed;
};

/* hk_ctl_tail_name - a source's or destination's name, or its index. */
static const char *
hk_ctl_tail_name(const struct hk_ctl_tail *t, int dest, unsigned i, char *buf,
    size_t len)
{
	if (i == UINT16_MAX)
		return "-";
	if (t->conf != NULL && !dest && i < (unsigned)t->conf->nsources)
		return t->conf->sources[i].name;
	if (t->conf != NULL && dest && i < (unsigned)t->conf->ndests)
		return t->conf->dests[i].name;
	snprintf(buf, len, "%u", i);
	return buf;
}

static int
hk_ctl_tail_wanted(const struct hk_ctl_tail *t, const struct hk_rec *r)
{
	char b1[16], b2[16];
	uint64_t v;

	if (r->kind != HK_REC_INGEST && r->kind != HK_REC_DELIVERY)
		return 0;
	v = r->kind == HK_REC_INGEST ? r->stage_us[HK_STAGE_TOTAL]
	    : r->stage_us[HK_STAGE_ATTEMPT];
	if (t->slow_us > 0 && v < t->slow_us)
		return 0;
	if (t->source == NULL)
		return 1;
	if (strcmp(t->source, hk_ctl_tail_name(t, 0, r->source, b1,
	    sizeof(b1))) == 0)
		return 1;
	/* A delivery matches its destination's name too. */
	return r->kind == HK_REC_DELIVERY && strcmp(t->source,
	    hk_ctl_tail_name(t, 1, r->dest, b2, sizeof(b2))) == 0;
}

static int
hk_ctl_tail_zero_id(const uint8_t id[16])
{
	for (int i = 0; i < 16; i++)
		if (id[i] != 0)
			return 0;
	return 1;
}

static void
hk_ctl_tail_flags(const struct hk_rec *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s",
	    r->flags & HK_REC_DUPLICATE ? " duplicate" : "",
	    r->flags & HK_REC_FALLBACK ? " fallback" : "",
	    r->flags & HK_REC_ERROR ? " error" : "",
	    r->flags & HK_REC_DEAD ? " dead" : "");
}

static void
hk_ctl_tail_json(const struct hk_ctl_tail *t, struct hk_ctl *ctl,
    const struct hk_ctl_tail_rec *tr)
{
	const struct hk_rec *r = &tr->rec;
	const struct hk_shm_slot *sl = hk_segment_slot(&ctl->seg, tr->slot);
	unsigned n = r->kind == HK_REC_INGEST ? HK_INGEST_STAGES
	    : HK_DELIVERY_STAGES;
	char when[40], id[HK_UUID_STRLEN], b[16], flags[64], *f, *sp;
	int first = 1;

	hk_clock_iso8601(r->ts_us, when, sizeof(when));
	printf("{\"time\":\"%s\",\"role\":\"%s\",\"index\":%u,\"slot\":%u,"
	    "\"kind\":\"%s\",\"status\":%u,\"source\":", when,
	    hk_segment_role_name(sl->role), (unsigned)sl->index, tr->slot,
	    r->kind == HK_REC_INGEST ? "ingest" : "delivery",
	    (unsigned)r->status);
	hk_snapshot_json_str(stdout, hk_ctl_tail_name(t, 0, r->source, b,
	    sizeof(b)));
	if (r->kind == HK_REC_DELIVERY) {
		printf(",\"destination\":");
		hk_snapshot_json_str(stdout, hk_ctl_tail_name(t, 1, r->dest, b,
		    sizeof(b)));
	}
	if (hk_ctl_tail_zero_id(r->id)) {
		printf(",\"id\":null");
	} else {
		hk_uuid_format(r->id, id);
		printf(",\"id\":\"%s\"", id);
	}
	printf(",\"bytes\":%" PRIu32 ",\"flags\":[", r->bytes);
	hk_ctl_tail_flags(r, flags, sizeof(flags));
	for (f = flags; *f == ' '; f = sp) {
		f++;
		sp = f + strcspn(f, " ");
		printf("%s\"%.*s\"", first ? "" : ",", (int)(sp - f), f);
		first = 0;
	}
	printf("],\"ms\":{");
	for (unsigned i = 0; i < n; i++)
		printf("%s\"%s\":%.3f", i ? "," : "",
		    hk_snapshot_stage_name(r->kind, i),
		    (double)r->stage_us[i] / 1e3);
	printf("}}\n");
}

static void
hk_ctl_tail_text(const struct hk_ctl_tail *t, struct hk_ctl *ctl,
    const struct hk_ctl_tail_rec *tr)
{
	const struct hk_rec *r = &tr->rec;
	const struct hk_shm_slot *sl = hk_segment_slot(&ctl->seg, tr->slot);
	unsigned n = r->kind == HK_REC_INGEST ? HK_INGEST_STAGES
	    : HK_DELIVERY_STAGES;
	char when[40], id[HK_UUID_STRLEN], who[32], name[80], b[16], b2[16];
	char flags[64];

	hk_clock_iso8601(r->ts_us, when, sizeof(when));
	snprintf(who, sizeof(who), "%s/%u", hk_segment_role_name(sl->role),
	    (unsigned)sl->index);
	if (r->kind == HK_REC_INGEST)
		snprintf(name, sizeof(name), "%s", hk_ctl_tail_name(t, 0,
		    r->source, b, sizeof(b)));
	else
		snprintf(name, sizeof(name), "%s>%s", hk_ctl_tail_name(t, 0,
		    r->source, b, sizeof(b)), hk_ctl_tail_name(t, 1, r->dest,
		    b2, sizeof(b2)));
	if (hk_ctl_tail_zero_id(r->id))
		snprintf(id, sizeof(id), "-");
	else
		hk_uuid_format(r->id, id);
	/* The time of day is enough on a live view; the date is in --json. */
	printf("%-15.15s %-11s %-8s %3u %-16s %-36s %8" PRIu32 "B ", when + 11,
	    who, r->kind == HK_REC_INGEST ? "ingest" : "delivery",
	    (unsigned)r->status, name, id, r->bytes);
	for (unsigned i = 0; i < n; i++)
		printf(" %s %.3f", hk_snapshot_stage_name(r->kind, i),
		    (double)r->stage_us[i] / 1e3);
	hk_ctl_tail_flags(r, flags, sizeof(flags));
	printf(" ms%s\n", flags);
}

static int
hk_ctl_tail_cmp(const void *a, const void *b)
{
	const struct hk_ctl_tail_rec *x = a, *y = b;

	if (x->rec.ts_us != y->rec.ts_us)
		return x->rec.ts_us < y->rec.ts_us ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* hk_ctl_tail_poll - read every ring once; print; HK_OK to go on. */
static int
hk_ctl_tail_poll(struct hk_ctl_tail *t, struct hk_ctl *ctl)
{
	static struct hk_rec buf[256];
	uint64_t missed = 0;
	size_t n, i;

	t->nbatch = 0;
	for (unsigned s = 0; s < HK_SHM_SLOTS;
	    s++) {
		const struct hk_shm_slot *sl = hk_segment_slot(&ctl->seg, s);
		size_t room;

		/* What does not fit waits in the ring for the next poll. */
		while ((room = HK_CTL_TAIL_BATCH * 4 - t->nbatch) > 0) {
			n = hk_ring_read(&t->rd[s], &sl->ring, buf,
			    HK_MIN(room, HK_NELEM(buf)));
			for (i = 0; i < n; i++) {
				t->batch[t->nbatch].rec = buf[i];
				t->batch[t->nbatch].slot = s;
				t->nbatch++;
			}
			if (n < HK_MIN(room, HK_NELEM(buf)))
				break;
		}
		missed += t->rd[s].missed;
	}
	qsort(t->batch, t->nbatch, sizeof(*t->batch), hk_ctl_tail_cmp);
	if (missed > t->missed) {
		/* To stderr under --json, so that stdout stays JSON lines. */
		fprintf(t->json ? stderr : stdout, "... %" PRIu64 " records "
		    "missed\n", missed - t->missed);
		t->missed = missed;
	}
	for (i = 0; i < t->nbatch; i++) {
		if (!hk_ctl_tail_wanted(t, &t->batch[i].rec))
			continue;
		if (t->json)
			hk_ctl_tail_json(t, ctl, &t->batch[i]);
		else
			hk_ctl_tail_text(t, ctl, &t->batch[i]);
		if (t->count > 0 && ++t->printed >= t->count)
			break;
	}
	fflush(stdout);
	return t->count > 0 && t->printed >= t->count ? HK_AGAIN : HK_OK;
}

int
hk_ctl_tail(struct hk_ctl *ctl, int argc, char **argv)
{
	struct hk_ctl_tail t;
	char *end;
	double ms;

	memset(&t, 0, sizeof(t));
	t.count = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			t.json = 1;
		} else if (strcmp(argv[i], "--slow") == 0 && i + 1 < argc) {
			ms = strtod(argv[++i], &end);
			if (*end != '\0' || !(ms >= 0))
				return HK_CTL_USAGE;
			t.slow_us = (uint64_t)(ms * 1000.0);
		} else if (strcmp(argv[i], "--source") == 0 && i + 1 < argc) {
			t.source = argv[++i];
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			t.count = strtol(argv[++i], &end, 10);
			if (*end != '\0' || t.count < 1)
				return HK_CTL_USAGE;
		} else {
			return HK_CTL_USAGE;
		}
	}
	if (ctl->conf_file != NULL && hk_ctl_conf(ctl) == NULL)
		return HK_CTL_FAIL;
	t.conf = ctl->conf;
	if (hk_ctl_attach(ctl) != HK_OK)
		return HK_CTL_FAIL;
	t.batch = calloc(HK_CTL_TAIL_BATCH * 4, sizeof(*t.batch));
	if (t.batch == NULL) {
		fprintf(stderr, "hookctl: out of memory\n");
		return HK_CTL_FAIL;
	}
	/* From the present on: a tail shows what happens, not history. */
	for (unsigned s = 0; s < HK_SHM_SLOTS; s++)
		hk_ring_reader_init(&t.rd[s],
		    &hk_segment_slot(&ctl->seg, s)->ring, 0);
	/*
	 * Said on stderr once every reader stands at its head, so a script
	 * can wait for it before it sends, and stdout stays data.
	 */
	fprintf(stderr, "hookctl tail: following the rings of instance %s\n",
	    ctl->seg.hdr->instance);
	for (unsigned n = 1; hk_ctl_tail_poll(&t, ctl) == HK_OK; n++) {
		hk_ctl_sleep_us(HK_CTL_TAIL_POLL_MS * 1000u);
		if (n % (1000 / HK_CTL_TAIL_POLL_MS) != 0 || !hk_ctl_follow(ctl))
			continue;
		/* hookd restarted: its new rings, from their start. */
		for (unsigned s = 0; s < HK_SHM_SLOTS; s++)
			hk_ring_reader_init(&t.rd[s],
			    &hk_segment_slot(&ctl->seg, s)->ring, 1);
		t.missed = 0;
		fprintf(stderr, "hookctl tail: hookd restarted; following its "
		    "new segment\n");
	}
	free(t.batch);
	return HK_CTL_OK;
}
