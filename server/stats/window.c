/*
 * window.c - sliding windows of histograms and counters (window.h).
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "log.h"
#include "window.h"

void
hk_window_free(struct hk_window *w)
{
	for (unsigned i = 0; i < HK_WINDOW_SECONDS; i++)
		free(w->past[i].bins);
	memset(w, 0, sizeof(*w));
}

/* hk_window_close - keep the second in progress as a sparse one. */
static void
hk_window_close(struct hk_window *w)
{
	struct hk_window_sec *p = &w->past[w->cur_sec % HK_WINDOW_SECONDS];
	struct hk_window_bin *nb;
	uint32_t n = 0;
	unsigned i;

	for (i = 0; i < HK_HIST_BUCKETS; i++)
		n += w->cur.bucket[i] != 0;
	if (n > p->cap) {
		/* The buffer of the second 60 s ago is reused when it fits. */
		if ((nb = realloc(p->bins, n * sizeof(*nb))) == NULL)
			hk_fatalx("out of memory for a latency window");
		p->bins = nb;
		p->cap = n;
	}
	p->nbins = 0;
	for (i = 0; i < HK_HIST_BUCKETS; i++) {
		if (w->cur.bucket[i] == 0)
			continue;
		p->bins[p->nbins].idx = i;
		/* A bucket holding 4 billion values in one second: clamp. */
		p->bins[p->nbins].n = w->cur.bucket[i] > UINT32_MAX
		    ? UINT32_MAX : (uint32_t)w->cur.bucket[i];
		p->nbins++;
	}
	p->sec1 = w->cur_sec + 1;
	p->count = w->cur.count;
	p->sum = w->cur.sum;
	p->min = w->cur.min;
	p->max = w->cur.max;
	hk_hist_reset(&w->cur);
}

void
hk_window_add(struct hk_window *w, uint64_t sec, uint64_t v)
{
	if (sec > w->cur_sec) {
		if (w->cur.count > 0)
			hk_window_close(w);
		w->cur_sec = sec;
	}
	hk_hist_record(&w->cur, v);
	hk_hist_record(&w->all, v);
}

/* hk_window_merge_sec - add one closed second to a dense histogram. */
static void
hk_window_merge_sec(struct hk_hist *out, const struct hk_window_sec *p)
{
	if (p->count == 0)
		return;
	for (uint32_t i = 0; i < p->nbins; i++)
		out->bucket[p->bins[i].idx] += p->bins[i].n;
	if (out->count == 0 || p->min < out->min)
		out->min = p->min;
	if (p->max > out->max)
		out->max = p->max;
	out->count += p->count;
	out->sum += p->sum;
}

void
hk_window_merge(const struct hk_window *w, uint64_t now_sec, unsigned n,
    struct hk_hist *out)
{
	const struct hk_window_sec *p;
	uint64_t s, from;

	if (n == 0) {
		memcpy(out, &w->all, sizeof(*out));
		return;
	}
	hk_hist_reset(out);
	if (n > HK_WINDOW_SECONDS)
		n = HK_WINDOW_SECONDS;
	from = now_sec >= n ? now_sec - n : 0;
	for (s = from; s < now_sec; s++) {
		/* The current second is complete once now_sec has passed it,
		 * even if nothing arrived since to close it. */
		if (s == w->cur_sec) {
			hk_hist_merge(out, &w->cur);
			continue;
		}
		p = &w->past[s % HK_WINDOW_SECONDS];
		if (p->sec1 == s + 1)
			hk_window_merge_sec(out, p);
	}
}

void
hk_window_ctr_add(struct hk_window_ctr *c, uint64_t sec, unsigned i, uint64_t n)
{
	unsigned slot = (unsigned)(sec % HK_WINDOW_SECONDS);

	/* A slot holding a newer second keeps it: a late value counts in
	 * that newer second, as hk_window_add does. */
	if (c->sec1[slot] < sec + 1) {
		memset(c->v[slot], 0, sizeof(c->v[slot]));
		c->sec1[slot] = sec + 1;
	}
	c->v[slot][i] += n;
	c->total[i] += n;
}

void
hk_window_ctr_sum(const struct hk_window_ctr *c, uint64_t now_sec, unsigned n,
    uint64_t out[HK_WINDOW_CTR_N])
{
	uint64_t s, from;
	unsigned slot, i;

	if (n == 0) {
		memcpy(out, c->total, sizeof(c->total));
		return;
	}
	memset(out, 0, HK_WINDOW_CTR_N * sizeof(out[0]));
	if (n > HK_WINDOW_SECONDS)
		n = HK_WINDOW_SECONDS;
	from = now_sec >= n ? now_sec - n : 0;
	for (s = from; s < now_sec; s++) {
		slot = (unsigned)(s % HK_WINDOW_SECONDS);
		if (c->sec1[slot] != s + 1)
			continue;
		for (i = 0; i < HK_WINDOW_CTR_N; i++)
			out[i] += c->v[slot][i];
	}
}
