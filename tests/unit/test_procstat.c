/*
 * test_procstat.c - reading /proc/<pid>/stat (server/stats/procstat.c):
 * fields counted from the last ')', whatever the command name holds.
 */

#include "core.h"
#include "procstat.h"
#include "unit.h"

/* A stat line: pid, comm, state, then fields 4..22 (utime 14 = 250,
 * stime 15 = 150, starttime 22 = 12345), then more. */
#define HK_T_TAIL " S 1 2 3 4 5 6 7 8 9 10 250 150 13 14 15 16 17 18 12345 " \
    "4096 100 18446744073709551615"

static void
test_procstat_parse_plain(void)
{
	struct hk_procstat p = { .ticks = 100, .boot_s = 1000 };
	struct hk_procstat_proc pr;

	HK_CHECK(hk_procstat_parse(&p, "42 (hookd)" HK_T_TAIL, &pr) == HK_OK);
	HK_CHECK(pr.cpu_s == 4.0);
	HK_CHECK(pr.start_s == 1000 + 123.45);
}

static void
test_procstat_parse_odd_name(void)
{
	struct hk_procstat p = { .ticks = 100, .boot_s = -1 };
	struct hk_procstat_proc pr;

	/* A name with spaces and parentheses: "a) 9 9 (b". */
	HK_CHECK(hk_procstat_parse(&p, "42 (a) 9 9 (b)" HK_T_TAIL, &pr)
	    == HK_OK);
	HK_CHECK(pr.cpu_s == 4.0);
	HK_CHECK(pr.start_s == -1);	/* boot time unknown */
}

static void
test_procstat_parse_short(void)
{
	struct hk_procstat p = { .ticks = 100, .boot_s = 0 };
	struct hk_procstat_proc pr;

	HK_CHECK(hk_procstat_parse(&p, "42 (hookd) S 1 2 3", &pr) == HK_ERROR);
	HK_CHECK(hk_procstat_parse(&p, "42 hookd S 1 2 3", &pr) == HK_ERROR);
	HK_CHECK(hk_procstat_parse(&p, "42 (hookd)", &pr) == HK_ERROR);
	HK_CHECK(hk_procstat_parse(&p, "", &pr) == HK_ERROR);
}

int
main(void)
{
	HK_RUN(test_procstat_parse_plain);
	HK_RUN(test_procstat_parse_odd_name);
	HK_RUN(test_procstat_parse_short);
	return hk_unit_done();
}
