/*
 * notify.c - sd_notify by hand: one datagram to $NOTIFY_SOCKET per state.
 *
 * The protocol is small enough that linking libsystemd for it would cost
 * more than it saves: newline-separated VAR=value lines in one datagram,
 * sent to a unix socket whose address starts with '/' (a path) or '@' (the
 * abstract namespace, where the '@' stands for a leading NUL byte).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "notify.h"

static struct {
	int                fd;		/* -1: no service manager */
	struct sockaddr_un addr;
	socklen_t          addrlen;
} hk_notify = { -1, { 0 }, 0 };

int
hk_notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	if (path == NULL || path[0] == '\0')
		return HK_OK;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len < 2
	    || len >= sizeof(hk_notify.addr.sun_path)) {
		hk_log_warn("NOTIFY_SOCKET=\"%s\" is not a unix socket address "
		    "hookd knows (a path or @abstract); not notifying", path);
		return HK_ERROR;
	}
	memset(&hk_notify.addr, 0, sizeof(hk_notify.addr));
	hk_notify.addr.sun_family = AF_UNIX;
	memcpy(hk_notify.addr.sun_path, path, len);
	if (path[0] == '@')
		hk_notify.addr.sun_path[0] = '\0';
	/* An abstract name is exactly its bytes, with no NUL at the end. */
	hk_notify.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path)
	    + len + (path[0] == '/'));
	hk_notify.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (hk_notify.fd == -1) {
		hk_log_errno("socket(AF_UNIX, SOCK_DGRAM) for NOTIFY_SOCKET");
		return HK_ERROR;
	}
	/* The children have nothing to tell the service manager. */
	unsetenv("NOTIFY_SOCKET");
	return HK_OK;
}

int
hk_notify_send(const char *state)
{
	ssize_t n;

	if (hk_notify.fd == -1)
		return HK_OK;
	do
		n = sendto(hk_notify.fd, state, strlen(state), MSG_NOSIGNAL,
		    (const struct sockaddr *)&hk_notify.addr, hk_notify.addrlen);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		hk_log_errno("sendto(NOTIFY_SOCKET) \"%.*s\"",
		    (int)strcspn(state, "\n"), state);
		return HK_ERROR;
	}
	hk_log_debug("notified the service manager: %.*s",
	    (int)strcspn(state, "\n"), state);
	return HK_OK;
}

void
hk_notify_close(void)
{
	if (hk_notify.fd != -1)
		close(hk_notify.fd);
	hk_notify.fd = -1;
}
