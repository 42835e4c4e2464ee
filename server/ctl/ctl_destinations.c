/*
 * ctl_destinations.c - hookctl destinations, disable and enable: look at
 * and steer the configured destinations (common/control.h holds the
 * statements, shared with the admin port).
 *
 * The breaker column comes from Redis (the master the sentinels name, when
 * redis.sentinels is set): <prefix>breaker:<name> exists while a delivery
 * worker's breaker for that destination is open.  When Redis
 * cannot be read the column says "?" (null in --json) and the rest is
 * printed all the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "control.h"
#include "core.h"
#include "ctl.h"
#include "redisurl.h"

/* hk_ctl_dest_names - the configured destinations' names. */
static const char **
hk_ctl_dest_names(const struct hk_conf *conf)
{
	const char **v = calloc((size_t)conf->ndests + 1, sizeof(*v));

	for (int i = 0; v != NULL && i < conf->ndests; i++)
		v[i] = conf->dests[i].name;
	return v;
}

/*
 * hk_ctl_dest_master - with redis.sentinels, the master's address as the
 * first sentinel that knows it says (after AUTH with
 * redis.sentinel_password when it is set, as hookd asks them).  HK_OK with
 * u's host and port set.
 */
static int
hk_ctl_dest_master(const struct hk_conf *conf, struct hk_redisurl *u)
{
	struct timeval tv = { 1, 0 };
	char host[256];
	redisContext *sc;
	redisReply *r;
	int ok = 0, port;

	for (int i = 0; i < conf->redis.nsentinels && !ok; i++) {
		/* The parser hookd uses: "[v6]:port" loses its brackets. */
		if (hk_redisurl_addr(conf->redis.sentinels[i], host,
		    sizeof(host), &port) != HK_OK)
			continue;
		if ((sc = redisConnectWithTimeout(host, port, tv))
		    == NULL || sc->err || redisSetTimeout(sc, tv) != REDIS_OK) {
			if (sc != NULL)
				redisFree(sc);
			continue;
		}
		if (conf->redis.sentinel_password[0] != '\0') {
			r = redisCommand(sc, "AUTH %s",
			    conf->redis.sentinel_password);
			if (r != NULL && r->type == REDIS_REPLY_ERROR)
				fprintf(stderr, "hookctl: sentinel %s:%d "
				    "answered AUTH with redis.sentinel_password:"
				    " %s\n", host, port, r->str);
			freeReplyObject(r);
		}
		r = redisCommand(sc, "SENTINEL get-master-addr-by-name %s",
		    conf->redis.master_name);
		if (r != NULL && r->type == REDIS_REPLY_ARRAY
		    && r->elements == 2
		    && r->element[0]->type == REDIS_REPLY_STRING
		    && r->element[1]->type == REDIS_REPLY_STRING) {
			snprintf(u->host, sizeof(u->host), "%s",
			    r->element[0]->str);
			u->port = atoi(r->element[1]->str);
			u->path[0] = '\0';
			ok = 1;
		}
		freeReplyObject(r);
		redisFree(sc);
	}
	return ok ? HK_OK : HK_ERROR;
}

/* hk_ctl_dest_redis - a connection to the configured Redis, or NULL. */
static redisContext *
hk_ctl_dest_redis(const struct hk_conf *conf)
{
	struct timeval tv = { 2, 0 };
	struct hk_redisurl u;
	redisContext *rc;
	redisReply *r = NULL;

	if (hk_redisurl_parse(conf->redis.url, &u) != HK_OK)
		return NULL;
	if (conf->redis.nsentinels > 0 && hk_ctl_dest_master(conf, &u)
	    != HK_OK)
		return NULL;
	rc = u.path[0] ? redisConnectUnixWithTimeout(u.path, tv)
	    : redisConnectWithTimeout(u.host, u.port, tv);
	if (rc == NULL || rc->err || redisSetTimeout(rc, tv) != REDIS_OK)
		goto fail;
	if (u.pass[0] && (r = u.user[0] ? redisCommand(rc, "AUTH %s %s",
	    u.user, u.pass) : redisCommand(rc, "AUTH %s", u.pass)) == NULL)
		goto fail;
	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		goto fail;
	freeReplyObject(r);
	r = NULL;
	if (u.db != 0 && ((r = redisCommand(rc, "SELECT %d", u.db)) == NULL
	    || r->type == REDIS_REPLY_ERROR))
		goto fail;
	freeReplyObject(r);
	return rc;
fail:
	freeReplyObject(r);
	if (rc != NULL)
		redisFree(rc);
	return NULL;
}

/*
 * hk_ctl_dest_breakers - one MGET of every destination's breaker key:
 * breaker[i] NULL (closed) or the value (open); "" everywhere when Redis
 * cannot be read.  The reply is kept in *keep for the strings.
 */
static void
hk_ctl_dest_breakers(const struct hk_conf *conf, const char **breaker,
    redisReply **keep)
{
	const char **argv = calloc((size_t)conf->ndests + 1, sizeof(*argv));
	char **keys = calloc((size_t)conf->ndests, sizeof(*keys));
	redisContext *rc = NULL;
	redisReply *r = NULL;
	int ok = 0;

	if (argv == NULL || keys == NULL)
		goto out;
	argv[0] = "MGET";
	for (int i = 0; i < conf->ndests; i++) {
		size_t n = strlen(conf->redis.prefix) + strlen("breaker:")
		    + strlen(conf->dests[i].name) + 1;

		if ((keys[i] = malloc(n)) == NULL)
			goto out;
		snprintf(keys[i], n, "%sbreaker:%s", conf->redis.prefix,
		    conf->dests[i].name);
		argv[i + 1] = keys[i];
	}
	if ((rc = hk_ctl_dest_redis(conf)) == NULL || (r = redisCommandArgv(rc,
	    conf->ndests + 1, argv, NULL)) == NULL
	    || r->type != REDIS_REPLY_ARRAY
	    || r->elements != (size_t)conf->ndests)
		goto out;
	for (int i = 0; i < conf->ndests; i++)
		breaker[i] = r->element[i]->type == REDIS_REPLY_STRING
		    ? r->element[i]->str : NULL;
	ok = 1;
	*keep = r;
	r = NULL;
out:
	if (!ok) {
		fprintf(stderr, "hookctl: cannot read the breakers from Redis "
		    "(%s); shown as \"?\"\n", rc && rc->err ? rc->errstr
		    : r && r->type == REDIS_REPLY_ERROR ? r->str : "no answer");
		for (int i = 0; i < conf->ndests; i++)
			breaker[i] = "";
	}
	freeReplyObject(r);
	if (rc != NULL)
		redisFree(rc);
	for (int i = 0; keys != NULL && i < conf->ndests; i++)
		free(keys[i]);
	free(keys);
	free(argv);
}

/* hk_ctl_dest_str - a JSON member as text, or NULL. */
static const char *
hk_ctl_dest_str(json_t *o, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return NULL;
}

/* hk_ctl_dest_print - the listing for people, from the JSON document. */
static int
hk_ctl_dest_print(json_t *doc)
{
	static const char *const head[] = { "DESTINATION", "STATE",
	    "BREAKER", "IN FLIGHT", "DUE", "DEAD", "LAST SUCCESS (UTC)",
	    "LAST ERROR (UTC)", "DETAIL" };
	struct hk_ctl_table t = { head, 9, 1u << 3 | 1u << 4 | 1u << 5,
	    NULL, 0, 0 };
	char n[3][24], when[2][32], state[32], detail[HK_CTL_TABLE_CELL_MAX
	    * 4 + 96], line[HK_CTL_TABLE_CELL_MAX * 4 + 8], dat[32];
	const char *by, *why, *err, *br;
	size_t i;
	json_t *o;
	int rc = HK_OK;

	json_array_foreach(doc, i, o) {
		int dis = strcmp(json_string_value(json_object_get(o, "state")),
		    "disabled") == 0;

		by = hk_ctl_dest_str(o, "disabled_by", n[0], sizeof(n[0]));
		snprintf(state, sizeof(state), "%s", !dis ? "enabled"
		    : by && strcmp(by, "gone") == 0 ? "disabled (410)"
		    : "disabled (operator)");
		why = hk_ctl_dest_str(o, "reason", line, sizeof(line));
		err = hk_ctl_dest_str(o, "last_error", line, sizeof(line));
		if (dis)
			snprintf(detail, sizeof(detail), "since %s%s%s",
			    hk_ctl_table_when(hk_ctl_dest_str(o, "disabled_at",
			    dat, sizeof(dat)), when[0], sizeof(when[0])),
			    why ? ": " : "", why ? hk_ctl_table_line(why, line,
			    sizeof(line)) : "");
		else
			snprintf(detail, sizeof(detail), "%s",
			    err ? hk_ctl_table_line(err, line, sizeof(line))
			    : "-");
		br = json_is_null(json_object_get(o, "breaker")) ? "?"
		    : json_string_value(json_object_get(o, "breaker"));
		if (rc == HK_OK)
			rc = hk_ctl_table_row(&t, (const char *const[]){
			    json_string_value(json_object_get(o, "name")),
			    state, br,
			    hk_ctl_dest_str(o, "in_flight", n[0], sizeof(n[0])),
			    hk_ctl_dest_str(o, "due", n[1], sizeof(n[1])),
			    hk_ctl_dest_str(o, "dead", n[2], sizeof(n[2])),
			    hk_ctl_table_when(hk_ctl_dest_str(o,
			    "last_success_at", dat, sizeof(dat)), when[0],
			    sizeof(when[0])),
			    hk_ctl_table_when(hk_ctl_dest_str(o, "last_error_at",
			    dat, sizeof(dat)), when[1], sizeof(when[1])),
			    detail });
	}
	json_decref(doc);
	return hk_ctl_pg_listed(&t, json_array(), 0, rc == HK_OK,
	    "no destinations configured");
}

/* hk_ctl_destinations - every configured destination and its state. */
int
hk_ctl_destinations(struct hk_ctl *ctl, int argc, char **argv)
{
	const char **names, **breaker;
	const char *params[1];
	redisReply *keep = NULL;
	char *arr = NULL;
	PGconn *conn;
	PGresult *res = NULL;
	json_t *doc = NULL;
	int json = 0, rc = HK_CTL_FAIL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0)
			return HK_CTL_USAGE;
		json = 1;
	}
	if ((conn = hk_ctl_pg_connect(ctl)) == NULL)
		return HK_CTL_FAIL;
	names = hk_ctl_dest_names(ctl->conf);
	breaker = calloc((size_t)ctl->conf->ndests + 1, sizeof(*breaker));
	if (names == NULL || breaker == NULL || (arr = hk_control_names(names,
	    ctl->conf->ndests)) == NULL) {
		fprintf(stderr, "hookctl: out of memory\n");
		goto out;
	}
	params[0] = arr;
	if ((res = hk_ctl_pg_query(conn, hk_control_destinations_sql, 1,
	    params)) == NULL)
		goto out;
	if (ctl->conf->ndests > 0)
		hk_ctl_dest_breakers(ctl->conf, breaker, &keep);
	if ((doc = hk_control_destinations_json(res, breaker)) == NULL) {
		fprintf(stderr, "hookctl: out of memory\n");
		goto out;
	}
	rc = json ? hk_ctl_pg_json_print(doc) : hk_ctl_dest_print(doc);
out:
	freeReplyObject(keep);
	PQclear(res);
	free(arr);
	free(breaker);
	free(names);
	PQfinish(conn);
	return rc;
}

/* hk_ctl_dest_known - is name configured?  Says so when it is not. */
static int
hk_ctl_dest_known(struct hk_ctl *ctl, const char *name)
{
	if (hk_conf_dest(ctl->conf, name) != NULL)
		return 1;
	fprintf(stderr, "hookctl: no destination \"%s\" in %s\n", name,
	    ctl->conf->file ? ctl->conf->file : "the configuration");
	return 0;
}

/* hk_ctl_dest_set - disable (with reason) or enable one destination. */
static int
hk_ctl_dest_set(struct hk_ctl *ctl, const char *name, int disable,
    const char *reason)
{
	const char *params[3] = { name, reason, "operator" };
	PGconn *conn;
	PGresult *res;
	int was;

	if ((conn = hk_ctl_pg_connect(ctl)) == NULL)
		return HK_CTL_FAIL;
	if (!hk_ctl_dest_known(ctl, name)) {
		PQfinish(conn);
		return HK_CTL_FAIL;
	}
	res = hk_ctl_pg_query(conn, disable ? hk_control_disable_sql
	    : hk_control_enable_sql, disable ? 3 : 1, params);
	if (res == NULL || PQntuples(res) != 1) {
		PQclear(res);
		PQfinish(conn);
		return HK_CTL_FAIL;
	}
	was = PQgetvalue(res, 0, 0)[0] == 't';
	if (disable)
		printf("%s: disabled%s; its deliveries are held until "
		    "\"hookctl enable %s\"\n", name, was ? " (it already was)"
		    : "", name);
	else if (was)
		printf("%s: enabled (it was disabled %s); its held deliveries "
		    "go out now\n", name, strcmp(PQgetvalue(res, 0, 1),
		    "gone") == 0 ? "after a 410" : "by an operator");
	else
		printf("%s: enabled (it already was)\n", name);
	PQclear(res);
	PQfinish(conn);
	return HK_CTL_OK;
}

/* hk_ctl_disable - hookctl disable D [--reason TEXT]. */
int
hk_ctl_disable(struct hk_ctl *ctl, int argc, char **argv)
{
	const char *name = NULL, *reason = NULL;
	int m;

	for (int i = 1; i < argc; i++) {
		if ((m = hk_ctl_pg_opt(argc, argv, &i, "--reason", &reason))
		    < 0)
			return HK_CTL_USAGE;
		if (m == 0 && (argv[i][0] == '-' || name != NULL))
			return HK_CTL_USAGE;
		if (m == 0)
			name = argv[i];
	}
	if (name == NULL)
		return HK_CTL_USAGE;
	if (!hk_control_reason_ok(reason)) {
		fprintf(stderr, "hookctl: --reason is longer than %d bytes\n",
		    HK_CONTROL_REASON_MAX);
		return HK_CTL_USAGE;
	}
	return hk_ctl_dest_set(ctl, name, 1, reason);
}

/* hk_ctl_enable - hookctl enable D, however it was disabled. */
int
hk_ctl_enable(struct hk_ctl *ctl, int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-')
		return HK_CTL_USAGE;
	return hk_ctl_dest_set(ctl, argv[1], 0, NULL);
}
