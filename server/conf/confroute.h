/*
 * confroute.h - does a destination want an event: its types and filter
 * (config.h) against the event's type and fields.
 *
 * Pure, so that the delivery pool (routing each event) and hookctl
 * (replaying one to destinations it has no row for yet) decide the same.
 */
#ifndef HK_CONFROUTE_H
#define HK_CONFROUTE_H

#include <stddef.h>

#include "config.h"

/* What routing looks at; the buffers need not be NUL-terminated. */
struct hk_confroute_event {
	const char *type;		/* "" when it has none */
	const char *ctype;
	size_t      ctype_len;
	const char *headers;		/* the stored JSON object */
	size_t      headers_len;
	const char *body;
	size_t      body_len;
};

/* Does destination d want ev?  Its source is checked by the caller. */
int hk_confroute_wants(const struct hk_conf_dest *d,
    const struct hk_confroute_event *ev);

#endif
