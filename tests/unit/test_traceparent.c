/*
 * test_traceparent.c - which W3C traceparent values hookd forwards
 * (common/traceparent.c).
 */
#include <string.h>

#include "traceparent.h"
#include "unit.h"

#define V(s)	hk_traceparent_valid((s), strlen(s))

static void
test_valid(void)
{
	HK_CHECK(V("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
	HK_CHECK(V("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
	/* A later version may carry more fields after the flags. */
	HK_CHECK(V("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
	HK_CHECK(V("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"));
}

static void
test_invalid(void)
{
	char big[HK_TRACEPARENT_MAX + 8];

	HK_CHECK(!V(""));
	HK_CHECK(!V("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"));
	HK_CHECK(!V("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"));
	HK_CHECK(!V("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
	HK_CHECK(!V("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
	HK_CHECK(!V("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
	HK_CHECK(!V("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
	HK_CHECK(!V("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
	HK_CHECK(!V("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
	HK_CHECK(!V("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
	HK_CHECK(!V("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
	HK_CHECK(!V("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz"));
	/* Two headers joined by the ingest worker, as HTTP allows. */
	HK_CHECK(!V("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01, "
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
	memset(big, 'a', sizeof(big));
	memcpy(big, "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
	    56);
	HK_CHECK(hk_traceparent_valid(big, HK_TRACEPARENT_MAX - 1));
	HK_CHECK(!hk_traceparent_valid(big, HK_TRACEPARENT_MAX));
}

int
main(void)
{
	HK_RUN(test_valid);
	HK_RUN(test_invalid);
	return hk_unit_done();
}
