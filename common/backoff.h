/*
 * backoff.h - the delay before the next reconnection attempt.
 *
 * It doubles from min_ms to max_ms with each failure and starts over once a
 * connection works.  With jitter, each delay is shortened by up to 15% at
 * random, so that workers forked together and cut off by the same outage do
 * not knock on the server in step.
 */
#ifndef HK_BACKOFF_H
#define HK_BACKOFF_H

struct hk_backoff {
	int      min_ms;
	int      max_ms;
	int      next_ms;
	int      jitter;
	unsigned seed;
};

void hk_backoff_init(struct hk_backoff *b, int min_ms, int max_ms, int jitter);
/* The delay to wait now, in ms; the one after is twice as long. */
int  hk_backoff_next(struct hk_backoff *b);
void hk_backoff_reset(struct hk_backoff *b);

#endif /* HK_BACKOFF_H */
