/*
 * evfield.h - one field of a webhook, named the way the configuration names
 * it: "header:NAME", "json:/pointer", "form:FIELD" or "none".
 *
 * A source says where its event type is (event_type = "header:X-GitHub-
 * Event"), and a destination's filter says which field it looks at (on =
 * "json:/data/object/status").  The spec is compiled once, at load; reading
 * the value then costs one walk over the text, without building a tree:
 * the JSON body (or the headers, which the event carries as a JSON object
 * with lower-case names) is scanned only as far as the pointer leads, and a
 * form body only up to the field.  Every reader is safe on any bytes: a
 * body that is not what the spec expects simply has no such field.
 *
 * Values are compared as text: a JSON string unescaped, a number, true or
 * false as written; null, objects and arrays have no text value.  Type
 * patterns and filter values may hold '*', which matches any run of
 * characters (hk_evfield_glob).
 */
#ifndef HK_EVFIELD_H
#define HK_EVFIELD_H

#include <stddef.h>

#define HK_EVFIELD_VALUE_MAX	128	/* longer values count as absent */
#define HK_EVFIELD_SEGS		16	/* JSON pointer tokens, at most */

enum hk_evfield_kind {
	HK_EVFIELD_NONE,
	HK_EVFIELD_HEADER,		/* arg: the name, lower case */
	HK_EVFIELD_JSON,		/* arg: the pointer */
	HK_EVFIELD_FORM,		/* arg: the field name */
};

struct hk_evfield {
	int      kind;			/* enum hk_evfield_kind */
	char    *arg;
	/* JSON: the pointer's unescaped tokens; HEADER: the one name, so
	 * that headers carried as JSON are read the same way. */
	char    *seg[HK_EVFIELD_SEGS];
	int      nseg;
};

/* Check a spec: HK_OK, or HK_ERROR with a phrase in why. */
int	hk_evfield_check(const char *spec, char *why, size_t whylen);
/* Compile a checked spec into f (f->kind NONE for "none"). */
int	hk_evfield_compile(const char *spec, struct hk_evfield *f);
void	hk_evfield_free(struct hk_evfield *f);

/*
 * The value at f's tokens in the JSON text buf[0..len), as text in out
 * (NUL-terminated).  HK_OK, or HK_ERROR when absent, not a scalar, longer
 * than outlen - 1, or buf is not JSON as far as the walk goes.
 */
int	hk_evfield_json(const char *buf, size_t len,
	    const struct hk_evfield *f, char *out, size_t outlen);
/* Field name of the form body buf[0..len), percent-decoded, into out. */
int	hk_evfield_form(const char *buf, size_t len, const char *name,
	    char *out, size_t outlen);

/* Does s match pat, where '*' matches any run of characters? */
int	hk_evfield_glob(const char *pat, const char *s);
/* A type pattern or filter value: 1..127 printable ASCII, '*' the only
 * wildcard ('?', '[' and ']' are refused so that nobody expects them). */
int	hk_evfield_check_pattern(const char *s, char *why, size_t whylen);

#endif /* HK_EVFIELD_H */
