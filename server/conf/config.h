/*
 * config.h - the loaded, validated configuration.
 *
 * hk_conf_load() reads a libconfig file, checks every key against the one
 * table in config.c that declares it (type, default, bounds), applies the
 * HOOKD_* environment overrides and returns an immutable struct hk_conf.  A
 * reload builds a new one; nothing ever modifies a loaded configuration.
 * Every error names "FILE:LINE: message".
 */
#ifndef HK_CONFIG_H
#define HK_CONFIG_H

#include <stddef.h>

#include "evfield.h"
#include "verify.h"

#define HK_CONF_MAX_LIST      32	/* content types, headers, sources of a destination */
#define HK_CONF_MAX_RETRIES   32
#define HK_CONF_MAX_SOURCES   256
#define HK_CONF_MAX_DESTS     256
#define HK_CONF_MAX_SIGNING  8	/* signing_secrets of a destination */
#define HK_CONF_MAX_FILTER   16	/* filter conditions of a destination */
#define HK_CONF_NAME_MAX      63	/* source and destination names: [A-Za-z0-9_.-] */
#define HK_CONF_MAX_SENTINELS 16
/*
 * Children of one generation (ingest and delivery workers and the stats
 * process), at most: during a reload two generations run at once, and
 * both must fit in the shared-memory segment's 127 child slots.
 */
#define HK_CONF_MAX_CHILDREN  63

enum hk_idem_kind {
	HK_IDEM_DEFAULT,		/* Idempotency-Key header when present */
	HK_IDEM_NONE,
	HK_IDEM_HEADER,			/* header:NAME */
	HK_IDEM_JSON,			/* json:/pointer (RFC 6901) */
	HK_IDEM_BODY_HASH,		/* SHA-256 of the raw body */
};

struct hk_conf_source {
	char   *name;
	struct hk_verify_key verify;	/* the verify.* keys */
	int     idem_kind;		/* enum hk_idem_kind */
	char   *idem_arg;		/* header name or JSON pointer */
	int     dedup_window_s;
	double  rate_per_s;		/* 0: unlimited */
	int     burst;
	char   *content_types[HK_CONF_MAX_LIST];
	int     ncontent_types;
	char   *event_type;		/* the spec as written, or the scheme's */
	struct hk_evfield evtype;	/* where the event type is */
	int     line;			/* where it is declared */
};

/*
 * One condition of a destination's filter: the value of field on must be
 * one of accept (when there are any: a missing field is not accepted) and
 * none of reject (a missing field is not rejected).
 */
struct hk_conf_cond {
	char   *on;
	struct hk_evfield f;
	char   *accept[HK_CONF_MAX_LIST];
	int     naccept;
	char   *reject[HK_CONF_MAX_LIST];
	int     nreject;
};

struct hk_conf_dest {
	char   *name;
	char   *url;
	char   *sources[HK_CONF_MAX_LIST];
	int     nsources;
	char   *signing_secret;		/* "" or "whsec_<base64>" */
	/* Every outbound request is signed once per secret; signing_secret
	 * alone is the list of one. */
	char   *signing_secrets[HK_CONF_MAX_SIGNING];
	int     nsigning_secrets;
	char   *types[HK_CONF_MAX_LIST];	/* event type patterns; none: all */
	int     ntypes;
	struct hk_conf_cond *filter;	/* ANDed */
	int     nfilter;
	char   *headers[HK_CONF_MAX_LIST];	/* "Name: value" */
	int     nheaders;
	int     concurrency;
	double  rate_per_s;		/* 0: unlimited */
	int     timeout_ms;
	int     line;
};

struct hk_conf {
	char   *file;
	char   *instance;
	char   *listen;			/* "host:port" */
	int     workers;		/* as configured; 0 = one per CPU */
	int     nworkers;		/* resolved */
	char   *pid_file;
	int     watchdog_ms;		/* heartbeat silence before a kill */
	int     drain_timeout_ms;	/* graceful stop and reload */

	struct {
		int     level;
		int     format;
		char   *file;		/* "" = stderr */
		int     slow_warn_ms;
		int     slow_error_ms;
	} log;

	struct {
		long    max_body_bytes;
		int     max_header_bytes;
		int     header_timeout_ms;
		int     body_timeout_ms;
		int     max_connections;
	} limits;

	struct {
		char   *url;
		char   *prefix;
		int     timeout_ms;
		char   *sentinels[HK_CONF_MAX_SENTINELS];	/* "host:port" */
		int     nsentinels;
		char   *master_name;	/* "" without sentinels */
		char   *sentinel_password;	/* AUTH to the sentinels; "" */
		int     replicas_ack;	/* WAIT for this many replicas */
		int     replicas_timeout_ms;
	} redis;

	struct {
		char   *url;
		int     migrate;
		int     retention_days;
	} postgres;

	struct {
		char   *listen;
		char   *token;
	} admin;

	struct {
		int     workers;
		int     concurrency;
		int     timeout_ms;
		int     retry_schedule[HK_CONF_MAX_RETRIES];	/* seconds */
		int     nretry;
		double  jitter;
		char   *allow[HK_CONF_MAX_LIST];	/* CIDRs always allowed */
		int     nallow;
		char   *deny[HK_CONF_MAX_LIST];	/* CIDRs refused */
		int     ndeny;
	} delivery;

	struct {
		int     enabled;
		int     max_event_types;	/* per source; more are "other" */
	} metrics;

	struct hk_conf_source *sources;
	int     nsources;
	struct hk_conf_dest   *dests;
	int     ndests;
};

/*
 * Load and validate FILE.  On error returns NULL and writes
 * "FILE:LINE: message" (or "FILE: message" when no line applies) into err.
 */
struct hk_conf *hk_conf_load(const char *file, char *err, size_t errlen);
void hk_conf_free(struct hk_conf *conf);

/* The source called name (len bytes, not terminated), or NULL. */
const struct hk_conf_source *hk_conf_source(const struct hk_conf *conf,
    const char *name, size_t len);
const struct hk_conf_dest *hk_conf_dest(const struct hk_conf *conf,
    const char *name);

/*
 * How long a delivery worker's claim on a delivery row lasts (microseconds):
 * twice the longest attempt timeout plus a second.  A claimed row's
 * next_attempt_at is the claim's time plus this.
 */
unsigned long long hk_conf_claim_lease_us(const struct hk_conf *conf);

#endif /* HK_CONFIG_H */
