/*
 * control.h - the operator's controls over destinations, in one place for
 * both doors: hookctl (server/ctl/, blocking libpq) and the admin port
 * (server/stats/, nonblocking pgconn).  Here are the statements, the
 * checks of their arguments, and the JSON both answer with; the callers
 * only run the statements their own way.
 *
 *   destinations  one row per configured destination: destination_state,
 *                 counts of its open and dead deliveries, its newest
 *                 success and failure (sql/006_control.sql's indexes), and
 *                 the breaker, read from Redis (<prefix>breaker:<name>
 *                 exists while a delivery worker's breaker is open; its
 *                 value is the open-until time in Unix ms)
 *   disable       destination_state.disabled = true, by 'operator'
 *   enable        disabled = false, whoever disabled it (410 or operator)
 *   replay        deliveries chosen by time, destination, status, source
 *                 and event type go back to pending, due now, in batches
 *                 of HK_CONTROL_BATCH rows, each its own short transaction
 *                 (keyset paging on the deliveries key, so nothing is
 *                 locked for long and no row is taken twice)
 *
 * Delivery workers read destination_state every HK_CONTROL_REFRESH_MS
 * (worker/delivery/dlscan.c) and their scanner never claims a disabled
 * destination's rows, so a change holds everywhere within a second.
 */
#ifndef HK_CONTROL_H
#define HK_CONTROL_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#define HK_CONTROL_BATCH       500	/* deliveries a replay transaction */
#define HK_CONTROL_REFRESH_MS  250	/* workers re-read destination_state */
#define HK_CONTROL_REASON_MAX  500	/* bytes of a disable reason */

/* destinations: $1 the configured names (hk_control_names), in order. */
extern const char hk_control_destinations_sql[];
/* disable: $1 destination, $2 reason (NULL: none), $3 by. */
extern const char hk_control_disable_sql[];
/* enable: $1 destination. */
extern const char hk_control_enable_sql[];
/* replay, the dry run: the first HK_CONTROL_REPLAY_NPARAMS - 3 parameters
 * (the selection); one row per destination (name, count). */
extern const char hk_control_replay_count_sql[];
/* replay, one batch: all parameters; one row (replayed, cursor id,
 * cursor destination; both NULL when nothing matched). */
extern const char hk_control_replay_batch_sql[];

/* What a replay selects, as given (NULL: not given). */
struct hk_control_replay {
	const char *since, *until, *destination, *status, *source, *type;
	int         dry_run;
	unsigned long long lease_us;	/* hk_conf_claim_lease_us */
};

#define HK_CONTROL_REPLAY_NPARAMS 11

/* A replay's statement parameters, built by hk_control_replay_params. */
struct hk_control_replay_args {
	const char *v[HK_CONTROL_REPLAY_NPARAMS];
	char   since[48], until[48], batch[16], lease[24];
	char   cursor_id[48], cursor_dest[128];
};

/*
 * The configured destination names as a PostgreSQL array literal,
 * malloc'ed (names are [A-Za-z0-9_.-]: quoting is enough); NULL when out
 * of memory.
 */
char *hk_control_names(const char *const *names, int n);

/*
 * Check r and fill a's parameters (names: hk_control_names).  HK_OK, or
 * HK_ERROR with a sentence for the user in err.  A time is anything
 * PostgreSQL takes as a timestamptz ("2026-12-03T10:00:00Z", "now"), or a
 * span back from now: "90s", "30m", "2h", "7d".
 */
int  hk_control_replay_params(const struct hk_control_replay *r,
    const char *names, struct hk_control_replay_args *a, char *err,
    size_t errlen);
/* After a batch's result row: 1 and the cursor moved when another batch
 * may find more, 0 when the replay is done. */
int  hk_control_replay_next(struct hk_control_replay_args *a,
    const PGresult *res, long long *replayed);

/* Is reason text fit to store (length, no NUL)? */
int  hk_control_reason_ok(const char *reason);

/*
 * The destinations listing as JSON: an array of objects, one per row of
 * res (hk_control_destinations_sql).  breaker[i] is the Redis value for
 * row i: NULL when the key is absent (closed), "" when Redis could not be
 * read (unknown, JSON null).
 */
json_t *hk_control_destinations_json(const PGresult *res,
    const char *const *breaker);

#endif /* HK_CONTROL_H */
