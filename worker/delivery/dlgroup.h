/*
 * dlgroup.h - the delivery worker's side of the consumer group "delivery"
 * on the Redis stream <prefix>events.
 *
 * Two connections, given by the worker: XREADGROUP with BLOCK ties its
 * connection up, so reads have one of their own (rd) and everything else
 * (XACK, XAUTOCLAIM, XPENDING, XINFO, XTRIM, group creation) goes on the
 * other (cmd).
 *
 * Consumers are named "<host>/<instance>/delivery-<index>": unique per
 * host and process, and the same for a worker respawned into its slot.
 * Consumers gone for an hour with nothing pending are removed from the
 * group (XGROUP DELCONSUMER).
 *
 * Reading: at start, and whenever the read connection comes back, the
 * worker re-reads its own pending entries (from ID 0, moving past what it
 * got) before it asks for new ones ('>').  At most
 * delivery.concurrency entries are in memory at once; while PostgreSQL is
 * down nothing is committed, so nothing is acked and the reads simply stop
 * at that bound.
 *
 * Acking: an entry is acked (XACK, batched) only when the dispatcher calls
 * hk_dlgroup_done with ok, that is once the first outcome of each of its
 * deliveries is committed; otherwise it stays pending.
 *
 * Claiming: hk_dlgroup_claim takes, with XAUTOCLAIM, the entries that have
 * been idle for more than twice the longest delivery timeout (their
 * consumer died).
 *
 * The group is created from ID 0 (with MKSTREAM), at start and after a
 * NOGROUP (Redis restarted empty): entries added before the group existed
 * are delivered rather than skipped.  Re-reading an entry that was already
 * handled costs nothing but a lookup, since its rows already exist and are
 * not attempted again from the stream.
 *
 * Trimming: hk_dlgroup_trim cuts the stream with XTRIM MINID at the oldest
 * pending entry (XPENDING), or at the group's last-delivered-id (XINFO
 * GROUPS) when none is pending: never below anything unacknowledged, and
 * never within the last HK_DLGROUP_KEEP_MS (entries that recent stay for
 * inspection).
 */
#ifndef HK_DLGROUP_H
#define HK_DLGROUP_H

#include "child.h"
#include "dlredis.h"

#define HK_DLGROUP_BLOCK_MS  1000	/* XREADGROUP BLOCK */

struct hk_dl_event;

int  hk_dlgroup_init(struct hk_child *c, struct hk_dlredis *rd,
    struct hk_dlredis *cmd, const char *stream);
/* The on_up of both connections. */
void hk_dlgroup_up(struct hk_dlredis *r);
/* Ask for more entries when there is room for them. */
void hk_dlgroup_read(void);
void hk_dlgroup_claim(void);
void hk_dlgroup_trim(void);
/* The dispatcher's done callback (hk_dispatch_done_fn). */
void hk_dlgroup_done(struct hk_dl_event *ev, int ok);
int  hk_dlgroup_ready(void);
int  hk_dlgroup_acks(void);
void hk_dlgroup_stop(void);
void hk_dlgroup_shutdown(void);

#endif
