/*
 * ctl_storage.c - hookctl storage: what PostgreSQL holds and when it goes.
 *
 * Per table: its partitions, rows and bytes (indexes and TOAST included).
 * Rows are PostgreSQL's live-tuple statistics, not a count: counting a
 * week of events would read the whole week.  Then the oldest event kept,
 * the next day partition retention will drop and when (the end of its day
 * plus postgres.retention_days; the delivery workers' next run after that
 * moment drops it), and the expired days kept because deliveries of them
 * are still pending or retrying (sql/003_partitions.sql, hookd_retention).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core.h"
#include "ctl.h"

static const char hk_ctl_storage_tables_sql[] =
    "SELECT t.name, count(*) FILTER (WHERE p.level > 0),"
    /* A partitioned parent keeps counts of its own: leaves only. */
    "  coalesce(sum(s.n_live_tup) FILTER (WHERE c.relkind = 'r'), 0)::bigint,"
    "  sum(pg_total_relation_size(p.relid))::bigint"
    " FROM unnest(ARRAY['events', 'deliveries', 'attempts', 'inbox'])"
    "  WITH ORDINALITY t(name, n)"
    /* pg_partition_tree has no row for a table not partitioned (inbox). */
    " CROSS JOIN LATERAL (SELECT relid, level"
    "  FROM pg_partition_tree(t.name::regclass)"
    "  UNION SELECT t.name::regclass, 0) p"
    " JOIN pg_class c ON c.oid = p.relid"
    " LEFT JOIN pg_stat_user_tables s ON s.relid = p.relid"
    " GROUP BY t.name, t.n ORDER BY t.n";

static const char hk_ctl_storage_oldest_sql[] =
    "SELECT " HK_CTL_PG_TS("min(received_at)") " FROM events";

static const char hk_ctl_storage_days_sql[] =
    "SELECT to_char(day, 'YYYY-MM-DD'), bytes, " HK_CTL_PG_TS("drop_at") ","
    "  pending, drop_at <= now() FROM hookd_storage_days($1::int)";

/* The results behind one hookctl storage. */
struct hk_ctl_storage {
	PGresult *tables, *oldest, *days;
	int       next;			/* row of days dropped next; -1 none */
	int       days_kept;
};

/* hk_ctl_storage_json - the whole answer as one document. */
static int
hk_ctl_storage_json(const struct hk_ctl_storage *s, int retention)
{
	json_t *doc = json_object(), *tables = json_array(),
	    *kept = json_array(), *next = json_null();
	const PGresult *d = s->days;

	for (int r = 0; r < PQntuples(s->tables); r++)
		json_array_append_new(tables, json_pack("{s:o,s:o,s:o,s:o}",
		    "table", hk_ctl_pg_jval(s->tables, r, 0, 's'),
		    "partitions", hk_ctl_pg_jval(s->tables, r, 1, 'i'),
		    "rows", hk_ctl_pg_jval(s->tables, r, 2, 'i'),
		    "bytes", hk_ctl_pg_jval(s->tables, r, 3, 'i')));
	for (int r = 0; r < PQntuples(d); r++)
		if (strcmp(PQgetvalue(d, r, 3), "0") != 0)
			json_array_append_new(kept, json_pack("{s:o,s:o,s:o}",
			    "day", hk_ctl_pg_jval(d, r, 0, 's'),
			    "pending", hk_ctl_pg_jval(d, r, 3, 'i'),
			    "bytes", hk_ctl_pg_jval(d, r, 1, 'i')));
	if (s->next >= 0)
		next = json_pack("{s:o,s:o,s:o}",
		    "day", hk_ctl_pg_jval(d, s->next, 0, 's'),
		    "at", hk_ctl_pg_jval(d, s->next, 2, 's'),
		    "bytes", hk_ctl_pg_jval(d, s->next, 1, 'i'));
	json_object_set_new(doc, "tables", tables);
	json_object_set_new(doc, "oldest_event",
	    hk_ctl_pg_jval(s->oldest, 0, 0, 's'));
	json_object_set_new(doc, "retention_days", json_integer(retention));
	json_object_set_new(doc, "next_drop", next);
	json_object_set_new(doc, "kept_for_retries", kept);
	return hk_ctl_pg_json_print(doc);
}

/* hk_ctl_storage_text - the same for people. */
static int
hk_ctl_storage_text(const struct hk_ctl_storage *s, int retention)
{
	static const char *const head[] = { "TABLE", "PARTITIONS",
	    "ROWS (approx.)", "BYTES" };
	struct hk_ctl_table t = { head, 4, 0xe, NULL, 0, 0 };
	const PGresult *d = s->days;
	const char *oldest = hk_ctl_pg_val(s->oldest, 0, 0);

	for (int r = 0; r < PQntuples(s->tables); r++)
		if (hk_ctl_table_row(&t, (const char *const[]){
		    PQgetvalue(s->tables, r, 0), PQgetvalue(s->tables, r, 1),
		    PQgetvalue(s->tables, r, 2), PQgetvalue(s->tables, r, 3) })
		    != HK_OK) {
			hk_ctl_table_free(&t);
			fprintf(stderr, "hookctl: out of memory\n");
			return HK_CTL_FAIL;
		}
	hk_ctl_table_print(&t, 0);
	hk_ctl_table_free(&t);
	printf("\noldest event kept:  %s\n", oldest ? oldest : "none");
	printf("retention:          %d days (postgres.retention_days), "
	    "applied by the delivery workers every 10 minutes\n", retention);
	if (s->next < 0)
		printf("next drop:          none (no day partition yet)\n");
	else
		printf("next drop:          day %s (%s bytes) %s %s\n",
		    PQgetvalue(d, s->next, 0), PQgetvalue(d, s->next, 1),
		    strcmp(PQgetvalue(d, s->next, 4), "t") == 0
		    ? "at the next run, due since" : "at", PQgetvalue(d,
		    s->next, 2));
	if (s->days_kept == 0)
		printf("kept for retries:   none\n");
	for (int r = 0, k = 0; r < PQntuples(d); r++)
		if (strcmp(PQgetvalue(d, r, 3), "0") != 0)
			printf("%s day %s (%s bytes): %s deliveries pending or "
			    "retrying\n", k++ ? "                   "
			    : "kept for retries:  ", PQgetvalue(d, r, 0),
			    PQgetvalue(d, r, 1), PQgetvalue(d, r, 3));
	return HK_CTL_OK;
}

/* hk_ctl_storage - hookctl storage [--json]. */
int
hk_ctl_storage(struct hk_ctl *ctl, int argc, char **argv)
{
	struct hk_ctl_storage s = { NULL, NULL, NULL, -1, 0 };
	const char *params[1];
	char days[16];
	int json = 0, rc = HK_CTL_FAIL, retention;
	PGconn *conn;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else
			return HK_CTL_USAGE;
	if ((conn = hk_ctl_pg_connect(ctl)) == NULL)
		return HK_CTL_FAIL;
	retention = ctl->conf->postgres.retention_days;
	snprintf(days, sizeof(days), "%d", retention);
	params[0] = days;
	if (hk_ctl_pg_exec(conn, "SET TimeZone = 'UTC'") != HK_OK
	    || (s.tables = hk_ctl_pg_query(conn, hk_ctl_storage_tables_sql, 0,
	    NULL)) == NULL
	    || (s.oldest = hk_ctl_pg_query(conn, hk_ctl_storage_oldest_sql, 0,
	    NULL)) == NULL
	    || (s.days = hk_ctl_pg_query(conn, hk_ctl_storage_days_sql, 1,
	    params)) == NULL)
		goto out;
	/* Days go oldest first; the first one nothing keeps goes next. */
	for (int r = 0; r < PQntuples(s.days); r++) {
		if (strcmp(PQgetvalue(s.days, r, 3), "0") != 0)
			s.days_kept++;
		else if (s.next < 0)
			s.next = r;
	}
	rc = json ? hk_ctl_storage_json(&s, retention)
	    : hk_ctl_storage_text(&s, retention);
out:
	PQclear(s.tables);
	PQclear(s.oldest);
	PQclear(s.days);
	PQfinish(conn);
	return rc;
}
