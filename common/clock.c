/*
 * clock.c - monotonic and wall clocks.
 */
#include <stdio.h>
#include <time.h>

#include "clock.h"

uint64_t
hk_clock_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
hk_clock_real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
hk_clock_real_ms(void)
{
	return hk_clock_real_us() / 1000u;
}

void
hk_clock_iso8601(uint64_t real_us, char *buf, size_t len)
{
	time_t    sec = (time_t)(real_us / 1000000u);
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (unsigned)(real_us % 1000000u));
}
