/*
 * config.c - load and check the configuration file.
 *
 * Every key is declared once, in one of three tables (the top level of the
 * file, an element of "sources", an element of "destinations"), with its
 * type, its default written the way it would be written in the file, and
 * its bounds.  Loading a table into a struct is the same three steps each
 * time: apply the defaults, walk the libconfig tree refusing whatever the
 * table does not declare, then check what only makes sense across keys (a
 * signed scheme needs secrets).  Defaults and environment overrides pass
 * through the same checks as values from the file, so a default that broke
 * its own bounds would fail the first test that loads an empty file.
 *
 * The first error stops the load; the message is "FILE:LINE: " followed by
 * a sentence that names the key.  confparse.c is the machinery that applies
 * a table to the libconfig tree; confcheck.c checks the syntax of single
 * values (addresses, URLs, header lines).
 */
#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confcheck.h"
#include "config.h"
#include "confparse.h"
#include "core.h"
#include "log.h"

#define HK_C(f)	offsetof(struct hk_conf, f)
#define HK_S(f)	offsetof(struct hk_conf_source, f)
#define HK_D(f)	offsetof(struct hk_conf_dest, f)
/* Keys that need no more than a type, a default and bounds. */
#define HK_NUM(name, type, off, dflt, min, max) \
	{ name, type, off, dflt, min, max, .flags = 0 }
#define HK_BOOL(name, off, dflt) \
	{ name, HK_T_BOOL, off, dflt, 0, 1, .flags = 0 }

static int hk_conf_encoding_parse(const char *s);

static const struct hk_confparse_key hk_conf_root_keys[] = {
	{ "instance", HK_T_STR, HK_C(instance), "hookd", 1, 48,
	    .check = hk_confcheck_instance },
	{ "listen", HK_T_STR, HK_C(listen), "0.0.0.0:8080", 1, 300,
	    .check = hk_confcheck_listen },
	HK_NUM("workers", HK_T_INT, HK_C(workers), "0", 0, 64),
	{ "pid_file", HK_T_STR, HK_C(pid_file), NULL, 1, 4095,
	    .check = hk_confcheck_text },
	HK_NUM("watchdog_ms", HK_T_INT, HK_C(watchdog_ms), "10000",
	    500, 600000),
	HK_NUM("drain_timeout_ms", HK_T_INT, HK_C(drain_timeout_ms), "10000",
	    0, 600000),

	{ "log.level", HK_T_ENUM, HK_C(log.level), "info",
	    .parse = hk_log_level_parse,
	    .choices = "debug, info, warn, error" },
	{ "log.format", HK_T_ENUM, HK_C(log.format), "logfmt",
	    .parse = hk_log_format_parse, .choices = "logfmt, json" },
	{ "log.file", HK_T_STR, HK_C(log.file), "", 0, 4095,
	    .check = hk_confcheck_text },
	HK_NUM("log.slow_warn_ms", HK_T_INT, HK_C(log.slow_warn_ms), "100",
	    1, 3600000),
	HK_NUM("log.slow_error_ms", HK_T_INT, HK_C(log.slow_error_ms), "1000",
	    1, 3600000),

	HK_NUM("limits.max_body_bytes", HK_T_LONG, HK_C(limits.max_body_bytes),
	    "1048576", 1, 1 << 30),
	HK_NUM("limits.max_header_bytes", HK_T_INT,
	    HK_C(limits.max_header_bytes), "16384", 1024, 1 << 20),
	HK_NUM("limits.header_timeout_ms", HK_T_INT,
	    HK_C(limits.header_timeout_ms), "10000", 100, 600000),
	HK_NUM("limits.body_timeout_ms", HK_T_INT, HK_C(limits.body_timeout_ms),
	    "30000", 100, 600000),
	HK_NUM("limits.max_connections", HK_T_INT, HK_C(limits.max_connections),
	    "10000", 1, 1000000),

	{ "redis.url", HK_T_STR, HK_C(redis.url), "redis://127.0.0.1:6379/0",
	    1, 4095, .check = hk_confcheck_redis_url },
	{ "redis.prefix", HK_T_STR, HK_C(redis.prefix), "hookd:", 0, 64,
	    .check = hk_confcheck_visible },
	HK_NUM("redis.timeout_ms", HK_T_INT, HK_C(redis.timeout_ms), "1000",
	    10, 60000),
	{ "redis.sentinels", HK_T_STRS, HK_C(redis.sentinels), "", 1, 300,
	    .nmax = HK_CONF_MAX_SENTINELS, .noff = HK_C(redis.nsentinels),
	    .check = hk_confcheck_sentinel },
	{ "redis.master_name", HK_T_STR, HK_C(redis.master_name), "", 0, 128,
	    .check = hk_confcheck_visible },
	{ "redis.sentinel_password", HK_T_STR, HK_C(redis.sentinel_password),
	    "", 0, 256, .check = hk_confcheck_visible },
	HK_NUM("redis.replicas_ack", HK_T_INT, HK_C(redis.replicas_ack), "0",
	    0, 16),
	HK_NUM("redis.replicas_timeout_ms", HK_T_INT,
	    HK_C(redis.replicas_timeout_ms), "100", 1, 60000),

	{ "postgres.url", HK_T_STR, HK_C(postgres.url),
	    "postgresql://hookd@127.0.0.1:5432/hookd", 1, 4095,
	    .check = hk_confcheck_pg_url },
	HK_BOOL("postgres.migrate", HK_C(postgres.migrate), "true"),
	HK_NUM("postgres.retention_days", HK_T_INT,
	    HK_C(postgres.retention_days), "7", 1, 3650),

	{ "admin.listen", HK_T_STR, HK_C(admin.listen), "127.0.0.1:9090",
	    1, 300, .check = hk_confcheck_listen },
	{ "admin.token", HK_T_STR, HK_C(admin.token), "", 0, 256,
	    .check = hk_confcheck_visible },

	HK_NUM("delivery.workers", HK_T_INT, HK_C(delivery.workers), "1",
	    0, 64),
	HK_NUM("delivery.concurrency", HK_T_INT, HK_C(delivery.concurrency),
	    "256", 1, 65536),
	HK_NUM("delivery.timeout_ms", HK_T_INT, HK_C(delivery.timeout_ms),
	    "15000", 100, 600000),
	{ "delivery.retry_schedule", HK_T_INTS, HK_C(delivery.retry_schedule),
	    "5, 300, 1800, 7200, 18000, 36000, 36000", 1, 604800,
	    .nmin = 1, .nmax = HK_CONF_MAX_RETRIES,
	    .noff = HK_C(delivery.nretry) },
	HK_NUM("delivery.jitter", HK_T_DOUBLE, HK_C(delivery.jitter), "0.2",
	    0, 1),
	{ "delivery.allow", HK_T_STRS, HK_C(delivery.allow), "", 1, 63,
	    .nmax = HK_CONF_MAX_LIST, .noff = HK_C(delivery.nallow),
	    .check = hk_confcheck_cidr },
	{ "delivery.deny", HK_T_STRS, HK_C(delivery.deny), "", 1, 63,
	    .nmax = HK_CONF_MAX_LIST, .noff = HK_C(delivery.ndeny),
	    .check = hk_confcheck_cidr },

	HK_BOOL("metrics.enabled", HK_C(metrics.enabled), "true"),
	HK_NUM("metrics.max_event_types", HK_T_INT,
	    HK_C(metrics.max_event_types), "50", 1, 1000),

	{ "sources", HK_T_LIST, .flags = 0 },
	{ "destinations", HK_T_LIST, .flags = 0 },
};

static const struct hk_confparse_key hk_conf_source_keys[] = {
	{ "name", HK_T_STR, HK_S(name), NULL, 1, HK_CONF_NAME_MAX,
	    .check = hk_confcheck_name, .flags = HK_F_REQUIRED },
	{ "verify.scheme", HK_T_ENUM, HK_S(verify.scheme), "none",
	    .parse = hk_verify_scheme_parse, .choices = "none, hmac-sha256, "
	    "github, stripe, standard, shopify, slack" },
	{ "verify.secrets", HK_T_STRS, HK_S(verify.secrets), NULL, 1, 1024,
	    .nmin = 1, .nmax = HK_VERIFY_MAX_SECRETS,
	    .noff = HK_S(verify.nsecrets) },
	{ "verify.header", HK_T_STR, HK_S(verify.header), "", 0, 128,
	    .check = hk_confcheck_token },
	{ "verify.encoding", HK_T_ENUM, HK_S(verify.encoding), "hex",
	    .parse = hk_conf_encoding_parse, .choices = "hex, base64" },
	{ "verify.prefix", HK_T_STR, HK_S(verify.prefix), "", 0, 64,
	    .check = hk_confcheck_visible },
	HK_NUM("verify.tolerance_s", HK_T_INT, HK_S(verify.tolerance_s), "300",
	    1, 86400),
	{ "idempotency", HK_T_STR, HK_S(idem_arg), NULL, 1, 256,
	    .check = hk_confcheck_idempotency },
	HK_NUM("dedup_window_s", HK_T_INT, HK_S(dedup_window_s), "86400",
	    1, 30 * 86400),
	HK_NUM("rate_per_s", HK_T_DOUBLE, HK_S(rate_per_s), "0", 0, 1000000),
	HK_NUM("burst", HK_T_INT, HK_S(burst), NULL, 1, 1000000),
	{ "content_types", HK_T_STRS, HK_S(content_types),
	    "application/json, application/x-www-form-urlencoded", 1, 127,
	    .nmin = 1, .nmax = HK_CONF_MAX_LIST, .noff = HK_S(ncontent_types),
	    .check = hk_confcheck_media_type },
	{ "event_type", HK_T_STR, HK_S(event_type), NULL, 1, 256,
	    .check = hk_evfield_check },
};

static const struct hk_confparse_key hk_conf_dest_keys[] = {
	{ "name", HK_T_STR, HK_D(name), NULL, 1, HK_CONF_NAME_MAX,
	    .check = hk_confcheck_name, .flags = HK_F_REQUIRED },
	{ "url", HK_T_STR, HK_D(url), NULL, 1, 4095,
	    .check = hk_confcheck_http_url, .flags = HK_F_REQUIRED },
	{ "sources", HK_T_STRS, HK_D(sources), NULL, 1, HK_CONF_NAME_MAX,
	    .nmin = 1, .nmax = HK_CONF_MAX_LIST, .noff = HK_D(nsources),
	    .check = hk_confcheck_name, .flags = HK_F_REQUIRED },
	{ "signing_secret", HK_T_STR, HK_D(signing_secret), "", 0, 1024,
	    .check = hk_confcheck_signing_secret },
	{ "signing_secrets", HK_T_STRS, HK_D(signing_secrets), NULL, 1, 1024,
	    .nmin = 1, .nmax = HK_CONF_MAX_SIGNING,
	    .noff = HK_D(nsigning_secrets),
	    .check = hk_confcheck_signing_secret },
	{ "types", HK_T_STRS, HK_D(types), NULL, 1, HK_EVFIELD_VALUE_MAX - 1,
	    .nmin = 1, .nmax = HK_CONF_MAX_LIST, .noff = HK_D(ntypes),
	    .check = hk_evfield_check_pattern },
	{ "filter", HK_T_LIST, .flags = 0 },
	{ "headers", HK_T_STRS, HK_D(headers), "", 1, 8192,
	    .nmax = HK_CONF_MAX_LIST, .noff = HK_D(nheaders),
	    .check = hk_confcheck_header_line },
	HK_NUM("concurrency", HK_T_INT, HK_D(concurrency), "16", 1, 65536),
	HK_NUM("rate_per_s", HK_T_DOUBLE, HK_D(rate_per_s), "0", 0, 1000000),
	HK_NUM("timeout_ms", HK_T_INT, HK_D(timeout_ms), NULL, 100, 600000),
};

#define HK_F(f)	offsetof(struct hk_conf_cond, f)
/* One condition of a destination's "filter" list. */
static const struct hk_confparse_key hk_conf_cond_keys[] = {
	{ "on", HK_T_STR, HK_F(on), NULL, 1, 256, .check = hk_evfield_check,
	    .flags = HK_F_REQUIRED },
	{ "accept", HK_T_STRS, HK_F(accept), NULL, 1, HK_EVFIELD_VALUE_MAX - 1,
	    .nmin = 1, .nmax = HK_CONF_MAX_LIST, .noff = HK_F(naccept),
	    .check = hk_evfield_check_pattern },
	{ "reject", HK_T_STRS, HK_F(reject), NULL, 1, HK_EVFIELD_VALUE_MAX - 1,
	    .nmin = 1, .nmax = HK_CONF_MAX_LIST, .noff = HK_F(nreject),
	    .check = hk_evfield_check_pattern },
};

/* The variables docker-compose files set, and the key each one replaces. */
static const struct {
	const char *var;
	const char *key;
} hk_conf_env[] = {
	{ "HOOKD_REDIS_URL",	"redis.url" },
	{ "HOOKD_DATABASE_URL",	"postgres.url" },
	{ "HOOKD_LISTEN",	"listen" },
	{ "HOOKD_ADMIN_LISTEN",	"admin.listen" },
	{ "HOOKD_ADMIN_TOKEN",	"admin.token" },
	{ "HOOKD_WORKERS",	"workers" },
};


_Static_assert(HK_NELEM(hk_conf_root_keys) <= HK_CONFPARSE_KEYS_MAX
    && HK_NELEM(hk_conf_source_keys) <= HK_CONFPARSE_KEYS_MAX
    && HK_NELEM(hk_conf_dest_keys) <= HK_CONFPARSE_KEYS_MAX,
    "raise HK_CONFPARSE_KEYS_MAX");

static int
hk_conf_encoding_parse(const char *s)
{
	if (strcmp(s, "hex") == 0)
		return HK_ENC_HEX;
	if (strcmp(s, "base64") == 0)
		return HK_ENC_BASE64;
	return -1;
}

/*
 * hk_conf_idem - the idempotency spec ("header:X-Id", ...) stored by the
 * table into idem_arg becomes idem_kind plus its argument.  A source that
 * does not set one gets the key its provider sends on every delivery.
 */
static int
hk_conf_idem(struct hk_confparse_ctx *ctx, struct hk_conf_source *src)
{
	static const char *byscheme[] = {
		[HK_VERIFY_GITHUB] = "header:X-GitHub-Delivery",
		[HK_VERIFY_STRIPE] = "json:/id",
		[HK_VERIFY_STANDARD] = "header:webhook-id",
		[HK_VERIFY_SHOPIFY] = "header:X-Shopify-Webhook-Id",
		[HK_VERIFY_SLACK] = NULL,
	};
	const char *spec = src->idem_arg, *arg = NULL;
	char *copy = NULL;

	if (spec == NULL && src->verify.scheme >= 0
	    && (size_t)src->verify.scheme < HK_NELEM(byscheme))
		spec = byscheme[src->verify.scheme];
	src->idem_kind = HK_IDEM_DEFAULT;
	if (spec == NULL)
		return HK_OK;
	if (strcmp(spec, "none") == 0)
		src->idem_kind = HK_IDEM_NONE;
	else if (strcmp(spec, "body-hash") == 0)
		src->idem_kind = HK_IDEM_BODY_HASH;
	else if (strncmp(spec, "header:", 7) == 0) {
		src->idem_kind = HK_IDEM_HEADER;
		arg = spec + 7;
	} else {		/* the table's check admits nothing else */
		src->idem_kind = HK_IDEM_JSON;
		arg = spec + 5;
	}
	if (arg != NULL && (copy = strdup(arg)) == NULL)
		return hk_confparse_err(ctx, NULL, "out of memory");
	free(src->idem_arg);
	src->idem_arg = copy;
	return HK_OK;
}

/*
 * hk_conf_evtype - where the source's event type is: as configured, or
 * where its provider always puts it.
 */
static int
hk_conf_evtype(struct hk_confparse_ctx *ctx, struct hk_conf_source *src)
{
	static const char *byscheme[] = {
		[HK_VERIFY_GITHUB] = "header:X-GitHub-Event",
		[HK_VERIFY_STRIPE] = "json:/type",
		[HK_VERIFY_STANDARD] = "json:/type",
		[HK_VERIFY_SHOPIFY] = "header:X-Shopify-Topic",
		[HK_VERIFY_SLACK] = "json:/event/type",
	};
	const char *spec = "none";

	if (src->event_type == NULL) {
		if (src->verify.scheme >= 0
		    && (size_t)src->verify.scheme < HK_NELEM(byscheme)
		    && byscheme[src->verify.scheme] != NULL)
			spec = byscheme[src->verify.scheme];
		if ((src->event_type = strdup(spec)) == NULL)
			return hk_confparse_err(ctx, NULL, "out of memory");
	}
	if (hk_evfield_compile(src->event_type, &src->evtype) != HK_OK)
		return hk_confparse_err(ctx, NULL, "out of memory");
	return HK_OK;
}

/* hk_conf_scheme_keys - keys set that the source's scheme would ignore. */
static int
hk_conf_scheme_keys(struct hk_confparse_ctx *ctx,
    const struct hk_confparse_obj *obj, const struct hk_conf_source *src)
{
	static const char *hmac_only[] = {
		"verify.header", "verify.encoding", "verify.prefix",
	};
	config_setting_t *s;
	int sc = src->verify.scheme;

	for (size_t i = 0; i < HK_NELEM(hmac_only); i++)
		if (sc != HK_VERIFY_HMAC_SHA256
		    && (s = hk_confparse_at(obj, hmac_only[i])) != NULL)
			return hk_confparse_err(ctx, s, "%s applies only to "
			    "the hmac-sha256 scheme", hmac_only[i]);
	if ((s = hk_confparse_at(obj, "verify.tolerance_s")) != NULL
	    && sc != HK_VERIFY_STRIPE && sc != HK_VERIFY_STANDARD
	    && sc != HK_VERIFY_SLACK)
		return hk_confparse_err(ctx, s, "verify.tolerance_s applies "
		    "only to the stripe, standard and slack schemes, which "
		    "sign a timestamp");
	return HK_OK;
}

/* hk_conf_source_check - what a source's keys must agree on. */
static int
hk_conf_source_check(struct hk_confparse_ctx *ctx,
    const struct hk_confparse_obj *obj, struct hk_conf_source *src,
    config_setting_t *e)
{
	config_setting_t *sch = hk_confparse_at(obj, "verify.scheme");
	config_setting_t *sec = hk_confparse_at(obj, "verify.secrets");
	char why[256];

	if (sch == NULL)
		sch = e;
	if (src->verify.scheme == HK_VERIFY_NONE && src->verify.nsecrets > 0)
		return hk_confparse_err(ctx, sec, "verify.secrets: the none "
		    "scheme checks no signature, so it takes no secrets");
	if (src->verify.scheme != HK_VERIFY_NONE && src->verify.nsecrets == 0)
		return hk_confparse_err(ctx, sch, "verify.secrets is required "
		    "for the %s scheme", hk_verify_scheme_name(src->verify.scheme));
	if (src->verify.scheme == HK_VERIFY_HMAC_SHA256
	    && src->verify.header[0] == '\0')
		return hk_confparse_err(ctx, sch, "verify.header is required "
		    "for the hmac-sha256 scheme");
	for (int i = 0; src->verify.scheme == HK_VERIFY_STANDARD
	    && i < src->verify.nsecrets; i++)
		if (hk_confcheck_whsec(src->verify.secrets[i], why, sizeof(why))
		    != HK_OK)
			return hk_confparse_err(ctx,
			    config_setting_get_elem(sec, (unsigned)i),
			    "verify.secrets[%d]: %s", i, why);
	if (hk_conf_scheme_keys(ctx, obj, src) != HK_OK
	    || hk_conf_idem(ctx, src) != HK_OK
	    || hk_conf_evtype(ctx, src) != HK_OK)
		return HK_ERROR;
	if (src->burst == 0)
		src->burst = (int)HK_MAX(1.0, ceil(src->rate_per_s));
	src->line = (int)config_setting_source_line(e);
	return HK_OK;
}

/* hk_conf_sources - the "sources" list into conf->sources. */
static int
hk_conf_sources(struct hk_confparse_ctx *ctx, struct hk_conf *conf,
    config_setting_t *list)
{
	struct hk_confparse_obj obj;
	config_setting_t *e;
	int n;

	if (list == NULL)
		return HK_OK;
	if (hk_confparse_list(ctx, list, "sources", HK_CONF_MAX_SOURCES)
	    != HK_OK)
		return HK_ERROR;
	if ((n = config_setting_length(list)) == 0)
		return HK_OK;
	if ((conf->sources = calloc((size_t)n, sizeof(*conf->sources))) == NULL)
		return hk_confparse_err(ctx, list, "out of memory");
	for (int i = 0; i < n; i++) {
		hk_confparse_init(&obj, hk_conf_source_keys,
		    HK_NELEM(hk_conf_source_keys), &conf->sources[i]);
		conf->nsources = i + 1;
		e = config_setting_get_elem(list, (unsigned)i);
		if (hk_confparse_group(ctx, &obj, "source", i, e) != HK_OK
		    || hk_conf_source_check(ctx, &obj, &conf->sources[i], e)
		    != HK_OK)
			return HK_ERROR;
		ctx->what[0] = '\0';
		for (int j = 0; j < i; j++)
			if (strcmp(conf->sources[j].name,
			    conf->sources[i].name) == 0)
				return hk_confparse_err(ctx, e, "duplicate "
				    "source name \"%s\" (first declared on "
				    "line %d)", conf->sources[i].name,
				    conf->sources[j].line);
	}
	return HK_OK;
}

/* hk_conf_filter - a destination's filter conditions, compiled. */
static int
hk_conf_filter(struct hk_confparse_ctx *ctx, struct hk_conf_dest *d,
    config_setting_t *list)
{
	struct hk_confparse_obj obj;
	struct hk_conf_cond *c;
	config_setting_t *e;
	char what[sizeof(ctx->what)], kind[sizeof(ctx->what) + 20];
	int n;

	if (list == NULL)
		return HK_OK;
	if (hk_confparse_list(ctx, list, "filter", HK_CONF_MAX_FILTER)
	    != HK_OK)
		return HK_ERROR;
	if ((n = config_setting_length(list)) == 0)
		return HK_OK;
	if ((d->filter = calloc((size_t)n, sizeof(*d->filter))) == NULL)
		return hk_confparse_err(ctx, list, "out of memory");
	memcpy(what, ctx->what, sizeof(what));
	snprintf(kind, sizeof(kind), "%sfilter condition", what);
	for (int i = 0; i < n; i++) {
		c = &d->filter[i];
		hk_confparse_init(&obj, hk_conf_cond_keys,
		    HK_NELEM(hk_conf_cond_keys), c);
		d->nfilter = i + 1;
		e = config_setting_get_elem(list, (unsigned)i);
		if (hk_confparse_group(ctx, &obj, kind, i, e) != HK_OK)
			return HK_ERROR;
		if (strcmp(c->on, "none") == 0)
			return hk_confparse_err(ctx, hk_confparse_at(&obj, "on"),
			    "on must name a field (header:NAME, json:/pointer "
			    "or form:FIELD)");
		if (c->naccept == 0 && c->nreject == 0)
			return hk_confparse_err(ctx, e, "accept or reject is "
			    "required");
		if (hk_evfield_compile(c->on, &c->f) != HK_OK)
			return hk_confparse_err(ctx, e, "out of memory");
	}
	memcpy(ctx->what, what, sizeof(what));
	return HK_OK;
}

/*
 * hk_conf_signing - signing_secret and signing_secrets are two spellings of
 * one list; a destination uses one of them, so that removing a key during
 * a rotation cannot silently leave another one in force.
 */
static int
hk_conf_signing(struct hk_confparse_ctx *ctx,
    const struct hk_confparse_obj *obj, struct hk_conf_dest *d)
{
	config_setting_t *many = hk_confparse_at(obj, "signing_secrets");

	if (many != NULL && d->signing_secret[0] != '\0')
		return hk_confparse_err(ctx, many, "signing_secrets and "
		    "signing_secret are both set; list every key in "
		    "signing_secrets");
	if (d->nsigning_secrets == 0 && d->signing_secret[0] != '\0') {
		if ((d->signing_secrets[0] = strdup(d->signing_secret))
		    == NULL)
			return hk_confparse_err(ctx, NULL, "out of memory");
		d->nsigning_secrets = 1;
	}
	for (int i = 0; i < d->nsigning_secrets; i++)
		for (int j = 0; j < i; j++)
			if (strcmp(d->signing_secrets[i],
			    d->signing_secrets[j]) == 0)
				return hk_confparse_err(ctx, many, "signing_"
				    "secrets[%d] repeats signing_secrets[%d]",
				    i, j);
	return HK_OK;
}

/* hk_conf_dest_check - a destination's sources exist, its defaults. */
static int
hk_conf_dest_check(struct hk_confparse_ctx *ctx, const struct hk_conf *conf,
    const struct hk_confparse_obj *obj, struct hk_conf_dest *d,
    config_setting_t *e)
{
	if (hk_conf_signing(ctx, obj, d) != HK_OK
	    || hk_conf_filter(ctx, d, hk_confparse_at(obj, "filter"))
	    != HK_OK)
		return HK_ERROR;
	for (int i = 0; i < d->nsources; i++) {
		if (hk_conf_source(conf, d->sources[i],
		    strlen(d->sources[i])) == NULL)
			return hk_confparse_err(ctx, e, "unknown source "
			    "\"%s\"", d->sources[i]);
		for (int j = 0; j < i; j++)
			if (strcmp(d->sources[i], d->sources[j]) == 0)
				return hk_confparse_err(ctx, e, "source \"%s\" "
				    "is listed twice", d->sources[i]);
	}
	if (d->timeout_ms == 0)
		d->timeout_ms = conf->delivery.timeout_ms;
	d->line = (int)config_setting_source_line(e);
	return HK_OK;
}

/* hk_conf_dests - the "destinations" list, once the sources are known. */
static int
hk_conf_dests(struct hk_confparse_ctx *ctx, struct hk_conf *conf,
    config_setting_t *list)
{
	struct hk_confparse_obj obj;
	config_setting_t *e;
	int n;

	if (list == NULL)
		return HK_OK;
	if (hk_confparse_list(ctx, list, "destinations", HK_CONF_MAX_DESTS)
	    != HK_OK)
		return HK_ERROR;
	if ((n = config_setting_length(list)) == 0)
		return HK_OK;
	if ((conf->dests = calloc((size_t)n, sizeof(*conf->dests))) == NULL)
		return hk_confparse_err(ctx, list, "out of memory");
	for (int i = 0; i < n; i++) {
		hk_confparse_init(&obj, hk_conf_dest_keys,
		    HK_NELEM(hk_conf_dest_keys), &conf->dests[i]);
		conf->ndests = i + 1;
		e = config_setting_get_elem(list, (unsigned)i);
		if (hk_confparse_group(ctx, &obj, "destination", i, e)
		    != HK_OK
		    || hk_conf_dest_check(ctx, conf, &obj, &conf->dests[i], e)
		    != HK_OK)
			return HK_ERROR;
		ctx->what[0] = '\0';
		for (int j = 0; j < i; j++)
			if (strcmp(conf->dests[j].name, conf->dests[i].name)
			    == 0)
				return hk_confparse_err(ctx, e, "duplicate "
				    "destination name \"%s\" (first declared "
				    "on line %d)", conf->dests[i].name,
				    conf->dests[j].line);
	}
	return HK_OK;
}

/*
 * hk_conf_environment - the HOOKD_* overrides.  An empty variable counts as
 * unset, because compose files write "HOOKD_WORKERS: ${WORKERS:-}".
 */
static int
hk_conf_environment(struct hk_confparse_ctx *ctx,
    struct hk_confparse_obj *obj)
{
	const char *v;
	int k;

	for (size_t i = 0; i < HK_NELEM(hk_conf_env); i++) {
		if ((v = getenv(hk_conf_env[i].var)) == NULL || v[0] == '\0')
			continue;
		k = hk_confparse_find(obj, hk_conf_env[i].key);
		ctx->env = hk_conf_env[i].var;
		if (hk_confparse_text(ctx, obj, k, v) != HK_OK)
			return HK_ERROR;
		ctx->env = NULL;
	}
	return HK_OK;
}

/*
 * hk_conf_from_env - the HOOKD_* variable that set key, or NULL when the
 * value is the file's: a check across keys then blames the variable, not a
 * line of the file that no longer holds the value.
 */
static const char *
hk_conf_from_env(const char *key)
{
	const char *v;

	for (size_t i = 0; i < HK_NELEM(hk_conf_env); i++)
		if (strcmp(hk_conf_env[i].key, key) == 0
		    && (v = getenv(hk_conf_env[i].var)) != NULL && v[0] != '\0')
			return hk_conf_env[i].var;
	return NULL;
}

/* hk_conf_err_key - hk_confparse_err at key's line, or its variable. */
static int
hk_conf_err_key(struct hk_confparse_ctx *ctx,
    const struct hk_confparse_obj *obj, const char *key, const char *msg)
{
	int rc;

	ctx->env = hk_conf_from_env(key);
	rc = hk_confparse_err(ctx, hk_confparse_at(obj, key), "%s", msg);
	ctx->env = NULL;
	return rc;
}

/*
 * hk_conf_redis - the Redis keys that depend on each other.  With
 * sentinels, the master's address comes from them and redis.url lends only
 * its user, password and database.  WAIT holds the connection's pipeline,
 * so it must give up before the connection's own timeout drops it.
 */
static int
hk_conf_redis(struct hk_confparse_ctx *ctx, struct hk_confparse_obj *obj,
    const struct hk_conf *conf)
{
	if (conf->redis.nsentinels > 0 && conf->redis.master_name[0] == '\0')
		return hk_confparse_err(ctx, hk_confparse_at(obj,
		    "redis.sentinels"), "redis.sentinels needs "
		    "redis.master_name, the name the sentinels monitor the "
		    "master under");
	if (conf->redis.nsentinels == 0 && conf->redis.master_name[0] != '\0')
		return hk_confparse_err(ctx, hk_confparse_at(obj,
		    "redis.master_name"), "redis.master_name applies only "
		    "with redis.sentinels");
	if (conf->redis.nsentinels == 0
	    && conf->redis.sentinel_password[0] != '\0')
		return hk_confparse_err(ctx, hk_confparse_at(obj,
		    "redis.sentinel_password"), "redis.sentinel_password "
		    "applies only with redis.sentinels");
	if (conf->redis.nsentinels > 0 && strncmp(conf->redis.url, "unix:",
	    5) == 0)
		return hk_conf_err_key(ctx, obj, "redis.url", "redis.url: with "
		    "redis.sentinels the url lends only its password and "
		    "database; write redis://[user:pass@]host/db");
	if (conf->redis.replicas_ack > 0 && conf->redis.replicas_timeout_ms
	    >= conf->redis.timeout_ms)
		return hk_confparse_err(ctx, hk_confparse_at(obj,
		    "redis.replicas_timeout_ms") ? hk_confparse_at(obj,
		    "redis.replicas_timeout_ms") : hk_confparse_at(obj,
		    "redis.replicas_ack"), "redis.replicas_timeout_ms (%d) "
		    "must be below redis.timeout_ms (%d), which would drop "
		    "the connection first", conf->redis.replicas_timeout_ms,
		    conf->redis.timeout_ms);
	return HK_OK;
}

/* hk_conf_finish - the values worked out from others, and their checks. */
static int
hk_conf_finish(struct hk_confparse_ctx *ctx, struct hk_confparse_obj *obj,
    struct hk_conf *conf)
{
	config_setting_t *warn = hk_confparse_at(obj, "log.slow_warn_ms");
	char buf[128];
	long ncpu, room;

	if (hk_conf_redis(ctx, obj, conf) != HK_OK)
		return HK_ERROR;
	if (conf->log.slow_warn_ms > conf->log.slow_error_ms)
		return hk_confparse_err(ctx, warn, "log.slow_warn_ms (%d) is "
		    "above log.slow_error_ms (%d)", conf->log.slow_warn_ms,
		    conf->log.slow_error_ms);
	/* The stats process is the generation's last child. */
	room = HK_CONF_MAX_CHILDREN - 1 - conf->delivery.workers;
	conf->nworkers = conf->workers;
	if (conf->nworkers == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		conf->nworkers = (int)HK_MAX(1, HK_MIN(ncpu, room));
	}
	if (conf->nworkers > room)
		return hk_confparse_err(ctx, conf->workers > 0
		    ? hk_confparse_at(obj, "workers")
		    : hk_confparse_at(obj, "delivery.workers"),
		    "workers (%d) and delivery.workers (%d) with the stats "
		    "process make %d processes; a generation may have at most "
		    "%d, so that two fit in shared memory during a reload",
		    conf->nworkers, conf->delivery.workers,
		    conf->nworkers + conf->delivery.workers + 1,
		    HK_CONF_MAX_CHILDREN);
	if (conf->pid_file == NULL) {
		snprintf(buf, sizeof(buf), "/tmp/hookd.%s.pid", conf->instance);
		if ((conf->pid_file = strdup(buf)) == NULL)
			return hk_confparse_err(ctx, NULL, "out of memory");
	}
	return HK_OK;
}

/* hk_conf_apply - the file's tree, the environment, then derived values. */
static int
hk_conf_apply(struct hk_confparse_ctx *ctx, struct hk_conf *conf,
    config_setting_t *root)
{
	struct hk_confparse_obj obj;

	hk_confparse_init(&obj, hk_conf_root_keys,
	    HK_NELEM(hk_conf_root_keys), conf);
	if (hk_confparse_defaults(ctx, &obj) != HK_OK
	    || hk_confparse_walk(ctx, &obj, root, "") != HK_OK
	    || hk_conf_environment(ctx, &obj) != HK_OK
	    || hk_conf_sources(ctx, conf, hk_confparse_at(&obj, "sources"))
	    != HK_OK
	    || hk_conf_dests(ctx, conf, hk_confparse_at(&obj,
	    "destinations")) != HK_OK)
		return HK_ERROR;
	return hk_conf_finish(ctx, &obj, conf);
}

struct hk_conf *
hk_conf_load(const char *file, char *err, size_t errlen)
{
	struct hk_confparse_ctx ctx = { .file = file, .err = err,
	    .errlen = errlen };
	struct hk_conf *conf;
	const char *efile;
	struct stat st;
	config_t cfg;
	FILE *fp;
	int rc;

	if ((fp = fopen(file, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", file,
		    strerror(errno));
		return NULL;
	}
	/* libconfig's scanner exits the process on a read error. */
	if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: cannot open: %s", file,
		    strerror(EISDIR));
		fclose(fp);
		return NULL;
	}
	config_init(&cfg);
	if (config_read(&cfg, fp) != CONFIG_TRUE) {
		efile = config_error_file(&cfg);
		snprintf(err, errlen, "%s:%d: %s", efile ? efile : file,
		    config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		fclose(fp);
		return NULL;
	}
	fclose(fp);
	rc = HK_ERROR;
	if ((conf = calloc(1, sizeof(*conf))) == NULL
	    || (conf->file = strdup(file)) == NULL)
		snprintf(err, errlen, "%s: out of memory", file);
	else
		rc = hk_conf_apply(&ctx, conf, config_root_setting(&cfg));
	config_destroy(&cfg);
	if (rc != HK_OK) {
		hk_conf_free(conf);
		return NULL;
	}
	return conf;
}

void
hk_conf_free(struct hk_conf *conf)
{
	if (conf == NULL)
		return;
	for (int i = 0; i < conf->nsources; i++) {
		hk_evfield_free(&conf->sources[i].evtype);
		hk_confparse_release(hk_conf_source_keys,
		    HK_NELEM(hk_conf_source_keys), &conf->sources[i]);
	}
	for (int i = 0; i < conf->ndests; i++) {
		for (int k = 0; k < conf->dests[i].nfilter; k++) {
			hk_evfield_free(&conf->dests[i].filter[k].f);
			hk_confparse_release(hk_conf_cond_keys,
			    HK_NELEM(hk_conf_cond_keys),
			    &conf->dests[i].filter[k]);
		}
		free(conf->dests[i].filter);
		hk_confparse_release(hk_conf_dest_keys,
		    HK_NELEM(hk_conf_dest_keys), &conf->dests[i]);
	}
	hk_confparse_release(hk_conf_root_keys, HK_NELEM(hk_conf_root_keys),
	    conf);
	free(conf->sources);
	free(conf->dests);
	free(conf->file);
	free(conf);
}

const struct hk_conf_source *
hk_conf_source(const struct hk_conf *conf, const char *name, size_t len)
{
	for (int i = 0; i < conf->nsources; i++)
		if (strlen(conf->sources[i].name) == len
		    && memcmp(conf->sources[i].name, name, len) == 0)
			return &conf->sources[i];
	return NULL;
}

const struct hk_conf_dest *
hk_conf_dest(const struct hk_conf *conf, const char *name)
{
	for (int i = 0; i < conf->ndests; i++)
		if (strcmp(conf->dests[i].name, name) == 0)
			return &conf->dests[i];
	return NULL;
}

unsigned long long
hk_conf_claim_lease_us(const struct hk_conf *conf)
{
	int maxto = conf->delivery.timeout_ms;

	for (int d = 0; d < conf->ndests; d++)
		if (conf->dests[d].timeout_ms > maxto)
			maxto = conf->dests[d].timeout_ms;
	return (unsigned long long)(2 * maxto + 1000) * 1000u;
}
