/*
 * sign.c - sign a request the way each provider does.
 *
 * Each scheme is a few lines over one helper that computes the MAC of the
 * signed content and encodes it; the signed content is built from parts, as
 * in verify.c, so the body is never copied.  Timestamps are written once
 * into text and that same text is both signed and sent, so the two cannot
 * disagree.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "codec.h"
#include "core.h"
#include "sign.h"
#include "verify.h"

/* Long enough for "t=<20 digits>,v1=<64 hex>" and any prefix + base64. */
#define HK_SIGN_VALUE_MAX	256

/*
 * hk_sign_mac - MAC parts under key, encoded after prefix into out.
 */
static int
hk_sign_mac(const void *key, size_t keylen, const struct hk_codec_part *parts,
    size_t nparts, const char *prefix, int encoding, char *out, size_t outlen)
{
	unsigned char mac[HK_CODEC_SHA256_LEN];
	size_t n;

	if (prefix == NULL)
		prefix = "";
	n = strlen(prefix);
	if (n >= outlen)
		return HK_ERROR;
	memcpy(out, prefix, n);
	if (hk_codec_hmac_sha256(key, keylen, parts, nparts, mac) != HK_OK)
		return HK_ERROR;
	if (encoding == HK_ENC_BASE64)
		return hk_codec_b64_encode(mac, sizeof(mac), out + n, outlen - n);
	return hk_codec_hex_encode(mac, sizeof(mac), out + n, outlen - n);
}

/* hk_sign_body - the schemes whose signed content is the body alone. */
static int
hk_sign_body(const char *secret, const unsigned char *body, size_t len,
    const char *prefix, int encoding, char *out, size_t outlen)
{
	struct hk_codec_part part = { body, len };

	return hk_sign_mac(secret, strlen(secret), &part, 1, prefix, encoding,
	    out, outlen);
}

int
hk_sign_standard(const char *whsec_secret, const char *msg_id, time_t ts,
    const unsigned char *body, size_t len, char *out, size_t outlen)
{
	unsigned char key[HK_VERIFY_KEY_MAX];
	struct hk_codec_part parts[5];
	char tbuf[24];
	size_t keylen;
	int rc;

	if (whsec_secret == NULL || msg_id == NULL ||
	    hk_verify_standard_key(whsec_secret, key, &keylen) != HK_OK)
		return HK_ERROR;
	snprintf(tbuf, sizeof(tbuf), "%lld", (long long)ts);
	parts[0] = (struct hk_codec_part){ msg_id, strlen(msg_id) };
	parts[1] = (struct hk_codec_part){ ".", 1 };
	parts[2] = (struct hk_codec_part){ tbuf, strlen(tbuf) };
	parts[3] = (struct hk_codec_part){ ".", 1 };
	parts[4] = (struct hk_codec_part){ body, len };
	rc = hk_sign_mac(key, keylen, parts, 5, "v1,", HK_ENC_BASE64, out,
	    outlen);
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

static int
hk_sign_github(const char *secret, const unsigned char *body, size_t len,
    const char *msg_id, hk_sign_emit_fn emit, void *ctx)
{
	char sig[HK_SIGN_VALUE_MAX];
	int rc;

	if (hk_sign_body(secret, body, len, "sha256=", HK_ENC_HEX, sig,
	    sizeof(sig)) != HK_OK)
		return HK_ERROR;
	if ((rc = emit(ctx, "X-Hub-Signature-256", sig)) != HK_OK ||
	    (rc = emit(ctx, "X-GitHub-Event", "ping")) != HK_OK)
		return rc;
	return msg_id ? emit(ctx, "X-GitHub-Delivery", msg_id) : HK_OK;
}

static int
hk_sign_stripe(const char *secret, const unsigned char *body, size_t len,
    const char *tbuf, hk_sign_emit_fn emit, void *ctx)
{
	struct hk_codec_part parts[3];
	char sig[HK_SIGN_VALUE_MAX];
	int n;

	/* The value is "t=<ts>,v1=<hex>": write the head, MAC into the tail. */
	n = snprintf(sig, sizeof(sig), "t=%s,", tbuf);
	parts[0] = (struct hk_codec_part){ tbuf, strlen(tbuf) };
	parts[1] = (struct hk_codec_part){ ".", 1 };
	parts[2] = (struct hk_codec_part){ body, len };
	if (n < 0 || (size_t)n >= sizeof(sig) ||
	    hk_sign_mac(secret, strlen(secret), parts, 3, "v1=", HK_ENC_HEX,
	    sig + n, sizeof(sig) - (size_t)n) != HK_OK)
		return HK_ERROR;
	return emit(ctx, "Stripe-Signature", sig);
}

static int
hk_sign_standard_emit(const char *secret, const unsigned char *body,
    size_t len, time_t now, const char *tbuf, const char *msg_id,
    hk_sign_emit_fn emit, void *ctx)
{
	char sig[HK_SIGN_STANDARD_SIZE];
	int rc;

	if (hk_sign_standard(secret, msg_id, now, body, len, sig,
	    sizeof(sig)) != HK_OK)
		return HK_ERROR;
	if ((rc = emit(ctx, "webhook-id", msg_id)) != HK_OK ||
	    (rc = emit(ctx, "webhook-timestamp", tbuf)) != HK_OK)
		return rc;
	return emit(ctx, "webhook-signature", sig);
}

static int
hk_sign_shopify(const char *secret, const unsigned char *body, size_t len,
    const char *msg_id, hk_sign_emit_fn emit, void *ctx)
{
	char sig[HK_SIGN_VALUE_MAX];
	int rc;

	if (hk_sign_body(secret, body, len, NULL, HK_ENC_BASE64, sig,
	    sizeof(sig)) != HK_OK)
		return HK_ERROR;
	if ((rc = emit(ctx, "X-Shopify-Hmac-Sha256", sig)) != HK_OK)
		return rc;
	return msg_id ? emit(ctx, "X-Shopify-Webhook-Id", msg_id) : HK_OK;
}

static int
hk_sign_slack(const char *secret, const unsigned char *body, size_t len,
    const char *tbuf, hk_sign_emit_fn emit, void *ctx)
{
	struct hk_codec_part parts[4];
	char sig[HK_SIGN_VALUE_MAX];
	int rc;

	parts[0] = (struct hk_codec_part){ "v0:", 3 };
	parts[1] = (struct hk_codec_part){ tbuf, strlen(tbuf) };
	parts[2] = (struct hk_codec_part){ ":", 1 };
	parts[3] = (struct hk_codec_part){ body, len };
	if (hk_sign_mac(secret, strlen(secret), parts, 4, "v0=", HK_ENC_HEX,
	    sig, sizeof(sig)) != HK_OK)
		return HK_ERROR;
	if ((rc = emit(ctx, "X-Slack-Request-Timestamp", tbuf)) != HK_OK)
		return rc;
	return emit(ctx, "X-Slack-Signature", sig);
}

int
hk_sign_request(const struct hk_verify_key *key, const char *secret,
    const unsigned char *body, size_t len, time_t now, const char *msg_id,
    hk_sign_emit_fn emit, void *ctx)
{
	char sig[HK_SIGN_VALUE_MAX], tbuf[24];

	if (key->scheme == HK_VERIFY_NONE)
		return HK_OK;
	if (secret == NULL)
		secret = key->nsecrets > 0 ? key->secrets[0] : NULL;
	if (secret == NULL)
		return HK_ERROR;
	snprintf(tbuf, sizeof(tbuf), "%lld", (long long)now);

	switch (key->scheme) {
	case HK_VERIFY_HMAC_SHA256:
		if (key->header == NULL || key->header[0] == '\0' ||
		    hk_sign_body(secret, body, len, key->prefix, key->encoding,
		    sig, sizeof(sig)) != HK_OK)
			return HK_ERROR;
		return emit(ctx, key->header, sig);
	case HK_VERIFY_GITHUB:
		return hk_sign_github(secret, body, len, msg_id, emit, ctx);
	case HK_VERIFY_STRIPE:
		return hk_sign_stripe(secret, body, len, tbuf, emit, ctx);
	case HK_VERIFY_STANDARD:
		return hk_sign_standard_emit(secret, body, len, now, tbuf,
		    msg_id, emit, ctx);
	case HK_VERIFY_SHOPIFY:
		return hk_sign_shopify(secret, body, len, msg_id, emit, ctx);
	case HK_VERIFY_SLACK:
		return hk_sign_slack(secret, body, len, tbuf, emit, ctx);
	}
	return HK_ERROR;
}
