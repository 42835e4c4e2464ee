/*
 * segment.c - the shared-memory segment's life: create, validate, attach.
 *
 * The master creates the segment before forking, so every child inherits the
 * mapping; hookctl maps it read-only by name.  A segment is stale when its
 * recorded master no longer runs (kill -9 of the whole tree leaves one) or
 * when its header does not match this build: both are replaced.  A live
 * master's segment is never touched, which is how a second master started by
 * mistake on the same instance is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "core.h"
#include "segment.h"

#define HK_SEGMENT_SNAPSHOT_OFF	(sizeof(struct hk_shm_header) \
	    + (size_t)HK_SHM_SLOTS * sizeof(struct hk_shm_slot))

static size_t
hk_segment_total(void)
{
	return sizeof(struct hk_shm_header)
	    + (size_t)HK_SHM_SLOTS * sizeof(struct hk_shm_slot)
	    + HK_SHM_SNAPSHOT_MAX
	    + (size_t)HK_SHM_BUCKETS * sizeof(struct hk_shm_bucket);
}

static void
hk_segment_name(char *buf, size_t len, const char *instance)
{
	snprintf(buf, len, "/hookd.%s", instance);
}

int
hk_segment_pid_is_hookd(pid_t pid)
{
	char path[64], comm[64];
	FILE *fp;
	int ok = 0;

	if (pid <= 0 || (kill(pid, 0) == -1 && errno != EPERM))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 1;	/* alive; without /proc assume it is ours */
	if (fgets(comm, sizeof(comm), fp) != NULL)
		ok = strncmp(comm, "hookd", 5) == 0;
	fclose(fp);
	return ok;
}

int
hk_segment_validate(const struct hk_shm_header *h, size_t size, char *why,
    size_t whylen)
{
	/* Every size and offset a reader will follow, against this build's
	 * layout: a reader that trusted them could be sent past the mapping. */
	const struct {
		const char *name;
		uint64_t    have, want;
	} f[] = {
		{ "magic", h->magic, HK_SHM_MAGIC },
		{ "layout version", h->version, HK_SHM_VERSION },
		{ "header_size", h->header_size, sizeof(*h) },
		{ "total_size", h->total_size, hk_segment_total() },
		{ "mapped size", size, hk_segment_total() },
		{ "nslots", h->nslots, HK_SHM_SLOTS },
		{ "slot_size", h->slot_size, sizeof(struct hk_shm_slot) },
		{ "ring_records", h->ring_records, HK_RING_RECORDS },
		{ "slots_off", h->slots_off, sizeof(*h) },
		{ "snapshot_off", h->snapshot_off, HK_SEGMENT_SNAPSHOT_OFF },
		{ "snapshot_size", h->snapshot_size, HK_SHM_SNAPSHOT_MAX },
		{ "buckets_off", h->buckets_off,
		    HK_SEGMENT_SNAPSHOT_OFF + HK_SHM_SNAPSHOT_MAX },
		{ "nbuckets", h->nbuckets, HK_SHM_BUCKETS },
	};

	for (size_t i = 0; i < HK_NELEM(f); i++)
		if (f[i].have != f[i].want) {
			snprintf(why, whylen, "%s is %llu where this build "
			    "expects %llu", f[i].name,
			    (unsigned long long)f[i].have,
			    (unsigned long long)f[i].want);
			return HK_ERROR;
		}
	return HK_OK;
}

/*
 * hk_segment_check_stale - decide about an existing segment: HK_OK when it
 * may be replaced, HK_ERROR when a live master owns it.
 */
static int
hk_segment_check_stale(const char *name, char *err, size_t errlen)
{
	struct hk_shm_header *h;
	struct stat st;
	int fd, live = 0;
	pid_t owner = 0;

	if ((fd = shm_open(name, O_RDONLY, 0)) == -1)
		return HK_OK;		/* gone meanwhile */
	if (fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(*h)) {
		h = mmap(NULL, sizeof(*h), PROT_READ, MAP_SHARED, fd, 0);
		if (h != MAP_FAILED) {
			owner = atomic_load_explicit(&h->master_pid,
			    memory_order_relaxed);
			live = h->magic == HK_SHM_MAGIC
			    && hk_segment_pid_is_hookd(owner)
			    && owner != getpid();
			munmap(h, sizeof(*h));
		}
	}
	close(fd);
	if (live) {
		snprintf(err, errlen, "shared memory segment %s belongs to the "
		    "running master pid %d: is this instance already running? "
		    "(set a different \"instance\" to run two)", name,
		    (int)owner);
		return HK_ERROR;
	}
	return HK_OK;
}

static void
hk_segment_init_header(struct hk_segment *seg, const char *instance)
{
	struct hk_shm_header *h = seg->hdr;

	h->magic = HK_SHM_MAGIC;
	h->version = HK_SHM_VERSION;
	h->header_size = sizeof(*h);
	h->total_size = seg->size;
	h->nslots = HK_SHM_SLOTS;
	h->slot_size = sizeof(struct hk_shm_slot);
	h->ring_records = HK_RING_RECORDS;
	h->slots_off = sizeof(*h);
	h->snapshot_off = HK_SEGMENT_SNAPSHOT_OFF;
	h->snapshot_size = HK_SHM_SNAPSHOT_MAX;
	h->buckets_off = h->snapshot_off + HK_SHM_SNAPSHOT_MAX;
	h->nbuckets = HK_SHM_BUCKETS;
	h->created_us = hk_clock_real_us();
	snprintf(h->instance, sizeof(h->instance), "%s", instance);
	/* Publishes the header; hookctl reads master_pid first (relaxed is
	 * enough: readers only use it to tell whether the owner lives). */
	atomic_store_explicit(&h->master_pid, (int32_t)getpid(),
	    memory_order_release);
}

int
hk_segment_create(struct hk_segment *seg, const char *instance, char *err,
    size_t errlen)
{
	int fd, tries;

	memset(seg, 0, sizeof(*seg));
	hk_segment_name(seg->name, sizeof(seg->name), instance);
	seg->size = hk_segment_total();

	for (tries = 0; ; tries++) {
		fd = shm_open(seg->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0640);
		if (fd != -1)
			break;
		if (errno != EEXIST || tries > 0) {
			snprintf(err, errlen, "shm_open(\"%s\") failed: %s",
			    seg->name, strerror(errno));
			return HK_ERROR;
		}
		if (hk_segment_check_stale(seg->name, err, errlen) != HK_OK)
			return HK_ERROR;
		shm_unlink(seg->name);
	}
	if (ftruncate(fd, (off_t)seg->size) == -1) {
		snprintf(err, errlen, "ftruncate(%s, %zu) failed: %s",
		    seg->name, seg->size, strerror(errno));
		close(fd);
		shm_unlink(seg->name);
		return HK_ERROR;
	}
	seg->hdr = mmap(NULL, seg->size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	close(fd);
	if (seg->hdr == MAP_FAILED) {
		snprintf(err, errlen, "mmap(%s) failed: %s", seg->name,
		    strerror(errno));
		shm_unlink(seg->name);
		seg->hdr = NULL;
		return HK_ERROR;
	}
	hk_segment_init_header(seg, instance);
	return HK_OK;
}

int
hk_segment_attach(struct hk_segment *seg, const char *instance, char *err,
    size_t errlen)
{
	char why[128];
	struct stat st;
	void *p;
	int fd;

	memset(seg, 0, sizeof(*seg));
	hk_segment_name(seg->name, sizeof(seg->name), instance);
	seg->readonly = 1;
	if ((fd = shm_open(seg->name, O_RDONLY, 0)) == -1) {
		if (errno == ENOENT)
			snprintf(err, errlen, "no shared memory segment %s: "
			    "is hookd running with instance \"%s\"?",
			    seg->name, instance);
		else
			snprintf(err, errlen, "shm_open(\"%s\") failed: %s",
			    seg->name, strerror(errno));
		return HK_ERROR;
	}
	if (fstat(fd, &st) == -1 || (size_t)st.st_size != hk_segment_total()) {
		snprintf(err, errlen, "segment %s has size %lld, this hookctl "
		    "expects %zu: mismatched hookd and hookctl versions?",
		    seg->name, (long long)st.st_size, hk_segment_total());
		close(fd);
		return HK_ERROR;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	seg->dev = st.st_dev;
	seg->ino = st.st_ino;
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mmap(%s) failed: %s", seg->name,
		    strerror(errno));
		return HK_ERROR;
	}
	seg->hdr = p;
	seg->size = (size_t)st.st_size;
	if (hk_segment_validate(seg->hdr, seg->size, why, sizeof(why))
	    != HK_OK) {
		snprintf(err, errlen, "segment %s is not of this build's layout: "
		    "%s (mismatched hookd and hookctl versions?)", seg->name,
		    why);
		hk_segment_detach(seg);
		return HK_ERROR;
	}
	return HK_OK;
}

int
hk_segment_replaced(const struct hk_segment *seg)
{
	struct stat st;
	int fd, rc;

	if ((fd = shm_open(seg->name, O_RDONLY, 0)) == -1)
		return -1;
	rc = fstat(fd, &st) == -1 ? -1
	    : st.st_dev != seg->dev || st.st_ino != seg->ino;
	close(fd);
	return rc;
}

void
hk_segment_detach(struct hk_segment *seg)
{
	if (seg->hdr != NULL)
		munmap(seg->hdr, seg->size);
	seg->hdr = NULL;
}

void
hk_segment_unlink(struct hk_segment *seg)
{
	shm_unlink(seg->name);
}

/*
 * The parts are found at this build's offsets, which hk_segment_validate
 * held the header to when the segment was attached: an offset read from
 * memory another process can write is never followed.
 */
struct hk_shm_slot *
hk_segment_slot(const struct hk_segment *seg, unsigned i)
{
	return (struct hk_shm_slot *)((char *)seg->hdr
	    + sizeof(struct hk_shm_header)
	    + (size_t)i * sizeof(struct hk_shm_slot));
}

void *
hk_segment_snapshot(const struct hk_segment *seg)
{
	return (char *)seg->hdr + HK_SEGMENT_SNAPSHOT_OFF;
}

struct hk_shm_bucket *
hk_segment_buckets(const struct hk_segment *seg)
{
	return (struct hk_shm_bucket *)((char *)seg->hdr
	    + HK_SEGMENT_SNAPSHOT_OFF + HK_SHM_SNAPSHOT_MAX);
}

const char *
hk_segment_role_name(int role)
{
	static const char *names[] = { "-", "master", "ingest", "delivery",
	    "stats" };

	return role >= 0 && role < (int)HK_NELEM(names) ? names[role] : "?";
}

const char *
hk_segment_state_name(int state)
{
	static const char *names[] = { "free", "starting", "running",
	    "draining", "dead" };

	return state >= 0 && state < (int)HK_NELEM(names) ? names[state] : "?";
}
