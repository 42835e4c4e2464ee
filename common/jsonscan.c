/*
 * jsonscan.c - a one-pass, allocation-free JSON validator (see jsonscan.h).
 */
#include <stdint.h>
#include <string.h>

#include "core.h"
#include "jsonscan.h"

struct hk_jsonscan {
	const unsigned char *p, *end, *start;
	const char *why;
};

static void
hk_jsonscan_ws(struct hk_jsonscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t'
	    || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
hk_jsonscan_fail(struct hk_jsonscan *s, const char *why)
{
	s->why = why;
	return HK_ERROR;
}

static int
hk_jsonscan_hex4(struct hk_jsonscan *s, unsigned *out)
{
	unsigned v = 0;

	if (s->end - s->p < 4)
		return hk_jsonscan_fail(s, "a unicode escape is cut short");
	for (int i = 0; i < 4; i++) {
		unsigned char c = s->p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v |= (c | 0x20) - 'a' + 10;
		else
			return hk_jsonscan_fail(s, "a unicode escape has a non-hex "
			    "digit");
	}
	s->p += 4;
	*out = v;
	return HK_OK;
}

/* hk_jsonscan_escape - after a backslash. */
static int
hk_jsonscan_escape(struct hk_jsonscan *s)
{
	unsigned cp, lo;

	if (s->p >= s->end)
		return hk_jsonscan_fail(s, "a string is not closed");
	switch (*s->p++) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n':
	case 'r': case 't':
		return HK_OK;
	case 'u':
		break;
	default:
		s->p--;
		return hk_jsonscan_fail(s, "an invalid escape in a string");
	}
	if (hk_jsonscan_hex4(s, &cp) != HK_OK)
		return HK_ERROR;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return hk_jsonscan_fail(s, "a lone low surrogate in a string");
	if (cp < 0xd800 || cp > 0xdbff)
		return HK_OK;
	if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
		return hk_jsonscan_fail(s, "a high surrogate without its pair");
	s->p += 2;
	if (hk_jsonscan_hex4(s, &lo) != HK_OK)
		return HK_ERROR;
	if (lo < 0xdc00 || lo > 0xdfff)
		return hk_jsonscan_fail(s, "a high surrogate without its pair");
	return HK_OK;
}

size_t
hk_jsonscan_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned cp, n;

	if (avail == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (avail < n)
		return 0;
	/* Stops at the first byte that does not continue the sequence, so a
	 * NUL-terminated string is never read past its end. */
	for (unsigned i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
	    || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/* hk_jsonscan_utf8 - one multi-byte UTF-8 sequence at s->p. */
static int
hk_jsonscan_utf8(struct hk_jsonscan *s)
{
	size_t n = hk_jsonscan_utf8_len(s->p, (size_t)(s->end - s->p));

	if (n == 0)
		return hk_jsonscan_fail(s, "invalid UTF-8");
	s->p += n;
	return HK_OK;
}

#define HK_JSONSCAN_ONES	0x0101010101010101ull
#define HK_JSONSCAN_HIGHS	0x8080808080808080ull

/* The high bit of each byte of v that is zero (exact as "any"). */
static inline uint64_t
hk_jsonscan_zero8(uint64_t v)
{
	return (v - HK_JSONSCAN_ONES) & ~v & HK_JSONSCAN_HIGHS;
}

/*
 * hk_jsonscan_plain8 - are the eight bytes of w all plain string content:
 * none a quote, a backslash, a control character or above 0x7f?
 */
static inline int
hk_jsonscan_plain8(uint64_t w)
{
	uint64_t odd = w & HK_JSONSCAN_HIGHS;		/* >= 0x80 */

	odd |= (w - HK_JSONSCAN_ONES * 0x20) & ~w & HK_JSONSCAN_HIGHS;
	odd |= hk_jsonscan_zero8(w ^ (HK_JSONSCAN_ONES * '"'));
	odd |= hk_jsonscan_zero8(w ^ (HK_JSONSCAN_ONES * '\\'));
	return odd == 0;
}

/* hk_jsonscan_string - s->p is just past the opening quote. */
static int
hk_jsonscan_string(struct hk_jsonscan *s)
{
	uint64_t w;

	for (;;) {
		/*
		 * The common case: plain ASCII, eight bytes at a time while no
		 * byte of the word needs a look, then a byte at a time.
		 */
		while (s->end - s->p >= 8) {
			memcpy(&w, s->p, 8);
			if (hk_jsonscan_plain8(w) == 0)
				break;
			s->p += 8;
		}
		while (s->p < s->end && *s->p >= 0x20 && *s->p < 0x80
		    && *s->p != '"' && *s->p != '\\')
			s->p++;
		if (s->p >= s->end)
			return hk_jsonscan_fail(s, "a string is not closed");
		if (*s->p == '"') {
			s->p++;
			return HK_OK;
		}
		if (*s->p == '\\') {
			s->p++;
			if (hk_jsonscan_escape(s) != HK_OK)
				return HK_ERROR;
		} else if (*s->p < 0x20) {
			return hk_jsonscan_fail(s, "a control character in a "
			    "string");
		} else if (hk_jsonscan_utf8(s) != HK_OK) {
			return HK_ERROR;
		}
	}
}

static int
hk_jsonscan_digits(struct hk_jsonscan *s)
{
	const unsigned char *from = s->p;

	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	return s->p > from ? HK_OK : hk_jsonscan_fail(s, "a malformed number");
}

static int
hk_jsonscan_number(struct hk_jsonscan *s)
{
	if (*s->p == '-')
		s->p++;
	if (s->p < s->end && *s->p == '0') {
		s->p++;
	} else if (hk_jsonscan_digits(s) != HK_OK) {
		return HK_ERROR;
	}
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (hk_jsonscan_digits(s) != HK_OK)
			return HK_ERROR;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (hk_jsonscan_digits(s) != HK_OK)
			return HK_ERROR;
	}
	/* "01" and "1x" end the number early and fail as trailing bytes. */
	return HK_OK;
}

static int
hk_jsonscan_literal(struct hk_jsonscan *s, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return hk_jsonscan_fail(s, "an unexpected word");
	s->p += n;
	return HK_OK;
}

/* hk_jsonscan_scalar - a value that is not a container. */
static int
hk_jsonscan_scalar(struct hk_jsonscan *s)
{
	switch (*s->p) {
	case '"':
		s->p++;
		return hk_jsonscan_string(s);
	case 't':
		return hk_jsonscan_literal(s, "true");
	case 'f':
		return hk_jsonscan_literal(s, "false");
	case 'n':
		return hk_jsonscan_literal(s, "null");
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
			return hk_jsonscan_number(s);
		return hk_jsonscan_fail(s, "an unexpected character");
	}
}

/* hk_jsonscan_key - an object member's name and its colon. */
static int
hk_jsonscan_key(struct hk_jsonscan *s)
{
	hk_jsonscan_ws(s);
	if (s->p >= s->end || *s->p != '"')
		return hk_jsonscan_fail(s, "an object key must be a string");
	s->p++;
	if (hk_jsonscan_string(s) != HK_OK)
		return HK_ERROR;
	hk_jsonscan_ws(s);
	if (s->p >= s->end || *s->p != ':')
		return hk_jsonscan_fail(s, "a ':' must follow an object key");
	s->p++;
	return HK_OK;
}

int
hk_jsonscan(const char *buf, size_t len, size_t *err_off, const char **why)
{
	struct hk_jsonscan s = { (const unsigned char *)buf,
	    (const unsigned char *)buf + len, (const unsigned char *)buf, NULL };
	/* One bit per open container: 1 object, 0 array. */
	uint64_t stack[HK_JSONSCAN_DEPTH / 64];
	int depth = 0, rc = HK_OK;

value:
	hk_jsonscan_ws(&s);
	if (s.p >= s.end) {
		rc = hk_jsonscan_fail(&s, "a value is missing");
		goto done;
	}
	if (*s.p == '{' || *s.p == '[') {
		int obj = *s.p == '{';

		if (depth == HK_JSONSCAN_DEPTH) {
			rc = hk_jsonscan_fail(&s, "nested too deeply");
			goto done;
		}
		if (obj)
			stack[depth / 64] |= UINT64_C(1) << (depth % 64);
		else
			stack[depth / 64] &= ~(UINT64_C(1) << (depth % 64));
		depth++;
		s.p++;
		hk_jsonscan_ws(&s);
		if (s.p < s.end && *s.p == (obj ? '}' : ']')) {
			s.p++;
			depth--;
			goto after;
		}
		if (obj && hk_jsonscan_key(&s) != HK_OK) {
			rc = HK_ERROR;
			goto done;
		}
		goto value;
	}
	if (hk_jsonscan_scalar(&s) != HK_OK) {
		rc = HK_ERROR;
		goto done;
	}
after:
	hk_jsonscan_ws(&s);
	if (depth == 0) {
		if (s.p != s.end)
			rc = hk_jsonscan_fail(&s, "bytes after the JSON value");
		goto done;
	}
	{
		int obj = (stack[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1;

		if (s.p < s.end && *s.p == ',') {
			s.p++;
			if (obj && hk_jsonscan_key(&s) != HK_OK) {
				rc = HK_ERROR;
				goto done;
			}
			goto value;
		}
		if (s.p < s.end && *s.p == (obj ? '}' : ']')) {
			s.p++;
			depth--;
			goto after;
		}
		rc = hk_jsonscan_fail(&s, obj ? "expected ',' or '}'"
		    : "expected ',' or ']'");
	}
done:
	if (rc != HK_OK) {
		*err_off = (size_t)(s.p - s.start);
		*why = s.why;
	}
	return rc;
}

int
hk_jsonscan_utf8_ok(const char *s, size_t len)
{
	size_t n;

	for (size_t i = 0; i < len; i += n)
		if ((n = hk_jsonscan_utf8_len((const unsigned char *)s + i,
		    len - i)) == 0)
			return 0;
	return 1;
}

char *
hk_jsonscan_escape_str(char *dst, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t n;

	while (p < end) {
		if (*p >= 0x80) {
			n = hk_jsonscan_utf8_len(p, (size_t)(end - p));
			if (n == 0) {
				memcpy(dst, "\\ufffd", 6);
				dst += 6;
				p++;
				continue;
			}
			memcpy(dst, p, n);
			dst += n;
			p += n;
			continue;
		}
		if (*p == '"' || *p == '\\') {
			*dst++ = '\\';
			*dst++ = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			memcpy(dst, "\\u00", 4);
			dst[4] = hex[*p >> 4];
			dst[5] = hex[*p & 0xf];
			dst += 6;
		} else
			*dst++ = (char)*p;
		p++;
	}
	return dst;
}
