/*
 * aggr.h - what the stats process knows: every timing record read from the
 * rings, folded into groups (all ingest, all delivery, requests without a
 * known source, each source, each destination), each with counters by
 * status and a sliding window per stage (window.h).
 *
 * The group order is the snapshot's (snapshot.h): [0] ingest total, [1]
 * delivery total, [2] unknown source, then the sources, then the
 * destinations, in configuration order.  A group's windows are allocated on
 * its first record, so a configuration with many idle sources costs little.
 */
#ifndef HK_AGGR_H
#define HK_AGGR_H

#include <stdint.h>

#include "config.h"
#include "layout.h"
#include "snapshot.h"
#include "window.h"

#define HK_AGGR_CODES 600	/* exact status codes 0 .. 599; 0: none */

/* Counter indexes in a group's struct hk_window_ctr. */
enum hk_aggr_ctr {
	HK_AGGR_REQUESTS,
	HK_AGGR_ERRORS,
	HK_AGGR_DUPLICATES,
	HK_AGGR_FALLBACK,
	HK_AGGR_BYTES,
	HK_AGGR_DEAD,
};

struct hk_aggr_group {
	char     name[HK_SNAP_NAME_MAX];
	int      kind;			/* enum hk_rec_kind */
	int      scope;			/* enum hk_snap_scope */
	int      index;
	unsigned nstages;
	struct hk_window_ctr   ctr;
	uint64_t codes[HK_AGGR_CODES];
	struct hk_window stage[HK_REC_STAGES];
	/* The 1/10/60 s windows change only when the second does. */
	uint64_t cache_sec1;		/* now_sec + 1 of the cache; 0: none */
	struct hk_snap_counts cache_counts[HK_SNAP_ALL];
	struct hk_snap_stage  cache_stage[HK_REC_STAGES][HK_SNAP_ALL];
};

struct hk_aggr {
	struct hk_aggr_group **group;	/* ngroups; NULL until a record */
	char   (*names)[HK_SNAP_NAME_MAX];
	unsigned ngroups;
	unsigned nsources;
	unsigned ndests;
	uint64_t records;
	uint64_t started_us;		/* wall clock of start or reset */
	uint64_t started_sec;		/* the caller's seconds, likewise */
};

int  hk_aggr_init(struct hk_aggr *a, const struct hk_conf *conf,
    uint64_t now_sec);
void hk_aggr_free(struct hk_aggr *a);
/* Forget everything, as if just started (POST /stats/reset). */
void hk_aggr_reset(struct hk_aggr *a, uint64_t now_sec);
void hk_aggr_add(struct hk_aggr *a, const struct hk_rec *r, uint64_t now_sec);

/* Group i, or NULL when it has had no record. */
const struct hk_aggr_group *hk_aggr_get(const struct hk_aggr *a,
    unsigned i);
const char *hk_aggr_name(const struct hk_aggr *a, unsigned i);
int  hk_aggr_scope(const struct hk_aggr *a, unsigned i);

/*
 * Fill ngroups, used, window_s and the groups of s (which has room for
 * HK_SNAP_BYTES_MAX bytes); the caller fills the rest of the header.
 */
void hk_aggr_snapshot(struct hk_aggr *a, uint64_t now_sec,
    struct hk_snapshot *s);

#endif /* HK_AGGR_H */
