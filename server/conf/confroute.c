/*
 * confroute.c - a destination's types and filter, evaluated once per event
 * when the delivery pool routes it (worker/delivery/dlroute.c), and by
 * hookctl replay for destinations an event has no row for.
 *
 * Everything that can be decided at load is decided there (config.c): the
 * patterns are checked and the fields compiled, so here each condition is
 * one walk over the body or the headers, which the event carries as the
 * JSON object ingest stored (lower-case names, repeated headers joined
 * with ", ").  A type pattern or a filter value may hold '*'.
 *
 * An event without a type reaches only destinations without types: a
 * destination that lists types asked for those, and "no type" is none of
 * them.  accept needs the field to be there and to match; reject refuses
 * only a field that is there and matches.
 */
#include <string.h>
#include <strings.h>

#include "core.h"
#include "confroute.h"
#include "evfield.h"

#define HK_CONFROUTE_FORM	"application/x-www-form-urlencoded"

static int
hk_confroute_any(char *const *pats, int n, const char *v)
{
	for (int i = 0; i < n; i++)
		if (hk_evfield_glob(pats[i], v))
			return 1;
	return 0;
}

/* hk_confroute_value - the condition's field of ev, into out. */
static int
hk_confroute_value(const struct hk_evfield *f, const struct hk_confroute_event *ev,
    char *out, size_t outlen)
{
	size_t n = strlen(HK_CONFROUTE_FORM);
	int form = ev->ctype_len >= n && strncasecmp(ev->ctype,
	    HK_CONFROUTE_FORM, n) == 0;

	switch (f->kind) {
	case HK_EVFIELD_HEADER:
		return hk_evfield_json(ev->headers, ev->headers_len, f, out,
		    outlen);
	case HK_EVFIELD_JSON:
		return form ? HK_ERROR : hk_evfield_json(ev->body,
		    ev->body_len, f, out, outlen);
	case HK_EVFIELD_FORM:
		return form ? hk_evfield_form(ev->body, ev->body_len, f->arg,
		    out, outlen) : HK_ERROR;
	}
	return HK_ERROR;
}

int
hk_confroute_wants(const struct hk_conf_dest *d, const struct hk_confroute_event *ev)
{
	char v[HK_EVFIELD_VALUE_MAX];
	int found;

	if (d->ntypes > 0 && (ev->type[0] == '\0'
	    || !hk_confroute_any(d->types, d->ntypes, ev->type)))
		return 0;
	for (int i = 0; i < d->nfilter; i++) {
		const struct hk_conf_cond *c = &d->filter[i];

		found = hk_confroute_value(&c->f, ev, v, sizeof(v)) == HK_OK;
		if (c->naccept > 0 && (!found
		    || !hk_confroute_any(c->accept, c->naccept, v)))
			return 0;
		if (found && hk_confroute_any(c->reject, c->nreject, v))
			return 0;
	}
	return 1;
}
