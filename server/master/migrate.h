/*
 * migrate.h - forward-only schema migrations, applied by the master.
 */
#ifndef HK_MIGRATE_H
#define HK_MIGRATE_H

#include "config.h"

struct hk_migration {
	int         version;
	const char *name;
	const char *sql;
};

/* sql/NNN_*.sql, embedded at build time; ends with a NULL name. */
extern const struct hk_migration hk_migrations[];

/*
 * Apply the migrations not yet recorded in hookd_migrations, each in its own
 * transaction, under an advisory lock so that several masters starting at
 * once apply each exactly once.  Waits up to wait_s seconds for PostgreSQL.
 */
int hk_migrate_run(const struct hk_conf *conf, int wait_s);

#endif
