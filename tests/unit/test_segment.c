/*
 * test_segment.c - the shared-memory segment: layout, attach, stale and
 * live owners.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"
#include "segment.h"
#include "unit.h"

static char instance[64];

static void
test_layout(void)
{
	/* The parts of the layout are cache-line aligned and in order. */
	HK_CHECK(sizeof(struct hk_shm_header) % HK_CACHELINE == 0);
	HK_CHECK(sizeof(struct hk_shm_slot) % HK_CACHELINE == 0);
	HK_CHECK(offsetof(struct hk_shm_slot, ring) % HK_CACHELINE == 0);
	HK_CHECK(offsetof(struct hk_ring, rec) == HK_CACHELINE);
	HK_CHECK((HK_RING_RECORDS & (HK_RING_RECORDS - 1)) == 0);
	HK_CHECK(sizeof(struct hk_rec) == 64);
}

static void
test_create_attach(void)
{
	struct hk_segment w, r;
	char err[512];

	HK_CHECK(hk_segment_create(&w, instance, err, sizeof(err)) == HK_OK);
	HK_CHECK(w.hdr->magic == HK_SHM_MAGIC);
	HK_CHECK(w.hdr->version == HK_SHM_VERSION);
	HK_CHECK(w.hdr->nslots == HK_SHM_SLOTS);
	HK_CHECK(w.hdr->slots_off % HK_CACHELINE == 0);
	HK_CHECK(w.hdr->snapshot_off % HK_CACHELINE == 0);
	HK_CHECK(w.hdr->buckets_off % HK_CACHELINE == 0);
	HK_CHECK(w.hdr->buckets_off + HK_SHM_BUCKETS
	    * sizeof(struct hk_shm_bucket) == w.hdr->total_size);
	HK_CHECK_STR(w.hdr->instance, instance);
	hk_segment_slot(&w, 5)->index = 77;

	HK_CHECK(hk_segment_attach(&r, instance, err, sizeof(err)) == HK_OK);
	HK_CHECK(r.readonly && r.size == w.size);
	HK_CHECK(hk_segment_slot(&r, 5)->index == 77);
	HK_CHECK(atomic_load(&r.hdr->master_pid) == getpid());
	hk_segment_detach(&r);
	hk_segment_unlink(&w);
	hk_segment_detach(&w);
	HK_CHECK(hk_segment_attach(&r, instance, err, sizeof(err)) == HK_ERROR);
	HK_CHECK(strstr(err, "is hookd running") != NULL);
}

/* A segment whose master died is replaced. */
static void
test_stale_replaced(void)
{
	struct hk_segment a;
	char err[512];
	pid_t pid;
	int status;

	if ((pid = fork()) == 0) {
		struct hk_segment s;

		prctl(PR_SET_NAME, "hookd-test");
		_exit(hk_segment_create(&s, instance, err, sizeof(err)) == HK_OK
		    ? 0 : 1);	/* exits without unlinking, as kill -9 would */
	}
	waitpid(pid, &status, 0);
	HK_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	HK_CHECK(hk_segment_create(&a, instance, err, sizeof(err)) == HK_OK);
	HK_CHECK(atomic_load(&a.hdr->master_pid) == getpid());
	hk_segment_unlink(&a);
	hk_segment_detach(&a);
}

/* A live master's segment is refused, with a message that says so. */
static void
test_live_owner_refused(void)
{
	struct hk_segment a;
	char err[512];
	int pipefd[2], status;
	pid_t pid;

	HK_CHECK(pipe(pipefd) == 0);
	if ((pid = fork()) == 0) {
		struct hk_segment s;

		prctl(PR_SET_NAME, "hookd-test");
		close(pipefd[0]);
		if (hk_segment_create(&s, instance, err, sizeof(err)) != HK_OK)
			_exit(1);
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	{
		char c;

		HK_CHECK(read(pipefd[0], &c, 1) == 1);
	}
	HK_CHECK(hk_segment_create(&a, instance, err, sizeof(err)) == HK_ERROR);
	HK_CHECK(strstr(err, "already running") != NULL);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(pipefd[0]);
	/* Now its owner is dead: the segment is taken over. */
	HK_CHECK(hk_segment_create(&a, instance, err, sizeof(err)) == HK_OK);
	hk_segment_unlink(&a);
	hk_segment_detach(&a);
}

/* A segment of another layout is replaced, not trusted. */
static void
test_bad_version_replaced(void)
{
	struct hk_segment a;
	char err[512];

	HK_CHECK(hk_segment_create(&a, instance, err, sizeof(err)) == HK_OK);
	a.hdr->version = HK_SHM_VERSION + 100;
	atomic_store(&a.hdr->master_pid, 1);	/* init: alive, not hookd */
	hk_segment_detach(&a);
	HK_CHECK(hk_segment_create(&a, instance, err, sizeof(err)) == HK_OK);
	HK_CHECK(a.hdr->version == HK_SHM_VERSION);
	hk_segment_unlink(&a);
	hk_segment_detach(&a);
}

/* A reader refuses a header whose offsets differ, and says which. */
static void
test_bad_offsets_refused(void)
{
	struct hk_segment a, r;
	char err[512];

	HK_CHECK(hk_segment_create(&a, instance, err, sizeof(err)) == HK_OK);
	HK_CHECK(hk_segment_validate(a.hdr, a.size, err, sizeof(err))
	    == HK_OK);
	a.hdr->slots_off = (uint64_t)1 << 40;
	HK_CHECK(hk_segment_attach(&r, instance, err, sizeof(err))
	    == HK_ERROR);
	HK_CHECK(strstr(err, "slots_off") != NULL);
	a.hdr->slots_off = sizeof(struct hk_shm_header);
	a.hdr->snapshot_off += 8;
	HK_CHECK(hk_segment_attach(&r, instance, err, sizeof(err))
	    == HK_ERROR);
	HK_CHECK(strstr(err, "snapshot_off") != NULL);
	a.hdr->snapshot_off -= 8;
	a.hdr->ring_records = 7;
	HK_CHECK(hk_segment_validate(a.hdr, a.size, err, sizeof(err))
	    == HK_ERROR && strstr(err, "ring_records") != NULL);
	a.hdr->ring_records = HK_RING_RECORDS;
	HK_CHECK(hk_segment_attach(&r, instance, err, sizeof(err)) == HK_OK);
	hk_segment_detach(&r);
	hk_segment_unlink(&a);
	hk_segment_detach(&a);
}

int
main(void)
{
	snprintf(instance, sizeof(instance), "unit-%d", (int)getpid());
	HK_RUN(test_layout);
	HK_RUN(test_create_attach);
	HK_RUN(test_stale_replaced);
	HK_RUN(test_live_owner_refused);
	HK_RUN(test_bad_version_replaced);
	HK_RUN(test_bad_offsets_refused);
	return hk_unit_done();
}
