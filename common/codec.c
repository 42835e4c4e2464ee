/*
 * codec.c - hex, base64, constant-time comparison, SHA-256 and HMAC-SHA256.
 *
 * The decoders map characters to values with arithmetic instead of lookup
 * tables and without branching on the character.  They also decode secrets
 * (a Standard Webhooks "whsec_" key is base64), and a table indexed by secret
 * bytes is the textbook cache-timing leak.  Validity is accumulated over the
 * whole input and checked once at the end, for the same reason.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "codec.h"
#include "core.h"

/* All ones when c is in [lo, lo + n), else zero; no branch on c. */
#define HK_CODEC_RANGE(c, lo, n) \
	(0u - (unsigned int)((unsigned int)((c) - (lo)) < (unsigned int)(n)))
#define HK_CODEC_IS(c, v) \
	(0u - (unsigned int)((c) == (v)))

static const char hk_codec_hexdigits[] = "0123456789abcdef";
static const char hk_codec_b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * hk_codec_hexval - value of one hex digit; clears *ok when c is not one.
 */
static unsigned int
hk_codec_hexval(unsigned char c, unsigned int *ok)
{
	unsigned int m, v = 0, any = 0;

	m = HK_CODEC_RANGE(c, '0', 10);
	v |= m & (unsigned int)(c - '0');
	any |= m;
	m = HK_CODEC_RANGE(c, 'a', 6);
	v |= m & (unsigned int)(c - 'a' + 10);
	any |= m;
	m = HK_CODEC_RANGE(c, 'A', 6);
	v |= m & (unsigned int)(c - 'A' + 10);
	any |= m;
	*ok &= any;
	return v;
}

/*
 * hk_codec_b64val - value of one base64 character; clears *ok when c is not
 * in the standard alphabet.
 */
static unsigned int
hk_codec_b64val(unsigned char c, unsigned int *ok)
{
	unsigned int m, v = 0, any = 0;

	m = HK_CODEC_RANGE(c, 'A', 26);
	v |= m & (unsigned int)(c - 'A');
	any |= m;
	m = HK_CODEC_RANGE(c, 'a', 26);
	v |= m & (unsigned int)(c - 'a' + 26);
	any |= m;
	m = HK_CODEC_RANGE(c, '0', 10);
	v |= m & (unsigned int)(c - '0' + 52);
	any |= m;
	m = HK_CODEC_IS(c, '+');
	v |= m & 62u;
	any |= m;
	m = HK_CODEC_IS(c, '/');
	v |= m & 63u;
	any |= m;
	*ok &= any;
	return v;
}

int
hk_codec_hex_encode(const void *in, size_t len, char *out, size_t outsize)
{
	const unsigned char *p = in;

	if (outsize == 0 || (outsize - 1) / 2 < len)
		return HK_ERROR;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hk_codec_hexdigits[p[i] >> 4];
		out[2 * i + 1] = hk_codec_hexdigits[p[i] & 0x0f];
	}
	out[2 * len] = '\0';
	return HK_OK;
}

int
hk_codec_hex_decode(const char *in, size_t len, unsigned char *out,
    size_t outsize, size_t *outlen)
{
	unsigned int ok = ~0u, hi, lo;

	if (len % 2 != 0 || len / 2 > outsize)
		return HK_ERROR;
	for (size_t i = 0; i < len / 2; i++) {
		hi = hk_codec_hexval((unsigned char)in[2 * i], &ok);
		lo = hk_codec_hexval((unsigned char)in[2 * i + 1], &ok);
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	if (!ok)
		return HK_ERROR;
	if (outlen != NULL)
		*outlen = len / 2;
	return HK_OK;
}

int
hk_codec_b64_encode(const void *in, size_t len, char *out, size_t outsize)
{
	const unsigned char *p = in;
	size_t i, o = 0;
	unsigned long w;

	if (outsize == 0 || (outsize - 1) / 4 < (len + 2) / 3)
		return HK_ERROR;
	for (i = 0; i + 3 <= len; i += 3) {
		w = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		out[o++] = hk_codec_b64chars[w >> 18 & 63];
		out[o++] = hk_codec_b64chars[w >> 12 & 63];
		out[o++] = hk_codec_b64chars[w >> 6 & 63];
		out[o++] = hk_codec_b64chars[w & 63];
	}
	if (len - i == 1) {
		w = (unsigned long)p[i] << 16;
		out[o++] = hk_codec_b64chars[w >> 18 & 63];
		out[o++] = hk_codec_b64chars[w >> 12 & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		w = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8;
		out[o++] = hk_codec_b64chars[w >> 18 & 63];
		out[o++] = hk_codec_b64chars[w >> 12 & 63];
		out[o++] = hk_codec_b64chars[w >> 6 & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return HK_OK;
}

int
hk_codec_b64_decode(const char *in, size_t len, unsigned char *out,
    size_t outsize, size_t *outlen)
{
	unsigned int ok = ~0u, a, b, c, d;
	size_t pad = 0, n, i, o = 0;

	if (len % 4 != 0)
		return HK_ERROR;
	if (len > 0 && in[len - 1] == '=')
		pad = (len > 1 && in[len - 2] == '=') ? 2 : 1;
	n = len / 4 * 3 - pad;
	if (n > outsize)
		return HK_ERROR;

	/* Whole quanta; a '=' anywhere in here fails the alphabet check. */
	for (i = 0; i + 4 <= len - (pad ? 4 : 0); i += 4) {
		a = hk_codec_b64val((unsigned char)in[i], &ok);
		b = hk_codec_b64val((unsigned char)in[i + 1], &ok);
		c = hk_codec_b64val((unsigned char)in[i + 2], &ok);
		d = hk_codec_b64val((unsigned char)in[i + 3], &ok);
		out[o++] = (unsigned char)(a << 2 | b >> 4);
		out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
		out[o++] = (unsigned char)((c & 3) << 6 | d);
	}
	if (pad != 0) {
		a = hk_codec_b64val((unsigned char)in[i], &ok);
		b = hk_codec_b64val((unsigned char)in[i + 1], &ok);
		out[o++] = (unsigned char)(a << 2 | b >> 4);
		if (pad == 1) {
			c = hk_codec_b64val((unsigned char)in[i + 2], &ok);
			out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
			/* Bits after the last byte must be zero. */
			ok &= 0u - (unsigned int)((c & 3) == 0);
		} else {
			ok &= 0u - (unsigned int)((b & 15) == 0);
		}
	}
	if (!ok)
		return HK_ERROR;
	if (outlen != NULL)
		*outlen = o;
	return HK_OK;
}

int
hk_codec_ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

int
hk_codec_sha256_hex(const void *buf, size_t len,
    char out[HK_CODEC_SHA256_HEX])
{
	unsigned char md[HK_CODEC_SHA256_LEN];
	unsigned int mdlen = 0;

	if (EVP_Digest(len ? buf : "", len, md, &mdlen, EVP_sha256(),
	    NULL) != 1 || mdlen != sizeof(md))
		return HK_ERROR;
	return hk_codec_hex_encode(md, sizeof(md), out, HK_CODEC_SHA256_HEX);
}

/*
 * hk_codec_hmac_template - an HMAC context with SHA-256 already chosen,
 * made once per process and duplicated per MAC.  Fetching HMAC and setting
 * the digest walk the provider store under locks; done per request they
 * cost several times the MAC of a small body.  The template never holds a
 * key, so a duplicate starts clean.
 */
static EVP_MAC_CTX *
hk_codec_hmac_template(void)
{
	static char digest[] = "SHA256";
	static EVP_MAC_CTX *tmpl;
	OSSL_PARAM params[2];
	EVP_MAC *mac;

	if (tmpl != NULL)
		return tmpl;
	if ((mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)) == NULL)
		return NULL;
	tmpl = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);		/* the context keeps its own reference */
	if (tmpl == NULL)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(tmpl, params) != 1) {
		EVP_MAC_CTX_free(tmpl);
		tmpl = NULL;
	}
	return tmpl;
}

int
hk_codec_hmac_sha256(const void *key, size_t keylen,
    const struct hk_codec_part *parts, size_t nparts,
    unsigned char out[HK_CODEC_SHA256_LEN])
{
	static const unsigned char nokey[1];
	EVP_MAC_CTX *tmpl, *ctx;
	size_t outl = 0;
	int rc = HK_ERROR;

	if ((tmpl = hk_codec_hmac_template()) == NULL)
		return HK_ERROR;
	if ((ctx = EVP_MAC_CTX_dup(tmpl)) == NULL)
		return HK_ERROR;

	/*
	 * A NULL key tells the provider "keep the previous key", which a fresh
	 * context does not have; an empty key must be a real pointer.
	 */
	if (EVP_MAC_init(ctx, keylen ? key : nokey, keylen, NULL) != 1)
		goto out;
	for (size_t i = 0; i < nparts; i++) {
		if (parts[i].len == 0)
			continue;
		if (EVP_MAC_update(ctx, parts[i].ptr, parts[i].len) != 1)
			goto out;
	}
	if (EVP_MAC_final(ctx, out, &outl, HK_CODEC_SHA256_LEN) != 1 ||
	    outl != HK_CODEC_SHA256_LEN)
		goto out;
	rc = HK_OK;
out:
	EVP_MAC_CTX_free(ctx);
	return rc;
}
