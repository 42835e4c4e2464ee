/*
 * test_codec.c - hex, base64, constant-time compare, SHA-256, HMAC-SHA256.
 *
 * Expected values come from the RFCs (4648 for base64, 4231 for HMAC) and
 * from Python's hashlib/hmac, never from the code under test.
 */
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "core.h"
#include "unit.h"

static void
test_hex_roundtrip(void)
{
	unsigned char all[256], back[256];
	char hex[HK_CODEC_HEX_SIZE(256)];
	size_t n = 0;

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	HK_CHECK(hk_codec_hex_encode(all, sizeof(all), hex, sizeof(hex)) ==
	    HK_OK);
	HK_CHECK(strlen(hex) == 512);
	HK_CHECK(strncmp(hex, "000102", 6) == 0);
	HK_CHECK(strcmp(hex + 506, "fdfeff") == 0);
	HK_CHECK(hk_codec_hex_decode(hex, 512, back, sizeof(back), &n) ==
	    HK_OK);
	HK_CHECK(n == 256 && memcmp(all, back, 256) == 0);
}

static void
test_hex_decode(void)
{
	unsigned char out[8];
	size_t n = 0;

	HK_CHECK(hk_codec_hex_decode("DeadBEEF", 8, out, sizeof(out), &n) ==
	    HK_OK);
	HK_CHECK(n == 4 && memcmp(out, "\xde\xad\xbe\xef", 4) == 0);
	HK_CHECK(hk_codec_hex_decode("", 0, out, sizeof(out), &n) == HK_OK);
	HK_CHECK(n == 0);
	HK_CHECK(hk_codec_hex_decode("abc", 3, out, sizeof(out), &n) ==
	    HK_ERROR);
	HK_CHECK(hk_codec_hex_decode("0g", 2, out, sizeof(out), &n) ==
	    HK_ERROR);
	HK_CHECK(hk_codec_hex_decode("0 ", 2, out, sizeof(out), &n) ==
	    HK_ERROR);
	HK_CHECK(hk_codec_hex_decode("/0", 2, out, sizeof(out), &n) ==
	    HK_ERROR);
	HK_CHECK(hk_codec_hex_decode(":0", 2, out, sizeof(out), &n) ==
	    HK_ERROR);
	HK_CHECK(hk_codec_hex_decode("G0", 2, out, sizeof(out), &n) ==
	    HK_ERROR);
	/* 9 bytes do not fit in 8. */
	HK_CHECK(hk_codec_hex_decode("000000000000000000", 18, out,
	    sizeof(out), &n) == HK_ERROR);
}

static void
test_hex_encode_room(void)
{
	char out[5];

	HK_CHECK(hk_codec_hex_encode("ab", 2, out, 5) == HK_OK);
	HK_CHECK_STR(out, "6162");
	HK_CHECK(hk_codec_hex_encode("ab", 2, out, 4) == HK_ERROR);
	HK_CHECK(hk_codec_hex_encode("", 0, out, 1) == HK_OK);
	HK_CHECK_STR(out, "");
	HK_CHECK(hk_codec_hex_encode("", 0, out, 0) == HK_ERROR);
}

/* RFC 4648 section 10. */
static void
test_b64_rfc4648(void)
{
	static const char *plain[] = { "", "f", "fo", "foo", "foob", "fooba",
	    "foobar" };
	static const char *enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
	    "Zm9vYmE=", "Zm9vYmFy" };
	char out[16];
	unsigned char dec[16];
	size_t n;

	for (size_t i = 0; i < HK_NELEM(plain); i++) {
		HK_CHECK(hk_codec_b64_encode(plain[i], strlen(plain[i]), out,
		    sizeof(out)) == HK_OK);
		HK_CHECK_STR(out, enc[i]);
		n = 99;
		HK_CHECK(hk_codec_b64_decode(enc[i], strlen(enc[i]), dec,
		    sizeof(dec), &n) == HK_OK);
		HK_CHECK(n == strlen(plain[i]) &&
		    memcmp(dec, plain[i], n) == 0);
	}
}

static void
test_b64_roundtrip(void)
{
	unsigned char all[256], back[256];
	char enc[HK_CODEC_B64_SIZE(256)];
	size_t n;

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)(255 - i);
	for (size_t len = 0; len <= 256; len++) {
		HK_CHECK(hk_codec_b64_encode(all, len, enc, sizeof(enc)) ==
		    HK_OK);
		HK_CHECK(strlen(enc) == (len + 2) / 3 * 4);
		n = 0;
		HK_CHECK(hk_codec_b64_decode(enc, strlen(enc), back,
		    sizeof(back), &n) == HK_OK);
		HK_CHECK(n == len && memcmp(all, back, len) == 0);
	}
	/* "+/" only show up with high bits set. */
	HK_CHECK(hk_codec_b64_encode("\xfb\xff", 2, enc, sizeof(enc)) == HK_OK);
	HK_CHECK_STR(enc, "+/8=");
}

static void
test_b64_reject(void)
{
	static const char *bad[] = {
		"Zg",		/* no padding */
		"Zg=",		/* short padding */
		"Zg===",	/* too much */
		"Z===",
		"====",
		"Zg==Zg==",	/* padding in the middle */
		"Zm=v",
		"Zh==",		/* non-zero bits after the last byte */
		"Zm9=",
		"Zm9v\n",
		"Zm 9v",
		"Zm9-",		/* URL-safe alphabet is not standard */
		"Zm9_",
		"Zm9v\xc3\xa9==",
	};
	unsigned char out[16];
	size_t n;

	for (size_t i = 0; i < HK_NELEM(bad); i++) {
		int rc = hk_codec_b64_decode(bad[i], strlen(bad[i]), out,
		    sizeof(out), &n);

		if (rc != HK_ERROR)
			printf("accepted \"%s\"\n", bad[i]);
		HK_CHECK(rc == HK_ERROR);
	}
	/* Output room is checked before anything is written. */
	HK_CHECK(hk_codec_b64_decode("Zm9vYmFy", 8, out, 5, &n) == HK_ERROR);
	HK_CHECK(hk_codec_b64_decode("Zm9vYmE=", 8, out, 5, &n) == HK_OK);
	HK_CHECK(n == 5);
	{
		char small[8];

		HK_CHECK(hk_codec_b64_encode("foobar", 6, small, 8) ==
		    HK_ERROR);
		HK_CHECK(hk_codec_b64_encode("fooba", 5, small, 8) ==
		    HK_ERROR);
		HK_CHECK(hk_codec_b64_encode("foob", 4, small, 8) ==
		    HK_ERROR);
		HK_CHECK(hk_codec_b64_encode("foo", 3, small, 5) == HK_OK);
	}
}

static void
test_ct_equal(void)
{
	HK_CHECK(hk_codec_ct_equal("abcdef", "abcdef", 6));
	HK_CHECK(!hk_codec_ct_equal("abcdef", "abcdeg", 6));
	HK_CHECK(!hk_codec_ct_equal("xbcdef", "abcdef", 6));
	HK_CHECK(hk_codec_ct_equal("a", "b", 0));
}

static void
test_sha256_hex(void)
{
	char out[HK_CODEC_SHA256_HEX];

	/* FIPS 180-2 appendix B.1, and the empty string. */
	HK_CHECK(hk_codec_sha256_hex("abc", 3, out) == HK_OK);
	HK_CHECK_STR(out,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	HK_CHECK(hk_codec_sha256_hex(NULL, 0, out) == HK_OK);
	HK_CHECK_STR(out,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* printf '%s' '{"id":"evt_1","type":"ping"}' | sha256sum */
	HK_CHECK(hk_codec_sha256_hex("{\"id\":\"evt_1\",\"type\":\"ping\"}", 28,
	    out) == HK_OK);
	HK_CHECK_STR(out,
	    "67b8c11e34991a4563dc1a506564990d7e41bd2a5e1c6996b426572fc19c1f8a");
}

static void
hex_of(const unsigned char mac[32], char out[65])
{
	hk_codec_hex_encode(mac, 32, out, 65);
}

static void
test_hmac(void)
{
	struct hk_codec_part whole = { "what do ya want for nothing?", 28 };
	struct hk_codec_part split[4] = {
		{ "what do ", 8 }, { NULL, 0 }, { "ya want for", 11 },
		{ " nothing?", 9 },
	};
	struct hk_codec_part empty = { NULL, 0 };
	unsigned char mac[32];
	char hex[65];

	/* RFC 4231 test case 2. */
	HK_CHECK(hk_codec_hmac_sha256("Jefe", 4, &whole, 1, mac) == HK_OK);
	hex_of(mac, hex);
	HK_CHECK_STR(hex,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* The same message in pieces, one of them empty. */
	memset(mac, 0, sizeof(mac));
	HK_CHECK(hk_codec_hmac_sha256("Jefe", 4, split, 4, mac) == HK_OK);
	hex_of(mac, hex);
	HK_CHECK_STR(hex,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/*
	 * /usr/bin/python3 -c 'import hmac,hashlib;
	 *   print(hmac.new(b"",b"",hashlib.sha256).hexdigest())'
	 */
	HK_CHECK(hk_codec_hmac_sha256("", 0, &empty, 1, mac) == HK_OK);
	hex_of(mac, hex);
	HK_CHECK_STR(hex,
	    "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
	/* printf '%s' '{"id":"evt_1","type":"ping"}' |
	 *   openssl dgst -sha256 -hmac hk_test_secret_one */
	whole.ptr = "{\"id\":\"evt_1\",\"type\":\"ping\"}";
	whole.len = 28;
	HK_CHECK(hk_codec_hmac_sha256("hk_test_secret_one", 18, &whole, 1,
	    mac) == HK_OK);
	hex_of(mac, hex);
	HK_CHECK_STR(hex,
	    "ccd50cd7a52b55645ba678823484330e788d7e574bdba3801c9dce00dc3e5253");
}

int
main(void)
{
	HK_RUN(test_hex_roundtrip);
	HK_RUN(test_hex_decode);
	HK_RUN(test_hex_encode_room);
	HK_RUN(test_b64_rfc4648);
	HK_RUN(test_b64_roundtrip);
	HK_RUN(test_b64_reject);
	HK_RUN(test_ct_equal);
	HK_RUN(test_sha256_hex);
	HK_RUN(test_hmac);
	return hk_unit_done();
}
