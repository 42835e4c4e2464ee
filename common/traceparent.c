/*
 * traceparent.c - checking a W3C traceparent header value.
 */
#include <string.h>

#include "traceparent.h"

/* hk_traceparent_hex - n lower-case hex digits at s; *nonzero if any isn't 0. */
static int
hk_traceparent_hex(const char *s, size_t n, int *nonzero)
{
	*nonzero = 0;
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
		if (s[i] != '0')
			*nonzero = 1;
	}
	return 1;
}

int
hk_traceparent_valid(const char *s, size_t len)
{
	int nz;

	if (len < 55 || len >= HK_TRACEPARENT_MAX
	    || s[2] != '-' || s[35] != '-' || s[52] != '-')
		return 0;
	if (!hk_traceparent_hex(s, 2, &nz) || memcmp(s, "ff", 2) == 0)
		return 0;
	if (!hk_traceparent_hex(s + 3, 32, &nz) || !nz)
		return 0;
	if (!hk_traceparent_hex(s + 36, 16, &nz) || !nz)
		return 0;
	if (!hk_traceparent_hex(s + 53, 2, &nz))
		return 0;
	if (memcmp(s, "00", 2) == 0)
		return len == 55;
	/* A later version: what follows the flags starts a new field. */
	if (len > 55 && s[55] != '-')
		return 0;
	for (size_t i = 55; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return 0;
	return 1;
}
