/*
 * test_fmt.c - the hand-written formatting of the hot path (fmt.h and
 * hk_clock_iso8601) against snprintf(3), which it replaced.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "core.h"
#include "fmt.h"
#include "unit.h"

static void
test_u64(void)
{
	static const uint64_t v[] = { 0, 1, 9, 10, 99, 100, 12345, 4294967296ull,
	    18446744073709551615ull };
	char got[32], want[32], *p;
	int bad = 0;

	for (size_t i = 0; i < HK_NELEM(v); i++) {
		p = hk_fmt_u64(got, v[i]);
		*p = '\0';
		snprintf(want, sizeof(want), "%" PRIu64, v[i]);
		bad += strcmp(got, want) != 0;
	}
	HK_CHECK(bad == 0);
	p = hk_fmt_u64w(got, 7, 3);
	*p = '\0';
	HK_CHECK_STR(got, "007");
	p = HK_FMT_LIT(got, "ab");
	p = hk_fmt_str(p, "cd");
	*p = '\0';
	HK_CHECK_STR(got, "abcd");
}

/* The kept second must never leak into another: every second of a day
 * and then some, forwards and backwards, against gmtime and snprintf. */
static void
test_iso8601(void)
{
	char got[32], want[80];
	struct tm tm;
	time_t sec;
	uint64_t us;
	int bad = 0;

	for (int64_t i = -3000; i < 90000; i += 7) {
		us = (uint64_t)(1764547200 + (i < 0 ? -i * 13 : i)) * 1000000u
		    + (uint64_t)(i * 7919 % 1000000 + (i < 0 ? 1000000 : 0))
		    % 1000000u;
		sec = (time_t)(us / 1000000u);
		gmtime_r(&sec, &tm);
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d."
		    "%06uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(us % 1000000u));
		hk_clock_iso8601(us, got, sizeof(got));
		bad += strcmp(got, want) != 0;
	}
	HK_CHECK(bad == 0);
	/* Short buffers are cut and terminated, as snprintf would. */
	hk_clock_iso8601(1764547200ull * 1000000u + 5, got, 11);
	HK_CHECK_STR(got, "2025-12-01");
	memset(got, 'x', sizeof(got));
	hk_clock_iso8601(1764547200ull * 1000000u + 5, got, 28);
	HK_CHECK_STR(got, "2025-12-01T00:00:00.000005Z");
}

int
main(void)
{
	HK_RUN(test_u64);
	HK_RUN(test_iso8601);
	return hk_unit_done();
}
