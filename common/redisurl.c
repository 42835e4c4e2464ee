/*
 * redisurl.c - parse redis:// and unix:// URLs, once for every process
 * that talks to Redis (ingest, delivery, stats) and for the config check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "redisurl.h"

/* hk_redisurl_unescape - percent-decode a URL's user or password. */
static int
hk_redisurl_unescape(char *dst, size_t cap, const char *s, size_t len)
{
	size_t n = 0;
	unsigned v;

	for (size_t i = 0; i < len; i++) {
		if (n + 1 >= cap)
			return HK_ERROR;
		if (s[i] == '%' && i + 2 < len && sscanf(s + i + 1, "%2x",
		    &v) == 1) {
			dst[n++] = (char)v;
			i += 2;
		} else
			dst[n++] = s[i];
	}
	dst[n] = '\0';
	return HK_OK;
}

/* hk_redisurl_host - "host", "host:port", "[v6]" or "[v6]:port". */
static int
hk_redisurl_host(struct hk_redisurl *u, const char *p, const char *end)
{
	const char *colon, *h = p;
	size_t hlen;
	char *e;
	long port;

	if (*p == '[') {
		if ((colon = memchr(p, ']', (size_t)(end - p))) == NULL)
			return HK_ERROR;
		h = p + 1;
		hlen = (size_t)(colon - h);
		colon = colon + 1 < end && colon[1] == ':' ? colon + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		hlen = (size_t)((colon ? colon : end) - p);
	}
	if (hlen >= sizeof(u->host))
		return HK_ERROR;
	if (hlen == 0)
		snprintf(u->host, sizeof(u->host), "127.0.0.1");
	else
		snprintf(u->host, sizeof(u->host), "%.*s", (int)hlen, h);
	if (colon != NULL) {
		port = strtol(colon + 1, &e, 10);
		if (e != end || port < 1 || port > 65535)
			return HK_ERROR;
		u->port = (int)port;
	}
	return HK_OK;
}

int
hk_redisurl_parse(const char *s, struct hk_redisurl *u)
{
	const char *p, *end, *at, *colon;
	char *e;
	long db;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (s == NULL)
		return HK_ERROR;
	if (strncmp(s, "unix://", 7) == 0) {
		if (s[7] != '/' || strlen(s + 7) >= sizeof(u->path))
			return HK_ERROR;
		snprintf(u->path, sizeof(u->path), "%s", s + 7);
		return HK_OK;
	}
	if (strncmp(s, "redis://", 8) != 0)
		return HK_ERROR;
	p = s + 8;
	end = p + strcspn(p, "/");
	if ((at = memrchr(p, '@', (size_t)(end - p))) != NULL) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (colon != NULL && hk_redisurl_unescape(u->user,
		    sizeof(u->user), p, (size_t)(colon - p)) != HK_OK)
			return HK_ERROR;
		p = colon != NULL ? colon + 1 : p;
		if (hk_redisurl_unescape(u->pass, sizeof(u->pass), p,
		    (size_t)(at - p)) != HK_OK)
			return HK_ERROR;
		p = at + 1;
	}
	if (hk_redisurl_host(u, p, end) != HK_OK)
		return HK_ERROR;
	if (*end == '/' && end[1] != '\0') {
		db = strtol(end + 1, &e, 10);
		if (*e != '\0' || db < 0 || db > 1000000)
			return HK_ERROR;
		u->db = (int)db;
	}
	return HK_OK;
}

int
hk_redisurl_addr(const char *s, char *host, size_t cap, int *port)
{
	struct hk_redisurl u;

	memset(&u, 0, sizeof(u));
	u.port = 0;
	if (s == NULL || s[0] == '\0' || s[0] == ':'
	    || hk_redisurl_host(&u, s, s + strlen(s)) != HK_OK || u.port == 0
	    || strlen(u.host) >= cap)
		return HK_ERROR;
	snprintf(host, cap, "%s", u.host);
	*port = u.port;
	return HK_OK;
}
