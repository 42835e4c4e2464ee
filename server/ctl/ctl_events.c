/*
 * ctl_events.c - hookctl events and hookctl event ID: what PostgreSQL knows
 * of the events received, their deliveries and every attempt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core.h"
#include "ctl.h"

#define HK_CTL_EVENTS_PREVIEW	1024	/* body bytes shown by hookctl event */

/* Delivery statuses, as the CHECK constraint of deliveries has them. */
static const char *const hk_ctl_events_statuses[] = {
	"pending", "succeeded", "retrying", "dead",
};

/* hk_ctl_events_status_ok - is s one of the delivery statuses? */
static int
hk_ctl_events_status_ok(const char *s)
{
	for (size_t i = 0; i < HK_NELEM(hk_ctl_events_statuses); i++)
		if (strcmp(s, hk_ctl_events_statuses[i]) == 0)
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- events */

static const char hk_ctl_events_sql[] =
    "SELECT e.id, e.source, " HK_CTL_PG_TS("e.received_at") ","
    "  octet_length(e.body),"
    "  (SELECT coalesce(json_agg(json_build_object('destination',"
    "     d.destination, 'status', d.status, 'attempts', d.attempts)"
    "     ORDER BY d.destination), '[]')"
    "   FROM deliveries d WHERE d.event_id = e.id"
    "    AND d.received_at = e.received_at),"
    "  coalesce(e.event_type, '')"
    " FROM events e"
    " WHERE ($1::text IS NULL OR e.source = $1)"
    "   AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM deliveries d"
    "        WHERE d.event_id = e.id AND d.received_at = e.received_at"
    "        AND d.status = $2))"
    /* --type: '*' matches any run, as in a destination's types. */
    "   AND ($3::text IS NULL OR e.event_type LIKE replace(replace(replace("
    "        replace($3, '\\', '\\\\'), '%', '\\%'), '_', '\\_'),"
    "        '*', '%'))"
    " ORDER BY e.received_at DESC, e.id DESC"
    " LIMIT $4::integer";

/* hk_ctl_events_summary - "crm:succeeded audit:retrying" from the JSON. */
static void
hk_ctl_events_summary(const json_t *dl, char *buf, size_t len)
{
	size_t i, o = 0;
	json_t *d;

	buf[0] = '\0';
	json_array_foreach(dl, i, d) {
		int n = snprintf(buf + o, len - o, "%s%s:%s", i ? " " : "",
		    json_string_value(json_object_get(d, "destination")),
		    json_string_value(json_object_get(d, "status")));

		if (n < 0 || (size_t)n >= len - o)
			break;
		o += (size_t)n;
	}
	if (o == 0)
		snprintf(buf, len, "-");
}

static int
hk_ctl_events_out(const PGresult *res, int json)
{
	static const char *const head[] = { "ID", "SOURCE", "TYPE",
	    "RECEIVED (UTC)", "BYTES", "DELIVERIES" };
	struct hk_ctl_table t = { head, 6, 1u << 4, NULL, 0, 0 };
	json_t *doc = json_array();
	char when[32], sum[1024], type[HK_CTL_TABLE_CELL_MAX * 4 + 8];
	int rc = HK_CTL_OK;

	for (int r = 0; r < PQntuples(res) && doc != NULL; r++) {
		json_t *dl = json_loads(PQgetvalue(res, r, 4), 0, NULL);

		if (json) {
			json_array_append_new(doc, json_pack("{s:o,s:o,s:o,s:o,"
			    "s:o,s:o}", "id", hk_ctl_pg_jval(res, r, 0, 's'),
			    "source", hk_ctl_pg_jval(res, r, 1, 's'),
			    "type", PQgetisnull(res, r, 5)
			    || PQgetvalue(res, r, 5)[0] == '\0' ? json_null()
			    : hk_ctl_pg_jval(res, r, 5, 's'),
			    "received_at", hk_ctl_pg_jval(res, r, 2, 's'),
			    "bytes", hk_ctl_pg_jval(res, r, 3, 'i'),
			    "deliveries", dl ? dl : json_array()));
			continue;
		}
		hk_ctl_events_summary(dl, sum, sizeof(sum));
		json_decref(dl);
		if (hk_ctl_table_row(&t, (const char *const[]){
		    PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
		    /* The sender's text: made safe for a terminal. */
		    PQgetvalue(res, r, 5)[0] ? hk_ctl_table_line(PQgetvalue(res,
		    r, 5), type, sizeof(type)) : "-",
		    hk_ctl_table_when(PQgetvalue(res, r, 2), when,
		    sizeof(when)),
		    PQgetvalue(res, r, 3), sum }) != HK_OK)
			rc = HK_CTL_FAIL;
	}
	return hk_ctl_pg_listed(&t, doc, json, rc == HK_CTL_OK, "no events");
}

/* hk_ctl_events - recent events, newest first, with their deliveries. */
int
hk_ctl_events(struct hk_ctl *ctl, int argc, char **argv)
{
	static const char *const names[] = { "--source", "--status",
	    "--type" };
	const char *params[4] = { NULL, NULL, NULL, NULL };
	char limit[24];
	int json = 0, rc;

	if ((rc = hk_ctl_pg_args(argc, argv, names, 3, params, limit,
	    sizeof(limit), &json)) != HK_CTL_OK)
		return rc;
	if (params[1] != NULL && !hk_ctl_events_status_ok(params[1])) {
		fprintf(stderr, "hookctl: --status is one of pending, "
		    "succeeded, retrying, dead\n");
		return HK_CTL_USAGE;
	}
	params[3] = limit;
	return hk_ctl_pg_list(ctl, hk_ctl_events_sql, 4, params,
	    hk_ctl_events_out, json);
}

/* ----------------------------------------------------------------- event */

static const char hk_ctl_event_sql[] =
    "SELECT id, source, " HK_CTL_PG_TS("received_at") ", content_type,"
    "  idempotency_key, octet_length(body), headers::text,"
    "  substring(body FROM 1 FOR 1024), event_type"
    " FROM events WHERE id = $1::uuid";

static const char hk_ctl_event_dl_sql[] =
    "SELECT destination, status, attempts, " HK_CTL_PG_TS("next_attempt_at")
    ",  (extract(epoch FROM next_attempt_at - now()) * 1e6)::bigint,"
    "  last_status, last_error, " HK_CTL_PG_TS("updated_at")
    " FROM deliveries WHERE event_id = $1::uuid ORDER BY destination";

static const char hk_ctl_event_att_sql[] =
    "SELECT destination, attempt, " HK_CTL_PG_TS("started_at") ","
    "  duration_us, status_code, error, response"
    " FROM attempts WHERE event_id = $1::uuid"
    " ORDER BY destination, attempt";

/* The results behind one hookctl event. */
struct hk_ctl_event {
	PGresult *ev;
	PGresult *dl;
	PGresult *att;
	char      preview[HK_CTL_EVENTS_PREVIEW * 4 + 8];
	long      size;
};

/* hk_ctl_event_next - "in 4m59s", "due", or NULL when nothing is planned. */
static const char *
hk_ctl_event_next(const PGresult *dl, int r, char *buf, size_t len)
{
	const char *v = hk_ctl_pg_val(dl, r, 4);
	long long us;
	char d[32];

	if (v == NULL)
		return NULL;
	if ((us = strtoll(v, NULL, 10)) <= 0)
		return "due";
	hk_ctl_duration(d, sizeof(d), (uint64_t)us);
	snprintf(buf, len, "in %s", d);
	return buf;
}

static json_t *
hk_ctl_event_json_attempts(const struct hk_ctl_event *e, const char *dest)
{
	json_t *a = json_array();

	for (int r = 0; r < PQntuples(e->att) && a != NULL; r++) {
		if (strcmp(PQgetvalue(e->att, r, 0), dest) != 0)
			continue;
		json_array_append_new(a, json_pack("{s:o,s:o,s:o,s:o,s:o,s:o}",
		    "attempt", hk_ctl_pg_jval(e->att, r, 1, 'i'),
		    "started_at", hk_ctl_pg_jval(e->att, r, 2, 's'),
		    "duration_us", hk_ctl_pg_jval(e->att, r, 3, 'i'),
		    "status_code", hk_ctl_pg_jval(e->att, r, 4, 'i'),
		    "error", hk_ctl_pg_jval(e->att, r, 5, 's'),
		    "response", hk_ctl_pg_jval(e->att, r, 6, 's')));
	}
	return a;
}

static int
hk_ctl_event_json(const struct hk_ctl_event *e)
{
	json_t *doc, *dls = json_array(), *hdrs;

	hdrs = json_loads(PQgetvalue(e->ev, 0, 6), 0, NULL);
	for (int r = 0; r < PQntuples(e->dl) && dls != NULL; r++) {
		json_array_append_new(dls, json_pack("{s:o,s:o,s:o,s:o,s:o,"
		    "s:o,s:o,s:o}",
		    "destination", hk_ctl_pg_jval(e->dl, r, 0, 's'),
		    "status", hk_ctl_pg_jval(e->dl, r, 1, 's'),
		    "attempts", hk_ctl_pg_jval(e->dl, r, 2, 'i'),
		    "next_attempt_at", hk_ctl_pg_jval(e->dl, r, 3, 's'),
		    "last_status", hk_ctl_pg_jval(e->dl, r, 5, 'i'),
		    "last_error", hk_ctl_pg_jval(e->dl, r, 6, 's'),
		    "updated_at", hk_ctl_pg_jval(e->dl, r, 7, 's'),
		    "attempt_log", hk_ctl_event_json_attempts(e,
		    PQgetvalue(e->dl, r, 0))));
	}
	doc = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:s,s:b,s:o}",
	    "id", hk_ctl_pg_jval(e->ev, 0, 0, 's'),
	    "source", hk_ctl_pg_jval(e->ev, 0, 1, 's'),
	    "type", hk_ctl_pg_jval(e->ev, 0, 8, 's'),
	    "received_at", hk_ctl_pg_jval(e->ev, 0, 2, 's'),
	    "content_type", hk_ctl_pg_jval(e->ev, 0, 3, 's'),
	    "idempotency_key", hk_ctl_pg_jval(e->ev, 0, 4, 's'),
	    "bytes", (json_int_t)e->size,
	    "headers", hdrs ? hdrs : json_object(),
	    "body_preview", e->preview,
	    "body_truncated", e->size > HK_CTL_EVENTS_PREVIEW,
	    "deliveries", dls ? dls : json_array());
	return hk_ctl_pg_json_print(doc);
}

/* hk_ctl_event_headers - "  name: value" lines, in stored order. */
static void
hk_ctl_event_headers(const char *text)
{
	json_t *h = json_loads(text, 0, NULL), *v;
	const char *k;
	char buf[1024];

	json_object_foreach(h, k, v) {
		const char *s = json_string_value(v);

		printf("  %s: %s\n", k, s ? hk_ctl_table_printable(
		    (const unsigned char *)s, strlen(s), 0, buf, sizeof(buf))
		    : "");
	}
	if (json_object_size(h) == 0)
		printf("  (none)\n");
	json_decref(h);
}

/* hk_ctl_event_attempts - the attempt table of one delivery. */
static int
hk_ctl_event_attempts(const struct hk_ctl_event *e, const char *dest)
{
	static const char *const head[] = { "#", "STARTED (UTC)", "DURATION",
	    "STATUS", "ERROR", "RESPONSE" };
	struct hk_ctl_table t = { head, 6, 1u << 0 | 1u << 2 | 1u << 3, NULL,
	    0, 0 };
	char when[32], dur[32], err[HK_CTL_TABLE_CELL_MAX * 4 + 8],
	    resp[HK_CTL_TABLE_CELL_MAX * 4 + 8];
	int rc = HK_OK;

	for (int r = 0; r < PQntuples(e->att) && rc == HK_OK; r++) {
		if (strcmp(PQgetvalue(e->att, r, 0), dest) != 0)
			continue;
		hk_ctl_duration(dur, sizeof(dur),
		    strtoull(PQgetvalue(e->att, r, 3), NULL, 10));
		rc = hk_ctl_table_row(&t, (const char *const[]){
		    PQgetvalue(e->att, r, 1),
		    hk_ctl_table_when(PQgetvalue(e->att, r, 2), when,
		    sizeof(when)), dur, hk_ctl_pg_val(e->att, r, 4),
		    hk_ctl_table_line(hk_ctl_pg_val(e->att, r, 5), err,
		    sizeof(err)),
		    hk_ctl_table_line(hk_ctl_pg_val(e->att, r, 6), resp,
		    sizeof(resp)) });
	}
	if (rc == HK_OK && t.nrows > 0) {
		printf("\nattempts to %s\n", dest);
		hk_ctl_table_print(&t, 2);
	}
	hk_ctl_table_free(&t);
	return rc;
}

static int
hk_ctl_event_text(const struct hk_ctl_event *e)
{
	static const char *const head[] = { "DESTINATION", "STATUS",
	    "ATTEMPTS", "NEXT ATTEMPT", "LAST STATUS", "LAST ERROR" };
	struct hk_ctl_table t = { head, 6, 1u << 2 | 1u << 4, NULL, 0, 0 };
	const char *key = hk_ctl_pg_val(e->ev, 0, 4);
	char when[32], next[48], err[HK_CTL_TABLE_CELL_MAX * 4 + 8];
	int rc = HK_OK;

	printf("event         %s\n", PQgetvalue(e->ev, 0, 0));
	printf("source        %s\n", PQgetvalue(e->ev, 0, 1));
	printf("type          %s\n", PQgetvalue(e->ev, 0, 8)[0]
	    ? hk_ctl_table_line(PQgetvalue(e->ev, 0, 8), err, sizeof(err))
	    : "-");
	printf("received      %s UTC\n", hk_ctl_table_when(PQgetvalue(e->ev, 0,
	    2), when, sizeof(when)));
	printf("content type  %s\n", PQgetvalue(e->ev, 0, 3)[0]
	    ? PQgetvalue(e->ev, 0, 3) : "-");
	printf("idempotency   %s\n", key ? hk_ctl_table_line(key, err,
	    sizeof(err)) : "-");
	printf("size          %ld bytes\n", e->size);
	printf("\nheaders\n");
	hk_ctl_event_headers(PQgetvalue(e->ev, 0, 6));
	if (e->size > HK_CTL_EVENTS_PREVIEW)
		printf("\nbody (first %d of %ld bytes)\n",
		    HK_CTL_EVENTS_PREVIEW, e->size);
	else
		printf("\nbody\n");
	for (const char *p = e->preview; *p != '\0'; ) {
		size_t n = strcspn(p, "\n");

		printf("  %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}

	printf("\ndeliveries\n");
	if (PQntuples(e->dl) == 0) {
		printf("  (none yet)\n");
		return HK_CTL_OK;
	}
	for (int r = 0; r < PQntuples(e->dl) && rc == HK_OK; r++)
		rc = hk_ctl_table_row(&t, (const char *const[]){
		    PQgetvalue(e->dl, r, 0), PQgetvalue(e->dl, r, 1),
		    PQgetvalue(e->dl, r, 2),
		    hk_ctl_event_next(e->dl, r, next, sizeof(next)),
		    hk_ctl_pg_val(e->dl, r, 5),
		    hk_ctl_table_line(hk_ctl_pg_val(e->dl, r, 6), err,
		    sizeof(err)) });
	if (rc == HK_OK)
		hk_ctl_table_print(&t, 2);
	hk_ctl_table_free(&t);
	for (int r = 0; r < PQntuples(e->dl) && rc == HK_OK; r++)
		rc = hk_ctl_event_attempts(e, PQgetvalue(e->dl, r, 0));
	if (rc != HK_OK)
		fprintf(stderr, "hookctl: out of memory\n");
	return rc == HK_OK ? HK_CTL_OK : HK_CTL_FAIL;
}

/* hk_ctl_event_load - the three results; HK_CTL_* on failure. */
static int
hk_ctl_event_load(PGconn *conn, const char *id, struct hk_ctl_event *e)
{
	const char *params[1] = { id };
	unsigned char *body;
	size_t blen;

	/* One snapshot for the three reads, so they agree with each other. */
	if (hk_ctl_pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ "
	    "READ ONLY") != HK_OK)
		return HK_CTL_FAIL;
	if ((e->ev = hk_ctl_pg_query(conn, hk_ctl_event_sql, 1, params))
	    == NULL)
		return HK_CTL_FAIL;
	if (PQntuples(e->ev) == 0) {
		fprintf(stderr, "hookctl: no event %s\n", id);
		return HK_CTL_FAIL;
	}
	if ((e->dl = hk_ctl_pg_query(conn, hk_ctl_event_dl_sql, 1, params))
	    == NULL || (e->att = hk_ctl_pg_query(conn, hk_ctl_event_att_sql,
	    1, params)) == NULL)
		return HK_CTL_FAIL;
	e->size = strtol(PQgetvalue(e->ev, 0, 5), NULL, 10);
	body = PQunescapeBytea((const unsigned char *)PQgetvalue(e->ev, 0, 7),
	    &blen);
	if (body == NULL) {
		fprintf(stderr, "hookctl: out of memory\n");
		return HK_CTL_FAIL;
	}
	hk_ctl_table_printable(body, blen, 1, e->preview, sizeof(e->preview));
	PQfreemem(body);
	return HK_CTL_OK;
}

/* hk_ctl_event - one event, its deliveries and every attempt. */
int
hk_ctl_event(struct hk_ctl *ctl, int argc, char **argv)
{
	struct hk_ctl_event e;
	const char *id = NULL;
	PGconn *conn;
	int json = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (argv[i][0] == '-' || id != NULL)
			return HK_CTL_USAGE;
		else
			id = argv[i];
	}
	if (id == NULL)
		return HK_CTL_USAGE;
	if (!hk_ctl_pg_id_ok(id))
		return HK_CTL_FAIL;
	if ((conn = hk_ctl_pg_connect(ctl)) == NULL)
		return HK_CTL_FAIL;
	memset(&e, 0, sizeof(e));
	rc = hk_ctl_event_load(conn, id, &e);
	if (rc == HK_CTL_OK)
		rc = json ? hk_ctl_event_json(&e) : hk_ctl_event_text(&e);
	PQclear(e.ev);
	PQclear(e.dl);
	PQclear(e.att);
	PQfinish(conn);
	return rc;
}
