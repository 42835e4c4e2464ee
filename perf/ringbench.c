/*
 * ringbench.c - what recording one timing record costs a worker.
 *
 *   ringbench [--json] [-n RECORDS] [-r RUNS]
 *
 * Pushes RECORDS (default 50,000,000) records into a ring in a shared
 * mapping and reports nanoseconds per record, best of RUNS (default 5):
 * once with the writer alone, once with a reader process draining the ring
 * without pause.  The second case is the worst case for the writer: the
 * ring head's cache line is pulled away by every read, where the stats
 * process reads ten times a second.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "ring.h"

#define BENCH_RECS 64		/* distinct records pushed in turn */

struct bench_control {
	_Atomic int      stop;		/* parent tells the reader to finish */
	_Atomic uint64_t accepted;	/* reader's totals, written on exit */
	_Atomic uint64_t missed;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * bench_write - push n records; ns per record.
 *
 * The records are built before the clock starts, as a worker's are: it
 * fills one in over the life of a request and pushes it at the end.  Built
 * in the loop, just before the push, the freshly stored narrow fields would
 * be read back as whole words and stall store-to-load forwarding, a cost
 * of the benchmark rather than of the ring.
 */
static double
bench_write(struct hk_ring *r, uint64_t n)
{
	static struct hk_rec recs[BENCH_RECS];
	uint64_t             i, t0, t1;

	for (i = 0; i < BENCH_RECS; i++) {
		memset(&recs[i], 0, sizeof(recs[i]));
		recs[i].ts_us = i;
		recs[i].kind = HK_REC_INGEST;
		recs[i].status = 202;
		recs[i].stage_us[HK_STAGE_TOTAL] = (uint32_t)(100 + i);
	}
	t0 = now_ns();
	for (i = 0; i < n; i++)
		hk_ring_push(r, &recs[i % BENCH_RECS]);
	t1 = now_ns();
	return (double)(t1 - t0) / (double)n;
}

static double
bench_best(struct hk_ring *r, uint64_t n, int runs)
{
	double best = 0, ns;
	int    i;

	for (i = 0; i < runs; i++) {
		ns = bench_write(r, n);
		if (i == 0 || ns < best)
			best = ns;
	}
	return best;
}

/* bench_reader - the child: drain the ring until told to stop. */
static void
bench_reader(const struct hk_ring *r, struct bench_control *ctl)
{
	static struct hk_rec  buf[256];
	struct hk_ring_reader rd;
	uint64_t              accepted = 0;

	hk_ring_reader_init(&rd, r, 0);
	/* Relaxed: only a stop request; nothing is published through it. */
	while (!atomic_load_explicit(&ctl->stop, memory_order_relaxed))
		accepted += hk_ring_read(&rd, r, buf, HK_NELEM(buf));
	atomic_store_explicit(&ctl->accepted, accepted, memory_order_relaxed);
	atomic_store_explicit(&ctl->missed, rd.missed, memory_order_relaxed);
}

static void
usage(void)
{
	fprintf(stderr, "usage: ringbench [--json] [-n RECORDS] [-r RUNS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct hk_ring       *r;
	struct bench_control *ctl;
	uint64_t              n = 50000000;
	double                alone, shared;
	int                   json = 0, runs = 5, i, status;
	pid_t                 pid;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else
			usage();
	}
	if (n == 0 || runs < 1)
		usage();

	r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED || ctl == MAP_FAILED) {
		fprintf(stderr, "ringbench: mmap: %s\n", strerror(errno));
		return 1;
	}

	alone = bench_best(r, n, runs);

	fflush(stdout);
	if ((pid = fork()) == -1) {
		fprintf(stderr, "ringbench: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		bench_reader(r, ctl);
		_exit(0);
	}
	shared = bench_best(r, n, runs);
	atomic_store_explicit(&ctl->stop, 1, memory_order_relaxed);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "ringbench: the reader process failed\n");
		return 1;
	}

	if (json)
		printf("{\"bench\":\"ring\",\"records\":%llu,\"runs\":%d,"
		    "\"ns_per_record_alone\":%.2f,"
		    "\"ns_per_record_with_reader\":%.2f,"
		    "\"reader_accepted\":%llu,\"reader_missed\":%llu}\n",
		    (unsigned long long)n, runs, alone, shared,
		    (unsigned long long)atomic_load(&ctl->accepted),
		    (unsigned long long)atomic_load(&ctl->missed));
	else
		printf("ring: %.1f ns/record (writer alone), %.1f ns/record "
		    "(with reader)\n", alone, shared);
	return 0;
}
