/*
 * stats.h - the stats process role.
 */
#ifndef HK_STATS_H
#define HK_STATS_H

#include "child.h"

int hk_stats_main(struct hk_child *c);

#endif
