/*
 * confcheck.h - syntax checks for the values of configuration keys.
 *
 * confparse.c walks the libconfig tree and config.c knows which key holds
 * what; this file knows what a listen address, a URL, a CIDR block or a
 * header line looks like.  The functions are pure (no allocation, no I/O,
 * no DNS lookups), so a value from the file and the same value from the
 * environment are judged the same way.
 *
 * A check returns HK_OK, or HK_ERROR with a short phrase in why saying what
 * is wrong ("port 0 is out of range (1..65535)").  Checks of values that may
 * carry a password or a secret never copy the value into why, because the
 * message ends up in logs.
 */
#ifndef HK_CONFCHECK_H
#define HK_CONFCHECK_H

#include <stddef.h>

typedef int (*hk_confcheck_fn)(const char *s, char *why, size_t whylen);

/* An instance name: [A-Za-z0-9_-], it becomes part of a shm name. */
int hk_confcheck_instance(const char *s, char *why, size_t whylen);
/* A source or destination name: [A-Za-z0-9_.-], it appears in URLs. */
int hk_confcheck_name(const char *s, char *why, size_t whylen);
/* "host:port", "[v6]:port" or ":port". */
int hk_confcheck_listen(const char *s, char *why, size_t whylen);
/* A Redis Sentinel's "host:port" or "[v6]:port". */
int hk_confcheck_sentinel(const char *s, char *why, size_t whylen);
/* redis://[user:pass@]host[:port][/db] or unix:///path. */
int hk_confcheck_redis_url(const char *s, char *why, size_t whylen);
/* postgresql://..., postgres://... or a libpq "key=value ..." string. */
int hk_confcheck_pg_url(const char *s, char *why, size_t whylen);
/* http:// or https:// with a host. */
int hk_confcheck_http_url(const char *s, char *why, size_t whylen);
/* An HTTP header name (an RFC 9110 token). */
int hk_confcheck_token(const char *s, char *why, size_t whylen);
/* "Name: value" for an outbound request. */
int hk_confcheck_header_line(const char *s, char *why, size_t whylen);
/* A media type "type/subtype", without parameters. */
int hk_confcheck_media_type(const char *s, char *why, size_t whylen);
/* "header:NAME", "json:/pointer", "body-hash" or "none". */
int hk_confcheck_idempotency(const char *s, char *why, size_t whylen);
/* A Standard Webhooks key: "whsec_" and base64 (the prefix optional). */
int hk_confcheck_whsec(const char *s, char *why, size_t whylen);
/* An outbound signing secret: "" or "whsec_<base64>". */
int hk_confcheck_signing_secret(const char *s, char *why, size_t whylen);
/* Visible ASCII, no white space: tokens, prefixes, key prefixes. */
int hk_confcheck_visible(const char *s, char *why, size_t whylen);
/* No control characters: file names. */
int hk_confcheck_text(const char *s, char *why, size_t whylen);

/* An address block "10.0.0.0/8" or "fd00::/8" (cidr.h). */
int hk_confcheck_cidr(const char *s, char *why, size_t whylen);

#endif /* HK_CONFCHECK_H */
