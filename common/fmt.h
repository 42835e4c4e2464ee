/*
 * fmt.h - appending decimal numbers and strings to a buffer, for the
 * answers and records written once per request, where snprintf(3) cost
 * more than the rest of the formatting together (perf/README.md).  The
 * caller sizes the buffer; nothing here checks it.
 */
#ifndef HK_FMT_H
#define HK_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* v in decimal at p; returns the end. */
static inline char *
hk_fmt_u64(char *p, uint64_t v)
{
	char d[20];
	int n = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (n > 0)
		*p++ = d[--n];
	return p;
}

/* v in exactly width digits, zero-padded (v < 10^width). */
static inline char *
hk_fmt_u64w(char *p, uint64_t v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + width;
}

/* n bytes of s at p; returns the end. */
static inline char *
hk_fmt_mem(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* The NUL-terminated s at p, without its NUL; returns the end. */
static inline char *
hk_fmt_str(char *p, const char *s)
{
	return hk_fmt_mem(p, s, strlen(s));
}

/* A string literal, its length known at compile time. */
#define HK_FMT_LIT(p, lit)	hk_fmt_mem((p), (lit), sizeof(lit) - 1)

#endif /* HK_FMT_H */
