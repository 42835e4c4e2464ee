/*
 * pgconn.h - one nonblocking PostgreSQL connection in pipeline mode, kept
 * alive on a libevent base.  Every long-lived connection of a worker is
 * one of these; only the blocking tools (migrate, hookctl) use libpq
 * directly.
 *
 *          hk_pgconn_start            on_up
 *   IDLE ───────────────► CONNECTING ───────► UP ──┐ send_*, sync:
 *                            ▲    │                │ on_result per statement,
 *                  retry_ev  │    │ failed         │ on_sync per Sync
 *                 (backoff)  │    ▼                │
 *                           DOWN ◄─────────────────┘ broken, timed out, dropped:
 *                                                    on_down
 *
 * The user sends statements and Syncs while the connection is up; each
 * statement sent gets exactly one on_result, each Sync one on_sync, in the
 * order sent, unless on_down comes first: then nothing in flight gets an
 * answer, and whether it committed is unknown.  A Sync not answered within
 * query_ms counts as a broken connection.  Reconnection is automatic: a new
 * connection after a delay that doubles from 100 ms to 5 s (with jitter),
 * its loss logged once and its return once.
 *
 * Callbacks run from the event loop (on_down also from a call that finds
 * the connection broken); they may send, sync or drop.  A send or sync
 * returns HK_ERROR without a callback when the connection is not up; one
 * that fails on an up connection has already taken it down, and run
 * on_down, when it returns HK_ERROR.
 */
#ifndef HK_PGCONN_H
#define HK_PGCONN_H

#include <stddef.h>

#include <libpq-fe.h>

#include "backoff.h"

struct event_base;
struct event;

/* What a connection is for, and whom it tells; shared by its users. */
struct hk_pgconn_ops {
	const char *name;	/* in log lines: "postgres: <name> connection" */
	const char *appname;	/* application_name, unless the URL sets one */
	const char *down_note;	/* what an outage means, for its log line */
	int         query_ms;	/* a Sync unanswered this long: broken */
	void (*on_up)(void *arg);
	/* One statement's result (text format); the user PQclears it. */
	void (*on_result)(void *arg, PGresult *res);
	void (*on_sync)(void *arg);
	/* Lost, or an attempt failed: what was in flight gets no answer. */
	void (*on_down)(void *arg);
};

enum { HK_PGCONN_IDLE, HK_PGCONN_DOWN, HK_PGCONN_CONNECTING, HK_PGCONN_UP };

struct hk_pgconn {
	const struct hk_pgconn_ops *ops;
	void              *arg;
	struct event_base *base;
	char              *url;
	PGconn            *pg;
	int                state;
	int                failed;	/* an attempt failed since init */
	int                outage;	/* an outage logged, its end not yet */
	int                nstmt;	/* statements sent, result not taken */
	int                nsync;	/* Syncs sent, not back */
	PGresult          *res;		/* the current statement's, until its end */
	struct hk_backoff  backoff;
	struct event      *io_ev;	/* connecting: one step; up: reads */
	struct event      *wr_ev;	/* up: output pending */
	struct event      *timer_ev;	/* connect or Sync deadline */
	struct event      *retry_ev;	/* next attempt */
};

int  hk_pgconn_init(struct hk_pgconn *c, struct event_base *base,
    const char *url, const struct hk_pgconn_ops *ops, void *arg);
/* Connect, unless already connecting, up or waiting to retry. */
void hk_pgconn_start(struct hk_pgconn *c);
int  hk_pgconn_up(const struct hk_pgconn *c);
/* The first connection is still being made and nothing has failed yet. */
int  hk_pgconn_starting(const struct hk_pgconn *c);

/*
 * Pipeline one statement: with its text (planned each time), as a named
 * prepared statement, or the Parse that prepares one (its result comes
 * like any statement's).  Parameters as in PQsendQueryParams.
 */
int  hk_pgconn_send_params(struct hk_pgconn *c, const char *sql, int n,
    const Oid *types, const char *const *vals, const int *lens,
    const int *fmts);
int  hk_pgconn_send_prepare(struct hk_pgconn *c, const char *name,
    const char *sql, int n, const Oid *types);
int  hk_pgconn_send_prepared(struct hk_pgconn *c, const char *name, int n,
    const char *const *vals, const int *lens, const int *fmts);
/* End a pipeline with a Sync (committing an implicit transaction); send. */
int  hk_pgconn_sync(struct hk_pgconn *c);

/* Give this connection up (a rollback for an open transaction); retry. */
void hk_pgconn_drop(struct hk_pgconn *c, const char *why);
/* Close for good: no callback runs after this. */
void hk_pgconn_close(struct hk_pgconn *c);

/* libpq's multi-line message msg on one line, for a log record. */
const char *hk_pgconn_why(char *buf, size_t len, const char *msg);

#endif /* HK_PGCONN_H */
