/*
 * test_control.c - the destination controls' argument checks
 * (common/control.c): names as an array literal, replay selectors, times
 * given as a span back from now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "control.h"
#include "core.h"
#include "unit.h"

static void
test_names(void)
{
	const char *names[] = { "crm", "audit.v2", "a-b_c" };
	char *s = hk_control_names(names, 3);

	HK_CHECK_STR(s, "{\"crm\",\"audit.v2\",\"a-b_c\"}");
	free(s);
	s = hk_control_names(names, 0);
	HK_CHECK_STR(s, "{}");
	free(s);
}

static void
test_status(void)
{
	struct hk_control_replay r = { .since = "2026-12-03T10:00:00Z",
	    .lease_us = 61000000 };
	struct hk_control_replay_args a;
	char err[256];

	HK_CHECK(hk_control_replay_params(&r, "{}", &a, err, sizeof(err))
	    == HK_OK);
	HK_CHECK_STR(a.v[3], "{dead}");		/* the default */
	HK_CHECK_STR(a.v[0], "2026-12-03T10:00:00Z");
	HK_CHECK(a.v[1] == NULL && a.v[9] == NULL && a.v[10] == NULL);
	HK_CHECK_STR(a.v[7], "61000000");	/* the claim lease */
	HK_CHECK_STR(a.v[8], "500");
	r.status = "failed";
	HK_CHECK(hk_control_replay_params(&r, "{}", &a, err, sizeof(err))
	    == HK_OK);
	HK_CHECK_STR(a.v[3], "{retrying,dead}");
	r.status = "all";
	HK_CHECK(hk_control_replay_params(&r, "{}", &a, err, sizeof(err))
	    == HK_OK);
	HK_CHECK_STR(a.v[3], "{succeeded,retrying,dead}");
	r.status = "pending";
	HK_CHECK(hk_control_replay_params(&r, "{}", &a, err, sizeof(err))
	    == HK_ERROR);
	HK_CHECK(strstr(err, "dead, failed or all") != NULL);
	r.status = NULL;
	r.since = NULL;
	HK_CHECK(hk_control_replay_params(&r, "{}", &a, err, sizeof(err))
	    == HK_ERROR);
	HK_CHECK(strstr(err, "since is required") != NULL);
	r.since = "";
	HK_CHECK(hk_control_replay_params(&r, "{}", &a, err, sizeof(err))
	    == HK_ERROR);
}

/* iso_us - the Unix time in microseconds of hk_clock_iso8601's text. */
static uint64_t
iso_us(const char *s)
{
	struct tm tm;
	unsigned us = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6uZ", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us) != 7)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (uint64_t)timegm(&tm) * 1000000u + us;
}

static void
test_spans(void)
{
	static const struct { const char *in; uint64_t back_s; } cases[] = {
		{ "90s", 90 }, { "30m", 1800 }, { "2h", 7200 }, { "7d", 604800 },
	};
	struct hk_control_replay r = { .until = "now" };
	struct hk_control_replay_args a;
	char err[256];
	uint64_t now, got;

	for (size_t i = 0; i < HK_NELEM(cases); i++) {
		r.since = cases[i].in;
		now = hk_clock_real_us();
		HK_CHECK(hk_control_replay_params(&r, "{}", &a, err,
		    sizeof(err)) == HK_OK);
		got = iso_us(a.v[0]);
		HK_CHECK(got != 0);
		HK_CHECK(got + cases[i].back_s * 1000000u >= now - 1000000u);
		HK_CHECK(got + cases[i].back_s * 1000000u <= now + 1000000u);
		HK_CHECK_STR(a.v[1], "now");	/* PostgreSQL reads the rest */
	}
	/* Further back than the epoch: the epoch, not a span that wrapped
	 * (213503983 days in microseconds is 2^64 and 16 hours). */
	r.since = "213503983d";
	HK_CHECK(hk_control_replay_params(&r, "{}", &a, err, sizeof(err))
	    == HK_OK);
	HK_CHECK(strncmp(a.v[0], "1970-01-01T00:00:00", 19) == 0);
	r.since = "999999999d";
	HK_CHECK(hk_control_replay_params(&r, "{}", &a, err, sizeof(err))
	    == HK_OK);
	HK_CHECK(strncmp(a.v[0], "1970-01-01T00:00:00", 19) == 0);
	/* Not a span: passed on as it is. */
	r.since = "2h30m";
	HK_CHECK(hk_control_replay_params(&r, "{}", &a, err, sizeof(err))
	    == HK_OK);
	HK_CHECK_STR(a.v[0], "2h30m");
	r.since = "12x";
	HK_CHECK(hk_control_replay_params(&r, "{}", &a, err, sizeof(err))
	    == HK_OK);
	HK_CHECK_STR(a.v[0], "12x");
}

static void
test_reason(void)
{
	char big[HK_CONTROL_REASON_MAX + 2];

	HK_CHECK(hk_control_reason_ok(NULL));
	HK_CHECK(hk_control_reason_ok("deploy"));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	HK_CHECK(!hk_control_reason_ok(big));
	big[HK_CONTROL_REASON_MAX] = '\0';
	HK_CHECK(hk_control_reason_ok(big));
}

int
main(void)
{
	HK_RUN(test_names);
	HK_RUN(test_status);
	HK_RUN(test_spans);
	HK_RUN(test_reason);
	return hk_unit_done();
}
