/*
 * ctl_db.c - hookctl events, event, replay and dlq: what PostgreSQL knows.
 *
 * The delivery pool records every event, its deliveries and each attempt in
 * PostgreSQL; these commands read those tables, and replay puts deliveries
 * back in the pool's way.  A CLI may block, so this is plain synchronous
 * libpq: one connection, one statement at a time, text results.
 *
 * replay only changes rows: it sets the deliveries back to pending, due now,
 * and the pool's retry scanner (FOR UPDATE SKIP LOCKED) picks them up from
 * there, on whichever delivery worker gets to them first.  Attempts keep
 * counting up, so the attempts table keeps the whole history.
 *
 * Times are printed in UTC.  Output for people is aligned columns under a
 * header; --json prints one JSON document for scripts.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core.h"
#include "ctl.h"
#include "uuid.h"

#define HK_CTL_DB_LIMIT		50	/* rows listed when --limit is absent */
#define HK_CTL_DB_LIMIT_MAX	100000
#define HK_CTL_DB_PREVIEW	1024	/* body bytes shown by hookctl event */
#define HK_CTL_DB_CELL_MAX	72	/* longest free-text cell in a table */

/* An ISO 8601 UTC timestamp with microseconds, from SQL. */
#define HK_CTL_DB_TS(col) \
	"to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/*
 * A table printed in aligned columns.  Rows are kept until the end so that
 * each column is exactly as wide as its widest cell; the last column is
 * never padded, so free text (errors) can go there.
 */
struct hk_ctl_tab {
	const char *const *head;
	int      ncols;
	unsigned right;			/* bit i: column i is right-aligned */
	char   **cells;			/* nrows * ncols */
	size_t   nrows;
	size_t   cap;
};

/* Delivery statuses, as the CHECK constraint of deliveries has them. */
static const char *const hk_ctl_db_statuses[] = {
	"pending", "succeeded", "retrying", "dead",
};

/* hk_ctl_tab_row - add one row; cells are copied, NULL prints as "-". */
static int
hk_ctl_tab_row(struct hk_ctl_tab *t, const char *const *cells)
{
	size_t n = (size_t)t->ncols;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * n * sizeof(*p));

		if (p == NULL)
			return HK_ERROR;
		t->cells = p;
		t->cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		char *c = strdup(cells[i] != NULL ? cells[i] : "-");

		if (c == NULL) {
			while (i-- > 0)
				free(t->cells[t->nrows * n + i]);
			return HK_ERROR;
		}
		t->cells[t->nrows * n + i] = c;
	}
	t->nrows++;
	return HK_OK;
}

/* hk_ctl_tab_print - the header and every row, indented by indent spaces. */
static void
hk_ctl_tab_print(const struct hk_ctl_tab *t, int indent)
{
	size_t n = (size_t)t->ncols, w[16] = { 0 };

	for (size_t c = 0; c < n && c < HK_NELEM(w); c++) {
		w[c] = strlen(t->head[c]);
		for (size_t r = 0; r < t->nrows; r++)
			w[c] = HK_MAX(w[c], strlen(t->cells[r * n + c]));
	}
	for (size_t r = 0; r <= t->nrows; r++) {
		printf("%*s", indent, "");
		for (size_t c = 0; c < n; c++) {
			const char *s = r == 0 ? t->head[c]
			    : t->cells[(r - 1) * n + c];
			int last = c + 1 == n;

			if (t->right & (1u << c))
				printf("%*s", (int)w[c], s);
			else
				printf("%-*s", last ? 0 : (int)w[c], s);
			printf("%s", last ? "\n" : "  ");
		}
	}
}

static void
hk_ctl_tab_free(struct hk_ctl_tab *t)
{
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/*
 * hk_ctl_db_printable - len bytes of s made safe for a terminal into out
 * (outlen bytes): valid UTF-8 stays, other control characters and invalid
 * bytes become '.'; newlines and tabs stay when keep_lines.  Stops early
 * rather than overflow out.  Returns out.
 */
static char *
hk_ctl_db_printable(const unsigned char *s, size_t len, int keep_lines,
    char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	while (i < len && o + 5 < outlen) {
		unsigned char c = s[i];
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2
		    : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		/* Overlong forms, surrogates and values past U+10FFFF are
		 * invalid UTF-8, and jansson refuses them. */
		int ok = n > 0 && i + n <= len && !(n == 2 && c < 0xc2)
		    && !(n == 4 && c > 0xf4)
		    && !(c == 0xe0 && i + 1 < len && s[i + 1] < 0xa0)
		    && !(c == 0xed && i + 1 < len && s[i + 1] >= 0xa0)
		    && !(c == 0xf0 && i + 1 < len && s[i + 1] < 0x90)
		    && !(c == 0xf4 && i + 1 < len && s[i + 1] >= 0x90);

		for (size_t k = 1; ok && k < n; k++)
			ok = (s[i + k] & 0xc0) == 0x80;
		if (n == 1 && (c < 0x20 || c == 0x7f))
			ok = keep_lines && (c == '\n' || c == '\t');
		if (!ok) {
			out[o++] = '.';
			i++;
			continue;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return out;
}

/* hk_ctl_db_line - the first line of s, shortened to HK_CTL_DB_CELL_MAX. */
static const char *
hk_ctl_db_line(const char *s, char *buf, size_t len)
{
	size_t n;

	if (s == NULL)
		return NULL;
	n = strcspn(s, "\r\n");
	hk_ctl_db_printable((const unsigned char *)s,
	    HK_MIN(n, (size_t)HK_CTL_DB_CELL_MAX), 0, buf, len);
	if (n > HK_CTL_DB_CELL_MAX || s[n] != '\0') {
		size_t o = strlen(buf);

		if (o + 4 < len)
			memcpy(buf + o, "...", 4);
	}
	return buf;
}

/* hk_ctl_db_when - "2026-11-22 10:00:00.123" from the ISO form, or NULL. */
static const char *
hk_ctl_db_when(const char *iso, char *buf, size_t len)
{
	if (iso == NULL)
		return NULL;
	snprintf(buf, len, "%.23s", iso);
	if (strlen(buf) > 10 && buf[10] == 'T')
		buf[10] = ' ';
	return buf;
}

/* hk_ctl_db_val - a text result, or NULL for SQL NULL. */
static const char *
hk_ctl_db_val(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}

/* hk_ctl_db_jval - a result as JSON: kind 's' string, 'i' integer. */
static json_t *
hk_ctl_db_jval(const PGresult *res, int row, int col, int kind)
{
	const char *v = hk_ctl_db_val(res, row, col);
	json_t *j;

	if (v == NULL)
		return json_null();
	if (kind == 'i')
		return json_integer(strtoll(v, NULL, 10));
	/* The connection asks for UTF-8, so this fails only on a bad row. */
	j = json_string(v);
	return j != NULL ? j : json_null();
}

/* hk_ctl_db_json_print - print a document for scripts and free it. */
static int
hk_ctl_db_json_print(json_t *doc)
{
	char *s;

	if (doc == NULL || (s = json_dumps(doc, JSON_COMPACT
	    | JSON_PRESERVE_ORDER)) == NULL) {
		json_decref(doc);
		fprintf(stderr, "hookctl: out of memory\n");
		return HK_CTL_FAIL;
	}
	printf("%s\n", s);
	free(s);
	json_decref(doc);
	return HK_CTL_OK;
}

/*
 * hk_ctl_db_redact - url without its password, for messages.  Handles the
 * URI form ("postgresql://user:secret@host/db") and the keyword form
 * ("host=... password=secret").
 */
static void
hk_ctl_db_redact(const char *url, char *buf, size_t len)
{
	const char *p, *at, *colon, *end;

	snprintf(buf, len, "%s", url);
	if ((p = strstr(url, "://")) != NULL) {
		p += 3;
		end = p + strcspn(p, "/?");
		at = memchr(p, '@', (size_t)(end - p));
		colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
		if (colon != NULL)
			snprintf(buf, len, "%.*s:***%s", (int)(colon - url),
			    url, at);
	} else if ((p = strstr(url, "password=")) != NULL) {
		end = p + strcspn(p, " \t");
		snprintf(buf, len, "%.*spassword=***%s", (int)(p - url), url,
		    end);
	}
}

/* hk_ctl_db_trim - libpq's messages end in a newline; stderr adds its own. */
static const char *
hk_ctl_db_trim(char *msg)
{
	size_t n = strlen(msg);

	while (n > 0 && isspace((unsigned char)msg[n - 1]))
		msg[--n] = '\0';
	return msg;
}

/*
 * hk_ctl_db_connect - a connection to the configured database, or NULL
 * after saying why.  The config loader has already applied
 * HOOKD_DATABASE_URL.  The defaults go before the URL so that anything the
 * URL sets itself wins.
 */
static PGconn *
hk_ctl_db_connect(struct hk_ctl *ctl)
{
	static const char *const keys[] = { "connect_timeout",
	    "application_name", "client_encoding", "dbname", NULL };
	const struct hk_conf *conf;
	const char *vals[5];
	char where[512], msg[1024];
	PGconn *conn;

	if (ctl->conf_file == NULL) {
		fprintf(stderr, "hookctl: the database is named in hookd's "
		    "configuration: give -c FILE\n");
		return NULL;
	}
	if ((conf = hk_ctl_conf(ctl)) == NULL)
		return NULL;
	if (conf->postgres.url == NULL || conf->postgres.url[0] == '\0') {
		fprintf(stderr, "hookctl: %s sets no postgres.url\n",
		    conf->file ? conf->file : "the configuration");
		return NULL;
	}
	vals[0] = "10";
	vals[1] = "hookctl";
	vals[2] = "UTF8";
	vals[3] = conf->postgres.url;
	vals[4] = NULL;
	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		hk_ctl_db_redact(conf->postgres.url, where, sizeof(where));
		snprintf(msg, sizeof(msg), "%s",
		    conn ? PQerrorMessage(conn) : "out of memory");
		fprintf(stderr, "hookctl: cannot connect to PostgreSQL at %s: "
		    "%s\n", where, hk_ctl_db_trim(msg));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/*
 * hk_ctl_db_query - run sql with nparams text parameters (NULL ones are SQL
 * NULL); the result, or NULL after printing the server's message.
 */
static PGresult *
hk_ctl_db_query(PGconn *conn, const char *sql, int nparams,
    const char *const *params)
{
	PGresult *res;
	ExecStatusType st;
	const char *state;
	char msg[1024];

	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	snprintf(msg, sizeof(msg), "%s", res ? PQresultErrorMessage(res)
	    : PQerrorMessage(conn));
	state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	fprintf(stderr, "hookctl: query failed: %s%s\n", hk_ctl_db_trim(msg),
	    state != NULL && strcmp(state, "42P01") == 0
	    ? " (has hookd applied its migrations to this database?)" : "");
	PQclear(res);
	return NULL;
}

/* hk_ctl_db_exec - a statement whose result is not needed. */
static int
hk_ctl_db_exec(PGconn *conn, const char *sql)
{
	PGresult *res = hk_ctl_db_query(conn, sql, 0, NULL);

	PQclear(res);
	return res != NULL ? HK_OK : HK_ERROR;
}

/*
 * hk_ctl_db_opt - match argv[*i] against the option name taking a value,
 * as "--name VALUE" or "--name=VALUE".  1 and *val set when it matches, 0
 * when it is another argument, -1 when the value is missing.
 */
static int
hk_ctl_db_opt(int argc, char **argv, int *i, const char *name,
    const char **val)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*val = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*val = argv[++*i];
	return 1;
}

/* hk_ctl_db_limit - parse --limit; HK_ERROR unless 1..HK_CTL_DB_LIMIT_MAX. */
static int
hk_ctl_db_limit(const char *s, char *out, size_t len)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1
	    || v > HK_CTL_DB_LIMIT_MAX)
		return HK_ERROR;
	snprintf(out, len, "%ld", v);
	return HK_OK;
}

/* hk_ctl_db_status_ok - is s one of the delivery statuses? */
static int
hk_ctl_db_status_ok(const char *s)
{
	for (size_t i = 0; i < HK_NELEM(hk_ctl_db_statuses); i++)
		if (strcmp(s, hk_ctl_db_statuses[i]) == 0)
			return 1;
	return 0;
}

/* hk_ctl_db_id_ok - an event id is a UUID; say so when s is not one. */
static int
hk_ctl_db_id_ok(const char *s)
{
	uint8_t id[HK_UUID_LEN];

	if (hk_uuid_parse(s, id) == HK_OK)
		return 1;
	fprintf(stderr, "hookctl: \"%s\" is not an event id (a UUID)\n", s);
	return 0;
}

/* ---------------------------------------------------------------- events */

static const char hk_ctl_events_sql[] =
    "SELECT e.id, e.source, " HK_CTL_DB_TS("e.received_at") ","
    "  octet_length(e.body),"
    "  (SELECT coalesce(json_agg(json_build_object('destination',"
    "     d.destination, 'status', d.status, 'attempts', d.attempts)"
    "     ORDER BY d.destination), '[]')"
    "   FROM deliveries d WHERE d.event_id = e.id)"
    " FROM events e"
    " WHERE ($1::text IS NULL OR e.source = $1)"
    "   AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM deliveries d"
    "        WHERE d.event_id = e.id AND d.status = $2))"
    " ORDER BY e.received_at DESC, e.id DESC"
    " LIMIT $3::integer";

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
	static const char *const head[] = { "ID", "SOURCE", "RECEIVED (UTC)",
	    "BYTES", "DELIVERIES" };
	struct hk_ctl_tab t = { head, 5, 1u << 3, NULL, 0, 0 };
	json_t *doc = json_array();
	char when[32], sum[1024];
	int rc = HK_CTL_OK;

	for (int r = 0; r < PQntuples(res) && doc != NULL; r++) {
		json_t *dl = json_loads(PQgetvalue(res, r, 4), 0, NULL);

		if (json) {
			json_array_append_new(doc, json_pack("{s:o,s:o,s:o,s:o,"
			    "s:o}", "id", hk_ctl_db_jval(res, r, 0, 's'),
			    "source", hk_ctl_db_jval(res, r, 1, 's'),
			    "received_at", hk_ctl_db_jval(res, r, 2, 's'),
			    "bytes", hk_ctl_db_jval(res, r, 3, 'i'),
			    "deliveries", dl ? dl : json_array()));
			continue;
		}
		hk_ctl_events_summary(dl, sum, sizeof(sum));
		json_decref(dl);
		if (hk_ctl_tab_row(&t, (const char *const[]){
		    PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
		    hk_ctl_db_when(PQgetvalue(res, r, 2), when, sizeof(when)),
		    PQgetvalue(res, r, 3), sum }) != HK_OK)
			rc = HK_CTL_FAIL;
	}
	if (json)
		return hk_ctl_db_json_print(doc);
	json_decref(doc);
	if (rc == HK_CTL_OK && t.nrows > 0)
		hk_ctl_tab_print(&t, 0);
	else if (rc == HK_CTL_OK)
		printf("no events\n");
	else
		fprintf(stderr, "hookctl: out of memory\n");
	hk_ctl_tab_free(&t);
	return rc;
}

/* hk_ctl_events - recent events, newest first, with their deliveries. */
int
hk_ctl_events(struct hk_ctl *ctl, int argc, char **argv)
{
	const char *params[3] = { NULL, NULL, NULL }, *lim = NULL;
	char limit[24];
	PGconn *conn;
	PGresult *res;
	int json = 0, m, rc;

	snprintf(limit, sizeof(limit), "%d", HK_CTL_DB_LIMIT);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if ((m = hk_ctl_db_opt(argc, argv, &i, "--source",
		    &params[0])) != 0 || (m = hk_ctl_db_opt(argc, argv, &i,
		    "--status", &params[1])) != 0 || (m = hk_ctl_db_opt(argc,
		    argv, &i, "--limit", &lim)) != 0) {
			if (m < 0)
				return HK_CTL_USAGE;
		} else
			return HK_CTL_USAGE;
	}
	if (params[1] != NULL && !hk_ctl_db_status_ok(params[1])) {
		fprintf(stderr, "hookctl: --status is one of pending, "
		    "succeeded, retrying, dead\n");
		return HK_CTL_USAGE;
	}
	if (lim != NULL && hk_ctl_db_limit(lim, limit, sizeof(limit))
	    != HK_OK)
		return HK_CTL_USAGE;
	params[2] = limit;
	if ((conn = hk_ctl_db_connect(ctl)) == NULL)
		return HK_CTL_FAIL;
	if ((res = hk_ctl_db_query(conn, hk_ctl_events_sql, 3, params))
	    == NULL) {
		PQfinish(conn);
		return HK_CTL_FAIL;
	}
	rc = hk_ctl_events_out(res, json);
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/* ----------------------------------------------------------------- event */

static const char hk_ctl_event_sql[] =
    "SELECT id, source, " HK_CTL_DB_TS("received_at") ", content_type,"
    "  idempotency_key, octet_length(body), headers::text,"
    "  substring(body FROM 1 FOR 1024)"
    " FROM events WHERE id = $1::uuid";

static const char hk_ctl_event_dl_sql[] =
    "SELECT destination, status, attempts, " HK_CTL_DB_TS("next_attempt_at")
    ",  (extract(epoch FROM next_attempt_at - now()) * 1e6)::bigint,"
    "  last_status, last_error, " HK_CTL_DB_TS("updated_at")
    " FROM deliveries WHERE event_id = $1::uuid ORDER BY destination";

static const char hk_ctl_event_att_sql[] =
    "SELECT destination, attempt, " HK_CTL_DB_TS("started_at") ","
    "  duration_us, status_code, error, response"
    " FROM attempts WHERE event_id = $1::uuid"
    " ORDER BY destination, attempt";

/* The results behind one hookctl event. */
struct hk_ctl_event {
	PGresult *ev;
	PGresult *dl;
	PGresult *att;
	char      preview[HK_CTL_DB_PREVIEW * 4 + 8];
	long      size;
};

/* hk_ctl_event_next - "in 4m59s", "due", or NULL when nothing is planned. */
static const char *
hk_ctl_event_next(const PGresult *dl, int r, char *buf, size_t len)
{
	const char *v = hk_ctl_db_val(dl, r, 4);
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
		    "attempt", hk_ctl_db_jval(e->att, r, 1, 'i'),
		    "started_at", hk_ctl_db_jval(e->att, r, 2, 's'),
		    "duration_us", hk_ctl_db_jval(e->att, r, 3, 'i'),
		    "status_code", hk_ctl_db_jval(e->att, r, 4, 'i'),
		    "error", hk_ctl_db_jval(e->att, r, 5, 's'),
		    "response", hk_ctl_db_jval(e->att, r, 6, 's')));
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
		    "destination", hk_ctl_db_jval(e->dl, r, 0, 's'),
		    "status", hk_ctl_db_jval(e->dl, r, 1, 's'),
		    "attempts", hk_ctl_db_jval(e->dl, r, 2, 'i'),
		    "next_attempt_at", hk_ctl_db_jval(e->dl, r, 3, 's'),
		    "last_status", hk_ctl_db_jval(e->dl, r, 5, 'i'),
		    "last_error", hk_ctl_db_jval(e->dl, r, 6, 's'),
		    "updated_at", hk_ctl_db_jval(e->dl, r, 7, 's'),
		    "attempt_log", hk_ctl_event_json_attempts(e,
		    PQgetvalue(e->dl, r, 0))));
	}
	doc = json_pack("{s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:s,s:b,s:o}",
	    "id", hk_ctl_db_jval(e->ev, 0, 0, 's'),
	    "source", hk_ctl_db_jval(e->ev, 0, 1, 's'),
	    "received_at", hk_ctl_db_jval(e->ev, 0, 2, 's'),
	    "content_type", hk_ctl_db_jval(e->ev, 0, 3, 's'),
	    "idempotency_key", hk_ctl_db_jval(e->ev, 0, 4, 's'),
	    "bytes", (json_int_t)e->size,
	    "headers", hdrs ? hdrs : json_object(),
	    "body_preview", e->preview,
	    "body_truncated", e->size > HK_CTL_DB_PREVIEW,
	    "deliveries", dls ? dls : json_array());
	return hk_ctl_db_json_print(doc);
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

		printf("  %s: %s\n", k, s ? hk_ctl_db_printable(
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
	struct hk_ctl_tab t = { head, 6, 1u << 0 | 1u << 2 | 1u << 3, NULL,
	    0, 0 };
	char when[32], dur[32], err[HK_CTL_DB_CELL_MAX * 4 + 8],
	    resp[HK_CTL_DB_CELL_MAX * 4 + 8];
	int rc = HK_OK;

	for (int r = 0; r < PQntuples(e->att) && rc == HK_OK; r++) {
		if (strcmp(PQgetvalue(e->att, r, 0), dest) != 0)
			continue;
		hk_ctl_duration(dur, sizeof(dur),
		    strtoull(PQgetvalue(e->att, r, 3), NULL, 10));
		rc = hk_ctl_tab_row(&t, (const char *const[]){
		    PQgetvalue(e->att, r, 1),
		    hk_ctl_db_when(PQgetvalue(e->att, r, 2), when,
		    sizeof(when)), dur, hk_ctl_db_val(e->att, r, 4),
		    hk_ctl_db_line(hk_ctl_db_val(e->att, r, 5), err,
		    sizeof(err)),
		    hk_ctl_db_line(hk_ctl_db_val(e->att, r, 6), resp,
		    sizeof(resp)) });
	}
	if (rc == HK_OK && t.nrows > 0) {
		printf("\nattempts to %s\n", dest);
		hk_ctl_tab_print(&t, 2);
	}
	hk_ctl_tab_free(&t);
	return rc;
}

static int
hk_ctl_event_text(const struct hk_ctl_event *e)
{
	static const char *const head[] = { "DESTINATION", "STATUS",
	    "ATTEMPTS", "NEXT ATTEMPT", "LAST STATUS", "LAST ERROR" };
	struct hk_ctl_tab t = { head, 6, 1u << 2 | 1u << 4, NULL, 0, 0 };
	const char *key = hk_ctl_db_val(e->ev, 0, 4);
	char when[32], next[48], err[HK_CTL_DB_CELL_MAX * 4 + 8];
	int rc = HK_OK;

	printf("event         %s\n", PQgetvalue(e->ev, 0, 0));
	printf("source        %s\n", PQgetvalue(e->ev, 0, 1));
	printf("received      %s UTC\n", hk_ctl_db_when(PQgetvalue(e->ev, 0,
	    2), when, sizeof(when)));
	printf("content type  %s\n", PQgetvalue(e->ev, 0, 3)[0]
	    ? PQgetvalue(e->ev, 0, 3) : "-");
	printf("idempotency   %s\n", key ? hk_ctl_db_line(key, err,
	    sizeof(err)) : "-");
	printf("size          %ld bytes\n", e->size);
	printf("\nheaders\n");
	hk_ctl_event_headers(PQgetvalue(e->ev, 0, 6));
	if (e->size > HK_CTL_DB_PREVIEW)
		printf("\nbody (first %d of %ld bytes)\n", HK_CTL_DB_PREVIEW,
		    e->size);
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
		rc = hk_ctl_tab_row(&t, (const char *const[]){
		    PQgetvalue(e->dl, r, 0), PQgetvalue(e->dl, r, 1),
		    PQgetvalue(e->dl, r, 2),
		    hk_ctl_event_next(e->dl, r, next, sizeof(next)),
		    hk_ctl_db_val(e->dl, r, 5),
		    hk_ctl_db_line(hk_ctl_db_val(e->dl, r, 6), err,
		    sizeof(err)) });
	if (rc == HK_OK)
		hk_ctl_tab_print(&t, 2);
	hk_ctl_tab_free(&t);
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
	if (hk_ctl_db_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ "
	    "READ ONLY") != HK_OK)
		return HK_CTL_FAIL;
	if ((e->ev = hk_ctl_db_query(conn, hk_ctl_event_sql, 1, params))
	    == NULL)
		return HK_CTL_FAIL;
	if (PQntuples(e->ev) == 0) {
		fprintf(stderr, "hookctl: no event %s\n", id);
		return HK_CTL_FAIL;
	}
	if ((e->dl = hk_ctl_db_query(conn, hk_ctl_event_dl_sql, 1, params))
	    == NULL || (e->att = hk_ctl_db_query(conn, hk_ctl_event_att_sql,
	    1, params)) == NULL)
		return HK_CTL_FAIL;
	e->size = strtol(PQgetvalue(e->ev, 0, 5), NULL, 10);
	body = PQunescapeBytea((const unsigned char *)PQgetvalue(e->ev, 0, 7),
	    &blen);
	if (body == NULL) {
		fprintf(stderr, "hookctl: out of memory\n");
		return HK_CTL_FAIL;
	}
	hk_ctl_db_printable(body, blen, 1, e->preview, sizeof(e->preview));
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
	if (!hk_ctl_db_id_ok(id))
		return HK_CTL_FAIL;
	if ((conn = hk_ctl_db_connect(ctl)) == NULL)
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

/* ---------------------------------------------------------------- replay */

/*
 * Existing deliveries go back to pending, due now.  The subquery locks the
 * rows first so that RETURNING can report the status they had.  Only
 * destinations still in the configuration ($3) are replayed: the pool has
 * nowhere to send the others.
 */
static const char hk_ctl_replay_sql[] =
    "UPDATE deliveries d SET status = 'pending', next_attempt_at = now(),"
    "  updated_at = now()"
    " FROM (SELECT event_id, destination, status FROM deliveries"
    "       WHERE event_id = $1::uuid"
    "         AND ($2::text IS NULL OR destination = $2)"
    "         AND destination = ANY ($3::text[])"
    "       FOR UPDATE) o"
    " WHERE d.event_id = o.event_id AND d.destination = o.destination"
    " RETURNING d.destination, o.status, d.attempts";

/* A destination added to the config after the event arrived. */
static const char hk_ctl_replay_new_sql[] =
    "INSERT INTO deliveries (event_id, destination, status, next_attempt_at)"
    " VALUES ($1::uuid, $2, 'pending', now())"
    " ON CONFLICT (event_id, destination) DO NOTHING"
    " RETURNING destination, 'new', attempts";

/* hk_ctl_replay_routes - does dest receive events from source? */
static int
hk_ctl_replay_routes(const struct hk_conf_dest *dest, const char *source)
{
	for (int i = 0; i < dest->nsources; i++)
		if (strcmp(dest->sources[i], source) == 0)
			return 1;
	return 0;
}

/* hk_ctl_replay_rows - add the replayed rows of res to the table. */
static int
hk_ctl_replay_rows(struct hk_ctl_tab *t, const char *id, const PGresult *res)
{
	for (int r = 0; r < PQntuples(res); r++)
		if (hk_ctl_tab_row(t, (const char *const[]){ id,
		    PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
		    PQgetvalue(res, r, 2) }) != HK_OK)
			return HK_ERROR;
	return PQntuples(res);
}

/*
 * hk_ctl_replay_one - replay one event in one transaction; the number of
 * deliveries replayed, or HK_ERROR (said why).
 */
static int
hk_ctl_replay_one(PGconn *conn, const struct hk_conf *conf, const char *id,
    const char *dest, const char *names, struct hk_ctl_tab *t)
{
	const char *params[3] = { id, dest, names };
	PGresult *res;
	char *source;
	int n, total;

	if (hk_ctl_db_exec(conn, "BEGIN") != HK_OK)
		return HK_ERROR;
	if ((res = hk_ctl_db_query(conn, "SELECT source FROM events"
	    " WHERE id = $1::uuid FOR SHARE", 1, params)) == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		fprintf(stderr, "hookctl: no event %s\n", id);
		PQclear(res);
		goto fail;
	}
	source = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (source == NULL ||
	    (res = hk_ctl_db_query(conn, hk_ctl_replay_sql, 3, params)) == NULL)
		goto fail_source;
	total = hk_ctl_replay_rows(t, id, res);
	PQclear(res);
	for (int i = 0; i < conf->ndests && total >= 0; i++) {
		if ((dest != NULL && strcmp(conf->dests[i].name, dest) != 0)
		    || !hk_ctl_replay_routes(&conf->dests[i], source))
			continue;
		params[1] = conf->dests[i].name;
		if ((res = hk_ctl_db_query(conn, hk_ctl_replay_new_sql, 2,
		    params)) == NULL)
			goto fail_source;
		n = hk_ctl_replay_rows(t, id, res);
		total = n < 0 ? n : total + n;
		PQclear(res);
	}
	if (total < 0) {
		fprintf(stderr, "hookctl: out of memory\n");
		goto fail_source;
	}
	if (total == 0)
		fprintf(stderr, "hookctl: event %s (source %s) has no delivery"
		    "%s%s to replay\n", id, source, dest ? " to " : "",
		    dest ? dest : "");
	free(source);
	if (hk_ctl_db_exec(conn, "COMMIT") != HK_OK)
		return HK_ERROR;
	return total;

fail_source:
	free(source);
fail:
	hk_ctl_db_exec(conn, "ROLLBACK");
	return HK_ERROR;
}

/*
 * hk_ctl_replay_names - the configured destinations as a PostgreSQL array
 * literal, malloc'ed.  Names are [A-Za-z0-9_.-], so quoting is enough.
 */
static char *
hk_ctl_replay_names(const struct hk_conf *conf)
{
	size_t len = 3, o = 0;
	char *s;

	for (int i = 0; i < conf->ndests; i++)
		len += strlen(conf->dests[i].name) + 3;
	if ((s = malloc(len)) == NULL)
		return NULL;
	s[o++] = '{';
	for (int i = 0; i < conf->ndests; i++)
		o += (size_t)sprintf(s + o, "%s\"%s\"", i ? "," : "",
		    conf->dests[i].name);
	s[o++] = '}';
	s[o] = '\0';
	return s;
}

/* hk_ctl_replay - deliver events again, all their destinations or one. */
int
hk_ctl_replay(struct hk_ctl *ctl, int argc, char **argv)
{
	static const char *const head[] = { "EVENT", "DESTINATION", "WAS",
	    "ATTEMPTS" };
	struct hk_ctl_tab t = { head, 4, 1u << 3, NULL, 0, 0 };
	const char *dest = NULL, **ids;
	int nids = 0, rc = HK_CTL_OK, m;
	char *names = NULL;
	PGconn *conn;

	if ((ids = calloc((size_t)argc, sizeof(*ids))) == NULL)
		return HK_CTL_FAIL;
	for (int i = 1; i < argc && rc == HK_CTL_OK; i++) {
		if ((m = hk_ctl_db_opt(argc, argv, &i, "--destination", &dest))
		    < 0 || (m == 0 && argv[i][0] == '-'))
			rc = HK_CTL_USAGE;
		else if (m == 0)
			ids[nids++] = argv[i];
	}
	if (rc == HK_CTL_OK && nids == 0)
		rc = HK_CTL_USAGE;
	if (rc != HK_CTL_OK || (conn = hk_ctl_db_connect(ctl)) == NULL) {
		free(ids);
		return rc != HK_CTL_OK ? rc : HK_CTL_FAIL;
	}
	/* The connect loaded the configuration. */
	if (dest != NULL && hk_conf_dest(ctl->conf, dest) == NULL) {
		fprintf(stderr, "hookctl: no destination \"%s\" in %s\n", dest,
		    ctl->conf->file ? ctl->conf->file : "the configuration");
		rc = HK_CTL_FAIL;
	} else if ((names = hk_ctl_replay_names(ctl->conf)) == NULL)
		rc = HK_CTL_FAIL;
	for (int i = 0; i < nids && names != NULL; i++)
		if (!hk_ctl_db_id_ok(ids[i]) || hk_ctl_replay_one(conn,
		    ctl->conf, ids[i], dest, names, &t) <= 0)
			rc = HK_CTL_FAIL;
	if (t.nrows > 0)
		hk_ctl_tab_print(&t, 0);
	hk_ctl_tab_free(&t);
	free(names);
	free(ids);
	PQfinish(conn);
	return rc;
}

/* ------------------------------------------------------------------- dlq */

static const char hk_ctl_dlq_sql[] =
    "SELECT d.event_id, e.source, d.destination, d.attempts, d.last_status,"
    "  d.last_error, " HK_CTL_DB_TS("d.updated_at")
    " FROM deliveries d JOIN events e ON e.id = d.event_id"
    " WHERE d.status = 'dead' AND ($1::text IS NULL OR d.destination = $1)"
    " ORDER BY d.updated_at, d.event_id, d.destination"
    " LIMIT $2::integer";

static int
hk_ctl_dlq_out(const PGresult *res, int json)
{
	static const char *const head[] = { "EVENT", "SOURCE", "DESTINATION",
	    "ATTEMPTS", "LAST STATUS", "DEAD SINCE (UTC)", "LAST ERROR" };
	struct hk_ctl_tab t = { head, 7, 1u << 3 | 1u << 4, NULL, 0, 0 };
	json_t *doc = json_array();
	char when[32], err[HK_CTL_DB_CELL_MAX * 4 + 8];
	int rc = HK_OK;

	for (int r = 0; r < PQntuples(res) && doc != NULL; r++) {
		if (json) {
			json_array_append_new(doc, json_pack("{s:o,s:o,s:o,s:o,"
			    "s:o,s:o,s:o}",
			    "event_id", hk_ctl_db_jval(res, r, 0, 's'),
			    "source", hk_ctl_db_jval(res, r, 1, 's'),
			    "destination", hk_ctl_db_jval(res, r, 2, 's'),
			    "attempts", hk_ctl_db_jval(res, r, 3, 'i'),
			    "last_status", hk_ctl_db_jval(res, r, 4, 'i'),
			    "last_error", hk_ctl_db_jval(res, r, 5, 's'),
			    "updated_at", hk_ctl_db_jval(res, r, 6, 's')));
			continue;
		}
		if (rc == HK_OK)
			rc = hk_ctl_tab_row(&t, (const char *const[]){
			    PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
			    PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
			    hk_ctl_db_val(res, r, 4),
			    hk_ctl_db_when(PQgetvalue(res, r, 6), when,
			    sizeof(when)),
			    hk_ctl_db_line(hk_ctl_db_val(res, r, 5), err,
			    sizeof(err)) });
	}
	if (json)
		return hk_ctl_db_json_print(doc);
	json_decref(doc);
	if (rc == HK_OK && t.nrows > 0)
		hk_ctl_tab_print(&t, 0);
	else if (rc == HK_OK)
		printf("no dead deliveries\n");
	else
		fprintf(stderr, "hookctl: out of memory\n");
	hk_ctl_tab_free(&t);
	return rc == HK_OK ? HK_CTL_OK : HK_CTL_FAIL;
}

/* hk_ctl_dlq - dead deliveries, oldest first. */
int
hk_ctl_dlq(struct hk_ctl *ctl, int argc, char **argv)
{
	const char *params[2] = { NULL, NULL }, *lim = NULL;
	char limit[24];
	PGconn *conn;
	PGresult *res;
	int json = 0, m, rc;

	snprintf(limit, sizeof(limit), "%d", HK_CTL_DB_LIMIT);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if ((m = hk_ctl_db_opt(argc, argv, &i, "--destination",
		    &params[0])) != 0 || (m = hk_ctl_db_opt(argc, argv, &i,
		    "--limit", &lim)) != 0) {
			if (m < 0)
				return HK_CTL_USAGE;
		} else
			return HK_CTL_USAGE;
	}
	if (lim != NULL && hk_ctl_db_limit(lim, limit, sizeof(limit))
	    != HK_OK)
		return HK_CTL_USAGE;
	params[1] = limit;
	if ((conn = hk_ctl_db_connect(ctl)) == NULL)
		return HK_CTL_FAIL;
	if ((res = hk_ctl_db_query(conn, hk_ctl_dlq_sql, 2, params)) == NULL) {
		PQfinish(conn);
		return HK_CTL_FAIL;
	}
	rc = hk_ctl_dlq_out(res, json);
	PQclear(res);
	PQfinish(conn);
	return rc;
}
