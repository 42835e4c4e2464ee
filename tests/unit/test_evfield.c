/*
 * test_evfield.c - reading one field of a webhook without a tree: JSON
 * pointers over text (held to jansson's lookup), form fields, globs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core.h"
#include "evfield.h"
#include "jsonptr.h"
#include "unit.h"

/* json_at - the value at spec in doc, or "<absent>". */
static const char *
json_at(const char *doc, const char *spec)
{
	static char out[HK_EVFIELD_VALUE_MAX];
	struct hk_evfield f;
	int rc;

	if (hk_evfield_compile(spec, &f) != HK_OK)
		return "<compile>";
	rc = hk_evfield_json(doc, strlen(doc), &f, out, sizeof(out));
	hk_evfield_free(&f);
	return rc == HK_OK ? out : "<absent>";
}

static void
test_json(void)
{
	const char *doc = "{ \"type\" : \"invoice.paid\", \"skip\": {\"type\": "
	    "[1, {\"x\": \"}]\"}], \"s\": \"a\\\"b}\"}, \"data\": {\"object\": "
	    "{\"status\": \"paid\", \"n\": -12.5e3, \"t\": true, \"z\": null, "
	    "\"o\": {}}}, \"list\": [\"a\", [\"b\"], \"c\"], \"a/b\": 1, "
	    "\"m~n\": \"tilde\", \"esc\": \"x\\u0041\\n\"}";

	HK_CHECK_STR(json_at(doc, "json:/type"), "invoice.paid");
	HK_CHECK_STR(json_at(doc, "json:/data/object/status"), "paid");
	HK_CHECK_STR(json_at(doc, "json:/data/object/n"), "-12.5e3");
	HK_CHECK_STR(json_at(doc, "json:/data/object/t"), "true");
	HK_CHECK_STR(json_at(doc, "json:/data/object/z"), "<absent>");
	HK_CHECK_STR(json_at(doc, "json:/data/object/o"), "<absent>");
	HK_CHECK_STR(json_at(doc, "json:/data/missing"), "<absent>");
	HK_CHECK_STR(json_at(doc, "json:/list/2"), "c");
	HK_CHECK_STR(json_at(doc, "json:/list/1/0"), "b");
	HK_CHECK_STR(json_at(doc, "json:/list/3"), "<absent>");
	HK_CHECK_STR(json_at(doc, "json:/list/01"), "<absent>");
	HK_CHECK_STR(json_at(doc, "json:/a~1b"), "1");
	HK_CHECK_STR(json_at(doc, "json:/m~0n"), "tilde");
	HK_CHECK_STR(json_at(doc, "json:/esc"), "xA\n");
	HK_CHECK_STR(json_at(doc, "json:/skip/s"), "a\"b}");
	HK_CHECK_STR(json_at(doc, "json:/type/x"), "<absent>");
	/* Headers travel as a JSON object with lower-case names. */
	HK_CHECK_STR(json_at("{\"x-env\":\"test\"}", "header:X-Env"), "test");
}

/* Whatever the bytes, the walk ends, and finds nothing it should not. */
static void
test_json_garbage(void)
{
	static const char *bad[] = { "", "{", "{\"type\"", "{\"type\":",
	    "{\"type\": \"abc", "[", "{\"a\":1,", "{\"a\" 1}", "\"type\"",
	    "type=push&x=1", "{\"a\":[[[[[[[[", "{\"a\":\"\\", "{]]]]}",
	    "{\"x\":1}}}}, \"type\": \"push\"}" };

	for (size_t i = 0; i < HK_NELEM(bad); i++)
		HK_CHECK(strcmp(json_at(bad[i], "json:/type"), "<absent>")
		    == 0);
}

/* The text walk agrees with jansson's pointer lookup on strings. */
static void
test_json_agrees(void)
{
	const char *doc = "{\"a\":{\"b\":[\"x\",{\"c\":\"y\"}],\"d\":\"z\"},"
	    "\"e\":\"w\"}";
	const char *ptrs[] = { "/a/b/0", "/a/b/1/c", "/a/d", "/e", "/a/q" };
	json_t *root = json_loads(doc, 0, NULL);
	char spec[64];

	for (size_t i = 0; i < HK_NELEM(ptrs); i++) {
		json_t *v = hk_jsonptr_get(root, ptrs[i]);

		snprintf(spec, sizeof(spec), "json:%s", ptrs[i]);
		HK_CHECK_STR(json_at(doc, spec), v ? json_string_value(v)
		    : "<absent>");
	}
	json_decref(root);
}

static void
test_form(void)
{
	const char *body = "From=%2B1555&kind=call+started&empty=&flag&"
	    "x%3Dy=1";
	char out[HK_EVFIELD_VALUE_MAX];

	HK_CHECK(hk_evfield_form(body, strlen(body), "kind", out,
	    sizeof(out)) == HK_OK);
	HK_CHECK_STR(out, "call started");
	HK_CHECK(hk_evfield_form(body, strlen(body), "From", out,
	    sizeof(out)) == HK_OK);
	HK_CHECK_STR(out, "+1555");
	HK_CHECK(hk_evfield_form(body, strlen(body), "empty", out,
	    sizeof(out)) == HK_OK);
	HK_CHECK_STR(out, "");
	HK_CHECK(hk_evfield_form(body, strlen(body), "x=y", out,
	    sizeof(out)) == HK_OK);
	HK_CHECK_STR(out, "1");
	HK_CHECK(hk_evfield_form(body, strlen(body), "nope", out,
	    sizeof(out)) == HK_ERROR);
	/* A cut escape stays as it is. */
	HK_CHECK(hk_evfield_form("a=%4", 4, "a", out, sizeof(out)) == HK_OK);
	HK_CHECK_STR(out, "%4");
	HK_CHECK(hk_evfield_form("a=toolong", 9, "a", out, 4) == HK_ERROR);
}

static void
test_glob(void)
{
	HK_CHECK(hk_evfield_glob("push", "push"));
	HK_CHECK(!hk_evfield_glob("push", "pushed"));
	HK_CHECK(hk_evfield_glob("invoice.*", "invoice.paid"));
	HK_CHECK(!hk_evfield_glob("invoice.*", "customer.created"));
	HK_CHECK(hk_evfield_glob("invoice.*", "invoice."));
	HK_CHECK(hk_evfield_glob("*", "anything"));
	HK_CHECK(hk_evfield_glob("*.created", "customer.subscription.created"));
	HK_CHECK(hk_evfield_glob("a*b*c", "axxbyyc"));
	HK_CHECK(!hk_evfield_glob("a*b*c", "axxbyy"));
	HK_CHECK(hk_evfield_glob("**", ""));
}

static void
test_check(void)
{
	char why[128];

	HK_CHECK(hk_evfield_check("none", why, sizeof(why)) == HK_OK);
	HK_CHECK(hk_evfield_check("header:X-GitHub-Event", why, sizeof(why))
	    == HK_OK);
	HK_CHECK(hk_evfield_check("json:/event/type", why, sizeof(why))
	    == HK_OK);
	HK_CHECK(hk_evfield_check("form:type", why, sizeof(why)) == HK_OK);
	HK_CHECK(hk_evfield_check("header:", why, sizeof(why)) == HK_ERROR);
	HK_CHECK(hk_evfield_check("header:a b", why, sizeof(why)) == HK_ERROR);
	HK_CHECK(hk_evfield_check("json:type", why, sizeof(why)) == HK_ERROR);
	HK_CHECK(hk_evfield_check("json:/a~2", why, sizeof(why)) == HK_ERROR);
	HK_CHECK(hk_evfield_check("form:a=b", why, sizeof(why)) == HK_ERROR);
	HK_CHECK(hk_evfield_check("body:/x", why, sizeof(why)) == HK_ERROR);
	HK_CHECK(hk_evfield_check_pattern("invoice.*", why, sizeof(why))
	    == HK_OK);
	HK_CHECK(hk_evfield_check_pattern("in?oice", why, sizeof(why))
	    == HK_ERROR);
	HK_CHECK(hk_evfield_check_pattern("", why, sizeof(why)) == HK_ERROR);
	HK_CHECK(hk_evfield_check_pattern("a\tb", why, sizeof(why))
	    == HK_ERROR);
}

int
main(void)
{
	HK_RUN(test_json);
	HK_RUN(test_json_garbage);
	HK_RUN(test_json_agrees);
	HK_RUN(test_form);
	HK_RUN(test_glob);
	HK_RUN(test_check);
	return hk_unit_done();
}
