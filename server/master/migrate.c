/*
 * migrate.c - apply sql/ migrations at start and on reload.
 *
 * The master runs this before it forks, with blocking libpq: nothing else
 * happens in the master at that point, and children must not start against a
 * schema they do not know.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core.h"
#include "log.h"
#include "migrate.h"

/* An arbitrary constant that names hookd's migration lock. */
#define HK_MIGRATE_LOCK "727367001"

static int
hk_migrate_exec(PGconn *pg, const char *sql, const char *what)
{
	PGresult *res = PQexec(pg, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK
	    || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		hk_log_error("migration: %s failed: %s", what,
		    PQresultErrorMessage(res));
	PQclear(res);
	return ok ? HK_OK : HK_ERROR;
}

static PGconn *
hk_migrate_connect(const char *url, int wait_s)
{
	PGconn *pg;

	for (int i = 0; ; i++) {
		pg = PQconnectdb(url);
		if (PQstatus(pg) == CONNECTION_OK)
			return pg;
		if (i >= wait_s * 2) {
			hk_log_error("migration: cannot connect to PostgreSQL: %s",
			    PQerrorMessage(pg));
			PQfinish(pg);
			return NULL;
		}
		if (i == 0)
			hk_log_warn("migration: waiting for PostgreSQL: %s",
			    PQerrorMessage(pg));
		PQfinish(pg);
		usleep(500000);
	}
}

static int
hk_migrate_applied(PGconn *pg, int version)
{
	char sql[128];
	PGresult *res;
	int found;

	snprintf(sql, sizeof(sql), "SELECT 1 FROM hookd_migrations "
	    "WHERE version = %d", version);
	res = PQexec(pg, sql);
	found = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
	PQclear(res);
	return found;
}

static int
hk_migrate_one(PGconn *pg, const struct hk_migration *m)
{
	char sql[256];

	if (hk_migrate_exec(pg, "BEGIN", "BEGIN") != HK_OK)
		return HK_ERROR;
	if (hk_migrate_exec(pg, m->sql, m->name) != HK_OK) {
		hk_migrate_exec(pg, "ROLLBACK", "ROLLBACK");
		return HK_ERROR;
	}
	snprintf(sql, sizeof(sql), "INSERT INTO hookd_migrations (version, name) "
	    "VALUES (%d, '%s')", m->version, m->name);
	if (hk_migrate_exec(pg, sql, "recording the migration") != HK_OK
	    || hk_migrate_exec(pg, "COMMIT", "COMMIT") != HK_OK) {
		hk_migrate_exec(pg, "ROLLBACK", "ROLLBACK");
		return HK_ERROR;
	}
	hk_log_info("migration %s applied", m->name);
	return HK_OK;
}

int
hk_migrate_run(const struct hk_conf *conf, int wait_s)
{
	PGconn *pg;
	int rc = HK_OK;

	if ((pg = hk_migrate_connect(conf->postgres.url, wait_s)) == NULL)
		return HK_ERROR;
	hk_migrate_exec(pg, "SET client_min_messages = warning", "SET");
	if (hk_migrate_exec(pg, "SELECT pg_advisory_lock(" HK_MIGRATE_LOCK ")",
	    "taking the migration lock") != HK_OK
	    || hk_migrate_exec(pg, "CREATE TABLE IF NOT EXISTS hookd_migrations ("
	    "version integer PRIMARY KEY, name text NOT NULL, "
	    "applied_at timestamptz NOT NULL DEFAULT now())",
	    "creating hookd_migrations") != HK_OK) {
		PQfinish(pg);
		return HK_ERROR;
	}
	for (const struct hk_migration *m = hk_migrations; m->name; m++) {
		if (hk_migrate_applied(pg, m->version))
			continue;
		if ((rc = hk_migrate_one(pg, m)) != HK_OK)
			break;
	}
	hk_migrate_exec(pg, "SELECT pg_advisory_unlock(" HK_MIGRATE_LOCK ")",
	    "releasing the migration lock");
	PQfinish(pg);
	return rc;
}
