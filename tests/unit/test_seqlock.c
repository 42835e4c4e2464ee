/*
 * test_seqlock.c - a writer process rewrites a struct whose fields must agree
 * with each other; a reader process must never accept a torn copy.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"
#include "seqlock.h"
#include "unit.h"

#define WRITES   400000u	/* at least; more until the reader has read */
#define READS    20000u	/* consistent reads wanted while writes go on */
#define NWORDS   62

/* 512 bytes: large enough that an unguarded copy tears all the time. */
struct payload {
	uint64_t gen;
	uint64_t v[NWORDS];
	uint64_t sum;
};

/* What the writer guards; the reader maps it read-only. */
struct shared {
	struct hk_seqlock lock;
	uint8_t           pad[56];
	struct payload    data;
};

/* Test bookkeeping, outside the guarded mapping. */
struct control {
	_Atomic uint64_t reads;		/* written by the reader */
	_Atomic uint64_t last_gen;	/* written by the writer, then done */
	_Atomic int      done;
};

static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void
payload_make(struct payload *p, uint64_t gen)
{
	unsigned i;

	p->gen = gen;
	p->sum = gen;
	for (i = 0; i < NWORDS; i++) {
		p->v[i] = mix(gen * NWORDS + i);
		p->sum ^= p->v[i];
	}
}

static int
payload_ok(const struct payload *p)
{
	uint64_t sum = p->gen;
	unsigned i;

	for (i = 0; i < NWORDS; i++) {
		if (p->v[i] != mix(p->gen * NWORDS + i))
			return 0;
		sum ^= p->v[i];
	}
	return sum == p->sum;
}

/*
 * writer - the child.  Even generations go through hk_seqlock_write, odd
 * ones are built in place between begin and end, as the stats process may.
 */
static void
writer(struct shared *sh, struct control *ctl)
{
	struct payload p;
	uint64_t       gen;

	/*
	 * Keep writing until the reader has overlapped enough of it, so the
	 * test means something even when the reader starts late.
	 */
	for (gen = 1; gen <= WRITES ||
	    atomic_load_explicit(&ctl->reads, memory_order_relaxed) < READS;
	    gen++) {
		if (gen % 2 == 0) {
			payload_make(&p, gen);
			hk_seqlock_write(&sh->lock, &sh->data, &p, sizeof(p));
		} else {
			hk_seqlock_write_begin(&sh->lock);
			payload_make(&sh->data, gen);
			hk_seqlock_write_end(&sh->lock);
		}
	}
	atomic_store_explicit(&ctl->last_gen, gen - 1, memory_order_relaxed);
	/* Release: pairs with the acquire load of done in the reader. */
	atomic_store_explicit(&ctl->done, 1, memory_order_release);
}

static void
test_seqlock_single(void)
{
	struct shared  sh;
	struct payload p, out;

	memset(&sh, 0, sizeof(sh));
	payload_make(&p, 7);
	hk_seqlock_write(&sh.lock, &sh.data, &p, sizeof(p));
	HK_CHECK(atomic_load(&sh.lock.seq) == 2);
	HK_CHECK(hk_seqlock_read(&sh.lock, &out, &sh.data, sizeof(out), 1) ==
	    HK_OK);
	HK_CHECK(memcmp(&out, &p, sizeof(p)) == 0);

	/* Mid-write, readers give up after max_tries. */
	hk_seqlock_write_begin(&sh.lock);
	HK_CHECK(hk_seqlock_read(&sh.lock, &out, &sh.data, sizeof(out), 3) ==
	    HK_AGAIN);
	/* A writer that died mid-write: its successor still goes odd, even. */
	hk_seqlock_write_begin(&sh.lock);
	HK_CHECK(atomic_load(&sh.lock.seq) % 2 == 1);
	hk_seqlock_write_end(&sh.lock);
	HK_CHECK(atomic_load(&sh.lock.seq) % 2 == 0);
	HK_CHECK(hk_seqlock_read(&sh.lock, &out, &sh.data, sizeof(out), 1) ==
	    HK_OK);

	/* Unaligned and odd-sized data take the byte path. */
	{
		char src[13] = "hello, world", dst[16], back[16];

		hk_seqlock_write(&sh.lock, dst + 1, src, sizeof(src));
		HK_CHECK(hk_seqlock_read(&sh.lock, back + 3, dst + 1,
		    sizeof(src), 1) == HK_OK);
		HK_CHECK_STR(back + 3, "hello, world");
	}
}

static void
test_seqlock_two_processes(void)
{
	struct shared  *sh;
	struct control *ctl;
	struct payload  out, raw;
	uint64_t        ok = 0, again = 0, torn = 0, raw_torn = 0, last = 0;
	uint64_t        backwards = 0;
	int             status, rc;
	pid_t           pid;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	HK_CHECK(sh != MAP_FAILED);
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	HK_CHECK(ctl != MAP_FAILED);
	if (sh == MAP_FAILED || ctl == MAP_FAILED)
		return;

	fflush(stdout);
	pid = fork();
	HK_CHECK(pid >= 0);
	if (pid == 0) {
		writer(sh, ctl);
		_exit(0);
	}
	/* The reader (hookctl) maps the snapshot read-only. */
	HK_CHECK(mprotect(sh, sizeof(*sh), PROT_READ) == 0);

	/* Acquire: pairs with the release store of done in the writer. */
	while (!atomic_load_explicit(&ctl->done, memory_order_acquire)) {
		rc = hk_seqlock_read(&sh->lock, &out, &sh->data, sizeof(out),
		    16);
		if (rc != HK_OK) {
			again++;
			continue;
		}
		if (out.gen == 0)	/* nothing written yet */
			continue;
		ok++;
		/* Relaxed: a progress count, nothing is published by it. */
		atomic_store_explicit(&ctl->reads, ok, memory_order_relaxed);
		if (!payload_ok(&out))
			torn++;
		if (out.gen < last)
			backwards++;
		last = out.gen;

		/* The control: the same copy without the lock. */
		if (ok % 8 == 0) {
			memcpy(&raw, (const void *)&sh->data, sizeof(raw));
			if (raw.gen != 0 && !payload_ok(&raw))
				raw_torn++;
		}
	}
	HK_CHECK(waitpid(pid, &status, 0) == pid);
	HK_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	HK_CHECK(torn == 0);
	HK_CHECK(backwards == 0);
	HK_CHECK(hk_seqlock_read(&sh->lock, &out, &sh->data, sizeof(out), 1) ==
	    HK_OK);
	HK_CHECK(out.gen == atomic_load(&ctl->last_gen) && payload_ok(&out));
	HK_CHECK(ok >= READS);
	printf("# two processes: %llu writes, %llu consistent reads, %llu "
	    "retried out, %llu torn; unguarded control copies torn: %llu\n",
	    (unsigned long long)atomic_load(&ctl->last_gen),
	    (unsigned long long)ok, (unsigned long long)again,
	    (unsigned long long)torn, (unsigned long long)raw_torn);
	munmap(sh, sizeof(*sh));
	munmap(ctl, sizeof(*ctl));
}

int
main(void)
{
	HK_RUN(test_seqlock_single);
	HK_RUN(test_seqlock_two_processes);
	return hk_unit_done();
}
