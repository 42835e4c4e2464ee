/*
 * test_jsonscan.c - the allocation-free JSON validator against jansson, the
 * parser it replaces on the hot path: both must accept and refuse the same
 * documents.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core.h"
#include "jsonscan.h"
#include "unit.h"

/* jansson's verdict; -1 for the numbers it refuses only for their size,
 * which RFC 8259 allows and the scanner accepts. */
static int
jansson_ok(const char *buf, size_t len)
{
	json_error_t e;
	json_t *j = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

	if (j != NULL) {
		json_decref(j);
		return 1;
	}
	if (strstr(e.text, "too big") || strstr(e.text, "overflow"))
		return -1;
	return 0;
}

static int
scan_ok(const char *buf, size_t len)
{
	size_t off;
	const char *why;

	return hk_jsonscan(buf, len, &off, &why) == HK_OK;
}

static void
test_cases(void)
{
	static const char *good[] = {
		"{}", "[]", " {\"a\" : [1, -2.5e+3, true, false, null, \"x\"]} ",
		"\"str\"", "0", "-0.0", "1E9", "{\"a\":{\"b\":{\"c\":[[]]}}}",
		"\"\\u00e9\\ud83d\\ude00\\n\\\\\\/\"", "\"\\u0000\"",
		"\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "[1,2,3]\n",
	};
	static const char *bad[] = {
		"", " ", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "{\"a\" 1}",
		"01", "1.", ".5", "-", "1e", "+1", "tru", "nul", "[1 2]",
		"\"abc", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"",
		"\"\\ud800\\u0041\"", "\"a\tb\"", "\"\xc3\"", "\"\xed\xa0\x80\"",
		"\"\xc0\xaf\"", "{} {}", "[]]", "\xef\xbb\xbf{}", "NaN",
		"{\"a\":1 \"b\":2}",
	};

	for (size_t i = 0; i < HK_NELEM(good); i++) {
		HK_CHECK(scan_ok(good[i], strlen(good[i])));
		HK_CHECK(jansson_ok(good[i], strlen(good[i])) == 1);
	}
	for (size_t i = 0; i < HK_NELEM(bad); i++) {
		if (scan_ok(bad[i], strlen(bad[i])))
			printf("  accepted: %s\n", bad[i]);
		HK_CHECK(!scan_ok(bad[i], strlen(bad[i])));
		HK_CHECK(jansson_ok(bad[i], strlen(bad[i])) == 0);
	}
	/* A NUL byte outside a string, and depth beyond the limit. */
	HK_CHECK(!scan_ok("[1,\0]", 5));
	{
		size_t n = HK_JSONSCAN_DEPTH + 1;
		char *deep = malloc(2 * n);

		memset(deep, '[', n);
		memset(deep + n, ']', n);
		HK_CHECK(!scan_ok(deep, 2 * n));
		HK_CHECK(scan_ok(deep + 1, 2 * n - 2));
		free(deep);
	}
}

/* Mutations of valid documents: the scanner must agree with jansson. */
static void
test_against_jansson(void)
{
	static const char *seeds[] = {
		"{\"id\":\"evt_1\",\"type\":\"invoice.paid\",\"data\":{\"object\":"
		"{\"amount\":1999,\"currency\":\"usd\",\"lines\":[1,2.5,-3e2]}},"
		"\"livemode\":false,\"note\":null,\"u\":\"\\u00e9\\ud83d\\ude00\"}",
		"[true,false,null,\"caf\xc3\xa9\",{\"a\":[{},[]]},0,-0.5E-7]",
		"\"plain string with \\\"quotes\\\" and \\\\ slashes\"",
	};
	static const char alphabet[] = "{}[]\",:\\ tfn0123456789-+.eEu\x80\xc3"
	    "\xa9\xed\xff\n\x01";
	char buf[512];
	int agree = 0, compared = 0;

	srand(7);
	for (int round = 0; round < 200000; round++) {
		const char *seed = seeds[round % HK_NELEM(seeds)];
		size_t len = strlen(seed), pos;
		int j, sc;

		memcpy(buf, seed, len);
		for (int m = 0; m < 1 + rand() % 3; m++) {
			pos = (size_t)rand() % len;
			switch (rand() % 4) {
			case 0:		/* replace a byte */
				buf[pos] = alphabet[rand() % (sizeof(alphabet) - 1)];
				break;
			case 1:		/* cut the document */
				len = pos;
				break;
			case 2:		/* insert a byte */
				if (len + 1 < sizeof(buf)) {
					memmove(buf + pos + 1, buf + pos, len - pos);
					buf[pos] = alphabet[rand()
					    % (sizeof(alphabet) - 1)];
					len++;
				}
				break;
			default:	/* delete a byte */
				memmove(buf + pos, buf + pos + 1, len - pos - 1);
				len--;
				break;
			}
			if (len == 0)
				break;
		}
		if ((j = jansson_ok(buf, len)) < 0)
			continue;
		sc = scan_ok(buf, len);
		compared++;
		if (sc == j) {
			agree++;
		} else if (compared - agree <= 5) {
			printf("  disagree (jansson %d, scan %d): %.*s\n", j, sc,
			    (int)len, buf);
		}
	}
	printf("  %d of %d mutated documents judged alike\n", agree, compared);
	HK_CHECK(compared > 190000 && agree == compared);
}

/*
 * Any bytes, escaped and quoted, make a JSON string jansson accepts; bytes
 * that are valid UTF-8 without NUL come back unchanged.
 */
static void
test_escape_str(void)
{
	static const char *kept[] = {
		"", "plain", "say \"sha256=\"", "back\\slash", "tab\tnl\ncr\r",
		"caf\xc3\xa9 \xf0\x9f\x98\x80", "\x01\x1f\x7f",
	};
	char in[64], out[2 + HK_JSONSCAN_ESCAPED_MAX(sizeof(in))], *e;
	json_error_t err;
	json_t *j;
	int bad = 0;

	for (size_t i = 0; i < HK_NELEM(kept); i++) {
		size_t n = strlen(kept[i]);

		out[0] = '"';
		e = hk_jsonscan_escape_str(out + 1, kept[i], n);
		*e++ = '"';
		j = json_loadb(out, (size_t)(e - out), JSON_DECODE_ANY, &err);
		HK_CHECK(j != NULL && json_is_string(j));
		HK_CHECK(j != NULL && json_string_length(j) == n &&
		    memcmp(json_string_value(j), kept[i], n) == 0);
		json_decref(j);
	}
	srand(11);
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)rand() % sizeof(in);

		for (size_t k = 0; k < n; k++)
			in[k] = (char)(rand() & 0xff);
		out[0] = '"';
		e = hk_jsonscan_escape_str(out + 1, in, n);
		*e++ = '"';
		HK_CHECK((size_t)(e - out) <= sizeof(out));
		if ((j = json_loadb(out, (size_t)(e - out), JSON_DECODE_ANY
		    | JSON_ALLOW_NUL, &err)) == NULL || !json_is_string(j))
			bad++;
		json_decref(j);
	}
	HK_CHECK(bad == 0);
}

/*
 * Strings are scanned eight bytes at a time: every kind of byte that ends
 * a plain run (quote, backslash, control, UTF-8 lead, invalid), at every
 * position of the word and of the string's tail, agrees with jansson.
 */
static void
test_string_words(void)
{
	static const char *odd[] = { "\x01", "\x1f", "\"", "\\n", "\\",
	    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x80", "\xff",
	    "\xc3", "\x7f", " ", "~" };
	char buf[64];
	int bad = 0, n;

	for (size_t k = 0; k < HK_NELEM(odd); k++)
		for (int at = 0; at < 24; at++)
			for (int len = at; len < at + 12; len++) {
				n = snprintf(buf, sizeof(buf), "\"%.*s%s%.*s\"",
				    at, "aaaaaaaaaaaaaaaaaaaaaaaaaaaa", odd[k],
				    len - at, "bbbbbbbbbbbbbbbbbbbbbbbbbbbb");
				if (jansson_ok(buf, (size_t)n) != scan_ok(buf,
				    (size_t)n))
					bad++;
			}
	HK_CHECK(bad == 0);
}

int
main(void)
{
	HK_RUN(test_cases);
	HK_RUN(test_string_words);
	HK_RUN(test_against_jansson);
	HK_RUN(test_escape_str);
	return hk_unit_done();
}
