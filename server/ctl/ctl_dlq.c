/*
 * ctl_dlq.c - hookctl dlq: the dead deliveries, oldest first.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "core.h"
#include "ctl.h"

static const char hk_ctl_dlq_sql[] =
    "SELECT d.event_id, e.source, d.destination, d.attempts, d.last_status,"
    "  d.last_error, " HK_CTL_PG_TS("d.updated_at")
    " FROM deliveries d JOIN events e"
    "  ON e.id = d.event_id AND e.received_at = d.received_at"
    " WHERE d.status = 'dead' AND ($1::text IS NULL OR d.destination = $1)"
    " ORDER BY d.updated_at, d.event_id, d.destination"
    " LIMIT $2::integer";

static int
hk_ctl_dlq_out(const PGresult *res, int json)
{
	static const char *const head[] = { "EVENT", "SOURCE", "DESTINATION",
	    "ATTEMPTS", "LAST STATUS", "DEAD SINCE (UTC)", "LAST ERROR" };
	struct hk_ctl_table t = { head, 7, 1u << 3 | 1u << 4, NULL, 0, 0 };
	json_t *doc = json_array();
	char when[32], err[HK_CTL_TABLE_CELL_MAX * 4 + 8];
	int rc = HK_OK;

	for (int r = 0; r < PQntuples(res) && doc != NULL; r++) {
		if (json) {
			json_array_append_new(doc, json_pack("{s:o,s:o,s:o,s:o,"
			    "s:o,s:o,s:o}",
			    "event_id", hk_ctl_pg_jval(res, r, 0, 's'),
			    "source", hk_ctl_pg_jval(res, r, 1, 's'),
			    "destination", hk_ctl_pg_jval(res, r, 2, 's'),
			    "attempts", hk_ctl_pg_jval(res, r, 3, 'i'),
			    "last_status", hk_ctl_pg_jval(res, r, 4, 'i'),
			    "last_error", hk_ctl_pg_jval(res, r, 5, 's'),
			    "updated_at", hk_ctl_pg_jval(res, r, 6, 's')));
			continue;
		}
		if (rc == HK_OK)
			rc = hk_ctl_table_row(&t, (const char *const[]){
			    PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
			    PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
			    hk_ctl_pg_val(res, r, 4),
			    hk_ctl_table_when(PQgetvalue(res, r, 6), when,
			    sizeof(when)),
			    hk_ctl_table_line(hk_ctl_pg_val(res, r, 5), err,
			    sizeof(err)) });
	}
	return hk_ctl_pg_listed(&t, doc, json, rc == HK_OK,
	    "no dead deliveries");
}

/* hk_ctl_dlq - dead deliveries, oldest first. */
int
hk_ctl_dlq(struct hk_ctl *ctl, int argc, char **argv)
{
	static const char *const names[] = { "--destination" };
	const char *params[2] = { NULL, NULL };
	char limit[24];
	int json = 0, rc;

	if ((rc = hk_ctl_pg_args(argc, argv, names, 1, params, limit,
	    sizeof(limit), &json)) != HK_CTL_OK)
		return rc;
	params[1] = limit;
	return hk_ctl_pg_list(ctl, hk_ctl_dlq_sql, 2, params, hk_ctl_dlq_out,
	    json);
}
