/*
 * test_limscript.c - the lease sizes of the deployment-wide limits, and the
 * script's SHA-1 that EVALSHA names (checked against a digest made here with
 * the same library, and against the shape Redis expects).  What the script
 * does is tested against a real Redis in tests/integration/test_cluster.py.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "limscript.h"
#include "unit.h"

static void
test_limscript_lease(void)
{
	/* 2% of a second's worth, at least one: low rates ask per token. */
	HK_CHECK(hk_limscript_lease(0.5) == 1);
	HK_CHECK(hk_limscript_lease(50) == 1);
	HK_CHECK(hk_limscript_lease(51) == 2);
	HK_CHECK(hk_limscript_lease(200) == 4);
	HK_CHECK(hk_limscript_lease(1000) == 20);
	HK_CHECK(hk_limscript_lease(1000000) == 20000);
}

static void
test_limscript_sha(void)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char          hex[41];
	const char   *sha = hk_limscript_sha();

	HK_CHECK(strlen(sha) == 40);
	for (int i = 0; i < 40; i++)
		HK_CHECK(isxdigit((unsigned char)sha[i]) && !isupper((unsigned char)sha[i]));
	SHA1((const unsigned char *)hk_limscript, hk_limscript_len, md);
	for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	HK_CHECK_STR(sha, hex);
	/* The same buffer every time: callers keep the pointer. */
	HK_CHECK(hk_limscript_sha() == sha);
	HK_CHECK(hk_limscript_len == strlen(hk_limscript));
}

int
main(void)
{
	HK_RUN(test_limscript_lease);
	HK_RUN(test_limscript_sha);
	return hk_unit_done();
}
