/*
 * snapshot.h - the stats snapshot in the segment: types, and the calls that
 * read and write it.
 *
 * The stats process drains every ring, aggregates, and ten times a second
 * publishes what it knows into the snapshot region (hdr->snapshot_off,
 * HK_SHM_SNAPSHOT_MAX bytes).  hookctl copies it out of its read-only
 * mapping, so `hookctl stats` and `hookctl top` show percentiles without
 * talking to any process.  The types include nothing but the C library and
 * layout.h, because hookctl maps them.
 *
 *   snapshot_off
 *   +-------------------------------+ 0
 *   | seq (the seqlock, seqlock.h)  | odd while the stats process writes
 *   | pad to a cache line           |
 *   +-------------------------------+ 64
 *   | struct hk_snapshot  (256 B)   | magic, version, sizes, times, Redis,
 *   |                               | ring totals, ngroups
 *   +-------------------------------+ 320
 *   | struct hk_snap_group (2 KiB)  | [0] ingest, all sources
 *   |   x ngroups                   | [1] delivery, all destinations
 *   |                               | [2] ingest without a known source
 *   |                               | [3 ..] one per source, then one per
 *   |                               |   destination, in config order
 *   +-------------------------------+ 64 + used
 *
 * A group carries, since the stats process started (or was reset) and over
 * the last 1, 10 and 60 complete seconds: counters, and per stage the count,
 * sum, p50, p90, p99 and max in microseconds.  Percentiles are computed by
 * the stats process from its histograms (histogram.h); the snapshot holds
 * only their summary, which is what a reader needs and keeps it small.
 *
 * Only the first `used` bytes are written and read, so a configuration with
 * three sources costs a few KiB per publish, not the whole region.  Any
 * change of size or order below bumps HK_SNAP_VERSION; a reader that finds
 * another version refuses to guess.
 */
#ifndef HK_SNAPSHOT_H
#define HK_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "layout.h"

#define HK_SNAP_MAGIC        0x50414e53444b4f48ull	/* "HOKDSNAP" */
#define HK_SNAP_VERSION      1u
#define HK_SNAP_NAME_MAX     64
#define HK_SNAP_STATUSES     16	/* exact status codes kept per group */
#define HK_SNAP_MAX_SOURCES  256
#define HK_SNAP_MAX_DESTS    256
#define HK_SNAP_FIXED_GROUPS 3	/* ingest, delivery, unknown source */
#define HK_SNAP_MAX_GROUPS   \
	(HK_SNAP_FIXED_GROUPS + HK_SNAP_MAX_SOURCES + HK_SNAP_MAX_DESTS)

/* The windows of a group, in this order. */
enum hk_snap_window {
	HK_SNAP_1S,
	HK_SNAP_10S,
	HK_SNAP_60S,
	HK_SNAP_ALL,		/* since the stats process started or reset */
	HK_SNAP_WINDOWS
};

/* What a group covers. */
enum hk_snap_scope {
	HK_SNAP_TOTAL = 1,	/* every source, or every destination */
	HK_SNAP_UNKNOWN,	/* requests that named no configured source */
	HK_SNAP_SOURCE,
	HK_SNAP_DEST,
};

/* One stage over one window; microseconds.  48 bytes. */
struct hk_snap_stage {
	uint64_t count;
	uint64_t sum_us;
	uint64_t p50_us;
	uint64_t p90_us;
	uint64_t p99_us;
	uint64_t max_us;
};

/* The counters of one window.  64 bytes. */
struct hk_snap_counts {
	uint64_t requests;	/* ingest: requests; delivery: attempts */
	uint64_t errors;	/* ingest: 4xx/5xx; delivery: failed attempts */
	uint64_t duplicates;	/* ingest */
	uint64_t fallback;	/* ingest: stored in the PostgreSQL inbox */
	uint64_t bytes;		/* body bytes */
	uint64_t dead;		/* delivery: last attempt failed */
	uint64_t reserved[2];
};

/* Requests answered (or attempts received) with one status code. */
struct hk_snap_status {
	uint16_t code;
	uint8_t  pad[6];
	uint64_t count;
};

/* One source, one destination, or a total.  2048 bytes. */
struct hk_snap_group {
	char     name[HK_SNAP_NAME_MAX];	/* "" for totals and unknown */
	uint8_t  kind;			/* enum hk_rec_kind */
	uint8_t  scope;			/* enum hk_snap_scope */
	uint16_t index;			/* in the config's sources or dests */
	uint8_t  nstages;		/* HK_INGEST_ or HK_DELIVERY_STAGES */
	uint8_t  nstatus;		/* entries used in status[] */
	uint8_t  pad[2];
	/* Since start: [0] no status, [1] .. [5] 1xx .. 5xx. */
	uint64_t status_class[6];
	/* Since start, ascending; codes past the 16th only in a class. */
	struct hk_snap_status status[HK_SNAP_STATUSES];
	struct hk_snap_counts counts[HK_SNAP_WINDOWS];
	struct hk_snap_stage  stage[HK_REC_STAGES][HK_SNAP_WINDOWS];
	uint8_t  reserved[72];
};
_Static_assert(sizeof(struct hk_snap_group) == 2048, "snapshot group size");

struct hk_snapshot {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;		/* sizeof(struct hk_snapshot) */
	uint32_t group_size;		/* sizeof(struct hk_snap_group) */
	uint32_t ngroups;
	uint64_t used;			/* header and groups, in bytes */
	uint64_t publishes;		/* snapshots published by this writer */
	uint64_t published_us;		/* wall clock of this one */
	uint64_t started_us;		/* the stats process started or reset */
	int32_t  stats_pid;
	uint32_t window_s[HK_SNAP_WINDOWS];	/* seconds each window covers */
	uint32_t pad0;
	int64_t  stream_length;		/* XLEN <prefix>events; -1 unknown */
	int64_t  stream_pending;	/* XPENDING (group delivery); -1: ? */
	int32_t  redis_up;		/* 1 up, 0 down, -1 not sampled yet */
	uint32_t pad1;
	uint64_t redis_sampled_us;	/* wall clock of the last answer */
	uint64_t records;		/* ring records read since start */
	uint64_t ring_missed;		/* records lost since start */
	char     instance[64];
	/* Redis as the stats process sees it (Sentinel may move the master). */
	char     redis_master[48];	/* "host:port" sampled; "" unknown */
	uint32_t redis_switches;	/* new masters followed since start */
	int32_t  consumer_hosts;	/* "<host>/<instance>"s in the group; -1 ? */
	uint8_t  reserved[256 - 248];
	/* struct hk_snap_group group[ngroups] follows. */
};
_Static_assert(sizeof(struct hk_snapshot) == 256, "snapshot header size");

/* The region at hdr->snapshot_off. */
struct hk_snap_region {
	/*
	 * The seqlock: its first word is a struct hk_seqlock (seqlock.h, one
	 * _Atomic uint64_t), touched only through hk_snapshot_publish and
	 * hk_snapshot_read.  Plain words here keep seqlock.h out of this
	 * header; the rest of the line is padding.
	 */
	uint64_t seqlock[HK_CACHELINE / sizeof(uint64_t)];
	struct hk_snapshot snap;
};

#define HK_SNAP_BYTES(ngroups) \
	(sizeof(struct hk_snapshot) \
	    + (size_t)(ngroups) * sizeof(struct hk_snap_group))
#define HK_SNAP_BYTES_MAX    HK_SNAP_BYTES(HK_SNAP_MAX_GROUPS)

_Static_assert(offsetof(struct hk_snap_region, snap) + HK_SNAP_BYTES_MAX
    <= HK_SHM_SNAPSHOT_MAX, "the snapshot fits its region");

static inline struct hk_snap_group *
hk_snapshot_group(struct hk_snapshot *s, unsigned i)
{
	return (struct hk_snap_group *)(void *)((char *)s + s->header_size
	    + (size_t)i * s->group_size);
}

static inline const struct hk_snap_group *
hk_snapshot_cgroup(const struct hk_snapshot *s, unsigned i)
{
	return (const struct hk_snap_group *)(const void *)((const char *)s
	    + s->header_size + (size_t)i * s->group_size);
}

/*
 * The stats process: publish s (s->used bytes) into the region, under the
 * seqlock.  The writer is the only one; readers never block it.
 */
void hk_snapshot_publish(struct hk_snap_region *r, const struct hk_snapshot *s);

/*
 * Readers: copy the snapshot into out (outlen bytes, HK_SNAP_BYTES_MAX is
 * always enough).  HK_OK; HK_AGAIN when nothing was published yet or the
 * writer kept overlapping the copy; HK_ERROR with a reason in err when the
 * region holds another version.
 */
int  hk_snapshot_read(const struct hk_snap_region *r, struct hk_snapshot *out,
    size_t outlen, char *err, size_t errlen);

/* Names for output: "receive", "e2e", ...; "1s", "10s", "60s", "all". */
const char *hk_snapshot_stage_name(int kind, unsigned stage);
const char *hk_snapshot_window_name(unsigned w);

/*
 * The snapshot as one JSON object and a newline: what GET /stats answers
 * and `hookctl stats --json` prints, from one function so they never drift.
 */
void hk_snapshot_json(const struct hk_snapshot *s, uint64_t now_us, FILE *fp);
/* A JSON string literal of s, escaped, with its quotes. */
void hk_snapshot_json_str(FILE *fp, const char *s);

#endif /* HK_SNAPSHOT_H */
