/*
 * adminctl.c - the destination controls on the admin port (see
 * adminctl.h).
 *
 * Requests wait in a queue; the one at its head has its statements out on
 * the connection, each step ending with a Sync, and the next starts when
 * it is answered.  A replay sends one batch per step and decides at each
 * Sync whether another is needed.  While PostgreSQL is down a request is
 * refused at once with 503 and Retry-After, and a connection lost mid-way
 * fails the queue with 503: whether the last step committed is unknown,
 * and the answer says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "adminctl.h"
#include "control.h"
#include "core.h"
#include "log.h"
#include "pgconn.h"

#define HK_ADMINCTL_QUEUE    32		/* requests waiting, at most */
#define HK_ADMINCTL_QUERY_MS 30000	/* one step's Sync, at most */

enum { HK_ADMINCTL_LIST, HK_ADMINCTL_DISABLE, HK_ADMINCTL_ENABLE,
    HK_ADMINCTL_REPLAY };

struct hk_adminctl_job {
	TAILQ_ENTRY(hk_adminctl_job) link;
	struct hk_httpconn *c;
	int       kind;
	char      name[128];		/* the destination, for the two POSTs */
	json_t   *body;			/* the request's JSON, kept for its strings */
	PGresult *res;			/* the step's result */
	int       out;			/* a step was sent */
	int       failed;		/* the step's statement failed */
	const char *reason;		/* disable's, in body */
	char      err[512];
	char      state[8];		/* its SQLSTATE */
	struct hk_control_replay r;
	struct hk_control_replay_args ra;
	long long replayed;
	char     *names;		/* configured destinations, array literal */
};

static struct {
	struct hk_admin  *admin;
	struct hk_pgconn  pg;
	int               ready;	/* pg initialized */
	int               n;
	TAILQ_HEAD(, hk_adminctl_job) queue;
	struct hk_adminctl_job *redis_wait;	/* its MGET is out */
} hk_adminctl;

static void hk_adminctl_start(void);

int
hk_adminctl_path(const char *path)
{
	return strcmp(path, "/destinations") == 0
	    || strncmp(path, "/destinations/", 14) == 0
	    || strcmp(path, "/replay") == 0;
}

/* hk_adminctl_json - answer with doc (taken), never cached. */
static void
hk_adminctl_json(struct hk_httpconn *c, int status, json_t *doc)
{
	char *s = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)
	    : NULL;
	size_t len;

	json_decref(doc);
	if (s == NULL) {
		hk_httpconn_error(c, 500, "internal", "out of memory", NULL);
		return;
	}
	len = strlen(s);
	s[len] = '\n';		/* json_dumps left room: its NUL */
	hk_httpconn_respond(c, status, "Cache-Control: no-store\r\n", s,
	    len + 1);
	free(s);
}

static void
hk_adminctl_job_free(struct hk_adminctl_job *j)
{
	if (hk_adminctl.redis_wait == j)
		hk_adminctl.redis_wait = NULL;
	PQclear(j->res);
	json_decref(j->body);
	free(j->names);
	free(j);
}

/* hk_adminctl_finish - the head job is answered: the next one starts. */
static void
hk_adminctl_finish(struct hk_adminctl_job *j)
{
	TAILQ_REMOVE(&hk_adminctl.queue, j, link);
	hk_adminctl.n--;
	hk_adminctl_job_free(j);
	hk_adminctl_start();
}

/* hk_adminctl_failed - answer a failed step in the JSON error form. */
static void
hk_adminctl_failed(struct hk_adminctl_job *j)
{
	char msg[768];

	/* Class 22 is bad data: a time PostgreSQL cannot read. */
	if (strncmp(j->state, "22", 2) == 0) {
		hk_httpconn_error(j->c, 400, "bad_request", j->err, NULL);
		return;
	}
	if (j->kind == HK_ADMINCTL_REPLAY && j->replayed > 0)
		snprintf(msg, sizeof(msg), "the database refused the statement "
		    "after %lld deliveries were replayed: %s", j->replayed,
		    j->err);
	else
		snprintf(msg, sizeof(msg), "the database refused the "
		    "statement: %s", j->err);
	hk_httpconn_error(j->c, 500, "internal", msg, NULL);
}

/* hk_adminctl_list_answer - the listing, with breaker values or not. */
static void
hk_adminctl_list_answer(struct hk_adminctl_job *j, const redisReply *r)
{
	const struct hk_conf *conf = hk_adminctl.admin->conf;
	const char **br = calloc((size_t)conf->ndests + 1, sizeof(*br));
	json_t *list;
	int ok = r != NULL && r->type == REDIS_REPLY_ARRAY
	    && r->elements == (size_t)conf->ndests;

	for (int i = 0; br != NULL && i < conf->ndests; i++)
		br[i] = !ok ? "" : r->element[i]->type == REDIS_REPLY_STRING
		    ? r->element[i]->str : NULL;
	list = br != NULL ? hk_control_destinations_json(j->res, br) : NULL;
	free(br);
	hk_adminctl_json(j->c, 200, list ? json_pack("{s:o}", "destinations",
	    list) : NULL);
	hk_adminctl_finish(j);
}

static void
hk_adminctl_mget_cb(redisAsyncContext *ac, void *reply, void *arg)
{
	struct hk_adminctl_job *j = arg;

	(void)ac;
	/* The job is gone (shutdown): nothing to answer. */
	if (hk_adminctl.redis_wait != j || j == NULL)
		return;
	hk_adminctl.redis_wait = NULL;
	hk_adminctl_list_answer(j, reply);
}

/* hk_adminctl_breakers - one MGET of every breaker key, then answer. */
static void
hk_adminctl_breakers(struct hk_adminctl_job *j)
{
	const struct hk_conf *conf = hk_adminctl.admin->conf;
	redisAsyncContext *ac = hk_adminctl.admin->sampler->ac;
	const char **argv = calloc((size_t)conf->ndests + 1, sizeof(*argv));
	char **keys = calloc((size_t)conf->ndests + 1, sizeof(*keys));
	int ok = argv != NULL && keys != NULL && ac != NULL
	    && conf->ndests > 0 && hk_adminctl.admin->sampler->up == 1;

	for (int i = 0; ok && i < conf->ndests; i++) {
		size_t n = strlen(conf->redis.prefix) + 9
		    + strlen(conf->dests[i].name) + 1;

		if ((keys[i] = malloc(n)) == NULL)
			ok = 0;
		else
			snprintf(keys[i], n, "%sbreaker:%s",
			    conf->redis.prefix, conf->dests[i].name);
		argv[i + 1] = keys[i];
	}
	if (ok) {
		argv[0] = "MGET";
		hk_adminctl.redis_wait = j;
		if (redisAsyncCommandArgv(ac, hk_adminctl_mget_cb, j,
		    conf->ndests + 1, argv, NULL) != REDIS_OK) {
			hk_adminctl.redis_wait = NULL;
			ok = 0;
		}
	}
	for (int i = 0; keys != NULL && i < conf->ndests; i++)
		free(keys[i]);
	free(keys);
	free(argv);
	if (!ok)
		hk_adminctl_list_answer(j, NULL);
}

/* hk_adminctl_set_answer - after disable or enable. */
static void
hk_adminctl_set_answer(struct hk_adminctl_job *j)
{
	int was = PQntuples(j->res) == 1 && PQgetvalue(j->res, 0, 0)[0] == 't';
	int dis = j->kind == HK_ADMINCTL_DISABLE;
	json_t *doc = json_pack("{s:s,s:s,s:b}", "destination", j->name,
	    "state", dis ? "disabled" : "enabled", "was_disabled", was);

	if (doc != NULL && dis)
		json_object_set_new(doc, "reason", j->reason != NULL
		    ? json_string(j->reason) : json_null());
	if (doc != NULL && !dis && was && !PQgetisnull(j->res, 0, 1))
		json_object_set_new(doc, "disabled_by",
		    json_string(PQgetvalue(j->res, 0, 1)));
	hk_adminctl_json(j->c, 200, doc);
	hk_adminctl_finish(j);
}

/* hk_adminctl_replay_answer - the replay is walked (or counted). */
static void
hk_adminctl_replay_answer(struct hk_adminctl_job *j)
{
	json_t *doc, *per = json_object();
	long long total = 0, n;

	if (j->r.dry_run) {
		for (int r = 0; r < PQntuples(j->res); r++) {
			n = strtoll(PQgetvalue(j->res, r, 1), NULL, 10);
			json_object_set_new(per, PQgetvalue(j->res, r, 0),
			    json_integer(n));
			total += n;
		}
		doc = json_pack("{s:b,s:I,s:o}", "dry_run", 1, "matched",
		    (json_int_t)total, "destinations", per);
	} else {
		json_decref(per);
		doc = json_pack("{s:b,s:I}", "dry_run", 0, "replayed",
		    (json_int_t)j->replayed);
	}
	hk_adminctl_json(j->c, 200, doc);
	hk_adminctl_finish(j);
}

/* hk_adminctl_send - the head job's next step: its statement and a Sync. */
static int
hk_adminctl_send(struct hk_adminctl_job *j)
{
	const char *v[3] = { j->name, NULL, "operator" };
	struct hk_pgconn *pg = &hk_adminctl.pg;
	int rc;

	PQclear(j->res);
	j->res = NULL;
	j->failed = 0;
	switch (j->kind) {
	case HK_ADMINCTL_LIST:
		v[0] = j->names;
		rc = hk_pgconn_send_params(pg, hk_control_destinations_sql, 1,
		    NULL, v, NULL, NULL);
		break;
	case HK_ADMINCTL_DISABLE:
		v[1] = j->reason;
		rc = hk_pgconn_send_params(pg, hk_control_disable_sql, 3, NULL,
		    v, NULL, NULL);
		break;
	case HK_ADMINCTL_ENABLE:
		rc = hk_pgconn_send_params(pg, hk_control_enable_sql, 1, NULL,
		    v, NULL, NULL);
		break;
	default:
		rc = j->r.dry_run ? hk_pgconn_send_params(pg,
		    hk_control_replay_count_sql, HK_CONTROL_REPLAY_NPARAMS - 3,
		    NULL, j->ra.v, NULL, NULL) : hk_pgconn_send_params(pg,
		    hk_control_replay_batch_sql, HK_CONTROL_REPLAY_NPARAMS,
		    NULL, j->ra.v, NULL, NULL);
		break;
	}
	if (rc != HK_OK || hk_pgconn_sync(pg) != HK_OK)
		return HK_ERROR;
	j->out = 1;
	return HK_OK;
}

/* hk_adminctl_start - send the head job's first step, unless one is out. */
static void
hk_adminctl_start(void)
{
	struct hk_adminctl_job *j;

	while ((j = TAILQ_FIRST(&hk_adminctl.queue)) != NULL && !j->out) {
		/* The first connection is being made: on_up starts it. */
		if (hk_pgconn_starting(&hk_adminctl.pg))
			return;
		if (hk_pgconn_up(&hk_adminctl.pg) && hk_adminctl_send(j)
		    == HK_OK)
			return;
		/* on_down answered the queue if the send took it down. */
		if (TAILQ_FIRST(&hk_adminctl.queue) != j)
			continue;
		hk_httpconn_error(j->c, 503, "unavailable", "PostgreSQL is "
		    "not reachable from the stats process",
		    "Retry-After: 5\r\n");
		hk_adminctl_finish(j);
		return;
	}
}

static void
hk_adminctl_on_result(void *arg, PGresult *res)
{
	struct hk_adminctl_job *j = TAILQ_FIRST(&hk_adminctl.queue);
	ExecStatusType st = PQresultStatus(res);
	const char *state;

	(void)arg;
	if (j == NULL) {
		PQclear(res);
		return;
	}
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
		PQclear(j->res);
		j->res = res;
		return;
	}
	j->failed = 1;
	hk_pgconn_why(j->err, sizeof(j->err), PQresultErrorMessage(res));
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	snprintf(j->state, sizeof(j->state), "%s", state ? state : "");
	PQclear(res);
}

static void
hk_adminctl_on_sync(void *arg)
{
	struct hk_adminctl_job *j = TAILQ_FIRST(&hk_adminctl.queue);

	(void)arg;
	if (j == NULL)
		return;
	if (j->failed == 1 || j->res == NULL) {
		if (j->res == NULL && j->failed != 1)
			snprintf(j->err, sizeof(j->err), "no result");
		hk_adminctl_failed(j);
		hk_adminctl_finish(j);
		return;
	}
	switch (j->kind) {
	case HK_ADMINCTL_LIST:
		hk_adminctl_breakers(j);
		return;
	case HK_ADMINCTL_DISABLE:
	case HK_ADMINCTL_ENABLE:
		hk_adminctl_set_answer(j);
		return;
	}
	if (!j->r.dry_run && hk_control_replay_next(&j->ra, j->res,
	    &j->replayed)) {
		if (hk_adminctl_send(j) != HK_OK && TAILQ_FIRST(&hk_adminctl
		    .queue) == j) {
			snprintf(j->err, sizeof(j->err), "the connection "
			    "failed");
			hk_adminctl_failed(j);
			hk_adminctl_finish(j);
		}
		return;
	}
	hk_adminctl_replay_answer(j);
}

/* hk_adminctl_on_down - answer every request: nothing more will come. */
static void
hk_adminctl_on_down(void *arg)
{
	struct hk_adminctl_job *j;

	(void)arg;
	while ((j = TAILQ_FIRST(&hk_adminctl.queue)) != NULL) {
		/* Only a request whose step was out may have changed rows. */
		hk_httpconn_error(j->c, 503, "unavailable", j->out
		    ? "the connection to PostgreSQL was lost; whether the "
		    "change was made is unknown (look with GET /destinations)"
		    : "PostgreSQL is not reachable from the stats process",
		    "Retry-After: 5\r\n");
		TAILQ_REMOVE(&hk_adminctl.queue, j, link);
		hk_adminctl.n--;
		hk_adminctl_job_free(j);
	}
}

static void
hk_adminctl_on_up(void *arg)
{
	(void)arg;
	hk_adminctl_start();
}

static const struct hk_pgconn_ops hk_adminctl_ops = {
	.name = "admin",
	.appname = "hookd admin",
	.down_note = "the admin port's destination controls answer 503 until "
	    "it is back",
	.query_ms = HK_ADMINCTL_QUERY_MS,
	.on_up = hk_adminctl_on_up,
	.on_result = hk_adminctl_on_result,
	.on_sync = hk_adminctl_on_sync,
	.on_down = hk_adminctl_on_down,
};

/* hk_adminctl_body - the request's JSON object; NULL for an empty body. */
static int
hk_adminctl_body(struct hk_httpconn *c, json_t **out)
{
	json_error_t e;

	*out = NULL;
	if (c->body_len == 0)
		return HK_OK;
	*out = json_loadb(c->body, c->body_len, 0, &e);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return HK_ERROR;
	}
	return HK_OK;
}

/* hk_adminctl_str - member key of o: a string, or absent/null. */
static int
hk_adminctl_str(json_t *o, const char *key, const char **val)
{
	json_t *v = o ? json_object_get(o, key) : NULL;

	*val = NULL;
	if (v == NULL || json_is_null(v))
		return HK_OK;
	if (!json_is_string(v) || strlen(json_string_value(v))
	    != json_string_length(v))
		return HK_ERROR;
	*val = json_string_value(v);
	return HK_OK;
}

/* hk_adminctl_replay_args - the replay's selectors from its body. */
static int
hk_adminctl_replay_args(struct hk_adminctl_job *j, char *err, size_t len)
{
	static const char *const keys[] = { "since", "until", "destination",
	    "status", "source", "type" };
	const char **vals[] = { &j->r.since, &j->r.until, &j->r.destination,
	    &j->r.status, &j->r.source, &j->r.type };
	json_t *dry = json_object_get(j->body, "dry_run");
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(j->body, k, v) {
		for (i = 0; i < HK_NELEM(keys); i++)
			if (strcmp(k, keys[i]) == 0)
				break;
		if (i == HK_NELEM(keys) && strcmp(k, "dry_run") != 0) {
			snprintf(err, len, "unknown member \"%.64s\"; replay "
			    "takes since, until, destination, status, source, "
			    "type and dry_run", k);
			return HK_ERROR;
		}
	}
	for (i = 0; i < HK_NELEM(keys); i++)
		if (hk_adminctl_str(j->body, keys[i], vals[i]) != HK_OK) {
			snprintf(err, len, "%s must be a string", keys[i]);
			return HK_ERROR;
		}
	if (dry != NULL && !json_is_boolean(dry)) {
		snprintf(err, len, "dry_run must be true or false");
		return HK_ERROR;
	}
	j->r.dry_run = dry != NULL && json_is_true(dry);
	if (j->r.destination != NULL && hk_conf_dest(hk_adminctl.admin->conf,
	    j->r.destination) == NULL) {
		snprintf(err, len, "no destination \"%.128s\" is configured",
		    j->r.destination);
		return HK_ERROR;
	}
	j->r.lease_us = hk_conf_claim_lease_us(hk_adminctl.admin->conf);
	return hk_control_replay_params(&j->r, j->names, &j->ra, err, len);
}

/*
 * hk_adminctl_parse - what the request asks for, into j; 0 or the HTTP
 * status of an error answered here.
 */
static int
hk_adminctl_parse(struct hk_adminctl_job *j, const char *path, int method)
{
	const struct hk_conf *conf = hk_adminctl.admin->conf;
	const char *name, *slash, *action;
	char err[512];
	size_t n;

	if (strcmp(path, "/destinations") == 0 || strcmp(path, "/replay") == 0) {
		int list = path[1] == 'd';

		if (list ? method != HK_HTTP_GET && method != HK_HTTP_HEAD
		    : method != HK_HTTP_POST) {
			hk_httpconn_error(j->c, 405, "method_not_allowed", "this "
			    "path does not take that method", list
			    ? "Allow: GET, HEAD\r\n" : "Allow: POST\r\n");
			return 405;
		}
		j->kind = list ? HK_ADMINCTL_LIST : HK_ADMINCTL_REPLAY;
		if (list)
			return 0;
		if (hk_adminctl_body(j->c, &j->body) != HK_OK
		    || j->body == NULL) {
			hk_httpconn_error(j->c, 400, "invalid_json", "the body "
			    "must be a JSON object with the replay's selectors "
			    "(since is required)", NULL);
			return 400;
		}
		if (hk_adminctl_replay_args(j, err, sizeof(err)) != HK_OK) {
			hk_httpconn_error(j->c, 400, "bad_request", err, NULL);
			return 400;
		}
		return 0;
	}
	name = path + 14;
	slash = strchr(name, '/');
	action = slash ? slash + 1 : "";
	n = slash ? (size_t)(slash - name) : strlen(name);
	if (n == 0 || n >= sizeof(j->name) || (strcmp(action, "disable") != 0
	    && strcmp(action, "enable") != 0)) {
		hk_httpconn_error(j->c, 404, "not_found", "no such path; try "
		    "POST /destinations/NAME/disable or .../enable", NULL);
		return 404;
	}
	if (method != HK_HTTP_POST) {
		hk_httpconn_error(j->c, 405, "method_not_allowed", "this path "
		    "does not take that method", "Allow: POST\r\n");
		return 405;
	}
	memcpy(j->name, name, n);
	j->name[n] = '\0';
	if (hk_conf_dest(conf, j->name) == NULL) {
		snprintf(err, sizeof(err), "no destination \"%s\" is "
		    "configured", j->name);
		hk_httpconn_error(j->c, 404, "unknown_destination", err, NULL);
		return 404;
	}
	j->kind = action[0] == 'd' ? HK_ADMINCTL_DISABLE : HK_ADMINCTL_ENABLE;
	if (hk_adminctl_body(j->c, &j->body) != HK_OK
	    || hk_adminctl_str(j->body, "reason", &j->reason) != HK_OK
	    || !hk_control_reason_ok(j->reason)) {
		hk_httpconn_error(j->c, 400, "bad_request", "the body, when "
		    "there is one, must be {\"reason\": \"a string of at most "
		    "500 bytes\"}", NULL);
		return 400;
	}
	return 0;
}

/* hk_adminctl_init - the connection, made at the first request. */
static int
hk_adminctl_init(struct hk_admin *a)
{
	if (hk_adminctl.ready)
		return HK_OK;
	hk_adminctl.admin = a;
	TAILQ_INIT(&hk_adminctl.queue);
	if (hk_pgconn_init(&hk_adminctl.pg, a->srv.base, a->conf->postgres.url,
	    &hk_adminctl_ops, NULL) != HK_OK)
		return HK_ERROR;
	hk_adminctl.ready = 1;
	hk_pgconn_start(&hk_adminctl.pg);
	return HK_OK;
}

void
hk_adminctl_request(struct hk_admin *a, struct hk_httpconn *c,
    const char *path)
{
	const struct hk_conf *conf = a->conf;
	struct hk_adminctl_job *j;
	const char **names;

	if (hk_adminctl_init(a) != HK_OK
	    || (j = calloc(1, sizeof(*j))) == NULL) {
		hk_httpconn_error(c, 503, "unavailable", "out of memory",
		    "Retry-After: 1\r\n");
		return;
	}
	j->c = c;
	if ((names = calloc((size_t)conf->ndests + 1, sizeof(*names))) != NULL) {
		for (int i = 0; i < conf->ndests; i++)
			names[i] = conf->dests[i].name;
		j->names = hk_control_names(names, conf->ndests);
		free(names);
	}
	if (j->names == NULL) {
		hk_httpconn_error(c, 503, "unavailable", "out of memory",
		    "Retry-After: 1\r\n");
		hk_adminctl_job_free(j);
		return;
	}
	if (hk_adminctl_parse(j, path, c->req.method) != 0) {
		hk_adminctl_job_free(j);
		return;
	}
	if (hk_adminctl.n >= HK_ADMINCTL_QUEUE || (!hk_pgconn_up(
	    &hk_adminctl.pg) && !hk_pgconn_starting(&hk_adminctl.pg))) {
		hk_httpconn_error(c, 503, "unavailable", hk_adminctl.n > 0
		    ? "too many control requests are waiting"
		    : "PostgreSQL is not reachable from the stats process",
		    "Retry-After: 1\r\n");
		hk_adminctl_job_free(j);
		return;
	}
	if (j->kind != HK_ADMINCTL_LIST)
		hk_log_info("admin: %s%s%s", j->kind == HK_ADMINCTL_REPLAY
		    ? "replay" : j->kind == HK_ADMINCTL_DISABLE ? "disable "
		    : "enable ", j->name, j->kind == HK_ADMINCTL_REPLAY
		    && j->r.dry_run ? " (dry run)" : "");
	TAILQ_INSERT_TAIL(&hk_adminctl.queue, j, link);
	hk_adminctl.n++;
	hk_adminctl_start();
}

void
hk_adminctl_free(void)
{
	struct hk_adminctl_job *j;

	if (!hk_adminctl.ready)
		return;
	while ((j = TAILQ_FIRST(&hk_adminctl.queue)) != NULL) {
		TAILQ_REMOVE(&hk_adminctl.queue, j, link);
		hk_adminctl_job_free(j);
	}
	hk_adminctl.n = 0;
	hk_pgconn_close(&hk_adminctl.pg);
	hk_adminctl.ready = 0;
}
