/*
 * test_cidr.c - address blocks and the outbound guard (common/cidr.c).
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "core.h"
#include "unit.h"

/* The guard's verdict on the textual address ip, "" when allowed. */
static const char *
judge(const char *const *allow, int nallow, const char *const *deny,
    int ndeny, const char *ip)
{
	struct hk_cidr a[8], d[8];
	unsigned char addr[16];
	char why[128];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
	const char *r;

	for (int i = 0; i < nallow; i++)
		if (hk_cidr_parse(allow[i], &a[i], why, sizeof(why)) != HK_OK)
			return "bad allow";
	for (int i = 0; i < ndeny; i++)
		if (hk_cidr_parse(deny[i], &d[i], why, sizeof(why)) != HK_OK)
			return "bad deny";
	if (inet_pton(family, ip, addr) != 1)
		return "bad address";
	r = hk_cidr_guard(a, nallow, d, ndeny, family, addr);
	return r == NULL ? "" : r;
}

static void
test_parse_and_match(void)
{
	struct hk_cidr c;
	unsigned char a[16];
	char why[128];

	HK_CHECK(hk_cidr_parse("10.0.0.0/8", &c, why, sizeof(why)) == HK_OK);
	inet_pton(AF_INET, "10.200.1.1", a);
	HK_CHECK(hk_cidr_match(&c, AF_INET, a));
	inet_pton(AF_INET, "11.0.0.1", a);
	HK_CHECK(!hk_cidr_match(&c, AF_INET, a));
	HK_CHECK(hk_cidr_parse("10.0.0.1/8", &c, why, sizeof(why))
	    == HK_ERROR && strstr(why, "10.0.0.0/8") != NULL);
	HK_CHECK(hk_cidr_parse("fd00::/8", &c, why, sizeof(why)) == HK_OK);
	inet_pton(AF_INET6, "fd12::1", a);
	HK_CHECK(hk_cidr_match(&c, AF_INET6, a));
	HK_CHECK(hk_cidr_parse("1.2.3.4/33", &c, why, sizeof(why))
	    == HK_ERROR);
	HK_CHECK(hk_cidr_parse("nope", &c, why, sizeof(why)) == HK_ERROR);
}

static void
test_guard(void)
{
	static const char *lo[] = { "127.0.0.0/8", "::1", "10.0.0.0/8" };
	static const char *one[] = { "127.0.0.5" };

	/* Always refused, whatever allow says. */
	HK_CHECK(strstr(judge(NULL, 0, NULL, 0, "169.254.169.254"),
	    "metadata") != NULL);
	HK_CHECK(strstr(judge(NULL, 0, NULL, 0, "::ffff:169.254.169.254"),
	    "metadata") != NULL);
	HK_CHECK(strstr(judge(NULL, 0, NULL, 0, "64:ff9b::169.254.169.254"),
	    "metadata") != NULL);
	HK_CHECK(strstr(judge(NULL, 0, NULL, 0, "fe80::1"), "link-local")
	    != NULL);
	HK_CHECK(strstr(judge(NULL, 0, NULL, 0, "fd00:ec2::254"), "metadata")
	    != NULL);
	HK_CHECK(*judge(NULL, 0, NULL, 0, "fd00:ec2::255") == '\0');
	/* Judged as what they reach. */
	HK_CHECK(*judge(NULL, 0, lo, 3, "127.0.0.1") != '\0');
	HK_CHECK(*judge(NULL, 0, lo, 3, "0.0.0.0") != '\0');
	HK_CHECK(*judge(NULL, 0, lo, 3, "0.1.2.3") != '\0');
	HK_CHECK(*judge(NULL, 0, lo, 3, "::") != '\0');
	HK_CHECK(*judge(NULL, 0, lo, 3, "::ffff:127.0.0.1") != '\0');
	HK_CHECK(*judge(NULL, 0, lo, 3, "64:ff9b::10.1.2.3") != '\0');
	HK_CHECK(*judge(NULL, 0, lo, 3, "64:ff9b::8.8.8.8") == '\0');
	HK_CHECK(*judge(NULL, 0, lo, 3, "8.8.8.8") == '\0');
	HK_CHECK(*judge(NULL, 0, lo, 3, "2001:db8::1") == '\0');
	/* allow wins over deny. */
	HK_CHECK(*judge(one, 1, lo, 3, "127.0.0.5") == '\0');
	HK_CHECK(*judge(one, 1, lo, 3, "127.0.0.6") != '\0');
	/* Nothing denied: everything but link-local passes. */
	HK_CHECK(*judge(NULL, 0, NULL, 0, "0.0.0.0") == '\0');
}

int
main(void)
{
	HK_RUN(test_parse_and_match);
	HK_RUN(test_guard);
	return hk_unit_done();
}
