/*
 * control.c - the statements and answers of the destination controls
 * (see control.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "control.h"
#include "core.h"

/* An ISO 8601 UTC timestamp with microseconds, from SQL. */
#define HK_CONTROL_TS(col) \
	"to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/*
 * Open deliveries are read through the partial index deliveries_due, dead
 * ones and the newest failure through deliveries_dest_failed, the newest
 * success through deliveries_dest_succeeded (one entry per partition).
 * "in flight" are open deliveries not yet due: leased to a worker for an
 * attempt, or waiting for their retry time; "due" are those a worker may
 * claim now (for a disabled destination: the held ones).
 */
const char hk_control_destinations_sql[] =
    "SELECT n.name, coalesce(s.disabled, false), s.disabled_by, s.reason,"
    "  " HK_CONTROL_TS("s.disabled_at") ","
    "  coalesce(o.in_flight, 0), coalesce(o.due, 0),"
    "  (SELECT count(*) FROM deliveries d WHERE d.destination = n.name"
    "    AND d.status = 'dead'),"
    "  (SELECT " HK_CONTROL_TS("d.updated_at") " FROM deliveries d"
    "    WHERE d.destination = n.name AND d.status = 'succeeded'"
    "    ORDER BY d.updated_at DESC LIMIT 1),"
    "  " HK_CONTROL_TS("f.updated_at") ", f.last_status, f.last_error"
    " FROM unnest($1::text[]) WITH ORDINALITY AS n(name, i)"
    " LEFT JOIN destination_state s ON s.destination = n.name"
    " LEFT JOIN (SELECT destination,"
    "   count(*) FILTER (WHERE next_attempt_at > now()) AS in_flight,"
    "   count(*) FILTER (WHERE next_attempt_at <= now()) AS due"
    "   FROM deliveries WHERE status IN ('pending', 'retrying')"
    "   GROUP BY destination) o ON o.destination = n.name"
    " LEFT JOIN LATERAL (SELECT d.updated_at, d.last_status, d.last_error"
    "   FROM deliveries d WHERE d.destination = n.name"
    "   AND d.status IN ('retrying', 'dead')"
    "   ORDER BY d.updated_at DESC LIMIT 1) f ON true"
    " ORDER BY n.i";

/* The old state is read before the change (a CTE sees the snapshot the
 * statement started with), so the answer can say what it was. */
const char hk_control_disable_sql[] =
    "WITH o AS (SELECT disabled FROM destination_state"
    "  WHERE destination = $1),"
    " u AS (INSERT INTO destination_state (destination, disabled,"
    "  disabled_at, reason, disabled_by) VALUES ($1, true, now(), $2, $3)"
    "  ON CONFLICT (destination) DO UPDATE SET disabled = true,"
    "  disabled_at = now(), reason = EXCLUDED.reason,"
    "  disabled_by = EXCLUDED.disabled_by RETURNING disabled_at)"
    " SELECT coalesce((SELECT disabled FROM o), false),"
    "  (SELECT " HK_CONTROL_TS("disabled_at") " FROM u)";

const char hk_control_enable_sql[] =
    "WITH o AS (SELECT disabled, disabled_by FROM destination_state"
    "  WHERE destination = $1),"
    " u AS (INSERT INTO destination_state (destination, disabled)"
    "  VALUES ($1, false) ON CONFLICT (destination) DO UPDATE"
    "  SET disabled = false, disabled_at = NULL, reason = NULL,"
    "  disabled_by = NULL RETURNING 1)"
    " SELECT coalesce((SELECT disabled FROM o), false),"
    "  (SELECT disabled_by FROM o), (SELECT count(*) FROM u)";

/*
 * What a replay selects.  $1 since, $2 until (NULL: no end), on the
 * event's arrival (the partition key: only the partitions of that span
 * are read); $3 destination, $4 statuses (array), $5 source, $6 event
 * type, '*' matching any run as in hookctl events --type (NULL: any; the
 * events are read only when one of them is given); $7 the configured
 * destinations (the pool has nowhere to send the others); $8 the delivery
 * workers' claim lease in microseconds.  Pending deliveries are never
 * taken: they are on their way already.  Nor is a retrying row whose
 * next_attempt_at lies within the lease from now: a worker may have claimed
 * it and be attempting it (a claim sets next_attempt_at to its time plus
 * the lease), and taking it would send it twice at once; its retry is due
 * within the lease anyway.
 */
#define HK_CONTROL_REPLAY_WHERE \
	" FROM deliveries d" \
	" WHERE d.received_at >= $1::timestamptz" \
	"  AND ($2::timestamptz IS NULL OR d.received_at < $2::timestamptz)" \
	"  AND ($3::text IS NULL OR d.destination = $3::text)" \
	"  AND d.status = ANY ($4::text[])" \
	"  AND d.destination = ANY ($7::text[])" \
	"  AND (d.status <> 'retrying' OR d.next_attempt_at IS NULL" \
	"   OR d.next_attempt_at <= now()" \
	"   OR d.next_attempt_at > now() + $8::bigint" \
	"    * interval '1 microsecond')" \
	"  AND (($5::text IS NULL AND $6::text IS NULL) OR EXISTS (SELECT 1" \
	"   FROM events e WHERE e.id = d.event_id" \
	"   AND e.received_at = d.received_at" \
	"   AND ($5::text IS NULL OR e.source = $5::text)" \
	"   AND ($6::text IS NULL OR e.event_type LIKE replace(replace(" \
	"    replace(replace($6::text, '\\', '\\\\'), '%', '\\%'), '_'," \
	"    '\\_'), '*', '%'))))"

const char hk_control_replay_count_sql[] =
    "SELECT d.destination, count(*)" HK_CONTROL_REPLAY_WHERE
    " GROUP BY d.destination ORDER BY d.destination";

/*
 * One batch: $9 rows at most, after the cursor ($10 event id, $11
 * destination; NULL at the start), in key order so that each batch walks
 * on from where the last one stopped and a row replayed (now pending, or
 * matching again under --status all) is never taken twice.  The rows are
 * locked only for this statement's transaction.
 */
const char hk_control_replay_batch_sql[] =
    "WITH s AS (SELECT d.event_id, d.destination, d.received_at"
    HK_CONTROL_REPLAY_WHERE
    "  AND ($10::uuid IS NULL OR (d.event_id, d.destination)"
    "   > ($10::uuid, $11::text))"
    "  ORDER BY d.event_id, d.destination LIMIT $9::int FOR UPDATE OF d),"
    " u AS (UPDATE deliveries d SET status = 'pending',"
    "  next_attempt_at = now(), updated_at = now() FROM s"
    "  WHERE d.event_id = s.event_id AND d.destination = s.destination"
    "  AND d.received_at = s.received_at RETURNING 1),"
    " l AS (SELECT event_id, destination FROM s"
    "  ORDER BY event_id DESC, destination DESC LIMIT 1)"
    " SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM s),"
    "  (SELECT event_id::text FROM l), (SELECT destination FROM l)";

char *
hk_control_names(const char *const *names, int n)
{
	size_t len = 3, o = 0;
	char *s;

	for (int i = 0; i < n; i++)
		len += strlen(names[i]) + 3;
	if ((s = malloc(len)) == NULL)
		return NULL;
	s[o++] = '{';
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(s + o, len - o, "%s\"%s\"", i ? "," : "",
		    names[i]);
	s[o++] = '}';
	s[o] = '\0';
	return s;
}

/*
 * hk_control_time - a replay time for PostgreSQL: a span back from now
 * ("30m") becomes an ISO timestamp, anything else goes as it is and
 * PostgreSQL judges it.
 */
static int
hk_control_time(const char *in, char *out, size_t len)
{
	static const struct { char unit; uint64_t s; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
	};
	size_t n = strspn(in, "0123456789");
	uint64_t v, now = hk_clock_real_us();

	if (in[0] == '\0' || strlen(in) >= len)
		return HK_ERROR;
	if (n > 0 && n < 10 && in[n] != '\0' && in[n + 1] == '\0')
		for (size_t i = 0; i < HK_NELEM(units); i++) {
			if (in[n] != units[i].unit)
				continue;
			/* In seconds first: nine digits of days overflow
			 * microseconds, and a wrapped span would reach back
			 * only hours. */
			v = strtoull(in, NULL, 10);
			v = v <= now / 1000000u / units[i].s
			    ? v * units[i].s * 1000000u : now;
			hk_clock_iso8601(now - v, out, len);
			return HK_OK;
		}
	snprintf(out, len, "%s", in);
	return HK_OK;
}

int
hk_control_replay_params(const struct hk_control_replay *r,
    const char *names, struct hk_control_replay_args *a, char *err,
    size_t errlen)
{
	const char *st = r->status ? r->status : "dead";

	memset(a, 0, sizeof(*a));
	if (r->since == NULL) {
		snprintf(err, errlen, "since is required: a time, or a span "
		    "back from now such as 2h");
		return HK_ERROR;
	}
	if (hk_control_time(r->since, a->since, sizeof(a->since)) != HK_OK
	    || (r->until != NULL && hk_control_time(r->until, a->until,
	    sizeof(a->until)) != HK_OK)) {
		snprintf(err, errlen, "a time is empty or too long");
		return HK_ERROR;
	}
	if (strcmp(st, "dead") == 0)
		a->v[3] = "{dead}";
	else if (strcmp(st, "failed") == 0)
		a->v[3] = "{retrying,dead}";
	else if (strcmp(st, "all") == 0)
		a->v[3] = "{succeeded,retrying,dead}";
	else {
		snprintf(err, errlen, "status must be dead, failed or all, "
		    "not \"%.64s\"", st);
		return HK_ERROR;
	}
	a->v[0] = a->since;
	a->v[1] = r->until ? a->until : NULL;
	a->v[2] = r->destination;
	a->v[4] = r->source;
	a->v[5] = r->type;
	a->v[6] = names;
	snprintf(a->lease, sizeof(a->lease), "%llu", r->lease_us);
	a->v[7] = a->lease;
	snprintf(a->batch, sizeof(a->batch), "%d", HK_CONTROL_BATCH);
	a->v[8] = a->batch;
	a->v[9] = a->v[10] = NULL;
	return HK_OK;
}

int
hk_control_replay_next(struct hk_control_replay_args *a,
    const PGresult *res, long long *replayed)
{
	long long n, seen;

	if (PQntuples(res) != 1 || PQnfields(res) != 4)
		return 0;
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	seen = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	*replayed += n;
	if (seen < HK_CONTROL_BATCH || PQgetisnull(res, 0, 2))
		return 0;
	snprintf(a->cursor_id, sizeof(a->cursor_id), "%s",
	    PQgetvalue(res, 0, 2));
	snprintf(a->cursor_dest, sizeof(a->cursor_dest), "%s",
	    PQgetvalue(res, 0, 3));
	a->v[9] = a->cursor_id;
	a->v[10] = a->cursor_dest;
	return 1;
}

int
hk_control_reason_ok(const char *reason)
{
	return reason == NULL || strlen(reason) <= HK_CONTROL_REASON_MAX;
}

/* hk_control_jval - a result as JSON: kind 's' string, 'i' integer. */
static json_t *
hk_control_jval(const PGresult *res, int row, int col, int kind)
{
	const char *v;
	json_t *j;

	if (PQgetisnull(res, row, col))
		return json_null();
	v = PQgetvalue(res, row, col);
	if (kind == 'i')
		return json_integer(strtoll(v, NULL, 10));
	j = json_string(v);
	return j != NULL ? j : json_null();
}

/* hk_control_breaker - "open", "closed" or null, and until when. */
static void
hk_control_breaker(json_t *o, const char *const *breaker, int row)
{
	const char *v = breaker != NULL ? breaker[row] : "";
	char until[40];
	long long ms;

	if (v != NULL && v[0] == '\0') {
		json_object_set_new(o, "breaker", json_null());
		json_object_set_new(o, "breaker_open_until", json_null());
		return;
	}
	json_object_set_new(o, "breaker", json_string(v ? "open" : "closed"));
	if (v == NULL || (ms = strtoll(v, NULL, 10)) <= 0) {
		json_object_set_new(o, "breaker_open_until", json_null());
		return;
	}
	hk_clock_iso8601((uint64_t)ms * 1000u, until, sizeof(until));
	json_object_set_new(o, "breaker_open_until", json_string(until));
}

json_t *
hk_control_destinations_json(const PGresult *res, const char *const *breaker)
{
	json_t *doc = json_array(), *o;
	int disabled;

	for (int r = 0; doc != NULL && r < PQntuples(res); r++) {
		disabled = PQgetvalue(res, r, 1)[0] == 't';
		o = json_pack("{s:o,s:s,s:o,s:o,s:o}",
		    "name", hk_control_jval(res, r, 0, 's'),
		    "state", disabled ? "disabled" : "enabled",
		    "disabled_by", disabled ? hk_control_jval(res, r, 2, 's')
		    : json_null(),
		    "reason", disabled ? hk_control_jval(res, r, 3, 's')
		    : json_null(),
		    "disabled_at", disabled ? hk_control_jval(res, r, 4, 's')
		    : json_null());
		if (o == NULL) {
			json_decref(doc);
			return NULL;
		}
		hk_control_breaker(o, breaker, r);
		json_object_set_new(o, "in_flight", hk_control_jval(res, r, 5,
		    'i'));
		json_object_set_new(o, "due", hk_control_jval(res, r, 6, 'i'));
		json_object_set_new(o, "dead", hk_control_jval(res, r, 7, 'i'));
		json_object_set_new(o, "last_success_at", hk_control_jval(res,
		    r, 8, 's'));
		json_object_set_new(o, "last_error_at", hk_control_jval(res, r,
		    9, 's'));
		json_object_set_new(o, "last_status", hk_control_jval(res, r,
		    10, 'i'));
		json_object_set_new(o, "last_error", hk_control_jval(res, r,
		    11, 's'));
		json_array_append_new(doc, o);
	}
	return doc;
}
