/*
 * test_window.c - sliding windows (server/stats/window.c), the aggregation of
 * records into groups (server/stats/aggr.c), and the snapshot's publish/read and
 * JSON (shm/snapshot.c).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aggr.h"
#include "core.h"
#include "histogram.h"
#include "snapshot.h"
#include "unit.h"
#include "window.h"

static int
hist_equal(const struct hk_hist *a, const struct hk_hist *b)
{
	return a->count == b->count && a->sum == b->sum
	    && hk_hist_min(a) == hk_hist_min(b) && a->max == b->max
	    && memcmp(a->bucket, b->bucket, sizeof(a->bucket)) == 0;
}

static void
test_window_empty(void)
{
	static struct hk_window w;
	static struct hk_hist h;

	hk_window_merge(&w, 1000, 10, &h);
	HK_CHECK(hk_hist_count(&h) == 0);
	hk_window_merge(&w, 1000, 0, &h);
	HK_CHECK(hk_hist_count(&h) == 0);
	hk_window_free(&w);
}

static void
test_window_complete_seconds(void)
{
	static struct hk_window w;
	static struct hk_hist h;

	hk_window_add(&w, 100, 10);
	hk_window_add(&w, 101, 20);
	hk_window_add(&w, 101, 30);
	hk_window_add(&w, 102, 40);
	hk_window_add(&w, 103, 5000);	/* the second in progress */

	hk_window_merge(&w, 103, 1, &h);
	HK_CHECK(hk_hist_count(&h) == 1 && hk_hist_max(&h) == 40);
	hk_window_merge(&w, 103, 2, &h);
	HK_CHECK(hk_hist_count(&h) == 3 && hk_hist_sum(&h) == 90);
	hk_window_merge(&w, 103, 10, &h);
	HK_CHECK(hk_hist_count(&h) == 4 && hk_hist_min(&h) == 10);
	/* Since start includes the second in progress. */
	hk_window_merge(&w, 103, 0, &h);
	HK_CHECK(hk_hist_count(&h) == 5 && hk_hist_max(&h) == 5000);
	/* Once 103 is over it counts, even with nothing to close it. */
	hk_window_merge(&w, 104, 1, &h);
	HK_CHECK(hk_hist_count(&h) == 1 && hk_hist_max(&h) == 5000);
	hk_window_free(&w);
}

static void
test_window_expiry_and_reuse(void)
{
	static struct hk_window w;
	static struct hk_hist h;

	hk_window_add(&w, 100, 7);
	hk_window_add(&w, 130, 8);
	hk_window_merge(&w, 160, 60, &h);
	HK_CHECK(hk_hist_count(&h) == 2);
	hk_window_merge(&w, 161, 60, &h);	/* 101 .. 160: 100 is out */
	HK_CHECK(hk_hist_count(&h) == 1 && hk_hist_max(&h) == 8);
	/* 160 takes 100's slot (160 % 60 == 100 % 60). */
	hk_window_add(&w, 160, 9);
	hk_window_add(&w, 161, 1);
	hk_window_merge(&w, 161, 60, &h);
	HK_CHECK(hk_hist_count(&h) == 2 && hk_hist_sum(&h) == 17);
	hk_window_merge(&w, 1000, 60, &h);	/* long idle: all gone */
	HK_CHECK(hk_hist_count(&h) == 0);
	hk_window_merge(&w, 1000, 0, &h);
	HK_CHECK(hk_hist_count(&h) == 4);
	hk_window_free(&w);
}

/* The sparse seconds lose nothing: a merge equals a dense histogram. */
static void
test_window_exact(void)
{
	static struct hk_window w;
	static struct hk_hist got, want, want10;
	uint64_t v;
	unsigned s, i;

	srand(7);
	for (s = 0; s < 90; s++) {
		for (i = 0; i < (s % 7) * 50; i++) {
			v = (uint64_t)rand() % (s % 2 ? 5000 : 500000);
			hk_window_add(&w, 1000 + s, v);
			if (s >= 30)
				hk_hist_record(&want, v);
			if (s >= 80)
				hk_hist_record(&want10, v);
		}
	}
	hk_window_merge(&w, 1090, 60, &got);
	HK_CHECK(hist_equal(&got, &want));
	HK_CHECK(hk_hist_percentile(&got, 99) == hk_hist_percentile(&want, 99));
	hk_window_merge(&w, 1090, 10, &got);
	HK_CHECK(hist_equal(&got, &want10));
	hk_window_free(&w);
}

static void
test_window_ctr(void)
{
	static struct hk_window_ctr c;
	uint64_t out[HK_WINDOW_CTR_N];

	hk_window_ctr_add(&c, 50, 0, 1);
	hk_window_ctr_add(&c, 50, 0, 1);
	hk_window_ctr_add(&c, 51, 0, 5);
	hk_window_ctr_add(&c, 51, 2, 7);
	hk_window_ctr_sum(&c, 52, 1, out);
	HK_CHECK(out[0] == 5 && out[2] == 7);
	hk_window_ctr_sum(&c, 52, 10, out);
	HK_CHECK(out[0] == 7 && out[2] == 7);
	hk_window_ctr_sum(&c, 51, 10, out);	/* 51 still in progress */
	HK_CHECK(out[0] == 2 && out[2] == 0);
	hk_window_ctr_add(&c, 110, 0, 100);	/* replaces 50 in its slot */
	hk_window_ctr_sum(&c, 111, 60, out);
	HK_CHECK(out[0] == 105);
	hk_window_ctr_sum(&c, 111, 0, out);
	HK_CHECK(out[0] == 107 && out[2] == 7);
}

static struct hk_conf_source test_sources[2];
static struct hk_conf_dest test_dests[1];

static void
fake_conf(struct hk_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	test_sources[0].name = (char *)(uintptr_t)"github";
	test_sources[1].name = (char *)(uintptr_t)"te\"st";
	test_dests[0].name = (char *)(uintptr_t)"crm";
	conf->sources = test_sources;
	conf->nsources = 2;
	conf->dests = test_dests;
	conf->ndests = 1;
}

static struct hk_rec
ingest_rec(uint16_t source, uint16_t status, uint8_t flags, uint32_t total)
{
	struct hk_rec r;

	memset(&r, 0, sizeof(r));
	r.kind = HK_REC_INGEST;
	r.source = source;
	r.status = status;
	r.flags = flags;
	r.bytes = 100;
	for (unsigned i = 0; i < HK_INGEST_STAGES; i++)
		r.stage_us[i] = 1;
	r.stage_us[HK_STAGE_TOTAL] = total;
	return r;
}

static void
test_aggr_snapshot(void)
{
	static struct hk_aggr a;
	struct hk_snapshot *s = calloc(1, HK_SNAP_BYTES_MAX);
	const struct hk_snap_group *g;
	struct hk_conf conf;
	struct hk_rec r;

	fake_conf(&conf);
	HK_CHECK(hk_aggr_init(&a, &conf, 10) == HK_OK);
	HK_CHECK(a.ngroups == HK_SNAP_FIXED_GROUPS + 3);
	for (int i = 0; i < 10; i++) {
		r = ingest_rec(0, 202, 0, 300);
		hk_aggr_add(&a, &r, 10);
	}
	r = ingest_rec(1, 200, HK_REC_DUPLICATE, 400);
	hk_aggr_add(&a, &r, 11);
	r = ingest_rec(UINT16_MAX, 404, HK_REC_ERROR, 50);
	hk_aggr_add(&a, &r, 11);
	memset(&r, 0, sizeof(r));
	r.kind = HK_REC_DELIVERY;
	r.dest = 0;
	r.status = 0;
	r.flags = HK_REC_ERROR;
	r.stage_us[HK_STAGE_ATTEMPT] = 9000;
	hk_aggr_add(&a, &r, 11);

	hk_aggr_snapshot(&a, 12, s);
	s->magic = HK_SNAP_MAGIC;
	s->version = HK_SNAP_VERSION;
	HK_CHECK(s->ngroups == a.ngroups);
	g = hk_snapshot_cgroup(s, 0);
	HK_CHECK(g->scope == HK_SNAP_TOTAL && g->kind == HK_REC_INGEST);
	HK_CHECK(g->counts[HK_SNAP_ALL].requests == 12);
	HK_CHECK(g->counts[HK_SNAP_ALL].errors == 1);
	HK_CHECK(g->counts[HK_SNAP_ALL].duplicates == 1);
	HK_CHECK(g->counts[HK_SNAP_1S].requests == 2);	/* second 11 */
	HK_CHECK(g->counts[HK_SNAP_10S].requests == 12);
	HK_CHECK(g->status_class[2] == 11 && g->status_class[4] == 1);
	HK_CHECK(g->nstatus == 3 && g->status[0].code == 200
	    && g->status[1].code == 202 && g->status[1].count == 10);
	/* The 404 stopped early: it feeds total, not verify. */
	HK_CHECK(g->stage[HK_STAGE_TOTAL][HK_SNAP_ALL].count == 12);
	HK_CHECK(g->stage[HK_STAGE_VERIFY][HK_SNAP_ALL].count == 11);
	HK_CHECK(g->stage[HK_STAGE_TOTAL][HK_SNAP_ALL].max_us == 400);
	g = hk_snapshot_cgroup(s, 2);
	HK_CHECK(g->scope == HK_SNAP_UNKNOWN
	    && g->counts[HK_SNAP_ALL].requests == 1);
	g = hk_snapshot_cgroup(s, HK_SNAP_FIXED_GROUPS);
	HK_CHECK_STR(g->name, "github");
	HK_CHECK(g->counts[HK_SNAP_ALL].requests == 10);
	HK_CHECK(g->stage[HK_STAGE_TOTAL][HK_SNAP_ALL].p50_us == 300);
	g = hk_snapshot_cgroup(s, HK_SNAP_FIXED_GROUPS + 2);
	HK_CHECK_STR(g->name, "crm");
	HK_CHECK(g->scope == HK_SNAP_DEST && g->kind == HK_REC_DELIVERY);
	HK_CHECK(g->counts[HK_SNAP_ALL].errors == 1);
	HK_CHECK(g->stage[HK_STAGE_ATTEMPT][HK_SNAP_ALL].count == 1);
	HK_CHECK(g->stage[HK_STAGE_CONNECT][HK_SNAP_ALL].count == 0);

	/* A stage longer than the whole request is an error: dropped. */
	r = ingest_rec(0, 202, 0, 300);
	r.stage_us[HK_STAGE_RECEIVE] = UINT32_MAX;
	hk_aggr_add(&a, &r, 13);
	hk_aggr_snapshot(&a, 14, s);
	g = hk_snapshot_cgroup(s, HK_SNAP_FIXED_GROUPS);
	HK_CHECK(g->counts[HK_SNAP_ALL].requests == 11);
	HK_CHECK(g->stage[HK_STAGE_RECEIVE][HK_SNAP_ALL].count == 10);
	HK_CHECK(g->stage[HK_STAGE_RECEIVE][HK_SNAP_ALL].max_us == 1);
	HK_CHECK(g->stage[HK_STAGE_TOTAL][HK_SNAP_ALL].count == 11);
	/* Rates divide by what a window covers since the start. */
	HK_CHECK(s->window_s[HK_SNAP_1S] == 1 && s->window_s[HK_SNAP_10S] == 4
	    && s->window_s[HK_SNAP_60S] == 4 && s->window_s[HK_SNAP_ALL] == 4);

	hk_aggr_reset(&a, 20);
	hk_aggr_snapshot(&a, 20, s);
	HK_CHECK(hk_snapshot_cgroup(s, 0)->counts[HK_SNAP_ALL].requests == 0);
	hk_aggr_free(&a);
	free(s);
}

static void
test_snapshot_publish_read_json(void)
{
	static struct hk_aggr a;
	struct hk_snap_region *region = calloc(1, HK_SHM_SNAPSHOT_MAX);
	struct hk_snapshot *s = calloc(1, HK_SNAP_BYTES_MAX);
	struct hk_snapshot *out = calloc(1, HK_SNAP_BYTES_MAX);
	struct hk_conf conf;
	struct hk_rec r;
	json_error_t jerr;
	json_t *root;
	char err[256], *text = NULL;
	size_t len = 0;
	FILE *fp;

	HK_CHECK(hk_snapshot_read(region, out, HK_SNAP_BYTES_MAX, err,
	    sizeof(err)) == HK_AGAIN);
	fake_conf(&conf);
	hk_aggr_init(&a, &conf, 10);
	r = ingest_rec(1, 202, 0, 1234);
	hk_aggr_add(&a, &r, 10);
	hk_aggr_snapshot(&a, 11, s);
	s->magic = HK_SNAP_MAGIC;
	s->version = HK_SNAP_VERSION;
	s->stream_length = 5;
	s->stream_pending = -1;
	s->redis_up = 1;
	snprintf(s->instance, sizeof(s->instance), "t\\1");
	hk_snapshot_publish(region, s);
	HK_CHECK(hk_snapshot_read(region, out, HK_SNAP_BYTES_MAX, err,
	    sizeof(err)) == HK_OK);
	HK_CHECK(memcmp(s, out, (size_t)s->used) == 0);
	/* Too small a buffer for this many groups is refused, not overrun. */
	HK_CHECK(hk_snapshot_read(region, out, HK_SNAP_BYTES(1), err,
	    sizeof(err)) == HK_ERROR);

	fp = open_memstream(&text, &len);
	hk_snapshot_json(out, out->published_us, fp);
	fclose(fp);
	root = json_loads(text, 0, &jerr);
	HK_CHECK(root != NULL);
	if (root != NULL) {
		json_t *src = json_object_get(json_object_get(json_object_get(
		    root, "ingest"), "sources"), "te\"st");

		HK_CHECK_STR(json_string_value(json_object_get(root,
		    "instance")), "t\\1");
		HK_CHECK(json_integer_value(json_object_get(json_object_get(
		    root, "ingest"), "requests")) == 1);
		HK_CHECK(json_integer_value(json_object_get(src, "requests"))
		    == 1);
		HK_CHECK(json_integer_value(json_object_get(json_object_get(
		    root, "redis"), "pending")) == -1);
		HK_CHECK(json_object_get(json_object_get(json_object_get(
		    json_object_get(src, "windows"), "1s"), "stages"),
		    "total") != NULL);
		json_decref(root);
	} else {
		printf("json error: %s\n", jerr.text);
	}
	free(text);

	/* Another version is an error, not a guess. */
	region->snap.version = HK_SNAP_VERSION + 1;
	HK_CHECK(hk_snapshot_read(region, out, HK_SNAP_BYTES_MAX, err,
	    sizeof(err)) == HK_ERROR);
	hk_aggr_free(&a);
	free(s);
	free(out);
	free(region);
}

int
main(void)
{
	HK_RUN(test_window_empty);
	HK_RUN(test_window_complete_seconds);
	HK_RUN(test_window_expiry_and_reuse);
	HK_RUN(test_window_exact);
	HK_RUN(test_window_ctr);
	HK_RUN(test_aggr_snapshot);
	HK_RUN(test_snapshot_publish_read_json);
	return hk_unit_done();
}
