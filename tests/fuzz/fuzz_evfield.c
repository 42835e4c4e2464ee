/*
 * fuzz_evfield.c - reading a field out of JSON text, form bodies and globs
 * on arbitrary bytes.
 *
 * The first line of the input is the field spec ("json:/a/0", "form:x",
 * anything), the rest the body.  Whatever the bytes, the readers must stay
 * in bounds and end.  When the body is JSON that jansson takes without
 * duplicate keys and the spec is a valid json: pointer, the text walk must
 * find the same string that jansson's tree holds there (ASCII strings, the
 * ones compared by routing), and nothing where the tree has nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core.h"
#include "evfield.h"
#include "jsonptr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_fail(const char *what, const char *spec)
{
	fprintf(stderr, "fuzz_evfield: %s (spec \"%s\")\n", what, spec);
	abort();
}

/* fuzz_ascii - is v a string of printable ASCII the walk can return? */
static int
fuzz_ascii(const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (s == NULL || n >= HK_EVFIELD_VALUE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static void
fuzz_json(const char *spec, const char *body, size_t len)
{
	char out[HK_EVFIELD_VALUE_MAX], why[128];
	struct hk_evfield f;
	json_t *root, *v;
	int rc;

	if (hk_evfield_check(spec, why, sizeof(why)) != HK_OK
	    || hk_evfield_compile(spec, &f) != HK_OK)
		return;
	rc = hk_evfield_json(body, len, &f, out, sizeof(out));
	if (rc == HK_OK && strlen(out) >= sizeof(out))
		fuzz_fail("value longer than its buffer", spec);
	if (f.kind == HK_EVFIELD_JSON && (root = json_loadb(body, len,
	    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL)) != NULL) {
		v = hk_jsonptr_get(root, f.arg);
		if (v == NULL && rc == HK_OK)
			fuzz_fail("found what the tree does not hold", spec);
		if (v != NULL && fuzz_ascii(v) && (rc != HK_OK
		    || strcmp(out, json_string_value(v)) != 0))
			fuzz_fail("a string the tree holds, read otherwise",
			    spec);
		json_decref(root);
	}
	hk_evfield_free(&f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	char spec[256], out[HK_EVFIELD_VALUE_MAX];
	const char *body;
	size_t n, blen;

	if (nl == NULL)
		return 0;
	n = (size_t)(nl - (const char *)data);
	if (n >= sizeof(spec) || memchr(data, '\0', n) != NULL)
		return 0;
	memcpy(spec, data, n);
	spec[n] = '\0';
	body = nl + 1;
	blen = size - n - 1;
	fuzz_json(spec, body, blen);
	hk_evfield_form(body, blen, spec, out, sizeof(out));
	hk_evfield_glob(spec, "invoice.payment_succeeded");
	return 0;
}
