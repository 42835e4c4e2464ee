/*
 * layout.h - the shared-memory segment /hookd.<instance>: types only.
 *
 * This header includes nothing but the C library, so hookctl can map the
 * segment without linking libevent, hiredis or libpq.  Any change of the size
 * or order of anything below bumps HK_SHM_VERSION; padding is explicit.
 *
 *   +--------------------------------------------+ 0
 *   | struct hk_shm_header (4 KiB)                | magic, version, sizes, offsets,
 *   |                                             | owner pid, instance name
 *   +--------------------------------------------+ slots_off
 *   | struct hk_shm_slot [HK_SHM_SLOTS]           | one per process: identity,
 *   |   identity + heartbeat + counters (1 KiB)   | heartbeat, counters, and its
 *   |   ring head (own cache line)                | ring of timing records
 *   |   struct hk_rec [HK_RING_RECORDS]           |
 *   +--------------------------------------------+ snapshot_off
 *   | stats snapshot, seqlock-guarded             | written by the stats process,
 *   |                                             | read by hookctl
 *   +--------------------------------------------+ buckets_off
 *   | struct hk_shm_bucket [HK_SHM_BUCKETS]       | instance-wide rate limits
 *   +--------------------------------------------+ total_size
 *
 * Who writes what: the master writes the header and the identity part of a
 * slot (pid, role, index, generation, start time, state on spawn and reap);
 * the process owning a slot writes its heartbeat, counters and ring; the
 * stats process writes the snapshot; ingest workers update the buckets with
 * compare-and-swap.  Readers (stats, hookctl) never write to a ring.
 */
#ifndef HK_LAYOUT_H
#define HK_LAYOUT_H

#include <stdatomic.h>
#include <stdint.h>

#define HK_SHM_MAGIC        0x4d48534b444b4f48ull	/* "HOOKDSHM" little-endian */
#define HK_SHM_VERSION      1u
#define HK_SHM_SLOTS        128u	/* two generations of children fit */
#define HK_RING_RECORDS     4096u	/* a power of two */
#define HK_SHM_BUCKETS      256u
#define HK_SHM_SNAPSHOT_MAX (4u << 20)	/* bytes reserved for the snapshot */
#define HK_CACHELINE        64u

enum hk_role {
	HK_ROLE_NONE = 0,
	HK_ROLE_MASTER,
	HK_ROLE_INGEST,
	HK_ROLE_DELIVERY,
	HK_ROLE_STATS,
};

enum hk_slot_state {
	HK_SLOT_FREE = 0,	/* never used */
	HK_SLOT_STARTING,	/* forked, not yet serving */
	HK_SLOT_RUNNING,
	HK_SLOT_DRAINING,	/* told to stop, finishing in-flight work */
	HK_SLOT_DEAD,		/* exited; kept for hookctl until reused */
};

/* What a record describes. */
enum hk_rec_kind {
	HK_REC_INGEST = 1,
	HK_REC_DELIVERY = 2,
	/*
	 * Routing, counted by the stats process and skipped by every other
	 * reader.  FILTERED (a delivery worker): event id was stored, but no
	 * destination of its source wanted it.  EVTYPE (an ingest worker):
	 * from now on, dest = N in this slot's ingest records of this source
	 * means the event type whose name fills the bytes from stage_us on
	 * (NUL-terminated; see worker/ingest/ingtypes.c).
	 */
	HK_REC_FILTERED = 3,
	HK_REC_EVTYPE = 4,
};

/* Stage indexes of hk_rec.stage_us for an ingest request. */
enum hk_ingest_stage {
	HK_STAGE_RECEIVE,
	HK_STAGE_VERIFY,
	HK_STAGE_PARSE,
	HK_STAGE_ENQUEUE,
	HK_STAGE_RESPOND,
	HK_STAGE_TOTAL,
	HK_INGEST_STAGES
};

/* Stage indexes of hk_rec.stage_us for a delivery attempt. */
enum hk_delivery_stage {
	HK_STAGE_QUEUE,
	HK_STAGE_STORE,
	HK_STAGE_CONNECT,
	HK_STAGE_TTFB,
	HK_STAGE_ATTEMPT,
	HK_STAGE_ACK,
	HK_STAGE_E2E,
	HK_DELIVERY_STAGES
};

#define HK_REC_STAGES 7

/* hk_rec.flags */
#define HK_REC_DUPLICATE  0x01	/* ingest: answered 200 duplicate */
#define HK_REC_FALLBACK   0x02	/* ingest: stored in the PostgreSQL inbox */
#define HK_REC_ERROR      0x04	/* ingest: answered 4xx/5xx; delivery: failed */
#define HK_REC_DEAD       0x08	/* delivery: last attempt, now dead */

/*
 * One timed request or delivery attempt: exactly one cache line.  Stage
 * times are microseconds, saturated at UINT32_MAX (71 minutes).
 */
struct hk_rec {
	uint64_t ts_us;			/* wall clock when the request began */
	uint8_t  kind;			/* enum hk_rec_kind */
	uint8_t  flags;
	uint16_t status;		/* HTTP status answered or received */
	uint16_t source;		/* index into the configuration's sources */
	uint16_t dest;			/* delivery: index into destinations;
					 * ingest: event type number
					 * (HK_REC_EVTYPE) */
	uint32_t stage_us[HK_REC_STAGES];
	uint32_t bytes;			/* body size */
	uint8_t  id[16];		/* event id (UUIDv7) */
};
_Static_assert(sizeof(struct hk_rec) == 64, "a record is one cache line");

/*
 * A single-writer ring.  The head counts records ever written; record n
 * lives in rec[n % HK_RING_RECORDS].  See ring.h for the protocol.
 */
struct hk_ring {
	_Atomic uint64_t head;		/* written only by the slot's owner */
	uint8_t  pad0[HK_CACHELINE - sizeof(uint64_t)];
	struct hk_rec rec[HK_RING_RECORDS];
};

/* Per-process counters, written only by the slot owner (relaxed). */
struct hk_slot_counters {
	_Atomic uint64_t requests;	/* ingest: requests answered; delivery: attempts */
	_Atomic uint64_t errors;
	_Atomic uint64_t bytes;
	_Atomic uint64_t reserved[5];
};

struct hk_shm_slot {
	/* Identity: written by the master at spawn and reap. */
	_Atomic int32_t  pid;
	uint8_t  role;			/* enum hk_role */
	uint8_t  pad1;
	uint16_t index;
	uint32_t generation;
	_Atomic uint32_t state;		/* enum hk_slot_state */
	uint64_t start_us;		/* wall clock at spawn */
	_Atomic uint32_t restarts;	/* respawns into this slot */
	int32_t  exit_status;		/* last wait status, for hookctl */
	uint64_t spawn_mono_ns;
	/* Written by the owner. */
	_Atomic uint64_t heartbeat_ns;	/* CLOCK_MONOTONIC of the last beat */
	struct hk_slot_counters counters;
	uint8_t  pad2[1024 - 48 - sizeof(struct hk_slot_counters)];
	struct hk_ring ring;
};
_Static_assert(sizeof(struct hk_shm_slot) % HK_CACHELINE == 0, "slot alignment");

/*
 * An instance-wide rate limit for one source, as GCRA: one atomic holds the
 * theoretical arrival time, so every ingest worker can take a token with a
 * single compare-and-swap (ratelimit.c).
 */
struct hk_shm_bucket {
	char     name[64];		/* source name; "" when unused */
	_Atomic uint64_t tat_ns;	/* CLOCK_MONOTONIC theoretical arrival time */
	uint8_t  pad[HK_CACHELINE - 8];
};
_Static_assert(sizeof(struct hk_shm_bucket) == 128, "bucket size");

struct hk_shm_header {
	uint64_t magic;
	uint32_t version;
	uint32_t header_size;
	uint64_t total_size;
	_Atomic int32_t master_pid;
	uint32_t nslots;
	uint32_t slot_size;
	uint32_t ring_records;
	uint64_t slots_off;
	uint64_t snapshot_off;
	uint64_t snapshot_size;
	uint64_t buckets_off;
	uint32_t nbuckets;
	_Atomic uint32_t generation;	/* current generation of children */
	uint64_t created_us;
	_Atomic uint64_t reloads;
	char     instance[64];
	uint8_t  reserved[4096 - 160];
};
_Static_assert(sizeof(struct hk_shm_header) == 4096, "header size");

#endif /* HK_LAYOUT_H */
