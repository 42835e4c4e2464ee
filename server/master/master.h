/*
 * master.h - the master process: sockets, segment, children, signals.
 */
#ifndef HK_MASTER_H
#define HK_MASTER_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "proc.h"
#include "segment.h"

#define HK_MASTER_MAX_SOCKETS  64

/* A set of listening sockets for one address; the old set of a reload
 * that changed the address stays open until its generation is gone. */
struct hk_sockset {
	char      addr[256];
	int       fds[HK_MASTER_MAX_SOCKETS];
	int       n;
	unsigned  generation;		/* last generation that uses it */
};

/*
 * The master's state, one for the process: master.c runs the cycle on it
 * and proc.c the children in procs[], which also needs the sockets (a child
 * closes all but its own) and stopping (a child that dies then is not
 * respawned).
 */
struct hk_master {
	struct hk_conf   *conf;
	struct hk_segment seg;
	struct hk_proc    procs[HK_SHM_SLOTS];	/* index = shm slot */
	unsigned          generation;
	struct hk_sockset ingest[2];		/* [cur], and the old one */
	int               cur;
	int               admin_fd;
	int               old_admin_fd;
	unsigned          old_admin_gen;
	int               stopping;		/* 0, 1 graceful, 2 fast */
	uint64_t          stop_deadline_ns;
	int               pid_written;
	pid_t             pid;			/* after -d, the daemon's */
};

extern struct hk_master hk_master;

/* Run the master until it stops; returns the process exit status. */
int hk_master_main(struct hk_conf *conf, int daemonize);

#endif
