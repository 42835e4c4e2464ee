/*
 * test_jsonptr.c - RFC 6901 lookups and idempotency-key extraction.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "core.h"
#include "jsonptr.h"
#include "unit.h"

/* The example document of RFC 6901 section 5. */
static const char rfc_doc[] =
    "{\"foo\": [\"bar\", \"baz\"], \"\": 0, \"a/b\": 1, \"c%d\": 2,"
    " \"e^f\": 3, \"g|h\": 4, \"i\\\\j\": 5, \"k\\\"l\": 6, \" \": 7,"
    " \"m~n\": 8}";

/* load - parse text; JSON_ALLOW_NUL so a key holding a NUL can be tried. */
static json_t *
load(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_ALLOW_NUL, &err);

	if (j == NULL)
		printf("bad test JSON: %s\n", err.text);
	return j;
}

static long long
int_at(json_t *root, const char *ptr)
{
	json_t *v = hk_jsonptr_get(root, ptr);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

static void
test_rfc6901(void)
{
	json_t *doc = load(rfc_doc);
	json_t *v;

	HK_CHECK(doc != NULL);
	HK_CHECK(hk_jsonptr_get(doc, "") == doc);
	v = hk_jsonptr_get(doc, "/foo");
	HK_CHECK(json_is_array(v) && json_array_size(v) == 2);
	HK_CHECK_STR(json_string_value(hk_jsonptr_get(doc, "/foo/0")), "bar");
	HK_CHECK_STR(json_string_value(hk_jsonptr_get(doc, "/foo/1")), "baz");
	HK_CHECK(int_at(doc, "/") == 0);
	HK_CHECK(int_at(doc, "/a~1b") == 1);
	HK_CHECK(int_at(doc, "/c%d") == 2);
	HK_CHECK(int_at(doc, "/e^f") == 3);
	HK_CHECK(int_at(doc, "/g|h") == 4);
	HK_CHECK(int_at(doc, "/i\\j") == 5);
	HK_CHECK(int_at(doc, "/k\"l") == 6);
	HK_CHECK(int_at(doc, "/ ") == 7);
	HK_CHECK(int_at(doc, "/m~0n") == 8);
	json_decref(doc);
}

static void
test_missing(void)
{
	json_t *doc = load("{\"a\": {\"b\": [10, 20, {\"c\": \"d\"}]},"
	    " \"~1\": 1, \"01\": 2}");

	HK_CHECK(doc != NULL);
	HK_CHECK(int_at(doc, "/a/b/1") == 20);
	HK_CHECK_STR(json_string_value(hk_jsonptr_get(doc, "/a/b/2/c")), "d");
	HK_CHECK(hk_jsonptr_get(doc, "a") == NULL);		/* no leading / */
	HK_CHECK(hk_jsonptr_get(doc, "/x") == NULL);
	HK_CHECK(hk_jsonptr_get(doc, "/a/b/3") == NULL);
	HK_CHECK(hk_jsonptr_get(doc, "/a/b/-") == NULL);
	HK_CHECK(hk_jsonptr_get(doc, "/a/b/01") == NULL);	/* leading 0 */
	HK_CHECK(hk_jsonptr_get(doc, "/a/b/+1") == NULL);
	HK_CHECK(hk_jsonptr_get(doc, "/a/b/") == NULL);
	HK_CHECK(hk_jsonptr_get(doc, "/a/b/99999999999999999999") == NULL);
	HK_CHECK(hk_jsonptr_get(doc, "/a/b/1/x") == NULL);	/* into a number */
	HK_CHECK(hk_jsonptr_get(doc, "/a/b/2/c/d") == NULL);
	HK_CHECK(hk_jsonptr_get(doc, "/a~") == NULL);		/* bad escapes */
	HK_CHECK(hk_jsonptr_get(doc, "/a~2") == NULL);
	/* "~01" is "~1", never "/" (escapes are decoded once, ~1 first). */
	HK_CHECK(int_at(doc, "/~01") == 1);
	/* Object members named like indexes are just names. */
	HK_CHECK(int_at(doc, "/01") == 2);
	HK_CHECK(hk_jsonptr_get(NULL, "/a") == NULL);
	HK_CHECK(hk_jsonptr_get(doc, NULL) == NULL);
	json_decref(doc);
}

static void
test_long_name(void)
{
	char name[1000], ptr[1002];
	json_t *doc = json_object();

	memset(name, 'k', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	json_object_set_new(doc, name, json_integer(42));
	snprintf(ptr, sizeof(ptr), "/%s", name);
	HK_CHECK(int_at(doc, ptr) == 42);
	ptr[500] = '\0';
	HK_CHECK(hk_jsonptr_get(doc, ptr) == NULL);
	json_decref(doc);
}

static void
test_key(void)
{
	json_t *doc = load("{\"id\": \"evt_1\", \"n\": 12345678901234,"
	    " \"neg\": -7, \"r\": 1.5, \"t\": true, \"z\": null, \"o\": {},"
	    " \"e\": \"\", \"nul\": \"a\\u0000b\", \"data\": {\"object\":"
	    " {\"id\": \"ch_9\"}}}");
	char out[16] = "";

	HK_CHECK(doc != NULL);
	HK_CHECK(hk_jsonptr_key(doc, "/id", out, sizeof(out)) == HK_OK);
	HK_CHECK_STR(out, "evt_1");
	HK_CHECK(hk_jsonptr_key(doc, "/data/object/id", out, sizeof(out)) ==
	    HK_OK);
	HK_CHECK_STR(out, "ch_9");
	HK_CHECK(hk_jsonptr_key(doc, "/n", out, sizeof(out)) == HK_OK);
	HK_CHECK_STR(out, "12345678901234");
	HK_CHECK(hk_jsonptr_key(doc, "/neg", out, sizeof(out)) == HK_OK);
	HK_CHECK_STR(out, "-7");
	HK_CHECK(hk_jsonptr_key(doc, "/r", out, sizeof(out)) == HK_ERROR);
	HK_CHECK(hk_jsonptr_key(doc, "/t", out, sizeof(out)) == HK_ERROR);
	HK_CHECK(hk_jsonptr_key(doc, "/z", out, sizeof(out)) == HK_ERROR);
	HK_CHECK(hk_jsonptr_key(doc, "/o", out, sizeof(out)) == HK_ERROR);
	HK_CHECK(hk_jsonptr_key(doc, "/e", out, sizeof(out)) == HK_ERROR);
	HK_CHECK(hk_jsonptr_key(doc, "/nul", out, sizeof(out)) == HK_ERROR);
	HK_CHECK(hk_jsonptr_key(doc, "/missing", out, sizeof(out)) ==
	    HK_ERROR);
	/* Too long for out: refused, never cut. */
	HK_CHECK(hk_jsonptr_key(doc, "/id", out, 5) == HK_ERROR);
	HK_CHECK(hk_jsonptr_key(doc, "/id", out, 6) == HK_OK);
	HK_CHECK(hk_jsonptr_key(doc, "/n", out, 14) == HK_ERROR);
	HK_CHECK(hk_jsonptr_key(doc, "/n", out, 15) == HK_OK);
	json_decref(doc);
}

int
main(void)
{
	HK_RUN(test_rfc6901);
	HK_RUN(test_missing);
	HK_RUN(test_long_name);
	HK_RUN(test_key);
	return hk_unit_done();
}
