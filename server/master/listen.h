/*
 * listen.h - listening sockets, opened by the master before any fork.
 */
#ifndef HK_LISTEN_H
#define HK_LISTEN_H

#include <stddef.h>

/*
 * Open a nonblocking TCP socket bound to addr ("host:port", "[v6]:port" or
 * ":port") with SO_REUSEADDR and, when reuseport is set, SO_REUSEPORT, so that
 * several sockets share the address and the kernel spreads connections over
 * them.  Returns the descriptor, or -1 with the reason in err.
 */
int hk_listen_open(const char *addr, int reuseport, int backlog, char *err,
    size_t errlen);

/* Split "host:port" into host (without brackets) and port. */
int hk_listen_split(const char *addr, char *host, size_t hostlen, char *port,
    size_t portlen);

#endif
