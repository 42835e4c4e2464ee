/*
 * unit.h - the smallest test harness that tells the truth.
 *
 * A unit test file defines test functions and lists them in main() with
 * HK_RUN(fn).  Each check that fails prints "FAIL name: file:line: expr" and
 * marks the test failed; each test prints one "PASS name" or "FAIL name"
 * line; main returns hk_unit_done(), which prints "N passed, N failed" and is
 * non-zero when anything failed.  tests/run.sh adds those lines up.
 */
#ifndef HK_UNIT_H
#define HK_UNIT_H

#include <stdio.h>
#include <string.h>

static int hk_unit_passed, hk_unit_failed, hk_unit_cur_failed;
static const char *hk_unit_cur;

#define HK_CHECK(expr) do {						\
	if (!(expr)) {							\
		printf("FAIL %s: %s:%d: %s\n", hk_unit_cur, __FILE__,	\
		    __LINE__, #expr);					\
		hk_unit_cur_failed = 1;					\
	}								\
} while (0)

#define HK_CHECK_STR(a, b) do {						\
	const char *hk_a_ = (a), *hk_b_ = (b);				\
	if (hk_a_ == NULL || hk_b_ == NULL || strcmp(hk_a_, hk_b_) != 0) { \
		printf("FAIL %s: %s:%d: \"%s\" != \"%s\"\n", hk_unit_cur, \
		    __FILE__, __LINE__, hk_a_ ? hk_a_ : "(null)",	\
		    hk_b_ ? hk_b_ : "(null)");				\
		hk_unit_cur_failed = 1;					\
	}								\
} while (0)

#define HK_RUN(fn) do {							\
	hk_unit_cur = #fn;						\
	hk_unit_cur_failed = 0;						\
	fn();								\
	if (hk_unit_cur_failed) {					\
		hk_unit_failed++;					\
	} else {							\
		hk_unit_passed++;					\
		printf("PASS %s\n", #fn);				\
	}								\
	fflush(stdout);							\
} while (0)

static inline int
hk_unit_done(void)
{
	printf("%d passed, %d failed\n", hk_unit_passed, hk_unit_failed);
	return hk_unit_failed ? 1 : 0;
}

#endif
