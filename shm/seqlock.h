/*
 * seqlock.h - one writer, any number of readers that never write.
 *
 * Guards the stats snapshot: the stats process rewrites it ten times a
 * second, hookctl copies it from a read-only mapping.  A reader cannot block
 * the writer (it never writes to shared memory), and the writer never waits.
 *
 *   writer                              reader
 *   ------                              ------
 *   seq = s + 1 (odd)     relaxed       s1 = seq              acquire
 *   fence                 release  -.   if s1 odd: retry
 *   write the data                   |  copy the data
 *   seq = s + 2 (even)    release --+-> ...
 *                                    '- fence                 acquire
 *                                       s2 = seq              relaxed
 *                                       if s2 != s1: retry
 *
 * The release store ending a write pairs with the reader's first load: a
 * reader that sees an even s1 sees all the data written before it.  The
 * release fence starting a write pairs with the reader's fence: a reader
 * that copied any byte of a newer write sees at least that write's odd
 * sequence in s2, and retries.
 *
 * The data itself must be accessed as relaxed atomics for the concurrent
 * copy not to be a data race under C11; hk_seqlock_write and hk_seqlock_read
 * do that.  A writer may instead build the data in place between
 * hk_seqlock_write_begin and hk_seqlock_write_end with plain stores, as the
 * Linux kernel does: that is formally a race but compiles to the same code.
 *
 * A writer that dies between begin and end leaves the sequence odd; readers
 * then get HK_AGAIN until the next writer (the respawned stats process)
 * completes a write, and write_begin copes with starting from an odd value.
 */
#ifndef HK_SEQLOCK_H
#define HK_SEQLOCK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct hk_seqlock {
	_Atomic uint64_t seq;		/* odd while a write is in progress */
};

void hk_seqlock_write_begin(struct hk_seqlock *sl);
void hk_seqlock_write_end(struct hk_seqlock *sl);
/* begin, copy n bytes from src into the guarded dst, end. */
void hk_seqlock_write(struct hk_seqlock *sl, void *dst, const void *src,
    size_t n);
/*
 * Copy n bytes of guarded data from src into dst.  HK_OK when the copy is
 * consistent; HK_AGAIN when max_tries attempts all overlapped a write (dst
 * then holds garbage).
 */
int  hk_seqlock_read(const struct hk_seqlock *sl, void *dst, const void *src,
    size_t n, int max_tries);

#endif /* HK_SEQLOCK_H */
