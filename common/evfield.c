/*
 * evfield.c - read one field of a webhook without building anything (see
 * evfield.h).
 *
 * The JSON walk trusts nothing: every read is bounds-checked and a byte
 * that does not fit the grammar ends it with "absent".  Skipping a value
 * that is not on the path counts brackets instead of recursing, so a deep
 * document costs no stack; strings are skipped whole, so brackets inside
 * them do not count.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "evfield.h"

static int
hk_evfield_why(char *why, size_t whylen, const char *msg)
{
	snprintf(why, whylen, "%s", msg);
	return HK_ERROR;
}

/* An RFC 9110 token character. */
static int
hk_evfield_tchar(int c)
{
	return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int
hk_evfield_check(const char *spec, char *why, size_t whylen)
{
	const char *p;

	if (strcmp(spec, "none") == 0)
		return HK_OK;
	if (strncmp(spec, "header:", 7) == 0) {
		if (spec[7] == '\0')
			return hk_evfield_why(why, whylen, "header: needs a "
			    "header name");
		for (p = spec + 7; *p; p++)
			if (!hk_evfield_tchar((unsigned char)*p))
				return hk_evfield_why(why, whylen, "the header "
				    "name is not an HTTP token");
		return HK_OK;
	}
	if (strncmp(spec, "json:", 5) == 0) {
		int nseg = 0;

		if (spec[5] != '/')
			return hk_evfield_why(why, whylen, "a JSON pointer "
			    "starts with '/' (json:/type)");
		for (p = spec + 5; *p; p++) {
			if (*p == '/')
				nseg++;
			else if (*p == '~' && p[1] != '0' && p[1] != '1')
				return hk_evfield_why(why, whylen, "'~' in a "
				    "JSON pointer must be ~0 or ~1");
			else if ((unsigned char)*p < 0x20)
				return hk_evfield_why(why, whylen, "control "
				    "character in the JSON pointer");
		}
		if (nseg > HK_EVFIELD_SEGS)
			return hk_evfield_why(why, whylen, "the JSON pointer "
			    "has more than 16 tokens");
		return HK_OK;
	}
	if (strncmp(spec, "form:", 5) == 0) {
		if (spec[5] == '\0')
			return hk_evfield_why(why, whylen, "form: needs a "
			    "field name");
		for (p = spec + 5; *p; p++)
			if ((unsigned char)*p <= 0x20 || *p == '&' || *p == '='
			    || (unsigned char)*p >= 0x7f)
				return hk_evfield_why(why, whylen, "the form "
				    "field name must be visible ASCII without "
				    "'&' or '='");
		return HK_OK;
	}
	return hk_evfield_why(why, whylen, "not one of header:NAME, "
	    "json:/pointer, form:FIELD, none");
}

/* hk_evfield_token - token p[0..n) of a pointer, unescaped, on the heap. */
static char *
hk_evfield_token(const char *p, size_t n)
{
	char *t = malloc(n + 1), *o = t;

	if (t == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '~' && i + 1 < n) {
			*o++ = p[++i] == '0' ? '~' : '/';
			continue;
		}
		*o++ = p[i];
	}
	*o = '\0';
	return t;
}

int
hk_evfield_compile(const char *spec, struct hk_evfield *f)
{
	const char *p, *end;

	memset(f, 0, sizeof(*f));
	if (strcmp(spec, "none") == 0)
		return HK_OK;
	if (strncmp(spec, "header:", 7) == 0) {
		f->kind = HK_EVFIELD_HEADER;
		if ((f->arg = strdup(spec + 7)) == NULL)
			return HK_ERROR;
		for (char *c = f->arg; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if ((f->seg[0] = strdup(f->arg)) == NULL)
			return HK_ERROR;
		f->nseg = 1;
		return HK_OK;
	}
	f->kind = strncmp(spec, "json:", 5) == 0 ? HK_EVFIELD_JSON
	    : HK_EVFIELD_FORM;
	if ((f->arg = strdup(spec + 5)) == NULL)
		return HK_ERROR;
	if (f->kind != HK_EVFIELD_JSON)
		return HK_OK;
	for (p = f->arg; *p == '/' && f->nseg < HK_EVFIELD_SEGS; p = end) {
		end = strchr(p + 1, '/');
		if (end == NULL)
			end = p + strlen(p);
		if ((f->seg[f->nseg] = hk_evfield_token(p + 1,
		    (size_t)(end - p - 1))) == NULL)
			return HK_ERROR;
		f->nseg++;
	}
	return HK_OK;
}

void
hk_evfield_free(struct hk_evfield *f)
{
	free(f->arg);
	for (int i = 0; i < f->nseg; i++)
		free(f->seg[i]);
	memset(f, 0, sizeof(*f));
}

/* The JSON walk: a cursor over buf[0..len). */
struct hk_evfield_cur {
	const char *p, *end;
};

static void
hk_evfield_ws(struct hk_evfield_cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'
	    || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* Past the string that starts at the cursor's '"'; HK_ERROR if unclosed. */
static int
hk_evfield_skip_str(struct hk_evfield_cur *c)
{
	for (c->p++; c->p < c->end; c->p++) {
		if (*c->p == '\\') {
			c->p++;
			continue;
		}
		if (*c->p == '"') {
			c->p++;
			return HK_OK;
		}
	}
	return HK_ERROR;
}

/* Past one value of any kind, counting brackets instead of recursing. */
static int
hk_evfield_skip(struct hk_evfield_cur *c)
{
	long depth = 0;

	hk_evfield_ws(c);
	do {
		if (c->p >= c->end)
			return HK_ERROR;
		switch (*c->p) {
		case '"':
			if (hk_evfield_skip_str(c) != HK_OK)
				return HK_ERROR;
			continue;
		case '{': case '[':
			depth++;
			break;
		case '}': case ']':
			if (--depth < 0)
				return HK_ERROR;
			break;
		default:
			if (depth == 0) {	/* a number or a literal */
				while (c->p < c->end && *c->p != ','
				    && *c->p != '}' && *c->p != ']'
				    && *c->p != ' ' && *c->p != '\n'
				    && *c->p != '\r' && *c->p != '\t')
					c->p++;
				return HK_OK;
			}
		}
		c->p++;
	} while (depth > 0);
	return HK_OK;
}

static int
hk_evfield_hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/*
 * hk_evfield_str - the string at the cursor, unescaped into out (at most
 * outlen - 1 bytes); the cursor moves past it.  HK_AGAIN: too long (the
 * cursor is still moved past it), HK_ERROR: not a string.
 */
static int
hk_evfield_str(struct hk_evfield_cur *c, char *out, size_t outlen)
{
	size_t o = 0;
	int fit = 1;
	unsigned u;

	if (c->p >= c->end || *c->p != '"')
		return HK_ERROR;
	for (c->p++; c->p < c->end && *c->p != '"'; c->p++) {
		char ch = *c->p;

		if (ch == '\\') {
			if (++c->p >= c->end)
				return HK_ERROR;
			switch (ch = *c->p) {
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case 'u':
				if (c->end - c->p < 5)
					return HK_ERROR;
				u = 0;
				for (int i = 1; i <= 4; i++) {
					int h = hk_evfield_hex(c->p[i]);

					if (h < 0)
						return HK_ERROR;
					u = u << 4 | (unsigned)h;
				}
				c->p += 4;
				/* Values compared here are ASCII in
				 * practice; others get a byte that matches
				 * no pattern but '*'. */
				ch = u < 0x80 && u > 0 ? (char)u : '?';
				break;
			default: break;		/* '"', '\\', '/' */
			}
		}
		if (o + 1 < outlen)
			out[o++] = ch;
		else
			fit = 0;
	}
	if (c->p >= c->end)
		return HK_ERROR;
	c->p++;
	if (outlen > 0)
		out[o] = '\0';
	return fit ? HK_OK : HK_AGAIN;
}

/* hk_evfield_member - into the member name of the object at the cursor. */
static int
hk_evfield_member(struct hk_evfield_cur *c, const char *name)
{
	char key[HK_EVFIELD_VALUE_MAX];
	int rc;

	c->p++;				/* '{' */
	for (;;) {
		hk_evfield_ws(c);
		if (c->p < c->end && *c->p == '}')
			return HK_ERROR;
		rc = hk_evfield_str(c, key, sizeof(key));
		if (rc == HK_ERROR)
			return HK_ERROR;
		hk_evfield_ws(c);
		if (c->p >= c->end || *c->p++ != ':')
			return HK_ERROR;
		hk_evfield_ws(c);
		if (rc == HK_OK && strcmp(key, name) == 0)
			return HK_OK;
		if (hk_evfield_skip(c) != HK_OK)
			return HK_ERROR;
		hk_evfield_ws(c);
		if (c->p >= c->end || *c->p++ != ',')
			return HK_ERROR;
	}
}

/* hk_evfield_element - into element tok (decimal) of the array. */
static int
hk_evfield_element(struct hk_evfield_cur *c, const char *tok)
{
	char *e;
	long n;

	if (tok[0] < '0' || tok[0] > '9' || (tok[0] == '0' && tok[1]))
		return HK_ERROR;
	n = strtol(tok, &e, 10);
	if (*e != '\0')
		return HK_ERROR;
	c->p++;				/* '[' */
	for (long i = 0;; i++) {
		hk_evfield_ws(c);
		if (c->p >= c->end || *c->p == ']')
			return HK_ERROR;
		if (i == n)
			return HK_OK;
		if (hk_evfield_skip(c) != HK_OK)
			return HK_ERROR;
		hk_evfield_ws(c);
		if (c->p >= c->end || *c->p++ != ',')
			return HK_ERROR;
	}
}

int
hk_evfield_json(const char *buf, size_t len, const struct hk_evfield *f,
    char *out, size_t outlen)
{
	struct hk_evfield_cur c = { buf, buf + len };
	const char *v;

	for (int i = 0; i < f->nseg; i++) {
		hk_evfield_ws(&c);
		if (c.p >= c.end)
			return HK_ERROR;
		if (*c.p == '{') {
			if (hk_evfield_member(&c, f->seg[i]) != HK_OK)
				return HK_ERROR;
		} else if (*c.p == '[') {
			if (hk_evfield_element(&c, f->seg[i]) != HK_OK)
				return HK_ERROR;
		} else
			return HK_ERROR;
	}
	hk_evfield_ws(&c);
	if (c.p >= c.end)
		return HK_ERROR;
	if (*c.p == '"')
		return hk_evfield_str(&c, out, outlen) == HK_OK ? HK_OK
		    : HK_ERROR;
	if (*c.p == '{' || *c.p == '[' || *c.p == 'n')
		return HK_ERROR;
	v = c.p;
	if (hk_evfield_skip(&c) != HK_OK || (size_t)(c.p - v) >= outlen)
		return HK_ERROR;
	memcpy(out, v, (size_t)(c.p - v));
	out[c.p - v] = '\0';
	return HK_OK;
}

/* hk_evfield_pct - percent-decode s[0..n) ('+' is a space) into out. */
static int
hk_evfield_pct(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	int hi, lo;

	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '+')
			ch = ' ';
		else if (ch == '%' && i + 2 < n
		    && (hi = hk_evfield_hex(s[i + 1])) >= 0
		    && (lo = hk_evfield_hex(s[i + 2])) >= 0) {
			ch = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 >= outlen)
			return HK_ERROR;
		out[o++] = ch;
	}
	out[o] = '\0';
	return HK_OK;
}

int
hk_evfield_form(const char *buf, size_t len, const char *name, char *out,
    size_t outlen)
{
	const char *p = buf, *end = buf + len, *amp, *eq;
	char key[HK_EVFIELD_VALUE_MAX];

	while (p < end) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if ((eq = memchr(p, '=', (size_t)(amp - p))) == NULL)
			eq = amp;
		if (hk_evfield_pct(p, (size_t)(eq - p), key, sizeof(key))
		    == HK_OK && strcmp(key, name) == 0)
			return eq == amp ? hk_evfield_pct("", 0, out, outlen)
			    : hk_evfield_pct(eq + 1, (size_t)(amp - eq - 1),
			    out, outlen);
		p = amp + 1;
	}
	return HK_ERROR;
}

int
hk_evfield_glob(const char *pat, const char *s)
{
	const char *star = NULL, *mark = NULL;

	/* The classic backtracking match: only the last '*' is revisited. */
	while (*s) {
		if (*pat == '*') {
			star = pat++;
			mark = s;
		} else if (*pat == *s) {
			pat++;
			s++;
		} else if (star != NULL) {
			pat = star + 1;
			s = ++mark;
		} else
			return 0;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

int
hk_evfield_check_pattern(const char *s, char *why, size_t whylen)
{
	size_t n = strlen(s);

	if (n == 0 || n >= HK_EVFIELD_VALUE_MAX)
		return hk_evfield_why(why, whylen, "a pattern has 1 to 127 "
		    "characters");
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			return hk_evfield_why(why, whylen, "a pattern is "
			    "printable ASCII");
		if (*p == '?' || *p == '[' || *p == ']')
			return hk_evfield_why(why, whylen, "'*' is the only "
			    "wildcard; '?', '[' and ']' are not supported");
	}
	return HK_OK;
}
