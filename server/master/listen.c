/*
 * listen.c - listening sockets.
 *
 * The master opens one socket per ingest worker, all bound to the same
 * address with SO_REUSEPORT, before it forks.  It keeps them open for the
 * life of the instance: when a worker dies, connections the kernel already
 * queued on its socket wait there for the respawned worker instead of being
 * reset, because the socket itself never closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "listen.h"

int
hk_listen_split(const char *addr, char *host, size_t hostlen, char *port,
    size_t portlen)
{
	const char *colon, *end;
	size_t n;

	if (addr[0] == '[') {
		if ((end = strchr(addr, ']')) == NULL || end[1] != ':')
			return HK_ERROR;
		n = (size_t)(end - addr - 1);
		colon = end + 1;
		addr++;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL)
			return HK_ERROR;
		n = (size_t)(colon - addr);
	}
	if (n >= hostlen || strlen(colon + 1) >= portlen || colon[1] == '\0')
		return HK_ERROR;
	memcpy(host, addr, n);
	host[n] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return HK_OK;
}

int
hk_listen_open(const char *addr, int reuseport, int backlog, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	char host[256], port[16];
	int fd = -1, on = 1, rc;

	if (hk_listen_split(addr, host, sizeof(host), port, sizeof(port))
	    != HK_OK) {
		snprintf(err, errlen, "bad listen address \"%s\"", addr);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "getaddrinfo(\"%s\") failed: %s", addr,
		    gai_strerror(rc));
		return -1;
	}
	snprintf(err, errlen, "no usable address for \"%s\"", addr);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK
		    | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			snprintf(err, errlen, "socket() for %s failed: %s",
			    addr, strerror(errno));
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on,
		    sizeof(on)) == -1) {
			snprintf(err, errlen, "setsockopt(SO_REUSEPORT) failed: %s",
			    strerror(errno));
		} else if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			snprintf(err, errlen, "bind(%s) failed: %s", addr,
			    strerror(errno));
		} else if (listen(fd, backlog) == -1) {
			snprintf(err, errlen, "listen(%s) failed: %s", addr,
			    strerror(errno));
		} else {
			break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}
