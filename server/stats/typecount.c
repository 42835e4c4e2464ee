/*
 * typecount.c - events by source and type, and filtered events, from the
 * rings (typecount.h).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "typecount.h"

int
hk_typecount_init(struct hk_typecount *t, const struct hk_conf *conf)
{
	size_t n = (size_t)conf->nsources + 1;

	memset(t, 0, sizeof(*t));
	t->nsources = (unsigned)conf->nsources;
	t->max = conf->metrics.max_event_types;
	t->filtered = calloc(n, sizeof(*t->filtered));
	t->other = calloc(n, sizeof(*t->other));
	t->ntypes = calloc(n, sizeof(*t->ntypes));
	if (t->filtered == NULL || t->other == NULL || t->ntypes == NULL)
		return HK_ERROR;
	return HK_OK;
}

void
hk_typecount_free(struct hk_typecount *t)
{
	free(t->filtered);
	free(t->other);
	free(t->ntypes);
	free(t->types);
	for (unsigned i = 0; i < HK_SHM_SLOTS; i++)
		free(t->map[i]);
	memset(t, 0, sizeof(*t));
}

/* hk_typecount_reset - zero the counts; the names and numbers stay. */
void
hk_typecount_reset(struct hk_typecount *t)
{
	memset(t->filtered, 0, (t->nsources + 1) * sizeof(*t->filtered));
	memset(t->other, 0, (t->nsources + 1) * sizeof(*t->other));
	for (unsigned i = 0; i < t->ntotal; i++)
		t->types[i].count = 0;
}

/* hk_typecount_name - the index + 1 of (source, name), added if room. */
static uint32_t
hk_typecount_name(struct hk_typecount *t, uint16_t src, const char *name)
{
	struct hk_typecount_type *nt;

	for (unsigned i = 0; i < t->ntotal; i++)
		if (t->types[i].source == src
		    && strcmp(t->types[i].name, name) == 0)
			return i + 1;
	if (t->ntypes[src] >= t->max)
		return HK_TYPECOUNT_OTHER;
	if (t->ntotal == t->cap) {
		unsigned cap = t->cap ? t->cap * 2 : 64;

		if ((nt = realloc(t->types, cap * sizeof(*nt))) == NULL)
			return HK_TYPECOUNT_OTHER;
		t->types = nt;
		t->cap = cap;
	}
	nt = &t->types[t->ntotal];
	memset(nt, 0, sizeof(*nt));
	nt->source = src;
	memcpy(nt->name, name, strnlen(name, sizeof(nt->name) - 1));
	t->ntypes[src]++;
	return ++t->ntotal;
}

/* hk_typecount_learn - slot's number r->dest is the name in r. */
static void
hk_typecount_learn(struct hk_typecount *t, unsigned slot,
    const struct hk_rec *r)
{
	char name[sizeof(struct hk_rec) - offsetof(struct hk_rec, stage_us)];
	unsigned cap = t->mapcap[slot];
	uint32_t *m;

	memcpy(name, (const char *)r + offsetof(struct hk_rec, stage_us),
	    sizeof(name));
	name[sizeof(name) - 1] = '\0';
	if (r->dest >= cap) {
		cap = HK_MAX(64u, HK_MAX(cap * 2, (unsigned)r->dest + 1));
		if ((m = realloc(t->map[slot], cap * sizeof(*m))) == NULL)
			return;
		memset(m + t->mapcap[slot], 0,
		    (cap - t->mapcap[slot]) * sizeof(*m));
		t->map[slot] = m;
		t->mapcap[slot] = cap;
	}
	t->map[slot][r->dest] = name[0] ? hk_typecount_name(t, r->source,
	    name) : HK_TYPECOUNT_OTHER;
}

void
hk_typecount_add(struct hk_typecount *t, unsigned slot, const struct hk_rec *r)
{
	uint32_t k;

	if (r->source >= t->nsources || slot >= HK_SHM_SLOTS)
		return;
	switch (r->kind) {
	case HK_REC_FILTERED:
		t->filtered[r->source]++;
		return;
	case HK_REC_EVTYPE:
		hk_typecount_learn(t, slot, r);
		return;
	case HK_REC_INGEST:
		if (r->dest == 0 || r->status != 202)
			return;
		/* A number never learned: its record was lapped. */
		k = r->dest < t->mapcap[slot] ? t->map[slot][r->dest] : 0;
		if (k == 0 || k == HK_TYPECOUNT_OTHER)
			t->other[r->source]++;
		else
			t->types[k - 1].count++;
		return;
	}
}
