/*
 * dlretain.h - storage retention, run by every delivery worker: at start,
 * then every HK_DLRETAIN_EVERY_S, one call of hookd_retention() (sql/
 * 003_partitions.sql) on the worker's PostgreSQL connection: it makes the
 * day partitions of the next HK_DLRETAIN_AHEAD days, then drops the days
 * older than postgres.retention_days, except those still holding
 * deliveries pending or retrying.  The function tries an advisory lock, so
 * with any number of workers on any number of hosts one does the work and
 * the others are told "busy".  What was dropped, and what was kept and
 * why, is logged here.
 */
#ifndef HK_DLRETAIN_H
#define HK_DLRETAIN_H

#include <stdint.h>

#include "config.h"

#define HK_DLRETAIN_EVERY_S   600	/* between two runs */
#define HK_DLRETAIN_RETRY_S   60	/* after a run that failed */
#define HK_DLRETAIN_AHEAD     3		/* days of partitions made ahead */

void hk_dlretain_init(const struct hk_conf *conf);
/* Run when due (and the connection is up); call from a periodic tick. */
void hk_dlretain_tick(uint64_t now_ns);

#endif
