/*
 * redisurl.h - redis://[user:password@]host[:port][/db] and unix:///path.
 */
#ifndef HK_REDISURL_H
#define HK_REDISURL_H

#include <stddef.h>

struct hk_redisurl {
	char host[256];
	int  port;
	char path[256];			/* unix socket, or "" */
	char user[128];			/* percent-decoded */
	char pass[256];
	int  db;
};

/*
 * HK_OK or HK_ERROR.  As redis-cli does, userinfo without a colon is a
 * password; a missing host is 127.0.0.1, a missing port 6379.
 */
int hk_redisurl_parse(const char *s, struct hk_redisurl *u);

/*
 * "host:port" or "[v6]:port" (a sentinel's address): HK_OK with host (cap
 * bytes) and port, or HK_ERROR.  The port is required.
 */
int hk_redisurl_addr(const char *s, char *host, size_t cap, int *port);

#endif
