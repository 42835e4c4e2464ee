/*
 * pgsampler.h - the stats process's look at PostgreSQL: whether it
 * answers, the bytes each table holds (all its partitions, indexes and
 * TOAST), the oldest event kept, the day partitions retention keeps past
 * their time for deliveries still pending, and what alerts watch: dead
 * deliveries, deliveries overdue by more than a minute, inbox rows, the
 * destinations disabled in destination_state; every
 * HK_PGSAMPLER_PERIOD_MS, so that /metrics costs PostgreSQL nothing per
 * scrape and the workers nothing at all.
 *
 * One nonblocking connection (pgconn.c) on the stats process's loop; a
 * round is one pipeline of five statements and a Sync.  PostgreSQL down
 * is a state to report, not an error: up reads 0, the figures keep the
 * last values they had.
 */
#ifndef HK_PGSAMPLER_H
#define HK_PGSAMPLER_H

#include <stdint.h>

#include "config.h"
#include "pgconn.h"

#define HK_PGSAMPLER_PERIOD_MS  10000
/* events, deliveries, attempts, inbox */
#define HK_PGSAMPLER_TABLES     4

struct event_base;

struct hk_pgsampler {
	struct hk_pgconn pg;
	const struct hk_conf *conf;
	int      retention_days;
	int      busy;			/* a round is out */
	int      step;			/* its next result */
	int      ok;			/* every result of the round was good */
	uint64_t sent_ns;

	/* Results, read by the admin port; counts are -1 while unknown. */
	int      up;			/* 1 up, 0 down, -1 not known yet */
	int64_t  bytes[HK_PGSAMPLER_TABLES];	/* -1 unknown */
	double   oldest_s;		/* epoch seconds; 0 none; -1 unknown */
	int64_t  kept_days;		/* -1 unknown */
	int64_t  dead;			/* dead deliveries (the DLQ) */
	int64_t  overdue;		/* due for more than a minute */
	int64_t  inbox;			/* rows waiting for Redis */
	int8_t  *disabled;		/* per destination: 1, 0, -1 unknown */
	uint64_t sampled_us;
};

extern const char *const hk_pgsampler_tables[HK_PGSAMPLER_TABLES];

int  hk_pgsampler_init(struct hk_pgsampler *s, struct event_base *base,
    const struct hk_conf *conf);
/* Call once a second: a round every HK_PGSAMPLER_PERIOD_MS. */
void hk_pgsampler_tick(struct hk_pgsampler *s);
void hk_pgsampler_free(struct hk_pgsampler *s);

#endif /* HK_PGSAMPLER_H */
