/*
 * fuzz_json.c - the allocation-free JSON scanner against jansson.
 *
 * The scanner stands in for jansson on the ingest path, so the two must
 * judge every input alike (JSON_DECODE_ANY | JSON_ALLOW_NUL), except the
 * numbers jansson refuses only for their size, which RFC 8259 allows: the
 * same rule as tests/unit/test_jsonscan.c, and one bug of jansson's
 * below.  The UTF-8 check must agree
 * with jansson's too, and any bytes, escaped and quoted, must make a JSON
 * string that jansson accepts and that holds the input when it was UTF-8.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core.h"
#include "jsonscan.h"

#define FUZZ_MAX_LEN	65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_json: %s: %s\n", what, detail);
	abort();
}

/* jansson's verdict; -1 for a number refused only for its size. */
static int
fuzz_jansson_ok(const char *buf, size_t len, json_error_t *e)
{
	json_t *j = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, e);

	if (j != NULL) {
		json_decref(j);
		return 1;
	}
	if (strstr(e->text, "too big") || strstr(e->text, "overflow"))
		return -1;
	return 0;
}

/*
 * jansson's lexer loses a NUL byte it reads right after a number or a
 * literal, so it accepts "2\0", "true\0" and "[1\0]" (akheron/jansson#331,
 * JSONTestSuite's n_multidigit_number_then_00); a raw NUL is valid nowhere
 * in JSON and the scanner refuses it, rightly.  Such an input is excused
 * when the scanner accepts it with those NULs taken out.
 */
static int
fuzz_jansson_nul_bug(const char *buf, size_t len)
{
	const char *why;
	char *copy;
	size_t off, n = 0;
	int rc;

	if (memchr(buf, '\0', len) == NULL || (copy = malloc(len)) == NULL)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char prev = i > 0 ? (unsigned char)buf[i - 1] : 0;

		if (buf[i] == '\0' && ((prev >= '0' && prev <= '9')
		    || (prev >= 'a' && prev <= 'z')))
			continue;
		copy[n++] = buf[i];
	}
	rc = n < len && hk_jsonscan(copy, n, &off, &why) == HK_OK;
	free(copy);
	return rc;
}

static void
fuzz_scan(const char *buf, size_t len)
{
	json_error_t e;
	const char *why = NULL;
	size_t off = 0;
	int scan, jansson;

	scan = hk_jsonscan(buf, len, &off, &why) == HK_OK;
	jansson = fuzz_jansson_ok(buf, len, &e);
	if (!scan && (why == NULL || off > len))
		fuzz_fail("a refusal without reason or offset", "");
	if (jansson == 1 && !scan && fuzz_jansson_nul_bug(buf, len))
		return;
	if (jansson >= 0 && scan != jansson)
		fuzz_fail(scan ? "the scanner accepts what jansson refuses"
		    : "the scanner refuses what jansson accepts",
		    scan ? e.text : why);
}

static void
fuzz_escape(const char *s, size_t len)
{
	json_error_t e;
	json_t *j, *ref;
	const char *why;
	char *out, *end;
	size_t off;
	int utf8;

	if ((out = malloc(2 + HK_JSONSCAN_ESCAPED_MAX(len))) == NULL)
		return;
	out[0] = '"';
	end = hk_jsonscan_escape_str(out + 1, s, len);
	if (end < out + 1 || (size_t)(end - out - 1) > HK_JSONSCAN_ESCAPED_MAX(len))
		fuzz_fail("escape wrote past its bound", "");
	*end++ = '"';
	j = json_loadb(out, (size_t)(end - out), JSON_DECODE_ANY
	    | JSON_ALLOW_NUL, &e);
	if (j == NULL || !json_is_string(j))
		fuzz_fail("an escaped string jansson refuses", e.text);
	if (hk_jsonscan(out, (size_t)(end - out), &off, &why) != HK_OK)
		fuzz_fail("an escaped string the scanner refuses", why);

	/* jansson's own UTF-8 check, through json_stringn. */
	utf8 = hk_jsonscan_utf8_ok(s, len);
	ref = json_stringn(s, len);
	if ((ref != NULL) != utf8)
		fuzz_fail("UTF-8 verdict differs from jansson's",
		    utf8 ? "scanner says UTF-8" : "jansson says UTF-8");
	if (utf8 && (json_string_length(j) != len
	    || memcmp(json_string_value(j), s, len) != 0))
		fuzz_fail("valid UTF-8 did not come back unchanged", "");
	json_decref(ref);
	json_decref(j);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_LEN)
		return 0;
	fuzz_scan((const char *)data, size);
	fuzz_escape((const char *)data, size);
	return 0;
}
