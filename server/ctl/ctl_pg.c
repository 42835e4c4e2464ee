/*
 * ctl_pg.c - hookctl's PostgreSQL connection, and what the database
 * commands (events, event, replay, dlq) share.
 *
 * The delivery pool records every event, its deliveries and each attempt in
 * PostgreSQL; those commands read the tables.  A CLI may block, so this is
 * plain synchronous libpq: one connection, one statement at a time, text
 * results.  --json prints one JSON document for scripts.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core.h"
#include "ctl.h"
#include "uuid.h"

#define HK_CTL_PG_LIMIT_MAX	100000

/* hk_ctl_pg_val - a text result, or NULL for SQL NULL. */
const char *
hk_ctl_pg_val(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}

/* hk_ctl_pg_jval - a result as JSON: kind 's' string, 'i' integer. */
json_t *
hk_ctl_pg_jval(const PGresult *res, int row, int col, int kind)
{
	const char *v = hk_ctl_pg_val(res, row, col);
	json_t *j;

	if (v == NULL)
		return json_null();
	if (kind == 'i')
		return json_integer(strtoll(v, NULL, 10));
	/* The connection asks for UTF-8, so this fails only on a bad row. */
	j = json_string(v);
	return j != NULL ? j : json_null();
}

/* hk_ctl_pg_json_print - print a document for scripts and free it. */
int
hk_ctl_pg_json_print(json_t *doc)
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
 * hk_ctl_pg_redact - url without its password, for messages.  Handles the
 * URI form ("postgresql://user:secret@host/db") and the keyword form
 * ("host=... password=secret").
 */
static void
hk_ctl_pg_redact(const char *url, char *buf, size_t len)
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

/* hk_ctl_pg_trim - libpq's messages end in a newline; stderr adds its own. */
static const char *
hk_ctl_pg_trim(char *msg)
{
	size_t n = strlen(msg);

	while (n > 0 && isspace((unsigned char)msg[n - 1]))
		msg[--n] = '\0';
	return msg;
}

/*
 * hk_ctl_pg_connect - a connection to the configured database, or NULL
 * after saying why.  The config loader has already applied
 * HOOKD_DATABASE_URL.  The defaults go before the URL so that anything the
 * URL sets itself wins.
 */
PGconn *
hk_ctl_pg_connect(struct hk_ctl *ctl)
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
		hk_ctl_pg_redact(conf->postgres.url, where, sizeof(where));
		snprintf(msg, sizeof(msg), "%s",
		    conn ? PQerrorMessage(conn) : "out of memory");
		fprintf(stderr, "hookctl: cannot connect to PostgreSQL at %s: "
		    "%s\n", where, hk_ctl_pg_trim(msg));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/*
 * hk_ctl_pg_query - run sql with nparams text parameters (NULL ones are SQL
 * NULL); the result, or NULL after printing the server's message.
 */
PGresult *
hk_ctl_pg_query(PGconn *conn, const char *sql, int nparams,
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
	fprintf(stderr, "hookctl: query failed: %s%s\n", hk_ctl_pg_trim(msg),
	    state != NULL && strcmp(state, "42P01") == 0
	    ? " (has hookd applied its migrations to this database?)" : "");
	PQclear(res);
	return NULL;
}

/* hk_ctl_pg_exec - a statement whose result is not needed. */
int
hk_ctl_pg_exec(PGconn *conn, const char *sql)
{
	PGresult *res = hk_ctl_pg_query(conn, sql, 0, NULL);

	PQclear(res);
	return res != NULL ? HK_OK : HK_ERROR;
}

/*
 * hk_ctl_pg_opt - match argv[*i] against the option name taking a value,
 * as "--name VALUE" or "--name=VALUE".  1 and *val set when it matches, 0
 * when it is another argument, -1 when the value is missing.
 */
int
hk_ctl_pg_opt(int argc, char **argv, int *i, const char *name,
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

/*
 * hk_ctl_pg_args - a listing's arguments: --json, --limit N (into limit,
 * HK_CTL_PG_LIMIT when absent) and "--NAME VALUE" for each of the n names
 * (into vals, in the same order).  HK_CTL_OK or HK_CTL_USAGE.
 */
int
hk_ctl_pg_args(int argc, char **argv, const char *const *names, int n,
    const char **vals, char *limit, size_t limitlen, int *json)
{
	const char *lim = NULL;
	int m = 0, k;

	snprintf(limit, limitlen, "%d", HK_CTL_PG_LIMIT);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			*json = 1;
			continue;
		}
		for (k = 0, m = 0; k < n && m == 0; k++)
			m = hk_ctl_pg_opt(argc, argv, &i, names[k], &vals[k]);
		if (m == 0)
			m = hk_ctl_pg_opt(argc, argv, &i, "--limit", &lim);
		if (m <= 0)
			return HK_CTL_USAGE;
	}
	if (lim != NULL && hk_ctl_pg_limit(lim, limit, limitlen) != HK_OK)
		return HK_CTL_USAGE;
	return HK_CTL_OK;
}

/* hk_ctl_pg_limit - parse --limit; HK_ERROR unless 1..HK_CTL_PG_LIMIT_MAX. */
int
hk_ctl_pg_limit(const char *s, char *out, size_t len)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1
	    || v > HK_CTL_PG_LIMIT_MAX)
		return HK_ERROR;
	snprintf(out, len, "%ld", v);
	return HK_OK;
}

/* hk_ctl_pg_id_ok - an event id is a UUID; say so when s is not one. */
int
hk_ctl_pg_id_ok(const char *s)
{
	uint8_t id[HK_UUID_LEN];

	if (hk_uuid_parse(s, id) == HK_OK)
		return 1;
	fprintf(stderr, "hookctl: \"%s\" is not an event id (a UUID)\n", s);
	return 0;
}

/*
 * hk_ctl_pg_list - a listing command's query: connect, run sql, let out
 * print the rows (as JSON when json), clean up.  out's status is returned.
 */
int
hk_ctl_pg_list(struct hk_ctl *ctl, const char *sql, int nparams,
    const char *const *params, int (*out)(const PGresult *, int), int json)
{
	PGconn *conn;
	PGresult *res;
	int rc;

	if ((conn = hk_ctl_pg_connect(ctl)) == NULL)
		return HK_CTL_FAIL;
	if ((res = hk_ctl_pg_query(conn, sql, nparams, params)) == NULL) {
		PQfinish(conn);
		return HK_CTL_FAIL;
	}
	rc = out(res, json);
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/*
 * hk_ctl_pg_listed - print what a listing gathered: doc for --json, else
 * the table, or none when it has no rows; frees both.  ok 0 means a row
 * could not be added (out of memory).
 */
int
hk_ctl_pg_listed(struct hk_ctl_table *t, json_t *doc, int json, int ok,
    const char *none)
{
	if (json) {
		hk_ctl_table_free(t);
		return hk_ctl_pg_json_print(doc);
	}
	json_decref(doc);
	if (ok && t->nrows > 0)
		hk_ctl_table_print(t, 0);
	else if (ok)
		printf("%s\n", none);
	else
		fprintf(stderr, "hookctl: out of memory\n");
	hk_ctl_table_free(t);
	return ok ? HK_CTL_OK : HK_CTL_FAIL;
}
