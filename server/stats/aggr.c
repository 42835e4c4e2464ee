/*
 * aggr.c - fold timing records into groups, and groups into a snapshot.
 *
 * Which stages a record feeds: an ingest request that was answered with an
 * error stopped somewhere before the end, and the stages it never reached
 * read 0, which would drag every percentile down; so it feeds only receive
 * and total, the two that every request has.  So does a request that named
 * no source (GET /health on the ingest port): it has no other stage.
 * A delivery attempt feeds attempt always and every other stage it
 * measured (non-zero): a reused connection has no connect time, a failed
 * attempt no ack or e2e.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggr.h"
#include "clock.h"
#include "core.h"
#include "log.h"

_Static_assert(HK_CONF_MAX_SOURCES <= HK_SNAP_MAX_SOURCES,
    "every source has a snapshot group");
_Static_assert(HK_CONF_MAX_DESTS <= HK_SNAP_MAX_DESTS,
    "every destination has a snapshot group");
_Static_assert(HK_WINDOW_CTR_N == HK_AGGR_DEAD + 1, "one counter per index");

/* The windows of the snapshot, in seconds; 0 is "since start". */
static const unsigned hk_aggr_window_s[HK_SNAP_WINDOWS] = { 1, 10, 60, 0 };

static int
hk_aggr_kind_of(const struct hk_aggr *a, unsigned i)
{
	if (i == 1 || i >= HK_SNAP_FIXED_GROUPS + a->nsources)
		return HK_REC_DELIVERY;
	return HK_REC_INGEST;
}

int
hk_aggr_scope(const struct hk_aggr *a, unsigned i)
{
	if (i < 2)
		return HK_SNAP_TOTAL;
	if (i == 2)
		return HK_SNAP_UNKNOWN;
	if (i < HK_SNAP_FIXED_GROUPS + a->nsources)
		return HK_SNAP_SOURCE;
	return HK_SNAP_DEST;
}

int
hk_aggr_init(struct hk_aggr *a, const struct hk_conf *conf, uint64_t now_sec)
{
	unsigned i;

	memset(a, 0, sizeof(*a));
	a->nsources = (unsigned)conf->nsources;
	a->ndests = (unsigned)conf->ndests;
	a->ngroups = HK_SNAP_FIXED_GROUPS + a->nsources + a->ndests;
	a->group = calloc(a->ngroups, sizeof(*a->group));
	a->names = calloc(a->ngroups, sizeof(*a->names));
	if (a->group == NULL || a->names == NULL)
		return HK_ERROR;
	for (i = 0; i < a->nsources; i++)
		snprintf(a->names[HK_SNAP_FIXED_GROUPS + i], HK_SNAP_NAME_MAX,
		    "%s", conf->sources[i].name);
	for (i = 0; i < a->ndests; i++)
		snprintf(a->names[HK_SNAP_FIXED_GROUPS + a->nsources + i],
		    HK_SNAP_NAME_MAX, "%s", conf->dests[i].name);
	a->started_us = hk_clock_real_us();
	a->started_sec = now_sec;
	return HK_OK;
}

static void
hk_aggr_free_groups(struct hk_aggr *a)
{
	for (unsigned i = 0; i < a->ngroups; i++) {
		if (a->group[i] == NULL)
			continue;
		for (unsigned s = 0; s < HK_REC_STAGES; s++)
			hk_window_free(&a->group[i]->stage[s]);
		free(a->group[i]);
		a->group[i] = NULL;
	}
}

void
hk_aggr_free(struct hk_aggr *a)
{
	if (a->group != NULL)
		hk_aggr_free_groups(a);
	free(a->group);
	free(a->names);
	memset(a, 0, sizeof(*a));
}

void
hk_aggr_reset(struct hk_aggr *a, uint64_t now_sec)
{
	hk_aggr_free_groups(a);
	a->records = 0;
	a->started_us = hk_clock_real_us();
	a->started_sec = now_sec;
}

const struct hk_aggr_group *
hk_aggr_get(const struct hk_aggr *a, unsigned i)
{
	return i < a->ngroups ? a->group[i] : NULL;
}

const char *
hk_aggr_name(const struct hk_aggr *a, unsigned i)
{
	return i < a->ngroups ? a->names[i] : "";
}

/* hk_aggr_group_at - group i, allocated on first use. */
static struct hk_aggr_group *
hk_aggr_group_at(struct hk_aggr *a, unsigned i)
{
	struct hk_aggr_group *g;

	if (a->group[i] != NULL)
		return a->group[i];
	if ((g = calloc(1, sizeof(*g))) == NULL)
		hk_fatalx("out of memory for the statistics of group %u", i);
	memcpy(g->name, a->names[i], sizeof(g->name));
	g->kind = hk_aggr_kind_of(a, i);
	g->scope = hk_aggr_scope(a, i);
	g->index = g->scope == HK_SNAP_SOURCE ? (int)i - HK_SNAP_FIXED_GROUPS
	    : g->scope == HK_SNAP_DEST
	    ? (int)(i - HK_SNAP_FIXED_GROUPS - a->nsources) : -1;
	g->nstages = g->kind == HK_REC_INGEST ? HK_INGEST_STAGES
	    : HK_DELIVERY_STAGES;
	a->group[i] = g;
	return g;
}

static void
hk_aggr_group_add(struct hk_aggr_group *g, const struct hk_rec *r,
    uint64_t sec)
{
	unsigned s;

	hk_window_ctr_add(&g->ctr, sec, HK_AGGR_REQUESTS, 1);
	if (r->flags & HK_REC_ERROR)
		hk_window_ctr_add(&g->ctr, sec, HK_AGGR_ERRORS, 1);
	if (r->flags & HK_REC_DUPLICATE)
		hk_window_ctr_add(&g->ctr, sec, HK_AGGR_DUPLICATES, 1);
	if (r->flags & HK_REC_FALLBACK)
		hk_window_ctr_add(&g->ctr, sec, HK_AGGR_FALLBACK, 1);
	if (r->flags & HK_REC_DEAD)
		hk_window_ctr_add(&g->ctr, sec, HK_AGGR_DEAD, 1);
	hk_window_ctr_add(&g->ctr, sec, HK_AGGR_BYTES, r->bytes);
	g->codes[r->status < HK_AGGR_CODES ? r->status : 0]++;

	if (r->kind == HK_REC_INGEST) {
		for (s = 0; s < HK_INGEST_STAGES; s++) {
			if (((r->flags & HK_REC_ERROR)
			    || r->source == UINT16_MAX)
			    && s != HK_STAGE_RECEIVE && s != HK_STAGE_TOTAL)
				continue;
			/*
			 * A part longer than the whole is a clock read in the
			 * wrong order by the writer; one such value would own
			 * the max and the p99 for a minute, so it is dropped.
			 */
			if (r->stage_us[s] > r->stage_us[HK_STAGE_TOTAL])
				continue;
			hk_window_add(&g->stage[s], sec, r->stage_us[s]);
		}
		return;
	}
	for (s = 0; s < HK_DELIVERY_STAGES; s++)
		if (r->stage_us[s] != 0 || s == HK_STAGE_ATTEMPT)
			hk_window_add(&g->stage[s], sec, r->stage_us[s]);
}

void
hk_aggr_add(struct hk_aggr *a, const struct hk_rec *r, uint64_t now_sec)
{
	unsigned i;

	a->records++;
	if (r->kind == HK_REC_INGEST) {
		hk_aggr_group_add(hk_aggr_group_at(a, 0), r, now_sec);
		i = r->source < a->nsources
		    ? HK_SNAP_FIXED_GROUPS + r->source : 2;
		hk_aggr_group_add(hk_aggr_group_at(a, i), r, now_sec);
	} else if (r->kind == HK_REC_DELIVERY) {
		hk_aggr_group_add(hk_aggr_group_at(a, 1), r, now_sec);
		if (r->dest < a->ndests)
			hk_aggr_group_add(hk_aggr_group_at(a,
			    HK_SNAP_FIXED_GROUPS + a->nsources + r->dest), r,
			    now_sec);
	}
}

static void
hk_aggr_summary(const struct hk_hist *h, struct hk_snap_stage *st)
{
	st->count = hk_hist_count(h);
	st->sum_us = hk_hist_sum(h);
	st->p50_us = hk_hist_percentile(h, 50.0);
	st->p90_us = hk_hist_percentile(h, 90.0);
	st->p99_us = hk_hist_percentile(h, 99.0);
	st->max_us = hk_hist_max(h);
}

static void
hk_aggr_counts(const struct hk_aggr_group *g, uint64_t now_sec, unsigned n,
    struct hk_snap_counts *c)
{
	uint64_t v[HK_WINDOW_CTR_N];

	hk_window_ctr_sum(&g->ctr, now_sec, n, v);
	memset(c, 0, sizeof(*c));
	c->requests = v[HK_AGGR_REQUESTS];
	c->errors = v[HK_AGGR_ERRORS];
	c->duplicates = v[HK_AGGR_DUPLICATES];
	c->fallback = v[HK_AGGR_FALLBACK];
	c->bytes = v[HK_AGGR_BYTES];
	c->dead = v[HK_AGGR_DEAD];
}

/* hk_aggr_windows - refresh the 1/10/60 s summaries once per second. */
static void
hk_aggr_windows(struct hk_aggr_group *g, uint64_t now_sec,
    struct hk_hist *tmp)
{
	unsigned w, s;

	if (g->cache_sec1 == now_sec + 1)
		return;
	for (w = 0; w < HK_SNAP_ALL; w++) {
		hk_aggr_counts(g, now_sec, hk_aggr_window_s[w],
		    &g->cache_counts[w]);
		for (s = 0; s < g->nstages; s++) {
			hk_window_merge(&g->stage[s], now_sec,
			    hk_aggr_window_s[w], tmp);
			hk_aggr_summary(tmp, &g->cache_stage[s][w]);
		}
	}
	g->cache_sec1 = now_sec + 1;
}

static void
hk_aggr_status(const struct hk_aggr_group *g, struct hk_snap_group *sg)
{
	unsigned code;

	for (code = 0; code < HK_AGGR_CODES; code++) {
		if (g->codes[code] == 0)
			continue;
		sg->status_class[code >= 100 ? code / 100 : 0] +=
		    g->codes[code];
		if (code == 0 || sg->nstatus >= HK_SNAP_STATUSES)
			continue;
		sg->status[sg->nstatus].code = (uint16_t)code;
		sg->status[sg->nstatus].count = g->codes[code];
		sg->nstatus++;
	}
}

void
hk_aggr_snapshot(struct hk_aggr *a, uint64_t now_sec, struct hk_snapshot *s)
{
	static struct hk_hist tmp;	/* 6 KiB: not on the stack */
	struct hk_snap_group *sg;
	struct hk_aggr_group *g;
	unsigned i, w, st;
	uint64_t up;

	s->header_size = sizeof(*s);
	s->group_size = sizeof(*sg);
	s->ngroups = a->ngroups;
	s->used = HK_SNAP_BYTES(a->ngroups);
	/*
	 * A window reaches back no further than the start: 10 s after it,
	 * the 60 s window covers 10 s, and rates divide by that.
	 */
	up = HK_MAX(1, now_sec - a->started_sec);
	for (w = 0; w < HK_SNAP_ALL; w++)
		s->window_s[w] = (uint32_t)HK_MIN(hk_aggr_window_s[w], up);
	s->window_s[HK_SNAP_ALL] = (uint32_t)HK_MIN(up, UINT32_MAX);

	for (i = 0; i < a->ngroups; i++) {
		sg = hk_snapshot_group(s, i);
		memset(sg, 0, sizeof(*sg));
		memcpy(sg->name, a->names[i], sizeof(sg->name));
		sg->kind = (uint8_t)hk_aggr_kind_of(a, i);
		sg->scope = (uint8_t)hk_aggr_scope(a, i);
		sg->nstages = sg->kind == HK_REC_INGEST ? HK_INGEST_STAGES
		    : HK_DELIVERY_STAGES;
		sg->index = (uint16_t)(sg->scope == HK_SNAP_SOURCE
		    ? i - HK_SNAP_FIXED_GROUPS : sg->scope == HK_SNAP_DEST
		    ? i - HK_SNAP_FIXED_GROUPS - a->nsources : 0);
		if ((g = a->group[i]) == NULL)
			continue;
		hk_aggr_windows(g, now_sec, &tmp);
		for (w = 0; w < HK_SNAP_ALL; w++) {
			sg->counts[w] = g->cache_counts[w];
			for (st = 0; st < g->nstages; st++)
				sg->stage[st][w] = g->cache_stage[st][w];
		}
		hk_aggr_counts(g, now_sec, 0, &sg->counts[HK_SNAP_ALL]);
		for (st = 0; st < g->nstages; st++)
			hk_aggr_summary(&g->stage[st].all,
			    &sg->stage[st][HK_SNAP_ALL]);
		hk_aggr_status(g, sg);
	}
}
