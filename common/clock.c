/*
 * clock.c - monotonic and wall clocks.
 */
#include <string.h>
#include <time.h>

#include "clock.h"
#include "fmt.h"

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

/*
 * hk_clock_iso8601 - the date and time of a second are formatted once and
 * kept; within that second only the microseconds are written (ingest
 * stamps every request).
 */
void
hk_clock_iso8601(uint64_t real_us, char *buf, size_t len)
{
	static _Thread_local time_t kept_sec = -1;
	static _Thread_local char kept[20];	/* "2026-11-22T10:00:00" */
	time_t    sec = (time_t)(real_us / 1000000u);
	struct tm tm;
	char      out[28], *p;

	if (sec != kept_sec) {
		gmtime_r(&sec, &tm);
		p = hk_fmt_u64w(kept, (uint64_t)tm.tm_year + 1900, 4);
		*p++ = '-';
		p = hk_fmt_u64w(p, (uint64_t)tm.tm_mon + 1, 2);
		*p++ = '-';
		p = hk_fmt_u64w(p, (uint64_t)tm.tm_mday, 2);
		*p++ = 'T';
		p = hk_fmt_u64w(p, (uint64_t)tm.tm_hour, 2);
		*p++ = ':';
		p = hk_fmt_u64w(p, (uint64_t)tm.tm_min, 2);
		*p++ = ':';
		hk_fmt_u64w(p, (uint64_t)tm.tm_sec, 2);
		kept_sec = sec;
	}
	p = hk_fmt_mem(out, kept, 19);
	*p++ = '.';
	p = hk_fmt_u64w(p, real_us % 1000000u, 6);
	*p++ = 'Z';
	*p = '\0';
	if (len > 0) {
		len = len < sizeof(out) ? len : sizeof(out);
		memcpy(buf, out, len - 1);
		buf[len - 1] = '\0';
	}
}
