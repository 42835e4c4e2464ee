/*
 * inbox.h - the PostgreSQL inbox: where an ingest worker stores an event
 * while Redis cannot take it.
 *
 * One nonblocking libpq connection per worker, opened at start and kept;
 * when it breaks it is reopened in the background with backoff.  Requests
 * queue here and go to the server in batches: every request submitted while
 * a batch is in flight waits for the next one, and a batch is one pipeline
 * with one Sync, so it commits once (group commit, without any wait added
 * when the load is light).
 *
 * This is enqueue.c's back end; nothing else should need it.
 */
#ifndef HK_INBOX_H
#define HK_INBOX_H

#include <sys/queue.h>

#include "enqueue.h"

struct event_base;

/* result: enum hk_enqueue_result; id: the stored row's id (or the first). */
typedef void (*hk_inbox_cb)(void *arg, int result, const char *id);

/* One insert; the caller embeds it in its own request and keeps it valid. */
struct hk_inbox_req {
	TAILQ_ENTRY(hk_inbox_req) link;
	const struct hk_enqueue_event *ev;
	hk_inbox_cb  cb;
	void        *arg;
	int          tries;		/* sends so far */
	int          outcome;		/* in the current batch: HK_INBOX_R_* */
	char         id[40];
};

int  hk_inbox_init(struct event_base *base, const char *url);
/*
 * Queue an insert.  HK_OK: the callback runs later, exactly once, from the
 * event loop (never from inside this call).  HK_ERROR: PostgreSQL is known
 * to be unavailable (or the queue is full); the callback will not run.
 */
int  hk_inbox_submit(struct hk_inbox_req *r, const struct hk_enqueue_event *ev,
    hk_inbox_cb cb, void *arg);
int  hk_inbox_up(void);
/* Close the connection; queued requests are called back UNAVAILABLE. */
void hk_inbox_shutdown(void);

#endif /* HK_INBOX_H */
