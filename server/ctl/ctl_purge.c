/*
 * ctl_purge.c - hookctl purge: remove everything received before a time,
 * for an operator short of disk or honouring an erasure request.
 *
 * The work is one call of hookd_purge() (sql/003_partitions.sql): day
 * partitions wholly before the time are dropped, rows before it are deleted
 * from the day that straddles it and from the DEFAULT partitions, pending
 * and retrying deliveries included (the operator asked for it; retention,
 * by contrast, keeps them).  It waits for the maintenance lock, so it never
 * runs beside a delivery worker's retention run.  --dry-run counts the same
 * things and changes nothing.
 *
 * The time is "now" or ISO 8601 (2026-11-22, 2026-11-22T10:00:00Z,
 * 2026-11-22 10:00:00.5+02:00); without a zone it is UTC.  It is checked
 * here rather than left to PostgreSQL, which would also take "yesterday",
 * "epoch" or "Nov 22": a purge should mean exactly what was typed.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core.h"
#include "ctl.h"

static const char hk_ctl_purge_sql[] =
    "SELECT " HK_CTL_PG_TS("$1::timestamptz") ", p.events, p.deliveries,"
    "  p.attempts, p.bytes FROM hookd_purge($1::timestamptz, $2::boolean) p";

/* hk_ctl_purge_digits - n digits at *s; advances past them. */
static int
hk_ctl_purge_digits(const char **s, int n)
{
	for (int i = 0; i < n; i++)
		if (!isdigit((unsigned char)(*s)[i]))
			return 0;
	*s += n;
	return 1;
}

/*
 * hk_ctl_purge_iso - is s an ISO 8601 date or date and time, with an
 * optional zone (Z, +HH, +HH:MM, +HHMM)?
 */
static int
hk_ctl_purge_iso(const char *s)
{
	if (!hk_ctl_purge_digits(&s, 4) || *s++ != '-'
	    || !hk_ctl_purge_digits(&s, 2) || *s++ != '-'
	    || !hk_ctl_purge_digits(&s, 2))
		return 0;
	if (*s == '\0')
		return 1;
	if (*s != 'T' && *s != 't' && *s != ' ')
		return 0;
	s++;
	if (!hk_ctl_purge_digits(&s, 2) || *s++ != ':'
	    || !hk_ctl_purge_digits(&s, 2))
		return 0;
	if (*s == ':') {
		s++;
		if (!hk_ctl_purge_digits(&s, 2))
			return 0;
	}
	if (*s == '.' || *s == ',') {
		if (!isdigit((unsigned char)*++s))
			return 0;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (*s == 'Z' || *s == 'z')
		return s[1] == '\0';
	if (*s == '+' || *s == '-') {
		s++;
		if (!hk_ctl_purge_digits(&s, 2))
			return 0;
		if (*s == ':')
			s++;
		if (*s != '\0' && !hk_ctl_purge_digits(&s, 2))
			return 0;
	}
	return *s == '\0';
}

/* hk_ctl_purge_print - what was (or would be) removed. */
static int
hk_ctl_purge_print(const PGresult *res, int dry, int json)
{
	static const char *const head[] = { "EVENTS", "DELIVERIES",
	    "ATTEMPTS", "BYTES" };
	struct hk_ctl_table t = { head, 4, 0xf, NULL, 0, 0 };
	int rc;

	if (json)
		return hk_ctl_pg_json_print(json_pack("{s:o,s:b,s:o,s:o,s:o,s:o}",
		    "before", hk_ctl_pg_jval(res, 0, 0, 's'), "dry_run", dry,
		    "events", hk_ctl_pg_jval(res, 0, 1, 'i'),
		    "deliveries", hk_ctl_pg_jval(res, 0, 2, 'i'),
		    "attempts", hk_ctl_pg_jval(res, 0, 3, 'i'),
		    "bytes", hk_ctl_pg_jval(res, 0, 4, 'i')));
	printf("%s everything received before %s:\n",
	    dry ? "would remove (dry run, nothing changed)" : "removed",
	    PQgetvalue(res, 0, 0));
	rc = hk_ctl_table_row(&t, (const char *const[]){ PQgetvalue(res, 0, 1),
	    PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
	    PQgetvalue(res, 0, 4) });
	if (rc == HK_OK)
		hk_ctl_table_print(&t, 2);
	hk_ctl_table_free(&t);
	return rc == HK_OK ? HK_CTL_OK : HK_CTL_FAIL;
}

/* hk_ctl_purge - hookctl purge --before TIME [--dry-run] [--json]. */
int
hk_ctl_purge(struct hk_ctl *ctl, int argc, char **argv)
{
	const char *before = NULL, *params[2];
	int dry = 0, json = 0, m, rc;
	PGconn *conn;
	PGresult *res;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			dry = 1;
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if ((m = hk_ctl_pg_opt(argc, argv, &i, "--before",
		    &before)) <= 0)
			return HK_CTL_USAGE;
	}
	if (before == NULL)
		return HK_CTL_USAGE;
	if (strcmp(before, "now") != 0 && !hk_ctl_purge_iso(before)) {
		fprintf(stderr, "hookctl: \"%s\" is not a time: give \"now\" or "
		    "ISO 8601 (2026-11-22T10:00:00Z; UTC without a zone)\n",
		    before);
		return HK_CTL_USAGE;
	}
	params[0] = before;
	params[1] = dry ? "true" : "false";
	if ((conn = hk_ctl_pg_connect(ctl)) == NULL)
		return HK_CTL_FAIL;
	/* A time without a zone is UTC, and so is the time printed. */
	if (hk_ctl_pg_exec(conn, "SET TimeZone = 'UTC'") != HK_OK
	    || (res = hk_ctl_pg_query(conn, hk_ctl_purge_sql, 2, params))
	    == NULL) {
		PQfinish(conn);
		return HK_CTL_FAIL;
	}
	rc = PQntuples(res) == 1 ? hk_ctl_purge_print(res, dry, json)
	    : HK_CTL_FAIL;
	PQclear(res);
	PQfinish(conn);
	return rc;
}
