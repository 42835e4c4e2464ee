/*
 * snapshot.c - publish, read and print the stats snapshot (snapshot.h).
 *
 * The region's first word is a seqlock sequence; seqlock.c does the
 * ordering.  A reader copies in two steps: the fixed header first, to learn
 * how many bytes are in use, then header and groups together.  The second
 * copy is the one that counts, and it is checked against itself: if the
 * writer changed the number of groups in between (a reset, a respawned
 * stats process with another configuration), the reader starts over.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "core.h"
#include "seqlock.h"
#include "snapshot.h"

#define HK_SNAP_READ_TRIES  64	/* copies that may overlap a write */
#define HK_SNAP_READ_ROUNDS 4	/* header-then-body rounds */

/*
 * hk_snapshot_lock - the seqlock at the start of the region.
 *
 * The region's first words hold a struct hk_seqlock; only seqlock.c ever
 * accesses them, always as that struct, so they have no other type.
 */
static inline struct hk_seqlock *
hk_snapshot_lock(struct hk_snap_region *r)
{
	return (struct hk_seqlock *)(void *)r->seqlock;
}

static inline const struct hk_seqlock *
hk_snapshot_clock(const struct hk_snap_region *r)
{
	return (const struct hk_seqlock *)(const void *)r->seqlock;
}

_Static_assert(sizeof(struct hk_seqlock)
    <= sizeof(((struct hk_snap_region *)0)->seqlock)
    && _Alignof(struct hk_seqlock) <= _Alignof(uint64_t),
    "the seqlock fits the region's first words");

void
hk_snapshot_publish(struct hk_snap_region *r, const struct hk_snapshot *s)
{
	hk_seqlock_write(hk_snapshot_lock(r), &r->snap, s, (size_t)s->used);
}

/* hk_snapshot_check - is h a header this reader understands? */
static int
hk_snapshot_check(const struct hk_snapshot *h, size_t outlen, char *err,
    size_t errlen)
{
	if (h->magic == 0 && h->version == 0)
		return HK_AGAIN;		/* nothing published yet */
	if (h->magic != HK_SNAP_MAGIC || h->version != HK_SNAP_VERSION
	    || h->header_size != sizeof(*h)
	    || h->group_size != sizeof(struct hk_snap_group)) {
		snprintf(err, errlen, "the stats snapshot has version %" PRIu32
		    ", this hookctl reads version %u: mismatched hookd and "
		    "hookctl?", h->version, HK_SNAP_VERSION);
		return HK_ERROR;
	}
	if (h->ngroups > HK_SNAP_MAX_GROUPS
	    || h->used != HK_SNAP_BYTES(h->ngroups) || h->used > outlen) {
		snprintf(err, errlen, "the stats snapshot is inconsistent "
		    "(%" PRIu32 " groups, %" PRIu64 " bytes)", h->ngroups,
		    h->used);
		return HK_ERROR;
	}
	return HK_OK;
}

int
hk_snapshot_read(const struct hk_snap_region *r, struct hk_snapshot *out,
    size_t outlen, char *err, size_t errlen)
{
	struct hk_snapshot h;
	size_t used;
	int    rc, round;

	snprintf(err, errlen, "the stats process is rewriting the snapshot "
	    "too often to copy it");
	if (outlen < sizeof(h))
		return HK_ERROR;
	for (round = 0; round < HK_SNAP_READ_ROUNDS; round++) {
		if (hk_seqlock_read(hk_snapshot_clock(r), &h, &r->snap,
		    sizeof(h), HK_SNAP_READ_TRIES) != HK_OK)
			continue;
		if ((rc = hk_snapshot_check(&h, outlen, err, errlen)) != HK_OK)
			return rc;
		used = (size_t)h.used;
		if (hk_seqlock_read(hk_snapshot_clock(r), out, &r->snap, used,
		    HK_SNAP_READ_TRIES) != HK_OK)
			continue;
		/* A consistent copy of another size: the groups changed. */
		if (out->used != used)
			continue;
		if ((rc = hk_snapshot_check(out, outlen, err, errlen)) != HK_OK)
			return rc;
		return HK_OK;
	}
	return HK_AGAIN;
}

const char *
hk_snapshot_stage_name(int kind, unsigned stage)
{
	static const char *ingest[HK_INGEST_STAGES] = { "receive", "verify",
	    "parse", "enqueue", "respond", "total" };
	static const char *delivery[HK_DELIVERY_STAGES] = { "queue", "store",
	    "connect", "ttfb", "attempt", "ack", "e2e" };

	if (kind == HK_REC_INGEST && stage < HK_INGEST_STAGES)
		return ingest[stage];
	if (kind == HK_REC_DELIVERY && stage < HK_DELIVERY_STAGES)
		return delivery[stage];
	return "?";
}

const char *
hk_snapshot_window_name(unsigned w)
{
	static const char *names[HK_SNAP_WINDOWS] = { "1s", "10s", "60s",
	    "all" };

	return w < HK_SNAP_WINDOWS ? names[w] : "?";
}

void
hk_snapshot_json_str(FILE *fp, const char *s)
{
	const unsigned char *p;

	fputc('"', fp);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"':  fputs("\\\"", fp); break;
		case '\\': fputs("\\\\", fp); break;
		case '\n': fputs("\\n", fp); break;
		case '\r': fputs("\\r", fp); break;
		case '\t': fputs("\\t", fp); break;
		default:
			if (*p < 0x20)
				fprintf(fp, "\\u%04x", *p);
			else
				fputc(*p, fp);
		}
	}
	fputc('"', fp);
}

static void
hk_snapshot_json_stage(FILE *fp, const struct hk_snap_stage *st)
{
	fprintf(fp, "{\"count\":%" PRIu64 ",\"mean_ms\":%.3f,\"p50_ms\":%.3f,"
	    "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}", st->count,
	    st->count ? (double)st->sum_us / (double)st->count / 1e3 : 0.0,
	    (double)st->p50_us / 1e3, (double)st->p90_us / 1e3,
	    (double)st->p99_us / 1e3, (double)st->max_us / 1e3);
}

static void
hk_snapshot_json_window(FILE *fp, const struct hk_snapshot *s,
    const struct hk_snap_group *g, unsigned w)
{
	const struct hk_snap_counts *c = &g->counts[w];
	double secs = s->window_s[w] ? (double)s->window_s[w] : 1.0;

	fprintf(fp, "\"%s\":{\"seconds\":%" PRIu32 ",\"requests\":%" PRIu64
	    ",\"errors\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"fallback\":%"
	    PRIu64 ",\"dead\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"rate\":%.3f,"
	    "\"error_rate\":%.3f,\"stages\":{", hk_snapshot_window_name(w),
	    s->window_s[w], c->requests, c->errors, c->duplicates, c->fallback,
	    c->dead, c->bytes, (double)c->requests / secs,
	    (double)c->errors / secs);
	for (unsigned i = 0; i < g->nstages && i < HK_REC_STAGES; i++) {
		fprintf(fp, "%s\"%s\":", i ? "," : "",
		    hk_snapshot_stage_name(g->kind, i));
		hk_snapshot_json_stage(fp, &g->stage[i][w]);
	}
	fputs("}}", fp);
}

/* hk_snapshot_json_group - a group's members, without the braces. */
static void
hk_snapshot_json_group(FILE *fp, const struct hk_snapshot *s,
    const struct hk_snap_group *g)
{
	const struct hk_snap_counts *c = &g->counts[HK_SNAP_ALL];
	static const char *cls[6] = { "other", "1xx", "2xx", "3xx", "4xx",
	    "5xx" };
	unsigned i;

	fprintf(fp, "\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
	    ",\"duplicates\":%" PRIu64 ",\"fallback\":%" PRIu64 ",\"dead\":%"
	    PRIu64 ",\"bytes\":%" PRIu64 ",\"status\":{", c->requests,
	    c->errors, c->duplicates, c->fallback, c->dead, c->bytes);
	for (i = 0; i < g->nstatus && i < HK_SNAP_STATUSES; i++)
		fprintf(fp, "%s\"%u\":%" PRIu64, i ? "," : "",
		    (unsigned)g->status[i].code, g->status[i].count);
	fputs("},\"status_class\":{", fp);
	for (i = 0; i < 6; i++)
		fprintf(fp, "%s\"%s\":%" PRIu64, i ? "," : "", cls[i],
		    g->status_class[i]);
	fputs("},\"windows\":{", fp);
	for (i = 0; i < HK_SNAP_WINDOWS; i++) {
		if (i)
			fputc(',', fp);
		hk_snapshot_json_window(fp, s, g, i);
	}
	fputc('}', fp);
}

/* hk_snapshot_json_list - the groups of one scope as an object by name. */
static void
hk_snapshot_json_list(FILE *fp, const struct hk_snapshot *s, int scope)
{
	int first = 1;

	for (unsigned i = 0; i < s->ngroups; i++) {
		const struct hk_snap_group *g = hk_snapshot_cgroup(s, i);

		if (g->scope != scope)
			continue;
		fputs(first ? "" : ",", fp);
		hk_snapshot_json_str(fp, g->name);
		fputs(":{", fp);
		hk_snapshot_json_group(fp, s, g);
		fputc('}', fp);
		first = 0;
	}
}

void
hk_snapshot_json(const struct hk_snapshot *s, uint64_t now_us, FILE *fp)
{
	char when[40];

	hk_clock_iso8601(s->published_us, when, sizeof(when));
	fprintf(fp, "{\"version\":%" PRIu32 ",\"instance\":", s->version);
	hk_snapshot_json_str(fp, s->instance);
	fprintf(fp, ",\"stats_pid\":%d,\"published_at\":\"%s\",\"age_ms\":%.1f,"
	    "\"uptime_s\":%.3f,\"publishes\":%" PRIu64 ",\"records\":%" PRIu64
	    ",\"ring_missed\":%" PRIu64 ",\"redis\":{\"up\":%s,"
	    "\"stream_length\":%" PRId64 ",\"pending\":%" PRId64 "}",
	    (int)s->stats_pid, when, now_us > s->published_us
	    ? (double)(now_us - s->published_us) / 1e3 : 0.0,
	    s->published_us > s->started_us
	    ? (double)(s->published_us - s->started_us) / 1e6 : 0.0,
	    s->publishes, s->records, s->ring_missed,
	    s->redis_up < 0 ? "null" : s->redis_up ? "true" : "false",
	    s->stream_length, s->stream_pending);
	for (unsigned i = 0; i < s->ngroups; i++) {
		const struct hk_snap_group *g = hk_snapshot_cgroup(s, i);

		if (g->scope == HK_SNAP_TOTAL && g->kind == HK_REC_INGEST) {
			fputs(",\"ingest\":{", fp);
			hk_snapshot_json_group(fp, s, g);
			fputs(",\"sources\":{", fp);
			hk_snapshot_json_list(fp, s, HK_SNAP_SOURCE);
			fputs("}", fp);
			for (unsigned j = 0; j < s->ngroups; j++) {
				g = hk_snapshot_cgroup(s, j);
				if (g->scope != HK_SNAP_UNKNOWN)
					continue;
				fputs(",\"unknown_source\":{", fp);
				hk_snapshot_json_group(fp, s, g);
				fputc('}', fp);
			}
			fputc('}', fp);
		} else if (g->scope == HK_SNAP_TOTAL) {
			fputs(",\"delivery\":{", fp);
			hk_snapshot_json_group(fp, s, g);
			fputs(",\"destinations\":{", fp);
			hk_snapshot_json_list(fp, s, HK_SNAP_DEST);
			fputs("}}", fp);
		}
	}
	fputs("}\n", fp);
}
