/*
 * jsonptr.c - RFC 6901 JSON Pointer.
 *
 * Tokens are unescaped into a stack buffer, falling back to the heap only
 * for a member name longer than any real key; the lookup is on the ingest
 * hot path and usually walks one or two short names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "jsonptr.h"

#define HK_JSONPTR_TOKEN	256

/*
 * hk_jsonptr_unescape - decode token src[0..n) ("~1" is '/', "~0" is '~')
 * into dst, NUL-terminated; returns the decoded length or -1 for a '~' that
 * is not followed by 0 or 1.
 */
static long
hk_jsonptr_unescape(const char *src, size_t n, char *dst)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (src[i] != '~') {
			dst[o++] = src[i];
			continue;
		}
		if (i + 1 >= n || (src[i + 1] != '0' && src[i + 1] != '1'))
			return -1;
		dst[o++] = src[++i] == '0' ? '~' : '/';
	}
	dst[o] = '\0';
	return (long)o;
}

/*
 * hk_jsonptr_index - an array index token: "0", or digits without a leading
 * zero.  -1 for anything else, "-" included (it names a missing element).
 */
static long
hk_jsonptr_index(const char *tok, size_t n)
{
	long v = 0;

	if (n == 0 || n > 9 || (n > 1 && tok[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return -1;
		v = v * 10 + (tok[i] - '0');
	}
	return v;
}

/* hk_jsonptr_step - the child of cur named by the raw token tok[0..n). */
static json_t *
hk_jsonptr_step(json_t *cur, const char *tok, size_t n)
{
	char stack[HK_JSONPTR_TOKEN], *buf = stack;
	json_t *next = NULL;
	long idx, klen;

	if (json_is_array(cur)) {
		if ((idx = hk_jsonptr_index(tok, n)) < 0)
			return NULL;
		return json_array_get(cur, (size_t)idx);
	}
	if (!json_is_object(cur))
		return NULL;
	if (n >= sizeof(stack) && (buf = malloc(n + 1)) == NULL)
		return NULL;
	if ((klen = hk_jsonptr_unescape(tok, n, buf)) >= 0)
		next = json_object_getn(cur, buf, (size_t)klen);
	if (buf != stack)
		free(buf);
	return next;
}

json_t *
hk_jsonptr_get(json_t *root, const char *ptr)
{
	json_t *cur = root;
	const char *tok, *end;

	if (root == NULL || ptr == NULL)
		return NULL;
	if (*ptr == '\0')
		return root;
	if (*ptr != '/')
		return NULL;
	for (tok = ptr + 1; cur != NULL; tok = end + 1) {
		end = strchr(tok, '/');
		if (end == NULL)
			return hk_jsonptr_step(cur, tok, strlen(tok));
		cur = hk_jsonptr_step(cur, tok, (size_t)(end - tok));
	}
	return NULL;
}

int
hk_jsonptr_key(json_t *root, const char *ptr, char *out, size_t outlen)
{
	json_t *v = hk_jsonptr_get(root, ptr);
	size_t n;
	int w;

	if (v == NULL || outlen == 0)
		return HK_ERROR;
	if (json_is_string(v)) {
		n = json_string_length(v);
		if (n == 0 || n >= outlen ||
		    memchr(json_string_value(v), '\0', n) != NULL)
			return HK_ERROR;
		memcpy(out, json_string_value(v), n);
		out[n] = '\0';
		return HK_OK;
	}
	if (json_is_integer(v)) {
		w = snprintf(out, outlen, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return w > 0 && (size_t)w < outlen ? HK_OK : HK_ERROR;
	}
	return HK_ERROR;
}
