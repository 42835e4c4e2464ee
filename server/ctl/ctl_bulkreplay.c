/*
 * ctl_bulkreplay.c - hookctl replay --since T ...: deliver again every
 * delivery a selection names (common/control.h has the statements,
 * shared with POST /replay on the admin port).
 *
 * Like replay ID, it only changes rows: they go back to pending, due now,
 * and the delivery workers' scanners claim them under each destination's
 * limits, like any delivery.  The rows go in batches of HK_CONTROL_BATCH,
 * each batch its own transaction, so no lock is held for long and the
 * delivery pool works on meanwhile.  --dry-run counts and changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "control.h"
#include "core.h"
#include "ctl.h"

/* hk_ctl_bulk_args - the selectors; HK_CTL_OK or HK_CTL_USAGE. */
static int
hk_ctl_bulk_args(int argc, char **argv, struct hk_control_replay *r,
    int *json)
{
	static const char *const names[] = { "--since", "--until",
	    "--destination", "--status", "--source", "--type" };
	const char **vals[] = { &r->since, &r->until, &r->destination,
	    &r->status, &r->source, &r->type };
	int m = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0) {
			r->dry_run = 1;
			continue;
		}
		if (strcmp(argv[i], "--json") == 0) {
			*json = 1;
			continue;
		}
		m = 0;
		for (size_t k = 0; k < HK_NELEM(names) && m == 0; k++)
			if ((m = hk_ctl_pg_opt(argc, argv, &i, names[k],
			    vals[k])) < 0)
				return HK_CTL_USAGE;
		if (m == 0)
			return HK_CTL_USAGE;
	}
	return HK_CTL_OK;
}

/*
 * hk_ctl_bulk_times - can PostgreSQL read --since and --until as times?
 * They go to it as they were written (a span like 2h is made a time
 * first), so it is the judge; a time it refuses is a usage error, as
 * purge's --before is, not a failure of the replay.
 */
static int
hk_ctl_bulk_times(PGconn *conn, const struct hk_control_replay_args *a)
{
	const char *v[2] = { a->v[0], a->v[1] };
	const char *state;
	PGresult *res;
	int rc = HK_CTL_OK;

	res = PQexecParams(conn, "SELECT $1::timestamptz, $2::timestamptz", 2,
	    NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state != NULL && strncmp(state, "22", 2) == 0) {
			fprintf(stderr, "hookctl: replay: --since/--until: "
			    "%s\n", PQresultErrorField(res,
			    PG_DIAG_MESSAGE_PRIMARY));
			rc = HK_CTL_USAGE;
		}
	}
	PQclear(res);
	return rc;
}

/* hk_ctl_bulk_count - the dry run: how many, per destination. */
static long long
hk_ctl_bulk_count(PGconn *conn, struct hk_control_replay_args *a,
    json_t *per)
{
	PGresult *res;
	long long total = 0, n;

	if ((res = hk_ctl_pg_query(conn, hk_control_replay_count_sql,
	    HK_CONTROL_REPLAY_NPARAMS - 3, a->v)) == NULL)
		return -1;
	for (int r = 0; r < PQntuples(res); r++) {
		n = strtoll(PQgetvalue(res, r, 1), NULL, 10);
		json_object_set_new(per, PQgetvalue(res, r, 0),
		    json_integer(n));
		total += n;
	}
	PQclear(res);
	return total;
}

/* hk_ctl_bulk_run - batch after batch until the selection is walked. */
static long long
hk_ctl_bulk_run(PGconn *conn, struct hk_control_replay_args *a)
{
	PGresult *res;
	long long total = 0;
	int more;

	do {
		if ((res = hk_ctl_pg_query(conn, hk_control_replay_batch_sql,
		    HK_CONTROL_REPLAY_NPARAMS, a->v)) == NULL) {
			if (total > 0)
				fprintf(stderr, "hookctl: %lld deliveries were "
				    "replayed before the failure\n", total);
			return -1;
		}
		more = hk_control_replay_next(a, res, &total);
		PQclear(res);
	} while (more);
	return total;
}

/* hk_ctl_replay_bulk - hookctl replay --since T [selectors] [--dry-run]. */
int
hk_ctl_replay_bulk(struct hk_ctl *ctl, int argc, char **argv)
{
	struct hk_control_replay r;
	struct hk_control_replay_args a;
	const char **names;
	char *arr = NULL, err[256];
	json_t *per = json_object();
	long long n = -1;
	int json = 0, rc;
	PGconn *conn;

	memset(&r, 0, sizeof(r));
	if ((rc = hk_ctl_bulk_args(argc, argv, &r, &json)) != HK_CTL_OK) {
		json_decref(per);
		return rc;
	}
	if ((conn = hk_ctl_pg_connect(ctl)) == NULL) {
		json_decref(per);
		return HK_CTL_FAIL;
	}
	rc = HK_CTL_FAIL;
	if (r.destination != NULL && hk_conf_dest(ctl->conf, r.destination)
	    == NULL) {
		fprintf(stderr, "hookctl: no destination \"%s\" in %s\n",
		    r.destination, ctl->conf->file ? ctl->conf->file
		    : "the configuration");
		goto out;
	}
	if ((names = calloc((size_t)ctl->conf->ndests + 1, sizeof(*names)))
	    == NULL)
		goto out;
	for (int i = 0; i < ctl->conf->ndests; i++)
		names[i] = ctl->conf->dests[i].name;
	arr = hk_control_names(names, ctl->conf->ndests);
	free(names);
	if (arr == NULL || per == NULL)
		goto out;
	r.lease_us = hk_conf_claim_lease_us(ctl->conf);
	if (hk_control_replay_params(&r, arr, &a, err, sizeof(err)) != HK_OK) {
		fprintf(stderr, "hookctl: replay: %s\n", err);
		rc = HK_CTL_USAGE;
		goto out;
	}
	if ((rc = hk_ctl_bulk_times(conn, &a)) != HK_CTL_OK)
		goto out;
	rc = HK_CTL_FAIL;
	n = r.dry_run ? hk_ctl_bulk_count(conn, &a, per)
	    : hk_ctl_bulk_run(conn, &a);
	if (n < 0)
		goto out;
	rc = HK_CTL_OK;
	if (json) {
		json_t *doc = json_pack("{s:b,s:I}", "dry_run", r.dry_run,
		    r.dry_run ? "matched" : "replayed", (json_int_t)n);

		if (doc != NULL && r.dry_run)
			json_object_set(doc, "destinations", per);
		rc = hk_ctl_pg_json_print(doc);
	} else if (r.dry_run) {
		const char *k;
		json_t *v;

		printf("would replay %lld deliveries (dry run, nothing "
		    "changed)\n", n);
		json_object_foreach(per, k, v)
			printf("  %-24s %lld\n", k,
			    (long long)json_integer_value(v));
	} else
		printf("replayed %lld deliveries; they are due now\n", n);
out:
	json_decref(per);
	free(arr);
	PQfinish(conn);
	return rc;
}
