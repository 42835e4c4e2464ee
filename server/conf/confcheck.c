/*
 * confcheck.c - syntax checks for the values of configuration keys.
 *
 * Nothing here resolves a name or opens a socket: "-t" must answer the same
 * on a laptop without the production DNS as on the host that runs hookd.
 * A host name is therefore only checked for its characters; whether it
 * resolves is found out when hookd binds or connects, and reported there.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "cidr.h"
#include "confcheck.h"
#include "core.h"
#include "redisurl.h"
#include "verify.h"

/*
 * Headers hookd writes itself on every outbound request: a second copy from
 * the configuration would break the framing (Content-Length,
 * Transfer-Encoding), the original content type, or the signature.
 */
static const char *hk_confcheck_reserved[] = {
	"connection", "content-length", "content-type", "transfer-encoding",
	"webhook-id", "webhook-signature", "webhook-timestamp",
};

/* hk_confcheck_why - fill why and return HK_ERROR, for one-line returns. */
static int __attribute__((format(printf, 3, 4)))
hk_confcheck_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return HK_ERROR;
}

/* hk_confcheck_tchar - a character allowed in an RFC 9110 token. */
static int
hk_confcheck_tchar(int c)
{
	return isalnum(c)
	    || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* hk_confcheck_class - every character alphanumeric or in extra. */
static int
hk_confcheck_class(const char *s, const char *extra, char *why, size_t whylen)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (!isalnum(*p) && strchr(extra, *p) == NULL)
			return hk_confcheck_why(why, whylen, "\"%s\" may only "
			    "contain letters, digits and \"%s\"", s, extra);
	return HK_OK;
}

int
hk_confcheck_instance(const char *s, char *why, size_t whylen)
{
	return hk_confcheck_class(s, "_-", why, whylen);
}

int
hk_confcheck_name(const char *s, char *why, size_t whylen)
{
	return hk_confcheck_class(s, "_.-", why, whylen);
}

int
hk_confcheck_visible(const char *s, char *why, size_t whylen)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return hk_confcheck_why(why, whylen, "white space and "
			    "control characters are not allowed");
	return HK_OK;
}

int
hk_confcheck_text(const char *s, char *why, size_t whylen)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return hk_confcheck_why(why, whylen, "control "
			    "characters are not allowed");
	return HK_OK;
}

/* hk_confcheck_port - n decimal digits at s, 1..65535. */
static int
hk_confcheck_port(const char *s, size_t n, char *why, size_t whylen)
{
	long port = 0;

	if (n == 0)
		return hk_confcheck_why(why, whylen, "the port is missing");
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return hk_confcheck_why(why, whylen, "the port "
			    "\"%.*s\" is not a number", (int)n, s);
		if (port <= 65535)
			port = port * 10 + (s[i] - '0');
	}
	if (port < 1 || port > 65535)
		return hk_confcheck_why(why, whylen, "port %.*s is out of "
		    "range (1..65535)", (int)n, s);
	return HK_OK;
}

/*
 * hk_confcheck_host - an IPv4 literal or a host name of n bytes at s; an
 * IPv6 literal comes here without its brackets.  URLs may carry "_", which
 * container runtimes put in service names; listen addresses may not.
 */
static int
hk_confcheck_host(const char *s, size_t n, int v6, const char *extra,
    char *why, size_t whylen)
{
	char buf[256];
	unsigned char addr[16];

	if (n == 0)
		return hk_confcheck_why(why, whylen, "the host is missing");
	if (n >= sizeof(buf))
		return hk_confcheck_why(why, whylen, "the host name is too "
		    "long");
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (v6) {
		if (inet_pton(AF_INET6, buf, addr) != 1)
			return hk_confcheck_why(why, whylen, "\"%s\" is not an "
			    "IPv6 address", buf);
		return HK_OK;
	}
	if (strchr(buf, ':') != NULL)
		return hk_confcheck_why(why, whylen, "an IPv6 address must be "
		    "written in brackets, as in [::1]:8080");
	if (strspn(buf, "0123456789.") == n) {
		if (inet_pton(AF_INET, buf, addr) != 1)
			return hk_confcheck_why(why, whylen, "\"%s\" is not an "
			    "IPv4 address", buf);
		return HK_OK;
	}
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)buf[i])
		    && strchr(extra, buf[i]) == NULL)
			return hk_confcheck_why(why, whylen, "\"%s\" is not a "
			    "host name", buf);
	if (buf[0] == '.' || buf[0] == '-' || strstr(buf, "..") != NULL)
		return hk_confcheck_why(why, whylen, "\"%s\" is not a host "
		    "name", buf);
	return HK_OK;
}

/*
 * hk_confcheck_hostport - "host", "host:port", "[v6]" or "[v6]:port" in
 * s[0..n).  need_port: the port is mandatory.
 */
static int
hk_confcheck_hostport(const char *s, size_t n, int need_port,
    const char *extra, char *why, size_t whylen)
{
	const char *end = s + n, *close, *colon;

	if (n > 0 && s[0] == '[') {
		if ((close = memchr(s, ']', n)) == NULL)
			return hk_confcheck_why(why, whylen, "\"[\" without "
			    "\"]\"");
		if (hk_confcheck_host(s + 1, (size_t)(close - s - 1), 1, extra,
		    why, whylen) != HK_OK)
			return HK_ERROR;
		colon = close + 1 < end ? close + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return hk_confcheck_why(why, whylen, "expected "
			    "\":port\" after \"]\"");
	} else {
		colon = memchr(s, ':', n);
		if (colon != NULL
		    && memchr(colon + 1, ':', (size_t)(end - colon - 1)) != NULL)
			return hk_confcheck_why(why, whylen, "an IPv6 address "
			    "must be written in brackets, as in [::1]:8080");
		if (hk_confcheck_host(s, colon ? (size_t)(colon - s) : n, 0,
		    extra, why, whylen) != HK_OK)
			return HK_ERROR;
	}
	if (colon == NULL)
		return need_port ? hk_confcheck_why(why, whylen, "the port is "
		    "missing") : HK_OK;
	return hk_confcheck_port(colon + 1, (size_t)(end - colon - 1), why,
	    whylen);
}

int
hk_confcheck_listen(const char *s, char *why, size_t whylen)
{
	const char *colon;

	if (s[0] == '[')
		return hk_confcheck_hostport(s, strlen(s), 1, ".-", why,
		    whylen);
	if ((colon = strrchr(s, ':')) == NULL)
		return hk_confcheck_why(why, whylen, "expected host:port, "
		    "[address]:port or :port");
	if (colon == s)		/* ":port": every address */
		return hk_confcheck_port(s + 1, strlen(s + 1), why, whylen);
	return hk_confcheck_hostport(s, strlen(s), 1, ".-", why, whylen);
}

/* hk_confcheck_sentinel - "host:port" or "[v6]:port" of a Redis Sentinel. */
int
hk_confcheck_sentinel(const char *s, char *why, size_t whylen)
{
	if (s[0] == ':')
		return hk_confcheck_why(why, whylen, "the host is missing; "
		    "expected host:port or [address]:port");
	return hk_confcheck_hostport(s, strlen(s), 1, ".-", why, whylen);
}

/* hk_confcheck_digits - s[0..n) all decimal digits (n may be 0). */
static int
hk_confcheck_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* hk_confcheck_escapes - every '%' in s[0..n) starts a %XX escape. */
static int
hk_confcheck_escapes(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%')
			continue;
		if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1])
		    || !isxdigit((unsigned char)s[i + 2]))
			return 0;
	}
	return 1;
}

int
hk_confcheck_redis_url(const char *s, char *why, size_t whylen)
{
	struct hk_redisurl u;
	const char *host, *at, *slash;
	char sub[128];

	if (hk_confcheck_text(s, why, whylen) != HK_OK)
		return HK_ERROR;
	if (strncmp(s, "unix://", 7) == 0) {
		if (s[7] != '/' || s[8] == '\0')
			return hk_confcheck_why(why, whylen, "expected an "
			    "absolute socket path after unix://");
		return HK_OK;
	}
	if (strncmp(s, "rediss://", 9) == 0)
		return hk_confcheck_why(why, whylen, "TLS (rediss://) is not "
		    "supported");
	if (strncmp(s, "redis://", 8) != 0)
		return hk_confcheck_why(why, whylen, "expected redis://[user:"
		    "password@]host[:port][/db] or unix:///path");
	host = s + 8;
	slash = host + strcspn(host, "/");
	/*
	 * The credentials end at the last '@' before the first '/'; a '/' or
	 * '%' in a password is percent-encoded, as in any URL.
	 */
	if ((at = memrchr(host, '@', (size_t)(slash - host))) != NULL) {
		if (!hk_confcheck_escapes(host, (size_t)(at - host)))
			return hk_confcheck_why(why, whylen, "a '%%' in the "
			    "credentials must start a %%XX escape");
		host = at + 1;
	}
	if (hk_confcheck_hostport(host, (size_t)(slash - host), 0, "._-", sub,
	    sizeof(sub)) != HK_OK)
		return hk_confcheck_why(why, whylen, "%s", sub);
	if (*slash == '/' && (!hk_confcheck_digits(slash + 1,
	    strlen(slash + 1)) || strlen(slash + 1) > 5))
		return hk_confcheck_why(why, whylen, "the database after \"/\" "
		    "must be a number");
	/* What passes here must pass the parser every process uses. */
	if (hk_redisurl_parse(s, &u) != HK_OK)
		return hk_confcheck_why(why, whylen, "a part of the URL is too "
		    "long or malformed");
	return HK_OK;
}

int
hk_confcheck_pg_url(const char *s, char *why, size_t whylen)
{
	if (hk_confcheck_text(s, why, whylen) != HK_OK)
		return HK_ERROR;
	if (strncmp(s, "postgresql://", 13) == 0
	    || strncmp(s, "postgres://", 11) == 0 || strchr(s, '=') != NULL)
		return HK_OK;
	return hk_confcheck_why(why, whylen, "expected postgresql://..., "
	    "postgres://... or a libpq \"key=value\" string");
}

int
hk_confcheck_http_url(const char *s, char *why, size_t whylen)
{
	const char *auth, *end, *at;
	char sub[128];

	if (hk_confcheck_visible(s, why, whylen) != HK_OK)
		return hk_confcheck_why(why, whylen, "a URL may not contain "
		    "white space or control characters");
	if (strncasecmp(s, "http://", 7) == 0)
		auth = s + 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		auth = s + 8;
	else
		return hk_confcheck_why(why, whylen, "only http:// and "
		    "https:// URLs are accepted");
	end = auth + strcspn(auth, "/?#");
	for (at = end; at > auth && at[-1] != '@'; at--)
		;
	if (hk_confcheck_hostport(at, (size_t)(end - at), 0, "._-", sub,
	    sizeof(sub)) != HK_OK)
		return hk_confcheck_why(why, whylen, "%s", sub);
	return HK_OK;
}

int
hk_confcheck_token(const char *s, char *why, size_t whylen)
{
	if (s[0] == '\0')
		return hk_confcheck_why(why, whylen, "a header name may not be "
		    "empty");
	for (const char *p = s; *p; p++)
		if (!hk_confcheck_tchar((unsigned char)*p))
			return hk_confcheck_why(why, whylen, "\"%s\" is not a "
			    "valid header name", s);
	return HK_OK;
}

int
hk_confcheck_header_line(const char *s, char *why, size_t whylen)
{
	const char *colon = strchr(s, ':'), *v;
	char name[128];

	if (colon == NULL || colon == s)
		return hk_confcheck_why(why, whylen, "expected \"Name: "
		    "value\"");
	if ((size_t)(colon - s) >= sizeof(name))
		return hk_confcheck_why(why, whylen, "the header name is too "
		    "long");
	memcpy(name, s, (size_t)(colon - s));
	name[colon - s] = '\0';
	if (hk_confcheck_token(name, why, whylen) != HK_OK)
		return HK_ERROR;
	for (size_t i = 0; i < HK_NELEM(hk_confcheck_reserved); i++)
		if (strcasecmp(name, hk_confcheck_reserved[i]) == 0)
			return hk_confcheck_why(why, whylen, "%s is set by "
			    "hookd and cannot be configured", name);
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (strpbrk(v, "\r\n") != NULL)
		return hk_confcheck_why(why, whylen, "the value of %s contains "
		    "CR or LF", name);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return hk_confcheck_why(why, whylen, "the value of %s "
			    "contains a control character", name);
	/* libcurl reads "Name:" with nothing after it as "remove Name". */
	if (*v == '\0')
		return hk_confcheck_why(why, whylen, "the value of %s is empty",
		    name);
	return HK_OK;
}

int
hk_confcheck_media_type(const char *s, char *why, size_t whylen)
{
	const char *slash = strchr(s, '/');
	size_t n = strlen(s);

	if (slash == NULL || slash == s || slash[1] == '\0')
		return hk_confcheck_why(why, whylen, "\"%s\" is not a media "
		    "type like \"application/json\"", s);
	for (size_t i = 0; i < n; i++)
		if (s + i != slash && !hk_confcheck_tchar((unsigned char)s[i]))
			return hk_confcheck_why(why, whylen, "\"%s\" is not a "
			    "media type like \"application/json\" (parameters "
			    "are not matched)", s);
	return HK_OK;
}

/* hk_confcheck_pointer - an RFC 6901 JSON pointer that selects a member. */
static int
hk_confcheck_pointer(const char *p, char *why, size_t whylen)
{
	if (p[0] != '/')
		return hk_confcheck_why(why, whylen, "a JSON pointer starts "
		    "with \"/\", as in json:/id");
	for (; *p; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return hk_confcheck_why(why, whylen, "\"~\" in a JSON "
			    "pointer must be followed by 0 or 1");
	return HK_OK;
}

int
hk_confcheck_idempotency(const char *s, char *why, size_t whylen)
{
	if (strcmp(s, "none") == 0 || strcmp(s, "body-hash") == 0)
		return HK_OK;
	if (strncmp(s, "header:", 7) == 0)
		return hk_confcheck_token(s + 7, why, whylen);
	if (strncmp(s, "json:", 5) == 0)
		return hk_confcheck_pointer(s + 5, why, whylen);
	return hk_confcheck_why(why, whylen, "\"%s\" is not one of "
	    "header:NAME, json:/pointer, body-hash, none", s);
}

int
hk_confcheck_whsec(const char *s, char *why, size_t whylen)
{
	unsigned char key[HK_VERIFY_KEY_MAX];
	size_t keylen;

	if (hk_verify_standard_key(s, key, &keylen) != HK_OK || keylen == 0)
		return hk_confcheck_why(why, whylen, "not a Standard Webhooks "
		    "secret (\"whsec_\" followed by padded base64)");
	return HK_OK;
}

int
hk_confcheck_signing_secret(const char *s, char *why, size_t whylen)
{
	if (s[0] == '\0')
		return HK_OK;
	if (strncmp(s, "whsec_", 6) != 0)
		return hk_confcheck_why(why, whylen, "a signing secret starts "
		    "with \"whsec_\"");
	return hk_confcheck_whsec(s, why, whylen);
}

int
hk_confcheck_cidr(const char *s, char *why, size_t whylen)
{
	struct hk_cidr c;

	return hk_cidr_parse(s, &c, why, whylen);
}
