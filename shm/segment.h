/*
 * segment.h - create, attach and remove the segment /hookd.<instance>.
 */
#ifndef HK_SEGMENT_H
#define HK_SEGMENT_H

#include <stddef.h>
#include <sys/types.h>

#include "layout.h"

struct hk_segment {
	struct hk_shm_header *hdr;
	size_t   size;
	int      readonly;
	char     name[80];		/* "/hookd.<instance>" */
	dev_t    dev;			/* which segment this is: a */
	ino_t    ino;			/* restarted hookd makes anew */
};

/*
 * Master: create the segment.  A segment left by a dead master, or one with a
 * bad magic, version or size, is unlinked and recreated.  One whose master is
 * alive makes this fail with a message in err (HK_ERROR).
 */
int  hk_segment_create(struct hk_segment *seg, const char *instance,
    char *err, size_t errlen);
/* Readers (hookctl): map an existing segment read-only. */
int  hk_segment_attach(struct hk_segment *seg, const char *instance,
    char *err, size_t errlen);
void hk_segment_detach(struct hk_segment *seg);
/*
 * Readers: has the name been given to another segment since seg was
 * mapped (hookd restarted)?  1 yes, 0 no, -1 when there is none now.
 */
int  hk_segment_replaced(const struct hk_segment *seg);
void hk_segment_unlink(struct hk_segment *seg);

struct hk_shm_slot *hk_segment_slot(const struct hk_segment *seg, unsigned i);
void *hk_segment_snapshot(const struct hk_segment *seg);
struct hk_shm_bucket *hk_segment_buckets(const struct hk_segment *seg);

/* True when pid is a live process whose command name starts with "hookd". */
int  hk_segment_pid_is_hookd(pid_t pid);
/*
 * Does the header h of a mapping of size bytes describe this build's
 * layout, every size and offset of it?  HK_OK, or HK_ERROR with what
 * differs in why ("slots_off is 8 where this build expects 4096").
 */
int  hk_segment_validate(const struct hk_shm_header *h, size_t size,
    char *why, size_t whylen);
const char *hk_segment_role_name(int role);
const char *hk_segment_state_name(int state);

#endif
