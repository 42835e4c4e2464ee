/*
 * test_config.c - the configuration loader: the reference file, the
 * defaults, and the exact "FILE:LINE: message" of each kind of error.
 *
 * Each test writes its configuration to a fresh file under /tmp, so the
 * line numbers asserted are the lines of the string literal (line 1 is the
 * first line of the literal).  Run from the repository root, where
 * etc/hookd.conf is found.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cidr.h"
#include "confcheck.h"
#include "config.h"
#include "core.h"
#include "log.h"
#include "unit.h"

#define REFERENCE "etc/hookd.conf"

static const char *hk_test_env[] = {
	"HOOKD_REDIS_URL", "HOOKD_DATABASE_URL", "HOOKD_LISTEN",
	"HOOKD_ADMIN_LISTEN", "HOOKD_ADMIN_TOKEN", "HOOKD_WORKERS",
};

/* conf_write - text into a new file under /tmp; its name into path. */
static int
conf_write(const char *text, char *path, size_t pathlen)
{
	size_t n = strlen(text);
	int fd;

	snprintf(path, pathlen, "/tmp/hookd-test-config-XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		return -1;
	if (write(fd, text, n) != (ssize_t)n) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

/* conf_text - load text as a file; NULL with the message in err. */
static struct hk_conf *
conf_text(const char *text, char *err, size_t errlen)
{
	struct hk_conf *conf;
	char path[64];

	if (conf_write(text, path, sizeof(path)) != 0) {
		snprintf(err, errlen, "cannot write a temporary file");
		return NULL;
	}
	conf = hk_conf_load(path, err, errlen);
	unlink(path);
	return conf;
}

/*
 * conf_fails - loading text fails with "<file>:<line>: " (or, with line 0,
 * the given prefix after the file name) and a message containing want.
 * Prints what it got when it does not.
 */
static int
conf_fails(const char *text, int line, const char *want)
{
	struct hk_conf *conf;
	char err[1024], prefix[128], path[64];
	const char *rest;
	int ok;

	if (conf_write(text, path, sizeof(path)) != 0)
		return 0;
	conf = hk_conf_load(path, err, sizeof(err));
	unlink(path);
	if (conf != NULL) {
		printf("  loaded, expected an error containing \"%s\"\n", want);
		hk_conf_free(conf);
		return 0;
	}
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	rest = err + strlen(prefix);
	ok = strncmp(err, prefix, strlen(prefix)) == 0
	    && strstr(rest, want) != NULL;
	if (!ok)
		printf("  got \"%s\"\n  want \"%s...%s\"\n", err, prefix, want);
	return ok;
}

/* line_of - the number of the first line of file holding text, or -1. */
static int
line_of(const char *file, const char *text)
{
	char buf[512];
	FILE *fp;
	int n = 0, found = -1;

	if ((fp = fopen(file, "r")) == NULL)
		return -1;
	while (found < 0 && fgets(buf, sizeof(buf), fp) != NULL) {
		n++;
		if (strstr(buf, text) != NULL)
			found = n;
	}
	fclose(fp);
	return found;
}

static void
test_reference(void)
{
	const struct hk_conf_source *src;
	const struct hk_conf_dest *d;
	struct hk_conf *conf;
	char err[1024];

	conf = hk_conf_load(REFERENCE, err, sizeof(err));
	if (conf == NULL)
		printf("  %s\n", err);
	HK_CHECK(conf != NULL);
	if (conf == NULL)
		return;
	HK_CHECK_STR(conf->file, REFERENCE);
	HK_CHECK_STR(conf->instance, "hookd");
	HK_CHECK_STR(conf->listen, "0.0.0.0:8080");
	HK_CHECK(conf->workers == 0 && conf->nworkers >= 1);
	HK_CHECK(conf->nsources == 5);
	HK_CHECK(conf->ndests == 1);

	src = hk_conf_source(conf, "githubXYZ", 6);	/* not terminated */
	HK_CHECK(src != NULL);
	if (src != NULL) {
		HK_CHECK(src->verify.scheme == HK_VERIFY_GITHUB);
		HK_CHECK(src->verify.nsecrets == 1);
		HK_CHECK(src->idem_kind == HK_IDEM_HEADER);
		HK_CHECK_STR(src->idem_arg, "X-GitHub-Delivery");
		/* The line of the "{" that opens it, just above its name. */
		HK_CHECK(src->line == line_of(REFERENCE,
		    "name = \"github\";") - 1);
	}
	HK_CHECK(hk_conf_source(conf, "git", 3) == NULL);
	HK_CHECK(hk_conf_source(conf, "githubs", 7) == NULL);

	src = hk_conf_source(conf, "stripe", 6);
	HK_CHECK(src != NULL && src->idem_kind == HK_IDEM_JSON);
	HK_CHECK(src != NULL && strcmp(src->idem_arg, "/id") == 0);
	src = hk_conf_source(conf, "standard", 8);
	HK_CHECK(src != NULL && src->idem_kind == HK_IDEM_HEADER);
	HK_CHECK(src != NULL && strcmp(src->idem_arg, "webhook-id") == 0);
	src = hk_conf_source(conf, "partner", 7);
	HK_CHECK(src != NULL && src->verify.scheme == HK_VERIFY_HMAC_SHA256);
	HK_CHECK(src != NULL && src->verify.nsecrets == 2);
	HK_CHECK(src != NULL && strcmp(src->verify.header, "X-Signature") == 0);
	HK_CHECK(src != NULL && strcmp(src->verify.prefix, "sha256=") == 0);
	HK_CHECK(src != NULL && src->idem_kind == HK_IDEM_BODY_HASH);
	src = hk_conf_source(conf, "test", 4);
	HK_CHECK(src != NULL && src->verify.scheme == HK_VERIFY_NONE);
	HK_CHECK(src != NULL && src->idem_kind == HK_IDEM_DEFAULT);
	HK_CHECK(src != NULL && src->ncontent_types == 2);

	d = hk_conf_dest(conf, "crm");
	HK_CHECK(d != NULL);
	if (d != NULL) {
		HK_CHECK_STR(d->url, "http://127.0.0.1:3001/hooks");
		HK_CHECK(d->nsources == 2);
		HK_CHECK_STR(d->sources[1], "stripe");
		HK_CHECK(d->nheaders == 1);
		HK_CHECK(d->concurrency == 16 && d->timeout_ms == 15000);
	}
	HK_CHECK(hk_conf_dest(conf, "nope") == NULL);
	hk_conf_free(conf);
}

static void
test_defaults(void)
{
	static const int sched[] = { 5, 300, 1800, 7200, 18000, 36000, 36000 };
	struct hk_conf *conf;
	char err[1024];

	conf = conf_text("", err, sizeof(err));
	if (conf == NULL)
		printf("  %s\n", err);
	HK_CHECK(conf != NULL);
	if (conf == NULL)
		return;
	HK_CHECK_STR(conf->instance, "hookd");
	HK_CHECK_STR(conf->listen, "0.0.0.0:8080");
	HK_CHECK(conf->workers == 0);
	HK_CHECK(conf->nworkers >= 1 && conf->nworkers <= 64);
	HK_CHECK(conf->nworkers == (int)HK_MIN(64,
	    sysconf(_SC_NPROCESSORS_ONLN)));
	HK_CHECK_STR(conf->pid_file, "/tmp/hookd.hookd.pid");
	HK_CHECK(conf->watchdog_ms == 10000 && conf->drain_timeout_ms == 10000);
	HK_CHECK(conf->log.level == HK_LOG_INFO);
	HK_CHECK(conf->log.format == HK_LOG_LOGFMT);
	HK_CHECK_STR(conf->log.file, "");
	HK_CHECK(conf->log.slow_warn_ms == 100);
	HK_CHECK(conf->log.slow_error_ms == 1000);
	HK_CHECK(conf->limits.max_body_bytes == 1048576);
	HK_CHECK(conf->limits.max_header_bytes == 16384);
	HK_CHECK(conf->limits.header_timeout_ms == 10000);
	HK_CHECK(conf->limits.body_timeout_ms == 30000);
	HK_CHECK(conf->limits.max_connections == 10000);
	HK_CHECK_STR(conf->redis.url, "redis://127.0.0.1:6379/0");
	HK_CHECK_STR(conf->redis.prefix, "hookd:");
	HK_CHECK(conf->redis.timeout_ms == 1000);
	HK_CHECK_STR(conf->postgres.url,
	    "postgresql://hookd@127.0.0.1:5432/hookd");
	HK_CHECK(conf->postgres.migrate == 1);
	HK_CHECK(conf->postgres.retention_days == 7);
	HK_CHECK_STR(conf->admin.listen, "127.0.0.1:9090");
	HK_CHECK_STR(conf->admin.token, "");
	HK_CHECK(conf->delivery.workers == 1);
	HK_CHECK(conf->delivery.concurrency == 256);
	HK_CHECK(conf->delivery.timeout_ms == 15000);
	HK_CHECK(conf->delivery.nretry == (int)HK_NELEM(sched));
	HK_CHECK(memcmp(conf->delivery.retry_schedule, sched,
	    sizeof(sched)) == 0);
	HK_CHECK(conf->delivery.jitter > 0.199
	    && conf->delivery.jitter < 0.201);
	HK_CHECK(conf->delivery.nallow == 0 && conf->delivery.ndeny == 0);
	HK_CHECK(conf->metrics.enabled == 1);
	HK_CHECK(conf->nsources == 0 && conf->sources == NULL);
	HK_CHECK(conf->ndests == 0 && conf->dests == NULL);
	hk_conf_free(conf);
}

/* Defaults of source and destination keys, and the ones worked out. */
static void
test_element_defaults(void)
{
	const struct hk_conf_source *s;
	struct hk_conf *conf;
	char err[1024];

	conf = conf_text(
	    "instance = \"blue-1\";\n"
	    "delivery = { timeout_ms = 5000; };\n"
	    "sources = (\n"
	    "  { name = \"gh\"; verify = { scheme = \"github\";"
	    " secrets = [\"x\"]; }; },\n"
	    "  { name = \"st\"; verify = { scheme = \"stripe\";"
	    " secrets = [\"x\"]; }; },\n"
	    "  { name = \"sh\"; verify = { scheme = \"shopify\";"
	    " secrets = [\"x\"]; }; },\n"
	    "  { name = \"sl\"; verify = { scheme = \"slack\";"
	    " secrets = [\"x\"]; }; },\n"
	    "  { name = \"plain\"; rate_per_s = 2.5; },\n"
	    "  { name = \"slow\"; rate_per_s = 0.5; idempotency = \"none\"; }\n"
	    ");\n"
	    "destinations = (\n"
	    "  { name = \"a\"; url = \"https://example.com\";"
	    " sources = [\"gh\"]; }\n"
	    ");\n", err, sizeof(err));
	if (conf == NULL)
		printf("  %s\n", err);
	HK_CHECK(conf != NULL);
	if (conf == NULL)
		return;
	HK_CHECK_STR(conf->pid_file, "/tmp/hookd.blue-1.pid");
	s = hk_conf_source(conf, "gh", 2);
	HK_CHECK(s != NULL && s->idem_kind == HK_IDEM_HEADER);
	HK_CHECK(s != NULL && strcmp(s->idem_arg, "X-GitHub-Delivery") == 0);
	HK_CHECK(s != NULL && s->verify.tolerance_s == 300);
	HK_CHECK(s != NULL && s->dedup_window_s == 86400);
	HK_CHECK(s != NULL && s->line == 4);
	s = hk_conf_source(conf, "st", 2);
	HK_CHECK(s != NULL && s->idem_kind == HK_IDEM_JSON);
	s = hk_conf_source(conf, "sh", 2);
	HK_CHECK(s != NULL && strcmp(s->idem_arg, "X-Shopify-Webhook-Id") == 0);
	s = hk_conf_source(conf, "sl", 2);
	HK_CHECK(s != NULL && s->idem_kind == HK_IDEM_DEFAULT);
	HK_CHECK(s != NULL && s->idem_arg == NULL);
	s = hk_conf_source(conf, "plain", 5);
	HK_CHECK(s != NULL && s->burst == 3 && s->rate_per_s == 2.5);
	HK_CHECK(s != NULL && s->ncontent_types == 2);
	HK_CHECK(s != NULL && strcmp(s->content_types[0],
	    "application/json") == 0);
	HK_CHECK(s != NULL && s->verify.encoding == HK_ENC_HEX);
	HK_CHECK(s != NULL && strcmp(s->verify.prefix, "") == 0);
	s = hk_conf_source(conf, "slow", 4);
	HK_CHECK(s != NULL && s->burst == 1 && s->idem_kind == HK_IDEM_NONE);
	HK_CHECK(conf->ndests == 1 && conf->dests[0].timeout_ms == 5000);
	HK_CHECK(conf->dests[0].concurrency == 16);
	HK_CHECK_STR(conf->dests[0].signing_secret, "");
	HK_CHECK(conf->dests[0].line == 12);
	hk_conf_free(conf);
}

/* Integers written as int64, integers where a double goes, empty lists. */
static void
test_types_accepted(void)
{
	struct hk_conf *conf;
	char err[1024];

	conf = conf_text(
	    "limits = { max_body_bytes = 2048L; max_connections = 0x100; };\n"
	    "delivery = { jitter = 1; retry_schedule = [1L, 2L, 3L];\n"
	    "  allow = [\"10.0.0.0/8\", \"::1/128\", \"192.168.1.7\"];\n"
	    "  deny = (\"fd00::/8\"); };\n"
	    "log = { level = \"debug\"; format = \"json\"; };\n"
	    "sources = [];\n"
	    "destinations = ();\n", err, sizeof(err));
	if (conf == NULL)
		printf("  %s\n", err);
	HK_CHECK(conf != NULL);
	if (conf == NULL)
		return;
	HK_CHECK(conf->limits.max_body_bytes == 2048);
	HK_CHECK(conf->limits.max_connections == 256);
	HK_CHECK(conf->delivery.jitter == 1.0);
	HK_CHECK(conf->delivery.nretry == 3);
	HK_CHECK(conf->delivery.retry_schedule[2] == 3);
	HK_CHECK(conf->delivery.nallow == 3 && conf->delivery.ndeny == 1);
	HK_CHECK_STR(conf->delivery.allow[1], "::1/128");
	HK_CHECK(conf->log.level == HK_LOG_DEBUG);
	HK_CHECK(conf->log.format == HK_LOG_JSON);
	HK_CHECK(conf->nsources == 0 && conf->ndests == 0);
	hk_conf_free(conf);
}

static void
test_missing_file(void)
{
	char err[1024];

	HK_CHECK(hk_conf_load("/tmp/hookd-no-such-dir/x.conf", err,
	    sizeof(err)) == NULL);
	HK_CHECK_STR(err, "/tmp/hookd-no-such-dir/x.conf: cannot open: "
	    "No such file or directory");
}

static void
test_syntax_error(void)
{
	HK_CHECK(conf_fails("workers = 2;\nlisten = ;\n", 2, "syntax error"));
	HK_CHECK(conf_fails("log = {\n  level = \"info\";\n"
	    "  level = \"warn\";\n};\n", 3, "duplicate setting name"));
}

static void
test_unknown_key(void)
{
	HK_CHECK(conf_fails("workers = 2;\n\nlistne = \":80\";\n", 3,
	    "unknown key \"listne\"; did you mean \"listen\"?"));
	HK_CHECK(conf_fails("frobnicate = true;\n", 1,
	    "unknown key \"frobnicate\""));
	HK_CHECK(conf_fails("limits = {\n  max_body = 5;\n};\n", 2,
	    "unknown key \"limits.max_body\""));
	HK_CHECK(conf_fails("redis = {\n  sentinel = { a = 1; };\n};\n", 2,
	    "unknown key \"redis.sentinel\""));
	HK_CHECK(conf_fails(
	    "sources = (\n"
	    "  { name = \"gh\";\n"
	    "    colour = \"red\"; }\n"
	    ");\n", 3, "source \"gh\": unknown key \"colour\""));
	HK_CHECK(conf_fails(
	    "sources = (\n"
	    "  { name = \"gh\";\n"
	    "    verify = {\n"
	    "      scheme = \"none\";\n"
	    "      schema = \"x\";\n"
	    "    };\n"
	    "  }\n"
	    ");\n", 5, "source \"gh\": unknown key \"verify.schema\"; did you "
	    "mean \"verify.scheme\"?"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = (\n"
	    "  { name = \"d\"; url = \"http://x\"; sources = [\"a\"];\n"
	    "    retries = 3; }\n"
	    ");\n", 4, "destination \"d\": unknown key \"retries\""));
}

static void
test_wrong_type(void)
{
	HK_CHECK(conf_fails("workers = \"4\";\n", 1,
	    "workers: expected an integer, found a string"));
	HK_CHECK(conf_fails("\nworkers = 2.0;\n", 2,
	    "workers: expected an integer, found a floating-point number"));
	HK_CHECK(conf_fails("postgres = { migrate = 1; };\n", 1,
	    "postgres.migrate: expected true or false, found an integer"));
	HK_CHECK(conf_fails("delivery = { jitter = \"0.1\"; };\n", 1,
	    "delivery.jitter: expected a number, found a string"));
	HK_CHECK(conf_fails("log = \"debug\";\n", 1,
	    "log: expected a group { ... }, found a string"));
	HK_CHECK(conf_fails("delivery = {\n  retry_schedule = 5;\n};\n", 2,
	    "delivery.retry_schedule: expected an array of integers, found an "
	    "integer"));
	HK_CHECK(conf_fails("delivery = {\n  retry_schedule = (5,\n"
	    " 6.5);\n};\n", 3, "delivery.retry_schedule[1]: expected an "
	    "integer, found a floating-point number"));
	HK_CHECK(conf_fails("sources = { name = \"a\"; };\n", 1,
	    "sources: expected a list of groups"));
	HK_CHECK(conf_fails("sources = ( \"a\" );\n", 1,
	    "source #1: expected a group { ... }, found a string"));
	HK_CHECK(conf_fails("sources = ( { name = 5; } );\n", 1,
	    "source #1: name: expected a string, found an integer"));
}

static void
test_out_of_range(void)
{
	HK_CHECK(conf_fails("\n\nlimits = {\n  max_body_bytes = 0;\n};\n", 4,
	    "limits.max_body_bytes: 0 is out of range (1..1073741824)"));
	HK_CHECK(conf_fails("workers = 65;\n", 1,
	    "workers: 65 is out of range (0..64)"));
	HK_CHECK(conf_fails("limits = { max_body_bytes = 9000000000L; };\n", 1,
	    "limits.max_body_bytes: 9000000000 is out of range"));
	HK_CHECK(conf_fails("delivery = { jitter = 1.5; };\n", 1,
	    "delivery.jitter: 1.5 is out of range (0..1)"));
	HK_CHECK(conf_fails("delivery = {\n  retry_schedule = [5,\n  0];\n};\n",
	    3, "delivery.retry_schedule[1]: 0 is out of range (1..604800)"));
	HK_CHECK(conf_fails("delivery = { retry_schedule = []; };\n", 1,
	    "delivery.retry_schedule: has 0 elements, expected 1..32"));
	HK_CHECK(conf_fails("instance = \"\";\n", 1,
	    "instance: must not be empty"));
	HK_CHECK(conf_fails("instance = \"a/b\";\n", 1,
	    "instance: \"a/b\" may only contain letters, digits and \"_-\""));
	HK_CHECK(conf_fails("instance = "
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\";\n", 1,
	    "instance: too long (49 characters, at most 48)"));
	HK_CHECK(conf_fails("log = {\n level = \"verbose\";\n};\n", 2,
	    "log.level: \"verbose\" is not one of debug, info, warn, error"));
	HK_CHECK(conf_fails("log = {\n slow_warn_ms = 2000;\n};\n", 2,
	    "log.slow_warn_ms (2000) is above log.slow_error_ms (1000)"));
	/* Two generations must fit in the segment during a reload. */
	HK_CHECK(conf_fails("workers = 40;\ndelivery = { workers = 30; };\n",
	    1, "workers (40) and delivery.workers (30) with the stats process "
	    "make 71 processes; a generation may have at most 63, so that two "
	    "fit in shared memory during a reload"));
	HK_CHECK(conf_fails("delivery = {\n workers = 64;\n};\n", 2,
	    "workers (1) and delivery.workers (64) with the stats process "
	    "make 66 processes; a generation may have at most 63, so that two "
	    "fit in shared memory during a reload"));
	HK_CHECK(conf_fails(
	    "sources = (\n"
	    "  { name = \"a\"; verify = { scheme = \"stripe\";\n"
	    "    secrets = [\"s\"]; tolerance_s = 0; }; }\n"
	    ");\n", 3, "source \"a\": verify.tolerance_s: 0 is out of range "
	    "(1..86400)"));
	HK_CHECK(conf_fails("delivery = { allow = [\"10.0.0.1/8\"]; };\n", 1,
	    "delivery.allow[0]: \"10.0.0.1/8\" has bits set past its prefix; "
	    "did you mean \"10.0.0.0/8\"?"));
	HK_CHECK(conf_fails("delivery = { deny = [\"10.0.0.0/33\"]; };\n", 1,
	    "delivery.deny[0]: the prefix length after \"/\" must be 0..32"));
	HK_CHECK(conf_fails("delivery = { deny = [\"example.com/8\"]; };\n", 1,
	    "is not an IP address"));
}

static void
test_duplicates(void)
{
	HK_CHECK(conf_fails(
	    "sources = (\n"
	    "  { name = \"github\"; },\n"
	    "  { name = \"stripe\"; },\n"
	    "  { name = \"github\"; }\n"
	    ");\n", 4, "duplicate source name \"github\" (first declared on "
	    "line 2)"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = (\n"
	    "  { name = \"crm\"; url = \"http://x\"; sources = [\"a\"]; },\n"
	    "  {\n"
	    "    name = \"crm\"; url = \"http://y\"; sources = [\"a\"]; }\n"
	    ");\n", 4, "duplicate destination name \"crm\" (first declared on "
	    "line 3)"));
}

static void
test_dest_sources(void)
{
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"github\"; } );\n"
	    "destinations = (\n"
	    "  { name = \"crm\"; url = \"http://x\";\n"
	    "    sources = [\"github\", \"gitlab\"]; }\n"
	    ");\n", 3, "destination \"crm\": unknown source \"gitlab\""));
	/* Sources declared after the destinations still count. */
	HK_CHECK(conf_fails(
	    "destinations = (\n"
	    "  { name = \"crm\"; url = \"http://x\"; }\n"
	    ");\n", 2, "destination \"crm\": sources is required"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { url = \"http://x\"; sources = [\"a\"]; } );\n",
	    2, "destination #1: name is required"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\"; url = \"http://x\";\n"
	    "  sources = [\"a\", \"a\"]; } );\n",
	    2, "destination \"d\": source \"a\" is listed twice"));
}

static void
test_dest_order(void)
{
	struct hk_conf *conf;
	char err[1024];

	conf = conf_text(
	    "destinations = (\n"
	    "  { name = \"crm\"; url = \"http://x\"; sources = [\"a\"]; }\n"
	    ");\n"
	    "sources = ( { name = \"a\"; } );\n", err, sizeof(err));
	if (conf == NULL)
		printf("  %s\n", err);
	HK_CHECK(conf != NULL);
	hk_conf_free(conf);
}

static void
test_headers(void)
{
	static const char *ok =
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\"; url = \"http://x\";\n"
	    "  sources = [\"a\"];\n"
	    "  headers = [\"X-Api-Key: abc\",\n"
	    "    \"Authorization:Bearer t\"]; } );\n";
	struct hk_conf *conf;
	char err[1024];

	conf = conf_text(ok, err, sizeof(err));
	HK_CHECK(conf != NULL);
	if (conf != NULL)
		HK_CHECK(conf->dests[0].nheaders == 2);
	hk_conf_free(conf);

	/* "\r" and "\n" below are libconfig escapes, written as such. */
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\"; url = \"http://x\";\n"
	    "  sources = [\"a\"];\n"
	    "  headers = [\"X-A: b\\r\\nX-Injected: 1\"]; } );\n", 4,
	    "destination \"d\": headers[0]: the value of X-A contains CR or "
	    "LF"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\"; url = \"http://x\";\n"
	    "  sources = [\"a\"];\n"
	    "  headers = [\"X-A: ok\",\n \"X-B: b\\r\"]; } );\n", 5,
	    "headers[1]: the value of X-B contains CR or LF"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\"; url = \"http://x\";\n"
	    "  sources = [\"a\"];\n"
	    "  headers = [\"X A: b\"]; } );\n", 4,
	    "headers[0]: \"X A\" is not a valid header name"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\"; url = \"http://x\";\n"
	    "  sources = [\"a\"];\n"
	    "  headers = [\"no colon\"]; } );\n", 4,
	    "headers[0]: expected \"Name: value\""));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\"; url = \"http://x\";\n"
	    "  sources = [\"a\"];\n"
	    "  headers = [\"Content-Length: 5\"]; } );\n", 4,
	    "Content-Length is set by hookd and cannot be configured"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\"; url = \"http://x\";\n"
	    "  sources = [\"a\"];\n"
	    "  headers = [\"X-Empty:  \"]; } );\n", 4,
	    "the value of X-Empty is empty"));
}

static void
test_bad_url(void)
{
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\";\n"
	    "  url = \"ftp://example.com/x\"; sources = [\"a\"]; } );\n", 3,
	    "destination \"d\": url: only http:// and https:// URLs are "
	    "accepted"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\";\n"
	    "  url = \"https:///x\"; sources = [\"a\"]; } );\n", 3,
	    "url: the host is missing"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\";\n"
	    "  url = \"http://x:0/\"; sources = [\"a\"]; } );\n", 3,
	    "url: port 0 is out of range (1..65535)"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\";\n"
	    "  url = \"http://a b/\"; sources = [\"a\"]; } );\n", 3,
	    "url: a URL may not contain white space"));
	HK_CHECK(conf_fails("redis = { url = \"http://localhost\"; };\n", 1,
	    "redis.url: expected redis://[user:password@]host[:port][/db] or "
	    "unix:///path"));
	HK_CHECK(conf_fails("redis = { url = \"redis://h:6379/x\"; };\n", 1,
	    "redis.url: the database after \"/\" must be a number"));
	HK_CHECK(conf_fails("redis = { url = \"unix://relative\"; };\n", 1,
	    "redis.url: expected an absolute socket path"));
	HK_CHECK(conf_fails("postgres = { url = \"mysql://x\"; };\n", 1,
	    "postgres.url: expected postgresql://"));
}

static void
test_bad_listen(void)
{
	HK_CHECK(conf_fails("listen = \"0.0.0.0:99999\";\n", 1,
	    "listen: port 99999 is out of range (1..65535)"));
	HK_CHECK(conf_fails("listen = \"0.0.0.0\";\n", 1,
	    "listen: expected host:port"));
	HK_CHECK(conf_fails("listen = \"::1:8080\";\n", 1,
	    "listen: an IPv6 address must be written in brackets"));
	HK_CHECK(conf_fails("listen = \"[::g]:8080\";\n", 1,
	    "listen: \"::g\" is not an IPv6 address"));
	HK_CHECK(conf_fails("listen = \"300.1.1.1:80\";\n", 1,
	    "listen: \"300.1.1.1\" is not an IPv4 address"));
	HK_CHECK(conf_fails("admin = {\n listen = \"host_name:80\";\n};\n", 2,
	    "admin.listen: \"host_name\" is not a host name"));
	HK_CHECK(conf_fails("listen = \":http\";\n", 1,
	    "listen: the port \"http\" is not a number"));
}

static void
test_bad_scheme(void)
{
	HK_CHECK(conf_fails(
	    "sources = (\n"
	    "  { name = \"gl\";\n"
	    "    verify = { scheme = \"gitlab\"; }; }\n"
	    ");\n", 3, "source \"gl\": verify.scheme: \"gitlab\" is not one of "
	    "none, hmac-sha256, github, stripe, standard, shopify, slack"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"p\";\n"
	    "  verify = { scheme = \"hmac-sha256\"; secrets = [\"s\"];\n"
	    "    encoding = \"base32\"; header = \"X-Sig\"; }; } );\n", 3,
	    "verify.encoding: \"base32\" is not one of hex, base64"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"bad name\"; } );\n", 1,
	    "source \"bad name\": name: \"bad name\" may only contain"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; idempotency = \"cookie:x\"; } );\n", 1,
	    "idempotency: \"cookie:x\" is not one of header:NAME, "
	    "json:/pointer, body-hash, none"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; idempotency = \"json:id\"; } );\n", 1,
	    "idempotency: a JSON pointer starts with \"/\""));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\";\n"
	    "  content_types = [\"json\"]; } );\n", 2,
	    "content_types[0]: \"json\" is not a media type"));
}

static void
test_secrets(void)
{
	HK_CHECK(conf_fails(
	    "sources = (\n"
	    "  { name = \"gh\";\n"
	    "    verify = {\n"
	    "      scheme = \"github\";\n"
	    "    };\n"
	    "  }\n"
	    ");\n", 4, "source \"gh\": verify.secrets is required for the "
	    "github scheme"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"gh\";\n"
	    "  verify = { scheme = \"github\";\n"
	    "    secrets = []; }; } );\n", 3,
	    "verify.secrets: has 0 elements, expected 1..8"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"t\";\n"
	    "  verify = { secrets = [\"s\"]; }; } );\n", 2,
	    "verify.secrets: the none scheme checks no signature"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"p\";\n"
	    "  verify = { scheme = \"hmac-sha256\";\n"
	    "    secrets = [\"s\"]; }; } );\n", 2,
	    "verify.header is required for the hmac-sha256 scheme"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"gh\";\n"
	    "  verify = { scheme = \"github\"; secrets = [\"s\"];\n"
	    "    header = \"X-Sig\"; }; } );\n", 3,
	    "verify.header applies only to the hmac-sha256 scheme"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"gh\";\n"
	    "  verify = { scheme = \"github\"; secrets = [\"s\"];\n"
	    "    tolerance_s = 60; }; } );\n", 3,
	    "verify.tolerance_s applies only to the stripe, standard and "
	    "slack"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"std\";\n"
	    "  verify = { scheme = \"standard\";\n"
	    "    secrets = [\"whsec_dGVzdA==\",\n"
	    "      \"whsec_not base64!\"]; }; } );\n", 4,
	    "verify.secrets[1]: not a Standard Webhooks secret"));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\"; url = \"http://x\";\n"
	    "  sources = [\"a\"]; signing_secret = \"dGVzdA==\"; } );\n", 3,
	    "signing_secret: a signing secret starts with \"whsec_\""));
	HK_CHECK(conf_fails(
	    "sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\"; url = \"http://x\";\n"
	    "  sources = [\"a\"]; signing_secret = \"whsec_dGVzdA\"; } );\n", 3,
	    "signing_secret: not a Standard Webhooks secret"));
}

/* env_clear - no HOOKD_* variable left from a test or the caller. */
static void
env_clear(void)
{
	for (size_t i = 0; i < HK_NELEM(hk_test_env); i++)
		unsetenv(hk_test_env[i]);
}

static void
test_env(void)
{
	struct hk_conf *conf;
	char err[1024];

	setenv("HOOKD_WORKERS", "3", 1);
	setenv("HOOKD_LISTEN", "[::1]:8081", 1);
	setenv("HOOKD_REDIS_URL", "redis://:pw@redis:6380/2", 1);
	setenv("HOOKD_DATABASE_URL", "host=db dbname=hookd", 1);
	setenv("HOOKD_ADMIN_LISTEN", ":9191", 1);
	setenv("HOOKD_ADMIN_TOKEN", "s3cret", 1);
	conf = conf_text("workers = 7;\nlisten = \"127.0.0.1:1\";\n", err,
	    sizeof(err));
	if (conf == NULL)
		printf("  %s\n", err);
	HK_CHECK(conf != NULL);
	if (conf != NULL) {
		HK_CHECK(conf->workers == 3 && conf->nworkers == 3);
		HK_CHECK_STR(conf->listen, "[::1]:8081");
		HK_CHECK_STR(conf->redis.url, "redis://:pw@redis:6380/2");
		HK_CHECK_STR(conf->postgres.url, "host=db dbname=hookd");
		HK_CHECK_STR(conf->admin.listen, ":9191");
		HK_CHECK_STR(conf->admin.token, "s3cret");
	}
	hk_conf_free(conf);
	env_clear();

	/* An empty variable is the same as an unset one. */
	setenv("HOOKD_WORKERS", "", 1);
	conf = conf_text("workers = 7;\n", err, sizeof(err));
	HK_CHECK(conf != NULL && conf->workers == 7);
	hk_conf_free(conf);

	setenv("HOOKD_WORKERS", "abc", 1);
	conf = conf_text("", err, sizeof(err));
	HK_CHECK(conf == NULL);
	HK_CHECK_STR(err, "environment HOOKD_WORKERS: workers: \"abc\" is not "
	    "an integer");
	setenv("HOOKD_WORKERS", "65", 1);
	conf = conf_text("", err, sizeof(err));
	HK_CHECK(conf == NULL);
	HK_CHECK_STR(err, "environment HOOKD_WORKERS: workers: 65 is out of "
	    "range (0..64)");
	env_clear();

	setenv("HOOKD_REDIS_URL", "rediss://h", 1);
	conf = conf_text("", err, sizeof(err));
	HK_CHECK(conf == NULL);
	HK_CHECK_STR(err, "environment HOOKD_REDIS_URL: redis.url: TLS "
	    "(rediss://) is not supported");
	env_clear();

	/* A check across keys blames the variable that set the value, not
	 * the line of the file it replaced. */
	setenv("HOOKD_REDIS_URL", "unix:///run/redis.sock", 1);
	conf = conf_text("redis = {\n  url = \"redis://h/0\";\n"
	    "  sentinels = [\"s1:26379\"];\n  master_name = \"m\";\n};\n",
	    err, sizeof(err));
	HK_CHECK(conf == NULL);
	HK_CHECK_STR(err, "environment HOOKD_REDIS_URL: redis.url: with "
	    "redis.sentinels the url lends only its password and database; "
	    "write redis://[user:pass@]host/db");
	hk_conf_free(conf);
	env_clear();
}

/* The value checks on their own, including what the file tests skip. */
static void
test_confcheck(void)
{
	static const char *good[] = {
		"0.0.0.0:8080", ":8080", "[::]:80", "[::1]:8080",
		"localhost:1", "api.example.com:65535",
	};
	static const char *bad[] = {
		"", ":", ":0", "host:", "[::1]", "[::1]8080", "a..b:80",
		"-a:80", "1.2.3:80", "h:80x",
	};
	struct hk_cidr c;
	unsigned char a[16];
	char why[256];

	for (size_t i = 0; i < HK_NELEM(good); i++)
		HK_CHECK(hk_confcheck_listen(good[i], why, sizeof(why))
		    == HK_OK);
	for (size_t i = 0; i < HK_NELEM(bad); i++)
		HK_CHECK(hk_confcheck_listen(bad[i], why, sizeof(why))
		    == HK_ERROR);

	HK_CHECK(hk_confcheck_redis_url("redis://127.0.0.1", why,
	    sizeof(why)) == HK_OK);
	HK_CHECK(hk_confcheck_redis_url("redis://u:p@ss@[::1]:6379/15", why,
	    sizeof(why)) == HK_OK);
	HK_CHECK(hk_confcheck_redis_url("redis://:p%2Fw@h/0", why,
	    sizeof(why)) == HK_OK);
	HK_CHECK(hk_confcheck_redis_url("redis://:p%zz@h/0", why,
	    sizeof(why)) == HK_ERROR);
	HK_CHECK(hk_confcheck_redis_url("redis://:p/w@h/0", why,
	    sizeof(why)) == HK_ERROR);
	HK_CHECK(hk_confcheck_redis_url("unix:///run/redis.sock", why,
	    sizeof(why)) == HK_OK);
	HK_CHECK(hk_confcheck_redis_url("redis://", why, sizeof(why))
	    == HK_ERROR);
	HK_CHECK(hk_confcheck_http_url("HTTPS://user:pw@my_svc:8443/a?b#c",
	    why, sizeof(why)) == HK_OK);
	HK_CHECK(hk_confcheck_http_url("http://[::1]:3001", why, sizeof(why))
	    == HK_OK);
	HK_CHECK(hk_confcheck_http_url("http://", why, sizeof(why))
	    == HK_ERROR);
	HK_CHECK(hk_confcheck_pg_url("postgres://a@b/c", why, sizeof(why))
	    == HK_OK);
	HK_CHECK(hk_confcheck_idempotency("json:/a~1b/0", why, sizeof(why))
	    == HK_OK);
	HK_CHECK(hk_confcheck_idempotency("json:/a~2", why, sizeof(why))
	    == HK_ERROR);
	HK_CHECK(hk_confcheck_idempotency("header:", why, sizeof(why))
	    == HK_ERROR);

	HK_CHECK(hk_cidr_parse("10.0.0.0/8", &c, why, sizeof(why))
	    == HK_OK);
	HK_CHECK(c.family == AF_INET && c.bits == 8);
	inet_pton(AF_INET, "10.200.3.4", a);
	HK_CHECK(hk_cidr_match(&c, AF_INET, a));
	inet_pton(AF_INET, "11.0.0.1", a);
	HK_CHECK(!hk_cidr_match(&c, AF_INET, a));
	HK_CHECK(hk_cidr_parse("fe80::/10", &c, why, sizeof(why))
	    == HK_OK);
	inet_pton(AF_INET6, "febf::1", a);
	HK_CHECK(hk_cidr_match(&c, AF_INET6, a));
	inet_pton(AF_INET6, "fec0::1", a);
	HK_CHECK(!hk_cidr_match(&c, AF_INET6, a));
	HK_CHECK(!hk_cidr_match(&c, AF_INET, a));
	HK_CHECK(hk_cidr_parse("0.0.0.0/0", &c, why, sizeof(why))
	    == HK_OK && hk_cidr_match(&c, AF_INET, a));
	HK_CHECK(hk_cidr_parse("::1", &c, why, sizeof(why))
	    == HK_OK && c.bits == 128);
	HK_CHECK(hk_cidr_parse("10.0.0.0/", &c, why, sizeof(why))
	    == HK_ERROR);

	HK_CHECK_STR(hk_verify_scheme_name(HK_VERIFY_STANDARD), "standard");
	HK_CHECK_STR(hk_verify_scheme_name(99), "unknown");
}

/* Event types by scheme, types, filters and several signing secrets. */
static void
test_routing(void)
{
	const struct hk_conf_source *s;
	const struct hk_conf_dest *d;
	struct hk_conf *conf;
	char err[512];

	conf = conf_text(
	    "sources = ( { name = \"gh\"; verify = { scheme = \"github\";"
	    " secrets = [\"x\"]; }; },\n"
	    " { name = \"sl\"; verify = { scheme = \"slack\";"
	    " secrets = [\"x\"]; }; },\n"
	    " { name = \"sh\"; verify = { scheme = \"shopify\";"
	    " secrets = [\"x\"]; }; },\n"
	    " { name = \"own\"; verify = { scheme = \"github\";"
	    " secrets = [\"x\"]; }; event_type = \"json:/kind\"; },\n"
	    " { name = \"t\"; } );\n"
	    "destinations = ( { name = \"d\"; url = \"http://h/\";"
	    " sources = [\"gh\"]; types = [\"push\", \"pull_*\"];\n"
	    " filter = ( { on = \"header:X-Env\"; reject = [\"test\"]; } );\n"
	    " signing_secrets = [\"whsec_dGVzdA==\", \"whsec_b2xk\"]; },\n"
	    " { name = \"e\"; url = \"http://h/\"; sources = [\"t\"];"
	    " signing_secret = \"whsec_dGVzdA==\"; } );\n", err, sizeof(err));
	HK_CHECK(conf != NULL);
	if (conf == NULL) {
		printf("%s\n", err);
		return;
	}
	s = hk_conf_source(conf, "gh", 2);
	HK_CHECK_STR(s->event_type, "header:X-GitHub-Event");
	HK_CHECK(s->evtype.kind == HK_EVFIELD_HEADER);
	HK_CHECK_STR(s->evtype.arg, "x-github-event");
	HK_CHECK_STR(hk_conf_source(conf, "sl", 2)->event_type,
	    "json:/event/type");
	HK_CHECK(hk_conf_source(conf, "sl", 2)->evtype.nseg == 2);
	HK_CHECK_STR(hk_conf_source(conf, "sh", 2)->event_type,
	    "header:X-Shopify-Topic");
	HK_CHECK_STR(hk_conf_source(conf, "own", 3)->event_type,
	    "json:/kind");
	HK_CHECK(hk_conf_source(conf, "t", 1)->evtype.kind
	    == HK_EVFIELD_NONE);
	d = hk_conf_dest(conf, "d");
	HK_CHECK(d->ntypes == 2 && d->nfilter == 1);
	HK_CHECK(d->filter[0].nreject == 1 && d->filter[0].naccept == 0);
	HK_CHECK(d->filter[0].f.kind == HK_EVFIELD_HEADER);
	HK_CHECK(d->nsigning_secrets == 2);
	d = hk_conf_dest(conf, "e");
	HK_CHECK(d->nsigning_secrets == 1);
	HK_CHECK_STR(d->signing_secrets[0], "whsec_dGVzdA==");
	HK_CHECK(conf->metrics.max_event_types == 50);
	hk_conf_free(conf);
	HK_CHECK(conf_fails("sources = ( { name = \"a\"; } );\n"
	    "destinations = ( { name = \"d\"; url = \"http://h/\";\n"
	    " sources = [\"a\"];\n"
	    " signing_secrets = [\"whsec_dGVzdA==\", \"whsec_dGVzdA==\"];"
	    " } );\n", 4, "signing_secrets[1] repeats signing_secrets[0]"));
}

int
main(void)
{
	env_clear();
	HK_RUN(test_reference);
	HK_RUN(test_defaults);
	HK_RUN(test_element_defaults);
	HK_RUN(test_types_accepted);
	HK_RUN(test_missing_file);
	HK_RUN(test_syntax_error);
	HK_RUN(test_unknown_key);
	HK_RUN(test_wrong_type);
	HK_RUN(test_out_of_range);
	HK_RUN(test_duplicates);
	HK_RUN(test_dest_sources);
	HK_RUN(test_dest_order);
	HK_RUN(test_headers);
	HK_RUN(test_bad_url);
	HK_RUN(test_bad_listen);
	HK_RUN(test_bad_scheme);
	HK_RUN(test_secrets);
	HK_RUN(test_env);
	HK_RUN(test_confcheck);
	HK_RUN(test_routing);
	return hk_unit_done();
}
