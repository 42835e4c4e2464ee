/*
 * fuzz_jsonptr.c - RFC 6901 pointer lookup on a document from the input.
 *
 * The first line of the input is the pointer, the rest the document.  The
 * lookup is held to a plain reference written from the RFC below (no stack
 * buffer, no shortcuts), and hk_jsonptr_key() to what its header promises
 * for the value found, with a roomy and a tight output buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core.h"
#include "jsonptr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_fail(const char *what, const char *ptr)
{
	fprintf(stderr, "fuzz_jsonptr: %s (pointer \"%s\")\n", what, ptr);
	abort();
}

/* fuzz_ref_step - the child of cur named by the raw token tok[0..n). */
static json_t *
fuzz_ref_step(json_t *cur, const char *tok, size_t n)
{
	char *key;
	size_t k = 0, idx = 0;
	json_t *v;

	if (json_is_array(cur)) {
		if (n == 0 || (n > 1 && tok[0] == '0'))
			return NULL;
		for (size_t i = 0; i < n; i++) {
			if (tok[i] < '0' || tok[i] > '9'
			    || idx > json_array_size(cur))
				return NULL;
			idx = idx * 10 + (size_t)(tok[i] - '0');
		}
		return json_array_get(cur, idx);
	}
	if (!json_is_object(cur) || (key = malloc(n + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (tok[i] == '~') {
			if (i + 1 == n || (tok[i + 1] != '0' && tok[i + 1] != '1')) {
				free(key);
				return NULL;
			}
			key[k++] = tok[++i] == '0' ? '~' : '/';
		} else {
			key[k++] = tok[i];
		}
	}
	v = json_object_getn(cur, key, k);
	free(key);
	return v;
}

static json_t *
fuzz_ref_get(json_t *root, const char *ptr)
{
	json_t *cur = root;
	const char *tok, *end;

	if (*ptr == '\0')
		return root;
	if (*ptr != '/')
		return NULL;
	for (tok = ptr + 1; cur != NULL; tok = end + 1) {
		end = tok + strcspn(tok, "/");
		cur = fuzz_ref_step(cur, tok, (size_t)(end - tok));
		if (*end == '\0')
			break;
	}
	return cur;
}

/* fuzz_key - hk_jsonptr_key() against what its header promises. */
static void
fuzz_key(json_t *root, const char *ptr, json_t *v, size_t outlen)
{
	char out[256], want[256];
	int rc, ok;

	memset(out, 'x', sizeof(out));
	rc = hk_jsonptr_key(root, ptr, out, outlen);
	ok = 0;
	if (json_is_string(v)) {
		size_t n = json_string_length(v);

		ok = n > 0 && n < outlen
		    && memchr(json_string_value(v), '\0', n) == NULL;
		if (ok)
			memcpy(want, json_string_value(v), n + 1);
	} else if (json_is_integer(v)) {
		int w = snprintf(want, sizeof(want), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));

		ok = w > 0 && (size_t)w < outlen;
	}
	if ((rc == HK_OK) != ok)
		fuzz_fail(ok ? "a key refused" : "a key accepted", ptr);
	if (rc == HK_OK && strcmp(out, want) != 0)
		fuzz_fail("the key's text is wrong", ptr);
	if (rc != HK_OK && rc != HK_ERROR)
		fuzz_fail("unknown result", ptr);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t plen = nl != NULL ? (size_t)(nl - data) : size;
	json_error_t e;
	json_t *root, *v;
	char *ptr;

	if (size > 65536 || (ptr = malloc(plen + 1)) == NULL)
		return 0;
	memcpy(ptr, data, plen);
	ptr[plen] = '\0';		/* a NUL inside ends the pointer early */
	root = nl == NULL ? json_object() : json_loadb((const char *)nl + 1,
	    size - plen - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	if (root != NULL) {
		v = hk_jsonptr_get(root, ptr);
		if (v != fuzz_ref_get(root, ptr))
			fuzz_fail("lookup differs from the reference", ptr);
		if (hk_jsonptr_get(root, "") != root)
			fuzz_fail("\"\" is not the root", ptr);
		fuzz_key(root, ptr, v, 256);
		fuzz_key(root, ptr, v, 1 + size % 16);
		json_decref(root);
	}
	free(ptr);
	return 0;
}
