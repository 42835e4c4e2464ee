/*
 * verify.h - check a webhook's signature against its source's secrets.
 *
 * hk_verify() is a pure function of the source's verify key, the request
 * headers (reached through a lookup callback, so this file knows nothing of
 * the HTTP layer), the raw body and the current time.  Every secret of the
 * key is tried, so a provider can rotate its secret without a failed
 * delivery.
 *
 * A generic hmac-sha256 source's prefix is matched exactly, case included,
 * and must be present when it is configured.  A tolerance_s of 0 or less
 * means HK_VERIFY_DEFAULT_TOLERANCE, never "no window": a zero left in a
 * config file must not switch replay protection off.
 */
#ifndef HK_VERIFY_H
#define HK_VERIFY_H

#include <stddef.h>
#include <time.h>

/*
 * The signing side of a source, independent of the configuration that
 * embeds it (struct hk_conf_source.verify): what sign.c and verify.c need,
 * so that they sit below the configuration and hookbench can fill one in.
 */
enum hk_verify_scheme {
	HK_VERIFY_NONE,
	HK_VERIFY_HMAC_SHA256,		/* generic: header, encoding, prefix */
	HK_VERIFY_GITHUB,		/* X-Hub-Signature-256: sha256=<hex> */
	HK_VERIFY_STRIPE,		/* Stripe-Signature: t=..,v1=.. */
	HK_VERIFY_STANDARD,		/* Standard Webhooks webhook-* headers */
	HK_VERIFY_SHOPIFY,		/* X-Shopify-Hmac-Sha256: <base64> */
	HK_VERIFY_SLACK,		/* X-Slack-Signature: v0=<hex>, timestamp */
};

enum hk_encoding {
	HK_ENC_HEX,
	HK_ENC_BASE64,
};

#define HK_VERIFY_MAX_SECRETS	8

struct hk_verify_key {
	int     scheme;			/* enum hk_verify_scheme */
	char   *secrets[HK_VERIFY_MAX_SECRETS];	/* several: rotation */
	int     nsecrets;
	char   *header;			/* hmac-sha256 only */
	int     encoding;		/* hmac-sha256 only: enum hk_encoding */
	char   *prefix;			/* hmac-sha256 only, e.g. "sha256=" */
	int     tolerance_s;		/* stripe, standard, slack */
};

/* Results of hk_verify(); only HK_VERIFY_OK lets the request in. */
enum {
	HK_VERIFY_OK,
	HK_VERIFY_MISSING,		/* a required header is absent */
	HK_VERIFY_MISMATCH,		/* well formed, but no secret signs it */
	HK_VERIFY_EXPIRED,		/* signed, but outside the tolerance */
	HK_VERIFY_MALFORMED,		/* a header that cannot be parsed */
};

/* Longest signature header value looked at; anything longer is malformed. */
#define HK_VERIFY_HEADER_MAX		4096
/* Timestamp window used when a source sets tolerance_s to 0 or less. */
#define HK_VERIFY_DEFAULT_TOLERANCE	300
/* Longest decoded Standard Webhooks key accepted. */
#define HK_VERIFY_KEY_MAX		256

/* Looks up a request header by name, case-insensitively; NULL if absent. */
typedef const char *(*hk_verify_header_fn)(void *ctx, const char *name);

/*
 * Verify the request described by hdr/ctx and body[0..len) for key at time
 * now (seconds since the epoch).  Returns one of the HK_VERIFY_* results.
 * When why is not NULL it receives a short sentence for the error message:
 * a static string or a per-thread buffer that stays valid until this thread
 * calls hk_verify() again.
 */
int	hk_verify(const struct hk_verify_key *key, hk_verify_header_fn hdr,
	    void *ctx, const unsigned char *body, size_t len, time_t now,
	    const char **why);

/* The scheme's name in the configuration ("github"), "unknown" if none. */
const char *hk_verify_scheme_name(int scheme);
/* The scheme called name, or -1. */
int	hk_verify_scheme_parse(const char *name);

/* Short name of a result, for logs: "ok", "missing", ... */
const char *hk_verify_result_name(int result);

/*
 * Decode a Standard Webhooks secret ("whsec_" followed by base64; the
 * prefix is optional) into key.  HK_OK or HK_ERROR.  The config loader can
 * call it to refuse a bad secret at load rather than at the first request.
 */
int	hk_verify_standard_key(const char *secret,
	    unsigned char key[HK_VERIFY_KEY_MAX], size_t *keylen);

#endif /* HK_VERIFY_H */
