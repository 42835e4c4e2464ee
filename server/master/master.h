/*
 * master.h - the master process: sockets, segment, children, signals.
 */
#ifndef HK_MASTER_H
#define HK_MASTER_H

#include "config.h"

/* Run the master until it stops; returns the process exit status. */
int hk_master_main(struct hk_conf *conf, int daemonize);

#endif
