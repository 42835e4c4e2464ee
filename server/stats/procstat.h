/*
 * procstat.h - what each child costs the host: CPU time, resident memory,
 * open file descriptors and start time, read by the stats process from
 * /proc/<pid>/stat, /proc/<pid>/statm and /proc/<pid>/fd for the pid of
 * every slot in use, every HK_PROCSTAT_PERIOD_MS.
 *
 * The workers do nothing for it: their pids are in the segment already,
 * and /proc answers for them.  A slot whose process is gone, or whose
 * /proc entry cannot be read (another user's process under a hardened
 * /proc), has no figures (pid 0) and no samples in /metrics.
 */
#ifndef HK_PROCSTAT_H
#define HK_PROCSTAT_H

#include <stdint.h>

#include "layout.h"
#include "segment.h"

#define HK_PROCSTAT_PERIOD_MS   5000

struct hk_procstat_proc {
	int32_t  pid;			/* whose figures these are; 0 none */
	double   cpu_s;			/* user + system */
	int64_t  rss_bytes;
	int64_t  fds;			/* -1 when the fd folder is unreadable */
	double   start_s;		/* Unix time the process started */
};

struct hk_procstat {
	const struct hk_segment *seg;
	long     ticks;			/* clock ticks a second */
	long     page;			/* bytes a page */
	double   boot_s;		/* Unix time the host booted */
	uint64_t sampled_ns;		/* monotonic, 0 never */
	struct hk_procstat_proc proc[HK_SHM_SLOTS];
};

void hk_procstat_init(struct hk_procstat *p, const struct hk_segment *seg);
/* Call once a second: a round every HK_PROCSTAT_PERIOD_MS. */
void hk_procstat_tick(struct hk_procstat *p);
/* CPU time and start time from the text of /proc/<pid>/stat into pr. */
int  hk_procstat_parse(const struct hk_procstat *p, const char *stat,
    struct hk_procstat_proc *pr);
/* The figures of slot i's current process, or NULL. */
const struct hk_procstat_proc *hk_procstat_get(const struct hk_procstat *p,
    unsigned i);

#endif /* HK_PROCSTAT_H */
