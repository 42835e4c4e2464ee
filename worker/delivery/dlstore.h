/*
 * dlstore.h - the delivery worker's PostgreSQL connection: statements
 * queued from anywhere in the worker, sent in pipelined batches.
 *
 * A batch is every statement queued (up to a limit) followed by one Sync:
 * the statements form one implicit transaction, so a batch is one round
 * trip and one commit however many rows it writes.  A callback runs only
 * after the Sync came back, so "called back with a result" means
 * "committed".  When a batch fails, the statement that failed is counted
 * and the others are sent again in the next batch; a statement that failed
 * HK_DLSTORE_TRIES times is called back with NULL.  When the connection
 * breaks, everything in flight is sent again once it is back (every
 * statement the worker queues is safe to repeat), so nothing is lost to a
 * PostgreSQL restart; meanwhile statements wait here, and the worker keeps
 * its own intake bounded.
 */
#ifndef HK_DLSTORE_H
#define HK_DLSTORE_H

#include <libpq-fe.h>

#define HK_DLSTORE_TRIES   3
#define HK_DLSTORE_OID_TEXT  25
#define HK_DLSTORE_OID_BYTEA 17

struct event_base;

/* res: the statement's result (valid during the call only), or NULL. */
typedef void (*hk_dlstore_cb)(void *arg, const PGresult *res);

int  hk_dlstore_init(struct event_base *base, const char *url);
/*
 * Queue one statement.  Parameters are copied; every one is sent in binary
 * format (text is its bytes), typed text unless types says otherwise, NULL
 * values are SQL NULL.  Results come back in text format.  cb may be NULL.
 */
int  hk_dlstore_submit(const char *sql, int n, const char *const *vals,
    const int *lens, const Oid *types, hk_dlstore_cb cb, void *arg);
/*
 * The same, optimistic: sql inserts without ON CONFLICT, which PostgreSQL
 * runs about a fifth faster than a speculative insert (perf/README.md),
 * and alt is the same statement with it.  When sql fails with a unique
 * violation (a row was there after all), alt is sent in its place, and
 * that try is not counted.  The callback cannot tell which one committed.
 */
int  hk_dlstore_submit_alt(const char *sql, const char *alt, int n,
    const char *const *vals, const int *lens, const Oid *types,
    hk_dlstore_cb cb, void *arg);
int  hk_dlstore_up(void);
/* Statements queued or in flight, and rows waiting in batchers. */
int  hk_dlstore_pending(void);

/*
 * Batchers (dlbatch.c) hold rows that become statements only when a
 * pipeline is built: fn(arg) is called just before each one, with on = 1
 * to register and 0 to leave.  hk_dlstore_rows tells how many rows they
 * hold (a delta), so that a pipeline is sent as soon as the connection is
 * free and the shutdown drain waits for them.
 */
/*
 * A statement is parsed and planned each time it is sent, for its own
 * parameters, unless it was named here: then it is prepared once per
 * connection (a Parse named hk<n>, logged at debug level), and PostgreSQL
 * may keep one generic plan for it, made whenever it sees fit, perhaps
 * while the tables are empty.  Only for statements whose plan cannot
 * depend on the tables' size: inserts from parameters (their one index
 * probe is the conflict check, made by the executor, not the planner),
 * function calls, tiny tables.  A statement that reads or updates events,
 * deliveries or attempts by a join or a scan is never named here: a plan
 * cached while a table was empty (hash join over a sequential scan) would
 * scan the whole table on every batch once it is large.
 * tests/integration/test_delivery_plans.py holds every prepared statement
 * to that.
 */
int  hk_dlstore_keep_plan(const char *sql);
int  hk_dlstore_batcher(void (*fn)(void *), void *arg, int on);
void hk_dlstore_rows(int delta);
void hk_dlstore_shutdown(void);

#endif
