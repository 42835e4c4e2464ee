/*
 * ctl.h - hookctl's commands and what they share.
 */
#ifndef HK_CTL_H
#define HK_CTL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "config.h"
#include "segment.h"

/* Command results: the process exit status. */
#define HK_CTL_OK     0
#define HK_CTL_FAIL   1
#define HK_CTL_USAGE  2

struct hk_ctl {
	const char     *conf_file;
	const char     *instance;
	struct hk_conf *conf;
	struct hk_segment seg;
};

/* ctl.c */
#define HK_CTL_DEFAULT_CONF "/etc/hookd/hookd.conf"
const struct hk_conf *hk_ctl_conf(struct hk_ctl *ctl);
int  hk_ctl_attach(struct hk_ctl *ctl);
/* A restarted hookd has a new segment: map it instead.  1 when it did. */
int  hk_ctl_follow(struct hk_ctl *ctl);
void hk_ctl_duration(char *buf, size_t len, uint64_t us);
void hk_ctl_sleep_us(uint64_t us);

/* ctl_status.c */
int hk_ctl_status(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_stats.c: the command, and snapshot helpers for top */
struct hk_snapshot;
struct hk_snap_group;
int  hk_ctl_stats(struct hk_ctl *ctl, int argc, char **argv);
struct hk_snapshot *hk_ctl_snapshot(struct hk_ctl *ctl);
const struct hk_snap_group *hk_ctl_snap_find(const struct hk_snapshot *s,
    int scope, int kind);
void hk_ctl_stats_head(const struct hk_snapshot *s, uint64_t now_us);
void hk_ctl_stats_stages(const struct hk_snap_group *g, unsigned w1,
    unsigned w2);

/* ctl_top.c */
int hk_ctl_top(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_tail.c */
int hk_ctl_tail(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_send.c */
int hk_ctl_send(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_events.c */
int hk_ctl_events(struct hk_ctl *ctl, int argc, char **argv);
int hk_ctl_event(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_replay.c */
int hk_ctl_replay(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_bulkreplay.c */
int hk_ctl_replay_bulk(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_destinations.c */
int hk_ctl_destinations(struct hk_ctl *ctl, int argc, char **argv);
int hk_ctl_disable(struct hk_ctl *ctl, int argc, char **argv);
int hk_ctl_enable(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_dlq.c */
int hk_ctl_dlq(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_purge.c */
int hk_ctl_purge(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_storage.c */
int hk_ctl_storage(struct hk_ctl *ctl, int argc, char **argv);

/* ctl_pg.c: the connection and helpers of the database commands above */
#define HK_CTL_PG_LIMIT		50	/* rows listed when --limit is absent */

/* An ISO 8601 UTC timestamp with microseconds, from SQL. */
#define HK_CTL_PG_TS(col) \
	"to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

PGconn   *hk_ctl_pg_connect(struct hk_ctl *ctl);
PGresult *hk_ctl_pg_query(PGconn *conn, const char *sql, int nparams,
    const char *const *params);
int  hk_ctl_pg_exec(PGconn *conn, const char *sql);
const char *hk_ctl_pg_val(const PGresult *res, int row, int col);
json_t *hk_ctl_pg_jval(const PGresult *res, int row, int col, int kind);
int  hk_ctl_pg_json_print(json_t *doc);
int  hk_ctl_pg_opt(int argc, char **argv, int *i, const char *name,
    const char **val);
int  hk_ctl_pg_limit(const char *s, char *out, size_t len);
int  hk_ctl_pg_args(int argc, char **argv, const char *const *names, int n,
    const char **vals, char *limit, size_t limitlen, int *json);
int  hk_ctl_pg_id_ok(const char *s);
struct hk_ctl_table;
int  hk_ctl_pg_list(struct hk_ctl *ctl, const char *sql, int nparams,
    const char *const *params, int (*out)(const PGresult *, int), int json);
int  hk_ctl_pg_listed(struct hk_ctl_table *t, json_t *doc, int json,
    int ok, const char *none);

/* ctl_table.c */
#define HK_CTL_TABLE_CELL_MAX	72	/* longest free-text cell in a table */

/*
 * A table printed in aligned columns.  Rows are kept until the end so that
 * each column is exactly as wide as its widest cell; the last column is
 * never padded, so free text (errors) can go there.
 */
struct hk_ctl_table {
	const char *const *head;
	int      ncols;
	unsigned right;			/* bit i: column i is right-aligned */
	char   **cells;			/* nrows * ncols */
	size_t   nrows;
	size_t   cap;
};

int  hk_ctl_table_row(struct hk_ctl_table *t, const char *const *cells);
void hk_ctl_table_print(const struct hk_ctl_table *t, int indent);
void hk_ctl_table_free(struct hk_ctl_table *t);
char *hk_ctl_table_printable(const unsigned char *s, size_t len,
    int keep_lines, char *out, size_t outlen);
const char *hk_ctl_table_line(const char *s, char *buf, size_t len);
const char *hk_ctl_table_when(const char *iso, char *buf, size_t len);

#endif
