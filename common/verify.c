/*
 * verify.c - webhook signature schemes.
 *
 * Every scheme reduces to the same three steps: pull the signature (and the
 * timestamp, where there is one) out of the headers, compute HMAC-SHA256 of
 * the signed content under each secret of the source, and compare every
 * candidate signature with every MAC.  The comparisons use CRYPTO_memcmp and
 * the loops run to the end even after a match, so the time taken says
 * nothing about how close a forgery came or which secret matched.
 * Signatures are decoded completely before any comparison; a signature of
 * the wrong length never reaches one.
 *
 * Timestamps are checked after the signature: EXPIRED then means "really
 * signed by the provider, but old", which is what an operator chasing a
 * clock or a replay wants to know, and a forger learns nothing from it.
 * The signed content always uses the timestamp text exactly as received.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "codec.h"
#include "core.h"
#include "verify.h"

#define HK_VERIFY_MAC_LEN	HK_CODEC_SHA256_LEN
/* More digits than any plausible Unix time in seconds, few enough for int64. */
#define HK_VERIFY_TS_DIGITS	15

/* One request being verified, so helpers take one argument instead of six. */
struct hk_verify_req {
	const struct hk_verify_key *key;
	hk_verify_header_fn	 hdr;
	void			*ctx;
	const unsigned char	*body;
	size_t			 len;
	time_t			 now;
	const char		**why;
};

/* A header value or list item: not NUL-terminated. */
struct hk_verify_str {
	const char	*p;
	size_t		 n;
};

/* The MAC of the signed content under every usable secret. */
struct hk_verify_macs {
	unsigned char	 mac[HK_VERIFY_MAX_SECRETS][HK_VERIFY_MAC_LEN];
	int		 n;
};

static _Thread_local char hk_verify_whybuf[192];

static const char *hk_verify_names[] = {
	"ok", "missing", "mismatch", "expired", "malformed"
};

const char *
hk_verify_result_name(int result)
{
	if (result < 0 || (size_t)result >= HK_NELEM(hk_verify_names))
		return "unknown";
	return hk_verify_names[result];
}

static const char *hk_verify_schemes[] = {
	[HK_VERIFY_NONE] = "none",
	[HK_VERIFY_HMAC_SHA256] = "hmac-sha256",
	[HK_VERIFY_GITHUB] = "github",
	[HK_VERIFY_STRIPE] = "stripe",
	[HK_VERIFY_STANDARD] = "standard",
	[HK_VERIFY_SHOPIFY] = "shopify",
	[HK_VERIFY_SLACK] = "slack",
};

const char *
hk_verify_scheme_name(int scheme)
{
	if (scheme < 0 || (size_t)scheme >= HK_NELEM(hk_verify_schemes))
		return "unknown";
	return hk_verify_schemes[scheme];
}

int
hk_verify_scheme_parse(const char *name)
{
	for (size_t i = 0; i < HK_NELEM(hk_verify_schemes); i++)
		if (strcmp(name, hk_verify_schemes[i]) == 0)
			return (int)i;
	return -1;
}

/* hk_verify_fail - record why the request failed and return the result. */
static int
hk_verify_fail(struct hk_verify_req *r, int result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
hk_verify_fail(struct hk_verify_req *r, int result, const char *fmt, ...)
{
	va_list ap;

	if (r->why != NULL) {
		va_start(ap, fmt);
		vsnprintf(hk_verify_whybuf, sizeof(hk_verify_whybuf), fmt, ap);
		va_end(ap);
		*r->why = hk_verify_whybuf;
	}
	return result;
}

static int
hk_verify_ok(struct hk_verify_req *r)
{
	if (r->why != NULL)
		*r->why = "the signature is valid";
	return HK_VERIFY_OK;
}

static int
hk_verify_isspace(char c)
{
	return c == ' ' || c == '\t';
}

/* hk_verify_trim - drop surrounding blanks, which HTTP does not count. */
static struct hk_verify_str
hk_verify_trim(const char *p, size_t n)
{
	struct hk_verify_str s;

	while (n > 0 && hk_verify_isspace(*p)) {
		p++;
		n--;
	}
	while (n > 0 && hk_verify_isspace(p[n - 1]))
		n--;
	s.p = p;
	s.n = n;
	return s;
}

/*
 * hk_verify_header - fetch header name into *out.  The length cap keeps a
 * hostile header from turning into megabytes of decoding and MAC scanning.
 */
static int
hk_verify_header(struct hk_verify_req *r, const char *name,
    struct hk_verify_str *out)
{
	const char *v;
	size_t n;

	if ((v = r->hdr(r->ctx, name)) == NULL)
		return hk_verify_fail(r, HK_VERIFY_MISSING,
		    "the %s header is missing", name);
	if ((n = strnlen(v, HK_VERIFY_HEADER_MAX + 1)) > HK_VERIFY_HEADER_MAX)
		return hk_verify_fail(r, HK_VERIFY_MALFORMED,
		    "the %s header is longer than %d bytes", name,
		    HK_VERIFY_HEADER_MAX);
	*out = hk_verify_trim(v, n);
	if (out->n == 0)
		return hk_verify_fail(r, HK_VERIFY_MISSING,
		    "the %s header is empty", name);
	return HK_VERIFY_OK;
}

/*
 * hk_verify_next - the next item of a list separated by sep, trimmed.
 * Returns 0 at the end of the list.
 */
static int
hk_verify_next(struct hk_verify_str *list, char sep, struct hk_verify_str *item)
{
	const char *end;

	if (list->p == NULL)
		return 0;
	end = memchr(list->p, sep, list->n);
	if (end == NULL) {
		*item = hk_verify_trim(list->p, list->n);
		list->p = NULL;
		list->n = 0;
	} else {
		*item = hk_verify_trim(list->p, (size_t)(end - list->p));
		list->n -= (size_t)(end - list->p) + 1;
		list->p = end + 1;
	}
	return 1;
}

/* hk_verify_prefix - strip prefix from s when s starts with it. */
static int
hk_verify_prefix(struct hk_verify_str *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (s->n < n || memcmp(s->p, prefix, n) != 0)
		return 0;
	s->p += n;
	s->n -= n;
	return 1;
}

/* hk_verify_ts - parse a Unix time in seconds: digits only, no sign. */
static int
hk_verify_ts(struct hk_verify_str s, long long *ts)
{
	long long v = 0;

	if (s.n == 0 || s.n > HK_VERIFY_TS_DIGITS)
		return HK_ERROR;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return HK_ERROR;
		v = v * 10 + (s.p[i] - '0');
	}
	*ts = v;
	return HK_OK;
}

/* hk_verify_window - EXPIRED when ts is too far from now in either direction. */
static int
hk_verify_window(struct hk_verify_req *r, long long ts)
{
	long long tol = r->key->tolerance_s > 0 ? r->key->tolerance_s :
	    HK_VERIFY_DEFAULT_TOLERANCE;
	long long d = (long long)r->now - ts;

	if (d < 0)
		d = -d;
	if (d > tol)
		return hk_verify_fail(r, HK_VERIFY_EXPIRED,
		    "the signature timestamp is outside the %lld s tolerance",
		    tol);
	return hk_verify_ok(r);
}

/*
 * hk_verify_decode - decode a signature that must be exactly one SHA-256
 * MAC long; anything else is malformed before it is compared.
 */
static int
hk_verify_decode(struct hk_verify_str s, int encoding,
    unsigned char sig[HK_VERIFY_MAC_LEN])
{
	size_t n = 0;
	int rc;

	if (encoding == HK_ENC_BASE64)
		rc = hk_codec_b64_decode(s.p, s.n, sig, HK_VERIFY_MAC_LEN, &n);
	else
		rc = hk_codec_hex_decode(s.p, s.n, sig, HK_VERIFY_MAC_LEN, &n);
	return rc == HK_OK && n == HK_VERIFY_MAC_LEN ? HK_OK : HK_ERROR;
}

/* hk_verify_macs - the MAC of parts under each secret, used as given. */
static int
hk_verify_macs(const struct hk_verify_key *key,
    const struct hk_codec_part *parts, size_t nparts, struct hk_verify_macs *m)
{
	m->n = 0;
	for (int i = 0; i < key->nsecrets && i < HK_VERIFY_MAX_SECRETS; i++) {
		if (key->secrets[i] == NULL)
			continue;
		if (hk_codec_hmac_sha256(key->secrets[i],
		    strlen(key->secrets[i]), parts, nparts,
		    m->mac[m->n]) != HK_OK)
			return HK_ERROR;
		m->n++;
	}
	return HK_OK;
}

/*
 * hk_verify_match - 1 if sig equals any of the MACs.  Every MAC is compared
 * even after a match so the timing does not reveal which secret signed.
 */
static int
hk_verify_match(const struct hk_verify_macs *m,
    const unsigned char sig[HK_VERIFY_MAC_LEN])
{
	int found = 0;

	for (int i = 0; i < m->n; i++)
		found |= hk_codec_ct_equal(m->mac[i], sig, HK_VERIFY_MAC_LEN);
	return found;
}

static int
hk_verify_no_secret(struct hk_verify_req *r)
{
	return hk_verify_fail(r, HK_VERIFY_MISMATCH,
	    "the source has no secret to verify the signature with");
}

static int
hk_verify_internal(struct hk_verify_req *r)
{
	return hk_verify_fail(r, HK_VERIFY_MISMATCH,
	    "the signature could not be computed");
}

/*
 * hk_verify_body_mac - the schemes that sign the body alone with one
 * signature in one header: hmac-sha256, github and shopify.
 */
static int
hk_verify_body_mac(struct hk_verify_req *r, const char *name,
    const char *prefix, int encoding)
{
	struct hk_codec_part part = { r->body, r->len };
	struct hk_verify_macs macs;
	struct hk_verify_str v;
	unsigned char sig[HK_VERIFY_MAC_LEN];
	int rc;

	if ((rc = hk_verify_header(r, name, &v)) != HK_VERIFY_OK)
		return rc;
	if (prefix != NULL && prefix[0] != '\0' && !hk_verify_prefix(&v, prefix))
		return hk_verify_fail(r, HK_VERIFY_MALFORMED,
		    "the %s header does not start with \"%s\"", name, prefix);
	if (hk_verify_decode(v, encoding, sig) != HK_OK)
		return hk_verify_fail(r, HK_VERIFY_MALFORMED,
		    "the %s header is not a %s HMAC-SHA256 signature", name,
		    encoding == HK_ENC_BASE64 ? "base64" : "hex");
	if (hk_verify_macs(r->key, &part, 1, &macs) != HK_OK)
		return hk_verify_internal(r);
	if (!hk_verify_match(&macs, sig))
		return hk_verify_fail(r, HK_VERIFY_MISMATCH,
		    "the %s signature does not match", name);
	return hk_verify_ok(r);
}

static int
hk_verify_generic(struct hk_verify_req *r)
{
	if (r->key->header == NULL || r->key->header[0] == '\0')
		return hk_verify_fail(r, HK_VERIFY_MISMATCH,
		    "the source names no signature header");
	return hk_verify_body_mac(r, r->key->header, r->key->prefix,
	    r->key->encoding);
}

/*
 * hk_verify_stripe - "Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>][,v0=..]".
 * Stripe sends one v1 per active secret while a secret is being rolled, so
 * any v1 may match any of our secrets.  Other schemes (v0) are ignored.
 */
static int
hk_verify_stripe(struct hk_verify_req *r)
{
	static const char name[] = "Stripe-Signature";
	struct hk_verify_str v, list, item, t = { NULL, 0 };
	struct hk_verify_macs macs;
	struct hk_codec_part parts[3];
	unsigned char sig[HK_VERIFY_MAC_LEN];
	long long ts;
	int rc, nv1 = 0, found = 0;

	if ((rc = hk_verify_header(r, name, &v)) != HK_VERIFY_OK)
		return rc;
	for (list = v; hk_verify_next(&list, ',', &item); ) {
		if (hk_verify_prefix(&item, "t=")) {
			if (t.p != NULL)
				return hk_verify_fail(r, HK_VERIFY_MALFORMED,
				    "the %s header has more than one t=", name);
			t = item;
		} else if (hk_verify_prefix(&item, "v1=")) {
			nv1++;
		}
	}
	if (t.p == NULL || hk_verify_ts(t, &ts) != HK_OK)
		return hk_verify_fail(r, HK_VERIFY_MALFORMED,
		    "the %s header has no valid t= timestamp", name);
	if (nv1 == 0)
		return hk_verify_fail(r, HK_VERIFY_MALFORMED,
		    "the %s header has no v1= signature", name);

	parts[0] = (struct hk_codec_part){ t.p, t.n };
	parts[1] = (struct hk_codec_part){ ".", 1 };
	parts[2] = (struct hk_codec_part){ r->body, r->len };
	if (hk_verify_macs(r->key, parts, 3, &macs) != HK_OK)
		return hk_verify_internal(r);

	/* A v1 that is not 64 hex digits cannot match; it is skipped. */
	for (list = v; hk_verify_next(&list, ',', &item); ) {
		if (!hk_verify_prefix(&item, "v1="))
			continue;
		if (hk_verify_decode(item, HK_ENC_HEX, sig) == HK_OK)
			found |= hk_verify_match(&macs, sig);
	}
	if (!found)
		return hk_verify_fail(r, HK_VERIFY_MISMATCH,
		    "the %s signature does not match", name);
	return hk_verify_window(r, ts);
}

int
hk_verify_standard_key(const char *secret,
    unsigned char key[HK_VERIFY_KEY_MAX], size_t *keylen)
{
	size_t n;

	if (secret == NULL)
		return HK_ERROR;
	if (strncmp(secret, "whsec_", 6) == 0)
		secret += 6;
	n = strlen(secret);
	if (n == 0)
		return HK_ERROR;
	return hk_codec_b64_decode(secret, n, key, HK_VERIFY_KEY_MAX, keylen);
}

/*
 * hk_verify_standard_macs - Standard Webhooks keys are the base64 after
 * "whsec_", not the secret text; a secret that does not decode is skipped.
 */
static int
hk_verify_standard_macs(const struct hk_verify_key *vk,
    const struct hk_codec_part *parts, size_t nparts, struct hk_verify_macs *m)
{
	unsigned char key[HK_VERIFY_KEY_MAX];
	size_t keylen;
	int rc = HK_OK;

	m->n = 0;
	for (int i = 0; i < vk->nsecrets && i < HK_VERIFY_MAX_SECRETS; i++) {
		if (vk->secrets[i] == NULL ||
		    hk_verify_standard_key(vk->secrets[i], key, &keylen) != HK_OK)
			continue;
		if (hk_codec_hmac_sha256(key, keylen, parts, nparts,
		    m->mac[m->n]) != HK_OK) {
			rc = HK_ERROR;
			break;
		}
		m->n++;
	}
	/* The decoded key is the secret itself; do not leave it on the stack. */
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/*
 * hk_verify_standard - Standard Webhooks: webhook-id, webhook-timestamp and
 * webhook-signature, a space-separated list of "v1,<base64>" items; other
 * versions (v1a is asymmetric) are ignored.  Signed content is
 * "<id>.<timestamp>.<body>".
 */
static int
hk_verify_standard(struct hk_verify_req *r)
{
	static const char sname[] = "webhook-signature";
	struct hk_verify_str id, t, v, list, item;
	struct hk_verify_macs macs;
	struct hk_codec_part parts[5];
	unsigned char sig[HK_VERIFY_MAC_LEN];
	long long ts;
	int rc, nv1 = 0, found = 0;

	if ((rc = hk_verify_header(r, "webhook-id", &id)) != HK_VERIFY_OK ||
	    (rc = hk_verify_header(r, "webhook-timestamp", &t)) != HK_VERIFY_OK ||
	    (rc = hk_verify_header(r, sname, &v)) != HK_VERIFY_OK)
		return rc;
	if (hk_verify_ts(t, &ts) != HK_OK)
		return hk_verify_fail(r, HK_VERIFY_MALFORMED,
		    "the webhook-timestamp header is not a Unix timestamp");
	for (list = v; hk_verify_next(&list, ' ', &item); )
		if (hk_verify_prefix(&item, "v1,"))
			nv1++;
	if (nv1 == 0)
		return hk_verify_fail(r, HK_VERIFY_MALFORMED,
		    "the %s header has no v1 signature", sname);

	parts[0] = (struct hk_codec_part){ id.p, id.n };
	parts[1] = (struct hk_codec_part){ ".", 1 };
	parts[2] = (struct hk_codec_part){ t.p, t.n };
	parts[3] = (struct hk_codec_part){ ".", 1 };
	parts[4] = (struct hk_codec_part){ r->body, r->len };
	if (hk_verify_standard_macs(r->key, parts, 5, &macs) != HK_OK)
		return hk_verify_internal(r);
	if (macs.n == 0)
		return hk_verify_fail(r, HK_VERIFY_MISMATCH,
		    "no secret of the source is a valid whsec_ key");

	for (list = v; hk_verify_next(&list, ' ', &item); ) {
		if (!hk_verify_prefix(&item, "v1,"))
			continue;
		if (hk_verify_decode(item, HK_ENC_BASE64, sig) == HK_OK)
			found |= hk_verify_match(&macs, sig);
	}
	if (!found)
		return hk_verify_fail(r, HK_VERIFY_MISMATCH,
		    "the %s signature does not match", sname);
	return hk_verify_window(r, ts);
}

/*
 * hk_verify_slack - "X-Slack-Signature: v0=<hex>" over
 * "v0:<X-Slack-Request-Timestamp>:<body>".
 */
static int
hk_verify_slack(struct hk_verify_req *r)
{
	static const char sname[] = "X-Slack-Signature";
	struct hk_verify_str t, v;
	struct hk_verify_macs macs;
	struct hk_codec_part parts[4];
	unsigned char sig[HK_VERIFY_MAC_LEN];
	long long ts;
	int rc;

	if ((rc = hk_verify_header(r, "X-Slack-Request-Timestamp", &t)) !=
	    HK_VERIFY_OK || (rc = hk_verify_header(r, sname, &v)) != HK_VERIFY_OK)
		return rc;
	if (hk_verify_ts(t, &ts) != HK_OK)
		return hk_verify_fail(r, HK_VERIFY_MALFORMED,
		    "the X-Slack-Request-Timestamp header is not a Unix timestamp");
	if (!hk_verify_prefix(&v, "v0="))
		return hk_verify_fail(r, HK_VERIFY_MALFORMED,
		    "the %s header does not start with \"v0=\"", sname);
	if (hk_verify_decode(v, HK_ENC_HEX, sig) != HK_OK)
		return hk_verify_fail(r, HK_VERIFY_MALFORMED,
		    "the %s header is not a hex HMAC-SHA256 signature", sname);

	parts[0] = (struct hk_codec_part){ "v0:", 3 };
	parts[1] = (struct hk_codec_part){ t.p, t.n };
	parts[2] = (struct hk_codec_part){ ":", 1 };
	parts[3] = (struct hk_codec_part){ r->body, r->len };
	if (hk_verify_macs(r->key, parts, 4, &macs) != HK_OK)
		return hk_verify_internal(r);
	if (!hk_verify_match(&macs, sig))
		return hk_verify_fail(r, HK_VERIFY_MISMATCH,
		    "the %s signature does not match", sname);
	return hk_verify_window(r, ts);
}

int
hk_verify(const struct hk_verify_key *key, hk_verify_header_fn hdr,
    void *ctx, const unsigned char *body, size_t len, time_t now,
    const char **why)
{
	struct hk_verify_req r = { key, hdr, ctx, body, len, now, why };

	if (key->scheme == HK_VERIFY_NONE) {
		if (why != NULL)
			*why = "the source does not verify signatures";
		return HK_VERIFY_OK;
	}
	/* Fail closed: a scheme without a secret must not let anything in. */
	if (key->nsecrets <= 0)
		return hk_verify_no_secret(&r);

	switch (key->scheme) {
	case HK_VERIFY_HMAC_SHA256:
		return hk_verify_generic(&r);
	case HK_VERIFY_GITHUB:
		return hk_verify_body_mac(&r, "X-Hub-Signature-256", "sha256=",
		    HK_ENC_HEX);
	case HK_VERIFY_STRIPE:
		return hk_verify_stripe(&r);
	case HK_VERIFY_STANDARD:
		return hk_verify_standard(&r);
	case HK_VERIFY_SHOPIFY:
		return hk_verify_body_mac(&r, "X-Shopify-Hmac-Sha256", NULL,
		    HK_ENC_BASE64);
	case HK_VERIFY_SLACK:
		return hk_verify_slack(&r);
	}
	return hk_verify_fail(&r, HK_VERIFY_MISMATCH,
	    "the source has an unknown signature scheme");
}
