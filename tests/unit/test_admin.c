/*
 * test_admin.c - the admin port's Prometheus label escaping (server/stats/promtext.c).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "promtext.h"
#include "unit.h"

/* escaped - v as hk_promtext_label writes it, NUL-terminated (free it). */
static char *
escaped(const char *v)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *out;

	hk_promtext_label(b, v);
	n = evbuffer_get_length(b);
	out = calloc(1, n + 1);
	evbuffer_remove(b, out, n);
	evbuffer_free(b);
	return out;
}

static void
test_label_plain(void)
{
	char *s = escaped("github.com-hooks_1");

	HK_CHECK_STR(s, "github.com-hooks_1");
	free(s);
	s = escaped("");
	HK_CHECK_STR(s, "");
	free(s);
}

static void
test_label_specials(void)
{
	char *s = escaped("a\"b\\c\nd");

	/* The text format escapes exactly these three. */
	HK_CHECK_STR(s, "a\\\"b\\\\c\\nd");
	free(s);
	s = escaped("caf\xc3\xa9 {x=1}");
	HK_CHECK_STR(s, "caf\xc3\xa9 {x=1}");
	free(s);
}

int
main(void)
{
	HK_RUN(test_label_plain);
	HK_RUN(test_label_specials);
	return hk_unit_done();
}
