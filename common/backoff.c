/*
 * backoff.c - the delay before the next reconnection attempt (see
 * backoff.h).
 */
#include <stdlib.h>
#include <unistd.h>

#include "backoff.h"
#include "clock.h"
#include "core.h"

void
hk_backoff_init(struct hk_backoff *b, int min_ms, int max_ms, int jitter)
{
	b->min_ms = min_ms;
	b->max_ms = max_ms;
	b->next_ms = min_ms;
	b->jitter = jitter;
	/* Per process and per instant: siblings must not draw the same. */
	b->seed = (unsigned)getpid() ^ (unsigned)hk_clock_mono_ns();
}

int
hk_backoff_next(struct hk_backoff *b)
{
	int ms = b->next_ms;

	b->next_ms = HK_MIN(ms * 2, b->max_ms);
	if (b->jitter)
		ms -= ms * (int)(rand_r(&b->seed) % 16) / 100;
	return ms;
}

void
hk_backoff_reset(struct hk_backoff *b)
{
	b->next_ms = b->min_ms;
}
