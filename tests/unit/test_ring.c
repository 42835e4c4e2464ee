/*
 * test_ring.c - the timing ring: order, wrap-around, lap detection, reader
 * start positions, and a writer and a reader in two processes on a real
 * shared mapping.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "ring.h"
#include "unit.h"

#define CAP          ((uint64_t)HK_RING_RECORDS)
#define AVAIL        HK_RING_READABLE	/* CAP - 1 */
#define TWO_PROC_N   5000000u	/* records written, at least */
#define TWO_PROC_MAX 50000000u	/* ... and at most */
#define OVERLAP      100000u	/* records to accept while the writer runs */

/* Test bookkeeping, in a mapping of its own: the ring is read-only here. */
struct control {
	_Atomic uint64_t during;	/* written by the reader */
	_Atomic uint64_t total;		/* written by the writer, then done */
	_Atomic int      done;
};

/* mix - splitmix64 finalizer: every bit of the record depends on seq. */
static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * rec_sum - checksum of the first seven words of a record.  Cheap, so the
 * writer runs fast enough to lap the reader, and position-dependent, so a
 * record stitched together from two writes does not add up.
 */
static uint64_t
rec_sum(const struct hk_rec *r)
{
	uint64_t w, h = 0;
	unsigned i;

	for (i = 0; i < HK_RING_WORDS - 1; i++) {
		memcpy(&w, (const char *)r + i * 8, 8);
		h ^= (w << (7 * i + 1)) | (w >> (63 - 7 * i));
		h *= 0x100000001b3ull;
	}
	return h;
}

/* rec_make - record number seq; every field depends on seq. */
static void
rec_make(struct hk_rec *r, uint64_t seq)
{
	uint64_t a = mix(seq), sum;
	unsigned i;

	r->ts_us = seq;
	r->kind = (uint8_t)(1 + (seq & 1));
	r->flags = (uint8_t)a;
	r->status = (uint16_t)(a >> 8);
	r->source = (uint16_t)(a >> 24);
	r->dest = (uint16_t)(a >> 40);
	for (i = 0; i < HK_REC_STAGES; i++)
		r->stage_us[i] = (uint32_t)(a >> (4 * i)) ^ i;
	r->bytes = (uint32_t)(a >> 32);
	memcpy(r->id, &a, 8);
	sum = rec_sum(r);
	memcpy(r->id + 8, &sum, 8);
}

/* rec_check - record is intact and is record number seq. */
static int
rec_check(const struct hk_rec *r, uint64_t seq)
{
	uint64_t sum, a = mix(seq);

	memcpy(&sum, r->id + 8, 8);
	return r->ts_us == seq && memcmp(r->id, &a, 8) == 0 &&
	    sum == rec_sum(r);
}

static struct hk_ring *
ring_new(void)
{
	struct hk_ring *r = aligned_alloc(HK_CACHELINE, sizeof(*r));

	if (r != NULL)
		memset(r, 0, sizeof(*r));
	return r;
}

static void
push_n(struct hk_ring *r, uint64_t n)
{
	struct hk_rec rec;
	uint64_t      i, head = hk_ring_head(r);

	for (i = 0; i < n; i++) {
		rec_make(&rec, head + i);
		hk_ring_push(r, &rec);
	}
}

/* read_check - read up to max, checking contents; returns count or -1. */
static long
read_check(struct hk_ring_reader *rd, const struct hk_ring *r,
    struct hk_rec *out, size_t max)
{
	size_t   n, j;
	uint64_t first;

	n = hk_ring_read(rd, r, out, max);
	first = rd->next - n;
	for (j = 0; j < n; j++)
		if (!rec_check(&out[j], first + j))
			return -1;
	return (long)n;
}

static struct hk_rec outbuf[HK_RING_RECORDS];

static void
test_ring_order(void)
{
	struct hk_ring       *r = ring_new();
	struct hk_ring_reader rd;

	HK_CHECK(r != NULL);
	if (r == NULL)
		return;
	hk_ring_reader_init(&rd, r, 1);
	HK_CHECK(rd.next == 0);
	HK_CHECK(hk_ring_read(&rd, r, outbuf, CAP) == 0);
	push_n(r, 100);
	HK_CHECK(hk_ring_head(r) == 100);
	HK_CHECK(read_check(&rd, r, outbuf, CAP) == 100);
	HK_CHECK(outbuf[0].ts_us == 0 && outbuf[99].ts_us == 99);
	HK_CHECK(rd.next == 100 && rd.missed == 0);
	HK_CHECK(hk_ring_read(&rd, r, outbuf, CAP) == 0);

	/* A small buffer takes the records in order, a few at a time. */
	push_n(r, 20);
	HK_CHECK(read_check(&rd, r, outbuf, 7) == 7);
	HK_CHECK(outbuf[0].ts_us == 100);
	HK_CHECK(read_check(&rd, r, outbuf, 7) == 7);
	HK_CHECK(read_check(&rd, r, outbuf, 7) == 6);
	HK_CHECK(outbuf[5].ts_us == 119);
	HK_CHECK(read_check(&rd, r, outbuf, 0) == 0);
	HK_CHECK(rd.missed == 0);
	free(r);
}

static void
test_ring_wrap(void)
{
	struct hk_ring       *r = ring_new();
	struct hk_ring_reader rd;
	uint64_t              total = 0;
	long                  n;
	int                   round;

	HK_CHECK(r != NULL);
	if (r == NULL)
		return;
	hk_ring_reader_init(&rd, r, 0);
	/* 1000 does not divide 4096: the reads straddle the wrap point. */
	for (round = 0; round < 25; round++) {
		push_n(r, 1000);
		while ((n = read_check(&rd, r, outbuf, 333)) > 0)
			total += (uint64_t)n;
		HK_CHECK(n == 0);
	}
	HK_CHECK(total == 25000);
	HK_CHECK(rd.missed == 0);

	/* As far behind as a ring allows: everything still arrives. */
	push_n(r, AVAIL);
	HK_CHECK(read_check(&rd, r, outbuf, CAP) == (long)AVAIL);
	HK_CHECK(rd.missed == 0);
	/* One more and the oldest is lost: its slot is the next to write. */
	push_n(r, CAP);
	HK_CHECK(read_check(&rd, r, outbuf, CAP) == (long)AVAIL);
	HK_CHECK(rd.missed == 1);
	free(r);
}

static void
test_ring_lap(void)
{
	struct hk_ring       *r = ring_new();
	struct hk_ring_reader rd;

	HK_CHECK(r != NULL);
	if (r == NULL)
		return;
	hk_ring_reader_init(&rd, r, 0);
	push_n(r, CAP + 123);
	/*
	 * Exactly the 123 overwritten records are missed, and record 123,
	 * whose slot the writer fills next.
	 */
	HK_CHECK(read_check(&rd, r, outbuf, CAP) == (long)AVAIL);
	HK_CHECK(rd.missed == 124);
	HK_CHECK(outbuf[0].ts_us == 124);
	HK_CHECK(outbuf[AVAIL - 1].ts_us == CAP + 122);

	push_n(r, 3 * CAP + 5);
	HK_CHECK(read_check(&rd, r, outbuf, 10) == 10);
	HK_CHECK(rd.missed == 124 + 2 * CAP + 6);
	HK_CHECK(outbuf[0].ts_us == 3 * CAP + 129);
	HK_CHECK(read_check(&rd, r, outbuf, CAP) == (long)AVAIL - 10);
	HK_CHECK(rd.next == hk_ring_head(r));
	HK_CHECK(rd.missed + AVAIL + AVAIL == hk_ring_head(r));
	free(r);
}

static void
test_ring_from_start(void)
{
	struct hk_ring       *r = ring_new();
	struct hk_ring_reader now, old, late;

	HK_CHECK(r != NULL);
	if (r == NULL)
		return;
	push_n(r, 10);
	hk_ring_reader_init(&now, r, 0);
	hk_ring_reader_init(&old, r, 1);
	HK_CHECK(now.next == 10 && old.next == 0);
	HK_CHECK(hk_ring_read(&now, r, outbuf, CAP) == 0);
	HK_CHECK(read_check(&old, r, outbuf, CAP) == 10);

	push_n(r, 5);
	HK_CHECK(read_check(&now, r, outbuf, CAP) == 5);
	HK_CHECK(outbuf[0].ts_us == 10);

	/* From the start of a full ring: the oldest record still present. */
	push_n(r, 4995);
	hk_ring_reader_init(&late, r, 1);
	HK_CHECK(late.next == 5010 - AVAIL);
	HK_CHECK(read_check(&late, r, outbuf, CAP) == (long)AVAIL);
	HK_CHECK(outbuf[0].ts_us == 5010 - AVAIL && late.missed == 0);

	/* The first reader fell behind by more than a ring. */
	HK_CHECK(read_check(&now, r, outbuf, CAP) == (long)AVAIL);
	HK_CHECK(now.missed == 5010 - AVAIL - 15);
	HK_CHECK(now.next == 5010);
	free(r);
}

static void
test_ring_new_writer(void)
{
	struct hk_ring       *r = ring_new();
	struct hk_ring_reader rd;
	uint64_t              base = (UINT64_C(1) << 40) - 3;

	HK_CHECK(r != NULL);
	if (r == NULL)
		return;
	/*
	 * A process respawned into a long-lived slot: the head is wherever
	 * its predecessor left it, and writing continues from there.
	 */
	atomic_store_explicit(&r->head, base, memory_order_relaxed);
	hk_ring_reader_init(&rd, r, 0);
	push_n(r, 10);
	HK_CHECK(hk_ring_head(r) == base + 10);
	HK_CHECK(read_check(&rd, r, outbuf, CAP) == 10);
	HK_CHECK(outbuf[0].ts_us == base && rd.missed == 0);

	/* A head that went backwards (segment recreated) resets the reader. */
	atomic_store_explicit(&r->head, 5, memory_order_relaxed);
	HK_CHECK(hk_ring_read(&rd, r, outbuf, CAP) == 0);
	HK_CHECK(rd.next == 5);
	free(r);
}

/*
 * ring_writer - the child: write numbered, checksummed records as fast as it
 * can, TWO_PROC_N of them and more until the reader has overlapped enough
 * of the writing, so the test means something even if it started late.
 */
static void
ring_writer(struct hk_ring *r, struct control *ctl)
{
	struct hk_rec rec;
	uint64_t      i;

	for (i = 0; i < TWO_PROC_MAX; i++) {
		if (i >= TWO_PROC_N && i % 1024 == 0 &&
		    atomic_load_explicit(&ctl->during,
		    memory_order_relaxed) >= OVERLAP)
			break;
		rec_make(&rec, i);
		hk_ring_push(r, &rec);
	}
	atomic_store_explicit(&ctl->total, i, memory_order_relaxed);
	/* Release: pairs with the acquire load of done in the reader. */
	atomic_store_explicit(&ctl->done, 1, memory_order_release);
}

static void
test_ring_two_processes(void)
{
	struct hk_ring       *r;
	struct control       *ctl;
	struct hk_ring_reader rd;
	uint64_t              accepted = 0, during = 0, bad = 0, total;
	size_t                sizes[] = { 1, 16, 256, HK_RING_RECORDS };
	struct timespec       nap = { 0, 200000 };
	unsigned              k = 0;
	int                   status, done = 0;
	long                  n;
	pid_t                 pid;

	r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	HK_CHECK(r != MAP_FAILED);
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	HK_CHECK(ctl != MAP_FAILED);
	if (r == MAP_FAILED || ctl == MAP_FAILED)
		return;
	hk_ring_reader_init(&rd, r, 1);

	fflush(stdout);
	pid = fork();
	HK_CHECK(pid >= 0);
	if (pid == 0) {
		ring_writer(r, ctl);
		_exit(0);
	}
	/* Readers never write: prove it by reading through a read-only view. */
	HK_CHECK(mprotect(r, sizeof(*r), PROT_READ) == 0);

	for (;;) {
		/*
		 * Now and then fall behind on purpose, so the writer laps us
		 * both before and during the copy.
		 */
		if (!done && k % 64 == 63)
			nanosleep(&nap, NULL);
		n = read_check(&rd, r, outbuf, sizes[k++ % HK_NELEM(sizes)]);
		if (n < 0) {
			bad++;
			continue;
		}
		accepted += (uint64_t)n;
		if (!done) {
			during += (uint64_t)n;
			/* Relaxed: a progress count for the writer. */
			atomic_store_explicit(&ctl->during, during,
			    memory_order_relaxed);
		}
		if (n > 0)
			continue;
		if (done)
			break;
		/* Acquire: pairs with the release store of done. */
		done = atomic_load_explicit(&ctl->done, memory_order_acquire);
	}
	total = atomic_load_explicit(&ctl->total, memory_order_relaxed);
	HK_CHECK(waitpid(pid, &status, 0) == pid);
	HK_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	HK_CHECK(bad == 0);
	HK_CHECK(total >= TWO_PROC_N);
	HK_CHECK(rd.next == total && hk_ring_head(r) == total);
	HK_CHECK(accepted + rd.missed == total);
	HK_CHECK(during >= OVERLAP || total == TWO_PROC_MAX);
	printf("# two processes: %llu written, %llu accepted (%llu while the "
	    "writer ran), %llu missed\n", (unsigned long long)total,
	    (unsigned long long)accepted, (unsigned long long)during,
	    (unsigned long long)rd.missed);
	munmap(r, sizeof(*r));
	munmap(ctl, sizeof(*ctl));
}

int
main(void)
{
	HK_RUN(test_ring_order);
	HK_RUN(test_ring_wrap);
	HK_RUN(test_ring_lap);
	HK_RUN(test_ring_from_start);
	HK_RUN(test_ring_new_writer);
	HK_RUN(test_ring_two_processes);
	return hk_unit_done();
}
