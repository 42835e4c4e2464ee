/*
 * fuzz_verify.c - the signature header parsers of every scheme.
 *
 * The first byte picks the scheme (and, for the generic hmac-sha256 one, the
 * encoding and the prefix); the rest is split on '\n': every part but the
 * last is a header value, given in order to the headers the scheme reads,
 * and the last part is the body.  hk_verify() must answer one of its
 * results without a sanitizer report.  Then the round trip: what
 * hk_sign_request() emits for the body, with either secret, hk_verify()
 * accepts.  The secrets are made up for this file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core.h"
#include "sign.h"
#include "verify.h"

#define FUZZ_NOW	1700000000
#define FUZZ_HEADERS	4
#define FUZZ_VALUE_MAX	(HK_VERIFY_HEADER_MAX + 64)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_one[] = "hk_fuzz_secret_one";
static char fuzz_two[] = "hk_fuzz_secret_two";
/* "whsec_" + base64("hookd fuzz key, not a secret!!!") */
static char fuzz_std_one[] = "whsec_aG9va2QgZnV6eiBrZXksIG5vdCBhIHNlY3JldCEhIQ==";
static char fuzz_std_two[] = "whsec_c2Vjb25kIGZ1enoga2V5";
static char fuzz_header[] = "X-Signature";
static char fuzz_pfx_none[] = "", fuzz_pfx_sha[] = "sha256=",
    fuzz_pfx_v1[] = "v1=";
static char *fuzz_prefixes[] = { fuzz_pfx_none, fuzz_pfx_sha, fuzz_pfx_v1,
    fuzz_pfx_sha };

/* The headers each scheme reads, in the order input parts fill them. */
static const char *fuzz_names[][FUZZ_HEADERS] = {
	[HK_VERIFY_NONE] = { "X-Unused" },
	[HK_VERIFY_HMAC_SHA256] = { "X-Signature" },
	[HK_VERIFY_GITHUB] = { "X-Hub-Signature-256" },
	[HK_VERIFY_STRIPE] = { "Stripe-Signature" },
	[HK_VERIFY_STANDARD] = { "webhook-id", "webhook-timestamp",
	    "webhook-signature" },
	[HK_VERIFY_SHOPIFY] = { "X-Shopify-Hmac-Sha256" },
	[HK_VERIFY_SLACK] = { "X-Slack-Request-Timestamp",
	    "X-Slack-Signature" },
};

struct fuzz_hdrs {
	int	n;
	char	name[8][64];
	char	value[8][FUZZ_VALUE_MAX];
};

static void
fuzz_fail(const char *what, int scheme, const char *why)
{
	fprintf(stderr, "fuzz_verify: %s (scheme %s: %s)\n", what,
	    hk_verify_scheme_name(scheme), why ? why : "(no reason)");
	abort();
}

static const char *
fuzz_hdr_get(void *ctx, const char *name)
{
	struct fuzz_hdrs *h = ctx;

	for (int i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

static int
fuzz_hdr_set(void *ctx, const char *name, const char *value)
{
	struct fuzz_hdrs *h = ctx;

	if (h->n == 8 || strlen(value) >= FUZZ_VALUE_MAX)
		return HK_ERROR;
	snprintf(h->name[h->n], sizeof(h->name[0]), "%s", name);
	snprintf(h->value[h->n], sizeof(h->value[0]), "%s", value);
	h->n++;
	return HK_OK;
}

static void
fuzz_key(struct hk_verify_key *key, uint8_t ctl)
{
	memset(key, 0, sizeof(*key));
	key->scheme = ctl % 7;
	key->tolerance_s = 300;
	if (key->scheme == HK_VERIFY_NONE)
		return;
	key->nsecrets = 2;
	if (key->scheme == HK_VERIFY_STANDARD) {
		key->secrets[0] = fuzz_std_one;
		key->secrets[1] = fuzz_std_two;
	} else {
		key->secrets[0] = fuzz_one;
		key->secrets[1] = fuzz_two;
	}
	if (key->scheme == HK_VERIFY_HMAC_SHA256) {
		key->header = fuzz_header;
		key->encoding = (ctl >> 3) & 1 ? HK_ENC_BASE64 : HK_ENC_HEX;
		key->prefix = fuzz_prefixes[(ctl >> 4) & 3];
	}
}

/* fuzz_round_trip - what sign emits for body, verify accepts. */
static void
fuzz_round_trip(const struct hk_verify_key *key, const unsigned char *body,
    size_t len, const char *secret)
{
	static struct fuzz_hdrs h;
	const char *why = NULL;
	int rc;

	memset(&h, 0, sizeof(h));
	if (hk_sign_request(key, secret, body, len, FUZZ_NOW, "msg_fuzz_1",
	    fuzz_hdr_set, &h) != HK_OK)
		fuzz_fail("hk_sign_request failed", key->scheme, NULL);
	rc = hk_verify(key, fuzz_hdr_get, &h, body, len, FUZZ_NOW, &why);
	if (rc != HK_VERIFY_OK)
		fuzz_fail("a signed request does not verify", key->scheme, why);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_hdrs h;
	struct hk_verify_key key;
	const uint8_t *p, *end, *nl;
	const char *why = NULL;
	int rc, part = 0;

	if (size == 0)
		return 0;
	fuzz_key(&key, data[0]);
	memset(&h, 0, sizeof(h));
	p = data + 1;
	end = data + size;
	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL
	    && part < FUZZ_HEADERS) {
		const char *name = fuzz_names[key.scheme][part++];
		size_t n = (size_t)(nl - p);

		if (name != NULL && n < FUZZ_VALUE_MAX) {
			snprintf(h.name[h.n], sizeof(h.name[0]), "%s", name);
			memcpy(h.value[h.n], p, n);
			h.value[h.n][n] = '\0';
			h.n++;
		}
		p = nl + 1;
	}

	rc = hk_verify(&key, fuzz_hdr_get, &h, p, (size_t)(end - p), FUZZ_NOW,
	    &why);
	if (rc < HK_VERIFY_OK || rc > HK_VERIFY_MALFORMED)
		fuzz_fail("unknown result", key.scheme, why);
	if (rc != HK_VERIFY_OK && (why == NULL || why[0] == '\0'))
		fuzz_fail("a refusal without a reason", key.scheme, why);

	fuzz_round_trip(&key, p, (size_t)(end - p), NULL);
	if (key.nsecrets == 2)
		fuzz_round_trip(&key, p, (size_t)(end - p), key.secrets[1]);
	return 0;
}
