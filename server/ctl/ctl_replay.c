/*
 * ctl_replay.c - hookctl replay: deliver events again.
 *
 * replay only changes rows: it sets the deliveries back to pending, due now,
 * and the pool's retry scanner (FOR UPDATE SKIP LOCKED) picks them up from
 * there, on whichever delivery worker gets to them first.  Attempts keep
 * counting up, so the attempts table keeps the whole history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "confroute.h"
#include "core.h"
#include "ctl.h"

/*
 * Existing deliveries go back to pending, due now.  The subquery locks the
 * rows first so that RETURNING can report the status they had.  Only
 * destinations still in the configuration ($3) are replayed: the pool has
 * nowhere to send the others.
 */
static const char hk_ctl_replay_sql[] =
    "UPDATE deliveries d SET status = 'pending', next_attempt_at = now(),"
    "  updated_at = now()"
    " FROM (SELECT event_id, destination, received_at, status FROM deliveries"
    "       WHERE event_id = $1::uuid"
    "         AND ($2::text IS NULL OR destination = $2)"
    "         AND destination = ANY ($3::text[])"
    "       FOR UPDATE) o"
    " WHERE d.event_id = o.event_id AND d.destination = o.destination"
    "  AND d.received_at = o.received_at"
    " RETURNING d.destination, o.status, d.attempts";

/*
 * A destination added to the config after the event arrived.  The row
 * takes its event's received_at (the partition key), so it lives and is
 * dropped with its event.
 */
static const char hk_ctl_replay_new_sql[] =
    "INSERT INTO deliveries (event_id, destination, received_at, status,"
    "  next_attempt_at)"
    " SELECT id, $2::text, received_at, 'pending', now() FROM events"
    "  WHERE id = $1::uuid"
    " ON CONFLICT (event_id, destination, received_at) DO NOTHING"
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

/*
 * hk_ctl_replay_wants - would the pool route the event of row 0 of ev
 * (source, type, content type, headers, body as bytea text) to dest?  A
 * destination named with --destination gets it regardless: the operator
 * asked for it.
 */
static int
hk_ctl_replay_wants(const struct hk_conf_dest *dest, const PGresult *ev)
{
	struct hk_confroute_event rev;
	unsigned char *body;
	size_t blen = 0;
	int yes;

	if (dest->ntypes == 0 && dest->nfilter == 0)
		return 1;
	if ((body = PQunescapeBytea((const unsigned char *)PQgetvalue(ev, 0,
	    4), &blen)) == NULL)
		return 0;
	rev.type = PQgetvalue(ev, 0, 1);
	rev.ctype = PQgetvalue(ev, 0, 2);
	rev.ctype_len = strlen(rev.ctype);
	rev.headers = PQgetvalue(ev, 0, 3);
	rev.headers_len = strlen(rev.headers);
	rev.body = (const char *)body;
	rev.body_len = blen;
	yes = hk_confroute_wants(dest, &rev);
	PQfreemem(body);
	return yes;
}

/* hk_ctl_replay_rows - add the replayed rows of res to the table. */
static int
hk_ctl_replay_rows(struct hk_ctl_table *t, const char *id, const PGresult *res)
{
	for (int r = 0; r < PQntuples(res); r++)
		if (hk_ctl_table_row(t, (const char *const[]){ id,
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
    const char *dest, const char *names, struct hk_ctl_table *t)
{
	const char *params[3] = { id, dest, names };
	PGresult *res, *ev = NULL;
	char *source;
	int n, total;

	if (hk_ctl_pg_exec(conn, "BEGIN") != HK_OK)
		return HK_ERROR;
	if ((res = hk_ctl_pg_query(conn, "SELECT source, coalesce(event_type,"
	    " ''), content_type, headers::text, body FROM events"
	    " WHERE id = $1::uuid FOR SHARE", 1, params)) == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		fprintf(stderr, "hookctl: no event %s\n", id);
		PQclear(res);
		goto fail;
	}
	source = strdup(PQgetvalue(res, 0, 0));
	ev = res;
	if (source == NULL ||
	    (res = hk_ctl_pg_query(conn, hk_ctl_replay_sql, 3, params)) == NULL)
		goto fail_source;
	total = hk_ctl_replay_rows(t, id, res);
	PQclear(res);
	for (int i = 0; i < conf->ndests && total >= 0; i++) {
		if ((dest != NULL && strcmp(conf->dests[i].name, dest) != 0)
		    || !hk_ctl_replay_routes(&conf->dests[i], source)
		    || (dest == NULL && !hk_ctl_replay_wants(&conf->dests[i],
		    ev)))
			continue;
		params[1] = conf->dests[i].name;
		if ((res = hk_ctl_pg_query(conn, hk_ctl_replay_new_sql, 2,
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
	PQclear(ev);
	if (hk_ctl_pg_exec(conn, "COMMIT") != HK_OK)
		return HK_ERROR;
	return total;

fail_source:
	free(source);
	PQclear(ev);
fail:
	hk_ctl_pg_exec(conn, "ROLLBACK");
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

/*
 * hk_ctl_replay - deliver events again, all their destinations or one; a
 * selection by time instead of ids (--since) is ctl_bulkreplay.c's.
 */
int
hk_ctl_replay(struct hk_ctl *ctl, int argc, char **argv)
{
	static const char *const head[] = { "EVENT", "DESTINATION", "WAS",
	    "ATTEMPTS" };
	struct hk_ctl_table t = { head, 4, 1u << 3, NULL, 0, 0 };
	const char *dest = NULL, **ids;
	int nids = 0, rc = HK_CTL_OK, m;
	char *names = NULL;
	PGconn *conn;

	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "--since", 7) == 0 && (argv[i][7] == '\0'
		    || argv[i][7] == '='))
			return hk_ctl_replay_bulk(ctl, argc, argv);
	if ((ids = calloc((size_t)argc, sizeof(*ids))) == NULL)
		return HK_CTL_FAIL;
	for (int i = 1; i < argc && rc == HK_CTL_OK; i++) {
		if ((m = hk_ctl_pg_opt(argc, argv, &i, "--destination", &dest))
		    < 0 || (m == 0 && argv[i][0] == '-'))
			rc = HK_CTL_USAGE;
		else if (m == 0)
			ids[nids++] = argv[i];
	}
	if (rc == HK_CTL_OK && nids == 0)
		rc = HK_CTL_USAGE;
	if (rc != HK_CTL_OK || (conn = hk_ctl_pg_connect(ctl)) == NULL) {
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
		if (!hk_ctl_pg_id_ok(ids[i]) || hk_ctl_replay_one(conn,
		    ctl->conf, ids[i], dest, names, &t) <= 0)
			rc = HK_CTL_FAIL;
	if (t.nrows > 0)
		hk_ctl_table_print(&t, 0);
	hk_ctl_table_free(&t);
	free(names);
	free(ids);
	PQfinish(conn);
	return rc;
}
