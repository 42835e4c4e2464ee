/*
 * codec.h - hex, base64, constant-time comparison, SHA-256 and HMAC-SHA256.
 *
 * Pure functions over caller-owned buffers: no allocation, no global state
 * (apart from the digest and MAC implementations libcrypto fetches once per
 * process).  Decoders are strict, because everything they see arrives in a
 * request header written by someone we do not trust.
 */
#ifndef HK_CODEC_H
#define HK_CODEC_H

#include <stddef.h>

#define HK_CODEC_SHA256_LEN	32
#define HK_CODEC_SHA256_HEX	65	/* 64 digits and the NUL */

/* Room that encoding n bytes needs, the terminating NUL included. */
#define HK_CODEC_HEX_SIZE(n)	((n) * 2 + 1)
#define HK_CODEC_B64_SIZE(n)	(((n) + 2) / 3 * 4 + 1)
/* Most bytes that decoding n base64 characters can produce. */
#define HK_CODEC_B64_MAXDEC(n)	((n) / 4 * 3)

/* One piece of a message that is authenticated without concatenating it. */
struct hk_codec_part {
	const void *ptr;
	size_t      len;
};

/* Lower-case hex of in[0..len) into out, NUL-terminated; HK_ERROR if short. */
int	hk_codec_hex_encode(const void *in, size_t len, char *out,
	    size_t outsize);
/*
 * Decode len hex digits (either case) into out.  HK_ERROR on an odd length,
 * any other character, or when out (outsize bytes) is too small.
 */
int	hk_codec_hex_decode(const char *in, size_t len, unsigned char *out,
	    size_t outsize, size_t *outlen);

/* Standard base64 (RFC 4648 section 4) with padding, NUL-terminated. */
int	hk_codec_b64_encode(const void *in, size_t len, char *out,
	    size_t outsize);
/*
 * Decode standard padded base64.  HK_ERROR unless len is a multiple of 4,
 * every character is in the alphabet, '=' appears only as the final one or
 * two characters, and the unused bits before the padding are zero (so each
 * byte string has exactly one accepted encoding).  No whitespace.
 */
int	hk_codec_b64_decode(const char *in, size_t len, unsigned char *out,
	    size_t outsize, size_t *outlen);

/* 1 if the len bytes at a and b are equal; time depends only on len. */
int	hk_codec_ct_equal(const void *a, const void *b, size_t len);

/* SHA-256 of buf as 64 lower-case hex digits. */
int	hk_codec_sha256_hex(const void *buf, size_t len,
	    char out[HK_CODEC_SHA256_HEX]);

/* HMAC-SHA256 of the concatenation of parts[0..nparts) under key. */
int	hk_codec_hmac_sha256(const void *key, size_t keylen,
	    const struct hk_codec_part *parts, size_t nparts,
	    unsigned char out[HK_CODEC_SHA256_LEN]);

#endif /* HK_CODEC_H */
