/*
 * inboxmove.h - the inbox mover: events that ingest put in the PostgreSQL
 * inbox while Redis was down go into the stream once it is back.
 *
 * Oldest first, in batches, each in one transaction on a connection of its
 * own: SELECT ... FOR UPDATE SKIP LOCKED, the ingest's own script per row
 * (same event id, dedup key set), DELETE, COMMIT.  Two workers never move
 * the same row at once; a crash between the script and the COMMIT leaves
 * the row to be moved again (same id: at-least-once).
 */
#ifndef HK_INBOXMOVE_H
#define HK_INBOXMOVE_H

#include "config.h"
#include "dlredis.h"

struct event_base;

int  hk_inboxmove_init(struct event_base *base, const struct hk_conf *conf,
    struct hk_dlredis *redis, const char *stream);
/* Look at the inbox now (called periodically). */
void hk_inboxmove_kick(void);
void hk_inboxmove_stop(void);
void hk_inboxmove_shutdown(void);

#endif
