/*
 * test_ratelimit.c - GCRA with a fake clock, bucket claims and lookups, and
 * two processes sharing one bucket through shared memory.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "core.h"
#include "ratelimit.h"
#include "unit.h"

#define MS  UINT64_C(1000000)
#define SEC UINT64_C(1000000000)

static void
test_ratelimit_exact(void)
{
	struct hk_shm_bucket b;
	uint64_t             t0 = 5 * SEC, t, retry, accepted = 0;
	int                  k;

	memset(&b, 0, sizeof(b));
	/* 100/s, burst 10, hammered 5 times a millisecond for one second. */
	for (t = 0; t <= 1000; t++)
		for (k = 0; k < 5; k++)
			if (hk_ratelimit_take(&b, 100, 10, t0 + t * MS,
			    NULL) == HK_OK)
				accepted++;
	HK_CHECK(accepted == 10 + 100);

	/* After the burst is spent, the wait is one interval, counting down. */
	memset(&b, 0, sizeof(b));
	for (k = 0; k < 10; k++)
		HK_CHECK(hk_ratelimit_take(&b, 100, 10, t0, NULL) == HK_OK);
	retry = 0;
	HK_CHECK(hk_ratelimit_take(&b, 100, 10, t0, &retry) == HK_AGAIN);
	HK_CHECK(retry == 10 * MS);
	HK_CHECK(hk_ratelimit_take(&b, 100, 10, t0 + 3 * MS, &retry) ==
	    HK_AGAIN);
	HK_CHECK(retry == 7 * MS);
	HK_CHECK(hk_ratelimit_take(&b, 100, 10, t0 + 10 * MS - 1, &retry) ==
	    HK_AGAIN);
	HK_CHECK(retry == 1);
	HK_CHECK(hk_ratelimit_take(&b, 100, 10, t0 + 10 * MS, NULL) == HK_OK);
	HK_CHECK(hk_ratelimit_take(&b, 100, 10, t0 + 10 * MS, &retry) ==
	    HK_AGAIN);
	HK_CHECK(retry == 10 * MS);

	/* A long idle spell refills the burst, not more. */
	t = t0 + 60 * SEC;
	for (k = 0; k < 10; k++)
		HK_CHECK(hk_ratelimit_take(&b, 100, 10, t, NULL) == HK_OK);
	HK_CHECK(hk_ratelimit_take(&b, 100, 10, t, NULL) == HK_AGAIN);

	/* No rate: no limit.  A burst below 1 still lets one through. */
	memset(&b, 0, sizeof(b));
	for (k = 0; k < 1000; k++)
		HK_CHECK(hk_ratelimit_take(&b, 0, 0, t0, NULL) == HK_OK);
	HK_CHECK(hk_ratelimit_take(&b, 1, 0, t0, NULL) == HK_OK);
	HK_CHECK(hk_ratelimit_take(&b, 1, 0, t0, &retry) == HK_AGAIN);
	HK_CHECK(retry == SEC);

	/* Fractional rates: one every 4 s. */
	memset(&b, 0, sizeof(b));
	HK_CHECK(hk_ratelimit_take(&b, 0.25, 1, t0, NULL) == HK_OK);
	HK_CHECK(hk_ratelimit_take(&b, 0.25, 1, t0 + 3 * SEC, &retry) ==
	    HK_AGAIN);
	HK_CHECK(retry == SEC);
	HK_CHECK(hk_ratelimit_take(&b, 0.25, 1, t0 + 4 * SEC, NULL) == HK_OK);
}

static void
test_ratelimit_claim(void)
{
	static struct hk_shm_bucket table[4];
	struct hk_shm_bucket       *gh, *st;
	char                        longname[80];

	memset(table, 0, sizeof(table));
	HK_CHECK(hk_ratelimit_bucket(table, 4, "github") == NULL);
	gh = hk_ratelimit_claim(table, 4, "github");
	st = hk_ratelimit_claim(table, 4, "stripe");
	HK_CHECK(gh != NULL && st != NULL && gh != st);
	HK_CHECK_STR(gh->name, "github");
	/* A claim of a name already there returns it, state and all. */
	HK_CHECK(hk_ratelimit_take(gh, 1, 1, SEC, NULL) == HK_OK);
	HK_CHECK(hk_ratelimit_claim(table, 4, "github") == gh);
	HK_CHECK(hk_ratelimit_take(gh, 1, 1, SEC, NULL) == HK_AGAIN);

	HK_CHECK(hk_ratelimit_bucket(table, 4, "github") == gh);
	HK_CHECK(hk_ratelimit_bucket(table, 4, "stripe") == st);
	HK_CHECK(hk_ratelimit_bucket(table, 4, "git") == NULL);
	HK_CHECK(hk_ratelimit_bucket(table, 4, "githubs") == NULL);
	HK_CHECK(hk_ratelimit_bucket(table, 4, "") == NULL);
	HK_CHECK(hk_ratelimit_claim(table, 4, "") == NULL);

	memset(longname, 'x', sizeof(longname));
	longname[64] = '\0';
	HK_CHECK(hk_ratelimit_claim(table, 4, longname) == NULL);
	longname[63] = '\0';
	HK_CHECK(hk_ratelimit_claim(table, 4, longname) != NULL);
	HK_CHECK(hk_ratelimit_bucket(table, 4, longname) != NULL);

	HK_CHECK(hk_ratelimit_claim(table, 4, "shopify") != NULL);
	HK_CHECK(hk_ratelimit_claim(table, 4, "slack") == NULL);	/* full */
	HK_CHECK(hk_ratelimit_bucket(table, 4, "shopify") == &table[3]);
}

#define RATE      2000
#define BURST     20
#define DURATION  (300 * MS)
#define HAMMERS   2

struct arena {
	struct hk_shm_bucket bucket;
	_Atomic uint64_t     accepted[HAMMERS];
	_Atomic int          go;
	uint64_t             start;
};

/* hammer - a worker process: take as fast as possible until the deadline. */
static void
hammer(struct arena *a, int who)
{
	uint64_t now, n = 0;

	/* Acquire: pairs with the release store of go, which covers start. */
	while (!atomic_load_explicit(&a->go, memory_order_acquire))
		;
	while ((now = hk_clock_mono_ns()) < a->start + DURATION)
		if (hk_ratelimit_take(&a->bucket, RATE, BURST, now, NULL) ==
		    HK_OK)
			n++;
	atomic_store_explicit(&a->accepted[who], n, memory_order_relaxed);
}

static void
test_ratelimit_two_processes(void)
{
	struct arena *a;
	uint64_t      total = 0, limit;
	pid_t         pid[HAMMERS];
	int           i, status;

	a = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	HK_CHECK(a != MAP_FAILED);
	if (a == MAP_FAILED)
		return;
	fflush(stdout);
	for (i = 0; i < HAMMERS; i++) {
		pid[i] = fork();
		HK_CHECK(pid[i] >= 0);
		if (pid[i] == 0) {
			hammer(a, i);
			_exit(0);
		}
	}
	a->start = hk_clock_mono_ns();
	/* Release: pairs with the acquire load of go in hammer. */
	atomic_store_explicit(&a->go, 1, memory_order_release);
	for (i = 0; i < HAMMERS; i++) {
		HK_CHECK(waitpid(pid[i], &status, 0) == pid[i]);
		HK_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		total += atomic_load(&a->accepted[i]);
	}
	/*
	 * Every accepted take had start <= now < start + DURATION, and GCRA
	 * allows no more than the burst plus one per interval in that span.
	 */
	limit = BURST + RATE * DURATION / SEC + 1;
	HK_CHECK(total <= limit);
	/*
	 * Both hammered all along, so most of it was taken; the margin is for
	 * a busy machine that keeps them off the CPU for part of the spell.
	 */
	HK_CHECK(total >= limit / 4);
	printf("# two processes: %llu + %llu accepted, limit %llu\n",
	    (unsigned long long)atomic_load(&a->accepted[0]),
	    (unsigned long long)atomic_load(&a->accepted[1]),
	    (unsigned long long)limit);
	munmap(a, sizeof(*a));
}

int
main(void)
{
	HK_RUN(test_ratelimit_exact);
	HK_RUN(test_ratelimit_claim);
	HK_RUN(test_ratelimit_two_processes);
	return hk_unit_done();
}
