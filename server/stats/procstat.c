/*
 * procstat.c - per-process CPU, memory, descriptors and start time from
 * /proc (see procstat.h).
 *
 * The slot's pid is stored relaxed by the master; the load below is
 * relaxed too and pairs with nothing: a pid read just as the master reaps
 * or respawns the slot gives figures of the old process or none, and the
 * next round corrects them.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "core.h"
#include "procstat.h"

/* hk_procstat_btime - the "btime" line of /proc/stat, or -1. */
static double
hk_procstat_btime(void)
{
	char line[256];
	double bt = -1;
	FILE *f;

	if ((f = fopen("/proc/stat", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "btime ", 6) == 0) {
			bt = strtod(line + 6, NULL);
			break;
		}
	fclose(f);
	return bt;
}

void
hk_procstat_init(struct hk_procstat *p, const struct hk_segment *seg)
{
	memset(p, 0, sizeof(*p));
	p->seg = seg;
	p->ticks = sysconf(_SC_CLK_TCK);
	p->page = sysconf(_SC_PAGESIZE);
	if (p->ticks <= 0)
		p->ticks = 100;
	if (p->page <= 0)
		p->page = 4096;
	p->boot_s = hk_procstat_btime();
}

/* hk_procstat_read - read a small /proc file whole; its length, or -1. */
static ssize_t
hk_procstat_read(int pid, const char *file, char *buf, size_t len)
{
	char path[64];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (ssize_t)n;
}

/*
 * hk_procstat_parse - CPU and start time from the text of /proc/<pid>/stat.
 * The command name (field 2) is in parentheses and may hold spaces or
 * parentheses itself: the fields are counted from the last ')'.
 */
int
hk_procstat_parse(const struct hk_procstat *p, const char *stat,
    struct hk_procstat_proc *pr)
{
	const char *s;
	char *end;
	unsigned long long v, utime = 0, stime = 0, start = 0;
	int field;

	if ((s = strrchr(stat, ')')) == NULL)
		return HK_ERROR;
	s++;
	/* Field 3 (state) is a letter; 14 utime, 15 stime, 22 starttime. */
	while (*s == ' ')
		s++;
	if (*s == '\0')
		return HK_ERROR;
	s++;
	for (field = 4; field <= 22; field++) {
		v = strtoull(s, &end, 10);
		if (end == s)
			return HK_ERROR;
		s = end;
		if (field == 14)
			utime = v;
		else if (field == 15)
			stime = v;
		else if (field == 22)
			start = v;
	}
	pr->cpu_s = (double)(utime + stime) / (double)p->ticks;
	pr->start_s = p->boot_s < 0 ? -1
	    : p->boot_s + (double)start / (double)p->ticks;
	return HK_OK;
}

/* hk_procstat_fds - entries of /proc/<pid>/fd, or -1. */
static int64_t
hk_procstat_fds(int pid)
{
	char path[64];
	struct dirent *de;
	int64_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	/* Our own listing holds the folder open: not one of ours to count. */
	if (pid == (int)getpid() && n > 0)
		n--;
	return n;
}

/* hk_procstat_one - the figures of one pid; HK_ERROR when it is gone. */
static int
hk_procstat_one(const struct hk_procstat *p, int pid,
    struct hk_procstat_proc *pr)
{
	char buf[1024];
	unsigned long long size, resident;

	if (hk_procstat_read(pid, "stat", buf, sizeof(buf)) < 0
	    || hk_procstat_parse(p, buf, pr) != HK_OK
	    || hk_procstat_read(pid, "statm", buf, sizeof(buf)) < 0
	    || sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return HK_ERROR;
	pr->rss_bytes = (int64_t)(resident * (unsigned long long)p->page);
	pr->fds = hk_procstat_fds(pid);
	pr->pid = pid;
	return HK_OK;
}

void
hk_procstat_tick(struct hk_procstat *p)
{
	uint64_t now = hk_clock_mono_ns();

	if (p->sampled_ns != 0
	    && now - p->sampled_ns < HK_PROCSTAT_PERIOD_MS * 1000000ull)
		return;
	p->sampled_ns = now;
	for (unsigned i = 0; i < HK_SHM_SLOTS; i++) {
		const struct hk_shm_slot *s = hk_segment_slot(p->seg, i);
		uint32_t st = atomic_load_explicit(&s->state,
		    memory_order_relaxed);
		int pid = atomic_load_explicit(&s->pid, memory_order_relaxed);

		p->proc[i].pid = 0;
		if (st == HK_SLOT_FREE || st == HK_SLOT_DEAD || pid <= 0)
			continue;
		if (hk_procstat_one(p, pid, &p->proc[i]) != HK_OK)
			p->proc[i].pid = 0;
	}
}

const struct hk_procstat_proc *
hk_procstat_get(const struct hk_procstat *p, unsigned i)
{
	const struct hk_shm_slot *s;

	if (i >= HK_SHM_SLOTS || p->proc[i].pid == 0)
		return NULL;
	s = hk_segment_slot(p->seg, i);
	/* Respawned since the round: these figures are the old process's. */
	if (p->proc[i].pid != atomic_load_explicit(&s->pid,
	    memory_order_relaxed))
		return NULL;
	return &p->proc[i];
}
