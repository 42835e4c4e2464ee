/*
 * proc.h - the master's process table, one entry per shm slot, and the
 * mechanics that act on it (proc.c): fork, reap, respawn, watchdog, signal.
 */
#ifndef HK_PROC_H
#define HK_PROC_H

#include <stdint.h>
#include <sys/types.h>

#include "child.h"

struct hk_master;

enum hk_proc_state {
	HK_PROC_FREE = 0,
	HK_PROC_RUNNING,	/* pid is alive */
	HK_PROC_RESPAWN,	/* dead, respawn at respawn_ns */
	HK_PROC_RETIRED,	/* old generation: draining, not respawned */
	HK_PROC_HALTED,		/* exited with status 2: not respawned */
};

struct hk_proc {
	int       state;
	pid_t     pid;
	int       role;
	int       index;
	unsigned  generation;
	int       fd;			/* listening socket handed to it, or -1 */
	int       fails;		/* quick deaths in a row */
	uint64_t  spawn_ns;
	uint64_t  respawn_ns;
	uint64_t  kill_ns;		/* SIGKILL if still alive then; 0 = no */
	hk_child_main_fn main;
};

int  hk_proc_free_slot(struct hk_master *m);
int  hk_proc_spawn(struct hk_master *m, unsigned slot);
void hk_proc_reap(struct hk_master *m);
void hk_proc_respawn_due(struct hk_master *m, uint64_t now);
void hk_proc_watchdog(struct hk_master *m, uint64_t now);
void hk_proc_signal_all(struct hk_master *m, int sig, unsigned gen,
    uint64_t kill_ns);
int  hk_proc_alive(struct hk_master *m, unsigned max_gen);
void hk_proc_retire(struct hk_master *m, uint64_t kill_ns);
void hk_proc_cancel_respawns(struct hk_master *m);

#endif /* HK_PROC_H */
