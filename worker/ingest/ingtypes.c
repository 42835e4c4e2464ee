/*
 * ingtypes.c - number the event types this worker has seen (ingtypes.h).
 *
 * Per source a short array of names, searched linearly: at most
 * metrics.max_event_types (50 by default) short strings, compared only for
 * accepted events and only when metrics are on.  Numbers are unique across
 * the worker's sources, 1 .. HK_INGTYPES_OTHER - 1.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "core.h"
#include "ingtypes.h"
#include "ring.h"

struct hk_ingtypes_src {
	char    (*name)[HK_INGTYPES_NAME];
	uint16_t *num;
	int       n;
};

static struct {
	struct hk_ingtypes_src *src;
	int            nsrc;
	int            max;
	uint16_t       next;		/* the next number handed out */
	struct hk_ring *ring;
} hk_ingtypes;

int
hk_ingtypes_init(const struct hk_conf *conf, struct hk_ring *ring)
{
	size_t max = (size_t)conf->metrics.max_event_types;

	memset(&hk_ingtypes, 0, sizeof(hk_ingtypes));
	hk_ingtypes.ring = ring;
	hk_ingtypes.max = (int)max;
	hk_ingtypes.next = 1;
	hk_ingtypes.nsrc = conf->nsources;
	if ((hk_ingtypes.src = calloc((size_t)conf->nsources + 1,
	    sizeof(*hk_ingtypes.src))) == NULL)
		return HK_ERROR;
	for (int i = 0; i < conf->nsources; i++) {
		hk_ingtypes.src[i].name = calloc(max, HK_INGTYPES_NAME);
		hk_ingtypes.src[i].num = calloc(max, sizeof(uint16_t));
		if (hk_ingtypes.src[i].name == NULL
		    || hk_ingtypes.src[i].num == NULL)
			return HK_ERROR;
	}
	return HK_OK;
}

void
hk_ingtypes_free(void)
{
	for (int i = 0; hk_ingtypes.src != NULL && i < hk_ingtypes.nsrc; i++) {
		free(hk_ingtypes.src[i].name);
		free(hk_ingtypes.src[i].num);
	}
	free(hk_ingtypes.src);
	memset(&hk_ingtypes, 0, sizeof(hk_ingtypes));
}

/* hk_ingtypes_announce - tell the stats process what number means. */
static void
hk_ingtypes_announce(int src, uint16_t num, const char *name, size_t len)
{
	struct hk_rec rec;

	memset(&rec, 0, sizeof(rec));
	rec.ts_us = hk_clock_real_us();
	rec.kind = HK_REC_EVTYPE;
	rec.source = (uint16_t)src;
	rec.dest = num;
	memcpy((char *)&rec + offsetof(struct hk_rec, stage_us), name, len);
	hk_ring_push(hk_ingtypes.ring, &rec);
}

uint16_t
hk_ingtypes_number(int src, const char *name)
{
	struct hk_ingtypes_src *s;
	size_t len = strlen(name);

	if (len == 0 || src < 0 || src >= hk_ingtypes.nsrc)
		return HK_INGTYPES_NONE;
	s = &hk_ingtypes.src[src];
	for (int i = 0; i < s->n; i++)
		if (s->name[i][0] == name[0] && strcmp(s->name[i], name) == 0)
			return s->num[i];
	if (len >= HK_INGTYPES_NAME || s->n >= hk_ingtypes.max
	    || hk_ingtypes.next == HK_INGTYPES_OTHER)
		return HK_INGTYPES_OTHER;
	memcpy(s->name[s->n], name, len + 1);
	s->num[s->n] = hk_ingtypes.next++;
	hk_ingtypes_announce(src, s->num[s->n], name, len);
	return s->num[s->n++];
}
